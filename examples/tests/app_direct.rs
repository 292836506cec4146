//! The PSN service driven without a socket: `app(state).handle(ctx, request)`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use posture_protocol::{Discovery, PostureStatus, PostureStatusReply};
use psn_lab::alarms::AlarmLog;
use psn_lab::app::{LabState, NodeInfo, NodeState, PortKind, RequestCtx, app};
use psn_lab::policy::Policy;
use psn_lab::sessions::SessionStore;

fn state(dir: &std::path::Path) -> Arc<LabState> {
    let node = |name: &str, d: u16, s: u16| {
        NodeState::new(NodeInfo {
            name: name.into(),
            advertise: format!("{name}.lab.test"),
            discovery: ([127, 0, 0, 1], d).into(),
            sync: ([127, 0, 0, 1], s).into(),
        })
    };
    Arc::new(LabState {
        nodes: vec![node("psn1", 8443, 8449), node("psn2", 9443, 9449)],
        sessions: SessionStore::open(dir).unwrap(),
        alarms: AlarmLog::default(),
        policy: Policy::default(),
    })
}

async fn call(
    svc: &psn_lab::app::App,
    node: usize,
    port: PortKind,
    req: Request<Full<Bytes>>,
) -> (StatusCode, Bytes) {
    let ctx = RequestCtx {
        node,
        port,
        peer: ([127, 0, 0, 7], 50000).into(),
    };
    let resp = svc.handle(ctx, req).await;
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn discovery_and_probe_without_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let svc = app(state(dir.path()));
    let req = Request::get("/auth/discovery")
        .header("x-posture-mac", "00:50:56:a8:be:02")
        .body(Full::default())
        .unwrap();
    let (status, body) = call(&svc, 1, PortKind::Discovery, req).await;
    assert_eq!(status, StatusCode::OK);
    let d = Discovery::from_xml(&body).unwrap();
    assert_eq!(d.psn.host, "psn2.lab.test");
    assert_eq!(d.psn.state_sync_port, 9449);
    assert_eq!(d.psn_list[0].host, "psn1.lab.test");
    assert_eq!(d.psn_list[0].state_sync_port, 8449);

    svc.state()
        .sessions
        .set_status(&d.session, PostureStatus::NonCompliant)
        .unwrap();
    let req = Request::get(format!("/auth/posturestatus?session={}", d.session))
        .body(Full::default())
        .unwrap();
    let (status, body) = call(&svc, 0, PortKind::StateSync, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        PostureStatusReply::from_xml(&body).unwrap().status,
        PostureStatus::NonCompliant
    );
    let alarms = svc.state().alarms.list();
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].node, "psn1");
    assert_eq!(alarms[0].endpoint, Some("127.0.0.7".parse().unwrap()));
}
