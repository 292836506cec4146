//! The session directory shared by all nodes: one JSON file per session.
//!
//! Sessions are keyed by the endpoint's MAC. The in-memory map is the authority
//! while the lab runs; every change is written atomically (temp file + rename) to
//! `DIR/sessions/<mac>.json`, so the directory is never half-written, and the
//! files are read back at startup (a corrupt file is moved aside as
//! `*.corrupt`, never fatal). Probe counters live in memory and reach the file
//! with the session's next change.
//!
//! A session is bound to its endpoint's address (`endpoint`): the source
//! address of the endpoint's latest discovery. Requirements, report and probe
//! name the session by id only, so the id alone would otherwise let any host
//! read the posture or post a report; the endpoint-facing operations here take
//! the request's source address and refuse another one
//! ([`SessionError::ForeignAddress`]). Only a discovery, which names the
//! endpoint by its MAC, moves the binding (a roaming laptop rediscovers from
//! its new address). Addresses compare in canonical form, so the IPv4-mapped
//! IPv6 address a dual-stack socket reports (`::ffff:192.0.2.7`) is the IPv4
//! address `192.0.2.7`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use posture_protocol::{PostureStatus, ReportResult, SessionId};
use serde::{Deserialize, Serialize};

use crate::common::error::LabError;
use crate::common::fsutil;

/// One endpoint's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Session id (ISE style: node address in hex, then random characters).
    pub id: SessionId,
    /// The endpoint's MAC, wire form.
    pub mac: String,
    /// Posture status.
    pub status: PostureStatus,
    /// Name of the node that owns the session (named as `<psn>` in discovery).
    pub owner: String,
    /// The endpoint's address, to which the session is bound: the source
    /// address seen at its latest discovery (canonical form: never an
    /// IPv4-mapped IPv6 address). `None` only for a session seeded without an
    /// address and not yet used; its first request binds it.
    pub endpoint: Option<IpAddr>,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Time of the latest change, RFC 3339.
    pub updated: String,
    /// State sync probes answered for this session.
    #[serde(default)]
    pub probes: u64,
    /// Time of the latest probe, RFC 3339.
    #[serde(default)]
    pub last_probe: Option<String>,
    /// The latest report's results.
    #[serde(default)]
    pub last_report: Option<Vec<ReportResult>>,
}

impl Session {
    /// A session created now, not yet probed or reported on.
    fn new(
        id: SessionId,
        mac: String,
        status: PostureStatus,
        owner: &str,
        endpoint: Option<IpAddr>,
    ) -> Self {
        let now = now_rfc3339();
        Session {
            id,
            mac,
            status,
            owner: owner.to_owned(),
            endpoint,
            created: now.clone(),
            updated: now,
            probes: 0,
            last_probe: None,
            last_report: None,
        }
    }
}

/// How a session is seeded (config file or admin API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSpec {
    /// The endpoint's MAC (any common notation).
    pub mac: String,
    /// Initial status (default Unknown).
    #[serde(default = "unknown")]
    pub status: PostureStatus,
    /// Owning node (default: the first node).
    #[serde(default)]
    pub node: Option<String>,
    /// Endpoint address (default: none until the endpoint's first discovery).
    #[serde(default)]
    pub endpoint: Option<IpAddr>,
    /// Session id (default: a new one).
    #[serde(default)]
    pub id: Option<SessionId>,
}

fn unknown() -> PostureStatus {
    PostureStatus::Unknown
}

/// Why a session operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No session with this id.
    #[error("no session {0}")]
    NotFound(SessionId),
    /// The MAC is not a MAC.
    #[error("{0:?} is not a MAC address (expected aa:bb:cc:dd:ee:ff)")]
    BadMac(String),
    /// The id is already used by another MAC's session.
    #[error("session id {0} is already used by another endpoint")]
    DuplicateId(SessionId),
    /// A requirements request, report or probe came from another address than
    /// the one the session is bound to.
    #[error(
        "session {id} is bound to endpoint address {bound}, not {peer}: only a discovery from {peer} re-binds it"
    )]
    ForeignAddress {
        /// The session asked about.
        id: SessionId,
        /// The address the session is bound to.
        bound: IpAddr,
        /// The request's source address.
        peer: IpAddr,
    },
    /// The session file could not be written.
    #[error(transparent)]
    Storage(#[from] LabError),
}

/// Whether two addresses name the same endpoint: an IPv4-mapped IPv6 address
/// (what a socket bound to `[::]` reports for an IPv4 peer) equals its IPv4 form.
pub fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Lets a request from `peer` act on `s`, binding a session that has no
/// address yet to `peer`. `Ok(true)` means the session was bound now (the
/// caller persists it).
fn admit(s: &mut Session, peer: IpAddr) -> Result<bool, SessionError> {
    match s.endpoint {
        Some(bound) if same_host(bound, peer) => Ok(false),
        Some(bound) => Err(SessionError::ForeignAddress {
            id: s.id.clone(),
            bound,
            peer: peer.to_canonical(),
        }),
        None => {
            s.endpoint = Some(peer.to_canonical());
            Ok(true)
        }
    }
}

/// Logs a binding made by a session's first request, once it is stored.
fn log_first_binding(s: &Session) {
    if let Some(endpoint) = s.endpoint {
        tracing::info!(session = %s.id, mac = %s.mac, %endpoint, "session bound to the address of its first request");
    }
}

/// Current time, RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A new session id in the style of ISE's: the node's IPv4 address in hex (for
/// IPv6, its last four bytes), then 39 characters of `[A-Za-z0-9_-]`.
pub fn new_session_id(node_ip: IpAddr) -> SessionId {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let octets = match node_ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    let mut id: String = octets.iter().map(|b| format!("{b:02x}")).collect();
    id.extend((0..39).map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char));
    // Invariant: the id is built above from hex digits and the session-id
    // alphabet only, so it is always a valid session id.
    #[allow(clippy::expect_used)]
    SessionId::new(id).expect("generated session ids use only allowed characters")
}

#[derive(Debug, Default)]
struct Inner {
    by_mac: BTreeMap<String, Session>,
    by_id: HashMap<SessionId, String>,
    /// When a report or CoA last gave the session of a MAC a known status
    /// (in memory only: the dACL lag emulation measures from it).
    known_at: HashMap<String, Instant>,
}

impl Inner {
    /// A new id for a session of node `node_ip`, unused in the store.
    fn fresh_id(&self, node_ip: IpAddr) -> SessionId {
        loop {
            let id = new_session_id(node_ip);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// The MAC of session `id`.
    fn mac_of(&self, id: &SessionId) -> Result<String, SessionError> {
        self.by_id
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(id.clone()))
    }

    /// Session `id`, to change.
    fn session_mut(&mut self, id: &SessionId) -> Result<&mut Session, SessionError> {
        match self.by_id.get(id) {
            Some(mac) => self.by_mac.get_mut(mac),
            None => None,
        }
        .ok_or_else(|| SessionError::NotFound(id.clone()))
    }
}

/// The shared session store.
#[derive(Debug)]
pub struct SessionStore {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

fn file_name(mac: &str) -> String {
    format!("{}.json", mac.replace(':', "-"))
}

impl SessionStore {
    /// Opens `dir` (created if absent) and loads the session files in it.
    pub fn open(dir: &Path) -> Result<Self, LabError> {
        fsutil::create_dir(dir, "session directory")?;
        let mut inner = Inner::default();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| LabError::io("read", "session directory", dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Session>(&b).map_err(|e| e.to_string()))
                .and_then(|s| match posture_protocol::normalize_mac(&s.mac) {
                    Some(mac) if mac == s.mac => Ok(s),
                    _ => Err(format!("{:?} is not a MAC in wire form", s.mac)),
                });
            match parsed {
                Ok(s) if !inner.by_id.contains_key(&s.id) && !inner.by_mac.contains_key(&s.mac) => {
                    inner.by_id.insert(s.id.clone(), s.mac.clone());
                    inner.by_mac.insert(s.mac.clone(), s);
                }
                Ok(s) => {
                    tracing::warn!(file = %path.display(), session = %s.id, "duplicate session file ignored")
                }
                Err(error) => {
                    let aside = path.with_extension("json.corrupt");
                    tracing::warn!(file = %path.display(), moved_to = %aside.display(), %error, "corrupt session file moved aside");
                    let _ = std::fs::rename(&path, &aside);
                }
            }
        }
        Ok(SessionStore {
            dir: dir.to_owned(),
            inner: Mutex::new(inner),
        })
    }

    /// The session directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a
        // way that matters more than stopping the lab would, so keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, s: &Session) -> Result<(), LabError> {
        let json = serde_json::to_vec_pretty(s).map_err(|e| LabError::Config(e.to_string()))?;
        fsutil::write_atomic(
            &self.dir.join(file_name(&s.mac)),
            &json,
            "session file",
            false,
        )
    }

    /// Discovery for `mac` seen from `endpoint` on node `node`: the existing session
    /// (re-bound to `endpoint`; ownership taken over when its owner is not a
    /// node of this lab), or a new one with status Unknown owned by `node`.
    pub fn discover(
        &self,
        mac: &str,
        node: &str,
        node_ip: IpAddr,
        endpoint: IpAddr,
        valid_owners: &[&str],
    ) -> Result<(Session, bool), SessionError> {
        let endpoint = endpoint.to_canonical();
        let mut inner = self.lock();
        if let Some(s) = inner.by_mac.get_mut(mac) {
            let mut changed = false;
            if s.endpoint != Some(endpoint) {
                if let Some(old) = s.endpoint {
                    tracing::info!(session = %s.id, %mac, from = %old, to = %endpoint, "session re-bound to the endpoint's new address by its discovery");
                }
                s.endpoint = Some(endpoint);
                changed = true;
            }
            if !valid_owners.contains(&s.owner.as_str()) {
                s.owner = node.to_owned();
                changed = true;
            }
            if changed {
                s.updated = now_rfc3339();
                let snapshot = s.clone();
                self.persist(&snapshot)?;
                return Ok((snapshot, false));
            }
            return Ok((s.clone(), false));
        }
        let id = inner.fresh_id(node_ip);
        let s = Session::new(
            id.clone(),
            mac.to_owned(),
            PostureStatus::Unknown,
            node,
            Some(endpoint),
        );
        self.persist(&s)?;
        inner.by_id.insert(id, mac.to_owned());
        inner.by_mac.insert(mac.to_owned(), s.clone());
        Ok((s, true))
    }

    /// Applies `f` to a session and stores it. With `peer`, the change is a
    /// request of the endpoint's and is refused from another address.
    fn update<T>(
        &self,
        id: &SessionId,
        peer: Option<IpAddr>,
        f: impl FnOnce(&mut Session) -> T,
    ) -> Result<(Session, T), SessionError> {
        let mut inner = self.lock();
        let s = inner.session_mut(id)?;
        let before = s.clone();
        let bound_now = match peer {
            Some(peer) => admit(s, peer)?,
            None => false,
        };
        let out = f(s);
        s.updated = now_rfc3339();
        let snapshot = s.clone();
        if let Err(e) = self.persist(&snapshot) {
            // Keep memory and disk in step: undo the change that could not be stored.
            *s = before;
            return Err(e.into());
        }
        if bound_now {
            log_first_binding(&snapshot);
        }
        // A report or CoA deciding a known status is when the switch would
        // receive the new dACL; anything else ends that.
        if snapshot.status.is_known() {
            inner.known_at.insert(snapshot.mac.clone(), Instant::now());
        } else {
            inner.known_at.remove(&snapshot.mac);
        }
        Ok((snapshot, out))
    }

    /// Sets a session's status on the lab's own authority (CoA, MDM): no
    /// address check. Returns the session and the old status.
    pub fn set_status(
        &self,
        id: &SessionId,
        status: PostureStatus,
    ) -> Result<(Session, PostureStatus), SessionError> {
        self.update(id, None, |s| std::mem::replace(&mut s.status, status))
    }

    /// A CoA to `status` for every session `which` selects, on the lab's
    /// own authority, in one call (a PSN restart or a failed node makes
    /// thousands of sessions Unknown at once: `fleet-sim`, docs/fleet.md).
    /// Returns how many sessions changed status; a session already at
    /// `status` is left as it is. Stops at the first session file that
    /// cannot be written (the sessions before it keep their change).
    pub fn set_status_all(
        &self,
        status: PostureStatus,
        which: impl Fn(&Session) -> bool,
    ) -> Result<usize, SessionError> {
        let ids: Vec<SessionId> = self
            .lock()
            .by_mac
            .values()
            .filter(|s| s.status != status && which(s))
            .map(|s| s.id.clone())
            .collect();
        let mut changed = 0;
        for id in ids {
            match self.set_status(&id, status) {
                Ok(_) => changed += 1,
                // Ended in the meantime: nothing to change.
                Err(SessionError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// The endpoint at `peer` fetches its requirements: the session becomes
    /// Pending. Returns the session and the old status.
    pub fn begin_assessment(
        &self,
        id: &SessionId,
        peer: IpAddr,
    ) -> Result<(Session, PostureStatus), SessionError> {
        self.update(id, Some(peer), |s| {
            std::mem::replace(&mut s.status, PostureStatus::Pending)
        })
    }

    /// The session as the endpoint at `peer` may see it: refused from another
    /// address than the session's. Changes nothing: a session without an
    /// address is bound by the request that succeeds, not by one that may
    /// still be refused (a malformed report).
    pub fn authorize(&self, id: &SessionId, peer: IpAddr) -> Result<Session, SessionError> {
        let s = self
            .get(id)
            .ok_or_else(|| SessionError::NotFound(id.clone()))?;
        match s.endpoint {
            Some(bound) if !same_host(bound, peer) => Err(SessionError::ForeignAddress {
                id: s.id,
                bound,
                peer: peer.to_canonical(),
            }),
            _ => Ok(s),
        }
    }

    /// The session `id` in `inner` once a request from `peer` is admitted to
    /// it; a binding made now is stored before the session is handed out.
    fn admitted<'a>(
        &self,
        inner: &'a mut Inner,
        id: &SessionId,
        peer: IpAddr,
    ) -> Result<&'a mut Session, SessionError> {
        let s = inner.session_mut(id)?;
        if admit(s, peer)? {
            let updated = std::mem::replace(&mut s.updated, now_rfc3339());
            if let Err(e) = self.persist(s) {
                // Keep memory and disk in step: an unstored binding is no binding.
                s.endpoint = None;
                s.updated = updated;
                return Err(e.into());
            }
            log_first_binding(s);
        }
        Ok(s)
    }

    /// Records a report from the endpoint at `peer` and its decision.
    pub fn record_report(
        &self,
        id: &SessionId,
        peer: IpAddr,
        status: PostureStatus,
        results: Vec<ReportResult>,
    ) -> Result<(Session, PostureStatus), SessionError> {
        self.update(id, Some(peer), |s| {
            s.last_report = Some(results);
            std::mem::replace(&mut s.status, status)
        })
    }

    /// Counts a state sync probe from `peer` (in memory only, unless it binds
    /// the session) and returns the session as it is now.
    pub fn record_probe(&self, id: &SessionId, peer: IpAddr) -> Result<Session, SessionError> {
        let mut inner = self.lock();
        let s = self.admitted(&mut inner, id, peer)?;
        s.probes += 1;
        s.last_probe = Some(now_rfc3339());
        Ok(s.clone())
    }

    /// Ends a session: it is forgotten and its file removed.
    pub fn end(&self, id: &SessionId) -> Result<Session, SessionError> {
        let mut inner = self.lock();
        let mac = inner.mac_of(id)?;
        let path = self.dir.join(file_name(&mac));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::io("remove", "session file", path, e).into()),
        }
        inner.by_id.remove(id);
        inner.known_at.remove(&mac);
        inner
            .by_mac
            .remove(&mac)
            .ok_or_else(|| SessionError::NotFound(id.clone()))
    }

    /// Creates or replaces the session of a MAC (config seeds, admin API).
    pub fn seed(
        &self,
        spec: &SeedSpec,
        owner: &str,
        node_ip: IpAddr,
    ) -> Result<Session, SessionError> {
        let mac = posture_protocol::normalize_mac(&spec.mac)
            .ok_or_else(|| SessionError::BadMac(spec.mac.clone()))?;
        let mut inner = self.lock();
        let id = match &spec.id {
            Some(id) => {
                if inner.by_id.get(id).is_some_and(|m| *m != mac) {
                    return Err(SessionError::DuplicateId(id.clone()));
                }
                id.clone()
            }
            None => inner.fresh_id(node_ip),
        };
        let s = Session::new(
            id.clone(),
            mac.clone(),
            spec.status,
            owner,
            spec.endpoint.map(|a| a.to_canonical()),
        );
        self.persist(&s)?;
        // A seeded session's dACL is in place from the start: no lag.
        inner.known_at.remove(&mac);
        if let Some(old) = inner.by_mac.insert(mac.clone(), s.clone()) {
            inner.by_id.remove(&old.id);
        }
        inner.by_id.insert(id, mac);
        Ok(s)
    }

    /// A session by id.
    pub fn get(&self, id: &SessionId) -> Option<Session> {
        let inner = self.lock();
        inner
            .by_id
            .get(id)
            .and_then(|m| inner.by_mac.get(m))
            .cloned()
    }

    /// A session by MAC (wire form).
    pub fn by_mac(&self, mac: &str) -> Option<Session> {
        self.lock().by_mac.get(mac).cloned()
    }

    /// Every session, ordered by MAC.
    pub fn list(&self) -> Vec<Session> {
        self.lock().by_mac.values().cloned().collect()
    }

    /// Whether an endpoint address belongs to a session whose status is
    /// Compliant or NonCompliant: the endpoints the dACL emulation blocks.
    pub fn endpoint_is_known(&self, addr: IpAddr) -> bool {
        self.lock()
            .by_mac
            .values()
            .any(|s| s.endpoint.is_some_and(|e| same_host(e, addr)) && s.status.is_known())
    }

    /// The session bound to an endpoint address (the latest updated if
    /// several are), as a switch finds the session of a source address.
    pub fn by_endpoint(&self, addr: IpAddr) -> Option<Session> {
        self.lock()
            .by_mac
            .values()
            .filter(|s| s.endpoint.is_some_and(|e| same_host(e, addr)))
            .max_by(|a, b| a.updated.cmp(&b.updated))
            .cloned()
    }

    /// When a report or CoA last gave session `id` a known status, if it did
    /// in this process (seeded and loaded sessions have no such moment).
    pub fn known_since(&self, id: &SessionId) -> Option<Instant> {
        let inner = self.lock();
        let mac = inner.by_id.get(id)?;
        inner.known_at.get(mac).copied()
    }

    /// For an endpoint address with a Compliant or NonCompliant session (the
    /// endpoints the dACL emulation blocks): the latest moment a report or
    /// CoA gave one of them its status (`None` inside if none did in this
    /// process). `None` if the address has no such session.
    pub fn endpoint_known_since(&self, addr: IpAddr) -> Option<Option<Instant>> {
        let inner = self.lock();
        let mut found = None;
        for s in inner.by_mac.values() {
            if s.endpoint.is_some_and(|e| same_host(e, addr)) && s.status.is_known() {
                let at = inner.known_at.get(&s.mac).copied();
                found = Some(match found {
                    Some(Some(prev)) => Some(at.map_or(prev, |a: Instant| a.max(prev))),
                    _ => at,
                });
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: &str = "00:50:56:a8:be:02";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A store in a new directory (removed when the guard is dropped).
    fn new_store() -> (tempfile::TempDir, SessionStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// A discovery of `MAC` on psn1 (127.0.0.1), the lab's only node, from `endpoint`.
    fn discover_on_psn1(store: &SessionStore, endpoint: &str) -> (Session, bool) {
        store
            .discover(MAC, "psn1", ip("127.0.0.1"), ip(endpoint), &["psn1"])
            .unwrap()
    }

    #[test]
    fn ids_look_like_ise() {
        let id = new_session_id(ip("192.168.48.231"));
        assert!(id.as_str().starts_with("c0a830e7"));
        assert_eq!(id.as_str().len(), 47);
    }

    #[test]
    fn discovery_creates_once_and_survives_reopen() {
        let (dir, store) = new_store();
        let (a, created) = discover_on_psn1(&store, "127.0.0.2");
        assert!(created);
        assert_eq!(a.status, PostureStatus::Unknown);
        let (b, created) = store
            .discover(
                MAC,
                "psn2",
                ip("127.0.0.1"),
                ip("127.0.0.3"),
                &["psn1", "psn2"],
            )
            .unwrap();
        assert!(!created);
        assert_eq!(b.id, a.id);
        assert_eq!(b.owner, "psn1");
        assert_eq!(b.endpoint, Some(ip("127.0.0.3")));
        store.set_status(&a.id, PostureStatus::Compliant).unwrap();
        assert!(store.endpoint_is_known(ip("127.0.0.3")));
        assert!(!store.endpoint_is_known(ip("127.0.0.2")));
        drop(store);
        let reopened = SessionStore::open(dir.path()).unwrap();
        let s = reopened.get(&a.id).unwrap();
        assert_eq!(s.status, PostureStatus::Compliant);
        reopened.end(&a.id).unwrap();
        assert!(reopened.get(&a.id).is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn endpoint_operations_are_refused_from_another_address() {
        let (_dir, store) = new_store();
        let (s, _) = discover_on_psn1(&store, "127.0.0.2");
        let foreign = ip("127.0.0.3");
        let refused = |e: SessionError| match e {
            SessionError::ForeignAddress { id, bound, peer } => {
                assert_eq!((id, bound, peer), (s.id.clone(), ip("127.0.0.2"), foreign));
            }
            other => panic!("expected a foreign-address refusal, got {other}"),
        };
        refused(store.begin_assessment(&s.id, foreign).unwrap_err());
        refused(
            store
                .record_report(&s.id, foreign, PostureStatus::Compliant, Vec::new())
                .unwrap_err(),
        );
        refused(store.record_probe(&s.id, foreign).unwrap_err());
        refused(store.authorize(&s.id, foreign).unwrap_err());
        let now = store.get(&s.id).unwrap();
        assert_eq!((now.status, now.probes), (PostureStatus::Unknown, 0));
        assert!(now.last_report.is_none());
        // The admin's CoA is not an endpoint request.
        store.set_status(&s.id, PostureStatus::Compliant).unwrap();
        // The endpoint itself, in either form of its address.
        assert_eq!(
            store.record_probe(&s.id, ip("127.0.0.2")).unwrap().probes,
            1
        );
        assert_eq!(
            store
                .record_probe(&s.id, ip("::ffff:127.0.0.2"))
                .unwrap()
                .probes,
            2
        );
        let msg = store.authorize(&s.id, foreign).unwrap_err().to_string();
        assert!(
            msg.contains("bound to endpoint address 127.0.0.2, not 127.0.0.3"),
            "{msg}"
        );
    }

    #[test]
    fn addresses_are_stored_in_canonical_form_and_rebinding_takes_a_discovery() {
        let (_dir, store) = new_store();
        let (s, _) = discover_on_psn1(&store, "::ffff:10.0.0.2");
        assert_eq!(s.endpoint, Some(ip("10.0.0.2")));
        assert!(same_host(ip("::ffff:10.0.0.2"), ip("10.0.0.2")));
        assert!(!same_host(ip("::10.0.0.2"), ip("10.0.0.2")));
        store.set_status(&s.id, PostureStatus::Compliant).unwrap();
        assert!(store.endpoint_is_known(ip("::ffff:10.0.0.2")));
        // The same address in the other form is no change.
        let (again, _) = discover_on_psn1(&store, "10.0.0.2");
        assert_eq!(again.updated, store.get(&s.id).unwrap().updated);
        // A discovery from a new address re-binds.
        discover_on_psn1(&store, "10.0.0.3");
        assert!(store.authorize(&s.id, ip("10.0.0.3")).is_ok());
        assert!(store.authorize(&s.id, ip("10.0.0.2")).is_err());
    }

    #[test]
    fn a_session_seeded_without_an_address_is_bound_by_its_first_request() {
        let (dir, store) = new_store();
        let spec = SeedSpec {
            mac: MAC.into(),
            status: PostureStatus::Unknown,
            node: None,
            endpoint: None,
            id: None,
        };
        let s = store.seed(&spec, "psn1", ip("127.0.0.1")).unwrap();
        assert_eq!(s.endpoint, None);
        store
            .begin_assessment(&s.id, ip("::ffff:127.0.0.5"))
            .unwrap();
        assert!(store.record_probe(&s.id, ip("127.0.0.6")).is_err());
        drop(store);
        let reopened = SessionStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get(&s.id).unwrap().endpoint, Some(ip("127.0.0.5")));
        let seeded = reopened
            .seed(
                &SeedSpec {
                    endpoint: Some(ip("::ffff:127.0.0.9")),
                    ..spec
                },
                "psn1",
                ip("127.0.0.1"),
            )
            .unwrap();
        assert_eq!(seeded.endpoint, Some(ip("127.0.0.9")));
    }

    #[test]
    fn corrupt_files_are_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("00-50-56-a8-be-02.json"), "{not json").unwrap();
        let store = SessionStore::open(dir.path()).unwrap();
        assert!(store.list().is_empty());
        assert!(dir.path().join("00-50-56-a8-be-02.json.corrupt").exists());
    }

    #[test]
    fn seed_replaces_and_refuses_bad_macs() {
        let (_dir, store) = new_store();
        let spec = SeedSpec {
            mac: "0050.56A8.BE02".into(),
            status: PostureStatus::Compliant,
            node: None,
            endpoint: Some(ip("127.0.0.9")),
            id: Some(SessionId::new("seeded-1").unwrap()),
        };
        let s = store.seed(&spec, "psn1", ip("127.0.0.1")).unwrap();
        assert_eq!(s.mac, MAC);
        let again = store
            .seed(
                &SeedSpec {
                    id: None,
                    ..spec.clone()
                },
                "psn1",
                ip("127.0.0.1"),
            )
            .unwrap();
        assert_ne!(again.id, s.id);
        assert!(store.get(&s.id).is_none());
        assert!(matches!(
            store.seed(
                &SeedSpec {
                    mac: "nope".into(),
                    ..spec
                },
                "psn1",
                ip("127.0.0.1")
            ),
            Err(SessionError::BadMac(_))
        ));
    }
}
