//! Misconfiguration alarms: a state sync probe reached a node for a session whose
//! status is Compliant or NonCompliant, so the endpoint's dACL does not block the port.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;

use posture_protocol::{PostureStatus, SessionId};
use serde::{Deserialize, Serialize};

/// Most alarms kept in memory; the oldest go first.
pub const MAX_ALARMS: usize = 10_000;

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
    /// Human-readable explanation.
    pub message: String,
}

/// The alarm log (bounded).
#[derive(Debug, Default)]
pub struct AlarmLog {
    inner: Mutex<(u64, VecDeque<Alarm>)>,
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
}

impl AlarmLog {
    /// Raises an alarm, logs it at warn level and returns it.
    pub fn raise(&self, input: AlarmInput<'_>) -> Alarm {
        let endpoint_text = input
            .endpoint
            .map_or_else(|| input.peer.to_string(), |e| e.to_string());
        let message = format!(
            "endpoint {endpoint_text} (session {}, posture {}) reached the state sync port {} of {}: \
             the dACL does not block the port; the dACL for Compliant and NonCompliant endpoints \
             must start with 'deny tcp any host <PSN address> eq {}'",
            input.session, input.status, input.port, input.node, input.port
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
        });
        assert_eq!(a.seq, 1);
        assert!(a.message.contains("127.0.0.2"));
        assert!(a.message.contains("dACL does not block"));
        assert!(a.message.contains("psn1"));
        assert!(humantime::parse_rfc3339(&a.time).is_ok());
        assert_eq!(log.list(), vec![a]);
        log.clear();
        assert!(log.list().is_empty());
    }
}
