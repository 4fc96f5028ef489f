//! Which optional features are on: one byte, so the lock path checks one
//! relaxed load instead of one per feature (profile, watchdog, atomicity),
//! and the features' slow paths test bits of the value already loaded. The
//! same byte says whether the lock-order graph is off.
//!
//! Each feature owns its bit and says when it turns on or off ([`set`]);
//! this module knows no feature's code. Until a feature was set in code,
//! its bit comes from its environment variable (read once, at the first
//! lock operation: the `env` table), so nothing here reaches up into the
//! features.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use crate::env;

/// The contention profile is on.
pub(crate) const PROFILE: u8 = 1;
/// The watchdog is on.
pub(crate) const WATCHDOG: u8 = 2;
/// The atomicity checker is on.
pub(crate) const ATOMICITY: u8 = 4;
/// The lock-order graph is off ([`crate::order`]): not a hook of its own.
pub(crate) const NO_ORDER: u8 = 8;
/// An async lock was taken in this process (set once, never cleared): a
/// sync acquisition then looks for the async holds of its task
/// (`primitive::acquire`). Not a hook: in the same byte so that the sync
/// lock path tests one load for everything.
pub(crate) const ASYNC: u8 = 16;
/// The lean production mode (`state::lean`): the watchdog alone, the graph
/// off, as [`active`] gives it.
pub(crate) const LEAN: u8 = WATCHDOG | NO_ORDER;
/// Whether the lock path tests for [`LEAN`] first, with the lean body
/// inlined at every lock site: in a release build with
/// `watchdog-in-release`, whose default it is. Other tracking builds (the
/// graph on by default) test for it only once the features are known to be
/// on, and call the lean body out of line, so that their own inlined path
/// does not grow.
pub(crate) const LEAN_FIRST: bool =
    cfg!(all(feature = "watchdog-in-release", not(debug_assertions)));
/// The features with acquisition hooks (the watchdog's: a contended
/// acquisition registers its wait). Only the profile and the atomicity
/// checker have release hooks: the watchdog reads the held-lock stack.
pub(crate) const HOOKS: u8 = PROFILE | WATCHDOG | ATOMICITY;
/// The features have not been looked at since the last change.
pub(crate) const UNSETTLED: u8 = 0x80;

static ACTIVE: AtomicU8 = AtomicU8::new(UNSETTLED);
/// [`ACTIVE`] as the steady test's tag ([`steady_tag`]): 0 when the byte is
/// 0, [`TAG_ON`] otherwise. Written beside the byte, each time.
static TAG: AtomicU64 = AtomicU64::new(TAG_ON);
/// The steady test's tag while the byte is not 0: a bit no slot's word has
/// (ids are below `held_stack::ID_LIMIT`, 2^55, so a word `id << 8 | mode`
/// never sets bit 63), so that a slot's word or-ed with it matches nothing.
pub(crate) const TAG_ON: u64 = 1 << 63;
/// [`ACTIVE`] as the lean steady test's tag ([`lean_tag`]): [`LEAN_TAG`]
/// when the byte is [`LEAN`], [`TAG_ON`] otherwise.
static LEAN_TAG_WORD: AtomicU64 = AtomicU64::new(TAG_ON);
/// The lean steady test's tag in the lean mode: the mode bit a lean push
/// writes in a slot's word (`held_stack::M_LEAN`, which `state::lean`
/// checks is this value), so that the tag is that bit as well.
pub(crate) const LEAN_TAG: u64 = 16;
/// Whether an async lock was ever taken ([`ASYNC`]).
static ASYNC_SEEN: AtomicBool = AtomicBool::new(false);
/// Moved on by every change of a feature, so that a settle racing with a
/// change does not keep a stale value.
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// A feature's switch: not decided yet (its variable is read at the next
/// settle), off, or on.
const UNSET: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

/// The switches, by bit position (profile, watchdog, atomicity, no-order).
static SWITCHES: [AtomicU8; 4] = [const { AtomicU8::new(UNSET) }; 4];

fn switch(bit: u8) -> &'static AtomicU8 {
    &SWITCHES[bit.trailing_zeros() as usize]
}

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

/// The byte as it is, unsettled or not: the lock path's one load. A value
/// of 0 is settled, with the graph on and nothing else (no hook, no async
/// lock ever taken); any other value goes the way that calls [`active`].
#[inline(always)]
pub(crate) fn raw() -> u8 {
    ACTIVE.load(Ordering::Relaxed)
}

/// The features' byte for the steady test (`LockMeta::steady`): 0 when the
/// byte is 0, [`TAG_ON`] otherwise, a word that test ors into the slot's
/// word it expects. One `or` with a memory operand there replaces the
/// load, compare and branch of the byte on the steady path (a
/// `track-in-release` one lock 35 -> 33 instructions, `docs/cost.md`).
#[inline(always)]
pub(crate) fn steady_tag() -> u64 {
    TAG.load(Ordering::Relaxed)
}

/// The features' byte for the lean mode's steady test (`state::lean`):
/// [`LEAN_TAG`] when the byte is [`LEAN`], [`TAG_ON`] otherwise, or-ed into
/// the slot word that test expects (where it is the lean mode bit), so
/// that no slot matches outside the lean mode.
#[inline(always)]
pub(crate) fn lean_tag() -> u64 {
    LEAN_TAG_WORD.load(Ordering::Relaxed)
}

/// Stores the features' byte `m` and its tags (the byte first, in the same
/// order for every writer, so that a reader of a tag sees one writer's
/// value or one being replaced, as it sees the byte alone).
fn publish(m: u8) {
    ACTIVE.store(m, Ordering::SeqCst);
    TAG.store(if m == 0 { 0 } else { TAG_ON }, Ordering::SeqCst);
    let lean = if m == LEAN { LEAN_TAG } else { TAG_ON };
    LEAN_TAG_WORD.store(lean, Ordering::SeqCst);
}

/// Says that an async lock was taken ([`ASYNC`]): every thread's next lock
/// operation sees it. Called once per process (by the first async hold).
#[cold]
pub(crate) fn async_used_now() {
    if !ASYNC_SEEN.swap(true, Ordering::SeqCst) {
        changed();
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
pub(crate) fn order_graph_on() -> bool {
    active() & NO_ORDER == 0
}

/// Whether `bit` is on (its variable read first when nothing set it yet).
#[inline]
pub(crate) fn is_on(bit: u8) -> bool {
    active() & bit != 0
}

/// Turns the feature of `bit` on or off for every thread, from each
/// thread's next lock operation on (for [`NO_ORDER`], `on` means the graph
/// is off).
pub(crate) fn set(bit: u8, on: bool) {
    switch(bit).store(if on { ON } else { OFF }, Ordering::SeqCst);
    changed();
}

/// The environment's word for a feature not set in code.
fn from_env(bit: u8) -> bool {
    match bit {
        PROFILE => env::PROFILE.switch(),
        WATCHDOG => env::WATCHDOG.duration().is_some(),
        ATOMICITY => env::ATOMICITY.word() != "off",
        // The variable says whether the graph is on.
        _ => !env::ORDER.switch(),
    }
}

#[cold]
fn settle() -> u8 {
    // The first lock use: a recording process writes its record file's
    // header now, even if it never records an edge (docs/record-format.md).
    crate::record::start();
    loop {
        let before = CHANGES.load(Ordering::SeqCst);
        let mut m = 0;
        for bit in [PROFILE, WATCHDOG, ATOMICITY, NO_ORDER] {
            let s = switch(bit);
            if s.load(Ordering::SeqCst) == UNSET {
                let v = if from_env(bit) { ON } else { OFF };
                let _ = s.compare_exchange(UNSET, v, Ordering::SeqCst, Ordering::SeqCst);
            }
            if s.load(Ordering::SeqCst) == ON {
                m |= bit;
            }
        }
        if ASYNC_SEEN.load(Ordering::SeqCst) {
            m |= ASYNC;
        }
        publish(m);
        if CHANGES.load(Ordering::SeqCst) == before {
            return m;
        }
    }
}

/// Marks the byte unsettled: the next lock operation recomputes it.
fn changed() {
    CHANGES.fetch_add(1, Ordering::SeqCst);
    publish(UNSETTLED);
}
