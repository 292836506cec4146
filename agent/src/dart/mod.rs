//! Diagnostic bundles (DART-style): one zip an administrator mails to
//! support, collected on demand (`posture-sync dart -o FILE.zip`) or
//! automatically when a misconfiguration is confirmed or discovery keeps
//! failing (at most DartCount automatic bundles are kept in
//! `<state dir>/bundles`, oldest removed first).
//!
//! | part | content |
//! |---|---|
//! | `summary.html` | phase, posture, findings with the fix, timeline (open first) |
//! | `logs/posture-sync.log*` | every rolled log file |
//! | `bundle.json` | when, why, which dirs, and the profile's path and where it came from |
//! | `profile.xml` | the profile |
//! | `known-psns.json` | the persisted PSN list |
//! | `probe-rounds.jsonl` | the last [`DEFAULT_ROUNDS`] probe rounds |
//! | `runs.jsonl` | the agent's starts, stops and failed starts ([`crate::runs`]) |
//! | `journal.txt`, `logs/launchd-*.log` | the service manager's log of the agent ([`service`]) |
//! | `missing.txt` | what could not be collected, and why ([`missing`]) |
//! | `status.json` | the running agent's status, or why there is none |
//! | `system/*.txt` | OS, kernel, interfaces, addresses, routes, DNS, clock |
//! | `trust.txt` | subjects and SHA-256 fingerprints of the trusted CAs |
//!
//! Every text part goes through one [`redact::Redactor`], which first learns
//! the session ids that status, PSN list, probe history and logs name, so
//! that each id gets the same pseudonym in every part (`summary.html` text
//! by text, before each text becomes HTML: [`summary::render_redacted`]).
//! The zip is written to
//! a temporary file next to the output and renamed into place, so a reader
//! never sees half a bundle ([`collect_new`] links it into place instead,
//! which fails when the output exists, so it never replaces a file).
//!
//! Each entry carries a real modification time in UTC (zip's MS-DOS field
//! has no time zone): the source file's for logs and the profile, the
//! collection time for parts made at collection.

pub mod facts;
pub mod history;
pub mod missing;
pub mod redact;
pub mod service;
pub mod sources;
pub mod summary;
pub mod trust;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;
use zip::write::SimpleFileOptions;

use crate::daemon::HISTORY_KEEP_LINES;
use crate::paths::{DirRole, Dirs, PrivateTemp};
use crate::record::{BundleReasonRecord, RUNS_FILE, TRANSITIONS_FILE};
use missing::Missing;

/// How many probe rounds a bundle carries.
pub const DEFAULT_ROUNDS: usize = 200;
/// Automatic bundles are named `dart-<UTC time, ms>-<seq>-<reason>.zip`.
pub const AUTO_PREFIX: &str = "dart-";

/// Errors writing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum DartError {
    /// The output file or its temporary file could not be written.
    #[error("cannot write the diagnostic bundle {}: {source}", path.display())]
    Write {
        /// The bundle.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The output exists and replacing it was not asked for.
    #[error(
        "the diagnostic bundle {} already exists\nhelp: pass --force to replace it, or choose another name with -o FILE.zip",
        path.display()
    )]
    Exists {
        /// The bundle.
        path: PathBuf,
    },
    /// The zip library failed.
    #[error("cannot write the diagnostic bundle {}: {source}", path.display())]
    Zip {
        /// The bundle.
        path: PathBuf,
        /// What failed.
        source: zip::result::ZipError,
    },
    /// The bundles directory could not be created.
    #[error(transparent)]
    BundlesDir(#[from] crate::paths::PathsError),
}

/// Where the agent's status comes from.
#[derive(Debug, Clone)]
pub enum StatusSource {
    /// Ask the running agent on its status socket.
    Query,
    /// The daemon's own current status (automatic bundles: the daemon must
    /// not query its own socket).
    Given(Value),
    /// The caller asked already (the `dart` command, which needs the answer
    /// to find the profile): the status, or why no agent answered.
    Asked(Result<Value, String>),
}

/// Where the bundle's profile came from; said in `bundle.json` and in
/// `profile.xml` when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSource {
    /// `dart --profile FILE`.
    Flag,
    /// The running agent named it (its `status --json` `profile` key), or
    /// the agent collected the bundle itself.
    RunningAgent,
    /// The installed profile (per-user config dir, then `/etc/posture-sync`).
    Installed,
    /// No profile: none given, no agent answered, none installed.
    None,
}

impl ProfileSource {
    /// In words, for the bundle.
    pub fn describe(self) -> &'static str {
        match self {
            ProfileSource::Flag => "--profile",
            ProfileSource::RunningAgent => "from the running agent",
            ProfileSource::Installed => "installed",
            ProfileSource::None => "none",
        }
    }
}

/// What to collect and where to write it.
#[derive(Debug, Clone)]
pub struct BundleSpec {
    /// State and log directories.
    pub dirs: Dirs,
    /// The zip to write.
    pub output: PathBuf,
    /// The profile, if known.
    pub profile: Option<PathBuf>,
    /// Where `profile` came from.
    pub profile_source: ProfileSource,
    /// The extra CA bundle, if any.
    pub ca_file: Option<PathBuf>,
    /// Where the status comes from.
    pub status: StatusSource,
    /// Why the bundle is collected automatically (None: on demand).
    pub reason: Option<BundleReasonRecord>,
    /// How many probe rounds to include.
    pub rounds: usize,
}

/// What a bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    /// The zip written.
    pub path: PathBuf,
    /// The files in it, in order.
    pub parts: Vec<String>,
}

/// The zip under construction.
struct Bundle<W: Write + io::Seek> {
    zip: zip::ZipWriter<W>,
    parts: Vec<String>,
    output: PathBuf,
    redactor: redact::Redactor,
    /// The collection time: the date of the parts made now.
    now: SystemTime,
}

impl<W: Write + io::Seek> Bundle<W> {
    /// Adds a part made at collection time.
    fn add(
        &mut self,
        name: &str,
        text: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), DartError> {
        self.add_dated(name, text, self.now, progress)
    }

    /// Adds a part dated `modified` (the file it was read from).
    fn add_dated(
        &mut self,
        name: &str,
        text: &str,
        modified: SystemTime,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), DartError> {
        let clean = self.redactor.redact(text);
        self.add_redacted(name, &clean, modified, progress)
    }

    /// Adds a part whose every text the bundle's redactor has already
    /// redacted (the summary page, redacted text by text).
    fn add_redacted(
        &mut self,
        name: &str,
        clean: &str,
        modified: SystemTime,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), DartError> {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip_time(modified))
            .unix_permissions(0o600);
        self.zip
            .start_file(name, options)
            .map_err(|source| DartError::Zip {
                path: self.output.clone(),
                source,
            })?;
        self.zip
            .write_all(clean.as_bytes())
            .map_err(|source| DartError::Write {
                path: self.output.clone(),
                source,
            })?;
        self.parts.push(name.to_string());
        progress(&format!("collected {name} ({} bytes)", clean.len()));
        Ok(())
    }
}

/// Largest part of one file a bundle takes (a log file is at most 100 MB,
/// LogFileSize's maximum; a profile at most 1 MiB).
const MAX_PART_BYTES: u64 = 128 * 1024 * 1024;

/// The file's text, or why it cannot be read (for `missing.txt`). Only a
/// regular file is read (opened non-blocking: the profile path may come
/// from a running agent or the command line, and a FIFO or device there
/// must neither block `dart` nor fill the bundle), at most
/// [`MAX_PART_BYTES`]. A file that does not exist is `Err` with `absent`.
fn read_part(path: &Path, absent: &str) -> Result<String, String> {
    use std::io::Read as _;
    let why = |e: &dyn std::fmt::Display| format!("cannot read {}: {e}", path.display());
    match crate::assess::checks::open_regular(path) {
        Ok(Some(file)) => {
            let mut bytes = Vec::new();
            match file.take(MAX_PART_BYTES).read_to_end(&mut bytes) {
                Ok(_) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
                Err(e) => Err(why(&e)),
            }
        }
        Ok(None) => Err(why(&"not a regular file")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("{absent} ({} does not exist)", path.display()))
        }
        Err(e) => Err(why(&e)),
    }
}

/// The rolled log files, oldest first (`.4`, ..., `.1`, then the current).
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(crate::logging::LOG_FILE)?;
            let n = match rest {
                "" => 0,
                r => r.strip_prefix('.')?.parse().ok()?,
            };
            e.file_type().ok()?.is_file().then(|| (n, e.path()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files.into_iter().map(|(_, p)| p).collect()
}

/// `t` as a zip entry time, in UTC. Outside the format's range (1980 to
/// 2107) the format's earliest time.
fn zip_time(t: SystemTime) -> zip::DateTime {
    // "YYYY-MM-DDTHH:MM:SSZ": fixed positions.
    let text = humantime::format_rfc3339_seconds(t).to_string();
    let field = |range: std::ops::Range<usize>| text.get(range).and_then(|f| f.parse::<u16>().ok());
    let parts = (
        field(0..4),
        field(5..7),
        field(8..10),
        field(11..13),
        field(14..16),
        field(17..19),
    );
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = parts else {
        return zip::DateTime::default();
    };
    let small = |v: u16| u8::try_from(v).unwrap_or(u8::MAX);
    zip::DateTime::from_date_and_time(y, small(mo), small(d), small(h), small(mi), small(s))
        .unwrap_or_default()
}

/// When `path` was last modified; `now` when that cannot be read.
fn modified_or(path: &Path, now: SystemTime) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(now)
}

/// Collects a bundle into `spec.output`, calling `progress` once per part;
/// an existing file at `spec.output` is replaced.
pub fn collect(
    spec: &BundleSpec,
    progress: &mut dyn FnMut(&str),
) -> Result<BundleReport, DartError> {
    collect_into(spec, true, progress)
}

/// [`collect`], but fails with [`DartError::Exists`] when `spec.output`
/// exists (checked first, and again, atomically, when the bundle is put in
/// place), never replacing it.
pub fn collect_new(
    spec: &BundleSpec,
    progress: &mut dyn FnMut(&str),
) -> Result<BundleReport, DartError> {
    if std::fs::symlink_metadata(&spec.output).is_ok() {
        return Err(DartError::Exists {
            path: spec.output.clone(),
        });
    }
    collect_into(spec, false, progress)
}

fn collect_into(
    spec: &BundleSpec,
    replace: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<BundleReport, DartError> {
    let now = SystemTime::now();
    let output = spec.output.clone();
    let write_err = |source| DartError::Write {
        path: output.clone(),
        source,
    };
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Private, created exclusively, never through a link (paths/files.rs).
    let mut tmp = PrivateTemp::new_in(&dir, ".dart-", ".zip.tmp").map_err(write_err)?;
    let mut b = Bundle {
        zip: zip::ZipWriter::new(tmp.file().try_clone().map_err(write_err)?),
        parts: Vec::new(),
        output: output.clone(),
        redactor: redact::Redactor::new(),
        now,
    };

    let status: Result<Value, String> = match &spec.status {
        StatusSource::Given(v) => Ok(v.clone()),
        StatusSource::Asked(answer) => answer.clone(),
        StatusSource::Query => {
            crate::control::query(&spec.dirs.socket_path()).map_err(|e| e.to_string())
        }
    };
    let status_text = match &status {
        Ok(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        Err(e) => serde_json::json!({ "error": format!("agent not running: {e}") }).to_string(),
    };

    // What could not be collected, and why (`missing.txt`).
    let mut missing: Vec<Missing> = Vec::new();
    let mut read = |part: &str, path: &Path, absent: &str| -> Option<String> {
        read_part(path, absent)
            .map_err(|why| missing.push(Missing::new(part, why)))
            .ok()
    };

    // Logs: every rolled file, oldest first.
    let log_paths = log_files(&spec.dirs.logs);
    let mut logs: Vec<(String, String, SystemTime)> = Vec::new();
    for path in &log_paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let part = format!("logs/{name}");
        if let Some(text) = read(&part, path, "removed while the bundle was collected") {
            logs.push((part, text, modified_or(path, now)));
        }
    }
    let store_text = read(
        crate::paths::PSN_STORE_FILE,
        &spec.dirs.psn_store_path(),
        "no PSN list yet: the agent has not found a PSN",
    );
    let history_text = read(
        crate::paths::PROBE_HISTORY_FILE,
        &spec.dirs.probe_history_path(),
        "no probe round recorded yet",
    );
    let transitions_text = read(
        TRANSITIONS_FILE,
        &spec.dirs.state.join(TRANSITIONS_FILE),
        "no decision recorded yet (or the agent predates the file)",
    );
    let runs_text = read(
        RUNS_FILE,
        &spec.dirs.state.join(RUNS_FILE),
        "no start recorded (the agent never started with this state dir, or predates the file)",
    );
    let profile_text = match &spec.profile {
        Some(p) => read("profile.xml", p, "the profile is gone"),
        None => {
            missing.push(Missing::new(
                "profile.xml",
                "no profile given: no --profile, no running agent named one, none installed; pass --profile FILE to include it",
            ));
            None
        }
    };
    // The service manager's own log of the agent (journal, launchd files).
    let platform = crate::paths::Platform::current();
    let setup = service::detect(platform, &crate::paths::ProcessEnv, Path::new("/"));
    let utc_offset = facts::local_offset();
    let (service_logs, service_missing) = service::collect(platform, &setup, &spec.dirs.logs);
    missing.extend(service_missing);
    let mut service_parts: Vec<(String, String, SystemTime)> = Vec::new();
    for log in service_logs {
        match &log.file {
            Some(path) => {
                if let Ok(text) = read_part(path, "removed while the bundle was collected")
                    .map_err(|why| missing.push(Missing::new(&log.part, why)))
                {
                    service_parts.push((log.part, text, modified_or(path, now)));
                }
            }
            None => service_parts.push((log.part, log.text, now)),
        }
    }
    if log_paths.is_empty() {
        missing.push(Missing::new(
            "logs/",
            format!(
                "no log files in {} (the agent has not run with this log dir)",
                spec.dirs.logs.display()
            ),
        ));
    }

    // Session pseudonyms are numbered in this order (the current session
    // first), and every id is known before the first part is written.
    b.redactor.learn(&status_text);
    for text in [&store_text, &history_text, &transitions_text, &runs_text]
        .into_iter()
        .flatten()
    {
        b.redactor.learn(text);
    }
    for (_, text, _) in logs.iter().chain(&service_parts) {
        b.redactor.learn(text);
    }

    for (part, text, modified) in logs.into_iter().chain(service_parts) {
        b.add_dated(&part, &text, modified, progress)?;
    }

    b.add(
        "bundle.json",
        &bundle_info(spec, now, &setup, utc_offset),
        progress,
    )?;
    if let (Some(p), Some(text)) = (&spec.profile, &profile_text) {
        b.add_dated(
            "profile.xml",
            &redact::redact_profile(text),
            modified_or(p, now),
            progress,
        )?;
    }
    if let Some(text) = &store_text {
        b.add(crate::paths::PSN_STORE_FILE, text, progress)?;
    }
    if let Some(text) = &history_text {
        b.add(
            crate::paths::PROBE_HISTORY_FILE,
            &history::last_lines(text, spec.rounds),
            progress,
        )?;
    }
    if let Some(text) = &transitions_text {
        b.add(
            TRANSITIONS_FILE,
            &history::last_lines(text, HISTORY_KEEP_LINES),
            progress,
        )?;
    }
    if let Some(text) = &runs_text {
        b.add(RUNS_FILE, text, progress)?;
    }
    // Value by value first: a reason quoting a secret must not take the
    // rest of the status with it (`dart --summary FILE.zip` reads it back).
    let status_json = b.redactor.redact_json(&status_text);
    b.add("status.json", &status_json, progress)?;
    for fact in facts::collect(now) {
        b.add(&format!("system/{}", fact.name), &fact.text, progress)?;
    }
    b.add(
        "trust.txt",
        &trust::summary(spec.ca_file.as_deref()),
        progress,
    )?;
    if !missing.is_empty() {
        b.add(missing::MISSING_FILE, &missing::text(&missing), progress)?;
    }

    // The bundled profile's lint: only a profile that was read.
    let facts = sources::Facts::read(
        status,
        history_text.as_deref().unwrap_or_default(),
        transitions_text.as_deref().unwrap_or_default(),
        runs_text.as_deref().unwrap_or_default(),
        profile_text.as_deref(),
        spec.rounds,
    );
    let mut parts = b.parts.clone();
    parts.insert(0, "summary.html".to_string());
    let mut input = facts.input(
        now,
        crate::platform::host_name(),
        spec.reason.as_ref(),
        &parts,
    );
    input.missing = &missing;
    input.setup = Some(&setup);
    input.utc_offset = utc_offset;
    let html = summary::render_redacted(&input, &mut b.redactor);
    b.add_redacted("summary.html", &html, now, progress)?;

    let file = b.zip.finish().map_err(|source| DartError::Zip {
        path: output.clone(),
        source,
    })?;
    drop(file);
    if replace {
        tmp.persist(&output).map_err(write_err)?;
    } else {
        persist_new(tmp, &output).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => DartError::Exists {
                path: output.clone(),
            },
            _ => write_err(e),
        })?;
    }
    Ok(BundleReport {
        path: output,
        parts: b.parts,
    })
}

/// The findings of the agent whose dirs are `dirs` as terminal text
/// (`dart --summary`): the same typed facts and findings a bundle's
/// `summary.html` shows, session ids pseudonymized as in a bundle (the text
/// is often pasted into a ticket); no bundle is written. `status` is the
/// agent's answer or why there is none.
pub fn summary_text(dirs: &Dirs, profile: Option<&Path>, status: Result<Value, String>) -> String {
    let history_text = std::fs::read_to_string(dirs.probe_history_path()).unwrap_or_default();
    let transitions_text =
        std::fs::read_to_string(dirs.state.join(TRANSITIONS_FILE)).unwrap_or_default();
    let runs_text = std::fs::read_to_string(dirs.state.join(RUNS_FILE)).unwrap_or_default();
    let profile_text = profile.and_then(|p| read_part(p, "").ok());
    let mut redactor = redact::Redactor::new();
    if let Ok(v) = &status {
        redactor.learn(&v.to_string());
    }
    redactor.learn(&history_text);
    redactor.learn(&transitions_text);
    let facts = sources::Facts::read(
        status,
        &history_text,
        &transitions_text,
        &runs_text,
        profile_text.as_deref(),
        DEFAULT_ROUNDS,
    );
    let setup = service::detect(
        crate::paths::Platform::current(),
        &crate::paths::ProcessEnv,
        Path::new("/"),
    );
    let mut input = facts.input(SystemTime::now(), crate::platform::host_name(), None, &[]);
    input.setup = Some(&setup);
    input.utc_offset = facts::local_offset();
    let text = summary::render_text(&input);
    redactor.redact(&text)
}

/// Puts the finished temp file at `to` without replacing anything there: a
/// hard link fails when `to` exists (even as a dangling symbolic link, which
/// it does not follow); the temp name goes when `tmp` drops. Where the file
/// system has no hard links, a rename after a check.
fn persist_new(mut tmp: PrivateTemp, to: &Path) -> io::Result<()> {
    tmp.file().sync_all()?;
    match std::fs::hard_link(tmp.path(), to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if std::fs::symlink_metadata(to).is_ok() => {
            Err(io::Error::from(io::ErrorKind::AlreadyExists))
        }
        Err(_) => tmp.persist(to).map(drop),
    }
}

/// `bundle.json`: what the bundle is about, for a reader or a script.
fn bundle_info(
    spec: &BundleSpec,
    now: SystemTime,
    setup: &service::Setup,
    utc_offset: Option<i32>,
) -> String {
    let info = serde_json::json!({
        "generated": humantime::format_rfc3339_seconds(now).to_string(),
        "host": crate::platform::host_name(),
        "setup": setup,
        "utc_offset_secs": utc_offset,
        "reason": spec.reason.as_ref().map(|r| &r.text),
        "reason_record": spec.reason,
        "profile": {
            "path": spec.profile.as_ref().map(|p| p.display().to_string()),
            "source": spec.profile_source.describe(),
        },
        "state_dir": spec.dirs.state.display().to_string(),
        "log_dir": spec.dirs.logs.display().to_string(),
    });
    // A `Value` built from strings serialises.
    let mut text = serde_json::to_string_pretty(&info).unwrap_or_default();
    text.push('\n');
    text
}

/// A file-name-safe form of `reason`.
fn slug(reason: &str) -> String {
    // A reason reads "what: details"; the file name carries only the "what"
    // (e.g. `misconfiguration-127-0-0-1-8449`, `discovery-failing`).
    let head = reason.split(": ").next().unwrap_or(reason);
    let s: String = head
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if s.len() <= 40 {
        return s;
    }
    // Cut at a word boundary so that a long reason does not end in half a
    // word (the slug is ASCII, so byte and char positions agree).
    let cut = &s[..40];
    match cut.rfind('-') {
        Some(i) if i > 0 => cut[..i].to_string(),
        _ => cut.to_string(),
    }
}

/// The automatic bundles in `dir`, oldest first: by modification time, then
/// by name (names start with the creation time, so they break ties between
/// bundles written within the file system's timestamp granularity). The
/// modification time rather than the name decides: a name carries the wall
/// clock at creation, and a clock set back would make a new bundle's name
/// sort before older ones.
pub fn automatic_bundles(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(AUTO_PREFIX) && n.ends_with(".zip"))
        })
        .map(|e| {
            // A bundle whose time cannot be read counts as the oldest: it is
            // the first candidate for removal, never a reason to keep more.
            let modified = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            (modified, e.path())
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Removes the oldest automatic bundles until at most `keep` remain, never
/// `just_written` (the bundle this call follows: it counts as the newest
/// whatever its time says, so at least one is kept); returns the removed
/// ones. A file that cannot be removed is logged.
pub fn prune(dir: &Path, keep: usize, just_written: &Path) -> Vec<PathBuf> {
    let others: Vec<PathBuf> = automatic_bundles(dir)
        .into_iter()
        .filter(|p| p != just_written)
        .collect();
    let excess = others.len().saturating_sub(keep.saturating_sub(1));
    let mut removed = Vec::new();
    for p in others.into_iter().take(excess) {
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p),
            Err(e) => {
                tracing::warn!(file = %p.display(), "cannot remove an old diagnostic bundle: {e}")
            }
        }
    }
    removed
}

/// Collects an automatic bundle into `<state>/bundles/` and keeps at most
/// `dart_count` automatic bundles (oldest removed first). `dart_count == 0`
/// disables automatic bundles: returns `Ok(None)`. Blocking file I/O: call
/// it from `spawn_blocking` inside the daemon.
pub fn collect_automatic(
    dirs: &Dirs,
    profile: Option<&Path>,
    ca_file: Option<&Path>,
    status: Value,
    dart_count: u32,
    reason: &BundleReasonRecord,
) -> Result<Option<PathBuf>, DartError> {
    if dart_count == 0 {
        return Ok(None);
    }
    let dir = dirs.bundles_dir();
    crate::paths::ensure_private_dir(DirRole::Bundles, &dir)?;
    let stamp: String = humantime::format_rfc3339_millis(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    // The sequence number keeps names unique and in creation order within
    // one millisecond (pruning breaks modification-time ties by name).
    let slug = slug(&reason.text);
    let mut seq = 0u32;
    let mut output = dir.join(format!("{AUTO_PREFIX}{stamp}-{seq:03}-{slug}.zip"));
    while output.exists() {
        seq += 1;
        output = dir.join(format!("{AUTO_PREFIX}{stamp}-{seq:03}-{slug}.zip"));
    }
    let spec = BundleSpec {
        dirs: dirs.clone(),
        output,
        profile: profile.map(Path::to_path_buf),
        // The agent collects it: its own profile.
        profile_source: if profile.is_some() {
            ProfileSource::RunningAgent
        } else {
            ProfileSource::None
        },
        ca_file: ca_file.map(Path::to_path_buf),
        status: StatusSource::Given(status),
        reason: Some(reason.clone()),
        rounds: DEFAULT_ROUNDS,
    };
    let report = collect(&spec, &mut |_| {})?;
    let keep = usize::try_from(dart_count).unwrap_or(usize::MAX);
    for p in prune(&dir, keep, &report.path) {
        tracing::info!(file = %p.display(), "removed an old diagnostic bundle (DartCount {dart_count})");
    }
    tracing::warn!(file = %report.path.display(), reason = %reason.text, "collected a diagnostic bundle automatically");
    Ok(Some(report.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_files_are_ordered_oldest_first_and_others_ignored() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "posture-sync.log",
            "posture-sync.log.2",
            "posture-sync.log.1",
            "other.log",
            "posture-sync.log.tmp",
        ] {
            std::fs::write(d.path().join(n), n).unwrap();
        }
        let names = file_names(&log_files(d.path()));
        assert_eq!(
            names,
            [
                "posture-sync.log.2",
                "posture-sync.log.1",
                "posture-sync.log"
            ]
        );
    }

    /// The last component of each path, in order.
    fn file_names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// Writes a small file with the given modification time (unix seconds).
    fn write_with_mtime(path: &Path, secs: u64) {
        std::fs::write(path, "x").unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn bundles_are_ordered_by_modification_time_then_name() {
        let d = tempfile::tempdir().unwrap();
        write_with_mtime(&d.path().join("dart-b.zip"), 100);
        write_with_mtime(&d.path().join("dart-a.zip"), 200);
        write_with_mtime(&d.path().join("dart-d.zip"), 200);
        write_with_mtime(&d.path().join("dart-c.zip"), 300);
        let names = file_names(&automatic_bundles(d.path()));
        assert_eq!(
            names,
            ["dart-b.zip", "dart-a.zip", "dart-d.zip", "dart-c.zip"]
        );
    }

    /// The clock was set back: the new bundle's name (and its modification
    /// time) sort before the older bundles'. It is kept; the oldest of the
    /// others by modification time goes.
    #[test]
    fn prune_never_removes_the_bundle_just_written() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("dart-20270101T000000000Z-000-x.zip");
        let newer = d.path().join("dart-20270102T000000000Z-000-x.zip");
        let just_written = d.path().join("dart-20260101T000000000Z-000-x.zip");
        write_with_mtime(&newer, 1_800_000_100);
        write_with_mtime(&old, 1_800_000_000);
        write_with_mtime(&just_written, 1_700_000_000);
        let removed = prune(d.path(), 2, &just_written);
        assert_eq!(removed, vec![old]);
        assert_eq!(automatic_bundles(d.path()), vec![just_written, newer]);
    }

    #[test]
    fn an_automatic_bundle_survives_a_clock_set_back() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs {
            state: d.path().join("state"),
            logs: d.path().join("logs"),
        };
        std::fs::create_dir_all(dirs.bundles_dir()).unwrap();
        // Written when the clock said 2999 (and touched since).
        let future = dirs
            .bundles_dir()
            .join("dart-29990101T000000000Z-000-misconfiguration.zip");
        std::fs::write(&future, "x").unwrap();
        let status = serde_json::json!({"phase": "known"});
        let reason = BundleReasonRecord {
            cause: crate::record::BundleCause::Misconfiguration {
                psn: "x:8449".into(),
                status: posture_protocol::PostureStatus::Compliant,
                session: "s1".into(),
            },
            text: "misconfiguration x".into(),
        };
        let made = collect_automatic(&dirs, None, None, status, 1, &reason)
            .unwrap()
            .unwrap();
        assert!(
            made.exists(),
            "the new bundle {} was removed",
            made.display()
        );
        assert!(!future.exists());
        assert_eq!(automatic_bundles(&dirs.bundles_dir()), vec![made]);
    }

    #[test]
    fn prune_keeps_the_newest_automatic_bundles_only() {
        let d = tempfile::tempdir().unwrap();
        for (i, n) in [
            "dart-20260101T000000Z-a.zip",
            "dart-20260102T000000Z-a.zip",
            "dart-20260103T000000Z-a.zip",
            "manual.zip",
        ]
        .into_iter()
        .enumerate()
        {
            write_with_mtime(&d.path().join(n), 1_700_000_000 + i as u64);
        }
        let newest = d.path().join("dart-20260103T000000Z-a.zip");
        let removed = prune(d.path(), 2, &newest);
        assert_eq!(removed, vec![d.path().join("dart-20260101T000000Z-a.zip")]);
        assert!(d.path().join("manual.zip").exists());
        assert_eq!(automatic_bundles(d.path()).len(), 2);
        // keep 1: only the bundle just written stays.
        assert_eq!(
            prune(d.path(), 1, &newest),
            vec![d.path().join("dart-20260102T000000Z-a.zip")]
        );
        assert_eq!(automatic_bundles(d.path()), vec![newest]);
        assert_eq!(
            slug("misconfiguration 127.0.0.1:8449: the state sync port answered Compliant"),
            "misconfiguration-127-0-0-1-8449"
        );
        assert_eq!(
            slug("discovery failing: 10 attempts in a row failed over 4m 3s; last attempt: x"),
            "discovery-failing"
        );
        assert_eq!(slug("Misconfiguration!"), "misconfiguration");
    }

    /// A FIFO or a device at the profile path (which may come from a running
    /// agent's status) neither blocks `dart` nor fills the bundle.
    #[cfg(unix)]
    #[test]
    fn parts_are_read_from_regular_files_only() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send([
                read_part(Path::new("/dev/zero"), "absent"),
                read_part(Path::new("/dev"), "absent"),
            ]);
        });
        let notes = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("reading a device blocked");
        assert_eq!(
            notes[0],
            Err("cannot read /dev/zero: not a regular file".to_string())
        );
        assert_eq!(
            notes[1],
            Err("cannot read /dev: not a regular file".to_string())
        );
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("profile.xml");
        assert_eq!(
            read_part(&p, "none yet"),
            Err(format!("none yet ({} does not exist)", p.display()))
        );
        std::fs::write(&p, "<cfg/>").unwrap();
        assert_eq!(read_part(&p, "none yet"), Ok("<cfg/>".to_string()));
    }
}
