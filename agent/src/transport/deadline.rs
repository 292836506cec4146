//! Time limits that wake the agent once.
//!
//! tokio's timer wheel files a timer by how far away it is: one due in more
//! than 64 ms sits in a coarse slot, and the runtime wakes at the start of
//! that slot to move it to a finer one; a 5 s timer costs three wakeups, not
//! one. On a laptop (or a VM) a wakeup costs far more than the few system
//! calls of a kernel timer, and a blocked probe round — the usual case, and
//! the one that actually waits for its timeouts — would pay two extra
//! wakeups per time limit (measured: docs/benchmarks.md). On Linux a
//! [`Deadline`] is therefore a `timerfd` registered with the runtime (fires
//! once, at the deadline); elsewhere, or when the kernel refuses a timerfd,
//! it is an ordinary tokio sleep.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

/// The deadline passed before the guarded future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// A one-shot time limit; a future that completes at the deadline (and
/// stays complete when polled again).
#[derive(Debug)]
pub struct Deadline(Inner);

#[derive(Debug)]
enum Inner {
    #[cfg(target_os = "linux")]
    Kernel(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>),
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

impl Deadline {
    /// A deadline at `at`. Must be called within a tokio runtime.
    pub fn at(at: Instant) -> Deadline {
        #[cfg(target_os = "linux")]
        if !test_clock::follows_tokio()
            && let Some(fd) = kernel_timer(at)
        {
            return Deadline(Inner::Kernel(fd));
        }
        Deadline(Inner::Tokio(Box::pin(tokio::time::sleep_until(at))))
    }

    /// Runs `fut` until it completes or this deadline passes. The deadline
    /// can guard several futures in turn (the same limit for all of them).
    pub async fn guard<F: Future>(&mut self, fut: F) -> Result<F::Output, Elapsed> {
        tokio::pin!(fut);
        tokio::select! {
            biased;
            out = &mut fut => Ok(out),
            () = &mut *self => Err(Elapsed),
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.get_mut().0 {
            #[cfg(target_os = "linux")]
            // The expiry count is never read, so the fd stays readable and
            // later polls complete too. An error from the registration means
            // the timer can no longer be watched: treat it as expired rather
            // than wait forever.
            Inner::Kernel(fd) => fd.poll_read_ready(cx).map(|_| ()),
            Inner::Tokio(sleep) => sleep.as_mut().poll(cx),
        }
    }
}

/// Tests that order events on tokio's paused clock need every deadline on
/// that clock: a kernel timer runs on real time, which the paused clock
/// neither sees nor advances.
#[cfg(test)]
pub(crate) mod test_clock {
    use std::cell::Cell;

    thread_local! {
        static FOLLOW_TOKIO: Cell<bool> = const { Cell::new(false) };
    }

    /// From now on, deadlines made on this thread (a `#[tokio::test]`
    /// runtime's only thread) are tokio timers.
    pub(crate) fn follow_tokio() {
        FOLLOW_TOKIO.with(|f| f.set(true));
    }

    // Only the kernel timer (Linux) asks.
    #[cfg(target_os = "linux")]
    pub(super) fn follows_tokio() -> bool {
        FOLLOW_TOKIO.with(Cell::get)
    }
}

/// Outside tests deadlines always use the kernel timer where there is one.
#[cfg(not(test))]
mod test_clock {
    #[cfg(target_os = "linux")]
    pub(super) fn follows_tokio() -> bool {
        false
    }
}

/// A non-blocking CLOCK_MONOTONIC timerfd armed for `at` and registered with
/// the runtime; `None` when the kernel or the runtime refuses (the caller
/// falls back to a tokio sleep).
#[cfg(target_os = "linux")]
fn kernel_timer(at: Instant) -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    let left = at.saturating_duration_since(Instant::now());
    // An all-zero it_value disarms the timer: a deadline already passed
    // fires after 1 ns instead.
    let (secs, nanos) = if left.is_zero() {
        (0, 1)
    } else {
        (left.as_secs(), left.subsec_nanos())
    };
    // `Nsecs` is narrower than i64 on some 32-bit targets.
    #[allow(clippy::unnecessary_fallible_conversions)]
    let value = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            tv_sec: i64::try_from(secs).ok()?,
            tv_nsec: nanos.try_into().ok()?,
        },
    };
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )
    .ok()?;
    timerfd_settime(&fd, TimerfdTimerFlags::empty(), &value).ok()?;
    // tokio deprecates the safe constructor because a `T` that merely
    // borrows its fd could close it while registered (tokio#8587); here the
    // AsyncFd owns the `OwnedFd` outright, so that cannot happen, and the
    // replacement is `unsafe`, which this workspace forbids.
    #[allow(deprecated)]
    tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_deadline_fires_at_its_time_and_stays_fired() {
        let at = Instant::now() + Duration::from_millis(50);
        let mut d = Deadline::at(at);
        let r = d.guard(std::future::pending::<()>()).await;
        assert_eq!(r, Err(Elapsed));
        // The kernel timer runs on the real clock: what it fired after is
        // the clock's reading, not a measured gap.
        assert!(Instant::now() >= at, "fired before its time");
        // Still expired for the next guarded future.
        assert_eq!(d.guard(std::future::pending::<()>()).await, Err(Elapsed));
    }

    #[tokio::test]
    async fn a_future_that_finishes_first_wins() {
        let mut d = Deadline::at(Instant::now() + Duration::from_secs(60));
        assert_eq!(d.guard(async { 7 }).await, Ok(7));
        assert_eq!(d.guard(async { 8 }).await, Ok(8));
    }

    #[tokio::test]
    async fn a_deadline_in_the_past_fires_at_once() {
        let mut d = Deadline::at(Instant::now() - Duration::from_secs(1));
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            d.guard(std::future::pending::<()>()),
        )
        .await
        .expect("fired");
        assert_eq!(r, Err(Elapsed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_tokio_deadline_fires_when_the_clock_reaches_it_and_not_before() {
        test_clock::follow_tokio();
        let at = Instant::now() + Duration::from_secs(5);
        let mut d = Deadline::at(at);
        assert!(matches!(d.0, Inner::Tokio(_)), "{d:?}");
        // Auto-advance moves the paused clock only to the next due timer: a
        // guard ended by another timer, due first, shows the order.
        let earlier = d
            .guard(tokio::time::sleep_until(at - Duration::from_millis(1)))
            .await;
        assert_eq!(earlier, Ok(()));
        assert_eq!(d.guard(std::future::pending::<()>()).await, Err(Elapsed));
        assert_eq!(Instant::now(), at);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn on_linux_the_kernel_timer_is_used() {
        let d = Deadline::at(Instant::now() + Duration::from_secs(1));
        assert!(matches!(d.0, Inner::Kernel(_)), "{d:?}");
    }
}
