//! The BSD routing socket's messages as macOS writes them (`<net/route.h>`,
//! `<net/if.h>`), parsed from bytes with no system call, so the parser is
//! tested on every OS. macos.rs checks the layout constants below against
//! the `libc` crate's structs at compile time.
//!
//! Every message starts with `u16 msglen, u8 version, u8 type`; a header of
//! fixed size per type follows, then one `sockaddr` per bit set in the
//! header's address mask, in bit order, each padded to 4 bytes.

use std::net::IpAddr;

use super::{Family, Interface, NetChange, NetChangeKind, RouteOp};
use crate::platform::route_msg::{i32_at, ip_of, u16_at};
// `RT_MSGHDR_LEN`: `rtm_index` (u16) at 4, `rtm_flags` at 8, `rtm_addrs` at
// 12, `rtm_errno` at 24, `rt_metrics` (14 × u32) from 36.
pub(super) use crate::platform::route_msg::{
    AF_INET, AF_INET6, AF_LINK, RT_MSGHDR_LEN, RTM_VERSION,
};

/// `RTM_ADD`.
pub(super) const RTM_ADD: u8 = 0x1;
/// `RTM_DELETE`.
pub(super) const RTM_DELETE: u8 = 0x2;
/// `RTM_CHANGE`.
pub(super) const RTM_CHANGE: u8 = 0x3;
/// `RTM_NEWADDR`.
pub(super) const RTM_NEWADDR: u8 = 0xc;
/// `RTM_DELADDR`.
pub(super) const RTM_DELADDR: u8 = 0xd;
/// `RTM_IFINFO`.
pub(super) const RTM_IFINFO: u8 = 0xe;

/// `sizeof(struct ifa_msghdr)`: `ifam_addrs` at 4, `ifam_flags` at 8,
/// `ifam_index` (u16) at 12.
pub(super) const IFA_MSGHDR_LEN: usize = 20;
/// `sizeof(struct if_msghdr)`: `ifm_addrs` at 4, `ifm_flags` at 8,
/// `ifm_index` (u16) at 12, `if_data` (96 bytes) from 16.
pub(super) const IF_MSGHDR_LEN: usize = 112;

pub(super) const RTF_HOST: i32 = 0x4;
pub(super) const RTF_LLINFO: i32 = 0x400;
pub(super) const RTF_WASCLONED: i32 = 0x20000;

pub(super) const IFF_UP: i32 = 0x1;
pub(super) const IFF_LOOPBACK: i32 = 0x8;
pub(super) const IFF_RUNNING: i32 = 0x40;

/// Address-mask bit positions (`RTAX_*`).
const RTAX_DST: usize = 0;
const RTAX_GATEWAY: usize = 1;
const RTAX_NETMASK: usize = 2;
const RTAX_IFP: usize = 4;
const RTAX_IFA: usize = 5;
const RTAX_MAX: usize = 8;

/// Every change in `buf` (one read of the routing socket), in order.
/// Messages that are truncated, of another version, or of types the watcher
/// does not report are skipped.
pub(super) fn parse(buf: &[u8]) -> Vec<NetChange> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        if len < 4 || len > rest.len() {
            break;
        }
        if let Some(change) = parse_one(&rest[..len]) {
            out.push(change);
        }
        rest = &rest[len..];
    }
    out
}

fn parse_one(msg: &[u8]) -> Option<NetChange> {
    if msg[2] != RTM_VERSION {
        return None;
    }
    match msg[3] {
        t @ (RTM_ADD | RTM_DELETE | RTM_CHANGE) => route(msg, t),
        t @ (RTM_NEWADDR | RTM_DELADDR) => address(msg, t == RTM_NEWADDR),
        RTM_IFINFO => link(msg),
        _ => None,
    }
}

/// The sockaddrs after a header of `hdr_len` bytes, by `RTAX_*` position.
fn sockaddrs(msg: &[u8], hdr_len: usize, mask: i32) -> Option<[Option<&[u8]>; RTAX_MAX]> {
    let mut out = [None; RTAX_MAX];
    let mut at = hdr_len;
    for (i, slot) in out.iter_mut().enumerate() {
        if mask & (1 << i) == 0 {
            continue;
        }
        let len = usize::from(*msg.get(at)?);
        // An empty sockaddr (a zero-length netmask) still takes 4 bytes.
        let step = if len == 0 { 4 } else { len.next_multiple_of(4) };
        *slot = Some(msg.get(at..at + len.max(1))?);
        at += step;
    }
    Some(out)
}

/// The prefix length of a netmask sockaddr. The kernel shortens netmasks to
/// their last non-zero byte and may leave the family unset, so the family
/// comes from the address the mask belongs to; missing bytes are zero.
fn prefix_of(mask: &[u8], family: Family) -> u8 {
    let (start, bytes) = match family {
        Family::V4 => (4, 4),
        Family::V6 => (8, 16),
    };
    let len = usize::from(mask.first().copied().unwrap_or(0)).min(mask.len());
    let mut prefix = 0u8;
    for i in 0..bytes {
        let b = if start + i < len { mask[start + i] } else { 0 };
        if b == 0xff {
            prefix += 8;
        } else {
            // A non-contiguous mask ends at its first zero bit.
            prefix += b.leading_ones() as u8;
            break;
        }
    }
    prefix
}

fn family_of(ip: IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

/// The name in a `sockaddr_dl`: `sdl_index` (u16) at 2, `sdl_nlen` at 5,
/// the name from 8.
fn link_name(sa: &[u8]) -> Option<String> {
    if *sa.get(1)? != AF_LINK {
        return None;
    }
    let nlen = usize::from(*sa.get(5)?);
    let name = sa.get(8..8 + nlen)?;
    (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
}

fn route(msg: &[u8], t: u8) -> Option<NetChange> {
    if msg.len() < RT_MSGHDR_LEN {
        return None;
    }
    let index = u16_at(msg, 4)?;
    let flags = i32_at(msg, 8)?;
    let mask = i32_at(msg, 12)?;
    let errno = i32_at(msg, 24)?;
    // A failed request echoed back, or a neighbour (ARP/NDP) entry or a
    // clone of another route: none of them changes the network.
    if errno != 0 || flags & (RTF_LLINFO | RTF_WASCLONED) != 0 {
        return None;
    }
    let sa = sockaddrs(msg, RT_MSGHDR_LEN, mask)?;
    let destination = ip_of(sa[RTAX_DST]?)?;
    let family = family_of(destination);
    let full = match family {
        Family::V4 => 32,
        Family::V6 => 128,
    };
    let prefix_len = if flags & RTF_HOST != 0 {
        full
    } else if let Some(m) = sa[RTAX_NETMASK] {
        prefix_of(m, family)
    } else if destination.is_unspecified() {
        // No mask on a network route to 0.0.0.0 or ::: count it as the
        // default route (a rediscovery too many is harmless).
        0
    } else {
        full
    };
    let gateway = sa[RTAX_GATEWAY].and_then(ip_of);
    Some(NetChange {
        kind: NetChangeKind::Route {
            op: if t == RTM_DELETE {
                RouteOp::Removed
            } else {
                RouteOp::Added
            },
            family,
            destination,
            prefix_len,
            gateway,
            table: 0,
            metric: 0,
        },
        interface: (index != 0).then(|| Interface {
            index: u32::from(index),
            name: None,
        }),
    })
}

fn address(msg: &[u8], added: bool) -> Option<NetChange> {
    if msg.len() < IFA_MSGHDR_LEN {
        return None;
    }
    let mask = i32_at(msg, 4)?;
    let index = u16_at(msg, 12)?;
    let sa = sockaddrs(msg, IFA_MSGHDR_LEN, mask)?;
    let addr = ip_of(sa[RTAX_IFA]?)?;
    let prefix_len = match sa[RTAX_NETMASK] {
        Some(m) => prefix_of(m, family_of(addr)),
        None => match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        },
    };
    let name = sa[RTAX_IFP].and_then(link_name);
    // macOS does not say in this message whether an IPv6 address is
    // temporary (that is an ioctl away), so none counts as one.
    let temporary = false;
    Some(NetChange::on_interface(
        NetChangeKind::address(added, addr, prefix_len, temporary),
        u32::from(index),
        name,
    ))
}

fn link(msg: &[u8]) -> Option<NetChange> {
    if msg.len() < IF_MSGHDR_LEN {
        return None;
    }
    let mask = i32_at(msg, 4)?;
    let flags = i32_at(msg, 8)?;
    let index = u16_at(msg, 12)?;
    if flags & IFF_LOOPBACK != 0 {
        return None;
    }
    let name = sockaddrs(msg, IF_MSGHDR_LEN, mask)
        .and_then(|sa| sa[RTAX_IFP])
        .and_then(link_name);
    let up = flags & IFF_UP != 0 && flags & IFF_RUNNING != 0;
    Some(NetChange::on_interface(
        NetChangeKind::link(up),
        u32::from(index),
        name,
    ))
}
