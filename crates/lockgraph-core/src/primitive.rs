//! The one seam for a blocking primitive.
//!
//! A primitive (a raw lock of the facade, a condition variable, a `Once`,
//! and later an async lock, a channel, a semaphore, a join) implements the
//! small [`Blocking`] trait: what it does *without* lockgraph. The functions
//! of this module own the whole protocol around it, in one place, so that a
//! new primitive cannot forget a step and every feature sees every
//! primitive:
//!
//! 1. the lock-order graph's check *before* anything can block (the edges
//!    "held -> this", a cycle reported before the wait), with the call site
//!    the caller gave or the pending site (`__private::set_pending_site`);
//! 2. with every optional feature off: the raw operation, nothing more;
//! 3. otherwise one non-blocking attempt first; if it fails and the
//!    watchdog is on, the wait is registered (who waits for what, in which
//!    mode, since when, until when) and the primitive blocks in slices, so
//!    a late waiter captures its own stack; with the profile on, the wait is
//!    timed (only when the first attempt failed: an uncontended acquisition
//!    reads no clock) and the acquisition counted;
//! 4. the hold pushed on the thread's held-lock stack (which the watchdog
//!    reads, the profile samples, the atomicity checker sees); a
//!    timed attempt that gave up is forgotten instead.
//!
//! A [`WaitMode`] says what the operation is: the request the graph records,
//! the hold it takes, and (in the watchdog) which holders keep it out.
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use lockgraph_core::primitive::{self, Blocking, Deadline, WaitMode};
//! use lockgraph_core::{capture, Class, LockKind, LockMeta};
//!
//! /// A spin lock: the raw operations, nothing about tracking.
//! struct Spin(AtomicBool);
//!
//! impl Blocking for Spin {
//!     fn try_now(&self) -> bool {
//!         !self.0.swap(true, Ordering::Acquire)
//!     }
//!     fn block(&self) {
//!         while !self.try_now() {
//!             std::hint::spin_loop();
//!         }
//!     }
//!     fn block_until(&self, deadline: Deadline) -> bool {
//!         let end = deadline.instant();
//!         loop {
//!             if self.try_now() {
//!                 return true;
//!             }
//!             if end.is_some_and(|e| std::time::Instant::now() >= e) {
//!                 return false;
//!             }
//!         }
//!     }
//! }
//!
//! let (a, b) = (Spin(AtomicBool::new(false)), Spin(AtomicBool::new(false)));
//! let ma = LockMeta::new(LockKind::Other, Class::Named("spin-doc-a"));
//! let mb = LockMeta::new(LockKind::Other, Class::Named("spin-doc-b"));
//! let lock = |m: &LockMeta, s: &Spin| primitive::acquire(m, s, WaitMode::Lock, None);
//! let unlock = |m: &LockMeta, s: &Spin| {
//!     primitive::release(m, WaitMode::Lock);
//!     s.0.store(false, Ordering::Release);
//! };
//! let reports = capture(|| {
//!     lock(&ma, &a);
//!     lock(&mb, &b);
//!     unlock(&mb, &b);
//!     unlock(&ma, &a);
//!     lock(&mb, &b);
//!     lock(&ma, &a); // the other order: reported before it spins
//!     unlock(&ma, &a);
//!     unlock(&mb, &b);
//! });
//! if lockgraph_core::TRACKING {
//!     assert_eq!(reports.len(), 1);
//! }
//! ```

use std::panic::Location;
use std::time::{Duration, Instant};

use crate::features::{self, PROFILE, WATCHDOG};
use crate::meta::LockMeta;
use crate::profile::{self, Access};
use crate::report::{Hold, Request};
use crate::watchdog;

pub use crate::watchdog::WaitMode;

/// When a timed wait gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// After this long from now.
    After(Duration),
    /// At this instant.
    At(Instant),
}

impl Deadline {
    /// The instant it names (`None`: too far to represent, i.e. never).
    pub fn instant(self) -> Option<Instant> {
        match self {
            Deadline::After(d) => Instant::now().checked_add(d),
            Deadline::At(i) => Some(i),
        }
    }
}

/// The raw side of a blocking primitive: its operations without any
/// tracking. lockgraph calls them from the functions of this module, which
/// do everything else.
pub trait Blocking {
    /// Tries once, without blocking; whether it succeeded.
    fn try_now(&self) -> bool;

    /// The first attempt of a blocking acquisition (the lean mode's, in
    /// `lean_take`): whether it took the primitive. The default is
    /// [`try_now`](Self::try_now). A primitive whose `try_now` costs more
    /// than its blocking operation's fast path may take that fast path
    /// instead, and on failure a slow path that does not block for long:
    /// a mutex's is `try_lock_for(0)`, which reads the clock, spins (up to
    /// seven `yield`s) and parks with a deadline already passed before it
    /// fails, and may succeed in doing so. Never followed by
    /// [`undo_try`](Self::undo_try).
    #[inline(always)]
    fn attempt(&self) -> bool {
        self.try_now()
    }

    /// Blocks until it succeeds.
    fn block(&self);

    /// Blocks until it succeeds or `deadline` passes; whether it succeeded.
    /// The watchdog calls it with short deadlines (slices) while the wait
    /// is registered, unless [`WHOLE`](Self::WHOLE).
    fn block_until(&self, deadline: Deadline) -> bool;

    /// Whether a wait must not be cut into slices: a wait that claims
    /// something as it starts, which a timed wait gives back when it gives
    /// up. parking_lot's writer (a `write`, an `upgrade`) sets its bit as
    /// soon as it waits for the readers to leave, and new readers then wait
    /// behind it; a timed wait that runs out clears the bit and wakes them.
    /// Cut into slices, such a wait would let readers in at every slice's
    /// end: a reader queued behind a waiting writer, which hangs with
    /// parking_lot, would get through, and a deadlock would come and go with
    /// the watchdog on. The watchdog then spins as parking_lot does before
    /// it parks, trying [`try_now`](Self::try_now), and waits with one
    /// [`block`](Self::block) (or one [`block_until`](Self::block_until) for
    /// a timed request), the waiter's stack captured before it. The
    /// default: slices are fine.
    const WHOLE: bool = false;

    /// Whether [`undo_try`](Self::undo_try) gives back what a successful
    /// [`try_now`](Self::try_now) took. A primitive that can (a mutex, a
    /// write lock) lets [`acquire`] try an exclusive request once before
    /// recording it when the request may be an edge into a fresh lock of
    /// the held lock's class: such an edge needs no graph lock and no search
    /// (see `global::young` in the design notes), and the lock's state can
    /// only be read once it is held. The default: it cannot.
    const UNDO: bool = false;

    /// Gives back what a successful [`try_now`](Self::try_now) just took,
    /// before anything else saw it (only called when [`UNDO`](Self::UNDO)
    /// is `true`; the default does nothing).
    fn undo_try(&self) {}
}

/// A reference to a primitive is one: the functions of this module take
/// their primitive by value, so that a small adapter (a reference to the
/// raw lock, one word) travels in a register, never through memory.
impl<T: Blocking + ?Sized> Blocking for &T {
    #[inline(always)]
    fn try_now(&self) -> bool {
        (**self).try_now()
    }

    #[inline(always)]
    fn attempt(&self) -> bool {
        (**self).attempt()
    }

    #[inline(always)]
    fn block(&self) {
        (**self).block()
    }

    #[inline(always)]
    fn block_until(&self, deadline: Deadline) -> bool {
        (**self).block_until(deadline)
    }

    const UNDO: bool = T::UNDO;

    #[inline(always)]
    fn undo_try(&self) {
        (**self).undo_try()
    }
}

/// The site of the operation: the one given, else the pending site the
/// caller's newtype set (a lock_api path without `#[track_caller]`).
#[inline]
fn site_or_pending(site: Option<&'static Location<'static>>) -> Option<&'static Location<'static>> {
    site.or_else(crate::state::pending_site)
}

impl WaitMode {
    /// The profile's read/write split for a hold taken in this mode.
    fn access(self) -> Access {
        match self.hold() {
            Hold::Exclusive => Access::Write,
            Hold::Shared | Hold::Upgradable => Access::Read,
        }
    }
}

/// The lock-order graph's check before a blocking or timed request of
/// `meta` in `mode`.
#[inline(always)]
fn before_wait(meta: &LockMeta, mode: WaitMode, site: Option<&'static Location<'static>>) {
    async_holds_request(features::active(), meta, mode, site);
    if mode == WaitMode::UpgradableRead {
        meta.before_wait_upgradable(site);
    } else {
        meta.before_wait(mode.request(), site);
    }
}

/// A task (or thread) holding async locks: their edges into `meta`. Every
/// path of [`acquire`] calls it before anything can block, the fresh-lock
/// path included; `active`: the features' byte ([`features::ASYNC`] says
/// whether an async lock was ever taken).
#[inline(always)]
fn async_holds_request(
    active: u8,
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) {
    if active & features::ASYNC != 0 {
        crate::task::sync_request(meta, mode.request(), site);
    }
}

/// The hold taken in `mode` (an upgradable read as such); `hooks`: the
/// features with hooks that are on.
#[inline(always)]
fn acquired(meta: &LockMeta, mode: WaitMode, site: Option<&'static Location<'static>>, hooks: u8) {
    if mode == WaitMode::UpgradableRead {
        meta.acquired_upgradable(site);
    } else {
        meta.acquired_with(mode.hold(), site, hooks);
    }
}

/// Runs `acquire`, a blocking acquisition through a raw lock trait's method
/// (`lock_api::RawMutex::lock`, `RawRwLock::lock_shared`, ...), which has
/// no site of its own. The facade's calls through lock_api leave the
/// caller's site pending first and make the guard only after the call: a
/// policy panic comes before the lock is taken, as on every path. Without
/// a pending site the caller is lock_api re-locking at the end of a guard's
/// `unlocked` (a guard of the lock outlives the call), or code generic over
/// lock_api (none does): under the `panic` policy such a call's report is
/// delivered instead (`policy::without_panic`), and the lock taken.
#[inline]
pub fn raw_acquire(acquire: impl FnOnce()) {
    if crate::state::pending_site().is_some() {
        acquire()
    } else {
        crate::policy::without_panic(acquire)
    }
}

/// Takes `p` (whose identity is `meta`) in `mode`, blocking, asked at
/// `site`: the whole protocol (see the module docs).
///
/// With the graph on and nothing else, an acquisition the held-lock stack
/// has seen before at this depth, in this mode, on the same locks below
/// (`LockMeta::steady`) is the raw operation and two stores; the features'
/// byte is not loaded for it: the steady test ors the features' tag into
/// the slot word it expects (`features::steady_tag`), and a feature on
/// matches no slot. The rest goes the general way, chosen by the byte.
#[inline(always)]
pub fn acquire<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) {
    if features::LEAN_FIRST {
        // A `watchdog-in-release` build, whose default is the lean mode:
        // its steady case here, inlined, with the lean tag (the features'
        // byte folded into the compare as the steady case folds its own).
        // Each way its own copy of `lean_take` (the depth known, or no
        // depth): one test of the steady answer, none after the attempt.
        if let Some(len) = meta.lean_steady_now(mode) {
            return lean_take(meta, p, mode, site, Some(len));
        }
        if features::raw() == features::LEAN {
            // The slot to rewrite (another lock in it, or the stack full).
            return lean_take(meta, p, mode, site, None);
        }
        // The other modes of that build, out of line.
        return acquire_out_of_line(meta, p, mode, site);
    }
    acquire_not_lean(meta, p, mode, site);
}

/// [`acquire_not_lean`] called, not inlined (see [`acquire`]), and cold:
/// in a build that puts the lean mode first, the lean path is the one laid
/// out straight through to the code after the acquisition.
#[cold]
#[inline(never)]
fn acquire_out_of_line<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) {
    acquire_not_lean(meta, p, mode, site);
}

/// [`acquire`] in a mode other than the lean one inlined first: the steady
/// test with the features' tag, then the way the features' byte says.
#[inline(always)]
fn acquire_not_lean<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) {
    let tag = features::steady_tag();
    if let Some(depth) = meta.steady(mode, tag) {
        p.block();
        meta.push_steady(depth, site);
        return;
    }
    if tag == 0 {
        // The graph on and nothing else (the byte was 0 when the tag was
        // written): the general way with that known, the steady test not
        // made again.
        return acquire_general(meta, p, mode, site, 0, true);
    }
    let raw = features::raw();
    // The graph off alone, and the atomicity checker alone (settled): each
    // its own copy of the general way, the features known. Everything else
    // (the watchdog, the profile, several features, async locks seen, the
    // byte unsettled) is cold: so marked, the inlined code at a lock site
    // keeps its registers for the steady case (a `track-in-release` one
    // lock 38 -> 35 instructions); the graph-off and checker paths marked
    // cold too cost those modes 15% to 37% (`docs/cost.md`, the hot path's
    // fifth round).
    match raw {
        features::NO_ORDER => {
            return acquire_general(meta, p, mode, site, features::NO_ORDER, false);
        }
        features::ATOMICITY => {
            return acquire_general(meta, p, mode, site, features::ATOMICITY, false);
        }
        _ => {}
    }
    crate::sync::cold_path();
    // Settled: the byte already loaded is the features'.
    let active = if raw & features::UNSETTLED == 0 {
        raw
    } else {
        features::active()
    };
    acquire_general(meta, p, mode, site, active, false);
}

/// [`acquire`] past its steady case; `active`: the features' byte;
/// `unsteady`: the steady case was looked for and is not this one (so the
/// graph is on, and the held-lock state need not look again).
#[inline(always)]
fn acquire_general<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    active: u8,
    unsteady: bool,
) {
    let f = active & features::HOOKS;
    async_holds_request(active, meta, mode, site);
    if P::UNDO && matches!(mode, WaitMode::Lock | WaitMode::Write) {
        if meta.before_wait_fresh(site, unsteady) && fresh(meta, &p, mode, site) {
            acquired(meta, mode, site, f);
            return;
        }
    } else if mode == WaitMode::UpgradableRead {
        meta.before_wait_upgradable(site);
    } else {
        meta.before_wait(mode.request(), site);
    }
    if f == 0 {
        p.block();
    } else if active == features::LEAN {
        lean_acquire(meta, p, mode, site);
        return;
    } else if f & PROFILE != 0 || !p.try_now() {
        // The profile counts every acquisition, so it always goes the long
        // way; otherwise only a contended one does.
        acquire_with_features(meta, p, mode, site);
    }
    acquired(meta, mode, site, f);
}

/// [`acquire`] in the lean production mode (the watchdog alone, the graph
/// off, so the check above recorded nothing), in a build that does not put
/// it first. Out of line, so that the other modes' inlined path stays as
/// small as before.
#[inline(never)]
fn lean_acquire<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) {
    // The mode known to be the lean one: its tag, not the features' word.
    let steady = meta.lean_steady(mode, features::LEAN_TAG);
    lean_take(meta, p, mode, site, steady);
}

/// The lean mode's acquisition once its steady test said `steady` (the
/// depth, when the slot at the stack's length already holds the lock's
/// lean word): an uncontended acquisition is the raw attempt and the hold
/// pushed (`state::lean`: the site and the length, after the slot's
/// rewrite when it was not steady); a contended one registers its wait
/// with the watchdog. For [`acquire`] (inlined where the build puts the
/// lean mode first) and [`lean_acquire`].
#[inline(always)]
fn lean_take<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    steady: Option<usize>,
) {
    if !p.attempt() {
        lean_contended(meta, p, mode, site);
        return;
    }
    match steady {
        Some(len) => meta.lean_push_steady(len, site),
        None => meta.lean_acquired_unsteady(mode, site),
    }
}

/// The lean mode's contended acquisition (its wait registered with the
/// watchdog), out of line: the inlined lean path keeps only the attempt and
/// the push.
#[cold]
#[inline(never)]
fn lean_contended<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) {
    acquire_with_features(meta, p, mode, site);
    acquired(meta, mode, site, features::hooks());
}

/// An exclusive request the held-lock state left unrecorded (it may be an
/// edge into a fresh lock of the held lock's class): one attempt; taken and
/// the lock without an edge anywhere, its edge is buffered (`true`: it is
/// held); otherwise it is given back and the edges are recorded the usual
/// way, before [`acquire`] blocks (`false`).
#[cold]
#[inline(never)]
fn fresh<P: Blocking>(
    meta: &LockMeta,
    p: &P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) -> bool {
    if p.try_now() {
        if meta.commit_fresh(site) {
            if features::hooks() & PROFILE != 0 {
                profile::acquired(meta, mode.access(), None);
            }
            return true;
        }
        p.undo_try();
    }
    meta.record_fresh(site);
    false
}

/// The watchdog's and the profile's part of [`acquire`].
#[cold]
#[inline(never)]
fn acquire_with_features<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) {
    let f = features::hooks();
    let block = || {
        block_for(meta, &p, mode, site, None);
    };
    if f & PROFILE != 0 {
        if p.try_now() {
            profile::acquired(meta, mode.access(), None);
        } else {
            let t = Instant::now();
            block();
            profile::acquired(meta, mode.access(), Some(t.elapsed()));
        }
    } else if !p.try_now() {
        block();
    }
}

/// Takes `p` in `mode`, giving up at `deadline`; whether it was taken. A
/// request that gave up leaves no hold (and no "checked" mark).
#[inline]
pub fn acquire_until<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    deadline: Deadline,
) -> bool {
    before_wait(meta, mode, None);
    let ok = if features::hooks() & WATCHDOG != 0 {
        p.try_now() || wait_until(meta, p, mode, None, deadline)
    } else {
        p.block_until(deadline)
    };
    if ok {
        took(meta, mode);
    } else {
        meta.abandoned();
    }
    ok
}

/// A wait registered with the watchdog, until `deadline`.
#[cold]
#[inline(never)]
fn wait_until<P: Blocking>(
    meta: &LockMeta,
    p: P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    deadline: Deadline,
) -> bool {
    watched(meta, &p, mode, site_or_pending(site), deadline.instant())
}

/// `p`'s blocking wait in `mode`, until `deadline` (`None`: until it
/// succeeds), asked at `site` (else the pending site); [`watched`] when the
/// watchdog is on. Whether it succeeded.
pub(crate) fn block_for<P: Blocking>(
    meta: &LockMeta,
    p: &P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    deadline: Option<Deadline>,
) -> bool {
    if features::hooks() & WATCHDOG != 0 {
        watched(
            meta,
            p,
            mode,
            site_or_pending(site),
            deadline.and_then(Deadline::instant),
        )
    } else {
        block_until(p, deadline)
    }
}

/// `p`'s blocking wait, until `deadline` (`None`: until it succeeds);
/// whether it succeeded.
fn block_until<P: Blocking>(p: &P, deadline: Option<Deadline>) -> bool {
    match deadline {
        None => {
            p.block();
            true
        }
        Some(d) => p.block_until(d),
    }
}

/// `p`'s wait in `mode`, asked at `site`, registered with the watchdog,
/// until `deadline` (`None`: until it succeeds); whether it succeeded. In
/// slices, between which the waiter captures its stack once it is late,
/// unless `P` must wait whole ([`Blocking::WHOLE`]).
pub(crate) fn watched<P: Blocking>(
    meta: &LockMeta,
    p: &P,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    deadline: Option<Instant>,
) -> bool {
    if P::WHOLE {
        // The stack capture before a whole wait costs microseconds: a short
        // wait is taken by spinning first, as parking_lot's own slow path
        // would before it parks.
        // Not when the deadline has passed (a `try_write_for(0)`): its wait
        // spins as parking_lot's does, once.
        if deadline.is_none_or(|d| Instant::now() < d) && spin_try(p) {
            return true;
        }
        watchdog::wait_lock_whole(meta, mode, site, deadline, || {
            block_until(p, deadline.map(Deadline::At))
        })
    } else {
        watchdog::wait_lock(meta, mode, site, deadline, |slice| {
            p.block_until(Deadline::After(slice))
        })
    }
}

/// parking_lot's spin before it parks (`parking_lot_core::SpinWait`: three
/// rounds of 2, 4 and 8 spin-loop hints, then seven `yield`s), with `p`
/// tried after each round; whether it took `p`. It claims nothing while it
/// spins (a writer's bit is set only by the wait that follows), so it is
/// the same as a request made a few microseconds later. Not under loom,
/// whose model would explore every try.
fn spin_try<P: Blocking>(p: &P) -> bool {
    if cfg!(loom) {
        return false;
    }
    for round in 0..10u32 {
        if round < 3 {
            for _ in 0..(2u32 << round) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        if p.try_now() {
            return true;
        }
    }
    false
}

/// Tries to take `p` in `mode` without blocking; whether it did. A try
/// never waits, so it records no edge into `meta` (its hold records edges
/// from it later, as any hold).
#[inline]
pub fn try_acquire<P: Blocking>(meta: &LockMeta, p: P, mode: WaitMode) -> bool {
    let ok = p.try_now();
    if ok {
        took(meta, mode);
    }
    ok
}

/// A hold taken without a blocking wait in the profile's sense (a try, a
/// timed attempt): counted, and pushed.
#[inline]
fn took(meta: &LockMeta, mode: WaitMode) {
    let f = features::hooks();
    if f & PROFILE != 0 {
        profile::acquired(meta, mode.access(), None);
    }
    acquired(meta, mode, None, f);
}

/// Call before the raw release of a hold taken in `mode`.
#[inline(always)]
pub fn release(meta: &LockMeta, mode: WaitMode) {
    match mode {
        WaitMode::Read | WaitMode::RecursiveRead => meta.released_read(),
        WaitMode::UpgradableRead => meta.released_upgradable(),
        _ => meta.released(),
    }
}

/// Releases the mutex `meta`, exclusively held, for a condition variable's
/// wait (in the wait's step before it sleeps, on the waiting thread): a
/// [`release`] that the atomicity checker knows for a wait's, so that the
/// re-acquisition when the wait returns ([`relock_after_wait`]) is not
/// judged as the act of a check-then-act inside an `atomic_region`.
#[inline]
pub fn release_for_wait(meta: &LockMeta) {
    if crate::atomicity::on() {
        crate::atomicity::condvar_release(crate::state::atom_thread(), || meta.released());
    } else {
        meta.released();
    }
}

/// Upgrades the thread's upgradable read of `meta` to exclusive, `p` being
/// the upgrade's raw operations; until `deadline` when given. Whether it
/// upgraded. The other held locks get their edges to `meta` first (an
/// upgrade waits for every other reader).
#[inline]
pub fn upgrade<P: Blocking>(meta: &LockMeta, p: P, deadline: Option<Deadline>) -> bool {
    meta.before_upgrade(None);
    let f = features::hooks();
    let mut waited = None;
    let ok = p.try_now() || {
        // The profile times an untimed upgrade's wait, as an acquisition's.
        let start = (f & PROFILE != 0 && deadline.is_none()).then(Instant::now);
        let ok = block_for(meta, &p, WaitMode::Upgrade, None, deadline);
        waited = start.map(|t| t.elapsed());
        ok
    };
    if ok {
        meta.rehold(Hold::Exclusive);
        if f & PROFILE != 0 {
            profile::upgraded(meta, waited);
        }
    }
    ok
}

/// Tries to upgrade the thread's upgradable read of `meta` without
/// blocking; whether it did.
#[inline]
pub fn try_upgrade<P: Blocking>(meta: &LockMeta, p: P) -> bool {
    let ok = p.try_now();
    if ok {
        meta.rehold(Hold::Exclusive);
        if features::hooks() & PROFILE != 0 {
            profile::upgraded(meta, None);
        }
    }
    ok
}

/// A condition variable's wait: `cv` is the condvar's identity, `mutex` the
/// identity of the mutex its guard holds, `park` the raw wait (which
/// releases the mutex once queued and returns without it), ending by
/// `deadline` at the latest. The graph records "every other held lock ->
/// the condvar" before; the watchdog sees the thread waiting for a
/// notification (one park, never slices: a notification between two parks
/// would be lost). The caller takes the mutex back with
/// [`relock_after_wait`].
pub fn wait<R>(
    cv: &LockMeta,
    mutex: &LockMeta,
    site: &'static Location<'static>,
    deadline: Option<Instant>,
    park: impl FnOnce() -> R,
) -> R {
    cv.before_condvar_wait(mutex, Some(site));
    if features::hooks() & WATCHDOG != 0 {
        watchdog::condvar_wait(cv, Some(site), deadline, park)
    } else {
        park()
    }
}

/// Takes `mutex` (raw operations `p`) back after a condition variable's
/// wait, asked at `site`: a blocking exclusive acquisition whose hold is
/// taken even when the policy panics on a report (the caller's guard still
/// exists); the panic is resumed once the hold is recorded. Registered with
/// the watchdog like any lock wait; not counted in the profile (the wait
/// was the condvar's).
pub fn relock_after_wait<P: Blocking>(mutex: &LockMeta, p: P, site: &'static Location<'static>) {
    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mutex.before_wait(Request::Exclusive, Some(site));
    }));
    if features::hooks() & WATCHDOG != 0 {
        if !p.try_now() {
            watched(mutex, &p, WaitMode::Lock, Some(site), None);
        }
    } else {
        p.block();
    }
    mutex.acquired(Hold::Exclusive, Some(site));
    if let Err(panic) = report {
        std::panic::resume_unwind(panic);
    }
}

/// A request of a primitive that blocks until another thread *finishes*
/// with it (a `Once` being initialised): the edges "held -> it" before the
/// wait, asked at `site`. Call [`run_holding`] for the thread that ends up
/// doing the work, and [`requested_only`] for one that only waited.
pub fn request(meta: &LockMeta, site: &'static Location<'static>) {
    meta.before_wait(Request::Exclusive, Some(site));
}

/// Runs `f` holding `meta` exclusively (locks taken in `f` get "meta ->
/// lock" edges); the hold ends when `f` returns or unwinds.
pub fn run_holding<R>(
    meta: &LockMeta,
    site: &'static Location<'static>,
    f: impl FnOnce() -> R,
) -> R {
    struct Running<'a>(&'a LockMeta);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.released();
        }
    }
    meta.acquired(Hold::Exclusive, Some(site));
    let _hold = Running(meta);
    f()
}

/// After a [`request`] that did not take the primitive (it only waited, or
/// a timed wait gave up).
pub fn requested_only(meta: &LockMeta) {
    meta.abandoned();
}

/// Runs `f`, a call that blocks (a channel receive, a join, a stream
/// synchronize), naming it `what`. With profiling on, every lock class this
/// thread holds meanwhile is charged with the call and its duration, and the
/// profile advises moving the call out of the critical section. With the
/// [`watchdog`] on, the call is registered as a wait on the
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
    let site = Location::caller();
    if watchdog::on() {
        return watchdog::blocking(what, site, || profiled_blocking(what, f));
    }
    profiled_blocking(what, f)
}

/// Runs `f`, a wait for the work of whoever holds `meta` now, asked at
/// `site` and given up at `deadline` (a synchronize of a CUDA stream,
/// whose pseudo-lock the executor thread holds while it runs one of the
/// stream's host functions, or of the context's executor, which it holds
/// while it runs any): the watchdog sees a wait on `meta` in
/// [`WaitMode::Join`] (every holder must finish), so that a cycle through
/// the holder (a host function waiting for a lock the synchronizing thread
/// holds) is a DEADLOCK. With no holder (device work, a host function not
/// started yet) the wait waits for no thread. Without the watchdog: as
/// [`blocking`] (the profile counts it, named `what`).
pub fn wait_for_holders<R>(
    meta: &LockMeta,
    what: &'static str,
    site: &'static Location<'static>,
    deadline: Option<Instant>,
    f: impl FnOnce() -> R,
) -> R {
    if watchdog::on() {
        return watchdog::wait_for_holders(meta, what, site, deadline, || {
            profiled_blocking(what, f)
        });
    }
    profiled_blocking(what, f)
}

fn profiled_blocking<R>(what: &'static str, f: impl FnOnce() -> R) -> R {
    if !profile::on() {
        return f();
    }
    let held = crate::state::snapshot();
    let start = Instant::now();
    let r = f();
    if !held.is_empty() {
        profile::blocked_holding(&held, what, start.elapsed());
    }
    r
}

#[cfg(test)]
mod tests;
