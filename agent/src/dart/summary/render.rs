//! The page's HTML and the words of each finding. Self-contained: inline
//! CSS, no script, no external reference, every value HTML-escaped.
//!
//! Every text the page shows that is not a literal of this file (a reason,
//! a host, a time, an error) goes through one [`Clean`] function. In a
//! bundle that function redacts the text on its own before escaping it
//! ([`render_redacted`]): a rule that takes "the rest of the line"
//! (`password=...`) then ends with that text, never with the markup after
//! it, which a pass over the finished page could not promise.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::SummaryInput;
use super::findings::{Finding, Severity};
use crate::dart::redact::Redactor;
use crate::machine::PhaseName;
use crate::outcome::ProbeOutcome;
use crate::record::{RoundRecord, RunEvent, RunRecord, TransitionRecord};
use posture_protocol::escape as esc;

/// Makes a text from outside the page's literals page text: escaped, and
/// redacted first in a bundle.
type Clean<'a> = &'a dyn Fn(&str) -> String;

/// The whole page, every text escaped but not redacted (a page shown
/// where it is made, and tests of the layout).
pub fn render(input: &SummaryInput<'_>) -> String {
    page(input, &|text| esc(text).into_owned())
}

/// The whole page for a bundle: every text redacted by `redactor` on its
/// own, then escaped. The page needs no redaction pass after this; one
/// would take markup with the rest of a line after a `[redacted]` value.
pub fn render_redacted(input: &SummaryInput<'_>, redactor: &mut Redactor) -> String {
    let redactor = RefCell::new(redactor);
    page(input, &|text| {
        esc(&redactor.borrow_mut().redact(text)).into_owned()
    })
}

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
            Finding::ProbesFailed {
                failed, of, tls, ..
            } if !tls.is_empty() => {
                format!("{failed} of the last {of} probe rounds failed: TLS trust failure")
            }
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
            Finding::FailedStarts { count: 1, .. } => "The agent failed to start".to_string(),
            Finding::FailedStarts { count, .. } => {
                format!("The agent failed to start {count} times in a row")
            }
            Finding::UncleanEnds { count: 1, .. } => {
                "A run of the agent ended without a clean stop".to_string()
            }
            Finding::UncleanEnds { count, .. } => {
                format!("{count} runs of the agent ended without a clean stop")
            }
            Finding::RequirementsFailed {
                mandatory, failed, ..
            } => {
                let kind = if *mandatory { "mandatory" } else { "optional" };
                match failed.len() {
                    1 => format!("1 {kind} requirement failed"),
                    n => format!("{n} {kind} requirements failed"),
                }
            }
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
            Finding::NoAgent { why, .. } => format!(
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
            Finding::ProbesFailed { latest, tls, .. } => {
                let trust = if tls.is_empty() {
                    String::new()
                } else {
                    format!(
                        " The TLS handshake with {} failed: the agent does not trust the PSN's certificate (or it names another host), so it sent nothing to it.",
                        tls.join(", ")
                    )
                };
                format!(
                    "Failed rounds neither prove the port blocked nor reached a PSN.{trust} Latest: {}.",
                    latest.join("; ")
                )
            }
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
            Finding::FailedStarts {
                at, exit, message, ..
            } => format!(
                "The latest start, at {at}, exited {exit} ({}) before it ran, printing: {message}",
                exit_words(*exit)
            ),
            Finding::UncleanEnds { started, .. } => format!(
                "runs.jsonl has no stop record for the run started at {started} (and for the others counted): the process crashed, was killed, or the machine lost power. The log's last lines before the next start, and the service manager's log, tell which."
            ),
            Finding::RequirementsFailed {
                mandatory,
                assessed,
                of,
                failed,
            } => {
                let effect = if *mandatory {
                    "the PSN counts mandatory ones: the endpoint stays non-compliant until they pass"
                } else {
                    "optional ones do not change the posture"
                };
                format!(
                    "The last assessment ({assessed}) failed {} of {of} requirements; {effect}.",
                    failed.len()
                )
            }
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
            Finding::NoAgent { setup, .. } => Some(crate::dart::service::start_advice(setup.as_ref())),
            Finding::NoPsn { .. } => Some("Check that DiscoveryHost and CallHomeList in the profile name your PSNs and that ServerNameRules allows them; that the endpoint reaches the PSN's discovery port; and that the PSN's CA is trusted (trust.txt). logs/ shows each attempt's error.".to_string()),
            Finding::SyncDisabled => Some(
                "Set StateSyncProbeInterval (1-300 seconds) in the profile to enable it."
                    .to_string(),
            ),
            Finding::ProbesFailed { tls, .. } if !tls.is_empty() => Some("Trust the CA that issued the PSN's certificate: pass it with --ca-file (trust.txt lists what the agent trusts), and check that the certificate names the PSN as the profile does; then restart the agent.".to_string()),
            Finding::ProbesFailed { .. } | Finding::TargetFailing { .. } => Some("TLS errors: trust the PSN's CA (--ca-file). Timeouts or 5xx replies: check the PSN's state sync service and load.".to_string()),
            Finding::ProfileLint { .. } => Some("Change the profile as each help says; `posture-sync profile check FILE` shows the same warnings. The agent applies a changed profile without a restart.".to_string()),
            Finding::FailedStarts { exit, .. } => Some(match *exit {
                crate::exit::EX_CONFIG => "Correct what the message names (the profile's line and key, the CA file, or the directory's owner and mode); `posture-sync profile check FILE` checks a profile. Then start the agent again.".to_string(),
                crate::exit::EX_NOINPUT => "Install the profile (or the CA file) the message names, or pass --profile FILE; then start the agent again.".to_string(),
                crate::exit::EX_UNAVAILABLE => "No network interface with a MAC address was found: pass --mac, or start the agent once the network is up.".to_string(),
                _ => "Correct what the message names, then start the agent again.".to_string(),
            }),
            Finding::UncleanEnds { .. } => Some("If it repeats, send this bundle with the service manager's log (journalctl --user -u posture-sync.service, or the launchd log) to support.".to_string()),
            Finding::RequirementsFailed { mandatory: true, .. } => Some("Do what each requirement's remediation says (the server's text: the agent shows it and never acts on it), or ask the administrator who wrote the policy; then `posture-sync reassess` assesses again at once.".to_string()),
            Finding::RequirementsFailed { mandatory: false, .. }
            | Finding::Works
            | Finding::NothingWrong
            | Finding::OldHistory { .. } => None,
        }
    }

    /// The failed requirements a finding lists, as recorded (none for
    /// other findings): shown item by item, their text never as markup.
    pub fn requirements(&self) -> &[crate::requirement_result::RequirementResult] {
        match self {
            Finding::RequirementsFailed { failed, .. } => failed,
            _ => &[],
        }
    }
}

/// Text from outside the page's code (a requirement's reason, the server's
/// remediation) for HTML: escaped, never given `<code>` or links, and on a
/// line of its own, so that a redaction rule that takes "the rest of the
/// line" (`password=...`, docs/dart.md) takes no more than this text.
fn outside_text(text: &str, clean: Clean<'_>) -> String {
    format!("\n{}\n", clean(text))
}

/// The failed requirements as a list: id, the agent's reason, and the
/// server's remediation, each escaped as plain text.
fn requirements_list(
    items: &[crate::requirement_result::RequirementResult],
    clean: Clean<'_>,
) -> String {
    let mut html = String::from("<ul class=\"requirements\">");
    for r in items {
        let _ = write!(
            html,
            "<li class=\"requirement\"><strong>{}</strong>:<span class=\"reason\">{}</span>",
            clean(&r.id),
            outside_text(&r.reason, clean)
        );
        if let Some(fix) = &r.remediation {
            let _ = write!(
                html,
                "<div class=\"remediation\">What to do, in the server's words:<span class=\"server-text\">{}</span></div>",
                outside_text(fix, clean)
            );
        }
        html.push_str("</li>\n");
    }
    html.push_str("</ul>");
    html
}

/// Text from outside for a terminal: control characters (an escape
/// sequence would drive the terminal) become spaces.
fn terminal_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An exit code of `run` in words (`crate::exit`).
fn exit_words(code: u8) -> &'static str {
    match code {
        0 => "clean stop",
        crate::exit::EX_CONFIG => "invalid configuration",
        crate::exit::EX_NOINPUT => "no profile or CA file",
        crate::exit::EX_UNAVAILABLE => "no MAC address",
        crate::exit::LOCK_HELD => "another agent holds the state dir",
        _ => "startup error",
    }
}

fn phase_color(phase: PhaseName) -> &'static str {
    match phase {
        // Dark enough for the band's white label (4.6:1).
        PhaseName::Idle => "#757575",
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

/// `t` in the machine's local time, `offset` seconds east of UTC (the
/// offset when the bundle was collected): `2026-11-21 23:00:00 UTC+01:00`.
pub(super) fn fmt_local(t: SystemTime, offset: i32) -> String {
    let shift = Duration::from_secs(u64::from(offset.unsigned_abs()));
    let local = if offset >= 0 {
        t.checked_add(shift)
    } else {
        t.checked_sub(shift)
    };
    let Some(local) = local else {
        return "-".to_string();
    };
    let text = humantime::format_rfc3339_seconds(local).to_string();
    format!(
        "{} {}",
        text.trim_end_matches('Z').replacen('T', " ", 1),
        fmt_offset(offset)
    )
}

/// `UTC+01:00`, `UTC-09:30`, `UTC+00:00`.
pub(super) fn fmt_offset(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
}

/// An axis label from `date time`: the time only when the date is the
/// previous label's (`day` carries it from label to label).
fn tick_label(date_time: &str, day: &mut String) -> String {
    let Some((date, time)) = date_time.split_once(' ') else {
        return date_time.to_string();
    };
    if date == day {
        time.to_string()
    } else {
        *day = date.to_string();
        date_time.to_string()
    }
}

/// A record's time (`at`, RFC 3339 UTC) in local time, or nothing.
fn local_of(at: &str, offset: Option<i32>) -> Option<String> {
    let offset = offset?;
    let t = humantime::parse_rfc3339_weak(at.trim_end_matches('Z')).ok()?;
    Some(fmt_local(t, offset))
}

/// A run event in words, for the timeline and the runs table.
fn run_words(r: &RunRecord) -> String {
    match &r.event {
        RunEvent::Started { pid, version } => {
            format!("agent started (pid {pid}, posture-sync {version})")
        }
        RunEvent::Stopped { exit } => format!("agent stopped (exit {exit}, {})", exit_words(*exit)),
        RunEvent::FailedStart { exit, message } => format!(
            "start failed (exit {exit}, {}): {}",
            exit_words(*exit),
            message.lines().last().unwrap_or_default()
        ),
    }
}

/// How a run event is drawn: (stroke colour, dash pattern).
fn run_stroke(r: &RunRecord) -> (&'static str, &'static str) {
    match r.event {
        RunEvent::Started { .. } => (RUN_MARK, "5 3"),
        RunEvent::Stopped { exit: 0 } => (RUN_MARK, "none"),
        RunEvent::Stopped { .. } | RunEvent::FailedStart { .. } => ("#c62828", "none"),
    }
}

/// The colour of start and stop marks.
const RUN_MARK: &str = "#212121";
/// The band of time the agent did not run.
const NOT_RUNNING: &str = "#e0e0e0";

/// The timeline: a band of phases and a row of probe rounds on one time
/// axis, with the agent's starts and stops across both.
fn timeline_svg(input: &SummaryInput<'_>, clean: Clean<'_>) -> String {
    let (transitions, rounds, end) = (
        input.transitions,
        input.rounds.rounds.as_slice(),
        input.generated,
    );
    let round_times: Vec<(SystemTime, &RoundRecord)> =
        rounds.iter().filter_map(|r| Some((r.time()?, r))).collect();
    // Readers keep only records whose time parses.
    let changes_at: Vec<(SystemTime, &TransitionRecord)> = transitions
        .iter()
        .filter_map(|t| Some((t.time()?, t)))
        .collect();
    let runs_at: Vec<(SystemTime, &RunRecord)> = input
        .runs
        .iter()
        .filter_map(|r| Some((r.time()?, r)))
        .collect();
    let mut times: Vec<SystemTime> = changes_at.iter().map(|(t, _)| *t).collect();
    times.extend(round_times.iter().map(|(t, _)| *t));
    times.extend(runs_at.iter().map(|(t, _)| *t));
    let Some(&start) = times.iter().min() else {
        return "<p class=\"muted\">No phase changes, probe rounds or starts were recorded.</p>"
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
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 910 165\" width=\"910\" height=\"165\" role=\"img\" aria-label=\"timeline of phases, probe rounds, starts and stops\">\
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
            at = clean(&fmt_time(*at)),
            from = t.from,
            to = t.to,
            reason = clean(&t.reason),
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
    // The agent did not run from a stop or failed start to the next start
    // (to the end when no agent answered).
    for (i, (at, r)) in runs_at.iter().enumerate() {
        if matches!(r.event, RunEvent::Started { .. }) {
            continue;
        }
        let next_start = runs_at[i + 1..]
            .iter()
            .find(|(_, n)| matches!(n.event, RunEvent::Started { .. }))
            .map(|(t, _)| *t);
        let until = match next_start {
            Some(t) => x(t),
            None if input.status.is_err() => left + width,
            None => continue,
        };
        let x0 = x(*at);
        let _ = write!(
            svg,
            "<rect x=\"{x0:.1}\" y=\"22\" width=\"{w:.1}\" height=\"28\" fill=\"{NOT_RUNNING}\"><title>{t}: agent not running</title></rect>",
            w = (until - x0).max(1.0),
            t = clean(&r.at),
        );
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
            at = clean(&fmt_time(*at)),
            reason = clean(&t.reason),
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
            clean(&r.at),
            clean(&round_words(r)),
            clean(&detail.join("; ")),
        );
    }
    for (at, r) in &runs_at {
        let (stroke, dash) = run_stroke(r);
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"10\" x2=\"{x:.1}\" y2=\"100\" stroke=\"{stroke}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"><title>{t}: {what}</title></line>",
            x = x(*at),
            t = clean(&r.at),
            what = clean(&run_words(r)),
        );
    }
    // Five labelled ticks: UTC, and local time below when it is known. The
    // date is shown where it changes (and on the first tick) only, so the
    // labels never run into each other.
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"112\" x2=\"{r}\" y2=\"112\" stroke=\"#444\"/>\
         <text x=\"0\" y=\"130\" class=\"axis\">UTC</text>",
        r = left + width,
    );
    if let Some(offset) = input.utc_offset {
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"146\" class=\"axis local\">{}</text>",
            clean(&fmt_offset(offset))
        );
    }
    let (mut utc_day, mut local_day) = (String::new(), String::new());
    for i in 0..5u32 {
        let t = start + Duration::from_secs_f64(span * f64::from(i) / 4.0);
        let tx = x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let utc = fmt_time(t).trim_end_matches('Z').replacen('T', " ", 1);
        let _ = write!(
            svg,
            "<line x1=\"{tx:.1}\" y1=\"108\" x2=\"{tx:.1}\" y2=\"116\" stroke=\"#444\"/>\
             <text x=\"{tx:.1}\" y=\"130\" class=\"axis\" text-anchor=\"{anchor}\">{}</text>",
            clean(&tick_label(&utc, &mut utc_day)),
        );
        if let Some(offset) = input.utc_offset {
            let local = fmt_local(t, offset);
            let local = local.rsplit_once(' ').map_or(local.as_str(), |(l, _)| l);
            let _ = write!(
                svg,
                "<text x=\"{tx:.1}\" y=\"146\" class=\"axis local\" text-anchor=\"{anchor}\">{}</text>",
                clean(&tick_label(local, &mut local_day)),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1b1b;max-width:980px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:18px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.muted{color:#666}.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;padding:10px 14px;min-width:150px}\
.card .k{font-size:12px;color:#666;text-transform:uppercase}.card .v{font-size:20px;font-weight:600}\
.finding{border-left:6px solid #999;padding:8px 12px;margin:8px 0;background:#fafafa}\
.finding.problem{border-color:#c62828;background:#fdecea}.finding.warning{border-color:#ef6c00;background:#fff4e5}\
.finding.good{border-color:#2e7d32;background:#edf7ed}.finding.info{border-color:#1565c0;background:#e8f1fb}\
.finding h3{margin:0 0 4px;font-size:16px}.requirements{margin:6px 0;padding-left:20px}.fix{margin-top:6px}code{background:#eee;padding:1px 4px;border-radius:3px}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}td:first-child{white-space:nowrap}\
svg .axis{font-size:12px;fill:#444}svg .band{font-size:12px;fill:#fff}.legend span{display:inline-block;margin-right:14px;font-size:13px}\
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px;border-radius:2px}.sw.round{border-radius:50%;box-sizing:border-box}\
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}svg{max-width:100%;height:auto}\
@media print{body{margin:0;max-width:none;font-size:11pt}.finding,tr,svg,.legend span{break-inside:avoid}h2{break-after:avoid}}";

/// Turns `` `code` `` spans of escaped text into `<code>`.
fn with_code(text: &str, clean: Clean<'_>) -> String {
    let escaped = clean(text);
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

/// The local time column's header, when the offset is known.
fn local_header(offset: Option<i32>, clean: Clean<'_>) -> String {
    offset.map_or_else(String::new, |o| {
        format!("<th>local time ({})</th>", clean(&fmt_offset(o)))
    })
}

/// A record's local time as a cell, when the offset is known.
fn local_cell(at: &str, offset: Option<i32>, clean: Clean<'_>) -> String {
    if offset.is_none() {
        return String::new();
    }
    let local = local_of(at, offset).unwrap_or_else(|| "-".to_string());
    // The offset is in the header: the cell shows date and time only.
    let shown = local.rsplit_once(' ').map_or(local.as_str(), |(t, _)| t);
    format!("<td>{}</td>", clean(shown))
}

/// The agent's starts, stops and failed starts in text, newest first, each
/// start that has no stop record after it said so.
fn runs_table(input: &SummaryInput<'_>, clean: Clean<'_>) -> String {
    let mut html = String::from("<h2>Starts and stops</h2>");
    if input.runs.is_empty() {
        html.push_str("<p class=\"muted\">None recorded (runs.jsonl: an agent older than the file, or it never started with this state dir).</p>");
        return html;
    }
    let _ = write!(
        html,
        "<table id=\"runs\"><tr><th>time (UTC)</th>{}<th>event</th></tr>",
        local_header(input.utc_offset, clean)
    );
    let runs = input.runs;
    for (i, r) in runs.iter().enumerate().rev().take(RUNS_LISTED) {
        let mut what = run_words(r);
        if matches!(r.event, RunEvent::Started { .. }) {
            match runs.get(i + 1) {
                Some(next) if !matches!(next.event, RunEvent::Stopped { .. }) => {
                    what.push_str("; ended without a stop record (crash, kill or power loss)");
                }
                None if input.status.is_err() => {
                    what.push_str("; ended without a stop record (crash, kill or power loss)");
                }
                _ => {}
            }
        }
        let _ = write!(
            html,
            "<tr><td>{}</td>{}<td>{}</td></tr>",
            clean(&r.at),
            local_cell(&r.at, input.utc_offset, clean),
            clean(&what)
        );
    }
    html.push_str("</table>");
    html
}

/// How many of the latest run events the page lists.
const RUNS_LISTED: usize = 30;

/// How many of the latest decisions the page lists in text.
const DECISIONS_LISTED: usize = 50;

/// Every decision in text, newest first (time, from, to, why): what the
/// timeline's hover titles hold, readable in a screenshot, a PDF or print.
fn decisions_table(
    transitions: &[TransitionRecord],
    offset: Option<i32>,
    clean: Clean<'_>,
) -> String {
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
    let _ = write!(
        html,
        "<table id=\"decisions\"><tr><th>time (UTC)</th>{}<th>from</th><th>to</th><th>why</th></tr>",
        local_header(offset, clean)
    );
    for t in transitions.iter().rev().take(DECISIONS_LISTED) {
        let _ = write!(
            html,
            "<tr><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td></tr>",
            clean(&t.at),
            local_cell(&t.at, offset, clean),
            t.from,
            t.to,
            clean(&t.reason)
        );
    }
    html.push_str("</table>");
    html
}

/// The whole page, every text that is not a literal here through `clean`.
fn page(input: &SummaryInput<'_>, clean: Clean<'_>) -> String {
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
        host = clean(&input.host),
        at = clean(&match input.utc_offset {
            Some(o) => format!(
                "{} ({})",
                fmt_time(input.generated),
                fmt_local(input.generated, o)
            ),
            None => format!("{} (local time not recorded)", fmt_time(input.generated)),
        }),
        reason = input
            .reason
            .map(|r| format!(", automatically: {}", clean(&r.text)))
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
            clean(&v)
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
            clean(&session),
            clean(&last),
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
            title = clean(&f.title()),
            text = with_code(&f.text(), clean),
        );
        if !f.requirements().is_empty() {
            html.push_str(&requirements_list(f.requirements(), clean));
        }
        if let Some(fix) = f.fix() {
            let _ = write!(
                html,
                "<div class=\"fix\"><strong>Fix:</strong> {}</div>",
                with_code(&fix, clean)
            );
        }
        html.push_str("</div>");
    }
    let _ = write!(
        html,
        "<h2>Timeline</h2>{}<div class=\"legend\" id=\"legend\">",
        timeline_svg(input, clean),
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
         <span><i class=\"sw\" style=\"background:{DECISION_TICK};width:4px\"></i>other decision within a phase (listed below)</span>\
         <span><i class=\"sw\" style=\"background:repeating-linear-gradient(180deg,{RUN_MARK} 0 4px,#fff 4px 6px);width:3px\"></i>agent started</span>\
         <span><i class=\"sw\" style=\"background:{RUN_MARK};width:3px\"></i>agent stopped (exit 0)</span>\
         <span><i class=\"sw\" style=\"background:#c62828;width:3px\"></i>start failed, or stopped with an error</span>\
         <span><i class=\"sw\" style=\"background:{NOT_RUNNING}\"></i>agent not running</span></div>"
    );
    html.push_str(&decisions_table(input.transitions, input.utc_offset, clean));
    html.push_str(&runs_table(input, clean));
    html.push_str("<h2>Last probe rounds</h2>");
    if input.rounds.rounds.is_empty() {
        html.push_str("<p class=\"muted\">None recorded.</p>");
    } else {
        let _ = write!(
            html,
            "<table id=\"rounds\"><tr><th>time (UTC)</th>{}<th>outcome</th><th>targets</th></tr>",
            local_header(input.utc_offset, clean)
        );
        for r in input.rounds.rounds.iter().rev().take(15) {
            let targets: Vec<String> = r
                .targets
                .iter()
                .map(|t| format!("{}: {}", t.target, t.detail))
                .collect();
            let _ = write!(
                html,
                "<tr><td>{}</td>{}<td>{}</td><td>{}</td></tr>",
                clean(&r.at),
                local_cell(&r.at, input.utc_offset, clean),
                clean(&round_words(r)),
                clean(&targets.join("; "))
            );
        }
        html.push_str("</table>");
    }
    html.push_str("<h2>In this bundle</h2><ul>");
    for p in input.parts {
        let _ = write!(html, "<li><code>{}</code></li>", clean(p));
    }
    html.push_str("</ul>");
    if !input.missing.is_empty() {
        html.push_str("<h2>Not collected</h2><ul id=\"missing\">");
        for m in input.missing {
            let _ = write!(
                html,
                "<li><code>{}</code>: {}</li>",
                clean(&m.part),
                clean(&m.why)
            );
        }
        html.push_str("</ul>");
    }
    html.push_str("<p class=\"muted\">Secrets (private keys, passwords, tokens, authorization headers) were redacted from every file.</p></body></html>\n");
    html
}

/// The same findings as the page, as plain text for a terminal
/// (`posture-sync dart --summary`): the state, each finding with its fix,
/// and the latest decisions. `` ` `` marks stay as they are; every text
/// that is not this file's wording loses its control characters
/// (`terminal_text`), a decision's reason as much as a server's words.
pub fn render_text(input: &SummaryInput<'_>) -> String {
    let mut out = String::new();
    let local = input
        .utc_offset
        .map(|o| format!(" ({})", fmt_local(input.generated, o)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "posture-sync diagnostic summary for {}, {}{local}",
        terminal_text(&input.host),
        fmt_time(input.generated)
    );
    match input.status {
        Ok(s) => {
            let _ = writeln!(
                out,
                "phase {}, posture {}, psn {}",
                s.phase,
                s.posture,
                terminal_text(s.connected_psn.as_deref().unwrap_or("none"))
            );
        }
        Err(why) => {
            let _ = writeln!(out, "no agent answered: {}", terminal_text(why));
        }
    }
    for f in super::findings(input) {
        let _ = writeln!(
            out,
            "\n{}: {}\n  {}",
            label(f.severity()),
            terminal_text(&f.title()),
            terminal_text(&f.text())
        );
        for r in f.requirements() {
            let _ = writeln!(
                out,
                "  - {}: {}",
                terminal_text(&r.id),
                terminal_text(&r.reason)
            );
            if let Some(fix) = &r.remediation {
                let _ = writeln!(
                    out,
                    "    what to do (the server's words): {}",
                    terminal_text(fix)
                );
            }
        }
        if let Some(fix) = f.fix() {
            let _ = writeln!(out, "  fix: {}", terminal_text(&fix));
        }
    }
    if !input.transitions.is_empty() {
        let _ = writeln!(out, "\nlatest decisions (newest first):");
        for t in input.transitions.iter().rev().take(10) {
            let _ = writeln!(
                out,
                "  {} {} -> {} ({})",
                terminal_text(&t.at),
                t.from,
                t.to,
                terminal_text(&t.reason)
            );
        }
    }
    out
}
