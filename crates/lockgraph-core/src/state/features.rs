//! The optional features' part of a push and a pop: the profile's hold
//! sampling, the watchdog's publication, the atomicity checker.

use super::*;

impl ThreadState {
    /// The optional features' part of an acquisition pushed to `slot`. The
    /// common single-feature cases get their own copy of the body, with the
    /// other features' code folded away.
    #[inline(never)]
    pub(super) fn acquired_with_features(
        &self,
        meta: &LockMeta,
        slot: Option<usize>,
        features: u8,
    ) {
        match features {
            ATOMICITY => self.features_acquired(meta, slot, ATOMICITY),
            WATCHDOG => self.features_acquired(meta, slot, WATCHDOG),
            _ => self.features_acquired_any(meta, slot, features),
        }
    }

    #[inline(never)]
    pub(super) fn features_acquired_any(&self, meta: &LockMeta, slot: Option<usize>, features: u8) {
        self.features_acquired(meta, slot, features);
    }

    #[inline(always)]
    pub(super) fn features_acquired(&self, meta: &LockMeta, slot: Option<usize>, features: u8) {
        if features & (PROFILE | ATOMICITY) != 0 {
            self.mark_hooks(slot);
        }
        if let Some(i) = slot {
            if features & (PROFILE | WATCHDOG) != 0 {
                self.pushed_with_features(i, features);
            }
            if features & ATOMICITY != 0 {
                let w = self.stack.words[i].get();
                let (id, hold, site) = (word_id(w), word_hold(w), self.stack.sites[i].get());
                crate::atomicity::acquired(&self.atom, meta, id, hold, site);
            }
        }
    }

    /// The optional features' part of a release, specialised like
    /// [`acquired_with_features`](Self::acquired_with_features); `active`:
    /// [`crate::features::active`]'s value. The watchdog has no part: it
    /// reads the stack. Inlined into its caller, which is out of line
    /// (`LockMeta::released_slow`).
    #[inline(always)]
    pub(super) fn released_with_features(&self, meta: &LockMeta, active: u8) {
        match active & (PROFILE | ATOMICITY) {
            0 => {
                let _ = self.pop(meta);
            }
            ATOMICITY => self.features_released(meta, ATOMICITY),
            features => self.features_released_any(meta, features),
        }
    }

    #[inline(never)]
    pub(super) fn features_released_any(&self, meta: &LockMeta, features: u8) {
        self.features_released(meta, features);
    }

    #[inline(always)]
    pub(super) fn features_released(&self, meta: &LockMeta, features: u8) {
        let len = self.stack.len.get();
        // Not busy, and something held.
        if features & ATOMICITY != 0 && len.wrapping_sub(1) < MAX_HELD {
            let id = word_to_id(meta.id.load(Ordering::Relaxed));
            let top = len - 1;
            let word = self.stack.words[top].get();
            if word_id(word) == id {
                self.features_released_top(meta, top, word, features);
                return;
            }
            if let Some(i) = self.find(id) {
                let (hold, site) = (
                    word_hold(self.stack.words[i].get()),
                    self.stack.sites[i].get(),
                );
                crate::atomicity::released(&self.atom, meta, id, hold, site);
            }
        }
        if let Some(i) = self.pop(meta) {
            if features & PROFILE != 0 {
                self.hold_sampled(i, meta);
            }
        }
    }

    /// [`features_released`](Self::features_released) of the top slot
    /// `top`, whose word `word` holds `meta` (the common case): checked,
    /// then popped here without looking it up again (the checker changes
    /// no slot).
    #[inline(always)]
    pub(super) fn features_released_top(
        &self,
        meta: &LockMeta,
        top: usize,
        word: u64,
        features: u8,
    ) {
        let (hold, site) = (word_hold(word), self.stack.sites[top].get());
        crate::atomicity::released(&self.atom, meta, word_id(word), hold, site);
        self.pop_top(top, word, meta);
        if features & PROFILE != 0 {
            self.hold_sampled(top, meta);
        }
    }

    /// The profile's and the watchdog's part of a push: the profile's hold
    /// sample; the watchdog's registration of this stack (once per thread).
    #[inline]
    pub(super) fn pushed_with_features(&self, i: usize, features: u8) {
        if features & PROFILE != 0 {
            self.sample_since(i);
        }
        if features & WATCHDOG != 0 && self.wd_slot.get().is_null() {
            self.register_watchdog_slot();
        }
    }

    /// This thread's watchdog slot registered (once per thread, or again
    /// in a forked child), with this thread's held-lock stack as what the
    /// watchdog reads of its holds; `None` when the thread is exiting and
    /// its slot is gone.
    #[cold]
    #[inline(never)]
    pub(super) fn register_watchdog_slot(&self) -> Option<&crate::watchdog::Slot> {
        let p = crate::watchdog::this_thread_slot(&query::SLOT_OWNER, &self.stack);
        self.wd_slot.set(p);
        // SAFETY: a non-null pointer came from `this_thread_slot`: the slot
        // is kept alive by this thread's `MINE` thread-local, whose drop
        // clears `wd_slot` (`SLOT_OWNER.forget_slot`) before releasing it.
        // The reference does not outlive this call, on this thread.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    #[cold]
    pub(super) fn sample_since(&self, i: usize) {
        let t = crate::profile::sample_hold().then(Instant::now);
        self.since[i].set(t);
    }

    #[cold]
    pub(super) fn hold_sampled(&self, i: usize, meta: &LockMeta) {
        if let Some(t) = self.since[i].take() {
            crate::profile::held_for(meta, t.elapsed());
        }
    }
}
