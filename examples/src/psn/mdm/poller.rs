//! The compliance poll: every polling interval, ask the MDM for the verdict of
//! each session whose cached verdict has expired (batched at the MDM's
//! `query_max_size`), and turn a changed verdict into a CoA.
//!
//! The CoA sets the session to **Unknown**, not NonCompliant: the dACL of a
//! known posture (Compliant or NonCompliant) blocks the state sync port, so an
//! agent would never learn of a session set straight to NonCompliant; Unknown
//! opens the port as ISE's reauthorisation into a posture-pending policy does,
//! the agent's probe gets through, it rediscovers and re-assesses, and the
//! report decision then honours the MDM's verdict (a session whose device the
//! MDM holds non-compliant is NonCompliant whatever the agent reports).
//!
//! A poll that fails in any way (unreachable MDM, malformed XML, wrong types,
//! a reply larger than 1 MiB, devices not asked for) changes no verdict and
//! no session: it is logged and recorded in the status, and the next poll
//! tries again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use posture_protocol::{PostureStatus, SessionId};
use tokio::sync::watch;

use super::CachedVerdict;
use super::client::{MdmClient, MdmFailure};
use super::config::DeviceIdentifier;
use super::diagnose;
use super::xml::{Verdict, mac_for_mdm};
use crate::psn::app::LabState;
use crate::psn::sessions::{Session, now_rfc3339};

/// A CoA the poll caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdmCoa {
    /// The session.
    pub session: SessionId,
    /// The endpoint.
    pub mac: String,
    /// Status before.
    pub from: PostureStatus,
    /// Status after (always Unknown: see the module doc).
    pub to: PostureStatus,
    /// Why.
    pub reason: String,
}

/// What one poll did.
#[derive(Debug, Clone, Default)]
pub struct PollOutcome {
    /// Device queries sent.
    pub queries: usize,
    /// Identifiers asked for.
    pub asked: usize,
    /// Verdicts that changed.
    pub changed: usize,
    /// CoAs.
    pub coas: Vec<MdmCoa>,
}

/// The poller of one MDM.
#[derive(Debug, Clone)]
pub struct Poller {
    client: MdmClient,
    state: Arc<LabState>,
}

/// The identifier of a session, first available in the configured order.
/// Sessions carry no endpoint certificate in the lab, so only the MAC is ever
/// available; the certificate GUIDs are kept in the order for fidelity.
pub fn identifier(order: &[DeviceIdentifier], s: &Session) -> Option<(DeviceIdentifier, String)> {
    order.iter().find_map(|kind| match kind {
        DeviceIdentifier::LegacyMac => Some((*kind, mac_for_mdm(&s.mac))),
        DeviceIdentifier::CertSanUriGuid | DeviceIdentifier::CertCnGuid => None,
    })
}

impl Poller {
    /// A poller over shared state.
    pub fn new(client: MdmClient, state: Arc<LabState>) -> Self {
        let s = client.settings();
        let (name, url, enabled) = (s.name.clone(), s.base_url(), s.enabled);
        state.mdm.update_status(|st| {
            st.name = Some(name);
            st.url = Some(url);
            st.enabled = enabled;
        });
        Poller { client, state }
    }

    /// One poll at time `now` (tests pass a clock of their own to check the cache expiration).
    pub async fn poll_once(&self, now: Instant) -> Result<PollOutcome, MdmFailure> {
        let result = self.poll_inner(now).await;
        let at = now_rfc3339();
        match &result {
            Ok(out) => self.state.mdm.update_status(|st| {
                st.polls += 1;
                st.polls_ok += 1;
                st.device_queries += out.queries as u64;
                st.identifiers_asked += out.asked as u64;
                st.coas += out.coas.len() as u64;
                st.last_poll = Some(at);
                st.last_error = None;
            }),
            Err(f) => {
                let advice = diagnose::advice(&f.error, self.client.settings());
                tracing::warn!(mdm = %self.client.settings().name, url = %f.url, error = %f.error, diagnosis = %advice, "MDM poll failed; sessions unchanged");
                self.state.mdm.update_status(|st| {
                    st.polls += 1;
                    st.errors += 1;
                    st.last_poll = Some(at);
                    st.last_error = Some(f.to_string());
                });
            }
        }
        result
    }

    async fn poll_inner(&self, now: Instant) -> Result<PollOutcome, MdmFailure> {
        let settings = self.client.settings();
        let info = self.client.server_info().await?;
        self.state
            .mdm
            .update_status(|st| st.server_info = Some(info.clone()));
        // Due: sessions with an identifier whose verdict is absent or expired.
        let mut due: HashMap<DeviceIdentifier, Vec<(String, Session)>> = HashMap::new();
        for s in self.state.sessions.list() {
            let Some((kind, id)) = identifier(&settings.identifiers, &s) else {
                continue;
            };
            let fresh = self.state.mdm.verdict(&s.mac).is_some_and(|v| {
                now.saturating_duration_since(v.fetched) < settings.cache_expiration
            });
            if !fresh {
                due.entry(kind).or_default().push((id, s));
            }
        }
        // Ask first, apply after: a failure in any batch changes nothing.
        let mut out = PollOutcome::default();
        let mut answers: Vec<(Session, Verdict, Option<String>)> = Vec::new();
        for (kind, items) in &due {
            for batch in items.chunks(info.query_max_size) {
                let values: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
                let reply = self
                    .client
                    .devices(&info, kind.query_criteria(), &values)
                    .await?;
                out.queries += 1;
                out.asked += values.len();
                for (id, session) in batch {
                    let (verdict, reason) = reply
                        .devices
                        .iter()
                        .find(|d| &d.id == id)
                        .map_or((Verdict::NotRegistered, None), |d| {
                            (d.verdict, d.reason.clone())
                        });
                    answers.push((session.clone(), verdict, reason));
                }
            }
        }
        let fetched_at = now_rfc3339();
        for (session, verdict, reason) in answers {
            let previous = self.state.mdm.store(
                &session.mac,
                CachedVerdict {
                    verdict,
                    reason: reason.clone(),
                    fetched: now,
                    fetched_at: fetched_at.clone(),
                },
            );
            let previous = previous.map(|p| p.verdict);
            if previous == Some(verdict) {
                continue;
            }
            out.changed += 1;
            tracing::info!(mdm = %settings.name, mac = %session.mac, session = %session.id, from = ?previous, to = ?verdict, reason = reason.as_deref().unwrap_or(""), "MDM verdict changed");
            if let Some(coa) = self.coa_for(&session, previous, verdict, reason.as_deref()) {
                out.coas.push(coa);
            }
        }
        Ok(out)
    }

    /// The verdict for the session `s` at authentication time (its discovery)
    /// at `now`: a cached verdict within the cache expiration is used without
    /// asking; otherwise the MDM is asked about this one device and the answer
    /// cached (a changed verdict gets the CoA the poll would give it). When
    /// asking fails, the cached verdict stays, however old: a device the MDM
    /// last held non-compliant is not let through because the MDM is down.
    pub async fn at_authentication(&self, s: &Session, now: Instant) -> Option<CachedVerdict> {
        let settings = self.client.settings();
        let cached = self.state.mdm.verdict(&s.mac);
        if let Some(v) = &cached
            && now.saturating_duration_since(v.fetched) < settings.cache_expiration
        {
            self.state.mdm.update_status(|st| st.auth_cache_hits += 1);
            return cached;
        }
        let (kind, id) = identifier(&settings.identifiers, s)?;
        let asked = async {
            let info = self.client.server_info().await?;
            self.client
                .devices(&info, kind.query_criteria(), std::slice::from_ref(&id))
                .await
        }
        .await;
        let reply = match asked {
            Ok(reply) => reply,
            Err(f) => {
                let advice = diagnose::advice(&f.error, settings);
                tracing::warn!(mdm = %settings.name, url = %f.url, error = %f.error, diagnosis = %advice, session = %s.id, mac = %s.mac, "MDM not asked at authentication; the cached verdict, if any, stays");
                self.state.mdm.update_status(|st| st.auth_errors += 1);
                return cached;
            }
        };
        let (verdict, reason) = reply
            .devices
            .iter()
            .find(|d| d.id == id)
            .map_or((Verdict::NotRegistered, None), |d| {
                (d.verdict, d.reason.clone())
            });
        let fresh = CachedVerdict {
            verdict,
            reason: reason.clone(),
            fetched: now,
            fetched_at: now_rfc3339(),
        };
        let previous = self
            .state
            .mdm
            .store(&s.mac, fresh.clone())
            .map(|p| p.verdict);
        tracing::info!(mdm = %settings.name, session = %s.id, mac = %s.mac, verdict = ?verdict, reason = reason.as_deref().unwrap_or(""), "MDM asked at authentication");
        let coa = if previous != Some(verdict) {
            self.coa_for(s, previous, verdict, reason.as_deref())
        } else {
            None
        };
        self.state.mdm.update_status(|st| {
            st.auth_queries += 1;
            st.coas += u64::from(coa.is_some());
        });
        Some(fresh)
    }

    /// Applies the CoA a changed verdict calls for, if any.
    fn coa_for(
        &self,
        s: &Session,
        previous: Option<Verdict>,
        verdict: Verdict,
        reason: Option<&str>,
    ) -> Option<MdmCoa> {
        let why = match (previous, verdict, s.status) {
            (_, Verdict::NonCompliant, PostureStatus::Compliant) => format!(
                "MDM {} reports the device non-compliant{}",
                self.client.settings().name,
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            ),
            (Some(Verdict::NonCompliant), v, PostureStatus::NonCompliant)
                if v != Verdict::NonCompliant =>
            {
                format!(
                    "MDM {} no longer reports the device non-compliant (now {v:?})",
                    self.client.settings().name
                )
            }
            _ => return None,
        };
        match self
            .state
            .sessions
            .set_status(&s.id, PostureStatus::Unknown)
        {
            Ok((after, from)) => {
                tracing::info!(session = %s.id, mac = %s.mac, %from, to = %after.status, reason = %why, "CoA from the MDM verdict");
                Some(MdmCoa {
                    session: s.id.clone(),
                    mac: s.mac.clone(),
                    from,
                    to: after.status,
                    reason: why,
                })
            }
            Err(error) => {
                // The session ended meanwhile, or its file could not be written.
                tracing::warn!(session = %s.id, %error, "CoA from the MDM verdict not applied");
                None
            }
        }
    }

    /// Polls at the polling interval until shutdown (the first poll at once).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.client.settings().polling_interval;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(mdm = %self.client.settings().name, url = %self.client.settings().base_url(), ?interval, "MDM poller started");
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = ticker.tick() => {
                    if let Ok(out) = self.poll_once(Instant::now()).await
                        && (out.queries > 0 || out.changed > 0)
                    {
                        tracing::debug!(queries = out.queries, asked = out.asked, changed = out.changed, coas = out.coas.len(), "MDM poll done");
                    }
                }
            }
        }
    }
}
