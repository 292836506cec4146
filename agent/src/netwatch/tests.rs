use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use proptest::prelude::*;

use super::route_msg;
use super::*;

fn iface(index: u32) -> Option<Interface> {
    Some(Interface {
        index,
        name: Some(format!("eth{index}")),
    })
}

fn added(addr: &str, prefix_len: u8) -> NetChange {
    NetChange {
        kind: NetChangeKind::AddressAdded {
            addr: addr.parse().unwrap(),
            prefix_len,
            temporary: false,
        },
        interface: iface(2),
    }
}

fn removed(addr: &str, prefix_len: u8) -> NetChange {
    NetChange {
        kind: NetChangeKind::AddressRemoved {
            addr: addr.parse().unwrap(),
            prefix_len,
            temporary: false,
        },
        interface: iface(2),
    }
}

fn route(op: RouteOp, dst: &str, prefix_len: u8, gw: Option<&str>) -> NetChange {
    let destination: IpAddr = dst.parse().unwrap();
    NetChange {
        kind: NetChangeKind::Route {
            op,
            family: if destination.is_ipv4() {
                Family::V4
            } else {
                Family::V6
            },
            destination,
            prefix_len,
            gateway: gw.map(|g| g.parse().unwrap()),
            table: 254,
            metric: 0,
        },
        interface: iface(2),
    }
}

fn link(up: bool, index: u32) -> NetChange {
    NetChange {
        kind: if up {
            NetChangeKind::LinkUp
        } else {
            NetChangeKind::LinkDown
        },
        interface: iface(index),
    }
}

// ---- restarts_discovery ----

#[test]
fn restarts_discovery_table() {
    let rows: &[(NetChange, bool)] = &[
        (added("10.1.2.3", 24), true),
        (removed("10.1.2.3", 24), true),
        (added("2001:db8::5", 64), true),
        (removed("2001:db8::5", 64), true),
        (added("fe80::1", 64), false),
        (removed("fe80::1234:5678", 64), false),
        (added("febf::1", 64), false),
        (added("fec0::1", 64), true),
        (added("169.254.7.8", 16), false),
        (added("127.0.0.2", 8), false),
        (added("::1", 128), false),
        (added("::ffff:127.0.0.1", 128), false),
        (added("0.0.0.0", 0), false),
        (route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.1")), true),
        (route(RouteOp::Removed, "0.0.0.0", 0, None), true),
        (route(RouteOp::Added, "::", 0, Some("fe80::1")), true),
        (route(RouteOp::Added, "10.0.0.0", 24, None), false),
        (
            route(RouteOp::Removed, "10.8.0.0", 16, Some("10.0.0.1")),
            false,
        ),
        (route(RouteOp::Added, "fe80::", 64, None), false),
        (link(true, 3), false),
        (link(false, 3), true),
        (
            NetChange {
                kind: NetChangeKind::Resumed {
                    slept: Duration::from_secs(600),
                },
                interface: None,
            },
            true,
        ),
        (
            NetChange {
                kind: NetChangeKind::EventsLost,
                interface: None,
            },
            true,
        ),
    ];
    for (change, want) in rows {
        assert_eq!(change.restarts_discovery(), *want, "{change} ({change:?})");
    }
}

#[test]
fn temporary_ipv6_addresses_do_not_restart_discovery() {
    let c = NetChange {
        kind: NetChangeKind::AddressAdded {
            addr: "2001:db8::abcd".parse().unwrap(),
            prefix_len: 64,
            temporary: true,
        },
        interface: iface(2),
    };
    assert!(!c.restarts_discovery());
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

proptest! {
    /// Only the default route restarts discovery, whatever else the route
    /// message says.
    #[test]
    fn only_the_default_route_restarts(
        removed in any::<bool>(),
        dst in arb_ip(),
        prefix_len in 0u8..=128,
        gw in proptest::option::of(arb_ip()),
    ) {
        let c = NetChange {
            kind: NetChangeKind::Route {
                op: if removed { RouteOp::Removed } else { RouteOp::Added },
                family: if dst.is_ipv4() { Family::V4 } else { Family::V6 },
                destination: dst,
                prefix_len,
                gateway: gw,
                table: 254,
                metric: 0,
            },
            interface: None,
        };
        prop_assert_eq!(c.restarts_discovery(), prefix_len == 0);
    }

    /// IPv6 link-local (fe80::/10) address churn never restarts discovery.
    #[test]
    fn link_local_v6_never_restarts(low in any::<u128>(), is_add in any::<bool>(), p in 0u8..=128) {
        let bits = (0xfe80u128 << 112) | (low & ((1u128 << 118) - 1));
        let addr = IpAddr::V6(Ipv6Addr::from(bits));
        let kind = if is_add {
            NetChangeKind::AddressAdded { addr, prefix_len: p, temporary: false }
        } else {
            NetChangeKind::AddressRemoved { addr, prefix_len: p, temporary: false }
        };
        let c = NetChange { kind, interface: iface(1) };
        prop_assert!(!c.restarts_discovery());
    }

    /// Loopback addresses never restart discovery.
    #[test]
    fn loopback_never_restarts(low in any::<u32>()) {
        let addr = IpAddr::V4(Ipv4Addr::from((127u32 << 24) | (low & 0x00ff_ffff)));
        let kind = NetChangeKind::AddressAdded { addr, prefix_len: 8, temporary: false };
        let c = NetChange { kind, interface: iface(1) };
        prop_assert!(!c.restarts_discovery());
    }

    /// A global unicast IPv4 address (outside 0/8, 127/8, 169.254/16 and
    /// multicast) restarts discovery, added or removed.
    #[test]
    fn ordinary_v4_addresses_restart(v in any::<u32>(), is_add in any::<bool>()) {
        let a = Ipv4Addr::from(v);
        prop_assume!(!(a.is_loopback() || a.is_link_local() || a.is_multicast()
            || a.is_unspecified()));
        let addr = IpAddr::V4(a);
        let kind = if is_add {
            NetChangeKind::AddressAdded { addr, prefix_len: 24, temporary: false }
        } else {
            NetChangeKind::AddressRemoved { addr, prefix_len: 24, temporary: false }
        };
        let c = NetChange { kind, interface: iface(1) };
        prop_assert!(c.restarts_discovery());
    }
}

// ---- resume detection ----

fn sample(with_suspend_ms: u64, awake_ms: u64) -> ClockSample {
    ClockSample {
        with_suspend: Duration::from_millis(with_suspend_ms),
        awake: Duration::from_millis(awake_ms),
    }
}

#[test]
fn resume_is_the_growth_of_the_clock_gap() {
    // Awake for 10 s, asleep for 1 h.
    let a = sample(50_000, 40_000);
    let b = sample(50_000 + 10_000 + 3_600_000, 50_000);
    assert_eq!(resumed_between(a, b), Some(Duration::from_secs(3600)));
    // Jitter between the two reads is not a sleep.
    assert_eq!(resumed_between(a, sample(60_003, 50_000)), None);
    // Exactly the threshold is not a sleep; just above is.
    assert_eq!(resumed_between(a, sample(62_000, 50_000)), None);
    assert_eq!(
        resumed_between(a, sample(62_001, 50_000)),
        Some(Duration::from_millis(2_001))
    );
    // Samples out of order say nothing.
    assert_eq!(resumed_between(b, a), None);
}

proptest! {
    #[test]
    fn resumed_between_finds_the_sleep(
        start_total in 0u64..1 << 40,
        offset in 0u64..1 << 30,
        awake in 0u64..1 << 30,
        slept in 0u64..1 << 30,
    ) {
        let a = sample(start_total + offset, start_total);
        let b = sample(start_total + offset + awake + slept, start_total + awake);
        let want = (Duration::from_millis(slept) > RESUME_THRESHOLD)
            .then(|| Duration::from_millis(slept));
        prop_assert_eq!(resumed_between(a, b), want);
    }

    /// The awake clock running ahead of the other (a read-order artefact)
    /// is never a resume.
    #[test]
    fn awake_clock_ahead_is_not_a_resume(t in 0u64..1 << 40, d in 0u64..1 << 30, extra in 0u64..1 << 20) {
        let a = sample(t, t);
        let b = sample(t + d, t + d + extra);
        prop_assert_eq!(resumed_between(a, b), None);
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
#[test]
fn clocks_sampled_now_show_no_resume() {
    let a = sample_clocks().unwrap();
    let b = sample_clocks().unwrap();
    assert!(b.with_suspend >= a.with_suspend && b.awake >= a.awake);
    assert!(a.with_suspend >= a.awake || cfg!(target_os = "macos"));
}

#[test]
fn windows_interrupt_times_are_100ns_ticks_and_a_sleep_shows() {
    // 1 h 0.5 s with suspend, 1 h awake (QueryInterruptTime, Unbiased).
    let a = super::windows_clock_sample(36_005_000_000, 36_000_000_000);
    assert_eq!(a.with_suspend, Duration::from_millis(3_600_500));
    assert_eq!(a.awake, Duration::from_secs(3_600));
    assert_eq!(
        super::windows_clock_sample(1, 12_345_678).awake,
        Duration::new(1, 234_567_800)
    );
    // One minute later, 50 s of it suspended.
    let b = super::windows_clock_sample(36_605_000_000, 36_100_000_000);
    assert_eq!(resumed_between(a, b), Some(Duration::from_secs(50)));
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
#[test]
fn unsupported_os_fails_closed() {
    assert!(matches!(
        sample_clocks(),
        Err(NetWatchError::Unsupported { .. })
    ));
    assert!(matches!(watch(), Err(NetWatchError::Unsupported { .. })));
}

#[cfg(windows)]
#[test]
fn windows_has_clocks_but_no_watcher_yet() {
    assert!(matches!(watch(), Err(NetWatchError::Unsupported { .. })));
}

// ---- the tracker: re-announcements are not changes ----

#[test]
fn tracker_reports_an_address_once() {
    let mut t = Tracker::default();
    assert!(t.observe(added("10.0.0.2", 24)).is_some());
    // Linux re-sends the address when its lifetime is refreshed.
    assert!(t.observe(added("10.0.0.2", 24)).is_none());
    assert!(t.observe(removed("10.0.0.2", 24)).is_some());
    assert!(t.observe(added("10.0.0.2", 24)).is_some());
    // An unknown removal is still reported (state may have been missed).
    assert!(t.observe(removed("10.9.9.9", 24)).is_some());
}

#[test]
fn tracker_seeded_state_is_not_reported() {
    let mut t = Tracker::default();
    t.seed(added("10.0.0.2", 24));
    t.seed(route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.1")));
    t.seed(link(true, 2));
    assert!(t.observe(added("10.0.0.2", 24)).is_none());
    assert!(
        t.observe(route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.1")))
            .is_none()
    );
    assert!(t.observe(link(true, 2)).is_none());
    // A new gateway is a change.
    assert!(
        t.observe(route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.9")))
            .is_some()
    );
    assert!(t.observe(link(false, 2)).is_some());
}

#[test]
fn tracker_replaced_route_is_a_change_both_ways() {
    let mut t = Tracker::default();
    t.seed(route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.1")));
    // `ip route replace default via 10.0.0.3`: no removal of the old one.
    assert!(
        t.observe(route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.3")))
            .is_some()
    );
    // Back to the first gateway: a change again, not a known route.
    assert!(
        t.observe(route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.1")))
            .is_some()
    );
    assert!(
        t.observe(route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.1")))
            .is_none()
    );
    // A second default route with another metric is a route of its own.
    let mut wifi = route(RouteOp::Added, "0.0.0.0", 0, Some("192.168.1.1"));
    if let NetChangeKind::Route { metric, .. } = &mut wifi.kind {
        *metric = 600;
    }
    assert!(t.observe(wifi.clone()).is_some());
    assert!(t.observe(wifi).is_none());
    assert!(
        t.observe(route(RouteOp::Added, "0.0.0.0", 0, Some("10.0.0.1")))
            .is_none()
    );
}

#[test]
fn tracker_link_down_counts_only_after_up() {
    let mut t = Tracker::default();
    // A link created down (a tunnel, a veth) is not a link going down.
    assert!(t.observe(link(false, 7)).is_none());
    assert!(t.observe(link(false, 7)).is_none());
    assert!(t.observe(link(true, 7)).is_some());
    assert!(t.observe(link(true, 7)).is_none());
    assert!(t.observe(link(false, 7)).is_some());
    assert!(t.observe(link(false, 7)).is_none());
}

// ---- macOS routing messages, parsed from constructed bytes ----

/// Builds routing-socket messages with the macOS layout.
mod bsd {
    use super::route_msg::*;

    pub fn sin(a: [u8; 4]) -> Vec<u8> {
        let mut v = vec![16, AF_INET, 0, 0];
        v.extend_from_slice(&a);
        v.extend_from_slice(&[0; 8]);
        v
    }

    pub fn sin6(a: [u8; 16]) -> Vec<u8> {
        let mut v = vec![28, AF_INET6, 0, 0, 0, 0, 0, 0];
        v.extend_from_slice(&a);
        v.extend_from_slice(&[0; 4]);
        v
    }

    /// A netmask as the kernel shortens it: up to its last non-zero byte.
    pub fn mask4(prefix: u8) -> Vec<u8> {
        let bits = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        };
        let b = bits.to_be_bytes();
        let used = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
        if used == 0 {
            return vec![0];
        }
        let mut v = vec![(4 + used) as u8, 0xff, 0, 0];
        v.extend_from_slice(&b[..used]);
        v
    }

    pub fn mask6(prefix: u8) -> Vec<u8> {
        let bits = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(prefix))
        };
        let b = bits.to_be_bytes();
        let used = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
        if used == 0 {
            return vec![0];
        }
        let mut v = vec![(8 + used) as u8, AF_INET6, 0, 0, 0, 0, 0, 0];
        v.extend_from_slice(&b[..used]);
        v
    }

    pub fn sdl(index: u16, name: &str) -> Vec<u8> {
        let mut v = vec![0, AF_LINK];
        v.extend_from_slice(&index.to_ne_bytes());
        v.extend_from_slice(&[6, name.len() as u8, 6, 0]);
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        v[0] = v.len() as u8;
        v
    }

    /// Appends sockaddrs with their 4-byte padding and sets msglen.
    fn finish(mut hdr: Vec<u8>, addrs: &[(usize, Vec<u8>)]) -> Vec<u8> {
        for (_, sa) in addrs {
            let step = if sa[0] == 0 {
                4
            } else {
                usize::from(sa[0]).next_multiple_of(4)
            };
            let mut padded = sa.clone();
            padded.resize(step, 0);
            hdr.extend_from_slice(&padded);
        }
        let len = hdr.len() as u16;
        hdr[0..2].copy_from_slice(&len.to_ne_bytes());
        hdr
    }

    fn mask_bits(addrs: &[(usize, Vec<u8>)]) -> i32 {
        addrs.iter().fold(0, |m, (i, _)| m | (1 << i))
    }

    pub fn rt(t: u8, index: u16, flags: i32, errno: i32, addrs: &[(usize, Vec<u8>)]) -> Vec<u8> {
        let mut h = vec![0u8; RT_MSGHDR_LEN];
        h[2] = RTM_VERSION;
        h[3] = t;
        h[4..6].copy_from_slice(&index.to_ne_bytes());
        h[8..12].copy_from_slice(&flags.to_ne_bytes());
        h[12..16].copy_from_slice(&mask_bits(addrs).to_ne_bytes());
        h[16..20].copy_from_slice(&1234i32.to_ne_bytes()); // rtm_pid
        h[24..28].copy_from_slice(&errno.to_ne_bytes());
        finish(h, addrs)
    }

    pub fn ifa(t: u8, index: u16, addrs: &[(usize, Vec<u8>)]) -> Vec<u8> {
        let mut h = vec![0u8; IFA_MSGHDR_LEN];
        h[2] = RTM_VERSION;
        h[3] = t;
        h[4..8].copy_from_slice(&mask_bits(addrs).to_ne_bytes());
        h[12..14].copy_from_slice(&index.to_ne_bytes());
        finish(h, addrs)
    }

    pub fn ifinfo(index: u16, flags: i32, addrs: &[(usize, Vec<u8>)]) -> Vec<u8> {
        let mut h = vec![0u8; IF_MSGHDR_LEN];
        h[2] = RTM_VERSION;
        h[3] = RTM_IFINFO;
        h[4..8].copy_from_slice(&mask_bits(addrs).to_ne_bytes());
        h[8..12].copy_from_slice(&flags.to_ne_bytes());
        h[12..14].copy_from_slice(&index.to_ne_bytes());
        h[16] = 6; // if_data.ifi_type: IFT_ETHER
        finish(h, addrs)
    }
}

const RTF_UP: i32 = 0x1;
const RTF_GATEWAY: i32 = 0x2;
const RTF_STATIC: i32 = 0x800;

#[test]
fn bsd_default_route_added_v4() {
    // `route add default 192.168.1.1`: dst 0.0.0.0, gateway, empty netmask.
    let m = bsd::rt(
        route_msg::RTM_ADD,
        4,
        RTF_UP | RTF_GATEWAY | RTF_STATIC,
        0,
        &[
            (0, bsd::sin([0, 0, 0, 0])),
            (1, bsd::sin([192, 168, 1, 1])),
            (2, bsd::mask4(0)),
        ],
    );
    let got = route_msg::parse(&m);
    assert_eq!(
        got,
        vec![NetChange {
            kind: NetChangeKind::Route {
                op: RouteOp::Added,
                family: Family::V4,
                destination: "0.0.0.0".parse().unwrap(),
                prefix_len: 0,
                gateway: Some("192.168.1.1".parse().unwrap()),
                table: 0,
                metric: 0,
            },
            interface: Some(Interface {
                index: 4,
                name: None
            }),
        }]
    );
    assert!(got[0].restarts_discovery());
}

#[test]
fn bsd_default_route_removed_v6_and_change_is_added() {
    let addrs = [
        (0, bsd::sin6([0; 16])),
        (
            1,
            bsd::sin6([0xfe, 0x80, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ),
        (2, bsd::mask6(0)),
    ];
    let del = route_msg::parse(&bsd::rt(
        route_msg::RTM_DELETE,
        4,
        RTF_UP | RTF_GATEWAY,
        0,
        &addrs,
    ));
    let NetChangeKind::Route {
        op,
        family,
        prefix_len,
        gateway,
        ..
    } = &del[0].kind
    else {
        panic!("not a route: {del:?}");
    };
    assert_eq!(
        (*op, *family, *prefix_len),
        (RouteOp::Removed, Family::V6, 0)
    );
    // The embedded scope (KAME) is not part of the gateway's address.
    assert_eq!(*gateway, Some("fe80::1".parse().unwrap()));
    assert!(del[0].restarts_discovery());
    let change = route_msg::parse(&bsd::rt(
        route_msg::RTM_CHANGE,
        4,
        RTF_UP | RTF_GATEWAY,
        0,
        &addrs,
    ));
    assert!(matches!(
        change[0].kind,
        NetChangeKind::Route {
            op: RouteOp::Added,
            prefix_len: 0,
            ..
        }
    ));
}

#[test]
fn bsd_network_routes_host_routes_and_neighbours() {
    // 10.8.0.0/16 via a VPN: a route, not the default.
    let net = route_msg::parse(&bsd::rt(
        route_msg::RTM_ADD,
        9,
        RTF_UP | RTF_GATEWAY,
        0,
        &[
            (0, bsd::sin([10, 8, 0, 0])),
            (1, bsd::sin([10, 8, 0, 1])),
            (2, bsd::mask4(16)),
        ],
    ));
    assert!(matches!(
        net[0].kind,
        NetChangeKind::Route { prefix_len: 16, .. }
    ));
    assert!(!net[0].restarts_discovery());
    // A host route to 0.0.0.0 is not the default route.
    let host = route_msg::parse(&bsd::rt(
        route_msg::RTM_ADD,
        9,
        RTF_UP | route_msg::RTF_HOST,
        0,
        &[(0, bsd::sin([0, 0, 0, 0])), (1, bsd::sin([10, 8, 0, 1]))],
    ));
    assert!(matches!(
        host[0].kind,
        NetChangeKind::Route { prefix_len: 32, .. }
    ));
    // ARP entries, clones and failed requests are skipped.
    for (flags, errno) in [
        (RTF_UP | route_msg::RTF_LLINFO | route_msg::RTF_HOST, 0),
        (RTF_UP | route_msg::RTF_WASCLONED | route_msg::RTF_HOST, 0),
        (RTF_UP | RTF_GATEWAY, 17),
    ] {
        let m = bsd::rt(
            route_msg::RTM_ADD,
            4,
            flags,
            errno,
            &[
                (0, bsd::sin([0, 0, 0, 0])),
                (1, bsd::sin([192, 168, 1, 1])),
                (2, bsd::mask4(0)),
            ],
        );
        assert_eq!(
            route_msg::parse(&m),
            vec![],
            "flags {flags:#x} errno {errno}"
        );
    }
}

#[test]
fn bsd_addresses_added_and_removed() {
    let new = bsd::ifa(
        route_msg::RTM_NEWADDR,
        5,
        &[
            (2, bsd::mask4(24)),
            (4, bsd::sdl(5, "en0")),
            (5, bsd::sin([192, 168, 1, 23])),
            (7, bsd::sin([192, 168, 1, 255])),
        ],
    );
    assert_eq!(
        route_msg::parse(&new),
        vec![NetChange {
            kind: NetChangeKind::AddressAdded {
                addr: "192.168.1.23".parse().unwrap(),
                prefix_len: 24,
                temporary: false,
            },
            interface: Some(Interface {
                index: 5,
                name: Some("en0".into())
            }),
        }]
    );
    let del = bsd::ifa(
        route_msg::RTM_DELADDR,
        5,
        &[
            (2, bsd::mask6(64)),
            (4, bsd::sdl(5, "en0")),
            (
                5,
                bsd::sin6([0xfe, 0x80, 0, 5, 0, 0, 0, 0, 0xa, 0, 0, 0, 0, 0, 0, 1]),
            ),
        ],
    );
    let got = route_msg::parse(&del);
    assert_eq!(
        got[0].kind,
        NetChangeKind::AddressRemoved {
            addr: "fe80::a00:0:0:1".parse().unwrap(),
            prefix_len: 64,
            temporary: false,
        }
    );
    assert!(!got[0].restarts_discovery());
}

#[test]
fn bsd_link_up_down_and_loopback() {
    const IFF_BROADCAST: i32 = 0x2;
    let up = route_msg::parse(&bsd::ifinfo(
        5,
        route_msg::IFF_UP | route_msg::IFF_RUNNING | IFF_BROADCAST,
        &[(4, bsd::sdl(5, "en0"))],
    ));
    assert_eq!(up, vec![link_named(true, 5, "en0")]);
    let down = route_msg::parse(&bsd::ifinfo(5, route_msg::IFF_UP | IFF_BROADCAST, &[]));
    assert_eq!(down[0].kind, NetChangeKind::LinkDown);
    let lo = bsd::ifinfo(
        1,
        route_msg::IFF_UP | route_msg::IFF_RUNNING | route_msg::IFF_LOOPBACK,
        &[],
    );
    assert_eq!(route_msg::parse(&lo), vec![]);
}

fn link_named(up: bool, index: u32, name: &str) -> NetChange {
    NetChange {
        kind: if up {
            NetChangeKind::LinkUp
        } else {
            NetChangeKind::LinkDown
        },
        interface: Some(Interface {
            index,
            name: Some(name.into()),
        }),
    }
}

#[test]
fn bsd_several_messages_in_one_read_and_bad_ones_skipped() {
    let mut buf = bsd::ifinfo(5, route_msg::IFF_UP | route_msg::IFF_RUNNING, &[]);
    let mut old = bsd::ifinfo(6, route_msg::IFF_UP | route_msg::IFF_RUNNING, &[]);
    old[2] = 4; // another RTM_VERSION
    buf.extend_from_slice(&old);
    buf.extend_from_slice(&bsd::rt(
        route_msg::RTM_DELETE,
        4,
        RTF_UP | RTF_GATEWAY,
        0,
        &[
            (0, bsd::sin([0, 0, 0, 0])),
            (1, bsd::sin([192, 168, 1, 1])),
            (2, bsd::mask4(0)),
        ],
    ));
    let got = route_msg::parse(&buf);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].kind, NetChangeKind::LinkUp);
    assert!(matches!(
        got[1].kind,
        NetChangeKind::Route {
            op: RouteOp::Removed,
            ..
        }
    ));
    // A message whose sockaddrs run past its end is dropped, not misread.
    let mut cut = bsd::ifa(
        route_msg::RTM_NEWADDR,
        5,
        &[(2, bsd::mask4(24)), (5, bsd::sin([192, 168, 1, 23]))],
    );
    cut.truncate(cut.len() - 8);
    let len = cut.len() as u16;
    cut[0..2].copy_from_slice(&len.to_ne_bytes());
    assert_eq!(route_msg::parse(&cut), vec![]);
}

proptest! {
    /// Whatever the bytes, the parser returns (it never panics or loops).
    #[test]
    fn bsd_parser_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = route_msg::parse(&bytes);
    }

    /// The netmask's prefix length survives the kernel's shortening.
    #[test]
    fn bsd_netmask_prefix(p4 in 0u8..=32, p6 in 0u8..=128) {
        let m = route_msg::parse(&bsd::rt(route_msg::RTM_ADD, 1, RTF_UP, 0,
            &[(0, bsd::sin([10, 0, 0, 0])), (2, bsd::mask4(p4))]));
        let is_p4 = matches!(m[0].kind, NetChangeKind::Route { prefix_len, .. } if prefix_len == p4);
        prop_assert!(is_p4);
        let m = route_msg::parse(&bsd::rt(route_msg::RTM_ADD, 1, RTF_UP, 0,
            &[(0, bsd::sin6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
              (2, bsd::mask6(p6))]));
        let is_p6 = matches!(m[0].kind, NetChangeKind::Route { prefix_len, .. } if prefix_len == p6);
        prop_assert!(is_p6);
    }
}

#[cfg(target_os = "linux")]
mod linux_kernel;
#[cfg(target_os = "linux")]
mod rtnl_vs_crate;
