//! What `posture-sync run` says and returns when it cannot start.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::process::Command;

use e2e_tests::{MAC, binaries};

#[allow(clippy::disallowed_methods)] // the binary under test
fn run(dir: &std::path::Path, profile: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(&binaries().agent)
        .arg("run")
        .args(e2e_tests::roaming_args(false))
        .arg("--profile")
        .arg(profile)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--mac", MAC])
        .args(extra)
        .env_clear()
        .output()
        .unwrap()
}

/// Writes `xml` to `dir/name`; its path.
fn write_profile(dir: &std::path::Path, name: &str, xml: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, xml).unwrap();
    path
}

#[test]
fn an_invalid_profile_is_reported_with_file_line_and_column_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = write_profile(
        tmp.path(),
        "profile.xml",
        "<cfg>\n  <StateSyncProbeInterval>999</StateSyncProbeInterval>\n</cfg>\n",
    );
    let out = run(tmp.path(), &profile, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:3:", profile.display())),
        "{stderr}"
    );
    assert!(stderr.contains("StateSyncProbeInterval"), "{stderr}");
    assert!(!tmp.path().join("state").join("agent.sock").exists());
}

#[test]
fn a_missing_profile_exits_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("nowhere.xml");
    let out = run(tmp.path(), &profile, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nowhere.xml"), "{stderr}");
}

#[test]
fn a_bad_ca_file_or_mac_exits_1_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = write_profile(
        tmp.path(),
        "profile.xml",
        "<cfg><CallHomeList>127.0.0.1:1</CallHomeList></cfg>",
    );
    let empty = write_profile(tmp.path(), "empty.pem", "");
    let out = run(
        tmp.path(),
        &profile,
        &["--ca-file", empty.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("empty.pem"), "{stderr}");

    #[allow(clippy::disallowed_methods)] // the binary under test
    let out = Command::new(&binaries().agent)
        .arg("run")
        .args(e2e_tests::roaming_args(false))
        .arg("--profile")
        .arg(&profile)
        .arg("--state-dir")
        .arg(tmp.path().join("state2"))
        .args(["--mac", "not-a-mac"])
        .env_clear()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--mac"), "{stderr}");
}

/// `--ca-only` trusts only the CA file; without one there would be nothing
/// to trust, so the command line refuses it before anything starts.
#[test]
fn ca_only_needs_a_ca_file() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = write_profile(tmp.path(), "p.xml", "<cfg/>");
    let out = run(tmp.path(), &profile, &["--ca-only"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--ca-file"), "{stderr}");
    assert!(!tmp.path().join("state").exists(), "nothing started");
}
