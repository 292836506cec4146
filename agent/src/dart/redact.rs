//! Redaction: every text part of a bundle goes through a [`Redactor`]
//! before it is written, so that private keys, passwords, tokens,
//! authorization headers and session ids never reach a bundle mailed to
//! support.
//!
//! It errs on the side of removing too much. The rules (one linear scan
//! each, recording byte ranges to replace; overlapping ranges merge):
//!
//! - private key blocks: PEM of any kind, PGP, SSH2 and PuTTY
//!   (`redact/blocks.rs`); certificates stay;
//! - `key=value`, `key: value`, `"key": "value"` whose key names a secret
//!   ([`keys::is_secret_name`]): a quoted value loses its content (escaped
//!   quotes included), an unquoted one the rest of the line, a `{...}` or
//!   an indented YAML block all of it; `name`/`key` pairs naming a secret
//!   take their `value` sibling with them; `Authorization` headers, bearer
//!   tokens, URL userinfo, `curl -u`, `--password x`, `.netrc` (`redact/text.rs`);
//! - XML: secret elements lose their attributes and all their content;
//!   `<Setting name="Password" value="..."/>` and property-list
//!   `<key>Password</key><string>...</string>` too (`redact/xml.rs`);
//! - session ids become `[session-N]` pseudonyms, the same in every part
//!   redacted by one [`Redactor`] (`redact/sessions.rs`).
//!
//! The profile is redacted structurally first ([`redact_profile`]: parsed
//! as XML, so CDATA and nesting cannot hide a value), then like every other
//! text.
//!
//! No regular expression runs over a whole part: the agent's regex engine
//! (regex-lite, for file-contains checks) is built for size, not speed, and
//! a 1 MiB log must redact quickly.

mod blocks;
mod keys;
mod sessions;
mod text;
mod xml;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use keys::is_secret_name;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// What a range is replaced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum With {
    /// [`REDACTED`].
    Redacted,
    /// [`REDACTED`] between spaces (inside a key block's markers).
    Spaced,
    /// The pseudonym of the session id with this number.
    Session(usize),
}

/// Replace `start..end` (bytes) of the text.
#[derive(Debug, Clone, Copy)]
struct Edit {
    start: usize,
    end: usize,
    with: With,
}

/// One text being scanned: the text, its ASCII-lowercase copy (same byte
/// offsets) for case-insensitive search, its line breaks, and the edits
/// the rules record.
struct Scan<'a> {
    text: &'a str,
    lower: String,
    breaks: Vec<usize>,
    edits: Vec<Edit>,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        let breaks = text
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| (b == b'\n').then_some(i))
            .collect();
        Scan {
            text,
            lower: text.to_ascii_lowercase(),
            breaks,
            edits: Vec::new(),
        }
    }

    fn text(&self) -> &'a str {
        self.text
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn lower(&self) -> &str {
        &self.lower
    }

    fn len(&self) -> usize {
        self.text.len()
    }

    /// The first `needle` (lowercase ASCII) at or after byte `from`,
    /// ignoring ASCII case.
    fn find_lower(&self, needle: &str, from: usize) -> Option<usize> {
        let mut from = from.min(self.lower.len());
        while !self.lower.is_char_boundary(from) {
            from += 1;
        }
        self.lower[from..].find(needle).map(|i| i + from)
    }

    /// The `\n` at or after `i` (or the end of the text).
    fn break_at(&self, i: usize) -> usize {
        self.breaks
            .get(self.breaks.partition_point(|&b| b < i))
            .copied()
            .unwrap_or(self.text.len())
    }

    /// Where the line holding byte `i` ends: its `\r\n` or `\n`, or the end.
    fn line_end(&self, i: usize) -> usize {
        let b = self.break_at(i);
        if b > i && self.bytes().get(b - 1) == Some(&b'\r') {
            b - 1
        } else {
            b
        }
    }

    /// Where the line after the one holding byte `i` starts (or the end).
    fn next_line(&self, i: usize) -> usize {
        (self.break_at(i) + 1).min(self.text.len())
    }

    /// Where the line holding byte `i` starts.
    fn line_start(&self, i: usize) -> usize {
        let n = self.breaks.partition_point(|&b| b < i);
        if n == 0 { 0 } else { self.breaks[n - 1] + 1 }
    }

    /// Records that `start..end` is replaced (empty ranges are ignored).
    fn edit(&mut self, start: usize, end: usize, with: With) {
        let end = end.min(self.text.len());
        if start < end {
            self.edits.push(Edit { start, end, with });
        }
    }
}

/// Applies `edits` to `text`: overlapping edits merge into one (a redaction
/// wins over a pseudonym); ranges are widened to character boundaries.
fn apply(text: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.start, std::cmp::Reverse(e.end)));
    let mut merged: Vec<Edit> = Vec::with_capacity(edits.len());
    for e in edits {
        match merged.last_mut() {
            Some(last) if e.start < last.end => {
                last.end = last.end.max(e.end);
                last.with = match (last.with, e.with) {
                    (With::Session(n), With::Session(_)) => With::Session(n),
                    (With::Redacted, _) | (_, With::Redacted) => With::Redacted,
                    _ => With::Spaced,
                };
            }
            _ => merged.push(e),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for e in merged {
        let mut start = e.start.max(pos);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = e.end;
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if start < pos {
            start = pos;
        }
        out.push_str(&text[pos..start]);
        match e.with {
            With::Redacted => out.push_str(REDACTED),
            With::Spaced => {
                out.push(' ');
                out.push_str(REDACTED);
                out.push(' ');
            }
            With::Session(n) => out.push_str(&sessions::label(n)),
        }
        pos = end.max(pos);
    }
    out.push_str(&text[pos..]);
    out
}

/// Redacts the parts of one bundle. Session ids get the same pseudonym in
/// every part it redacts: let it [`learn`](Redactor::learn) the parts that
/// name sessions (status, history, PSN list, logs) first, so that an id is
/// replaced even where it appears before the place that names it.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    sessions: sessions::Sessions,
}

impl Redactor {
    /// A redactor that knows no session yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns the session ids `text` names (in the places the agent writes
    /// them), without redacting it.
    pub fn learn(&mut self, text: &str) {
        self.edits(text);
    }

    /// Returns `text` with every secret replaced by [`REDACTED`] and every
    /// session id by its pseudonym (`[session-N]`).
    pub fn redact(&mut self, text: &str) -> String {
        let edits = self.edits(text);
        apply(text, edits)
    }

    /// Redacts a JSON text value by value: each string goes through
    /// [`Redactor::redact`] on its own, so that a rule that takes "the rest
    /// of the line" (`api_key=...` quoted inside a requirement's reason)
    /// ends with the string instead of taking the closing quote and the
    /// rest of a one-line object, which would leave no JSON to read back.
    /// The result is pretty-printed; text that is no JSON is returned as
    /// it is. Like every part, the result then goes through
    /// [`Redactor::redact`] whole (keys naming a secret, e.g.).
    pub fn redact_json(&mut self, text: &str) -> String {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
            return text.to_string();
        };
        self.redact_strings(&mut value);
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_string())
    }

    fn redact_strings(&mut self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_strings(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.redact_strings(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// The pseudonym of a session id this redactor has seen.
    pub fn session_label(&self, id: &str) -> Option<String> {
        self.sessions.label(id)
    }

    fn edits(&mut self, text: &str) -> Vec<Edit> {
        let mut s = Scan::new(text);
        blocks::private_keys(&mut s);
        text::rules(&mut s, &mut self.sessions);
        xml::tags(&mut s, &mut self.sessions);
        sessions::known(&mut s, &mut self.sessions);
        s.edits
    }
}

/// Returns `text` with every secret replaced by [`REDACTED`] and session
/// ids by pseudonyms numbered for this text alone (a bundle uses one
/// [`Redactor`] for all its parts).
pub fn redact(text: &str) -> String {
    Redactor::new().redact(text)
}

/// Redacts a profile structurally: it is parsed as XML and every element
/// whose name names a secret ([`is_secret_name`]), or whose naming
/// attribute (`name`, `key`, ...) does, loses all its content (text, CDATA,
/// child elements), whatever its layout. A profile that does not parse gets
/// the text rules for elements instead. The result still goes through
/// [`Redactor::redact`] like every part (attributes, comments).
pub fn redact_profile(text: &str) -> String {
    match xml::secret_content_ranges(text) {
        Some(ranges) => apply(
            text,
            ranges
                .into_iter()
                .map(|(start, end)| Edit {
                    start,
                    end,
                    with: With::Redacted,
                })
                .filter(|e| e.start < e.end)
                .collect(),
        ),
        None => {
            let mut s = Scan::new(text);
            xml::tags(&mut s, &mut sessions::Sessions::default());
            apply(text, s.edits)
        }
    }
}
