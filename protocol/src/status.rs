//! Posture status values and session ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A session's posture status as the PSN holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PostureStatus {
    /// Not assessed, or the server lost or reset the posture.
    Unknown,
    /// Assessment under way.
    Pending,
    /// Every mandatory requirement passed.
    Compliant,
    /// A mandatory requirement failed.
    NonCompliant,
    /// Posture does not apply to this endpoint.
    NotApplicable,
}

impl PostureStatus {
    /// Every value, in wire order.
    pub const ALL: [PostureStatus; 5] = [
        PostureStatus::Unknown,
        PostureStatus::Pending,
        PostureStatus::Compliant,
        PostureStatus::NonCompliant,
        PostureStatus::NotApplicable,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PostureStatus::Unknown => "Unknown",
            PostureStatus::Pending => "Pending",
            PostureStatus::Compliant => "Compliant",
            PostureStatus::NonCompliant => "NonCompliant",
            PostureStatus::NotApplicable => "NotApplicable",
        }
    }

    /// Compliant or NonCompliant: the statuses whose dACL blocks the state sync port.
    pub fn is_known(self) -> bool {
        matches!(self, PostureStatus::Compliant | PostureStatus::NonCompliant)
    }
}

impl fmt::Display for PostureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string that is not one of the five values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a posture status (allowed: Unknown, Pending, Compliant, NonCompliant, NotApplicable)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for PostureStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PostureStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A session id in the style of ISE's (`c0a830e71FjmLTxwC_6BfWNqU3RwKrGfaDTw5krqr1QOzEm`).
///
/// Restricted to characters that need no escaping in a query string or an XML
/// attribute, so an id can be pasted into a URL as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

/// Why a string is not a session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a session id (1-128 characters of A-Z a-z 0-9 . _ ~ - /)")]
pub struct SessionIdError {
    /// The refused value.
    pub value: String,
}

impl SessionId {
    /// Longest accepted id.
    pub const MAX_LEN: usize = 128;

    /// Validates `value` as a session id.
    pub fn new(value: impl Into<String>) -> Result<Self, SessionIdError> {
        let value = value.into();
        let ok = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-' | b'/')
            });
        if ok {
            Ok(SessionId(value))
        } else {
            Err(SessionIdError { value })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SessionId {
    type Error = SessionIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        SessionId::new(value)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> Self {
        id.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in PostureStatus::ALL {
            assert_eq!(s.as_str().parse::<PostureStatus>(), Ok(s));
        }
        assert!("compliant".parse::<PostureStatus>().is_err());
        assert!(PostureStatus::Compliant.is_known());
        assert!(PostureStatus::NonCompliant.is_known());
        assert!(!PostureStatus::Unknown.is_known());
        assert!(!PostureStatus::Pending.is_known());
        assert!(!PostureStatus::NotApplicable.is_known());
    }

    #[test]
    fn session_ids() {
        assert!(SessionId::new("c0a830e71FjmLTxwC_6BfWNqU3RwKrGfaDTw5krqr1QOzEm/ej0").is_ok());
        assert!(SessionId::new("").is_err());
        assert!(SessionId::new("a b").is_err());
        assert!(SessionId::new("a&b").is_err());
        assert!(SessionId::new("x".repeat(129)).is_err());
    }
}
