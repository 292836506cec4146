//! Automatic diagnostic bundles: one when discovery keeps failing (once per
//! discovery episode), one when a misconfiguration is confirmed, and never
//! more than DartCount of them in `<state dir>/bundles/`.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::{Path, PathBuf};

use e2e_tests::{ProfileSpec, Scenario, wait_until, write_atomically};

/// The automatic bundles in `state/bundles`, by name.
fn bundles(state: &Path) -> Vec<String> {
    let dir: PathBuf = state.join("bundles");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("dart-") && n.ends_with(".zip"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The profile with `DartCount` added.
fn with_dart_count(spec: &ProfileSpec, count: u32) -> String {
    spec.xml().replace(
        "</cfg>",
        &format!("  <DartCount>{count}</DartCount>\n</cfg>"),
    )
}

#[test]
fn failing_discovery_then_a_misconfiguration_keep_dart_count_bundles() {
    // dACL emulation off: once discovery works, the agent confirms a
    // misconfiguration (the second trigger). Port 1 on loopback: nothing
    // listens there, every discovery attempt is refused.
    let mut s = Scenario::start(&["psn1"], |_| {
        with_dart_count(&ProfileSpec::fast("127.0.0.1:1"), 1)
    });
    let psn1 = s.node("psn1");
    let agent = &mut s.agent;

    // Discovery keeps failing: one bundle whose name says why.
    wait_until(
        "a bundle for the failing discovery",
        || {
            agent
                .log()
                .contains("collected a diagnostic bundle automatically")
                .then_some(())
        },
        || agent.log(),
    );
    let names = bundles(&agent.state);
    assert_eq!(names.len(), 1, "{names:?}");
    let first = names[0].clone();
    assert!(first.contains("discovery-failing"), "{first}");
    let log = agent.log();
    let line = log
        .lines()
        .find(|l| l.contains("collected a diagnostic bundle automatically"))
        .unwrap();
    assert!(
        line.contains("discovery failing") && line.contains("127.0.0.1:1"),
        "the log line names the reason and the target: {line}"
    );

    // Only once per episode: let discovery fail several more times.
    let failures = |log: &str| log.matches("no discovery target answered").count();
    let seen = failures(&agent.log());
    wait_until(
        "three more failed discovery attempts",
        || (failures(&agent.log()) >= seen + 3).then_some(()),
        || agent.log(),
    );
    assert_eq!(bundles(&agent.state), std::slice::from_ref(&first));
    assert_eq!(
        agent
            .log()
            .matches("collected a diagnostic bundle automatically")
            .count(),
        1,
        "{}",
        agent.log()
    );

    // Point discovery at the lab: the agent finds the session, assesses and
    // confirms the missing dACL, which collects the second bundle; DartCount 1
    // keeps only the newest.
    write_atomically(
        &agent.profile,
        &with_dart_count(&ProfileSpec::fast(&psn1.discovery), 1),
    );
    agent.wait_for("sync stopped for a misconfiguration", |s| {
        s["sync"]["stopped_reason"] == "misconfiguration"
    });
    let kept = wait_until(
        "the misconfiguration bundle to replace the first one",
        || {
            let names = bundles(&agent.state);
            (names.len() == 1 && names[0].contains("misconfiguration")).then_some(names)
        },
        || format!("{:?}\n{}", bundles(&agent.state), agent.log()),
    );
    assert_ne!(kept[0], first);
    wait_until(
        "the log to say the old bundle was removed",
        || {
            agent
                .log()
                .contains("removed an old diagnostic bundle")
                .then_some(())
        },
        || agent.log(),
    );
}
