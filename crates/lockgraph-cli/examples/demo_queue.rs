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
#![forbid(unsafe_code)]

use std::process::ExitCode;

use lockgraph::mpsc::sync_channel_named;
use lockgraph::Mutex;

fn main() -> ExitCode {
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
            eprintln!("usage: demo_queue consumer|producer");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
