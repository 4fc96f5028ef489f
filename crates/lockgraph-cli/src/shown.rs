//! Paths as messages show them.
//!
//! `Path::display` prints each byte of a file name that is not UTF-8 as
//! U+FFFD, so that two names that differ only there look alike, and the
//! name printed is not one a user can type. Messages show such a byte as
//! `\xNN` instead (two upper-case hexadecimal digits, as Rust's `Debug`
//! of an `OsStr` writes it); a name that is UTF-8 is shown as it is.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;

/// A path or file name shown with `\xNN` for each byte that is not UTF-8
/// (see the module's doc).
///
/// ```
/// # #[cfg(unix)] {
/// use std::os::unix::ffi::OsStrExt as _;
/// use lockgraph_cli::ShowPath as _;
/// let p = std::path::Path::new(std::ffi::OsStr::from_bytes(b"rec/a\xff.jsonl"));
/// assert_eq!(p.shown().to_string(), "rec/a\\xFF.jsonl");
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ShownPath<'a>(&'a OsStr);

impl fmt::Display for ShownPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.as_encoded_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// [`ShownPath`] for paths and file names: `path.shown()` where
/// `path.shown()` would print U+FFFD.
pub trait ShowPath {
    /// The path as messages show it.
    fn shown(&self) -> ShownPath<'_>;
}

impl ShowPath for Path {
    fn shown(&self) -> ShownPath<'_> {
        ShownPath(self.as_os_str())
    }
}

impl ShowPath for OsStr {
    fn shown(&self) -> ShownPath<'_> {
        ShownPath(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utf8_path_is_shown_as_it_is() {
        assert_eq!(
            Path::new("rec/a b é.jsonl").shown().to_string(),
            "rec/a b é.jsonl"
        );
    }

    #[cfg(unix)]
    #[test]
    fn bytes_that_are_not_utf8_are_shown_as_escapes() {
        use std::os::unix::ffi::OsStrExt as _;
        let p = Path::new(OsStr::from_bytes(b"d\xfe/\xe9t\xc3\xa9\xff.jsonl"));
        assert_eq!(p.shown().to_string(), "d\\xFE/\\xE9té\\xFF.jsonl");
        // Two names that `display` prints alike are told apart.
        let a = Path::new(OsStr::from_bytes(b"\xfe"));
        let b = Path::new(OsStr::from_bytes(b"\xff"));
        assert_eq!(a.display().to_string(), b.display().to_string());
        assert_ne!(a.shown().to_string(), b.shown().to_string());
    }
}
