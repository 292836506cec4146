//! The agent's runs across restarts (`<state dir>/runs.jsonl`): one
//! [`RunRecord`] per start, clean stop and failed start. `run` appends
//! them; a diagnostic bundle carries the file and the summary reads it, so a
//! bundle after a crash loop shows every run, and an error printed before
//! logging started (a bad profile, no MAC address) still reaches support.
//!
//! Bounded: the last [`KEEP_LINES`] records, each message at most
//! [`MAX_MESSAGE`] bytes. Written atomically (temp file and rename), best
//! effort: a record that cannot be written never stops or fails the agent.

use std::io;
use std::path::Path;
use std::time::SystemTime;

use crate::record::{RUNS_FILE, RunEvent, RunRecord};

/// Records kept (a crash loop restarting every few seconds fills it in
/// minutes; enough for the last runs and their errors).
pub const KEEP_LINES: usize = 100;
/// Longest message kept of a failed start (an invalid profile prints one
/// line per error).
pub const MAX_MESSAGE: usize = 4096;

/// Appends `event` (now) to the runs file in `state`, keeping the last
/// [`KEEP_LINES`] records.
pub fn append(state: &Path, event: RunEvent) -> io::Result<()> {
    append_at(state, SystemTime::now(), event)
}

/// [`append`] at a given time.
pub fn append_at(state: &Path, at: SystemTime, event: RunEvent) -> io::Result<()> {
    let event = match event {
        RunEvent::FailedStart { exit, message } => RunEvent::FailedStart {
            exit,
            message: cut(&message, MAX_MESSAGE),
        },
        other => other,
    };
    let path = state.join(RUNS_FILE);
    let old = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let line = serde_json::to_string(&RunRecord::of(at, event)).map_err(io::Error::other)?;
    let kept: Vec<&str> = old.lines().filter(|l| !l.trim().is_empty()).collect();
    let kept = &kept[kept.len().saturating_sub(KEEP_LINES - 1)..];
    let mut text = String::new();
    for l in kept.iter().copied().chain([line.as_str()]) {
        text.push_str(l);
        text.push('\n');
    }
    crate::paths::write_atomically(&path, text.as_bytes())
}

/// The records of a runs file, in time order; unreadable lines skipped.
pub fn parse(text: &str) -> Vec<RunRecord> {
    let mut out: Vec<RunRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<RunRecord>(l.trim()).ok())
        .filter(|r| r.time().is_some())
        .collect();
    out.sort_by_key(RunRecord::time);
    out
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn records_are_appended_bounded_and_read_back_typed() {
        let d = tempfile::tempdir().unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        for i in 0..(KEEP_LINES as u64 + 5) {
            append_at(
                d.path(),
                t0 + Duration::from_secs(i),
                RunEvent::Stopped { exit: 0 },
            )
            .unwrap();
        }
        append_at(
            d.path(),
            t0 + Duration::from_secs(1000),
            RunEvent::FailedStart {
                exit: 78,
                message: "x".repeat(MAX_MESSAGE * 2),
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(d.path().join(RUNS_FILE)).unwrap();
        let runs = parse(&format!("garbage\n{text}"));
        assert_eq!(runs.len(), KEEP_LINES);
        // The oldest went first.
        assert_eq!(runs[0].time(), Some(t0 + Duration::from_secs(6)));
        match &runs[KEEP_LINES - 1].event {
            RunEvent::FailedStart { exit, message } => {
                assert_eq!(*exit, 78);
                assert_eq!(message.len(), MAX_MESSAGE + 3);
            }
            other => panic!("{other:?}"),
        }
    }
}
