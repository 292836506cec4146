//! XML rules, on text (logs, and profiles that do not parse) and on the
//! parsed profile.
//!
//! A tag is secret when its element's name names a secret
//! (`<Password value="..."/>`) or when a naming attribute (`name`, `key`,
//! ...) does (`<Setting name="Password" value="..."/>`,
//! `<Entry key="secret">...</Entry>`): then its attribute values and its
//! whole content (text, CDATA, child elements) go, to the first closing tag
//! of the same name, or to the end of the line when there is none within
//! [`MAX_CONTENT`]. An attribute named like a secret loses its value in
//! any tag. A `<key>` or `<name>` element naming a secret takes the content
//! of the element after it (property lists: `<key>Password</key>
//! <string>...</string>`).

use std::collections::HashMap;

use super::keys::{is_naming_key, is_secret_name, is_session_name};
use super::sessions::Sessions;
use super::{Scan, With};

/// Longest tag parsed (attributes included).
const MAX_TAG: usize = 4096;
/// Longest quoted attribute value parsed.
const MAX_ATTR: usize = 1024;
/// How far a secret element's closing tag is looked for.
const MAX_CONTENT: usize = 64 * 1024;

/// A start tag: `<name attr="value" ...>` or `<name .../>`.
#[derive(Debug)]
struct Tag {
    name: (usize, usize),
    /// (name, value) byte ranges; the value without its quotes.
    attrs: Vec<((usize, usize), (usize, usize))>,
    /// Just after the closing `>`.
    end: usize,
    self_closing: bool,
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.' | b'-')
}

fn parse_tag(bytes: &[u8], lt: usize) -> Option<Tag> {
    let limit = bytes.len().min(lt + MAX_TAG);
    let mut k = lt + 1;
    if !bytes
        .get(k)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return None;
    }
    while k < limit && is_name_byte(bytes[k]) {
        k += 1;
    }
    let name = (lt + 1, k);
    let mut attrs = Vec::new();
    loop {
        while k < limit && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        match *bytes.get(k).filter(|_| k < limit)? {
            b'>' => {
                return Some(Tag {
                    name,
                    attrs,
                    end: k + 1,
                    self_closing: false,
                });
            }
            b'/' => {
                return (bytes.get(k + 1) == Some(&b'>')).then_some(Tag {
                    name,
                    attrs,
                    end: k + 2,
                    self_closing: true,
                });
            }
            _ => {}
        }
        let attr_start = k;
        while k < limit
            && !bytes[k].is_ascii_whitespace()
            && !matches!(bytes[k], b'=' | b'/' | b'>' | b'"' | b'\'' | b'<')
        {
            k += 1;
        }
        if k == attr_start {
            return None;
        }
        let attr = (attr_start, k);
        while k < limit && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        if bytes.get(k) != Some(&b'=') {
            continue;
        }
        k += 1;
        while k < limit && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        let q = *bytes.get(k).filter(|_| k < limit)?;
        if matches!(q, b'"' | b'\'') {
            let vlimit = limit.min(k + 1 + MAX_ATTR);
            let close = k + 1 + bytes[k + 1..vlimit].iter().position(|&b| b == q)?;
            attrs.push((attr, (k + 1, close)));
            k = close + 1;
        } else {
            let v = k;
            while k < limit && !bytes[k].is_ascii_whitespace() && !matches!(bytes[k], b'>' | b'<') {
                k += 1;
            }
            attrs.push((attr, (v, k)));
        }
    }
}

/// Positions of closing tags by lowercase name, built on first use.
#[derive(Default)]
struct Closers(Option<HashMap<String, Vec<usize>>>);

impl Closers {
    /// The first `</name` at or after `from` (within [`MAX_CONTENT`]).
    fn find(&mut self, text: &str, name: &str, from: usize) -> Option<usize> {
        let index = self.0.get_or_insert_with(|| {
            let bytes = text.as_bytes();
            let mut index: HashMap<String, Vec<usize>> = HashMap::new();
            let mut pos = 0;
            while let Some(i) = text[pos..].find("</").map(|i| i + pos) {
                let mut e = i + 2;
                while e < bytes.len() && is_name_byte(bytes[e]) {
                    e += 1;
                }
                index
                    .entry(text[i + 2..e].to_ascii_lowercase())
                    .or_default()
                    .push(i);
                pos = i + 2;
            }
            index
        });
        let found = index.get(&name.to_ascii_lowercase())?;
        let at = *found.get(found.partition_point(|&p| p < from))?;
        (at - from <= MAX_CONTENT).then_some(at)
    }
}

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

pub(super) fn tags(s: &mut Scan<'_>, sessions: &mut Sessions) {
    let text = s.text();
    let bytes = s.bytes();
    let mut closers = Closers::default();
    let mut pos = 0;
    while let Some(lt) = text[pos..].find('<').map(|i| i + pos) {
        let Some(tag) = parse_tag(bytes, lt) else {
            pos = lt + 1;
            continue;
        };
        pos = tag.end;
        let name = &text[tag.name.0..tag.name.1];
        let local = local_name(name);
        let attr = |r: (usize, usize)| &text[r.0..r.1];
        let named = tag
            .attrs
            .iter()
            .any(|&(n, v)| is_naming_key(attr(n)) && is_secret_name(attr(v)));
        let secret = is_secret_name(local);
        if secret || named {
            for &(n, v) in &tag.attrs {
                let keeps_name = !secret && is_naming_key(attr(n)) && is_secret_name(attr(v));
                if !keeps_name {
                    s.edit(v.0, v.1, With::Redacted);
                }
            }
            if !tag.self_closing {
                let end = closers
                    .find(text, name, tag.end)
                    .unwrap_or_else(|| s.line_end(tag.end));
                s.edit(tag.end, end, With::Redacted);
            }
            continue;
        }
        for &(n, v) in &tag.attrs {
            if is_secret_name(attr(n)) {
                s.edit(v.0, v.1, With::Redacted);
            } else if is_session_name(local) && attr(n).eq_ignore_ascii_case("id") && v.1 > v.0 {
                let label = sessions.label_of(attr(v));
                s.edit(v.0, v.1, With::Session(label));
            }
        }
        if !tag.self_closing
            && (local.eq_ignore_ascii_case("key") || local.eq_ignore_ascii_case("name"))
        {
            let Some(close) = closers.find(text, name, tag.end) else {
                continue;
            };
            if !is_secret_name(text[tag.end..close].trim()) {
                continue;
            }
            // The element after `</key>`: its content goes.
            let after = text[close..]
                .find('>')
                .map_or(text.len(), |i| close + i + 1);
            let next = after
                + bytes[after..]
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
            if let Some(value) = parse_tag(bytes, next).filter(|t| !t.self_closing) {
                let vname = &text[value.name.0..value.name.1];
                let end = closers
                    .find(text, vname, value.end)
                    .unwrap_or_else(|| s.line_end(value.end));
                s.edit(value.end, end, With::Redacted);
            }
        }
    }
}

/// Byte ranges of the content of the outermost secret elements of a
/// well-formed XML document (by name or by a naming attribute), or `None`
/// when `text` is not well-formed.
pub(super) fn secret_content_ranges(text: &str) -> Option<Vec<(usize, usize)>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut ranges = Vec::new();
    // (depth inside the secret element, where its content starts)
    let mut inside: Option<(usize, usize)> = None;
    loop {
        let before = usize::try_from(reader.buffer_position()).ok()?;
        let event = reader.read_event().ok()?;
        let after = usize::try_from(reader.buffer_position()).ok()?;
        match event {
            Event::Start(e) => match &mut inside {
                Some((depth, _)) => *depth += 1,
                None => {
                    let name = e.local_name().into_inner();
                    let named = e.attributes().flatten().any(|a| {
                        let key = a.key.local_name().into_inner();
                        is_naming_key(key) && is_secret_name(&a.value)
                    });
                    if is_secret_name(name) || named {
                        inside = Some((1, after));
                    }
                }
            },
            Event::End(_) => {
                if let Some((depth, start)) = &mut inside {
                    *depth -= 1;
                    if *depth == 0 {
                        ranges.push((*start, before));
                        inside = None;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // Unclosed elements are a parse failure: fall back to text redaction.
    // The reader's offsets fall on tag boundaries (ASCII); checked anyway so
    // that slicing can never panic.
    let sliceable = ranges
        .iter()
        .all(|&(a, b)| a <= b && text.is_char_boundary(a) && text.is_char_boundary(b));
    if inside.is_some() || !sliceable {
        return None;
    }
    Some(ranges)
}
