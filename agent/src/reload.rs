//! Profile hot reload: watch the profile file and hand every changed version
//! to the daemon, which applies a valid one and keeps its last good profile
//! (and says so) on an invalid one.
//!
//! Editors and deployment tools rarely write a file in place: many write a
//! temp file and rename it over the old one, or delete and recreate it, so
//! the file can be missing for a moment and its inode changes. The watcher
//! therefore watches the profile's *parent directory* and filters events by
//! file name. Events are debounced ([`DEBOUNCE`]: the profile is read once
//! the directory has been quiet that long), and a version is sent only when
//! the file's content differs from the last one seen (a `touch`, a metadata
//! change or a rewrite with identical bytes sends nothing).
//!
//! The watcher does not see the directory itself being deleted and
//! recreated; the agent then keeps its current profile until restarted.
//!
//! An invalid version is logged here, one line per error with its
//! `FILE:LINE:COL` (at most [`MAX_LOGGED_ERRORS`], then "and N more"),
//! followed by a pointer to `posture-sync profile check`, before it goes to
//! the daemon (which says that it keeps the last good profile).
//!
//! Threads: the platform watcher has its own thread (notify's inotify
//! thread); the debounce runs as a task on the caller's tokio runtime, fed
//! through a channel from notify's callback, so the profile watch costs one
//! thread, not two, and nothing wakes up while the directory is quiet.
//!
//! Reading never happens on the runtime's thread: each version is read and
//! parsed on tokio's blocking pool, bounded by [`READ_TIMEOUT`]. Whatever
//! sits at the profile's path, the runtime (probes, signals, the status
//! socket) keeps running: the file is opened with
//! [`profile_schema::open_regular`] (a FIFO, device, socket or directory is
//! "no profile" without being read), at most one byte past the size cap is
//! read, and a read that outlives the timeout (a hung network file system)
//! is logged as an error and the last good profile stays in force. While
//! such a read is stuck no second one starts; when it ends, the profile is
//! read again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use profile_schema::{LoadError, Loaded, Profile};
use tokio::sync::mpsc;

/// How long the directory must be quiet before the profile is read.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// How long one read of the profile (fingerprint, read and parse, on the
/// blocking pool) may take before the watcher gives up on it and keeps the
/// last good profile. A 1 MiB profile reads and parses in well under a
/// second; only a hung file system takes this long.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How many errors of an invalid profile are logged one by one; the rest
/// are counted ("and N more errors").
pub const MAX_LOGGED_ERRORS: usize = 20;

/// Errors starting the watch.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The path names no file.
    #[error("the profile path {path} does not name a file")]
    NoFileName {
        /// The path as given.
        path: PathBuf,
    },
    /// The profile's directory is missing or unreadable.
    #[error("cannot watch the profile directory {dir}: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The platform's file watcher refused.
    #[error(
        "cannot watch the profile directory {dir} for changes: {source}\nhelp: on Linux, raise fs.inotify.max_user_watches or max_user_instances"
    )]
    Watch {
        /// The directory.
        dir: PathBuf,
        /// The watcher's error.
        source: notify::Error,
    },
}

/// A version of the profile as the watcher read it.
pub type ReloadResult = Result<Loaded, LoadError>;

/// Keeps the watch alive; dropping it stops watching and ends the channel.
pub struct ProfileWatcher {
    path: PathBuf,
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for ProfileWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileWatcher")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ProfileWatcher {
    /// The watched profile.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Watches the profile at `path`. The current content is the baseline: the
/// channel receives a [`Profile::load`] result each time the content changes
/// from then on (including `Err(LoadError::Read)` when the file is gone for
/// longer than the debounce). Must be called within a tokio runtime: the
/// debounce runs as a task on it, and each read on its blocking pool (see
/// the module doc).
pub fn watch(path: &Path) -> Result<(ProfileWatcher, mpsc::Receiver<ReloadResult>), ReloadError> {
    watch_with(path, Reader::default())
}

/// Reads one version: `(target, load_path, last fingerprint)`; see
/// [`read_version`].
type ReadFn = dyn Fn(&Path, &Path, Option<u64>) -> Version + Send + Sync;

/// How the watcher reads a version: the function (injected by tests) and
/// its bound.
#[derive(Clone)]
struct Reader {
    timeout: Duration,
    read: Arc<ReadFn>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            timeout: READ_TIMEOUT,
            read: Arc::new(read_version),
        }
    }
}

/// What one read of the profile found.
#[derive(Debug)]
struct Version {
    /// The content's fingerprint ([`fingerprint`]).
    fingerprint: Option<u64>,
    /// The profile, when the content differs from the last one seen.
    loaded: Option<ReloadResult>,
}

/// Reads the file at `target` and, when its content is not `last`, loads the
/// profile at `load_path` (the same file, named as the user gave it). Blocks
/// on the file system: runs on the blocking pool.
fn read_version(target: &Path, load_path: &Path, last: Option<u64>) -> Version {
    let now = fingerprint(target);
    Version {
        fingerprint: now,
        loaded: (now != last).then(|| Profile::load(load_path)),
    }
}

fn watch_with(
    path: &Path,
    reader: Reader,
) -> Result<(ProfileWatcher, mpsc::Receiver<ReloadResult>), ReloadError> {
    let Some(name) = path.file_name().map(ToOwned::to_owned) else {
        return Err(ReloadError::NoFileName {
            path: path.to_path_buf(),
        });
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Events carry the watched path joined with the child's name; watching
    // the canonical dir makes them comparable whatever form `path` had.
    let dir = parent.canonicalize().map_err(|source| ReloadError::Dir {
        dir: parent.to_path_buf(),
        source,
    })?;
    let target = dir.join(&name);
    // notify calls this on its own thread; the send never blocks and fails
    // only once the debounce task is gone (the agent is stopping).
    let (event_tx, event_rx) = mpsc::unbounded_channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = event_tx.send(event);
    })
    .map_err(|source| ReloadError::Watch {
        dir: dir.clone(),
        source,
    })?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|source| ReloadError::Watch {
            dir: dir.clone(),
            source,
        })?;
    // The baseline is read after the watch started, so a change racing with
    // start-up is either in the baseline or produces an event. It is read
    // here, before returning, so that a change made right after `watch`
    // returns is never taken for the baseline; `fingerprint` opens only
    // regular files and reads at most the cap, so a FIFO cannot block it.
    let baseline = fingerprint(&target);
    // Capacity 1: the daemon only ever needs the latest version; the task
    // waits (send().await) rather than dropping one.
    let (tx, rx) = mpsc::channel(1);
    let load_path = path.to_path_buf();
    tokio::spawn(async move {
        watch_loop(event_rx, target, load_path, baseline, reader, &tx).await;
    });
    tracing::debug!(profile = %path.display(), dir = %dir.display(), "watching the profile for changes");
    Ok((
        ProfileWatcher {
            path: path.to_path_buf(),
            _watcher: watcher,
        },
        rx,
    ))
}

/// The content of `path` as a hash, `None` when it cannot be read or is not
/// a regular file ([`profile_schema::open_regular`]: a FIFO or a device is
/// never read).
fn fingerprint(path: &Path) -> Option<u64> {
    use std::io::Read as _;
    // At most one byte past the profile cap: a bigger file is refused by the
    // loader anyway, and a huge one must not be read whole on every change.
    let limit = profile_schema::MAX_PROFILE_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    profile_schema::open_regular(path)
        .ok()?
        .take(limit)
        .read_to_end(&mut bytes)
        .ok()?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// Whether `event` may have changed the file named like `target`. Opening
/// and reading (including this watcher's own reads) do not count; a close
/// after writing does.
fn concerns(event: &notify::Event, target: &Path) -> bool {
    let kind_counts = match event.kind {
        EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write)) => {
            true
        }
        EventKind::Access(_) => false,
        _ => true,
    };
    kind_counts
        && event
            .paths
            .iter()
            .any(|p| p.file_name().is_some() && p.file_name() == target.file_name())
}

/// Why the watch loop woke up.
enum Wake {
    /// notify reported something.
    Event(notify::Result<notify::Event>),
    /// A read that had outlived [`READ_TIMEOUT`] has ended.
    StuckReadEnded,
    /// The watcher was dropped.
    Closed,
}

type ReadTask = tokio::task::JoinHandle<Version>;

/// Runs until the watcher (the event sender) or the receiver is dropped.
async fn watch_loop(
    mut events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
    target: PathBuf,
    load_path: PathBuf,
    mut last: Option<u64>,
    reader: Reader,
    tx: &mpsc::Sender<ReloadResult>,
) {
    // A read that outlived the timeout: left to finish on its own thread
    // (a blocking-pool thread cannot be cancelled), never started twice.
    let mut stuck: Option<ReadTask> = None;
    loop {
        let wake = match stuck.as_mut() {
            Some(task) => tokio::select! {
                event = events.recv() => event.map_or(Wake::Closed, Wake::Event),
                _ = task => Wake::StuckReadEnded,
            },
            None => events.recv().await.map_or(Wake::Closed, Wake::Event),
        };
        match wake {
            Wake::Closed => return, // watcher dropped
            Wake::Event(Ok(event)) if concerns(&event, &target) => {
                // Debounce: wait until no relevant event for DEBOUNCE.
                let mut deadline = tokio::time::Instant::now() + DEBOUNCE;
                loop {
                    match tokio::time::timeout_at(deadline, events.recv()).await {
                        Ok(Some(Ok(event))) if concerns(&event, &target) => {
                            deadline = tokio::time::Instant::now() + DEBOUNCE;
                        }
                        Ok(Some(_)) => {}
                        Err(_elapsed) => break,
                        Ok(None) => return,
                    }
                }
            }
            Wake::Event(Ok(_)) => continue,
            Wake::Event(Err(e)) => {
                tracing::warn!(profile = %load_path.display(), error = %e, "profile watcher error");
                continue;
            }
            Wake::StuckReadEnded => {
                stuck = None;
                tracing::info!(profile = %load_path.display(), "the stuck read of the profile has ended; reading it again");
            }
        }
        if stuck.as_ref().is_some_and(|task| task.is_finished()) {
            stuck = None;
        }
        if stuck.is_some() {
            tracing::warn!(
                profile = %load_path.display(),
                "the profile changed, but the previous read of it is still stuck; it is read again once that one ends"
            );
            continue;
        }
        let read = Arc::clone(&reader.read);
        let (job_target, job_path) = (target.clone(), load_path.clone());
        let mut task = tokio::task::spawn_blocking(move || read(&job_target, &job_path, last));
        let version = match tokio::time::timeout(reader.timeout, &mut task).await {
            Ok(Ok(version)) => version,
            Ok(Err(e)) => {
                tracing::error!(profile = %load_path.display(), error = %e, "reading the profile failed; keeping the last good profile");
                continue;
            }
            Err(_elapsed) => {
                tracing::error!(
                    profile = %load_path.display(),
                    timeout_s = reader.timeout.as_secs_f64(),
                    "reading the profile took longer than {:?} (is its file system hung?); keeping the last good profile",
                    reader.timeout
                );
                stuck = Some(task);
                continue;
            }
        };
        last = version.fingerprint;
        let Some(result) = version.loaded else {
            tracing::debug!(profile = %load_path.display(), "profile touched but its content is unchanged");
            continue;
        };
        if let Err(LoadError::Invalid { path, errors }) = &result {
            for line in invalid_profile_lines(path, errors) {
                tracing::error!(profile = %path.display(), "{line}");
            }
        }
        if tx.send(result).await.is_err() {
            return; // the daemon stopped listening
        }
    }
}

/// The log lines for an invalid profile: each error as `FILE:LINE:COL:
/// message` (its help on the same line), at most [`MAX_LOGGED_ERRORS`] of
/// them and then how many more there are, and last the command that prints
/// them all.
pub fn invalid_profile_lines(path: &Path, errors: &[profile_schema::Diagnostic]) -> Vec<String> {
    let mut lines: Vec<String> = errors
        .iter()
        .take(MAX_LOGGED_ERRORS)
        .map(|d| {
            let mut line = format!("{}:{d}", path.display());
            if let Some(help) = &d.help {
                line.push_str(" (help: ");
                line.push_str(help);
                line.push(')');
            }
            line
        })
        .collect();
    if errors.len() > MAX_LOGGED_ERRORS {
        lines.push(format!(
            "and {} more errors in {}",
            errors.len() - MAX_LOGGED_ERRORS,
            path.display()
        ));
    }
    lines.push(format!(
        "run `posture-sync profile check {}` for details",
        shell_quoted(&path.display().to_string())
    ));
    lines
}

/// `text` as one shell word, so the suggested command can be pasted as is.
fn shell_quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use crate::paths::fixtures::make_fifo;

    const WAIT: Duration = Duration::from_secs(10);

    fn profile(interval: u32) -> String {
        format!("<cfg><StateSyncProbeInterval>{interval}</StateSyncProbeInterval></cfg>\n")
    }

    async fn next(rx: &mut mpsc::Receiver<ReloadResult>) -> ReloadResult {
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("no reload within 10 s")
            .expect("watch channel closed")
    }

    fn interval(r: ReloadResult) -> u64 {
        let loaded = r.unwrap_or_else(|e| panic!("expected a valid profile, got {e}"));
        loaded.profile.state_sync_interval().unwrap().as_secs()
    }

    #[tokio::test]
    async fn edits_garbage_and_rename_replacement_are_all_seen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ISEPostureCFG.xml");
        std::fs::write(&path, profile(30)).unwrap();
        let (_watcher, mut rx) = watch(&path).unwrap();

        // In-place edit.
        std::fs::write(&path, profile(60)).unwrap();
        assert_eq!(interval(next(&mut rx).await), 60);

        // Garbage: an error naming the file; the daemon keeps its last good one.
        std::fs::write(&path, "<cfg><StateSyncProbeInterval>soon</cfg").unwrap();
        let e = next(&mut rx).await.unwrap_err();
        assert!(matches!(e, LoadError::Invalid { .. }), "{e:?}");
        assert!(e.to_string().contains("ISEPostureCFG.xml"), "{e}");

        // Editor-style replacement: write a temp file, rename it over.
        let tmp_file = tmp.path().join(".ISEPostureCFG.xml.swp");
        std::fs::write(&tmp_file, profile(120)).unwrap();
        std::fs::rename(&tmp_file, &path).unwrap();
        assert_eq!(interval(next(&mut rx).await), 120);

        // Identical content and unrelated files send nothing: the next message
        // is the next real change, not a duplicate.
        std::fs::write(&path, profile(120)).unwrap();
        std::fs::write(tmp.path().join("other.xml"), profile(5)).unwrap();
        std::fs::write(&path, profile(90)).unwrap();
        assert_eq!(interval(next(&mut rx).await), 90);
    }

    /// Collects what tracing writes, for tests of log lines.
    #[derive(Clone, Default)]
    struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for LogBuffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl LogBuffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Captures this thread's log records into a buffer while the returned
    /// guards live. The test runtime is single-threaded: the watch task logs
    /// on this thread, where this subscriber is the default. With exactly one
    /// dispatcher registered, tracing-core computes a callsite's interest
    /// from the default of whichever thread reaches it first; another test
    /// hitting the same `error!` on its own thread would cache "never" for
    /// everyone. A second registered dispatcher makes it ask every
    /// registered one, this test's included.
    fn capture_logs() -> (
        LogBuffer,
        (tracing::subscriber::DefaultGuard, tracing::Dispatch),
    ) {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        (buffer, (guard, second))
    }

    /// The reload path logs every error of an invalid profile, one record
    /// per error with FILE:LINE:COL, then where to see the details.
    #[tokio::test]
    async fn every_error_of_an_invalid_profile_is_logged_with_its_position() {
        let (buffer, _capture) = capture_logs();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ISEPostureCFG.xml");
        std::fs::write(&path, profile(30)).unwrap();
        let (_watcher, mut rx) = watch(&path).unwrap();
        std::fs::write(
            &path,
            "<cfg>\n<StateSyncProbeInterval>soon</StateSyncProbeInterval>\n\
             <NetworkTransitionDelay>999</NetworkTransitionDelay>\n<DartCount>x</DartCount>\n</cfg>\n",
        )
        .unwrap();
        let e = next(&mut rx).await.unwrap_err();
        let LoadError::Invalid { errors, .. } = &e else {
            panic!("expected an invalid profile, got {e:?}");
        };
        assert_eq!(errors.len(), 3);
        let log = buffer.text();
        let file = path.display().to_string();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
        assert_eq!(lines.len(), 4, "{log}");
        for (line, want) in lines.iter().zip([
            format!("{file}:2:1: StateSyncProbeInterval"),
            format!("{file}:3:1: NetworkTransitionDelay: 999 is out of range 2-30"),
            format!("{file}:4:1: DartCount"),
            format!("run `posture-sync profile check {file}` for details"),
        ]) {
            assert!(line.contains(&want), "{line:?} lacks {want:?}\n{log}");
        }
    }

    fn diagnostic(line: u32, help: Option<&str>) -> profile_schema::Diagnostic {
        profile_schema::Diagnostic {
            severity: profile_schema::Severity::Error,
            line,
            column: 7,
            key: None,
            message: format!("problem {line}"),
            help: help.map(str::to_string),
        }
    }

    #[test]
    fn invalid_profile_lines_are_capped_and_end_with_the_check_command() {
        let path = Path::new("/etc/posture-sync/ISEPostureCFG.xml");
        let errors: Vec<_> = (1..=25).map(|l| diagnostic(l, None)).collect();
        let lines = invalid_profile_lines(path, &errors);
        assert_eq!(lines.len(), MAX_LOGGED_ERRORS + 2);
        assert_eq!(
            lines[0],
            "/etc/posture-sync/ISEPostureCFG.xml:1:7: problem 1"
        );
        assert_eq!(
            lines[MAX_LOGGED_ERRORS - 1],
            "/etc/posture-sync/ISEPostureCFG.xml:20:7: problem 20"
        );
        assert_eq!(
            lines[MAX_LOGGED_ERRORS],
            "and 5 more errors in /etc/posture-sync/ISEPostureCFG.xml"
        );
        assert_eq!(
            lines[MAX_LOGGED_ERRORS + 1],
            "run `posture-sync profile check /etc/posture-sync/ISEPostureCFG.xml` for details"
        );
        // Help stays on the error's line; a path with a space is quoted.
        let lines = invalid_profile_lines(
            Path::new("/p/my profile.xml"),
            &[diagnostic(3, Some("use 5"))],
        );
        assert_eq!(
            lines,
            [
                "/p/my profile.xml:3:7: problem 3 (help: use 5)",
                "run `posture-sync profile check '/p/my profile.xml'` for details"
            ]
        );
        assert_eq!(shell_quoted("it's"), "'it'\\''s'");
    }

    #[tokio::test]
    async fn delete_and_recreate_is_seen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("profile.xml");
        std::fs::write(&path, profile(30)).unwrap();
        let (_watcher, mut rx) = watch(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        // Gone for longer than the debounce: "no profile".
        let e = next(&mut rx).await.unwrap_err();
        assert!(matches!(e, LoadError::Read { .. }), "{e:?}");
        std::fs::write(&path, profile(45)).unwrap();
        assert_eq!(interval(next(&mut rx).await), 45);
    }

    #[tokio::test]
    async fn a_non_canonical_path_is_watched_too() {
        // Events name the canonical directory; the path given may not.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub").join("..").join("p.xml");
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        std::fs::write(&path, profile(30)).unwrap();
        let (watcher, mut rx) = watch(&path).unwrap();
        assert_eq!(watcher.path(), path);
        std::fs::write(tmp.path().join("p.xml"), profile(31)).unwrap();
        assert_eq!(interval(next(&mut rx).await), 31);
    }

    #[test]
    fn missing_directory_and_bad_path_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let e = watch(&tmp.path().join("nope").join("p.xml")).unwrap_err();
        assert!(matches!(e, ReloadError::Dir { .. }), "{e:?}");
        assert!(e.to_string().contains("nope"), "{e}");
        let e = watch(Path::new("/")).unwrap_err();
        assert!(matches!(e, ReloadError::NoFileName { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn dropping_the_watcher_closes_the_channel() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("p.xml");
        std::fs::write(&path, profile(30)).unwrap();
        let (watcher, mut rx) = watch(&path).unwrap();
        drop(watcher);
        let closed = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("channel not closed within 10 s");
        assert!(closed.is_none());
    }

    #[test]
    fn the_fingerprint_reads_at_most_one_byte_past_the_profile_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let cap = profile_schema::MAX_PROFILE_BYTES;
        let a = tmp.path().join("a.xml");
        let b = tmp.path().join("b.xml");
        let mut big = vec![b'x'; cap + 1];
        big.extend_from_slice(b"tail one");
        std::fs::write(&a, &big).unwrap();
        big.truncate(cap + 1);
        big.extend_from_slice(b"tail two, longer");
        std::fs::write(&b, &big).unwrap();
        // Only the bytes after the cap differ: they are never read.
        assert_eq!(fingerprint(&a), fingerprint(&b));
        big[cap] = b'y';
        std::fs::write(&b, &big).unwrap();
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    /// The watcher on its own runtime thread, its versions forwarded to a
    /// std channel: if the runtime's thread blocks, the test's bounded wait
    /// fails instead of the test hanging with it. Dropping the returned
    /// sender stops the watch.
    #[cfg(unix)]
    fn watch_on_own_thread(
        path: PathBuf,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        std::sync::mpsc::Receiver<ReloadResult>,
    ) {
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (_watcher, mut reloads) = watch(&path).unwrap();
                ready_tx.send(()).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => return,
                        version = reloads.recv() => {
                            let Some(v) = version else { return };
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        });
        ready_rx
            .recv_timeout(WAIT)
            .expect("the watch did not start");
        (stop_tx, rx)
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_swapped_in_is_no_profile_and_does_not_block_the_watcher() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ISEPostureCFG.xml");
        std::fs::write(&path, profile(30)).unwrap();
        let (_stop, rx) = watch_on_own_thread(path.clone());
        // A deployment tool's rename, with a FIFO in place of the file.
        let fifo = tmp.path().join(".ISEPostureCFG.xml.new");
        make_fifo(&fifo);
        std::fs::rename(&fifo, &path).unwrap();
        let e = rx
            .recv_timeout(WAIT)
            .expect("the watcher blocked on the FIFO")
            .unwrap_err();
        assert!(matches!(e, LoadError::Read { .. }), "{e:?}");
        assert!(
            e.to_string().ends_with(
                "it is a FIFO (named pipe), not a regular file; a profile must be a regular file"
            ),
            "{e}"
        );
        // The watcher goes on: a regular file again is read.
        let next_file = tmp.path().join(".ISEPostureCFG.xml.next");
        std::fs::write(&next_file, profile(75)).unwrap();
        std::fs::rename(&next_file, &path).unwrap();
        let r = rx.recv_timeout(WAIT).expect("no reload after the FIFO");
        assert_eq!(interval(r), 75);
    }

    #[cfg(unix)]
    #[test]
    fn the_fingerprint_of_a_fifo_or_a_device_is_none_without_reading_it() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        make_fifo(&fifo);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send((fingerprint(&fifo), fingerprint(Path::new("/dev/zero"))));
        });
        let (fifo, zero) = rx.recv_timeout(WAIT).expect("the fingerprint blocked");
        assert_eq!(fifo, None);
        assert_eq!(zero, None);
    }

    /// A read that never ends (a hung file system) is given up after the
    /// timeout: an error is logged, nothing reaches the daemon (which keeps
    /// its last good profile), no second read starts while it is stuck, and
    /// once it ends the profile is read again.
    #[tokio::test]
    async fn a_stuck_read_is_given_up_and_the_last_good_profile_kept() {
        let (buffer, _capture) = capture_logs();

        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ISEPostureCFG.xml");
        std::fs::write(&path, profile(30)).unwrap();
        // The first read blocks until released; later ones read for real.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(Some(release_rx));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let reader = Reader {
            timeout: Duration::from_millis(200),
            read: Arc::new(move |target, load_path, last| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if let Some(rx) = release_rx.lock().unwrap().take() {
                    let _ = rx.recv();
                }
                read_version(target, load_path, last)
            }),
        };
        let (_watcher, mut rx) = watch_with(&path, reader).unwrap();

        std::fs::write(&path, profile(60)).unwrap();
        let log = wait_for_log(&buffer, "reading the profile took longer than 200ms").await;
        assert!(log.contains("keeping the last good profile"), "{log}");
        assert!(rx.try_recv().is_err(), "nothing reaches the daemon");

        // A change while the read is stuck starts no second read.
        std::fs::write(&path, profile(90)).unwrap();
        wait_for_log(&buffer, "the previous read of it is still stuck").await;
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        // Once it ends, the profile is read again: the latest version.
        release_tx.send(()).unwrap();
        assert_eq!(interval(next(&mut rx).await), 90);
    }

    /// Waits (bounded by `test_support::wait_bound()`, like every test
    /// wait) until the log holds `needle`; returns the log.
    async fn wait_for_log(buffer: &LogBuffer, needle: &str) -> String {
        let bound = test_support::wait_bound();
        tokio::time::timeout(bound, async {
            loop {
                let log = buffer.text();
                if log.contains(needle) {
                    return log;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "timed out after {bound:?} waiting for a log line with {needle:?} (bound: {}):\n{}",
                test_support::WAIT_VAR,
                buffer.text()
            )
        })
    }
}
