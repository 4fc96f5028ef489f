//! Each finding's shape: its locks, edges and origins as every output
//! renders them, for a cycle and for an order violation, and its
//! fingerprint.

use std::sync::Arc;

use lockgraph_graph::gates::{gate_mode, GateMode};

use crate::cycles::FoundCycle;
use crate::merge::{Merged, MergedEdge, Origin};
use crate::order::{OrderSpec, Violation};
use crate::report::{
    lock_names, Detail, EdgeOrigin, Finding, FindingEdge, FindingLock, Kinds, LockId, OrderDetail,
    Rule,
};
use crate::shown::ShowPath as _;

/// A short, stable, hexadecimal fingerprint of a key (64-bit FNV-1a), for
/// SARIF's `partialFingerprints` and for humans comparing runs.
pub(crate) fn fingerprint(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The run of `count` locks of class `class` from place `i` (from 0) on.
pub(super) fn lock(merged: &Merged, class: usize, i: u64, count: u64) -> FindingLock {
    let c = &merged.classes[class];
    FindingLock {
        id: LockId::of_place(i),
        count,
        class: Arc::clone(&c.class),
        name: c.name().map(Arc::from),
        kind: Arc::clone(&c.kind),
        site: c.site().map(Arc::from),
    }
}

pub(super) fn origin(merged: &Merged, o: &Origin) -> EdgeOrigin {
    let file = merged.files.get(o.file as usize);
    let text = |id| merged.str(id).cloned();
    EdgeOrigin {
        thread: text(o.thread).unwrap_or_else(|| Arc::from("")),
        pid: o.pid,
        exe: text(o.exe).unwrap_or_else(|| Arc::from("")),
        args: file.map_or_else(|| Arc::from(Vec::new()), |f| Arc::clone(&f.args)),
        hold: o.hold,
        request: o.request,
        held_at: text(o.held_at),
        requested_at: text(o.requested_at),
        backtrace: merged
            .stacks
            .get(o.backtrace as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new())),
        record: file.map_or_else(|| Arc::from(""), |f| Arc::clone(&f.shown)),
        line: u64::from(o.line),
    }
}

/// The run of `count` edges recorded as `e`, the first from the lock at
/// place `from` to the one at place `to` (from 0).
pub(super) fn edge(
    merged: &Merged,
    e: &MergedEdge,
    (from, to): (u64, u64),
    count: u64,
    closes: bool,
) -> FindingEdge {
    FindingEdge {
        from: LockId::of_place(from),
        to: LockId::of_place(to),
        count,
        kinds: Kinds(e.kinds),
        closes_cycle: closes,
        recordings: e.recordings,
        origins: e.origins().map(|o| origin(merged, o)).collect(),
    }
}

/// The finding of one cycle.
pub(super) fn cycle_finding(merged: &Merged, c: &FoundCycle) -> Finding {
    let n = c.locks.len();
    let locks: Vec<FindingLock> = c
        .locks
        .iter()
        .enumerate()
        .map(|(i, &l)| lock(merged, l, i as u64, 1))
        .collect();
    Finding {
        rule: Rule::Cycle,
        key: c.key.clone(),
        fingerprint: fingerprint(&c.key),
        message: format!(
            "Potential deadlock: lock-order cycle through {n} locks: {}, then back to L1.",
            lock_names(&locks)
        ),
        locks,
        edges: c
            .edges
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                let ends = (i as u64, ((i + 1) % n) as u64);
                edge(merged, &merged.edges[e], ends, 1, i + 1 == n)
            })
            .collect(),
        notes: c
            .notes
            .iter()
            .cloned()
            .chain(gated_apart(merged, &c.edges))
            .collect(),
        detail: Detail::Cycle {
            exact: c.exact,
            run_time: None,
        },
    }
}

/// A note for a cycle each of whose edges was recorded holding a gate, one
/// of them at least in a mode that excludes some other hold (a write or a
/// mutex excludes every hold, an upgradable read another upgradable read),
/// and whose edges come from more than one process: two reads of one lock
/// serialise nothing.
/// A gate is a lock of one process, so gates are compared within a process
/// only and the cycle stands; but when one lock (a `static`) is held around
/// each of these orders in every process, they never run at once and the
/// cycle cannot deadlock, which only the user knows (the records carry the
/// gates' ids, not their classes).
pub(super) fn gated_apart(merged: &Merged, edges: &[usize]) -> Option<String> {
    let all_gated = edges.iter().all(|&e| !merged.edges[e].gates.is_empty());
    let a_write = (edges.iter())
        .flat_map(|&e| merged.edges[e].gates.iter())
        .any(|&g| gate_mode(g) != GateMode::Shared);
    let mut files: Vec<u32> = edges
        .iter()
        .flat_map(|&e| merged.edges[e].origins().map(|o| o.file))
        .collect();
    files.sort_unstable();
    files.dedup();
    (all_gated && a_write && files.len() > 1).then(|| {
        format!(
            "each edge of this cycle was recorded while its thread held another lock, and the edges come from {} processes: a held lock serialises a cycle only within one process (`lockgraph check` compares them there), so whether one lock guards these orders everywhere is not known here. If one lock (a `static`, say) is held around each of them in every process, they never run at once and this cycle cannot deadlock: record both in one process to have it checked, or baseline it",
            files.len()
        )
    })
}

/// The finding of one order violation.
pub(super) fn violation_finding(merged: &Merged, spec: &OrderSpec, v: &Violation) -> Finding {
    let e = &merged.edges[v.edge];
    let chain = &spec.chains[v.chain];
    let detail = OrderDetail {
        order_file: spec.path.shown().to_string(),
        chain: v.chain + 1,
        order: chain.entries.clone(),
        from_entry: chain.entries[v.from_entry].clone(),
        to_entry: chain.entries[v.to_entry].clone(),
    };
    let (from, to) = (lock(merged, e.from, 0, 1), lock(merged, e.to, 1, 1));
    Finding {
        rule: Rule::OrderViolation,
        key: v.key.clone(),
        fingerprint: fingerprint(&v.key),
        message: format!(
            "Lock-order violation: {} was held while {} was requested, but {} (chain {}) puts `{}` before `{}`.",
            from.label(),
            to.label(),
            detail.order_file,
            detail.chain,
            detail.to_entry,
            detail.from_entry
        ),
        locks: vec![from, to],
        edges: vec![edge(merged, e, (0, 1), 1, false)],
        notes: Vec::new(),
        detail: Detail::OrderViolation(detail),
    }
}
