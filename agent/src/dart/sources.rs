//! The typed facts a summary is made from, read once from the texts a
//! bundle holds: the status, the probe history, the decisions and the
//! profile's lint. The bundle's `summary.html`, `dart --summary` on a
//! running agent's dirs and `dart --summary FILE.zip` on a bundle all read
//! them here, so the three show the same findings.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use super::history::{self, Rounds};
use super::summary::SummaryInput;
use crate::record::{BundleReasonRecord, RUNS_FILE, RunRecord, TRANSITIONS_FILE, TransitionRecord};
use crate::status_report::StatusReport;

/// The typed facts of one summary.
#[derive(Debug)]
pub struct Facts {
    /// The agent's status, or why there is none (no agent, or a status this
    /// build cannot read).
    pub status: Result<StatusReport, String>,
    /// The last probe rounds.
    pub rounds: Rounds,
    /// The machine's decisions, oldest first.
    pub transitions: Vec<TransitionRecord>,
    /// The warnings `profile check` gives for the profile.
    pub lint: Vec<profile_schema::Diagnostic>,
    /// The agent's starts, stops and failed starts, oldest first.
    pub runs: Vec<RunRecord>,
}

impl Facts {
    /// Reads the facts from the texts: the status as the socket answered
    /// (or why not), `probe-rounds.jsonl`, `transitions.jsonl` and the
    /// profile, if there is one. Never fails: what does not read is said.
    pub fn read(
        status: Result<Value, String>,
        history_text: &str,
        transitions_text: &str,
        runs_text: &str,
        profile_text: Option<&str>,
        rounds: usize,
    ) -> Facts {
        // The same type `status` reads; a reply this build cannot read is
        // reported as such, never searched by key.
        let status = status.and_then(|v| {
            serde_json::from_value::<StatusReport>(v)
                .map_err(|e| format!("the agent answered a status this build cannot read ({e})"))
        });
        let lint = profile_text
            .and_then(|text| profile_schema::Profile::parse(text).ok())
            .map(|loaded| {
                loaded
                    .profile
                    .lint()
                    .into_iter()
                    .filter(|d| d.severity == profile_schema::Severity::Warning)
                    .collect()
            })
            .unwrap_or_default();
        Facts {
            status,
            rounds: history::parse_rounds(history_text, rounds),
            transitions: history::parse_transitions(transitions_text),
            lint,
            runs: crate::runs::parse(runs_text),
        }
    }

    /// The summary's input over these facts.
    pub fn input<'a>(
        &'a self,
        generated: SystemTime,
        host: String,
        reason: Option<&'a BundleReasonRecord>,
        parts: &'a [String],
    ) -> SummaryInput<'a> {
        SummaryInput {
            generated,
            host,
            reason,
            status: self.status.as_ref().map_err(String::as_str),
            rounds: &self.rounds,
            transitions: &self.transitions,
            parts,
            lint: &self.lint,
            missing: &[],
            runs: &self.runs,
            setup: None,
            utc_offset: None,
        }
    }
}

/// Errors reading a bundle for `dart --summary FILE.zip`.
#[derive(Debug, thiserror::Error)]
pub enum ReadBundleError {
    /// The file could not be opened or is no zip.
    #[error("cannot read the diagnostic bundle {}: {why}", path.display())]
    Unreadable {
        /// The bundle.
        path: PathBuf,
        /// What failed.
        why: String,
    },
    /// A zip without the parts a bundle has.
    #[error(
        "{} is not a posture-sync diagnostic bundle (it has no {part})",
        path.display()
    )]
    NotABundle {
        /// The file.
        path: PathBuf,
        /// The part looked for.
        part: &'static str,
    },
}

/// A bundle's status carries session ids as their pseudonyms
/// (`[session-1]`, see redaction in docs/dart.md), which are no session ids
/// the status type accepts (brackets): read back, they become `session-1`.
/// Two keys hold one: `session_id` and the last assessment's `session`.
fn unbracket_session(status: &mut Value) {
    let unbracket = |id: &mut Value| {
        if let Some(label) = id
            .as_str()
            .and_then(|s| s.strip_prefix('['))
            .and_then(|s| s.strip_suffix(']'))
        {
            *id = Value::String(label.to_string());
        }
    };
    if let Some(id) = status.get_mut("session_id") {
        unbracket(id);
    }
    if let Some(id) = status.pointer_mut("/assessment/session") {
        unbracket(id);
    }
}

/// Largest part read back from a bundle (its biggest summary input is the
/// probe history: 200 rounds).
const MAX_READ_BACK: u64 = 16 * 1024 * 1024;

/// A bundle's summary as terminal text, from its parts (already redacted
/// when the bundle was written): the same findings its `summary.html` shows.
pub fn text_of_bundle(path: &Path) -> Result<String, ReadBundleError> {
    let unreadable = |why: String| ReadBundleError::Unreadable {
        path: path.to_path_buf(),
        why,
    };
    let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| unreadable(e.to_string()))?;
    let mut part = |name: &str| -> Option<String> {
        let entry = zip.by_name(name).ok()?;
        let mut bytes = Vec::new();
        entry.take(MAX_READ_BACK).read_to_end(&mut bytes).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let info: Value = part("bundle.json")
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| ReadBundleError::NotABundle {
            path: path.to_path_buf(),
            part: "bundle.json",
        })?;
    let status_text = part("status.json").unwrap_or_default();
    let status: Result<Value, String> = match serde_json::from_str::<Value>(&status_text) {
        Ok(mut v) => match v.get("error").and_then(Value::as_str) {
            Some(e) => Err(e
                .strip_prefix("agent not running: ")
                .unwrap_or(e)
                .to_string()),
            None => {
                unbracket_session(&mut v);
                Ok(v)
            }
        },
        Err(_) => Err("the bundle has no readable status.json".to_string()),
    };
    let history_text = part(crate::paths::PROBE_HISTORY_FILE).unwrap_or_default();
    let transitions_text = part(TRANSITIONS_FILE).unwrap_or_default();
    let runs_text = part(RUNS_FILE).unwrap_or_default();
    // Only a bundled profile is linted: `missing.txt` says when there is none.
    let profile_text = part("profile.xml");
    let facts = Facts::read(
        status,
        &history_text,
        &transitions_text,
        &runs_text,
        profile_text.as_deref(),
        super::DEFAULT_ROUNDS,
    );
    let generated = info
        .get("generated")
        .and_then(Value::as_str)
        .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let reason: Option<BundleReasonRecord> = info
        .get("reason_record")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok());
    let host = info
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("(host not recorded)")
        .to_string();
    let setup: Option<super::service::Setup> = info
        .get("setup")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok());
    let parts: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(std::borrow::Cow::into_owned))
        .collect();
    let mut input = facts.input(generated, host, reason.as_ref(), &parts);
    input.setup = setup.as_ref();
    input.utc_offset = info
        .get("utc_offset_secs")
        .and_then(Value::as_i64)
        .and_then(|o| i32::try_from(o).ok());
    Ok(super::summary::render_text(&input))
}
