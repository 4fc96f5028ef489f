//! `lockgraph test -- <command>`: runs a command with recording on, then
//! checks what it recorded.
//!
//! The exit status rule: when the command fails, `lockgraph test` exits with
//! the command's own exit code (128 + the signal number when a signal killed
//! it, as shells do), after printing the check all the same; when the command
//! succeeds, it exits with the check's code (0 clean, 1 findings, 2 input
//! error). See [`final_exit_code`].

use std::ffi::OsString;
use std::process::{Command, ExitStatus};

use crate::error::Error;

/// The environment variable that turns recording on.
pub const RECORD_ENV: &str = "LOCKGRAPH_RECORD";

/// The environment variable that turns the contention profile on
/// (`lockgraph test --profile` sets it to `1`).
pub const PROFILE_ENV: &str = "LOCKGRAPH_PROFILE";

/// A finished command and the directory it recorded into (deleted on drop).
#[derive(Debug)]
#[non_exhaustive]
pub struct Recorded {
    /// How the command ended.
    pub status: ExitStatus,
    /// The fresh directory `LOCKGRAPH_RECORD` pointed at.
    pub dir: tempfile::TempDir,
}

/// Runs `command` (program and arguments) with `LOCKGRAPH_RECORD` set to a
/// fresh temporary directory and the standard streams inherited, and waits
/// for it.
pub fn run_recorded(command: &[OsString]) -> Result<Recorded, Error> {
    run_recorded_with(command, &[])
}

/// [`run_recorded`] with more environment variables set for the command
/// (`lockgraph test --profile` adds `LOCKGRAPH_PROFILE=1`).
pub fn run_recorded_with(command: &[OsString], env: &[(&str, &str)]) -> Result<Recorded, Error> {
    let Some((program, args)) = command.split_first() else {
        return Err(Error::Spawn {
            program: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command given"),
        });
    };
    let dir = tempfile::Builder::new()
        .prefix("lockgraph-records-")
        .tempdir()
        .map_err(Error::TempDir)?;
    let status = Command::new(program)
        .args(args)
        .env(RECORD_ENV, dir.path())
        .envs(env.iter().copied())
        .status()
        .map_err(|source| Error::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
    Ok(Recorded { status, dir })
}

/// `None` when the command succeeded, else the exit code that stands for its
/// failure: its own code, or 128 + the signal that killed it; a code outside
/// 1..=255 (possible on some platforms) becomes 1.
pub fn command_failure(status: &ExitStatus) -> Option<u8> {
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
pub fn final_exit_code(command_failure: Option<u8>, check_code: u8) -> u8 {
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
}
