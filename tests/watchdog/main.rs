//! The run-time watchdog. Each case deadlocks (or waits) for real in a child
//! process (this test binary re-run with one `child_*` test selected, by
//! `lockgraph_testkit`); the parent reads the child's stderr (or its JSON
//! dump) until the report is complete or a deadline passes, then kills the
//! child.
//!
//! One test binary, a module per concern; this file holds what they share
//! (the harness's settings, the crossing threads of an ABBA and its child,
//! the readers of a report). Sites that `crossing` takes and requests are
//! in this file; every other child's sites are in its own module's file.
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::watchdog::{self, Config};
use lockgraph::{Mutex, ReentrantMutex};
use lockgraph_testkit::{is_child, spawn_named, Child, END};

mod compat;
mod condvar;
mod deadlock;
mod dump;
mod golden;
mod holder_now;
mod long_wait;
mod order_graph;
mod progress;
mod rwlock;
mod timed;

/// Runs `child` with `LOCKGRAPH_ON_CYCLE=off` and `env`, and collects its
/// stderr until `done` says the text is complete or `deadline` passes; the
/// child is killed either way. Returns the text and whether `done` was
/// reached.
fn run_child(
    child: Child,
    env: &[(&str, &str)],
    deadline: Duration,
    done: impl Fn(&str) -> bool,
) -> (String, bool) {
    let mut child = child.env("LOCKGRAPH_ON_CYCLE", "off").deadline(deadline);
    for (k, v) in env {
        child = child.env(k, v);
    }
    let out = child.run_until(|_, err| done(err));
    (out.stderr, out.done)
}

/// Reads `SITE name=line` lines the child printed.
fn site_line(text: &str, name: &str) -> u32 {
    let key = format!("SITE {name}=");
    let at = text
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in {text}"));
    text[at + key.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn start(timeout_ms: u64) {
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_millis(timeout_ms))
            .scan_period(Duration::from_millis(50))
    ));
}

/// A lock `crossing` can take: its blocking `lock`, at the caller's site.
trait Lock: Send + Sync + 'static {
    #[track_caller]
    fn take(&self) -> impl Sized + '_;
}

impl Lock for Mutex<()> {
    #[track_caller]
    fn take(&self) -> impl Sized + '_ {
        self.lock()
    }
}

impl Lock for ReentrantMutex<()> {
    /// Takes it twice: the re-entry must not hide the hold.
    #[track_caller]
    fn take(&self) -> impl Sized + '_ {
        let first = self.lock();
        (first, self.lock())
    }
}

/// Spawns a named thread that takes `first`, meets the others at `barrier`,
/// then takes `second` (printing the request's line first).
fn crossing<L: Lock>(
    name: &'static str,
    first: Arc<L>,
    second: Arc<L>,
    barrier: Arc<Barrier>,
) -> std::thread::JoinHandle<()> {
    crossing_after(name, first, second, barrier, Duration::ZERO)
}

/// [`crossing`], whose thread waits `lag` after the barrier before it asks
/// for `second`: the other thread's edge is recorded first, and this
/// thread's closes the cycle.
fn crossing_after<L: Lock>(
    name: &'static str,
    first: Arc<L>,
    second: Arc<L>,
    barrier: Arc<Barrier>,
    lag: Duration,
) -> std::thread::JoinHandle<()> {
    spawn_named(name, move || {
        let _f = first.take();
        barrier.wait();
        std::thread::sleep(lag);
        eprintln!("SITE {name}={}", line!() + 1);
        let _s = second.take();
    })
}

/// Three threads `threads[i]`, each taking lock `locks[i]` and then the
/// next one's (a ring), run to their end (a deadlock: until the watchdog's
/// report ends the child).
fn ring_of_three(locks: [&'static str; 3], threads: [&'static str; 3]) {
    let l: Vec<Arc<Mutex<()>>> = locks
        .into_iter()
        .map(|n| Arc::new(Mutex::named(n, ())))
        .collect();
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            crossing(
                threads[i],
                l[i].clone(),
                l[(i + 1) % 3].clone(),
                barrier.clone(),
            )
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// The two-thread ABBA that `deadlock` and `order_graph` run.
#[test]
fn child_abba() {
    if !is_child() {
        return;
    }
    // Started by LOCKGRAPH_WATCHDOG at the first lock use.
    abba_deadlock(["lock-x", "lock-y"], ["wd-a", "wd-b"]);
}

/// Threads `threads[0]` and `threads[1]` take the mutexes named `locks` in
/// opposite orders and deadlock; returns never (joins them). `threads[1]`
/// asks for its second lock 100ms after `threads[0]`: its edge closes the
/// cycle, against the order `threads[0]` set (the watchdog's advice names
/// the order and who breaks it from that).
fn abba_deadlock(locks: [&'static str; 2], threads: [&'static str; 2]) {
    let x = Arc::new(Mutex::named(locks[0], ()));
    let y = Arc::new(Mutex::named(locks[1], ()));
    let barrier = Arc::new(Barrier::new(2));
    let a = crossing(threads[0], x.clone(), y.clone(), barrier.clone());
    let b = crossing_after(threads[1], y, x, barrier, Duration::from_millis(100));
    a.join().unwrap();
    b.join().unwrap();
}

/// The part of `report` about thread `name`: its header line up to the next
/// thread or the end of the report.
fn thread_section<'a>(report: &'a str, name: &str) -> &'a str {
    let head = format!("  thread `{name}` (tid");
    let start = report
        .find(&head)
        .unwrap_or_else(|| panic!("no {head} in\n{report}"));
    let rest = &report[start..];
    let end = rest[1..]
        .find("\n  thread `")
        .map(|e| e + 2)
        .or_else(|| rest.find(END))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The watchdog reports (deadlocks and long waits) in the dump directory
/// `dir`, one JSON object each, in the order written: the lines of the
/// processes' `lockgraph-watchdog-<host>-<pid>.jsonl` files.
fn report_lines(dir: &std::path::Path) -> Vec<String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .filter(|l| {
                    l.starts_with("{\"lockgraph_watchdog\":1,\"kind\":\"deadlock\"")
                        || l.starts_with("{\"lockgraph_watchdog\":1,\"kind\":\"long_wait\"")
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The first report in the dump directory `dir` (waits up to 5 s for it).
fn first_report_line(dir: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(l) = report_lines(dir).into_iter().next() {
            return l;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no report in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// Declared here, not in the list above: the golden files name lines of this
// file (`crossing`'s sites), which a line added above them would move.
mod recording;

// Last, so that the sites above (which golden files quote) keep their lines.
mod pipeline;

// The lean production mode's publication (after the modules whose sites the
// golden files quote).
mod lean;

// Sizes of pipeline resources in reports (after the modules whose sites
// the golden files quote).
mod sizes;

// Waits on a role: a barrier's party on its way, a joined thread running
// (after the modules whose sites the golden files quote).
mod roles;

// A deadlock's threads besides its cycle (after the modules whose sites the
// golden files quote).
mod also;

// Retry loops of timed waits, and other on-call findings (after the modules
// whose sites the golden files quote).
mod oncall;
mod retry_loops;
