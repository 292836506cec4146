//! Resource faults around the agent process, with the real binary:
//!
//! - a full log file system (a 256 KiB tmpfs filled up while the agent runs)
//!   and a read-only log dir (a read-only tmpfs from the start): the agent
//!   keeps probing and says exactly once on stderr that it cannot log;
//! - wall clock jumps (libfaketime on the agent process only, monotonic time
//!   left alone; the machine's clock is never touched): one hour back, one
//!   day forward; probe rounds go on at the interval, no stall, no burst, no
//!   rediscovery.
//!
//! The mounts need root; the clock test needs the `faketime` package. Each
//! test prints why it skips otherwise.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test harness: mount/umount and the faketime library are the instruments.
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use e2e_tests::{Agent, Lab, Launch, ProfileSpec, counter, is_known, is_root};
use serde_json::Value;

/// A tmpfs mounted on a directory of the test; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `options` should keep `mode=0700`: tmpfs defaults to 1777, and the
    /// agent refuses a log dir other users can write.
    fn mount(at: &Path, options: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "posture-sync-test"])
            .arg(at)
            .status()
            .unwrap();
        assert!(ok.success(), "mount -t tmpfs -o {options} {}", at.display());
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the agent may still hold a file open while the test unwinds.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` until it is full, including the last
/// partly used page of the agent's log file (appending blank lines to it),
/// so the agent's very next record fails.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("posture-sync.log"))
        .unwrap();
    while log.write_all(b"\n").is_ok() {}
}

fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    e2e_tests::skipped(
        test,
        "needs root to mount a small tmpfs as the log dir; CI runs it as root",
    );
    true
}

/// The agent (Compliant, probes blocked by psn-lab's dACL emulation).
fn compliant_agent(root: &Path, lab: &Lab, launch: &Launch) -> (Agent, Value) {
    lab.dacl("psn1", "reject");
    let spec = ProfileSpec::fast(&lab.node("psn1").discovery);
    let mut agent = Agent::start_launched(root, &lab.ca(), &spec.xml(), launch);
    let status = agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    (agent, status)
}

const CANNOT_LOG: &str = "cannot write the log file";

fn assert_keeps_probing_and_says_once(agent: &mut Agent, from: &Value) {
    let rounds = counter(from, "probe_rounds");
    let status = agent.wait_for("six more probe rounds", |s| {
        counter(s, "probe_rounds") >= rounds + 6
    });
    assert!(is_known(&status, "Compliant"), "{status}");
    assert_eq!(status["sync"]["enabled"], true, "{status}");
    let log = agent.log();
    assert_eq!(
        log.matches(CANNOT_LOG).count(),
        1,
        "said once, not once per record:\n{log}"
    );
}

#[test]
fn a_full_log_file_system_does_not_stop_probing_and_is_reported_once() {
    if skip_unless_root("a_full_log_file_system_does_not_stop_probing_and_is_reported_once") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::start(tmp.path(), &["psn1"], &[]);
    let logs = Tmpfs::mount(&tmp.path().join("agent/logs"), "size=256k,mode=0700");
    // RUST_LOG=debug: every probe round writes several records.
    let launch = Launch {
        prefix: Vec::new(),
        env: vec![(OsString::from("RUST_LOG"), OsString::from("debug"))],
        ..Launch::default()
    };
    let (mut agent, status) = compliant_agent(tmp.path(), &lab, &launch);
    assert!(
        !agent.log().contains(CANNOT_LOG),
        "the log file worked before the disk filled up"
    );
    fill(&logs.0);
    let listing = || {
        std::fs::read_dir(&logs.0)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                format!("{:?} {}", e.file_name(), e.metadata().unwrap().len())
            })
            .collect::<Vec<_>>()
    };
    eprintln!("log dir after filling: {:?}", listing());
    assert_keeps_probing_and_says_once(&mut agent, &status);
    eprintln!("log dir after probing: {:?}", listing());
    assert!(agent.log().contains("No space left"), "{}", agent.log());
}

#[test]
fn a_read_only_log_dir_does_not_stop_probing_and_is_reported_once() {
    if skip_unless_root("a_read_only_log_dir_does_not_stop_probing_and_is_reported_once") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::start(tmp.path(), &["psn1"], &[]);
    // Read-only from the start (a writable file system cannot be remounted
    // read-only while the agent holds its log open); root ignores modes, a
    // read-only mount it cannot ignore.
    let _logs = Tmpfs::mount(&tmp.path().join("agent/logs"), "ro,size=64k,mode=0700");
    let (mut agent, status) = compliant_agent(tmp.path(), &lab, &Launch::default());
    assert_keeps_probing_and_says_once(&mut agent, &status);
    assert!(
        agent.log().contains("Read-only file system"),
        "{}",
        agent.log()
    );
}

/// libfaketime as Debian installs it (`/usr/lib/<triplet>/faketime/`), or
/// under `/usr/lib/faketime/` (other distributions).
fn faketime_lib() -> Option<PathBuf> {
    let mut dirs = vec![PathBuf::from("/usr/lib/faketime")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("faketime")));
    }
    dirs.into_iter()
        .map(|d| d.join("libfaketime.so.1"))
        .find(|p| p.exists())
}

/// Probe rounds counted over `window` of the test's own (real, monotonic)
/// time.
/// Waits (with the harness's generous bound) until the agent has finished
/// three more probe rounds, and returns how many it had finished by the time
/// the test first saw three: a stall (a timer waiting for the wall clock to
/// catch up an hour) never gets there, and a burst (a day of "missed" rounds
/// run at once) shows as far more than three. This waits for events; it does
/// not time them.
fn three_more_rounds(agent: &Agent, what: &str) -> u64 {
    let first = counter(&agent.status().expect("status"), "probe_rounds");
    let seen = e2e_tests::wait_until(
        &format!("three more probe rounds {what}"),
        || {
            let now = counter(&agent.status().expect("status"), "probe_rounds");
            (now >= first + 3).then_some(now - first)
        },
        || agent.log(),
    );
    eprintln!("{what}: {seen} rounds when three more were first seen");
    seen
}

/// More rounds than this when three were first seen would be a burst: a poll
/// of the status socket comes every few hundred milliseconds and a round
/// takes at least the 1 s interval, so even a slow poll sees a few at most.
const NO_BURST: u64 = 3 + 5;

/// The wall clock of the agent's last probe round, as it stamped it.
fn last_probe_at(agent: &Agent) -> SystemTime {
    let status = agent.status().expect("status");
    humantime::parse_rfc3339(status["last_probe"]["at"].as_str().expect("last_probe.at"))
        .expect("an RFC 3339 time")
}

#[test]
fn wall_clock_jumps_do_not_disturb_the_probe_interval() {
    let Some(faketime) = faketime_lib() else {
        e2e_tests::skipped(
            "wall_clock_jumps_do_not_disturb_the_probe_interval",
            "libfaketime.so.1 is not installed (apt-get install -y faketime); CI installs it",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::start(tmp.path(), &["psn1"], &[]);
    // The offset file is read on every clock call (FAKETIME_NO_CACHE), so the
    // test moves the agent's wall clock by rewriting it. Monotonic clocks are
    // not faked: they are what the agent's intervals must rest on.
    let offset = tmp.path().join("faketime-offset");
    std::fs::write(&offset, "+0\n").unwrap();
    let env = |k: &str, v: &std::ffi::OsStr| (OsString::from(k), v.to_owned());
    let launch = Launch {
        prefix: Vec::new(),
        env: vec![
            env("LD_PRELOAD", faketime.as_os_str()),
            env("FAKETIME_TIMESTAMP_FILE", offset.as_os_str()),
            env("FAKETIME_NO_CACHE", "1".as_ref()),
            env("FAKETIME_DONT_FAKE_MONOTONIC", "1".as_ref()),
        ],
        ..Launch::default()
    };
    let (mut agent, status) = compliant_agent(tmp.path(), &lab, &launch);
    let session = status["session_id"].clone();
    agent.wait_for("probing", |s| counter(s, "probe_rounds") >= 2);
    let normal = three_more_rounds(&agent, "before any jump");
    assert!(normal <= NO_BURST, "{normal} rounds before any jump");

    for (jump, shift) in [("-1h", -3600i64), ("+1d", 86_400)] {
        std::fs::write(&offset, format!("{jump}\n")).unwrap();
        // The jump reached the agent: its next round is stamped with the
        // shifted wall clock.
        let real = SystemTime::now();
        let seen = e2e_tests::wait_until(
            &format!("a round stamped with the clock moved {jump}"),
            || {
                let at = last_probe_at(&agent);
                let moved = match at.duration_since(real) {
                    Ok(ahead) => ahead.as_secs() as i64,
                    Err(e) => -(e.duration().as_secs() as i64),
                };
                (moved.signum() == shift.signum() && moved.abs() > shift.abs() / 2).then_some(at)
            },
            || agent.log(),
        );
        eprintln!(
            "clock {jump}: last probe stamped {}",
            humantime::format_rfc3339(seen)
        );
        let rounds = three_more_rounds(&agent, &format!("after the clock jumped {jump}"));
        assert!(
            rounds <= NO_BURST,
            "a burst of {rounds} rounds after the clock jumped {jump} ({normal} before)"
        );
    }
    let status = agent.status().expect("status");
    assert!(is_known(&status, "Compliant"), "{status}");
    assert_eq!(
        status["session_id"], session,
        "same session, no rediscovery"
    );
    assert_eq!(counter(&status, "discovery_restarts"), 0, "{status}");
    assert_eq!(counter(&status, "misconfigurations"), 0, "{status}");
    assert!(
        agent.status().unwrap()["sync"]["next_probe_in_ms"]
            .as_u64()
            .is_none_or(|ms| ms <= 1_100),
        "the next probe is within one interval"
    );
}
