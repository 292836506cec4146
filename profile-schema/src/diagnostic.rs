//! Diagnostics (errors, warnings, notes with line and column) and load errors.

use std::fmt;
use std::path::{Path, PathBuf};

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The profile is invalid and is rejected.
    Error,
    /// The profile is valid but probably not what the administrator wants.
    Warning,
    /// For information only (for example a key posture-sync does not know).
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem or remark about a profile, at a line and column (both 1-based,
/// the column counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The profile key concerned, when there is one.
    pub key: Option<String>,
    /// What is wrong and what is allowed, lowercase, no trailing period.
    pub message: String,
    /// What the administrator can do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(severity: Severity, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            line: pos.line,
            column: pos.column,
            key: None,
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn error(pos: Pos, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, pos, message)
    }

    pub(crate) fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The diagnostic as the CLI prints it: `FILE:LINE:COL: [severity: ]message`
    /// and, when there is help, a second line `  help: ...`.
    pub fn render(&self, file: &Path) -> String {
        let mut out = format!("{}:{self}", file.display());
        if let Some(help) = &self.help {
            out.push_str("\n  help: ");
            out.push_str(help);
        }
        out
    }
}

/// `LINE:COL: message` for errors; warnings and notes say so:
/// `LINE:COL: warning: message`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}:{}: {}", self.line, self.column, self.message),
            other => write!(
                f,
                "{}:{}: {other}: {}",
                self.line, self.column, self.message
            ),
        }
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// Turns byte offsets into lines and columns.
///
/// Lookups are usually in increasing order (the XML reader moves forward), so
/// the last answer is kept and the next column is counted from there: a long
/// single-line profile costs linear time, not a scan per lookup.
#[derive(Debug)]
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    /// The last lookup: byte offset (on a char boundary) and its position.
    last: std::cell::Cell<(usize, Pos)>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            text,
            starts,
            last: std::cell::Cell::new((0, Pos::START)),
        }
    }

    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let line_start = self.starts[line - 1];
        let line_no = u32::try_from(line).unwrap_or(u32::MAX);
        let (last_off, last_pos) = self.last.get();
        // Count from the cached point when it is on this line and not past
        // the offset; otherwise from the line start.
        let (from, base_col) =
            if last_pos.line == line_no && last_off >= line_start && last_off <= offset {
                (last_off, last_pos.column)
            } else {
                (line_start, 1)
            };
        // The offset may fall inside a multi-byte character when it comes from
        // the XML reader's error position; count whole characters before it.
        let mut end = from;
        let mut chars: u32 = 0;
        if let Some(rest) = self.text.get(from..) {
            for (i, c) in rest.char_indices() {
                if from + i >= offset {
                    break;
                }
                chars = chars.saturating_add(1);
                end = from + i + c.len_utf8();
            }
        }
        let pos = Pos {
            line: line_no,
            column: base_col.saturating_add(chars),
        };
        // The character starting at `end` is at `pos.column`, whether `end`
        // equals the offset or is just past a character containing it.
        self.last.set((end, pos));
        pos
    }
}

/// Why a profile file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is missing or unreadable: there is no profile.
    #[error("no profile at {}: {source}", path.display())]
    Read {
        /// The profile's path.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is larger than the size limit; it was not read.
    #[error("profile {} is {size} bytes, larger than the limit of {max} bytes", path.display())]
    TooLarge {
        /// The profile's path.
        path: PathBuf,
        /// Its size in bytes (at least; the file may still grow).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file was read but is not a valid profile.
    #[error("invalid profile {}: {}", path.display(), summarize(errors))]
    Invalid {
        /// The profile's path.
        path: PathBuf,
        /// Every error found, in file order.
        errors: Vec<Diagnostic>,
    },
}

fn summarize(errors: &[Diagnostic]) -> String {
    match errors {
        [] => "no details".to_owned(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more errors)", rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_characters_from_one() {
        let text = "ab\né€x\n\nz";
        let idx = LineIndex::new(text);
        assert_eq!(idx.pos(0), Pos { line: 1, column: 1 });
        assert_eq!(idx.pos(2), Pos { line: 1, column: 3 });
        assert_eq!(idx.pos(3), Pos { line: 2, column: 1 });
        // "é" is 2 bytes, "€" is 3: 'x' is at byte 3+5 = 8, column 3.
        assert_eq!(idx.pos(8), Pos { line: 2, column: 3 });
        assert_eq!(idx.pos(10), Pos { line: 3, column: 1 });
        assert_eq!(idx.pos(11), Pos { line: 4, column: 1 });
        assert_eq!(idx.pos(1000), Pos { line: 4, column: 2 });
    }

    #[test]
    fn line_index_answers_the_same_in_any_lookup_order() {
        let text = "<cfg>é€x<a/>\n  <b>ü</b>\n";
        let fresh = |o: usize| LineIndex::new(text).pos(o);
        let idx = LineIndex::new(text);
        let offsets: Vec<usize> = (0..=text.len())
            .chain((0..=text.len()).rev())
            .chain([7, 3, 12, 6, 6, 20])
            .collect();
        for o in offsets {
            assert_eq!(idx.pos(o), fresh(o), "offset {o}");
        }
    }

    #[test]
    fn display_prefixes_severity_for_warnings_only() {
        let e = Diagnostic::error(Pos { line: 3, column: 5 }, "boom");
        assert_eq!(e.to_string(), "3:5: boom");
        let w = Diagnostic::new(Severity::Warning, Pos::START, "hmm").with_help("do x");
        assert_eq!(w.to_string(), "1:1: warning: hmm");
        assert_eq!(
            w.render(Path::new("p.xml")),
            "p.xml:1:1: warning: hmm\n  help: do x"
        );
    }
}
