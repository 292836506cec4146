//! The wire parser's limits on attributes, through the public API the agent
//! uses on every requirements reply (docs/protocol.md, "Parser limits").
//!
//! A compromised PSN chooses every byte of a reply: an element with
//! thousands of attributes is refused as malformed, and a reply that spreads
//! as many attributes over many elements is read in one linear pass. Nothing
//! here is timed; `docs/protocol.md` has the figures measured by hand.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use posture_protocol::{ParseError, Requirements};

const LIMIT: usize = 64;
const SESSION: &str = "c0a830e71FjmLTxwC_6BfWNqU3RwKrGfaDTw5krqr1QOzEm";

/// A short attribute name, distinct for each `i` (bijective base 52).
fn short_name(i: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = Vec::new();
    let mut n = i + 1;
    while n > 0 {
        n -= 1;
        name.push(LETTERS[n % 52]);
        n /= 52;
    }
    String::from_utf8(name).unwrap()
}

#[test]
fn a_requirements_element_with_thousands_of_attributes_is_malformed() {
    let mut xml = format!(r#"<requirements session="{SESSION}""#);
    for i in 0..9_319 {
        xml.push_str(&format!(r#" {}="""#, short_name(i)));
    }
    xml.push_str("/>");
    assert!(xml.len() <= 64 * 1024, "{} bytes", xml.len());
    let err = Requirements::from_xml(xml.as_bytes()).unwrap_err();
    assert!(matches!(err, ParseError::Xml { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("<requirements> has more than {LIMIT} attributes")),
        "{err}"
    );
}

#[test]
fn a_check_with_too_many_attributes_is_malformed_too() {
    let mut check = String::from(r#"<check type="file-exists" path="/etc/hosts""#);
    for i in 0..LIMIT {
        check.push_str(&format!(r#" {}="""#, short_name(i)));
    }
    check.push_str("/>");
    let xml = format!(
        r#"<requirements session="{SESSION}"><requirement id="r">{check}</requirement></requirements>"#
    );
    let err = Requirements::from_xml(xml.as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("<check> has more than {LIMIT} attributes")),
        "{err}"
    );
}

#[test]
fn duplicate_attributes_are_still_malformed() {
    for xml in [
        format!(r#"<requirements session="{SESSION}" session="{SESSION}"/>"#),
        format!(
            r#"<requirements session="{SESSION}"><requirement id="a" mandatory="true" id="b"/></requirements>"#
        ),
    ] {
        let err = Requirements::from_xml(xml.as_bytes()).unwrap_err();
        assert!(matches!(err, ParseError::Xml { .. }), "{xml}: {err:?}");
        assert!(err.to_string().contains("duplicated attribute"), "{err}");
    }
}

/// 9,319 attributes within 64 KiB, at most [`LIMIT`] on each element (and
/// within the caps on requirements and checks per reply): read whole, every
/// requirement and check found.
#[test]
fn thousands_of_attributes_spread_over_many_elements_parse() {
    let total = 9_319;
    let mut xml = format!(r#"<requirements session="{SESSION}">"#);
    let (mut written, mut requirements, mut checks) = (0, 0, 0);
    while written < total {
        xml.push_str(&format!(
            r#"<requirement id="r{requirements}" mandatory="false">"#
        ));
        written += 2;
        requirements += 1;
        for _ in 0..posture_protocol::MAX_CHECKS_PER_REQUIREMENT {
            if written >= total {
                break;
            }
            // An unknown check type: its extra attributes are ignored.
            xml.push_str(r#"<check type="x""#);
            written += 1;
            let extra = (LIMIT - 1).min(total - written);
            for i in 0..extra {
                xml.push_str(&format!(r#" {}="""#, short_name(i)));
            }
            written += extra;
            checks += 1;
            xml.push_str("/>");
        }
        xml.push_str("</requirement>");
    }
    xml.push_str("</requirements>");
    assert_eq!(written, total);
    assert!(xml.len() <= 64 * 1024, "{} bytes", xml.len());
    let r = Requirements::from_xml(xml.as_bytes()).unwrap();
    assert_eq!(r.requirements.len(), requirements);
    assert!(r.requirements.len() <= posture_protocol::MAX_REQUIREMENTS);
    assert_eq!(
        r.requirements.iter().map(|q| q.checks.len()).sum::<usize>(),
        checks
    );
    assert!(r.requirements.iter().all(|q| !q.mandatory));
}
