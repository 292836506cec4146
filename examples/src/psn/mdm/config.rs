//! The External MDM server form of ISE, as a JSON object in the lab config
//! (`"mdm": {...}`), validated into [`MdmSettings`].
//!
//! Durations take a unit (`"240m"`, `"2s"`, `"1h"`): ISE counts the polling
//! interval and the cache expiration in minutes, a lab test needs seconds.
//! Values below ISE's one-minute minimum are refused unless the config says
//! `"lab_fast": true`, so a production-like config cannot be fast by mistake.

use std::path::{Path, PathBuf};
use std::time::Duration;

use profile_schema::{Host, HostError, normalize_host};
use serde::{Deserialize, Serialize};

/// ISE's default polling interval: 240 minutes.
pub const DEFAULT_POLLING: &str = "240m";
/// ISE's default compliance cache expiration: 1 minute.
pub const DEFAULT_CACHE_EXPIRATION: &str = "1m";
/// ISE's default (and largest) device compliance timeout, milliseconds.
pub const DEFAULT_COMPLIANCE_TIMEOUT_MS: u64 = 30_000;
/// Default TCP connect timeout (to the MDM, or to the proxy), milliseconds.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// The MDM API version this client speaks (ISE's "API Version 3").
pub const API_VERSION: u32 = 3;

/// How an endpoint is identified to the MDM, in the order of the ISE form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceIdentifier {
    /// The endpoint's MAC address (sent as 12 upper-case hex digits).
    LegacyMac,
    /// A GUID in the URI subject alternative name of the endpoint's certificate.
    CertSanUriGuid,
    /// A GUID in the common name of the endpoint's certificate.
    CertCnGuid,
}

impl DeviceIdentifier {
    /// The `querycriteria` name of this identifier in the MDM API.
    pub fn query_criteria(self) -> &'static str {
        match self {
            DeviceIdentifier::LegacyMac => "macaddress",
            DeviceIdentifier::CertSanUriGuid | DeviceIdentifier::CertCnGuid => "guid",
        }
    }
}

/// The `"mdm"` object of the config file: ISE's External MDM server form.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdmConfig {
    /// Name of the integration (shown in logs and `mdm test`).
    pub name: String,
    /// Host name or IP address of the MDM.
    pub host: String,
    /// HTTPS port (default 443).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Instance name: the path part of the integration URL, e.g.
    /// `/networkIntegrationEndpoint/ID` (may be empty).
    #[serde(default)]
    pub instance: String,
    /// User name for basic authentication.
    pub username: String,
    /// Password for basic authentication (never logged or printed).
    pub password: String,
    /// Polling interval with unit (default `240m`).
    #[serde(default = "default_polling")]
    pub polling_interval: String,
    /// Device compliance timeout, 1-30000 ms (default 30000).
    #[serde(default = "default_compliance_timeout")]
    pub device_compliance_timeout_ms: u64,
    /// Compliance cache expiration with unit, 1-10080 minutes (default `1m`).
    #[serde(default = "default_cache")]
    pub compliance_cache_expiration: String,
    /// Whether the integration is enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Device identifiers in order of preference (default: legacy MAC only).
    #[serde(default = "default_identifiers")]
    pub device_identifiers: Vec<DeviceIdentifier>,
    /// CA certificate file (PEM) the MDM's certificate must chain to;
    /// relative to the config file.
    pub ca_file: PathBuf,
    /// Optional HTTPS proxy (HTTP CONNECT), `host:port`.
    #[serde(default)]
    pub proxy: Option<String>,
    /// TCP connect timeout, ms (default 10000).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Allow sub-minute polling interval and cache expiration (labs and tests only).
    #[serde(default)]
    pub lab_fast: bool,
}

impl std::fmt::Debug for MdmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdmConfig")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("instance", &self.instance)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn default_port() -> u16 {
    443
}
fn default_polling() -> String {
    DEFAULT_POLLING.into()
}
fn default_cache() -> String {
    DEFAULT_CACHE_EXPIRATION.into()
}
fn default_compliance_timeout() -> u64 {
    DEFAULT_COMPLIANCE_TIMEOUT_MS
}
fn default_connect_timeout() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}
fn yes() -> bool {
    true
}
fn default_identifiers() -> Vec<DeviceIdentifier> {
    vec![DeviceIdentifier::LegacyMac]
}

/// A validated MDM configuration.
#[derive(Clone)]
pub struct MdmSettings {
    /// Integration name.
    pub name: String,
    /// MDM host.
    pub host: String,
    /// MDM port.
    pub port: u16,
    /// Instance path, normalised: empty, or starting with `/` and without a trailing `/`.
    pub instance: String,
    /// Basic authentication user.
    pub username: String,
    /// Basic authentication password.
    pub password: String,
    /// Polling interval.
    pub polling_interval: Duration,
    /// Device compliance timeout: the longest one request/reply exchange may take.
    pub compliance_timeout: Duration,
    /// How long a device's verdict is trusted before it is asked again.
    pub cache_expiration: Duration,
    /// Whether the poller runs.
    pub enabled: bool,
    /// Identifier order.
    pub identifiers: Vec<DeviceIdentifier>,
    /// CA file.
    pub ca_file: PathBuf,
    /// Proxy `host:port`.
    pub proxy: Option<(String, u16)>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for MdmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdmSettings")
            .field("name", &self.name)
            .field("url", &self.base_url())
            .field("password", &"<redacted>")
            .field("polling_interval", &self.polling_interval)
            .field("cache_expiration", &self.cache_expiration)
            .finish_non_exhaustive()
    }
}

impl MdmSettings {
    /// `https://user@host:port/instance`: the integration URL, password never shown.
    pub fn base_url(&self) -> String {
        format!(
            "https://{}@{}:{}{}",
            self.username,
            host_for_url(&self.host),
            self.port,
            self.instance
        )
    }

    /// The URL of a path on the MDM, password never shown.
    pub fn url_of(&self, path_and_query: &str) -> String {
        format!(
            "https://{}@{}:{}{}",
            self.username,
            host_for_url(&self.host),
            self.port,
            path_and_query
        )
    }
}

/// An IPv6 literal in brackets (as a URL authority writes it), anything
/// else as is.
pub fn host_for_url(host: &str) -> String {
    match Host::parse(host) {
        Ok(h) if h.ip().is_some_and(|ip| ip.is_ipv6()) => format!("[{h}]"),
        _ => host.to_owned(),
    }
}

/// Why an MDM configuration is refused; every message names the key.
#[derive(Debug, thiserror::Error)]
#[error("mdm.{key}: {message}")]
pub struct MdmConfigError {
    /// The key in the `"mdm"` object.
    pub key: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> MdmConfigError {
    MdmConfigError {
        key,
        message: message.into(),
    }
}

/// Parses a duration with a unit: `500ms`, `2s`, `5m`, `4h`, `1d`.
pub fn parse_duration(key: &'static str, text: &str) -> Result<Duration, MdmConfigError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
        bad(
            key,
            format!("{text:?} has no unit (write e.g. \"240m\", \"2s\"; units ms, s, m, h, d)"),
        )
    })?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        bad(
            key,
            format!("{text:?} does not start with a whole number (e.g. \"240m\")"),
        )
    })?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => {
            return Err(bad(
                key,
                format!("{text:?}: unknown unit {unit:?} (allowed: ms, s, m, h, d)"),
            ));
        }
    }
    .ok_or_else(|| bad(key, format!("{text:?} is too large")))?;
    Ok(Duration::from_millis(ms))
}

fn ranged(
    key: &'static str,
    text: &str,
    max_minutes: u64,
    lab_fast: bool,
) -> Result<Duration, MdmConfigError> {
    let d = parse_duration(key, text)?;
    if d.is_zero() {
        return Err(bad(key, format!("{text:?} must be more than zero")));
    }
    if d > Duration::from_secs(max_minutes * 60) {
        return Err(bad(
            key,
            format!("{text:?} is above ISE's maximum of {max_minutes} minutes"),
        ));
    }
    if d < Duration::from_secs(60) && !lab_fast {
        return Err(bad(
            key,
            format!(
                "{text:?} is below ISE's minimum of 1 minute (allowed: 1-{max_minutes} minutes; set \"lab_fast\": true to allow shorter values in a lab)"
            ),
        ));
    }
    Ok(d)
}

/// Splits `host:port` (IPv6 in brackets); the host as
/// [`profile_schema::Host`] reads it.
pub fn parse_host_port(key: &'static str, text: &str) -> Result<(String, u16), MdmConfigError> {
    let text = text.trim();
    let text = text.strip_prefix("http://").unwrap_or(text);
    let text = text.trim_end_matches('/');
    let (host, port) = text.rsplit_once(':').ok_or_else(|| {
        bad(
            key,
            format!("{text:?} has no port (expected host:port, e.g. proxy.example:3128)"),
        )
    })?;
    let host = match Host::parse(host) {
        Ok(host) => host,
        Err(HostError::Empty) => return Err(bad(key, format!("{text:?} has no host"))),
        Err(e) => return Err(bad(key, format!("{text:?}: {}", e.problem()))),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad(key, format!("{port:?} is not a port (1-65535)")))?;
    Ok((normalize_host(host.as_str()), port))
}

impl MdmConfig {
    /// Validates the form; `base` is the config file's directory (for `ca_file`).
    pub fn validate(&self, base: Option<&Path>) -> Result<MdmSettings, MdmConfigError> {
        if self.name.trim().is_empty() {
            return Err(bad(
                "name",
                "is empty (give the integration a name, e.g. \"JAMF_PRO\")",
            ));
        }
        // Compared and connected to as the agent's hosts are: no brackets
        // around an IPv6 address, no trailing dot, lower case.
        let Ok(host) = Host::parse(&self.host) else {
            return Err(bad(
                "host",
                format!(
                    "{:?} is not a host name or IP address (give only the host, e.g. \"yourcompany.jamfcloud.com\"; the path goes in \"instance\")",
                    self.host
                ),
            ));
        };
        if self.port == 0 {
            return Err(bad("port", "0 is not a port (1-65535, default 443)"));
        }
        let mut instance = self.instance.trim().trim_end_matches('/').to_owned();
        if !instance.is_empty() && !instance.starts_with('/') {
            instance.insert(0, '/');
        }
        if instance.contains("://") || instance.contains(['?', '#', ' ']) {
            return Err(bad(
                "instance",
                format!(
                    "{:?} is not a path (give only the path of the integration URL, e.g. \"/networkIntegrationEndpoint/ID\")",
                    self.instance
                ),
            ));
        }
        if self.username.is_empty() || self.username.contains(':') {
            return Err(bad(
                "username",
                "must be non-empty and must not contain ':' (basic authentication)",
            ));
        }
        if self.password.is_empty() {
            return Err(bad("password", "is empty"));
        }
        let polling_interval = ranged(
            "polling_interval",
            &self.polling_interval,
            1440,
            self.lab_fast,
        )?;
        if !(1..=30_000).contains(&self.device_compliance_timeout_ms) {
            return Err(bad(
                "device_compliance_timeout_ms",
                format!(
                    "{} is out of range (allowed: 1-30000 milliseconds, default 30000)",
                    self.device_compliance_timeout_ms
                ),
            ));
        }
        let cache_expiration = ranged(
            "compliance_cache_expiration",
            &self.compliance_cache_expiration,
            10_080,
            self.lab_fast,
        )?;
        if self.device_identifiers.is_empty() {
            return Err(bad(
                "device_identifiers",
                "is empty (allowed: legacy-mac, cert-san-uri-guid, cert-cn-guid, in order of preference)",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = self.device_identifiers.iter().find(|i| !seen.insert(**i)) {
            return Err(bad(
                "device_identifiers",
                format!("{dup:?} is listed twice"),
            ));
        }
        if !(1..=120_000).contains(&self.connect_timeout_ms) {
            return Err(bad(
                "connect_timeout_ms",
                "is out of range (allowed: 1-120000 milliseconds, default 10000)",
            ));
        }
        let proxy = match &self.proxy {
            Some(p) if !p.trim().is_empty() => Some(parse_host_port("proxy", p)?),
            _ => None,
        };
        let ca_file = match base {
            Some(b) if self.ca_file.is_relative() => b.join(&self.ca_file),
            _ => self.ca_file.clone(),
        };
        Ok(MdmSettings {
            name: self.name.trim().to_owned(),
            host: normalize_host(host.as_str()),
            port: self.port,
            instance,
            username: self.username.clone(),
            password: self.password.clone(),
            polling_interval,
            compliance_timeout: Duration::from_millis(self.device_compliance_timeout_ms),
            cache_expiration,
            enabled: self.enabled,
            identifiers: self.device_identifiers.clone(),
            ca_file,
            proxy,
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> MdmConfig {
        serde_json::from_str(
            r#"{"name":"JAMF_PRO","host":"mdm.lab.test","instance":"networkIntegrationEndpoint/ID/",
                "username":"ise","password":"s3cret","ca_file":"ca.pem"}"#,
        )
        .unwrap()
    }

    #[test]
    fn defaults_follow_ise() {
        let s = form().validate(Some(Path::new("/lab"))).unwrap();
        assert_eq!(s.port, 443);
        assert_eq!(s.instance, "/networkIntegrationEndpoint/ID");
        assert_eq!(s.polling_interval, Duration::from_secs(240 * 60));
        assert_eq!(s.cache_expiration, Duration::from_secs(60));
        assert_eq!(s.compliance_timeout, Duration::from_millis(30_000));
        assert_eq!(s.identifiers, vec![DeviceIdentifier::LegacyMac]);
        assert_eq!(s.ca_file, Path::new("/lab/ca.pem"));
        assert_eq!(
            s.base_url(),
            "https://ise@mdm.lab.test:443/networkIntegrationEndpoint/ID"
        );
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(!format!("{:?}", form()).contains("s3cret"));
    }

    #[test]
    fn ranges_and_lab_fast() {
        let mut c = form();
        c.polling_interval = "2s".into();
        let e = c.validate(None).unwrap_err().to_string();
        assert!(
            e.contains("mdm.polling_interval") && e.contains("lab_fast"),
            "{e}"
        );
        c.lab_fast = true;
        assert_eq!(
            c.validate(None).unwrap().polling_interval,
            Duration::from_secs(2)
        );
        c.compliance_cache_expiration = "10081m".into();
        assert!(c.validate(None).unwrap_err().to_string().contains("10080"));
        c.compliance_cache_expiration = "1m".into();
        for bad_ms in [0, 30_001] {
            c.device_compliance_timeout_ms = bad_ms;
            assert!(
                c.validate(None)
                    .unwrap_err()
                    .to_string()
                    .contains("1-30000")
            );
        }
        c.device_compliance_timeout_ms = 1;
        c.polling_interval = "2".into();
        assert!(c.validate(None).unwrap_err().to_string().contains("unit"));
        c.polling_interval = "2 weeks".into();
        assert!(c.validate(None).is_err());
    }

    #[test]
    fn hosts_paths_identifiers_proxy() {
        let mut c = form();
        c.host = "https://mdm.lab.test/x".into();
        assert!(
            c.validate(None)
                .unwrap_err()
                .to_string()
                .contains("mdm.host")
        );
        c = form();
        c.instance = "https://x/y".into();
        assert!(
            c.validate(None)
                .unwrap_err()
                .to_string()
                .contains("mdm.instance")
        );
        c = form();
        c.device_identifiers = vec![DeviceIdentifier::CertCnGuid, DeviceIdentifier::CertCnGuid];
        assert!(c.validate(None).unwrap_err().to_string().contains("twice"));
        c = form();
        c.proxy = Some("127.0.0.1:3128".into());
        assert_eq!(
            c.validate(None).unwrap().proxy,
            Some(("127.0.0.1".into(), 3128))
        );
        c.proxy = Some("127.0.0.1".into());
        assert!(
            c.validate(None)
                .unwrap_err()
                .to_string()
                .contains("mdm.proxy")
        );
        let unknown: Result<MdmConfig, _> = serde_json::from_str(
            r#"{"name":"x","host":"h","username":"u","password":"p","ca_file":"c","bogus":1}"#,
        );
        assert!(unknown.unwrap_err().to_string().contains("bogus"));
    }

    #[test]
    fn hosts_are_normalized_as_the_agent_s_and_brackets_must_pair() {
        let mut c = form();
        c.host = "[2001:DB8::13]".into();
        assert_eq!(c.validate(None).unwrap().host, "2001:db8::13");
        c.host = " MDM.Lab.Test. ".into();
        assert_eq!(c.validate(None).unwrap().host, "mdm.lab.test");
        for unpaired in ["[::1", "::1]", "[[::1]]"] {
            c.host = unpaired.into();
            let err = c.validate(None).unwrap_err().to_string();
            assert!(err.starts_with("mdm.host: "), "{unpaired}: {err}");
        }
        c = form();
        c.proxy = Some("[::1]:3128".into());
        assert_eq!(c.validate(None).unwrap().proxy, Some(("::1".into(), 3128)));
        c.proxy = Some("Proxy.Lab.Test.:3128".into());
        assert_eq!(
            c.validate(None).unwrap().proxy,
            Some(("proxy.lab.test".into(), 3128))
        );
    }
}
