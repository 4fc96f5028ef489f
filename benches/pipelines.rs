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
//! - with the `crossbeam` feature, a bounded crossbeam channel's `send` +
//!   `recv`: `lockgraph::channel::bounded` against `crossbeam_channel::bounded`;
//! - with the `tokio` feature, tokio's bounded queue: `send().await` +
//!   `recv().await` of `lockgraph::tokio::mpsc` against `tokio::sync::mpsc`,
//!   in a `current_thread` runtime's `block_on`.
//!
//! Run: `cargo bench --features track-in-release,crossbeam,tokio --bench
//! pipelines`.
//! The target (issue 16) is at most 1.3x the uninstrumented primitive.
//!
//! `--callgrind ROW IMPL N` runs one row `N` times and nothing else (rows
//! `mpsc`, `mpsc-held`, `semaphore`, `crossbeam`, `tokio`; implementations `plain`,
//! `lockgraph`), for instruction counts under valgrind: run it with `N` and
//! `2N` and divide the difference by `N` (`scripts/callgrind-pipelines.sh`).

#[allow(dead_code)]
#[path = "support/timing.rs"]
mod timing;

use std::hint::black_box;
use std::process::ExitCode;
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

/// The rows, each for the plain primitive and lockgraph's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    Mpsc,
    MpscHeld,
    Semaphore,
    #[cfg(feature = "crossbeam")]
    Crossbeam,
    #[cfg(feature = "tokio")]
    Tokio,
}

impl Row {
    const ALL: &'static [Row] = &[
        Row::Mpsc,
        Row::MpscHeld,
        Row::Semaphore,
        #[cfg(feature = "crossbeam")]
        Row::Crossbeam,
        #[cfg(feature = "tokio")]
        Row::Tokio,
    ];

    /// Whether the row takes async holds (tokio's queue).
    fn is_async(self) -> bool {
        match self {
            #[cfg(feature = "tokio")]
            Row::Tokio => true,
            _ => false,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Row::Mpsc => "mpsc",
            Row::MpscHeld => "mpsc-held",
            Row::Semaphore => "semaphore",
            #[cfg(feature = "crossbeam")]
            Row::Crossbeam => "crossbeam",
            #[cfg(feature = "tokio")]
            Row::Tokio => "tokio",
        }
    }

    /// The row's title, the baseline's and lockgraph's names.
    fn titles(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Row::Mpsc => ("bounded send + recv", "std::sync::mpsc", "lockgraph::mpsc"),
            Row::MpscHeld => (
                "bounded send + recv, one lock held",
                "std::sync::mpsc + parking_lot",
                "lockgraph::mpsc + lockgraph",
            ),
            Row::Semaphore => (
                "semaphore acquire + release",
                "plain semaphore",
                "lockgraph::Semaphore",
            ),
            #[cfg(feature = "crossbeam")]
            Row::Crossbeam => (
                "crossbeam bounded send + recv",
                "crossbeam_channel",
                "lockgraph::channel",
            ),
            #[cfg(feature = "tokio")]
            Row::Tokio => (
                "tokio bounded send().await + recv().await",
                "tokio::sync::mpsc",
                "lockgraph::tokio::mpsc",
            ),
        }
    }
}

/// What the rows use, made once.
struct Fixture {
    pl_lock: parking_lot::Mutex<u64>,
    lg_lock: lockgraph::Mutex<u64>,
    plain_sem: PlainSemaphore,
    lg_sem: lockgraph::Semaphore,
    /// The tokio row's runtime (one thread: the sends and receives run
    /// in `block_on`'s own future).
    #[cfg(feature = "tokio")]
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            pl_lock: parking_lot::Mutex::new(0u64),
            lg_lock: lockgraph::Mutex::named("bench-held", 0u64),
            plain_sem: PlainSemaphore::new(4),
            lg_sem: lockgraph::Semaphore::named("bench-sem", 4),
            #[cfg(feature = "tokio")]
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        }
    }

    /// Runs `row` `n` times, the plain primitive's or lockgraph's; the time
    /// of the timed part (a channel is made before the clock starts).
    fn run(&self, row: Row, lockgraph: bool, n: u64) -> std::time::Duration {
        match (row, lockgraph) {
            (Row::Mpsc, false) => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(n as usize);
                let t = Stopwatch::start();
                for i in 0..n {
                    tx.send(black_box(i)).unwrap();
                }
                for _ in 0..n {
                    black_box(rx.recv().unwrap());
                }
                t.elapsed()
            }
            (Row::Mpsc, true) => {
                let (tx, rx) =
                    lockgraph::mpsc::sync_channel_named::<u64>("bench-queue", n as usize);
                let t = Stopwatch::start();
                for i in 0..n {
                    tx.send(black_box(i)).unwrap();
                }
                for _ in 0..n {
                    black_box(rx.recv().unwrap());
                }
                t.elapsed()
            }
            (Row::MpscHeld, false) => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(n as usize);
                let t = Stopwatch::start();
                for _ in 0..n {
                    let g = self.pl_lock.lock();
                    tx.send(black_box(*g)).unwrap();
                    drop(g);
                }
                for _ in 0..n {
                    black_box(rx.recv().unwrap());
                }
                t.elapsed()
            }
            (Row::MpscHeld, true) => {
                let (tx, rx) =
                    lockgraph::mpsc::sync_channel_named::<u64>("bench-queue", n as usize);
                let t = Stopwatch::start();
                for _ in 0..n {
                    let g = self.lg_lock.lock();
                    tx.send(black_box(*g)).unwrap();
                    drop(g);
                }
                for _ in 0..n {
                    black_box(rx.recv().unwrap());
                }
                t.elapsed()
            }
            (Row::Semaphore, false) => timed(n, || {
                self.plain_sem.acquire();
                black_box(&self.plain_sem);
                self.plain_sem.release();
            }),
            (Row::Semaphore, true) => timed(n, || {
                let p = self.lg_sem.acquire();
                black_box(&p);
                drop(p);
            }),
            #[cfg(feature = "crossbeam")]
            (Row::Crossbeam, false) => {
                let (tx, rx) = crossbeam_channel::bounded::<u64>(n as usize);
                let t = Stopwatch::start();
                for i in 0..n {
                    tx.send(black_box(i)).unwrap();
                }
                for _ in 0..n {
                    black_box(rx.recv().unwrap());
                }
                t.elapsed()
            }
            #[cfg(feature = "crossbeam")]
            (Row::Crossbeam, true) => {
                let (tx, rx) = lockgraph::channel::bounded_named::<u64>("bench-cb", n as usize);
                let t = Stopwatch::start();
                for i in 0..n {
                    tx.send(black_box(i)).unwrap();
                }
                for _ in 0..n {
                    black_box(rx.recv().unwrap());
                }
                t.elapsed()
            }
            #[cfg(feature = "tokio")]
            (Row::Tokio, false) => {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(n as usize);
                self.rt.block_on(async {
                    let t = Stopwatch::start();
                    for i in 0..n {
                        tx.send(black_box(i)).await.unwrap();
                    }
                    for _ in 0..n {
                        black_box(rx.recv().await.unwrap());
                    }
                    t.elapsed()
                })
            }
            #[cfg(feature = "tokio")]
            (Row::Tokio, true) => {
                let (tx, mut rx) =
                    lockgraph::tokio::mpsc::channel_named::<u64>("bench-tokio", n as usize);
                self.rt.block_on(async {
                    let t = Stopwatch::start();
                    for i in 0..n {
                        tx.send(black_box(i)).await.unwrap();
                    }
                    for _ in 0..n {
                        black_box(rx.recv().await.unwrap());
                    }
                    t.elapsed()
                })
            }
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

/// `--callgrind ROW IMPL N`: one row, `N` times, after one warm-up
/// iteration (the first-time costs fall in the setup, not in `N`).
fn callgrind(args: &[String]) -> Result<(), String> {
    let [row, imp, n] = args else {
        return Err("expected --callgrind ROW IMPL N".into());
    };
    let row = *Row::ALL
        .iter()
        .find(|r| r.name() == row)
        .ok_or_else(|| format!("unknown row {row:?}"))?;
    let lockgraph = match imp.as_str() {
        "plain" => false,
        "lockgraph" => true,
        other => {
            return Err(format!(
                "unknown implementation {other:?} (plain, lockgraph)"
            ))
        }
    };
    let n: u64 = n.parse().map_err(|_| format!("N: not a number: {n:?}"))?;
    let f = Fixture::new();
    f.run(row, lockgraph, 1);
    f.run(row, lockgraph, n);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--callgrind") {
        return match callgrind(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pipelines: {e}");
                ExitCode::from(2)
            }
        };
    }
    if let Some(other) = args.first() {
        eprintln!(
            "pipelines: unknown argument {other:?} (no arguments: the timed table; \
             --callgrind ROW IMPL N: one row for callgrind)"
        );
        return ExitCode::from(2);
    }
    match timing::Clock::from_env(timing::Clock::ThreadCpu) {
        Ok(c) => timing::set_clock(c),
        Err(e) => {
            eprintln!("pipelines: {e}");
            return ExitCode::from(2);
        }
    }
    if !lockgraph::TRACKING {
        println!("note: tracking is off in this build; add --features track-in-release");
    }
    let f = Fixture::new();
    // The sync rows first, interleaved; then the async row (its receives
    // take async holds, and once any async hold was taken in a process,
    // every sync acquisition also looks for its task's async holds: the
    // sync rows are measured before that).
    let (sync_rows, async_rows): (Vec<Row>, Vec<Row>) =
        Row::ALL.iter().partition(|r| !r.is_async());
    let mut samples = Vec::new();
    for group in [sync_rows, async_rows] {
        let mut samplers: Vec<Sampler<'_>> = Vec::new();
        for row in group {
            let f = &f;
            samplers.push(Box::new(move |n| f.run(row, false, n)));
            samplers.push(Box::new(move |n| f.run(row, true, n)));
        }
        samples.extend(timing::sample_interleaved(&mut samplers));
    }
    let order: Vec<Row> = Row::ALL
        .iter()
        .copied()
        .filter(|r| !r.is_async())
        .chain(Row::ALL.iter().copied().filter(|r| r.is_async()))
        .collect();
    let spreads: Vec<Spread> = samples.iter_mut().map(|v| Spread::of(v)).collect();
    let rows: Vec<Vec<String>> = order
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let (title, base, ours) = row.titles();
            let (b, o) = (spreads[2 * i], spreads[2 * i + 1]);
            vec![
                title.to_string(),
                format!("{base}: {}", timing::fmt_ns(b.median)),
                format!("{ours}: {}", timing::fmt_ns(o.median)),
                format!("{:.2}x", o.median / b.median),
            ]
        })
        .collect();
    println!(
        "pipeline primitives, uncontended, one thread ({} samples, medians, {} time)",
        timing::SAMPLES,
        timing::clock().name()
    );
    print_table(&["row", "uninstrumented", "lockgraph", "ratio"], &rows);
    if !cfg!(feature = "crossbeam") {
        println!("(add --features crossbeam for the crossbeam-channel row)");
    }
    if !cfg!(feature = "tokio") {
        println!("(add --features tokio for the tokio mpsc row)");
    }
    println!("target: at most 1.30x (issue 16)");
    ExitCode::SUCCESS
}
