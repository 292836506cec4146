//! `posture-sync run`: config -> build -> run.
//!
//! Reads the profile and flags into values (failing early with a clear
//! message and exit code), builds the pieces with their I/O injected (TLS
//! client, status socket, profile watcher, daemon), then runs the daemon on a
//! single-threaded tokio runtime until SIGINT or SIGTERM, and stops cleanly:
//! tasks aborted, status socket removed, logs flushed, exit 0.
//!
//! Exit codes (decided in one place, [`Exit`]): 0 clean stop; 1 invalid
//! profile or another startup error (the message says which); 2 no profile
//! (missing or unreadable file, like `profile check`); 4 another agent holds
//! the state dir.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use profile_schema::{LoadError, Loaded, Profile};
use tokio::sync::watch;

use crate::cli::RunArgs;
use crate::daemon::{self, Daemon, Hooks};
use crate::logging::{self, LogHandle};
use crate::machine::BundleReason;
use crate::paths::Dirs;
use crate::probe::PROBE_TIMEOUTS;
use crate::record::BundleReasonRecord;
use crate::transport::{self, Transport};
use crate::{control, dart, lock, reload};

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
    /// Invalid profile, or another startup error.
    Startup,
    /// No profile at the given path.
    NoProfile,
    /// Another agent runs with this state dir.
    LockHeld,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        match e {
            Exit::Clean => ExitCode::SUCCESS,
            Exit::Startup => ExitCode::from(1),
            Exit::NoProfile => ExitCode::from(2),
            Exit::LockHeld => ExitCode::from(lock::EXIT_LOCK_HELD),
        }
    }
}

/// How long stopping waits for blocking tasks (bundle writing, checks).
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Entry point.
pub fn main(args: RunArgs) -> ExitCode {
    run(args).into()
}

fn fail(exit: Exit, message: impl std::fmt::Display) -> Exit {
    super::print_err(format_args!("{message}"));
    exit
}

fn run(args: RunArgs) -> Exit {
    // Config: everything that can be wrong with the input, before any I/O
    // beyond reading it.
    let loaded = match load_profile(&args.profile) {
        Ok(l) => l,
        Err(exit) => return exit,
    };
    let mac = match crate::platform::mac::resolve(args.mac.as_deref()) {
        Ok(m) => m,
        Err(e) => return fail(Exit::Startup, e),
    };
    let dirs = match Dirs::resolve(args.state_dir, args.log_dir) {
        Ok(d) => d,
        Err(e) => return fail(Exit::Startup, e),
    };
    // Creates missing dirs 0700 and refuses dirs other users could write
    // or own (docs/cli.md, Directories) before anything goes into them.
    if let Err(e) = dirs.ensure() {
        return fail(Exit::Startup, e);
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
    // Build.
    let trust = if args.ca_only {
        transport::Trust::CaFileOnly
    } else {
        transport::Trust::PlatformAndCaFile
    };
    let tls = match transport::client_config(args.ca_file.as_deref(), trust) {
        Ok(c) => c,
        Err(e) => return fail(Exit::Startup, e),
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
        profile = %args.profile.display(),
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
        &args.profile,
        args.ca_file.as_deref(),
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
    tracing::info!("posture-sync stopped");
    exit
}

/// Reads the profile at start: "no profile" and "invalid profile" are
/// different errors with different exit codes; every error is printed as
/// `FILE:LINE:COL: message`. Called before the runtime exists, so blocking
/// here stalls nothing else; `Profile::load` reads regular files only (a
/// FIFO at the path is "no profile", exit 2) and at most the size cap.
fn load_profile(path: &Path) -> Result<Loaded, Exit> {
    match Profile::load(path) {
        Ok(l) => Ok(l),
        Err(e @ LoadError::Read { .. }) => Err(fail(Exit::NoProfile, e)),
        Err(LoadError::Invalid { path, errors }) => {
            for error in &errors {
                // Not eprintln!: a closed stderr must not turn exit 1 into a panic.
                let _ = writeln!(std::io::stderr().lock(), "{}", error.render(&path));
            }
            Err(fail(
                Exit::Startup,
                format!(
                    "{}: invalid profile: {} errors",
                    path.display(),
                    errors.len()
                ),
            ))
        }
        Err(e) => Err(fail(Exit::Startup, e)),
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

async fn serve(
    profile_path: &Path,
    ca_file: Option<&Path>,
    dirs: &Dirs,
    transport: Transport,
    loaded: Loaded,
    log: &LogHandle,
    roaming: Roaming,
) -> Exit {
    let (status_tx, status_rx) = watch::channel(crate::status_report::Snapshot::fixed(
        serde_json::Value::Null,
    ));
    // `dart` asks the running agent which profile it runs: an absolute
    // path, whatever the working directory of the asker.
    let info = crate::status_report::AgentInfo {
        profile: std::path::absolute(profile_path).ok(),
    };
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
    let state = daemon.run(loaded, reloads, shutdown_signal()).await;
    tracing::info!(
        phase = %state.phase().name(),
        probe_rounds = state.counters().probe_rounds,
        "stopping: removing the status socket, flushing the logs"
    );
    drop(watcher);
    control.shutdown();
    Exit::Clean
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
