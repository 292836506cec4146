//! Test support, not API: the one machine driver and the fixtures that the
//! machine's unit tests, the decision-table tests
//! (`agent/tests/machine_table.rs`, which see only public items) and the
//! target and outcome tests share. Hidden from the docs; the daemon never
//! uses it.
//!
//! [`hp`] is the only place these tests build a [`HostPort`].

// Test support: a failed expectation is a failed test, and its message says
// what the test expected to happen.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use posture_protocol::{Discovery, PostureStatus, PsnRef, SessionId};
use profile_schema::HostPort;

use super::{
    Action, DiscoverySuccess, Event, OpId, Phase, Probing, Settings, Stage, State, Step, TimerSlot,
    step,
};
use crate::outcome::{BlockedKind, Outcome, TargetOutcome};
use crate::timing::{MonoTime, ProbeInterval};

/// The session every fixture discovery answers with.
pub const SID: &str = "c0a830e71FjmLTxwC_6BfWNqU3RwKrGfaDTw5krqr1QOzEm";

/// How long every probe round the [`Driver`] finishes takes.
pub const ROUND_TAKES: Duration = Duration::from_millis(300);

/// `host:port`: the one place the tests build a [`HostPort`].
pub fn hp(host: &str, port: u16) -> HostPort {
    HostPort::new(profile_schema::Host::parse(host).unwrap(), port)
}

/// A PSN on the default state sync port (8449).
pub fn psn(host: &str) -> PsnRef {
    PsnRef {
        host: posture_protocol::Host::parse(host).unwrap(),
        state_sync_port: 8449,
    }
}

/// `s` seconds.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The fixture session ([`SID`]).
pub fn session() -> SessionId {
    SessionId::new(SID).unwrap()
}

/// [`Settings::minimal`] with sync every `interval` seconds (or disabled)
/// and `ise.lab.test:8443` as the DiscoveryHost.
pub fn settings(interval: Option<u64>) -> Settings {
    Settings::minimal(
        interval.map(|s| ProbeInterval::try_new(secs(s)).unwrap()),
        hp("ise.lab.test", 8443),
    )
}

/// A discovery reply: session [`SID`] with `posture`, owned by
/// `psn1.lab.test`, with `psn2` and `psn3` in the PSN list.
pub fn discovery(posture: PostureStatus) -> Discovery {
    Discovery {
        session: session(),
        posture,
        psn: psn("psn1.lab.test"),
        psn_list: vec![psn("psn2.lab.test"), psn("psn3.lab.test")],
    }
}

/// `host:8449` with `outcome`.
pub fn on(host: &str, outcome: Outcome) -> TargetOutcome {
    TargetOutcome::new(hp(host, 8449), outcome)
}

/// `host:8449` timed out at connect (a silent dACL drop).
pub fn blocked(host: &str) -> TargetOutcome {
    on(host, Outcome::Blocked(BlockedKind::ConnectTimeout))
}

/// `host:8449` answered `status`.
pub fn answered(host: &str, status: PostureStatus) -> TargetOutcome {
    on(host, Outcome::Answered(status))
}

/// Every target of `targets` refused the connection.
pub fn all_refused(targets: &[HostPort]) -> Vec<TargetOutcome> {
    targets
        .iter()
        .map(|t| TargetOutcome::new(t.clone(), Outcome::Blocked(BlockedKind::Refused)))
        .collect()
}

/// The discovery `s` started: its id and targets.
pub fn discovery_action(s: &Step) -> (OpId, Vec<HostPort>) {
    s.actions
        .iter()
        .find_map(|a| match a {
            Action::StartDiscovery { op, targets, .. } => Some((*op, targets.clone())),
            _ => None,
        })
        .expect("a discovery was started")
}

/// The assessment `s` started: its id, session and PSN.
pub fn assessment_action(s: &Step) -> (OpId, SessionId, HostPort) {
    s.actions
        .iter()
        .find_map(|a| match a {
            Action::StartAssessment { op, session, psn } => {
                Some((*op, session.clone(), psn.clone()))
            }
            _ => None,
        })
        .expect("an assessment was started")
}

/// The phase timer `s` armed, if any: its id and when it fires.
pub fn timer_action(s: &Step) -> Option<(OpId, MonoTime)> {
    slot_timer(s, TimerSlot::Phase)
}

/// The timer `s` armed in `slot`, if any: its id and when it fires.
pub fn slot_timer(s: &Step, slot: TimerSlot) -> Option<(OpId, MonoTime)> {
    s.actions.iter().find_map(|a| match a {
        Action::ArmTimer {
            timer,
            at,
            slot: armed,
        } if *armed == slot => Some((*timer, *at)),
        _ => None,
    })
}

/// The discovery stage `s` started, if any: its id, stage, whether it asks
/// the gateway, and its targets.
pub fn stage_action(s: &Step) -> Option<(OpId, Stage, bool, Vec<HostPort>)> {
    s.actions.iter().find_map(|a| match a {
        Action::StartDiscovery {
            op,
            stage,
            gateway,
            targets,
            ..
        } => Some((*op, *stage, *gateway, targets.clone())),
        _ => None,
    })
}

/// The targets of the discovery stage `s` started, which must be `stage`,
/// asking the gateway exactly when `gateway`.
pub fn started_stage(s: &Step, stage: Stage, gateway: bool) -> Vec<HostPort> {
    let (_, started, asks_gateway, targets) = stage_action(s).expect("a discovery stage started");
    assert_eq!((started, asks_gateway), (stage, gateway));
    targets
}

/// The probe round `s` started, if any: its id and targets.
pub fn round_action(s: &Step) -> Option<(OpId, Vec<HostPort>)> {
    s.actions.iter().find_map(|a| match a {
        Action::StartProbeRound { op, targets, .. } => Some((*op, targets.clone())),
        _ => None,
    })
}

/// Holds the state and the clock and feeds the machine events, the way the
/// daemon does; remembers the last step.
#[derive(Debug)]
pub struct Driver {
    /// The state after the last step.
    pub state: State,
    /// The clock.
    pub now: MonoTime,
    last: Option<Step>,
}

impl Default for Driver {
    fn default() -> Driver {
        Driver::new()
    }
}

impl Driver {
    /// A fresh agent with no remembered PSN and jitter seed 42, at time zero.
    pub fn new() -> Driver {
        Driver::with_state(State::new(Vec::new(), 42))
    }

    /// A fresh agent (as [`Driver::new`]) that has applied a profile with
    /// `settings`, and that first step.
    pub fn with_profile(settings: Settings) -> (Driver, Step) {
        let mut d = Driver::new();
        let s = d.profile(settings);
        (d, s)
    }

    /// Drives `state`, at time zero.
    pub fn with_state(state: State) -> Driver {
        Driver {
            state,
            now: MonoTime::ZERO,
            last: None,
        }
    }

    /// One step at the current time.
    pub fn send(&mut self, event: Event) -> Step {
        let s = step(&self.state, event, self.now);
        self.state = s.state.clone();
        self.last = Some(s.clone());
        s
    }

    /// The last step.
    pub fn last(&self) -> &Step {
        self.last.as_ref().expect("a step was sent")
    }

    /// Lets `d` pass.
    pub fn wait(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    /// Applies `settings` as a new profile.
    pub fn profile(&mut self, settings: Settings) -> Step {
        self.send(Event::ProfileApplied(settings))
    }

    /// Finishes the discovery started in `s`: `answered` answered with `discovery`.
    pub fn discover(&mut self, s: &Step, answered: HostPort, discovery: Discovery) -> Step {
        let (op, _) = discovery_action(s);
        self.send(Event::DiscoveryFinished {
            op,
            result: Ok(DiscoverySuccess {
                answered,
                discovery,
                redirected: false,
            }),
        })
    }

    /// Finishes the discovery started in `s`: `ise.lab.test:8443` answered
    /// with the fixture [`discovery`] reporting `posture`.
    pub fn answer_discovery(&mut self, s: &Step, posture: PostureStatus) -> Step {
        self.discover(s, hp("ise.lab.test", 8443), discovery(posture))
    }

    /// Fails the discovery started in `s` with `outcomes`.
    pub fn fail_discovery(&mut self, s: &Step, outcomes: Vec<TargetOutcome>) -> Step {
        let (op, _) = discovery_action(s);
        self.send(Event::DiscoveryFinished {
            op,
            result: Err(outcomes),
        })
    }

    /// Finishes the assessment started in `s` with `result`, no checks run.
    pub fn assess(&mut self, s: &Step, result: Result<PostureStatus, TargetOutcome>) -> Step {
        self.assess_costing(s, result, Duration::ZERO)
    }

    /// Finishes the assessment started in `s` with `result`, its checks
    /// having run `evaluated_in`.
    pub fn assess_costing(
        &mut self,
        s: &Step,
        result: Result<PostureStatus, TargetOutcome>,
        evaluated_in: Duration,
    ) -> Step {
        let (op, _, _) = assessment_action(s);
        self.send(Event::AssessmentFinished {
            op,
            evaluated_in,
            result,
            reassess_after: None,
            requirements: Default::default(),
        })
    }

    /// Applies `settings` and lets the discovery find `psn1.lab.test`
    /// (session [`SID`], server posture `Unknown`): the agent is assessing.
    pub fn reach_assessing(&mut self, settings: Settings) -> Step {
        let s = self.profile(settings);
        self.answer_discovery(&s, PostureStatus::Unknown)
    }

    /// Drives from idle under `settings` to the assessment's result
    /// `posture` (120 ms of discovery, 300 ms of assessment); returns the
    /// assessment's step (in `known`, the one arming the first probe).
    pub fn reach_known_with(&mut self, settings: Settings, posture: PostureStatus) -> Step {
        let s = self.profile(settings);
        self.wait(Duration::from_millis(120));
        let s = self.answer_discovery(&s, PostureStatus::Unknown);
        self.wait(Duration::from_millis(300));
        self.assess(&s, Ok(posture))
    }

    /// [`Driver::reach_known_with`] the fixture [`settings`]`(interval)`.
    pub fn reach_known(&mut self, interval: Option<u64>, posture: PostureStatus) -> Step {
        self.reach_known_with(settings(interval), posture)
    }

    /// Reaches `known` with `Compliant` under sync every `interval` seconds
    /// and fires the first probe timer; returns the step starting the
    /// first round.
    pub fn reach_first_round(&mut self, interval: u64) -> Step {
        let known = self.reach_known(Some(interval), PostureStatus::Compliant);
        self.fire(&known)
    }

    /// Finishes the assessment started in `s` with `posture`, the reply
    /// asking for a periodic reassessment every `every`.
    pub fn assess_asking_reassessment(
        &mut self,
        s: &Step,
        posture: PostureStatus,
        every: Duration,
    ) -> Step {
        let (op, _, _) = assessment_action(s);
        self.send(Event::AssessmentFinished {
            op,
            evaluated_in: Duration::ZERO,
            result: Ok(posture),
            reassess_after: Some(every),
            requirements: Default::default(),
        })
    }

    /// Fires the timer armed in `slot` by `s` (advancing the clock to it).
    pub fn fire_slot(&mut self, s: &Step, slot: TimerSlot) -> Step {
        let (timer, when) = slot_timer(s, slot).expect("a timer was armed in the slot");
        self.now = self.now.max(when);
        self.send(Event::TimerFired { timer })
    }

    /// Fires the timer armed in `s` (advancing the clock to it).
    pub fn fire(&mut self, s: &Step) -> Step {
        let (timer, when) = timer_action(s).expect("a timer was armed");
        self.now = when;
        self.send(Event::TimerFired { timer })
    }

    /// Finishes the probe round started in `s` with `outcomes`, after
    /// [`ROUND_TAKES`].
    pub fn finish_round(&mut self, s: &Step, outcomes: Vec<TargetOutcome>) -> Step {
        let (op, _) = round_action(s).expect("a probe round was started");
        self.wait(ROUND_TAKES);
        self.send(Event::ProbeRoundFinished { op, outcomes })
    }

    /// Fires the timer the last step armed, expects a probe round and
    /// finishes it with `outcomes`.
    pub fn round(&mut self, outcomes: Vec<TargetOutcome>) -> Step {
        let last = self.last().clone();
        let started = self.fire(&last);
        self.finish_round(&started, outcomes)
    }

    /// How long until the timer the last step armed fires.
    pub fn next_timer_in(&self) -> Option<Duration> {
        timer_action(self.last()).map(|(_, at)| at.saturating_since(self.now))
    }

    /// The state of probing (the agent must be in `known`).
    pub fn probing(&self) -> &Probing {
        match self.state.phase() {
            Phase::Known(k) => &k.probing,
            other => panic!("expected known, got {other:?}"),
        }
    }
}
