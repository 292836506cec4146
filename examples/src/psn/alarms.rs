//! Misconfiguration alarms: a state sync probe and the agent's confirmation
//! probe both reached a node for a session whose status is Compliant or
//! NonCompliant, so the endpoint's dACL does not block the port.
//!
//! One probe alone is no alarm: the switch may apply the dACL some time after
//! the CoA (Cisco bug CSCwd58316), and the agent re-probes once after its
//! NetworkTransitionDelay before it calls the dACL wrong. The lab waits for
//! that confirmation too.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use posture_protocol::{PostureStatus, SessionId};
use serde::{Deserialize, Serialize};

/// Most alarms kept in memory; the oldest go first.
pub const MAX_ALARMS: usize = 10_000;

/// How long after a first probe a second one for the same session and
/// status counts as its confirmation: the agent confirms after
/// NetworkTransitionDelay (at most 30 s) plus its probe's time limits (at most
/// 5 s per stage), so 60 s covers every profile.
pub const CONFIRM_WINDOW: Duration = Duration::from_secs(60);

/// Unconfirmed first probes remembered at most; older ones are pruned first.
const MAX_SUSPECTS: usize = 100_000;

/// One alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When, RFC 3339.
    pub time: String,
    /// The node that was probed.
    pub node: String,
    /// Its state sync port.
    pub port: u16,
    /// The session probed.
    pub session: SessionId,
    /// The session's MAC.
    pub mac: String,
    /// The session's status when probed.
    pub status: PostureStatus,
    /// The endpoint address of the session (seen at discovery).
    pub endpoint: Option<IpAddr>,
    /// The source address of the probe.
    pub peer: IpAddr,
    /// The address of the PSN to name in the dACL line.
    #[serde(default)]
    pub psn_address: String,
    /// Human-readable explanation.
    pub message: String,
}

/// The alarm log (bounded), and the first probes still waiting for their
/// confirmation.
#[derive(Debug, Default)]
pub struct AlarmLog {
    inner: Mutex<(u64, VecDeque<Alarm>)>,
    suspects: Mutex<HashMap<SessionId, (Instant, PostureStatus)>>,
}

/// What a probe of a known session that got through amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// The first probe: no alarm until a confirmation gets through too.
    FirstProbe,
    /// The confirmation got through as well: the alarm raised.
    Alarm(Box<Alarm>),
}

/// What an alarm is raised about.
#[derive(Debug, Clone)]
pub struct AlarmInput<'a> {
    /// Node name.
    pub node: &'a str,
    /// The node's state sync port.
    pub port: u16,
    /// Session id.
    pub session: &'a SessionId,
    /// The session's MAC.
    pub mac: &'a str,
    /// The session's status.
    pub status: PostureStatus,
    /// Endpoint address from discovery.
    pub endpoint: Option<IpAddr>,
    /// Probe source address.
    pub peer: IpAddr,
    /// The PSN's address as the dACL names it (`deny tcp any host ADDRESS eq PORT`).
    pub psn_address: String,
}

impl AlarmLog {
    /// A probe for a known session reached the state sync port at `now`: the
    /// alarm is raised when an earlier probe for the same session and status
    /// got through within [`CONFIRM_WINDOW`] (this one is its confirmation);
    /// otherwise it is remembered as the first probe.
    pub fn probe_reached(&self, input: AlarmInput<'_>, now: Instant) -> ProbeVerdict {
        let confirmed = {
            let mut suspects = self.suspects.lock().unwrap_or_else(|p| p.into_inner());
            let confirmed = suspects.get(input.session).is_some_and(|(at, status)| {
                *status == input.status && now.saturating_duration_since(*at) <= CONFIRM_WINDOW
            });
            if confirmed {
                // The window runs from the latest probe that got through, so
                // a dACL that stays missing keeps raising alarms.
                suspects.insert(input.session.clone(), (now, input.status));
            } else {
                if suspects.len() >= MAX_SUSPECTS {
                    suspects
                        .retain(|_, (at, _)| now.saturating_duration_since(*at) <= CONFIRM_WINDOW);
                }
                if suspects.len() < MAX_SUSPECTS {
                    suspects.insert(input.session.clone(), (now, input.status));
                }
            }
            confirmed
        };
        if confirmed {
            ProbeVerdict::Alarm(Box::new(self.raise(input)))
        } else {
            ProbeVerdict::FirstProbe
        }
    }

    /// Raises an alarm, logs it at warn level and returns it.
    pub fn raise(&self, input: AlarmInput<'_>) -> Alarm {
        let endpoint_text = input
            .endpoint
            .map_or_else(|| input.peer.to_string(), |e| e.to_string());
        let message = format!(
            "endpoint {endpoint_text} (session {}, posture {}) reached the state sync port {} of PSN {} ({}) \
             with a probe and with the agent's confirmation probe: the dACL does not block the port; \
             add 'deny tcp any host {} eq {}' as the first line of the dACL for Compliant and \
             NonCompliant endpoints",
            input.session,
            input.status,
            input.port,
            input.node,
            input.psn_address,
            input.psn_address,
            input.port
        );
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        let alarm = Alarm {
            seq: guard.0,
            time: crate::psn::sessions::now_rfc3339(),
            node: input.node.to_owned(),
            port: input.port,
            session: input.session.clone(),
            mac: input.mac.to_owned(),
            status: input.status,
            endpoint: input.endpoint,
            peer: input.peer,
            psn_address: input.psn_address.clone(),
            message,
        };
        if guard.1.len() == MAX_ALARMS {
            guard.1.pop_front();
        }
        guard.1.push_back(alarm.clone());
        tracing::warn!(
            alarm = alarm.seq,
            node = %alarm.node,
            session = %alarm.session,
            endpoint = %endpoint_text,
            peer = %alarm.peer,
            status = %alarm.status,
            "ALARM: {}",
            alarm.message
        );
        alarm
    }

    /// Every alarm kept, oldest first.
    pub fn list(&self) -> Vec<Alarm> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.iter().cloned().collect()
    }

    /// Forgets every alarm (sequence numbers keep counting).
    pub fn clear(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_names_node_session_endpoint_and_the_dacl() {
        let log = AlarmLog::default();
        let id = SessionId::new("abc").unwrap();
        let a = log.raise(AlarmInput {
            node: "psn1",
            port: 8449,
            session: &id,
            mac: "00:50:56:a8:be:02",
            status: PostureStatus::Compliant,
            endpoint: Some("127.0.0.2".parse().unwrap()),
            peer: "127.0.0.2".parse().unwrap(),
            psn_address: "192.0.2.10".into(),
        });
        assert_eq!(a.seq, 1);
        assert!(a.message.contains("127.0.0.2"));
        assert!(a.message.contains("dACL does not block"));
        assert!(a.message.contains("PSN psn1 (192.0.2.10)"), "{}", a.message);
        assert!(
            a.message.contains("'deny tcp any host 192.0.2.10 eq 8449'"),
            "{}",
            a.message
        );
        assert!(humantime::parse_rfc3339(&a.time).is_ok());
        assert_eq!(log.list(), vec![a]);
        log.clear();
        assert!(log.list().is_empty());
    }

    fn input(id: &SessionId, status: PostureStatus) -> AlarmInput<'_> {
        AlarmInput {
            node: "psn1",
            port: 8449,
            session: id,
            mac: "00:50:56:a8:be:02",
            status,
            endpoint: Some("127.0.0.2".parse().unwrap()),
            peer: "127.0.0.2".parse().unwrap(),
            psn_address: "127.0.0.1".into(),
        }
    }

    #[test]
    fn one_probe_is_no_alarm_its_confirmation_within_the_window_is() {
        let log = AlarmLog::default();
        let id = SessionId::new("abc").unwrap();
        let t0 = Instant::now();
        assert_eq!(
            log.probe_reached(input(&id, PostureStatus::Compliant), t0),
            ProbeVerdict::FirstProbe
        );
        assert!(log.list().is_empty());
        let v = log.probe_reached(
            input(&id, PostureStatus::Compliant),
            t0 + Duration::from_secs(3),
        );
        assert!(matches!(v, ProbeVerdict::Alarm(_)), "{v:?}");
        assert_eq!(log.list().len(), 1);
        // 62 s after the first probe but 59 s after the second: the window
        // runs from the latest probe that got through.
        let v = log.probe_reached(
            input(&id, PostureStatus::Compliant),
            t0 + Duration::from_secs(62),
        );
        assert!(matches!(v, ProbeVerdict::Alarm(_)), "{v:?}");
        assert_eq!(log.list().len(), 2);
    }

    #[test]
    fn a_late_second_probe_or_another_status_is_a_new_first_probe() {
        let log = AlarmLog::default();
        let id = SessionId::new("abc").unwrap();
        let t0 = Instant::now();
        log.probe_reached(input(&id, PostureStatus::Compliant), t0);
        let late = t0 + CONFIRM_WINDOW + Duration::from_secs(1);
        assert_eq!(
            log.probe_reached(input(&id, PostureStatus::Compliant), late),
            ProbeVerdict::FirstProbe
        );
        assert_eq!(
            log.probe_reached(
                input(&id, PostureStatus::NonCompliant),
                late + Duration::from_secs(1)
            ),
            ProbeVerdict::FirstProbe
        );
        let other = SessionId::new("other").unwrap();
        assert_eq!(
            log.probe_reached(
                input(&other, PostureStatus::NonCompliant),
                late + Duration::from_secs(2)
            ),
            ProbeVerdict::FirstProbe
        );
        assert!(log.list().is_empty());
    }
}
