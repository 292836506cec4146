use std::sync::Arc;
use std::time::Duration;

use posture_protocol::{PostureStatus, PostureStatusReply, SessionId};

use super::*;
use crate::outcome::{Answer, BlockedKind, RoundVerdict, judge_round};
use crate::timing::ProbeStagger;
use crate::transport::test_server::{Behaviour, TestCa, TestServer, closed_port, fixed};

fn local(port: u16) -> HostPort {
    HostPort::new(profile_schema::Host::parse("127.0.0.1").unwrap(), port)
}

fn session() -> SessionId {
    SessionId::new("sess-1").unwrap()
}

fn status(s: PostureStatus) -> Behaviour {
    let xml = PostureStatusReply {
        session: session(),
        status: s,
    }
    .to_xml();
    fixed(200, &xml)
}

fn transport(ca: &TestCa) -> Transport {
    Transport::new(ca.client_config(), "00:11:22:33:44:55")
        .unwrap()
        .with_timeouts(PROBE_TIMEOUTS)
}

/// A round over `targets` with the default stagger and no interval cap.
async fn default_round(ca: &TestCa, targets: &[HostPort]) -> Round {
    run_round(
        &transport(ca),
        targets,
        &session(),
        ProbeStagger::DEFAULT.get(),
        Duration::MAX,
    )
    .await
}

#[tokio::test]
async fn a_silent_connected_psn_does_not_hold_up_an_answering_backup() {
    let ca = TestCa::new();
    let tls = ca.server_config(&["127.0.0.1"]);
    let silent = TestServer::start(tls.clone(), Behaviour::AcceptAndDrop).await;
    let backup = TestServer::start(tls, status(PostureStatus::Unknown)).await;
    let round = default_round(&ca, &[local(silent.port()), local(backup.port())]).await;
    // The backup's answer ended the round; the silent target was cancelled
    // instead of being waited for.
    assert_eq!(
        round.outcomes,
        vec![TargetOutcome::new(
            local(backup.port()),
            Outcome::Answered(PostureStatus::Unknown)
        )]
    );
    assert_eq!(
        judge_round(&round.outcomes),
        RoundVerdict::Answered {
            target: local(backup.port()),
            answer: Answer::Status(PostureStatus::Unknown)
        }
    );
    let seen = backup.seen();
    assert_eq!(seen[0].path_and_query, "/auth/posturestatus?session=sess-1");
    assert_eq!(seen[0].headers["x-posture-session"], "sess-1");
}

#[tokio::test]
async fn the_first_definitive_answer_cancels_targets_not_yet_started() {
    let ca = TestCa::new();
    let tls = ca.server_config(&["127.0.0.1"]);
    let connected = TestServer::start(tls.clone(), status(PostureStatus::Compliant)).await;
    let backup = TestServer::start(tls, status(PostureStatus::Unknown)).await;
    // A stagger far longer than a loopback exchange: the backup would start
    // only after the connected PSN has long answered.
    let stagger = Duration::from_secs(30);
    let round = run_round(
        &transport(&ca),
        &[local(connected.port()), local(backup.port())],
        &session(),
        stagger,
        Duration::MAX,
    )
    .await;
    assert_eq!(
        round.outcomes,
        vec![TargetOutcome::new(
            local(connected.port()),
            Outcome::Answered(PostureStatus::Compliant)
        )]
    );
    assert!(backup.seen().is_empty());
}

#[tokio::test]
async fn every_target_blocked_makes_a_blocked_round() {
    let ca = TestCa::new();
    let reset = TestServer::start(ca.server_config(&["127.0.0.1"]), Behaviour::Reset).await;
    let refused = closed_port().await;
    let round = default_round(&ca, &[local(refused), local(reset.port())]).await;
    let mut kinds: Vec<_> = round.outcomes.iter().map(|o| o.outcome.clone()).collect();
    kinds.sort_by_key(|o| o.to_string());
    assert_eq!(
        kinds,
        vec![
            Outcome::Blocked(BlockedKind::Refused),
            Outcome::Blocked(BlockedKind::Reset)
        ]
    );
    assert!(matches!(
        judge_round(&round.outcomes),
        RoundVerdict::Blocked { .. }
    ));
}

#[tokio::test]
async fn a_404_is_a_definitive_not_found() {
    let ca = TestCa::new();
    let server = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(404, "")).await;
    let outcome = probe_one(&transport(&ca), &local(server.port()), &session()).await;
    assert_eq!(outcome, Outcome::NotFound);
}

#[tokio::test]
async fn faults_are_failed_targets_never_answers() {
    let ca = TestCa::new();
    let tls = ca.server_config(&["127.0.0.1"]);
    let other_session = TestServer::start(
        tls.clone(),
        fixed(
            200,
            r#"<postureStatus session="someone-else" status="Unknown"/>"#,
        ),
    )
    .await;
    let server_error = TestServer::start(tls.clone(), fixed(500, "")).await;
    let garbage = TestServer::start(tls.clone(), Behaviour::Garbage).await;
    let oversized = TestServer::start(
        tls.clone(),
        Behaviour::Oversized {
            declare_length: false,
        },
    )
    .await;
    let bad_status = TestServer::start(
        tls,
        Behaviour::Answer(Arc::new(|_| {
            (
                200,
                r#"<postureStatus session="sess-1" status="Great"/>"#.to_owned(),
            )
        })),
    )
    .await;
    let targets: Vec<HostPort> = [
        &other_session,
        &server_error,
        &garbage,
        &oversized,
        &bad_status,
    ]
    .iter()
    .map(|s| local(s.port()))
    .collect();
    let round = default_round(&ca, &targets).await;
    assert_eq!(round.outcomes.len(), targets.len());
    for o in &round.outcomes {
        assert!(matches!(o.outcome, Outcome::Failed(_)), "{o}");
    }
    assert!(matches!(
        judge_round(&round.outcomes),
        RoundVerdict::Fault { .. }
    ));
}

#[tokio::test]
async fn an_empty_round_ends_at_once() {
    let ca = TestCa::new();
    let round = default_round(&ca, &[]).await;
    assert!(round.outcomes.is_empty());
}

#[test]
fn the_round_deadline_covers_the_last_target_budget() {
    let d = round_deadline(3, ProbeStagger::DEFAULT.get(), PROBE_TIMEOUTS);
    assert!(d > ProbeStagger::DEFAULT.get() * 2 + PROBE_TIMEOUTS.connect + PROBE_TIMEOUTS.exchange);
    assert!(round_deadline(0, ProbeStagger::DEFAULT.get(), PROBE_TIMEOUTS) > Duration::ZERO);
}

#[tokio::test]
async fn a_silent_target_counts_as_blocked_once_the_interval_has_passed() {
    let ca = TestCa::new();
    let silent =
        TestServer::start(ca.server_config(&["127.0.0.1"]), Behaviour::AcceptAndDrop).await;
    // The interval is far shorter than the probe's own 5 s TLS limit: the
    // next round is due before that limit, so the silence ends the target.
    let within = Duration::from_millis(300);
    let (transport, targets, session) = (transport(&ca), [local(silent.port())], session());
    // The cap shows in the order of events: the round ends before a timer
    // set to the uncapped limit fires (generous: 300 ms against 5 s).
    let round = tokio::select! {
        biased;
        round = run_round(&transport, &targets, &session, ProbeStagger::DEFAULT.get(), within) => round,
        () = tokio::time::sleep(PROBE_TIMEOUTS.exchange) => {
            panic!("the round outlived the uncapped limit: the interval did not cap it")
        }
    };
    assert_eq!(
        round.outcomes,
        vec![TargetOutcome::new(
            local(silent.port()),
            Outcome::Blocked(BlockedKind::SilentTimeout)
        )]
    );
}

#[test]
fn capping_only_ever_shortens_the_limits() {
    let long = capped(PROBE_TIMEOUTS, Duration::MAX);
    assert_eq!(long, PROBE_TIMEOUTS);
    let short = capped(PROBE_TIMEOUTS, Duration::from_secs(1));
    assert_eq!(short.connect, Duration::from_secs(1));
    assert_eq!(short.exchange, Duration::from_secs(1));
}
