//! The connected PSN drops the probe silently (dACL `drop`) while a backup
//! PSN answers Unknown: the backup's answer ends the round and the agent
//! restarts discovery without waiting for the silent PSN's timeout.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::{Agent, Lab, MAC, ProfileSpec, counter, is_known};

#[test]
fn a_silent_connected_psn_does_not_hold_up_a_backup_that_answers_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let lab_a = tmp.path().join("a");
    let lab_b = tmp.path().join("b");
    std::fs::create_dir_all(&lab_a).unwrap();
    std::fs::create_dir_all(lab_b.join("lab")).unwrap();
    let lab = Lab::start(&lab_a, &["psn1"], &[]);
    lab.dacl("psn1", "drop");
    // A second, independent lab shares the first one's CA and will hold the
    // endpoint's session as Unknown: a PSN that lost the posture.
    for f in ["ca.pem", "ca-key.pem", "ca.json"] {
        std::fs::copy(lab.dir.join(f), lab_b.join("lab").join(f)).unwrap();
    }
    let backup = Lab::start(&lab_b, &["psn2"], &[]);
    let (psn1, psn2) = (lab.node("psn1"), backup.node("psn2"));

    let spec = ProfileSpec {
        backup: vec![psn1.sync.clone(), psn2.sync.clone()],
        ..ProfileSpec::fast(&psn1.discovery)
    };
    let mut agent = Agent::start(tmp.path(), &lab, &spec);
    let status = agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    let session = status["session_id"].as_str().unwrap();
    backup.ctl(&["seed", MAC, "Unknown", "--id", session]);

    let status = agent.wait_for("a discovery restart", |s| {
        counter(s, "discovery_restarts") >= 1
    });
    let last = &status["last_probe"];
    assert_eq!(last["target"], psn2.sync, "{status}");
    assert_eq!(last["status"], "Unknown", "{status}");
    // The round ended with the backup's answer: the silent PSN had no
    // outcome yet and was cancelled rather than waited for.
    let targets = last["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{status}");
    assert!(lab.node_view("psn1")["dacl_dropped"].as_u64().unwrap() >= 1);
}
