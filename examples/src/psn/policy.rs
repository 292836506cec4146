//! Posture policy: the requirements served to agents and the report decision.
//!
//! The policy file is JSON:
//!
//! ```json
//! { "requirements": [
//!     { "id": "os-release", "mandatory": true,
//!       "checks": [ { "type": "file-exists", "path": "/etc/os-release" } ] },
//!     { "id": "init-running", "mandatory": false,
//!       "checks": [ { "type": "process-running", "name": "systemd" } ] }
//! ] }
//! ```
//!
//! An optional `"reassess_interval_secs": N` asks agents to reassess every N
//! seconds (`<reassessInterval>` in the report reply).
//!
//! Check types are those of protocol.md: `file-exists` (`path`),
//! `file-newer-than` (`path`, `days`), `file-sha256` (`path`, `sha256`),
//! `file-contains` (`path`, `pattern`; agents evaluate it only under their
//! local ContentCheckPaths), `process-running` (`name`); `{"type": "unsupported",
//! "check_type": "run-script"}` serves a check type the agent must refuse (to
//! test fail-closed handling).

use std::collections::HashSet;
use std::path::Path;

use posture_protocol::{Check, PostureStatus, Report, Requirement};
use serde::{Deserialize, Serialize};

use crate::common::error::LabError;
use crate::common::fsutil;

/// The requirements every session is assessed against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Requirements in the order they are served.
    pub requirements: Vec<Requirement>,
    /// Periodic reassessment (ISE's PRA): sent as `<reassessInterval>` in every
    /// report reply, in seconds. Absent (the default): not sent. Any value is
    /// sent as written, so the lab can also serve intervals agents must ignore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassess_interval_secs: Option<u32>,
}

impl Default for Policy {
    /// A policy that a stock Linux machine passes: `/etc/os-release` and the
    /// distribution's `/usr/lib/os-release` exist (mandatory), systemd runs
    /// (optional, so containers pass too).
    fn default() -> Self {
        Policy {
            requirements: vec![
                Requirement {
                    id: "os-release".into(),
                    mandatory: true,
                    remediation: None,
                    checks: vec![Check::FileExists {
                        path: "/etc/os-release".into(),
                    }],
                },
                // Agents read file contents only where their local profile
                // allows it (ContentCheckPaths, docs/agent.md), so the
                // default policy asks nothing a stock agent refuses.
                Requirement {
                    id: "os-identified".into(),
                    mandatory: true,
                    remediation: None,
                    checks: vec![Check::FileExists {
                        path: "/usr/lib/os-release".into(),
                    }],
                },
                Requirement {
                    id: "init-running".into(),
                    mandatory: false,
                    remediation: None,
                    checks: vec![Check::ProcessRunning {
                        name: "systemd".into(),
                    }],
                },
            ],
            reassess_interval_secs: None,
        }
    }
}

/// The decision on a report, with the reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Compliant or NonCompliant.
    pub status: PostureStatus,
    /// Mandatory requirements that failed or had no result.
    pub failed_mandatory: Vec<String>,
    /// Results for requirement ids the policy does not have (ignored).
    pub unknown_results: Vec<String>,
}

impl Policy {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let text = fsutil::read_text(path, "policy file")?;
        let policy: Policy = serde_json::from_str(&text).map_err(|e| LabError::Policy {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        policy.validate().map_err(|message| LabError::Policy {
            path: path.to_owned(),
            message,
        })?;
        Ok(policy)
    }

    /// Requirement ids must be non-empty and unique.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for r in &self.requirements {
            if r.id.trim().is_empty() {
                return Err("a requirement has an empty id".into());
            }
            if !seen.insert(r.id.as_str()) {
                return Err(format!(
                    "requirement id {:?} appears twice (ids must be unique)",
                    r.id
                ));
            }
        }
        Ok(())
    }

    /// Compliant when every mandatory requirement has a result and all its
    /// results passed; a missing result counts as failed.
    pub fn decide(&self, report: &Report) -> Decision {
        let failed_mandatory = self
            .requirements
            .iter()
            .filter(|r| r.mandatory)
            .filter(|r| {
                let mut results = report
                    .results
                    .iter()
                    .filter(|x| x.requirement == r.id)
                    .peekable();
                results.peek().is_none() || results.any(|x| !x.passed)
            })
            .map(|r| r.id.clone())
            .collect::<Vec<_>>();
        let unknown_results = report
            .results
            .iter()
            .filter(|x| !self.requirements.iter().any(|r| r.id == x.requirement))
            .map(|x| x.requirement.clone())
            .collect();
        Decision {
            status: if failed_mandatory.is_empty() {
                PostureStatus::Compliant
            } else {
                PostureStatus::NonCompliant
            },
            failed_mandatory,
            unknown_results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_protocol::{ReportResult, SessionId};

    fn report(results: &[(&str, bool)]) -> Report {
        Report {
            session: SessionId::new("s").unwrap(),
            results: results
                .iter()
                .map(|(r, p)| ReportResult {
                    requirement: (*r).into(),
                    passed: *p,
                    reason: None,
                })
                .collect(),
        }
    }

    #[test]
    fn decision_table() {
        let p = Policy::default();
        let cases: &[(&[(&str, bool)], PostureStatus)] = &[
            (
                &[
                    ("os-release", true),
                    ("os-identified", true),
                    ("init-running", false),
                ],
                PostureStatus::Compliant,
            ),
            (
                &[("os-release", true), ("os-identified", true)],
                PostureStatus::Compliant,
            ),
            (
                &[("os-release", true), ("os-identified", false)],
                PostureStatus::NonCompliant,
            ),
            (&[("os-release", true)], PostureStatus::NonCompliant),
            (&[], PostureStatus::NonCompliant),
            (
                &[
                    ("os-release", true),
                    ("os-identified", true),
                    ("os-identified", false),
                ],
                PostureStatus::NonCompliant,
            ),
        ];
        for (results, expected) in cases {
            assert_eq!(p.decide(&report(results)).status, *expected, "{results:?}");
        }
        let d = p.decide(&report(&[
            ("os-release", true),
            ("os-identified", true),
            ("bogus", true),
        ]));
        assert_eq!(d.unknown_results, vec!["bogus".to_string()]);
    }

    #[test]
    fn file_format_round_trips_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.json");
        std::fs::write(&path, serde_json::to_string(&Policy::default()).unwrap()).unwrap();
        assert_eq!(Policy::load(&path).unwrap(), Policy::default());
        std::fs::write(&path, r#"{"requirements":[{"id":"a","mandatory":true,"checks":[]},{"id":"a","mandatory":false,"checks":[]}]}"#).unwrap();
        assert!(
            Policy::load(&path)
                .unwrap_err()
                .to_string()
                .contains("appears twice")
        );
        std::fs::write(
            &path,
            r#"{"requirements":[{"id":"a","mandatory":true,"checks":[{"type":"run-script"}]}]}"#,
        )
        .unwrap();
        assert!(Policy::load(&path).is_err());
    }
}
