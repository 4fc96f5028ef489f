//! Async locks: `lockgraph::tokio` against `tokio::sync`, measured in the
//! same run (issue 15's targets: uncontended `lock().await` + drop at most
//! 1.3x tokio's `Mutex`, a nested pair at most 1.5x).
//!
//! Each sample is one loop inside a tokio task on a `current_thread`
//! runtime (so the task-id path is the one measured), samples of each
//! implementation interleaved per round; medians with their quartiles, and
//! the ratio of the medians. Build it with tracking on:
//!
//! ```text
//! cargo bench --features tokio,track-in-release --bench async
//! ```
//!
//! (Without `track-in-release` a release build's `lockgraph::tokio` types
//! are tokio's, and the ratios are 1 by construction.)
//!
//! `--callgrind IMPL ROW N` (IMPL `tokio` or `lockgraph`; ROW `mutex`,
//! `pair`, `read` or `sem`) runs one row `N` times in one task and exits,
//! for instruction counts under callgrind: run it with N and 2N and divide
//! the difference by N (the runtime runs on the main thread: count that
//! thread, `--separate-threads=yes`, file `*-01`).

#[allow(dead_code)]
#[path = "support/timing.rs"]
mod timing;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use timing::{print_table, sample_interleaved, set_clock, Clock, Sampler, Spread, Stopwatch};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A sampler running `body` `n` times inside one task of `rt`.
macro_rules! in_task {
    ($rt:expr, $state:expr, |$s:ident| $body:expr) => {{
        let rt = $rt;
        let state = $state;
        Box::new(move |n: u64| -> Duration {
            let state = state.clone();
            rt.block_on(async move {
                tokio::spawn(async move {
                    let $s = &*state;
                    let t = Stopwatch::start();
                    for _ in 0..n {
                        $body;
                    }
                    t.elapsed()
                })
                .await
                .unwrap()
            })
        }) as Sampler<'_>
    }};
}

/// `--callgrind IMPL ROW N`: one row, `N` times, in one task.
fn callgrind(args: &[String]) -> Result<(), String> {
    let [imp, row, n] = args else {
        return Err("expected --callgrind IMPL ROW N".into());
    };
    let n: u64 = n.parse().map_err(|_| format!("N: {n:?} is not a count"))?;
    let rt = runtime();
    macro_rules! run {
        ($state:expr, |$s:ident| $body:expr) => {{
            let state = Arc::new($state);
            rt.block_on(async move {
                tokio::spawn(async move {
                    let $s = &*state;
                    // One iteration first: first-time costs fall in the setup.
                    $body;
                    for _ in 0..n {
                        $body;
                    }
                })
                .await
                .unwrap()
            })
        }};
    }
    match (imp.as_str(), row.as_str()) {
        ("tokio", "mutex") => run!(tokio::sync::Mutex::new(0u64), |m| *m.lock().await += 1),
        ("lockgraph", "mutex") => {
            run!(lockgraph::tokio::Mutex::new(0u64), |m| *m.lock().await += 1)
        }
        ("tokio", "pair") => run!(
            (tokio::sync::Mutex::new(0u64), tokio::sync::Mutex::new(0u64)),
            |p| {
                let mut a = p.0.lock().await;
                let mut b = p.1.lock().await;
                *a += 1;
                *b += 1;
            }
        ),
        ("lockgraph", "pair") => run!(
            (
                lockgraph::tokio::Mutex::new(0u64),
                lockgraph::tokio::Mutex::new(0u64)
            ),
            |p| {
                let mut a = p.0.lock().await;
                let mut b = p.1.lock().await;
                *a += 1;
                *b += 1;
            }
        ),
        ("tokio", "read") => run!(tokio::sync::RwLock::new(0u64), |l| black_box(
            *l.read().await
        )),
        ("lockgraph", "read") => run!(lockgraph::tokio::RwLock::new(0u64), |l| black_box(
            *l.read().await
        )),
        ("tokio", "sem") => run!(tokio::sync::Semaphore::new(4), |s| drop(black_box(
            s.acquire().await.unwrap()
        ))),
        ("lockgraph", "sem") => run!(lockgraph::tokio::Semaphore::new(4), |s| drop(
            black_box(s.acquire().await.unwrap())
        )),
        _ => {
            return Err(format!(
                "unknown IMPL ROW {imp:?} {row:?} (IMPL: tokio, lockgraph; ROW: mutex, pair, read, sem)"
            ))
        }
    }
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("--callgrind") => {
            if let Err(e) = callgrind(&args[1..]) {
                eprintln!("async: {e}");
                std::process::exit(2);
            }
            return;
        }
        Some(other) => {
            eprintln!(
                "async: unknown argument {other:?} (no arguments: the timed table; \
                 --callgrind IMPL ROW N: one row, for instruction counts)"
            );
            std::process::exit(2);
        }
    }
    let clock = Clock::from_env(if cfg!(target_os = "linux") {
        Clock::ThreadCpu
    } else {
        Clock::Wall
    })
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    set_clock(clock);
    println!(
        "lockgraph::tokio vs tokio::sync ({} clock, tracking {})",
        clock.name(),
        if lockgraph::TRACKING { "on" } else { "off" }
    );
    let rt = Arc::new(runtime());
    let r = &*rt;

    let tok = Arc::new(tokio::sync::Mutex::new(0u64));
    let lg = Arc::new(lockgraph::tokio::Mutex::new(0u64));
    let tok2 = Arc::new((tokio::sync::Mutex::new(0u64), tokio::sync::Mutex::new(0u64)));
    let lg2 = Arc::new((
        lockgraph::tokio::Mutex::new(0u64),
        lockgraph::tokio::Mutex::new(0u64),
    ));
    let tokrw = Arc::new(tokio::sync::RwLock::new(0u64));
    let lgrw = Arc::new(lockgraph::tokio::RwLock::new(0u64));
    let toksem = Arc::new(tokio::sync::Semaphore::new(4));
    let lgsem = Arc::new(lockgraph::tokio::Semaphore::new(4));

    let mut samplers: Vec<Sampler<'_>> = vec![
        in_task!(r, tok.clone(), |m| *m.lock().await += 1),
        in_task!(r, lg.clone(), |m| *m.lock().await += 1),
        in_task!(r, tok2.clone(), |p| {
            let mut a = p.0.lock().await;
            let mut b = p.1.lock().await;
            *a += 1;
            *b += 1;
        }),
        in_task!(r, lg2.clone(), |p| {
            let mut a = p.0.lock().await;
            let mut b = p.1.lock().await;
            *a += 1;
            *b += 1;
        }),
        in_task!(r, tokrw.clone(), |l| black_box(*l.read().await)),
        in_task!(r, lgrw.clone(), |l| black_box(*l.read().await)),
        in_task!(r, toksem.clone(), |s| drop(black_box(
            s.acquire().await.unwrap()
        ))),
        in_task!(r, lgsem.clone(), |s| drop(black_box(
            s.acquire().await.unwrap()
        ))),
    ];
    let mut ns = sample_interleaved(&mut samplers);
    drop(samplers);
    let names = [
        "Mutex lock().await + drop",
        "nested pair (two Mutexes)",
        "RwLock read().await + drop",
        "Semaphore acquire().await + drop",
    ];
    let targets = [Some(1.3), Some(1.5), None, None];
    let mut rows = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let t = Spread::of(&mut ns[2 * i]);
        let l = Spread::of(&mut ns[2 * i + 1]);
        let ratio = l.median / t.median;
        rows.push(vec![
            name.to_string(),
            format!("{:.1} ns [{:.1}-{:.1}]", t.median, t.q1, t.q3),
            format!("{:.1} ns [{:.1}-{:.1}]", l.median, l.q1, l.q3),
            format!("{ratio:.2}x"),
            match targets[i] {
                Some(max) if ratio <= max => format!("<= {max}x: met"),
                Some(max) => format!("<= {max}x: NOT met"),
                None => "-".to_string(),
            },
        ]);
    }
    print_table(
        &["row", "tokio::sync", "lockgraph::tokio", "ratio", "target"],
        &rows,
    );
}
