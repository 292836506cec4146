//! `assess-default`: what one assessment of psn-lab's default policy costs
//! this machine (issue 15, `docs/benchmarks.md` "Assessing the default
//! policy"). A benchmark, never a test: the figure depends on the machine.
//!
//! ```text
//! cargo run --release -p psn-lab -- policy > /tmp/default-policy.json
//! cargo run --release -p posture-sync --example assess-default -- /tmp/default-policy.json [N]
//! ```
//!
//! Reads the policy as `posture-sync assess --dry-run` does, then runs N
//! (default 200) assessments, each with fresh facts (one assessment gathers
//! every fact source once: os-release, mountinfo and sysfs, `nft`, the dpkg
//! database, the apt history, the screen lock keyfiles), through
//! `posture_sync::assess::evaluate` as the agent does. Prints the CPU time
//! per assessment, the agent's own (`/proc/self/stat` utime + stime) and its
//! children's (cutime + cstime: the `nft` it runs), and the wall time. The
//! goal: at most 20 ms of CPU per assessment. Linux only (`/proc`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use posture_sync::assess::{Budget, CheckCx, CheckPolicy, evaluate};
use posture_sync::cmd::assess::read_policy;

#[path = "common/cpu_time.rs"]
mod cpu_time;

/// The goal per assessment.
const GOAL: Duration = Duration::from_millis(20);

fn run() -> Result<bool, String> {
    let mut args = std::env::args().skip(1);
    let policy = args.next().ok_or("usage: assess-default POLICY.json [N]")?;
    let n: u32 = match args.next() {
        Some(v) => v.parse().map_err(|_| format!("N must be a number: {v}"))?,
        None => 200,
    };
    let requirements = read_policy(std::path::Path::new(&policy)).map_err(|e| e.to_string())?;
    let rules = CheckPolicy::new(&[], [], None);
    let mut shown = false;
    let before = cpu_time::cpu_time()?;
    let start = Instant::now();
    for _ in 0..n {
        let budget = Budget::standard();
        let cx = CheckCx {
            policy: &rules,
            budget: &budget,
        };
        let outcomes = evaluate(&requirements, &cx);
        if !shown {
            for o in &outcomes {
                let r = o.result();
                println!(
                    "{}  {}: {}",
                    if r.passed { "PASS" } else { "FAIL" },
                    r.id,
                    r.reason
                );
            }
            shown = true;
        }
    }
    let wall = start.elapsed();
    let after = cpu_time::cpu_time()?;
    let per = |d: Duration| d / n.max(1);
    let own = per(after.own - before.own);
    let children = per(after.children - before.children);
    let total = own + children;
    println!();
    println!("assessments:            {n}");
    println!(
        "CPU per assessment:     {:.2} ms (agent {:.2} ms, nft {:.2} ms)",
        ms(total),
        ms(own),
        ms(children)
    );
    println!("wall per assessment:    {:.2} ms", ms(per(wall)));
    let pass = total <= GOAL;
    println!(
        "goal (<= {} ms CPU):    {}",
        GOAL.as_millis(),
        if pass { "PASS" } else { "MISS" }
    );
    Ok(pass)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("assess-default: {e}");
            ExitCode::from(2)
        }
    }
}
