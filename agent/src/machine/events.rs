//! What the driver reports to the machine ([`Event`]), what the machine asks
//! the driver to do ([`Action`]) and the result of one step ([`Step`]).

use std::fmt;
use std::time::Duration;

use posture_protocol::{Discovery, PostureStatus, SessionId};
use profile_schema::HostPort;

use super::settings::Settings;
use super::state::{OpId, State, SyncStop};
use super::transition::Transition;
use crate::outcome::TargetOutcome;
use crate::requirement_result::RequirementResults;
use crate::targets::RefusedTarget;
use crate::timing::MonoTime;

/// Something that happened, reported by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A valid profile was loaded at start or after a change.
    ProfileApplied(Settings),
    /// A discovery started with [`Action::StartDiscovery`] finished.
    DiscoveryFinished {
        /// The discovery's id.
        op: OpId,
        /// The first target that answered 200, or every target's outcome.
        result: Result<DiscoverySuccess, Vec<TargetOutcome>>,
    },
    /// An assessment started with [`Action::StartAssessment`] finished.
    AssessmentFinished {
        /// The assessment's id.
        op: OpId,
        /// The posture the PSN decided (`postureResult`), or the classified
        /// failure of the request that failed.
        result: Result<PostureStatus, TargetOutcome>,
        /// How long the checks ran (zero when none ran).
        evaluated_in: Duration,
        /// The periodic reassessment interval the report reply asked for
        /// (ISE's PRA), if any; honoured only within
        /// [`REASSESS_MIN`](super::REASSESS_MIN)..=[`REASSESS_MAX`](super::REASSESS_MAX).
        reassess_after: Option<Duration>,
        /// Each requirement's result when the checks ran and the PSN
        /// decided (empty otherwise), kept for `status`.
        requirements: RequirementResults,
    },
    /// A probe round started with [`Action::StartProbeRound`] finished.
    ProbeRoundFinished {
        /// The round's id.
        op: OpId,
        /// Outcomes in completion order, up to and including the first
        /// definitive answer (the driver ends the round there).
        outcomes: Vec<TargetOutcome>,
    },
    /// A timer armed with [`Action::ArmTimer`] fired.
    TimerFired {
        /// The timer's id.
        timer: OpId,
    },
    /// The endpoint's network changed in a way that restarts discovery
    /// (the driver sends only those: the default route or the addresses).
    /// Debounced: discovery restarts once the network has been quiet for
    /// NetworkTransitionDelay.
    NetworkChanged,
    /// The endpoint resumed from sleep; treated as a network change.
    Resumed {
        /// How long it slept, as far as the driver can tell.
        slept: Duration,
    },
    /// Someone asked the running agent to rediscover and reassess now
    /// (`posture-sync reassess`). The step's transition answers it.
    RescanRequested,
}

/// A successful discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySuccess {
    /// The discovery target that answered: where the gateway's redirect
    /// led when `redirected`.
    pub answered: HostPort,
    /// Its reply.
    pub discovery: Discovery,
    /// The default gateway's redirect led to `answered` (stage 1's gateway
    /// target); the driver checked it with
    /// [`redirect_target`](crate::targets::redirect_target).
    pub redirected: bool,
}

/// The stage of a discovery attempt (`docs/behaviour.md`, "Discovery").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The gateway, the DiscoveryHost and the last PSN, in parallel; the
    /// first that answers wins.
    One,
    /// The CallHomeList, the probing backup list and the remembered PSNs,
    /// in order.
    Two,
}

crate::outcome::spelled! {
    /// `stage 1`, `stage 2`.
    Stage {
        One => "stage 1",
        Two => "stage 2",
    }
}

/// Which of the machine's timers an [`Action::ArmTimer`] arms: each slot
/// holds at most one timer, a new one replacing the slot's armed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerSlot {
    /// The phase's timer: the discovery backoff or the next probe round.
    Phase,
    /// The network-change debounce (NetworkTransitionDelay of quiet).
    Settle,
    /// The periodic reassessment the PSN asked for, in `known`.
    Reassess,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run one stage of a discovery attempt (`GET /auth/discovery`):
    /// stage 1 asks the gateway (when `gateway`) and `targets` in parallel,
    /// the first 200 wins; stage 2 asks `targets` in order until one answers
    /// 200. Report [`Event::DiscoveryFinished`] with `op`. Log each `refused`
    /// target as a warning.
    StartDiscovery {
        /// Id to report back.
        op: OpId,
        /// The stage.
        stage: Stage,
        /// Ask the default gateway too (stage 1 only): `GET
        /// http://<gateway>/auth/discovery` on port 80, following its
        /// redirect only as [`redirect_target`](crate::targets::redirect_target)
        /// allows.
        gateway: bool,
        /// The last session a PSN gave this endpoint, if any (sent as
        /// `X-Posture-Session`: protocol.md sends it "once a session id is
        /// known", and it lets the PSN tie the rediscovery to the session
        /// it reset; the PSN decides which session it answers with).
        session: Option<SessionId>,
        /// Targets in order of preference (never empty when `gateway` is
        /// false).
        targets: Vec<HostPort>,
        /// Targets left out by ServerNameRules.
        refused: Vec<RefusedTarget>,
    },
    /// Run the assessment (requirements, checks, report) with `psn`; report
    /// [`Event::AssessmentFinished`] with `op`.
    StartAssessment {
        /// Id to report back.
        op: OpId,
        /// The session.
        session: SessionId,
        /// The connected PSN on the discovery port.
        psn: HostPort,
    },
    /// Probe `targets` concurrently (`GET /auth/posturestatus?session=`),
    /// starting them `stagger` apart in order, ending the round at the first
    /// definitive answer (200 or 404); report [`Event::ProbeRoundFinished`]
    /// with `op`. Log each target's outcome, and each `refused` target.
    StartProbeRound {
        /// Id to report back.
        op: OpId,
        /// The session to ask about.
        session: SessionId,
        /// Targets, connected PSN first (never empty).
        targets: Vec<HostPort>,
        /// Targets left out by ServerNameRules.
        refused: Vec<RefusedTarget>,
        /// Delay between the starts of two consecutive targets.
        stagger: Duration,
        /// The longest any one stage of a target's probe (TCP connect; TLS
        /// handshake plus reply) may wait: the probe interval. A target
        /// still silent when the next round is due counts as blocked (timed
        /// out), so a dACL that drops silently cannot stretch the spacing of
        /// rounds beyond the interval. Drivers use the smaller of this and
        /// their own limits.
        within: Duration,
    },
    /// Arm the timer of `slot` to fire at `at` (replacing the slot's armed
    /// timer, if any); report [`Event::TimerFired`] with `timer`.
    ArmTimer {
        /// Id to report back.
        timer: OpId,
        /// When to fire (monotonic).
        at: MonoTime,
        /// Which of the machine's timers.
        slot: TimerSlot,
    },
    /// The machine no longer wants the result of operation `op`: abort it if
    /// possible (its result would be ignored anyway).
    Cancel {
        /// The operation.
        op: OpId,
    },
    /// Save this PSN list in the state dir (discovery tries it first next
    /// start).
    PersistPsns(Vec<HostPort>),
    /// Collect a diagnostic bundle automatically (bounded by DartCount).
    CollectBundle {
        /// Why.
        reason: BundleReason,
    },
}

/// Why a bundle is collected automatically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleReason {
    /// A confirmed dACL misconfiguration.
    Misconfiguration(SyncStop),
    /// Discovery failed [`DISCOVERY_FAILURES_FOR_BUNDLE`](super::DISCOVERY_FAILURES_FOR_BUNDLE) times in a row.
    DiscoveryFailing {
        /// Consecutive failed attempts so far.
        attempts: u32,
        /// How long discovery has been failing (since the episode started).
        failing_for: Duration,
        /// What the last attempt met, in words (every target's outcome).
        last_error: String,
    },
}

/// One line naming the reason; it starts with a few words that make a
/// readable bundle file name (`dart-<time>-<seq>-discovery-failing-....zip`).
impl fmt::Display for BundleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleReason::Misconfiguration(stop) => write!(
                f,
                "misconfiguration {}: the state sync port answered {} for session {}",
                stop.psn, stop.status, stop.session
            ),
            BundleReason::DiscoveryFailing {
                attempts,
                failing_for,
                last_error,
            } => write!(
                f,
                "discovery failing: {attempts} attempts in a row failed over {}; last attempt: {last_error}",
                humantime::format_duration(Duration::from_secs(failing_for.as_secs()))
            ),
        }
    }
}

/// The result of one [`step`](super::step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The new state.
    pub state: State,
    /// What the driver must do, in order.
    pub actions: Vec<Action>,
    /// The decision to log as one line, if any.
    pub transition: Option<Transition>,
    /// The event was stale (an old operation's result or an old timer) and
    /// was ignored: `state` equals the old state and there are no actions.
    pub stale: bool,
}

impl Step {
    /// The answer to a stale event: nothing changes.
    pub(super) fn stale(state: &State) -> Step {
        Step {
            state: state.clone(),
            actions: Vec::new(),
            transition: None,
            stale: true,
        }
    }
}
