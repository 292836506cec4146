//! HTTPS client for every request the agent makes: discovery, requirements,
//! report and the state sync probe.
//!
//! One [`rustls::ClientConfig`] is built at start ([`client_config`]): the
//! platform's roots plus the `--ca-file` bundle, TLS 1.3 preferred and 1.2
//! accepted, the *ring* provider, and rustls' in-memory session cache, shared by
//! every connection so that a probe every few seconds resumes its TLS session
//! instead of paying for a full handshake.
//!
//! Each request opens its own TCP + TLS connection ([`Transport::request`]):
//! this mirrors real agents (the network's dACL decides per connection, so a
//! pooled connection would hide the very thing a probe measures) and keeps the
//! client free of pool state. The host is read once (`host`: one normaliser
//! with the rest of the project); a name with several addresses is connected
//! by racing them, RFC 8305 "Happy Eyeballs" ([`happy_eyeballs`]), so a
//! black-holed IPv6 path does not eat the connect budget. Replies are capped at
//! [`posture_protocol::MAX_REPLY_BYTES`]; redirects are never followed (the
//! caller sees a 3xx like any other unexpected status).
//!
//! Every failure is classified by the core's pure classifier
//! ([`crate::outcome::classify_io_failure`]) from the [`Stage`] at which the
//! exchange stopped (DNS, TCP connect, TLS handshake, HTTP exchange): "blocked"
//! (refused, reset or timed out before TLS: what a dACL does) or "failed" (a
//! fault to log). TLS errors are described in an administrator's words
//! (untrusted chain, name mismatch, expired).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use posture_protocol::{MAX_REPLY_BYTES, SessionId};
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

pub use crate::outcome::HostPort;
use crate::outcome::{FailureKind, Outcome, Stage, classify_io_failure};
use deadline::Deadline;
use host::Address;

/// How long a TCP connect may take. A dACL `deny` on a switch usually drops the
/// SYN silently, so a blocked probe ends here; 5 s is long enough for a slow
/// WAN link to a PSN and short enough that a probe round stays well inside a
/// typical state sync interval.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the rest of one exchange may take once TCP is connected: TLS
/// handshake, request, and the whole reply body.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Time limits of one request. The defaults are [`CONNECT_TIMEOUT`] and
/// [`EXCHANGE_TIMEOUT`]; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Limit of the TCP connect (all resolved addresses together).
    pub connect: Duration,
    /// Limit of TLS handshake + request + reply once connected.
    pub exchange: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: CONNECT_TIMEOUT,
            exchange: EXCHANGE_TIMEOUT,
        }
    }
}

/// Why the TLS client could not be set up at start (a startup error).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The `--ca-file` could not be read.
    #[error("cannot read the CA file {path}: {source}")]
    CaFileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The `--ca-file` holds no usable certificate.
    #[error(
        "the CA file {path} holds no PEM certificate{detail}\nhelp: pass a PEM bundle with one or more `-----BEGIN CERTIFICATE-----` blocks"
    )]
    CaFileEmpty {
        /// The file.
        path: PathBuf,
        /// What went wrong with the certificates that were there, if any.
        detail: String,
    },
    /// Neither the platform nor `--ca-file` provided a trusted root.
    #[error(
        "no trusted certificate authority: the platform's roots could not be loaded and no --ca-file was given\nhelp: pass --ca-file with the CA that signed your PSNs' certificates"
    )]
    NoRoots,
    /// `--ca-only` without a CA file (the CLI requires both; a caller that
    /// builds the configuration itself gets this).
    #[error(
        "--ca-only trusts only the CAs of --ca-file, and no --ca-file was given\nhelp: pass --ca-file with the CA that signed your PSNs' certificates"
    )]
    CaOnlyWithoutCaFile,
    /// rustls refused the configuration (an internal invariant broke).
    #[error("cannot build the TLS client configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// Builds the one TLS client configuration of the process.
///
/// Trusts the platform's roots (a failure to load some of them is logged as a
/// warning, not fatal) plus every certificate in `ca_file`. An unreadable or
/// empty `ca_file` is an error naming the file. TLS 1.3 and 1.2 with the *ring*
/// provider; rustls offers 1.3 first, so 1.2 is used only with a PSN that cannot
/// speak 1.3. The default [`rustls::client::Resumption`] keeps an in-memory
/// session cache in the config, so every connection made with it can resume.
pub fn client_config(
    ca_file: Option<&Path>,
    trust: Trust,
) -> Result<Arc<ClientConfig>, SetupError> {
    config_with_roots(trust_anchors(ca_file, trust)?)
}

/// The agent's TLS client configuration trusting exactly `roots`: the
/// settings of [`client_config`] (ring, TLS 1.3 then 1.2, HTTP/1.1 by ALPN,
/// in-memory resumption) without the choice of roots, so that the test
/// server and the benchmarks' baseline client speak as the agent does.
pub fn config_with_roots(roots: rustls::RootCertStore) -> Result<Arc<ClientConfig>, SetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The roots the agent trusts: the platform's (unless `trust` says the CA
/// file only) and the CA file's.
pub fn trust_anchors(
    ca_file: Option<&Path>,
    trust: Trust,
) -> Result<rustls::RootCertStore, SetupError> {
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        Trust::PlatformAndCaFile => {
            let native = rustls_native_certs::load_native_certs();
            for error in &native.errors {
                tracing::warn!(%error, "could not load some of the platform's trusted roots");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(added, ignored, "platform roots loaded");
        }
        Trust::CaFileOnly => {
            if ca_file.is_none() {
                return Err(SetupError::CaOnlyWithoutCaFile);
            }
            tracing::info!(
                "trusting only the CA file (--ca-only): the platform's roots are not used"
            );
        }
    }
    if let Some(path) = ca_file {
        let certs = read_ca_file(path)?;
        let (added, ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(SetupError::CaFileEmpty {
                path: path.to_owned(),
                detail: format!(" ({ignored} certificate(s) could not be used as trust anchors)"),
            });
        }
        tracing::info!(ca_file = %path.display(), added, "trusting the CA file");
    }
    if roots.is_empty() {
        return Err(SetupError::NoRoots);
    }
    Ok(roots)
}

/// Which roots the agent trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The platform's roots plus the CA file, if any (the default).
    PlatformAndCaFile,
    /// The CA file's CAs only (`--ca-only`): for closed deployments whose
    /// PSNs carry certificates of a private CA.
    CaFileOnly,
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    let bytes = std::fs::read(path).map_err(|source| SetupError::CaFileUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let mut certs = Vec::new();
    let mut problems = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        match item {
            Ok(cert) => certs.push(cert),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if certs.is_empty() {
        let detail = if problems.is_empty() {
            String::new()
        } else {
            format!(" ({})", problems.join("; "))
        };
        return Err(SetupError::CaFileEmpty {
            path: path.to_owned(),
            detail,
        });
    }
    Ok(certs)
}

/// A request that got no usable reply: the target and the classified
/// [`Outcome`] (always [`Outcome::Blocked`] or [`Outcome::Failed`]).
///
/// The classification is the core's ([`crate::outcome::classify_io_failure`]);
/// the transport only says at which [`Stage`] the exchange stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target}: {outcome}")]
pub struct RequestError {
    /// The target as the request named it.
    pub target: HostPort,
    /// Blocked or failed, with the reason.
    pub outcome: Outcome,
}

impl RequestError {
    /// A failure with the given kind.
    pub fn failed(target: &HostPort, kind: FailureKind) -> Self {
        RequestError {
            target: target.clone(),
            outcome: Outcome::Failed(kind),
        }
    }

    /// True for TLS failures, which are logged as security errors.
    pub fn is_security(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(FailureKind::Tls { .. }))
    }

    /// True when nothing answered (refused, reset, timed out before TLS).
    pub fn is_blocked(&self) -> bool {
        matches!(self.outcome, Outcome::Blocked(_))
    }
}

/// A reply that arrived completely: status and body (at most
/// [`MAX_REPLY_BYTES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The whole body.
    pub body: Bytes,
}

/// The agent's HTTPS client: the shared TLS configuration plus the identifying
/// headers every request carries.
#[derive(Clone)]
pub struct Transport {
    tls: TlsConnector,
    user_agent: HeaderValue,
    mac: HeaderValue,
    timeouts: Timeouts,
    local_addr: Option<IpAddr>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("user_agent", &self.user_agent)
            .field("mac", &self.mac)
            .field("timeouts", &self.timeouts)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// The MAC given to [`Transport::new`] is not a MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a MAC address (expected six hex pairs like aa:bb:cc:dd:ee:ff)")]
pub struct InvalidMac(pub String);

impl Transport {
    /// A client presenting `mac` (normalised to `aa:bb:cc:dd:ee:ff`) with the
    /// default [`Timeouts`].
    pub fn new(config: Arc<ClientConfig>, mac: &str) -> Result<Self, InvalidMac> {
        let normalized =
            posture_protocol::normalize_mac(mac).ok_or_else(|| InvalidMac(mac.to_owned()))?;
        let mac = HeaderValue::from_str(&normalized).map_err(|_| InvalidMac(mac.to_owned()))?;
        let user_agent =
            HeaderValue::from_str(&posture_protocol::user_agent(env!("CARGO_PKG_VERSION")))
                // Invariant: the crate version is plain ASCII.
                .unwrap_or(HeaderValue::from_static("posture-sync"));
        Ok(Transport {
            tls: TlsConnector::from(config),
            user_agent,
            mac,
            timeouts: Timeouts::default(),
            local_addr: None,
        })
    }

    /// The same client with every connection's socket bound to `ip` (port
    /// chosen by the system) before it connects, for addresses of `ip`'s
    /// family; addresses of the other family are connected from the
    /// system's choice. The agent never sets it (the system picks the
    /// source address, as for any client): it exists so that one process
    /// can act as many endpoints, each from its own loopback address
    /// (`fleet-sim`, docs/fleet.md), as psn-lab binds sessions to the
    /// source address.
    pub fn with_local_addr(mut self, ip: IpAddr) -> Self {
        self.local_addr = Some(ip);
        self
    }

    /// The source address set by [`Transport::with_local_addr`].
    pub fn local_addr(&self) -> Option<IpAddr> {
        self.local_addr
    }

    /// The same client with other time limits.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The time limits in use.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The MAC this client presents, normalised.
    pub fn mac(&self) -> &str {
        // Invariant: built from a normalised MAC, which is ASCII.
        self.mac.to_str().unwrap_or_default()
    }

    /// `GET https://target{path_and_query}`.
    pub async fn get(
        &self,
        target: &HostPort,
        path_and_query: &str,
        session: Option<&SessionId>,
    ) -> Result<Reply, RequestError> {
        self.request(target, Method::GET, path_and_query, session, None)
            .await
    }

    /// `POST https://target{path_and_query}` with an XML body.
    pub async fn post(
        &self,
        target: &HostPort,
        path_and_query: &str,
        session: Option<&SessionId>,
        body: String,
    ) -> Result<Reply, RequestError> {
        self.request(
            target,
            Method::POST,
            path_and_query,
            session,
            Some(Bytes::from(body)),
        )
        .await
    }

    /// One request on a fresh connection. Any reply status is returned as a
    /// [`Reply`] (which statuses mean something is the caller's business); the
    /// body is read only for a 200.
    pub async fn request(
        &self,
        target: &HostPort,
        method: Method,
        path_and_query: &str,
        session: Option<&SessionId>,
        body: Option<Bytes>,
    ) -> Result<Reply, RequestError> {
        let fail = |outcome| RequestError {
            target: target.clone(),
            outcome,
        };
        let host = host::parse(target.host().as_str()).map_err(fail)?;
        let request = self
            .headers(
                Request::builder().method(method).uri(path_and_query),
                target,
                session,
                body.is_some(),
            )
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| {
                fail(Outcome::Failed(FailureKind::Other {
                    detail: format!("cannot build the request: {e}"),
                }))
            })?;
        // A kernel timer: one wakeup per limit (see `deadline`).
        let mut limit = Deadline::at(tokio::time::Instant::now() + self.timeouts.connect);
        let tcp = connect(
            target,
            &host.address,
            &mut limit,
            self.timeouts.connect,
            self.local_addr,
        )
        .await
        .map_err(fail)?;
        let _ = tcp.set_nodelay(true);
        // The same timer for the exchange's limit: re-arming it is one
        // system call, a new one five (docs/benchmarks.md).
        limit.reset(tokio::time::Instant::now() + self.timeouts.exchange);
        self.exchange(tcp, host.server_name, request, limit)
            .await
            .map_err(fail)
    }

    /// The headers every request carries, and the ones its session and body
    /// call for.
    fn headers(
        &self,
        mut builder: http::request::Builder,
        target: &HostPort,
        session: Option<&SessionId>,
        has_body: bool,
    ) -> http::request::Builder {
        builder = builder
            .header(HOST, target.to_string())
            .header(USER_AGENT, self.user_agent.clone())
            .header(posture_protocol::headers::MAC, self.mac.clone())
            // One request per connection (see the module doc).
            .header(CONNECTION, "close");
        if let Some(session) = session {
            builder = builder.header(posture_protocol::headers::SESSION, session.as_str());
        }
        if has_body {
            builder = builder.header(CONTENT_TYPE, posture_protocol::CONTENT_TYPE);
        }
        builder
    }

    async fn exchange(
        &self,
        tcp: TcpStream,
        server_name: ServerName<'static>,
        request: Request<Full<Bytes>>,
        mut deadline: Deadline,
    ) -> Result<Reply, Outcome> {
        // No TLS answer before the deadline: silent (blocked, not a fault).
        let tls = match deadline.guard(self.tls.connect(server_name, tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return Err(classify_handshake_error(e)),
            Err(_) => {
                return Err(classify_io_failure(
                    Stage::TlsHandshake,
                    io::ErrorKind::TimedOut,
                    "no TLS answer after the TCP connect",
                ));
            }
        };
        // TLS is up: from here on a timeout is a PSN that does not answer.
        match deadline
            .guard(http_exchange(TokioIo::new(tls), request))
            .await
        {
            Ok(result) => result,
            Err(_) => Err(classify_io_failure(
                Stage::Exchange,
                io::ErrorKind::TimedOut,
                "no complete reply in time",
            )),
        }
    }
}

/// One HTTP/1.1 request and its capped reply over an established TLS stream.
async fn http_exchange<S>(io: TokioIo<S>, request: Request<Full<Bytes>>) -> Result<Reply, Outcome>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(classify_http_error)?;
    // The connection task lives only as long as this exchange.
    let conn = AbortOnDrop(tokio::spawn(conn));
    let response = sender
        .send_request(request)
        .await
        .map_err(classify_http_error)?;
    let status = response.status().as_u16();
    if status != 200 {
        // Only a 200 carries a document; other bodies are never read.
        return Ok(Reply {
            status,
            body: Bytes::new(),
        });
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(bytes) = declared.filter(|len| *len > MAX_REPLY_BYTES as u64) {
        return Err(Outcome::Failed(FailureKind::Oversized { bytes }));
    }
    let body = Limited::new(response.into_body(), MAX_REPLY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Outcome::Failed(FailureKind::Oversized {
                    bytes: MAX_REPLY_BYTES as u64 + 1,
                })
            } else {
                match e.downcast::<hyper::Error>() {
                    Ok(h) => classify_http_error(*h),
                    Err(other) => Outcome::Failed(FailureKind::Other {
                        detail: other.to_string(),
                    }),
                }
            }
        })?
        .to_bytes();
    drop(conn);
    Ok(Reply { status, body })
}

/// Aborts a spawned task when dropped, so a cancelled request leaves nothing
/// running.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves a name (an IP literal is used as it is) and connects, racing the
/// addresses as RFC 8305 describes ([`happy_eyeballs`]), all within
/// `deadline` (the connect time limit `limit`).
///
/// IP literals skip the resolver: `tokio::net::lookup_host` runs the system
/// resolver on tokio's blocking pool, which costs a thread (it exits after
/// 10 s idle). Profiles that name PSNs by address keep the agent at its
/// minimum thread count.
async fn connect(
    target: &HostPort,
    address: &Address,
    deadline: &mut Deadline,
    limit: Duration,
    local: Option<IpAddr>,
) -> Result<TcpStream, Outcome> {
    let port = target.port();
    let addrs = match address {
        Address::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Address::Name(name) => match deadline
            .guard(tokio::net::lookup_host((name.as_str(), port)))
            .await
        {
            Ok(Ok(found)) => happy_eyeballs::interleave(found),
            Ok(Err(e)) => {
                return Err(classify_io_failure(
                    Stage::Resolve,
                    e.kind(),
                    &e.to_string(),
                ));
            }
            // As before the race: a resolver that does not answer within the
            // connect limit ends like a connect that does not.
            Err(deadline::Elapsed) => {
                return Err(classify_io_failure(
                    Stage::Connect,
                    io::ErrorKind::TimedOut,
                    &format!("no answer within {limit:?}"),
                ));
            }
        },
    };
    if addrs.is_empty() {
        return Err(classify_io_failure(
            Stage::Resolve,
            io::ErrorKind::NotFound,
            "the name resolved to no address",
        ));
    }
    match happy_eyeballs::race(
        &addrs,
        happy_eyeballs::CONNECTION_ATTEMPT_DELAY,
        deadline,
        |addr| connect_from(local, addr),
    )
    .await
    {
        Ok(won) => {
            tracing::debug!(
                psn = %target,
                address = %won.addr,
                attempt = won.index + 1,
                addresses = addrs.len(),
                "tcp connected"
            );
            Ok(won.stream)
        }
        Err(lost) => {
            let outcome = lost.outcome();
            tracing::debug!(
                psn = %target,
                attempts = %lost.summary(),
                reported = %outcome,
                "no address of the psn accepted the tcp connection"
            );
            Err(outcome)
        }
    }
}

/// One TCP connect to `addr`, from `local` when it is of `addr`'s family
/// (bound before the connect, so the SYN already carries it).
async fn connect_from(local: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let Some(ip) = local.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) else {
        return TcpStream::connect(addr).await;
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// Classifies a failed TLS handshake. A rustls error is a TLS failure (a
/// security error); an I/O error (reset, close before the server said
/// anything) is classified by the core like any other.
fn classify_handshake_error(e: io::Error) -> Outcome {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return Outcome::Failed(FailureKind::Tls {
            detail: describe_tls_error(tls),
        });
    }
    classify_io_failure(Stage::TlsHandshake, e.kind(), &e.to_string())
}

/// Words an administrator recognises for the common certificate problems.
fn describe_tls_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "untrusted certificate chain (unknown issuer; is the PSN's CA in --ca-file?)".to_owned()
        }
        // A trusted CA's name but another key: a look-alike CA.
        rustls::Error::InvalidCertificate(C::BadSignature) => {
            "untrusted certificate chain (signed by a CA with a trusted name but another key)"
                .to_owned()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
            "certificate not valid for this host name (name mismatch)".to_owned()
        }
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            "certificate expired".to_owned()
        }
        other => other.to_string(),
    }
}

/// Classifies a hyper error once TLS is up: the PSN was reached, so nothing
/// here is "blocked".
fn classify_http_error(e: hyper::Error) -> Outcome {
    let mut detail = e.to_string();
    if let Some(cause) = std::error::Error::source(&e) {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
    }
    if e.is_timeout() {
        classify_io_failure(Stage::Exchange, io::ErrorKind::TimedOut, &detail)
    } else if e.is_parse_too_large() {
        Outcome::Failed(FailureKind::Oversized {
            bytes: MAX_REPLY_BYTES as u64 + 1,
        })
    } else if e.is_parse() || e.is_parse_status() || e.is_incomplete_message() {
        // Not HTTP, or the reply stopped half-way: unusable.
        Outcome::Failed(FailureKind::Malformed { detail })
    } else {
        classify_io_failure(Stage::Exchange, io::ErrorKind::Other, &detail)
    }
}

pub mod deadline;
pub mod happy_eyeballs;
mod host;

#[cfg(test)]
pub(crate) mod test_server;

#[cfg(test)]
mod tests;
