//! `posture-sync reassess` (the vendor agent's Rescan button) against the
//! real agent and psn-lab: the known agent rediscovers at once, says what it
//! decided, asks the PSN that served it last first, and is known again after
//! a new assessment; the transition is in `transitions.jsonl`; without an
//! agent the command exits 3 like `status`.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test instrument: the agent's own CLI.
#![allow(clippy::disallowed_methods)]

use std::process::Command;

use e2e_tests::{Scenario, binaries, counter, is_known, wait_until};
use serde_json::Value;

fn reassess(state: &std::path::Path) -> std::process::Output {
    Command::new(&binaries().agent)
        .args(["reassess", "--state-dir"])
        .arg(state)
        .env_clear()
        .env("HOME", state)
        .output()
        .expect("posture-sync runs")
}

fn transitions(state: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("transitions.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn reassess_rediscovers_the_known_agent_now() {
    let (mut s, status) = Scenario::compliant_behind_dacl(&["psn1"]);
    let first_discovery = status["discovery"].clone();
    assert_eq!(first_discovery["source"], "call-home-list", "{status}");
    let restarts = counter(&status, "discovery_restarts");
    let Scenario { agent, .. } = &mut s;

    let out = reassess(&agent.state);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?} {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("known -> discovering (rescan requested"),
        "{stdout}"
    );
    let rescans = |t: &[Value]| t.iter().filter(|r| r["kind"] == "rescan").count();
    assert_eq!(rescans(&transitions(&agent.state)), 1);

    // Known again through stage 1, asking the PSN that served it last.
    let status = agent.wait_for("Compliant again after the rescan", |s| {
        is_known(s, "Compliant") && s["discovery"]["source"] == "last-psn"
    });
    assert_eq!(status["discovery"]["stage"], 1, "{status}");
    assert_eq!(
        counter(&status, "discovery_restarts"),
        restarts,
        "a rescan is the endpoint's decision, not a probe's: {status}"
    );
    wait_until(
        "the log line of the rescan",
        || {
            agent
                .log()
                .contains("rescan requested over the status socket")
                .then_some(())
        },
        || agent.log(),
    );
}

#[test]
fn reassess_without_an_agent_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let out = reassess(&state);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no posture-sync agent is running"),
        "{stderr}"
    );
}
