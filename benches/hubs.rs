//! A lock over many children of one class: a tree's root, a queue's lock
//! over per-request objects. Each iteration locks the root, then a child
//! picked at random, and increments it: the steady state of such a
//! program (no new edge). lockgraph's graph finds the edge root -> child
//! among the root's thousands (`lockgraph-graph`'s `hubs.rs`); before it
//! did, each lookup walked them all (11.6 µs with 10,000 children).
//!
//! `cargo bench --features track-in-release --bench hubs`: per child
//! count, the median of 7 samples of ns per iteration, parking_lot's and
//! lockgraph's alternately in each round, and their ratio. Wall time, one
//! thread.

use std::hint::black_box;
use std::time::Instant;

struct Node {
    lg: lockgraph::Mutex<u64>,
    pl: parking_lot::Mutex<u64>,
}

fn node() -> Node {
    Node {
        lg: lockgraph::Mutex::new(0),
        pl: parking_lot::Mutex::new(0),
    }
}

/// ns per iteration of `iters` iterations over `kids` under `root`.
fn sample(root: &Node, kids: &[Node], iters: u64, lg: bool) -> f64 {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let start = Instant::now();
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let c = black_box(&kids[(x % kids.len() as u64) as usize]);
        if lg {
            let _g = root.lg.lock();
            *c.lg.lock() += 1;
        } else {
            let _g = root.pl.lock();
            *c.pl.lock() += 1;
        }
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !lockgraph::TRACKING {
        println!("lockgraph tracks nothing in this build: run with --features track-in-release");
        return;
    }
    println!("lock the root, then one of its children (one class), at random; median of 7 rounds");
    println!(
        "{:>9} | {:>12} | {:>12} | ratio",
        "children", "parking_lot", "lockgraph"
    );
    for k in [10usize, 1_000, 10_000, 50_000] {
        let root = node();
        let kids: Vec<Node> = (0..k).map(|_| node()).collect();
        // Every edge root -> child recorded first.
        for c in &kids {
            let _g = root.lg.lock();
            *c.lg.lock() += 1;
        }
        let iters = 100_000;
        let (mut pl, mut lg) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            pl.push(sample(&root, &kids, iters, false));
            lg.push(sample(&root, &kids, iters, true));
        }
        let (pl, lg) = (median(pl), median(lg));
        println!("{k:>9} | {pl:>9.1} ns | {lg:>9.1} ns | {:.1}x", lg / pl);
    }
}
