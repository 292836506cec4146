//! `psn-lab-bench`: load generator for one state sync port.
//!
//! Every probe opens a new TCP connection and a new TLS session, as agents do,
//! sends one `GET` with `Connection: close` and reads the reply. With
//! `--resume`, the client keeps a session cache so handshakes after the first
//! resume (TLS 1.3 tickets); without it, every handshake is full.
//!
//! Two shapes: closed loop (`--concurrency N`, as fast as possible: probes/s)
//! and open loop (`--rate R`: one probe every 1/R s whatever the replies do:
//! latency at a given load). Output: one JSON line on stdout.
//! Loopback only: the target must be a 127.0.0.0/8 or ::1 address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

/// Load generator: a new TLS connection per probe.
#[derive(Debug, Parser)]
#[command(name = "psn-lab-bench")]
struct Args {
    /// Target address (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    /// CA certificate to trust.
    #[arg(long)]
    ca: PathBuf,
    /// Server name to verify.
    #[arg(long, default_value = "localhost")]
    name: String,
    /// Request path.
    #[arg(long)]
    path: String,
    /// Resume TLS sessions (default: full handshakes).
    #[arg(long)]
    resume: bool,
    /// Concurrent probes in closed-loop mode.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Open-loop mode: probes per second.
    #[arg(long)]
    rate: Option<u64>,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Label in the output.
    #[arg(long, default_value = "")]
    label: String,
    /// Client worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Debug, Default)]
struct Stats {
    ok: AtomicU64,
    errors: AtomicU64,
    resumed: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("tls: {0}")]
    Tls(std::io::Error),
    #[error("io: {0}")]
    Io(std::io::Error),
    #[error("status {0}")]
    Status(String),
}

async fn probe(
    connector: &TlsConnector,
    addr: SocketAddr,
    name: &ServerName<'static>,
    request: &[u8],
) -> Result<bool, ProbeError> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(ProbeError::Connect)?;
    let _ = tcp.set_nodelay(true);
    let mut tls = connector
        .connect(name.clone(), tcp)
        .await
        .map_err(ProbeError::Tls)?;
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    tls.write_all(request).await.map_err(ProbeError::Io)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    // Read until the headers and Content-Length bytes of body are in (or EOF).
    loop {
        let n = tls.read(&mut chunk).await.map_err(ProbeError::Io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(len) = len
                && buf.len() >= end + 4 + len
            {
                break;
            }
        }
        if buf.len() > 1024 * 1024 {
            break;
        }
    }
    let first = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    if !first.starts_with("HTTP/1.1 200") {
        return Err(ProbeError::Status(first.trim().to_owned()));
    }
    Ok(resumed)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "psn-lab-bench: error: {} is not a loopback address (benchmarks run on this machine only)",
            args.addr
        );
        return std::process::ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("psn-lab-bench: error: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("psn-lab-bench: error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = psn_lab::tls::client_config(&args.ca).map_err(|e| e.to_string())?;
    if !args.resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    let connector = TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(args.name.clone()).map_err(|e| e.to_string())?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nX-Posture-Mac: 02:00:00:00:00:01\r\nConnection: close\r\n\r\n",
        args.path,
        args.name,
        posture_protocol::user_agent("bench")
    )
    .into_bytes();
    let request: Arc<[u8]> = request.into();
    let stats = Arc::new(Stats::default());
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let duration = Duration::from_secs_f64(args.duration);

    // Warm-up probe (also primes the resumption cache); must succeed.
    probe(&connector, args.addr, &name, &request)
        .await
        .map_err(|e| format!("warm-up probe to {} failed: {e}", args.addr))?;

    let record = {
        let stats = stats.clone();
        let first_error = first_error.clone();
        move |started: Instant, r: Result<bool, ProbeError>| {
            let stats = stats.clone();
            let first_error = first_error.clone();
            async move {
                let us = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                match r {
                    Ok(resumed) => {
                        stats.ok.fetch_add(1, Ordering::Relaxed);
                        if resumed {
                            stats.resumed.fetch_add(1, Ordering::Relaxed);
                        }
                        stats.latencies_us.lock().await.push(us);
                    }
                    Err(e) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        first_error
                            .lock()
                            .await
                            .get_or_insert_with(|| e.to_string());
                    }
                }
            }
        }
    };

    // One probe, recorded with its latency from `t`; each task gets its own clones.
    let probe_and_record = move |t: Instant| {
        let (connector, name, request, record) = (
            connector.clone(),
            name.clone(),
            request.clone(),
            record.clone(),
        );
        async move {
            let r = probe(&connector, args.addr, &name, &request).await;
            record(t, r).await;
        }
    };

    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    match args.rate {
        None => {
            for _ in 0..args.concurrency.max(1) {
                let probe_and_record = probe_and_record.clone();
                tasks.spawn(async move {
                    while Instant::now() < deadline {
                        probe_and_record(Instant::now()).await;
                    }
                });
            }
        }
        Some(rate) => {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while Instant::now() < deadline {
                let t = tick.tick().await.into_std();
                // Latency from the scheduled start: queueing delay counts.
                tasks.spawn(probe_and_record(t));
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = stats.latencies_us.lock().await.clone();
    lat.sort_unstable();
    let ok = stats.ok.load(Ordering::Relaxed);
    let out = serde_json::json!({
        "label": args.label,
        "addr": args.addr.to_string(),
        "mode": if args.rate.is_some() { "rate" } else { "closed" },
        "rate": args.rate,
        "concurrency": args.concurrency,
        "resume": args.resume,
        "ok": ok,
        "errors": stats.errors.load(Ordering::Relaxed),
        "resumed": stats.resumed.load(Ordering::Relaxed),
        "seconds": (elapsed * 100.0).round() / 100.0,
        "probes_per_s": (ok as f64 / elapsed).round(),
        "p50_ms": percentile(&lat, 0.50),
        "p99_ms": percentile(&lat, 0.99),
        "max_ms": percentile(&lat, 1.0),
        "first_error": *first_error.lock().await,
    });
    println!("{out}");
    Ok(())
}
