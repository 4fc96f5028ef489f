//! Checks on an output file (`-o`) made before a command runs: that it can
//! be written where it is named, and that it is not one of the command's
//! inputs.

use std::path::{Path, PathBuf};

use lockgraph_cli::ShowPath as _;

use super::output_file::{dir_of, why_not};

/// Refuses, before the command runs, an output file (`-o`) that cannot be
/// written where it is named: its directory does not exist, is not one,
/// or may not be written in by this user (or is on a read-only file
/// system), or the name is a directory; `what` names the output ("the
/// report"). The output would otherwise be lost, or sent to standard
/// output, at the end of a long check. The reasons are worded as when a
/// write fails at the end (`output_file::why_not`).
pub(crate) fn writable_output(output: Option<&Path>, what: &str) -> anyhow::Result<()> {
    let Some(output) = output else {
        return Ok(());
    };
    let refuse = |e: &std::io::Error| {
        anyhow::anyhow!("-o {}: {}", output.shown(), why_not(output, e, what, true))
    };
    let dir = dir_of(output);
    match std::fs::metadata(output) {
        Ok(m) if m.is_dir() => {
            return Err(refuse(&std::io::Error::from(
                std::io::ErrorKind::IsADirectory,
            )))
        }
        // A device or a FIFO is written directly, whatever its directory.
        Ok(m) if !m.is_file() => return Ok(()),
        _ => {}
    }
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(refuse(&std::io::Error::from(
                std::io::ErrorKind::NotADirectory,
            )))
        }
        Err(e) => return Err(refuse(&e)),
    }
    // Written through a temporary file made beside it (beside the file a
    // link leads to): one made (and removed) now says whether this user may.
    let target = std::fs::canonicalize(output).ok();
    tempfile::Builder::new()
        .prefix(".lockgraph-probe.")
        .suffix(".tmp")
        .tempfile_in(target.as_deref().map_or(dir, dir_of))
        .map(drop)
        .map_err(|e| refuse(&e))
}

/// Refuses an output file (`-o`) that the command would read as an input
/// and overwrite: one of `inputs`, or a file named as the command's inputs
/// are (`reads`) in a directory among them. Compared by canonical path, so
/// that another spelling of the same file is caught, and, for a file that
/// exists, by identity (device and inode), so that a hard link of an input
/// (or of a file read in an input directory) is caught too.
pub(crate) fn not_an_input(
    output: Option<&Path>,
    inputs: &[PathBuf],
    reads: impl Fn(&std::ffi::OsStr) -> bool,
) -> anyhow::Result<()> {
    let Some(output) = output else {
        return Ok(());
    };
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    // The output's directory and name, whether the file exists yet or not.
    let out_dir = output
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .and_then(canonical);
    let out_file = canonical(output);
    let reads_it = output.file_name().is_some_and(&reads);
    for input in inputs {
        let Some(input_c) = canonical(input) else {
            continue;
        };
        let same_file = out_file.as_ref() == Some(&input_c);
        let in_read_dir = reads_it && input_c.is_dir() && out_dir.as_ref() == Some(&input_c);
        if same_file || in_read_dir {
            anyhow::bail!(
                "-o {}: that file is an input of this command ({}); the report would overwrite \
                 what it reads: write it elsewhere",
                output.shown(),
                input.shown()
            );
        }
        if out_file.is_some() {
            if let Some(read) = hard_link_of(output, input, &reads) {
                let link = match std::fs::symlink_metadata(output) {
                    Ok(m) if m.file_type().is_symlink() => "a symbolic link to it",
                    _ => "a hard link of it",
                };
                anyhow::bail!(
                    "-o {}: that file is an input of this command under another name ({}: \
                     {link}); the report would overwrite what it reads: write it elsewhere",
                    output.shown(),
                    read.shown()
                );
            }
        }
    }
    Ok(())
}

/// The file of `input` that `output` (an existing file) is, by identity:
/// `input` itself, or one of its entries named as the command reads them
/// (`reads`) when it is a directory.
fn hard_link_of(
    output: &Path,
    input: &Path,
    reads: impl Fn(&std::ffi::OsStr) -> bool,
) -> Option<PathBuf> {
    if !input.is_dir() {
        return lockgraph_cli::same_file(output, input).then(|| input.to_path_buf());
    }
    // An unreadable directory is said when the command reads it.
    std::fs::read_dir(input)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| reads(&e.file_name()))
        .map(|e| e.path())
        .find(|p| lockgraph_cli::same_file(output, p))
}
