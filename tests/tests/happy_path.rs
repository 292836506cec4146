//! The happy path: discovery, assessment, Compliant, probes blocked by the
//! dACL; then SIGTERM stops the agent cleanly.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::{Scenario, counter, is_known};

#[test]
fn discovers_assesses_and_stays_compliant_behind_the_dacl_then_stops_on_sigterm() {
    let (mut s, status) = Scenario::compliant_behind_dacl(&["psn1"]);
    let Scenario { agent, lab, .. } = &mut s;
    let psn1 = lab.node("psn1");
    let session = status["session_id"].as_str().unwrap().to_owned();
    assert_eq!(status["connected_psn"], psn1.sync);
    assert_eq!(status["sync"]["enabled"], true);
    assert_eq!(lab.session(&session)["status"], "Compliant");

    // Probes run and the dACL blocks them: normal, nothing changes.
    let status = agent.wait_for("two blocked probe rounds", |s| {
        counter(s, "probe_rounds") >= 2 && s["last_probe"]["outcome"] == "blocked"
    });
    assert!(is_known(&status, "Compliant"));
    assert_eq!(status["last_probe"]["target"], psn1.sync);
    assert_eq!(counter(&status, "discovery_restarts"), 0);
    assert_eq!(counter(&status, "misconfigurations"), 0);
    assert!(lab.node_view("psn1")["dacl_rejected"].as_u64().unwrap() >= 2);
    assert!(lab.alarms().is_empty());

    // One readable line per phase change, naming the session and the PSN.
    let log = agent.log();
    assert!(
        log.contains("idle -> discovering (profile applied"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "assessing -> known (assessment complete: Compliant; session={session}; psn={}",
            psn1.discovery
        )),
        "{log}"
    );
    assert!(log.contains("probe round blocked"), "{log}");

    // The PSN that served the endpoint is remembered for the next start.
    let store = std::fs::read_to_string(agent.state.join("known-psns.json")).unwrap();
    assert!(store.contains("127.0.0.1"), "{store}");

    let exit = agent.terminate();
    assert!(exit.success(), "exit status {exit}\n{}", agent.log());
    assert!(
        !agent.state.join("agent.sock").exists(),
        "the status socket is removed"
    );
    assert!(agent.status().is_none(), "no agent answers after the stop");
    assert!(agent.log().contains("SIGTERM"), "{}", agent.log());
}
