//! The lean production mode (issue 17): the watchdog on, every other
//! feature off and the lock-order graph off. An acquisition then does only
//! what the watchdog needs: the hold pushed on this thread's held-lock
//! stack, which the watchdog reads in place (`crate::held_stack`): the
//! lock's id and mode in the slot's word, the site, the new length. No
//! chain hash, no graph, no clock read, no second copy, no
//! read-modify-write. The release is the slot's word against the lock's
//! and the new length: in a build that puts the lean mode first, against
//! the lock's slot word (below); in any other, every mode's fast pop.
//!
//! The stack is the one the full path keeps, filled the same way (a
//! slot's class and key rewritten only when another lock lands in it), so
//! a hold taken here is released by the full path and the other way round,
//! and turning the graph (or another feature) on at run time records from
//! the next acquisition on. A hold taken here is unchecked for the graph
//! (request 0, as a `try_lock`'s), so the first acquisition of each chain
//! after the graph comes back on is looked up and recorded. Its word
//! carries [`M_LEAN`]: a slot is rewritten (and the thread registered with
//! the watchdog, on that cold path) the first time the lean push lands in
//! it, so a thread whose slot words say lean is one the watchdog reads.
//!
//! The lock keeps its slot word as the lean push writes it for an
//! exclusive hold (`LockMeta::slot_word`: the id, [`M_LEAN`], no flags;
//! set by the first rewrite of a slot for the lock, on the cold path), so
//! that the steady test is that word with the mode's bits and the
//! features' lean tag or-ed in, and, in a build that puts the lean mode
//! first, the release is that word compared with the top slot
//! (`LockMeta::released`); both change the length with one instruction
//! (`Len::inc`, `Len::dec`).

use super::*;
use crate::watchdog::WaitMode;

impl LockMeta {
    /// The lean mode's steady test, before the attempt: the slot at the
    /// stack's length already holds this lock's word as the lean push
    /// writes it (`mode`'s hold, unchecked, [`M_LEAN`]), so that the push
    /// is the site and the new length ([`lean_push_steady`]); the length.
    /// The word expected is the lock's slot word (no flags to mask off)
    /// with the mode's bits and `tag`, the features' lean tag: 0 in
    /// the lean mode, so that the features' byte is not tested apart, and
    /// in any other a bit no slot's word has. The word at a full or busy
    /// stack's length is no lock's (`HeldStack::at`), and the slot word of
    /// a lock the lean push has not rewritten a slot for yet (0, with the
    /// mode's bits) is no slot's, so their compares fail too.
    ///
    /// [`lean_push_steady`]: Self::lean_push_steady
    #[inline(always)]
    pub(crate) fn lean_steady(&self, mode: WaitMode, tag: u64) -> Option<usize> {
        self.lean_steady_by(mode, |w| w | tag)
    }

    /// [`lean_steady`](Self::lean_steady) with the features' lean tag as it
    /// is now, read by the `or` that adds it
    /// ([`crate::features::or_lean_tag`]).
    #[inline(always)]
    pub(crate) fn lean_steady_now(&self, mode: WaitMode) -> Option<usize> {
        self.lean_steady_by(mode, crate::features::or_lean_tag)
    }

    /// The steady test, with `tag` adding the tag to the word expected.
    #[inline(always)]
    fn lean_steady_by(&self, mode: WaitMode, tag: impl FnOnce(u64) -> u64) -> Option<usize> {
        let t = state();
        let len = t.stack.len.get();
        let word = self.slot_word.load(Ordering::Relaxed);
        let mode_bits = nibble(mode.hold(), 0, mode_flags(mode));
        // The word expected before the slot is read: the slot's read then
        // folds into the compare, also when `tag` reads memory of its own.
        let expected = tag(word | mode_bits);
        if t.stack.at(len).get() == expected {
            return Some(len);
        }
        None
    }

    /// The push of an acquisition [`lean_steady`](Self::lean_steady) said
    /// was not steady, once the lock is held: the slot rewritten (out of
    /// line), then the site and the length.
    #[inline(always)]
    pub(crate) fn lean_acquired_unsteady(
        &self,
        mode: WaitMode,
        site: Option<&'static Location<'static>>,
    ) {
        let t = state();
        let len = t.stack.len.get();
        if t.lean_rewrite(len, self, mode.hold(), mode_flags(mode), site) {
            t.lean_push_at(len, site);
        }
    }

    /// The push of an acquisition [`lean_steady`](Self::lean_steady) said
    /// was steady at `len`, once the lock is held.
    #[inline(always)]
    pub(crate) fn lean_push_steady(&self, len: usize, site: Option<&'static Location<'static>>) {
        state().lean_push_at(len, site);
    }
}

impl ThreadState {
    /// The site and the new length of a lean push at `len`, whose slot's
    /// word is the lock's (compared, or rewritten).
    #[inline(always)]
    fn lean_push_at(&self, len: usize, site: Option<&'static Location<'static>>) {
        // SAFETY: the slot's word is a lock's (the caller's compare, or the
        // rewrite, which says `true` only below `MAX_HELD`), and the words
        // at `MAX_HELD` and past it never are (`HeldStack::at`).
        unsafe { std::hint::assert_unchecked(len < MAX_HELD) };
        self.stack.sites[len].set(match site {
            Some(s) => Some(s),
            None => self.pending_site.take(),
        });
        #[cfg(feature = "send_guard")]
        self.stamps[len].set(moved::stamp());
        // `len + 1`, with the `inc` of memory.
        self.stack.len.inc();
    }

    /// Slot `len` gets another lock, or the same one another way: its word
    /// and class, and the summaries of the slots from it up, are rewritten
    /// as in [`push`](Self::push) (a lean hold is unchecked: request 0).
    /// The thread's stack is registered with the watchdog first, if it was
    /// not. A full or busy stack goes the usual way: `false`, the push is
    /// done.
    #[cold]
    #[inline(never)]
    fn lean_rewrite(
        &self,
        len: usize,
        meta: &LockMeta,
        hold: Hold,
        flags: u8,
        site: Option<&'static Location<'static>>,
    ) -> bool {
        if len >= MAX_HELD {
            self.lean_overflow(meta, hold, flags, site);
            return false;
        }
        if self.wd_slot.get().is_null() {
            let _ = self.register_watchdog_slot();
        }
        let id = meta.id();
        debug_assert!(id < ID_LIMIT);
        meta.set_slot_word(id);
        let old = self.stack.words[len].get();
        let word = id << 8 | nibble(hold, 0, flags) | M_LEAN;
        if (old ^ word) & !(SLOW | M_LEAN) != 0 {
            if self.linked.get() > len {
                self.linked.set(len);
            }
            if self.verified.get() > len {
                self.verified.set(len.max(1));
            }
        }
        let key = meta.hot_key(id);
        if self.keys[len].get() != key {
            self.set_class(len, key, meta, word);
        } else {
            self.stack.words[len].set(word);
        }
        true
    }

    /// A push onto a full or busy stack: the full path's push and hooks.
    #[cold]
    #[inline(never)]
    fn lean_overflow(
        &self,
        meta: &LockMeta,
        hold: Hold,
        flags: u8,
        site: Option<&'static Location<'static>>,
    ) {
        let slot = self.push(meta, hold, flags, site);
        self.acquired_with_features(meta, slot, WATCHDOG);
    }
}
