//! Where things are in a scenario file: byte offsets to line and column, and
//! the error type that carries them. Every error a user can fix names the
//! file, line and column of the offending value.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// The text of a scenario file, for turning spans into positions.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

impl Source {
    /// Line and column of byte offset `at`.
    pub fn pos(&self, at: usize) -> Pos {
        let at = at.min(self.text.len());
        let before = self.text.get(..at).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Pos { line, col }
    }

    /// An error at byte offset `at`.
    pub fn error_at(&self, at: usize, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.path.clone(),
            pos: Some(self.pos(at)),
            message: message.into(),
        }
    }
}

/// A scenario could not be run (as opposed to an expectation that failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The scenario file.
    pub file: PathBuf,
    /// Where in it, when the error is about a place in the file.
    pub pos: Option<Pos>,
    /// What is wrong, with the offending value.
    pub message: String,
}

impl ScenarioError {
    /// An error about the file as a whole.
    pub fn whole(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            pos: None,
            message: message.into(),
        }
    }

    /// An error at a known position.
    pub fn at(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            pos: Some(pos),
            message: message.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(pos) => write!(f, "{}:{pos}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_character_columns() {
        let s = Source {
            path: "x.toml".into(),
            text: "a = 1\nb = \"é\" x\n".into(),
        };
        assert_eq!(s.pos(0), Pos { line: 1, col: 1 });
        assert_eq!(s.pos(6), Pos { line: 2, col: 1 });
        // `x` follows a two-byte character.
        let x = s.text.find('x').unwrap();
        assert_eq!(s.pos(x), Pos { line: 2, col: 9 });
        assert_eq!(
            s.error_at(x, "bad").to_string(),
            "x.toml:2:9: bad".to_owned()
        );
    }
}
