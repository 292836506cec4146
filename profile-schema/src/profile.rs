//! The profile: every entry in file order (known keys type-checked, unknown
//! keys kept verbatim), loading with a size cap, typed accessors and the
//! writer.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::diagnostic::{Diagnostic, LineIndex, LoadError, Pos, Severity};
use crate::keys::{self, KeyDef};
use crate::values::{HostPort, ServerNameRules, Value, parse_value};
use crate::xml::{self, ROOT};

/// Profiles larger than this are refused before they are parsed.
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;
/// At most this many notes are returned (then one saying how many more).
pub const MAX_NOTES: usize = 100;

/// One `<Key>value</Key>` of the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    key: String,
    text: String,
    /// The checked value of a known key; `None` for unknown keys.
    value: Option<Value>,
}

impl Entry {
    /// The element name.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The text content, trimmed, with references resolved.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Whether the key is in the table of known keys.
    pub fn is_known(&self) -> bool {
        self.value.is_some()
    }
}

/// A valid profile: every entry in file order, known and unknown.
///
/// Equality compares the entries only, not where they were in the file, so
/// that `parse(write(p)) == p`.
#[derive(Debug, Clone)]
pub struct Profile {
    entries: Vec<Entry>,
    /// Where each entry was in the file (same index as `entries`).
    positions: Vec<Pos>,
    /// Where `<cfg>` was; lint findings about absent keys point here.
    root_pos: Pos,
}

/// The empty profile (`<cfg/>`): every key at its default, state sync disabled.
impl Default for Profile {
    fn default() -> Self {
        Profile {
            entries: Vec::new(),
            positions: Vec::new(),
            root_pos: Pos::START,
        }
    }
}

impl PartialEq for Profile {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}
impl Eq for Profile {}

/// A parsed profile and the notes about it (unknown keys, ignored attributes).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The profile.
    pub profile: Profile,
    /// Notes found while parsing; never errors.
    pub notes: Vec<Diagnostic>,
}

fn trim_xml(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

impl Profile {
    /// Parse profile text. Returns every error found (sorted by position),
    /// or the profile with notes about unknown keys.
    pub fn parse(text: &str) -> Result<Loaded, Vec<Diagnostic>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.len() > MAX_PROFILE_BYTES {
            return Err(vec![Diagnostic::error(
                Pos::START,
                format!(
                    "profile is {} bytes, larger than the limit of {MAX_PROFILE_BYTES} bytes",
                    text.len()
                ),
            )]);
        }
        let raw = xml::read(text);
        let mut errors = raw.errors;
        let mut notes = raw.notes;
        let mut entries = Vec::with_capacity(raw.entries.len());
        let mut positions = Vec::with_capacity(raw.entries.len());
        let mut first_seen: HashMap<&'static str, Pos> = HashMap::new();
        for e in &raw.entries {
            if e.nested {
                continue; // already reported by stage one
            }
            let text = trim_xml(&e.text);
            let value = match keys::find(&e.name) {
                Some(def) => {
                    if let Some(first) = first_seen.get(def.name) {
                        errors.push(
                            Diagnostic::error(
                                e.pos,
                                format!(
                                    "{}: duplicate key (first at {}:{}); a key may appear once",
                                    def.name, first.line, first.column
                                ),
                            )
                            .with_key(def.name),
                        );
                        continue;
                    }
                    first_seen.insert(def.name, e.pos);
                    match parse_value(def, text) {
                        Ok(v) => Some(v),
                        Err(msgs) => {
                            errors.extend(
                                msgs.into_iter()
                                    .map(|m| Diagnostic::error(e.pos, m).with_key(def.name)),
                            );
                            continue;
                        }
                    }
                }
                None => {
                    notes.push(unknown_key_note(&e.name, e.pos));
                    None
                }
            };
            entries.push(Entry {
                key: e.name.clone(),
                text: text.to_owned(),
                value,
            });
            positions.push(e.pos);
        }
        if !errors.is_empty() {
            errors.sort_by_key(|d| (d.line, d.column));
            if raw.truncated || errors.len() > xml::MAX_ERRORS {
                errors.truncate(xml::MAX_ERRORS);
                let last = errors.last().map_or(Pos::START, |d| Pos {
                    line: d.line,
                    column: d.column,
                });
                errors.push(Diagnostic::error(
                    last,
                    format!(
                        "too many errors; only the first {} are shown",
                        xml::MAX_ERRORS
                    ),
                ));
            }
            return Err(errors);
        }
        notes.sort_by_key(|d| (d.line, d.column));
        if notes.len() > MAX_NOTES {
            let more = notes.len() - MAX_NOTES;
            notes.truncate(MAX_NOTES);
            let last = notes.last().map_or(Pos::START, |d| Pos {
                line: d.line,
                column: d.column,
            });
            notes.push(Diagnostic::new(
                Severity::Note,
                last,
                format!("{more} more notes not shown (unknown keys are kept all the same)"),
            ));
        }
        Ok(Loaded {
            profile: Profile {
                entries,
                positions,
                root_pos: raw.root_pos,
            },
            notes,
        })
    }

    /// Read and parse the profile at `path`. A missing or unreadable file is
    /// [`LoadError::Read`] ("no profile"); the size is checked before the file
    /// is read; anything else wrong is [`LoadError::Invalid`].
    pub fn load(path: &Path) -> Result<Loaded, LoadError> {
        let read_err = |source| LoadError::Read {
            path: path.to_owned(),
            source,
        };
        let too_large = |size| LoadError::TooLarge {
            path: path.to_owned(),
            size,
            max: MAX_PROFILE_BYTES as u64,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        if size > MAX_PROFILE_BYTES as u64 {
            return Err(too_large(size));
        }
        // The file may grow between the check and the read: never read more
        // than one byte past the limit.
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(MAX_PROFILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() > MAX_PROFILE_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
                let pos = LineIndex::new(&prefix).pos(valid);
                return Err(LoadError::Invalid {
                    path: path.to_owned(),
                    errors: vec![Diagnostic::error(
                        pos,
                        format!("invalid UTF-8 at byte {valid}; save the profile as UTF-8"),
                    )],
                });
            }
        };
        Profile::parse(&text).map_err(|errors| LoadError::Invalid {
            path: path.to_owned(),
            errors,
        })
    }

    /// Write the profile as XML: declaration, `<cfg>`, one key per line in
    /// the original order, unknown keys included.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(64 + self.entries.len() * 48);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(ROOT);
        out.push_str(">\n");
        for e in &self.entries {
            out.push_str("    <");
            out.push_str(&e.key);
            if e.text.is_empty() {
                out.push_str("/>\n");
            } else {
                out.push('>');
                escape_into(&mut out, &e.text);
                out.push_str("</");
                out.push_str(&e.key);
                out.push_str(">\n");
            }
        }
        out.push_str("</");
        out.push_str(ROOT);
        out.push_str(">\n");
        out
    }

    /// Every entry in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The raw (trimmed) text of any key, known or not; the first occurrence
    /// for a repeated unknown key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.text.as_str())
    }

    fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The checked value of a known key, or the parsed default.
    fn value(&self, key: &str) -> Option<Value> {
        if let Some(v) = self.entry(key).and_then(|e| e.value.clone()) {
            return Some(v);
        }
        let def: &KeyDef = keys::find(key)?;
        // Defaults are valid: the table tests parse every one.
        parse_value(def, def.default).ok()
    }

    fn number(&self, key: &str) -> u32 {
        match self.value(key) {
            Some(Value::Number(n)) => n,
            // Unreachable for numeric keys of the table (tested); 0 is harmless.
            _ => 0,
        }
    }

    fn hosts(&self, key: &str) -> Vec<HostPort> {
        match self.value(key) {
            Some(Value::Hosts(h)) => h,
            _ => Vec::new(),
        }
    }

    /// Where a key was in the file, or where `<cfg>` was when it is absent.
    pub(crate) fn pos_of(&self, key: &str) -> Pos {
        self.entries
            .iter()
            .position(|e| e.key == key)
            .and_then(|i| self.positions.get(i).copied())
            .unwrap_or(self.root_pos)
    }

    /// StateSyncProbeInterval; `None` when state sync is disabled (0 or absent).
    pub fn state_sync_interval(&self) -> Option<Duration> {
        match self.number("StateSyncProbeInterval") {
            0 => None,
            s => Some(Duration::from_secs(u64::from(s))),
        }
    }

    /// NetworkTransitionDelay (default 3 s).
    pub fn network_transition_delay(&self) -> Duration {
        Duration::from_secs(u64::from(self.number("NetworkTransitionDelay")))
    }

    /// PostureProbingBackupList, ports defaulting to 8449; empty when unset.
    pub fn probing_backup_list(&self) -> Vec<HostPort> {
        self.hosts("PostureProbingBackupList")
    }

    /// CallHomeList, ports defaulting to 8443; empty when unset.
    pub fn call_home_list(&self) -> Vec<HostPort> {
        self.hosts("CallHomeList")
    }

    /// DiscoveryHost, port defaulting to 8443.
    pub fn discovery_host(&self) -> Option<HostPort> {
        match self.value("DiscoveryHost") {
            Some(Value::Host(h)) => h,
            _ => None,
        }
    }

    /// ServerNameRules (empty accepts any host).
    pub fn server_name_rules(&self) -> ServerNameRules {
        match self.value("ServerNameRules") {
            Some(Value::Rules(r)) => r,
            _ => ServerNameRules::default(),
        }
    }

    /// DartCount: automatic diagnostic bundles kept (default 3).
    pub fn dart_count(&self) -> u32 {
        self.number("DartCount")
    }

    /// LogFileSize in bytes (the key is in MB, default 5).
    pub fn log_file_size_bytes(&self) -> u64 {
        u64::from(self.number("LogFileSize")) * 1024 * 1024
    }

    /// RemediationTimer (minutes, default 4).
    pub fn remediation_timer(&self) -> Duration {
        Duration::from_secs(u64::from(self.number("RemediationTimer")) * 60)
    }
}

fn unknown_key_note(name: &str, pos: Pos) -> Diagnostic {
    let d = Diagnostic::new(
        Severity::Note,
        pos,
        format!("{name}: unknown key, kept but not used by posture-sync"),
    )
    .with_key(name);
    match keys::find_ignoring_case(name) {
        Some(def) => d.with_help(format!(
            "did you mean {}? key names are case-sensitive",
            def.name
        )),
        None => d,
    }
}

/// Escape text for element content. `\r` is written as a reference because
/// XML readers turn a literal CR into LF.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}
