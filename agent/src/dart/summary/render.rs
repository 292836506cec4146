//! The page's HTML and the words of each finding. Self-contained: inline
//! CSS, no script, no external reference, every value HTML-escaped.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::SummaryInput;
use super::findings::{Finding, Severity};
use crate::machine::PhaseName;
use crate::outcome::ProbeOutcome;
use crate::record::{RoundRecord, TransitionRecord};
use posture_protocol::escape as esc;

fn class(s: Severity) -> &'static str {
    match s {
        Severity::Problem => "problem",
        Severity::Warning => "warning",
        Severity::Info => "info",
        Severity::Good => "good",
    }
}

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Problem => "Problem",
        Severity::Warning => "Warning",
        Severity::Info => "Note",
        Severity::Good => "OK",
    }
}

fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

impl Finding {
    /// One line.
    pub fn title(&self) -> String {
        match self {
            Finding::Misconfiguration { .. } => {
                "dACL misconfiguration: the state sync port is not blocked".to_string()
            }
            Finding::NoAgent { .. } => "No agent was running".to_string(),
            Finding::NoPsn { .. } => "The agent has not found a PSN".to_string(),
            Finding::SyncDisabled => "State sync is disabled by the profile".to_string(),
            Finding::ProbesFailed { failed, of, .. } => {
                format!("{failed} of the last {of} probe rounds failed")
            }
            Finding::TargetFailing { target, .. } => {
                format!("PSN {target} fails behind an answering one")
            }
            Finding::ProfileLint { warnings } => match warnings.len() {
                1 => "The profile check gives a warning".to_string(),
                n => format!("The profile check gives {n} warnings"),
            },
            Finding::Works => "State sync works".to_string(),
            Finding::NothingWrong => "Nothing wrong found".to_string(),
            Finding::OldHistory { .. } => {
                "Part of the probe history was not read in full".to_string()
            }
        }
    }

    /// What the agent saw.
    pub fn text(&self) -> String {
        match self {
            Finding::Misconfiguration {
                host,
                target,
                when,
                answered,
                ..
            } => {
                let when = when.as_ref().map(|w| format!(" at {w}")).unwrap_or_default();
                format!(
                    "PSN {host} ({target}) answered a state sync probe{when} while the endpoint was {answered}: the dACL does not block the port. The agent stopped state sync probing until it restarts."
                )
            }
            Finding::NoAgent { why } => format!(
                "The status socket did not answer: {why}. The status, phase and posture below are unknown; the logs show the last run."
            ),
            Finding::NoPsn { failures, .. } => {
                let attempts = match failures {
                    Some((n, since, last)) => format!(
                        " {n} discovery attempts failed since {}; the last one: {last}.",
                        fmt_time(*since)
                    ),
                    None => String::new(),
                };
                format!(
                    "The agent is in discovery: no PSN answered yet, so the posture is not assessed.{attempts}"
                )
            }
            Finding::SyncDisabled => {
                "StateSyncProbeInterval is 0 or absent, so the agent does not probe.".to_string()
            }
            Finding::ProbesFailed { latest, .. } => format!(
                "Failed rounds neither prove the port blocked nor reached a PSN. Latest: {}.",
                latest.join("; ")
            ),
            Finding::TargetFailing {
                target,
                failed,
                of,
                latest,
            } => format!(
                "{target} failed in {failed} of the {of} rounds that asked it, while another PSN decided the round (so those rounds do not count as failed). Its latest failure: {latest}."
            ),
            Finding::ProfileLint { warnings } => warnings
                .iter()
                .map(|d| {
                    let help = d
                        .help
                        .as_ref()
                        .map(|h| format!(" (help: {h})"))
                        .unwrap_or_default();
                    format!("profile.xml line {}: {}{help}.", d.line, d.message)
                })
                .collect::<Vec<_>>()
                .join(" "),
            Finding::Works => "The endpoint's posture is known and the latest state sync probes were blocked, as the dACL intends.".to_string(),
            Finding::NothingWrong => {
                "No misconfiguration, discovery or probe problem shows in this bundle.".to_string()
            }
            Finding::OldHistory {
                old_format,
                unreadable,
            } => {
                let mut parts = Vec::new();
                if *old_format > 0 {
                    parts.push(format!("{old_format} probe rounds were written by an older agent: they are shown, but their answers were not recorded, so they are not used as evidence."));
                }
                if *unreadable > 0 {
                    parts.push(format!("{unreadable} lines of probe-rounds.jsonl could not be read and were skipped."));
                }
                parts.join(" ")
            }
        }
    }

    /// What to do, if anything.
    pub fn fix(&self) -> Option<String> {
        match self {
            Finding::Misconfiguration {
                host,
                port,
                answered,
                ..
            } => {
                let ip = if is_ip(host) {
                    host.clone()
                } else {
                    format!("<IP address of {host}>")
                };
                Some(format!(
                    "Add `deny tcp any host {ip} eq {port}` at the top of the dACL used for {answered} endpoints (one line per PSN, before `permit ip any any`), then restart the agent."
                ))
            }
            Finding::NoAgent { .. } => Some("Start the agent (`systemctl --user start posture-sync`, or `posture-sync run --profile FILE`) and collect a new bundle.".to_string()),
            Finding::NoPsn { .. } => Some("Check that DiscoveryHost and CallHomeList in the profile name your PSNs and that ServerNameRules allows them; that the endpoint reaches the PSN's discovery port; and that the PSN's CA is trusted (trust.txt). logs/ shows each attempt's error.".to_string()),
            Finding::SyncDisabled => Some(
                "Set StateSyncProbeInterval (1-300 seconds) in the profile to enable it."
                    .to_string(),
            ),
            Finding::ProbesFailed { .. } | Finding::TargetFailing { .. } => Some("TLS errors: trust the PSN's CA (--ca-file). Timeouts or 5xx replies: check the PSN's state sync service and load.".to_string()),
            Finding::ProfileLint { .. } => Some("Change the profile as each help says; `posture-sync profile check FILE` shows the same warnings. The agent applies a changed profile without a restart.".to_string()),
            Finding::Works | Finding::NothingWrong | Finding::OldHistory { .. } => None,
        }
    }
}

fn phase_color(phase: PhaseName) -> &'static str {
    match phase {
        PhaseName::Idle => "#9e9e9e",
        PhaseName::Discovering => "#1565c0",
        PhaseName::Assessing => "#7b1fa2",
        PhaseName::Known => "#2e7d32",
    }
}

/// What a probe round means for the reader, which decides its colour: the
/// normal course, an expected change, or a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoundLook {
    /// Blocked everywhere: the dACL works (normal).
    Blocked,
    /// A PSN answered Unknown or Pending, or 404: the server reset the
    /// posture and the agent rediscovers (an expected change).
    Reset,
    /// A PSN answered a known posture: the port is not blocked (a
    /// misconfiguration unless the posture drifted).
    AnsweredKnown,
    /// No answer and a failure.
    Failed,
}

impl RoundLook {
    fn of(r: &RoundRecord) -> RoundLook {
        match r.outcome {
            ProbeOutcome::Blocked => RoundLook::Blocked,
            ProbeOutcome::Failed => RoundLook::Failed,
            ProbeOutcome::Status if r.status.is_some_and(|s| s.is_known()) => {
                RoundLook::AnsweredKnown
            }
            ProbeOutcome::Status => RoundLook::Reset,
        }
    }

    fn color(self) -> &'static str {
        match self {
            RoundLook::Blocked => "#66bb6a",
            RoundLook::Reset => "#1e88e5",
            RoundLook::AnsweredKnown => "#c62828",
            RoundLook::Failed => "#ef6c00",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            RoundLook::Blocked => "probe blocked (normal)",
            RoundLook::Reset => "probe answered Unknown/Pending/404 (server reset: rediscovery)",
            RoundLook::AnsweredKnown => "probe answered a known posture (dACL not blocking)",
            RoundLook::Failed => "probe failed",
        }
    }
}

/// A round's outcome in words: `blocked`, `answered Unknown`, `failed`.
fn round_words(r: &RoundRecord) -> String {
    match (r.outcome, r.status) {
        (ProbeOutcome::Status, Some(status)) => format!("answered {status}"),
        (ProbeOutcome::Status, None) => "answered".to_string(),
        (outcome, _) => outcome.to_string(),
    }
}

/// The colour of in-phase decision ticks that are not misconfigurations.
const DECISION_TICK: &str = "#424242";
/// The ring around a round in which a target failed but another decided.
const FAILED_RING: &str = "#ef6c00";

pub(super) fn fmt_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The timeline: a band of phases and a row of probe rounds on one time axis.
pub fn timeline_svg(
    transitions: &[TransitionRecord],
    rounds: &[RoundRecord],
    end: SystemTime,
) -> String {
    let round_times: Vec<(SystemTime, &RoundRecord)> =
        rounds.iter().filter_map(|r| Some((r.time()?, r))).collect();
    // Readers keep only records whose time parses.
    let changes_at: Vec<(SystemTime, &TransitionRecord)> = transitions
        .iter()
        .filter_map(|t| Some((t.time()?, t)))
        .collect();
    let mut times: Vec<SystemTime> = changes_at.iter().map(|(t, _)| *t).collect();
    times.extend(round_times.iter().map(|(t, _)| *t));
    let Some(&start) = times.iter().min() else {
        return "<p class=\"muted\">No phase changes or probe rounds were recorded.</p>"
            .to_string();
    };
    // The current phase lasts until the bundle was collected, but an old
    // history must not be squeezed to the left by a long quiet time.
    let newest = times.iter().copied().max().unwrap_or(start);
    let last = end.clamp(newest, newest + Duration::from_secs(60));
    let span = last
        .duration_since(start)
        .unwrap_or_default()
        .as_secs_f64()
        .max(1.0);
    let (left, width) = (90.0_f64, 800.0_f64);
    let x = |t: SystemTime| {
        left + width * t.duration_since(start).unwrap_or_default().as_secs_f64() / span
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 910 150\" width=\"910\" height=\"150\" role=\"img\" aria-label=\"timeline of phases and probe rounds\">\
         <text x=\"0\" y=\"40\" class=\"axis\">phase</text><text x=\"0\" y=\"90\" class=\"axis\">probes</text>"
    );
    // Phase changes make the band; decisions inside a phase (`known ->
    // known`, e.g. a suspected or confirmed misconfiguration) are ticks on it.
    let changes: Vec<&(SystemTime, &TransitionRecord)> = changes_at
        .iter()
        .enumerate()
        .filter(|(i, (_, t))| *i == 0 || t.from != t.to)
        .map(|(_, c)| c)
        .collect();
    for (i, (at, t)) in changes.iter().enumerate() {
        let x0 = x(*at);
        let x1 = changes.get(i + 1).map_or(left + width, |(n, _)| x(*n));
        let w = (x1 - x0).max(1.0);
        let _ = write!(
            svg,
            "<rect x=\"{x0:.1}\" y=\"22\" width=\"{w:.1}\" height=\"28\" fill=\"{c}\"><title>{at}: {from} -&gt; {to} ({reason})</title></rect>",
            c = phase_color(t.to),
            at = esc(&fmt_time(*at)),
            from = t.from,
            to = t.to,
            reason = esc(&t.reason),
        );
        if w > 70.0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"41\" class=\"band\">{}</text>",
                x0 + 4.0,
                t.to
            );
        }
    }
    for (at, t) in changes_at.iter().filter(|(_, t)| t.from == t.to) {
        let c = if t.kind.is_misconfiguration() {
            "#c62828"
        } else {
            DECISION_TICK
        };
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"16\" x2=\"{x:.1}\" y2=\"56\" stroke=\"{c}\" stroke-width=\"3\"><title>{at}: {reason}</title></line>",
            x = x(*at),
            at = esc(&fmt_time(*at)),
            reason = esc(&t.reason),
        );
    }
    for (t, r) in &round_times {
        let detail: Vec<String> = r
            .targets
            .iter()
            .map(|t| format!("{} {}", t.target, t.detail))
            .collect();
        let look = RoundLook::of(r);
        // A mixed round: decided by one target while another failed.
        let ring = if look != RoundLook::Failed
            && r.targets.iter().any(|t| t.outcome == ProbeOutcome::Failed)
        {
            format!(" stroke=\"{FAILED_RING}\" stroke-width=\"3\"")
        } else {
            String::new()
        };
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"85\" r=\"6\" fill=\"{}\"{ring}><title>{}: {} ({})</title></circle>",
            x(*t),
            look.color(),
            esc(&r.at),
            esc(&round_words(r)),
            esc(&detail.join("; ")),
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"112\" x2=\"{r}\" y2=\"112\" stroke=\"#444\"/>\
         <text x=\"{left}\" y=\"130\" class=\"axis\">{a}</text>\
         <text x=\"{r}\" y=\"130\" class=\"axis\" text-anchor=\"end\">{b}</text></svg>",
        r = left + width,
        a = esc(&fmt_time(start)),
        b = esc(&fmt_time(last)),
    );
    svg
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1b1b;max-width:980px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.muted{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;padding:10px 14px;min-width:150px}\
.card .k{font-size:12px;color:#666;text-transform:uppercase}.card .v{font-size:20px;font-weight:600}\
.finding{border-left:6px solid #999;padding:8px 12px;margin:10px 0;background:#fafafa}\
.finding.problem{border-color:#c62828;background:#fdecea}.finding.warning{border-color:#ef6c00;background:#fff4e5}\
.finding.good{border-color:#2e7d32;background:#edf7ed}.finding.info{border-color:#1565c0;background:#e8f1fb}\
.finding h3{margin:0 0 4px;font-size:16px}.fix{margin-top:6px}code{background:#eee;padding:1px 4px;border-radius:3px}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}\
svg .axis{font-size:12px;fill:#444}svg .band{font-size:12px;fill:#fff}.legend span{display:inline-block;margin-right:14px;font-size:13px}\
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px;border-radius:2px}.sw.round{border-radius:50%;box-sizing:border-box}";

/// Turns `` `code` `` spans of escaped text into `<code>`.
fn with_code(text: &str) -> String {
    let escaped = esc(text);
    let mut out = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// How many of the latest decisions the page lists in text.
const DECISIONS_LISTED: usize = 50;

/// Every decision in text, newest first (time, from, to, why): what the
/// timeline's hover titles hold, readable in a screenshot, a PDF or print.
fn decisions_table(transitions: &[TransitionRecord]) -> String {
    let mut html = String::from("<h2>Decisions</h2>");
    if transitions.is_empty() {
        html.push_str("<p class=\"muted\">None recorded.</p>");
        return html;
    }
    if transitions.len() > DECISIONS_LISTED {
        let _ = write!(
            html,
            "<p class=\"muted\">The latest {DECISIONS_LISTED} of {}; transitions.jsonl holds them all.</p>",
            transitions.len()
        );
    }
    html.push_str(
        "<table id=\"decisions\"><tr><th>time (UTC)</th><th>from</th><th>to</th><th>why</th></tr>",
    );
    for t in transitions.iter().rev().take(DECISIONS_LISTED) {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.at),
            t.from,
            t.to,
            esc(&t.reason)
        );
    }
    html.push_str("</table>");
    html
}

/// The whole page.
pub fn render(input: &SummaryInput<'_>) -> String {
    let status = input.status.ok();
    let unknown = || "unknown".to_string();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <title>posture-sync diagnostic summary: {host}</title><style>{CSS}</style></head><body>\
         <h1>posture-sync diagnostic summary</h1>\
         <p class=\"muted\">Host {host}, collected {at}{reason}. posture-sync {ver}.</p>",
        host = esc(&input.host),
        at = esc(&fmt_time(input.generated)),
        reason = input
            .reason
            .map(|r| format!(", automatically: {}", esc(&r.text)))
            .unwrap_or_default(),
        ver = env!("CARGO_PKG_VERSION"),
    );
    let sync = match status {
        Some(s) => match s.sync.stopped_reason {
            Some(r) => format!("stopped ({})", r.as_str()),
            None if !s.sync.enabled => "disabled".to_string(),
            None if s.phase == PhaseName::Known => "probing".to_string(),
            None => "enabled".to_string(),
        },
        None => unknown(),
    };
    let _ = write!(html, "<h2>Current state</h2><div class=\"cards\">");
    for (k, v, id) in [
        (
            "Phase",
            status.map_or_else(unknown, |s| s.phase.to_string()),
            "phase",
        ),
        (
            "Posture",
            status.map_or_else(unknown, |s| s.posture.to_string()),
            "posture",
        ),
        ("State sync", sync, "sync"),
        (
            "Connected PSN",
            status
                .and_then(|s| s.connected_psn.clone())
                .unwrap_or_else(unknown),
            "psn",
        ),
    ] {
        let _ = write!(
            html,
            "<div class=\"card\" id=\"{id}\"><div class=\"k\">{k}</div><div class=\"v\">{}</div></div>",
            esc(&v)
        );
    }
    html.push_str("</div>");
    if let Some(s) = status {
        let session = s
            .session_id
            .as_ref()
            .map_or("No session yet".to_string(), |id| format!("Session {id}"));
        let last = match &s.last_probe {
            Some(p) => format!("last probe {} to {} ({})", p.at, p.target, p.outcome),
            None => "no probe yet".to_string(),
        };
        let _ = write!(
            html,
            "<p>{}; {}; probe rounds {}, discovery restarts {}, misconfigurations {}.</p>",
            esc(&session),
            esc(&last),
            s.counters.probe_rounds,
            s.counters.discovery_restarts,
            s.counters.misconfigurations,
        );
    }
    html.push_str("<h2>Findings</h2>");
    for f in super::findings(input) {
        let _ = write!(
            html,
            "<div class=\"finding {c}\"><h3>{label}: {title}</h3><div>{text}</div>",
            c = class(f.severity()),
            label = label(f.severity()),
            title = esc(&f.title()),
            text = with_code(&f.text()),
        );
        if let Some(fix) = f.fix() {
            let _ = write!(
                html,
                "<div class=\"fix\"><strong>Fix:</strong> {}</div>",
                with_code(&fix)
            );
        }
        html.push_str("</div>");
    }
    let _ = write!(
        html,
        "<h2>Timeline</h2>{}<div class=\"legend\" id=\"legend\">",
        timeline_svg(input.transitions, &input.rounds.rounds, input.generated),
    );
    for phase in [
        PhaseName::Discovering,
        PhaseName::Assessing,
        PhaseName::Known,
        PhaseName::Idle,
    ] {
        let _ = write!(
            html,
            "<span><i class=\"sw\" style=\"background:{}\"></i>{phase}</span>",
            phase_color(phase)
        );
    }
    for look in [
        RoundLook::Blocked,
        RoundLook::Reset,
        RoundLook::AnsweredKnown,
        RoundLook::Failed,
    ] {
        let _ = write!(
            html,
            "<span><i class=\"sw round\" style=\"background:{}\"></i>{}</span>",
            look.color(),
            look.legend()
        );
    }
    let _ = write!(
        html,
        "<span><i class=\"sw round\" style=\"background:#fff;border:3px solid {FAILED_RING}\"></i>a target failed, another decided the round</span>\
         <span><i class=\"sw\" style=\"background:#c62828;width:4px\"></i>misconfiguration decision</span>\
         <span><i class=\"sw\" style=\"background:{DECISION_TICK};width:4px\"></i>other decision within a phase (listed below)</span></div>"
    );
    html.push_str(&decisions_table(input.transitions));
    html.push_str("<h2>Last probe rounds</h2>");
    if input.rounds.rounds.is_empty() {
        html.push_str("<p class=\"muted\">None recorded.</p>");
    } else {
        html.push_str("<table><tr><th>time</th><th>outcome</th><th>targets</th></tr>");
        for r in input.rounds.rounds.iter().rev().take(15) {
            let targets: Vec<String> = r
                .targets
                .iter()
                .map(|t| format!("{}: {}", t.target, t.detail))
                .collect();
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.at),
                esc(&round_words(r)),
                esc(&targets.join("; "))
            );
        }
        html.push_str("</table>");
    }
    html.push_str("<h2>In this bundle</h2><ul>");
    for p in input.parts {
        let _ = write!(html, "<li><code>{}</code></li>", esc(p));
    }
    html.push_str("</ul><p class=\"muted\">Secrets (private keys, passwords, tokens, authorization headers) were redacted from every file.</p></body></html>\n");
    html
}

/// The same findings as the page, as plain text for a terminal
/// (`posture-sync dart --summary`): the state, each finding with its fix,
/// and the latest decisions. `` ` `` marks stay as they are.
pub fn render_text(input: &SummaryInput<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "posture-sync diagnostic summary for {}, {}",
        input.host,
        fmt_time(input.generated)
    );
    match input.status {
        Ok(s) => {
            let _ = writeln!(
                out,
                "phase {}, posture {}, psn {}",
                s.phase,
                s.posture,
                s.connected_psn.as_deref().unwrap_or("none")
            );
        }
        Err(why) => {
            let _ = writeln!(out, "no agent answered: {why}");
        }
    }
    for f in super::findings(input) {
        let _ = writeln!(
            out,
            "\n{}: {}\n  {}",
            label(f.severity()),
            f.title(),
            f.text()
        );
        if let Some(fix) = f.fix() {
            let _ = writeln!(out, "  fix: {fix}");
        }
    }
    if !input.transitions.is_empty() {
        let _ = writeln!(out, "\nlatest decisions (newest first):");
        for t in input.transitions.iter().rev().take(10) {
            let _ = writeln!(out, "  {} {} -> {} ({})", t.at, t.from, t.to, t.reason);
        }
    }
    out
}
