//! What `/proc` says about the process asked for a dump: its
//! `/proc/<pid>/status` (its owner, whether it catches or ignores SIGUSR2,
//! whether it runs or is stopped) and its `/proc/<pid>/environ` (the
//! environment it started with: its temporary directory, and whether it
//! asked for the dump handler, `LOCKGRAPH_DUMP_SIGNAL`, that it has not
//! installed). Parsed from text, so that the tests need no process.

use super::AskDumpError;

/// How the kernel sees the process (`State:` of `/proc/<pid>/status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Run {
    /// Running or sleeping: it can answer.
    Runs,
    /// Stopped by a signal (state `T`: SIGSTOP, Ctrl-Z).
    Stopped,
    /// Stopped by a debugger or tracer (state `t`, or `T (tracing stop)`
    /// of kernels before 2.6.33).
    Traced,
}

impl Run {
    /// `Some(traced)` when stopped (by a debugger or tracer: `traced`).
    pub(super) fn stopped(self) -> Option<bool> {
        match self {
            Run::Runs => None,
            Run::Stopped => Some(false),
            Run::Traced => Some(true),
        }
    }
}

/// The fields of `/proc/<pid>/status` the asker needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Status {
    /// Its effective uid.
    pub(super) uid: u32,
    pub(super) catches_usr2: bool,
    pub(super) ignores_usr2: bool,
    pub(super) run: Run,
    /// Its pid in its own PID namespace (the last of `NSpid:`), which names
    /// its dump files; `None` when the kernel does not say (before 4.1).
    pub(super) own_pid: Option<u32>,
}

/// SIGUSR2's bit in the `SigCgt:` and `SigIgn:` masks (signal 12 on Linux).
const USR2_BIT: u64 = 1 << 11;

/// What process `pid`'s `/proc/<pid>/status` text says; a zombie is no
/// process (it cannot answer, and is gone but for its parent's wait).
pub(super) fn parse_status(pid: u32, text: &str) -> Result<Status, AskDumpError> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("")
    };
    let state = field("State:");
    let run = match state.chars().next() {
        Some('Z') => return Err(AskDumpError::NoSuchProcess(pid)),
        Some('t') => Run::Traced,
        Some('T') if state.contains("tracing") => Run::Traced,
        Some('T') => Run::Stopped,
        _ => Run::Runs,
    };
    // `Uid:` real, effective, saved, filesystem.
    let uid = field("Uid:")
        .split_whitespace()
        .nth(1)
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| AskDumpError::Other(format!("no Uid in /proc/{pid}/status")))?;
    let caught = u64::from_str_radix(field("SigCgt:"), 16)
        .map_err(|_| AskDumpError::Other(format!("no SigCgt in /proc/{pid}/status")))?;
    let ignored = u64::from_str_radix(field("SigIgn:"), 16)
        .map_err(|_| AskDumpError::Other(format!("no SigIgn in /proc/{pid}/status")))?;
    let own_pid = field("NSpid:")
        .split_whitespace()
        .last()
        .and_then(|p| p.parse().ok());
    Ok(Status {
        uid,
        catches_usr2: caught & USR2_BIT != 0,
        ignores_usr2: ignored & USR2_BIT != 0,
        run,
        own_pid,
    })
}

/// Process `pid`'s status.
#[cfg(target_os = "linux")]
pub(super) fn status(pid: u32) -> Result<Status, AskDumpError> {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(text) => parse_status(pid, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(AskDumpError::NoSuchProcess(pid)),
        Err(e) => Err(AskDumpError::Other(format!(
            "cannot read /proc/{pid}/status: {e}"
        ))),
    }
}

/// Process `pid`'s environment as it started (`/proc/<pid>/environ`),
/// when this user may read it.
#[cfg(target_os = "linux")]
pub(super) fn environ(pid: u32) -> Option<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/environ")).ok()
}

/// The value of `name` in an environment block (`NAME=value\0...`), as
/// bytes.
pub(super) fn env_bytes<'a>(env: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let key = format!("{name}=");
    env.split(|&b| b == 0)
        .find_map(|kv: &'a [u8]| kv.strip_prefix(key.as_bytes()))
}

/// The value of `name` in an environment block, as text.
fn env_value(env: &[u8], name: &str) -> Option<String> {
    env_bytes(env, name).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Whether the process reads variable `name`'s value `v` as on or off, by
/// the variable's own kind (`crate::env`: the rule the runtime applies);
/// `None` when it does not parse.
fn switch(name: &str, v: &str) -> Option<bool> {
    use crate::env::{Value, VARIABLES};
    let var = VARIABLES.iter().find(|x| x.name == name)?;
    match var.kind.parse(v).ok()? {
        Value::Switch(on) => Some(on),
        Value::Duration(_) => Some(true),
        _ => None,
    }
}

/// The error for process `pid`, which does not catch SIGUSR2 (`ignores`:
/// it ignores it), `env` its environment when readable: one that asked
/// for the handler (`LOCKGRAPH_DUMP_SIGNAL` on) has not installed it yet,
/// or turned the watchdog off (`LOCKGRAPH_WATCHDOG=off`), which overrides
/// it; any other has no handler.
pub(super) fn no_handler(pid: u32, ignores: bool, env: Option<&[u8]>) -> AskDumpError {
    let plain = if ignores {
        AskDumpError::IgnoresSignal(pid)
    } else {
        AskDumpError::NoHandler(pid)
    };
    let Some(env) = env else {
        return plain;
    };
    let Some(value) = env_value(env, "LOCKGRAPH_DUMP_SIGNAL")
        .filter(|v| switch("LOCKGRAPH_DUMP_SIGNAL", v) == Some(true))
    else {
        return plain;
    };
    let value = value.trim().to_string();
    match env_value(env, "LOCKGRAPH_WATCHDOG")
        .filter(|w| switch("LOCKGRAPH_WATCHDOG", w) == Some(false))
    {
        Some(watchdog) => AskDumpError::HandlerOverridden {
            pid,
            ignores,
            value,
            watchdog: watchdog.trim().to_string(),
        },
        None => AskDumpError::HandlerNotYetInstalled {
            pid,
            ignores,
            value,
        },
    }
}

/// Why process `pid`, which does not catch SIGUSR2 (`ignores`: ignores
/// it), was not signalled. Pid 1 (an init process) gets no signal it does
/// not catch: it would not be killed, but nothing would answer either.
pub(super) fn not_signalled(pid: u32, ignores: bool) -> &'static str {
    if ignores {
        "it ignores SIGUSR2; not signalled, since nothing would answer"
    } else if pid == 1 {
        "it does not catch SIGUSR2; not signalled, since nothing would answer"
    } else {
        "it does not catch SIGUSR2; not signalled, since SIGUSR2 would kill it"
    }
}

/// What a stopped process is (`is stopped ...`; `traced`: by a debugger),
/// and how to let it go on.
pub(super) fn stop_words(pid: u32, traced: bool) -> (&'static str, String) {
    if traced {
        (
            "is stopped by a debugger or tracer (state t, traced)",
            "let it continue in the debugger (or detach the debugger), then ask again \
             (`kill -CONT` does not resume a process its debugger holds)"
                .to_string(),
        )
    } else {
        (
            "is stopped (state T: SIGSTOP, or Ctrl-Z in its terminal)",
            format!("resume it with `kill -CONT {pid}` and ask again"),
        )
    }
}

/// The directory process `pid` sees as `/`, from this process: `/` when
/// both are in one mount namespace, else `/proc/<pid>/root` (a container, a
/// service with systemd's `PrivateTmp=yes`: its `/tmp` is not this one's;
/// found by an outside test, where the dump went unseen and the process's
/// watchdog was blamed). `/` when the namespaces cannot be read.
#[cfg(target_os = "linux")]
pub(super) fn root_of(pid: u32) -> std::path::PathBuf {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/mnt")).ok();
    match (ns("self"), ns(&pid.to_string())) {
        (Some(mine), Some(theirs)) if mine != theirs => format!("/proc/{pid}/root").into(),
        _ => "/".into(),
    }
}
