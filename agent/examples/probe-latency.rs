//! `probe-latency`: loopback probe latency and CPU of the agent's transport
//! (`posture_sync::probe::probe_one`: TCP connect + TLS (resumed) + request +
//! reply + classification) against the benchmarks' minimal client, in one
//! process, against the same PSN port. Part of `bench/run.sh`.
//!
//! ```text
//! probe-latency --addr 127.0.0.1:PORT --ca ca.pem --session ID [--n 2000]
//! ```
//!
//! Latency: `n` probes of each client, interleaved one by one (so load from
//! elsewhere on the machine hits both alike), back to back on a
//! single-threaded runtime. CPU: `n` back-to-back probes of each client in
//! one block, measured with `/proc/self/schedstat` (ns on CPU).
//!
//! Failover: `--rounds R` agent probe rounds (`posture_sync::probe::run_round`,
//! the daemon's own round) over two targets, the connected PSN first: a
//! listener on 127.0.0.1 that accepts and never answers (what a dACL `drop`
//! or an accept-and-hold middlebox does) and the answering PSN at `--addr`,
//! started [`ProbeStagger::DEFAULT`] apart; reports how long each round took.
//!
//! Prints one JSON line. Loopback only.

#[path = "common/minimal_client.rs"]
mod minimal_client;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use posture_protocol::SessionId;
use posture_sync::outcome::HostPort;
use posture_sync::probe::{PROBE_TIMEOUTS, probe_one, run_round};
use posture_sync::timing::ProbeStagger;
use posture_sync::transport::{Transport, client_config};

/// ns this process has spent on a CPU (first field of /proc/self/schedstat).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probe-latency: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let mut addr: Option<SocketAddr> = None;
    let mut ca = None;
    let mut session = None;
    let mut n = 2000usize;
    let mut rounds = 20usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = Some(value.parse().map_err(|e| format!("--addr: {e}"))?),
            "--ca" => ca = Some(PathBuf::from(value)),
            "--session" => session = Some(value),
            "--n" => n = value.parse().map_err(|_| "bad --n")?,
            "--rounds" => rounds = value.parse().map_err(|_| "bad --rounds")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let addr = addr.ok_or("--addr is required")?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    let ca = ca.ok_or("--ca is required")?;
    let session = session.ok_or("--session is required")?;
    let sid = SessionId::new(session.clone()).map_err(|e| e.to_string())?;
    let path = format!("/auth/posturestatus?session={session}");
    let minimal = tokio_rustls::TlsConnector::from(minimal_client::config(&ca)?);
    let agent = Transport::new(
        client_config(Some(&ca), posture_sync::transport::Trust::PlatformAndCaFile)
            .map_err(|e| e.to_string())?,
        "02:00:00:00:00:01",
    )
    .map_err(|e| e.to_string())?
    .with_timeouts(PROBE_TIMEOUTS);
    let target = HostPort::from(addr);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        // Warm-up: primes both session caches, checks both clients work.
        for _ in 0..20 {
            minimal_client::probe(&minimal, addr, &path).await?;
            let outcome = probe_one(&agent, &target, &sid).await;
            if !outcome.is_definitive() {
                return Err(format!("the agent's probe got no answer: {outcome}"));
            }
        }
        let (mut lat_min, mut lat_agent) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut resumed = 0usize;
        for _ in 0..n {
            let t = Instant::now();
            let (_, r) = minimal_client::probe(&minimal, addr, &path).await?;
            lat_min.push(t.elapsed().as_secs_f64() * 1e3);
            resumed += usize::from(r);
            let t = Instant::now();
            let _ = probe_one(&agent, &target, &sid).await;
            lat_agent.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let c0 = cpu_ns();
        for _ in 0..n {
            minimal_client::probe(&minimal, addr, &path).await?;
        }
        let c1 = cpu_ns();
        for _ in 0..n {
            let _ = probe_one(&agent, &target, &sid).await;
        }
        let c2 = cpu_ns();
        // Failover: a silent connected PSN, then the answering backup.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let silent_addr = silent.local_addr().map_err(|e| e.to_string())?;
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                held.push(stream); // accepted, never answered
            }
        });
        let targets = [HostPort::from(silent_addr), target.clone()];
        let stagger = ProbeStagger::DEFAULT.get();
        let mut took = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let round = run_round(&agent, &targets, &sid, stagger, Duration::MAX).await;
            let last = round.outcomes.last().map(|o| o.outcome.is_definitive());
            if last != Some(true) || round.outcomes.len() != 1 {
                return Err(format!("unexpected failover round: {:?}", round.outcomes));
            }
            took.push(round.took.as_secs_f64() * 1e3);
        }
        held.abort();
        took.sort_by(f64::total_cmp);
        lat_min.sort_by(f64::total_cmp);
        lat_agent.sort_by(f64::total_cmp);
        let out = serde_json::json!({
            "n": n,
            "minimal_resumed_pct": 100.0 * resumed as f64 / n as f64,
            "minimal_p50_ms": percentile(&lat_min, 0.5),
            "minimal_p99_ms": percentile(&lat_min, 0.99),
            "agent_p50_ms": percentile(&lat_agent, 0.5),
            "agent_p99_ms": percentile(&lat_agent, 0.99),
            "minimal_b2b_cpu_ms": (c1 - c0) as f64 / n as f64 / 1e6,
            "agent_b2b_cpu_ms": (c2 - c1) as f64 / n as f64 / 1e6,
            "failover_rounds": rounds,
            "failover_stagger_ms": stagger.as_secs_f64() * 1e3,
            "failover_p50_ms": percentile(&took, 0.5),
            "failover_max_ms": percentile(&took, 1.0),
        });
        println!("{out}");
        Ok::<(), String>(())
    })
}
