//! One requirement's result as the agent evaluated it: the one record that
//! goes from the assessment (`assess::RequirementOutcome::result`) through
//! the machine's event and state to `posture-sync status`, `status --json`
//! and the dry run, so every view shows the same words.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One evaluated requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementResult {
    /// The requirement's `id`.
    pub id: String,
    /// Whether the PSN counts it (`mandatory`).
    pub mandatory: bool,
    /// Whether every check passed.
    pub passed: bool,
    /// Why, in words for the user and the administrator: the failed checks'
    /// reasons, or every check's reason when it passed. The endpoint's own
    /// view; what the server is told may say less (docs/protocol.md).
    pub reason: String,
    /// What to do about a failure, as the server's administrator wrote it
    /// (requirements version 2); shown, never acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

/// The results of one assessment, shared between the machine's states
/// without copying (the state is cloned at every step).
pub type RequirementResults = Arc<[RequirementResult]>;
