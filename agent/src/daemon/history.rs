//! The probe history and the transitions file, for diagnostic bundles: one
//! JSON line per finished probe round in `<state dir>/probe-rounds.jsonl`
//! ([`RoundRecord`]) and one per decision of the machine in
//! `<state dir>/transitions.jsonl` ([`TransitionRecord`]).
//!
//! Both are bounded the same way: when a file grows past [`HISTORY_MAX_BYTES`] it is cut to its
//! last [`HISTORY_KEEP_LINES`] lines (written to a temp file and renamed, so a
//! crash never leaves half a history). A failure to write is logged once and
//! never stops the agent.
//!
//! The files name sessions and PSN hosts, like the log files, so it is kept
//! private to the user as they are: opened by [`crate::paths::open_private`]
//! (created mode 0600 on unix, an existing file with a wider mode, from an
//! older build or a umask, tightened to 0600 through the open descriptor, a
//! symbolic link at its name refused).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

use crate::machine::{LastProbe, Transition};
use crate::paths::{OpenHow, open_private, write_atomically};
use crate::record::{RoundRecord, TransitionRecord};

/// Lines kept when a file is trimmed.
pub const HISTORY_KEEP_LINES: usize = 1000;

/// Size at which a file is trimmed (a line is a few hundred bytes, so
/// this is roughly twice [`HISTORY_KEEP_LINES`]).
pub const HISTORY_MAX_BYTES: u64 = 512 * 1024;

/// A bounded file of JSON lines, appended to.
///
/// The file stays open between lines and its size is counted, not asked
/// for: opening, checking and closing it every round was five system calls
/// of a probe round that makes about fifty (docs/benchmarks.md). It is
/// opened again after a trim or a failed write; a file deleted behind
/// the agent's back is recreated at the next trim or restart.
#[derive(Debug)]
struct JsonLines {
    path: PathBuf,
    /// What the file holds, for the warning (`probe history`, ...).
    role: &'static str,
    max_bytes: u64,
    keep_lines: usize,
    warned: bool,
    /// The open file and its size, while writing works.
    open: Option<(File, u64)>,
    /// The line being written, kept between lines: its allocation is made
    /// once, not per round (docs/benchmarks.md).
    buf: Vec<u8>,
}

impl JsonLines {
    fn new(path: PathBuf, role: &'static str) -> Self {
        JsonLines {
            path,
            role,
            max_bytes: HISTORY_MAX_BYTES,
            keep_lines: HISTORY_KEEP_LINES,
            warned: false,
            open: None,
            buf: Vec::new(),
        }
    }

    /// Other bounds than the defaults.
    fn with_bounds(mut self, max_bytes: u64, keep_lines: usize) -> Self {
        self.max_bytes = max_bytes;
        self.keep_lines = keep_lines;
        self
    }

    /// Appends one record as a line; trims the file when it is too large.
    fn append(&mut self, record: &impl Serialize) {
        let mut line = std::mem::take(&mut self.buf);
        line.clear();
        let result = serde_json::to_writer(&mut line, record)
            .map_err(std::io::Error::other)
            .and_then(|()| {
                // One `write` for the whole line, newline included.
                line.push(b'\n');
                self.write_line(&line)
            });
        self.buf = line;
        match result {
            Ok(()) => self.warned = false,
            Err(e) if !self.warned => {
                self.warned = true;
                tracing::warn!(
                    file = %self.path.display(),
                    "cannot write the {}: {e}; the agent goes on without it",
                    self.role
                );
            }
            Err(_) => {}
        }
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.open.is_none() {
            let file = open_private(&self.path, OpenHow::Append)?;
            let size = file.metadata()?.len();
            self.open = Some((file, size));
        }
        let Some((file, size)) = self.open.as_mut() else {
            return Ok(()); // just opened above
        };
        if let Err(e) = file.write_all(line) {
            self.open = None;
            return Err(e);
        }
        *size += line.len() as u64;
        if *size > self.max_bytes {
            // The trim renames a new file over the path: write there next.
            self.open = None;
            self.trim()?;
        }
        Ok(())
    }

    fn trim(&self) -> std::io::Result<()> {
        let text = std::fs::read_to_string(&self.path)?;
        let lines: Vec<&str> = text.lines().collect();
        let keep = &lines[lines.len().saturating_sub(self.keep_lines)..];
        let mut out = keep.join("\n");
        out.push('\n');
        // A new private temp file becomes the file (paths/files.rs).
        write_atomically(&self.path, out.as_bytes())
    }
}

/// Appends rounds to the probe history (`probe-rounds.jsonl`).
#[derive(Debug)]
pub struct ProbeHistory(JsonLines);

impl ProbeHistory {
    /// A history at `path` with the default bounds.
    pub fn new(path: PathBuf) -> Self {
        ProbeHistory(JsonLines::new(path, "probe history"))
    }

    /// The same history with other bounds (tests).
    pub fn with_bounds(self, max_bytes: u64, keep_lines: usize) -> Self {
        ProbeHistory(self.0.with_bounds(max_bytes, keep_lines))
    }

    /// One JSON object per round.
    pub fn line(at: SystemTime, session: &str, round: &LastProbe) -> String {
        // A record of strings and numbers always serialises.
        serde_json::to_string(&RoundRecord::borrowed(at, session, round)).unwrap_or_default()
    }

    /// Appends one round, finished at `at` for `session`; trims the file
    /// when it is too large. The line is a [`RoundRecord`], serialised
    /// from the machine's values without building one.
    pub fn append(&mut self, at: SystemTime, session: &str, round: &LastProbe) {
        self.0.append(&RoundRecord::borrowed(at, session, round));
    }
}

/// Appends the machine's decisions to `transitions.jsonl`, next to their
/// log lines.
#[derive(Debug)]
pub struct TransitionLog(JsonLines);

impl TransitionLog {
    /// A transitions file at `path` with the default bounds.
    pub fn new(path: PathBuf) -> Self {
        TransitionLog(JsonLines::new(path, "transitions file"))
    }

    /// The same file with other bounds (tests).
    pub fn with_bounds(self, max_bytes: u64, keep_lines: usize) -> Self {
        TransitionLog(self.0.with_bounds(max_bytes, keep_lines))
    }

    /// Appends one decision, made at `at`.
    pub fn append(&mut self, at: SystemTime, t: &Transition) {
        self.0.append(&TransitionRecord::of(at, t));
    }
}

#[cfg(test)]
mod tests {
    use posture_protocol::PostureStatus;

    use std::time::Duration;

    use super::*;
    use crate::machine::{PhaseName, Reason, Severity};
    use crate::outcome::{BlockedKind, HostPort, Outcome, TargetOutcome, judge_round};
    #[cfg(unix)]
    use crate::paths::fixtures::{chmod, mode};
    use crate::timing::MonoTime;

    fn outcomes() -> Vec<TargetOutcome> {
        vec![
            TargetOutcome::new(
                HostPort::new(profile_schema::Host::parse("psn1").unwrap(), 8449),
                Outcome::Blocked(BlockedKind::Refused),
            ),
            TargetOutcome::new(
                HostPort::new(profile_schema::Host::parse("psn2").unwrap(), 8449),
                Outcome::Answered(PostureStatus::Unknown),
            ),
        ]
    }

    fn round() -> LastProbe {
        let outcomes = outcomes();
        LastProbe {
            at: MonoTime::from_elapsed(Duration::from_secs(1)),
            verdict: judge_round(&outcomes),
            outcomes,
            took: Duration::from_millis(250),
        }
    }

    #[test]
    fn a_line_is_one_json_object_with_the_verdict_and_every_target() {
        let line = ProbeHistory::line(SystemTime::UNIX_EPOCH, "s1", &round());
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["session"], "s1");
        assert_eq!(v["outcome"], "status");
        assert_eq!(v["target"], "psn2:8449");
        assert_eq!(v["targets"][0]["outcome"], "blocked");
        assert_eq!(v["targets"][1]["target"], "psn2:8449");
        // Typed facts: the answer and the machine's timing, not text.
        assert_eq!(v["status"], "Unknown");
        assert_eq!(v["took_ms"], 250);
        assert_eq!(v["v"], crate::record::RECORD_VERSION);
    }

    #[test]
    fn the_history_holds_one_record_per_line_whatever_came_before() {
        // The line buffer is reused: a short line after a long one must not
        // carry the long one's tail, and every line reads back as the record.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe-rounds.jsonl");
        let mut h = ProbeHistory::new(path.clone());
        let long = round();
        let mut short = round();
        short.outcomes.truncate(1);
        short.verdict = judge_round(&short.outcomes);
        let rounds = [
            (&long, "a-long-session-id"),
            (&short, "s"),
            (&long, ""),
            (&short, "s2"),
        ];
        for (r, session) in rounds {
            h.append(SystemTime::UNIX_EPOCH, session, r);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: String = rounds
            .iter()
            .map(|(r, session)| {
                let record = RoundRecord::of(SystemTime::UNIX_EPOCH, session, r);
                serde_json::to_string(&record).unwrap() + "\n"
            })
            .collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn the_history_is_trimmed_to_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe-rounds.jsonl");
        let mut h = ProbeHistory::new(path.clone()).with_bounds(2048, 3);
        let r = round();
        for i in 0..50 {
            h.append(SystemTime::UNIX_EPOCH, &format!("s{i}"), &r);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() as u64 <= 2048 + 400, "{}", text.len());
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["session"], "s49");
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_history_is_private_when_created_trimmed_or_found_wider() {
        let dir = tempfile::tempdir().unwrap();
        let r = round();

        let path = dir.path().join("probe-rounds.jsonl");
        let mut h = ProbeHistory::new(path.clone());
        h.append(SystemTime::UNIX_EPOCH, "s", &r);
        assert_eq!(mode(&path), 0o600);

        // A file left by an older build, world-readable: tightened.
        let old = dir.path().join("old.jsonl");
        std::fs::write(&old, "").unwrap();
        chmod(&old, 0o644);
        let mut h = ProbeHistory::new(old.clone());
        h.append(SystemTime::UNIX_EPOCH, "s", &r);
        assert_eq!(mode(&old), 0o600);
        assert!(!h.0.warned);

        // Trimming replaces the file: the replacement is private too, even
        // when a stale, wider temp file was in the way.
        let trimmed = dir.path().join("t.jsonl");
        let stale = dir.path().join("t.jsonl.tmp");
        std::fs::write(&stale, "").unwrap();
        chmod(&stale, 0o666);
        let mut h = ProbeHistory::new(trimmed.clone()).with_bounds(1, 1);
        for _ in 0..5 {
            h.append(SystemTime::UNIX_EPOCH, "s", &r);
        }
        assert_eq!(
            std::fs::read_to_string(&trimmed).unwrap().lines().count(),
            1
        );
        assert_eq!(mode(&trimmed), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_history_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe-rounds.jsonl");
        let victim = crate::paths::fixtures::symlink_to_victim(dir.path(), &path);
        let mut h = ProbeHistory::new(path.clone());
        h.append(SystemTime::UNIX_EPOCH, "s", &round());
        assert!(h.0.warned, "the refusal is reported");
        crate::paths::fixtures::assert_untouched(&victim);
    }

    #[test]
    fn an_unwritable_history_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = ProbeHistory::new(dir.path().join("missing-dir").join("h.jsonl"));
        h.append(SystemTime::UNIX_EPOCH, "s", &round());
        assert!(h.0.warned);
    }

    #[test]
    fn transitions_are_one_typed_line_each_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::record::TRANSITIONS_FILE);
        let mut log = TransitionLog::new(path.clone()).with_bounds(1024, 2);
        let t = Transition {
            from: PhaseName::Idle,
            to: PhaseName::Discovering,
            reason: Reason::ProfileApplied,
            severity: Severity::Info,
            session: None,
            psn: None,
        };
        for _ in 0..30 {
            log.append(SystemTime::UNIX_EPOCH, &t);
        }
        assert!(!log.0.warned);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() <= 1024 + 400, "{}", text.len());
        let records: Vec<TransitionRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!records.is_empty() && records.len() <= 30);
        assert_eq!(records[0].kind, crate::machine::ReasonKind::ProfileApplied);
        assert_eq!(records[0].reason, "profile applied");
        assert_eq!(
            (records[0].from, records[0].to),
            (PhaseName::Idle, PhaseName::Discovering)
        );
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
    }
}
