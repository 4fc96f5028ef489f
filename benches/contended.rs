//! Two threads on one lock, contended: lockgraph's `Mutex` and `RwLock::write` against
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Counts `k` iterations the optimiser cannot drop.
fn work(k: u32) {
    for i in 0..k {
        black_box(i);
    }
}

/// What a thread does between its acquisitions.
#[derive(Clone, Copy)]
enum After {
    /// `k` iterations of work.
    Work(u32),
    /// Waits until the other thread holds the lock (it has published a new
    /// count), so that each acquisition after the first waits for the other
    /// thread's hold: every acquisition is contended.
    OtherHolds,
}

/// Takes the lock, counts, publishes the count in `turn`, works `k`
/// iterations, releases; returns the count.
type Take<L> = fn(&L, u32, &AtomicU64) -> u64;

/// Wall time per acquisition of two threads each calling `take` `n` times
/// on `lock`, with `k` iterations of work inside and `after` between.
fn run<L: Send + Sync + 'static>(lock: Arc<L>, take: Take<L>, n: u32, k: u32, after: After) -> f64 {
    let turn = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (lock, turn) = (lock.clone(), turn.clone());
            std::thread::spawn(move || {
                let mut mine = None;
                for _ in 0..n {
                    match (after, mine) {
                        (After::Work(a), _) => work(a),
                        (After::OtherHolds, Some(m)) => {
                            while turn.load(Ordering::Relaxed) == m {
                                std::hint::spin_loop();
                            }
                        }
                        (After::OtherHolds, None) => {}
                    }
                    mine = Some(take(&lock, k, &turn));
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
    table(
        "Mutex::lock",
        parking_lot::Mutex::new(0u64),
        |m, k, turn| {
            let mut g = m.lock();
            *g += 1;
            turn.store(*g, Ordering::Relaxed);
            work(k);
            *g
        },
        lockgraph::Mutex::new(0u64),
        |m, k, turn| {
            let mut g = m.lock();
            *g += 1;
            turn.store(*g, Ordering::Relaxed);
            work(k);
            *g
        },
    );
    // A write that has to wait blocks once, its stack captured first when
    // the watchdog is on (docs/watchdog.md): this row measures that wait.
    table(
        "RwLock::write",
        parking_lot::RwLock::new(0u64),
        |m, k, turn| {
            let mut g = m.write();
            *g += 1;
            turn.store(*g, Ordering::Relaxed);
            work(k);
            *g
        },
        lockgraph::RwLock::new(0u64),
        |m, k, turn| {
            let mut g = m.write();
            *g += 1;
            turn.store(*g, Ordering::Relaxed);
            work(k);
            *g
        },
    );
}

/// One table: the two implementations' `take` on a lock each, alternately,
/// seven runs of each hold length, medians.
fn table<P, L>(what: &str, pl_lock: P, pl_take: Take<P>, lg_lock: L, lg_take: Take<L>)
where
    P: Send + Sync + 'static,
    L: Send + Sync + 'static,
{
    let (pl_lock, lg_lock) = (Arc::new(pl_lock), Arc::new(lg_lock));
    println!();
    println!(
        "{:>18} | {:>12} | {:>12} | ratio   ({what})",
        "k inside/outside", "parking_lot", "lockgraph"
    );
    // (inside, between, n): equal work between the holds lets the two
    // threads take turns without waiting much; waiting for the other's hold
    // makes every acquisition wait (a long hold parks the waiter).
    for (k, after, n) in [
        (0, After::Work(0), 200_000),
        (50, After::Work(50), 100_000),
        (200, After::Work(200), 50_000),
        (500, After::Work(500), 20_000),
        (2_000, After::Work(2_000), 5_000),
        (20_000, After::Work(20_000), 500),
        (200, After::OtherHolds, 20_000),
        (2_000, After::OtherHolds, 5_000),
        (20_000, After::OtherHolds, 500),
    ] {
        let (mut pl, mut lg) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            pl.push(run(pl_lock.clone(), pl_take, n, k, after));
            lg.push(run(lg_lock.clone(), lg_take, n, k, after));
        }
        let (pl, lg) = (median(pl), median(lg));
        println!(
            "{:>18} | {:>9.0} ns | {:>9.0} ns | {:.2}x",
            match after {
                After::Work(a) => format!("{k} / {a}"),
                After::OtherHolds => format!("{k} / waits"),
            },
            pl,
            lg,
            lg / pl
        );
    }
}
