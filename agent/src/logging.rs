//! Logging: plain text lines with timestamps and structured fields, to a
//! size-rotated file in the log dir and, in the foreground, to stderr
//! (except when stderr is the journal: [`stderr_is_journal`]).
//!
//! Files: `posture-sync.log` (current), `posture-sync.log.1` (previous) ..
//! `posture-sync.log.4`: at most [`MAX_LOG_FILES`] files of at most the
//! profile's LogFileSize each (one record longer than the limit is written
//! whole into a fresh file). The limit changes at runtime on profile reload
//! ([`LogHandle::set_max_file_bytes`]).
//!
//! Writing happens on a background thread (`tracing-appender`'s non-blocking
//! writer, lossy when its queue is full) so logging never blocks the daemon.
//! A log dir that cannot be written (permissions, full disk) never stops the
//! agent: the writer says so once on stderr, drops file records, and retries
//! every [`RETRY_INTERVAL`].
//!
//! Log files are opened by [`crate::paths::open_private`]: mode 0600, and a
//! symbolic link at a log file's name is refused, never followed.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing_subscriber::filter::Targets;

use crate::paths::{DirRole, OpenHow, open_private};
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The current log file's name; older files get `.1`, `.2`, ... appended.
pub const LOG_FILE: &str = "posture-sync.log";
/// How many log files exist at most, the current one included.
pub const MAX_LOG_FILES: usize = 5;
/// The smallest accepted per-file limit; smaller values are raised to it so a
/// typo in the profile cannot make the agent rotate on every line.
pub const MIN_FILE_BYTES: u64 = 4 * 1024;
/// The per-file limit when the profile sets none (LogFileSize default, 5 MB).
pub const DEFAULT_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// How long the writer waits before trying the log file again after a failure.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(30);
/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info";
/// How many lines the non-blocking writer's queue holds before it drops
/// lines. The agent logs a few lines per probe round; a burst of a thousand
/// lines means something is badly wrong with the disk, not a busy agent.
/// tracing-appender's default (128,000) allocates its whole queue up front:
/// 4 MiB of resident memory for an agent that needs kilobytes
/// (docs/benchmarks.md).
pub const QUEUE_LINES: usize = 1024;

/// Errors setting up logging.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `init` was called twice in one process (a programming error).
    #[error("logging is already set up in this process")]
    AlreadyInitialized,
}

/// The per-file size limit, shared between the writer and the [`LogHandle`].
#[derive(Debug, Clone)]
pub struct FileSizeLimit(Arc<AtomicU64>);

impl FileSizeLimit {
    /// A limit of `bytes` (raised to [`MIN_FILE_BYTES`]).
    pub fn new(bytes: u64) -> Self {
        FileSizeLimit(Arc::new(AtomicU64::new(bytes.max(MIN_FILE_BYTES))))
    }
    /// Changes the limit; takes effect with the next record.
    pub fn set(&self, bytes: u64) {
        self.0.store(bytes.max(MIN_FILE_BYTES), Ordering::Relaxed);
    }
    /// The current limit.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A `Write` that appends to `<dir>/posture-sync.log` and rotates by size.
/// Each `write` call is expected to carry whole records (the non-blocking
/// writer hands over one formatted event per call), so a record never spans
/// two files. Errors are never returned: a logger that fails must not take
/// the agent down. They are reported once on the `report` sink (stderr).
pub struct SizeRotatingWriter {
    dir: PathBuf,
    limit: FileSizeLimit,
    max_files: usize,
    file: Option<File>,
    size: u64,
    /// Set while the file cannot be written: when to try again.
    retry_at: Option<Instant>,
    retry_interval: Duration,
    /// Where the one-time failure notice goes (stderr outside tests).
    report: Box<dyn Write + Send>,
}

impl std::fmt::Debug for SizeRotatingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SizeRotatingWriter")
            .field("dir", &self.dir)
            .field("limit", &self.limit.get())
            .field("max_files", &self.max_files)
            .field("size", &self.size)
            .field("failing", &self.retry_at.is_some())
            .finish_non_exhaustive()
    }
}

impl SizeRotatingWriter {
    /// A writer for `dir`, keeping [`MAX_LOG_FILES`] files of at most
    /// `limit` bytes. Nothing is opened until the first record.
    pub fn new(dir: &Path, limit: FileSizeLimit) -> Self {
        SizeRotatingWriter {
            dir: dir.to_path_buf(),
            limit,
            max_files: MAX_LOG_FILES,
            file: None,
            size: 0,
            retry_at: None,
            retry_interval: RETRY_INTERVAL,
            report: Box::new(io::stderr()),
        }
    }

    /// Sends failure notices to `report` instead of stderr.
    pub fn with_report(mut self, report: Box<dyn Write + Send>) -> Self {
        self.report = report;
        self
    }

    /// Retries a failed log file after `interval` instead of [`RETRY_INTERVAL`].
    pub fn with_retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// Keeps `n` files (at least 1) instead of [`MAX_LOG_FILES`].
    pub fn with_max_files(mut self, n: usize) -> Self {
        self.max_files = n.max(1);
        self
    }

    /// The current log file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    fn numbered(&self, n: usize) -> PathBuf {
        self.dir.join(format!("{LOG_FILE}.{n}"))
    }

    /// Opens the current file for appending (creating the dir if it went
    /// away, and checking it is still private either way).
    fn open(&mut self) -> io::Result<()> {
        crate::paths::ensure_private_dir(DirRole::Logs, &self.dir).map_err(io::Error::other)?;
        let file = open_private(&self.path(), OpenHow::Append)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    /// `log.3 -> log.4`, ..., `log -> log.1`, then a fresh `log`. The oldest
    /// file is replaced by the rename (rename overwrites on every platform).
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.max_files > 1 {
            for n in (1..self.max_files - 1).rev() {
                let from = self.numbered(n);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(n + 1))?;
                }
            }
            std::fs::rename(self.path(), self.numbered(1))?;
        }
        let file = open_private(&self.path(), OpenHow::Truncate)?;
        self.size = 0;
        self.file = Some(file);
        Ok(())
    }

    fn write_record(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.open()?;
        }
        let len = buf.len() as u64;
        if self.size > 0 && self.size.saturating_add(len) > self.limit.get() {
            self.rotate()?;
        }
        match self.file.as_mut() {
            Some(f) => f.write_all(buf)?,
            // rotate() and open() leave a file or return an error
            None => return Err(io::Error::other("log file not open")),
        }
        self.size += len;
        Ok(())
    }

    fn report_line(&mut self, line: &str) {
        // Nothing sensible to do if stderr itself is gone.
        let _ = writeln!(self.report, "posture-sync: {line}");
        let _ = self.report.flush();
    }
}

impl Write for SizeRotatingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(at) = self.retry_at
            && Instant::now() < at
        {
            return Ok(buf.len()); // still failing: drop the record quietly
        }
        let record = one_line(buf);
        match self.write_record(&record) {
            Ok(()) => {
                if self.retry_at.take().is_some() {
                    let msg = format!("logging to {} works again", self.path().display());
                    self.report_line(&msg);
                }
            }
            Err(e) => {
                self.file = None;
                if self.retry_at.is_none() {
                    let msg = format!(
                        "cannot write the log file {}: {e}; logging to the file is paused, retrying every {}",
                        self.path().display(),
                        humantime::format_duration(self.retry_interval)
                    );
                    self.report_line(&msg);
                }
                self.retry_at = Some(Instant::now() + self.retry_interval);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            // A flush failure shows up as a write failure on the next record.
            let _ = f.flush();
        }
        Ok(())
    }
}

/// Keeps logging alive: flushes queued records when dropped. Hold it for the
/// whole run.
#[derive(Debug)]
pub struct LogHandle {
    limit: FileSizeLimit,
    file: PathBuf,
    _guard: tracing_appender::non_blocking::WorkerGuard,
}

impl LogHandle {
    /// Changes the per-file size limit (profile reload of LogFileSize).
    pub fn set_max_file_bytes(&self, bytes: u64) {
        self.limit.set(bytes);
    }

    /// The current per-file size limit.
    pub fn max_file_bytes(&self) -> u64 {
        self.limit.get()
    }

    /// The current log file.
    pub fn file(&self) -> &Path {
        &self.file
    }
}

/// Sets up the process-wide logger: the rotating file in `dir` and, when
/// `foreground`, stderr too, unless stderr is the journal
/// ([`stderr_is_journal`]): under systemd the file is the log, and a copy
/// on stderr put every line in the journal as well. The filter comes from
/// `RUST_LOG` (default `info`). Fails only when logging was already set up.
pub fn init(dir: &Path, max_file_bytes: u64, foreground: bool) -> Result<LogHandle, LoggingError> {
    let journal = stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref());
    let handle = init_with_filter(
        dir,
        max_file_bytes,
        foreground && !journal,
        std::env::var("RUST_LOG").ok().as_deref(),
    )?;
    if foreground && journal {
        tracing::info!(
            log_file = %handle.file().display(),
            "stderr is the journal (JOURNAL_STREAM): logging to the file only"
        );
    }
    Ok(handle)
}

/// Whether stderr is the journal: systemd sets `JOURNAL_STREAM` to
/// `DEVICE:INODE` of the stream it connects a service's stdout or stderr
/// to, and a process compares it with its own stderr's (systemd.exec(5));
/// an inherited variable with stderr redirected elsewhere does not match.
pub fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    journal_stream
        .and_then(parse_journal_stream)
        .is_some_and(|ids| stderr_ids() == Some(ids))
}

/// `DEVICE:INODE`, both decimal.
fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Stderr's device and inode.
#[cfg(unix)]
// `st_dev` and `st_ino` are u64 on Linux but not on every unix (macOS:
// `st_dev` is i32), so the conversions are not useless everywhere.
#[allow(clippy::useless_conversion)]
fn stderr_ids() -> Option<(u64, u64)> {
    let stat = rustix::fs::fstat(io::stderr()).ok()?;
    // Lossless on every unix target; a type that did not fit means no match.
    let dev = u64::try_from(stat.st_dev).ok()?;
    let ino = u64::try_from(stat.st_ino).ok()?;
    Some((dev, ino))
}

/// No journal outside unix.
#[cfg(not(unix))]
fn stderr_ids() -> Option<(u64, u64)> {
    None
}

/// [`init`] with the filter directive injected (`None`: [`DEFAULT_FILTER`]).
/// An invalid directive falls back to the default with a notice on stderr.
pub fn init_with_filter(
    dir: &Path,
    max_file_bytes: u64,
    foreground: bool,
    filter: Option<&str>,
) -> Result<LogHandle, LoggingError> {
    let filter = match filter.filter(|f| !f.trim().is_empty()) {
        None => default_filter(),
        Some(directive) => directive.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!(
                "posture-sync: ignoring RUST_LOG={directive:?} ({e}); using {DEFAULT_FILTER:?}"
            );
            default_filter()
        }),
    };
    let limit = FileSizeLimit::new(max_file_bytes);
    let writer = SizeRotatingWriter::new(dir, limit.clone());
    let file = writer.path();
    let (non_blocking, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("posture-sync-log")
        .finish(writer);
    // One layer, so each record is formatted once and the same bytes go to
    // the file and (in the foreground) stderr: a second layer formatted
    // every record again, a third of the CPU of a fault round
    // (docs/benchmarks.md). The price: no colours on a terminal.
    let stderr = io::stderr.with_filter(move |_: &tracing::Metadata<'_>| foreground);
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(non_blocking.and(stderr));
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init()
        .map_err(|_| LoggingError::AlreadyInitialized)?;
    Ok(LogHandle {
        limit,
        file,
        _guard: guard,
    })
}

/// [`DEFAULT_FILTER`]: everything at `info` and above.
fn default_filter() -> Targets {
    Targets::new().with_default(tracing::Level::INFO)
}

/// One record, one line: control characters inside the record (an embedded
/// newline from server text, an escape sequence) are written as `\xNN`
/// escapes, so no field can forge a log line that the bundle's history
/// reader (dart/history.rs) would take for a transition. Defence in depth:
/// server strings are also logged with `Debug` and the protocol crate
/// refuses control characters in them. The final newline and tabs stay.
fn one_line(buf: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    let bad = |b: &u8| (b.is_ascii_control() && *b != b'\t') || *b == 0x7f;
    if !body.iter().any(bad) {
        return std::borrow::Cow::Borrowed(buf);
    }
    let mut out = Vec::with_capacity(buf.len() + 16);
    for b in body {
        if bad(b) {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        } else {
            out.push(*b);
        }
    }
    if body.len() < buf.len() {
        out.push(b'\n');
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_os = "linux")]
    use std::fs::OpenOptions;
    use std::sync::Mutex;

    /// A report sink the test can read.
    #[derive(Debug, Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn line(i: usize) -> String {
        // 100 bytes per line, numbered.
        format!("{i:08} {}\n", "x".repeat(90))
    }

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// A writer into `dir` at the smallest size limit, reporting its
    /// failures to the returned sink, retrying after `retry`.
    fn reporting_writer(dir: &Path, retry: Duration) -> (SizeRotatingWriter, Captured) {
        let report = Captured::default();
        let w = SizeRotatingWriter::new(dir, FileSizeLimit::new(MIN_FILE_BYTES))
            .with_report(Box::new(report.clone()))
            .with_retry_interval(retry);
        (w, report)
    }

    /// `root/logs`, which cannot be created: a regular file is in the way
    /// (fails even as root).
    fn blocked_log_dir(root: &Path) -> PathBuf {
        let dir = root.join("logs");
        std::fs::write(&dir, b"not a dir").unwrap();
        dir
    }

    /// What [`files`] lists after one rotation: the log file and its
    /// predecessor, with their sizes.
    fn log_and_rotated(current: u64, rotated: u64) -> Vec<(String, u64)> {
        vec![
            (LOG_FILE.to_string(), current),
            (format!("{LOG_FILE}.1"), rotated),
        ]
    }

    #[test]
    fn rotates_by_size_and_keeps_at_most_max_files() {
        let tmp = tempfile::tempdir().unwrap();
        let limit = FileSizeLimit::new(MIN_FILE_BYTES);
        let mut w = SizeRotatingWriter::new(tmp.path(), limit);
        let n = 1000; // 100 KB of records, far more than 5 x 4 KiB
        for i in 0..n {
            w.write_all(line(i).as_bytes()).unwrap();
        }
        w.flush().unwrap();
        let found = files(tmp.path());
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "posture-sync.log",
                "posture-sync.log.1",
                "posture-sync.log.2",
                "posture-sync.log.3",
                "posture-sync.log.4"
            ]
        );
        for (name, size) in &found {
            assert!(*size <= MIN_FILE_BYTES, "{name} has {size} bytes");
        }
        #[cfg(unix)]
        for (name, _) in &found {
            let mode = crate::paths::fixtures::mode(&tmp.path().join(name));
            assert_eq!(mode, 0o600, "{name}");
        }
        // Oldest to newest, the kept lines are the most recent ones, in order,
        // with no gap, ending with the last line written.
        let mut all = String::new();
        for name in [
            "posture-sync.log.4",
            "posture-sync.log.3",
            "posture-sync.log.2",
            "posture-sync.log.1",
            "posture-sync.log",
        ] {
            all.push_str(&std::fs::read_to_string(tmp.path().join(name)).unwrap());
        }
        let numbers: Vec<usize> = all.lines().map(|l| l[..8].parse().unwrap()).collect();
        assert_eq!(*numbers.last().unwrap(), n - 1);
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "lines lost inside the kept window"
        );
        // Every file holds as many lines as fit (40 x 100 B in 4096 B).
        assert_eq!(numbers.len(), MAX_LOG_FILES * 40);
    }

    #[test]
    fn limit_changes_at_runtime_and_continues_an_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(LOG_FILE), line(0)).unwrap();
        let limit = FileSizeLimit::new(1); // raised to the minimum
        assert_eq!(limit.get(), MIN_FILE_BYTES);
        let mut w = SizeRotatingWriter::new(tmp.path(), limit.clone());
        // 39 more lines fit next to the existing one: no rotation yet.
        for i in 1..40 {
            w.write_all(line(i).as_bytes()).unwrap();
        }
        assert_eq!(files(tmp.path()).len(), 1);
        limit.set(8000);
        for i in 40..80 {
            w.write_all(line(i).as_bytes()).unwrap();
        }
        assert_eq!(
            files(tmp.path()),
            vec![("posture-sync.log".to_string(), 8000)]
        );
        w.write_all(line(80).as_bytes()).unwrap();
        assert_eq!(files(tmp.path()), log_and_rotated(100, 8000));
    }

    #[test]
    fn an_oversized_record_goes_whole_into_a_fresh_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = SizeRotatingWriter::new(tmp.path(), FileSizeLimit::new(MIN_FILE_BYTES))
            .with_max_files(2);
        w.write_all(line(0).as_bytes()).unwrap();
        let big = "y".repeat(5000) + "\n";
        w.write_all(big.as_bytes()).unwrap();
        w.write_all(line(1).as_bytes()).unwrap();
        assert_eq!(files(tmp.path()), log_and_rotated(100, 5001));
    }

    #[test]
    fn unwritable_dir_is_reported_once_and_recovers() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = blocked_log_dir(tmp.path());
        let (mut w, report) = reporting_writer(&dir, Duration::ZERO);
        for i in 0..5 {
            // Never an error to the caller.
            assert_eq!(w.write(line(i).as_bytes()).unwrap(), 100);
        }
        let text = report.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with(&format!(
                "posture-sync: cannot write the log file {}",
                dir.join(LOG_FILE).display()
            )),
            "{text}"
        );
        assert!(text.contains("log directory"), "{text}");
        // The dir becomes usable: the next attempt writes and says so once.
        std::fs::remove_file(&dir).unwrap();
        w.write_all(line(5).as_bytes()).unwrap();
        w.write_all(line(6).as_bytes()).unwrap();
        let text = report.text();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.lines().nth(1).unwrap().contains("works again"),
            "{text}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(LOG_FILE)).unwrap(),
            line(5) + &line(6)
        );
    }

    #[test]
    fn failing_writer_waits_for_the_retry_interval() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = blocked_log_dir(tmp.path());
        let (mut w, report) = reporting_writer(&dir, Duration::from_secs(3600));
        w.write_all(line(0).as_bytes()).unwrap();
        std::fs::remove_file(&dir).unwrap();
        // Within the interval the writer does not touch the disk again.
        w.write_all(line(1).as_bytes()).unwrap();
        assert!(!dir.exists());
        assert_eq!(report.text().lines().count(), 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn full_disk_is_reported_once() {
        // /dev/full fails every write with ENOSPC, like a full disk. It is
        // handed to the writer as its open file: a symbolic link to it at the
        // log file's name is refused now (see the next test).
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, report) = reporting_writer(tmp.path(), Duration::from_secs(3600));
        w.file = Some(OpenOptions::new().append(true).open("/dev/full").unwrap());
        for i in 0..3 {
            w.write_all(line(i).as_bytes()).unwrap();
        }
        let text = report.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.to_lowercase().contains("no space left"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_log_file_name_is_neither_followed_nor_chmodded() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let victim = crate::paths::fixtures::symlink_to_victim(tmp.path(), &logs.join(LOG_FILE));
        let (mut w, report) = reporting_writer(&logs, Duration::ZERO);
        for i in 0..3 {
            w.write_all(line(i).as_bytes()).unwrap();
        }
        crate::paths::fixtures::assert_untouched(&victim);
        let text = report.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("symbolic link"), "{text}");
    }

    #[test]
    fn journal_stream_is_device_colon_inode() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8:12345\n"), Some((8, 12345)));
        for bad in ["", "8", "8:", ":1", "a:1", "8:1:2", "-1:5"] {
            assert_eq!(parse_journal_stream(bad), None, "{bad:?}");
        }
        assert!(!stderr_is_journal(None));
        assert!(!stderr_is_journal(Some("not a stream")));
    }

    /// The test's own stderr matches its own device and inode, and no other.
    #[cfg(unix)]
    #[test]
    fn stderr_is_the_journal_only_when_the_ids_match() {
        let Some((dev, ino)) = stderr_ids() else {
            return; // stderr closed: nothing to compare
        };
        assert!(stderr_is_journal(Some(&format!("{dev}:{ino}"))));
        assert!(!stderr_is_journal(Some(&format!("{dev}:{}", ino + 1))));
        assert!(!stderr_is_journal(Some(&format!("{}:{ino}", dev + 1))));
    }

    #[test]
    fn a_record_with_an_embedded_newline_stays_one_line() {
        let forged = b"2026-11-21T21:00:00Z  INFO x: requirement=a\n2026-11-21T21:00:40Z ERROR posture_sync::daemon: known -> known (dacl misconfiguration)\x1b[2J\n";
        let out = one_line(forged);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(out.ends_with(b"\n"));
        let text = String::from_utf8(out.into_owned()).unwrap();
        assert!(text.contains("requirement=a\\x0a2026"), "{text}");
        assert!(text.contains("\\x1b[2J"), "{text}");
        let plain = b"a\tb ok\n";
        assert!(matches!(one_line(plain), std::borrow::Cow::Borrowed(_)));
    }
}
