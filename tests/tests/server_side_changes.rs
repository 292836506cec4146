//! Server-side posture changes reach the agent through the state sync port:
//! a CoA to Unknown or Pending opens the port (the dACL emulation blocks only
//! known postures), the probe gets through, and the agent rediscovers and
//! reassesses; a drift to another known posture does the same.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::{Scenario, counter, is_known, wait_until};

#[test]
fn a_coa_to_unknown_or_pending_restarts_discovery_and_reassessment() {
    let (mut s, status) = Scenario::compliant_behind_dacl(&["psn1"]);
    let Scenario { agent, lab, .. } = &mut s;
    let session = status["session_id"].as_str().unwrap().to_owned();

    for (n, coa) in [(1, "Unknown"), (2, "Pending")] {
        lab.ctl(&["coa", &session, coa]);
        let status = agent.wait_for(
            &format!("a discovery restart after the CoA to {coa}"),
            |s| counter(s, "discovery_restarts") >= n,
        );
        assert_eq!(status["last_probe"]["outcome"], "status", "{status}");
        assert_eq!(status["last_probe"]["status"], coa, "{status}");
        // Reassessed: the lab's session is Compliant again only after a new report.
        let status = agent.wait_for("Compliant again", |s| is_known(s, "Compliant"));
        assert_eq!(status["session_id"], session.as_str());
        wait_until(
            "the lab to hold the session Compliant again",
            || (lab.session(&session)["status"] == "Compliant").then_some(()),
            || lab.log(),
        );
    }
    let status = agent.status().unwrap();
    assert_eq!(counter(&status, "misconfigurations"), 0);
    assert!(lab.alarms().is_empty(), "no probe reached a known posture");
    assert!(agent.log().contains("rediscovering"), "{}", agent.log());
}

#[test]
fn a_server_side_drift_to_noncompliant_triggers_a_reassessment() {
    let (mut s, status) = Scenario::compliant_behind_dacl(&["psn1"]);
    let Scenario { agent, lab, .. } = &mut s;
    let session = status["session_id"].as_str().unwrap().to_owned();

    // The server now holds NonCompliant and the port is open (a dACL that
    // does not cover this case): the probe answers a known posture that
    // differs from the agent's.
    lab.ctl(&["coa", &session, "NonCompliant"]);
    lab.dacl("psn1", "off");
    let status = agent.wait_for("a discovery restart after the drift", |s| {
        counter(s, "discovery_restarts") >= 1
    });
    lab.dacl("psn1", "reject");
    assert_eq!(status["last_probe"]["status"], "NonCompliant", "{status}");
    agent.wait_for("Compliant after the reassessment", |s| {
        is_known(s, "Compliant")
    });
    wait_until(
        "the reassessment's report to reach the lab",
        || (lab.session(&session)["status"] == "Compliant").then_some(()),
        || lab.log(),
    );
    assert!(
        agent.log().contains("posture changed on the server"),
        "{}",
        agent.log()
    );
}
