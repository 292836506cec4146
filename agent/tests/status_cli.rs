//! `posture-sync status` against the real binary: no agent, a live control
//! server (started in-process with the agent's own `control::serve`), the
//! socket's permissions and protocol errors, and a reader that goes away.
//! Unix only until the status socket exists on Windows.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use posture_sync::control;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

/// The status object from the contract in docs/cli.md.
fn sample_status() -> Value {
    json!({
        "phase": "known",
        "posture": "Compliant",
        "session_id": "0a0b0c0d",
        "connected_psn": "127.0.0.1:8443",
        "sync": { "enabled": true, "stopped_reason": null },
        "last_probe": { "at": "2026-11-21T22:00:00Z", "target": "127.0.0.1:8449", "outcome": "blocked" },
        "counters": { "probe_rounds": 12, "discovery_restarts": 1, "misconfigurations": 0 }
    })
}

/// A control server on its own thread and runtime; stops when dropped.
struct TestAgent {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestAgent {
    fn start(socket: &Path, status: Value) -> TestAgent {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let socket = socket.to_path_buf();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (_tx, rx) =
                    watch::channel(posture_sync::status_report::Snapshot::fixed(status));
                let server = control::serve(&socket, rx).unwrap();
                ready_tx.send(()).unwrap();
                let _ = stop_rx.await;
                server.shutdown();
            });
        });
        ready_rx
            .recv_timeout(test_support::wait_bound())
            .expect("control server did not start");
        TestAgent {
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// Test harness: runs the binary under test with a scrubbed environment.
#[allow(clippy::disallowed_methods)]
fn status_command(state_dir: &Path, json: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_posture-sync"));
    cmd.env_clear()
        .arg("status")
        .arg("--state-dir")
        .arg(state_dir);
    if json {
        cmd.arg("--json");
    }
    cmd
}

fn run(state_dir: &Path, json: bool) -> Output {
    status_command(state_dir, json).output().unwrap()
}

fn state_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    (tmp, state)
}

#[test]
fn no_agent_exits_3_with_a_message() {
    let (_tmp, state) = state_dir();
    for json in [true, false] {
        let out = run(&state, json);
        assert_eq!(out.status.code(), Some(3));
        if json {
            // Fleet scripts parse stdout: one object saying no agent runs.
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["running"], false, "{v}");
            assert_eq!(v["state_dir"], state.display().to_string(), "{v}");
            assert!(
                v["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("no posture-sync agent is running"),
                "{v}"
            );
        } else {
            assert!(out.stdout.is_empty());
        }
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            stderr,
            format!(
                "posture-sync: no posture-sync agent is running (no status socket at {})\n",
                state.join("agent.sock").display()
            )
        );
    }
    // A stale socket with nothing behind it: still "no agent".
    drop(std::os::unix::net::UnixListener::bind(state.join("agent.sock")).unwrap());
    let out = run(&state, true);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing answers"));
}

#[test]
fn live_agent_json_and_summary() {
    let (_tmp, state) = state_dir();
    let socket = state.join("agent.sock");
    let agent = TestAgent::start(&socket, sample_status());
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let out = run(&state, true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "{stdout:?}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v, sample_status());

    // The summary: one line per contract key, with the agent's values.
    let out = run(&state, false);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = |label: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in {stdout}"))
            .to_string()
    };
    assert!(line("phase:").ends_with(" known"), "{stdout}");
    assert!(line("posture:").ends_with(" Compliant"), "{stdout}");
    assert!(line("session:").ends_with(" 0a0b0c0d"), "{stdout}");
    assert!(line("state sync:").contains("enabled"), "{stdout}");
    let probe = line("last probe:");
    for part in ["2026-11-21T22:00:00Z", "127.0.0.1:8449", "blocked"] {
        assert!(probe.contains(part), "{stdout}");
    }
    assert!(line("counters:").contains("12"), "{stdout}");
    drop(agent);

    // A reply this build cannot type (another agent version) still gets a summary.
    let mut odd = sample_status();
    odd["phase"] = json!("hibernating");
    let _agent = TestAgent::start(&socket, odd);
    let out = run(&state, false);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("phase:         hibernating\n"),
        "{stdout}"
    );
}

#[test]
fn garbage_over_the_socket_gets_an_error_line() {
    let (_tmp, state) = state_dir();
    let socket = state.join("agent.sock");
    let _agent = TestAgent::start(&socket, sample_status());
    for request in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"\xff\xff\n", &[b'x'; 2000]] {
        let mut s = UnixStream::connect(&socket).unwrap();
        s.set_read_timeout(Some(test_support::wait_bound()))
            .unwrap();
        s.write_all(request).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert_eq!(reply.matches('\n').count(), 1, "{reply:?}");
        let v: Value = serde_json::from_str(&reply).unwrap();
        assert!(v["error"].is_string(), "{reply}");
    }
    // Still serving.
    assert_eq!(run(&state, true).status.code(), Some(0));
}

#[test]
fn a_reader_that_goes_away_is_not_a_crash() {
    let (_tmp, state) = state_dir();
    let socket = state.join("agent.sock");
    // Larger than a pipe buffer, so the command is still writing when the
    // reader is gone and gets EPIPE.
    let mut status = sample_status();
    status["padding"] = Value::String("p".repeat(300 * 1024));
    let _agent = TestAgent::start(&socket, status);
    let mut child = status_command(&state, true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
