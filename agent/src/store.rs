//! The PSNs that served this endpoint before, persisted across restarts (the
//! role of ISE's ConnectionData.xml). Discovery tries them first.
//!
//! The file is small JSON in the state dir (`known-psns.json`):
//!
//! ```json
//! {
//!   "version": 1,
//!   "psns": [
//!     { "host": "psn1.example.com", "discovery_port": 8443, "state_sync_port": 8449,
//!       "last_used": "2026-11-21T22:00:00Z", "last_session_id": "0a0b0c..." }
//!   ]
//! }
//! ```
//!
//! Writes are atomic (temp file in the same dir, fsync, rename), so a crash
//! or a full disk leaves the old file intact. A file that does not parse is
//! moved aside (`known-psns.json.corrupt-<unix seconds>`) and reported as a
//! warning: losing the list only costs one slower discovery, so it is never
//! fatal. A file that parses but holds invalid entries (a host that is no
//! host name or IP address, port 0) keeps its valid entries: the invalid ones
//! are dropped with one warning naming the file, each entry and the reason,
//! and never contacted. Hosts are checked exactly as the profile checks
//! CallHomeList hosts ([`profile_schema::Host::parse`]).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use profile_schema::{Host, HostPort};
use serde::{Deserialize, Serialize};

/// How many PSNs the store keeps (most recently used first).
pub const MAX_KNOWN_PSNS: usize = 8;

/// The file format version this build writes and reads.
pub const STORE_VERSION: u32 = 1;

/// One PSN that served this endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownPsn {
    /// Host name or IP address as discovery reached it.
    pub host: Host,
    /// The discovery (HTTPS) port.
    pub discovery_port: u16,
    /// The state sync probe port the PSN advertised.
    pub state_sync_port: u16,
    /// When the agent last completed an exchange with this PSN.
    #[serde(with = "rfc3339")]
    pub last_used: SystemTime,
    /// The session id of that exchange, if any.
    #[serde(default)]
    pub last_session_id: Option<String>,
}

/// The file as written.
#[derive(Debug, Serialize)]
struct StoreFile<'a> {
    version: u32,
    psns: &'a [KnownPsn],
}

/// The file as read: the entries unchecked, so that one bad entry costs
/// only itself ([`parse`] checks each).
#[derive(Debug, Deserialize)]
struct StoredFile {
    version: u32,
    psns: Vec<StoredPsn>,
}

/// An entry as read, before its host is checked; the fields of [`KnownPsn`].
#[derive(Debug, Deserialize)]
struct StoredPsn {
    host: String,
    discovery_port: u16,
    state_sync_port: u16,
    #[serde(with = "rfc3339")]
    last_used: SystemTime,
    #[serde(default)]
    last_session_id: Option<String>,
}

/// Why the store could not be read; loading carries on with an empty list.
#[derive(Debug, thiserror::Error)]
pub enum StoreWarning {
    /// The file did not parse; it was moved aside.
    #[error(
        "the known-PSN file {path} is corrupt ({reason}); moved it to {moved_to} and starting with an empty list"
    )]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
        /// Where it went.
        moved_to: PathBuf,
    },
    /// The file did not parse and could not be moved aside either.
    #[error(
        "the known-PSN file {path} is corrupt ({reason}) and could not be moved aside ({source}); starting with an empty list"
    )]
    CorruptNotMoved {
        /// The store file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
        /// Why the rename failed.
        source: io::Error,
    },
    /// The file parsed but some entries are invalid; they were dropped and
    /// the valid ones kept.
    #[error(
        "the known-PSN file {path} has {} invalid {}, dropped (the other {kept} kept): {}",
        dropped.len(),
        if dropped.len() == 1 { "entry" } else { "entries" },
        describe_dropped(dropped)
    )]
    InvalidEntries {
        /// The store file.
        path: PathBuf,
        /// Each dropped entry, described, and why.
        dropped: Vec<DroppedEntry>,
        /// How many entries were kept.
        kept: usize,
    },
    /// The file exists but could not be read (permissions, I/O error).
    #[error("cannot read the known-PSN file {path}: {source}; starting with an empty list")]
    Unreadable {
        /// The store file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// An entry of the store file that was dropped on load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedEntry {
    /// 1-based position in the file's `psns` list.
    pub index: usize,
    /// The entry as `host` and ports, for the log.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

/// At most this many dropped entries are spelled out in the warning.
const MAX_DROPPED_SHOWN: usize = 8;

fn describe_dropped(dropped: &[DroppedEntry]) -> String {
    let mut parts: Vec<String> = dropped
        .iter()
        .take(MAX_DROPPED_SHOWN)
        .map(|d| format!("entry {} ({}): {}", d.index, d.entry, d.reason))
        .collect();
    if dropped.len() > MAX_DROPPED_SHOWN {
        parts.push(format!("and {} more", dropped.len() - MAX_DROPPED_SHOWN));
    }
    parts.join("; ")
}

/// Saving the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Writing the temp file, syncing or renaming failed.
    #[error("cannot write the known-PSN file {path}: {source}")]
    Write {
        /// The store file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The path has no parent directory or no file name.
    #[error("the known-PSN file path {path} has no parent directory")]
    BadPath {
        /// The store file.
        path: PathBuf,
    },
}

/// Reads the store. A missing file is an empty list; any other problem is
/// an empty list plus a warning for the log.
pub fn load(path: &Path) -> (Vec<KnownPsn>, Option<StoreWarning>) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (Vec::new(), None),
        Err(source) => {
            return (
                Vec::new(),
                Some(StoreWarning::Unreadable {
                    path: path.to_path_buf(),
                    source,
                }),
            );
        }
    };
    match parse(&bytes) {
        Ok((psns, dropped)) if dropped.is_empty() => (psns, None),
        Ok((psns, dropped)) => {
            let kept = psns.len();
            (
                psns,
                Some(StoreWarning::InvalidEntries {
                    path: path.to_path_buf(),
                    dropped,
                    kept,
                }),
            )
        }
        Err(reason) => (Vec::new(), Some(set_aside(path, reason, SystemTime::now()))),
    }
}

/// The valid entries (at most [`MAX_KNOWN_PSNS`]) and the dropped ones; an
/// error when the file as a whole is unusable.
fn parse(bytes: &[u8]) -> Result<(Vec<KnownPsn>, Vec<DroppedEntry>), String> {
    let file: StoredFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.version != STORE_VERSION {
        return Err(format!(
            "version {} is not supported, this agent reads version {STORE_VERSION}",
            file.version
        ));
    }
    let mut psns: Vec<KnownPsn> = Vec::new();
    let mut dropped = Vec::new();
    for (i, psn) in file.psns.into_iter().enumerate() {
        // A file written by hand or by another build may hold more: the
        // list is most recently used first, so the first MAX_KNOWN_PSNS valid
        // entries are the ones to keep (more would only make every discovery
        // round longer), and what follows them is neither checked nor
        // reported.
        if psns.len() == MAX_KNOWN_PSNS {
            break;
        }
        let duplicate = |host: &Host, port: u16| {
            psns.iter()
                .any(|p| p.discovery_port == port && p.host == *host)
        };
        match validate(&psn) {
            Ok(host) if duplicate(&host, psn.discovery_port) => {
                // The list is most recently used first: the earlier entry
                // wins, as `remember` would have kept it. Not worth a warning.
                tracing::debug!(host = %host, port = psn.discovery_port, "duplicate known PSN entry skipped");
            }
            Ok(host) => psns.push(KnownPsn {
                host,
                discovery_port: psn.discovery_port,
                state_sync_port: psn.state_sync_port,
                last_used: psn.last_used,
                last_session_id: psn.last_session_id,
            }),
            Err(reason) => dropped.push(DroppedEntry {
                index: i + 1,
                entry: format!(
                    "host {:?}, discovery port {}, state sync port {}",
                    psn.host, psn.discovery_port, psn.state_sync_port
                ),
                reason,
            }),
        }
    }
    Ok((psns, dropped))
}

/// Checks one entry as the profile checks a CallHomeList entry: a DNS name
/// or IP address, ports 1-65535. Returns the host in the form discovery
/// uses (lower case, IPv6 without brackets).
fn validate(psn: &StoredPsn) -> Result<Host, String> {
    let host = Host::parse(&psn.host);
    if let Err(e @ profile_schema::HostError::Empty) = &host {
        return Err(e.problem());
    }
    for (name, port) in [
        ("discovery port", psn.discovery_port),
        ("state sync port", psn.state_sync_port),
    ] {
        if port == 0 {
            return Err(format!("{name} 0 is out of range 1-65535"));
        }
    }
    // A host alone: colons belong to an IPv6 address, so `host:port` in the
    // host field is refused. The problem without the entry: the warning
    // shows the entry already.
    host.map_err(|e| e.problem())
}

/// Moves a corrupt file to `<name>.corrupt-<unix seconds>`.
fn set_aside(path: &Path, reason: String, now: SystemTime) -> StoreWarning {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{secs}"));
    let moved_to = path.with_file_name(name);
    match std::fs::rename(path, &moved_to) {
        Ok(()) => StoreWarning::Corrupt {
            path: path.to_path_buf(),
            reason,
            moved_to,
        },
        Err(source) => StoreWarning::CorruptNotMoved {
            path: path.to_path_buf(),
            reason,
            source,
        },
    }
}

/// Writes the store atomically: a temp file in the same directory, fsync,
/// rename over the old file, then fsync the directory (unix) so the rename
/// itself survives a power loss.
pub fn save(path: &Path, psns: &[KnownPsn]) -> Result<(), StoreError> {
    let file = StoreFile {
        version: STORE_VERSION,
        psns,
    };
    // Serializing plain strings, integers and timestamps cannot fail.
    let mut json = serde_json::to_vec_pretty(&file).unwrap_or_default();
    json.push(b'\n');
    write_atomically(path, &json).map_err(|e| match e {
        AtomicWriteError::BadPath => StoreError::BadPath {
            path: path.to_path_buf(),
        },
        AtomicWriteError::Io(source) => StoreError::Write {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Failure of [`write_atomically`].
#[derive(Debug)]
pub(crate) enum AtomicWriteError {
    /// The path has no parent directory or file name.
    BadPath,
    /// An I/O step failed; the temp file has been removed.
    Io(io::Error),
}

/// Writes `bytes` to `path` via a private temp file in the same directory
/// (created exclusively, never through a link: [`crate::paths::PrivateTemp`])
/// and a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    if path.parent().is_none() || path.file_name().is_none() {
        return Err(AtomicWriteError::BadPath);
    }
    crate::paths::write_atomically(path, bytes).map_err(AtomicWriteError::Io)
}

/// The exchange that made the machine persist its PSN list: the PSN that
/// owns the session (host and state sync port) and the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastExchange<'a> {
    /// The connected PSN's host.
    pub host: &'a Host,
    /// The state sync port it advertised.
    pub state_sync_port: u16,
    /// The session of the exchange.
    pub session: &'a str,
}

/// The records to save for the PSN list the machine decided (`psns`, most
/// recently used first, discovery ports), given the records saved before.
///
/// Pure, so the daemon's `persist` only saves what this returns. The first
/// entry is the one just used: it gets `now` and the exchange's session. The
/// others keep what was remembered about them (same host, as [`Host`]
/// compares, and discovery port), or `now` when they are new. The state sync port is the
/// connected PSN's for an entry on its host, else the remembered one, else the
/// protocol's default. At most [`MAX_KNOWN_PSNS`] records, the same cap
/// [`load`] applies.
pub fn merge_known(
    previous: &[KnownPsn],
    psns: &[HostPort],
    exchange: Option<LastExchange<'_>>,
    now: SystemTime,
) -> Vec<KnownPsn> {
    psns.iter()
        .take(MAX_KNOWN_PSNS)
        .enumerate()
        .map(|(i, hp)| {
            let previous = previous
                .iter()
                .find(|k| k.host == *hp.host() && k.discovery_port == hp.port());
            let connected = exchange.filter(|e| e.host == hp.host());
            KnownPsn {
                host: hp.host().clone(),
                discovery_port: hp.port(),
                state_sync_port: connected
                    .map(|e| e.state_sync_port)
                    .or(previous.map(|p| p.state_sync_port))
                    .unwrap_or(posture_protocol::DEFAULT_STATE_SYNC_PORT),
                last_used: if i == 0 {
                    now
                } else {
                    previous.map_or(now, |p| p.last_used)
                },
                last_session_id: if i == 0 {
                    exchange.map(|e| e.session.to_owned())
                } else {
                    previous.and_then(|p| p.last_session_id.clone())
                },
            }
        })
        .collect()
}

/// RFC 3339 timestamps (UTC, seconds) for `SystemTime` fields.
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&s).map_err(|e| {
            serde::de::Error::custom(format!("last_used {s:?} is not an RFC 3339 time: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn psn(host: &str, port: u16, secs: u64) -> KnownPsn {
        KnownPsn {
            host: Host::parse(host).unwrap(),
            discovery_port: port,
            state_sync_port: 8449,
            last_used: UNIX_EPOCH + Duration::from_secs(secs),
            last_session_id: Some(format!("sess-{host}")),
        }
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn missing_file_is_an_empty_list_without_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let (psns, warning) = load(&tmp.path().join("known-psns.json"));
        assert!(psns.is_empty());
        assert!(warning.is_none());
    }

    #[test]
    fn round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("known-psns.json");
        let mut list = vec![
            psn("psn1.example.com", 8443, 1_700_000_000),
            psn("10.0.0.2", 9443, 1_700_000_100),
        ];
        list[1].last_session_id = None;
        save(&path, &list).unwrap();
        let (back, warning) = load(&path);
        assert!(warning.is_none(), "{warning:?}");
        assert_eq!(back, list);
        // The file is readable JSON with RFC 3339 times.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"last_used\": \"2023-11-14T22:13:20Z\""),
            "{text}"
        );
        // Saving again replaces the contents.
        save(&path, &list[..1]).unwrap();
        assert_eq!(load(&path).0, list[..1]);
    }

    #[test]
    fn an_oversized_store_is_cut_to_the_most_recent_entries_on_load() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("known-psns.json");
        let list: Vec<KnownPsn> = (0..1000)
            .map(|i| psn(&format!("psn{i}.example.com"), 8443, 1_700_000_000 - i))
            .collect();
        let file = StoreFile {
            version: STORE_VERSION,
            psns: &list,
        };
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let (back, warning) = load(&path);
        assert!(warning.is_none(), "{warning:?}");
        assert_eq!(back, list[..MAX_KNOWN_PSNS]);
    }

    #[test]
    fn a_file_written_before_the_host_type_reads_and_saves_byte_for_byte() {
        // As `save` wrote it when hosts were plain strings.
        let old = r#"{
  "version": 1,
  "psns": [
    {
      "host": "psn1.example.com",
      "discovery_port": 8443,
      "state_sync_port": 8449,
      "last_used": "2026-11-21T22:00:00Z",
      "last_session_id": "0a0b0c"
    },
    {
      "host": "2001:db8::13",
      "discovery_port": 9443,
      "state_sync_port": 8449,
      "last_used": "2026-11-20T08:00:00Z",
      "last_session_id": null
    }
  ]
}
"#;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("known-psns.json");
        std::fs::write(&path, old).unwrap();
        let (psns, warning) = load(&path);
        assert!(warning.is_none(), "{warning:?}");
        let hosts: Vec<&str> = psns.iter().map(|p| p.host.as_str()).collect();
        assert_eq!(hosts, ["psn1.example.com", "2001:db8::13"]);
        assert_eq!(psns[1].host, Host::parse("[2001:DB8::13]").unwrap());
        save(&path, &psns).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
    }

    #[test]
    fn a_remembered_psn_is_found_however_its_host_is_written() {
        // The case-insensitive text comparison this replaced took
        // `2001:db8:0::13` and `psn1.lab.test.` for other hosts, and forgot
        // their state sync port and session.
        let mut v6 = psn("2001:db8:0::13", 8443, 10);
        v6.state_sync_port = 8600;
        let mut named = psn("psn1.lab.test.", 8443, 20);
        named.state_sync_port = 8601;
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let merged = merge_known(
            &[v6, named],
            &[
                hp("psn0.lab.test", 8443),
                hp("[2001:DB8::13]", 8443),
                hp("PSN1.lab.test", 8443),
            ],
            None,
            now,
        );
        let kept: Vec<(u16, SystemTime)> = merged[1..]
            .iter()
            .map(|k| (k.state_sync_port, k.last_used))
            .collect();
        assert_eq!(
            kept,
            [
                (8600, UNIX_EPOCH + Duration::from_secs(10)),
                (8601, UNIX_EPOCH + Duration::from_secs(20))
            ]
        );
        assert_eq!(
            merged[1].last_session_id.as_deref(),
            Some("sess-2001:db8:0::13")
        );
    }

    #[test]
    fn atomic_write_leaves_no_temp_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("known-psns.json");
        for i in 0..3 {
            save(&path, &[psn("a", 8443, i)]).unwrap();
        }
        assert_eq!(dir_entries(tmp.path()), vec!["known-psns.json"]);
    }

    #[test]
    fn failed_save_names_the_file_and_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("missing-dir").join("known-psns.json");
        let e = save(&path, &[psn("a", 8443, 1)]).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "cannot write the known-PSN file {}",
                path.display()
            )),
            "{e}"
        );
        assert!(dir_entries(tmp.path()).is_empty());
    }

    #[test]
    fn corrupt_file_is_set_aside_with_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("known-psns.json");
        std::fs::write(&path, b"{\"version\":1,\"psns\":[{\"host\":").unwrap();
        let (psns, warning) = load(&path);
        assert!(psns.is_empty());
        let warning = warning.expect("a corrupt file is reported");
        let msg = warning.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        let StoreWarning::Corrupt { moved_to, .. } = warning else {
            panic!("expected Corrupt, got {warning:?}");
        };
        assert!(!path.exists());
        assert_eq!(
            std::fs::read(&moved_to).unwrap(),
            b"{\"version\":1,\"psns\":[{\"host\":"
        );
        let name = moved_to.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("known-psns.json.corrupt-"), "{name}");
        // Next load: nothing there, no warning; saving works again.
        assert!(load(&path).1.is_none());
        save(&path, &[psn("a", 8443, 1)]).unwrap();
        assert_eq!(load(&path).0.len(), 1);
    }

    /// One entry of a store file, as JSON.
    fn entry(host: &str, discovery: u32, sync: u32) -> serde_json::Value {
        serde_json::json!({
            "host": host, "discovery_port": discovery, "state_sync_port": sync,
            "last_used": "2026-01-01T00:00:00Z"
        })
    }

    #[test]
    fn invalid_entries_are_dropped_with_one_warning_and_the_rest_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("known-psns.json");
        let file = serde_json::json!({"version": 1, "psns": [
            entry("evil host/x", 8443, 8449),
            entry("PSN1.example.com", 8443, 8449),
            entry("psn2.example.com", 0, 8449),
            entry("10.0.0.2", 8443, 8449),
            entry("psn3.example.com", 8443, 0),
            entry("2001:DB8::13", 8443, 8449),
            entry(" ", 8443, 8449),
            entry("psn4:8443", 8443, 8449),
            entry("999.1.1.1", 8443, 8449),
        ]});
        std::fs::write(&path, file.to_string()).unwrap();
        let (psns, warning) = load(&path);
        let hosts: Vec<&str> = psns.iter().map(|p| p.host.as_str()).collect();
        assert_eq!(hosts, ["psn1.example.com", "10.0.0.2", "2001:db8::13"]);
        let warning = warning.expect("dropped entries are reported");
        let StoreWarning::InvalidEntries { dropped, kept, .. } = &warning else {
            panic!("expected InvalidEntries, got {warning:?}");
        };
        assert_eq!(*kept, 3);
        let indexes: Vec<usize> = dropped.iter().map(|d| d.index).collect();
        assert_eq!(indexes, [1, 3, 5, 7, 8, 9]);
        let msg = warning.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("6 invalid entries"), "{msg}");
        assert!(
            msg.contains("entry 1 (host \"evil host/x\", discovery port 8443, state sync port 8449): `evil host/x` is not a valid host name"),
            "{msg}"
        );
        assert!(
            msg.contains("entry 3 (host \"psn2.example.com\", discovery port 0"),
            "{msg}"
        );
        assert!(
            msg.contains("discovery port 0 is out of range 1-65535"),
            "{msg}"
        );
        assert!(
            msg.contains("state sync port 0 is out of range 1-65535"),
            "{msg}"
        );
        assert!(msg.contains("not an IPv6 address"), "{msg}");
        assert!(msg.contains("not a valid IPv4 address"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        // The file itself is kept as it is (not set aside).
        assert_eq!(dir_entries(tmp.path()), vec!["known-psns.json"]);
    }

    #[test]
    fn valid_entries_load_without_warning_and_duplicates_collapse() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("known-psns.json");
        let file = serde_json::json!({"version": 1, "psns": [
            entry("psn1.example.com", 8443, 8449),
            entry("PSN1.Example.com.", 8443, 8449),
            entry("psn1.example.com", 9443, 8449),
            entry("[::1]", 8443, 8449),
        ]});
        std::fs::write(&path, file.to_string()).unwrap();
        let (psns, warning) = load(&path);
        assert!(warning.is_none(), "{warning:?}");
        let hosts: Vec<(&str, u16)> = psns
            .iter()
            .map(|p| (p.host.as_str(), p.discovery_port))
            .collect();
        assert_eq!(
            hosts,
            [
                ("psn1.example.com", 8443),
                ("psn1.example.com", 9443),
                ("::1", 8443)
            ]
        );
    }

    #[test]
    fn many_invalid_entries_are_summarized() {
        let dropped: Vec<DroppedEntry> = (1..=20)
            .map(|i| DroppedEntry {
                index: i,
                entry: format!("host \"h {i}\""),
                reason: "bad".into(),
            })
            .collect();
        let text = describe_dropped(&dropped);
        assert!(text.ends_with("; and 12 more"), "{text}");
        assert_eq!(text.matches("entry ").count(), MAX_DROPPED_SHOWN);
    }

    #[test]
    fn wrong_version_and_bad_time_are_corrupt() {
        let cases = [
            r#"{"version":2,"psns":[]}"#,
            r#"{"version":1,"psns":[{"host":"a","discovery_port":8443,"state_sync_port":8449,"last_used":"yesterday"}]}"#,
            r#"{"version":1,"psns":[{"host":"a","discovery_port":70000,"state_sync_port":8449,"last_used":"2026-01-01T00:00:00Z"}]}"#,
            "",
        ];
        for case in cases {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("known-psns.json");
            std::fs::write(&path, case).unwrap();
            let (psns, warning) = load(&path);
            assert!(psns.is_empty(), "{case}");
            assert!(
                matches!(warning, Some(StoreWarning::Corrupt { .. })),
                "{case}: {warning:?}"
            );
        }
    }

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort::new(profile_schema::Host::parse(host).unwrap(), port)
    }

    #[test]
    fn merge_known_stamps_the_first_entry_and_keeps_what_was_known_of_the_others() {
        let previous = vec![
            KnownPsn {
                state_sync_port: 8500,
                ..psn("psn2.lab.test", 8443, 100)
            },
            psn("psn1.lab.test", 8443, 50),
        ];
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let connected = Host::parse("PSN1.lab.test").unwrap();
        let exchange = LastExchange {
            host: &connected,
            state_sync_port: 8600,
            session: "s-new",
        };
        let merged = merge_known(
            &previous,
            &[
                hp("psn1.lab.test", 8443),
                hp("psn2.lab.test", 8443),
                hp("psn2.lab.test", 9443),
                hp("new.lab.test", 8443),
            ],
            Some(exchange),
            now,
        );
        assert_eq!(
            merged,
            [
                KnownPsn {
                    host: Host::parse("psn1.lab.test").unwrap(),
                    discovery_port: 8443,
                    state_sync_port: 8600,
                    last_used: now,
                    last_session_id: Some("s-new".to_owned()),
                },
                KnownPsn {
                    state_sync_port: 8500,
                    ..psn("psn2.lab.test", 8443, 100)
                },
                // Same host, another discovery port: nothing is known of it.
                KnownPsn {
                    host: Host::parse("psn2.lab.test").unwrap(),
                    discovery_port: 9443,
                    state_sync_port: posture_protocol::DEFAULT_STATE_SYNC_PORT,
                    last_used: now,
                    last_session_id: None,
                },
                KnownPsn {
                    host: Host::parse("new.lab.test").unwrap(),
                    discovery_port: 8443,
                    state_sync_port: posture_protocol::DEFAULT_STATE_SYNC_PORT,
                    last_used: now,
                    last_session_id: None,
                },
            ]
        );
    }

    #[test]
    fn merge_known_without_an_exchange_records_no_session() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let merged = merge_known(
            &[psn("psn1.lab.test", 8443, 50)],
            &[hp("psn1.lab.test", 8443)],
            None,
            now,
        );
        assert_eq!(merged[0].last_used, now);
        assert_eq!(merged[0].last_session_id, None);
        assert_eq!(merged[0].state_sync_port, 8449);
    }

    #[test]
    fn merge_known_keeps_at_most_the_store_cap() {
        let psns: Vec<HostPort> = (0..3 * MAX_KNOWN_PSNS)
            .map(|i| hp(&format!("psn{i}.lab.test"), 8443))
            .collect();
        let merged = merge_known(&[], &psns, None, UNIX_EPOCH);
        assert_eq!(merged.len(), MAX_KNOWN_PSNS);
        assert_eq!(merged[0].host, "psn0.lab.test");
    }
}
