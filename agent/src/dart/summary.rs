//! `summary.html`: the page support opens first. Current phase and posture,
//! the findings in plain words with the fix, and a timeline of phases and
//! probe rounds drawn as inline SVG.
//!
//! Typed input only: the status as [`StatusReport`] (the type `status`
//! deserialises), the rounds and decisions as [`crate::record`] types, the
//! bundle's reason as a [`BundleReasonRecord`]. [`findings`] decides what the
//! bundle shows (pure); [`render`] writes the page.

use std::time::SystemTime;

use super::history::Rounds;
use crate::record::{BundleReasonRecord, TransitionRecord};
use crate::status_report::StatusReport;

mod findings;
mod render;

pub use findings::{Finding, Severity, findings};
pub use render::{render, render_redacted, render_text};

/// Everything the page shows.
#[derive(Debug)]
pub struct SummaryInput<'a> {
    /// When the bundle was collected.
    pub generated: SystemTime,
    /// The host name.
    pub host: String,
    /// Why it was collected automatically, if it was.
    pub reason: Option<&'a BundleReasonRecord>,
    /// The running agent's status, or why there is none.
    pub status: Result<&'a StatusReport, &'a str>,
    /// The last probe rounds, oldest first, and what could not be read.
    pub rounds: &'a Rounds,
    /// The machine's decisions, oldest first.
    pub transitions: &'a [TransitionRecord],
    /// The files in the bundle.
    pub parts: &'a [String],
    /// The warnings `profile check` gives for the bundled profile (the
    /// advice that matters next to a finding, e.g. a NetworkTransitionDelay
    /// that invites the vendor's false alarm).
    pub lint: &'a [profile_schema::Diagnostic],
    /// What the bundle could not collect, and why.
    pub missing: &'a [super::missing::Missing],
    /// The agent's starts, stops and failed starts, oldest first.
    pub runs: &'a [crate::record::RunRecord],
    /// How the agent is set up to run here, if known (the advice to start
    /// it depends on it).
    pub setup: Option<&'a super::service::Setup>,
    /// The machine's offset from UTC when the bundle was collected, in
    /// seconds east (`date +%z`), if known: local times stand beside UTC.
    pub utc_offset: Option<i32>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use posture_protocol::PostureStatus;

    use super::*;
    use crate::dart::history::parse_rounds;
    use crate::machine::PhaseName;
    use crate::record::BundleCause;

    fn status(phase: &str, posture: &str, stopped: Option<&str>) -> StatusReport {
        serde_json::from_value(serde_json::json!({
            "phase": phase, "posture": posture, "session_id": "s1",
            "connected_psn": "127.0.0.1:8443",
            "sync": {"enabled": true, "stopped_reason": stopped},
            "last_probe": {"at": "2026-11-21T22:00:02Z", "target": "127.0.0.1:8449", "outcome": "status"},
            "counters": {"probe_rounds": 3, "discovery_restarts": 0, "misconfigurations": 1}
        }))
        .unwrap()
    }

    /// A bundle with only a status (or why there is none) and rounds; a test
    /// sets what else it is about with `..input(status, &rounds)`.
    pub(super) fn input<'a>(
        status: Result<&'a StatusReport, &'a str>,
        rounds: &'a crate::dart::history::Rounds,
    ) -> SummaryInput<'a> {
        SummaryInput {
            generated: SystemTime::UNIX_EPOCH,
            host: "h".into(),
            reason: None,
            status,
            rounds,
            transitions: &[],
            parts: &[],
            lint: &[],
            missing: &[],
            runs: &[],
            setup: None,
            utc_offset: None,
        }
    }

    fn misconfiguration() -> BundleReasonRecord {
        BundleReasonRecord {
            cause: BundleCause::Misconfiguration {
                psn: "127.0.0.1:8449".into(),
                status: PostureStatus::Compliant,
                session: "s1".into(),
            },
            text: "misconfiguration".into(),
        }
    }

    const ROUND: &str = r#"{"v":2,"at":"2026-11-21T22:00:02.000Z","session":"s1","outcome":"status","target":"127.0.0.1:8449","status":"Compliant","targets":[{"target":"127.0.0.1:8449","outcome":"status","detail":"answered Compliant"}]}"#;

    #[test]
    fn misconfiguration_names_the_psn_and_the_dacl_line() {
        let s = status("known", "Compliant", Some("misconfiguration"));
        let rounds = parse_rounds(ROUND, 10);
        let reason = misconfiguration();
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            host: "lab<1>".into(),
            reason: Some(&reason),
            ..input(Ok(&s), &rounds)
        };
        let f = findings(&input);
        assert_eq!(f[0].severity(), Severity::Problem);
        assert!(
            f[0].text()
                .contains("PSN 127.0.0.1 (127.0.0.1:8449) answered a state sync probe")
        );
        assert!(f[0].text().contains("while the endpoint was Compliant"));
        assert_eq!(
            f[0].fix().as_deref(),
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
        let input = input(Err("no agent answers on /x/agent.sock"), &rounds);
        let f = findings(&input);
        assert!(
            f[0].fix()
                .unwrap()
                .contains("deny tcp any host <IP address of psn1.lab> eq 8449")
        );
        assert!(f.iter().any(|f| f.title() == "No agent was running"));
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
                .replace(",\"status\":\"Compliant\"", "")
                .replace("answered Compliant", "blocked (timeout)")
                .replace(
                    "\"outcome\":\"status\",\"detail\"",
                    "\"outcome\":\"blocked\",\"detail\"",
                ),
            10,
        );
        let input = input(Ok(&s), &rounds);
        let f = findings(&input);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity(), Severity::Good);
    }

    /// An older agent's round names its answer only in words: it is shown
    /// and noted, never taken as evidence of an answered probe.
    #[test]
    fn an_old_format_round_is_noted_and_not_read_as_an_answer() {
        let s = status("known", "Compliant", None);
        let old = r#"{"at":"2026-11-21T22:00:02.000Z","session":"s1","outcome":"status","target":"127.0.0.1:8449","targets":[{"target":"127.0.0.1:8449","outcome":"status","detail":"answered Compliant"}]}"#;
        let rounds = parse_rounds(&format!("{old}\ngarbage\n"), 10);
        let input = input(Ok(&s), &rounds);
        let f = findings(&input);
        assert!(
            !f.iter()
                .any(|f| matches!(f, Finding::Misconfiguration { .. })),
            "{f:?}"
        );
        let note = f
            .iter()
            .find(|f| matches!(f, Finding::OldHistory { .. }))
            .expect("a note on the old lines");
        assert!(
            note.text()
                .starts_with("1 probe rounds were written by an older agent")
        );
        assert!(
            note.text()
                .contains("1 lines of probe-rounds.jsonl could not be read")
        );
        let html = render(&input);
        assert!(html.contains("Part of the probe history was not read in full"));
        assert!(
            html.contains("answered Compliant"),
            "the old round is still shown"
        );
    }

    /// psn1 fails (HTTP 500) while psn2 answers Unknown: the round is the
    /// expected rediscovery, and the failing PSN behind it is named.
    const MIXED: &str = r#"{"v":2,"at":"2026-11-21T22:00:05.000Z","session":"s1","outcome":"status","target":"psn2.lab:8449","status":"Unknown","targets":[{"target":"psn1.lab:8449","outcome":"failed","detail":"failed: http status 500"},{"target":"psn2.lab:8449","outcome":"status","detail":"answered Unknown"}]}"#;

    fn transition(at: &str, from: PhaseName, to: PhaseName, reason: &str) -> TransitionRecord {
        TransitionRecord {
            v: crate::record::RECORD_VERSION,
            at: at.into(),
            from,
            to,
            kind: crate::machine::ReasonKind::Discovered,
            reason: reason.into(),
            session: Some("s1".into()),
            psn: None,
        }
    }

    #[test]
    fn a_failing_psn_behind_an_answering_one_is_named() {
        let s = status("discovering", "Unknown", None);
        let rounds = parse_rounds(MIXED, 10);
        let input = input(Ok(&s), &rounds);
        let f = findings(&input);
        let hidden = f
            .iter()
            .find(|f| matches!(f, Finding::TargetFailing { .. }))
            .unwrap_or_else(|| panic!("no finding for psn1: {f:?}"));
        assert_eq!(hidden.severity(), Severity::Warning);
        assert_eq!(
            hidden.title(),
            "PSN psn1.lab:8449 fails behind an answering one"
        );
        assert!(
            hidden
                .text()
                .contains("failed in 1 of the 1 rounds that asked it"),
            "{}",
            hidden.text()
        );
        assert!(hidden.text().contains("failed: http status 500"));
        let html = render(&input);
        // The round reads as the expected change, in words, with the ring
        // of the failed target.
        assert!(html.contains("<td>answered Unknown</td>"), "{html}");
        assert!(!html.contains("<td>status</td>"));
        assert!(
            html.contains("fill=\"#1e88e5\" stroke=\"#ef6c00\""),
            "{html}"
        );
    }

    #[test]
    fn every_decision_is_listed_in_text_and_the_legend_is_complete() {
        let s = status("known", "Compliant", None);
        let rounds = parse_rounds(MIXED, 10);
        let transitions = [
            transition(
                "2026-11-21T22:00:00.000Z",
                PhaseName::Discovering,
                PhaseName::Assessing,
                "session found, server posture Unknown",
            ),
            transition(
                "2026-11-21T22:00:01.000Z",
                PhaseName::Known,
                PhaseName::Known,
                "probe answered <Compliant> by psn1; confirming",
            ),
        ];
        let input = SummaryInput {
            transitions: &transitions,
            ..input(Ok(&s), &rounds)
        };
        let html = render(&input);
        let table = &html[html.find("id=\"decisions\"").expect("a decisions table")..];
        // Newest first, every field as text (escaped).
        let newest = table
            .find("probe answered &lt;Compliant&gt; by psn1; confirming")
            .expect("the in-phase decision");
        let oldest = table
            .find("session found, server posture Unknown")
            .expect("the phase change");
        assert!(newest < oldest);
        assert!(
            table.contains(
                "<td>2026-11-21T22:00:00.000Z</td><td>discovering</td><td>assessing</td>"
            )
        );
        let legend = &html[html.find("id=\"legend\"").unwrap()..];
        for entry in [
            "discovering",
            "assessing",
            "known",
            "idle",
            "probe blocked (normal)",
            "server reset: rediscovery",
            "dACL not blocking",
            "probe failed",
            "a target failed, another decided the round",
            "misconfiguration decision",
            "other decision within a phase",
        ] {
            assert!(legend.contains(entry), "legend lacks {entry}");
        }
    }

    /// The agent warned that the transition delay invites the vendor's
    /// false alarm: the page says so next to the misconfiguration.
    #[test]
    fn profile_warnings_stand_next_to_the_misconfiguration() {
        let profile = profile_schema::Profile::parse(
            "<cfg>\n<StateSyncProbeInterval>60</StateSyncProbeInterval>\n<NetworkTransitionDelay>2</NetworkTransitionDelay>\n<DiscoveryHost>psn1.lab</DiscoveryHost>\n</cfg>",
        )
        .unwrap()
        .profile;
        let lint: Vec<_> = profile
            .lint()
            .into_iter()
            .filter(|d| d.severity == profile_schema::Severity::Warning)
            .collect();
        assert!(!lint.is_empty());
        let s = status("known", "Compliant", Some("misconfiguration"));
        let rounds = parse_rounds(ROUND, 10);
        let input = SummaryInput {
            lint: &lint,
            ..input(Ok(&s), &rounds)
        };
        let f = findings(&input);
        assert!(matches!(f[0], Finding::Misconfiguration { .. }), "{f:?}");
        let advice = f
            .iter()
            .find(|f| matches!(f, Finding::ProfileLint { .. }))
            .expect("the profile's warnings");
        assert!(
            advice
                .text()
                .contains("profile.xml line 3: NetworkTransitionDelay"),
            "{}",
            advice.text()
        );
        assert!(render(&input).contains("The profile check gives"));
    }

    fn run(at: &str, event: crate::record::RunEvent) -> crate::record::RunRecord {
        crate::record::RunRecord {
            v: crate::record::RECORD_VERSION,
            at: at.into(),
            event,
        }
    }

    /// Failed starts after the last good one are the problem of the page,
    /// with what the agent printed; a start without a stop record after it
    /// is a run that ended uncleanly.
    #[test]
    fn failed_starts_and_unclean_ends_are_found_in_the_runs() {
        use crate::record::RunEvent::{FailedStart, Started, Stopped};
        let started = || Started {
            pid: 7,
            version: "0.1.0".into(),
        };
        let failed = || FailedStart {
            exit: 78,
            message: "/p.xml:2:5: StateSyncProbeInterval: not a number".into(),
        };
        let runs = [
            run("2026-11-21T20:00:00.000Z", started()),
            run("2026-11-21T20:10:00.000Z", Stopped { exit: 0 }),
            run("2026-11-21T20:20:00.000Z", started()),
            // No stop: killed.
            run("2026-11-21T20:30:00.000Z", failed()),
            run("2026-11-21T20:31:00.000Z", failed()),
        ];
        let rounds = parse_rounds("", 10);
        let input = SummaryInput {
            runs: &runs,
            ..input(Err("no agent answers"), &rounds)
        };
        let f = findings(&input);
        assert_eq!(
            f[0],
            Finding::FailedStarts {
                count: 2,
                at: "2026-11-21T20:31:00.000Z".into(),
                exit: 78,
                message: "/p.xml:2:5: StateSyncProbeInterval: not a number".into(),
            }
        );
        assert_eq!(f[0].title(), "The agent failed to start 2 times in a row");
        assert!(
            f[0].fix()
                .unwrap()
                .contains("posture-sync profile check FILE")
        );
        let unclean = f
            .iter()
            .find(|f| matches!(f, Finding::UncleanEnds { .. }))
            .expect("the killed run");
        assert_eq!(
            unclean,
            &Finding::UncleanEnds {
                count: 1,
                started: "2026-11-21T20:20:00.000Z".into()
            }
        );
        let html = render(&input);
        assert!(html.contains("start failed (exit 78, invalid configuration): /p.xml:2:5"));
        // A good start after the failures: nothing to report about them.
        let mut later = runs.to_vec();
        later.push(run("2026-11-21T20:40:00.000Z", started()));
        let input = SummaryInput {
            runs: &later,
            status: Ok(&status("discovering", "Unknown", None)),
            ..input
        };
        assert!(
            !findings(&input)
                .iter()
                .any(|f| matches!(f, Finding::FailedStarts { .. })),
            "{:?}",
            findings(&input)
        );
    }

    /// Local time (at the offset recorded at collection) stands beside UTC
    /// in the header, the tables and the axis.
    #[test]
    fn local_time_stands_beside_utc() {
        let s = status("known", "Compliant", None);
        let rounds = parse_rounds(MIXED, 10);
        let transitions = [transition(
            "2026-11-21T22:00:00.000Z",
            PhaseName::Discovering,
            PhaseName::Assessing,
            "session found",
        )];
        let input = SummaryInput {
            generated: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_300_000),
            transitions: &transitions,
            utc_offset: Some(-(9 * 3600 + 1800)),
            ..input(Ok(&s), &rounds)
        };
        let html = render(&input);
        assert!(html.contains("<th>local time (UTC-09:30)</th>"), "{html}");
        assert!(
            html.contains("<td>2026-11-21T22:00:00.000Z</td><td>2026-11-21 12:30:00</td>"),
            "{html}"
        );
        assert!(html.contains("(2026-11-21 12:56:40 UTC-09:30)"), "{html}");
        // Five ticks and the row's name.
        assert_eq!(html.matches("class=\"axis local\"").count(), 6, "{html}");
        assert!(html.contains("class=\"axis local\">UTC-09:30</text>"));
        assert!(render_text(&input).contains("(2026-11-21 12:56:40 UTC-09:30)"));
        let html = render(&SummaryInput {
            utc_offset: None,
            ..input
        });
        assert!(html.contains("(local time not recorded)"));
        assert!(!html.contains("local time ("));
    }
}

/// Issue 15: the last assessment's failed requirements, with the agent's
/// reason and the server's remediation, on the page and in the text.
#[cfg(test)]
mod requirement_tests {
    use super::tests::input;
    use super::*;
    use crate::dart::history::parse_rounds;
    use crate::dart::redact::Redactor;
    use crate::machine::{PhaseName, ReasonKind};
    use crate::record::{RunEvent, RunRecord, TransitionRecord};
    use crate::requirement_result::RequirementResult;

    /// What a hostile or careless server may put in its remediation text:
    /// markup, a link, backticks (the page's own `code` marks).
    const HOSTILE: &str = "Reinstall <b>now</b>: <a href=\"https://evil.example/\">click</a> or see https://wiki.example/upgrade, then run `rm -rf /` & reboot";

    fn requirement(
        id: &str,
        mandatory: bool,
        passed: bool,
        reason: &str,
        fix: Option<&str>,
    ) -> RequirementResult {
        RequirementResult {
            id: id.into(),
            mandatory,
            passed,
            reason: reason.into(),
            remediation: fix.map(str::to_string),
        }
    }

    fn assessed(requirements: Vec<RequirementResult>) -> StatusReport {
        serde_json::from_value(serde_json::json!({
            "phase": "known", "posture": "NonCompliant", "session_id": "s1",
            "connected_psn": "127.0.0.1:8443",
            "sync": {"enabled": true},
            "counters": {"probe_rounds": 1, "discovery_restarts": 0, "misconfigurations": 0},
            "assessment": {"at": "2026-11-21T22:00:00.000Z", "session": "s1", "requirements": requirements},
        }))
        .unwrap()
    }

    const BLOCKED: &str = r#"{"v":2,"at":"2026-11-21T22:00:02.000Z","session":"s1","outcome":"blocked","target":"127.0.0.1:8449","targets":[{"target":"127.0.0.1:8449","outcome":"blocked","detail":"blocked (timeout)"}]}"#;

    /// A start that failed with a bad profile (EX_CONFIG) and `message`.
    fn failed_start(message: &str) -> RunRecord {
        RunRecord {
            v: crate::record::RECORD_VERSION,
            at: "2026-11-21T22:00:01.000Z".into(),
            event: RunEvent::FailedStart {
                exit: crate::exit::EX_CONFIG,
                message: message.into(),
            },
        }
    }

    fn sample() -> Vec<RequirementResult> {
        vec![
            requirement(
                "os",
                true,
                true,
                "the OS is Debian GNU/Linux 12 (debian 12)",
                None,
            ),
            requirement(
                "disk",
                true,
                false,
                "disk is not encrypted: / is on /dev/vda1, not on a LUKS volume",
                Some(HOSTILE),
            ),
            requirement(
                "screen",
                false,
                false,
                "screen lock unknown: <script>alert(1)</script>\u{1b}[31m",
                None,
            ),
        ]
    }

    #[test]
    fn mandatory_failures_are_a_problem_and_optional_ones_a_note() {
        let s = assessed(sample());
        let rounds = parse_rounds(BLOCKED, 10);
        let f = findings(&input(Ok(&s), &rounds));
        let mandatory = f
            .iter()
            .find(|f| {
                matches!(
                    f,
                    Finding::RequirementsFailed {
                        mandatory: true,
                        ..
                    }
                )
            })
            .unwrap_or_else(|| panic!("no mandatory finding: {f:?}"));
        assert_eq!(
            mandatory,
            &Finding::RequirementsFailed {
                mandatory: true,
                assessed: "2026-11-21T22:00:00.000Z".into(),
                of: 3,
                failed: vec![sample()[1].clone()],
            }
        );
        assert_eq!(mandatory.severity(), Severity::Problem);
        assert_eq!(mandatory.title(), "1 mandatory requirement failed");
        assert!(
            mandatory.text().contains("failed 1 of 3 requirements"),
            "{}",
            mandatory.text()
        );
        assert!(mandatory.fix().unwrap().contains("posture-sync reassess"));
        let optional = f
            .iter()
            .find(|f| {
                matches!(
                    f,
                    Finding::RequirementsFailed {
                        mandatory: false,
                        ..
                    }
                )
            })
            .expect("the optional failure");
        assert_eq!(optional.severity(), Severity::Info);
        assert_eq!(optional.requirements(), &sample()[2..]);
        assert_eq!(optional.title(), "1 optional requirement failed");
        // The posture's reasons are no verdict on state sync: it works.
        assert!(f.contains(&Finding::Works), "{f:?}");
        assert_eq!(f[0], *mandatory, "the problem comes first: {f:?}");

        // Nothing failed, or nothing assessed yet: no finding.
        for s in [
            assessed(vec![sample()[0].clone()]),
            serde_json::from_value(serde_json::json!({
                "phase": "known", "posture": "Compliant", "sync": {"enabled": true},
                "counters": {"probe_rounds": 1, "discovery_restarts": 0, "misconfigurations": 0},
            }))
            .unwrap(),
        ] {
            let f = findings(&input(Ok(&s), &rounds));
            assert!(
                !f.iter()
                    .any(|f| matches!(f, Finding::RequirementsFailed { .. })),
                "{f:?}"
            );
        }
    }

    #[test]
    fn the_page_shows_reasons_and_remediation_as_text_never_as_markup() {
        let s = assessed(sample());
        let rounds = parse_rounds(BLOCKED, 10);
        let html = render(&input(Ok(&s), &rounds));
        let card = &html[html
            .find("<h3>Problem: 1 mandatory requirement failed</h3>")
            .expect("the mandatory card")..];
        let card = &card[..card.find("</ul>").unwrap()];
        assert!(card.contains("<strong>disk</strong>"), "{card}");
        assert!(card.contains("disk is not encrypted: / is on /dev/vda1, not on a LUKS volume"));
        assert!(card.contains("What to do, in the server's words:"));
        assert!(
            card.contains("Reinstall &lt;b&gt;now&lt;/b&gt;: &lt;a href=&quot;https://evil.example/&quot;&gt;click&lt;/a&gt; or see https://wiki.example/upgrade, then run `rm -rf /` &amp; reboot"),
            "{card}"
        );
        // No markup from the server: no bold, no link, no code span.
        assert!(!html.contains("<b>") && !html.contains("<a ") && !html.contains("href=\""));
        assert!(!html.contains("<code>rm -rf /</code>"));
        let note = &html[html
            .find("<h3>Note: 1 optional requirement failed</h3>")
            .expect("the optional card")..];
        assert!(note.contains("screen lock unknown: &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        // The passed requirement is not listed.
        assert!(!html.contains("<strong>os</strong>"));
    }

    #[test]
    fn the_text_lists_each_failed_requirement_with_what_to_do() {
        let s = assessed(sample());
        let rounds = parse_rounds(BLOCKED, 10);
        let text = render_text(&input(Ok(&s), &rounds));
        assert!(
            text.contains(
                "\nProblem: 1 mandatory requirement failed\n  The last assessment (2026-11-21T22:00:00.000Z) failed 1 of 3 requirements; the PSN counts mandatory ones"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "\n  - disk: disk is not encrypted: / is on /dev/vda1, not on a LUKS volume\n    what to do (the server's words): {HOSTILE}\n"
            )),
            "{text}"
        );
        // A control character (an escape sequence) never reaches the terminal.
        assert!(
            text.contains("\n  - screen: screen lock unknown: <script>alert(1)</script> [31m\n"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'));
        assert!(!text.contains("- os:"));
    }

    /// A reason that quotes a secret-shaped pattern loses the secret in
    /// the bundle's redaction, and no more than the rest of its own text:
    /// the page after it (the next requirement, the legend) survives.
    #[test]
    fn a_secret_in_a_reason_is_redacted_without_eating_the_page() {
        let s = assessed(vec![
            requirement(
                "conf",
                true,
                false,
                "/etc/app.conf does not match \"^token=abc123seeded\"",
                Some("Set token=xyz789seeded in /etc/app.conf"),
            ),
            requirement(
                "home",
                true,
                false,
                "/home/alice/.config/app.toml: off limits (home directories are never read)",
                None,
            ),
        ]);
        let rounds = parse_rounds(BLOCKED, 10);
        let page = render_redacted(&input(Ok(&s), &rounds), &mut Redactor::new());
        assert!(
            !page.contains("abc123seeded") && !page.contains("xyz789seeded"),
            "{page}"
        );
        assert!(page.contains("/etc/app.conf does not match"), "{page}");
        // The reason lost only its own rest: its requirement's remediation
        // (whose secret went too) still follows.
        assert!(
            page.contains(
                "What to do, in the server's words:<span class=\"server-text\">\nSet token="
            ),
            "{page}"
        );
        // The next requirement, its local path kept, and the rest of the page.
        assert!(
            page.contains("/home/alice/.config/app.toml: off limits"),
            "{page}"
        );
        assert!(page.contains("id=\"legend\""), "{page}");
        assert!(page.contains("</html>"), "{page}");
        let text =
            crate::dart::redact::Redactor::new().redact(&render_text(&input(Ok(&s), &rounds)));
        assert!(
            !text.contains("abc123seeded") && !text.contains("xyz789seeded"),
            "{text}"
        );
        assert!(
            text.contains("- home: /home/alice/.config/app.toml"),
            "{text}"
        );
    }
    /// How often `tag` opens and closes in `page` (`<td>` / `<td ...>`
    /// against `</td>`).
    fn balance(page: &str, tag: &str) -> (usize, usize) {
        let open =
            page.matches(&format!("<{tag}>")).count() + page.matches(&format!("<{tag} ")).count();
        (open, page.matches(&format!("</{tag}>")).count())
    }

    /// Secrets in every table the page fills from records (a decision's
    /// reason, a failed start's message, a probe target's detail) are
    /// redacted text by text: each row keeps its cells and closing tags,
    /// which a redaction pass over the finished page took with "the rest of
    /// the line" after `password=`.
    #[test]
    fn secrets_in_table_cells_are_redacted_without_eating_the_rows() {
        let s = assessed(vec![]);
        let round = r#"{"v":2,"at":"2026-11-21T22:00:03.000Z","session":"s1","outcome":"failed","target":"127.0.0.1:8449","targets":[{"target":"127.0.0.1:8449","outcome":"failed","detail":"failed: proxy said password=rowsecret3 then closed"}]}"#;
        let rounds = parse_rounds(&format!("{BLOCKED}\n{round}"), 10);
        let decision = |at: &str, reason: &str| TransitionRecord {
            v: crate::record::RECORD_VERSION,
            at: at.into(),
            from: PhaseName::Known,
            to: PhaseName::Discovering,
            kind: ReasonKind::NetworkChanged,
            reason: reason.into(),
            session: None,
            psn: None,
        };
        let transitions = [
            decision(
                "2026-11-21T22:00:04.000Z",
                "first token=rowsecret1 and more",
            ),
            decision("2026-11-21T22:00:05.000Z", "second api_key: rowsecret2"),
            decision("2026-11-21T22:00:06.000Z", "third, nothing secret"),
        ];
        let runs = [failed_start("profile: secret=rowsecret4 is not a key")];
        let mut input = input(Ok(&s), &rounds);
        input.transitions = &transitions;
        input.runs = &runs;
        let page = render_redacted(&input, &mut Redactor::new());
        for secret in ["rowsecret1", "rowsecret2", "rowsecret3", "rowsecret4"] {
            assert!(!page.contains(secret), "{secret} in {page}");
        }
        for tag in ["td", "tr", "table", "div", "li", "ul", "title", "svg"] {
            let (open, close) = balance(&page, tag);
            assert_eq!(open, close, "<{tag}> opened {open}, closed {close}: {page}");
        }
        // Every decision keeps its row, and the text after each secret's
        // own text (the next cells, the tables after) survives.
        let decisions = &page[page.find("id=\"decisions\"").unwrap()..];
        let decisions = &decisions[..decisions.find("</table>").unwrap()];
        assert_eq!(decisions.matches("<tr>").count(), 4, "{decisions}");
        assert!(
            decisions.contains("<td>first token=[redacted]</td>"),
            "{decisions}"
        );
        assert!(
            decisions.contains("<td>third, nothing secret</td>"),
            "{decisions}"
        );
        assert!(page.contains("id=\"runs\""), "{page}");
        assert!(page.contains("id=\"rounds\""), "{page}");
        assert!(page.ends_with("</body></html>\n"), "{page}");
    }
    /// No text from outside reaches the terminal with a control character:
    /// a decision's reason, a failed start's message (in a finding's text),
    /// the host name.
    #[test]
    fn terminal_summary_strips_control_characters_from_every_outside_text() {
        let s = assessed(vec![]);
        let rounds = parse_rounds(BLOCKED, 10);
        let transitions = [TransitionRecord {
            v: crate::record::RECORD_VERSION,
            at: "2026-11-21T22:00:04.000Z".into(),
            from: PhaseName::Known,
            to: PhaseName::Discovering,
            kind: ReasonKind::NetworkChanged,
            reason: "network changed \u{1b}]0;owned\u{7}".into(),
            session: None,
            psn: None,
        }];
        let runs = [failed_start("bad profile \u{1b}[2J")];
        let mut input = input(Ok(&s), &rounds);
        input.transitions = &transitions;
        input.runs = &runs;
        input.host = "host\u{1b}[31m".into();
        let text = render_text(&input);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("network changed  ]0;owned "), "{text}");
        assert!(text.contains("bad profile  [2J"), "{text}");
        assert!(text.contains("summary for host [31m,"), "{text}");
    }
}
