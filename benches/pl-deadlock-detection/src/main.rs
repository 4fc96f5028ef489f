//! parking_lot with its `deadlock_detection` feature, running the plain-loop
//! rows of `benches/plain.rs` (the same macro, `benches/support/rows.rs`).
//!
//! `--serve`: answers timed runs on stdin/stdout for `benches/plain.rs`,
//! which interleaves them with its own samples. `--callgrind ROW N`: runs
//! one row `N` times for `scripts/callgrind.sh`. No thread polls
//! `parking_lot::deadlock::check_deadlock` here: polling is off the lock
//! path; what the feature costs on that path is its bookkeeping on every
//! acquisition and release, which these rows measure.

#[allow(dead_code)]
#[path = "../../support/timing.rs"]
mod timing;
#[macro_use]
#[allow(dead_code)]
#[path = "../../support/rows.rs"]
mod rows;

use std::process::ExitCode;

/// parking_lot, with `deadlock_detection` on for this whole build.
mod dd {
    type M<T> = parking_lot::Mutex<T>;
    fn new_u64() -> M<u64> {
        M::new(0)
    }
    plain_rows! {
        lock: |m| m.lock(),
        new_one: M::new(0u64),
        new_pair: (M::new(0u64), M::new(0u64)),
        new_chain: std::array::from_fn(|_| M::new(0u64)),
        churn_two: (M::new(0u64), M::new(0u64)),
        churn_one: new_u64(),
    }
}

/// What `benches/plain.rs` expects in the handshake: the shared sources and
/// this file.
const HASH: u64 = rows::fnv(include_str!("main.rs"), rows::SOURCE_HASH);

fn run(args: &[String]) -> Result<(), String> {
    use rows::Steady;
    match args.split_first() {
        Some((flag, [])) if flag == "--serve" => {
            // benches/plain.rs passes its clock in LOCKGRAPH_BENCH_CLOCK.
            timing::set_clock(timing::Clock::from_env(timing::Clock::ThreadCpu)?);
            rows::serve(&dd::Locks::new(), HASH)
        }
        Some((flag, rest)) if flag == "--callgrind" => {
            let (row, n) = rows::callgrind_args(rest)?;
            if row == rows::Row::TwoThreads {
                return Err("the two-thread row is timed only".into());
            }
            let locks = dd::Locks::new();
            locks.run(row, 1);
            locks.run(row, n);
            Ok(())
        }
        _ => Err(format!(
            "expected --serve or --callgrind ROW N, got {args:?}"
        )),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pl-deadlock-detection: {e}");
            ExitCode::from(2)
        }
    }
}
