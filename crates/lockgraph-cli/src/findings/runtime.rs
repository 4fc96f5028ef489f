//! The cycles the processes found at run time ([`Merged::runtime`]): one
//! that is a cycle the merged class graph reports (the same classes, up to
//! rotation) is that finding, noted on it, never a second one; the others
//! (locks of one class, between which no edge is recorded) are findings of
//! their own, with a key like the class graph's cycles.

use crate::cycles::FoundCycle;
use crate::merge::{Merged, RuntimeCycle};
use crate::report::{Detail, Finding, Rule, RunTime, RunTimeProcess};

use super::shape::{edge, fingerprint, lock};

/// The key of a cycle through `locks` (class indices, in cycle order), as
/// the check's own cycles' keys are made: `cycle:` and the classes' stable
/// keys joined by ` -> `.
pub(super) fn key(merged: &Merged, locks: &[usize]) -> String {
    crate::cycles::cycle_key(merged, locks)
}

/// Whether the cycles through classes `a` and `b` (in cycle order) are one,
/// from any of their locks on.
fn same_cycle(a: &[usize], b: &[usize]) -> bool {
    let n = a.len();
    n == b.len()
        && n > 0
        && (0..n)
            .filter(|&r| b[r] == a[0])
            .any(|r| (0..n).all(|i| a[i] == b[(r + i) % n]))
}

/// The runtime's cycles sorted out: for each, the index in `class_cycles`
/// of the class graph's cycle it is, if any.
pub(super) fn matches(merged: &Merged, class_cycles: &[FoundCycle]) -> Vec<Option<usize>> {
    merged
        .runtime
        .iter()
        .map(|rt| {
            class_cycles
                .iter()
                .position(|c| same_cycle(&c.locks, &rt.locks))
        })
        .collect()
}

/// How and by whom `c` was found.
pub(super) fn run_time(merged: &Merged, c: &RuntimeCycle) -> RunTime {
    let first = c.locks.first();
    RunTime {
        level: c.level,
        one_class: c.locks.iter().all(|l| Some(l) == first),
        processes: c
            .files
            .iter()
            .filter_map(|&f| merged.files.get(f as usize))
            .map(|f| RunTimeProcess {
                pid: f.header.pid,
                exe: f.header.exe.as_str().into(),
                record: f.shown.clone(),
            })
            .collect(),
    }
}

/// The note on a class-graph cycle that processes found at run time too.
pub(super) fn note(merged: &Merged, c: &RuntimeCycle) -> String {
    let words = run_time(merged, c).found(c.locks.len());
    format!("this cycle was also {words}")
}

/// The finding of a cycle found at run time, with `key`.
pub(super) fn finding(merged: &Merged, c: &RuntimeCycle, key: String) -> Finding {
    let n = c.locks.len();
    let locks: Vec<_> = c
        .locks
        .iter()
        .enumerate()
        .map(|(i, &l)| lock(merged, l, i))
        .collect();
    let names: Vec<String> = locks
        .iter()
        .map(|l| format!("{} {}", l.id, l.label()))
        .collect();
    let run_time = run_time(merged, c);
    Finding {
        rule: Rule::Cycle,
        fingerprint: fingerprint(&key),
        message: format!(
            "Potential deadlock: lock-order cycle through {n} locks ({}, then back to L1), {}. \
             Fix: {}.",
            names.join(" -> "),
            run_time.found(n),
            run_time.advice()
        ),
        key,
        locks,
        edges: c
            .edges
            .iter()
            .enumerate()
            .map(|(i, e)| edge(merged, e, i, (i + 1) % n, i == c.closing))
            .collect(),
        notes: Vec::new(),
        detail: Detail::Cycle {
            exact: true,
            run_time: Some(run_time),
        },
    }
}
