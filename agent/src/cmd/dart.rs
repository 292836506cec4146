//! `posture-sync dart -o FILE.zip`: writes a diagnostic bundle (see
//! [`crate::dart`]), one progress line per collected part on stderr and the
//! bundle's path on stdout.
//!
//! The profile in the bundle: `--profile FILE` if given; else the one the
//! running agent says it runs with (the `profile` key of its status); else
//! the installed one; else none ([`choose_profile`]).
//!
//! Exit codes: 0 written, 1 failed (also when the state or log dir is not
//! private to the user: `docs/cli.md`, Directories).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::cli::DartArgs;
use crate::dart::{self, BundleSpec, ProfileSource, StatusSource};
use crate::install::{Platform, ProcessEnv, default_profiles};

/// Exit code when the bundle could not be written.
pub const EXIT_FAILURE: u8 = 1;

/// Entry point.
pub fn main(args: DartArgs) -> ExitCode {
    // The status socket, the logs and the history are read from these dirs:
    // only when no other user can have put things there.
    let dirs = match super::checked_dirs(args.state_dir, args.log_dir, EXIT_FAILURE) {
        Ok(d) => d,
        Err(exit) => return exit,
    };
    let status = crate::control::query(&dirs.socket_path()).map_err(|e| e.to_string());
    let (profile, profile_source) = choose_profile(args.profile, status.as_ref().ok(), || {
        default_profiles(Platform::current(), &ProcessEnv)
            .into_iter()
            .find(|p| p.is_file())
    });
    if let Some(p) = &profile {
        super::print_err(format_args!(
            "profile {} ({})",
            p.display(),
            profile_source.describe()
        ));
    }
    let spec = BundleSpec {
        dirs,
        output: args.output,
        profile,
        profile_source,
        ca_file: args.ca_file,
        status: StatusSource::Asked(status),
        reason: None,
        rounds: dart::DEFAULT_ROUNDS,
    };
    // A reader that went away (`dart 2>&1 | head -1`) must not stop the bundle.
    let mut progress = |line: &str| super::print_err(format_args!("{line}"));
    match dart::collect(&spec, &mut progress) {
        Ok(report) => {
            let mut out = io::stdout().lock();
            // `dart | head`: a closed stdout must not turn success into failure.
            let _ = writeln!(
                out,
                "{} ({} parts; open summary.html first)",
                report.path.display(),
                report.parts.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            super::print_err(format_args!("{e}"));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The profile to bundle and where it came from: `flag` wins; else the
/// absolute path the running agent reports (`status` is its answer, `None`
/// when no agent answered); else `installed()`.
pub fn choose_profile(
    flag: Option<PathBuf>,
    status: Option<&Value>,
    installed: impl FnOnce() -> Option<PathBuf>,
) -> (Option<PathBuf>, ProfileSource) {
    if let Some(p) = flag {
        return (Some(p), ProfileSource::Flag);
    }
    let from_agent = status
        .and_then(|s| s.get("profile"))
        .and_then(Value::as_str)
        .map(PathBuf::from)
        // The agent sends an absolute path; anything else would resolve
        // against this command's working directory, not the agent's.
        .filter(|p| p.is_absolute());
    if let Some(p) = from_agent {
        return (Some(p), ProfileSource::RunningAgent);
    }
    match installed() {
        Some(p) => (Some(p), ProfileSource::Installed),
        None => (None, ProfileSource::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_flag_then_the_running_agent_then_the_installed_profile() {
        let agent = json!({"phase": "known", "profile": "/srv/agent/profile.xml"});
        let installed = || Some(PathBuf::from("/etc/posture-sync/ISEPostureCFG.xml"));
        assert_eq!(
            choose_profile(Some("given.xml".into()), Some(&agent), installed),
            (Some("given.xml".into()), ProfileSource::Flag)
        );
        assert_eq!(
            choose_profile(None, Some(&agent), installed),
            (
                Some("/srv/agent/profile.xml".into()),
                ProfileSource::RunningAgent
            )
        );
        // No agent, an older agent without the key, or a relative path.
        for status in [
            None,
            Some(json!({"phase": "known"})),
            Some(json!({"phase": "known", "profile": "rel.xml"})),
        ] {
            assert_eq!(
                choose_profile(None, status.as_ref(), installed),
                (
                    Some("/etc/posture-sync/ISEPostureCFG.xml".into()),
                    ProfileSource::Installed
                )
            );
        }
        assert_eq!(
            choose_profile(None, None, || None),
            (None, ProfileSource::None)
        );
    }
}
