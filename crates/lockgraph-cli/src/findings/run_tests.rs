//! Cycles found at run time kept as runs: the findings against the same
//! lines expanded lock by lock (the reference), and a chain of a million
//! locks of one class from two processes, merged without expanding.

use std::path::Path;

use serde_json::{json, Value};

use super::*;
use crate::merge::Merger;
use crate::records::{self, file_with_cycles};
use crate::report::LockId;

/// One lock of a cycle laid out one by one: its class and the sites of the
/// edge leaving it.
type Place = (&'static str, (&'static str, &'static str));

/// A cycle line of `places` (edge 0 closing it), written as runs: a lock
/// run per class in a row (cut in two at `split` too, as a writer may), an
/// edge run per sites in a row.
fn line(places: &[Place], split: usize) -> records::Cycle {
    let mut locks: Vec<Value> = Vec::new();
    let mut edges: Vec<Value> = Vec::new();
    for (i, &(class, (held, requested))) in places.iter().enumerate() {
        let same_class = i > 0 && places[i - 1].0 == class && i != split;
        match locks.last_mut() {
            Some(l) if same_class => l["count"] = json!(l["count"].as_u64().unwrap() + 1),
            _ => {
                let mut l = records::class(class);
                l["count"] = json!(1);
                locks.push(l);
            }
        }
        match edges.last_mut() {
            Some(e) if i > 0 && places[i - 1].1 == (held, requested) => {
                e["count"] = json!(e["count"].as_u64().unwrap() + 1);
            }
            _ => edges.push(json!({
                "hold": "exclusive", "request": "exclusive", "thread": "main",
                "held_at": held, "requested_at": requested, "count": 1,
            })),
        }
    }
    records::cycle(&[], &[])
        .set("locks", Value::Array(locks))
        .set("edges", Value::Array(edges))
}

fn merged_files(files: &[String]) -> Merged {
    let mut m = Merger::new();
    for (i, text) in files.iter().enumerate() {
        m.add_reader(Path::new(&format!("f{i}")), text.as_bytes())
            .unwrap();
    }
    m.finish()
}

fn report(m: &Merged) -> Report {
    build(Inputs {
        merged: m,
        order: None,
        baseline: None,
        warnings: Vec::new(),
    })
}

/// The reference: the places turned to their least rotation one by one,
/// and the place the closing edge (place 0) moved to.
fn turned(places: &[Place]) -> (Vec<Place>, usize) {
    let n = places.len();
    let r = (0..n)
        .min_by_key(|&r| (0..n).map(|i| places[(r + i) % n]).collect::<Vec<_>>())
        .unwrap();
    ((0..n).map(|i| places[(r + i) % n]).collect(), (n - r) % n)
}

#[test]
fn a_cycle_kept_as_runs_reads_as_its_locks_one_by_one() {
    const CLASSES: [&str; 2] = ["name:a", "name:b"];
    const SITES: [(&str, &str); 3] = [("s:1:1", "s:2:1"), ("s:3:1", "s:4:1"), ("s:5:1", "s:6:1")];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    for _ in 0..400 {
        let n = 2 + next(9) as usize;
        let places: Vec<Place> = (0..n)
            .map(|_| (CLASSES[next(2) as usize], SITES[next(3) as usize]))
            .collect();
        let split = next(n as u64) as usize;
        // The same cycle closed at another edge, by another process.
        let k = next(n as u64) as usize;
        let mut other = places.clone();
        other.rotate_left(k);
        let m = merged_files(&[
            file_with_cycles(1, &[], &[line(&places, split)]),
            file_with_cycles(2, &[], &[line(&other, 0).thread("t2")]),
        ]);
        let r = report(&m);
        let (want, closing) = turned(&places);
        assert_eq!(r.findings.len(), 1, "{places:?}");
        let f = &r.findings[0];
        assert_eq!((f.lock_count(), f.edge_count()), (n as u64, n as u64));
        // Runs in a row differ: lock runs in class.
        assert!(f.locks.windows(2).all(|w| w[0].class != w[1].class));
        let mut key = Vec::new();
        for (i, &(class, (held, requested))) in want.iter().enumerate() {
            let l = f.lock_at(i as u64).unwrap();
            assert_eq!(&*l.class, class, "{places:?} at {i}");
            let e = f.edge_at(i as u64).unwrap();
            assert_eq!(
                (e.from, e.to),
                (LockId::of_index(i), LockId::of_index((i + 1) % n))
            );
            let o = &e.run.origins[0];
            assert_eq!(
                (o.held_at.as_deref(), o.requested_at.as_deref()),
                (Some(held), Some(requested)),
                "{places:?} at {i}"
            );
            let pids: Vec<u64> = e.run.origins.iter().map(|o| o.pid).collect();
            assert!(pids.contains(&1) && pids.contains(&2), "{pids:?}");
            assert_eq!(e.run.closes_cycle, i == closing, "{places:?} at {i}");
            match key.last_mut() {
                Some((c, count)) if *c == class => *count += 1,
                _ => key.push((class, 1)),
            }
        }
        let key: Vec<String> = (key.iter())
            .map(|&(c, n)| crate::baseline::run_key(c, n))
            .collect();
        assert_eq!(f.key, format!("cycle:{}", key.join(" -> ")));
    }
}

/// A chain of 1,048,576 locks of one class closed back to its first, as
/// the runtime writes it (one lock run; the closing edge, the first edge
/// and the rest), from two processes whose runs are cut apart: one finding
/// of a few runs, each edge with both processes' origins.
#[test]
fn a_chain_of_a_million_locks_from_two_processes_is_a_few_runs() {
    const NODE: &str = "site:src/list.rs:3:9:app::Node";
    const N: u64 = 1 << 20;
    let chain = |rest: &[u64]| {
        let mut edges = vec![
            json!({"hold": "exclusive", "request": "exclusive", "thread": "walk",
            "held_at": "src/list.rs:30:5", "requested_at": "src/list.rs:31:9", "count": 1}),
        ];
        for (i, &c) in rest.iter().enumerate() {
            let held = if i == 0 {
                "src/list.rs:20:5"
            } else {
                "src/list.rs:21:9"
            };
            edges.push(
                json!({"hold": "exclusive", "request": "exclusive", "thread": "walk",
                "held_at": held, "requested_at": "src/list.rs:21:9", "count": c}),
            );
        }
        let mut lock = records::class(NODE);
        lock["count"] = json!(N);
        records::cycle(&[], &[])
            .set("locks", json!([lock]))
            .set("edges", Value::Array(edges))
    };
    let m = merged_files(&[
        file_with_cycles(1, &[], &[chain(&[1, N - 2])]),
        // The middle run written as two runs (a long line's middle merged).
        file_with_cycles(2, &[], &[chain(&[1, 1000, N - 1002])]),
    ]);
    let r = report(&m);
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(f.key, format!("cycle:{NODE} * {N}"));
    assert_eq!((f.lock_count(), f.edge_count()), (N, N));
    assert_eq!(f.locks.len(), 1);
    assert!(f.edges.len() <= 5, "{:#?}", f.edges.len());
    assert!(f.edges.iter().all(|e| e.origins.len() == 2));
    // From the first lock of the chain (its sites sort first); the closing
    // edge back to it last.
    let last = f.edge_at(N - 1).unwrap();
    assert!(last.run.closes_cycle);
    assert_eq!((last.from, last.to), (LockId::of_place(N - 1), LockId(1)));
    assert!(f.message.len() < 1000, "{}", f.message);
}
