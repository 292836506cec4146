//! Linux: rtnetlink notifications on a `NETLINK_ROUTE` socket registered
//! with tokio's reactor (no thread of its own).

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily as Af, RecvFlags, SendFlags, SocketFlags, SocketType};
use tokio::io::unix::AsyncFd;

use super::{
    Family, Interface, NetChange, NetChangeKind, NetWatchError, Observed, RouteOp, socket_err,
};

/// The legacy multicast group bits (`RTMGRP_*`, linux/rtnetlink.h): links,
/// IPv4 and IPv6 addresses, IPv4 and IPv6 routes.
const GROUPS: u32 = 0x1 | 0x10 | 0x40 | 0x100 | 0x400;

/// The kernel's `RT_TABLE_LOCAL`: local and broadcast addresses, never a
/// default route.
const TABLE_LOCAL: u32 = 255;

/// Larger than any one rtnetlink datagram (the kernel caps dump skbs at
/// 32 KiB).
const RECV_BUF: usize = 64 * 1024;

/// Which dump the watcher waits for: it learns the current links, then
/// addresses, then routes, one at a time (the kernel runs one dump per
/// socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dump {
    Links,
    Addresses,
    Routes,
    Idle,
}

#[derive(Debug)]
pub(super) struct Source {
    fd: AsyncFd<OwnedFd>,
    port: u32,
    seq: u32,
    dump: Dump,
    /// Notifications were lost during a dump: dump again when it ends.
    redump: bool,
    buf: Vec<u8>,
    pending: VecDeque<Observed>,
}

impl Source {
    pub(super) fn open() -> Result<Source, NetWatchError> {
        let fd = rustix::net::socket_with(
            Af::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(socket_err("opening the netlink socket"))?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, GROUPS)).map_err(socket_err(
            "joining the netlink link, address and route groups",
        ))?;
        let port = rustix::net::getsockname(&fd)
            .map_err(socket_err("reading the netlink port id"))
            .and_then(|a| {
                SocketAddrNetlink::try_from(a).map_err(socket_err("reading the netlink port id"))
            })?
            .pid();
        // tokio deprecates the safe constructor because a `T` that merely
        // borrows its fd could close it while registered (tokio#8587); the
        // AsyncFd owns the `OwnedFd` outright, so that cannot happen, and the
        // replacement is `unsafe`, which this workspace forbids.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, tokio::io::Interest::READABLE).map_err(|source| {
            NetWatchError::Socket {
                what: "registering the netlink socket with the runtime",
                source,
            }
        })?;
        let mut src = Source {
            fd,
            port,
            seq: 0,
            dump: Dump::Idle,
            redump: false,
            buf: vec![0; RECV_BUF],
            pending: VecDeque::new(),
        };
        src.start_dump(Dump::Links)?;
        Ok(src)
    }

    fn start_dump(&mut self, what: Dump) -> Result<(), NetWatchError> {
        let payload = match what {
            Dump::Links => RouteNetlinkMessage::GetLink(LinkMessage::default()),
            Dump::Addresses => RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            Dump::Routes => RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            Dump::Idle => {
                self.dump = Dump::Idle;
                return Ok(());
            }
        };
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(payload));
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len()];
        msg.serialize(&mut bytes);
        // A request is a few dozen bytes: the kernel takes it whole or fails.
        rustix::net::send(self.fd.get_ref(), &bytes, SendFlags::empty()).map_err(socket_err(
            "asking the kernel for the current network state",
        ))?;
        self.dump = what;
        Ok(())
    }

    pub(super) async fn next(&mut self) -> Result<Observed, NetWatchError> {
        loop {
            if let Some(o) = self.pending.pop_front() {
                return Ok(o);
            }
            if let Some(o) = self.read_some().await? {
                return Ok(o);
            }
        }
    }

    /// Reads until the dumps of the current state are complete, keeping
    /// what arrives meanwhile for [`Source::next`]. Tests start changing the
    /// network only then: a change made during the dump may be seen as part
    /// of the initial state.
    #[cfg(test)]
    pub(super) async fn until_seeded(&mut self) -> Result<(), NetWatchError> {
        while self.dump != Dump::Idle {
            if let Some(o) = self.read_some().await? {
                self.pending.push_back(o);
            }
        }
        Ok(())
    }

    /// Reads one datagram into `pending`; returns [`Observed::Resync`] when
    /// the kernel dropped notifications instead.
    async fn read_some(&mut self) -> Result<Option<Observed>, NetWatchError> {
        let mut guard = self
            .fd
            .readable()
            .await
            .map_err(socket_err("waiting for netlink messages"))?;
        let buf = &mut self.buf;
        let read = guard.try_io(|fd| {
            rustix::net::recvfrom(fd.get_ref(), &mut buf[..], RecvFlags::empty())
                .map(|(n, _, from)| (n, from))
                .map_err(io::Error::from)
        });
        let n = match read {
            Err(_would_block) => return Ok(None),
            Ok(Ok((n, from))) => {
                // Only the kernel (port 0) speaks for the network; another
                // process able to reach this socket is not believed.
                let pid = from
                    .and_then(|a| SocketAddrNetlink::try_from(a).ok())
                    .map(|a| a.pid());
                if pid != Some(0) {
                    tracing::debug!(sender = ?pid, "netlink message not from the kernel ignored");
                    return Ok(None);
                }
                n
            }
            Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::NOBUFS.raw_os_error()) => {
                tracing::info!(
                    "netlink notifications lost (socket buffer full); re-reading the network state"
                );
                if self.dump == Dump::Idle {
                    self.start_dump(Dump::Links)?;
                } else {
                    self.redump = true;
                }
                return Ok(Some(Observed::Resync));
            }
            Ok(Err(source)) => {
                return Err(NetWatchError::Socket {
                    what: "reading netlink messages",
                    source,
                });
            }
        };
        self.datagram(n)?;
        Ok(None)
    }

    /// Splits one datagram into its messages and queues what they say.
    fn datagram(&mut self, n: usize) -> Result<(), NetWatchError> {
        let mut rest = &self.buf[..n];
        let mut dump_done = false;
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len < 16 || len > rest.len() {
                tracing::debug!(len, left = rest.len(), "malformed netlink message skipped");
                break;
            }
            let one = &rest[..len];
            // Messages are 4-byte aligned within a datagram.
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
            let msg = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(one) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(error = %e, "undecodable netlink message skipped");
                    continue;
                }
            };
            let ours = msg.header.port_number == self.port
                && msg.header.sequence_number == self.seq
                && self.dump != Dump::Idle;
            match msg.payload {
                NetlinkPayload::InnerMessage(inner) => {
                    if let Some(change) = change_of(&inner) {
                        self.pending.push_back(if ours {
                            Observed::Known(change)
                        } else {
                            Observed::Change(change)
                        });
                    }
                }
                NetlinkPayload::Done(_) if ours => dump_done = true,
                NetlinkPayload::Error(e) if ours => {
                    // The dump failed (EBUSY, EINTR): changes still arrive;
                    // only the seeding of known state is incomplete.
                    tracing::info!(error = ?e.code, "netlink dump of the network state failed");
                    self.dump = Dump::Idle;
                }
                _ => {}
            }
        }
        if dump_done {
            let next = if self.redump {
                self.redump = false;
                Dump::Links
            } else {
                match self.dump {
                    Dump::Links => Dump::Addresses,
                    Dump::Addresses => Dump::Routes,
                    Dump::Routes | Dump::Idle => Dump::Idle,
                }
            };
            self.start_dump(next)?;
        }
        Ok(())
    }
}

/// The change one rtnetlink message describes, or `None` for messages the
/// watcher does not report (loopback links, the local routing table, cached
/// clones, non-IP families).
pub(super) fn change_of(msg: &RouteNetlinkMessage) -> Option<NetChange> {
    match msg {
        RouteNetlinkMessage::NewLink(l) => link_change(l, true),
        RouteNetlinkMessage::DelLink(l) => link_change(l, false),
        RouteNetlinkMessage::NewAddress(a) => address_change(a, true),
        RouteNetlinkMessage::DelAddress(a) => address_change(a, false),
        RouteNetlinkMessage::NewRoute(r) => route_change(r, RouteOp::Added),
        RouteNetlinkMessage::DelRoute(r) => route_change(r, RouteOp::Removed),
        _ => None,
    }
}

fn link_change(l: &LinkMessage, exists: bool) -> Option<NetChange> {
    let flags = l.header.flags;
    if flags.contains(LinkFlags::Loopback) {
        return None;
    }
    let name = l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    });
    let up = exists && flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running);
    Some(NetChange::on_interface(
        NetChangeKind::link(up),
        l.header.index,
        name,
    ))
}

fn address_change(a: &AddressMessage, added: bool) -> Option<NetChange> {
    let v6 = match a.header.family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return None,
    };
    let mut local = None;
    let mut address = None;
    let mut label = None;
    // IFA_F_TEMPORARY shares its bit with IFA_F_SECONDARY (IPv4's meaning,
    // the crate's name).
    let mut temporary = v6 && a.header.flags.contains(AddressHeaderFlags::Secondary);
    for attr in &a.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => temporary |= v6 && f.contains(AddressFlags::Secondary),
            _ => {}
        }
    }
    // IFA_LOCAL is the endpoint's own address; IFA_ADDRESS is the peer's on
    // a point-to-point link and the same as IFA_LOCAL elsewhere.
    let addr = local.or(address)?;
    let prefix_len = a.header.prefix_len;
    Some(NetChange::on_interface(
        NetChangeKind::address(added, addr, prefix_len, temporary),
        a.header.index,
        label,
    ))
}

fn route_change(r: &RouteMessage, op: RouteOp) -> Option<NetChange> {
    let family = match r.header.address_family {
        AddressFamily::Inet => Family::V4,
        AddressFamily::Inet6 => Family::V6,
        _ => return None,
    };
    if r.header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let mut table = u32::from(r.header.table);
    let mut destination = None;
    let mut gateway = None;
    let mut oif = None;
    let mut metric = 0;
    let ip = |a: &RouteAddress| match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    };
    for attr in &r.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => destination = ip(d),
            RouteAttribute::Gateway(g) => gateway = ip(g),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            _ => {}
        }
    }
    if table == TABLE_LOCAL {
        return None;
    }
    let destination = destination.unwrap_or(match family {
        Family::V4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    });
    Some(NetChange {
        kind: NetChangeKind::Route {
            op,
            family,
            destination,
            prefix_len: r.header.destination_prefix_length,
            gateway,
            table,
            metric,
        },
        interface: oif.map(|index| Interface { index, name: None }),
    })
}
