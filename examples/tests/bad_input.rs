//! Bad input to psn-lab gets a clear 4xx and leaves the session directory intact.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::{ALL_PASS, Lab, MAC, compliant_session, report_xml, snapshot};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use posture_protocol::PostureStatus;
use serde_json::{Value, json};

/// A lab with one Compliant session; returns (lab, session id).
async fn lab_with_session() -> (Lab, String) {
    let lab = Lab::start(&["psn1"]).await;
    let id = compliant_session(&lab, &lab.client(), MAC).await;
    (lab, id)
}

fn assert_intact(lab: &Lab, before: &[(String, Vec<u8>)], id: &str) {
    assert_eq!(
        snapshot(&lab.sessions_dir()),
        before,
        "session directory changed"
    );
    let s = lab
        .lab
        .state
        .sessions
        .get(&posture_protocol::SessionId::new(id).unwrap())
        .unwrap();
    assert_eq!(s.status, PostureStatus::Compliant);
    // The files still load as a store.
    let reopened = psn_lab::sessions::SessionStore::open(&lab.sessions_dir()).unwrap();
    assert_eq!(reopened.list().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reports_are_400() {
    let (lab, id) = lab_with_session().await;
    let before = snapshot(&lab.sessions_dir());
    let c = lab.client();
    let bodies = [
        "not xml at all".to_owned(),
        "<report session=\"x\">".to_owned(),
        format!(
            "<report session=\"{id}\"><result requirement=\"os-release\" passed=\"maybe\"/></report>"
        ),
        format!("<report session=\"{id}\"><result passed=\"true\"/></report>"),
        format!("<postureResult session=\"{id}\" status=\"Compliant\"/>"),
        format!("<!DOCTYPE r [<!ENTITY a \"aaaa\">]><report session=\"{id}\">&a;</report>"),
        String::new(),
    ];
    for body in bodies {
        let r = c.report(lab.disc("psn1"), &id, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        assert!(r.text().starts_with("malformed report"), "{}", r.text());
    }
    // A report for another session than the query names.
    let r = c
        .report(
            lab.disc("psn1"),
            &id,
            &report_xml("other-session", ALL_PASS),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains("names session other-session"),
        "{}",
        r.text()
    );
    assert_intact(&lab, &before, &id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_bodies_are_413() {
    let (lab, id) = lab_with_session().await;
    let before = snapshot(&lab.sessions_dir());
    let c = lab.client();
    let huge = format!(
        "<report session=\"{id}\">{}</report>",
        "<result requirement=\"os-release\" passed=\"false\"/>".repeat(3000)
    );
    assert!(huge.len() > psn_lab::app::MAX_REQUEST_BYTES);
    let r = c.report(lab.disc("psn1"), &id, &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().contains("too large"));

    // Chunked, without Content-Length: the cap holds while reading.
    let tcp = c.connect_tcp(lab.disc("psn1")).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(c.config.clone())
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    // One frame with no size hint: hyper sends it chunked.
    let body = Chunked(Some(bytes::Bytes::from(vec![b' '; 400 * 1024])));
    let req = http::Request::post(format!("/auth/report?session={id}"))
        .header("host", "localhost")
        .body(body)
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let _ = resp.into_body().collect().await;
    assert_intact(&lab, &before, &id);
}

/// A body without a size hint.
struct Chunked(Option<bytes::Bytes>);

impl hyper::body::Body for Chunked {
    type Data = bytes::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_invalid_sessions() {
    let (lab, id) = lab_with_session().await;
    let before = snapshot(&lab.sessions_dir());
    let c = lab.client();
    let d = lab.disc("psn1");
    let cases = [
        (
            "/auth/requirements?session=unknown-session",
            StatusCode::NOT_FOUND,
        ),
        ("/auth/requirements", StatusCode::BAD_REQUEST),
        (
            "/auth/requirements?session=bad%20id",
            StatusCode::BAD_REQUEST,
        ),
        ("/auth/requirements?session=a%26b", StatusCode::BAD_REQUEST),
    ];
    for (path, expected) in cases {
        let r = c.get(d, path, &[]).await;
        assert_eq!(r.status, expected, "{path}: {}", r.text());
    }
    let r = c
        .report(
            d,
            "unknown-session",
            &report_xml("unknown-session", ALL_PASS),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for path in [
        "/auth/posturestatus",
        "/auth/posturestatus?session=",
        "/auth/posturestatus?session=%3Cx%3E",
    ] {
        let r = c.get(lab.sync("psn1"), path, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(r.text().contains("session"), "{}", r.text());
    }
    // Discovery without or with a bad MAC.
    let r = c.get(d, "/auth/discovery", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("X-Posture-Mac"), "{}", r.text());
    let r = c
        .get(d, "/auth/discovery", &[("x-posture-mac", "00:11:22:33:44")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("not a MAC"), "{}", r.text());
    assert_intact(&lab, &before, &id);
}

async fn raw_admin(
    lab: &Lab,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> (StatusCode, Value) {
    let stream = tokio::net::TcpStream::connect(lab.lab.ready.admin)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = sender
        .send_request(
            req.body(Full::new(bytes::Bytes::copy_from_slice(body)))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_refuses_bad_requests() {
    let (lab, id) = lab_with_session().await;
    let before = snapshot(&lab.sessions_dir());
    let token = format!("Bearer {}", lab.lab.token);
    let status_path = format!("/sessions/{id}/status");

    let (s, v) = raw_admin(&lab, Method::GET, "/sessions", None, b"").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("bearer token"));
    let (s, _) = raw_admin(&lab, Method::GET, "/sessions", Some("Bearer wrong"), b"").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = raw_admin(
        &lab,
        Method::POST,
        &status_path,
        Some(&lab.lab.token),
        br#"{"status":"Unknown"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "token without 'Bearer'");

    let t = Some(token.as_str());
    let cases: &[(Method, &str, &[u8], StatusCode, &str)] = &[
        (
            Method::POST,
            &status_path,
            b"{not json",
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            Method::POST,
            &status_path,
            br#"{"status":"Great"}"#,
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            Method::POST,
            &status_path,
            br#"{"status":"Unknown","extra":1}"#,
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            Method::POST,
            "/sessions/unknown-session/status",
            br#"{"status":"Unknown"}"#,
            StatusCode::NOT_FOUND,
            "no session",
        ),
        (
            Method::DELETE,
            "/sessions/unknown-session",
            b"",
            StatusCode::NOT_FOUND,
            "no session",
        ),
        (
            Method::POST,
            "/sessions",
            br#"{"mac":"nope"}"#,
            StatusCode::BAD_REQUEST,
            "not a MAC",
        ),
        (
            Method::POST,
            "/sessions",
            br#"{"mac":"00:00:00:00:00:01","node":"psn9"}"#,
            StatusCode::NOT_FOUND,
            "no node",
        ),
        (
            Method::POST,
            "/nodes/psn9/fault",
            br#"{"mode":"none"}"#,
            StatusCode::NOT_FOUND,
            "no node",
        ),
        (
            Method::POST,
            "/nodes/psn1/fault",
            br#"{"mode":"explode"}"#,
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            Method::POST,
            "/nodes/psn1/fault",
            br#"{"mode":"slow","slow_ms":999999999}"#,
            StatusCode::BAD_REQUEST,
            "too large",
        ),
        (
            Method::POST,
            "/nodes/psn1/dacl",
            br#"{"mode":"sometimes"}"#,
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            Method::GET,
            "/nodes/psn1/fault",
            b"",
            StatusCode::METHOD_NOT_ALLOWED,
            "not allowed",
        ),
        (
            Method::PUT,
            "/sessions",
            b"",
            StatusCode::METHOD_NOT_ALLOWED,
            "not allowed",
        ),
        (
            Method::GET,
            "/nope",
            b"",
            StatusCode::NOT_FOUND,
            "no admin endpoint",
        ),
    ];
    for (method, path, body, expected, text) in cases {
        let (s, v) = raw_admin(&lab, method.clone(), path, t, body).await;
        assert_eq!(s, *expected, "{method} {path}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains(text),
            "{method} {path}: {v}"
        );
    }
    let huge = vec![b' '; 100 * 1024];
    let (s, _) = raw_admin(&lab, Method::POST, &status_path, t, &huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_intact(&lab, &before, &id);

    // The lab still works for a correct call.
    let (s, v) = raw_admin(
        &lab,
        Method::POST,
        &status_path,
        t,
        &serde_json::to_vec(&json!({"status": "Unknown"})).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["session"]["status"], "Unknown");
}
