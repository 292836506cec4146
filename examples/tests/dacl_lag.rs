//! Issue 13 on psn-lab: the dACL lag knob, the alarm that waits for the
//! agent's confirmation probe and names the PSN and the dACL line, and the
//! periodic reassessment interval in the report reply.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use common::{ALL_PASS, Lab, MAC, Reply, compliant_session, report_xml};
use http::{Method, StatusCode};
use posture_protocol::{PostureResult, PostureStatus};
use serde_json::json;

/// Discovery, requirements and an all-pass report from `source`: the session
/// is Compliant (the moment the dACL lag starts from).
async fn compliant_endpoint(lab: &Lab, source: &str) -> String {
    compliant_session(lab, &lab.client().source(source), MAC).await
}

/// The reply to an all-pass report of a freshly discovered session.
async fn all_pass_report(lab: &Lab) -> Reply {
    let c = lab.client();
    let d = c.discover(lab.disc("psn1"), MAC).await;
    let id = d.session.as_str();
    c.report(lab.disc("psn1"), id, &report_xml(id, ALL_PASS))
        .await
}

async fn set_dacl(lab: &Lab, mode: &str, lag_ms: u64) {
    lab.dacl("psn1", mode).await;
    let node = lab
        .post("/nodes/psn1/dacl-lag", json!({ "lag_ms": lag_ms }))
        .await;
    assert_eq!(node["dacl_lag_ms"], lag_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_during_the_dacl_lag_gets_through_and_a_blocked_confirmation_raises_no_alarm() {
    let lab = Lab::start(&["psn1"]).await;
    let lag = Duration::from_millis(1500);
    set_dacl(&lab, "reject", lag.as_millis() as u64).await;
    let id = compliant_endpoint(&lab, "127.0.0.2").await;
    let c = lab.client().source("127.0.0.2");

    // Within the lag the switch has not applied the dACL yet: the probe is answered ...
    let first = c.probe(lab.sync("psn1"), &id).await;
    assert_eq!(first.status, StatusCode::OK);
    // ... and one probe is no alarm.
    assert!(lab.lab.state.alarms.list().is_empty());
    let nodes = lab.admin.ok(Method::GET, "/nodes", None).await.unwrap();
    assert_eq!(nodes[0]["dacl_lag_passed"], 1);
    assert_eq!(nodes[0]["dacl_rejected"], 0);

    // The agent confirms after its transition delay; by then the lag is over
    // and the dACL blocks the confirmation.
    tokio::time::sleep(lag).await;
    let path = format!("/auth/posturestatus?session={id}");
    let confirmation = c
        .request(lab.sync("psn1"), Method::GET, &path, &[], Vec::new())
        .await;
    assert!(
        confirmation.is_err(),
        "the dACL blocks after the lag: {confirmation:?}"
    );
    let nodes = lab.admin.ok(Method::GET, "/nodes", None).await.unwrap();
    assert_eq!(nodes[0]["dacl_rejected"], 1);
    assert!(
        lab.lab.state.alarms.list().is_empty(),
        "a late dACL is no misconfiguration"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lag_longer_than_the_confirmation_delay_lets_both_probes_through_as_the_vendor_bug_does()
{
    let lab = Lab::start(&["psn1"]).await;
    set_dacl(&lab, "reject", 600_000).await;
    let id = compliant_endpoint(&lab, "127.0.0.3").await;
    let c = lab.client().source("127.0.0.3");
    assert_eq!(c.probe(lab.sync("psn1"), &id).await.status, StatusCode::OK);
    assert!(lab.lab.state.alarms.list().is_empty());
    assert_eq!(c.probe(lab.sync("psn1"), &id).await.status, StatusCode::OK);
    assert_eq!(lab.lab.state.alarms.list().len(), 1);
    // With lag 0 the dACL blocks at once.
    set_dacl(&lab, "reject", 0).await;
    assert!(
        c.request(
            lab.sync("psn1"),
            Method::GET,
            &format!("/auth/posturestatus?session={id}"),
            &[],
            Vec::new()
        )
        .await
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dacl_the_confirmation_raises_the_alarm_naming_the_psn_and_the_dacl_line() {
    let lab = Lab::start(&["psn1"]).await;
    let id = compliant_endpoint(&lab, "127.0.0.4").await;
    let c = lab.client().source("127.0.0.4");
    assert_eq!(c.probe(lab.sync("psn1"), &id).await.status, StatusCode::OK);
    assert!(
        lab.lab.state.alarms.list().is_empty(),
        "no alarm before the confirmation"
    );
    assert_eq!(c.probe(lab.sync("psn1"), &id).await.status, StatusCode::OK);
    let alarms = lab.admin.ok(Method::GET, "/alarms", None).await.unwrap();
    let alarms = alarms.as_array().unwrap();
    assert_eq!(alarms.len(), 1);
    let port = lab.sync("psn1").port();
    let message = alarms[0]["message"].as_str().unwrap();
    assert!(message.contains("PSN psn1 (127.0.0.1)"), "{message}");
    assert!(
        message.contains(&format!("'deny tcp any host 127.0.0.1 eq {port}'")),
        "{message}"
    );
    assert_eq!(alarms[0]["psn_address"], "127.0.0.1");
    assert_eq!(alarms[0]["session"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dacl_lag_is_bounded_and_shown_per_node() {
    let lab = Lab::start(&["psn1"]).await;
    for body in [json!({ "lag_ms": 600_001 }), json!({ "lag": 5 })] {
        let status = lab.post_status("/nodes/psn1/dacl-lag", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let nodes = lab.admin.ok(Method::GET, "/nodes", None).await.unwrap();
    assert_eq!(nodes[0]["dacl_lag_ms"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_sets_the_reassessment_interval_of_the_report_reply() {
    let plain = Lab::start(&["psn1"]).await;
    let r = all_pass_report(&plain).await;
    assert!(!r.text().contains("reassessInterval"), "off by default");
    assert_eq!(
        PostureResult::from_xml(&r.body).unwrap().reassess_interval,
        None
    );

    let pra = Lab::start_with(&["psn1"], |c| {
        c.policy.reassess_interval_secs = Some(3600);
    })
    .await;
    let r = all_pass_report(&pra).await;
    let result = PostureResult::from_xml(&r.body).unwrap();
    assert_eq!(result.reassess_interval, Some(Duration::from_secs(3600)));
    assert_eq!(result.status, PostureStatus::Compliant);
}
