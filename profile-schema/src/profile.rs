//! The profile: every entry in file order (known keys type-checked, unknown
//! keys kept verbatim), loading with a size cap, typed accessors and the
//! writer.
//!
//! Only the keys the agent uses ([`KeyDef::used`]) can make a profile
//! invalid. A key the agent does not use is kept as written whatever its
//! value: a value that does not fit posture-sync's idea of the key is a lint
//! warning, because the vendor's agent and ISE may accept it.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::diagnostic::{Diagnostic, LineIndex, LoadError, Pos, Severity};
use crate::keys::{self, KeyDef};
use crate::values::{HostPort, PortRanges, ServerNameRules, Value, parse_value};
use crate::xml::{self, ROOT};

/// Profiles larger than this are refused before they are parsed.
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;
/// At most this many notes are returned (then one saying how many more).
pub const MAX_NOTES: usize = 100;

/// One `<Key>value</Key>` of the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    key: String,
    /// The trimmed text, or the trimmed inner XML when `markup` is set.
    text: String,
    /// The element holds elements: `text` is XML, written back as it is.
    markup: bool,
    /// Attributes as written, kept for unknown keys only (known keys hold
    /// plain values; their attributes are ignored with a note).
    attributes: String,
    /// The key's table entry; `None` for unknown keys.
    def: Option<&'static KeyDef>,
    check: Check,
}

/// What stage two made of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// Not in the table of known keys.
    Unknown,
    /// A known key with a valid value.
    Valid(Value),
    /// A known key the agent does not use whose value does not fit the
    /// table (the messages say how); kept as written and linted.
    Unfit(Vec<String>),
}

impl Entry {
    /// The element name.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The text content, trimmed, with references resolved; for an element
    /// that holds elements, its inner XML exactly as written (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Whether the key is in the table of known keys.
    pub fn is_known(&self) -> bool {
        !matches!(self.check, Check::Unknown)
    }
    /// Whether the element holds elements (its [`text`](Self::text) is XML).
    /// Only keys the agent does not use may.
    pub fn holds_elements(&self) -> bool {
        self.markup
    }
    /// The attributes of an unknown key's element as written (empty when
    /// none); they are written back. Known keys never keep attributes.
    pub fn attributes(&self) -> &str {
        &self.attributes
    }
    pub(crate) fn check(&self) -> &Check {
        &self.check
    }
    pub(crate) fn def(&self) -> Option<&'static KeyDef> {
        self.def
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

/// Opens `path` for reading when it is a regular file (a symbolic link to
/// one is followed). Anything else is an error of kind
/// [`std::io::ErrorKind::InvalidInput`] that says what the path is: reading
/// a FIFO blocks until a writer comes, a device can be endless or have side
/// effects, and neither is a profile. Checked before the open (so a device
/// is never opened) and again on the open file (the path may have been
/// swapped in between); on Unix the open is non-blocking, so a FIFO swapped
/// in cannot block it either. Reads of a regular file ignore the flag.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let before = std::fs::metadata(path)?;
    if !before.is_file() {
        return Err(not_regular(before.file_type()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let opened = file.metadata()?;
    if !opened.is_file() {
        return Err(not_regular(opened.file_type()));
    }
    Ok(file)
}

fn not_regular(kind: std::fs::FileType) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "it is {}, not a regular file; a profile must be a regular file",
            describe(kind)
        ),
    )
}

/// What a non-regular file is, for an administrator.
fn describe(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "something other than a file"
    }
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
            let (text, markup) = match &e.child {
                Some(_) => (trim_xml(&e.markup), true),
                None => (trim_xml(&e.text), false),
            };
            let mut attributes = String::new();
            let def = keys::find(&e.name);
            let check = match def {
                None => {
                    notes.push(unknown_key_note(&e.name, e.pos, markup));
                    // An unknown element is kept whole, attributes included.
                    attributes.clone_from(&e.attributes);
                    Check::Unknown
                }
                Some(def) => {
                    if !e.attributes.is_empty() {
                        notes.push(ignored_attributes_note(def.name, e.pos));
                    }
                    if let Some(first) = first_seen.get(def.name)
                        && def.used
                    {
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
                    // A repeated unused key is kept and linted.
                    first_seen.entry(def.name).or_insert(e.pos);
                    let checked = match &e.child {
                        Some((child, child_pos)) => {
                            let what = if def.used {
                                "this key holds plain text:"
                            } else {
                                "allowed is"
                            };
                            let allowed = def.ty.allowed();
                            let m = format!(
                                "{0}: element <{child}> inside <{0}>; {what} {allowed}",
                                def.name
                            );
                            Err((*child_pos, vec![m]))
                        }
                        None => parse_value(def, text).map_err(|m| (e.pos, m)),
                    };
                    match checked {
                        Ok(v) => Check::Valid(v),
                        // Linted at the key; see `Profile::lint`.
                        Err((_, msgs)) if !def.used => Check::Unfit(msgs),
                        Err((pos, msgs)) => {
                            errors.extend(
                                msgs.into_iter()
                                    .map(|m| Diagnostic::error(pos, m).with_key(def.name)),
                            );
                            continue;
                        }
                    }
                }
            };
            entries.push(Entry {
                key: e.name.clone(),
                text: text.to_owned(),
                markup,
                attributes,
                def,
                check,
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
    /// [`LoadError::Read`] ("no profile"), and so is anything but a regular
    /// file (see [`open_regular`]); the size is checked before the file is
    /// read and at most one byte past [`MAX_PROFILE_BYTES`] is ever read;
    /// anything else wrong is [`LoadError::Invalid`].
    ///
    /// This blocks on the file system: async callers run it on a blocking
    /// pool thread (the agent's reload watcher does).
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
        let file = open_regular(path).map_err(read_err)?;
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
            if !e.attributes.is_empty() {
                out.push(' ');
                out.push_str(&e.attributes);
            }
            if e.text.is_empty() {
                out.push_str("/>\n");
            } else {
                out.push('>');
                if e.markup {
                    // Inner XML checked by the reader: written as read.
                    out.push_str(&e.text);
                } else {
                    escape_into(&mut out, &e.text);
                }
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
        let def: &KeyDef = keys::find(key)?;
        // The typed accessors read only keys marked used: an unused key may
        // hold anything (see the module doc), so reading one would quietly
        // return the default. Programming error, caught by the tests.
        debug_assert!(def.used, "{key} is read by an accessor but not marked used");
        if let Some(Check::Valid(v)) = self.entry(key).map(|e| &e.check) {
            return Some(v.clone());
        }
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

    /// Every entry with where it was in the file.
    pub(crate) fn positioned_entries(&self) -> impl Iterator<Item = (&Entry, Pos)> {
        self.entries.iter().zip(self.positions.iter().copied())
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

    /// ServerNameRules as the agent applies them: the written patterns, or,
    /// when the key is empty or absent, the rules derived from the hosts this
    /// profile names ([`ServerNameRules::derived`]; no named host gives rules
    /// that accept no host).
    pub fn server_name_rules(&self) -> ServerNameRules {
        match self.value("ServerNameRules") {
            Some(Value::Rules(r)) if !r.patterns().is_empty() => r,
            _ => {
                let named: Vec<HostPort> = self
                    .discovery_host()
                    .into_iter()
                    .chain(self.call_home_list())
                    .chain(self.probing_backup_list())
                    .collect();
                ServerNameRules::derived(named.iter().map(|h| h.host().as_str()))
            }
        }
    }

    /// ServerPorts: the ports a PSN may name for state sync (default 8000-8999).
    pub fn server_ports(&self) -> PortRanges {
        match self.value("ServerPorts") {
            Some(Value::Ports(p)) => p,
            // The default parses (tested in the key table); ISE's range.
            _ => PortRanges::parse("8000-8999").unwrap_or_else(|_| PortRanges::none()),
        }
    }

    /// ContentCheckPaths: absolute path prefixes content checks may read
    /// (empty by default).
    pub fn content_check_paths(&self) -> Vec<String> {
        match self.value("ContentCheckPaths") {
            Some(Value::Paths(p)) => p,
            _ => Vec::new(),
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
}

fn ignored_attributes_note(name: &str, pos: Pos) -> Diagnostic {
    Diagnostic::new(
        Severity::Note,
        pos,
        format!("{name}: attributes on <{name}> are ignored and not written back"),
    )
    .with_key(name)
}

fn unknown_key_note(name: &str, pos: Pos, holds_elements: bool) -> Diagnostic {
    let what = if holds_elements {
        "unknown key holding elements, kept as written"
    } else {
        "unknown key, kept"
    };
    let d = Diagnostic::new(
        Severity::Note,
        pos,
        format!("{name}: {what} but not used by posture-sync"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Loaded {
        Profile::parse(text).unwrap_or_else(|e| panic!("must be valid: {e:?}\n{text}"))
    }

    fn shown(ds: &[Diagnostic]) -> Vec<String> {
        ds.iter().map(ToString::to_string).collect()
    }

    /// The reproduction from the review: a real ISE profile with values
    /// outside posture-sync's ranges for keys the agent does not use.
    const UNUSED: &str = "<cfg>
  <StateSyncProbeInterval>60</StateSyncProbeInterval>
  <NetworkTransitionDelay>10</NetworkTransitionDelay>
  <VlanDetectInterval>1000</VlanDetectInterval>
  <WarningTimer>2000</WarningTimer>
  <PingArp>3</PingArp>
  <SignatureCheck>2</SignatureCheck>
  <RemediationTimer>0</RemediationTimer>
</cfg>";

    #[test]
    fn bad_values_of_unused_keys_are_accepted_and_kept_as_written() {
        let loaded = parse_ok(UNUSED);
        let p = &loaded.profile;
        assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
        assert_eq!(p.get("VlanDetectInterval"), Some("1000"));
        assert_eq!(p.get("WarningTimer"), Some("2000"));
        assert_eq!(p.get("PingArp"), Some("3"));
        assert_eq!(p.get("SignatureCheck"), Some("2"));
        assert!(p.entries().iter().all(Entry::is_known));
        // The keys the agent uses are read normally.
        assert_eq!(p.state_sync_interval(), Some(Duration::from_secs(60)));
        // Written back unchanged.
        let written = p.to_xml();
        for line in [
            "<VlanDetectInterval>1000</VlanDetectInterval>",
            "<WarningTimer>2000</WarningTimer>",
            "<PingArp>3</PingArp>",
            "<SignatureCheck>2</SignatureCheck>",
            "<RemediationTimer>0</RemediationTimer>",
        ] {
            assert!(written.contains(line), "{line} missing in\n{written}");
        }
        assert_eq!(parse_ok(&written).profile, *p);
    }

    #[test]
    fn bad_values_of_unused_keys_are_lint_warnings_naming_key_place_and_range() {
        let lint = parse_ok(UNUSED).profile.lint();
        let unused: Vec<&Diagnostic> = lint
            .iter()
            .filter(|d| d.message.contains("the agent does not use this key"))
            .collect();
        assert_eq!(
            shown(&unused.iter().copied().cloned().collect::<Vec<_>>()),
            vec![
                "4:3: warning: VlanDetectInterval: 1000 is out of range 0-900; the agent does not use this key; ISE may",
                "5:3: warning: WarningTimer: 2000 is out of range 0-1440; the agent does not use this key; ISE may",
                "6:3: warning: PingArp: 3 is out of range 0-2; the agent does not use this key; ISE may",
                "7:3: warning: SignatureCheck: `2` is not allowed; use 0 or 1; the agent does not use this key; ISE may",
                "8:3: warning: RemediationTimer: 0 is out of range 1-300; the agent does not use this key; ISE may",
            ]
        );
        assert_eq!(unused[0].key.as_deref(), Some("VlanDetectInterval"));
        assert_eq!(unused[0].severity, Severity::Warning);
        let help = unused[0].help.as_deref().unwrap_or_default();
        assert!(help.contains("the profile is accepted"), "{help}");
        assert!(
            help.contains("range 0-900 s chosen by posture-sync"),
            "{help}"
        );
        let help = unused[3].help.as_deref().unwrap_or_default();
        assert!(help.contains("the vendor documents 0 or 1"), "{help}");
        assert_eq!(unused.len(), 5, "{lint:?}");
    }

    #[test]
    fn bad_values_of_used_keys_stay_errors() {
        for (text, want) in [
            (
                "<cfg><StateSyncProbeInterval>301</StateSyncProbeInterval></cfg>",
                "1:6: StateSyncProbeInterval: 301 is out of range 0-300",
            ),
            (
                "<cfg><DartCount>-1</DartCount></cfg>",
                "1:6: DartCount: `-1` is not a whole number (allowed 0-100)",
            ),
            (
                "<cfg><LogFileSize>0</LogFileSize></cfg>",
                "1:6: LogFileSize: 0 is out of range 1-100",
            ),
            (
                "<cfg><DiscoveryHost>a b</DiscoveryHost></cfg>",
                "1:6: DiscoveryHost: `a b`: `a b` is not a valid host name (` ` is not allowed; use letters, digits, `-`, `.`)",
            ),
        ] {
            let errors = Profile::parse(text).expect_err(text);
            assert_eq!(shown(&errors), vec![want], "{text}");
        }
    }

    #[test]
    fn non_numbers_and_repeats_of_unused_keys_are_warnings_not_errors() {
        let text = "<cfg>\n<WarningTimer>soon</WarningTimer>\n<PingArp>1</PingArp>\n<PingArp>2</PingArp>\n</cfg>";
        let p = parse_ok(text).profile;
        assert_eq!(p.get("PingArp"), Some("1"), "the first one is read");
        assert_eq!(p.entries().len(), 3, "both PingArp kept");
        let lint = shown(&p.lint());
        assert!(
            lint.contains(&"2:1: warning: WarningTimer: `soon` is not a whole number of minutes (allowed 0-1440); the agent does not use this key; ISE may".to_owned()),
            "{lint:?}"
        );
        assert!(
            lint.contains(&"4:1: warning: PingArp: duplicate key (first at 3:1); the agent does not use this key; ISE may".to_owned()),
            "{lint:?}"
        );
        assert_eq!(parse_ok(&p.to_xml()).profile, p);
        // A repeated key the agent uses is still an error.
        let errors = Profile::parse("<cfg><DartCount>1</DartCount><DartCount>2</DartCount></cfg>")
            .expect_err("duplicate used key");
        assert_eq!(
            shown(&errors),
            vec!["1:30: DartCount: duplicate key (first at 1:6); a key may appear once"]
        );
    }

    #[test]
    fn unknown_keys_holding_elements_are_kept_as_written() {
        // The review's reproduction.
        let loaded = parse_ok(
            "<cfg><Foo><Bar>1</Bar></Foo><DiscoveryHost>a.corp.example</DiscoveryHost></cfg>",
        );
        let p = &loaded.profile;
        let foo = &p.entries()[0];
        assert_eq!(foo.key(), "Foo");
        assert!(foo.holds_elements());
        assert!(!foo.is_known());
        assert_eq!(foo.text(), "<Bar>1</Bar>");
        assert_eq!(p.get("Foo"), Some("<Bar>1</Bar>"));
        assert_eq!(
            shown(&loaded.notes),
            vec![
                "1:6: note: Foo: unknown key holding elements, kept as written but not used by posture-sync"
            ]
        );
        assert!(
            p.to_xml().contains("    <Foo><Bar>1</Bar></Foo>\n"),
            "{}",
            p.to_xml()
        );
        assert_eq!(parse_ok(&p.to_xml()).profile, *p);
        assert_eq!(
            p.discovery_host().map(|h| h.to_string()),
            Some("a.corp.example:8443".into())
        );
    }

    #[test]
    fn inner_xml_keeps_attributes_comments_cdata_references_and_layout() {
        let inner = "<Rule id=\"r1\" kind='av'>\n      <Name>Defender &amp; co</Name>\n      <!-- vendor comment -->\n      <Script><![CDATA[if (a < b) { run(); }]]></Script>\n      <?vendor hint?>\n      <Empty/>text&#x41;\n    </Rule>";
        let text = format!(
            "<cfg>\n  <VendorRules version=\"2\">\n    {inner}\n  </VendorRules>\n</cfg>\n"
        );
        let loaded = parse_ok(&text);
        let e = &loaded.profile.entries()[0];
        assert_eq!(e.text(), inner, "trimmed, otherwise byte for byte");
        assert_eq!(e.attributes(), "version=\"2\"");
        let written = loaded.profile.to_xml();
        assert!(
            written.contains(&format!(
                "    <VendorRules version=\"2\">{inner}</VendorRules>\n"
            )),
            "{written}"
        );
        let again = parse_ok(&written);
        assert_eq!(again.profile, loaded.profile);
        assert_eq!(again.profile.to_xml(), written, "writing is stable");
    }

    #[test]
    fn unknown_keys_with_text_drop_comments_and_resolve_cdata() {
        let p = parse_ok("<cfg><Foo a=\"1\">x<!-- c --><![CDATA[<b>]]>y</Foo></cfg>").profile;
        let e = &p.entries()[0];
        assert!(!e.holds_elements());
        assert_eq!(e.text(), "x<b>y");
        assert_eq!(e.attributes(), "a=\"1\"");
        assert!(
            p.to_xml().contains("<Foo a=\"1\">x&lt;b&gt;y</Foo>"),
            "{}",
            p.to_xml()
        );
        assert_eq!(parse_ok(&p.to_xml()).profile, p);
        // Empty unknown element with attributes.
        let p = parse_ok("<cfg><Foo  x='1'\n y=\"&lt;2\" /></cfg>").profile;
        assert_eq!(p.entries()[0].attributes(), "x='1'\n y=\"&lt;2\"");
        assert!(
            p.to_xml().contains("<Foo x='1'\n y=\"&lt;2\"/>"),
            "{}",
            p.to_xml()
        );
        assert_eq!(parse_ok(&p.to_xml()).profile, p);
    }

    #[test]
    fn attributes_on_known_keys_are_noted_and_dropped() {
        let loaded = parse_ok("<cfg><PingArp mode=\"x\">1</PingArp></cfg>");
        assert_eq!(loaded.profile.entries()[0].attributes(), "");
        assert_eq!(
            shown(&loaded.notes),
            vec!["1:6: note: PingArp: attributes on <PingArp> are ignored and not written back"]
        );
        assert!(loaded.profile.to_xml().contains("<PingArp>1</PingArp>"));
    }

    #[test]
    fn malformed_attributes_are_errors_wherever_they_are() {
        for (text, want) in [
            (
                "<cfg><Foo a>1</Foo></cfg>",
                "1:6: malformed XML: attributes of <Foo>: ",
            ),
            (
                "<cfg><Foo a=\"1\" a=\"2\"/></cfg>",
                "1:6: malformed XML: attributes of <Foo>: ",
            ),
            (
                "<cfg><Foo a=1/></cfg>",
                "1:6: malformed XML: attributes of <Foo>: ",
            ),
            (
                "<cfg><Foo><Bar a=\"&xxe;\"/></Foo></cfg>",
                "1:11: malformed XML: attributes of <Bar>: the value of `a`: ",
            ),
            (
                "<cfg><Foo a=\"&#0;\"/></cfg>",
                "1:6: malformed XML: attributes of <Foo>: ",
            ),
            (
                "<cfg x=\"<\"><Foo/></cfg>",
                "1:1: malformed XML: attributes of <cfg>: the value of `x` contains `<`; write it as &lt;",
            ),
        ] {
            let errors = Profile::parse(text).expect_err(text);
            assert!(
                errors.iter().any(|d| d.to_string().starts_with(want)),
                "{text}: {:?}",
                shown(&errors)
            );
        }
    }

    #[test]
    fn elements_inside_known_keys_are_errors_only_when_the_agent_uses_the_key() {
        let text = "<cfg>\n  <SignatureCheck><On/></SignatureCheck>\n</cfg>";
        let loaded = parse_ok(text);
        let e = &loaded.profile.entries()[0];
        assert!(e.is_known() && e.holds_elements());
        assert_eq!(e.text(), "<On/>");
        assert_eq!(
            shown(&loaded.profile.lint())
                .into_iter()
                .filter(|l| l.contains("SignatureCheck"))
                .collect::<Vec<_>>(),
            vec![
                "2:3: warning: SignatureCheck: element <On> inside <SignatureCheck>; allowed is 0 or 1; the agent does not use this key; ISE may"
            ]
        );
        assert!(
            loaded
                .profile
                .to_xml()
                .contains("<SignatureCheck><On/></SignatureCheck>")
        );
        assert_eq!(parse_ok(&loaded.profile.to_xml()).profile, loaded.profile);

        let errors = Profile::parse(
            "<cfg>\n  <NetworkTransitionDelay><V>10</V></NetworkTransitionDelay>\n</cfg>",
        )
        .expect_err("used key holding an element");
        assert_eq!(
            shown(&errors),
            vec![
                "2:27: NetworkTransitionDelay: element <V> inside <NetworkTransitionDelay>; this key holds plain text: 2-30 s"
            ]
        );
        assert_eq!(errors[0].key.as_deref(), Some("NetworkTransitionDelay"));
    }

    #[test]
    fn hostile_content_inside_unknown_keys_is_still_refused() {
        for (text, want) in [
            (
                "<cfg><Foo><Bar>&xxe;</Bar></Foo></cfg>",
                "unknown entity `&xxe;`",
            ),
            (
                "<cfg><Foo><Bar>a\u{1}</Bar></Foo></cfg>",
                "character U+0001 is not allowed",
            ),
            ("<cfg><Foo><Bar></Baz></Foo></cfg>", "malformed XML"),
            ("<cfg><Foo><1Bar/></Foo></cfg>", "not a valid element name"),
            ("<cfg><Foo><!DOCTYPE x></Foo></cfg>", ""),
        ] {
            let errors = Profile::parse(text).expect_err(text);
            assert!(
                errors.iter().any(|d| d.message.contains(want)),
                "{text}: {:?}",
                shown(&errors)
            );
        }
    }

    #[test]
    fn accessors_read_only_used_keys_and_ignore_every_unused_value() {
        // Every unused key holds something that does not fit; every accessor
        // still answers from the used keys (the debug assertion in `value`
        // would fire if an accessor read an unused key).
        let mut text = String::from("<cfg>");
        for k in keys::KEYS.iter().filter(|k| !k.used) {
            text.push_str(&format!("<{0}><x/>junk</{0}>", k.name));
        }
        text.push_str("<StateSyncProbeInterval>45</StateSyncProbeInterval><NetworkTransitionDelay>12</NetworkTransitionDelay><PostureProbingBackupList>b1</PostureProbingBackupList><CallHomeList>c1</CallHomeList><DiscoveryHost>d1</DiscoveryHost><ServerNameRules>*.x</ServerNameRules><DartCount>7</DartCount><LogFileSize>9</LogFileSize></cfg>");
        let p = parse_ok(&text).profile;
        assert_eq!(p.state_sync_interval(), Some(Duration::from_secs(45)));
        assert_eq!(p.network_transition_delay(), Duration::from_secs(12));
        assert_eq!(p.probing_backup_list()[0].to_string(), "b1:8449");
        assert_eq!(p.call_home_list()[0].to_string(), "c1:8443");
        assert_eq!(
            p.discovery_host().map(|h| h.to_string()),
            Some("d1:8443".into())
        );
        assert_eq!(p.server_name_rules().patterns(), ["*.x"]);
        assert_eq!(p.dart_count(), 7);
        assert_eq!(p.log_file_size_bytes(), 9 << 20);
        let unused = keys::KEYS.iter().filter(|k| !k.used).count();
        let warned = p
            .lint()
            .iter()
            .filter(|d| {
                d.message
                    .ends_with("the agent does not use this key; ISE may")
            })
            .count();
        assert_eq!(
            warned, unused,
            "an element fits no key, not even a text one"
        );
    }
}
