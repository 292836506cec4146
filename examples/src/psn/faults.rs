//! Per-node fault knobs, switched through the admin API for robustness tests.

use serde::{Deserialize, Serialize};

/// How a node's endpoints misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// Serve normally.
    #[default]
    None,
    /// Answer 500 without processing the request.
    Http500,
    /// Answer 200 with a body that is not XML, without processing the request.
    Garbage,
    /// Answer 200 with a 1 MiB body (over the agent's 64 KiB cap), without processing.
    Oversized,
    /// Wait `slow_ms`, then serve normally.
    Slow,
    /// Discovery answers 404 (this node holds no session); other endpoints serve normally.
    NoSession,
    /// A failed node: every connection to the ports in scope is reset at
    /// once, before TLS; switching to it moves the node's sessions to the
    /// other nodes with posture Unknown (a CoA), as ISE does when a PSN
    /// fails and its endpoints re-authenticate elsewhere.
    Down,
}

/// Which of a node's ports a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultScope {
    /// Both ports.
    #[default]
    All,
    /// Only the discovery port (discovery, requirements, report).
    Discovery,
    /// Only the state sync port.
    Sync,
}

/// A node's fault setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSetting {
    /// The mode.
    pub mode: FaultMode,
    /// Delay for `slow`, milliseconds (at most [`MAX_SLOW_MS`]).
    #[serde(default)]
    pub slow_ms: u64,
    /// The ports it applies to.
    #[serde(default)]
    pub scope: FaultScope,
}

/// Longest `slow` delay accepted: 10 minutes.
pub const MAX_SLOW_MS: u64 = 600_000;

/// Size of the `oversized` body.
pub const OVERSIZED_BYTES: usize = 1024 * 1024;

/// dACL emulation on a node's state sync port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaclMode {
    /// No emulation: every connection is served.
    #[default]
    Off,
    /// Connections from a known-posture endpoint are reset at once.
    Reject,
    /// Connections from a known-posture endpoint are accepted and never answered.
    Drop,
}

/// The admin API body of `POST /nodes/{name}/dacl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaclSetting {
    /// The mode.
    pub mode: DaclMode,
}

/// Longest dACL lag accepted: 10 minutes.
pub const MAX_DACL_LAG_MS: u64 = 600_000;

/// The admin API body of `POST /nodes/{name}/dacl-lag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaclLagSetting {
    /// Milliseconds after a report or CoA before the dACL emulation blocks
    /// the endpoint (at most [`MAX_DACL_LAG_MS`]).
    pub lag_ms: u64,
}

impl DaclLagSetting {
    /// Validates the lag.
    pub fn validate(&self) -> Result<(), String> {
        if self.lag_ms > MAX_DACL_LAG_MS {
            return Err(format!(
                "lag_ms {} is too large (allowed: 0-{MAX_DACL_LAG_MS})",
                self.lag_ms
            ));
        }
        Ok(())
    }
}

impl FaultSetting {
    /// Validates the knobs.
    pub fn validate(&self) -> Result<(), String> {
        if self.slow_ms > MAX_SLOW_MS {
            return Err(format!(
                "slow_ms {} is too large (allowed: 0-{MAX_SLOW_MS})",
                self.slow_ms
            ));
        }
        if self.mode == FaultMode::Slow && self.slow_ms == 0 {
            return Err("mode slow needs slow_ms (1-600000)".into());
        }
        Ok(())
    }

    /// Whether the fault applies to a port.
    pub fn applies_to(&self, port: crate::psn::app::PortKind) -> bool {
        use crate::psn::app::PortKind;
        matches!(
            (self.scope, port),
            (FaultScope::All, _)
                | (FaultScope::Discovery, PortKind::Discovery)
                | (FaultScope::Sync, PortKind::StateSync)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_spellings() {
        let f: FaultSetting = serde_json::from_str(r#"{"mode":"no-session"}"#).unwrap();
        assert_eq!(f.mode, FaultMode::NoSession);
        let f: FaultSetting = serde_json::from_str(r#"{"mode":"http500","scope":"sync"}"#).unwrap();
        assert_eq!(f.scope, FaultScope::Sync);
        assert!(serde_json::from_str::<FaultSetting>(r#"{"mode":"explode"}"#).is_err());
        let slow: FaultSetting = serde_json::from_str(r#"{"mode":"slow"}"#).unwrap();
        assert!(slow.validate().is_err());
        let d: DaclSetting = serde_json::from_str(r#"{"mode":"drop"}"#).unwrap();
        assert_eq!(d.mode, DaclMode::Drop);
    }
}
