//! rtnetlink messages (`<linux/rtnetlink.h>`, `<linux/if_addr.h>`) parsed
//! from bytes by a pure function: the few fixed headers and attributes the
//! watcher reads, and the three dump requests it sends.
//!
//! `netlink-packet-core` frames the messages and walks their attributes;
//! the fixed headers and the five attribute kinds per message are read here.
//! `netlink-packet-route` decoded them until issue 12's size review: it
//! decodes every rtnetlink family (traffic control, neighbours, link info of
//! each driver kind, MPLS, ...), about 330 KiB of the agent's code for the
//! handful of fields below (docs/benchmarks.md, "Binary size"). It stays a
//! dev-dependency: the tests check this parser against what it emits and
//! decodes.
//!
//! Every read is bounds-checked: a short or malformed message is skipped,
//! never a panic (the kernel is trusted to speak the format, but a watcher
//! must not die on one odd message).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NetlinkBuffer, NlasIterator};

use super::{Family, Interface, NetChange, NetChangeKind, RouteOp};

/// `sizeof(struct nlmsghdr)`.
pub(super) const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct ifinfomsg)`: family, pad, type (u16), index (i32) at 4,
/// flags (u32) at 8, change mask at 12.
const IFINFOMSG_LEN: usize = 16;
/// `sizeof(struct ifaddrmsg)`: family, prefix length, flags (u8) at 2, scope,
/// index (u32) at 4.
const IFADDRMSG_LEN: usize = 8;
/// `sizeof(struct rtmsg)`: family, destination length at 1, source length,
/// tos, table (u8) at 4, protocol, scope, type, flags (u32) at 8.
const RTMSG_LEN: usize = 12;

/// The kernel's `RT_TABLE_LOCAL`: local and broadcast addresses, never a
/// default route.
const TABLE_LOCAL: u32 = 255;

/// What one netlink message says, as far as the watcher cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Message {
    /// A link, address or route message: the change it describes, or `None`
    /// for what the watcher does not report (loopback links, the local
    /// routing table, cached clones, non-IP families).
    Change(Option<NetChange>),
    /// `NLMSG_DONE`: the end of a dump.
    Done,
    /// `NLMSG_ERROR` with its (negative errno) code; 0 is an acknowledgement.
    Error(i32),
    /// Any other message type.
    Other,
}

/// One message with the header fields that tell whose request it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Parsed {
    /// `nlmsg_seq`.
    pub(super) sequence: u32,
    /// `nlmsg_pid`: the port of the socket whose request this answers (0 for
    /// notifications).
    pub(super) port: u32,
    /// The message.
    pub(super) message: Message,
}

/// Why a message was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Malformed(pub(super) &'static str);

/// The rtnetlink dumps the watcher asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DumpKind {
    /// `RTM_GETLINK`.
    Links,
    /// `RTM_GETADDR`.
    Addresses,
    /// `RTM_GETROUTE`.
    Routes,
}

/// A `NLM_F_REQUEST | NLM_F_DUMP` request for every object of `kind`, all
/// families, with sequence number `seq`: the header and a zeroed family
/// header (the kernel's strict checking wants the full struct).
pub(super) fn dump_request(kind: DumpKind, seq: u32) -> Vec<u8> {
    let (msg_type, body) = match kind {
        DumpKind::Links => (libc::RTM_GETLINK, IFINFOMSG_LEN),
        DumpKind::Addresses => (libc::RTM_GETADDR, IFADDRMSG_LEN),
        DumpKind::Routes => (libc::RTM_GETROUTE, RTMSG_LEN),
    };
    let len = NLMSG_HDRLEN + body;
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&(len as u32).to_ne_bytes());
    bytes.extend_from_slice(&msg_type.to_ne_bytes());
    bytes.extend_from_slice(&flags.to_ne_bytes());
    bytes.extend_from_slice(&seq.to_ne_bytes());
    // The port: 0 lets the kernel fill in the sending socket's.
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.resize(len, 0);
    bytes
}

/// Parses one message (`bytes` holds exactly its `nlmsg_len` bytes).
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, Malformed> {
    let buf = NetlinkBuffer::new_checked(bytes).map_err(|_| Malformed("bad netlink header"))?;
    let payload = buf.payload();
    let message = match buf.message_type() {
        t if t == libc::NLMSG_DONE as u16 => Message::Done,
        t if t == libc::NLMSG_ERROR as u16 => {
            Message::Error(i32_at(payload, 0).ok_or(Malformed("short error message"))?)
        }
        libc::RTM_NEWLINK => Message::Change(link(payload, true)?),
        libc::RTM_DELLINK => Message::Change(link(payload, false)?),
        libc::RTM_NEWADDR => Message::Change(address(payload, true)?),
        libc::RTM_DELADDR => Message::Change(address(payload, false)?),
        libc::RTM_NEWROUTE => Message::Change(route(payload, RouteOp::Added)?),
        libc::RTM_DELROUTE => Message::Change(route(payload, RouteOp::Removed)?),
        _ => Message::Other,
    };
    Ok(Parsed {
        sequence: buf.sequence_number(),
        port: buf.port_number(),
        message,
    })
}

fn link(p: &[u8], exists: bool) -> Result<Option<NetChange>, Malformed> {
    if p.len() < IFINFOMSG_LEN {
        return Err(Malformed("short link message"));
    }
    let index = u32_at(p, 4).unwrap_or_default();
    let flags = u32_at(p, 8).unwrap_or_default();
    let has = |flag: i32| flags & flag as u32 != 0;
    if has(libc::IFF_LOOPBACK) {
        return Ok(None);
    }
    let mut name = None;
    for (kind, value) in attributes(&p[IFINFOMSG_LEN..]) {
        if kind == libc::IFLA_IFNAME {
            name = Some(string_of(value));
        }
    }
    let up = exists && has(libc::IFF_UP) && has(libc::IFF_RUNNING);
    Ok(Some(NetChange::on_interface(
        NetChangeKind::link(up),
        index,
        name,
    )))
}

fn address(p: &[u8], added: bool) -> Result<Option<NetChange>, Malformed> {
    if p.len() < IFADDRMSG_LEN {
        return Err(Malformed("short address message"));
    }
    let v6 = match i32::from(p[0]) {
        libc::AF_INET => false,
        libc::AF_INET6 => true,
        _ => return Ok(None),
    };
    let prefix_len = p[1];
    let index = u32_at(p, 4).unwrap_or_default();
    // IFA_F_TEMPORARY shares its bit with IFA_F_SECONDARY (IPv4's meaning);
    // the 8-bit header field holds the low flags, IFA_FLAGS all of them.
    let mut temporary = v6 && u32::from(p[2]) & libc::IFA_F_TEMPORARY != 0;
    let (mut local, mut peer, mut label) = (None, None, None);
    for (kind, value) in attributes(&p[IFADDRMSG_LEN..]) {
        match kind {
            libc::IFA_LOCAL => local = ip_of(v6, value),
            libc::IFA_ADDRESS => peer = ip_of(v6, value),
            libc::IFA_LABEL => label = Some(string_of(value)),
            libc::IFA_FLAGS => {
                temporary |=
                    v6 && u32_at(value, 0).unwrap_or_default() & libc::IFA_F_TEMPORARY != 0;
            }
            _ => {}
        }
    }
    // IFA_LOCAL is the endpoint's own address; IFA_ADDRESS is the peer's on
    // a point-to-point link and the same as IFA_LOCAL elsewhere.
    let Some(addr) = local.or(peer) else {
        return Ok(None);
    };
    Ok(Some(NetChange::on_interface(
        NetChangeKind::address(added, addr, prefix_len, temporary),
        index,
        label,
    )))
}

fn route(p: &[u8], op: RouteOp) -> Result<Option<NetChange>, Malformed> {
    if p.len() < RTMSG_LEN {
        return Err(Malformed("short route message"));
    }
    let (family, v6) = match i32::from(p[0]) {
        libc::AF_INET => (Family::V4, false),
        libc::AF_INET6 => (Family::V6, true),
        _ => return Ok(None),
    };
    let prefix_len = p[1];
    let flags = u32_at(p, 8).unwrap_or_default();
    if flags & libc::RTM_F_CLONED != 0 {
        return Ok(None);
    }
    let mut table = u32::from(p[4]);
    let (mut destination, mut gateway, mut oif, mut metric) = (None, None, None, 0);
    for (kind, value) in attributes(&p[RTMSG_LEN..]) {
        match kind {
            libc::RTA_TABLE => table = u32_at(value, 0).unwrap_or(table),
            libc::RTA_DST => destination = ip_of(v6, value),
            libc::RTA_GATEWAY => gateway = ip_of(v6, value),
            libc::RTA_OIF => oif = u32_at(value, 0),
            libc::RTA_PRIORITY => metric = u32_at(value, 0).unwrap_or_default(),
            _ => {}
        }
    }
    if table == TABLE_LOCAL {
        return Ok(None);
    }
    let destination = destination.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    Ok(Some(NetChange {
        kind: NetChangeKind::Route {
            op,
            family,
            destination,
            prefix_len,
            gateway,
            table,
            metric,
        },
        interface: oif.map(|index| Interface { index, name: None }),
    }))
}

/// The attributes after a fixed header, as (type without the nested and
/// byte-order bits, value); stops at the first malformed one.
fn attributes(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    NlasIterator::new(bytes)
        .map_while(Result::ok)
        .map_while(|nla| {
            let (kind, len) = (nla.kind(), usize::from(nla.length()));
            // The checked buffer starts at this attribute and runs to the
            // end of the message; its value is the 4 bytes after the header
            // up to the attribute's length.
            Some((kind, nla.into_inner().get(4..len)?))
        })
}

fn ip_of(v6: bool, value: &[u8]) -> Option<IpAddr> {
    if v6 {
        <[u8; 16]>::try_from(value).ok().map(IpAddr::from)
    } else {
        <[u8; 4]>::try_from(value).ok().map(IpAddr::from)
    }
}

/// A NUL-terminated attribute string, up to its first NUL.
fn string_of(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at + 4)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    u32_at(b, at).map(|v| v as i32)
}
