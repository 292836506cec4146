//! `fleet-sim`: many simulated endpoints in one process against psn-lab on
//! loopback, to measure what a fleet does to the PSNs (docs/fleet.md).
//!
//! Each endpoint ([`endpoint`]) is the agent's own pure state machine
//! (`posture_sync::machine`) driven by the agent's own drivers (discovery,
//! assessment, probe rounds over its TLS transport), with its own MAC and
//! its own source address in 127.10.0.0/16, so psn-lab sees distinct
//! endpoints, binds their sessions and blocks their probes one by one.
//! psn-lab runs as a child process ([`lab`]) so the fleet's CPU time is the
//! agents' alone. A scenario ([`scenario`]) lets the fleet settle, hits the
//! PSNs at one moment and measures what follows; the figures are one typed
//! record ([`summary::Summary`]), printed as text or JSON.

pub mod endpoint;
pub mod host;
pub mod lab;
pub mod scenario;
pub mod stats;
pub mod summary;

use std::time::Duration;

use crate::error::LabError;

/// Why a fleet run could not produce its figures.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// psn-lab could not be started or did not answer.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// The options or the fleet's profile are wrong.
    #[error("{0}")]
    Usage(String),
    /// The fleet never reached `known` before the scenario's moment.
    #[error(
        "only {known} of {endpoints} endpoints were known after {} s, so the scenario did not start; see psn-lab.log in the run's directory, try fewer endpoints or a longer --recover-within",
        within.as_secs()
    )]
    NotSettled {
        /// Endpoints known.
        known: usize,
        /// Endpoints in the fleet.
        endpoints: usize,
        /// How long the run waited.
        within: Duration,
    },
}
