//! `minimal-probe-loop`: the baseline of the agent benchmarks (`bench/run.sh`,
//! `docs/benchmarks.md`). A single-threaded tokio + hyper + rustls client
//! that probes one state sync port at a fixed interval with TLS session
//! resumption, and does nothing else: the cheapest loop an agent could be.
//!
//! ```text
//! minimal-probe-loop --addr 127.0.0.1:PORT --ca ca.pem --session ID [--interval-ms 1000] [--count N]
//! ```
//!
//! The interval is measured from the end of one probe to the start of the
//! next, as the agent does. Runs until killed, or `--count` probes. Prints
//! nothing per probe (the benchmark counts requests at the PSN). Loopback
//! only.

#[path = "common/minimal_client.rs"]
mod minimal_client;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

struct Args {
    addr: SocketAddr,
    ca: PathBuf,
    session: String,
    interval: Duration,
    count: Option<u64>,
}

fn parse() -> Result<Args, String> {
    let mut addr = None;
    let mut ca = None;
    let mut session = None;
    let mut interval = Duration::from_secs(1);
    let mut count = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = Some(value.parse::<SocketAddr>().map_err(|e| e.to_string())?),
            "--ca" => ca = Some(PathBuf::from(value)),
            "--session" => session = Some(value),
            "--interval-ms" => {
                interval = Duration::from_millis(value.parse().map_err(|_| "bad --interval-ms")?)
            }
            "--count" => count = Some(value.parse().map_err(|_| "bad --count")?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let addr = addr.ok_or("--addr is required")?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    Ok(Args {
        addr,
        ca: ca.ok_or("--ca is required")?,
        session: session.ok_or("--session is required")?,
        interval,
        count,
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("minimal-probe-loop: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match minimal_client::config(&args.ca) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("minimal-probe-loop: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("minimal-probe-loop: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let tls = tokio_rustls::TlsConnector::from(config);
    let path = format!("/auth/posturestatus?session={}", args.session);
    runtime.block_on(async {
        let mut done = 0u64;
        loop {
            if let Err(e) = minimal_client::probe(&tls, args.addr, &path).await {
                eprintln!("minimal-probe-loop: {e}");
            }
            done += 1;
            if args.count.is_some_and(|c| done >= c) {
                break;
            }
            tokio::time::sleep(args.interval).await;
        }
    });
    ExitCode::SUCCESS
}
