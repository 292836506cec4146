//! The findings of a bundle, decided on typed input only: the status
//! ([`StatusReport`]), the probe rounds and decisions ([`crate::record`]) and
//! the bundle's reason. Pure: no text is searched and nothing is rendered
//! here (the words are `render.rs`'s).

use std::time::SystemTime;

use posture_protocol::PostureStatus;
use profile_schema::HostPort;

use super::SummaryInput;
use crate::machine::PhaseName;
use crate::outcome::ProbeOutcome;
use crate::record::{FailureClass, RoundRecord, RunEvent, RunRecord, TransitionRecord};
use crate::requirement_result::RequirementResult;
use crate::status_report::StoppedReason;

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

/// One finding: what the bundle shows, with the facts its words need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A PSN answered a state sync probe while the endpoint's posture was
    /// known: the dACL does not block the port.
    Misconfiguration {
        /// The PSN's host (IPv6 brackets removed).
        host: String,
        /// `host:port` as recorded.
        target: String,
        /// The state sync port.
        port: String,
        /// When the answered round finished, if a round shows it.
        when: Option<String>,
        /// The posture answered (or held).
        answered: String,
    },
    /// The status socket did not answer.
    NoAgent {
        /// Why.
        why: String,
        /// How the agent is set up to run (the advice depends on it).
        setup: Option<crate::dart::service::Setup>,
    },
    /// The agent is still discovering.
    NoPsn {
        /// Failed attempts logged as `discovering -> discovering` decisions:
        /// how many, since when, and the last one's reason.
        failures: Option<(usize, SystemTime, String)>,
        /// The bundle was collected because discovery kept failing.
        automatic: bool,
    },
    /// The profile disables state sync.
    SyncDisabled,
    /// Some of the last probe rounds failed.
    ProbesFailed {
        /// Failed rounds.
        failed: usize,
        /// Rounds in the bundle.
        of: usize,
        /// The latest failures, `target: detail`.
        latest: Vec<String>,
        /// Targets whose TLS handshake failed in them (the PSN's
        /// certificate is not trusted, or names another host).
        tls: Vec<String>,
    },
    /// A target failed in rounds that another target decided (it answered
    /// or was blocked): a failing PSN hidden behind a working one.
    TargetFailing {
        /// `host:port`.
        target: String,
        /// Rounds in which it failed while another target decided.
        failed: usize,
        /// Rounds in the bundle that asked it.
        of: usize,
        /// Its latest failure, in words.
        latest: String,
    },
    /// What `profile check` warns about the bundled profile.
    ProfileLint {
        /// The warnings, in the profile's order.
        warnings: Vec<profile_schema::Diagnostic>,
    },
    /// The agent gave up at start since its last successful start: what it
    /// printed, which may never have reached a log file.
    FailedStarts {
        /// How many starts failed in a row.
        count: usize,
        /// The latest one's time.
        at: String,
        /// Its exit code.
        exit: u8,
        /// What it printed.
        message: String,
    },
    /// Runs that ended without a clean stop (a crash, a kill, a power loss).
    UncleanEnds {
        /// How many.
        count: usize,
        /// The start of the latest one.
        started: String,
    },
    /// Requirements the last assessment failed, as the agent recorded them
    /// (the status's `assessment`): the mandatory ones in one finding (the
    /// PSN counts them: the endpoint is not compliant), the optional ones in
    /// another (they do not change the posture). Their reasons are local
    /// facts and their remediation is the server's text: shown, never
    /// rendered as markup or acted on.
    RequirementsFailed {
        /// Whether these are the mandatory ones.
        mandatory: bool,
        /// When the assessment finished (RFC 3339, UTC).
        assessed: String,
        /// How many requirements the assessment had.
        of: usize,
        /// The failed requirements, in the server's order.
        failed: Vec<RequirementResult>,
    },
    /// Posture known and the latest probes blocked.
    Works,
    /// Nothing to report.
    NothingWrong,
    /// Lines of the probe history this build reads only in part (an older
    /// agent's format) or not at all.
    OldHistory {
        /// Rounds in an older format: read without their answers.
        old_format: usize,
        /// Lines skipped.
        unreadable: usize,
    },
}

impl Finding {
    /// How serious it is.
    pub fn severity(&self) -> Severity {
        match self {
            Finding::Misconfiguration { .. } | Finding::FailedStarts { .. } => Severity::Problem,
            Finding::UncleanEnds { .. }
            | Finding::NoAgent { .. }
            | Finding::ProbesFailed { .. }
            | Finding::TargetFailing { .. }
            | Finding::ProfileLint { .. } => Severity::Warning,
            Finding::NoPsn { automatic, .. } => {
                if *automatic {
                    Severity::Problem
                } else {
                    Severity::Warning
                }
            }
            Finding::RequirementsFailed { mandatory, .. } => {
                if *mandatory {
                    Severity::Problem
                } else {
                    Severity::Info
                }
            }
            Finding::SyncDisabled | Finding::NothingWrong | Finding::OldHistory { .. } => {
                Severity::Info
            }
            Finding::Works => Severity::Good,
        }
    }
}

/// `host:port` split as the profile reads it (an IPv6 literal without
/// brackets, with or without a port); text that is no `host:port` is shown
/// whole, on the default state sync port.
fn split_host_port(target: &str) -> (String, String) {
    match HostPort::parse(target, posture_protocol::DEFAULT_STATE_SYNC_PORT) {
        Ok(hp) => (hp.host().to_string(), hp.port().to_string()),
        Err(_) => (
            target.to_string(),
            posture_protocol::DEFAULT_STATE_SYNC_PORT.to_string(),
        ),
    }
}

/// The findings, most serious first.
pub fn findings(input: &SummaryInput<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let status = input.status.ok();
    let rounds = &input.rounds.rounds;
    let posture = status.map(|s| s.posture);
    let phase = status.map(|s| s.phase);
    let stopped = status.and_then(|s| s.sync.stopped_reason);
    let reason_misconf = input.reason.is_some_and(|r| r.is_misconfiguration());

    // A PSN that answered the posture the agent already had: the dACL does
    // not block the state sync port.
    let same_answer: Option<&RoundRecord> = rounds.iter().rev().find(|r| {
        r.outcome == ProbeOutcome::Status
            && r.status
                .is_some_and(|a| a.is_known() && posture.is_none_or(|p| p == a))
    });
    if stopped == Some(StoppedReason::Misconfiguration) || reason_misconf || same_answer.is_some() {
        let target = same_answer
            .and_then(|r| r.target.clone())
            .or_else(|| status.and_then(|s| s.last_probe.as_ref().map(|p| p.target.clone())))
            .or_else(|| status.and_then(|s| s.connected_psn.clone()))
            .unwrap_or_else(|| "PSN:8449".to_string());
        let answered: PostureStatus = same_answer
            .and_then(|r| r.status)
            .or(posture)
            .unwrap_or(PostureStatus::Compliant);
        let (host, port) = split_host_port(&target);
        out.push(Finding::Misconfiguration {
            host,
            target,
            port,
            when: same_answer.map(|r| r.at.clone()),
            answered: answered.to_string(),
        });
    }

    out.extend(run_findings(input.runs, input.status.is_ok()));

    match input.status {
        Err(why) => out.push(Finding::NoAgent {
            why: why.to_string(),
            setup: input.setup.cloned(),
        }),
        Ok(_) if phase == Some(PhaseName::Discovering) => {
            // Each failed attempt is a `discovering -> discovering` decision
            // naming every target and its error.
            let failures: Vec<&TransitionRecord> = input
                .transitions
                .iter()
                .filter(|t| t.from == PhaseName::Discovering && t.to == PhaseName::Discovering)
                .collect();
            let failures = match (failures.first(), failures.last()) {
                (Some(first), Some(last)) => first
                    .time()
                    .map(|since| (failures.len(), since, last.reason.clone())),
                _ => None,
            };
            out.push(Finding::NoPsn {
                failures,
                automatic: input.reason.is_some_and(|r| r.is_discovery_failing()),
            });
        }
        Ok(_) => {}
    }

    if stopped == Some(StoppedReason::DisabledByProfile) {
        out.push(Finding::SyncDisabled);
    }

    let failed: Vec<&RoundRecord> = rounds
        .iter()
        .filter(|r| r.outcome == ProbeOutcome::Failed)
        .collect();
    if !failed.is_empty() {
        let latest: Vec<String> = failed
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
        let mut tls: Vec<String> = Vec::new();
        for t in failed.iter().flat_map(|r| &r.targets) {
            if t.failure == Some(FailureClass::Tls) && !tls.contains(&t.target) {
                tls.push(t.target.clone());
            }
        }
        out.push(Finding::ProbesFailed {
            failed: failed.len(),
            of: rounds.len(),
            latest,
            tls,
        });
    }

    out.extend(hidden_failures(rounds));

    if out.iter().all(|f| f.severity() > Severity::Warning) {
        let last = rounds.last();
        if phase == Some(PhaseName::Known)
            && last.is_some_and(|r| r.outcome == ProbeOutcome::Blocked)
        {
            out.push(Finding::Works);
        } else if out.is_empty() {
            out.push(Finding::NothingWrong);
        }
    }
    // The posture's reasons, not a verdict on state sync: a non-compliant
    // endpoint whose probes are blocked still reads "state sync works".
    if let Some(assessment) = status.and_then(|s| s.assessment.as_ref()) {
        out.extend(failed_requirements(assessment));
    }
    // Advice, not a verdict: it never hides "state sync works".
    if !input.lint.is_empty() {
        out.push(Finding::ProfileLint {
            warnings: input.lint.to_vec(),
        });
    }
    // After the verdicts above, so that it never changes them.
    if input.rounds.old_format > 0 || input.rounds.unreadable > 0 {
        out.push(Finding::OldHistory {
            old_format: input.rounds.old_format,
            unreadable: input.rounds.unreadable,
        });
    }
    out.sort_by_key(Finding::severity);
    out
}

/// The assessment's failed requirements: one finding for the mandatory
/// ones, one for the optional ones, each only when some failed.
fn failed_requirements(a: &crate::status_report::AssessmentReport) -> Vec<Finding> {
    [true, false]
        .into_iter()
        .filter_map(|mandatory| {
            let failed: Vec<RequirementResult> = a
                .requirements
                .iter()
                .filter(|r| !r.passed && r.mandatory == mandatory)
                .cloned()
                .collect();
            (!failed.is_empty()).then(|| Finding::RequirementsFailed {
                mandatory,
                assessed: a.at.clone(),
                of: a.requirements.len(),
                failed,
            })
        })
        .collect()
}

/// The failed starts since the last successful one, and the runs that
/// ended without a stop record (the last run only when no agent answers:
/// otherwise it is the running one).
fn run_findings(runs: &[RunRecord], running: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let failed: Vec<(&str, u8, &str)> = runs
        .iter()
        .rev()
        .take_while(|r| !matches!(r.event, RunEvent::Started { .. }))
        .filter_map(|r| match &r.event {
            RunEvent::FailedStart { exit, message } => {
                Some((r.at.as_str(), *exit, message.as_str()))
            }
            _ => None,
        })
        .collect();
    if let Some((at, exit, message)) = failed.first() {
        out.push(Finding::FailedStarts {
            count: failed.len(),
            at: (*at).to_string(),
            exit: *exit,
            message: (*message).to_string(),
        });
    }
    let unclean: Vec<&RunRecord> = runs
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            matches!(r.event, RunEvent::Started { .. })
                && match runs.get(i + 1) {
                    Some(next) => !matches!(next.event, RunEvent::Stopped { .. }),
                    None => !running,
                }
        })
        .map(|(_, r)| r)
        .collect();
    if let Some(last) = unclean.last() {
        out.push(Finding::UncleanEnds {
            count: unclean.len(),
            started: last.at.clone(),
        });
    }
    out
}

/// Targets that failed in rounds another target decided, each with how
/// often and its latest failure (targets in the order they first failed).
fn hidden_failures(rounds: &[RoundRecord]) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    let asked = |target: &str| {
        rounds
            .iter()
            .filter(|r| r.targets.iter().any(|t| t.target == target))
            .count()
    };
    for round in rounds.iter().filter(|r| r.outcome != ProbeOutcome::Failed) {
        for t in round
            .targets
            .iter()
            .filter(|t| t.outcome == ProbeOutcome::Failed)
        {
            let existing = found.iter_mut().find_map(|f| match f {
                Finding::TargetFailing {
                    target,
                    failed,
                    latest,
                    ..
                } if *target == t.target => Some((failed, latest)),
                _ => None,
            });
            match existing {
                Some((failed, latest)) => {
                    *failed += 1;
                    latest.clone_from(&t.detail);
                }
                None => found.push(Finding::TargetFailing {
                    target: t.target.clone(),
                    failed: 1,
                    of: asked(&t.target),
                    latest: t.detail.clone(),
                }),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn targets_split_as_the_profile_reads_them() {
        let split = |t: &str| {
            let (h, p) = split_host_port(t);
            (h, p.parse::<u16>().unwrap())
        };
        assert_eq!(
            split("psn1.example.com:8449"),
            ("psn1.example.com".into(), 8449)
        );
        assert_eq!(split("[2001:db8::13]:9443"), ("2001:db8::13".into(), 9443));
        // A bare IPv6 address has no port: its last group is not one.
        assert_eq!(split("2001:db8::13"), ("2001:db8::13".into(), 8449));
        assert_eq!(split("psn1"), ("psn1".into(), 8449));
        assert_eq!(split("not a host"), ("not a host".into(), 8449));
    }
}
