//! Profile hot reload: an invalid profile written while the agent runs is
//! refused and the last good one stays in force; a valid change applies
//! without a restart.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::{ProfileSpec, Scenario, counter, is_known, wait_until, write_atomically};

#[test]
fn an_invalid_profile_keeps_the_last_good_one_and_a_valid_change_applies() {
    let mut s = Scenario::behind_dacl(&["psn1"]);
    let Scenario { agent, lab, .. } = &mut s;
    // The profile the scenario started with.
    let spec = ProfileSpec::fast(&lab.node("psn1").discovery);
    assert_eq!(std::fs::read_to_string(&agent.profile).unwrap(), spec.xml());
    agent.wait_for("Compliant and probing", |s| {
        is_known(s, "Compliant") && counter(s, "probe_rounds") >= 1
    });

    // Out of range: refused, the running profile stays.
    let invalid = spec
        .xml()
        .replace("<StateSyncProbeInterval>1<", "<StateSyncProbeInterval>999<");
    assert_ne!(invalid, spec.xml());
    write_atomically(&agent.profile, &invalid);
    wait_until(
        "the agent to refuse the invalid profile",
        || {
            agent
                .log()
                .contains("keeping the last good profile")
                .then_some(())
        },
        || agent.log(),
    );
    let rounds = counter(&agent.status().unwrap(), "probe_rounds");
    let status = agent.wait_for("probing to go on with the last good profile", |s| {
        counter(s, "probe_rounds") >= rounds + 2
    });
    assert_eq!(status["sync"]["interval_secs"], 1);
    assert!(
        agent.log().contains("StateSyncProbeInterval"),
        "the error names the key"
    );

    // A valid change: state sync disabled by the profile.
    let disabled = ProfileSpec {
        interval: 0,
        ..spec.clone()
    };
    write_atomically(&agent.profile, &disabled.xml());
    let status = agent.wait_for("sync disabled by the profile", |s| {
        s["sync"]["stopped_reason"] == "disabled-by-profile"
    });
    assert!(is_known(&status, "Compliant"));

    // And enabled again with another interval.
    let every_two = ProfileSpec {
        interval: 2,
        ..spec
    };
    write_atomically(&agent.profile, &every_two.xml());
    agent.wait_for("sync enabled every 2 s", |s| {
        s["sync"]["enabled"] == true && s["sync"]["interval_secs"] == 2
    });
}
