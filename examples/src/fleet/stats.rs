//! What the simulated endpoints report to the fleet as they run: each
//! endpoint's phase, when it last became `known`, the PSN it is connected
//! to, and the requests that failed, by kind. Lock-free counters: ten
//! thousand endpoints write here from every worker thread.

use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, Ordering};

use posture_sync::machine::PhaseName;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// What a request asked for (the four requests of protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET /auth/discovery`.
    Discovery,
    /// `GET /auth/requirements`.
    Requirements,
    /// `POST /auth/report`.
    Report,
    /// `GET /auth/posturestatus` (a state sync probe).
    Probe,
}

impl Kind {
    fn index(self) -> usize {
        match self {
            Kind::Discovery => 0,
            Kind::Requirements => 1,
            Kind::Report => 2,
            Kind::Probe => 3,
        }
    }
}

/// Counts by request kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByKind {
    /// Discovery requests.
    pub discovery: u64,
    /// Requirements requests.
    pub requirements: u64,
    /// Reports.
    pub report: u64,
    /// State sync probes.
    pub probe: u64,
}

impl ByKind {
    /// `self - earlier`, kind by kind (counters only grow).
    pub fn since(self, earlier: ByKind) -> ByKind {
        ByKind {
            discovery: self.discovery.saturating_sub(earlier.discovery),
            requirements: self.requirements.saturating_sub(earlier.requirements),
            report: self.report.saturating_sub(earlier.report),
            probe: self.probe.saturating_sub(earlier.probe),
        }
    }

    /// All kinds together.
    pub fn total(self) -> u64 {
        self.discovery + self.requirements + self.report + self.probe
    }
}

/// "Never" in [`Stats::known_at_ms`].
const NEVER: u64 = u64::MAX;

/// The fleet's shared record of its endpoints.
#[derive(Debug)]
pub struct Stats {
    origin: Instant,
    phases: Vec<AtomicU8>,
    known_at_ms: Vec<AtomicU64>,
    connected_port: Vec<AtomicU16>,
    failed: [AtomicU64; 4],
    sent: [AtomicU64; 4],
}

impl Stats {
    /// A record for `endpoints` endpoints, all `idle`; times count from
    /// `origin`.
    pub fn new(endpoints: usize, origin: Instant) -> Stats {
        Stats {
            origin,
            phases: (0..endpoints).map(|_| AtomicU8::new(0)).collect(),
            known_at_ms: (0..endpoints).map(|_| AtomicU64::new(NEVER)).collect(),
            connected_port: (0..endpoints).map(|_| AtomicU16::new(0)).collect(),
            failed: Default::default(),
            sent: Default::default(),
        }
    }

    /// How many endpoints.
    pub fn len(&self) -> usize {
        self.phases.len()
    }

    /// Whether the fleet is empty.
    pub fn is_empty(&self) -> bool {
        self.phases.is_empty()
    }

    /// Milliseconds since the origin.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Endpoint `i` entered `phase`; `connected` is the state sync port of
    /// the PSN it is connected to, if any.
    pub fn phase_changed(&self, i: usize, phase: PhaseName, connected: Option<u16>) {
        let code = match phase {
            PhaseName::Idle => 0,
            PhaseName::Discovering => 1,
            PhaseName::Assessing => 2,
            PhaseName::Known => 3,
        };
        self.phases[i].store(code, Ordering::Relaxed);
        if phase == PhaseName::Known {
            self.known_at_ms[i].store(self.now_ms(), Ordering::Relaxed);
        }
        self.connected_port[i].store(connected.unwrap_or(0), Ordering::Relaxed);
    }

    /// One request of `kind` was made; `failed` when it got no usable answer
    /// (a probe the dACL blocked is the normal course, not a failure).
    pub fn request(&self, kind: Kind, failed: bool) {
        self.sent[kind.index()].fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed[kind.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many endpoints are `known` now.
    pub fn known(&self) -> usize {
        self.phases
            .iter()
            .filter(|p| p.load(Ordering::Relaxed) == 3)
            .count()
    }

    /// The endpoints connected to the PSN whose state sync port is `port`.
    pub fn connected_to(&self, port: u16) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.connected_port[i].load(Ordering::Relaxed) == port)
            .collect()
    }

    /// For each endpoint of `which`: how long after `since_ms` it became
    /// `known` (in ms), or `None` if it has not since then.
    pub fn known_after(&self, which: &[usize], since_ms: u64) -> Vec<Option<u64>> {
        which
            .iter()
            .map(|&i| {
                let at = self.known_at_ms[i].load(Ordering::Relaxed);
                (at != NEVER && at >= since_ms && self.phases[i].load(Ordering::Relaxed) == 3)
                    .then(|| at - since_ms)
            })
            .collect()
    }

    /// Requests that failed so far, by kind.
    pub fn failed(&self) -> ByKind {
        self.by_kind(&self.failed)
    }

    /// Requests made so far, by kind (as the endpoints count them).
    pub fn sent(&self) -> ByKind {
        self.by_kind(&self.sent)
    }

    fn by_kind(&self, c: &[AtomicU64; 4]) -> ByKind {
        ByKind {
            discovery: c[0].load(Ordering::Relaxed),
            requirements: c[1].load(Ordering::Relaxed),
            report: c[2].load(Ordering::Relaxed),
            probe: c[3].load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_counts_only_endpoints_known_again_after_the_mark() {
        let stats = Stats::new(3, Instant::now());
        stats.phase_changed(0, PhaseName::Known, Some(8449));
        let mark = stats.now_ms();
        stats.phase_changed(1, PhaseName::Discovering, None);
        stats.phase_changed(1, PhaseName::Known, Some(8449));
        stats.phase_changed(2, PhaseName::Assessing, None);
        let after = stats.known_after(&[0, 1, 2], mark);
        // Endpoint 0 became known before the mark (or within its
        // millisecond: times are whole milliseconds), so it is not asserted.
        assert!(after[1].is_some());
        assert_eq!(after[2], None);
        assert_eq!(stats.known(), 2);
        assert_eq!(stats.connected_to(8449).len(), 2);
    }

    #[test]
    fn failures_are_counted_by_kind() {
        let stats = Stats::new(1, Instant::now());
        stats.request(Kind::Probe, false);
        stats.request(Kind::Discovery, true);
        assert_eq!(stats.sent().total(), 2);
        assert_eq!(
            stats.failed(),
            ByKind {
                discovery: 1,
                ..ByKind::default()
            }
        );
    }
}
