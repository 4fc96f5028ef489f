//! The lock-order side of async acquisitions: "held -> requested" edges
//! with the task as their actor, behind a thread-local cache of chains
//! already recorded.

use std::cell::Cell;
use std::panic::Location;
use std::sync::Arc;

use super::names::task_label;
use super::sets::{self, Owner};
use crate::meta::{Held, LockMeta, Op};
use crate::report::{Hold, Request};

const CACHE_SLOTS: usize = 512;

crate::sync::thread_local_const! {
    /// Chains (held set + request) whose edges this thread recorded.
    static CHAINS: [Cell<u64>; CACHE_SLOTS] = const { [const { Cell::new(0) }; CACHE_SLOTS] };
}

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    (a.rotate_left(26) ^ b).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The key of "these holds, then `target` requested as `request`": classes
/// and modes; the ids of exclusive holds when two or more are held (each
/// gates the others' edges), and every id of the target's class (instance
/// order decides there), as the thread's chain cache keys them.
struct KeyBuilder {
    key: u64,
    id: u64,
    h: u64,
    insts: u64,
    len: usize,
    same: bool,
}

impl KeyBuilder {
    fn new(target: &LockMeta, id: u64) -> KeyBuilder {
        KeyBuilder {
            key: target.hot_key(id),
            id,
            h: 0x243f_6a88_85a3_08d3,
            insts: 0x1319_8a2e_0370_7344,
            len: 0,
            same: false,
        }
    }

    fn add(&mut self, e: &Held) {
        self.add_parts(e.key, e.hold, e.id);
    }

    #[inline]
    fn add_parts(&mut self, key: u64, hold: Hold, id: u64) {
        self.len += 1;
        self.h = mix(mix(self.h, key), hold as u64);
        if hold == Hold::Exclusive {
            self.insts = mix(self.insts, id);
        }
        if key == self.key {
            self.same = true;
            self.h = mix(self.h, id);
        }
    }

    fn finish(self, request: Request, op: u64) -> u64 {
        let mut h = mix(mix(mix(self.h, self.key), request as u64 + 1), op);
        if self.len >= 2 {
            h = mix(h, self.insts);
        }
        if self.same {
            h = mix(h, self.id);
        }
        h | 1
    }
}

fn chain_key<'a>(
    held: impl Iterator<Item = &'a Held>,
    target: &LockMeta,
    id: u64,
    request: Request,
    op: u64,
) -> u64 {
    let mut k = KeyBuilder::new(target, id);
    held.for_each(|e| k.add(e));
    k.finish(request, op)
}

/// Whether this thread marked `h` (see [`mark`]).
#[inline]
fn probe(h: u64) -> bool {
    CHAINS
        .try_with(|c| c[(h >> 55) as usize % CACHE_SLOTS].get() == h)
        .unwrap_or(false)
}

fn mark(h: u64) {
    let _ = CHAINS.try_with(|c| c[(h >> 55) as usize % CACHE_SLOTS].set(h));
}

/// The memo key of "`set`'s holds, then lock `id` requested as
/// `request`", unless the set's content is stale.
#[inline]
fn memo_key(set: &sets::HeldSet, id: u64, request: Request) -> Option<u64> {
    set.content()
        .map(|c| mix(mix(c, id), request as u64 + 0x6d65_6d6f) | 1)
}

/// Whether this thread already checked "`set`'s holds -> lock `id` as
/// `request`" (a nested request granted at once, with no sync lock held
/// by the thread: see [`before_wait_nested`]); the order graph on.
#[inline]
pub(super) fn checked_before(set: &sets::HeldSet, id: u64, request: Request) -> bool {
    crate::features::order_graph_on() && memo_key(set, id, request).is_some_and(probe)
}

/// The order check of a nested request granted at once, when the thread
/// holds no sync lock: "the task's holds -> `meta`", skipped when this
/// thread already checked these very holds (lock instances and modes, the
/// set's content) before this lock in this mode. The memo is finer than
/// the chain cache's key (instances, not classes), so it skips only what
/// was checked; it is marked only when no release or downgrade from
/// elsewhere changed the set during the check (the content is then the
/// holds the check saw).
pub(super) fn before_wait_nested(
    owner: Owner,
    meta: &LockMeta,
    request: Request,
    site: Option<&'static Location<'static>>,
) {
    if !crate::features::order_graph_on() {
        return;
    }
    let id = meta.id();
    let memo = sets::with_set(owner, false, |set| memo_key(set, id, request)).flatten();
    if memo.is_some_and(probe) {
        return;
    }
    before_wait_held(owner, Vec::new(), meta, request, site);
    sets::with_set(owner, false, |set| {
        if set.is_dirty() {
            set.recount();
        } else if let Some(m) = memo {
            mark(m);
        }
    });
}

/// Whether the chain `h` was recorded by this thread; marks it if not.
fn seen(h: u64) -> bool {
    CHAINS
        .try_with(|c| {
            let slot = &c[(h >> 55) as usize % CACHE_SLOTS];
            if slot.get() == h {
                true
            } else {
                slot.set(h);
                false
            }
        })
        .unwrap_or(false)
}

/// The actor named on the edges: the task (with its name and spawn site
/// when it has them), else the thread.
fn actor(owner: Owner) -> Arc<str> {
    match owner {
        Owner::Task(id) => task_label(id).into(),
        Owner::Thread(_) => crate::sync::thread_name().into(),
    }
}

/// Call before an async acquisition that can wait (`lock().await`,
/// `read()`, `acquire()`, `blocking_lock()`, ...; not the `try_*` ones):
/// records "every lock the current task holds, and every sync lock its
/// thread holds -> `meta`" and reports a cycle it closes, before the wait.
/// Returns the owner, for [`acquired_by`](super::acquired_by) once the
/// wait is over (a task stays itself across its awaits).
#[inline]
pub fn before_wait(
    meta: &LockMeta,
    request: Request,
    site: Option<&'static Location<'static>>,
) -> Owner {
    let owner = sets::current_owner();
    // One thread-local load, inlined, before the thread's holds are copied.
    if crate::state::holds_nothing() && sets::surely_empty(owner) {
        // Nothing held: no edge (the uncontended single lock's path).
        return owner;
    }
    before_wait_held(owner, crate::state::held_entries(), meta, request, site);
    owner
}

#[inline(never)]
pub(super) fn before_wait_held(
    owner: Owner,
    thread_held: Vec<Held>,
    meta: &LockMeta,
    request: Request,
    site: Option<&'static Location<'static>>,
) {
    if !crate::features::order_graph_on() {
        return;
    }
    let id = meta.id();
    if thread_held.is_empty() {
        // The task's own holds alone (the common nested case): keyed in
        // place, nothing copied unless the chain is new.
        let h = sets::with_set(owner, false, |set| {
            let mut k = KeyBuilder::new(meta, id);
            set.for_each_key(|key, hold, id| k.add_parts(key, hold, id));
            k.finish(request, 0)
        });
        if h.is_none_or(seen) {
            return;
        }
    }
    // The thread's sync holds were taken before this request, in this
    // poll: they come first; then the task's, with their slots.
    let mut all = thread_held;
    let skip = all.len();
    let mut slots = Vec::new();
    sets::with_set(owner, false, |set| {
        set.for_each(|i, h| {
            slots.push(i);
            all.push(h);
        })
    });
    if all.is_empty() {
        return;
    }
    if skip > 0 && seen(chain_key(all.iter(), meta, id, request, 0)) {
        return;
    }
    record(
        owner,
        &all,
        skip,
        &slots,
        meta,
        id,
        request,
        site,
        Op::Acquire,
    );
}

/// Call before a sync acquisition (the primitive protocol does, once any
/// async lock was taken): records "every async lock the current task (or
/// thread) holds -> `meta`". The thread's own sync holds are the held-lock
/// stack's business.
#[cold]
#[inline(never)]
pub fn sync_request(meta: &LockMeta, request: Request, site: Option<&'static Location<'static>>) {
    let owner = sets::current_owner();
    if crate::watchdog::on() {
        // If the thread blocks in this request, it blocks `owner` (the
        // task watchdog follows a task into its thread's sync wait).
        super::threads::sync_request(owner, meta.id());
    }
    if sets::surely_empty(owner) || !crate::features::order_graph_on() {
        return;
    }
    let (mut held, mut slots) = (Vec::new(), Vec::new());
    sets::with_set(owner, false, |set| {
        set.for_each(|i, h| {
            slots.push(i);
            held.push(h);
        })
    });
    if held.is_empty() {
        return;
    }
    let id = meta.id();
    if seen(chain_key(held.iter(), meta, id, request, 0x5c)) {
        return;
    }
    let site = site.or_else(crate::state::pending_site);
    record(
        owner,
        &held,
        0,
        &slots,
        meta,
        id,
        request,
        site,
        Op::Acquire,
    );
}

/// The slow path: the edges into the process-wide graph, their record
/// lines, the reports. `held[skip..]` are the owner's async holds, in
/// `slots` (their instance-graph marks go back to those slots).
#[allow(clippy::too_many_arguments)]
#[cold]
#[inline(never)]
fn record(
    owner: Owner,
    held: &[Held],
    skip: usize,
    slots: &[usize],
    meta: &LockMeta,
    id: u64,
    request: Request,
    site: Option<&'static Location<'static>>,
    op: Op,
) {
    let _site_used = crate::state::SiteUsedOnPanic;
    let by = crate::global::Actor {
        label: actor(owner),
        gates: crate::global::Gates::None,
    };
    let out = crate::global::add_edges_by(
        by,
        held,
        meta,
        id,
        request,
        site,
        op,
        crate::global::OwnHolds::default(),
    );
    let marked: Vec<(usize, u64)> = out
        .marked
        .iter()
        .filter(|&&i| i >= skip)
        .map(|&i| (slots[i - skip], held[i].id))
        .collect();
    if !marked.is_empty() {
        sets::with_set(owner, false, |set| {
            for (slot, id) in marked {
                set.mark_in_graph(slot, id);
            }
        });
    }
    crate::record::write(out.lines);
    crate::record::write_cycles(out.cycles);
    for report in out.reports {
        crate::policy::emit_at(report, site);
    }
}
