//! The held-lock stack: push, pop (from the top or the middle), changes of
//! mode in place.

use super::*;

impl ThreadState {
    /// Pushes `meta` held as `hold`; `flags`: [`UPGRADABLE`] for an
    /// upgradable read, else 0. A push made while a feature with release
    /// hooks is on is marked after it ([`mark_hooks`](Self::mark_hooks)).
    #[inline(always)]
    pub(super) fn push(
        &self,
        meta: &LockMeta,
        hold: Hold,
        flags: u8,
        site: Option<&'static Location<'static>>,
    ) -> Option<usize> {
        let len = self.stack.len.get();
        if len >= MAX_HELD {
            // Full, or busy (then `len` has the BUSY bit): not tracked.
            if len & BUSY == 0 {
                self.overflow();
                // The facade's site for this call is not used: left
                // pending, a later raw call without one would take it
                // for its own (`primitive::raw_acquire`; a review).
                self.pending_site.set(None);
            }
            return None;
        }
        let id = meta.id_in_line();
        debug_assert!(id < ID_LIMIT);
        // The request part, `1 + Request` (0: unchecked), as a word.
        let req = if self.checked_id.get() == id {
            self.checked_id.set(0);
            let tag = self.checked_tag.get();
            if tag >> 8 == len {
                tag as u64 & M_REQ
            } else {
                0
            }
        } else {
            0
        };
        let word = id << 8 | nibble(hold, 0, flags) | req;
        // A slot's summaries depend on the slots below it and on its own
        // content: re-pushing the same lock the same way keeps them valid.
        let old = self.stack.words[len].get();
        if (old ^ word) & !SLOW != 0 {
            if self.linked.get() > len {
                self.linked.set(len);
            }
            if self.verified.get() > len {
                self.verified.set(len.max(1));
            }
            // Same lock, same key: only a different lock can change the class.
            if word_id(old) != id {
                let key = meta.hot_key(id);
                if self.keys[len].get() != key {
                    self.set_class(len, key, meta, word);
                }
            }
        }
        self.stack.words[len].set(word);
        // (Nothing below slot 0: `verified` is never below 1.)
        if req != 0 && self.verified.get() == len {
            self.verified.set(len + 1);
        }
        self.stack.sites[len].set(match site {
            Some(s) => Some(s),
            None => self.pending_site.take(),
        });
        #[cfg(feature = "send_guard")]
        self.stamps[len].set(moved::stamp());
        self.stack.len.set(len + 1);
        Some(len)
    }

    /// Slot `i` gets `word`, a lock of another class than the slot's.
    #[cold]
    pub(super) fn set_class(&self, i: usize, key: u64, meta: &LockMeta, word: u64) {
        self.keys[i].set(key);
        self.classes[i].set(SlotClass {
            class: meta.class,
            kind: meta.kind,
        });
        self.stack.set_class(i, word, meta.class, meta.kind);
    }

    /// Marks slot `slot` (just pushed while the profile or the atomicity
    /// checker is on) with [`S_HOOKS`], so that its release leaves the
    /// fast pop and runs their hooks. (The watchdog has no release hook: it
    /// reads the stack.)
    #[inline(always)]
    pub(super) fn mark_hooks(&self, slot: Option<usize>) {
        if let Some(i) = slot {
            self.stack.words[i].set(self.stack.words[i].get() | S_HOOKS);
        }
    }

    /// [`mark_hooks`](Self::mark_hooks) of the slot a push just returned,
    /// without the index's bounds test (the atomicity checker's
    /// acquisition, inlined into the lock path).
    #[inline(always)]
    pub(super) fn mark_hooks_pushed(&self, slot: Option<usize>) {
        if let Some(i) = slot {
            // SAFETY: a slot [`push`](Self::push) returned is below
            // `MAX_HELD` (it returns `None` for a full or busy stack).
            unsafe { std::hint::assert_unchecked(i < MAX_HELD) };
            self.stack.words[i].set(self.stack.words[i].get() | S_HOOKS);
        }
    }

    #[cold]
    pub(super) fn overflow(&self) {
        self.untracked.set(self.untracked.get() + 1);
        global::warn_once_overflow();
    }

    /// Pops `meta`'s slot; returns it when it was the top one (the optional
    /// features' part of a pop from the middle is done here). The fast pop:
    /// the top slot's word is the lock's id without a slow bit.
    #[inline(always)]
    pub(super) fn pop(&self, meta: &LockMeta) -> Option<usize> {
        let len = self.stack.len.get();
        if same_id(self.stack.below(len).get(), meta.id.load(Ordering::Relaxed)) {
            self.stack.len.set(len - 1);
            return Some(len - 1);
        }
        self.pop_slow(meta)
    }

    /// Pops the top slot `top`, whose word is `word`, holding `meta`: the
    /// flags to hand over handed to the lock's word (and the slot's slow
    /// bits cleared). A hook bit alone stays: the next push rewrites the
    /// word.
    #[inline(always)]
    pub(super) fn pop_top(&self, top: usize, word: u64, meta: &LockMeta) {
        self.stack.len.set(top);
        if word & (S_IN_GRAPH | S_YOUNG_FROM) != 0 {
            self.handover_at(top, word, meta);
        }
    }

    /// Slot `i`'s flags set in `meta`'s word, and its slow bits cleared (the
    /// next push of the same lock the same way is steady).
    #[inline]
    pub(super) fn handover_at(&self, i: usize, word: u64, meta: &LockMeta) {
        self.stack.words[i].set(word & !SLOW);
        meta.mark(handover(word));
    }

    /// The release of a hold the fast pop turned down: the top slot with
    /// slow bits (`Some(top)`), a slot in the middle, or none.
    #[cold]
    #[inline(never)]
    pub(super) fn pop_slow(&self, meta: &LockMeta) -> Option<usize> {
        self.pop_past_fast(meta)
    }

    /// [`pop_slow`](Self::pop_slow)'s body, for callers already out of
    /// line (`LockMeta::released_slow`).
    #[inline(always)]
    pub(super) fn pop_past_fast(&self, meta: &LockMeta) -> Option<usize> {
        let len = self.stack.len.get();
        if len & BUSY != 0 {
            // Only locks taken while busy (never pushed) are released now.
            return None;
        }
        let id = word_to_id(meta.id.load(Ordering::Relaxed));
        if let Some(top) = len.checked_sub(1) {
            let word = self.stack.words[top].get();
            if word_id(word) == id {
                self.pop_top(top, word, meta);
                return Some(top);
            }
        }
        self.pop_middle(meta, id);
        None
    }

    /// The release of `meta` (id `id`), not the top slot's lock.
    #[cold]
    #[inline(never)]
    fn pop_middle(&self, meta: &LockMeta, id: u64) {
        if let Some(i) = self.find(id) {
            let word = self.stack.words[i].get();
            if handover(word) != 0 {
                meta.mark(handover(word));
            }
            if crate::profile::on() {
                self.hold_sampled(i, meta);
            }
            self.remove_at(i);
        } else if self.untracked.get() > 0 {
            self.untracked.set(self.untracked.get() - 1);
        } else {
            // A guard taken on another thread (`send_guard`): that thread's
            // stack drops it (and the lock may be in the graph from there).
            #[cfg(feature = "send_guard")]
            {
                meta.mark_in_graph();
                moved::post(id);
            }
        }
    }

    pub(super) fn find(&self, id: u64) -> Option<usize> {
        (0..self.stack.len.get() & !BUSY)
            .rev()
            .find(|&i| word_id(self.stack.words[i].get()) == id)
    }

    /// Removes slot `i`; the summaries above it become stale.
    pub(super) fn remove_at(&self, i: usize) {
        let len = self.stack.len.get();
        // The words, sites and classes the watchdog reads, together.
        self.stack.move_down(i, len, |j| {
            let c = self.classes[j].get();
            (c.class, c.kind)
        });
        for j in i..len - 1 {
            self.keys[j].set(self.keys[j + 1].get());
            self.classes[j].set(self.classes[j + 1].get());
            self.since[j].set(self.since[j + 1].get());
            #[cfg(feature = "send_guard")]
            self.stamps[j].set(self.stamps[j + 1].get());
        }
        self.stack.len.set(len - 1);
        self.linked.set(self.linked.get().min(i));
        self.verified.set(self.verified.get().min(i).max(1));
    }

    /// Changes the mode of `meta`'s slot in place; `flags`: [`UPGRADABLE`]
    /// for an upgradable read, else 0. The slot changed is the thread's
    /// exclusive or upgradable hold of the lock (there is at most one: every
    /// mode change starts from one), not a plain read taken after it.
    pub(super) fn rehold(&self, meta: &LockMeta, hold: Hold, flags: u8) {
        if self.stack.len.get() & BUSY != 0 {
            return;
        }
        let id = meta.id();
        let strong = (0..self.stack.len.get()).rev().find(|&i| {
            let w = self.stack.words[i].get();
            word_id(w) == id && (word_hold(w) == Hold::Exclusive || word_upgradable(w))
        });
        if let Some(i) = strong.or_else(|| self.find(id)) {
            // The same request, the new hold and upgradable flag.
            let w = self.stack.words[i].get();
            let mode = nibble(hold, word_req(w), flags);
            self.stack.words[i].set(w & !MODE | mode);
            self.linked.set(self.linked.get().min(i));
            self.verified.set(self.verified.get().min(i).max(1));
        }
    }

    /// Before an upgradable read of `meta` is released: see [`keep_other`].
    ///
    /// [`keep_other`]: Self::keep_other
    pub(super) fn before_upgradable_release(&self, meta: &LockMeta) {
        self.keep_other(meta, true);
    }

    /// Before a read of `meta` is released: see [`keep_other`]. The common
    /// case (the top entry is this lock, not upgradable) is one comparison.
    ///
    /// [`keep_other`]: Self::keep_other
    #[inline(always)]
    pub(super) fn before_read_release(&self, meta: &LockMeta) {
        let len = self.stack.len.get();
        if len.wrapping_sub(1) < MAX_HELD && {
            let w = self.stack.words[len - 1].get();
            !word_upgradable(w) && word_id(w) == word_to_id(meta.id.load(Ordering::Relaxed))
        } {
            return;
        }
        self.keep_other(meta, false);
    }

    /// Before a shared hold of `meta` is released (`upgradable`: an
    /// upgradable read, else a plain read): a release takes the latest entry
    /// of the lock, so when that is the other kind of shared hold, it trades
    /// how and where it was taken with the latest entry of the released kind
    /// below it (same lock, same hold: the running summaries stay valid), and
    /// the other hold stays.
    #[cold]
    #[inline(never)]
    pub(super) fn keep_other(&self, meta: &LockMeta, upgradable: bool) {
        if self.stack.len.get() & BUSY != 0 {
            return;
        }
        let id = word_to_id(meta.id.load(Ordering::Relaxed));
        let released_kind = |i: usize| word_upgradable(self.stack.words[i].get()) == upgradable;
        let Some(j) = self.find(id) else {
            return;
        };
        if released_kind(j) {
            return;
        }
        let Some(k) = (0..j)
            .rev()
            .find(|&k| word_id(self.stack.words[k].get()) == id && released_kind(k))
        else {
            return;
        };
        self.trade(k, j);
    }

    /// Slots `k < j` hold the same lock, shared: they trade how and where
    /// they were taken. The running summaries from slot `k` on are made
    /// again: an upgradable read is a gate, so the chain tells it from a
    /// read (`chain::link_slot`), and a summary left as it was named an
    /// upgradable read where a plain read now is, so an edge recorded under
    /// it was taken for this one's (a cached chain, its recording skipped,
    /// the gate kept: a cycle missed; found by a review).
    pub(super) fn trade(&self, k: usize, j: usize) {
        // The request and upgradable bits (the hold is shared in both).
        const M: u64 = M_REQ | M_UPGRADABLE;
        let (wk, wj) = (self.stack.words[k].get(), self.stack.words[j].get());
        self.stack.words[k].set(wk & !M | wj & M);
        self.stack.words[j].set(wj & !M | wk & M);
        self.stack.sites[k].swap(&self.stack.sites[j]);
        self.since[k].swap(&self.since[j]);
        self.verified.set(self.verified.get().min(k).max(1));
        self.linked.set(self.linked.get().min(k));
    }

    /// Removes lock `id`'s slot, if this thread holds it (a lock dropped
    /// while held: its guard was forgotten); the edge flags the slot had
    /// to hand over to the lock's word.
    pub(super) fn forget(&self, id: u64) -> u64 {
        if self.stack.len.get() & BUSY != 0 {
            return 0;
        }
        let Some(i) = self.find(id) else {
            return 0;
        };
        let flags = handover(self.stack.words[i].get());
        self.remove_at(i);
        flags
    }
}
