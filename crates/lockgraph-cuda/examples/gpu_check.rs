//! lockgraph-cuda's cudarc back end on a real GPU: scenarios 1, 2 and 5 with
//! real host functions (`cuLaunchHostFunc`) and real synchronizes, and one
//! race. One check per process, run by `scripts/gpu-check.sh`:
//!
//! ```text
//! cargo run -p lockgraph-cuda --features cudarc --example gpu_check -- s1|s2|s5|race
//! ```
//!
//! Each deadlock scenario runs twice. *Timed*: the report is captured and
//! the synchronize really hangs, bounded by `synchronize_timeout`. *Guarded*:
//! the policy is `panic` and the synchronize is the plain, untimed
//! `cuStreamSynchronize`: the report must unwind the thread before it blocks
//! (if lockgraph missed the cycle, the process hangs and the script's
//! timeout fails it). Afterwards the stream must drain.
//!
//! `gpu_check --sim s1|s2|s5` runs the same deadlock checks on the simulated
//! back end (the script runs them first: the harness itself is checked
//! where there is no GPU).
//!
//! Exit status: 0 passed, 1 failed, 2 misuse (unknown check, or a build
//! without lock tracking), 3 skipped (no CUDA driver, or no usable device).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::{capture, set_on_cycle, Mutex, OnCycle};
use lockgraph_cuda::backend::Backend;
use lockgraph_cuda::gpu::{self, driver_present};
use lockgraph_cuda::{race, sim, Buffer, Context, Error, HostFn, Stream};

/// How long a timed synchronize that really deadlocks waits.
const HANG: Duration = Duration::from_millis(500);

type Check = Result<(), String>;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Timed,
    Guarded,
}

/// What one thread saw.
#[derive(Debug)]
struct Outcome {
    /// The reports raised on the thread, as printed.
    reports: Vec<String>,
    /// What the synchronize returned; `None` when a report unwound it first.
    returned: Option<Result<(), Error>>,
}

/// Runs `f` (lock, enqueue, synchronize) on this thread: timed, capturing
/// the reports; guarded, catching the report's panic.
fn observe(mode: Mode, f: impl FnOnce() -> Result<(), Error>) -> Outcome {
    match mode {
        Mode::Timed => {
            let mut returned = None;
            let reports = capture(|| returned = Some(f()));
            Outcome {
                reports: reports.iter().map(|r| r.to_string()).collect(),
                returned,
            }
        }
        Mode::Guarded => match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Outcome {
                reports: Vec::new(),
                returned: Some(r),
            },
            Err(p) => Outcome {
                reports: vec![p
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "a panic that is not a report".into())],
                returned: None,
            },
        },
    }
}

/// The synchronize of `mode`.
#[track_caller]
fn sync<B: Backend>(s: &Stream<B>, mode: Mode) -> Result<(), Error> {
    match mode {
        Mode::Timed => s.synchronize_timeout(HANG),
        Mode::Guarded => s.synchronize(),
    }
}

/// At least one report among `outs`, each saying `verdict` (a potential
/// one may also be a lock-order cycle through a stream), together naming
/// `needles`; every thread that raised one deadlocked (timed out) or was
/// stopped before blocking (guarded). Two threads may each close a cycle
/// (scenario 5: each through the shared executor).
fn expect(mode: Mode, outs: &[Outcome], verdict: &str, needles: &[&str]) -> Check {
    let reports: Vec<&String> = outs.iter().flat_map(|o| &o.reports).collect();
    if reports.is_empty() {
        return Err(format!("{mode:?}: no report: {outs:#?}"));
    }
    if let Some(r) = reports.iter().find(|r| !r.contains(verdict)) {
        return Err(format!("{mode:?}: a report lacks `{verdict}`:\n{r}"));
    }
    if let Some(n) = needles
        .iter()
        .find(|n| !reports.iter().any(|r| r.contains(*n)))
    {
        return Err(format!("{mode:?}: no report names `{n}`: {reports:#?}"));
    }
    for o in outs.iter().filter(|o| !o.reports.is_empty()) {
        match (mode, &o.returned) {
            (Mode::Timed, Some(Err(Error::Timeout))) | (Mode::Guarded, None) => {}
            (_, r) => {
                return Err(format!(
                    "{mode:?}: a reporting thread's synchronize returned {r:?}"
                ))
            }
        }
    }
    for r in reports {
        println!("  {mode:?}: reported before blocking:\n{r}");
    }
    Ok(())
}

fn cuda<T>(r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Scenario 1: the lock is held from before the enqueue until the
/// synchronize; the host function needs it. Certain.
fn s1<B: Backend>(ctx: &Context<B>, mode: Mode) -> Check {
    let s = cuda(ctx.new_stream("gpu-s1"))?;
    let arena = Arc::new(Mutex::named("gpu-s1-arena", ()));
    let a = Arc::clone(&arena);
    let out = observe(mode, || {
        let _held = arena.lock();
        s.launch_host_fn(HostFn::new(move || drop(a.lock())).locks(&arena))?;
        sync(&s, mode)
    });
    cuda(s.synchronize())?; // the lock is free: the stream drains
    expect(
        mode,
        &[out],
        "lockgraph: deadlock (certain)",
        &["gpu-s1", "Mutex `gpu-s1-arena`", "host fn enqueued at"],
    )
}

/// Scenario 2: the host function is enqueued first, the lock taken after;
/// a first host function holds the stream until then (the bad timing,
/// forced). Potential.
fn s2<B: Backend>(ctx: &Context<B>, mode: Mode) -> Check {
    let s = cuda(ctx.new_stream("gpu-s2"))?;
    let cache = Arc::new(Mutex::named("gpu-s2-cache", ()));
    let (open, gate) = channel::<()>();
    cuda(s.launch_host_fn(HostFn::new(move || {
        let _ = gate.recv_timeout(Duration::from_secs(30));
    })))?;
    let c = Arc::clone(&cache);
    cuda(s.launch_host_fn(HostFn::new(move || drop(c.lock())).locks(&cache)))?;
    let out = observe(mode, || {
        let _held = cache.lock();
        let _ = open.send(()); // the host function now runs into the lock
        sync(&s, mode)
    });
    cuda(s.synchronize())?;
    expect(
        mode,
        &[out],
        "lockgraph: potential deadlock",
        &["gpu-s2", "Mutex `gpu-s2-cache`", "host fn enqueued at"],
    )
}

/// Scenario 5: two threads, two streams, crossed locks. Potential.
fn s5<B: Backend>(ctx: &Context<B>, mode: Mode) -> Check {
    let s1 = Arc::new(cuda(ctx.new_stream("gpu-s5-first"))?);
    let s2 = Arc::new(cuda(ctx.new_stream("gpu-s5-second"))?);
    let a = Arc::new(Mutex::named("gpu-s5-a", ()));
    let b = Arc::new(Mutex::named("gpu-s5-b", ()));
    let both = Arc::new(Barrier::new(2));
    // A thread holds `mine`, enqueues on `s` a host function needing
    // `theirs`, waits for the other thread to do the same, synchronizes.
    // Both locks are taken before either host function is enqueued (the bad
    // timing, forced); timed, each thread keeps its lock until both
    // synchronizes returned, so neither stream drains before the deadlines.
    let side = move |s: Arc<Stream<B>>,
                     mine: Arc<Mutex<()>>,
                     theirs: Arc<Mutex<()>>,
                     both: Arc<Barrier>| {
        observe(mode, move || {
            let _held = mine.lock();
            both.wait();
            let t = Arc::clone(&theirs);
            let launched = s.launch_host_fn(HostFn::new(move || drop(t.lock())).locks(&theirs));
            both.wait();
            let r = launched.and_then(|()| sync(&s, mode));
            if let Mode::Timed = mode {
                both.wait();
            }
            r
        })
    };
    let t2 = {
        let (s2, a, b, both) = (
            Arc::clone(&s2),
            Arc::clone(&a),
            Arc::clone(&b),
            Arc::clone(&both),
        );
        std::thread::Builder::new()
            .name("gpu-s5-t2".into())
            .spawn(move || side(s2, b, a, both))
            .map_err(|e| e.to_string())?
    };
    let first = side(Arc::clone(&s1), Arc::clone(&a), Arc::clone(&b), both);
    let second = t2.join().map_err(|_| "thread t2 panicked".to_string())?;
    cuda(s1.synchronize())?;
    cuda(s2.synchronize())?;
    expect(
        mode,
        &[first, second],
        "lockgraph: potential deadlock",
        // Whichever thread synchronizes second closes the crossed cycle;
        // when it is stopped first (guarded), the other thread's stream may
        // drain before it looks: then one report, through the executor,
        // names both streams and one lock.
        &["gpu-s5-first", "gpu-s5-second", "Mutex `gpu-s5-"],
    )
}

/// A host read of pinned memory an async copy on a stream writes, before
/// the stream was synchronized; then the same after a synchronize (no race).
fn race_check(ctx: &gpu::Context) -> Check {
    let s = cuda(ctx.new_stream("gpu-race"))?;
    let n = 1 << 16;
    let dev = s.raw().clone_htod(&vec![7u32; n]).map_err(drv)?;
    // SAFETY: the pinned buffer is read only after the copy filled it and
    // the stream was synchronized.
    let mut pinned = unsafe { ctx.raw().cuda().alloc_pinned::<u32>(n) }.map_err(drv)?;
    let (dev_b, host_b) = (Buffer::named("gpu-dev"), Buffer::named("gpu-pinned"));
    // A host function holds the stream until the host's read was checked:
    // the copy into pinned memory is really still pending then.
    let (open, gate) = channel::<()>();
    cuda(s.launch_host_fn(HostFn::new(move || {
        let _ = gate.recv_timeout(Duration::from_secs(30));
    })))?;
    let mut res = Ok(());
    let early = race::capture(|| {
        res = s.copy(&host_b, &dev_b, |cs| cs.memcpy_dtoh(&dev, &mut pinned));
        host_b.host_read();
    });
    let _ = open.send(());
    cuda(res)?;
    if early.len() != 1 {
        return Err(format!("expected one race, got {early:#?}"));
    }
    let text = early[0].to_string();
    for needle in [
        "gpu-pinned",
        "gpu-race",
        "host read",
        "async copy `gpu-dev` -> `gpu-pinned`",
    ] {
        if !text.contains(needle) {
            return Err(format!("the race report lacks `{needle}`:\n{text}"));
        }
    }
    println!("  reported:\n{text}");
    let mut res = Ok(());
    let late = race::capture(|| {
        res = s.synchronize();
        host_b.host_read();
    });
    cuda(res)?;
    if !late.is_empty() {
        return Err(format!("a race after the synchronize: {late:#?}"));
    }
    if pinned.as_slice().map_err(drv)?.iter().any(|&x| x != 7) {
        return Err("the copy did not bring the device's data".into());
    }
    Ok(())
}

fn drv(e: cudarc::driver::DriverError) -> String {
    // Formatting the error itself would call into the driver.
    format!("CUDA driver error {:?}", e.0)
}

/// Runs deadlock check `which` timed, then guarded.
fn deadlock_check<B: Backend>(ctx: &Context<B>, which: &str) -> Check {
    let run = |mode| match which {
        "s1" => s1(ctx, mode),
        "s2" => s2(ctx, mode),
        _ => s5(ctx, mode),
    };
    run(Mode::Timed)?;
    // The report is the guard: it unwinds the thread before the untimed
    // synchronize blocks.
    set_on_cycle(OnCycle::Panic);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = run(Mode::Guarded);
    std::panic::set_hook(hook);
    set_on_cycle(OnCycle::Warn);
    r
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let on_sim = args.first().is_some_and(|a| a == "--sim");
    if on_sim {
        args.remove(0);
    }
    let which = args.first().cloned().unwrap_or_default();
    let known: &[&str] = if on_sim {
        &["s1", "s2", "s5"]
    } else {
        &["s1", "s2", "s5", "race"]
    };
    if args.len() != 1 || !known.contains(&which.as_str()) {
        eprintln!("usage: gpu_check [--sim s1|s2|s5] [s1|s2|s5|race]");
        return ExitCode::from(2);
    }
    let name = if on_sim {
        format!("{which} (simulated back end)")
    } else {
        which.clone()
    };
    if !lockgraph::TRACKING {
        eprintln!(
            "gpu_check {name}: built without lock tracking (a release build): nothing to check"
        );
        return ExitCode::from(2);
    }
    let result = if on_sim {
        match sim::Context::new(0) {
            Ok(ctx) => deadlock_check(&ctx, &which),
            Err(e) => Err(format!("no simulated context: {e}")),
        }
    } else {
        if !driver_present() {
            eprintln!("gpu_check {name}: SKIPPED: no CUDA driver (libcuda could not be loaded)");
            return ExitCode::from(3);
        }
        let ctx = match gpu::Context::new(0) {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "gpu_check {name}: SKIPPED: the CUDA driver is present but device 0 is not usable: {e}"
                );
                return ExitCode::from(3);
            }
        };
        println!("gpu_check {name}: on device 0");
        match which.as_str() {
            "race" => race_check(&ctx),
            _ => deadlock_check(&ctx, &which),
        }
    };
    match result {
        Ok(()) => {
            println!("gpu_check {name}: ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gpu_check {name}: FAILED: {e}");
            ExitCode::from(1)
        }
    }
}
