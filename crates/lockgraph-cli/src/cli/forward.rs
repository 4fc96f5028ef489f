//! `lockgraph test`'s command and the signals sent to `lockgraph` itself.
//!
//! A SIGTERM or SIGHUP sent to `lockgraph test` alone (a job runner's
//! cancel, a `kill PID`, a closed terminal's session leader) used to end it
//! at once and leave the command it runs going, orphaned, still writing
//! records. While the command runs, those two signals are passed on to it
//! instead, and `lockgraph` goes on as when the command fails: it checks
//! what was recorded and exits with 128 + the signal that ended the
//! command. A second one, once the command has ended (during the check),
//! ends `lockgraph` as the signal's default would.
//!
//! SIGINT is left alone: a terminal's Ctrl-C reaches the whole foreground
//! process group, the command included, and ends `lockgraph` at once, as
//! users expect of it.
//!
//! A signal is never sent to a process id that may have been reused: the
//! command's end is awaited without reaping it (`waitid` with `WNOWAIT`),
//! the forwarding stops under the lock that every forward takes, and only
//! then is the command reaped.

use std::io;
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::{SIGHUP, SIGTERM};
use signal_hook::iterator::Signals;

/// The signals passed on to the command.
const FORWARDED: [i32; 2] = [SIGTERM, SIGHUP];

/// Spawns `command` and waits for it, passing SIGTERM and SIGHUP sent to
/// this process on to it meanwhile (see the module docs; the handlers are
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
                        let _ = rustix::process::kill_process(pid, s);
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
