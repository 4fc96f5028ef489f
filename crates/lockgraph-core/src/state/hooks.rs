//! The hooks a lock type calls on its [`LockMeta`]: before a wait, after an
//! acquisition, on release, on a change of mode in place.

use super::*;
use crate::meta::HAS_EDGES;

impl LockMeta {
    /// Call before a blocking or timed acquisition (not before `try_lock`):
    /// records "every held lock -> this one" and reports a cycle it closes,
    /// before the caller blocks.
    #[inline(always)]
    pub fn before_wait(&self, request: Request, site: Option<&'static Location<'static>>) {
        state().before_wait(self, request, 0, site, Op::Acquire, false);
    }

    /// [`before_wait`](Self::before_wait) for a blocking or timed upgradable
    /// read (an exclusive request), to be followed by
    /// [`acquired_upgradable`](Self::acquired_upgradable).
    #[inline]
    pub fn before_wait_upgradable(&self, site: Option<&'static Location<'static>>) {
        state().before_wait(
            self,
            Request::Exclusive,
            UPGRADABLE,
            site,
            Op::Acquire,
            false,
        );
    }

    /// [`before_wait`](Self::before_wait) for an exclusive request of a
    /// primitive that can give back a first attempt: `true` when the
    /// request may be an edge into a fresh lock of the held lock's class,
    /// left unrecorded; the caller then tries once and calls
    /// [`commit_fresh`](Self::commit_fresh) if it got the lock, else (or
    /// if that says `false`, after giving the lock back)
    /// [`record_fresh`](Self::record_fresh) before it blocks.
    ///
    /// `unsteady`: [`steady`](Self::steady) was asked, with the graph on,
    /// and said no: the same test is not made again.
    #[inline(always)]
    pub(crate) fn before_wait_fresh(
        &self,
        site: Option<&'static Location<'static>>,
        unsteady: bool,
    ) -> bool {
        let t = state();
        if unsteady {
            return t.before_wait_unsteady(self, site);
        }
        t.before_wait(self, Request::Exclusive, 0, site, Op::Acquire, true)
    }

    /// See [`before_wait_fresh`](Self::before_wait_fresh): this thread
    /// holds the lock now; whether its edge was buffered.
    #[inline(always)]
    pub(crate) fn commit_fresh(&self, site: Option<&'static Location<'static>>) -> bool {
        state().commit_fresh(self, site)
    }

    /// See [`before_wait_fresh`](Self::before_wait_fresh): records the
    /// request's edges the usual way.
    #[inline(always)]
    pub(crate) fn record_fresh(&self, site: Option<&'static Location<'static>>) {
        state().record_fresh(self, site)
    }

    /// Call after the lock was taken (by any method, `try_lock` included).
    #[inline(always)]
    pub fn acquired(&self, hold: Hold, site: Option<&'static Location<'static>>) {
        self.acquired_with(hold, site, crate::features::hooks());
    }

    /// [`acquired`](Self::acquired) with the features with hooks that are
    /// on (`crate::features::hooks`) already loaded.
    #[inline(always)]
    pub(crate) fn acquired_with(
        &self,
        hold: Hold,
        site: Option<&'static Location<'static>>,
        features: u8,
    ) {
        let t = state();
        let slot = t.push(self, hold, 0, site);
        // The atomicity checker alone, with nothing to do (the common case
        // of a test run with it on), is decided here without a call.
        if features == ATOMICITY {
            t.mark_hooks_pushed(slot);
            if !t.atom.quiet_acquire(self) {
                t.acquired_with_features(self, slot, features);
            }
        } else if features != 0 && (features != WATCHDOG || t.wd_slot.get().is_null()) {
            // (The watchdog alone reads the stack: its one part of a push
            // is registering this thread's stack, once.)
            t.acquired_with_features(self, slot, features);
        }
    }

    /// Call after an upgradable read was taken (by any method), instead of
    /// [`acquired`](Self::acquired): a shared hold for the lock-order graph,
    /// shown to the [`watchdog`](crate::watchdog) as an upgradable one.
    #[inline]
    pub fn acquired_upgradable(&self, site: Option<&'static Location<'static>>) {
        let t = state();
        let features = crate::features::hooks();
        let slot = t.push(self, Hold::Shared, UPGRADABLE, site);
        if features != 0 {
            t.acquired_with_features(self, slot, features);
        }
    }

    /// Call when a timed acquisition checked with [`before_wait`](Self::before_wait)
    /// gave up without the lock.
    pub fn abandoned(&self) {
        STATE.with(|t| t.checked_id.set(0));
    }

    /// Call when the lock is released (before the raw unlock).
    ///
    /// The slot's word decides: the top slot holding this lock with no
    /// slow bit (nothing to hand over, no feature's hook: a push made while
    /// a feature with release hooks was on marks its slot) is popped by
    /// storing the new length; anything else goes out of line.
    /// Every mode's release, the lean one included (the watchdog reads the
    /// stack: nothing to unpublish). In a build that puts the lean mode
    /// first, the lean hold's release comes first (`released_as`).
    #[inline(always)]
    pub fn released(&self) {
        self.released_as(0);
    }

    /// [`released`](Self::released) of a hold whose mode bits, as the lean
    /// push writes them, are `mode` (0 for an exclusive hold). In a build
    /// that puts the lean mode first: the top slot is the lock's slot word
    /// with those bits exactly (the lean push's word: no slow bit, so the
    /// general test below would pop it too), popped with one `dec` of the
    /// length; anything else is that general test, out of line. In any
    /// other build, the general test.
    #[inline(always)]
    fn released_as(&self, mode: u64) {
        if crate::features::LEAN_FIRST {
            let t = state();
            let len = t.stack.len.get();
            // As below: the word below any length is readable, and the
            // guard's and the pad's are no lock's; a slot word still 0
            // (with the mode's bits) is no slot's either.
            if t.stack.below(len).get() == self.slot_word.load(Ordering::Relaxed) | mode {
                t.stack.len.dec();
            } else {
                self.released_not_lean();
            }
            return;
        }
        self.released_general();
    }

    /// [`released`](Self::released) past the lean hold's compare, in a
    /// build that puts the lean mode first: out of line, so that the lean
    /// release is laid out straight through.
    #[cold]
    #[inline(never)]
    fn released_not_lean(&self) {
        self.released_general();
    }

    /// [`released`](Self::released)'s test of the top slot for every mode:
    /// this lock's id and no slow bit, whatever the mode.
    #[inline(always)]
    fn released_general(&self) {
        let t = state();
        let len = t.stack.len.get();
        // The word below any length is readable (an empty or busy stack's
        // is no lock's): no range test.
        let diff = self.id.load(Ordering::Relaxed) ^ t.stack.below(len).get();
        if diff <= MODE {
            // `same_id`: this lock, no slow bit.
            t.stack.len.set(len - 1);
        } else if diff <= MODE | S_IN_GRAPH | S_YOUNG_FROM {
            // This lock, with edge flags to hand over and no hook (a lock's
            // first release after its first new edge; every release of
            // the one-class churn's held lock): a small call.
            self.released_handover();
        } else {
            // A hook bit, a release out of order, a busy thread: out of
            // line (`released_quick` itself is not `#[cold]`: its code is
            // laid out for speed).
            crate::sync::cold_path();
            if !self.released_quick(t, diff) {
                self.released_slow();
            }
        }
    }

    /// [`released`](Self::released) of the top slot, holding this lock
    /// with edge flags to hand over.
    #[cold]
    #[inline(never)]
    fn released_handover(&self) {
        let t = state();
        let len = t.stack.len.get();
        // (`released` saw this lock in the word below `len`.)
        let word = t.stack.below(len).get();
        t.stack.len.set(len - 1);
        t.stack.below(len).set(word & !SLOW);
        // The table's flags are the lock word's edge flags, nothing else
        // (`mark`: a second `YOUNG_FROM` says so in the word).
        self.mark(handover(word));
    }

    /// [`released`](Self::released) past the fast pop and the hand-over,
    /// first look: the atomicity checker on without the profile, settled
    /// (the other features have no release hook), and its common
    /// release (the top slot holds this lock exclusively, with no edge flag
    /// to hand over, and the checker has nothing to record) popped here;
    /// `false`: anything else, for [`released_slow`](Self::released_slow).
    /// That mode's releases all leave the fast pop (their slots have the
    /// hook bit), and this is most of what they do.
    ///
    /// A leaf that saves no register: `t` comes from the caller, because a
    /// thread-local's address taken in this crate's own out-of-line code
    /// is the general-dynamic sequence (a call, which the linker relaxes
    /// to a load of `%fs:0` but which the register allocator already saw):
    /// every value live across it would be kept in a callee-saved register.
    ///
    /// `diff`: the fast pop's xor of the lock's word with the word below
    /// the stack's length. Below 2^8 it says the top slot holds this lock
    /// (a lock's id is not 0 and the guard and pad words are
    /// `EMPTY_WORD`, whose xor with any lock's word is far above 2^8).
    #[inline(never)]
    fn released_quick(&self, t: &ThreadState, diff: u64) -> bool {
        if diff < 1 << 8
            && crate::features::raw() & (crate::features::UNSETTLED | PROFILE | ATOMICITY)
                == ATOMICITY
        {
            let lock = self.id.load(Ordering::Relaxed);
            let top = t.stack.len.get().wrapping_sub(1);
            // SAFETY: the word below the length has this lock's id (see
            // above), so it is a slot: `top < MAX_HELD`.
            unsafe { std::hint::assert_unchecked(top < MAX_HELD) };
            let word = t.stack.words[top].get();
            if word & (M_SHARED | S_IN_GRAPH | S_YOUNG_FROM) == 0 && t.atom.quiet_release_word(lock)
            {
                t.stack.len.set(top);
                return true;
            }
        }
        false
    }

    /// [`released`](Self::released) past the fast pop, the hand-over and
    /// [`released_quick`](Self::released_quick): a hook, a release out of
    /// order, a busy thread. The fast pop's xor is made again here (below
    /// 2^8: the top slot holds this lock, see `released_quick`).
    #[cold]
    #[inline(never)]
    fn released_slow(&self) {
        let t = state();
        let diff = self.id.load(Ordering::Relaxed) ^ t.stack.below(t.stack.len.get()).get();
        let active = crate::features::active();
        if active & (PROFILE | ATOMICITY) == 0 {
            // The fast pop's compare already failed: not made again.
            let _ = t.pop_past_fast(self);
        } else if diff < 1 << 8 && active & (PROFILE | ATOMICITY) == ATOMICITY {
            // The word below `len` has this lock's id (a lock's id is not 0
            // and the guard and pad words are `EMPTY_WORD`, whose xor with
            // any lock's word is far above 2^8): a slot of the
            // stack, the top one, so `1 <= len <= MAX_HELD`.
            let top = t.stack.len.get() - 1;
            // SAFETY: see above: `top < MAX_HELD`.
            unsafe { std::hint::assert_unchecked(top < MAX_HELD) };
            let word = t.stack.words[top].get();
            t.features_released_top(self, top, word, ATOMICITY);
        } else {
            t.released_with_features(self, active);
        }
    }

    /// Call when an upgradable read is released (before the raw unlock),
    /// instead of [`released`](Self::released): when the thread also holds
    /// a plain read of the lock taken later, that one stays (as a read).
    #[inline]
    pub fn released_upgradable(&self) {
        state().before_upgradable_release(self);
        self.released_as(nibble(Hold::Shared, 0, UPGRADABLE));
    }

    /// Call when a read guard (shared, not upgradable) is released (before
    /// the raw unlock), instead of [`released`](Self::released): when the
    /// thread also holds an upgradable read of the lock taken later, that
    /// one stays (as an upgradable read).
    #[inline]
    pub fn released_read(&self) {
        state().before_read_release(self);
        self.released_as(nibble(Hold::Shared, 0, 0));
    }

    /// Call before an exclusive hold is downgraded to a shared one (before
    /// the raw downgrade): for the atomicity checker, the exclusive hold wrote.
    pub fn downgrading(&self) {
        if crate::atomicity::on() {
            if let Some((_, _, site)) = tracked_entry(self) {
                crate::atomicity::downgrading(&state().atom, self, site);
            }
        }
    }

    /// Call when a held lock changes mode in place (downgrade, finished upgrade).
    /// The hold is no longer an upgradable read, if it was one.
    pub fn rehold(&self, hold: Hold) {
        STATE.with(|t| t.rehold(self, hold, 0));
    }

    /// Call when a held write lock is downgraded to an upgradable read in
    /// place: a shared hold, which the watchdog shows as upgradable.
    pub fn rehold_upgradable(&self) {
        STATE.with(|t| t.rehold(self, Hold::Shared, UPGRADABLE));
    }

    /// Call before upgrading a held upgradable read lock: records the other
    /// held locks -> this one as an exclusive request. The hold must have
    /// been recorded as an upgradable read ([`acquired_upgradable`](Self::acquired_upgradable)):
    /// a plain read of the same lock held beside it is a certain
    /// self-deadlock (the upgrade waits for it), and so is a hold recorded
    /// as a plain read.
    pub fn before_upgrade(&self, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::Upgrade, false));
    }

    /// Call before a bump of this held lock (`bump`, `bump_exclusive`,
    /// `bump_upgradable`, `bump_shared`): handed to a waiter and taken back
    /// as `request` (exclusive, or a plain read for a read's bump: it
    /// queues behind a writer) while every other held lock stays held, so
    /// those get their edges to it, as for an upgrade; but unlike an
    /// upgrade it lets the lock go meanwhile (so its own hold is no gate
    /// of those edges).
    pub fn before_bump(&self, request: Request) {
        STATE.with(|t| t.before_wait(self, request, 0, None, Op::Bump, false));
    }

    /// [`before_bump`](Self::before_bump) of an upgradable read
    /// (`bump_upgradable`): taken back as an upgradable read, an exclusive
    /// request to the rules, which its edges name as one
    /// (`EdgeInfo::upgradable_request`, the record's `upgradable`).
    pub fn before_bump_upgradable(&self) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, UPGRADABLE, None, Op::Bump, false));
    }

    /// Call on a condvar's metadata before waiting on it with `mutex`'s guard:
    /// every other held lock -> the condvar.
    pub fn before_condvar_wait(&self, mutex: &LockMeta, site: Option<&'static Location<'static>>) {
        let m = mutex.id();
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::CondvarWait(m), false));
    }

    /// Call on a condvar's metadata when notifying it: the condvar -> every
    /// lock the notifier holds (a waiter needs the notifier to get that far).
    pub fn notified(&self, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::Notify, false));
    }
}

/// A lock going away leaves every layer that knows it: the atomicity
/// checker's block, this thread's stack, the instance graph.
///
/// Inlined where a lock is dropped: the common case (no edge anywhere, no
/// atomicity block, nothing held by this thread) is three tests, without a
/// call.
impl Drop for LockMeta {
    #[inline]
    fn drop(&mut self) {
        if !self.atom.get_mut().is_null() {
            // (Only with the atomicity checker on.)
            crate::atomicity::free(self);
        }
        let v = *self.id.get_mut();
        if v & HAS_EDGES == 0
            && STATE
                .try_with(|t| t.stack.len.get() & !BUSY == 0)
                .unwrap_or(true)
        {
            return;
        }
        self.drop_slow(v);
    }
}

impl LockMeta {
    /// [`drop`](Drop::drop) past its common case; `v`: the lock's word.
    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self, v: u64) {
        if v == 0 {
            return;
        }
        // A lock dropped while this thread still holds it (its guard was
        // forgotten) leaves the held stack too, with the edge flags its
        // slot had still to hand over.
        let id = word_to_id(v);
        let held = STATE
            .try_with(|t| {
                // Something held, and not busy (a busy thread releases only
                // locks it never pushed): one compare.
                if t.stack.len.get().wrapping_sub(1) < MAX_HELD {
                    t.forget(id)
                } else {
                    0
                }
            })
            .unwrap_or(0);
        let v = crate::meta::with_handover(v, held);
        if v & IN_GRAPH != 0 {
            global::forget_instance(id);
        }
        if v & (YOUNG | YOUNG_FROM) != 0 {
            global::young::forget(id, v);
        }
    }
}
