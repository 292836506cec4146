//! The agent's state: the phase and its data, the settings in force, the
//! remembered PSNs, sync-stop, the counters, the last assessment and the
//! last probe round. Only
//! [`step`](super::step) produces a new [`State`].

use std::fmt;
use std::time::Duration;

use posture_protocol::{PostureStatus, PsnRef, SessionId};
use profile_schema::HostPort;

use super::evaluation::EvaluationAccount;
use super::events::Stage;
use super::settings::Settings;
use super::transition::PhaseName;
use crate::outcome::{RoundVerdict, TargetOutcome};
use crate::requirement_result::RequirementResults;
use crate::targets::{self, TargetSource};
use crate::timing::{JitterRng, MonoTime};

/// Identifies one started operation or one armed timer. Unique within a
/// [`State`]'s lifetime (a counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub(super) u64);

impl OpId {
    /// The raw number (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the machine is doing, with the data that belongs to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// No usable profile yet, or nothing to discover.
    Idle,
    /// Looking for the PSN that owns the endpoint's session.
    Discovering(Discovering),
    /// Running the posture assessment with the connected PSN.
    Assessing(Assessing),
    /// Posture assessed; state sync probing unless disabled or stopped.
    Known(Known),
}

impl Phase {
    /// The phase's name.
    pub fn name(&self) -> PhaseName {
        match self {
            Phase::Idle => PhaseName::Idle,
            Phase::Discovering(_) => PhaseName::Discovering,
            Phase::Assessing(_) => PhaseName::Assessing,
            Phase::Known(_) => PhaseName::Known,
        }
    }

    /// The session and its PSNs, in `assessing` and `known`.
    pub fn session_info(&self) -> Option<&SessionInfo> {
        match self {
            Phase::Assessing(a) => Some(&a.info),
            Phase::Known(k) => Some(&k.info),
            Phase::Idle | Phase::Discovering(_) => None,
        }
    }

    /// The session, in `assessing` and `known`.
    pub fn session(&self) -> Option<&SessionId> {
        self.session_info().map(|i| &i.session)
    }

    /// The connected PSN's state sync endpoint, in `assessing` and `known`.
    pub fn connected_psn(&self) -> Option<HostPort> {
        self.session_info()
            .map(|i| targets::state_sync_target(&i.connected))
    }
}

/// Consecutive failed discovery attempts after which the agent collects a
/// diagnostic bundle by itself, once per [`Episode`].
///
/// Counted in attempts, so that the threshold follows the agent's own
/// cadence (the backoff): with the default backoff cap of 60 s the tenth
/// failure comes about 4 minutes after the first, so a laptop that is offline
/// for a minute or two (sleep, Wi-Fi roaming, a VPN coming up) gets no
/// bundle, while a discovery that is really broken (wrong DiscoveryHost, a
/// firewall, an untrusted CA) is captured a few minutes in, with the logs of
/// every attempt still in the current log file. See `docs/behaviour.md`.
pub const DISCOVERY_FAILURES_FOR_BUNDLE: u32 = 10;

/// Data of the `discovering` phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovering {
    /// Failed discovery or assessment attempts since the last known posture;
    /// drives the backoff.
    pub attempt: u32,
    /// The discovery episode this attempt belongs to.
    pub episode: Episode,
    /// What the phase waits for.
    pub wait: DiscoveryWait,
    /// The stage of the attempt under way (stage 1 while waiting out the
    /// backoff: the next attempt starts there).
    pub stage: Stage,
    /// What stage 1 of this attempt met, when stage 2 is under way: the
    /// attempt's failure reports both stages.
    pub missed: Vec<TargetOutcome>,
}

/// One discovery episode: from entering `discovering` until a discovery
/// succeeds. Drives the "discovery keeps failing" diagnostic bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    /// When the agent entered `discovering`.
    pub since: MonoTime,
    /// Consecutive failed discovery attempts in this episode (a discovery
    /// that names a PSN the ServerNameRules refuse counts as failed).
    pub failures: u32,
    /// Whether this episode already asked for its bundle (at most one).
    pub bundled: bool,
}

impl Episode {
    /// A new episode starting at `now`.
    pub fn new(now: MonoTime) -> Episode {
        Episode {
            since: now,
            failures: 0,
            bundled: false,
        }
    }
}

/// What discovery waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryWait {
    /// A discovery is under way.
    InFlight(OpId),
    /// The backoff timer before the next attempt.
    Backoff {
        /// The timer.
        timer: OpId,
        /// When it fires.
        at: MonoTime,
    },
}

/// What discovery found and assessment and probing use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The endpoint's session.
    pub session: SessionId,
    /// The PSN that owns it (host and state sync port).
    pub connected: PsnRef,
    /// The discovery target that answered (the assessment uses its port).
    pub answered: HostPort,
    /// The other PSNs of the deployment.
    pub psn_list: Vec<PsnRef>,
}

/// Data of the `assessing` phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessing {
    /// The session and its PSNs.
    pub info: SessionInfo,
    /// The posture discovery reported.
    pub reported: PostureStatus,
    /// Failed attempts so far (carried into the backoff if this one fails).
    pub attempt: u32,
    /// The assessment under way.
    pub op: OpId,
}

/// Data of the `known` phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The session and its PSNs.
    pub info: SessionInfo,
    /// The assessed posture (Compliant, NonCompliant or NotApplicable).
    pub posture: PostureStatus,
    /// When the posture became known.
    pub since: MonoTime,
    /// The state of probing.
    pub probing: Probing,
    /// The periodic reassessment the PSN asked for, if it did (within
    /// bounds).
    pub reassess: Option<Reassess>,
}

/// A periodic reassessment scheduled in `known`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassess {
    /// The timer.
    pub timer: OpId,
    /// When it fires.
    pub at: MonoTime,
    /// The interval the PSN asked for.
    pub every: Duration,
}

/// The shortest periodic reassessment interval honoured: a PSN cannot make
/// the endpoint reassess more often (shorter intervals are ignored). The
/// wire contract's bound, so the PSN side and the agent cannot disagree.
pub const REASSESS_MIN: Duration = posture_protocol::MIN_REASSESS_INTERVAL;

/// The longest periodic reassessment interval honoured (7 days); longer
/// ones are ignored as nonsense rather than clamped.
pub const REASSESS_MAX: Duration = posture_protocol::MAX_REASSESS_INTERVAL;

/// How the last successful discovery found the PSN (for `status` and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryRecord {
    /// The stage that answered.
    pub stage: Stage,
    /// Which target answered: the gateway, the last PSN, DiscoveryHost,
    /// CallHomeList, the probing backup list or a remembered PSN.
    pub source: TargetSource,
    /// The target that answered discovery (where the redirect led, for
    /// the gateway).
    pub answered: HostPort,
    /// When the gateway's redirect was followed: the host it led to.
    pub redirected_to: Option<String>,
    /// When.
    pub at: MonoTime,
}

/// The network-change debounce: the timer that restarts discovery once the
/// network has been quiet for NetworkTransitionDelay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    /// The timer (re-armed at each change).
    pub timer: OpId,
    /// When it fires.
    pub at: MonoTime,
    /// Changes seen since the last restart.
    pub changes: u32,
    /// One of them was a resume from sleep.
    pub resumed: bool,
}

/// The state of state sync probing inside `known`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probing {
    /// The profile disables state sync.
    Disabled,
    /// Sync-stopped (see [`State::sync_stop`]): no probing until restart.
    Stopped,
    /// Waiting for the timer of the next round.
    Waiting {
        /// The timer.
        timer: OpId,
        /// When it fires.
        at: MonoTime,
        /// What the round is for.
        purpose: RoundPurpose,
    },
    /// A round is under way.
    InFlight {
        /// The round.
        op: OpId,
        /// What the round is for.
        purpose: RoundPurpose,
        /// When it started: the next regular round is due an interval after
        /// this, not after the round's end.
        started: MonoTime,
    },
}

/// What a probe round is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundPurpose {
    /// The first round after the posture became known (after
    /// NetworkTransitionDelay).
    First,
    /// A regular round (after the jittered interval).
    Regular,
    /// The confirmation of a suspected misconfiguration (after
    /// NetworkTransitionDelay).
    Confirm {
        /// The PSN that answered the suspicious round.
        psn: HostPort,
        /// The status it answered.
        status: PostureStatus,
    },
}

/// Why probing stopped for good (until the agent restarts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStop {
    /// The PSN whose state sync port was reachable.
    pub psn: HostPort,
    /// The known status it answered, twice.
    pub status: PostureStatus,
    /// The session.
    pub session: SessionId,
    /// When it was confirmed.
    pub at: MonoTime,
}

/// The counters of `status --json`. Only ever increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Finished probe rounds.
    pub probe_rounds: u64,
    /// Discoveries restarted because a probe showed the server-side posture
    /// changed or was lost.
    pub discovery_restarts: u64,
    /// Confirmed dACL misconfigurations (0 or 1 per agent run, since the
    /// first one stops probing).
    pub misconfigurations: u64,
}

/// The last finished probe round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastProbe {
    /// When it finished.
    pub at: MonoTime,
    /// Its verdict.
    pub verdict: RoundVerdict,
    /// Every target's outcome, in completion order.
    pub outcomes: Vec<TargetOutcome>,
    /// From the round's start to its result, as the machine timed it (the
    /// driver logs and records it rather than timing the round again).
    pub took: Duration,
}

/// The last assessment the PSN decided: what each requirement gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAssessment {
    /// When it finished.
    pub at: MonoTime,
    /// The session it was for.
    pub session: SessionId,
    /// Each requirement's result, in the server's order.
    pub requirements: RequirementResults,
}

/// The agent's whole state. Only [`step`](super::step) produces a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// `None` before the first profile: the machine is then `idle` and has
    /// started nothing and armed no timer. From the first profile on, the
    /// phase (`idle` too, when the profile left nothing to discover) lives
    /// in a [`Run`] next to the settings in force, so the handlers of
    /// results and timers never meet a phase without settings.
    pub(super) run: Option<Run>,
    pub(super) memory: Memory,
}

/// `idle` before the first profile (what [`State::phase`] shows then).
const UNPROFILED: &Phase = &Phase::Idle;

/// The settings in force and the phase running under them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) settings: Settings,
    pub(super) phase: Phase,
}

/// What the agent keeps whatever the phase, profile or no profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Memory {
    pub(super) persisted: Vec<HostPort>,
    pub(super) sync_stop: Option<SyncStop>,
    pub(super) counters: Counters,
    pub(super) last_probe: Option<LastProbe>,
    /// The requirements of the last assessment the PSN decided.
    pub(super) last_assessment: Option<LastAssessment>,
    /// The last session a discovery answered with; kept across phases.
    pub(super) last_session: Option<SessionId>,
    /// How the last successful discovery found the PSN.
    pub(super) last_discovery: Option<DiscoveryRecord>,
    /// The armed network-change debounce, whatever the phase.
    pub(super) settle: Option<Settle>,
    /// Evaluation time spent, for the rate limit on reassessments a server
    /// provokes ([`evaluation`]).
    pub(super) evaluation: EvaluationAccount,
    pub(super) next_op: u64,
    pub(super) rng: JitterRng,
}

impl Memory {
    pub(super) fn next_id(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        id
    }
}

impl State {
    /// A fresh agent: `idle`, no profile yet. `persisted` are the PSNs that
    /// served this endpoint before (from the state dir), `seed` seeds the
    /// jitter (the driver draws it at random; tests pass a constant).
    pub fn new(persisted: Vec<HostPort>, seed: u64) -> State {
        State {
            run: None,
            memory: Memory {
                persisted,
                sync_stop: None,
                counters: Counters::default(),
                last_probe: None,
                last_assessment: None,
                last_session: None,
                last_discovery: None,
                settle: None,
                evaluation: EvaluationAccount::default(),
                next_op: 1,
                rng: JitterRng::new(seed),
            },
        }
    }

    /// The current phase and its data.
    pub fn phase(&self) -> &Phase {
        self.run.as_ref().map_or(UNPROFILED, |r| &r.phase)
    }

    /// The settings in force (`None` until a usable profile arrived).
    pub fn settings(&self) -> Option<&Settings> {
        self.run.as_ref().map(|r| &r.settings)
    }

    /// The PSNs remembered for discovery.
    pub fn persisted(&self) -> &[HostPort] {
        &self.memory.persisted
    }

    /// Sync-stopped: set once a misconfiguration is confirmed, never cleared.
    pub fn sync_stop(&self) -> Option<&SyncStop> {
        self.memory.sync_stop.as_ref()
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        self.memory.counters
    }

    /// The last assessment the PSN decided, with each requirement's result.
    pub fn last_assessment(&self) -> Option<&LastAssessment> {
        self.memory.last_assessment.as_ref()
    }

    /// The last finished probe round.
    pub fn last_probe(&self) -> Option<&LastProbe> {
        self.memory.last_probe.as_ref()
    }

    /// The session, in `assessing` and `known`.
    pub fn session(&self) -> Option<&SessionId> {
        self.phase().session()
    }

    /// The session and its PSNs, in `assessing` and `known`.
    pub fn session_info(&self) -> Option<&SessionInfo> {
        self.phase().session_info()
    }

    /// The connected PSN's state sync endpoint, in `assessing` and `known`.
    pub fn connected_psn(&self) -> Option<HostPort> {
        self.phase().connected_psn()
    }

    /// The posture as the agent holds it: the assessed one in `known`, what
    /// discovery reported in `assessing`, `Unknown` otherwise.
    pub fn posture(&self) -> PostureStatus {
        match self.phase() {
            Phase::Known(k) => k.posture,
            Phase::Assessing(a) => a.reported,
            Phase::Idle | Phase::Discovering(_) => PostureStatus::Unknown,
        }
    }

    /// How the last successful discovery found the PSN (stage, source,
    /// redirect).
    pub fn last_discovery(&self) -> Option<&DiscoveryRecord> {
        self.memory.last_discovery.as_ref()
    }

    /// The armed network-change debounce, if a change is waiting for the
    /// network to settle.
    pub fn settle(&self) -> Option<&Settle> {
        self.memory.settle.as_ref()
    }

    /// When the next periodic reassessment runs, if the PSN asked for one.
    pub fn next_reassessment_at(&self) -> Option<MonoTime> {
        match self.phase() {
            Phase::Known(Known {
                reassess: Some(r), ..
            }) => Some(r.at),
            _ => None,
        }
    }

    /// When the next probe round starts, if one is scheduled.
    pub fn next_probe_at(&self) -> Option<MonoTime> {
        match self.phase() {
            Phase::Known(Known {
                probing: Probing::Waiting { at, .. },
                ..
            }) => Some(*at),
            _ => None,
        }
    }
}
