//! The counters: each thread's own per class, written only by it on the
//! lock path, and their sum over threads ([`counters`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use super::class_counters::Counters;
use super::{write_at_exit, HOLD_SAMPLE};
use crate::class::{Class, LockKind};
use crate::meta::LockMeta;

/// How a lock was taken, for the read/write split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// A shared (read or upgradable) acquisition.
    Read,
    /// An exclusive acquisition (mutex, write).
    Write,
}

/// One thread's counters for one class. Only that thread writes them.
#[derive(Default)]
struct Stats {
    acquisitions: AtomicU64,
    contended: AtomicU64,
    wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
    reads: AtomicU64,
    hold_samples: AtomicU64,
    hold_ns: AtomicU64,
    max_hold_ns: AtomicU64,
    blocking_calls: AtomicU64,
    blocking_ns: AtomicU64,
    /// What the last blocking call under this class was.
    blocking_what: What,
}

/// A `&'static str` written by one thread and read by any, as (address,
/// length) under a sequence count (odd while it is written): no lock, so
/// none can be left held across `fork()`.
#[derive(Default)]
struct What {
    seq: AtomicU64,
    ptr: AtomicUsize,
    len: AtomicUsize,
}

impl What {
    /// Stores `what` (its owner thread only).
    fn set(&self, what: &'static str) {
        self.store(what.as_ptr() as usize, what.len());
    }

    /// Forgets the string stored (no other thread may [`set`](Self::set)
    /// it meanwhile): [`get`](Self::get) says `None`.
    fn clear(&self) {
        self.store(0, 0);
    }

    fn store(&self, ptr: usize, len: usize) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.ptr.store(ptr, Ordering::Relaxed);
        self.len.store(len, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// The last string stored, if any.
    fn get(&self) -> Option<&'static str> {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let (ptr, len) = (
                    self.ptr.load(Ordering::Relaxed),
                    self.len.load(Ordering::Relaxed),
                );
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == s1 {
                    if ptr == 0 {
                        return None;
                    }
                    // SAFETY: read under an unchanged even sequence count:
                    // the address and length of one `&'static str` stored
                    // by `set`.
                    return Some(unsafe {
                        std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                            ptr as *const u8,
                            len,
                        ))
                    });
                }
            }
            std::thread::yield_now();
        }
    }
}

impl Stats {
    /// Every counter back to zero, and no last blocking call (in a forked
    /// child, where no other thread writes them).
    fn reset(&self) {
        self.blocking_what.clear();
        for c in [
            &self.acquisitions,
            &self.contended,
            &self.wait_ns,
            &self.max_wait_ns,
            &self.reads,
            &self.hold_samples,
            &self.hold_ns,
            &self.max_hold_ns,
            &self.blocking_calls,
            &self.blocking_ns,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Adds to a counter only this thread writes (no read-modify-write needed).
fn bump(c: &AtomicU64, by: u64) {
    c.store(
        c.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

fn raise(c: &AtomicU64, to: u64) {
    if to > c.load(Ordering::Relaxed) {
        c.store(to, Ordering::Relaxed);
    }
}

pub(super) struct Entry {
    pub(super) key: (Class, LockKind),
    /// The lock's id for an anonymous class (a class of its own per
    /// lock), else 0.
    instance: u64,
    /// The threads' key of these counters ([`stats_key`]).
    skey: u64,
    stats: Arc<Stats>,
    /// `Some(n)`: the counters of the class's threads that have exited, `n`
    /// of which waited ([`retire`]); `None`: one live thread's.
    pub(super) retired: Option<u64>,
}

/// Every thread's counters, for [`report`](super::report).
pub(super) static ALL: LazyLock<crate::fork::Mutex<Vec<Entry>>> = LazyLock::new(|| {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &FORK_HOOKS);
    crate::fork::Mutex::new(Vec::new())
});

/// [`ALL`] across `fork()` (see `fork.rs`).
static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(ALL.lock()),
    child: fork_child,
};

/// In a forked child: the counters start from zero. The child writes a
/// profile of its own (`lockgraph-profile-<its pid>.json`, at its exit:
/// it inherits the exit hook), and `lockgraph profile` adds the files up,
/// so the parent's counts until the fork, which the parent's profile has,
/// must not be in the child's too. The other threads' counters (those
/// threads are not in the child) are no longer listed. Nothing is
/// allocated: the counters are zeroed in place, the list only shrinks, and
/// the forking thread's map is read only if it has one ([`HAS_MINE`]: a
/// first use of [`MINE`] would make it and register its destructor). An
/// entry dropped is one reference less to counters that the other
/// thread's map, copied into the child, keeps, or frees them when that
/// thread had exited before the fork (a `free`, which glibc's allocator
/// allows in a forked child).
fn fork_child() {
    let mut all = ALL.lock();
    if HAS_MINE.get() {
        let _ = MINE.try_with(|mine| {
            if let Ok(mine) = mine.try_borrow() {
                all.retain(|e| mine.values().any(|s| Arc::ptr_eq(s, &e.stats)));
            }
        });
    } else {
        all.clear();
    }
    for e in all.iter() {
        e.stats.reset();
    }
}

/// One thread's counters by [`stats_key`]; at the thread's exit they are
/// added to its classes' retired counters ([`retire`]).
struct Mine(RefCell<HashMap<u64, Arc<Stats>>>);

impl std::ops::Deref for Mine {
    type Target = RefCell<HashMap<u64, Arc<Stats>>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Mine {
    fn drop(&mut self) {
        retire(self.0.get_mut());
    }
}

/// A thread's counters leave [`ALL`] as it exits: each is added to its
/// class's retired counters (one entry per class and kind, however many
/// threads ended), so that a program whose threads come and go keeps one
/// entry per class, not one per thread that ever took a lock of it.
fn retire(mine: &HashMap<u64, Arc<Stats>>) {
    if mine.is_empty() {
        return;
    }
    let mut all = ALL.lock();
    for stats in mine.values() {
        let Some(i) = all
            .iter()
            .position(|e| e.retired.is_none() && Arc::ptr_eq(&e.stats, stats))
        else {
            continue;
        };
        let e = all.swap_remove(i);
        let waited = u64::from(e.stats.contended.load(Ordering::Relaxed) > 0);
        match all
            .iter_mut()
            .find(|r| r.retired.is_some() && r.skey == e.skey && r.instance == e.instance)
        {
            Some(r) => {
                r.stats.absorb(&e.stats);
                r.retired = r.retired.map(|n| n + waited);
            }
            None => all.push(Entry {
                retired: Some(waited),
                ..e
            }),
        }
    }
}

impl Stats {
    /// Adds `other`'s counts to these (under [`ALL`]'s lock, where the
    /// retired counters are written).
    fn absorb(&self, other: &Stats) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (a, b) in [
            (&self.acquisitions, &other.acquisitions),
            (&self.contended, &other.contended),
            (&self.wait_ns, &other.wait_ns),
            (&self.reads, &other.reads),
            (&self.hold_samples, &other.hold_samples),
            (&self.hold_ns, &other.hold_ns),
            (&self.blocking_calls, &other.blocking_calls),
            (&self.blocking_ns, &other.blocking_ns),
        ] {
            a.store(load(a).saturating_add(load(b)), Ordering::Relaxed);
        }
        raise(&self.max_wait_ns, load(&other.max_wait_ns));
        raise(&self.max_hold_ns, load(&other.max_hold_ns));
        if let Some(what) = other.blocking_what.get() {
            self.blocking_what.set(what);
        }
    }
}

thread_local! {
    static MINE: Mine = Mine(RefCell::new(HashMap::new()));
    static TICK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Whether this thread's [`MINE`] has counters (so it was made).
    static HAS_MINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A thread's counters for a class it had none for, listed for [`report`](super::report).
/// The first ones of the process also register the exit hook that writes
/// the profile beside the records (profiling turned on by the environment
/// has no [`enable`](super::enable) call to do it).
#[cold]
fn new_stats(skey: u64, class: Class, kind: LockKind, instance: u64) -> Arc<Stats> {
    write_at_exit();
    HAS_MINE.set(true);
    let stats = Arc::new(Stats::default());
    ALL.lock().push(Entry {
        key: (class, kind),
        instance,
        skey,
        stats: Arc::clone(&stats),
        retired: None,
    });
    stats
}

/// This thread's key for `meta`'s counters ([`stats_key`]).
fn key_of(meta: &LockMeta) -> u64 {
    stats_key(meta.profile_key(), meta.kind())
}

/// A thread's key for the counters of class `key` (a lock's profile key)
/// and kind `kind`: a `Mutex` and an `RwLock` named alike are one class,
/// and two rows.
fn stats_key(key: u64, kind: LockKind) -> u64 {
    key ^ u64::from(crate::class::encode_kind(kind)) << 56
}

/// The lock's id when its class is anonymous (each such lock is a class of
/// its own), else 0.
fn instance_of(meta: &LockMeta) -> u64 {
    match meta.class() {
        Class::Anonymous => meta.id(),
        _ => 0,
    }
}

fn with_stats(meta: &LockMeta, f: impl FnOnce(&Stats)) {
    let key = key_of(meta);
    let _ = MINE.try_with(|m| {
        let mut m = m.borrow_mut();
        let stats = m
            .entry(key)
            .or_insert_with(|| new_stats(key, meta.class(), meta.kind(), instance_of(meta)));
        f(stats);
    });
}

/// The most waiters of one async class told apart ([`ASYNC_WAITERS`]): a
/// class that more tasks than this waited for reads this many (the advice
/// needs 3), and a service that spawns a task per request keeps at most
/// this many ids (64 KiB) per class, however long it runs.
pub(crate) const MAX_ASYNC_WAITERS: usize = 8192;

/// Per async class (its [`stats_key`] and instance, as [`Entry`]'s): the
/// owners that waited for it, by [`Owner::key`](crate::task::Owner):
/// tasks, and the threads that waited outside a task (`blocking_lock`).
/// A thread runs many tasks, and a task moves between threads, so the
/// per-thread count of sync classes says nothing for these. Written only
/// by an async acquisition that waited, while the profile is on.
type Waiters = HashMap<(u64, u64), HashSet<u64>>;

static ASYNC_WAITERS: LazyLock<crate::fork::Mutex<Waiters>> = LazyLock::new(|| {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &WAITERS_FORK_HOOKS);
    crate::fork::Mutex::new(HashMap::new())
});

/// [`ASYNC_WAITERS`] across `fork()`: held while forking; the child's
/// profile starts from zero ([`fork_child`]), its waiters too.
static WAITERS_FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(ASYNC_WAITERS.lock()),
    child: || ASYNC_WAITERS.lock().clear(),
};

/// Whether a kind's waiters are tasks (an async lock's), counted by
/// owner in [`ASYNC_WAITERS`], rather than threads.
pub(crate) fn waiters_are_tasks(kind: LockKind) -> bool {
    matches!(
        kind,
        LockKind::AsyncMutex | LockKind::AsyncRwLock | LockKind::AsyncSemaphore
    )
}

/// [`acquired`] of an async lock by `owner` (an [`Owner::key`](crate::task::Owner)):
/// when it waited, `owner` is one of the class's waiters.
pub(crate) fn acquired_by_owner(
    meta: &LockMeta,
    access: Access,
    waited: Option<Duration>,
    owner: u64,
) {
    acquired(meta, access, waited);
    if waited.is_some() && waiters_are_tasks(meta.kind()) {
        let mut all = ASYNC_WAITERS.lock();
        let set = all.entry((key_of(meta), instance_of(meta))).or_default();
        if set.len() < MAX_ASYNC_WAITERS {
            set.insert(owner);
        }
    }
}

/// Records an acquisition; `waited` is the wait when the first attempt failed.
pub(crate) fn acquired(meta: &LockMeta, access: Access, waited: Option<Duration>) {
    with_stats(meta, |s| {
        bump(&s.acquisitions, 1);
        if access == Access::Read {
            bump(&s.reads, 1);
        }
        if let Some(w) = waited {
            let ns = w.as_nanos() as u64;
            bump(&s.contended, 1);
            bump(&s.wait_ns, ns);
            raise(&s.max_wait_ns, ns);
        }
    });
}

/// Records an upgrade of an upgradable read (counted as a read when it was
/// taken) to exclusive: no longer a read, and, when it had to wait
/// (`waited`), a contended acquisition with that wait.
pub(crate) fn upgraded(meta: &LockMeta, waited: Option<Duration>) {
    with_stats(meta, |s| {
        // This thread's count of reads, which holds the upgradable read
        // unless its guard was taken on another thread (`send_guard`).
        // (Only this thread writes its counters, as in `bump`.)
        let reads = s.reads.load(Ordering::Relaxed);
        s.reads.store(reads.saturating_sub(1), Ordering::Relaxed);
        if let Some(w) = waited {
            let ns = w.as_nanos() as u64;
            // A contended acquisition at most once: the upgradable read may
            // have waited already (it is not known which did; the count
            // stays within the acquisitions, the wait is added).
            if s.contended.load(Ordering::Relaxed) < s.acquisitions.load(Ordering::Relaxed) {
                bump(&s.contended, 1);
            }
            bump(&s.wait_ns, ns);
            raise(&s.max_wait_ns, ns);
        }
    });
}

/// Whether this acquisition's hold time is sampled: one in [`HOLD_SAMPLE`],
/// picked by a golden-ratio sequence rather than every n-th acquisition, so
/// code that alternates between locks does not always sample the same one.
#[inline]
pub(crate) fn sample_hold() -> bool {
    TICK.try_with(|t| {
        let n = t.get().wrapping_add(1);
        t.set(n);
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15) < u64::MAX / HOLD_SAMPLE
    })
    .unwrap_or(false)
}

pub(crate) fn held_for(meta: &LockMeta, d: Duration) {
    if meta.kind().is_role() {
        // A consumer between receives, a running thread: not a lock held.
        return;
    }
    with_stats(meta, |s| {
        let ns = d.as_nanos() as u64;
        bump(&s.hold_samples, 1);
        bump(&s.hold_ns, ns);
        raise(&s.max_hold_ns, ns);
    });
}

/// Counts one blocking call `what` of `d` against each class held during
/// it (`metas`: the held locks): once per class, however many of its locks
/// are held (two locks of one class held across one call counted it twice).
pub(crate) fn blocked_holding(metas: &[(Class, LockKind, u64)], what: &'static str, d: Duration) {
    let _ = MINE.try_with(|m| {
        let mut m = m.borrow_mut();
        for (i, &(class, kind, key)) in metas.iter().enumerate() {
            if kind.is_role()
                || metas[..i]
                    .iter()
                    .any(|other| other.2 == key && other.1 == kind)
            {
                continue;
            }
            let instance = match class {
                Class::Anonymous => crate::meta::anonymous_id(key),
                _ => 0,
            };
            let skey = stats_key(key, kind);
            let stats = m
                .entry(skey)
                .or_insert_with(|| new_stats(skey, class, kind, instance));
            bump(&stats.blocking_calls, 1);
            bump(&stats.blocking_ns, d.as_nanos() as u64);
            stats.blocking_what.set(what);
        }
    });
}

/// This process's counters, one entry per class, summed over threads.
pub fn counters() -> Vec<Counters> {
    let pid = std::process::id();
    // Taken before (not under) `ALL`'s lock, which the fork hooks take in
    // their own order.
    let waiters = ASYNC_WAITERS.lock().clone();
    let mut async_waiters: HashMap<(String, &'static str), HashSet<u64>> = HashMap::new();
    let all = ALL.lock();
    // By class and kind: a `Mutex` and an `RwLock` named alike are one
    // class in the graph, but two rows here (one `Mutex` row hid the
    // other's reads).
    let mut by_class: HashMap<(String, &'static str), Counters> = HashMap::new();
    for e in all.iter() {
        let (class, kind) = e.key;
        if kind.is_role() {
            // A queue's consumer, a barrier's party, a running thread:
            // roles, not locks (the pipeline profile has them). Their row
            // counted how often a role was taken up (`Queue jobs`,
            // acquired 1, for a queue that carried 200 items).
            continue;
        }
        let s = &e.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // An anonymous class is its lock: `anon:<pid>:<id>`, as records
        // write it (all of a process's anonymous locks were one row).
        let id = match class {
            Class::Anonymous => {
                crate::record::class_id(class, crate::record::minting_pid(e.instance), e.instance)
            }
            _ => crate::record::class_id(class, pid, 0),
        };
        let mine = Counters {
            class: id.clone(),
            name: match class {
                Class::Named(n) => Some(n.to_string()),
                _ => None,
            },
            kind: kind.name().to_string(),
            site: class.site().map(|s| s.to_string()),
            acquisitions: load(&s.acquisitions),
            contended: load(&s.contended),
            wait_ns: load(&s.wait_ns),
            max_wait_ns: load(&s.max_wait_ns),
            reads: load(&s.reads),
            hold_samples: load(&s.hold_samples),
            hold_ns: load(&s.hold_ns),
            max_hold_ns: load(&s.max_hold_ns),
            waiting_threads: e.retired.unwrap_or(u64::from(load(&s.contended) > 0)),
            blocking_calls: load(&s.blocking_calls),
            blocking_ns: load(&s.blocking_ns),
            blocking_what: s.blocking_what.get().map(str::to_string),
        };
        if waiters_are_tasks(kind) {
            let row = async_waiters.entry((id.clone(), kind.name())).or_default();
            if let Some(w) = waiters.get(&(e.skey, e.instance)) {
                row.extend(w);
            }
        }
        // Read while its thread may update it: made consistent.
        let mine = mine.consistent();
        match by_class.get_mut(&(id.clone(), kind.name())) {
            Some(c) => c.merge(&mine),
            None => {
                by_class.insert((id, kind.name()), mine);
            }
        }
    }
    // An async class's waiters are the tasks (and threads outside a
    // task) that waited, not the threads that ran them: eight tasks
    // waiting on a current_thread runtime read 1.
    for (row, w) in async_waiters {
        if let Some(c) = by_class.get_mut(&row) {
            c.waiting_threads = w.len().min(MAX_ASYNC_WAITERS) as u64;
        }
    }
    let mut out: Vec<Counters> = by_class.into_values().collect();
    out.sort_by(|a, b| a.class.cmp(&b.class).then_with(|| a.kind.cmp(&b.kind)));
    out
}
