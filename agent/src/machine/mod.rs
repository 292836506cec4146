//! The agent's pure state machine: the only writer of the agent's state.
//!
//! `step(&State, Event, now) -> Step { state, actions, transition }` decides;
//! the driver (`daemon`) is its only caller and the only place actions run.
//! No I/O, no clock, no randomness: `now` is passed in, jitter comes from a
//! generator seeded once and carried in the state.
//!
//! Every operation the machine starts (a discovery, an assessment, a probe
//! round) and every timer it arms carries an [`OpId`]; a result or a timer
//! whose id is not the one the current phase waits for is stale (from a
//! cancelled round, an abandoned discovery, a replaced timer) and is ignored
//! without any change. See `docs/behaviour.md` for the decision table.

pub mod evaluation;
mod settings;
mod transition;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use posture_protocol::{Discovery, PostureStatus, PsnRef, SessionId};
use profile_schema::HostPort;

pub use evaluation::EvaluationAccount;
pub use settings::Settings;
pub use transition::{PhaseName, Reason, ReasonKind, Severity, Transition};

use crate::outcome::{RoundVerdict, TargetOutcome, judge_round};
use crate::targets::{self, RefusedTarget};
use crate::timing::{JitterRng, MonoTime, ProbeStagger};

/// Identifies one started operation or one armed timer. Unique within a
/// [`State`]'s lifetime (a counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(u64);

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

/// The agent's whole state. Only [`step`] produces a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    phase: Phase,
    settings: Option<Settings>,
    persisted: Vec<HostPort>,
    sync_stop: Option<SyncStop>,
    counters: Counters,
    last_probe: Option<LastProbe>,
    /// The last session a discovery answered with; kept across phases.
    last_session: Option<SessionId>,
    /// Evaluation time spent, for the rate limit on reassessments a server
    /// provokes ([`evaluation`]).
    evaluation: EvaluationAccount,
    next_op: u64,
    rng: JitterRng,
}

impl State {
    /// A fresh agent: `idle`, no profile yet. `persisted` are the PSNs that
    /// served this endpoint before (from the state dir), `seed` seeds the
    /// jitter (the driver draws it at random; tests pass a constant).
    pub fn new(persisted: Vec<HostPort>, seed: u64) -> State {
        State {
            phase: Phase::Idle,
            settings: None,
            persisted,
            sync_stop: None,
            counters: Counters::default(),
            last_probe: None,
            last_session: None,
            evaluation: EvaluationAccount::default(),
            next_op: 1,
            rng: JitterRng::new(seed),
        }
    }

    /// The current phase and its data.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The settings in force (`None` until a usable profile arrived).
    pub fn settings(&self) -> Option<&Settings> {
        self.settings.as_ref()
    }

    /// The PSNs remembered for discovery.
    pub fn persisted(&self) -> &[HostPort] {
        &self.persisted
    }

    /// Sync-stopped: set once a misconfiguration is confirmed, never cleared.
    pub fn sync_stop(&self) -> Option<&SyncStop> {
        self.sync_stop.as_ref()
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The last finished probe round.
    pub fn last_probe(&self) -> Option<&LastProbe> {
        self.last_probe.as_ref()
    }

    /// The session, in `assessing` and `known`.
    pub fn session(&self) -> Option<&SessionId> {
        self.session_info().map(|i| &i.session)
    }

    /// The session and its PSNs, in `assessing` and `known`.
    pub fn session_info(&self) -> Option<&SessionInfo> {
        match &self.phase {
            Phase::Assessing(a) => Some(&a.info),
            Phase::Known(k) => Some(&k.info),
            Phase::Idle | Phase::Discovering(_) => None,
        }
    }

    /// The connected PSN's state sync endpoint, in `assessing` and `known`.
    pub fn connected_psn(&self) -> Option<HostPort> {
        self.session_info()
            .map(|i| targets::state_sync_target(&i.connected))
    }

    /// The posture as the agent holds it: the assessed one in `known`, what
    /// discovery reported in `assessing`, `Unknown` otherwise.
    pub fn posture(&self) -> PostureStatus {
        match &self.phase {
            Phase::Known(k) => k.posture,
            Phase::Assessing(a) => a.reported,
            Phase::Idle | Phase::Discovering(_) => PostureStatus::Unknown,
        }
    }

    /// When the next probe round starts, if one is scheduled.
    pub fn next_probe_at(&self) -> Option<MonoTime> {
        match &self.phase {
            Phase::Known(Known {
                probing: Probing::Waiting { at, .. },
                ..
            }) => Some(*at),
            _ => None,
        }
    }

    fn next_id(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        id
    }
}

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
}

/// A successful discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySuccess {
    /// The discovery target that answered.
    pub answered: HostPort,
    /// Its reply.
    pub discovery: Discovery,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Try `targets` in order (`GET /auth/discovery`) until one answers 200;
    /// report [`Event::DiscoveryFinished`] with `op`. Log each `refused` target
    /// as a warning.
    StartDiscovery {
        /// Id to report back.
        op: OpId,
        /// The last session a PSN gave this endpoint, if any (sent as
        /// `X-Posture-Session`: protocol.md sends it "once a session id is
        /// known", and it lets the PSN tie the rediscovery to the session
        /// it reset; the PSN decides which session it answers with).
        session: Option<SessionId>,
        /// Targets in order of preference (never empty).
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
    /// Arm the machine's single timer to fire at `at` (replacing any armed
    /// timer); report [`Event::TimerFired`] with `timer`.
    ArmTimer {
        /// Id to report back.
        timer: OpId,
        /// When to fire (monotonic).
        at: MonoTime,
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
    /// Discovery failed [`DISCOVERY_FAILURES_FOR_BUNDLE`] times in a row.
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

/// The result of one [`step`].
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

/// The machine: the new state, the actions to run and the transition to log
/// after `event` happened at `now`.
pub fn step(state: &State, event: Event, now: MonoTime) -> Step {
    let mut cx = Cx {
        s: state.clone(),
        now,
        actions: Vec::new(),
        transition: None,
    };
    let handled = match event {
        Event::ProfileApplied(settings) => {
            cx.on_profile(settings);
            true
        }
        Event::DiscoveryFinished { op, result } => cx.on_discovery(op, result),
        Event::AssessmentFinished {
            op,
            result,
            evaluated_in,
        } => cx.on_assessment(op, result, evaluated_in),
        Event::ProbeRoundFinished { op, outcomes } => cx.on_round(op, outcomes),
        Event::TimerFired { timer } => cx.on_timer(timer),
    };
    if !handled {
        return Step {
            state: state.clone(),
            actions: Vec::new(),
            transition: None,
            stale: true,
        };
    }
    Step {
        state: cx.s,
        actions: cx.actions,
        transition: cx.transition,
        stale: false,
    }
}

/// One step's working set.
struct Cx {
    s: State,
    now: MonoTime,
    actions: Vec<Action>,
    transition: Option<Transition>,
}

impl Cx {
    fn record(
        &mut self,
        from: PhaseName,
        reason: Reason,
        severity: Severity,
        psn: Option<HostPort>,
    ) {
        self.transition = Some(Transition {
            from,
            to: self.s.phase.name(),
            reason,
            severity,
            session: self.s.session().cloned(),
            psn,
        });
    }

    fn arm(&mut self, after: Duration) -> (OpId, MonoTime) {
        let timer = self.s.next_id();
        let at = self.now + after;
        self.actions.push(Action::ArmTimer { timer, at });
        (timer, at)
    }

    // ---- profile ---------------------------------------------------------

    fn on_profile(&mut self, settings: Settings) {
        let sync = settings.sync;
        let delay = settings.transition_delay.get();
        self.s.settings = Some(settings);
        let from = self.s.phase.name();
        match &mut self.s.phase {
            Phase::Idle => self.start_discovery(0, from, Reason::ProfileApplied),
            // New targets and backoff cap apply from the next attempt.
            Phase::Discovering(_) | Phase::Assessing(_) => {}
            Phase::Known(known) => match (&known.probing, sync) {
                (Probing::Stopped, _) => {}
                (Probing::Disabled, None) => {}
                (Probing::Disabled, Some(_)) => {
                    let (timer, at) = self.arm(delay);
                    if let Phase::Known(known) = &mut self.s.phase {
                        known.probing = Probing::Waiting {
                            timer,
                            at,
                            purpose: RoundPurpose::First,
                        };
                    }
                    let psn = self.s.connected_psn();
                    self.record(from, Reason::SyncEnabledByProfile, Severity::Info, psn);
                }
                (Probing::InFlight { op, .. }, None) => {
                    let op = *op;
                    known.probing = Probing::Disabled;
                    self.actions.push(Action::Cancel { op });
                    let psn = self.s.connected_psn();
                    self.record(from, Reason::SyncDisabledByProfile, Severity::Info, psn);
                }
                (Probing::Waiting { .. }, None) => {
                    known.probing = Probing::Disabled;
                    let psn = self.s.connected_psn();
                    self.record(from, Reason::SyncDisabledByProfile, Severity::Info, psn);
                }
                // Still enabled: a new interval applies from the next schedule,
                // new targets from the next round.
                (Probing::InFlight { .. } | Probing::Waiting { .. }, Some(_)) => {}
            },
        }
    }

    // ---- discovery -------------------------------------------------------

    /// Starts a discovery attempt (or goes idle when there is nothing to try).
    fn start_discovery(&mut self, attempt: u32, from: PhaseName, reason: Reason) {
        let Some(settings) = &self.s.settings else {
            // Unreachable in practice (discovery starts only once a profile is
            // applied); staying idle is the safe answer.
            self.s.phase = Phase::Idle;
            return;
        };
        let sel = targets::discovery_targets(
            &self.s.persisted,
            settings.discovery_host.as_ref(),
            &settings.call_home_list,
            &settings.server_name_rules,
        );
        if sel.targets.is_empty() {
            self.s.phase = Phase::Idle;
            self.record(
                from,
                Reason::NoDiscoveryTarget {
                    refused: sel.refused,
                },
                Severity::Warn,
                None,
            );
            return;
        }
        let op = self.s.next_id();
        let first = sel.targets.first().cloned();
        self.actions.push(Action::StartDiscovery {
            op,
            session: self.s.last_session.clone(),
            targets: sel.targets,
            refused: sel.refused,
        });
        let episode = self.episode();
        self.s.phase = Phase::Discovering(Discovering {
            attempt,
            episode,
            wait: DiscoveryWait::InFlight(op),
        });
        let severity = match reason {
            Reason::DiscoveryRetry { .. } => Severity::Debug,
            _ => Severity::Info,
        };
        self.record(from, reason, severity, first);
    }

    /// Waits out the backoff for `attempt`, then discovers again.
    fn retry_later(
        &mut self,
        attempt: u32,
        from: PhaseName,
        reason: impl FnOnce(Duration) -> Reason,
        psn: Option<HostPort>,
    ) {
        let backoff = self
            .s
            .settings
            .as_ref()
            .map(Settings::backoff)
            .unwrap_or_else(|| crate::timing::Backoff::for_sync(None));
        let jitter = self.s.rng.next_jitter();
        let delay = backoff.delay_jittered(attempt, jitter);
        let (timer, at) = self.arm(delay);
        let episode = self.episode();
        self.s.phase = Phase::Discovering(Discovering {
            attempt: attempt.saturating_add(1),
            episode,
            wait: DiscoveryWait::Backoff { timer, at },
        });
        self.record(from, reason(delay), Severity::Warn, psn);
    }

    /// The discovery episode under way, or a new one when the agent is not
    /// discovering yet (it comes from `idle`, `assessing` or `known`).
    fn episode(&self) -> Episode {
        match &self.s.phase {
            Phase::Discovering(d) => d.episode,
            Phase::Idle | Phase::Assessing(_) | Phase::Known(_) => Episode::new(self.now),
        }
    }

    /// Counts a failed discovery attempt in the current episode and asks for
    /// the episode's one bundle when discovery keeps failing.
    fn discovery_failed(&mut self, last_error: impl FnOnce() -> String) {
        let Phase::Discovering(d) = &mut self.s.phase else {
            return;
        };
        let episode = &mut d.episode;
        episode.failures = episode.failures.saturating_add(1);
        if episode.bundled || episode.failures < DISCOVERY_FAILURES_FOR_BUNDLE {
            return;
        }
        episode.bundled = true;
        let reason = BundleReason::DiscoveryFailing {
            attempts: episode.failures,
            failing_for: self.now.saturating_since(episode.since),
            last_error: last_error(),
        };
        self.actions.push(Action::CollectBundle { reason });
    }

    fn on_discovery(
        &mut self,
        op: OpId,
        result: Result<DiscoverySuccess, Vec<TargetOutcome>>,
    ) -> bool {
        let attempt = match &self.s.phase {
            Phase::Discovering(Discovering {
                attempt,
                wait: DiscoveryWait::InFlight(current),
                ..
            }) if *current == op => *attempt,
            _ => return false,
        };
        let from = PhaseName::Discovering;
        let success = match result {
            Ok(success) => success,
            Err(outcomes) => {
                let last_error = outcomes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                self.retry_later(
                    attempt,
                    from,
                    |retry_in| Reason::DiscoveryFailed { outcomes, retry_in },
                    None,
                );
                self.discovery_failed(|| {
                    if last_error.is_empty() {
                        "no target could be tried".to_owned()
                    } else {
                        last_error
                    }
                });
                return true;
            }
        };
        let DiscoverySuccess {
            answered,
            discovery,
        } = success;
        let allowed = self
            .s
            .settings
            .as_ref()
            .is_some_and(|s| s.server_name_rules.allows(&discovery.psn.host));
        if !allowed {
            let psn = targets::assessment_target(&discovery.psn, &answered);
            self.retry_later(
                attempt,
                from,
                |retry_in| Reason::PsnNotAllowed {
                    psn: psn.clone(),
                    retry_in,
                },
                Some(psn.clone()),
            );
            self.discovery_failed(|| {
                format!("discovery named psn {psn}, which ServerNameRules do not allow")
            });
            return true;
        }
        // Remembered only once an assessment completes (`enter_known`): a
        // host that merely answered discovery is not preferred at the next
        // start.
        let psn = targets::assessment_target(&discovery.psn, &answered);
        let op = self.s.next_id();
        self.actions.push(Action::StartAssessment {
            op,
            session: discovery.session.clone(),
            psn: psn.clone(),
        });
        self.s.last_session = Some(discovery.session.clone());
        self.s.phase = Phase::Assessing(Assessing {
            info: SessionInfo {
                session: discovery.session,
                connected: discovery.psn,
                answered,
                psn_list: discovery.psn_list,
            },
            reported: discovery.posture,
            attempt,
            op,
        });
        self.record(
            from,
            Reason::Discovered {
                posture: discovery.posture,
            },
            Severity::Info,
            Some(psn),
        );
        true
    }

    // ---- assessment ------------------------------------------------------

    fn on_assessment(
        &mut self,
        op: OpId,
        result: Result<PostureStatus, TargetOutcome>,
        evaluated_in: Duration,
    ) -> bool {
        let assessing = match &self.s.phase {
            Phase::Assessing(a) if a.op == op => a.clone(),
            _ => return false,
        };
        self.s.evaluation.spend(self.now, evaluated_in);
        let from = PhaseName::Assessing;
        let psn = targets::assessment_target(&assessing.info.connected, &assessing.info.answered);
        match result {
            Err(outcome) => {
                let psn = Some(outcome.target.clone());
                self.retry_later(
                    assessing.attempt,
                    from,
                    |retry_in| Reason::AssessmentFailed { outcome, retry_in },
                    psn,
                );
            }
            Ok(posture @ (PostureStatus::Unknown | PostureStatus::Pending)) => {
                self.retry_later(
                    assessing.attempt,
                    from,
                    |retry_in| Reason::AssessmentInconclusive { posture, retry_in },
                    Some(psn),
                );
            }
            Ok(posture) => self.enter_known(assessing.info, posture, psn),
        }
        true
    }

    fn enter_known(&mut self, info: SessionInfo, posture: PostureStatus, psn: HostPort) {
        let from = self.s.phase.name();
        let persisted =
            targets::merge_persisted(&self.s.persisted, &info.connected, &info.answered);
        if persisted != self.s.persisted {
            self.s.persisted = persisted.clone();
            self.actions.push(Action::PersistPsns(persisted));
        }
        let (sync, delay) = match &self.s.settings {
            Some(s) => (s.sync, s.transition_delay.get()),
            None => (None, Duration::ZERO),
        };
        let probing = if self.s.sync_stop.is_some() {
            Probing::Stopped
        } else if sync.is_none() {
            Probing::Disabled
        } else {
            let (timer, at) = self.arm(delay);
            Probing::Waiting {
                timer,
                at,
                purpose: RoundPurpose::First,
            }
        };
        self.s.phase = Phase::Known(Known {
            info,
            posture,
            since: self.now,
            probing,
        });
        self.record(
            from,
            Reason::Assessed { posture },
            Severity::Info,
            Some(psn),
        );
    }

    // ---- timers ----------------------------------------------------------

    fn on_timer(&mut self, timer: OpId) -> bool {
        match &self.s.phase {
            Phase::Discovering(Discovering {
                attempt,
                wait: DiscoveryWait::Backoff { timer: t, .. },
                ..
            }) if *t == timer => {
                let attempt = *attempt;
                self.start_discovery(
                    attempt,
                    PhaseName::Discovering,
                    Reason::DiscoveryRetry { attempt },
                );
                true
            }
            Phase::Known(Known {
                probing:
                    Probing::Waiting {
                        timer: t, purpose, ..
                    },
                ..
            }) if *t == timer => {
                let purpose = purpose.clone();
                self.start_round(purpose);
                true
            }
            _ => false,
        }
    }

    // ---- probing ---------------------------------------------------------

    fn start_round(&mut self, purpose: RoundPurpose) {
        let (Phase::Known(known), Some(settings)) = (&self.s.phase, &self.s.settings) else {
            return;
        };
        let sel = targets::probe_targets(
            &settings.probing_backup_list,
            &known.info.connected,
            &known.info.psn_list,
            &settings.server_name_rules,
            &settings.server_ports,
        );
        if sel.targets.is_empty() {
            // Nothing may be probed: skip the round (a confirmation cannot
            // happen either) and try again next interval; the profile may
            // change meanwhile.
            self.schedule_regular();
            let psn = self.s.connected_psn();
            self.record(
                PhaseName::Known,
                Reason::NoProbeTarget {
                    refused: sel.refused,
                },
                Severity::Warn,
                psn,
            );
            return;
        }
        let session = known.info.session.clone();
        // A confirmation round under a profile that just disabled sync has
        // no interval: the drivers' own limits apply.
        let within = settings.sync.map_or(Duration::MAX, |i| i.get());
        let op = self.s.next_id();
        self.actions.push(Action::StartProbeRound {
            op,
            session,
            targets: sel.targets,
            refused: sel.refused,
            stagger: ProbeStagger::DEFAULT.get(),
            within,
        });
        let started = self.now;
        if let Phase::Known(known) = &mut self.s.phase {
            known.probing = Probing::InFlight {
                op,
                purpose,
                started,
            };
        }
    }

    /// Schedules the next regular round the jittered interval after the
    /// start of the round that just finished (at once if that moment has
    /// passed), or after now when no round is finishing; or notes sync as
    /// disabled when the profile no longer has an interval.
    fn schedule_regular(&mut self) {
        let sync = self.s.settings.as_ref().and_then(|s| s.sync);
        let from = match &self.s.phase {
            Phase::Known(Known {
                probing: Probing::InFlight { started, .. },
                ..
            }) => *started,
            _ => self.now,
        };
        let probing = match sync {
            None => Probing::Disabled,
            Some(interval) => {
                let jitter = self.s.rng.next_jitter();
                let due = from + interval.jittered(jitter);
                let (timer, at) = self.arm(due.saturating_since(self.now));
                Probing::Waiting {
                    timer,
                    at,
                    purpose: RoundPurpose::Regular,
                }
            }
        };
        if let Phase::Known(known) = &mut self.s.phase {
            known.probing = probing;
        }
    }

    fn on_round(&mut self, op: OpId, outcomes: Vec<TargetOutcome>) -> bool {
        let (known, purpose, started) = match &self.s.phase {
            Phase::Known(
                k @ Known {
                    probing:
                        Probing::InFlight {
                            op: current,
                            purpose,
                            started,
                        },
                    ..
                },
            ) if *current == op => (k.clone(), purpose.clone(), *started),
            _ => return false,
        };
        let verdict = judge_round(&outcomes);
        self.s.counters.probe_rounds += 1;
        self.s.last_probe = Some(LastProbe {
            at: self.now,
            verdict: verdict.clone(),
            outcomes,
            took: self.now.saturating_since(started),
        });
        let from = PhaseName::Known;
        match verdict {
            RoundVerdict::Answered { target, answer } => {
                let theirs = answer.status();
                let ours = known.posture;
                if matches!(theirs, PostureStatus::Unknown | PostureStatus::Pending) {
                    self.restart_discovery(Reason::ServerLostPosture { answer }, target);
                } else if theirs != ours {
                    self.restart_discovery(Reason::ServerPostureChanged { ours, theirs }, target);
                } else if !theirs.is_known() {
                    // NotApplicable on both sides: in step, and no dACL is
                    // expected to block the port for it. Keep probing.
                    self.schedule_regular();
                } else if let RoundPurpose::Confirm { .. } = purpose {
                    self.confirm_misconfiguration(&known, target, theirs);
                } else {
                    let delay = self
                        .s
                        .settings
                        .as_ref()
                        .map_or(Duration::ZERO, |s| s.transition_delay.get());
                    let (timer, at) = self.arm(delay);
                    if let Phase::Known(k) = &mut self.s.phase {
                        k.probing = Probing::Waiting {
                            timer,
                            at,
                            purpose: RoundPurpose::Confirm {
                                psn: target.clone(),
                                status: theirs,
                            },
                        };
                    }
                    self.record(
                        from,
                        Reason::MisconfigurationSuspected {
                            status: theirs,
                            confirm_in: delay,
                        },
                        Severity::Warn,
                        Some(target),
                    );
                }
            }
            RoundVerdict::Blocked { target } => {
                self.schedule_regular();
                if let RoundPurpose::Confirm { .. } = purpose {
                    self.record(from, Reason::LateDacl, Severity::Info, Some(target));
                }
            }
            RoundVerdict::Fault { target } => {
                self.schedule_regular();
                if let RoundPurpose::Confirm { .. } = purpose {
                    self.record(
                        from,
                        Reason::ConfirmationInconclusive,
                        Severity::Warn,
                        Some(target),
                    );
                }
            }
            RoundVerdict::Empty => {
                self.schedule_regular();
                if let RoundPurpose::Confirm { .. } = purpose {
                    self.record(from, Reason::ConfirmationInconclusive, Severity::Warn, None);
                }
            }
        }
        true
    }

    fn restart_discovery(&mut self, reason: Reason, psn: HostPort) {
        self.s.counters.discovery_restarts += 1;
        // The transition names the session that was lost and the PSN that
        // said so; record it before the phase drops the session.
        let session = self.s.session().cloned();
        let wait = self.s.evaluation.wait(self.now);
        if wait.is_zero() {
            self.start_discovery(0, PhaseName::Known, reason);
        } else {
            // The server has made this endpoint evaluate more than its share
            // (machine/evaluation.rs): rediscover once that has drained.
            let (timer, at) = self.arm(wait);
            let episode = self.episode();
            self.s.phase = Phase::Discovering(Discovering {
                attempt: 0,
                episode,
                wait: DiscoveryWait::Backoff { timer, at },
            });
            self.record(
                PhaseName::Known,
                Reason::ReassessmentRateLimited {
                    cause: Box::new(reason),
                    wait,
                },
                Severity::Warn,
                None,
            );
        }
        if let Some(t) = &mut self.transition {
            t.session = session;
            t.psn = Some(psn);
        }
    }

    fn confirm_misconfiguration(&mut self, known: &Known, psn: HostPort, status: PostureStatus) {
        let stop = SyncStop {
            psn: psn.clone(),
            status,
            session: known.info.session.clone(),
            at: self.now,
        };
        self.s.counters.misconfigurations += 1;
        self.s.sync_stop = Some(stop.clone());
        if let Phase::Known(k) = &mut self.s.phase {
            k.probing = Probing::Stopped;
        }
        self.actions.push(Action::CollectBundle {
            reason: BundleReason::Misconfiguration(stop),
        });
        self.record(
            PhaseName::Known,
            Reason::MisconfigurationConfirmed { status },
            Severity::Error,
            Some(psn),
        );
    }
}
