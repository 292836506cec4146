//! Posture assessment: fetch the requirements, evaluate their checks
//! locally, post the report, read the PSN's verdict.
//!
//! The PSN is trusted with posture decisions, never with the endpoint's data,
//! CPU or network (docs/agent.md, "What a PSN can learn"):
//!
//! - the agent never runs a command because a server said so: a check type
//!   other than `file-exists`, `file-newer-than`, `file-sha256`,
//!   `file-contains`, `process-running` and version 2's typed conditions
//!   ([`conditions`], evaluated from [`crate::facts`] the agent gathers from
//!   fixed sources of its own) is refused, fails its requirement, and is
//!   logged;
//! - every path a check names passes the local rules of [`policy`] first:
//!   nothing under home directories, `/proc`, `/sys`, `/dev` or the agent's
//!   own directories, no network or automount path, and `file-contains`
//!   only under the local profile's ContentCheckPaths;
//! - one assessment's checks share a [`budget`] of time and bytes that is
//!   asked between checks and between the chunks of every read, at most one
//!   evaluation runs at a time ([`Assessor`]), and a reply holds at most
//!   [`posture_protocol::MAX_REQUIREMENTS`] requirements;
//! - checks run on tokio's blocking pool, never on the driver's thread:
//!   a FIFO, a device or a file on a hung network file system must not
//!   freeze the agent (signals, status, probes). Reads open regular files
//!   only, with `O_NONBLOCK` on Unix.

pub mod budget;
pub(crate) mod checks;
pub mod conditions;
pub mod policy;

use std::sync::Arc;
use std::time::Duration;

use posture_protocol::{
    Check, ParseError, PostureResult, PostureStatus, Report, ReportResult, Requirement,
    Requirements, SessionId, paths,
};
use tokio::sync::Semaphore;

use crate::outcome::{FailureKind, HostPort};
use crate::transport::{Reply, RequestError, Transport};

use crate::facts::Facts;
pub use budget::Budget;
pub use checks::{
    CheckCx, MAX_FILE_BYTES, MAX_LINE_BYTES, MAX_PATTERN_LEN, REGEX_SIZE_LIMIT, evaluate_check,
    evaluate_check_with,
};
pub use policy::CheckPolicy;

/// Grace beyond the time budget before the driver stops waiting for the
/// checks (a check stops at the budget unless it is stuck in the kernel,
/// e.g. reading a hung network file system).
pub const EVALUATION_GRACE: Duration = Duration::from_secs(2);

/// Evaluates assessments one at a time under the local rules. Cloning shares
/// the one-at-a-time gate.
#[derive(Debug, Clone)]
pub struct Assessor {
    policy: Arc<CheckPolicy>,
    gate: Arc<Semaphore>,
    time: Duration,
}

impl Assessor {
    /// An assessor with `policy` and the standard time budget.
    pub fn new(policy: CheckPolicy) -> Self {
        Assessor {
            policy: Arc::new(policy),
            gate: Arc::new(Semaphore::new(1)),
            time: budget::TIME_BUDGET,
        }
    }

    /// The same gate with another policy (a changed profile).
    pub fn with_policy(&self, policy: CheckPolicy) -> Self {
        Assessor {
            policy: Arc::new(policy),
            gate: Arc::clone(&self.gate),
            time: self.time,
        }
    }

    /// The same with another time budget (tests, benchmarks).
    pub fn with_time_budget(mut self, time: Duration) -> Self {
        self.time = time;
        self
    }

    /// The rules in force.
    pub fn policy(&self) -> &CheckPolicy {
        &self.policy
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// Whether it passed.
    pub passed: bool,
    /// Why, in words (for the log and diagnostic bundles).
    pub reason: String,
    /// True when the check was refused without being evaluated (a check type
    /// the agent does not run).
    pub refused: bool,
}

impl CheckOutcome {
    fn pass(reason: impl Into<String>) -> Self {
        CheckOutcome {
            passed: true,
            reason: reason.into(),
            refused: false,
        }
    }

    fn fail(reason: impl Into<String>) -> Self {
        CheckOutcome {
            passed: false,
            reason: reason.into(),
            refused: false,
        }
    }
}

/// The result of one requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementOutcome {
    /// Requirement id.
    pub id: String,
    /// Whether a failure makes the endpoint NonCompliant.
    pub mandatory: bool,
    /// Whether every check passed.
    pub passed: bool,
    /// One outcome per check, in document order.
    pub checks: Vec<CheckOutcome>,
    /// The server's remediation text (version 2), for the user.
    pub remediation: Option<String>,
    /// The reason the report to the server carries (version 2): see
    /// [`report_reason`].
    pub report_reason: String,
}

impl RequirementOutcome {
    /// The record the machine keeps and `status` shows.
    pub fn result(&self) -> crate::requirement_result::RequirementResult {
        crate::requirement_result::RequirementResult {
            id: self.id.clone(),
            mandatory: self.mandatory,
            passed: self.passed,
            reason: self.reason(),
            remediation: self.remediation.clone(),
        }
    }

    /// Why, in words: the reasons of the failed checks (all reasons when it
    /// passed), joined with `; `.
    pub fn reason(&self) -> String {
        let failed: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.reason.as_str())
            .collect();
        if failed.is_empty() {
            if self.checks.is_empty() {
                return "the requirement has no checks".to_owned();
            }
            self.checks
                .iter()
                .map(|c| c.reason.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            failed.join("; ")
        }
    }
}

/// The reason one requirement's result carries to the server (version 2
/// reports): for a typed condition its reason (the facts the server asked
/// about); for a file or process check only its type and verdict, so that
/// such a check still tells the server one bit (no file ages, error texts or
/// resolved link targets); a refused check says it was refused by the local
/// rules without the rule's details (which name the agent's directories).
/// Control characters become spaces; at most
/// [`posture_protocol::MAX_REASON_LEN`] characters.
pub fn report_reason(checks: &[Check], outcomes: &[CheckOutcome]) -> String {
    let parts: Vec<String> = checks
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| !o.passed || outcomes.iter().all(|o| o.passed))
        .map(|(c, o)| {
            if o.refused {
                format!("{} refused by the endpoint's local rules", c.type_name())
            } else if c.is_version_2() {
                o.reason.clone()
            } else if o.passed {
                format!("{} passed", c.type_name())
            } else {
                format!("{} failed", c.type_name())
            }
        })
        .collect();
    let text = if parts.is_empty() {
        "the requirement has no checks".to_owned()
    } else {
        parts.join("; ")
    };
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(posture_protocol::MAX_REASON_LEN)
        .collect()
}

/// A finished assessment: the PSN's verdict and what the agent found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The session assessed.
    pub session: SessionId,
    /// The PSN's decision (`postureResult`).
    pub status: PostureStatus,
    /// What the agent evaluated.
    pub requirements: Vec<RequirementOutcome>,
    /// How long the checks ran.
    pub evaluated_in: Duration,
    /// The report reply's `reassessInterval`, as the PSN sent it: the
    /// machine ignores one outside its bounds (docs/behaviour.md).
    pub reassess_after: Option<Duration>,
}

/// Which request of the assessment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssessStage {
    /// `GET /auth/requirements`.
    Requirements,
    /// `POST /auth/report`.
    Report,
}

impl std::fmt::Display for AssessStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AssessStage::Requirements => "requirements",
            AssessStage::Report => "report",
        })
    }
}

/// An assessment that could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("assessment failed at the {stage} request: {error}")]
pub struct AssessError {
    /// Which request.
    pub stage: AssessStage,
    /// What went wrong, with host and port.
    pub error: RequestError,
    /// How long the checks ran before the failure (zero when they did not).
    pub evaluated_in: Duration,
}

/// The machine's event for a finished assessment: the PSN's decision and
/// each requirement's result, or the failed request's classified outcome.
/// One conversion for every driver (the daemon, fleet-sim).
pub fn finished_event(
    op: crate::machine::OpId,
    result: Result<Assessment, AssessError>,
) -> crate::machine::Event {
    let (result, evaluated_in, reassess_after, requirements) = match result {
        Ok(a) => (
            Ok(a.status),
            a.evaluated_in,
            a.reassess_after,
            a.requirements.iter().map(|r| r.result()).collect(),
        ),
        Err(e) => (
            Err(crate::outcome::TargetOutcome::new(
                e.error.target,
                e.error.outcome,
            )),
            e.evaluated_in,
            None,
            Default::default(),
        ),
    };
    crate::machine::Event::AssessmentFinished {
        op,
        result,
        evaluated_in,
        reassess_after,
        requirements,
    }
}

/// Runs one assessment against the PSN that holds `session` (`target` is its
/// discovery/assessment port, see [`crate::targets::assessment_target`]).
pub async fn assess(
    transport: &Transport,
    assessor: &Assessor,
    target: &HostPort,
    session: &SessionId,
) -> Result<Assessment, AssessError> {
    let fail = |stage, kind| AssessError {
        stage,
        error: RequestError::failed(target, kind),
        evaluated_in: Duration::ZERO,
    };
    let stage = AssessStage::Requirements;
    let query = format!("{}?session={}", paths::REQUIREMENTS, session);
    let reply = transport
        .get(target, &query, Some(session))
        .await
        .map_err(|error| AssessError {
            stage,
            error,
            evaluated_in: Duration::ZERO,
        })?;
    let (requirements, version) = answer(
        &reply,
        session,
        "requirements",
        Requirements::from_xml_versioned,
        |(r, _)| &r.session,
    )
    .map_err(|kind| fail(stage, kind))?;

    let started = std::time::Instant::now();
    let outcomes = evaluate_bounded(assessor, requirements.requirements).await;
    let evaluated_in = started.elapsed();
    let fail = |stage, kind| AssessError {
        evaluated_in,
        ..fail(stage, kind)
    };
    for r in &outcomes {
        // Requirement ids and reasons carry server-chosen text: logged with
        // Debug so control characters are escaped (no forged log lines).
        tracing::info!(
            session = %session,
            psn = %target,
            requirement = ?r.id,
            mandatory = r.mandatory,
            passed = r.passed,
            reasons = ?r.checks.iter().map(|c| c.reason.as_str()).collect::<Vec<_>>().join("; "),
            "requirement evaluated"
        );
    }
    // A version 1 server gets the version 1 report it knows; reasons go to a
    // server that sent version 2 only.
    let report = build_report_version(session, &outcomes, version);

    let stage = AssessStage::Report;
    let query = format!("{}?session={}", paths::REPORT, session);
    let reply = transport
        .post(target, &query, Some(session), report.to_xml())
        .await
        .map_err(|error| AssessError {
            stage,
            error,
            evaluated_in,
        })?;
    let result = answer(&reply, session, "result", PostureResult::from_xml, |r| {
        &r.session
    })
    .map_err(|kind| fail(stage, kind))?;
    Ok(Assessment {
        session: session.clone(),
        status: result.status,
        requirements: outcomes,
        evaluated_in,
        reassess_after: result.reassess_interval,
    })
}

/// One of the PSN's answers as a document: a 200 whose body parses and is
/// about `session`. Anything else is the server's fault, classified for the
/// machine; `what` names the document in the message.
fn answer<T>(
    reply: &Reply,
    session: &SessionId,
    what: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
    session_of: impl FnOnce(&T) -> &SessionId,
) -> Result<T, FailureKind> {
    if reply.status != 200 {
        return Err(FailureKind::HttpStatus(reply.status));
    }
    let document = parse(&reply.body).map_err(|e| FailureKind::Malformed {
        detail: e.to_string(),
    })?;
    let about = session_of(&document);
    if about != session {
        return Err(FailureKind::Malformed {
            detail: format!("{what} for session {about} instead of {session}"),
        });
    }
    Ok(document)
}

/// The version 1 report for the evaluated requirements: one result per
/// requirement, pass or fail only.
pub fn build_report(session: &SessionId, outcomes: &[RequirementOutcome]) -> Report {
    build_report_version(session, outcomes, 1)
}

/// The report in `version`: from 2 on, each result carries its
/// [`RequirementOutcome::report_reason`].
pub fn build_report_version(
    session: &SessionId,
    outcomes: &[RequirementOutcome],
    version: u32,
) -> Report {
    Report {
        session: session.clone(),
        results: outcomes
            .iter()
            .map(|r| ReportResult {
                requirement: r.id.clone(),
                passed: r.passed,
                reason: (version >= 2).then(|| r.report_reason.clone()),
            })
            .collect(),
    }
}

/// Evaluates every requirement on tokio's blocking pool, after the
/// evaluation before it has finished (one at a time), within the
/// assessor's budget. When the previous evaluation is still stuck, or this
/// one overruns its budget by [`EVALUATION_GRACE`], every requirement fails
/// with a reason saying so.
pub async fn evaluate_bounded(
    assessor: &Assessor,
    requirements: Vec<Requirement>,
) -> Vec<RequirementOutcome> {
    let policy = Arc::clone(&assessor.policy);
    let time = assessor.time;
    evaluate_bounded_with(assessor, requirements, move |reqs| {
        let budget = Budget::new(time, budget::BYTE_BUDGET);
        evaluate(
            reqs,
            &CheckCx {
                policy: &policy,
                budget: &budget,
            },
        )
    })
    .await
}

/// [`evaluate_bounded`] with the evaluation passed in (tests give one that
/// blocks to exercise the limits).
async fn evaluate_bounded_with<F>(
    assessor: &Assessor,
    requirements: Vec<Requirement>,
    evaluate: F,
) -> Vec<RequirementOutcome>
where
    F: FnOnce(&[Requirement]) -> Vec<RequirementOutcome> + Send + 'static,
{
    let ids: Vec<(String, bool, Option<String>)> = requirements
        .iter()
        .map(|r| (r.id.clone(), r.mandatory, r.remediation.clone()))
        .collect();
    let limit = assessor.time + EVALUATION_GRACE;
    let why = match tokio::time::timeout(limit, Arc::clone(&assessor.gate).acquire_owned()).await {
        Ok(Ok(permit)) => {
            // The permit goes with the work: a check stuck in the kernel
            // keeps it, and no second evaluation piles up behind it.
            let task = tokio::task::spawn_blocking(move || {
                let outcomes = evaluate(&requirements);
                drop(permit);
                outcomes
            });
            match tokio::time::timeout(limit, task).await {
                Ok(Ok(outcomes)) => return outcomes,
                Ok(Err(e)) => format!("the checks could not be evaluated: {e}"),
                Err(_) => format!(
                    "the checks did not finish within {} s (a checked path may be on a hung file system); the requirement fails",
                    limit.as_secs_f64()
                ),
            }
        }
        // The semaphore is never closed.
        Ok(Err(_)) => "the checks could not be evaluated".to_owned(),
        Err(_) => format!(
            "the previous evaluation is still running after {} s (a checked path may be on a hung file system); the requirement fails without a new evaluation",
            limit.as_secs_f64()
        ),
    };
    tracing::warn!(reason = %why, "requirements not evaluated");
    ids.into_iter()
        .map(|(id, mandatory, remediation)| RequirementOutcome {
            id,
            mandatory,
            passed: false,
            checks: vec![CheckOutcome::fail(why.clone())],
            remediation,
            report_reason: "not evaluated: the endpoint's checks did not finish in time".to_owned(),
        })
        .collect()
}

/// Evaluates every requirement with this machine's facts, gathered once
/// for the whole assessment. A requirement passes when all its checks pass
/// (so one with no checks passes, as `docs/protocol.md` decides). Once the
/// budget is spent every remaining check fails saying so.
pub fn evaluate(requirements: &[Requirement], cx: &CheckCx<'_>) -> Vec<RequirementOutcome> {
    evaluate_with(requirements, cx, &Facts::system())
}

/// [`evaluate`] with the given facts (a prepared tree in tests).
pub fn evaluate_with(
    requirements: &[Requirement],
    cx: &CheckCx<'_>,
    facts: &Facts,
) -> Vec<RequirementOutcome> {
    requirements
        .iter()
        .map(|req| {
            let checks: Vec<CheckOutcome> = req
                .checks
                .iter()
                .map(|c| evaluate_check_with(c, cx, facts))
                .collect();
            RequirementOutcome {
                id: req.id.clone(),
                mandatory: req.mandatory,
                passed: checks.iter().all(|c| c.passed),
                report_reason: report_reason(&req.checks, &checks),
                checks,
                remediation: req.remediation.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
