//! The real agent under a stand-in service manager and fleet tools: a unix
//! datagram socket as `$NOTIFY_SOCKET` receives READY, STATUS lines naming
//! the phase, watchdog pings and STOPPING; `status.json` and the metrics
//! file follow the agent and say when it stopped; Debian's real
//! `prometheus-node-exporter` serves the metrics over loopback; no copy of
//! the log on stderr when `JOURNAL_STREAM` says stderr is the journal.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_os = "linux")]
// A test harness: it runs the binary under test and node_exporter.
#![allow(clippy::disallowed_methods)]

mod cli_fixture;

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use cli_fixture::{MAC, Running, posture_sync as cmd};
use serde_json::Value;

/// A profile whose only PSN is a closed loopback port: the agent starts,
/// applies it and goes on discovering.
const PROFILE: &str = "<?xml version=\"1.0\"?>\n<cfg>\n  <StateSyncProbeInterval>7</StateSyncProbeInterval>\n  \
                       <CallHomeList>127.0.0.1:1</CallHomeList>\n</cfg>\n";

struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["home", "metrics"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        std::fs::write(tmp.path().join("profile.xml"), PROFILE).unwrap();
        Setup { tmp }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }
    /// `run` with a state dir and a metrics dir; `env` added.
    fn agent(&self, env: &[(&str, &Path)]) -> Running {
        let mut c = cmd(&self.path("home"));
        c.args(["run", "--mac", MAC, "--profile"])
            .arg(self.path("profile.xml"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--metrics-dir")
            .arg(self.path("metrics"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        Running(c.spawn().unwrap())
    }
    fn status_file(&self) -> Option<Value> {
        let bytes = std::fs::read(self.path("state/status.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
    fn metrics_file(&self) -> Option<String> {
        std::fs::read_to_string(self.path("metrics/posture_sync.prom")).ok()
    }
}

/// SIGTERM, as the service manager stops the agent; waits for its exit.
fn terminate(agent: &mut Running) -> std::process::ExitStatus {
    let pid = rustix::process::Pid::from_child(&agent.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    test_support::wait_until(
        "the agent to exit after SIGTERM",
        || agent.0.try_wait().unwrap(),
        String::new,
    )
}

/// The notifications received so far, one datagram each, never blocking.
fn drain(socket: &UnixDatagram, into: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        into.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

#[test]
fn the_service_manager_hears_ready_status_watchdog_and_stopping() {
    let s = Setup::new();
    let notify_path = s.path("notify.sock");
    let socket = UnixDatagram::bind(&notify_path).unwrap();
    socket.set_nonblocking(true).unwrap();
    // A 2 s watchdog: pings every second.
    let mut agent = {
        let mut c = cmd(&s.path("home"));
        c.args(["run", "--mac", MAC, "--profile"])
            .arg(s.path("profile.xml"))
            .arg("--state-dir")
            .arg(s.path("state"))
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "2000000")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Running(c.spawn().unwrap())
    };
    // Filled by the probe, shown on timeout.
    let got = std::cell::RefCell::new(Vec::new());
    let ready = test_support::wait_until(
        "READY=1 on the notify socket",
        || {
            drain(&socket, &mut got.borrow_mut());
            got.borrow()
                .iter()
                .find(|m| m.lines().any(|l| l == "READY=1"))
                .cloned()
        },
        || format!("received: {:?}", got.borrow()),
    );
    // READY comes with the first status line, which names the phase and
    // the posture (the profile is applied by then).
    let status = ready
        .lines()
        .find_map(|l| l.strip_prefix("STATUS="))
        .unwrap_or_else(|| panic!("no STATUS= with READY: {ready:?}"));
    let (phase, posture) = status.split_once(", posture ").unwrap();
    assert!(
        ["idle", "discovering", "assessing", "known"].contains(&phase),
        "{status}"
    );
    assert!(!posture.is_empty(), "{status}");
    // The status socket is bound before READY: `status` answers at once.
    let o = cmd(&s.path("home"))
        .args(["status", "--json", "--state-dir"])
        .arg(s.path("state"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let answered: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(answered["phase"].is_string(), "{answered}");

    test_support::wait_until(
        "a WATCHDOG=1 ping",
        || {
            drain(&socket, &mut got.borrow_mut());
            got.borrow()
                .iter()
                .any(|m| m.lines().any(|l| l == "WATCHDOG=1"))
                .then_some(())
        },
        || format!("received: {:?}", got.borrow()),
    );
    let mut got = got.into_inner();
    // Status lines only on changes: never the same line twice in a row.
    let lines: Vec<&str> = got
        .iter()
        .flat_map(|m| m.lines())
        .filter_map(|l| l.strip_prefix("STATUS="))
        .collect();
    assert!(lines.windows(2).all(|w| w[0] != w[1]), "{lines:?}");

    assert!(terminate(&mut agent).success());
    drain(&socket, &mut got);
    assert!(
        got.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "{got:?}"
    );
    assert_eq!(
        got.iter()
            .flat_map(|m| m.lines())
            .filter(|l| *l == "READY=1")
            .count(),
        1,
        "{got:?}"
    );
}

#[test]
fn without_notify_socket_nothing_is_sent_and_the_agent_runs() {
    // The same agent with no NOTIFY_SOCKET: starts, answers, stops cleanly.
    let s = Setup::new();
    let mut agent = s.agent(&[]);
    cli_fixture::wait_status(
        &s.path("home"),
        &s.path("state"),
        "the agent's status",
        |_| true,
    );
    assert!(terminate(&mut agent).success());
}

#[test]
fn status_file_and_metrics_follow_the_agent_and_say_when_it_stopped() {
    let s = Setup::new();
    let mut agent = s.agent(&[]);
    let status = test_support::wait_until(
        "status.json of a running agent",
        || s.status_file().filter(|v| v["running"] == true),
        || format!("{:?}", s.status_file()),
    );
    for key in ["phase", "posture", "sync", "counters", "written_at"] {
        assert!(status.get(key).is_some(), "{key} missing: {status}");
    }
    assert!(humantime::parse_rfc3339(status["written_at"].as_str().unwrap()).is_ok());
    // The same report `status --json` prints, with `running` and `written_at`.
    let live = cli_fixture::wait_status(&s.path("home"), &s.path("state"), "status", |_| true);
    assert_eq!(status["profile"], live["profile"]);
    let metrics = test_support::wait_until(
        "posture_sync.prom of a running agent",
        || {
            s.metrics_file()
                .filter(|m| m.contains("posture_sync_up 1\n"))
        },
        || format!("{:?}", s.metrics_file()),
    );
    assert!(
        metrics.contains("# TYPE posture_sync_phase gauge\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "posture_sync_phase{{phase=\"{}\"}} 1\n",
            status["phase"].as_str().unwrap()
        )),
        "{metrics}"
    );
    // Written as a whole by rename: no temp file is left in the collector's dir.
    assert!(terminate(&mut agent).success());
    let stopped = s.status_file().unwrap();
    assert_eq!(stopped["running"], false, "{stopped}");
    assert!(s.metrics_file().unwrap().contains("posture_sync_up 0\n"));
    let names: Vec<_> = std::fs::read_dir(s.path("metrics"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["posture_sync.prom"]);

    // No agent now: `status --json` says so on stdout, exit 3, and where
    // the last status file is.
    let o = cmd(&s.path("home"))
        .args(["status", "--json", "--state-dir"])
        .arg(s.path("state"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["running"], false, "{v}");
    assert_eq!(
        v["status_file"],
        s.path("state/status.json").display().to_string(),
        "{v}"
    );
}

#[test]
fn a_missing_metrics_dir_is_a_startup_error() {
    let s = Setup::new();
    let o = cmd(&s.path("home"))
        .args(["run", "--mac", MAC, "--profile"])
        .arg(s.path("profile.xml"))
        .arg("--state-dir")
        .arg(s.path("state"))
        .arg("--metrics-dir")
        .arg(s.path("no such dir"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no such dir") && err.contains("--metrics-dir"),
        "{err}"
    );
}

/// node_exporter serving only the textfile collector on a free loopback
/// port; killed when dropped.
struct NodeExporter {
    child: Child,
    port: u16,
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node_exporter(dir: &Path) -> Option<NodeExporter> {
    const BIN: &str = "prometheus-node-exporter";
    // A port the kernel picked, free a moment ago; node_exporter binds it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(child) => Some(NodeExporter { child, port }),
        Err(e) => {
            // CI sets POSTURE_SYNC_REQUIRE_ALL: a missing tool must fail, not skip.
            assert!(
                std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_none(),
                "{BIN} is not available ({e}), and POSTURE_SYNC_REQUIRE_ALL requires every test to run"
            );
            eprintln!(
                "SKIPPED: {BIN} is not available ({e}); apt-get install prometheus-node-exporter"
            );
            None
        }
    }
}

/// `GET /metrics` over loopback; the body, or `None` while nothing answers.
fn scrape(port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200").then(|| body.to_owned())
}

#[test]
fn node_exporter_serves_the_agents_metrics() {
    let s = Setup::new();
    let Some(exporter) = node_exporter(&s.path("metrics")) else {
        return;
    };
    let mut agent = s.agent(&[]);
    // Written by the probe, shown on timeout.
    let last = std::cell::RefCell::new(None);
    let body = test_support::wait_until(
        "the agent's metrics in node_exporter's /metrics",
        || {
            *last.borrow_mut() = scrape(exporter.port);
            last.borrow()
                .clone()
                .filter(|b| b.contains("posture_sync_up 1"))
        },
        || format!("last scrape: {:?}", last.borrow()),
    );
    // node_exporter parsed the file: no scrape error, and our families with
    // their types.
    assert!(body.contains("node_textfile_scrape_error 0"), "{body}");
    for needle in [
        "# TYPE posture_sync_phase gauge",
        "# TYPE posture_sync_probe_rounds_total counter",
        "posture_sync_posture{posture=\"Unknown\"}",
        "posture_sync_misconfigurations_total 0",
        "node_textfile_mtime_seconds{file=",
    ] {
        assert!(body.contains(needle), "{needle} missing: {body}");
    }
    let one_hot: usize = body
        .lines()
        .filter(|l| l.starts_with("posture_sync_phase{") && l.ends_with(" 1"))
        .count();
    assert_eq!(one_hot, 1, "{body}");
    assert!(terminate(&mut agent).success());
}

/// The agent's stderr (a file) after a run with `JOURNAL_STREAM` set to
/// what `journal_stream` makes of that file's device and inode.
fn stderr_of_a_run(journal_stream: impl Fn(u64, u64) -> String) -> String {
    use std::os::unix::fs::MetadataExt;
    let s = Setup::new();
    let stderr_path = s.path("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();
    let mut c = cmd(&s.path("home"));
    c.args(["run", "--mac", MAC, "--profile"])
        .arg(s.path("profile.xml"))
        .arg("--state-dir")
        .arg(s.path("state"))
        .env("JOURNAL_STREAM", journal_stream(meta.dev(), meta.ino()))
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut agent = Running(c.spawn().unwrap());
    cli_fixture::wait_status(
        &s.path("home"),
        &s.path("state"),
        "the agent's status",
        |_| true,
    );
    assert!(terminate(&mut agent).success());
    // The log file has the lines either way.
    let log = std::fs::read_to_string(s.path("state/logs/posture-sync.log")).unwrap();
    assert!(log.contains("posture-sync starting"), "{log}");
    std::fs::read_to_string(&stderr_path).unwrap()
}

#[test]
fn no_log_copy_on_stderr_when_stderr_is_the_journal() {
    let stderr = stderr_of_a_run(|dev, ino| format!("{dev}:{ino}"));
    assert!(!stderr.contains("posture-sync starting"), "{stderr}");
    assert!(!stderr.contains("posture-sync stopped"), "{stderr}");
}

#[test]
fn the_log_copy_stays_on_stderr_when_journal_stream_names_another_stream() {
    // Inherited from a parent whose stderr was the journal: not ours.
    let stderr = stderr_of_a_run(|dev, ino| format!("{dev}:{}", ino + 1));
    assert!(stderr.contains("posture-sync starting"), "{stderr}");
}
