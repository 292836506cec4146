//! The posture-sync wire contract, version 1 (`docs/protocol.md`).
//!
//! Both the agent and the reference PSN (`psn-lab`) speak through these types, so
//! a document one side writes is a document the other side reads. Parsing is
//! hostile-input safe: callers cap the body size before calling (see
//! [`MAX_REPLY_BYTES`]), DTDs are refused, nesting and element counts are bounded,
//! and unknown elements and attributes are ignored for forward compatibility.

mod documents;
pub mod dom;
mod status;

pub use documents::{
    Check, Discovery, MAX_AGE_DAYS, MAX_CHECKS_PER_REQUIREMENT, MAX_IDLE_MINUTES, MAX_REASON_LEN,
    MAX_REASSESS_INTERVAL, MAX_REMEDIATION_LEN, MAX_REQUIREMENTS, MAX_TOKEN_LEN,
    MIN_REASSESS_INTERVAL, PostureResult, PostureStatusReply, PsnRef, REQUIREMENTS_VERSION, Report,
    ReportResult, Requirement, Requirements,
};
pub use dom::{ParseError, escape};
/// The host type of [`PsnRef::host`].
pub use profile_schema::Host;
pub use status::{PostureStatus, SessionId, SessionIdError, UnknownStatus};

/// Default port of discovery, requirements and report.
pub const DEFAULT_DISCOVERY_PORT: u16 = 8443;
/// Default posture state sync port.
pub const DEFAULT_STATE_SYNC_PORT: u16 = 8449;
/// Largest reply body the agent reads; anything larger is a failed target.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;
/// Content type of every body.
pub const CONTENT_TYPE: &str = "application/xml";

/// Request paths.
pub mod paths {
    /// `GET`, discovery port: find the PSN that owns the endpoint's session.
    pub const DISCOVERY: &str = "/auth/discovery";
    /// `GET ?session=ID`, discovery port: the posture requirements.
    pub const REQUIREMENTS: &str = "/auth/requirements";
    /// `POST ?session=ID`, discovery port: the assessment report.
    pub const REPORT: &str = "/auth/report";
    /// `GET ?session=ID`, state sync port: the state sync probe.
    pub const POSTURE_STATUS: &str = "/auth/posturestatus";
}

/// Request header names (lower case, as `http` normalises them).
pub mod headers {
    /// The endpoint's primary MAC, lower case with colons.
    pub const MAC: &str = "x-posture-mac";
    /// The session id, once known.
    pub const SESSION: &str = "x-posture-session";
}

/// The `User-Agent` value for a given agent version: `posture-sync/<version>`.
pub fn user_agent(version: &str) -> String {
    format!("posture-sync/{version}")
}

/// Normalises a MAC address to the wire form `aa:bb:cc:dd:ee:ff`.
///
/// Accepts colons, dashes or dots (Cisco `0050.56a8.be02`) as separators, any case.
pub fn normalize_mac(input: &str) -> Option<String> {
    let hex: String = input
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &lower[i * 2..i * 2 + 2]).collect();
    Some(pairs.join(":"))
}

/// Extracts the `session` query parameter from a request's query string.
pub fn session_from_query(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "session")
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_forms_normalise() {
        assert_eq!(
            normalize_mac("00:50:56:A8:BE:02").as_deref(),
            Some("00:50:56:a8:be:02")
        );
        assert_eq!(
            normalize_mac("0050.56a8.be02").as_deref(),
            Some("00:50:56:a8:be:02")
        );
        assert_eq!(
            normalize_mac("00-50-56-a8-be-02").as_deref(),
            Some("00:50:56:a8:be:02")
        );
        assert_eq!(normalize_mac("00:50:56:a8:be"), None);
        assert_eq!(normalize_mac("zz:50:56:a8:be:02"), None);
    }

    #[test]
    fn session_query() {
        assert_eq!(session_from_query(Some("session=abc")), Some("abc"));
        assert_eq!(session_from_query(Some("x=1&session=abc")), Some("abc"));
        assert_eq!(session_from_query(Some("x=1")), None);
        assert_eq!(session_from_query(None), None);
    }
}
