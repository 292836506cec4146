//! Tolerant readers for what a bundle summarizes: the probe history
//! (`probe-rounds.jsonl`) and the machine's decisions (`transitions.jsonl`),
//! both written by the daemon as typed records ([`crate::record`]) and read
//! back as the same types. Unknown fields are ignored and unreadable lines
//! skipped and counted: a bundle is collected precisely when something is
//! wrong, so it must never fail on a damaged input.

use crate::record::{RoundRecord, TransitionRecord};

/// The last rounds of a probe history, and what could not be read as this
/// build's records (the summary notes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rounds {
    /// The last rounds, oldest first.
    pub rounds: Vec<RoundRecord>,
    /// How many of `rounds` an older agent wrote: they lack the typed
    /// answer, so they count for the timeline but not as evidence of an
    /// answered probe.
    pub old_format: usize,
    /// Lines that are not a round at all (skipped).
    pub unreadable: usize,
}

/// Parses the last `n` well-formed rounds of a probe history.
pub fn parse_rounds(text: &str, n: usize) -> Rounds {
    let mut unreadable = 0;
    let rounds: Vec<RoundRecord> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str::<RoundRecord>(l.trim()) {
            Ok(r) if r.time().is_some() => Some(r),
            _ => {
                unreadable += 1;
                None
            }
        })
        .collect();
    let skip = rounds.len().saturating_sub(n);
    let rounds: Vec<RoundRecord> = rounds.into_iter().skip(skip).collect();
    Rounds {
        old_format: rounds.iter().filter(|r| r.is_old_format()).count(),
        rounds,
        unreadable,
    }
}

/// The last `n` lines of `text` (the probe-rounds part of a bundle).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// The decisions in a transitions file, in time order; unreadable lines are
/// skipped.
pub fn parse_transitions(text: &str) -> Vec<TransitionRecord> {
    let mut out: Vec<TransitionRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<TransitionRecord>(l.trim()).ok())
        .filter(|t| t.time().is_some())
        .collect();
    out.sort_by_key(TransitionRecord::time);
    out
}

#[cfg(test)]
mod tests {
    use posture_protocol::PostureStatus;

    use super::*;
    use crate::machine::{PhaseName, ReasonKind};
    use crate::outcome::ProbeOutcome;

    const LINE: &str = r#"{"v":2,"at":"2026-11-21T22:00:01.500Z","session":"s1","outcome":"status","target":"127.0.0.1:8449","status":"Compliant","took_ms":12,"targets":[{"target":"127.0.0.1:8449","outcome":"status","detail":"answered Compliant"},{"target":"psn2:8449","outcome":"blocked","detail":"blocked (timeout)"}],"future":1}"#;

    /// A line as agents before typed records wrote it: no `v`, no `status`,
    /// the answer only in the human `detail`.
    const OLD_LINE: &str = r#"{"at":"2026-11-21T21:59:01.500Z","session":"s1","outcome":"status","target":"127.0.0.1:8449","targets":[{"target":"127.0.0.1:8449","outcome":"status","detail":"answered Compliant"}]}"#;

    #[test]
    fn rounds_skip_bad_lines_and_keep_the_last_n() {
        let text = format!("not json\n{LINE}\n{{\"at\":\"\"}}\n{LINE}\n\n{LINE}\n");
        let r = parse_rounds(&text, 2);
        assert_eq!(r.rounds.len(), 2);
        assert_eq!(r.unreadable, 2);
        assert_eq!(r.old_format, 0);
        assert_eq!(r.rounds[0].status, Some(PostureStatus::Compliant));
        assert_eq!(r.rounds[0].outcome, ProbeOutcome::Status);
        assert_eq!(r.rounds[0].targets[1].outcome, ProbeOutcome::Blocked);
        assert_eq!(r.rounds[0].target.as_deref(), Some("127.0.0.1:8449"));
        assert!(r.rounds[0].time().is_some());
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
    }

    #[test]
    fn an_old_format_line_is_read_without_its_answer_and_counted() {
        let r = parse_rounds(&format!("{OLD_LINE}\n{LINE}\n"), 10);
        assert_eq!(r.rounds.len(), 2);
        assert_eq!(r.old_format, 1);
        assert!(r.rounds[0].is_old_format());
        // The answer is never recovered from the words.
        assert_eq!(r.rounds[0].status, None);
        assert_eq!(r.rounds[1].status, Some(PostureStatus::Compliant));
    }

    #[test]
    fn transitions_are_read_typed_in_time_order() {
        let text = concat!(
            r#"{"v":2,"at":"2026-11-21T22:00:05.000Z","from":"known","to":"discovering","kind":"server-lost-posture","reason":"state sync probe: the psn reports Unknown; rediscovering","session":"s1","psn":null}"#,
            "\nnoise\n",
            r#"{"v":2,"at":"2026-11-21T22:00:01.000Z","from":"idle","to":"discovering","kind":"profile-applied","reason":"profile applied"}"#,
            "\n",
        );
        let t = parse_transitions(text);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].from, t[0].to),
            (PhaseName::Idle, PhaseName::Discovering)
        );
        assert_eq!(t[1].kind, ReasonKind::ServerLostPosture);
        assert_eq!(t[1].session.as_deref(), Some("s1"));
    }
}
