//! `psn-lab mdm test`: ISE's "Test Connection", with the diagnosis an
//! administrator needs for each failure class.

use super::client::{MdmClient, MdmError, MdmFailure};
use super::config::MdmSettings;
use super::xml::ServerInfo;

/// The class of a failure, as `mdm test` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The CA file is unusable.
    CaFile,
    /// Name resolution failed.
    Dns,
    /// TCP connect timed out.
    ConnectTimeout,
    /// TCP connect refused or failed.
    ConnectFailed,
    /// The proxy refused CONNECT.
    ProxyRefused,
    /// TLS handshake failed.
    Tls,
    /// No reply in time.
    Timeout,
    /// 401.
    Unauthorized,
    /// 404.
    NotFound,
    /// Another HTTP status or HTTP error.
    Http,
    /// The reply is not a usable document.
    BadReply,
    /// The MDM's API version is too old.
    ApiVersion,
}

/// The class of an error.
pub fn class(e: &MdmError) -> FailureClass {
    match e {
        MdmError::CaFile { .. } => FailureClass::CaFile,
        MdmError::Dns { .. } => FailureClass::Dns,
        MdmError::ConnectTimeout { .. } => FailureClass::ConnectTimeout,
        MdmError::Connect { .. } => FailureClass::ConnectFailed,
        MdmError::ProxyRefused { .. } => FailureClass::ProxyRefused,
        MdmError::Tls { .. } => FailureClass::Tls,
        MdmError::Timeout { .. } => FailureClass::Timeout,
        MdmError::Unauthorized => FailureClass::Unauthorized,
        MdmError::NotFound => FailureClass::NotFound,
        MdmError::Http(_) | MdmError::Status(_) => FailureClass::Http,
        MdmError::TooLarge | MdmError::BadReply(_) | MdmError::Inconsistent(_) => {
            FailureClass::BadReply
        }
        MdmError::ApiVersion { .. } => FailureClass::ApiVersion,
    }
}

/// What an administrator should check for a failure.
pub fn advice(e: &MdmError, s: &MdmSettings) -> String {
    let via = match &s.proxy {
        Some((h, p)) => format!(" (through the proxy {h}:{p})"),
        None => String::new(),
    };
    match e {
        MdmError::CaFile { .. } => "give in \"ca_file\" the PEM file of the CA that issued the MDM's certificate".into(),
        MdmError::Dns { host, .. } => format!(
            "the host name {host} does not resolve: check the name and the DNS servers, or enter the MDM's IP address in \"host\""
        ),
        MdmError::ConnectTimeout { addr, .. } => format!(
            "no TCP answer from {addr}{via}: there is no route to it, or a firewall drops the traffic on that port; try the MDM's IP address in \"host\", check the route and the firewall, and whether the MDM must be reached through a proxy (\"proxy\")"
        ),
        MdmError::Connect { addr, .. } => format!(
            "{addr} refused the TCP connection: nothing listens on that port; check \"host\" and \"port\" (JAMF Pro cloud uses 443){}",
            if s.proxy.is_some() { ", and the proxy address" } else { "" }
        ),
        MdmError::ProxyRefused { .. } => "the proxy does not allow a tunnel to the MDM: allow CONNECT to the MDM's host and port in the proxy (e.g. tinyproxy ConnectPort, squid SSL_ports), or check the proxy's authentication".into(),
        MdmError::Tls { .. } => "the TLS connection could not be made: fix the certificate problem named above (the MDM's certificate must chain to \"ca_file\" and name \"host\")".into(),
        MdmError::Timeout { after } => format!(
            "the MDM accepted the connection but did not answer within {after:?}: raise \"device_compliance_timeout_ms\" (at most 30000) or check the MDM's load"
        ),
        MdmError::Unauthorized => format!(
            "the MDM refused the credentials of {:?}: check that the user exists in the MDM, that it has the privileges the network integration needs, and that the MDM allows basic authentication for its API (JAMF Pro 10.35 and later: enable \"Allow Basic authentication\" in the password policy)",
            s.username
        ),
        MdmError::NotFound => format!(
            "the MDM answers but knows no integration at this path: the instance name {:?} is wrong or missing from the URL; copy the path of the network integration URL (e.g. /networkIntegrationEndpoint/ID) into \"instance\"",
            s.instance
        ),
        MdmError::Http(_) | MdmError::Status(_) => "the MDM answered with an unexpected HTTP status or broke the connection: check the MDM's logs".into(),
        MdmError::TooLarge | MdmError::BadReply(_) | MdmError::Inconsistent(_) => "the MDM's reply is not a valid MDM API document: check that host, port and instance point to the MDM's network integration endpoint, and the MDM's logs".into(),
        MdmError::ApiVersion { ours, .. } => format!(
            "upgrade the MDM, or its network integration, to one that supports MDM API version {ours}"
        ),
    }
}

/// The text `mdm test` prints for a failure.
pub fn report_failure(f: &MdmFailure, s: &MdmSettings) -> String {
    format!(
        "mdm test {name}: FAILED ({class:?})\n  URL tried  {url}\n  error      {error}\n  diagnosis  {advice}\n",
        name = s.name,
        class = class(&f.error),
        url = f.url,
        error = f.error,
        advice = advice(&f.error, s),
    )
}

/// The text `mdm test` prints on success.
pub fn report_success(info: &ServerInfo, s: &MdmSettings) -> String {
    format!(
        "mdm test {name}: connection succeeded\n  URL        {url}\n  vendor     {vendor}\n  product    {product} {version}\n  API        version {api} at {path}\n  batch      up to {max} devices per query\n  enrolment  {redirect}\n",
        name = s.name,
        url = s.base_url(),
        vendor = info.vendor,
        product = info.product_name,
        version = info.product_version,
        api = info.api_version,
        path = info.api_path,
        max = info.query_max_size,
        redirect = info.redirect_url,
    )
}

/// Runs the test: builds a client and asks for the server info.
pub async fn test_connection(s: &MdmSettings) -> Result<ServerInfo, MdmFailure> {
    let client = MdmClient::new(s.clone()).map_err(|error| MdmFailure {
        url: s.base_url(),
        error,
    })?;
    client.server_info().await
}
