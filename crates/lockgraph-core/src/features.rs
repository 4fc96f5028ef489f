//! One word for "which optional features are on", so the lock path checks one
//! relaxed load instead of one per feature (profile, watchdog, atomicity),
//! and the features' slow paths test bits of the value already loaded. The
//! same word says whether the lock-order graph is off.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// The contention profile is on.
pub(crate) const PROFILE: u8 = 1;
/// The watchdog is on.
pub(crate) const WATCHDOG: u8 = 2;
/// The atomicity checker is on.
pub(crate) const ATOMICITY: u8 = 4;
/// The lock-order graph is off ([`crate::order`]): not a hook of its own.
pub(crate) const NO_ORDER: u8 = 8;
/// The features with acquisition and release hooks.
pub(crate) const HOOKS: u8 = PROFILE | WATCHDOG | ATOMICITY;
/// The features have not been looked at since the last change.
const UNSETTLED: u8 = 0x80;

static ACTIVE: AtomicU8 = AtomicU8::new(UNSETTLED);
/// Moved on by every change of a feature, so that a settle racing with a
/// change does not keep a stale value.
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// The optional features that are on, as a mask of [`PROFILE`], [`WATCHDOG`]
/// and [`ATOMICITY`], plus [`NO_ORDER`]: one relaxed load once settled.
#[inline(always)]
pub(crate) fn active() -> u8 {
    let m = ACTIVE.load(Ordering::Relaxed);
    if m & UNSETTLED == 0 {
        m
    } else {
        settle()
    }
}

/// Whether every optional feature (profile, watchdog, atomicity checks) is
/// off, the common case: lock types check this one flag before looking at
/// each feature.
#[inline(always)]
pub fn quiet() -> bool {
    hooks() == 0
}

/// The features with hooks that are on ([`active`] without [`NO_ORDER`]).
#[inline(always)]
pub(crate) fn hooks() -> u8 {
    active() & HOOKS
}

/// Whether acquisitions are recorded into the lock-order graph.
#[inline]
pub(crate) fn order() -> bool {
    active() & NO_ORDER == 0
}

#[cold]
fn settle() -> u8 {
    // The first lock use: a recording process writes its record file's
    // header now, even if it never records an edge (docs/record-format.md).
    crate::record::start();
    loop {
        let before = CHANGES.load(Ordering::SeqCst);
        // Each `on()` reads its environment variable the first time.
        let mut m = 0;
        if crate::profile::on() {
            m |= PROFILE;
        }
        if crate::watchdog::on() {
            m |= WATCHDOG;
        }
        if crate::atomicity::on() {
            m |= ATOMICITY;
        }
        if !crate::order::order_graph() {
            m |= NO_ORDER;
        }
        ACTIVE.store(m, Ordering::SeqCst);
        if CHANGES.load(Ordering::SeqCst) == before {
            return m;
        }
    }
}

/// Called by whatever turns a feature on or off (after the change).
pub(crate) fn changed() {
    CHANGES.fetch_add(1, Ordering::SeqCst);
    ACTIVE.store(UNSETTLED, Ordering::SeqCst);
}
