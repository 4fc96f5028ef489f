//! Two threads on one lock, contended: lockgraph's `Mutex` against
//! parking_lot's, in the same run. Each thread takes the lock `n` times,
//! counting `k` iterations while it holds it and `k` more after; a figure
//! is wall time per acquisition (the two threads' acquisitions together),
//! the median of seven runs alternating the two implementations.
//!
//! ```sh
//! cargo bench --features watchdog-in-release --bench contended   # the lean mode
//! cargo bench --features track-in-release --bench contended      # the lock-order graph on
//! ```
//!
//! Built with `watchdog-in-release` the watchdog is started, so lockgraph's
//! locks run in the lean production mode, whose first attempt on a mutex
//! is `lock`-shaped (`docs/cost.md`, "The hot path's seventh round"); a
//! contended acquisition then spins as `lock` does before its wait is
//! registered with the watchdog. The uncontended rows are `benches/plain.rs`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// Counts `k` iterations the optimiser cannot drop.
fn work(k: u32) {
    for i in 0..k {
        black_box(i);
    }
}

/// Wall time per acquisition of two threads each calling `take` `n` times
/// on `lock`, with `k` iterations of work inside and after.
fn run<L: Send + Sync + 'static>(lock: Arc<L>, take: fn(&L, u32), n: u32, k: u32) -> f64 {
    let start = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let lock = lock.clone();
            std::thread::spawn(move || {
                for _ in 0..n {
                    take(&lock, k);
                    work(k);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    start.elapsed().as_nanos() as f64 / (2.0 * f64::from(n))
}

/// The median of `v`.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if cfg!(feature = "watchdog-in-release") {
        lockgraph::watchdog::start(lockgraph::watchdog::Config::default());
    }
    let mode = if cfg!(feature = "watchdog-in-release") {
        "lean production mode (watchdog on, graph off)"
    } else if cfg!(any(debug_assertions, feature = "track-in-release")) {
        "lock-order graph on"
    } else {
        "tracking compiled out"
    };
    println!("two threads, one lock, contended; lockgraph: {mode}; wall time, medians of 7 runs");
    println!(
        "{:>18} | {:>12} | {:>12} | ratio",
        "k inside/outside", "parking_lot", "lockgraph"
    );
    for (k, n) in [
        (0, 200_000),
        (50, 100_000),
        (200, 50_000),
        (500, 20_000),
        (2_000, 5_000),
        (20_000, 500),
    ] {
        let (mut pl, mut lg) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            pl.push(run(
                Arc::new(parking_lot::Mutex::new(0u64)),
                |m, k| {
                    let mut g = m.lock();
                    *g += 1;
                    work(k);
                },
                n,
                k,
            ));
            lg.push(run(
                Arc::new(lockgraph::Mutex::new(0u64)),
                |m, k| {
                    let mut g = m.lock();
                    *g += 1;
                    work(k);
                },
                n,
                k,
            ));
        }
        let (pl, lg) = (median(pl), median(lg));
        println!(
            "{:>18} | {:>9.0} ns | {:>9.0} ns | {:.2}x",
            format!("{k} / {k}"),
            pl,
            lg,
            lg / pl
        );
    }
}
