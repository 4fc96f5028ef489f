//! Lock identity and the per-thread held-lock stack: the steady-state path.
//!
//! Every tracked lock embeds a [`LockMeta`]. A thread keeps the locks it holds
//! in a fixed-size stack in a `const`-initialised thread-local (no destructor,
//! no lazy-init check). Each entry carries running hashes of the stack below it,
//! like lockdep's chain hash, so an acquisition whose "held locks + requested
//! lock" chain this thread has seen before costs one lookup in a thread-local
//! direct-mapped cache and touches no shared state. Only a miss goes to the
//! process-wide graph in [`crate::global`].

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::Instant;

use crate::class::{fnv, Class, LockKind};
use crate::features::{ATOMICITY, PROFILE, WATCHDOG};
use crate::global;
use crate::report::{Hold, Request};

#[cfg(feature = "send_guard")]
mod moved;

/// The most locks one thread can hold and still have them tracked. Deeper
/// acquisitions work but are not tracked (and a one-time warning says so).
pub const MAX_HELD: usize = 48;

/// Slots of the per-thread cache of chains already recorded (fewer under
/// loom, whose threads run on small coroutine stacks).
const CACHE_BITS: u32 = if cfg!(loom) { 6 } else { 10 };
const CACHE_SLOTS: usize = 1 << CACHE_BITS;

/// Instance ids are handed to threads in blocks, so that making locks does not
/// contend on one counter.
const ID_BLOCK: u64 = 1024;

const IN_GRAPH: u64 = 1 << 63;
/// Set once a shared guard of the lock was released: the atomicity checker
/// records this lock's writes from then on (see `atomicity::released`).
const WATCHED: u64 = 1 << 62;
const ID_MASK: u64 = !(IN_GRAPH | WATCHED);

/// Or'ed into a slot's `reqs` entry when the slot holds an upgradable read:
/// a shared hold for the lock-order graph, which the watchdog tells apart
/// from a plain read (only an upgradable or exclusive holder keeps another
/// upgradable read out). Being part of the slot's request, it is rewritten by
/// any push of another kind into the slot: the common path stores nothing
/// more for it.
const UPGRADABLE: u8 = 0x80;

static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

/// Tracking state embedded in every tracked lock: its class and its instance id.
///
/// The id is assigned lazily on first tracked use (one relaxed load afterwards)
/// and is never reused, so a moved lock keeps its identity and a dropped lock's
/// id never aliases a new one.
pub struct LockMeta {
    class: Class,
    kind: LockKind,
    named_key: u64,
    id: AtomicU64,
    /// The atomicity checker's state for this lock, allocated on first use
    /// while the checker is on.
    atom: AtomicPtr<crate::atomicity::LockAtom>,
}

impl std::fmt::Debug for LockMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockMeta")
            .field("class", &self.class)
            .field("kind", &self.kind)
            .field("id", &(self.id.load(Ordering::Relaxed) & ID_MASK))
            .finish()
    }
}

impl LockMeta {
    /// Metadata for a lock of `kind` in `class`.
    pub const fn new(kind: LockKind, class: Class) -> LockMeta {
        let named_key = match class {
            Class::Named(n) => fnv(n) | 1,
            _ => 0,
        };
        LockMeta {
            class,
            kind,
            named_key,
            id: AtomicU64::new(0),
            atom: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The lock's class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The lock's kind.
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// The instance id, assigning one on first use.
    #[inline]
    pub fn id(&self) -> u64 {
        let v = self.id.load(Ordering::Relaxed);
        if v != 0 {
            return v & ID_MASK;
        }
        self.assign_id()
    }

    #[cold]
    fn assign_id(&self) -> u64 {
        let fresh = STATE.with(|t| {
            let next = t.next_id.get();
            if next < t.end_id.get() {
                t.next_id.set(next + 1);
                next
            } else {
                let start = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
                t.next_id.set(start + 1);
                t.end_id.set(start + ID_BLOCK);
                start
            }
        });
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(winner) => winner & ID_MASK,
        }
    }

    /// Whether a shared guard of this lock was ever released while the
    /// atomicity checker was on.
    #[inline]
    pub(crate) fn watched(&self) -> bool {
        self.id.load(Ordering::Relaxed) & WATCHED != 0
    }

    pub(crate) fn mark_watched(&self) {
        self.id.fetch_or(WATCHED, Ordering::Relaxed);
    }

    /// The atomicity checker's state for this lock, if it has any yet.
    #[inline]
    pub(crate) fn atom_if_any(&self) -> Option<&crate::atomicity::LockAtom> {
        let p = self.atom.load(Ordering::Acquire);
        // SAFETY: a non-null `p` is a live block from `Box::into_raw`, freed
        // only when the lock is dropped, which cannot happen while `self` is
        // borrowed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The atomicity checker's state for this lock, allocated on first use.
    #[inline]
    pub(crate) fn atom(&self) -> &crate::atomicity::LockAtom {
        let mut p = self.atom.load(Ordering::Acquire);
        if p.is_null() {
            p = self.alloc_atom();
        }
        // SAFETY: `p` is a live block from `Box::into_raw`, freed only when
        // the lock is dropped, which cannot happen while `self` is borrowed.
        unsafe { &*p }
    }

    #[cold]
    #[inline(never)]
    fn alloc_atom(&self) -> *mut crate::atomicity::LockAtom {
        let fresh = crate::atomicity::alloc();
        match self.atom.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                crate::atomicity::free(fresh);
                winner
            }
        }
    }

    /// The per-thread key of this lock's class in the contention profile.
    pub(crate) fn profile_key(&self) -> u64 {
        self.hot_key(self.id())
    }

    /// The key hashed into chains: the class's address or name hash, or the
    /// instance for anonymous classes.
    #[inline]
    fn hot_key(&self, id: u64) -> u64 {
        match self.class {
            Class::Site(l, t) => Class::site_hot_key(l, t),
            Class::Named(_) => self.named_key,
            Class::Anonymous => (id << 2) | 2,
        }
    }

    pub(crate) fn mark_in_graph(&self) {
        self.id.fetch_or(IN_GRAPH, Ordering::Relaxed);
    }

    /// Call before a blocking or timed acquisition (not before `try_lock`):
    /// records "every held lock -> this one" and reports a cycle it closes,
    /// before the caller blocks.
    #[inline(always)]
    pub fn before_wait(&self, request: Request, site: Option<&'static Location<'static>>) {
        state().before_wait(self, request, 0, site, Op::Acquire);
    }

    /// [`before_wait`](Self::before_wait) for a blocking or timed upgradable
    /// read (an exclusive request), to be followed by
    /// [`acquired_upgradable`](Self::acquired_upgradable).
    #[inline]
    pub fn before_wait_upgradable(&self, site: Option<&'static Location<'static>>) {
        state().before_wait(self, Request::Exclusive, UPGRADABLE, site, Op::Acquire);
    }

    /// Call after the lock was taken (by any method, `try_lock` included).
    #[inline(always)]
    pub fn acquired(&self, hold: Hold, site: Option<&'static Location<'static>>) {
        let t = state();
        let slot = t.push(self, hold, 0, site);
        let features = crate::features::hooks();
        // The atomicity checker alone, with nothing to do (the common case
        // of a test run with it on), is decided here without a call.
        if features == ATOMICITY {
            if !t.atom.quiet_acquire(self) {
                t.acquired_with_features(self, slot, features);
            }
        } else if features != 0 {
            t.acquired_with_features(self, slot, features);
        }
    }

    /// Call after an upgradable read was taken (by any method), instead of
    /// [`acquired`](Self::acquired): a shared hold for the lock-order graph,
    /// shown to the [`watchdog`](crate::watchdog) as an upgradable one.
    #[inline]
    pub fn acquired_upgradable(&self, site: Option<&'static Location<'static>>) {
        let t = state();
        let slot = t.push(self, Hold::Shared, UPGRADABLE, site);
        let features = crate::features::hooks();
        if features != 0 {
            t.acquired_with_features(self, slot, features);
        }
    }

    /// Call when a timed acquisition checked with [`before_wait`](Self::before_wait)
    /// gave up without the lock.
    pub fn abandoned(&self) {
        STATE.with(|t| t.checked_id.set(0));
    }

    /// Call when the lock is released (before the raw unlock).
    #[inline(always)]
    pub fn released(&self) {
        let features = crate::features::hooks();
        if features == 0 {
            let _ = state().pop(self);
        } else {
            state().released_with_features(self, features);
        }
    }

    /// Call when an upgradable read is released (before the raw unlock),
    /// instead of [`released`](Self::released): when the thread also holds
    /// a plain read of the lock taken later, that one stays (as a read).
    #[inline]
    pub fn released_upgradable(&self) {
        state().before_upgradable_release(self);
        self.released();
    }

    /// Call when a read guard (shared, not upgradable) is released (before
    /// the raw unlock), instead of [`released`](Self::released): when the
    /// thread also holds an upgradable read of the lock taken later, that
    /// one stays (as an upgradable read).
    #[inline]
    pub fn released_read(&self) {
        state().before_read_release(self);
        self.released();
    }

    /// Call before an exclusive hold is downgraded to a shared one (before
    /// the raw downgrade): for the atomicity checker, the exclusive hold wrote.
    pub fn downgrading(&self) {
        if crate::atomicity::on() {
            crate::atomicity::downgrading(&state().atom, self);
        }
    }

    /// Call when a held lock changes mode in place (downgrade, finished upgrade).
    /// The hold is no longer an upgradable read, if it was one.
    pub fn rehold(&self, hold: Hold) {
        STATE.with(|t| t.rehold(self, hold, 0));
    }

    /// Call when a held write lock is downgraded to an upgradable read in
    /// place: a shared hold, which the watchdog shows as upgradable.
    pub fn rehold_upgradable(&self) {
        STATE.with(|t| t.rehold(self, Hold::Shared, UPGRADABLE));
    }

    /// Call before upgrading a held upgradable read lock: records the other
    /// held locks -> this one as an exclusive request.
    pub fn before_upgrade(&self, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::Upgrade));
    }

    /// Call on a condvar's metadata before waiting on it with `mutex`'s guard:
    /// every other held lock -> the condvar.
    pub fn before_condvar_wait(&self, mutex: &LockMeta, site: Option<&'static Location<'static>>) {
        let m = mutex.id();
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::CondvarWait(m)));
    }

    /// Call on a condvar's metadata when notifying it: the condvar -> every
    /// lock the notifier holds (a waiter needs the notifier to get that far).
    pub fn notified(&self, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::Notify));
    }
}

impl Drop for LockMeta {
    fn drop(&mut self) {
        let atom = *self.atom.get_mut();
        if !atom.is_null() {
            crate::atomicity::free(atom);
        }
        let v = *self.id.get_mut();
        if v == 0 {
            return;
        }
        // A lock dropped while this thread still holds it (its guard was
        // forgotten) leaves the held stack too.
        let id = v & ID_MASK;
        let _ = STATE.try_with(|t| t.forget(id));
        if v & IN_GRAPH != 0 {
            global::forget_instance(id);
        }
    }
}

/// What an acquisition-like event is, for the chain key and the recorder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Acquire,
    Upgrade,
    CondvarWait(u64),
    Notify,
}

/// One held lock, as handed to the recorder (a copy of one stack slot).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) id: u64,
    pub(crate) key: u64,
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    pub(crate) hold: Hold,
    pub(crate) site: Option<&'static Location<'static>>,
}

/// The class part of a stack slot, a function of the slot's key: rewritten
/// only when a lock of another class lands in the slot.
#[derive(Clone, Copy)]
struct SlotClass {
    class: Class,
    kind: LockKind,
}

const EMPTY_CLASS: SlotClass = SlotClass {
    class: Class::Anonymous,
    kind: LockKind::Other,
};

const ROOT_CHAIN: u64 = 0x243f_6a88_85a3_08d3;
const ROOT_INST: u64 = 0x1319_8a2e_0370_7344;

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    (a.rotate_left(26) ^ b).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[inline]
fn bloom_bit(key: u64) -> u64 {
    1 << (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58)
}

/// Set in `len` while the thread is inside lockgraph's own bookkeeping: every
/// fast path then sees an out-of-range length and does nothing.
const BUSY: usize = 1 << 31;

/// A thread's held-lock stack, as parallel arrays so the fast paths touch
/// only the words they need. Slot `i` holds the `i`-th lock taken and still
/// held. `chains[i]`, `insts[i]` and `blooms[i]` summarise slots `0..=i`; they
/// are filled lazily (only a nested acquisition needs them) and are valid for
/// slots below `linked`.
pub(crate) struct ThreadState {
    /// Lock id, with [`IN_GRAPH`] set when the recorder put it in the
    /// instance graph while held.
    ids: [Cell<u64>; MAX_HELD],
    keys: [Cell<u64>; MAX_HELD],
    classes: [Cell<SlotClass>; MAX_HELD],
    holds: [Cell<Hold>; MAX_HELD],
    /// How the slot's lock was requested, as `1 + Request`; 0 when its edges
    /// were not checked (a `try_lock`). Or'ed with [`UPGRADABLE`] for an
    /// upgradable read.
    reqs: [Cell<u8>; MAX_HELD],
    sites: [Cell<Option<&'static Location<'static>>>; MAX_HELD],
    /// When the slot's lock was taken, for sampled hold times (profiling).
    since: [Cell<Option<Instant>>; MAX_HELD],
    /// When the slot's lock was taken, in the watchdog's coarse clock.
    wd_since: [Cell<u64>; MAX_HELD],
    /// When the slot was pushed, in `moved`'s sequence (`send_guard`).
    #[cfg(feature = "send_guard")]
    stamps: [Cell<u64>; MAX_HELD],
    /// Hash of (class key, hold mode) of slots `0..=i`.
    chains: [Cell<u64>; MAX_HELD],
    /// Hash of the ids of the exclusive holds among slots `0..=i`.
    insts: [Cell<u64>; MAX_HELD],
    /// Bloom filter of the class keys of slots `0..=i`.
    blooms: [Cell<u64>; MAX_HELD],
    /// The number of slots, or'ed with [`BUSY`] during bookkeeping.
    len: Cell<usize>,
    linked: Cell<usize>,
    /// Slots below this were pushed by acquisitions whose edges are recorded,
    /// and have not changed since: re-acquiring the same lock the same way on
    /// top of them has nothing new to record.
    verified: Cell<usize>,
    /// The lock of the last acquisition checked by `before_wait` (0: none),
    /// and its depth and request as `depth << 8 | (1 + request)`.
    checked_id: Cell<u64>,
    checked_tag: Cell<usize>,
    untracked: Cell<usize>,
    cache: [Cell<u64>; CACHE_SLOTS],
    next_id: Cell<u64>,
    end_id: Cell<u64>,
    pending_site: Cell<Option<&'static Location<'static>>>,
    /// The atomicity checker's per-thread part.
    atom: crate::atomicity::AtomThread,
    /// This thread's watchdog slot, once registered (see `watchdog_slot`).
    wd_slot: Cell<*const crate::watchdog::Slot>,
}

crate::sync::thread_local_const! {
    static STATE: ThreadState = const {
        ThreadState {
            ids: [const { Cell::new(0) }; MAX_HELD],
            keys: [const { Cell::new(0) }; MAX_HELD],
            classes: [const { Cell::new(EMPTY_CLASS) }; MAX_HELD],
            holds: [const { Cell::new(Hold::Shared) }; MAX_HELD],
            reqs: [const { Cell::new(0) }; MAX_HELD],
            sites: [const { Cell::new(None) }; MAX_HELD],
            since: [const { Cell::new(None) }; MAX_HELD],
            wd_since: [const { Cell::new(0) }; MAX_HELD],
            #[cfg(feature = "send_guard")]
            stamps: [const { Cell::new(0) }; MAX_HELD],
            chains: [const { Cell::new(0) }; MAX_HELD],
            insts: [const { Cell::new(0) }; MAX_HELD],
            blooms: [const { Cell::new(0) }; MAX_HELD],
            len: Cell::new(0),
            linked: Cell::new(0),
            verified: Cell::new(0),
            checked_id: Cell::new(0),
            checked_tag: Cell::new(0),
            untracked: Cell::new(0),
            cache: [const { Cell::new(0) }; CACHE_SLOTS],
            next_id: Cell::new(0),
            end_id: Cell::new(0),
            pending_site: Cell::new(None),
            atom: crate::atomicity::AtomThread::new(),
            wd_slot: Cell::new(std::ptr::null()),
        }
    };
}

/// This thread's state.
///
/// `LocalKey::with` is not always inlined, and an out-of-line `with` costs an
/// indirect call on every lock operation; a plain reference does not.
#[inline(always)]
fn state() -> &'static ThreadState {
    // SAFETY: `STATE` is `const`-initialised and has no destructor, so its
    // storage stays valid until the thread exits (under loom: a boxed value
    // that lives as long as the loom thread). `ThreadState` is `!Sync`
    // (it is made of `Cell`s), so the reference cannot reach another thread,
    // and it is only used for the duration of one hook call.
    STATE.with(|t| unsafe { &*(t as *const ThreadState) })
}

/// Marks the thread as inside lockgraph's own bookkeeping for its lifetime, so
/// locks taken meanwhile (by a panic hook printing a report of the `panic`
/// policy, say) are not tracked and cannot re-enter the recorder. Cleared on
/// unwind too.
struct Busy<'a>(&'a ThreadState);

impl<'a> Busy<'a> {
    fn enter(t: &'a ThreadState) -> Busy<'a> {
        t.len.set(t.len.get() | BUSY);
        Busy(t)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.len.set(self.0.len.get() & !BUSY);
    }
}

impl ThreadState {
    /// `flags`: [`UPGRADABLE`] for an upgradable read, else 0 (acquisitions
    /// only).
    #[inline]
    fn before_wait(
        &self,
        meta: &LockMeta,
        request: Request,
        flags: u8,
        site: Option<&'static Location<'static>>,
        op: Op,
    ) {
        let len = self.len.get();
        // Nothing held (no edge to record), or busy: nothing to do.
        if len.wrapping_sub(1) >= MAX_HELD {
            return;
        }
        if op == Op::Acquire {
            let id = meta.id();
            let req = request as u8 + 1;
            if len < MAX_HELD
                && self.verified.get() > len
                && self.ids[len].get() & ID_MASK == id
                && self.reqs[len].get() == req | flags
            {
                // The same lock, requested the same way, on the same stack as
                // last time at this depth: its edges are recorded.
                self.checked_id.set(id);
                self.checked_tag.set(len << 8 | req as usize);
                return;
            }
        }
        // Past the steady state: the lock-order graph's switch. Off, nothing
        // is looked up, recorded or cached, and nothing new marked checked.
        if crate::features::order() {
            self.before_wait_nested(meta, request, site, op, len);
        }
    }

    /// The chain-cache lookup, out of line so the common "nothing held" path
    /// stays small where it is inlined. An acquisition whose chain's edges
    /// are recorded is marked checked for the push that follows.
    #[inline(never)]
    fn before_wait_nested(
        &self,
        meta: &LockMeta,
        request: Request,
        site: Option<&'static Location<'static>>,
        op: Op,
        len: usize,
    ) {
        if len.wrapping_sub(1) >= MAX_HELD {
            return;
        }
        let top = len - 1;
        if self.linked.get() < len {
            self.link_up_to(len);
        }
        let id = meta.id();
        let key = meta.hot_key(id);
        let mut h = mix(mix(self.chains[top].get(), key), request as u64 + 1);
        if len >= 2 {
            // Every held exclusive lock gates some edge: instance identity matters.
            h = mix(h, self.insts[top].get());
        }
        if self.blooms[top].get() & bloom_bit(key) != 0 {
            h = self.same_class_key(h, key, id, len);
        }
        match op {
            Op::Acquire => {}
            Op::Upgrade => h = mix(h, 0x75),
            Op::CondvarWait(m) => h = mix(mix(h, 0xc0), m),
            Op::Notify => h = mix(h, 0x7e),
        }
        let h = h | 1;
        let slot = (h >> (64 - CACHE_BITS)) as usize;
        // Two-way: the pair of slots `slot & !1` and `slot | 1`.
        let (a, b) = (&self.cache[slot & !1], &self.cache[slot | 1]);
        if a.get() != h && b.get() != h {
            self.slow_record(meta, id, request, site, op);
            b.set(a.get());
            a.set(h);
        }
        if op == Op::Acquire {
            self.checked_id.set(id);
            self.checked_tag.set(len << 8 | (request as usize + 1));
        }
    }

    /// A lock of the same class may be held: the order of instances decides,
    /// so their ids go into the key.
    #[cold]
    #[inline(never)]
    fn same_class_key(&self, mut h: u64, key: u64, id: u64, len: usize) -> u64 {
        for i in 0..len {
            if self.keys[i].get() == key {
                h = mix(h, self.ids[i].get() & ID_MASK);
            }
        }
        mix(h, id)
    }

    /// Drops the slots of locks whose guards were sent to and released on
    /// another thread (`send_guard`; see `state/moved.rs`).
    #[inline]
    fn claim_moved(&self) {
        #[cfg(feature = "send_guard")]
        if self.len.get() & BUSY == 0 {
            moved::claim(
                |id, seq| {
                    (0..self.len.get())
                        .find(|&i| self.ids[i].get() & ID_MASK == id && self.stamps[i].get() < seq)
                },
                |i| self.remove_at(i),
            );
        }
    }

    fn snapshot(&self) -> Vec<Held> {
        (0..self.len.get() & !BUSY)
            .map(|i| {
                let class = self.classes[i].get();
                Held {
                    id: self.ids[i].get() & ID_MASK,
                    key: self.keys[i].get(),
                    class: class.class,
                    kind: class.kind,
                    hold: self.holds[i].get(),
                    site: self.sites[i].get(),
                }
            })
            .collect()
    }

    #[cold]
    #[inline(never)]
    fn slow_record(
        &self,
        meta: &LockMeta,
        id: u64,
        request: Request,
        site: Option<&'static Location<'static>>,
        op: Op,
    ) {
        let site = site.or(self.pending_site.get());
        self.claim_moved();
        let held = self.snapshot();
        let _busy = Busy::enter(self);
        let out = global::record(&held, meta, id, request, site, op);
        for i in out.marked {
            self.ids[i].set(self.ids[i].get() | IN_GRAPH);
        }
        crate::record::write(out.lines);
        for report in out.reports {
            crate::policy::emit(report);
        }
    }

    /// Fills the running summaries of slots `linked..len`.
    #[cold]
    #[inline(never)]
    fn link_up_to(&self, len: usize) {
        for i in self.linked.get()..len {
            let (chain, inst, bloom) = if i == 0 {
                (ROOT_CHAIN, ROOT_INST, 0)
            } else {
                (
                    self.chains[i - 1].get(),
                    self.insts[i - 1].get(),
                    self.blooms[i - 1].get(),
                )
            };
            let (id, key, hold) = (
                self.ids[i].get() & ID_MASK,
                self.keys[i].get(),
                self.holds[i].get(),
            );
            self.chains[i].set(mix(mix(chain, key), hold as u64));
            self.insts[i].set(match hold {
                Hold::Exclusive => mix(inst, id),
                Hold::Shared => inst,
            });
            self.blooms[i].set(bloom | bloom_bit(key));
        }
        self.linked.set(len);
    }

    /// Pushes `meta` held as `hold`; `flags`: [`UPGRADABLE`] for an
    /// upgradable read, else 0.
    #[inline(always)]
    fn push(
        &self,
        meta: &LockMeta,
        hold: Hold,
        flags: u8,
        site: Option<&'static Location<'static>>,
    ) -> Option<usize> {
        let len = self.len.get();
        if len >= MAX_HELD {
            // Full, or busy (then `len` has the BUSY bit): not tracked.
            if len & BUSY == 0 {
                self.overflow();
            }
            return None;
        }
        let id = meta.id();
        let req = if self.checked_id.get() == id {
            self.checked_id.set(0);
            let tag = self.checked_tag.get();
            if tag >> 8 == len {
                tag as u8
            } else {
                0
            }
        } else {
            0
        };
        // A slot's summaries depend on the slots below it and on its own
        // content: re-pushing the same lock the same way keeps them valid.
        let same = self.ids[len].get() & ID_MASK == id
            && self.holds[len].get() == hold
            && self.reqs[len].get() == req | flags;
        if !same {
            if self.linked.get() > len {
                self.linked.set(len);
            }
            if self.verified.get() > len {
                self.verified.set(len);
            }
            self.ids[len].set(id);
            self.holds[len].set(hold);
            self.reqs[len].set(req | flags);
            // Same lock, same key: only a different lock can change the class.
            let key = meta.hot_key(id);
            if self.keys[len].get() != key {
                self.set_class(len, key, meta);
            }
        }
        // Nothing below slot 0: its acquisition never has edges to record.
        if (req != 0 || len == 0) && self.verified.get() == len {
            self.verified.set(len + 1);
        }
        self.sites[len].set(match site {
            Some(s) => Some(s),
            None => self.pending_site.take(),
        });
        #[cfg(feature = "send_guard")]
        self.stamps[len].set(moved::stamp());
        self.len.set(len + 1);
        Some(len)
    }

    /// The optional features' part of an acquisition pushed to `slot`. The
    /// common single-feature cases get their own copy of the body, with the
    /// other features' code folded away.
    #[inline(never)]
    fn acquired_with_features(&self, meta: &LockMeta, slot: Option<usize>, features: u8) {
        match features {
            ATOMICITY => self.features_acquired(meta, slot, ATOMICITY),
            WATCHDOG => self.features_acquired(meta, slot, WATCHDOG),
            _ => self.features_acquired_any(meta, slot, features),
        }
    }

    #[inline(never)]
    fn features_acquired_any(&self, meta: &LockMeta, slot: Option<usize>, features: u8) {
        self.features_acquired(meta, slot, features);
    }

    #[inline(always)]
    fn features_acquired(&self, meta: &LockMeta, slot: Option<usize>, features: u8) {
        if let Some(i) = slot {
            if features & (PROFILE | WATCHDOG) != 0 {
                self.pushed_with_features(i, features);
            }
            if features & ATOMICITY != 0 {
                let id = self.ids[i].get() & ID_MASK;
                let (hold, site) = (self.holds[i].get(), self.sites[i].get());
                crate::atomicity::acquired(&self.atom, meta, id, hold, site);
            }
        }
    }

    /// The optional features' part of a release, specialised like
    /// [`acquired_with_features`](Self::acquired_with_features).
    #[inline(never)]
    fn released_with_features(&self, meta: &LockMeta, features: u8) {
        match features {
            ATOMICITY => self.features_released(meta, ATOMICITY),
            WATCHDOG => self.features_released(meta, WATCHDOG),
            _ => self.features_released_any(meta, features),
        }
    }

    #[inline(never)]
    fn features_released_any(&self, meta: &LockMeta, features: u8) {
        self.features_released(meta, features);
    }

    #[inline(always)]
    fn features_released(&self, meta: &LockMeta, features: u8) {
        let len = self.len.get();
        // Not busy, and something held.
        if features & ATOMICITY != 0 && len.wrapping_sub(1) < MAX_HELD {
            let id = meta.id.load(Ordering::Relaxed) & ID_MASK;
            let top = len - 1;
            let word = self.ids[top].get();
            if word & ID_MASK == id {
                // The common case, the top slot: checked, then popped here
                // without looking it up again (the checker changes no slot).
                let (hold, site) = (self.holds[top].get(), self.sites[top].get());
                crate::atomicity::released(&self.atom, meta, id, hold, site);
                self.pop_top(top, word, meta);
                if features & (PROFILE | WATCHDOG) != 0 {
                    self.popped_with_features(top, meta, features);
                }
                return;
            }
            if let Some(i) = self.find(id) {
                let (hold, site) = (self.holds[i].get(), self.sites[i].get());
                crate::atomicity::released(&self.atom, meta, id, hold, site);
            }
        }
        if let Some(i) = self.pop(meta) {
            if features & (PROFILE | WATCHDOG) != 0 {
                self.popped_with_features(i, meta, features);
            }
        }
    }

    /// The profile's and the watchdog's part of a push.
    #[inline]
    fn pushed_with_features(&self, i: usize, features: u8) {
        if features & PROFILE != 0 {
            self.sample_since(i);
        }
        if features & WATCHDOG != 0 {
            self.wd_since[i].set(crate::watchdog::tick());
            if let Some(s) = self.watchdog_slot() {
                let mode = crate::watchdog::hold_mode(
                    self.holds[i].get(),
                    self.reqs[i].get() & UPGRADABLE != 0,
                );
                crate::watchdog::publish_push(
                    s,
                    i,
                    self.ids[i].get() & ID_MASK,
                    mode,
                    self.sites[i].get(),
                    self.wd_since[i].get(),
                    || self.published(i),
                );
            }
        }
    }

    /// The profile's and the watchdog's part of a pop of slot `i`.
    #[inline]
    fn popped_with_features(&self, i: usize, meta: &LockMeta, features: u8) {
        if features & PROFILE != 0 {
            self.hold_sampled(i, meta);
        }
        if features & WATCHDOG != 0 {
            if let Some(s) = self.watchdog_slot() {
                crate::watchdog::publish_len(s, i);
            }
        }
    }

    /// This thread's watchdog slot (registered on first use), or `None` when
    /// the thread is exiting and its slot is gone.
    #[inline]
    fn watchdog_slot(&self) -> Option<&crate::watchdog::Slot> {
        let mut p = self.wd_slot.get();
        if p.is_null() {
            p = crate::watchdog::this_thread_slot();
            self.wd_slot.set(p);
        }
        // SAFETY: a non-null pointer came from `this_thread_slot`: the slot
        // is kept alive by this thread's `MINE` thread-local, whose drop
        // clears `wd_slot` (`clear_watchdog_slot`) before releasing it. The
        // reference does not outlive this hook call, on this thread.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Slot `i` as the watchdog publishes it.
    #[inline]
    fn published(&self, i: usize) -> crate::watchdog::Published {
        let class = self.classes[i].get();
        crate::watchdog::Published {
            id: self.ids[i].get() & ID_MASK,
            class: class.class,
            kind: class.kind,
            hold: self.holds[i].get(),
            upgradable: self.reqs[i].get() & UPGRADABLE != 0,
            site: self.sites[i].get(),
            since: self.wd_since[i].get(),
        }
    }

    /// Publishes slots `from..len` and the length for the watchdog.
    #[cold]
    #[inline(never)]
    fn publish(&self, from: usize) {
        let len = self.len.get() & !BUSY;
        if let Some(s) = self.watchdog_slot() {
            crate::watchdog::publish(s, from, len, |i| self.published(i));
        }
    }

    #[cold]
    fn sample_since(&self, i: usize) {
        let t = crate::profile::sample_hold().then(Instant::now);
        self.since[i].set(t);
    }

    #[cold]
    fn hold_sampled(&self, i: usize, meta: &LockMeta) {
        if let Some(t) = self.since[i].take() {
            crate::profile::held_for(meta, t.elapsed());
        }
    }

    #[cold]
    fn set_class(&self, i: usize, key: u64, meta: &LockMeta) {
        self.keys[i].set(key);
        self.classes[i].set(SlotClass {
            class: meta.class,
            kind: meta.kind,
        });
    }

    #[cold]
    fn overflow(&self) {
        self.untracked.set(self.untracked.get() + 1);
        global::warn_once_overflow();
    }

    #[inline(always)]
    /// Pops `meta`'s slot; returns it when it was the top one (the optional
    /// features' part of a pop from the middle is done here).
    fn pop(&self, meta: &LockMeta) -> Option<usize> {
        let len = self.len.get();
        let id = meta.id.load(Ordering::Relaxed) & ID_MASK;
        if len.wrapping_sub(1) < MAX_HELD {
            let word = self.ids[len - 1].get();
            if word & ID_MASK == id {
                self.pop_top(len - 1, word, meta);
                return Some(len - 1);
            }
        }
        self.pop_slow(meta, id);
        None
    }

    /// Pops the top slot `top`, whose id word is `word`, holding `meta`.
    #[inline(always)]
    fn pop_top(&self, top: usize, word: u64, meta: &LockMeta) {
        self.len.set(top);
        if word & IN_GRAPH != 0 {
            self.ids[top].set(word & ID_MASK);
            meta.mark_in_graph();
        }
    }

    #[cold]
    fn pop_slow(&self, meta: &LockMeta, id: u64) {
        if self.len.get() & BUSY != 0 {
            // Only locks taken while busy (never pushed) are released now.
            return;
        }
        if let Some(i) = self.find(id) {
            if self.ids[i].get() & IN_GRAPH != 0 {
                meta.mark_in_graph();
            }
            if crate::profile::on() {
                self.hold_sampled(i, meta);
            }
            self.remove_at(i);
        } else if self.untracked.get() > 0 {
            self.untracked.set(self.untracked.get() - 1);
        } else {
            // A guard taken on another thread (`send_guard`): that thread's
            // stack drops it (and the lock may be in the graph from there).
            #[cfg(feature = "send_guard")]
            {
                meta.mark_in_graph();
                moved::post(id);
            }
        }
    }

    fn find(&self, id: u64) -> Option<usize> {
        (0..self.len.get() & !BUSY)
            .rev()
            .find(|&i| self.ids[i].get() & ID_MASK == id)
    }

    /// Removes slot `i`; the summaries above it become stale.
    fn remove_at(&self, i: usize) {
        let len = self.len.get();
        for j in i..len - 1 {
            self.ids[j].set(self.ids[j + 1].get());
            self.keys[j].set(self.keys[j + 1].get());
            self.classes[j].set(self.classes[j + 1].get());
            self.holds[j].set(self.holds[j + 1].get());
            self.reqs[j].set(self.reqs[j + 1].get());
            self.sites[j].set(self.sites[j + 1].get());
            self.since[j].set(self.since[j + 1].get());
            self.wd_since[j].set(self.wd_since[j + 1].get());
            #[cfg(feature = "send_guard")]
            self.stamps[j].set(self.stamps[j + 1].get());
        }
        self.len.set(len - 1);
        self.linked.set(self.linked.get().min(i));
        self.verified.set(self.verified.get().min(i));
        if crate::watchdog::on() {
            self.publish(i);
        }
    }

    /// Changes the mode of `meta`'s slot in place; `flags`: [`UPGRADABLE`]
    /// for an upgradable read, else 0. The slot changed is the thread's
    /// exclusive or upgradable hold of the lock (there is at most one: every
    /// mode change starts from one), not a plain read taken after it.
    fn rehold(&self, meta: &LockMeta, hold: Hold, flags: u8) {
        if self.len.get() & BUSY != 0 {
            return;
        }
        let id = meta.id();
        let strong = (0..self.len.get()).rev().find(|&i| {
            self.ids[i].get() & ID_MASK == id
                && (self.holds[i].get() == Hold::Exclusive || self.reqs[i].get() & UPGRADABLE != 0)
        });
        if let Some(i) = strong.or_else(|| self.find(id)) {
            self.holds[i].set(hold);
            self.reqs[i].set(self.reqs[i].get() & !UPGRADABLE | flags);
            self.linked.set(self.linked.get().min(i));
            self.verified.set(self.verified.get().min(i));
            if crate::watchdog::on() {
                self.publish(i);
            }
        }
    }

    /// Before an upgradable read of `meta` is released: see [`keep_other`].
    ///
    /// [`keep_other`]: Self::keep_other
    fn before_upgradable_release(&self, meta: &LockMeta) {
        self.keep_other(meta, true);
    }

    /// Before a read of `meta` is released: see [`keep_other`]. The common
    /// case (the top entry is this lock, not upgradable) is one comparison.
    ///
    /// [`keep_other`]: Self::keep_other
    #[inline(always)]
    fn before_read_release(&self, meta: &LockMeta) {
        let len = self.len.get();
        if len.wrapping_sub(1) < MAX_HELD
            && self.reqs[len - 1].get() & UPGRADABLE == 0
            && self.ids[len - 1].get() & ID_MASK == meta.id.load(Ordering::Relaxed) & ID_MASK
        {
            return;
        }
        self.keep_other(meta, false);
    }

    /// Before a shared hold of `meta` is released (`upgradable`: an
    /// upgradable read, else a plain read): a release takes the latest entry
    /// of the lock, so when that is the other kind of shared hold, it trades
    /// how and where it was taken with the latest entry of the released kind
    /// below it (same lock, same hold: the running summaries stay valid), and
    /// the other hold stays.
    #[cold]
    #[inline(never)]
    fn keep_other(&self, meta: &LockMeta, upgradable: bool) {
        if self.len.get() & BUSY != 0 {
            return;
        }
        let id = meta.id.load(Ordering::Relaxed) & ID_MASK;
        let released_kind = |i: usize| (self.reqs[i].get() & UPGRADABLE != 0) == upgradable;
        let Some(j) = self.find(id) else {
            return;
        };
        if released_kind(j) {
            return;
        }
        let Some(k) = (0..j)
            .rev()
            .find(|&k| self.ids[k].get() & ID_MASK == id && released_kind(k))
        else {
            return;
        };
        self.trade(k, j);
    }

    /// Slots `k < j` hold the same lock, shared: they trade how and where
    /// they were taken (the running summaries stay valid).
    fn trade(&self, k: usize, j: usize) {
        self.reqs[k].swap(&self.reqs[j]);
        self.sites[k].swap(&self.sites[j]);
        self.since[k].swap(&self.since[j]);
        self.wd_since[k].swap(&self.wd_since[j]);
        self.verified.set(self.verified.get().min(k));
        if crate::watchdog::on() {
            self.publish(k);
        }
    }

    fn forget(&self, id: u64) {
        if self.len.get() & BUSY != 0 {
            return;
        }
        if let Some(i) = self.find(id) {
            self.remove_at(i);
        }
    }
}

/// Runs `f`, a call that blocks (a channel receive, a join, a stream
/// synchronize), naming it `what`. With profiling on, every lock class this
/// thread holds meanwhile is charged with the call and its duration, and the
/// profile advises moving the call out of the critical section. With the
/// [`watchdog`](crate::watchdog) on, the call is registered as a wait on the
/// resource `what`: a long one is reported, and it shows in [`crate::dump`].
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// tx.send(42).unwrap();
/// let n = lockgraph_core::blocking("channel recv", || rx.recv().unwrap());
/// assert_eq!(n, 42);
/// ```
#[track_caller]
pub fn blocking<R>(what: &'static str, f: impl FnOnce() -> R) -> R {
    if crate::watchdog::on() {
        return crate::watchdog::blocking(what, || profiled_blocking(what, f));
    }
    profiled_blocking(what, f)
}

fn profiled_blocking<R>(what: &'static str, f: impl FnOnce() -> R) -> R {
    if !crate::profile::on() {
        return f();
    }
    let held: Vec<(Class, LockKind, u64)> = STATE.with(|t| {
        t.snapshot()
            .into_iter()
            .map(|h| (h.class, h.kind, h.key))
            .collect()
    });
    let start = Instant::now();
    let r = f();
    if !held.is_empty() {
        crate::profile::blocked_holding(&held, what, start.elapsed());
    }
    r
}

/// This thread's held entry of `meta` (its id, hold and site), if the lock is
/// tracked as held and the thread is not inside lockgraph's bookkeeping.
pub(crate) fn tracked_entry(
    meta: &LockMeta,
) -> Option<(u64, Hold, Option<&'static Location<'static>>)> {
    let t = state();
    if t.len.get() & BUSY != 0 {
        return None;
    }
    let id = meta.id();
    let i = t.find(id)?;
    Some((id, t.holds[i].get(), t.sites[i].get()))
}

/// Forgets this thread's watchdog slot (its owner is being dropped).
pub(crate) fn clear_watchdog_slot() {
    state().wd_slot.set(std::ptr::null());
}

/// Publishes this thread's held locks into a new watchdog slot (in a forked
/// child, for the thread that forked: its slot was the parent's).
pub(crate) fn republish_for_watchdog() {
    let t = state();
    if t.len.get() & BUSY == 0 {
        t.publish(0);
    }
}

/// This thread's part of the atomicity checker.
pub(crate) fn atom_thread() -> &'static crate::atomicity::AtomThread {
    &state().atom
}

/// Runs `f` with this thread marked busy: locks it takes are not tracked.
pub(crate) fn while_busy<R>(f: impl FnOnce() -> R) -> R {
    let _busy = Busy::enter(state());
    f()
}

/// Records `site` as the call site of the next untracked-site acquisition on
/// this thread, for lock types whose raw lock is reached through lock_api
/// (the reentrant mutex). Cleared when used or by [`clear_pending_site`].
#[inline]
pub fn set_pending_site(site: &'static Location<'static>) {
    STATE.with(|t| t.pending_site.set(Some(site)));
}

/// The site set by [`set_pending_site`], if any (left in place).
pub(crate) fn pending_site() -> Option<&'static Location<'static>> {
    STATE.with(|t| t.pending_site.get())
}

/// Clears a site set by [`set_pending_site`] that no acquisition used.
#[inline]
pub fn clear_pending_site() {
    STATE.with(|t| t.pending_site.set(None));
}

/// The locks this thread holds, outermost first, as (kind, class, site taken).
pub fn held_locks() -> Vec<(LockKind, Class, Option<crate::Site>)> {
    STATE.with(|t| {
        t.claim_moved();
        t.snapshot()
            .into_iter()
            .map(|e| (e.kind, e.class, e.site.map(crate::Site::from)))
            .collect()
    })
}

/// The instance ids of the locks this thread holds, outermost first, in the
/// order of [`held_locks`].
pub fn held_lock_ids() -> Vec<u64> {
    STATE.with(|t| {
        t.claim_moved();
        t.snapshot().into_iter().map(|e| e.id).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    static A: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("state-test-a"));
    static B: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("state-test-b"));
    static C: LockMeta = LockMeta::new(LockKind::RwLock, Class::Named("state-test-c"));

    fn top_chain() -> (u64, u64, u64) {
        STATE.with(|t| {
            let len = t.len.get();
            t.link_up_to(len);
            (
                t.chains[len - 1].get(),
                t.insts[len - 1].get(),
                t.blooms[len - 1].get(),
            )
        })
    }

    #[test]
    fn out_of_order_release_relinks_the_running_hashes() {
        A.acquired(Hold::Exclusive, None);
        C.acquired(Hold::Shared, None);
        let direct = top_chain();
        C.released();
        A.released();

        A.acquired(Hold::Exclusive, None);
        B.acquired(Hold::Exclusive, None);
        C.acquired(Hold::Shared, None);
        B.released(); // not the top: removed from the middle
        assert_eq!(top_chain(), direct);
        assert_eq!(held_locks().len(), 2);
        C.released();
        A.released();
        assert!(held_locks().is_empty());
    }

    #[test]
    fn a_mode_change_in_place_is_seen_by_the_chain() {
        C.acquired(Hold::Shared, None);
        let shared = top_chain();
        C.rehold(Hold::Exclusive);
        let exclusive = top_chain();
        assert_ne!(shared, exclusive);
        C.rehold(Hold::Shared);
        assert_eq!(top_chain(), shared);
        C.released();
    }

    /// Whether each held slot is published as an upgradable read.
    fn upgradable_slots() -> Vec<bool> {
        STATE.with(|t| {
            (0..t.len.get())
                .map(|i| t.published(i).upgradable)
                .collect()
        })
    }

    #[test]
    fn an_upgradable_read_is_a_shared_hold_that_the_watchdog_sees_as_upgradable() {
        // The order graph sees the same chain as for a read.
        C.acquired(Hold::Shared, None);
        let read = top_chain();
        C.released();
        C.acquired_upgradable(None);
        assert_eq!(top_chain(), read);
        assert_eq!(upgradable_slots(), [true]);
        assert_eq!(
            tracked_entry(&C).map(|(_, hold, _)| hold),
            Some(Hold::Shared)
        );
        C.released();
        // A read pushed where an upgradable read was is not upgradable.
        C.acquired(Hold::Shared, None);
        assert_eq!(upgradable_slots(), [false]);
        C.released();
        // Upgraded, it is exclusive; downgraded to upgradable, upgradable
        // again; downgraded to a read, a plain read.
        C.acquired_upgradable(None);
        C.rehold(Hold::Exclusive);
        assert_eq!(upgradable_slots(), [false]);
        assert_ne!(top_chain(), read);
        C.rehold_upgradable();
        assert_eq!(upgradable_slots(), [true]);
        assert_eq!(top_chain(), read);
        C.rehold(Hold::Shared);
        assert_eq!(upgradable_slots(), [false]);
        C.released();
        // A removal from the middle moves the mark along with its slot.
        A.acquired(Hold::Exclusive, None);
        C.acquired_upgradable(None);
        B.acquired(Hold::Exclusive, None);
        assert_eq!(upgradable_slots(), [false, true, false]);
        A.released();
        assert_eq!(upgradable_slots(), [true, false]);
        B.released();
        C.released();
        A.acquired(Hold::Exclusive, None);
        B.acquired(Hold::Exclusive, None);
        assert_eq!(upgradable_slots(), [false, false]);
        B.released();
        A.released();
    }

    #[test]
    fn releasing_an_upgradable_read_keeps_a_later_read_of_the_same_lock() {
        let (up_site, read_site) = (Location::caller(), Location::caller());
        C.acquired_upgradable(Some(up_site));
        C.acquired(Hold::Shared, Some(read_site));
        assert_eq!(upgradable_slots(), [true, false]);
        C.released_upgradable();
        assert_eq!(upgradable_slots(), [false]);
        assert_eq!(
            tracked_entry(&C).map(|(_, _, site)| site),
            Some(Some(read_site))
        );
        C.released();
        // In the order taken, nothing moves.
        C.acquired(Hold::Shared, Some(read_site));
        C.acquired_upgradable(Some(up_site));
        C.released_upgradable();
        assert_eq!(upgradable_slots(), [false]);
        assert_eq!(
            tracked_entry(&C).map(|(_, _, site)| site),
            Some(Some(read_site))
        );
        C.released();
        assert!(held_locks().is_empty());
    }

    #[test]
    fn a_mode_change_applies_to_the_upgradable_hold_not_to_a_later_read() {
        let (up_site, read_site) = (Location::caller(), Location::caller());
        C.acquired_upgradable(Some(up_site));
        C.acquired(Hold::Shared, Some(read_site));
        // Downgraded: two plain reads.
        C.rehold(Hold::Shared);
        assert_eq!(upgradable_slots(), [false, false]);
        C.released_read();
        C.released_read();
        // Upgraded (try_upgrade): the upgradable slot becomes exclusive.
        C.acquired_upgradable(Some(up_site));
        C.acquired(Hold::Shared, Some(read_site));
        C.rehold(Hold::Exclusive);
        let holds: Vec<Hold> = STATE.with(|t| (0..t.len.get()).map(|i| t.holds[i].get()).collect());
        assert_eq!(holds, [Hold::Exclusive, Hold::Shared]);
        C.released_read();
        C.released();
        assert!(held_locks().is_empty());
    }

    #[test]
    fn releasing_a_read_keeps_a_later_upgradable_read_of_the_same_lock() {
        let (up_site, read_site) = (Location::caller(), Location::caller());
        C.acquired(Hold::Shared, Some(read_site));
        C.acquired_upgradable(Some(up_site));
        assert_eq!(upgradable_slots(), [false, true]);
        C.released_read();
        assert_eq!(upgradable_slots(), [true]);
        assert_eq!(
            tracked_entry(&C).map(|(_, _, site)| site),
            Some(Some(up_site))
        );
        C.released_upgradable();
        // In the order taken, and with another lock on top, nothing moves.
        A.acquired(Hold::Exclusive, None);
        C.acquired_upgradable(Some(up_site));
        C.acquired(Hold::Shared, Some(read_site));
        B.acquired(Hold::Exclusive, None);
        C.released_read();
        assert_eq!(upgradable_slots(), [false, true, false]);
        assert_eq!(
            tracked_entry(&C).map(|(_, _, site)| site),
            Some(Some(up_site))
        );
        B.released();
        C.released_upgradable();
        A.released();
        assert!(held_locks().is_empty());
    }

    #[test]
    fn ids_are_assigned_once_and_never_reused() {
        let a = LockMeta::new(LockKind::Mutex, Class::Anonymous);
        let b = LockMeta::new(LockKind::Mutex, Class::Anonymous);
        let (ia, ib) = (a.id(), b.id());
        assert_ne!(ia, ib);
        assert_eq!(a.id(), ia);
        drop(a);
        let c = LockMeta::new(LockKind::Mutex, Class::Anonymous);
        assert!(c.id() != ia && c.id() != ib);
    }

    #[test]
    fn the_held_stack_is_bounded_and_counts_what_it_cannot_hold() {
        let metas: Vec<LockMeta> = (0..MAX_HELD + 3)
            .map(|_| LockMeta::new(LockKind::Mutex, Class::Anonymous))
            .collect();
        for m in &metas {
            m.acquired(Hold::Exclusive, None);
        }
        assert_eq!(held_locks().len(), MAX_HELD);
        STATE.with(|t| assert_eq!(t.untracked.get(), 3));
        for m in metas.iter().rev() {
            m.released();
        }
        assert!(held_locks().is_empty());
        STATE.with(|t| assert_eq!(t.untracked.get(), 0));
    }
}
