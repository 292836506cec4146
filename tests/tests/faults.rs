//! Faulty PSNs never change the agent's state: 500, garbage and oversized
//! replies leave it known and probing; a node with a certificate from another
//! CA is refused (a security error) and never gets a request.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::{Agent, Lab, ProfileSpec, Scenario, binaries, counter, is_known};

#[test]
fn error_garbage_and_oversized_replies_leave_the_agent_known_and_probing() {
    let mut s = Scenario::start(&["psn1"], |lab| {
        // The port is reachable (no dACL) but every probe meets a fault, so
        // no probe ever sees a status.
        lab.fault_sync("psn1", "http500");
        ProfileSpec::fast(&lab.node("psn1").discovery).xml()
    });
    let Scenario { agent, lab, .. } = &mut s;
    agent.wait_for("Compliant", |s| is_known(s, "Compliant"));

    let mut rounds = 0;
    for (mode, detail) in [
        ("http500", "500"),
        ("garbage", "malformed"),
        ("oversized", "exceeds"),
    ] {
        lab.fault_sync("psn1", mode);
        let status = agent.wait_for(&format!("two failed rounds with {mode}"), |s| {
            counter(s, "probe_rounds") >= rounds + 2
                && s["last_probe"]["outcome"] == "failed"
                && s["last_probe"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains(detail))
        });
        assert!(is_known(&status, "Compliant"), "{status}");
        assert_eq!(counter(&status, "discovery_restarts"), 0);
        assert_eq!(counter(&status, "misconfigurations"), 0);
        assert_eq!(status["sync"]["enabled"], true);
        rounds = counter(&status, "probe_rounds");
    }
    assert!(lab.alarms().is_empty(), "faulty replies are not processed");
}

#[test]
fn a_node_with_a_certificate_from_another_ca_is_refused_without_a_state_change() {
    let tmp = tempfile::tempdir().unwrap();
    // psn2's certificate comes from an independent CA.
    let other = tmp.path().join("other");
    #[allow(clippy::disallowed_methods)] // psn-lab, the test instrument
    let out = std::process::Command::new(&binaries().lab)
        .args(["certs", "--dir"])
        .arg(&other)
        .args(["--node", "psn2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = |name: &str| other.join(name).to_str().unwrap().to_owned();
    let node_cert = format!("psn2={},{}", cert("psn2.pem"), cert("psn2-key.pem"));
    let lab = Lab::start(tmp.path(), &["psn1", "psn2"], &["--node-cert", &node_cert]);
    // psn1 blocks the probe as a dACL should; psn2's port is reachable, so
    // the agent meets its certificate.
    lab.dacl("psn1", "reject");
    let (psn1, psn2) = (lab.node("psn1"), lab.node("psn2"));
    // psn2 is asked first for discovery and is a probe target (psnList).
    let spec = ProfileSpec {
        call_home: vec![psn2.discovery.clone(), psn1.discovery.clone()],
        ..ProfileSpec::fast(&psn1.discovery)
    };
    let mut agent = Agent::start(tmp.path(), &lab, &spec);
    let status = agent.wait_for("Compliant through psn1", |s| is_known(s, "Compliant"));
    assert_eq!(status["connected_psn"], psn1.sync);

    let status = agent.wait_for("probe rounds that meet psn2", |s| {
        counter(s, "probe_rounds") >= 2
            && s["last_probe"]["targets"]
                .as_array()
                .is_some_and(|ts| ts.iter().any(|t| t["target"] == psn2.sync.as_str()))
    });
    let psn2_outcome = status["last_probe"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == psn2.sync.as_str())
        .cloned()
        .unwrap();
    assert_eq!(psn2_outcome["outcome"], "failed", "{status}");
    assert!(
        psn2_outcome["detail"]
            .as_str()
            .unwrap()
            .contains("untrusted"),
        "{psn2_outcome}"
    );
    assert!(is_known(&status, "Compliant"), "no state change: {status}");
    assert_eq!(counter(&status, "discovery_restarts"), 0);
    assert_eq!(counter(&status, "misconfigurations"), 0);
    assert_eq!(
        lab.node_view("psn2")["requests"].as_u64(),
        Some(0),
        "no request ever went over the untrusted connection"
    );
    assert!(agent.log().contains("security"), "{}", agent.log());
}
