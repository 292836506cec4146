//! One fleet run's figures as one typed record ([`Summary`]): written as
//! JSON (`--json`) and rendered as text from the same record.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::host::MachineState;
use super::stats::ByKind;

/// The PSN's load in one request kind over the measured period, from 1 s
/// windows of psn-lab's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Requests in the busiest window, per second.
    pub peak: f64,
    /// The 99th percentile of the windows, per second.
    pub p99: f64,
    /// Over the whole period, per second.
    pub mean: f64,
    /// Requests in the period.
    pub total: u64,
}

impl Rate {
    /// The rate of `counts` (one per window, each `secs[i]` long).
    pub fn of(counts: &[u64], secs: &[f64]) -> Rate {
        let mut rates: Vec<f64> = counts
            .iter()
            .zip(secs)
            .map(|(&c, &s)| if s > 0.0 { c as f64 / s } else { 0.0 })
            .collect();
        rates.sort_by(f64::total_cmp);
        let total: u64 = counts.iter().sum();
        let span: f64 = secs.iter().sum();
        Rate {
            peak: rates.last().copied().unwrap_or(0.0),
            p99: percentile(&rates, 0.99).unwrap_or(0.0),
            mean: if span > 0.0 { total as f64 / span } else { 0.0 },
            total,
        }
    }
}

/// The `q` quantile (nearest rank) of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The PSN load by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// `GET /auth/discovery`.
    pub discovery: Rate,
    /// `GET /auth/requirements`.
    pub requirements: Rate,
    /// `POST /auth/report`.
    pub report: Rate,
    /// State sync probes: answered ones plus connections the dACL
    /// emulation reset (each is a TCP connection to the PSN's port).
    pub probe: Rate,
    /// Everything together.
    pub all: Rate,
}

/// How fast the endpoints the scenario hit were `known` again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// Endpoints the scenario hit (whose posture the PSN lost, or that
    /// started).
    pub affected: usize,
    /// Of those, how many completed an assessment again.
    pub recovered: usize,
    /// Seconds until half of them had.
    pub p50_s: Option<f64>,
    /// Seconds until 99 % had.
    pub p99_s: Option<f64>,
    /// Seconds until all had (`None`: not within the run).
    pub p100_s: Option<f64>,
}

impl Recovery {
    /// From each affected endpoint's time to `known` (ms; `None` = not yet).
    pub fn of(times_ms: &[Option<u64>]) -> Recovery {
        let mut done: Vec<f64> = times_ms
            .iter()
            .flatten()
            .map(|&ms| ms as f64 / 1000.0)
            .collect();
        done.sort_by(f64::total_cmp);
        let n = times_ms.len();
        if n == 0 {
            return Recovery {
                p100_s: Some(0.0),
                ..Recovery::default()
            };
        }
        // A quantile of the affected endpoints, counting the ones not yet
        // known as slowest: reached only if enough have recovered.
        let at = |q: f64| {
            let need = ((q * n as f64).ceil() as usize).max(1);
            done.get(need - 1).copied()
        };
        Recovery {
            affected: n,
            recovered: done.len(),
            p50_s: at(0.5),
            p99_s: at(0.99),
            p100_s: (done.len() == n).then(|| done.last().copied().unwrap_or(0.0)),
        }
    }

    /// Whether every affected endpoint recovered.
    pub fn complete(&self) -> bool {
        self.recovered == self.affected
    }
}

/// One 1 s window of psn-lab's counters (summed over its nodes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Seconds from the scenario's moment to the window's end.
    pub t: f64,
    /// The window's length in seconds.
    pub secs: f64,
    /// Requests served, by kind; `probe` includes dACL-reset connections.
    pub requests: ByKind,
    /// Endpoints `known` at the window's end.
    pub known: usize,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The scenario (`steady`, `psn-restart`, ...).
    pub scenario: String,
    /// What the scenario did, in words.
    pub what: String,
    /// Simulated endpoints.
    pub endpoints: usize,
    /// PSN nodes.
    pub nodes: usize,
    /// StateSyncProbeInterval, seconds.
    pub interval_s: u64,
    /// NetworkTransitionDelay, seconds.
    pub transition_delay_s: u64,
    /// The agent's start spread (seconds; 0 = off) in force.
    pub start_spread_s: f64,
    /// Seconds measured from the scenario's moment.
    pub measured_s: f64,
    /// The PSN load over the measured period.
    pub load: Load,
    /// Time to `known` again.
    pub recovery: Recovery,
    /// Requests that got no usable answer during the measured period (as
    /// the endpoints saw them), by kind; blocked probes are not failures.
    pub failed_requests: ByKind,
    /// CPU time of the fleet process (the agents) per endpoint, ms, over
    /// the measured period.
    pub agent_cpu_ms_per_endpoint: f64,
    /// The same as a share of one core per 1,000 endpoints, %.
    pub agent_cpu_pct_per_1000: f64,
    /// CPU seconds psn-lab used over the measured period.
    pub psn_cpu_s: f64,
    /// The profile lint's warnings for the fleet's profile.
    pub lint: Vec<String>,
    /// The machine.
    pub machine: MachineState,
    /// The 1 s windows.
    pub windows: Vec<Window>,
}

impl Summary {
    /// Every affected endpoint recovered and the run measured something.
    pub fn ok(&self) -> bool {
        self.recovery.complete() && !self.windows.is_empty()
    }

    /// The summary as text for a terminal.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "fleet-sim {}: {} endpoints, {} PSN nodes, interval {} s, transition delay {} s, start spread {}",
            self.scenario,
            self.endpoints,
            self.nodes,
            self.interval_s,
            self.transition_delay_s,
            if self.start_spread_s > 0.0 {
                format!("{} s", self.start_spread_s)
            } else {
                "off".to_owned()
            }
        );
        let _ = writeln!(s, "  {}", self.what);
        let _ = writeln!(s, "  measured {:.0} s", self.measured_s);
        let _ = writeln!(
            s,
            "  PSN requests/s     {:>9} {:>9} {:>9} {:>9}",
            "peak", "p99", "mean", "total"
        );
        for (name, r) in [
            ("discovery", self.load.discovery),
            ("requirements", self.load.requirements),
            ("report", self.load.report),
            ("probe", self.load.probe),
            ("all", self.load.all),
        ] {
            let _ = writeln!(
                s,
                "    {name:<16} {:>9.1} {:>9.1} {:>9.1} {:>9}",
                r.peak, r.p99, r.mean, r.total
            );
        }
        let secs = |v: Option<f64>| v.map_or("not reached".to_owned(), |v| format!("{v:.1} s"));
        let r = &self.recovery;
        if r.affected == 0 {
            let _ = writeln!(s, "  known again        no endpoint lost its posture");
        } else {
            let _ = writeln!(
                s,
                "  known again        {}/{} endpoints; 50 % {}, 99 % {}, 100 % {}",
                r.recovered,
                r.affected,
                secs(r.p50_s),
                secs(r.p99_s),
                secs(r.p100_s)
            );
        }
        let f = self.failed_requests;
        let _ = writeln!(
            s,
            "  failed requests    {} (discovery {}, requirements {}, report {}, probe {})",
            f.total(),
            f.discovery,
            f.requirements,
            f.report,
            f.probe
        );
        let _ = writeln!(
            s,
            "  agent CPU          {:.2} ms per endpoint ({:.2} % of a core per 1,000 endpoints); psn-lab {:.1} s",
            self.agent_cpu_ms_per_endpoint, self.agent_cpu_pct_per_1000, self.psn_cpu_s
        );
        let m = &self.machine;
        let _ = writeln!(
            s,
            "  machine            {} cores, load {:.2} at start, {:.2} at end, {} open files",
            m.cores, m.load_at_start, m.load_at_end, m.open_files
        );
        for w in &self.lint {
            let _ = writeln!(s, "  profile lint       {w}");
        }
        let _ = writeln!(
            s,
            "  result             {}",
            if self.ok() {
                "every affected endpoint is known again"
            } else {
                "NOT every affected endpoint recovered within the run"
            }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_windows() {
        let r = Rate::of(&[10, 30, 20], &[1.0, 1.0, 2.0]);
        assert_eq!(r.peak, 30.0);
        assert_eq!(r.total, 60);
        assert_eq!(r.mean, 15.0);
        assert_eq!(r.p99, 30.0);
        assert_eq!(Rate::of(&[], &[]), Rate::default());
    }

    #[test]
    fn recovery_counts_the_slow_ones_as_not_yet() {
        let r = Recovery::of(&[Some(1000), Some(3000), None, Some(2000)]);
        assert_eq!(r.affected, 4);
        assert_eq!(r.recovered, 3);
        assert_eq!(r.p50_s, Some(2.0));
        assert_eq!(r.p99_s, None);
        assert_eq!(r.p100_s, None);
        assert!(!r.complete());
        let all = Recovery::of(&[Some(500), Some(1500)]);
        assert_eq!(all.p100_s, Some(1.5));
        assert!(all.complete());
    }
}
