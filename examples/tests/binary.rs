//! The real `psn-lab` binary: one-command startup, a flow over TLS, `ctl`, `certs`.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test harness: spawning the binary under test is the point of this file.
#![allow(clippy::disallowed_methods)]

mod common;
mod served;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{ALL_PASS, Client, MAC, report_xml};
use http::StatusCode;
use posture_protocol::{PostureStatus, PostureStatusReply};
use psn_lab::ready::Ready;
use serde_json::Value;

const BIN: &str = served::PSN_LAB;

/// `psn-lab serve` with its stdout piped (the shutdown summary).
fn serve(dir: &Path, extra: &[&str]) -> (served::Served, Ready) {
    served::psn_lab(dir, extra, Stdio::piped(), Stdio::null())
}

fn ctl(dir: &Path, args: &[&str]) -> (bool, Value, String) {
    let out = served::ctl(BIN, dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.success(),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_serves_the_whole_flow() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ready) = serve(
        dir.path(),
        &[
            "--node",
            "psn1=127.0.0.1:0:0",
            "--node",
            "psn2=127.0.0.1:0:0",
            "--advertise",
            "psn2=localhost",
        ],
    );
    assert!(ready.ca.exists(), "certificates were generated");
    assert_eq!(ready.nodes.len(), 2);
    assert_eq!(ready.nodes[1].advertise, "localhost");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ready.admin_token)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let c = Client::new(&ready.ca).source("127.0.0.5");
    let d = c.discover(ready.nodes[0].discovery, MAC).await;
    let id = d.session.as_str().to_owned();
    assert_eq!(d.psn_list[0].host, "localhost");
    c.requirements(ready.nodes[0].discovery, &id).await;
    let r = c
        .report(ready.nodes[0].discovery, &id, &report_xml(&id, ALL_PASS))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let (ok, sessions, err) = ctl(dir.path(), &["sessions"]);
    assert!(ok, "{err}");
    assert_eq!(sessions[0]["mac"], MAC);
    assert_eq!(sessions[0]["status"], "Compliant");
    assert_eq!(sessions[0]["endpoint"], "127.0.0.5");

    c.probe(ready.nodes[1].sync, &id).await; // the first probe; the alarm needs the agent's confirmation
    let p = c.probe(ready.nodes[1].sync, &id).await;
    assert_eq!(
        PostureStatusReply::from_xml(&p.body).unwrap().status,
        PostureStatus::Compliant
    );
    let (ok, alarms, _) = ctl(dir.path(), &["alarms"]);
    assert!(ok);
    assert_eq!(alarms[0]["node"], "psn2");
    assert_eq!(alarms[0]["endpoint"], "127.0.0.5");

    let (ok, v, _) = ctl(dir.path(), &["coa", &id, "Unknown"]);
    assert!(ok);
    assert_eq!(v["previous"], "Compliant");
    let p = c.probe(ready.nodes[0].sync, &id).await;
    assert_eq!(
        PostureStatusReply::from_xml(&p.body).unwrap().status,
        PostureStatus::Unknown
    );

    let (ok, _, _) = ctl(dir.path(), &["fault", "psn1", "http500", "--scope", "sync"]);
    assert!(ok);
    assert_eq!(
        c.probe(ready.nodes[0].sync, &id).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (ok, _, err) = ctl(dir.path(), &["fault", "psn1", "explode"]);
    assert!(!ok);
    assert!(err.contains("400"), "{err}");
    let (ok, nodes, _) = ctl(dir.path(), &["dacl", "psn2", "reject"]);
    assert!(ok);
    assert_eq!(nodes["dacl"], "reject");
    let (ok, seeded, err) = ctl(
        dir.path(),
        &[
            "seed",
            "02:00:00:00:00:09",
            "NonCompliant",
            "--node",
            "psn2",
            "--endpoint",
            "127.0.0.9",
            "--id",
            "seeded-9",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(seeded["id"], "seeded-9");
    assert_eq!(seeded["owner"], "psn2");
    let (ok, one, _) = ctl(dir.path(), &["session", "seeded-9"]);
    assert!(ok);
    assert_eq!(one["status"], "NonCompliant");
    let (ok, _, _) = ctl(dir.path(), &["end", &id]);
    assert!(ok);
    assert_eq!(
        c.probe(ready.nodes[0].discovery, &id).await.status,
        StatusCode::NOT_FOUND
    );

    // The startup summary names the nodes, the CA and the token file.
    use std::io::Read;
    let mut stdout = child.0.stdout.take().unwrap();
    // SIGTERM: the lab stops and removes ready.json.
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut summary = String::new();
    stdout.read_to_string(&mut summary).unwrap();
    assert!(summary.contains("psn-lab ready"), "{summary}");
    assert!(summary.contains("node psn1"), "{summary}");
    assert!(summary.contains("admin-token"), "{summary}");
    assert!(summary.contains("ca.pem"), "{summary}");
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(!dir.path().join("ready.json").exists());
}

#[test]
fn certs_command_makes_independent_cas_and_named_certificates() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).env_clear().output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(&[
        "certs",
        "--dir",
        a.path().to_str().unwrap(),
        "--node",
        "psn1",
        "--node",
        "psn2",
        "--san",
        "extra.example",
    ]);
    assert!(text.contains("created"), "{text}");
    assert!(text.contains("extra.example"), "{text}");
    for f in [
        "ca.pem",
        "ca-key.pem",
        "psn1.pem",
        "psn1-key.pem",
        "psn2.pem",
        "psn2-key.pem",
    ] {
        assert!(a.path().join(f).exists(), "{f}");
    }
    let text = run(&[
        "certs",
        "--dir",
        a.path().to_str().unwrap(),
        "--node",
        "odd",
        "--san-only",
        "not-this-host.example",
    ]);
    assert!(text.contains("existing"), "{text}");
    assert!(text.contains("(names: not-this-host.example)"), "{text}");
    run(&["certs", "--dir", b.path().to_str().unwrap()]);
    assert_ne!(
        std::fs::read(a.path().join("ca.pem")).unwrap(),
        std::fs::read(b.path().join("ca.pem")).unwrap()
    );
    // A certificate from the second CA does not verify under the first.
    let roots = psn_lab::tls::load_chain(&a.path().join("ca.pem")).unwrap();
    let foreign = psn_lab::tls::load_chain(&b.path().join("psn1.pem")).unwrap();
    assert_ne!(roots[0], foreign[0]);
}

#[test]
fn bad_command_lines_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "serve",
                "--node",
                "psn1=127.0.0.1:0:0",
                "--admin",
                "0.0.0.0:0",
            ],
            "not a loopback address",
        ),
        (&["serve", "--node", "psn1=nowhere:1:2"], "expected NAME=IP"),
        (
            &[
                "serve",
                "--node",
                "psn1=127.0.0.1:0:0",
                "--policy",
                "/nonexistent/policy.json",
            ],
            "policy file /nonexistent/policy.json",
        ),
        (&["ctl", "sessions"], "ready file"),
    ];
    for (args, text) in cases {
        let out = Command::new(BIN)
            .args(*args)
            .args(["--dir", dir.path().to_str().unwrap()])
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(text), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn policy_command_prints_a_loadable_policy() {
    let out = Command::new(BIN)
        .arg("policy")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, &out.stdout).unwrap();
    assert_eq!(
        psn_lab::policy::Policy::load(&path).unwrap(),
        psn_lab::policy::Policy::default()
    );
}
