//! The held sets by owner: a sharded registry, a one-entry thread-local
//! cache in front of it (the set this thread used last, used in place),
//! and the sweep that drops the sets no thread has cached and that hold
//! nothing.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use super::{HeldSet, Owner};
use crate::meta::Held;

/// Set once an async lock was taken (see [`async_used`](crate::task::async_used)).
pub(crate) static ASYNC_USED: AtomicBool = AtomicBool::new(false);

pub(super) const SHARDS: usize = 64;

/// Inserts into one shard between two sweeps of its empty sets.
pub(super) const SWEEP_EVERY: u32 = 256;

#[derive(Default)]
pub(super) struct Shard {
    pub(super) sets: HashMap<u64, Arc<HeldSet>>,
    inserts: u32,
}

pub(super) static REGISTRY: LazyLock<Vec<Mutex<Shard>>> =
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

/// The number of sets in the registry (tests).
#[cfg(test)]
pub(crate) fn registered() -> usize {
    REGISTRY.iter().map(|s| s.lock().sets.len()).sum()
}
