//! One discovery stage: ask the targets (`GET /auth/discovery`) until a PSN
//! answers with the endpoint's session.
//!
//! The stages, their order, the ServerNameRules filtering and the backoff
//! between attempts are the core's ([`crate::targets::discovery_stages`],
//! [`crate::timing::Backoff`]); this driver runs the stage it is given and
//! logs every target that did not answer with its host, port and reason.
//! Stage 2 ([`attempt`]) walks its list one target at a time (asking the
//! preferred PSN first is the point of the order); stage 1
//! ([`attempt_parallel`]) asks the default gateway, the last PSN and the
//! DiscoveryHost at once, and the first answer wins.

use posture_protocol::{Discovery, SessionId, paths};
use profile_schema::{PortRanges, ServerNameRules};
use tokio::task::JoinSet;

use crate::gateway::GatewayMode;
use crate::machine::DiscoverySuccess;
use crate::nad_hop::{self, GatewayHopError, HopLimits};
use crate::outcome::{FailureKind, HostPort, Outcome, TargetOutcome};
use crate::targets::{self, RedirectTarget};
use crate::transport::Transport;

/// What stage 1 needs to ask the default gateway: where (`run --gateway`),
/// and the profile's rules for the redirect it answers with.
#[derive(Debug, Clone)]
pub struct GatewayAsk {
    /// The OS's default gateways, or a fixed address.
    pub mode: GatewayMode,
    /// ServerNameRules: the redirect's host must pass them.
    pub rules: ServerNameRules,
    /// ServerPorts: the redirect's port must be one of them (or 8443).
    pub ports: PortRanges,
}

/// Stage 1: asks the default gateway (when `gateway` is given: the switch's
/// redirect, then the ordinary discovery where it leads) and every target at
/// the same time; the first 200 with a valid discovery document wins and the
/// others are cancelled. Without an answer, the outcomes of every target
/// (the gateway's last), in the order given.
pub async fn attempt_parallel(
    transport: &Transport,
    targets: &[HostPort],
    session: Option<&SessionId>,
    gateway: Option<GatewayAsk>,
) -> Result<DiscoverySuccess, Vec<TargetOutcome>> {
    let mut set = JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let (transport, target, session) = (transport.clone(), target.clone(), session.cloned());
        set.spawn(async move {
            (
                i,
                attempt(&transport, std::slice::from_ref(&target), session.as_ref()).await,
            )
        });
    }
    if let Some(ask) = gateway {
        let (transport, session) = (transport.clone(), session.cloned());
        let i = targets.len();
        set.spawn(async move { (i, via_gateway(&transport, &ask, session.as_ref()).await) });
    }
    first_success(set).await
}

/// The first `Ok` of `set` (the rest are aborted when the set drops), or
/// every `Err`'s outcomes in index order.
async fn first_success(
    mut set: JoinSet<(usize, Result<DiscoverySuccess, Vec<TargetOutcome>>)>,
) -> Result<DiscoverySuccess, Vec<TargetOutcome>> {
    let mut misses = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((_, Ok(success))) => return Ok(success),
            Ok((i, Err(outcomes))) => misses.push((i, outcomes)),
            // A task panicked (a bug): its target counts as not answering,
            // the others still may.
            Err(e) => tracing::error!(error = %e, "discovery: a stage 1 task failed"),
        }
    }
    misses.sort_by_key(|(i, _)| *i);
    Err(misses.into_iter().flat_map(|(_, o)| o).collect())
}

/// The gateway hop: each default gateway in turn until one redirects to a
/// target the profile allows, then the ordinary discovery there with the
/// redirect's path and query.
async fn via_gateway(
    transport: &Transport,
    ask: &GatewayAsk,
    session: Option<&SessionId>,
) -> Result<DiscoverySuccess, Vec<TargetOutcome>> {
    let (gateways, port) = match ask.mode.gateways() {
        Ok(found) => found,
        Err(e) => {
            tracing::info!(error = %e, "discovery: cannot ask the default gateway");
            return Err(Vec::new());
        }
    };
    if gateways.is_empty() {
        tracing::info!(
            "discovery: the endpoint has no default gateway to ask for the switch's redirect"
        );
        return Err(Vec::new());
    }
    let limits = HopLimits {
        port,
        ..HopLimits::default()
    };
    let mut misses = Vec::new();
    for gw in &gateways {
        let as_target = gateway_target(gw.addr, port);
        let hop = nad_hop::ask_gateway_with(gw, limits, |location| {
            targets::redirect_target(location, &ask.rules, &ask.ports)
        })
        .await;
        let RedirectTarget {
            target,
            path_and_query,
        } = match hop {
            Ok(next) => next,
            Err(e) => {
                log_hop_error(&e);
                let detail = e.to_string();
                let first_line = detail.lines().next().unwrap_or_default().to_owned();
                misses.push(TargetOutcome::new(
                    as_target,
                    Outcome::Failed(FailureKind::Other { detail: first_line }),
                ));
                continue;
            }
        };
        tracing::info!(gateway = %gw, psn = %target, path = %path_and_query, "discovery: the switch redirects to the psn");
        match ask_at(transport, &target, &path_and_query, session).await {
            Ok(discovery) => {
                log_answer(&target, &discovery, true);
                return Ok(DiscoverySuccess {
                    answered: target,
                    discovery,
                    redirected: true,
                });
            }
            Err(outcome) => {
                log_miss(&target, &outcome);
                misses.push(TargetOutcome::new(target, outcome));
            }
        }
    }
    Err(misses)
}

/// The gateway as a target in outcomes (`192.0.2.1:80`).
fn gateway_target(addr: std::net::IpAddr, port: u16) -> HostPort {
    HostPort::new(profile_schema::Host::from(addr), port)
}

fn log_hop_error(e: &GatewayHopError) {
    match e {
        GatewayHopError::Refused { .. } => tracing::warn!("security: {e}"),
        _ => tracing::info!("discovery: no switch redirect: {e}"),
    }
}

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
                log_answer(target, &discovery, false);
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

fn log_answer(target: &HostPort, discovery: &Discovery, redirected: bool) {
    tracing::info!(
        psn = %target,
        session = %discovery.session,
        posture = %discovery.posture,
        connected = %crate::targets::state_sync_target(&discovery.psn),
        redirected,
        "discovery answered"
    );
}

async fn ask(
    transport: &Transport,
    target: &HostPort,
    session: Option<&SessionId>,
) -> Result<Discovery, Outcome> {
    ask_at(transport, target, paths::DISCOVERY, session).await
}

/// `GET https://target{path_and_query}`: the discovery path, or where the
/// switch's redirect pointed (its query kept).
async fn ask_at(
    transport: &Transport,
    target: &HostPort,
    path_and_query: &str,
    session: Option<&SessionId>,
) -> Result<Discovery, Outcome> {
    let reply = transport
        .get(target, path_and_query, session)
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

    /// A plain-HTTP "switch" on loopback answering one request with `head`.
    async fn switch(head: String) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.shutdown().await;
        });
        addr
    }

    fn redirect_to(port: u16) -> String {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:{port}/auth/discovery?sessionId=ab12&portal=psn1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    }

    fn ask(gw: std::net::SocketAddr, rules: &str) -> GatewayAsk {
        GatewayAsk {
            mode: GatewayMode::Fixed(gw),
            rules: ServerNameRules::parse(rules).unwrap(),
            ports: PortRanges::parse("1-65535").unwrap(),
        }
    }

    #[tokio::test]
    async fn stage_one_takes_the_first_answer_not_the_first_target() {
        let ca = TestCa::new();
        let tls = ca.server_config(&["127.0.0.1"]);
        // The first target never answers: walking the list in order would
        // wait on it until the exchange times out.
        let silent = TestServer::start(tls.clone(), Behaviour::Slow).await;
        let good = TestServer::start(tls, fixed(200, DISCOVERY)).await;
        let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
        let targets = [local(silent.port()), local(good.port())];
        let found = test_support::within(
            "stage 1 answered by the second target",
            attempt_parallel(&transport, &targets, None, None),
        )
        .await
        .expect("the second target answers");
        assert_eq!(found.answered, local(good.port()));
        assert!(!found.redirected);
    }

    #[tokio::test]
    async fn the_first_success_wins_and_misses_keep_the_target_order() {
        let mut set = JoinSet::new();
        let miss = |port| vec![TargetOutcome::new(local(port), Outcome::NotFound)];
        let (m2, m0) = (miss(2), miss(1));
        set.spawn(async move { (2, Err(m2)) });
        set.spawn(async move { (0, Err(m0)) });
        let misses = first_success(set).await.unwrap_err();
        let ports: Vec<u16> = misses.iter().map(|m| m.target.port()).collect();
        assert_eq!(ports, [1, 2], "outcomes in the order of the targets");

        // One task never finishes; another succeeds: the race ends with it.
        let mut set = JoinSet::new();
        set.spawn(async { std::future::pending().await });
        let success = DiscoverySuccess {
            answered: local(3),
            discovery: Discovery::from_xml(DISCOVERY.as_bytes()).unwrap(),
            redirected: false,
        };
        let won = success.clone();
        set.spawn(async move { (1, Ok(won)) });
        let found = test_support::within("the race", first_success(set)).await;
        assert_eq!(found, Ok(success));
    }

    #[tokio::test]
    async fn the_switch_redirect_leads_to_the_psn_with_its_query() {
        let ca = TestCa::new();
        let good = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(200, DISCOVERY)).await;
        let gw = switch(redirect_to(good.port())).await;
        let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
        let found = test_support::within(
            "discovery through the switch's redirect",
            attempt_parallel(&transport, &[], None, Some(ask(gw, "127.0.0.1"))),
        )
        .await
        .expect("the redirect leads to a psn that answers");
        assert!(found.redirected);
        assert_eq!(found.answered, local(good.port()));
        let seen = good.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].path_and_query, "/auth/discovery?sessionId=ab12&portal=psn1",
            "the switch's query is kept"
        );
    }

    #[tokio::test]
    async fn a_redirect_the_rules_refuse_is_not_followed() {
        let ca = TestCa::new();
        let psn = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(200, DISCOVERY)).await;
        let gw = switch(redirect_to(psn.port())).await;
        let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
        let misses = test_support::within(
            "a refused redirect",
            attempt_parallel(&transport, &[], None, Some(ask(gw, "*.lab.test"))),
        )
        .await
        .unwrap_err();
        assert!(psn.seen().is_empty(), "the refused psn is never contacted");
        assert_eq!(misses.len(), 1);
        assert_eq!(
            misses[0].target,
            local(gw.port()),
            "the miss names the gateway"
        );
        let text = misses[0].to_string();
        assert!(text.contains("ServerNameRules"), "{text}");
    }

    #[tokio::test]
    async fn a_gateway_that_does_not_redirect_is_a_miss_beside_the_other_targets() {
        let ca = TestCa::new();
        let good = TestServer::start(ca.server_config(&["127.0.0.1"]), fixed(200, DISCOVERY)).await;
        let gw = switch("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()).await;
        let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
        let found = test_support::within(
            "stage 1 with a gateway that does not redirect",
            attempt_parallel(&transport, &[local(good.port())], None, Some(ask(gw, "*"))),
        )
        .await
        .expect("the discovery host answers");
        assert!(!found.redirected);
        assert_eq!(found.answered, local(good.port()));
    }
}
