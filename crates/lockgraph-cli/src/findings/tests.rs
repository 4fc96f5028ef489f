//! The report's findings: baselines, fingerprints, warnings.

use super::tolerated::present_cycles;
use super::*;
use crate::baseline::BaselineEntry;
use crate::merge::Merger;
use crate::records::{self, edge, file_text};

fn merged(edges: &[records::Edge]) -> Merged {
    let mut m = Merger::new();
    m.add_reader(Path::new("t"), file_text(1, edges).as_bytes())
        .unwrap();
    m.finish()
}

fn present(m: &Merged, locks: &[&str], budget: u64) -> bool {
    let g = ClassGraph::new(m);
    let search = CycleSearch::new(&g);
    let locks: Vec<String> = locks.iter().map(|l| l.to_string()).collect();
    let key = format!("cycle:{}", locks.join(" -> "));
    let b = Baseline::new([BaselineEntry::cycle(key, locks)]);
    present_cycles(&g, &search, &b, budget)[0].present
}

#[test]
fn a_cycle_is_found_by_classes_that_close_it() {
    // anon 1 -> anon 2 -> anon 3 -> anon 1, and a -> anon 4 -> b -> a.
    let m = merged(&[
        edge("anon:1:1", "anon:1:2"),
        edge("anon:1:2", "anon:1:3"),
        edge("anon:1:3", "anon:1:1"),
        edge("a", "anon:1:4"),
        edge("anon:1:4", "b"),
        edge("b", "a"),
    ]);
    let budget = PRESENT_BUDGET;
    assert!(present(&m, &["anon", "anon", "anon"], budget));
    assert!(!present(&m, &["anon", "anon"], budget));
    assert!(!present(&m, &["anon", "anon", "anon", "anon"], budget));
    assert!(present(&m, &["name:a", "anon", "name:b"], budget));
    assert!(present(&m, &["anon", "name:b", "name:a"], budget));
    assert!(!present(&m, &["name:a", "name:b", "anon"], budget));
    assert!(!present(&m, &["name:a", "name:b"], budget));
    assert!(!present(&m, &["name:a"], budget));
    assert!(!present(&m, &["name:zz", "anon"], budget));
    // Out of budget: found again edge by edge, as before the search.
    assert!(present(&m, &["anon", "anon"], 0));
    assert!(!present(&m, &["name:a", "name:b"], 0));
    // Just enough budget for a cycle of named locks: one look per edge.
    assert!(present(&m, &["name:a", "anon", "name:b"], 3));
}

/// The records of `files` (each a record file's text), merged.
fn merged_files(files: &[String]) -> Merged {
    let mut m = Merger::new();
    for (i, text) in files.iter().enumerate() {
        m.add_reader(Path::new(&format!("f{i}")), text.as_bytes())
            .unwrap();
    }
    m.finish()
}

fn report(m: &Merged, baseline: Option<&Baseline>) -> Report {
    build(Inputs {
        merged: m,
        order: None,
        baseline: baseline.map(|b| (Path::new("b.json"), b)),
        warnings: Vec::new(),
    })
}

const ACCOUNT: &str = "site:src/bank.rs:8:17:bank::Account";
const FIRST: (&str, &str) = ("src/bank.rs:20:22", "src/bank.rs:21:20");
const SECOND: (&str, &str) = ("src/bank.rs:30:22", "src/bank.rs:31:20");

/// Two processes found the same cycle of two accounts, each closing it
/// with the other order (their lines start at the other edge): one
/// finding, its edges each with both processes' origins.
#[test]
fn a_cycle_found_at_run_time_by_many_processes_is_one_finding() {
    let m = merged_files(&[
        records::file_with_cycles(
            41,
            &[edge("a", "b")],
            &[records::cycle(&[ACCOUNT, ACCOUNT], &[SECOND, FIRST])],
        ),
        records::file_with_cycles(
            42,
            &[],
            &[records::cycle(&[ACCOUNT, ACCOUNT], &[FIRST, SECOND]).thread("t2")],
        ),
    ]);
    let r = report(&m, None);
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!((r.summary.cycles, r.exit_code()), (1, 1));
    let f = &r.findings[0];
    // A run of two locks of one class, written once.
    assert_eq!(f.key, format!("cycle:{ACCOUNT} * 2"));
    assert_eq!(f.processes(), 2);
    let locks: Vec<(String, u64)> = (f.locks.iter())
        .map(|l| (l.id.to_string(), l.count))
        .collect();
    assert_eq!(locks, [("L1".to_string(), 2)]);
    // From the edge whose sites sort first; the first process's closing
    // edge (its first) is the second.
    let held: Vec<&str> = (f.edges.iter())
        .map(|e| e.origins[0].held_at.as_deref().unwrap())
        .collect();
    assert_eq!(held, [FIRST.0, SECOND.0]);
    let closing: Vec<bool> = f.edges.iter().map(|e| e.closes_cycle).collect();
    assert_eq!(closing, [false, true]);
    for e in &f.edges {
        let pids: Vec<u64> = e.origins.iter().map(|o| o.pid).collect();
        assert_eq!(pids, [41, 42], "each edge from both processes");
    }
    let rt = f.run_time().expect("found at run time");
    assert!(rt.one_class);
    assert_eq!(rt.processes.len(), 2);
    assert!(
        f.message.contains(
            "found at run time by 2 processes (41 (`app`), 42 (`app`)): these very locks, of \
             one class, taken in both orders. Fix: take the objects of this class in one order"
        ),
        "{}",
        f.message
    );
}

/// A cycle found at run time that the class graph reports too (its locks
/// of two classes, whose edges are in the records) is that one finding,
/// with a note.
#[test]
fn a_cycle_found_at_run_time_and_in_the_class_graph_is_reported_once() {
    let m = merged_files(&[records::file_with_cycles(
        7,
        &[edge("a", "b"), edge("b", "a")],
        &[records::cycle(&["b", "a"], &[SECOND, FIRST])],
    )]);
    let r = report(&m, None);
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    let f = &r.findings[0];
    assert_eq!(f.key, "cycle:name:a -> name:b");
    assert!(f.run_time().is_none());
    assert!(
        (f.notes.iter()).any(|n| n.starts_with(
            "this cycle was also found at run time by process 7 (`app`): these very locks"
        )),
        "{:?}",
        f.notes
    );
}

/// What `lockgraph baseline` writes tolerates a cycle found at run time in
/// the next check, which counts it as found again; without it in the
/// records, its entry is no longer found.
#[test]
fn a_baseline_tolerates_the_cycles_found_at_run_time_it_lists() {
    let m = merged_files(&[records::file_with_cycles(
        7,
        &[],
        &[records::cycle(&[ACCOUNT, ACCOUNT], &[FIRST, SECOND])],
    )]);
    let written = Baseline::new(baseline_entries(&m, None)).to_json();
    let b = Baseline::parse_bytes(Path::new("b.json"), written.as_bytes()).unwrap();
    let r = report(&m, Some(&b));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.exit_code(), 0);
    let summary = r.baseline.expect("a baseline summary");
    assert_eq!((summary.cycles, summary.stale.len()), (1, 0), "{summary:?}");
    // Fixed: the entry is stale.
    let r = report(&merged(&[edge("a", "b")]), Some(&b));
    let summary = r.baseline.expect("a baseline summary");
    assert_eq!(summary.stale, [format!("cycle:{ACCOUNT} * 2")]);
}
