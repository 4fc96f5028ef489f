//! The lean production mode (issue 17): the watchdog on, every other
//! feature off and the lock-order graph off. An acquisition then does only
//! what the watchdog needs: the hold pushed on this thread's held-lock
//! stack and published in its own watchdog slot (lock, mode, site, the
//! coarse tick the watchdog advances), and dropped from both on release. No
//! chain hash, no graph, no clock read, no read-modify-write on memory
//! another thread writes: the stack is thread-local and the slot has one
//! writer, this thread.
//!
//! The stack is the same one the full path keeps, filled the same way (a
//! slot's class and key rewritten only when another lock lands in it), so
//! a hold taken here is released by the full path and the other way round,
//! and turning the graph (or another feature) on at run time records from
//! the next acquisition on. A hold taken here is unchecked for the graph
//! (its request part is 0, as a `try_lock`'s), so the first acquisition
//! of each chain after the graph comes back on is looked up and recorded.

use super::*;

impl LockMeta {
    /// The lean mode's [`acquired`](Self::acquired): `hold` taken (an
    /// upgradable read when `upgradable`) without a wait, at `site`.
    #[inline(always)]
    pub(crate) fn lean_acquired(
        &self,
        hold: Hold,
        upgradable: bool,
        site: Option<&'static Location<'static>>,
    ) {
        let flags = if upgradable { UPGRADABLE } else { 0 };
        state().lean_push(self, hold, flags, site);
    }
}

impl ThreadState {
    /// Pushes `meta` held as `hold` (`flags`: [`UPGRADABLE`] or 0) and
    /// publishes it in this thread's watchdog slot.
    #[inline(always)]
    fn lean_push(
        &self,
        meta: &LockMeta,
        hold: Hold,
        flags: u8,
        site: Option<&'static Location<'static>>,
    ) {
        let len = self.len.get();
        if len >= MAX_HELD {
            // Full, or busy: the usual way decides.
            self.lean_overflow(meta, hold, flags, site);
            return;
        }
        let word = meta.id.load(Ordering::Relaxed);
        // A lean hold is unchecked (request 0) and has its release hook
        // (the watchdog's unpublication): one compare.
        let id = if self.words[len].get() == expect(word, nibble(hold, 0, flags), S_HOOKS) {
            word & ID_MASK
        } else {
            self.lean_rewrite(len, meta, hold, flags)
        };
        let site = match site {
            Some(s) => Some(s),
            None => self.pending_site.take(),
        };
        self.sites[len].set(site);
        #[cfg(feature = "send_guard")]
        self.stamps[len].set(moved::stamp());
        self.len.set(len + 1);
        let since = crate::watchdog::tick();
        self.wd_since[len].set(since);
        if let Some(s) = self.watchdog_slot() {
            let mode = crate::watchdog::hold_mode(hold, flags != 0);
            crate::watchdog::publish_push(s, len, id, mode, site, since, || self.published(len));
        }
    }

    /// Slot `len` gets another lock, or the same one another way: its
    /// contents and the summaries of the slots from it up are rewritten, as
    /// in [`push`](Self::push) (a lean hold is unchecked: request 0).
    #[cold]
    #[inline(never)]
    fn lean_rewrite(&self, len: usize, meta: &LockMeta, hold: Hold, flags: u8) -> u64 {
        let id = meta.id();
        let old = self.words[len].get();
        let word = id << 8 | S_HOOKS | nibble(hold, 0, flags);
        if (old ^ word) & !SLOW != 0 {
            if self.linked.get() > len {
                self.linked.set(len);
            }
            if self.verified.get() > len {
                self.verified.set(len.max(1));
            }
        }
        self.words[len].set(word);
        let key = meta.hot_key(id);
        if self.keys[len].get() != key {
            self.set_class(len, key, meta);
        }
        id
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
        let slot = self.push(meta, hold, flags, site, WATCHDOG);
        self.acquired_with_features(meta, slot, WATCHDOG);
    }

    /// Pops `meta`'s slot and publishes the new length; a release that is
    /// not of the top slot goes the usual way (the watchdog's).
    #[inline(always)]
    pub(super) fn lean_pop(&self, meta: &LockMeta) {
        let len = self.len.get();
        let top = len.wrapping_sub(1);
        if top < MAX_HELD {
            let word = self.words[top].get();
            // The lean push's word: the lock's id and the hook bit alone.
            if (meta.id.load(Ordering::Relaxed) << 8 ^ word) >> 4 == S_HOOKS >> 4 {
                self.len.set(top);
                let p = self.wd_slot.get();
                if !p.is_null() {
                    // SAFETY: as in `watchdog_slot`: a non-null pointer is
                    // this thread's live slot.
                    crate::watchdog::publish_len(unsafe { &*p }, top);
                }
                return;
            }
        }
        self.lean_pop_slow(meta);
    }

    /// [`lean_pop`](Self::lean_pop) of a lock not on top (or busy, or an
    /// empty stack): the usual way (the watchdog's).
    #[cold]
    #[inline(never)]
    fn lean_pop_slow(&self, meta: &LockMeta) {
        self.released_with_features(meta, WATCHDOG);
    }
}
