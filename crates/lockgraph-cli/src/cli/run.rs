//! `lockgraph test -- <command>`: runs a command with recording on, into a
//! record directory that is kept, then checks what it recorded.
//!
//! The directory is `--record-dir`, by default `lockgraph` in Cargo's
//! target directory (`$CARGO_TARGET_DIR`, else `target` under the current
//! directory), so that `lockgraph check target/lockgraph` can read the same
//! records again. The record and profile files a previous run left there
//! are removed first unless `--append` is given; nothing else in it is
//! touched. Refused before anything is removed or run: a record directory
//! that cannot be one (a file, a path through a file, a link to nothing,
//! one this user cannot write in), a report (`-o`) the run would read as
//! an input or remove, and an empty command.
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

use lockgraph_cli::io_error_text as lower;
use lockgraph_cli::ShowPath as _;

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

/// Makes the record directory if missing and returns its absolute path
/// (so that every process of the command finds it whatever its working
/// directory). Refused, with the path that is in the way: a record
/// directory that is a file (or a link to nothing), a path through a file
/// (`file/sub`), a directory that cannot be created, or one this user
/// cannot write in (the command's processes could not record there, and
/// the run would end in a misleading "nothing was recorded").
pub(crate) fn make_record_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let shown = dir.shown();
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => anyhow::bail!(
                "the record directory {shown} is {}, not a directory: name a directory with \
                 --record-dir",
                what(&m.file_type())
            ),
            Err(e) if meta.file_type().is_symlink() && e.kind() == io::ErrorKind::NotFound => {
                anyhow::bail!(
                    "the record directory {shown} is a link to {}, which does not exist: create \
                 that directory, or name another with --record-dir",
                    std::fs::read_link(dir).unwrap_or_default().shown()
                )
            }
            Err(e) => anyhow::bail!("cannot use the record directory {shown}: {}", lower(&e)),
        }
    }
    // A path through something that is not a directory (`file/sub`): name it.
    for above in dir.ancestors().skip(1) {
        if let Ok(m) = std::fs::metadata(above) {
            if !m.is_dir() {
                anyhow::bail!(
                    "cannot create the record directory {shown}: {} is {}, not a directory",
                    above.shown(),
                    what(&m.file_type())
                );
            }
            break;
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!("cannot create the record directory {shown}: {}", lower(&e))
    })?;
    let dir = std::path::absolute(dir)
        .map_err(|e| anyhow::anyhow!("cannot resolve {shown}: {}", lower(&e)))?;
    usable(&dir)?;
    Ok(dir)
}

/// A file type in words, as "the path is ..." says it.
fn what(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_file() {
        "a file"
    } else {
        "something else"
    }
}

/// Fails, naming `dir`, when it cannot be listed (the check could not find
/// the records) or a file cannot be created in it (tried with a file of its
/// own, not a name anything reads, removed at once).
fn usable(dir: &Path) -> anyhow::Result<()> {
    if let Err(e) = std::fs::read_dir(dir) {
        anyhow::bail!(
            "cannot list the record directory {}: {}; the check could not read the records",
            dir.shown(),
            lower(&e)
        );
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let probe = dir.join(format!(
        ".lockgraph-write-check-{}-{nanos}",
        std::process::id()
    ));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => anyhow::bail!(
            "cannot write in the record directory {}: {}; the command's processes could not \
             record there",
            dir.shown(),
            lower(&e)
        ),
    }
}

/// Removes the record and profile files an earlier run left in `dir`
/// (nothing else); how many.
pub(crate) fn clear_records(dir: &Path) -> anyhow::Result<usize> {
    let cannot_list = |e: io::Error| {
        anyhow::anyhow!(
            "cannot list the record directory {}: {}",
            dir.shown(),
            lower(&e)
        )
    };
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(cannot_list)? {
        let entry = entry.map_err(cannot_list)?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && is_lockgraph_file(&entry.file_name()) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                // Gone already (another run clearing the same directory).
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => anyhow::bail!(
                    "cannot remove the old record {}: {}",
                    entry.path().shown(),
                    lower(&e)
                ),
            }
        }
    }
    Ok(removed)
}

/// Refuses a report file (`-o`) that would be read as an input or removed:
/// in the record directory `dir` (absolute, existing), a `*.jsonl` file
/// (read as a record by this check and the next), a
/// `lockgraph-profile-*.json` one (read as a profile by `--profile` and by
/// `lockgraph profile`), a name the runtime gives its own records (removed
/// before the next run); and a directory. The path as spelled is looked at,
/// and where links there lead (even to a file not there yet). Any other
/// name in the record directory is the caller's.
pub(crate) fn output_outside_records(output: &Path, dir: &Path) -> anyhow::Result<()> {
    let shown = output.shown();
    let dir_c = std::fs::canonicalize(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot resolve the record directory {}: {}",
            dir.shown(),
            lower(&e)
        )
    })?;
    if std::fs::metadata(output).is_ok_and(|m| m.is_dir()) {
        let what = if std::fs::canonicalize(output).is_ok_and(|o| o == dir_c) {
            "that is the record directory"
        } else {
            "that is a directory"
        };
        anyhow::bail!("-o {shown}: {what}: name a file for the report");
    }
    for written in written_to(output) {
        let (Some(parent), Some(name)) = (written.parent(), written.file_name()) else {
            continue;
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if std::fs::canonicalize(parent).ok().as_ref() != Some(&dir_c) {
            continue;
        }
        let (files, kind) = if lockgraph_cli::is_record_name(name) {
            ("every *.jsonl file", "a record")
        } else if lockgraph_cli::profile::is_profile_name(name) {
            (
                "every lockgraph-profile-*.json file (with --profile, as `lockgraph profile` \
                 does)",
                "a profile",
            )
        } else {
            continue;
        };
        let removed = if is_lockgraph_file(name) {
            ", and deleted before the next run (the runtime's own name for one)"
        } else {
            ""
        };
        let via = if written.as_path() == output {
            String::new()
        } else {
            format!(" (a link to {})", written.shown())
        };
        anyhow::bail!(
            "-o {shown}{via} is in the record directory {}, where `lockgraph test` reads \
             {files} as {kind}: the report would be read as one{removed}; write it \
             elsewhere, or under another name",
            dir.shown()
        );
    }
    Ok(())
}

/// The paths a write to `path` may land on: `path` itself, then each link
/// it leads through, to the last (whether that exists or not).
fn written_to(path: &Path) -> Vec<PathBuf> {
    let mut paths = vec![path.to_path_buf()];
    let mut at = path.to_path_buf();
    // A loop of links ends here; the write would fail on it anyway.
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&at) else {
            break;
        };
        at = match at.parent() {
            Some(parent) => parent.join(target),
            None => target,
        };
        paths.push(at.clone());
    }
    paths
}

/// How many record or profile files `dir` holds.
pub(crate) fn recorded_files(dir: &Path) -> anyhow::Result<usize> {
    let cannot_list = |e: io::Error| {
        anyhow::anyhow!(
            "cannot list the record directory {}: {}",
            dir.shown(),
            lower(&e)
        )
    };
    let mut n = 0;
    for entry in std::fs::read_dir(dir).map_err(cannot_list)? {
        if is_lockgraph_file(&entry.map_err(cannot_list)?.file_name()) {
            n += 1;
        }
    }
    Ok(n)
}

/// Refuses an empty command (`lockgraph test -- ''`) before anything is
/// prepared: it could only fail to start.
pub(crate) fn nonempty_command(command: &[OsString]) -> anyhow::Result<()> {
    if command.first().is_none_or(|p| p.is_empty()) {
        anyhow::bail!("the command after `--` is empty: name the program to run");
    }
    Ok(())
}

/// Why `lockgraph test` could not run the command.
#[derive(Debug)]
pub(crate) struct SpawnError {
    program: String,
    why: String,
}

impl SpawnError {
    fn new(program: &OsStr, e: &io::Error) -> SpawnError {
        let path = Path::new(program);
        // Without a slash the program is looked for in PATH.
        let searched = !program.to_string_lossy().contains('/');
        let why = match e.kind() {
            io::ErrorKind::NotFound if searched => format!("{} (not in PATH)", lower(e)),
            io::ErrorKind::PermissionDenied if !searched && path.is_dir() => {
                "it is a directory".to_string()
            }
            _ => lower(e),
        };
        SpawnError {
            program: program.shown().to_string(),
            why,
        }
    }
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not run `{}`: {}", self.program, self.why)
    }
}

impl std::error::Error for SpawnError {}

/// Runs `command` (program and arguments) with `LOCKGRAPH_RECORD` set to
/// `dir`, more variables from `env`, and the standard streams inherited,
/// and waits for it, passing a SIGTERM or SIGHUP sent to `lockgraph` on to
/// it meanwhile (`forward`, on Linux and macOS).
pub(crate) fn run_recorded(
    command: &[OsString],
    dir: &Path,
    env: &[(&str, &str)],
) -> Result<ExitStatus, SpawnError> {
    let Some((program, args)) = command.split_first() else {
        return Err(SpawnError {
            program: String::new(),
            why: "no command given".to_string(),
        });
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .env(RECORD_ENV, dir)
        .envs(env.iter().copied());
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    let waited = super::forward::spawn_and_wait(&mut command);
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let waited = command.spawn().map(|mut child| child.wait());
    waited
        .and_then(|status| status)
        .map_err(|e| SpawnError::new(program, &e))
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
        let abs = make_record_dir(d.path()).unwrap();
        assert!(abs.is_absolute());
        assert_eq!(
            recorded_files(d.path()).unwrap(),
            2,
            "making it removes nothing"
        );
        assert_eq!(clear_records(&abs).unwrap(), 2);
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
