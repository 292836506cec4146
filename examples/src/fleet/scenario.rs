//! The scenarios: start psn-lab and the endpoints, let the fleet settle,
//! do what the scenario does to the PSNs at one moment, and measure what
//! follows (the PSN's requests in 1 s windows, each affected endpoint's
//! time to `known`, failed requests, CPU time).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use posture_sync::assess::{Assessor, CheckPolicy};
use posture_sync::machine::Settings;
use posture_sync::probe::PROBE_TIMEOUTS;
use posture_sync::transport::{self, Transport};
use profile_schema::Profile;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::FleetError;
use super::endpoint::{self, EndpointIo};
use super::host::{self, MachineState};
use super::lab::Lab;
use super::stats::{ByKind, Stats};
use super::summary::{Load, Rate, Recovery, Summary, Window};
use crate::faults::FaultMode;

/// What happens to the PSNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Nothing: the fleet probes, the dACL emulation blocks every probe.
    Steady,
    /// Every session Unknown at once, as after a PSN restart or an ISE
    /// upgrade.
    PsnRestart,
    /// The last node fails: its connections are reset, its sessions
    /// Unknown, and its endpoints move to the other nodes.
    NodeFailure,
    /// Every endpoint starts within one second (a building's switch came
    /// back).
    MassReturn,
    /// A share of the sessions gets a CoA to Unknown within one second, as
    /// the MDM poller does when many verdicts change at once.
    MdmStorm,
}

impl Scenario {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::PsnRestart => "psn-restart",
            Scenario::NodeFailure => "node-failure",
            Scenario::MassReturn => "mass-return",
            Scenario::MdmStorm => "mdm-storm",
        }
    }
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct Options {
    /// The scenario.
    pub scenario: Scenario,
    /// Simulated endpoints.
    pub endpoints: usize,
    /// StateSyncProbeInterval, seconds (1-300).
    pub interval_s: u64,
    /// NetworkTransitionDelay, seconds (2-30).
    pub transition_delay_s: u64,
    /// PSN nodes (node-failure needs at least 2).
    pub nodes: usize,
    /// Before the scenario's moment, the endpoints start evenly over this
    /// long (not for mass-return).
    pub ramp: Duration,
    /// The agent's spread of its first discovery after a start (the herd
    /// fix; `Duration::ZERO` turns it off).
    pub start_spread: Duration,
    /// How long to measure at least after the scenario's moment.
    pub measure: Duration,
    /// How long the affected endpoints may take to be known again before
    /// the run gives up on them.
    pub recover_within: Duration,
    /// mdm-storm: the share of sessions whose verdict changes (0-1).
    pub storm_share: f64,
    /// The psn-lab binary.
    pub psn_lab: PathBuf,
    /// Where psn-lab keeps its files.
    pub dir: PathBuf,
}

/// The first simulated endpoint's source address is 127.10.0.1; the rest
/// follow (127.10.0.0/16 holds 65,535).
const FIRST_SOURCE: u32 = u32::from_be_bytes([127, 10, 0, 1]);

/// Endpoint `i`'s source address.
pub fn source_address(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(FIRST_SOURCE + i as u32)
}

/// Endpoint `i`'s MAC: locally administered (`02:`), unique per index.
pub fn mac_address(i: usize) -> String {
    let b = (i as u32).to_be_bytes();
    format!("02:fe:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3])
}

/// The most endpoints a run takes: the 127.10.0.0/16 source addresses.
pub const MAX_ENDPOINTS: usize = 65_535;

/// Runs one scenario and returns its summary.
pub async fn run(opts: &Options) -> Result<Summary, FleetError> {
    if opts.endpoints == 0 || opts.endpoints > MAX_ENDPOINTS {
        return Err(FleetError::Usage(format!(
            "--endpoints {} is out of range (1-{MAX_ENDPOINTS})",
            opts.endpoints
        )));
    }
    if opts.scenario == Scenario::NodeFailure && opts.nodes < 2 {
        return Err(FleetError::Usage(
            "node-failure needs at least 2 nodes (--nodes)".into(),
        ));
    }
    let open_files = host::raise_open_files();
    if opts.endpoints as u64 > host::endpoints_for(open_files) {
        tracing::warn!(
            open_files,
            endpoints = opts.endpoints,
            "the open-file limit may not carry this many endpoints; raise the hard limit (ulimit -Hn) if connections fail with `Too many open files`"
        );
    }
    let load_at_start = host::load_average();
    let lab = Lab::start(&opts.psn_lab, &opts.dir, opts.nodes).await?;
    let (settings, lint) = fleet_settings(&lab, opts)?;
    let roots = lab_roots(&lab)?;

    let origin = Instant::now();
    let stats = Arc::new(Stats::new(opts.endpoints, origin));
    // The counters are read once before any endpoint starts: a mass return's
    // first endpoint may start at once, and its requests belong to the run.
    let sampler = Sampler::start(&lab, Arc::clone(&stats)).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let offsets = start_offsets(opts);
    for (i, offset) in offsets.into_iter().enumerate() {
        let config = transport::config_with_roots(roots.clone())
            .map_err(|e| FleetError::Usage(format!("TLS setup: {e}")))?;
        let transport = Transport::new(config, &mac_address(i))
            .map_err(|e| FleetError::Usage(e.to_string()))?
            .with_local_addr(source_address(i).into());
        let io = EndpointIo {
            index: i,
            probe_transport: transport.clone().with_timeouts(PROBE_TIMEOUTS),
            transport,
            assessor: Assessor::new(CheckPolicy::new(&[], std::iter::empty(), None)),
            started: origin,
            stats: Arc::clone(&stats),
            stop: stop_rx.clone(),
        };
        let settings = settings[i % settings.len()].clone();
        tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            endpoint::run(io, settings).await;
        });
    }

    let interval = Duration::from_secs(opts.interval_s);
    let (t0, affected, what) = if opts.scenario == Scenario::MassReturn {
        let what = format!(
            "every endpoint started within one second{}",
            spread_words(opts.start_spread)
        );
        (
            Duration::ZERO,
            (0..opts.endpoints).collect::<Vec<_>>(),
            what,
        )
    } else {
        let bound = opts.ramp + opts.recover_within;
        let all: Vec<usize> = (0..opts.endpoints).collect();
        wait_until(bound, || {
            stats.known_after(&all, 0).iter().all(Option::is_some)
        })
        .await;
        if stats.known() < opts.endpoints {
            stop_tx.send_replace(true);
            return Err(FleetError::NotSettled {
                known: stats.known(),
                endpoints: opts.endpoints,
                within: bound,
            });
        }
        // One interval (plus the first probe's delay) so that every
        // endpoint probes on its own rhythm before the moment.
        tokio::time::sleep(interval + Duration::from_secs(opts.transition_delay_s)).await;
        let t0 = origin.elapsed();
        let (affected, what) = act(opts, &lab, &stats).await?;
        (t0, affected, what)
    };
    let t0_ms = u64::try_from(t0.as_millis()).unwrap_or(0);
    let cpu_at_t0 = (
        host::cpu_seconds(None),
        lab.pid().and_then(|p| host::cpu_seconds(Some(p))),
    );
    let failed_at_t0 = stats.failed();

    let recovered = || {
        stats
            .known_after(&affected, t0_ms)
            .iter()
            .all(Option::is_some)
    };
    wait_until(opts.recover_within, recovered).await;
    // The tail after the herd: at least `measure`, and one interval after
    // the last endpoint recovered.
    let since_t0 = origin.elapsed().saturating_sub(t0);
    let tail = opts.measure.saturating_sub(since_t0).max(interval);
    tokio::time::sleep(tail).await;

    let end = origin.elapsed();
    let cpu_at_end = (
        host::cpu_seconds(None),
        lab.pid().and_then(|p| host::cpu_seconds(Some(p))),
    );
    let times = stats.known_after(&affected, t0_ms);
    let failed = stats.failed().since(failed_at_t0);
    stop_tx.send_replace(true);
    let samples = sampler.stop().await;

    let windows = windows(&samples, t0, end);
    let measured_s = (end - t0).as_secs_f64();
    let agent_cpu = cpu_at_end.0.zip(cpu_at_t0.0).map_or(0.0, |(e, s)| e - s);
    let psn_cpu = cpu_at_end.1.zip(cpu_at_t0.1).map_or(0.0, |(e, s)| e - s);
    let per_endpoint_ms = agent_cpu * 1000.0 / opts.endpoints as f64;
    Ok(Summary {
        scenario: opts.scenario.name().to_owned(),
        what,
        endpoints: opts.endpoints,
        nodes: opts.nodes,
        interval_s: opts.interval_s,
        transition_delay_s: opts.transition_delay_s,
        start_spread_s: opts.start_spread.as_secs_f64(),
        measured_s,
        load: load(&windows),
        recovery: Recovery::of(&times),
        failed_requests: failed,
        agent_cpu_ms_per_endpoint: per_endpoint_ms,
        agent_cpu_pct_per_1000: if measured_s > 0.0 {
            per_endpoint_ms * 1000.0 / (measured_s * 1000.0) * 100.0
        } else {
            0.0
        },
        psn_cpu_s: psn_cpu,
        lint,
        machine: MachineState {
            cores: host::cores(),
            load_at_start,
            load_at_end: host::load_average(),
            open_files,
        },
        windows,
    })
}

fn spread_words(spread: Duration) -> String {
    if spread.is_zero() {
        " (the agent's start spread off)".to_owned()
    } else {
        format!(
            " (each agent spreads its first discovery over {} s)",
            spread.as_secs_f64()
        )
    }
}

/// When each endpoint starts: within one second for mass-return, evenly
/// over the ramp otherwise.
fn start_offsets(opts: &Options) -> Vec<Duration> {
    let n = opts.endpoints;
    (0..n)
        .map(|i| match opts.scenario {
            Scenario::MassReturn => Duration::from_micros(fastrand::u64(..1_000_000)),
            _ => opts.ramp.mul_f64(i as f64 / n as f64),
        })
        .collect()
}

/// The scenario's moment: what it does to the PSNs. Returns the endpoints
/// it hits and what it did, in words.
async fn act(opts: &Options, lab: &Lab, stats: &Stats) -> Result<(Vec<usize>, String), FleetError> {
    let all: Vec<usize> = (0..opts.endpoints).collect();
    Ok(match opts.scenario {
        Scenario::Steady | Scenario::MassReturn => (
            Vec::new(),
            "nothing happens: every probe is blocked by the dACL emulation".to_owned(),
        ),
        Scenario::PsnRestart => {
            let changed = lab.all_unknown(None).await?;
            (
                all,
                format!(
                    "every session ({changed}) Unknown at once, as after a PSN restart{}",
                    spread_words(opts.start_spread)
                        .replace("first discovery", "first discovery after a start")
                ),
            )
        }
        Scenario::NodeFailure => {
            let node = lab
                .ready
                .nodes
                .last()
                .ok_or_else(|| FleetError::Usage("no node".into()))?;
            let affected = stats.connected_to(node.sync.port());
            lab.fault(&node.name, FaultMode::Down).await?;
            (
                affected,
                format!(
                    "node {} failed (connections reset); its endpoints' sessions Unknown, moving to the other nodes",
                    node.name
                ),
            )
        }
        Scenario::MdmStorm => {
            let share = opts.storm_share.clamp(0.0, 1.0);
            let count = ((opts.endpoints as f64) * share).round() as usize;
            let mut chosen = all;
            fastrand::shuffle(&mut chosen);
            chosen.truncate(count);
            chosen.sort_unstable();
            let macs: Vec<String> = chosen.iter().map(|&i| mac_address(i)).collect();
            let changed = lab.unknown_by_mac(&macs).await?;
            (
                chosen,
                format!(
                    "{changed} sessions ({:.0} %) get a CoA to Unknown within a second, as from the MDM poller",
                    share * 100.0
                ),
            )
        }
    })
}

/// The fleet's profile, one per node: DiscoveryHost the node (so sessions
/// are spread over the nodes as a switch's redirect would), CallHomeList
/// the others; and the lint's warnings for it.
fn fleet_settings(lab: &Lab, opts: &Options) -> Result<(Vec<Settings>, Vec<String>), FleetError> {
    let nodes = &lab.ready.nodes;
    let mut out = Vec::new();
    let mut lint = Vec::new();
    for (k, first) in nodes.iter().enumerate() {
        let others: Vec<String> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, n)| n.discovery.to_string())
            .collect();
        let xml = format!(
            "<cfg><StateSyncProbeInterval>{}</StateSyncProbeInterval>\
             <NetworkTransitionDelay>{}</NetworkTransitionDelay>\
             <DiscoveryHost>{}</DiscoveryHost><CallHomeList>{}</CallHomeList>\
             <ServerPorts>1024-65535</ServerPorts></cfg>",
            opts.interval_s,
            opts.transition_delay_s,
            first.discovery,
            others.join(","),
        );
        let loaded = Profile::parse(&xml).map_err(|d| {
            FleetError::Usage(format!(
                "the fleet's profile is refused: {}",
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        if k == 0 {
            lint = loaded
                .profile
                .lint()
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        let mut settings = Settings::from_profile(&loaded.profile)
            .map_err(|e| FleetError::Usage(e.to_string()))?;
        // No switch here: the gateway is the machine's real one.
        settings.gateway_discovery = false;
        settings.start_spread = opts.start_spread;
        out.push(settings);
    }
    Ok((out, lint))
}

/// The lab CA as the endpoints' only trust anchor.
fn lab_roots(lab: &Lab) -> Result<rustls::RootCertStore, FleetError> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&lab.ready.ca)
        .map_err(|e| FleetError::Usage(format!("{}: {e}", lab.ready.ca.display())))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| FleetError::Usage(format!("{}: {e}", lab.ready.ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| FleetError::Usage(format!("{}: {e}", lab.ready.ca.display())))?;
    }
    Ok(roots)
}

/// Waits until `done` or `bound` passes, checking every 100 ms (the
/// endpoints' phases are counters, not events).
async fn wait_until(bound: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + bound;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One reading of psn-lab's counters.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    requests: ByKind,
    known: usize,
}

/// Reads psn-lab's counters once a second.
struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Starts reading, with the first reading taken before it returns.
    async fn start(lab: &Lab, stats: Arc<Stats>) -> Sampler {
        let (stop, mut stopped) = watch::channel(false);
        let admin = lab.admin.clone();
        let addr = lab.ready.admin;
        let origin = Instant::now() - Duration::from_millis(stats.now_ms());
        let mut samples = Vec::new();
        if let Some(requests) = read_counters(&admin, addr).await {
            samples.push(Sample {
                at: origin.elapsed(),
                requests,
                known: stats.known(),
            });
        }
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            // The first tick completes at once; the first reading is taken.
            tick.tick().await;
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = tick.tick() => {}
                }
                let Some(requests) = read_counters(&admin, addr).await else {
                    continue;
                };
                samples.push(Sample {
                    at: origin.elapsed(),
                    requests,
                    known: stats.known(),
                });
            }
            // One last reading at the end of the run.
            if let Some(requests) = read_counters(&admin, addr).await {
                samples.push(Sample {
                    at: origin.elapsed(),
                    requests,
                    known: stats.known(),
                });
            }
            samples
        });
        Sampler { stop, task }
    }

    async fn stop(self) -> Vec<Sample> {
        self.stop.send_replace(true);
        self.task.await.unwrap_or_default()
    }
}

/// psn-lab's counters summed over its nodes; probes include the
/// connections the dACL emulation reset or held.
async fn read_counters(
    admin: &crate::ctl::AdminClient,
    addr: std::net::SocketAddr,
) -> Option<ByKind> {
    let (status, value) = admin.call(http::Method::GET, "/nodes", None).await.ok()?;
    if status != http::StatusCode::OK {
        tracing::warn!(%addr, %status, "GET /nodes failed; this second has no reading");
        return None;
    }
    let nodes: Vec<crate::psn::app::NodeView> = serde_json::from_value(value).ok()?;
    Some(nodes.iter().fold(ByKind::default(), |acc, n| ByKind {
        discovery: acc.discovery + n.requests_by_kind.discovery,
        requirements: acc.requirements + n.requests_by_kind.requirements,
        report: acc.report + n.requests_by_kind.report,
        probe: acc.probe + n.requests_by_kind.probe + n.dacl_rejected + n.dacl_dropped,
    }))
}

/// The shortest window: a reading that came less than this after the
/// previous one (an admin call that took long delays one tick, the next
/// comes on time) is merged into the next window, whose rate a few
/// requests in a few milliseconds would otherwise inflate.
const MIN_WINDOW: Duration = Duration::from_millis(500);

/// The windows between consecutive samples within `[t0, end]`, timed from
/// `t0`; none shorter than [`MIN_WINDOW`].
fn windows(samples: &[Sample], t0: Duration, end: Duration) -> Vec<Window> {
    let mut kept: Vec<Sample> = Vec::with_capacity(samples.len());
    for s in samples {
        if kept
            .last()
            .is_none_or(|k| s.at.saturating_sub(k.at) >= MIN_WINDOW)
        {
            kept.push(*s);
        }
    }
    kept.windows(2)
        .filter(|w| w[1].at > t0 && w[0].at <= end + Duration::from_secs(1))
        .map(|w| Window {
            t: w[1].at.as_secs_f64() - t0.as_secs_f64(),
            secs: (w[1].at - w[0].at).as_secs_f64(),
            requests: w[1].requests.since(w[0].requests),
            known: w[1].known,
        })
        .collect()
}

fn load(windows: &[Window]) -> Load {
    let secs: Vec<f64> = windows.iter().map(|w| w.secs).collect();
    let rate = |f: fn(&ByKind) -> u64| {
        let counts: Vec<u64> = windows.iter().map(|w| f(&w.requests)).collect();
        Rate::of(&counts, &secs)
    };
    Load {
        discovery: rate(|r| r.discovery),
        requirements: rate(|r| r.requirements),
        report: rate(|r| r.report),
        probe: rate(|r| r.probe),
        all: rate(|r| r.total()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_have_distinct_addresses_and_macs() {
        assert_eq!(source_address(0).to_string(), "127.10.0.1");
        assert_eq!(source_address(255).to_string(), "127.10.1.0");
        assert_eq!(
            source_address(MAX_ENDPOINTS - 1).to_string(),
            "127.10.255.255"
        );
        assert_eq!(mac_address(0), "02:fe:00:00:00:00");
        assert_eq!(mac_address(10_000), "02:fe:00:00:27:10");
        assert!(posture_protocol::normalize_mac(&mac_address(9_999)).is_some());
    }

    #[test]
    fn windows_are_cut_at_the_moment() {
        let s = |at: u64, probe: u64| Sample {
            at: Duration::from_secs(at),
            requests: ByKind {
                probe,
                ..ByKind::default()
            },
            known: 0,
        };
        let w = windows(
            &[s(1, 10), s(2, 20), s(3, 50), s(4, 60)],
            Duration::from_secs(2),
            Duration::from_secs(4),
        );
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].requests.probe, 30);
        assert_eq!(w[0].t, 1.0);
        assert_eq!(load(&w).probe.peak, 30.0);
    }

    #[test]
    fn a_reading_right_after_another_is_merged_into_the_next_window() {
        let s = |ms: u64, probe: u64| Sample {
            at: Duration::from_millis(ms),
            requests: ByKind {
                probe,
                ..ByKind::default()
            },
            known: 0,
        };
        let w = windows(
            &[s(1000, 0), s(2000, 100), s(2020, 124), s(3000, 200)],
            Duration::ZERO,
            Duration::from_secs(3),
        );
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].requests.probe, 100);
        assert!((w[1].secs - 1.0).abs() < 1e-9);
        assert_eq!(load(&w).probe.peak, 100.0, "not 24 in 20 ms");
    }
}
