//! Binding, TLS and connection handling: turns a [`LabConfig`] into running nodes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::common::certs::{self, CertRequest, NodeCertPaths};
use crate::common::error::LabError;
use crate::common::fsutil;
use crate::common::lab_server::{
    HANDSHAKE_TIMEOUT, HandshakeError, RunningServer, ServerTasks, accept_until_shutdown, bind,
    serve_http1, tls_handshake, write_admin_token,
};
use crate::common::ready::{READY_FILE, Ready, ReadyNode, TOKEN_FILE};
use crate::psn::admin::Admin;
use crate::psn::alarms::AlarmLog;
use crate::psn::app::{App, LabState, NodeInfo, NodeState, PortKind, RequestCtx, app, dacl_blocks};
use crate::psn::config::LabConfig;
use crate::psn::faults::{DaclMode, FaultMode};
use crate::psn::sessions::SessionStore;

/// Longest a `drop` connection is held unanswered.
pub const DROP_HOLD: Duration = Duration::from_secs(120);

/// A running lab: its ready information (ready.json), shared state (sessions,
/// alarms, node knobs), admin token and tasks.
pub type RunningLab = RunningServer<Ready, LabState>;

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
        let tls = crate::common::tls::server_config(&paths.cert, &paths.key)?;
        let (disc, disc_addr) = bind(
            SocketAddr::new(n.bind, n.discovery_port),
            &format!("{} discovery port", n.name),
        )
        .await?;
        let (sync, sync_addr) = bind(
            SocketAddr::new(n.bind, n.sync_port),
            &format!("{} state sync port", n.name),
        )
        .await?;
        let info = NodeInfo {
            name: n.name.clone(),
            advertise: n.advertised_host(),
            discovery: disc_addr,
            sync: sync_addr,
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
    let (admin_listener, admin_addr) = bind(config.admin, "admin API").await?;
    let nad = match config.nad {
        Some(addr) => Some(bind(addr, "nad listener (the switch's URL redirect)").await?),
        None => None,
    };

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
        mdm: crate::psn::mdm::MdmState::default(),
    });

    let token_path = dir.join(TOKEN_FILE);
    let token = write_admin_token(&token_path, "admin token")?;

    let mut tasks = ServerTasks::new();
    let service = app(state.clone());
    for (i, (disc, sync, acceptor)) in listeners.into_iter().enumerate() {
        for (listener, port) in [(disc, PortKind::Discovery), (sync, PortKind::StateSync)] {
            let (acceptor, service) = (acceptor.clone(), service.clone());
            let serve = move |stream, peer| {
                connection(stream, peer, acceptor.clone(), service.clone(), i, port)
            };
            let on_error = |error: &std::io::Error| tracing::warn!(%error, "accept failed");
            tasks.spawn(accept_until_shutdown(
                listener,
                tasks.shutdown_signal(),
                serve,
                on_error,
            ));
        }
    }
    if let Some(settings) = &config.mdm {
        let client = crate::psn::mdm::MdmClient::new(settings.clone())
            .map_err(|e| LabError::Config(format!("mdm: {e}")))?;
        let poller = crate::psn::mdm::poller::Poller::new(client.clone(), state.clone());
        if settings.enabled {
            state.mdm.set_auth_client(client);
            tasks.spawn(poller.run(tasks.shutdown_signal()));
        } else {
            tracing::info!(mdm = %settings.name, "MDM integration configured but disabled");
        }
    }
    let nad_addr = nad.as_ref().map(|(_, a)| *a);
    if let Some((listener, addr)) = nad {
        tracing::info!(nad = %addr, "serving the switch's URL redirect");
        tasks.spawn(crate::psn::nad::serve(
            listener,
            state.clone(),
            tasks.shutdown_signal(),
        ));
    }
    tasks.spawn(crate::psn::admin::serve(
        admin_listener,
        Admin::new(state.clone(), token.clone()),
        tasks.shutdown_signal(),
    ));

    let ready = Ready {
        nodes: ready_nodes,
        admin: admin_addr,
        ca: certs::ca_path(&dir),
        admin_token: token_path,
        sessions_dir: state.sessions.dir().to_owned(),
        pid: std::process::id(),
        nad: nad_addr,
    };
    RunningServer::publish(
        ready,
        dir.join(READY_FILE),
        "ready file",
        state,
        token,
        tasks,
    )
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
    let fault = node_state.fault();
    if fault.mode == FaultMode::Down && fault.applies_to(port) {
        node_state
            .counters
            .down_reset
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(node = %node_state.info.name, %peer, "node down: connection reset");
        // As a dACL reject: SO_LINGER 0, so closing sends RST at once.
        let _ = stream.set_zero_linger();
        drop(stream);
        return;
    }
    if port == PortKind::StateSync
        && let Some(mode) = dacl_blocks(&state, node_state, peer.ip())
    {
        let counters = &node_state.counters;
        let (counter, what) = match mode {
            DaclMode::Reject => (&counters.dacl_rejected, "connection reset"),
            DaclMode::Drop => (&counters.dacl_dropped, "connection held unanswered"),
            DaclMode::Off => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::info!(node = %node_state.info.name, %peer, "dACL emulation: {what}");
        if mode == DaclMode::Drop {
            hold(stream).await;
        } else {
            // SO_LINGER 0: closing sends RST at once (and never blocks), like a dACL reject.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        return;
    }
    // One small request and reply per connection: send without Nagle's delay.
    let _ = stream.set_nodelay(true);
    let tls = match tls_handshake(&acceptor, stream, HANDSHAKE_TIMEOUT).await {
        Ok(tls) => tls,
        Err(HandshakeError::Failed(error)) => {
            tracing::info!(node = %node_state.info.name, ?port, %peer, %error, "TLS handshake failed");
            return;
        }
        Err(HandshakeError::TimedOut(_)) => {
            tracing::info!(node = %node_state.info.name, ?port, %peer, "TLS handshake timed out");
            return;
        }
    };
    let ctx = RequestCtx { node, port, peer };
    let result = serve_http1(tls, move |req| {
        let service = service.clone();
        async move { service.handle(ctx, req).await }
    })
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
