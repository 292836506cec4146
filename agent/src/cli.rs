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
    /// Check or describe posture profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Start the agent at login for the current user (systemd user unit or
    /// XDG autostart on Linux, LaunchAgent on macOS, Run key on Windows),
    /// or with --system for every user (Linux, as root).
    Install(InstallArgs),
    /// Stop starting the agent at login for the current user (or with
    /// --system for every user).
    Uninstall(UninstallArgs),
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
    /// Register the agent for every user of this machine (Linux, as root):
    /// a global systemd user unit and /etc/xdg/autostart, running
    /// /etc/posture-sync/ISEPostureCFG.xml (--profile FILE is copied there).
    #[arg(long)]
    pub system: bool,
}

/// Flags of `posture-sync uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Remove the registration for every user made by `install --system`
    /// (as root); the profile in /etc/posture-sync stays unless --purge.
    #[arg(long)]
    pub system: bool,
    /// Also remove the current user's state, logs and bundles (with
    /// --system: the system-wide profile instead).
    #[arg(long)]
    pub purge: bool,
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
