//! Status for fleet tools that cannot ask the status socket (osquery, JAMF
//! extension attributes, Intune detection scripts, node_exporter):
//! `status.json` in the state dir and, with `run --metrics-dir DIR`,
//! `DIR/posture_sync.prom` for node_exporter's textfile collector
//! (docs/install.md, Fleet tools: status.json and metrics).
//!
//! Both files are rewritten atomically (a temp file and a rename, the
//! agent's one helper) when the [`Trigger`] changes: the phase, the
//! posture, why state sync stopped or the last round's outcome kind within
//! [`MIN_WRITE_INTERVAL`]; counters alone (a round like the one before)
//! within [`COUNTER_WRITE_INTERVAL`]; later changes coalesced into the next
//! write. At a
//! clean stop they are written a last time with `"running": false` and
//! `posture_sync_up 0`, and kept: a fleet tool can tell an agent that stopped
//! (and when) from one that never ran (no file) or died (`running: true`,
//! no agent answering, an old `written_at`).

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use posture_protocol::PostureStatus;

use crate::machine::{PhaseName, State};
use crate::outcome::ProbeOutcome;
use crate::status_report::{AgentInfo, Snapshot, StatusReport};

/// The status file's name in the state dir.
pub const STATUS_FILE: &str = "status.json";
/// The metrics file's name in the metrics dir (node_exporter's textfile
/// collector reads `*.prom`; the temp file's `.tmp` suffix keeps a partly
/// written file out of its sight).
pub const METRICS_FILE: &str = "posture_sync.prom";
/// The shortest time between two writes of the files.
pub const MIN_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a change of the counters alone (a probe round like the one
/// before) waits for the next write: rewriting the files at every round cost
/// more CPU per round than the round itself (docs/benchmarks.md), and a
/// fleet tool reads them minutes apart.
pub const COUNTER_WRITE_INTERVAL: Duration = Duration::from_secs(60);

/// What a step changed in the files' content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Nothing.
    None,
    /// Only counters (written within [`COUNTER_WRITE_INTERVAL`]).
    Counters,
    /// The phase, the posture, the sync state or the last round's outcome
    /// (written within [`MIN_WRITE_INTERVAL`]).
    State,
}
/// The metrics file's mode: node_exporter runs as another user, and the
/// metrics hold nothing secret (no session, no PSN name).
#[cfg(unix)]
const METRICS_MODE: u32 = 0o644;

/// Every phase, in the order the metrics list them.
const PHASES: [PhaseName; 4] = [
    PhaseName::Idle,
    PhaseName::Discovering,
    PhaseName::Assessing,
    PhaseName::Known,
];
/// Every round outcome, in the order the metrics list them.
const OUTCOMES: [ProbeOutcome; 3] = [
    ProbeOutcome::Blocked,
    ProbeOutcome::Status,
    ProbeOutcome::Failed,
];

/// Errors writing the fleet files.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A file could not be written.
    #[error("cannot write the {role} {}: {source}", path.display())]
    Write {
        /// `status file` or `metrics file`.
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The metrics dir is not a directory.
    #[error(
        "the metrics dir {} is not a directory ({source}); create it or give --metrics-dir an existing directory that node_exporter's --collector.textfile.directory reads",
        path.display()
    )]
    MetricsDir {
        /// The dir.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Checks `--metrics-dir` at start: it must exist and be a directory (the
/// agent does not create it: node_exporter's configuration names it).
pub fn check_metrics_dir(dir: &Path) -> Result<(), FleetError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(FleetError::MetricsDir {
            path: dir.to_owned(),
            source: io::Error::other("it is a file"),
        }),
        Err(source) => Err(FleetError::MetricsDir {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// What decides a rewrite of the files: they change exactly when this does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The phase.
    pub phase: PhaseName,
    /// The posture.
    pub posture: PostureStatus,
    /// Whether state sync stopped on a misconfiguration.
    pub sync_stopped: bool,
    /// Finished probe rounds.
    pub probe_rounds: u64,
    /// Discoveries restarted by a probe.
    pub discovery_restarts: u64,
    /// Confirmed dACL misconfigurations.
    pub misconfigurations: u64,
    /// The last round's outcome kind.
    pub last_outcome: Option<ProbeOutcome>,
}

impl Trigger {
    /// Whether `other` differs from `self` in its counters only.
    fn same_state(&self, other: &Trigger) -> bool {
        (
            self.phase,
            self.posture,
            self.sync_stopped,
            self.last_outcome,
        ) == (
            other.phase,
            other.posture,
            other.sync_stopped,
            other.last_outcome,
        )
    }

    /// The trigger of the machine's state.
    pub fn of(state: &State) -> Trigger {
        let counters = state.counters();
        Trigger {
            phase: state.phase().name(),
            posture: state.posture(),
            sync_stopped: state.sync_stop().is_some(),
            probe_rounds: counters.probe_rounds,
            discovery_restarts: counters.discovery_restarts,
            misconfigurations: counters.misconfigurations,
            last_outcome: state.last_probe().map(|lp| lp.verdict.kind()),
        }
    }
}

/// Probe rounds by outcome since the agent started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundsByOutcome([u64; OUTCOMES.len()]);

impl RoundsByOutcome {
    /// The rounds that ended with `outcome`.
    pub fn get(&self, outcome: ProbeOutcome) -> u64 {
        self.0[index(outcome)]
    }
}

fn index(outcome: ProbeOutcome) -> usize {
    match outcome {
        ProbeOutcome::Blocked => 0,
        ProbeOutcome::Status => 1,
        ProbeOutcome::Failed => 2,
    }
}

/// Follows the daemon's steps and says when the files are due.
#[derive(Debug, Default)]
pub struct Tracker {
    last: Option<Trigger>,
    rounds: RoundsByOutcome,
}

impl Tracker {
    /// Takes in one step's trigger; says what differs from the last one
    /// (how soon the files are due). Rounds finished since the last step count
    /// for the last round's outcome: the daemon publishes after every step
    /// and a round is one step, so more than one round between two
    /// observed steps does not happen at probe intervals of seconds.
    pub fn observe(&mut self, now: Trigger) -> Change {
        let before = self.last.as_ref().map_or(0, |t| t.probe_rounds);
        if let Some(outcome) = now.last_outcome {
            self.rounds.0[index(outcome)] += now.probe_rounds.saturating_sub(before);
        }
        let change = match &self.last {
            Some(last) if *last == now => Change::None,
            Some(last) if last.same_state(&now) => Change::Counters,
            _ => Change::State,
        };
        self.last = Some(now);
        change
    }

    /// Probe rounds by outcome so far.
    pub fn rounds(&self) -> RoundsByOutcome {
        self.rounds
    }
}

/// Where the files go, and what the agent adds to every report.
#[derive(Debug, Clone)]
pub struct FleetFiles {
    /// `<state dir>/status.json`.
    pub status: PathBuf,
    /// `<metrics dir>/posture_sync.prom`, with `--metrics-dir`.
    pub metrics: Option<PathBuf>,
    /// The run's facts (`profile`).
    pub info: AgentInfo,
}

impl FleetFiles {
    /// The files of an agent with `state_dir` and maybe a metrics dir.
    pub fn new(state_dir: &Path, metrics_dir: Option<&Path>, info: AgentInfo) -> FleetFiles {
        FleetFiles {
            status: state_dir.join(STATUS_FILE),
            metrics: metrics_dir.map(|d| d.join(METRICS_FILE)),
            info,
        }
    }

    /// Renders both files for `snapshot`: the status file's bytes and, with
    /// a metrics dir, the metrics text. `None` before the daemon's first
    /// step (there is no state to report yet).
    pub fn render(
        &self,
        snapshot: &Snapshot,
        rounds: RoundsByOutcome,
        running: bool,
        written_at: SystemTime,
    ) -> Option<(Vec<u8>, Option<String>)> {
        snapshot.state()?;
        let mut value = snapshot.to_value_with(&self.info);
        let report = serde_json::from_value::<StatusReport>(value.clone()).ok()?;
        if let Some(object) = value.as_object_mut() {
            object.insert("running".into(), running.into());
            object.insert(
                "written_at".into(),
                humantime::format_rfc3339_millis(written_at)
                    .to_string()
                    .into(),
            );
        }
        // Serializing a Value cannot fail: its map keys are strings.
        let mut json = serde_json::to_vec_pretty(&value).ok()?;
        json.push(b'\n');
        let metrics = self
            .metrics
            .as_ref()
            .map(|_| metrics_text(&report, rounds, running));
        Some((json, metrics))
    }

    /// Writes what [`FleetFiles::render`] made. Blocking: call it on the
    /// blocking pool. Every file is tried; the first error is returned.
    pub fn write(&self, status: &[u8], metrics: Option<&str>) -> Result<(), FleetError> {
        let status_result =
            crate::paths::write_atomically(&self.status, status).map_err(|source| {
                FleetError::Write {
                    role: "status file",
                    path: self.status.clone(),
                    source,
                }
            });
        let metrics_result = match (&self.metrics, metrics) {
            (Some(path), Some(text)) => {
                write_public(path, text.as_bytes()).map_err(|source| FleetError::Write {
                    role: "metrics file",
                    path: path.clone(),
                    source,
                })
            }
            _ => Ok(()),
        };
        status_result.and(metrics_result)
    }
}

/// [`crate::paths::write_atomically`]'s temp file and rename, with the file
/// readable by others ([`METRICS_MODE`]) before it gets its name.
fn write_public(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other("the path has no parent directory"));
    };
    let mut tmp =
        crate::paths::PrivateTemp::new_in(dir, &format!(".{}.", name.to_string_lossy()), ".tmp")?;
    tmp.file().write_all(bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // Through the open descriptor: the name could be swapped meanwhile.
        tmp.file()
            .set_permissions(std::fs::Permissions::from_mode(METRICS_MODE))?;
    }
    tmp.persist(path)?;
    Ok(())
}

/// One metric family: its HELP and TYPE lines and samples.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

// Counters of a laptop agent stay far below 2^53, where f64 is exact.
fn one(value: u64) -> Vec<(String, f64)> {
    vec![(String::new(), value as f64)]
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// The metrics file: the Prometheus text format (version 0.0.4) that
/// node_exporter's textfile collector reads, no timestamps (the collector
/// refuses them; it adds the file's mtime as
/// `node_textfile_mtime_seconds`).
pub fn metrics_text(report: &StatusReport, rounds: RoundsByOutcome, up: bool) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "posture_sync_up",
        "gauge",
        "1 while the agent runs, 0 after it stopped cleanly.",
        &[(String::new(), flag(up))],
    );
    let phases: Vec<_> = PHASES
        .iter()
        .map(|p| (format!("{{phase=\"{p}\"}}"), flag(*p == report.phase)))
        .collect();
    family(
        &mut out,
        "posture_sync_phase",
        "gauge",
        "The agent's phase: 1 for the current one.",
        &phases,
    );
    let postures: Vec<_> = PostureStatus::ALL
        .iter()
        .map(|p| (format!("{{posture=\"{p}\"}}"), flag(*p == report.posture)))
        .collect();
    family(
        &mut out,
        "posture_sync_posture",
        "gauge",
        "The posture as the agent holds it: 1 for the current one.",
        &postures,
    );
    family(
        &mut out,
        "posture_sync_sync_enabled",
        "gauge",
        "1 while state sync probing is in force.",
        &[(String::new(), flag(report.sync.enabled))],
    );
    family(
        &mut out,
        "posture_sync_probe_rounds_total",
        "counter",
        "Finished state sync probe rounds since the agent started.",
        &one(report.counters.probe_rounds),
    );
    let by_outcome: Vec<_> = OUTCOMES
        .iter()
        .map(|o| (format!("{{outcome=\"{o}\"}}"), rounds.get(*o) as f64))
        .collect();
    family(
        &mut out,
        "posture_sync_probe_rounds_by_outcome_total",
        "counter",
        "Finished probe rounds since the agent started, by outcome (blocked, status, failed).",
        &by_outcome,
    );
    family(
        &mut out,
        "posture_sync_discovery_restarts_total",
        "counter",
        "Discoveries restarted by a probe since the agent started.",
        &one(report.counters.discovery_restarts),
    );
    family(
        &mut out,
        "posture_sync_misconfigurations_total",
        "counter",
        "Confirmed dACL misconfigurations since the agent started.",
        &one(report.counters.misconfigurations),
    );
    let last = report
        .last_probe
        .as_ref()
        .and_then(|p| humantime::parse_rfc3339(&p.at).ok())
        .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok());
    if let Some(at) = last {
        family(
            &mut out,
            "posture_sync_last_probe_timestamp_seconds",
            "gauge",
            "When the last probe round finished, in seconds since the Unix epoch (absent before the first).",
            &[(String::new(), at.as_secs_f64())],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trigger(phase: PhaseName, rounds: u64, outcome: Option<ProbeOutcome>) -> Trigger {
        Trigger {
            phase,
            posture: PostureStatus::Compliant,
            sync_stopped: false,
            probe_rounds: rounds,
            discovery_restarts: 0,
            misconfigurations: 0,
            last_outcome: outcome,
        }
    }

    #[test]
    fn files_are_due_on_a_change_only_and_rounds_count_by_outcome() {
        let mut t = Tracker::default();
        let mut see = |phase, rounds, outcome| t.observe(trigger(phase, rounds, outcome));
        assert_eq!(see(PhaseName::Discovering, 0, None), Change::State);
        // The same step again (a step that changed nothing we report).
        assert_eq!(see(PhaseName::Discovering, 0, None), Change::None);
        assert_eq!(see(PhaseName::Known, 0, None), Change::State);
        // The first round: its outcome is new.
        assert_eq!(
            see(PhaseName::Known, 1, Some(ProbeOutcome::Blocked)),
            Change::State
        );
        assert_eq!(
            see(PhaseName::Known, 1, Some(ProbeOutcome::Blocked)),
            Change::None
        );
        // A round like the one before: counters only, written later.
        assert_eq!(
            see(PhaseName::Known, 2, Some(ProbeOutcome::Blocked)),
            Change::Counters
        );
        assert_eq!(
            see(PhaseName::Known, 3, Some(ProbeOutcome::Status)),
            Change::State
        );
        let r = t.rounds();
        assert_eq!(
            (
                r.get(ProbeOutcome::Blocked),
                r.get(ProbeOutcome::Status),
                r.get(ProbeOutcome::Failed)
            ),
            (2, 1, 0)
        );
    }

    fn report() -> StatusReport {
        serde_json::from_value(json!({
            "phase": "known",
            "posture": "NonCompliant",
            "session_id": "0a0b0c0d",
            "connected_psn": "127.0.0.1:8443",
            "sync": { "enabled": true, "stopped_reason": null },
            "last_probe": { "at": "2026-11-21T22:00:00.500Z", "target": "127.0.0.1:8449", "outcome": "blocked" },
            "counters": { "probe_rounds": 12, "discovery_restarts": 1, "misconfigurations": 0 }
        }))
        .unwrap()
    }

    /// The text format's rules for what we write: every family has one
    /// HELP and one TYPE line before its samples, names and labels are
    /// well formed, values are numbers, no timestamps; returns the samples.
    fn parse(text: &str) -> Vec<(String, String, f64)> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !n.starts_with(|c: char| c.is_ascii_digit())
        };
        let mut typed = std::collections::BTreeMap::new();
        let mut helped = std::collections::BTreeSet::new();
        let mut samples = Vec::new();
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, _) = rest.split_once(' ').unwrap();
                assert!(helped.insert(name.to_owned()), "second HELP: {line}");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["gauge", "counter"].contains(&kind), "{line}");
                assert!(
                    typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "{line}"
                );
            } else {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
                let (name, labels) = match series.split_once('{') {
                    Some((n, l)) => (n, l.strip_suffix('}').unwrap()),
                    None => (series, ""),
                };
                assert!(name_ok(name), "{line}");
                assert!(typed.contains_key(name) && helped.contains(name), "{line}");
                if typed[name] == "counter" {
                    assert!(name.ends_with("_total") && value >= 0.0, "{line}");
                }
                for pair in labels.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap();
                    assert!(name_ok(k), "{line}");
                    assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
                }
                samples.push((name.to_owned(), labels.to_owned(), value));
            }
        }
        samples
    }

    fn value(samples: &[(String, String, f64)], name: &str, labels: &str) -> f64 {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in {samples:?}"))
            .2
    }

    #[test]
    fn metrics_are_one_hot_counted_and_well_formed() {
        let mut t = Tracker::default();
        t.observe(trigger(PhaseName::Known, 10, Some(ProbeOutcome::Failed)));
        t.observe(trigger(PhaseName::Known, 12, Some(ProbeOutcome::Blocked)));
        let text = metrics_text(&report(), t.rounds(), true);
        let s = parse(&text);
        assert_eq!(value(&s, "posture_sync_up", ""), 1.0);
        for (phase, v) in [
            ("idle", 0.0),
            ("discovering", 0.0),
            ("assessing", 0.0),
            ("known", 1.0),
        ] {
            assert_eq!(
                value(&s, "posture_sync_phase", &format!("phase=\"{phase}\"")),
                v
            );
        }
        let postures: f64 = s
            .iter()
            .filter(|(n, _, _)| n == "posture_sync_posture")
            .map(|(_, _, v)| v)
            .sum();
        assert_eq!(postures, 1.0);
        assert_eq!(
            value(&s, "posture_sync_posture", "posture=\"NonCompliant\""),
            1.0
        );
        assert_eq!(value(&s, "posture_sync_probe_rounds_total", ""), 12.0);
        assert_eq!(
            value(
                &s,
                "posture_sync_probe_rounds_by_outcome_total",
                "outcome=\"failed\""
            ),
            10.0
        );
        assert_eq!(
            value(
                &s,
                "posture_sync_probe_rounds_by_outcome_total",
                "outcome=\"blocked\""
            ),
            2.0
        );
        assert_eq!(value(&s, "posture_sync_discovery_restarts_total", ""), 1.0);
        assert_eq!(value(&s, "posture_sync_misconfigurations_total", ""), 0.0);
        assert_eq!(
            value(&s, "posture_sync_last_probe_timestamp_seconds", ""),
            1_795_298_400.5
        );
        // Stopped: up 0; before the first probe, no probe timestamp.
        let mut fresh = report();
        fresh.last_probe = None;
        let text = metrics_text(&fresh, RoundsByOutcome::default(), false);
        let s = parse(&text);
        assert_eq!(value(&s, "posture_sync_up", ""), 0.0);
        assert!(
            !text.contains("posture_sync_last_probe_timestamp_seconds"),
            "{text}"
        );
    }

    #[test]
    fn a_fixed_report_renders_nothing() {
        let files = FleetFiles::new(Path::new("/s"), None, AgentInfo::default());
        let snap = Snapshot::fixed(serde_json::to_value(report()).unwrap());
        assert!(
            files
                .render(
                    &snap,
                    RoundsByOutcome::default(),
                    true,
                    SystemTime::UNIX_EPOCH
                )
                .is_none()
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_replaced_whole_status_private_metrics_readable() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let metrics_dir = tmp.path().join("textfile");
        assert!(check_metrics_dir(&metrics_dir).is_err());
        std::fs::create_dir(&metrics_dir).unwrap();
        check_metrics_dir(&metrics_dir).unwrap();
        let files = FleetFiles::new(tmp.path(), Some(&metrics_dir), AgentInfo::default());
        // A link planted at the metrics file's name is replaced, not followed.
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, metrics_dir.join(METRICS_FILE)).unwrap();
        files.write(b"{}\n", Some("posture_sync_up 1\n")).unwrap();
        files
            .write(b"{\"a\":1}\n", Some("posture_sync_up 0\n"))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join(STATUS_FILE)).unwrap(),
            "{\"a\":1}\n"
        );
        let prom = metrics_dir.join(METRICS_FILE);
        assert_eq!(
            std::fs::read_to_string(&prom).unwrap(),
            "posture_sync_up 0\n"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&prom), 0o644);
        assert_eq!(mode(&tmp.path().join(STATUS_FILE)), 0o600);
        // No temp file left behind.
        assert_eq!(std::fs::read_dir(&metrics_dir).unwrap().count(), 1);
    }
}
