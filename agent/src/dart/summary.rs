//! `summary.html`: the page support opens first. Current phase and posture,
//! the findings in plain words with the fix, and a timeline of phases and
//! probe rounds drawn as inline SVG. Self-contained: inline CSS, no script,
//! no external reference, every value HTML-escaped.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use posture_protocol::escape as esc;
use serde_json::Value;

use super::history::{PhaseChange, Round};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Needs a fix.
    Problem,
    /// Worth a look.
    Warning,
    /// For information.
    Info,
    /// Works as intended.
    Good,
}

impl Severity {
    fn class(self) -> &'static str {
        match self {
            Severity::Problem => "problem",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Good => "good",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Severity::Problem => "Problem",
            Severity::Warning => "Warning",
            Severity::Info => "Note",
            Severity::Good => "OK",
        }
    }
}

/// One finding: what is wrong, in plain words, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What the agent saw.
    pub text: String,
    /// What to do, if anything.
    pub fix: Option<String>,
}

/// Everything the page shows.
#[derive(Debug)]
pub struct SummaryInput<'a> {
    /// When the bundle was collected.
    pub generated: SystemTime,
    /// The host name.
    pub host: String,
    /// Why it was collected automatically, if it was.
    pub reason: Option<&'a str>,
    /// The running agent's status, or why there is none.
    pub status: Result<&'a Value, &'a str>,
    /// The last probe rounds, oldest first.
    pub rounds: &'a [Round],
    /// Phase changes from the logs, oldest first.
    pub transitions: &'a [PhaseChange],
    /// The files in the bundle.
    pub parts: &'a [String],
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
}

fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
}

/// `host:port` split; brackets of an IPv6 literal removed.
fn split_host_port(target: &str) -> (String, String) {
    match target.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.to_string(),
        ),
        _ => (target.to_string(), "8449".to_string()),
    }
}

fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// The findings, most serious first.
pub fn findings(input: &SummaryInput<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let status = input.status.ok();
    let posture = status.and_then(|s| str_at(s, &["posture"]));
    let phase = status.and_then(|s| str_at(s, &["phase"]));
    let stopped = status.and_then(|s| str_at(s, &["sync", "stopped_reason"]));
    let reason_misconf = input
        .reason
        .is_some_and(|r| r.to_ascii_lowercase().contains("misconfiguration"));

    // A PSN that answered the posture the agent already had: the dACL does
    // not block the state sync port.
    let known = |p: &str| matches!(p, "Compliant" | "NonCompliant");
    let same_answer = input.rounds.iter().rev().find(|r| {
        r.outcome == "status"
            && r.answer()
                .is_some_and(|a| known(a) && posture.is_none_or(|p| p == a))
    });
    if stopped == Some("misconfiguration") || reason_misconf || same_answer.is_some() {
        let target = same_answer
            .and_then(|r| r.target.clone())
            .or_else(|| {
                status.and_then(|s| str_at(s, &["last_probe", "target"]).map(str::to_string))
            })
            .or_else(|| status.and_then(|s| str_at(s, &["connected_psn"]).map(str::to_string)))
            .unwrap_or_else(|| "PSN:8449".to_string());
        let answered = same_answer
            .and_then(Round::answer)
            .or(posture)
            .unwrap_or("Compliant");
        let (host, port) = split_host_port(&target);
        let ip = if is_ip(&host) {
            host.clone()
        } else {
            format!("<IP address of {host}>")
        };
        let when = same_answer
            .map(|r| format!(" at {}", r.at))
            .unwrap_or_default();
        out.push(Finding {
            severity: Severity::Problem,
            title: "dACL misconfiguration: the state sync port is not blocked".to_string(),
            text: format!(
                "PSN {host} ({target}) answered a state sync probe{when} while the endpoint was {answered}: the dACL does not block the port. The agent stopped state sync probing until it restarts."
            ),
            fix: Some(format!(
                "Add `deny tcp any host {ip} eq {port}` at the top of the dACL used for {answered} endpoints (one line per PSN, before `permit ip any any`), then restart the agent."
            )),
        });
    }

    match input.status {
        Err(why) => out.push(Finding {
            severity: Severity::Warning,
            title: "No agent was running".to_string(),
            text: format!("The status socket did not answer: {why}. The status, phase and posture below are unknown; the logs show the last run."),
            fix: Some("Start the agent (`systemctl --user start posture-sync`, or `posture-sync run --profile FILE`) and collect a new bundle.".to_string()),
        }),
        Ok(_) if phase == Some("discovering") => {
            // Each failed attempt is logged as a `discovering -> discovering`
            // decision naming every target and its error.
            let failures: Vec<&PhaseChange> = input
                .transitions
                .iter()
                .filter(|t| t.from == "discovering" && t.to == "discovering")
                .collect();
            let attempts = match (failures.first(), failures.last()) {
                (Some(first), Some(last)) => format!(
                    " {} discovery attempts failed since {}; the last one: {}.",
                    failures.len(),
                    fmt_time(first.at),
                    last.reason
                ),
                _ => String::new(),
            };
            out.push(Finding {
                severity: if input.reason.is_some_and(|r| r.contains("discovery")) { Severity::Problem } else { Severity::Warning },
                title: "The agent has not found a PSN".to_string(),
                text: format!("The agent is in discovery: no PSN answered yet, so the posture is not assessed.{attempts}"),
                fix: Some("Check that DiscoveryHost and CallHomeList in the profile name your PSNs and that ServerNameRules allows them; that the endpoint reaches the PSN's discovery port; and that the PSN's CA is trusted (trust.txt). logs/ shows each attempt's error.".to_string()),
            });
        }
        Ok(_) => {}
    }

    if stopped == Some("disabled-by-profile") {
        out.push(Finding {
            severity: Severity::Info,
            title: "State sync is disabled by the profile".to_string(),
            text: "StateSyncProbeInterval is 0 or absent, so the agent does not probe.".to_string(),
            fix: Some(
                "Set StateSyncProbeInterval (1-300 seconds) in the profile to enable it."
                    .to_string(),
            ),
        });
    }

    let failed: Vec<&Round> = input
        .rounds
        .iter()
        .filter(|r| r.outcome == "failed")
        .collect();
    if !failed.is_empty() {
        let details: Vec<String> = failed
            .iter()
            .rev()
            .take(3)
            .flat_map(|r| {
                r.targets
                    .iter()
                    .map(|t| format!("{}: {}", t.target, t.detail))
            })
            .take(5)
            .collect();
        out.push(Finding {
            severity: Severity::Warning,
            title: format!("{} of the last {} probe rounds failed", failed.len(), input.rounds.len()),
            text: format!("Failed rounds neither prove the port blocked nor reached a PSN. Latest: {}.", details.join("; ")),
            fix: Some("TLS errors: trust the PSN's CA (--ca-file). Timeouts or 5xx replies: check the PSN's state sync service and load.".to_string()),
        });
    }

    if out.iter().all(|f| f.severity > Severity::Warning) {
        let last = input.rounds.last();
        if phase == Some("known") && last.is_some_and(|r| r.outcome == "blocked") {
            out.push(Finding {
                severity: Severity::Good,
                title: "State sync works".to_string(),
                text: "The endpoint's posture is known and the latest state sync probes were blocked, as the dACL intends.".to_string(),
                fix: None,
            });
        } else if out.is_empty() {
            out.push(Finding {
                severity: Severity::Info,
                title: "Nothing wrong found".to_string(),
                text: "No misconfiguration, discovery or probe problem shows in this bundle."
                    .to_string(),
                fix: None,
            });
        }
    }
    out.sort_by_key(|f| f.severity);
    out
}

fn phase_color(phase: &str) -> &'static str {
    match phase {
        "idle" => "#9e9e9e",
        "discovering" => "#1565c0",
        "assessing" => "#7b1fa2",
        "known" => "#2e7d32",
        _ => "#616161",
    }
}

fn round_color(outcome: &str) -> &'static str {
    match outcome {
        "blocked" => "#2e7d32",
        "status" => "#c62828",
        _ => "#ef6c00",
    }
}

fn fmt_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The timeline: a band of phases and a row of probe rounds on one time axis.
pub fn timeline_svg(transitions: &[PhaseChange], rounds: &[Round], end: SystemTime) -> String {
    let round_times: Vec<(SystemTime, &Round)> =
        rounds.iter().filter_map(|r| Some((r.time()?, r))).collect();
    let mut times: Vec<SystemTime> = transitions.iter().map(|t| t.at).collect();
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
    let changes: Vec<&PhaseChange> = transitions
        .iter()
        .enumerate()
        .filter(|(i, t)| *i == 0 || t.from != t.to)
        .map(|(_, t)| t)
        .collect();
    for (i, t) in changes.iter().enumerate() {
        let x0 = x(t.at);
        let x1 = changes.get(i + 1).map_or(left + width, |n| x(n.at));
        let w = (x1 - x0).max(1.0);
        let _ = write!(
            svg,
            "<rect x=\"{x0:.1}\" y=\"22\" width=\"{w:.1}\" height=\"28\" fill=\"{c}\"><title>{at}: {from} -&gt; {to} ({reason})</title></rect>",
            c = phase_color(&t.to),
            at = esc(&fmt_time(t.at)),
            from = esc(&t.from),
            to = esc(&t.to),
            reason = esc(&t.reason),
        );
        if w > 70.0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"41\" class=\"band\">{}</text>",
                x0 + 4.0,
                esc(&t.to)
            );
        }
    }
    for t in transitions.iter().filter(|t| t.from == t.to) {
        let c = if t.reason.contains("misconfiguration") {
            "#c62828"
        } else {
            "#212121"
        };
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"16\" x2=\"{x:.1}\" y2=\"56\" stroke=\"{c}\" stroke-width=\"3\"><title>{at}: {reason}</title></line>",
            x = x(t.at),
            at = esc(&fmt_time(t.at)),
            reason = esc(&t.reason),
        );
    }
    for (t, r) in &round_times {
        let detail: Vec<String> = r
            .targets
            .iter()
            .map(|t| format!("{} {}", t.target, t.detail))
            .collect();
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"85\" r=\"6\" fill=\"{}\"><title>{}: {} ({})</title></circle>",
            x(*t),
            round_color(&r.outcome),
            esc(&r.at),
            esc(&r.outcome),
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
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px;border-radius:2px}";

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

/// The whole page.
pub fn render(input: &SummaryInput<'_>) -> String {
    let status = input.status.ok();
    let get = |path: &[&str]| status.and_then(|s| str_at(s, path)).unwrap_or("unknown");
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
            .map(|r| format!(", automatically: {}", esc(r)))
            .unwrap_or_default(),
        ver = env!("CARGO_PKG_VERSION"),
    );
    let sync = match status.map(|s| str_at(s, &["sync", "stopped_reason"])) {
        Some(Some(r)) => format!("stopped ({r})"),
        Some(None)
            if status
                .and_then(|s| s.pointer("/sync/enabled"))
                .and_then(Value::as_bool)
                == Some(false) =>
        {
            "disabled".to_string()
        }
        Some(None) if status.and_then(|s| str_at(s, &["phase"])) == Some("known") => {
            "probing".to_string()
        }
        Some(None) => "enabled".to_string(),
        None => "unknown".to_string(),
    };
    let _ = write!(html, "<h2>Current state</h2><div class=\"cards\">");
    for (k, v, id) in [
        ("Phase", get(&["phase"]).to_string(), "phase"),
        ("Posture", get(&["posture"]).to_string(), "posture"),
        ("State sync", sync, "sync"),
        ("Connected PSN", get(&["connected_psn"]).to_string(), "psn"),
    ] {
        let _ = write!(
            html,
            "<div class=\"card\" id=\"{id}\"><div class=\"k\">{k}</div><div class=\"v\">{}</div></div>",
            esc(&v)
        );
    }
    html.push_str("</div>");
    if let Some(s) = status {
        let session = str_at(s, &["session_id"])
            .map_or("No session yet".to_string(), |id| format!("Session {id}"));
        let last = match str_at(s, &["last_probe", "at"]) {
            Some(at) => format!(
                "last probe {at} to {} ({})",
                get(&["last_probe", "target"]),
                get(&["last_probe", "outcome"])
            ),
            None => "no probe yet".to_string(),
        };
        let _ = write!(
            html,
            "<p>{}; {}; probe rounds {}, discovery restarts {}, misconfigurations {}.</p>",
            esc(&session),
            esc(&last),
            u64_at(s, &["counters", "probe_rounds"]).unwrap_or(0),
            u64_at(s, &["counters", "discovery_restarts"]).unwrap_or(0),
            u64_at(s, &["counters", "misconfigurations"]).unwrap_or(0),
        );
    }
    html.push_str("<h2>Findings</h2>");
    for f in findings(input) {
        let _ = write!(
            html,
            "<div class=\"finding {c}\"><h3>{label}: {title}</h3><div>{text}</div>",
            c = f.severity.class(),
            label = f.severity.label(),
            title = esc(&f.title),
            text = with_code(&f.text),
        );
        if let Some(fix) = &f.fix {
            let _ = write!(
                html,
                "<div class=\"fix\"><strong>Fix:</strong> {}</div>",
                with_code(fix)
            );
        }
        html.push_str("</div>");
    }
    let _ = write!(
        html,
        "<h2>Timeline</h2>{}<div class=\"legend\">\
         <span><i class=\"sw\" style=\"background:{}\"></i>discovering</span>\
         <span><i class=\"sw\" style=\"background:{}\"></i>assessing</span>\
         <span><i class=\"sw\" style=\"background:{}\"></i>known</span>\
         <span><i class=\"sw\" style=\"background:{}\"></i>idle</span>\
         <span><i class=\"sw\" style=\"background:{}\"></i>probe blocked</span>\
         <span><i class=\"sw\" style=\"background:{}\"></i>probe answered</span>\
         <span><i class=\"sw\" style=\"background:{}\"></i>probe failed</span>\
         <span><i class=\"sw\" style=\"background:#c62828;width:4px\"></i>misconfiguration decision</span></div>",
        timeline_svg(input.transitions, input.rounds, input.generated),
        phase_color("discovering"),
        phase_color("assessing"),
        phase_color("known"),
        phase_color("idle"),
        round_color("blocked"),
        round_color("status"),
        round_color("failed"),
    );
    html.push_str("<h2>Last probe rounds</h2>");
    if input.rounds.is_empty() {
        html.push_str("<p class=\"muted\">None recorded.</p>");
    } else {
        html.push_str("<table><tr><th>time</th><th>outcome</th><th>targets</th></tr>");
        for r in input.rounds.iter().rev().take(15) {
            let targets: Vec<String> = r
                .targets
                .iter()
                .map(|t| format!("{}: {}", t.target, t.detail))
                .collect();
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.at),
                esc(&r.outcome),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dart::history::parse_rounds;

    fn status(phase: &str, posture: &str, stopped: Option<&str>) -> Value {
        serde_json::json!({
            "phase": phase, "posture": posture, "session_id": "s1",
            "connected_psn": "127.0.0.1:8443",
            "sync": {"enabled": true, "stopped_reason": stopped},
            "last_probe": {"at": "2026-11-21T22:00:02Z", "target": "127.0.0.1:8449", "outcome": "status"},
            "counters": {"probe_rounds": 3, "discovery_restarts": 0, "misconfigurations": 1}
        })
    }

    const ROUND: &str = r#"{"at":"2026-11-21T22:00:02.000Z","session":"s1","outcome":"status","target":"127.0.0.1:8449","targets":[{"target":"127.0.0.1:8449","outcome":"status","detail":"answered Compliant"}]}"#;

    #[test]
    fn misconfiguration_names_the_psn_and_the_dacl_line() {
        let s = status("known", "Compliant", Some("misconfiguration"));
        let rounds = parse_rounds(ROUND, 10);
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            host: "lab<1>".into(),
            reason: Some("misconfiguration"),
            status: Ok(&s),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
        };
        let f = findings(&input);
        assert_eq!(f[0].severity, Severity::Problem);
        assert!(
            f[0].text
                .contains("PSN 127.0.0.1 (127.0.0.1:8449) answered a state sync probe")
        );
        assert!(f[0].text.contains("while the endpoint was Compliant"));
        assert_eq!(
            f[0].fix.as_deref(),
            Some(
                "Add `deny tcp any host 127.0.0.1 eq 8449` at the top of the dACL used for Compliant endpoints (one line per PSN, before `permit ip any any`), then restart the agent."
            )
        );
        let html = render(&input);
        assert!(html.contains("lab&lt;1&gt;"));
        assert!(html.contains("<code>deny tcp any host 127.0.0.1 eq 8449</code>"));
        assert!(html.contains("<svg"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("src=\"http"));
    }

    #[test]
    fn hostname_psn_gets_a_placeholder_ip_and_no_agent_is_a_warning() {
        let rounds = parse_rounds(&ROUND.replace("127.0.0.1", "psn1.lab"), 10);
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status: Err("no agent answers on /x/agent.sock"),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
        };
        let f = findings(&input);
        assert!(
            f[0].fix
                .as_deref()
                .unwrap()
                .contains("deny tcp any host <IP address of psn1.lab> eq 8449")
        );
        assert!(f.iter().any(|f| f.title == "No agent was running"));
    }

    #[test]
    fn blocked_probes_while_known_read_as_working() {
        let s = status("known", "Compliant", None);
        let rounds = parse_rounds(
            &ROUND
                .replace(
                    "\"outcome\":\"status\",\"target\"",
                    "\"outcome\":\"blocked\",\"target\"",
                )
                .replace("answered Compliant", "blocked (timeout)")
                .replace(
                    "\"outcome\":\"status\",\"detail\"",
                    "\"outcome\":\"blocked\",\"detail\"",
                ),
            10,
        );
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status: Ok(&s),
            rounds: &rounds,
            transitions: &[],
            parts: &[],
        };
        let f = findings(&input);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Good);
    }
}
