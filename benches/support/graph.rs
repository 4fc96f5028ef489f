//! Big-graph workloads (10,000-lock chains), shared by `benches/locks.rs` and
//! `benches/plain.rs`: building a chain, a new edge along the order, a new
//! edge against it, and the edge closing a 10,000-lock cycle with its
//! report. Each times single operations (there is no loop to amortise), for
//! parking_lot (no graph: the plain cost), lockgraph and tracing-mutex.
//!
//! Run these first in a process, while tracing-mutex's graph is fresh: it
//! recycles the topological-order slots of dropped locks, and after millions
//! of dropped locks a fresh lock would get a low slot and its edge would no
//! longer point against the order. For the same reason keep the [`Chains`]
//! alive while [`ClosingEdge::measure`] builds its own: chains built on
//! recycled slots take tracing-mutex seconds.

use std::fmt::Write as _;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::timing::Stopwatch;

use crate::timing::{fmt_ns, median};

/// parking_lot's mutex.
pub type PlMutex<T> = parking_lot::Mutex<T>;
/// lockgraph's mutex.
pub type LgMutex<T> = lockgraph::Mutex<T>;
/// tracing-mutex's mutex (its `stdsync` flavour: std's mutex underneath,
/// tracking in every build; its `parkinglot` module needs a crate feature
/// this workspace does not enable).
pub type TmMutex<T> = tracing_mutex::stdsync::tracing::Mutex<T>;

/// The implementations, in column order.
pub const IMPLS: [&str; 3] = ["parking_lot", "lockgraph", "tracing-mutex"];

/// Locks in a big chain.
pub const CHAIN: usize = 10_000;
/// Single-edge samples per implementation (new edges along and against the
/// order).
pub const NEW_EDGE_SAMPLES: usize = 101;
/// Fresh chains per implementation for the closing edge.
pub const CYCLE_SAMPLES: usize = 5;
/// The class of the chain locks and of the fresh locks: one class, so
/// lockgraph orders them in its instance graph.
pub const CHAIN_CLASS: &str = "bench-chain";

/// A chain `L[0] -> L[1] -> ... -> L[CHAIN - 1]` of parking_lot locks (each
/// adjacent pair nested once).
pub fn chain_pl() -> Vec<PlMutex<()>> {
    let v: Vec<PlMutex<()>> = (0..CHAIN).map(|_| PlMutex::new(())).collect();
    for w in v.windows(2) {
        let _a = w[0].lock();
        let _b = w[1].lock();
    }
    v
}

/// The chain of lockgraph locks (one named class), built inside `capture`;
/// warns if building it raised a report.
pub fn chain_lg() -> Vec<LgMutex<()>> {
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

/// The chain of tracing-mutex locks.
pub fn chain_tm() -> Vec<TmMutex<()>> {
    let v: Vec<TmMutex<()>> = (0..CHAIN).map(|_| TmMutex::new(())).collect();
    for w in v.windows(2) {
        let _a = w[0].lock().unwrap();
        let _b = w[1].lock().unwrap();
    }
    v
}

/// One chain per implementation, with how long each took to build.
pub struct Chains {
    /// parking_lot's chain.
    pub pl: Vec<PlMutex<()>>,
    /// lockgraph's chain.
    pub lg: Vec<LgMutex<()>>,
    /// tracing-mutex's chain.
    pub tm: Vec<TmMutex<()>>,
    /// Build times, in [`IMPLS`] order.
    pub build: [Duration; 3],
    /// Net heap bytes each build left allocated, where `measure` counts them.
    pub heap: [Option<isize>; 3],
}

impl Chains {
    /// Builds the three chains, each build run inside `measure` (which runs
    /// the closure once and may return the heap bytes it left allocated).
    pub fn build(measure: impl Fn(&mut dyn FnMut()) -> Option<isize>) -> Chains {
        fn one<C>(
            measure: &impl Fn(&mut dyn FnMut()) -> Option<isize>,
            make: fn() -> C,
        ) -> (C, Duration, Option<isize>) {
            let mut out = None;
            let heap = measure(&mut || {
                let t = Stopwatch::start();
                let c = make();
                out = Some((c, t.elapsed()));
            });
            let (c, d) = out.expect("measure must run the build");
            (c, d, heap)
        }
        let (pl, pl_t, pl_h) = one(&measure, chain_pl);
        let (lg, lg_t, lg_h) = one(&measure, chain_lg);
        let (tm, tm_t, tm_h) = one(&measure, chain_tm);
        Chains {
            pl,
            lg,
            tm,
            build: [pl_t, lg_t, tm_t],
            heap: [pl_h, lg_h, tm_h],
        }
    }
}

/// `k` chains of `n` lockgraph locks, each built and its cycle closed
/// under `capture` in turn (all kept alive until the end, as in the bench's
/// samples); the length of each report. For callgrind: the lock call that
/// closes a cycle is [`closing_lock_call`], and the report is built in
/// `lockgraph_core`'s `Raised::into_report` when the capture returns
/// (`--toggle-collect` either). The first cycle also gives up the graph's
/// topological order; a later one is found by the bidirectional search:
/// the counts of `k = 2` less those of `k = 1` are a later cycle's.
pub fn closing(n: usize, k: usize) -> Vec<usize> {
    let mut kept = Vec::with_capacity(k);
    let mut lens = Vec::with_capacity(k);
    for _ in 0..k {
        let v: Vec<LgMutex<()>> = (0..n).map(|_| LgMutex::named(CHAIN_CLASS, ())).collect();
        let built = lockgraph::capture(|| {
            for w in v.windows(2) {
                let _a = w[0].lock();
                let _b = w[1].lock();
            }
        });
        assert!(built.is_empty(), "building the chain raised a report");
        let reports = lockgraph::capture(|| closing_lock_call(&v));
        lens.push(reports.first().map_or(0, |r| r.locks.len()));
        kept.push(v);
    }
    lens
}

/// Locks the chain's last lock, then its first: the edge that closes the
/// cycle.
#[inline(never)]
pub fn closing_lock_call(v: &[LgMutex<()>]) {
    let _a = black_box(&v[v.len() - 1]).lock();
    let _b = black_box(&v[0]).lock();
}

/// Median times of single new edges, in [`IMPLS`] order. Single edges are
/// timed on the wall clock whatever the binary's [`clock`](crate::timing::clock):
/// reading a thread's CPU time is a system call (about half a microsecond
/// here), more than parking_lot's whole edge; a median of
/// [`NEW_EDGE_SAMPLES`] keeps the few preempted samples out.
pub struct EdgeTimes {
    /// Median ns per edge.
    pub ns: [f64; 3],
    /// Reports lockgraph raised for these edges (none is expected).
    pub lg_reports: usize,
}

/// A new edge against the order: a fresh lock N, then `L[0]` (N comes after
/// the whole chain in creation order, and points before all of it).
pub fn against_order(c: &Chains) -> EdgeTimes {
    let mut ns: [Vec<f64>; 3] = Default::default();
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
                let _l0 = black_box(&c.pl[0]).lock();
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
                    let _l0 = black_box(&c.lg[0]).lock();
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
                let _l0 = black_box(&c.tm[0]).lock().unwrap();
            }
            ns[2].push(t.elapsed().as_nanos() as f64);
            tm_kept.push(n);
        }
    }
    drop((pl_kept, lg_kept, tm_kept));
    EdgeTimes {
        ns: ns.each_mut().map(|v| median(v)),
        lg_reports,
    }
}

/// A new edge along the order between two locks of the chain far from both
/// ends: `L[i]` then `L[i + 2]` for `i` around the middle (a fresh `i` per
/// sample, three apart, so every sample is a new edge and no two share a
/// lock). Nothing can close a cycle, yet a search that walks the chain from
/// either end has about 5,000 locks to visit on each side.
pub fn forward_edge(c: &Chains) -> EdgeTimes {
    let mut ns: [Vec<f64>; 3] = Default::default();
    let mut lg_reports = 0usize;
    let first = CHAIN / 2 - 3 * NEW_EDGE_SAMPLES / 2;
    for k in 0..NEW_EDGE_SAMPLES {
        let i = first + 3 * k;
        {
            let t = Instant::now();
            {
                let _a = black_box(&c.pl[i]).lock();
                let _b = black_box(&c.pl[i + 2]).lock();
            }
            ns[0].push(t.elapsed().as_nanos() as f64);
        }
        {
            let mut el = Duration::ZERO;
            let reports = lockgraph::capture(|| {
                let t = Instant::now();
                {
                    let _a = black_box(&c.lg[i]).lock();
                    let _b = black_box(&c.lg[i + 2]).lock();
                }
                el = t.elapsed();
            });
            lg_reports += reports.len();
            ns[1].push(el.as_nanos() as f64);
        }
        {
            let t = Instant::now();
            {
                let _a = black_box(&c.tm[i]).lock().unwrap();
                let _b = black_box(&c.tm[i + 2]).lock().unwrap();
            }
            ns[2].push(t.elapsed().as_nanos() as f64);
        }
    }
    EdgeTimes {
        ns: ns.each_mut().map(|v| median(v)),
        lg_reports,
    }
}

impl EdgeTimes {
    /// Prints the medians under `title`, then a warning if lockgraph reported
    /// a cycle where there is none.
    pub fn print(&self, title: &str, what: &str) {
        println!("{title}");
        println!("  median of {NEW_EDGE_SAMPLES} new edges, each timing {what}:");
        println!(
            "  {:<14} {:>12}   (no graph: plain cost)",
            IMPLS[0],
            fmt_ns(self.ns[0])
        );
        println!("  {:<14} {:>12}", IMPLS[1], fmt_ns(self.ns[1]));
        println!("  {:<14} {:>12}", IMPLS[2], fmt_ns(self.ns[2]));
        if self.lg_reports > 0 {
            println!(
                "  WARNING: lockgraph reported {} cycle(s) for edges that close none",
                self.lg_reports
            );
        }
    }
}

// ---------------------------------------------------------------- panic capture

/// What the capturing panic hook saw: when it ran and the message.
static PANIC_SEEN: std::sync::Mutex<Option<(Stopwatch, String)>> = std::sync::Mutex::new(None);

/// Runs `f` with a panic hook that records the panic silently.
fn with_capturing_hook<R>(f: impl FnOnce() -> R) -> R {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let at = Stopwatch::start();
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

// ---------------------------------------------------------------- closing edge

/// The edge closing a cycle in a fresh 10,000-lock chain: "lock `L[CHAIN -
/// 1]`, then lock `L[0]`", [`CYCLE_SAMPLES`] fresh chains per
/// implementation.
#[derive(Default)]
pub struct ClosingEdge {
    /// parking_lot: the plain cost (ns per sample).
    pub pl_ns: Vec<f64>,
    /// lockgraph: the lock call inside `capture` (the cycle found and kept
    /// compactly; the report is built when `capture` returns).
    pub lg_ns: Vec<f64>,
    /// lockgraph: from before the two lock calls until `capture` returned
    /// (the report built from the cycle found: see `global/found.rs`).
    pub lg_capture_ns: Vec<f64>,
    /// lockgraph: `format!("{}", report)` afterwards.
    pub lg_fmt_ns: Vec<f64>,
    /// lockgraph: the cycle length of each report (0: none).
    pub lg_len: Vec<usize>,
    /// lockgraph: lines in each formatted report.
    pub lg_lines: Vec<usize>,
    /// tracing-mutex: until its panic hook ran.
    pub tm_panic_ns: Vec<f64>,
    /// tracing-mutex: until `catch_unwind` returned.
    pub tm_unwind_ns: Vec<f64>,
    /// tracing-mutex: lines in each panic message.
    pub tm_lines: Vec<usize>,
    /// The cycle length reported for a fresh chain after the earlier chains
    /// were dropped (their graph slots are reused).
    pub recheck_len: usize,
    /// Build times (ns) of the fresh chains, in [`IMPLS`] order.
    pub build_ns: [Vec<f64>; 3],
}

impl ClosingEdge {
    /// Measures [`CYCLE_SAMPLES`] fresh chains per implementation.
    pub fn measure() -> ClosingEdge {
        let mut m = ClosingEdge::default();
        // lockgraph's chains stay alive until all samples are taken: a dropped
        // chain's graph slots are reused by the next one (see the re-check).
        let mut lg_kept: Vec<Vec<LgMutex<()>>> = Vec::new();
        // So do tracing-mutex's: it hands a dropped lock's topological-order
        // slot to the next new lock, last freed first, so a chain built after
        // one was dropped points against the order at every edge (a reorder
        // each, about 20 s per chain instead of milliseconds).
        let mut tm_kept: Vec<Vec<TmMutex<()>>> = Vec::new();
        for _ in 0..CYCLE_SAMPLES {
            {
                let t = Stopwatch::start();
                let c = chain_pl();
                m.build_ns[0].push(t.elapsed().as_nanos() as f64);
                let t = Stopwatch::start();
                {
                    let _a = black_box(&c[CHAIN - 1]).lock();
                    let _b = black_box(&c[0]).lock();
                }
                m.pl_ns.push(t.elapsed().as_nanos() as f64);
            }
            {
                let t = Stopwatch::start();
                let c = chain_lg();
                m.build_ns[1].push(t.elapsed().as_nanos() as f64);
                let mut el = Duration::ZERO;
                let mut start = None;
                let reports = lockgraph::capture(|| {
                    let t = Stopwatch::start();
                    {
                        let _a = black_box(&c[CHAIN - 1]).lock();
                        let _b = black_box(&c[0]).lock();
                    }
                    el = t.elapsed();
                    start = Some(t);
                });
                if let Some(t) = start {
                    m.lg_capture_ns.push(t.elapsed().as_nanos() as f64);
                }
                m.lg_ns.push(el.as_nanos() as f64);
                match reports.first() {
                    Some(r) => {
                        m.lg_len.push(r.locks.len());
                        let t = Stopwatch::start();
                        let text = format!("{r}");
                        m.lg_fmt_ns.push(t.elapsed().as_nanos() as f64);
                        m.lg_lines.push(text.lines().count());
                        black_box(text);
                    }
                    None => m.lg_len.push(0),
                }
                lg_kept.push(c);
            }
            {
                let t = Stopwatch::start();
                let c = chain_tm();
                m.build_ns[2].push(t.elapsed().as_nanos() as f64);
                *PANIC_SEEN.lock().unwrap_or_else(|e| e.into_inner()) = None;
                let (start, result, end) = with_capturing_hook(|| {
                    let start = Stopwatch::start();
                    let result = panic::catch_unwind(AssertUnwindSafe(|| {
                        let _a = black_box(&c[CHAIN - 1]).lock().unwrap();
                        let _b = black_box(&c[0]).lock().unwrap();
                    }));
                    (start, result, Stopwatch::start())
                });
                let seen = PANIC_SEEN.lock().unwrap_or_else(|e| e.into_inner()).take();
                if result.is_err() {
                    m.tm_unwind_ns.push(end.since(start).as_nanos() as f64);
                    if let Some((at, text)) = seen {
                        m.tm_panic_ns.push(at.since(start).as_nanos() as f64);
                        m.tm_lines.push(text.lines().count());
                    }
                }
                // Its tail mutex is poisoned, harmlessly.
                tm_kept.push(c);
            }
        }
        drop(tm_kept);
        // Re-check: drop the earlier chains, then close the cycle of a fresh one.
        drop(lg_kept);
        m.recheck_len = {
            let c = chain_lg();
            let reports = lockgraph::capture(|| {
                let _a = c[CHAIN - 1].lock();
                let _b = c[0].lock();
            });
            reports.first().map_or(0, |r| r.locks.len())
        };
        m
    }

    /// Median ns of the lockgraph samples.
    pub fn lg_median(&self) -> f64 {
        median(&mut self.lg_ns.clone())
    }

    /// Median ns of the lockgraph samples until `capture` returned with the
    /// report built.
    pub fn lg_built_median(&self) -> f64 {
        median(&mut self.lg_capture_ns.clone())
    }

    /// Median ns of parking_lot's samples.
    pub fn pl_median(&self) -> f64 {
        median(&mut self.pl_ns.clone())
    }

    /// Median ns until tracing-mutex's panic hook ran.
    pub fn tm_panic_median(&self) -> f64 {
        median(&mut self.tm_panic_ns.clone())
    }

    /// Whether every lockgraph sample reported the whole cycle, and the
    /// re-check too.
    pub fn all_full(&self) -> bool {
        !self.lg_len.is_empty()
            && self.lg_len.iter().all(|&l| l == CHAIN)
            && self.recheck_len == CHAIN
    }

    /// Prints the measurement under `title`.
    pub fn print(&self, title: &str) {
        println!("{title}");
        println!(
            "  {CYCLE_SAMPLES} fresh chains per implementation, each timing \
             \"lock L[{}], then lock L[0]\" (median):",
            CHAIN - 1
        );
        println!(
            "  {:<14} {:>12}   (no graph: plain cost)",
            IMPLS[0],
            fmt_ns(self.pl_median())
        );
        let mut lens = String::new();
        for l in &self.lg_len {
            let _ = write!(lens, "{l} ");
        }
        println!(
            "  {:<14} {:>12}   the lock call: the cycle found, kept compactly, inside capture; \
             cycle length(s): {}",
            IMPLS[1],
            fmt_ns(self.lg_median()),
            lens.trim_end()
        );
        let samples: Vec<String> = self.lg_ns.iter().map(|&ns| fmt_ns(ns)).collect();
        println!(
            "  {:<14} samples in order (the k-th with the first chain and k - 1 fresh ones alive): {}",
            "",
            samples.join(", ")
        );
        println!(
            "  {:<14} {:>12}   until capture returned (the CycleReport built from the cycle found)",
            "",
            fmt_ns(self.lg_built_median())
        );
        println!(
            "  {:<14} {:>12}   format!(\"{{}}\", report) afterwards ({} lines)",
            "",
            fmt_ns(median(&mut self.lg_fmt_ns.clone())),
            self.lg_lines.first().copied().unwrap_or(0)
        );
        println!(
            "  {:<14} re-check after dropping the earlier chains: a fresh chain's cycle \
             gave a report of length {}{}",
            "",
            self.recheck_len,
            if self.recheck_len == CHAIN {
                ""
            } else {
                "   WARNING: a new cycle through new locks was not reported"
            }
        );
        let tm_note = if self.tm_unwind_ns.len() < CYCLE_SAMPLES {
            format!(
                " WARNING: only {} of {CYCLE_SAMPLES} attempts panicked",
                self.tm_unwind_ns.len()
            )
        } else {
            String::new()
        };
        println!(
            "  {:<14} {:>12}   until its panic hook ran ({} lines in the panic message){}",
            IMPLS[2],
            fmt_ns(self.tm_panic_median()),
            self.tm_lines.first().copied().unwrap_or(0),
            tm_note
        );
        println!(
            "  {:<14} {:>12}   until catch_unwind returned",
            "",
            fmt_ns(median(&mut self.tm_unwind_ns.clone()))
        );
    }
}
