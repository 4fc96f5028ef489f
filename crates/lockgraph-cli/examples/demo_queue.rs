//! `demo_queue consumer|producer`: one half of a pipeline deadlock, for
//! the end-to-end tests of `lockgraph check` (`docs/pipelines.md`).
//!
//! * `consumer`: receives from the bounded queue `jobs` and, between two
//!   receives, takes the mutex `stats` (records `jobs -> stats`);
//! * `producer`: sends into `jobs` while holding `stats` (records
//!   `stats -> jobs`).
//!
//! Neither process sees a cycle (each has one edge, and neither hangs: the
//! queue is never full); run both with `LOCKGRAPH_RECORD=<dir>` and
//! `lockgraph check <dir>` finds `stats -> jobs -> stats`.
//!
//! `demo_queue pipeline`: no lockgraph lock, only a queue: a `loader`
//! thread sends 40 items into the bounded queue `batches` (2 places), and
//! a slow `trainer` thread receives them (2 ms each), so that the loader
//! waits on a full queue most of its time: with `LOCKGRAPH_PROFILE=1` and
//! `LOCKGRAPH_RECORD=<dir>`, the process's profile file holds the
//! backpressure profile, for the tests of `lockgraph profile`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use lockgraph::mpsc::sync_channel_named;
use lockgraph::Mutex;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("pipeline") {
        pipeline();
        return ExitCode::SUCCESS;
    }
    let stats = Mutex::named("stats", 0u32);
    let (tx, rx) = sync_channel_named::<u32>("jobs", 4);
    match std::env::args().nth(1).as_deref() {
        Some("consumer") => {
            tx.send(1).unwrap();
            drop(tx);
            for job in rx.iter() {
                *stats.lock() += job; // between two receives
            }
        }
        Some("producer") => {
            let g = stats.lock();
            tx.send(*g).unwrap(); // holding `stats`
            drop(g);
            drop(tx);
            for _ in rx.iter() {}
        }
        _ => {
            eprintln!("usage: demo_queue consumer|producer|pipeline");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// `demo_queue pipeline`: a fast `loader`, a slow `trainer`, one queue.
fn pipeline() {
    let (tx, rx) = sync_channel_named::<u32>("batches", 2);
    let loader = std::thread::Builder::new()
        .name("loader".into())
        .spawn(move || {
            for i in 0..40 {
                tx.send(i).unwrap();
            }
        })
        .unwrap();
    let trainer = std::thread::Builder::new()
        .name("trainer".into())
        .spawn(move || {
            for _ in rx.iter() {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
        .unwrap();
    loader.join().unwrap();
    trainer.join().unwrap();
}
