//! `posture-sync assess --dry-run --policy FILE [--profile FILE] [--json]`:
//! evaluates a posture policy on this machine, as the agent would with a
//! PSN's requirements, and tells no one. An administrator tries a policy on
//! a machine before rolling it out; a script reads the exit code.
//!
//! Exit codes: 0 every mandatory requirement passed (a PSN would decide
//! Compliant), 5 a mandatory requirement failed (NonCompliant), 1 the
//! policy or profile cannot be used, 2 usage (no `--dry-run`).

use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use posture_protocol::{Requirement, Requirements, SessionId};
use serde::{Deserialize, Serialize};

use crate::assess::{Budget, CheckCx, CheckPolicy};
use crate::cli::AssessArgs;
use crate::requirement_result::RequirementResult;

/// Exit code when a mandatory requirement failed.
pub use crate::exit::NON_COMPLIANT as EXIT_NON_COMPLIANT;
// When the policy or the profile cannot be used; without `--dry-run`.
use crate::exit::{FAILURE as EXIT_FAILURE, USAGE as EXIT_USAGE};

/// Largest policy file read.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Missing, unreadable, not a regular file, or too large.
    #[error("cannot read the policy {path}: {why}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Not a requirements document the agent reads.
    #[error(
        "{path} is not a policy: {why} (give a requirements document as a PSN sends it, or a psn-lab policy file)"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, in the wire reader's words.
        why: String,
    },
}

/// psn-lab's policy file: the requirements, other keys ignored.
#[derive(Deserialize)]
struct PolicyFile {
    requirements: Vec<Requirement>,
}

/// The `--json` object.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DryRun {
    /// Whether every mandatory requirement passed.
    pub compliant: bool,
    /// Each requirement's result, in the policy's order.
    pub requirements: Vec<RequirementResult>,
}

/// Reads the requirements of a policy file: XML (first non-blank byte `<`)
/// is read as the PSN's reply is; JSON is psn-lab's policy file, written
/// and read back with the same wire reader so that it is held to the same
/// rules.
pub fn read_policy(path: &Path) -> Result<Vec<Requirement>, PolicyError> {
    let read = |why: String| PolicyError::Read {
        path: path.to_owned(),
        why,
    };
    let invalid = |why: String| PolicyError::Invalid {
        path: path.to_owned(),
        why,
    };
    let file = match crate::assess::checks::open_regular(path) {
        Ok(Some(f)) => f,
        Ok(None) => return Err(read("not a regular file".to_owned())),
        Err(e) => return Err(read(e.to_string())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_POLICY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read(e.to_string()))?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(read(format!("larger than {} KiB", MAX_POLICY_BYTES / 1024)));
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'<') {
        return Requirements::from_xml(&bytes)
            .map(|r| r.requirements)
            .map_err(|e| invalid(e.to_string()));
    }
    let file: PolicyFile = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    let doc = Requirements {
        // Invariant: a constant valid session id.
        session: SessionId::new("dry-run").map_err(|e| invalid(e.to_string()))?,
        requirements: file.requirements,
    };
    Requirements::from_xml(doc.to_xml().as_bytes())
        .map(|r| r.requirements)
        .map_err(|e| invalid(e.to_string()))
}

/// The text for people: one line per requirement, the remediation under a
/// failed one, and the verdict.
pub fn render(results: &[RequirementResult]) -> String {
    let mut out = String::new();
    for r in results {
        let word = if r.passed { "PASS" } else { "FAIL" };
        let kind = if r.mandatory { "" } else { " (optional)" };
        out.push_str(&format!("{word}  {}{kind}: {}\n", r.id, r.reason));
        if let (false, Some(fix)) = (r.passed, &r.remediation) {
            out.push_str(&format!("      what to do: {fix}\n"));
        }
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.mandatory && !r.passed)
        .map(|r| r.id.as_str())
        .collect();
    if failed.is_empty() {
        out.push_str(&format!(
            "compliant: every mandatory requirement passed ({} requirements)\n",
            results.len()
        ));
    } else {
        out.push_str(&format!(
            "non-compliant: {} mandatory requirement{} failed: {}\n",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        ));
    }
    out
}

/// Entry point.
pub fn main(args: AssessArgs) -> ExitCode {
    if !args.dry_run {
        super::print_err(format_args!(
            "assess evaluates a policy locally only: add --dry-run (to make the running agent assess with its PSN, use posture-sync reassess)"
        ));
        return ExitCode::from(EXIT_USAGE);
    }
    let requirements = match read_policy(&args.policy) {
        Ok(r) => r,
        Err(e) => {
            super::print_err(format_args!("{e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let content_paths = match &args.profile {
        None => Vec::new(),
        Some(p) => match profile_schema::Profile::load(p) {
            Ok(loaded) => loaded.profile.content_check_paths(),
            Err(e) => {
                super::print_err(format_args!("{e}"));
                return ExitCode::from(EXIT_FAILURE);
            }
        },
    };
    // The same local rules as the agent's: its own directories and the
    // home directory are off limits.
    let own_dirs = crate::paths::Dirs::resolve(None, None)
        .map(|d| vec![d.state, d.logs])
        .unwrap_or_default();
    let policy = CheckPolicy::new(
        &content_paths,
        own_dirs,
        crate::paths::Env::home_dir(&crate::paths::ProcessEnv),
    );
    let budget = Budget::standard();
    let cx = CheckCx {
        policy: &policy,
        budget: &budget,
    };
    let results: Vec<RequirementResult> = crate::assess::evaluate(&requirements, &cx)
        .iter()
        .map(|r| r.result())
        .collect();
    let compliant = results.iter().all(|r| r.passed || !r.mandatory);
    let text = if args.json {
        let dry = DryRun {
            compliant,
            requirements: results,
        };
        format!(
            "{}\n",
            serde_json::to_string(&dry).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        )
    } else {
        render(&results)
    };
    let mut out = io::stdout().lock();
    // `assess ... | head`: the exit code still says what was decided.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if compliant {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NON_COMPLIANT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(
        id: &str,
        mandatory: bool,
        passed: bool,
        remediation: Option<&str>,
    ) -> RequirementResult {
        RequirementResult {
            id: id.into(),
            mandatory,
            passed,
            reason: format!("{id} reason"),
            remediation: remediation.map(Into::into),
        }
    }

    #[test]
    fn the_text_names_each_result_the_remediation_and_the_verdict() {
        let text = render(&[
            result("os", true, true, Some("never shown when passed")),
            result("disk", true, false, Some("Encrypt the disk.")),
            result("screen", false, false, None),
        ]);
        assert_eq!(
            text,
            "PASS  os: os reason\n\
             FAIL  disk: disk reason\n      what to do: Encrypt the disk.\n\
             FAIL  screen (optional): screen reason\n\
             non-compliant: 1 mandatory requirement failed: disk\n"
        );
        assert!(
            render(&[result("os", true, true, None)])
                .ends_with("compliant: every mandatory requirement passed (1 requirements)\n")
        );
    }

    #[test]
    fn a_policy_is_xml_or_psn_lab_json_held_to_the_wire_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy");
        std::fs::write(&p, r#"{"requirements":[{"id":"d","mandatory":true,"checks":[{"type":"disk-encryption"}]}],"reassess_interval_secs":60}"#).unwrap();
        assert_eq!(read_policy(&p).unwrap()[0].id, "d");
        std::fs::write(&p, r#"  <requirements session="s" version="2"><requirement id="x"><check type="firewall-enabled"/></requirement></requirements>"#).unwrap();
        assert_eq!(read_policy(&p).unwrap()[0].id, "x");
        std::fs::write(&p, r#"{"requirements":[{"id":"u","mandatory":true,"checks":[{"type":"updates-recent","max_days":0}]}]}"#).unwrap();
        let e = read_policy(&p).unwrap_err().to_string();
        assert!(
            e.contains("is not a policy") && e.contains("max-days"),
            "{e}"
        );
        let e = read_policy(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read the policy"), "{e}");
    }
}
