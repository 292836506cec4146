//! The real `posture-sync` binary on untrusted ground: a state dir other
//! users can write or own is refused before anything is created in it, and
//! a symbolic link planted at the name of one of the agent's files (lock,
//! log) is neither followed nor chmodded (docs/cli.md, Directories).
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]
// A test harness: it runs the binary under test.
#![allow(clippy::disallowed_methods)]

mod cli_fixture;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cli_fixture::{MAC, Running, posture_sync};
use test_support::wait_until;

/// A valid profile whose discovery target refuses (port 1 on loopback).
fn profile(dir: &Path) -> PathBuf {
    let p = dir.join("profile.xml");
    std::fs::write(
        &p,
        "<?xml version=\"1.0\"?>\n<cfg>\n  <StateSyncProbeInterval>5</StateSyncProbeInterval>\n  \
         <CallHomeList>127.0.0.1:1</CallHomeList>\n</cfg>\n",
    )
    .unwrap();
    p
}

fn run_cmd(home: &Path, args: &[&std::ffi::OsStr]) -> Command {
    let mut c = posture_sync(home);
    c.arg("run").args(args).args([
        "--mac",
        MAC,
        "--gateway",
        "off",
        "--network-watch",
        "off",
        "--start-spread",
        "0",
    ]);
    c
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `run --state-dir state`, which must exit at once: the exit code and
/// stderr. An agent that starts instead is killed and the test fails.
fn run_once(tmp: &Path, state: &Path) -> (Option<i32>, String) {
    let p = profile(tmp);
    let stderr_path = tmp.join("run-once.stderr");
    let child = run_cmd(
        tmp,
        &[
            "--profile".as_ref(),
            p.as_os_str(),
            "--state-dir".as_ref(),
            state.as_os_str(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&stderr_path).unwrap())
    .spawn()
    .unwrap();
    let mut agent = Running(child);
    let status = wait_until(
        &format!("posture-sync run to refuse {} and exit", state.display()),
        || agent.0.try_wait().unwrap(),
        || std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    );
    (
        status.code(),
        std::fs::read_to_string(&stderr_path).unwrap(),
    )
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// Whether the test runs; says why not, or fails where every test must
/// run (CI sets `POSTURE_SYNC_REQUIRE_ALL`).
fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    let why = "needs root to give a directory to another uid; CI runs it as root";
    assert!(
        std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_none(),
        "{test} cannot run here ({why}), and POSTURE_SYNC_REQUIRE_ALL requires every test to run"
    );
    eprintln!("SKIPPED {test}: {why}");
    false
}

#[test]
fn run_refuses_a_state_dir_writable_by_others_and_creates_nothing_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("x");
    std::fs::create_dir(&state).unwrap();
    chmod(&state, 0o777);
    let (code, stderr) = run_once(tmp.path(), &state);
    // EX_CONFIG: a directory to fix, which a restart cannot cure.
    assert_eq!(code, Some(78), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "posture-sync: the state directory {0} is writable by other users (mode 0777)\nhelp: chmod 700 {0}, or choose another --state-dir\n",
            state.display()
        )
    );
    assert!(entries(&state).is_empty(), "created {:?}", entries(&state));
    assert_eq!(mode(&state), 0o777, "the dir is left as it was");
}

#[test]
fn run_refuses_a_state_dir_of_another_user_and_creates_nothing_in_it() {
    if !root_or_skip("run_refuses_a_state_dir_of_another_user_and_creates_nothing_in_it") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("theirs");
    std::fs::create_dir(&state).unwrap();
    chmod(&state, 0o700);
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let (code, stderr) = run_once(tmp.path(), &state);
    // EX_CONFIG: a directory to fix, which a restart cannot cure.
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "posture-sync: the state directory {} is owned by uid 65534, not by uid 0 who runs posture-sync\nhelp: run posture-sync as uid 65534",
            state.display()
        )),
        "{stderr}"
    );
    assert!(entries(&state).is_empty(), "created {:?}", entries(&state));
}

#[test]
fn a_symlink_at_the_lock_file_name_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    chmod(&victim, 0o644);
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    chmod(&state, 0o700);
    std::os::unix::fs::symlink(&victim, state.join("agent.lock")).unwrap();
    let (code, stderr) = run_once(tmp.path(), &state);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("agent.lock") && stderr.contains("symbolic link"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
}

#[test]
fn a_symlink_at_the_log_file_name_is_neither_appended_to_nor_chmodded() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    chmod(&victim, 0o644);
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    chmod(&logs, 0o700);
    std::os::unix::fs::symlink(&victim, logs.join("posture-sync.log")).unwrap();
    let p = profile(tmp.path());
    let stderr_path = tmp.path().join("stderr.log");
    let state = tmp.path().join("state");
    let agent = Running(
        run_cmd(
            tmp.path(),
            &[
                "--profile".as_ref(),
                p.as_os_str(),
                "--state-dir".as_ref(),
                state.as_os_str(),
                "--log-dir".as_ref(),
                logs.as_os_str(),
            ],
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap(),
    );
    // The writer says once that it cannot use the file, and why.
    let stderr = wait_until(
        "the agent to say it cannot write the log file",
        || {
            let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            text.contains("cannot write the log file").then_some(text)
        },
        || std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    );
    drop(agent);
    assert!(
        stderr.contains(&format!(
            "cannot write the log file {}: it is a symbolic link",
            logs.join("posture-sync.log").display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
}
