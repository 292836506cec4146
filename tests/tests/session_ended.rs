//! The server ends the session while the agent is known: the dACL emulation
//! no longer blocks the endpoint (it has no known posture any more), the
//! probe reaches the PSN and gets 404 (no such session), and the agent
//! restarts discovery, gets a new session and is known again after a new
//! assessment (behaviour.md, decision table: "a PSN answered `Unknown` or
//! `Pending`, or 404").

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::{Scenario, counter, is_known, probe_history, wait_until};

#[test]
fn an_ended_session_restarts_discovery_and_a_new_session_is_assessed() {
    let mut s = Scenario::behind_dacl(&["psn1"]);
    let Scenario { agent, lab, .. } = &mut s;
    let status = agent.wait_for("Compliant with a blocked probe round", |s| {
        is_known(s, "Compliant") && s["last_probe"]["outcome"] == "blocked"
    });
    assert_eq!(counter(&status, "discovery_restarts"), 0, "{status}");
    let old = status["session_id"].as_str().unwrap().to_owned();

    let ended = lab.ctl(&["end", &old]);
    assert_eq!(ended["ended"]["id"], old.as_str(), "{ended}");

    let status = agent.wait_for("a discovery restart after the session ended", |s| {
        counter(s, "discovery_restarts") >= 1
    });
    assert_eq!(counter(&status, "discovery_restarts"), 1, "{status}");
    wait_until(
        "the agent to log why it rediscovers",
        || {
            agent
                .log()
                .contains("the psn knows no such session (404); rediscovering")
                .then_some(())
        },
        || agent.log(),
    );
    // The round that decided it: the old session's probe answered 404.
    let rounds = probe_history(&agent.state);
    let decisive = rounds
        .iter()
        .find(|r| r["session"] == old.as_str() && r["outcome"] == "status")
        .unwrap_or_else(|| panic!("no status round for the ended session in {rounds:?}"));
    let detail = decisive["targets"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("404"), "{decisive}");

    // Discovery made a new session; the agent assessed it and probes again.
    let status = agent.wait_for("Compliant with a new session, probing again", |s| {
        is_known(s, "Compliant")
            && s["session_id"].as_str().is_some_and(|id| id != old)
            && s["last_probe"]["outcome"] == "blocked"
    });
    let new = status["session_id"].as_str().unwrap().to_owned();
    wait_until(
        "the lab to hold the new session Compliant",
        || (lab.session(&new)["status"] == "Compliant").then_some(()),
        || lab.log(),
    );
    assert_eq!(counter(&status, "discovery_restarts"), 1, "{status}");
    assert_eq!(counter(&status, "misconfigurations"), 0, "{status}");
    assert!(lab.alarms().is_empty(), "no probe reached a known posture");
}
