//! The roaming endpoint of issue 13 in network namespaces: an endpoint whose
//! only way to its PSN is the switch's URL redirect, answered on its default
//! gateway's address.
//!
//! The network is [`Topology`] with one PSN host (`psn1`, 10.213.0.11),
//! which also holds the two gateway addresses ([`GATEWAY`], [`OTHER_GATEWAY`]):
//! psn-lab's `nad` listener and its node are one process, so they share a
//! namespace, and the listener answers on port [`NAD_PORT`] of every address
//! of that host. The endpoint's default route points at [`GATEWAY`]; the
//! bridge has no uplink, so the route leads nowhere but the test's hosts.
//! The switch's dACL is the endpoint's nftables table (`set_dacl`).
//!
//! The agent runs with the seed's profile ([`seed_004_profile`]: the vendor
//! note's `ISEPostureCFG.xml` fragment, DiscoveryHost and CallHomeList
//! empty) and `--gateway auto`: the OS's default gateway is all it has.

use std::path::Path;

use serde_json::Value;

use crate::netns::{self, Dacl, Topology};
use crate::{Agent, Lab, Launch, is_known};

/// The PSN's discovery (portal) port, ISE's.
pub const DISCOVERY: u16 = 8443;
/// The PSN's state sync port, ISE's.
pub const SYNC: u16 = 8449;
/// The endpoint's first default gateway.
pub const GATEWAY: &str = "10.213.0.1";
/// The gateway a default-route change moves to.
pub const OTHER_GATEWAY: &str = "10.213.0.254";
/// The port the switch's redirect answers on (the agent's `auto` uses 80).
pub const NAD_PORT: u16 = 80;
/// What ServerNameRules allow: the lab's PSN names (`psn1.lab.test`).
pub const LAB_RULES: &str = "*.lab.test";

/// The profile fragment of the vendor's troubleshooting note (seed 004),
/// as an administrator would paste it: every value as the note shows it,
/// DiscoveryHost and CallHomeList empty, except ServerNameRules (the note's
/// `*` accepts any host; here `rules`) and NetworkTransitionDelay (`delay`
/// seconds: the note's 10 makes every wait of a test longer).
pub fn seed_004_profile(rules: &str, delay: u32) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<cfg>
<ServerNameRules>{rules}</ServerNameRules>
<OperateOnNonDot1XWireless>0</OperateOnNonDot1XWireless>
<NonCompliantButtonText/>
<GracePeriodStartDescriptionDetails/>
<RemediationTimer>12</RemediationTimer>
<DhcpRenewDelay>1</DhcpRenewDelay>
<CallHomeList/>
<LogFileSize>5</LogFileSize>
<WarningTimer>0</WarningTimer>
<PRARetransmissionTime>120</PRARetransmissionTime>
<EnableAgentIpRefresh>0</EnableAgentIpRefresh>
<NetworkTransitionDelay>{delay}</NetworkTransitionDelay>
<DartCount>3</DartCount>
<CwaByodProbingInterval>10</CwaByodProbingInterval>
<NonCompliantTitle/>
<NonCompliantDescriptionDetails/>
<PingArp>0</PingArp>
<DhcpReleaseDelay>4</DhcpReleaseDelay>
<StealthWithNotification>0</StealthWithNotification>
<NonCompliantButtonLink/>
<SignatureCheck>0</SignatureCheck>
<DiscoveryHost/>
<StateSyncProbeInterval>10</StateSyncProbeInterval>
<GracePeriodStartDescription/>
<EnableRescanButton>1</EnableRescanButton>
<VlanDetectInterval>0</VlanDetectInterval>
<DisableUAC>0</DisableUAC>
</cfg>
"#
    )
}

/// The network, the lab (node and `nad` listener) and the temp dir. Field
/// order is drop order: the lab stops before the namespaces go, the temp
/// dir goes last. An agent the test starts is a later local, dropped first.
#[derive(Debug)]
pub struct Roaming {
    /// psn-lab on `psn1`: the node, and the `nad` listener on every address
    /// of that host.
    pub lab: Lab,
    /// The namespaces.
    pub topo: Topology,
    /// Holds `psn1/` (the lab) and `ep/` (the agent).
    pub tmp: tempfile::TempDir,
}

impl Roaming {
    /// Builds the network and starts the lab, whose redirect names its node
    /// by `advertise` (resolved by the endpoint to `psn1`'s address);
    /// `None` (with a printed reason) when the namespace tests cannot run
    /// here.
    pub fn start(test: &str, advertise: &str) -> Option<Roaming> {
        if netns::skip(test) {
            return None;
        }
        let topo = Topology::new(1);
        let psn = topo.psn(1).clone();
        topo.add_address(&psn, &format!("{GATEWAY}/24"));
        topo.add_address(&psn, &format!("{OTHER_GATEWAY}/24"));
        topo.set_default_route(GATEWAY);
        if advertise != psn.fqdn() {
            topo.add_host_name(&psn.ip, advertise);
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(&psn.name);
        std::fs::create_dir_all(&root).unwrap();
        let lab = Lab::start_launched(
            &root,
            &[format!("{}={}:{DISCOVERY}:{SYNC}", psn.name, psn.ip)],
            &[
                "--advertise",
                &format!("{}={advertise}", psn.name),
                "--nad",
                &format!("0.0.0.0:{NAD_PORT}"),
            ],
            &Launch::netns(&psn.ns),
        );
        Some(Roaming { lab, topo, tmp })
    }

    /// Starts the agent on the endpoint host with `profile_xml`, as deployed
    /// on a laptop: it asks the OS's default gateway for the switch's
    /// redirect and watches the network (`--gateway auto --network-watch
    /// on`, [`Launch::roaming`]).
    pub fn agent(&self, profile_xml: &str) -> Agent {
        let root = self.tmp.path().join("ep");
        std::fs::create_dir_all(&root).unwrap();
        let launch = Launch {
            roaming: true,
            ..Launch::netns(&self.topo.endpoint.ns)
        };
        Agent::start_launched(&root, &self.lab.ca(), profile_xml, &launch)
    }

    /// Waits until the agent holds Compliant, then applies the dACL (the
    /// state sync port of `psn1` rejected), as the switch does on the CoA
    /// that follows; the status that said Compliant.
    pub fn compliant_then_dacl(&self, agent: &mut Agent) -> Value {
        let status = agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
        self.topo
            .set_dacl(SYNC, &[(self.topo.psn(1), Dacl::Reject)]);
        status
    }
}

/// The agent's transitions so far (`<state dir>/transitions.jsonl`), one
/// value per line.
pub fn transitions(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("transitions.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// How many of the agent's transitions so far are of `kind`
/// (`network-changed`, `discovered`, ...).
pub fn count_kind(state: &Path, kind: &str) -> usize {
    transitions(state)
        .iter()
        .filter(|t| t["kind"] == kind)
        .count()
}
