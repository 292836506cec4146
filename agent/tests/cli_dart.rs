//! `posture-sync dart` as a command: the default bundle name in the current
//! directory, no silent overwrite (`--force`), and real entry times.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]
// A test harness: it runs the binary under test.
#![allow(clippy::disallowed_methods)]

mod cli_fixture;
mod dart_fixture;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cli_fixture::posture_sync;
use dart_fixture::build;

/// `dart --state-dir STATE ARGS` run in `cwd`.
fn dart(home: &Path, cwd: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    posture_sync(home)
        .current_dir(cwd)
        .arg("dart")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap()
}

fn zips_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    v.sort();
    v
}

#[test]
fn without_o_the_bundle_is_named_after_host_and_utc_time_in_the_current_directory() {
    let fx = build();
    let cwd = fx.dir.path().join("here");
    std::fs::create_dir(&cwd).unwrap();
    let before = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let o = dart(fx.dir.path(), &cwd, &fx.state, &[]);
    assert!(o.status.success(), "{o:?}");
    let after = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let written = zips_in(&cwd);
    assert_eq!(written.len(), 1, "{written:?}");
    let name = written[0].file_name().unwrap().to_str().unwrap().to_owned();
    // posture-sync-dart-<host>-<YYYYMMDDTHHMMSSZ>.zip
    let stem = name
        .strip_prefix("posture-sync-dart-")
        .and_then(|n| n.strip_suffix(".zip"))
        .unwrap_or_else(|| panic!("{name}"));
    let (host, stamp) = stem.rsplit_once('-').unwrap();
    assert!(!host.is_empty(), "{name}");
    let compact = |t: &str| -> String { t.chars().filter(char::is_ascii_alphanumeric).collect() };
    assert!(
        compact(&before).as_str() <= stamp && stamp <= compact(&after).as_str(),
        "{stamp} not within {before}..{after}"
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).split(' ').next(),
        Some(name.as_str()),
        "{o:?}"
    );
}

#[test]
fn an_existing_output_is_not_replaced_without_force() {
    let fx = build();
    let out = fx.dir.path().join("b.zip");
    std::fs::write(&out, "precious\n").unwrap();
    let o = dart(
        fx.dir.path(),
        fx.dir.path(),
        &fx.state,
        &["-o", out.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(73), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "posture-sync: the diagnostic bundle {} already exists\nhelp: pass --force to replace it, or choose another name with -o FILE.zip\n",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
    assert!(o.stdout.is_empty(), "{o:?}");

    // A dangling link at the name is "existing" too, and not followed.
    let link = fx.dir.path().join("link.zip");
    let target = fx.dir.path().join("nowhere.zip");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = dart(
        fx.dir.path(),
        fx.dir.path(),
        &fx.state,
        &["-o", link.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(73), "{o:?}");
    assert!(!target.exists());

    let o = dart(
        fx.dir.path(),
        fx.dir.path(),
        &fx.state,
        &["-o", out.to_str().unwrap(), "--force"],
    );
    assert!(o.status.success(), "{o:?}");
    let zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert!(zip.len() > 5);
}

#[test]
fn entries_carry_real_modification_times() {
    let fx = build();
    // A log file last written 2025-06-01 12:00:00 UTC.
    let log = fx.state.join("logs/posture-sync.log.1");
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_748_779_200);
    std::fs::File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_modified(when)
        .unwrap();
    let out = fx.dir.path().join("t.zip");
    let o = dart(
        fx.dir.path(),
        fx.dir.path(),
        &fx.state,
        &["-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{o:?}");
    let year_now: u16 = humantime::format_rfc3339_seconds(SystemTime::now()).to_string()[..4]
        .parse()
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    for i in 0..zip.len() {
        let f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let t = f.last_modified().unwrap();
        let got = (
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
        );
        if name == "logs/posture-sync.log.1" {
            assert_eq!(got, (2025, 6, 1, 12, 0, 0), "{name}");
        } else {
            // Made at collection (or read from files the fixture just wrote).
            assert!(t.year() + 1 >= year_now, "{name}: {got:?}");
        }
    }
}

/// `dart --summary` prints the running agent's findings (the same the
/// bundle's page shows) and writes nothing; `--summary FILE.zip` prints a
/// bundle's, from its parts.
#[test]
fn summary_prints_the_findings_of_the_agent_and_of_a_bundle() {
    let fx = build();
    let _agent = dart_fixture::serve_status(&fx.state, fx.status.clone());
    let cwd = fx.dir.path().join("here");
    std::fs::create_dir(&cwd).unwrap();
    let profile = fx.profile.to_str().unwrap();
    let o = dart(
        fx.dir.path(),
        &cwd,
        &fx.state,
        &["--summary", "--profile", profile],
    );
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("phase known, posture Compliant, psn 127.0.0.1:8443"),
        "{text}"
    );
    assert!(
        text.contains("Problem: dACL misconfiguration: the state sync port is not blocked"),
        "{text}"
    );
    assert!(
        text.contains("fix: Add `deny tcp any host 127.0.0.1 eq 8449`"),
        "{text}"
    );
    assert!(text.contains("latest decisions (newest first):"), "{text}");
    assert!(
        text.contains("known -> known (dacl misconfiguration"),
        "{text}"
    );
    // The session id is pseudonymized as in a bundle: the text is pasted
    // into tickets.
    assert!(!text.contains(dart_fixture::SESSION), "{text}");
    assert!(zips_in(&cwd).is_empty(), "--summary wrote a bundle");

    // The same findings from a bundle of the same agent.
    let out = fx.dir.path().join("b.zip");
    let o = dart(
        fx.dir.path(),
        &cwd,
        &fx.state,
        &["-o", out.to_str().unwrap(), "--profile", profile],
    );
    assert!(o.status.success(), "{o:?}");
    let o = posture_sync(fx.dir.path())
        .args(["dart", "--summary"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let from_zip = String::from_utf8(o.stdout).unwrap();
    let findings = |t: &str| -> Vec<String> {
        t.lines()
            .skip(1)
            .filter(|l| !l.contains("Session") && !l.contains("[session-"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(findings(&from_zip), findings(&text), "{from_zip}");
    let host = posture_sync::platform::host_name();
    assert!(
        from_zip.starts_with(&format!("posture-sync diagnostic summary for {host}, ")),
        "{from_zip}"
    );

    // Not a bundle: a clear error, exit 1.
    let not = fx.dir.path().join("not.zip");
    std::fs::write(&not, "plain text").unwrap();
    let o = posture_sync(fx.dir.path())
        .args(["dart", "--summary"])
        .arg(&not)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with(&format!(
            "posture-sync: cannot read the diagnostic bundle {}",
            not.display()
        )),
        "{o:?}"
    );
}

/// A start that gives up before logging starts (here: an invalid profile)
/// is recorded in the state dir's runs file; the bundle carries it and the
/// summary names it with what the agent printed.
#[test]
fn a_failed_start_reaches_the_bundle_and_the_summary() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let profile = home.path().join("bad.xml");
    std::fs::write(
        &profile,
        "<cfg>\n<StateSyncProbeInterval>often</StateSyncProbeInterval>\n</cfg>\n",
    )
    .unwrap();
    let o = posture_sync(home.path())
        .arg("run")
        .arg("--profile")
        .arg(&profile)
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(78), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let first = stderr.lines().next().unwrap().to_owned();
    assert!(
        first.starts_with(&format!("{}:2:", profile.display())),
        "{stderr}"
    );

    let runs = std::fs::read_to_string(state.join("runs.jsonl")).unwrap();
    let runs = posture_sync::runs::parse(&runs);
    assert_eq!(runs.len(), 1, "{runs:?}");
    match &runs[0].event {
        posture_sync::record::RunEvent::FailedStart { exit, message } => {
            assert_eq!(*exit, 78);
            assert!(message.contains(&first), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let o = dart(home.path(), home.path(), &state, &["--summary"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("Problem: The agent failed to start"),
        "{text}"
    );
    assert!(text.contains("exited 78 (invalid configuration)"), "{text}");
    assert!(text.contains(&first), "{text}");

    let out = home.path().join("b.zip");
    let o = dart(
        home.path(),
        home.path(),
        &state,
        &["-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{o:?}");
    let files = dart_fixture::unzip(&out);
    let get = |n: &str| &files.iter().find(|(name, _)| name == n).unwrap().1;
    assert!(get("runs.jsonl").contains("\"event\":\"failed-start\""));
    let html = get("summary.html");
    assert!(html.contains("The agent failed to start"), "{html}");
    assert!(html.contains("posture-sync profile check FILE"), "{html}");
}

/// History across restarts: a run stopped by SIGTERM (exit 0) and one that
/// was killed are both in runs.jsonl; the bundle lists every start and
/// stop, marks them on the timeline, and names the run that ended without a
/// clean stop.
#[test]
fn every_start_and_stop_is_kept_across_restarts() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let profile = home.path().join("p.xml");
    // Discovery against a closed loopback port: the agent keeps discovering.
    std::fs::write(
        &profile,
        "<cfg><DiscoveryHost>127.0.0.1:1</DiscoveryHost><StateSyncProbeInterval>60</StateSyncProbeInterval></cfg>",
    )
    .unwrap();
    let start = || {
        cli_fixture::Running(
            posture_sync(home.path())
                .arg("run")
                .args(["--gateway", "off", "--network-watch", "off"])
                .arg("--profile")
                .arg(&profile)
                .arg("--state-dir")
                .arg(&state)
                .args(["--mac", cli_fixture::MAC])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let answering = |what: &str| {
        cli_fixture::wait_status(home.path(), &state, what, |s| s["phase"] == "discovering")
    };
    // 1: stopped as a service manager stops it.
    let mut first = start();
    answering("the first run to answer");
    let pid = rustix::process::Pid::from_child(&first.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let code = test_support::wait_until(
        "the first run to exit after SIGTERM",
        || first.0.try_wait().unwrap(),
        String::new,
    );
    assert_eq!(code.code(), Some(0));
    // 2: killed (a crash leaves no stop record).
    let mut second = start();
    answering("the second run to answer");
    second.0.kill().unwrap();
    second.0.wait().unwrap();
    // The status socket file stays after a kill; the next start replaces it.
    drop(second);

    let runs =
        posture_sync::runs::parse(&std::fs::read_to_string(state.join("runs.jsonl")).unwrap());
    let events: Vec<&str> = runs
        .iter()
        .map(|r| match r.event {
            posture_sync::record::RunEvent::Started { .. } => "started",
            posture_sync::record::RunEvent::Stopped { exit: 0 } => "stopped 0",
            _ => "other",
        })
        .collect();
    assert_eq!(events, ["started", "stopped 0", "started"], "{runs:?}");

    let out = home.path().join("b.zip");
    let o = dart(
        home.path(),
        home.path(),
        &state,
        &["-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{o:?}");
    let files = dart_fixture::unzip(&out);
    let html = &files.iter().find(|(n, _)| n == "summary.html").unwrap().1;
    let table = &html[html.find("id=\"runs\"").expect("a runs table")..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("agent started (pid ").count(), 2, "{table}");
    assert!(
        table.contains("agent stopped (exit 0, clean stop)"),
        "{table}"
    );
    assert!(
        table.contains("ended without a stop record (crash, kill or power loss)"),
        "{table}"
    );
    // On the timeline: two start marks, one stop mark.
    assert_eq!(
        html.matches("stroke-dasharray=\"5 3\"><title>").count(),
        2,
        "{html}"
    );
    assert!(
        html.contains("A run of the agent ended without a clean stop"),
        "{html}"
    );
}

/// Issue 15: the last assessment's failed requirements reach `status.json`,
/// `summary.html`, `dart --summary` and `dart --summary FILE.zip` (whose
/// status carries the session pseudonyms), with the agent's reasons and the
/// server's remediation; a secret in a reason is redacted like anywhere in
/// a bundle, while local facts (paths, devices, OS versions) are kept.
#[test]
fn failed_requirements_reach_the_bundle_and_both_summaries() {
    let fx = build();
    let mut status = fx.status.clone();
    status["assessment"] = serde_json::json!({
        "at": "2026-11-21T21:00:30.000Z",
        "session": dart_fixture::SESSION,
        "requirements": [
            {"id": "os", "mandatory": true, "passed": true, "reason": "the OS is Debian GNU/Linux 12 (bookworm) (debian 12)"},
            {"id": "disk", "mandatory": true, "passed": false,
             "reason": "disk is not encrypted: / is on /dev/vda1, not on a LUKS volume",
             "remediation": "Reinstall with full disk encryption (LUKS): see <a href=\"https://wiki.example/luks\">the wiki</a>"},
            {"id": "agent-conf", "mandatory": false, "passed": false,
             "reason": "/home/alice/.config/agent.conf does not match \"^api_key=reqseeded-4711\""},
        ]
    });
    let _agent = dart_fixture::serve_status(&fx.state, status);
    let cwd = fx.dir.path().join("here");
    std::fs::create_dir(&cwd).unwrap();
    let out = fx.dir.path().join("b.zip");
    let o = dart(
        fx.dir.path(),
        &cwd,
        &fx.state,
        &["-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{o:?}");
    let files = dart_fixture::unzip(&out);
    let part = |name: &str| &files.iter().find(|(n, _)| n == name).unwrap().1;
    for (name, text) in &files {
        assert!(
            !text.contains("reqseeded-4711"),
            "{name} keeps the secret: {text}"
        );
        assert!(
            !text.contains(dart_fixture::SESSION),
            "{name} keeps the session id"
        );
    }
    let html = part("summary.html");
    assert!(
        html.contains("<h3>Problem: 1 mandatory requirement failed</h3>"),
        "{html}"
    );
    assert!(html.contains("disk is not encrypted: / is on /dev/vda1, not on a LUKS volume"));
    assert!(
        html.contains("see &lt;a href=&quot;https://wiki.example/luks&quot;&gt;the wiki&lt;/a&gt;"),
        "{html}"
    );
    assert!(
        html.contains("<h3>Note: 1 optional requirement failed</h3>"),
        "{html}"
    );
    assert!(
        html.contains("/home/alice/.config/agent.conf does not match"),
        "{html}"
    );
    assert!(part("status.json").contains("/home/alice/.config/agent.conf"));

    let text_of = |args: &[&std::ffi::OsStr]| {
        let o = posture_sync(fx.dir.path())
            .current_dir(&cwd)
            .arg("dart")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let live = text_of(&[
        "--state-dir".as_ref(),
        fx.state.as_os_str(),
        "--summary".as_ref(),
    ]);
    let from_zip = text_of(&["--summary".as_ref(), out.as_os_str()]);
    for text in [&live, &from_zip] {
        assert!(
            text.contains("\nProblem: 1 mandatory requirement failed\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  - disk: disk is not encrypted: / is on /dev/vda1, not on a LUKS volume\n    what to do (the server's words): Reinstall with full disk encryption (LUKS): see <a href=\"https://wiki.example/luks\">the wiki</a>\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  - agent-conf: /home/alice/.config/agent.conf does not match"),
            "{text}"
        );
        assert!(!text.contains("reqseeded-4711"), "{text}");
        assert!(!text.contains(dart_fixture::SESSION), "{text}");
    }
}
