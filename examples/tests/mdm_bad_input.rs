//! Bad input from the MDM (malformed XML, wrong types, huge replies, devices
//! not asked for, an old API version) leaves every session and every cached
//! verdict unchanged, and the failure is recorded (and logged at warn).

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
mod mdm_support;

use std::time::{Duration, Instant};

use common::{Lab, snapshot};
use mdm_support::{MdmLab, device, seed};
use posture_protocol::PostureStatus;
use psn_lab::mdm::diagnose::{FailureClass, class};
use psn_lab::mdm::poller::Poller;
use psn_lab::mdm::{MdmClient, Verdict};

#[tokio::test]
async fn bad_replies_change_nothing() {
    let lab = Lab::start(&["psn1"]).await;
    let mac = "02:00:5e:00:53:01";
    let mdm = MdmLab::start(lab.dir.path(), vec![device(mac, true)], |_| {}).await;
    let s = seed(&lab.lab, mac, PostureStatus::Compliant);
    let mut settings = mdm.settings();
    settings.cache_expiration = Duration::from_secs(1);
    let p = Poller::new(MdmClient::new(settings).unwrap(), lab.lab.state.clone());
    let t0 = Instant::now();
    p.poll_once(t0).await.unwrap();
    let fetched = lab.lab.state.mdm.verdict(mac).unwrap();
    assert_eq!(fetched.verdict, Verdict::Compliant);

    // The MDM now holds the device non-compliant, but answers badly.
    mdm.flip(mac, false, "FileVault is off").await;
    let before = snapshot(&lab.sessions_dir());
    let cases = [
        ("malformed", "devices", "malformed XML"),
        ("wrong-types", "devices", "true or false"),
        ("huge", "devices", "larger than"),
        ("extra-device", "devices", "inconsistent reply"),
        ("wrong-types", "info", "query_max_size"),
        ("old-api", "info", "API version 2"),
        ("malformed", "info", "malformed XML"),
    ];
    for (i, (mode, scope, expected)) in cases.iter().enumerate() {
        mdm.fault(mode, scope, 0).await;
        let at = t0 + Duration::from_secs(10 * (i as u64 + 1));
        let f = p.poll_once(at).await.unwrap_err();
        let c = class(&f.error);
        assert!(
            matches!(c, FailureClass::BadReply | FailureClass::ApiVersion),
            "{mode}: {f}"
        );
        assert!(f.to_string().contains(expected), "{mode}/{scope}: {f}");
        let status = lab.lab.state.mdm.status();
        assert!(
            status
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(expected)),
            "{status:?}"
        );
        assert_eq!(status.errors, i as u64 + 1);
        assert_eq!(
            snapshot(&lab.sessions_dir()),
            before,
            "{mode}/{scope} changed a session file"
        );
        assert_eq!(
            lab.lab.state.sessions.get(&s.id).unwrap().status,
            PostureStatus::Compliant
        );
        let v = lab.lab.state.mdm.verdict(mac).unwrap();
        assert_eq!(
            (v.verdict, v.fetched),
            (Verdict::Compliant, fetched.fetched),
            "{mode}/{scope} changed the verdict"
        );
    }

    // Once the MDM answers well again, the verdict arrives and becomes a CoA.
    mdm.fault("none", "all", 0).await;
    let out = p.poll_once(t0 + Duration::from_secs(100)).await.unwrap();
    assert_eq!(out.coas.len(), 1);
    assert!(lab.lab.state.mdm.status().last_error.is_none());
    assert_eq!(
        lab.lab.state.sessions.get(&s.id).unwrap().status,
        PostureStatus::Unknown
    );
}

#[test]
fn hostile_documents_are_refused_by_the_parser() {
    use psn_lab::mdm::xml::{DeviceReply, ServerInfo};
    let dtd = br#"<?xml version="1.0"?><!DOCTYPE ise_api [<!ENTITY x "y">]><ise_api><name>mdminfo</name></ise_api>"#;
    assert!(ServerInfo::from_xml(dtd).is_err());
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert!(DeviceReply::from_xml(deep.as_bytes(), "macaddress").is_err());
    let wide = format!(
        "<ise_api><name>attributes</name><deviceList>{}</deviceList></ise_api>",
        "<x/>".repeat(psn_lab::mdm::xml::MAX_ELEMENTS + 1)
    );
    assert!(DeviceReply::from_xml(wide.as_bytes(), "macaddress").is_err());
    for bad in [
        &b""[..],
        b"<ise_api>",
        b"<ise_api></x>",
        b"<other><name>mdminfo</name></other>",
        b"<ise_api><name>attributes</name></ise_api>",
        b"\xff\xfe\x00",
    ] {
        assert!(DeviceReply::from_xml(bad, "macaddress").is_err(), "{bad:?}");
    }
    let no_status = b"<ise_api><name>attributes</name><deviceList><device><macaddress>A</macaddress><attributes><register_status>true</register_status></attributes></device></deviceList></ise_api>";
    assert!(DeviceReply::from_xml(no_status, "macaddress").is_err());
    let negative = b"<ise_api><name>mdminfo</name><api_version>3</api_version><api_path>/x</api_path><query_max_size>-1</query_max_size></ise_api>";
    assert!(ServerInfo::from_xml(negative).is_err());
    let relative = b"<ise_api><name>mdminfo</name><api_version>3</api_version><api_path>x/y</api_path><query_max_size>5</query_max_size></ise_api>";
    assert!(ServerInfo::from_xml(relative).is_err());
}

mod prop {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Arbitrary bytes never panic the parsers.
        #[test]
        fn arbitrary_replies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = psn_lab::mdm::xml::ServerInfo::from_xml(&bytes);
            let _ = psn_lab::mdm::xml::DeviceReply::from_xml(&bytes, "macaddress");
        }
    }
}
