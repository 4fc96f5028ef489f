//! The registry of held sets: one per owner (task or thread), sharded, and
//! a one-entry thread-local cache in front of it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
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
    fn key(self) -> u64 {
        match self {
            Owner::Task(id) => id & !THREAD_BIT,
            Owner::Thread(n) => n | THREAD_BIT,
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

fn thread_no() -> u64 {
    THREAD_NO
        .try_with(|n| {
            if n.get() == 0 {
                n.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
            }
            n.get()
        })
        .unwrap_or(0)
}

/// One held async lock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) held: Held,
    /// Which hold this is, for its release (holds of one lock may repeat:
    /// two read guards, two semaphore permits).
    pub(crate) token: u64,
    /// The lock went into the instance graph while held: its release marks
    /// the lock, so that the lock's drop removes it there.
    pub(crate) in_graph: bool,
}

/// What a set protects.
#[derive(Default)]
pub(crate) struct Holds {
    pub(crate) entries: Vec<Entry>,
    next_token: u64,
    /// Left the registry (it was empty): users must look again.
    retired: bool,
}

/// The async locks one owner holds.
pub(crate) struct HeldSet {
    pub(crate) owner: Owner,
    pub(crate) holds: Mutex<Holds>,
}

impl HeldSet {
    /// Adds `held`; its token.
    pub(crate) fn push(holds: &mut Holds, held: Held) -> u64 {
        holds.next_token += 1;
        let token = holds.next_token;
        holds.entries.push(Entry {
            held,
            token,
            in_graph: false,
        });
        token
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

thread_local! {
    /// The set this thread used last (the running task's, usually).
    static CACHE: RefCell<Option<Arc<HeldSet>>> = const { RefCell::new(None) };
}

/// Runs `f` on `owner`'s holds, locked. With `create`, the set is made
/// when the owner has none; without, `f` is not called then (`None`).
pub(crate) fn with_holds<R>(
    owner: Owner,
    create: bool,
    f: impl FnOnce(&Arc<HeldSet>, &mut Holds) -> R,
) -> Option<R> {
    let cached = CACHE
        .try_with(|c| c.borrow().as_ref().filter(|s| s.owner == owner).cloned())
        .ok()
        .flatten();
    let mut f = Some(f);
    if let Some(set) = cached {
        let mut holds = set.holds.lock();
        if !holds.retired {
            return Some((f.take().unwrap())(&set, &mut holds));
        }
    }
    loop {
        let set = lookup(owner, create)?;
        let mut holds = set.holds.lock();
        if holds.retired {
            continue;
        }
        let _ = CACHE.try_with(|c| *c.borrow_mut() = Some(set.clone()));
        return Some((f.take().unwrap())(&set, &mut holds));
    }
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
    let set = Arc::new(HeldSet {
        owner,
        holds: Mutex::new(Holds::default()),
    });
    sh.sets.insert(key, set.clone());
    Some(set)
}

/// Removes the shard's empty sets (their tasks ended, or hold nothing
/// now): each is marked retired under its own lock, so a user holding it
/// from a cache looks again.
fn sweep(sh: &mut Shard) {
    sh.sets.retain(|_, set| match set.holds.try_lock() {
        Some(mut h) if h.entries.is_empty() => {
            h.retired = true;
            false
        }
        _ => true,
    });
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
        with_holds(Owner::Task(base - 1), true, |_, h| HeldSet::push(h, held));
        for i in 0..n {
            with_holds(Owner::Task(base + i), true, |_, _| ());
        }
        assert!(
            registered() < n as usize,
            "{} sets for {n} idle tasks",
            registered()
        );
        let kept = with_holds(Owner::Task(base - 1), false, |_, h| h.entries.len());
        assert_eq!(kept, Some(1));
    }
}
