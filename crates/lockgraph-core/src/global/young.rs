//! Edges into fresh locks of the held lock's class, kept by the thread that
//! recorded them until the graph needs them.
//!
//! Locks made and nested by the same code (per-object locks, a generic
//! helper, `Default`) give a new instance edge for every pair of objects,
//! and each pair usually dies soon after. Such an edge `u -> v` into a lock
//! `v` that has no edge at all cannot close a cycle when it is recorded: a
//! cycle through it needs an edge leaving `v`. So it does not need the graph
//! lock or a search then; it only has to be in the instance graph before an
//! edge leaving `v` is, since that edge's search must see it.
//!
//! The held-lock state ([`crate::state`]) makes one only when it can tell
//! that `v` has no edge: the thread holds `v` exclusively (a first
//! non-blocking attempt succeeded) and `v`'s word has neither
//! [`IN_GRAPH`](crate::meta::IN_GRAPH) nor [`YOUNG`](crate::meta::YOUNG). Every edge of a lock
//! sets one of them in its word before another thread can hold it: an edge
//! into it at once (its requester has its `LockMeta`), an edge out of it
//! when its holder releases it (the flag travels in the held-lock slot until
//! then). An edge leaving `v` is therefore recorded by a thread that took `v`
//! after `v` got [`YOUNG`](crate::meta::YOUNG), so after the edge `u -> v` was pushed here; that
//! thread records through the graph lock, and every holder of the graph lock
//! that adds instance edges or reads the instance graph [`flush`]es the
//! buffers first.
//!
//! A buffer is one thread's, behind a lock of its own (taken by its thread to
//! push and on a drop, and by [`flush`] under the graph lock: uncontended
//! but for a flush). That lock is a spin lock ([`Spin`]) rather than a
//! mutex: its owner takes it with one atomic swap and gives it back with a
//! plain release store, where std's mutex costs a second atomic operation
//! and two poison checks; nobody holds it across anything that blocks. A dropped lock with [`YOUNG`](crate::meta::YOUNG) leaves its thread's buffer
//! at once and is listed as dead; [`flush`] skips buffered edges of dead
//! locks (another thread's buffer may hold one) and removes dead locks that
//! were already moved into the graph.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::AtomicBool;

use super::*;
use crate::meta::{YOUNG, YOUNG_FROM, YOUNG_FROM_AGAIN};

/// One edge `from -> to` between two locks of `class`, to buffer (the
/// class borrowed from the requested lock: not copied on the way in).
pub(crate) struct Young<'a> {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) class: &'a Class,
    /// The kind of both locks. One class may hold locks of several kinds
    /// (a `Mutex` and an `RwLock` named alike, or made by one generic
    /// helper for one value type); the held-lock state buffers only an
    /// edge between two locks of one kind, and records the others the
    /// usual way, each end with its own kind.
    pub(crate) kind: LockKind,
    pub(crate) hold: Hold,
    pub(crate) held_at: Option<&'static Location<'static>>,
    pub(crate) requested_at: Option<&'static Location<'static>>,
}

/// A buffered edge on its way into the graph (see [`Young`]).
struct Moved {
    from: u64,
    to: u64,
    class: Class,
    kind: LockKind,
    hold: Hold,
    held_at: Option<&'static Location<'static>>,
    requested_at: Option<&'static Location<'static>>,
}

/// The key of an edge's stack: the class (by address), the two sites, the
/// kind (as `instance_edge_stack` keys its stacks).
type StackKey = ((usize, usize), usize, usize);

/// What a buffered edge shares with the other edges one loop buffers:
/// everything but the two ids.
struct Info {
    class: Class,
    kind: LockKind,
    hold: Hold,
    held_at: Option<&'static Location<'static>>,
    requested_at: Option<&'static Location<'static>>,
    /// The thread that recorded its edges, when not the buffer's owner now
    /// (a buffer handed to a new thread keeps its old entries).
    thread: Option<Arc<str>>,
}

/// The key of an [`Info`] of the buffer's owner.
type InfoKey = (StackKey, LockKind, Hold);

fn info_key(e: &Young<'_>) -> InfoKey {
    (stack_key(e), e.kind, e.hold)
}

/// A buffered edge: two ids and the index of its [`Info`] in the buffer
/// (three words: pushing and removing one copies little).
struct Entry {
    from: u64,
    to: u64,
    info: usize,
}

#[derive(Default)]
struct Buffer {
    entries: Vec<Entry>,
    /// What the entries share; only grows while entries wait (an index
    /// must stay valid), and starts over past [`MAX_STACKS`] when empty.
    infos: Vec<Info>,
    /// The owner's infos, by key.
    info_index: HashMap<InfoKey, usize, FastBuildHasher>,
    /// Dropped locks that had [`YOUNG`](crate::meta::YOUNG) in their word.
    dead: Vec<u64>,
    /// The owner's name (else id), for its entries.
    label: Option<Arc<str>>,
    /// The stacks of the owner's entries: one per class and pair of sites,
    /// the first one captured (as `add_edges` does for instance edges).
    stacks: HashMap<StackKey, Option<Backtrace>, FastBuildHasher>,
    /// The key of the last entry pushed (whose stack is in `stacks`) and
    /// its info.
    last: Option<(InfoKey, usize)>,
    /// The tail of the last entry a drop of its head removed from here
    /// (so that edge never reached the graph), else 0.
    gone: u64,
    /// The largest tail of an entry a flush took from here (0: none).
    flushed_max: u64,
}

impl Buffer {
    /// A new owner (another thread, or the thread that forked, in the
    /// child): the old owner's entries keep its name; its stacks stay (keys
    /// by address: the same code has the same stack); the new owner's edges
    /// get infos of their own, under its label.
    fn relabel(&mut self) {
        let old = self.label.take();
        for info in self.infos.iter_mut() {
            if info.thread.is_none() {
                info.thread = old.clone();
            }
        }
        self.info_index.clear();
        self.last = None;
        self.label = Some(super::add_edges::thread_label());
    }

    /// The thread and stack of the edges of `info`, for the graph.
    fn origin_of(&self, info: &Info) -> (Arc<str>, Option<Backtrace>) {
        let thread = info
            .thread
            .clone()
            .or_else(|| self.label.clone())
            .unwrap_or_else(|| Arc::from("?"));
        let key = (
            info.class.identity().unwrap_or((0, 0)),
            addr(info.held_at),
            addr(info.requested_at),
        );
        let stack = self.stacks.get(&key).cloned().flatten();
        (thread, stack)
    }

    /// The index of the owner's info for `edge`, made if new (`key`: its
    /// key, which is not the last entry's).
    #[cold]
    #[inline(never)]
    fn info_of(&mut self, edge: &Young<'_>, key: InfoKey) -> usize {
        if let Some(&i) = self.info_index.get(&key) {
            return i;
        }
        self.infos.push(Info {
            class: *edge.class,
            kind: edge.kind,
            hold: edge.hold,
            held_at: edge.held_at,
            requested_at: edge.requested_at,
            thread: None,
        });
        let i = self.infos.len() - 1;
        self.info_index.insert(key, i);
        i
    }
}

fn addr(l: Option<&'static Location<'static>>) -> usize {
    l.map_or(0, |l| l as *const _ as usize)
}

fn stack_key(e: &Young<'_>) -> StackKey {
    (
        e.class.identity().unwrap_or((0, 0)),
        addr(e.held_at),
        addr(e.requested_at),
    )
}

/// A buffer and whether a thread owns it (buffers outlive their threads and
/// are handed to the next new thread).
struct Slot {
    buffer: Spin<Buffer>,
    owned: AtomicBool,
}

/// A lock for a thread's buffer: its owner and a flush (under the graph
/// lock) are the only ones to take it, each for a few instructions, and
/// never across anything that blocks; so a waiter spins, then yields.
struct Spin<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `SpinGuard`, and `locked`
// (swapped to `true` with acquire ordering, stored `false` with release
// ordering) lets one guard exist at a time: `Spin` is a mutex, `Sync` when
// its value may be sent to another thread.
unsafe impl<T: Send> Sync for Spin<T> {}

impl<T> Spin<T> {
    fn new(value: T) -> Spin<T> {
        Spin {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    fn lock(&self) -> SpinGuard<'_, T> {
        if self.locked.swap(true, Ordering::Acquire) {
            self.lock_contended();
        }
        SpinGuard(self)
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 64 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }
}

/// A held [`Spin`]: the value, until dropped.
struct SpinGuard<'a, T>(&'a Spin<T>);

impl<T> std::ops::Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `Spin`'s `Sync`), so no
        // `&mut` to the value exists while it lives.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> std::ops::DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` keeps this guard's own
        // references from overlapping.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}

/// Every buffer ever made (no more than the most threads alive at once).
static SLOTS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());
/// Set when a buffer gains something, cleared by [`flush`] before it reads
/// them: a flush with nothing to do reads one word.
static PENDING: AtomicBool = AtomicBool::new(false);
/// A dead list this long makes its thread flush.
const DEAD_FLUSH: usize = 256;
/// So many buffered edges make their thread flush.
const ENTRIES_FLUSH: usize = 1024;

/// This thread's slot; gives it back when the thread exits.
struct Mine(Cell<Option<&'static Slot>>);

impl Drop for Mine {
    fn drop(&mut self) {
        if let Some(s) = self.0.get() {
            s.owned.store(false, Ordering::Release);
        }
    }
}

crate::sync::thread_local_const! {
    static MINE: Mine = const { Mine(Cell::new(None)) };
}

crate::sync::thread_local_const! {
    /// The id of a lock whose every buffered edge is known gone without a
    /// look at the buffer (0: none): set by the drop of a pair's head that
    /// left this thread's buffer empty, with no edge from the pair's tail
    /// ever taken by a flush; cleared by every push (see [`forget`]).
    static CLEAN_TAIL: Cell<u64> = const { Cell::new(0) };
}

/// This thread's slot, taken on first use (`None` while the thread exits).
fn mine() -> Option<&'static Slot> {
    MINE.try_with(|m| {
        if let Some(s) = m.0.get() {
            return s;
        }
        let s = claim_slot();
        m.0.set(Some(s));
        s
    })
    .ok()
}

#[cold]
fn claim_slot() -> &'static Slot {
    // The graph's fork hook holds every buffer's lock across `fork()`
    // (`hold_for_fork`); it is registered when the graph is first made,
    // which a thread that only ever buffers (and drops its pairs, head
    // first) would otherwise never do: a fork while it held its buffer's
    // lock would leave that lock held in the child.
    LazyLock::force(&GLOBAL);
    let mut slots = SLOTS.lock();
    for s in slots.iter() {
        if !s.owned.load(Ordering::Acquire)
            && s.owned
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            s.buffer.lock().relabel();
            return s;
        }
    }
    let s: &'static Slot = Box::leak(Box::new(Slot {
        buffer: Spin::new(Buffer {
            label: Some(super::add_edges::thread_label()),
            ..Buffer::default()
        }),
        owned: AtomicBool::new(true),
    }));
    slots.push(s);
    s
}

fn set_pending() {
    if !PENDING.load(Ordering::Relaxed) {
        PENDING.store(true, Ordering::Relaxed);
    }
}

/// Buffers `edge`; `false` when this thread has no buffer (it is exiting):
/// the caller records it the usual way. The caller sets [`YOUNG`](crate::meta::YOUNG) on both
/// locks. Inlined into its one caller (`commit_fresh`).
#[inline]
pub(crate) fn push(edge: Young<'_>) -> bool {
    let Some(slot) = mine() else {
        return false;
    };
    let key = info_key(&edge);
    let mut b = slot.buffer.lock();
    // An edge from a clean tail would be in the buffer now: no tail is.
    let _ = CLEAN_TAIL.try_with(|c| c.set(0));
    let info = match b.last {
        Some((k, i)) if k == key => i,
        _ => {
            let (b2, i) = new_info(slot, b, &edge, key);
            b = b2;
            i
        }
    };
    b.entries.push(Entry {
        from: edge.from,
        to: edge.to,
        info,
    });
    set_pending();
    let full = b.entries.len() >= ENTRIES_FLUSH;
    drop(b);
    if full {
        flush_now();
    }
    true
}

/// [`push`] of an edge whose key is not the last entry's: its info (and
/// for a first edge at these sites, its stack), and the buffer's lock
/// (given back meanwhile while the stack is captured).
#[cold]
#[inline(never)]
fn new_info(
    slot: &'static Slot,
    mut b: SpinGuard<'static, Buffer>,
    edge: &Young<'_>,
    key: InfoKey,
) -> (SpinGuard<'static, Buffer>, usize) {
    if !b.stacks.contains_key(&key.0) {
        // A first edge at these sites: its stack, captured without the
        // buffer's lock (a flush may be waiting for it).
        drop(b);
        let stack = super::add_edges::instance_edge_stack(
            *edge.class,
            edge.held_at,
            edge.requested_at,
            EdgeKinds::of(edge.hold, Request::Exclusive),
        );
        b = slot.buffer.lock();
        if b.stacks.len() >= MAX_STACKS {
            b.stacks.clear();
        }
        b.stacks.entry(key.0).or_insert(stack);
    }
    if b.entries.is_empty() && b.infos.len() >= MAX_STACKS {
        b.infos.clear();
        b.info_index.clear();
    }
    let info = b.info_of(edge, key);
    b.last = Some((key, info));
    (b, info)
}

/// The most stacks a buffer keeps (past it, they are captured again).
const MAX_STACKS: usize = 4096;

/// A lock with [`YOUNG`](crate::meta::YOUNG) or
/// [`YOUNG_FROM`](crate::meta::YOUNG_FROM) in its word `word` is dropped:
/// its buffered edges in this thread's buffer go, and it is listed dead
/// for the others and the graph, unless no buffered edge of it can be
/// anywhere else:
///
/// * its one buffered edge is the edge into it (no
///   [`YOUNG_FROM`](crate::meta::YOUNG_FROM)) and was here, so no flush
///   moved it;
/// * or one hold of one thread buffered every edge from it (no
///   [`YOUNG_FROM_AGAIN`](crate::meta::YOUNG_FROM_AGAIN), no edge into it
///   buffered), into this buffer (an edge from it was here, or it is the
///   tail of the last edge a head's drop removed from here), and no flush
///   took an edge from it from here (its id is above every tail one took).
///
/// The churn's tail (its pair's head dropped first, on this thread) is
/// decided without the buffer's lock: the head's drop, under the lock,
/// found the buffer empty once its edge was gone and no edge from the tail
/// ever taken by a flush ([`CLEAN_TAIL`]), and no push since.
#[inline]
pub(crate) fn forget(id: u64, word: u64) {
    if word & (YOUNG | YOUNG_FROM | YOUNG_FROM_AGAIN) == YOUNG_FROM
        && CLEAN_TAIL.try_with(|c| c.replace(0) == id).unwrap_or(false)
    {
        return;
    }
    forget_in_buffer(id, word);
}

/// [`forget`] past the clean tail: this thread's buffer looked at.
#[inline(never)]
fn forget_in_buffer(id: u64, word: u64) {
    let Some(slot) = mine() else {
        return forget_in_graph(id);
    };
    let mut b = slot.buffer.lock();
    // The newest entry is usually the lock's (the churn: a pair nested
    // and dropped, the head first).
    if word & YOUNG_FROM == 0 {
        if let Some(e) = b.entries.last() {
            if e.to == id {
                let tail = e.from;
                b.gone = tail;
                b.entries.pop();
                // Nothing left here (so no edge from the tail), and no
                // flush took one from here: the tail's drop needs no look.
                let clean = if b.entries.is_empty() && tail > b.flushed_max {
                    tail
                } else {
                    0
                };
                let _ = CLEAN_TAIL.try_with(|c| c.set(clean));
                return;
            }
        }
    }
    forget_past_last(b, id, word);
}

/// [`forget`] past the newest entry.
#[cold]
#[inline(never)]
fn forget_past_last(mut b: SpinGuard<'static, Buffer>, id: u64, word: u64) {
    // Newest first, order kept for nothing.
    let mut i = b.entries.len();
    let (mut into, mut from) = (None, false);
    while i > 0 {
        i -= 1;
        let e = &b.entries[i];
        if e.to == id {
            into = Some(e.from);
            b.entries.swap_remove(i);
        } else if e.from == id {
            from = true;
            b.entries.swap_remove(i);
        }
    }
    if let Some(tail) = into {
        b.gone = tail;
        if word & YOUNG_FROM == 0 {
            return;
        }
    }
    if word & (YOUNG | YOUNG_FROM | YOUNG_FROM_AGAIN) == YOUNG_FROM
        && (from || b.gone == id)
        && id > b.flushed_max
    {
        return;
    }
    b.dead.push(id);
    set_pending();
    let full = b.dead.len() >= DEAD_FLUSH;
    drop(b);
    if full {
        flush_now();
    }
}

/// [`forget`] on a thread without a buffer (it is exiting): the graph is
/// told directly.
#[cold]
#[inline(never)]
fn forget_in_graph(id: u64) {
    let mut g = Locked::new();
    flush(&mut g);
    g.forget_instance(id);
}

/// Takes the graph lock to flush (a buffer grew long).
#[cold]
fn flush_now() {
    let mut g = Locked::new();
    flush(&mut g);
}

/// Moves every buffered edge of live locks into the instance graph and
/// removes the dead ones from it. Called with the graph lock held, before
/// anything that adds instance edges or reads the instance graph.
pub(super) fn flush(g: &mut Global) {
    if !PENDING.load(Ordering::Relaxed) {
        return;
    }
    PENDING.store(false, Ordering::Relaxed);
    let mut entries = Vec::new();
    let mut dead = Vec::new();
    for s in SLOTS.lock().iter() {
        let mut b = s.buffer.lock();
        // The previous entry's, when it has the same info (a loop's
        // entries): no lookup.
        let mut last: Option<(usize, Arc<str>, Option<Backtrace>)> = None;
        let taken = std::mem::take(&mut b.entries);
        if let Some(max) = taken.iter().map(|e| e.from).max() {
            // (Under the buffer's lock: a drop that takes it next sees it.)
            b.flushed_max = b.flushed_max.max(max);
        }
        for e in taken {
            let (thread, stack) = match &last {
                Some((i, t, st)) if *i == e.info => (t.clone(), st.clone()),
                _ => {
                    let (t, st) = b.origin_of(&b.infos[e.info]);
                    last = Some((e.info, t.clone(), st.clone()));
                    (t, st)
                }
            };
            let info = &b.infos[e.info];
            let edge = Moved {
                from: e.from,
                to: e.to,
                class: info.class,
                kind: info.kind,
                hold: info.hold,
                held_at: info.held_at,
                requested_at: info.requested_at,
            };
            entries.push((edge, thread, stack));
        }
        dead.append(&mut b.dead);
    }
    if !entries.is_empty() {
        dead.sort_unstable();
        dead.dedup();
        let is_dead = |id: &u64| dead.binary_search(id).is_ok();
        let limits = Limits::current();
        let mut last = Last::default();
        for (e, thread, stack) in entries {
            if is_dead(&e.from) || is_dead(&e.to) || g.full {
                continue;
            }
            g.materialize(e, thread, stack, &limits, &mut last);
        }
    }
    // Most dead locks never reached the graph (their edges left the buffer
    // with them). Ids grow: a lock made after the last one a flush put in
    // the graph is not there, and is not looked up.
    for id in dead {
        if id <= g.young_max {
            g.forget_instance(id);
        }
    }
}

/// What one flush's previous edge looked up: a chain's edges are one class,
/// and each starts at the lock the previous one ended at.
#[derive(Default)]
struct Last {
    /// A class (by [`Class::identity`]) and its node.
    class: Option<((usize, usize), NodeId)>,
    /// The previous edge's head and its instance node.
    head: Option<(u64, NodeId)>,
}

impl Global {
    /// Adds a buffered edge to the instance graph, as `add_edges` would
    /// have (it closes no cycle: see the module docs).
    fn materialize(
        &mut self,
        e: Moved,
        thread: Arc<str>,
        backtrace: Option<Backtrace>,
        limits: &Limits,
        last: &mut Last,
    ) {
        let info = NodeInfo {
            kind: e.kind,
            class: e.class,
            instance: None,
        };
        let identity = e.class.identity();
        let class = match last.class {
            Some((i, c)) if Some(i) == identity => c,
            _ => {
                let Some(c) = self.class_node(e.class, e.from, info, limits) else {
                    return;
                };
                last.class = identity.map(|i| (i, c));
                c
            }
        };
        let tail = match last.head {
            Some((id, n)) if id == e.from => Some(n),
            _ => self.instance_node(e.from, class, e.kind, limits),
        };
        let (Some(a), Some(b)) = (tail, self.instance_node(e.to, class, e.kind, limits)) else {
            return;
        };
        last.head = Some((e.to, b));
        self.young_max = self.young_max.max(e.from).max(e.to);
        let (hold, request) = (e.hold, Request::Exclusive);
        let rec = self
            .instances
            .add_edge(a, b, hold, request, &[], EdgeMeta::default);
        debug_assert!(rec.cycle.is_none(), "a buffered edge closed a cycle");
        let k = kind_index(EdgeKinds::of(hold, request));
        let Some(x) = rec.edge else {
            return;
        };
        if self.instances.edge_at(x).is_some_and(|m| m.meta.lacks(k)) {
            let origin = self.origins.intern(FirstSeen {
                thread,
                hold,
                request,
                upgradable_request: false,
                held_at: e.held_at,
                requested_at: e.requested_at,
                backtrace,
            });
            if let Some(m) = self.instances.edge_at_mut(x) {
                m.meta.fill(origin);
            }
        }
    }

    /// Removes a dropped lock from the instance graph.
    pub(super) fn forget_instance(&mut self, id: u64) {
        if let Some(n) = self.instance_index.remove(&id) {
            self.instances.remove_node(n);
        }
    }
}

/// In a forked child, on the thread that forked (after its label is
/// forgotten): its buffer's entries made in the parent keep the parent
/// thread's name, and its new ones get the child's.
pub(super) fn fork_child() {
    let mine = MINE.try_with(|m| m.0.get()).ok().flatten();
    if let Some(s) = mine {
        s.buffer.lock().relabel();
    }
}

/// Every buffer's lock across `fork()` (taken after the graph lock, in the
/// graph's own hook: a flush takes them under it).
pub(super) fn hold_for_fork() {
    let slots = SLOTS.lock();
    for s in slots.iter() {
        crate::fork::hold(s.buffer.lock());
    }
    crate::fork::hold(slots);
}
