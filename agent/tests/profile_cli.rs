//! `posture-sync profile check|schema` run as a real process on the
//! profile-schema fixtures.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test harness: spawning the binary under test is the point.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../profile-schema/tests/fixtures")
        .join(name)
}

fn posture_sync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_posture-sync"))
        .args(args)
        .env_clear()
        .output()
        .expect("run posture-sync")
}

fn check(name: &str) -> (Option<i32>, String, String, String) {
    let path = fixture(name);
    let path = path.to_str().expect("utf-8 path").to_owned();
    let out = posture_sync(&["profile", "check", &path]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path,
    )
}

#[test]
fn valid_profile_exits_0_with_a_summary_and_notes_on_stderr() {
    let (code, stdout, stderr, path) = check("full.xml");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "{path}: valid profile ({} known keys, 15 unknown kept, 0 warnings)\n",
            profile_schema::KEYS.len()
        )
    );
    assert!(
        stderr.contains(&format!(
            "{path}:37:5: note: RetryDetection: unknown key, kept but not used by posture-sync\n"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("warning:"), "{stderr}");
}

#[test]
fn warnings_go_to_stderr_with_help_and_exit_0() {
    let (code, stdout, stderr, path) = check("seed.xml");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "{path}: valid profile (27 known keys, 0 unknown kept, 3 warnings)"
        )),
        "{stdout}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 6, "{stderr}");
    assert_eq!(
        lines[0],
        format!("{path}:3:5: warning: ServerNameRules: `*` accepts any host name")
    );
    assert!(lines[1].starts_with("  help: "), "{stderr}");
    assert!(
        lines[4].starts_with(&format!(
            "{path}:25:5: warning: StateSyncProbeInterval: 10 s is a short interval"
        )),
        "{stderr}"
    );
}

#[test]
fn invalid_profiles_exit_1_with_file_line_col_lines() {
    for (name, want) in [
        (
            "err-range.xml",
            "2:5: StateSyncProbeInterval: 400 is out of range 0-300",
        ),
        (
            "err-type.xml",
            "3:5: DartCount: `three` is not a whole number (allowed 0-100)",
        ),
        (
            "err-duplicate.xml",
            "4:5: StateSyncProbeInterval: duplicate key (first at 2:5); a key may appear once",
        ),
        (
            "err-root.xml",
            "2:1: root element is <config>; a profile's root element is <cfg>",
        ),
        (
            "err-dtd.xml",
            "2:1: a DTD (<!DOCTYPE ...>) is not allowed in a profile; remove it",
        ),
        (
            "err-nested.xml",
            "4:9: CallHomeList: element <Host> inside <CallHomeList>; this key holds plain text: comma-separated `host` or `host:port`",
        ),
        (
            "err-unclosed.xml",
            "3:1: unexpected end of file: <cfg> is not closed",
        ),
    ] {
        let (code, stdout, stderr, path) = check(name);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert_eq!(stdout, "", "{name}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines,
            vec![
                format!("{path}:{want}"),
                format!("{path}: invalid profile: 1 error")
            ],
            "{name}"
        );
    }
}

#[test]
fn every_error_is_listed() {
    let (code, _, stderr, path) = check("err-several.xml");
    assert_eq!(code, Some(1));
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(&format!("{path}:")))
        .collect();
    // DisableUAC=yes is not an error: the agent does not use that key
    // (a lint warning once the profile is otherwise valid).
    assert_eq!(errors.len(), 4, "{stderr}");
    assert_eq!(errors[3], format!("{path}: invalid profile: 3 errors"));
    assert!(!stderr.contains("DisableUAC"), "{stderr}");
    assert!(errors[1].starts_with(&format!(
        "{path}:3:5: NetworkTransitionDelay: 1 is out of range 2-30"
    )));
}

#[test]
fn missing_file_is_no_profile_exit_2() {
    let (code, stdout, stderr, path) = check("no-such-profile.xml");
    assert_eq!(code, Some(2));
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with(&format!("posture-sync: no profile at {path}: ")),
        "{stderr}"
    );
}

#[test]
fn schema_prints_json_for_every_key() {
    let out = posture_sync(&["profile", "schema"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    assert_eq!(json["root"], "cfg");
    let keys = json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), profile_schema::KEYS.len());
    let sync = keys
        .iter()
        .find(|k| k["name"] == "StateSyncProbeInterval")
        .expect("sync key");
    assert_eq!(
        (sync["min"].as_u64(), sync["max"].as_u64()),
        (Some(0), Some(300))
    );
}

#[test]
fn schema_piped_into_a_closed_reader_does_not_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_posture-sync"))
        .args(["profile", "schema"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Close our end of stdout at once, like `| head -c0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// An empty ServerNameRules no longer accepts any host: `profile check`
/// says which hosts it stands for, as a note (the safe default is no
/// mistake), and the summary counts no warning for it.
#[test]
fn an_empty_server_name_rules_is_explained_with_the_derived_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.xml");
    std::fs::write(
        &path,
        "<cfg>\n<StateSyncProbeInterval>60</StateSyncProbeInterval>\n<NetworkTransitionDelay>10</NetworkTransitionDelay>\n<CallHomeList>psn1.corp.example, 10.1.2.3</CallHomeList>\n</cfg>\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let out = posture_sync(&["profile", "check", p]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("{p}:1:1: note: ServerNameRules: empty, so the agent accepts only the hosts this profile names and their domains: `*.corp.example, 10.1.2.3`")),
        "{stderr}"
    );
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 warnings"));
}

#[test]
fn server_ports_and_content_check_paths_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.xml");
    std::fs::write(
        &path,
        "<cfg>\n<ServerPorts>8449, 9000-8000</ServerPorts>\n<ContentCheckPaths>etc/ssh, \\\\files\\share</ContentCheckPaths>\n</cfg>\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let out = posture_sync(&["profile", "check", p]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for line in [
        format!("{p}:2:1: ServerPorts: range `9000-8000` ends (8000) before it starts (9000)"),
        format!("{p}:3:1: ContentCheckPaths: `etc/ssh` is not an absolute path"),
        format!(
            "{p}:3:1: ContentCheckPaths: `\\\\files\\share` is a network or device path; allowed are local absolute paths"
        ),
    ] {
        assert!(stderr.contains(&line), "missing {line}\n{stderr}");
    }
}

/// Waits for `child` (bounded by `test_support::wait_bound()`); a child
/// still running then is killed and the test fails, instead of hanging on it.
#[cfg(unix)]
fn wait_bounded(child: std::process::Child) -> Output {
    // The probe polls it, the timeout kills it.
    let child = std::cell::RefCell::new(child);
    test_support::wait_until(
        "posture-sync to exit",
        || child.borrow_mut().try_wait().expect("wait"),
        || {
            let mut child = child.borrow_mut();
            let _ = child.kill();
            let _ = child.wait();
            "it was still running (killed now)".to_owned()
        },
    );
    child.into_inner().wait_with_output().expect("output")
}

#[cfg(unix)]
#[test]
fn a_fifo_is_not_a_regular_file_exit_2_without_hanging() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("ISEPostureCFG.xml");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success(), "mkfifo failed: {status}");
    let path = fifo.to_str().expect("utf-8 path");
    let child = Command::new(env!("CARGO_BIN_EXE_posture-sync"))
        .args(["profile", "check", path])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = wait_bounded(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "posture-sync: no profile at {path}: it is a FIFO (named pipe), not a regular file; a profile must be a regular file\n"
        )
    );
    assert!(out.stdout.is_empty());
}

#[cfg(unix)]
#[test]
fn a_device_or_a_directory_is_not_a_regular_file_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_path = dir.path().to_str().expect("utf-8 path").to_owned();
    for (path, what) in [
        ("/dev/zero".to_owned(), "a character device"),
        (dir_path, "a directory"),
    ] {
        let out = posture_sync(&["profile", "check", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "no profile at {path}: it is {what}, not a regular file"
            )),
            "{stderr}"
        );
    }
}
