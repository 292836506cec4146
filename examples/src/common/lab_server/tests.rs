//! The shared server plumbing on real loopback sockets, with real TLS from a
//! lab CA in a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use rustls_pki_types::ServerName;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::common::admin_http::serve_admin_http;
use crate::common::certs::{self, CertRequest};
use crate::common::ctl::AdminClient;

/// Generous bound for events that take milliseconds; never a pause.
const BOUND: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {BOUND:?}"))
}

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

/// A lab CA and a certificate for `node` in `dir`: the server and client sides.
fn tls_pair(dir: &Path) -> (TlsAcceptor, TlsConnector) {
    certs::create(&CertRequest {
        dir: dir.to_owned(),
        nodes: vec!["node".into()],
        ..CertRequest::default()
    })
    .unwrap();
    let paths = certs::node_paths(dir, "node");
    let server = crate::common::tls::server_config(&paths.cert, &paths.key).unwrap();
    let client = crate::common::tls::client_config(&certs::ca_path(dir)).unwrap();
    (
        TlsAcceptor::from(server),
        TlsConnector::from(Arc::new(client)),
    )
}

#[tokio::test]
async fn bind_reports_the_chosen_port_and_names_the_role_when_taken() {
    let (listener, addr) = bind(loopback(), "first").await.unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(listener.local_addr().unwrap(), addr);
    let err = bind(addr, "psn1 discovery port").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("psn1 discovery port"), "{text}");
    assert!(text.contains(&addr.to_string()), "{text}");
}

#[tokio::test]
async fn the_accept_loop_serves_each_connection_until_shutdown() {
    let (listener, addr) = bind(loopback(), "test").await.unwrap();
    let mut tasks = ServerTasks::new();
    let serve = |mut stream: TcpStream, peer: SocketAddr| async move {
        let _ = stream.write_all(peer.to_string().as_bytes()).await;
    };
    tasks.spawn(accept_until_shutdown(
        listener,
        tasks.shutdown_signal(),
        serve,
        |_| {},
    ));
    for _ in 0..2 {
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut text = String::new();
        within("the reply", client.read_to_string(&mut text))
            .await
            .unwrap();
        assert_eq!(text, client.local_addr().unwrap().to_string());
    }
    // Ends only if the loop ends on the signal.
    within("the shutdown", tasks.stop()).await;
}

#[tokio::test]
async fn a_tls_handshake_completes_and_http_is_served_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, connector) = tls_pair(dir.path());
    let (listener, addr) = bind(loopback(), "test").await.unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let tls = tls_handshake(&acceptor, stream, HANDSHAKE_TIMEOUT)
            .await
            .unwrap();
        serve_http1(tls, |req: http::Request<Incoming>| async move {
            HttpResponse::new(Full::new(Bytes::from(format!("you asked {}", req.uri()))))
        })
        .await
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("node").unwrap();
    let mut tls = within("the handshake", connector.connect(name, stream))
        .await
        .unwrap();
    tls.write_all(b"GET /x HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    within("the reply", tls.read_to_string(&mut reply))
        .await
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("you asked /x"), "{reply}");
    within("the connection end", server).await.unwrap().unwrap();
}

#[tokio::test]
async fn plain_http_fails_the_handshake_and_silence_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, _) = tls_pair(dir.path());
    let (listener, addr) = bind(loopback(), "test").await.unwrap();

    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let failed = within("the refusal", tls_handshake(&acceptor, stream, BOUND)).await;
    assert!(
        matches!(failed, Err(HandshakeError::Failed(_))),
        "{failed:?}"
    );

    // A client that connects and never speaks: the limit ends the wait.
    let _silent = TcpStream::connect(addr).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let limit = Duration::from_millis(100);
    let timed_out = within("the timeout", tls_handshake(&acceptor, stream, limit)).await;
    let Err(error @ HandshakeError::TimedOut(_)) = timed_out else {
        panic!("expected a timeout, got {timed_out:?}");
    };
    assert_eq!(
        error.to_string(),
        "TLS handshake did not finish within 100ms"
    );
}

#[tokio::test]
async fn the_admin_loop_answers_each_request_with_the_peer() {
    let (listener, addr) = bind(loopback(), "admin API").await.unwrap();
    let mut tasks = ServerTasks::new();
    let handle = |peer: SocketAddr, req: http::Request<Incoming>| async move {
        let body = json!({ "peer": peer.ip().to_string(), "path": req.uri().path() });
        let mut resp = HttpResponse::new(Full::new(Bytes::from(body.to_string())));
        *resp.status_mut() = StatusCode::ACCEPTED;
        resp
    };
    tasks.spawn(serve_admin_http(listener, tasks.shutdown_signal(), handle));
    let client = AdminClient::new(addr, "token");
    for path in ["/a", "/b"] {
        let (status, value) = within("the admin reply", client.call(Method::GET, path, None))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(value, json!({ "peer": "127.0.0.1", "path": path }));
    }
    // Ends only if the admin loop ends on the signal.
    within("the shutdown", tasks.stop()).await;
}

#[test]
fn an_admin_token_is_fresh_hex_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin-token");
    let first = write_admin_token(&path, "admin token").unwrap();
    assert_eq!(first.len(), 2 * ADMIN_TOKEN_BYTES);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let second = write_admin_token(&path, "admin token").unwrap();
    assert_ne!(first, second);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), second);
}

#[tokio::test]
async fn a_published_server_writes_its_ready_file_and_shutdown_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let ready_file = dir.path().join("ready.json");
    let mut tasks = ServerTasks::new();
    let mut signal = tasks.shutdown_signal();
    let (saw_tx, saw_rx) = tokio::sync::oneshot::channel();
    tasks.spawn(async move {
        let _ = signal.changed().await;
        let _ = saw_tx.send(*signal.borrow());
    });
    let ready = json!({ "admin": "127.0.0.1:1" });
    let running = RunningServer::publish(
        ready.clone(),
        ready_file.clone(),
        "ready file",
        Arc::new(()),
        "t".into(),
        tasks,
    )
    .unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready_file).unwrap()).unwrap();
    assert_eq!(written, ready);
    assert_eq!(running.ready, ready);
    within("the shutdown", running.shutdown()).await;
    assert_eq!(saw_rx.await, Ok(true), "the task saw the shutdown signal");
    assert!(!ready_file.exists());
}
