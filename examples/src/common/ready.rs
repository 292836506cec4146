//! `DIR/ready.json`: written (atomically) once every port is bound, so tests and
//! `psn-lab ctl` know the actual addresses even with port 0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::common::error::LabError;
use crate::common::fsutil;

/// File name of the ready file in the lab directory.
pub const READY_FILE: &str = "ready.json";
/// File name of the admin token in the lab directory.
pub const TOKEN_FILE: &str = "admin-token";

/// One node in the ready file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyNode {
    /// Node name.
    pub name: String,
    /// Host named in discovery replies.
    pub advertise: String,
    /// Bound discovery address.
    pub discovery: SocketAddr,
    /// Bound state sync address.
    pub sync: SocketAddr,
    /// Certificate served.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// The ready file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Nodes in configuration order.
    pub nodes: Vec<ReadyNode>,
    /// Admin API address (plain HTTP, loopback).
    pub admin: SocketAddr,
    /// Lab CA certificate.
    pub ca: PathBuf,
    /// File holding the admin bearer token.
    pub admin_token: PathBuf,
    /// Session directory.
    pub sessions_dir: PathBuf,
    /// Process id of the lab.
    pub pid: u32,
    /// The `nad` listener (the switch's URL redirect, plain HTTP), when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nad: Option<SocketAddr>,
}

impl Ready {
    /// Reads `DIR/ready.json`.
    pub fn read(dir: &Path) -> Result<Self, LabError> {
        let path = dir.join(READY_FILE);
        let text = fsutil::read_text(
            &path,
            "ready file (is `psn-lab serve` running with this --dir?)",
        )?;
        serde_json::from_str(&text)
            .map_err(|e| LabError::Config(format!("{}: {e}", path.display())))
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&ReadyNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}
