//! MDM at authentication time (issue 13): psn-lab asks the MDM about a
//! device when its session is discovered, unless a cached verdict is within
//! the compliance cache expiration, so a device the MDM holds non-compliant
//! is never assessed Compliant before the next poll. Against the in-crate
//! mdm-lab, real TLS on loopback.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
mod mdm_support;

use std::time::Duration;

use common::{ALL_PASS, Lab, report_all_pass, report_xml};
use mdm_support::{MdmLab, device};
use posture_protocol::{PostureResult, PostureStatus};
use psn_lab::mdm::Verdict;

const MAC: &str = "02:00:5e:00:53:21";

/// psn-lab with mdm-lab as its MDM, polling so seldom that only
/// authentication-time questions can tell it anything during a test.
async fn labs(compliant: bool) -> (Lab, MdmLab) {
    let dir = tempfile::tempdir().unwrap();
    let mdm = MdmLab::start(dir.path(), vec![device(MAC, compliant)], |_| {}).await;
    let mut settings = mdm.settings();
    settings.polling_interval = Duration::from_secs(3600);
    settings.cache_expiration = Duration::from_secs(3600);
    let lab = Lab::start_with(&["psn1"], |c| c.mdm = Some(settings)).await;
    // The first poll runs at start; once it is done (before any session
    // exists: it asks about no device) only discoveries ask.
    test_support::wait_until_async(
        "the MDM client's first poll",
        || async { (lab.lab.state.mdm.status().polls > 0).then_some(()) },
        String::new,
    )
    .await;
    // mdm-lab's files live in its own directory; keep it alive with the lab.
    std::mem::forget(dir);
    (lab, mdm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_the_mdm_holds_non_compliant_is_never_assessed_compliant_before_a_poll() {
    let (lab, mdm) = labs(false).await;
    let c = lab.client();
    let d = c.discover(lab.disc("psn1"), MAC).await;
    let v = lab.lab.state.mdm.verdict(MAC).expect("asked at discovery");
    assert_eq!(v.verdict, Verdict::NonCompliant);
    assert_eq!(mdm.stats().await["device_queries"], 1);

    let id = d.session.as_str();
    c.requirements(lab.disc("psn1"), id).await;
    let r = c
        .report(lab.disc("psn1"), id, &report_xml(id, ALL_PASS))
        .await;
    assert_eq!(
        PostureResult::from_xml(&r.body).unwrap().status,
        PostureStatus::NonCompliant,
        "capped by the MDM's verdict"
    );
    let status = lab.lab.state.mdm.status();
    assert_eq!(status.auth_queries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_verdict_within_its_expiration_is_used_without_asking() {
    let (lab, mdm) = labs(true).await;
    let c = lab.client();
    c.discover(lab.disc("psn1"), MAC).await;
    assert_eq!(mdm.stats().await["device_queries"], 1);
    // Flipped at the MDM, but the cached verdict is fresh: not asked again.
    mdm.flip(MAC, false, "FileVault is off").await;
    let d = c.discover(lab.disc("psn1"), MAC).await;
    assert_eq!(mdm.stats().await["device_queries"], 1);
    let status = lab.lab.state.mdm.status();
    assert_eq!((status.auth_queries, status.auth_cache_hits), (1, 1));
    assert_eq!(
        lab.lab.state.mdm.verdict(MAC).unwrap().verdict,
        Verdict::Compliant
    );
    report_all_pass(&lab, &c, d.session.as_str()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_mdm_at_authentication_leaves_discovery_working() {
    let (lab, mdm) = labs(true).await;
    mdm.fault("malformed", "all", 0).await;
    let c = lab.client();
    let d = c.discover(lab.disc("psn1"), MAC).await;
    assert_eq!(d.posture, PostureStatus::Unknown);
    assert!(lab.lab.state.mdm.verdict(MAC).is_none());
    assert_eq!(lab.lab.state.mdm.status().auth_errors, 1);
}
