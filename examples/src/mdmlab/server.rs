//! Starting mdm-lab: certificate from the lab CA, TLS listener, admin API,
//! `DIR/mdm-ready.json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::admin::MdmAdmin;
use super::inventory::Inventory;
use super::service::{MdmIdentity, MdmLabState};
use crate::common::certs::{self, CertRequest};
use crate::common::error::LabError;
use crate::common::fsutil;
use crate::common::lab_server::{
    HANDSHAKE_TIMEOUT, HandshakeError, RunningServer, ServerTasks, accept_until_shutdown, bind,
    serve_http1, tls_handshake, write_admin_token,
};
use crate::psn::mdm::client::basic_auth;

/// Ready file name in the lab directory.
pub const MDM_READY_FILE: &str = "mdm-ready.json";
/// Admin token file name in the lab directory.
pub const MDM_TOKEN_FILE: &str = "mdm-admin-token";
/// Name of mdm-lab's certificate in the lab directory (`mdm.pem`).
pub const CERT_NAME: &str = "mdm";

/// mdm-lab's configuration.
#[derive(Debug, Clone)]
pub struct MdmLabConfig {
    /// Lab directory (shares the lab CA with psn-lab when it is psn-lab's).
    pub dir: PathBuf,
    /// TLS listen address.
    pub listen: SocketAddr,
    /// Admin API address (loopback).
    pub admin: SocketAddr,
    /// Instance path.
    pub instance: String,
    /// Basic authentication user.
    pub username: String,
    /// Basic authentication password.
    pub password: String,
    /// `query_max_size` announced.
    pub query_max_size: usize,
    /// `api_version` announced.
    pub api_version: u32,
    /// Extra names for the certificate (besides `mdm`, `mdm.lab.test`, localhost, loopback).
    pub sans: Vec<String>,
}

impl MdmLabConfig {
    /// Defaults: loopback port 0, instance `/networkIntegrationEndpoint/lab`, user `ise`.
    pub fn loopback(dir: &Path) -> Self {
        MdmLabConfig {
            dir: dir.to_owned(),
            listen: ([127, 0, 0, 1], 0).into(),
            admin: ([127, 0, 0, 1], 0).into(),
            instance: "/networkIntegrationEndpoint/lab".into(),
            username: "ise".into(),
            password: "lab-password".into(),
            query_max_size: 1000,
            api_version: 3,
            sans: Vec::new(),
        }
    }

    fn validate(&self) -> Result<String, LabError> {
        if !self.admin.ip().is_loopback() {
            return Err(LabError::Config(format!(
                "mdm-lab admin address {} is not a loopback address (the admin API is plain HTTP, loopback only)",
                self.admin
            )));
        }
        if !(1..=100_000).contains(&self.query_max_size) {
            return Err(LabError::Config(format!(
                "--query-max-size {} is out of range (allowed: 1-100000)",
                self.query_max_size
            )));
        }
        if self.username.is_empty() || self.username.contains(':') || self.password.is_empty() {
            return Err(LabError::Config(
                "--username must be non-empty without ':', and --password non-empty".into(),
            ));
        }
        let mut instance = self.instance.trim().trim_end_matches('/').to_owned();
        if !instance.is_empty() && !instance.starts_with('/') {
            instance.insert(0, '/');
        }
        Ok(instance)
    }
}

/// `DIR/mdm-ready.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MdmReady {
    /// TLS address of the network integration endpoint.
    pub listen: SocketAddr,
    /// Admin API address.
    pub admin: SocketAddr,
    /// Instance path.
    pub instance: String,
    /// Lab CA (trust anchor for psn-lab's MDM client).
    pub ca: PathBuf,
    /// Certificate served.
    pub cert: PathBuf,
    /// Admin token file.
    pub admin_token: PathBuf,
    /// Process id.
    pub pid: u32,
}

impl MdmReady {
    /// Reads `DIR/mdm-ready.json`.
    pub fn read(dir: &Path) -> Result<Self, LabError> {
        let path = dir.join(MDM_READY_FILE);
        let text = fsutil::read_text(&path, "mdm-lab ready file")?;
        serde_json::from_str(&text).map_err(|e| {
            LabError::Config(format!(
                "{}: {e} (is `mdm-lab serve --dir {}` running?)",
                path.display(),
                dir.display()
            ))
        })
    }
}

/// A running mdm-lab: what mdm-ready.json says, shared state, admin token and
/// tasks.
pub type RunningMdm = RunningServer<MdmReady, MdmLabState>;

/// Starts mdm-lab with an inventory; returns once it listens and the ready file is written.
pub async fn start(config: MdmLabConfig, inventory: Inventory) -> Result<RunningMdm, LabError> {
    let instance = config.validate()?;
    let dir = config.dir.clone();
    fsutil::create_dir(&dir, "lab directory")?;
    let _ = std::fs::remove_file(dir.join(MDM_READY_FILE));
    let mut extra = vec![config.listen.ip().to_string()];
    extra.extend(config.sans.iter().cloned());
    let outcome = certs::create(&CertRequest {
        dir: dir.clone(),
        nodes: vec![CERT_NAME.into()],
        extra_sans: extra,
        ..CertRequest::default()
    })?;
    for (name, paths, sans) in &outcome.issued {
        tracing::info!(cert = %paths.cert.display(), %name, names = ?sans, "issued mdm-lab's certificate");
    }
    let paths = certs::node_paths(&dir, CERT_NAME);
    let tls = crate::common::tls::server_config(&paths.cert, &paths.key)?;
    let (listener, listen) = bind(config.listen, "mdm-lab endpoint").await?;
    let (admin_listener, admin) = bind(config.admin, "mdm-lab admin API").await?;
    let state = Arc::new(MdmLabState::new(
        MdmIdentity {
            instance: instance.clone(),
            auth: basic_auth(&config.username, &config.password),
            query_max_size: config.query_max_size,
            api_version: config.api_version,
            redirect_url: format!("https://{listen}/enroll"),
        },
        inventory,
    ));
    let token_path = dir.join(MDM_TOKEN_FILE);
    let token = write_admin_token(&token_path, "mdm-lab admin token")?;
    let mut tasks = ServerTasks::new();
    let (acceptor, service) = (TlsAcceptor::from(tls), state.clone());
    let serve = move |stream, peer| connection(stream, peer, acceptor.clone(), service.clone());
    let on_error = |error: &std::io::Error| tracing::warn!(%error, "mdm-lab: accept failed");
    tasks.spawn(accept_until_shutdown(
        listener,
        tasks.shutdown_signal(),
        serve,
        on_error,
    ));
    tasks.spawn(super::admin::serve(
        admin_listener,
        MdmAdmin::new(state.clone(), token.clone()),
        tasks.shutdown_signal(),
    ));
    let ready = MdmReady {
        listen,
        admin,
        instance,
        ca: certs::ca_path(&dir),
        cert: paths.cert,
        admin_token: token_path,
        pid: std::process::id(),
    };
    RunningServer::publish(
        ready,
        dir.join(MDM_READY_FILE),
        "mdm-lab ready file",
        state,
        token,
        tasks,
    )
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    state: Arc<MdmLabState>,
) {
    let tls = match tls_handshake(&acceptor, stream, HANDSHAKE_TIMEOUT).await {
        Ok(tls) => tls,
        Err(HandshakeError::Failed(error)) => {
            tracing::info!(%peer, %error, "mdm-lab: TLS handshake failed");
            return;
        }
        // Unlike psn-lab, mdm-lab logs neither handshake timeouts nor broken
        // connections: its client (psn-lab's poller) reports both on its side.
        Err(HandshakeError::TimedOut(_)) => return,
    };
    let _ = serve_http1(tls, move |req| {
        let state = state.clone();
        async move { state.handle(req).await }
    })
    .await;
}
