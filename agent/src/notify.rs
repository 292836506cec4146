//! The service manager's notification protocol (sd_notify(3)): `READY=1`
//! once the status socket is bound and the profile applied, a `STATUS=`
//! line when the phase or the posture changes, `WATCHDOG=1` pings from the
//! daemon's runtime, `STOPPING=1` at shutdown.
//!
//! The `sd-notify` crate speaks to `$NOTIFY_SOCKET` itself and sends nothing
//! when it is not set (a terminal, XDG autostart, launchd). Elsewhere than
//! on Linux every call is a no-op. A message that cannot be sent is logged
//! at debug level and otherwise ignored: the service manager's view is a
//! convenience, never a reason for the agent to stop.

use std::time::Duration;

use posture_protocol::PostureStatus;

use crate::machine::PhaseName;

/// The `STATUS=` text for a phase and a posture: `known, posture Compliant`.
pub fn status_line(phase: PhaseName, posture: PostureStatus) -> String {
    format!("{phase}, posture {posture}")
}

/// What the service manager hears after a daemon step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// The first step: ready, with the first status line.
    Ready(String),
    /// The phase or the posture changed.
    Status(String),
}

/// Decides what to announce after each step: `READY=1` after the first one
/// (the profile is applied by then), then a status line only when the
/// phase or the posture changed, not after every probe round.
#[derive(Debug, Default)]
pub struct Announcer {
    line: Option<String>,
}

impl Announcer {
    /// The announcement for a step that left `phase` and `posture`, if any.
    pub fn step(&mut self, phase: PhaseName, posture: PostureStatus) -> Option<Announcement> {
        let line = status_line(phase, posture);
        let announcement = match &self.line {
            None => Announcement::Ready(line.clone()),
            Some(last) if *last == line => return None,
            Some(_) => Announcement::Status(line.clone()),
        };
        self.line = Some(line);
        Some(announcement)
    }
}

/// How often to ping the watchdog given the service manager's timeout
/// (`WATCHDOG_USEC`): half of it, as sd_watchdog_enabled(3) advises, so one
/// late tick of the runtime does not cost the agent its life. `None` for a
/// zero timeout (no watchdog).
pub fn watchdog_period(timeout: Duration) -> Option<Duration> {
    (!timeout.is_zero()).then(|| timeout / 2)
}

/// The watchdog timeout the service manager set for this process
/// (`WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or names this process).
pub fn watchdog_timeout() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        sd_notify::watchdog_enabled()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// What the agent tells the service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// Started: the status socket answers and the profile is applied.
    Ready {
        /// The first status line.
        status: &'a str,
    },
    /// The phase or the posture changed.
    Status(&'a str),
    /// Still alive.
    Watchdog,
    /// Shutting down.
    Stopping,
}

/// Sends `message` to `$NOTIFY_SOCKET`, if set.
pub fn send(message: Message<'_>) {
    #[cfg(target_os = "linux")]
    {
        use sd_notify::NotifyState;
        let result = match message {
            Message::Ready { status } => {
                sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)])
            }
            Message::Status(status) => sd_notify::notify(&[NotifyState::Status(status)]),
            Message::Watchdog => sd_notify::notify(&[NotifyState::Watchdog]),
            Message::Stopping => sd_notify::notify(&[NotifyState::Stopping]),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, ?message, "cannot notify the service manager");
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = message;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_names_the_phase_and_the_posture() {
        assert_eq!(
            status_line(PhaseName::Known, PostureStatus::NonCompliant),
            "known, posture NonCompliant"
        );
        assert_eq!(
            status_line(PhaseName::Discovering, PostureStatus::Unknown),
            "discovering, posture Unknown"
        );
    }

    #[test]
    fn ready_once_then_a_status_line_only_on_a_change() {
        let mut a = Announcer::default();
        assert_eq!(
            a.step(PhaseName::Discovering, PostureStatus::Unknown),
            Some(Announcement::Ready("discovering, posture Unknown".into()))
        );
        // Another step in the same phase and posture (a probe round): nothing.
        assert_eq!(a.step(PhaseName::Discovering, PostureStatus::Unknown), None);
        assert_eq!(
            a.step(PhaseName::Known, PostureStatus::Compliant),
            Some(Announcement::Status("known, posture Compliant".into()))
        );
        assert_eq!(a.step(PhaseName::Known, PostureStatus::Compliant), None);
        assert_eq!(
            a.step(PhaseName::Known, PostureStatus::Unknown),
            Some(Announcement::Status("known, posture Unknown".into()))
        );
    }

    #[test]
    fn the_watchdog_is_pinged_at_half_its_timeout() {
        assert_eq!(
            watchdog_period(Duration::from_secs(60)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_period(Duration::from_micros(3)),
            Some(Duration::from_nanos(1500))
        );
        assert_eq!(watchdog_period(Duration::ZERO), None);
    }
}
