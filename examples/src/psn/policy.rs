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
//! local ContentCheckPaths), `process-running` (`name`); the conditions of
//! requirements version 2: `os-version` (`name`, `min`, `max`),
//! `disk-encryption`, `firewall-enabled`, `service-active` (`name`),
//! `package-version` (`name`, `min`), `updates-recent` (`max_days`),
//! `screen-lock` (`max_minutes`), and a requirement's `remediation` text
//! (a policy that uses any of them is served as version 2);
//! `{"type": "unsupported", "check_type": "run-script"}` serves a check type
//! the agent must refuse (to test fail-closed handling).

use std::collections::HashSet;
use std::path::Path;

use posture_protocol::{Check, PostureStatus, Report, Requirement, Requirements, SessionId};
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
    /// distribution's `/usr/lib/os-release` exist (mandatory); systemd runs,
    /// and the machine conditions of requirements version 2 (kernel version,
    /// disk encryption, firewall, recent updates, screen lock), each with
    /// the remediation text a user sees, are optional: an agent reports
    /// them with their reasons, but a container or a lab machine without a
    /// LUKS disk stays Compliant.
    fn default() -> Self {
        let optional = |id: &str, check: Check, remediation: &str| Requirement {
            id: id.into(),
            mandatory: false,
            remediation: Some(remediation.into()),
            checks: vec![check],
        };
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
                optional(
                    "kernel-supported",
                    Check::OsVersion {
                        name: "linux".into(),
                        min: Some("4.19".into()),
                        max: None,
                    },
                    "Upgrade to a supported distribution release (Linux kernel 4.19 or later).",
                ),
                optional(
                    "disk-encrypted",
                    Check::DiskEncryption,
                    "Reinstall with full disk encryption (LUKS), or ask the helpdesk to encrypt the disk.",
                ),
                optional(
                    "firewall-on",
                    Check::FirewallEnabled,
                    "Turn the firewall on (ufw enable, or systemctl enable --now firewalld).",
                ),
                optional(
                    "updates-recent",
                    Check::UpdatesRecent { max_days: 30 },
                    "Install the pending updates (sudo apt upgrade or sudo dnf upgrade).",
                ),
                optional(
                    "screen-locks",
                    Check::ScreenLock { max_minutes: 15 },
                    "Set the screen to lock after at most 15 minutes of inactivity.",
                ),
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

    /// Requirement ids must be non-empty and unique, and the requirements
    /// must be a document agents read: they are written and read back with
    /// the wire contract's own reader, so a condition out of range (a
    /// `max_days` of 0, a package name with a space) is refused here with
    /// the reader's words rather than served to agents that would refuse
    /// the whole reply.
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
        let doc = Requirements {
            session: SessionId::new("policy-check").map_err(|e| e.to_string())?,
            requirements: self.requirements.clone(),
        };
        Requirements::from_xml(doc.to_xml().as_bytes())
            .map_err(|e| format!("the requirements are not valid on the wire: {e}"))?;
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

    #[test]
    fn version_2_conditions_are_read_served_and_checked_like_the_wire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.json");
        std::fs::write(
            &path,
            r#"{"requirements":[
                {"id":"edr","mandatory":true,"remediation":"Install the EDR agent from the self-service portal.",
                 "checks":[{"type":"service-active","name":"falcon-sensor"},
                           {"type":"package-version","name":"falcon-sensor","min":"7.10"}]},
                {"id":"patched","mandatory":true,"checks":[{"type":"updates-recent","max_days":14}]}]}"#,
        )
        .unwrap();
        let p = Policy::load(&path).unwrap();
        let doc = Requirements {
            session: SessionId::new("s").unwrap(),
            requirements: p.requirements.clone(),
        };
        let xml = doc.to_xml();
        assert!(
            xml.starts_with(r#"<requirements session="s" version="2">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<check type="service-active" name="falcon-sensor"/>"#),
            "{xml}"
        );
        // Out of range for the wire: refused when the lab loads it.
        std::fs::write(
            &path,
            r#"{"requirements":[{"id":"p","mandatory":true,"checks":[{"type":"updates-recent","max_days":0}]}]}"#,
        )
        .unwrap();
        let e = Policy::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("not valid on the wire") && e.contains("max-days"),
            "{e}"
        );
        // The default policy uses the conditions and stays Compliant for
        // a machine that passes only the mandatory file checks.
        let d = Policy::default();
        assert!(
            d.requirements
                .iter()
                .any(|r| r.checks.contains(&Check::DiskEncryption))
        );
        assert!(
            d.requirements
                .iter()
                .filter(|r| r.checks.iter().any(Check::is_version_2))
                .all(|r| !r.mandatory && r.remediation.is_some())
        );
        assert_eq!(
            d.decide(&report(&[("os-release", true), ("os-identified", true)]))
                .status,
            PostureStatus::Compliant
        );
    }
}
