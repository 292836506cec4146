//! mdm-lab's network integration endpoint as a function of (state, request):
//!
//! - `GET {instance}/ciscoise/mdminfo/?ise_api_version=N`: server info;
//! - `POST {instance}/ciscoise/v3/devices/?querycriteria=macaddress|guid`:
//!   device query (at most `query_max_size` identifiers, else 400);
//! - any other path: 404; wrong or missing basic credentials: 401.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;
use serde::Serialize;

use super::faults::{HUGE_BYTES, MdmFault, MdmFaultMode};
use super::inventory::Inventory;
use crate::psn::mdm::xml::{DeviceQuery, DeviceRecord, DeviceReply, ServerInfo, Verdict};

/// Largest device query body accepted.
pub const MAX_QUERY_BODY: usize = 1024 * 1024;

/// What the MDM serves and how it authenticates.
#[derive(Debug, Clone)]
pub struct MdmIdentity {
    /// Instance path (`/networkIntegrationEndpoint/ID`), normalised.
    pub instance: String,
    /// Expected `Authorization` value.
    pub auth: String,
    /// `query_max_size` announced.
    pub query_max_size: usize,
    /// `api_version` announced.
    pub api_version: u32,
    /// Enrolment URL announced.
    pub redirect_url: String,
}

/// Counters for tests and `mdm-lab ctl stats`.
#[derive(Debug, Default)]
pub struct MdmStats {
    /// Server info requests answered 200.
    pub info_requests: AtomicU64,
    /// Device queries answered 200.
    pub device_queries: AtomicU64,
    /// Requests refused with 401.
    pub unauthorized: AtomicU64,
    /// Requests refused with 404.
    pub not_found: AtomicU64,
    /// Device queries refused for asking more than `query_max_size`.
    pub oversized_queries: AtomicU64,
    batches: Mutex<Vec<usize>>,
    asked: Mutex<Vec<String>>,
}

/// `GET /stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsView {
    /// Server info requests answered.
    pub info_requests: u64,
    /// Device queries answered.
    pub device_queries: u64,
    /// 401 answers.
    pub unauthorized: u64,
    /// 404 answers.
    pub not_found: u64,
    /// Queries over `query_max_size`.
    pub oversized_queries: u64,
    /// Size of each device query, in order.
    pub batch_sizes: Vec<usize>,
    /// Every identifier asked for, in order (last 100,000).
    pub asked: Vec<String>,
}

impl MdmStats {
    /// Snapshot.
    pub fn view(&self) -> StatsView {
        StatsView {
            info_requests: self.info_requests.load(Ordering::Relaxed),
            device_queries: self.device_queries.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            not_found: self.not_found.load(Ordering::Relaxed),
            oversized_queries: self.oversized_queries.load(Ordering::Relaxed),
            batch_sizes: self
                .batches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            asked: self.asked.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

/// Everything mdm-lab's tasks share.
#[derive(Debug)]
pub struct MdmLabState {
    /// Identity and credentials.
    pub identity: MdmIdentity,
    /// Devices.
    pub inventory: Inventory,
    /// Counters.
    pub stats: MdmStats,
    fault: Mutex<MdmFault>,
}

fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn reply(status: StatusCode, body: impl Into<Bytes>, xml: bool) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if xml {
            "application/xml"
        } else {
            "text/plain; charset=utf-8"
        }),
    );
    r.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("mdm-lab"));
    r
}

fn huge_body() -> Bytes {
    crate::common::body::padded_xml(
        "<ise_api><name>attributes</name><api_version>3</api_version><padding>",
        "</padding></ise_api>",
        HUGE_BYTES,
    )
}

impl MdmLabState {
    /// State over an identity and inventory.
    pub fn new(identity: MdmIdentity, inventory: Inventory) -> Self {
        MdmLabState {
            identity,
            inventory,
            stats: MdmStats::default(),
            fault: Mutex::new(MdmFault::default()),
        }
    }

    /// Current fault.
    pub fn fault(&self) -> MdmFault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Switches the fault.
    pub fn set_fault(&self, f: MdmFault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = f;
    }

    fn server_info(&self) -> ServerInfo {
        ServerInfo {
            api_path: format!("{}/ciscoise/v3", self.identity.instance),
            redirect_url: self.identity.redirect_url.clone(),
            query_max_size: self.identity.query_max_size,
            api_version: self.identity.api_version,
            vendor: "posture-sync lab".into(),
            product_name: "mdm-lab (JAMF-style network integration endpoint)".into(),
            product_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Answers one request.
    pub async fn handle<B>(self: &Arc<Self>, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let method = req.method().clone();
        let resp = self.route(req, &path, &query).await;
        tracing::info!(%method, path = %path, status = resp.status().as_u16(), "mdm request");
        resp
    }

    async fn route<B>(
        self: &Arc<Self>,
        req: Request<B>,
        path: &str,
        query: &str,
    ) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let id = &self.identity;
        let trimmed = path.trim_end_matches('/');
        let info_path = format!("{}/ciscoise/mdminfo", id.instance);
        let devices_path = format!("{}/ciscoise/v3/devices", id.instance);
        let is_info = trimmed == info_path;
        if !is_info && trimmed != devices_path {
            self.stats.not_found.fetch_add(1, Ordering::Relaxed);
            return reply(
                StatusCode::NOT_FOUND,
                format!("no network integration endpoint at {path}\n"),
                false,
            );
        }
        let fault = self.fault();
        let faulty = fault.applies(is_info);
        if faulty && fault.mode == MdmFaultMode::NotFound {
            self.stats.not_found.fetch_add(1, Ordering::Relaxed);
            return reply(
                StatusCode::NOT_FOUND,
                "no such integration (fault mode not-found)\n",
                false,
            );
        }
        let authorized = req
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| same_secret(v.as_bytes(), id.auth.as_bytes()));
        if !authorized || (faulty && fault.mode == MdmFaultMode::Unauthorized) {
            self.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
            let mut r = reply(StatusCode::UNAUTHORIZED, "unauthorized\n", false);
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mdm-lab\""),
            );
            return r;
        }
        if faulty {
            match fault.mode {
                MdmFaultMode::Slow => {
                    tokio::time::sleep(Duration::from_millis(fault.slow_ms)).await
                }
                MdmFaultMode::Malformed => {
                    return reply(
                        StatusCode::OK,
                        &b"\x00<ise_api><name>mdminfo</name><api_ver"[..],
                        true,
                    );
                }
                MdmFaultMode::Huge => return reply(StatusCode::OK, huge_body(), true),
                _ => {}
            }
        }
        if is_info {
            if method_is_not(&req, &Method::GET) {
                return reply(StatusCode::METHOD_NOT_ALLOWED, "use GET\n", false);
            }
            let mut info = self.server_info();
            if faulty && fault.mode == MdmFaultMode::OldApi {
                info.api_version = 2;
            }
            let mut xml = info.to_xml();
            if faulty && fault.mode == MdmFaultMode::WrongTypes {
                xml = xml.replace(
                    &format!("<query_max_size>{}</query_max_size>", info.query_max_size),
                    "<query_max_size>lots</query_max_size>",
                );
            }
            self.stats.info_requests.fetch_add(1, Ordering::Relaxed);
            return reply(StatusCode::OK, xml, true);
        }
        if method_is_not(&req, &Method::POST) {
            return reply(StatusCode::METHOD_NOT_ALLOWED, "use POST\n", false);
        }
        let criteria = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("querycriteria="))
            .unwrap_or_default()
            .to_owned();
        if criteria != "macaddress" && criteria != "guid" {
            return reply(
                StatusCode::BAD_REQUEST,
                "querycriteria must be macaddress or guid\n",
                false,
            );
        }
        let body = match crate::common::body::read_capped(req, MAX_QUERY_BODY).await {
            Ok(b) => b,
            Err(e) => return reply(StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n"), false),
        };
        let q = match DeviceQuery::from_xml(&body) {
            Ok(q) => q,
            Err(e) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    format!("malformed query: {e}\n"),
                    false,
                );
            }
        };
        if q.values.len() > id.query_max_size {
            self.stats.oversized_queries.fetch_add(1, Ordering::Relaxed);
            return reply(
                StatusCode::BAD_REQUEST,
                format!(
                    "{} identifiers in one query; query_max_size is {}\n",
                    q.values.len(),
                    id.query_max_size
                ),
                false,
            );
        }
        {
            self.stats
                .batches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(q.values.len());
            let mut asked = self.stats.asked.lock().unwrap_or_else(|p| p.into_inner());
            asked.extend(q.values.iter().cloned());
            let excess = asked.len().saturating_sub(100_000);
            asked.drain(..excess);
        }
        self.stats.device_queries.fetch_add(1, Ordering::Relaxed);
        let mut devices = self.inventory.query(&criteria, &q.values);
        if faulty && fault.mode == MdmFaultMode::ExtraDevice {
            devices.push(DeviceRecord {
                id: "FFFFFFFFFFFF".into(),
                verdict: Verdict::NonCompliant,
                reason: Some("not asked for".into()),
            });
        }
        let mut xml = DeviceReply { devices }.to_xml(&criteria);
        if faulty && fault.mode == MdmFaultMode::WrongTypes {
            xml = xml
                .replace("<status>true</status>", "<status>maybe</status>")
                .replace("<status>false</status>", "<status>42</status>");
        }
        reply(StatusCode::OK, xml, true)
    }
}

fn method_is_not<B>(req: &Request<B>, m: &Method) -> bool {
    req.method() != m
}
