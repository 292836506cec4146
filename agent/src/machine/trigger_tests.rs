//! Unit and property tests of issue 13 in the machine: the two discovery
//! stages, the network-change debounce, resume, rescan and the periodic
//! reassessment. The (phase × event) rows are in
//! `agent/tests/machine_table.rs`.

use std::time::Duration;

use posture_protocol::PostureStatus;
use proptest::prelude::*;

use super::testkit::*;
use super::*;
use crate::outcome::TargetOutcome;
use crate::targets::TargetSource;
use crate::timing::TransitionDelay;

/// The fixture settings with the gateway hop, `delay` seconds of
/// NetworkTransitionDelay and a CallHomeList.
fn roaming(delay: u64) -> Settings {
    let mut st = settings(Some(60));
    st.gateway_discovery = true;
    st.transition_delay = TransitionDelay::try_new(secs(delay)).unwrap();
    st.call_home_list = vec![hp("psn1.lab.test", 8443), hp("psn3.lab.test", 8443)];
    st
}

fn starts(s: &Step) -> usize {
    s.actions
        .iter()
        .filter(|a| matches!(a, Action::StartDiscovery { .. }))
        .count()
}

fn reason(s: &Step) -> Reason {
    s.transition.clone().expect("a transition").reason
}

// ---- two stages -------------------------------------------------------------

#[test]
fn stage_one_asks_the_gateway_with_the_last_psn_and_the_discovery_host() {
    let mut d = Driver::with_state(State::new(
        vec![hp("psn2.lab.test", 8443), hp("psn9.lab.test", 8443)],
        1,
    ));
    let s = d.profile(roaming(5));
    let targets = started_stage(&s, Stage::One, true);
    assert_eq!(
        targets,
        [hp("psn2.lab.test", 8443), hp("ise.lab.test", 8443)]
    );
    // Stage 1 failing starts stage 2 at once, in the same attempt.
    let two = d.fail_discovery(&s, all_refused(&targets));
    assert!(
        timer_action(&two).is_none(),
        "no backoff between the stages"
    );
    let targets = started_stage(&two, Stage::Two, false);
    assert_eq!(
        targets,
        [
            hp("psn1.lab.test", 8443),
            hp("psn3.lab.test", 8443),
            hp("psn9.lab.test", 8443)
        ]
    );
    assert_eq!(two.transition.as_ref().unwrap().severity, Severity::Debug);
    // Stage 2 failing is the attempt's failure: backoff, both stages named.
    let failed = d.fail_discovery(&two, all_refused(&targets));
    assert!(timer_action(&failed).is_some());
    match reason(&failed) {
        Reason::DiscoveryFailed { outcomes, .. } => assert_eq!(outcomes.len(), 5),
        other => panic!("{other:?}"),
    }
    match d.state.phase() {
        Phase::Discovering(x) => assert_eq!((x.attempt, x.episode.failures), (1, 1)),
        other => panic!("{other:?}"),
    }
}

/// Seed 004's fragment: no DiscoveryHost, no CallHomeList. The agent used to
/// go idle; now stage 1 is the gateway alone.
#[test]
fn a_profile_without_hosts_asks_the_gateway() {
    let mut d = Driver::new();
    let mut st = settings(Some(60));
    st.discovery_host = None;
    st.gateway_discovery = true;
    let s = d.profile(st);
    let (_, stage, gateway, targets) = stage_action(&s).unwrap();
    assert_eq!((stage, gateway, targets.len()), (Stage::One, true, 0));
    // The redirect led to psn1's portal: the assessment goes there.
    let (op, _) = discovery_action(&s);
    let found = d.send(Event::DiscoveryFinished {
        op,
        result: Ok(DiscoverySuccess {
            answered: hp("psn1.lab.test", 8443),
            discovery: discovery(PostureStatus::Unknown),
            redirected: true,
        }),
    });
    assert_eq!(assessment_action(&found).2, hp("psn1.lab.test", 8443));
    let rec = d.state.last_discovery().unwrap();
    assert_eq!(
        (rec.stage, rec.source, rec.redirected_to.as_deref()),
        (Stage::One, TargetSource::Gateway, Some("psn1.lab.test"))
    );
    let line = found.transition.unwrap().to_string();
    assert!(
        line.contains("stage 1 via default gateway redirect to psn1.lab.test"),
        "{line}"
    );
}

#[test]
fn an_empty_stage_one_is_skipped() {
    let mut d = Driver::new();
    let mut st = settings(Some(60));
    st.discovery_host = None;
    st.call_home_list = vec![hp("psn1.lab.test", 8443)];
    let s = d.profile(st);
    let targets = started_stage(&s, Stage::Two, false);
    assert_eq!(targets, [hp("psn1.lab.test", 8443)]);
}

/// The machine holds a redirect to ServerNameRules even if a driver did not.
#[test]
fn a_redirect_to_a_host_the_rules_refuse_is_a_failed_attempt() {
    let mut d = Driver::new();
    let mut st = roaming(5);
    st.server_name_rules = profile_schema::ServerNameRules::parse("*.lab.test").unwrap();
    let s = d.profile(st);
    let (op, _) = discovery_action(&s);
    let mut reply = discovery(PostureStatus::Unknown);
    reply.psn = psn("psn1.lab.test");
    let s = d.send(Event::DiscoveryFinished {
        op,
        result: Ok(DiscoverySuccess {
            answered: hp("portal.evil.example", 8443),
            discovery: reply,
            redirected: true,
        }),
    });
    assert!(matches!(reason(&s), Reason::PsnNotAllowed { .. }));
    assert_eq!(d.state.phase().name(), PhaseName::Discovering);
    assert!(d.state.last_discovery().is_none());
}

#[test]
fn ten_failed_two_stage_attempts_collect_one_bundle() {
    let (mut d, mut s) = Driver::with_profile(roaming(5));
    let mut bundles = 0;
    for _ in 0..12 {
        let two = d.fail_discovery(&s, vec![]);
        let failed = d.fail_discovery(&two, vec![]);
        bundles += failed
            .actions
            .iter()
            .filter(|a| matches!(a, Action::CollectBundle { .. }))
            .count();
        s = d.fire(&failed);
    }
    assert_eq!(bundles, 1);
}

proptest! {
    /// Whichever stage-1 target answers first wins: the agent assesses with
    /// it, records stage 1 and its source, and stage 2 never starts; a
    /// second answer for the same stage is stale.
    #[test]
    fn the_first_stage_one_success_wins(which in 0usize..3) {
        let mut d = Driver::with_state(State::new(vec![hp("psn2.lab.test", 8443)], 1));
        let s = d.profile(roaming(5));
        let (op, _, _, targets) = stage_action(&s).unwrap();
        let (answered, redirected, source) = match which {
            0 => (hp("psn1.lab.test", 8443), true, TargetSource::Gateway),
            1 => (targets[0].clone(), false, TargetSource::LastPsn),
            _ => (targets[1].clone(), false, TargetSource::DiscoveryHost),
        };
        let success = DiscoverySuccess { answered, discovery: discovery(PostureStatus::Unknown), redirected };
        let won = d.send(Event::DiscoveryFinished { op, result: Ok(success.clone()) });
        prop_assert_eq!(starts(&won), 0);
        prop_assert_eq!(d.state.phase().name(), PhaseName::Assessing);
        let rec = d.state.last_discovery().unwrap();
        prop_assert_eq!((rec.stage, rec.source), (Stage::One, source));
        let again = d.send(Event::DiscoveryFinished { op, result: Ok(success) });
        prop_assert!(again.stale);
    }

    /// A burst of network changes at any times within the delay restarts
    /// discovery exactly once, the delay after the last change; a resume
    /// anywhere in the burst counts the same.
    #[test]
    fn a_burst_of_changes_restarts_discovery_once_after_the_last(
        gaps in proptest::collection::vec(0u64..5_000, 1..20),
        resume_at in any::<prop::sample::Index>(),
        from_known in any::<bool>(),
    ) {
        let delay = 5;
        let mut d = Driver::new();
        if from_known {
            d.reach_known_with(roaming(delay), PostureStatus::Compliant);
        } else {
            d.profile(roaming(delay));
        }
        let resumed = resume_at.index(gaps.len());
        let mut settle = None;
        let mut fired = Vec::new();
        for (i, gap) in gaps.iter().enumerate() {
            // Each gap is shorter than the delay: the network never settles.
            d.wait(Duration::from_millis(*gap));
            let event = if i == resumed { Event::Resumed { slept: secs(600) } } else { Event::NetworkChanged };
            let s = d.send(event);
            prop_assert!(!s.stale);
            prop_assert_eq!(starts(&s), 0, "a change alone never restarts");
            let (timer, at) = slot_timer(&s, TimerSlot::Settle).unwrap();
            prop_assert_eq!(at, d.now + secs(delay));
            if let Some((old, _)) = settle.replace((timer, at)) {
                fired.push(old);
            }
        }
        let last_change = d.now;
        // The replaced timers, should the driver still report them, are stale.
        for old in fired {
            let replaced = d.send(Event::TimerFired { timer: old });
            prop_assert!(replaced.stale);
        }
        let (timer, at) = settle.unwrap();
        d.now = at;
        let s = d.send(Event::TimerFired { timer });
        prop_assert_eq!(at, last_change + secs(delay));
        prop_assert_eq!(starts(&s), 1);
        match reason(&s) {
            Reason::NetworkChanged { changes, resumed } => {
                prop_assert_eq!(changes as usize, gaps.len());
                prop_assert!(resumed);
            }
            other => prop_assert!(false, "{other:?}"),
        }
        prop_assert!(d.state.settle().is_none());
        // Nothing more happens from the burst.
        let again = d.send(Event::TimerFired { timer });
        prop_assert!(again.stale);
    }

    /// Resume alone behaves as one network change.
    #[test]
    fn a_resume_is_a_network_change(slept in 0u64..1_000_000) {
        let mut a = Driver::new();
        let mut b = Driver::new();
        a.reach_known_with(roaming(3), PostureStatus::Compliant);
        b.reach_known_with(roaming(3), PostureStatus::Compliant);
        let sa = a.send(Event::NetworkChanged);
        let sb = b.send(Event::Resumed { slept: secs(slept) });
        prop_assert_eq!(&sa.actions, &sb.actions);
        let ra = a.fire_slot(&sa, TimerSlot::Settle);
        let rb = b.fire_slot(&sb, TimerSlot::Settle);
        prop_assert_eq!(&ra.actions, &rb.actions);
        prop_assert_eq!(a.state.phase(), b.state.phase());
    }
}

// ---- triggers in detail -------------------------------------------------------

#[test]
fn a_change_while_backing_off_restarts_at_once_with_the_backoff_reset() {
    let (mut d, mut s) = Driver::with_profile(roaming(2));
    for _ in 0..4 {
        let two = d.fail_discovery(&s, vec![]);
        let failed = d.fail_discovery(&two, vec![]);
        s = d.fire(&failed);
    }
    let two = d.fail_discovery(&s, vec![]);
    let failed = d.fail_discovery(&two, vec![]);
    let backoff_at = timer_action(&failed).unwrap().1;
    let change = d.send(Event::NetworkChanged);
    let restarted = d.fire_slot(&change, TimerSlot::Settle);
    assert!(d.now < backoff_at);
    assert_eq!(starts(&restarted), 1);
    match d.state.phase() {
        Phase::Discovering(x) => {
            assert_eq!(x.attempt, 0, "the backoff is reset");
            assert_eq!(x.episode.failures, 5, "the episode goes on");
        }
        other => panic!("{other:?}"),
    }
    // The old backoff timer is stale now.
    assert!(
        d.send(Event::TimerFired {
            timer: timer_action(&failed).unwrap().0
        })
        .stale
    );
}

#[test]
fn a_change_while_a_stage_is_under_way_cancels_it() {
    let (mut d, s) = Driver::with_profile(roaming(2));
    let (op, _) = discovery_action(&s);
    let change = d.send(Event::NetworkChanged);
    let restarted = d.fire_slot(&change, TimerSlot::Settle);
    assert!(restarted.actions.contains(&Action::Cancel { op }));
    assert_eq!(starts(&restarted), 1);
    assert!(d.fail_discovery(&s, vec![]).stale);
}

#[test]
fn a_periodic_reassessment_rediscovers_when_due() {
    let mut d = Driver::new();
    let s = d.reach_assessing(roaming(5));
    let known = d.assess_asking_reassessment(&s, PostureStatus::Compliant, secs(3600));
    let (_, at) = slot_timer(&known, TimerSlot::Reassess).unwrap();
    assert_eq!(at, d.now + secs(3600));
    assert_eq!(d.state.next_reassessment_at(), Some(at));
    let due = d.fire_slot(&known, TimerSlot::Reassess);
    assert_eq!(starts(&due), 1);
    assert_eq!(
        reason(&due),
        Reason::PeriodicReassessment { every: secs(3600) }
    );
    assert_eq!(d.state.counters().discovery_restarts, 0);
}

#[test]
fn a_periodic_reassessment_out_of_bounds_is_ignored() {
    // (interval the PSN asks for, whether the agent schedules it)
    let cases = [
        (Duration::ZERO, false),
        (secs(59), false),
        (REASSESS_MAX + Duration::from_millis(1), false),
        (REASSESS_MIN, true),
        (REASSESS_MAX, true),
    ];
    for (every, scheduled) in cases {
        let mut d = Driver::new();
        let s = d.reach_assessing(roaming(5));
        let known = d.assess_asking_reassessment(&s, PostureStatus::Compliant, every);
        assert_eq!(
            slot_timer(&known, TimerSlot::Reassess).is_some(),
            scheduled,
            "{every:?}"
        );
        if !scheduled {
            assert_eq!(d.state.next_reassessment_at(), None);
        }
    }
}

/// A PSN that asks for a reassessment every minute while its assessments
/// burn the whole budget is held to the same rate limit as a probe.
#[test]
fn periodic_reassessments_are_rate_limited() {
    let (mut d, mut s) = Driver::with_profile(roaming(5));
    let mut limited = 0;
    for _ in 0..8 {
        let found = d.answer_discovery(&s, PostureStatus::Unknown);
        let (op, _, _) = assessment_action(&found);
        let known = d.send(Event::AssessmentFinished {
            op,
            result: Ok(PostureStatus::Compliant),
            evaluated_in: evaluation::BURST / 2,
            reassess_after: Some(REASSESS_MIN),
            requirements: Default::default(),
        });
        let due = d.fire_slot(&known, TimerSlot::Reassess);
        s = if let Reason::ReassessmentRateLimited { .. } = reason(&due) {
            limited += 1;
            d.fire(&due)
        } else {
            due
        };
        discovery_action(&s);
    }
    assert!(limited >= 3, "{limited}");
}

#[test]
fn a_rescan_while_known_cancels_the_round_and_rediscovers() {
    let mut d = Driver::new();
    let round = d.reach_first_round(60);
    let (op, _) = round_action(&round).unwrap();
    let s = d.send(Event::RescanRequested);
    assert!(s.actions.contains(&Action::Cancel { op }));
    assert_eq!(starts(&s), 1);
    let t = s.transition.unwrap();
    assert_eq!((t.from, t.to), (PhaseName::Known, PhaseName::Discovering));
    assert_eq!(t.reason, Reason::Rescan);
    assert_eq!(t.session, Some(session()));
    let stale: Vec<TargetOutcome> = vec![blocked("psn1.lab.test")];
    assert!(d.finish_round(&round, stale).stale);
}

// ---- start spread (issue 16) ------------------------------------------------

/// [`roaming`] with a start spread of `spread` seconds.
fn spread(delay: u64, spread: u64) -> Settings {
    let mut st = roaming(delay);
    st.start_spread = secs(spread);
    st
}

#[test]
fn a_start_waits_a_random_delay_below_the_spread_then_discovers() {
    let (mut d, s) = Driver::with_profile(spread(2, 10));
    assert_eq!(starts(&s), 0, "nothing is asked before the delay");
    let (_, at) = timer_action(&s).expect("the spread's timer");
    assert!(at.elapsed() < secs(10), "{at:?}");
    match reason(&s) {
        Reason::StartSpread { cause, delay } => {
            assert_eq!(*cause, Reason::ProfileApplied);
            assert_eq!(delay, at.elapsed());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reason(&s).kind(),
        ReasonKind::ProfileApplied,
        "the kind is the cause's"
    );
    match d.state.phase() {
        Phase::Discovering(x) => assert_eq!((x.attempt, x.episode.failures), (0, 0)),
        other => panic!("{other:?}"),
    }
    // When it fires, an ordinary first attempt: stage 1 at once.
    let go = d.fire(&s);
    assert_eq!(
        started_stage(&go, Stage::One, true),
        [hp("ise.lab.test", 8443)]
    );
    match d.state.phase() {
        Phase::Discovering(x) => assert_eq!(x.attempt, 0, "the spread is no failed attempt"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_settled_network_change_is_spread_a_rescan_is_not() {
    let mut d = Driver::new();
    d.reach_known_with(roaming(2), PostureStatus::Compliant);
    // The spread applies from the next start (a new profile in `known`
    // changes nothing else).
    assert_eq!(starts(&d.profile(spread(2, 10))), 0);
    let change = d.send(Event::NetworkChanged);
    let settled = d.fire_slot(&change, TimerSlot::Settle);
    assert_eq!(starts(&settled), 0);
    // Records and bundles decide on the kind: the network change, not
    // the spread (scripts/demo counts `network-changed` transitions).
    assert_eq!(reason(&settled).kind(), ReasonKind::NetworkChanged);
    match reason(&settled) {
        Reason::StartSpread { cause, delay } => {
            assert!(matches!(*cause, Reason::NetworkChanged { changes: 1, .. }));
            // Capped well below the start spread of 10 s: the endpoint has
            // waited out NetworkTransitionDelay already.
            assert!(
                delay < crate::machine::NETWORK_CHANGE_SPREAD_MAX,
                "{delay:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        settled.transition.as_ref().unwrap().session.is_some(),
        "the transition still names the session that was left"
    );
    // A rescan while waiting: someone asked, so at once.
    let rescan = d.send(Event::RescanRequested);
    assert_eq!(starts(&rescan), 1);
    assert_eq!(reason(&rescan), Reason::Rescan);
    // The spread's timer is stale now.
    assert!(
        d.send(Event::TimerFired {
            timer: timer_action(&settled).unwrap().0
        })
        .stale
    );
}

#[test]
fn without_targets_there_is_nothing_to_spread() {
    let mut st = Settings::minimal(None, hp("ise.lab.test", 8443));
    st.discovery_host = None;
    st.start_spread = secs(10);
    let (d, s) = Driver::with_profile(st);
    assert_eq!(d.state.phase().name(), PhaseName::Idle);
    assert!(matches!(reason(&s), Reason::NoDiscoveryTarget { .. }));
    assert!(timer_action(&s).is_none());
}

proptest! {
    /// Endpoints seeded differently wait different delays, each below the
    /// spread: a fleet's first discoveries spread over it.
    #[test]
    fn spread_delays_stay_below_the_bound(seed in any::<u64>(), bound in 1u64..=60) {
        let mut d = Driver::with_state(State::new(Vec::new(), seed));
        let s = d.profile(spread(2, bound));
        let (_, at) = timer_action(&s).unwrap();
        prop_assert!(at.elapsed() < secs(bound));
    }
}

#[test]
fn a_fleet_of_agents_spreads_its_first_discoveries_over_the_whole_spread() {
    // 1,000 agents, 10 s: every second of the spread gets some, none most.
    let mut per_second = [0u32; 10];
    for seed in 0..1000u64 {
        let mut d = Driver::with_state(State::new(Vec::new(), seed));
        let s = d.profile(spread(2, 10));
        let (_, at) = timer_action(&s).unwrap();
        per_second[at.elapsed().as_secs() as usize] += 1;
    }
    assert!(
        per_second.iter().all(|&n| (50..=150).contains(&n)),
        "{per_second:?}"
    );
}
