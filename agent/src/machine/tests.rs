//! Unit tests of the state machine: phases, timing rules, profile changes,
//! stale events, and random event sequences against the invariants. The
//! decision table rows are in `agent/tests/machine_table.rs`; both drive the
//! machine with [`testkit::Driver`].

use std::time::Duration;

use posture_protocol::{PostureStatus, PsnRef, SessionId};
use profile_schema::ServerNameRules;
use proptest::prelude::*;

use super::testkit::*;
use super::*;
use crate::outcome::{FailureKind, Outcome, TargetOutcome};
use crate::timing::TransitionDelay;

/// The fixture settings with ServerNameRules `rules`.
fn settings_allowing(interval: Option<u64>, rules: &str) -> Settings {
    let mut st = settings(interval);
    st.server_name_rules = ServerNameRules::parse(rules).unwrap();
    st
}

fn at(d: Duration) -> MonoTime {
    MonoTime::from_elapsed(d)
}

// ---- phases ---------------------------------------------------------------

#[test]
fn a_new_agent_is_idle_with_nothing_scheduled() {
    let s = State::new(vec![], 1);
    assert_eq!(s.phase(), &Phase::Idle);
    assert_eq!(s.posture(), PostureStatus::Unknown);
    assert!(s.settings().is_none() && s.session().is_none() && s.last_probe().is_none());
    assert_eq!(s.counters(), Counters::default());
}

#[test]
fn a_profile_starts_discovery_in_target_order() {
    let mut d = Driver::with_state(State::new(vec![hp("psn2.lab.test", 8443)], 1));
    let mut st = settings(Some(60));
    st.call_home_list = vec![hp("psn1.lab.test", 8443)];
    let s = d.profile(st);
    // Stage 1 (in parallel): the last PSN and the DiscoveryHost; stage 2
    // (in order): the CallHomeList.
    let targets = started_stage(&s, Stage::One, false);
    assert_eq!(
        targets,
        [hp("psn2.lab.test", 8443), hp("ise.lab.test", 8443)]
    );
    assert_eq!(d.state.phase().name(), PhaseName::Discovering);
    let t = s.transition.clone().unwrap();
    assert_eq!((t.from, t.to), (PhaseName::Idle, PhaseName::Discovering));
    assert_eq!(t.reason, Reason::ProfileApplied);
    let two = d.fail_discovery(&s, all_refused(&targets));
    let targets = started_stage(&two, Stage::Two, false);
    assert_eq!(targets, [hp("psn1.lab.test", 8443)]);
}

#[test]
fn no_discovery_target_keeps_the_agent_idle_and_says_why() {
    let mut d = Driver::new();
    let st = settings_allowing(Some(60), "*.corp.test");
    let s = d.profile(st);
    assert!(s.actions.is_empty());
    assert_eq!(d.state.phase(), &Phase::Idle);
    let t = s.transition.unwrap();
    assert_eq!(t.severity, Severity::Warn);
    match t.reason {
        Reason::NoDiscoveryTarget { refused } => {
            assert_eq!(refused[0].target, hp("ise.lab.test", 8443));
        }
        other => panic!("unexpected reason {other:?}"),
    }
    // A corrected profile gets it going.
    let s = d.profile(settings(Some(60)));
    assert_eq!(discovery_action(&s).1, [hp("ise.lab.test", 8443)]);
}

#[test]
fn failed_discovery_backs_off_exponentially_capped_at_the_interval() {
    let (mut d, mut s) = Driver::with_profile(settings(Some(10)));
    let mut delays = Vec::new();
    for _ in 0..7 {
        let (_, targets) = discovery_action(&s);
        let failed = d.fail_discovery(&s, all_refused(&targets));
        assert_eq!(d.state.phase().name(), PhaseName::Discovering);
        assert!(round_action(&failed).is_none());
        let (_, when) = timer_action(&failed).unwrap();
        delays.push(when.saturating_since(d.now));
        s = d.fire(&failed);
        assert!(matches!(
            s.transition.as_ref().map(|t| &t.reason),
            Some(Reason::DiscoveryRetry { .. })
        ));
    }
    let nominal = [1, 2, 4, 8, 10, 10, 10];
    for (d, n) in delays.iter().zip(nominal) {
        let n = secs(n);
        assert!(*d <= n && *d * 10 >= n * 9, "delay {d:?} vs nominal {n:?}");
    }
}

#[test]
fn backoff_is_capped_at_60_seconds_when_sync_is_disabled() {
    let (mut d, mut s) = Driver::with_profile(settings(None));
    let mut last = Duration::ZERO;
    for _ in 0..10 {
        let failed = d.fail_discovery(&s, vec![]);
        let (_, when) = timer_action(&failed).unwrap();
        last = when.saturating_since(d.now);
        s = d.fire(&failed);
    }
    assert!(last <= secs(60) && last >= secs(54), "{last:?}");
}

/// The review's persisted redirect: a host that merely answered discovery was
/// written first into `known-psns.json` and preferred at every later start.
/// Now a PSN is remembered only once an assessment with it completed.
#[test]
fn discovery_starts_the_assessment_on_the_discovery_port_and_persists_only_after_it() {
    let (mut d, s) = Driver::with_profile(settings(Some(60)));
    let s = d.discover(
        &s,
        hp("ise.lab.test", 9443),
        discovery(PostureStatus::Pending),
    );
    assert!(
        !s.actions
            .iter()
            .any(|a| matches!(a, Action::PersistPsns(_))),
        "{:?}",
        s.actions
    );
    assert!(d.state.persisted().is_empty());
    let (_, session, target) = assessment_action(&s);
    assert_eq!(session.as_str(), SID);
    assert_eq!(target, hp("psn1.lab.test", 9443));
    assert_eq!(d.state.phase().name(), PhaseName::Assessing);
    assert_eq!(d.state.posture(), PostureStatus::Pending);
    assert_eq!(d.state.connected_psn(), Some(hp("psn1.lab.test", 8449)));

    // A failed assessment remembers nothing either.
    let failed = d.assess(
        &s,
        Err(TargetOutcome::new(
            hp("psn1.lab.test", 9443),
            Outcome::Failed(FailureKind::HttpStatus(500)),
        )),
    );
    assert!(
        !failed
            .actions
            .iter()
            .any(|a| matches!(a, Action::PersistPsns(_)))
    );
    assert!(d.state.persisted().is_empty());

    let s = d.fire(&failed);
    let s = d.discover(
        &s,
        hp("ise.lab.test", 9443),
        discovery(PostureStatus::Pending),
    );
    let s = d.assess(&s, Ok(PostureStatus::NonCompliant));
    assert!(s.actions.contains(&Action::PersistPsns(vec![
        hp("psn1.lab.test", 9443),
        hp("ise.lab.test", 9443)
    ])));
    assert_eq!(d.state.persisted()[0], hp("psn1.lab.test", 9443));
}

#[test]
fn a_discovered_psn_outside_server_name_rules_is_not_assessed() {
    let mut d = Driver::new();
    let st = settings_allowing(Some(60), "ise.lab.test");
    let s = d.reach_assessing(st);
    assert!(
        !s.actions
            .iter()
            .any(|a| matches!(a, Action::StartAssessment { .. }))
    );
    assert!(timer_action(&s).is_some());
    assert!(matches!(
        s.transition.unwrap().reason,
        Reason::PsnNotAllowed { .. }
    ));
    assert!(d.state.persisted().is_empty());
}

#[test]
fn a_known_posture_waits_the_transition_delay_before_the_first_probe() {
    let mut d = Driver::new();
    let s = d.reach_known(Some(60), PostureStatus::Compliant);
    assert_eq!(d.state.phase().name(), PhaseName::Known);
    let (_, when) = timer_action(&s).unwrap();
    assert_eq!(
        when,
        d.now + TransitionDelay::DEFAULT.get(),
        "exactly the delay, no jitter"
    );
    assert!(round_action(&s).is_none(), "no probe before the delay");
    let t = s.transition.clone().unwrap();
    assert_eq!((t.from, t.to), (PhaseName::Assessing, PhaseName::Known));
    assert_eq!(t.session.as_ref().map(SessionId::as_str), Some(SID));
    let first = d.fire(&s);
    let (_, targets) = round_action(&first).unwrap();
    assert_eq!(
        targets,
        [
            hp("psn1.lab.test", 8449),
            hp("psn2.lab.test", 8449),
            hp("psn3.lab.test", 8449)
        ]
    );
}

#[test]
fn the_configured_transition_delay_is_used() {
    let mut d = Driver::new();
    let mut st = settings(Some(60));
    st.transition_delay = TransitionDelay::try_new(secs(10)).unwrap();
    let s = d.reach_assessing(st);
    let s = d.assess(&s, Ok(PostureStatus::NonCompliant));
    assert_eq!(timer_action(&s).unwrap().1, d.now + secs(10));
}

#[test]
fn regular_probes_follow_the_interval_with_at_most_ten_percent_jitter() {
    let mut d = Driver::new();
    let mut s = d.reach_first_round(30);
    let mut gaps = Vec::new();
    for _ in 0..20 {
        let done = d.finish_round(&s, vec![blocked("psn1.lab.test")]);
        let (_, when) = timer_action(&done).unwrap();
        // Due the jittered interval after the round's start.
        let gap = when.saturating_since(d.now) + ROUND_TAKES;
        assert!(gap <= secs(30) && gap > secs(27), "{gap:?}");
        gaps.push(gap);
        s = d.fire(&done);
        assert!(round_action(&s).is_some());
    }
    gaps.sort();
    gaps.dedup();
    assert!(gaps.len() > 10, "jitter must vary between rounds: {gaps:?}");
    assert_eq!(d.state.counters().probe_rounds, 20);
}

#[test]
fn the_interval_runs_from_the_start_of_a_round_not_its_end() {
    let mut d = Driver::new();
    let s = d.reach_first_round(30);
    let started = d.now;
    // A slow round (a silently dropping target until its limit) that
    // still ends before the interval: the next round is due an interval
    // after this one started.
    d.wait(secs(4));
    let done = d.finish_round(&s, vec![blocked("psn1.lab.test")]);
    let (_, when) = timer_action(&done).unwrap();
    let from_start = when.saturating_since(started);
    assert!(
        from_start <= secs(30) && from_start > secs(27),
        "{from_start:?}"
    );
}

#[test]
fn a_round_that_outlasts_the_interval_is_followed_at_once() {
    let mut d = Driver::new();
    let s = d.reach_first_round(2);
    d.wait(secs(3));
    let done = d.finish_round(&s, vec![blocked("psn1.lab.test")]);
    let (_, when) = timer_action(&done).unwrap();
    assert_eq!(when, d.now, "the next round is overdue: no extra wait");
}

#[test]
fn a_round_may_wait_on_a_silent_target_at_most_the_interval() {
    let mut d = Driver::new();
    let s = d.reach_first_round(7);
    let within = s.actions.iter().find_map(|a| match a {
        Action::StartProbeRound { within, .. } => Some(*within),
        _ => None,
    });
    assert_eq!(within, Some(secs(7)));
}

#[test]
fn a_rediscovery_carries_the_last_session_and_the_first_does_not() {
    let mut d = Driver::new();
    let first = d.profile(settings(Some(30)));
    let session_of = |s: &Step| {
        s.actions.iter().find_map(|a| match a {
            Action::StartDiscovery { session, .. } => Some(session.clone()),
            _ => None,
        })
    };
    assert_eq!(session_of(&first), Some(None));
    let mut d = Driver::new();
    let s = d.reach_known(Some(30), PostureStatus::Compliant);
    let known_session = d.state.session().cloned();
    assert!(known_session.is_some());
    let s = d.fire(&s);
    let restarted = d.finish_round(&s, vec![answered("psn1.lab.test", PostureStatus::Unknown)]);
    assert_eq!(session_of(&restarted), Some(known_session));
}

#[test]
fn two_agents_with_different_seeds_do_not_probe_in_lock_step() {
    let mut a = Driver::new();
    let mut b = Driver::with_state(State::new(vec![], 4242));
    let mut ats = Vec::new();
    for d in [&mut a, &mut b] {
        let s = d.reach_first_round(60);
        let done = d.finish_round(&s, vec![blocked("psn1.lab.test")]);
        ats.push(timer_action(&done).unwrap().1);
    }
    assert_ne!(ats[0], ats[1]);
}

#[test]
fn interval_disabled_assesses_once_and_never_probes() {
    let mut d = Driver::new();
    let s = d.reach_known(None, PostureStatus::Compliant);
    assert!(timer_action(&s).is_none());
    assert!(round_action(&s).is_none());
    match d.state.phase() {
        Phase::Known(k) => assert_eq!(k.probing, Probing::Disabled),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.state.next_probe_at(), None);
}

#[test]
fn assessment_failure_rediscovers_after_backoff() {
    let mut d = Driver::new();
    let s = d.reach_assessing(settings(Some(60)));
    let (_, _, target) = assessment_action(&s);
    let s = d.assess(
        &s,
        Err(TargetOutcome::new(
            target,
            Outcome::Failed(FailureKind::HttpStatus(503)),
        )),
    );
    assert!(matches!(
        d.state.phase(),
        Phase::Discovering(Discovering {
            attempt: 1,
            wait: DiscoveryWait::Backoff { .. },
            ..
        })
    ));
    let t = s.transition.clone().unwrap();
    assert_eq!(
        (t.from, t.to),
        (PhaseName::Assessing, PhaseName::Discovering)
    );
    assert_eq!(t.severity, Severity::Warn);
    assert!(t.to_string().contains("503"), "{t}");
    assert_eq!(
        d.state.counters().discovery_restarts,
        0,
        "not a probe-triggered restart"
    );
    let again = d.fire(&s);
    discovery_action(&again);
}

#[test]
fn an_inconclusive_assessment_is_retried() {
    for posture in [PostureStatus::Unknown, PostureStatus::Pending] {
        let mut d = Driver::new();
        let s = d.reach_known(Some(60), posture);
        assert_eq!(d.state.phase().name(), PhaseName::Discovering, "{posture}");
        assert!(matches!(
            s.transition.unwrap().reason,
            Reason::AssessmentInconclusive { .. }
        ));
    }
}

#[test]
fn not_applicable_is_known_and_in_step_when_the_psn_agrees() {
    let mut d = Driver::new();
    let s = d.reach_known(Some(60), PostureStatus::NotApplicable);
    assert_eq!(d.state.phase().name(), PhaseName::Known);
    let s = d.fire(&s);
    let done = d.finish_round(
        &s,
        vec![answered("psn1.lab.test", PostureStatus::NotApplicable)],
    );
    assert_eq!(d.state.phase().name(), PhaseName::Known);
    assert!(done.transition.is_none(), "no alarm for NotApplicable");
    let (_, when) = timer_action(&done).unwrap();
    let gap = when.saturating_since(d.now);
    assert!(gap > secs(53) && gap <= secs(60), "{gap:?}");
    assert_eq!(d.state.counters().misconfigurations, 0);
}

// ---- profile changes ------------------------------------------------------

#[test]
fn disabling_sync_mid_round_cancels_the_round_and_ignores_its_result() {
    let mut d = Driver::new();
    let round = d.reach_first_round(60);
    let (op, _) = round_action(&round).unwrap();
    let s = d.profile(settings(None));
    assert_eq!(s.actions, vec![Action::Cancel { op }]);
    assert_eq!(s.transition.unwrap().reason, Reason::SyncDisabledByProfile);
    let late = d.send(Event::ProbeRoundFinished {
        op,
        outcomes: vec![answered("psn1.lab.test", PostureStatus::Unknown)],
    });
    assert!(late.stale);
    assert_eq!(d.state.phase().name(), PhaseName::Known);
    assert_eq!(d.state.counters().probe_rounds, 0);
}

#[test]
fn disabling_sync_while_waiting_drops_the_timer() {
    let mut d = Driver::new();
    let s = d.reach_known(Some(60), PostureStatus::Compliant);
    d.profile(settings(None));
    let fired = d.fire(&s);
    assert!(fired.stale);
    assert!(round_action(&fired).is_none());
}

#[test]
fn enabling_sync_schedules_a_first_probe_after_the_transition_delay() {
    let mut d = Driver::new();
    d.reach_known(None, PostureStatus::Compliant);
    d.wait(secs(100));
    let s = d.profile(settings(Some(20)));
    assert_eq!(timer_action(&s).unwrap().1, d.now + secs(3));
    assert_eq!(
        s.transition.clone().unwrap().reason,
        Reason::SyncEnabledByProfile
    );
    let r = d.fire(&s);
    assert!(round_action(&r).is_some());
}

#[test]
fn a_new_interval_applies_from_the_next_schedule() {
    let mut d = Driver::new();
    let r = d.reach_first_round(300);
    let done = d.finish_round(&r, vec![blocked("psn1.lab.test")]);
    let (timer, when) = timer_action(&done).unwrap();
    let changed = d.profile(settings(Some(5)));
    assert!(changed.actions.is_empty(), "the armed timer stays");
    assert_eq!(d.state.next_probe_at(), Some(when));
    d.now = when;
    let r = d.send(Event::TimerFired { timer });
    let done = d.finish_round(&r, vec![blocked("psn1.lab.test")]);
    // From the round's start: (4.5 s, 5 s].
    let gap = timer_action(&done).unwrap().1.saturating_since(d.now) + ROUND_TAKES;
    assert!(
        gap > Duration::from_millis(4500) && gap <= secs(5),
        "{gap:?}"
    );
}

#[test]
fn new_probe_targets_apply_to_the_next_round() {
    let mut d = Driver::new();
    let s = d.reach_known(Some(60), PostureStatus::Compliant);
    let mut st = settings(Some(60));
    st.probing_backup_list = vec![hp("backup.lab.test", 8449)];
    d.profile(st);
    let r = d.fire(&s);
    assert_eq!(round_action(&r).unwrap().1, [hp("backup.lab.test", 8449)]);
}

#[test]
fn no_allowed_probe_target_skips_the_round_with_a_warning() {
    let mut d = Driver::new();
    let s = d.reach_known(Some(60), PostureStatus::Compliant);
    let st = settings_allowing(Some(60), "ise.lab.test");
    d.profile(st);
    let r = d.fire(&s);
    assert!(round_action(&r).is_none());
    let (_, when) = timer_action(&r).unwrap();
    let gap = when.saturating_since(d.now);
    assert!(gap > secs(54) && gap <= secs(60), "{gap:?}");
    let t = r.transition.unwrap();
    assert_eq!(t.severity, Severity::Warn);
    assert!(matches!(t.reason, Reason::NoProbeTarget { .. }));
}

#[test]
fn a_profile_change_while_discovering_applies_to_the_next_attempt() {
    let (mut d, s) = Driver::with_profile(settings(Some(60)));
    let mut st = settings(Some(60));
    st.discovery_host = Some(hp("ise2.lab.test", 8443));
    let changed = d.profile(st);
    assert!(changed.actions.is_empty());
    let failed = d.fail_discovery(&s, vec![]);
    let retry = d.fire(&failed);
    assert_eq!(discovery_action(&retry).1, [hp("ise2.lab.test", 8443)]);
}

#[test]
fn a_profile_change_while_assessing_waits_for_the_result() {
    let mut d = Driver::new();
    let s = d.reach_assessing(settings(Some(60)));
    let changed = d.profile(settings(None));
    assert!(changed.actions.is_empty() && changed.transition.is_none());
    assert_eq!(d.state.phase().name(), PhaseName::Assessing);
    let s = d.assess(&s, Ok(PostureStatus::Compliant));
    assert!(timer_action(&s).is_none(), "the new profile disables sync");
}

#[test]
fn a_failed_discovery_names_every_target_in_its_log_line() {
    let mut d = Driver::new();
    let mut st = settings(Some(60));
    st.call_home_list = vec![hp("psn1.lab.test", 8443)];
    let s = d.profile(st);
    // Stage 1 (the DiscoveryHost) refuses, stage 2 (the CallHomeList)
    // fails: the attempt's line names both.
    let (_, targets) = discovery_action(&s);
    let s = d.fail_discovery(&s, all_refused(&targets));
    let (_, targets) = discovery_action(&s);
    let outcomes = vec![TargetOutcome::new(
        targets[0].clone(),
        Outcome::Failed(FailureKind::HttpStatus(500)),
    )];
    let s = d.fail_discovery(&s, outcomes);
    let line = s.transition.unwrap().to_string();
    assert!(
        line.starts_with("discovering -> discovering (no discovery target answered"),
        "{line}"
    );
    for part in [
        "ise.lab.test:8443: blocked (connection refused)",
        "psn1.lab.test:8443: failed: http status 500",
        "retry in",
    ] {
        assert!(line.contains(part), "{line}");
    }
}

#[test]
fn the_no_target_lines_name_the_refused_targets() {
    let mut d = Driver::new();
    let mut st = settings(Some(60));
    st.discovery_host = None;
    let line = d.profile(st).transition.unwrap().to_string();
    assert_eq!(
        line,
        "idle -> idle (no discovery target: set DiscoveryHost or CallHomeList in the profile)"
    );
    let st = settings_allowing(Some(60), "*.corp.test");
    let line = d.profile(st).transition.unwrap().to_string();
    assert_eq!(
        line,
        "idle -> idle (no discovery target: set DiscoveryHost or CallHomeList in the profile \
         (refused by ServerNameRules: ise.lab.test:8443))"
    );

    let mut d = Driver::new();
    let s = d.reach_known(Some(60), PostureStatus::Compliant);
    let st = settings_allowing(Some(60), "ise.lab.test");
    d.profile(st);
    let line = d.fire(&s).transition.unwrap().to_string();
    assert!(
        line.starts_with(
            "known -> known (no state sync probe target is allowed by ServerNameRules and \
             ServerPorts; round skipped (refused: psn1.lab.test:8449, psn2.lab.test:8449, \
             psn3.lab.test:8449); session="
        ),
        "{line}"
    );
}

// ---- discovery keeps failing ---------------------------------------------

fn discovery_bundles(s: &Step) -> Vec<&BundleReason> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::CollectBundle {
                reason: r @ BundleReason::DiscoveryFailing { .. },
            } => Some(r),
            _ => None,
        })
        .collect()
}

/// Fails the discovery started in `s` with every target refused; returns the
/// failing step and the retry step (after the backoff).
fn refuse_discovery(d: &mut Driver, s: &Step) -> (Step, Step) {
    let (_, targets) = discovery_action(s);
    let failed = d.fail_discovery(s, all_refused(&targets));
    let retry = d.fire(&failed);
    (failed, retry)
}

#[test]
fn discovery_failing_asks_for_one_bundle_at_the_threshold_and_not_before() {
    let (mut d, mut s) = Driver::with_profile(settings(None));
    let mut bundles = Vec::new();
    for n in 1..=DISCOVERY_FAILURES_FOR_BUNDLE + 5 {
        let (failed, retry) = refuse_discovery(&mut d, &s);
        let found = discovery_bundles(&failed);
        if n < DISCOVERY_FAILURES_FOR_BUNDLE {
            assert!(found.is_empty(), "no bundle after {n} failures");
        }
        bundles.extend(found.into_iter().map(|r| (n, r.clone())));
        assert!(discovery_bundles(&retry).is_empty());
        s = retry;
    }
    assert_eq!(bundles.len(), 1, "exactly one bundle: {bundles:?}");
    let (n, reason) = &bundles[0];
    assert_eq!(*n, DISCOVERY_FAILURES_FOR_BUNDLE);
    match reason {
        BundleReason::DiscoveryFailing {
            attempts,
            failing_for,
            last_error,
        } => {
            assert_eq!(*attempts, DISCOVERY_FAILURES_FOR_BUNDLE);
            // Ten attempts, nine backoffs of 1, 2, 4, ... 60 s (jittered).
            assert!(
                *failing_for >= secs(218) && *failing_for <= secs(243),
                "{failing_for:?}"
            );
            assert_eq!(
                last_error,
                "ise.lab.test:8443: blocked (connection refused)"
            );
        }
        other => panic!("{other:?}"),
    }
    let text = reason.to_string();
    assert!(
        text.starts_with("discovery failing: 10 attempts in a row failed over "),
        "{text}"
    );
    assert!(text.ends_with("ise.lab.test:8443: blocked (connection refused)"));
}

#[test]
fn a_successful_discovery_ends_the_episode_and_the_next_one_may_bundle_again() {
    let (mut d, mut s) = Driver::with_profile(settings(Some(1)));
    let mut total = 0;
    for _ in 0..DISCOVERY_FAILURES_FOR_BUNDLE {
        let (failed, retry) = refuse_discovery(&mut d, &s);
        total += discovery_bundles(&failed).len();
        s = retry;
    }
    assert_eq!(total, 1);
    // Success, then the assessment fails: back to discovering, a new episode
    // that starts counting from zero.
    let found = d.answer_discovery(&s, PostureStatus::Unknown);
    let (_, _, psn) = assessment_action(&found);
    let failed = d.assess(
        &found,
        Err(TargetOutcome::new(
            psn,
            Outcome::Failed(FailureKind::ReplyTimeout),
        )),
    );
    match d.state.phase() {
        Phase::Discovering(dis) => {
            assert_eq!(dis.episode.failures, 0);
            assert!(!dis.episode.bundled);
            assert_eq!(dis.episode.since, d.now);
        }
        other => panic!("{other:?}"),
    }
    let mut s = d.fire(&failed);
    let mut counts = Vec::new();
    for _ in 0..DISCOVERY_FAILURES_FOR_BUNDLE + 2 {
        let (failed, retry) = refuse_discovery(&mut d, &s);
        counts.push(discovery_bundles(&failed).len());
        s = retry;
    }
    let mut expected = vec![0; usize::try_from(DISCOVERY_FAILURES_FOR_BUNDLE).unwrap() + 2];
    expected[usize::try_from(DISCOVERY_FAILURES_FOR_BUNDLE).unwrap() - 1] = 1;
    assert_eq!(counts, expected, "one bundle again, at the threshold");
}

#[test]
fn a_discovered_psn_the_rules_refuse_counts_as_a_failed_attempt() {
    let mut d = Driver::new();
    let st = settings_allowing(None, "ise.lab.test");
    let mut s = d.profile(st);
    let mut reasons = Vec::new();
    for _ in 0..DISCOVERY_FAILURES_FOR_BUNDLE {
        let refused = d.answer_discovery(&s, PostureStatus::Unknown);
        reasons.extend(discovery_bundles(&refused).into_iter().cloned());
        s = d.fire(&refused);
    }
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0]
            .to_string()
            .contains("ServerNameRules do not allow"),
        "{}",
        reasons[0]
    );
}

#[test]
fn a_probe_restarting_discovery_starts_a_new_episode() {
    let mut d = Driver::new();
    let r = d.reach_first_round(60);
    d.wait(secs(30));
    d.finish_round(&r, vec![answered("psn1.lab.test", PostureStatus::Unknown)]);
    match d.state.phase() {
        Phase::Discovering(dis) => assert_eq!(dis.episode, Episode::new(d.now)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_misconfiguration_bundle_reason_names_the_psn() {
    let stop = SyncStop {
        psn: hp("psn1.lab.test", 8449),
        status: PostureStatus::Compliant,
        session: session(),
        at: MonoTime::ZERO,
    };
    let text = BundleReason::Misconfiguration(stop).to_string();
    assert!(
        text.starts_with(
            "misconfiguration psn1.lab.test:8449: the state sync port answered Compliant"
        ),
        "{text}"
    );
}

// ---- stale events ---------------------------------------------------------

#[test]
fn results_with_unknown_ids_are_stale_in_every_phase() {
    let bogus = OpId(9_999);
    let events = || {
        vec![
            Event::DiscoveryFinished {
                op: bogus,
                result: Err(vec![]),
            },
            Event::AssessmentFinished {
                op: bogus,
                evaluated_in: std::time::Duration::ZERO,
                result: Ok(PostureStatus::Compliant),
                reassess_after: None,
                requirements: Default::default(),
            },
            Event::ProbeRoundFinished {
                op: bogus,
                outcomes: vec![answered("psn1.lab.test", PostureStatus::Unknown)],
            },
            Event::TimerFired { timer: bogus },
        ]
    };
    let mut phases = Vec::new();
    phases.push(State::new(vec![], 1));
    let mut d = Driver::new();
    d.profile(settings(Some(60)));
    phases.push(d.state.clone());
    let mut d = Driver::new();
    d.reach_assessing(settings(Some(60)));
    phases.push(d.state.clone());
    let mut d = Driver::new();
    let s = d.reach_known(Some(60), PostureStatus::Compliant);
    phases.push(d.state.clone());
    d.fire(&s);
    phases.push(d.state.clone());
    let names: Vec<PhaseName> = phases.iter().map(|s| s.phase().name()).collect();
    assert_eq!(
        names,
        [
            PhaseName::Idle,
            PhaseName::Discovering,
            PhaseName::Assessing,
            PhaseName::Known,
            PhaseName::Known
        ]
    );
    for state in &phases {
        for event in events() {
            let s = step(state, event.clone(), secs(5_000).into_mono());
            assert!(s.stale, "{event:?} in {:?}", state.phase());
            assert_eq!(&s.state, state);
            assert!(s.actions.is_empty() && s.transition.is_none());
        }
    }
}

#[test]
fn a_result_for_the_right_id_but_the_wrong_kind_is_stale() {
    let (mut d, s) = Driver::with_profile(settings(Some(60)));
    let (op, _) = discovery_action(&s);
    // The discovery's id used for an assessment result or a timer.
    assert!(
        d.send(Event::AssessmentFinished {
            op,
            evaluated_in: std::time::Duration::ZERO,
            result: Ok(PostureStatus::Compliant),
            reassess_after: None,
            requirements: Default::default(),
        })
        .stale
    );
    assert!(d.send(Event::TimerFired { timer: op }).stale);
    assert!(
        d.send(Event::ProbeRoundFinished {
            op,
            outcomes: vec![]
        })
        .stale
    );
    assert!(
        !d.send(Event::DiscoveryFinished {
            op,
            result: Err(vec![])
        })
        .stale
    );
    // ... and a second result for the same discovery is stale.
    assert!(
        d.send(Event::DiscoveryFinished {
            op,
            result: Err(vec![])
        })
        .stale
    );
}

trait IntoMono {
    fn into_mono(self) -> MonoTime;
}
impl IntoMono for Duration {
    fn into_mono(self) -> MonoTime {
        at(self)
    }
}

// ---- transition lines -----------------------------------------------------

#[test]
fn a_transition_reads_as_one_line_with_session_and_psn() {
    let mut d = Driver::new();
    let r = d.reach_first_round(60);
    let done = d.finish_round(&r, vec![on("psn2.lab.test", Outcome::NotFound)]);
    let line = done.transition.unwrap().to_string();
    assert!(line.starts_with("known -> discovering ("), "{line}");
    assert!(line.contains("404"), "{line}");
    assert!(line.contains(&format!("session={SID}")), "{line}");
    assert!(line.ends_with("psn=psn2.lab.test:8449)"), "{line}");
    assert!(!line.contains('\n'));
}

// ---- random sequences -----------------------------------------------------

/// One random driver decision.
#[derive(Debug, Clone)]
enum Move {
    /// Complete the pending operation (if any) with outcome number `n`.
    Complete(u8),
    /// Fire the armed timer.
    Fire,
    /// Send an event with a made-up id.
    Bogus(u8),
    /// Apply a profile: interval index.
    Profile(u8),
    /// Let time pass.
    Wait(u16),
    /// The network changed (`true`: the endpoint resumed from sleep).
    Network(bool),
    /// `posture-sync reassess`.
    Rescan,
    /// Fire the debounce or the periodic reassessment timer (by `n`).
    FireOther(u8),
}

fn any_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        6 => any::<u8>().prop_map(Move::Complete),
        4 => Just(Move::Fire),
        1 => any::<u8>().prop_map(Move::Bogus),
        1 => any::<u8>().prop_map(Move::Profile),
        1 => any::<u16>().prop_map(Move::Wait),
        1 => any::<bool>().prop_map(Move::Network),
        1 => Just(Move::Rescan),
        1 => any::<u8>().prop_map(Move::FireOther),
    ]
}

const STATUSES: [PostureStatus; 5] = PostureStatus::ALL;

fn round_outcomes(n: u8) -> Vec<TargetOutcome> {
    match n % 6 {
        0 | 1 => vec![blocked("psn1.lab.test"), blocked("psn2.lab.test")],
        2 => vec![on("psn1.lab.test", Outcome::NotFound)],
        3 => vec![on(
            "psn1.lab.test",
            Outcome::Failed(FailureKind::Tls { detail: "x".into() }),
        )],
        _ => vec![
            blocked("psn1.lab.test"),
            answered("psn2.lab.test", STATUSES[usize::from(n / 6) % 5]),
        ],
    }
}

fn is_probe_action(a: &Action) -> bool {
    matches!(a, Action::StartProbeRound { .. })
}

/// What a random run reached (to check the generator explores the machine).
#[derive(Debug, Default, Clone, Copy)]
struct Reached {
    known: bool,
    restarted: bool,
    stopped: bool,
}

/// Plays `moves` against the machine, checking the invariants after every step.
fn play(seed: u64, moves: Vec<Move>) -> Result<Reached, TestCaseError> {
    let mut reached = Reached::default();
    let mut d = Driver::with_state(State::new(vec![], seed));
    let mut pending: Vec<Action> = Vec::new();
    let mut timer: Option<(OpId, MonoTime)> = None;
    let mut others: Vec<(OpId, MonoTime)> = Vec::new();
    let first = d.profile(settings(Some(10)));
    pending.extend(
        first
            .actions
            .iter()
            .filter(|a| !matches!(a, Action::ArmTimer { .. }))
            .cloned(),
    );
    for m in moves {
        let before = d.state.clone();
        let event = match m {
            Move::Complete(n) => match pending.pop() {
                Some(Action::StartDiscovery { op, targets, .. }) => Event::DiscoveryFinished {
                    op,
                    result: if n % 3 == 0 {
                        Err(vec![])
                    } else {
                        Ok(DiscoverySuccess {
                            answered: targets[0].clone(),
                            discovery: discovery(STATUSES[usize::from(n) % 5]),
                            redirected: false,
                        })
                    },
                },
                Some(Action::StartAssessment { op, psn, .. }) => Event::AssessmentFinished {
                    op,
                    evaluated_in: std::time::Duration::ZERO,
                    result: if n % 5 == 0 {
                        Err(TargetOutcome::new(
                            psn,
                            Outcome::Failed(FailureKind::ReplyTimeout),
                        ))
                    } else {
                        Ok(STATUSES[usize::from(n) % 5])
                    },
                    // Sometimes a PSN asks for a periodic reassessment,
                    // sometimes out of bounds.
                    reassess_after: match n % 4 {
                        1 => Some(secs(60 + u64::from(n))),
                        2 => Some(secs(u64::from(n % 60))),
                        _ => None,
                    },
                    requirements: Default::default(),
                },
                Some(Action::StartProbeRound { op, .. }) => Event::ProbeRoundFinished {
                    op,
                    // Often answer the agent's own posture, so that
                    // suspected and confirmed misconfigurations happen.
                    outcomes: if n % 7 < 3 {
                        vec![answered("psn1.lab.test", d.state.posture())]
                    } else {
                        round_outcomes(n)
                    },
                },
                _ => continue,
            },
            Move::Fire => match timer.take() {
                Some((t, when)) => {
                    d.now = d.now.max(when);
                    Event::TimerFired { timer: t }
                }
                None => continue,
            },
            Move::FireOther(n) if !others.is_empty() => {
                let (t, when) = others.remove(usize::from(n) % others.len());
                d.now = d.now.max(when);
                Event::TimerFired { timer: t }
            }
            Move::FireOther(_) => continue,
            Move::Network(false) => Event::NetworkChanged,
            Move::Network(true) => Event::Resumed { slept: secs(60) },
            Move::Rescan => Event::RescanRequested,
            Move::Bogus(n) => Event::TimerFired {
                timer: OpId(u64::from(n)),
            },
            Move::Profile(n) => Event::ProfileApplied(settings(match n % 4 {
                0 => None,
                1 => Some(1),
                2 => Some(10),
                _ => Some(300),
            })),
            Move::Wait(ms) => {
                d.wait(Duration::from_millis(u64::from(ms)));
                continue;
            }
        };
        let s = d.send(event);
        let after = &s.state;
        reached.stopped |= after.sync_stop().is_some();
        reached.known |= after.phase().name() == PhaseName::Known;
        reached.restarted |= after.counters().discovery_restarts > 0;
        // Stale events change nothing.
        if s.stale {
            prop_assert_eq!(&before, after);
            prop_assert!(s.actions.is_empty());
        }
        // A step starts at most one discovery stage, and a debounce timer
        // is armed at most NetworkTransitionDelay ahead.
        let starts = s
            .actions
            .iter()
            .filter(|a| matches!(a, Action::StartDiscovery { .. }))
            .count();
        prop_assert!(starts <= 1);
        if let Some(settle) = after.settle() {
            let delay = after.settings().map(|x| x.transition_delay.get());
            prop_assert!(delay.is_some_and(|delay| settle.at <= d.now + delay));
        }
        // A periodic reassessment is only ever scheduled within bounds.
        if let Phase::Known(Known {
            reassess: Some(r), ..
        }) = after.phase()
        {
            prop_assert!((REASSESS_MIN..=REASSESS_MAX).contains(&r.every));
        }
        // Outside idle the machine always runs under settings.
        if after.phase() != &Phase::Idle {
            prop_assert!(after.settings().is_some());
        }
        // Counters only grow.
        let (b, a) = (before.counters(), after.counters());
        prop_assert!(a.probe_rounds >= b.probe_rounds);
        prop_assert!(a.discovery_restarts >= b.discovery_restarts);
        prop_assert!(a.misconfigurations >= b.misconfigurations);
        // Sync-stopped is never cleared or changed once set, and only set
        // together with a bundle and the counter.
        if let Some(stop) = before.sync_stop() {
            prop_assert_eq!(Some(stop), after.sync_stop());
            prop_assert!(!s.actions.iter().any(is_probe_action));
            prop_assert_eq!(after.next_probe_at(), None);
        } else if after.sync_stop().is_some() {
            prop_assert_eq!(a.misconfigurations, b.misconfigurations + 1);
            let bundled = s
                .actions
                .iter()
                .any(|x| matches!(x, Action::CollectBundle { .. }));
            prop_assert!(bundled);
            prop_assert_eq!(
                s.transition.as_ref().map(|t| t.severity),
                Some(Severity::Error)
            );
        }
        // A "discovery keeps failing" bundle comes at most once per episode,
        // at or after the threshold.
        for act in &s.actions {
            if let Action::CollectBundle {
                reason: BundleReason::DiscoveryFailing { attempts, .. },
            } = act
            {
                prop_assert!(*attempts >= DISCOVERY_FAILURES_FOR_BUNDLE);
                let bundled = matches!(after.phase(),
                    Phase::Discovering(d) if d.episode.bundled);
                prop_assert!(bundled);
                let already = matches!(before.phase(),
                    Phase::Discovering(d) if d.episode.bundled);
                prop_assert!(!already);
            }
        }
        // Probe rounds start only in known, with sync enabled.
        if s.actions.iter().any(is_probe_action) {
            prop_assert_eq!(after.phase().name(), PhaseName::Known);
            prop_assert!(after.settings().and_then(|x| x.sync).is_some());
        }
        // Known always holds an assessed posture.
        if let Phase::Known(k) = after.phase() {
            prop_assert!(k.posture.is_known() || k.posture == PostureStatus::NotApplicable);
            if after.sync_stop().is_some() {
                prop_assert_eq!(&k.probing, &Probing::Stopped);
            }
        }
        // Timers are never armed in the past.
        for act in &s.actions {
            if let Action::ArmTimer {
                timer: t,
                at: when,
                slot,
            } = act
            {
                prop_assert!(*when >= d.now);
                if *slot == TimerSlot::Phase {
                    timer = Some((*t, *when));
                } else {
                    others.push((*t, *when));
                }
            } else if let Action::Cancel { op } = act {
                pending.retain(|p| {
                    !matches!(p,
                        Action::StartProbeRound { op: o, .. } if o == op)
                });
            } else if !matches!(act, Action::PersistPsns(_) | Action::CollectBundle { .. }) {
                pending.push(act.clone());
            }
        }
    }
    Ok(reached)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_event_sequences_keep_the_invariants(
        seed in any::<u64>(),
        moves in proptest::collection::vec(any_move(), 1..120),
    ) {
        play(seed, moves)?;
    }
}

#[test]
fn random_sequences_explore_known_restarts_and_sync_stopped() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = (any::<u64>(), proptest::collection::vec(any_move(), 60..120));
    let mut total = Reached::default();
    let mut stopped_runs = 0;
    for _ in 0..200 {
        let (seed, moves) = strategy.new_tree(&mut runner).unwrap().current();
        let r = play(seed, moves).unwrap();
        total.known |= r.known;
        total.restarted |= r.restarted;
        stopped_runs += usize::from(r.stopped);
    }
    assert!(total.known && total.restarted, "{total:?}");
    assert!(
        stopped_runs >= 5,
        "only {stopped_runs} of 200 runs reached sync-stopped"
    );
}

/// The review's CPU burn, at the machine's level: a server that answers
/// `Unknown` after every assessment whose checks ran the whole budget gets a
/// burst of free reassessments, then waits that grow with what it made the
/// endpoint spend; a cheap CoA is never delayed.
#[test]
fn reassessments_a_server_provokes_are_rate_limited_by_their_cost() {
    let (mut d, mut s) = Driver::with_profile(settings(Some(5)));
    let mut waits = Vec::new();
    for _ in 0..8 {
        let found = d.answer_discovery(&s, PostureStatus::Unknown);
        d.wait(secs(5));
        let known = d.assess_costing(&found, Ok(PostureStatus::Compliant), evaluation::BURST / 4);
        let r = d.fire(&known);
        let lost = d.finish_round(&r, vec![answered("psn1.lab.test", PostureStatus::Unknown)]);
        assert_eq!(d.state.phase().name(), PhaseName::Discovering);
        let t = lost.transition.clone().unwrap();
        s = match discovery_or_timer(&lost) {
            Ok(_) => {
                waits.push(Duration::ZERO);
                lost
            }
            Err((_, when)) => {
                let wait = when.saturating_since(d.now);
                assert!(
                    matches!(t.reason, Reason::ReassessmentRateLimited { .. }),
                    "{t}"
                );
                assert!(t.to_string().contains("rate limit"), "{t}");
                assert_eq!(t.severity, Severity::Warn);
                waits.push(wait);
                let retry = d.fire(&lost);
                discovery_action(&retry);
                retry
            }
        };
    }
    // Four evaluations of 5 s fill the burst; from then on each waits
    // about the 100 s its 5 s take to drain at 5 %, less the time between.
    assert_eq!(&waits[..4], [Duration::ZERO; 4], "{waits:?}");
    assert!(waits[4..].iter().all(|w| *w >= secs(60)), "{waits:?}");
    assert_eq!(d.state.counters().discovery_restarts, 8);
}

fn discovery_or_timer(s: &Step) -> Result<OpId, (OpId, MonoTime)> {
    s.actions
        .iter()
        .find_map(|a| match a {
            Action::StartDiscovery { op, .. } => Some(Ok(*op)),
            Action::ArmTimer { timer, at, .. } => Some(Err((*timer, *at))),
            _ => None,
        })
        .expect("a discovery or a timer")
}

#[test]
fn a_psn_named_on_a_port_outside_server_ports_is_never_probed() {
    let mut d = Driver::new();
    let mut st = settings(Some(5));
    st.server_ports = profile_schema::PortRanges::parse("8000-8999").unwrap();
    let s = d.profile(st);
    let mut reply = discovery(PostureStatus::Unknown);
    reply.psn.state_sync_port = 22;
    reply.psn_list = vec![
        PsnRef {
            host: posture_protocol::Host::parse("psn2.lab.test").unwrap(),
            state_sync_port: 445,
        },
        psn("psn3.lab.test"),
    ];
    let s = d.discover(&s, hp("ise.lab.test", 8443), reply);
    let s = d.assess(&s, Ok(PostureStatus::Compliant));
    let s = d.fire(&s);
    let round = s
        .actions
        .iter()
        .find_map(|a| match a {
            Action::StartProbeRound {
                targets, refused, ..
            } => Some((targets.clone(), refused.clone())),
            _ => None,
        })
        .expect("a round");
    assert_eq!(round.0, [hp("psn3.lab.test", 8449)]);
    assert_eq!(
        round.1.iter().map(|r| r.target.port()).collect::<Vec<_>>(),
        [22, 445]
    );
}
