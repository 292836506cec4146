//! `fleet-sim`: N simulated endpoints (the agent's state machine and
//! drivers, each with its own MAC and loopback address) against psn-lab,
//! one scenario per run; prints a summary as text or JSON (docs/fleet.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use psn_lab::fleet::lab;
use psn_lab::fleet::scenario::{self, Options, Scenario};

/// What a fleet does to the PSNs, measured.
#[derive(Debug, Parser)]
#[command(name = "fleet-sim", version)]
struct Args {
    /// The scenario.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Simulated endpoints.
    #[arg(long, short = 'n', default_value_t = 1000)]
    endpoints: usize,
    /// StateSyncProbeInterval of the fleet's profile, seconds (1-300).
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// NetworkTransitionDelay of the fleet's profile, seconds (2-30).
    #[arg(long, default_value_t = 3)]
    transition_delay: u64,
    /// PSN nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Before the scenario's moment the endpoints start evenly over this
    /// many seconds (default: the interval). Not for mass-return.
    #[arg(long)]
    ramp: Option<f64>,
    /// The agent's spread of its first discovery after a start, seconds
    /// (0: off).
    #[arg(long, default_value_t = 0.0)]
    start_spread: f64,
    /// Measure at least this many seconds after the moment (default:
    /// three intervals).
    #[arg(long)]
    measure: Option<f64>,
    /// Give the affected endpoints this many seconds to be known again.
    #[arg(long, default_value_t = 300.0)]
    recover_within: f64,
    /// mdm-storm: the share of sessions whose verdict changes (0-1).
    #[arg(long, default_value_t = 0.5)]
    storm_share: f64,
    /// The psn-lab binary (default: next to fleet-sim).
    #[arg(long)]
    psn_lab: Option<PathBuf>,
    /// Directory for psn-lab's files (default: a temporary one, removed).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the summary as JSON (one document) instead of text.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: the CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

fn secs(s: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|e| format!("--{what} {s}: {e}"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The endpoints' own log lines (every blocked discovery
                // target of ten thousand agents) would drown the summary
                // and cost more than the requests: RUST_LOG turns them on.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,posture_sync=off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(ok) => {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("fleet-sim: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<bool, String> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            tmp.path().to_owned()
        }
    };
    let interval = secs(args.interval as f64, "interval")?;
    let opts = Options {
        scenario: args.scenario,
        endpoints: args.endpoints,
        interval_s: args.interval,
        transition_delay_s: args.transition_delay,
        nodes: args.nodes,
        ramp: args.ramp.map_or(Ok(interval), |r| secs(r, "ramp"))?,
        start_spread: secs(args.start_spread, "start-spread")?,
        measure: args
            .measure
            .map_or(Ok(interval * 3), |m| secs(m, "measure"))?,
        recover_within: secs(args.recover_within, "recover-within")?,
        storm_share: args.storm_share,
        psn_lab: args.psn_lab.clone().unwrap_or_else(lab::default_exe),
        dir,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = args.threads {
        rt.worker_threads(t);
    }
    let rt = rt
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let summary = rt
        .block_on(scenario::run(&opts))
        .map_err(|e| e.to_string())?;
    if args.json {
        let json = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        println!("{json}");
    } else {
        print!("{}", summary.render_text());
    }
    Ok(summary.ok())
}
