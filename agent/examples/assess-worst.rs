//! `assess-worst`: what the worst requirements reply a PSN can send costs the
//! endpoint (issue 11, `docs/benchmarks.md` "Worst requirements reply").
//!
//! ```text
//! cargo run --release -p posture-sync --example assess-worst [-- --calibrate] [--dir DIR]
//! ```
//!
//! Builds replies of [`MAX_REQUIREMENTS`] requirements x
//! [`MAX_CHECKS_PER_REQUIREMENT`] checks over files it plants in a temp dir
//! that the local policy allows (ContentCheckPaths): `file-contains` with
//! patterns that defeat a lazy DFA (the regex crate's, which the agent used
//! before regex-lite; regex-lite runs every pattern in its NFA engines)
//! over 1 MiB files,
//! `file-sha256` over a 512 MiB (sparse) file, FIFOs, paths 200 directories
//! deep, and a mix of them. Each runs through
//! `posture_sync::assess::evaluate_bounded` with a real `Assessor` (the
//! standard 5 s / 256 MiB budget), and the process's CPU time
//! (`/proc/self/stat` utime + stime) and the wall time of the evaluation are
//! printed against the budget. The goal: CPU at most the time budget plus
//! one chunk's work.
//!
//! The replies are built in memory: a real one also has to fit the agent's
//! 64 KiB reply cap, which leaves room for fewer checks with long paths, so
//! these are an upper bound. `--calibrate` times single `file-contains`
//! checks of each candidate pattern over 1 MiB without a budget, to choose
//! the slowest. Linux only (`/proc`, `mkfifo`). Touches no network.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use posture_protocol::{Check, MAX_CHECKS_PER_REQUIREMENT, MAX_REQUIREMENTS, Requirement};
use posture_sync::assess::{self, Assessor, Budget, CheckCx, CheckPolicy, budget};

#[path = "common/cpu_time.rs"]
mod cpu_time;

/// Patterns whose lazy DFA blows up on the planted text (a run of `a`/`b`
/// where "the 24th byte back was an `a`" needs 2^24 states), so the regex
/// crate falls back to its NFA engines; no required literal a prefilter
/// could skip on. Each stays under the agent's 1024-byte and 256 KiB
/// compiled-size limits.
const HOSTILE_PATTERNS: &[&str] = &[
    r"a[ab]{24}[^ab]",
    r"(?:a|b)*a(?:a|b){20}[^ab]",
    r"[ab]a[ab]{12}b[ab]{12}[cd]",
    r"(?i)\w{1,60}[^\w\s]",
    r"(?:[a-b]{1,3}){1,40}[^ab]",
    r"(?s).{0,400}[^ab]",
];

/// CPU time of this process so far (all threads, finished ones included).
fn cpu_time() -> Result<Duration, String> {
    Ok(cpu_time::cpu_time()?.own)
}

/// The planted files.
struct Files {
    dir: PathBuf,
    /// 1 MiB of `a`/`b` in one line (matched in 16 KiB pieces).
    ab_line: String,
    /// 1 MiB of `a`/`b` in lines of 80 bytes (one match per line).
    ab_lines: String,
    /// 512 MiB, sparse: hashing reads zeros from the page cache.
    big: String,
    /// A FIFO nobody writes.
    fifo: String,
    /// A file 200 directories deep.
    deep: String,
    /// One piece of `ab_line`: what a single match sees (16 KiB).
    piece: String,
}

fn plant(dir: &Path) -> Result<Files, String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let mut rng = fastrand::Rng::with_seed(11);
    let ab: Vec<u8> = (0..1 << 20)
        .map(|_| if rng.bool() { b'a' } else { b'b' })
        .collect();
    let ab_line = dir.join("ab-line.txt");
    std::fs::write(&ab_line, &ab).map_err(|e| io("ab-line.txt", e))?;
    let mut lines = ab.clone();
    for i in (80..lines.len()).step_by(81) {
        lines[i] = b'\n';
    }
    let ab_lines = dir.join("ab-lines.txt");
    std::fs::write(&ab_lines, &lines).map_err(|e| io("ab-lines.txt", e))?;
    let big = dir.join("big.bin");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(512 << 20))
        .map_err(|e| io("big.bin", e))?;
    let fifo = dir.join("fifo");
    // Benchmark set-up on a temp dir, not a server's instruction: creating
    // a FIFO needs mkfifo(3), which std has no safe wrapper for.
    #[allow(clippy::disallowed_methods)]
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map_err(|e| io("mkfifo", e))?;
    if !made.success() {
        return Err(format!("mkfifo {} failed", fifo.display()));
    }
    let mut deep = dir.to_path_buf();
    for _ in 0..200 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).map_err(|e| io("deep dirs", e))?;
    deep.push("f.txt");
    std::fs::write(&deep, &lines[..64 * 1024]).map_err(|e| io("deep file", e))?;
    let piece = dir.join("piece.txt");
    std::fs::write(&piece, &ab[..assess::MAX_LINE_BYTES]).map_err(|e| io("piece.txt", e))?;
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    Ok(Files {
        dir: dir.to_path_buf(),
        ab_line: s(ab_line),
        ab_lines: s(ab_lines),
        big: s(big),
        fifo: s(fifo),
        deep: s(deep),
        piece: s(piece),
    })
}

fn contains(path: &str, i: usize) -> Check {
    Check::FileContains {
        path: path.to_owned(),
        pattern: HOSTILE_PATTERNS[i % HOSTILE_PATTERNS.len()].to_owned(),
    }
}

fn sha256(path: &str) -> Check {
    Check::FileSha256 {
        path: path.to_owned(),
        sha256: "0".repeat(64),
    }
}

/// A reply of the maximum size whose `n`-th check (of all) is `check(n)`.
fn reply(check: impl Fn(usize) -> Check) -> Vec<Requirement> {
    (0..MAX_REQUIREMENTS)
        .map(|r| Requirement {
            id: format!("r{r:02}"),
            mandatory: true,
            remediation: None,
            checks: (0..MAX_CHECKS_PER_REQUIREMENT)
                .map(|c| check(r * MAX_CHECKS_PER_REQUIREMENT + c))
                .collect(),
        })
        .collect()
}

/// The replies measured, by name.
fn replies(f: &Files) -> Vec<(&'static str, Vec<Requirement>)> {
    vec![
        (
            "file-contains, hostile patterns, 1 MiB one line",
            reply(|n| contains(&f.ab_line, n)),
        ),
        (
            "file-contains, hostile patterns, 1 MiB of 80-byte lines",
            reply(|n| contains(&f.ab_lines, n)),
        ),
        ("file-sha256, 512 MiB file", reply(|_| sha256(&f.big))),
        (
            "FIFOs (file-contains and file-sha256)",
            reply(|n| {
                if n % 2 == 0 {
                    contains(&f.fifo, n)
                } else {
                    sha256(&f.fifo)
                }
            }),
        ),
        (
            "200-directory-deep paths (file-contains, file-sha256)",
            reply(|n| {
                if n % 2 == 0 {
                    contains(&f.deep, n)
                } else {
                    sha256(&f.deep)
                }
            }),
        ),
        (
            "mixed: per requirement 12 file-contains, 2 file-sha256, 1 FIFO, 1 deep",
            reply(|n| match n % 16 {
                0..=11 => contains(if n % 2 == 0 { &f.ab_line } else { &f.ab_lines }, n),
                12 | 13 => sha256(&f.big),
                14 => contains(&f.fifo, n),
                _ => contains(&f.deep, n),
            }),
        ),
    ]
}

/// How the checks of an evaluation ended, by the first words of their reasons.
fn tally(outcomes: &[assess::RequirementOutcome]) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for c in outcomes.iter().flat_map(|r| &r.checks) {
        let kind = if c.reason.contains("time budget") {
            "stopped by the time budget"
        } else if c.reason.contains("read budget") {
            "stopped by the byte budget"
        } else if c.reason.contains("not a regular file") {
            "not a regular file"
        } else if c.passed {
            "passed"
        } else {
            "failed (evaluated)"
        };
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The CPU of the slowest single match: one 16 KiB piece with the most
/// expensive pattern, which the budget cannot interrupt.
fn piece_cost(f: &Files, policy: &CheckPolicy) -> Result<Duration, String> {
    let mut worst = Duration::ZERO;
    for i in 0..HOSTILE_PATTERNS.len() {
        let budget = Budget::new(Duration::from_secs(600), u64::MAX);
        let cx = CheckCx {
            policy,
            budget: &budget,
        };
        let cpu = cpu_time()?;
        assess::evaluate_check(&contains(&f.piece, i), &cx);
        worst = worst.max(cpu_time()? - cpu);
    }
    Ok(worst)
}

fn calibrate(f: &Files, policy: &CheckPolicy) -> Result<(), String> {
    println!("one file-contains check over 1 MiB, no budget:");
    for (i, pattern) in HOSTILE_PATTERNS.iter().enumerate() {
        for path in [&f.ab_line, &f.ab_lines] {
            let budget = Budget::new(Duration::from_secs(600), u64::MAX);
            let cx = CheckCx {
                policy,
                budget: &budget,
            };
            let (cpu, wall) = (cpu_time()?, Instant::now());
            let outcome = assess::evaluate_check(&contains(path, i), &cx);
            println!(
                "  {:>8.1} ms CPU {:>8.1} ms wall  {pattern:<32} {}  {}",
                (cpu_time()? - cpu).as_secs_f64() * 1e3,
                wall.elapsed().as_secs_f64() * 1e3,
                Path::new(path)
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                if outcome.passed { "match" } else { "no match" }
            );
        }
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let mut calibrate_only = false;
    let mut dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--calibrate" => calibrate_only = true,
            "--dir" => dir = Some(PathBuf::from(args.next().ok_or("--dir needs a value")?)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let tmp = match &dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let root = tmp
        .path()
        .canonicalize()
        .map_err(|e| format!("{}: {e}", tmp.path().display()))?;
    let files = plant(&root)?;
    let policy = CheckPolicy::new(&[files.dir.to_string_lossy().into_owned()], [], None);
    if calibrate_only {
        return calibrate(&files, &policy);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let assessor = Assessor::new(policy);
    let time = budget::TIME_BUDGET;
    println!(
        "budget: {} s, {} MiB; {} requirements x {} checks per reply; {} cores",
        time.as_secs_f64(),
        budget::BYTE_BUDGET >> 20,
        MAX_REQUIREMENTS,
        MAX_CHECKS_PER_REQUIREMENT,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let piece = piece_cost(&files, assessor.policy())?;
    println!(
        "slowest single match (16 KiB piece): {:.2} s CPU",
        piece.as_secs_f64()
    );
    let (mut worst, mut worst_wall) = (Duration::ZERO, Duration::ZERO);
    for (name, requirements) in replies(&files) {
        let (cpu, wall) = (cpu_time()?, Instant::now());
        let outcomes = runtime.block_on(assess::evaluate_bounded(&assessor, requirements));
        let (cpu, wall) = (cpu_time()? - cpu, wall.elapsed());
        worst = worst.max(cpu);
        worst_wall = worst_wall.max(wall);
        println!(
            "{name}\n  CPU {:.2} s, wall {:.2} s ({:.0}% of the time budget); {}",
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            cpu.as_secs_f64() / time.as_secs_f64() * 100.0,
            tally(&outcomes)
        );
    }
    // The budget is asked between matches, so one evaluation can overrun
    // it by the slowest single match (plus a tick of /proc accounting).
    let goal = time + piece + Duration::from_millis(10);
    println!(
        "worst CPU {:.2} s, worst wall {:.2} s (overrun {:.2} s); goal CPU <= budget + one piece = {:.2} s: {}",
        worst.as_secs_f64(),
        worst_wall.as_secs_f64(),
        worst_wall.saturating_sub(time).as_secs_f64(),
        goal.as_secs_f64(),
        if worst <= goal { "PASS" } else { "MISS" }
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assess-worst: {e}");
            ExitCode::FAILURE
        }
    }
}
