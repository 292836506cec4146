//! A dual-stack PSN whose IPv6 path is black-holed: the endpoint resolves the
//! PSN's name to its IPv6 address first (hosts file, RFC 6724 order) and its
//! IPv4 address second; nftables on the endpoint silently drops the IPv6
//! packets to the PSN's ports, as a firewall or a dACL that forgot IPv6 does.
//! Tried one address after the other, the IPv6 attempt would eat the whole
//! 5 s connect budget of every request and the agent would never get past
//! discovery; with connection racing (RFC 8305, `transport::happy_eyeballs`)
//! IPv4 is tried 250 ms later and wins.
//!
//! psn-lab listens on `[::]` (both families) in the PSN's namespace, so the
//! only reason the agent ends on IPv4 is the black hole; the control test
//! shows it uses IPv6 when that path works.
//!
//! Needs root, `ip`, `nft` and `tc` (see `e2e_tests::netns`); each test prints
//! why it skips otherwise.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::ffi::OsString;
use std::net::IpAddr;

use e2e_tests::netns::{self, Dacl, Topology};
use e2e_tests::{Agent, Lab, Launch, ProfileSpec, counter, is_known};
use serde_json::Value;

const DISCOVERY: u16 = 8443;
const SYNC: u16 = 8449;

/// One dual-stack PSN host, its lab, the temp dir (drop order: lab first).
struct Net {
    lab: Lab,
    topo: Topology,
    tmp: tempfile::TempDir,
}

impl Net {
    fn start(test: &str) -> Option<Net> {
        if netns::skip(test) {
            return None;
        }
        let topo = Topology::new(1);
        topo.add_ipv6();
        let psn = topo.psn(1);
        let order = topo.resolve(&psn.fqdn());
        let (v6, v4): (IpAddr, IpAddr) = (psn.ip6().parse().unwrap(), psn.ip.parse().unwrap());
        assert_eq!(
            order,
            vec![v6, v4],
            "the endpoint's resolver names the PSN by IPv6 first, then IPv4"
        );
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(&psn.name);
        std::fs::create_dir_all(&root).unwrap();
        let lab = Lab::start_launched(
            &root,
            &[format!("{}=[::]:{DISCOVERY}:{SYNC}", psn.name)],
            &["--advertise", &format!("{}={}", psn.name, psn.fqdn())],
            &Launch::netns(&psn.ns),
        );
        Some(Net { lab, topo, tmp })
    }

    /// The agent on the endpoint, the PSN named by its name only, with the
    /// transport's debug lines (which address each connection used).
    fn agent(&self) -> Agent {
        let psn = self.topo.psn(1);
        let spec = ProfileSpec {
            interval: 1,
            transition_delay: 2,
            call_home: vec![format!("{}:{DISCOVERY}", psn.fqdn())],
            backup: vec![format!("{}:{SYNC}", psn.fqdn())],
            rules: None,
            server_ports: None,
        };
        let root = self.tmp.path().join("ep");
        std::fs::create_dir_all(&root).unwrap();
        let mut launch = Launch::netns(&self.topo.endpoint.ns);
        launch.env.push((
            OsString::from("RUST_LOG"),
            OsString::from("info,posture_sync::transport=debug"),
        ));
        Agent::start_launched(&root, &self.lab.ca(), &spec.xml(), &launch)
    }
}

/// The addresses of the agent's TCP connections, from its `tcp connected`
/// debug lines (`address=IP:PORT`).
fn connected_addresses(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("tcp connected"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("address="))
                .map(str::to_owned)
        })
        .collect()
}

fn target_details(status: &Value) -> Vec<String> {
    status["last_probe"]["targets"]
        .as_array()
        .map(|ts| ts.iter().map(|t| t["detail"].to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn a_blackholed_ipv6_path_falls_back_to_ipv4_and_the_agent_gets_known() {
    let Some(net) =
        Net::start("a_blackholed_ipv6_path_falls_back_to_ipv4_and_the_agent_gets_known")
    else {
        return;
    };
    let psn = net.topo.psn(1).clone();
    net.topo.blackhole_ipv6(&psn, &[DISCOVERY, SYNC]);
    let mut agent = net.agent();
    let status = agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    // The switch blocks the state sync port for the known endpoint (IPv4;
    // IPv6 stays black-holed).
    net.topo.set_dacl_all(SYNC, Dacl::Reject);

    let log = agent.log();
    // Discovery, requirements and report all went over IPv4, the second
    // address, after the IPv6 attempt met the black hole.
    let v4_discovery = format!("{}:{DISCOVERY}", psn.ip);
    let used = connected_addresses(&log);
    assert!(
        used.len() >= 3 && used.iter().all(|a| *a == v4_discovery),
        "every connection used IPv4 {v4_discovery}: {used:?}\n{log}"
    );
    assert!(
        log.lines()
            .filter(|l| l.contains("tcp connected"))
            .all(|l| l.contains("attempt=2") && l.contains("addresses=2")),
        "IPv4 was the second of two addresses:\n{log}"
    );
    assert!(
        net.topo.blackhole_hits() > 0,
        "the agent tried IPv6 first and its packets vanished"
    );
    // The first discovery attempt succeeded: no target missed, so no
    // attempt waited out the 5 s connect limit on the IPv6 address.
    assert_eq!(
        log.matches("discovery answered").count(),
        1,
        "one discovery:\n{log}"
    );
    assert!(
        !log.contains("discovery target did not answer"),
        "no discovery attempt failed:\n{log}"
    );

    // Probes: IPv4 refused (the dACL), IPv6 silent until the connect limit.
    // The refusal is the reported reason: it is the more useful of the two.
    let from = counter(&status, "probe_rounds");
    let status = agent.wait_for("2 more blocked probe rounds", |s| {
        counter(s, "probe_rounds") >= from + 2 && s["last_probe"]["outcome"] == "blocked"
    });
    let details = target_details(&status);
    assert!(
        !details.is_empty() && details.iter().all(|d| d.contains("refused")),
        "the refusal on IPv4 is reported: {status}"
    );
    assert!(is_known(&status, "Compliant"), "{status}");
    assert_eq!(counter(&status, "discovery_restarts"), 0, "{status}");
    assert_eq!(counter(&status, "misconfigurations"), 0, "{status}");
    assert!(net.topo.dacl_hits() > 0, "the IPv4 dACL refused the probes");
    assert!(net.lab.alarms().is_empty(), "no probe reached the PSN");
    // The PSN saw the endpoint come in over IPv4.
    let sessions = net.lab.ctl(&["sessions"]);
    assert!(
        sessions.to_string().contains(&net.topo.endpoint.ip),
        "the PSN recorded the endpoint at {}: {sessions}",
        net.topo.endpoint.ip
    );
}

#[test]
fn a_working_ipv6_path_is_used_first() {
    let Some(net) = Net::start("a_working_ipv6_path_is_used_first") else {
        return;
    };
    let psn = net.topo.psn(1).clone();
    let mut agent = net.agent();
    agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    let log = agent.log();
    let v6_discovery = format!("[{}]:{DISCOVERY}", psn.ip6());
    let used = connected_addresses(&log);
    assert!(
        used.len() >= 3 && used.iter().all(|a| *a == v6_discovery),
        "every connection used IPv6 {v6_discovery}, the resolver's first address: {used:?}\n{log}"
    );
    assert!(
        log.lines()
            .filter(|l| l.contains("tcp connected"))
            .all(|l| l.contains("attempt=1")),
        "{log}"
    );
    // The PSN saw the endpoint's IPv6 address.
    let endpoint = net.topo.endpoint.ip6();
    let sessions = net.lab.ctl(&["sessions"]);
    assert!(
        sessions.to_string().contains(&endpoint),
        "the PSN recorded the endpoint at {endpoint}: {sessions}"
    );
}
