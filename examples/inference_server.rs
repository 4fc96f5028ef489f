//! An inference server with a hot-reloaded model: the situation from the brief
//! ("model hot-reload under a read-write lock"), with the lock-order inversion
//! real services ship.
//!
//! * request workers read the model (`RwLock` read) and, still holding it,
//!   record latency in the metrics (`Mutex`): model -> metrics;
//! * the reloader takes the metrics lock to snapshot and reset the counters,
//!   and, still holding it, swaps the weights (`RwLock` write): metrics -> model.
//!
//! When a worker holds the model and waits for the metrics while the reloader
//! holds the metrics and waits for the model, the server hangs. In this run the
//! reload happens between two batches of requests, so nothing hangs, and
//! lockgraph reports the inversion anyway, with both threads, all four sites
//! and the stacks. `--fixed` runs the corrected reloader (snapshot, release the
//! metrics, then swap), which is silent.
//!
//! Run: `cargo run --example inference_server` (add `-- --fixed` for the fix).

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lockgraph::{Mutex, RwLock};

struct Weights {
    version: u32,
    scale: f32,
}

#[derive(Default)]
struct Metrics {
    requests: u64,
    total_latency: Duration,
}

struct Server {
    model: RwLock<Weights>,
    metrics: Mutex<Metrics>,
    feature_cache: Mutex<Vec<f32>>,
}

impl Server {
    fn infer(&self, input: f32) -> f32 {
        let start = Instant::now();
        let model = self.model.read();
        let feature = {
            let mut cache = self.feature_cache.lock();
            cache.push(input);
            input * 2.0
        };
        let out = feature * model.scale;
        // BUG: the metrics lock is taken while the model read lock is held.
        let mut m = self.metrics.lock();
        m.requests += 1;
        m.total_latency += start.elapsed();
        out
    }

    fn reload_buggy(&self, version: u32) -> Metrics {
        let mut m = self.metrics.lock();
        let snapshot = std::mem::take(&mut *m);
        // BUG: the model write lock is requested while the metrics are held.
        let mut w = self.model.write();
        *w = Weights {
            version,
            scale: 1.0 + version as f32 / 10.0,
        };
        snapshot
    }

    fn reload_fixed(&self, version: u32) -> Metrics {
        let snapshot = std::mem::take(&mut *self.metrics.lock());
        let mut w = self.model.write();
        *w = Weights {
            version,
            scale: 1.0 + version as f32 / 10.0,
        };
        snapshot
    }
}

fn serve_batch(server: &Arc<Server>, workers: usize, requests: usize) {
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let server = Arc::clone(server);
            thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || {
                    for i in 0..requests {
                        std::hint::black_box(server.infer(i as f32));
                    }
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn main() {
    let fixed = std::env::args().any(|a| a == "--fixed");
    if !lockgraph::TRACKING {
        eprintln!(
            "note: lockgraph tracking is off in this build (release without track-in-release)"
        );
    }
    let server = Arc::new(Server {
        model: RwLock::named(
            "model",
            Weights {
                version: 1,
                scale: 1.0,
            },
        ),
        metrics: Mutex::named("metrics", Metrics::default()),
        feature_cache: Mutex::named("feature_cache", Vec::new()),
    });

    println!("serving batch 1 on model v1 ...");
    serve_batch(&server, 4, 2_000);

    let s = Arc::clone(&server);
    let snapshot = thread::Builder::new()
        .name("reloader".into())
        .spawn(move || {
            if fixed {
                s.reload_fixed(2)
            } else {
                s.reload_buggy(2)
            }
        })
        .unwrap()
        .join()
        .unwrap();
    // lockgraph found the inversion when the reloader requested the model's
    // lock; its reporter thread resolves the stacks and prints the report
    // (off the thread that took the lock). Waiting for it here prints it
    // where it was found, before the rest of the output.
    lockgraph::flush_reports(Duration::from_secs(5));
    println!(
        "reloaded to v{} ({} requests, mean latency {:?} before the reload)",
        server.model.read().version,
        snapshot.requests,
        snapshot.total_latency / snapshot.requests.max(1) as u32
    );

    println!("serving batch 2 on model v2 ...");
    serve_batch(&server, 4, 2_000);

    let stats = lockgraph::stats();
    println!(
        "done: {} requests since the reload; lockgraph saw {} lock classes and {} lock-order edges",
        server.metrics.lock().requests,
        stats.classes,
        stats.class_edges
    );
    if fixed {
        println!("(fixed reloader: the metrics lock is released before the model is written)");
    } else {
        println!("(the report above shows the model <-> metrics inversion; run with --fixed for the fix)");
    }
}
