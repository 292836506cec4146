//! The six documents of the contract, each with `from_xml` and `to_xml`.

use std::fmt::Write as _;

use profile_schema::Host;
use serde::{Deserialize, Serialize};

use crate::dom::{self, Element, ParseError, escape};
use crate::status::{PostureStatus, SessionId};

fn root(input: &[u8], expected: &'static str) -> Result<Element, ParseError> {
    let el = dom::parse(input)?;
    if el.name != expected {
        return Err(ParseError::WrongRoot {
            expected,
            found: el.name,
        });
    }
    Ok(el)
}

fn session_attr(el: &Element, element: &'static str) -> Result<SessionId, ParseError> {
    let raw = el.required(element, "session")?;
    SessionId::new(raw).map_err(|e| ParseError::invalid(element, "session", raw, e.to_string()))
}

fn status_value(
    raw: &str,
    element: &'static str,
    field: &'static str,
) -> Result<PostureStatus, ParseError> {
    raw.trim().parse().map_err(|_| {
        ParseError::invalid(
            element,
            field,
            raw,
            "Unknown, Pending, Compliant, NonCompliant or NotApplicable",
        )
    })
}

fn bool_attr(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<bool, ParseError> {
    match el.required(element, attribute)? {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(ParseError::invalid(
            element,
            attribute,
            other,
            "true or false",
        )),
    }
}

fn check_version(el: &Element, element: &'static str) -> Result<(), ParseError> {
    // A missing version means 1; a later version is read for what version 1 knows
    // (unknown elements and attributes are ignored), so only nonsense is refused.
    match el.attr("version") {
        None => Ok(()),
        Some(v) if v.trim().parse::<u32>().is_ok_and(|n| n >= 1) => Ok(()),
        Some(v) => Err(ParseError::invalid(
            element,
            "version",
            v,
            "a positive integer",
        )),
    }
}

/// A PSN as named in a discovery reply: host and state sync port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PsnRef {
    /// Host name or address as the PSN names itself, checked as the
    /// profile checks its hosts: a reply naming anything else is malformed.
    pub host: Host,
    /// Its state sync port.
    pub state_sync_port: u16,
}

impl PsnRef {
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        let raw = el.required("psn", "host")?.trim();
        let host = Host::parse(raw)
            .map_err(|_| ParseError::invalid("psn", "host", raw, "a host name or address"))?;
        let port = match el.attr("stateSyncPort") {
            None => crate::DEFAULT_STATE_SYNC_PORT,
            Some(raw) => raw
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    ParseError::invalid("psn", "stateSyncPort", raw, "a port 1-65535")
                })?,
        };
        Ok(PsnRef {
            host,
            state_sync_port: port,
        })
    }

    fn write(&self, out: &mut String) {
        let _ = write!(
            out,
            r#"<psn host="{}" stateSyncPort="{}"/>"#,
            escape(self.host.as_str()),
            self.state_sync_port
        );
    }
}

/// Reply to `GET /auth/discovery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The endpoint's session.
    pub session: SessionId,
    /// The session's posture status.
    pub posture: PostureStatus,
    /// The PSN that owns the session (the connected PSN).
    pub psn: PsnRef,
    /// Other PSNs of the deployment, candidates for state sync probing.
    pub psn_list: Vec<PsnRef>,
}

impl Discovery {
    /// Reads a discovery reply.
    pub fn from_xml(input: &[u8]) -> Result<Self, ParseError> {
        let el = root(input, "discovery")?;
        check_version(&el, "discovery")?;
        let session = el.child("session").ok_or(ParseError::MissingElement {
            parent: "discovery",
            child: "session",
        })?;
        let raw_id = session.required("session", "id")?;
        let id = SessionId::new(raw_id)
            .map_err(|e| ParseError::invalid("session", "id", raw_id, e.to_string()))?;
        let posture = el
            .child("postureStatus")
            .ok_or(ParseError::MissingElement {
                parent: "discovery",
                child: "postureStatus",
            })?;
        let posture = status_value(&posture.text, "postureStatus", "text")?;
        let psn = el.child("psn").ok_or(ParseError::MissingElement {
            parent: "discovery",
            child: "psn",
        })?;
        let psn = PsnRef::from_element(psn)?;
        let psn_list = match el.child("psnList") {
            None => Vec::new(),
            Some(list) => list
                .children_named("psn")
                .map(PsnRef::from_element)
                .collect::<Result<_, _>>()?,
        };
        Ok(Discovery {
            session: id,
            posture,
            psn,
            psn_list,
        })
    }

    /// Writes the reply.
    pub fn to_xml(&self) -> String {
        let mut out = String::from(r#"<discovery version="1">"#);
        let _ = write!(
            out,
            r#"<session id="{}"/><postureStatus>{}</postureStatus>"#,
            self.session, self.posture
        );
        self.psn.write(&mut out);
        out.push_str("<psnList>");
        for psn in &self.psn_list {
            psn.write(&mut out);
        }
        out.push_str("</psnList></discovery>");
        out
    }
}

/// One check of a requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Check {
    /// Passes when `path` exists.
    FileExists {
        /// Absolute path.
        path: String,
    },
    /// Passes when `path` is a regular file whose SHA-256 digest is `sha256`
    /// (ISE's checksum condition): it answers one question about the file
    /// without exposing its content.
    FileSha256 {
        /// Absolute path.
        path: String,
        /// The expected digest, 64 lowercase hexadecimal digits.
        sha256: String,
    },
    /// Passes when `path` exists and was modified less than `days` days ago
    /// (signature files, update stamps).
    FileNewerThan {
        /// Absolute path.
        path: String,
        /// Largest age in days, 1 to [`MAX_AGE_DAYS`].
        days: u32,
    },
    /// Passes when `path` can be read and a line of its text matches the
    /// regular expression `pattern`. Agents evaluate it only under path
    /// prefixes their local profile allows (docs/agent.md): a server cannot
    /// turn it into a file reader.
    FileContains {
        /// Absolute path.
        path: String,
        /// A regular expression.
        pattern: String,
    },
    /// Passes when a process named `name` runs.
    ProcessRunning {
        /// Process name.
        name: String,
    },
    /// Version 2: passes when the OS is `name` (os-release `ID` or one of
    /// its `ID_LIKE`, `macos`, or `linux` for the kernel release) at a version
    /// within `min`..=`max` (dotted numbers, either bound optional).
    OsVersion {
        /// OS identifier, lower case.
        name: String,
        /// Lowest version accepted.
        min: Option<String>,
        /// Highest version accepted.
        max: Option<String>,
    },
    /// Version 2: passes when the root file system is on an encrypted volume
    /// (dm-crypt/LUKS, FileVault, BitLocker).
    DiskEncryption,
    /// Version 2: passes when a host firewall drops unsolicited inbound traffic.
    FirewallEnabled,
    /// Version 2: passes when service `name` runs (a systemd unit, a launchd
    /// job, a Windows service).
    ServiceActive {
        /// Service name.
        name: String,
    },
    /// Version 2: passes when package `name` is installed at version `min`
    /// or later (the platform's package database and version order).
    PackageVersion {
        /// Package name.
        name: String,
        /// Lowest version accepted.
        min: String,
    },
    /// Version 2: passes when updates were installed less than `max_days`
    /// days ago.
    UpdatesRecent {
        /// Largest age in days, 1 to [`MAX_AGE_DAYS`].
        max_days: u32,
    },
    /// Version 2: passes when the screen locks after at most `max_minutes`
    /// minutes of idleness.
    ScreenLock {
        /// Largest idle time in minutes, 1 to [`MAX_IDLE_MINUTES`].
        max_minutes: u32,
    },
    /// Any other check type: fails closed and is reported by name.
    Unsupported {
        /// The `type` attribute as received.
        check_type: String,
    },
}

impl Check {
    /// The wire name of the check type.
    pub fn type_name(&self) -> &str {
        match self {
            Check::FileExists { .. } => "file-exists",
            Check::FileSha256 { .. } => "file-sha256",
            Check::FileNewerThan { .. } => "file-newer-than",
            Check::FileContains { .. } => "file-contains",
            Check::ProcessRunning { .. } => "process-running",
            Check::OsVersion { .. } => "os-version",
            Check::DiskEncryption => "disk-encryption",
            Check::FirewallEnabled => "firewall-enabled",
            Check::ServiceActive { .. } => "service-active",
            Check::PackageVersion { .. } => "package-version",
            Check::UpdatesRecent { .. } => "updates-recent",
            Check::ScreenLock { .. } => "screen-lock",
            Check::Unsupported { check_type } => check_type,
        }
    }

    /// Whether the type exists only from version 2 of the requirements
    /// document on.
    pub fn is_version_2(&self) -> bool {
        matches!(
            self,
            Check::OsVersion { .. }
                | Check::DiskEncryption
                | Check::FirewallEnabled
                | Check::ServiceActive { .. }
                | Check::PackageVersion { .. }
                | Check::UpdatesRecent { .. }
                | Check::ScreenLock { .. }
        )
    }

    fn from_element(el: &Element, version: u32) -> Result<Self, ParseError> {
        let kind = text_attr(el, "check", "type")?;
        if version >= 2
            && let Some(check) = Check::from_element_v2(el, kind)?
        {
            return Ok(check);
        }
        Ok(match kind {
            "file-exists" => Check::FileExists {
                path: text_attr(el, "check", "path")?.to_owned(),
            },
            "file-sha256" => {
                let digest = text_attr(el, "check", "sha256")?;
                if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ParseError::invalid(
                        "check",
                        "sha256",
                        digest,
                        "64 hexadecimal digits",
                    ));
                }
                Check::FileSha256 {
                    path: text_attr(el, "check", "path")?.to_owned(),
                    sha256: digest.to_ascii_lowercase(),
                }
            }
            "file-newer-than" => {
                let raw = text_attr(el, "check", "days")?;
                let days = match raw.parse::<u32>() {
                    Ok(d) if (1..=MAX_AGE_DAYS).contains(&d) => d,
                    _ => {
                        return Err(ParseError::invalid(
                            "check",
                            "days",
                            raw,
                            format!("a whole number of days, 1-{MAX_AGE_DAYS}"),
                        ));
                    }
                };
                Check::FileNewerThan {
                    path: text_attr(el, "check", "path")?.to_owned(),
                    days,
                }
            }
            "file-contains" => Check::FileContains {
                path: text_attr(el, "check", "path")?.to_owned(),
                pattern: text_attr(el, "check", "pattern")?.to_owned(),
            },
            "process-running" => Check::ProcessRunning {
                name: text_attr(el, "check", "name")?.to_owned(),
            },
            other => Check::Unsupported {
                check_type: other.to_owned(),
            },
        })
    }

    /// The types version 2 adds; `None` for any other type.
    fn from_element_v2(el: &Element, kind: &str) -> Result<Option<Self>, ParseError> {
        Ok(Some(match kind {
            "os-version" => {
                let name = token_attr(
                    el,
                    "name",
                    os_name_char,
                    "a lower-case OS id such as debian, ubuntu, fedora, macos or linux",
                )?;
                let bound = |a: &'static str| -> Result<Option<String>, ParseError> {
                    match el.attr(a) {
                        None => Ok(None),
                        Some(_) => token_attr(
                            el,
                            a,
                            |c| c.is_ascii_digit() || c == '.',
                            "a dotted version such as 12 or 22.04",
                        )
                        .map(Some),
                    }
                };
                Check::OsVersion {
                    name: name.to_ascii_lowercase(),
                    min: bound("min")?,
                    max: bound("max")?,
                }
            }
            "disk-encryption" => Check::DiskEncryption,
            "firewall-enabled" => Check::FirewallEnabled,
            "service-active" => Check::ServiceActive {
                name: token_attr(
                    el,
                    "name",
                    |c| c.is_ascii_alphanumeric() || "@._:-".contains(c),
                    "a service name",
                )?,
            },
            "package-version" => Check::PackageVersion {
                name: package_name_attr(el)?,
                min: token_attr(
                    el,
                    "min",
                    |c| c.is_ascii_alphanumeric() || "+-.~:_".contains(c),
                    "a package version",
                )?,
            },
            "updates-recent" => Check::UpdatesRecent {
                max_days: number_attr(el, "max-days", MAX_AGE_DAYS, "days")?,
            },
            "screen-lock" => Check::ScreenLock {
                max_minutes: number_attr(el, "max-minutes", MAX_IDLE_MINUTES, "minutes")?,
            },
            _ => return Ok(None),
        }))
    }

    fn write(&self, out: &mut String) {
        let _ = match self {
            Check::FileExists { path } => {
                write!(
                    out,
                    r#"<check type="file-exists" path="{}"/>"#,
                    escape(path)
                )
            }
            Check::FileSha256 { path, sha256 } => write!(
                out,
                r#"<check type="file-sha256" path="{}" sha256="{}"/>"#,
                escape(path),
                escape(sha256)
            ),
            Check::FileNewerThan { path, days } => write!(
                out,
                r#"<check type="file-newer-than" path="{}" days="{days}"/>"#,
                escape(path)
            ),
            Check::FileContains { path, pattern } => write!(
                out,
                r#"<check type="file-contains" path="{}" pattern="{}"/>"#,
                escape(path),
                escape(pattern)
            ),
            Check::ProcessRunning { name } => {
                write!(
                    out,
                    r#"<check type="process-running" name="{}"/>"#,
                    escape(name)
                )
            }
            Check::OsVersion { name, min, max } => {
                let _ = write!(out, r#"<check type="os-version" name="{}""#, escape(name));
                for (a, v) in [("min", min), ("max", max)] {
                    if let Some(v) = v {
                        let _ = write!(out, r#" {a}="{}""#, escape(v));
                    }
                }
                out.push_str("/>");
                Ok(())
            }
            Check::DiskEncryption => {
                out.push_str(r#"<check type="disk-encryption"/>"#);
                Ok(())
            }
            Check::FirewallEnabled => {
                out.push_str(r#"<check type="firewall-enabled"/>"#);
                Ok(())
            }
            Check::ServiceActive { name } => write!(
                out,
                r#"<check type="service-active" name="{}"/>"#,
                escape(name)
            ),
            Check::PackageVersion { name, min } => write!(
                out,
                r#"<check type="package-version" name="{}" min="{}"/>"#,
                escape(name),
                escape(min)
            ),
            Check::UpdatesRecent { max_days } => write!(
                out,
                r#"<check type="updates-recent" max-days="{max_days}"/>"#
            ),
            Check::ScreenLock { max_minutes } => write!(
                out,
                r#"<check type="screen-lock" max-minutes="{max_minutes}"/>"#
            ),
            Check::Unsupported { check_type } => {
                write!(out, r#"<check type="{}"/>"#, escape(check_type))
            }
        };
    }
}

/// Characters of an `os-version` name.
fn os_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-".contains(c)
}

/// Longest name or version attribute of a version 2 condition.
pub const MAX_TOKEN_LEN: usize = 128;

/// A name or version attribute: 1 to [`MAX_TOKEN_LEN`] characters that
/// `ok` accepts (so no control characters, spaces or markup).
fn token_attr(
    el: &Element,
    attribute: &'static str,
    ok: impl Fn(char) -> bool,
    what: &str,
) -> Result<String, ParseError> {
    let v = el.required("check", attribute)?;
    if v.is_empty() || v.len() > MAX_TOKEN_LEN || !v.chars().all(ok) {
        return Err(ParseError::invalid(
            "check",
            attribute,
            v,
            format!("{what}, 1-{MAX_TOKEN_LEN} characters"),
        ));
    }
    Ok(v.to_owned())
}

/// A package name: a dpkg or rpm name, a macOS package identifier, or a
/// Windows program's display name, which has spaces and parentheses
/// (`7-Zip 23.01 (x64)`): single spaces inside, none at either end.
fn package_name_attr(el: &Element) -> Result<String, ParseError> {
    let name = token_attr(
        el,
        "name",
        |c| c.is_ascii_alphanumeric() || "+-._ ()".contains(c),
        "a package name (letters, digits, +-._() and single spaces inside)",
    )?;
    if name.starts_with(' ') || name.ends_with(' ') || name.contains("  ") {
        return Err(ParseError::invalid(
            "check",
            "name",
            &name,
            "a package name without spaces at either end or two in a row".to_owned(),
        ));
    }
    Ok(name)
}

fn number_attr(
    el: &Element,
    attribute: &'static str,
    max: u32,
    unit: &str,
) -> Result<u32, ParseError> {
    let raw = el.required("check", attribute)?;
    match raw.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ParseError::invalid(
            "check",
            attribute,
            raw,
            format!("a whole number of {unit}, 1-{max}"),
        )),
    }
}

/// Largest `max-minutes` of a `screen-lock` condition (a day).
pub const MAX_IDLE_MINUTES: u32 = 1440;

/// The newest requirements (and report) version this crate reads and writes.
pub const REQUIREMENTS_VERSION: u32 = 2;

/// Longest `remediation` text of a requirement (version 2).
pub const MAX_REMEDIATION_LEN: usize = 1024;

/// Longest `reason` of a report result (version 2); the agent shortens
/// longer reasons before it sends them.
pub const MAX_REASON_LEN: usize = 512;

/// The `version` of a requirements document: 1 when absent; a version this
/// crate does not know is refused ([`ParseError::UnsupportedVersion`]).
fn requirements_version(el: &Element) -> Result<u32, ParseError> {
    let Some(raw) = el.attr("version") else {
        return Ok(1);
    };
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=REQUIREMENTS_VERSION).contains(&n) => Ok(n),
        Ok(n) if n > REQUIREMENTS_VERSION => Err(ParseError::UnsupportedVersion {
            element: "requirements",
            found: n,
            supported: REQUIREMENTS_VERSION,
        }),
        _ => Err(ParseError::invalid(
            "requirements",
            "version",
            raw,
            "a positive integer",
        )),
    }
}

/// A free text attribute (remediation, reason): no control characters,
/// at most `max` characters.
fn free_text_attr(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
    max: usize,
) -> Result<Option<String>, ParseError> {
    if el.attr(attribute).is_none() {
        return Ok(None);
    }
    let v = text_attr(el, element, attribute)?;
    if v.chars().count() > max {
        return Err(ParseError::invalid(
            element,
            attribute,
            v,
            format!("at most {max} characters"),
        ));
    }
    Ok(Some(v.to_owned()))
}

/// A required attribute that the agent logs, reports and writes into
/// diagnostic bundles: control characters (C0 and DEL, tab included) are
/// refused, so a server cannot forge log lines with an embedded newline.
fn text_attr<'a>(
    el: &'a Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<&'a str, ParseError> {
    let value = el.required(element, attribute)?;
    if value.chars().any(|c| c.is_ascii_control()) {
        return Err(ParseError::invalid(
            element,
            attribute,
            value,
            "control characters such as newlines and tabs are not allowed",
        ));
    }
    Ok(value)
}

/// Largest `days` of a `file-newer-than` check (ten years).
pub const MAX_AGE_DAYS: u32 = 3650;

/// Most requirements one requirements reply may hold: a real posture policy
/// has a handful; a server that sends more is refused (the reply is
/// malformed), so it cannot make the endpoint evaluate without end.
pub const MAX_REQUIREMENTS: usize = 64;

/// Most checks one requirement may hold.
pub const MAX_CHECKS_PER_REQUIREMENT: usize = 16;

/// One requirement: passes when all its checks pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// Requirement id, echoed in the report.
    pub id: String,
    /// Whether a failure makes the endpoint NonCompliant.
    pub mandatory: bool,
    /// The checks.
    pub checks: Vec<Check>,
    /// Version 2: what the user does when the requirement fails, as the
    /// administrator wrote it (shown to the user, never acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

/// Reply to `GET /auth/requirements?session=ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// The session.
    pub session: SessionId,
    /// Requirements in document order.
    pub requirements: Vec<Requirement>,
}

impl Requirements {
    /// Reads a requirements reply (version 1 or 2).
    pub fn from_xml(input: &[u8]) -> Result<Self, ParseError> {
        Requirements::from_xml_versioned(input).map(|(r, _)| r)
    }

    /// Reads a requirements reply and tells its version (1 or 2): the agent
    /// answers a version 2 document with a version 2 report.
    pub fn from_xml_versioned(input: &[u8]) -> Result<(Self, u32), ParseError> {
        let el = root(input, "requirements")?;
        let version = requirements_version(&el)?;
        let session = session_attr(&el, "requirements")?;
        let mut requirements = Vec::new();
        let count = el.children_named("requirement").count();
        if count > MAX_REQUIREMENTS {
            return Err(ParseError::invalid(
                "requirements",
                "requirement",
                &format!("{count} requirements"),
                format!("at most {MAX_REQUIREMENTS} requirements per reply"),
            ));
        }
        for req in el.children_named("requirement") {
            let id = text_attr(req, "requirement", "id")?.to_owned();
            if id.is_empty() {
                return Err(ParseError::invalid(
                    "requirement",
                    "id",
                    "",
                    "a non-empty id",
                ));
            }
            let mandatory = match req.attr("mandatory") {
                None => true,
                Some(_) => bool_attr(req, "requirement", "mandatory")?,
            };
            // A version 1 agent ignores unknown elements: a server that wrote
            // conditions as <condition> would have them pass unevaluated there.
            if req.children_named("condition").next().is_some() {
                return Err(ParseError::invalid(
                    "requirement",
                    "condition",
                    &id,
                    "conditions are written as <check type=...> elements, which older agents fail closed",
                ));
            }
            let remediation = if version >= 2 {
                free_text_attr(req, "requirement", "remediation", MAX_REMEDIATION_LEN)?
            } else {
                None
            };
            let checks = req.children_named("check").count();
            if checks > MAX_CHECKS_PER_REQUIREMENT {
                return Err(ParseError::invalid(
                    "requirement",
                    "check",
                    &format!("{checks} checks in requirement {id:?}"),
                    format!("at most {MAX_CHECKS_PER_REQUIREMENT} checks per requirement"),
                ));
            }
            let checks = req
                .children_named("check")
                .map(|c| Check::from_element(c, version))
                .collect::<Result<_, _>>()?;
            requirements.push(Requirement {
                id,
                mandatory,
                checks,
                remediation,
            });
        }
        Ok((
            Requirements {
                session,
                requirements,
            },
            version,
        ))
    }

    /// The version [`Requirements::to_xml`] writes: 2 when a requirement
    /// has a remediation or a version 2 condition, else 1 (byte for byte
    /// what version 1 wrote).
    pub fn version(&self) -> u32 {
        let v2 = self
            .requirements
            .iter()
            .any(|r| r.remediation.is_some() || r.checks.iter().any(Check::is_version_2));
        if v2 { 2 } else { 1 }
    }

    /// Writes the reply.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        if self.version() >= 2 {
            let _ = write!(
                out,
                r#"<requirements session="{}" version="2">"#,
                self.session
            );
        } else {
            let _ = write!(out, r#"<requirements session="{}">"#, self.session);
        }
        for req in &self.requirements {
            let _ = write!(
                out,
                r#"<requirement id="{}" mandatory="{}""#,
                escape(&req.id),
                req.mandatory
            );
            if let Some(text) = &req.remediation {
                let _ = write!(out, r#" remediation="{}""#, escape(text));
            }
            out.push('>');
            for check in &req.checks {
                check.write(&mut out);
            }
            out.push_str("</requirement>");
        }
        out.push_str("</requirements>");
        out
    }
}

/// One requirement's result in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportResult {
    /// Requirement id.
    pub requirement: String,
    /// Whether it passed.
    pub passed: bool,
    /// Version 2: why, in words for the user and the administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Body of `POST /auth/report?session=ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The session.
    pub session: SessionId,
    /// One result per requirement.
    pub results: Vec<ReportResult>,
}

impl Report {
    /// Reads a report.
    pub fn from_xml(input: &[u8]) -> Result<Self, ParseError> {
        let el = root(input, "report")?;
        check_version(&el, "report")?;
        let session = session_attr(&el, "report")?;
        let results = el
            .children_named("result")
            .map(|r| {
                Ok(ReportResult {
                    requirement: text_attr(r, "result", "requirement")?.to_owned(),
                    passed: bool_attr(r, "result", "passed")?,
                    reason: free_text_attr(r, "result", "reason", MAX_REASON_LEN)?,
                })
            })
            .collect::<Result<_, ParseError>>()?;
        Ok(Report { session, results })
    }

    /// Writes the report.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        if self.results.iter().any(|r| r.reason.is_some()) {
            let _ = write!(out, r#"<report session="{}" version="2">"#, self.session);
        } else {
            let _ = write!(out, r#"<report session="{}">"#, self.session);
        }
        for r in &self.results {
            let _ = write!(
                out,
                r#"<result requirement="{}" passed="{}""#,
                escape(&r.requirement),
                r.passed
            );
            if let Some(reason) = &r.reason {
                let _ = write!(out, r#" reason="{}""#, escape(reason));
            }
            out.push_str("/>");
        }
        out.push_str("</report>");
        out
    }
}

/// Shortest reassessment interval an agent honours; a shorter one is ignored.
pub const MIN_REASSESS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// Longest reassessment interval an agent honours (7 days); a longer one is ignored.
pub const MAX_REASSESS_INTERVAL: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 60 * 60);

/// Reply to a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostureResult {
    /// The session.
    pub session: SessionId,
    /// The PSN's decision.
    pub status: PostureStatus,
    /// `<reassessInterval>` (whole seconds): the PSN asks the agent to assess
    /// again after this long, as ISE's periodic reassessment does. Any `u32`
    /// is read as sent; whether to honour it is the agent's decision (see
    /// [`PostureResult::reassess_interval_in_bounds`]).
    pub reassess_interval: Option<std::time::Duration>,
}

impl PostureResult {
    /// Reads a report reply.
    pub fn from_xml(input: &[u8]) -> Result<Self, ParseError> {
        let el = root(input, "postureResult")?;
        check_version(&el, "postureResult")?;
        let reassess_interval = match el.child("reassessInterval") {
            None => None,
            Some(child) => {
                let raw = child.text.trim();
                let secs = raw.parse::<u32>().map_err(|_| {
                    ParseError::invalid(
                        "reassessInterval",
                        "text",
                        raw,
                        "whole seconds 0-4294967295",
                    )
                })?;
                Some(std::time::Duration::from_secs(u64::from(secs)))
            }
        };
        Ok(PostureResult {
            session: session_attr(&el, "postureResult")?,
            status: status_value(
                el.required("postureResult", "status")?,
                "postureResult",
                "status",
            )?,
            reassess_interval,
        })
    }

    /// The reassessment interval if it lies within
    /// [`MIN_REASSESS_INTERVAL`]..=[`MAX_REASSESS_INTERVAL`]; `None` otherwise.
    pub fn reassess_interval_in_bounds(&self) -> Option<std::time::Duration> {
        self.reassess_interval
            .filter(|d| (MIN_REASSESS_INTERVAL..=MAX_REASSESS_INTERVAL).contains(d))
    }

    /// Writes the reply.
    pub fn to_xml(&self) -> String {
        match self.reassess_interval {
            // Without the element the reply is byte for byte what version 1 always wrote.
            None => format!(
                r#"<postureResult session="{}" status="{}"/>"#,
                self.session, self.status
            ),
            Some(d) => format!(
                r#"<postureResult session="{}" status="{}"><reassessInterval>{}</reassessInterval></postureResult>"#,
                self.session,
                self.status,
                d.as_secs()
            ),
        }
    }
}

/// Reply to a state sync probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostureStatusReply {
    /// The session.
    pub session: SessionId,
    /// The session's status as the PSN holds it now.
    pub status: PostureStatus,
}

impl PostureStatusReply {
    /// Reads a probe reply.
    pub fn from_xml(input: &[u8]) -> Result<Self, ParseError> {
        let el = root(input, "postureStatus")?;
        check_version(&el, "postureStatus")?;
        Ok(PostureStatusReply {
            session: session_attr(&el, "postureStatus")?,
            status: status_value(
                el.required("postureStatus", "status")?,
                "postureStatus",
                "status",
            )?,
        })
    }

    /// Writes the reply.
    pub fn to_xml(&self) -> String {
        format!(
            r#"<postureStatus session="{}" status="{}"/>"#,
            self.session, self.status
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SPEC_DISCOVERY: &str = r#"<discovery version="1">
  <session id="c0a830e71FjmLTxwC_6BfWNqU3RwKrGfaDTw5krqr1QOzEm"/>
  <postureStatus>Unknown</postureStatus>
  <psn host="psn1.lab.test" stateSyncPort="8449"/>
  <psnList>
    <psn host="psn2.lab.test" stateSyncPort="8449"/>
    <psn host="psn3.lab.test" stateSyncPort="8449"/>
  </psnList>
</discovery>"#;

    const SPEC_REQUIREMENTS: &str = r#"<requirements session="ID">
  <requirement id="disk-encryption" mandatory="true">
    <check type="file-exists" path="/etc/crypttab"/>
  </requirement>
  <requirement id="firewall" mandatory="false">
    <check type="process-running" name="nft"/>
  </requirement>
</requirements>"#;

    #[test]
    fn spec_examples_parse() {
        let d = Discovery::from_xml(SPEC_DISCOVERY.as_bytes()).unwrap();
        assert_eq!(
            d.session.as_str(),
            "c0a830e71FjmLTxwC_6BfWNqU3RwKrGfaDTw5krqr1QOzEm"
        );
        assert_eq!(d.posture, PostureStatus::Unknown);
        assert_eq!(d.psn.host, "psn1.lab.test");
        assert_eq!(d.psn_list.len(), 2);
        assert_eq!(Discovery::from_xml(d.to_xml().as_bytes()).unwrap(), d);

        let r = Requirements::from_xml(SPEC_REQUIREMENTS.as_bytes()).unwrap();
        assert_eq!(r.requirements.len(), 2);
        assert!(r.requirements[0].mandatory);
        assert_eq!(
            r.requirements[1].checks,
            vec![Check::ProcessRunning { name: "nft".into() }]
        );

        let rep = Report::from_xml(
            br#"<report session="ID"><result requirement="disk-encryption" passed="true"/><result requirement="firewall" passed="false"/></report>"#,
        )
        .unwrap();
        assert_eq!(rep.results.len(), 2);
        assert!(!rep.results[1].passed);

        let pr = PostureResult::from_xml(br#"<postureResult session="ID" status="Compliant"/>"#)
            .unwrap();
        assert_eq!(pr.status, PostureStatus::Compliant);
        let ps = PostureStatusReply::from_xml(br#"<postureStatus session="ID" status="Unknown"/>"#)
            .unwrap();
        assert_eq!(ps.status, PostureStatus::Unknown);
    }

    #[test]
    fn report_reply_reassess_interval_is_optional_and_any_u32() {
        use std::time::Duration;
        let old = PostureResult::from_xml(br#"<postureResult session="ID" status="Compliant"/>"#)
            .unwrap();
        assert_eq!(old.reassess_interval, None);
        assert_eq!(
            old.to_xml(),
            r#"<postureResult session="ID" status="Compliant"/>"#
        );
        let pra = PostureResult::from_xml(
            br#"<postureResult session="ID" status="Compliant"><reassessInterval> 3600 </reassessInterval></postureResult>"#,
        )
        .unwrap();
        assert_eq!(pra.reassess_interval, Some(Duration::from_secs(3600)));
        assert_eq!(
            pra.reassess_interval_in_bounds(),
            Some(Duration::from_secs(3600))
        );
        // Read as sent; out of bounds is the agent's to ignore.
        for (secs, usable) in [
            (0, false),
            (59, false),
            (60, true),
            (604_800, true),
            (604_801, false),
            (u32::MAX, false),
        ] {
            let xml = format!(
                r#"<postureResult session="ID" status="NonCompliant"><reassessInterval>{secs}</reassessInterval></postureResult>"#
            );
            let r = PostureResult::from_xml(xml.as_bytes()).unwrap();
            assert_eq!(
                r.reassess_interval,
                Some(Duration::from_secs(u64::from(secs)))
            );
            assert_eq!(r.reassess_interval_in_bounds().is_some(), usable, "{secs}");
        }
        for bad in ["-1", "4294967296", "1h", "", "1.5"] {
            let xml = format!(
                r#"<postureResult session="ID" status="Compliant"><reassessInterval>{bad}</reassessInterval></postureResult>"#
            );
            let err = PostureResult::from_xml(xml.as_bytes()).unwrap_err();
            assert!(
                matches!(err, ParseError::InvalidValue { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("reassessInterval"), "{err}");
        }
    }

    #[test]
    fn forward_compatible() {
        let xml =
            br#"<postureStatus session="ID" status="Pending" extra="1"><future/></postureStatus>"#;
        assert_eq!(
            PostureStatusReply::from_xml(xml).unwrap().status,
            PostureStatus::Pending
        );
        let v2 = br#"<discovery version="2"><session id="s"/><postureStatus>Compliant</postureStatus><psn host="h"/><new/></discovery>"#;
        let d = Discovery::from_xml(v2).unwrap();
        assert_eq!(d.psn.state_sync_port, 8449);
    }

    #[test]
    fn control_characters_in_requirement_ids_and_check_attributes_are_malformed() {
        let forged = "x&#10;2026-11-21T23:00:00Z ERROR known -&gt; known (dacl misconfiguration)";
        let cases = [
            format!(r#"<requirement id="{forged}"/>"#),
            r#"<requirement id="tab&#9;id"/>"#.to_owned(),
            r#"<requirement id="del&#127;"/>"#.to_owned(),
            format!(r#"<requirement id="a"><check type="file-exists" path="/etc/{forged}"/></requirement>"#),
            r#"<requirement id="a"><check type="file-contains" path="/etc/x" pattern="a&#13;b"/></requirement>"#.to_owned(),
            r#"<requirement id="a"><check type="process-running" name="a&#10;b"/></requirement>"#.to_owned(),
            r#"<requirement id="a"><check type="run&#10;script"/></requirement>"#.to_owned(),
        ];
        for case in cases {
            let xml = format!(r#"<requirements session="s">{case}</requirements>"#);
            let err = Requirements::from_xml(xml.as_bytes()).unwrap_err();
            assert!(
                matches!(err, ParseError::InvalidValue { .. }),
                "{case}: {err}"
            );
            assert!(err.to_string().contains("control characters"), "{err}");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
        let report =
            br#"<report session="s"><result requirement="a&#10;b" passed="true"/></report>"#;
        assert!(Report::from_xml(report).is_err());
        // Printable Unicode stays accepted.
        let ok = r#"<requirements session="s"><requirement id="Festplatte verschlüsselt"><check type="file-contains" path="/etc/x" pattern="^a\tb$"/></requirement></requirements>"#;
        Requirements::from_xml(ok.as_bytes()).unwrap();
    }

    const SPEC_REQUIREMENTS_V2: &str = r#"<requirements session="ID" version="2">
  <requirement id="os" mandatory="true" remediation="Upgrade to Debian 12 or later: see https://wiki.example/upgrade">
    <check type="os-version" name="debian" min="12"/>
  </requirement>
  <requirement id="disk" remediation="Reinstall with an encrypted disk (LUKS)">
    <check type="disk-encryption"/>
  </requirement>
  <requirement id="firewall" mandatory="false">
    <check type="firewall-enabled"/>
  </requirement>
  <requirement id="openssl">
    <check type="package-version" name="openssl" min="3.0.15-1~deb12u1"/>
  </requirement>
  <requirement id="patched">
    <check type="updates-recent" max-days="30"/>
    <check type="file-sha256" path="/opt/edr/agent" sha256="0000000000000000000000000000000000000000000000000000000000000000"/>
  </requirement>
  <requirement id="screen"><check type="screen-lock" max-minutes="15"/></requirement>
</requirements>"#;

    #[test]
    fn version_2_conditions_and_remediation_are_read() {
        let (r, version) =
            Requirements::from_xml_versioned(SPEC_REQUIREMENTS_V2.as_bytes()).unwrap();
        assert_eq!(version, 2);
        let checks: Vec<&Check> = r.requirements.iter().flat_map(|r| &r.checks).collect();
        assert_eq!(
            checks[..5],
            [
                &Check::OsVersion {
                    name: "debian".into(),
                    min: Some("12".into()),
                    max: None
                },
                &Check::DiskEncryption,
                &Check::FirewallEnabled,
                &Check::PackageVersion {
                    name: "openssl".into(),
                    min: "3.0.15-1~deb12u1".into()
                },
                &Check::UpdatesRecent { max_days: 30 },
            ]
        );
        assert_eq!(checks[6], &Check::ScreenLock { max_minutes: 15 });
        assert_eq!(
            r.requirements[0].remediation.as_deref(),
            Some("Upgrade to Debian 12 or later: see https://wiki.example/upgrade")
        );
        assert_eq!(r.requirements[2].remediation, None);
        assert_eq!(r.version(), 2);
        assert_eq!(Requirements::from_xml(r.to_xml().as_bytes()).unwrap(), r);
        // A version 1 reply is read as before and written byte for byte as before.
        let (v1, version) = Requirements::from_xml_versioned(SPEC_REQUIREMENTS.as_bytes()).unwrap();
        assert_eq!(version, 1);
        assert!(!v1.to_xml().contains("version="));
    }

    #[test]
    fn an_agent_that_knows_version_1_only_fails_version_2_conditions_closed() {
        // What a version 1 reader makes of a version 2 document: conditions
        // are <check> elements of types it does not know, so the requirement
        // fails closed and is reported by name (never passes unevaluated).
        let (r, _) = Requirements::from_xml_versioned(SPEC_REQUIREMENTS_V2.as_bytes()).unwrap();
        let as_v1 = r.to_xml().replace(r#" version="2""#, "");
        let old = Requirements::from_xml(as_v1.as_bytes()).unwrap();
        assert_eq!(
            old.requirements[0].checks,
            vec![Check::Unsupported {
                check_type: "os-version".into()
            }]
        );
        assert_eq!(
            old.requirements[1].checks,
            vec![Check::Unsupported {
                check_type: "disk-encryption".into()
            }]
        );
        assert_eq!(old.requirements[0].remediation, None);
    }

    #[test]
    fn a_newer_requirements_version_is_refused_as_unsupported() {
        let e = Requirements::from_xml(br#"<requirements session="s" version="3"><requirement id="a"><check type="file-exists" path="/x"/></requirement></requirements>"#).unwrap_err();
        assert_eq!(
            e,
            ParseError::UnsupportedVersion {
                element: "requirements",
                found: 3,
                supported: 2
            }
        );
        assert!(
            e.to_string()
                .starts_with("unsupported-version: <requirements> version 3"),
            "{e}"
        );
        for bad in ["0", "x", "-1"] {
            let xml = format!(r#"<requirements session="s" version="{bad}"/>"#);
            assert!(
                matches!(
                    Requirements::from_xml(xml.as_bytes()),
                    Err(ParseError::InvalidValue { .. })
                ),
                "{bad}"
            );
        }
        // Other documents stay forward compatible.
        Report::from_xml(br#"<report session="s" version="3"/>"#).unwrap();
    }

    #[test]
    fn condition_elements_make_the_reply_malformed() {
        // An older agent ignores an element it does not know: a requirement
        // made of <condition> elements would pass there unevaluated.
        for version in ["1", "2"] {
            let xml = format!(
                r#"<requirements session="s" version="{version}"><requirement id="a"><condition type="disk-encryption"/></requirement></requirements>"#
            );
            let e = Requirements::from_xml(xml.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("<check type=...>"), "{e}");
        }
    }

    #[test]
    fn version_2_conditions_are_validated() {
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        let long_remediation = "r".repeat(MAX_REMEDIATION_LEN + 1);
        for bad in [
            r#"<requirement id="r"><check type="os-version"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="os-version" name="debian" min="12; rm"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="os-version" name="deb ian"/></requirement>"#.to_owned(),
            format!(r#"<requirement id="r"><check type="os-version" name="{long}"/></requirement>"#),
            r#"<requirement id="r"><check type="package-version" name="openssl"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="package-version" name="../x" min="1"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="package-version" name="x" min="1 2"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="package-version" name=" x" min="1"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="package-version" name="x " min="1"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="package-version" name="x  y" min="1"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="package-version" name="x&#9;y" min="1"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="service-active"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="service-active" name="../sshd"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="service-active" name="ssh d"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="updates-recent" max-days="0"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="updates-recent" max-days="3651"/></requirement>"#.to_owned(),
            r#"<requirement id="r"><check type="screen-lock" max-minutes="1441"/></requirement>"#.to_owned(),
            r#"<requirement id="r" remediation="line&#10;forged"/>"#.to_owned(),
            format!(r#"<requirement id="r" remediation="{long_remediation}"/>"#),
        ] {
            let xml = format!(r#"<requirements session="s" version="2">{bad}</requirements>"#);
            assert!(Requirements::from_xml(xml.as_bytes()).is_err(), "accepted {bad}");
        }
        // A Windows program's display name.
        let xml = r#"<requirements session="s" version="2"><requirement id="r"><check type="package-version" name="7-Zip 23.01 (x64)" min="23.01"/></requirement></requirements>"#;
        let r = Requirements::from_xml(xml.as_bytes()).unwrap();
        assert_eq!(
            r.requirements[0].checks,
            vec![Check::PackageVersion {
                name: "7-Zip 23.01 (x64)".into(),
                min: "23.01".into()
            }]
        );
        assert_eq!(Requirements::from_xml(r.to_xml().as_bytes()).unwrap(), r);
        // In a version 1 document the new types are unknown types.
        let v1 = Requirements::from_xml(br#"<requirements session="s"><requirement id="r" remediation="x"><check type="disk-encryption"/></requirement></requirements>"#).unwrap();
        assert_eq!(
            v1.requirements[0].checks,
            vec![Check::Unsupported {
                check_type: "disk-encryption".into()
            }]
        );
        assert_eq!(v1.requirements[0].remediation, None);
    }

    #[test]
    fn report_reasons_are_version_2() {
        let plain = Report {
            session: SessionId::new("s").unwrap(),
            results: vec![ReportResult {
                requirement: "a".into(),
                passed: true,
                reason: None,
            }],
        };
        assert_eq!(
            plain.to_xml(),
            r#"<report session="s"><result requirement="a" passed="true"/></report>"#
        );
        let with = Report {
            session: SessionId::new("s").unwrap(),
            results: vec![ReportResult {
                requirement: "disk".into(),
                passed: false,
                reason: Some(
                    "disk is not encrypted: / is on /dev/vda1, not on a LUKS volume".into(),
                ),
            }],
        };
        let xml = with.to_xml();
        assert!(
            xml.starts_with(r#"<report session="s" version="2">"#),
            "{xml}"
        );
        assert_eq!(Report::from_xml(xml.as_bytes()).unwrap(), with);
        let forged = br#"<report session="s" version="2"><result requirement="a" passed="false" reason="x&#10;y"/></report>"#;
        assert!(Report::from_xml(forged).is_err());
        let long = format!(
            r#"<report session="s" version="2"><result requirement="a" passed="false" reason="{}"/></report>"#,
            "x".repeat(MAX_REASON_LEN + 1)
        );
        assert!(Report::from_xml(long.as_bytes()).is_err());
    }

    #[test]
    fn unknown_check_type_is_kept_by_name() {
        let xml = br#"<requirements session="s"><requirement id="x"><check type="run-script" cmd="rm -rf /"/></requirement></requirements>"#;
        let r = Requirements::from_xml(xml).unwrap();
        assert_eq!(
            r.requirements[0].checks[0],
            Check::Unsupported {
                check_type: "run-script".into()
            }
        );
    }

    #[test]
    fn digest_and_age_checks_are_read_and_validated() {
        let digest = "A".repeat(64);
        let xml = format!(
            r#"<requirements session="s"><requirement id="r"><check type="file-sha256" path="/opt/edr/agent" sha256="{digest}"/><check type="file-newer-than" path="/var/lib/edr/defs" days="7"/></requirement></requirements>"#
        );
        let r = Requirements::from_xml(xml.as_bytes()).unwrap();
        assert_eq!(
            r.requirements[0].checks,
            vec![
                Check::FileSha256 {
                    path: "/opt/edr/agent".into(),
                    sha256: "a".repeat(64)
                },
                Check::FileNewerThan {
                    path: "/var/lib/edr/defs".into(),
                    days: 7
                },
            ]
        );
        for bad in [
            r#"<check type="file-sha256" path="/x" sha256="abc"/>"#.to_owned(),
            format!(
                r#"<check type="file-sha256" path="/x" sha256="{}"/>"#,
                "g".repeat(64)
            ),
            r#"<check type="file-sha256" path="/x"/>"#.to_owned(),
            r#"<check type="file-newer-than" path="/x" days="0"/>"#.to_owned(),
            r#"<check type="file-newer-than" path="/x" days="3651"/>"#.to_owned(),
            r#"<check type="file-newer-than" path="/x" days="-1"/>"#.to_owned(),
        ] {
            let xml = format!(
                r#"<requirements session="s"><requirement id="r">{bad}</requirement></requirements>"#
            );
            assert!(
                Requirements::from_xml(xml.as_bytes()).is_err(),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn requirement_and_check_counts_are_capped() {
        let check = r#"<check type="file-exists" path="/etc/hostname"/>"#;
        let reply = |requirements: usize, checks: usize| {
            let one = format!(
                r#"<requirement id="r">{}</requirement>"#,
                check.repeat(checks)
            );
            format!(
                r#"<requirements session="s">{}</requirements>"#,
                one.repeat(requirements)
            )
        };
        let at_cap =
            Requirements::from_xml(reply(MAX_REQUIREMENTS, MAX_CHECKS_PER_REQUIREMENT).as_bytes());
        assert_eq!(at_cap.unwrap().requirements.len(), MAX_REQUIREMENTS);
        let e = Requirements::from_xml(reply(MAX_REQUIREMENTS + 1, 1).as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                r#"<requirements> requirement: "65 requirements" is invalid (at most {MAX_REQUIREMENTS} requirements per reply)"#
            )
        );
        let e = Requirements::from_xml(reply(1, MAX_CHECKS_PER_REQUIREMENT + 1).as_bytes())
            .unwrap_err();
        assert!(
            e.to_string().contains("at most 16 checks per requirement"),
            "{e}"
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        let cases: &[&[u8]] = &[
            br#"<postureStatus session="ID" status="Great"/>"#,
            br#"<postureStatus status="Unknown"/>"#,
            br#"<postureResult session="ID" status="Compliant"/>"#,
            br#"<postureStatus session="bad id" status="Unknown"/>"#,
            b"not xml",
            b"<postureStatus session='ID' status='Unknown'>",
        ];
        for c in cases {
            assert!(
                PostureStatusReply::from_xml(c).is_err(),
                "accepted {}",
                String::from_utf8_lossy(c)
            );
        }
        assert!(matches!(
            Discovery::from_xml(br#"<discovery><session id="s"/><psn host="h"/></discovery>"#),
            Err(ParseError::MissingElement {
                child: "postureStatus",
                ..
            })
        ));
        assert!(Discovery::from_xml(
            br#"<discovery><session id="s"/><postureStatus>Unknown</postureStatus><psn host="h" stateSyncPort="0"/></discovery>"#
        )
        .is_err());
    }

    #[test]
    fn a_psn_named_by_anything_but_a_host_makes_the_reply_malformed() {
        let discovery = |host: &str| {
            Discovery::from_xml(format!(
                r#"<discovery><session id="s"/><postureStatus>Unknown</postureStatus><psn host="{host}"/></discovery>"#
            ).as_bytes())
        };
        for bad in [
            "psn1:8449",
            "[10.0.0.1]",
            "[::1",
            "a..b",
            "-psn.example",
            "psn!1",
            "999.1.1.1",
        ] {
            assert!(discovery(bad).is_err(), "accepted psn host {bad:?}");
        }
        let d = discovery("[2001:DB8::13]").unwrap();
        assert_eq!(d.psn.host.as_str(), "2001:db8::13");
        assert_eq!(
            discovery("PSN1.Lab.Test").unwrap().psn.host.as_str(),
            "psn1.lab.test"
        );
    }

    fn arb_session() -> impl Strategy<Value = SessionId> {
        "[A-Za-z0-9._~/-]{1,64}".prop_map(|s| SessionId::new(s).unwrap())
    }
    fn arb_status() -> impl Strategy<Value = PostureStatus> {
        proptest::sample::select(PostureStatus::ALL.to_vec())
    }
    fn arb_psn() -> impl Strategy<Value = PsnRef> {
        ("[a-z0-9][a-z0-9.-]{0,30}", 1u16..).prop_filter_map(
            "a valid host",
            |(host, state_sync_port)| {
                Some(PsnRef {
                    host: Host::parse(&host).ok()?,
                    state_sync_port,
                })
            },
        )
    }
    fn arb_text() -> impl Strategy<Value = String> {
        "[ -~]{1,40}"
    }
    fn arb_check() -> impl Strategy<Value = Check> {
        prop_oneof![
            arb_text().prop_map(|path| Check::FileExists { path }),
            (arb_text(), arb_text())
                .prop_map(|(path, pattern)| Check::FileContains { path, pattern }),
            arb_text().prop_map(|name| Check::ProcessRunning { name }),
            (arb_text(), "[0-9a-f]{64}")
                .prop_map(|(path, sha256)| Check::FileSha256 { path, sha256 }),
            (arb_text(), 1..=MAX_AGE_DAYS)
                .prop_map(|(path, days)| Check::FileNewerThan { path, days }),
            (
                "[a-z0-9._-]{1,20}",
                proptest::option::of("[0-9]{1,3}(\\.[0-9]{1,3}){0,2}"),
                proptest::option::of("[0-9]{1,3}")
            )
                .prop_map(|(name, min, max)| Check::OsVersion { name, min, max }),
            Just(Check::DiskEncryption),
            Just(Check::FirewallEnabled),
            "[A-Za-z0-9@._:-]{1,30}".prop_map(|name| Check::ServiceActive { name }),
            (
                "[a-z0-9][a-z0-9+.-]{0,30}( [A-Za-z0-9()]{1,8}){0,2}",
                "[0-9][A-Za-z0-9.+~:-]{0,20}"
            )
                .prop_map(|(name, min)| Check::PackageVersion { name, min }),
            (1..=MAX_AGE_DAYS).prop_map(|max_days| Check::UpdatesRecent { max_days }),
            (1..=MAX_IDLE_MINUTES).prop_map(|max_minutes| Check::ScreenLock { max_minutes }),
            "[a-z][a-z-]{0,20}"
                .prop_filter("not a known type", |t| !matches!(
                    t.as_str(),
                    "file-exists"
                        | "file-contains"
                        | "process-running"
                        | "file-sha256"
                        | "file-newer-than"
                        | "os-version"
                        | "disk-encryption"
                        | "firewall-enabled"
                        | "service-active"
                        | "package-version"
                        | "updates-recent"
                        | "screen-lock"
                ))
                .prop_map(|check_type| Check::Unsupported { check_type }),
        ]
    }

    proptest! {
        #[test]
        fn discovery_round_trips(session in arb_session(), posture in arb_status(), psn in arb_psn(), psn_list in proptest::collection::vec(arb_psn(), 0..4)) {
            let d = Discovery { session, posture, psn, psn_list };
            prop_assert_eq!(Discovery::from_xml(d.to_xml().as_bytes()).unwrap(), d);
        }

        #[test]
        fn requirements_round_trip(session in arb_session(), reqs in proptest::collection::vec((arb_text(), any::<bool>(), proptest::collection::vec(arb_check(), 0..4), proptest::option::of(arb_text())), 0..5)) {
            let r = Requirements {
                session,
                requirements: reqs.into_iter().map(|(id, mandatory, checks, remediation)| Requirement { id, mandatory, checks, remediation }).collect(),
            };
            prop_assert_eq!(Requirements::from_xml(r.to_xml().as_bytes()).unwrap(), r);
        }

        #[test]
        fn report_round_trips(session in arb_session(), results in proptest::collection::vec((arb_text(), any::<bool>(), proptest::option::of(arb_text())), 0..8)) {
            let r = Report { session, results: results.into_iter().map(|(requirement, passed, reason)| ReportResult { requirement, passed, reason }).collect() };
            prop_assert_eq!(Report::from_xml(r.to_xml().as_bytes()).unwrap(), r);
        }

        #[test]
        fn status_replies_round_trip(session in arb_session(), status in arb_status(), secs in any::<u32>()) {
            let a = PostureStatusReply { session: session.clone(), status };
            prop_assert_eq!(PostureStatusReply::from_xml(a.to_xml().as_bytes()).unwrap(), a);
            let b = PostureResult { session: session.clone(), status, reassess_interval: None };
            prop_assert_eq!(PostureResult::from_xml(b.to_xml().as_bytes()).unwrap(), b);
            let c = PostureResult { session, status, reassess_interval: Some(std::time::Duration::from_secs(u64::from(secs))) };
            prop_assert_eq!(PostureResult::from_xml(c.to_xml().as_bytes()).unwrap(), c);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Discovery::from_xml(&bytes);
            let _ = Requirements::from_xml(&bytes);
            let _ = PostureStatusReply::from_xml(&bytes);
        }
    }
}
