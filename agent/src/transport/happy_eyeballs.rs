//! TCP connection racing for names with several addresses: RFC 8305 "Happy
//! Eyeballs v2", sections 4 and 5.
//!
//! A dual-stack endpoint usually resolves a PSN name to an IPv6 and an IPv4
//! address. Tried one after the other, an IPv6 address that is black-holed (a
//! route exists, but a firewall or the dACL drops the packets) would eat the
//! whole connect budget and the PSN would look dead although IPv4 answers at
//! once. So:
//!
//! 1. [`interleave`] orders the addresses: the family of the resolver's first
//!    answer first (normally IPv6, as the system's address selection put it
//!    there), then alternating families, each family in the resolver's order;
//!    duplicates are dropped (section 4, First Address Family Count 1);
//! 2. `race` starts the first attempt, and the next one
//!    [`CONNECTION_ATTEMPT_DELAY`] later or as soon as an attempt fails,
//!    whichever comes first (section 5); the first connection that succeeds
//!    wins and the others are dropped, which closes their sockets;
//! 3. everything stays inside the caller's connect [`Deadline`]; an attempt
//!    still running when it passes counts as timed out;
//! 4. when every attempt failed, `RaceError::outcome` reports the most
//!    useful failure (ranking in `rank`).
//!
//! The delay between attempts is a [`Deadline`] too (a kernel timer, one
//! wakeup when it fires, none when the first attempt connects in time), and
//! it exists only while another address waits: an IP literal or a name with
//! one address costs nothing extra.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use super::deadline::Deadline;
use crate::outcome::{BlockedKind, FailureKind, Outcome, Stage, classify_io_failure};

/// How long an attempt runs alone before the next address is tried (RFC 8305
/// section 5 recommends 250 ms).
pub const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The addresses in the order they are tried: families interleaved, the first
/// answer's family first, each family in the resolver's order, no duplicates.
pub fn interleave(addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut first = Vec::new();
    let mut other = Vec::new();
    let mut first_is_v6 = None;
    for addr in addrs {
        if first.contains(&addr) || other.contains(&addr) {
            continue;
        }
        let leads = *first_is_v6.get_or_insert(addr.is_ipv6());
        if addr.is_ipv6() == leads {
            first.push(addr);
        } else {
            other.push(addr);
        }
    }
    let mut out = Vec::with_capacity(first.len() + other.len());
    let (mut a, mut b) = (first.into_iter(), other.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// The connection that won the race.
#[derive(Debug)]
pub(crate) struct Connected<S> {
    /// The stream.
    pub(crate) stream: S,
    /// The address it is connected to.
    pub(crate) addr: SocketAddr,
    /// Its place in the order (0 = the first address).
    pub(crate) index: usize,
}

/// One attempt that did not connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Its place in the order.
    pub(crate) index: usize,
    /// The address.
    pub(crate) addr: SocketAddr,
    /// The error's kind (`TimedOut` for an attempt cut off by the deadline).
    pub(crate) kind: io::ErrorKind,
    /// The system's message.
    pub(crate) message: String,
}

/// No attempt connected: every started attempt's failure, in address order,
/// and the addresses the deadline left no time for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RaceError {
    /// The attempts that failed or were cut off.
    pub(crate) failures: Vec<Failure>,
    /// Addresses never tried.
    pub(crate) untried: Vec<SocketAddr>,
}

/// How useful a failure is to report when all failed: lower is better.
///
/// An answer on the port (refused, then reset) says most about the PSN and
/// is what a dACL `reject` looks like; then an ICMP reject on the way (host
/// unreachable: an ACL that rejects with ICMP); then silence (a dACL `drop`,
/// or a black-holed family); then "no route" on one family, which says
/// nothing about the PSN (an IPv6 address without an IPv6 route is the
/// everyday case on IPv4-only networks); anything else last. So a name whose
/// IPv6 address has no route and whose IPv4 address is behind a dACL `drop`
/// stays "blocked (connect timed out)", as it was when the addresses were
/// tried one by one; ties go to the earlier address.
pub(crate) fn rank(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Blocked(BlockedKind::Refused) => 0,
        Outcome::Blocked(BlockedKind::Reset) => 1,
        Outcome::Blocked(BlockedKind::HostUnreachable) => 2,
        Outcome::Blocked(_) => 3,
        Outcome::Failed(FailureKind::Unreachable { .. }) => 4,
        _ => 5,
    }
}

impl Failure {
    fn outcome(&self) -> Outcome {
        classify_io_failure(
            Stage::Connect,
            self.kind,
            &format!("{}: {}", self.addr, self.message),
        )
    }
}

impl RaceError {
    /// The classified outcome: the most useful failure by [`rank`]; a
    /// connect timeout when nothing was started.
    pub(crate) fn outcome(&self) -> Outcome {
        self.failures
            .iter()
            .map(Failure::outcome)
            .enumerate()
            .min_by_key(|(i, o)| (rank(o), *i))
            .map(|(_, o)| o)
            .unwrap_or(Outcome::Blocked(BlockedKind::ConnectTimeout))
    }

    /// One line for the debug log: every address and what happened to it.
    pub(crate) fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.addr, f.message))
            .collect();
        parts.extend(self.untried.iter().map(|a| format!("{a}: not tried")));
        parts.join("; ")
    }
}

/// Races connections to `addrs` (already in [`interleave`] order) with
/// `connect`, starting the next attempt `delay` after the previous one or as
/// soon as one fails, until one connects or `deadline` passes. The losers are
/// dropped before this returns.
pub(crate) async fn race<S, F, Fut>(
    addrs: &[SocketAddr],
    delay: Duration,
    deadline: &mut Deadline,
    mut connect: F,
) -> Result<Connected<S>, RaceError>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<S>>,
{
    // The attempts are polled in place (no spawned tasks, no extra crate):
    // dropping them is the cancellation, and nothing outlives the call.
    let mut running: Vec<(usize, Pin<Box<Fut>>)> = Vec::with_capacity(addrs.len().min(4));
    let mut failures: Vec<Failure> = Vec::new();
    let mut next = 0;
    // Armed only while an address waits for its turn.
    let mut stagger: Option<Deadline> = None;
    let mut start_now = true;
    let result = std::future::poll_fn(|cx| {
        loop {
            let mut progressed = false;
            if next < addrs.len() {
                let due = start_now
                    || running.is_empty()
                    || stagger
                        .as_mut()
                        .is_some_and(|s| Pin::new(s).poll(cx).is_ready());
                if due {
                    running.push((next, Box::pin(connect(addrs[next]))));
                    next += 1;
                    stagger = (next < addrs.len()).then(|| Deadline::at(Instant::now() + delay));
                    start_now = false;
                    progressed = true;
                }
            }
            let mut i = 0;
            while i < running.len() {
                match running[i].1.as_mut().poll(cx) {
                    Poll::Ready(Ok(stream)) => {
                        let index = running[i].0;
                        return Poll::Ready(Ok(Connected {
                            stream,
                            addr: addrs[index],
                            index,
                        }));
                    }
                    Poll::Ready(Err(e)) => {
                        let (index, _) = running.swap_remove(i);
                        failures.push(Failure {
                            index,
                            addr: addrs[index],
                            kind: e.kind(),
                            message: e.to_string(),
                        });
                        start_now = true;
                        progressed = true;
                    }
                    Poll::Pending => i += 1,
                }
            }
            if running.is_empty() && next == addrs.len() {
                return Poll::Ready(Err(()));
            }
            if Pin::new(&mut *deadline).poll(cx).is_ready() {
                for (index, _) in running.drain(..) {
                    failures.push(Failure {
                        index,
                        addr: addrs[index],
                        kind: io::ErrorKind::TimedOut,
                        message: "no answer within the connect time limit".to_owned(),
                    });
                }
                return Poll::Ready(Err(()));
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    })
    .await;
    // Dropping the attempts still running closes their sockets.
    drop(running);
    result.map_err(|()| {
        failures.sort_by_key(|f| f.index);
        RaceError {
            failures,
            untried: addrs[next..].to_vec(),
        }
    })
}

#[cfg(test)]
mod tests;
