//! Typed model of the posture profile (ISEPostureCFG.xml-like).
//!
//! A profile is a root `<cfg>` element whose children are keys holding text:
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
//! The table [`KEYS`] drives parsing, defaults, the lint, the JSON schema
//! ([`schema_json`]) and `docs/profile.md` ([`profile_doc_markdown`]).
//! See `docs/profile.md` for the format, every key and the parse benchmark.

mod diagnostic;
mod keys;
mod lint;
mod profile;
mod schema;
mod values;
mod xml;

pub use diagnostic::{Diagnostic, LoadError, Severity};
pub use keys::{DISCOVERY_PORT, KEYS, KeyDef, KeyType, STATE_SYNC_PORT};
pub use profile::{Entry, Loaded, MAX_PROFILE_BYTES, Profile};
pub use schema::{SCHEMA_FORMAT, profile_doc_markdown, schema_json, schema_json_pretty};
pub use values::{HostPort, ServerNameRules, normalize_host, same_host};
pub use xml::{MAX_DEPTH, ROOT};
