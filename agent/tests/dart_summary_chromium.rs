//! `summary.html` rendered by headless Chromium (Debian's `chromium`,
//! installed by `.ci/run`): the rendered DOM shows the phase, the finding
//! with its fix and the SVG timeline, and a screenshot is written to
//! `$CARGO_TARGET_TMPDIR/dart-summary.png` for people to look at. One page
//! per finding kind (misconfiguration, discovery failing, TLS trust
//! failure, mixed round, agent not running) is rendered, its DOM checked
//! for the finding, its fix, the text lists and the legend, and printed to
//! PDF (`--print-to-pdf`, as a ticket carries it).
//! Skipped, saying so, where /usr/bin/chromium is absent.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_os = "linux")]
// A test harness: it runs Chromium.
#![allow(clippy::disallowed_methods)]

mod dart_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use posture_sync::dart::{self, BundleSpec, StatusSource};
use posture_sync::paths::Dirs;
use posture_sync::record::{BundleCause, BundleReasonRecord};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs Chromium headless on `page` with `extra` flags; returns stdout.
/// Bounded: killed after two minutes.
fn chromium(profile_dir: &Path, page: &Path, extra: &[String]) -> String {
    let child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The probe polls it, the timeout kills it.
    let child = std::cell::RefCell::new(child);
    test_support::wait_until(
        "chromium to finish",
        || child.borrow_mut().try_wait().unwrap(),
        || {
            let _ = child.borrow_mut().kill();
            "it was still running (killed now)".to_owned()
        },
    );
    let out = child.into_inner().wait_with_output().unwrap();
    assert!(out.status.success(), "chromium failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether Chromium is here; says so when it is not (and fails where every
/// test must run).
fn have_chromium() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    // CI sets POSTURE_SYNC_REQUIRE_ALL: a missing install step must fail, not skip.
    if std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_some() {
        panic!("{CHROMIUM} is absent, and POSTURE_SYNC_REQUIRE_ALL requires every test to run");
    }
    eprintln!("SKIPPED: {CHROMIUM} is absent (apt-get install chromium)");
    false
}

#[test]
fn summary_renders_in_headless_chromium() {
    if !have_chromium() {
        return;
    }
    let fx = dart_fixture::build();
    let spec = BundleSpec {
        dirs: Dirs {
            state: fx.state.clone(),
            logs: fx.state.join("logs"),
        },
        output: fx.dir.path().join("bundle.zip"),
        profile: Some(fx.profile.clone()),
        profile_source: dart::ProfileSource::Flag,
        ca_file: None,
        status: StatusSource::Given(fx.status.clone()),
        reason: Some(dart_fixture::misconfiguration(
            "misconfiguration confirmed for PSN 127.0.0.1:8449",
        )),
        rounds: dart::DEFAULT_ROUNDS,
    };
    dart::collect(&spec, &mut |_| {}).unwrap();
    let files = dart_fixture::unzip(&spec.output);
    let html = &files.iter().find(|(n, _)| n == "summary.html").unwrap().1;
    let page = fx.dir.path().join("summary.html");
    std::fs::write(&page, html).unwrap();

    let dom = chromium(
        &fx.dir.path().join("chromium-dom"),
        &page,
        &["--dump-dom".to_string()],
    );
    assert!(dom.contains("posture-sync diagnostic summary"), "{dom}");
    let phase = dom.find("id=\"phase\"").expect("phase card");
    assert!(dom[phase..].contains(">known<"), "{dom}");
    let posture = dom.find("id=\"posture\"").expect("posture card");
    assert!(dom[posture..].contains(">Compliant<"));
    assert!(dom.contains("Problem: dACL misconfiguration"));
    assert!(dom.contains("<code>deny tcp any host 127.0.0.1 eq 8449</code>"));
    assert!(dom.contains("<svg"));
    assert!(dom.matches("<circle").count() >= 10, "probe rounds drawn");
    assert!(dom.matches("<rect").count() >= 3, "phases drawn");
    assert!(!dom.contains("<script"));

    let shot: PathBuf = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dart-summary.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &fx.dir.path().join("chromium-shot"),
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1024,1400".to_string(),
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

/// One round line as the agent writes it, with one target per entry of
/// `targets`: (target, outcome, detail, failure).
fn round(
    at: &str,
    verdict: &str,
    status: Option<&str>,
    targets: &[(&str, &str, &str, Option<&str>)],
) -> String {
    json!({
        "v": posture_sync::record::RECORD_VERSION,
        "at": at, "session": "s1", "outcome": verdict,
        "target": targets.first().map(|t| t.0), "status": status,
        "targets": targets.iter().map(|(t, o, d, f)| json!({"target": t, "outcome": o, "detail": d, "failure": f})).collect::<Vec<_>>(),
    })
    .to_string()
}

/// One decision line as the agent writes it.
fn decision(at: &str, from: &str, to: &str, kind: &str, reason: &str) -> String {
    json!({
        "v": posture_sync::record::RECORD_VERSION,
        "at": at, "from": from, "to": to, "kind": kind, "reason": reason,
    })
    .to_string()
}

/// A state dir holding `rounds`, `decisions` and `runs`; its bundle's
/// summary rendered in Chromium: the DOM, and a PDF of it.
struct Rendered {
    dom: String,
    pdf: Vec<u8>,
}

fn render_case(
    name: &str,
    status: Result<serde_json::Value, String>,
    reason: Option<BundleReasonRecord>,
    rounds: &[String],
    decisions: &[String],
    runs: &[serde_json::Value],
) -> Rendered {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("logs")).unwrap();
    let lines = |v: &[String]| v.join("\n") + "\n";
    std::fs::write(state.join("probe-rounds.jsonl"), lines(rounds)).unwrap();
    std::fs::write(state.join("transitions.jsonl"), lines(decisions)).unwrap();
    let runs: Vec<String> = runs.iter().map(|r| r.to_string()).collect();
    std::fs::write(state.join("runs.jsonl"), lines(&runs)).unwrap();
    let spec = BundleSpec {
        dirs: Dirs {
            state: state.clone(),
            logs: state.join("logs"),
        },
        output: dir.path().join("bundle.zip"),
        profile: None,
        profile_source: dart::ProfileSource::None,
        ca_file: None,
        status: StatusSource::Asked(status),
        reason,
        rounds: dart::DEFAULT_ROUNDS,
    };
    dart::collect(&spec, &mut |_| {}).unwrap();
    let files = dart_fixture::unzip(&spec.output);
    let html = &files.iter().find(|(n, _)| n == "summary.html").unwrap().1;
    let page = dir.path().join("summary.html");
    std::fs::write(&page, html).unwrap();
    let dom = chromium(
        &dir.path().join("chromium-dom"),
        &page,
        &["--dump-dom".to_string()],
    );
    let pdf_path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dart-summary-{name}.pdf"));
    let _ = std::fs::remove_file(&pdf_path);
    chromium(
        &dir.path().join("chromium-pdf"),
        &page,
        &[
            format!("--print-to-pdf={}", pdf_path.display()),
            "--no-pdf-header-footer".to_string(),
        ],
    );
    let pdf = std::fs::read(&pdf_path).unwrap();
    eprintln!("{name}: {}", pdf_path.display());
    Rendered { dom, pdf }
}

/// What every rendered page must hold, whatever its finding: the text
/// lists, a complete legend, no script, nothing external, and a PDF.
fn check_common(r: &Rendered, finding: &str) {
    let dom = &r.dom;
    assert!(dom.contains(finding), "no {finding:?} in {dom}");
    assert!(dom.contains("id=\"legend\""), "{dom}");
    for entry in [
        "probe blocked (normal)",
        "server reset: rediscovery",
        "dACL not blocking",
        "agent started",
        "agent not running",
    ] {
        assert!(dom.contains(entry), "legend lacks {entry}");
    }
    assert!(dom.contains("<h2>Decisions</h2>"), "{dom}");
    assert!(dom.contains("<h2>Starts and stops</h2>"), "{dom}");
    assert!(!dom.contains("<script"), "{dom}");
    assert!(!dom.contains("src=\"http") && !dom.contains("href=\"http"));
    assert!(r.pdf.starts_with(b"%PDF-"), "not a PDF");
    assert!(
        r.pdf.len() > 10_000,
        "PDF suspiciously small: {} bytes",
        r.pdf.len()
    );
}

fn started(at: &str) -> serde_json::Value {
    json!({"v": 2, "at": at, "event": "started", "pid": 4242, "version": "0.1.0"})
}

#[test]
fn each_finding_kind_renders_and_prints() {
    if !have_chromium() {
        return;
    }
    let blocked = |at: &str| {
        round(
            at,
            "blocked",
            None,
            &[(
                "10.0.0.5:8449",
                "blocked",
                "blocked (connection refused)",
                None,
            )],
        )
    };
    let known = |reason: Option<&str>| {
        json!({
            "phase": "known", "posture": "Compliant", "session_id": "s1",
            "connected_psn": "10.0.0.5:8443",
            "sync": {"enabled": true, "stopped_reason": reason},
            "counters": {"probe_rounds": 4, "discovery_restarts": 0, "misconfigurations": 0}
        })
    };
    let assessed = [
        decision(
            "2026-11-21T20:00:00.000Z",
            "idle",
            "discovering",
            "profile-applied",
            "profile applied",
        ),
        decision(
            "2026-11-21T20:00:01.000Z",
            "discovering",
            "assessing",
            "discovered",
            "session found, server posture Unknown",
        ),
        decision(
            "2026-11-21T20:00:02.000Z",
            "assessing",
            "known",
            "assessed",
            "assessment complete: Compliant",
        ),
    ];
    let runs = [started("2026-11-21T19:59:59.000Z")];

    // 1. Misconfiguration: the PSN answered the posture the agent holds.
    let mut decisions = assessed.to_vec();
    decisions.push(decision(
        "2026-11-21T20:00:12.000Z",
        "known",
        "known",
        "misconfiguration-confirmed",
        "dacl misconfiguration: the state sync port is reachable although the posture is Compliant",
    ));
    let r = render_case(
        "misconfiguration",
        Ok(known(Some("misconfiguration"))),
        None,
        &[
            blocked("2026-11-21T20:00:05.000Z"),
            round(
                "2026-11-21T20:00:10.000Z",
                "status",
                Some("Compliant"),
                &[("10.0.0.5:8449", "status", "answered Compliant", None)],
            ),
        ],
        &decisions,
        &runs,
    );
    check_common(
        &r,
        "Problem: dACL misconfiguration: the state sync port is not blocked",
    );
    assert!(
        r.dom
            .contains("<code>deny tcp any host 10.0.0.5 eq 8449</code>"),
        "{}",
        r.dom
    );
    assert!(
        r.dom
            .contains("dacl misconfiguration: the state sync port is reachable")
    );

    // 2. Discovery failing: ten attempts, the bundle collected for it.
    let mut decisions = vec![decision(
        "2026-11-21T20:00:00.000Z",
        "idle",
        "discovering",
        "profile-applied",
        "profile applied",
    )];
    for i in 0..10 {
        decisions.push(decision(
            &format!("2026-11-21T20:0{i}:30.000Z"),
            "discovering",
            "discovering",
            "discovery-failed",
            "discovery failed: 10.0.0.5:8905: blocked (connection refused)",
        ));
    }
    let r = render_case(
        "discovery-failing",
        Ok(
            json!({"phase": "discovering", "posture": "Unknown", "sync": {"enabled": true}, "counters": {"probe_rounds": 0, "discovery_restarts": 0, "misconfigurations": 0}}),
        ),
        Some(BundleReasonRecord {
            cause: BundleCause::DiscoveryFailing {
                attempts: 10,
                failing_for_secs: 570,
                last_error: "10.0.0.5:8905: blocked (connection refused)".into(),
            },
            text: "discovery failing: 10 attempts in a row failed over 9m 30s".into(),
        }),
        &[],
        &decisions,
        &runs,
    );
    check_common(&r, "Problem: The agent has not found a PSN");
    assert!(
        r.dom.contains("10 discovery attempts failed since"),
        "{}",
        r.dom
    );
    assert!(
        r.dom
            .contains("10.0.0.5:8905: blocked (connection refused)")
    );

    // 3. TLS trust failure: the PSN's certificate is from an unknown CA.
    let tls = |at: &str| {
        round(
            at,
            "failed",
            None,
            &[(
                "10.0.0.5:8449",
                "failed",
                "failed: tls: invalid peer certificate: UnknownIssuer",
                Some("tls"),
            )],
        )
    };
    let r = render_case(
        "tls-trust",
        Ok(known(None)),
        None,
        &[
            blocked("2026-11-21T20:00:05.000Z"),
            tls("2026-11-21T20:00:10.000Z"),
            tls("2026-11-21T20:00:15.000Z"),
        ],
        &assessed,
        &runs,
    );
    check_common(
        &r,
        "Warning: 2 of the last 3 probe rounds failed: TLS trust failure",
    );
    assert!(r.dom.contains("pass it with --ca-file"), "{}", r.dom);
    assert!(r.dom.contains("<td>failed</td>"), "{}", r.dom);

    // 4. A mixed round: psn1 fails (500), psn2 answers Unknown.
    let mut decisions = assessed.to_vec();
    decisions.push(decision(
        "2026-11-21T20:00:10.000Z",
        "known",
        "discovering",
        "server-lost-posture",
        "state sync probe: the psn reports Unknown; rediscovering",
    ));
    let r = render_case(
        "mixed-round",
        Ok(
            json!({"phase": "discovering", "posture": "Unknown", "sync": {"enabled": true}, "counters": {"probe_rounds": 2, "discovery_restarts": 1, "misconfigurations": 0}}),
        ),
        None,
        &[
            blocked("2026-11-21T20:00:05.000Z"),
            round(
                "2026-11-21T20:00:10.000Z",
                "status",
                Some("Unknown"),
                &[
                    (
                        "psn1.lab:8449",
                        "failed",
                        "failed: http status 500",
                        Some("http-status"),
                    ),
                    ("psn2.lab:8449", "status", "answered Unknown", None),
                ],
            ),
        ],
        &decisions,
        &runs,
    );
    check_common(
        &r,
        "Warning: PSN psn1.lab:8449 fails behind an answering one",
    );
    assert!(r.dom.contains("<td>answered Unknown</td>"), "{}", r.dom);
    assert!(
        !r.dom.contains("probe rounds failed"),
        "a decided round is no failed round"
    );

    // 5. No agent running: the last run ended without a stop record.
    let r = render_case(
        "agent-not-running",
        Err("no agent answers on /x/agent.sock".into()),
        None,
        &[blocked("2026-11-21T20:00:05.000Z")],
        &assessed,
        &runs,
    );
    check_common(&r, "Warning: No agent was running");
    assert!(r.dom.contains("ended without a stop record"), "{}", r.dom);
    assert!(
        r.dom
            .contains("A run of the agent ended without a clean stop")
    );
}
