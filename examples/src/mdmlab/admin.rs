//! mdm-lab's admin API: plain HTTP/1.1 + JSON on loopback with
//! `Authorization: Bearer <DIR/mdm-admin-token>` (the same reasoning as
//! psn-lab's admin API: loopback only, token readable by its owner only).
//!
//! | call | body | what |
//! |---|---|---|
//! | `GET /devices` | | the inventory |
//! | `POST /devices` | a device | add or replace a device |
//! | `POST /devices/{mac or guid}/compliance` | `{"compliant": false, "reason"?}` | flip a device |
//! | `GET /fault`, `POST /fault` | `{"mode", "slow_ms"?, "scope"?}` | fault mode |
//! | `GET /stats` | | counters, batch sizes, identifiers asked |

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::faults::MdmFault;
use super::inventory::Device;
use super::service::MdmLabState;
use crate::common::admin_http::{
    AdminReply as Out, AdminToken, BodyLimit, error_reply as err, json_body, json_reply,
    serve_admin_api, to_value,
};

// An oversized body gets 400 here (psn-lab's admin API: 413), as it always had.
const BODY_LIMIT: BodyLimit = BodyLimit {
    max: 64 * 1024,
    too_large: StatusCode::BAD_REQUEST,
};

/// The admin service. (`Debug` is safe: [`AdminToken`] redacts itself.)
#[derive(Debug, Clone)]
pub struct MdmAdmin {
    state: Arc<MdmLabState>,
    token: AdminToken,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComplianceBody {
    compliant: bool,
    #[serde(default)]
    reason: Option<String>,
}

impl MdmAdmin {
    /// Admin over shared state with a token.
    pub fn new(state: Arc<MdmLabState>, token: String) -> Self {
        MdmAdmin {
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
        let (status, value) = self.route(peer, req).await.unwrap_or_else(|e| e);
        tracing::info!(admin = true, %method, path = %path, status = status.as_u16(), "mdm-lab admin request");
        json_reply(status, &value)
    }

    async fn route<B>(&self, peer: SocketAddr, req: Request<B>) -> Result<Out, Out>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.token.admit(
            peer,
            &req,
            "missing or wrong bearer token (from DIR/mdm-admin-token)",
        )?;
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        match (&method, path.as_str()) {
            (&Method::GET, "/devices") => {
                Ok((StatusCode::OK, to_value(&self.state.inventory.list())))
            }
            (&Method::POST, "/devices") => {
                let d: Device = json_body(req, BODY_LIMIT).await?;
                self.state
                    .inventory
                    .upsert(d.clone())
                    .map_err(|m| err(StatusCode::BAD_REQUEST, m))?;
                tracing::info!(mac = ?d.mac, guid = ?d.guid, compliant = d.compliant, "mdm-lab: device added");
                Ok((StatusCode::CREATED, to_value(&d)))
            }
            (&Method::GET, "/stats") => Ok((StatusCode::OK, to_value(&self.state.stats.view()))),
            (&Method::GET, "/fault") => Ok((StatusCode::OK, to_value(&self.state.fault()))),
            (&Method::POST, "/fault") => {
                let f: MdmFault = json_body(req, BODY_LIMIT).await?;
                f.validate().map_err(|m| err(StatusCode::BAD_REQUEST, m))?;
                self.state.set_fault(f);
                tracing::info!(mode = ?f.mode, slow_ms = f.slow_ms, scope = ?f.scope, "mdm-lab: fault mode switched");
                Ok((StatusCode::OK, to_value(&f)))
            }
            (&Method::POST, p) if p.starts_with("/devices/") && p.ends_with("/compliance") => {
                let id = &p["/devices/".len()..p.len() - "/compliance".len()];
                let b: ComplianceBody = json_body(req, BODY_LIMIT).await?;
                let d = self
                    .state
                    .inventory
                    .set_compliance(id, b.compliant, b.reason)
                    .ok_or_else(|| {
                        err(
                            StatusCode::NOT_FOUND,
                            format!("no device {id} in the inventory"),
                        )
                    })?;
                tracing::info!(device = %id, compliant = d.compliant, reason = d.reason.as_deref().unwrap_or(""), "mdm-lab: device compliance flipped");
                Ok((StatusCode::OK, to_value(&d)))
            }
            _ => Err(err(
                StatusCode::NOT_FOUND,
                format!("no admin endpoint {method} {path}"),
            )),
        }
    }
}

/// Serves the admin API until shutdown (plain HTTP on loopback; see
/// docs/psn-lab.md for why).
pub async fn serve(listener: TcpListener, admin: MdmAdmin, shutdown: watch::Receiver<bool>) {
    serve_admin_api(listener, shutdown, admin, |admin, peer, req| async move {
        admin.handle(peer, req).await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use http::header;
    use http_body_util::BodyExt;
    use serde_json::{Value, json};

    use super::*;
    use crate::common::admin_http::LOOPBACK_ONLY;
    use crate::mdmlab::inventory::Inventory;
    use crate::mdmlab::service::MdmIdentity;

    async fn ask(admin: &MdmAdmin, peer: [u8; 4], auth: &str) -> (StatusCode, bool, Value) {
        let req = Request::get("/stats")
            .header(header::AUTHORIZATION, auth)
            .body(Full::<Bytes>::default())
            .unwrap();
        let resp = admin.handle((peer, 40000).into(), req).await;
        let status = resp.status();
        let challenge = resp.headers().contains_key(header::WWW_AUTHENTICATE);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, challenge, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn only_loopback_clients_with_the_token_are_answered() {
        let identity = MdmIdentity {
            instance: "/networkIntegrationEndpoint/lab".into(),
            auth: "Basic x".into(),
            query_max_size: 10,
            api_version: 3,
            redirect_url: "https://127.0.0.1/enroll".into(),
        };
        let state = Arc::new(MdmLabState::new(
            identity,
            Inventory::from_devices(Vec::new()).unwrap(),
        ));
        let admin = MdmAdmin::new(state, "c0ffee".into());
        assert!(!format!("{admin:?}").contains("c0ffee"));

        let (status, _, value) = ask(&admin, [192, 0, 2, 1], "Bearer c0ffee").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(value, json!({ "error": LOOPBACK_ONLY }));

        // mdm-lab's refusal names its own token file and sends no challenge.
        let (status, challenge, value) = ask(&admin, [127, 0, 0, 1], "Bearer nope").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!challenge);
        assert!(
            value["error"]
                .as_str()
                .unwrap()
                .contains("DIR/mdm-admin-token")
        );

        let (status, _, value) = ask(&admin, [127, 0, 0, 1], "bearer c0ffee").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(value["info_requests"], 0);
    }
}
