//! `posture-sync install` / `posture-sync uninstall`: launch at login for the
//! current user, or with `--system` for every user (see [`crate::install`]
//! and [`crate::install::system`]). Prints one line per change.
//!
//! Exit codes: 0 done (or nothing to do), 1 failed.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::{InstallArgs, UninstallArgs};
use crate::install::system::{self, SystemTarget};
use crate::install::{self, Change, Context, InstallError, Platform, ProcessEnv, SystemRunner};

/// Exit code when installing or uninstalling failed.
pub const EXIT_FAILURE: u8 = 1;

/// `posture-sync install`.
pub fn install(args: InstallArgs) -> ExitCode {
    if args.system {
        let target = SystemTarget::this_machine();
        with_context(|ctx| system::install_system(ctx, &target, args.profile.as_deref()))
    } else {
        if SystemTarget::this_machine().is_admin && Platform::current() != Platform::Windows {
            // The mistake a deployment tool makes: its installer runs as
            // root, so a per-user install registers root's own login.
            super::print_err(format_args!(
                "note: running as root, this registers root's own login only; `posture-sync install --system` registers every user"
            ));
        }
        with_context(|ctx| install::install(ctx, args.profile.as_deref()))
    }
}

/// `posture-sync uninstall`.
pub fn uninstall(args: UninstallArgs) -> ExitCode {
    if args.system {
        let target = SystemTarget::this_machine();
        with_context(|ctx| system::uninstall_system(ctx, &target, args.purge))
    } else {
        with_context(|ctx| install::uninstall_user(ctx, args.purge))
    }
}

fn with_context(f: impl FnOnce(&mut Context<'_>) -> Result<Vec<Change>, InstallError>) -> ExitCode {
    // The login entry must start this very binary, wherever it was installed.
    let binary = match std::env::current_exe().and_then(std::fs::canonicalize) {
        Ok(b) => b,
        Err(e) => {
            super::print_err(format_args!("cannot find the path of this program: {e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let env = ProcessEnv;
    let mut runner = SystemRunner;
    let mut ctx = Context {
        platform: Platform::current(),
        env: &env,
        binary,
        runner: &mut runner,
    };
    match f(&mut ctx) {
        Ok(changes) => {
            let mut out = io::stdout().lock();
            for c in changes {
                // `install | head`: the reader went away; the work is done.
                if writeln!(out, "{c}").is_err() {
                    break;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            super::print_err(format_args!("{e}"));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
