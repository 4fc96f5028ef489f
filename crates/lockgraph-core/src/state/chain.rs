//! The lock-order side of an acquisition: the steady-state check, the
//! chain cache, and the slow path to the process-wide graphs.

use super::*;
use crate::meta::HAS_EDGES;

impl ThreadState {
    /// `flags`: [`UPGRADABLE`] for an upgradable read, else 0 (acquisitions
    /// only).
    #[inline]
    pub(super) fn before_wait(
        &self,
        meta: &LockMeta,
        request: Request,
        flags: u8,
        site: Option<&'static Location<'static>>,
        op: Op,
        fresh: bool,
    ) -> bool {
        let len = self.stack.len.get();
        // Nothing held (no edge to record), or busy: nothing to do.
        if len.wrapping_sub(1) >= MAX_HELD {
            return false;
        }
        if op == Op::Acquire {
            let id = meta.id();
            let req = request as u8 + 1;
            // The id, no edge flags (the hook bit of a push made with the
            // profile or the atomicity checker on may stay), the request
            // and the upgradable flag (a hold below `verified` is the one
            // its request takes).
            if len < MAX_HELD
                && self.verified.get() > len
                && self.stack.words[len].get() & !(M_SHARED | S_HOOKS)
                    == id << 8 | nibble(Hold::Exclusive, req, flags)
            {
                // The same lock, requested the same way, on the same stack as
                // last time at this depth: its edges are recorded.
                self.checked_id.set(id);
                self.checked_tag.set(len << 8 | req as usize);
                return false;
            }
        }
        // Past the steady state: the lock-order graph's switch. Off, nothing
        // is looked up, recorded or cached, and nothing new marked checked.
        if crate::features::order_graph_on() {
            if flags & UPGRADABLE != 0 {
                /// Clears the mark however the recording ends (a report can
                /// panic, `LOCKGRAPH_ON_CYCLE=panic`, and be caught).
                struct Clear<'a>(&'a Cell<bool>);
                impl Drop for Clear<'_> {
                    fn drop(&mut self) {
                        self.0.set(false);
                    }
                }
                self.upgradable_request.set(true);
                let _clear = Clear(&self.upgradable_request);
                self.before_wait_nested(meta, request, site, op, len, false);
                return false;
            }
            // Only one lock held can make an edge into a fresh lock
            // (`fresh_shape`): deeper acquisitions return a constant, which
            // the caller's test folds away.
            if fresh && len == 1 {
                return self.before_wait_nested(meta, request, site, op, len, true);
            }
            self.before_wait_nested(meta, request, site, op, len, false);
        }
        false
    }

    /// [`before_wait`](Self::before_wait) of an exclusive acquisition that
    /// may be an edge into a fresh lock, once `LockMeta::steady` said it is
    /// not the steady case and the graph is on: the same answer without
    /// the steady test and the graph's switch again.
    #[inline(always)]
    pub(super) fn before_wait_unsteady(
        &self,
        meta: &LockMeta,
        site: Option<&'static Location<'static>>,
    ) -> bool {
        let len = self.stack.len.get();
        if len == 1 {
            // The remembered pair of classes (see `on_one`), tested here
            // without a call: a site or named class's key names no id.
            let Some(key) = meta.class_key() else {
                return self.on_one_unpaired(meta, site);
            };
            if self.pair.get() == (self.keys[0].get(), key)
                && self.stack.words[0].get() & M_SHARED == 0
            {
                self.checked_id.set(meta.id_in_line());
                self.checked_tag
                    .set(1 << 8 | (Request::Exclusive as usize + 1));
                return false;
            }
            return self.on_one_unpaired(meta, site);
        }
        // Nothing held (no edge to record), or busy: nothing to do.
        if len.wrapping_sub(1) < MAX_HELD {
            self.before_wait_exclusive(meta, site, len, false);
        }
        false
    }

    /// [`before_wait_nested`](Self::before_wait_nested) of an exclusive
    /// acquisition with two or more locks held: its own copy, with the
    /// operation and the request known.
    #[inline(never)]
    fn before_wait_exclusive(
        &self,
        meta: &LockMeta,
        site: Option<&'static Location<'static>>,
        len: usize,
        fresh: bool,
    ) -> bool {
        self.nested(meta, Request::Exclusive, site, Op::Acquire, len, fresh)
    }

    /// An exclusive acquisition with one lock held whose classes are not
    /// the remembered pair (tested in line by
    /// [`before_wait_unsteady`](Self::before_wait_unsteady)): the id and
    /// the class key, the fresh shape (a churned pair of one class: no
    /// more, and `true`), then [`on_one`](Self::on_one).
    #[inline(never)]
    fn on_one_unpaired(&self, meta: &LockMeta, site: Option<&'static Location<'static>>) -> bool {
        let id = meta.id_in_line();
        let key = meta.hot_key(id);
        if self.fresh_shape(meta, id, key, 1) {
            return true;
        }
        self.on_one(meta, id, key, site);
        false
    }

    /// An exclusive acquisition with one lock held, past the remembered
    /// pair and the fresh shape (the requested lock's id and class key
    /// known): its chain key, the cache, the recording.
    ///
    /// With the one lock held exclusively, of another class than the
    /// requested one, the chain key names no id: it is the two classes
    /// (and the hold and request, both exclusive). The last such pair
    /// whose edges are recorded is kept (`pair`), and the same two classes
    /// again (new locks made at the same two sites: the two-class churn)
    /// are marked checked without the key by
    /// [`before_wait_unsteady`](Self::before_wait_unsteady), as a hit in
    /// the cache would be.
    #[inline(never)]
    fn on_one(&self, meta: &LockMeta, id: u64, key: u64, site: Option<&'static Location<'static>>) {
        self.nested_keyed(
            meta,
            id,
            key,
            Request::Exclusive,
            site,
            Op::Acquire,
            1,
            false,
        );
        // Recorded (or found in the cache) on one exclusive hold with a
        // key that named no id: another class, and no same-class hold
        // (the bloom), so the key is the two classes'.
        let held = self.keys[0].get();
        if held != key
            && self.stack.words[0].get() & M_SHARED == 0
            && self.blooms[0].get() & bloom_bit(key) == 0
        {
            self.pair.set((held, key));
        }
    }

    /// The chain-cache lookup, out of line so the common "nothing held" path
    /// stays small where it is inlined. An acquisition whose chain's edges
    /// are recorded is marked checked for the push that follows.
    ///
    /// With `fresh` (an exclusive request whose primitive can give back a
    /// successful first attempt), a request that may be an edge into a
    /// fresh lock of the held lock's class is left unrecorded, before any
    /// chain key is made (a fresh lock's id is in its key: the cache cannot
    /// know it), and `true` returned: the caller tries the lock, then calls
    /// [`commit_fresh`](Self::commit_fresh) or
    /// [`record_fresh`](Self::record_fresh).
    #[inline(never)]
    pub(super) fn before_wait_nested(
        &self,
        meta: &LockMeta,
        request: Request,
        site: Option<&'static Location<'static>>,
        op: Op,
        len: usize,
        fresh: bool,
    ) -> bool {
        self.nested(meta, request, site, op, len, fresh)
    }

    /// [`before_wait_nested`](Self::before_wait_nested)'s body.
    #[inline(always)]
    fn nested(
        &self,
        meta: &LockMeta,
        request: Request,
        site: Option<&'static Location<'static>>,
        op: Op,
        len: usize,
        fresh: bool,
    ) -> bool {
        if len.wrapping_sub(1) >= MAX_HELD {
            return false;
        }
        let id = meta.id();
        let key = meta.hot_key(id);
        self.nested_keyed(meta, id, key, request, site, op, len, fresh)
    }

    /// [`nested`](Self::nested) once the requested lock's id and class
    /// key are known (`1 <= len <= MAX_HELD`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn nested_keyed(
        &self,
        meta: &LockMeta,
        id: u64,
        key: u64,
        request: Request,
        site: Option<&'static Location<'static>>,
        op: Op,
        len: usize,
        fresh: bool,
    ) -> bool {
        // A fresh lock of the held lock's class: its chain key names its
        // new id, so the cache cannot know it; the caller tries the lock
        // (see `global::young`), and no key is made or remembered.
        if fresh && self.fresh_shape(meta, id, key, len) {
            return true;
        }
        let h = self.chain_key(key, id, request, op, len);
        let slot = (h >> (64 - CACHE_BITS)) as usize;
        // Two-way: the pair of slots `slot & !1` and `slot | 1`.
        let (a, b) = (&self.cache[slot & !1], &self.cache[slot | 1]);
        if a.get() != h && b.get() != h {
            self.slow_add_edges(meta, id, request, site, op);
            self.remember(h);
        }
        if op == Op::Acquire {
            self.checked_id.set(id);
            self.checked_tag.set(len << 8 | (request as usize + 1));
        }
        false
    }

    /// The chain key of requesting instance `id` of the class whose hot
    /// key is `key` with `len` (at least 1) locks held.
    #[inline(always)]
    fn chain_key(&self, key: u64, id: u64, request: Request, op: Op, len: usize) -> u64 {
        let top = len - 1;
        if self.linked.get() < len {
            if len == 1 {
                self.link_first();
            } else {
                self.link_up_to(len);
            }
        }
        let mut h = mix(mix(self.chains[top].get(), key), request as u64 + 1);
        if len >= 2 {
            // Every held lock may gate some edge: instance identity matters.
            h = mix(h, self.insts[top].get());
        }
        if self.blooms[top].get() & bloom_bit(key) != 0 {
            h = self.same_class_key(h, key, id, len);
        }
        match op {
            Op::Acquire => {}
            Op::Upgrade => h = mix(h, 0x75),
            Op::Bump => h = mix(h, 0x62),
            Op::CondvarWait(m) => h = mix(mix(h, 0xc0), m),
            Op::Notify => h = mix(h, 0x7e),
        }
        h | 1
    }

    /// Puts chain key `h` in the cache.
    fn remember(&self, h: u64) {
        let slot = (h >> (64 - CACHE_BITS)) as usize;
        let (a, b) = (&self.cache[slot & !1], &self.cache[slot | 1]);
        if a.get() != h && b.get() != h {
            b.set(a.get());
            a.set(h);
        }
    }

    /// Whether requesting `meta` (instance `id`, hot key `key`) with `len`
    /// locks held may make an edge for `global::young`: one lock held, of
    /// the same class (by address), and the requested lock without an edge
    /// as far as its word says now (checked again once it is held).
    #[inline(always)]
    fn fresh_shape(&self, meta: &LockMeta, id: u64, key: u64, len: usize) -> bool {
        !cfg!(loom)
            && !cfg!(feature = "send_guard")
            && len == 1
            && self.keys[0].get() == key
            && word_id(self.stack.words[0].get()) != id
            && !matches!(meta.class, Class::Anonymous)
            && meta.edge_flags() == 0
    }

    /// After [`before_wait_nested`](Self::before_wait_nested) said `true`
    /// and the first attempt took `meta` (so this thread holds it
    /// exclusively, and its word says whether it has an edge anywhere):
    /// buffers the edge from the held lock, when `meta` has none. `false`:
    /// nothing was done; the caller gives the lock back and calls
    /// [`record_fresh`](Self::record_fresh).
    #[cold]
    #[inline(never)]
    pub(super) fn commit_fresh(
        &self,
        meta: &LockMeta,
        site: Option<&'static Location<'static>>,
    ) -> bool {
        // The lock's word, read once: its flags (`edge_flags`) and its id.
        // One class may hold locks of several kinds (a `Mutex` and an
        // `RwLock` named alike): a buffered edge has one kind for both ends,
        // so a pair of two kinds is recorded the usual way.
        let word = meta.id.load(Ordering::Relaxed);
        if self.stack.len.get() != 1
            || word & HAS_EDGES != 0
            || self.classes[0].get().kind != meta.kind
        {
            return false;
        }
        let id = if word != 0 {
            word_to_id(word)
        } else {
            meta.id()
        };
        let edge = crate::global::young::Young {
            from: word_id(self.stack.words[0].get()),
            to: id,
            class: &meta.class,
            kind: meta.kind,
            hold: word_edge_hold(self.stack.words[0].get()),
            held_at: self.stack.sites[0].get(),
            requested_at: site.or(self.pending_site.get()),
        };
        {
            let _busy = Busy::enter(self);
            if !crate::global::young::push(edge) {
                return false;
            }
        }
        meta.mark(YOUNG);
        self.stack.words[0].set(self.stack.words[0].get() | S_YOUNG_FROM);
        // Not remembered in the chain cache: a pair nested again in the
        // same way is the steady case, and anything else finds `meta`
        // marked and records the usual way once, then caches that.
        self.checked_id.set(id);
        self.checked_tag
            .set(1 << 8 | (Request::Exclusive as usize + 1));
        true
    }

    /// Records the edges of an acquisition [`before_wait_nested`] left
    /// unrecorded (`true`), before the caller blocks: the usual slow path.
    ///
    /// [`before_wait_nested`]: Self::before_wait_nested
    #[cold]
    #[inline(never)]
    pub(super) fn record_fresh(&self, meta: &LockMeta, site: Option<&'static Location<'static>>) {
        let len = self.stack.len.get();
        if len.wrapping_sub(1) >= MAX_HELD {
            return;
        }
        let id = meta.id();
        self.slow_add_edges(meta, id, Request::Exclusive, site, Op::Acquire);
        let h = self.chain_key(meta.hot_key(id), id, Request::Exclusive, Op::Acquire, len);
        self.remember(h);
        self.checked_id.set(id);
        self.checked_tag
            .set(len << 8 | (Request::Exclusive as usize + 1));
    }

    /// A lock of the same class may be held: the order of instances decides,
    /// so their ids go into the key.
    #[cold]
    #[inline(never)]
    pub(super) fn same_class_key(&self, mut h: u64, key: u64, id: u64, len: usize) -> u64 {
        for i in 0..len {
            if self.keys[i].get() == key {
                h = mix(h, word_id(self.stack.words[i].get()));
            }
        }
        mix(h, id)
    }

    /// Drops the slots of locks whose guards were sent to and released on
    /// another thread (`send_guard`; see `state/moved.rs`).
    #[inline]
    pub(super) fn claim_moved(&self) {
        #[cfg(feature = "send_guard")]
        if self.stack.len.get() & BUSY == 0 {
            moved::claim(
                |id, seq| {
                    (0..self.stack.len.get()).find(|&i| {
                        word_id(self.stack.words[i].get()) == id && self.stamps[i].get() < seq
                    })
                },
                |i| self.remove_at(i),
            );
        }
    }

    pub(super) fn snapshot(&self) -> Vec<Held> {
        (0..self.stack.len.get() & !BUSY)
            .map(|i| {
                let class = self.classes[i].get();
                let w = self.stack.words[i].get();
                Held {
                    id: word_id(w),
                    key: self.keys[i].get(),
                    class: class.class,
                    kind: class.kind,
                    hold: word_hold(w),
                    site: self.stack.sites[i].get(),
                }
            })
            .collect()
    }

    #[cold]
    #[inline(never)]
    pub(super) fn slow_add_edges(
        &self,
        meta: &LockMeta,
        id: u64,
        request: Request,
        site: Option<&'static Location<'static>>,
        op: Op,
    ) {
        let site = site.or(self.pending_site.get());
        self.claim_moved();
        let held = self.snapshot();
        // An upgradable read requested where this thread holds the lock
        // only as plain reads (an upgradable read or a write held makes it
        // wait for the thread itself).
        let mine = || {
            (0..held.len())
                .map(|i| self.stack.words[i].get())
                .filter(|&w| word_id(w) == id)
        };
        let own = global::OwnHolds {
            read_then_upgradable: self.upgradable_request.get()
                && mine().next().is_some()
                && mine().all(|w| word_hold(w) == Hold::Shared && w & M_UPGRADABLE == 0),
            upgradable: (0..held.len().min(64))
                .filter(|&i| self.stack.words[i].get() & M_UPGRADABLE != 0)
                .fold(0, |m, i| m | 1 << i),
            upgradable_request: self.upgradable_request.get(),
        };
        let _busy = Busy::enter(self);
        let out = global::add_edges(&held, meta, id, request, site, op, own);
        for i in out.marked {
            self.stack.words[i].set(self.stack.words[i].get() | S_IN_GRAPH);
        }
        crate::record::write(out.lines);
        crate::record::write_cycles(out.cycles);
        for report in out.reports {
            crate::policy::emit_at(report, site);
        }
    }

    /// [`link_up_to`](Self::link_up_to)`(1)` in line: slot 0's summaries
    /// from the root's. A nested acquisition on a new lock at depth 0
    /// (every churned pair of two classes) links this one slot, and the
    /// loop out of line cost about as much as the chain key itself.
    #[inline(always)]
    fn link_first(&self) {
        let w = self.stack.words[0].get();
        let key = self.keys[0].get();
        let (chain, inst) = link_slot(ROOT_CHAIN, ROOT_INST, w, key);
        self.chains[0].set(chain);
        self.insts[0].set(inst);
        self.blooms[0].set(bloom_bit(key));
        self.linked.set(1);
    }

    /// Fills the running summaries of slots `linked..len`: the previous
    /// slot's summaries carried in registers, so that linking one slot
    /// (a nested acquisition on a new lock at depth 0: every churned pair)
    /// loads its key, hold and id and stores three words.
    #[cold]
    #[inline(never)]
    pub(super) fn link_up_to(&self, len: usize) {
        let len = len.min(MAX_HELD);
        let start = self.linked.get();
        let (mut chain, mut inst, mut bloom) = match start.checked_sub(1) {
            None => (ROOT_CHAIN, ROOT_INST, 0),
            Some(p) if p < MAX_HELD => (
                self.chains[p].get(),
                self.insts[p].get(),
                self.blooms[p].get(),
            ),
            Some(_) => return,
        };
        for i in start..len {
            let w = self.stack.words[i].get();
            let key = self.keys[i].get();
            (chain, inst) = link_slot(chain, inst, w, key);
            bloom |= bloom_bit(key);
            self.chains[i].set(chain);
            self.insts[i].set(inst);
            self.blooms[i].set(bloom);
        }
        self.linked.set(len);
    }
}

/// The running summaries `(chain, inst)` past a slot whose word is `w` and
/// class key `key`. The chain takes the hold's mode (exclusive, shared or
/// upgradable read) and the instance summary the ids of the holds, which
/// are gates of the edges recorded under them (`global::add_edges`: an
/// exclusive hold, an upgradable read, an `RwLock`'s read; the shared
/// holds of other kinds, which gate nothing, are in it too, at the cost of
/// a recording more when another instance is held). An upgradable read is
/// a gate of the edges from it too, so its id goes in the chain itself,
/// which a key of one held lock uses alone.
#[inline(always)]
fn link_slot(chain: u64, inst: u64, w: u64, key: u64) -> (u64, u64) {
    let chain = mix(mix(chain, key), w & (M_SHARED | M_UPGRADABLE));
    if w & M_UPGRADABLE == 0 {
        (chain, mix(inst, word_id(w)))
    } else {
        (mix(chain, word_id(w)), mix(inst, word_id(w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_0_linked_in_line_has_the_loops_summaries() {
        let l = LockMeta::new(LockKind::RwLock, Class::Named("chain-test-link-first"));
        for hold in [Hold::Exclusive, Hold::Shared] {
            l.acquired(hold, None);
            let t = state();
            let summaries = || {
                (
                    t.chains[0].get(),
                    t.insts[0].get(),
                    t.blooms[0].get(),
                    t.linked.get(),
                )
            };
            t.linked.set(0);
            t.link_first();
            let in_line = summaries();
            t.linked.set(0);
            t.link_up_to(1);
            assert_eq!(in_line, summaries(), "{hold:?}");
            l.released();
        }
    }

    #[test]
    fn a_lock_dropped_while_held_by_a_forgotten_guard_leaves_the_stack() {
        let outer = LockMeta::new(LockKind::Mutex, Class::Named("chain-test-outer"));
        // Alone on the stack, and above another lock.
        for depth in 0..2 {
            if depth == 1 {
                outer.acquired(Hold::Exclusive, None);
            }
            let m = Box::new(LockMeta::new(
                LockKind::Mutex,
                Class::Named("chain-test-dropped"),
            ));
            m.acquired(Hold::Exclusive, None);
            assert_eq!(held_locks().len(), depth + 1);
            drop(m);
            assert_eq!(held_locks().len(), depth, "depth {depth}");
            if depth == 1 {
                outer.released();
            }
        }
        assert!(held_locks().is_empty());
    }
}
