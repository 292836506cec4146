//! Pure parsers of Linux's `/proc/net/route`, `/proc/net/ipv6_route` and
//! `/proc/net/if_inet6` (the formats of `net/ipv4/fib_trie.c`,
//! `net/ipv6/route.c` and `net/ipv6/addrconf.c`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Gateway;

/// `RTF_UP`.
const RTF_UP: u32 = 0x1;
/// `RTF_GATEWAY`: the route has a next hop.
const RTF_GATEWAY: u32 = 0x2;
/// `RTF_REJECT`: an unreachable/prohibit route, not a way out.
const RTF_REJECT: u32 = 0x200;

fn usable(flags: u32) -> bool {
    flags & RTF_UP != 0 && flags & RTF_GATEWAY != 0 && flags & RTF_REJECT == 0
}

/// The IPv4 default gateways of `/proc/net/route`, in file order.
///
/// Columns: `Iface Destination Gateway Flags RefCnt Use Metric Mask ...`;
/// addresses are the kernel's `__be32` printed as a native `u32` in hex
/// (`0102A8C0` is 192.168.2.1 on a little-endian machine). A default route
/// has destination and mask 0. Malformed lines and the header are skipped.
pub fn parse_ipv4_routes(text: &str) -> Vec<Gateway> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let dest = u32::from_str_radix(f[1], 16).ok()?;
            let gateway = u32::from_str_radix(f[2], 16).ok()?;
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            let metric: u32 = f[6].parse().ok()?;
            let mask = u32::from_str_radix(f[7], 16).ok()?;
            if dest != 0 || mask != 0 || gateway == 0 || !usable(flags) {
                return None;
            }
            Some(Gateway {
                // The kernel printed the address's bytes as a native integer.
                addr: IpAddr::V4(Ipv4Addr::from(gateway.to_ne_bytes())),
                interface: f[0].to_owned(),
                scope_id: 0,
                metric,
            })
        })
        .collect()
}

/// The IPv6 default gateways of `/proc/net/ipv6_route`, in file order, with
/// `scope_id` 0 (the caller fills it from [`parse_if_inet6`]).
///
/// Columns: `dest dest_plen src src_plen next_hop metric refcnt use flags
/// iface`, addresses as 32 hex digits, numbers in hex. A default route is
/// `::/0`; one whose next hop is `::` is on-link and skipped.
pub fn parse_ipv6_routes(text: &str) -> Vec<Gateway> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let dest = hex_v6(f[0])?;
            let plen = u8::from_str_radix(f[1], 16).ok()?;
            let next_hop = hex_v6(f[4])?;
            let metric = u32::from_str_radix(f[5], 16).ok()?;
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            if !dest.is_unspecified() || plen != 0 || next_hop.is_unspecified() || !usable(flags) {
                return None;
            }
            Some(Gateway {
                addr: IpAddr::V6(next_hop),
                interface: f[9].to_owned(),
                scope_id: 0,
                metric,
            })
        })
        .collect()
}

/// Interface names and indexes from `/proc/net/if_inet6` (`address index
/// prefix scope flags name`, index in hex), one entry per name.
pub fn parse_if_inet6(text: &str) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 {
            continue;
        }
        let Ok(index) = u32::from_str_radix(f[1], 16) else {
            continue;
        };
        if !out.iter().any(|(name, _)| name == f[5]) {
            out.push((f[5].to_owned(), index));
        }
    }
    out
}

fn hex_v6(s: &str) -> Option<Ipv6Addr> {
    if s.len() != 32 {
        return None;
    }
    u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from)
}
