//! lockgraph against parking_lot (no tracking) and tracing-mutex (always
//! tracks), on the project's target workloads.
//!
//! A self-contained harness (no criterion). Steady-state workloads take
//! `SAMPLES` samples per implementation, each a loop sized to run about
//! `SAMPLE_TIME`, interleaved per round (parking_lot, lockgraph, tracing-mutex,
//! parking_lot, ...) so machine noise hits them alike, and report the median
//! ns per iteration. Graph workloads (10,000-lock chains) time single
//! acquisitions. Every figure printed is measured in this run. The last
//! rows turn on the optional features in code (the atomicity checker, then
//! the watchdog, then the watchdog with the lock-order graph off: what the
//! `watchdog-in-release` feature runs) and compare with parking_lot only.
//!
//! Run with
//! `cargo bench --features track-in-release --bench locks`
//! (without the feature lockgraph is plain parking_lot in release builds).
//!
//! tracing-mutex is used through `tracing_mutex::stdsync::tracing::Mutex`
//! (std's mutex underneath, tracking in every build): its `parkinglot` module
//! needs a crate feature this workspace does not enable.

use std::fmt::Write as _;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Barrier;
use std::time::{Duration, Instant};

type PlMutex<T> = parking_lot::Mutex<T>;
type LgMutex<T> = lockgraph::Mutex<T>;
type TmMutex<T> = tracing_mutex::stdsync::tracing::Mutex<T>;

/// Samples per implementation for the steady-state workloads.
const SAMPLES: usize = 15;
/// Wall time one steady-state sample aims at.
const SAMPLE_TIME: Duration = Duration::from_millis(30);
/// Locks in the big chain of workloads 6 and 7.
const CHAIN: usize = 10_000;
/// Fresh-lock samples per implementation in workload 6.
const NEW_EDGE_SAMPLES: usize = 101;
/// Fresh chains per implementation in workload 7.
const CYCLE_SAMPLES: usize = 5;
/// The class of the chain locks and of the fresh lock in workloads 6 and 7:
/// one class, so lockgraph orders them in its instance graph.
const CHAIN_CLASS: &str = "bench-chain";

const W1: &str = "one lock, lock+unlock";
const W2: &str = "nested pair A then B, steady state";
const W3: &str = "chain of 8";
const W4: &str = "two threads, each its own pair";
const W5: &str = "churn: make 2 locks, nest once, drop";
const W6: &str = "one new edge against the order in a 10,000-lock graph";
const W7: &str = "edge closing a cycle in a 10,000-lock chain, report included";
const W8: &str = "nested pair, atomicity checker on";
const W9: &str = "one lock, watchdog on";
const W10: &str = "nested pair, watchdog on";
const W11: &str = "two threads, each its own pair, watchdog on";
const W12: &str = "nested pair, watchdog on, order graph off";
const ORDER: [&str; 12] = [W1, W2, W3, W4, W5, W6, W7, W8, W9, W10, W11, W12];

const IMPLS: [&str; 3] = ["parking_lot", "lockgraph", "tracing-mutex"];

/// One timed loop: runs `n` iterations and returns how long they took.
type Sampler<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The iteration count that makes `f` run about `SAMPLE_TIME`.
fn calibrate(f: &mut dyn FnMut(u64) -> Duration) -> u64 {
    let mut n = 1u64;
    loop {
        let t = f(n);
        if t >= Duration::from_millis(5) || n >= 1 << 34 {
            let per_iter = t.as_secs_f64() / n as f64;
            return ((SAMPLE_TIME.as_secs_f64() / per_iter.max(1e-12)) as u64).max(1);
        }
        n *= 2;
    }
}

/// Median ns/iter of each sampler, sampled in interleaved rounds.
fn bench_interleaved(mut samplers: Vec<Sampler<'_>>) -> Vec<f64> {
    let iters: Vec<u64> = samplers.iter_mut().map(|f| calibrate(f)).collect();
    let mut ns: Vec<Vec<f64>> = vec![Vec::with_capacity(SAMPLES); samplers.len()];
    for _ in 0..SAMPLES {
        for (i, f) in samplers.iter_mut().enumerate() {
            let t = f(iters[i]);
            ns[i].push(t.as_nanos() as f64 / iters[i] as f64);
        }
    }
    ns.iter_mut().map(|v| median(v)).collect()
}

// ---------------------------------------------------------------- bodies

#[inline(always)]
fn pair_pl(p: &(PlMutex<u64>, PlMutex<u64>)) {
    let a = p.0.lock();
    let b = p.1.lock();
    black_box((&*a, &*b));
}

#[inline(always)]
fn pair_lg(p: &(LgMutex<u64>, LgMutex<u64>)) {
    let a = p.0.lock();
    let b = p.1.lock();
    black_box((&*a, &*b));
}

#[inline(always)]
fn pair_tm(p: &(TmMutex<u64>, TmMutex<u64>)) {
    let a = p.0.lock().unwrap();
    let b = p.1.lock().unwrap();
    black_box((&*a, &*b));
}

/// Locks `$l[0]` .. `$l[7]` in order with `$lock`, holds all eight, then
/// drops them innermost first.
macro_rules! lock8 {
    ($l:expr, |$m:ident| $lock:expr) => {{
        let l = $l;
        let g0 = {
            let $m = &l[0];
            $lock
        };
        let g1 = {
            let $m = &l[1];
            $lock
        };
        let g2 = {
            let $m = &l[2];
            $lock
        };
        let g3 = {
            let $m = &l[3];
            $lock
        };
        let g4 = {
            let $m = &l[4];
            $lock
        };
        let g5 = {
            let $m = &l[5];
            $lock
        };
        let g6 = {
            let $m = &l[6];
            $lock
        };
        let g7 = {
            let $m = &l[7];
            $lock
        };
        black_box((&*g0, &*g1, &*g2, &*g3, &*g4, &*g5, &*g6, &*g7));
    }};
}

/// Aligns its content to its own cache lines (128 bytes covers adjacent-line
/// prefetching).
#[repr(align(128))]
struct Padded<T>(T);

/// A steady-state sampler: `n` runs of `body` on `locks`.
fn looped<'a, P: 'a>(locks: P, body: impl Fn(&P) + 'a) -> Sampler<'a> {
    Box::new(move |n| {
        let t = Instant::now();
        for _ in 0..n {
            body(black_box(&locks));
        }
        t.elapsed()
    })
}

/// Per implementation, the median ns per iteration on one thread (`single`)
/// and per thread with two threads (`double`, given the iteration count),
/// sampled in the same rounds; iteration counts are calibrated on one thread.
fn one_and_two_threads(
    mut single: Vec<Sampler<'_>>,
    mut double: Vec<Sampler<'_>>,
) -> (Vec<f64>, Vec<f64>) {
    let iters: Vec<u64> = single.iter_mut().map(|f| calibrate(f)).collect();
    let mut one: Vec<Vec<f64>> = vec![Vec::new(); single.len()];
    let mut two: Vec<Vec<f64>> = vec![Vec::new(); single.len()];
    for _ in 0..SAMPLES {
        for (i, &n) in iters.iter().enumerate() {
            one[i].push(single[i](n).as_nanos() as f64 / n as f64);
            two[i].push(double[i](n).as_nanos() as f64 / n as f64);
        }
    }
    let medians = |v: &mut Vec<Vec<f64>>| v.iter_mut().map(|s| median(s)).collect();
    (medians(&mut one), medians(&mut two))
}

/// Two threads, each running `n` iterations of `body` on its own pair, started
/// together; returns the mean per-thread elapsed time.
fn two_threads<P: Sync>(pairs: &[P; 2], n: u64, body: impl Fn(&P) + Copy + Send) -> Duration {
    let barrier = Barrier::new(2);
    let times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|p| {
                let barrier = &barrier;
                s.spawn(move || {
                    body(p); // warm this thread's state outside the timing
                    barrier.wait();
                    let t = Instant::now();
                    for _ in 0..n {
                        body(black_box(p));
                    }
                    t.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect()
    });
    (times[0] + times[1]) / 2
}

// ---------------------------------------------------------------- chains

fn chain_pl() -> Vec<PlMutex<()>> {
    let v: Vec<PlMutex<()>> = (0..CHAIN).map(|_| PlMutex::new(())).collect();
    for w in v.windows(2) {
        let _a = w[0].lock();
        let _b = w[1].lock();
    }
    v
}

fn chain_lg() -> Vec<LgMutex<()>> {
    let v: Vec<LgMutex<()>> = (0..CHAIN)
        .map(|_| LgMutex::named(CHAIN_CLASS, ()))
        .collect();
    let reports = lockgraph::capture(|| {
        for w in v.windows(2) {
            let _a = w[0].lock();
            let _b = w[1].lock();
        }
    });
    if !reports.is_empty() {
        println!(
            "WARNING: building the lockgraph chain raised {} report(s)",
            reports.len()
        );
    }
    v
}

fn chain_tm() -> Vec<TmMutex<()>> {
    let v: Vec<TmMutex<()>> = (0..CHAIN).map(|_| TmMutex::new(())).collect();
    for w in v.windows(2) {
        let _a = w[0].lock().unwrap();
        let _b = w[1].lock().unwrap();
    }
    v
}

// ---------------------------------------------------------------- panic capture

/// What the capturing panic hook saw: when it ran and the message.
static PANIC_SEEN: std::sync::Mutex<Option<(Instant, String)>> = std::sync::Mutex::new(None);

/// Runs `f` with a panic hook that records the panic silently.
fn with_capturing_hook<R>(f: impl FnOnce() -> R) -> R {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let at = Instant::now();
        let payload = info.payload();
        let text = if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else {
            info.to_string()
        };
        *PANIC_SEEN.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, text));
    }));
    let r = f();
    panic::set_hook(previous);
    r
}

// ---------------------------------------------------------------- output

struct Row {
    workload: &'static str,
    cells: [String; 3],
    target: String,
    measured: String,
    pass: bool,
    /// Whether the row has a target (rows without one are reported only).
    counted: bool,
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Prints one line per implementation measured (`ns` has one median each,
/// in [`IMPLS`] order; the feature rows measure the first two only).
fn print_medians(name: &str, ns: &[f64]) {
    println!("{name}");
    for (imp, t) in IMPLS.iter().zip(ns) {
        println!(
            "  {imp:<14} {:>12} /iter   {:>6.2}x parking_lot",
            fmt_ns(*t),
            t / ns[0]
        );
    }
}

/// A row measured against parking_lot only (tracing-mutex has no such
/// feature); `limit: None` when no target is set (the row is not counted).
fn feature_row(workload: &'static str, ns: &[f64], limit: Option<f64>) -> Row {
    let r = ns[1] / ns[0];
    Row {
        workload,
        cells: [
            fmt_ns(ns[0]),
            format!("{} ({:.2}x)", fmt_ns(ns[1]), r),
            "-".to_string(),
        ],
        target: limit.map_or_else(|| "none set".to_string(), |l| format!("<= {l:.2}x pl")),
        measured: format!("{r:.2}x"),
        pass: limit.is_none_or(|l| r <= l),
        counted: limit.is_some(),
    }
}

fn steady_row(workload: &'static str, ns: &[f64], limit: f64) -> Row {
    let mut row = feature_row(workload, ns, Some(limit));
    row.cells[2] = format!("{} ({:.2}x)", fmt_ns(ns[2]), ns[2] / ns[0]);
    row
}

// ---------------------------------------------------------------- main

fn main() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("lockgraph benchmark");
    println!(
        "  cores: {cores}; profile: {}; lockgraph::TRACKING = {}",
        if cfg!(debug_assertions) {
            "debug (debug_assertions on: numbers are not representative)"
        } else {
            "optimized bench/release build (debug_assertions off)"
        },
        lockgraph::TRACKING
    );
    if !lockgraph::TRACKING {
        println!(
            "WARNING: lockgraph::TRACKING is false: lockgraph is plain parking_lot here; \
             run with --features track-in-release to measure tracking"
        );
    }
    println!(
        "  LOCKGRAPH_BACKTRACE={:?}, RUST_BACKTRACE={:?}; tracing-mutex = \
         tracing_mutex::stdsync::tracing::Mutex (std mutex underneath)",
        std::env::var("LOCKGRAPH_BACKTRACE").ok(),
        std::env::var("RUST_BACKTRACE").ok()
    );
    println!(
        "  steady workloads: {SAMPLES} interleaved samples of ~{} ms each, median ns/iter",
        SAMPLE_TIME.as_millis()
    );
    println!();

    let mut rows: Vec<Row> = Vec::new();

    // The graph workloads run first, while this process's tracing-mutex graph
    // is empty: it recycles the topological-order slots of dropped locks, and
    // after millions of dropped locks a fresh lock would get a low slot and
    // its edge would no longer point against the order.
    println!("graph workloads first (fresh process-wide graphs), then the steady-state ones");
    println!();

    // 6. one new edge against the order in a 10,000-lock chain
    {
        let t = Instant::now();
        let pl = chain_pl();
        let pl_build = t.elapsed();
        let t = Instant::now();
        let lg = chain_lg();
        let lg_build = t.elapsed();
        let t = Instant::now();
        let tm = chain_tm();
        let tm_build = t.elapsed();
        let mut ns: Vec<Vec<f64>> = vec![Vec::new(); 3];
        let mut lg_reports = 0usize;
        // Every N stays alive until the end: tracing-mutex recycles a dropped
        // lock's topological-order slot, and a recycled (low) slot would put
        // the next N's edge *along* the order instead of against it.
        let mut pl_kept = Vec::with_capacity(NEW_EDGE_SAMPLES);
        let mut lg_kept = Vec::with_capacity(NEW_EDGE_SAMPLES);
        let mut tm_kept = Vec::with_capacity(NEW_EDGE_SAMPLES);
        for _ in 0..NEW_EDGE_SAMPLES {
            {
                let n = PlMutex::new(());
                drop(n.lock());
                let t = Instant::now();
                {
                    let _n = black_box(&n).lock();
                    let _l0 = black_box(&pl[0]).lock();
                }
                ns[0].push(t.elapsed().as_nanos() as f64);
                pl_kept.push(n);
            }
            {
                let n = LgMutex::named(CHAIN_CLASS, ());
                drop(n.lock()); // assigns its id; no edge (nothing held)
                let mut el = Duration::ZERO;
                let reports = lockgraph::capture(|| {
                    let t = Instant::now();
                    {
                        let _n = black_box(&n).lock();
                        let _l0 = black_box(&lg[0]).lock();
                    }
                    el = t.elapsed();
                });
                lg_reports += reports.len();
                ns[1].push(el.as_nanos() as f64);
                lg_kept.push(n);
            }
            {
                let n = TmMutex::new(());
                drop(n.lock().unwrap());
                let t = Instant::now();
                {
                    let _n = black_box(&n).lock().unwrap();
                    let _l0 = black_box(&tm[0]).lock().unwrap();
                }
                ns[2].push(t.elapsed().as_nanos() as f64);
                tm_kept.push(n);
            }
        }
        drop((pl_kept, lg_kept, tm_kept));
        let ns: Vec<f64> = ns.iter_mut().map(|v| median(v)).collect();
        println!("{W6}");
        println!(
            "  chains built (outside the timing) in: parking_lot {:.1} ms, lockgraph {:.1} ms, \
             tracing-mutex {:.1} ms",
            pl_build.as_secs_f64() * 1e3,
            lg_build.as_secs_f64() * 1e3,
            tm_build.as_secs_f64() * 1e3
        );
        println!(
            "  median of {NEW_EDGE_SAMPLES} fresh locks N, each timing \"lock N, then lock L[0]\":"
        );
        println!(
            "  {:<14} {:>12}   (no graph: plain cost)",
            IMPLS[0],
            fmt_ns(ns[0])
        );
        println!("  {:<14} {:>12}", IMPLS[1], fmt_ns(ns[1]));
        println!(
            "  {:<14} {:>12}   (reference figure: 326 us)",
            IMPLS[2],
            fmt_ns(ns[2])
        );
        if lg_reports > 0 {
            println!(
                "  WARNING: lockgraph reported {lg_reports} cycle(s) for edges that close none"
            );
        }
        let us = ns[1] / 1e3;
        rows.push(Row {
            workload: W6,
            cells: [
                fmt_ns(ns[0]),
                format!("{} ({:.0}x)", fmt_ns(ns[1]), ns[1] / ns[0]),
                format!("{} ({:.0}x)", fmt_ns(ns[2]), ns[2] / ns[0]),
            ],
            target: "<= 20 us".to_string(),
            measured: format!("{us:.2} us"),
            pass: us <= 20.0 && lg_reports == 0,
            counted: true,
        });
    }

    // 7. edge closing a cycle in a 10,000-lock chain
    {
        let mut pl_ns = Vec::new();
        let mut lg_ns = Vec::new();
        let mut lg_fmt_ns = Vec::new();
        let mut lg_len = Vec::new();
        let mut lg_lines = Vec::new();
        let mut tm_panic_ns = Vec::new();
        let mut tm_unwind_ns = Vec::new();
        let mut tm_lines = Vec::new();
        // lockgraph's chains stay alive until all samples are taken: a dropped
        // chain's graph slots are reused by the next one (see the re-check below).
        let mut lg_kept: Vec<Vec<LgMutex<()>>> = Vec::new();
        for _ in 0..CYCLE_SAMPLES {
            {
                let c = chain_pl();
                let t = Instant::now();
                {
                    let _a = black_box(&c[CHAIN - 1]).lock();
                    let _b = black_box(&c[0]).lock();
                }
                pl_ns.push(t.elapsed().as_nanos() as f64);
            }
            {
                let c = chain_lg();
                let mut el = Duration::ZERO;
                let reports = lockgraph::capture(|| {
                    let t = Instant::now();
                    {
                        let _a = black_box(&c[CHAIN - 1]).lock();
                        let _b = black_box(&c[0]).lock();
                    }
                    el = t.elapsed();
                });
                lg_ns.push(el.as_nanos() as f64);
                match reports.first() {
                    Some(r) => {
                        lg_len.push(r.locks.len());
                        let t = Instant::now();
                        let text = format!("{r}");
                        lg_fmt_ns.push(t.elapsed().as_nanos() as f64);
                        lg_lines.push(text.lines().count());
                        black_box(text);
                    }
                    None => lg_len.push(0),
                }
                lg_kept.push(c);
            }
            {
                let c = chain_tm();
                *PANIC_SEEN.lock().unwrap_or_else(|e| e.into_inner()) = None;
                let (start, result, end) = with_capturing_hook(|| {
                    let start = Instant::now();
                    let result = panic::catch_unwind(AssertUnwindSafe(|| {
                        let _a = black_box(&c[CHAIN - 1]).lock().unwrap();
                        let _b = black_box(&c[0]).lock().unwrap();
                    }));
                    (start, result, Instant::now())
                });
                let seen = PANIC_SEEN.lock().unwrap_or_else(|e| e.into_inner()).take();
                if result.is_err() {
                    tm_unwind_ns.push((end - start).as_nanos() as f64);
                    if let Some((at, text)) = seen {
                        tm_panic_ns.push((at - start).as_nanos() as f64);
                        tm_lines.push(text.lines().count());
                    }
                }
                // The chain is dropped here; its tail mutex is poisoned, harmlessly.
            }
        }
        // Re-check: drop the earlier chains, then close the cycle of a fresh one.
        drop(lg_kept);
        let recheck_len = {
            let c = chain_lg();
            let reports = lockgraph::capture(|| {
                let _a = c[CHAIN - 1].lock();
                let _b = c[0].lock();
            });
            reports.first().map_or(0, |r| r.locks.len())
        };
        println!("{W7}");
        println!(
            "  {CYCLE_SAMPLES} fresh chains per implementation, each timing \
             \"lock L[{}], then lock L[0]\" (median):",
            CHAIN - 1
        );
        println!(
            "  {:<14} {:>12}   (no graph: plain cost)",
            IMPLS[0],
            fmt_ns(median(&mut pl_ns))
        );
        let lg_med = median(&mut lg_ns);
        let fmt_med = median(&mut lg_fmt_ns);
        let mut lens = String::new();
        for l in &lg_len {
            let _ = write!(lens, "{l} ");
        }
        println!(
            "  {:<14} {:>12}   detection + report construction, inside capture; \
             cycle length(s): {}",
            IMPLS[1],
            fmt_ns(lg_med),
            lens.trim_end()
        );
        println!(
            "  {:<14} {:>12}   format!(\"{{}}\", report) afterwards ({} lines)",
            "",
            fmt_ns(fmt_med),
            lg_lines.first().copied().unwrap_or(0)
        );
        println!(
            "  {:<14} re-check after dropping the earlier chains: a fresh chain's cycle \
             gave a report of length {recheck_len}{}",
            "",
            if recheck_len == CHAIN {
                ""
            } else {
                "   WARNING: a new cycle through new locks was not reported"
            }
        );
        let tm_note = if tm_unwind_ns.len() < CYCLE_SAMPLES {
            format!(
                " WARNING: only {} of {CYCLE_SAMPLES} attempts panicked",
                tm_unwind_ns.len()
            )
        } else {
            String::new()
        };
        println!(
            "  {:<14} {:>12}   until its panic hook ran ({} lines in the panic message){}",
            IMPLS[2],
            fmt_ns(median(&mut tm_panic_ns)),
            tm_lines.first().copied().unwrap_or(0),
            tm_note
        );
        println!(
            "  {:<14} {:>12}   until catch_unwind returned",
            "",
            fmt_ns(median(&mut tm_unwind_ns))
        );
        let all_full = !lg_len.is_empty() && lg_len.iter().all(|&l| l == CHAIN);
        let ms = lg_med / 1e6;
        rows.push(Row {
            workload: W7,
            cells: [
                fmt_ns(median(&mut pl_ns)),
                format!("{} (len {})", fmt_ns(lg_med), lg_len.first().unwrap_or(&0)),
                format!("{} (to panic)", fmt_ns(median(&mut tm_panic_ns))),
            ],
            target: format!("<= 1 ms, len {CHAIN}"),
            measured: format!("{ms:.3} ms, re-check len {recheck_len}"),
            pass: ms <= 1.0 && all_full && recheck_len == CHAIN,
            counted: true,
        });
    }

    // 1. one lock
    let ns = bench_interleaved(vec![
        looped(PlMutex::new(0u64), |m| *m.lock() += 1),
        looped(LgMutex::new(0u64), |m| *m.lock() += 1),
        looped(TmMutex::new(0u64), |m| *m.lock().unwrap() += 1),
    ]);
    print_medians(W1, &ns);
    rows.push(steady_row(W1, &ns, 1.15));

    // 2. nested pair
    let ns = bench_interleaved(vec![
        looped((PlMutex::new(0u64), PlMutex::new(0u64)), pair_pl),
        looped((LgMutex::new(0u64), LgMutex::new(0u64)), pair_lg),
        looped((TmMutex::new(0u64), TmMutex::new(0u64)), pair_tm),
    ]);
    print_medians(W2, &ns);
    rows.push(steady_row(W2, &ns, 1.30));

    // 3. chain of 8
    let ns = bench_interleaved(vec![
        looped(
            std::array::from_fn::<_, 8, _>(|_| PlMutex::new(0u64)),
            |l| lock8!(l, |m| m.lock()),
        ),
        looped(
            std::array::from_fn::<_, 8, _>(|_| LgMutex::new(0u64)),
            |l| lock8!(l, |m| m.lock()),
        ),
        looped(
            std::array::from_fn::<_, 8, _>(|_| TmMutex::new(0u64)),
            |l| lock8!(l, |m| m.lock().unwrap()),
        ),
        // For comparison: eight locks of eight different classes.
        looped(
            ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"].map(|n| LgMutex::named(n, 0u64)),
            |l| lock8!(l, |m| m.lock()),
        ),
    ]);
    print_medians(W3, &ns);
    println!(
        "  (the 8 locks above are one array made at one site: one lockgraph class, so\n   \
         instance order is tracked; with 8 named classes lockgraph takes {} /iter, {:.2}x)",
        fmt_ns(ns[3]),
        ns[3] / ns[0]
    );
    rows.push(steady_row(W3, &ns, 1.40));

    // 4. two threads, each its own pair
    {
        // Each pair on its own cache lines: no false sharing between threads.
        let pl_pairs = [0, 1].map(|_| Padded((PlMutex::new(0u64), PlMutex::new(0u64))));
        let lg_pairs = [0, 1].map(|_| Padded((LgMutex::new(0u64), LgMutex::new(0u64))));
        let tm_pairs = [0, 1].map(|_| Padded((TmMutex::new(0u64), TmMutex::new(0u64))));
        // Calibrate on one thread (workload 2); single-thread figures are
        // re-measured in the same rounds as the two-thread ones.
        let (one, two) = one_and_two_threads(
            vec![
                looped(&pl_pairs[0], |p| pair_pl(&p.0)),
                looped(&lg_pairs[0], |p| pair_lg(&p.0)),
                looped(&tm_pairs[0], |p| pair_tm(&p.0)),
            ],
            vec![
                Box::new(|n| two_threads(&pl_pairs, n, |p| pair_pl(&p.0))),
                Box::new(|n| two_threads(&lg_pairs, n, |p| pair_lg(&p.0))),
                Box::new(|n| two_threads(&tm_pairs, n, |p| pair_tm(&p.0))),
            ],
        );
        println!("{W4}");
        for (i, imp) in IMPLS.iter().enumerate() {
            println!(
                "  {imp:<14} {:>12} /iter per thread   {:>6.2}x parking_lot   \
                 {:>5.2}x its own single-thread pair ({})",
                fmt_ns(two[i]),
                two[i] / two[0],
                two[i] / one[i],
                fmt_ns(one[i])
            );
        }
        let scale = two[1] / one[1];
        rows.push(Row {
            workload: W4,
            cells: [
                format!("{} (scale {:.2})", fmt_ns(two[0]), two[0] / one[0]),
                format!(
                    "{} ({:.2}x, scale {:.2})",
                    fmt_ns(two[1]),
                    two[1] / two[0],
                    scale
                ),
                format!(
                    "{} ({:.2}x, scale {:.2})",
                    fmt_ns(two[2]),
                    two[2] / two[0],
                    two[2] / one[2]
                ),
            ],
            target: "scale <= 1.10".to_string(),
            measured: format!("scale {scale:.2}"),
            pass: scale <= 1.10,
            counted: true,
        });
    }

    // 5. churn
    let ns = bench_interleaved(vec![
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                let a = PlMutex::new(0u64);
                let b = PlMutex::new(0u64);
                let ga = black_box(&a).lock();
                let gb = black_box(&b).lock();
                black_box((&*ga, &*gb));
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                let a = LgMutex::new(0u64);
                let b = LgMutex::new(0u64);
                let ga = black_box(&a).lock();
                let gb = black_box(&b).lock();
                black_box((&*ga, &*gb));
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                let a = TmMutex::new(0u64);
                let b = TmMutex::new(0u64);
                let ga = black_box(&a).lock().unwrap();
                let gb = black_box(&b).lock().unwrap();
                black_box((&*ga, &*gb));
            }
            t.elapsed()
        }),
    ]);
    print_medians(W5, &ns);
    rows.push(steady_row(W5, &ns, 3.0));

    // Optional features, last: they stay on for the rest of the process.
    // tracing-mutex has neither, so these rows compare with parking_lot only.
    println!();
    println!("optional features (turned on in code from here on; lockgraph vs parking_lot)");
    println!();

    // 8. nested pair with the atomicity checker on
    lockgraph::set_atomicity(lockgraph::Atomicity::On);
    let ns = bench_interleaved(vec![
        looped((PlMutex::new(0u64), PlMutex::new(0u64)), pair_pl),
        looped((LgMutex::new(0u64), LgMutex::new(0u64)), pair_lg),
    ]);
    print_medians(W8, &ns);
    rows.push(feature_row(W8, &ns, Some(1.5)));
    lockgraph::set_atomicity(lockgraph::Atomicity::Off);

    // 9-11. the watchdog on. Issue 4 sets no ratio: the uncontended path must
    // gain no read-modify-write, clock read or allocation (it publishes the
    // held lock with plain stores); these rows show what that costs.
    lockgraph::watchdog::start(lockgraph::watchdog::Config::default());
    let ns = bench_interleaved(vec![
        looped(PlMutex::new(0u64), |m| *m.lock() += 1),
        looped(LgMutex::new(0u64), |m| *m.lock() += 1),
    ]);
    print_medians(W9, &ns);
    rows.push(feature_row(W9, &ns, None));
    let ns = bench_interleaved(vec![
        looped((PlMutex::new(0u64), PlMutex::new(0u64)), pair_pl),
        looped((LgMutex::new(0u64), LgMutex::new(0u64)), pair_lg),
    ]);
    print_medians(W10, &ns);
    rows.push(feature_row(W10, &ns, None));
    {
        let pl_pairs = [0, 1].map(|_| Padded((PlMutex::new(0u64), PlMutex::new(0u64))));
        let lg_pairs = [0, 1].map(|_| Padded((LgMutex::new(0u64), LgMutex::new(0u64))));
        let (one, two) = one_and_two_threads(
            vec![
                looped(&pl_pairs[0], |p| pair_pl(&p.0)),
                looped(&lg_pairs[0], |p| pair_lg(&p.0)),
            ],
            vec![
                Box::new(|n| two_threads(&pl_pairs, n, |p| pair_pl(&p.0))),
                Box::new(|n| two_threads(&lg_pairs, n, |p| pair_lg(&p.0))),
            ],
        );
        let scale = two[1] / one[1];
        println!("{W11}");
        println!(
            "  parking_lot    {:>12} /iter per thread   scale {:.2}",
            fmt_ns(two[0]),
            two[0] / one[0]
        );
        println!(
            "  lockgraph      {:>12} /iter per thread   {:.2}x parking_lot   scale {scale:.2}",
            fmt_ns(two[1]),
            two[1] / two[0]
        );
        rows.push(Row {
            workload: W11,
            cells: [
                format!("{} (scale {:.2})", fmt_ns(two[0]), two[0] / one[0]),
                format!(
                    "{} ({:.2}x, scale {scale:.2})",
                    fmt_ns(two[1]),
                    two[1] / two[0]
                ),
                "-".to_string(),
            ],
            target: "none set".to_string(),
            measured: format!("scale {scale:.2}"),
            pass: true,
            counted: false,
        });
    }

    // 12. the watchdog with the lock-order graph off: the minimal wait
    // tracking of the `watchdog-in-release` feature (held-lock stacks and
    // their publication only).
    lockgraph::set_order_graph(false);
    let ns = bench_interleaved(vec![
        looped((PlMutex::new(0u64), PlMutex::new(0u64)), pair_pl),
        looped((LgMutex::new(0u64), LgMutex::new(0u64)), pair_lg),
    ]);
    print_medians(W12, &ns);
    rows.push(feature_row(W12, &ns, None));
    lockgraph::set_order_graph(true);

    // Summary, in workload order
    rows.sort_by_key(|r| ORDER.iter().position(|w| *w == r.workload));
    println!();
    println!(
        "summary (lockgraph judged against its target; ratios are to parking_lot in the same run)"
    );
    let headers = [
        "workload",
        "parking_lot",
        "lockgraph",
        "tracing-mutex",
        "target",
        "measured",
        "",
    ];
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.workload.to_string(),
                r.cells[0].clone(),
                r.cells[1].clone(),
                r.cells[2].clone(),
                r.target.clone(),
                r.measured.clone(),
                match (r.counted, r.pass) {
                    (false, _) => "",
                    (true, true) => "PASS",
                    (true, false) => "FAIL",
                }
                .to_string(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for r in &table {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (c, w) in cells.iter().zip(widths) {
            let _ = write!(s, "{c:<w$} | ");
        }
        println!("{}", s.trim_end().trim_end_matches('|').trim_end());
    };
    line(&headers.map(String::from));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for r in &table {
        line(r);
    }
    let counted = rows.iter().filter(|r| r.counted).count();
    let failed = rows.iter().filter(|r| r.counted && !r.pass).count();
    println!();
    println!(
        "{} of {} lockgraph targets met{}",
        counted - failed,
        counted,
        if lockgraph::TRACKING {
            ""
        } else {
            " (TRACKING is false: not meaningful)"
        }
    );
}
