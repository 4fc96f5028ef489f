//! Atomicity violations (check-then-act): a decision taken under one guard of
//! a lock and acted on under a later write guard of the same lock, while
//! another thread wrote the lock in between.
//!
//! Off unless `LOCKGRAPH_ATOMICITY` is `on` (report violations) or `warn`
//! (also report the pattern without an interleaving write, as a warning), or
//! [`set_atomicity`] turns it on. Off, it costs one relaxed load of a flag on
//! acquisition and release.
//!
//! "In between" is decided with vector clocks ([`lockgraph_graph::vclock`]):
//! each thread is an actor with its own clock; an acquisition joins the clock
//! left by the lock's last exclusive release; an exclusive release (a write)
//! ticks the thread's clock and stamps the lock with the write's epoch. When a
//! thread re-acquires a lock for writing, the lock's last write is an
//! interleaving write if another thread made it and it does not happen before
//! the re-acquiring thread's clock at the release that opened the region.
//! lockgraph does not see thread spawn and join (it does not wrap
//! `std::thread`), so clocks move only through lockgraph's locks.
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
//! * **Explicit** ([`atomic_region`]): inside the closure every release of a
//!   lock `L`, in any mode, opens a check that lasts until the closure
//!   returns; the next exclusive acquisition of `L` inside the closure (a
//!   `lock`, a `write`) is checked, whatever other locks were taken meanwhile.
//!
//! The per-lock state (the last write and the clock of the last exclusive
//! release) lives in a block that the lock's [`LockMeta`] allocates on first
//! use while detection is on; it is read and written only by threads that
//! hold the lock, and written only under an exclusive hold.

use std::cell::{RefCell, UnsafeCell};
use std::collections::HashSet;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::LazyLock;

use lockgraph_graph::vclock::{Epoch, VectorClock};
use parking_lot::Mutex;

use crate::class::{Class, Site};
use crate::policy::OnCycle;
use crate::report::{Hold, LockInfo};
use crate::state::LockMeta;

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
const OFF: u8 = 1;
const ON: u8 = 2;
const WARN: u8 = 3;

static MODE: AtomicU8 = AtomicU8::new(UNSET);

/// Sets the atomicity checker's mode for the whole process, overriding
/// `LOCKGRAPH_ATOMICITY` (`on`, `warn` or `off`).
pub fn set_atomicity(mode: Atomicity) {
    let v = match mode {
        Atomicity::Off => OFF,
        Atomicity::On => ON,
        Atomicity::Warn => WARN,
    };
    MODE.store(v, Ordering::Relaxed);
    if v != OFF {
        crate::features::noisy();
    }
}

/// The atomicity checker's mode in force.
pub fn atomicity() -> Atomicity {
    if !on() {
        return Atomicity::Off;
    }
    match MODE.load(Ordering::Relaxed) {
        WARN => Atomicity::Warn,
        _ => Atomicity::On,
    }
}

/// Whether the checker runs: one relaxed load once the mode is known.
#[inline(always)]
pub(crate) fn on() -> bool {
    match MODE.load(Ordering::Relaxed) {
        OFF => false,
        UNSET => init(),
        _ => true,
    }
}

#[cold]
fn init() -> bool {
    let v = match std::env::var("LOCKGRAPH_ATOMICITY") {
        Err(_) => OFF,
        Ok(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "off" | "false" => OFF,
            "1" | "on" | "true" => ON,
            "warn" => WARN,
            other => {
                eprintln!("lockgraph: LOCKGRAPH_ATOMICITY: unknown value {other:?} (expected on, warn or off); using on");
                ON
            }
        },
    };
    let _ = MODE.compare_exchange(UNSET, v, Ordering::Relaxed, Ordering::Relaxed);
    MODE.load(Ordering::Relaxed) != OFF
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
    /// Whether the region was marked with [`atomic_region`] (else implicit).
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
            Hold::Shared => "read guard",
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
        writeln!(
            f,
            "  3. thread `{}` acted under a write guard taken at {}",
            self.thread,
            site_str(self.act_site)
        )?;
        let region = if self.explicit_region {
            "an atomic_region"
        } else {
            "one implicit region (no other lock operation between release and write)"
        };
        writeln!(f, "  region: {region}")?;
        write!(
            f,
            "  fix: decide and act under one guard (upgradable_read, then upgrade; or one write guard), or re-check under the write guard"
        )
    }
}

/// The last write of a lock.
#[derive(Clone, Copy)]
struct Write {
    epoch: Epoch,
    site: Option<&'static Location<'static>>,
}

/// Per-lock state, allocated on first use while detection is on.
pub(crate) struct LockAtom {
    /// The clock of the last exclusive release.
    clock: UnsafeCell<VectorClock>,
    last_write: UnsafeCell<Option<Write>>,
    /// The actor of the last exclusive release (usize::MAX: none): an
    /// acquisition by that same actor has nothing to join.
    releaser: UnsafeCell<usize>,
}

impl LockAtom {
    fn new() -> LockAtom {
        LockAtom {
            clock: UnsafeCell::new(VectorClock::new()),
            last_write: UnsafeCell::new(None),
            releaser: UnsafeCell::new(usize::MAX),
        }
    }
}

/// A check waiting for its act.
struct Region {
    lock: u64,
    site: Option<&'static Location<'static>>,
    hold: Hold,
    /// The thread's clock when the check guard was released.
    clock: VectorClock,
}

/// One thread's side: its actor id and clock, and the open regions.
struct Actor {
    id: usize,
    clock: VectorClock,
    /// The implicit region (at most one: any other lock operation ends it).
    pending: Option<Region>,
    /// Nesting depth of `atomic_region`.
    depth: usize,
    /// Checks opened inside `atomic_region`, one per lock.
    explicit: Vec<Region>,
    /// A spare clock allocation, reused for regions.
    spare: Option<VectorClock>,
}

static NEXT_ACTOR: AtomicUsize = AtomicUsize::new(0);

/// Actor names, by id, for reports.
static NAMES: LazyLock<Mutex<Vec<String>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// Reports already made (severity, check site, act site): each once.
type ReportKey = (Severity, Option<Site>, Option<Site>);

static REPORTED: LazyLock<Mutex<HashSet<ReportKey>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

crate::sync::thread_local_const! {
    static ACTOR: RefCell<Option<Actor>> = const { RefCell::new(None) };
}

crate::sync::thread_local_const! {
    static CAPTURES: RefCell<Vec<Vec<AtomicityReport>>> = const { RefCell::new(Vec::new()) };
}

/// Forgets actors and reports (a new loom iteration).
#[cfg(loom)]
pub(crate) fn reset() {
    NEXT_ACTOR.store(0, Ordering::Relaxed);
    NAMES.lock().clear();
    REPORTED.lock().clear();
}

fn new_actor() -> Actor {
    crate::sync::enter_iteration();
    let id = NEXT_ACTOR.fetch_add(1, Ordering::Relaxed);
    let mut names = NAMES.lock();
    if names.len() <= id {
        names.resize(id + 1, String::new());
    }
    names[id] = crate::sync::thread_name();
    drop(names);
    let mut clock = VectorClock::new();
    clock.tick(id);
    Actor {
        id,
        clock,
        pending: None,
        depth: 0,
        explicit: Vec::new(),
        spare: None,
    }
}

fn with_actor<R>(f: impl FnOnce(&mut Actor) -> R) -> Option<R> {
    ACTOR
        .try_with(|a| {
            let mut a = a.try_borrow_mut().ok()?;
            Some(f(a.get_or_insert_with(new_actor)))
        })
        .ok()
        .flatten()
}

impl Actor {
    fn region(
        &mut self,
        lock: u64,
        site: Option<&'static Location<'static>>,
        hold: Hold,
    ) -> Region {
        let mut clock = self.spare.take().unwrap_or_default();
        // Clocks only grow, so joining an older snapshot of this thread's
        // clock yields the current one without allocating.
        clock.join(&self.clock);
        Region {
            lock,
            site,
            hold,
            clock,
        }
    }

    fn recycle(&mut self, r: Option<Region>) {
        if let Some(r) = r {
            self.spare = Some(r.clock);
        }
    }
}

/// Called after `meta` was acquired in mode `hold` (the lock is held).
#[cold]
#[inline(never)]
pub(crate) fn acquired(meta: &LockMeta) {
    let Some((id, hold, site)) = crate::state::tracked_entry(meta) else {
        return;
    };
    let atom = meta.atom();
    let found = with_actor(|a| {
        // SAFETY: the lock is held by this thread; the block is written only
        // under an exclusive hold, so nothing writes it concurrently.
        let (releaser, clock, last) = unsafe {
            (
                *atom.releaser.get(),
                &*atom.clock.get(),
                *atom.last_write.get(),
            )
        };
        if releaser != a.id && releaser != usize::MAX {
            a.clock.join(clock);
        }
        let mut found = Vec::new();
        let pending = a.pending.take();
        if hold == Hold::Exclusive {
            if let Some(r) = pending
                .as_ref()
                .filter(|r| r.lock == id && r.hold == Hold::Shared)
            {
                found.extend(finding(a, r, last, site, false));
            }
            if let Some(i) = a.explicit.iter().position(|r| r.lock == id) {
                let r = a.explicit.swap_remove(i);
                found.extend(finding(a, &r, last, site, true));
                a.recycle(Some(r));
            }
        }
        a.recycle(pending);
        found
    });
    if let Some(found) = found {
        for f in found {
            f.emit(meta);
        }
    }
}

/// Called before `meta` is released (the lock is still held).
#[cold]
#[inline(never)]
pub(crate) fn released(meta: &LockMeta) {
    let Some((id, hold, site)) = crate::state::tracked_entry(meta) else {
        return;
    };
    let atom = meta.atom();
    with_actor(|a| {
        if hold == Hold::Exclusive {
            write(a, atom, site);
        }
        let old = a.pending.take();
        a.recycle(old);
        if hold == Hold::Shared {
            a.pending = Some(a.region(id, site, hold));
        }
        if a.depth > 0 {
            let r = a.region(id, site, hold);
            match a.explicit.iter().position(|r| r.lock == id) {
                Some(i) => {
                    let old = std::mem::replace(&mut a.explicit[i], r);
                    a.recycle(Some(old));
                }
                None => a.explicit.push(r),
            }
        }
    });
}

/// Called before an exclusive hold of `meta` is downgraded to shared: the
/// exclusive hold wrote the lock.
#[cold]
#[inline(never)]
pub(crate) fn downgrading(meta: &LockMeta) {
    let Some((_, _, site)) = crate::state::tracked_entry(meta) else {
        return;
    };
    let atom = meta.atom();
    with_actor(|a| write(a, atom, site));
}

fn write(a: &mut Actor, atom: &LockAtom, site: Option<&'static Location<'static>>) {
    let time = a.clock.tick(a.id);
    // SAFETY: the caller holds the lock exclusively: no other thread reads or
    // writes the block until it is released.
    unsafe {
        *atom.last_write.get() = Some(Write {
            epoch: Epoch::new(a.id, time),
            site,
        });
        // The releaser joined the lock's clock when it acquired it, so the
        // join is a copy (and reuses the allocation).
        (*atom.clock.get()).join(&a.clock);
        *atom.releaser.get() = a.id;
    }
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
    a: &Actor,
    r: &Region,
    last: Option<Write>,
    act_site: Option<&'static Location<'static>>,
    explicit: bool,
) -> Option<Finding> {
    let writer = last.filter(|w| w.epoch.actor != a.id && !w.epoch.happens_before(&r.clock));
    let severity = match writer {
        Some(_) => Severity::Violation,
        None if MODE.load(Ordering::Relaxed) == WARN => Severity::Warning,
        None => return None,
    };
    Some(Finding {
        severity,
        check_site: r.site,
        check_hold: r.hold,
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
            lock: LockInfo {
                kind: meta.kind(),
                name: match class {
                    Class::Named(n) => Some(n),
                    _ => None,
                },
                created: class.site(),
                instance: Some(meta.id()),
            },
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
        crate::state::while_busy(|| deliver(report));
    }
}

fn deliver(report: AtomicityReport) {
    let mut report = Some(report);
    let _ = CAPTURES.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if let Some(v) = c.last_mut() {
                v.extend(report.take());
            }
        }
    });
    let Some(report) = report else { return };
    match crate::policy::on_cycle() {
        OnCycle::Off => {}
        OnCycle::Abort if report.severity == Severity::Violation => {
            eprintln!("{report}");
            eprintln!("lockgraph: aborting (LOCKGRAPH_ON_CYCLE=abort)");
            std::process::abort();
        }
        // A violation is found after the write lock was taken: a panic there
        // would leave the lock locked, so `panic` warns like `warn`.
        _ => warn(&report),
    }
}

fn warn(report: &AtomicityReport) {
    let has_subscriber =
        tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>());
    if has_subscriber {
        tracing::warn!(target: "lockgraph", severity = ?report.severity, "{report}");
    } else {
        eprintln!("{report}");
    }
}

/// Runs `f` and returns the atomicity reports raised on this thread while it
/// ran, instead of printing them (the counterpart of [`crate::capture`],
/// which collects lock-order reports). Captures nest; the innermost one gets
/// the reports; the capture ends even when `f` panics.
pub fn capture_atomicity(f: impl FnOnce()) -> Vec<AtomicityReport> {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            let _ = CAPTURES.try_with(|c| c.borrow_mut().pop());
        }
    }
    CAPTURES.with(|c| c.borrow_mut().push(Vec::new()));
    let pop = Pop;
    f();
    std::mem::forget(pop);
    CAPTURES.with(|c| c.borrow_mut().pop().unwrap_or_default())
}

/// Runs `f` as one atomic region for the atomicity checker: inside it, a
/// release of any lock followed by an exclusive acquisition of the same lock
/// is a check-then-act, whatever else happens in between (see the module
/// docs of the facade, or `docs/loom.md`). Regions nest; the outermost one
/// ends them. With the checker off, it only runs `f`.
///
/// ```
/// let counter = lockgraph_core::LockMeta::new(
///     lockgraph_core::LockKind::Mutex,
///     lockgraph_core::Class::Named("doc-counter"),
/// );
/// let n = lockgraph_core::atomic_region(|| 41 + 1);
/// assert_eq!(n, 42);
/// # drop(counter);
/// ```
pub fn atomic_region<R>(f: impl FnOnce() -> R) -> R {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            with_actor(|a| {
                a.depth -= 1;
                if a.depth == 0 {
                    while let Some(r) = a.explicit.pop() {
                        a.recycle(Some(r));
                    }
                }
            });
        }
    }
    if !on() || with_actor(|a| a.depth += 1).is_none() {
        return f();
    }
    let _exit = Exit;
    f()
}

/// Frees a lock's block (the lock is being dropped).
pub(crate) fn free(atom: *mut LockAtom) {
    // SAFETY: `atom` came from `Box::into_raw` in `LockMeta::atom` and the
    // lock is being dropped, so no thread holds or uses it.
    drop(unsafe { Box::from_raw(atom) });
}

/// Allocates a block for a lock (on first use while detection is on).
pub(crate) fn alloc() -> *mut LockAtom {
    Box::into_raw(Box::new(LockAtom::new()))
}
