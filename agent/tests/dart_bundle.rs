//! `posture-sync dart` with the real binary: a bundle from a state dir whose
//! agent answers on its status socket holds every part, one progress line
//! per part, none of the secrets seeded into logs, profile and CA file, and
//! no session id: each is one `[session-N]` pseudonym throughout.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]
// A test harness: it runs the binary under test.
#![allow(clippy::disallowed_methods)]

mod cli_fixture;
mod dart_fixture;

use std::process::Command;

use cli_fixture::{BIN, Running, posture_sync, wait_status};
use dart_fixture::{LAST_SESSION, SECRETS, SESSION, build, serve_status, unzip};

#[test]
fn bundle_from_a_running_agent_has_every_part_and_no_secret() {
    let fx = build();
    let _server = serve_status(&fx.state, fx.status.clone());
    let out = fx.dir.path().join("support bundle.zip");
    let o = posture_sync(fx.dir.path())
        .arg("dart")
        .arg("-o")
        .arg(&out)
        .arg("--state-dir")
        .arg(&fx.state)
        .arg("--profile")
        .arg(&fx.profile)
        .arg("--ca-file")
        .arg(&fx.ca_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(&out.display().to_string()));

    let files = unzip(&out);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "logs/posture-sync.log.2",
        "logs/posture-sync.log.1",
        "logs/posture-sync.log",
        "profile.xml",
        "known-psns.json",
        "probe-rounds.jsonl",
        "transitions.jsonl",
        "status.json",
        "system/os.txt",
        "system/dns.txt",
        "system/routes.txt",
        "system/addresses.txt",
        "system/interfaces.txt",
        "system/clock.txt",
        "trust.txt",
        "summary.html",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
        assert!(
            stderr.contains(&format!("posture-sync: collected {want} (")),
            "no progress line for {want}: {stderr}"
        );
    }
    let get = |n: &str| &files.iter().find(|(name, _)| name == n).unwrap().1;

    // Secrets and session ids: absent from every part; the lines around
    // them survive.
    for (name, text) in &files {
        for s in SECRETS
            .iter()
            .chain([&fx.ca_key_line.as_str(), &SESSION, &LAST_SESSION])
        {
            assert!(!text.contains(s), "secret {s} in {name}:\n{text}");
        }
        assert!(
            !text.contains("PRIVATE KEY-----\nMII"),
            "key body in {name}"
        );
    }
    assert!(get("logs/posture-sync.log.2").contains("Authorization: Bearer [redacted]"));
    assert!(get("profile.xml").contains("<ProxyPassword>[redacted]</ProxyPassword>"));
    assert!(get("profile.xml").contains("<AdminPassword>[redacted]</AdminPassword>"));
    assert!(get("profile.xml").contains("<XPassword>[redacted]</XPassword>"));
    assert!(get("logs/posture-sync.log").contains("<PreSharedKey>[redacted]</PreSharedKey>"));
    assert!(get("profile.xml").contains("<StateSyncProbeInterval>5</StateSyncProbeInterval>"));
    assert!(get("profile.xml").contains("<Setting name=\"Password\" value=\"[redacted]\"/>"));
    let log = get("logs/posture-sync.log");
    assert!(
        log.contains("Proxy-Authorization: Basic [redacted]"),
        "{log}"
    );
    assert!(
        log.contains("-----BEGIN OPENSSH PRIVATE KEY----- [redacted] -----END"),
        "{log}"
    );
    assert!(log.contains(r#""user":"ann""#), "{log}");

    // Session ids: the current one is [session-1] in every part (status,
    // history, logs, summary), the PSN list's last one [session-2].
    assert!(get("status.json").contains("\"session_id\": \"[session-1]\""));
    assert!(get("probe-rounds.jsonl").contains("\"session\":\"[session-1]\""));
    assert!(get("logs/posture-sync.log.1").contains("session=[session-1]; psn=127.0.0.1:8443"));
    assert!(log.contains("x-posture-session: [session-1]"), "{log}");
    assert!(get("known-psns.json").contains("\"last_session_id\":\"[session-2]\""));
    assert!(get("summary.html").contains("Session [session-1]"));

    // Parts hold what they say (the status with the session's pseudonym).
    let status: serde_json::Value = serde_json::from_str(get("status.json")).unwrap();
    let mut want = fx.status.clone();
    want["session_id"] = "[session-1]".into();
    assert_eq!(status, want);
    let rounds = get("probe-rounds.jsonl");
    assert_eq!(rounds.lines().count(), posture_sync::dart::DEFAULT_ROUNDS);
    assert!(
        rounds
            .lines()
            .last()
            .unwrap()
            .contains("\"detail\":\"answered Compliant\"")
    );
    assert!(get("known-psns.json").contains("\"state_sync_port\":8449"));
    let trust = get("trust.txt");
    assert!(trust.contains("CN=Posture Lab CA"), "{trust}");
    assert!(trust.contains(&fx.ca_fingerprint), "{trust}");
    assert!(trust.contains("== platform roots =="));
    assert!(get("system/clock.txt").contains("system time (UTC): "));
    assert!(get("system/os.txt").contains("/proc/sys/kernel/osrelease"));
    assert!(get("system/interfaces.txt").contains("\nlo\t"));

    let html = get("summary.html");
    assert!(
        html.contains("<code>deny tcp any host 127.0.0.1 eq 8449</code>"),
        "{html}"
    );
    assert!(html.contains("while the endpoint was Compliant"));
    assert!(html.contains("<svg"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[test]
fn bundle_without_an_agent_says_so_and_names_what_is_missing() {
    let fx = build();
    let out = fx.dir.path().join("b.zip");
    let o = posture_sync(fx.dir.path())
        .args(["dart", "--state-dir"])
        .arg(&fx.state)
        .arg("-o")
        .arg(&out)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let files = unzip(&out);
    let status = &files.iter().find(|(n, _)| n == "status.json").unwrap().1;
    assert!(status.contains("agent not running"), "{status}");
    let html = &files.iter().find(|(n, _)| n == "summary.html").unwrap().1;
    assert!(html.contains("No agent was running"));
    // What could not be collected is named with why in missing.txt, never
    // as a note inside profile.xml or known-psns.json.
    assert!(!files.iter().any(|(n, _)| n == "profile.xml"), "{files:?}");
    let missing = &files.iter().find(|(n, _)| n == "missing.txt").unwrap().1;
    assert!(
        missing.contains("\nprofile.xml: no profile given: no --profile"),
        "{missing}"
    );
    assert!(html.contains("id=\"missing\""), "{html}");
    // The unit's journal: in the bundle where journalctl answers (whatever
    // it holds), else missing.txt says why.
    match files.iter().find(|(n, _)| n == "journal.txt") {
        Some((_, journal)) => assert!(
            journal.starts_with("== /")
                && journal.contains(
                    "journalctl --user -u posture-sync.service -n 500 --no-pager -o short-iso =="
                ),
            "{journal}"
        ),
        None => assert!(
            missing.lines().any(|l| l.starts_with("journal.txt: ")),
            "{missing}"
        ),
    }
    // How the agent is set up decides the advice: not installed here (the
    // test's HOME is empty), so never `systemctl`.
    let info: serde_json::Value =
        serde_json::from_str(&files.iter().find(|(n, _)| n == "bundle.json").unwrap().1).unwrap();
    if info["setup"]["kind"] == "not-installed" {
        assert!(html.contains("posture-sync install"), "{html}");
        assert!(!html.contains("systemctl --user start"), "{html}");
    }

    // A state dir the agent never found a PSN in: no PSN list, no history.
    std::fs::remove_file(fx.state.join("known-psns.json")).unwrap();
    std::fs::remove_file(fx.state.join("probe-rounds.jsonl")).unwrap();
    let out = fx.dir.path().join("c.zip");
    let o = posture_sync(fx.dir.path())
        .args(["dart", "--state-dir"])
        .arg(&fx.state)
        .arg("-o")
        .arg(&out)
        .arg("--profile")
        .arg(&fx.profile)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let files = unzip(&out);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"profile.xml"), "{names:?}");
    for absent in ["known-psns.json", "probe-rounds.jsonl"] {
        assert!(!names.contains(&absent), "{absent} in {names:?}");
    }
    let missing = &files.iter().find(|(n, _)| n == "missing.txt").unwrap().1;
    // The journal is the service manager's part: collected or said why not.
    let lines: Vec<&str> = missing
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("journal.txt: "))
        .collect();
    assert_eq!(
        lines,
        [
            format!(
                "known-psns.json: no PSN list yet: the agent has not found a PSN ({} does not exist)",
                fx.state.join("known-psns.json").display()
            ),
            format!(
                "probe-rounds.jsonl: no probe round recorded yet ({} does not exist)",
                fx.state.join("probe-rounds.jsonl").display()
            ),
            format!(
                "runs.jsonl: no start recorded (the agent never started with this state dir, or predates the file) ({} does not exist)",
                fx.state.join("runs.jsonl").display()
            ),
        ],
        "{missing}"
    );
    // No temporary file left next to the bundle.
    let left: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn automatic_bundles_are_bounded_by_dart_count() {
    let fx = build();
    let dirs = posture_sync::paths::Dirs {
        state: fx.state.clone(),
        logs: fx.state.join("logs"),
    };
    let mut made = Vec::new();
    for _ in 0..4 {
        let p = posture_sync::dart::collect_automatic(
            &dirs,
            Some(&fx.profile),
            None,
            fx.status.clone(),
            2,
            &dart_fixture::misconfiguration("misconfiguration psn 127.0.0.1:8449"),
        )
        .unwrap()
        .unwrap();
        made.push(p);
    }
    let kept = posture_sync::dart::automatic_bundles(&dirs.bundles_dir());
    assert_eq!(kept, made[2..].to_vec());
    let files = unzip(&kept[1]);
    let html = &files.iter().find(|(n, _)| n == "summary.html").unwrap().1;
    assert!(html.contains("automatically: misconfiguration psn 127.0.0.1:8449"));
    assert_eq!(
        posture_sync::dart::collect_automatic(
            &dirs,
            None,
            None,
            fx.status.clone(),
            0,
            &dart_fixture::misconfiguration("x")
        )
        .unwrap(),
        None
    );
}

#[test]
fn bundle_from_a_real_running_agent_and_the_lock_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let profile = dir.path().join("p.xml");
    // Discovery against a closed loopback port: the agent keeps discovering.
    std::fs::write(
        &profile,
        "<cfg><DiscoveryHost>127.0.0.1:1</DiscoveryHost><StateSyncProbeInterval>5</StateSyncProbeInterval></cfg>",
    )
    .unwrap();
    let run = || {
        let mut c = posture_sync(dir.path());
        c.arg("run")
            .args([
                "--gateway",
                "off",
                "--network-watch",
                "off",
                "--start-spread",
                "0",
            ])
            .arg("--profile")
            .arg(&profile)
            .arg("--state-dir")
            .arg(&state)
            .args(["--mac", "02:00:00:00:00:01"])
            .env("PATH", "/usr/bin:/bin");
        c
    };
    let agent = Running(
        run()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait for the status socket (bounded), as a person would with `status`.
    wait_status(
        dir.path(),
        &state,
        "the agent to answer `status` while discovering",
        |s| s.to_string().contains("discovering"),
    );

    // One agent per state dir: a second one names the first and exits 4.
    let second = run().output().unwrap();
    assert_eq!(second.status.code(), Some(4), "{second:?}");
    let msg = String::from_utf8_lossy(&second.stderr);
    assert!(
        msg.contains(&format!(
            "another posture-sync agent (pid {}) holds {}",
            agent.0.id(),
            state.join("agent.lock").display()
        )),
        "{msg}"
    );

    let out = dir.path().join("live.zip");
    let o = Command::new(BIN)
        .args(["dart", "-o"])
        .arg(&out)
        .arg("--state-dir")
        .arg(&state)
        .arg("--profile")
        .arg(&profile)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let files = unzip(&out);
    let get = |n: &str| {
        &files
            .iter()
            .find(|(name, _)| name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .1
    };
    let status: serde_json::Value = serde_json::from_str(get("status.json")).unwrap();
    assert_eq!(status["phase"], "discovering");
    assert!(get("logs/posture-sync.log").contains("idle -> discovering"));
    // The daemon wrote each decision as a typed record next to its log line.
    let decisions: Vec<posture_sync::record::TransitionRecord> = get("transitions.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        decisions[0].kind,
        posture_sync::machine::ReasonKind::ProfileApplied
    );
    assert!(
        decisions
            .iter()
            .any(|d| d.kind == posture_sync::machine::ReasonKind::DiscoveryFailed),
        "{decisions:?}"
    );
    assert!(get("profile.xml").contains("127.0.0.1:1"));
    let html = get("summary.html");
    assert!(html.contains("The agent has not found a PSN"), "{html}");
    // The finding quotes the last failed attempt's targets and errors.
    assert!(html.contains("discovery attempts failed since"), "{html}");
    assert!(
        html.contains("127.0.0.1:1: blocked (connection refused)"),
        "{html}"
    );
    assert!(html.contains(">discovering<"));
    assert!(html.contains("<rect"), "phase band drawn");
    drop(agent);
}

/// `posture-sync dart -o x.zip 2>&1 | head -1`: the reader of stderr goes
/// away (here: before the first progress line is written); the bundle is
/// still written completely and the command does not panic (exit 101).
#[test]
fn a_closed_stderr_does_not_stop_the_bundle() {
    let fx = build();
    let out = fx.dir.path().join("bundle.zip");
    let mut child = posture_sync(fx.dir.path())
        .arg("dart")
        .arg("-o")
        .arg(&out)
        .arg("--state-dir")
        .arg(&fx.state)
        .arg("--profile")
        .arg(&fx.profile)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let o = child.wait_with_output().unwrap();
    assert_ne!(o.status.code(), Some(101), "panicked: {o:?}");
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(&out.display().to_string()));
    let files = unzip(&out);
    assert!(files.iter().any(|(n, _)| n == "summary.html"), "{files:?}");
    assert!(files.iter().any(|(n, _)| n == "profile.xml"), "{files:?}");
}
