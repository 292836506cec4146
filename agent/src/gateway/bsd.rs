//! The `RTM_GET` exchange for the default route on the BSD routing socket as
//! macOS speaks it (`<net/route.h>`), built and parsed from bytes with no
//! system call, so it is tested on every OS. macos.rs checks the layout
//! constants against the `libc` crate's at compile time.
//!
//! A message is `struct rt_msghdr` (92 bytes) followed by one sockaddr per
//! bit of `rtm_addrs`, in bit order, each padded to 4 bytes; a sockaddr of
//! length 0 takes 4 bytes and means "all zeros" (the default route's mask).

use std::net::IpAddr;

use super::Gateway;
pub(super) use crate::platform::route_msg::{
    AF_INET, AF_INET6, AF_LINK, RT_MSGHDR_LEN, RTM_VERSION,
};
use crate::platform::route_msg::{i32_at, u16_at};

pub(super) const RTM_GET: u8 = 0x4;
pub(super) const OFF_INDEX: usize = 4;
pub(super) const OFF_FLAGS: usize = 8;
pub(super) const OFF_ADDRS: usize = 12;
pub(super) const OFF_PID: usize = 16;
pub(super) const OFF_SEQ: usize = 20;
pub(super) const OFF_ERRNO: usize = 24;

pub(super) const RTA_DST: i32 = 0x1;
pub(super) const RTA_GATEWAY: i32 = 0x2;
pub(super) const RTA_NETMASK: i32 = 0x4;
pub(super) const RTA_IFP: i32 = 0x10;

pub(super) const RTF_UP: i32 = 0x1;
pub(super) const RTF_GATEWAY: i32 = 0x2;
pub(super) const RTF_REJECT: i32 = 0x8;
pub(super) const RTF_BLACKHOLE: i32 = 0x1000;

pub(super) const SOCKADDR_IN_LEN: usize = 16;
pub(super) const SOCKADDR_IN6_LEN: usize = 28;
/// `sizeof(struct sockaddr_dl)`: `sdl_nlen` at 5, `sdl_data` from 8.
pub(super) const SOCKADDR_DL_LEN: usize = 20;

/// The `RTM_GET` request for the default route of one family, as
/// `route -n get default` writes it: destination `0.0.0.0` (or `::`), a
/// zero-length (all-zero) netmask so the kernel matches `/0` exactly and not
/// a VPN's `0/1`, and an empty link sockaddr asking for the interface.
pub fn rtm_get_default_request(ipv6: bool, pid: i32, seq: i32) -> Vec<u8> {
    let mut msg = vec![0u8; RT_MSGHDR_LEN];
    msg[2] = RTM_VERSION;
    msg[3] = RTM_GET;
    msg[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&(RTF_UP | RTF_GATEWAY).to_ne_bytes());
    msg[OFF_ADDRS..OFF_ADDRS + 4].copy_from_slice(&(RTA_DST | RTA_NETMASK | RTA_IFP).to_ne_bytes());
    msg[OFF_PID..OFF_PID + 4].copy_from_slice(&pid.to_ne_bytes());
    msg[OFF_SEQ..OFF_SEQ + 4].copy_from_slice(&seq.to_ne_bytes());
    // RTA_DST: the unspecified address of the family.
    let (len, family) = if ipv6 {
        (SOCKADDR_IN6_LEN, AF_INET6)
    } else {
        (SOCKADDR_IN_LEN, AF_INET)
    };
    let mut dst = vec![0u8; len];
    dst[0] = len as u8;
    dst[1] = family;
    msg.extend_from_slice(&dst);
    // RTA_NETMASK: length 0, all zeros.
    msg.extend_from_slice(&[0u8; 4]);
    // RTA_IFP: an empty sockaddr_dl.
    let mut ifp = [0u8; SOCKADDR_DL_LEN];
    ifp[0] = SOCKADDR_DL_LEN as u8;
    ifp[1] = AF_LINK;
    msg.extend_from_slice(&ifp);
    let total = msg.len() as u16;
    msg[0..2].copy_from_slice(&total.to_ne_bytes());
    msg
}

/// What one message read from the routing socket says about our request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtmGetReply {
    /// Another process's message, or not an `RTM_GET` reply to `seq`.
    NotOurs,
    /// The default route goes through this gateway.
    Gateway(Gateway),
    /// There is a default route, but without a gateway (on-link), or one
    /// that rejects or drops.
    NoGateway,
    /// The kernel answered with this errno (`ESRCH`: no default route).
    Errno(i32),
}

/// Parses one message `msg` (one read of the routing socket) as the reply
/// to our request `pid`/`seq`. Truncated or malformed replies are
/// [`RtmGetReply::NotOurs`]: the caller reads on, bounded.
pub fn parse_rtm_get_reply(msg: &[u8], pid: i32, seq: i32) -> RtmGetReply {
    parse(msg, pid, seq).unwrap_or(RtmGetReply::NotOurs)
}

fn parse(msg: &[u8], pid: i32, seq: i32) -> Option<RtmGetReply> {
    let len = usize::from(u16_at(msg, 0)?);
    if len < RT_MSGHDR_LEN || len > msg.len() {
        return None;
    }
    let msg = &msg[..len];
    if msg[2] != RTM_VERSION
        || msg[3] != RTM_GET
        || i32_at(msg, OFF_PID)? != pid
        || i32_at(msg, OFF_SEQ)? != seq
    {
        return Some(RtmGetReply::NotOurs);
    }
    let errno = i32_at(msg, OFF_ERRNO)?;
    if errno != 0 {
        return Some(RtmGetReply::Errno(errno));
    }
    let flags = i32_at(msg, OFF_FLAGS)?;
    let addrs = i32_at(msg, OFF_ADDRS)?;
    let index = u16_at(msg, OFF_INDEX)?;
    let mut gateway = None;
    let mut interface = String::new();
    let mut at = RT_MSGHDR_LEN;
    for bit in 0..8 {
        if addrs & (1 << bit) == 0 {
            continue;
        }
        let sa_len = usize::from(*msg.get(at)?);
        let sa = msg.get(at..at + sa_len)?;
        if 1 << bit == RTA_GATEWAY {
            gateway = ip_of(sa);
        } else if 1 << bit == RTA_IFP && sa.get(1) == Some(&AF_LINK) {
            let nlen = usize::from(*sa.get(5)?);
            interface = String::from_utf8_lossy(sa.get(8..8 + nlen)?).into_owned();
        }
        at += if sa_len == 0 {
            4
        } else {
            sa_len.next_multiple_of(4)
        };
    }
    if flags & RTF_GATEWAY == 0 || flags & (RTF_REJECT | RTF_BLACKHOLE) != 0 {
        return Some(RtmGetReply::NoGateway);
    }
    let Some(addr) = gateway else {
        return Some(RtmGetReply::NoGateway);
    };
    Some(RtmGetReply::Gateway(Gateway {
        addr,
        interface,
        scope_id: u32::from(index),
        metric: 0,
    }))
}

/// The IP address in a `sockaddr_in`/`sockaddr_in6`; `None` for a link
/// sockaddr (an on-link route's "gateway") or the unspecified IPv6 address.
fn ip_of(sa: &[u8]) -> Option<IpAddr> {
    crate::platform::route_msg::ip_of(sa)
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.is_unspecified()))
}
