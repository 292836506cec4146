//! The gateway hop against tiny HTTP servers on loopback: real sockets, one
//! canned answer each.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A rule like the agent's: https only.
fn https_only(location: &str) -> Result<String, String> {
    if location.starts_with("https://") {
        Ok(location.to_owned())
    } else {
        Err(format!("{location} is not https"))
    }
}

fn loopback() -> Gateway {
    Gateway {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        interface: "lo".into(),
        scope_id: 0,
        metric: 0,
    }
}

fn limits(port: u16) -> HopLimits {
    HopLimits {
        port,
        ..HopLimits::default()
    }
}

/// Awaits `future` within the workspace's one test bound.
async fn bounded<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(test_support::wait_bound(), future).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Reads one request head (up to the blank line) from `stream`.
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        assert!(buf.len() < 64 * 1024, "request head too large");
    }
    String::from_utf8(buf).unwrap()
}

/// A server on 127.0.0.1 that answers one connection with `answer` and
/// returns the request head it read.
async fn serve_once(answer: Vec<u8>) -> (u16, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let head = read_head(&mut stream).await;
        // The client may already have closed after the head: ignore errors.
        let _ = stream.write_all(&answer).await;
        let _ = stream.shutdown().await;
        head
    });
    (port, task)
}

async fn hop(answer: &str) -> (Result<String, GatewayHopError>, String) {
    let (port, server) = serve_once(answer.as_bytes().to_vec()).await;
    let result = bounded(
        "the hop",
        ask_gateway_with(&loopback(), limits(port), https_only),
    )
    .await;
    let request = bounded("the server", server).await.unwrap();
    (result, request)
}

#[tokio::test]
async fn a_302_hands_the_location_with_its_query_to_the_rule() {
    let (result, _) = hop(
        "HTTP/1.1 302 Found\r\nLocation: https://psn1.example.com:8443/auth/discovery?sessionId=0a0a0a0a0001&portal=27b1\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(
        result.unwrap(),
        "https://psn1.example.com:8443/auth/discovery?sessionId=0a0a0a0a0001&portal=27b1"
    );
}

#[tokio::test]
async fn every_redirect_status_is_followed() {
    for status in [
        "301 Moved Permanently",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let (result, _) = hop(&format!(
            "HTTP/1.1 {status}\r\nLocation: https://psn1.example.com/auth/discovery\r\nContent-Length: 0\r\n\r\n"
        ))
        .await;
        assert_eq!(
            result.unwrap(),
            "https://psn1.example.com/auth/discovery",
            "{status}"
        );
    }
}

#[tokio::test]
async fn the_request_carries_host_user_agent_and_connection_only() {
    let (_, request) =
        hop("HTTP/1.1 302 Found\r\nLocation: https://psn1.example.com/\r\n\r\n").await;
    let mut lines = request.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(lines.next(), Some("GET /auth/discovery HTTP/1.1"));
    let mut names: Vec<String> = lines
        .map(|l| l.split(':').next().unwrap_or("").to_ascii_lowercase())
        .collect();
    names.sort();
    assert_eq!(names, ["connection", "host", "user-agent"], "{request}");
    assert!(
        request.contains("\r\nhost: 127.0.0.1:") || request.contains("\r\nHost: 127.0.0.1:"),
        "{request}"
    );
    assert!(
        request.to_ascii_lowercase().contains("connection: close"),
        "{request}"
    );
}

#[tokio::test]
async fn a_body_after_the_redirect_is_never_read() {
    // A chunked body that never ends: the hop decides on the head alone.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 302 Found\r\nLocation: https://psn1.example.com/auth/discovery\r\nTransfer-Encoding: chunked\r\n\r\n4000\r\n")
            .await;
        let _ = stream.write_all(&[b'x'; 0x4000]).await;
        // Hold the connection open until the client goes away.
        let mut rest = [0u8; 64];
        while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
    });
    let result = bounded(
        "the hop",
        ask_gateway_with(&loopback(), limits(port), https_only),
    )
    .await;
    assert_eq!(result.unwrap(), "https://psn1.example.com/auth/discovery");
    bounded("the server to see the close", server)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_200_page_is_not_a_redirect() {
    let (result, _) = hop("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, GatewayHopError::NotRedirect { status, .. } if status == 200),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("127.0.0.1 on lo") && msg.contains("URL redirect ACL"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_404_is_not_a_redirect() {
    let (result, _) = hop("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, GatewayHopError::NotRedirect { status, .. } if status == 404),
        "{err}"
    );
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn a_redirect_to_plain_http_is_refused_by_the_rule() {
    let (result, _) = hop(
        "HTTP/1.1 302 Found\r\nLocation: http://psn1.example.com/auth/discovery\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let err = result.unwrap_err();
    match &err {
        GatewayHopError::Refused {
            location, reason, ..
        } => {
            assert_eq!(location, "http://psn1.example.com/auth/discovery");
            assert!(reason.contains("not https"));
        }
        other => panic!("expected a refusal, got {other}"),
    }
    assert!(err.to_string().contains("ServerNameRules"), "{err}");
}

#[tokio::test]
async fn a_relative_location_reaches_the_rule_absolute_and_is_refused() {
    let (port, server) = serve_once(
        b"HTTP/1.1 302 Found\r\nLocation: /portal/gateway?x=1\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    )
    .await;
    let seen = std::sync::Mutex::new(Vec::new());
    let result = bounded(
        "the hop",
        ask_gateway_with(&loopback(), limits(port), |loc: &str| {
            seen.lock().unwrap().push(loc.to_owned());
            https_only(loc)
        }),
    )
    .await;
    bounded("the server", server).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("http://127.0.0.1:{port}/portal/gateway?x=1")]
    );
    assert!(matches!(result, Err(GatewayHopError::Refused { .. })));
}

#[tokio::test]
async fn a_redirect_without_location_is_refused() {
    let (result, _) = hop("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n").await;
    let err = result.unwrap_err();
    assert!(matches!(err, GatewayHopError::BadLocation { .. }), "{err}");
    assert!(err.to_string().contains("no Location header"), "{err}");
}

#[tokio::test]
async fn two_locations_are_refused() {
    let (result, _) = hop(
        "HTTP/1.1 302 Found\r\nLocation: https://psn1.example.com/\r\nLocation: https://evil.example.net/\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, GatewayHopError::BadLocation { .. }), "{err}");
    assert!(err.to_string().contains("2 Location headers"), "{err}");
}

#[tokio::test]
async fn an_oversized_head_is_refused() {
    let filler = "a".repeat(20 * 1024);
    let (result, _) = hop(&format!(
        "HTTP/1.1 302 Found\r\nX-Filler: {filler}\r\nLocation: https://psn1.example.com/\r\n\r\n"
    ))
    .await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, GatewayHopError::HeadTooLarge { limit: 16384, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_gateway_ends_at_the_exchange_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_head(&mut stream).await;
        // Never answers; waits for the client to give up.
        let mut rest = [0u8; 64];
        while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
    });
    let short = HopLimits {
        exchange: Duration::from_millis(50),
        ..limits(port)
    };
    let result = bounded("the hop", ask_gateway_with(&loopback(), short, https_only)).await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            GatewayHopError::Timeout {
                stage: "waiting for the response head",
                ..
            }
        ),
        "{err}"
    );
    bounded("the server to see the close", server)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_connection_names_the_gateway() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let result = bounded(
        "the hop",
        ask_gateway_with(&loopback(), limits(port), https_only),
    )
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, GatewayHopError::Connect { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1 on lo port {port}")),
        "{msg}"
    );
}

#[tokio::test]
async fn a_non_http_answer_is_an_error() {
    let (result, _) = hop("SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
    let err = result.unwrap_err();
    assert!(matches!(err, GatewayHopError::Http { .. }), "{err}");
}

#[test]
fn relative_locations_resolve_against_the_gateway_root() {
    let gw = loopback();
    assert_eq!(absolute(&gw, 80, "/a?b=1"), "http://127.0.0.1/a?b=1");
    assert_eq!(absolute(&gw, 8080, "a"), "http://127.0.0.1:8080/a");
    assert_eq!(absolute(&gw, 80, "//psn/x"), "http://psn/x");
    assert_eq!(absolute(&gw, 80, "HTTPS://psn/x"), "HTTPS://psn/x");
    let v6 = Gateway {
        addr: "fe80::1".parse().unwrap(),
        interface: "eth0".into(),
        scope_id: 2,
        metric: 0,
    };
    assert_eq!(absolute(&v6, 80, "/x"), "http://[fe80::1]/x");
    assert_eq!(
        v6.socket_addr(80),
        "[fe80::1%2]:80".parse::<SocketAddr>().unwrap()
    );
}
