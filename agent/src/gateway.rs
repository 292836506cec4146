//! The endpoint's default gateways, for the switch's URL redirect (issue 13,
//! stage 1 of discovery): in an ISE-style deployment the agent finds its PSN
//! by sending `GET http://<default gateway>/auth/discovery` and following the
//! switch's redirect ([`crate::nad_hop`]).
//!
//! One function per OS behind [`default_gateways`]:
//! - Linux: `/proc/net/route` (IPv4) and `/proc/net/ipv6_route` (IPv6), parsed
//!   by pure functions ([`parse_ipv4_routes`], [`parse_ipv6_routes`]) and read
//!   from an injectable root ([`default_gateways_from_proc`]) so tests use
//!   recorded files; the interface index of a link-local IPv6 gateway comes
//!   from `/proc/net/if_inet6`, so the hop can connect to `fe80::1%eth0`.
//! - macOS: one `RTM_GET` request for `default` per address family over a
//!   `PF_ROUTE` socket (rustix, no unsafe code), the reply parsed by a pure
//!   function ([`parse_rtm_get_reply`]).
//! - Windows: the routing table (`GetIpForwardTable2`, through
//!   `platform/windows_ffi.rs`), its default routes turned into gateways by
//!   a pure function (`gateway/windows.rs`) tested on every OS; the metric
//!   is the route's own (Windows adds the interface's metric when it
//!   chooses, which this order does not).
//! - Others: [`GatewayError::Unsupported`]. An administrator sets
//!   `DiscoveryHost` or `CallHomeList`.
//!
//! Only gateways are returned: an on-link default route (no next hop) has
//! no switch to ask, and reject/unreachable defaults are not routes.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::{Path, PathBuf};

mod bsd;
mod proc_net;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(any(windows, test))]
pub(crate) mod windows;

#[cfg(test)]
mod tests;

pub use bsd::{RtmGetReply, parse_rtm_get_reply, rtm_get_default_request};
pub use proc_net::{parse_if_inet6, parse_ipv4_routes, parse_ipv6_routes};

/// One default gateway: the next hop of a default route, with the interface
/// the route goes out of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// The gateway's address (an IPv6 link-local address needs
    /// [`Gateway::scope_id`] to be reachable).
    pub addr: IpAddr,
    /// The outgoing interface's name (`eth0`, `en0`); empty when the OS did
    /// not say.
    pub interface: String,
    /// The outgoing interface's index: the scope of a link-local IPv6
    /// gateway; 0 when unknown or not needed.
    pub scope_id: u32,
    /// The route's metric (lower is preferred); 0 where the OS has none.
    pub metric: u32,
}

impl Gateway {
    /// The socket address to connect to on `port`, with the interface scope
    /// of a link-local IPv6 gateway.
    pub fn socket_addr(&self, port: u16) -> SocketAddr {
        match self.addr {
            IpAddr::V4(v4) => SocketAddr::from((v4, port)),
            IpAddr::V6(v6) => {
                let scope = if is_link_local(&v6) { self.scope_id } else { 0 };
                SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope))
            }
        }
    }

    /// The authority of an HTTP request to this gateway (`192.0.2.1`,
    /// `[fe80::1]`, with `:port` unless 80). The zone is not sent: it means
    /// something only on this endpoint.
    pub fn authority(&self, port: u16) -> String {
        let host = match self.addr {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        if port == 80 {
            host
        } else {
            format!("{host}:{port}")
        }
    }
}

impl fmt::Display for Gateway {
    /// `192.0.2.1 on eth0`, `fe80::1%eth0 on eth0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V6(v6) if is_link_local(&v6) && !self.interface.is_empty() => {
                write!(f, "{v6}%{}", self.interface)?;
            }
            addr => write!(f, "{addr}")?,
        }
        if !self.interface.is_empty() {
            write!(f, " on {}", self.interface)?;
        }
        Ok(())
    }
}

/// Where stage 1 of discovery asks for the switch's URL redirect
/// (`posture-sync run --gateway`, `docs/cli.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GatewayMode {
    /// The OS's default gateways ([`default_gateways`]), port 80: what an
    /// endpoint in a deployment does.
    #[default]
    Auto,
    /// Never ask a gateway (a profile with DiscoveryHost or CallHomeList, a
    /// network without a switch redirect, tests on loopback).
    Off,
    /// Ask this address and port instead of the default gateways (labs and
    /// the demo: psn-lab's `--nad` listener on loopback).
    Fixed(SocketAddr),
}

impl GatewayMode {
    /// Whether stage 1 asks a gateway at all.
    pub fn enabled(&self) -> bool {
        !matches!(self, GatewayMode::Off)
    }

    /// The gateways to ask and their HTTP port: the OS's (port 80) or the
    /// fixed one; none when off.
    pub fn gateways(&self) -> Result<(Vec<Gateway>, u16), GatewayError> {
        match self {
            GatewayMode::Off => Ok((Vec::new(), 80)),
            GatewayMode::Auto => default_gateways().map(|g| (g, 80)),
            GatewayMode::Fixed(addr) => Ok((
                vec![Gateway {
                    addr: addr.ip(),
                    interface: String::new(),
                    scope_id: match addr {
                        SocketAddr::V6(v6) => v6.scope_id(),
                        SocketAddr::V4(_) => 0,
                    },
                    metric: 0,
                }],
                addr.port(),
            )),
        }
    }
}

impl fmt::Display for GatewayMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayMode::Auto => f.write_str("auto"),
            GatewayMode::Off => f.write_str("off"),
            GatewayMode::Fixed(addr) => write!(f, "{addr}"),
        }
    }
}

/// A `--gateway` value that is neither `auto`, `off` nor an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a gateway: give `auto` (the default gateways), `off`, or an address with an optional port (`192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]:8080`)"
)]
pub struct GatewayModeError(String);

impl std::str::FromStr for GatewayMode {
    type Err = GatewayModeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text.to_ascii_lowercase().as_str() {
            "auto" => return Ok(GatewayMode::Auto),
            "off" => return Ok(GatewayMode::Off),
            _ => {}
        }
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(GatewayMode::Fixed(addr));
        }
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        bare.parse::<IpAddr>()
            .map(|ip| GatewayMode::Fixed(SocketAddr::new(ip, 80)))
            .map_err(|_| GatewayModeError(text.to_owned()))
    }
}

/// `fe80::/10`.
pub(crate) fn is_link_local(v6: &Ipv6Addr) -> bool {
    (v6.segments()[0] & 0xffc0) == 0xfe80
}

/// Why the default gateways could not be found.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A routing table file could not be read.
    #[error("cannot read the routing table {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The routing socket could not be used.
    #[error("cannot ask the routing socket for the default route ({what}): {source}")]
    Socket {
        /// Which step failed.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The OS's routing table could not be read (Windows).
    #[error("cannot read the routing table (GetIpForwardTable2): {source}")]
    RoutingTable {
        /// Why.
        source: std::io::Error,
    },
    /// This OS has no gateway discovery yet.
    #[error(
        "gateway discovery is not available on {os} yet; set DiscoveryHost or CallHomeList in the profile"
    )]
    Unsupported {
        /// The OS (`Windows`).
        os: &'static str,
    },
}

/// The endpoint's default gateways: IPv4 first, then IPv6, each family
/// ordered by route metric (lowest first), duplicates removed.
pub fn default_gateways() -> Result<Vec<Gateway>, GatewayError> {
    let found = platform_gateways()?;
    tracing::debug!(
        gateways = %found.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        "default gateways"
    );
    Ok(found)
}

#[cfg(target_os = "linux")]
fn platform_gateways() -> Result<Vec<Gateway>, GatewayError> {
    default_gateways_from_proc(Path::new("/proc"))
}

#[cfg(target_os = "macos")]
fn platform_gateways() -> Result<Vec<Gateway>, GatewayError> {
    macos::default_gateways()
}

#[cfg(target_os = "windows")]
fn platform_gateways() -> Result<Vec<Gateway>, GatewayError> {
    windows::default_gateways()
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn platform_gateways() -> Result<Vec<Gateway>, GatewayError> {
    Err(GatewayError::Unsupported {
        os: std::env::consts::OS,
    })
}

/// The default gateways from the Linux files under `proc` (normally
/// `/proc`): `net/route`, `net/ipv6_route` and `net/if_inet6`. A missing
/// IPv6 file means IPv6 is disabled: no IPv6 gateway, not an error.
pub fn default_gateways_from_proc(proc: &Path) -> Result<Vec<Gateway>, GatewayError> {
    let v4 = read(&proc.join("net/route"), false)?;
    let v6 = read(&proc.join("net/ipv6_route"), true)?;
    let mut out = parse_ipv4_routes(&v4);
    let mut six = parse_ipv6_routes(&v6);
    if six.iter().any(|g| g.scope_id == 0) {
        let indexes = parse_if_inet6(&read(&proc.join("net/if_inet6"), true)?);
        for g in &mut six {
            if let Some((_, index)) = indexes.iter().find(|(name, _)| *name == g.interface) {
                g.scope_id = *index;
            }
        }
    }
    out.append(&mut six);
    Ok(order(out))
}

fn read(path: &Path, missing_is_empty: bool) -> Result<String, GatewayError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if missing_is_empty && e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(GatewayError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// IPv4 before IPv6 (a switch's redirect ACL is an IPv4 ACL in most
/// deployments), lowest metric first within a family, first of duplicates
/// kept.
pub(crate) fn order(mut gateways: Vec<Gateway>) -> Vec<Gateway> {
    gateways.sort_by_key(|g| (g.addr.is_ipv6(), g.metric));
    let mut out: Vec<Gateway> = Vec::with_capacity(gateways.len());
    for g in gateways {
        if !out
            .iter()
            .any(|o| o.addr == g.addr && o.scope_id == g.scope_id)
        {
            out.push(g);
        }
    }
    out
}
