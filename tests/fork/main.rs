//! `fork()` while other threads use lockgraph: the child process can lock
//! (lockgraph's own locks are not left held by threads that do not exist in
//! the child), and the watchdog and the reporter keep working there.
//! Each case runs in a child process with a deadline (`lockgraph_testkit`),
//! with the lock-order graph on (`LOCKGRAPH_ORDER=on`, also in a
//! `watchdog-in-release` build).
#![cfg(all(
    target_os = "linux",
    any(debug_assertions, feature = "track-in-release")
))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, spawn_named, END};

mod names;
mod records;

/// The few C library calls a fork test needs (Linux x86-64 and aarch64
/// signatures; `pid_t` is `i32`).
mod sys {
    use std::ffi::c_int;

    pub const WNOHANG: c_int = 1;
    pub const SIGKILL: c_int = 9;

    extern "C" {
        pub fn fork() -> i32;
        pub fn waitpid(pid: i32, status: *mut c_int, options: c_int) -> i32;
        pub fn kill(pid: i32, sig: c_int) -> c_int;
        pub fn _exit(code: c_int) -> !;
        pub fn gettid() -> i32;
    }
}

/// Forks; the child runs `child` and exits with its code (never returning
/// here). Returns the child's pid.
fn fork(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `child` (lockgraph locks, allocation,
    // thread creation: the C library and lockgraph's fork handlers make
    // these usable in the child) and exits with `_exit`, without unwinding
    // or running the parent's exit handlers.
    let pid = unsafe { sys::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: ends the child process; nothing of it runs after.
        unsafe { sys::_exit(code) };
    }
    pid
}

/// Waits for `pid` up to `limit`: `Some(exit status)`, or `None` when it
/// was still running (then it is killed).
fn wait_for(pid: i32, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our child.
        let r = unsafe { sys::waitpid(pid, &mut status, sys::WNOHANG) };
        if r == pid {
            return Some(status);
        }
        if Instant::now() >= end {
            // SAFETY: `pid` is our child, not yet reaped.
            unsafe {
                sys::kill(pid, sys::SIGKILL);
                sys::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A thread that records lock-order edges without pause (two new locks of
/// one class, nested, then dropped: the graph lock on every step) until the
/// flag is set.
fn busy_recorder(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    spawn_named("recorder", move || {
        while !stop.load(Ordering::Relaxed) {
            let a = Mutex::named("fork-recorded", ());
            let b = Mutex::named("fork-recorded", ());
            let _a = a.lock();
            let _b = b.lock();
        }
    })
}

/// Forks up to 40 times while `busy` (started with a stop flag) keeps
/// lockgraph's own locks busy; each child nests two new locks named
/// `names` (so it records an edge) and exits 0. Prints `HUNG n of 40` for
/// the parent test: a child that did not exit within 3 s hung.
fn fork_while(
    busy: fn(Arc<AtomicBool>) -> std::thread::JoinHandle<()>,
    names: (&'static str, &'static str),
) {
    let stop = Arc::new(AtomicBool::new(false));
    let busy = busy(Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(20));
    let mut hung = 0;
    let tries = 40;
    for _ in 0..tries {
        let pid = fork(|| {
            let a = Mutex::named(names.0, ());
            let b = Mutex::named(names.1, ());
            let _a = a.lock();
            let _b = b.lock();
            0
        });
        match wait_for(pid, Duration::from_secs(3)) {
            Some(0) => {}
            Some(status) => panic!("the forked child failed: status {status}"),
            None => hung += 1,
        }
        if hung > 0 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
    println!("HUNG {hung} of {tries}");
}

#[test]
fn child_fork_while_recording() {
    if !is_child() {
        return;
    }
    // New locks, nested: the child records edges (the graph lock).
    fork_while(busy_recorder, ("fork-child-a", "fork-child-b"));
}

#[test]
fn a_child_forked_while_another_thread_records_edges_can_lock() {
    if is_child() {
        return;
    }
    let out = child!(child_fork_while_recording)
        .env("LOCKGRAPH_ORDER", "on")
        .deadline(Duration::from_secs(60))
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(out.stdout.contains("HUNG 0 of 40"), "{}", out.both());
}

#[test]
fn child_watchdog_after_fork() {
    if !is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-fork-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(lockgraph::watchdog::start(
        lockgraph::watchdog::Config::default()
            .timeout(Duration::from_millis(100))
            .scan_period(Duration::from_millis(20))
            .dump_dir(&dir)
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let recorder = busy_recorder(Arc::clone(&stop));
    // A lock held while forking: the child holds it too.
    let outer = Mutex::named("fork-outer", ());
    let _outer = outer.lock();
    std::thread::sleep(Duration::from_millis(50));
    let pid = fork(|| {
        // A long wait in the child: its own watchdog reports it.
        let m = Arc::new(Mutex::named("fork-waited", ()));
        let m2 = Arc::clone(&m);
        let holder = spawn_named("fork-holder", move || {
            let _g = m2.lock();
            std::thread::sleep(Duration::from_millis(600));
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(m.lock());
        holder.join().unwrap();
        // A lock-order cycle in the child, through the child's reporter (on
        // a thread of its own: this one holds `fork-outer`, which would
        // gate the cycle).
        spawn_named("fork-cycle", || {
            let (a, b) = (Mutex::named("fork-a", ()), Mutex::named("fork-b", ()));
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            let _b = b.lock();
            let _a = a.lock();
        })
        .join()
        .unwrap();
        // The watchdog writes its report to the dump directory before it
        // queues it (resolving its stacks takes seconds the first time in a
        // debug build): wait for the file, then for the queue.
        // The child's own file (its pid), with a report line in it.
        let pid = format!("-{}.jsonl", std::process::id());
        let written = || {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    e.file_name().to_string_lossy().ends_with(&pid)
                        && std::fs::read_to_string(e.path()).is_ok_and(|t| {
                            t.contains("\"kind\":\"long_wait\"")
                                || t.contains("\"kind\":\"deadlock\"")
                        })
                })
        };
        let end = Instant::now() + Duration::from_secs(30);
        while !written() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        i32::from(!lockgraph_core::flush_reports(Duration::from_secs(30)))
    });
    let status = wait_for(pid, Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    recorder.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    println!("FORKED {pid} STATUS {status:?}");
}

#[test]
fn the_watchdog_and_the_reporter_work_in_a_forked_child() {
    if is_child() {
        return;
    }
    let out = child!(child_watchdog_after_fork)
        .env("LOCKGRAPH_ORDER", "on")
        .deadline(Duration::from_secs(90))
        .run();
    assert!(out.success(), "{}", out.both());
    let at = out
        .stdout
        .find("FORKED ")
        .unwrap_or_else(|| panic!("{}", out.both()));
    let line = out.stdout[at..].lines().next().unwrap();
    assert!(line.ends_with("STATUS Some(0)"), "{}", out.both());
    let pid: u32 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let e = &out.stderr;
    let wait = e
        .find("LONG WAIT: thread `child_watchdog_after_fork`")
        .unwrap_or_else(|| panic!("no long wait from the child:\n{e}"));
    let report = &e[wait..];
    let report = &report[..report.find(END).unwrap()];
    assert!(report.contains(&format!("(pid {pid})")), "{report}");
    assert!(report.contains("Mutex `fork-waited`"), "{report}");
    // Only the child's own threads: the parent's threads do not exist there.
    assert!(!report.contains("thread `recorder`"), "{report}");
    assert!(e.contains("lock-order cycle through 2 locks"), "{e}");
    assert!(e.contains("Mutex `fork-a`"), "{e}");
}

/// The pid a child printed after `tag` (`CHILD <pid>`).
fn printed_pid(out: &lockgraph_testkit::Output, tag: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.split(tag).nth(1))
        .unwrap_or_else(|| panic!("no {tag}: {}", out.both()))
        .trim()
        .to_string()
}
