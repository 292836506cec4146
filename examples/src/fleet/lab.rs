//! The PSNs of a fleet run: a `psn-lab serve` child process with three
//! nodes on loopback, its dACL emulation on (`reject`), and the admin calls
//! the scenarios need. A separate process, so the fleet's own CPU time is
//! the agents' alone.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::common::ready::{READY_FILE, Ready};
use crate::ctl::AdminClient;
use crate::error::LabError;
use crate::faults::FaultMode;
use crate::psn::app::NodeView;

/// How long psn-lab may take to write its ready file.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running psn-lab child, killed when dropped.
#[derive(Debug)]
pub struct Lab {
    child: Child,
    /// What psn-lab bound.
    pub ready: Ready,
    /// Its admin API.
    pub admin: AdminClient,
}

impl Lab {
    /// Starts `psn-lab` (the binary at `exe`) with `nodes` nodes named
    /// `psn1`... on 127.0.0.1 (ports chosen by the system) in `dir`; its log
    /// (warnings only: a line per request would cost more than the
    /// requests) goes to `dir/psn-lab.log`.
    pub async fn start(exe: &Path, dir: &Path, nodes: usize) -> Result<Lab, LabError> {
        let log = std::fs::File::create(dir.join("psn-lab.log")).map_err(|e| LabError::Io {
            action: "create",
            path: dir.join("psn-lab.log"),
            role: "psn-lab log",
            source: e,
        })?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .arg("--dir")
            .arg(dir)
            .args(["--admin", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        for n in 1..=nodes {
            cmd.arg("--node").arg(format!("psn{n}=127.0.0.1:0:0"));
        }
        let mut child = cmd.spawn().map_err(|e| {
            LabError::Config(format!(
                "cannot start psn-lab {} ({e}); build it with `cargo build -p psn-lab --bins` or name it with --psn-lab",
                exe.display()
            ))
        })?;
        let ready = wait_ready(&mut child, dir).await?;
        let token = crate::fsutil::read_text(&ready.admin_token, "admin token")?;
        let admin = AdminClient::new(ready.admin, token.trim());
        let lab = Lab {
            child,
            ready,
            admin,
        };
        for node in &lab.ready.nodes {
            lab.post(
                &format!("/nodes/{}/dacl", node.name),
                json!({ "mode": "reject" }),
            )
            .await?;
        }
        Ok(lab)
    }

    /// psn-lab's process id (for its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The nodes with their counters.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, LabError> {
        let value = self.call(Method::GET, "/nodes", None).await?;
        serde_json::from_value(value).map_err(|e| LabError::Admin {
            addr: self.ready.admin.to_string(),
            message: format!("GET /nodes: unexpected reply ({e})"),
        })
    }

    /// A CoA to Unknown of every session (`owner`: of one node's only).
    /// Returns how many changed.
    pub async fn all_unknown(&self, owner: Option<&str>) -> Result<u64, LabError> {
        let mut body = json!({ "status": "Unknown" });
        if let Some(o) = owner {
            body["owner"] = json!(o);
        }
        let reply = self.post("/sessions/status", body).await?;
        Ok(reply["changed"].as_u64().unwrap_or(0))
    }

    /// A CoA to Unknown of the sessions of `macs`, 32 at a time (as the
    /// MDM poller sends one CoA per changed verdict). Returns how many
    /// changed (a session ended meanwhile is not counted).
    pub async fn unknown_by_mac(&self, macs: &[String]) -> Result<u64, LabError> {
        let sessions = self.call(Method::GET, "/sessions", None).await?;
        let wanted: std::collections::HashSet<&str> = macs.iter().map(String::as_str).collect();
        let ids: Vec<String> = sessions
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["mac"].as_str().is_some_and(|m| wanted.contains(m)))
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect();
        let mut changed = 0;
        for chunk in ids.chunks(32) {
            let mut calls = tokio::task::JoinSet::new();
            for id in chunk {
                let admin = self.admin.clone();
                let path = format!("/sessions/{id}/status");
                calls.spawn(async move {
                    admin
                        .call(Method::POST, &path, Some(json!({ "status": "Unknown" })))
                        .await
                });
            }
            while let Some(reply) = calls.join_next().await {
                if let Ok(Ok((StatusCode::OK, _))) = reply {
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }

    /// Switches a node's fault mode (all ports).
    pub async fn fault(&self, node: &str, mode: FaultMode) -> Result<(), LabError> {
        self.post(&format!("/nodes/{node}/fault"), json!({ "mode": mode }))
            .await
            .map(drop)
    }

    async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, LabError> {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, LabError> {
        let (status, value) = self.admin.call(method.clone(), path, body).await?;
        if status != StatusCode::OK {
            return Err(LabError::Admin {
                addr: self.ready.admin.to_string(),
                message: format!("{method} {path}: {status} {value}"),
            });
        }
        Ok(value)
    }
}

/// Waits (bounded) for psn-lab's ready file; fails early if it exits.
async fn wait_ready(child: &mut Child, dir: &Path) -> Result<Ready, LabError> {
    let path = dir.join(READY_FILE);
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    loop {
        if path.exists()
            && let Ok(ready) = Ready::read(dir)
        {
            return Ok(ready);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(LabError::Config(format!(
                "psn-lab exited ({status}) before it was ready; see {}",
                dir.join("psn-lab.log").display()
            )));
        }
        if tokio::time::Instant::now() > deadline {
            return Err(LabError::Config(format!(
                "psn-lab wrote no {} within {} s; see {}",
                path.display(),
                READY_WITHIN.as_secs(),
                dir.join("psn-lab.log").display()
            )));
        }
        // A file appearing has no event to wait for here; poll it.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The psn-lab binary next to the running one (cargo puts every binary of
/// the package in the same directory).
pub fn default_exe() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("psn-lab")))
        .unwrap_or_else(|| PathBuf::from("psn-lab"))
}
