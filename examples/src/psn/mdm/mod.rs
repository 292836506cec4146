//! psn-lab's external MDM integration (ISE's "External MDM", modelled on the
//! MDM API version 3 that JAMF Pro's network integration endpoint speaks).
//!
//! - [`config`]: the External MDM server form, validated;
//! - [`xml`]: the API's documents (server info, device query and reply);
//! - [`client`]: HTTPS client with basic authentication and an HTTP CONNECT proxy;
//! - [`diagnose`]: `psn-lab mdm test` and its diagnoses;
//! - [`poller`]: the periodic compliance poll that turns a changed verdict into a CoA.
//!
//! See docs/mdm.md.

pub mod client;
pub mod config;
pub mod diagnose;
pub mod poller;
pub mod xml;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

pub use client::{MdmClient, MdmError, MdmFailure};
pub use config::{MdmConfig, MdmSettings};
pub use xml::{ServerInfo, Verdict};

/// A device's verdict as last fetched.
#[derive(Debug, Clone)]
pub struct CachedVerdict {
    /// The verdict.
    pub verdict: Verdict,
    /// The MDM's reason (non-compliant only).
    pub reason: Option<String>,
    /// When it was fetched (for the cache expiration).
    pub fetched: Instant,
    /// When it was fetched, RFC 3339.
    pub fetched_at: String,
}

/// What the poller has done so far, for `GET /mdm` and tests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MdmStatus {
    /// Integration name (None: no MDM configured).
    pub name: Option<String>,
    /// Integration URL (no password).
    pub url: Option<String>,
    /// Whether the poller runs.
    pub enabled: bool,
    /// Completed polls (successful or not).
    pub polls: u64,
    /// Successful polls.
    pub polls_ok: u64,
    /// Device queries sent.
    pub device_queries: u64,
    /// Identifiers asked for, in all queries.
    pub identifiers_asked: u64,
    /// CoAs caused by MDM verdicts.
    pub coas: u64,
    /// Time of the latest poll, RFC 3339.
    pub last_poll: Option<String>,
    /// The latest poll's failure (None after a successful poll).
    pub last_error: Option<String>,
    /// Failed polls.
    pub errors: u64,
    /// Server info from the latest successful poll.
    pub server_info: Option<ServerInfo>,
    /// Devices asked about when their session was discovered (authentication
    /// time), because no cached verdict within its expiration was at hand.
    pub auth_queries: u64,
    /// Discoveries answered from a cached verdict within its expiration.
    pub auth_cache_hits: u64,
    /// Authentication-time questions that failed (the cached verdict, if any, stays).
    pub auth_errors: u64,
}

/// The MDM side of the lab's shared state: verdicts per MAC and the poller's status.
#[derive(Debug, Default)]
pub struct MdmState {
    verdicts: Mutex<HashMap<String, CachedVerdict>>,
    status: Mutex<MdmStatus>,
    /// The client discovery asks at authentication time (set when an enabled
    /// MDM is configured).
    auth_client: Mutex<Option<MdmClient>>,
}

/// A verdict as `GET /mdm` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictView {
    /// The endpoint's MAC.
    pub mac: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The MDM's reason.
    pub reason: Option<String>,
    /// When it was fetched.
    pub fetched_at: String,
}

/// `GET /mdm`.
#[derive(Debug, Clone, Serialize)]
pub struct MdmView {
    /// Poller status.
    #[serde(flatten)]
    pub status: MdmStatus,
    /// Cached verdicts, by MAC.
    pub verdicts: Vec<VerdictView>,
}

impl MdmState {
    fn verdicts(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedVerdict>> {
        // A poisoned map is still a valid map: keep serving.
        self.verdicts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn status_mut(&self) -> std::sync::MutexGuard<'_, MdmStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached verdict of a MAC (wire form).
    pub fn verdict(&self, mac: &str) -> Option<CachedVerdict> {
        self.verdicts().get(mac).cloned()
    }

    /// Stores a verdict; returns the previous one.
    pub fn store(&self, mac: &str, v: CachedVerdict) -> Option<CachedVerdict> {
        self.verdicts().insert(mac.to_owned(), v)
    }

    /// Makes discovery ask the MDM through `client` when a session's cached
    /// verdict is absent or expired (authentication time).
    pub fn set_auth_client(&self, client: MdmClient) {
        *self.auth_client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    /// The client for authentication-time questions, if an enabled MDM is configured.
    pub fn auth_client(&self) -> Option<MdmClient> {
        self.auth_client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The poller's status.
    pub fn status(&self) -> MdmStatus {
        self.status_mut().clone()
    }

    /// Changes the poller's status.
    pub fn update_status(&self, f: impl FnOnce(&mut MdmStatus)) {
        f(&mut self.status_mut());
    }

    /// Snapshot for the admin API.
    pub fn view(&self) -> MdmView {
        let mut verdicts: Vec<VerdictView> = self
            .verdicts()
            .iter()
            .map(|(mac, v)| VerdictView {
                mac: mac.clone(),
                verdict: v.verdict,
                reason: v.reason.clone(),
                fetched_at: v.fetched_at.clone(),
            })
            .collect();
        verdicts.sort_by(|a, b| a.mac.cmp(&b.mac));
        MdmView {
            status: self.status(),
            verdicts,
        }
    }
}
