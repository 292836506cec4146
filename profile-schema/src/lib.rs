//! Typed model of the posture profile (ISEPostureCFG.xml-like).
//!
//! A profile is a root `<cfg>` element whose children are keys, mostly holding
//! text:
//!
//! ```
//! use profile_schema::Profile;
//! let loaded = Profile::parse(
//!     "<cfg><StateSyncProbeInterval>60</StateSyncProbeInterval><VendorKey>x</VendorKey></cfg>",
//! ).unwrap();
//! let p = &loaded.profile;
//! assert_eq!(p.state_sync_interval(), Some(std::time::Duration::from_secs(60)));
//! assert_eq!(p.network_transition_delay().as_secs(), 3); // default
//! assert_eq!(p.get("VendorKey"), Some("x"));              // unknown keys are kept
//! assert_eq!(loaded.notes.len(), 1);                       // ... and noted
//! assert_eq!(Profile::parse(&p.to_xml()).unwrap().profile, *p);
//! ```
//!
//! Only the keys the agent uses ([`KeyDef::used`]) can make a profile
//! invalid; a key it does not use is kept as written, whatever it holds, and
//! at most linted:
//!
//! ```
//! use profile_schema::Profile;
//! let loaded = Profile::parse(
//!     "<cfg><VlanDetectInterval>1000</VlanDetectInterval><Vendor><A b='1'/></Vendor></cfg>",
//! ).unwrap();
//! assert_eq!(loaded.profile.get("VlanDetectInterval"), Some("1000"));
//! assert_eq!(loaded.profile.get("Vendor"), Some("<A b='1'/>"));
//! let lint = loaded.profile.lint();
//! assert!(lint.iter().any(|d| d.to_string().ends_with(
//!     "VlanDetectInterval: 1000 is out of range 0-900; the agent does not use this key; ISE may"
//! )));
//! assert!(Profile::parse("<cfg><DartCount>1000</DartCount></cfg>").is_err());
//! ```
//!
//! The table [`KEYS`] drives parsing, defaults, the lint, the JSON schema
//! ([`schema_json`]) and `docs/profile.md` ([`profile_doc_markdown`]).
//! See `docs/profile.md` for the format, every key and the parse benchmark.

mod diagnostic;
mod host;
mod keys;
mod lint;
mod profile;
mod schema;
mod values;
mod xml;

pub use diagnostic::{Diagnostic, LoadError, Severity};
pub use host::{Host, HostError, HostProblem};
pub use keys::{DISCOVERY_PORT, KEYS, KeyDef, KeyType, STATE_SYNC_PORT};
pub use profile::{Entry, Loaded, MAX_PROFILE_BYTES, Profile, open_regular};
pub use schema::{SCHEMA_FORMAT, profile_doc_markdown, schema_json, schema_json_pretty};
pub use values::{
    HostPort, PortRanges, ServerNameRules, normalize_host, parse_path_list, same_host,
};
pub use xml::{MAX_ATTRIBUTES, MAX_DEPTH, ROOT};
