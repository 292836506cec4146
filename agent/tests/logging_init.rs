//! `logging::init` sets the process-wide subscriber, so it gets its own test
//! binary (one process) and one test.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use posture_sync::logging::{self, LOG_FILE, LoggingError, MIN_FILE_BYTES};

#[test]
fn init_writes_plain_lines_with_fields_and_rotates_at_the_runtime_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let handle = logging::init_with_filter(&dir, 1024 * 1024, false, Some("info")).unwrap();
    assert_eq!(handle.file(), dir.join(LOG_FILE));

    // Only one subscriber per process.
    let again = logging::init_with_filter(&dir, 1024 * 1024, false, None);
    assert!(matches!(again, Err(LoggingError::AlreadyInitialized)));

    tracing::info!(
        psn = "127.0.0.1:8449",
        outcome = "blocked",
        "probe round done"
    );
    tracing::debug!("below the filter");
    handle.set_max_file_bytes(MIN_FILE_BYTES);
    assert_eq!(handle.max_file_bytes(), MIN_FILE_BYTES);
    // About 85 bytes a line: some 3 files' worth, under the 5-file bound so
    // the first record is still in the oldest file.
    for i in 0..150 {
        tracing::info!(round = i, "filler line to force rotation");
    }
    // Dropping the handle flushes the background writer.
    drop(handle);

    let names: Vec<String> = std::iter::once(LOG_FILE.to_string())
        .chain((1..).map(|n| format!("{LOG_FILE}.{n}")))
        .take_while(|name| dir.join(name).exists())
        .collect();
    assert!(
        (3..=logging::MAX_LOG_FILES).contains(&names.len()),
        "{names:?}"
    );
    let oldest = std::fs::read_to_string(dir.join(names.last().unwrap())).unwrap();
    let line = oldest.lines().next().unwrap();
    // "2026-11-21T22:00:00.123456Z  INFO logging_init: probe round done psn=... outcome=..."
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        line.contains("probe round done psn=\"127.0.0.1:8449\" outcome=\"blocked\""),
        "{line}"
    );
    assert!(
        line.as_bytes()[..4].iter().all(u8::is_ascii_digit),
        "{line}"
    );
    let mut rounds = Vec::new();
    for name in names.iter().rev() {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(!text.contains('\x1b'), "ANSI escape in {name}");
        assert!(!text.contains("below the filter"));
        assert!(
            text.len() as u64 <= MIN_FILE_BYTES,
            "{name}: {}",
            text.len()
        );
        rounds.extend(
            text.lines()
                .filter_map(|l| l.split("round=").nth(1))
                .map(|r| r.parse::<u32>().unwrap()),
        );
    }
    // Nothing lost across rotations.
    assert_eq!(rounds, (0..150).collect::<Vec<u32>>());
}
