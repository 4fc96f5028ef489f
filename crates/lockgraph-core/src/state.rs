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
use std::sync::atomic::{AtomicU64, Ordering};

use crate::class::{fnv, Class, LockKind};
use crate::global;
use crate::report::{Hold, Request};

/// The most locks one thread can hold and still have them tracked. Deeper
/// acquisitions work but are not tracked (and a one-time warning says so).
pub const MAX_HELD: usize = 48;

/// Slots of the per-thread cache of chains already recorded.
const CACHE_SLOTS: usize = 1024;

/// Instance ids are handed to threads in blocks, so that making locks does not
/// contend on one counter.
const ID_BLOCK: u64 = 1024;

const IN_GRAPH: u64 = 1 << 63;
const ID_MASK: u64 = !IN_GRAPH;

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

    /// The key hashed into chains: the class's address or name hash, or the
    /// instance for anonymous classes.
    #[inline]
    fn hot_key(&self, id: u64) -> u64 {
        match self.class {
            Class::Site(l) => l as *const Location<'static> as usize as u64,
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
    #[inline]
    pub fn before_wait(&self, request: Request, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, request, site, Op::Acquire));
    }

    /// Call after the lock was taken (by any method, `try_lock` included).
    #[inline]
    pub fn acquired(&self, hold: Hold, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.push(self, hold, site));
    }

    /// Call when the lock is released (before the raw unlock).
    #[inline]
    pub fn released(&self) {
        STATE.with(|t| t.pop(self));
    }

    /// Call when a held lock changes mode in place (downgrade, finished upgrade).
    pub fn rehold(&self, hold: Hold) {
        STATE.with(|t| t.rehold(self, hold));
    }

    /// Call before upgrading a held upgradable read lock: records the other
    /// held locks -> this one as an exclusive request.
    pub fn before_upgrade(&self, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, site, Op::Upgrade));
    }

    /// Call on a condvar's metadata before waiting on it with `mutex`'s guard:
    /// every other held lock -> the condvar.
    pub fn before_condvar_wait(&self, mutex: &LockMeta, site: Option<&'static Location<'static>>) {
        let m = mutex.id();
        STATE.with(|t| t.before_wait(self, Request::Exclusive, site, Op::CondvarWait(m)));
    }

    /// Call on a condvar's metadata when notifying it: the condvar -> every
    /// lock the notifier holds (a waiter needs the notifier to get that far).
    pub fn notified(&self, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, site, Op::Notify));
    }
}

impl Drop for LockMeta {
    fn drop(&mut self) {
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

/// One held lock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) id: u64,
    pub(crate) key: u64,
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    pub(crate) hold: Hold,
    pub(crate) site: Option<&'static Location<'static>>,
    chain: u64,
    inst: u64,
    bloom: u64,
    pub(crate) in_graph: bool,
}

impl Held {
    const ROOT: Held = Held {
        id: 0,
        key: 0,
        class: Class::Anonymous,
        kind: LockKind::Other,
        hold: Hold::Shared,
        site: None,
        chain: 0x243f_6a88_85a3_08d3,
        inst: 0x1319_8a2e_0370_7344,
        bloom: 0,
        in_graph: false,
    };

    /// Fills the running hashes from the entry below.
    #[inline]
    fn link(&mut self, below: &Held) {
        self.chain = mix(mix(below.chain, self.key), self.hold as u64);
        self.inst = match self.hold {
            Hold::Exclusive => mix(below.inst, self.id),
            Hold::Shared => below.inst,
        };
        self.bloom = below.bloom | bloom_bit(self.key);
    }
}

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    (a.rotate_left(26) ^ b).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[inline]
fn bloom_bit(key: u64) -> u64 {
    1 << (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58)
}

pub(crate) struct ThreadState {
    held: [Cell<Held>; MAX_HELD],
    len: Cell<usize>,
    untracked: Cell<usize>,
    busy: Cell<bool>,
    cache: [Cell<u64>; CACHE_SLOTS],
    next_id: Cell<u64>,
    end_id: Cell<u64>,
    pending_site: Cell<Option<&'static Location<'static>>>,
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            held: [const { Cell::new(Held::ROOT) }; MAX_HELD],
            len: Cell::new(0),
            untracked: Cell::new(0),
            busy: Cell::new(false),
            cache: [const { Cell::new(0) }; CACHE_SLOTS],
            next_id: Cell::new(0),
            end_id: Cell::new(0),
            pending_site: Cell::new(None),
        }
    };
}

/// Marks the thread as inside lockgraph's own bookkeeping for its lifetime, so
/// locks taken meanwhile (by a tracing subscriber printing a report, say) are
/// not tracked and cannot re-enter the recorder. Cleared on unwind too.
struct Busy<'a>(&'a ThreadState);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.set(false);
    }
}

impl ThreadState {
    #[inline]
    fn top(&self, len: usize) -> Held {
        if len == 0 {
            Held::ROOT
        } else {
            self.held[len - 1].get()
        }
    }

    #[inline]
    fn before_wait(
        &self,
        meta: &LockMeta,
        request: Request,
        site: Option<&'static Location<'static>>,
        op: Op,
    ) {
        if self.busy.get() {
            return;
        }
        let len = self.len.get();
        if len == 0 {
            return;
        }
        let id = meta.id();
        let key = meta.hot_key(id);
        let top = self.held[len - 1].get();
        let mut h = mix(mix(top.chain, key), request as u64 + 1);
        if len >= 2 {
            // Every held exclusive lock gates some edge: instance identity matters.
            h = mix(h, top.inst);
        }
        if top.bloom & bloom_bit(key) != 0 {
            // A lock of the same class may be held: the order of instances decides.
            for e in &self.held[..len] {
                let e = e.get();
                if e.key == key {
                    h = mix(h, e.id);
                }
            }
            h = mix(h, id);
        }
        match op {
            Op::Acquire => {}
            Op::Upgrade => h = mix(h, 0x75),
            Op::CondvarWait(m) => h = mix(mix(h, 0xc0), m),
            Op::Notify => h = mix(h, 0x7e),
        }
        let h = h | 1;
        let slot = &self.cache[(h as usize) & (CACHE_SLOTS - 1)];
        if slot.get() == h {
            return;
        }
        self.slow_record(meta, id, request, site, op);
        slot.set(h);
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
        self.busy.set(true);
        let _busy = Busy(self);
        let site = site.or(self.pending_site.get());
        let len = self.len.get();
        let held: Vec<Held> = self.held[..len].iter().map(Cell::get).collect();
        let out = global::record(&held, meta, id, request, site, op);
        for i in out.marked {
            let mut e = self.held[i].get();
            e.in_graph = true;
            self.held[i].set(e);
        }
        for report in out.reports {
            crate::policy::emit(report);
        }
    }

    #[inline]
    fn push(&self, meta: &LockMeta, hold: Hold, site: Option<&'static Location<'static>>) {
        if self.busy.get() {
            return;
        }
        let len = self.len.get();
        if len == MAX_HELD {
            self.overflow();
            return;
        }
        let id = meta.id();
        let mut e = Held {
            id,
            key: meta.hot_key(id),
            class: meta.class,
            kind: meta.kind,
            hold,
            site: site.or_else(|| self.pending_site.take()),
            chain: 0,
            inst: 0,
            bloom: 0,
            in_graph: false,
        };
        e.link(&self.top(len));
        self.held[len].set(e);
        self.len.set(len + 1);
    }

    #[cold]
    fn overflow(&self) {
        self.untracked.set(self.untracked.get() + 1);
        global::warn_once_overflow();
    }

    #[inline]
    fn pop(&self, meta: &LockMeta) {
        let len = self.len.get();
        let id = meta.id.load(Ordering::Relaxed) & ID_MASK;
        if len > 0 {
            let top = self.held[len - 1].get();
            if top.id == id {
                self.len.set(len - 1);
                if top.in_graph {
                    meta.mark_in_graph();
                }
                return;
            }
        }
        self.pop_slow(meta, id);
    }

    #[cold]
    fn pop_slow(&self, meta: &LockMeta, id: u64) {
        if let Some(i) = self.find(id) {
            if self.held[i].get().in_graph {
                meta.mark_in_graph();
            }
            self.remove_at(i);
        } else if self.untracked.get() > 0 {
            self.untracked.set(self.untracked.get() - 1);
        }
    }

    fn find(&self, id: u64) -> Option<usize> {
        (0..self.len.get())
            .rev()
            .find(|&i| self.held[i].get().id == id)
    }

    /// Removes entry `i` and relinks the running hashes above it.
    fn remove_at(&self, i: usize) {
        let len = self.len.get();
        for j in i..len - 1 {
            self.held[j].set(self.held[j + 1].get());
        }
        self.len.set(len - 1);
        self.relink_from(i);
    }

    fn relink_from(&self, i: usize) {
        for j in i..self.len.get() {
            let mut e = self.held[j].get();
            e.link(&self.top(j));
            self.held[j].set(e);
        }
    }

    fn rehold(&self, meta: &LockMeta, hold: Hold) {
        if let Some(i) = self.find(meta.id()) {
            let mut e = self.held[i].get();
            e.hold = hold;
            self.held[i].set(e);
            self.relink_from(i);
        }
    }

    fn forget(&self, id: u64) {
        if let Some(i) = self.find(id) {
            self.remove_at(i);
        }
    }
}

/// Records `site` as the call site of the next untracked-site acquisition on
/// this thread, for lock types whose raw lock is reached through lock_api
/// (the reentrant mutex). Cleared when used or by [`clear_pending_site`].
#[inline]
pub fn set_pending_site(site: &'static Location<'static>) {
    STATE.with(|t| t.pending_site.set(Some(site)));
}

/// Clears a site set by [`set_pending_site`] that no acquisition used.
#[inline]
pub fn clear_pending_site() {
    STATE.with(|t| t.pending_site.set(None));
}

/// The locks this thread holds, outermost first, as (kind, class, site taken).
pub fn held_locks() -> Vec<(LockKind, Class, Option<crate::Site>)> {
    STATE.with(|t| {
        t.held[..t.len.get()]
            .iter()
            .map(|c| {
                let e = c.get();
                (e.kind, e.class, e.site.map(crate::Site::from))
            })
            .collect()
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
            let top = t.top(t.len.get());
            (top.chain, top.inst, top.bloom)
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
