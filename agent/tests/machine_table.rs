//! The decision table of `docs/behaviour.md`, one case per row (and the
//! confirmation sub-cases), driven through the machine's public API the way
//! the daemon drives it: start, discover, assess, wait for the first probe,
//! feed a probe round's outcomes, check the state, actions and log line.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use posture_protocol::{Discovery, PostureStatus, SessionId};
use posture_sync::machine::testkit::{Driver, ROUND_TAKES, SID, hp, on, psn, settings};
use posture_sync::machine::{Action, BundleReason, PhaseName, Probing, Reason, Severity, State};
use posture_sync::outcome::{BlockedKind, FailureKind, Outcome, TargetOutcome};
use posture_sync::status_report::{self, ProbeOutcome, StoppedReason};
use posture_sync::timing::TransitionDelay;

const INTERVAL: Duration = Duration::from_secs(60);
const DELAY: Duration = Duration::from_secs(10);

/// An agent that reached `known` with `posture` under a 60 s interval and a
/// 10 s NetworkTransitionDelay, and whose first probe timer is armed.
fn known(posture: PostureStatus) -> Driver {
    let mut a = Driver::with_state(State::new(Vec::new(), 7));
    let mut st = settings(Some(INTERVAL.as_secs()));
    st.transition_delay = TransitionDelay::try_new(DELAY).unwrap();
    a.reach_known_with(st, posture);
    assert_eq!(a.state.phase().name(), PhaseName::Known);
    a
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

/// The next round is due the jittered interval, `(0.9 × interval,
/// interval]`, after the start of the round that just finished.
fn is_regular_interval(d: Option<Duration>) -> bool {
    d.is_some_and(|d| {
        let from_start = d + ROUND_TAKES;
        from_start <= INTERVAL && from_start * 10 > INTERVAL * 9
    })
}

fn assert_rediscovers(a: &Driver, restarts: u64) {
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
        let mut a = known(posture);
        for round in 1..=3 {
            a.round(all_blocked());
            assert_eq!(a.state.phase().name(), PhaseName::Known);
            assert_eq!(a.state.posture(), posture);
            assert!(
                is_regular_interval(a.next_timer_in()),
                "{:?}",
                a.next_timer_in()
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
        let mut a = known(PostureStatus::Compliant);
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
        let mut a = known(ours);
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
    let mut a = known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    assert_eq!(a.state.counters().misconfigurations, 0);
    assert!(a.state.sync_stop().is_none());
    assert_eq!(
        a.next_timer_in(),
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
        let mut a = known(posture);
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
    let mut a = known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    let enabled = settings(Some(5));
    let disabled = settings(None);
    for s in [enabled.clone(), disabled, enabled.clone()] {
        a.now = a.now + Duration::from_secs(30);
        let step = a.profile(s);
        assert!(step.actions.is_empty(), "{:?}", step.actions);
        assert_eq!(a.probing(), &Probing::Stopped);
        assert!(a.state.sync_stop().is_some());
    }
    let r = status_report::report(&a.state, a.now, std::time::SystemTime::now());
    assert_eq!(r.sync.stopped_reason, Some(StoppedReason::Misconfiguration));

    // Restart: a fresh State probes again.
    let mut restarted = known(PostureStatus::Compliant);
    assert!(restarted.state.sync_stop().is_none());
    restarted.round(all_blocked());
    assert_eq!(restarted.state.counters().probe_rounds, 1);
}

// Row 4, late dACL: the confirmation is blocked -> no alarm, normal probing.
#[test]
fn row_late_dacl_is_not_an_alarm() {
    let mut a = known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    a.round(all_blocked());
    assert_eq!(a.state.counters().misconfigurations, 0);
    assert!(a.state.sync_stop().is_none());
    assert!(is_regular_interval(a.next_timer_in()));
    let t = a.last().transition.as_ref().unwrap();
    assert_eq!(t.reason, Reason::LateDacl);
    assert!(t.severity < Severity::Warn);
    // A later suspicious round needs its own confirmation again.
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    assert_eq!(a.state.counters().misconfigurations, 0);
    assert_eq!(a.next_timer_in(), Some(DELAY));
}

// Row 4, the confirmation fails on every target -> inconclusive, no alarm.
#[test]
fn row_inconclusive_confirmation_resumes_normal_probing() {
    let mut a = known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::Compliant));
    a.round(vec![on(
        "psn1.lab.test",
        Outcome::Failed(FailureKind::Tls {
            detail: "certificate not trusted".into(),
        }),
    )]);
    assert_eq!(a.state.counters().misconfigurations, 0);
    assert!(is_regular_interval(a.next_timer_in()));
    assert_eq!(
        a.last().transition.as_ref().unwrap().reason,
        Reason::ConfirmationInconclusive
    );
}

// Row 4, the confirmation shows the posture was lost meanwhile -> rediscover.
#[test]
fn row_confirmation_answering_unknown_restarts_discovery() {
    let mut a = known(PostureStatus::Compliant);
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
        let mut a = known(PostureStatus::Compliant);
        a.round(outcomes);
        assert_eq!(a.state.phase().name(), PhaseName::Known, "case {i}");
        assert!(is_regular_interval(a.next_timer_in()), "case {i}");
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
    let mut a = known(PostureStatus::Compliant);
    a.round(answer("psn2.lab.test", PostureStatus::NonCompliant));
    let rediscovery = a.last().clone();
    let found = a.discover(
        &rediscovery,
        hp("psn1.lab.test", 8443),
        Discovery {
            session: SessionId::new("new-session").unwrap(),
            posture: PostureStatus::NonCompliant,
            psn: psn("psn1.lab.test"),
            psn_list: vec![],
        },
    );
    a.assess(&found, Ok(PostureStatus::NonCompliant));
    assert_eq!(a.next_timer_in(), Some(DELAY));
    assert_eq!(
        a.state.session().map(SessionId::as_str),
        Some("new-session")
    );
    a.round(all_blocked());
    assert_eq!(a.state.counters().probe_rounds, 2);
}

// ---- client-side triggers: (phase × event) rows of docs/behaviour.md -------

use posture_sync::machine::testkit::{
    all_refused, discovery_action, slot_timer, stage_action, timer_action,
};
use posture_sync::machine::{Event, Phase, RescanDeclined, Stage, Step, TimerSlot};

fn starts(s: &Step) -> usize {
    s.actions
        .iter()
        .filter(|x| matches!(x, Action::StartDiscovery { .. }))
        .count()
}

/// Sends a network change (or a resume) and fires its debounce timer
/// DELAY later; returns the firing step.
fn settle(a: &mut Driver, resumed: bool) -> Step {
    let s = a.send(if resumed {
        Event::Resumed { slept: INTERVAL }
    } else {
        Event::NetworkChanged
    });
    assert!(!s.stale);
    assert!(s.transition.is_none() && starts(&s) == 0, "debounced");
    let (_, at) = slot_timer(&s, TimerSlot::Settle).unwrap();
    assert_eq!(at, a.now + DELAY);
    a.fire_slot(&s, TimerSlot::Settle)
}

fn delayed(mut st: posture_sync::machine::Settings) -> posture_sync::machine::Settings {
    st.transition_delay = TransitionDelay::try_new(DELAY).unwrap();
    st
}

fn assert_restarted(s: &Step, from: PhaseName, reason: &Reason) {
    assert_eq!(starts(s), 1, "{s:?}");
    let t = s.transition.as_ref().unwrap();
    assert_eq!((t.from, t.to), (from, PhaseName::Discovering));
    assert_eq!(&t.reason, reason);
    let (_, stage, _, _) = stage_action(s).unwrap();
    assert_eq!(stage, Stage::One, "a restart begins at stage 1");
}

// Idle before a profile: network changes and resumes are ignored; a rescan
// is declined with a reason the CLI shows.
#[test]
fn row_triggers_before_a_profile() {
    let mut a = Driver::new();
    for event in [Event::NetworkChanged, Event::Resumed { slept: DELAY }] {
        let s = a.send(event);
        assert!(s.stale && s.actions.is_empty());
    }
    let s = a.send(Event::RescanRequested);
    assert!(!s.stale && s.actions.is_empty());
    assert_eq!(s.state, a.state);
    assert_eq!(
        s.transition.unwrap().reason,
        Reason::RescanDeclined {
            why: RescanDeclined::NoProfile
        }
    );
}

// Idle under a profile with nothing to discover: a settled change does
// nothing; a rescan tries and says again why there is nothing to do.
#[test]
fn row_triggers_idle_with_nothing_to_discover() {
    let mut a = Driver::new();
    let mut st = delayed(settings(Some(60)));
    st.discovery_host = None;
    a.profile(st);
    assert_eq!(a.state.phase(), &Phase::Idle);
    for resumed in [false, true] {
        let s = settle(&mut a, resumed);
        assert!(!s.stale && s.actions.is_empty() && s.transition.is_none());
        assert_eq!(a.state.phase(), &Phase::Idle);
    }
    let s = a.send(Event::RescanRequested);
    assert!(matches!(
        s.transition.unwrap().reason,
        Reason::NoDiscoveryTarget { .. }
    ));
}

// Discovering, a stage under way or the backoff running: a settled change
// and a rescan cancel the stage and start a fresh attempt, backoff reset.
#[test]
fn row_triggers_while_discovering() {
    for trigger in 0..3 {
        let mut a = Driver::new();
        let mut s = a.profile(delayed(settings(Some(60))));
        let backing_off = trigger == 2;
        if backing_off {
            let (_, targets) = discovery_action(&s);
            s = a.fail_discovery(&s, all_refused(&targets));
            assert!(timer_action(&s).is_some());
        }
        let in_flight = (!backing_off).then(|| discovery_action(&s).0);
        let restarted = match trigger {
            0 => a.send(Event::RescanRequested),
            _ => settle(&mut a, false),
        };
        let reason = if trigger == 0 {
            Reason::Rescan
        } else {
            Reason::NetworkChanged {
                changes: 1,
                resumed: false,
            }
        };
        assert_restarted(&restarted, PhaseName::Discovering, &reason);
        if let Some(op) = in_flight {
            assert!(restarted.actions.contains(&Action::Cancel { op }));
        }
        match a.state.phase() {
            Phase::Discovering(d) => assert_eq!(d.attempt, 0),
            other => panic!("{other:?}"),
        }
    }
}

// Assessing: a settled change drops the assessment and rediscovers (the
// network it ran on is gone); a rescan is declined, the running assessment
// being the fresh posture asked for.
#[test]
fn row_triggers_while_assessing() {
    let mut a = Driver::new();
    let s = a.reach_assessing(delayed(settings(Some(60))));
    let (op, _, _) = posture_sync::machine::testkit::assessment_action(&s);
    let before = a.state.clone();
    let declined = a.send(Event::RescanRequested);
    assert!(declined.actions.is_empty());
    assert_eq!(declined.state, before);
    let t = declined.transition.unwrap();
    assert_eq!((t.from, t.to), (PhaseName::Assessing, PhaseName::Assessing));
    assert_eq!(
        t.reason,
        Reason::RescanDeclined {
            why: RescanDeclined::AssessmentRunning
        }
    );
    let restarted = settle(&mut a, true);
    assert_restarted(
        &restarted,
        PhaseName::Assessing,
        &Reason::NetworkChanged {
            changes: 1,
            resumed: true,
        },
    );
    assert!(restarted.actions.contains(&Action::Cancel { op }));
    assert!(a.assess(&s, Ok(PostureStatus::Compliant)).stale);
}

// Known (probe waiting, round under way, sync-stopped): a settled change,
// a resume and a rescan rediscover at once, naming the session left; the
// probe round under way is cancelled; sync-stopped stays.
#[test]
fn row_triggers_while_known() {
    for trigger in 0..3 {
        for round_running in [false, true] {
            let mut a = known(PostureStatus::Compliant);
            let round = round_running.then(|| {
                let last = a.last().clone();
                a.fire(&last)
            });
            let restarted = match trigger {
                0 => a.send(Event::RescanRequested),
                n => settle(&mut a, n == 2),
            };
            let reason = match trigger {
                0 => Reason::Rescan,
                n => Reason::NetworkChanged {
                    changes: 1,
                    resumed: n == 2,
                },
            };
            assert_restarted(&restarted, PhaseName::Known, &reason);
            let t = restarted.transition.as_ref().unwrap();
            assert_eq!(t.session.as_ref().map(SessionId::as_str), Some(SID));
            assert_eq!(t.psn, Some(hp("psn1.lab.test", 8449)));
            if let Some(r) = round {
                let (op, _) = posture_sync::machine::testkit::round_action(&r).unwrap();
                assert!(restarted.actions.contains(&Action::Cancel { op }));
            }
            assert_eq!(
                a.state.counters().discovery_restarts,
                0,
                "counts server-side changes only"
            );
        }
    }
    // Sync-stopped: a change rediscovers, probing stays stopped.
    let mut a = known(PostureStatus::Compliant);
    let same = answer("psn2.lab.test", PostureStatus::Compliant);
    a.round(same.clone());
    a.round(same);
    assert!(a.state.sync_stop().is_some());
    settle(&mut a, false);
    assert_eq!(a.state.phase().name(), PhaseName::Discovering);
    assert!(a.state.sync_stop().is_some());
}

// Known, the PSN asked for a periodic reassessment: when due, rediscover
// (and so reassess); any other phase drops the timer.
#[test]
fn row_periodic_reassessment() {
    let mut a = Driver::new();
    let s = a.reach_assessing(delayed(settings(Some(60))));
    let known = a.assess_asking_reassessment(&s, PostureStatus::Compliant, INTERVAL * 10);
    let due = a.fire_slot(&known, TimerSlot::Reassess);
    assert_restarted(
        &due,
        PhaseName::Known,
        &Reason::PeriodicReassessment {
            every: INTERVAL * 10,
        },
    );
    // Left `known` before it was due: the timer is stale.
    let mut a = Driver::new();
    let s = a.reach_assessing(delayed(settings(Some(60))));
    let known = a.assess_asking_reassessment(&s, PostureStatus::Compliant, INTERVAL * 10);
    a.send(Event::RescanRequested);
    assert!(a.fire_slot(&known, TimerSlot::Reassess).stale);
}
