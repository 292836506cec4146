//! Hosts and host:port pairs, parsed once ("parse, don't validate"): a
//! [`Host`] is a DNS name or an IP address in the form every part of the
//! agent compares and connects to, a [`HostPort`] adds the port. Their
//! fields are private, so a value of either type has passed the checks.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Why a host or `host:port` entry was refused. The message quotes the entry
/// (`` `psn:0`: port 0 is out of range 1-65535 ``), the wording the profile
/// lints have always used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Nothing but white space.
    #[error("empty host")]
    Empty,
    /// The entry is not a host (or `host:port`); `problem` says why.
    #[error("`{entry}`: {problem}")]
    Invalid {
        /// The entry as written (trimmed).
        entry: String,
        /// What is wrong with it.
        problem: HostProblem,
    },
}

impl HostError {
    /// What is wrong, without the entry: for messages that show the entry
    /// already (a dropped known-PSN record names its host itself).
    pub fn problem(&self) -> String {
        match self {
            HostError::Empty => "the host is empty".to_owned(),
            HostError::Invalid { problem, .. } => problem.to_string(),
        }
    }
}

/// What is wrong with a host entry (see [`HostError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostProblem {
    /// `[` opens an IPv6 address that no `]` closes.
    #[error("`[` without a closing `]`")]
    UnclosedBracket,
    /// Brackets (or colons) hold something that is no IPv6 address.
    #[error("`{0}` is not an IPv6 address")]
    NotIpv6(String),
    /// Text after `]` that is not `:port` (or anything after `]` where no
    /// port is allowed).
    #[error("expected `:port` after `]`")]
    AfterBracket,
    /// The port is not a number.
    #[error("port `{0}` is not a number (allowed 1-65535)")]
    PortNotNumber(String),
    /// The port is 0 or above 65535.
    #[error("port {0} is out of range 1-65535")]
    PortOutOfRange(String),
    /// A port but no host (`:8449`).
    #[error("empty host name")]
    EmptyName,
    /// Digits and dots that are no IPv4 address (`999.1.1.1`, `10.1`).
    #[error("`{0}` is not a valid IPv4 address")]
    NotIpv4(String),
    /// More than 253 characters.
    #[error("host name longer than 253 characters")]
    TooLong,
    /// An empty label (`a..b`) or one longer than 63 characters.
    #[error("`{0}` is not a valid host name (labels must have 1-63 characters)")]
    LabelLength(String),
    /// A character a host name cannot hold.
    #[error(
        "`{name}` is not a valid host name (`{bad}` is not allowed; use letters, digits, `-`, `.`)"
    )]
    BadCharacter {
        /// The host name.
        name: String,
        /// The first character not allowed.
        bad: char,
    },
    /// A label starts or ends with `-`.
    #[error("`{0}` is not a valid host name (a label starts or ends with `-`)")]
    LabelHyphen(String),
}

/// A DNS name, IPv4 or IPv6 address: lower case, an IPv6 address without
/// brackets, a trailing dot kept as written (the resolver gives it meaning).
///
/// Two hosts are equal (and hash alike) when they name the same PSN, as
/// [`crate::same_host`] decides: without regard to a trailing dot, and the
/// same IP address however written (`2001:DB8:0::13` = `[2001:db8::13]`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Host {
    text: String,
}

/// What equality and hashing compare.
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

impl Host {
    /// Reads a host alone (no port): a DNS name, an IPv4 address, or an IPv6
    /// address with or without brackets. Surrounding white space is ignored.
    pub fn parse(text: &str) -> Result<Host, HostError> {
        let (text, invalid) = entry(text)?;
        let host = if let Some(rest) = text.strip_prefix('[') {
            let Some((addr, after)) = rest.split_once(']') else {
                return Err(invalid(HostProblem::UnclosedBracket));
            };
            if !after.is_empty() {
                return Err(invalid(HostProblem::AfterBracket));
            }
            if addr.parse::<Ipv6Addr>().is_err() {
                return Err(invalid(HostProblem::NotIpv6(addr.to_owned())));
            }
            addr
        } else if text.contains(':') {
            // Colons belong to an IPv6 address only: `host:port` is no host.
            if text.parse::<Ipv6Addr>().is_err() {
                return Err(invalid(HostProblem::NotIpv6(text.to_owned())));
            }
            text
        } else {
            check_host_name(text).map_err(invalid)?;
            text
        };
        Ok(Host::checked(host))
    }

    /// `host` has passed the checks of [`Host::parse`].
    fn checked(host: &str) -> Host {
        Host {
            text: host.to_ascii_lowercase(),
        }
    }

    /// The host as parsed: lower case, IPv6 without brackets, a trailing
    /// dot as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.text.parse().ok()
    }

    fn key(&self) -> Key<'_> {
        match self.ip() {
            Some(ip) => Key::Ip(ip),
            None => Key::Name(self.text.strip_suffix('.').unwrap_or(&self.text)),
        }
    }
}

impl PartialEq for Host {
    fn eq(&self, other: &Host) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Host {}

impl Hash for Host {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

/// A host named as text (a PSN's own name in a discovery reply, a session's
/// host) is the same host when [`crate::same_host`] says so.
impl PartialEq<str> for Host {
    fn eq(&self, other: &str) -> bool {
        crate::same_host(&self.text, other)
    }
}

impl PartialEq<&str> for Host {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

/// The bare host, IPv6 without brackets.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for Host {
    type Error = HostError;

    fn try_from(text: String) -> Result<Host, HostError> {
        Host::parse(&text)
    }
}

impl From<Host> for String {
    fn from(host: Host) -> String {
        host.text
    }
}

/// An IP address is always a host.
impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        Host {
            text: ip.to_string(),
        }
    }
}

impl std::str::FromStr for Host {
    type Err = HostError;

    fn from_str(text: &str) -> Result<Host, HostError> {
        Host::parse(text)
    }
}

/// A host (DNS name, IPv4 or IPv6 address) and a port. Equal when the hosts
/// are the same host ([`Host`]) and the ports equal.
///
/// Serialized as before the type had private fields: `{"host": "...",
/// "port": N}`, the host as [`Host::as_str`]; reading checks both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "HostPortRecord", into = "HostPortRecord")]
pub struct HostPort {
    host: Host,
    port: u16,
}

/// The serialized form of a [`HostPort`].
#[derive(Serialize, Deserialize)]
struct HostPortRecord {
    host: String,
    port: u16,
}

impl TryFrom<HostPortRecord> for HostPort {
    type Error = HostError;

    fn try_from(r: HostPortRecord) -> Result<HostPort, HostError> {
        let host = Host::parse(&r.host)?;
        if r.port == 0 {
            return Err(HostError::Invalid {
                entry: r.host,
                problem: HostProblem::PortOutOfRange("0".to_owned()),
            });
        }
        Ok(HostPort::new(host, r.port))
    }
}

impl From<HostPort> for HostPortRecord {
    fn from(hp: HostPort) -> HostPortRecord {
        HostPortRecord {
            host: hp.host.text,
            port: hp.port,
        }
    }
}

/// A socket address is a host (its IP address) and a port.
impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> HostPort {
        HostPort::new(addr.ip().into(), addr.port())
    }
}

/// `host:port`, IPv6 as `[::1]:8449`.
impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.text.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl HostPort {
    /// `host` on `port`.
    pub fn new(host: Host, port: u16) -> HostPort {
        HostPort { host, port }
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Parse `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address;
    /// `default_port` applies when no port is given. The error says what is
    /// wrong with the entry.
    pub fn parse(text: &str, default_port: u16) -> Result<HostPort, HostError> {
        let (text, invalid) = entry(text)?;
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((addr, after)) = rest.split_once(']') else {
                return Err(invalid(HostProblem::UnclosedBracket));
            };
            if addr.parse::<Ipv6Addr>().is_err() {
                return Err(invalid(HostProblem::NotIpv6(addr.to_owned())));
            }
            let port = match after {
                "" => None,
                p => match p.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(invalid(HostProblem::AfterBracket)),
                },
            };
            (addr, port)
        } else if text.parse::<Ipv6Addr>().is_ok() {
            (text, None)
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => parse_port(p).map_err(invalid)?,
        };
        if !host.contains(':') {
            check_host_name(host).map_err(invalid)?;
        }
        Ok(HostPort::new(Host::checked(host), port))
    }
}

/// The entry without surrounding white space (an empty one is an error),
/// and how to report a problem with it: both parsers name the whole entry.
fn entry(text: &str) -> Result<(&str, impl Fn(HostProblem) -> HostError + Copy + '_), HostError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(HostError::Empty);
    }
    let invalid = move |problem| HostError::Invalid {
        entry: text.to_owned(),
        problem,
    };
    Ok((text, invalid))
}

fn parse_port(p: &str) -> Result<u16, HostProblem> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostProblem::PortNotNumber(p.to_owned()));
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(HostProblem::PortOutOfRange(p.to_owned())),
        Ok(n) => Ok(n),
    }
}

/// A DNS name (letters, digits, `-`, `_`, dot-separated labels of 1-63
/// characters, 253 at most) or an IPv4 address.
fn check_host_name(host: &str) -> Result<(), HostProblem> {
    if host.is_empty() {
        return Err(HostProblem::EmptyName);
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Looks like an IPv4 address, so it must be one (`999.1.1.1`, `10.1`).
        return Err(HostProblem::NotIpv4(host.to_owned()));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > 253 {
        return Err(HostProblem::TooLong);
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(HostProblem::LabelLength(host.to_owned()));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(HostProblem::BadCharacter {
                name: host.to_owned(),
                bad: c,
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostProblem::LabelHyphen(host.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn host(text: &str) -> Host {
        Host::parse(text).unwrap()
    }

    #[test]
    fn a_host_is_read_in_the_form_the_agent_compares() {
        assert_eq!(host(" PSN1.Example.COM ").as_str(), "psn1.example.com");
        assert_eq!(host("[2001:DB8::13]").as_str(), "2001:db8::13");
        assert_eq!(host("2001:db8::13").to_string(), "2001:db8::13");
        // The trailing dot stays for the resolver, and is ignored when
        // comparing.
        assert_eq!(host("psn1.example.com.").as_str(), "psn1.example.com.");
        assert_eq!(host("psn1.example.com."), host("PSN1.example.COM"));
        assert_eq!(host("[2001:db8::13]"), host("2001:DB8:0::13"));
        assert_ne!(host("psn1.example.com"), host("psn2.example.com"));
        assert_ne!(host("10.0.0.1"), host("10.0.0.10"));
        assert_eq!(host("10.0.0.1").ip(), Some(IpAddr::from([10, 0, 0, 1])));
        assert_eq!(host("psn1").ip(), None);
        let v6: SocketAddr = "[2001:DB8::13]:8449".parse().unwrap();
        assert_eq!(HostPort::from(v6).to_string(), "[2001:db8::13]:8449");
        assert_eq!(
            HostPort::from(v6),
            HostPort::parse("[2001:db8::13]:8449", 1).unwrap()
        );
    }

    #[test]
    fn equal_hosts_hash_alike() {
        let set: HashSet<Host> = ["psn1.example.com.", "PSN1.example.com", "2001:db8::13"]
            .into_iter()
            .map(host)
            .collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&host("[2001:DB8:0::13]")));
        let ports: HashSet<HostPort> = ["psn1:8449", "PSN1.:8449", "psn1:8443"]
            .into_iter()
            .map(|t| HostPort::parse(t, 1).unwrap())
            .collect();
        assert_eq!(ports.len(), 2);
    }

    #[test]
    fn a_host_compares_with_text_as_same_host_does() {
        assert!(host("psn1.example.com") == "PSN1.Example.com.");
        assert!(host("2001:db8::13") == "[2001:db8:0::13]");
        assert!(host("psn1") != "psn2");
    }

    #[test]
    fn what_is_no_host_is_refused_with_the_entry_named() {
        let err = |t: &str| Host::parse(t).unwrap_err().to_string();
        assert_eq!(err("  "), "empty host");
        assert_eq!(
            err("psn1:8443"),
            "`psn1:8443`: `psn1:8443` is not an IPv6 address"
        );
        assert_eq!(err("[::1"), "`[::1`: `[` without a closing `]`");
        assert_eq!(
            err("[::1]:8449"),
            "`[::1]:8449`: expected `:port` after `]`"
        );
        assert_eq!(
            err("[10.0.0.1]"),
            "`[10.0.0.1]`: `10.0.0.1` is not an IPv6 address"
        );
        assert_eq!(
            err("evil host/x"),
            "`evil host/x`: `evil host/x` is not a valid host name (` ` is not allowed; use letters, digits, `-`, `.`)"
        );
        assert_eq!(
            Host::parse("evil host/x").unwrap_err().problem(),
            "`evil host/x` is not a valid host name (` ` is not allowed; use letters, digits, `-`, `.`)"
        );
        assert_eq!(Host::parse("").unwrap_err().problem(), "the host is empty");
    }

    #[test]
    fn serde_keeps_the_text_forms() {
        let hp = HostPort::parse("[2001:DB8::13]:8449", 1).unwrap();
        let json = serde_json::to_string(&hp).unwrap();
        assert_eq!(json, r#"{"host":"2001:db8::13","port":8449}"#);
        assert_eq!(serde_json::from_str::<HostPort>(&json).unwrap(), hp);
        assert_eq!(
            serde_json::to_string(hp.host()).unwrap(),
            r#""2001:db8::13""#
        );
        assert_eq!(
            serde_json::from_str::<Host>(r#""PSN1.example.com""#).unwrap(),
            host("psn1.example.com")
        );
        for bad in [
            r#"{"host":"evil host","port":8449}"#,
            r#"{"host":"psn1","port":0}"#,
            r#"{"host":"","port":8449}"#,
        ] {
            assert!(serde_json::from_str::<HostPort>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Host>(r#""[::1""#).is_err());
    }
}
