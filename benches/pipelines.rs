//! The pipeline primitives against the uninstrumented ones, measured in the
//! same run (samples interleaved per round, medians; thread CPU time unless
//! `LOCKGRAPH_BENCH_CLOCK=wall`):
//!
//! - a bounded channel's uncontended `send` + `recv` on one thread:
//!   `lockgraph::mpsc::sync_channel` against `std::sync::mpsc::sync_channel`,
//!   with nothing held and while holding one mutex. Each sample makes a
//!   channel of `n` slots (untimed), sends `n` items, then receives them:
//!   a thread that sends into a queue it consumes is a self-deadlock in
//!   lockgraph's model (`docs/pipelines.md`), so the sends come before the
//!   thread becomes the consumer;
//! - a semaphore's uncontended `acquire` + release: `lockgraph::Semaphore`
//!   against the same algorithm without tracking (an atomic count, a
//!   parking_lot mutex and condvar to park; std has no semaphore).
//!
//! Run: `cargo bench --features track-in-release --bench pipelines`. The
//! target (issue 16) is at most 1.3x the uninstrumented primitive.

#[allow(dead_code)]
#[path = "support/timing.rs"]
mod timing;

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use timing::{print_table, Sampler, Spread, Stopwatch};

/// The semaphore of `lockgraph::Semaphore` without tracking: the baseline.
struct PlainSemaphore {
    permits: AtomicUsize,
    waiting: AtomicUsize,
    park: parking_lot::Mutex<()>,
    freed: parking_lot::Condvar,
}

impl PlainSemaphore {
    fn new(n: usize) -> PlainSemaphore {
        PlainSemaphore {
            permits: AtomicUsize::new(n),
            waiting: AtomicUsize::new(0),
            park: parking_lot::Mutex::new(()),
            freed: parking_lot::Condvar::new(),
        }
    }

    #[inline]
    fn take(&self) -> bool {
        self.permits
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |p| p.checked_sub(1))
            .is_ok()
    }

    fn acquire(&self) {
        if self.take() {
            return;
        }
        let mut g = self.park.lock();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        while !self.take() {
            self.freed.wait(&mut g);
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    #[inline]
    fn release(&self) {
        self.permits.fetch_add(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _g = self.park.lock();
            self.freed.notify_one();
        }
    }
}

fn timed(n: u64, mut f: impl FnMut()) -> std::time::Duration {
    let t = Stopwatch::start();
    for _ in 0..n {
        f();
    }
    t.elapsed()
}

fn main() {
    if std::env::var("LOCKGRAPH_BENCH_CLOCK").as_deref() == Ok("wall") {
        timing::set_clock(timing::Clock::Wall);
    }
    if !lockgraph::TRACKING {
        println!("note: tracking is off in this build; add --features track-in-release");
    }
    let pl_lock = parking_lot::Mutex::new(0u64);
    let lg_lock = lockgraph::Mutex::named("bench-held", 0u64);
    let plain_sem = PlainSemaphore::new(4);
    let lg_sem = lockgraph::Semaphore::named("bench-sem", 4);

    let samplers: Vec<Sampler<'_>> = vec![
        Box::new(|n| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(n as usize);
            let t = Stopwatch::start();
            for i in 0..n {
                tx.send(black_box(i)).unwrap();
            }
            for _ in 0..n {
                black_box(rx.recv().unwrap());
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let (tx, rx) = lockgraph::mpsc::sync_channel_named::<u64>("bench-queue", n as usize);
            let t = Stopwatch::start();
            for i in 0..n {
                tx.send(black_box(i)).unwrap();
            }
            for _ in 0..n {
                black_box(rx.recv().unwrap());
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(n as usize);
            let t = Stopwatch::start();
            for _ in 0..n {
                let g = pl_lock.lock();
                tx.send(black_box(*g)).unwrap();
                drop(g);
            }
            for _ in 0..n {
                black_box(rx.recv().unwrap());
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let (tx, rx) = lockgraph::mpsc::sync_channel_named::<u64>("bench-queue", n as usize);
            let t = Stopwatch::start();
            for _ in 0..n {
                let g = lg_lock.lock();
                tx.send(black_box(*g)).unwrap();
                drop(g);
            }
            for _ in 0..n {
                black_box(rx.recv().unwrap());
            }
            t.elapsed()
        }),
        Box::new(|n| {
            timed(n, || {
                plain_sem.acquire();
                black_box(&plain_sem);
                plain_sem.release();
            })
        }),
        Box::new(|n| {
            timed(n, || {
                let p = lg_sem.acquire();
                black_box(&p);
                drop(p);
            })
        }),
    ];
    let mut samples = {
        let mut s = samplers;
        timing::sample_interleaved(&mut s)
    };
    let spreads: Vec<Spread> = samples.iter_mut().map(|v| Spread::of(v)).collect();
    let names = [
        ("bounded send + recv", "std::sync::mpsc", "lockgraph::mpsc"),
        (
            "bounded send + recv, one lock held",
            "std::sync::mpsc + parking_lot",
            "lockgraph::mpsc + lockgraph",
        ),
        (
            "semaphore acquire + release",
            "plain semaphore",
            "lockgraph::Semaphore",
        ),
    ];
    let rows: Vec<Vec<String>> = names
        .iter()
        .enumerate()
        .map(|(i, (row, base, ours))| {
            let (b, o) = (spreads[2 * i], spreads[2 * i + 1]);
            vec![
                row.to_string(),
                format!("{base}: {}", timing::fmt_ns(b.median)),
                format!("{ours}: {}", timing::fmt_ns(o.median)),
                format!("{:.2}x", o.median / b.median),
            ]
        })
        .collect();
    println!(
        "pipeline primitives, uncontended, one thread ({} samples, medians)",
        timing::SAMPLES
    );
    print_table(&["row", "uninstrumented", "lockgraph", "ratio"], &rows);
    println!("target: at most 1.30x (issue 16)");
}
