//! `hang_job DIR`: a launcher that starts a four-process "training job" whose
//! rank 2 deadlocks, then shows what `lockgraph hang DIR` makes of it.
//!
//! Each worker (this program again, `--worker RANK DIR`) runs with
//! `RANK=<n>`, `LOCKGRAPH_DUMP_DIR=DIR`, `LOCKGRAPH_WATCHDOG=1s` and
//! `LOCKGRAPH_DUMP_SIGNAL=1`, and marks each step with
//! `lockgraph::progress("step", n)`. At step 1200, rank 2's loader threads
//! take `queue_lock` and `batch_lock` in opposite orders and deadlock, so its
//! main thread never reaches step 1201. The other ranks reach 1201 and wait
//! in an "allreduce" (a barrier of files in `DIR/barrier`) for rank 2, while
//! holding their `grads` lock, which each one's logger thread then waits
//! for. Once every worker has reported (rank 2 its deadlock, the others
//! their long waits), the launcher asks each for a dump (SIGUSR2), kills
//! them all, and exits 0 (1 when they did not report within 60 s).
//!
//! ```sh
//! cargo run -p lockgraph-cli --example hang_job -- /tmp/job
//! cargo run -p lockgraph-cli -- hang /tmp/job      # exit 1: a deadlock
//! ```
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockgraph::Mutex;

const WORKERS: u64 = 4;
const STUCK_RANK: u64 = 2;
const LAST_STEP: u64 = 1201;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, rank, dir] if flag == "--worker" => match rank.parse() {
            Ok(rank) => worker(rank, Path::new(dir)),
            Err(_) => usage(),
        },
        [dir] if !dir.starts_with('-') => launcher(Path::new(dir)),
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: hang_job DIR");
    ExitCode::from(2)
}

/// The lines of kind `kind` in every watchdog file of `dir`.
fn count(dir: &Path, kind: &str) -> usize {
    let needle = format!("\"kind\":\"{kind}\"");
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("lockgraph-watchdog-")
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|t| t.lines().filter(|l| l.contains(&needle)).count())
        .sum()
}

/// Waits up to `limit` for `done`.
fn wait_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

fn launcher(dir: &Path) -> ExitCode {
    // A fresh job directory: the files of an earlier run would mix in.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("lockgraph-watchdog-") || name.starts_with("rank-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir.join("barrier"));
    if let Err(e) = std::fs::create_dir_all(dir.join("barrier")) {
        eprintln!("hang_job: cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let exe = std::env::current_exe().expect("the launcher's own path");
    let mut children: Vec<Child> = Vec::new();
    for rank in 0..WORKERS {
        let log = std::fs::File::create(dir.join(format!("rank-{rank}.log")))
            .expect("create the worker's log");
        let child = Command::new(&exe)
            .args(["--worker", &rank.to_string()])
            .arg(dir)
            .env("RANK", rank.to_string())
            .env("LOCKGRAPH_DUMP_DIR", dir)
            .env("LOCKGRAPH_WATCHDOG", "1s")
            .env("LOCKGRAPH_DUMP_SIGNAL", "1")
            // The lock-order graph would report rank 2's inversion before
            // it hangs; this job is about the hang.
            .env("LOCKGRAPH_ON_CYCLE", "off")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a worker");
        children.push(child);
    }
    println!(
        "hang_job: started {WORKERS} workers (pids {}); waiting for their watchdogs",
        children
            .iter()
            .map(|c| c.id().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Rank 2's deadlock, and two long waits (allreduce, grads) per other rank.
    let reported = wait_until(Duration::from_secs(60), || {
        count(dir, "deadlock") >= 1 && count(dir, "long_wait") >= 2 * (WORKERS as usize - 1)
    });
    if reported {
        // A dump of every worker's threads, as an operator would ask for
        // (`lockgraph dump --pid N`, or `kill -USR2 N`).
        for c in &children {
            let _ = Command::new("kill")
                .args(["-USR2", &c.id().to_string()])
                .status();
        }
        wait_until(Duration::from_secs(20), || {
            count(dir, "dump") >= WORKERS as usize
        });
    }
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    if reported {
        println!(
            "hang_job: the job hung (rank {STUCK_RANK} deadlocked); its {WORKERS} processes were killed. Now: lockgraph hang {}",
            dir.display()
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "hang_job: the workers did not report within 60 s (deadlocks: {}, long waits: {}); see {}/rank-*.log",
            count(dir, "deadlock"),
            count(dir, "long_wait"),
            dir.display()
        );
        ExitCode::FAILURE
    }
}

fn barrier_dir(dir: &Path) -> PathBuf {
    dir.join("barrier")
}

/// The job's "allreduce": says this rank arrived, then waits for all.
fn allreduce(dir: &Path, rank: u64, step: u64) {
    let _ = std::fs::write(barrier_dir(dir).join(format!("{step}-{rank}")), b"");
    let arrived = || (0..WORKERS).all(|r| barrier_dir(dir).join(format!("{step}-{r}")).exists());
    while !arrived() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn worker(rank: u64, dir: &Path) -> ExitCode {
    let grads = Arc::new(Mutex::named("grads", 0u64));
    let queue = Arc::new(Mutex::named("queue_lock", Vec::<u64>::new()));
    let batch = Arc::new(Mutex::named("batch_lock", 0u64));
    for step in 1..=LAST_STEP {
        lockgraph::progress("step", step);
        if rank == STUCK_RANK && step == 1200 {
            // Two loader threads, opposite orders: a deadlock.
            let met = Arc::new(Barrier::new(2));
            let loaders: Vec<_> = [("loader-a", true), ("loader-b", false)]
                .into_iter()
                .map(|(name, queue_first)| {
                    let (queue, batch, met) = (queue.clone(), batch.clone(), met.clone());
                    std::thread::Builder::new()
                        .name(name.into())
                        .spawn(move || {
                            if queue_first {
                                let mut q = queue.lock();
                                met.wait();
                                *batch.lock() += 1;
                                q.push(step);
                            } else {
                                let mut b = batch.lock();
                                met.wait();
                                // After loader-a's request: this one
                                // closes the cycle, against its order.
                                std::thread::sleep(std::time::Duration::from_millis(50));
                                queue.lock().push(step);
                                *b += 1;
                            }
                        })
                        .expect("spawn a loader")
                })
                .collect();
            for l in loaders {
                let _ = l.join();
            }
        }
        let mut g = grads.lock();
        *g += step;
        if step == LAST_STEP {
            // A logger that wants the gradients while the step is not done.
            let logger = {
                let grads = grads.clone();
                std::thread::Builder::new()
                    .name("logger".into())
                    .spawn(move || {
                        let g = grads.lock();
                        eprintln!("logged {}", *g);
                    })
                    .expect("spawn the logger")
            };
            // Waits for every rank while holding `grads`.
            lockgraph::blocking("allreduce", || allreduce(dir, rank, step));
            drop(g);
            let _ = logger.join();
        }
    }
    ExitCode::SUCCESS
}
