//! The gateway hop of discovery (issue 13, stage 1): ask the default gateway
//! where the PSN is, as the switch's URL redirect answers it.
//!
//! The agent sends one plain-HTTP `GET /auth/discovery` to the gateway
//! (port 80) over its own TCP connection. A switch with a redirect ACL
//! answers `302 Found` with `Location: https://<psn>:<port>/auth/discovery?
//! <params>`; the caller's rule (`accept`, in the agent the pure rule of
//! [`crate::targets`]: `https` only, host passing ServerNameRules, port
//! passing ServerPorts) turns that URL into the next discovery target, query
//! parameters kept, and the ordinary HTTPS discovery runs there, with the
//! certificate verified as for any PSN.
//!
//! What the hop trusts: nothing but the next URL, and only after the
//! caller's rule accepted it. The status line picks redirect or not; the
//! body is never read (at most what hyper buffers with the head, 16 KiB) and
//! never used; cookies are ignored. A relative `Location` is resolved
//! against `http://<gateway>/` and handed to the rule in that absolute form,
//! which refuses it (not https).
//!
//! What the hop sends: the request line and three headers, `Host` (the
//! gateway's address), `User-Agent` (`posture-sync/<version>`) and
//! `Connection: close`. Nothing from the profile, no session id, no MAC
//! address, no cookie: the hop is plaintext on a network the agent has not
//! yet verified.
//!
//! Bounds ([`HopLimits`]): TCP connect 3 s, the whole exchange (connect
//! included) 5 s, the response head 16 KiB.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, HOST, LOCATION, USER_AGENT};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::gateway::Gateway;

#[cfg(test)]
mod tests;

/// The path a switch's URL redirect answers (the vendor agent's).
pub const DISCOVERY_PATH: &str = "/auth/discovery";

/// What the hop checks when it fails, for every error message.
const HELP: &str = "help: check the switch's URL redirect ACL for this endpoint's port (it must redirect HTTP to the PSN's portal), or set DiscoveryHost or CallHomeList in the profile";

/// Bounds and port of one hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopLimits {
    /// The gateway's HTTP port: 80 in a deployment, another in tests.
    pub port: u16,
    /// Limit of the TCP connect.
    pub connect: Duration,
    /// Limit of the whole exchange, connect included.
    pub exchange: Duration,
    /// Largest response head read (hyper's read buffer; at least 8 KiB).
    pub max_head: usize,
}

impl Default for HopLimits {
    fn default() -> Self {
        HopLimits {
            port: 80,
            connect: Duration::from_secs(3),
            exchange: Duration::from_secs(5),
            max_head: 16 * 1024,
        }
    }
}

/// Why the gateway hop gave no next URL. Every message names the gateway
/// (address, interface, port), what came back, and what to check.
#[derive(Debug, thiserror::Error)]
pub enum GatewayHopError {
    /// The TCP connect failed (refused, unreachable).
    #[error("cannot connect to the default gateway {gateway} port {port}: {source}\n{HELP}")]
    Connect {
        /// The gateway.
        gateway: String,
        /// Its port.
        port: u16,
        /// Why.
        source: io::Error,
    },
    /// No complete answer (connect, or response head) within the limit.
    #[error(
        "the default gateway {gateway} port {port} gave no answer within {after:?} ({stage})\n{HELP}"
    )]
    Timeout {
        /// The gateway.
        gateway: String,
        /// Its port.
        port: u16,
        /// The limit that ran out.
        after: Duration,
        /// `connect` or `waiting for the response head`.
        stage: &'static str,
    },
    /// The response head exceeded the limit.
    #[error(
        "the default gateway {gateway} port {port} answered with a response head over {limit} bytes; not a switch's redirect\n{HELP}"
    )]
    HeadTooLarge {
        /// The gateway.
        gateway: String,
        /// Its port.
        port: u16,
        /// The limit.
        limit: usize,
    },
    /// The answer was not HTTP, or the connection broke.
    #[error("the default gateway {gateway} port {port} did not answer with HTTP: {detail}\n{HELP}")]
    Http {
        /// The gateway.
        gateway: String,
        /// Its port.
        port: u16,
        /// hyper's description.
        detail: String,
    },
    /// The answer was not a redirect (a 200 page, a 404...).
    #[error(
        "the default gateway {gateway} port {port} answered {status} to GET {DISCOVERY_PATH}, not a redirect to the PSN\n{HELP}"
    )]
    NotRedirect {
        /// The gateway.
        gateway: String,
        /// Its port.
        port: u16,
        /// The status it answered.
        status: StatusCode,
    },
    /// A redirect without exactly one usable `Location`.
    #[error(
        "the default gateway {gateway} port {port} answered {status} with {problem}; the agent follows a redirect with exactly one Location\n{HELP}"
    )]
    BadLocation {
        /// The gateway.
        gateway: String,
        /// Its port.
        port: u16,
        /// The redirect status.
        status: StatusCode,
        /// `no Location header`, `2 Location headers`, `a Location that is not ASCII text`.
        problem: String,
    },
    /// The caller's rule refused the redirect's target.
    #[error(
        "the default gateway {gateway} port {port} redirected to {location}, which the agent does not follow: {reason}\nhelp: a redirect is followed only to https on a host that ServerNameRules allow and a port of ServerPorts or 8443; check the switch's redirect URL and the profile"
    )]
    Refused {
        /// The gateway.
        gateway: String,
        /// Its port.
        port: u16,
        /// The absolute URL it redirected to.
        location: String,
        /// The rule's reason.
        reason: String,
    },
}

/// Asks `gw` where the PSN is with the default [`HopLimits`] (port 80,
/// connect 3 s, exchange 5 s, head 16 KiB); see [`ask_gateway_with`].
pub async fn ask_gateway<T, E, F>(gw: &Gateway, accept: F) -> Result<T, GatewayHopError>
where
    F: Fn(&str) -> Result<T, E>,
    E: std::fmt::Display,
{
    ask_gateway_with(gw, HopLimits::default(), accept).await
}

/// Sends `GET /auth/discovery` to `gw` on `limits.port` and hands the
/// redirect's absolute `Location` to `accept`, whose answer (the next
/// discovery target) is returned. Only 301, 302, 303, 307 and 308 with one
/// `Location` get that far; anything else is a [`GatewayHopError`].
pub async fn ask_gateway_with<T, E, F>(
    gw: &Gateway,
    limits: HopLimits,
    accept: F,
) -> Result<T, GatewayHopError>
where
    F: Fn(&str) -> Result<T, E>,
    E: std::fmt::Display,
{
    let addr = gw.socket_addr(limits.port);
    let gateway = gw.to_string();
    let port = limits.port;
    tracing::debug!(gateway = %gateway, port, "asking the default gateway for the switch's redirect");
    let head = match tokio::time::timeout(limits.exchange, fetch_head(gw, addr, limits)).await {
        Ok(head) => head,
        Err(_) => Err(Failure::Timeout {
            after: limits.exchange,
            stage: "waiting for the response head",
        }),
    };
    let head = head.map_err(|f| f.into_error(gateway.clone(), port, limits))?;
    let status = head.status;
    if !is_redirect(status) {
        tracing::info!(gateway = %gateway, port, %status, "the default gateway did not redirect");
        return Err(GatewayHopError::NotRedirect {
            gateway,
            port,
            status,
        });
    }
    let location = match head.locations.as_slice() {
        [one] => match one.to_str() {
            Ok(text) => absolute(gw, port, text.trim()),
            Err(_) => {
                return Err(bad_location(
                    gateway,
                    port,
                    status,
                    "a Location that is not ASCII text".into(),
                ));
            }
        },
        [] => {
            return Err(bad_location(
                gateway,
                port,
                status,
                "no Location header".into(),
            ));
        }
        many => {
            return Err(bad_location(
                gateway,
                port,
                status,
                format!("{} Location headers", many.len()),
            ));
        }
    };
    match accept(&location) {
        Ok(next) => {
            tracing::info!(gateway = %gateway, port, %status, location = %location, "following the switch's redirect");
            Ok(next)
        }
        Err(reason) => {
            tracing::info!(gateway = %gateway, port, %status, location = %location, %reason, "refused the switch's redirect");
            Err(GatewayHopError::Refused {
                gateway,
                port,
                location,
                reason: reason.to_string(),
            })
        }
    }
}

fn bad_location(
    gateway: String,
    port: u16,
    status: StatusCode,
    problem: String,
) -> GatewayHopError {
    GatewayHopError::BadLocation {
        gateway,
        port,
        status,
        problem,
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// `location` made absolute against `http://<gateway>/` (RFC 3986 §5.2,
/// reduced to what a `Location` is: absolute, network-path, absolute-path
/// or a relative path resolved against the root). Dot segments are left to
/// the caller's rule, which refuses every `http` URL anyway.
fn absolute(gw: &Gateway, port: u16, location: &str) -> String {
    let has_scheme = location.split_once(':').is_some_and(|(scheme, _)| {
        scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if has_scheme {
        location.to_owned()
    } else if location.starts_with("//") {
        format!("http:{location}")
    } else if location.starts_with('/') {
        format!("http://{}{location}", gw.authority(port))
    } else {
        format!("http://{}/{location}", gw.authority(port))
    }
}

/// What the gateway's answer carried that the hop looks at.
struct Head {
    status: StatusCode,
    locations: Vec<HeaderValue>,
}

/// A failure before a head was read; the gateway's name is added by the
/// caller.
enum Failure {
    Connect(io::Error),
    Timeout {
        after: Duration,
        stage: &'static str,
    },
    Http(hyper::Error),
    Build(http::Error),
}

impl Failure {
    fn into_error(self, gateway: String, port: u16, limits: HopLimits) -> GatewayHopError {
        match self {
            Failure::Connect(source) => GatewayHopError::Connect {
                gateway,
                port,
                source,
            },
            Failure::Timeout { after, stage } => GatewayHopError::Timeout {
                gateway,
                port,
                after,
                stage,
            },
            Failure::Http(e) if e.is_parse_too_large() => GatewayHopError::HeadTooLarge {
                gateway,
                port,
                limit: limits.max_head,
            },
            Failure::Http(e) => GatewayHopError::Http {
                gateway,
                port,
                detail: e.to_string(),
            },
            Failure::Build(e) => GatewayHopError::Http {
                gateway,
                port,
                detail: format!("cannot build the request: {e}"),
            },
        }
    }
}

async fn fetch_head(gw: &Gateway, addr: SocketAddr, limits: HopLimits) -> Result<Head, Failure> {
    let tcp = match tokio::time::timeout(limits.connect, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(Failure::Connect(e)),
        Err(_) => {
            return Err(Failure::Timeout {
                after: limits.connect,
                stage: "connect",
            });
        }
    };
    let user_agent = posture_protocol::user_agent(env!("CARGO_PKG_VERSION"));
    let request = Request::get(DISCOVERY_PATH)
        .header(HOST, gw.authority(limits.port))
        .header(USER_AGENT, user_agent)
        // One request, then the connection is done.
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(Failure::Build)?;
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(limits.max_head.max(8 * 1024))
        .handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
        .await
        .map_err(Failure::Http)?;
    // The connection task lives only as long as this exchange: the body is
    // never read, and dropping the task closes the socket.
    let conn = AbortOnDrop(tokio::spawn(conn));
    let response = sender.send_request(request).await.map_err(Failure::Http)?;
    let head = Head {
        status: response.status(),
        locations: response
            .headers()
            .get_all(LOCATION)
            .iter()
            .cloned()
            .collect(),
    };
    drop(response);
    drop(conn);
    Ok(head)
}

/// Aborts the connection task when the exchange ends, early or not.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
