//! What a bundle could not collect, and why: one typed record per missing
//! part, made where the collector gives up on it and written as
//! `missing.txt` (and listed on the summary page), instead of a part that
//! holds a note in place of its XML or JSON.

use std::fmt;

/// One part the bundle does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The part's name in the bundle (`profile.xml`, `logs/`, ...).
    pub part: String,
    /// Why, in words an administrator can act on.
    pub why: String,
}

impl Missing {
    /// A missing `part`, for `why`.
    pub fn new(part: impl Into<String>, why: impl Into<String>) -> Missing {
        Missing {
            part: part.into(),
            why: why.into(),
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.part, self.why)
    }
}

/// The name of the part.
pub const MISSING_FILE: &str = "missing.txt";

/// `missing.txt`: a header and one line per missing part.
pub fn text(missing: &[Missing]) -> String {
    let mut out =
        String::from("# Parts this bundle does not hold, and why (one per line: part: reason).\n");
    for m in missing {
        out.push_str(&m.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_missing_part() {
        let t = text(&[
            Missing::new("profile.xml", "no profile given"),
            Missing::new("known-psns.json", "none yet"),
        ]);
        assert_eq!(
            t.lines().skip(1).collect::<Vec<_>>(),
            ["profile.xml: no profile given", "known-psns.json: none yet"]
        );
    }
}
