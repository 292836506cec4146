//! Starting mdm-lab: certificate from the lab CA, TLS listener, admin API,
//! `DIR/mdm-ready.json`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::admin::MdmAdmin;
use super::inventory::Inventory;
use super::service::{MdmIdentity, MdmLabState};
use crate::certs::{self, CertRequest};
use crate::error::LabError;
use crate::fsutil;
use crate::mdm::client::basic_auth;

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

/// A running mdm-lab.
#[derive(Debug)]
pub struct RunningMdm {
    /// What was written to mdm-ready.json.
    pub ready: MdmReady,
    /// Shared state.
    pub state: Arc<MdmLabState>,
    /// Admin token.
    pub token: String,
    dir: PathBuf,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningMdm {
    /// Stops the listeners and removes mdm-ready.json.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        let _ = std::fs::remove_file(self.dir.join(MDM_READY_FILE));
    }
}

async fn bind(addr: SocketAddr, role: &str) -> Result<(TcpListener, SocketAddr), LabError> {
    let bind_err = |source| LabError::Bind {
        role: role.to_owned(),
        addr,
        source,
    };
    let l = TcpListener::bind(addr).await.map_err(bind_err)?;
    let local = l.local_addr().map_err(bind_err)?;
    Ok((l, local))
}

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
    let tls = crate::tls::server_config(&paths.cert, &paths.key)?;
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
    let token = crate::tls::random_hex(32)?;
    let token_path = dir.join(MDM_TOKEN_FILE);
    fsutil::write_atomic(&token_path, token.as_bytes(), "mdm-lab admin token", true)?;
    let (shutdown, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tasks.spawn(accept_loop(
        listener,
        TlsAcceptor::from(tls),
        state.clone(),
        rx.clone(),
    ));
    tasks.spawn(super::admin::serve(
        admin_listener,
        MdmAdmin::new(state.clone(), token.clone()),
        rx,
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
    let json = serde_json::to_vec_pretty(&ready).map_err(|e| LabError::Config(e.to_string()))?;
    fsutil::write_atomic(
        &dir.join(MDM_READY_FILE),
        &json,
        "mdm-lab ready file",
        false,
    )?;
    Ok(RunningMdm {
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
    state: Arc<MdmLabState>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let acceptor = acceptor.clone();
                    let state = state.clone();
                    tokio::spawn(async move {
                        let tls = match tokio::time::timeout(crate::server::HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(error)) => {
                                tracing::info!(%peer, %error, "mdm-lab: TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        };
                        let svc = service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(state.handle(req).await) }
                        });
                        let _ = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(crate::server::HEADER_TIMEOUT)
                            .serve_connection(TokioIo::new(tls), svc)
                            .await;
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "mdm-lab: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
