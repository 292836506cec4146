//! psn-lab's `nad` listener: the switch's URL redirect to a node's portal for
//! the requesting endpoint's session (issue 13).

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::net::SocketAddr;

use common::{Lab, MAC};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

async fn nad_lab() -> Lab {
    Lab::start_with(&["psn1", "psn2"], |c| {
        c.nad = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

fn nad_addr(lab: &Lab) -> SocketAddr {
    lab.lab
        .ready
        .nad
        .expect("the ready file names the nad listener")
}

/// A raw plain-HTTP exchange from `source`: the whole answer as text.
async fn raw(addr: SocketAddr, source: &str, request: &[u8]) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    test_support::within(
        "the nad to close the connection after its answer",
        stream.read_to_end(&mut out),
    )
    .await
    .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn status_and_location(answer: &str) -> (u16, Option<String>) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = answer.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_owned())
    });
    (status, location)
}

const GET_DISCOVERY: &[u8] = b"GET /auth/discovery HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_endpoint_is_redirected_to_the_first_nodes_portal() {
    let lab = nad_lab().await;
    let answer = raw(nad_addr(&lab), "127.0.0.6", GET_DISCOVERY).await;
    let (status, location) = status_and_location(&answer);
    assert_eq!(status, 302, "{answer}");
    assert_eq!(
        location.unwrap(),
        format!(
            "https://127.0.0.1:{}/auth/discovery?portal=psn1",
            lab.disc("psn1").port()
        )
    );
    assert!(answer.ends_with("\r\n\r\n"), "no body: {answer:?}");
    // The redirect changed nothing.
    assert!(lab.lab.state.sessions.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_endpoint_is_redirected_to_its_sessions_node_and_the_discovery_there_ignores_the_reference()
 {
    let lab = nad_lab().await;
    let c = lab.client().source("127.0.0.8");
    // The endpoint's session is owned by psn2 (the node its discovery asked).
    let d = c.discover(lab.disc("psn2"), MAC).await;
    let id = d.session.as_str().to_owned();

    // Any method and path: the switch redirects whatever the endpoint asks.
    for request in [
        GET_DISCOVERY,
        b"POST /anything?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"
            .as_slice(),
    ] {
        let answer = raw(nad_addr(&lab), "127.0.0.8", request).await;
        let (status, location) = status_and_location(&answer);
        assert_eq!(status, 302, "{answer}");
        assert_eq!(
            location.as_deref().unwrap(),
            format!(
                "https://127.0.0.1:{}/auth/discovery?sessionId={id}&portal=psn2",
                lab.disc("psn2").port()
            )
        );
    }

    // Following it: discovery accepts and ignores the switch's query parameters.
    let path = format!("/auth/discovery?sessionId={id}&portal=psn2");
    let r = c
        .get(lab.disc("psn2"), &path, &[("x-posture-mac", MAC)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let again = posture_protocol::Discovery::from_xml(&r.body).unwrap();
    assert_eq!(again.session, d.session);

    // Another endpoint address gets no session reference.
    let answer = raw(nad_addr(&lab), "127.0.0.9", GET_DISCOVERY).await;
    assert!(!answer.contains("sessionId"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_gets_no_redirect() {
    let lab = nad_lab().await;
    let mut request = b"GET /auth/discovery HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 16 * 1024));
    request.extend(b"\r\n\r\n");
    let answer = raw(nad_addr(&lab), "127.0.0.10", &request).await;
    let (status, location) = status_and_location(&answer);
    assert_ne!(status, 302, "{answer}");
    assert!(location.is_none(), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nad_is_off_by_default() {
    let lab = Lab::start(&["psn1"]).await;
    assert_eq!(lab.lab.ready.nad, None);
    let ready = std::fs::read_to_string(lab.dir.path().join("ready.json")).unwrap();
    assert!(!ready.contains("nad"), "{ready}");
}
