use std::time::Duration;

use posture_protocol::SessionId;

use super::test_server::{Behaviour, TestCa, TestServer, closed_port, fixed};
use super::*;
use crate::outcome::BlockedKind;

fn local(port: u16) -> HostPort {
    HostPort::new(profile_schema::Host::parse("127.0.0.1").unwrap(), port)
}

const MAC: &str = "00-50-56-A8-BE-02";

fn transport(ca: &TestCa) -> Transport {
    Transport::new(ca.client_config(), MAC)
        .unwrap()
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(5),
            exchange: Duration::from_millis(800),
        })
}

#[tokio::test]
async fn get_carries_identity_headers_and_returns_the_reply() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(200, "<ok/>")).await;
    let session = SessionId::new("abc123").unwrap();
    let reply = transport(&ca)
        .get(
            &local(server.port()),
            "/auth/posturestatus?session=abc123",
            Some(&session),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], b"<ok/>");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, "GET");
    assert_eq!(s.path_and_query, "/auth/posturestatus?session=abc123");
    assert_eq!(
        s.headers["user-agent"],
        format!("posture-sync/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(s.headers["x-posture-mac"], "00:50:56:a8:be:02");
    assert_eq!(s.headers["x-posture-session"], "abc123");
    assert_eq!(s.tls_version, Some(rustls::ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn post_sends_an_xml_body_and_no_session_header_before_one_is_known() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(200, "")).await;
    transport(&ca)
        .post(
            &local(server.port()),
            "/auth/report?session=s",
            None,
            "<report/>".into(),
        )
        .await
        .unwrap();
    let s = &server.seen()[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.body, "<report/>");
    assert_eq!(s.headers["content-type"], "application/xml");
    assert!(!s.headers.contains_key("x-posture-session"));
}

#[tokio::test]
async fn repeated_requests_resume_the_tls_session() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(200, "")).await;
    let t = transport(&ca);
    for _ in 0..3 {
        t.get(&local(server.port()), "/", None).await.unwrap();
    }
    let seen = server.seen();
    assert!(!seen[0].resumed);
    assert!(
        seen[1..].iter().all(|s| s.resumed),
        "later connections resume: {seen:?}"
    );
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(302, "")).await;
    let reply = transport(&ca)
        .get(&local(server.port()), "/", None)
        .await
        .unwrap();
    assert_eq!(reply.status, 302);
    assert_eq!(server.seen().len(), 1);
}

async fn failure(ca: &TestCa, port: u16) -> RequestError {
    let err = transport(ca)
        .get(&local(port), "/", None)
        .await
        .unwrap_err();
    assert_eq!(err.target, local(port));
    assert!(
        err.to_string().starts_with(&format!("127.0.0.1:{port}: ")),
        "{err}"
    );
    err
}

#[tokio::test]
async fn nothing_listening_is_blocked_refused() {
    let ca = TestCa::new();
    assert_eq!(
        failure(&ca, closed_port().await).await.outcome,
        Outcome::Blocked(BlockedKind::Refused)
    );
}

#[tokio::test]
async fn a_reset_after_accept_is_blocked_reset() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), Behaviour::Reset).await;
    let err = failure(&ca, server.port()).await;
    assert_eq!(err.outcome, Outcome::Blocked(BlockedKind::Reset), "{err}");
    assert!(err.is_blocked());
}

#[tokio::test]
async fn accepted_but_silent_is_blocked_silent() {
    let ca = TestCa::new();
    let server =
        TestServer::start(ca.server_config(&["127.0.0.1"]), Behaviour::AcceptAndDrop).await;
    let err = failure(&ca, server.port()).await;
    assert_eq!(err.outcome, Outcome::Blocked(BlockedKind::SilentTimeout));
}

#[tokio::test]
async fn a_reply_that_never_comes_is_a_reply_timeout() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), Behaviour::Slow).await;
    let err = failure(&ca, server.port()).await;
    assert_eq!(err.outcome, Outcome::Failed(FailureKind::ReplyTimeout));
    assert!(!err.is_blocked());
}

#[tokio::test]
async fn garbage_is_malformed() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), Behaviour::Garbage).await;
    let err = failure(&ca, server.port()).await;
    assert!(
        matches!(err.outcome, Outcome::Failed(FailureKind::Malformed { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_or_without_a_length() {
    let ca = TestCa::new();
    for declare_length in [true, false] {
        let server = TestServer::start(
            ca.server_config(&["127.0.0.1"]),
            Behaviour::Oversized { declare_length },
        )
        .await;
        let err = failure(&ca, server.port()).await;
        assert!(
            matches!(err.outcome, Outcome::Failed(FailureKind::Oversized { bytes }) if bytes > 64 * 1024),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_a_tls_failure() {
    let ca = TestCa::new();
    // Another CA, and a look-alike with the trusted CA's name but its own key.
    for other in [TestCa::named("another lab CA"), TestCa::new()] {
        let server = TestServer::start(other.server_config(&["127.0.0.1"]), fixed(200, "")).await;
        let err = failure(&ca, server.port()).await;
        assert!(err.is_security(), "{err}");
        assert!(err.to_string().contains("untrusted"), "{err}");
        assert!(
            server.seen().is_empty(),
            "no request is sent over an untrusted connection"
        );
    }
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_tls_failure() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["psn9.lab.test"]), fixed(200, "")).await;
    let err = failure(&ca, server.port()).await;
    assert!(err.is_security(), "{err}");
    assert!(err.to_string().contains("name mismatch"), "{err}");
}

/// A target's host is a [`profile_schema::Host`]: a host that is no host
/// name or address cannot become a target, so no connection can start.
#[test]
fn an_invalid_host_name_cannot_become_a_target() {
    for host in ["not a host", "psn1:8449", "a..b"] {
        let err = profile_schema::Host::parse(host).unwrap_err();
        assert!(err.to_string().contains(host), "{host}: {err}");
    }
}

#[test]
fn the_mac_is_validated_and_normalised() {
    let ca = TestCa::new();
    assert!(Transport::new(ca.client_config(), "nonsense").is_err());
    let t = Transport::new(ca.client_config(), "0050.56A8.BE02").unwrap();
    assert_eq!(t.mac(), "00:50:56:a8:be:02");
}

#[test]
fn ca_file_problems_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = client_config(Some(&missing), Trust::PlatformAndCaFile).unwrap_err();
    assert!(matches!(err, SetupError::CaFileUnreadable { .. }));
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = client_config(Some(&empty), Trust::PlatformAndCaFile).unwrap_err();
    assert!(matches!(err, SetupError::CaFileEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.pem"), "{err}");

    let ca = TestCa::new();
    let good = ca.write_pem(dir.path());
    assert!(client_config(Some(&good), Trust::PlatformAndCaFile).is_ok());
}

#[tokio::test]
async fn the_startup_config_trusts_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(200, "yes")).await;
    for trust in [Trust::PlatformAndCaFile, Trust::CaFileOnly] {
        let config = client_config(Some(&ca.write_pem(dir.path())), trust).unwrap();
        let reply = Transport::new(config, MAC)
            .unwrap()
            .get(&local(server.port()), "/", None)
            .await
            .unwrap();
        assert_eq!(&reply.body[..], b"yes");
    }
}

#[test]
fn ca_only_trusts_the_ca_file_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let pem = TestCa::new().write_pem(dir.path());
    let only = trust_anchors(Some(&pem), Trust::CaFileOnly).unwrap();
    assert_eq!(only.len(), 1, "the CA file's one CA, no platform root");
    let err = trust_anchors(None, Trust::CaFileOnly).unwrap_err();
    assert!(matches!(err, SetupError::CaOnlyWithoutCaFile), "{err:?}");
    assert!(err.to_string().contains("--ca-file"), "{err}");
    // With the platform's roots, where the platform has any, there are more.
    if let Ok(platform) = trust_anchors(None, Trust::PlatformAndCaFile) {
        let both = trust_anchors(Some(&pem), Trust::PlatformAndCaFile).unwrap();
        assert_eq!(both.len(), platform.len() + 1);
    }
}

#[tokio::test]
async fn a_name_is_resolved_and_its_certificate_checked_in_normal_form() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["localhost"]), fixed(200, "<ok/>")).await;
    // The resolver gets the name as written; TLS checks the lower-case
    // name. (Not `localhost.`: glibc's hosts file lookup does not strip the
    // dot, so that would be a DNS query off the loopback.)
    for host in ["localhost", "LocalHost"] {
        let target = HostPort::new(profile_schema::Host::parse(host).unwrap(), server.port());
        let reply = transport(&ca)
            .get(&target, "/", None)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(&reply.body[..], b"<ok/>", "{host}");
    }
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_host_with_stray_brackets_cannot_become_a_target() {
    // The hand-written bracket stripping this replaced read `[127.0.0.1`
    // as 127.0.0.1 and connected.
    for host in ["[127.0.0.1", "[127.0.0.1]", "127.0.0.1]", "[[::1]]", "[::1"] {
        let err = profile_schema::Host::parse(host).unwrap_err();
        assert!(err.to_string().contains(host), "{host}: {err}");
        assert!(HostPort::parse(host, 8449).is_err(), "{host}");
    }
}

#[tokio::test]
async fn a_local_address_is_the_source_of_every_connection() {
    let ca = TestCa::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move {
        let (stream, peer) = listener.accept().await.unwrap();
        // Closing at once ends the request; only the source matters here.
        drop(stream);
        peer
    });
    let source: std::net::IpAddr = "127.0.0.77".parse().unwrap();
    let t = transport(&ca).with_local_addr(source);
    assert_eq!(t.local_addr(), Some(source));
    let _ = t.get(&local(port), "/auth/discovery", None).await;
    assert_eq!(accepted.await.unwrap().ip(), source);
}
