//! `lockgraph dump --pid N`: what the asker says about the process beyond
//! what `lockgraph_core::watchdog::ask_for_dump` does. Before asking, a
//! process stopped (state `T`: SIGSTOP, Ctrl-Z) or held by a debugger
//! (`t`) is said to be so at once, not signalled and not waited for: it
//! cannot answer. A process that gave no answer in time is looked at again:
//! stopped while it was asked, it is said so, not its watchdog thread
//! blamed. A process without the handler whose environment (readable to
//! its user) sets `LOCKGRAPH_DUMP_SIGNAL` is told apart from one that
//! lacks it: it has not installed the handler yet (at its first lockgraph
//! lock use), or `LOCKGRAPH_WATCHDOG` overrides it. Everything here only
//! reads `/proc`.

use std::time::Duration;

use lockgraph_core::watchdog::AskDumpError;

/// How the kernel sees the process now (`State:` of `/proc/<pid>/status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// Running or sleeping: it can answer.
    Runs,
    /// Stopped by a signal (state `T`).
    Stopped,
    /// Stopped by a debugger or tracer (state `t`, or `T (tracing stop)`
    /// of old kernels).
    Traced,
}

/// The fields of `/proc/<pid>/status` that say whether asking makes sense.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) run: Run,
    /// Its effective uid.
    pub(crate) uid: Option<u32>,
    /// Whether it catches SIGUSR2 (a handler is installed).
    pub(crate) catches_usr2: bool,
}

/// SIGUSR2's bit in the `SigCgt:` mask (signal 12 on Linux).
const USR2_BIT: u64 = 1 << 11;

/// What `/proc/<pid>/status`'s text says.
pub(crate) fn parse_status(text: &str) -> Seen {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("")
    };
    let state = field("State:");
    let run = match state.chars().next() {
        Some('t') => Run::Traced,
        Some('T') if state.contains("tracing") => Run::Traced,
        Some('T') => Run::Stopped,
        _ => Run::Runs,
    };
    let uid = field("Uid:")
        .split_whitespace()
        .nth(1)
        .and_then(|u| u.parse().ok());
    let catches_usr2 =
        u64::from_str_radix(field("SigCgt:"), 16).is_ok_and(|mask| mask & USR2_BIT != 0);
    Seen {
        run,
        uid,
        catches_usr2,
    }
}

/// Process `pid`'s status; `None` when it cannot be read (no such
/// process: `ask_for_dump` says so).
fn seen(pid: u32) -> Option<Seen> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .map(|t| parse_status(&t))
}

/// What a process in `run` is (`is stopped ...`), and how to let it go
/// on; `None` when it runs.
fn stop_words(pid: u32, run: Run) -> Option<(&'static str, String)> {
    match run {
        Run::Runs => None,
        Run::Stopped => Some((
            "is stopped (state T: SIGSTOP, or Ctrl-Z in its terminal)",
            format!("resume it with `kill -CONT {pid}` and ask again"),
        )),
        Run::Traced => Some((
            "is stopped by a debugger or tracer (state t, traced)",
            "let it continue in the debugger (or detach the debugger), then ask again \
             (`kill -CONT` does not resume a process its debugger holds)"
                .to_string(),
        )),
    }
}

/// Before asking: why not, when process `pid` is stopped and would
/// otherwise be signalled (it is this user's, or the asker is root, and
/// it catches SIGUSR2); `None` to ask (`ask_for_dump` says what else is
/// wrong: another user's, no handler, gone).
pub(crate) fn stopped_before_asking(pid: u32) -> Option<String> {
    let them = seen(pid)?;
    let me = seen(std::process::id()).and_then(|s| s.uid);
    let may_signal = me == Some(0) || (me.is_some() && me == them.uid);
    if !may_signal || !them.catches_usr2 {
        return None;
    }
    stopped_now(pid, them.run)
}

/// The message for a process found stopped before it was asked.
pub(crate) fn stopped_now(pid: u32, run: Run) -> Option<String> {
    let (what, how) = stop_words(pid, run)?;
    Some(format!(
        "process {pid} {what}: it cannot answer until it runs again (not signalled); {how}"
    ))
}

/// The message for a process found stopped once the wait for its answer
/// ran out.
pub(crate) fn stopped_while_asked(pid: u32, waited: Duration, run: Run) -> Option<String> {
    let (what, how) = stop_words(pid, run)?;
    Some(format!(
        "process {pid} did not answer within {waited:?}: it {what}, stopped before it could \
         answer: it cannot answer until it runs again; {how}"
    ))
}

/// What the asker says for `e`: its own words where it knows more than the
/// core does (a process stopped while it was asked, one that set
/// `LOCKGRAPH_DUMP_SIGNAL` but has no handler yet, pid 1), else `e`'s.
pub(crate) fn explain(e: &AskDumpError) -> String {
    match e {
        AskDumpError::NoAnswer { pid, waited, .. } => {
            // Stopped while it was asked: not its watchdog thread's fault.
            seen(*pid)
                .and_then(|s| stopped_while_asked(*pid, *waited, s.run))
                .unwrap_or_else(|| e.to_string())
        }
        AskDumpError::NoHandler(pid) => no_handler(*pid, false, environ(*pid).as_deref()),
        AskDumpError::IgnoresSignal(pid) => no_handler(*pid, true, environ(*pid).as_deref()),
        _ => e.to_string(),
    }
}

/// `/proc/<pid>/environ` (the environment it started with), when this user
/// may read it.
fn environ(pid: u32) -> Option<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/environ")).ok()
}

/// The value of `name` in an environment block (`NAME=value\0...`).
fn env_value<'a>(env: &'a [u8], name: &str) -> Option<String> {
    let key = format!("{name}=");
    env.split(|&b| b == 0)
        .find_map(|kv: &'a [u8]| kv.strip_prefix(key.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Whether the process reads variable `name`'s value `v` as on or off, by
/// the variable's own kind (`lockgraph_core::environment`: the rule the
/// runtime applies); `None` when it does not parse.
fn switch(name: &str, v: &str) -> Option<bool> {
    use lockgraph_core::environment::{Value, VARIABLES};
    let var = VARIABLES.iter().find(|x| x.name == name)?;
    match var.kind.parse(v).ok()? {
        Value::Switch(on) => Some(on),
        Value::Duration(_) => Some(true),
        _ => None,
    }
}

/// The message for a process that does not catch SIGUSR2 (`ignores`: it
/// ignores it), `env` its environment when readable.
pub(crate) fn no_handler(pid: u32, ignores: bool, env: Option<&[u8]>) -> String {
    // Pid 1 (an init process) gets no signal it does not catch: it would
    // not be killed, but nothing would answer either.
    let why_not = if ignores {
        "it ignores SIGUSR2; not signalled, since nothing would answer"
    } else if pid == 1 {
        "it does not catch SIGUSR2; not signalled, since nothing would answer"
    } else {
        "it does not catch SIGUSR2; not signalled, since SIGUSR2 would kill it"
    };
    let dump_signal = env.and_then(|e| env_value(e, "LOCKGRAPH_DUMP_SIGNAL"));
    let watchdog = env.and_then(|e| env_value(e, "LOCKGRAPH_WATCHDOG"));
    match dump_signal {
        Some(v) if switch("LOCKGRAPH_DUMP_SIGNAL", &v) == Some(true) => {
            let v = v.trim();
            match watchdog.filter(|w| switch("LOCKGRAPH_WATCHDOG", w) == Some(false)) {
                Some(w) => format!(
                    "process {pid} has LOCKGRAPH_DUMP_SIGNAL={v} in its environment, but also \
                     LOCKGRAPH_WATCHDOG={}, which overrides it: it installs no lockgraph dump \
                     handler ({why_not}); run it with LOCKGRAPH_WATCHDOG unset or a timeout \
                     (e.g. 30s), or start the watchdog with Config::dump_on_sigusr2(true)",
                    w.trim()
                ),
                None => format!(
                    "process {pid} has LOCKGRAPH_DUMP_SIGNAL={v} in its environment, but has not \
                     installed lockgraph's dump handler yet ({why_not}): it installs it at its \
                     first lockgraph lock use; ask again once it has taken a lockgraph lock (a \
                     program that never takes one, or is not built with lockgraph, never \
                     installs it)"
                ),
            }
        }
        _ => format!(
            "process {pid} has no lockgraph dump handler ({why_not}): run it with \
             LOCKGRAPH_DUMP_SIGNAL=1 (which turns the watchdog on unless LOCKGRAPH_WATCHDOG=off), \
             or start the watchdog with Config::dump_on_sigusr2(true); the handler is installed \
             at its first lock use"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tx\nState:\tS (sleeping)\nUid:\t1000\t1001\t1000\t1000\n\
                          SigIgn:\t0000000000000000\nSigCgt:\t0000000000000800\n";

    #[test]
    fn states_read_from_the_status_file() {
        let s = parse_status(STATUS);
        assert_eq!(
            s,
            Seen {
                run: Run::Runs,
                uid: Some(1001),
                catches_usr2: true
            }
        );
        let stopped = STATUS.replace("S (sleeping)", "T (stopped)");
        assert_eq!(parse_status(&stopped).run, Run::Stopped);
        let traced = STATUS.replace("S (sleeping)", "t (tracing stop)");
        assert_eq!(parse_status(&traced).run, Run::Traced);
        // Kernels before 2.6.33 wrote a tracing stop as `T`.
        let old = STATUS.replace("S (sleeping)", "T (tracing stop)");
        assert_eq!(parse_status(&old).run, Run::Traced);
        // Garbage: runs, no uid, no handler (the core says what is wrong).
        assert_eq!(
            parse_status("State:\nSigCgt: zz\n"),
            Seen {
                run: Run::Runs,
                uid: None,
                catches_usr2: false
            }
        );
    }

    #[test]
    fn a_stopped_process_is_told_how_to_resume() {
        assert_eq!(stopped_now(7, Run::Runs), None);
        assert_eq!(
            stopped_now(7, Run::Stopped).unwrap(),
            "process 7 is stopped (state T: SIGSTOP, or Ctrl-Z in its terminal): it cannot \
             answer until it runs again (not signalled); resume it with `kill -CONT 7` and ask \
             again"
        );
        let t = stopped_now(7, Run::Traced).unwrap();
        assert!(t.starts_with("process 7 is stopped by a debugger"), "{t}");
        assert!(t.contains("continue in the debugger"), "{t}");
        let wait = Duration::from_secs(5);
        assert_eq!(stopped_while_asked(7, wait, Run::Runs), None);
        let t = stopped_while_asked(7, wait, Run::Stopped).unwrap();
        assert!(
            t.starts_with("process 7 did not answer within 5s: it is stopped (state T"),
            "{t}"
        );
        assert!(
            t.ends_with("resume it with `kill -CONT 7` and ask again"),
            "{t}"
        );
        assert!(!t.contains("watchdog thread"), "{t}");
    }

    #[test]
    fn a_process_that_set_the_variable_has_no_handler_yet() {
        let env = b"HOME=/root\0LOCKGRAPH_DUMP_SIGNAL=1\0PATH=/bin\0";
        let t = no_handler(4242, false, Some(env));
        assert!(
            t.starts_with(
                "process 4242 has LOCKGRAPH_DUMP_SIGNAL=1 in its environment, but has not installed \
                 lockgraph's dump handler yet (it does not catch SIGUSR2; not signalled, since \
                 SIGUSR2 would kill it): it installs it at its first lockgraph lock use"
            ),
            "{t}"
        );
        assert!(!t.contains("run it with"), "{t}");
        // Overridden by the watchdog's off.
        let env = b"LOCKGRAPH_WATCHDOG=off\0LOCKGRAPH_DUMP_SIGNAL=on\0";
        let t = no_handler(4242, false, Some(env));
        assert!(
            t.contains("LOCKGRAPH_DUMP_SIGNAL=on in its environment, but also LOCKGRAPH_WATCHDOG=off, which overrides it"),
            "{t}"
        );
        // Set off, or not set, or an environment that cannot be read: run it with it.
        for env in [
            Some(&b"LOCKGRAPH_DUMP_SIGNAL=0\0"[..]),
            Some(b"X=1\0"),
            None,
        ] {
            let t = no_handler(4242, false, env);
            assert!(
                t.starts_with("process 4242 has no lockgraph dump handler (it does not catch SIGUSR2; not signalled, since SIGUSR2 would kill it): run it with LOCKGRAPH_DUMP_SIGNAL=1"),
                "{t}"
            );
        }
        let t = no_handler(4242, true, Some(b"LOCKGRAPH_DUMP_SIGNAL=yes\0"));
        assert!(
            t.contains("has not installed lockgraph's dump handler yet (it ignores SIGUSR2; not signalled, since nothing would answer)"),
            "{t}"
        );
    }

    /// A process stopped while it was asked: once the wait runs out, its
    /// state is read again and said, not its watchdog thread blamed.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_stopped_while_asked_is_said_stopped_at_the_timeout() {
        use std::process::Command;
        struct Reaped(std::process::Child);
        impl Drop for Reaped {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let child = Reaped(Command::new("sleep").arg("30").spawn().unwrap());
        let pid = child.0.id();
        let timed_out = AskDumpError::NoAnswer {
            pid,
            waited: Duration::from_secs(5),
            path: "/tmp/lockgraph-dump-x.json".into(),
        };
        // Running: the core's words.
        assert_eq!(explain(&timed_out), timed_out.to_string());
        let st = Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while seen(pid).map(|s| s.run) != Some(Run::Stopped) {
            assert!(std::time::Instant::now() < end, "never stopped");
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = explain(&timed_out);
        assert!(
            t.starts_with(&format!(
                "process {pid} did not answer within 5s: it is stopped (state T"
            )),
            "{t}"
        );
        assert!(t.contains(&format!("`kill -CONT {pid}`")), "{t}");
        assert!(!t.contains("watchdog thread"), "{t}");
    }

    #[test]
    fn pid_1_is_not_said_to_be_killed_by_sigusr2() {
        for env in [None, Some(&b"LOCKGRAPH_DUMP_SIGNAL=1\0"[..])] {
            let t = no_handler(1, false, env);
            assert!(!t.contains("kill"), "{t}");
            assert!(
                t.contains(
                    "(it does not catch SIGUSR2; not signalled, since nothing would answer)"
                ),
                "{t}"
            );
        }
    }
}
