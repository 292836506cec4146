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
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::faults::MdmFault;
use super::inventory::Device;
use super::service::MdmLabState;

/// The admin service.
#[derive(Clone)]
pub struct MdmAdmin {
    state: Arc<MdmLabState>,
    token: Arc<str>,
}

impl std::fmt::Debug for MdmAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdmAdmin")
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComplianceBody {
    compliant: bool,
    #[serde(default)]
    reason: Option<String>,
}

type Out = (StatusCode, Value);

fn err(status: StatusCode, m: impl Into<String>) -> Out {
    (status, json!({ "error": m.into() }))
}

impl MdmAdmin {
    /// Admin over shared state with a token.
    pub fn new(state: Arc<MdmLabState>, token: String) -> Self {
        MdmAdmin {
            state,
            token: token.into(),
        }
    }

    async fn body<T: serde::de::DeserializeOwned, B>(req: Request<B>) -> Result<T, Out>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let bytes = crate::body::read_capped(req, 64 * 1024)
            .await
            .map_err(|e| err(StatusCode::BAD_REQUEST, e.to_string()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| err(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
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
        let mut text = serde_json::to_vec_pretty(&value).unwrap_or_default();
        text.push(b'\n');
        let mut r = Response::new(Full::new(Bytes::from(text)));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }

    async fn route<B>(&self, peer: SocketAddr, req: Request<B>) -> Result<Out, Out>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !peer.ip().is_loopback() {
            return Err(err(
                StatusCode::FORBIDDEN,
                "the admin API answers loopback clients only",
            ));
        }
        let ok = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
            .is_some_and(|(_, t)| {
                let (a, b) = (t.trim().as_bytes(), self.token.as_bytes());
                a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
            });
        if !ok {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (from DIR/mdm-admin-token)",
            ));
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let to = |v: &dyn erased::Ser| v.value();
        match (&method, path.as_str()) {
            (&Method::GET, "/devices") => Ok((StatusCode::OK, to(&self.state.inventory.list()))),
            (&Method::POST, "/devices") => {
                let d: Device = Self::body(req).await?;
                self.state
                    .inventory
                    .upsert(d.clone())
                    .map_err(|m| err(StatusCode::BAD_REQUEST, m))?;
                tracing::info!(mac = ?d.mac, guid = ?d.guid, compliant = d.compliant, "mdm-lab: device added");
                Ok((StatusCode::CREATED, to(&d)))
            }
            (&Method::GET, "/stats") => Ok((StatusCode::OK, to(&self.state.stats.view()))),
            (&Method::GET, "/fault") => Ok((StatusCode::OK, to(&self.state.fault()))),
            (&Method::POST, "/fault") => {
                let f: MdmFault = Self::body(req).await?;
                f.validate().map_err(|m| err(StatusCode::BAD_REQUEST, m))?;
                self.state.set_fault(f);
                tracing::info!(mode = ?f.mode, slow_ms = f.slow_ms, scope = ?f.scope, "mdm-lab: fault mode switched");
                Ok((StatusCode::OK, to(&f)))
            }
            (&Method::POST, p) if p.starts_with("/devices/") && p.ends_with("/compliance") => {
                let id = &p["/devices/".len()..p.len() - "/compliance".len()];
                let b: ComplianceBody = Self::body(req).await?;
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
                Ok((StatusCode::OK, to(&d)))
            }
            _ => Err(err(
                StatusCode::NOT_FOUND,
                format!("no admin endpoint {method} {path}"),
            )),
        }
    }
}

mod erased {
    //! A tiny helper so the router can serialise values of different types.
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Serves the admin API until shutdown (plain HTTP on loopback; see
/// docs/psn-lab.md for why).
pub async fn serve(listener: TcpListener, admin: MdmAdmin, shutdown: watch::Receiver<bool>) {
    crate::server::serve_admin_http(listener, shutdown, move |peer, req| {
        let admin = admin.clone();
        async move { admin.handle(peer, req).await }
    })
    .await;
}
