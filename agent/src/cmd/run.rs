//! `posture-sync run`: config -> build -> run.
//!
//! Reads the profile and flags into values (failing early with a clear
//! message and exit code), builds the pieces with their I/O injected (TLS
//! client, status socket, profile watcher, daemon), then runs the daemon on a
//! single-threaded tokio runtime until SIGINT or SIGTERM, and stops cleanly:
//! tasks aborted, status socket removed, logs flushed, exit 0.
//!
//! Beside the daemon, a reporter follows the status it publishes after
//! every step: it tells the service manager (`READY=1`, `STATUS=`,
//! watchdog pings, `STOPPING=1`: [`crate::notify`]) and writes the files
//! fleet tools read ([`crate::fleet_status`]).
//!
//! Exit codes (decided in one place, [`Exit`]; the table is `crate::exit`):
//! 0 clean stop; 78 (EX_CONFIG) invalid profile, CA file or directories; 66
//! (EX_NOINPUT) no profile (missing or unreadable file, like `profile check`,
//! or none given and none installed) or an unreadable CA file; 69
//! (EX_UNAVAILABLE) no MAC address found; 4 another agent holds the state
//! dir; 1 any other startup error (the message says which).
//!
//! Without `--profile` the agent runs the installed profile, as `install`
//! and `dart` do, and says which file it uses.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use profile_schema::{LoadError, Loaded, Profile};
use tokio::sync::{oneshot, watch};

use crate::cli::RunArgs;
use crate::daemon::{self, Daemon, Hooks};
use crate::fleet_status::{self, FleetFiles, Tracker, Trigger};
use crate::logging::{self, LogHandle};
use crate::machine::BundleReason;
use crate::notify::{self, Announcement, Announcer, Message};
use crate::paths::Dirs;
use crate::probe::PROBE_TIMEOUTS;
use crate::record::{BundleReasonRecord, RunEvent};
use crate::transport::{self, Transport};
use crate::{control, dart, exit, lock, reload};

/// DartCount when no profile is at hand: the key table's default.
fn default_dart_count() -> u32 {
    profile_schema::KEYS
        .iter()
        .find(|k| k.name == "DartCount")
        .and_then(|k| k.default.parse().ok())
        // The key table's tests parse every default of a numeric key, so this
        // is unreachable; keeping no bundle is the conservative fallback.
        .unwrap_or(0)
}

/// How long an idle blocking-pool thread waits for another job.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// How `run` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stopped by SIGINT/SIGTERM.
    Clean,
    /// A startup error without a more specific code.
    Startup,
    /// Invalid profile, CA file or directories: fix the configuration.
    Config,
    /// No profile at the given path, none installed, or an unreadable CA file.
    NoInput,
    /// No MAC address to present: a restart may find one.
    Unavailable,
    /// Another agent runs with this state dir.
    LockHeld,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// How long stopping waits for blocking tasks (bundle writing, checks).
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Exit {
    /// The process exit code.
    fn code(self) -> u8 {
        match self {
            Exit::Clean => 0,
            Exit::Startup => exit::FAILURE,
            Exit::Config => exit::EX_CONFIG,
            Exit::NoInput => exit::EX_NOINPUT,
            Exit::Unavailable => exit::EX_UNAVAILABLE,
            Exit::LockHeld => exit::LOCK_HELD,
        }
    }
}

/// A start that gave up: how it exits and what it printed.
#[derive(Debug)]
struct Failed {
    exit: Exit,
    /// Every line printed on stderr for it.
    message: String,
}

/// Entry point. A failed start is also recorded in the state dir's runs
/// file ([`crate::runs`]): what it printed may never have reached a log.
pub fn main(args: RunArgs) -> ExitCode {
    let (state_dir, log_dir) = (args.state_dir.clone(), args.log_dir.clone());
    match run(args) {
        Ok(exit) => exit.into(),
        Err(failed) => {
            record_failed_start(state_dir, log_dir, &failed);
            failed.exit.into()
        }
    }
}

/// Appends the failed start to the runs file, where the state dir can be
/// used: never when another agent holds it (that agent's runs are not
/// about this refused start) or when the dirs were refused (nothing is
/// written into a directory other users could control).
fn record_failed_start(state_dir: Option<PathBuf>, log_dir: Option<PathBuf>, failed: &Failed) {
    if failed.exit == Exit::LockHeld {
        return;
    }
    let Ok(dirs) = Dirs::resolve(state_dir, log_dir) else {
        return;
    };
    if dirs.ensure().is_err() {
        return;
    }
    // Best effort: the exit code and stderr still tell the failure.
    let _ = crate::runs::append(
        &dirs.state,
        RunEvent::FailedStart {
            exit: failed.exit.code(),
            message: failed.message.clone(),
        },
    );
}

/// Prints `message` and gives up with `exit`.
fn fail<T>(exit: Exit, message: impl std::fmt::Display) -> Result<T, Failed> {
    super::print_err(format_args!("{message}"));
    Err(Failed {
        exit,
        message: message.to_string(),
    })
}

fn run(args: RunArgs) -> Result<Exit, Failed> {
    // Config: everything that can be wrong with the input, before any I/O
    // beyond reading it.
    let profile = match args.profile {
        Some(p) => p,
        None => match super::installed_profile() {
            Ok(p) => {
                super::print_err(format_args!("using the installed profile {}", p.display()));
                p
            }
            Err(tried) => return fail(Exit::NoInput, NoInstalledProfile(tried)),
        },
    };
    let loaded = load_profile(&profile)?;
    let mac = match crate::platform::mac::resolve(args.mac.as_deref()) {
        Ok(m) => m,
        Err(e @ crate::platform::mac::MacError::NotFound(_)) => return fail(Exit::Unavailable, e),
        Err(e) => return fail(Exit::Config, e),
    };
    if let Some(dir) = &args.metrics_dir
        && let Err(e) = crate::fleet_status::check_metrics_dir(dir)
    {
        return fail(Exit::Startup, e);
    }
    let dirs = match Dirs::resolve(args.state_dir, args.log_dir) {
        Ok(d) => d,
        Err(e) => return fail(dir_exit(&e), e),
    };
    // Creates missing dirs 0700 and refuses dirs other users could write
    // or own (docs/cli.md, Directories) before anything goes into them.
    if let Err(e) = dirs.ensure() {
        return fail(dir_exit(&e), e);
    }
    let _lock = match lock::acquire(&dirs.state) {
        Ok(l) => l,
        Err(e @ lock::LockError::Held { .. }) => return fail(Exit::LockHeld, e),
        Err(e) => return fail(Exit::Startup, e),
    };
    let log = match logging::init(&dirs.logs, loaded.profile.log_file_size_bytes(), true) {
        Ok(h) => h,
        Err(e) => return fail(Exit::Startup, e),
    };
    // Best effort, like the log: a full disk must not stop the agent.
    if let Err(e) = crate::runs::append(
        &dirs.state,
        RunEvent::Started {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
    ) {
        tracing::warn!(file = %dirs.state.join(crate::record::RUNS_FILE).display(), "cannot record the start: {e}");
    }
    // Build.
    let trust = if args.ca_only {
        transport::Trust::CaFileOnly
    } else {
        transport::Trust::PlatformAndCaFile
    };
    let tls = match transport::client_config(args.ca_file.as_deref(), trust) {
        Ok(c) => c,
        Err(e) => return fail(tls_exit(&e), e),
    };
    let transport = match Transport::new(tls, &mac) {
        Ok(t) => t,
        Err(e) => return fail(Exit::Startup, e),
    };
    // Blocking-pool threads (assessment checks, name lookups, bundles) leave
    // 1 s after their last job instead of tokio's 10 s: they are needed
    // rarely, and an idle agent keeps to its three threads (runtime, log
    // writer, profile watcher; docs/benchmarks.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(Exit::Startup, format!("cannot start the runtime: {e}")),
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        profile = %profile.display(),
        state_dir = %dirs.state.display(),
        log_dir = %dirs.logs.display(),
        mac = %mac,
        gateway = %args.gateway,
        network_watch = args.network_watch,
        start_spread_s = args.start_spread,
        "posture-sync starting"
    );
    // Run.
    let exit = runtime.block_on(serve(
        &profile,
        args.ca_file.as_deref(),
        args.metrics_dir.as_deref(),
        &dirs,
        transport,
        loaded,
        &log,
        Roaming {
            gateway: args.gateway,
            network_watch: args.network_watch,
            start_spread: std::time::Duration::from_secs(args.start_spread),
        },
    ));
    // Tasks still queued (aborted probe tasks) go with the runtime; then the
    // log guard flushes when `log` drops. Bounded: a blocking task (a bundle
    // being written, checks stuck on a hung file system) must not keep a
    // stopping agent alive; its thread is left behind.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    let code = match &exit {
        Ok(e) => e.code(),
        Err(f) => f.exit.code(),
    };
    if let Err(e) = crate::runs::append(&dirs.state, RunEvent::Stopped { exit: code }) {
        tracing::warn!(file = %dirs.state.join(crate::record::RUNS_FILE).display(), "cannot record the stop: {e}");
    }
    tracing::info!("posture-sync stopped");
    exit
}

/// `run` without `--profile` and no installed profile; the paths looked at.
#[derive(Debug, thiserror::Error)]
#[error(
    "no profile: none given and none installed ({})\nhelp: pass --profile FILE, or install the profile at one of those paths",
    looked_at(.0)
)]
struct NoInstalledProfile(Vec<PathBuf>);

fn looked_at(tried: &[PathBuf]) -> String {
    if tried.is_empty() {
        return "no home directory to look in".to_owned();
    }
    let paths: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    format!("looked for {}", paths.join(", "))
}

/// A directory that is misconfigured (not private to the user, not a
/// directory, no home to derive it from) is fixed by configuration; an
/// I/O error creating or inspecting it may not be.
fn dir_exit(e: &crate::paths::PathsError) -> Exit {
    use crate::paths::PathsError as E;
    match e {
        E::Create { .. } | E::Inspect { .. } => Exit::Startup,
        E::NoHome { .. }
        | E::Relative { .. }
        | E::NotADirectory { .. }
        | E::ForeignOwner { .. }
        | E::WritableByOthers { .. }
        | E::UntrustedParent { .. } => Exit::Config,
    }
}

/// An unreadable `--ca-file` is missing input; one without certificates,
/// or no trust anchors at all, is a configuration to fix.
fn tls_exit(e: &transport::SetupError) -> Exit {
    use transport::SetupError as E;
    match e {
        E::CaFileUnreadable { .. } => Exit::NoInput,
        E::CaFileEmpty { .. } | E::NoRoots | E::CaOnlyWithoutCaFile => Exit::Config,
        E::Tls(_) => Exit::Startup,
    }
}

/// Reads the profile at start: "no profile" and "invalid profile" are
/// different errors with different exit codes; every error is printed as
/// `FILE:LINE:COL: message`. Called before the runtime exists, so blocking
/// here stalls nothing else; `Profile::load` reads regular files only (a
/// FIFO at the path is "no profile", exit 66) and at most the size cap.
fn load_profile(path: &Path) -> Result<Loaded, Failed> {
    match Profile::load(path) {
        Ok(l) => Ok(l),
        Err(e @ LoadError::Read { .. }) => fail(Exit::NoInput, e),
        Err(LoadError::Invalid { path, errors }) => {
            let mut lines: Vec<String> = errors.iter().map(|e| e.render(&path)).collect();
            for line in &lines {
                // Not eprintln!: a closed stderr must not turn exit 78 into a panic.
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            let summary = format!(
                "{}: invalid profile: {} errors",
                path.display(),
                errors.len()
            );
            super::print_err(format_args!("{summary}"));
            lines.push(summary);
            Err(Failed {
                exit: Exit::Config,
                message: lines.join("\n"),
            })
        }
        // Larger than the size cap: not a profile this agent accepts.
        Err(e @ LoadError::TooLarge { .. }) => fail(Exit::Config, e),
    }
}

/// The flags that decide how the endpoint looks for its PSN again.
#[derive(Debug, Clone, Copy)]
struct Roaming {
    /// `--gateway`.
    gateway: crate::gateway::GatewayMode,
    /// `--network-watch`.
    network_watch: bool,
    /// `--start-spread`.
    start_spread: std::time::Duration,
}

// One call site, in `run`; each argument is one of its separate results.
#[allow(clippy::too_many_arguments)]
async fn serve(
    profile_path: &Path,
    ca_file: Option<&Path>,
    metrics_dir: Option<&Path>,
    dirs: &Dirs,
    transport: Transport,
    loaded: Loaded,
    log: &LogHandle,
    roaming: Roaming,
) -> Result<Exit, Failed> {
    let (status_tx, status_rx) = watch::channel(crate::status_report::Snapshot::fixed(
        serde_json::Value::Null,
    ));
    // `dart` asks the running agent which profile it runs: an absolute
    // path, whatever the working directory of the asker.
    let info = crate::status_report::AgentInfo {
        profile: std::path::absolute(profile_path).ok(),
    };
    let fleet = FleetFiles::new(&dirs.state, metrics_dir, info.clone());
    let reporter_rx = status_rx.clone();
    // Without a watcher the agent still works; it just needs a restart to
    // pick up a changed profile.
    let (watcher, reloads) = match reload::watch(profile_path) {
        Ok((w, rx)) => (Some(w), rx),
        Err(e) => {
            tracing::warn!("{e}; profile changes apply only after a restart");
            let (_tx, rx) = tokio::sync::mpsc::channel(1);
            (None, rx)
        }
    };
    let io = daemon::Io {
        probe_transport: transport.clone().with_timeouts(PROBE_TIMEOUTS),
        transport,
        psn_store: dirs.psn_store_path(),
        probe_history: dirs.probe_history_path(),
        status: status_tx,
        gateway: roaming.gateway,
        network_watch: roaming.network_watch,
        start_spread: roaming.start_spread,
        check_off_limits: [dirs.state.clone(), dirs.logs.clone()]
            .into_iter()
            .chain(crate::paths::Env::home_dir(&crate::paths::ProcessEnv))
            .collect(),
    };
    let daemon = Daemon::new(
        io,
        RunHooks {
            log,
            dirs: dirs.clone(),
            profile: profile_path.to_owned(),
            ca_file: ca_file.map(Path::to_path_buf),
        },
    );
    let control = match control::serve_with(
        &dirs.socket_path(),
        status_rx,
        info,
        Some(daemon.rescan_sender()),
    ) {
        Ok(c) => c,
        Err(e) => return fail(Exit::Startup, e),
    };
    // Started once the status socket answers: its first report (READY=1)
    // follows the daemon's first step, which applies the profile.
    let (stop_reporter, stopped) = oneshot::channel();
    let reporter = tokio::spawn(report(reporter_rx, fleet, stopped));
    let shutdown = async {
        shutdown_signal().await;
        notify::send(Message::Stopping);
    };
    let state = daemon.run(loaded, reloads, shutdown).await;
    // The daemon's last status is published: the files say it stopped.
    let _ = stop_reporter.send(());
    // Bounded like the rest of the shutdown: a state dir on a hung file
    // system must not keep a stopping agent alive.
    match tokio::time::timeout(SHUTDOWN_GRACE, reporter).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the status reporter failed"),
        Err(_) => tracing::warn!(
            status_file = %dirs.state.join(fleet_status::STATUS_FILE).display(),
            "the status files were not written within {}; stopping without them",
            humantime::format_duration(SHUTDOWN_GRACE)
        ),
    }
    tracing::info!(
        phase = %state.phase().name(),
        probe_rounds = state.counters().probe_rounds,
        "stopping: removing the status socket, flushing the logs"
    );
    drop(watcher);
    control.shutdown();
    Ok(Exit::Clean)
}

/// Follows the daemon's published status until `stop`: tells the service
/// manager (ready, phase and posture changes, watchdog pings) and rewrites
/// the fleet files when their trigger changes, at most once per
/// [`fleet_status::MIN_WRITE_INTERVAL`]. Runs on the daemon's runtime, so
/// its watchdog pings stop when that runtime stops turning. At `stop` it
/// writes the files a last time with `running: false`.
async fn report(
    mut status: watch::Receiver<crate::status_report::Snapshot>,
    files: FleetFiles,
    mut stop: oneshot::Receiver<()>,
) {
    let files = Arc::new(files);
    let mut announcer = Announcer::default();
    let mut tracker = Tracker::default();
    let mut watchdog = notify::watchdog_timeout()
        .and_then(notify::watchdog_period)
        .map(|period| {
            let mut ping = tokio::time::interval(period);
            // After a stall, one ping, not a burst of the missed ones.
            ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ping
        });
    if let Some(period) = watchdog.as_ref().map(tokio::time::Interval::period) {
        tracing::info!(
            ping_every = %humantime::format_duration(period),
            "service manager watchdog enabled"
        );
    }
    let mut due = fleet_status::Change::None;
    let mut last_write: Option<tokio::time::Instant> = None;
    let mut writing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let wait = if due == fleet_status::Change::State {
            fleet_status::MIN_WRITE_INTERVAL
        } else {
            fleet_status::COUNTER_WRITE_INTERVAL
        };
        let write_at = last_write.map_or_else(tokio::time::Instant::now, |at| at + wait);
        tokio::select! {
            _ = &mut stop => break,
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = status.borrow_and_update().clone();
                if let Some((state, _, _)) = snapshot.state() {
                    match announcer.step(state.phase().name(), state.posture()) {
                        Some(Announcement::Ready(line)) => {
                            notify::send(Message::Ready { status: &line });
                        }
                        Some(Announcement::Status(line)) => notify::send(Message::Status(&line)),
                        None => {}
                    }
                    due = due.max(tracker.observe(Trigger::of(state)));
                }
            }
            _ = async {
                match watchdog.as_mut() {
                    Some(w) => { w.tick().await; }
                    None => std::future::pending().await,
                }
            } => notify::send(Message::Watchdog),
            // One write at a time: a slow disk delays the next, never the daemon.
            _ = tokio::time::sleep_until(write_at),
                if due != fleet_status::Change::None && writing.is_none() => {
                due = fleet_status::Change::None;
                last_write = Some(tokio::time::Instant::now());
                let snapshot = status.borrow().clone();
                let (files, rounds) = (Arc::clone(&files), tracker.rounds());
                writing = Some(tokio::task::spawn_blocking(move || {
                    write_fleet_files(&files, &snapshot, rounds, true);
                }));
            }
            _ = async {
                match writing.as_mut() {
                    Some(w) => { let _ = w.await; }
                    None => std::future::pending().await,
                }
            } => writing = None,
        }
    }
    if let Some(w) = writing.take() {
        let _ = w.await;
    }
    let snapshot = status.borrow().clone();
    // The daemon's last steps (the round cut short at shutdown) count too.
    if let Some((state, _, _)) = snapshot.state() {
        tracker.observe(Trigger::of(state));
    }
    let rounds = tracker.rounds();
    let _ = tokio::task::spawn_blocking(move || {
        write_fleet_files(&files, &snapshot, rounds, false);
    })
    .await;
}

/// Renders and writes the fleet files; a failure is logged, never fatal.
fn write_fleet_files(
    files: &FleetFiles,
    snapshot: &crate::status_report::Snapshot,
    rounds: fleet_status::RoundsByOutcome,
    running: bool,
) {
    let Some((status, metrics)) =
        files.render(snapshot, rounds, running, std::time::SystemTime::now())
    else {
        return;
    };
    if let Err(e) = files.write(&status, metrics.as_deref()) {
        tracing::warn!("{e}");
    }
}

/// Completes on SIGINT or SIGTERM (Ctrl-C only where there is no SIGTERM).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                _ = term.recv() => tracing::info!("SIGTERM received"),
            },
            Err(e) => {
                tracing::warn!("cannot watch for SIGTERM ({e}); stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received");
    }
}

/// What `run` does for the daemon beyond the network.
struct RunHooks<'a> {
    log: &'a LogHandle,
    dirs: Dirs,
    profile: PathBuf,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for RunHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHooks").finish_non_exhaustive()
    }
}

impl Hooks for RunHooks<'_> {
    fn profile_applied(&mut self, profile: &Profile) {
        self.log.set_max_file_bytes(profile.log_file_size_bytes());
    }

    /// Writes the bundle on the blocking pool (zip + file I/O must not stall
    /// the runtime thread); the runtime waits for it at shutdown.
    fn collect_bundle(
        &mut self,
        reason: &BundleReason,
        profile: Option<&Profile>,
        status: serde_json::Value,
    ) {
        // The typed reason decides the summary's findings; its line (whose
        // first words name the bundle file) is what `summary.html` shows.
        let why = BundleReasonRecord::from(reason);
        let dart_count = profile.map_or_else(default_dart_count, Profile::dart_count);
        let (dirs, profile, ca_file) = (
            self.dirs.clone(),
            self.profile.clone(),
            self.ca_file.clone(),
        );
        tokio::task::spawn_blocking(move || {
            match dart::collect_automatic(
                &dirs,
                Some(&profile),
                ca_file.as_deref(),
                status,
                dart_count,
                &why,
            ) {
                Ok(Some(_)) => {}
                Ok(None) => tracing::info!("DartCount is 0: no diagnostic bundle collected"),
                Err(e) => tracing::warn!("{e}"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dart_count_without_a_profile_is_the_profiles_default() {
        let empty = Profile::parse("<cfg></cfg>").unwrap().profile;
        assert_eq!(default_dart_count(), empty.dart_count());
        // Not the fallback: the table has the key with a numeric default.
        assert!(
            profile_schema::KEYS
                .iter()
                .any(|k| k.name == "DartCount" && k.default.parse::<u32>().is_ok())
        );
    }
}
