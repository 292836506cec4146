//! One discovery attempt: ask each target in order (`GET /auth/discovery`)
//! until a PSN answers with the endpoint's session.
//!
//! The order, the ServerNameRules filtering and the backoff between attempts
//! are the core's ([`crate::targets::discovery_stages`],
//! [`crate::timing::Backoff`]); this driver only walks the list it is given,
//! one target at a time (discovery is not latency-critical, and asking the
//! preferred PSN first is the point of the order), and logs every target that
//! did not answer with its host, port and reason.

use posture_protocol::{Discovery, SessionId, paths};

use crate::machine::DiscoverySuccess;
use crate::outcome::{FailureKind, HostPort, Outcome, TargetOutcome};
use crate::transport::Transport;

/// Asks `targets` in order until one answers 200 with a valid discovery
/// document. A 404 (no session for this endpoint here), an unreachable target
/// or a failed one moves on to the next. The result is what
/// [`crate::machine::Event::DiscoveryFinished`] carries: the answer, or every
/// target's outcome.
/// `session` is the last session a PSN gave this endpoint (sent as
/// `X-Posture-Session`), `None` before the first discovery.
pub async fn attempt(
    transport: &Transport,
    targets: &[HostPort],
    session: Option<&SessionId>,
) -> Result<DiscoverySuccess, Vec<TargetOutcome>> {
    let mut misses = Vec::new();
    for target in targets {
        match ask(transport, target, session).await {
            Ok(discovery) => {
                tracing::info!(
                    psn = %target,
                    session = %discovery.session,
                    posture = %discovery.posture,
                    connected = %crate::targets::state_sync_target(&discovery.psn),
                    "discovery answered"
                );
                return Ok(DiscoverySuccess {
                    answered: target.clone(),
                    discovery,
                    redirected: false,
                });
            }
            Err(outcome) => {
                log_miss(target, &outcome);
                misses.push(TargetOutcome::new(target.clone(), outcome));
            }
        }
    }
    Err(misses)
}

async fn ask(
    transport: &Transport,
    target: &HostPort,
    session: Option<&SessionId>,
) -> Result<Discovery, Outcome> {
    let reply = transport
        .get(target, paths::DISCOVERY, session)
        .await
        .map_err(|e| e.outcome)?;
    match reply.status {
        200 => Discovery::from_xml(&reply.body).map_err(|e| {
            Outcome::Failed(FailureKind::Malformed {
                detail: e.to_string(),
            })
        }),
        404 => Err(Outcome::NotFound),
        code => Err(Outcome::Failed(FailureKind::HttpStatus(code))),
    }
}

fn log_miss(target: &HostPort, outcome: &Outcome) {
    match outcome {
        Outcome::NotFound => {
            tracing::info!(psn = %target, "discovery: no session for this endpoint on this psn; trying the next target")
        }
        Outcome::Failed(FailureKind::Tls { detail }) => tracing::error!(
            psn = %target,
            reason = ?detail,
            "security: discovery target failed TLS verification; not retried with weaker settings"
        ),
        // Debug: a malformed reply's detail quotes server text; control
        // characters must stay escaped in the log.
        other => {
            tracing::warn!(psn = %target, reason = ?other.to_string(), "discovery target did not answer")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use posture_protocol::PostureStatus;

    use super::*;
    use crate::outcome::BlockedKind;
    use crate::transport::test_server::{Behaviour, TestCa, TestServer, closed_port, fixed};

    fn local(port: u16) -> HostPort {
        HostPort::new(profile_schema::Host::parse("127.0.0.1").unwrap(), port)
    }

    const DISCOVERY: &str = r#"<discovery version="1"><session id="sess-1"/><postureStatus>Unknown</postureStatus><psn host="127.0.0.1" stateSyncPort="8449"/><psnList><psn host="127.0.0.2" stateSyncPort="8449"/></psnList></discovery>"#;

    #[tokio::test]
    async fn walks_the_targets_in_order_until_one_answers() {
        let ca = TestCa::new();
        let tls = ca.server_config(&["127.0.0.1"]);
        let no_session = TestServer::start(tls.clone(), fixed(404, "")).await;
        let broken = TestServer::start(tls.clone(), fixed(200, "<nonsense/>")).await;
        let good = TestServer::start(tls.clone(), fixed(200, DISCOVERY)).await;
        let never_asked = TestServer::start(tls, fixed(200, DISCOVERY)).await;
        let refused = closed_port().await;
        let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
        let targets = [
            local(refused),
            local(no_session.port()),
            local(broken.port()),
            local(good.port()),
            local(never_asked.port()),
        ];
        let found = attempt(&transport, &targets, None)
            .await
            .expect("the fourth target answers");
        assert_eq!(found.answered, local(good.port()));
        assert_eq!(found.discovery.session.as_str(), "sess-1");
        assert_eq!(found.discovery.posture, PostureStatus::Unknown);
        // The misses before it are only logged; asking the same list without
        // the good ones shows their outcomes.
        let misses = attempt(&transport, &targets[..3], None).await.unwrap_err();
        assert_eq!(
            misses.iter().map(|m| m.outcome.clone()).collect::<Vec<_>>()[..2],
            [Outcome::Blocked(BlockedKind::Refused), Outcome::NotFound]
        );
        assert!(matches!(
            misses[2].outcome,
            Outcome::Failed(FailureKind::Malformed { .. })
        ));
        assert_eq!(misses[2].target, local(broken.port()));
        assert!(never_asked.seen().is_empty());
        let seen = good.seen();
        assert_eq!(seen[0].path_and_query, "/auth/discovery");
        assert_eq!(seen[0].headers["x-posture-mac"], "00:11:22:33:44:55");
        // No session yet: no session header.
        assert!(!seen[0].headers.contains_key("x-posture-session"));
    }

    #[tokio::test]
    async fn a_rediscovery_names_the_last_session() {
        let ca = TestCa::new();
        let good = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(200, DISCOVERY)).await;
        let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
        let last = SessionId::new("sess-0").unwrap();
        attempt(&transport, &[local(good.port())], Some(&last))
            .await
            .expect("the target answers");
        assert_eq!(good.seen()[0].headers["x-posture-session"], "sess-0");
    }

    #[tokio::test]
    async fn nobody_answering_is_an_attempt_without_a_find() {
        let ca = TestCa::new();
        let other_ca = TestCa::new();
        let untrusted = TestServer::start(
            other_ca.server_config(&["127.0.0.1"]),
            Behaviour::Answer(Arc::new(|_| (200, DISCOVERY.to_owned()))),
        )
        .await;
        let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
        let misses = attempt(&transport, &[local(untrusted.port())], None)
            .await
            .unwrap_err();
        assert!(matches!(
            misses[0].outcome,
            Outcome::Failed(FailureKind::Tls { .. })
        ));
        assert_eq!(attempt(&transport, &[], None).await, Err(Vec::new()));
        assert!(untrusted.seen().is_empty());
    }
}
