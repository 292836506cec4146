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
            other => write!(f, "{}:{}: {other}: {}", self.line, self.column, self.message),
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
#[derive(Debug)]
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        // The offset may fall inside a multi-byte character when it comes from
        // the XML reader's error position; count whole characters before it.
        let column = self
            .text
            .get(start..)
            .map(|rest| rest.char_indices().take_while(|(i, _)| start + i < offset).count())
            .unwrap_or(0);
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
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
    fn display_prefixes_severity_for_warnings_only() {
        let e = Diagnostic::error(Pos { line: 3, column: 5 }, "boom");
        assert_eq!(e.to_string(), "3:5: boom");
        let w = Diagnostic::new(Severity::Warning, Pos::START, "hmm").with_help("do x");
        assert_eq!(w.to_string(), "1:1: warning: hmm");
        assert_eq!(w.render(Path::new("p.xml")), "p.xml:1:1: warning: hmm\n  help: do x");
    }
}
