//! `lockgraph test -- <command>`: runs a command with recording on, into a
//! record directory that is kept, then checks what it recorded.
//!
//! The directory is `--record-dir`, by default `lockgraph` in Cargo's
//! target directory (`$CARGO_TARGET_DIR`, else `target` under the current
//! directory), so that `lockgraph check target/lockgraph` can read the same
//! records again. The record and profile files a previous run left there
//! are removed first unless `--append` is given; nothing else in it is
//! touched.
//!
//! The exit status rule: when the command fails, `lockgraph test` exits with
//! the command's own exit code (128 + the signal number when a signal killed
//! it, as shells do), after printing the check all the same; when the command
//! succeeds, it exits with the check's code (0 clean, 1 findings, 2 input
//! error). See [`final_exit_code`].

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use anyhow::Context;

/// The environment variable that turns recording on.
pub(crate) const RECORD_ENV: &str = "LOCKGRAPH_RECORD";

/// The environment variable that turns the contention profile on
/// (`lockgraph test --profile` sets it to `1`).
pub(crate) const PROFILE_ENV: &str = "LOCKGRAPH_PROFILE";

/// The default record directory: `lockgraph` in `$CARGO_TARGET_DIR`, else in
/// `target` under the current directory.
pub(crate) fn default_record_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("lockgraph")
}

/// Whether a file name is one the runtime writes into a record directory:
/// `lockgraph-<pid>-<nanos>.jsonl` or `lockgraph-profile-<pid>.json`.
/// Nothing else: a watchdog's `lockgraph-watchdog-<host>-<pid>.jsonl`, a
/// baseline or notes named `lockgraph-*.json` beside them are not the
/// runtime's records and are never removed.
pub(crate) fn is_lockgraph_file(name: &OsStr) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.to_str().is_some_and(|n| {
        if let Some(pid) = n
            .strip_prefix("lockgraph-profile-")
            .and_then(|r| r.strip_suffix(".json"))
        {
            return digits(pid);
        }
        n.strip_prefix("lockgraph-")
            .and_then(|r| r.strip_suffix(".jsonl"))
            .and_then(|r| r.split_once('-'))
            .is_some_and(|(pid, nanos)| digits(pid) && digits(nanos))
    })
}

/// Makes the record directory (absolute, so that every process of the
/// command finds it whatever its working directory) and, unless `append`,
/// removes the record and profile files in it. Returns its absolute path
/// and how many files were removed.
pub(crate) fn prepare(dir: &Path, append: bool) -> anyhow::Result<(PathBuf, usize)> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the record directory {}", dir.display()))?;
    let dir =
        std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let mut removed = 0;
    if !append {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list the record directory {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && is_lockgraph_file(&entry.file_name()) {
                std::fs::remove_file(entry.path()).with_context(|| {
                    format!("cannot remove the old record {}", entry.path().display())
                })?;
                removed += 1;
            }
        }
    }
    Ok((dir, removed))
}

/// How many record or profile files `dir` holds.
pub(crate) fn recorded_files(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        if is_lockgraph_file(&entry?.file_name()) {
            n += 1;
        }
    }
    Ok(n)
}

/// Why `lockgraph test` could not run the command.
#[derive(Debug)]
pub(crate) struct SpawnError {
    program: String,
    source: io::Error,
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "could not run `{}`: {}",
            self.program,
            lower(&self.source)
        )
    }
}

impl std::error::Error for SpawnError {}

/// An I/O error's message in lower case, without the "(os error N)" suffix.
fn lower(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s.find(" (os error").map_or(s.as_str(), |i| &s[..i]);
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Runs `command` (program and arguments) with `LOCKGRAPH_RECORD` set to
/// `dir`, more variables from `env`, and the standard streams inherited,
/// and waits for it.
pub(crate) fn run_recorded(
    command: &[OsString],
    dir: &Path,
    env: &[(&str, &str)],
) -> Result<ExitStatus, SpawnError> {
    let Some((program, args)) = command.split_first() else {
        return Err(SpawnError {
            program: String::new(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "no command given"),
        });
    };
    Command::new(program)
        .args(args)
        .env(RECORD_ENV, dir)
        .envs(env.iter().copied())
        .status()
        .map_err(|source| SpawnError {
            program: program.to_string_lossy().into_owned(),
            source,
        })
}

/// `None` when the command succeeded, else the exit code that stands for its
/// failure: its own code, or 128 + the signal that killed it; a code outside
/// 1..=255 (possible on some platforms) becomes 1.
pub(crate) fn command_failure(status: &ExitStatus) -> Option<u8> {
    if status.success() {
        return None;
    }
    let code = match status.code() {
        Some(c) => c,
        None => signal(status).map_or(1, |s| 128 + s),
    };
    Some(u8::try_from(code).ok().filter(|&c| c != 0).unwrap_or(1))
}

#[cfg(unix)]
fn signal(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal(_: &ExitStatus) -> Option<i32> {
    None
}

/// `lockgraph test`'s exit code: the command's failure code wins; otherwise
/// the check's code.
pub(crate) fn final_exit_code(command_failure: Option<u8>, check_code: u8) -> u8 {
    command_failure.unwrap_or(check_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_failure_wins() {
        assert_eq!(final_exit_code(None, 0), 0);
        assert_eq!(final_exit_code(None, 1), 1);
        assert_eq!(final_exit_code(None, 2), 2);
        assert_eq!(final_exit_code(Some(101), 0), 101);
        assert_eq!(final_exit_code(Some(101), 1), 101);
        assert_eq!(final_exit_code(Some(3), 2), 3);
    }

    #[cfg(unix)]
    #[test]
    fn exit_codes_and_signals() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(command_failure(&ExitStatus::from_raw(0)), None);
        assert_eq!(command_failure(&ExitStatus::from_raw(101 << 8)), Some(101));
        assert_eq!(command_failure(&ExitStatus::from_raw(9)), Some(137));
    }

    #[test]
    fn only_lockgraph_files_are_cleared() {
        let d = tempfile::tempdir().unwrap();
        for name in [
            "lockgraph-1-2.jsonl",
            "lockgraph-profile-1.json",
            "notes.txt",
            "lockgraph.toml",
            // Not the runtime's records: a watchdog's file, a baseline.
            "lockgraph-watchdog-host-7.jsonl",
            "lockgraph-baseline.json",
            "lockgraph-notes.json",
            "lockgraph-1-2-3.jsonl",
        ] {
            std::fs::write(d.path().join(name), "x").unwrap();
        }
        assert_eq!(recorded_files(d.path()).unwrap(), 2);
        let (abs, removed) = prepare(d.path(), true).unwrap();
        assert!(abs.is_absolute());
        assert_eq!(removed, 0);
        let (_, removed) = prepare(d.path(), false).unwrap();
        assert_eq!(removed, 2);
        assert_eq!(recorded_files(d.path()).unwrap(), 0);
        assert!(d.path().join("notes.txt").exists());
        assert!(d.path().join("lockgraph.toml").exists());
        for kept in [
            "lockgraph-watchdog-host-7.jsonl",
            "lockgraph-baseline.json",
            "lockgraph-notes.json",
            "lockgraph-1-2-3.jsonl",
        ] {
            assert!(d.path().join(kept).exists(), "{kept} was removed");
        }
    }
}
