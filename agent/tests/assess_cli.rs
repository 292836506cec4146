//! `posture-sync assess --dry-run --policy FILE` run as a real process on
//! this machine: each requirement's result and reason, and the exit code.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test harness: spawning the binary under test is the point.
#![allow(clippy::disallowed_methods)]

use std::process::{Command, Output};

fn posture_sync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_posture-sync"))
        .args(args)
        .env_clear()
        .env("HOME", "/nonexistent-home")
        .output()
        .expect("run posture-sync")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn a_passing_policy_exits_0_and_names_each_result() {
    let dir = tempfile::tempdir().unwrap();
    let present = write(&dir, "marker", "x");
    let policy = write(
        &dir,
        "policy.json",
        &format!(
            r#"{{"requirements":[
                {{"id":"marker","mandatory":true,"checks":[{{"type":"file-exists","path":"{present}"}}]}},
                {{"id":"kernel","mandatory":true,"checks":[{{"type":"os-version","name":"linux","min":"2.6"}}]}},
                {{"id":"screen","mandatory":false,"remediation":"Lock the screen after 15 minutes.",
                  "checks":[{{"type":"screen-lock","max_minutes":15}}]}}]}}"#
        ),
    );
    let out = posture_sync(&["assess", "--dry-run", "--policy", &policy]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("PASS  marker: {present} exists\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS  kernel: the Linux kernel is "),
        "{stdout}"
    );
    assert!(stdout.contains("  screen (optional): "), "{stdout}");
    assert!(
        stdout.ends_with("compliant: every mandatory requirement passed (3 requirements)\n"),
        "{stdout}"
    );
}

#[test]
fn a_failing_mandatory_requirement_exits_5_with_reason_and_remediation() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        &dir,
        "requirements.xml",
        r#"<requirements session="saved" version="2">
  <requirement id="edr" remediation="Install the EDR agent from the self-service portal.">
    <check type="package-version" name="posture-sync-test-absent-package" min="1.0"/>
  </requirement>
  <requirement id="future-os"><check type="os-version" name="linux" min="999"/></requirement>
</requirements>"#,
    );
    let out = posture_sync(&["assess", "--dry-run", "--policy", &policy, "--json"]);
    assert_eq!(out.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["compliant"], false);
    let edr = &v["requirements"][0];
    assert_eq!(edr["id"], "edr");
    assert_eq!(edr["passed"], false);
    assert_eq!(
        edr["remediation"],
        "Install the EDR agent from the self-service portal."
    );
    // Not installed, or the package database is unreadable here: either
    // way a reason, never a pass.
    assert!(
        edr["reason"]
            .as_str()
            .unwrap()
            .starts_with("package posture-sync-test-absent-package "),
        "{edr}"
    );
    assert!(
        v["requirements"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("older than the linux 999 or later required"),
        "{v}"
    );

    let text = posture_sync(&["assess", "--dry-run", "--policy", &policy]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("FAIL  edr: package posture-sync-test-absent-package ")
            && stdout.contains(
                "\n      what to do: Install the EDR agent from the self-service portal.\n"
            )
            && stdout.ends_with("non-compliant: 2 mandatory requirements failed: edr, future-os\n"),
        "{stdout}"
    );
}

#[test]
fn a_bad_policy_exits_1_and_no_dry_run_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        &dir,
        "p.json",
        r#"{"requirements":[{"id":"u","mandatory":true,"checks":[{"type":"screen-lock","max_minutes":5000}]}]}"#,
    );
    let out = posture_sync(&["assess", "--dry-run", "--policy", &policy]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("posture-sync: {policy} is not a policy: "))
            && stderr.contains("max-minutes"),
        "{stderr}"
    );
    let out = posture_sync(&["assess", "--policy", &policy]);
    assert_eq!(out.status.code(), Some(2));
}
