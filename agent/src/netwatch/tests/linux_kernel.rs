//! The Linux watcher against the real kernel, in a network namespace the
//! test creates and removes (root only; skipped otherwise). The namespace
//! has no way out: its only links are a veth pair inside it, and the
//! gateways are addresses on that pair, so no traffic leaves it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::super::{Family, NetChange, NetChangeKind, RouteOp, watch};

/// Generous: a loaded CI machine may take a while to schedule the watcher.
const WAIT: Duration = Duration::from_secs(30);

/// Runs iproute2; fails the test with its message when it fails.
#[allow(clippy::disallowed_methods)] // test harness: iproute2 builds the namespace the test watches
fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Option<Netns> {
        if !rustix::process::geteuid().is_root() {
            eprintln!(
                "skipped: the network-change watcher test needs root (ip netns add); run it as root"
            );
            return None;
        }
        let name = format!("psync-nw-{}", std::process::id());
        ip(&["netns", "add", &name]);
        Some(Netns { name })
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for Netns {
    #[allow(clippy::disallowed_methods)] // test harness: removes the namespace it made
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A watcher running in the namespace on a thread of its own (the netlink
/// socket belongs to the namespace of the thread that opens it).
struct Watching {
    rx: mpsc::Receiver<NetChange>,
    seen: RefCell<VecDeque<NetChange>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watching {
    fn start(ns: &Netns) -> Watching {
        let path = format!("/run/netns/{}", ns.name);
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let f = File::open(&path).expect("open the namespace");
            rustix::thread::move_into_link_name_space(
                f.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns into the namespace");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut w = watch().expect("start the watcher");
                w.until_seeded().await.expect("learn the initial state");
                ready_tx.send(()).expect("test waits for ready");
                loop {
                    tokio::select! {
                        c = w.next() => match c {
                            Some(c) => if tx.send(c).is_err() { break },
                            None => break,
                        },
                        _ = &mut stop_rx => break,
                    }
                }
            });
        });
        ready_rx
            .recv_timeout(WAIT)
            .expect("the watcher started in the namespace");
        Watching {
            rx,
            seen: RefCell::new(VecDeque::new()),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The first change (in arrival order) that `want` accepts, waiting at
    /// most [`WAIT`]; the others stay for later calls (the kernel's order
    /// between, say, an address and its subnet route is not the test's
    /// business).
    fn expect(&self, what: &str, want: impl Fn(&NetChange) -> bool) -> NetChange {
        let mut seen = self.seen.borrow_mut();
        if let Some(i) = seen.iter().position(&want) {
            return seen.remove(i).expect("index from position");
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(c) if want(&c) => return c,
                Ok(c) => seen.push_back(c),
                Err(e) => panic!("no {what} within {WAIT:?} ({e}); saw {seen:#?}"),
            }
        }
    }

    /// Whether a change `unwanted` accepts has arrived so far.
    fn has_seen(&self, unwanted: impl Fn(&NetChange) -> bool) -> bool {
        while let Ok(c) = self.rx.try_recv() {
            self.seen.borrow_mut().push_back(c);
        }
        self.seen.borrow().iter().any(unwanted)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn on(c: &NetChange, name: &str) -> bool {
    c.interface.as_ref().and_then(|i| i.name.as_deref()) == Some(name)
}

fn ipaddr(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn is_addr(c: &NetChange, added: bool, want: &str) -> bool {
    match &c.kind {
        NetChangeKind::AddressAdded { addr, .. } => added && *addr == ipaddr(want),
        NetChangeKind::AddressRemoved { addr, .. } => !added && *addr == ipaddr(want),
        _ => false,
    }
}

fn is_route(c: &NetChange, want_op: RouteOp, dst: &str, len: u8, gw: Option<&str>) -> bool {
    matches!(&c.kind, NetChangeKind::Route { op, destination, prefix_len, gateway, .. }
        if *op == want_op && *destination == ipaddr(dst) && *prefix_len == len
            && *gateway == gw.map(ipaddr))
}

/// Sends an `RTM_NEWADDR` for `addr` from a process socket (not the kernel)
/// to the IPv4 address group in the namespace, as root may.
fn forge_new_address(ns: &Netns, addr: &str) {
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::address::{AddressAttribute, AddressMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
    use rustix::net::netlink::SocketAddrNetlink;

    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = 24;
    msg.header.index = 1;
    msg.attributes.push(AddressAttribute::Local(ipaddr(addr)));
    msg.attributes.push(AddressAttribute::Address(ipaddr(addr)));
    let mut nl = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::NewAddress(msg)),
    );
    nl.finalize();
    let mut bytes = vec![0; nl.buffer_len()];
    nl.serialize(&mut bytes);
    let path = format!("/run/netns/{}", ns.name);
    std::thread::scope(|s| {
        s.spawn(|| {
            let f = File::open(&path).expect("open the namespace");
            rustix::thread::move_into_link_name_space(
                f.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns into the namespace");
            let fd = rustix::net::socket(
                rustix::net::AddressFamily::NETLINK,
                rustix::net::SocketType::RAW,
                None,
            )
            .expect("netlink socket");
            // RTMGRP_IPV4_IFADDR.
            let sent = rustix::net::sendto(
                &fd,
                &bytes,
                rustix::net::SendFlags::empty(),
                &SocketAddrNetlink::new(0, 0x10),
            )
            .expect("send the forged message");
            assert_eq!(sent, bytes.len());
        });
    });
}

#[test]
fn watcher_reports_network_changes_in_a_namespace() {
    let Some(ns) = Netns::create() else { return };
    // State that exists before the watcher starts: it learns it from its
    // initial dump and does not report it, nor its re-announcement.
    ns.ip(&[
        "link", "add", "psw2", "type", "veth", "peer", "name", "psw3",
    ]);
    ns.ip(&["addr", "add", "10.252.0.2/24", "dev", "psw2"]);
    let w = Watching::start(&ns);

    ns.ip(&[
        "link", "add", "psw0", "type", "veth", "peer", "name", "psw1",
    ]);
    ns.ip(&["link", "set", "psw1", "up"]);
    ns.ip(&["link", "set", "psw0", "up"]);
    let up = w.expect("psw0 up", |c| {
        c.kind == NetChangeKind::LinkUp && on(c, "psw0")
    });
    assert!(!up.restarts_discovery(), "{up}");
    let index = up.interface.as_ref().map(|i| i.index);

    ns.ip(&["addr", "add", "10.250.0.2/24", "dev", "psw0"]);
    let a = w.expect("10.250.0.2 added", |c| is_addr(c, true, "10.250.0.2"));
    assert_eq!(
        a.kind,
        NetChangeKind::AddressAdded {
            addr: ipaddr("10.250.0.2"),
            prefix_len: 24,
            temporary: false
        }
    );
    assert!(on(&a, "psw0") && a.restarts_discovery(), "{a:?}");
    let subnet = w.expect("the subnet route", |c| {
        is_route(c, RouteOp::Added, "10.250.0.0", 24, None)
    });
    assert!(!subnet.restarts_discovery(), "{subnet}");

    ns.ip(&["route", "add", "default", "via", "10.250.0.1"]);
    let d = w.expect("default route added", |c| {
        is_route(c, RouteOp::Added, "0.0.0.0", 0, Some("10.250.0.1"))
    });
    assert_eq!(route_family(&d), Some(Family::V4));
    assert_eq!(d.interface.as_ref().map(|i| i.index), index);
    assert!(d.restarts_discovery());

    ns.ip(&["route", "replace", "default", "via", "10.250.0.3"]);
    let d = w.expect("default route replaced", |c| {
        is_route(c, RouteOp::Added, "0.0.0.0", 0, Some("10.250.0.3"))
    });
    assert!(d.restarts_discovery());
    // And back: the first gateway again is a change, not a known route.
    ns.ip(&["route", "replace", "default", "via", "10.250.0.1"]);
    let d = w.expect("default route replaced back", |c| {
        is_route(c, RouteOp::Added, "0.0.0.0", 0, Some("10.250.0.1"))
    });
    assert!(d.restarts_discovery());

    ns.ip(&[
        "-6", "route", "add", "default", "via", "fe80::1", "dev", "psw0",
    ]);
    let d6 = w.expect("IPv6 default route added", |c| {
        is_route(c, RouteOp::Added, "::", 0, Some("fe80::1"))
    });
    assert_eq!(route_family(&d6), Some(Family::V6));
    assert!(d6.restarts_discovery());

    // Re-announcements of known addresses (a lifetime refresh, as a router
    // advertisement causes) are not changes: neither of the address added
    // above nor of the one the initial dump found.
    ns.ip(&[
        "addr",
        "change",
        "10.250.0.2/24",
        "dev",
        "psw0",
        "valid_lft",
        "3000",
        "preferred_lft",
        "3000",
    ]);
    ns.ip(&[
        "addr",
        "change",
        "10.252.0.2/24",
        "dev",
        "psw2",
        "valid_lft",
        "3000",
        "preferred_lft",
        "3000",
    ]);
    // A process that forges an address message to the watcher's group is
    // not believed: only the kernel speaks for the network.
    forge_new_address(&ns, "10.253.0.9");
    // A marker: once it arrives, the re-announcements above have too.
    ns.ip(&["route", "add", "10.251.0.0/24", "dev", "psw0"]);
    let marker = w.expect("the marker route", |c| {
        is_route(c, RouteOp::Added, "10.251.0.0", 24, None)
    });
    assert!(!marker.restarts_discovery());
    assert!(
        !w.has_seen(|c| is_addr(c, true, "10.253.0.9")),
        "a forged netlink message was believed: {:#?}",
        w.seen.borrow()
    );
    assert!(
        !w.has_seen(|c| is_addr(c, true, "10.250.0.2") || is_addr(c, true, "10.252.0.2")),
        "a known address was reported again: {:#?}",
        w.seen.borrow()
    );

    ns.ip(&["route", "del", "default"]);
    let gone = w.expect("default route removed", |c| {
        matches!(
            c.kind,
            NetChangeKind::Route {
                op: RouteOp::Removed,
                family: Family::V4,
                prefix_len: 0,
                ..
            }
        )
    });
    assert!(gone.restarts_discovery());

    ns.ip(&["link", "set", "psw0", "down"]);
    let down = w.expect("psw0 down", |c| {
        c.kind == NetChangeKind::LinkDown && on(c, "psw0")
    });
    assert!(down.restarts_discovery());

    ns.ip(&["addr", "del", "10.250.0.2/24", "dev", "psw0"]);
    let del = w.expect("10.250.0.2 removed", |c| is_addr(c, false, "10.250.0.2"));
    assert!(del.restarts_discovery());

    // Links created down (psw2/psw3 before, psw1 briefly) never counted as
    // links going down.
    assert!(
        !w.has_seen(|c| c.kind == NetChangeKind::LinkDown && (on(c, "psw2") || on(c, "psw3"))),
        "{:#?}",
        w.seen.borrow()
    );
    // Whatever IPv6 link-local churn the links caused never restarts
    // discovery.
    for c in w.seen.borrow().iter() {
        if let NetChangeKind::AddressAdded { addr, .. } | NetChangeKind::AddressRemoved { addr, .. } =
            &c.kind
            && addr.to_string().starts_with("fe80:")
        {
            assert!(!c.restarts_discovery(), "{c}");
        }
    }
}

/// The family of a route change; `None` for another kind of change.
fn route_family(c: &NetChange) -> Option<Family> {
    match c.kind {
        NetChangeKind::Route { family, .. } => Some(family),
        _ => None,
    }
}
