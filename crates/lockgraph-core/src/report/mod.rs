//! Reports: typed, cloneable, and readable in a terminal.

use std::fmt::{self, Write as _};

pub use lockgraph_graph::{Hold, Request};

use crate::class::{short_type_name, Class, LockKind, Site};

mod entries;
mod fix;
mod frames;
mod reads;
mod self_words;

use self_words::self_words;

pub(crate) use entries::{EdgeRuns, LockRuns};
pub use entries::{Edges, Locks};

/// A cell of the table of how a cycle deadlocks is cut past this many
/// characters.
const TABLE_CELL: usize = 72;
/// What a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportKind {
    /// Locks taken in an order that closes a cycle: threads running these
    /// paths at the same time can deadlock.
    LockOrderCycle,
    /// A thread requests a lock it already holds in a way that can block on
    /// itself. `certain` is false for a second `read()` on a held read lock,
    /// which only blocks when a writer queued in between.
    SelfDeadlock {
        /// Whether the thread deadlocks every time, not only when a writer queues.
        certain: bool,
    },
    /// A cycle through CUDA streams, host functions, events, the shared
    /// host-function executor, signals and locks (raised by `lockgraph-cuda`).
    /// `certain` when every edge is forced by ordering (same-stream FIFO, a
    /// lock held from before the host function was enqueued until the
    /// synchronize); otherwise the cycle needs the shared executor or depends
    /// on timing. Each edge's `thread` names the actor (a thread, or a host
    /// function with the site that enqueued it) and says what it waits for.
    DeviceCycle {
        /// Whether the cycle deadlocks every time the code runs.
        certain: bool,
    },
}

/// Whether a cycle was seen on the very same locks or on their classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Level {
    /// These very lock instances were taken in both orders: a certain inversion.
    Instance,
    /// Locks of these classes (same creation site or name) were taken in both
    /// orders, possibly different instances: any pair of them can deadlock.
    Class,
}

/// One lock of a report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LockInfo {
    /// The kind of primitive.
    pub kind: LockKind,
    /// The name given with `named`, if any.
    pub name: Option<&'static str>,
    /// Where the lock (or its class) was created, if known.
    pub created: Option<Site>,
    /// The lock instance: set in a cycle of the instance graph (locks of
    /// one class) and in a self-deadlock; `None` in a cycle of the class
    /// graph, even one whose [`Level`] is `Instance` (its sampled pairs of
    /// instances chain back: the locks are named by class there).
    pub instance: Option<u64>,
    /// The type of the value the lock protects (`std::any::type_name`), when
    /// it is part of the lock's class (locks made by `new`, `Default`, ...).
    pub value_type: Option<&'static str>,
    /// How many lock classes the lock-order graph has seen created at
    /// [`created`](Self::created): more than one when one site makes locks
    /// of several types (a `#[derive(Default)]`, a generic constructor), told
    /// apart by [`value_type`](Self::value_type). 0 when not known.
    pub site_classes: usize,
}

impl LockInfo {
    /// The lock of `class` and `kind` (the site count left at 0).
    pub(crate) fn of_class(kind: LockKind, class: Class, instance: Option<u64>) -> LockInfo {
        LockInfo {
            kind,
            name: match class {
                Class::Named(n) => Some(n),
                _ => None,
            },
            created: class.site(),
            instance,
            value_type: class.value_type(),
            site_classes: 0,
        }
    }

    /// The kind, with the protected type when it is part of the class:
    /// `Mutex<Vec<u8>>` (paths shortened), else `Mutex`.
    pub fn kind_label(&self) -> String {
        match self.value_type {
            Some(t) => format!("{}<{}>", self.kind.name(), short_type_name(t)),
            None => self.kind.name().to_string(),
        }
    }

    /// A short label: the name if any, else the creation site.
    pub fn label(&self) -> String {
        match (self.name, self.created) {
            (Some(n), _) => format!("`{n}`"),
            (None, Some(s)) => format!("created at {s}"),
            (None, None) => match self.instance {
                Some(i) => format!("#{i}"),
                None => "(unnamed)".to_string(),
            },
        }
    }
}

/// One edge of a cycle: a thread held `from` and then requested `to`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EdgeInfo {
    /// Index into [`CycleReport::locks`] of the held lock.
    pub from: usize,
    /// Index into [`CycleReport::locks`] of the requested lock.
    pub to: usize,
    /// The thread that first recorded the edge (its name, else its id).
    pub thread: std::sync::Arc<str>,
    /// How the held lock was held.
    pub hold: Hold,
    /// How the next lock was requested.
    pub request: Request,
    /// The request was an upgradable read (`upgradable_read`, its `try_`
    /// forms): an exclusive request to the rules, which waits for every
    /// hold, named for what it was.
    pub upgradable_request: bool,
    /// Where the held lock was taken, when the call site is known.
    pub held_at: Option<Site>,
    /// Where the next lock was requested, when the call site is known.
    pub requested_at: Option<Site>,
    /// The stack when the edge was first recorded (captured unresolved;
    /// symbols are resolved only when the report is printed). `None` when
    /// capture is off (`LOCKGRAPH_BACKTRACE=0`), and for the middle edges of
    /// a cycle longer than 64 edges (the printed report shows the first and
    /// last six).
    pub backtrace: Option<Backtrace>,
    /// Whether this is the acquisition that closed the cycle just now.
    pub closing: bool,
}

/// A potential (or certain) deadlock found before anything blocked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CycleReport {
    /// What was found.
    pub kind: ReportKind,
    /// Instance or class level.
    pub level: Level,
    /// The locks in cycle order. A report of a long cycle holds runs of
    /// equal locks: [`Locks::entry`] and [`Locks::entries`] read them as
    /// they are, the slice methods (`locks[i]`, `locks.iter()`) lay them out
    /// first.
    pub locks: Locks,
    /// The edges: `edges[i]` runs from `locks[i]` to `locks[(i + 1) % len]`
    /// (runs of one recording too: [`Edges`]).
    pub edges: Edges,
}

impl LockInfo {
    /// A node of a report built outside the core (the CUDA model).
    pub fn new(
        kind: LockKind,
        name: Option<&'static str>,
        created: Option<Site>,
        instance: Option<u64>,
    ) -> LockInfo {
        LockInfo {
            kind,
            name,
            created,
            instance,
            value_type: None,
            site_classes: 0,
        }
    }
}

impl EdgeInfo {
    /// An edge of a report built outside the core: `actor` (a thread, or a
    /// host function) holds or is node `from` and waits for node `to`.
    pub fn new(
        from: usize,
        to: usize,
        actor: std::sync::Arc<str>,
        held_at: Option<Site>,
        requested_at: Option<Site>,
        closing: bool,
    ) -> EdgeInfo {
        EdgeInfo {
            from,
            to,
            thread: actor,
            hold: Hold::Exclusive,
            request: Request::Exclusive,
            upgradable_request: false,
            held_at,
            requested_at,
            backtrace: None,
            closing,
        }
    }
}

impl CycleReport {
    /// A report built outside the core: `edges[i]` runs from `locks[i]` to
    /// `locks[(i + 1) % len]`.
    pub fn new(kind: ReportKind, level: Level, locks: Vec<LockInfo>, edges: Vec<EdgeInfo>) -> Self {
        CycleReport {
            kind,
            level,
            locks: locks.into(),
            edges: edges.into(),
        }
    }

    /// The edge whose recording raised this report.
    pub fn closing_edge(&self) -> Option<&EdgeInfo> {
        self.edges.closing()
    }

    /// The threads of the cycle, one per edge, in cycle order.
    pub fn threads(&self) -> Vec<&str> {
        self.edges.threads()
    }
}

/// A stack captured without symbols (the return addresses of its innermost
/// [`Backtrace::MAX_FRAMES`] frames); printing resolves them. Cloning is cheap
/// (the frames are shared).
#[derive(Clone)]
pub struct Backtrace(std::sync::Arc<[usize]>);

impl Backtrace {
    /// The most frames a capture keeps, innermost first. Deeper stacks are
    /// cut: the frames near the lock call are the ones a report prints.
    pub const MAX_FRAMES: usize = 48;

    /// Captures the current stack without resolving symbols (a few
    /// microseconds; the walk stops after [`Backtrace::MAX_FRAMES`] frames).
    pub fn capture() -> Backtrace {
        let mut ips = Vec::with_capacity(Self::MAX_FRAMES);
        let mut frame = |frame: &backtrace::Frame| {
            ips.push(frame.ip() as usize);
            ips.len() < Self::MAX_FRAMES
        };
        // Without the `backtrace` crate's global lock on Unix: another
        // thread may hold it when this one forks, and the child's first new
        // edge would wait for it forever.
        #[cfg(unix)]
        // SAFETY: the lock serialises the Windows debug-help library; on Unix
        // the unwinder (libgcc's or libunwind's) walks the calling thread's
        // own stack and is safe to call from several threads at once.
        unsafe {
            backtrace::trace_unsynchronized(&mut frame)
        };
        #[cfg(not(unix))]
        backtrace::trace(&mut frame);
        Backtrace(ips.into())
    }

    /// The address of the shared frames: two captures are the same stack
    /// value when their addresses are equal (while either is alive).
    pub(crate) fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The resolved frames that belong to the program rather than to lockgraph,
    /// lock_api, parking_lot or the standard library, as "function (file:line)".
    pub fn user_frames(&self, max: usize) -> Vec<String> {
        let ips: Vec<(usize, bool)> = self.0.iter().map(|&ip| (ip, false)).collect();
        user_frames_of(&ips, max)
    }
}

/// Resolves raw frame addresses, innermost first, as a stack walk gives them
/// (return addresses, except `exact` ones: the interrupted instruction of a
/// signal frame), and keeps the program frames like [`Backtrace::user_frames`].
/// Resolving takes the `backtrace` crate's lock: never call it in a signal
/// handler.
pub(crate) fn user_frames_of(ips: &[(usize, bool)], max: usize) -> Vec<String> {
    let _resolving = Resolving::enter();
    let mut out = Vec::new();
    for &(ip, exact) in ips {
        // `resolve` looks up `addr - 1` (the call instruction before a return
        // address); an exact address is looked up as it is.
        let addr = if exact { ip.wrapping_add(1) } else { ip };
        backtrace::resolve(addr as *mut std::ffi::c_void, |sym| {
            if out.len() < max {
                if let Some(line) = frames::user_frame(sym.name(), sym.filename(), sym.lineno()) {
                    out.push(line);
                }
            }
        });
        if out.len() == max {
            break;
        }
    }
    out
}

/// Held while lockgraph resolves symbols (the `backtrace` crate takes its
/// global lock meanwhile): `fork()` waits for it (see `fork.rs`), so that no
/// thread of lockgraph's leaves that lock held in the child.
static RESOLVING: crate::fork::Mutex<()> = crate::fork::Mutex::new(());

struct Resolving(#[allow(dead_code)] crate::fork::MutexGuard<'static, ()>);

impl Resolving {
    fn enter() -> Resolving {
        static REGISTERED: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
        crate::fork::register(&REGISTERED, &FORK_HOOKS);
        Resolving(RESOLVING.lock())
    }
}

static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(RESOLVING.lock()),
    child: crate::fork::nothing,
};

impl fmt::Debug for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Backtrace(unresolved)")
    }
}

impl fmt::Display for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.user_frames(8) {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

fn hold_word(h: Hold) -> &'static str {
    match h {
        Hold::Exclusive => "exclusively",
        Hold::Shared => "shared",
        Hold::Upgradable => "as an upgradable read",
    }
}

fn request_word(r: Request) -> &'static str {
    match r {
        Request::Exclusive => "exclusively",
        Request::Read => "for read",
        Request::RecursiveRead => "for recursive read",
    }
}

/// How a lock of `kind` was held, for an edge line ("" where only one mode exists).
fn hold_mode(kind: LockKind, h: Hold) -> &'static str {
    match (kind, h) {
        (LockKind::RwLock, Hold::Exclusive) => " for write",
        (LockKind::RwLock, Hold::Shared) => " for read",
        (LockKind::RwLock, Hold::Upgradable) => " for an upgradable read",
        (LockKind::Other, Hold::Exclusive) => " exclusively",
        (LockKind::Other, Hold::Shared) => " shared",
        (LockKind::Other, Hold::Upgradable) => " as an upgradable read",
        (LockKind::Queue, _) => " as its consumer",
        (LockKind::Semaphore | LockKind::AsyncSemaphore, _) => " (a permit)",
        (LockKind::Barrier, _) => " as a party on its way to the next wait",
        (LockKind::Thread, _) => " (running in that thread)",
        _ => "",
    }
}

/// How edge `e`'s lock, of `kind`, was requested, for an edge line.
fn request_mode_of(kind: LockKind, e: &EdgeInfo) -> &'static str {
    match (kind, e.request) {
        (LockKind::RwLock, Request::Exclusive) if e.upgradable_request => " for an upgradable read",
        (LockKind::Other, Request::Exclusive) if e.upgradable_request => " as an upgradable read",
        _ => request_mode(kind, e.request),
    }
}

/// How a lock of `kind` was requested, for an edge line.
fn request_mode(kind: LockKind, r: Request) -> &'static str {
    match (kind, r) {
        (LockKind::RwLock, Request::Exclusive) => " for write",
        (LockKind::RwLock, Request::Read) => " for read",
        (_, Request::RecursiveRead) => " for recursive read",
        (LockKind::Other, Request::Exclusive) => " exclusively",
        (LockKind::Other, Request::Read) => " for read",
        (LockKind::Queue, _) => " (a send that blocks while it is full)",
        (LockKind::Semaphore | LockKind::AsyncSemaphore, _) => " (a permit)",
        (LockKind::Barrier, _) => " (a barrier wait)",
        (LockKind::Thread, _) => " (a join)",
        _ => "",
    }
}

fn site_or_unknown(s: Option<Site>) -> String {
    s.map_or_else(|| "an unknown site".to_string(), |s| s.to_string())
}

/// Cycles longer than this print their first and last edges only; the
/// `edges` field keeps all of them.
const SHOWN_EDGES: usize = 12;
/// How a report names an edge's actor: a thread as thread `name`; an
/// async task's label (`task 7 "name" (spawned at ...)`, made by
/// `lockgraph::tokio`) as it is.
fn is_task(label: &str) -> bool {
    label
        .strip_prefix("task ")
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

fn actor(label: &str) -> String {
    if is_task(label) {
        label.to_string()
    } else {
        format!("thread `{label}`")
    }
}

/// At most this many thread columns in the scenario table.
const SHOWN_COLUMNS: usize = 6;

impl fmt::Display for CycleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ReportKind::SelfDeadlock { certain } => self.fmt_self(f, certain),
            ReportKind::LockOrderCycle => self.fmt_cycle(f),
            ReportKind::DeviceCycle { certain } => self.fmt_device(f, certain),
        }
    }
}

impl CycleReport {
    /// "One site, many fields": notes on the report's locks made at a site
    /// that makes more than one lock, where the class alone does not say
    /// which field a lock is. One note per site, in lock order.
    fn site_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut seen: Vec<Site> = Vec::new();
        for (i, lock) in self.locks.entries().enumerate() {
            let Some(site) = lock.created.filter(|_| lock.name.is_none()) else {
                continue;
            };
            if seen.contains(&site) {
                continue;
            }
            seen.push(site);
            // The later locks made at this site, and whether each is of
            // this one's type.
            let same_site: Vec<(usize, bool)> = self
                .locks
                .entries()
                .enumerate()
                .skip(i)
                .filter(|(_, l)| l.name.is_none() && l.created == Some(site))
                .map(|(j, l)| (j, l.value_type == lock.value_type))
                .collect();
            // Locks of this report of one class: same site, same type.
            let twins: Vec<usize> = same_site
                .iter()
                .filter(|&&(_, twin)| twin)
                .map(|&(j, _)| j)
                .collect();
            let same_site: Vec<usize> = same_site.iter().map(|&(j, _)| j).collect();
            let tags = |v: &[usize]| v.iter().map(|&j| tag(j)).collect::<Vec<_>>().join(", ");
            if twins.len() > 1 {
                notes.push(format!(
                    "one site, many fields: {} are one class (made at {site} with one type: \
                     fields of one #[derive(Default)], or a generic constructor); only their \
                     instances tell them apart: name them (`named`) or create them on separate lines",
                    tags(&twins)
                ));
            } else if lock.site_classes > 1 {
                notes.push(format!(
                    "one site, many fields: {site} makes locks of {} types ({}; a \
                     #[derive(Default)] or a generic constructor): each type is its own class",
                    lock.site_classes,
                    tags(&same_site)
                ));
            }
        }
        notes
    }

    fn fmt_self(&self, f: &mut fmt::Formatter<'_>, certain: bool) -> fmt::Result {
        let (Some(lock), Some(e)) = (self.locks.entry(0), self.edges.entry(0)) else {
            return Ok(());
        };
        let (what, why) = self_words(lock.kind, certain, e.request);
        writeln!(f, "lockgraph: {what}")?;
        writeln!(f, "  lock:      {} {}", lock.kind_label(), lock.label())?;
        if let (Some(_), Some(site)) = (lock.name, lock.created) {
            writeln!(f, "             created at {site}")?;
        }
        for note in self.site_notes() {
            writeln!(f, "             ({note})")?;
        }
        if is_task(&e.thread) {
            writeln!(f, "  task:      {}", actor(&e.thread))?;
        } else {
            writeln!(f, "  thread:    {}", actor(&e.thread))?;
        }
        // A lock's modes, or a pipeline resource's roles.
        let (held, requested) = match lock.kind {
            LockKind::Queue
            | LockKind::Semaphore
            | LockKind::AsyncSemaphore
            | LockKind::Barrier
            | LockKind::Thread => (
                hold_mode(lock.kind, e.hold).trim_start(),
                request_mode(lock.kind, e.request).trim_start(),
            ),
            // A potential self-deadlock of an exclusive request: an
            // upgradable read (`self_words`).
            _ if !certain && e.request == Request::Exclusive => {
                (hold_word(e.hold), "for an upgradable read")
            }
            _ => (hold_word(e.hold), request_word(e.request)),
        };
        writeln!(
            f,
            "  holds it   {held} since {}",
            site_or_unknown(e.held_at)
        )?;
        writeln!(
            f,
            "  requests   it {requested} at {}",
            site_or_unknown(e.requested_at)
        )?;
        writeln!(f, "  {why}")?;
        self.fmt_stacks(f)
    }

    fn fmt_cycle(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.locks.len();
        writeln!(
            f,
            "lockgraph: potential deadlock: lock-order cycle through {n} locks"
        )?;
        match self.level {
            Level::Instance => writeln!(
                f,
                "  level: instance (these very locks were taken in opposite orders)"
            )?,
            Level::Class => writeln!(
                f,
                "  level: class (locks made at these sites were taken in opposite orders,\n         \
                 maybe different instances; any pair of them can deadlock)"
            )?,
        }
        writeln!(f)?;
        writeln!(f, "  locks in the cycle:")?;
        let width = n.to_string().len() + 1;
        for i in 0..n {
            if !shown(i, n) {
                if i == SHOWN_EDGES / 2 {
                    writeln!(f, "    ... {} more locks ...", n - SHOWN_EDGES)?;
                }
                continue;
            }
            let Some(lock) = self.locks.entry(i) else {
                continue;
            };
            write!(
                f,
                "    {:<width$} {} {}",
                tag(i),
                lock.kind_label(),
                lock.label()
            )?;
            if let (Some(_), Some(site)) = (lock.name, lock.created) {
                write!(f, " (created at {site})")?;
            }
            if let Some(inst) = lock.instance {
                write!(f, " #{inst}")?;
            }
            writeln!(f)?;
        }
        for note in self.site_notes() {
            writeln!(f, "  {note}")?;
        }
        writeln!(f)?;
        writeln!(f, "  how each edge was recorded:")?;
        for i in 0..self.edges.len() {
            if !shown(i, n) {
                if i == SHOWN_EDGES / 2 {
                    writeln!(f, "    ... {} more edges ...", n - SHOWN_EDGES)?;
                }
                continue;
            }
            let Some(e) = self.edges.entry(i) else {
                continue;
            };
            let (first, second) = self.edge_lines(&e);
            let pad = tag(e.from).len() + tag(e.to).len() + 6;
            writeln!(f, "    {} -> {}  {first}", tag(e.from), tag(e.to))?;
            writeln!(
                f,
                "    {:pad$}{second}{}",
                "",
                if e.closing {
                    "   <- this request closed the cycle"
                } else {
                    ""
                },
            )?;
        }
        writeln!(f)?;
        self.fmt_scenario(f)?;
        for line in reads::queued_writer_lines(self) {
            writeln!(f, "  {line}")?;
        }
        writeln!(f)?;
        for line in self.fix_lines(n) {
            writeln!(f, "  {line}")?;
        }
        self.fmt_stacks(f)
    }

    fn fmt_device(&self, f: &mut fmt::Formatter<'_>, certain: bool) -> fmt::Result {
        let what = if certain {
            "deadlock (certain)"
        } else {
            "potential deadlock"
        };
        writeln!(
            f,
            "lockgraph: {what}: cycle through {}",
            device_nodes(self.locks.entries().map(|l| l.kind))
        )?;
        if certain {
            writeln!(
                f,
                "  verdict: certain (every edge is forced by stream order or a lock held since before the enqueue)"
            )?;
        } else {
            writeln!(
                f,
                "  verdict: potential (the cycle needs the shared host-function executor or depends on timing)"
            )?;
        }
        writeln!(f)?;
        writeln!(f, "  nodes in the cycle:")?;
        // A site a label already names (a host function's is its enqueue
        // site) is not said again after it (found by an outside test).
        let at = |text: &str, site: Option<Site>| {
            site.map(|s| s.to_string())
                .filter(|s| !text.contains(s.as_str()))
                .map_or_else(String::new, |s| format!(" (at {s})"))
        };
        for (i, node) in self.locks.entries().enumerate() {
            let label = node.label();
            let site = node.name.and(node.created);
            writeln!(
                f,
                "    {:<4} {} {label}{}",
                tag(i),
                node.kind.name(),
                at(&label, site)
            )?;
        }
        writeln!(f)?;
        writeln!(f, "  who waits for whom:")?;
        for e in self.edges.entries() {
            write!(
                f,
                "    {} -> {}  {}{}",
                tag(e.from),
                tag(e.to),
                e.thread,
                at(&e.thread, e.requested_at)
            )?;
            if e.closing {
                write!(f, "   <- this call closed the cycle")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        for line in self.device_cycle_fix() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }

    /// What to change about a `DeviceCycle` (lockgraph-cuda), by the kinds
    /// of its nodes: the lock held across the synchronize, the signal a
    /// host function waits on, the shared executor, or a CUDA call inside a
    /// host function.
    fn device_cycle_fix(&self) -> Vec<String> {
        let nodes: Vec<LockInfo> = self.locks.entries().collect();
        let device = |k: LockKind| {
            matches!(
                k,
                LockKind::Stream
                    | LockKind::Event
                    | LockKind::HostExecutor
                    | LockKind::HostFn
                    | LockKind::Signal
            )
        };
        if let [only] = nodes.as_slice() {
            if only.kind == LockKind::HostFn {
                return vec![
                    "fix: make no CUDA call (synchronize, launch, record, wait) inside a host function; do it from a host thread,".into(),
                    "     ordered after the host function by a stream wait on an event or a synchronize".into(),
                ];
            }
        }
        let mut out = Vec::new();
        let locks: Vec<String> = nodes
            .iter()
            .filter(|l| !device(l.kind))
            .map(|l| format!("{} {}", l.kind_label(), l.label()))
            .collect();
        if !locks.is_empty() {
            let (l, it) = if locks.len() == 1 {
                (locks[0].clone(), "it")
            } else {
                let (last, init) = locks.split_last().expect("two or more");
                (format!("{} and {last}", init.join(", ")), "them")
            };
            out.push(format!(
                "release {l} before the synchronize (of the stream, an event recorded on it, or the context), or stop taking {it} in the host function"
            ));
        }
        if nodes.iter().any(|l| l.kind == LockKind::Signal) {
            out.push("set the signal before the host function that waits on it is enqueued, or wait on a host thread: work queued behind a host function, and a thread that synchronizes first, cannot set it".into());
        }
        if nodes.iter().any(|l| l.kind == LockKind::HostExecutor) {
            out.push("host functions of every stream of a context may run one at a time on one executor thread: a host function must not block on another host function's work".into());
        }
        let mut lines = Vec::new();
        for (i, l) in out.into_iter().enumerate() {
            lines.push(format!("{} {l}", if i == 0 { "fix:" } else { "    " }));
        }
        lines
    }

    /// The two lines describing how edge `e` was recorded.
    fn edge_lines(&self, e: &EdgeInfo) -> (String, String) {
        let kind = |i| self.locks.entry(i).map(|l: LockInfo| l.kind);
        let (from, to) = (kind(e.from), kind(e.to));
        let held_at = site_or_unknown(e.held_at);
        let requested_at = site_or_unknown(e.requested_at);
        if from == Some(LockKind::Condvar) {
            return (
                format!(
                    "{} notified {} at {requested_at}",
                    actor(&e.thread),
                    self.named(e.from)
                ),
                format!("while holding {} (taken at {held_at})", self.named(e.to)),
            );
        }
        let first = format!(
            "{} held {}{} (taken at {held_at}),",
            actor(&e.thread),
            self.named(e.from),
            hold_mode(from.unwrap_or(LockKind::Other), e.hold)
        );
        let second = if to == Some(LockKind::Condvar) {
            format!("then waited on {} at {requested_at}", self.named(e.to))
        } else {
            format!(
                "then requested {}{} at {requested_at}",
                self.named(e.to),
                request_mode_of(to.unwrap_or(LockKind::Other), e)
            )
        };
        (first, second)
    }

    fn fmt_scenario(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cols: Vec<EdgeInfo> = self.edges.entries().take(SHOWN_COLUMNS).collect();
        // When one thread recorded several sides of the cycle, the columns
        // are not different threads: say what the table shows instead.
        let mut repeated: Vec<(&str, usize)> = Vec::new();
        for (i, e) in cols.iter().enumerate() {
            let n = cols.iter().filter(|c| c.thread == e.thread).count();
            if n > 1 && !cols[..i].iter().any(|c| c.thread == e.thread) {
                repeated.push((&e.thread, n));
            }
        }
        if repeated.is_empty() {
            // Columns are tasks of an async runtime, threads, or both.
            let tasks = cols.iter().filter(|c| is_task(&c.thread)).count();
            let column = match tasks {
                0 => "a thread",
                n if n == cols.len() => "a task",
                _ => "a thread or a task",
            };
            writeln!(f, "  how it deadlocks (each column {column}, all at once):")?;
        } else {
            let who: Vec<String> = repeated
                .iter()
                .map(|(t, n)| format!("{} recorded {n} of these columns itself", actor(t)))
                .collect();
            writeln!(
                f,
                "  how it deadlocks when each column runs in a thread of its own, all at once\n  \
                 ({}):",
                who.join(", ")
            )?;
        }
        let cells: Vec<[String; 3]> = cols
            .iter()
            .map(|e| {
                [
                    actor(&e.thread),
                    if self.is_condvar(e.from) {
                        format!("will notify {}", self.named(e.from))
                    } else {
                        format!("holds {}", self.named(e.from))
                    },
                    if self.is_condvar(e.to) {
                        format!("waits on {}", self.named(e.to))
                    } else {
                        format!("waits for {}", self.named(e.to))
                    },
                ]
            })
            .collect();
        // Cut and padded by hand: a name can be wider than a format width
        // allows (65,535); the lines above name every lock whole.
        let cells: Vec<[String; 3]> = (cells.into_iter())
            .map(|c| c.map(|s| crate::table::cut(&s, TABLE_CELL).into_owned()))
            .collect();
        let widths: Vec<usize> = (cells.iter())
            .map(|c| crate::table::width(c.iter().map(String::as_str)))
            .collect();
        for row in 0..3 {
            let mut line = String::from("    ");
            for (c, w) in cells.iter().zip(&widths) {
                line.push_str(&crate::table::padded(&c[row], *w));
                line.push_str("   ");
            }
            if row == 0 && self.edges.len() > SHOWN_COLUMNS {
                let _ = write!(line, "... {} more", self.edges.len() - SHOWN_COLUMNS);
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }

    fn fmt_stacks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.edges.len();
        let mut header = false;
        for i in (0..n).filter(|&i| shown(i, n)) {
            let Some(e) = self.edges.entry(i) else {
                continue;
            };
            let Some(bt) = &e.backtrace else { continue };
            let frames = bt.user_frames(6);
            if frames.is_empty() {
                continue;
            }
            if !header {
                writeln!(f)?;
                writeln!(f, "  stacks when each edge was first recorded:")?;
                header = true;
            }
            writeln!(
                f,
                "    {} -> {} ({}):",
                tag(e.from),
                tag(e.to),
                actor(&e.thread)
            )?;
            for frame in frames {
                writeln!(f, "      {frame}")?;
            }
        }
        Ok(())
    }
}

fn shown(i: usize, n: usize) -> bool {
    n <= SHOWN_EDGES || i < SHOWN_EDGES / 2 || i >= n - SHOWN_EDGES / 2
}

fn tag(i: usize) -> String {
    format!("L{}", i + 1)
}

impl CycleReport {
    /// Lock `i` as prose names it: its tag and its name (`L1 `metrics``);
    /// unnamed, its type when no other lock of the report has it
    /// (`L2 `RwLock<Model>``), else where it was made (`L3 `src/a.rs:12``).
    fn named(&self, i: usize) -> String {
        let Some(lock) = self.locks.entry(i) else {
            return tag(i);
        };
        let unique_type = lock.value_type.is_some()
            && self
                .locks
                .count_by_run(|l| l.kind == lock.kind && l.value_type == lock.value_type)
                == 1;
        match (lock.name, lock.created) {
            (Some(n), _) => format!("{} `{n}`", tag(i)),
            (None, _) if unique_type => format!("{} `{}`", tag(i), lock.kind_label()),
            (None, Some(s)) => format!("{} `{}:{}`", tag(i), s.file, s.line),
            (None, None) => tag(i),
        }
    }

    /// Whether lock `i` is a condition variable.
    fn is_condvar(&self, i: usize) -> bool {
        self.locks
            .entry(i)
            .is_some_and(|l| l.kind == LockKind::Condvar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn ring(n: usize) -> CycleReport {
        let site = |line| Site {
            file: "src/x.rs",
            line,
            column: 5,
        };
        CycleReport {
            kind: ReportKind::LockOrderCycle,
            level: Level::Class,
            locks: (0..n)
                .map(|i| LockInfo::new(LockKind::Mutex, None, Some(site(i as u32 + 1)), None))
                .collect::<Vec<_>>()
                .into(),
            edges: (0..n)
                .map(|i| EdgeInfo {
                    from: i,
                    to: (i + 1) % n,
                    thread: format!("t{i}").into(),
                    hold: Hold::Exclusive,
                    request: Request::Exclusive,
                    upgradable_request: false,
                    held_at: Some(site(100 + i as u32)),
                    requested_at: Some(site(200 + i as u32)),
                    backtrace: None,
                    closing: i == 0,
                })
                .collect::<Vec<_>>()
                .into(),
        }
    }

    #[test]
    fn a_short_cycle_prints_every_lock_edge_and_thread() {
        let text = ring(3).to_string();
        for needle in [
            "lock-order cycle through 3 locks",
            "L1 Mutex created at src/x.rs:1:5",
            "L3 -> L1  thread `t2` held L3 `src/x.rs:3` (taken at src/x.rs:102:5),",
            "then requested L2 `src/x.rs:2` at src/x.rs:200:5   <- this request closed the cycle",
            // The order the edges but the closing one keep.
            "for example always L2 `src/x.rs:2` before L3 `src/x.rs:3` before L1 `src/x.rs:1`",
            "level: class",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        // The scenario table: one column per thread, rows "holds", "waits for".
        let row = |first: &str| text.lines().find(|l| l.trim_start().starts_with(first));
        let holds = row("holds L1 `src/x.rs:1`").unwrap();
        assert!(holds.contains("holds L2 `src/x.rs:2`") && holds.contains("holds L3"));
        let waits = row("waits for L2").unwrap();
        assert!(waits.trim_end().ends_with("waits for L1 `src/x.rs:1`"));
        assert!(row("thread `t0`").unwrap().contains("thread `t2`"));
    }

    #[test]
    fn a_long_cycle_is_elided_in_the_middle_but_kept_whole_in_the_data() {
        let r = ring(5000);
        let text = r.to_string();
        assert!(text.contains("... 4988 more locks ..."), "{text}");
        assert!(text.contains("... 4988 more edges ..."));
        assert!(text.contains("... 4994 more"));
        assert!(text.contains("L5000 -> L1"));
        assert!(text.lines().count() < 80, "{} lines", text.lines().count());
        assert_eq!(r.edges.len(), 5000);
    }

    #[test]
    fn a_self_deadlock_says_what_to_do() {
        let mut r = ring(1);
        r.kind = ReportKind::SelfDeadlock { certain: true };
        let text = r.to_string();
        assert!(text.contains("requests a lock it already holds"), "{text}");
        assert!(text.contains("ReentrantMutex"));
    }
}

/// The nodes of a CUDA cycle in words, counted by what they are, in the
/// order each first appears: "1 lock and 1 host function", "2 host
/// functions, 2 locks and 1 stream" (every kind of the lock-order graph,
/// queues and threads included, is a "lock").
fn device_nodes(kinds: impl Iterator<Item = LockKind>) -> String {
    let mut counts: Vec<(&str, &str, usize)> = Vec::new();
    for k in kinds {
        let (one, many) = match k {
            LockKind::Stream => ("stream", "streams"),
            LockKind::Event => ("event", "events"),
            LockKind::HostExecutor => ("host-function executor", "host-function executors"),
            LockKind::HostFn => ("host function", "host functions"),
            LockKind::Signal => ("signal", "signals"),
            _ => ("lock", "locks"),
        };
        match counts.iter_mut().find(|c| c.0 == one) {
            Some(c) => c.2 += 1,
            None => counts.push((one, many, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|&(one, many, n)| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        })
        .collect();
    match parts.as_slice() {
        [] => "no node".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod device_words_tests {
    use super::*;

    /// A site the actor's or the node's words already name is not said
    /// again after them (`... enqueued at src/a.rs:4:9 ... (at
    /// src/a.rs:4:9)`); another one is.
    #[test]
    fn a_device_cycle_says_a_site_once() {
        let mut r = super::tests::ring(2);
        r.kind = ReportKind::DeviceCycle { certain: false };
        let site = Site {
            file: "src/a.rs",
            line: 4,
            column: 9,
        };
        let mut edges: Vec<EdgeInfo> = r.edges.entries().collect();
        edges[0].thread = "host fn enqueued at src/a.rs:4:9 on stream `s` needs Mutex `m`".into();
        edges[0].requested_at = Some(site);
        r.edges = edges.into();
        let text = r.to_string();
        assert!(
            text.contains("L1 -> L2  host fn enqueued at src/a.rs:4:9 on stream `s` needs Mutex `m`   <- this call closed the cycle"),
            "{text}"
        );
        assert_eq!(text.matches("src/a.rs:4:9").count(), 1, "{text}");
        // The other edge's site is its own: said.
        assert!(text.contains("L2 -> L1  t1 (at src/x.rs:201:5)"), "{text}");
    }

    #[test]
    fn a_cuda_cycle_names_what_its_nodes_are() {
        let w = |k: &[LockKind]| device_nodes(k.iter().copied());
        assert_eq!(
            w(&[LockKind::Mutex, LockKind::HostFn]),
            "1 lock and 1 host function"
        );
        assert_eq!(
            w(&[
                LockKind::HostFn,
                LockKind::Mutex,
                LockKind::HostFn,
                LockKind::RwLock,
                LockKind::Stream
            ]),
            "2 host functions, 2 locks and 1 stream"
        );
        assert_eq!(w(&[LockKind::HostExecutor]), "1 host-function executor");
    }
}
