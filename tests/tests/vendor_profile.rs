//! A real ISE profile carries dozens of keys for other features, with the
//! vendor's values and nested sections: the agent runs with it, reaches a
//! known posture, and says what it does not use (behaviour.md, "Profile").

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::{ProfileSpec, Scenario, is_known};

#[test]
fn vendor_values_and_nested_sections_do_not_stop_the_agent() {
    let mut xml = String::new();
    let mut s = Scenario::start(&["psn1"], |lab| {
        lab.dacl("psn1", "reject");
        let base = ProfileSpec::fast(&lab.node("psn1").discovery).xml();
        // Values outside the ranges posture-sync documents for keys it does
        // not use, and an unknown key holding elements, as an ISE export may have.
        let vendor = "  <VlanDetectInterval>1000</VlanDetectInterval>\n  \
                  <WarningTimer>2000</WarningTimer>\n  \
                  <PingArp>3</PingArp>\n  \
                  <SignatureCheck>2</SignatureCheck>\n  \
                  <RemediationUI><Title lang=\"en\">Posture</Title><!-- kept --></RemediationUI>\n\
                  </cfg>\n";
        xml = base.replace("</cfg>\n", vendor);
        xml.clone()
    });
    let agent = &mut s.agent;

    let status = agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    assert_eq!(status["sync"]["enabled"], true);
    let log = agent.log();
    assert!(log.contains("VlanDetectInterval"), "{log}");
    assert!(log.contains("the agent does not use this key"), "{log}");
    // The profile on disk is the administrator's: never rewritten.
    assert_eq!(std::fs::read_to_string(&agent.profile).unwrap(), xml);
}
