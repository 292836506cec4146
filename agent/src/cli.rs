//! The command line definition (`docs/cli.md`). Man page and completions are
//! generated from this, so it is the single source of truth for flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Keeps the endpoint's network posture in step with the policy server.
#[derive(Debug, Parser)]
#[command(name = "posture-sync", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in the foreground until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Ask the running agent for its status.
    Status(StatusArgs),
    /// Ask the running agent to rediscover and reassess now (the Rescan
    /// button of the vendor agent).
    Reassess(ReassessArgs),
    /// Evaluate a posture policy on this machine without a PSN (--dry-run):
    /// each requirement's result and reason, exit 0 when every mandatory
    /// requirement passes.
    Assess(AssessArgs),
    /// Check or describe posture profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Start the agent at login for the current user (systemd user unit or
    /// XDG autostart on Linux, LaunchAgent on macOS, Run key on Windows).
    Install(InstallArgs),
    /// Stop starting the agent at login for the current user.
    Uninstall,
    /// Write a diagnostic bundle (zip) to mail to support.
    Dart(DartArgs),
}

/// Flags of `posture-sync install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The profile the agent runs with [default: ISEPostureCFG.xml in the
    /// per-user config dir, else /etc/posture-sync/ISEPostureCFG.xml].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

/// Flags of `posture-sync dart`.
#[derive(Debug, Args)]
pub struct DartArgs {
    /// The zip file to write.
    #[arg(short = 'o', long, value_name = "FILE.zip")]
    pub output: PathBuf,
    /// The agent's state dir [default: per-user state dir].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The agent's log dir [default: per-user log dir].
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// The profile to include [default: the running agent's, else the installed one, if found].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// The extra CA bundle the agent trusts (summarized, never copied).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// Flags of `posture-sync run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The posture profile (ISEPostureCFG.xml-like).
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
    /// Where the agent keeps its state and status socket [default: per-user state dir].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where the agent writes its rolling log [default: per-user log dir].
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// A PEM bundle of CAs to trust in addition to the platform's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Trust only the CAs of --ca-file, not the platform's roots (closed
    /// deployments: a certificate a public CA issued for a name the
    /// ServerNameRules allow is then refused).
    #[arg(long, requires = "ca_file")]
    pub ca_only: bool,
    /// The endpoint MAC to present [default: the primary interface's].
    #[arg(long, value_name = "MAC")]
    pub mac: Option<String>,
    /// Where discovery asks for the switch's URL redirect: `auto` (the
    /// default gateways, port 80), `off`, or an address with an optional
    /// port (a lab's redirect listener).
    #[arg(long, value_name = "auto|off|ADDR[:PORT]", default_value = "auto")]
    pub gateway: crate::gateway::GatewayMode,
    /// Watch the endpoint's addresses, routes and links, and restart
    /// discovery once the network has been quiet for
    /// NetworkTransitionDelay after a change (`off`: only a probe or
    /// `posture-sync reassess` restarts it).
    #[arg(
        long,
        value_name = "on|off",
        default_value = "on",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub network_watch: bool,
}

/// Flags of `posture-sync assess`.
#[derive(Debug, Args)]
pub struct AssessArgs {
    /// Evaluate locally and tell no one (required: `assess` never talks to
    /// a PSN; `posture-sync reassess` makes the running agent assess).
    #[arg(long, required = true)]
    pub dry_run: bool,
    /// The policy: a requirements document as a PSN sends it (XML), or a
    /// psn-lab policy file (JSON, `{"requirements": [...]}`).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The profile whose ContentCheckPaths allow file-contains checks
    /// [default: none, so file-contains is refused as the agent would
    /// without them].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Print one JSON object (`requirements`, `compliant`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `posture-sync reassess`.
#[derive(Debug, Args)]
pub struct ReassessArgs {
    /// The running agent's state dir [default: per-user state dir].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Flags of `posture-sync status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The running agent's state dir [default: per-user state dir].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// `posture-sync profile ...`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Validate a profile: exit 0 when valid (warnings on stderr), 1 when invalid,
    /// 2 when the file is missing or unreadable.
    Check {
        /// The profile to check.
        file: PathBuf,
    },
    /// Print the machine-readable description of every known profile key (JSON).
    Schema,
}

#[cfg(test)]
mod roaming_flag_tests {
    use clap::Parser;

    use super::*;
    use crate::gateway::GatewayMode;

    fn run(args: &[&str]) -> RunArgs {
        let argv = ["posture-sync", "run", "--profile", "p.xml"]
            .iter()
            .chain(args);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Run(r)) => r,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn gateway_and_network_watch_default_to_what_a_deployment_needs() {
        let r = run(&[]);
        assert_eq!(r.gateway, GatewayMode::Auto);
        assert!(r.network_watch);
        let r = run(&["--gateway", "off", "--network-watch", "off"]);
        assert_eq!(r.gateway, GatewayMode::Off);
        assert!(!r.network_watch);
        let r = run(&["--gateway", "127.0.0.1:8080", "--network-watch", "on"]);
        assert_eq!(
            r.gateway,
            GatewayMode::Fixed("127.0.0.1:8080".parse().unwrap())
        );
        assert!(r.network_watch);
        let bad = Cli::try_parse_from([
            "posture-sync",
            "run",
            "--profile",
            "p",
            "--gateway",
            "router",
        ])
        .unwrap_err()
        .to_string();
        assert!(bad.contains("auto"), "{bad}");
    }
}
