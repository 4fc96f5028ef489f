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
