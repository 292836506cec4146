//! A small network of Linux network namespaces for tests that need real
//! packet filtering: an endpoint host and PSN hosts, each in its own
//! namespace with one veth into a "switch" namespace holding a bridge, plus
//! nftables rules on the endpoint host that play the switch's dACL and
//! `tc netem` for latency and loss.
//!
//! Addresses are 10.213.0.0/24 and exist only inside the namespaces this
//! module creates; no namespace has a default route unless a test points
//! the endpoint's at an address on the bridge
//! ([`Topology::set_default_route`]), and the bridge has no uplink, so
//! nothing can leave the machine. Every name (namespace, `/etc/netns/<ns>`) starts with a
//! prefix unique to this process and topology, so parallel tests and
//! leftovers of crashed runs never collide; [`Topology`]'s `Drop` kills
//! every process left inside its namespaces and removes everything it made,
//! also when a test panics. Nothing that this module did not create is ever
//! touched.

// Test harness: running `ip`, `nft` and `tc` is the point.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The subnet's first three octets.
const SUBNET: &str = "10.213.0";

/// The IPv6 prefix of [`Topology::add_ipv6`] (a /64 of the documentation
/// range: never routed, and, unlike a ULA, ranked above IPv4 by the RFC 6724
/// address selection of the endpoint's resolver, so names resolve IPv6
/// first as on a real dual-stack network).
const SUBNET6: &str = "2001:db8:213:";

/// Why the namespace tests cannot run here, or `None` when they can: they
/// need root (namespaces, nftables) and the `ip`, `nft` and `tc` tools.
pub fn unavailable() -> Option<String> {
    if !crate::is_root() {
        return Some("not root (network namespaces and nftables need root)".into());
    }
    for (tool, args, package) in [
        ("ip", &["-V"][..], "iproute2"),
        ("nft", &["--version"][..], "nftables"),
        ("tc", &["-V"][..], "iproute2"),
    ] {
        if !crate::tool_runs(tool, args) {
            return Some(format!(
                "`{tool}` is not installed (apt-get install -y {package})"
            ));
        }
    }
    None
}

/// Skips the calling test with a clear message when the namespace tests
/// cannot run here: `if netns::skip("test name") { return; }`.
pub fn skip(test: &str) -> bool {
    match unavailable() {
        Some(why) => {
            crate::skipped(
                test,
                &format!("{why}; CI runs it as root with nftables installed"),
            );
            true
        }
        None => false,
    }
}

/// Runs a command and panics with its output when it fails.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?} does not run: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `nft -f -` with `script` inside `ns`.
fn nft(ns: &str, script: &str) {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip netns exec nft runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())
        .expect("write the nft script");
    let out = child.wait_with_output().expect("nft finishes");
    assert!(
        out.status.success(),
        "nft in {ns} failed: {}\nscript:\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How the emulated switch ACL treats the state sync port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dacl {
    /// No deny entry: the port is reachable.
    Off,
    /// `deny` as a switch ACL usually does it: packets vanish.
    Drop,
    /// The port is closed with a TCP reset.
    Reject,
}

/// One host of the topology.
#[derive(Debug, Clone)]
pub struct Host {
    /// Short name (`ep`, `psn1`, ...), also its host name.
    pub name: String,
    /// The network namespace.
    pub ns: String,
    /// Its IPv4 address.
    pub ip: String,
    /// Its switch port (veth in the switch namespace).
    port: String,
}

impl Host {
    /// `name.lab.test`, as the endpoint's hosts file knows it.
    pub fn fqdn(&self) -> String {
        format!("{}.lab.test", self.name)
    }

    /// Its IPv6 address (`2001:db8:213::N` for `10.213.0.N`); the host has
    /// it only after [`Topology::add_ipv6`].
    pub fn ip6(&self) -> String {
        let last = self.ip.rsplit('.').next().unwrap_or_default();
        format!("{SUBNET6}:{last}")
    }
}

/// An endpoint host and PSN hosts joined by a bridge in a switch namespace.
#[derive(Debug)]
pub struct Topology {
    /// The endpoint host (`ep`, 10.213.0.2).
    pub endpoint: Host,
    /// The PSN hosts (`psn1` = 10.213.0.11, `psn2` = .12, ...).
    pub psns: Vec<Host>,
    switch: String,
    made: Vec<String>,
    etc_dirs: Vec<PathBuf>,
    relay: Option<std::process::Child>,
}

impl Topology {
    /// Builds the network with `psns` PSN hosts. Panics (after removing what
    /// it made) when a step fails.
    pub fn new(psns: usize) -> Topology {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // pid + sequence keeps parallel tests apart; the time's low bits keep
        // a reused pid from meeting a crashed run's leftovers.
        let prefix = format!(
            "ps{}x{}{:03x}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            nanos & 0xfff
        );
        let host = |name: &str, last: usize| Host {
            name: name.to_owned(),
            ns: format!("{prefix}-{name}"),
            ip: format!("{SUBNET}.{last}"),
            port: format!("v-{name}"),
        };
        let mut topo = Topology {
            endpoint: host("ep", 2),
            psns: (1..=psns)
                .map(|i| host(&format!("psn{i}"), 10 + i))
                .collect(),
            switch: format!("{prefix}-sw"),
            made: Vec::new(),
            etc_dirs: Vec::new(),
            relay: None,
        };
        topo.build();
        topo
    }

    fn hosts(&self) -> impl Iterator<Item = &Host> {
        std::iter::once(&self.endpoint).chain(self.psns.iter())
    }

    fn add_ns(&mut self, ns: &str) {
        run("ip", &["netns", "add", ns]);
        self.made.push(ns.to_owned());
        run("ip", &["-n", ns, "link", "set", "lo", "up"]);
    }

    fn build(&mut self) {
        let switch = self.switch.clone();
        self.add_ns(&switch);
        run(
            "ip",
            &["-n", &switch, "link", "add", "br0", "type", "bridge"],
        );
        run("ip", &["-n", &switch, "link", "set", "br0", "up"]);
        let hosts: Vec<Host> = self.hosts().cloned().collect();
        for h in &hosts {
            self.add_ns(&h.ns);
            // Created inside the switch namespace with the peer placed
            // straight into the host's: no interface ever exists in the
            // machine's own namespace.
            run(
                "ip",
                &[
                    "-n", &switch, "link", "add", &h.port, "type", "veth", "peer", "name", "eth0",
                    "netns", &h.ns,
                ],
            );
            run(
                "ip",
                &["-n", &switch, "link", "set", &h.port, "master", "br0", "up"],
            );
            let cidr = format!("{}/24", h.ip);
            run("ip", &["-n", &h.ns, "addr", "add", &cidr, "dev", "eth0"]);
            run("ip", &["-n", &h.ns, "link", "set", "eth0", "up"]);
        }
        // The endpoint resolves the PSNs by name through its own hosts file
        // (`ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts).
        let mut hosts_file = String::from("127.0.0.1 localhost\n");
        for p in &self.psns {
            hosts_file.push_str(&format!("{} {} {}\n", p.ip, p.fqdn(), p.name));
        }
        let etc = PathBuf::from("/etc/netns").join(&self.endpoint.ns);
        std::fs::create_dir_all(&etc).expect("create /etc/netns/<ns>");
        self.etc_dirs.push(etc.clone());
        std::fs::write(etc.join("hosts"), hosts_file).expect("write the endpoint's hosts file");
        // The dACL table: an output chain on the endpoint host, empty (no
        // deny) until a test applies one.
        nft(
            &self.endpoint.ns,
            "table inet dacl {\n  chain output {\n    type filter hook output priority 0; policy accept;\n  }\n}\n",
        );
    }

    /// The PSN host `psnN` (1-based).
    pub fn psn(&self, n: usize) -> &Host {
        &self.psns[n - 1]
    }

    /// Replaces the endpoint's dACL: for each `(psn, mode)` a deny entry for
    /// the PSN's `port` (TCP), as the switch would enforce after a CoA.
    pub fn set_dacl(&self, port: u16, entries: &[(&Host, Dacl)]) {
        let mut script = String::from("flush chain inet dacl output\n");
        for (h, mode) in entries {
            let verdict = match mode {
                Dacl::Off => continue,
                Dacl::Drop => "drop",
                Dacl::Reject => "reject with tcp reset",
            };
            script.push_str(&format!(
                "add rule inet dacl output ip daddr {} tcp dport {port} counter {verdict}\n",
                h.ip
            ));
        }
        nft(&self.endpoint.ns, &script);
    }

    /// The same deny entry for every PSN (`Off` lifts the dACL).
    pub fn set_dacl_all(&self, port: u16, mode: Dacl) {
        let entries: Vec<(&Host, Dacl)> = self.psns.iter().map(|p| (p, mode)).collect();
        self.set_dacl(port, &entries);
    }

    /// Packets the dACL has denied so far (sum of the rule counters).
    pub fn dacl_hits(&self) -> u64 {
        self.endpoint_packets("dacl")
    }

    /// The sum of the rule counters of the endpoint's nftables table
    /// `inet <table>`, chain `output`.
    fn endpoint_packets(&self, table: &str) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.endpoint.ns,
                "nft",
                "list",
                "chain",
                "inet",
                table,
                "output",
            ])
            .output()
            .expect("nft list runs");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] == "packets")
            .filter_map(|w| w[1].parse::<u64>().ok())
            .sum()
    }

    /// Adds `cidr` (`10.213.0.1/24`) to `host`'s interface: a second
    /// address, e.g. the gateway address a PSN host also answers on.
    pub fn add_address(&self, host: &Host, cidr: &str) {
        run("ip", &["-n", &host.ns, "addr", "add", cidr, "dev", "eth0"]);
    }

    /// Points the endpoint's default route at `via` (an address on the
    /// test's bridge, so nothing is routed out of the namespaces), replacing
    /// the one it had.
    pub fn set_default_route(&self, via: &str) {
        run(
            "ip",
            &[
                "-n",
                &self.endpoint.ns,
                "route",
                "replace",
                "default",
                "via",
                via,
                "dev",
                "eth0",
            ],
        );
    }

    /// Adds `ip name` to the endpoint's hosts file (a name that is not a
    /// PSN host's, e.g. where a hostile redirect points).
    pub fn add_host_name(&self, ip: &str, name: &str) {
        use std::io::Write;
        let path = PathBuf::from("/etc/netns")
            .join(&self.endpoint.ns)
            .join("hosts");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open the endpoint's hosts file");
        writeln!(file, "{ip} {name}").expect("extend the endpoint's hosts file");
    }

    /// Counts every packet the endpoint sends to `ip` (any protocol, any
    /// port) without changing its fate: an nftables counter in its own
    /// table, read by [`Topology::watched_packets`].
    pub fn watch_destination(&self, ip: &str) {
        nft(
            &self.endpoint.ns,
            &format!(
                "table inet watch {{\n  chain output {{\n    type filter hook output priority -20; policy accept;\n    ip daddr {ip} counter\n  }}\n}}\n"
            ),
        );
    }

    /// Packets the endpoint has sent to the address of
    /// [`Topology::watch_destination`] so far.
    pub fn watched_packets(&self) -> u64 {
        self.endpoint_packets("watch")
    }

    /// Makes the network dual-stack: every host gets its [`Host::ip6`] too
    /// (`/64`, duplicate address detection off so the address is usable at
    /// once), and the endpoint's hosts file names each PSN by its IPv6
    /// address before its IPv4 one.
    pub fn add_ipv6(&self) {
        for h in self.hosts() {
            let cidr = format!("{}/64", h.ip6());
            run(
                "ip",
                &["-n", &h.ns, "addr", "add", &cidr, "dev", "eth0", "nodad"],
            );
        }
        let mut hosts_file = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for p in &self.psns {
            hosts_file.push_str(&format!("{} {} {}\n", p.ip6(), p.fqdn(), p.name));
            hosts_file.push_str(&format!("{} {} {}\n", p.ip, p.fqdn(), p.name));
        }
        let etc = PathBuf::from("/etc/netns").join(&self.endpoint.ns);
        std::fs::write(etc.join("hosts"), hosts_file).expect("write the endpoint's hosts file");
    }

    /// What the endpoint's resolver returns for `name`, in its order
    /// (`getent ahosts`, the same `getaddrinfo` call the agent makes).
    pub fn resolve(&self, name: &str) -> Vec<std::net::IpAddr> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.endpoint.ns, "getent", "ahosts", name])
            .output()
            .expect("getent runs");
        let mut found = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(ip) = line.split_whitespace().next().and_then(|a| a.parse().ok())
                && !found.contains(&ip)
            {
                found.push(ip);
            }
        }
        found
    }

    /// Silently drops the endpoint's IPv6 TCP to `host` on `ports` (a
    /// black-holed IPv6 path: a route exists, the packets vanish). Its own
    /// table, so [`Topology::set_dacl`] leaves it in place.
    pub fn blackhole_ipv6(&self, host: &Host, ports: &[u16]) {
        let ports = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        nft(
            &self.endpoint.ns,
            &format!(
                "table inet v6hole {{\n  chain output {{\n    type filter hook output priority 0; policy accept;\n    ip6 daddr {} tcp dport {{ {ports} }} counter drop\n  }}\n}}\n",
                host.ip6()
            ),
        );
    }

    /// Packets [`Topology::blackhole_ipv6`] has dropped so far.
    pub fn blackhole_hits(&self) -> u64 {
        self.endpoint_packets("v6hole")
    }

    /// Impairs the endpoint's link in both directions with `delay_ms` of
    /// latency and `loss_percent` random loss, and returns what was applied
    /// (for the test's output):
    ///
    /// 1. `tc netem` on the endpoint's interface and on its switch port;
    /// 2. on a kernel without netem (some VM kernels lack `sch_netem`): the
    ///    endpoint's switch port leaves the bridge and `tests/netem_relay.py`
    ///    (python3, AF_PACKET) relays its frames to and from the bridge with
    ///    the same delay and loss, offloads off (`ethtool`) so every frame is
    ///    complete;
    /// 3. without python3 or ethtool as well: the loss from nftables
    ///    (`numgen random`, both directions) and no added latency.
    pub fn impair_link(&mut self, delay_ms: u32, loss_percent: u32) -> String {
        let delay = format!("{delay_ms}ms");
        let loss = format!("{loss_percent}%");
        let netem = |ns: &str, dev: &str| {
            Command::new("tc")
                .args(["-n", ns, "qdisc", "add", "dev", dev, "root", "netem"])
                .args(["delay", &delay, "loss", &loss])
                .output()
                .expect("tc runs")
        };
        let first = netem(&self.endpoint.ns, "eth0");
        if first.status.success() {
            let second = netem(&self.switch, &self.endpoint.port);
            assert!(
                second.status.success(),
                "tc netem on the switch port failed: {}",
                String::from_utf8_lossy(&second.stderr)
            );
            return format!("tc netem delay {delay} loss {loss}, both directions");
        }
        let why = String::from_utf8_lossy(&first.stderr).trim().to_owned();
        if crate::tool_runs("python3", &["-c", "import socket; socket.AF_PACKET"])
            && crate::tool_runs("ethtool", &["--version"])
        {
            self.start_relay(delay_ms, loss_percent);
            return format!(
                "tc netem is not available in this kernel ({why}): {delay} and {loss} loss each way from tests/netem_relay.py"
            );
        }
        nft(
            &self.endpoint.ns,
            &format!(
                "table inet link {{\n  chain input {{\n    type filter hook input priority -10; policy accept;\n    iifname \"eth0\" numgen random mod 100 < {loss_percent} drop\n  }}\n  chain output {{\n    type filter hook output priority -10; policy accept;\n    oifname \"eth0\" numgen random mod 100 < {loss_percent} drop\n  }}\n}}\n"
            ),
        );
        format!(
            "tc netem is not available in this kernel ({why}), nor python3 and ethtool for the relay: {loss} loss each way from nftables, no added latency"
        )
    }

    /// How long a TCP connect from the endpoint to `host:port` takes (one
    /// round trip plus a process start): shows that a delay is in place.
    pub fn connect_time(&self, host: &Host, port: u16) -> std::time::Duration {
        let start = std::time::Instant::now();
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.endpoint.ns,
                "bash",
                "-c",
                &format!("exec 3<>/dev/tcp/{}/{port}", host.ip),
            ],
        );
        start.elapsed()
    }

    fn start_relay(&mut self, delay_ms: u32, loss_percent: u32) {
        let sw = self.switch.clone();
        let port = self.endpoint.port.clone();
        // endpoint eth0 -- v-ep ~relay~ r-ep -- r-br (bridge port)
        run("ip", &["-n", &sw, "link", "set", &port, "nomaster"]);
        run(
            "ip",
            &[
                "-n", &sw, "link", "add", "r-ep", "type", "veth", "peer", "name", "r-br",
            ],
        );
        run(
            "ip",
            &["-n", &sw, "link", "set", "r-br", "master", "br0", "up"],
        );
        run("ip", &["-n", &sw, "link", "set", "r-ep", "up"]);
        // Frames must be whole and at most one MTU: no checksum offload, no
        // segmentation offload anywhere a relayed frame starts or passes.
        let hosts: Vec<String> = self.hosts().map(|h| h.ns.clone()).collect();
        for ns in &hosts {
            run(
                "ip",
                &[
                    "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off", "tso", "off", "gso",
                    "off",
                ],
            );
        }
        for dev in [port.as_str(), "r-ep", "r-br"] {
            run(
                "ip",
                &[
                    "netns", "exec", &sw, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso",
                    "off", "gro", "off",
                ],
            );
        }
        let script = crate::workspace_root().join("tests/netem_relay.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &sw, "python3"])
            .arg(script)
            .args([
                &port,
                "r-ep",
                &delay_ms.to_string(),
                &loss_percent.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the relay starts");
        let mut ready = String::new();
        use std::io::BufRead;
        let _ = std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut ready);
        assert_eq!(ready.trim(), "ready", "the relay did not start");
        self.relay = Some(child);
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut relay) = self.relay.take() {
            let _ = relay.kill();
            let _ = relay.wait();
        }
        for ns in self.made.iter().rev() {
            // Any process still inside one of our namespaces is ours.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        for dir in &self.etc_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
