//! The per-thread held-lock stack: the steady-state path.
//!
//! Every tracked lock embeds a [`LockMeta`] (`crate::meta`) and calls its
//! hooks, implemented here. A thread keeps the locks it holds
//! in a fixed-size stack in a `const`-initialised thread-local (no destructor,
//! no lazy-init check). Each entry carries running hashes of the stack below it,
//! like lockdep's chain hash, so an acquisition whose "held locks + requested
//! lock" chain this thread has seen before costs one lookup in a thread-local
//! direct-mapped cache and touches no shared state. Only a miss goes to the
//! process-wide graph in [`crate::global`].

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::class::{Class, LockKind};
use crate::features::{ATOMICITY, PROFILE, WATCHDOG};
use crate::global;
use crate::meta::{Held, LockMeta, Op, ID_MASK, IN_GRAPH, MAX_HELD, YOUNG, YOUNG_FROM};
use crate::report::{Hold, Request};

mod chain;
mod features;
mod hooks;
mod lean;
#[cfg(feature = "send_guard")]
mod moved;
mod query;
mod stack;
mod steady;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use query::SLOT_OWNER;
pub(crate) use query::{
    atom_thread, held_entries, holds_nothing, pending_site, snapshot, tracked_entry,
};
pub use query::{clear_pending_site, held_lock_ids, held_locks, set_pending_site};

/// Slots of the per-thread cache of chains already recorded (fewer under
/// loom, whose threads run on small coroutine stacks).
const CACHE_BITS: u32 = if cfg!(loom) { 6 } else { 10 };
const CACHE_SLOTS: usize = 1 << CACHE_BITS;

/// The `flags` of a push of an upgradable read: a shared hold for the
/// lock-order graph, which the watchdog tells apart from a plain read (only
/// an upgradable or exclusive holder keeps another upgradable read out).
const UPGRADABLE: u8 = 0x80;

// One packed word per stack slot (`ThreadState::words`): everything a fast
// path compares, so that each compares one word.
//
//   bits 8..=63  the lock's id (ids count up from 1 in blocks and stay far
//                below 2^56; the lock's own word keeps its flags in its top
//                four bits and zeros in 56..=59, all shifted out here)
//   bits 4..=7   the slow bits: anything that keeps a release off its fast
//                pop ([`S_IN_GRAPH`], [`S_YOUNG_FROM`], [`S_HOOKS`])
//   bits 0..=3   the mode: the request as `1 + Request` (0: the hold's edges
//                were not checked: a `try_lock`, a hold at depth 0, a lean
//                hold), [`M_SHARED`] for a shared hold, [`M_UPGRADABLE`]
//
// A release's fast pop is `(lock word << 8) ^ slot < 16`: the same id and
// no slow bit, whatever the mode. A steady acquisition compares the slot
// with [`expect`]: `lock word << 8 | mode`, the lock's id, no slow bit, the
// mode the acquisition asks for.

/// Slow bit: the recorder put the lock in the instance graph while this
/// thread held it; the release hands [`IN_GRAPH`] to the lock's word.
const S_IN_GRAPH: u64 = 1 << 4;
/// Slow bit: this thread buffered an edge from the lock (`global::young`);
/// the release hands [`YOUNG_FROM`] to the lock's word.
const S_YOUNG_FROM: u64 = 1 << 5;
/// Slow bit: pushed while a feature with release hooks was on (profile,
/// atomicity checker, watchdog): the release runs them.
const S_HOOKS: u64 = 1 << 6;
/// The slow bits.
const SLOW: u64 = 0xf0;
/// Mode bits: the request part, `1 + Request`.
const M_REQ: u64 = 3;
/// Mode bit: a shared hold.
const M_SHARED: u64 = 4;
/// Mode bit: an upgradable read.
const M_UPGRADABLE: u64 = 8;
/// The mode bits.
const MODE: u64 = 0xf;
/// Ids at or above this do not fit a slot word (never reached: ids are
/// handed out one by one, in blocks of 1,024 per thread).
const ID_LIMIT: u64 = 1 << 56;
const _: () = assert!(ID_LIMIT - 1 <= ID_MASK);

/// The mode nibble of a hold: `req` as `1 + Request` (0: unchecked),
/// `flags` [`UPGRADABLE`] or 0.
#[inline(always)]
const fn nibble(hold: Hold, req: u8, flags: u8) -> u64 {
    let shared = match hold {
        Hold::Exclusive => 0,
        Hold::Shared => M_SHARED,
    };
    let upg = if flags & UPGRADABLE != 0 {
        M_UPGRADABLE
    } else {
        0
    };
    req as u64 & M_REQ | shared | upg
}

/// The slot word of the lock whose word is `lock` held in mode `nibble`,
/// with `slow` (of [`SLOW`]): the lock's flags shifted out, a shift and an
/// or of one byte.
#[inline(always)]
fn expect(lock: u64, nibble: u64, slow: u64) -> u64 {
    lock << 8 | slow | nibble
}

/// The id of a slot word.
#[inline(always)]
fn word_id(w: u64) -> u64 {
    w >> 8
}

/// The hold of a slot word.
#[inline(always)]
fn word_hold(w: u64) -> Hold {
    if w & M_SHARED != 0 {
        Hold::Shared
    } else {
        Hold::Exclusive
    }
}

/// The request part of a slot word, `1 + Request` or 0.
#[inline(always)]
fn word_req(w: u64) -> u8 {
    (w & M_REQ) as u8
}

/// Whether a slot word holds an upgradable read.
#[inline(always)]
fn word_upgradable(w: u64) -> bool {
    w & M_UPGRADABLE != 0
}

/// The lock word's flags a release hands over from slot word `w`.
#[inline(always)]
fn handover(w: u64) -> u64 {
    (if w & S_IN_GRAPH != 0 { IN_GRAPH } else { 0 })
        | (if w & S_YOUNG_FROM != 0 { YOUNG_FROM } else { 0 })
}

/// The class part of a stack slot, a function of the slot's key: rewritten
/// only when a lock of another class lands in the slot.
#[derive(Clone, Copy)]
struct SlotClass {
    class: Class,
    kind: LockKind,
}

const EMPTY_CLASS: SlotClass = SlotClass {
    class: Class::Anonymous,
    kind: LockKind::Other,
};

const ROOT_CHAIN: u64 = 0x243f_6a88_85a3_08d3;
const ROOT_INST: u64 = 0x1319_8a2e_0370_7344;

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    (a.rotate_left(26) ^ b).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[inline]
fn bloom_bit(key: u64) -> u64 {
    1 << (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58)
}

/// The word of a slot never pushed: no lock's (its slow bits are set, and
/// no id reaches it), and not the word [`expect`] makes of a lock without an
/// id yet (0), so that `LockMeta::steady`'s comparison needs no other test.
const EMPTY_ID: u64 = u64::MAX;

/// Whether a slot word and a lock's word name the same lock and the slot
/// has no slow bit: the release's fast pop (the mode is left out, the
/// lock's own flags shifted out).
#[inline(always)]
pub(super) fn same_id(slot: u64, lock: u64) -> bool {
    (lock << 8 ^ slot) <= MODE
}

/// Set in `len` while the thread is inside lockgraph's own bookkeeping: every
/// fast path then sees an out-of-range length and does nothing.
const BUSY: usize = 1 << 31;

/// A thread's held-lock stack, as parallel arrays so the fast paths touch
/// only the words they need. Slot `i` holds the `i`-th lock taken and still
/// held. `chains[i]`, `insts[i]` and `blooms[i]` summarise slots `0..=i`; they
/// are filled lazily (only a nested acquisition needs them) and are valid for
/// slots below `linked`.
pub(crate) struct ThreadState {
    /// The slot's packed word: lock id, slow bits, mode (see [`expect`]).
    words: [Cell<u64>; MAX_HELD],
    keys: [Cell<u64>; MAX_HELD],
    classes: [Cell<SlotClass>; MAX_HELD],
    sites: [Cell<Option<&'static Location<'static>>>; MAX_HELD],
    /// When the slot's lock was taken, for sampled hold times (profiling).
    since: [Cell<Option<Instant>>; MAX_HELD],
    /// When the slot's lock was taken, in the watchdog's coarse clock.
    wd_since: [Cell<u64>; MAX_HELD],
    /// When the slot was pushed, in `moved`'s sequence (`send_guard`).
    #[cfg(feature = "send_guard")]
    stamps: [Cell<u64>; MAX_HELD],
    /// Hash of (class key, hold mode) of slots `0..=i`.
    chains: [Cell<u64>; MAX_HELD],
    /// Hash of the ids of the exclusive holds among slots `0..=i`.
    insts: [Cell<u64>; MAX_HELD],
    /// Bloom filter of the class keys of slots `0..=i`.
    blooms: [Cell<u64>; MAX_HELD],
    /// The number of slots, or'ed with [`BUSY`] during bookkeeping.
    len: Cell<usize>,
    linked: Cell<usize>,
    /// Slots below this were pushed by acquisitions whose edges are recorded,
    /// and have not changed since: re-acquiring the same lock the same way on
    /// top of them has nothing new to record. Never below 1: slot 0's
    /// acquisition has nothing below it to record.
    verified: Cell<usize>,
    /// The lock of the last acquisition checked by `before_wait` (0: none),
    /// and its depth and request as `depth << 8 | (1 + request)`.
    checked_id: Cell<u64>,
    checked_tag: Cell<usize>,
    /// The chain key of an acquisition left to `commit_fresh`/`record_fresh`.
    fresh_key: Cell<u64>,
    untracked: Cell<usize>,
    cache: [Cell<u64>; CACHE_SLOTS],
    pending_site: Cell<Option<&'static Location<'static>>>,
    /// The atomicity checker's per-thread part.
    atom: crate::atomicity::AtomThread,
    /// This thread's watchdog slot, once registered (see `watchdog_slot`).
    wd_slot: Cell<*const crate::watchdog::Slot>,
}

crate::sync::thread_local_const! {
    static STATE: ThreadState = const {
        ThreadState {
            words: [const { Cell::new(EMPTY_ID) }; MAX_HELD],
            keys: [const { Cell::new(0) }; MAX_HELD],
            classes: [const { Cell::new(EMPTY_CLASS) }; MAX_HELD],
            sites: [const { Cell::new(None) }; MAX_HELD],
            since: [const { Cell::new(None) }; MAX_HELD],
            wd_since: [const { Cell::new(0) }; MAX_HELD],
            #[cfg(feature = "send_guard")]
            stamps: [const { Cell::new(0) }; MAX_HELD],
            chains: [const { Cell::new(0) }; MAX_HELD],
            insts: [const { Cell::new(0) }; MAX_HELD],
            blooms: [const { Cell::new(0) }; MAX_HELD],
            len: Cell::new(0),
            linked: Cell::new(0),
            verified: Cell::new(1),
            checked_id: Cell::new(0),
            checked_tag: Cell::new(0),
            fresh_key: Cell::new(0),
            untracked: Cell::new(0),
            cache: [const { Cell::new(0) }; CACHE_SLOTS],
            pending_site: Cell::new(None),
            atom: crate::atomicity::AtomThread::new(),
            wd_slot: Cell::new(std::ptr::null()),
        }
    };
}

/// This thread's state.
///
/// `LocalKey::with` is not always inlined, and an out-of-line `with` costs an
/// indirect call on every lock operation; a plain reference does not.
#[inline(always)]
fn state() -> &'static ThreadState {
    // SAFETY: `STATE` is `const`-initialised and has no destructor, so its
    // storage stays valid until the thread exits (under loom: a boxed value
    // that lives as long as the loom thread). `ThreadState` is `!Sync`
    // (it is made of `Cell`s), so the reference cannot reach another thread,
    // and it is only used for the duration of one hook call.
    STATE.with(|t| unsafe { &*(t as *const ThreadState) })
}

/// Marks the thread as inside lockgraph's own bookkeeping for its lifetime, so
/// locks taken meanwhile (by a panic hook printing a report of the `panic`
/// policy, say) are not tracked and cannot re-enter the recorder. Cleared on
/// unwind too.
struct Busy<'a>(&'a ThreadState);

impl<'a> Busy<'a> {
    fn enter(t: &'a ThreadState) -> Busy<'a> {
        t.len.set(t.len.get() | BUSY);
        Busy(t)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.len.set(self.0.len.get() & !BUSY);
    }
}
