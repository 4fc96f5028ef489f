//! Sampling, medians and printing, shared by the benchmark binaries
//! (`benches/locks.rs`, `benches/plain.rs` and the separate
//! `benches/pl-deadlock-detection` crate). No lock type appears here.
//!
//! A steady-state figure is `SAMPLES` samples per implementation, each a loop
//! sized to run about `SAMPLE_TIME`, taken in interleaved rounds (A, B, C,
//! A, B, C, ...) so that machine noise hits every implementation alike; the
//! figure quoted is the median ns per iteration, with the quartiles as its
//! spread. Samples read a [`Stopwatch`]: wall time unless the binary sets
//! the thread-CPU clock ([`set_clock`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- clocks

/// The clock a [`Stopwatch`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Wall time (`Instant`): what a user waits, machine load included.
    Wall,
    /// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`): what the
    /// loop costs on its thread, without the time the thread spent
    /// descheduled while other processes ran. Linux only.
    ThreadCpu,
}

impl Clock {
    /// The name `LOCKGRAPH_BENCH_CLOCK` takes.
    pub fn name(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::ThreadCpu => "cpu",
        }
    }

    /// `LOCKGRAPH_BENCH_CLOCK` (`cpu` or `wall`), or `default` when unset.
    pub fn from_env(default: Clock) -> Result<Clock, String> {
        match std::env::var("LOCKGRAPH_BENCH_CLOCK").as_deref() {
            Err(_) | Ok("") => Ok(default),
            Ok("wall") => Ok(Clock::Wall),
            Ok("cpu") if cfg!(target_os = "linux") => Ok(Clock::ThreadCpu),
            Ok("cpu") => {
                Err("LOCKGRAPH_BENCH_CLOCK=cpu: thread CPU time is read on Linux only".into())
            }
            Ok(other) => Err(format!(
                "LOCKGRAPH_BENCH_CLOCK={other:?}: expected cpu or wall"
            )),
        }
    }
}

/// Whether stopwatches read thread CPU time (else wall time).
static THREAD_CPU: AtomicBool = AtomicBool::new(false);

/// Sets the clock every [`Stopwatch`] of this process reads from now on
/// (wall time until set).
pub fn set_clock(c: Clock) {
    THREAD_CPU.store(c == Clock::ThreadCpu, Ordering::Relaxed);
}

/// The clock stopwatches read.
pub fn clock() -> Clock {
    if THREAD_CPU.load(Ordering::Relaxed) {
        Clock::ThreadCpu
    } else {
        Clock::Wall
    }
}

/// The calling thread's CPU time.
#[cfg(target_os = "linux")]
fn thread_cpu() -> Duration {
    use std::os::raw::{c_int, c_long};
    /// `struct timespec` of the Linux C ABI.
    #[repr(C)]
    struct Timespec {
        tv_sec: c_long,
        tv_nsec: c_long,
    }
    extern "C" {
        fn clock_gettime(clock: c_int, tp: *mut Timespec) -> c_int;
    }
    const CLOCK_THREAD_CPUTIME_ID: c_int = 3;
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable `struct timespec` and the clock id is
    // Linux's CLOCK_THREAD_CPUTIME_ID, which every Linux supports.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Duration {
    unreachable!("Clock::from_env refuses the CPU clock off Linux")
}

/// A reading of the chosen [`clock`], to time a sample.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Duration);

impl Stopwatch {
    /// Starts timing.
    #[inline]
    pub fn start() -> Stopwatch {
        Stopwatch(Stopwatch::now())
    }

    /// The time since [`Stopwatch::start`], on the same thread.
    #[inline]
    pub fn elapsed(self) -> Duration {
        Stopwatch::now().saturating_sub(self.0)
    }

    /// The time from `earlier` to this reading (both taken on one thread).
    pub fn since(self, earlier: Stopwatch) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    fn now() -> Duration {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        if THREAD_CPU.load(Ordering::Relaxed) {
            thread_cpu()
        } else {
            EPOCH.get_or_init(Instant::now).elapsed()
        }
    }
}

// ---------------------------------------------------------------- sampling

/// Samples per implementation for the steady-state workloads.
pub const SAMPLES: usize = 15;
/// Wall time one steady-state sample aims at.
pub const SAMPLE_TIME: Duration = Duration::from_millis(30);

/// One timed loop: runs `n` iterations and returns how long they took.
pub type Sampler<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// Aligns its content to its own cache lines (128 bytes covers adjacent-line
/// prefetching).
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// The median of `v` (sorted in place); NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// The `q` quantile of `v` (sorted in place), interpolating between ranks;
/// NaN when empty.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        }
    }
}

/// A median with its spread: the first and third quartiles of the samples.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The first quartile.
    pub q1: f64,
    /// The third quartile.
    pub q3: f64,
}

impl Spread {
    /// The median and quartiles of `v` (sorted in place).
    pub fn of(v: &mut [f64]) -> Spread {
        Spread {
            median: quantile(v, 0.5),
            q1: quantile(v, 0.25),
            q3: quantile(v, 0.75),
        }
    }
}

/// The iteration count that makes `f` run about `SAMPLE_TIME`.
pub fn calibrate(f: &mut dyn FnMut(u64) -> Duration) -> u64 {
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

/// Every sample (ns/iter) of each sampler, taken in interleaved rounds.
pub fn sample_interleaved(samplers: &mut [Sampler<'_>]) -> Vec<Vec<f64>> {
    let iters: Vec<u64> = samplers.iter_mut().map(|f| calibrate(f)).collect();
    let mut ns: Vec<Vec<f64>> = vec![Vec::with_capacity(SAMPLES); samplers.len()];
    for _ in 0..SAMPLES {
        for (i, f) in samplers.iter_mut().enumerate() {
            let t = f(iters[i]);
            ns[i].push(t.as_nanos() as f64 / iters[i] as f64);
        }
    }
    ns
}

/// Median ns/iter of each sampler, sampled in interleaved rounds.
pub fn bench_interleaved(mut samplers: Vec<Sampler<'_>>) -> Vec<f64> {
    sample_interleaved(&mut samplers)
        .iter_mut()
        .map(|v| median(v))
        .collect()
}

/// Per implementation, every sample (ns/iter) on one thread (`single`) and
/// per thread with two threads (`double`, given the iteration count), taken
/// in the same rounds; iteration counts are calibrated on one thread.
pub fn sample_one_and_two_threads(
    single: &mut [Sampler<'_>],
    double: &mut [Sampler<'_>],
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let iters: Vec<u64> = single.iter_mut().map(|f| calibrate(f)).collect();
    let mut one: Vec<Vec<f64>> = vec![Vec::new(); single.len()];
    let mut two: Vec<Vec<f64>> = vec![Vec::new(); single.len()];
    for _ in 0..SAMPLES {
        for (i, &n) in iters.iter().enumerate() {
            one[i].push(single[i](n).as_nanos() as f64 / n as f64);
            two[i].push(double[i](n).as_nanos() as f64 / n as f64);
        }
    }
    (one, two)
}

/// The medians of [`sample_one_and_two_threads`].
pub fn one_and_two_threads(
    mut single: Vec<Sampler<'_>>,
    mut double: Vec<Sampler<'_>>,
) -> (Vec<f64>, Vec<f64>) {
    let (mut one, mut two) = sample_one_and_two_threads(&mut single, &mut double);
    let medians = |v: &mut Vec<Vec<f64>>| v.iter_mut().map(|s| median(s)).collect();
    (medians(&mut one), medians(&mut two))
}

/// Two threads, each running `run(its pair, n)` (a timed loop of `n`
/// iterations) on its own element of `pairs`, started together after one
/// untimed warm-up iteration each; returns the mean per-thread time.
pub fn two_threads<P: Sync>(
    pairs: &[P; 2],
    n: u64,
    run: impl Fn(&P, u64) -> Duration + Copy + Send,
) -> Duration {
    let barrier = Barrier::new(2);
    let times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|p| {
                let barrier = &barrier;
                s.spawn(move || {
                    run(p, 1); // warm this thread's state outside the timing
                    barrier.wait();
                    run(p, n)
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

/// A time in ns, us or ms, for tables.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Prints `rows` under `headers` as an aligned text table (`|` between
/// columns, a dashed rule under the headers).
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (c, w) in cells.zip(&widths) {
            s.push_str(c);
            s.push_str(&" ".repeat(w.saturating_sub(c.chars().count())));
            s.push_str(" | ");
        }
        println!("{}", s.trim_end().trim_end_matches('|').trim_end());
    };
    line(&mut headers.iter().copied());
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
}

/// Runs `f` once and returns its result with how long it took (on the
/// chosen [`clock`]).
pub fn time<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Stopwatch::start();
    let r = f();
    (r, t.elapsed())
}
