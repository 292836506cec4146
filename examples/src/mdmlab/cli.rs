//! Command line of `mdm-lab` (clap).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use http::Method;
use serde_json::{Value, json};

use super::server::MdmLabConfig;
use crate::common::lab_cli::{DEFAULT_LAB_DIR, LogArgs};

/// A JAMF-style MDM for the posture-sync lab (network integration endpoint, MDM API v3).
#[derive(Debug, Parser)]
#[command(name = "mdm-lab", version, about)]
pub struct MdmLabCli {
    /// What to do.
    #[command(subcommand)]
    pub command: MdmLabCommand,
    /// Logging flags.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum MdmLabCommand {
    /// Serve the network integration endpoint over TLS.
    Serve(ServeArgs),
    /// Talk to a running mdm-lab's admin API.
    // The shared `--dir` help names psn-lab's lab; this one is mdm-lab's.
    #[command(mut_arg("dir", |a| a.help("Lab directory of the running mdm-lab")))]
    Ctl(CtlArgs),
}

/// `mdm-lab serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Lab directory: the lab CA (shared with psn-lab when it is psn-lab's --dir),
    /// mdm.pem, mdm-ready.json, mdm-admin-token.
    #[arg(long, default_value = DEFAULT_LAB_DIR)]
    pub dir: PathBuf,
    /// Device inventory (JSON).
    #[arg(long)]
    pub inventory: PathBuf,
    /// TLS address of the network integration endpoint.
    #[arg(long, default_value = "127.0.0.1:9444")]
    pub listen: SocketAddr,
    /// Admin API address (loopback only).
    #[arg(long, default_value = "127.0.0.1:9445")]
    pub admin: SocketAddr,
    /// Instance path (the path part of the integration URL).
    #[arg(long, default_value = "/networkIntegrationEndpoint/lab")]
    pub instance: String,
    /// Basic authentication user.
    #[arg(long, default_value = "ise")]
    pub username: String,
    /// File holding the basic authentication password (first line); default "lab-password".
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// query_max_size announced in the server info.
    #[arg(long, default_value_t = 1000)]
    pub query_max_size: usize,
    /// api_version announced in the server info.
    #[arg(long, default_value_t = 3)]
    pub api_version: u32,
    /// Extra name for mdm-lab's certificate (repeatable).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
}

impl ServeArgs {
    /// The configuration.
    pub fn to_config(&self) -> Result<MdmLabConfig, crate::LabError> {
        let password = match &self.password_file {
            Some(p) => crate::common::fsutil::read_text(p, "password file")?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            None => "lab-password".to_owned(),
        };
        Ok(MdmLabConfig {
            dir: self.dir.clone(),
            listen: self.listen,
            admin: self.admin,
            instance: self.instance.clone(),
            username: self.username.clone(),
            password,
            query_max_size: self.query_max_size,
            api_version: self.api_version,
            sans: self.sans.clone(),
        })
    }
}

/// `mdm-lab ctl`.
pub type CtlArgs = crate::common::lab_cli::CtlArgs<CtlCall>;

/// Admin calls.
#[derive(Debug, Subcommand)]
pub enum CtlCall {
    /// List the inventory.
    Devices,
    /// Set a device's compliance: `compliance MAC false --reason "FileVault off"`.
    Compliance {
        /// MAC (any notation) or GUID.
        device: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        compliant: bool,
        /// Reason shown when non-compliant.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Set the fault mode: none, unauthorized, not-found, slow, malformed,
    /// wrong-types, huge, old-api, extra-device.
    Fault {
        /// Mode.
        mode: String,
        /// Delay for `slow`, milliseconds.
        #[arg(long, default_value_t = 0)]
        slow_ms: u64,
        /// Endpoints: all, info, devices.
        #[arg(long, default_value = "all")]
        scope: String,
    },
    /// Counters, batch sizes and identifiers asked.
    Stats,
}

impl CtlCall {
    /// The HTTP call this maps to.
    pub fn request(&self) -> (Method, String, Option<Value>) {
        match self {
            CtlCall::Devices => (Method::GET, "/devices".into(), None),
            CtlCall::Compliance {
                device,
                compliant,
                reason,
            } => (
                Method::POST,
                format!("/devices/{device}/compliance"),
                Some(json!({ "compliant": compliant, "reason": reason })),
            ),
            CtlCall::Fault {
                mode,
                slow_ms,
                scope,
            } => (
                Method::POST,
                "/fault".into(),
                Some(json!({ "mode": mode, "slow_ms": slow_ms, "scope": scope })),
            ),
            CtlCall::Stats => (Method::GET, "/stats".into(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        MdmLabCli::command().debug_assert();
        let cli =
            MdmLabCli::parse_from(["mdm-lab", "ctl", "compliance", "02:00:5e:00:53:01", "false"]);
        let MdmLabCommand::Ctl(args) = cli.command else {
            panic!("not ctl")
        };
        let (m, p, b) = args.call.request();
        assert_eq!(m, Method::POST);
        assert_eq!(p, "/devices/02:00:5e:00:53:01/compliance");
        assert_eq!(b.unwrap()["compliant"], false);
    }
}
