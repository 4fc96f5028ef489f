//! The registry of held sets: one per owner (task or thread), sharded, and
//! a one-entry thread-local cache in front of it.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::meta::Held;

/// Set once an async lock was taken (see [`super::async_used`]).
pub(crate) static ASYNC_USED: AtomicBool = AtomicBool::new(false);

/// Who holds an async lock: a task (by id) or, outside any task, a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A task of the async runtime, by its id.
    Task(u64),
    /// A thread outside any task, by a number lockgraph gives it.
    Thread(u64),
}

impl Owner {
    /// One word: task ids as they are, thread numbers with the top bit.
    pub(crate) fn key(self) -> u64 {
        match self {
            Owner::Task(id) => id & !THREAD_BIT,
            Owner::Thread(n) => n | THREAD_BIT,
        }
    }

    /// The owner of [`key`](Self::key) `k`.
    pub(crate) fn from_key(k: u64) -> Owner {
        if k & THREAD_BIT != 0 {
            Owner::Thread(k & !THREAD_BIT)
        } else {
            Owner::Task(k)
        }
    }
}

const THREAD_BIT: u64 = 1 << 63;

/// The function that says which task runs on this thread (the facade
/// registers tokio's `task::try_id`): a `fn() -> Option<u64>` as a pointer.
static CURRENT_TASK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Registers `f`, which names the task running on the calling thread
/// (`None` outside a task). Cheap to call again with the same function.
pub fn set_current_task(f: fn() -> Option<u64>) {
    let p = f as *mut ();
    if CURRENT_TASK.load(Ordering::Relaxed) != p {
        CURRENT_TASK.store(p, Ordering::Release);
    }
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

crate::sync::thread_local_const! {
    static THREAD_NO: Cell<u64> = const { Cell::new(0) };
}

/// The owner of a lock taken now on this thread.
#[inline]
pub fn current_owner() -> Owner {
    let p = CURRENT_TASK.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: only `set_current_task` stores into `CURRENT_TASK`, and
        // it stores a `fn() -> Option<u64>` cast to a pointer.
        let f: fn() -> Option<u64> =
            unsafe { std::mem::transmute::<*mut (), fn() -> Option<u64>>(p) };
        if let Some(id) = f() {
            return Owner::Task(id);
        }
    }
    Owner::Thread(thread_no())
}

/// This thread's owner number (`Owner::Thread`), given on first use.
pub(crate) fn thread_no() -> u64 {
    THREAD_NO
        .try_with(|n| {
            if n.get() == 0 {
                n.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
            }
            n.get()
        })
        .unwrap_or(0)
}

/// Holds one owner can have tracked at once; more are not tracked (a
/// one-time warning says so), as the sync stack's `MAX_HELD`.
pub(crate) const SLOTS: usize = 32;

/// In a slot's state: the lock went into the instance graph while held
/// (its release marks the lock, so that the lock's drop removes it there).
const IN_GRAPH: u64 = 1;
/// In a slot's state: the hold was downgraded to a shared one.
const DOWNGRADED: u64 = 2;
/// A slot's state is `token << TOKEN_SHIFT | flags`; 0 when free.
const TOKEN_SHIFT: u32 = 2;

/// One hold: its state word (written by the owner when it takes it, by
/// whoever releases it) and its lock (written and read by the owner only).
struct Slot {
    state: AtomicU64,
    held: UnsafeCell<Held>,
    /// The lock's id and the site it was taken at (a `Location` pointer),
    /// for the task watchdog's scans from its own thread: stored before
    /// the state publishes the hold.
    pub_id: AtomicU64,
    pub_site: AtomicUsize,
    /// The lock's class and kind, for the scan's labels: a pointer (the
    /// name's, or the creation site's) and [`class_word`]'s word.
    pub_class: AtomicUsize,
    pub_kind: AtomicU64,
    /// When a hold sampled by the contention profile began (nanoseconds
    /// since [`profile_epoch`], never 0), else 0: 0 whenever the slot is
    /// free (the release takes it).
    since: AtomicU64,
}

/// The origin of the hold times of [`HeldSet::stamp`].
pub(crate) fn profile_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// The lock's class and kind as two words the scan decodes
/// ([`label_of`]): `(pointer, tag | kind << 2 | name length << 8)`.
#[inline]
fn class_words(class: crate::class::Class, kind: crate::class::LockKind) -> (usize, u64) {
    use crate::class::{Class, LockKind};
    let k: u64 = match kind {
        LockKind::AsyncMutex => 0,
        LockKind::AsyncRwLock => 1,
        LockKind::AsyncSemaphore => 2,
        _ => 3,
    };
    match class {
        Class::Anonymous => (0, k << 2),
        Class::Site(l, _) => (l as *const Location<'static> as usize, 1 | k << 2),
        Class::Named(n) => (n.as_ptr() as usize, 2 | k << 2 | (n.len() as u64) << 8),
    }
}

/// The label of lock `id` published as `(a, w)` by [`class_words`]: its
/// kind, name (or creation site) and id, as the task watchdog prints it.
///
/// # Safety
/// `(a, w)` were stored together by [`class_words`] for one hold (the
/// pointers are `'static`).
unsafe fn label_of(id: u64, a: usize, w: u64) -> String {
    use crate::class::LockKind;
    let kind = match (w >> 2) & 3 {
        0 => LockKind::AsyncMutex,
        1 => LockKind::AsyncRwLock,
        2 => LockKind::AsyncSemaphore,
        _ => LockKind::Other,
    };
    let class = match w & 3 {
        // SAFETY: a `&'static Location` (the caller's contract).
        1 if a != 0 => format!("created at {}", unsafe {
            &*(a as *const Location<'static>)
        }),
        2 if a != 0 => {
            // SAFETY: the pointer and length of a `&'static str` (the
            // caller's contract).
            let bytes = unsafe { std::slice::from_raw_parts(a as *const u8, (w >> 8) as usize) };
            format!("`{}`", String::from_utf8_lossy(bytes))
        }
        _ => format!("#{id}"),
    };
    format!("{} {class} (#{id})", kind.name())
}

/// One live hold as the task watchdog's scan reads it.
pub(crate) struct PubHold {
    pub(crate) owner: Owner,
    pub(crate) id: u64,
    pub(crate) site: Option<&'static Location<'static>>,
    /// The lock's kind, name (or creation site) and id.
    pub(crate) label: String,
}

/// The async locks one owner holds, in fixed slots: the owner (the task,
/// which runs on one thread at a time, or the thread) fills a slot and
/// reads the slots; a release only clears the slot's state word. No lock
/// is taken on either path, and the owner's own fill and release are
/// plain stores (no locked instruction): only a release by another task
/// or thread (an owned guard that moved) is a compare-and-swap, as the
/// owner may be setting a flag in the same word meanwhile.
///
/// A set leaves the registry (the sweep) only when no thread has it cached
/// (its `Arc` is the registry's alone) and it holds nothing: an owner
/// fills a slot only through its thread's cache or a registry look-up
/// under the shard's lock, so no fill can race the sweep.
pub(crate) struct HeldSet {
    pub(crate) owner: Owner,
    slots: [Slot; SLOTS],
    /// Slots at and above this were never filled (owner only).
    top: AtomicUsize,
    /// The last token handed out (owner only).
    next_token: AtomicU64,
}

// SAFETY: a slot's `held` is written and read only by the set's owner (one
// task, polled by one thread at a time with the runtime's synchronisation
// between polls, or one thread); everything else is atomic.
unsafe impl Sync for HeldSet {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for HeldSet {}

const EMPTY_HELD: Held = Held {
    id: 0,
    key: 0,
    class: crate::class::Class::Anonymous,
    kind: crate::class::LockKind::Other,
    hold: crate::report::Hold::Shared,
    site: None,
};

impl HeldSet {
    fn new(owner: Owner) -> HeldSet {
        HeldSet {
            owner,
            slots: std::array::from_fn(|_| Slot {
                state: AtomicU64::new(0),
                held: UnsafeCell::new(EMPTY_HELD),
                pub_id: AtomicU64::new(0),
                pub_site: AtomicUsize::new(0),
                pub_class: AtomicUsize::new(0),
                pub_kind: AtomicU64::new(0),
                since: AtomicU64::new(0),
            }),
            top: AtomicUsize::new(0),
            next_token: AtomicU64::new(0),
        }
    }

    /// Adds `held` (owner only, through its thread's cache or a registry
    /// look-up: see the type): the slot and token, or `None` when every
    /// slot is taken. Plain stores: the sweeper reads the states only
    /// after the owner's thread gave up its reference to the set.
    #[inline]
    pub(crate) fn push(&self, held: Held) -> Option<(usize, u64)> {
        // Acquire: a release by another thread (its `since` cleared
        // before) happens before this slot is filled again.
        let i = (0..SLOTS).find(|&i| self.slots[i].state.load(Ordering::Acquire) == 0)?;
        let token = self.next_token.load(Ordering::Relaxed) + 1;
        self.next_token.store(token, Ordering::Relaxed);
        // SAFETY: the owner alone touches `held` (see `Sync` above), and
        // the slot is free.
        unsafe { *self.slots[i].held.get() = held };
        self.slots[i].pub_id.store(held.id, Ordering::Relaxed);
        let site = held
            .site
            .map_or(0, |l| l as *const Location<'static> as usize);
        self.slots[i].pub_site.store(site, Ordering::Relaxed);
        let (a, w) = class_words(held.class, held.kind);
        self.slots[i].pub_class.store(a, Ordering::Relaxed);
        self.slots[i].pub_kind.store(w, Ordering::Relaxed);
        // Release: the watchdog's scan reads `pub_*` after an acquire
        // load of the state.
        self.slots[i]
            .state
            .store(token << TOKEN_SHIFT, Ordering::Release);
        if self.top.load(Ordering::Relaxed) <= i {
            self.top.store(i + 1, Ordering::Relaxed);
        }
        Some((i, token))
    }

    /// Whether no slot holds a hold (the sweeper, once no thread has the
    /// set cached).
    fn no_holds(&self) -> bool {
        self.slots
            .iter()
            .all(|s| s.state.load(Ordering::Acquire) == 0)
    }

    /// The owner's holds now (owner only), with whether each is in the
    /// instance graph.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, Held)) {
        for i in 0..self.top.load(Ordering::Relaxed) {
            let s = self.slots[i].state.load(Ordering::Acquire);
            if s == 0 {
                continue;
            }
            // SAFETY: the owner alone touches `held`.
            let mut h = unsafe { *self.slots[i].held.get() };
            if s & DOWNGRADED != 0 {
                h.hold = crate::report::Hold::Shared;
            }
            f(i, h);
        }
    }

    /// Feeds each live hold's class key, mode and id to `f` (owner only),
    /// read in place: the chain key of a nested acquisition, without
    /// copying the holds.
    #[inline]
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(u64, crate::report::Hold, u64)) {
        for i in 0..self.top.load(Ordering::Relaxed) {
            let s = self.slots[i].state.load(Ordering::Acquire);
            if s == 0 {
                continue;
            }
            // SAFETY: the owner alone touches `held`.
            let h = unsafe { &*self.slots[i].held.get() };
            let hold = if s & DOWNGRADED != 0 {
                crate::report::Hold::Shared
            } else {
                h.hold
            };
            f(h.key, hold, h.id);
        }
    }

    /// Whether the set holds nothing (owner only: its own pushes are
    /// always seen). Forgets trailing slots released meanwhile.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        let mut top = self.top.load(Ordering::Relaxed);
        while top > 0 && self.slots[top - 1].state.load(Ordering::Relaxed) == 0 {
            top -= 1;
        }
        self.top.store(top, Ordering::Relaxed);
        top == 0
    }

    /// Marks slot `i`'s hold as in the instance graph, if it still is the
    /// hold whose lock has `id` (owner only).
    pub(crate) fn mark_in_graph(&self, i: usize, id: u64) {
        // SAFETY: the owner alone touches `held`.
        if unsafe { (*self.slots[i].held.get()).id } != id {
            return;
        }
        let st = &self.slots[i].state;
        let mut s = st.load(Ordering::Acquire);
        while s != 0 {
            match st.compare_exchange_weak(s, s | IN_GRAPH, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// Slot `i`'s hold, just pushed, is sampled for the contention
    /// profile: it began `ns` after [`profile_epoch`] (owner only, before
    /// anyone else can release the hold).
    pub(crate) fn stamp(&self, i: usize, ns: u64) {
        self.slots[i].since.store(ns.max(1), Ordering::Relaxed);
    }

    /// When slot `i`'s hold began if it is sampled (else 0), cleared (the
    /// releaser, before [`release`](Self::release)).
    #[inline]
    pub(crate) fn take_since(&self, i: usize) -> u64 {
        let since = &self.slots[i].since;
        let ns = since.load(Ordering::Relaxed);
        if ns != 0 {
            since.store(0, Ordering::Relaxed);
        }
        ns
    }

    /// Hold `token` in slot `i` is now shared (from anywhere).
    pub(crate) fn downgrade(&self, i: usize, token: u64) {
        let st = &self.slots[i].state;
        let mut s = st.load(Ordering::Acquire);
        while s >> TOKEN_SHIFT == token {
            match st.compare_exchange_weak(s, s | DOWNGRADED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// Ends hold `token` in slot `i`; whether its lock went into the
    /// instance graph. The set may be freed once this returns. `by_owner`:
    /// the caller is the set's owner (the task that took the hold, running
    /// now on this thread), so that nobody else writes the slot's word
    /// meanwhile (the flags are set by the owner or by the guard's holder,
    /// which is the caller) and a plain store clears it.
    #[inline]
    pub(crate) fn release(&self, i: usize, token: u64, by_owner: bool) -> bool {
        let st = &self.slots[i].state;
        let mut s = st.load(Ordering::Acquire);
        if by_owner {
            if s >> TOKEN_SHIFT != token {
                return false;
            }
            st.store(0, Ordering::Release);
            return s & IN_GRAPH != 0;
        }
        let mut in_graph = false;
        while s >> TOKEN_SHIFT == token {
            match st.compare_exchange_weak(s, 0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    // The set may be swept and freed from here on.
                    in_graph = s & IN_GRAPH != 0;
                    break;
                }
                Err(now) => s = now,
            }
        }
        in_graph
    }
}

const SHARDS: usize = 64;

/// Inserts into one shard between two sweeps of its empty sets.
const SWEEP_EVERY: u32 = 256;

#[derive(Default)]
struct Shard {
    sets: HashMap<u64, Arc<HeldSet>>,
    inserts: u32,
}

static REGISTRY: LazyLock<Vec<Mutex<Shard>>> =
    LazyLock::new(|| (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect());

fn shard(key: u64) -> &'static Mutex<Shard> {
    let i = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % SHARDS;
    &REGISTRY[i]
}

crate::sync::thread_local_const! {
    /// The set this thread used last (the running task's, usually), as
    /// its owner's key and a pointer: a `const` thread-local without a
    /// destructor, read on every acquisition. The pointer is valid while
    /// `KEEP` holds the same set (its destructor clears this first).
    static FAST: (Cell<u64>, Cell<*const HeldSet>) =
        const { (Cell::new(u64::MAX), Cell::new(std::ptr::null())) };
}

/// Keeps the set `FAST` points to alive; its drop (thread exit) clears
/// `FAST` first.
struct Keep(Option<Arc<HeldSet>>);

impl Drop for Keep {
    fn drop(&mut self) {
        let _ = FAST.try_with(|(k, p)| {
            k.set(u64::MAX);
            p.set(std::ptr::null());
        });
    }
}

thread_local! {
    static KEEP: RefCell<Keep> = const { RefCell::new(Keep(None)) };
}

/// The cached set, if it is `owner`'s.
#[inline]
fn cached(owner: Owner) -> Option<&'static HeldSet> {
    let key = owner.key();
    FAST.try_with(|(k, p)| {
        if k.get() != key {
            return None;
        }
        // SAFETY: `KEEP` holds an `Arc` of the set `p` points to for as
        // long as `p` is set (set together in `remember`; cleared before
        // the `Arc` goes); the reference is used for one call only.
        unsafe { p.get().as_ref() }
    })
    .ok()
    .flatten()
}

/// Makes `set` this thread's cached set (or none).
fn remember(set: Option<Arc<HeldSet>>) {
    let _ = FAST.try_with(|(k, p)| {
        k.set(set.as_ref().map_or(u64::MAX, |s| s.owner.key()));
        p.set(set.as_ref().map_or(std::ptr::null(), Arc::as_ptr));
    });
    if KEEP.try_with(|c| c.borrow_mut().0 = set.clone()).is_err() {
        // The thread is exiting: nothing keeps the set, so nothing is cached.
        let _ = FAST.try_with(|(k, p)| {
            k.set(u64::MAX);
            p.set(std::ptr::null());
        });
    }
}

/// Runs `f` on `owner`'s set (owner only). With `create`, the set is made
/// when the owner has none; without, `f` is not called then (`None`). The
/// set this thread used last is used in place (no reference count
/// touched); another owner's goes through the registry.
#[inline]
pub(crate) fn with_set<R>(owner: Owner, create: bool, f: impl FnOnce(&HeldSet) -> R) -> Option<R> {
    match cached(owner) {
        Some(set) => Some(f(set)),
        None => with_set_slow(owner, create, f),
    }
}

#[cold]
fn with_set_slow<R>(owner: Owner, create: bool, f: impl FnOnce(&HeldSet) -> R) -> Option<R> {
    let set = lookup(owner, create)?;
    let r = f(&set);
    remember(Some(set));
    Some(r)
}

/// Adds `held` to `owner`'s set (owner only): the set and the slot and
/// token of the hold, or `None` when every slot is taken.
#[inline]
pub(crate) fn push(owner: Owner, held: Held) -> Option<(*const HeldSet, usize, u64)> {
    with_set(owner, true, |set| {
        set.push(held).map(|(i, t)| (set as *const HeldSet, i, t))
    })?
}

/// Whether `owner` surely holds nothing: its set is this thread's cached
/// one and is empty (else: unknown, `false`).
#[inline]
pub(crate) fn surely_empty(owner: Owner) -> bool {
    cached(owner).is_some_and(HeldSet::is_empty)
}

/// `owner`'s set in the registry, made when missing if `create`.
#[cold]
fn lookup(owner: Owner, create: bool) -> Option<Arc<HeldSet>> {
    let key = owner.key();
    let mut sh = shard(key).lock();
    if let Some(s) = sh.sets.get(&key) {
        return Some(s.clone());
    }
    if !create {
        return None;
    }
    sh.inserts += 1;
    if sh.inserts >= SWEEP_EVERY {
        sh.inserts = 0;
        sweep(&mut sh);
    }
    let set = Arc::new(HeldSet::new(owner));
    sh.sets.insert(key, set.clone());
    Some(set)
}

/// Removes the shard's empty sets that no thread has cached (their tasks
/// ended, or hold nothing now and ran last on no thread's cache). The
/// registry's `Arc` being the only one means that no thread can fill a
/// slot without first looking the set up under this shard's lock (held
/// here); the acquire fence after reading the count makes every fill of
/// the threads that dropped their references visible to `no_holds`.
fn sweep(sh: &mut Shard) {
    sh.sets.retain(|_, set| {
        if Arc::strong_count(set) != 1 {
            return true;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        !set.no_holds()
    });
}

/// Every live hold of every owner, read from any thread (the task
/// watchdog's scan, dumps).
pub(crate) fn all_holds() -> Vec<PubHold> {
    let mut out = Vec::new();
    for shard in REGISTRY.iter() {
        let sets: Vec<Arc<HeldSet>> = shard.lock().sets.values().cloned().collect();
        for set in sets {
            for slot in &set.slots {
                let s = slot.state.load(Ordering::Acquire);
                if s == 0 {
                    continue;
                }
                let id = slot.pub_id.load(Ordering::Relaxed);
                let site = slot.pub_site.load(Ordering::Relaxed);
                let a = slot.pub_class.load(Ordering::Relaxed);
                let w = slot.pub_kind.load(Ordering::Relaxed);
                // Still the same hold: the words belong to it.
                std::sync::atomic::fence(Ordering::Acquire);
                if slot.state.load(Ordering::Relaxed) != s {
                    continue;
                }
                // SAFETY: a non-zero word was stored from a
                // `&'static Location` in `push`.
                let site = (site != 0).then(|| unsafe { &*(site as *const Location<'static>) });
                out.push(PubHold {
                    owner: set.owner,
                    id,
                    site,
                    // SAFETY: stored together by `class_words` in `push`,
                    // for this hold (the state did not change).
                    label: unsafe { label_of(id, a, w) },
                });
            }
        }
    }
    out
}

/// The number of sets in the registry (tests).
#[cfg(test)]
pub(crate) fn registered() -> usize {
    REGISTRY.iter().map(|s| s.lock().sets.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets of tasks that hold nothing leave the registry (tasks end
    /// without telling anyone), those that hold something stay.
    #[test]
    fn empty_sets_are_swept() {
        let base = 1 << 40;
        let n = (SHARDS as u64) * u64::from(SWEEP_EVERY) * 2;
        let held = Held {
            id: 1,
            key: 1,
            class: crate::class::Class::Named("sweep"),
            kind: crate::class::LockKind::AsyncMutex,
            hold: crate::report::Hold::Exclusive,
            site: None,
        };
        let (set, i, token) = push(Owner::Task(base - 1), held).unwrap();
        for i in 0..n {
            with_set(Owner::Task(base + i), true, |_| ());
        }
        let n_sets = registered();
        assert!(n_sets < n as usize, "{n_sets} sets for {n} idle tasks");
        let kept = with_set(Owner::Task(base - 1), false, |s| !s.is_empty());
        assert_eq!(kept, Some(true));
        // SAFETY: the set holds a hold, so the registry keeps it.
        assert!(!unsafe { &*set }.release(i, token, false));
    }

    /// A set this thread has cached is not swept while empty: its owner
    /// fills it through the cache, without the registry's lock, so a sweep
    /// then would lose the hold (the watchdog, and the owner on another
    /// thread, would not see it).
    #[test]
    fn a_cached_set_is_not_swept() {
        let owner = Owner::Task((1 << 41) + 7);
        with_set(owner, true, |_| ());
        // Sweeps of every shard from another thread, whose cache moves on.
        std::thread::spawn(|| {
            let base = 1 << 42;
            for i in 0..(SHARDS as u64) * u64::from(SWEEP_EVERY) * 2 {
                with_set(Owner::Task(base + i), true, |_| ());
            }
        })
        .join()
        .unwrap();
        let held = Held {
            id: 77,
            key: 1,
            class: crate::class::Class::Named("cached"),
            kind: crate::class::LockKind::AsyncMutex,
            hold: crate::report::Hold::Exclusive,
            site: None,
        };
        let (set, i, token) = push(owner, held).unwrap();
        let seen = all_holds().iter().any(|h| h.owner == owner && h.id == 77);
        // SAFETY: the set holds a hold, so it is alive.
        assert!(!unsafe { &*set }.release(i, token, true));
        assert!(seen, "a hold pushed through the cache is in the registry");
    }
}
