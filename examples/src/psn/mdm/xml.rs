//! The documents of the MDM API (modelled on ISE's MDM API, version 3), read
//! and written by the lab's own code.
//!
//! - server info: `GET {instance}/ciscoise/mdminfo/?ise_api_version=3` answers
//!   `<ise_api><name>mdminfo</name><api_version>3</api_version><api_path>...`
//!   with `redirect_url`, `query_max_size`, `vendor`, `product_name`,
//!   `product_version`;
//! - device query: `POST {api_path}/devices/?querycriteria=macaddress` with
//!   `<ise_api><name>attributes</name><api_version>3</api_version><values>
//!   <value>0050569ABCDE</value>...</values></ise_api>` answers a
//!   `<deviceList>` of `<device>` elements, each with its identifier and
//!   `<attributes><register_status>true</register_status><compliance>
//!   <status>false</status><failure_reason>...</failure_reason></compliance>`.
//!
//! Replies come from the network: they are read into posture-protocol's
//! bounded tree ([`posture_protocol::dom`]) with the MDM's own [`LIMITS`]
//! (DTDs refused; nesting, element count, attributes of one element and
//! size bounded; one linear pass), and every value is then checked for its
//! type. The API uses no attributes; they are still read (well-formed, no
//! name twice, at most [`MAX_ATTRIBUTES`]) so that a reply that is not XML is
//! refused.

pub use posture_protocol::dom::Element;
use posture_protocol::dom::{self, Limits, ParseError};

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// Most elements accepted in one document (a batch of 1000 devices needs ~6000).
pub const MAX_ELEMENTS: usize = 50_000;
/// Most attributes accepted on one element (the API uses none; namespace
/// declarations and the like fit easily).
pub const MAX_ATTRIBUTES: usize = 64;
/// What a document of the MDM API may hold at most; the size bound is the
/// client's reply cap.
pub const LIMITS: Limits = Limits {
    max_depth: MAX_DEPTH,
    max_elements: MAX_ELEMENTS,
    max_attributes: MAX_ATTRIBUTES,
    max_bytes: super::client::MAX_MDM_REPLY,
};

/// Why a document from the MDM is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed, or a refused construct (DTD, depth, size).
    #[error("malformed XML at byte {offset}: {message}")]
    Malformed {
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// A required element is missing.
    #[error("<{parent}> has no <{child}> element")]
    Missing {
        /// Parent element.
        parent: &'static str,
        /// Missing child.
        child: &'static str,
    },
    /// A value has the wrong type or is out of range.
    #[error("<{element}> {value:?} is invalid ({allowed})")]
    Invalid {
        /// The element.
        element: &'static str,
        /// The value (first 64 characters).
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
}

fn invalid(element: &'static str, value: &str, allowed: &'static str) -> XmlError {
    XmlError::Invalid {
        element,
        value: value.chars().take(64).collect(),
        allowed,
    }
}

/// The trimmed text of `parent`'s child `child`, which must be present.
fn text_of<'a>(
    el: &'a Element,
    parent: &'static str,
    child: &'static str,
) -> Result<&'a str, XmlError> {
    el.child(child)
        .map(|c| c.text.trim())
        .ok_or(XmlError::Missing { parent, child })
}

/// Reads a document into an element tree (bounded by [`LIMITS`], no DTD).
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    dom::parse_with(input, &LIMITS).map_err(|e| match e {
        ParseError::Xml { offset, message } => XmlError::Malformed { offset, message },
        // The tree itself reports only malformed XML; the other kinds come
        // from reading documents of the wire contract.
        other => XmlError::Malformed {
            offset: 0,
            message: other.to_string(),
        },
    })
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    posture_protocol::escape(s)
}

fn expect_root(el: &Element, name: &'static str) -> Result<(), XmlError> {
    if el.name != "ise_api" {
        return Err(invalid(
            "ise_api",
            &el.name,
            "the root element must be <ise_api>",
        ));
    }
    let n = text_of(el, "ise_api", "name")?;
    if n != name {
        return Err(invalid("name", n, "unexpected document name"));
    }
    Ok(())
}

fn parse_bool(element: &'static str, v: &str) -> Result<bool, XmlError> {
    match v {
        "true" | "TRUE" | "True" => Ok(true),
        "false" | "FALSE" | "False" => Ok(false),
        _ => Err(invalid(element, v, "true or false")),
    }
}

/// The MDM's answer to the server info query.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerInfo {
    /// Path of the API on the MDM (absolute path on the same host).
    pub api_path: String,
    /// Enrolment URL for unregistered devices.
    pub redirect_url: String,
    /// Most identifiers the MDM accepts in one device query.
    pub query_max_size: usize,
    /// API version the MDM speaks.
    pub api_version: u32,
    /// Vendor.
    pub vendor: String,
    /// Product name.
    pub product_name: String,
    /// Product version.
    pub product_version: String,
}

impl ServerInfo {
    /// Reads `<ise_api><name>mdminfo</name>...`.
    pub fn from_xml(input: &[u8]) -> Result<Self, XmlError> {
        let el = parse(input)?;
        expect_root(&el, "mdminfo")?;
        let api_version = text_of(&el, "ise_api", "api_version")?;
        let api_version: u32 = api_version
            .parse()
            .map_err(|_| invalid("api_version", api_version, "a whole number, e.g. 3"))?;
        let api_path = text_of(&el, "ise_api", "api_path")?.to_owned();
        if !api_path.starts_with('/') || api_path.contains(['?', '#', ' ']) {
            return Err(invalid(
                "api_path",
                &api_path,
                "an absolute path, e.g. /ID/ciscoise/v3",
            ));
        }
        let size = text_of(&el, "ise_api", "query_max_size")?;
        let query_max_size: usize = size
            .parse()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| invalid("query_max_size", size, "a whole number 1-100000"))?;
        let opt = |name: &'static str| {
            el.child(name)
                .map(|c| c.text.trim().to_owned())
                .unwrap_or_default()
        };
        Ok(ServerInfo {
            api_path: api_path.trim_end_matches('/').to_owned(),
            redirect_url: opt("redirect_url"),
            query_max_size,
            api_version,
            vendor: opt("vendor"),
            product_name: opt("product_name"),
            product_version: opt("product_version"),
        })
    }

    /// Writes the document.
    pub fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ise_api><name>mdminfo</name><api_version>{}</api_version><api_path>{}</api_path><redirect_url>{}</redirect_url><query_max_size>{}</query_max_size><messaging_support>false</messaging_support><vendor>{}</vendor><product_name>{}</product_name><product_version>{}</product_version></ise_api>",
            self.api_version,
            esc(&self.api_path),
            esc(&self.redirect_url),
            self.query_max_size,
            esc(&self.vendor),
            esc(&self.product_name),
            esc(&self.product_version)
        )
    }
}

/// A device query: identifiers of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceQuery {
    /// Identifier values (MAC as 12 upper-case hex digits, or GUIDs).
    pub values: Vec<String>,
}

impl DeviceQuery {
    /// Writes the request body.
    pub fn to_xml(&self) -> String {
        let mut s = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ise_api><name>attributes</name><api_version>3</api_version><values>",
        );
        for v in &self.values {
            s.push_str(&format!("<value>{}</value>", esc(v)));
        }
        s.push_str("</values></ise_api>");
        s
    }

    /// Reads the request body (the MDM's side).
    pub fn from_xml(input: &[u8]) -> Result<Self, XmlError> {
        let el = parse(input)?;
        expect_root(&el, "attributes")?;
        let values = el
            .child("values")
            .ok_or(XmlError::Missing {
                parent: "ise_api",
                child: "values",
            })?
            .children
            .iter()
            .filter(|c| c.name == "value")
            .map(|c| c.text.trim().to_owned())
            .collect();
        Ok(DeviceQuery { values })
    }
}

/// The MDM's opinion of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    /// Registered and compliant.
    Compliant,
    /// Registered and not compliant.
    NonCompliant,
    /// Not registered with the MDM (no compliance opinion).
    NotRegistered,
}

/// One device in a device query reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The identifier the device was found by (as sent).
    pub id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The MDM's reason, when non-compliant.
    pub reason: Option<String>,
}

/// A device query reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReply {
    /// Devices the MDM knows among those asked for.
    pub devices: Vec<DeviceRecord>,
}

impl DeviceReply {
    /// Reads `<ise_api><name>attributes</name>...<deviceList>`; `criteria` is
    /// the element naming each device's identifier (`macaddress`, `guid`).
    pub fn from_xml(input: &[u8], criteria: &str) -> Result<Self, XmlError> {
        let el = parse(input)?;
        expect_root(&el, "attributes")?;
        let list = el.child("deviceList").ok_or(XmlError::Missing {
            parent: "ise_api",
            child: "deviceList",
        })?;
        let mut devices = Vec::new();
        for d in list.children.iter().filter(|c| c.name == "device") {
            let id = d
                .child(criteria)
                .map(|c| c.text.trim().to_owned())
                .filter(|s| !s.is_empty())
                .ok_or(XmlError::Missing {
                    parent: "device",
                    child: "identifier (macaddress or guid)",
                })?;
            let attrs = d.child("attributes").ok_or(XmlError::Missing {
                parent: "device",
                child: "attributes",
            })?;
            let registered = parse_bool(
                "register_status",
                text_of(attrs, "attributes", "register_status")?,
            )?;
            let (verdict, reason) = if !registered {
                (Verdict::NotRegistered, None)
            } else {
                let c = attrs.child("compliance").ok_or(XmlError::Missing {
                    parent: "attributes",
                    child: "compliance",
                })?;
                let ok = parse_bool("status", text_of(c, "compliance", "status")?)?;
                let reason = c
                    .child("failure_reason")
                    .map(|r| r.text.trim().chars().take(256).collect::<String>())
                    .filter(|r| !r.is_empty());
                if ok {
                    (Verdict::Compliant, None)
                } else {
                    (Verdict::NonCompliant, reason)
                }
            };
            devices.push(DeviceRecord {
                id,
                verdict,
                reason,
            });
        }
        Ok(DeviceReply { devices })
    }

    /// Writes the reply (the MDM's side).
    pub fn to_xml(&self, criteria: &str) -> String {
        let mut s = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ise_api><name>attributes</name><api_version>3</api_version><paging_info>0</paging_info><deviceList>",
        );
        for d in &self.devices {
            let (registered, compliant) = match d.verdict {
                Verdict::Compliant => (true, true),
                Verdict::NonCompliant => (true, false),
                Verdict::NotRegistered => (false, false),
            };
            s.push_str(&format!(
                "<device><{criteria}>{}</{criteria}><attributes><register_status>{registered}</register_status><compliance><status>{compliant}</status>",
                esc(&d.id)
            ));
            if let Some(r) = &d.reason {
                s.push_str(&format!("<failure_reason>{}</failure_reason>", esc(r)));
            }
            s.push_str("</compliance></attributes></device>");
        }
        s.push_str("</deviceList></ise_api>");
        s
    }
}

/// A MAC in wire form (`aa:bb:...`) as the MDM API writes it: 12 upper-case hex digits.
pub fn mac_for_mdm(mac: &str) -> String {
    mac.chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_info_round_trip_and_types() {
        let info = ServerInfo {
            api_path: "/ID/ciscoise/v3".into(),
            redirect_url: "https://mdm.lab.test/enroll".into(),
            query_max_size: 1000,
            api_version: 3,
            vendor: "posture-sync lab".into(),
            product_name: "mdm-lab".into(),
            product_version: "1 & 2".into(),
        };
        assert_eq!(
            ServerInfo::from_xml(info.to_xml().as_bytes()).unwrap(),
            info
        );
        let wrong = info
            .to_xml()
            .replace("<query_max_size>1000", "<query_max_size>lots");
        assert!(matches!(
            ServerInfo::from_xml(wrong.as_bytes()),
            Err(XmlError::Invalid {
                element: "query_max_size",
                ..
            })
        ));
        assert!(ServerInfo::from_xml(b"<ise_api><name>mdminfo</name></ise_api>").is_err());
        assert!(ServerInfo::from_xml(b"<!DOCTYPE x [<!ENTITY a 'b'>]><ise_api/>").is_err());
    }

    #[test]
    fn device_reply_round_trip_and_types() {
        let reply = DeviceReply {
            devices: vec![
                DeviceRecord {
                    id: "02005E005301".into(),
                    verdict: Verdict::NonCompliant,
                    reason: Some("FileVault off".into()),
                },
                DeviceRecord {
                    id: "02005E005302".into(),
                    verdict: Verdict::Compliant,
                    reason: None,
                },
                DeviceRecord {
                    id: "02005E005303".into(),
                    verdict: Verdict::NotRegistered,
                    reason: None,
                },
            ],
        };
        let xml = reply.to_xml("macaddress");
        assert_eq!(
            DeviceReply::from_xml(xml.as_bytes(), "macaddress").unwrap(),
            reply
        );
        let maybe = xml.replacen("<status>false</status>", "<status>maybe</status>", 1);
        assert!(DeviceReply::from_xml(maybe.as_bytes(), "macaddress").is_err());
        let q = DeviceQuery {
            values: vec!["A".into(), "B".into()],
        };
        assert_eq!(DeviceQuery::from_xml(q.to_xml().as_bytes()).unwrap(), q);
        assert_eq!(mac_for_mdm("02:00:5e:00:53:01"), "02005E005301");
    }

    /// `<ise_api a0="" a1="" ...>` with `count` attributes, a valid server
    /// info document otherwise.
    fn server_info_with_attributes(count: usize) -> String {
        let attrs: String = (0..count).map(|i| format!(" a{i}=\"\"")).collect();
        format!(
            "<ise_api{attrs}><name>mdminfo</name><api_version>3</api_version><api_path>/ID/v3</api_path><query_max_size>10</query_max_size></ise_api>"
        )
    }

    #[test]
    fn an_element_with_thousands_of_attributes_is_malformed() {
        let err = ServerInfo::from_xml(server_info_with_attributes(9_319).as_bytes()).unwrap_err();
        let XmlError::Malformed { message, .. } = &err else {
            panic!("expected malformed XML, got {err:?}");
        };
        assert_eq!(
            message,
            "<ise_api> has more than 64 attributes, the most one element may have"
        );
        // At the limit is fine: the API ignores attributes.
        let info =
            ServerInfo::from_xml(server_info_with_attributes(MAX_ATTRIBUTES).as_bytes()).unwrap();
        assert_eq!(info.api_path, "/ID/v3");
    }

    #[test]
    fn duplicate_and_broken_attributes_are_malformed() {
        let twice = server_info_with_attributes(3).replace(" a2=", " a0=");
        let err = ServerInfo::from_xml(twice.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, XmlError::Malformed { message, .. } if message == "position 20: duplicated attribute, previous declaration at position 8"),
            "{err:?}"
        );
        let unquoted = server_info_with_attributes(0).replace("<ise_api>", "<ise_api a=1>");
        assert!(matches!(
            ServerInfo::from_xml(unquoted.as_bytes()),
            Err(XmlError::Malformed { .. })
        ));
    }
}
