//! The roaming endpoint (issue 13, "How it is shown"), end to end in network
//! namespaces (`e2e_tests::roaming`): an endpoint whose only way to its PSN
//! is the switch's URL redirect on its default gateway, with the seed's
//! profile (DiscoveryHost and CallHomeList empty), reaches `known` through
//! the redirect; an address change and a default-route change each restart
//! discovery exactly once, after NetworkTransitionDelay; a redirect to a
//! host ServerNameRules refuse is not followed.
//!
//! Needs root, `ip`, `nft` and `tc`; each test prints why it skips otherwise.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use e2e_tests::roaming::{
    DISCOVERY, LAB_RULES, OTHER_GATEWAY, Roaming, count_kind, seed_004_profile, transitions,
};
use e2e_tests::{Agent, counter, is_known, wait_until};
use serde_json::Value;

/// NetworkTransitionDelay of these tests (seconds).
const DELAY: u32 = 3;

const NETWORK_CHANGED: &str = "network-changed";

/// Starts the agent with the seed's profile, waits until it is known
/// Compliant through the gateway's redirect (the dACL applied at once, as
/// the switch does), then for its first probe round, one transition delay
/// later: whatever the network did while the agent started (an IPv6
/// address leaving its tentative state) has settled by then. The status
/// after that round.
fn known_via_gateway(net: &Roaming) -> (Agent, Value) {
    let mut agent = net.agent(&seed_004_profile(LAB_RULES, DELAY));
    net.compliant_then_dacl(&mut agent);
    assert_gateway_discovery(&agent);
    let status = agent.wait_for("the first probe round", |s| counter(s, "probe_rounds") >= 1);
    (agent, status)
}

/// The last discovery found the session through the default gateway's
/// redirect, in stage 1, and the redirect led to the lab's PSN.
fn assert_gateway_discovery(agent: &Agent) {
    let status = agent.status().unwrap();
    let d = &status["discovery"];
    assert_eq!(
        d["source"], "gateway",
        "found through the redirect: {status}"
    );
    assert_eq!(d["stage"], 1, "{status}");
    assert_eq!(d["redirected_to"], "psn1.lab.test", "{status}");
    assert_eq!(
        d["answered"],
        format!("psn1.lab.test:{DISCOVERY}"),
        "{status}"
    );
    assert!(
        transitions(&agent.state)
            .iter()
            .any(|t| t["kind"] == "discovered"),
        "{}",
        agent.log()
    );
}

/// A rediscovery after a network change is found in stage 1 again: the
/// gateway and the last PSN are asked in parallel and the first answer
/// wins, so either may have found it.
fn assert_stage_one_again(status: &Value) {
    let d = &status["discovery"];
    assert_eq!(d["stage"], 1, "{status}");
    assert!(
        d["source"] == "gateway" || d["source"] == "last-psn",
        "{status}"
    );
    assert_eq!(
        d["answered"],
        format!("psn1.lab.test:{DISCOVERY}"),
        "{status}"
    );
}

/// After a change that restarted discovery (`restarts_before` network-change
/// transitions before it): waits for the restart, for `known` again after
/// it, and then for the first probe round after that, which the agent runs
/// one NetworkTransitionDelay after the posture is known again (and at least
/// that delay later by the test's clock): a second restart caused by the
/// same change would have come by then. Returns the network-change count.
fn restarts_after_change(agent: &mut Agent, restarts_before: usize) -> usize {
    let state = agent.state.clone();
    wait_until(
        "a network-change transition",
        || (count_kind(&state, NETWORK_CHANGED) > restarts_before).then_some(()),
        || agent.log(),
    );
    let changed_at = transitions(&state)
        .iter()
        .rposition(|t| t["kind"] == NETWORK_CHANGED)
        .unwrap();
    let known_again = agent.wait_for("known again after the network change", |s| {
        is_known(s, "Compliant")
            && transitions(&state)
                .iter()
                .skip(changed_at + 1)
                .any(|t| t["to"] == "known")
    });
    let settled = Instant::now();
    let rounds = counter(&known_again, "probe_rounds");
    agent.wait_for("a probe round one transition delay later", |s| {
        counter(s, "probe_rounds") > rounds
            && settled.elapsed() >= Duration::from_secs(DELAY.into())
    });
    count_kind(&state, NETWORK_CHANGED)
}

#[test]
fn an_address_change_restarts_discovery_once_after_the_transition_delay() {
    let Some(net) = Roaming::start(
        "an_address_change_restarts_discovery_once_after_the_transition_delay",
        "psn1.lab.test",
    ) else {
        return;
    };
    let (mut agent, _) = known_via_gateway(&net);
    let before = count_kind(&agent.state, NETWORK_CHANGED);

    // A second address on the endpoint's link, as a new DHCP lease gives.
    let ep = net.topo.endpoint.clone();
    net.topo.add_address(&ep, "10.213.0.3/24");
    let after = restarts_after_change(&mut agent, before);
    assert_eq!(
        after,
        before + 1,
        "one address change, one restart: {:#?}",
        transitions(&agent.state)
    );
    let status = agent.status().unwrap();
    assert!(is_known(&status, "Compliant"), "{status}");
    assert_stage_one_again(&status);
}

#[test]
fn a_default_route_change_restarts_discovery_once_after_the_transition_delay() {
    let Some(net) = Roaming::start(
        "a_default_route_change_restarts_discovery_once_after_the_transition_delay",
        "psn1.lab.test",
    ) else {
        return;
    };
    let (mut agent, _) = known_via_gateway(&net);
    let before = count_kind(&agent.state, NETWORK_CHANGED);

    // Another gateway on the same link, as after a move to another network.
    net.topo.set_default_route(OTHER_GATEWAY);
    let after = restarts_after_change(&mut agent, before);
    assert_eq!(
        after,
        before + 1,
        "one route change, one restart: {:#?}",
        transitions(&agent.state)
    );
    let status = agent.status().unwrap();
    assert!(is_known(&status, "Compliant"), "{status}");
    assert_stage_one_again(&status);
}

#[test]
fn a_redirect_to_a_host_server_name_rules_refuse_is_not_followed() {
    // The switch (or whoever answers on the gateway's address) sends the
    // endpoint to a host outside ServerNameRules.
    let refused = "portal.evil.test";
    let Some(net) = Roaming::start(
        "a_redirect_to_a_host_server_name_rules_refuse_is_not_followed",
        refused,
    ) else {
        return;
    };
    // Every packet to the refused host's address is counted.
    let psn = net.topo.psn(1).clone();
    net.topo.watch_destination(&psn.ip);
    let agent = net.agent(&seed_004_profile(LAB_RULES, DELAY));

    wait_until(
        "the agent to refuse the redirect",
        || agent.log().contains("does not follow").then_some(()),
        || format!("agent:\n{}\nlab:\n{}", agent.log(), net.lab.log()),
    );
    // The agent tries again (the next attempt meets the same redirect) and
    // stays out of `known`.
    wait_until(
        "a second refusal",
        || (agent.log().matches("does not follow").count() >= 2).then_some(()),
        || agent.log(),
    );
    let status = agent.status().unwrap();
    assert_ne!(status["phase"], "known", "{status}");
    assert_eq!(count_kind(&agent.state, "discovered"), 0, "{status}");
    let log = agent.log();
    assert!(log.contains(refused), "the refusal names the host: {log}");
    assert!(
        net.lab.log().contains("switch redirect"),
        "the redirect was answered: {}",
        net.lab.log()
    );
    assert_eq!(
        net.topo.watched_packets(),
        0,
        "no packet went to the refused host {refused} ({})",
        psn.ip
    );
    assert_eq!(
        net.lab.ctl(&["sessions"]).as_array().map_or(0, Vec::len),
        0,
        "no discovery reached the refused host"
    );
}
