//! A dACL that does not block the state sync port: the agent confirms once
//! after NetworkTransitionDelay, then stops syncing with reason
//! `misconfiguration`; a dACL that is merely late is not a misconfiguration.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use e2e_tests::{ProfileSpec, Scenario, counter, is_known, wait_until};

#[test]
fn no_dacl_stops_sync_with_reason_misconfiguration_and_raises_an_alarm() {
    // dACL emulation off (the default): the port is always reachable.
    let mut s = Scenario::start(&["psn1"], |lab| {
        ProfileSpec::fast(&lab.node("psn1").discovery).xml()
    });
    let Scenario { agent, lab, .. } = &mut s;
    let psn1 = lab.node("psn1");
    let status = agent.wait_for("sync stopped", |s| {
        s["sync"]["stopped_reason"] == "misconfiguration"
    });
    assert!(
        is_known(&status, "Compliant"),
        "the posture stays known: {status}"
    );
    assert_eq!(status["sync"]["enabled"], false);
    assert_eq!(counter(&status, "misconfigurations"), 1);
    assert_eq!(counter(&status, "discovery_restarts"), 0);
    assert_eq!(status["sync"]["stopped_psn"], psn1.sync);
    let alarms = lab.alarms();
    assert!(!alarms.is_empty(), "psn-lab raised the alarm");
    assert_eq!(alarms[0]["session"], status["session_id"]);
    let log = agent.log();
    assert!(log.contains("dacl misconfiguration"), "{log}");
    assert!(
        log.contains(psn1.sync.as_str()),
        "the error names the PSN: {log}"
    );

    // No further probes: neither the agent's counter nor the PSN's request
    // count move over several probe intervals (an absence can only be
    // observed over a window).
    let rounds = counter(&status, "probe_rounds");
    let requests = lab.node_view("psn1")["requests"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let later = agent.status().unwrap();
    assert_eq!(counter(&later, "probe_rounds"), rounds);
    assert_eq!(
        lab.node_view("psn1")["requests"].as_u64().unwrap(),
        requests
    );
    assert_eq!(later["sync"]["stopped_reason"], "misconfiguration");
}

#[test]
fn a_dacl_that_arrives_after_the_first_probe_is_not_a_misconfiguration() {
    // A long transition delay leaves a wide window to switch the dACL on
    // between the suspicious first probe and its confirmation.
    let mut s = Scenario::start(&["psn1"], |lab| {
        ProfileSpec {
            transition_delay: 10,
            ..ProfileSpec::fast(&lab.node("psn1").discovery)
        }
        .xml()
    });
    let Scenario { agent, lab, .. } = &mut s;
    agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    // The first probe gets through (the lab counts it; one probe is no alarm) ...
    wait_until(
        "the first probe to reach the lab",
        || (lab.ctl(&["sessions"])[0]["probes"].as_u64() > Some(0)).then_some(()),
        || agent.log(),
    );
    // ... and the dACL arrives before the confirmation.
    lab.dacl("psn1", "reject");
    let status = agent.wait_for("blocked probe rounds after the late dACL", |s| {
        counter(s, "probe_rounds") >= 3 && s["last_probe"]["outcome"] == "blocked"
    });
    assert_eq!(counter(&status, "misconfigurations"), 0, "{status}");
    assert_eq!(status["sync"]["enabled"], true);
    assert!(status["sync"]["stopped_reason"].is_null(), "{status}");
    assert!(is_known(&status, "Compliant"));
    assert!(
        agent
            .log()
            .contains("confirmation probe blocked: the dacl was only late; probing normally"),
        "{}",
        agent.log()
    );
}
