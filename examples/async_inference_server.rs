//! A tokio model server: the model behind an async `RwLock`, hot-reloaded
//! by a task; per-request metrics behind an async `Mutex`; a batch queue
//! the request tasks fill and a batcher task drains.
//!
//! The lock-order inversion tokio services ship:
//!
//! * request tasks read the model (`model.read().await`) and, still holding
//!   it, record their latency (`metrics.lock().await`): model -> metrics;
//! * the reloader task locks the metrics to snapshot and reset them and,
//!   still holding them, swaps the weights (`model.write().await`):
//!   metrics -> model.
//!
//! When a request task holds the model and waits for the metrics while the
//! reloader holds the metrics and waits for the model, both tasks wait
//! forever, and no thread is blocked: the runtime keeps serving everything
//! else, so nothing but a task-aware detector notices.
//!
//! * default: the reload runs between two bursts of requests, so nothing
//!   hangs, and lockgraph reports the inversion anyway, naming the request
//!   task and the reloader task and all four sites;
//! * `--fixed`: the reloader snapshots the metrics, lets them go, then
//!   swaps the model: silent;
//! * `--hang`: the two tasks really interleave and deadlock; lockgraph's
//!   watchdog (on, with a 500 ms timeout) reports the task deadlock, and
//!   the example gives up after a few seconds and exits.
//!
//! Run: `cargo run --features tokio --example async_inference_server`
//! (add `-- --fixed` or `-- --hang`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockgraph::tokio::{Mutex, RwLock, Semaphore};
use tokio::sync::Barrier;

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
    batch: Mutex<VecDeque<f32>>,
    /// At most this many requests in the model at once.
    slots: Semaphore,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Buggy,
    Fixed,
    Hang,
}

impl Server {
    fn new() -> Server {
        Server {
            model: RwLock::named(
                "model",
                Weights {
                    version: 1,
                    scale: 0.5,
                },
            ),
            metrics: Mutex::named("metrics", Metrics::default()),
            batch: Mutex::named("batch", VecDeque::new()),
            slots: Semaphore::named("request slots", 8),
        }
    }

    /// One request: a slot, the model (read), the metrics while still
    /// reading the model: model -> metrics. `meet` makes it wait, holding
    /// the model, until the reloader holds the metrics (`--hang`).
    async fn infer(&self, x: f32, meet: Option<&Barrier>) -> f32 {
        let t = Instant::now();
        let _slot = self.slots.acquire().await.unwrap();
        let model = self.model.read().await;
        let y = x * model.scale;
        self.batch.lock().await.push_back(y);
        if let Some(b) = meet {
            b.wait().await;
        }
        let mut m = self.metrics.lock().await;
        m.requests += 1;
        m.total_latency += t.elapsed();
        y
    }

    /// The reloader: the metrics, then the model (write) while still
    /// holding them: metrics -> model (the inversion). Fixed: the metrics
    /// are let go before the model is taken.
    async fn reload(&self, mode: Mode, meet: Option<&Barrier>) {
        let served = {
            let mut m = self.metrics.lock().await;
            let served = std::mem::take(&mut *m).requests;
            if mode == Mode::Fixed {
                drop(m);
            } else {
                if let Some(b) = meet {
                    b.wait().await;
                }
                let mut w = self.model.write().await;
                w.version += 1;
                w.scale *= 1.01;
                return println!("reloaded model v{} after {served} requests", w.version);
            }
            served
        };
        let mut w = self.model.write().await;
        w.version += 1;
        w.scale *= 1.01;
        println!("reloaded model v{} after {served} requests", w.version);
    }

    /// The batcher: drains the queue.
    async fn drain(&self) -> usize {
        let mut q = self.batch.lock().await;
        let n = q.len();
        q.clear();
        n
    }
}

async fn burst(server: &Arc<Server>, n: usize) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let s = server.clone();
            lockgraph::tokio::spawn_named("request", async move { s.infer(i as f32, None).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

fn main() {
    let mode = match std::env::args().nth(1).as_deref() {
        None => Mode::Buggy,
        Some("--fixed") => Mode::Fixed,
        Some("--hang") => Mode::Hang,
        Some(other) => {
            eprintln!(
                "async_inference_server: unknown argument {other:?} (expected --fixed or --hang)"
            );
            std::process::exit(2);
        }
    };
    if mode == Mode::Hang {
        lockgraph::watchdog::start(
            lockgraph::watchdog::Config::default().timeout(Duration::from_millis(500)),
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let server = Arc::new(Server::new());
        if mode == Mode::Hang {
            let meet = Arc::new(Barrier::new(2));
            let (s1, m1) = (server.clone(), meet.clone());
            let request = lockgraph::tokio::spawn_named("request", async move {
                s1.infer(1.0, Some(&m1)).await;
            });
            let (s2, m2) = (server.clone(), meet.clone());
            let reloader = lockgraph::tokio::spawn_named("reloader", async move {
                s2.reload(Mode::Hang, Some(&m2)).await;
            });
            let both = async {
                let _ = tokio::join!(request, reloader);
            };
            if tokio::time::timeout(Duration::from_secs(3), both).await.is_err() {
                println!("the request task and the reloader task are deadlocked (see the watchdog's report above); giving up");
                lockgraph::flush_reports(Duration::from_secs(2));
                // As `data_loader --hang`: a hang is a failure of the run.
                std::process::exit(2);
            }
            return;
        }
        burst(&server, 32).await;
        let s = server.clone();
        lockgraph::tokio::spawn_named("reloader", async move { s.reload(mode, None).await })
            .await
            .unwrap();
        burst(&server, 32).await;
        let drained = server.drain().await;
        println!("served 64 requests, drained {drained} batched outputs");
    });
    lockgraph::flush_reports(Duration::from_secs(2));
}
