//! What the admin APIs of psn-lab ([`crate::psn::admin`]) and mdm-lab
//! ([`crate::mdmlab::admin`]) share: the accept loop (plain HTTP/1.1 on
//! loopback, see [`crate::psn::admin`] for why that is acceptable), the bearer
//! token (checked in constant time, never logged) and JSON replies.
//!
//! Each API keeps its own calls, its own log line per request and its own
//! refusal texts (they name its token file).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::lab_server::{HttpResponse, accept_until_shutdown, serve_http1};

/// What an admin call comes to: a status and a JSON body.
pub type AdminReply = (StatusCode, Value);

/// A refusal in the shape both admin APIs use (and `ctl` reads):
/// `{"error": "..."}`.
pub fn error_reply(status: StatusCode, message: impl Into<String>) -> AdminReply {
    (status, serde_json::json!({ "error": message.into() }))
}

/// Error text for a client that is not on loopback (403).
pub const LOOPBACK_ONLY: &str = "the admin API answers loopback clients only";

/// An admin API's bearer token. `Debug` never shows it: it is a secret.
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl AdminToken {
    /// The token the API accepts.
    pub fn new(token: String) -> Self {
        AdminToken(token.into())
    }

    /// Whether `req` carries `Authorization: Bearer TOKEN` with this token.
    pub fn accepts<B>(&self, req: &Request<B>) -> bool {
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            // The scheme name is case-insensitive (RFC 9110).
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .is_some_and(|(_, t)| same_secret(t.trim().as_bytes(), self.0.as_bytes()))
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timing.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A reply with `value` as pretty JSON and a final newline (readable with curl).
pub fn json_reply(status: StatusCode, value: &Value) -> HttpResponse {
    let mut text = serde_json::to_vec_pretty(value).unwrap_or_default();
    text.push(b'\n');
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The accept loop of a lab admin API: plain HTTP/1.1 on loopback, one
/// connection task per client, each request answered by `handle(peer,
/// request)`, until `shutdown` changes. Failed accepts are retried quietly
/// (the admin API is for the operator's own calls).
pub async fn serve_admin_http<H, F>(
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
    handle: H,
) where
    H: Fn(SocketAddr, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let serve = move |stream: TcpStream, peer: SocketAddr| {
        let handle = handle.clone();
        async move {
            let _ = serve_http1(stream, move |req| handle(peer, req)).await;
        }
    };
    accept_until_shutdown(listener, shutdown, serve, |_| {}).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_auth(value: &str) -> Request<()> {
        Request::builder()
            .header(header::AUTHORIZATION, value)
            .body(())
            .unwrap()
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let token = AdminToken::new("c0ffee".into());
        assert!(token.accepts(&with_auth("Bearer c0ffee")));
        assert!(token.accepts(&with_auth("bearer  c0ffee ")));
        assert!(!token.accepts(&with_auth("Bearer c0ffe")));
        assert!(!token.accepts(&with_auth("Bearer c0ffee0")));
        assert!(!token.accepts(&with_auth("Basic c0ffee")));
        assert!(!token.accepts(&with_auth("c0ffee")));
        assert!(!token.accepts(&Request::new(())));
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let token = AdminToken::new("c0ffee".into());
        assert_eq!(format!("{token:?}"), "<redacted>");
    }

    #[tokio::test]
    async fn a_json_reply_is_pretty_with_a_newline_and_its_content_type() {
        use http_body_util::BodyExt;
        let resp = json_reply(StatusCode::CREATED, &json!({ "a": 1 }));
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{\n  \"a\": 1\n}\n");
    }
}
