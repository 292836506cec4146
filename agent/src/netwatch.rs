//! The endpoint's network-change watcher (issue 13, "client-side triggers").
//!
//! A laptop that moves from Wi-Fi to wired, gets a new address or comes back
//! from sleep on another network must look for its PSN again. This module is
//! the OS layer only: it turns what the kernel says about the endpoint's
//! addresses, routes and links into typed [`NetChange`] records, and decides
//! per record whether it should restart discovery
//! ([`NetChange::restarts_discovery`]). Debouncing (`NetworkTransitionDelay`)
//! and what a restart does belong to the pure state machine.
//!
//! # What each OS watches
//!
//! - **Linux**: one `NETLINK_ROUTE` socket subscribed to the link, IPv4/IPv6
//!   address and IPv4/IPv6 route multicast groups, registered with tokio's
//!   reactor (no thread of its own); the messages' few fields the watcher
//!   reads are parsed by a pure function over bytes (`netwatch/rtnl.rs`). At
//!   start, and again after the kernel dropped notifications (`ENOBUFS`), the
//!   watcher dumps the current links, addresses and routes to learn what is
//!   already there: the kernel re-announces an address each time a router
//!   advertisement refreshes its lifetime, and without that knowledge every
//!   refresh would look like a new address. The socket belongs to the network
//!   namespace of the thread that calls [`watch`].
//! - **macOS**: one `PF_ROUTE` raw socket read through tokio's reactor;
//!   `RTM_NEWADDR`/`RTM_DELADDR` become address changes, `RTM_ADD`/
//!   `RTM_CHANGE`/`RTM_DELETE` route changes (default route: destination
//!   0.0.0.0 or `::` with an empty netmask), `RTM_IFINFO` link up/down. The
//!   messages are parsed by a pure function over bytes (`netwatch/route_msg.rs`),
//!   tested on every OS. The kernel sends no dump on this socket, so an address
//!   the watcher has not seen before counts as new.
//! - **Windows**: no watcher yet: [`watch`] returns
//!   [`NetWatchError::Unsupported`]. The notification APIs
//!   (`NotifyIpInterfaceChange`, `NotifyUnicastIpAddressChange`,
//!   `NotifyRouteChange2`) call back on a thread of the OS's, through `unsafe`
//!   FFI; they would belong in `platform/windows_ffi.rs`, the one module
//!   allowed unsafe code (CONTRIBUTING.md, "Unsafe code"). [`sample_clocks`]
//!   works (interrupt times, below).
//!
//! # What restarts discovery
//!
//! A change that can move the endpoint to another network: a default route
//! (prefix length 0) added, replaced or removed, in either family; an address
//! of the endpoint added or removed; a link that was up going down (Linux
//! removes the IPv4 routes of a link that goes down without announcing it, so
//! the default route may have gone with it; a link first seen down, such as a
//! tunnel or veth just created, is not reported); a resume from sleep; and lost notifications (the
//! kernel's buffer overflowed, so anything may have changed). Not: link-local
//! addresses (`fe80::/10`, `169.254.0.0/16`: every link has them and they never
//! lead to a PSN), loopback addresses, IPv6 temporary (privacy) addresses
//! (they rotate on the same network every few hours, next to a stable address
//! that does change when the network does), routes other than the default (a
//! VPN's or a container bridge's prefixes do not change which network the
//! endpoint is on), and a link coming up (nothing is reachable on it until it
//! gets an address or a route, which are changes of their own).
//!
//! # Resume detection
//!
//! Each OS has a clock that counts time spent suspended and one that does not
//! (Linux: `CLOCK_BOOTTIME` and `CLOCK_MONOTONIC`; macOS: `CLOCK_MONOTONIC` and
//! `CLOCK_UPTIME_RAW`, the latter read through `std::time::Instant`; Windows:
//! `QueryInterruptTime` and `QueryUnbiasedInterruptTime`). Their
//! difference grows only while the machine sleeps. [`sample_clocks`] reads both
//! and [`resumed_between`] compares two samples: a growth of more than
//! [`RESUME_THRESHOLD`] is a resume. Nothing here samples on its own: the agent
//! is measured on wakeups, so the caller decides when to look (for example
//! when a timer of its own fires anyway).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(any(target_os = "macos", test))]
mod route_msg;
#[cfg(target_os = "linux")]
mod rtnl;
#[cfg(test)]
mod tests;

/// One network interface, as the kernel names it in the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Interface {
    /// The kernel's interface index.
    pub index: u32,
    /// The interface name when the message carried it (`eth0`, `en0`).
    pub name: Option<String>,
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "#{}", self.index),
        }
    }
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Whether a route appeared (or was replaced) or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteOp {
    /// Added or replaced.
    Added,
    /// Removed.
    Removed,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetChangeKind {
    /// An address was assigned to an interface.
    AddressAdded {
        /// The address.
        addr: IpAddr,
        /// The prefix length of its subnet.
        prefix_len: u8,
        /// An IPv6 temporary (privacy) address (Linux `IFA_F_TEMPORARY`).
        temporary: bool,
    },
    /// An address was removed from an interface.
    AddressRemoved {
        /// The address.
        addr: IpAddr,
        /// The prefix length of its subnet.
        prefix_len: u8,
        /// An IPv6 temporary (privacy) address (Linux `IFA_F_TEMPORARY`).
        temporary: bool,
    },
    /// A route was added, replaced or removed.
    Route {
        /// Added/replaced or removed.
        op: RouteOp,
        /// The route's family.
        family: Family,
        /// The destination prefix (`0.0.0.0` or `::` with length 0 for the
        /// default route).
        destination: IpAddr,
        /// The destination prefix length.
        prefix_len: u8,
        /// The next hop, when the route has one.
        gateway: Option<IpAddr>,
        /// The routing table (Linux; 0 where the OS has none to report).
        table: u32,
        /// The route's metric (Linux priority; 0 where not reported).
        metric: u32,
    },
    /// A link became operational (up and running).
    LinkUp,
    /// A link stopped being operational.
    LinkDown,
    /// The machine came back from sleep.
    Resumed {
        /// How long it slept (the growth of the clocks' difference).
        slept: Duration,
    },
    /// The kernel dropped notifications (its buffer for this socket was
    /// full): anything may have changed since the last one.
    EventsLost,
}

impl NetChangeKind {
    /// [`NetChangeKind::LinkUp`] when `up` (the link is up and running), else
    /// [`NetChangeKind::LinkDown`].
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "macos", test)),
        allow(dead_code)
    )]
    fn link(up: bool) -> NetChangeKind {
        if up {
            NetChangeKind::LinkUp
        } else {
            NetChangeKind::LinkDown
        }
    }

    /// [`NetChangeKind::AddressAdded`] when `added`, else
    /// [`NetChangeKind::AddressRemoved`]: both OS readers learn which from the
    /// message type.
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "macos", test)),
        allow(dead_code)
    )]
    fn address(added: bool, addr: IpAddr, prefix_len: u8, temporary: bool) -> NetChangeKind {
        if added {
            NetChangeKind::AddressAdded {
                addr,
                prefix_len,
                temporary,
            }
        } else {
            NetChangeKind::AddressRemoved {
                addr,
                prefix_len,
                temporary,
            }
        }
    }
}

/// How the OS readers turn a failed system call on the watcher's socket
/// (step `what`) into an error.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn socket_err<E: Into<std::io::Error>>(what: &'static str) -> impl FnOnce(E) -> NetWatchError {
    move |e| NetWatchError::Socket {
        what,
        source: e.into(),
    }
}

/// One change of the endpoint's network, as the OS reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetChange {
    /// What changed.
    pub kind: NetChangeKind,
    /// The interface it happened on, when there is one (not for
    /// [`NetChangeKind::Resumed`] and [`NetChangeKind::EventsLost`]; a route
    /// message may name none).
    pub interface: Option<Interface>,
}

impl NetChange {
    /// A change of `kind` on the interface with kernel index `index`.
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "macos", test)),
        allow(dead_code)
    )]
    fn on_interface(kind: NetChangeKind, index: u32, name: Option<String>) -> NetChange {
        NetChange {
            kind,
            interface: Some(Interface { index, name }),
        }
    }

    /// True when this change may have moved the endpoint to another network,
    /// so discovery should start again (once the network is quiet): the
    /// default route, the endpoint's own addresses, a link going down, a
    /// resume, lost notifications. The module documentation says why the
    /// others do not count.
    pub fn restarts_discovery(&self) -> bool {
        match &self.kind {
            NetChangeKind::AddressAdded {
                addr, temporary, ..
            }
            | NetChangeKind::AddressRemoved {
                addr, temporary, ..
            } => !temporary && is_endpoint_address(*addr),
            NetChangeKind::Route { prefix_len, .. } => *prefix_len == 0,
            NetChangeKind::LinkDown | NetChangeKind::Resumed { .. } | NetChangeKind::EventsLost => {
                true
            }
            NetChangeKind::LinkUp => false,
        }
    }
}

/// An address that identifies the endpoint on a network: not loopback, not
/// link-local, not unspecified or multicast (which no interface is assigned
/// in practice, but a message could carry).
fn is_endpoint_address(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            !(a.is_loopback() || a.is_link_local() || a.is_unspecified() || a.is_multicast())
        }
        IpAddr::V6(a) => {
            let ipv6_link_local = (a.segments()[0] & 0xffc0) == 0xfe80;
            if let Some(mapped) = a.to_ipv4_mapped() {
                return is_endpoint_address(IpAddr::V4(mapped));
            }
            !(a.is_loopback() || ipv6_link_local || a.is_unspecified() || a.is_multicast())
        }
    }
}

impl fmt::Display for NetChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NetChangeKind::AddressAdded {
                addr, prefix_len, ..
            } => write!(f, "address {addr}/{prefix_len} added")?,
            NetChangeKind::AddressRemoved {
                addr, prefix_len, ..
            } => write!(f, "address {addr}/{prefix_len} removed")?,
            NetChangeKind::Route {
                op,
                destination,
                prefix_len,
                gateway,
                ..
            } => {
                let what = if *prefix_len == 0 {
                    "default route".to_owned()
                } else {
                    format!("route {destination}/{prefix_len}")
                };
                let op = match op {
                    RouteOp::Added => "added",
                    RouteOp::Removed => "removed",
                };
                match gateway {
                    Some(gw) => write!(f, "{what} via {gw} {op}")?,
                    None => write!(f, "{what} {op}")?,
                }
            }
            NetChangeKind::LinkUp => write!(f, "link up")?,
            NetChangeKind::LinkDown => write!(f, "link down")?,
            NetChangeKind::Resumed { slept } => {
                write!(f, "resumed after {}s asleep", slept.as_secs())?
            }
            NetChangeKind::EventsLost => write!(f, "network notifications lost")?,
        }
        if let Some(iface) = &self.interface {
            write!(f, " on {iface}")?;
        }
        Ok(())
    }
}

/// The watcher could not be started or stopped working.
#[derive(Debug, thiserror::Error)]
pub enum NetWatchError {
    /// This OS has no watcher (or no clock pair) in posture-sync yet.
    #[error("network change watching is not supported on {os}: {what}")]
    Unsupported {
        /// The OS (`std::env::consts::OS`).
        os: &'static str,
        /// What is missing, for the administrator.
        what: &'static str,
    },
    /// A system call on the watcher's socket failed.
    #[error("network change watcher: {what} failed: {source}")]
    Socket {
        /// The step that failed (open, bind, register, read).
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Starts watching the endpoint's addresses, routes and links. Must be
/// called within a tokio runtime (the socket is registered with its reactor).
/// On Linux the watcher sees the network namespace of the calling thread.
pub fn watch() -> Result<NetWatcher, NetWatchError> {
    #[cfg(target_os = "linux")]
    {
        linux::Source::open().map(|src| NetWatcher {
            src,
            tracker: Tracker::default(),
        })
    }
    #[cfg(target_os = "macos")]
    {
        macos::Source::open().map(|src| NetWatcher {
            src,
            tracker: Tracker::default(),
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        Err(NetWatchError::Unsupported {
            os: std::env::consts::OS,
            what: "no network change notifications on this OS yet",
        })
    }
}

/// A running watcher: [`NetWatcher::next`] yields each change once.
#[derive(Debug)]
pub struct NetWatcher {
    #[cfg(target_os = "linux")]
    src: linux::Source,
    #[cfg(target_os = "macos")]
    src: macos::Source,
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    tracker: Tracker,
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    _never: std::convert::Infallible,
}

impl NetWatcher {
    /// The next change. `None` when the watcher's socket failed for good
    /// (logged with the reason); the caller may then [`watch`] again.
    /// Cancel-safe: a change read but not yet returned stays queued.
    pub async fn next(&mut self) -> Option<NetChange> {
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        loop {
            match self.src.next().await {
                Ok(Observed::Change(change)) => {
                    if let Some(change) = self.tracker.observe(change) {
                        tracing::debug!(
                            change = %change,
                            restarts_discovery = change.restarts_discovery(),
                            "network change"
                        );
                        return Some(change);
                    }
                }
                Ok(Observed::Known(change)) => self.tracker.seed(change),
                Ok(Observed::Resync) => {
                    self.tracker = Tracker::default();
                    return Some(NetChange {
                        kind: NetChangeKind::EventsLost,
                        interface: None,
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "network change watcher stopped");
                    return None;
                }
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        {
            let never: std::convert::Infallible = self._never;
            match never {}
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
impl NetWatcher {
    /// Waits until the watcher knows the state it started in (see
    /// `linux::Source::until_seeded`).
    async fn until_seeded(&mut self) -> Result<(), NetWatchError> {
        self.src.until_seeded().await
    }
}

/// What an OS source read: a change, something that already existed when
/// the watcher (re)started (a dump reply), or the news that notifications
/// were lost and the source is dumping the current state again.
#[cfg_attr(not(any(target_os = "linux", target_os = "macos")), allow(dead_code))]
#[derive(Debug)]
enum Observed {
    Change(NetChange),
    // Only Linux dumps the current state; macOS's route socket has no dump.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Known(NetChange),
    Resync,
}

/// Destination, prefix length, table, metric.
type RouteKey = (IpAddr, u8, u32, u32);
/// Gateway and outgoing interface index.
type RouteVia = (Option<IpAddr>, Option<u32>);

/// What the watcher knows exists, so that a re-announcement of a known
/// address, route or link state is not reported again: Linux re-sends an
/// address each time a router advertisement refreshes its lifetime, and an
/// address goes through tentative → valid with a message for each.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos", test)),
    allow(dead_code)
)]
#[derive(Debug, Default)]
struct Tracker {
    addresses: HashSet<(u32, IpAddr, u8)>,
    /// By the kernel's identity of a route (destination, prefix, table,
    /// metric): `ip route replace` and NetworkManager's re-application of a
    /// route on DHCP renewal send a new route with that identity and no
    /// removal of the old one.
    routes: HashMap<RouteKey, RouteVia>,
    links: HashMap<u32, bool>,
}

#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos", test)),
    allow(dead_code)
)]
impl Tracker {
    /// Records what exists without reporting it.
    fn seed(&mut self, change: NetChange) {
        let _ = self.observe(change);
    }

    /// The change to report, or `None` when it only repeats what is known.
    /// A removal of something never seen is still reported: the state may
    /// have been missed, and reporting errs on the side of rediscovery.
    fn observe(&mut self, change: NetChange) -> Option<NetChange> {
        let index = change.interface.as_ref().map(|i| i.index);
        let fresh = match &change.kind {
            NetChangeKind::AddressAdded {
                addr, prefix_len, ..
            } => self
                .addresses
                .insert((index.unwrap_or(0), *addr, *prefix_len)),
            NetChangeKind::AddressRemoved {
                addr, prefix_len, ..
            } => {
                self.addresses
                    .remove(&(index.unwrap_or(0), *addr, *prefix_len));
                true
            }
            NetChangeKind::Route {
                op,
                destination,
                prefix_len,
                gateway,
                table,
                metric,
                ..
            } => {
                let key = (*destination, *prefix_len, *table, *metric);
                match op {
                    RouteOp::Added => {
                        let via = (*gateway, index);
                        self.routes.insert(key, via) != Some(via)
                    }
                    RouteOp::Removed => {
                        self.routes.remove(&key);
                        true
                    }
                }
            }
            // A link counts as going down only when it was seen up: a link
            // just created (a VPN's tunnel, a container's veth) starts down
            // and carried no route.
            NetChangeKind::LinkUp => match index {
                Some(i) => self.links.insert(i, true) != Some(true),
                None => true,
            },
            NetChangeKind::LinkDown => match index {
                Some(i) => self.links.insert(i, false) == Some(true),
                None => true,
            },
            NetChangeKind::Resumed { .. } | NetChangeKind::EventsLost => true,
        };
        fresh.then_some(change)
    }
}

/// Growth of the suspend-counting clock over the awake clock above which two
/// samples are a resume. Both clocks are read one after the other, so their
/// difference jitters by microseconds (more on a loaded machine, or a VM
/// whose vCPU was descheduled between the two reads); real sleeps last
/// seconds at least.
pub const RESUME_THRESHOLD: Duration = Duration::from_secs(2);

/// The two clocks read at (nearly) one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSample {
    /// Time since boot including time spent suspended.
    pub with_suspend: Duration,
    /// Time since an arbitrary origin, excluding time spent suspended.
    pub awake: Duration,
}

/// How long the machine slept between samples `a` and `b` (taken in that
/// order), when the suspend-counting clock ran ahead of the awake one by
/// more than [`RESUME_THRESHOLD`]; `None` otherwise, including for samples
/// out of order.
pub fn resumed_between(a: ClockSample, b: ClockSample) -> Option<Duration> {
    let total = b.with_suspend.checked_sub(a.with_suspend)?;
    let awake = b.awake.checked_sub(a.awake)?;
    let slept = total.checked_sub(awake)?;
    (slept > RESUME_THRESHOLD).then_some(slept)
}

/// Reads both clocks now (a few nanoseconds; no wakeup of its own).
pub fn sample_clocks() -> Result<ClockSample, NetWatchError> {
    #[cfg(target_os = "linux")]
    {
        use rustix::time::{ClockId, clock_gettime};
        let d = |t: rustix::time::Timespec| {
            Duration::new(
                u64::try_from(t.tv_sec).unwrap_or(0),
                u32::try_from(t.tv_nsec).unwrap_or(0),
            )
        };
        let awake = d(clock_gettime(ClockId::Monotonic));
        let with_suspend = d(clock_gettime(ClockId::Boottime));
        Ok(ClockSample {
            with_suspend,
            awake,
        })
    }
    #[cfg(target_os = "macos")]
    {
        Ok(macos::sample_clocks())
    }
    #[cfg(windows)]
    {
        let (with_suspend, awake) = crate::platform::windows_ffi::interrupt_times();
        Ok(windows_clock_sample(with_suspend, awake))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        Err(NetWatchError::Unsupported {
            os: std::env::consts::OS,
            what: "no pair of clocks with and without the time spent suspended",
        })
    }
}

/// A sample from Windows' interrupt times (100 ns units): `QueryInterruptTime`
/// counts the time spent suspended, `QueryUnbiasedInterruptTime` does not.
#[cfg(any(windows, test))]
fn windows_clock_sample(with_suspend_100ns: u64, awake_100ns: u64) -> ClockSample {
    let d = |ticks: u64| Duration::new(ticks / 10_000_000, (ticks % 10_000_000) as u32 * 100);
    ClockSample {
        with_suspend: d(with_suspend_100ns),
        awake: d(awake_100ns),
    }
}
