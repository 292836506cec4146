//! The PSN endpoints of protocol.md as a plain function of (state, request):
//! [`app`] builds an [`App`] whose [`App::handle`] needs no socket, so tests can
//! drive it directly; the server module only adds TLS and the dACL emulation.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;
use posture_protocol::{
    Discovery, PostureResult, PostureStatusReply, PsnRef, Report, Requirements, SessionId, paths,
};
use profile_schema::Host;
use serde::{Deserialize, Serialize};

use crate::psn::alarms::{AlarmInput, AlarmLog, ProbeVerdict};
use crate::psn::faults::{DaclMode, FaultMode, FaultSetting, OVERSIZED_BYTES};
use crate::psn::policy::Policy;
use crate::psn::sessions::{SessionError, SessionStore};

/// Largest request body accepted (reports); larger is 413.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Which of a node's two ports a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortKind {
    /// Discovery, requirements, report (default 8443).
    Discovery,
    /// State sync probe (default 8449).
    StateSync,
}

/// A node's fixed facts, known once its ports are bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Host it names itself by in discovery replies.
    pub advertise: String,
    /// Bound discovery address.
    pub discovery: SocketAddr,
    /// Bound state sync address.
    pub sync: SocketAddr,
}

/// Per-node counters.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Requests answered on either port.
    pub requests: AtomicU64,
    /// Connections reset by the dACL emulation.
    pub dacl_rejected: AtomicU64,
    /// Connections held unanswered by the dACL emulation.
    pub dacl_dropped: AtomicU64,
    /// Requirements, report and probe requests refused because they came from
    /// another address than the session's endpoint address (403).
    pub binding_refused: AtomicU64,
    /// Connections the dACL emulation let through because the session's
    /// posture became known less than the dACL lag ago.
    pub dacl_lag_passed: AtomicU64,
    /// Requests answered, by what they asked for.
    pub by_kind: KindCounters,
    /// Connections reset because the node is in fault mode `down`.
    pub down_reset: AtomicU64,
}

/// What a request asked for, for the load figures (`fleet-sim`,
/// docs/fleet.md): the four requests of protocol.md and anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `GET /auth/discovery`.
    Discovery,
    /// `GET /auth/requirements`.
    Requirements,
    /// `POST /auth/report`.
    Report,
    /// `GET /auth/posturestatus` (the state sync probe).
    Probe,
    /// Any other path (answered 404).
    Other,
}

impl RequestKind {
    /// The kind of a request for `path` (method and port not considered:
    /// a wrong one is still a request of that kind the node had to answer).
    pub fn of_path(path: &str) -> RequestKind {
        match path {
            paths::DISCOVERY => RequestKind::Discovery,
            paths::REQUIREMENTS => RequestKind::Requirements,
            paths::REPORT => RequestKind::Report,
            paths::POSTURE_STATUS => RequestKind::Probe,
            _ => RequestKind::Other,
        }
    }
}

/// Requests answered by kind, counted as they are answered.
#[derive(Debug, Default)]
pub struct KindCounters {
    discovery: AtomicU64,
    requirements: AtomicU64,
    report: AtomicU64,
    probe: AtomicU64,
    other: AtomicU64,
}

impl KindCounters {
    /// Counts one answered request.
    pub fn count(&self, kind: RequestKind) {
        let c = match kind {
            RequestKind::Discovery => &self.discovery,
            RequestKind::Requirements => &self.requirements,
            RequestKind::Report => &self.report,
            RequestKind::Probe => &self.probe,
            RequestKind::Other => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> RequestsByKind {
        RequestsByKind {
            discovery: self.discovery.load(Ordering::Relaxed),
            requirements: self.requirements.load(Ordering::Relaxed),
            report: self.report.load(Ordering::Relaxed),
            probe: self.probe.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

/// Requests answered by a node since it started, by kind (`GET /nodes`'
/// `requests_by_kind`). Probes the dACL emulation reset or held are not
/// requests (no TLS, no HTTP): they are `dacl_rejected`/`dacl_dropped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestsByKind {
    /// Discovery requests.
    pub discovery: u64,
    /// Requirements requests.
    pub requirements: u64,
    /// Reports.
    pub report: u64,
    /// State sync probes answered (not the ones the dACL emulation blocked).
    pub probe: u64,
    /// Requests for any other path.
    pub other: u64,
}

/// A node: facts, knobs and counters.
#[derive(Debug)]
pub struct NodeState {
    /// Fixed facts.
    pub info: NodeInfo,
    fault: Mutex<FaultSetting>,
    dacl: Mutex<DaclMode>,
    dacl_lag_ms: AtomicU64,
    /// Counters.
    pub counters: NodeCounters,
}

/// A node as `GET /nodes` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeView {
    /// Facts.
    #[serde(flatten)]
    pub info: NodeInfo,
    /// Current fault.
    pub fault: FaultSetting,
    /// Current dACL emulation.
    pub dacl: DaclMode,
    /// How long after a report or CoA the dACL emulation starts to block, ms.
    pub dacl_lag_ms: u64,
    /// Requests answered.
    pub requests: u64,
    /// Connections reset by the dACL emulation.
    pub dacl_rejected: u64,
    /// Connections held by the dACL emulation.
    pub dacl_dropped: u64,
    /// Requests refused because the session is bound to another address.
    pub binding_refused: u64,
    /// Connections let through during the dACL lag.
    pub dacl_lag_passed: u64,
    /// Requests answered, by kind.
    #[serde(default)]
    pub requests_by_kind: RequestsByKind,
    /// Connections reset because the node is `down`.
    #[serde(default)]
    pub down_reset: u64,
}

impl NodeState {
    /// A node with no fault and the dACL emulation off.
    pub fn new(info: NodeInfo) -> Self {
        NodeState {
            info,
            fault: Mutex::new(FaultSetting::default()),
            dacl: Mutex::new(DaclMode::Off),
            dacl_lag_ms: AtomicU64::new(0),
            counters: NodeCounters::default(),
        }
    }

    /// Current fault setting.
    pub fn fault(&self) -> FaultSetting {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Switches the fault setting.
    pub fn set_fault(&self, f: FaultSetting) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = f;
    }

    /// Current dACL emulation mode.
    pub fn dacl(&self) -> DaclMode {
        *self.dacl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Switches the dACL emulation.
    pub fn set_dacl(&self, m: DaclMode) {
        *self.dacl.lock().unwrap_or_else(|p| p.into_inner()) = m;
    }

    /// The dACL lag: the dACL emulation blocks a session's endpoint only this
    /// long after a report or CoA gave it a known status (the switch applies
    /// the dACL after the CoA).
    pub fn dacl_lag(&self) -> Duration {
        Duration::from_millis(self.dacl_lag_ms.load(Ordering::Relaxed))
    }

    /// Sets the dACL lag.
    pub fn set_dacl_lag(&self, lag: Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        self.dacl_lag_ms.store(ms, Ordering::Relaxed);
    }

    /// The address a dACL line names for this node's state sync port: the
    /// bound address, or the advertised host when bound to every address.
    pub fn dacl_address(&self) -> String {
        let ip = self.info.sync.ip();
        if ip.is_unspecified() {
            self.info.advertise.clone()
        } else {
            ip.to_canonical().to_string()
        }
    }

    /// Whether the posture made known at `since` is still within the dACL lag
    /// of an active dACL emulation, so that a probe gets through.
    pub fn within_dacl_lag(&self, since: Option<Instant>) -> bool {
        let lag = self.dacl_lag();
        self.dacl() != DaclMode::Off && !lag.is_zero() && since.is_some_and(|at| at.elapsed() < lag)
    }

    /// Snapshot for the admin API.
    pub fn view(&self) -> NodeView {
        NodeView {
            info: self.info.clone(),
            fault: self.fault(),
            dacl: self.dacl(),
            dacl_lag_ms: self.dacl_lag_ms.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
            dacl_rejected: self.counters.dacl_rejected.load(Ordering::Relaxed),
            dacl_dropped: self.counters.dacl_dropped.load(Ordering::Relaxed),
            binding_refused: self.counters.binding_refused.load(Ordering::Relaxed),
            dacl_lag_passed: self.counters.dacl_lag_passed.load(Ordering::Relaxed),
            requests_by_kind: self.counters.by_kind.snapshot(),
            down_reset: self.counters.down_reset.load(Ordering::Relaxed),
        }
    }

    /// `None` when the advertised name is no host: a discovery reply
    /// naming it would be malformed.
    fn psn_ref(&self) -> Option<PsnRef> {
        Some(PsnRef {
            host: Host::parse(&self.info.advertise).ok()?,
            state_sync_port: self.info.sync.port(),
        })
    }
}

/// Everything the nodes share: as ISE nodes share session data.
#[derive(Debug)]
pub struct LabState {
    /// Nodes in configuration order.
    pub nodes: Vec<NodeState>,
    /// The shared session store.
    pub sessions: SessionStore,
    /// Raised alarms.
    pub alarms: AlarmLog,
    /// The posture policy.
    pub policy: Policy,
    /// MDM verdicts and the MDM poller's status (docs/mdm.md).
    pub mdm: crate::psn::mdm::MdmState,
}

impl LabState {
    /// Index of a node by name.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.info.name == name)
    }

    /// The names of the lab's nodes, in order.
    pub fn node_names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.info.name.as_str()).collect()
    }

    /// The nodes that may own a session: every node not in fault mode
    /// `down` (a discovery takes over the sessions of a node that is down,
    /// as ISE moves a failed node's endpoints to the others).
    pub fn serving_node_names(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.fault().mode != FaultMode::Down)
            .map(|n| n.info.name.as_str())
            .collect()
    }
}

/// Where a request came in.
#[derive(Debug, Clone, Copy)]
pub struct RequestCtx {
    /// Index into [`LabState::nodes`].
    pub node: usize,
    /// Which port.
    pub port: PortKind,
    /// The TCP peer.
    pub peer: SocketAddr,
}

/// The PSN service.
#[derive(Debug, Clone)]
pub struct App {
    state: Arc<LabState>,
}

/// Builds the service over shared state.
pub fn app(state: Arc<LabState>) -> App {
    App { state }
}

/// A reply before it becomes a response, with what the log line needs.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    session: Option<SessionId>,
    allow: Option<&'static str>,
}

impl Reply {
    fn xml(body: String, session: &SessionId) -> Self {
        Reply {
            status: StatusCode::OK,
            body: Bytes::from(body),
            content_type: posture_protocol::CONTENT_TYPE,
            session: Some(session.clone()),
            allow: None,
        }
    }

    fn text(status: StatusCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        message.push('\n');
        Reply {
            status,
            body: Bytes::from(message),
            content_type: "text/plain; charset=utf-8",
            session: None,
            allow: None,
        }
    }

    fn with_session(mut self, s: &SessionId) -> Self {
        self.session = Some(s.clone());
        self
    }
}

fn garbage_body() -> Bytes {
    Bytes::from_static(b"\x00\xff\xfe<<<this is not XML: psn-lab fault mode garbage>>>{\"oops\":")
}

fn oversized_body() -> Bytes {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    BODY.get_or_init(|| {
        crate::common::body::padded_xml(
            r#"<postureStatus session="oversized" status="Unknown"><padding>"#,
            "</padding></postureStatus>",
            OVERSIZED_BYTES,
        )
    })
    .clone()
}

fn query_session(query: Option<&str>) -> Result<SessionId, Reply> {
    let raw = posture_protocol::session_from_query(query).ok_or_else(|| {
        Reply::text(
            StatusCode::BAD_REQUEST,
            "missing session query parameter (expected ?session=ID with the id from discovery)",
        )
    })?;
    SessionId::new(raw).map_err(|e| Reply::text(StatusCode::BAD_REQUEST, e.to_string()))
}

/// The answer to a requirements, report or probe request that the session
/// store refused. A request from another address than the session's is
/// logged and counted, and answered 403 without the session's posture or its
/// address: a 404 would tell the real endpoint, were it the one whose address
/// changed, that its session ended.
fn session_refusal(node: &NodeState, ctx: RequestCtx, route: &str, e: SessionError) -> Reply {
    match e {
        SessionError::ForeignAddress { id, bound, peer } => {
            node.counters
                .binding_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                node = %node.info.name,
                session = %id,
                bound = %bound,
                peer = %peer,
                route,
                "request refused: the session is bound to another endpoint address"
            );
            Reply::text(
                StatusCode::FORBIDDEN,
                format!(
                    "session {id} is bound to another endpoint address; a discovery from {} re-binds it",
                    ctx.peer.ip().to_canonical()
                ),
            )
            .with_session(&id)
        }
        other => storage_failure(other),
    }
}

fn storage_failure(e: SessionError) -> Reply {
    match e {
        SessionError::NotFound(id) => {
            Reply::text(StatusCode::NOT_FOUND, format!("no session {id}")).with_session(&id)
        }
        other => {
            tracing::error!(error = %other, "session store failure");
            Reply::text(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    }
}

async fn read_body<B>(req: Request<B>) -> Result<Bytes, Reply>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    crate::common::body::read_capped(req, MAX_REQUEST_BYTES)
        .await
        .map_err(|e| match e {
            crate::common::body::BodyError::TooLarge { .. } => {
                Reply::text(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            crate::common::body::BodyError::Read(_) => {
                Reply::text(StatusCode::BAD_REQUEST, e.to_string())
            }
        })
}

impl App {
    /// The shared state.
    pub fn state(&self) -> &Arc<LabState> {
        &self.state
    }

    /// Answers one request that came in on `ctx`.
    pub async fn handle<B>(&self, ctx: RequestCtx, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let node = &self.state.nodes[ctx.node.min(self.state.nodes.len().saturating_sub(1))];
        let header_session = req
            .headers()
            .get(posture_protocol::headers::SESSION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let reply = self.reply(node, ctx, req).await;
        node.counters.requests.fetch_add(1, Ordering::Relaxed);
        node.counters.by_kind.count(RequestKind::of_path(&path));
        let session = reply
            .session
            .as_ref()
            .map(|s| s.to_string())
            .or(header_session)
            .unwrap_or_default();
        let local_port = match ctx.port {
            PortKind::Discovery => node.info.discovery.port(),
            PortKind::StateSync => node.info.sync.port(),
        };
        tracing::info!(
            node = %node.info.name,
            port = local_port,
            %method,
            path = %path,
            peer = %ctx.peer,
            status = reply.status.as_u16(),
            session = %session,
            elapsed_us = started.elapsed().as_micros() as u64,
            "request"
        );
        let mut resp = Response::new(Full::new(reply.body));
        *resp.status_mut() = reply.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(reply.content_type),
        );
        resp.headers_mut()
            .insert(header::SERVER, HeaderValue::from_static("psn-lab"));
        if let Some(allow) = reply.allow {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }

    async fn reply<B>(&self, node: &NodeState, ctx: RequestCtx, req: Request<B>) -> Reply
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let fault = node.fault();
        if fault.applies_to(ctx.port) {
            match fault.mode {
                FaultMode::Http500 => {
                    return Reply::text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("{} is in fault mode http500", node.info.name),
                    );
                }
                FaultMode::Garbage => {
                    return Reply {
                        status: StatusCode::OK,
                        body: garbage_body(),
                        content_type: posture_protocol::CONTENT_TYPE,
                        session: None,
                        allow: None,
                    };
                }
                FaultMode::Oversized => {
                    return Reply {
                        status: StatusCode::OK,
                        body: oversized_body(),
                        content_type: posture_protocol::CONTENT_TYPE,
                        session: None,
                        allow: None,
                    };
                }
                FaultMode::Slow => tokio::time::sleep(Duration::from_millis(fault.slow_ms)).await,
                // `down` is handled on the connection, before TLS (server.rs).
                FaultMode::None | FaultMode::NoSession | FaultMode::Down => {}
            }
        }
        let path = req.uri().path();
        let route = match (ctx.port, path) {
            (PortKind::Discovery, paths::DISCOVERY) => Some((Method::GET, "GET")),
            (PortKind::Discovery, paths::REQUIREMENTS) => Some((Method::GET, "GET")),
            (PortKind::Discovery, paths::REPORT) => Some((Method::POST, "POST")),
            (PortKind::StateSync, paths::POSTURE_STATUS) => Some((Method::GET, "GET")),
            _ => None,
        };
        let Some((method, allow)) = route else {
            let hint = match (ctx.port, path) {
                (PortKind::Discovery, paths::POSTURE_STATUS) => format!(
                    "; the state sync probe is served on the state sync port {}",
                    node.info.sync.port()
                ),
                (PortKind::StateSync, paths::DISCOVERY | paths::REQUIREMENTS | paths::REPORT) => {
                    format!(
                        "; discovery, requirements and report are served on the discovery port {}",
                        node.info.discovery.port()
                    )
                }
                _ => String::new(),
            };
            return Reply::text(
                StatusCode::NOT_FOUND,
                format!("no such endpoint {path} on this port{hint}"),
            );
        };
        if req.method() != method {
            let mut r = Reply::text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not allowed on {path} (allowed: {allow})",
                    req.method()
                ),
            );
            r.allow = Some(allow);
            return r;
        }
        match path {
            paths::DISCOVERY => self.discovery(node, ctx, &req, fault).await,
            paths::REQUIREMENTS => self.requirements(node, ctx, req.uri().query()),
            paths::REPORT => self.report(node, ctx, req).await,
            _ => self.probe(node, ctx, req.uri().query()),
        }
    }

    async fn discovery<B>(
        &self,
        node: &NodeState,
        ctx: RequestCtx,
        req: &Request<B>,
        fault: FaultSetting,
    ) -> Reply {
        let Some(raw) = req.headers().get(posture_protocol::headers::MAC) else {
            return Reply::text(
                StatusCode::BAD_REQUEST,
                "missing X-Posture-Mac header (the endpoint's primary MAC, e.g. aa:bb:cc:dd:ee:ff)",
            );
        };
        let Some(mac) = raw.to_str().ok().and_then(posture_protocol::normalize_mac) else {
            return Reply::text(
                StatusCode::BAD_REQUEST,
                format!(
                    "X-Posture-Mac {:?} is not a MAC address (expected aa:bb:cc:dd:ee:ff)",
                    String::from_utf8_lossy(raw.as_bytes())
                ),
            );
        };
        if fault.mode == FaultMode::NoSession && fault.applies_to(PortKind::Discovery) {
            return Reply::text(
                StatusCode::NOT_FOUND,
                format!(
                    "{} holds no session for {mac} (fault mode no-session)",
                    node.info.name
                ),
            );
        }
        let owners = self.state.serving_node_names();
        let (session, created) = match self.state.sessions.discover(
            &mac,
            &node.info.name,
            node.info.discovery.ip(),
            ctx.peer.ip(),
            &owners,
        ) {
            Ok(x) => x,
            Err(e) => return storage_failure(e),
        };
        if created {
            tracing::info!(node = %node.info.name, session = %session.id, %mac, endpoint = %ctx.peer.ip(), "session created");
        }
        // Authentication time: the MDM's verdict is fetched now unless a cached
        // one is still fresh, so that the report is capped by it (docs/mdm.md).
        let session = match self.state.mdm.auth_client() {
            Some(client) => {
                let poller = crate::psn::mdm::poller::Poller::new(client, self.state.clone());
                poller.at_authentication(&session, Instant::now()).await;
                // A changed verdict may have changed the status (CoA).
                self.state.sessions.get(&session.id).unwrap_or(session)
            }
            None => session,
        };
        let owner = self
            .state
            .nodes
            .iter()
            .find(|n| n.info.name == session.owner)
            .unwrap_or(node);
        let Some(psn) = owner.psn_ref() else {
            tracing::error!(node = %owner.info.name, advertise = %owner.info.advertise, "the advertised name is not a host name or IP address");
            return Reply::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "node {} advertises {:?}, which is not a host name or IP address",
                    owner.info.name, owner.info.advertise
                ),
            );
        };
        let doc = Discovery {
            session: session.id.clone(),
            posture: session.status,
            psn,
            psn_list: self
                .state
                .nodes
                .iter()
                .filter(|n| n.info.name != owner.info.name)
                .filter_map(NodeState::psn_ref)
                .collect(),
        };
        Reply::xml(doc.to_xml(), &session.id)
    }

    fn requirements(&self, node: &NodeState, ctx: RequestCtx, query: Option<&str>) -> Reply {
        let id = match query_session(query) {
            Ok(id) => id,
            Err(r) => return r,
        };
        // An assessment begins: Pending until the report decides.
        match self.state.sessions.begin_assessment(&id, ctx.peer.ip()) {
            Ok(_) => {}
            Err(e) => return session_refusal(node, ctx, paths::REQUIREMENTS, e),
        }
        let doc = Requirements {
            session: id.clone(),
            requirements: self.state.policy.requirements.clone(),
        };
        Reply::xml(doc.to_xml(), &id)
    }

    async fn report<B>(&self, node: &NodeState, ctx: RequestCtx, req: Request<B>) -> Reply
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let id = match query_session(req.uri().query()) {
            Ok(id) => id,
            Err(r) => return r,
        };
        // Checked before the body is read, so that a foreign client learns
        // nothing from how its report would have been judged.
        let known = match self.state.sessions.authorize(&id, ctx.peer.ip()) {
            Ok(s) => s,
            Err(e) => return session_refusal(node, ctx, paths::REPORT, e),
        };
        let body = match read_body(req).await {
            Ok(b) => b,
            Err(r) => return r.with_session(&id),
        };
        let report = match Report::from_xml(&body) {
            Ok(r) => r,
            Err(e) => {
                return Reply::text(StatusCode::BAD_REQUEST, format!("malformed report: {e}"))
                    .with_session(&id);
            }
        };
        if report.session != id {
            return Reply::text(
                StatusCode::BAD_REQUEST,
                format!(
                    "the report names session {} but the query names {id}",
                    report.session
                ),
            )
            .with_session(&id);
        }
        let mut decision = self.state.policy.decide(&report);
        // An MDM that holds the device non-compliant outweighs the agent's report (docs/mdm.md).
        if let Some(v) = self.state.mdm.verdict(&known.mac)
            && v.verdict == crate::psn::mdm::Verdict::NonCompliant
            && decision.status != posture_protocol::PostureStatus::NonCompliant
        {
            tracing::info!(session = %id, mac = %known.mac, agent_decision = %decision.status, mdm_reason = v.reason.as_deref().unwrap_or(""), "the MDM holds the device non-compliant: decision NonCompliant");
            decision.status = posture_protocol::PostureStatus::NonCompliant;
        }
        // Version 2 reports say why: one line per failed requirement.
        for r in report.results.iter().filter(|r| !r.passed) {
            if let Some(reason) = &r.reason {
                tracing::info!(session = %id, requirement = %r.requirement, reason = %reason, "requirement failed");
            }
        }
        if !decision.unknown_results.is_empty() {
            tracing::info!(session = %id, ignored = ?decision.unknown_results, "report has results for requirements the policy does not have");
        }
        match self
            .state
            .sessions
            .record_report(&id, ctx.peer.ip(), decision.status, report.results)
        {
            Ok((_, old)) => {
                tracing::info!(session = %id, from = %old, to = %decision.status, failed_mandatory = ?decision.failed_mandatory, "posture decided");
            }
            Err(e) => return session_refusal(node, ctx, paths::REPORT, e),
        }
        let doc = PostureResult {
            session: id.clone(),
            status: decision.status,
            reassess_interval: self
                .state
                .policy
                .reassess_interval_secs
                .map(|s| Duration::from_secs(u64::from(s))),
        };
        Reply::xml(doc.to_xml(), &id)
    }

    fn probe(&self, node: &NodeState, ctx: RequestCtx, query: Option<&str>) -> Reply {
        let id = match query_session(query) {
            Ok(id) => id,
            Err(r) => return r,
        };
        let session = match self.state.sessions.record_probe(&id, ctx.peer.ip()) {
            Ok(s) => s,
            Err(e) => return session_refusal(node, ctx, paths::POSTURE_STATUS, e),
        };
        if session.status.is_known() {
            let psn_address = node.dacl_address();
            let verdict = self.state.alarms.probe_reached(
                AlarmInput {
                    node: &node.info.name,
                    port: node.info.sync.port(),
                    session: &session.id,
                    mac: &session.mac,
                    status: session.status,
                    endpoint: session.endpoint,
                    peer: ctx.peer.ip(),
                    psn_address,
                },
                Instant::now(),
            );
            if verdict == ProbeVerdict::FirstProbe {
                if node.within_dacl_lag(self.state.sessions.known_since(&session.id)) {
                    tracing::info!(node = %node.info.name, session = %session.id, status = %session.status, peer = %ctx.peer, "probe during dACL lag");
                } else {
                    tracing::info!(node = %node.info.name, session = %session.id, status = %session.status, peer = %ctx.peer, "probe of a known posture reached the state sync port: an alarm if the agent's confirmation probe gets through too");
                }
            }
        }
        let doc = PostureStatusReply {
            session: id.clone(),
            status: session.status,
        };
        Reply::xml(doc.to_xml(), &id)
    }
}

/// Whether the dACL emulation of `node` blocks a connection from `peer`: an
/// endpoint with a known posture is blocked unless its posture became known
/// less than the node's dACL lag ago.
pub fn dacl_blocks(state: &LabState, node: &NodeState, peer: IpAddr) -> Option<DaclMode> {
    match node.dacl() {
        DaclMode::Off => None,
        mode => {
            let since = state.sessions.endpoint_known_since(peer)?;
            if node.within_dacl_lag(since) {
                node.counters
                    .dacl_lag_passed
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(node = %node.info.name, %peer, lag_ms = node.dacl_lag().as_millis() as u64, "dACL emulation: connection let through during the dACL lag");
                return None;
            }
            Some(mode)
        }
    }
}
