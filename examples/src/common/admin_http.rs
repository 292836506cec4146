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
use hyper::body::{Body, Incoming};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::body::{BodyError, read_capped};
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

    /// The gate of every admin call: the client must be on loopback (403
    /// otherwise) and carry this token (401 with `unauthorized`, which names
    /// the API's token file, otherwise).
    pub fn admit<B>(
        &self,
        peer: SocketAddr,
        req: &Request<B>,
        unauthorized: &str,
    ) -> Result<(), AdminReply> {
        if !peer.ip().is_loopback() {
            return Err(error_reply(StatusCode::FORBIDDEN, LOOPBACK_ONLY));
        }
        if !self.accepts(req) {
            return Err(error_reply(StatusCode::UNAUTHORIZED, unauthorized));
        }
        Ok(())
    }

    /// The `Authorization` header value that carries this token (for the admin client).
    pub(crate) fn authorization(&self) -> String {
        format!("Bearer {}", self.0)
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

/// `v` as a JSON value for a reply (`null` for what cannot be one, which the
/// admin APIs' own types never are).
pub fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
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

/// How large an admin API's request bodies may be, and how a larger one is refused.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    /// Largest body, in bytes.
    pub max: usize,
    /// The status a larger body gets (psn-lab: 413; mdm-lab: 400, as it always had).
    pub too_large: StatusCode,
}

/// Reads an admin request's JSON body within `limit`. A body that cannot be
/// read or is not the JSON expected is refused with 400.
pub async fn json_body<T, B>(req: Request<B>, limit: BodyLimit) -> Result<T, AdminReply>
where
    T: DeserializeOwned,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bytes = read_capped(req, limit.max).await.map_err(|e| {
        let status = match e {
            BodyError::TooLarge { .. } => limit.too_large,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
        };
        error_reply(status, e.to_string())
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error_reply(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// Serves the admin API `api` until `shutdown` changes: each request is
/// answered by `handle(api, peer, request)` on a clone of `api` (see
/// [`serve_admin_http`]).
pub async fn serve_admin_api<A, F>(
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
    api: A,
    handle: fn(A, SocketAddr, Request<Incoming>) -> F,
) where
    A: Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    serve_admin_http(listener, shutdown, move |peer, req| {
        handle(api.clone(), peer, req)
    })
    .await;
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
        let client = crate::common::ctl::AdminClient::new(([127, 0, 0, 1], 9443).into(), "c0ffee");
        assert!(!format!("{client:?}").contains("c0ffee"), "{client:?}");
        assert!(token.accepts(&with_auth(&token.authorization())));
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
