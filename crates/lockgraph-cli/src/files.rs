//! Listing the input files named on the command line: a directory gives
//! its files whose names match (not recursively), a file is taken as it is.
//! Only regular files are read: a FIFO or a device named like a record
//! would block the reader forever (opening a FIFO waits for a writer).

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::shown::ShowPath as _;

/// The files to read, sorted and free of duplicates, and what was skipped.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    pub(crate) files: Vec<PathBuf>,
    /// One line per directory entry that matched but is not a regular file.
    pub(crate) warnings: Vec<String>,
}

fn not_regular(path: &Path) -> Error {
    Error::Path {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
    }
}

/// Lists `paths`: directories contribute their entries whose file name
/// `matches` (regular files only; other matching entries, a subdirectory
/// named like a record file too, are skipped with a warning), other paths
/// must be regular files.
pub(crate) fn list(paths: &[PathBuf], matches: impl Fn(&OsStr) -> bool) -> Result<Listed, Error> {
    let path_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Path { path: p, source }
    };
    let mut out = Listed::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(path_err(p))?;
        if meta.is_file() {
            out.files.push(p.clone());
            continue;
        }
        if !meta.is_dir() {
            return Err(not_regular(p));
        }
        for entry in std::fs::read_dir(p).map_err(path_err(p))? {
            let entry = entry.map_err(path_err(p))?;
            if !matches(&entry.file_name()) {
                continue;
            }
            let path = entry.path();
            // Follows symbolic links: a link to a record file is read.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => out.files.push(path),
                Ok(m) if m.is_dir() => out.warnings.push(format!(
                    "{}: skipped: a directory (only the files of a directory named are read, \
                     not those below it)",
                    path.shown()
                )),
                Ok(_) => out
                    .warnings
                    .push(format!("{}: skipped: not a regular file", path.shown())),
                // A dangling link: reading it says what is wrong.
                Err(_) => out.files.push(path),
            }
        }
    }
    out.files.sort();
    out.files.dedup();
    // One file named twice (a directory and its `./` spelling, a link, a
    // hard link) is read once: the first of its names, in sorted order.
    let mut seen = std::collections::HashSet::new();
    out.files.retain(|f| match file_id(f) {
        Some(id) => seen.insert(id),
        None => true,
    });
    Ok(out)
}

/// The file's identity (device and inode), following links; `None` where
/// it cannot be read (the reader then says what is wrong).
#[cfg(unix)]
pub(crate) fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub(crate) fn file_id(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// The most an order or baseline file may hold: far more than any real
/// one, and a `/dev/zero` named by mistake ends here, not in the OOM killer.
pub(crate) const SMALL_FILE_LIMIT: u64 = 64 << 20;

/// Reads a regular file of at most [`SMALL_FILE_LIMIT`] bytes: a FIFO
/// (which would block until a writer came) or a device is refused before it
/// is opened, and a longer file after the limit is read.
pub(crate) fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    let f = std::fs::File::open(path)?;
    io::Read::read_to_end(&mut io::Read::take(f, SMALL_FILE_LIMIT + 1), &mut bytes)?;
    if bytes.len() as u64 > SMALL_FILE_LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} MiB", SMALL_FILE_LIMIT >> 20),
        ));
    }
    Ok(bytes)
}

/// Where `bytes` stop being UTF-8 text and why, for a file's error
/// message: the 1-based line and column of the first byte that is not
/// (after a UTF-8 byte-order mark, as editors count), and what it is.
pub(crate) fn not_utf8(bytes: &[u8], e: std::str::Utf8Error) -> ((usize, usize), String) {
    let good = &bytes[..e.valid_up_to()];
    // The valid prefix is UTF-8 by definition.
    let prefix = std::str::from_utf8(good).unwrap_or_default();
    let prefix = prefix.strip_prefix('\u{feff}').unwrap_or(prefix);
    let message = match bytes.get(e.valid_up_to()) {
        Some(b) if e.error_len().is_some() => {
            format!("not UTF-8 text: byte 0x{b:02x} is not part of a UTF-8 character")
        }
        _ => "not UTF-8 text: the file ends inside a character".to_string(),
    };
    (crate::position::line_col(prefix, prefix.len()), message)
}

/// Refuses a path that is not a regular file (checked before opening it).
pub(crate) fn check_regular(path: &Path) -> Result<(), Error> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(not_regular(path)),
        _ => Ok(()),
    }
}
