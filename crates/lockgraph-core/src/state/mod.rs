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
use crate::held_stack::{
    expect, handover, same_id, word_edge_hold, word_hold, word_id, word_req, word_upgradable,
    HeldStack, BUSY, MODE, M_LEAN, M_REQ, M_SHARED, M_UPGRADABLE, SLOW, S_HOOKS, S_IN_GRAPH,
    S_YOUNG_FROM,
};
use crate::meta::{
    word_to_id, Held, LockMeta, Op, ID_LIMIT, IN_GRAPH, MAX_HELD, YOUNG, YOUNG_FROM,
};
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
pub(crate) use query::register_for_watchdog;
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

/// The `flags` of a push in `mode`: [`UPGRADABLE`] for an upgradable
/// read, else 0.
#[inline(always)]
fn mode_flags(mode: crate::watchdog::WaitMode) -> u8 {
    if mode == crate::watchdog::WaitMode::UpgradableRead {
        UPGRADABLE
    } else {
        0
    }
}

/// The mode bits of a hold (`crate::held_stack`): `req` as
/// `1 + Request` (0: unchecked), `flags` [`UPGRADABLE`] or 0.
#[inline(always)]
const fn nibble(hold: Hold, req: u8, flags: u8) -> u64 {
    crate::held_stack::nibble(hold, req, flags & UPGRADABLE != 0)
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

/// A thread's held-lock stack, as parallel arrays so the fast paths touch
/// only the words they need. Slot `i` holds the `i`-th lock taken and still
/// held. `chains[i]`, `insts[i]` and `blooms[i]` summarise slots `0..=i`; they
/// are filled lazily (only a nested acquisition needs them) and are valid for
/// slots below `linked`.
pub(crate) struct ThreadState {
    /// The part another thread may read (the watchdog): each slot's packed
    /// word (lock id, slow bits, mode: see `crate::held_stack`), its site,
    /// the length (or'ed with [`BUSY`] during bookkeeping), its class.
    stack: HeldStack,
    keys: [Cell<u64>; MAX_HELD],
    classes: [Cell<SlotClass>; MAX_HELD],
    /// When the slot's lock was taken, for sampled hold times (profiling).
    since: [Cell<Option<Instant>>; MAX_HELD],
    /// When the slot was pushed, in `moved`'s sequence (`send_guard`).
    #[cfg(feature = "send_guard")]
    stamps: [Cell<u64>; MAX_HELD],
    /// Hash of (class key, hold mode) of slots `0..=i`.
    chains: [Cell<u64>; MAX_HELD],
    /// Hash of the ids of the exclusive holds among slots `0..=i`.
    insts: [Cell<u64>; MAX_HELD],
    /// Bloom filter of the class keys of slots `0..=i`.
    blooms: [Cell<u64>; MAX_HELD],
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
    untracked: Cell<usize>,
    cache: [Cell<u64>; CACHE_SLOTS],
    /// The class keys (held, requested) of the last exclusive request made
    /// on one exclusive hold of another class whose edges are recorded
    /// (`state/chain.rs`, `on_one`); (0, 0): none.
    pair: Cell<(u64, u64)>,
    pending_site: Cell<Option<&'static Location<'static>>>,
    /// The atomicity checker's per-thread part.
    atom: crate::atomicity::AtomThread,
    /// This thread's watchdog slot, once registered (see `watchdog_slot`).
    wd_slot: Cell<*const crate::watchdog::Slot>,
    /// An upgradable read's edges are being recorded (`before_wait`): its
    /// request is `Exclusive`, but a plain read of the same lock held by
    /// this thread only blocks it when a writer queues in between.
    upgradable_request: Cell<bool>,
}

crate::sync::thread_local_const! {
    static STATE: ThreadState = const {
        ThreadState {
            stack: HeldStack::new(),
            keys: [const { Cell::new(0) }; MAX_HELD],
            classes: [const { Cell::new(EMPTY_CLASS) }; MAX_HELD],
            since: [const { Cell::new(None) }; MAX_HELD],
            #[cfg(feature = "send_guard")]
            stamps: [const { Cell::new(0) }; MAX_HELD],
            chains: [const { Cell::new(0) }; MAX_HELD],
            insts: [const { Cell::new(0) }; MAX_HELD],
            blooms: [const { Cell::new(0) }; MAX_HELD],
            linked: Cell::new(0),
            verified: Cell::new(1),
            checked_id: Cell::new(0),
            checked_tag: Cell::new(0),
            untracked: Cell::new(0),
            cache: [const { Cell::new(0) }; CACHE_SLOTS],
            pair: Cell::new((0, 0)),
            pending_site: Cell::new(None),
            atom: crate::atomicity::AtomThread::new(),
            wd_slot: Cell::new(std::ptr::null()),
            upgradable_request: Cell::new(false),
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
/// unwind too; its [`SiteUsedOnPanic`] then uses up the site the caller
/// left pending (the acquisition unwinding takes no lock).
struct Busy<'a>(&'a ThreadState, SiteUsedOnPanic);

impl<'a> Busy<'a> {
    fn enter(t: &'a ThreadState) -> Busy<'a> {
        t.stack.len.set(t.stack.len.get() | BUSY);
        Busy(t, SiteUsedOnPanic)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.stack.len.set(self.0.stack.len.get() & !BUSY);
    }
}

/// Held while an acquisition's edges are recorded and its reports raised
/// (the thread's held-lock stack in `Busy`, a task's holds in
/// `task::edges`): a policy panic out of it ends the acquisition, so the
/// site the facade left pending for it is used up. Left pending, a caught
/// panic's site named the thread's next acquisition, and a later raw lock
/// call without a site took it for its own (`primitive::raw_acquire`; the
/// task path had no such guard: found by a review).
pub(crate) struct SiteUsedOnPanic;

impl Drop for SiteUsedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            clear_pending_site();
        }
    }
}
