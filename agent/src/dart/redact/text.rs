//! Text rules: `key=value` / `key: value` / `"key": "value"` pairs (values
//! to the end of the line unless quoted), name/value siblings, YAML blocks,
//! `Authorization` headers, bearer tokens, URL userinfo, command-line
//! options (`curl -u`, `--password x`), `.netrc` lines and `Key value`
//! config lines. Each rule is one linear scan that records edits.

use super::keys::{Class, classify, is_naming_key, is_secret_name, is_value_key};
use super::sessions::{Sessions, is_id_byte};
use super::{Scan, With};

/// How far a compound value (`{...}`, `[...]`) or an indented block under a
/// secret key is followed.
const MAX_BLOCK: usize = 64 * 1024;
/// Longest key looked at.
const MAX_KEY: usize = 128;

/// `Authorization` schemes kept in front of the redacted credentials.
const AUTH_SCHEMES: &[&str] = &[
    "basic",
    "bearer",
    "digest",
    "negotiate",
    "ntlm",
    "token",
    "hoba",
    "mutual",
    "dpop",
    "aws4-hmac-sha256",
];

pub(super) fn rules(s: &mut Scan<'_>, sessions: &mut Sessions) {
    key_values(s, sessions);
    authorization(s);
    bearer(s);
    userinfo(s);
    options(s);
    lines(s);
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// Where a value starts, and how to read it.
#[derive(Debug, Clone, Copy)]
struct Value {
    /// First byte of the value (after the separator and blanks).
    start: usize,
    /// The key is a query parameter (`?k=` or `&k=`): the value ends at `&`.
    query: bool,
    /// The key was a quoted JSON key: a bare number or literal ends at `,`.
    json: bool,
    /// Start of the key's line (for YAML blocks: their indentation).
    line_start: usize,
}

/// A pair seen by [`key_values`] that may name or hold a sibling's value.
#[derive(Debug)]
struct Pair {
    key_start: usize,
    naming_secret: bool,
    holds_value: bool,
    value: Value,
}

/// The closing quote of the string opening at `open`, before `limit`.
/// Backslash escapes are skipped, and `''` inside single quotes (YAML).
pub(super) fn closing_quote(bytes: &[u8], open: usize, limit: usize) -> Option<usize> {
    let q = bytes[open];
    let mut k = open + 1;
    while k < limit {
        match bytes[k] {
            b'\\' => k += 2,
            b if b == q => {
                if q == b'\'' && bytes.get(k + 1) == Some(&b'\'') && k + 1 < limit {
                    k += 2;
                } else {
                    return Some(k);
                }
            }
            _ => k += 1,
        }
    }
    None
}

/// Every `key=value` and `key: value` pair: a secret key loses its value, a
/// session key's value becomes a pseudonym, and `name`/`key` pairs that name
/// a secret take the value of their `value` sibling with them.
fn key_values(s: &mut Scan<'_>, sessions: &mut Sessions) {
    let bytes = s.bytes();
    let mut pairs = Vec::new();
    for i in 0..bytes.len() {
        let sep = bytes[i];
        if sep != b'=' && sep != b':' {
            continue;
        }
        if sep == b':'
            && (bytes.get(i + 1) == Some(&b':')
                || (i > 0 && bytes[i - 1] == b':')
                || bytes[i + 1..].starts_with(b"//"))
        {
            continue;
        }
        // The key, backwards: blanks, an optional (escaped) quote, the name.
        let mut j = i;
        while j > 0 && is_blank(bytes[j - 1]) && i - j < 16 {
            j -= 1;
        }
        let mut quoted = false;
        if j > 0 && matches!(bytes[j - 1], b'"' | b'\'') {
            quoted = bytes[j - 1] == b'"';
            j -= 1;
            if j > 0 && bytes[j - 1] == b'\\' {
                j -= 1;
            }
        }
        let key_end = j;
        while j > 0 && is_key_byte(bytes[j - 1]) && key_end - j < MAX_KEY {
            j -= 1;
        }
        if j == key_end {
            continue;
        }
        let key = &s.text()[j..key_end];
        let mut v = i + 1;
        if (sep == b'=' && bytes.get(v) == Some(&b'>'))
            || (sep == b':' && bytes.get(v) == Some(&b'='))
        {
            v += 1;
        }
        while v < bytes.len() && is_blank(bytes[v]) {
            v += 1;
        }
        let value = Value {
            start: v,
            query: j > 0 && matches!(bytes[j - 1], b'?' | b'&'),
            json: quoted && sep == b':',
            line_start: s.line_start(i),
        };
        match classify(key) {
            Class::Secret => secret_value(s, value),
            Class::Authorization => {}
            Class::Session => session_value(s, sessions, v),
            Class::Other if is_naming_key(key) || is_value_key(key) => {
                let named = token(s, v);
                pairs.push(Pair {
                    key_start: j,
                    naming_secret: is_naming_key(key)
                        && named.is_some_and(|(a, b)| is_secret_name(&s.text()[a..b])),
                    holds_value: is_value_key(key),
                    value,
                });
            }
            Class::Other => {}
        }
    }
    siblings(s, &pairs);
}

/// The value at `v` as a short token: quoted content, or a run of key bytes.
fn token(s: &Scan<'_>, v: usize) -> Option<(usize, usize)> {
    let bytes = s.bytes();
    let first = *bytes.get(v)?;
    if matches!(first, b'"' | b'\'') {
        let close = closing_quote(bytes, v, s.line_end(v).min(v + MAX_KEY + 2))?;
        return Some((v + 1, close));
    }
    let mut e = v;
    while e < bytes.len() && is_key_byte(bytes[e]) && e - v < MAX_KEY {
        e += 1;
    }
    (e > v).then_some((v, e))
}

/// A `value` pair near a `name`/`key` pair that names a secret, in the same
/// object (no `{` or `}` between) and within two lines, loses its value.
fn siblings(s: &mut Scan<'_>, pairs: &[Pair]) {
    for (n, pair) in pairs.iter().enumerate() {
        if !pair.naming_secret {
            continue;
        }
        let near = |other: &Pair| {
            let (a, b) = if other.key_start < pair.key_start {
                (other.key_start, pair.key_start)
            } else {
                (pair.key_start, other.key_start)
            };
            let between = &s.bytes()[a..b];
            between.len() <= 1024
                && between.iter().filter(|&&c| c == b'\n').count() <= 2
                && !between.iter().any(|&c| matches!(c, b'{' | b'}'))
        };
        let after = pairs[n + 1..].iter().take_while(|p| near(p));
        let before = pairs[..n].iter().rev().take_while(|p| near(p));
        let values: Vec<Value> = after
            .chain(before)
            .filter(|p| p.holds_value)
            .map(|p| p.value)
            .collect();
        for value in values {
            secret_value(s, value);
        }
    }
}

/// Redacts the value starting at `value.start`: a quoted string's content,
/// a `{...}`/`[...]` compound whole, a query parameter to `&`, a JSON number
/// or literal, an empty value or a YAML block indicator's indented lines,
/// and anything else to the end of the line.
fn secret_value(s: &mut Scan<'_>, value: Value) {
    let bytes = s.bytes();
    let v = value.start;
    let eol = s.line_end(v);
    if v >= eol || is_block_indicator(&s.text()[v..eol]) {
        if let Some(end) = indented_block(s, value.line_start) {
            s.edit(s.next_line(value.line_start), end, With::Redacted);
        }
        if v < eol {
            s.edit(v, eol, With::Redacted);
        }
        return;
    }
    let first = bytes[v];
    let (start, end) = match first {
        b'"' | b'\'' => match closing_quote(bytes, v, eol) {
            Some(close) => (v + 1, close),
            None => (v, eol),
        },
        b'\\' if bytes.get(v + 1) == Some(&b'"') => (v, eol),
        b'{' | b'[' => (v, matching_bracket(bytes, v).map_or(eol, |m| m + 1)),
        _ if value.query => {
            let mut e = v;
            while e < eol
                && !matches!(
                    bytes[e],
                    b'&' | b'#' | b' ' | b'\t' | b'"' | b'\'' | b'<' | b'>'
                )
            {
                e += 1;
            }
            (v, e)
        }
        _ if value.json => (v, json_literal_end(bytes, v, eol).unwrap_or(eol)),
        // The rest of the line, but a comment's closing `-->` stays, so
        // that a profile's comment does not swallow the rest of the file.
        _ => match s.text()[v..eol].trim_end().strip_suffix("-->") {
            Some(value) => (v, v + value.trim_end().len()),
            None => (v, eol),
        },
    };
    s.edit(start, end, With::Redacted);
}

fn is_block_indicator(rest: &str) -> bool {
    let rest = rest.trim_end();
    rest.starts_with(['|', '>'])
        && rest[1..]
            .bytes()
            .all(|b| matches!(b, b'+' | b'-') || b.is_ascii_digit())
}

/// The end of the lines after the line at `line_start` that are indented
/// deeper than it (blank lines included, trailing ones not).
fn indented_block(s: &Scan<'_>, line_start: usize) -> Option<usize> {
    let bytes = s.bytes();
    let indent = bytes[line_start..]
        .iter()
        .take_while(|&&b| is_blank(b))
        .count();
    let first = s.next_line(line_start);
    let mut end = None;
    let mut p = first;
    while p < bytes.len() && p - first < MAX_BLOCK {
        let le = s.line_end(p);
        let line = &bytes[p..le];
        let own = line.iter().take_while(|&&b| is_blank(b)).count();
        if own < line.len() {
            if own <= indent {
                break;
            }
            end = Some(le);
        }
        p = s.next_line(p);
    }
    end
}

/// The `}` or `]` closing the compound opening at `open` (strings skipped),
/// within [`MAX_BLOCK`].
fn matching_bracket(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut k = open;
    let limit = bytes.len().min(open + MAX_BLOCK);
    while k < limit {
        match bytes[k] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(k);
                }
            }
            b'"' => k = closing_quote(bytes, k, limit)?,
            _ => {}
        }
        k += 1;
    }
    None
}

/// The end of a bare JSON number or literal at `v` when a `,`, `}`, `]` or
/// the end of the line follows it.
fn json_literal_end(bytes: &[u8], v: usize, eol: usize) -> Option<usize> {
    let mut e = v;
    while e < eol && (bytes[e].is_ascii_alphanumeric() || matches!(bytes[e], b'-' | b'+' | b'.')) {
        e += 1;
    }
    let word = std::str::from_utf8(&bytes[v..e]).ok()?;
    let literal = matches!(word, "true" | "false" | "null")
        || (!word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')));
    let mut after = e;
    while after < eol && is_blank(bytes[after]) {
        after += 1;
    }
    let closed = after == eol || matches!(bytes[after], b',' | b'}' | b']');
    (literal && closed).then_some(e)
}

/// A session key's value becomes its pseudonym: quoted content without
/// blanks, or a run of id characters (not a `Some(` or `None`).
fn session_value(s: &mut Scan<'_>, sessions: &mut Sessions, v: usize) {
    let bytes = s.bytes();
    let Some(&first) = bytes.get(v) else {
        return;
    };
    let (start, end) = if matches!(first, b'"' | b'\'') {
        let limit = s.line_end(v).min(v + 1 + 2 * super::sessions::MAX_ID);
        match closing_quote(bytes, v, limit) {
            Some(close) => (v + 1, close),
            None => return,
        }
    } else {
        let mut e = v;
        while e < bytes.len() && is_id_byte(bytes[e]) {
            e += 1;
        }
        if bytes.get(e) == Some(&b'(') {
            return;
        }
        while e > v && bytes[e - 1] == b'.' {
            e -= 1;
        }
        (v, e)
    };
    let id = &s.text()[start..end];
    let literal = ["null", "none", "true", "false", "some"]
        .iter()
        .any(|l| id.eq_ignore_ascii_case(l));
    // A pseudonym already (a part redacted value by value first, then
    // whole): brackets are in no session id, and a second label would
    // hide that it is the same session.
    let pseudonym = id
        .strip_prefix("[session-")
        .and_then(|n| n.strip_suffix(']'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if id.is_empty() || literal || pseudonym || id.bytes().any(|b| b.is_ascii_whitespace()) {
        return;
    }
    let label = sessions.label_of(id);
    s.edit(start, end, With::Session(label));
}

/// `Authorization:` and `Proxy-Authorization:` (also `=` and quoted keys):
/// everything after the scheme goes, to the closing quote or the end of the
/// line.
fn authorization(s: &mut Scan<'_>) {
    const WORD: &str = "authorization";
    let mut pos = 0;
    while let Some(i) = s.find_lower(WORD, pos) {
        pos = i + WORD.len();
        let bytes = s.bytes();
        let eol = s.line_end(i);
        let mut k = pos;
        if k < eol && bytes[k] == b'\\' {
            k += 1;
        }
        if k < eol && matches!(bytes[k], b'"' | b'\'') {
            k += 1;
        }
        while k < eol && is_blank(bytes[k]) {
            k += 1;
        }
        if k >= eol || !matches!(bytes[k], b':' | b'=') {
            continue;
        }
        k += 1;
        while k < eol && is_blank(bytes[k]) {
            k += 1;
        }
        let mut end = eol;
        if k < eol && bytes[k] == b'\\' && bytes.get(k + 1) == Some(&b'"') {
            k += 1;
        }
        if k < eol && matches!(bytes[k], b'"' | b'\'') {
            if let Some(close) = closing_quote(bytes, k, eol) {
                end = close;
            }
            k += 1;
        }
        let mut w = k;
        while w < end && (bytes[w].is_ascii_alphanumeric() || bytes[w] == b'-') {
            w += 1;
        }
        if w < end && is_blank(bytes[w]) {
            let scheme = s.lower()[k..w].to_string();
            if AUTH_SCHEMES.contains(&scheme.as_str()) {
                k = w;
                while k < end && is_blank(bytes[k]) {
                    k += 1;
                }
            }
        }
        s.edit(k, end, With::Redacted);
    }
}

/// `Bearer <token>` anywhere.
fn bearer(s: &mut Scan<'_>) {
    let mut pos = 0;
    while let Some(i) = s.find_lower("bearer", pos) {
        pos = i + 6;
        let bytes = s.bytes();
        if i > 0 && bytes[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let mut k = pos;
        while k < bytes.len() && is_blank(bytes[k]) {
            k += 1;
        }
        if k == pos {
            continue;
        }
        let mut e = k;
        while e < bytes.len()
            && (bytes[e].is_ascii_alphanumeric()
                || matches!(bytes[e], b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'='))
        {
            e += 1;
        }
        s.edit(k, e, With::Redacted);
    }
}

/// `scheme://userinfo@host`: the whole userinfo goes (user names in URLs
/// are often tokens).
fn userinfo(s: &mut Scan<'_>) {
    let mut pos = 0;
    while let Some(i) = s.find_lower("://", pos) {
        pos = i + 3;
        let bytes = s.bytes();
        let mut j = i;
        while j > 0
            && (bytes[j - 1].is_ascii_alphanumeric() || matches!(bytes[j - 1], b'+' | b'.' | b'-'))
        {
            j -= 1;
        }
        if j == i || !bytes[j].is_ascii_alphabetic() {
            continue;
        }
        let mut e = pos;
        while e < bytes.len()
            && e - pos < 2048
            && !bytes[e].is_ascii_whitespace()
            && !matches!(
                bytes[e],
                b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\'
            )
        {
            e += 1;
        }
        if let Some(at) = bytes[pos..e].iter().rposition(|&b| b == b'@')
            && at > 0
        {
            s.edit(pos, pos + at, With::Redacted);
        }
    }
}

/// Command-line options: the value of an option named like a secret
/// (`--password x`, `-storepass x`, `--client-secret=x`), and a `user:password`
/// given to `-u`, `-U`, `--user` or `--proxy-user` (curl), also attached
/// (`-uann:pw`).
fn options(s: &mut Scan<'_>) {
    let bytes = s.bytes();
    for p in 0..bytes.len() {
        if bytes[p] != b'-'
            || (p > 0
                && !(bytes[p - 1].is_ascii_whitespace() || matches!(bytes[p - 1], b'"' | b'\'')))
        {
            continue;
        }
        let dashes = bytes[p..].iter().take_while(|&&b| b == b'-').count();
        if dashes > 2 {
            continue;
        }
        let name_start = p + dashes;
        if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            continue;
        }
        let mut name_end = name_start;
        while name_end < bytes.len()
            && (bytes[name_end].is_ascii_alphanumeric() || matches!(bytes[name_end], b'_' | b'-'))
        {
            name_end += 1;
        }
        let name = &s.text()[name_start..name_end];
        let user_option = matches!(name, "u" | "U" | "user" | "proxy-user");
        let v = match bytes.get(name_end) {
            Some(b'=') => name_end + 1,
            Some(b' ' | b'\t') => {
                let mut v = name_end;
                while v < bytes.len() && is_blank(bytes[v]) {
                    v += 1;
                }
                if bytes.get(v) == Some(&b'-') {
                    continue;
                }
                v
            }
            // `-uann:pw`: the value is attached to `-u`.
            Some(b':') if dashes == 1 && name.starts_with(['u', 'U']) => name_start + 1,
            _ => continue,
        };
        let eol = s.line_end(v);
        if v >= eol {
            continue;
        }
        let (start, end) = if matches!(bytes[v], b'"' | b'\'') {
            match closing_quote(bytes, v, eol) {
                Some(close) => (v + 1, close),
                None => (v, eol),
            }
        } else {
            let mut e = v;
            while e < eol && !bytes[e].is_ascii_whitespace() {
                e += 1;
            }
            (v, e)
        };
        let attached = v == name_start + 1;
        let has_colon = bytes[start..end].contains(&b':');
        if is_secret_name(name) || ((user_option || attached) && has_colon) {
            s.edit(start, end, With::Redacted);
        }
    }
}

/// Line-shaped configuration: `.netrc` lines lose the token after
/// `password`, `passwd` and `account` (from the first `machine`, `default`
/// or `login` token of a line on, also inside a log line; or in a line of
/// its own: `  password p`); a line whose first word names a secret and is
/// followed by a blank and a value (`Password hunter2`, `ProxyPass x`)
/// loses the rest.
fn lines(s: &mut Scan<'_>) {
    let is = |t: &str, words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
    const START: &[&str] = &["machine", "default", "login"];
    const SECRET: &[&str] = &["password", "passwd", "account"];
    let bytes = s.bytes();
    let mut start = 0;
    while start < bytes.len() {
        let end = s.line_end(start);
        let line = &s.text()[start..end];
        let tokens = line
            .split_ascii_whitespace()
            .map(|t| (t.as_ptr() as usize - line.as_ptr() as usize + start, t));
        let mut netrc = false;
        let mut secret_next = false;
        for (n, (at, t)) in tokens.enumerate() {
            if secret_next {
                s.edit(at, at + t.len(), With::Redacted);
                secret_next = false;
                continue;
            }
            if n == 0
                && !is(t, START)
                && !is(t, SECRET)
                && t.bytes().all(is_key_byte)
                && is_secret_name(t)
            {
                let after = at + t.len();
                let mut v = after;
                while v < end && is_blank(bytes[v]) {
                    v += 1;
                }
                if v > after && v < end && !matches!(bytes[v], b'=' | b':') {
                    s.edit(v, end, With::Redacted);
                    break;
                }
            }
            netrc |= is(t, START) || (n == 0 && is(t, SECRET));
            secret_next = netrc && is(t, SECRET);
        }
        start = s.next_line(start);
    }
}
