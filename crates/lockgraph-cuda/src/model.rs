//! The deadlock model: streams' pending host functions and event waits,
//! the shared host-function executor, signals and locks, as one wait-for
//! graph checked at every call that adds an edge, before anything blocks.
//!
//! Locks taken inside host functions are observed through lockgraph's own
//! lock-order graph: while a host function runs, its thread holds two
//! pseudo-locks, one for its stream and one for the site that enqueued it on
//! that stream, so every lock it takes records "stream -> lock" and
//! "site -> lock" edges. The site's edges are the locks later host functions
//! enqueued there (on a stream of that name) are taken to need; a thread that
//! holds a lock and synchronizes a stream records "lock -> stream", and a
//! cycle through it is a lock-order cycle.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lockgraph_core::{
    Class, CycleReport, EdgeInfo, Hold, Level, LockInfo, LockKind, LockMeta, ReportKind, Request,
    Site,
};
use parking_lot::Mutex;

use crate::Error;

pub(crate) type ItemId = u64;

/// A lock a host function takes: its lockgraph id and how to name it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockRef {
    pub(crate) id: u64,
    pub(crate) kind: LockKind,
    pub(crate) name: Option<&'static str>,
    pub(crate) created: Option<Site>,
}

impl LockRef {
    /// The lock of class `class` with instance `id`.
    pub(crate) fn of(id: u64, kind: LockKind, class: Class) -> LockRef {
        LockRef {
            id,
            kind,
            name: match class {
                Class::Named(n) => Some(n),
                _ => None,
            },
            created: class.site(),
        }
    }

    /// Whether this lock is of the class `c` describes (an anonymous class
    /// is one lock instance).
    fn is_of(&self, c: &LockInfo) -> bool {
        self.kind == c.kind
            && match (c.name, c.created) {
                (Some(n), _) => self.name == Some(n),
                (None, Some(s)) => self.name.is_none() && self.created == Some(s),
                (None, None) => c.instance == Some(self.id),
            }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Needs {
    /// Declared with `HostFn::locks`.
    pub(crate) locks: Vec<LockRef>,
    /// Lock classes host functions from the same site were seen to take.
    pub(crate) learned: Vec<LockInfo>,
    pub(crate) waits: Vec<usize>,
    pub(crate) feeds: Vec<usize>,
}

enum ItemKind {
    HostFn {
        needs: Needs,
        enqueuer: u64,
        enqueuer_held: Vec<u64>,
    },
    Wait {
        event: &'static str,
        dep: Option<ItemId>,
    },
}

struct Item {
    stream: usize,
    pos: u64,
    site: &'static Location<'static>,
    kind: ItemKind,
}

struct StreamRec {
    name: &'static str,
    ctx: usize,
    /// Held by the thread running one of the stream's host functions.
    lock: &'static LockMeta,
    next_pos: u64,
    pending: BTreeMap<u64, ItemId>,
}

struct Waiter {
    thread: Arc<str>,
    held: Vec<LockRef>,
    targets: Vec<ItemId>,
    site: &'static Location<'static>,
    what: &'static str,
}

#[derive(Default)]
struct Model {
    streams: Vec<StreamRec>,
    items: HashMap<ItemId, Item>,
    next_item: ItemId,
    signals: Vec<&'static str>,
    /// Per signal, the threads that said they will set it.
    producers: HashMap<usize, Vec<u64>>,
    waiters: HashMap<u64, Waiter>,
    locks: HashMap<u64, LockRef>,
    reported: HashSet<Vec<Node>>,
}

static MODEL: Mutex<Option<Model>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Model) -> R) -> R {
    let mut g = MODEL.lock();
    f(g.get_or_insert_with(Model::default))
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD_KEY: Cell<u64> = const { Cell::new(0) };
    static CURRENT: Cell<Option<ItemId>> = const { Cell::new(None) };
}

pub(crate) fn thread_key() -> u64 {
    THREAD_KEY.with(|k| {
        if k.get() == 0 {
            k.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        k.get()
    })
}

fn thread_name() -> Arc<str> {
    let t = std::thread::current();
    match t.name() {
        Some(n) => n.into(),
        None => format!("{:?}", t.id()).into(),
    }
}

/// Leaks each distinct label once (labels are bounded by streams and sites).
pub(crate) fn intern(s: String) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut g = NAMES.lock();
    let set = g.get_or_insert_with(HashSet::new);
    if let Some(&n) = set.get(s.as_str()) {
        return n;
    }
    let n: &'static str = Box::leak(s.into_boxed_str());
    set.insert(n);
    n
}

/// The pseudo-lock of class `name` for `scope` (a context): one per stream
/// name and context, and one per host-function enqueue site, made once and
/// kept for the process (they are bounded by the program's streams and call
/// sites). Streams of one name are one lock class, as named locks are.
fn pseudo_lock(kind: LockKind, name: String, scope: usize) -> &'static LockMeta {
    type Key = (usize, &'static str, usize);
    static LOCKS: Mutex<Option<HashMap<Key, &'static LockMeta>>> = Mutex::new(None);
    let name = intern(name);
    let mut g = LOCKS.lock();
    g.get_or_insert_with(HashMap::new)
        .entry((kind as usize, name, scope))
        .or_insert_with(|| Box::leak(Box::new(LockMeta::new(kind, Class::Named(name)))))
}

/// The pseudo-lock of the host functions enqueued at `site` on streams named
/// `stream`: per stream too, because one site in a helper often enqueues
/// different work on different streams.
fn site_lock(site: &'static Location<'static>, stream: &str) -> &'static LockMeta {
    pseudo_lock(
        LockKind::HostFn,
        format!(
            "host fn enqueued at {} on stream `{stream}`",
            Site::from(site)
        ),
        0,
    )
}

/// Marks the host function running on this thread (the executor), so that
/// CUDA calls and signal waits inside it are attributed to it, and holds its
/// stream's and its site's pseudo-locks, so that the locks it takes are
/// recorded in lockgraph's graph as taken by it.
pub(crate) struct Running {
    prev: Option<ItemId>,
    held: Option<(&'static LockMeta, &'static LockMeta)>,
}

impl Running {
    pub(crate) fn enter(item: ItemId) -> Running {
        let prev = CURRENT.with(|c| c.replace(Some(item)));
        let held = if lockgraph::TRACKING {
            with(|m| {
                m.items
                    .get(&item)
                    .map(|it| (&m.streams[it.stream], it.site))
                    .map(|(s, site)| (s.lock, s.name, site))
            })
            .map(|(stream, name, site)| {
                let at = site_lock(site, name);
                stream.acquired(Hold::Exclusive, Some(site));
                at.acquired(Hold::Exclusive, Some(site));
                (stream, at)
            })
        } else {
            None
        };
        Running { prev, held }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some((stream, at)) = self.held {
            at.released();
            stream.released();
        }
        CURRENT.with(|c| c.set(self.prev));
    }
}

pub(crate) fn current_host_fn() -> Option<ItemId> {
    CURRENT.with(|c| c.get())
}

pub(crate) fn new_stream(name: &'static str, ctx: usize) -> usize {
    // Suffixed: a lock named like the stream must not share its class.
    let lock = pseudo_lock(LockKind::Stream, format!("{name} (CUDA stream)"), ctx);
    with(|m| {
        m.streams.push(StreamRec {
            name,
            ctx,
            lock,
            next_pos: 0,
            pending: BTreeMap::new(),
        });
        m.streams.len() - 1
    })
}

/// The model's streams of context `ctx`.
#[cfg(feature = "cudarc")]
pub(crate) fn context_streams(ctx: usize) -> Vec<usize> {
    with(|m| {
        (0..m.streams.len())
            .filter(|&s| m.streams[s].ctx == ctx)
            .collect()
    })
}

pub(crate) fn new_signal(name: &'static str) -> usize {
    with(|m| {
        m.signals.push(name);
        m.signals.len() - 1
    })
}

/// Work without a host participant (a kernel, a copy, a record) takes a
/// position on the stream.
pub(crate) fn enqueue_work(stream: usize) -> u64 {
    with(|m| {
        let s = &mut m.streams[stream];
        s.next_pos += 1;
        s.next_pos
    })
}

/// The position up to which an event recorded now on `stream` covers.
pub(crate) fn position(stream: usize) -> u64 {
    with(|m| m.streams[stream].next_pos)
}

/// The locks this thread holds, outermost first.
fn held_now() -> Vec<LockRef> {
    let ids = lockgraph_core::held_lock_ids();
    let locks = lockgraph_core::held_locks();
    ids.into_iter()
        .zip(locks)
        .map(|(id, (kind, class, _))| LockRef::of(id, kind, class))
        .collect()
}

/// A report to deliver once the caller has queued the work: under the
/// `panic` policy delivering unwinds, and the queue must match the model.
#[must_use]
pub(crate) struct Deferred(Option<CycleReport>);

impl Deferred {
    pub(crate) fn deliver(self) {
        deliver(self.0);
    }
}

pub(crate) fn enqueue_host_fn(
    stream: usize,
    mut needs: Needs,
    site: &'static Location<'static>,
) -> (ItemId, Deferred) {
    let enqueuer = thread_key();
    let enqueuer_held: Vec<u64> = held_now().iter().map(|l| l.id).collect();
    if lockgraph::TRACKING {
        // What host functions enqueued here before were seen to lock.
        let name = with(|m| m.streams[stream].name);
        needs.learned = lockgraph_core::taken_while_holding(site_lock(site, name));
    }
    let (id, report) = with(|m| {
        for l in &needs.locks {
            m.locks.insert(l.id, *l);
        }
        let id = m.add_item(
            stream,
            site,
            ItemKind::HostFn {
                needs: needs.clone(),
                enqueuer,
                enqueuer_held,
            },
        );
        let mut starts = vec![Node::Item(id)];
        starts.extend(needs.feeds.iter().map(|&c| Node::Signal(c)));
        (id, m.check(&starts))
    });
    (id, Deferred(report))
}

pub(crate) fn enqueue_wait(
    stream: usize,
    event: &'static str,
    recorded: Option<(usize, u64)>,
    site: &'static Location<'static>,
) -> (ItemId, Deferred) {
    let (id, report) = with(|m| {
        let dep = recorded.and_then(|(s2, k)| {
            m.streams[s2]
                .pending
                .range(..k)
                .next_back()
                .map(|(_, &i)| i)
        });
        let id = m.add_item(stream, site, ItemKind::Wait { event, dep });
        (id, m.check(&[Node::Item(id)]))
    });
    (id, Deferred(report))
}

pub(crate) fn item_done(id: ItemId) {
    with(|m| {
        if let Some(it) = m.items.remove(&id) {
            m.streams[it.stream].pending.remove(&it.pos);
        }
    });
}

/// What a host thread synchronizes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// Everything enqueued on the stream so far.
    Stream(usize),
    /// The stream's work before the position.
    Upto(usize, u64),
    /// Every stream of the context.
    Context(usize),
}

/// A registered wait; unregistered when dropped.
pub(crate) struct WaitGuard(u64);

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let k = self.0;
        with(|m| {
            m.waiters.remove(&k);
        });
    }
}

/// Registers this thread as waiting for `target` and checks for a cycle
/// before the caller really waits. Returns the label of the wait for the
/// watchdog ("synchronize stream `s` (host fn enqueued at ...)").
pub(crate) fn begin_wait(
    target: Target,
    site: &'static Location<'static>,
) -> (WaitGuard, &'static str) {
    let key = thread_key();
    let held = held_now();
    let (what, (found, report), streams) = with(|m| {
        for l in &held {
            m.locks.insert(l.id, *l);
        }
        let targets: Vec<ItemId> = match target {
            Target::Stream(s) => m.last_pending(s, u64::MAX).into_iter().collect(),
            Target::Upto(s, k) => m.last_pending(s, k + 1).into_iter().collect(),
            Target::Context(c) => (0..m.streams.len())
                .filter(|&s| m.streams[s].ctx == c)
                .filter_map(|s| m.last_pending(s, u64::MAX))
                .collect(),
        };
        let what = m.wait_label(target, &targets);
        m.waiters.insert(
            key,
            Waiter {
                thread: thread_name(),
                held: held.clone(),
                targets,
                site,
                what,
            },
        );
        let mut starts: Vec<Node> = held.iter().map(|l| Node::Lock(l.id)).collect();
        for (&c, ts) in &m.producers {
            if ts.contains(&key) {
                starts.push(Node::Signal(c));
            }
        }
        let found = m.check_found(&starts);
        // No cycle in the model: the wait is still an order edge for every
        // lock held. A cycle says more about this wait than its order
        // edges would (and they would report it again when the host
        // function takes the lock).
        let streams: Vec<&'static LockMeta> = if found.0 || !lockgraph::TRACKING {
            Vec::new()
        } else {
            m.target_streams(target)
                .into_iter()
                .map(|s| m.streams[s].lock)
                .collect()
        };
        (what, found, streams)
    });
    // Made before delivering: under the `panic` policy the report unwinds,
    // and the guard then unregisters the wait.
    let guard = WaitGuard(key);
    deliver(report);
    if !found && !held.is_empty() {
        // "Holding L, waits for stream S": L -> S in lockgraph's graph,
        // where a host function on S that took L recorded S -> L: a
        // lock-order cycle (potential) even when the two never coincide.
        for s in streams {
            s.before_wait(Request::Exclusive, Some(site));
            s.abandoned();
        }
    }
    (guard, what)
}

/// This thread is about to wait on a signal. Inside a host function the wait
/// is attributed to it and checked before it blocks. Returns the label of the
/// wait for the watchdog (naming the host function and its stream).
pub(crate) fn host_fn_waits(signal: usize) -> &'static str {
    let Some(item) = current_host_fn() else {
        return with(|m| intern(format!("wait on {}", m.describe(Node::Signal(signal)))));
    };
    let (what, report) = with(|m| {
        if let Some(Item {
            kind: ItemKind::HostFn { needs, .. },
            ..
        }) = m.items.get_mut(&item)
        {
            if !needs.waits.contains(&signal) {
                needs.waits.push(signal);
            }
        }
        let what = intern(format!(
            "{} waits on {}",
            m.describe(Node::Item(item)),
            m.describe(Node::Signal(signal))
        ));
        (what, m.check(&[Node::Item(item)]))
    });
    deliver(report);
    what
}

/// This thread says it will set `signal` (until the guard drops).
pub(crate) fn will_produce(signal: usize) -> u64 {
    let key = thread_key();
    with(|m| m.producers.entry(signal).or_default().push(key));
    key
}

pub(crate) fn produced(signal: usize, key: u64) {
    with(|m| {
        if let Some(v) = m.producers.get_mut(&signal) {
            v.retain(|&k| k != key);
        }
    });
}

/// Refuses a CUDA API call (`call`, made at `site`) inside a host function:
/// reported at once, as a certain one-node cycle on its stream, and
/// returned as [`Error::CudaCallInHostFn`]. Outside host functions: `Ok`.
pub(crate) fn refuse_in_host_fn(
    call: &'static str,
    site: &'static Location<'static>,
) -> Result<(), Error> {
    let Some(item) = current_host_fn() else {
        return Ok(());
    };
    let report = with(|m| {
        let node = Node::Item(item);
        if !m.reported.insert(vec![node]) {
            return None;
        }
        let stream = m.items.get(&item).map_or("?", |i| m.streams[i.stream].name);
        let actor = format!(
            "{} calls CUDA ({call}) inside the host function: it waits for its own stream `{stream}` or the driver, which waits for it",
            m.describe(node)
        );
        Some(CycleReport::new(
            ReportKind::DeviceCycle { certain: true },
            Level::Instance,
            vec![m.info(node)],
            vec![EdgeInfo::new(
                0,
                0,
                actor.into(),
                None,
                Some(site.into()),
                true,
            )],
        ))
    });
    deliver(report);
    Err(Error::CudaCallInHostFn(call))
}

fn deliver(report: Option<CycleReport>) {
    if let Some(r) = report {
        lockgraph_core::emit_report(r);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Node {
    Lock(u64),
    Item(ItemId),
    Exec(usize),
    Signal(usize),
}

struct Edge {
    to: Node,
    forced: bool,
    actor: String,
    site: Option<&'static Location<'static>>,
}

impl Model {
    fn add_item(
        &mut self,
        stream: usize,
        site: &'static Location<'static>,
        kind: ItemKind,
    ) -> ItemId {
        self.next_item += 1;
        let id = self.next_item;
        let s = &mut self.streams[stream];
        s.next_pos += 1;
        let pos = s.next_pos;
        s.pending.insert(pos, id);
        self.items.insert(
            id,
            Item {
                stream,
                pos,
                site,
                kind,
            },
        );
        id
    }

    /// The last pending item on `stream` before position `upto`.
    fn last_pending(&self, stream: usize, upto: u64) -> Option<ItemId> {
        self.streams[stream]
            .pending
            .range(..upto)
            .next_back()
            .map(|(_, &i)| i)
    }

    fn wait_label(&self, target: Target, targets: &[ItemId]) -> &'static str {
        let what = match target {
            Target::Stream(s) => format!("synchronize stream `{}`", self.streams[s].name),
            Target::Upto(s, _) => {
                format!("synchronize an event on stream `{}`", self.streams[s].name)
            }
            Target::Context(c) => format!("synchronize context {c}"),
        };
        let first = targets
            .iter()
            .filter_map(|t| self.items.get(t))
            .map(|i| format!("{} enqueued at {}", kind_word(&i.kind), Site::from(i.site)))
            .next();
        intern(match first {
            Some(f) => format!("{what} (pending: {f})"),
            None => what,
        })
    }

    fn describe(&self, n: Node) -> String {
        match n {
            Node::Lock(l) => match self.locks.get(&l) {
                Some(r) => label_lock(r),
                None => format!("lock #{l}"),
            },
            Node::Item(i) => match self.items.get(&i) {
                Some(it) => match &it.kind {
                    ItemKind::HostFn { .. } => format!(
                        "host fn enqueued at {} on stream `{}`",
                        Site::from(it.site),
                        self.streams[it.stream].name
                    ),
                    ItemKind::Wait { event, .. } => format!(
                        "stream `{}` waiting on event `{event}` (at {})",
                        self.streams[it.stream].name,
                        Site::from(it.site)
                    ),
                },
                None => format!("item #{i}"),
            },
            Node::Exec(c) => format!("host-function executor of context {c}"),
            Node::Signal(c) => format!("signal `{}`", self.signals[c]),
        }
    }

    fn info(&self, n: Node) -> LockInfo {
        match n {
            Node::Lock(l) => match self.locks.get(&l) {
                Some(r) => LockInfo::new(r.kind, r.name, r.created, Some(l)),
                None => LockInfo::new(LockKind::Mutex, None, None, Some(l)),
            },
            Node::Item(i) => {
                let it = &self.items[&i];
                let kind = match it.kind {
                    ItemKind::HostFn { .. } => LockKind::HostFn,
                    ItemKind::Wait { .. } => LockKind::Stream,
                };
                LockInfo::new(kind, Some(intern(self.describe(n))), None, None)
            }
            Node::Exec(_) => LockInfo::new(
                LockKind::HostExecutor,
                Some(intern(self.describe(n))),
                None,
                None,
            ),
            Node::Signal(c) => LockInfo::new(LockKind::Signal, Some(self.signals[c]), None, None),
        }
    }

    fn lock_holders(&self, l: u64) -> impl Iterator<Item = (&u64, &Waiter)> {
        self.waiters
            .iter()
            .filter(move |(_, w)| w.held.iter().any(|h| h.id == l))
    }

    /// The streams a wait for `target` waits for.
    fn target_streams(&self, target: Target) -> Vec<usize> {
        match target {
            Target::Stream(s) | Target::Upto(s, _) => vec![s],
            Target::Context(c) => (0..self.streams.len())
                .filter(|&s| self.streams[s].ctx == c)
                .collect(),
        }
    }

    /// The locks a host function needs: the declared ones, then the locks
    /// waiting threads hold of the classes its site was seen to take
    /// (`true`: learned).
    fn needed_locks(&self, needs: &Needs) -> Vec<(LockRef, bool)> {
        let mut out: Vec<(LockRef, bool)> = needs.locks.iter().map(|l| (*l, false)).collect();
        if needs.learned.is_empty() {
            return out;
        }
        for w in self.waiters.values() {
            for h in &w.held {
                if !out.iter().any(|(l, _)| l.id == h.id)
                    && needs.learned.iter().any(|c| h.is_of(c))
                {
                    out.push((*h, true));
                }
            }
        }
        out
    }

    fn edges(&self, n: Node) -> Vec<Edge> {
        let mut out = Vec::new();
        match n {
            Node::Item(i) => {
                let Some(it) = self.items.get(&i) else {
                    return out;
                };
                let me = self.describe(n);
                if let Some(prev) = self.last_pending(it.stream, it.pos) {
                    out.push(Edge {
                        to: Node::Item(prev),
                        forced: true,
                        actor: format!(
                            "stream `{}` runs {me} only after earlier work",
                            self.streams[it.stream].name
                        ),
                        site: None,
                    });
                }
                match &it.kind {
                    ItemKind::HostFn {
                        needs,
                        enqueuer,
                        enqueuer_held,
                    } => {
                        for (l, learned) in self.needed_locks(needs) {
                            // Forced: the enqueuer held the lock when it
                            // enqueued and holds it in its wait now, so the
                            // host fn cannot have taken it first.
                            let forced = enqueuer_held.contains(&l.id)
                                && self.lock_holders(l.id).any(|(k, _)| k == enqueuer);
                            out.push(Edge {
                                to: Node::Lock(l.id),
                                forced,
                                actor: format!(
                                    "{me} locks {}{}",
                                    label_lock(&l),
                                    learned_note(learned)
                                ),
                                site: Some(it.site),
                            });
                        }
                        for &c in &needs.waits {
                            out.push(Edge {
                                to: Node::Signal(c),
                                forced: true,
                                actor: format!("{me} waits on signal `{}`", self.signals[c]),
                                site: Some(it.site),
                            });
                        }
                        out.push(Edge {
                            to: Node::Exec(self.streams[it.stream].ctx),
                            forced: false,
                            actor: format!(
                                "{me} needs the context's host-function executor, which host functions of other streams may occupy"
                            ),
                            site: Some(it.site),
                        });
                    }
                    ItemKind::Wait { dep, .. } => {
                        if let Some(d) = dep.filter(|d| self.items.contains_key(d)) {
                            out.push(Edge {
                                to: Node::Item(d),
                                forced: true,
                                actor: format!(
                                    "{me} waits for the event's record, after {}",
                                    self.describe(Node::Item(d))
                                ),
                                site: Some(it.site),
                            });
                        }
                    }
                }
            }
            Node::Lock(l) => {
                for (_, w) in self.lock_holders(l) {
                    for &t in &w.targets {
                        out.push(Edge {
                            to: Node::Item(t),
                            forced: true,
                            actor: format!(
                                "thread `{}` holds {} and waits: {}",
                                w.thread,
                                self.describe(n),
                                w.what
                            ),
                            site: Some(w.site),
                        });
                    }
                }
            }
            Node::Signal(c) => {
                for (&id, it) in &self.items {
                    if let ItemKind::HostFn { needs, .. } = &it.kind {
                        if needs.feeds.contains(&c) {
                            out.push(Edge {
                                to: Node::Item(id),
                                forced: true,
                                actor: format!(
                                    "signal `{}` is set by {}",
                                    self.signals[c],
                                    self.describe(Node::Item(id))
                                ),
                                site: Some(it.site),
                            });
                        }
                    }
                }
                for k in self.producers.get(&c).into_iter().flatten() {
                    if let Some(w) = self.waiters.get(k) {
                        for &t in &w.targets {
                            out.push(Edge {
                                to: Node::Item(t),
                                forced: true,
                                actor: format!(
                                    "signal `{}` is set by thread `{}` only after it waits: {}",
                                    self.signals[c], w.thread, w.what
                                ),
                                site: Some(w.site),
                            });
                        }
                    }
                }
            }
            Node::Exec(ctx) => {
                for (&id, it) in &self.items {
                    if self.streams[it.stream].ctx != ctx {
                        continue;
                    }
                    if let ItemKind::HostFn { needs, .. } = &it.kind {
                        let who = self.describe(Node::Item(id));
                        for (l, learned) in self.needed_locks(needs) {
                            out.push(Edge {
                                to: Node::Lock(l.id),
                                forced: false,
                                actor: format!(
                                    "the executor may be running {who}, which locks {}{}",
                                    label_lock(&l),
                                    learned_note(learned)
                                ),
                                site: Some(it.site),
                            });
                        }
                        for &c in &needs.waits {
                            out.push(Edge {
                                to: Node::Signal(c),
                                forced: false,
                                actor: format!(
                                    "the executor may be running {who}, which waits on signal `{}`",
                                    self.signals[c]
                                ),
                                site: Some(it.site),
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// The shortest cycle through one of `starts`, over forced edges first
    /// (a certain deadlock), then over all edges (a potential one).
    fn check(&mut self, starts: &[Node]) -> Option<CycleReport> {
        self.check_found(starts).1
    }

    /// [`check`](Self::check), also saying whether a cycle was found (it is
    /// reported once: later finds return no report).
    fn check_found(&mut self, starts: &[Node]) -> (bool, Option<CycleReport>) {
        if !lockgraph::TRACKING {
            return (false, None);
        }
        // Forced edges only (certain), then without the shared executor
        // (a cycle naming only streams, host fns and locks), then all.
        for tier in 0..3 {
            for &s in starts {
                if let Some(cycle) = self.cycle_from(s, tier) {
                    let mut key: Vec<Node> = cycle.iter().map(|(n, _)| *n).collect();
                    key.sort();
                    key.dedup();
                    if !self.reported.insert(key) {
                        return (true, None);
                    }
                    let certain = cycle.iter().all(|(_, e)| e.forced);
                    return (true, Some(self.report(&cycle, certain)));
                }
            }
        }
        (false, None)
    }

    fn cycle_from(&self, start: Node, tier: u8) -> Option<Vec<(Node, Edge)>> {
        let mut prev: HashMap<Node, (Node, Edge)> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut seen = HashSet::from([start]);
        while let Some(n) = queue.pop_front() {
            for e in self.edges(n) {
                if (tier == 0 && !e.forced) || (tier == 1 && matches!(e.to, Node::Exec(_))) {
                    continue;
                }
                let to = e.to;
                if to == start {
                    let mut path = vec![(n, e)];
                    let mut cur = n;
                    while cur != start {
                        let (p, pe) = prev.remove(&cur)?;
                        path.push((p, pe));
                        cur = p;
                    }
                    path.reverse();
                    return Some(path);
                }
                if seen.insert(to) {
                    prev.insert(to, (n, e));
                    queue.push_back(to);
                }
            }
        }
        None
    }

    fn report(&self, cycle: &[(Node, Edge)], certain: bool) -> CycleReport {
        let n = cycle.len();
        let locks = cycle.iter().map(|(node, _)| self.info(*node)).collect();
        let edges = cycle
            .iter()
            .enumerate()
            .map(|(i, (_, e))| {
                EdgeInfo::new(
                    i,
                    (i + 1) % n,
                    e.actor.clone().into(),
                    None,
                    e.site.map(Site::from),
                    i == 0,
                )
            })
            .collect();
        CycleReport::new(
            ReportKind::DeviceCycle { certain },
            Level::Instance,
            locks,
            edges,
        )
    }
}

fn kind_word(k: &ItemKind) -> &'static str {
    match k {
        ItemKind::HostFn { .. } => "host fn",
        ItemKind::Wait { .. } => "event wait",
    }
}

fn learned_note(learned: bool) -> &'static str {
    if learned {
        " (seen in host functions enqueued at the same site)"
    } else {
        ""
    }
}

fn label_lock(l: &LockRef) -> String {
    match (l.name, l.created) {
        (Some(n), _) => format!("{} `{n}`", l.kind.name()),
        (None, Some(s)) => format!("{} created at {s}", l.kind.name()),
        (None, None) => format!("{} #{}", l.kind.name(), l.id),
    }
}
