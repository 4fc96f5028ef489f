//! The lock-order side of async acquisitions: "held -> requested" edges
//! with the task as their actor, behind a thread-local cache of chains
//! already recorded.

use std::cell::Cell;
use std::panic::Location;
use std::sync::Arc;

use super::names::task_label;
use super::sets::{self, Entry, Owner};
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
fn chain_key<'a>(
    held: impl ExactSizeIterator<Item = &'a Held>,
    target: &LockMeta,
    id: u64,
    request: Request,
    op: u64,
) -> u64 {
    let len = held.len();
    let key = target.hot_key(id);
    let mut h = 0x243f_6a88_85a3_08d3;
    let mut insts = 0x1319_8a2e_0370_7344;
    let mut same = false;
    for e in held {
        h = mix(mix(h, e.key), e.hold as u64);
        if e.hold == Hold::Exclusive {
            insts = mix(insts, e.id);
        }
        if e.key == key {
            same = true;
            h = mix(h, e.id);
        }
    }
    h = mix(mix(mix(h, key), request as u64 + 1), op);
    if len >= 2 {
        h = mix(h, insts);
    }
    if same {
        h = mix(h, id);
    }
    h | 1
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
pub fn before_wait(meta: &LockMeta, request: Request, site: Option<&'static Location<'static>>) {
    let owner = sets::current_owner();
    let thread_held = crate::state::held_entries();
    let mut own: Vec<Held> = Vec::new();
    let done = sets::with_holds(owner, false, |_, holds| {
        if holds.entries.is_empty() {
            return true;
        }
        if thread_held.is_empty() && crate::features::order_graph_on() {
            // The common case: the task's own holds only, keyed under its
            // set's lock without copying them.
            let id = meta.id();
            let h = chain_key(holds.entries.iter().map(|e| &e.held), meta, id, request, 0);
            if seen(h) {
                return true;
            }
        }
        own = holds.entries.iter().map(|e| e.held).collect();
        false
    })
    .unwrap_or(true);
    if (done && thread_held.is_empty()) || !crate::features::order_graph_on() {
        return;
    }
    // The thread's sync holds were taken before this request, in this
    // poll: they come first.
    let mut all = thread_held;
    let skip = all.len();
    let mixed = skip > 0;
    all.extend(own);
    let id = meta.id();
    if mixed && seen(chain_key(all.iter(), meta, id, request, 0)) {
        return;
    }
    record(owner, &all, skip, meta, id, request, site, Op::Acquire);
}

/// Call before a sync acquisition (the primitive protocol does, once any
/// async lock was taken): records "every async lock the current task (or
/// thread) holds -> `meta`". The thread's own sync holds are the held-lock
/// stack's business.
#[cold]
#[inline(never)]
pub fn sync_request(meta: &LockMeta, request: Request, site: Option<&'static Location<'static>>) {
    let owner = sets::current_owner();
    let Some(held) = sets::with_holds(owner, false, |_, holds| {
        holds.entries.iter().map(|e| e.held).collect::<Vec<_>>()
    }) else {
        return;
    };
    if held.is_empty() || !crate::features::order_graph_on() {
        return;
    }
    let id = meta.id();
    if seen(chain_key(held.iter(), meta, id, request, 0x5c)) {
        return;
    }
    let site = site.or_else(crate::state::pending_site);
    record(owner, &held, 0, meta, id, request, site, Op::Acquire);
}

/// The slow path: the edges into the process-wide graph, their record
/// lines, the reports. `held[skip..]` are the owner's async holds (their
/// instance-graph marks go back to the set's entries).
#[allow(clippy::too_many_arguments)]
#[cold]
#[inline(never)]
fn record(
    owner: Owner,
    held: &[Held],
    skip: usize,
    meta: &LockMeta,
    id: u64,
    request: Request,
    site: Option<&'static Location<'static>>,
    op: Op,
) {
    let out = crate::global::add_edges_by(actor(owner), held, meta, id, request, site, op);
    let marked: Vec<u64> = out
        .marked
        .iter()
        .filter(|&&i| i >= skip)
        .map(|&i| held[i].id)
        .collect();
    if !marked.is_empty() {
        sets::with_holds(owner, false, |_, holds| {
            for e in holds.entries.iter_mut() {
                mark(e, &marked);
            }
        });
    }
    crate::record::write(out.lines);
    for report in out.reports {
        crate::policy::emit(report);
    }
}

fn mark(e: &mut Entry, ids: &[u64]) {
    if ids.contains(&e.held.id) {
        e.in_graph = true;
    }
}
