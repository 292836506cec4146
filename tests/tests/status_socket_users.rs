//! The status socket refuses other users and garbage requests, checked
//! against the real agent binary: as root, `posture-sync status` run as
//! another user (uid 65534 through `setpriv`) is refused by the state dir's
//! permissions; with those permissions opened up (a careless
//! `--state-dir`), by `status` itself (the dir is not that user's), and a
//! client that connects anyway by the agent after reading the peer's
//! credentials.
//! Garbage and overlong requests get an error line and the agent keeps
//! serving. Needs root and `setpriv` (util-linux); skips otherwise.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test instrument: running the agent's own CLI as another user.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Output};

use e2e_tests::{Scenario, binaries, is_known, is_root, tool_runs, wait_until};
use serde_json::Value;

const NOBODY: &str = "65534";

fn status_as_nobody(state: &std::path::Path) -> Output {
    Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(&binaries().agent)
        .args(["status", "--json", "--state-dir"])
        .arg(state)
        .env_clear()
        .env("HOME", "/nonexistent")
        .output()
        .expect("setpriv runs")
}

/// Variable naming the socket for [`raw_status_helper`].
const SOCKET_VAR: &str = "POSTURE_SYNC_TEST_SOCKET";

/// Runs [`raw_status_helper`] (this test binary) as another user: a client
/// that skips the checks `posture-sync status` makes.
fn raw_status_as_nobody(socket: &std::path::Path) -> Output {
    let me = std::env::current_exe().expect("the test binary's path");
    Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(me)
        .args(["--exact", "raw_status_helper", "--ignored", "--nocapture"])
        .env_clear()
        .env(SOCKET_VAR, socket)
        .output()
        .expect("setpriv runs")
}

/// Not a test on its own: prints the agent's reply to `status` on the
/// socket named by [`SOCKET_VAR`]; [`raw_status_as_nobody`] runs it.
#[test]
#[ignore = "a helper that the_status_socket_refuses_other_users_and_garbage runs as another user"]
fn raw_status_helper() {
    let Some(socket) = std::env::var_os(SOCKET_VAR) else {
        return;
    };
    let reply = ask(std::path::Path::new(&socket), b"status\n");
    println!("REPLY {reply}");
}

/// Sends `request` on the socket and returns the one reply line.
fn ask(socket: &std::path::Path, request: &[u8]) -> Value {
    let mut s = UnixStream::connect(socket).expect("connect to the status socket");
    s.set_read_timeout(Some(e2e_tests::wait_bound())).unwrap();
    s.write_all(request).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("a reply");
    serde_json::from_str(reply.trim()).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
}

#[test]
fn the_status_socket_refuses_other_users_and_garbage() {
    if !is_root() || !tool_runs("setpriv", &["--version"]) {
        e2e_tests::skipped(
            "the_status_socket_refuses_other_users_and_garbage",
            "needs root and setpriv (util-linux) to act as another user; CI runs it as root",
        );
        return;
    }
    let (mut s, _) = Scenario::compliant_behind_dacl(&["psn1"]);
    let Scenario { agent, tmp, .. } = &mut s;
    let socket = agent.state.join("agent.sock");

    // 1. The default permissions: the state dir (0700) keeps others out.
    let out = status_as_nobody(&agent.state);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "no status leaked: {out:?}");

    // 2. Everything on the path opened up, as a careless --state-dir would:
    // the connection reaches the agent, which checks the peer's uid.
    let mut dir = agent.state.clone();
    while dir.starts_with(tmp.path()) {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir = dir.parent().unwrap().to_owned();
    }
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    // `posture-sync status` itself now refuses a state dir another user
    // owns (a socket there may be a stranger's) before it connects.
    let out = status_as_nobody(&agent.state);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "no status leaked: {out:?}");
    assert!(
        stderr.contains(&format!(
            "the state directory {} is owned by uid 0, not by uid {NOBODY}",
            agent.state.display()
        )),
        "the client refuses the dir: {stderr}"
    );
    // A client that connects anyway (this test binary as the other user)
    // meets the agent's own check of the peer's uid.
    let out = raw_status_as_nobody(&socket);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("permission denied") && stdout.contains("its own user"),
        "the agent's refusal reaches the client: {out:?}"
    );
    assert!(!stdout.contains("\"phase\""), "no status leaked: {stdout}");
    wait_until(
        "the agent to log the refusal",
        || {
            agent
                .log()
                .contains("refusing a client of another user")
                .then_some(())
        },
        || agent.log(),
    );

    // 3. Garbage and overlong requests from the owner: an error line each.
    let reply = ask(&socket, b"\x00\xff\xfe garbage\n");
    assert!(
        reply["error"].as_str().is_some_and(|e| e.contains("UTF-8")),
        "{reply}"
    );
    let reply = ask(&socket, b"GET / HTTP/1.1\r\n\r\n");
    assert!(reply["error"].is_string(), "{reply}");
    let reply = ask(&socket, &vec![b'a'; 4096]);
    assert!(
        reply["error"]
            .as_str()
            .is_some_and(|e| e.contains("longer")),
        "{reply}"
    );
    // And the agent still answers properly.
    let reply = ask(&socket, b"status\n");
    assert!(is_known(&reply, "Compliant"), "{reply}");
    agent.wait_for("the agent still serving status", |s| {
        is_known(s, "Compliant")
    });
}
