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
pub use render::{render, render_text, timeline_svg};

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
    /// The warnings `profile check` gives for the bundled profile (the
    /// advice that matters next to a finding, e.g. a NetworkTransitionDelay
    /// that invites the vendor's false alarm).
    pub lint: &'a [profile_schema::Diagnostic],
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use posture_protocol::PostureStatus;

    use super::*;
    use crate::dart::history::parse_rounds;
    use crate::machine::PhaseName;
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
            lint: &[],
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
            lint: &[],
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
            lint: &[],
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
            lint: &[],
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

    /// psn1 fails (HTTP 500) while psn2 answers Unknown: the round is the
    /// expected rediscovery, and the failing PSN behind it is named.
    const MIXED: &str = r#"{"v":2,"at":"2026-11-21T22:00:05.000Z","session":"s1","outcome":"status","target":"psn2.lab:8449","status":"Unknown","targets":[{"target":"psn1.lab:8449","outcome":"failed","detail":"failed: http status 500"},{"target":"psn2.lab:8449","outcome":"status","detail":"answered Unknown"}]}"#;

    fn transition(at: &str, from: PhaseName, to: PhaseName, reason: &str) -> TransitionRecord {
        TransitionRecord {
            v: crate::record::RECORD_VERSION,
            at: at.into(),
            from,
            to,
            kind: crate::machine::ReasonKind::Discovered,
            reason: reason.into(),
            session: Some("s1".into()),
            psn: None,
        }
    }

    #[test]
    fn a_failing_psn_behind_an_answering_one_is_named() {
        let s = status("discovering", "Unknown", None);
        let rounds = parse_rounds(MIXED, 10);
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status: Ok(&s),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
            lint: &[],
        };
        let f = findings(&input);
        let hidden = f
            .iter()
            .find(|f| matches!(f, Finding::TargetFailing { .. }))
            .unwrap_or_else(|| panic!("no finding for psn1: {f:?}"));
        assert_eq!(hidden.severity(), Severity::Warning);
        assert_eq!(
            hidden.title(),
            "PSN psn1.lab:8449 fails behind an answering one"
        );
        assert!(
            hidden
                .text()
                .contains("failed in 1 of the 1 rounds that asked it"),
            "{}",
            hidden.text()
        );
        assert!(hidden.text().contains("failed: http status 500"));
        let html = render(&input);
        // The round reads as the expected change, in words, with the ring
        // of the failed target.
        assert!(html.contains("<td>answered Unknown</td>"), "{html}");
        assert!(!html.contains("<td>status</td>"));
        assert!(
            html.contains("fill=\"#1e88e5\" stroke=\"#ef6c00\""),
            "{html}"
        );
    }

    #[test]
    fn every_decision_is_listed_in_text_and_the_legend_is_complete() {
        let s = status("known", "Compliant", None);
        let rounds = parse_rounds(MIXED, 10);
        let transitions = [
            transition(
                "2026-11-21T22:00:00.000Z",
                PhaseName::Discovering,
                PhaseName::Assessing,
                "session found, server posture Unknown",
            ),
            transition(
                "2026-11-21T22:00:01.000Z",
                PhaseName::Known,
                PhaseName::Known,
                "probe answered <Compliant> by psn1; confirming",
            ),
        ];
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status: Ok(&s),
            rounds: &rounds,
            transitions: &transitions,
            parts: &[],
            lint: &[],
        };
        let html = render(&input);
        let table = &html[html.find("id=\"decisions\"").expect("a decisions table")..];
        // Newest first, every field as text (escaped).
        let newest = table
            .find("probe answered &lt;Compliant&gt; by psn1; confirming")
            .expect("the in-phase decision");
        let oldest = table
            .find("session found, server posture Unknown")
            .expect("the phase change");
        assert!(newest < oldest);
        assert!(
            table.contains(
                "<td>2026-11-21T22:00:00.000Z</td><td>discovering</td><td>assessing</td>"
            )
        );
        let legend = &html[html.find("id=\"legend\"").unwrap()..];
        for entry in [
            "discovering",
            "assessing",
            "known",
            "idle",
            "probe blocked (normal)",
            "server reset: rediscovery",
            "dACL not blocking",
            "probe failed",
            "a target failed, another decided the round",
            "misconfiguration decision",
            "other decision within a phase",
        ] {
            assert!(legend.contains(entry), "legend lacks {entry}");
        }
    }

    /// The agent warned that the transition delay invites the vendor's
    /// false alarm: the page says so next to the misconfiguration.
    #[test]
    fn profile_warnings_stand_next_to_the_misconfiguration() {
        let profile = profile_schema::Profile::parse(
            "<cfg>\n<StateSyncProbeInterval>60</StateSyncProbeInterval>\n<NetworkTransitionDelay>2</NetworkTransitionDelay>\n<DiscoveryHost>psn1.lab</DiscoveryHost>\n</cfg>",
        )
        .unwrap()
        .profile;
        let lint: Vec<_> = profile
            .lint()
            .into_iter()
            .filter(|d| d.severity == profile_schema::Severity::Warning)
            .collect();
        assert!(!lint.is_empty());
        let s = status("known", "Compliant", Some("misconfiguration"));
        let rounds = parse_rounds(ROUND, 10);
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status: Ok(&s),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
            lint: &lint,
        };
        let f = findings(&input);
        assert!(matches!(f[0], Finding::Misconfiguration { .. }), "{f:?}");
        let advice = f
            .iter()
            .find(|f| matches!(f, Finding::ProfileLint { .. }))
            .expect("the profile's warnings");
        assert!(
            advice
                .text()
                .contains("profile.xml line 3: NetworkTransitionDelay"),
            "{}",
            advice.text()
        );
        assert!(render(&input).contains("The profile check gives"));
    }
}
