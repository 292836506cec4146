//! Command line of `psn-lab` (clap), turned into a [`LabConfig`] or a ctl call.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use http::Method;
use serde_json::{Value, json};

use crate::common::certs::{CertRequest, KeyKind};
use crate::common::error::LabError;
use crate::common::lab_cli::{DEFAULT_LAB_DIR, LogArgs};
use crate::psn::config::{ConfigFile, DEFAULT_ADMIN, LabConfig, NodeSpec};
use crate::psn::policy::Policy;

/// Reference policy service node for posture-sync.
#[derive(Debug, Parser)]
#[command(name = "psn-lab", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Logging flags.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve PSN nodes (creates the lab CA and node certificates when missing).
    Serve(ServeArgs),
    /// Create the lab CA and node certificates.
    Certs(CertsArgs),
    /// Talk to a running lab's admin API.
    Ctl(CtlArgs),
    /// Print the built-in default policy (a starting point for --policy).
    Policy,
    /// External MDM integration (docs/mdm.md).
    #[command(subcommand)]
    Mdm(MdmCommand),
}

/// `psn-lab mdm ...`.
#[derive(Debug, Subcommand)]
pub enum MdmCommand {
    /// Test Connection: ask the MDM of the config file's "mdm" section for its
    /// server info and explain any failure; exit 1 on failure.
    Test {
        /// Config file (JSON) with an "mdm" section.
        #[arg(long)]
        config: PathBuf,
    },
}

impl MdmCommand {
    /// The validated MDM settings of the config file.
    pub fn settings(config: &std::path::Path) -> Result<crate::psn::mdm::MdmSettings, LabError> {
        let file = ConfigFile::load(config)?;
        let mdm = file.mdm.as_ref().ok_or_else(|| {
            LabError::Config(format!(
                "{}: no \"mdm\" section (see docs/mdm.md for the fields)",
                config.display()
            ))
        })?;
        mdm.validate(file.base.as_deref())
            .map_err(|e| LabError::Config(format!("{}: {e}", config.display())))
    }
}

/// `psn-lab serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Lab directory: certificates, sessions/, ready.json, admin-token.
    #[arg(long, default_value = DEFAULT_LAB_DIR)]
    pub dir: PathBuf,
    /// A node: NAME=IP:DISCOVERY_PORT:SYNC_PORT (port 0: the system picks one).
    /// Default: psn1=127.0.0.1:8443:8449.
    #[arg(long = "node", value_name = "NAME=IP:DPORT:SPORT")]
    pub nodes: Vec<String>,
    /// Serve this certificate and key for a node instead of DIR/NAME.pem: NAME=CERT,KEY.
    #[arg(long = "node-cert", value_name = "NAME=CERT,KEY")]
    pub node_certs: Vec<String>,
    /// The host a node names itself by in discovery replies: NAME=HOST (default: its bind IP).
    #[arg(long = "advertise", value_name = "NAME=HOST")]
    pub advertise: Vec<String>,
    /// Admin API address (loopback only). Default 127.0.0.1:9443.
    #[arg(long)]
    pub admin: Option<SocketAddr>,
    /// Policy file (JSON; see `psn-lab policy`).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Config file (JSON): nodes, admin, policy, sessions.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Use RSA-2048 keys for certificates created at startup (default ECDSA P-256).
    #[arg(long)]
    pub rsa: bool,
    /// Serve the switch's URL redirect (plain HTTP) on this address, e.g.
    /// 10.0.0.1:80 (off by default).
    #[arg(long, value_name = "ADDR")]
    pub nad: Option<SocketAddr>,
}

/// `psn-lab certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Lab directory (a directory without ca.pem gets a new, independent CA).
    #[arg(long, default_value = DEFAULT_LAB_DIR)]
    pub dir: PathBuf,
    /// Node to issue a certificate for (repeatable). Default: psn1.
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Extra name for every node certificate (repeatable).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Put only these names in the certificates (repeatable): a certificate whose
    /// names do not match the host the agent connects to.
    #[arg(long = "san-only", value_name = "NAME")]
    pub san_only: Vec<String>,
    /// RSA-2048 keys instead of ECDSA P-256.
    #[arg(long)]
    pub rsa: bool,
    /// Re-issue node certificates that exist.
    #[arg(long)]
    pub force: bool,
}

/// `psn-lab ctl`.
pub type CtlArgs = crate::common::lab_cli::CtlArgs<CtlCall>;

/// Admin calls.
#[derive(Debug, Subcommand)]
pub enum CtlCall {
    /// List sessions.
    Sessions,
    /// Show one session.
    Session {
        /// Session id.
        id: String,
    },
    /// Create or replace the session of a MAC.
    Seed {
        /// MAC address.
        mac: String,
        /// Status (Unknown, Pending, Compliant, NonCompliant, NotApplicable).
        #[arg(default_value = "Unknown")]
        status: String,
        /// Owning node.
        #[arg(long)]
        node: Option<String>,
        /// Endpoint address.
        #[arg(long)]
        endpoint: Option<IpAddr>,
        /// Session id.
        #[arg(long)]
        id: Option<String>,
    },
    /// Change a session's status (CoA).
    Coa {
        /// Session id.
        id: String,
        /// New status.
        status: String,
    },
    /// End a session.
    End {
        /// Session id.
        id: String,
    },
    /// List alarms.
    Alarms,
    /// Forget all alarms.
    ClearAlarms,
    /// List nodes with their fault and dACL modes.
    Nodes,
    /// Set a node's fault mode: none, http500, garbage, oversized, slow, no-session.
    Fault {
        /// Node name.
        node: String,
        /// Mode.
        mode: String,
        /// Delay for `slow`, milliseconds.
        #[arg(long, default_value_t = 0)]
        slow_ms: u64,
        /// Ports: all, discovery, sync.
        #[arg(long, default_value = "all")]
        scope: String,
    },
    /// The MDM poller's status and cached verdicts.
    Mdm,
    /// Set a node's dACL emulation: off, reject, drop.
    Dacl {
        /// Node name.
        node: String,
        /// Mode.
        mode: String,
    },
    /// Set a node's dACL lag: the dACL emulation blocks an endpoint only this
    /// many milliseconds after a report or CoA gave it a known posture (0: at once).
    DaclLag {
        /// Node name.
        node: String,
        /// Lag, milliseconds (0-600000).
        ms: u64,
    },
}

impl CtlCall {
    /// The HTTP call this maps to.
    pub fn request(&self) -> (Method, String, Option<Value>) {
        match self {
            CtlCall::Sessions => (Method::GET, "/sessions".into(), None),
            CtlCall::Session { id } => (Method::GET, format!("/sessions/{id}"), None),
            CtlCall::Seed {
                mac,
                status,
                node,
                endpoint,
                id,
            } => (
                Method::POST,
                "/sessions".into(),
                Some(
                    json!({ "mac": mac, "status": status, "node": node, "endpoint": endpoint, "id": id }),
                ),
            ),
            CtlCall::Coa { id, status } => (
                Method::POST,
                format!("/sessions/{id}/status"),
                Some(json!({ "status": status })),
            ),
            CtlCall::End { id } => (Method::DELETE, format!("/sessions/{id}"), None),
            CtlCall::Alarms => (Method::GET, "/alarms".into(), None),
            CtlCall::ClearAlarms => (Method::DELETE, "/alarms".into(), None),
            CtlCall::Nodes => (Method::GET, "/nodes".into(), None),
            CtlCall::Mdm => (Method::GET, "/mdm".into(), None),
            CtlCall::Fault {
                node,
                mode,
                slow_ms,
                scope,
            } => (
                Method::POST,
                format!("/nodes/{node}/fault"),
                Some(json!({ "mode": mode, "slow_ms": slow_ms, "scope": scope })),
            ),
            CtlCall::Dacl { node, mode } => (
                Method::POST,
                format!("/nodes/{node}/dacl"),
                Some(json!({ "mode": mode })),
            ),
            CtlCall::DaclLag { node, ms } => (
                Method::POST,
                format!("/nodes/{node}/dacl-lag"),
                Some(json!({ "lag_ms": ms })),
            ),
        }
    }
}

fn split_pair<'a>(flag: &str, text: &'a str, shape: &str) -> Result<(&'a str, &'a str), LabError> {
    text.split_once('=')
        .ok_or_else(|| LabError::Config(format!("{flag} {text:?}: expected {shape}")))
}

impl ServeArgs {
    /// Builds the lab configuration from the flags and the optional config file.
    pub fn to_config(&self) -> Result<LabConfig, LabError> {
        let file = match &self.config {
            Some(p) => ConfigFile::load(p)?,
            None => ConfigFile::default(),
        };
        let mut nodes = file.nodes.clone();
        for n in &self.nodes {
            nodes.push(NodeSpec::parse(n)?);
        }
        if nodes.is_empty() {
            nodes.push(NodeSpec::parse("psn1=127.0.0.1:8443:8449")?);
        }
        for nc in &self.node_certs {
            let (name, files) = split_pair("--node-cert", nc, "NAME=CERT,KEY")?;
            let (cert, key) = files.split_once(',').ok_or_else(|| {
                LabError::Config(format!("--node-cert {nc:?}: expected NAME=CERT,KEY"))
            })?;
            let node = nodes.iter_mut().find(|n| n.name == name).ok_or_else(|| {
                LabError::Config(format!(
                    "--node-cert names node {name:?}, which is not configured"
                ))
            })?;
            node.cert = Some(cert.into());
            node.key = Some(key.into());
        }
        for adv in &self.advertise {
            let (name, host) = split_pair("--advertise", adv, "NAME=HOST")?;
            let node = nodes.iter_mut().find(|n| n.name == name).ok_or_else(|| {
                LabError::Config(format!(
                    "--advertise names node {name:?}, which is not configured"
                ))
            })?;
            node.advertise = Some(host.to_owned());
        }
        let policy_path = self.policy.clone().or(file.policy.clone());
        let (policy, policy_source) = match &policy_path {
            Some(p) => (Policy::load(p)?, p.display().to_string()),
            None => (Policy::default(), "built-in default".to_owned()),
        };
        let mdm = match &file.mdm {
            Some(m) => Some(
                m.validate(file.base.as_deref())
                    .map_err(|e| LabError::Config(e.to_string()))?,
            ),
            None => None,
        };
        let config = LabConfig {
            dir: self.dir.clone(),
            nodes,
            admin: self.admin.or(file.admin).unwrap_or(DEFAULT_ADMIN),
            policy,
            policy_source,
            seeds: file.sessions,
            mdm,
            nad: self.nad.or(file.nad),
            key_kind: if self.rsa {
                KeyKind::Rsa2048
            } else {
                KeyKind::EcdsaP256
            },
        };
        config.validate()?;
        Ok(config)
    }
}

impl CertsArgs {
    /// The certificate request.
    pub fn to_request(&self) -> Result<CertRequest, LabError> {
        let nodes = if self.nodes.is_empty() {
            vec!["psn1".to_owned()]
        } else {
            self.nodes.clone()
        };
        if let Some(bad) = nodes
            .iter()
            .find(|n| !crate::psn::config::valid_node_name(n))
        {
            return Err(LabError::Config(format!(
                "node name {bad:?} is invalid (allowed: 1-63 letters, digits and '-')"
            )));
        }
        Ok(CertRequest {
            dir: self.dir.clone(),
            nodes,
            extra_sans: self.sans.clone(),
            san_only: self.san_only.clone(),
            key_kind: if self.rsa {
                KeyKind::Rsa2048
            } else {
                KeyKind::EcdsaP256
            },
            force: self.force,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_build_a_config() {
        let cli = Cli::parse_from([
            "psn-lab",
            "serve",
            "--dir",
            "/tmp/lab",
            "--node",
            "psn1=127.0.0.1:0:0",
            "--node",
            "psn2=127.0.0.1:0:0",
            "--advertise",
            "psn2=psn2.lab.test",
            "--node-cert",
            "psn1=/a.pem,/a-key.pem",
        ]);
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let c = args.to_config().unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.nodes[1].advertised_host(), "psn2.lab.test");
        assert_eq!(
            c.nodes[0].cert.as_deref(),
            Some(std::path::Path::new("/a.pem"))
        );
        let cli = Cli::parse_from([
            "psn-lab",
            "serve",
            "--node",
            "psn1=127.0.0.1:0:0",
            "--advertise",
            "psn9=x",
        ]);
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert!(args.to_config().unwrap_err().to_string().contains("psn9"));
    }

    #[test]
    fn config_file_with_nodes_sessions_and_relative_policy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("policy.json"),
            r#"{"requirements":[{"id":"x","mandatory":true,"checks":[{"type":"file-exists","path":"/etc/hostname"}]}]}"#,
        )
        .unwrap();
        let cfg = dir.path().join("lab.json");
        std::fs::write(
            &cfg,
            r#"{"nodes":[{"name":"psn1","bind":"127.0.0.1","discovery_port":0,"sync_port":0,"advertise":"psn1.lab.test"}],
                "admin":"127.0.0.1:0","policy":"policy.json",
                "sessions":[{"mac":"aa:bb:cc:dd:ee:ff","status":"Compliant","endpoint":"127.0.0.9"}]}"#,
        )
        .unwrap();
        let cli = Cli::parse_from([
            "psn-lab",
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--node",
            "psn2=127.0.0.1:0:0",
        ]);
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let c = args.to_config().unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.nodes[0].advertised_host(), "psn1.lab.test");
        assert_eq!(c.policy.requirements[0].id, "x");
        assert_eq!(
            c.seeds[0].status,
            posture_protocol::PostureStatus::Compliant
        );
        std::fs::write(&cfg, r#"{"nodes":[],"bogus":1}"#).unwrap();
        assert!(args.to_config().unwrap_err().to_string().contains("bogus"));
    }
}
