//! psn-lab: a reference policy service node (PSN) for posture-sync.
//!
//! It serves every endpoint of the wire contract (discovery, requirements, report
//! on the discovery port; the state sync probe on the state sync port) over TLS
//! for several nodes in one process, sharing one session directory as ISE nodes
//! share session data. An admin API on loopback changes sessions (CoA, end),
//! lists misconfiguration alarms and switches per-node fault modes and the dACL
//! emulation, so the whole posture flow runs on one machine. See docs/psn-lab.md.
//!
//! Layout: [`app`] is the PSN as a function of (state, request), testable without
//! a socket; [`server`] adds sockets, TLS and the dACL emulation; [`admin`] is the
//! admin API; [`certs`], [`config`], [`policy`], [`sessions`], [`alarms`] and
//! [`faults`] hold the parts; [`mdm`] is the external MDM integration and
//! [`mdmlab`] the JAMF-style MDM of the lab (binary `mdm-lab`). What both lab
//! servers do the same way is written once: [`lab_server`] (listeners, TLS,
//! connections, ready file, shutdown), [`admin_http`] (the admin APIs' loop,
//! token and replies), [`lab_main`] and [`lab_cli`] (what both binaries do
//! around their commands).

pub mod admin;
pub mod admin_http;
pub mod alarms;
pub mod app;
pub mod body;
pub mod certs;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod error;
pub mod faults;
pub mod fsutil;
pub mod lab_cli;
pub mod lab_main;
pub mod lab_server;
pub mod mdm;
pub mod mdmlab;
pub mod policy;
pub mod ready;
pub mod server;
pub mod sessions;
pub mod tls;

pub use error::LabError;
