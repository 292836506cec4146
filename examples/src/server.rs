//! Binding, TLS and connection handling: turns a [`LabConfig`] into running nodes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::admin::Admin;
use crate::alarms::AlarmLog;
use crate::app::{App, LabState, NodeInfo, NodeState, PortKind, RequestCtx, app, dacl_blocks};
use crate::certs::{self, CertRequest, NodeCertPaths};
use crate::config::LabConfig;
use crate::error::LabError;
use crate::faults::DaclMode;
use crate::fsutil;
use crate::ready::{READY_FILE, Ready, ReadyNode, TOKEN_FILE};
use crate::sessions::SessionStore;

/// Longest a TLS handshake may take before the connection is closed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a `drop` connection is held unanswered.
pub const DROP_HOLD: Duration = Duration::from_secs(120);
/// Longest wait for request headers on an open connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The accept loop of a lab admin API (psn-lab's and mdm-lab's): one HTTP/1.1
/// connection task per client, each request answered by `handle`, until
/// `shutdown` changes. Accept errors (e.g. out of descriptors) are retried
/// after a short pause rather than ending the API.
pub async fn serve_admin_http<H, F>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    handle: H,
) where
    H: Fn(SocketAddr, http::Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = http::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let handle = handle.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let reply = handle(peer, req);
                        async move { Ok::<_, Infallible>(reply.await) }
                    });
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

/// A running lab: its ready information, shared state and tasks.
#[derive(Debug)]
pub struct RunningLab {
    /// What was written to ready.json.
    pub ready: Ready,
    /// Shared state (sessions, alarms, node knobs).
    pub state: Arc<LabState>,
    /// The admin bearer token.
    pub token: String,
    dir: std::path::PathBuf,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningLab {
    /// Stops accepting connections, waits for the accept loops and removes ready.json.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        let _ = std::fs::remove_file(self.dir.join(READY_FILE));
    }
}

async fn bind(addr: SocketAddr, role: String) -> Result<TcpListener, LabError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| LabError::Bind { role, addr, source })
}

fn local_addr(l: &TcpListener, role: &str) -> Result<SocketAddr, LabError> {
    l.local_addr().map_err(|source| LabError::Bind {
        role: role.to_owned(),
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })
}

/// Starts every node and the admin API; returns once all ports are bound and
/// ready.json is written.
pub async fn start(config: LabConfig) -> Result<RunningLab, LabError> {
    config.validate()?;
    let dir = config.dir.clone();
    fsutil::create_dir(&dir, "lab directory")?;
    let _ = std::fs::remove_file(dir.join(READY_FILE));

    // Certificates: the lab CA always exists; nodes without --node-cert get
    // DIR/NAME.pem, naming also the node's bind address and advertised host.
    let ca = certs::create(&CertRequest {
        dir: dir.clone(),
        key_kind: config.key_kind,
        ..CertRequest::default()
    })?;
    if ca.ca_created {
        tracing::info!(ca = %ca.ca.display(), "created a lab CA");
    }
    for n in config.nodes.iter().filter(|n| n.cert.is_none()) {
        let mut extra = vec![n.bind.to_string()];
        extra.extend(n.advertise.clone());
        let outcome = certs::create(&CertRequest {
            dir: dir.clone(),
            nodes: vec![n.name.clone()],
            extra_sans: extra,
            key_kind: config.key_kind,
            // A new CA makes node certificates of an old one useless.
            force: ca.ca_created,
            ..CertRequest::default()
        })?;
        for (name, paths, sans) in &outcome.issued {
            tracing::info!(node = %name, cert = %paths.cert.display(), names = ?sans, "issued a node certificate");
        }
    }

    let mut listeners = Vec::new();
    let mut infos = Vec::new();
    let mut ready_nodes = Vec::new();
    for n in &config.nodes {
        let paths = match (&n.cert, &n.key) {
            (Some(cert), Some(key)) => NodeCertPaths {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => certs::node_paths(&dir, &n.name),
        };
        let tls = crate::tls::server_config(&paths.cert, &paths.key)?;
        let disc_role = format!("{} discovery port", n.name);
        let sync_role = format!("{} state sync port", n.name);
        let disc = bind(SocketAddr::new(n.bind, n.discovery_port), disc_role.clone()).await?;
        let sync = bind(SocketAddr::new(n.bind, n.sync_port), sync_role.clone()).await?;
        let info = NodeInfo {
            name: n.name.clone(),
            advertise: n.advertised_host(),
            discovery: local_addr(&disc, &disc_role)?,
            sync: local_addr(&sync, &sync_role)?,
        };
        ready_nodes.push(ReadyNode {
            name: n.name.clone(),
            advertise: info.advertise.clone(),
            discovery: info.discovery,
            sync: info.sync,
            cert: paths.cert.clone(),
            key: paths.key.clone(),
        });
        infos.push(info);
        listeners.push((disc, sync, TlsAcceptor::from(tls)));
    }
    let admin_listener = bind(config.admin, "admin API".into()).await?;
    let admin_addr = local_addr(&admin_listener, "admin API")?;

    let sessions = SessionStore::open(&dir.join("sessions"))?;
    for seed in &config.seeds {
        let owner = seed.node.as_deref().unwrap_or(&config.nodes[0].name);
        let owner_ip = config
            .nodes
            .iter()
            .find(|n| n.name == owner)
            .map_or(config.nodes[0].bind, |n| n.bind);
        let s = sessions
            .seed(seed, owner, owner_ip)
            .map_err(|e| LabError::Config(format!("seeded session for {}: {e}", seed.mac)))?;
        tracing::info!(session = %s.id, mac = %s.mac, status = %s.status, owner = %s.owner, "seeded session");
    }
    let state = Arc::new(LabState {
        nodes: infos.into_iter().map(NodeState::new).collect(),
        sessions,
        alarms: AlarmLog::default(),
        policy: config.policy.clone(),
        mdm: crate::mdm::MdmState::default(),
    });

    let token = crate::tls::random_hex(32)?;
    let token_path = dir.join(TOKEN_FILE);
    fsutil::write_atomic(&token_path, token.as_bytes(), "admin token", true)?;

    let (shutdown, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let service = app(state.clone());
    for (i, (disc, sync, acceptor)) in listeners.into_iter().enumerate() {
        for (listener, port) in [(disc, PortKind::Discovery), (sync, PortKind::StateSync)] {
            tasks.spawn(accept_loop(
                listener,
                acceptor.clone(),
                service.clone(),
                i,
                port,
                rx.clone(),
            ));
        }
    }
    if let Some(settings) = &config.mdm {
        let client = crate::mdm::MdmClient::new(settings.clone())
            .map_err(|e| LabError::Config(format!("mdm: {e}")))?;
        let poller = crate::mdm::poller::Poller::new(client, state.clone());
        if settings.enabled {
            tasks.spawn(poller.run(rx.clone()));
        } else {
            tracing::info!(mdm = %settings.name, "MDM integration configured but disabled");
        }
    }
    tasks.spawn(crate::admin::serve(
        admin_listener,
        Admin::new(state.clone(), token.clone()),
        rx,
    ));

    let ready = Ready {
        nodes: ready_nodes,
        admin: admin_addr,
        ca: certs::ca_path(&dir),
        admin_token: token_path,
        sessions_dir: state.sessions.dir().to_owned(),
        pid: std::process::id(),
    };
    ready.write(&dir)?;
    Ok(RunningLab {
        ready,
        state,
        token,
        dir,
        shutdown,
        tasks,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    service: App,
    node: usize,
    port: PortKind,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(connection(stream, peer, acceptor.clone(), service.clone(), node, port));
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    service: App,
    node: usize,
    port: PortKind,
) {
    let state = service.state().clone();
    let node_state = &state.nodes[node];
    if port == PortKind::StateSync
        && let Some(mode) = dacl_blocks(&state, node_state, peer.ip())
    {
        match mode {
            DaclMode::Reject => {
                node_state
                    .counters
                    .dacl_rejected
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(node = %node_state.info.name, %peer, "dACL emulation: connection reset");
                // SO_LINGER 0: closing sends RST at once (and never blocks), like a dACL reject.
                let _ = stream.set_zero_linger();
                drop(stream);
            }
            DaclMode::Drop => {
                node_state
                    .counters
                    .dacl_dropped
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(node = %node_state.info.name, %peer, "dACL emulation: connection held unanswered");
                hold(stream).await;
            }
            DaclMode::Off => {}
        }
        return;
    }
    let _ = stream.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::info!(node = %node_state.info.name, ?port, %peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(node = %node_state.info.name, ?port, %peer, "TLS handshake timed out");
            return;
        }
    };
    let ctx = RequestCtx { node, port, peer };
    let svc = service_fn(move |req| {
        let service = service.clone();
        async move { Ok::<_, Infallible>(service.handle(ctx, req).await) }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tls), svc)
        .await;
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// Holds a connection without answering until the peer closes it or [`DROP_HOLD`] passes.
async fn hold(mut stream: TcpStream) {
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(DROP_HOLD, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}
