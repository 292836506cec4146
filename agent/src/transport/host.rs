//! How the transport reads a target's host: once, with the project's one host
//! normaliser ([`profile_schema::normalize_host`]), into what the connection
//! needs — the address or the name to resolve, and the TLS server name.
//!
//! The rules (docs/agent.md, "Connecting"):
//! - brackets enclose an IPv6 address and nothing else (`[2001:db8::13]`);
//!   `[::1` (one bracket), `[[::1]]`, `[10.0.0.1]` and `[psn1.example.com]`
//!   are not valid hosts (the hand-written `trim_matches` this replaced
//!   accepted all of them);
//! - an IP literal is used as it is, without the resolver;
//! - a DNS name goes to the resolver exactly as written: a trailing dot keeps
//!   its meaning there (an absolute name, no search domains); the TLS server
//!   name is the normalised form (lower case, no trailing dot), which is what
//!   rustls sends as SNI and matches certificates against in any case.

use std::io;
use std::net::{IpAddr, Ipv6Addr};

use rustls::pki_types::ServerName;

use crate::outcome::{Outcome, Stage, classify_io_failure};

/// Where to connect: an address, or a name for the resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    /// An IP literal (brackets removed).
    Ip(IpAddr),
    /// A DNS name, as written.
    Name(String),
}

/// A target's host, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedHost {
    /// Where to connect.
    pub(crate) address: Address,
    /// The name TLS verifies the certificate against.
    pub(crate) server_name: ServerName<'static>,
}

/// Reads `host` (a DNS name, an IPv4 address, or an IPv6 address with or
/// without brackets). A host that is none of these fails like a name that
/// does not resolve (`dns`), before any connection, with a message naming it.
pub(crate) fn parse(host: &str) -> Result<ParsedHost, Outcome> {
    let invalid = |why: &str| {
        classify_io_failure(
            Stage::Resolve,
            io::ErrorKind::InvalidInput,
            &format!("{host:?} is not a valid host name ({why})"),
        )
    };
    let normalized = profile_schema::normalize_host(host);
    if host.starts_with('[') || host.ends_with(']') {
        // `normalize_host` unbrackets only a matching pair; what is inside
        // must then be an IPv6 address (RFC 3986 IP-literal).
        let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
        return match normalized.parse::<Ipv6Addr>() {
            Ok(ip) if bracketed => Ok(ip_host(IpAddr::V6(ip))),
            _ => Err(invalid("brackets may enclose an IPv6 address only")),
        };
    }
    if let Ok(ip) = normalized.parse::<IpAddr>() {
        return Ok(ip_host(ip));
    }
    let server_name = ServerName::try_from(normalized)
        .map_err(|_| invalid("use letters, digits, `-` and `.`, or an IP address"))?;
    Ok(ParsedHost {
        address: Address::Name(host.to_owned()),
        server_name,
    })
}

fn ip_host(ip: IpAddr) -> ParsedHost {
    ParsedHost {
        address: Address::Ip(ip),
        server_name: ServerName::IpAddress(ip.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::FailureKind;

    fn ok(host: &str) -> (Address, String) {
        let parsed = parse(host).unwrap_or_else(|e| panic!("{host:?}: {e}"));
        let name = match &parsed.server_name {
            ServerName::DnsName(n) => n.as_ref().to_owned(),
            ServerName::IpAddress(ip) => format!("ip {:?}", IpAddr::from(*ip)),
            other => format!("{other:?}"),
        };
        (parsed.address, name)
    }

    #[test]
    fn ip_literals_skip_the_resolver_with_or_without_brackets() {
        let v6: IpAddr = "2001:db8::13".parse().unwrap();
        for host in ["2001:db8::13", "[2001:db8::13]", "[2001:DB8:0::13]"] {
            assert_eq!(ok(host).0, Address::Ip(v6), "{host}");
        }
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(ok("10.0.0.1"), (Address::Ip(v4), format!("ip {v4:?}")));
        assert_eq!(ok("::1").0, Address::Ip("::1".parse().unwrap()));
    }

    #[test]
    fn names_resolve_as_written_and_verify_in_normal_form() {
        assert_eq!(
            ok("psn1.example.com"),
            (
                Address::Name("psn1.example.com".into()),
                "psn1.example.com".into()
            )
        );
        // The trailing dot stays for the resolver (absolute name); TLS sees
        // the normal form.
        assert_eq!(
            ok("PSN1.Example.com."),
            (
                Address::Name("PSN1.Example.com.".into()),
                "psn1.example.com".into()
            )
        );
    }

    #[test]
    fn odd_brackets_and_bad_names_fail_as_dns_naming_the_host() {
        // The old `trim_start_matches('[').trim_end_matches(']')` took the
        // first four as addresses or names; none is a valid host.
        for host in [
            "[::1",
            "::1]",
            "[[::1]]",
            "[10.0.0.1]",
            "[psn1.example.com]",
            "[]",
            "[",
            "not a host",
            "",
            "psn1..example.com",
        ] {
            match parse(host) {
                Err(Outcome::Failed(FailureKind::Dns { detail })) => {
                    assert!(detail.contains(&format!("{host:?}")), "{detail}");
                }
                other => panic!("{host:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn valid_hosts_read_as_before() {
        // What the old hand-written stripping gave for valid input: the same
        // address, or the same name (server names compare without case and
        // trailing dot).
        for host in [
            "127.0.0.1",
            "[::1]",
            "::1",
            "[fe80::1]",
            "psn1.lab.test",
            "psn1.lab.test.",
            "localhost",
        ] {
            let old = host.trim_start_matches('[').trim_end_matches(']');
            let parsed = parse(host).unwrap();
            match old.parse::<IpAddr>() {
                Ok(ip) => assert_eq!(parsed.address, Address::Ip(ip), "{host}"),
                Err(_) => assert_eq!(parsed.address, Address::Name(old.to_owned()), "{host}"),
            }
        }
    }
}
