//! Private key blocks: PEM (`-----BEGIN ... PRIVATE KEY-----`, any variant:
//! RSA, EC, DSA, ENCRYPTED, OPENSSH), PGP private and secret key blocks,
//! SSH2 (`---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`) and PuTTY key files.
//! Certificates and public keys stay.

use super::{Scan, With};

/// Labels that make a `BEGIN` block secret (lowercase).
const SECRET_LABELS: &[&str] = &["private key", "secret key"];

/// Longest `BEGIN` label looked at.
const MAX_LABEL: usize = 80;

pub(super) fn private_keys(s: &mut Scan<'_>) {
    let mut pos = 0;
    while let Some(i) = s.find_lower("begin ", pos) {
        pos = i + 6;
        // `-----BEGIN` or `---- BEGIN` (SSH2).
        let before = &s.bytes()[..i];
        let dashes = before.strip_suffix(b" ").unwrap_or(before);
        if !dashes.ends_with(b"----") {
            continue;
        }
        let line_end = s.line_end(i);
        let limit = line_end.min(pos + MAX_LABEL);
        let Some(label_len) = s.bytes()[pos..limit].iter().position(|&b| b == b'-') else {
            continue;
        };
        let label = s.lower()[pos..pos + label_len].trim().to_string();
        if !SECRET_LABELS.iter().any(|l| label.contains(l)) {
            continue;
        }
        let body = skip_dashes(s.bytes(), pos + label_len);
        let end_marker = format!("end {label}");
        let (end, next) = match s.find_lower(&end_marker, body) {
            Some(e) => {
                let mut start = e;
                while start > body && matches!(s.bytes()[start - 1], b'-' | b' ') {
                    start -= 1;
                }
                (start, e + end_marker.len())
            }
            // Truncated: everything to the end goes.
            None => (s.len(), s.len()),
        };
        s.edit(body, end, With::Spaced);
        pos = next.max(pos);
    }
    putty(s);
}

fn skip_dashes(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b'-' | b' ') {
        i += 1;
    }
    i
}

/// PuTTY key files: everything after the header line up to the end of the
/// `Private-MAC:` (or v1 `Private-Hash:`) line goes, or to the end of the
/// text when there is none. A `Private-Lines:` fragment without its header
/// loses the base64 lines that follow it.
fn putty(s: &mut Scan<'_>) {
    let mut pos = 0;
    while let Some(i) = s.find_lower("putty-user-key-file-", pos) {
        let body = s.next_line(i);
        let mac = [
            s.find_lower("private-mac:", body),
            s.find_lower("private-hash:", body),
        ]
        .into_iter()
        .flatten()
        .min();
        let end = mac.map_or(s.len(), |m| s.line_end(m));
        s.edit(body, end, With::Redacted);
        pos = end.max(i + 1);
    }
    let mut pos = 0;
    while let Some(i) = s.find_lower("private-lines:", pos) {
        let start = i + "private-lines:".len();
        let mut end = s.line_end(i);
        loop {
            let next = s.next_line(end);
            if next >= s.len() {
                break;
            }
            let line_end = s.line_end(next);
            let line = s.text()[next..line_end].trim();
            let base64 = !line.is_empty()
                && line
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
            if !base64 {
                break;
            }
            end = line_end;
        }
        s.edit(start, end, With::Redacted);
        pos = end.max(start);
    }
}
