//! The PSN service driven without a socket: `app(state).handle(ctx, request)`.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
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
        mdm: Default::default(),
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
    let req = || {
        Request::get(format!("/auth/posturestatus?session={}", d.session))
            .body(Full::default())
            .unwrap()
    };
    call(&svc, 0, PortKind::StateSync, req()).await; // the first probe; the alarm needs its confirmation
    let (status, body) = call(&svc, 0, PortKind::StateSync, req()).await;
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

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Arbitrary report bodies never get a 5xx and never change the session
    /// unless they are a valid report.
    #[test]
    fn arbitrary_report_bodies_get_a_4xx(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let svc = app(state(dir.path()));
            let spec = psn_lab::sessions::SeedSpec {
                mac: "00:50:56:a8:be:02".into(),
                status: PostureStatus::Compliant,
                node: None,
                endpoint: None,
                id: Some(posture_protocol::SessionId::new("s1").unwrap()),
            };
            svc.state().sessions.seed(&spec, "psn1", "127.0.0.1".parse().unwrap()).unwrap();
            let before = std::fs::read(dir.path().join("00-50-56-a8-be-02.json")).unwrap();
            let req = Request::post("/auth/report?session=s1").body(Full::new(Bytes::from(body))).unwrap();
            let (status, _) = call(&svc, 0, PortKind::Discovery, req).await;
            assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::OK, "{status}");
            if status != StatusCode::OK {
                assert_eq!(std::fs::read(dir.path().join("00-50-56-a8-be-02.json")).unwrap(), before);
            }
        });
    }
}
