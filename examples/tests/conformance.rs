//! Conformance of psn-lab to protocol.md, driven by a plain hyper + rustls client.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::{Duration, Instant};

use common::{ALL_PASS, Client, Lab, MAC, compliant_session, report_xml};
use http::{Method, StatusCode};
use posture_protocol::{PostureResult, PostureStatus, PostureStatusReply, Requirements};
use serde_json::{Value, json};

async fn status_of(lab: &Lab, id: &str) -> String {
    let v = lab
        .admin
        .ok(Method::GET, &format!("/sessions/{id}"), None)
        .await
        .unwrap();
    v["status"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_creates_a_session_owned_by_the_node_asked() {
    let lab = Lab::start(&["psn1", "psn2"]).await;
    let c = lab.client();
    let d = c.discover(lab.disc("psn1"), MAC).await;
    assert_eq!(d.posture, PostureStatus::Unknown);
    assert_eq!(d.psn.host, "127.0.0.1");
    assert_eq!(d.psn.state_sync_port, lab.sync("psn1").port());
    assert_eq!(d.psn_list.len(), 1);
    assert_eq!(d.psn_list[0].state_sync_port, lab.sync("psn2").port());
    assert!(
        d.session.as_str().starts_with("7f000001"),
        "ISE-style id: {}",
        d.session
    );

    // Any node answers for a known MAC, naming the owner as <psn>.
    let again = c.discover(lab.disc("psn2"), "00-50-56-A8-BE-02").await;
    assert_eq!(again.session, d.session);
    assert_eq!(again.psn.state_sync_port, lab.sync("psn1").port());
    assert_eq!(again.psn_list[0].state_sync_port, lab.sync("psn2").port());

    // The session is in the shared session directory.
    let file = lab.sessions_dir().join("00-50-56-a8-be-02.json");
    let stored: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(stored["id"], d.session.as_str());
    assert_eq!(stored["owner"], "psn1");
    assert_eq!(stored["endpoint"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertised_names_appear_in_discovery() {
    let lab = Lab::start_with(&["psn1", "psn2"], |c| {
        c.nodes[0].advertise = Some("psn1.lab.test".into());
        c.nodes[1].advertise = Some("psn2.lab.test".into());
    })
    .await;
    let d = lab.client().discover(lab.disc("psn2"), MAC).await;
    assert_eq!(d.psn.host, "psn2.lab.test");
    assert_eq!(d.psn_list[0].host, "psn1.lab.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assessment_flow_compliant_then_probe_raises_an_alarm() {
    let lab = Lab::start(&["psn1", "psn2"]).await;
    let c = lab.client().source("127.0.0.2");
    let d = c.discover(lab.disc("psn1"), MAC).await;
    let id = d.session.as_str();

    let r = c.requirements(lab.disc("psn1"), id).await;
    assert_eq!(r.status, StatusCode::OK);
    let reqs = Requirements::from_xml(&r.body).unwrap();
    assert_eq!(reqs.session, d.session);
    assert_eq!(
        reqs.requirements,
        psn_lab::policy::Policy::default().requirements
    );
    assert_eq!(status_of(&lab, id).await, "Pending");

    // Probe while Pending: answered, no alarm.
    let p = c.probe(lab.sync("psn1"), id).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        PostureStatusReply::from_xml(&p.body).unwrap().status,
        PostureStatus::Pending
    );
    assert!(lab.lab.state.alarms.list().is_empty());

    let rep = c
        .report(lab.disc("psn1"), id, &report_xml(id, ALL_PASS))
        .await;
    assert_eq!(rep.status, StatusCode::OK, "{}", rep.text());
    let result = PostureResult::from_xml(&rep.body).unwrap();
    assert_eq!(result.status, PostureStatus::Compliant);
    assert_eq!(status_of(&lab, id).await, "Compliant");

    // A probe reaching psn2's state sync port for a Compliant session: answered and an alarm.
    c.probe(lab.sync("psn2"), id).await; // the first probe; the alarm needs the agent's confirmation
    let p = c.probe(lab.sync("psn2"), id).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        PostureStatusReply::from_xml(&p.body).unwrap().status,
        PostureStatus::Compliant
    );
    let alarms = lab.admin.ok(Method::GET, "/alarms", None).await.unwrap();
    let alarms = alarms.as_array().unwrap();
    assert_eq!(alarms.len(), 1);
    let a = &alarms[0];
    assert_eq!(a["node"], "psn2");
    assert_eq!(a["session"], id);
    assert_eq!(a["endpoint"], "127.0.0.2");
    assert_eq!(a["port"], lab.sync("psn2").port());
    assert!(humantime::parse_rfc3339(a["time"].as_str().unwrap()).is_ok());
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("dACL does not block")
    );
    let s = lab
        .admin
        .ok(Method::GET, &format!("/sessions/{id}"), None)
        .await
        .unwrap();
    assert_eq!(s["probes"], 3); // the first probe, its confirmation and the Pending one
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_decisions_follow_mandatory_requirements() {
    let lab = Lab::start(&["psn1"]).await;
    let c = lab.client();
    let cases: &[(&[(&str, bool)], PostureStatus)] = &[
        (ALL_PASS, PostureStatus::Compliant),
        (
            &[
                ("os-release", true),
                ("os-identified", true),
                ("init-running", false),
            ],
            PostureStatus::Compliant,
        ),
        (
            &[
                ("os-release", false),
                ("os-identified", true),
                ("init-running", true),
            ],
            PostureStatus::NonCompliant,
        ),
        (&[("os-release", true)], PostureStatus::NonCompliant),
        (&[], PostureStatus::NonCompliant),
    ];
    for (i, (results, expected)) in cases.iter().enumerate() {
        let mac = format!("02:00:00:00:00:{i:02x}");
        let d = c.discover(lab.disc("psn1"), &mac).await;
        let id = d.session.as_str();
        let rep = c.assess(lab.disc("psn1"), id, results).await;
        assert_eq!(
            PostureResult::from_xml(&rep.body).unwrap().status,
            *expected,
            "{results:?}"
        );
        assert_eq!(status_of(&lab, id).await, expected.as_str());
        // Discovery now reports the decided status.
        assert_eq!(c.discover(lab.disc("psn1"), &mac).await.posture, *expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_policy_is_served() {
    let lab = Lab::start_with(&["psn1"], |c| {
        c.policy = serde_json::from_value(json!({"requirements": [
            {"id": "disk-encryption", "mandatory": true, "checks": [{"type": "file-exists", "path": "/etc/crypttab"}]},
            {"id": "script", "mandatory": false, "checks": [{"type": "unsupported", "check_type": "run-script"}]}
        ]}))
        .unwrap();
    })
    .await;
    let c = lab.client();
    let d = c.discover(lab.disc("psn1"), MAC).await;
    let r = c.requirements(lab.disc("psn1"), d.session.as_str()).await;
    let reqs = Requirements::from_xml(&r.body).unwrap();
    assert_eq!(reqs.requirements.len(), 2);
    assert!(
        r.text().contains(r#"<check type="run-script"/>"#),
        "{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_answers_and_404s() {
    let lab = Lab::start(&["psn1"]).await;
    let c = lab.client();
    let p = c.probe(lab.sync("psn1"), "no-such-session").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let d = c.discover(lab.disc("psn1"), MAC).await;
    let p = c.probe(lab.sync("psn1"), d.session.as_str()).await;
    assert_eq!(p.status, StatusCode::OK);
    let reply = PostureStatusReply::from_xml(&p.body).unwrap();
    assert_eq!(
        (reply.session, reply.status),
        (d.session.clone(), PostureStatus::Unknown)
    );
    assert!(
        lab.lab.state.alarms.list().is_empty(),
        "no alarm for Unknown"
    );
    let s = lab.lab.state.sessions.get(&d.session).unwrap();
    assert_eq!(s.probes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coa_and_session_end_change_what_probes_see() {
    let lab = Lab::start(&["psn1", "psn2"]).await;
    let c = lab.client();
    let d = c.discover(lab.disc("psn1"), MAC).await;
    let id = d.session.as_str().to_owned();

    let v = lab
        .admin
        .ok(
            Method::POST,
            &format!("/sessions/{id}/status"),
            Some(json!({"status": "NonCompliant"})),
        )
        .await
        .unwrap();
    assert_eq!(v["previous"], "Unknown");
    assert_eq!(v["session"]["status"], "NonCompliant");
    c.probe(lab.sync("psn1"), &id).await; // the first probe; the alarm needs the agent's confirmation
    let p = c.probe(lab.sync("psn1"), &id).await;
    assert_eq!(
        PostureStatusReply::from_xml(&p.body).unwrap().status,
        PostureStatus::NonCompliant
    );
    assert_eq!(lab.lab.state.alarms.list().len(), 1);

    // CoA back to Unknown: the probe says so, no new alarm.
    lab.coa(&id, "Unknown").await;
    let p = c.probe(lab.sync("psn2"), &id).await;
    assert_eq!(
        PostureStatusReply::from_xml(&p.body).unwrap().status,
        PostureStatus::Unknown
    );
    assert_eq!(lab.lab.state.alarms.list().len(), 1);

    // End: probes 404, the file is gone, the next discovery makes a new session.
    lab.admin
        .ok(Method::DELETE, &format!("/sessions/{id}"), None)
        .await
        .unwrap();
    assert_eq!(
        c.probe(lab.sync("psn1"), &id).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!lab.sessions_dir().join("00-50-56-a8-be-02.json").exists());
    let d2 = c.discover(lab.disc("psn2"), MAC).await;
    assert_ne!(d2.session.as_str(), id);
    assert_eq!(
        d2.psn.state_sync_port,
        lab.sync("psn2").port(),
        "owned by the node asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_sessions_from_config_and_admin() {
    let lab = Lab::start_with(&["psn1", "psn2"], |c| {
        c.seeds.push(psn_lab::sessions::SeedSpec {
            mac: "aa:bb:cc:dd:ee:01".into(),
            status: PostureStatus::Compliant,
            node: Some("psn2".into()),
            endpoint: None,
            id: Some(posture_protocol::SessionId::new("seeded-session-1").unwrap()),
        });
    })
    .await;
    let c = lab.client();
    let d = c.discover(lab.disc("psn1"), "aa:bb:cc:dd:ee:01").await;
    assert_eq!(d.session.as_str(), "seeded-session-1");
    assert_eq!(d.posture, PostureStatus::Compliant);
    assert_eq!(d.psn.state_sync_port, lab.sync("psn2").port());

    let (status, v) = lab
        .admin
        .call(
            Method::POST,
            "/sessions",
            Some(json!({"mac": "aabb.ccdd.ee02", "status": "Pending", "node": "psn1"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(v["mac"], "aa:bb:cc:dd:ee:02");
    let d = c.discover(lab.disc("psn2"), "aa:bb:cc:dd:ee:02").await;
    assert_eq!(d.posture, PostureStatus::Pending);
    assert_eq!(d.session.as_str(), v["id"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_wrong_ports_and_methods() {
    let lab = Lab::start(&["psn1"]).await;
    let c = lab.client();
    let r = c.get(lab.disc("psn1"), "/nope", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = c
        .get(lab.disc("psn1"), "/auth/posturestatus?session=x", &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("state sync port"), "{}", r.text());
    let r = c
        .get(
            lab.sync("psn1"),
            "/auth/discovery",
            &[("x-posture-mac", MAC)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("discovery port"), "{}", r.text());
    let r = c
        .request(
            lab.disc("psn1"),
            Method::POST,
            "/auth/discovery",
            &[("x-posture-mac", MAC)],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET");
    let r = c.get(lab.disc("psn1"), "/auth/report?session=x", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "POST");
}

async fn set_fault(lab: &Lab, node: &str, body: Value) {
    lab.post(&format!("/nodes/{node}/fault"), body).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_modes() {
    let lab = Lab::start(&["psn1", "psn2"]).await;
    let c = lab.client();
    let d = c.discover(lab.disc("psn1"), MAC).await;
    let id = d.session.as_str();
    let probe_path = format!("/auth/posturestatus?session={id}");

    set_fault(&lab, "psn1", json!({"mode": "http500"})).await;
    assert_eq!(
        c.get(lab.sync("psn1"), &probe_path, &[]).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        c.get(
            lab.disc("psn1"),
            "/auth/discovery",
            &[("x-posture-mac", MAC)]
        )
        .await
        .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // Other nodes are not affected.
    assert_eq!(c.probe(lab.sync("psn2"), id).await.status, StatusCode::OK);

    set_fault(&lab, "psn1", json!({"mode": "garbage"})).await;
    let r = c.get(lab.sync("psn1"), &probe_path, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        PostureStatusReply::from_xml(&r.body).is_err(),
        "garbage must not parse"
    );

    set_fault(&lab, "psn1", json!({"mode": "oversized"})).await;
    let r = c.get(lab.sync("psn1"), &probe_path, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.len() > posture_protocol::MAX_REPLY_BYTES,
        "{}",
        r.body.len()
    );

    set_fault(&lab, "psn1", json!({"mode": "slow", "slow_ms": 300})).await;
    let started = Instant::now();
    let r = c.probe(lab.sync("psn1"), id).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "reply came before the delay"
    );
    assert_eq!(
        PostureStatusReply::from_xml(&r.body).unwrap().status,
        PostureStatus::Unknown
    );

    // no-session: discovery 404 (the agent tries its next target), other endpoints serve.
    set_fault(&lab, "psn1", json!({"mode": "no-session"})).await;
    let r = c
        .get(
            lab.disc("psn1"),
            "/auth/discovery",
            &[("x-posture-mac", MAC)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("no-session"));
    assert_eq!(c.probe(lab.sync("psn1"), id).await.status, StatusCode::OK);
    assert_eq!(c.discover(lab.disc("psn2"), MAC).await.session, d.session);

    // Scope: a fault on the sync port only leaves discovery alone.
    set_fault(&lab, "psn1", json!({"mode": "http500", "scope": "sync"})).await;
    assert_eq!(
        c.probe(lab.sync("psn1"), id).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(c.discover(lab.disc("psn1"), MAC).await.session, d.session);

    set_fault(&lab, "psn1", json!({"mode": "none"})).await;
    assert_eq!(c.probe(lab.sync("psn1"), id).await.status, StatusCode::OK);
    let nodes = lab.nodes().await;
    assert_eq!(nodes[0]["fault"]["mode"], "none");
    assert!(nodes[0]["requests"].as_u64().unwrap() >= 10);
}

/// Makes `source` the endpoint address of a Compliant session.
async fn compliant_endpoint(lab: &Lab, source: &str, mac: &str) -> String {
    compliant_session(lab, &lab.client().source(source), mac).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dacl_reject_resets_known_endpoints_only() {
    let lab = Lab::start(&["psn1"]).await;
    let id = compliant_endpoint(&lab, "127.0.0.2", MAC).await;
    lab.dacl("psn1", "reject").await;

    let blocked = lab.client().source("127.0.0.2");
    let err = blocked
        .request(
            lab.sync("psn1"),
            Method::GET,
            &format!("/auth/posturestatus?session={id}"),
            &[],
            Vec::new(),
        )
        .await
        .unwrap_err();
    assert!(
        err.starts_with("tls:") || err.starts_with("connect:"),
        "{err}"
    );
    // Another endpoint address gets through the dACL (its TLS connection is
    // answered), and is then refused because the session is bound to
    // 127.0.0.2; the discovery port is never blocked.
    let other = lab.client().source("127.0.0.3");
    assert_eq!(
        other.probe(lab.sync("psn1"), &id).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        blocked
            .discover(lab.disc("psn1"), MAC)
            .await
            .session
            .as_str(),
        id
    );
    let nodes = lab.nodes().await;
    assert_eq!(nodes[0]["dacl"], "reject");
    assert_eq!(nodes[0]["dacl_rejected"], 1);

    // A CoA to Unknown opens the port again, as a new authorization would.
    lab.coa(&id, "Unknown").await;
    assert_eq!(
        blocked.probe(lab.sync("psn1"), &id).await.status,
        StatusCode::OK
    );
    // No alarm: 127.0.0.3's probe was refused before it could count, and
    // 127.0.0.2 probed an Unknown session.
    assert!(lab.lab.state.alarms.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dacl_drop_holds_connections_unanswered() {
    let lab = Lab::start(&["psn1"]).await;
    let id = compliant_endpoint(&lab, "127.0.0.4", MAC).await;
    lab.dacl("psn1", "drop").await;
    let c = lab.client().source("127.0.0.4");
    let path = format!("/auth/posturestatus?session={id}");
    let attempt = c.request(lab.sync("psn1"), Method::GET, &path, &[], Vec::new());
    let outcome = tokio::time::timeout(Duration::from_millis(1500), attempt).await;
    assert!(
        outcome.is_err(),
        "a dropped connection must not be answered: {outcome:?}"
    );
    let nodes = lab.nodes().await;
    assert_eq!(nodes[0]["dacl_dropped"], 1);
    assert!(lab.lab.state.alarms.list().is_empty());
    lab.dacl("psn1", "off").await;
    c.probe(lab.sync("psn1"), &id).await; // the first probe; the alarm needs the agent's confirmation
    assert_eq!(c.probe(lab.sync("psn1"), &id).await.status, StatusCode::OK);
    assert_eq!(lab.lab.state.alarms.list().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_trusts_the_lab_ca_and_refuses_others() {
    let lab = Lab::start(&["psn1"]).await;
    // Every default name of the node certificate verifies.
    for name in ["localhost", "127.0.0.1", "psn1", "psn1.lab.test"] {
        let r = lab
            .client()
            .named(name)
            .get(lab.sync("psn1"), "/auth/posturestatus?session=x", &[])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name}");
    }
    // A name the certificate does not carry.
    let err = lab
        .client()
        .named("psn9.lab.test")
        .request(lab.sync("psn1"), Method::GET, "/", &[], Vec::new())
        .await
        .unwrap_err();
    assert!(
        err.contains("not valid for name") || err.contains("NotValidForName"),
        "{err}"
    );

    // A client trusting another, independent CA.
    let other = tempfile::tempdir().unwrap();
    psn_lab::certs::create(&psn_lab::certs::CertRequest {
        dir: other.path().to_owned(),
        nodes: vec!["psn1".into()],
        ..Default::default()
    })
    .unwrap();
    let err = Client::new(&other.path().join("ca.pem"))
        .discovery_refused(lab.disc("psn1"))
        .await;
    assert_untrusted_issuer(&err);
    assert!(
        lab.lab.state.sessions.list().is_empty(),
        "a refused client creates no session"
    );

    // TLS 1.2 only client still works.
    let roots = psn_lab::tls::load_roots(&lab.lab.ready.ca).unwrap();
    let cfg = psn_lab::tls::client_config_with(roots, &[&rustls::version::TLS12]).unwrap();
    let mut c12 = lab.client();
    c12.config = std::sync::Arc::new(cfg);
    let d = c12.discover(lab.disc("psn1"), MAC).await;
    assert_eq!(d.posture, PostureStatus::Unknown);

    // Plain HTTP on a PSN port gets no HTTP answer.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(lab.disc("psn1"))
        .await
        .unwrap();
    s.write_all(b"GET /auth/discovery HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = test_support::within(
        "the lab to close a plain-HTTP connection",
        s.read_to_end(&mut buf),
    )
    .await;
    assert!(!buf.starts_with(b"HTTP/"), "plain HTTP must not be served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_specific_certificates() {
    // A node serving a certificate from another CA, and one whose names do not match.
    let other = tempfile::tempdir().unwrap();
    let foreign = psn_lab::certs::create(&psn_lab::certs::CertRequest {
        dir: other.path().to_owned(),
        nodes: vec!["psn3".into()],
        ..Default::default()
    })
    .unwrap();
    let lab = Lab::start_with(&["psn1", "psn3", "psn4"], |c| {
        let p = &foreign.issued[0].1;
        c.nodes[1].cert = Some(p.cert.clone());
        c.nodes[1].key = Some(p.key.clone());
    })
    .await;
    // Issue the mismatching certificate from the lab CA after start (the CA key is kept).
    let wrong = psn_lab::certs::create(&psn_lab::certs::CertRequest {
        dir: lab.dir.path().to_owned(),
        nodes: vec!["wrongname".into()],
        san_only: vec!["not-this-host.example".into()],
        ..Default::default()
    })
    .unwrap();
    assert!(!wrong.ca_created);
    let wrong_paths = wrong.issued[0].1.clone();
    let lab2 = Lab::start_with(&["psn5"], |c| {
        c.dir = lab.dir.path().join("second");
        c.nodes[0].cert = Some(wrong_paths.cert.clone());
        c.nodes[0].key = Some(wrong_paths.key.clone());
    })
    .await;

    let c = lab.client();
    assert_eq!(
        c.discover(lab.disc("psn1"), MAC).await.posture,
        PostureStatus::Unknown
    );
    let err = c.discovery_refused(lab.disc("psn3")).await;
    assert_untrusted_issuer(&err);
    let err = c.discovery_refused(lab2.disc("psn5")).await;
    assert!(
        err.contains("not valid for name") || err.contains("NotValidForName"),
        "{err}"
    );
    assert_eq!(
        lab.lab.ready.node("psn3").unwrap().cert,
        foreign.issued[0].1.cert
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_node_certificates_serve() {
    let lab = Lab::start_with(&["psn1"], |c| {
        c.key_kind = psn_lab::certs::KeyKind::Rsa2048;
    })
    .await;
    let pem = std::fs::read_to_string(&lab.lab.ready.nodes[0].key).unwrap();
    assert!(pem.contains("BEGIN PRIVATE KEY"), "PKCS#8 key");
    let d = lab.client().discover(lab.disc("psn1"), MAC).await;
    assert_eq!(d.posture, PostureStatus::Unknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_of_the_lab() {
    let dir = tempfile::tempdir().unwrap();
    let config = psn_lab::config::LabConfig::loopback(dir.path(), &["psn1"]);
    let lab = psn_lab::server::start(config.clone()).await.unwrap();
    let c = Client::new(&lab.ready.ca);
    let d = c.discover(lab.ready.nodes[0].discovery, MAC).await;
    lab.state
        .sessions
        .set_status(&d.session, PostureStatus::Compliant)
        .unwrap();
    let ca = std::fs::read(&lab.ready.ca).unwrap();
    lab.shutdown().await;
    assert!(!dir.path().join("ready.json").exists());

    let lab = psn_lab::server::start(config).await.unwrap();
    assert_eq!(
        std::fs::read(&lab.ready.ca).unwrap(),
        ca,
        "the lab CA is reused"
    );
    let again = c.discover(lab.ready.nodes[0].discovery, MAC).await;
    assert_eq!(again.session, d.session);
    assert_eq!(again.posture, PostureStatus::Compliant);
    lab.shutdown().await;
}

/// A TLS error that says the server's certificate chains to no trusted CA
/// (rustls names it `UnknownIssuer`, or `BadSignature` for a same-named CA
/// with another key).
fn assert_untrusted_issuer(err: &str) {
    assert!(
        err.contains("UnknownIssuer")
            || err.contains("unknown issuer")
            || err.contains("BadSignature"),
        "{err}"
    );
}
