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
//! Samples read wall time; `LOCKGRAPH_BENCH_CLOCK=cpu` makes them read the
//! thread's CPU time, as `benches/plain.rs` does by default, to compare the
//! two harnesses on one clock.
//!
//! tracing-mutex is used through `tracing_mutex::stdsync::tracing::Mutex`
//! (std's mutex underneath, tracking in every build): its `parkinglot` module
//! needs a crate feature this workspace does not enable.

// Each benchmark binary uses its own subset of the shared helpers.
#[allow(dead_code)]
#[path = "support/graph.rs"]
mod graph;
#[allow(dead_code)]
#[path = "support/timing.rs"]
mod timing;

use std::hint::black_box;

use graph::{against_order, Chains, ClosingEdge, LgMutex, PlMutex, TmMutex, CHAIN, IMPLS};
use timing::{
    bench_interleaved, fmt_ns, one_and_two_threads, print_table, set_clock, two_threads, Clock,
    Padded, Sampler, Stopwatch, SAMPLES, SAMPLE_TIME,
};

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

/// A timed loop of `n` runs of `body` on its argument (for [`two_threads`]).
fn timed<P>(body: impl Fn(&P) + Copy) -> impl Fn(&P, u64) -> std::time::Duration + Copy {
    move |p, n| {
        let t = Stopwatch::start();
        for _ in 0..n {
            body(black_box(p));
        }
        t.elapsed()
    }
}

/// A steady-state sampler: `n` runs of `body` on `locks`.
fn looped<'a, P: 'a>(locks: P, body: impl Fn(&P) + 'a) -> Sampler<'a> {
    Box::new(move |n| {
        let t = Stopwatch::start();
        for _ in 0..n {
            body(black_box(&locks));
        }
        t.elapsed()
    })
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
    let clock = Clock::from_env(Clock::Wall).unwrap_or_else(|e| {
        eprintln!("locks: {e}");
        std::process::exit(2)
    });
    set_clock(clock);
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
        "  steady workloads: {SAMPLES} interleaved samples of ~{} ms each, median ns/iter; \
         clock: {} (LOCKGRAPH_BENCH_CLOCK)",
        SAMPLE_TIME.as_millis(),
        match clock {
            Clock::Wall => "wall time",
            Clock::ThreadCpu => "thread CPU time",
        }
    );
    println!();

    let mut rows: Vec<Row> = Vec::new();

    // The graph workloads run first, while this process's tracing-mutex graph
    // is empty: it recycles the topological-order slots of dropped locks, and
    // after millions of dropped locks a fresh lock would get a low slot and
    // its edge would no longer point against the order.
    println!("graph workloads first (fresh process-wide graphs), then the steady-state ones");
    println!();

    // The first chains stay alive until workload 7 is done (see `graph`).
    let chains = Chains::build(|f| {
        f();
        None
    });

    // 6. one new edge against the order in a 10,000-lock chain
    {
        let e = against_order(&chains);
        let [pl_build, lg_build, tm_build] = chains.build;
        e.print(W6, "\"lock N (a fresh lock), then lock L[0]\"");
        println!(
            "  chains built (outside the timing) in: parking_lot {:.1} ms, lockgraph {:.1} ms, \
             tracing-mutex {:.1} ms",
            pl_build.as_secs_f64() * 1e3,
            lg_build.as_secs_f64() * 1e3,
            tm_build.as_secs_f64() * 1e3
        );
        let ns = e.ns;
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
            pass: us <= 20.0 && e.lg_reports == 0,
            counted: true,
        });
    }

    // 7. edge closing a cycle in a 10,000-lock chain
    {
        let m = ClosingEdge::measure();
        m.print(W7);
        let lg_med = m.lg_median();
        let ms = lg_med / 1e6;
        rows.push(Row {
            workload: W7,
            cells: [
                fmt_ns(m.pl_median()),
                format!(
                    "{} (len {})",
                    fmt_ns(lg_med),
                    m.lg_len.first().unwrap_or(&0)
                ),
                format!("{} (to panic)", fmt_ns(m.tm_panic_median())),
            ],
            target: format!("<= 1 ms, len {CHAIN}"),
            measured: format!("{ms:.3} ms, re-check len {}", m.recheck_len),
            pass: ms <= 1.0 && m.all_full(),
            counted: true,
        });
    }
    drop(chains);

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
                Box::new(|n| two_threads(&pl_pairs, n, timed(|p: &Padded<_>| pair_pl(&p.0)))),
                Box::new(|n| two_threads(&lg_pairs, n, timed(|p: &Padded<_>| pair_lg(&p.0)))),
                Box::new(|n| two_threads(&tm_pairs, n, timed(|p: &Padded<_>| pair_tm(&p.0)))),
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
            let t = Stopwatch::start();
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
            let t = Stopwatch::start();
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
            let t = Stopwatch::start();
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
                Box::new(|n| two_threads(&pl_pairs, n, timed(|p: &Padded<_>| pair_pl(&p.0)))),
                Box::new(|n| two_threads(&lg_pairs, n, timed(|p: &Padded<_>| pair_lg(&p.0)))),
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
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
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
    print_table(&headers, &table);
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
