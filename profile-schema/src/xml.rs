//! Stage one of parsing: XML events with byte offsets become raw entries, one
//! per child of `<cfg>` (key name, text, attributes, line and column, and the
//! inner XML as written when the element holds elements). Whether a key may
//! hold elements, and types, are decided in stage two (`profile.rs`), which
//! knows the key table.
//!
//! Hostile input is refused without harm: the caller caps the size, a DTD is
//! an error (so no entity can be declared, let alone expanded), only the five
//! predefined entities and character references are resolved, nesting is
//! bounded, an element carries at most [`MAX_ATTRIBUTES`] attributes and the
//! number of reported errors is capped.
//!
//! Every step is linear in the size of the profile. Repeated attribute names
//! in particular are found with a hash map, not with quick-xml's duplicate
//! check, which compares each attribute with every earlier one: a 1 MB
//! profile with 140,000 attributes on one element took over a minute that
//! way.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::diagnostic::{Diagnostic, LineIndex, Pos};

/// The root element of a profile (ISEPostureCFG.xml uses `cfg`).
pub const ROOT: &str = "cfg";
/// Parsing stops with an error beyond this element depth (root is 1).
pub const MAX_DEPTH: usize = 8;
/// Parsing stops after this many errors.
pub const MAX_ERRORS: usize = 100;
/// Most attributes accepted on one element. Profiles written by ISE or by
/// hand carry a handful (vendor UI keys a few more); an element with more is
/// an error at its `<`.
pub const MAX_ATTRIBUTES: usize = 256;

/// One child element of the root, before type checking.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub name: String,
    /// Text content directly inside the element, references resolved, not
    /// yet trimmed.
    pub text: String,
    /// Where the element's `<` is.
    pub pos: Pos,
    /// The attributes as written (whitespace around them trimmed), already
    /// checked to be well-formed; empty when there are none.
    pub attributes: String,
    /// The first element inside this one (name and where its `<` is), when
    /// the element holds elements.
    pub child: Option<(String, Pos)>,
    /// The content between the start and the end tag exactly as written,
    /// markup included; filled only when `child` is set.
    pub markup: String,
    /// Byte offset just past the start tag, where `markup` begins.
    content_start: usize,
}

/// What stage one found.
#[derive(Debug, Default)]
pub(crate) struct RawDoc {
    pub root_pos: Pos,
    pub entries: Vec<RawEntry>,
    pub errors: Vec<Diagnostic>,
    pub notes: Vec<Diagnostic>,
    /// Reading stopped at [`MAX_ERRORS`] errors.
    pub truncated: bool,
}

struct State<'a> {
    /// The profile text (byte offsets index it).
    src: &'a str,
    idx: LineIndex<'a>,
    doc: RawDoc,
    /// Depth of open elements: 0 outside the root, 1 inside `<cfg>`, 2 inside
    /// a key, more inside an element nested in a key.
    depth: usize,
    root_seen: bool,
    root_closed: bool,
    current: Option<RawEntry>,
}

impl State<'_> {
    fn error(&mut self, offset: usize, key: Option<&str>, message: String) {
        let mut d = Diagnostic::error(self.idx.pos(offset), message);
        d.key = key.map(str::to_owned);
        self.doc.errors.push(d);
    }

    fn current_key(&self) -> Option<String> {
        self.current.as_ref().map(|c| c.name.clone())
    }

    /// Add text to the current key, or complain when text is outside keys.
    fn text(&mut self, offset: usize, text: &str) {
        if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
            let key = self.current_key();
            self.error(
                offset,
                key.as_deref(),
                format!("character U+{:04X} is not allowed in XML", u32::from(c)),
            );
            return;
        }
        match (&mut self.current, self.depth) {
            (Some(cur), 2) => cur.text.push_str(text),
            // Inside an element nested in a key: kept as markup, not as text.
            (Some(_), _) => {}
            (None, _) => {
                let shown = text.trim();
                if !shown.is_empty() {
                    let where_ = if self.depth == 1 {
                        "inside <cfg> but outside any key"
                    } else {
                        "outside the <cfg> element"
                    };
                    self.error(
                        offset,
                        None,
                        format!(
                            "text `{}` {where_}; write each value inside its key element",
                            truncate(shown)
                        ),
                    );
                }
            }
        }
    }

    /// An element starts at `offset`; its start tag ends just before `after`.
    fn start(
        &mut self,
        offset: usize,
        after: usize,
        e: &BytesStart<'_>,
        empty: bool,
    ) -> Result<(), ()> {
        let name = e.name().as_ref().to_owned();
        let pos = self.idx.pos(offset);
        if !is_xml_name(&name) {
            let key = self.current_key();
            self.error(
                offset,
                key.as_deref(),
                format!("`<{}`: not a valid element name", truncate(&name)),
            );
            return Err(());
        }
        let attributes = self.attributes(offset, &name, e);
        match self.depth {
            0 => {
                if self.root_closed {
                    self.error(offset, None, format!("second root element <{name}> after </{ROOT}>; a profile has exactly one <{ROOT}> element"));
                    return Err(());
                }
                if name != ROOT {
                    self.error(
                        offset,
                        None,
                        format!("root element is <{name}>; a profile's root element is <{ROOT}>"),
                    );
                    return Err(());
                }
                self.root_seen = true;
                self.doc.root_pos = pos;
                if empty {
                    self.root_closed = true;
                } else {
                    self.depth = 1;
                }
            }
            1 => {
                let entry = RawEntry {
                    name,
                    text: String::new(),
                    pos,
                    attributes,
                    child: None,
                    markup: String::new(),
                    content_start: after,
                };
                if empty {
                    self.doc.entries.push(entry);
                } else {
                    self.current = Some(entry);
                    self.depth = 2;
                }
            }
            _ => {
                // Whether a key may hold elements depends on the key: stage
                // two decides. Only the first child is remembered.
                if let Some(cur) = &mut self.current
                    && self.depth == 2
                    && cur.child.is_none()
                {
                    cur.child = Some((name, pos));
                }
                if !empty {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        let key = self.current_key();
                        self.error(
                            offset,
                            key.as_deref(),
                            format!(
                                "elements nested deeper than {MAX_DEPTH} levels; parsing stopped"
                            ),
                        );
                        return Err(());
                    }
                }
            }
        }
        Ok(())
    }

    /// An end tag starts at `offset`.
    fn end(&mut self, offset: usize) {
        self.depth = self.depth.saturating_sub(1);
        match self.depth {
            0 => self.root_closed = true,
            1 => {
                if let Some(mut entry) = self.current.take() {
                    if entry.child.is_some() {
                        // The reader checked that this slice is well-formed
                        // (matching tags, known entities, valid names), so
                        // the writer can write it back as it is.
                        entry.markup = self
                            .src
                            .get(entry.content_start..offset)
                            .unwrap_or_default()
                            .to_owned();
                    }
                    self.doc.entries.push(entry);
                }
            }
            _ => {}
        }
    }

    /// The attributes of element `name` (which starts at `offset`) as
    /// written, trimmed; malformed ones are reported and give an empty
    /// string.
    fn attributes(&mut self, offset: usize, name: &str, e: &BytesStart<'_>) -> String {
        let raw = e.attributes_raw().to_owned();
        let raw = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if raw.is_empty() {
            return String::new();
        }
        match check_attributes(e) {
            Ok(()) => raw.to_owned(),
            Err(problem) => {
                let key = self
                    .current_key()
                    .or_else(|| (self.depth == 1).then(|| name.to_owned()));
                self.error(
                    offset,
                    key.as_deref(),
                    format!("malformed XML: attributes of <{name}>: {problem}"),
                );
                String::new()
            }
        }
    }

    fn general_ref(&mut self, offset: usize, r: &BytesRef<'_>) {
        let raw = r.as_ref().to_owned();
        let resolved = if r.is_char_ref() {
            match r.resolve_char_ref() {
                Ok(Some(c)) if is_xml_char(c) => Some(c.to_string()),
                _ => None,
            }
        } else {
            match raw.as_str() {
                "lt" => Some("<".to_owned()),
                "gt" => Some(">".to_owned()),
                "amp" => Some("&".to_owned()),
                "apos" => Some("'".to_owned()),
                "quot" => Some("\"".to_owned()),
                _ => None,
            }
        };
        match resolved {
            Some(text) => self.text(offset, &text),
            None => {
                let key = self.current_key();
                let msg = if r.is_char_ref() {
                    format!("`&{}`: not a valid character reference", truncate(&raw))
                } else {
                    format!(
                        "unknown entity `&{};`: only &lt; &gt; &amp; &apos; &quot; and character references are allowed",
                        truncate(&raw)
                    )
                };
                self.error(offset, key.as_deref(), msg);
            }
        }
    }
}

/// Check attributes the way a strict XML reader would, since quick-xml reads
/// them lazily: names, quoting, no repeats, only the predefined entities and
/// character references, no `<` and no character XML forbids, and at most
/// [`MAX_ATTRIBUTES`] of them. Attributes of unknown keys are written back as
/// read, so they must be well-formed.
fn check_attributes(e: &BytesStart<'_>) -> Result<(), String> {
    // Name -> where it starts in the tag, for quick-xml's own duplicate
    // message; the map keeps the check linear in the number of attributes.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut attributes = e.attributes();
    attributes.with_checks(false);
    for attr in attributes {
        let attr = attr.map_err(|err| err.to_string())?;
        if seen.len() == MAX_ATTRIBUTES {
            return Err(format!(
                "more than {MAX_ATTRIBUTES} attributes, the most one element may have"
            ));
        }
        let key: &str = attr.key.into_inner();
        let at = offset_in(e, key);
        if let Some(&first) = seen.get(key) {
            return Err(AttrError::Duplicated(at, first).to_string());
        }
        seen.insert(key, at);
        let name = key.to_owned();
        if !is_xml_name(&name) {
            return Err(format!(
                "`{}` is not a valid attribute name",
                truncate(&name)
            ));
        }
        if attr.value.contains('<') {
            return Err(format!(
                "the value of `{name}` contains `<`; write it as &lt;"
            ));
        }
        // Unescaping only, as before quick-xml 0.42: `normalized_value` would
        // also turn tabs and line breaks into spaces.
        let value = quick_xml::escape::unescape(&attr.value).map_err(|err| {
            format!("the value of `{name}`: {err}; only &lt; &gt; &amp; &apos; &quot; and character references are allowed")
        })?;
        if !value.chars().all(is_xml_char) {
            return Err(format!(
                "the value of `{name}` contains a character XML forbids"
            ));
        }
    }
    Ok(())
}

/// Where `part`, a slice of the tag `e`, starts in it: the position
/// quick-xml's attribute errors count from.
fn offset_in(e: &BytesStart<'_>, part: &str) -> usize {
    let tag: &str = e;
    (part.as_ptr() as usize).saturating_sub(tag.as_ptr() as usize)
}

/// An XML 1.0 `Name` (fifth edition): the writer can write back any name
/// that passes, so a parsed profile always round-trips.
fn is_xml_name(name: &str) -> bool {
    fn start(c: char) -> bool {
        matches!(c, ':' | 'A'..='Z' | '_' | 'a'..='z'
            | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
            | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
            | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
            | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
    }
    fn rest(c: char) -> bool {
        start(c)
            || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
    }
    let mut chars = name.chars();
    chars.next().is_some_and(start) && chars.all(rest)
}

/// Characters allowed in XML 1.0 documents.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// Read the XML structure of `text`, reporting every problem found before
/// the XML itself breaks.
pub(crate) fn read(text: &str) -> RawDoc {
    let mut reader = Reader::from_str(text);
    // Keep text exactly as written; values are trimmed in stage two.
    reader.config_mut().trim_text(false);
    let mut st = State {
        src: text,
        idx: LineIndex::new(text),
        doc: RawDoc::default(),
        depth: 0,
        root_seen: false,
        root_closed: false,
        current: None,
    };
    loop {
        if st.doc.errors.len() >= MAX_ERRORS {
            st.doc.truncated = true;
            break;
        }
        let offset = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(offset);
                let key = st.current_key();
                st.error(at, key.as_deref(), format!("malformed XML: {e}"));
                break;
            }
        };
        match event {
            Event::Eof => {
                if st.depth > 0 {
                    let open = st.current_key().unwrap_or_else(|| ROOT.to_owned());
                    st.error(
                        text.len(),
                        None,
                        format!("unexpected end of file: <{open}> is not closed"),
                    );
                } else if !st.root_seen {
                    st.error(
                        text.len(),
                        None,
                        format!("no <{ROOT}> element: the file holds no profile"),
                    );
                }
                break;
            }
            Event::DocType(_) => {
                st.error(
                    offset,
                    None,
                    "a DTD (<!DOCTYPE ...>) is not allowed in a profile; remove it".to_owned(),
                );
                break;
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Start(e) => {
                let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                if st.start(offset, after, &e, false).is_err() {
                    break;
                }
            }
            Event::Empty(e) => {
                let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                if st.start(offset, after, &e, true).is_err() {
                    break;
                }
            }
            Event::End(_) => st.end(offset),
            Event::Text(t) => {
                let s = t.xml10_content().into_owned();
                st.text(offset, &s);
            }
            Event::CData(c) => {
                let s = c.xml10_content().into_owned();
                if st.depth <= 1 && st.current.is_none() && !s.trim().is_empty() {
                    st.error(offset, None, "CDATA section outside any key".to_owned());
                } else {
                    st.text(offset, &s);
                }
            }
            Event::GeneralRef(r) => st.general_ref(offset, &r),
        }
    }
    // Reading stopped inside a key (always with an error). A key that held
    // an element goes to stage two all the same, which reports the element
    // when the key must hold plain text: every problem found is reported.
    if let Some(entry) = st.current.take()
        && entry.child.is_some()
    {
        st.doc.entries.push(entry);
    }
    st.doc
}
