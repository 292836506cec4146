//! The admin API: plain HTTP/1.1 + JSON on loopback, `Authorization: Bearer TOKEN`.
//!
//! Plain HTTP is acceptable here only because the API listens on loopback (the
//! config refuses any other address) and every call needs the token from
//! `DIR/admin-token` (mode 0600): traffic never leaves the machine, and only the
//! user who started the lab can read the token. The PSN endpoints are TLS only.
//!
//! | call | body | what |
//! |---|---|---|
//! | `GET /sessions` | | every session |
//! | `POST /sessions` | `{"mac", "status"?, "node"?, "endpoint"?, "id"?}` | create or replace a MAC's session |
//! | `GET /sessions/{id}` | | one session |
//! | `POST /sessions/{id}/status` | `{"status": "Unknown"}` | change of authorization (CoA) |
//! | `DELETE /sessions/{id}` | | end the session |
//! | `POST /sessions/status` | `{"status", "owner"?}` | CoA of every session (of one owning node) at once |
//! | `GET /alarms`, `DELETE /alarms` | | list, clear alarms |
//! | `GET /nodes` | | nodes with faults, dACL mode, counters |
//! | `POST /nodes/{name}/fault` | `{"mode", "slow_ms"?, "scope"?}` | fault mode |
//! | `POST /nodes/{name}/dacl` | `{"mode": "off|reject|drop"}` | dACL emulation |
//! | `POST /nodes/{name}/dacl-lag` | `{"lag_ms": N}` | dACL lag (0-600000 ms) |
//! | `GET /mdm` | | MDM poller status and cached verdicts |

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;
use posture_protocol::{PostureStatus, SessionId};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::common::admin_http::{
    AdminReply as Out, AdminToken, BodyLimit, error_reply as err, json_body, json_reply,
    serve_admin_api, to_value,
};
use crate::psn::app::LabState;
use crate::psn::faults::{DaclLagSetting, DaclSetting, FaultMode, FaultSetting};
use crate::psn::sessions::{SeedSpec, SessionError};

/// Largest admin request body.
pub const MAX_ADMIN_BODY: usize = 64 * 1024;

const BODY_LIMIT: BodyLimit = BodyLimit {
    max: MAX_ADMIN_BODY,
    too_large: StatusCode::PAYLOAD_TOO_LARGE,
};

/// The admin service. (`Debug` is safe: [`AdminToken`] redacts itself.)
#[derive(Debug, Clone)]
pub struct Admin {
    state: Arc<LabState>,
    token: AdminToken,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: PostureStatus,
}

/// The body of `POST /sessions/status`: a CoA of many sessions at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkStatusBody {
    status: PostureStatus,
    /// Only the sessions this node owns (default: every session).
    #[serde(default)]
    owner: Option<String>,
}

fn session_err(e: SessionError) -> Out {
    match e {
        SessionError::NotFound(_) => err(StatusCode::NOT_FOUND, e.to_string()),
        SessionError::BadMac(_) | SessionError::DuplicateId(_) => {
            err(StatusCode::BAD_REQUEST, e.to_string())
        }
        SessionError::Storage(_) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        // Admin calls act on the lab's authority and never name a source
        // address; mapped for completeness.
        SessionError::ForeignAddress { .. } => err(StatusCode::FORBIDDEN, e.to_string()),
    }
}

impl Admin {
    /// The admin service over shared state with a token.
    pub fn new(state: Arc<LabState>, token: String) -> Self {
        Admin {
            state,
            token: AdminToken::new(token),
        }
    }

    /// Answers one admin request.
    pub async fn handle<B>(&self, peer: SocketAddr, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let (status, body) = self.route(peer, req).await;
        tracing::info!(admin = true, %method, path = %path, %peer, status = status.as_u16(), "admin request");
        let mut resp = json_reply(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"psn-lab admin\""),
            );
        }
        resp
    }

    fn node(&self, name: &str) -> Result<usize, Out> {
        self.state.node_index(name).ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                format!(
                    "no node {name:?} (nodes: {})",
                    self.state.node_names().join(", ")
                ),
            )
        })
    }

    async fn route<B>(&self, peer: SocketAddr, req: Request<B>) -> Out
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Err(refused) = self.token.admit(
            peer,
            &req,
            "missing or wrong bearer token (send 'Authorization: Bearer <token from DIR/admin-token>')",
        ) {
            return refused;
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let result = match (&method, path.as_str()) {
            (&Method::GET, "/sessions") => {
                Ok((StatusCode::OK, to_value(&self.state.sessions.list())))
            }
            (&Method::POST, "/sessions") => self.seed(req).await,
            (&Method::POST, "/sessions/status") => self.bulk_status(req).await,
            (&Method::GET, "/alarms") => Ok((StatusCode::OK, to_value(&self.state.alarms.list()))),
            (&Method::DELETE, "/alarms") => {
                self.state.alarms.clear();
                Ok((StatusCode::OK, json!({ "cleared": true })))
            }
            (&Method::GET, "/mdm") => Ok((StatusCode::OK, to_value(&self.state.mdm.view()))),
            (&Method::GET, "/nodes") => {
                let views: Vec<_> = self.state.nodes.iter().map(|n| n.view()).collect();
                Ok((StatusCode::OK, to_value(&views)))
            }
            (_, p) if p.starts_with("/nodes/") => self.node_call(&method, p, req).await,
            (_, p) if p.starts_with("/sessions/") => self.session_call(&method, p, req).await,
            (_, "/sessions" | "/alarms" | "/nodes" | "/mdm") => Err(err(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed on {path}"),
            )),
            _ => Err(err(
                StatusCode::NOT_FOUND,
                format!("no admin endpoint {path}"),
            )),
        };
        result.unwrap_or_else(|e| e)
    }

    async fn seed<B>(&self, req: Request<B>) -> Result<Out, Out>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let spec: SeedSpec = json_body(req, BODY_LIMIT).await?;
        let owner = match &spec.node {
            Some(n) => self.node(n)?,
            None => 0,
        };
        let node = &self.state.nodes[owner];
        let s = self
            .state
            .sessions
            .seed(&spec, &node.info.name, node.info.discovery.ip())
            .map_err(session_err)?;
        tracing::info!(session = %s.id, mac = %s.mac, status = %s.status, "session seeded through the admin API");
        Ok((StatusCode::CREATED, to_value(&s)))
    }

    async fn bulk_status<B>(&self, req: Request<B>) -> Result<Out, Out>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let body: BulkStatusBody = json_body(req, BODY_LIMIT).await?;
        if let Some(owner) = &body.owner {
            self.node(owner)?;
        }
        let changed = self
            .state
            .sessions
            .set_status_all(body.status, |s| {
                body.owner.as_ref().is_none_or(|o| *o == s.owner)
            })
            .map_err(session_err)?;
        tracing::info!(to = %body.status, owner = ?body.owner, changed, "CoA of many sessions through the admin API");
        Ok((StatusCode::OK, json!({ "changed": changed })))
    }

    async fn session_call<B>(
        &self,
        method: &Method,
        path: &str,
        req: Request<B>,
    ) -> Result<Out, Out>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let rest = &path["/sessions/".len()..];
        let (raw_id, action) = match rest.strip_suffix("/status") {
            Some(id) => (id, Some("status")),
            None => (rest, None),
        };
        let id = SessionId::new(raw_id).map_err(|e| err(StatusCode::BAD_REQUEST, e.to_string()))?;
        match (method, action) {
            (&Method::GET, None) => self
                .state
                .sessions
                .get(&id)
                .map(|s| (StatusCode::OK, to_value(&s)))
                .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no session {id}"))),
            (&Method::DELETE, None) => {
                let s = self.state.sessions.end(&id).map_err(session_err)?;
                tracing::info!(session = %id, mac = %s.mac, "session ended through the admin API");
                Ok((StatusCode::OK, json!({ "ended": to_value(&s) })))
            }
            (&Method::POST, Some(_)) => {
                let body: StatusBody = json_body(req, BODY_LIMIT).await?;
                let (s, old) = self
                    .state
                    .sessions
                    .set_status(&id, body.status)
                    .map_err(session_err)?;
                tracing::info!(session = %id, from = %old, to = %s.status, "CoA through the admin API");
                Ok((
                    StatusCode::OK,
                    json!({ "previous": old, "session": to_value(&s) }),
                ))
            }
            _ => Err(err(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{method} is not allowed on {path} (GET or DELETE /sessions/ID, POST /sessions/ID/status)"
                ),
            )),
        }
    }

    async fn node_call<B>(&self, method: &Method, path: &str, req: Request<B>) -> Result<Out, Out>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let rest = &path["/nodes/".len()..];
        let Some((name, what)) = rest.split_once('/') else {
            return Err(err(
                StatusCode::NOT_FOUND,
                format!(
                    "no admin endpoint {path} (POST /nodes/NAME/fault, /nodes/NAME/dacl or /nodes/NAME/dacl-lag)"
                ),
            ));
        };
        if what != "fault" && what != "dacl" && what != "dacl-lag" {
            return Err(err(
                StatusCode::NOT_FOUND,
                format!("no admin endpoint {path}"),
            ));
        }
        if method != Method::POST {
            return Err(err(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed on {path} (allowed: POST)"),
            ));
        }
        let i = self.node(name)?;
        let node = &self.state.nodes[i];
        if what == "fault" {
            let f: FaultSetting = json_body(req, BODY_LIMIT).await?;
            f.validate().map_err(|m| err(StatusCode::BAD_REQUEST, m))?;
            let was_down = node.fault().mode == FaultMode::Down;
            node.set_fault(f);
            tracing::info!(node = %name, mode = ?f.mode, slow_ms = f.slow_ms, scope = ?f.scope, "fault mode switched");
            if f.mode == FaultMode::Down && !was_down {
                // The node's endpoints re-authenticate elsewhere: posture
                // Unknown, and their next discovery on another node takes
                // the session over (`LabState::serving_node_names`).
                let moved = self
                    .state
                    .sessions
                    .set_status_all(PostureStatus::Unknown, |s| s.owner == name)
                    .map_err(session_err)?;
                tracing::info!(node = %name, sessions = moved, "node down: its sessions are Unknown and move to the other nodes at their next discovery");
            }
        } else if what == "dacl-lag" {
            let l: DaclLagSetting = json_body(req, BODY_LIMIT).await?;
            l.validate().map_err(|m| err(StatusCode::BAD_REQUEST, m))?;
            node.set_dacl_lag(std::time::Duration::from_millis(l.lag_ms));
            tracing::info!(node = %name, lag_ms = l.lag_ms, "dACL lag switched");
        } else {
            let d: DaclSetting = json_body(req, BODY_LIMIT).await?;
            node.set_dacl(d.mode);
            tracing::info!(node = %name, mode = ?d.mode, "dACL emulation switched");
        }
        Ok((StatusCode::OK, to_value(&node.view())))
    }
}

/// Serves the admin API until shutdown (plain HTTP on loopback; see
/// docs/psn-lab.md for why).
pub async fn serve(listener: TcpListener, admin: Admin, shutdown: watch::Receiver<bool>) {
    serve_admin_api(listener, shutdown, admin, |admin, peer, req| async move {
        admin.handle(peer, req).await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::common::admin_http::LOOPBACK_ONLY;
    use crate::psn::alarms::AlarmLog;
    use crate::psn::policy::Policy;
    use crate::psn::sessions::SessionStore;
    use serde_json::Value;

    async fn ask(admin: &Admin, peer: [u8; 4], auth: &str) -> (StatusCode, http::HeaderMap, Value) {
        let req = Request::get("/sessions")
            .header(header::AUTHORIZATION, auth)
            .body(Full::<Bytes>::default())
            .unwrap();
        let (parts, body) = admin.handle((peer, 40000).into(), req).await.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn only_loopback_clients_with_the_token_are_answered() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(LabState {
            nodes: Vec::new(),
            sessions: SessionStore::open(dir.path()).unwrap(),
            alarms: AlarmLog::default(),
            mdm: Default::default(),
            policy: Policy::default(),
        });
        let admin = Admin::new(state, "c0ffee".into());
        assert!(!format!("{admin:?}").contains("c0ffee"));

        let (status, _, value) = ask(&admin, [192, 0, 2, 1], "Bearer c0ffee").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(value, json!({ "error": LOOPBACK_ONLY }));

        let (status, headers, value) = ask(&admin, [127, 0, 0, 1], "Bearer nope").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"psn-lab admin\""
        );
        assert!(value["error"].as_str().unwrap().contains("DIR/admin-token"));

        let (status, headers, value) = ask(&admin, [127, 0, 0, 1], "Bearer c0ffee").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(value, json!([]));
    }
}
