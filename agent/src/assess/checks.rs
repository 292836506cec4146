//! The check types, evaluated on this endpoint within the local path rules
//! ([`CheckPolicy`]) and the assessment's [`Budget`].

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use posture_protocol::Check;

use super::CheckOutcome;
use super::budget::{Budget, Spent, read_chunks};
use super::conditions;
use super::policy::{Access, CheckPolicy};
use crate::facts::Facts;

/// How much of a file `file-contains` reads: the first 1 MiB. Posture checks
/// look at configuration files; a larger file is matched on its first MiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The longest line `file-contains` matches at once; a longer line is
/// matched in pieces of this size, so one match never runs long.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Longest `file-contains` pattern accepted.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Size limit of a compiled `file-contains` pattern (regex-lite's
/// `size_limit`): a hostile pattern cannot make the agent build a huge automaton.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Largest file `file-sha256` hashes (the byte budget bounds the total).
pub const MAX_DIGEST_BYTES: u64 = super::budget::BYTE_BUDGET;

/// What a check runs with.
#[derive(Debug)]
pub struct CheckCx<'a> {
    /// Where checks may look.
    pub policy: &'a CheckPolicy,
    /// The assessment's budget.
    pub budget: &'a Budget,
}

/// Evaluates one check on this endpoint; a condition gathers the facts it
/// needs for this check alone (an assessment shares them through
/// [`evaluate_check_with`]).
pub fn evaluate_check(check: &Check, cx: &CheckCx<'_>) -> CheckOutcome {
    evaluate_check_with(check, cx, &Facts::system())
}

/// Evaluates one check with the assessment's `facts`.
pub fn evaluate_check_with(check: &Check, cx: &CheckCx<'_>, facts: &Facts) -> CheckOutcome {
    if let Err(spent) = cx.budget.check() {
        return CheckOutcome::fail(spent.to_string());
    }
    match check {
        Check::OsVersion { name, min, max } => {
            conditions::os_version(name, min.as_deref(), max.as_deref(), facts)
        }
        Check::DiskEncryption => conditions::disk_encryption(facts),
        Check::FirewallEnabled => conditions::firewall_enabled(facts),
        Check::ServiceActive { name } => conditions::service_active(name, facts),
        Check::PackageVersion { name, min } => conditions::package_version(name, min, facts),
        Check::UpdatesRecent { max_days } => conditions::updates_recent(*max_days, facts),
        Check::ScreenLock { max_minutes } => conditions::screen_lock(*max_minutes, facts),
        Check::FileExists { path } => file_exists(path, cx),
        Check::FileNewerThan { path, days } => file_newer_than(path, *days, cx, SystemTime::now()),
        Check::FileSha256 { path, sha256 } => file_sha256(path, sha256, cx),
        Check::FileContains { path, pattern } => file_contains(path, pattern, cx),
        Check::ProcessRunning { name } => process_running(name),
        Check::Unsupported { check_type } => {
            tracing::warn!(
                check_type = ?check_type,
                "refusing check type {check_type:?}: posture-sync never runs commands and evaluates only the check types of docs/protocol.md; the requirement fails"
            );
            CheckOutcome {
                passed: false,
                reason: format!(
                    "check type {check_type:?} refused: posture-sync never runs commands"
                ),
                refused: true,
            }
        }
    }
}

/// The path rules' verdict as a failed (refused) check.
fn refused(reason: String) -> CheckOutcome {
    CheckOutcome {
        passed: false,
        reason,
        refused: true,
    }
}

fn file_exists(path: &str, cx: &CheckCx<'_>) -> CheckOutcome {
    match cx.policy.resolve(path, Access::Metadata) {
        Err(r) => refused(r.0),
        Ok(None) => CheckOutcome::fail(format!("{path} does not exist")),
        Ok(Some(_)) => CheckOutcome::pass(format!("{path} exists")),
    }
}

fn file_newer_than(path: &str, days: u32, cx: &CheckCx<'_>, now: SystemTime) -> CheckOutcome {
    let real = match cx.policy.resolve(path, Access::Metadata) {
        Err(r) => return refused(r.0),
        Ok(None) => return CheckOutcome::fail(format!("{path} does not exist")),
        Ok(Some(real)) => real,
    };
    let modified = match std::fs::metadata(&real).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(e) => {
            return CheckOutcome::fail(format!("cannot read the modification time of {path}: {e}"));
        }
    };
    let limit = Duration::from_secs(u64::from(days) * 86_400);
    match now.duration_since(modified) {
        Ok(age) if age >= limit => CheckOutcome::fail(format!(
            "{path} was last modified {} days ago, more than the {days} allowed",
            age.as_secs() / 86_400
        )),
        // A modification time in the future counts as new.
        _ => CheckOutcome::pass(format!("{path} was modified within the last {days} days")),
    }
}

fn file_sha256(path: &str, expected: &str, cx: &CheckCx<'_>) -> CheckOutcome {
    let real = match cx.policy.resolve(path, Access::Digest) {
        Err(r) => return refused(r.0),
        Ok(None) => return CheckOutcome::fail(format!("{path} does not exist")),
        Ok(Some(real)) => real,
    };
    let file = match open_regular(&real) {
        Ok(Some(f)) => f,
        Ok(None) => return not_regular(path, "file-sha256"),
        Err(e) => return CheckOutcome::fail(format!("cannot read {path}: {e}")),
    };
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let read = read_chunks(file, MAX_DIGEST_BYTES + 1, cx.budget, |chunk| {
        ctx.update(chunk);
        Ok(())
    });
    match read {
        Err(spent) => CheckOutcome::fail(spent.to_string()),
        Ok(Err(e)) => CheckOutcome::fail(format!("cannot read {path}: {e}")),
        Ok(Ok(n)) if n > MAX_DIGEST_BYTES => CheckOutcome::fail(format!(
            "{path} is larger than the {} MiB file-sha256 hashes",
            MAX_DIGEST_BYTES / (1024 * 1024)
        )),
        Ok(Ok(_)) => {
            let digest = hex(ctx.finish().as_ref());
            if digest == expected {
                CheckOutcome::pass(format!("{path} has the expected SHA-256 digest"))
            } else {
                // The digest found is not reported back: the report carries
                // pass/fail only, and the log line need not carry it either.
                CheckOutcome::fail(format!("{path} does not have the expected SHA-256 digest"))
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn not_regular(path: &str, check: &str) -> CheckOutcome {
    CheckOutcome::fail(format!(
        "{path} is not a regular file ({check} reads regular files only, never FIFOs, devices, sockets or directories)"
    ))
}

fn file_contains(path: &str, pattern: &str, cx: &CheckCx<'_>) -> CheckOutcome {
    let real = match cx.policy.resolve(path, Access::Content) {
        Err(r) => return refused(r.0),
        Ok(None) => return CheckOutcome::fail(format!("{path} does not exist")),
        Ok(Some(real)) => real,
    };
    if pattern.len() > MAX_PATTERN_LEN {
        return CheckOutcome::fail(format!(
            "pattern of {} bytes is longer than the {MAX_PATTERN_LEN} allowed",
            pattern.len()
        ));
    }
    let regex = match regex_lite::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return CheckOutcome::fail(format!("invalid pattern {pattern:?}: {e}"));
        }
    };
    let file = match open_regular(&real) {
        Ok(Some(f)) => f,
        Ok(None) => return not_regular(path, "file-contains"),
        Err(e) => return CheckOutcome::fail(format!("cannot read {path}: {e}")),
    };
    let mut lines = LineMatcher::new(&regex);
    let read = read_chunks(file, MAX_FILE_BYTES, cx.budget, |chunk| {
        lines.feed(chunk, cx.budget)
    });
    let found = match read {
        Err(spent) => return CheckOutcome::fail(spent.to_string()),
        Ok(Err(e)) => return CheckOutcome::fail(format!("cannot read {path}: {e}")),
        Ok(Ok(_)) => lines.finish(cx.budget),
    };
    match found {
        Err(spent) => CheckOutcome::fail(spent.to_string()),
        Ok(true) => CheckOutcome::pass(format!("{path} matches {pattern:?}")),
        Ok(false) => CheckOutcome::fail(format!("{path} does not match {pattern:?}")),
    }
}

/// Matches a pattern against each line of a text fed in chunks (lines end at
/// `\n`; a trailing `\r` is kept), a line longer than [`MAX_LINE_BYTES`] in
/// pieces of that size, asking the budget before every match.
struct LineMatcher<'r> {
    regex: &'r regex_lite::Regex,
    line: Vec<u8>,
    found: bool,
}

impl<'r> LineMatcher<'r> {
    fn new(regex: &'r regex_lite::Regex) -> Self {
        LineMatcher {
            regex,
            line: Vec::new(),
            found: false,
        }
    }

    fn matches(&mut self, budget: &Budget) -> Result<(), Spent> {
        budget.check()?;
        // regex-lite matches text: an invalid byte reads as U+FFFD, which
        // only `.` or a negated class can match (docs/agent.md).
        if !self.found && self.regex.is_match(&String::from_utf8_lossy(&self.line)) {
            self.found = true;
        }
        self.line.clear();
        Ok(())
    }

    fn feed(&mut self, mut chunk: &[u8], budget: &Budget) -> Result<(), Spent> {
        while !chunk.is_empty() && !self.found {
            let room = MAX_LINE_BYTES - self.line.len();
            let end = chunk.iter().take(room).position(|b| *b == b'\n');
            match end {
                Some(i) => {
                    self.line.extend_from_slice(&chunk[..i]);
                    chunk = &chunk[i + 1..];
                    self.matches(budget)?;
                }
                None => {
                    let take = chunk.len().min(room);
                    self.line.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    if self.line.len() == MAX_LINE_BYTES {
                        self.matches(budget)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(mut self, budget: &Budget) -> Result<bool, Spent> {
        if !self.line.is_empty() && !self.found {
            self.matches(budget)?;
        }
        Ok(self.found)
    }
}

/// Opens `p` for reading when it is a regular file, `Ok(None)` when it is
/// anything else. Checked before the open (opening a device can have side
/// effects) and again on the open file (the path may have been swapped in
/// between); on Unix the open is non-blocking so that a swapped-in FIFO
/// cannot block it.
pub(crate) fn open_regular(p: &Path) -> std::io::Result<Option<File>> {
    if !std::fs::metadata(p)?.is_file() {
        return Ok(None);
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(p)?;
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    Ok(Some(file))
}

fn process_running(name: &str) -> CheckOutcome {
    if name.is_empty() || name.contains('/') || name.contains('\\') {
        return CheckOutcome::fail(format!("{name:?} is not a process name"));
    }
    match imp::process_running(name) {
        Ok(true) => CheckOutcome::pass(format!("process {name} runs")),
        Ok(false) => CheckOutcome::fail(format!("no process named {name} runs")),
        Err(why) => CheckOutcome::fail(why),
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::path::Path;

    /// Linux truncates `comm` to 15 bytes.
    const COMM_LEN: usize = 15;

    /// Scans `/proc/*/comm`; for names longer than `comm` holds, the
    /// command line's program name decides.
    pub(super) fn process_running(name: &str) -> Result<bool, String> {
        let entries = std::fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
        let truncated = truncate(name);
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(pid) = file_name.to_str() else {
                continue;
            };
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // Processes come and go during the scan: unreadable ones are skipped.
            let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
                continue;
            };
            let comm = comm.trim_end_matches('\n');
            if comm == name {
                return Ok(true);
            }
            if name.len() > COMM_LEN
                && comm == truncated
                && program_name(&entry.path()).as_deref() == Some(name)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn truncate(name: &str) -> &str {
        let mut end = name.len().min(COMM_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        &name[..end]
    }

    fn program_name(proc_dir: &Path) -> Option<String> {
        let cmdline = std::fs::read(proc_dir.join("cmdline")).ok()?;
        let argv0 = cmdline.split(|b| *b == 0).next()?;
        let argv0 = std::str::from_utf8(argv0).ok()?;
        Some(argv0.rsplit('/').next()?.to_owned())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    /// Fails closed: reading the process table is implemented for Linux only.
    pub(super) fn process_running(name: &str) -> Result<bool, String> {
        Err(format!(
            "cannot check for process {name}: process-running is implemented on Linux only (failed closed)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_newer_than_compares_the_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("defs.dat");
        std::fs::write(&p, "x").unwrap();
        let policy = CheckPolicy::new(&[], [], None);
        let budget = Budget::standard();
        let cx = CheckCx {
            policy: &policy,
            budget: &budget,
        };
        let path = p.to_str().unwrap();
        let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
        assert!(file_newer_than(path, 1, &cx, modified + Duration::from_secs(3600)).passed);
        let late = file_newer_than(path, 7, &cx, modified + Duration::from_secs(8 * 86_400));
        assert!(!late.passed);
        assert_eq!(
            late.reason,
            format!("{path} was last modified 8 days ago, more than the 7 allowed")
        );
        assert!(file_newer_than(path, 1, &cx, modified - Duration::from_secs(60)).passed);
    }

    #[test]
    fn lines_are_matched_one_by_one_and_long_lines_in_pieces() {
        let budget = Budget::standard();
        let re = regex_lite::Regex::new("^b+$").unwrap();
        let mut m = LineMatcher::new(&re);
        m.feed(b"aaa\nbb", &budget).unwrap();
        m.feed(b"b\nccc", &budget).unwrap();
        assert!(m.finish(&budget).unwrap());
        let re = regex_lite::Regex::new("^x{20000}").unwrap();
        let mut m = LineMatcher::new(&re);
        m.feed(&vec![b'x'; 40_000], &budget).unwrap();
        assert!(
            !m.finish(&budget).unwrap(),
            "a match never spans two pieces"
        );
        let re = regex_lite::Regex::new("tail$").unwrap();
        let mut m = LineMatcher::new(&re);
        m.feed(b"head\nno newline at the tail", &budget).unwrap();
        assert!(m.finish(&budget).unwrap());
    }
}
