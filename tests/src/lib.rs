//! Helpers for end-to-end tests: build and locate the real binaries, run
//! `psn-lab` and `posture-sync` in temp dirs on loopback, and wait for events
//! with generous bounds (never asserting timings).
//!
//! Every wait is bounded by `test_support::wait_bound()`: 120 s unless the
//! environment variable `POSTURE_SYNC_TEST_WAIT_SECS` says otherwise (one
//! knob for every test of the workspace, CONTRIBUTING.md, "Testing"). A wait
//! that times out names what it waited for and shows the log.
//!
//! [`Scenario`] is the setup most tests share: a lab, its dACL emulation,
//! and an agent that calls home to it.
//!
//! Every child process is killed when its guard drops, so a failing test
//! leaves nothing running. The environment is scrubbed: children get only
//! `PATH`, `HOME` (the test's temp dir) and `RUST_LOG`.

// Test harness: spawning the binaries under test (and `kill -TERM`) is the point.
#![allow(clippy::disallowed_methods)]
// The harness of the end-to-end tests: a setup that fails is a failed test,
// and its panic message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
pub use test_support::wait_bound;

/// How often conditions are polled: each poll of the agent's status starts
/// a `posture-sync status` process, each poll of the lab a `psn-lab ctl`.
pub const POLL: Duration = Duration::from_millis(200);

/// The MAC every test agent presents.
pub const MAC: &str = "02:00:5e:00:53:01";

/// Paths of the binaries under test.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `posture-sync`.
    pub agent: PathBuf,
    /// `psn-lab`.
    pub lab: PathBuf,
}

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_owned()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Builds `posture-sync` and `psn-lab` once per test process (`cargo build`,
/// debug profile) and returns their paths. `CARGO_BIN_EXE_*` is only set for
/// the package that owns a binary, so this crate builds them itself.
pub fn binaries() -> &'static Binaries {
    static BUILT: OnceLock<Binaries> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "posture-sync",
                "-p",
                "psn-lab",
                "--bins",
            ])
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "building the binaries failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = target_dir().join("debug");
        let exe = |name: &str| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        Binaries {
            agent: exe("posture-sync"),
            lab: exe("psn-lab"),
        }
    })
}

/// How a child is launched: a command prefix that runs the program (e.g.
/// `ip netns exec NS` to start it inside a network namespace) and extra
/// environment variables on top of the scrubbed environment.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Program and arguments put before the binary under test.
    pub prefix: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// The agent asks its default gateway for the switch's redirect and
    /// watches its network (`--gateway auto --network-watch on`, as
    /// deployed). Off by default: an agent on loopback must never contact
    /// the machine's real gateway, nor react to the network changes other
    /// tests make.
    pub roaming: bool,
}

impl Launch {
    /// Runs the program inside the network namespace `ns`.
    pub fn netns(ns: &str) -> Launch {
        Launch {
            prefix: ["ip", "netns", "exec", ns].map(OsString::from).to_vec(),
            env: Vec::new(),
            roaming: false,
        }
    }
}

/// The agent's roaming flags: as deployed, or off (see [`Launch::roaming`]).
/// Both without the start spread (`--start-spread 0`): the tests order and
/// time the first discovery; the random wait before it is the machine's
/// tests' subject (`machine::trigger_tests`) and fleet-sim's (docs/fleet.md).
pub fn roaming_args(roaming: bool) -> [&'static str; 6] {
    if roaming {
        [
            "--gateway",
            "auto",
            "--network-watch",
            "on",
            "--start-spread",
            "0",
        ]
    } else {
        [
            "--gateway",
            "off",
            "--network-watch",
            "off",
            "--start-spread",
            "0",
        ]
    }
}

/// A command with a scrubbed environment, launched as `launch` says.
fn launched(program: &Path, home: &Path, launch: &Launch) -> Command {
    let mut c = match launch.prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    };
    scrub(&mut c, home);
    for (k, v) in &launch.env {
        c.env(k, v);
    }
    c
}

/// A command with a scrubbed environment.
fn command(program: &Path, home: &Path) -> Command {
    let mut c = Command::new(program);
    scrub(&mut c, home);
    c
}

fn scrub(c: &mut Command, home: &Path) {
    c.env_clear().env("HOME", home).env(
        "RUST_LOG",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
    );
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
}

/// Kills the child when dropped.
#[derive(Debug)]
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// `Some(status)` once the child has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.0.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `probe` every [`POLL`] until it returns `Some`, for at most
/// [`wait_bound`]; panics with `what` and `context()` otherwise.
pub fn wait_until<T>(
    what: &str,
    probe: impl FnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    test_support::wait_until_every(what, POLL, probe, context)
}

/// A node's addresses, from `ready.json`.
#[derive(Debug, Clone)]
pub struct Node {
    /// `127.0.0.1:port` of discovery and assessment.
    pub discovery: String,
    /// `127.0.0.1:port` of state sync.
    pub sync: String,
}

/// A running `psn-lab serve`.
#[derive(Debug)]
pub struct Lab {
    /// The lab directory (certificates, ready.json, sessions).
    pub dir: PathBuf,
    /// `ready.json`.
    pub ready: Value,
    log: PathBuf,
    launch: Launch,
    child: ChildGuard,
}

impl Lab {
    /// Starts a lab in `root/lab` with the named nodes on 127.0.0.1, every
    /// port chosen by the system, plus `extra` serve flags.
    pub fn start(root: &Path, nodes: &[&str], extra: &[&str]) -> Lab {
        let nodes: Vec<String> = nodes.iter().map(|n| format!("{n}=127.0.0.1:0:0")).collect();
        Self::start_launched(root, &nodes, extra, &Launch::default())
    }

    /// Starts a lab in `root/lab` with `--node` specs `nodes`
    /// (`NAME=IP:DISCOVERY_PORT:SYNC_PORT`), launched as `launch` says. The
    /// admin API listens on 127.0.0.1 (of the lab's network namespace). A lab
    /// started again on the same `root` keeps its CA and sessions; its log
    /// is appended to.
    pub fn start_launched(root: &Path, nodes: &[String], extra: &[&str], launch: &Launch) -> Lab {
        let dir = root.join("lab");
        let log = root.join("psn-lab.log");
        // A lab killed before (no chance to remove it) leaves a stale
        // ready.json that must not be mistaken for the new one's.
        let _ = std::fs::remove_file(dir.join("ready.json"));
        let mut cmd = launched(&binaries().lab, root, launch);
        cmd.arg("serve")
            .arg("--dir")
            .arg(&dir)
            .args(["--admin", "127.0.0.1:0"]);
        for n in nodes {
            cmd.arg("--node").arg(n);
        }
        cmd.args(extra);
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("psn-lab starts");
        let mut child = ChildGuard(Some(child));
        let ready_path = dir.join("ready.json");
        let ready = wait_until(
            "psn-lab's ready.json",
            || {
                if let Some(status) = child.try_wait() {
                    panic!(
                        "psn-lab exited with {status}:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                let text = std::fs::read_to_string(&ready_path).ok()?;
                serde_json::from_str::<Value>(&text).ok()
            },
            || std::fs::read_to_string(&log).unwrap_or_default(),
        );
        Lab {
            dir,
            ready,
            log,
            launch: launch.clone(),
            child,
        }
    }

    /// Kills the lab at once (SIGKILL, as a crashing host): nothing is
    /// cleaned up, connections in flight are cut.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A node's addresses.
    pub fn node(&self, name: &str) -> Node {
        let n = self.ready["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["name"] == name))
            .unwrap_or_else(|| panic!("no node {name} in {}", self.ready));
        Node {
            discovery: n["discovery"]
                .as_str()
                .expect("discovery address")
                .to_owned(),
            sync: n["sync"].as_str().expect("sync address").to_owned(),
        }
    }

    /// The lab CA certificate.
    pub fn ca(&self) -> PathBuf {
        let ca = PathBuf::from(self.ready["ca"].as_str().expect("ca path"));
        if ca.is_absolute() {
            ca
        } else {
            self.dir.join(ca.file_name().expect("file name"))
        }
    }

    /// `psn-lab ctl --dir DIR ARGS...`: the JSON it prints. Panics when the
    /// call fails.
    pub fn ctl(&self, args: &[&str]) -> Value {
        let out = launched(&binaries().lab, &self.dir, &self.launch)
            .arg("ctl")
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("psn-lab ctl runs");
        assert!(
            out.status.success(),
            "psn-lab ctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("ctl prints JSON")
    }

    /// Sets a node's dACL emulation (`off`, `reject`, `drop`).
    pub fn dacl(&self, node: &str, mode: &str) {
        self.ctl(&["dacl", node, mode]);
    }

    /// Sets a node's fault mode on the state sync port.
    pub fn fault_sync(&self, node: &str, mode: &str) {
        self.ctl(&["fault", node, mode, "--scope", "sync"]);
    }

    /// Alarms raised so far.
    pub fn alarms(&self) -> Vec<Value> {
        self.ctl(&["alarms"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A node's view (`ctl nodes`): fault, dACL mode and counters.
    pub fn node_view(&self, name: &str) -> Value {
        self.ctl(&["nodes"])
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// A session as the lab holds it.
    pub fn session(&self, id: &str) -> Value {
        self.ctl(&["session", id])
    }

    /// The lab's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The lab's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The ServerPorts of test profiles: the ephemeral ports psn-lab binds.
pub const LAB_SERVER_PORTS: &str = "1024-65535";

/// The keys of a test profile.
#[derive(Debug, Clone)]
pub struct ProfileSpec {
    /// StateSyncProbeInterval (seconds; 0 disables).
    pub interval: u32,
    /// NetworkTransitionDelay (seconds, 2-30).
    pub transition_delay: u32,
    /// CallHomeList entries (`host:port`).
    pub call_home: Vec<String>,
    /// PostureProbingBackupList entries.
    pub backup: Vec<String>,
    /// ServerNameRules.
    pub rules: Option<String>,
    /// ServerPorts: psn-lab listens on ephemeral ports, outside ISE's
    /// 8000-8999 that the agent allows by default.
    pub server_ports: Option<String>,
}

impl ProfileSpec {
    /// Sync every second, the shortest transition delay, discovery at `call_home`.
    pub fn fast(call_home: &str) -> ProfileSpec {
        ProfileSpec {
            interval: 1,
            transition_delay: 2,
            call_home: vec![call_home.to_owned()],
            backup: Vec::new(),
            rules: None,
            server_ports: Some(LAB_SERVER_PORTS.to_owned()),
        }
    }

    /// The profile XML.
    pub fn xml(&self) -> String {
        self.xml_with(&[])
    }

    /// The profile XML with more keys (`name`, text), e.g.
    /// `("ContentCheckPaths", "/srv/x")`, written as given after the others.
    pub fn xml_with(&self, extra: &[(&str, &str)]) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cfg>\n");
        s.push_str(&format!(
            "  <StateSyncProbeInterval>{}</StateSyncProbeInterval>\n",
            self.interval
        ));
        s.push_str(&format!(
            "  <NetworkTransitionDelay>{}</NetworkTransitionDelay>\n",
            self.transition_delay
        ));
        s.push_str(&format!(
            "  <CallHomeList>{}</CallHomeList>\n",
            self.call_home.join(",")
        ));
        if !self.backup.is_empty() {
            s.push_str(&format!(
                "  <PostureProbingBackupList>{}</PostureProbingBackupList>\n",
                self.backup.join(",")
            ));
        }
        if let Some(r) = &self.rules {
            s.push_str(&format!("  <ServerNameRules>{r}</ServerNameRules>\n"));
        }
        if let Some(p) = &self.server_ports {
            s.push_str(&format!("  <ServerPorts>{p}</ServerPorts>\n"));
        }
        for (key, text) in extra {
            s.push_str(&format!("  <{key}>{text}</{key}>\n"));
        }
        s.push_str("</cfg>\n");
        s
    }
}

/// Writes a file by writing a sibling and renaming it over the target, as
/// deployment tools do (the watcher must see one complete version).
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename over the target");
}

/// A running `posture-sync run`.
#[derive(Debug)]
pub struct Agent {
    /// `--state-dir`.
    pub state: PathBuf,
    /// The profile file.
    pub profile: PathBuf,
    stderr: PathBuf,
    child: ChildGuard,
}

impl Agent {
    /// Starts the agent in `root/agent` against `lab` with the profile `spec`.
    pub fn start(root: &Path, lab: &Lab, spec: &ProfileSpec) -> Agent {
        Self::start_with(root, &lab.ca(), &spec.xml())
    }

    /// Starts the agent with a CA file and profile text.
    pub fn start_with(root: &Path, ca: &Path, profile_xml: &str) -> Agent {
        Self::start_launched(root, ca, profile_xml, &Launch::default())
    }

    /// Starts the agent with a CA file and profile text, launched as
    /// `launch` says (the status socket is a file: `status` works from
    /// any network namespace).
    pub fn start_launched(root: &Path, ca: &Path, profile_xml: &str, launch: &Launch) -> Agent {
        let dir = root.join("agent");
        std::fs::create_dir_all(&dir).expect("agent dir");
        let profile = dir.join("profile.xml");
        std::fs::write(&profile, profile_xml).expect("profile");
        let state = dir.join("state");
        let stderr = dir.join("stderr.log");
        let child = launched(&binaries().agent, root, launch)
            .arg("run")
            .arg("--profile")
            .arg(&profile)
            .arg("--state-dir")
            .arg(&state)
            .arg("--log-dir")
            .arg(dir.join("logs"))
            .arg("--ca-file")
            .arg(ca)
            .args(["--mac", MAC])
            .args(roaming_args(launch.roaming))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("posture-sync starts");
        Agent {
            state,
            profile,
            stderr,
            child: ChildGuard(Some(child)),
        }
    }

    /// `posture-sync status --json`: `None` while no agent answers (exit 3).
    pub fn status(&self) -> Option<Value> {
        status_of(&self.state)
    }

    /// What the agent wrote to stderr (its foreground log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until the status satisfies `cond`; returns that status. Fails
    /// at once when the agent exits, and on timeout shows the last status
    /// and the agent's log.
    pub fn wait_for(&mut self, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        // Written by the probe, read by the timeout message.
        let last = std::cell::RefCell::new(None::<Value>);
        let child = &mut self.child;
        let stderr = &self.stderr;
        let state = &self.state;
        test_support::wait_until_every(
            what,
            POLL,
            || {
                if let Some(status) = child.try_wait() {
                    panic!(
                        "posture-sync exited with {status} while waiting for {what}:\n{}",
                        std::fs::read_to_string(stderr).unwrap_or_default()
                    );
                }
                let v = status_of(state)?;
                if cond(&v) {
                    return Some(v);
                }
                *last.borrow_mut() = Some(v);
                None
            },
            || {
                format!(
                    "last status: {}\nagent log:\n{}",
                    last.borrow()
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), Value::to_string),
                    std::fs::read_to_string(stderr).unwrap_or_default()
                )
            },
        )
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let child = &mut self.child;
        wait_until(
            "the agent to exit after SIGTERM",
            || child.try_wait(),
            String::new,
        )
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `posture-sync status --json` for the agent of `state`: `None` while no
/// agent answers (exit 3).
fn status_of(state: &Path) -> Option<Value> {
    let out = command(&binaries().agent, state)
        .arg("status")
        .arg("--state-dir")
        .arg(state)
        .arg("--json")
        .output()
        .expect("posture-sync status runs");
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The setup most end-to-end tests share: a lab in a fresh temp dir, set up
/// by the test, and an agent started against it.
///
/// Fields drop in order: the agent and the lab are killed before their
/// directory is removed.
#[derive(Debug)]
pub struct Scenario {
    /// The running agent.
    pub agent: Agent,
    /// The running lab.
    pub lab: Lab,
    /// The temp dir holding both (`lab/`, `agent/`).
    pub tmp: tempfile::TempDir,
}

impl Scenario {
    /// A lab with the named nodes; `setup` configures it (dACL emulation,
    /// fault modes) and returns the agent's profile, then the agent starts.
    pub fn start(nodes: &[&str], setup: impl FnOnce(&Lab) -> String) -> Scenario {
        let tmp = tempfile::tempdir().expect("temp dir");
        let lab = Lab::start(tmp.path(), nodes, &[]);
        let profile = setup(&lab);
        let agent = Agent::start_with(tmp.path(), &lab.ca(), &profile);
        Scenario { agent, lab, tmp }
    }

    /// The usual deployment: every node's dACL emulation rejects probes of
    /// known postures, and the agent runs [`ProfileSpec::fast`] calling home
    /// to the first node.
    pub fn behind_dacl(nodes: &[&str]) -> Scenario {
        Self::start(nodes, |lab| {
            for node in nodes {
                lab.dacl(node, "reject");
            }
            ProfileSpec::fast(&lab.node(nodes[0]).discovery).xml()
        })
    }

    /// [`Scenario::behind_dacl`], once the agent is known Compliant; the
    /// status that said so.
    pub fn compliant_behind_dacl(nodes: &[&str]) -> (Scenario, Value) {
        let mut s = Self::behind_dacl(nodes);
        let status = s.agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
        (s, status)
    }

    /// A node's addresses.
    pub fn node(&self, name: &str) -> Node {
        self.lab.node(name)
    }
}

/// The status's counter `name` as a number (0 when absent).
pub fn counter(status: &Value, name: &str) -> u64 {
    status["counters"][name].as_u64().unwrap_or(0)
}

/// True when the agent is `known` with `posture`.
pub fn is_known(status: &Value, posture: &str) -> bool {
    status["phase"] == "known" && status["posture"] == posture
}

pub mod netns;
pub mod roaming;

/// True when the tests run as root (uid 0), read from `/proc/self/status`
/// (no libc call: the workspace forbids unsafe code).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// True when `tool args...` runs and exits 0 (a tool is installed).
pub fn tool_runs(tool: &str, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The probe history (`<state dir>/probe-rounds.jsonl`), one value per round.
pub fn probe_history(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("probe-rounds.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Name of the variable CI sets so that a test which would skip (not root, a
/// tool missing) fails instead: a missing install step must not pass as green.
pub const REQUIRE_ALL_VAR: &str = "POSTURE_SYNC_REQUIRE_ALL";

/// Reports a skipped test: prints `SKIPPED test: why` for a developer's run,
/// and panics when [`REQUIRE_ALL_VAR`] is set (CI), where every test must run.
pub fn skipped(test: &str, why: &str) {
    if std::env::var_os(REQUIRE_ALL_VAR).is_some() {
        panic!("{test} cannot run here ({why}), and {REQUIRE_ALL_VAR} requires every test to run");
    }
    eprintln!("SKIPPED {test}: {why}");
}
