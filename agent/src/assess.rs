//! Posture assessment: fetch the requirements, evaluate the three version 1
//! check types locally, post the report, read the PSN's verdict.
//!
//! The agent never runs a command because a server said so: any check type
//! other than `file-exists`, `file-contains` and `process-running` is refused
//! without being executed, fails its requirement, and is logged.
//!
//! Checks run on tokio's blocking pool, never on the driver's thread, and the
//! whole evaluation is bounded by [`EVALUATION_TIMEOUT`]: the paths are chosen
//! by the server, and a FIFO, a device or a file on a hung network file system
//! must not freeze the agent (signals, status, probes). `file-contains` reads
//! regular files only (symbolic links to regular files are followed), opened
//! with `O_NONBLOCK` on Unix so that a path swapped for a FIFO between the
//! check and the open cannot block either.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use posture_protocol::{
    Check, PostureResult, PostureStatus, Report, ReportResult, Requirement, Requirements,
    SessionId, paths,
};

use crate::outcome::{FailureKind, HostPort};
use crate::transport::{RequestError, Transport};

/// How much of a file `file-contains` reads: the first 1 MiB. Posture checks
/// look at configuration files; a larger file is matched on its first MiB
/// (a check that needs more is a profile mistake, not a reason to read
/// gigabytes on an endpoint).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Longest `file-contains` pattern accepted.
pub const MAX_PATTERN_LEN: usize = 4096;

/// Size limit of a compiled `file-contains` pattern (regex crate's
/// `size_limit`): a hostile pattern cannot make the agent build a huge automaton.
pub const REGEX_SIZE_LIMIT: usize = 1024 * 1024;

/// Bound on evaluating all the checks of one requirements reply. When it
/// passes, every requirement fails with a reason naming the limit (a thread
/// stuck in a read on a hung file system is left behind; it holds no lock).
pub const EVALUATION_TIMEOUT: Duration = Duration::from_secs(10);

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
}

/// Runs one assessment against the PSN that holds `session` (`target` is its
/// discovery/assessment port, see [`crate::targets::assessment_target`]).
pub async fn assess(
    transport: &Transport,
    target: &HostPort,
    session: &SessionId,
) -> Result<Assessment, AssessError> {
    let fail = |stage, kind| AssessError {
        stage,
        error: RequestError::failed(target, kind),
    };
    let stage = AssessStage::Requirements;
    let query = format!("{}?session={}", paths::REQUIREMENTS, session);
    let reply = transport
        .get(target, &query, Some(session))
        .await
        .map_err(|error| AssessError { stage, error })?;
    if reply.status != 200 {
        return Err(fail(stage, FailureKind::HttpStatus(reply.status)));
    }
    let requirements = Requirements::from_xml(&reply.body).map_err(|e| {
        fail(
            stage,
            FailureKind::Malformed {
                detail: e.to_string(),
            },
        )
    })?;
    if &requirements.session != session {
        return Err(fail(
            stage,
            FailureKind::Malformed {
                detail: format!(
                    "requirements for session {} instead of {session}",
                    requirements.session
                ),
            },
        ));
    }

    let outcomes = evaluate_bounded(requirements.requirements, EVALUATION_TIMEOUT).await;
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
    let report = build_report(session, &outcomes);

    let stage = AssessStage::Report;
    let query = format!("{}?session={}", paths::REPORT, session);
    let reply = transport
        .post(target, &query, Some(session), report.to_xml())
        .await
        .map_err(|error| AssessError { stage, error })?;
    if reply.status != 200 {
        return Err(fail(stage, FailureKind::HttpStatus(reply.status)));
    }
    let result = PostureResult::from_xml(&reply.body).map_err(|e| {
        fail(
            stage,
            FailureKind::Malformed {
                detail: e.to_string(),
            },
        )
    })?;
    if &result.session != session {
        return Err(fail(
            stage,
            FailureKind::Malformed {
                detail: format!("result for session {} instead of {session}", result.session),
            },
        ));
    }
    Ok(Assessment {
        session: session.clone(),
        status: result.status,
        requirements: outcomes,
    })
}

/// The report for the evaluated requirements: one result per requirement.
pub fn build_report(session: &SessionId, outcomes: &[RequirementOutcome]) -> Report {
    Report {
        session: session.clone(),
        results: outcomes
            .iter()
            .map(|r| ReportResult {
                requirement: r.id.clone(),
                passed: r.passed,
            })
            .collect(),
    }
}

/// Evaluates every requirement on tokio's blocking pool, giving up after
/// `limit`: then every requirement fails with a reason saying so.
pub async fn evaluate_bounded(
    requirements: Vec<Requirement>,
    limit: Duration,
) -> Vec<RequirementOutcome> {
    evaluate_bounded_with(requirements, limit, evaluate).await
}

/// [`evaluate_bounded`] with the evaluation passed in (tests give one that
/// blocks to exercise the limit).
async fn evaluate_bounded_with<F>(
    requirements: Vec<Requirement>,
    limit: Duration,
    evaluate: F,
) -> Vec<RequirementOutcome>
where
    F: FnOnce(&[Requirement]) -> Vec<RequirementOutcome> + Send + 'static,
{
    let ids: Vec<(String, bool)> = requirements
        .iter()
        .map(|r| (r.id.clone(), r.mandatory))
        .collect();
    let task = tokio::task::spawn_blocking(move || evaluate(&requirements));
    let why = match tokio::time::timeout(limit, task).await {
        Ok(Ok(outcomes)) => return outcomes,
        Ok(Err(e)) => format!("the checks could not be evaluated: {e}"),
        Err(_) => format!(
            "the checks did not finish within {} s (a checked path may be a FIFO, a device or on a hung file system); the requirement fails",
            limit.as_secs_f64()
        ),
    };
    tracing::warn!(reason = %why, "requirements not evaluated");
    ids.into_iter()
        .map(|(id, mandatory)| RequirementOutcome {
            id,
            mandatory,
            passed: false,
            checks: vec![CheckOutcome::fail(why.clone())],
        })
        .collect()
}

/// Evaluates every requirement. A requirement passes when all its checks
/// pass (so one with no checks passes, as `docs/protocol.md` decides).
pub fn evaluate(requirements: &[Requirement]) -> Vec<RequirementOutcome> {
    requirements
        .iter()
        .map(|req| {
            let checks: Vec<CheckOutcome> = req.checks.iter().map(evaluate_check).collect();
            RequirementOutcome {
                id: req.id.clone(),
                mandatory: req.mandatory,
                passed: checks.iter().all(|c| c.passed),
                checks,
            }
        })
        .collect()
}

/// Evaluates one check on this endpoint.
pub fn evaluate_check(check: &Check) -> CheckOutcome {
    match check {
        Check::FileExists { path } => file_exists(path),
        Check::FileContains { path, pattern } => file_contains(path, pattern),
        Check::ProcessRunning { name } => process_running(name),
        Check::Unsupported { check_type } => {
            tracing::warn!(
                check_type = ?check_type,
                "refusing check type {check_type:?}: posture-sync never runs commands and evaluates only file-exists, file-contains and process-running; the requirement fails"
            );
            CheckOutcome {
                passed: false,
                reason: format!(
                    "check type {check_type:?} refused: posture-sync never runs commands"
                ),
                refused: true,
            }
        }
    }
}

/// Paths must be absolute: the agent's working directory means nothing to
/// the server that wrote the check.
fn absolute(path: &str) -> Result<&Path, CheckOutcome> {
    let p = Path::new(path);
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(CheckOutcome::fail(format!(
            "{path:?} is not an absolute path"
        )))
    }
}

fn file_exists(path: &str) -> CheckOutcome {
    let p = match absolute(path) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    match std::fs::metadata(p) {
        Ok(_) => CheckOutcome::pass(format!("{path} exists")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            CheckOutcome::fail(format!("{path} does not exist"))
        }
        Err(e) => CheckOutcome::fail(format!("cannot inspect {path}: {e}")),
    }
}

fn file_contains(path: &str, pattern: &str) -> CheckOutcome {
    let p = match absolute(path) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    if pattern.len() > MAX_PATTERN_LEN {
        return CheckOutcome::fail(format!(
            "pattern of {} bytes is longer than the {MAX_PATTERN_LEN} allowed",
            pattern.len()
        ));
    }
    let regex = match regex::bytes::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .multi_line(true)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return CheckOutcome::fail(format!("invalid pattern {pattern:?}: {e}"));
        }
    };
    let mut text = Vec::new();
    let read = open_regular(p).and_then(|f| match f {
        Some(f) => f.take(MAX_FILE_BYTES).read_to_end(&mut text).map(Some),
        None => Ok(None),
    });
    match read {
        Ok(Some(_)) if regex.is_match(&text) => {
            CheckOutcome::pass(format!("{path} matches {pattern:?}"))
        }
        Ok(Some(_)) => CheckOutcome::fail(format!("{path} does not match {pattern:?}")),
        Ok(None) => CheckOutcome::fail(format!(
            "{path} is not a regular file (file-contains reads regular files only, never FIFOs, devices, sockets or directories)"
        )),
        Err(e) => CheckOutcome::fail(format!("cannot read {path}: {e}")),
    }
}

/// Opens `p` for reading when it is a regular file (symbolic links are
/// followed), `Ok(None)` when it is anything else. Checked before the open
/// (opening a device can have side effects) and again on the open file
/// (the path may have been swapped in between); on Unix the open is
/// non-blocking so that a swapped-in FIFO cannot block it.
fn open_regular(p: &Path) -> std::io::Result<Option<File>> {
    if !std::fs::metadata(p)?.is_file() {
        return Ok(None);
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(p)?;
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    Ok(Some(file))
}

fn process_running(name: &str) -> CheckOutcome {
    if name.is_empty() || name.contains('/') {
        return CheckOutcome::fail(format!("{name:?} is not a process name"));
    }
    match imp::process_running(name) {
        Ok(true) => CheckOutcome::pass(format!("process {name} runs")),
        Ok(false) => CheckOutcome::fail(format!("no process named {name} runs")),
        Err(why) => CheckOutcome::fail(why),
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::path::Path;

    /// Linux truncates `comm` to 15 bytes.
    const COMM_LEN: usize = 15;

    /// Scans `/proc/*/comm`; for names longer than `comm` holds, the
    /// command line's program name decides.
    pub(super) fn process_running(name: &str) -> Result<bool, String> {
        let entries = std::fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
        let truncated = truncate(name);
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(pid) = file_name.to_str() else {
                continue;
            };
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // Processes come and go during the scan: unreadable ones are skipped.
            let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
                continue;
            };
            let comm = comm.trim_end_matches('\n');
            if comm == name {
                return Ok(true);
            }
            if name.len() > COMM_LEN
                && comm == truncated
                && program_name(&entry.path()).as_deref() == Some(name)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn truncate(name: &str) -> &str {
        let mut end = name.len().min(COMM_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        &name[..end]
    }

    fn program_name(proc_dir: &Path) -> Option<String> {
        let cmdline = std::fs::read(proc_dir.join("cmdline")).ok()?;
        let argv0 = cmdline.split(|b| *b == 0).next()?;
        let argv0 = std::str::from_utf8(argv0).ok()?;
        Some(argv0.rsplit('/').next()?.to_owned())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    /// Fails closed: reading the process table is implemented for Linux only.
    pub(super) fn process_running(name: &str) -> Result<bool, String> {
        Err(format!(
            "cannot check for process {name}: process-running is implemented on Linux only (failed closed)"
        ))
    }
}

#[cfg(test)]
mod tests;
