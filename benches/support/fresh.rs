//! The closing edge of a 10,000-lock cycle in a process of its own per
//! sample: the report lands on memory the process never used, which is what
//! a real program meets the first time (in the bench's own process, by
//! then, the allocator may hand back memory it already mapped, and the
//! page faults of the first time are not seen).
//!
//! The parent runs its own binary with `--closing-fresh` [`SAMPLES`] times;
//! each child builds one chain of lockgraph locks, closes its cycle under
//! `capture` and prints one line: the lock call's time, the time until
//! `capture` returned with the report built, the calling thread's minor
//! page faults during each (`getrusage(RUSAGE_THREAD)`), and the report's
//! length.

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use crate::graph::{chain_lg, CHAIN};
use crate::timing::{median, Stopwatch};

/// Child processes (samples).
pub const SAMPLES: usize = 5;

/// The argument that makes the binary one sample's child.
pub const ARG: &str = "--closing-fresh";

/// One child's measurement.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// The lock call (ns).
    pub lock_ns: f64,
    /// From before the lock call until `capture` returned with the report
    /// built (ns).
    pub built_ns: f64,
    /// Minor page faults in the lock call.
    pub lock_faults: i64,
    /// Minor page faults from the lock call's end until `capture` returned.
    pub build_faults: i64,
    /// The report's length (locks).
    pub len: usize,
}

/// The calling thread's minor page faults so far.
#[cfg(target_os = "linux")]
fn minor_faults() -> i64 {
    use std::os::raw::{c_int, c_long};
    /// `struct rusage` of the Linux C ABI (two `struct timeval`s, then
    /// fourteen longs).
    #[repr(C)]
    struct Rusage {
        utime: [c_long; 2],
        stime: [c_long; 2],
        longs: [c_long; 14],
    }
    extern "C" {
        fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
    }
    const RUSAGE_THREAD: c_int = 1;
    let mut u = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        longs: [0; 14],
    };
    // SAFETY: `u` is a valid, writable `struct rusage` and RUSAGE_THREAD is
    // Linux's (since 2.6.26).
    let rc = unsafe { getrusage(RUSAGE_THREAD, &mut u) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_THREAD) failed");
    // ru_maxrss, ru_ixrss, ru_idrss, ru_isrss, then ru_minflt (a `long`:
    // 32 bits on 32-bit targets).
    #[allow(clippy::useless_conversion)]
    i64::from(u.longs[4])
}

#[cfg(not(target_os = "linux"))]
fn minor_faults() -> i64 {
    0
}

/// The child's part: one chain, its cycle closed, one line printed.
pub fn child() {
    let c = chain_lg();
    let mut el = Duration::ZERO;
    let mut lock_faults = 0;
    let mut start = None;
    let mut f0 = 0;
    let reports = lockgraph::capture(|| {
        f0 = minor_faults();
        let t = Stopwatch::start();
        {
            let _a = black_box(&c[CHAIN - 1]).lock();
            let _b = black_box(&c[0]).lock();
        }
        el = t.elapsed();
        lock_faults = minor_faults() - f0;
        start = Some(t);
    });
    let built = start.map_or(Duration::ZERO, |t| t.elapsed());
    let build_faults = minor_faults() - f0 - lock_faults;
    let len = reports.first().map_or(0, |r| r.locks.len());
    println!(
        "fresh-sample {} {} {lock_faults} {build_faults} {len}",
        el.as_nanos(),
        built.as_nanos()
    );
    black_box(reports);
    black_box(c);
}

/// [`SAMPLES`] children, one after the other.
pub fn measure() -> Result<Vec<Sample>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut out = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let o = Command::new(&exe)
            .arg(ARG)
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        let text = String::from_utf8_lossy(&o.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("fresh-sample "))
            .ok_or_else(|| {
                format!(
                    "{ARG} child ({}) printed no sample: {}{}",
                    o.status,
                    text,
                    String::from_utf8_lossy(&o.stderr)
                )
            })?;
        let v: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<f64, String> {
            v.get(i)
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| format!("{ARG} child: bad sample line {line:?}"))
        };
        out.push(Sample {
            lock_ns: num(0)?,
            built_ns: num(1)?,
            lock_faults: num(2)? as i64,
            build_faults: num(3)? as i64,
            len: num(4)? as usize,
        });
    }
    Ok(out)
}

/// The medians of `samples`: lock call, built, faults in the lock call,
/// faults in the build.
pub fn medians(samples: &[Sample]) -> (f64, f64, f64, f64) {
    let col = |f: fn(&Sample) -> f64| median(&mut samples.iter().map(f).collect::<Vec<_>>());
    (
        col(|s| s.lock_ns),
        col(|s| s.built_ns),
        col(|s| s.lock_faults as f64),
        col(|s| s.build_faults as f64),
    )
}
