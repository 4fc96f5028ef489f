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
        if let Some(i) = slot {
            if features & (PROFILE | WATCHDOG) != 0 {
                self.pushed_with_features(i, features);
            }
            if features & ATOMICITY != 0 {
                let w = self.words[i].get();
                let (id, hold, site) = (word_id(w), word_hold(w), self.sites[i].get());
                crate::atomicity::acquired(&self.atom, meta, id, hold, site);
            }
        }
    }

    /// The optional features' part of a release, specialised like
    /// [`acquired_with_features`](Self::acquired_with_features); `active`:
    /// [`crate::features::active`]'s value (the lean mode's release is
    /// `lean_pop`). Inlined into its callers, which are out of line
    /// (`LockMeta::released_slow`, `lean_pop_slow`).
    #[inline(always)]
    pub(super) fn released_with_features(&self, meta: &LockMeta, active: u8) {
        if active == crate::features::LEAN {
            return self.lean_pop(meta);
        }
        match active & crate::features::HOOKS {
            ATOMICITY => self.features_released(meta, ATOMICITY),
            WATCHDOG => self.features_released(meta, WATCHDOG),
            features => self.features_released_any(meta, features),
        }
    }

    #[inline(never)]
    pub(super) fn features_released_any(&self, meta: &LockMeta, features: u8) {
        self.features_released(meta, features);
    }

    #[inline(always)]
    pub(super) fn features_released(&self, meta: &LockMeta, features: u8) {
        let len = self.len.get();
        // Not busy, and something held.
        if features & ATOMICITY != 0 && len.wrapping_sub(1) < MAX_HELD {
            let id = meta.id.load(Ordering::Relaxed) & ID_MASK;
            let top = len - 1;
            let word = self.words[top].get();
            if word_id(word) == id {
                // The common case, the top slot: checked, then popped here
                // without looking it up again (the checker changes no slot).
                let (hold, site) = (word_hold(word), self.sites[top].get());
                crate::atomicity::released(&self.atom, meta, id, hold, site);
                self.pop_top(top, word, meta);
                if features & (PROFILE | WATCHDOG) != 0 {
                    self.popped_with_features(top, meta, features);
                }
                return;
            }
            if let Some(i) = self.find(id) {
                let (hold, site) = (word_hold(self.words[i].get()), self.sites[i].get());
                crate::atomicity::released(&self.atom, meta, id, hold, site);
            }
        }
        if let Some(i) = self.pop(meta) {
            if features & (PROFILE | WATCHDOG) != 0 {
                self.popped_with_features(i, meta, features);
            }
        }
    }

    /// The profile's and the watchdog's part of a push.
    #[inline]
    pub(super) fn pushed_with_features(&self, i: usize, features: u8) {
        if features & PROFILE != 0 {
            self.sample_since(i);
        }
        if features & WATCHDOG != 0 {
            self.wd_since[i].set(crate::watchdog::tick());
            if let Some(s) = self.watchdog_slot() {
                let w = self.words[i].get();
                let mode = crate::watchdog::hold_mode(word_hold(w), word_upgradable(w));
                crate::watchdog::publish_push(
                    s,
                    i,
                    word_id(w),
                    mode,
                    self.sites[i].get(),
                    self.wd_since[i].get(),
                    || self.published(i),
                );
            }
        }
    }

    /// The profile's and the watchdog's part of a pop of slot `i`.
    #[inline]
    pub(super) fn popped_with_features(&self, i: usize, meta: &LockMeta, features: u8) {
        if features & PROFILE != 0 {
            self.hold_sampled(i, meta);
        }
        if features & WATCHDOG != 0 {
            if let Some(s) = self.watchdog_slot() {
                crate::watchdog::publish_len(s, i);
            }
        }
    }

    /// This thread's watchdog slot (registered on first use), or `None` when
    /// the thread is exiting and its slot is gone.
    #[inline]
    pub(super) fn watchdog_slot(&self) -> Option<&crate::watchdog::Slot> {
        let p = self.wd_slot.get();
        if p.is_null() {
            return self.register_watchdog_slot();
        }
        // SAFETY: a non-null pointer came from `this_thread_slot`: the slot
        // is kept alive by this thread's `MINE` thread-local, whose drop
        // clears `wd_slot` (`SLOT_OWNER.forget_slot`) before releasing it. The
        // reference does not outlive this hook call, on this thread.
        Some(unsafe { &*p })
    }

    /// [`watchdog_slot`](Self::watchdog_slot)'s first call on this thread.
    #[cold]
    #[inline(never)]
    fn register_watchdog_slot(&self) -> Option<&crate::watchdog::Slot> {
        let p = crate::watchdog::this_thread_slot(&query::SLOT_OWNER);
        self.wd_slot.set(p);
        // SAFETY: as in `watchdog_slot`: the slot outlives this call.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Slot `i` as the watchdog publishes it.
    #[inline]
    pub(super) fn published(&self, i: usize) -> crate::watchdog::Published {
        let class = self.classes[i].get();
        let w = self.words[i].get();
        crate::watchdog::Published {
            id: word_id(w),
            class: class.class,
            kind: class.kind,
            hold: word_hold(w),
            upgradable: word_upgradable(w),
            site: self.sites[i].get(),
            since: self.wd_since[i].get(),
        }
    }

    /// Publishes slots `from..len` and the length for the watchdog.
    #[cold]
    #[inline(never)]
    pub(super) fn publish(&self, from: usize) {
        let len = self.len.get() & !BUSY;
        if let Some(s) = self.watchdog_slot() {
            crate::watchdog::publish(s, from, len, |i| self.published(i));
        }
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
