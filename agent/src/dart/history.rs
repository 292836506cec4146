//! Tolerant readers for what a bundle summarizes: the probe history
//! (`probe-rounds.jsonl`, written by the daemon) and the phase transitions in
//! the log files. Unknown fields are ignored and bad lines skipped: a bundle
//! is collected precisely when something is wrong, so it must never fail on
//! a damaged input.

use std::sync::LazyLock;
use std::time::SystemTime;

use regex::Regex;
use serde::Deserialize;

/// One target's result in a round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RoundTarget {
    /// `host:port`.
    pub target: String,
    /// `blocked`, `status` or `failed`.
    pub outcome: String,
    /// Human text, e.g. `answered Compliant`, `blocked (timeout)`.
    pub detail: String,
}

/// One probe round, as the daemon writes it (`daemon::ProbeHistory::line`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Round {
    /// RFC 3339 time the round finished.
    pub at: String,
    /// The session probed.
    pub session: String,
    /// The round's verdict: `blocked`, `status` or `failed`.
    pub outcome: String,
    /// The target the verdict is about.
    pub target: Option<String>,
    /// Every target's result.
    pub targets: Vec<RoundTarget>,
}

impl Round {
    /// When the round finished, if the time parses.
    pub fn time(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(self.at.trim_end_matches('Z')).ok()
    }

    /// The posture a PSN answered in this round (`Compliant`, ...), if any.
    pub fn answer(&self) -> Option<&str> {
        let target = self.target.as_deref();
        self.targets
            .iter()
            .filter(|t| t.outcome == "status")
            .find(|t| target.is_none_or(|tt| tt == t.target))
            .and_then(|t| t.detail.strip_prefix("answered "))
            .map(|s| s.split_whitespace().next().unwrap_or(s))
    }
}

/// Parses the last `n` well-formed rounds of a probe history.
pub fn parse_rounds(text: &str, n: usize) -> Vec<Round> {
    let rounds: Vec<Round> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Round>(l.trim()).ok())
        .filter(|r| !r.at.is_empty())
        .collect();
    let skip = rounds.len().saturating_sub(n);
    rounds.into_iter().skip(skip).collect()
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

/// A phase change found in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseChange {
    /// When it was logged.
    pub at: SystemTime,
    /// The phase before.
    pub from: String,
    /// The phase after.
    pub to: String,
    /// The reason in the log line.
    pub reason: String,
}

// A literal pattern, tested below.
#[allow(clippy::expect_used)]
static TRANSITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)\s.*?\b(idle|discovering|assessing|known) -> (idle|discovering|assessing|known) \((.*)\)",
    )
    .expect("transition pattern is a valid literal")
});

/// The phase transitions in log text (oldest file first), in time order.
pub fn parse_transitions(logs: &[String]) -> Vec<PhaseChange> {
    let mut out: Vec<PhaseChange> = logs
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| {
            let c = TRANSITION.captures(line)?;
            let at = humantime::parse_rfc3339_weak(c[1].trim_end_matches('Z')).ok()?;
            Some(PhaseChange {
                at,
                from: c[2].to_string(),
                to: c[3].to_string(),
                reason: c[4].to_string(),
            })
        })
        .collect();
    out.sort_by_key(|p| p.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"at":"2026-11-21T22:00:01.500Z","session":"s1","outcome":"status","target":"127.0.0.1:8449","targets":[{"target":"127.0.0.1:8449","outcome":"status","detail":"answered Compliant"},{"target":"psn2:8449","outcome":"blocked","detail":"blocked (timeout)"}],"future":1}"#;

    #[test]
    fn rounds_skip_bad_lines_and_keep_the_last_n() {
        let text = format!("not json\n{LINE}\n{{\"at\":\"\"}}\n{LINE}\n\n{LINE}\n");
        let rounds = parse_rounds(&text, 2);
        assert_eq!(rounds.len(), 2);
        assert_eq!(rounds[0].answer(), Some("Compliant"));
        assert_eq!(rounds[0].target.as_deref(), Some("127.0.0.1:8449"));
        assert!(rounds[0].time().is_some());
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
    }

    #[test]
    fn transitions_come_from_log_lines_in_time_order() {
        let logs = vec![
            "2026-11-21T22:00:05.000001Z  WARN posture_sync::daemon: known -> discovering (state sync probe answered Unknown; session=s1)\n".to_string(),
            "2026-11-21T22:00:01.000001Z  INFO posture_sync::daemon: idle -> discovering (profile applied)\nnoise\n".to_string(),
        ];
        let t = parse_transitions(&logs);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].from.as_str(), t[0].to.as_str()),
            ("idle", "discovering")
        );
        assert_eq!(t[1].reason, "state sync probe answered Unknown; session=s1");
    }
}
