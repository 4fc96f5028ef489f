//! `LOCKGRAPH_RECORD=<dir>`: append every new class-level edge to a per-process
//! JSON-lines file, for `lockgraph check` to merge across processes, and
//! every cycle the runtime finds among locks of one class, which no edge
//! line shows (`cycle.rs`). The format is documented in
//! `docs/record-format.md` (version 4).
//!
//! The file is created, with its header, the first time the process takes a
//! lockgraph lock ([`start`], called when the lock path first looks at which
//! features are on), even if it never records an edge: a record directory
//! with no file at all then means that no process with tracking compiled in
//! took a lock, which `lockgraph test` reports.
//!
//! Nothing here may panic: it runs inside `lock()`. Arguments that are not
//! UTF-8 are written lossily, and messages go straight to the standard error
//! file descriptor (`crate::stderr`), not through `eprintln!`, which panics
//! when standard error cannot be written.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fork::Mutex;

mod cycle;
mod lines;
mod raw;
mod stacks;
pub(crate) use cycle::{CycleEdge, CycleLine};
pub(crate) use lines::{class_id, json_str, ClassDesc, EdgeLine};
use lines::{format_line, stack_line};
pub(crate) use stacks::before_abort;

/// The record format version written (2: gates carry their mode; 3: an
/// edge's hold may be `upgradable`, and a `read` request is a plain read,
/// which waits for no upgradable read; 4: a `stack` line may be raw, its
/// frames addresses in the files the process ran, and `cycle` lines give
/// the cycles found within one class; `docs/record-format.md`).
pub const RECORD_VERSION: u32 = 4;

struct Recorder {
    file: Mutex<File>,
    exe: String,
    pid: u32,
    /// The pid in the gates the lines write: the process's own, also in a
    /// child forked from the one that opened the file, whose gate locks
    /// are its own (a lock made before the fork is a copy in the child)
    /// and whose new locks can get ids its parent's have too. `anon:`
    /// class ids name instead the process that handed out the lock's id
    /// ([`MINTERS`]).
    ids_pid: AtomicU32,
}

/// Room in [`Minters`]: forks, one inside the other, below the process
/// that opened the record file.
const MAX_FORKS: usize = 32;

/// Which process handed out a lock id, for the pid of an `anon:` class id
/// (`anon:<pid>:<id>`). A forked child writes into its parent's file, and
/// its lock ids are its parent's: the locks it inherited keep theirs (it
/// inherits the graph, and does not write again an edge its parent wrote
/// before the fork, so these must keep their class ids), and it hands out
/// new ones from the same counter as its parent. So in the child's fork
/// hook the child starts a new block of ids at the counter (`meta`'s
/// `fresh_ids_after_fork`), and lists here that mark and its pid: an id
/// at or above the mark was handed out by the child (or its own children,
/// listed after it), one below by the processes before it; its parent's
/// ids at or above the mark are written by the parent, whose list does not
/// have the entry. Every fork down from the file's process appends one
/// entry (the marks grow); no allocation, no lock (fork hooks).
///
/// Past [`MAX_FORKS`] a child lists nothing (and says so on stderr): its
/// new anonymous locks are written with the pid of the deepest process
/// listed, like that process's own new ones, with which they can then
/// share a class id.
struct Minters {
    len: AtomicUsize,
    marks: [AtomicU64; MAX_FORKS],
    pids: [AtomicU32; MAX_FORKS],
}

impl Minters {
    const fn new() -> Minters {
        Minters {
            len: AtomicUsize::new(0),
            marks: [const { AtomicU64::new(0) }; MAX_FORKS],
            pids: [const { AtomicU32::new(0) }; MAX_FORKS],
        }
    }

    /// Lists process `pid`, which hands out ids from `mark` on; `false`
    /// when the list is full. In a fork hook (one thread).
    fn push(&self, mark: u64, pid: u32) -> bool {
        let i = self.len.load(Ordering::Relaxed);
        if i >= MAX_FORKS {
            return false;
        }
        self.marks[i].store(mark, Ordering::Relaxed);
        self.pids[i].store(pid, Ordering::Relaxed);
        self.len.store(i + 1, Ordering::Release);
        true
    }

    /// The pid of the process that handed out lock id `id`: the last one
    /// listed from at or below `id`, else `file_pid` (the process that
    /// opened the file).
    fn pid_of(&self, id: u64, file_pid: u32) -> u32 {
        let len = self.len.load(Ordering::Acquire).min(MAX_FORKS);
        (0..len)
            .rev()
            .find(|&i| self.marks[i].load(Ordering::Relaxed) <= id)
            .map_or(file_pid, |i| self.pids[i].load(Ordering::Relaxed))
    }
}

/// This process's [`Minters`].
static MINTERS: Minters = Minters::new();

/// The pid of the process that handed out lock id `id`, as the `anon:`
/// class ids of records name it (the profile's too): this process's,
/// except in a forked child of a recording process, for the ids made before
/// a fork ([`Minters`]).
pub(crate) fn minting_pid(id: u64) -> u32 {
    let base = match RECORDER.get() {
        Some(Some(r)) => r.pid,
        _ => std::process::id(),
    };
    MINTERS.pid_of(id, base)
}

static RECORDER: OnceLock<Option<Recorder>> = OnceLock::new();

fn recorder() -> Option<&'static Recorder> {
    RECORDER
        .get_or_init(|| {
            let dir = crate::env::RECORD.path()?;
            match open(dir.clone()) {
                Ok(r) => Some(r),
                Err(e) => {
                    say(&format!(
                        "lockgraph: LOCKGRAPH_RECORD={}: {e}; not recording",
                        dir.display()
                    ));
                    None
                }
            }
        })
        .as_ref()
}

/// Writes one line to standard error, ignoring failure (a closed or full
/// standard error must not make a lock panic), without taking the standard
/// error lock (`crate::stderr`).
fn say(line: &str) {
    crate::stderr::line(line);
}

/// Creates this process's record file, with its header, when
/// `LOCKGRAPH_RECORD` is set and it does not exist yet. Called at the first
/// lock use (cheap after the first call).
pub(crate) fn start() {
    if recorder().is_some() {
        raw::prime();
        stacks::start();
    }
}

/// The directory of `LOCKGRAPH_RECORD`, when recording is on.
pub(crate) fn record_dir() -> Option<PathBuf> {
    recorder()?;
    PATH.get().and_then(|p| p.parent().map(PathBuf::from))
}

/// The executable's path, as written in records.
pub(crate) fn exe() -> String {
    recorder().map(|r| r.exe.clone()).unwrap_or_else(|| {
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    })
}

/// The file this process records into, when recording is on.
pub fn record_file() -> Option<PathBuf> {
    recorder().map(|_| PATH.get().cloned().unwrap_or_default())
}

static PATH: OnceLock<PathBuf> = OnceLock::new();

fn open(dir: PathBuf) -> std::io::Result<Recorder> {
    fs::create_dir_all(&dir)?;
    let pid = std::process::id();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let path = dir.join(format!("lockgraph-{pid}-{}.jsonl", now.as_nanos()));
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut line = String::new();
    let _ = write!(
        line,
        "{{\"lockgraph_record\":{RECORD_VERSION},\"pid\":{pid},\"exe\":"
    );
    json_str(&mut line, &exe);
    line.push_str(",\"args\":[");
    for (i, a) in std::env::args_os().skip(1).enumerate() {
        if i > 0 {
            line.push(',');
        }
        // `args()` would panic on an argument that is not UTF-8.
        json_str(&mut line, &a.to_string_lossy());
    }
    let _ = writeln!(line, "],\"started_unix_ms\":{}}}", now.as_millis());
    file.write_all(line.as_bytes())?;
    let _ = PATH.set(path);
    fork_hooks();
    Ok(Recorder {
        file: Mutex::new(file),
        exe,
        pid,
        ids_pid: AtomicU32::new(pid),
    })
}

/// The record file's lock across `fork()` (see `fork.rs`): a child forked
/// while another thread was writing a line would otherwise find it held
/// forever. The child keeps appending to its parent's file (each line is one
/// `write(2)`, so lines never interleave), with its own pid in the gates
/// it writes (`Recorder::ids_pid`) and in the `anon:` class ids of the
/// locks it made ([`MINTERS`]); its lines name no process of
/// their own, and `lockgraph check` merges them like any other.
///
/// Registered when the file is opened, so that the child's hook, which
/// starts its new block of lock ids, runs after every fork of a recording
/// process.
fn fork_hooks() {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &FORK_HOOKS);
}

static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: fork_lock,
    child: fork_child,
};

fn fork_child() {
    let pid = std::process::id();
    let mark = crate::meta::fresh_ids_after_fork();
    if !MINTERS.push(mark, pid) {
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            say(
                "lockgraph: more nested forks than the record tells apart: this process's \
                 new anonymous locks may share class ids with another process's\n",
            );
        }
    }
    if let Some(Some(r)) = RECORDER.get() {
        r.ids_pid.store(pid, Ordering::Relaxed);
    }
}

fn fork_lock() {
    if let Some(Some(r)) = RECORDER.get() {
        crate::fork::hold(r.file.lock());
    }
}

/// Whether this process writes a record file (cheap after the first call).
pub(crate) fn on() -> bool {
    recorder().is_some()
}

/// Writes edges, one `write` per line (the file is opened for appending), so
/// a process killed at any point leaves complete lines behind.
///
/// Nothing is resolved here (this runs on the thread that took the lock,
/// with its locks held): an edge with a stack is written with an empty
/// `backtrace` and a `stack` key, then its raw `stack` line (the addresses,
/// for the checker to resolve: `raw.rs`), and its stack goes to the
/// record's own thread, which resolves it and appends a `stack` line with
/// that key (`stacks.rs`) if the process lives long enough.
pub(crate) fn write(lines: Vec<EdgeLine>) {
    let Some(r) = recorder() else { return };
    for e in lines {
        let key = e.backtrace.as_ref().map(|_| stacks::next_key());
        let ids_pid = r.ids_pid.load(Ordering::Relaxed);
        let line = format_line(&e, r.pid, ids_pid, &MINTERS, &r.exe, key.as_deref());
        if !write_line(r, &line) {
            return;
        }
        if let (Some(key), Some(bt)) = (key, e.backtrace) {
            let raw = raw::raw_stack_line(&key, std::process::id(), bt.ips());
            let written = raw.is_some_and(|l| write_line(r, &l));
            stacks::resolve_later(key, bt, written);
        }
    }
}

/// Writes the `cycle` lines of cycles the runtime found that the edge
/// lines cannot show (`cycle.rs`), one `write` each, as [`write`] does
/// edges: a stack is named by its key, written raw after the line, and
/// resolved on the record's thread.
pub(crate) fn write_cycles(cycles: Vec<CycleLine>) {
    if cycles.is_empty() {
        return;
    }
    let Some(r) = recorder() else { return };
    for c in cycles {
        let mut stacks: Vec<Option<String>> = Vec::with_capacity(c.edges.len());
        for e in &c.edges {
            let named = stacks.iter().flatten().count();
            let key = e.backtrace.as_ref().filter(|_| named < cycle::MAX_STACKS);
            stacks.push(key.map(|_| stacks::next_key()));
        }
        let Some(line) = cycle::format_cycle(&c, r.pid, &MINTERS, &r.exe, &stacks) else {
            say(&format!(
                "lockgraph: a lock-order cycle through {} locks is too long for one record line \
                 ({} KiB at most); it is not recorded (the runtime reported it)",
                c.locks.iter().map(|(_, n)| n).sum::<usize>(),
                cycle::MAX_LINE >> 10
            ));
            continue;
        };
        if !write_line(r, &line) {
            return;
        }
        for (e, key) in c.edges.into_iter().zip(stacks) {
            if let (Some(key), Some(bt)) = (key, e.backtrace) {
                let raw = raw::raw_stack_line(&key, std::process::id(), bt.ips());
                let written = raw.is_some_and(|l| write_line(r, &l));
                stacks::resolve_later(key, bt, written);
            }
        }
    }
}

/// Appends one line with one `write(2)`; `false` (said once on stderr)
/// when it failed.
fn write_line(r: &Recorder, line: &str) -> bool {
    let mut f = r.file.lock();
    if let Err(err) = f.write_all(line.as_bytes()) {
        drop(f);
        say(&format!(
            "lockgraph: cannot write the lock-order record: {err}"
        ));
        return false;
    }
    true
}

#[cfg(test)]
mod tests;
