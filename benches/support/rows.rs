//! The plain-loop rows: one loop body per row, expanded by [`plain_rows!`]
//! once per lock implementation, so that parking_lot, lockgraph,
//! tracing-mutex (in `benches/plain.rs`) and parking_lot with its
//! `deadlock_detection` feature (in the separate `benches/pl-deadlock-detection`
//! crate) run the very same code: `for _ in 0..n { *m.lock() += 1 }` and its
//! kin, with no closure and no dynamic call per iteration.
//!
//! Also here: the protocol by which `benches/plain.rs` drives the separate
//! binary (`serve`), and the `--callgrind ROW N` mode both binaries share.

use std::io::{BufRead, Write};
use std::time::Duration;

/// The steady-state rows, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// One lock: lock, increment, unlock.
    One,
    /// Two locks of two classes, nested A then B, the same pair every time.
    Pair,
    /// Eight locks made at one site (one class), nested in order.
    Chain8,
    /// Two new locks made at two sites (two classes), nested once, dropped.
    ChurnTwo,
    /// Two new locks made by one helper (one class), nested once, dropped.
    ChurnOne,
    /// Two threads, each nesting its own pair (the pair's classes are shared).
    TwoThreads,
}

impl Row {
    /// Every row, in table order.
    pub const ALL: [Row; 6] = [
        Row::One,
        Row::Pair,
        Row::Chain8,
        Row::ChurnTwo,
        Row::ChurnOne,
        Row::TwoThreads,
    ];

    /// The name used on command lines and in the serve protocol.
    pub fn name(self) -> &'static str {
        match self {
            Row::One => "one",
            Row::Pair => "pair",
            Row::Chain8 => "chain8",
            Row::ChurnTwo => "churn2",
            Row::ChurnOne => "churn1",
            Row::TwoThreads => "two-threads",
        }
    }

    /// The row named `name`.
    pub fn from_name(name: &str) -> Option<Row> {
        Row::ALL.into_iter().find(|r| r.name() == name)
    }

    /// What the row does, for tables.
    pub fn title(self) -> &'static str {
        match self {
            Row::One => "one lock, lock+unlock",
            Row::Pair => "nested pair A then B, steady",
            Row::Chain8 => "chain of 8 (one class)",
            Row::ChurnTwo => "churn: 2 new locks of two classes, nest, drop",
            Row::ChurnOne => "churn: 2 new locks of ONE class, nest, drop",
            Row::TwoThreads => "two threads, each its own pair (per thread)",
        }
    }
}

/// What [`plain_rows!`] expands into, seen from outside: the long-lived locks
/// of the steady rows and a timed run of any row on them.
pub trait Steady {
    /// Runs `n` iterations of `row` and returns the time they took (for
    /// [`Row::TwoThreads`], the mean time per thread).
    fn run(&self, row: Row, n: u64) -> Duration;
    /// Runs `n` iterations of the nested pair on the first of the two-thread
    /// row's pairs, on this thread: the one-thread figure that row is
    /// compared with.
    fn run_single_of_two(&self, n: u64) -> Duration;
}

/// FNV-1a, for [`SOURCE_HASH`].
pub const fn fnv(s: &str, mut h: u64) -> u64 {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// A hash of the code shared by both binaries; with the hash of the separate
/// crate's `main.rs`, the handshake of [`serve`] refuses a stale binary.
pub const SOURCE_HASH: u64 = fnv(
    include_str!("timing.rs"),
    fnv(include_str!("rows.rs"), 0xcbf2_9ce4_8422_2325),
);

/// Expands, in the module it is invoked in, one timing function per row and
/// a `Locks` type implementing [`Steady`], for the mutex type alias `M`
/// visible there, locked with `lock`. Each constructor expression is given by
/// the invocation: a lockgraph class is the constructor's call site, so the
/// invocation decides which locks share a class (`new_pair` makes two
/// classes, `churn_two` two more, `new_chain` one, `churn_one` is a helper
/// called twice, one class).
macro_rules! plain_rows {
    (
        lock: |$m:ident| $lock:expr,
        new_one: $new_one:expr,
        new_pair: $new_pair:expr,
        new_chain: $new_chain:expr,
        churn_two: $churn_two:expr,
        churn_one: $churn_one:expr $(,)?
    ) => {
        use std::hint::black_box;
        use std::time::Duration;

        use $crate::rows::{Row, Steady};
        use $crate::timing::{Padded, Stopwatch};

        /// The long-lived locks of the steady rows.
        pub struct Locks {
            one: M<u64>,
            pair: Padded<(M<u64>, M<u64>)>,
            pairs: [Padded<(M<u64>, M<u64>)>; 2],
            chain: [M<u64>; 8],
        }

        impl Locks {
            /// Makes the locks and runs each steady row once, so that every
            /// first-time cost (ids, edges) is paid before any timing.
            pub fn new() -> Locks {
                let locks = Locks {
                    one: $new_one,
                    pair: Padded($new_pair),
                    pairs: [0, 1].map(|_| Padded($new_pair)),
                    chain: $new_chain,
                };
                for row in [Row::One, Row::Pair, Row::Chain8] {
                    locks.run(row, 1);
                }
                locks.run_single_of_two(1);
                locks
            }
        }

        impl Steady for Locks {
            fn run(&self, row: Row, n: u64) -> Duration {
                match row {
                    Row::One => one(&self.one, n),
                    Row::Pair => pair(&self.pair.0, n),
                    Row::Chain8 => chain8(&self.chain, n),
                    Row::ChurnTwo => churn_two(n),
                    Row::ChurnOne => churn_one(n),
                    Row::TwoThreads => {
                        $crate::timing::two_threads(&self.pairs, n, |p, n| pair(&p.0, n))
                    }
                }
            }

            fn run_single_of_two(&self, n: u64) -> Duration {
                pair(&self.pairs[0].0, n)
            }
        }

        /// Makes the locks one iteration of `row` takes, the way that row
        /// makes them, takes them in its order and runs `f` while all are
        /// held: what `benches/plain.rs --check` inspects.
        // Only lockgraph's expansion is inspected (its locks know their class).
        #[allow(dead_code)]
        pub fn while_held<R>(row: Row, f: impl FnOnce() -> R) -> R {
            let locks = Locks::new();
            let (a, b): (M<u64>, M<u64>) = $churn_two;
            let (c, d): (M<u64>, M<u64>) = ($churn_one, $churn_one);
            let held: Vec<&M<u64>> = match row {
                Row::One => vec![&locks.one],
                Row::Pair | Row::TwoThreads => vec![&locks.pair.0 .0, &locks.pair.0 .1],
                Row::Chain8 => locks.chain.iter().collect(),
                Row::ChurnTwo => vec![&a, &b],
                Row::ChurnOne => vec![&c, &d],
            };
            let mut guards = Vec::with_capacity(held.len());
            for $m in held {
                guards.push($lock);
            }
            let r = f();
            while let Some(g) = guards.pop() {
                drop(g);
            }
            r
        }

        /// Locks `a` then `b`, increments both, unlocks `b` then `a`.
        #[inline(always)]
        fn nest(a: &M<u64>, b: &M<u64>) {
            let $m = black_box(a);
            let mut ga = $lock;
            let $m = black_box(b);
            let mut gb = $lock;
            *ga += 1;
            *gb += 1;
        }

        /// Row [`Row::One`].
        #[inline(never)]
        pub fn one(m: &M<u64>, n: u64) -> Duration {
            let t = Stopwatch::start();
            for _ in 0..n {
                let $m = black_box(m);
                *$lock += 1;
            }
            t.elapsed()
        }

        /// Row [`Row::Pair`].
        #[inline(never)]
        pub fn pair(p: &(M<u64>, M<u64>), n: u64) -> Duration {
            let t = Stopwatch::start();
            for _ in 0..n {
                nest(&p.0, &p.1);
            }
            t.elapsed()
        }

        /// Row [`Row::Chain8`]: all eight held at once, released innermost
        /// first.
        #[inline(never)]
        pub fn chain8(c: &[M<u64>; 8], n: u64) -> Duration {
            let t = Stopwatch::start();
            for _ in 0..n {
                let $m = black_box(&c[0]);
                let mut g0 = $lock;
                let $m = black_box(&c[1]);
                let mut g1 = $lock;
                let $m = black_box(&c[2]);
                let mut g2 = $lock;
                let $m = black_box(&c[3]);
                let mut g3 = $lock;
                let $m = black_box(&c[4]);
                let mut g4 = $lock;
                let $m = black_box(&c[5]);
                let mut g5 = $lock;
                let $m = black_box(&c[6]);
                let mut g6 = $lock;
                let $m = black_box(&c[7]);
                let mut g7 = $lock;
                *g0 += 1;
                *g1 += 1;
                *g2 += 1;
                *g3 += 1;
                *g4 += 1;
                *g5 += 1;
                *g6 += 1;
                *g7 += 1;
            }
            t.elapsed()
        }

        /// Row [`Row::ChurnTwo`].
        #[inline(never)]
        pub fn churn_two(n: u64) -> Duration {
            let t = Stopwatch::start();
            for _ in 0..n {
                let (a, b): (M<u64>, M<u64>) = $churn_two;
                nest(&a, &b);
            }
            t.elapsed()
        }

        /// Row [`Row::ChurnOne`].
        #[inline(never)]
        pub fn churn_one(n: u64) -> Duration {
            let t = Stopwatch::start();
            for _ in 0..n {
                let a: M<u64> = $churn_one;
                let b: M<u64> = $churn_one;
                nest(&a, &b);
            }
            t.elapsed()
        }
    };
}

/// Serves timed runs to `benches/plain.rs` over stdin/stdout: prints
/// `ready HASH CLOCK` (the clock its stopwatches read), then answers each
/// line `ROW N` (or `single-of-two N`) with the nanoseconds the run took,
/// until `quit` or the end of input.
pub fn serve(locks: &dyn Steady, hash: u64) -> Result<(), String> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| format!("serve: {e}");
    writeln!(out, "ready {hash:016x} {}", crate::timing::clock().name()).map_err(io)?;
    out.flush().map_err(io)?;
    for line in stdin.lock().lines() {
        let line = line.map_err(io)?;
        let mut words = line.split_whitespace();
        let (what, n) = match (words.next(), words.next(), words.next()) {
            (Some("quit"), None, None) => return Ok(()),
            (Some(what), Some(n), None) => (what, n),
            _ => return Err(format!("serve: expected `ROW N`, got {line:?}")),
        };
        let n: u64 = n
            .parse()
            .map_err(|_| format!("serve: bad iteration count {n:?} in {line:?}"))?;
        let t = if what == "single-of-two" {
            locks.run_single_of_two(n)
        } else {
            let row = Row::from_name(what)
                .ok_or_else(|| format!("serve: unknown row {what:?} in {line:?}"))?;
            locks.run(row, n)
        };
        writeln!(out, "{}", t.as_nanos()).map_err(io)?;
        out.flush().map_err(io)?;
    }
    Ok(())
}

/// Parses `ROW N` (the arguments after `--callgrind IMPL`).
pub fn callgrind_args(args: &[String]) -> Result<(Row, u64), String> {
    match args {
        [row, n] => {
            let r = Row::from_name(row).ok_or_else(|| {
                let names: Vec<&str> = Row::ALL.iter().map(|r| r.name()).collect();
                format!("unknown row {row:?} (rows: {})", names.join(", "))
            })?;
            let n = n
                .parse()
                .map_err(|_| format!("bad iteration count {n:?}"))?;
            Ok((r, n))
        }
        _ => Err(format!("expected ROW N, got {args:?}")),
    }
}
