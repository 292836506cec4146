//! `posture-sync dart [-o FILE.zip] [--force]`: writes a diagnostic bundle
//! (see [`crate::dart`]), one progress line per collected part on stderr and
//! the bundle's path on stdout. `dart --summary [FILE.zip]` prints the
//! findings instead (the agent's, or a bundle's), writing nothing. Without `-o` the bundle is
//! `posture-sync-dart-<host>-<UTC time>.zip` in the current directory
//! ([`default_name`]); an existing file is replaced only with `--force`.
//!
//! The profile in the bundle: `--profile FILE` if given; else the one the
//! running agent says it runs with (the `profile` key of its status); else
//! the installed one; else none ([`choose_profile`]).
//!
//! Exit codes: 0 written, 73 (EX_CANTCREAT) the output exists and no
//! `--force`, 1 failed (also when the state or log dir is not private to the
//! user: `docs/cli.md`, Directories).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use serde_json::Value;

use crate::cli::DartArgs;
use crate::dart::{self, BundleSpec, DartError, ProfileSource, StatusSource};

/// Exit code when the bundle could not be written.
pub const EXIT_FAILURE: u8 = crate::exit::FAILURE;
/// Exit code when the output exists and `--force` was not given.
pub const EXIT_EXISTS: u8 = crate::exit::EX_CANTCREAT;

/// Entry point.
pub fn main(args: DartArgs) -> ExitCode {
    if let Some(Some(bundle)) = &args.summary {
        return match dart::sources::text_of_bundle(bundle) {
            Ok(text) => print_out(&text),
            Err(e) => {
                super::print_err(format_args!("{e}"));
                ExitCode::from(EXIT_FAILURE)
            }
        };
    }
    // The status socket, the logs and the history are read from these dirs:
    // only when no other user can have put things there.
    let dirs = match super::checked_dirs(args.state_dir, args.log_dir, EXIT_FAILURE) {
        Ok(d) => d,
        Err(exit) => return exit,
    };
    let status = crate::control::query(&dirs.socket_path()).map_err(|e| e.to_string());
    if args.summary.is_some() {
        let (profile, _) = choose_profile(args.profile, status.as_ref().ok(), || {
            super::installed_profile().ok()
        });
        return print_out(&dart::summary_text(&dirs, profile.as_deref(), status));
    }
    let output = args
        .output
        .unwrap_or_else(|| default_name(&crate::platform::host_name(), SystemTime::now()));
    // Before collecting anything: the answer comes at once, not after the
    // whole bundle was made (collect_new checks again when it writes).
    if !args.force && std::fs::symlink_metadata(&output).is_ok() {
        super::print_err(format_args!("{}", DartError::Exists { path: output }));
        return ExitCode::from(EXIT_EXISTS);
    }
    let (profile, profile_source) = choose_profile(args.profile, status.as_ref().ok(), || {
        super::installed_profile().ok()
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
        output,
        profile,
        profile_source,
        ca_file: args.ca_file,
        status: StatusSource::Asked(status),
        reason: None,
        rounds: dart::DEFAULT_ROUNDS,
    };
    // A reader that went away (`dart 2>&1 | head -1`) must not stop the bundle.
    let mut progress = |line: &str| super::print_err(format_args!("{line}"));
    let written = if args.force {
        dart::collect(&spec, &mut progress)
    } else {
        dart::collect_new(&spec, &mut progress)
    };
    match written {
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
            let code = match e {
                DartError::Exists { .. } => EXIT_EXISTS,
                _ => EXIT_FAILURE,
            };
            ExitCode::from(code)
        }
    }
}

/// Prints `text` on stdout; a closed stdout (`dart --summary | head`) is
/// not a failure.
fn print_out(text: &str) -> ExitCode {
    let _ = io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// The bundle's name without `-o`: `posture-sync-dart-<host>-<UTC time>.zip`
/// (`crate::cli::DART_NAME_PATTERN`), relative, so in the current
/// directory. The host is reduced to letters, digits, `.` and `-` (at most
/// 63 characters, a DNS label's limit), so a strange host name can neither
/// leave the directory nor make a name some file system refuses; the time is
/// to the second, without `:` (refused on Windows).
pub fn default_name(host: &str, now: SystemTime) -> PathBuf {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let host = host.trim_matches('.');
    let host = if host.is_empty() { "unknown" } else { host };
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    PathBuf::from(format!("posture-sync-dart-{host}-{stamp}.zip"))
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
    fn the_default_name_has_the_host_and_the_utc_time_and_stays_in_the_directory() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_314_500);
        assert_eq!(
            default_name("ws-042.corp.example", at),
            PathBuf::from("posture-sync-dart-ws-042.corp.example-20261203T161500Z.zip")
        );
        for host in ["../../etc/x", "a/b\\c:d", "..", "", "h\u{e9}te"] {
            let name = default_name(host, at);
            assert_eq!(name.components().count(), 1, "{host:?} -> {name:?}");
            let text = name.to_str().unwrap();
            assert!(text.starts_with("posture-sync-dart-"), "{text}");
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
                "{text}"
            );
        }
        assert_eq!(
            default_name("", at),
            PathBuf::from("posture-sync-dart-unknown-20261203T161500Z.zip")
        );
    }

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
