//! Server plumbing shared by psn-lab and mdm-lab: binding a listener, the
//! accept loop, the TLS handshake, serving one HTTP/1.1 connection, the admin
//! token file, the ready file and the shutdown of a server's tasks. (The admin
//! APIs' own shared parts are in [`crate::common::admin_http`].)
//!
//! Only what both labs do the same way lives here. What differs stays with the
//! caller and is visible there: which log lines a failed accept or handshake
//! gives (each server logs under its own target and words), psn-lab's dACL
//! emulation before the handshake, and which ready file is removed on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::common::error::LabError;
use crate::common::fsutil;

/// Longest a TLS handshake may take before the connection is closed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for request headers on an open connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (usually out of file descriptors), so the loop
/// backs off instead of spinning.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Random bytes in an admin bearer token (written as hex).
pub const ADMIN_TOKEN_BYTES: usize = 32;

/// An HTTP response as both labs build them.
pub type HttpResponse = http::Response<Full<Bytes>>;

/// Binds `addr` for `role` (e.g. "psn1 discovery port", named in the error)
/// and returns the listener with the address actually bound (port 0 gets one).
pub async fn bind(addr: SocketAddr, role: &str) -> Result<(TcpListener, SocketAddr), LabError> {
    let bind_err = |source| LabError::Bind {
        role: role.to_owned(),
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

/// Accepts connections until `shutdown` changes, spawning `serve(stream, peer)`
/// for each. A failed accept is passed to `on_error` (the caller decides what
/// to log) and retried after [`ACCEPT_BACKOFF`] rather than ending the loop.
pub async fn accept_until_shutdown<S, F, E>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    serve: S,
    on_error: E,
) where
    S: Fn(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
    E: Fn(&std::io::Error),
{
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(serve(stream, peer));
                }
                Err(error) => {
                    on_error(&error);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer did not speak acceptable TLS (the rustls error says why).
    #[error("TLS handshake failed: {0}")]
    Failed(std::io::Error),
    /// The handshake took longer than allowed.
    #[error("TLS handshake did not finish within {0:?}")]
    TimedOut(Duration),
}

/// Runs the server side of a TLS handshake on `stream`, for at most `limit`
/// (the servers pass [`HANDSHAKE_TIMEOUT`]).
pub async fn tls_handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    limit: Duration,
) -> Result<TlsStream<TcpStream>, HandshakeError> {
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(error)) => Err(HandshakeError::Failed(error)),
        Err(_) => Err(HandshakeError::TimedOut(limit)),
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS), every request answered by
/// `handle`, until the peer closes it; waiting for request headers is bounded
/// by [`HEADER_TIMEOUT`]. The error says why the connection ended early.
pub async fn serve_http1<IO, H, F>(io: IO, handle: H) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(http::Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    serve_with(io, handle, http1::Builder::new()).await
}

/// Serves `io` with `builder` (plus the shared timer and [`HEADER_TIMEOUT`]),
/// every request answered by `handle`.
async fn serve_with<IO, H, F>(
    io: IO,
    handle: H,
    mut builder: http1::Builder,
) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(http::Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let service = service_fn(move |req| {
        let reply = handle(req);
        async move { Ok::<_, Infallible>(reply.await) }
    });
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .await
}

/// Largest request head (request line and headers) a small plain-HTTP server
/// such as psn-lab's `nad` reads; hyper's smallest read buffer.
pub const SMALL_HEAD_BYTES: usize = 8192;

/// Serves one request on a plain connection of a small server (psn-lab's
/// `nad`): the head is bounded by [`SMALL_HEAD_BYTES`] (larger: 431 by
/// hyper), waiting for it by [`HEADER_TIMEOUT`], and the connection closes
/// after the reply (no keep-alive), so a client holds it no longer than that.
pub async fn serve_http1_once<IO, H, F>(io: IO, handle: H) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(http::Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.max_buf_size(SMALL_HEAD_BYTES).keep_alive(false);
    serve_with(io, handle, builder).await
}

/// Creates a new admin bearer token and writes it to `path` (mode 0600, only
/// the user who started the lab can read it); `role` names the file in errors.
pub fn write_admin_token(path: &Path, role: &'static str) -> Result<String, LabError> {
    let token = crate::common::tls::random_hex(ADMIN_TOKEN_BYTES)?;
    fsutil::write_atomic(path, token.as_bytes(), role, true)?;
    Ok(token)
}

/// A running lab server (psn-lab's or mdm-lab's): what its ready file says,
/// its shared state, its admin token, and the tasks serving it.
#[derive(Debug)]
pub struct RunningServer<R, S> {
    /// What was written to the ready file.
    pub ready: R,
    /// Shared state.
    pub state: Arc<S>,
    /// The admin bearer token.
    pub token: String,
    ready_file: PathBuf,
    tasks: ServerTasks,
}

impl<R: Serialize, S> RunningServer<R, S> {
    /// Announces a started server: writes `ready` as JSON to `ready_file`
    /// (atomically, so a reader sees all or nothing: the file exists only once
    /// every port is bound); `role` names the file in errors.
    pub fn publish(
        ready: R,
        ready_file: PathBuf,
        role: &'static str,
        state: Arc<S>,
        token: String,
        tasks: ServerTasks,
    ) -> Result<Self, LabError> {
        let json =
            serde_json::to_vec_pretty(&ready).map_err(|e| LabError::Config(e.to_string()))?;
        fsutil::write_atomic(&ready_file, &json, role, false)?;
        Ok(RunningServer {
            ready,
            state,
            token,
            ready_file,
            tasks,
        })
    }
}

impl<R, S> RunningServer<R, S> {
    /// Stops accepting connections, waits for every task and removes the
    /// ready file.
    pub async fn shutdown(self) {
        self.tasks.stop().await;
        let _ = std::fs::remove_file(&self.ready_file);
    }
}

/// A server's background tasks (accept loops, admin API, pollers) and the
/// signal that stops them.
#[derive(Debug)]
pub struct ServerTasks {
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Default for ServerTasks {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerTasks {
    /// No tasks yet.
    pub fn new() -> Self {
        ServerTasks {
            shutdown: watch::channel(false).0,
            tasks: JoinSet::new(),
        }
    }

    /// A receiver that changes when [`ServerTasks::stop`] is called: give one
    /// to every task, which must end soon after it changes.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Runs `task` until it ends by itself or after the shutdown signal.
    pub fn spawn<F>(&mut self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Sends the shutdown signal and waits for every task to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests;
