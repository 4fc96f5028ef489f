//! Asking another process for its dump, from outside (`lockgraph dump
//! --pid N`, like `jstack`): the process must run the watchdog with its
//! SIGUSR2 handler (`LOCKGRAPH_DUMP_SIGNAL=1`, [`Config::dump_on_sigusr2`]).
//! The asker checks (Linux, `/proc/<pid>/status`) that the process exists,
//! is the asker's user's (unless root), and catches SIGUSR2 (whose default
//! action would kill it). Then it creates its own request file
//! ([`dump_request_path`], named by the asker's pid and a count, so that
//! askers at the same time do not meet) in the process's own temporary
//! directory, sends the signal, waits for its answer file
//! ([`dump_answer_path`]) there, and removes both. A SIGUSR2 without a
//! request file (a `kill -USR2` by hand) writes no answer file. Before it
//! asks, it removes the files that askers which have exited left there
//! (stopped half-way, or gone before a late answer).
//!
//! What it says when it gets no dump comes from `/proc` too (`process`): a
//! process stopped (state `T`) or held by a debugger (`t`) is not
//! signalled and said so at once, and one found stopped when the wait runs
//! out is said stopped, not its watchdog thread blamed; a process without
//! the handler whose environment sets `LOCKGRAPH_DUMP_SIGNAL` is told
//! apart from one that lacks it (it has not installed the handler yet, or
//! `LOCKGRAPH_WATCHDOG=off` overrides it).

mod process;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Why [`ask_for_dump`] got no dump.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AskDumpError {
    /// No process has this pid (it exited, or never was).
    NoSuchProcess(u32),
    /// The process belongs to another user (uid), which the asker may not
    /// signal.
    OtherUser {
        /// The process.
        pid: u32,
        /// Its owner.
        uid: u32,
    },
    /// The process does not catch SIGUSR2: no lockgraph dump handler (it
    /// was not signalled: SIGUSR2's default action would kill it).
    NoHandler(u32),
    /// The process ignores SIGUSR2: no lockgraph dump handler (it was not
    /// signalled: the signal would do nothing).
    IgnoresSignal(u32),
    /// The process catches SIGUSR2, but not with lockgraph's dump handler
    /// (it has not its mark): not signalled, since its own handler would run.
    NotLockgraphs(u32),
    /// The process exited after it was signalled, before it answered.
    Exited(u32),
    /// No answer within the time given.
    NoAnswer {
        /// The process.
        pid: u32,
        /// How long the asker waited.
        waited: Duration,
        /// Where the answer was expected.
        path: PathBuf,
    },
    /// The process is stopped (state `T`: SIGSTOP, Ctrl-Z) or, `traced`,
    /// held by a debugger or tracer (state `t`): it cannot answer until it
    /// runs again, and was not signalled.
    Stopped {
        /// The process.
        pid: u32,
        /// Held by a debugger or tracer, which `kill -CONT` does not resume.
        traced: bool,
    },
    /// No answer within the time given, and the process was found stopped
    /// then (see [`AskDumpError::Stopped`]): stopped before it could
    /// answer, not its watchdog thread stuck.
    StoppedWhileAsked {
        /// The process.
        pid: u32,
        /// How long the asker waited.
        waited: Duration,
        /// Held by a debugger or tracer.
        traced: bool,
    },
    /// The process does not catch SIGUSR2 (or, `ignores`, ignores it), but
    /// its environment sets `LOCKGRAPH_DUMP_SIGNAL` on: it has not
    /// installed lockgraph's dump handler yet (it does at its first
    /// lockgraph lock use). Not signalled.
    HandlerNotYetInstalled {
        /// The process.
        pid: u32,
        /// It ignores SIGUSR2 (rather than not catching it).
        ignores: bool,
        /// `LOCKGRAPH_DUMP_SIGNAL`'s value in its environment.
        value: String,
    },
    /// As [`AskDumpError::HandlerNotYetInstalled`], but its environment
    /// also turns the watchdog off (`LOCKGRAPH_WATCHDOG`), which overrides
    /// `LOCKGRAPH_DUMP_SIGNAL`: it installs no dump handler. Not signalled.
    HandlerOverridden {
        /// The process.
        pid: u32,
        /// It ignores SIGUSR2 (rather than not catching it).
        ignores: bool,
        /// `LOCKGRAPH_DUMP_SIGNAL`'s value in its environment.
        value: String,
        /// `LOCKGRAPH_WATCHDOG`'s value in its environment.
        watchdog: String,
    },
    /// Anything else (the platform, an I/O error), said in words.
    Other(String),
}

impl fmt::Display for AskDumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskDumpError::NoSuchProcess(pid) => {
                write!(f, "no process {pid}: it has exited (or never existed)")
            }
            AskDumpError::OtherUser { pid, uid } => write!(
                f,
                "process {pid} belongs to another user (uid {uid}): run this as that user (or root)"
            ),
            AskDumpError::NoHandler(pid) | AskDumpError::IgnoresSignal(pid) => write!(
                f,
                "process {pid} has no lockgraph dump handler ({}): run it with LOCKGRAPH_DUMP_SIGNAL=1 (which turns the watchdog on unless LOCKGRAPH_WATCHDOG=off), or start the watchdog with Config::dump_on_sigusr2(true); the handler is installed at its first lock use",
                process::not_signalled(*pid, matches!(self, AskDumpError::IgnoresSignal(_)))
            ),
            AskDumpError::HandlerNotYetInstalled { pid, ignores, value } => write!(
                f,
                "process {pid} has LOCKGRAPH_DUMP_SIGNAL={value} in its environment, but has not installed lockgraph's dump handler yet ({}): it installs it at its first lockgraph lock use; ask again once it has taken a lockgraph lock (a program that never takes one, or is not built with lockgraph, never installs it)",
                process::not_signalled(*pid, *ignores)
            ),
            AskDumpError::HandlerOverridden { pid, ignores, value, watchdog } => write!(
                f,
                "process {pid} has LOCKGRAPH_DUMP_SIGNAL={value} in its environment, but also LOCKGRAPH_WATCHDOG={watchdog}, which overrides it: it installs no lockgraph dump handler ({}); run it with LOCKGRAPH_WATCHDOG unset or a timeout (e.g. 30s), or start the watchdog with Config::dump_on_sigusr2(true)",
                process::not_signalled(*pid, *ignores)
            ),
            AskDumpError::Stopped { pid, traced } => {
                let (what, how) = process::stop_words(*pid, *traced);
                write!(
                    f,
                    "process {pid} {what}: it cannot answer until it runs again (not signalled); {how}"
                )
            }
            AskDumpError::StoppedWhileAsked { pid, waited, traced } => {
                let (what, how) = process::stop_words(*pid, *traced);
                write!(
                    f,
                    "process {pid} did not answer within {waited:?}: it {what}, stopped before it could answer: it cannot answer until it runs again; {how}"
                )
            }
            AskDumpError::NotLockgraphs(pid) => write!(
                f,
                "process {pid} catches SIGUSR2, but not with lockgraph's dump handler (no open /memfd:{HANDLER_MARK}): not signalled, since its own handler would run (a shell, a server that reloads on SIGUSR2); run it with LOCKGRAPH_DUMP_SIGNAL=1, or start the watchdog with Config::dump_on_sigusr2(true)"
            ),
            AskDumpError::Exited(pid) => {
                write!(f, "process {pid} exited before it answered")
            }
            AskDumpError::NoAnswer { pid, waited, path } => {
                write!(
                    f,
                    "process {pid} did not answer within {waited:?} (no {}): ",
                    path.display()
                )?;
                // The handler is lockgraph's (its mark was checked): it only
                // wakes the watchdog thread, which writes the dump.
                if *waited < SHORT_WAIT {
                    f.write_str("that may be too short: its watchdog thread writes the dump, and the first one resolves stack symbols, which can take seconds; ask again with a longer timeout (e.g. 10s). If that fails too, its watchdog thread is stuck")
                } else {
                    f.write_str("its watchdog thread, which writes the dump, is stuck (lockgraph's handler only wakes it)")
                }
            }
            AskDumpError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for AskDumpError {}

/// A wait for an answer shorter than this may just be too short (a first
/// dump resolves stack symbols: about a second cold in a debug build).
const SHORT_WAIT: Duration = Duration::from_secs(5);

/// The name of the memory file a process with lockgraph's SIGUSR2 dump
/// handler keeps open (`/proc/<pid>/fd/N -> /memfd:<this> (deleted)`): the
/// asker signals only a process that has it.
pub(crate) const HANDLER_MARK: &str = "lockgraph-dump-handler";

/// Whether process `pid` keeps lockgraph's dump handler mark open (see
/// [`HANDLER_MARK`]); an unreadable `/proc/<pid>/fd` counts as no.
#[cfg(target_os = "linux")]
fn has_handler_mark(pid: u32) -> bool {
    let want = format!("/memfd:{HANDLER_MARK}");
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with(&want))
    })
}

/// The temporary directory of a process whose environment is `env` (its
/// `TMPDIR`, else `/tmp`), where it writes its answer.
#[cfg(target_os = "linux")]
fn tmp_dir_of(env: Option<&[u8]>) -> PathBuf {
    env.and_then(|env| process::env_bytes(env, "TMPDIR"))
        .filter(|v| !v.is_empty())
        .map_or_else(
            || PathBuf::from("/tmp"),
            |v| PathBuf::from(String::from_utf8_lossy(v).into_owned()),
        )
}

/// Removes from `tmp` the request and answer files of askers that have
/// exited (for any process): what an asker stopped half-way (Ctrl-C, a
/// kill) or one that gave up before a late answer left there. Only plain
/// files named as an asker's, a minute old or more (a process ignores a
/// request older than that, and a live asker reads its answer within 20 ms
/// of its arrival), whose asker process is not in this `/proc` (an asker
/// of another PID namespace sharing the directory would look gone; the
/// minute keeps its live request). A file this user may not remove stays
/// (errors are ignored: it is tidying).
/// How old an exited asker's file must be before the next asker removes it.
#[cfg(target_os = "linux")]
const LEFTOVER_AGE: Duration = Duration::from_secs(60);

#[cfg(target_os = "linux")]
fn sweep_leftovers(tmp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(asker) = name.to_str().and_then(super::answer::asker_of) else {
            continue;
        };
        let gone = asker != me && !std::path::Path::new(&format!("/proc/{asker}")).exists();
        let plain = entry.file_type().is_ok_and(|t| t.is_file());
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= LEFTOVER_AGE));
        if gone && plain && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The request file, removed when the asker is done, whatever the outcome.
#[cfg(target_os = "linux")]
struct Request(PathBuf);

#[cfg(target_os = "linux")]
impl Request {
    /// Created new (a stale one removed first; never through a link
    /// someone left there).
    fn create(path: PathBuf) -> Result<Request, AskDumpError> {
        let _ = std::fs::remove_file(&path);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => Ok(Request(path)),
            Err(e) => Err(AskDumpError::Other(format!(
                "cannot create the request file {}: {e}",
                path.display()
            ))),
        }
    }
}

/// The answer at `path`, when it is a plain file (opened without following
/// a link and without blocking: a FIFO put there would hang the asker)
/// written since `asked`, and whole (it ends its JSON object).
#[cfg(target_os = "linux")]
fn read_answer(path: &std::path::Path, asked: SystemTime) -> Option<String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    if meta.modified().ok()? + Duration::from_secs(1) < asked {
        return None;
    }
    let mut text = String::new();
    f.read_to_string(&mut text).ok()?;
    text.trim_end().ends_with('}').then_some(text)
}

/// The file system user id switched to another user's while it lives
/// (Linux's `setfsuid`: this thread's file accesses only), when root asks
/// another user's process.
#[cfg(target_os = "linux")]
struct AsUser(Option<libc::uid_t>);

#[cfg(target_os = "linux")]
impl AsUser {
    fn switch(me: libc::uid_t, to: u32) -> AsUser {
        if me != 0 || to == 0 {
            return AsUser(None);
        }
        // SAFETY: setfsuid changes this thread's file system uid only; it
        // returns the previous one, which `drop` restores.
        let before = unsafe { libc::setfsuid(to) };
        AsUser(u32::try_from(before).ok())
    }
}

#[cfg(target_os = "linux")]
impl Drop for AsUser {
    fn drop(&mut self) {
        if let Some(before) = self.0 {
            // SAFETY: as above: back to this thread's file system uid.
            unsafe { libc::setfsuid(before) };
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for Request {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The error of process `pid`, which gave no answer (expected at `path`)
/// within `waited`, in state `run` then: one stopped while it was asked is
/// said so, not its watchdog thread blamed.
fn no_answer(pid: u32, waited: Duration, path: PathBuf, run: process::Run) -> AskDumpError {
    match run.stopped() {
        Some(traced) => AskDumpError::StoppedWhileAsked {
            pid,
            waited,
            traced,
        },
        None => AskDumpError::NoAnswer { pid, waited, path },
    }
}

/// Asks process `pid` for its dump and waits up to `wait` for it: the
/// dump's JSON object (`kind` `dump`, with `text`, the dump as printed).
#[cfg(target_os = "linux")]
pub fn ask_for_dump(pid: u32, wait: Duration) -> Result<String, AskDumpError> {
    let Ok(target) = libc::pid_t::try_from(pid) else {
        return Err(AskDumpError::NoSuchProcess(pid));
    };
    if target <= 0 {
        return Err(AskDumpError::NoSuchProcess(pid));
    }
    let st = process::status(pid)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if me != 0 && st.uid != me {
        return Err(AskDumpError::OtherUser { pid, uid: st.uid });
    }
    let env = process::environ(pid);
    if st.ignores_usr2 || !st.catches_usr2 {
        return Err(process::no_handler(pid, st.ignores_usr2, env.as_deref()));
    }
    // A stopped process cannot answer: said at once, not after the wait.
    if let Some(traced) = st.run.stopped() {
        return Err(AskDumpError::Stopped { pid, traced });
    }
    // It catches SIGUSR2, but it may be for its own reasons (an interactive
    // shell, a server that reloads on it): only lockgraph's handler is
    // signalled.
    if !has_handler_mark(pid) {
        return Err(AskDumpError::NotLockgraphs(pid));
    }
    // As the process's user when root asks another user's process: the
    // request is made, and the answer read and removed, where that user
    // may (root's rights would follow links the process planted, under its
    // root, anywhere on the host), and the request is that user's (root's
    // reads as nobody's inside a user namespace, and is not answered).
    // Found by a review.
    let _as_user = AsUser::switch(me, st.uid);
    // Its temporary directory as this process reaches it (through
    // `/proc/<pid>/root` from another mount namespace), and its pid as it
    // knows it (in another PID namespace, not `pid`), which name the files.
    let tmp = process::root_of(pid).join(
        tmp_dir_of(env.as_deref())
            .strip_prefix("/")
            .unwrap_or(std::path::Path::new("tmp")),
    );
    let named = st.own_pid.unwrap_or(pid);
    static ASKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let asker = format!(
        "{}-{}",
        std::process::id(),
        ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let path = tmp.join(super::answer::answer_name(named, &asker));
    sweep_leftovers(&tmp);
    let asked = SystemTime::now();
    // An answer to an earlier request must not pass for this one.
    let _ = std::fs::remove_file(&path);
    let _request = Request::create(tmp.join(super::answer::request_name(named, &asker)))?;
    // SAFETY: kill with a positive pid signals that one process; SIGUSR2 is
    // caught there (checked above), so it does not end it.
    if unsafe { libc::kill(target, libc::SIGUSR2) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ESRCH) => AskDumpError::NoSuchProcess(pid),
            Some(libc::EPERM) => AskDumpError::OtherUser { pid, uid: st.uid },
            _ => AskDumpError::Other(format!("cannot signal process {pid}: {e}")),
        });
    }
    // A wait past what an `Instant` holds is a wait without end.
    let end = crate::delivery::deadline_after(wait);
    loop {
        if let Some(text) = read_answer(&path, asked) {
            // Read: the answer is this request's, no one else's.
            let _ = std::fs::remove_file(&path);
            return Ok(text);
        }
        let now = match process::status(pid) {
            Ok(now) => now,
            Err(_) => return Err(AskDumpError::Exited(pid)),
        };
        if Instant::now() >= end {
            return Err(no_answer(pid, wait, path, now.run));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks process `pid` for its dump: Linux only.
#[cfg(not(target_os = "linux"))]
pub fn ask_for_dump(pid: u32, wait: Duration) -> Result<String, AskDumpError> {
    let _ = (pid, wait, Instant::now(), SystemTime::now());
    let _ = process::parse_status(pid, "")
        .map(|s| (s.uid, s.catches_usr2, s.ignores_usr2, s.run.stopped()));
    let _ = process::no_handler(pid, false, None);
    let _ = no_answer(pid, wait, PathBuf::new(), process::Run::Runs);
    Err(AskDumpError::Other(
        "asking another process for a dump needs Linux's /proc".into(),
    ))
}
