//! The command line itself, with the real binary: `--version`, the default
//! paths and the EXIT STATUS, FILES and ENVIRONMENT sections in `--help`,
//! `completions SHELL`, and `run` without `--profile`.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]
// A test harness: it runs the binary under test.
#![allow(clippy::disallowed_methods)]

mod cli_fixture;

use std::path::Path;
use std::process::Output;

use cli_fixture::{MAC, posture_sync};

/// `posture-sync ARGS` with `HOME` at `home` and the XDG base dirs below it.
fn cli(home: &Path, args: &[&str]) -> Output {
    posture_sync(home)
        .env("XDG_STATE_HOME", home.join("st"))
        .env("XDG_CONFIG_HOME", home.join("cfg"))
        .current_dir(home)
        .args(args)
        .output()
        .unwrap()
}

/// Whitespace runs as one space: help text wraps at the terminal's width.
fn flat(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn version_names_the_version_the_commit_and_the_target() {
    let home = tempfile::tempdir().unwrap();
    let o = cli(home.path(), &["--version"]);
    assert!(o.status.success(), "{o:?}");
    let line = String::from_utf8(o.stdout).unwrap();
    let rest = line
        .strip_prefix(&format!("posture-sync {} (", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{line:?}"));
    let (commit, target) = rest
        .trim_end()
        .strip_suffix(')')
        .and_then(|r| r.split_once(' '))
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(
        commit == "unknown" || (commit.len() == 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line:?}"
    );
    assert_eq!(commit, env!("POSTURE_SYNC_GIT_COMMIT"));
    // The triple has at least an architecture, a vendor or OS, and an OS.
    assert!(target.split('-').count() >= 3, "{line:?}");
    assert!(target.starts_with(std::env::consts::ARCH), "{line:?}");
}

#[test]
fn help_shows_the_resolved_default_paths_and_the_installed_profile() {
    let home = tempfile::tempdir().unwrap();
    let profile = home.path().join("cfg/posture-sync/ISEPostureCFG.xml");
    std::fs::create_dir_all(profile.parent().unwrap()).unwrap();
    std::fs::write(&profile, "<cfg/>").unwrap();
    let state = home.path().join("st/posture-sync");

    let o = cli(home.path(), &["run", "--help"]);
    assert!(o.status.success(), "{o:?}");
    let help = flat(&o.stdout);
    for want in [
        format!("[default: {}]", state.display()),
        format!("[default: {}/logs;", state.display()),
        format!("[default: the installed profile, {}]", profile.display()),
    ] {
        assert!(help.contains(&want), "missing {want}\n{help}");
    }
    assert!(!help.contains("per-user state dir"), "{help}");

    for sub in ["status", "dart"] {
        let o = cli(home.path(), &[sub, "--help"]);
        let help = flat(&o.stdout);
        assert!(
            help.contains(&format!("[default: {}]", state.display())),
            "{sub}: {help}"
        );
    }
}

#[test]
fn long_help_has_exit_status_files_and_environment_short_help_does_not() {
    let home = tempfile::tempdir().unwrap();
    let o = cli(home.path(), &["--help"]);
    assert!(o.status.success(), "{o:?}");
    let help = flat(&o.stdout);
    for want in [
        "Exit status:",
        "0 (EX_OK)",
        "3 (NO_AGENT)",
        "4 (LOCK_HELD)",
        "66 (EX_NOINPUT)",
        "78 (EX_CONFIG)",
        "Files:",
        "/st/posture-sync/logs/posture-sync.log",
        "Environment:",
        "RUST_LOG",
    ] {
        assert!(help.contains(want), "missing {want}\n{help}");
    }
    let short = flat(&cli(home.path(), &["-h"]).stdout);
    assert!(!short.contains("Exit status:"), "{short}");
}

#[test]
fn completions_for_every_shell_go_to_stdout() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = cli(home.path(), &["completions", shell]);
        assert!(o.status.success(), "{shell}: {o:?}");
        let script = String::from_utf8(o.stdout.clone()).unwrap();
        for word in ["posture-sync", "dart", "--state-dir", "completions"] {
            assert!(script.contains(word), "{shell}: no {word}\n{script}");
        }
        assert!(o.stderr.is_empty(), "{shell}: {o:?}");
    }
    let o = cli(home.path(), &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn run_without_profile_uses_the_installed_one_and_says_which() {
    let home = tempfile::tempdir().unwrap();
    let profile = home.path().join("cfg/posture-sync/ISEPostureCFG.xml");
    std::fs::create_dir_all(profile.parent().unwrap()).unwrap();
    // Invalid, so that the agent stops right after choosing it: the exit
    // code and the message show which file it read.
    std::fs::write(
        &profile,
        "<cfg>\n  <StateSyncProbeInterval>999</StateSyncProbeInterval>\n</cfg>\n",
    )
    .unwrap();
    let state = home.path().join("state");
    let state = state.to_str().unwrap();
    let o = cli(home.path(), &["run", "--state-dir", state, "--mac", MAC]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "posture-sync: using the installed profile {}\n",
            profile.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:2:3:", profile.display())),
        "{stderr}"
    );
}

#[test]
fn run_without_profile_and_none_installed_exits_66_naming_where_it_looked() {
    if Path::new("/etc/posture-sync/ISEPostureCFG.xml").exists() {
        eprintln!("SKIPPED: this machine has a system-wide profile installed");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let o = cli(
        home.path(),
        &["run", "--state-dir", state.to_str().unwrap(), "--mac", MAC],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(66), "{stderr}");
    let per_user = home.path().join("cfg/posture-sync/ISEPostureCFG.xml");
    assert!(
        stderr.starts_with(&format!(
            "posture-sync: no profile: none given and none installed (looked for {}, /etc/posture-sync/ISEPostureCFG.xml)\nhelp: pass --profile FILE",
            per_user.display()
        )),
        "{stderr}"
    );
    // Nothing started: the state dir holds only the failed start's record
    // (runs.jsonl, for the bundle) and the log dir, no socket and no lock.
    let mut names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["logs", "runs.jsonl"], "nothing started");
    let runs = std::fs::read_to_string(state.join("runs.jsonl")).unwrap();
    assert!(
        runs.contains("\"failed-start\"") && runs.contains("\"exit\":66"),
        "{runs}"
    );
}
