//! A session is bound to its endpoint's address (docs/psn-lab.md, "Session
//! binding"): requirements, report and probe from another source address are
//! refused with 403 and logged; a rediscovery re-binds; IPv4-mapped IPv6
//! peers are their IPv4 address. Simulated endpoints are distinct 127.x
//! source addresses on loopback.
//!
//! The lab's log lines are captured as JSON by a subscriber installed for this
//! test binary, and each test looks only at the lines naming its own session.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use common::{ALL_PASS, Client, Lab, MAC, Reply, report_xml};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use posture_protocol::{PostureStatus, PostureStatusReply};
use psn_lab::alarms::AlarmLog;
use psn_lab::app::{LabState, NodeInfo, NodeState, PortKind, RequestCtx, app};
use psn_lab::policy::Policy;
use psn_lab::sessions::SessionStore;
use serde_json::{Value, json};

/// Every log line of this test binary, JSON.
fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Sink(sink.clone()))
            .init();
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured log lines whose `session` field is `id`.
fn lines_for(id: &str) -> Vec<Value> {
    let text = String::from_utf8(log_buffer().lock().unwrap().clone()).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["session"] == id)
        .collect()
}

/// The refusal warnings logged for session `id`.
fn refusals(id: &str) -> Vec<Value> {
    lines_for(id)
        .into_iter()
        .filter(|v| {
            v["level"] == "WARN"
                && v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("bound to another endpoint address"))
        })
        .collect()
}

/// A one-node lab, with the log captured, and clients from addresses `a`
/// and `b`.
async fn lab_and_clients(a: &str, b: &str) -> (Lab, Client, Client) {
    log_buffer();
    let lab = Lab::start(&["psn1"]).await;
    let (from_a, from_b) = (lab.client().source(a), lab.client().source(b));
    (lab, from_a, from_b)
}

async fn session(lab: &Lab, id: &str) -> Value {
    lab.admin
        .ok(Method::GET, &format!("/sessions/{id}"), None)
        .await
        .unwrap()
}

async fn binding_refused(lab: &Lab) -> Value {
    let nodes = lab.nodes().await;
    nodes[0]["binding_refused"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requirements_report_and_probe_from_another_address_are_refused_and_logged() {
    let (lab, owner, other) = lab_and_clients("127.0.0.1", "127.0.0.2").await;
    let id = owner.discover_id(lab.disc("psn1"), MAC).await;
    let id = id.as_str();
    // The endpoint's own assessment: it is Compliant.
    owner.assess(lab.disc("psn1"), id, ALL_PASS).await;
    let before = session(&lab, id).await;
    assert_eq!(before["status"], "Compliant");
    assert_eq!(before["endpoint"], "127.0.0.1");

    // The same session id from 127.0.0.2: refused on every route.
    let replies = [
        other.requirements(lab.disc("psn1"), id).await,
        other
            .report(
                lab.disc("psn1"),
                id,
                &report_xml(id, &[("os-release", false)]),
            )
            .await,
        other.probe(lab.sync("psn1"), id).await,
    ];
    for r in &replies {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
        let text = r.text();
        assert!(text.contains("bound to another endpoint address"), "{text}");
        // Neither the posture nor the bound address leaks.
        assert!(
            !text.contains("Compliant") && !text.contains("127.0.0.1"),
            "{text}"
        );
    }
    // Nothing changed: no Pending, no report, no probe counted, no alarm.
    let after = session(&lab, id).await;
    assert_eq!(after["status"], "Compliant");
    assert_eq!(after["last_report"], before["last_report"]);
    assert_eq!(after["probes"], 0);
    assert_eq!(after["endpoint"], "127.0.0.1");
    assert!(lab.lab.state.alarms.list().is_empty());
    assert_eq!(binding_refused(&lab).await, 3);

    // One warning per refusal, naming the session, the bound and the offending address.
    let warned = refusals(id);
    assert_eq!(warned.len(), 3, "{warned:?}");
    for w in &warned {
        assert_eq!(w["fields"]["bound"], "127.0.0.1", "{w}");
        assert_eq!(w["fields"]["peer"], "127.0.0.2", "{w}");
        assert_eq!(w["fields"]["node"], "psn1", "{w}");
    }
    let routes: Vec<&str> = warned
        .iter()
        .filter_map(|w| w["fields"]["route"].as_str())
        .collect();
    assert_eq!(
        routes,
        ["/auth/requirements", "/auth/report", "/auth/posturestatus"]
    );

    // The endpoint itself is still served.
    let p = owner.probe(lab.sync("psn1"), id).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        PostureStatusReply::from_xml(&p.body).unwrap().status,
        PostureStatus::Compliant
    );
    assert_eq!(
        owner.requirements(lab.disc("psn1"), id).await.status,
        StatusCode::OK
    );
    assert_eq!(session(&lab, id).await["status"], "Pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rediscovery_from_a_new_address_rebinds_the_session() {
    let (lab, first, roamed) = lab_and_clients("127.0.0.3", "127.0.0.4").await;
    let mac = "02:00:5e:10:00:04";
    let id = first.discover_id(lab.disc("psn1"), mac).await;
    let id = id.as_str();
    assert_eq!(
        roamed.probe(lab.sync("psn1"), id).await.status,
        StatusCode::FORBIDDEN
    );

    // The laptop roamed to 127.0.0.4 and rediscovers: same session, new binding.
    let again = roamed.discover(lab.disc("psn1"), mac).await;
    assert_eq!(again.session.as_str(), id);
    assert_eq!(session(&lab, id).await["endpoint"], "127.0.0.4");
    assert!(
        lines_for(id).iter().any(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("re-bound"))
                && l["fields"]["from"] == "127.0.0.3"
                && l["fields"]["to"] == "127.0.0.4"
        }),
        "the re-binding is logged: {:?}",
        lines_for(id)
    );
    assert_eq!(
        roamed.probe(lab.sync("psn1"), id).await.status,
        StatusCode::OK
    );
    // The old address is now the foreign one.
    let r = first.requirements(lab.disc("psn1"), id).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let warned = refusals(id);
    assert_eq!(warned.last().unwrap()["fields"]["bound"], "127.0.0.4");
    assert_eq!(warned.last().unwrap()["fields"]["peer"], "127.0.0.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_session_is_bound_by_its_address_or_its_first_request() {
    log_buffer();
    let lab = Lab::start(&["psn1"]).await;
    // Seeded with an address: bound from the start.
    let bound = lab
        .post(
            "/sessions",
            json!({"mac": "02:00:5e:10:00:05", "status": "Compliant", "endpoint": "127.0.0.5"}),
        )
        .await;
    let bound = bound["id"].as_str().unwrap();
    let r = probe_from(&lab, "127.0.0.6", bound).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(
        probe_from(&lab, "127.0.0.5", bound).await.status,
        StatusCode::OK
    );

    // Seeded without an address: its first request binds it.
    let open = lab
        .post(
            "/sessions",
            json!({"mac": "02:00:5e:10:00:07", "status": "Unknown"}),
        )
        .await;
    let open = open["id"].as_str().unwrap();
    assert_eq!(open_endpoint(&lab, open).await, Value::Null);
    assert_eq!(
        probe_from(&lab, "127.0.0.7", open).await.status,
        StatusCode::OK
    );
    assert_eq!(open_endpoint(&lab, open).await, "127.0.0.7");
    // The binding is stored, not only held in memory.
    let file = lab.sessions_dir().join("02-00-5e-10-00-07.json");
    let stored: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(stored["endpoint"], "127.0.0.7");
    let r = probe_from(&lab, "127.0.0.8", open).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(refusals(open).len(), 1);
}

/// The reply to a probe of session `id` on psn1 from address `source`.
async fn probe_from(lab: &Lab, source: &str, id: &str) -> Reply {
    lab.client()
        .source(source)
        .probe(lab.sync("psn1"), id)
        .await
}

async fn open_endpoint(lab: &Lab, id: &str) -> Value {
    session(lab, id).await["endpoint"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_session_is_still_404_from_any_address() {
    let lab = Lab::start(&["psn1"]).await;
    let c = lab.client().source("127.0.0.9");
    assert_eq!(
        c.probe(lab.sync("psn1"), "no-such-session").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.requirements(lab.disc("psn1"), "no-such-session")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Without a socket: a node listening on `[::]` sees an IPv4 endpoint as
/// `::ffff:a.b.c.d`; an agent racing IPv4 and IPv6 (Happy Eyeballs) may use
/// either form of the same IPv4 address, and they are one endpoint.
#[tokio::test]
async fn an_ipv4_mapped_peer_is_the_same_endpoint_as_its_ipv4_form() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeState::new(NodeInfo {
        name: "psn1".into(),
        advertise: "psn1.lab.test".into(),
        discovery: "[::]:8443".parse().unwrap(),
        sync: "[::]:8449".parse().unwrap(),
    });
    let svc = app(Arc::new(LabState {
        nodes: vec![node],
        sessions: SessionStore::open(dir.path()).unwrap(),
        alarms: AlarmLog::default(),
        mdm: Default::default(),
        policy: Policy::default(),
    }));
    let call = |port, peer: &str, req: Request<Full<Bytes>>| {
        let ctx = RequestCtx {
            node: 0,
            port,
            peer: peer.parse().unwrap(),
        };
        let svc = svc.clone();
        async move {
            let resp = svc.handle(ctx, req).await;
            let status = resp.status();
            (status, resp.into_body().collect().await.unwrap().to_bytes())
        }
    };
    let discovery = Request::get("/auth/discovery")
        .header("x-posture-mac", MAC)
        .body(Full::default())
        .unwrap();
    let (status, body) = call(PortKind::Discovery, "[::ffff:192.0.2.7]:50000", discovery).await;
    assert_eq!(status, StatusCode::OK);
    let id = posture_protocol::Discovery::from_xml(&body)
        .unwrap()
        .session
        .to_string();
    // Stored and shown in its IPv4 form.
    let s = svc
        .state()
        .sessions
        .get(&posture_protocol::SessionId::new(id.as_str()).unwrap())
        .unwrap();
    assert_eq!(s.endpoint, Some("192.0.2.7".parse().unwrap()));

    let probe = |peer: &'static str| {
        let req = Request::get(format!("/auth/posturestatus?session={id}"))
            .body(Full::default())
            .unwrap();
        call(PortKind::StateSync, peer, req)
    };
    assert_eq!(probe("192.0.2.7:40000").await.0, StatusCode::OK);
    assert_eq!(probe("[::ffff:192.0.2.7]:40001").await.0, StatusCode::OK);
    // Another address of either family is another endpoint.
    assert_eq!(
        probe("[::ffff:192.0.2.8]:40002").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(probe("[2001:db8::7]:40003").await.0, StatusCode::FORBIDDEN);
    let report = Request::post(format!("/auth/report?session={id}"))
        .body(Full::new(Bytes::from(report_xml(&id, ALL_PASS))))
        .unwrap();
    let (status, body) = call(PortKind::Discovery, "192.0.2.7:40004", report).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}
