//! `summary.html`: the page support opens first. Current phase and posture,
//! the findings in plain words with the fix, and a timeline of phases and
//! probe rounds drawn as inline SVG.
//!
//! Typed input only: the status as [`StatusReport`] (the type `status`
//! deserialises), the rounds and decisions as [`crate::record`] types, the
//! bundle's reason as a [`BundleReasonRecord`]. [`findings`] decides what the
//! bundle shows (pure); [`render`] writes the page.

use std::time::SystemTime;

use super::history::Rounds;
use crate::record::{BundleReasonRecord, TransitionRecord};
use crate::status_report::StatusReport;

mod findings;
mod render;

pub use findings::{Finding, Severity, findings};
pub use render::{render, timeline_svg};

/// Everything the page shows.
#[derive(Debug)]
pub struct SummaryInput<'a> {
    /// When the bundle was collected.
    pub generated: SystemTime,
    /// The host name.
    pub host: String,
    /// Why it was collected automatically, if it was.
    pub reason: Option<&'a BundleReasonRecord>,
    /// The running agent's status, or why there is none.
    pub status: Result<&'a StatusReport, &'a str>,
    /// The last probe rounds, oldest first, and what could not be read.
    pub rounds: &'a Rounds,
    /// The machine's decisions, oldest first.
    pub transitions: &'a [TransitionRecord],
    /// The files in the bundle.
    pub parts: &'a [String],
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use posture_protocol::PostureStatus;

    use super::*;
    use crate::dart::history::parse_rounds;
    use crate::record::BundleCause;

    fn status(phase: &str, posture: &str, stopped: Option<&str>) -> StatusReport {
        serde_json::from_value(serde_json::json!({
            "phase": phase, "posture": posture, "session_id": "s1",
            "connected_psn": "127.0.0.1:8443",
            "sync": {"enabled": true, "stopped_reason": stopped},
            "last_probe": {"at": "2026-11-21T22:00:02Z", "target": "127.0.0.1:8449", "outcome": "status"},
            "counters": {"probe_rounds": 3, "discovery_restarts": 0, "misconfigurations": 1}
        }))
        .unwrap()
    }

    fn misconfiguration() -> BundleReasonRecord {
        BundleReasonRecord {
            cause: BundleCause::Misconfiguration {
                psn: "127.0.0.1:8449".into(),
                status: PostureStatus::Compliant,
                session: "s1".into(),
            },
            text: "misconfiguration".into(),
        }
    }

    const ROUND: &str = r#"{"v":2,"at":"2026-11-21T22:00:02.000Z","session":"s1","outcome":"status","target":"127.0.0.1:8449","status":"Compliant","targets":[{"target":"127.0.0.1:8449","outcome":"status","detail":"answered Compliant"}]}"#;

    #[test]
    fn misconfiguration_names_the_psn_and_the_dacl_line() {
        let s = status("known", "Compliant", Some("misconfiguration"));
        let rounds = parse_rounds(ROUND, 10);
        let reason = misconfiguration();
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            host: "lab<1>".into(),
            reason: Some(&reason),
            status: Ok(&s),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
        };
        let f = findings(&input);
        assert_eq!(f[0].severity(), Severity::Problem);
        assert!(
            f[0].text()
                .contains("PSN 127.0.0.1 (127.0.0.1:8449) answered a state sync probe")
        );
        assert!(f[0].text().contains("while the endpoint was Compliant"));
        assert_eq!(
            f[0].fix().as_deref(),
            Some(
                "Add `deny tcp any host 127.0.0.1 eq 8449` at the top of the dACL used for Compliant endpoints (one line per PSN, before `permit ip any any`), then restart the agent."
            )
        );
        let html = render(&input);
        assert!(html.contains("lab&lt;1&gt;"));
        assert!(html.contains("<code>deny tcp any host 127.0.0.1 eq 8449</code>"));
        assert!(html.contains("<svg"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("src=\"http"));
    }

    #[test]
    fn hostname_psn_gets_a_placeholder_ip_and_no_agent_is_a_warning() {
        let rounds = parse_rounds(&ROUND.replace("127.0.0.1", "psn1.lab"), 10);
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status: Err("no agent answers on /x/agent.sock"),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
        };
        let f = findings(&input);
        assert!(
            f[0].fix()
                .unwrap()
                .contains("deny tcp any host <IP address of psn1.lab> eq 8449")
        );
        assert!(f.iter().any(|f| f.title() == "No agent was running"));
    }

    #[test]
    fn blocked_probes_while_known_read_as_working() {
        let s = status("known", "Compliant", None);
        let rounds = parse_rounds(
            &ROUND
                .replace(
                    "\"outcome\":\"status\",\"target\"",
                    "\"outcome\":\"blocked\",\"target\"",
                )
                .replace(",\"status\":\"Compliant\"", "")
                .replace("answered Compliant", "blocked (timeout)")
                .replace(
                    "\"outcome\":\"status\",\"detail\"",
                    "\"outcome\":\"blocked\",\"detail\"",
                ),
            10,
        );
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status: Ok(&s),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
        };
        let f = findings(&input);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity(), Severity::Good);
    }

    /// An older agent's round names its answer only in words: it is shown
    /// and noted, never taken as evidence of an answered probe.
    #[test]
    fn an_old_format_round_is_noted_and_not_read_as_an_answer() {
        let s = status("known", "Compliant", None);
        let old = r#"{"at":"2026-11-21T22:00:02.000Z","session":"s1","outcome":"status","target":"127.0.0.1:8449","targets":[{"target":"127.0.0.1:8449","outcome":"status","detail":"answered Compliant"}]}"#;
        let rounds = parse_rounds(&format!("{old}\ngarbage\n"), 10);
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status: Ok(&s),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
        };
        let f = findings(&input);
        assert!(
            !f.iter()
                .any(|f| matches!(f, Finding::Misconfiguration { .. })),
            "{f:?}"
        );
        let note = f
            .iter()
            .find(|f| matches!(f, Finding::OldHistory { .. }))
            .expect("a note on the old lines");
        assert!(
            note.text()
                .starts_with("1 probe rounds were written by an older agent")
        );
        assert!(
            note.text()
                .contains("1 lines of probe-rounds.jsonl could not be read")
        );
        let html = render(&input);
        assert!(html.contains("Part of the probe history was not read in full"));
        assert!(
            html.contains("answered Compliant"),
            "the old round is still shown"
        );
    }
}
