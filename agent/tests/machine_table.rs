//! The decision table of `docs/behaviour.md`, one case per row (and the
//! confirmation sub-cases), driven through the machine's public API the way
//! the daemon drives it: start, discover, assess, wait for the first probe,
//! feed a probe round's outcomes, check the state, actions and log line.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use posture_protocol::{Discovery, PostureStatus, PsnRef, SessionId};
use posture_sync::machine::{
    Action, BundleReason, DiscoverySuccess, Event, OpId, Phase, PhaseName, Probing, Reason,
    Settings, Severity, State, Step, step,
};
use posture_sync::outcome::{BlockedKind, FailureKind, HostPort, Outcome, TargetOutcome};
use posture_sync::status_report::{self, ProbeOutcome, StoppedReason};
use posture_sync::timing::{MonoTime, ProbeInterval, TransitionDelay};

const SID: &str = "c0a830e71FjmLTxwC_6BfWNqU3RwKrGfaDTw5krqr1QOzEm";
const INTERVAL: Duration = Duration::from_secs(60);
const DELAY: Duration = Duration::from_secs(10);

fn hp(host: &str, port: u16) -> HostPort {
    HostPort::new(profile_schema::Host::parse(host).unwrap(), port)
}

fn psn(host: &str) -> PsnRef {
    PsnRef {
        host: posture_protocol::Host::parse(host).unwrap(),
        state_sync_port: 8449,
    }
}

struct Agent {
    state: State,
    now: MonoTime,
    steps: Vec<Step>,
}

impl Agent {
    /// An agent that reached `known` with `posture` and whose first probe
    /// timer is armed.
    fn known(posture: PostureStatus) -> Agent {
        let mut a = Agent {
            state: State::new(Vec::new(), 7),
            now: MonoTime::ZERO,
            steps: Vec::new(),
        };
        let mut settings = Settings::minimal(
            Some(ProbeInterval::try_new(INTERVAL).unwrap()),
            hp("ise.lab.test", 8443),
        );
        settings.transition_delay = TransitionDelay::try_new(DELAY).unwrap();
        a.send(Event::ProfileApplied(settings));
        let op = a.last_op(|x| match x {
            Action::StartDiscovery { op, .. } => Some(*op),
            _ => None,
        });
        a.send(Event::DiscoveryFinished {
            op,
            result: Ok(DiscoverySuccess {
                answered: hp("ise.lab.test", 8443),
                discovery: Discovery {
                    session: SessionId::new(SID).unwrap(),
                    posture: PostureStatus::Unknown,
                    psn: psn("psn1.lab.test"),
                    psn_list: vec![psn("psn2.lab.test"), psn("psn3.lab.test")],
                },
            }),
        });
        let op = a.last_op(|x| match x {
            Action::StartAssessment { op, .. } => Some(*op),
            _ => None,
        });
        a.now = a.now + Duration::from_secs(2);
        a.send(Event::AssessmentFinished {
            op,
            evaluated_in: std::time::Duration::ZERO,
            result: Ok(posture),
        });
        assert_eq!(a.state.phase().name(), PhaseName::Known);
        a
    }

    fn send(&mut self, event: Event) -> &Step {
        let s = step(&self.state, event, self.now);
        self.state = s.state.clone();
        self.steps.push(s);
        self.steps.last().unwrap()
    }

    fn last(&self) -> &Step {
        self.steps.last().unwrap()
    }

    fn last_op(&self, f: impl Fn(&Action) -> Option<OpId>) -> OpId {
        self.last()
            .actions
            .iter()
            .find_map(f)
            .expect("expected action")
    }

    fn armed(&self) -> Option<(OpId, MonoTime)> {
        self.last().actions.iter().find_map(|x| match x {
            Action::ArmTimer { timer, at } => Some((*timer, *at)),
            _ => None,
        })
    }

    /// Fires the armed timer, expects a probe round, finishes it with `outcomes`.
    fn round(&mut self, outcomes: Vec<TargetOutcome>) -> &Step {
        let (timer, at) = self.armed().expect("a probe timer is armed");
        self.now = at;
        self.send(Event::TimerFired { timer });
        let op = self.last_op(|x| match x {
            Action::StartProbeRound { op, .. } => Some(*op),
            _ => None,
        });
        self.now = self.now + ROUND_TAKES;
        self.send(Event::ProbeRoundFinished { op, outcomes })
    }

    fn next_probe_in(&self) -> Option<Duration> {
        self.armed().map(|(_, at)| at.saturating_since(self.now))
    }

    fn probing(&self) -> &Probing {
        match self.state.phase() {
            Phase::Known(k) => &k.probing,
            other => panic!("expected known, got {other:?}"),
        }
    }
}

fn on(host: &str, outcome: Outcome) -> TargetOutcome {
    TargetOutcome::new(hp(host, 8449), outcome)
}

fn all_blocked() -> Vec<TargetOutcome> {
    vec![
        on(
            "psn1.lab.test",
            Outcome::Blocked(BlockedKind::ConnectTimeout),
        ),
        on("psn2.lab.test", Outcome::Blocked(BlockedKind::Refused)),
        on(
            "psn3.lab.test",
            Outcome::Blocked(BlockedKind::SilentTimeout),
        ),
    ]
}

fn answer(host: &str, status: PostureStatus) -> Vec<TargetOutcome> {
    vec![
        on(
            "psn1.lab.test",
            Outcome::Blocked(BlockedKind::ConnectTimeout),
        ),
        on(host, Outcome::Answered(status)),
    ]
}

/// How long every round of these tests takes.
const ROUND_TAKES: Duration = Duration::from_millis(300);

/// The next round is due the jittered interval, `(0.9 × interval,
/// interval]`, after the start of the round that just finished.
fn is_regular_interval(d: Option<Duration>) -> bool {
    d.is_some_and(|d| {
        let from_start = d + ROUND_TAKES;
        from_start <= INTERVAL && from_start * 10 > INTERVAL * 9
    })
}

fn assert_rediscovers(a: &Agent, restarts: u64) {
    let s = a.last();
    assert_eq!(a.state.phase().name(), PhaseName::Discovering);
    assert!(
        s.actions
            .iter()
            .any(|x| matches!(x, Action::StartDiscovery { .. }))
    );
    assert!(
        !s.actions
            .iter()
            .any(|x| matches!(x, Action::StartProbeRound { .. } | Action::ArmTimer { .. })),
        "probing stops until a new assessment completes"
    );
    assert_eq!(a.state.counters().discovery_restarts, restarts);
    let t = s.transition.as_ref().unwrap();
    assert_eq!((t.from, t.to), (PhaseName::Known, PhaseName::Discovering));
    assert_eq!(t.session.as_ref().map(SessionId::as_str), Some(SID));
    assert_eq!(t.psn, Some(hp("psn2.lab.test", 8449)));
}

// Row 1: every target refused, reset or timed out -> stays known, next interval.
#[test]
fn row_blocked_stays_known_and_probes_next_interval() {
    for posture in [PostureStatus::Compliant, PostureStatus::NonCompliant] {
        let mut a = Agent::known(posture);
        for round in 1..=3 {
            a.round(all_blocked());
            assert_eq!(a.state.phase().name(), PhaseName::Known);
            assert_eq!(a.state.posture(), posture);
            assert!(
                is_regular_interval(a.next_probe_in()),
                "{:?}",
                a.next_probe_in()
            );
            assert!(a.last().transition.is_none(), "a blocked round is routine");
            assert_eq!(a.state.counters().probe_rounds, round);
            assert_eq!(a.state.counters().discovery_restarts, 0);
        }
        let r = status_report::report(&a.state, a.now, std::time::SystemTime::now());
        let lp = r.last_probe.unwrap();
        assert_eq!(lp.outcome, ProbeOutcome::Blocked);
        assert_eq!(lp.target, "psn1.lab.test:8449");
    }
}

// Row 2: a PSN answered Unknown or Pending, or 404 -> restart discovery.
#[test]
fn row_unknown_pending_or_404_restarts_discovery() {
    let cases = [
        on("psn2.lab.test", Outcome::Answered(PostureStatus::Unknown)),
        on("psn2.lab.test", Outcome::Answered(PostureStatus::Pending)),
        on("psn2.lab.test", Outcome::NotFound),
    ];
    for case in cases {
        let mut a = Agent::known(PostureStatus::Compliant);
        a.round(vec![
            on("psn1.lab.test", Outcome::Blocked(BlockedKind::Refused)),
            case.clone(),
        ]);
        assert_rediscovers(&a, 1);
        assert!(
            matches!(
                a.last().transition.as_ref().unwrap().reason,
                Reason::ServerLostPosture { .. }
            ),
            "{case}"
        );
        let r = status_report::report(&a.state, a.now, std::time::SystemTime::now());
        assert_eq!(r.phase, PhaseName::Discovering);
        assert_eq!(r.posture, PostureStatus::Unknown);
        assert_eq!(r.last_probe.unwrap().outcome, ProbeOutcome::Status);
        assert_eq!(r.counters.discovery_restarts, 1);
    }
}

// Row 3: a known status different from the agent's -> restart discovery (reassess).
#[test]
fn row_changed_known_status_restarts_discovery() {
    for (ours, theirs) in [
        (PostureStatus::Compliant, PostureStatus::NonCompliant),
        (PostureStatus::NonCompliant, PostureStatus::Compliant),
        (PostureStatus::Compliant, PostureStatus::NotApplicable),
    ] {
        let mut a = Agent::known(ours);
        a.round(answer("psn2.lab.test", theirs));
        assert_rediscovers(&a, 1);
        assert_eq!(
            a.last().transition.as_ref().unwrap().reason,
            Reason::ServerPostureChanged { ours, theirs }
        );
    }
}

// Row 4, first half: the same known status -> not yet a misconfiguration;
// one confirmation after NetworkTransitionDelay.
#[test]
fn row_same_status_is_confirmed_once_before_it_counts() {
    let mut a = Agent::known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    assert_eq!(a.state.counters().misconfigurations, 0);
    assert!(a.state.sync_stop().is_none());
    assert_eq!(
        a.next_probe_in(),
        Some(DELAY),
        "confirm after NetworkTransitionDelay"
    );
    let t = a.last().transition.as_ref().unwrap();
    assert_eq!(t.severity, Severity::Warn);
    assert!(matches!(t.reason, Reason::MisconfigurationSuspected { .. }));
    assert!(
        !a.last()
            .actions
            .iter()
            .any(|x| matches!(x, Action::CollectBundle { .. }))
    );
}

// Row 4 confirmed: same status again -> error naming the PSN, bundle, sync-stopped.
#[test]
fn row_confirmed_misconfiguration_stops_sync_and_collects_a_bundle() {
    for posture in [PostureStatus::Compliant, PostureStatus::NonCompliant] {
        let mut a = Agent::known(posture);
        a.round(answer("psn2.lab.test", posture));
        a.round(answer("psn2.lab.test", posture));
        let s = a.last();
        assert_eq!(a.state.counters().misconfigurations, 1);
        let stop = a.state.sync_stop().expect("sync-stopped");
        assert_eq!(stop.psn, hp("psn2.lab.test", 8449));
        assert_eq!(stop.status, posture);
        assert!(s.actions.iter().any(|x| matches!(
            x,
            Action::CollectBundle { reason: BundleReason::Misconfiguration(st) } if st.psn == stop.psn
        )));
        assert!(
            !s.actions
                .iter()
                .any(|x| matches!(x, Action::ArmTimer { .. } | Action::StartProbeRound { .. }))
        );
        let t = s.transition.as_ref().unwrap();
        assert_eq!(t.severity, Severity::Error);
        assert_eq!((t.from, t.to), (PhaseName::Known, PhaseName::Known));
        assert!(t.to_string().contains("psn=psn2.lab.test:8449"), "{t}");
        assert_eq!(a.probing(), &Probing::Stopped);
        assert_eq!(a.state.posture(), posture, "the posture is still known");

        let r = status_report::report(&a.state, a.now, std::time::SystemTime::now());
        assert!(!r.sync.enabled);
        assert_eq!(r.sync.stopped_reason, Some(StoppedReason::Misconfiguration));
        assert_eq!(r.counters.misconfigurations, 1);
    }
}

// Row 4: sync-stopped is cleared only by a restart: a profile change (even
// off and on again) does not resume probing; a new State does.
#[test]
fn sync_stopped_survives_profile_changes_and_clears_only_on_restart() {
    let mut a = Agent::known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    let enabled = Settings::minimal(
        Some(ProbeInterval::try_new(Duration::from_secs(5)).unwrap()),
        hp("ise.lab.test", 8443),
    );
    let disabled = Settings::minimal(None, hp("ise.lab.test", 8443));
    for s in [enabled.clone(), disabled, enabled.clone()] {
        a.now = a.now + Duration::from_secs(30);
        let step = a.send(Event::ProfileApplied(s));
        assert!(step.actions.is_empty(), "{:?}", step.actions);
        assert_eq!(a.probing(), &Probing::Stopped);
        assert!(a.state.sync_stop().is_some());
    }
    let r = status_report::report(&a.state, a.now, std::time::SystemTime::now());
    assert_eq!(r.sync.stopped_reason, Some(StoppedReason::Misconfiguration));

    // Restart: a fresh State probes again.
    let mut restarted = Agent::known(PostureStatus::Compliant);
    assert!(restarted.state.sync_stop().is_none());
    restarted.round(all_blocked());
    assert_eq!(restarted.state.counters().probe_rounds, 1);
}

// Row 4, late dACL: the confirmation is blocked -> no alarm, normal probing.
#[test]
fn row_late_dacl_is_not_an_alarm() {
    let mut a = Agent::known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    a.round(all_blocked());
    assert_eq!(a.state.counters().misconfigurations, 0);
    assert!(a.state.sync_stop().is_none());
    assert!(is_regular_interval(a.next_probe_in()));
    let t = a.last().transition.as_ref().unwrap();
    assert_eq!(t.reason, Reason::LateDacl);
    assert!(t.severity < Severity::Warn);
    // A later suspicious round needs its own confirmation again.
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    assert_eq!(a.state.counters().misconfigurations, 0);
    assert_eq!(a.next_probe_in(), Some(DELAY));
}

// Row 4, the confirmation fails on every target -> inconclusive, no alarm.
#[test]
fn row_inconclusive_confirmation_resumes_normal_probing() {
    let mut a = Agent::known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    a.round(vec![on(
        "psn1.lab.test",
        Outcome::Failed(FailureKind::Tls {
            detail: "certificate not trusted".into(),
        }),
    )]);
    assert_eq!(a.state.counters().misconfigurations, 0);
    assert!(is_regular_interval(a.next_probe_in()));
    assert_eq!(
        a.last().transition.as_ref().unwrap().reason,
        Reason::ConfirmationInconclusive
    );
}

// Row 4, the confirmation shows the posture was lost meanwhile -> rediscover.
#[test]
fn row_confirmation_answering_unknown_restarts_discovery() {
    let mut a = Agent::known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    a.round(answer("psn2.lab.test", PostureStatus::Unknown));
    assert_rediscovers(&a, 1);
    assert_eq!(a.state.counters().misconfigurations, 0);
}

// Row 5: TLS failure, 5xx, malformed or oversized on every target -> fault,
// stays known, next interval.
#[test]
fn row_fault_on_every_target_stays_known() {
    let faults = vec![
        on(
            "psn1.lab.test",
            Outcome::Failed(FailureKind::Tls {
                detail: "name mismatch".into(),
            }),
        ),
        on(
            "psn2.lab.test",
            Outcome::Failed(FailureKind::HttpStatus(503)),
        ),
        on(
            "psn3.lab.test",
            Outcome::Failed(FailureKind::Malformed { detail: "x".into() }),
        ),
    ];
    let oversized = vec![on(
        "psn1.lab.test",
        Outcome::Failed(FailureKind::Oversized { bytes: 70_000 }),
    )];
    let mixed = vec![
        on(
            "psn1.lab.test",
            Outcome::Blocked(BlockedKind::ConnectTimeout),
        ),
        on(
            "psn2.lab.test",
            Outcome::Failed(FailureKind::HttpStatus(500)),
        ),
    ];
    for (i, outcomes) in [faults, oversized, mixed].into_iter().enumerate() {
        let mut a = Agent::known(PostureStatus::Compliant);
        a.round(outcomes);
        assert_eq!(a.state.phase().name(), PhaseName::Known, "case {i}");
        assert!(is_regular_interval(a.next_probe_in()), "case {i}");
        assert_eq!(a.state.counters().discovery_restarts, 0);
        assert_eq!(a.state.counters().misconfigurations, 0);
        let r = status_report::report(&a.state, a.now, std::time::SystemTime::now());
        assert_eq!(
            r.last_probe.unwrap().outcome,
            ProbeOutcome::Failed,
            "case {i}"
        );
    }
}

// After a restart of discovery, a new assessment resumes probing.
#[test]
fn probing_resumes_after_reassessment() {
    let mut a = Agent::known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::NonCompliant));
    let op = a.last_op(|x| match x {
        Action::StartDiscovery { op, .. } => Some(*op),
        _ => None,
    });
    a.send(Event::DiscoveryFinished {
        op,
        result: Ok(DiscoverySuccess {
            answered: hp("psn1.lab.test", 8443),
            discovery: Discovery {
                session: SessionId::new("new-session").unwrap(),
                posture: PostureStatus::NonCompliant,
                psn: psn("psn1.lab.test"),
                psn_list: vec![],
            },
        }),
    });
    let op = a.last_op(|x| match x {
        Action::StartAssessment { op, .. } => Some(*op),
        _ => None,
    });
    a.send(Event::AssessmentFinished {
        op,
        evaluated_in: std::time::Duration::ZERO,
        result: Ok(PostureStatus::NonCompliant),
    });
    assert_eq!(a.next_probe_in(), Some(DELAY));
    assert_eq!(
        a.state.session().map(SessionId::as_str),
        Some("new-session")
    );
    a.round(all_blocked());
    assert_eq!(a.state.counters().probe_rounds, 2);
}
