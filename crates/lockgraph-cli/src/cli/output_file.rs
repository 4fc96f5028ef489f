//! Writing a command's output to its `-o` file, for every command that has
//! one (`check` in every format, `test`, `baseline`, `profile`, `hang`).
//!
//! The output is written whole to a temporary file beside the target
//! (`.NAME.XXXXXX.tmp` in the same directory, a name no command reads as
//! an input), flushed to the disk, and only then renamed over the target:
//! a failed write (a full disk, a quota) never destroys the old file or
//! leaves a cut one that looks whole, and the temporary file is removed.
//! The new file keeps the old one's permissions. A target that exists and
//! is not a regular file (a device such as `/dev/stdout`, a FIFO) is
//! written directly, as there is nothing to rename over.
//!
//! When the file cannot be written, [`write_or_stdout`] writes the output
//! to standard output instead and fails with [`OnStandardOutput`], so that
//! the command exits 2 (the output was not where it was asked for) without
//! losing what it found.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use lockgraph_cli::io_error_text as lower;
use lockgraph_cli::ShowPath as _;

/// The error of an output whose `-o` file could not be written: it went to
/// standard output instead (or was lost there too). `test --profile` then
/// keeps its profile off standard output, as it does when the report was
/// meant for it.
#[derive(Debug)]
pub(crate) struct OnStandardOutput(String);

impl std::fmt::Display for OnStandardOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OnStandardOutput {}

/// Writes `bytes` to `path` (see the module's doc); when that fails,
/// writes them to standard output and says so: `what` names them ("the
/// report", "the baseline").
pub(crate) fn write_or_stdout(path: &Path, bytes: &[u8], what: &str) -> anyhow::Result<()> {
    let Err(why) = write(path, bytes, what) else {
        return Ok(());
    };
    let mut out = io::stdout().lock();
    let shown = out.write_all(bytes).and_then(|()| out.flush());
    // Built without the I/O errors, so that a closed standard output does
    // not hide it as a reader that went away.
    Err(OnStandardOutput(format!(
        "{why}; {}",
        if shown.is_ok() {
            format!("{what} was written to standard output instead")
        } else {
            format!("standard output is closed too: {what} is lost")
        }
    ))
    .into())
}

/// The directory an output file is written in (`.` for a bare name).
pub(crate) fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// What `e`, the error of making or writing output file `path` (`what`:
/// "the report"), means, in words that name the path at fault: the
/// directory that does not exist, the file in the way that is not a
/// directory, the directory this user may not write in, rather than the
/// system's "no such file or directory" about no path in particular.
/// `in_dir`: `e` came from making a file in `path`'s directory (its
/// temporary file), not from writing an existing device. The one wording
/// of every command's `-o`, refused before the command runs
/// (`outputs::writable_output`) or failed at the end ([`write`]).
pub(crate) fn why_not(path: &Path, e: &io::Error, what: &str, in_dir: bool) -> String {
    let dir = dir_of(path);
    match e.kind() {
        io::ErrorKind::NotFound if fs::metadata(dir).is_err() => match not_a_directory(path) {
            Some(file) => format!("{} is not a directory", file.shown()),
            None => format!(
                "its directory {} does not exist: create it first",
                dir.shown()
            ),
        },
        io::ErrorKind::NotADirectory => match not_a_directory(path) {
            Some(file) => format!("{} is not a directory", file.shown()),
            None => lower(e),
        },
        io::ErrorKind::IsADirectory => format!("that is a directory: name a file for {what}"),
        io::ErrorKind::PermissionDenied if in_dir => format!(
            "permission denied: this user may not create files in {}",
            dir.shown()
        ),
        io::ErrorKind::ReadOnlyFilesystem if in_dir => {
            format!("{} is on a read-only file system", dir.shown())
        }
        // The directory exists, and making a file in it found nothing
        // there: a file system that takes no new files (`/proc`, `/sys`).
        io::ErrorKind::NotFound if in_dir => format!(
            "cannot make a file in {} ({}): it takes no new files (a virtual file system?); \
             write {what} elsewhere",
            dir.shown(),
            lower(e)
        ),
        _ => lower(e),
    }
}

/// The nearest directory above `path` that exists and is not a directory
/// (`afile` of `afile/sub/out.txt`).
fn not_a_directory(path: &Path) -> Option<&Path> {
    path.ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty())
        .find(|p| fs::metadata(p).is_ok_and(|m| !m.is_dir()))
}

/// Writes `bytes` to `path` through a temporary file renamed over it. The
/// error is the whole message: "cannot write PATH: why" (in the words of
/// [`why_not`]; `what` names the output), and "; PATH is unchanged" when
/// it existed.
pub(crate) fn write(path: &Path, bytes: &[u8], what: &str) -> Result<(), String> {
    // Through links to the file they lead to: the link stays a link.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let old = fs::metadata(&target).ok();
    let fail = |why: String| match old {
        Some(_) => format!(
            "cannot write {}: {why}; {} is unchanged",
            path.shown(),
            path.shown()
        ),
        None => format!("cannot write {}: {why}", path.shown()),
    };
    match &old {
        Some(m) if m.is_dir() => {
            return Err(format!(
                "cannot write {}: that is a directory: name a file for {what}",
                path.shown()
            ));
        }
        // A device or a FIFO: nothing to rename over.
        Some(m) if !m.is_file() => {
            return File::create(&target)
                .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
                .map_err(|e| {
                    format!(
                        "cannot write {}: {}",
                        path.shown(),
                        why_not(path, &e, what, false)
                    )
                });
        }
        _ => {}
    }
    let dir = dir_of(&target).to_path_buf();
    let name = target
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // As `File::create` makes a file (the umask applies), not the
    // temporary file's default of owner-only.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(&dir).map_err(|e| match old {
        // The file may be writable where its directory is not.
        Some(_) => fail(format!(
            "cannot create a temporary file beside it in {} (written whole first, then renamed \
             over it): {}",
            dir.shown(),
            lower(&e)
        )),
        None => fail(why_not(path, &e, what, true)),
    })?;
    // Dropping `tmp` on an error removes the temporary file.
    let written = tmp
        .write_all(bytes)
        .and_then(|()| tmp.flush())
        .and_then(|()| match &old {
            Some(m) => tmp.as_file().set_permissions(m.permissions()),
            None => Ok(()),
        })
        .and_then(|()| tmp.as_file().sync_all());
    if let Err(e) = written {
        return Err(fail(lower(&e)));
    }
    tmp.persist(&target).map(drop).map_err(|e| {
        fail(format!(
            "cannot rename the file written over it: {}",
            lower(&e.error)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_file_is_replaced_whole_and_nothing_is_left_beside_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.txt");
        write(&p, b"first", "the report").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        }
        write(&p, b"second, longer", "the report").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second, longer");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640);
        }
        assert_eq!(names(d.path()), ["r.txt"]);
    }

    /// A write that fails (here: its directory cannot be written in, as on
    /// a full disk nothing can be) leaves the old file as it was and no
    /// temporary file, and says both.
    #[cfg(unix)]
    #[test]
    fn a_failed_write_leaves_the_old_file_whole() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.txt");
        fs::write(&p, b"old").unwrap();
        // Through a link, the link's target is written and the link kept.
        let link = d.path().join("link.txt");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        write(&link, b"new", "the report").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&p).unwrap(), b"new");
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o500)).unwrap();
        // Root writes anyway: then there is nothing to see.
        let denied = fs::File::create(d.path().join("probe")).is_err();
        let e = write(&p, b"newer", "the report");
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).unwrap();
        if denied {
            let e = e.unwrap_err();
            assert!(
                e.starts_with(&format!("cannot write {}: ", p.shown())),
                "{e}"
            );
            assert!(e.ends_with("r.txt is unchanged"), "{e}");
            assert_eq!(fs::read(&p).unwrap(), b"new");
        }
        let mut left = names(d.path());
        left.retain(|n| n != "probe");
        assert_eq!(left, ["link.txt", "r.txt"]);
    }

    /// A device has nothing to rename over: it is written directly (here
    /// /dev/full, which refuses, and is left a device).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_device_is_written_directly() {
        let e = write(Path::new("/dev/full"), b"x", "the report").unwrap_err();
        assert!(
            e.starts_with("cannot write /dev/full: no space left on device"),
            "{e}"
        );
        assert!(!fs::metadata("/dev/full").unwrap().is_file());
        write(Path::new("/dev/null"), b"x", "the report").unwrap();
    }
}
