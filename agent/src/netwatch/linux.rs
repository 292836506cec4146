//! Linux: rtnetlink notifications on a `NETLINK_ROUTE` socket registered
//! with tokio's reactor (no thread of its own).

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily as Af, RecvFlags, SendFlags, SocketFlags, SocketType};
use tokio::io::unix::AsyncFd;

use super::rtnl::{self, DumpKind, Message, NLMSG_HDRLEN};
use super::{NetWatchError, Observed, socket_err};

/// The legacy multicast group bits (`RTMGRP_*`, linux/rtnetlink.h): links,
/// IPv4 and IPv6 addresses, IPv4 and IPv6 routes.
const GROUPS: u32 = 0x1 | 0x10 | 0x40 | 0x100 | 0x400;

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
        let kind = match what {
            Dump::Links => DumpKind::Links,
            Dump::Addresses => DumpKind::Addresses,
            Dump::Routes => DumpKind::Routes,
            Dump::Idle => {
                self.dump = Dump::Idle;
                return Ok(());
            }
        };
        self.seq = self.seq.wrapping_add(1);
        let bytes = rtnl::dump_request(kind, self.seq);
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
        while rest.len() >= NLMSG_HDRLEN {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len < NLMSG_HDRLEN || len > rest.len() {
                tracing::debug!(len, left = rest.len(), "malformed netlink message skipped");
                break;
            }
            let one = &rest[..len];
            // Messages are 4-byte aligned within a datagram.
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
            let msg = match rtnl::parse(one) {
                Ok(m) => m,
                Err(rtnl::Malformed(why)) => {
                    tracing::debug!(why, "undecodable netlink message skipped");
                    continue;
                }
            };
            let ours = msg.port == self.port && msg.sequence == self.seq && self.dump != Dump::Idle;
            match msg.message {
                Message::Change(Some(change)) => {
                    self.pending.push_back(if ours {
                        Observed::Known(change)
                    } else {
                        Observed::Change(change)
                    });
                }
                Message::Done if ours => dump_done = true,
                Message::Error(code) if ours => {
                    // The dump failed (EBUSY, EINTR): changes still arrive;
                    // only the seeding of known state is incomplete.
                    tracing::info!(code, "netlink dump of the network state failed");
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
