//! One thread's side of the checker ([`AtomThread`]): its actor and its
//! vector clock, the implicit region it has open, and the explicit checks
//! of its `atomic_region`s; and the process-wide tables behind the actors:
//! their ids and names, the reports already made (each once), how many
//! threads are inside a region; kept across `fork()`, emptied at each loom
//! iteration.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use lockgraph_graph::vclock::VectorClock;

use super::report::Severity;
use crate::class::Site;
use crate::fork::Mutex;
use crate::meta::LockMeta;
use crate::report::Hold;

/// One thread's side of the checker that every lock operation touches: kept
/// in the thread's held-lock state (a `const` thread-local, no lazy
/// initialisation), as plain cells.
///
/// The thread's vector clock is split: its own component is `time`; the
/// components of the other actors live in [`Slow::others`], which only
/// changes when an acquisition joins another thread's release (and then
/// `generation` moves on).
pub(crate) struct AtomThread {
    /// 1 + the actor id (0: not assigned yet).
    actor: Cell<usize>,
    pub(super) time: Cell<u64>,
    pub(super) generation: Cell<u64>,
    /// The lock whose shared release opened the implicit region (0: none),
    /// and where that guard was taken.
    pub(super) pending: Cell<u64>,
    pub(super) pending_site: Cell<Option<&'static Location<'static>>>,
    /// Nesting depth of `atomic_region`.
    pub(super) depth: Cell<usize>,
    /// [`recheck`](crate::recheck) was called with a region open: the next
    /// acquisition is not judged (it re-checks under its own guard).
    pub(super) recheck: Cell<bool>,
    /// A condition variable's wait is releasing its mutex
    /// ([`condvar_release`](super::hooks::condvar_release)): the release
    /// opens no check.
    pub(super) condvar_wait: Cell<bool>,
}

impl AtomThread {
    pub(crate) const fn new() -> AtomThread {
        AtomThread {
            actor: Cell::new(0),
            time: Cell::new(0),
            generation: Cell::new(0),
            pending: Cell::new(0),
            pending_site: Cell::new(None),
            depth: Cell::new(0),
            recheck: Cell::new(false),
            condvar_wait: Cell::new(false),
        }
    }

    #[inline]
    pub(super) fn actor(&self) -> usize {
        match self.actor.get() {
            0 => self.assign_actor(),
            a => a - 1,
        }
    }

    #[cold]
    fn assign_actor(&self) -> usize {
        crate::sync::enter_iteration();
        let id = NEXT_ACTOR.fetch_add(1, Ordering::Relaxed);
        let mut names = NAMES.lock();
        if names.len() <= id {
            names.resize(id + 1, String::new());
        }
        names[id] = crate::sync::thread_name();
        drop(names);
        self.actor.set(id + 1);
        let _ = MY_ACTOR.try_with(|a| a.set(id + 1));
        id
    }
}

crate::sync::thread_local_const! {
    /// 1 + this thread's actor id, as [`AtomThread::actor`] (0: none): for
    /// the fork hook, which renames the forking thread's actor in the child.
    static MY_ACTOR: Cell<usize> = const { Cell::new(0) };
}

/// An explicit check waiting for its act.
pub(super) struct Region {
    pub(super) lock: u64,
    pub(super) site: Option<&'static Location<'static>>,
    pub(super) hold: Hold,
    /// The thread's clock of the other actors when the check guard was released.
    pub(super) others: VectorClock,
}

/// The parts of a thread's side touched only when threads interact (a join,
/// a clock copy) or inside `atomic_region`.
#[derive(Default)]
pub(super) struct Slow {
    /// The thread's clock, without its own component.
    pub(super) others: VectorClock,
    /// Checks opened inside `atomic_region`, one per lock.
    pub(super) explicit: Vec<Region>,
    /// Spare clock allocations, reused for regions.
    pub(super) spare: Vec<VectorClock>,
}

static NEXT_ACTOR: AtomicUsize = AtomicUsize::new(0);

/// Threads inside an `atomic_region` now.
pub(super) static REGIONS: AtomicUsize = AtomicUsize::new(0);

/// Actor names, by id, for reports.
pub(super) static NAMES: LazyLock<Mutex<Vec<String>>> = LazyLock::new(|| {
    fork_hooks();
    Mutex::new(Vec::new())
});

/// Reports already made (severity, check site, act site): each once.
type ReportKey = (Severity, Option<Site>, Option<Site>);

pub(super) static REPORTED: LazyLock<Mutex<HashSet<ReportKey>>> = LazyLock::new(|| {
    fork_hooks();
    Mutex::new(HashSet::new())
});

/// [`NAMES`] and [`REPORTED`] across `fork()` (see `fork.rs`): never held
/// together, so one module's hooks take both. Under loom, the checker's
/// state is emptied at each model iteration.
fn fork_hooks() {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &FORK_HOOKS);
    crate::sync::on_new_iteration(reset);
}

static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: fork_lock,
    child: fork_child,
};

/// In the child, the thread that forked goes on as the same actor (its
/// clock and its writes are the child's too), named as the child's thread:
/// an unnamed thread's name is its OS thread id, which is new in the child.
fn fork_child() {
    let actor = MY_ACTOR.try_with(Cell::get).unwrap_or(0);
    if actor != 0 {
        if let Some(name) = NAMES.lock().get_mut(actor - 1) {
            *name = crate::sync::thread_name();
        }
    }
}

fn fork_lock() {
    crate::fork::hold(NAMES.lock());
    crate::fork::hold(REPORTED.lock());
}

crate::sync::thread_local_const! {
    static SLOW: RefCell<Slow> = const {
        RefCell::new(Slow { others: VectorClock::new(), explicit: Vec::new(), spare: Vec::new() })
    };
}

/// Forgets actors and reports (a new loom iteration).
fn reset() {
    NEXT_ACTOR.store(0, Ordering::Relaxed);
    NAMES.lock().clear();
    REPORTED.lock().clear();
}

pub(super) fn with_slow<R>(f: impl FnOnce(&mut Slow) -> R) -> Option<R> {
    SLOW.try_with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)))
        .ok()
        .flatten()
}

impl Slow {
    /// Takes the open explicit check of `id`, if any (its clock goes back
    /// to `spare` once used).
    pub(super) fn take_explicit(&mut self, id: u64) -> Option<Region> {
        let i = self.explicit.iter().position(|r| r.lock == id)?;
        Some(self.explicit.swap_remove(i))
    }

    pub(super) fn snapshot(&mut self) -> VectorClock {
        let mut c = self.spare.pop().unwrap_or_default();
        c.clone_from(&self.others);
        c
    }
}

impl AtomThread {
    /// Whether an acquisition of `meta` has nothing for the checker to do:
    /// no region open on this thread and no recorded release to join (the
    /// lock has no block). Small enough to test inline at every acquisition
    /// while the checker alone is on.
    #[inline(always)]
    pub(crate) fn quiet_acquire(&self, meta: &LockMeta) -> bool {
        self.pending.get() == 0 && self.depth.get() == 0 && meta.atom_if_any().is_none()
    }

    /// Whether an exclusive release of `meta` has nothing for the checker to
    /// record: no region open on this thread (implicit or explicit, nor
    /// anywhere: [`REGIONS`]) and the lock not watched. Small enough to test
    /// before the release's out-of-line body saves any register.
    #[inline(always)]
    pub(crate) fn quiet_release(&self, meta: &LockMeta) -> bool {
        self.quiet_release_word(meta.id.load(Ordering::Relaxed))
    }

    /// [`quiet_release`](Self::quiet_release) of the lock whose word
    /// (`LockMeta`'s id word, read by the caller) is `lock`.
    #[inline(always)]
    pub(crate) fn quiet_release_word(&self, lock: u64) -> bool {
        (self.pending.get() | self.depth.get() as u64) == 0
            && lock & crate::meta::WATCHED == 0
            && REGIONS.load(Ordering::Relaxed) == 0
    }
}
