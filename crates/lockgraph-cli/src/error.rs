//! The errors of the checker: every one names the file it is about and, where
//! there is one, the line.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::shown::ShowPath as _;

/// A problem with one record file: unreadable, malformed, too large.
#[derive(Debug)]
#[non_exhaustive]
pub struct RecordError {
    /// The record file.
    pub path: PathBuf,
    /// The 1-based line the problem is on; `None` only when the file could not
    /// be opened or inspected at all.
    pub line: Option<u64>,
    /// What is wrong, in lower case.
    pub message: String,
}

impl RecordError {
    pub(crate) fn at(path: &Path, line: u64, message: impl Into<String>) -> RecordError {
        RecordError {
            path: path.to_path_buf(),
            line: Some(line),
            message: message.into(),
        }
    }

    pub(crate) fn file(path: &Path, message: impl Into<String>) -> RecordError {
        RecordError {
            path: path.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.shown(), self.message),
            None => write!(f, "{}: {}", self.path.shown(), self.message),
        }
    }
}

impl std::error::Error for RecordError {}

/// Everything that makes a check fail with an input or usage error (exit 2).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A record file is unreadable or malformed.
    Record(RecordError),
    /// A path given on the command line does not exist, cannot be listed,
    /// or is not a regular file or directory.
    Path {
        /// The path as given.
        path: PathBuf,
        /// Why it cannot be used.
        source: io::Error,
    },
    /// The order file is unreadable, not TOML, or not an order.
    Order {
        /// The order file.
        path: PathBuf,
        /// The 1-based line and column of the problem, when known.
        position: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
    /// The baseline file is unreadable or not a baseline.
    Baseline {
        /// The baseline file.
        path: PathBuf,
        /// The 1-based line and column of the problem, when known.
        position: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
    /// `lockgraph hang` found no usable watchdog file (each skipped one is
    /// named in the message).
    Hang(String),
    /// A profile file is unreadable or not a profile.
    Profile {
        /// The profile file.
        path: PathBuf,
        /// The 1-based line and column of the problem, when known.
        position: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
}

fn position(f: &mut fmt::Formatter<'_>, path: &Path, pos: Option<(usize, usize)>) -> fmt::Result {
    match pos {
        Some((line, col)) => write!(f, "{}:{line}:{col}", path.shown()),
        None => write!(f, "{}", path.shown()),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Record(e) => e.fmt(f),
            Error::Hang(message) => f.write_str(message),
            Error::Path { path, source } => write!(f, "{}: {}", path.shown(), lower(source)),
            Error::Order {
                path,
                position: pos,
                message,
            } => {
                position(f, path, *pos)?;
                write!(f, ": invalid order file: {message}")
            }
            Error::Baseline {
                path,
                position: pos,
                message,
            } => {
                position(f, path, *pos)?;
                write!(f, ": invalid baseline: {message}")
            }
            Error::Profile {
                path,
                position: pos,
                message,
            } => {
                position(f, path, *pos)?;
                write!(f, ": invalid profile: {message}")
            }
        }
    }
}

// The messages above already include their causes, so `source` stays empty:
// printing the chain would repeat them.
impl std::error::Error for Error {}

impl From<RecordError> for Error {
    fn from(e: RecordError) -> Error {
        Error::Record(e)
    }
}

/// An I/O error's message in lower case, without the "(os error N)" suffix.
pub(crate) fn lower(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => &s[..i],
        None => &s,
    };
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
