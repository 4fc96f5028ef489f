//! The lock-order side of an acquisition: the steady-state check, the
//! chain cache, and the slow path to the process-wide graphs.

use super::*;

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
    ) {
        let len = self.len.get();
        // Nothing held (no edge to record), or busy: nothing to do.
        if len.wrapping_sub(1) >= MAX_HELD {
            return;
        }
        if op == Op::Acquire {
            let id = meta.id();
            let req = request as u8 + 1;
            if len < MAX_HELD
                && self.verified.get() > len
                && self.ids[len].get() & ID_MASK == id
                && self.reqs[len].get() == req | flags
            {
                // The same lock, requested the same way, on the same stack as
                // last time at this depth: its edges are recorded.
                self.checked_id.set(id);
                self.checked_tag.set(len << 8 | req as usize);
                return;
            }
        }
        // Past the steady state: the lock-order graph's switch. Off, nothing
        // is looked up, recorded or cached, and nothing new marked checked.
        if crate::features::order_graph_on() {
            self.before_wait_nested(meta, request, site, op, len);
        }
    }

    /// The chain-cache lookup, out of line so the common "nothing held" path
    /// stays small where it is inlined. An acquisition whose chain's edges
    /// are recorded is marked checked for the push that follows.
    #[inline(never)]
    pub(super) fn before_wait_nested(
        &self,
        meta: &LockMeta,
        request: Request,
        site: Option<&'static Location<'static>>,
        op: Op,
        len: usize,
    ) {
        if len.wrapping_sub(1) >= MAX_HELD {
            return;
        }
        let top = len - 1;
        if self.linked.get() < len {
            self.link_up_to(len);
        }
        let id = meta.id();
        let key = meta.hot_key(id);
        let mut h = mix(mix(self.chains[top].get(), key), request as u64 + 1);
        if len >= 2 {
            // Every held exclusive lock gates some edge: instance identity matters.
            h = mix(h, self.insts[top].get());
        }
        if self.blooms[top].get() & bloom_bit(key) != 0 {
            h = self.same_class_key(h, key, id, len);
        }
        match op {
            Op::Acquire => {}
            Op::Upgrade => h = mix(h, 0x75),
            Op::CondvarWait(m) => h = mix(mix(h, 0xc0), m),
            Op::Notify => h = mix(h, 0x7e),
        }
        let h = h | 1;
        let slot = (h >> (64 - CACHE_BITS)) as usize;
        // Two-way: the pair of slots `slot & !1` and `slot | 1`.
        let (a, b) = (&self.cache[slot & !1], &self.cache[slot | 1]);
        if a.get() != h && b.get() != h {
            self.slow_add_edges(meta, id, request, site, op);
            b.set(a.get());
            a.set(h);
        }
        if op == Op::Acquire {
            self.checked_id.set(id);
            self.checked_tag.set(len << 8 | (request as usize + 1));
        }
    }

    /// A lock of the same class may be held: the order of instances decides,
    /// so their ids go into the key.
    #[cold]
    #[inline(never)]
    pub(super) fn same_class_key(&self, mut h: u64, key: u64, id: u64, len: usize) -> u64 {
        for i in 0..len {
            if self.keys[i].get() == key {
                h = mix(h, self.ids[i].get() & ID_MASK);
            }
        }
        mix(h, id)
    }

    /// Drops the slots of locks whose guards were sent to and released on
    /// another thread (`send_guard`; see `state/moved.rs`).
    #[inline]
    pub(super) fn claim_moved(&self) {
        #[cfg(feature = "send_guard")]
        if self.len.get() & BUSY == 0 {
            moved::claim(
                |id, seq| {
                    (0..self.len.get())
                        .find(|&i| self.ids[i].get() & ID_MASK == id && self.stamps[i].get() < seq)
                },
                |i| self.remove_at(i),
            );
        }
    }

    pub(super) fn snapshot(&self) -> Vec<Held> {
        (0..self.len.get() & !BUSY)
            .map(|i| {
                let class = self.classes[i].get();
                Held {
                    id: self.ids[i].get() & ID_MASK,
                    key: self.keys[i].get(),
                    class: class.class,
                    kind: class.kind,
                    hold: self.holds[i].get(),
                    site: self.sites[i].get(),
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
        let _busy = Busy::enter(self);
        let out = global::add_edges(&held, meta, id, request, site, op);
        for i in out.marked {
            self.ids[i].set(self.ids[i].get() | IN_GRAPH);
        }
        crate::record::write(out.lines);
        for report in out.reports {
            crate::policy::emit(report);
        }
    }

    /// Fills the running summaries of slots `linked..len`.
    #[cold]
    #[inline(never)]
    pub(super) fn link_up_to(&self, len: usize) {
        for i in self.linked.get()..len {
            let (chain, inst, bloom) = if i == 0 {
                (ROOT_CHAIN, ROOT_INST, 0)
            } else {
                (
                    self.chains[i - 1].get(),
                    self.insts[i - 1].get(),
                    self.blooms[i - 1].get(),
                )
            };
            let (id, key, hold) = (
                self.ids[i].get() & ID_MASK,
                self.keys[i].get(),
                self.holds[i].get(),
            );
            self.chains[i].set(mix(mix(chain, key), hold as u64));
            self.insts[i].set(match hold {
                Hold::Exclusive => mix(inst, id),
                Hold::Shared => inst,
            });
            self.blooms[i].set(bloom | bloom_bit(key));
        }
        self.linked.set(len);
    }
}
