//! What psn-lab offers fleet-sim (docs/fleet.md): requests counted by kind,
//! a CoA of many sessions at once, and a node that fails (fault mode
//! `down`) handing its endpoints to the others.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::{ALL_PASS, Lab, report_xml};
use http::{Method, StatusCode};
use psn_lab::app::{NodeView, RequestsByKind};
use serde_json::json;

async fn nodes(lab: &Lab) -> Vec<NodeView> {
    serde_json::from_value(lab.nodes().await).unwrap()
}

async fn status_of(lab: &Lab, id: &str) -> (String, String) {
    let v = lab
        .admin
        .ok(Method::GET, &format!("/sessions/{id}"), None)
        .await
        .unwrap();
    (
        v["status"].as_str().unwrap().to_owned(),
        v["owner"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_by_kind_and_dacl_resets_apart() {
    let lab = Lab::start(&["psn1", "psn2"]).await;
    lab.dacl("psn1", "reject").await;
    let c = lab.client().source("127.0.0.2");
    let id = c.discover_id(lab.disc("psn1"), "02:00:00:00:00:01").await;
    assert_eq!(c.probe(lab.sync("psn1"), &id).await.status, StatusCode::OK);
    c.requirements(lab.disc("psn1"), &id).await;
    let rep = c
        .report(lab.disc("psn1"), &id, &report_xml(&id, ALL_PASS))
        .await;
    assert_eq!(rep.status, StatusCode::OK, "{}", rep.text());
    // Compliant now: the dACL emulation resets the next probe before TLS.
    let blocked = c
        .request(
            lab.sync("psn1"),
            Method::GET,
            &format!("/auth/posturestatus?session={id}"),
            &[],
            Vec::new(),
        )
        .await;
    assert!(blocked.is_err(), "{:?}", blocked.map(|r| r.status));
    c.get(lab.disc("psn1"), "/no/such/path", &[]).await;

    let n = nodes(&lab).await;
    assert_eq!(
        n[0].requests_by_kind,
        RequestsByKind {
            discovery: 1,
            requirements: 1,
            report: 1,
            probe: 1,
            other: 1,
        }
    );
    assert_eq!(n[0].dacl_rejected, 1);
    assert_eq!(n[0].requests, 5);
    assert_eq!(n[1].requests_by_kind, RequestsByKind::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coa_of_many_sessions_changes_every_one_or_one_nodes() {
    let lab = Lab::start(&["psn1", "psn2"]).await;
    let mut ids = Vec::new();
    for (i, node) in ["psn1", "psn1", "psn2"].iter().enumerate() {
        let c = lab.client().source(&format!("127.0.0.{}", i + 2));
        let id = c
            .discover_id(lab.disc(node), &format!("02:00:00:00:00:0{i}"))
            .await;
        lab.coa(&id, "Compliant").await;
        ids.push(id);
    }
    let one = lab
        .post(
            "/sessions/status",
            json!({ "status": "Unknown", "owner": "psn2" }),
        )
        .await;
    assert_eq!(one["changed"], 1);
    assert_eq!(status_of(&lab, &ids[2]).await.0, "Unknown");
    assert_eq!(status_of(&lab, &ids[0]).await.0, "Compliant");

    let all = lab
        .post("/sessions/status", json!({ "status": "Unknown" }))
        .await;
    assert_eq!(
        all["changed"], 2,
        "the one already Unknown is left as it is"
    );
    for id in &ids {
        assert_eq!(status_of(&lab, id).await.0, "Unknown");
    }
    assert_eq!(
        lab.post_status(
            "/sessions/status",
            json!({ "status": "Unknown", "owner": "psn9" })
        )
        .await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_is_down_resets_connections_and_hands_its_sessions_over() {
    let lab = Lab::start(&["psn1", "psn2"]).await;
    let c = lab.client().source("127.0.0.2");
    let mac = "02:00:00:00:00:09";
    let id = c.discover_id(lab.disc("psn2"), mac).await;
    lab.coa(&id, "Compliant").await;
    assert_eq!(
        status_of(&lab, &id).await,
        ("Compliant".into(), "psn2".into())
    );

    lab.post("/nodes/psn2/fault", json!({ "mode": "down" }))
        .await;
    // Its endpoints re-authenticate elsewhere: posture Unknown.
    assert_eq!(status_of(&lab, &id).await.0, "Unknown");
    // Both ports reset every connection before TLS.
    for addr in [lab.disc("psn2"), lab.sync("psn2")] {
        let e = c
            .request(addr, Method::GET, "/auth/discovery", &[], Vec::new())
            .await
            .unwrap_err();
        assert!(e.starts_with("tls:") || e.starts_with("connect:"), "{e}");
    }
    assert_eq!(nodes(&lab).await[1].down_reset, 2);
    // The endpoint's next discovery, on the other node, takes the session over.
    let d = c.discover(lab.disc("psn1"), mac).await;
    assert_eq!(d.session.as_str(), id);
    assert_eq!(d.psn.state_sync_port, lab.sync("psn1").port());
    assert_eq!(
        status_of(&lab, &id).await,
        ("Unknown".into(), "psn1".into())
    );
}
