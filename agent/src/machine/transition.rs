//! The record of one decision, logged by the driver as one line:
//! `old -> new (reason, session, psn)`.

use std::fmt;
use std::time::Duration;

use posture_protocol::{PostureStatus, SessionId};
use profile_schema::HostPort;
use serde::{Deserialize, Serialize};

use super::evaluation;
use super::events::Stage;
use crate::outcome::{Answer, TargetOutcome, spelled};
use crate::targets::RefusedTarget;
use crate::targets::TargetSource;

/// The name of a phase, as `status --json` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseName {
    /// No usable profile, or nothing to discover.
    Idle,
    /// Looking for the PSN that owns the endpoint's session.
    Discovering,
    /// Running the posture assessment.
    Assessing,
    /// Posture assessed; state sync probing (unless disabled or stopped).
    Known,
}

spelled! {
    /// The lower-case name.
    PhaseName {
        Idle => "idle",
        Discovering => "discovering",
        Assessing => "assessing",
        Known => "known",
    }
}

/// The log level a transition deserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine (a retry).
    Debug,
    /// Normal operation (a phase change).
    Info,
    /// Something an administrator may want to look at.
    Warn,
    /// Something an administrator must fix (a confirmed dACL misconfiguration).
    Error,
}

/// The kind of a [`Reason`], without its details: what the transitions
/// file (`transitions.jsonl`) records next to the reason's text, so that a
/// reader decides on the kind, never on the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonKind {
    /// [`Reason::ProfileApplied`].
    ProfileApplied,
    /// [`Reason::NoDiscoveryTarget`].
    NoDiscoveryTarget,
    /// [`Reason::DiscoveryRetry`].
    DiscoveryRetry,
    /// [`Reason::DiscoveryFailed`].
    DiscoveryFailed,
    /// [`Reason::PsnNotAllowed`].
    PsnNotAllowed,
    /// [`Reason::Discovered`].
    Discovered,
    /// [`Reason::Assessed`].
    Assessed,
    /// [`Reason::AssessmentFailed`].
    AssessmentFailed,
    /// [`Reason::AssessmentInconclusive`].
    AssessmentInconclusive,
    /// [`Reason::ServerLostPosture`].
    ServerLostPosture,
    /// [`Reason::ServerPostureChanged`].
    ServerPostureChanged,
    /// [`Reason::MisconfigurationSuspected`].
    MisconfigurationSuspected,
    /// [`Reason::MisconfigurationConfirmed`].
    MisconfigurationConfirmed,
    /// [`Reason::LateDacl`].
    LateDacl,
    /// [`Reason::ConfirmationInconclusive`].
    ConfirmationInconclusive,
    /// [`Reason::NoProbeTarget`].
    NoProbeTarget,
    /// [`Reason::ReassessmentRateLimited`].
    ReassessmentRateLimited,
    /// [`Reason::SyncDisabledByProfile`].
    SyncDisabledByProfile,
    /// [`Reason::SyncEnabledByProfile`].
    SyncEnabledByProfile,
    /// [`Reason::DiscoveryStageFailed`].
    DiscoveryStageFailed,
    /// [`Reason::NetworkChanged`].
    NetworkChanged,
    /// [`Reason::Rescan`].
    Rescan,
    /// [`Reason::RescanDeclined`].
    RescanDeclined,
    /// [`Reason::PeriodicReassessment`].
    PeriodicReassessment,
    /// Written by builds before the kind of a spread start became its
    /// cause's ([`Reason::StartSpread`] now has its cause's kind); kept so
    /// that their `transitions.jsonl` still reads.
    StartSpread,
}

impl ReasonKind {
    /// A decision about a dACL misconfiguration (suspected or confirmed).
    pub fn is_misconfiguration(self) -> bool {
        matches!(
            self,
            ReasonKind::MisconfigurationSuspected | ReasonKind::MisconfigurationConfirmed
        )
    }
}

/// Why the machine did what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A usable profile arrived; discovery starts.
    ProfileApplied,
    /// The profile names no discovery target the ServerNameRules allow and no
    /// PSN is remembered: nothing to do until the profile changes.
    NoDiscoveryTarget {
        /// Targets the ServerNameRules refused.
        refused: Vec<RefusedTarget>,
    },
    /// The discovery backoff elapsed; discovery starts again.
    DiscoveryRetry {
        /// How many attempts failed before this one.
        attempt: u32,
    },
    /// No discovery target answered.
    DiscoveryFailed {
        /// Targets tried, with what happened.
        outcomes: Vec<TargetOutcome>,
        /// When discovery runs again.
        retry_in: Duration,
    },
    /// A discovery reply named a PSN the ServerNameRules refuse.
    PsnNotAllowed {
        /// The refused PSN.
        psn: HostPort,
        /// When discovery runs again.
        retry_in: Duration,
    },
    /// Stage 1 of a discovery attempt found nothing; stage 2 starts at once.
    DiscoveryStageFailed {
        /// What stage 1 met (the gateway's outcome is the driver's to log).
        outcomes: Vec<TargetOutcome>,
    },
    /// Discovery found the session; assessment starts.
    Discovered {
        /// The session's status as discovery reported it.
        posture: PostureStatus,
        /// The stage that answered.
        stage: Stage,
        /// Which target answered.
        source: TargetSource,
        /// When the gateway's redirect was followed: the host it led to.
        redirected_to: Option<String>,
    },
    /// The network changed (or the endpoint resumed) and has been quiet
    /// for NetworkTransitionDelay: discovery restarts.
    NetworkChanged {
        /// Changes seen since the last restart.
        changes: u32,
        /// One of them was a resume from sleep.
        resumed: bool,
    },
    /// `posture-sync reassess`: discovery restarts now.
    Rescan,
    /// `posture-sync reassess` changed nothing, and why.
    RescanDeclined {
        /// Why.
        why: RescanDeclined,
    },
    /// The periodic reassessment the PSN asked for is due.
    PeriodicReassessment {
        /// The interval the PSN asked for.
        every: Duration,
    },
    /// The assessment finished with a posture.
    Assessed {
        /// The posture.
        posture: PostureStatus,
    },
    /// The assessment failed.
    AssessmentFailed {
        /// What went wrong, and where.
        outcome: TargetOutcome,
        /// When discovery runs again.
        retry_in: Duration,
    },
    /// The assessment ended without a posture (`Unknown` or `Pending`).
    AssessmentInconclusive {
        /// What the PSN said.
        posture: PostureStatus,
        /// When discovery runs again.
        retry_in: Duration,
    },
    /// A probe got through and the PSN no longer holds the posture
    /// (`Unknown`, `Pending` or 404).
    ServerLostPosture {
        /// What it answered.
        answer: Answer,
    },
    /// A probe got through and the PSN holds another posture.
    ServerPostureChanged {
        /// The agent's posture.
        ours: PostureStatus,
        /// The PSN's.
        theirs: PostureStatus,
    },
    /// A probe got through and answered the agent's own known posture: the
    /// dACL may not block the state sync port. A confirmation follows.
    MisconfigurationSuspected {
        /// The posture answered.
        status: PostureStatus,
        /// When the confirmation probe runs.
        confirm_in: Duration,
    },
    /// The confirmation probe got through again: the dACL does not block the
    /// state sync port. Probing stops until the agent restarts.
    MisconfigurationConfirmed {
        /// The posture answered.
        status: PostureStatus,
    },
    /// The confirmation probe was blocked: the dACL was merely late.
    LateDacl,
    /// The confirmation probe failed on every target; no alarm, normal
    /// probing resumes (a still-missing dACL is caught by the next round).
    ConfirmationInconclusive,
    /// No probe target is allowed by ServerNameRules and ServerPorts: the
    /// round is skipped.
    NoProbeTarget {
        /// Targets the ServerNameRules refused.
        refused: Vec<RefusedTarget>,
    },
    /// A probe showed a server-side change (`cause`), but the server has
    /// provoked more evaluation than its share: rediscovery waits `wait`.
    ReassessmentRateLimited {
        /// What the probe showed.
        cause: Box<Reason>,
        /// How long rediscovery waits.
        wait: Duration,
    },
    /// The profile disabled state sync.
    SyncDisabledByProfile,
    /// The profile enabled state sync.
    SyncEnabledByProfile,
    /// Discovery starts for `cause` (a start, a settled network change)
    /// after a random `delay` below the start spread, so that a fleet that
    /// starts at the same second spreads its first requests.
    StartSpread {
        /// Why discovery starts.
        cause: Box<Reason>,
        /// How long it waits.
        delay: Duration,
    },
}

impl Reason {
    /// The kind of this reason.
    pub fn kind(&self) -> ReasonKind {
        match self {
            Reason::ProfileApplied => ReasonKind::ProfileApplied,
            Reason::NoDiscoveryTarget { .. } => ReasonKind::NoDiscoveryTarget,
            Reason::DiscoveryRetry { .. } => ReasonKind::DiscoveryRetry,
            Reason::DiscoveryFailed { .. } => ReasonKind::DiscoveryFailed,
            Reason::PsnNotAllowed { .. } => ReasonKind::PsnNotAllowed,
            Reason::Discovered { .. } => ReasonKind::Discovered,
            Reason::Assessed { .. } => ReasonKind::Assessed,
            Reason::AssessmentFailed { .. } => ReasonKind::AssessmentFailed,
            Reason::AssessmentInconclusive { .. } => ReasonKind::AssessmentInconclusive,
            Reason::ServerLostPosture { .. } => ReasonKind::ServerLostPosture,
            Reason::ServerPostureChanged { .. } => ReasonKind::ServerPostureChanged,
            Reason::MisconfigurationSuspected { .. } => ReasonKind::MisconfigurationSuspected,
            Reason::MisconfigurationConfirmed { .. } => ReasonKind::MisconfigurationConfirmed,
            Reason::LateDacl => ReasonKind::LateDacl,
            Reason::ConfirmationInconclusive => ReasonKind::ConfirmationInconclusive,
            Reason::NoProbeTarget { .. } => ReasonKind::NoProbeTarget,
            Reason::ReassessmentRateLimited { .. } => ReasonKind::ReassessmentRateLimited,
            // The kind says why discovery starts (what a reader decides
            // on: a network change, a profile applied); the spread is only
            // when.
            Reason::StartSpread { cause, .. } => cause.kind(),
            Reason::SyncDisabledByProfile => ReasonKind::SyncDisabledByProfile,
            Reason::SyncEnabledByProfile => ReasonKind::SyncEnabledByProfile,
            Reason::DiscoveryStageFailed { .. } => ReasonKind::DiscoveryStageFailed,
            Reason::NetworkChanged { .. } => ReasonKind::NetworkChanged,
            Reason::Rescan => ReasonKind::Rescan,
            Reason::RescanDeclined { .. } => ReasonKind::RescanDeclined,
            Reason::PeriodicReassessment { .. } => ReasonKind::PeriodicReassessment,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs =
            |d: &Duration| humantime::format_duration(Duration::from_millis(d.as_millis() as u64));
        match self {
            Reason::ProfileApplied => f.write_str("profile applied"),
            Reason::NoDiscoveryTarget { refused } => {
                f.write_str(
                    "no discovery target: set DiscoveryHost or CallHomeList in the profile",
                )?;
                write_refused(f, "refused by ServerNameRules", refused)
            }
            Reason::DiscoveryRetry { attempt } => {
                write!(f, "retrying discovery after {attempt} failed attempts")
            }
            Reason::DiscoveryFailed { outcomes, retry_in } => {
                write!(f, "no discovery target answered")?;
                for o in outcomes {
                    write!(f, "; {o}")?;
                }
                write!(f, "; retry in {}", secs(retry_in))
            }
            Reason::PsnNotAllowed { psn, retry_in } => write!(
                f,
                "discovery named psn {psn}, which ServerNameRules do not allow; retry in {}",
                secs(retry_in)
            ),
            Reason::DiscoveryStageFailed { outcomes } => {
                f.write_str("discovery stage 1 found no session")?;
                for o in outcomes {
                    write!(f, "; {o}")?;
                }
                f.write_str("; trying stage 2")
            }
            Reason::Discovered {
                posture,
                stage,
                source,
                redirected_to,
            } => {
                write!(
                    f,
                    "session found, server posture {posture}; {stage} via {source}"
                )?;
                if let Some(host) = redirected_to {
                    write!(f, " to {host}")?;
                }
                Ok(())
            }
            Reason::NetworkChanged { changes, resumed } => {
                let what = if *resumed {
                    "resumed from sleep"
                } else {
                    "network changed"
                };
                write!(
                    f,
                    "{what} ({changes} change{} before the network settled); rediscovering",
                    if *changes == 1 { "" } else { "s" }
                )
            }
            Reason::Rescan => f.write_str("rescan requested; rediscovering"),
            Reason::RescanDeclined { why } => write!(f, "rescan request not followed: {why}"),
            Reason::PeriodicReassessment { every } => write!(
                f,
                "periodic reassessment due (the psn asked for one every {}); rediscovering",
                secs(every)
            ),
            Reason::Assessed { posture } => write!(f, "assessment complete: {posture}"),
            Reason::AssessmentFailed { outcome, retry_in } => {
                write!(
                    f,
                    "assessment failed: {outcome}; rediscovering in {}",
                    secs(retry_in)
                )
            }
            Reason::AssessmentInconclusive { posture, retry_in } => write!(
                f,
                "assessment ended with posture {posture}; rediscovering in {}",
                secs(retry_in)
            ),
            Reason::ServerLostPosture { answer } => match answer {
                Answer::NotFound => f.write_str(
                    "state sync probe: the psn knows no such session (404); rediscovering",
                ),
                Answer::Status(s) => {
                    write!(f, "state sync probe: the psn reports {s}; rediscovering")
                }
            },
            Reason::ServerPostureChanged { ours, theirs } => write!(
                f,
                "state sync probe: posture changed on the server from {ours} to {theirs}; reassessing"
            ),
            Reason::MisconfigurationSuspected { status, confirm_in } => write!(
                f,
                "state sync probe got through and answered {status}: the dacl may not block the state sync port; confirming in {}",
                secs(confirm_in)
            ),
            Reason::MisconfigurationConfirmed { status } => write!(
                f,
                "dacl misconfiguration: the state sync port is reachable although the posture is {status}; add `deny tcp any host <psn> eq <state sync port>` at the top of the dacl; state sync stopped until the agent restarts"
            ),
            Reason::LateDacl => {
                f.write_str("confirmation probe blocked: the dacl was only late; probing normally")
            }
            Reason::ConfirmationInconclusive => {
                f.write_str("confirmation probe failed on every target; probing normally")
            }
            Reason::NoProbeTarget { refused } => {
                f.write_str(
                    "no state sync probe target is allowed by ServerNameRules and ServerPorts; round skipped",
                )?;
                write_refused(f, "refused", refused)
            }
            Reason::ReassessmentRateLimited { cause, wait } => write!(
                f,
                "{cause}; rate limit: the server has provoked more assessments than the endpoint spends on them (at most {}% of a core), so rediscovery waits {}",
                (evaluation::DUTY * 100.0).round(),
                secs(wait)
            ),
            Reason::SyncDisabledByProfile => f.write_str("state sync disabled by the profile"),
            Reason::SyncEnabledByProfile => f.write_str("state sync enabled by the profile"),
            Reason::StartSpread { cause, delay } => write!(
                f,
                "{cause}; discovery starts in {} (start spread: a fleet starting together does not reach the PSNs at once)",
                secs(delay)
            ),
        }
    }
}

/// Why a rescan request changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RescanDeclined {
    /// No usable profile was applied yet.
    NoProfile,
    /// An assessment is running: its result is the fresh posture asked for.
    AssessmentRunning,
}

spelled! {
    /// The sentence the CLI shows.
    RescanDeclined {
        NoProfile => "no usable profile yet; fix the profile first",
        AssessmentRunning => "an assessment is already running; its result is the fresh posture",
    }
}

/// ` (label: host:port, ...)` after a sentence, when targets were refused.
fn write_refused(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    refused: &[RefusedTarget],
) -> fmt::Result {
    if refused.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = refused.iter().map(|r| r.target.to_string()).collect();
    write!(f, " ({label}: {})", names.join(", "))
}

/// One decision of the machine: a phase change, or a notable decision inside
/// a phase (`from == to`). The driver logs it as one line at `severity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The phase before.
    pub from: PhaseName,
    /// The phase after.
    pub to: PhaseName,
    /// Why.
    pub reason: Reason,
    /// The log level.
    pub severity: Severity,
    /// The session concerned, if any.
    pub session: Option<SessionId>,
    /// The PSN concerned, if any.
    pub psn: Option<HostPort>,
}

/// `known -> discovering (state sync probe: ...; session=ID, psn=host:port)`.
impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} ({}", self.from, self.to, self.reason)?;
        if let Some(s) = &self.session {
            write!(f, "; session={s}")?;
        }
        if let Some(p) = &self.psn {
            write!(f, "; psn={p}")?;
        }
        f.write_str(")")
    }
}
