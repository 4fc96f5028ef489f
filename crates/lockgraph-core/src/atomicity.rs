//! Atomicity violations (check-then-act): a decision taken under one guard of
//! a lock and acted on under a later write guard of the same lock, while
//! another thread wrote the lock in between.
//!
//! Off unless `LOCKGRAPH_ATOMICITY` is `on` (report violations) or `warn`
//! (also report the pattern without an interleaving write, as a warning), or
//! [`set_atomicity`] turns it on. Off, it costs one relaxed load (of the word
//! that says which optional features are on) per acquisition and release.
//!
//! This module is the checker's part below the held-lock state: the state
//! calls [`acquired`] and [`released`] with its per-thread part
//! ([`AtomThread`]). The one entry point that needs the state,
//! `atomic_region`, is in `crate::region`, above it.
//!
//! "In between" is decided with vector clocks ([`lockgraph_graph::vclock`]):
//! each thread is an actor with its own clock; an acquisition joins the clock
//! left by the lock's last recorded exclusive release; an exclusive release (a
//! write) ticks the thread's clock and stamps the lock with the write's epoch.
//! When a thread re-acquires a lock for writing, the lock's last write is an
//! interleaving write if another thread made it and it does not happen before
//! the re-acquiring thread's clock at the release that opened the region.
//! lockgraph does not see thread spawn and join (it does not wrap
//! `std::thread`), and they could not change a verdict: every write before the
//! check is ordered before it through the lock itself, and no later spawn or
//! join can order a write made after the check's release before it.
//!
//! Cost with the checker on: see [`released`] (writes are recorded only for
//! locks some region could check) and [`AtomThread`] (the per-thread part
//! lives in the held-lock state; clocks are copied only when a thread learnt
//! something from another since its last release of that lock).
//!
//! # Regions
//!
//! * **Implicit** (always): the release of a *shared* guard of `L` (`read`,
//!   `read_recursive`, `upgradable_read` released without upgrading) opens a
//!   region that the thread's next lock operation closes. If that operation
//!   is an exclusive acquisition of `L` (`write`, or `lock` of a mutex type
//!   used as an `RwLock`'s lock), it is checked. Any other acquisition or
//!   release, of `L` or another lock, ends the region (a new shared release
//!   of `L` opens a new one). A mutex taken twice in a row is *not* checked
//!   implicitly: `loop { let job = queue.lock().pop(); ... }` is the normal
//!   use of a mutex, not a decision carried across.
//! * **Explicit** ([`atomic_region`](crate::atomic_region)): inside the closure every release of a
//!   lock `L`, in any mode, opens a check that lasts until the closure
//!   returns; the next exclusive acquisition of `L` inside the closure (a
//!   `lock`, a `write`) is checked, whatever other locks were taken meanwhile.
//!
//! The per-lock state (the last write and the clock of the last exclusive
//! release) lives in a block that the lock's [`LockMeta`] allocates on first
//! use while detection is on; it is read and written only by threads that
//! hold the lock, and written only under an exclusive hold.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::HashSet;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::LazyLock;

use lockgraph_graph::vclock::{Epoch, VectorClock};

use crate::class::{LockKind, Site};
use crate::features::{self, ATOMICITY};
use crate::fork::Mutex;
use crate::meta::LockMeta;
use crate::policy::{Disposal, OnCycle, Report};
use crate::report::{Hold, LockInfo};

/// Whether and how the atomicity checker runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Atomicity {
    /// Not checked (the default): one relaxed load per acquisition and release.
    Off,
    /// Report check-then-act sequences with an interleaving write
    /// ([`Severity::Violation`]).
    On,
    /// Also report check-then-act sequences without one ([`Severity::Warning`]).
    Warn,
}

const UNSET: u8 = 0;
const ON: u8 = 2;
const WARN: u8 = 3;

/// Whether the checker, when on, also reports warnings ([`WARN`]) or only
/// violations ([`ON`]). Whether it is on at all is the `ATOMICITY` bit of
/// `crate::features`.
static MODE: AtomicU8 = AtomicU8::new(UNSET);

/// Sets the atomicity checker's mode for the whole process, overriding
/// `LOCKGRAPH_ATOMICITY` (`on`, `warn` or `off`).
pub fn set_atomicity(mode: Atomicity) {
    if mode != Atomicity::Off {
        let v = if mode == Atomicity::Warn { WARN } else { ON };
        MODE.store(v, Ordering::Relaxed);
    }
    features::set(ATOMICITY, mode != Atomicity::Off);
}

/// The atomicity checker's mode in force.
pub fn atomicity() -> Atomicity {
    if !on() {
        return Atomicity::Off;
    }
    if warn() {
        Atomicity::Warn
    } else {
        Atomicity::On
    }
}

/// Whether the checker runs: one relaxed load once settled.
#[inline(always)]
pub(crate) fn on() -> bool {
    features::is_on(ATOMICITY)
}

/// Whether warnings are reported too (`warn`).
fn warn() -> bool {
    match MODE.load(Ordering::Relaxed) {
        UNSET => {
            let v = if crate::env::ATOMICITY.word() == "warn" {
                WARN
            } else {
                ON
            };
            let _ = MODE.compare_exchange(UNSET, v, Ordering::Relaxed, Ordering::Relaxed);
            MODE.load(Ordering::Relaxed) == WARN
        }
        m => m == WARN,
    }
}

/// How bad a check-then-act finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Another thread wrote the lock between the check and the act: the
    /// decision was stale when it was acted on.
    Violation,
    /// The pattern, without an interleaving write this time (reported only
    /// with `LOCKGRAPH_ATOMICITY=warn`).
    Warning,
}

/// The thread whose write came between a check and its act.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Interleaving {
    /// That thread's name (else its id).
    pub thread: String,
    /// Where that thread took the guard it wrote under.
    pub site: Option<Site>,
}

/// A check-then-act sequence on one lock: a guard of the lock was released
/// (the *check*), and the same thread then took the lock for writing (the
/// *act*) in the same region.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AtomicityReport {
    /// Violation (a write came in between) or warning.
    pub severity: Severity,
    /// The lock.
    pub lock: LockInfo,
    /// The thread that checked and acted.
    pub thread: String,
    /// Where the guard of the check was taken.
    pub check_site: Option<Site>,
    /// Whether the check guard was shared (a read) or exclusive.
    pub check_hold: Hold,
    /// Where the write guard of the act was taken.
    pub act_site: Option<Site>,
    /// The write that came in between (violations only).
    pub interleaving: Option<Interleaving>,
    /// Whether the region was marked with [`atomic_region`](crate::atomic_region) (else implicit).
    pub explicit_region: bool,
}

fn site_str(s: Option<Site>) -> String {
    s.map_or_else(|| "an unknown site".to_string(), |s| s.to_string())
}

impl fmt::Display for AtomicityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.severity {
            Severity::Violation => "atomicity violation",
            Severity::Warning => "possible atomicity violation",
        };
        writeln!(
            f,
            "lockgraph: {what} (check-then-act) on {} {}",
            self.lock.kind.name(),
            self.lock.label()
        )?;
        let guard = match self.check_hold {
            Hold::Shared | Hold::Upgradable => "read guard",
            Hold::Exclusive => "guard",
        };
        writeln!(
            f,
            "  1. thread `{}` checked under a {guard} taken at {} and released it",
            self.thread,
            site_str(self.check_site)
        )?;
        match &self.interleaving {
            Some(w) => writeln!(
                f,
                "  2. thread `{}` wrote the lock in between (guard taken at {})",
                w.thread,
                site_str(w.site)
            )?,
            None => writeln!(
                f,
                "  2. (no other thread wrote the lock in between this time)"
            )?,
        }
        // A read-write lock's act is a write; a mutex has one kind of guard.
        let rw = matches!(self.lock.kind, LockKind::RwLock);
        let act = if rw { "write guard" } else { "guard" };
        writeln!(
            f,
            "  3. thread `{}` acted under a {act} taken at {}",
            self.thread,
            site_str(self.act_site)
        )?;
        let region = if self.explicit_region {
            "an atomic_region"
        } else {
            "one implicit region (no other lock operation between release and write)"
        };
        writeln!(f, "  region: {region}")?;
        let one = if rw {
            "one guard (upgradable_read, then upgrade; or one write guard)"
        } else {
            "one guard"
        };
        write!(
            f,
            "  fix: decide and act under {one}, or re-check under the {act} \
             (and call lockgraph::recheck() just before taking it)"
        )
    }
}

/// The last write of a lock.
#[derive(Clone, Copy)]
struct Write {
    epoch: Epoch,
    site: Option<&'static Location<'static>>,
}

/// No actor (a lock nobody released exclusively yet).
const NO_ACTOR: usize = usize::MAX;

/// Per-lock state, allocated on first use while detection is on.
///
/// The clock of the last exclusive release is kept as the releaser's id and
/// time plus a copy of the releaser's clock of the *other* actors, stamped
/// with the releaser's generation of that clock: a thread that releases a
/// lock it released last, without having learnt anything from other threads
/// since, only stores its time (no clock copy).
pub(crate) struct LockAtom {
    releaser: UnsafeCell<usize>,
    released_at: UnsafeCell<u64>,
    /// The releaser's [`AtomThread::generation`] when `others` was copied.
    generation: UnsafeCell<u64>,
    others: UnsafeCell<VectorClock>,
    last_write: UnsafeCell<Option<Write>>,
}

impl LockAtom {
    fn new() -> LockAtom {
        LockAtom {
            releaser: UnsafeCell::new(NO_ACTOR),
            released_at: UnsafeCell::new(0),
            generation: UnsafeCell::new(0),
            others: UnsafeCell::new(VectorClock::new()),
            last_write: UnsafeCell::new(None),
        }
    }
}

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
    time: Cell<u64>,
    generation: Cell<u64>,
    /// The lock whose shared release opened the implicit region (0: none),
    /// and where that guard was taken.
    pending: Cell<u64>,
    pending_site: Cell<Option<&'static Location<'static>>>,
    /// Nesting depth of `atomic_region`.
    depth: Cell<usize>,
    /// [`recheck`](crate::recheck) was called with a region open: the next
    /// acquisition is not judged (it re-checks under its own guard).
    recheck: Cell<bool>,
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
        }
    }

    #[inline]
    fn actor(&self) -> usize {
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
struct Region {
    lock: u64,
    site: Option<&'static Location<'static>>,
    hold: Hold,
    /// The thread's clock of the other actors when the check guard was released.
    others: VectorClock,
}

/// The parts of a thread's side touched only when threads interact (a join,
/// a clock copy) or inside `atomic_region`.
#[derive(Default)]
struct Slow {
    /// The thread's clock, without its own component.
    others: VectorClock,
    /// Checks opened inside `atomic_region`, one per lock.
    explicit: Vec<Region>,
    /// Spare clock allocations, reused for regions.
    spare: Vec<VectorClock>,
}

static NEXT_ACTOR: AtomicUsize = AtomicUsize::new(0);

/// Threads inside an `atomic_region` now.
static REGIONS: AtomicUsize = AtomicUsize::new(0);

/// Actor names, by id, for reports.
static NAMES: LazyLock<Mutex<Vec<String>>> = LazyLock::new(|| {
    fork_hooks();
    Mutex::new(Vec::new())
});

/// Reports already made (severity, check site, act site): each once.
type ReportKey = (Severity, Option<Site>, Option<Site>);

static REPORTED: LazyLock<Mutex<HashSet<ReportKey>>> = LazyLock::new(|| {
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

fn with_slow<R>(f: impl FnOnce(&mut Slow) -> R) -> Option<R> {
    SLOW.try_with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)))
        .ok()
        .flatten()
}

impl Slow {
    /// Takes the open explicit check of `id`, if any (its clock goes back
    /// to `spare` once used).
    fn take_explicit(&mut self, id: u64) -> Option<Region> {
        let i = self.explicit.iter().position(|r| r.lock == id)?;
        Some(self.explicit.swap_remove(i))
    }

    fn snapshot(&mut self) -> VectorClock {
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

/// Called after `meta` (instance `id`) was acquired in mode `hold` and pushed
/// on this thread's held stack.
///
/// A finding is reported from here, inside the lock call: that runs no user
/// code and takes no tracked lock (the report is queued for delivery, or
/// aborted on; its disposal never panics, see [`AtomicityReport`]'s
/// `Report` impl), so it needs no protection from re-entry.
#[inline]
pub(crate) fn acquired(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) {
    if t.pending.get() != 0 || t.depth.get() != 0 {
        return acquired_in_region(t, meta, id, hold, site);
    }
    join_release(t, meta);
}

/// An acquisition while a region is open: closes the implicit one, checks.
#[inline(never)]
fn acquired_in_region(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) {
    let pending = t.pending.replace(0);
    if t.recheck.replace(false) {
        // The act re-checks under its own guard: it is not judged, and the
        // explicit check of this lock, if any, is used up.
        if hold == Hold::Exclusive && t.depth.get() > 0 {
            forget_explicit(id);
        }
    } else if hold == Hold::Exclusive && (pending == id || t.depth.get() > 0) {
        // Checked before the join below: the implicit region's clock is the
        // thread's clock as it was when the check guard was released.
        for f in check(t, meta, id, pending == id, site) {
            f.emit(meta);
        }
    }
    join_release(t, meta);
}

/// Joins the lock's last recorded exclusive release, if another thread made it.
#[inline]
fn join_release(t: &AtomThread, meta: &LockMeta) {
    // A lock without a block has no recorded release to join.
    if let Some(atom) = meta.atom_if_any() {
        // SAFETY: the lock is held by this thread; the block is written only
        // under an exclusive hold, so nothing writes it concurrently.
        let releaser = unsafe { *atom.releaser.get() };
        if releaser != NO_ACTOR && releaser != t.actor() {
            join(t, atom, releaser);
        }
    }
}

/// Joins the clock of `atom`'s last exclusive release into this thread's.
#[cold]
#[inline(never)]
fn join(t: &AtomThread, atom: &LockAtom, releaser: usize) {
    with_slow(|s| {
        // SAFETY: as in `acquired`: read under a hold, written only under an
        // exclusive one.
        let (others, at) = unsafe { (&*atom.others.get(), *atom.released_at.get()) };
        s.others.join(others);
        if s.others.get(releaser) < at {
            s.others.set(releaser, at);
        }
    });
    t.generation.set(t.generation.get() + 1);
}

/// An exclusive acquisition closing a region: what it finds.
#[cold]
#[inline(never)]
fn check(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    implicit: bool,
    act_site: Option<&'static Location<'static>>,
) -> Vec<Finding> {
    let me = t.actor();
    // SAFETY: read under this thread's hold; written only under an exclusive one.
    let last = meta
        .atom_if_any()
        .and_then(|atom| unsafe { *atom.last_write.get() });
    let pending_site = t.pending_site.get();
    let explicit = t.depth.get() > 0;
    let found = with_slow(|s| {
        let mut found = Vec::new();
        if implicit {
            found.extend(finding(
                me,
                &s.others,
                last,
                pending_site,
                Hold::Shared,
                act_site,
                false,
            ));
        }
        if explicit {
            if let Some(r) = s.take_explicit(id) {
                found.extend(finding(me, &r.others, last, r.site, r.hold, act_site, true));
                s.spare.push(r.others);
            }
        }
        found
    });
    found.into_iter().flatten().collect()
}

/// Called before `meta` (instance `id`, held in mode `hold`, taken at `site`)
/// is released.
///
/// A write (an exclusive release) is recorded only when some region could
/// check it: the lock is *watched* (a shared guard of it was released, which
/// opens implicit regions) or an `atomic_region` is open somewhere. A write
/// that matters comes after the release that opened its region, and that
/// release happens before the writer's acquisition, so the writer sees the
/// mark or the count. Unrecorded writes leave the block as it was: its last
/// write and its clock always come from the same recorded release, so an
/// acquisition that joined that clock never mistakes that write for an
/// interleaving one. Locks only ever held exclusively outside regions (most
/// mutexes) thus cost no clock work at all.
#[inline]
pub(crate) fn released(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) {
    // The common case, kept small: an exclusive release of an unwatched lock
    // outside any region, with no implicit region open, records nothing.
    if hold == Hold::Exclusive && t.quiet_release(meta) {
        return;
    }
    released_recording(t, meta, id, hold, site);
}

#[inline(never)]
fn released_recording(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) {
    t.recheck.set(false);
    if hold == Hold::Exclusive {
        t.pending.set(0);
        if meta.watched() || REGIONS.load(Ordering::Relaxed) != 0 {
            write(t, t.actor(), meta.atom(), site);
        }
    } else {
        if !meta.watched() {
            meta.mark_watched();
        }
        t.pending.set(id);
        t.pending_site.set(site);
    }
    if t.depth.get() > 0 {
        open_explicit(id, hold, site);
    }
}

/// Ends the explicit check of `id` on this thread without judging it.
#[cold]
#[inline(never)]
fn forget_explicit(id: u64) {
    with_slow(|s| {
        if let Some(r) = s.take_explicit(id) {
            s.spare.push(r.others);
        }
    });
}

/// [`recheck`](crate::recheck) on this thread: the next acquisition is not
/// judged, if a region is open (else there is nothing to judge).
pub(crate) fn recheck(t: &AtomThread) {
    if t.pending.get() != 0 || t.depth.get() > 0 {
        t.recheck.set(true);
    }
}

/// A release inside `atomic_region`: opens (or reopens) the check of `id`.
#[cold]
#[inline(never)]
fn open_explicit(id: u64, hold: Hold, site: Option<&'static Location<'static>>) {
    with_slow(|s| {
        let r = Region {
            lock: id,
            site,
            hold,
            others: s.snapshot(),
        };
        match s.explicit.iter().position(|r| r.lock == id) {
            Some(i) => {
                let old = std::mem::replace(&mut s.explicit[i], r);
                s.spare.push(old.others);
            }
            None => s.explicit.push(r),
        }
    });
}

/// Called before an exclusive hold of `meta`, taken at `site`, is
/// downgraded to shared: the exclusive hold wrote the lock.
#[cold]
#[inline(never)]
pub(crate) fn downgrading(
    t: &AtomThread,
    meta: &LockMeta,
    site: Option<&'static Location<'static>>,
) {
    write(t, t.actor(), meta.atom(), site);
}

/// An exclusive hold of the lock of `atom` ends (or is downgraded): a write.
#[inline]
fn write(t: &AtomThread, me: usize, atom: &LockAtom, site: Option<&'static Location<'static>>) {
    let time = t.time.get() + 1;
    t.time.set(time);
    // SAFETY: the caller holds the lock exclusively: no other thread reads or
    // writes the block until it is released.
    unsafe {
        *atom.last_write.get() = Some(Write {
            epoch: Epoch::new(me, time),
            site,
        });
        if *atom.releaser.get() != me || *atom.generation.get() != t.generation.get() {
            copy_clock(t, atom);
            *atom.releaser.get() = me;
        }
        *atom.released_at.get() = time;
    }
}

/// Stores this thread's clock of the other actors in the lock's block.
#[cold]
#[inline(never)]
fn copy_clock(t: &AtomThread, atom: &LockAtom) {
    with_slow(|s| {
        // SAFETY: called by `write`, whose caller holds the lock exclusively.
        unsafe {
            (*atom.others.get()).clone_from(&s.others);
            *atom.generation.get() = t.generation.get();
        }
    });
}

/// A check-then-act found at an exclusive acquisition, to be reported.
struct Finding {
    severity: Severity,
    check_site: Option<&'static Location<'static>>,
    check_hold: Hold,
    act_site: Option<&'static Location<'static>>,
    writer: Option<Write>,
    explicit: bool,
}

fn finding(
    me: usize,
    others: &VectorClock,
    last: Option<Write>,
    check_site: Option<&'static Location<'static>>,
    check_hold: Hold,
    act_site: Option<&'static Location<'static>>,
    explicit: bool,
) -> Option<Finding> {
    let writer = last.filter(|w| w.epoch.actor != me && !w.epoch.happens_before(others));
    let severity = match writer {
        Some(_) => Severity::Violation,
        None if warn() => Severity::Warning,
        None => return None,
    };
    Some(Finding {
        severity,
        check_site,
        check_hold,
        act_site,
        writer,
        explicit,
    })
}

impl Finding {
    fn emit(self, meta: &LockMeta) {
        let check_site = self.check_site.map(Site::from);
        let act_site = self.act_site.map(Site::from);
        if !REPORTED
            .lock()
            .insert((self.severity, check_site, act_site))
        {
            return;
        }
        let name = |actor: usize| -> String {
            NAMES
                .lock()
                .get(actor)
                .cloned()
                .unwrap_or_else(|| format!("#{actor}"))
        };
        let class = meta.class();
        let report = AtomicityReport {
            severity: self.severity,
            lock: LockInfo::of_class(meta.kind(), class, Some(meta.id())),
            thread: crate::sync::thread_name(),
            check_site,
            check_hold: self.check_hold,
            act_site,
            interleaving: self.writer.map(|w| Interleaving {
                thread: name(w.epoch.actor),
                site: w.site.map(Site::from),
            }),
            explicit_region: self.explicit,
        };
        crate::policy::emit(report);
    }
}

impl Report for AtomicityReport {
    fn event(&self, text: &str) -> bool {
        crate::delivery::event!(tracing::Level::WARN, severity = ?self.severity, "{text}")
    }

    /// A violation is found after the write lock was taken: a panic there
    /// would leave the lock locked, so `panic` delivers like `warn`; and
    /// `abort` aborts on violations only (a warning is delivered).
    fn disposal(&self, policy: OnCycle) -> Disposal {
        match policy {
            OnCycle::Off => Disposal::Drop,
            OnCycle::Abort if self.severity == Severity::Violation => {
                Disposal::Abort("LOCKGRAPH_ON_CYCLE=abort")
            }
            _ => Disposal::Deliver,
        }
    }
}

/// Runs `f` and returns the atomicity reports raised on this thread while it
/// ran, instead of printing them ([`crate::capture_reports`] of
/// [`AtomicityReport`]; [`crate::capture`] collects lock-order reports).
/// Captures nest; the innermost one gets the reports; the capture ends even
/// when `f` panics.
pub fn capture_atomicity(f: impl FnOnce()) -> Vec<AtomicityReport> {
    crate::policy::capture_reports::<AtomicityReport>(f)
}

/// Opens an `atomic_region` on this thread (`crate::region`): the
/// outermost one counts in [`REGIONS`], before any release inside it, so
/// writers that acquire the lock after such a release see the count.
pub(crate) fn enter_region(t: &AtomThread) {
    if t.depth.get() == 0 {
        REGIONS.fetch_add(1, Ordering::Relaxed);
    }
    t.depth.set(t.depth.get() + 1);
}

/// Closes the innermost `atomic_region`; the outermost one ends every check
/// opened inside it.
pub(crate) fn exit_region(t: &AtomThread) {
    let depth = t.depth.get() - 1;
    t.depth.set(depth);
    if depth == 0 {
        if t.pending.get() == 0 {
            t.recheck.set(false);
        }
        REGIONS.fetch_sub(1, Ordering::Relaxed);
        with_slow(|s| {
            while let Some(r) = s.explicit.pop() {
                s.spare.push(r.others);
            }
        });
    }
}

/// Frees a lock's block, if it has one (the lock is being dropped).
pub(crate) fn free(meta: &mut LockMeta) {
    let atom = *meta.atom.get_mut();
    if !atom.is_null() {
        // SAFETY: a non-null block came from `Box::into_raw` of a `LockAtom`
        // in `LockMeta::atom`, and the lock is being dropped, so no thread
        // holds or uses it.
        drop(unsafe { Box::from_raw(atom.cast::<LockAtom>()) });
    }
}

/// The checker's per-lock block, kept in [`LockMeta`] as an untyped pointer
/// (identity does not depend on the checker): always null or a
/// `Box<LockAtom>` made by [`LockMeta::atom`].
impl LockMeta {
    /// The atomicity checker's state for this lock, if it has any yet.
    #[inline]
    pub(crate) fn atom_if_any(&self) -> Option<&LockAtom> {
        let p = self.atom.load(Ordering::Acquire).cast::<LockAtom>();
        // SAFETY: a non-null `p` is a live `LockAtom` from `Box::into_raw`,
        // freed only when the lock is dropped, which cannot happen while
        // `self` is borrowed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The atomicity checker's state for this lock, allocated on first use.
    #[inline]
    pub(crate) fn atom(&self) -> &LockAtom {
        let mut p = self.atom.load(Ordering::Acquire).cast::<LockAtom>();
        if p.is_null() {
            p = self.alloc_atom();
        }
        // SAFETY: `p` is a live `LockAtom` from `Box::into_raw`, freed only
        // when the lock is dropped, which cannot happen while `self` is
        // borrowed.
        unsafe { &*p }
    }

    #[cold]
    #[inline(never)]
    fn alloc_atom(&self) -> *mut LockAtom {
        let fresh = Box::into_raw(Box::new(LockAtom::new()));
        match self.atom.compare_exchange(
            std::ptr::null_mut(),
            fresh.cast::<()>(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` was made above and never shared.
                drop(unsafe { Box::from_raw(fresh) });
                winner.cast::<LockAtom>()
            }
        }
    }
}
