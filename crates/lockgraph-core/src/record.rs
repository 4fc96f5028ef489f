//! `LOCKGRAPH_RECORD=<dir>`: append every new class-level edge to a per-process
//! JSON-lines file, for `lockgraph check` to merge across processes. The format
//! is documented in `docs/record-format.md` (version 1).
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
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::class::{Class, LockKind, Site};
use lockgraph_graph::gates::{gate_id, gate_mode, GateMode};

use crate::fork::Mutex;
use crate::report::{Backtrace, Hold, Request};
use crate::site_key;

mod stacks;
pub(crate) use stacks::before_abort;

/// The record format version written (2: gates carry their mode; 3: an
/// edge's hold may be `upgradable`, and a `read` request is a plain read,
/// which waits for no upgradable read; `docs/record-format.md`).
pub const RECORD_VERSION: u32 = 3;

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

/// One lock class as written in a record.
#[derive(Clone, Copy)]
pub(crate) struct ClassDesc {
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    pub(crate) instance: u64,
}

/// One new edge to write, gathered under the graph lock and written after it.
pub(crate) struct EdgeLine {
    pub(crate) from: ClassDesc,
    pub(crate) to: ClassDesc,
    pub(crate) hold: Hold,
    pub(crate) request: Request,
    /// The request was an upgradable read (written `"upgradable"`).
    pub(crate) upgradable_request: bool,
    pub(crate) gates: Vec<u64>,
    pub(crate) thread: Arc<str>,
    pub(crate) held_at: Option<Site>,
    pub(crate) requested_at: Option<Site>,
    pub(crate) backtrace: Option<Backtrace>,
}

/// Writes edges, one `write` per line (the file is opened for appending), so
/// a process killed at any point leaves complete lines behind.
///
/// Nothing is resolved here (this runs on the thread that took the lock,
/// with its locks held): an edge with a stack is written with an empty
/// `backtrace` and a `stack` key, and its stack goes to the record's own
/// thread, which resolves it and appends a `stack` line with that key
/// (`stacks.rs`).
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
            stacks::resolve_later(key, bt);
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

/// The `stack` line of a resolved stack: `{"type":"stack","stack":KEY,"pid":P,"backtrace":[...]}`.
fn stack_line(key: &str, pid: u32, frames: &[String]) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"type\":\"stack\",\"stack\":");
    json_str(&mut s, key);
    let _ = write!(s, ",\"pid\":{pid},\"backtrace\":[");
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_str(&mut s, frame);
    }
    s.push_str("]}\n");
    s
}

/// The edge line of `e` in the file of process `pid` (whose gates carry
/// `ids_pid`: `pid`, except in a forked child; whose `anon:` class ids
/// carry the pid `minters` gives their lock id).
fn format_line(
    e: &EdgeLine,
    pid: u32,
    ids_pid: u32,
    minters: &Minters,
    exe: &str,
    stack: Option<&str>,
) -> String {
    let mut s = String::with_capacity(512);
    s.push_str("{\"type\":\"edge\",\"from\":");
    class_json(&mut s, &e.from, minters.pid_of(e.from.instance, pid));
    s.push_str(",\"to\":");
    class_json(&mut s, &e.to, minters.pid_of(e.to.instance, pid));
    let hold = match e.hold {
        Hold::Exclusive => "exclusive",
        Hold::Shared => "shared",
        Hold::Upgradable => "upgradable",
    };
    let request = match e.request {
        Request::Exclusive if e.upgradable_request => "upgradable",
        Request::Exclusive => "exclusive",
        Request::Read => "read",
        Request::RecursiveRead => "recursive_read",
    };
    let _ = write!(
        s,
        ",\"hold\":\"{hold}\",\"request\":\"{request}\",\"gates\":["
    );
    for (i, g) in e.gates.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let id = gate_id(*g);
        let _ = match gate_mode(*g) {
            GateMode::Exclusive => write!(s, "\"{ids_pid}:{id}\""),
            GateMode::Upgradable => write!(s, "\"{ids_pid}:{id}:upgradable\""),
            GateMode::Shared => write!(s, "\"{ids_pid}:{id}:read\""),
        };
    }
    s.push_str("],\"thread\":");
    json_str(&mut s, &e.thread);
    let _ = write!(s, ",\"pid\":{pid},\"exe\":");
    json_str(&mut s, exe);
    s.push_str(",\"held_at\":");
    site_json(&mut s, e.held_at);
    s.push_str(",\"requested_at\":");
    site_json(&mut s, e.requested_at);
    // Resolved later, off this thread: see `write`.
    s.push_str(",\"backtrace\":[]");
    if let Some(key) = stack {
        s.push_str(",\"stack\":");
        json_str(&mut s, key);
    }
    s.push_str("}\n");
    s
}

/// A class's identity across processes, as written in records and profiles
/// (`pid`: the process that handed out an anonymous lock's id, `instance`).
pub(crate) fn class_id(class: Class, pid: u32, instance: u64) -> String {
    match class {
        Class::Named(n) => format!("name:{n}"),
        Class::Site(l, t) => site_class_id(Site::from(l), t()),
        Class::Anonymous => format!("anon:{pid}:{instance}"),
    }
}

/// `site:<file>:<line>:<column>[:<type>]`, the file of a dependency's
/// source in its machine-independent form (`site_key`): the site itself,
/// as the `site` fields show it, keeps the full path.
fn site_class_id(site: Site, ty: &str) -> String {
    let file = site_key::site(site.file);
    match ty {
        "" => format!("site:{file}:{}:{}", site.line, site.column),
        ty => format!("site:{file}:{}:{}:{ty}", site.line, site.column),
    }
}

/// `c`, whose id (if anonymous) process `pid` handed out.
fn class_json(s: &mut String, c: &ClassDesc, pid: u32) {
    s.push_str("{\"class\":");
    json_str(s, &class_id(c.class, pid, c.instance));
    s.push_str(",\"name\":");
    match c.class {
        Class::Named(n) => json_str(s, n),
        _ => s.push_str("null"),
    }
    let _ = write!(s, ",\"kind\":\"{}\",\"site\":", c.kind.name());
    site_json(s, c.class.site());
    s.push('}');
}

fn site_json(s: &mut String, site: Option<Site>) {
    match site {
        Some(site) => json_str(s, &site.to_string()),
        None => s.push_str("null"),
    }
}

/// Appends `v` as a JSON string literal.
pub(crate) fn json_str(s: &mut String, v: &str) {
    s.push('"');
    for ch in v.chars() {
        match ch {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockgraph_graph::gates::gate;

    #[test]
    fn strings_are_escaped_as_json() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn a_stack_line_names_its_key_and_frames() {
        let line = stack_line("42:7", 42, &["x::f (src/a.rs:2)".to_string()]);
        assert_eq!(
            line,
            "{\"type\":\"stack\",\"stack\":\"42:7\",\"pid\":42,\"backtrace\":[\"x::f (src/a.rs:2)\"]}\n"
        );
    }

    #[test]
    fn an_edge_line_with_a_stack_names_it_and_holds_no_frames() {
        let e = EdgeLine {
            from: ClassDesc {
                class: Class::Named("a"),
                kind: LockKind::Mutex,
                instance: 1,
            },
            to: ClassDesc {
                class: Class::Named("b"),
                kind: LockKind::Mutex,
                instance: 2,
            },
            hold: Hold::Exclusive,
            request: Request::Exclusive,
            upgradable_request: false,
            gates: vec![],
            thread: "t".into(),
            held_at: None,
            requested_at: None,
            backtrace: Some(Backtrace::capture()),
        };
        let line = format_line(&e, 42, 42, &Minters::new(), "/bin/x", Some("42:1"));
        assert!(
            line.ends_with("\"backtrace\":[],\"stack\":\"42:1\"}\n"),
            "{line}"
        );
    }

    #[test]
    fn site_class_ids_name_dependency_sources_without_the_cargo_home() {
        let at = |file: &'static str| Site {
            file,
            line: 10,
            column: 5,
        };
        let registry = "/home/alice/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/\
                        moka-0.12.16/src/sync/cache.rs";
        assert_eq!(
            site_class_id(at(registry), "moka::Inner"),
            "site:moka-0.12.16/src/sync/cache.rs:10:5:moka::Inner"
        );
        let git = "/ci/cargo/git/checkouts/tokio-377c595163f99a10/d8e4d0d/tokio/src/m.rs";
        assert_eq!(site_class_id(at(git), ""), "site:tokio/tokio/src/m.rs:10:5");
        assert_eq!(
            site_class_id(at("src/model.rs"), "app::Model"),
            "site:src/model.rs:10:5:app::Model"
        );
        // The site itself, as reports and the `site` field show it, is whole.
        assert_eq!(at(registry).to_string(), format!("{registry}:10:5"));
    }

    #[test]
    fn an_edge_line_has_every_documented_field() {
        let line = format_line(
            &EdgeLine {
                from: ClassDesc {
                    class: Class::Named("metrics"),
                    kind: LockKind::Mutex,
                    instance: 3,
                },
                to: ClassDesc {
                    class: Class::Anonymous,
                    kind: LockKind::RwLock,
                    instance: 9,
                },
                hold: Hold::Shared,
                request: Request::RecursiveRead,
                upgradable_request: false,
                gates: vec![
                    17,
                    gate(18, GateMode::Shared),
                    gate(19, GateMode::Upgradable),
                ],
                thread: "worker-1".into(),
                held_at: Some(Site {
                    file: "src/a.rs",
                    line: 1,
                    column: 2,
                }),
                requested_at: None,
                backtrace: None,
            },
            42,
            42,
            &Minters::new(),
            "/bin/x",
            None,
        );
        assert_eq!(
            line,
            "{\"type\":\"edge\",\"from\":{\"class\":\"name:metrics\",\"name\":\"metrics\",\
             \"kind\":\"Mutex\",\"site\":null},\"to\":{\"class\":\"anon:42:9\",\"name\":null,\
             \"kind\":\"RwLock\",\"site\":null},\"hold\":\"shared\",\"request\":\"recursive_read\",\
             \"gates\":[\"42:17\",\"42:18:read\",\"42:19:upgradable\"],\"thread\":\"worker-1\",\
             \"pid\":42,\"exe\":\"/bin/x\",\"held_at\":\"src/a.rs:1:2\",\"requested_at\":null,\"backtrace\":[]}\n"
        );
    }

    /// In a forked child (its lines in its parent's file, under its
    /// parent's pid) the gates carry the child's own pid: its new locks
    /// can get ids its parent's have too, and must not read as one lock.
    /// Its `anon:` class ids carry the pid of the process that handed out
    /// the lock's id: the file's for a lock made before the fork (an edge
    /// written before the fork is not written again), the child's for one
    /// at or above the mark its fork hook listed.
    #[test]
    fn a_forked_childs_lock_ids_carry_its_own_pid() {
        let edge = |from: u64| EdgeLine {
            from: ClassDesc {
                class: Class::Anonymous,
                kind: LockKind::Mutex,
                instance: from,
            },
            to: ClassDesc {
                class: Class::Named("b"),
                kind: LockKind::Mutex,
                instance: 6,
            },
            hold: Hold::Exclusive,
            request: Request::Exclusive,
            upgradable_request: false,
            gates: vec![17],
            thread: "t".into(),
            held_at: None,
            requested_at: None,
            backtrace: None,
        };
        let minters = Minters::new();
        assert!(minters.push(2049, 43));
        let line = format_line(&edge(5), 42, 43, &minters, "/bin/x", None);
        assert!(line.contains("\"class\":\"anon:42:5\""), "{line}");
        assert!(line.contains("\"gates\":[\"43:17\"]"), "{line}");
        assert!(line.contains("\"pid\":42,"), "{line}");
        let line = format_line(&edge(2049), 42, 43, &minters, "/bin/x", None);
        assert!(line.contains("\"class\":\"anon:43:2049\""), "{line}");
        assert!(line.contains("\"pid\":42,"), "{line}");
    }

    /// After nested forks, an id is its newest lister's at or below it
    /// (the file's process below every mark); past the room, a fork is not
    /// listed and its ids read as the deepest listed process's.
    #[test]
    fn an_anonymous_locks_pid_is_the_process_that_handed_out_its_id() {
        let m = Minters::new();
        assert_eq!(m.pid_of(7, 42), 42);
        assert!(m.push(1025, 43));
        assert!(m.push(3073, 44));
        assert_eq!(m.pid_of(1024, 42), 42);
        assert_eq!(m.pid_of(1025, 42), 43);
        assert_eq!(m.pid_of(3072, 42), 43);
        assert_eq!(m.pid_of(3073, 42), 44);
        assert_eq!(m.pid_of(u64::MAX, 42), 44);
        for i in 2..MAX_FORKS as u32 {
            assert!(m.push(3073 + u64::from(i) * 1024, 43 + i));
        }
        let last = 43 + MAX_FORKS as u32 - 1;
        assert!(!m.push(1 << 40, 99));
        assert_eq!(m.pid_of(1 << 41, 42), last);
    }
}
