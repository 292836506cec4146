//! Session pseudonyms: the PSN's session id is a bearer handle for the
//! endpoint's posture session, so a bundle never carries it verbatim. Each
//! distinct id becomes `[session-N]`, the same label in every part of one
//! bundle (numbered in the order the ids were first seen), so that support
//! can still follow one session through logs, status and history.
//!
//! Ids are found where the agent writes them (`session=`, `"session":`,
//! `session_id`, `last_session_id`, `X-Posture-Session:`, `<session
//! id="..."/>`, `SessionId("...")`); every id found that way is then also
//! replaced wherever else it appears as a whole word (not next to a letter
//! or digit), when it is at least [`MIN_KNOWN`] characters long.

use std::collections::HashMap;

use super::{Scan, With};

/// Longest session id (`posture_protocol::SessionId::MAX_LEN`).
pub(super) const MAX_ID: usize = posture_protocol::SessionId::MAX_LEN;

/// Shortest id replaced outside the places where the agent writes ids:
/// shorter ones (`s1`) would hit ordinary words and numbers.
pub(super) const MIN_KNOWN: usize = 4;

/// Whether `b` may appear in a session id (`A-Z a-z 0-9 . _ ~ - /`).
pub(super) fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-' | b'/')
}

/// The ids seen so far and their labels.
#[derive(Debug, Default, Clone)]
pub(super) struct Sessions {
    labels: HashMap<String, usize>,
    order: Vec<String>,
}

impl Sessions {
    /// The label number of `id`, a new one if it was not seen before.
    pub(super) fn label_of(&mut self, id: &str) -> usize {
        if let Some(&n) = self.labels.get(id) {
            return n;
        }
        self.order.push(id.to_string());
        let n = self.order.len();
        self.labels.insert(id.to_string(), n);
        n
    }

    /// The label of `id`, if it was seen.
    pub(super) fn label(&self, id: &str) -> Option<String> {
        self.labels.get(id).map(|&n| label(n))
    }
}

/// The text that replaces the `n`th id.
pub(super) fn label(n: usize) -> String {
    format!("[session-{n}]")
}

/// `SessionId("...")` (the id's `Debug` form), then every id seen so far
/// wherever it appears as a whole word.
pub(super) fn known(s: &mut Scan<'_>, sessions: &mut Sessions) {
    const DEBUG: &str = "sessionid(\"";
    let mut pos = 0;
    while let Some(i) = s.find_lower(DEBUG, pos) {
        let start = i + DEBUG.len();
        pos = start;
        let bytes = s.bytes();
        let mut e = start;
        while e < bytes.len() && e - start <= MAX_ID && is_id_byte(bytes[e]) {
            e += 1;
        }
        if e > start && bytes.get(e) == Some(&b'"') {
            let n = sessions.label_of(&s.text()[start..e]);
            s.edit(start, e, With::Session(n));
        }
    }
    let text = s.text();
    let bytes = s.bytes();
    for (n, id) in sessions.order.iter().enumerate() {
        if id.len() < MIN_KNOWN {
            continue;
        }
        for (i, _) in text.match_indices(id.as_str()) {
            let e = i + id.len();
            let alone = (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                && bytes.get(e).is_none_or(|b| !b.is_ascii_alphanumeric());
            if alone {
                s.edit(i, e, With::Session(n + 1));
            }
        }
    }
}
