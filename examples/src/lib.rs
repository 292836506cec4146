//! psn-lab: a reference policy service node (PSN) for posture-sync.
//!
//! It serves every endpoint of the wire contract (discovery, requirements, report
//! on the discovery port; the state sync probe on the state sync port) over TLS
//! for several nodes in one process, sharing one session directory as ISE nodes
//! share session data. An admin API on loopback changes sessions (CoA, end),
//! lists misconfiguration alarms and switches per-node fault modes and the dACL
//! emulation, so the whole posture flow runs on one machine. See docs/psn-lab.md.
//!
//! Layout, by what each part serves:
//! - [`psn`] (`src/psn/`): psn-lab, the reference PSN, and its external MDM
//!   client ([`psn::mdm`]);
//! - [`mdmlab`] (`src/mdmlab/`): mdm-lab, the JAMF-style MDM of the lab (binary
//!   `mdm-lab`);
//! - [`fleet`] (`src/fleet/`): fleet-sim, many simulated endpoints (the
//!   agent's own machine and drivers) against psn-lab (binary `fleet-sim`,
//!   docs/fleet.md);
//! - [`common`] (`src/common/`): what both lab servers do the same way (TLS,
//!   certificates, bodies, files, errors, the server skeleton and admin API
//!   loop, the admin client, what both binaries do around their commands).
//!
//! The modules are also re-exported at their former paths (`psn_lab::sessions`,
//! `psn_lab::tls`, ...) so the binaries, tests and fuzz targets keep their imports.

pub mod common;
pub mod fleet;
pub mod mdmlab;
pub mod psn;

pub use common::{
    admin_http, body, certs, ctl, error, fsutil, lab_cli, lab_main, lab_server, ready, tls,
};
pub use psn::{admin, alarms, app, cli, config, faults, mdm, policy, server, sessions};

pub use error::LabError;
