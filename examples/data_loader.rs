//! The data loader that ate the GPU: the situation that opens the brief.
//!
//! A training input pipeline: a loader thread reads sample ids into a
//! bounded `raw` queue; eight preprocessing workers turn them into features
//! through a shared preprocessing cache and send them into a bounded `ready`
//! queue; a batcher packs batches of 32 into a bounded `batches` queue; two
//! "GPU" consumers run them, one at a time on the device (a semaphore of
//! `gpu_slots`), against a model that a reloader thread hot-swaps under an
//! `RwLock`. The queues, the semaphore and the threads are lockgraph's
//! (`lockgraph::mpsc`, `lockgraph::Semaphore`, `lockgraph::thread`).
//!
//! The cache is one `Mutex<HashMap>`, and a miss reads the sample from disk
//! and computes its features while holding it, so the workers queue on the
//! cache and the GPU starves. The run shows what lockgraph finds:
//!
//! 1. the pipeline profile: the loader blocked on a full `raw` queue, the
//!    batcher starved on an empty `ready` queue: `preprocess` is the
//!    bottleneck stage;
//! 2. the contention profile says why: it ranks the cache first, says to
//!    shard it, and names the disk read made under it (the sharded variant,
//!    run second, reads and computes outside any lock and shows the
//!    speed-up);
//! 3. a lock-order inversion: workers take the cache, then the metrics; the
//!    epoch summary takes the metrics, then the cache. The run does not hang,
//!    because the summary happens after the workers stop, and lockgraph reports
//!    it anyway, with both stacks;
//! 4. a pipeline deadlock: the batcher sends into the `batches` queue while
//!    holding the `stats` lock, which the GPU consumers take between two
//!    receives. The queue has room for every batch of this run, so it is
//!    never full and the run cannot hang, however slow the consumers, and
//!    lockgraph reports the cycle `stats -> batches -> stats` at the first
//!    such send. `--hang` lets it hang (the batcher flushes four
//!    batches under one `stats` guard into a queue of one) and the watchdog
//!    names the stage and the queue; the run then exits after 4 s, with
//!    status 2.
//!
//! The findings hold on a busy machine. The disk read is a sleep (a wait, not
//! CPU work), so while one worker holds the cache for it the others are free
//! to run and queue behind it even when other processes take every core: the
//! contention comes from the code's structure, not from how the scheduler
//! happens to interleave CPU-bound threads. (With only CPU work under the
//! lock, a loaded machine runs one worker at a time, and the profile sees
//! little contention on the same code.)
//!
//! Run: `cargo run --release --example data_loader --features track-in-release`
//! or simply `cargo run --example data_loader`. `--single` or `--sharded` runs
//! one variant only; `--hang` runs the hanging pipeline under the watchdog.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockgraph::mpsc::sync_channel_named;
use lockgraph::{pipeline, profile, thread, Mutex, RwLock, Semaphore};

const SAMPLES: u32 = 6_000;
const DISTINCT: u32 = 4_000;
const WORKERS: usize = 8;
const BATCH: usize = 32;
const SHARDS: usize = 16;
/// How long reading one sample from disk takes.
const READ_LATENCY: Duration = Duration::from_micros(100);

/// Reading one sample from disk: a wait (the sleep stands in for the I/O),
/// named to lockgraph as a blocking call so the profile charges it to the
/// locks held meanwhile.
fn read_sample(id: u32) -> u32 {
    lockgraph::blocking("read the sample from disk", || {
        thread::sleep(READ_LATENCY);
        id
    })
}

/// Decoding and augmenting one sample: CPU work.
fn preprocess(id: u32) -> Vec<f32> {
    let mut x = id as f32;
    let mut out = Vec::with_capacity(16);
    for i in 0..16 {
        for _ in 0..200 {
            x = black_box(x * 1.000_1 + 0.5).sqrt() + i as f32;
        }
        out.push(x);
    }
    out
}

#[derive(Default)]
struct Metrics {
    hits: u64,
    misses: u64,
}

/// The preprocessing cache, in the two shapes the run compares.
enum Cache {
    /// One lock for everything; misses are read and computed under it.
    Single(Mutex<HashMap<u32, Vec<f32>>>),
    /// Sixteen locks by key; misses are read and computed outside any lock.
    Sharded(Vec<Mutex<HashMap<u32, Vec<f32>>>>),
}

impl Cache {
    fn single() -> Cache {
        Cache::Single(Mutex::named("preprocess_cache", HashMap::new()))
    }

    fn sharded() -> Cache {
        Cache::Sharded(
            (0..SHARDS)
                .map(|_| Mutex::named("preprocess_cache_shard", HashMap::new()))
                .collect(),
        )
    }

    fn features(&self, id: u32, metrics: &Mutex<Metrics>) -> Vec<f32> {
        let key = id % DISTINCT;
        match self {
            Cache::Single(map) => {
                let mut map = map.lock();
                let hit = map.contains_key(&key);
                // BUG: a miss reads and computes while holding the cache.
                let v = map
                    .entry(key)
                    .or_insert_with(|| preprocess(read_sample(key)))
                    .clone();
                // BUG: the metrics lock is taken while the cache is held.
                let mut m = metrics.lock();
                if hit {
                    m.hits += 1;
                } else {
                    m.misses += 1;
                }
                v
            }
            Cache::Sharded(shards) => {
                let shard = &shards[key as usize % SHARDS];
                if let Some(v) = shard.lock().get(&key) {
                    metrics.lock().hits += 1;
                    return v.clone();
                }
                let v = preprocess(read_sample(key));
                shard.lock().insert(key, v.clone());
                metrics.lock().misses += 1;
                v
            }
        }
    }

    /// The epoch summary: entries cached per miss.
    fn summary(&self, metrics: &Mutex<Metrics>) -> (usize, u64, u64) {
        match self {
            Cache::Single(map) => {
                // BUG: the cache is taken while the metrics are held.
                let m = metrics.lock();
                let len = map.lock().len();
                (len, m.hits, m.misses)
            }
            Cache::Sharded(shards) => {
                let len = shards.iter().map(|s| s.lock().len()).sum();
                let m = metrics.lock();
                (len, m.hits, m.misses)
            }
        }
    }
}

struct Model {
    version: u32,
    weights: Vec<f32>,
}

/// What the stages count as they go: one lock for the whole pipeline.
#[derive(Default)]
struct PipelineStats {
    batches_sent: u64,
    batches_run: u64,
}

struct RunStats {
    wall: Duration,
    gpu_busy: Duration,
    batches: usize,
    cached: usize,
    hits: u64,
    misses: u64,
    reloads: u32,
}

/// Where the stages' lock-order reports go: `capture` sees only its own
/// thread's, so each stage captures its own (`None`: not captured, the
/// policy prints them as they are found, as under `--hang`).
type Found = Option<Arc<std::sync::Mutex<Vec<lockgraph::CycleReport>>>>;

/// Spawns a pipeline stage: a named thread whose lock-order reports go to
/// `found`.
fn stage<T: Send + 'static>(
    name: impl Into<String>,
    found: &Found,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let found = found.clone();
    thread::Builder::new()
        .name(name.into())
        .spawn(move || match found {
            None => f(),
            Some(found) => {
                let mut out = None;
                let reports = lockgraph::capture(|| out = Some(f()));
                found.lock().unwrap().extend(reports);
                out.unwrap()
            }
        })
        .unwrap()
}

fn run(cache: Cache, hang: bool, found: Found) -> RunStats {
    let cache = Arc::new(cache);
    let metrics = Arc::new(Mutex::named("metrics", Metrics::default()));
    let stats = Arc::new(Mutex::named("stats", PipelineStats::default()));
    let gpu_slots = Arc::new(Semaphore::named("gpu_slots", 1));
    let model = Arc::new(RwLock::named(
        "model",
        Model {
            version: 1,
            weights: vec![1.0; 16],
        },
    ));
    let start = Instant::now();

    // loader -> raw -> workers
    let (raw_tx, raw_rx) = sync_channel_named::<u32>("raw", 64);
    // The workers share the receiver (a std mutex: not what is profiled).
    let raw_rx = Arc::new(std::sync::Mutex::new(raw_rx));
    let loader = stage("loader", &found, move || {
        for i in 0..SAMPLES {
            raw_tx
                .send(i.wrapping_mul(2_654_435_761) % (DISTINCT * 2))
                .unwrap();
        }
    });

    // workers -> ready -> batcher
    let (ready_tx, ready_rx) = sync_channel_named::<Vec<f32>>("ready", 64);
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (rx, tx) = (Arc::clone(&raw_rx), ready_tx.clone());
            let (cache, metrics) = (Arc::clone(&cache), Arc::clone(&metrics));
            stage(format!("preprocess-{w}"), &found, move || loop {
                let next = rx.lock().unwrap().recv();
                let Ok(id) = next else { break };
                if tx.send(cache.features(id, &metrics)).is_err() {
                    break;
                }
            })
        })
        .collect();
    drop(ready_tx);

    // batcher -> batches -> GPU. Without `--hang` the queue has room for
    // every batch of the run, so it cannot fill, and the bug below cannot
    // hang the run however far the GPU consumers fall behind (with a bound
    // of 16 a busy machine let them fall behind, the queue filled while the
    // batcher held `stats`, and the run hung: an outside test, 1 run in
    // 13). lockgraph reports the cycle at the first send all the same: a
    // send into a bounded queue orders it after the locks held, full or not.
    let bound = if hang {
        1
    } else {
        SAMPLES.div_ceil(BATCH as u32) as usize
    };
    let (batch_tx, batch_rx) = sync_channel_named::<Vec<Vec<f32>>>("batches", bound);
    let batcher = {
        let stats = Arc::clone(&stats);
        stage("batcher", &found, move || {
            // Under `--hang`, four: each GPU consumer takes one batch and
            // then blocks on `stats`, the queue holds one, the fourth send
            // blocks for good.
            let flush = if hang { 4 } else { 1 };
            let mut full: Vec<Vec<Vec<f32>>> = Vec::new();
            let mut batch = Vec::with_capacity(BATCH);
            for f in ready_rx {
                batch.push(f);
                if batch.len() == BATCH {
                    full.push(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
                if full.len() == flush {
                    // BUG: sends while holding `stats`, which the GPU
                    // consumers take between two receives.
                    let mut st = stats.lock();
                    for b in full.drain(..) {
                        st.batches_sent += 1;
                        batch_tx.send(b).unwrap();
                    }
                }
            }
            full.extend((!batch.is_empty()).then_some(batch));
            for b in full {
                stats.lock().batches_sent += 1;
                batch_tx.send(b).unwrap();
            }
        })
    };

    // hot reload: prepare the new weights outside the lock, swap under it.
    let stop = Arc::new(AtomicBool::new(false));
    let reloader = {
        let (model, stop) = (Arc::clone(&model), Arc::clone(&stop));
        stage("reloader", &found, move || {
            let mut reloads = 0;
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
                let next = model.read().version + 1;
                let weights = vec![1.0 + next as f32 / 100.0; 16];
                *model.write() = Model {
                    version: next,
                    weights,
                };
                reloads += 1;
            }
            reloads
        })
    };

    // the "GPU": two consumers, one batch on the device at a time, a fixed
    // cost per batch, against the current model.
    let batch_rx = Arc::new(std::sync::Mutex::new(batch_rx));
    let gpus: Vec<_> = (0..2)
        .map(|g| {
            let (rx, slots) = (Arc::clone(&batch_rx), Arc::clone(&gpu_slots));
            let (model, stats) = (Arc::clone(&model), Arc::clone(&stats));
            stage(format!("gpu-{g}"), &found, move || {
                let mut busy = Duration::ZERO;
                loop {
                    let next = rx.lock().unwrap().recv();
                    let Ok(batch) = next else { break busy };
                    let _slot = slots.acquire();
                    let t = Instant::now();
                    let model = model.read();
                    let mut acc = 0.0f32;
                    for f in &batch {
                        acc += f
                            .iter()
                            .zip(&model.weights)
                            .map(|(a, b)| a * b)
                            .sum::<f32>();
                    }
                    drop(model);
                    while t.elapsed() < Duration::from_micros(300) {
                        std::hint::spin_loop();
                    }
                    black_box(acc);
                    busy += t.elapsed();
                    drop(_slot);
                    stats.lock().batches_run += 1;
                }
            })
        })
        .collect();
    let gpu_busy: Duration = gpus.into_iter().map(|g| g.join().unwrap()).sum();
    let wall = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    loader.join().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    batcher.join().unwrap();
    let reloads = reloader.join().unwrap();
    let batches = stats.lock().batches_run as usize;
    let (cached, hits, misses) = cache.summary(&metrics);
    RunStats {
        wall,
        gpu_busy,
        batches,
        cached,
        hits,
        misses,
        reloads,
    }
}

fn print_run(name: &str, s: &RunStats) {
    println!(
        "  {name:<22} {:>8.0} samples/s   GPU busy {:>3.0}%   {} batches, {} reloads, \
         cache {} entries ({} hits / {} misses)",
        f64::from(SAMPLES) / s.wall.as_secs_f64(),
        100.0 * s.gpu_busy.as_secs_f64() / s.wall.as_secs_f64(),
        s.batches,
        s.reloads,
        s.cached,
        s.hits,
        s.misses
    );
}

/// `--hang`: the batcher flushes four batches under one `stats` guard
/// into a `batches` queue of one, the GPU consumers take `stats` after each
/// receive: the pipeline hangs, the watchdog names the stage and the queue.
fn hang() {
    assert!(lockgraph::watchdog::start(
        lockgraph::watchdog::Config::default().timeout(Duration::from_millis(500))
    ));
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(4));
        println!("data loader: the pipeline is still hung after 4 s; exiting");
        std::process::exit(2);
    });
    println!(
        "data loader --hang: the batcher holds `stats` while it sends into a full `batches` queue"
    );
    run(Cache::sharded(), true, None);
    println!("data loader: the pipeline did not hang");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--hang") {
        return hang();
    }
    let single = !args.iter().any(|a| a == "--sharded");
    let sharded = !args.iter().any(|a| a == "--single");
    if !lockgraph::TRACKING {
        println!("note: lockgraph tracking is off in this build; add --features track-in-release");
    }
    profile::enable();
    println!("data loader: {SAMPLES} samples, {WORKERS} preprocessing workers, batches of {BATCH}");

    let collected: Arc<std::sync::Mutex<Vec<lockgraph::CycleReport>>> = Default::default();
    let found: Found = Some(collected.clone());
    let mut reports = Vec::new();
    let mut single_stats = None;
    if single {
        reports.extend(lockgraph::capture(|| {
            single_stats = Some(run(Cache::single(), false, found.clone()));
        }));
        println!();
        println!("the pipeline, one cache lock:");
        print!("{}", pipeline::report());
        pipeline::reset();
    }
    let sharded_stats = sharded.then(|| run(Cache::sharded(), false, found.clone()));
    reports.extend(collected.lock().unwrap().drain(..));

    println!();
    println!("throughput:");
    if let Some(s) = &single_stats {
        print_run("one cache lock", s);
    }
    if let Some(s) = &sharded_stats {
        print_run("16 cache shards", s);
    }
    if let (Some(a), Some(b)) = (&single_stats, &sharded_stats) {
        println!(
            "  sharding the cache: {:.2}x the samples per second",
            a.wall.as_secs_f64() / b.wall.as_secs_f64()
        );
    }

    println!();
    print!("{}", profile::report());

    println!();
    if reports.is_empty() {
        println!("lockgraph: no potential deadlock found");
    } else {
        println!("lockgraph: {} potential deadlock(s) found:", reports.len());
        for r in &reports {
            println!();
            print!("{r}");
        }
    }
}
