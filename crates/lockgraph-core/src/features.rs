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
/// (ids are below `meta::ID_LIMIT`, 2^55, so a word `id << 8 | mode`
/// never sets bit 63), so that a slot's word or-ed with it matches nothing.
pub(crate) const TAG_ON: u64 = 1 << 63;
/// [`ACTIVE`] as the lean steady test's tag ([`or_lean_tag`]): [`LEAN_TAG`]
/// when the byte is [`LEAN`], [`TAG_ON`] otherwise.
static LEAN_TAG_WORD: AtomicU64 = AtomicU64::new(TAG_ON);
/// The lean steady test's tag in the lean mode: nothing or-ed in (the
/// lock's slot word the test starts from has the lean mode bit already,
/// `LockMeta::slot_word`).
pub(crate) const LEAN_TAG: u64 = 0;
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
/// word it expects. The tag's load and that `or` replace the load, compare
/// and branch of the byte on the steady path (a `track-in-release` one lock
/// 35 -> 33 instructions, `docs/cost.md`); the loaded tag also chooses the
/// way after a failed test, so it is kept in a register.
#[inline(always)]
pub(crate) fn steady_tag() -> u64 {
    TAG.load(Ordering::Relaxed)
}

/// `word` with the features' byte for the lean mode's steady test
/// (`state::lean`) or-ed in: [`LEAN_TAG`] when the byte is [`LEAN`],
/// [`TAG_ON`] otherwise, so that no slot matches outside the lean mode.
///
/// On x86-64 the tag is read by the `or` itself, a memory operand: a
/// relaxed load of an atomic is not folded into the `or` by the compiler,
/// and that load was one of the 13 instructions a lean acquisition+release
/// of one lock cost above parking_lot's (`docs/cost.md`, "The hot path's
/// ninth round"). Elsewhere, and under Miri, it is that relaxed load.
///
/// Only for the lean test (`LockMeta::lean_steady_now`): the full path's
/// steady test takes [`steady_tag`], whose 0 means another mode.
#[inline(always)]
pub(crate) fn or_lean_tag(word: u64) -> u64 {
    or_tag(word, &LEAN_TAG_WORD)
}

/// `word | tag.load(Relaxed)`, on x86-64 with the load made by the `or`
/// ([`or_lean_tag`]).
#[inline(always)]
fn or_tag(word: u64, tag: &AtomicU64) -> u64 {
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64", not(miri)))]
    {
        let mut w = word;
        // SAFETY: the `or` reads the 8 bytes of `tag` through a reference
        // to it, which is valid and 8-aligned (an `AtomicU64`), as a 64-bit
        // register (the pointer width is 64: not x32); an aligned 8-byte
        // read is one atomic access on x86-64, the relaxed load the other
        // targets make. It writes only `w` and the flags (not declared
        // preserved), touches no stack, and is not `pure`, so that it is
        // read again at each acquisition.
        unsafe {
            std::arch::asm!(
                "or {w}, qword ptr [{tag}]",
                w = inout(reg) w,
                tag = in(reg) tag,
                options(nostack, readonly),
            );
        }
        w
    }
    #[cfg(not(all(target_arch = "x86_64", target_pointer_width = "64", not(miri))))]
    {
        word | tag.load(Ordering::Relaxed)
    }
}

/// The words [`publish`] stores: the byte and its two tags.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Byte,
    Tag,
    LeanTag,
}

/// A settle's order: the byte first, then its tags.
const SETTLE_ORDER: [Field; 3] = [Field::Byte, Field::Tag, Field::LeanTag];
/// A change's order (after `CHANGES` moved on): the tags first, the byte
/// (`UNSETTLED`) last. Were the byte first, a settle made between a
/// change's byte and its tags would leave the byte settled and a tag
/// `TAG_ON` until the next change: no steady case in that time, as no
/// thread settles again. With the byte last, a change's store that lands
/// after a settle's is the byte's `UNSETTLED`, so the next lock operation
/// that loads the byte settles again, and a settle's tag that lands after
/// a change's was computed after that change (`CHANGES` tells its settle
/// otherwise, which settles again): a tag is never stale for longer than a
/// settle. `a_settle_racing_a_change_leaves_no_stale_tag` tries every
/// interleaving of these two orders.
const CHANGE_ORDER: [Field; 3] = [Field::Tag, Field::LeanTag, Field::Byte];

/// The steady test's tag of the byte `m` ([`steady_tag`]).
fn tag_of(m: u8) -> u64 {
    if m == 0 {
        0
    } else {
        TAG_ON
    }
}

/// The lean steady test's tag of the byte `m` ([`or_lean_tag`]).
fn lean_tag_of(m: u8) -> u64 {
    if m == LEAN {
        LEAN_TAG
    } else {
        TAG_ON
    }
}

/// Stores the features' byte `m` and its tags in `order` ([`SETTLE_ORDER`]
/// or [`CHANGE_ORDER`]).
fn publish(m: u8, order: [Field; 3]) {
    for f in order {
        match f {
            Field::Byte => ACTIVE.store(m, Ordering::SeqCst),
            Field::Tag => TAG.store(tag_of(m), Ordering::SeqCst),
            Field::LeanTag => LEAN_TAG_WORD.store(lean_tag_of(m), Ordering::SeqCst),
        }
    }
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

/// Whether the lock path is in the lean production mode (`LEAN`: the
/// watchdog alone, the graph off), for tests that must know which path
/// they exercise.
pub fn lean_mode() -> bool {
    active() == LEAN
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
        WATCHDOG => watchdog_from_env(),
        ATOMICITY => env::ATOMICITY.word() != "off",
        // The variable says whether the graph is on.
        _ => !env::ORDER.switch(),
    }
}

/// Whether the environment turns the watchdog on: `LOCKGRAPH_WATCHDOG`, or
/// `LOCKGRAPH_DUMP_SIGNAL` with `LOCKGRAPH_WATCHDOG` unset (the dump is the
/// watchdog thread's work: with the default timeout). A dump signal the
/// watchdog's `off` overrides is said once on stderr: SIGUSR2 then keeps
/// its default action, which ends the process.
#[cfg(not(loom))]
fn watchdog_from_env() -> bool {
    if env::WATCHDOG.duration().is_some() {
        return true;
    }
    if !env::DUMP_SIGNAL.switch() {
        return false;
    }
    if env::WATCHDOG.is_set() {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            crate::stderr::line(
                "lockgraph: LOCKGRAPH_DUMP_SIGNAL is ignored: LOCKGRAPH_WATCHDOG is off, and the \
                 dump is the watchdog's (unless the program starts the watchdog itself, no \
                 SIGUSR2 handler is installed, and `kill -USR2` ends this process)",
            );
        }
        return false;
    }
    true
}

/// Under loom, the watchdog is off whatever the environment says: its
/// thread and thread-locals are std's, and under a loom model they touch
/// loom's state from outside it, which aborts the process (found by an
/// outside test). Said once.
#[cfg(loom)]
fn watchdog_from_env() -> bool {
    if env::WATCHDOG.duration().is_some() || env::DUMP_SIGNAL.switch() {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            crate::stderr::line(
                "lockgraph: LOCKGRAPH_WATCHDOG and LOCKGRAPH_DUMP_SIGNAL are ignored under loom: \
                 the watchdog is not modelled (its thread is std's)",
            );
        }
    }
    false
}

#[cold]
fn settle() -> u8 {
    // The first lock use: a recording process writes its record file's
    // header now, even if it never records an edge (docs/record-format.md).
    crate::record::start();
    // The policy too, so that a misspelt `LOCKGRAPH_ON_CYCLE` is named now,
    // not by the first report (found by an outside test: a CI job's typo in
    // `panic` showed only with the first cycle, which then only warned).
    let _ = crate::policy::on_cycle();
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
        publish(m, SETTLE_ORDER);
        if CHANGES.load(Ordering::SeqCst) == before {
            return m;
        }
    }
}

/// Marks the byte unsettled: the next lock operation recomputes it.
fn changed() {
    CHANGES.fetch_add(1, Ordering::SeqCst);
    publish(UNSETTLED, CHANGE_ORDER);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lean tag's `or` (an `asm!` memory operand on x86-64) adds the
    /// word the tag holds: 0 (the lean mode), `TAG_ON` and other words, on
    /// an atomic of the test's own; and `or_lean_tag` reads `LEAN_TAG_WORD`.
    #[test]
    fn or_tag_adds_the_word_the_tag_holds() {
        let words = [0, 1, 0x1234_5678 << 8 | 0x10, (1 << 55) - 1, u64::MAX >> 1];
        for t in [0, TAG_ON, 0x0f0f, u64::MAX] {
            let tag = AtomicU64::new(t);
            for w in words {
                assert_eq!(or_tag(w, &tag), w | t, "{w:#x} {t:#x}");
            }
            tag.store(!t, Ordering::Relaxed);
            assert_eq!(or_tag(2, &tag), 2 | !t, "read again: {t:#x}");
        }
        let lean = LEAN_TAG_WORD.load(Ordering::Relaxed);
        assert_eq!(or_lean_tag(4), 4 | lean);
    }

    /// The model's shared memory: the switch of one feature, `CHANGES`,
    /// and the byte and its tags.
    #[derive(Clone, Copy, Debug)]
    struct Mem {
        on: bool,
        changes: u64,
        byte: u8,
        tag: u64,
        lean: u64,
    }

    impl Mem {
        fn store(&mut self, f: Field, m: u8) {
            match f {
                Field::Byte => self.byte = m,
                Field::Tag => self.tag = tag_of(m),
                Field::LeanTag => self.lean = lean_tag_of(m),
            }
        }
    }

    /// A settle (`settle`'s loop) as steps: 0 reads `CHANGES`, 1 computes
    /// the byte from the switch, 2 to 4 store in [`SETTLE_ORDER`], 5
    /// compares `CHANGES` (done, or back to 0).
    #[derive(Clone, Copy, Debug)]
    struct Settler {
        pc: u8,
        before: u64,
        m: u8,
    }

    /// Every interleaving of a settle and a change (`set`: the switch,
    /// `CHANGES`, the stores in [`CHANGE_ORDER`]); at the end each tag is
    /// the tag of the features as they are now, or `TAG_ON` with the byte
    /// unsettled (the next load of the byte settles again).
    fn explore(mem: Mem, s: Settler, c: u8, off: u8, on: u8, seen: &mut usize) {
        let settler_done = s.pc == 6;
        if settler_done && c == 5 {
            *seen += 1;
            let now = if mem.on { on } else { off };
            let fine =
                |got: u64, want: u64| got == want || (got == TAG_ON && mem.byte == UNSETTLED);
            assert!(mem.byte == now || mem.byte == UNSETTLED, "{mem:?}");
            assert!(fine(mem.tag, tag_of(now)), "a stale tag: {mem:?}");
            assert!(
                fine(mem.lean, lean_tag_of(now)),
                "a stale lean tag: {mem:?}"
            );
            return;
        }
        if !settler_done {
            let (mut m2, mut s2) = (mem, s);
            match s.pc {
                0 => s2.before = m2.changes,
                1 => s2.m = if m2.on { on } else { off },
                2..=4 => m2.store(SETTLE_ORDER[s.pc as usize - 2], s.m),
                _ => {}
            }
            s2.pc = match s.pc {
                5 if m2.changes != s.before => 0,
                pc => pc + 1,
            };
            explore(m2, s2, c, off, on, seen);
        }
        if c < 5 {
            let mut m2 = mem;
            match c {
                0 => m2.on = true,
                1 => m2.changes += 1,
                _ => m2.store(CHANGE_ORDER[c as usize - 2], UNSETTLED),
            }
            explore(m2, s, c + 1, off, on, seen);
        }
    }

    /// The tags of every byte: the steady tag 0 for the byte 0 alone (the
    /// graph on, nothing else, settled), the lean tag [`LEAN_TAG`] (0) for
    /// [`LEAN`] alone (not with the profile, the checker, async locks seen,
    /// or unsettled), `TAG_ON` otherwise.
    #[test]
    fn each_tag_says_its_mode_alone() {
        for m in 0..=u8::MAX {
            assert_eq!(tag_of(m) == 0, m == 0, "{m:#x}");
            assert_eq!(tag_of(m) == TAG_ON, m != 0, "{m:#x}");
            assert_eq!(lean_tag_of(m) == LEAN_TAG, m == LEAN, "{m:#x}");
            assert_eq!(lean_tag_of(m) == TAG_ON, m != LEAN, "{m:#x}");
        }
    }

    /// A settle racing a change of a feature never leaves a tag that says
    /// another mode than the byte (or than the features, while the byte is
    /// unsettled): the steady tests, which do not load the byte, would
    /// otherwise miss a feature turned on, or be off until the next change.
    /// Both ways round for each tag: the graph alone then the profile too,
    /// the lean mode then the profile too.
    #[test]
    fn a_settle_racing_a_change_leaves_no_stale_tag() {
        for (off, on) in [
            (0, PROFILE),
            (LEAN, LEAN | PROFILE),
            (PROFILE, 0),
            (LEAN | PROFILE, LEAN),
        ] {
            // Settled before the race, with the switch off.
            let mem = Mem {
                on: false,
                changes: 0,
                byte: off,
                tag: tag_of(off),
                lean: lean_tag_of(off),
            };
            let mut seen = 0;
            explore(
                mem,
                Settler {
                    pc: 0,
                    before: 0,
                    m: 0,
                },
                0,
                off,
                on,
                &mut seen,
            );
            assert!(seen > 100, "{seen} interleavings");
        }
    }
}
