//! Command-line pieces both lab binaries (`psn-lab`, `mdm-lab`) share: the
//! logging flag and the `ctl` arguments (the lab directory of the running
//! server, then the admin call). Each binary keeps its own subcommands and
//! calls; only the flags that must mean the same in both live here.

use std::path::PathBuf;

use clap::Subcommand;

/// Default lab directory of both binaries: mdm-lab defaults to psn-lab's, so
/// that the two share one lab CA.
pub const DEFAULT_LAB_DIR: &str = "psn-lab";

/// The logging flag (global: accepted before or after the subcommand).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LogArgs {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
}

/// `ctl`: the lab directory of the running server (whose ready file names the
/// admin API and its token) and the call `C`.
#[derive(Debug, clap::Args)]
pub struct CtlArgs<C: Subcommand> {
    /// Lab directory of the running lab.
    #[arg(long, default_value = DEFAULT_LAB_DIR, global = true)]
    pub dir: PathBuf,
    /// The call.
    #[command(subcommand)]
    pub call: C,
}
