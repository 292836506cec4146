//! `summary.html` rendered by headless Chromium (Debian's `chromium`,
//! installed by `.ci/run`): the rendered DOM shows the phase, the finding
//! with its fix and the SVG timeline, and a screenshot is written to
//! `$CARGO_TARGET_TMPDIR/dart-summary.png` for people to look at. One page
//! per finding kind (misconfiguration, discovery failing, TLS trust
//! failure, mixed round, agent not running, failed requirements) is
//! rendered, its DOM checked for the finding, its fix, the text lists and
//! the legend, printed to PDF (`--print-to-pdf`, as a ticket carries it),
//! and its screenshot checked by key regions found in the DOM of the same
//! render (`dart_screen`): the card's severity colours, the legend in the
//! first screen, every round in its legend colour, the decisions listed,
//! and text contrast.
//! Skipped, saying so, where /usr/bin/chromium is absent.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_os = "linux")]
// A test harness: it runs Chromium.
#![allow(clippy::disallowed_methods)]

mod dart_fixture;
mod dart_screen;

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
/// summary rendered in Chromium: the DOM, the layout of its key regions, a
/// screenshot, and a PDF of it.
struct Rendered {
    /// The page as the bundle holds it.
    html: String,
    /// The DOM Chromium rendered (of the layout copy, without the layout
    /// script and its attribute).
    dom: String,
    layout: dart_screen::Layout,
    shot: dart_screen::Shot,
    pdf: Vec<u8>,
}

/// The flags that make the DOM of the layout copy and the screenshot the
/// same render: one window size, one device pixel per CSS pixel.
fn same_render() -> Vec<String> {
    let (w, h) = dart_screen::WINDOW;
    vec![
        format!("--window-size={w},{h}"),
        "--force-device-scale-factor=1".to_string(),
    ]
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
    let html = files
        .iter()
        .find(|(n, _)| n == "summary.html")
        .unwrap()
        .1
        .clone();
    let page = dir.path().join("summary.html");
    std::fs::write(&page, &html).unwrap();
    let layout_page = dir.path().join("layout.html");
    std::fs::write(&layout_page, dart_screen::layout_page(&html)).unwrap();
    let mut dump = same_render();
    dump.push("--dump-dom".to_string());
    let raw_dom = chromium(&dir.path().join("chromium-dom"), &layout_page, &dump);
    let layout = dart_screen::layout_of(&raw_dom);
    let dom = dart_screen::without_layout(&raw_dom);

    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot_path = tmp.join(format!("dart-summary-{name}.png"));
    let _ = std::fs::remove_file(&shot_path);
    let mut shoot = same_render();
    shoot.push(format!("--screenshot={}", shot_path.display()));
    chromium(&dir.path().join("chromium-shot"), &page, &shoot);
    let shot = dart_screen::Shot::decode(&std::fs::read(&shot_path).unwrap());

    let pdf_path = tmp.join(format!("dart-summary-{name}.pdf"));
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
    eprintln!("{name}: {} {}", shot_path.display(), pdf_path.display());
    Rendered {
        html,
        dom,
        layout,
        shot,
        pdf,
    }
}

/// What every rendered page must hold, whatever its finding: the text
/// lists, a complete legend, no script, nothing external, a PDF; and on
/// the screenshot: the finding's card in its severity's colours
/// (`class`: `problem`, `warning`, `info`, `good`), the legend in the first
/// screen with its colours, the decisions listed, every probe round in the
/// colour the legend gives it, and readable text in each key region.
fn check_common(r: &Rendered, finding: &str, class: &str) {
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
    assert!(
        !r.html.contains("<script") && !dom.contains("<script"),
        "{dom}"
    );
    // Nothing external, and no link (a server's text with one in it is
    // text: `href="http` may then stand in a text node).
    assert!(!dom.contains("src=\"http") && !dom.contains("<a ") && !dom.contains("<link"));
    assert!(r.pdf.starts_with(b"%PDF-"), "not a PDF");
    assert!(
        r.pdf.len() > 10_000,
        "PDF suspiciously small: {} bytes",
        r.pdf.len()
    );
    // Cheap facts of the PDF without a PDF parser: its page tree counts
    // at least one page, and its title is the page's.
    let pdf = String::from_utf8_lossy(&r.pdf);
    let pages: u32 = pdf
        .split("/Count ")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .expect("a page tree with a count");
    assert!(pages >= 1, "the PDF has {pages} pages");
    assert!(
        pdf.contains("/Title (posture-sync diagnostic summary"),
        "no title in the PDF"
    );
    check_screen(r, finding, class);
}

/// A card's colours by severity, as the page's CSS gives them: (border,
/// background).
fn card_colours(class: &str) -> ([u8; 3], [u8; 3]) {
    match class {
        "problem" => ([0xc6, 0x28, 0x28], [0xfd, 0xec, 0xea]),
        "warning" => ([0xef, 0x6c, 0x00], [0xff, 0xf4, 0xe5]),
        "info" => ([0x15, 0x65, 0xc0], [0xe8, 0xf1, 0xfb]),
        "good" => ([0x2e, 0x7d, 0x32], [0xed, 0xf7, 0xed]),
        other => panic!("no card class {other}"),
    }
}

fn check_screen(r: &Rendered, finding: &str, class: &str) {
    use dart_screen::{FIRST_SCREEN_HEIGHT, MIN_CONTRAST, centre, close, parse_colour};
    let (shot, layout) = (&r.shot, &r.layout);
    let (w, h) = dart_screen::WINDOW;
    assert_eq!(
        (shot.width, shot.height),
        (w as i32, h as i32),
        "the window's size"
    );

    // The finding's card: its severity's border and background, and
    // readable title and text.
    let card = layout
        .findings
        .iter()
        .find(|c| c.title.starts_with(finding))
        .unwrap_or_else(|| panic!("no card titled {finding:?}: {:?}", layout.findings));
    assert_eq!(card.class, format!("finding {class}"));
    let (border, background) = card_colours(class);
    let (_, mid) = centre(card.rect);
    let edge = shot.at(card.rect[0] + 2, mid);
    assert!(
        close(edge, border),
        "{finding}: border {edge:?}, not {border:?}"
    );
    let fill = shot.dominant(card.rect);
    assert!(
        close(fill, background),
        "{finding}: background {fill:?}, not {background:?}"
    );
    for region in std::iter::once(card.title_rect).chain(card.text_rect) {
        let c = shot.contrast(region);
        assert!(
            c >= MIN_CONTRAST,
            "{finding}: text at {region:?} has contrast {c:.2}"
        );
    }
    let c = shot.contrast(layout.phase);
    assert!(c >= MIN_CONTRAST, "the phase card has contrast {c:.2}");

    // The legend, whole in the first screen, each swatch drawn in the
    // colour it names, its words readable.
    let legend = layout.legend.expect("a legend");
    assert!(
        legend[1] >= 0 && legend[3] <= FIRST_SCREEN_HEIGHT,
        "{finding}: the legend {legend:?} is not in the first {FIRST_SCREEN_HEIGHT} px"
    );
    let c = shot.contrast(legend);
    assert!(c >= MIN_CONTRAST, "the legend has contrast {c:.2}");
    let mut drawn = 0;
    for s in &layout.swatches {
        let Some(want) = parse_colour(&s.colour) else {
            continue; // a gradient
        };
        let (x, y) = centre(s.rect);
        let got = shot.at(x, y);
        assert!(
            close(got, want),
            "legend swatch at {:?}: {got:?}, not {want:?}",
            s.rect
        );
        drawn += 1;
    }
    assert!(
        drawn >= 10,
        "only {drawn} legend swatches have a plain colour"
    );

    // The decisions, listed as text in the screenshot.
    let table = layout.decisions.expect("a decisions table");
    assert!(
        shot.contains(table),
        "the decisions {table:?} are not in the screenshot"
    );
    assert!(!layout.decision_rows.is_empty());
    for row in &layout.decision_rows {
        let c = shot.contrast(*row);
        assert!(
            c >= MIN_CONTRAST,
            "decision row {row:?} has contrast {c:.2}"
        );
    }

    // Every probe round in its legend colour.
    for round in &layout.rounds {
        let want = parse_colour(&round.fill).expect("a round's fill");
        let (x, y) = centre(round.rect);
        let got = shot.at(x, y);
        assert!(
            close(got, want),
            "round at {:?}: {got:?}, not {}",
            round.rect,
            round.fill
        );
    }
}

/// The fills of the probe rounds drawn on the timeline, oldest first.
fn round_fills(r: &Rendered) -> Vec<&str> {
    r.layout.rounds.iter().map(|c| c.fill.as_str()).collect()
}

/// Legend colours of rounds: normal, expected change, problem, failed.
const BLOCKED: &str = "#66bb6a";
const RESET: &str = "#1e88e5";
const ANSWERED_KNOWN: &str = "#c62828";
const FAILED: &str = "#ef6c00";

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
        "problem",
    );
    // The normal round, then the answered one: a problem.
    assert_eq!(round_fills(&r), [BLOCKED, ANSWERED_KNOWN]);
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
    check_common(&r, "Problem: The agent has not found a PSN", "problem");
    assert!(round_fills(&r).is_empty());
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
        "warning",
    );
    assert_eq!(round_fills(&r), [BLOCKED, FAILED, FAILED]);
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
        "warning",
    );
    // The reset is the expected change, not an alarm.
    assert_eq!(round_fills(&r), [BLOCKED, RESET]);
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
    check_common(&r, "Warning: No agent was running", "warning");
    assert_eq!(round_fills(&r), [BLOCKED]);
    assert!(r.dom.contains("ended without a stop record"), "{}", r.dom);
    assert!(
        r.dom
            .contains("A run of the agent ended without a clean stop")
    );

    // 6. Failed requirements (issue 15): a mandatory one is the problem,
    // an optional one a note, each with its reason and the server's
    // remediation as text (markup in it stays text).
    let mut status = known(None);
    status["posture"] = json!("NonCompliant");
    status["assessment"] = json!({
        "at": "2026-11-21T20:00:02.000Z", "session": "s1",
        "requirements": [
            {"id": "disk", "mandatory": true, "passed": false,
             "reason": "disk is not encrypted: / is on /dev/vda1, not on a LUKS volume",
             "remediation": "Reinstall with <b>full disk encryption</b>: <a href=\"https://wiki.example/luks\">guide</a>"},
            {"id": "screen", "mandatory": false, "passed": false,
             "reason": "screen lock unknown: no screen lock policy found"},
            {"id": "os", "mandatory": true, "passed": true, "reason": "the OS is Debian GNU/Linux 12 (bookworm)"},
        ]
    });
    let r = render_case(
        "failed-requirements",
        Ok(status),
        None,
        &[
            blocked("2026-11-21T20:00:05.000Z"),
            blocked("2026-11-21T20:00:10.000Z"),
        ],
        &assessed,
        &runs,
    );
    check_common(&r, "Problem: 1 mandatory requirement failed", "problem");
    check_screen(&r, "Note: 1 optional requirement failed", "info");
    check_screen(&r, "OK: State sync works", "good");
    assert_eq!(round_fills(&r), [BLOCKED, BLOCKED]);
    assert!(
        r.dom
            .contains("disk is not encrypted: / is on /dev/vda1, not on a LUKS volume"),
        "{}",
        r.dom
    );
    assert!(
        r.dom.contains(
            "Reinstall with &lt;b&gt;full disk encryption&lt;/b&gt;: &lt;a href=\"https://wiki.example/luks\"&gt;guide&lt;/a&gt;"
        ),
        "{}",
        r.dom
    );
    assert!(
        !r.dom.contains("<a ") && !r.dom.contains("<b>"),
        "{}",
        r.dom
    );
    assert!(
        r.dom
            .contains("screen lock unknown: no screen lock policy found")
    );
}
