//! What the BSD routing socket's messages (`<net/route.h>`, as macOS writes
//! them) have in common for both of their readers: the gateway lookup's
//! `RTM_GET` exchange (`gateway::bsd`) and the network watcher's change
//! notifications (`netwatch::route_msg`). Pure functions on bytes, so they
//! are tested on every OS; each reader's macos.rs checks the constants
//! against the `libc` crate's at compile time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `RTM_VERSION`.
pub(crate) const RTM_VERSION: u8 = 5;
/// `sizeof(struct rt_msghdr)`.
pub(crate) const RT_MSGHDR_LEN: usize = 92;
/// `AF_INET`.
pub(crate) const AF_INET: u8 = 2;
/// `AF_LINK`.
pub(crate) const AF_LINK: u8 = 18;
/// `AF_INET6`.
pub(crate) const AF_INET6: u8 = 30;

/// The native-endian `u16` at byte `at`; `None` past the end.
pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The native-endian `i32` at byte `at`; `None` past the end.
pub(crate) fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The IP address in a `sockaddr_in`/`sockaddr_in6`; `None` for another
/// family (a link sockaddr) or a truncated sockaddr.
pub(crate) fn ip_of(sa: &[u8]) -> Option<IpAddr> {
    match *sa.get(1)? {
        AF_INET => {
            let b: [u8; 4] = sa.get(4..8)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        AF_INET6 => {
            let mut b: [u8; 16] = sa.get(8..24)?.try_into().ok()?;
            // The kernel embeds the scope (interface index) of a link-local
            // address in its second 16-bit word (KAME); it is not part of
            // the address.
            if b[0] == 0xfe && (b[1] & 0xc0) == 0x80 {
                b[2] = 0;
                b[3] = 0;
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}
