//! The cycles the processes found at run time ([`Merged::runtime`]): one
//! that is a cycle the merged class graph reports (the same classes, up to
//! rotation) is that finding, noted on it, never a second one; the others
//! (locks of one class, between which no edge is recorded) are findings of
//! their own, with a key like the class graph's cycles, each run of one
//! class written once with its count (`cycle:C * 200000`). Their locks and
//! edges stay runs: a chain of a million locks of one class is a finding of
//! a few entries.

use crate::baseline::run_key;
use crate::cycles::FoundCycle;
use crate::merge::{Merged, RuntimeCycle};
use crate::report::{lock_names, Detail, Finding, FindingEdge, Rule, RunTime, RunTimeProcess};

use super::shape::{edge, fingerprint, lock};

/// The key of `c`, as the check's own cycles' keys are made: `cycle:` and
/// the classes' stable keys joined by ` -> `, a run of locks of one class
/// written once with its count (`site:src/bank.rs:8:17:bank::Account * 2`).
pub(super) fn key(merged: &Merged, c: &RuntimeCycle) -> String {
    let parts: Vec<String> = c
        .class_runs()
        .into_iter()
        .map(|(class, count)| run_key(merged.classes[class].stable_key(), count))
        .collect();
    format!("{}{}", Rule::Cycle.key_prefix(), parts.join(" -> "))
}

/// Whether the class graph's cycle through classes `a` (in cycle order)
/// is `b`, from any of its locks on. The class graph's cycles pass each
/// class once, so a cycle with a run of two or more locks of one class is
/// none of them.
fn same_cycle(a: &[usize], b: &RuntimeCycle) -> bool {
    let n = a.len();
    let runs = b.class_runs();
    if b.length != n as u64 || runs.len() != n || runs.iter().any(|r| r.1 != 1) {
        return false;
    }
    n > 0
        && (0..n)
            .filter(|&r| runs[r].0 == a[0])
            .any(|r| (0..n).all(|i| a[i] == runs[(r + i) % n].0))
}

/// The runtime's cycles sorted out: for each, the index in `class_cycles`
/// of the class graph's cycle it is, if any.
pub(super) fn matches(merged: &Merged, class_cycles: &[FoundCycle]) -> Vec<Option<usize>> {
    merged
        .runtime
        .iter()
        .map(|rt| class_cycles.iter().position(|c| same_cycle(&c.locks, rt)))
        .collect()
}

/// How and by whom `c` was found.
pub(super) fn run_time(merged: &Merged, c: &RuntimeCycle) -> RunTime {
    RunTime {
        level: c.level,
        one_class: c.one_class(),
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
    let words = run_time(merged, c).found(c.length);
    format!("this cycle was also {words}")
}

/// The edges of `c` as runs: each of its runs' edges, the closing edge a
/// run of its own, and the last edge of a run that leads to a lock of
/// another class too (a run's edges join locks of the same two classes).
fn edges(merged: &Merged, c: &RuntimeCycle) -> Vec<FindingEdge> {
    let n = c.length;
    let mut out = Vec::with_capacity(c.runs.len() + 2);
    let mut at = 0;
    for (i, r) in c.runs.iter().enumerate() {
        let end = at + r.count;
        let next_class = c.runs[(i + 1) % c.runs.len()].class;
        let mut cuts = vec![at, end];
        if (at..end).contains(&c.closing) {
            cuts.extend([c.closing, c.closing + 1]);
        }
        if next_class != r.class {
            cuts.push(end - 1);
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (from, count) = (w[0], w[1] - w[0]);
            let ends = (from, (from + 1) % n);
            out.push(edge(merged, &r.edge, ends, count, from == c.closing));
        }
        at = end;
    }
    out
}

/// The finding of a cycle found at run time, with `key`.
pub(super) fn finding(merged: &Merged, c: &RuntimeCycle, key: String) -> Finding {
    let n = c.length;
    let mut locks = Vec::new();
    let mut at = 0;
    for (class, count) in c.class_runs() {
        locks.push(lock(merged, class, at, count));
        at += count;
    }
    let run_time = run_time(merged, c);
    Finding {
        rule: Rule::Cycle,
        fingerprint: fingerprint(&key),
        message: format!(
            "Potential deadlock: lock-order cycle through {n} locks ({}, then back to L1), {}. \
             Fix: {}.",
            lock_names(&locks),
            run_time.found(n),
            run_time.advice()
        ),
        key,
        locks,
        edges: edges(merged, c),
        notes: Vec::new(),
        detail: Detail::Cycle {
            exact: true,
            run_time: Some(run_time),
        },
    }
}
