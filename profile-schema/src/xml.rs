//! Stage one of parsing: XML events with byte offsets become flat raw entries
//! (key name, text, line and column). Types are checked in stage two
//! (`profile.rs`).
//!
//! Hostile input is refused without harm: the caller caps the size, a DTD is
//! an error (so no entity can be declared, let alone expanded), only the five
//! predefined entities and character references are resolved, nesting is
//! bounded and the number of reported errors is capped.

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::diagnostic::{Diagnostic, LineIndex, Pos, Severity};

/// The root element of a profile (ISEPostureCFG.xml uses `cfg`).
pub const ROOT: &str = "cfg";
/// Parsing stops with an error beyond this element depth (root is 1).
pub const MAX_DEPTH: usize = 8;
/// Parsing stops after this many errors.
pub const MAX_ERRORS: usize = 100;

/// One child element of the root, before type checking.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub name: String,
    /// Text content with references resolved, not yet trimmed.
    pub text: String,
    /// Where the element's `<` is.
    pub pos: Pos,
    /// The element contained child elements (already reported).
    pub nested: bool,
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
    idx: LineIndex<'a>,
    doc: RawDoc,
    /// Depth of open elements: 0 outside the root, 1 inside `<cfg>`, 2 inside
    /// a key, more inside a (forbidden) nested element.
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
            (Some(_), _) => {} // inside a nested element: already reported
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

    fn start(&mut self, offset: usize, e: &BytesStart<'_>, empty: bool) -> Result<(), ()> {
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
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
                if e.attributes_raw().iter().any(|b| !b.is_ascii_whitespace()) {
                    self.doc.notes.push(
                        Diagnostic::new(
                            Severity::Note,
                            pos,
                            format!(
                                "{name}: attributes on <{name}> are ignored and not written back"
                            ),
                        )
                        .with_key(&name),
                    );
                }
                let entry = RawEntry {
                    name,
                    text: String::new(),
                    pos,
                    nested: false,
                };
                if empty {
                    self.doc.entries.push(entry);
                } else {
                    self.current = Some(entry);
                    self.depth = 2;
                }
            }
            _ => {
                if let Some(cur) = &mut self.current
                    && self.depth == 2
                {
                    cur.nested = true;
                    let key = cur.name.clone();
                    self.error(offset, Some(&key), format!("{key}: element <{name}> inside <{key}>; a profile is flat: each key holds plain text"));
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

    fn end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        match self.depth {
            0 => self.root_closed = true,
            1 => {
                if let Some(entry) = self.current.take() {
                    self.doc.entries.push(entry);
                }
            }
            _ => {}
        }
    }

    fn general_ref(&mut self, offset: usize, r: &BytesRef<'_>) {
        let raw = String::from_utf8_lossy(r.as_ref()).into_owned();
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
                if st.start(offset, &e, false).is_err() {
                    break;
                }
            }
            Event::Empty(e) => {
                if st.start(offset, &e, true).is_err() {
                    break;
                }
            }
            Event::End(_) => st.end(),
            Event::Text(t) => {
                let s = t
                    .xml10_content()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                st.text(offset, &s);
            }
            Event::CData(c) => {
                let s = c
                    .xml10_content()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                if st.depth <= 1 && st.current.is_none() && !s.trim().is_empty() {
                    st.error(offset, None, "CDATA section outside any key".to_owned());
                } else {
                    st.text(offset, &s);
                }
            }
            Event::GeneralRef(r) => st.general_ref(offset, &r),
        }
    }
    st.doc
}
