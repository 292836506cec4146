//! mdm-lab's fault modes, switched through its admin API.

use serde::{Deserialize, Serialize};

/// How the MDM misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MdmFaultMode {
    /// Serve normally.
    #[default]
    None,
    /// 401 whatever the credentials (an MDM that does not allow basic authentication).
    Unauthorized,
    /// 404 whatever the path (an integration that was deleted on the MDM).
    NotFound,
    /// Wait `slow_ms`, then serve normally (past the device compliance timeout).
    Slow,
    /// 200 with a body that is not XML.
    Malformed,
    /// 200 with well-formed XML whose values have the wrong types.
    WrongTypes,
    /// 200 with a 2 MiB well-formed body.
    Huge,
    /// Server info says API version 2.
    OldApi,
    /// Device replies name a device that was not asked for.
    ExtraDevice,
}

/// Which endpoints a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MdmFaultScope {
    /// Server info and device queries.
    #[default]
    All,
    /// Only the server info query.
    Info,
    /// Only device queries.
    Devices,
}

/// Largest `slow_ms`.
pub const MAX_SLOW_MS: u64 = 600_000;
/// Size of a `huge` reply.
pub const HUGE_BYTES: usize = 2 * 1024 * 1024;

/// A fault setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdmFault {
    /// Mode.
    pub mode: MdmFaultMode,
    /// Delay for `slow`, milliseconds.
    #[serde(default)]
    pub slow_ms: u64,
    /// Endpoints.
    #[serde(default)]
    pub scope: MdmFaultScope,
}

impl MdmFault {
    /// Checks the delay.
    pub fn validate(&self) -> Result<(), String> {
        if self.mode == MdmFaultMode::Slow && !(1..=MAX_SLOW_MS).contains(&self.slow_ms) {
            return Err(format!(
                "slow_ms {} is out of range for mode slow (allowed: 1-{MAX_SLOW_MS})",
                self.slow_ms
            ));
        }
        Ok(())
    }

    /// Whether it applies to the server info (`true`) or device (`false`) endpoint.
    pub fn applies(&self, info: bool) -> bool {
        self.mode != MdmFaultMode::None
            && match self.scope {
                MdmFaultScope::All => true,
                MdmFaultScope::Info => info,
                MdmFaultScope::Devices => !info,
            }
    }
}
