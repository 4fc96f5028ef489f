//! The registry of held sets: one per owner (task or thread), sharded, and
//! a one-entry thread-local cache in front of it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::class::{Class, LockKind};
use crate::meta::Held;
use crate::report::Hold;

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
/// In a slot's state: the hold is shared (taken so).
const SHARED: u64 = 4;
/// A slot's state is `token << TOKEN_SHIFT | flags`; 0 when free.
const TOKEN_SHIFT: u32 = 3;

/// One hold, as plain words: its state (written by the owner when it takes
/// it, by whoever releases it) and its lock's id, class key, class, kind
/// and the site it was taken at (written by the owner before the state
/// publishes the hold; read by the owner, and by the task watchdog's scan
/// from its own thread, which checks that the state did not change
/// meanwhile).
struct Slot {
    state: AtomicU64,
    id: AtomicU64,
    key: AtomicU64,
    /// The class: a site's `Location` and type-name function, or a name's
    /// pointer and length ([`encode_class`]).
    class_a: AtomicUsize,
    class_b: AtomicUsize,
    /// The class's tag and the kind (`tag | kind << 8`).
    tag_kind: AtomicU32,
    site: AtomicUsize,
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

/// A class and kind as three words: `(a, b, tag | kind << 8)`, the class
/// and kind in [`crate::class`]'s word form.
#[inline(always)]
fn encode_class(class: Class, kind: LockKind) -> (usize, usize, u32) {
    let (tag, a, b) = crate::class::encode_class(class);
    (
        a,
        b,
        tag as u32 | (crate::class::encode_kind(kind) as u32) << 8,
    )
}

/// The class and kind [`encode_class`] gave `(a, b, w)`.
///
/// # Safety
/// `(a, b, w)` were given by [`encode_class`] for one class (the pointers
/// are `'static`, the function a type-name function).
unsafe fn decode_class(a: usize, b: usize, w: u32) -> (Class, LockKind) {
    // SAFETY: the words are one call's of `class::encode_class` (the
    // caller's contract).
    let class = unsafe { crate::class::decode_class(w as u8, a, b) };
    (class, crate::class::decode_kind((w >> 8) as u8))
}

/// A lock as the thread watchdog's reports name it ([`LockRef`]'s text):
/// its kind and name, else where its class was created, else its id
/// (`AsyncMutex `sessions``, `AsyncMutex created at src/db.rs:4:9`). It
/// added the instance id to every lock (`AsyncMutex `sessions` (#1)`),
/// which the thread watchdog's reports do not.
///
/// [`LockRef`]: crate::watchdog::LockRef
pub(crate) fn lock_text(kind: LockKind, class: Class, id: u64) -> String {
    crate::watchdog::LockRef::of(id, class, kind).to_string()
}

/// One live hold as the task watchdog's scan reads it.
pub(crate) struct PubHold {
    pub(crate) owner: Owner,
    pub(crate) id: u64,
    pub(crate) site: Option<&'static Location<'static>>,
    /// The lock: its kind, name (or creation site) and id.
    pub(crate) lock: crate::watchdog::LockRef,
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
    /// Slots at and above this are free (owner only).
    top: AtomicUsize,
    /// The last token handed out (owner only).
    next_token: AtomicU64,
    /// Set by a release or downgrade from elsewhere (before its state
    /// changes): the holds a nested acquisition's memo saw may have
    /// changed under it (see [`HeldSet::content`]).
    dirty: AtomicBool,
}

/// One hold's share of [`HeldSet::content`]: the lock instance and mode,
/// mixed (splitmix64's finaliser) so that the sum of a set's shares tells
/// sets apart. A multiple of the id alone made the sum a multiple of the
/// ids' sum: {1, 4} and {2, 3} were one set, and a nested acquisition
/// under the second was taken for checked under the first.
#[inline(always)]
fn entry(id: u64, hold: Hold) -> u64 {
    let mut z = id ^ (hold as u64) << 62;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hold a slot's state `s` stands for.
#[inline]
fn hold_of(s: u64) -> Hold {
    if s & (SHARED | DOWNGRADED) != 0 {
        Hold::Shared
    } else {
        Hold::Exclusive
    }
}

impl Slot {
    /// The hold whose state is `s` (read just before), as the owner reads
    /// it (owner only: its own writes; the scan reads the words itself).
    fn held(&self, s: u64) -> Held {
        let (a, b, w) = (
            self.class_a.load(Ordering::Relaxed),
            self.class_b.load(Ordering::Relaxed),
            self.tag_kind.load(Ordering::Relaxed),
        );
        // SAFETY: the words were stored together by `push` for this hold
        // (the owner's own writes, which no one else makes).
        let (class, kind) = unsafe { decode_class(a, b, w) };
        let site = self.site.load(Ordering::Relaxed);
        Held {
            id: self.id.load(Ordering::Relaxed),
            key: self.key.load(Ordering::Relaxed),
            class,
            kind,
            hold: hold_of(s),
            // SAFETY: a non-zero word was stored from a `&'static
            // Location` by `push`.
            site: (site != 0).then(|| unsafe { &*(site as *const Location<'static>) }),
        }
    }
}

impl HeldSet {
    fn new(owner: Owner) -> HeldSet {
        HeldSet {
            owner,
            slots: std::array::from_fn(|_| Slot {
                state: AtomicU64::new(0),
                id: AtomicU64::new(0),
                key: AtomicU64::new(0),
                class_a: AtomicUsize::new(0),
                class_b: AtomicUsize::new(0),
                tag_kind: AtomicU32::new(0),
                site: AtomicUsize::new(0),
                since: AtomicU64::new(0),
            }),
            top: AtomicUsize::new(0),
            next_token: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
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
        Some((i, self.fill(i, &held)))
    }

    /// [`push`](Self::push) into an empty set (owner only; slot 0).
    #[inline]
    pub(crate) fn push_first(&self, held: &Held) -> (usize, u64) {
        (0, self.fill(0, held))
    }

    /// Fills free slot `i` with `held` (owner only); its token.
    #[inline(always)]
    fn fill(&self, i: usize, held: &Held) -> u64 {
        let token = self.next_token.load(Ordering::Relaxed) + 1;
        self.next_token.store(token, Ordering::Relaxed);
        let slot = &self.slots[i];
        slot.id.store(held.id, Ordering::Relaxed);
        // The class words are a function of the class key and the kind
        // (as the sync stack's): a slot refilled with a lock of the same
        // class keeps them (the scan reads them only while the state
        // stays the same, and they do not change).
        let kind = (held.kind as u32) << 8;
        if slot.key.load(Ordering::Relaxed) != held.key
            || slot.tag_kind.load(Ordering::Relaxed) & !0xff != kind
        {
            slot.key.store(held.key, Ordering::Relaxed);
            let (a, b, w) = encode_class(held.class, held.kind);
            slot.class_a.store(a, Ordering::Relaxed);
            slot.class_b.store(b, Ordering::Relaxed);
            slot.tag_kind.store(w, Ordering::Relaxed);
        }
        let site = held
            .site
            .map_or(0, |l| l as *const Location<'static> as usize);
        slot.site.store(site, Ordering::Relaxed);
        let shared = if held.hold == Hold::Shared { SHARED } else { 0 };
        // Release: the watchdog's scan reads the words after an acquire
        // load of the state.
        slot.state
            .store(token << TOKEN_SHIFT | shared, Ordering::Release);
        if self.top.load(Ordering::Relaxed) <= i {
            self.top.store(i + 1, Ordering::Relaxed);
        }
        token
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
            f(i, self.slots[i].held(s));
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
            let slot = &self.slots[i];
            f(
                slot.key.load(Ordering::Relaxed),
                hold_of(s),
                slot.id.load(Ordering::Relaxed),
            );
        }
    }

    /// Whether the set holds nothing (owner only: its own pushes are
    /// always seen). Forgets trailing slots released meanwhile.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        let mut top = self.top.load(Ordering::Relaxed);
        if top == 0 {
            return true;
        }
        while top > 0 && self.slots[top - 1].state.load(Ordering::Relaxed) == 0 {
            top -= 1;
        }
        self.top.store(top, Ordering::Relaxed);
        top == 0
    }

    /// Marks slot `i`'s hold as in the instance graph, if it still is the
    /// hold whose lock has `id` (owner only).
    pub(crate) fn mark_in_graph(&self, i: usize, id: u64) {
        if self.slots[i].id.load(Ordering::Relaxed) != id {
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

    /// The sum of [`entry`] over the live holds (their lock instances and
    /// modes): the key of a nested acquisition's memo (`edges`); `None`
    /// while a release or downgrade from elsewhere is not accounted for
    /// (owner only). Counted here, when a nested acquisition asks, rather
    /// than kept up to date by every fill and release: a single lock
    /// taken and released never asks.
    #[inline]
    pub(crate) fn content(&self) -> Option<u64> {
        if self.dirty.load(Ordering::Acquire) {
            return None;
        }
        let mut c = 0u64;
        for i in 0..self.top.load(Ordering::Relaxed) {
            let s = self.slots[i].state.load(Ordering::Acquire);
            if s != 0 {
                c = c.wrapping_add(entry(self.slots[i].id.load(Ordering::Relaxed), hold_of(s)));
            }
        }
        Some(c)
    }

    /// Whether a release or downgrade from elsewhere happened since the
    /// last [`recount`](Self::recount) (owner only; after a scan whose
    /// acquire loads saw its state change, this is seen).
    #[inline]
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// The changes from elsewhere are accounted for (owner only, after an
    /// order check that saw the holds as they are now).
    pub(crate) fn recount(&self) {
        self.dirty.store(false, Ordering::Relaxed);
    }

    /// Hold `token` in slot `i` is now shared (from anywhere).
    pub(crate) fn downgrade(&self, i: usize, token: u64) {
        // Before the state changes: the owner's scan that sees the change
        // sees this too.
        self.dirty.store(true, Ordering::Relaxed);
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
            // The last slot freed by its owner: the next `is_empty` finds
            // `top` lower without a scan (a release from elsewhere leaves
            // `top` to that scan). Before the state: the set may be freed
            // once the slot is.
            if self.top.load(Ordering::Relaxed) == i + 1 {
                self.top.store(i, Ordering::Relaxed);
            }
            st.store(0, Ordering::Release);
            return s & IN_GRAPH != 0;
        }
        // Before the state changes (see `downgrade`).
        self.dirty.store(true, Ordering::Relaxed);
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

/// When `owner`'s set is this thread's cached one: into an empty set,
/// `held` pushed in slot 0; into another, `held` pushed when `skip(set)`
/// says its order check is not needed (a nested request checked before).
/// The set, slot and token; `None`: nothing done (not cached, not
/// skipped, or full).
#[inline(always)]
pub(crate) fn push_if(
    owner: Owner,
    held: &Held,
    skip: impl FnOnce(&HeldSet) -> bool,
) -> Option<(*const HeldSet, usize, u64)> {
    let set = cached(owner)?;
    if set.is_empty() {
        let (i, t) = set.push_first(held);
        return Some((set as *const HeldSet, i, t));
    }
    if !skip(set) {
        return None;
    }
    let (i, t) = set.push(*held)?;
    Some((set as *const HeldSet, i, t))
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
    // An async lock is being taken (every owner's first hold comes here).
    if !ASYNC_USED.load(Ordering::Relaxed) {
        ASYNC_USED.store(true, Ordering::Relaxed);
        // The sync lock path reads it as a bit of the features' byte.
        crate::features::async_used_now();
    }
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
                let id = slot.id.load(Ordering::Relaxed);
                let site = slot.site.load(Ordering::Relaxed);
                let (a, b, w) = (
                    slot.class_a.load(Ordering::Relaxed),
                    slot.class_b.load(Ordering::Relaxed),
                    slot.tag_kind.load(Ordering::Relaxed),
                );
                // Still the same hold: the words belong to it (decoded
                // only then: torn words are no class).
                std::sync::atomic::fence(Ordering::Acquire);
                if slot.state.load(Ordering::Relaxed) != s {
                    continue;
                }
                // SAFETY: a non-zero word was stored from a
                // `&'static Location` in `push`.
                let site = (site != 0).then(|| unsafe { &*(site as *const Location<'static>) });
                // SAFETY: stored together by `encode_class` in `push`, for
                // this hold (the state did not change).
                let (class, kind) = unsafe { decode_class(a, b, w) };
                out.push(PubHold {
                    owner: set.owner,
                    id,
                    site,
                    lock: crate::watchdog::LockRef::of(id, class, kind),
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

    /// Sets of exclusive holds whose ids sum alike are told apart (the
    /// nested acquisition's memo keys on the sum of the shares), and so are
    /// the modes of one lock.
    #[test]
    fn sets_with_equal_id_sums_have_different_contents() {
        let e = |ids: &[u64]| -> u64 {
            ids.iter()
                .fold(0u64, |c, &id| c.wrapping_add(entry(id, Hold::Exclusive)))
        };
        for n in [1u64, 7, 1000, 1 << 40] {
            assert_ne!(e(&[n, n + 3]), e(&[n + 1, n + 2]), "{n}");
            assert_ne!(e(&[n, n + 5, n + 10]), e(&[n, n + 6, n + 9]), "{n}");
        }
        assert_ne!(entry(9, Hold::Exclusive), entry(9, Hold::Shared));
    }

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

    /// The owner's releases lower `top` past the slots they free, from
    /// the top only; a release from elsewhere leaves it to `is_empty`'s
    /// scan; either way the set reads empty once nothing is held, and the
    /// holds left are still seen.
    #[test]
    fn releases_lower_top() {
        let set = HeldSet::new(Owner::Task(3));
        let held = |id| Held {
            id,
            key: id,
            class: crate::class::Class::Anonymous,
            kind: crate::class::LockKind::AsyncMutex,
            hold: crate::report::Hold::Exclusive,
            site: None,
        };
        let (a, ta) = set.push(held(1)).unwrap();
        let (b, tb) = set.push(held(2)).unwrap();
        let (c, tc) = set.push(held(3)).unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        // Not the top slot: `top` stays, the others are still seen.
        set.release(b, tb, true);
        assert_eq!(set.top.load(Ordering::Relaxed), 3);
        let mut ids = Vec::new();
        set.for_each_key(|_, _, id| ids.push(id));
        assert_eq!(ids, [1, 3]);
        // The top slot, by its owner: `top` goes below it at once.
        set.release(c, tc, true);
        assert_eq!(set.top.load(Ordering::Relaxed), 2);
        assert!(!set.is_empty());
        // The last one from elsewhere: the scan finds the set empty.
        set.release(a, ta, false);
        assert!(set.is_empty());
        assert_eq!(set.top.load(Ordering::Relaxed), 0);
        assert_eq!(set.push(held(4)).map(|(i, _)| i), Some(0));
    }

    /// A slot refilled by a lock of another class, or of the same class
    /// key and another kind, reads as the new lock (the class words are
    /// kept only for the same key and kind).
    #[test]
    fn a_refilled_slot_reads_as_its_new_lock() {
        use crate::class::{Class, LockKind};
        let set = HeldSet::new(Owner::Task(5));
        let held = |key, class, kind| Held {
            id: 9,
            key,
            class,
            kind,
            hold: crate::report::Hold::Exclusive,
            site: None,
        };
        let read = |set: &HeldSet| {
            let mut v = Vec::new();
            set.for_each(|_, h| v.push(format!("{} {:?} {:?}", h.key, h.class, h.kind)));
            v
        };
        for (key, class, kind) in [
            (11, Class::Named("a"), LockKind::AsyncMutex),
            (11, Class::Named("a"), LockKind::AsyncMutex),
            (11, Class::Named("a"), LockKind::AsyncRwLock),
            (12, Class::Named("b"), LockKind::AsyncRwLock),
            (14, Class::Anonymous, LockKind::AsyncSemaphore),
        ] {
            let (i, t) = set.push(held(key, class, kind)).unwrap();
            assert_eq!(i, 0);
            assert_eq!(read(&set), [format!("{key} {class:?} {kind:?}")]);
            set.release(i, t, true);
        }
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
