//! `lockgraph test`'s command and the signals sent to `lockgraph` itself.
//!
//! A SIGTERM, SIGHUP or SIGINT sent to `lockgraph test` (a job runner's
//! cancel, a `kill PID`, a terminal's Ctrl-C) used to end it at once and,
//! unless the signal reached the whole process group, leave the command it
//! runs going, orphaned, still writing records: under `cargo test`, the
//! test binary, a child of cargo's. While the command runs, those signals
//! are passed on to it and to every process below it (on Linux, found in
//! `/proc`; on macOS, the command alone), one line on stderr says so, and
//! `lockgraph` goes on as when the command fails: it checks what was
//! recorded and exits with 128 + the signal that ended the command. A
//! second one, once the command has ended (during the check), ends
//! `lockgraph` as the signal's default would. A Ctrl-C reaches the command
//! from the terminal as well: twice is what ending it takes anyway.
//!
//! The command itself is never signalled once its process id may have
//! been reused: its end is awaited without reaping it (`waitid` with
//! `WNOWAIT`), the forwarding stops under the lock that every forward
//! takes, and only then is the command reaped. A process below it that
//! ends between the look in `/proc` and the signal could, in principle,
//! have its id reused in between.

use std::io::{self, Write as _};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The signals passed on to the command.
const FORWARDED: [i32; 3] = [SIGTERM, SIGHUP, SIGINT];

/// Spawns `command` and waits for it, passing SIGTERM, SIGHUP and SIGINT
/// sent to this process on to it and the processes below it meanwhile (see the module docs; the handlers are
/// installed before the spawn, so a signal sent as it starts is passed on
/// too). The outer error is the spawn's; when the handlers cannot be
/// installed, it waits without them.
pub(crate) fn spawn_and_wait(command: &mut Command) -> io::Result<io::Result<ExitStatus>> {
    let Ok(mut signals) = Signals::new(FORWARDED) else {
        return command.spawn().map(|mut child| child.wait());
    };
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            signals.handle().close();
            return Err(e);
        }
    };
    let pid = Pid::from_child(&child);
    // The command, while signals may be passed on to it; `None` once it has
    // ended (then a signal ends this process).
    let target = Arc::new(Mutex::new(Some(pid)));
    let forwarding = Arc::clone(&target);
    let thread = std::thread::Builder::new()
        .name("lockgraph-forward".into())
        .spawn(move || {
            for sig in signals.forever() {
                // Under the lock: the command is not reaped while it is held.
                let to = forwarding.lock().unwrap_or_else(PoisonError::into_inner);
                match (*to, Signal::from_named_raw(sig)) {
                    (Some(pid), Some(s)) => {
                        let below = descendants(pid);
                        let _ = rustix::process::kill_process(pid, s);
                        for &p in &below {
                            let _ = rustix::process::kill_process(p, s);
                        }
                        // Not `eprintln!`, which panics when stderr is a
                        // closed pipe: this thread must go on forwarding.
                        let _ = writeln!(
                            std::io::stderr(),
                            "lockgraph: {} received: passed on to the command (pid {}){}",
                            name(sig),
                            pid.as_raw_nonzero(),
                            match below.len() {
                                0 => String::new(),
                                1 => " and the process it started".to_string(),
                                n => format!(" and the {n} processes below it"),
                            }
                        );
                    }
                    _ => {
                        drop(to);
                        let _ = signal_hook::low_level::emulate_default_handler(sig);
                    }
                }
            }
        });
    if thread.is_err() {
        *target.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
    // The command's end, left to reap (when even that wait fails, the
    // forwarding stops before the command is reaped all the same).
    while let Err(rustix::io::Errno::INTR) = rustix::process::waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    ) {}
    *target.lock().unwrap_or_else(PoisonError::into_inner) = None;
    Ok(child.wait())
}

/// A forwarded signal's name.
fn name(sig: i32) -> &'static str {
    match sig {
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// The processes below `pid` (its children, theirs, ...), from each
/// process's parent in `/proc/PID/stat`; none where `/proc` cannot be read.
#[cfg(target_os = "linux")]
fn descendants(pid: Pid) -> Vec<Pid> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            Some((p, parent_in_stat(&stat)?))
        })
        .collect();
    let mut found = vec![pid.as_raw_nonzero().get()];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|&&(p, pp)| pp == parent && !found.contains(&p))
                .map(|&(p, _)| p)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    found
        .into_iter()
        .skip(1)
        .filter_map(Pid::from_raw)
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn descendants(_: Pid) -> Vec<Pid> {
    Vec::new()
}

/// The parent's pid in a `/proc/PID/stat` line: the field after the state,
/// which follows the command's name in parentheses (a name may hold
/// spaces and parentheses itself: the last `)` ends it).
#[cfg(target_os = "linux")]
fn parent_in_stat(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_past_a_name_with_parentheses() {
        assert_eq!(parent_in_stat("42 (a) b) (c) S 7 42 42 0 -1"), Some(7));
        assert_eq!(parent_in_stat("42 (sh) R 1 1 1"), Some(1));
        assert_eq!(parent_in_stat("garbage"), None);
    }

    #[test]
    fn the_processes_below_a_process_are_found() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = Pid::from_child(&child);
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut below = descendants(pid);
        while below.is_empty() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(10));
            below = descendants(pid);
        }
        for &p in &below {
            let _ = rustix::process::kill_process(p, Signal::KILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(below.len(), 1, "{below:?}");
    }
}
