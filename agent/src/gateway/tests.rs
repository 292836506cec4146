//! The Linux parsers on recorded `/proc/net` files, and the reader on a
//! tempdir standing in for `/proc`.

use std::net::{IpAddr, Ipv4Addr};

use super::*;

/// A laptop with Wi-Fi and a docked Ethernet (two default routes), a VPN
/// host route, an on-link default on a point-to-point link, and a reject
/// route.
const ROUTE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
enp0s31f6\t00000000\t010A000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
ppp0\t00000000\t00000000\t0001\t0\t0\t900\t00000000\t0\t0\t0
wlan0\t0000A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0
tun0\t0A0B0C0D\t0100A8C0\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0
enp0s31f6\t00000000\t020A000A\t0203\t0\t0\t50\t00000000\t0\t0\t0
";

/// Two IPv6 defaults (link-local via RA on eth0, global on wlan0), an
/// on-link default, the kernel's unreachable default on lo, and a prefix.
const IPV6_ROUTE: &str = "\
20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000001 00000000 00000003    wlan0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000064 00000001 00000000 00450003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 00000200 00000001 00000000 00000001     ppp0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";

const IF_INET6: &str = "\
00000000000000000000000000000001 01 80 10 80       lo
fe80000000000000021122fffe334455 02 40 20 80     eth0
20010db8000000000000000000000042 03 40 00 00    wlan0
fe800000000000000211aafffebbccdd 03 40 20 80    wlan0
";

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn ipv4_defaults_with_a_gateway_only() {
    let found = parse_ipv4_routes(ROUTE);
    let summary: Vec<(IpAddr, &str, u32)> = found
        .iter()
        .map(|g| (g.addr, g.interface.as_str(), g.metric))
        .collect();
    // The on-link default (ppp0), the subnet, the host route and the
    // reject route are not gateways.
    assert_eq!(
        summary,
        [
            (v4(192, 168, 0, 1), "wlan0", 600),
            (v4(10, 0, 10, 1), "enp0s31f6", 100),
        ]
    );
}

#[test]
fn ipv6_defaults_skip_on_link_and_unreachable() {
    let found = parse_ipv6_routes(IPV6_ROUTE);
    let summary: Vec<(String, &str, u32)> = found
        .iter()
        .map(|g| (g.addr.to_string(), g.interface.as_str(), g.metric))
        .collect();
    assert_eq!(
        summary,
        [
            ("2001:db8::1".to_owned(), "wlan0", 1024),
            ("fe80::1".to_owned(), "eth0", 100),
        ]
    );
}

#[test]
fn interface_indexes_from_if_inet6() {
    assert_eq!(
        parse_if_inet6(IF_INET6),
        [
            ("lo".to_owned(), 1),
            ("eth0".to_owned(), 2),
            ("wlan0".to_owned(), 3)
        ]
    );
}

#[test]
fn malformed_lines_are_skipped() {
    assert!(parse_ipv4_routes("eth0 zz 0100A8C0 0003 0 0 0 00000000\n\n").is_empty());
    assert!(parse_ipv6_routes("0000 00 short\n").is_empty());
    assert!(parse_if_inet6("fe80 zz 40 20 80 eth0\n").is_empty());
}

fn proc_dir(route: &str, ipv6_route: Option<&str>, if_inet6: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("net")).unwrap();
    std::fs::write(dir.path().join("net/route"), route).unwrap();
    if let Some(text) = ipv6_route {
        std::fs::write(dir.path().join("net/ipv6_route"), text).unwrap();
    }
    if let Some(text) = if_inet6 {
        std::fs::write(dir.path().join("net/if_inet6"), text).unwrap();
    }
    dir
}

#[test]
fn gateways_from_proc_in_order_with_the_link_local_scope() {
    let dir = proc_dir(ROUTE, Some(IPV6_ROUTE), Some(IF_INET6));
    let found = default_gateways_from_proc(dir.path()).unwrap();
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    // IPv4 by metric, then IPv6 by metric; the link-local gateway carries
    // eth0's index for the connect.
    assert_eq!(
        shown,
        [
            "10.0.10.1 on enp0s31f6",
            "192.168.0.1 on wlan0",
            "fe80::1%eth0 on eth0",
            "2001:db8::1 on wlan0",
        ]
    );
    assert_eq!(found[2].scope_id, 2);
    assert_eq!(found[2].socket_addr(80).to_string(), "[fe80::1%2]:80");
    // A global address needs no scope.
    assert_eq!(found[3].socket_addr(80).to_string(), "[2001:db8::1]:80");
}

#[test]
fn no_ipv6_files_means_no_ipv6_gateway() {
    let dir = proc_dir(ROUTE, None, None);
    let found = default_gateways_from_proc(dir.path()).unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|g| g.addr.is_ipv4()));
}

#[test]
fn a_missing_route_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = default_gateways_from_proc(dir.path()).unwrap_err();
    assert!(matches!(err, GatewayError::Read { .. }));
    assert!(err.to_string().contains("net/route"), "{err}");
}

#[test]
fn duplicates_are_removed() {
    let twice = format!("{ROUTE}wlan0\t00000000\t0100A8C0\t0003\t0\t0\t700\t00000000\t0\t0\t0\n");
    let dir = proc_dir(&twice, None, None);
    let found = default_gateways_from_proc(dir.path()).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].metric, 600);
}

#[test]
fn the_unsupported_message_tells_the_administrator_what_to_set() {
    let err = GatewayError::Unsupported { os: "Windows" };
    assert_eq!(
        err.to_string(),
        "gateway discovery is not available on Windows yet; set DiscoveryHost or CallHomeList in the profile"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn this_machine_s_table_parses() {
    // Whatever the CI machine's routes are, reading them works.
    default_gateways().unwrap();
}

// The macOS routing socket exchange, on bytes.

const PID: i32 = 4242;

/// A reply as the kernel writes it: our request's header with the flags,
/// index and address mask of the route, then DST, GATEWAY, NETMASK, IFP.
fn reply(flags: i32, index: u16, gateway: &[u8], seq: i32, errno: i32) -> Vec<u8> {
    let mut msg = vec![0u8; bsd::RT_MSGHDR_LEN];
    msg[2] = bsd::RTM_VERSION;
    msg[3] = bsd::RTM_GET;
    msg[4..6].copy_from_slice(&index.to_ne_bytes());
    msg[8..12].copy_from_slice(&flags.to_ne_bytes());
    let addrs = bsd::RTA_DST | bsd::RTA_GATEWAY | bsd::RTA_NETMASK | bsd::RTA_IFP;
    msg[12..16].copy_from_slice(&addrs.to_ne_bytes());
    msg[16..20].copy_from_slice(&PID.to_ne_bytes());
    msg[20..24].copy_from_slice(&seq.to_ne_bytes());
    msg[24..28].copy_from_slice(&errno.to_ne_bytes());
    // DST 0.0.0.0
    msg.extend_from_slice(&[16, bsd::AF_INET, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(gateway);
    while !msg.len().is_multiple_of(4) {
        msg.push(0);
    }
    // NETMASK: zero length.
    msg.extend_from_slice(&[0, 0, 0, 0]);
    // IFP: sockaddr_dl "en0".
    let mut dl = [0u8; 20];
    dl[0] = 20;
    dl[1] = bsd::AF_LINK;
    dl[2..4].copy_from_slice(&index.to_ne_bytes());
    dl[5] = 3;
    dl[8..11].copy_from_slice(b"en0");
    msg.extend_from_slice(&dl);
    let len = msg.len() as u16;
    msg[0..2].copy_from_slice(&len.to_ne_bytes());
    msg
}

fn sin(a: [u8; 4]) -> Vec<u8> {
    let mut sa = vec![16, bsd::AF_INET, 0, 0];
    sa.extend_from_slice(&a);
    sa.extend_from_slice(&[0; 8]);
    sa
}

const UP_GW: i32 = bsd::RTF_UP | bsd::RTF_GATEWAY;

#[test]
fn the_request_asks_for_the_exact_default_route_and_its_interface() {
    let req = rtm_get_default_request(false, PID, 7);
    assert_eq!(usize::from(u16::from_ne_bytes([req[0], req[1]])), req.len());
    assert_eq!(req.len(), bsd::RT_MSGHDR_LEN + 16 + 4 + 20);
    assert_eq!((req[2], req[3]), (bsd::RTM_VERSION, bsd::RTM_GET));
    let addrs = i32::from_ne_bytes(req[12..16].try_into().unwrap());
    assert_eq!(addrs, bsd::RTA_DST | bsd::RTA_NETMASK | bsd::RTA_IFP);
    assert_eq!(i32::from_ne_bytes(req[16..20].try_into().unwrap()), PID);
    assert_eq!(i32::from_ne_bytes(req[20..24].try_into().unwrap()), 7);
    // The netmask is the zero-length sockaddr: /0 exactly, not a VPN's 0/1.
    assert_eq!(
        &req[bsd::RT_MSGHDR_LEN + 16..bsd::RT_MSGHDR_LEN + 20],
        &[0, 0, 0, 0]
    );
    let v6 = rtm_get_default_request(true, PID, 8);
    assert_eq!(v6.len(), bsd::RT_MSGHDR_LEN + 28 + 4 + 20);
    assert_eq!(v6[bsd::RT_MSGHDR_LEN + 1], bsd::AF_INET6);
}

#[test]
fn an_ipv4_gateway_reply_parses() {
    let msg = reply(UP_GW, 4, &sin([192, 168, 1, 1]), 1, 0);
    assert_eq!(
        parse_rtm_get_reply(&msg, PID, 1),
        RtmGetReply::Gateway(Gateway {
            addr: v4(192, 168, 1, 1),
            interface: "en0".into(),
            scope_id: 4,
            metric: 0,
        })
    );
}

#[test]
fn a_link_local_ipv6_gateway_loses_its_embedded_scope() {
    let mut sa = vec![28, bsd::AF_INET6, 0, 0, 0, 0, 0, 0];
    // fe80:0004::1 — the KAME-embedded index 4.
    sa.extend_from_slice(&[0xfe, 0x80, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    sa.extend_from_slice(&[0, 0, 0, 0]);
    let RtmGetReply::Gateway(gw) = parse_rtm_get_reply(&reply(UP_GW, 4, &sa, 2, 0), PID, 2) else {
        panic!("expected a gateway");
    };
    assert_eq!(gw.addr.to_string(), "fe80::1");
    assert_eq!(gw.socket_addr(80).to_string(), "[fe80::1%4]:80");
}

#[test]
fn other_messages_errors_and_on_link_routes_are_told_apart() {
    let ours = reply(UP_GW, 4, &sin([10, 0, 0, 1]), 1, 0);
    assert_eq!(parse_rtm_get_reply(&ours, PID + 1, 1), RtmGetReply::NotOurs);
    assert_eq!(parse_rtm_get_reply(&ours, PID, 2), RtmGetReply::NotOurs);
    assert_eq!(
        parse_rtm_get_reply(&ours[..50], PID, 1),
        RtmGetReply::NotOurs
    );
    assert_eq!(
        parse_rtm_get_reply(&reply(UP_GW, 4, &sin([10, 0, 0, 1]), 1, 3), PID, 1),
        RtmGetReply::Errno(3)
    );
    // An on-link default: the "gateway" is the interface's link sockaddr.
    let mut link = [0u8; 20];
    link[0] = 20;
    link[1] = bsd::AF_LINK;
    assert_eq!(
        parse_rtm_get_reply(&reply(bsd::RTF_UP, 4, &link, 1, 0), PID, 1),
        RtmGetReply::NoGateway
    );
    assert_eq!(
        parse_rtm_get_reply(
            &reply(UP_GW | bsd::RTF_REJECT, 4, &sin([10, 0, 0, 1]), 1, 0),
            PID,
            1
        ),
        RtmGetReply::NoGateway
    );
}

#[test]
fn gateway_mode_parses_auto_off_and_addresses() {
    use std::net::SocketAddr;
    assert_eq!("auto".parse::<GatewayMode>(), Ok(GatewayMode::Auto));
    assert_eq!(" OFF ".parse::<GatewayMode>(), Ok(GatewayMode::Off));
    let fixed = |s: &str| match s.parse::<GatewayMode>() {
        Ok(GatewayMode::Fixed(addr)) => addr,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(
        fixed("192.0.2.1"),
        "192.0.2.1:80".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(fixed("127.0.0.1:8080").port(), 8080);
    assert_eq!(fixed("[2001:db8::1]:81").port(), 81);
    assert_eq!(fixed("2001:db8::1").port(), 80);
    assert_eq!(fixed("[2001:db8::1]").port(), 80);
    for bad in ["", "gateway.lab.test", "192.0.2.1:port", "1.2.3.4:99999"] {
        let err = bad.parse::<GatewayMode>().unwrap_err().to_string();
        assert!(err.contains("auto") && err.contains("off"), "{bad}: {err}");
    }
    assert!(!GatewayMode::Off.enabled());
    assert!(GatewayMode::Auto.enabled());
    assert_eq!(GatewayMode::default(), GatewayMode::Auto);
}

#[test]
fn a_fixed_gateway_is_asked_on_its_own_port() {
    let mode: GatewayMode = "127.0.0.1:8080".parse().unwrap();
    let (gws, port) = mode.gateways().unwrap();
    assert_eq!(port, 8080);
    assert_eq!(gws.len(), 1);
    assert_eq!(gws[0].addr, v4(127, 0, 0, 1));
    assert_eq!(mode.to_string(), "127.0.0.1:8080");
    let (none, _) = GatewayMode::Off.gateways().unwrap();
    assert!(none.is_empty());
}
