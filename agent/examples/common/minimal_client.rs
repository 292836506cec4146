//! The benchmarks' baseline client: the least an agent can do per probe.
//! One TCP connect, one TLS handshake (resumed when the shared config holds a
//! ticket), one HTTP/1.1 `GET` with hyper, the whole (small) reply read, the
//! connection closed. No classification, no logging, no state.
//!
//! Shared by `minimal-probe-loop` (the baseline process) and `probe-latency`
//! (the in-process latency comparison) through `#[path]`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A TLS client config trusting only `ca` (PEM): the agent's own settings
/// (ring, TLS 1.3 then 1.2, HTTP/1.1, rustls' default in-memory session
/// cache, so probes resume).
pub fn config(ca: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use posture_sync::transport::{Trust, config_with_roots, trust_anchors};
    let roots = trust_anchors(Some(ca), Trust::CaFileOnly).map_err(|e| e.to_string())?;
    config_with_roots(roots).map_err(|e| e.to_string())
}

/// One probe: `GET path_and_query` on a fresh connection; the status code and
/// whether TLS resumed.
pub async fn probe(
    tls: &TlsConnector,
    addr: SocketAddr,
    path_and_query: &str,
) -> Result<(u16, bool), String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::IpAddress(addr.ip().into());
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let resumed = stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let conn = tokio::spawn(conn);
    let request = http::Request::get(path_and_query)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    conn.abort();
    Ok((status, resumed))
}
