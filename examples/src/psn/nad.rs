//! The `nad` listener: the switch's URL redirect, as a network access device
//! with a redirect ACL does it. Every plain-HTTP request is answered
//! `302 Found` with `Location: https://<node>:<discovery port>/auth/discovery?...`
//! naming the portal of the node that holds (or will hold) the requesting
//! endpoint's session, found by the request's source address.
//!
//! The listener changes nothing: it neither creates nor re-binds a session
//! (the plain-HTTP hop is unauthenticated and carries no MAC; a real switch
//! knows the MAC from RADIUS, the lab does not). The endpoint's discovery on
//! the portal does that, as it always does.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use posture_protocol::{SessionId, paths};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::common::lab_server::{HttpResponse, accept_until_shutdown, serve_http1_once};
use crate::psn::app::LabState;

/// Most `nad` connections served at once; more are closed at once.
pub const MAX_NAD_CONNECTIONS: usize = 256;
/// Longest a `nad` connection is kept, whatever the client does.
pub const NAD_CONNECTION_LIMIT: Duration = Duration::from_secs(15);

/// Where the switch sends an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Index of the node whose portal is named.
    pub node: usize,
    /// The endpoint's session, when the lab holds one for its address.
    pub session: Option<SessionId>,
    /// The `Location` value.
    pub location: String,
}

/// The redirect for an endpoint at `peer`: the portal of the node owning the
/// session bound to that address, with `?sessionId=ID&portal=NODE`; without
/// such a session, the first node's portal (a discovery there creates the
/// session, owned by the node asked) with `?portal=NODE`.
pub fn redirect_for(state: &LabState, peer: IpAddr) -> Redirect {
    let session = state.sessions.by_endpoint(peer.to_canonical());
    let node = session
        .as_ref()
        .and_then(|s| state.node_index(&s.owner))
        .unwrap_or(0);
    let info = &state.nodes[node].info;
    let host = match info.advertise.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => info.advertise.clone(),
    };
    let mut query = String::new();
    if let Some(s) = &session {
        query.push_str("sessionId=");
        query.push_str(&encode(s.id.as_str()));
        query.push('&');
    }
    query.push_str("portal=");
    query.push_str(&encode(&info.name));
    let location = format!(
        "https://{host}:{}{}?{query}",
        info.discovery.port(),
        paths::DISCOVERY
    );
    Redirect {
        node,
        session: session.map(|s| s.id),
        location,
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The reply to any request from `peer`: a redirect with an empty body.
pub fn reply(state: &LabState, peer: SocketAddr) -> HttpResponse {
    let r = redirect_for(state, peer.ip());
    tracing::info!(
        nad = true,
        peer = %peer,
        node = %state.nodes[r.node].info.name,
        session = %r.session.as_ref().map(SessionId::as_str).unwrap_or(""),
        location = %r.location,
        "switch redirect"
    );
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::FOUND;
    match HeaderValue::from_str(&r.location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Err(error) => {
            // Unreachable with validated node names and encoded ids; refuse
            // rather than send a broken redirect.
            tracing::error!(%error, location = %r.location, "redirect location is not a header value");
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::SERVER, HeaderValue::from_static("psn-lab nad"));
    resp
}

/// Serves the `nad` listener until shutdown.
pub async fn serve(listener: TcpListener, state: Arc<LabState>, shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_NAD_CONNECTIONS));
    let serve = move |stream: TcpStream, peer: SocketAddr| {
        let (state, slots) = (state.clone(), slots.clone());
        async move {
            let Ok(_permit) = slots.try_acquire_owned() else {
                tracing::warn!(nad = true, %peer, limit = MAX_NAD_CONNECTIONS, "nad connection closed: too many open");
                return;
            };
            let _ = stream.set_nodelay(true);
            let conn = serve_http1_once(stream, move |_req| {
                let resp = reply(&state, peer);
                async move { resp }
            });
            match tokio::time::timeout(NAD_CONNECTION_LIMIT, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::debug!(nad = true, %peer, %error, "nad connection ended with an error")
                }
                Err(_) => {
                    tracing::debug!(nad = true, %peer, "nad connection closed after the time limit")
                }
            }
        }
    };
    let on_error = |error: &std::io::Error| tracing::warn!(nad = true, %error, "accept failed");
    accept_until_shutdown(listener, shutdown, serve, on_error).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(encode("7f000001Ab_-9"), "7f000001Ab_-9");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
