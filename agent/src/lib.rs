//! posture-sync: the endpoint agent as a library, so the binary, the tests, the
//! benchmarks and the fuzz targets share one implementation.
//!
//! Pure logic (no I/O, time passed in as a value): [`machine`], [`timing`],
//! [`outcome`], [`targets`], [`status_report`].
//! Thin I/O drivers around it: [`transport`], [`discovery`], [`assess`],
//! [`probe`], [`daemon`]; and the endpoint plumbing: [`paths`], [`platform`],
//! [`logging`], [`store`], [`control`], [`reload`].

pub mod cli;
pub mod cmd;

// Pure core.
pub mod machine;
pub mod outcome;
pub mod record;
pub mod requirement_result;
pub mod status_report;
pub mod targets;
pub mod timing;

// Network drivers.
pub mod assess;
pub mod daemon;
pub mod discovery;
pub mod facts;
pub mod gateway;
pub mod nad_hop;
pub mod probe;
pub mod transport;

// Endpoint plumbing.
pub mod control;
pub mod logging;
pub mod paths;
pub mod platform;
pub mod reload;
pub mod store;

// Endpoint integration: diagnostic bundles, launch at login, one agent per state dir.
pub mod dart;
pub mod exit;
pub mod fleet_status;
pub mod install;
pub mod lock;
pub mod netwatch;
pub mod notify;
pub mod runs;
