//! A small, bounded element tree: the first stage of reading a document.
//!
//! Replies come from the network, so the tree refuses what a careful parser must:
//! DTDs (no entity expansion of any kind beyond XML's five predefined entities
//! and character references), documents longer than [`Limits::max_bytes`],
//! nesting deeper than [`Limits::max_depth`], more than [`Limits::max_elements`]
//! elements, more than [`Limits::max_attributes`] attributes on one element, and
//! anything after the root element. The wire contract's limits are
//! [`Limits::WIRE`]; other documents read from the network (psn-lab's MDM
//! client) bring their own.
//!
//! Every step is linear in the size of the document: in particular repeated
//! attribute names are found with a hash set, not with quick-xml's duplicate
//! check, which compares each attribute with every earlier one (a 64 KiB
//! reply with 9,319 attributes on one element took 0.7 s of the agent's
//! runtime that way).

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};

/// Deepest nesting accepted in a wire document.
pub const MAX_DEPTH: usize = 16;
/// Most elements accepted in one wire document.
pub const MAX_ELEMENTS: usize = 4096;
/// Most attributes accepted on one element of a wire document. The richest
/// wire element has five (`<check>`); the margin leaves room for later
/// versions of the protocol without letting one element carry thousands.
pub const MAX_ATTRIBUTES: usize = 64;

/// What [`parse_with`] accepts at most. Every bound is checked while
/// reading, so a document over one costs no more than the bound itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting: the root is at depth 1.
    pub max_depth: usize,
    /// Most elements in the document.
    pub max_elements: usize,
    /// Most attributes on one element.
    pub max_attributes: usize,
    /// Longest document, in bytes.
    pub max_bytes: usize,
}

impl Limits {
    /// The wire contract's limits: what the agent and psn-lab accept. The
    /// byte bound is left to the caller, which caps the body before it has
    /// read it ([`crate::MAX_REPLY_BYTES`] on the agent, psn-lab's request
    /// cap on the server), so it is not repeated here.
    pub const WIRE: Limits = Limits {
        max_depth: MAX_DEPTH,
        max_elements: MAX_ELEMENTS,
        max_attributes: MAX_ATTRIBUTES,
        max_bytes: usize::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::WIRE
    }
}

/// Why a document could not be read. Messages name the element or attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not well-formed XML, or refused hostile constructs.
    #[error("malformed XML at byte {offset}: {message}")]
    Xml {
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The root element is not the expected one.
    #[error("expected root element <{expected}>, found <{found}>")]
    WrongRoot {
        /// The root this document type has.
        expected: &'static str,
        /// The root found.
        found: String,
    },
    /// A required child element is absent.
    #[error("<{parent}> has no <{child}> element")]
    MissingElement {
        /// The parent element.
        parent: &'static str,
        /// The missing child.
        child: &'static str,
    },
    /// A required attribute is absent.
    #[error("<{element}> has no {attribute} attribute")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The missing attribute.
        attribute: &'static str,
    },
    /// A value is present but not acceptable.
    #[error("<{element}> {field}: {value:?} is invalid ({allowed})")]
    InvalidValue {
        /// The element.
        element: &'static str,
        /// The attribute, or `text` for text content.
        field: &'static str,
        /// The offending value (truncated to 64 characters).
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The document's `version` is newer than this reader knows: reading
    /// it for what an older version knows could pass a requirement whose
    /// conditions were never evaluated, so the document is refused.
    #[error(
        "unsupported-version: <{element}> version {found} is newer than this agent reads (versions 1 to {supported}); update the agent or have the server send version {supported}"
    )]
    UnsupportedVersion {
        /// The element.
        element: &'static str,
        /// The version found.
        found: u32,
        /// The newest version this reader knows.
        supported: u32,
    },
}

impl ParseError {
    pub(crate) fn invalid(
        element: &'static str,
        field: &'static str,
        value: &str,
        allowed: impl Into<String>,
    ) -> Self {
        ParseError::InvalidValue {
            element,
            field,
            value: value.chars().take(64).collect(),
            allowed: allowed.into(),
        }
    }
}

/// One element: name, attributes in document order, concatenated text, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Element name, with its prefix if any.
    pub name: String,
    /// Attributes in document order, values unescaped.
    pub attrs: Vec<(String, String)>,
    /// Text and CDATA content, concatenated, references resolved.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The value of the attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The children named `name`, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The attribute, or an error naming `element` and `attribute`.
    pub fn required(
        &self,
        element: &'static str,
        attribute: &'static str,
    ) -> Result<&str, ParseError> {
        self.attr(attribute)
            .ok_or(ParseError::MissingAttribute { element, attribute })
    }
}

fn xml_err(reader: &Reader<&[u8]>, message: impl Into<String>) -> ParseError {
    ParseError::Xml {
        offset: reader.buffer_position(),
        message: message.into(),
    }
}

fn start_element(
    reader: &Reader<&[u8]>,
    e: &BytesStart<'_>,
    max_attributes: usize,
) -> Result<Element, ParseError> {
    // quick-xml 0.42 reads UTF-8 only, so names and values arrive as `str`.
    let name = e.name().as_ref().to_owned();
    let mut attrs = Vec::new();
    // Name -> where it starts in the tag, for quick-xml's own duplicate
    // message; a hash map keeps the check linear.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut iter = e.attributes();
    iter.with_checks(false);
    for attr in iter {
        let attr = attr.map_err(|err| xml_err(reader, err.to_string()))?;
        if attrs.len() == max_attributes {
            return Err(xml_err(
                reader,
                format!(
                    "<{name}> has more than {max_attributes} attributes, the most one element may have"
                ),
            ));
        }
        let key: &str = attr.key.into_inner();
        let at = offset_in(e, key);
        if let Some(&first) = seen.get(key) {
            return Err(xml_err(
                reader,
                AttrError::Duplicated(at, first).to_string(),
            ));
        }
        seen.insert(key, at);
        // Unescaping only, as before 0.42: `normalized_value` would also turn
        // tabs and line breaks into spaces, which changes what a value means.
        let value = quick_xml::escape::unescape(&attr.value)
            .map_err(|err| xml_err(reader, err.to_string()))?
            .into_owned();
        attrs.push((key.to_owned(), value));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

/// Where `part`, a slice of the tag `e`, starts in it: the position
/// quick-xml's attribute errors count from.
fn offset_in(e: &BytesStart<'_>, part: &str) -> usize {
    let tag: &str = e;
    (part.as_ptr() as usize).saturating_sub(tag.as_ptr() as usize)
}

/// Reads `input` into an element tree with the wire contract's limits.
pub(crate) fn parse(input: &[u8]) -> Result<Element, ParseError> {
    parse_with(input, &Limits::WIRE)
}

/// Reads `input` into an element tree, refusing what `limits` does not allow
/// (see the module documentation for everything else that is refused).
pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Element, ParseError> {
    if input.len() > limits.max_bytes {
        return Err(ParseError::Xml {
            offset: 0,
            message: format!(
                "the document is {} bytes, more than the {} accepted",
                input.len(),
                limits.max_bytes
            ),
        });
    }
    let mut reader = Reader::from_reader(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|err| xml_err(&reader, err.to_string()))?;
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(xml_err(&reader, "content after the root element"));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(xml_err(
                        &reader,
                        format!("more than {} elements", limits.max_elements),
                    ));
                }
                // An empty element nests as deep as an open one.
                if stack.len() >= limits.max_depth {
                    return Err(xml_err(
                        &reader,
                        format!("nesting deeper than {}", limits.max_depth),
                    ));
                }
                let el = start_element(&reader, e, limits.max_attributes)?;
                if matches!(event, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| xml_err(&reader, "unexpected end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                // The raw text, line ends as written (what `decode` gave before 0.42).
                let text = t.into_inner();
                let text = quick_xml::escape::unescape(&text)
                    .map_err(|err| xml_err(&reader, err.to_string()))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(xml_err(&reader, "text outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let name = r.into_inner();
                let resolved = resolve_reference(&name)
                    .ok_or_else(|| xml_err(&reader, format!("unknown entity &{name};")))?;
                match stack.last_mut() {
                    Some(el) => el.text.push(resolved),
                    None => return Err(xml_err(&reader, "reference outside the root element")),
                }
            }
            Event::CData(c) => {
                let text = c.into_inner();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None => return Err(xml_err(&reader, "CDATA outside the root element")),
                }
            }
            Event::DocType(_) => {
                return Err(xml_err(&reader, "DTDs are not accepted"));
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(xml_err(&reader, "document ends inside an element"));
    }
    root.ok_or_else(|| xml_err(&reader, "no root element"))
}

/// XML's predefined entities and character references; nothing else.
fn resolve_reference(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x") {
                u32::from_str_radix(hex, 16).ok()?
            } else {
                name.strip_prefix('#')?.parse().ok()?
            };
            char::from_u32(code)
        }
    }
}

/// Escapes text for an XML attribute value or text content: `&`, `<`, `>`,
/// `"` and `'` become references. The one XML escaper of the workspace.
pub fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tree() {
        let el = parse(br#"<?xml version="1.0"?><a x="1"><b>t&amp;u</b><c/></a>"#).unwrap();
        assert_eq!(el.name, "a");
        assert_eq!(el.attr("x"), Some("1"));
        assert_eq!(el.child("b").unwrap().text, "t&u");
        assert!(el.child("c").is_some());
    }

    #[test]
    fn refuses_hostile_input() {
        let dtd = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#;
        assert!(matches!(parse(dtd), Err(ParseError::Xml { .. })));
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse(deep.as_bytes()).is_err());
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS + 1));
        assert!(parse(wide.as_bytes()).is_err());
        assert!(parse(b"<a></b>").is_err());
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"<a/><b/>").is_err());
        assert!(parse(b"<a x='1' x='2'/>").is_err());
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
    }

    /// `<tag n0="" n1="" ...>` with `count` distinct attribute names.
    fn with_attributes(tag: &str, count: usize) -> String {
        let mut s = format!("<{tag}");
        for i in 0..count {
            s.push_str(&format!(" n{i}=\"\""));
        }
        s.push_str("/>");
        s
    }

    #[test]
    fn an_element_with_thousands_of_attributes_is_refused_naming_it_and_the_limit() {
        let doc = with_attributes("requirements", 9_319);
        let err = parse(doc.as_bytes()).unwrap_err();
        let ParseError::Xml { message, .. } = &err else {
            panic!("expected malformed XML, got {err:?}");
        };
        assert_eq!(
            message,
            "<requirements> has more than 64 attributes, the most one element may have"
        );
        // At the limit is fine.
        let el = parse(with_attributes("a", MAX_ATTRIBUTES).as_bytes()).unwrap();
        assert_eq!(el.attrs.len(), MAX_ATTRIBUTES);
        assert_eq!(el.attr("n63"), Some(""));
        let over = parse(with_attributes("a", MAX_ATTRIBUTES + 1).as_bytes());
        assert!(matches!(over, Err(ParseError::Xml { .. })), "{over:?}");
    }

    #[test]
    fn attribute_values_keep_their_line_breaks_and_invalid_utf8_is_refused() {
        // quick-xml 0.42's `normalized_value` would turn these into spaces.
        let el = parse(b"<a v='x&#10;y\ty'/>").unwrap();
        assert_eq!(el.attr("v"), Some("x\ny\ty"));
        assert!(matches!(parse(b"<a>\xff</a>"), Err(ParseError::Xml { .. })));
        assert!(matches!(
            parse(b"<a v='\xff'/>"),
            Err(ParseError::Xml { .. })
        ));
    }

    #[test]
    fn duplicate_attributes_are_refused_with_quick_xml_s_message() {
        let err = parse(b"<a x='1' y='2' x='3'/>").unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed XML at byte 22: position 14: duplicated attribute, previous declaration at position 2"
        );
        // Names are compared whole: `x` and `xx` are different.
        let el = parse(b"<a x='1' xx='2'><b x='3'/></a>").unwrap();
        assert_eq!(el.attr("xx"), Some("2"));
        // Still refused far apart in a long list.
        let mut doc = with_attributes("a", 60);
        doc.insert_str(doc.len() - 2, " n3=\"again\"");
        assert!(parse(doc.as_bytes()).is_err());
    }

    #[test]
    fn an_empty_element_below_the_deepest_level_is_too_deep() {
        let at_limit = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(at_limit.as_bytes()).is_ok());
        let empty_below = format!(
            "{}<b/>{}",
            "<a>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        );
        let err = parse(empty_below.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, ParseError::Xml { message, .. } if message == "nesting deeper than 16"),
            "{err:?}"
        );
    }

    #[test]
    fn every_limit_is_configurable() {
        let limits = Limits {
            max_depth: 2,
            max_elements: 3,
            max_attributes: 1,
            max_bytes: 40,
        };
        assert!(parse_with(b"<a x='1'><b/><c/></a>", &limits).is_ok());
        let message = |doc: &[u8]| match parse_with(doc, &limits) {
            Err(ParseError::Xml { message, .. }) => message,
            other => panic!("expected malformed XML, got {other:?}"),
        };
        assert_eq!(message(b"<a><b><c/></b></a>"), "nesting deeper than 2");
        assert_eq!(message(b"<a><b/><c/><d/></a>"), "more than 3 elements");
        assert_eq!(
            message(b"<a x='1' y='2'/>"),
            "<a> has more than 1 attributes, the most one element may have"
        );
        assert_eq!(
            message(format!("<a>{}</a>", " ".repeat(34)).as_bytes()),
            "the document is 41 bytes, more than the 40 accepted"
        );
    }

    #[test]
    fn the_default_limits_are_the_wire_contract_s() {
        assert_eq!(Limits::default(), Limits::WIRE);
        assert_eq!(Limits::WIRE.max_depth, MAX_DEPTH);
        assert_eq!(Limits::WIRE.max_elements, MAX_ELEMENTS);
        assert_eq!(Limits::WIRE.max_attributes, MAX_ATTRIBUTES);
    }

    #[test]
    fn escape_covers_the_five_special_characters() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert!(matches!(
            escape("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
    }
}
