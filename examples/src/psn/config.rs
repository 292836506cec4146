//! The lab's configuration: nodes, admin address, policy, seeded sessions.
//!
//! Built from the command line (`--node psn1=127.0.0.1:8443:8449 ...`) and/or a
//! JSON config file; both end in one validated [`LabConfig`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::common::error::LabError;
use crate::common::fsutil;
use crate::psn::policy::Policy;
use crate::psn::sessions::SeedSpec;

/// Default admin API address.
pub const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9443);

/// One PSN node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name: letters, digits and `-` (used in file and DNS names).
    pub name: String,
    /// Address both ports bind to.
    pub bind: IpAddr,
    /// Discovery port (0: the system picks one).
    #[serde(default = "default_discovery_port")]
    pub discovery_port: u16,
    /// State sync port (0: the system picks one).
    #[serde(default = "default_sync_port")]
    pub sync_port: u16,
    /// Host name the node gives for itself in discovery replies (default: the bind address).
    #[serde(default)]
    pub advertise: Option<String>,
    /// Certificate and key to serve instead of `DIR/NAME.pem` and `DIR/NAME-key.pem`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Key matching `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

fn default_discovery_port() -> u16 {
    posture_protocol::DEFAULT_DISCOVERY_PORT
}
fn default_sync_port() -> u16 {
    posture_protocol::DEFAULT_STATE_SYNC_PORT
}

impl NodeSpec {
    /// Parses `NAME=IP:DISCOVERY_PORT:SYNC_PORT` (IPv6 in brackets: `psn1=[::1]:8443:8449`).
    pub fn parse(text: &str) -> Result<Self, LabError> {
        let bad = |why: &str| {
            LabError::Config(format!(
                "--node {text:?}: {why} (expected NAME=IP:DISCOVERY_PORT:SYNC_PORT, e.g. psn1=127.0.0.1:8443:8449; port 0 lets the system choose)"
            ))
        };
        let (name, rest) = text.split_once('=').ok_or_else(|| bad("no '='"))?;
        let mut parts = rest.rsplitn(3, ':');
        let sync = parts.next().ok_or_else(|| bad("no state sync port"))?;
        let disc = parts.next().ok_or_else(|| bad("no discovery port"))?;
        let ip = parts.next().ok_or_else(|| bad("no address"))?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let spec = NodeSpec {
            name: name.to_owned(),
            bind: ip
                .parse()
                .map_err(|_| bad(&format!("{ip:?} is not an IP address")))?,
            discovery_port: disc
                .parse()
                .map_err(|_| bad(&format!("{disc:?} is not a port")))?,
            sync_port: sync
                .parse()
                .map_err(|_| bad(&format!("{sync:?} is not a port")))?,
            advertise: None,
            cert: None,
            key: None,
        };
        Ok(spec)
    }

    /// The host named in discovery replies.
    pub fn advertised_host(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| self.bind.to_string())
    }
}

/// Whether a node name is acceptable (file and DNS name safe).
pub fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
}

/// The config file (JSON); every field optional, command-line flags add to it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Nodes.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// Admin API address (loopback only).
    #[serde(default)]
    pub admin: Option<SocketAddr>,
    /// Policy file, relative to the config file.
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// Sessions created at startup.
    #[serde(default)]
    pub sessions: Vec<SeedSpec>,
    /// External MDM server (docs/mdm.md).
    #[serde(default)]
    pub mdm: Option<crate::psn::mdm::MdmConfig>,
    /// The `nad` listener's address (the switch's URL redirect, plain HTTP).
    #[serde(default)]
    pub nad: Option<SocketAddr>,
    /// The config file's directory (relative paths), set by [`ConfigFile::load`].
    #[serde(skip)]
    pub base: Option<PathBuf>,
}

impl ConfigFile {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let text = fsutil::read_text(path, "config file")?;
        let mut file: ConfigFile = serde_json::from_str(&text)
            .map_err(|e| LabError::Config(format!("{}: {e}", path.display())))?;
        if let (Some(p), Some(base)) = (&file.policy, path.parent()) {
            file.policy = Some(base.join(p));
        }
        file.base = path.parent().map(Path::to_owned);
        Ok(file)
    }
}

/// A complete, validated lab configuration.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The lab directory: certificates, sessions, ready.json, admin-token.
    pub dir: PathBuf,
    /// Nodes, in order (the first is the default owner of seeded sessions).
    pub nodes: Vec<NodeSpec>,
    /// Admin API address.
    pub admin: SocketAddr,
    /// Requirements and decision.
    pub policy: Policy,
    /// Where the policy came from (for the summary).
    pub policy_source: String,
    /// Sessions to create at startup.
    pub seeds: Vec<SeedSpec>,
    /// Key algorithm for certificates created at startup.
    pub key_kind: crate::common::certs::KeyKind,
    /// External MDM server, validated (docs/mdm.md).
    pub mdm: Option<crate::psn::mdm::MdmSettings>,
    /// The `nad` listener (the switch's URL redirect, plain HTTP); off when `None`.
    pub nad: Option<SocketAddr>,
}

impl LabConfig {
    /// A config with the given nodes on loopback, port 0 everywhere (tests).
    pub fn loopback(dir: &Path, names: &[&str]) -> Self {
        LabConfig {
            dir: dir.to_owned(),
            nodes: names
                .iter()
                .map(|n| NodeSpec {
                    name: (*n).to_owned(),
                    bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    discovery_port: 0,
                    sync_port: 0,
                    advertise: None,
                    cert: None,
                    key: None,
                })
                .collect(),
            admin: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            policy: Policy::default(),
            policy_source: "built-in default".into(),
            seeds: Vec::new(),
            key_kind: crate::common::certs::KeyKind::EcdsaP256,
            mdm: None,
            nad: None,
        }
    }

    /// Checks names, ports and the admin address.
    pub fn validate(&self) -> Result<(), LabError> {
        if self.nodes.is_empty() {
            return Err(LabError::Config(
                "no nodes: add --node NAME=IP:DISCOVERY_PORT:SYNC_PORT (e.g. psn1=127.0.0.1:8443:8449)".into(),
            ));
        }
        let mut seen_names = std::collections::HashSet::new();
        let mut seen_addrs = std::collections::HashSet::new();
        for n in &self.nodes {
            if !valid_node_name(&n.name) {
                return Err(LabError::Config(format!(
                    "node name {:?} is invalid (allowed: 1-63 letters, digits and '-', not starting with '-')",
                    n.name
                )));
            }
            if !seen_names.insert(n.name.as_str()) {
                return Err(LabError::Config(format!(
                    "node name {:?} is used twice",
                    n.name
                )));
            }
            if n.cert.is_some() != n.key.is_some() {
                return Err(LabError::Config(format!(
                    "node {}: give both a certificate and a key (--node-cert {}=CERT,KEY)",
                    n.name, n.name
                )));
            }
            for port in [n.discovery_port, n.sync_port] {
                if port != 0 && !seen_addrs.insert(SocketAddr::new(n.bind, port)) {
                    return Err(LabError::Config(format!(
                        "{}:{port} is used by two ports (give every node its own ports, or 0)",
                        n.bind
                    )));
                }
            }
        }
        if !self.admin.ip().is_loopback() {
            return Err(LabError::Config(format!(
                "admin address {} is not a loopback address (the admin API is plain HTTP and is served on loopback only, e.g. 127.0.0.1:9443)",
                self.admin
            )));
        }
        for s in &self.seeds {
            if let Some(node) = &s.node
                && !self.nodes.iter().any(|n| &n.name == node)
            {
                return Err(LabError::Config(format!(
                    "seeded session for {} names node {node:?}, which is not configured",
                    s.mac
                )));
            }
        }
        self.policy.validate().map_err(LabError::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_specs_parse() {
        let n = NodeSpec::parse("psn1=127.0.0.1:8443:8449").unwrap();
        assert_eq!((n.discovery_port, n.sync_port), (8443, 8449));
        let v6 = NodeSpec::parse("psn2=[::1]:0:0").unwrap();
        assert_eq!(v6.bind, "::1".parse::<IpAddr>().unwrap());
        for bad in [
            "psn1",
            "psn1=127.0.0.1:8443",
            "psn1=host:1:2",
            "psn1=127.0.0.1:x:1",
        ] {
            let e = NodeSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains("expected NAME=IP"), "{e}");
        }
    }

    #[test]
    fn validation() {
        let dir = Path::new("/tmp/x");
        assert!(
            LabConfig::loopback(dir, &["psn1", "psn2"])
                .validate()
                .is_ok()
        );
        assert!(
            LabConfig::loopback(dir, &["psn1", "psn1"])
                .validate()
                .is_err()
        );
        assert!(LabConfig::loopback(dir, &["bad name"]).validate().is_err());
        assert!(LabConfig::loopback(dir, &[]).validate().is_err());
        let mut c = LabConfig::loopback(dir, &["psn1"]);
        c.admin = "0.0.0.0:9443".parse().unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("loopback"));
        let mut c = LabConfig::loopback(dir, &["psn1"]);
        c.nodes[0].discovery_port = 8443;
        c.nodes[0].sync_port = 8443;
        assert!(c.validate().is_err());
    }
}
