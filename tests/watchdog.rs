//! The run-time watchdog. Each case deadlocks (or waits) for real in a child
//! process (this test binary re-run with one `child_*` test selected, by
//! `lockgraph_testkit`); the parent reads the child's stderr (or its JSON
//! dump) until the report is complete or a deadline passes, then kills the
//! child.
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockgraph::watchdog::{self, Config};
use lockgraph::{Condvar, Mutex, ReentrantMutex, RwLock, RwLockUpgradableReadGuard};
use lockgraph_testkit::{child, is_child, spawn_named, Child, END};

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
    spawn_named(name, move || {
        let _f = first.take();
        barrier.wait();
        eprintln!("SITE {name}={}", line!() + 1);
        let _s = second.take();
    })
}

#[test]
fn child_abba() {
    if !is_child() {
        return;
    }
    // Started by LOCKGRAPH_WATCHDOG at the first lock use.
    let x = Arc::new(Mutex::named("lock-x", ()));
    let y = Arc::new(Mutex::named("lock-y", ()));
    let barrier = Arc::new(Barrier::new(2));
    let a = crossing("wd-a", x.clone(), y.clone(), barrier.clone());
    let b = crossing("wd-b", y, x, barrier);
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn a_two_thread_abba_deadlock_is_reported_with_threads_locks_sites_and_cycle() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-abba-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (text, ok) = run_child(
        child!(child_abba),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap()),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("2 threads wait for each other"), "{report}");
    for name in [
        "thread `wd-a`",
        "thread `wd-b`",
        "Mutex `lock-x`",
        "Mutex `lock-y`",
    ] {
        assert!(report.contains(name), "{name} missing:\n{report}");
    }
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    let ab = "thread `wd-a` -> Mutex `lock-y` -> thread `wd-b` -> Mutex `lock-x` -> thread `wd-a`";
    assert!(cycle.ends_with(ab), "{cycle}");
    // Each waiter's own stack, resolved by the watchdog. Optimised builds
    // without debug info inline the test's frames away: only debug builds
    // can name them.
    if cfg!(debug_assertions) {
        assert_eq!(
            report.matches("its stack while waiting:").count(),
            2,
            "{report}"
        );
        assert!(report.contains("watchdog::crossing"), "{report}");
    }
    for name in ["wd-a", "wd-b"] {
        let site = format!("requested at tests/watchdog.rs:{}:", site_line(&text, name));
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
    // Each holder: where it took its lock; each thread: where it is now.
    assert!(
        report.contains("(exclusive), taken at tests/watchdog.rs:"),
        "{report}"
    );
    assert!(report.contains("now: state "), "{report}");
    assert!(!report.contains("LONG WAIT"), "{report}");
    // With the lock-order graph on (the default unless the build has
    // `watchdog-in-release`), the graph saw both edges before the threads
    // blocked (each records its edge before it waits), and reported the cycle.
    let graph = lockgraph::order_graph();
    if !graph {
        assert!(report.contains("lock-order graph: off ("), "{report}");
    }
    assert_eq!(
        report.contains(
            "lock-order graph: it knew this cycle and reported it as a potential deadlock"
        ),
        graph,
        "{report}"
    );
    for (from, to, name) in [("lock-y", "lock-x", "wd-b"), ("lock-x", "lock-y", "wd-a")] {
        if !graph {
            break;
        }
        let step = format!(
            "Mutex `{from}` -> Mutex `{to}`: first by thread `{name}`, holding since tests/watchdog.rs:"
        );
        let line = report
            .lines()
            .find(|l| l.contains(&step))
            .unwrap_or_else(|| panic!("{step} missing:\n{report}"));
        let site = format!("requested at tests/watchdog.rs:{}:", site_line(&text, name));
        assert!(line.contains(&site), "{site} missing: {line}");
    }
    // The same report as JSON in the dump dir.
    let deadline = Instant::now() + Duration::from_secs(5);
    let json = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "json"))
        });
        if let Some(p) = found {
            break std::fs::read_to_string(p).unwrap();
        }
        assert!(Instant::now() < deadline, "no JSON in {}", dir.display());
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        json.starts_with("{\"lockgraph_watchdog\":1,\"kind\":\"deadlock\""),
        "{json}"
    );
    for needle in [
        "\"name\":\"wd-a\"",
        "\"name\":\"wd-b\"",
        "\"name\":\"lock-x\"",
        "\"cycle\":",
    ] {
        assert!(json.contains(needle), "{needle} missing: {json}");
    }
    let order: &[&str] = if graph {
        &[
            "\"order\":{\"graph_on\":true,\"reported\":true,\"edges\":[{\"from\":",
            "\"first\":{\"thread\":\"wd-a\",\"held_at\":\"tests/watchdog.rs:",
        ]
    } else {
        &["\"order\":{\"graph_on\":false,\"reported\":false,\"edges\":[{\"from\":"]
    };
    for needle in order {
        assert!(json.contains(needle), "{needle} missing: {json}");
    }
}

#[test]
fn child_abba_then_graph_off() {
    if !is_child() {
        return;
    }
    // Two scans (the least a deadlock needs) take a second: the graph is
    // turned off long before, once both threads recorded their edges.
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_millis(300))
            .scan_period(Duration::from_millis(500))
    ));
    let before = lockgraph::stats().class_edges;
    let x = Arc::new(Mutex::named("off-x", ()));
    let y = Arc::new(Mutex::named("off-y", ()));
    let barrier = Arc::new(Barrier::new(2));
    let a = crossing("wd-a", x.clone(), y.clone(), barrier.clone());
    let b = crossing("wd-b", y, x, barrier);
    while lockgraph::stats().class_edges < before + 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    lockgraph::set_order_graph(false);
    eprintln!("GRAPH OFF");
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn edges_recorded_before_the_graph_was_turned_off_still_give_the_order_context() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba_then_graph_off),
        &[("LOCKGRAPH_ORDER", "on")],
        Duration::from_secs(20),
        // Long waits are reported at the first scan: wait for the end of
        // the deadlock report itself.
        |t| t.find("DEADLOCK").is_some_and(|i| t[i..].contains(END)),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let off = text
        .find("GRAPH OFF")
        .expect("the child did not turn the graph off");
    let at = text.find("lockgraph watchdog: DEADLOCK").unwrap();
    assert!(off < at, "{text}");
    let report = &text[at..];
    assert!(report.contains("lock-order graph: off ("), "{report}");
    assert!(
        report.contains(
            "lock-order graph: it knew this cycle and reported it as a potential deadlock"
        ),
        "{report}"
    );
    assert_eq!(report.matches(": first by thread `").count(), 2, "{report}");
}

#[test]
fn with_the_order_graph_off_a_deadlock_is_still_found_and_says_the_graph_was_off() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba),
        &[("LOCKGRAPH_WATCHDOG", "300ms"), ("LOCKGRAPH_ORDER", "off")],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let ab = "cycle: thread `wd-a` -> Mutex `lock-y` -> thread `wd-b` -> Mutex `lock-x` -> thread `wd-a`";
    assert!(report.contains(ab), "{report}");
    assert!(
        report.contains("lock-order graph: off (LOCKGRAPH_ORDER=off"),
        "{report}"
    );
    assert!(
        report.contains("no edge of this cycle was recorded"),
        "{report}"
    );
    assert!(!report.contains("first by thread"), "{report}");
    for name in ["wd-a", "wd-b"] {
        let site = format!("requested at tests/watchdog.rs:{}:", site_line(&text, name));
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
}

#[test]
fn a_deadlock_the_order_graph_could_not_record_says_which_edge_is_missing() {
    if is_child() {
        return;
    }
    // One class edge at most: the second thread's edge is never recorded.
    // Stacks on: the recorded edge shows the stack it was recorded with.
    let (text, ok) = run_child(
        child!(child_abba),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_MAX_EDGES", "1"),
            ("LOCKGRAPH_BACKTRACE", "1"),
            ("LOCKGRAPH_ORDER", "on"),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(
        report.contains("lock-order graph: 1 of the cycle's 2 edges were never recorded"),
        "{report}"
    );
    assert_eq!(report.matches(": never recorded").count(), 1, "{report}");
    assert_eq!(report.matches(": first by thread `").count(), 1, "{report}");
    // Optimised builds without debug info inline the test's frames away
    // (nothing of the program's own is left to show).
    if cfg!(debug_assertions) {
        let then = report
            .find("its stack then:")
            .unwrap_or_else(|| panic!("no stack for the recorded edge:\n{report}"));
        let frame = report[then..].lines().nth(1).unwrap_or("");
        assert!(frame.contains("watchdog::crossing"), "{report}");
    }
}

#[test]
fn child_three_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let l: Vec<Arc<Mutex<()>>> = ["lock-1", "lock-2", "lock-3"]
        .into_iter()
        .map(|n| Arc::new(Mutex::named(n, ())))
        .collect();
    let barrier = Arc::new(Barrier::new(3));
    let names = ["wd-1", "wd-2", "wd-3"];
    let handles: Vec<_> = (0..3)
        .map(|i| {
            crossing(
                names[i],
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

#[test]
fn a_three_thread_cycle_is_reported_whole() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_three_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("3 threads wait for each other"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-1` -> Mutex `lock-2` -> thread `wd-2` -> Mutex `lock-3` -> \
             thread `wd-3` -> Mutex `lock-1` -> thread `wd-1`"
        ),
        "{cycle}"
    );
    for name in ["wd-1", "wd-2", "wd-3"] {
        let site = format!("requested at tests/watchdog.rs:{}:", site_line(&text, name));
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
}

#[test]
fn child_rwlock_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("table", ()));
    let m = Arc::new(Mutex::named("index", ()));
    let barrier = Arc::new(Barrier::new(2));
    let reader = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-reader", move || {
            let _r = r.read();
            barrier.wait();
            eprintln!("SITE wd-reader={}", line!() + 1);
            let _m = m.lock();
        })
    };
    let writer = spawn_named("wd-writer", move || {
        let _m = m.lock();
        barrier.wait();
        eprintln!("SITE wd-writer={}", line!() + 1);
        let _w = r.write();
    });
    reader.join().unwrap();
    writer.join().unwrap();
}

#[test]
fn a_writer_blocked_behind_a_reader_that_waits_for_it_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_rwlock_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(
        report.contains("waits for RwLock `table` (write)"),
        "{report}"
    );
    assert!(
        report.contains("waits for Mutex `index` (exclusive)"),
        "{report}"
    );
    // The reader counts as a holder.
    assert!(
        report.contains("RwLock `table` (shared), taken at"),
        "{report}"
    );
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-reader` -> Mutex `index` -> thread `wd-writer` -> RwLock `table` -> \
             thread `wd-reader`"
        ),
        "{cycle}"
    );
    for name in ["wd-reader", "wd-writer"] {
        let site = format!("requested at tests/watchdog.rs:{}:", site_line(&text, name));
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
}

#[test]
fn child_long_hold() {
    if !is_child() {
        return;
    }
    start(300);
    let m = Arc::new(Mutex::named("slow-lock", ()));
    let held = Arc::new(Barrier::new(2));
    let holder = {
        let (m, held) = (m.clone(), held.clone());
        spawn_named("wd-holder", move || {
            let _g = m.lock();
            held.wait();
            std::thread::sleep(Duration::from_secs(30));
        })
    };
    held.wait();
    let waiter = spawn_named("wd-waiter", move || {
        eprintln!("SITE wd-waiter={}", line!() + 1);
        let _g = m.lock();
    });
    waiter.join().unwrap();
    holder.join().unwrap();
}

#[test]
fn a_long_hold_is_a_long_wait_not_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(child!(child_long_hold), &[], Duration::from_secs(20), |t| {
        t.contains("LONG WAIT") && t.contains(END)
    });
    assert!(ok, "no long-wait report in time:\n{text}");
    assert!(!text.contains("DEADLOCK"), "{text}");
    let report = &text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..];
    assert!(
        report.contains("thread `wd-waiter` has waited")
            && report.contains("for Mutex `slow-lock`"),
        "{report}"
    );
    let site = format!(
        "requested at tests/watchdog.rs:{}:",
        site_line(&text, "wd-waiter")
    );
    assert!(report.contains(&site), "{site} missing:\n{report}");
    // The holder, where it took the lock, and what it does now (sleeping).
    assert!(report.contains("thread `wd-holder`"), "{report}");
    assert!(
        report.contains("Mutex `slow-lock` (exclusive), taken at tests/watchdog.rs:"),
        "{report}"
    );
    assert!(report.contains("now: state S"), "{report}");
    // The waiter's own stack, resolved by the watchdog.
    if cfg!(debug_assertions) {
        assert!(report.contains("its stack while waiting:"), "{report}");
        assert!(report.contains("child_long_hold"), "{report}");
    }
    // Reported once per wait.
    assert_eq!(text.matches("LONG WAIT").count(), 1, "{text}");
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

/// Where the holder of `child_holder_now` sits, holding its lock: the frame
/// its current stack must show. A signal can cut a sleep short (`EINTR`);
/// the loop sleeps again.
#[inline(never)]
fn holder_parks_here_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        std::hint::black_box(());
    }
}

#[test]
fn child_holder_now() {
    if !is_child() {
        return;
    }
    start(300);
    let m = Arc::new(Mutex::named("parked-lock", ()));
    let held = Arc::new(Barrier::new(2));
    {
        let (m, held) = (m.clone(), held.clone());
        spawn_named("wd-parked", move || {
            let _g = m.lock();
            held.wait();
            holder_parks_here_forever()
        });
    }
    held.wait();
    let waiter = spawn_named("wd-stuck", move || {
        let _g = m.lock();
    });
    waiter.join().unwrap();
}

#[test]
fn a_long_hold_report_shows_where_the_holder_is_now() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-now-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (text, ok) = run_child(
        child!(child_holder_now),
        &[("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())],
        Duration::from_secs(20),
        |t| t.contains("LONG WAIT") && t.contains(END),
    );
    assert!(ok, "no long-wait report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..];
    let holder = thread_section(report, "wd-parked");
    assert!(
        holder.contains("Mutex `parked-lock` (exclusive)"),
        "{holder}"
    );
    // The kernel's view is always there.
    assert!(holder.contains("now: state "), "{holder}");
    // The waiter is not signalled: its own stack is in the report.
    let waiter = thread_section(report, "wd-stuck");
    assert!(!waiter.contains("now at"), "{waiter}");
    let json = read_json(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    match watchdog::current_stack_support() {
        Ok(()) => {
            // The holder's current stack, captured by signal: the function
            // it sits in (named in debug builds only: optimised builds
            // without debug info lose it).
            assert!(holder.contains("now at (its current stack):"), "{holder}");
            assert!(!holder.contains("not captured"), "{holder}");
            assert!(
                json.contains("\"stack_now\":{\"source\":\"stack\""),
                "{json}"
            );
            if cfg!(debug_assertions) {
                let frames = &holder[holder.find("now at (its current stack):").unwrap()..];
                assert!(frames.contains("holder_parks_here_forever"), "{holder}");
                assert!(json.contains("holder_parks_here_forever"), "{json}");
            }
        }
        Err(why) => {
            // No capture here: the report says so, and why.
            let line = format!("now at: current stack not captured ({why})");
            assert!(holder.contains(&line), "{line} missing:\n{holder}");
            assert!(
                json.contains("\"stack_now\":{\"source\":\"proc\""),
                "{json}"
            );
        }
    }
}

#[test]
fn with_remote_stacks_off_a_holder_is_shown_by_its_proc_state_only() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_holder_now),
        &[("LOCKGRAPH_REMOTE_STACKS", "off")],
        Duration::from_secs(20),
        |t| t.contains("LONG WAIT") && t.contains(END),
    );
    assert!(ok, "no long-wait report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..];
    let holder = thread_section(report, "wd-parked");
    assert!(!holder.contains("now at (its current stack)"), "{holder}");
    assert!(!holder.contains("holder_parks_here_forever"), "{holder}");
    if cfg!(target_os = "linux") {
        assert!(
            holder.contains(
                "now at: current stack not captured (remote stack capture is off \
                 (LOCKGRAPH_REMOTE_STACKS=off)); showing the /proc state (`now:`) only"
            ),
            "{holder}"
        );
        assert!(holder.contains("now: state S"), "{holder}");
    } else {
        assert!(
            holder.contains("now at: current stack not captured ("),
            "{holder}"
        );
    }
}

/// The first JSON report written to `dir` (waits up to 5 s for it).
fn read_json(dir: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = std::fs::read_dir(dir).ok().and_then(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "json"))
        });
        if let Some(p) = found {
            return std::fs::read_to_string(p).unwrap();
        }
        assert!(Instant::now() < deadline, "no JSON in {}", dir.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn child_blocking_call() {
    if !is_child() {
        return;
    }
    start(300);
    let (_tx, rx) = std::sync::mpsc::channel::<()>();
    let g = Mutex::named("guarded", ());
    let _g = g.lock();
    eprintln!("SITE blocking={}", line!() + 1);
    let _ = lockgraph::blocking("channel recv", || rx.recv_timeout(Duration::from_secs(30)));
}

#[test]
fn a_long_blocking_call_is_reported_with_the_locks_held() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_blocking_call),
        &[],
        Duration::from_secs(20),
        |t| t.contains("LONG WAIT") && t.contains(END),
    );
    assert!(ok, "no long-wait report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..];
    assert!(
        report.contains("for blocking call `channel recv`"),
        "{report}"
    );
    let site = format!(
        "requested at tests/watchdog.rs:{}:",
        site_line(&text, "blocking")
    );
    assert!(report.contains(&site), "{site} missing:\n{report}");
    assert!(report.contains("Mutex `guarded` (exclusive)"), "{report}");
}

#[test]
fn child_busy() {
    if !is_child() {
        return;
    }
    start(1000);
    let m = Arc::new(Mutex::named("hot", 0u64));
    let stop = Instant::now() + Duration::from_secs(2);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let m = m.clone();
            spawn_named(&format!("wd-busy-{i}"), move || {
                let mut n = 0u64;
                while Instant::now() < stop {
                    let mut g = m.lock();
                    *g += 1;
                    n += 1;
                    std::hint::black_box(&mut *g);
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    // Let the watchdog scan a few more times after the work.
    std::thread::sleep(Duration::from_millis(300));
    eprintln!("BUSY-DONE {total}");
}

#[test]
fn a_busy_progressing_workload_gives_no_report() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(child!(child_busy), &[], Duration::from_secs(30), |t| {
        t.contains("BUSY-DONE")
    });
    assert!(ok, "the busy child did not finish:\n{text}");
    assert!(!text.contains("lockgraph watchdog"), "{text}");
}

#[test]
fn child_dump_on_sigusr2() {
    if !is_child() {
        return;
    }
    assert!(watchdog::start(
        Config::default()
            .scan_period(Duration::from_millis(50))
            .dump_on_sigusr2(true)
    ));
    let m = Mutex::named("dumped", ());
    let _g = m.lock();
    let pid = std::process::id().to_string();
    let st = Command::new("kill").args(["-USR2", &pid]).status().unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn sigusr2_prints_a_dump_of_every_threads_locks() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_dump_on_sigusr2),
        &[],
        Duration::from_secs(20),
        |t| t.contains("-- end of lockgraph dump --"),
    );
    assert!(ok, "no dump in time:\n{text}");
    assert!(text.contains("lockgraph dump (pid"), "{text}");
    assert!(
        text.contains("Mutex `dumped` (exclusive), taken at tests/watchdog.rs:"),
        "{text}"
    );
    // The holder (the child's test thread, asleep) with its current stack.
    if watchdog::current_stack_support().is_ok() {
        assert!(text.contains("now at (its current stack):"), "{text}");
        if cfg!(debug_assertions) {
            assert!(text.contains("child_dump_on_sigusr2"), "{text}");
        }
    } else {
        assert!(
            text.contains("now at: current stack not captured ("),
            "{text}"
        );
    }
}

#[test]
fn child_reentrant_abba() {
    if !is_child() {
        return;
    }
    start(300);
    let x = Arc::new(ReentrantMutex::named("re-x", ()));
    let y = Arc::new(ReentrantMutex::named("re-y", ()));
    let barrier = Arc::new(Barrier::new(2));
    let a = crossing("wd-re-a", x.clone(), y.clone(), barrier.clone());
    let b = crossing("wd-re-b", y, x, barrier);
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn a_reentrant_mutex_abba_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_reentrant_abba),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("2 threads wait for each other"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-re-a` -> ReentrantMutex `re-y` -> thread `wd-re-b` -> \
             ReentrantMutex `re-x` -> thread `wd-re-a`"
        ),
        "{cycle}"
    );
    assert!(
        report.contains("waits for ReentrantMutex `re-y` (exclusive)"),
        "{report}"
    );
    for name in ["wd-re-a", "wd-re-b"] {
        let site = format!("requested at tests/watchdog.rs:{}:", site_line(&text, name));
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
}

#[test]
fn child_upgrade_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("up-table", ()));
    let m = Arc::new(Mutex::named("up-index", ()));
    let barrier = Arc::new(Barrier::new(2));
    let upgrader = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-upgrader", move || {
            let _m = m.lock();
            let up = r.upgradable_read();
            barrier.wait();
            // Waits for the reader's read, which waits for `up-index`.
            let _w = RwLockUpgradableReadGuard::upgrade(up);
        })
    };
    let reader = spawn_named("wd-up-reader", move || {
        let _r = r.read();
        barrier.wait();
        eprintln!("SITE wd-up-reader={}", line!() + 1);
        let _m = m.lock();
    });
    upgrader.join().unwrap();
    reader.join().unwrap();
}

#[test]
fn an_upgrade_waiting_for_a_reader_that_waits_for_it_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_upgrade_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("2 threads wait for each other"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-up-reader` -> Mutex `up-index` -> thread `wd-upgrader` -> \
             upgrade of RwLock `up-table` -> thread `wd-up-reader`"
        ),
        "{cycle}"
    );
    assert!(
        report.contains("waits for upgrade of RwLock `up-table` for"),
        "{report}"
    );
    assert!(
        report.contains("waits for Mutex `up-index` (exclusive)"),
        "{report}"
    );
    // Both hold the table: the upgrader as an upgradable read, the reader
    // as a read; the upgrader holds the index.
    assert!(
        thread_section(report, "wd-upgrader")
            .contains("RwLock `up-table` (upgradable read), taken at"),
        "{report}"
    );
    assert!(
        thread_section(report, "wd-up-reader").contains("RwLock `up-table` (shared), taken at"),
        "{report}"
    );
    assert!(
        report.contains("Mutex `up-index` (exclusive), taken at"),
        "{report}"
    );
    let site = format!(
        "requested at tests/watchdog.rs:{}:",
        site_line(&text, "wd-up-reader")
    );
    assert!(report.contains(&site), "{site} missing:\n{report}");
    if cfg!(debug_assertions) {
        assert!(report.contains("child_upgrade_cycle"), "{report}");
    }
    assert!(!report.contains("LONG WAIT"), "{report}");
}

/// The reports in `text`, each from its first line to its end line.
fn reports(text: &str) -> Vec<&str> {
    text.match_indices("lockgraph watchdog: ")
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            rest.find(END).map(|end| &rest[..end + END.len()])
        })
        .collect()
}

/// Every JSON report written to `dir`, concatenated.
fn all_json(dir: &std::path::Path) -> String {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn child_upgradable_read_behind_an_upgradable_holder() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("upg-table", ()));
    let m = Arc::new(Mutex::named("upg-index", ()));
    let held = Arc::new(Barrier::new(2));
    // Holds the upgradable read and sleeps: it waits for nobody.
    let holder = {
        let (r, held) = (r.clone(), held.clone());
        spawn_named("wd-upg-holder", move || {
            let _u = r.upgradable_read();
            held.wait();
            std::thread::sleep(Duration::from_secs(30));
        })
    };
    held.wait();
    let barrier = Arc::new(Barrier::new(2));
    // Reads the table, then waits for the index.
    let reader = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-upg-reader", move || {
            let _r = r.read();
            barrier.wait();
            let _m = m.lock();
        })
    };
    // Holds the index, then waits for an upgradable read of the table: the
    // upgradable holder keeps it out, the reader does not.
    let waiter = spawn_named("wd-upg-waiter", move || {
        let _m = m.lock();
        barrier.wait();
        eprintln!("SITE wd-upg-waiter={}", line!() + 1);
        let _u = r.upgradable_read();
    });
    reader.join().unwrap();
    waiter.join().unwrap();
    holder.join().unwrap();
}

#[test]
fn an_upgradable_read_waits_for_the_upgradable_holder_not_for_readers() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-upg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Both waits pass the 300 ms timeout: two long-wait reports, after six
    // scans or more, by which time a cycle (reported after two) would have
    // been reported.
    let (text, ok) = run_child(
        child!(child_upgradable_read_behind_an_upgradable_holder),
        &[("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") || reports(t).len() >= 2,
    );
    assert!(ok, "no long-wait reports in time:\n{text}");
    assert!(!text.contains("DEADLOCK"), "a false deadlock:\n{text}");
    let all = reports(&text);
    assert!(all.iter().all(|r| r.contains("LONG WAIT")), "{text}");
    // The upgradable read waits for the upgradable holder only.
    let upg = all
        .iter()
        .find(|r| r.contains("LONG WAIT: thread `wd-upg-waiter`"))
        .unwrap_or_else(|| panic!("no long wait of wd-upg-waiter:\n{text}"));
    assert!(upg.contains("for RwLock `upg-table`"), "{upg}");
    assert!(
        thread_section(upg, "wd-upg-waiter").contains("(upgradable read)"),
        "{upg}"
    );
    let site = format!(
        "requested at tests/watchdog.rs:{}:",
        site_line(&text, "wd-upg-waiter")
    );
    assert!(upg.contains(&site), "{site} missing:\n{upg}");
    assert!(
        thread_section(upg, "wd-upg-holder")
            .contains("RwLock `upg-table` (upgradable read), taken at tests/watchdog.rs:"),
        "{upg}"
    );
    assert!(!upg.contains("thread `wd-upg-reader`"), "{upg}");
    // The reader waits for the index's holder.
    let read = all
        .iter()
        .find(|r| r.contains("LONG WAIT: thread `wd-upg-reader`"))
        .unwrap_or_else(|| panic!("no long wait of wd-upg-reader:\n{text}"));
    assert!(read.contains("for Mutex `upg-index`"), "{read}");
    assert!(
        thread_section(read, "wd-upg-reader").contains("RwLock `upg-table` (shared), taken at"),
        "{read}"
    );
    assert!(
        thread_section(read, "wd-upg-waiter").contains("Mutex `upg-index` (exclusive)"),
        "{read}"
    );
    // The JSON reports name the upgradable hold too.
    let json = all_json(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        json.contains("\"hold\":\"upgradable read\""),
        "no upgradable hold in the JSON: {json}"
    );
}

#[test]
fn child_upgradable_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("upg-cycle", ()));
    let m = Arc::new(Mutex::named("upg-lock", ()));
    let held = Arc::new(Barrier::new(2));
    // A plain reader of the table that sleeps: not part of the cycle.
    let plain = {
        let (r, held) = (r.clone(), held.clone());
        spawn_named("wd-upg-plain", move || {
            let _r = r.read();
            held.wait();
            std::thread::sleep(Duration::from_secs(30));
        })
    };
    held.wait();
    let barrier = Arc::new(Barrier::new(2));
    let owner = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-upg-owner", move || {
            let _u = r.upgradable_read();
            barrier.wait();
            let _m = m.lock();
        })
    };
    let asker = spawn_named("wd-upg-asker", move || {
        let _m = m.lock();
        barrier.wait();
        let _u = r.upgradable_read();
    });
    owner.join().unwrap();
    asker.join().unwrap();
    plain.join().unwrap();
}

#[test]
fn an_upgradable_read_waiting_for_an_upgradable_holder_that_waits_for_it_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_upgradable_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("2 threads wait for each other"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-upg-asker` -> RwLock `upg-cycle` -> thread `wd-upg-owner` -> \
             Mutex `upg-lock` -> thread `wd-upg-asker`"
        ),
        "{cycle}"
    );
    assert!(
        report.contains("waits for RwLock `upg-cycle` (upgradable read)"),
        "{report}"
    );
    assert!(
        thread_section(report, "wd-upg-owner")
            .contains("RwLock `upg-cycle` (upgradable read), taken at"),
        "{report}"
    );
    // The plain reader keeps no upgradable read out.
    assert!(!report.contains("wd-upg-plain"), "{report}");
}

#[test]
fn child_read_then_upgradable_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("rtu-table", ()));
    let m = Arc::new(Mutex::named("rtu-lock", ()));
    let barrier = Arc::new(Barrier::new(2));
    let owner = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-rtu-owner", move || {
            // A read, then an upgradable read of the same lock; the read is
            // released first: the thread still holds the upgradable read.
            let read = r.read();
            let _u = r.upgradable_read();
            drop(read);
            barrier.wait();
            let _m = m.lock();
        })
    };
    let asker = spawn_named("wd-rtu-asker", move || {
        let _m = m.lock();
        barrier.wait();
        let _u = r.upgradable_read();
    });
    owner.join().unwrap();
    asker.join().unwrap();
}

#[test]
fn an_upgradable_read_kept_after_an_earlier_read_was_released_still_keeps_others_out() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_read_then_upgradable_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-rtu-asker` -> RwLock `rtu-table` -> thread `wd-rtu-owner` -> \
             Mutex `rtu-lock` -> thread `wd-rtu-asker`"
        ),
        "{cycle}"
    );
    assert!(
        thread_section(report, "wd-rtu-owner")
            .contains("RwLock `rtu-table` (upgradable read), taken at"),
        "{report}"
    );
}

#[test]
fn child_upgrade_holding_a_read() {
    if !is_child() {
        return;
    }
    start(300);
    let r = RwLock::named("self-upg", ());
    let t = spawn_named("wd-self-upg", move || {
        let _read = r.read();
        let u = r.upgradable_read();
        let _w = RwLockUpgradableReadGuard::upgrade(u); // waits for its own read
    });
    t.join().unwrap();
}

#[test]
fn an_upgrade_by_a_thread_that_also_reads_the_lock_is_a_deadlock_with_itself() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_upgrade_holding_a_read),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-self-upg` -> upgrade of RwLock `self-upg` -> thread `wd-self-upg`"
        ),
        "{cycle}"
    );
    let me = thread_section(report, "wd-self-upg");
    assert!(
        me.contains("waits for upgrade of RwLock `self-upg`"),
        "{report}"
    );
    assert!(
        me.contains("RwLock `self-upg` (shared), taken at"),
        "{report}"
    );
    assert!(
        me.contains("RwLock `self-upg` (upgradable read), taken at"),
        "{report}"
    );
}

#[test]
fn child_timed_waits() {
    if !is_child() {
        return;
    }
    start(300);
    let m = Arc::new(Mutex::named("timed-lock", ()));
    let r = Arc::new(RwLock::named("timed-table", ()));
    let held = Arc::new(Barrier::new(2));
    let _holder = {
        let (m, r, held) = (m.clone(), r.clone(), held.clone());
        spawn_named("wd-timed-holder", move || {
            let _g = m.lock();
            let _r = r.read();
            held.wait();
            std::thread::sleep(Duration::from_secs(30));
        })
    };
    held.wait();
    // Longer than the watchdog's timeout: reported, and still false at its deadline.
    let t = Instant::now();
    eprintln!("SITE wd-timed={}", line!() + 1);
    let got = m.try_lock_for(Duration::from_millis(1500)).is_some();
    eprintln!("TIMED lock {got} {}", t.elapsed().as_millis());
    // An upgrade that times out leaves the upgradable read held (its limit
    // is below the timeout: never reported).
    let up = r.upgradable_read();
    let t = Instant::now();
    let up = match RwLockUpgradableReadGuard::try_upgrade_for(up, Duration::from_millis(200)) {
        Ok(_) => panic!("upgraded past a reader"),
        Err(up) => up,
    };
    eprintln!("TIMED upgrade false {}", t.elapsed().as_millis());
    assert!(r.try_write().is_none() && r.try_upgradable_read().is_none());
    drop(up);
    assert!(r.try_upgradable_read().is_some());
    // A timed write that gets the lock when its holder lets go.
    let w = Arc::new(RwLock::named("timed-handoff", ()));
    let g = w.read();
    let t = Instant::now();
    let got = std::thread::scope(|s| {
        let waiter = s.spawn(|| w.try_write_for(Duration::from_secs(10)).is_some());
        std::thread::sleep(Duration::from_millis(200));
        drop(g);
        waiter.join().unwrap()
    });
    eprintln!("TIMED handoff {got} {}", t.elapsed().as_millis());
    // Until killed: the report may still be on its way.
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn a_long_timed_wait_is_reported_and_still_gives_up_at_its_deadline() {
    if is_child() {
        return;
    }
    // The report can come after the child's last line (resolving the
    // waiter's stack the first time is slow on a loaded machine): the child
    // sleeps until killed.
    let (text, ok) = run_child(
        child!(child_timed_waits),
        &[],
        Duration::from_secs(20),
        |t| t.contains("TIMED handoff") && t.contains(END),
    );
    assert!(ok, "the timed child did not finish:\n{text}");
    let ms = |what: &str| -> (bool, u64) {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("TIMED {what} ")))
            .unwrap();
        let mut words = line.split_whitespace().skip(2);
        let got = words.next().unwrap().parse().unwrap();
        (got, words.next().unwrap().parse().unwrap())
    };
    // try_lock_for keeps its meaning: false after about its timeout.
    let (got, took) = ms("lock");
    assert!(!got && (1500..2500).contains(&took), "{got} {took}\n{text}");
    let (_, took) = ms("upgrade");
    assert!((200..1200).contains(&took), "{took}\n{text}");
    let (got, took) = ms("handoff");
    assert!(got && (200..2000).contains(&took), "{got} {took}\n{text}");
    // The long timed wait is reported once, as a timed wait, with its holder.
    assert_eq!(text.matches("LONG WAIT").count(), 1, "{text}");
    let report = &text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..];
    assert!(
        report.contains("has waited") && report.contains("for Mutex `timed-lock`"),
        "{report}"
    );
    assert!(
        report.contains("waits for Mutex `timed-lock` (exclusive, timed: gives up after 1.5s)"),
        "{report}"
    );
    let site = format!(
        "requested at tests/watchdog.rs:{}:",
        site_line(&text, "wd-timed")
    );
    assert!(report.contains(&site), "{site} missing:\n{report}");
    assert!(report.contains("thread `wd-timed-holder`"), "{report}");
    assert!(
        report.contains("Mutex `timed-lock` (exclusive), taken at"),
        "{report}"
    );
}

#[test]
fn child_condvar_wait() {
    if !is_child() {
        return;
    }
    start(300);
    let outer = Arc::new(Mutex::named("cv-outer", ()));
    let state = Arc::new(Mutex::named("cv-state", false));
    let cv = Arc::new(Condvar::named("cv-ready"));
    let waiter = {
        let (outer, state, cv) = (outer.clone(), state.clone(), cv.clone());
        spawn_named("wd-cv", move || {
            let _o = outer.lock();
            let mut ready = state.lock();
            // Short timed waits (below the timeout) are never reported.
            for _ in 0..3 {
                let _ = cv.wait_for(&mut ready, Duration::from_millis(150));
            }
            while !*ready {
                eprintln!("SITE wd-cv={}", line!() + 1);
                cv.wait(&mut ready);
            }
        })
    };
    // Notify well after the timeout, then keep the mutex: the waiter's
    // re-lock is a long wait too.
    std::thread::sleep(Duration::from_millis(2000));
    let mut ready = state.lock();
    *ready = true;
    cv.notify_one();
    eprintln!("NOTIFIED");
    std::thread::sleep(Duration::from_secs(30));
    drop(ready);
    waiter.join().unwrap();
}

#[test]
fn a_long_condvar_wait_holding_another_lock_is_reported_and_so_is_the_relock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_condvar_wait),
        &[],
        Duration::from_secs(20),
        |t| t.contains("NOTIFIED") && t.matches(END).count() >= 2,
    );
    assert!(ok, "no two long-wait reports in time:\n{text}");
    assert!(!text.contains("DEADLOCK"), "{text}");
    let at = text.find("lockgraph watchdog: LONG WAIT").unwrap();
    let first = &text[at..at + text[at..].find(END).unwrap()];
    // The condvar wait: named as such, with the other lock still held.
    assert!(
        first.contains("thread `wd-cv` has waited")
            && first.contains("for notification on Condvar `cv-ready`"),
        "{first}"
    );
    assert!(
        first.contains("waits for notification on Condvar `cv-ready` for"),
        "{first}"
    );
    let site = format!(
        "requested at tests/watchdog.rs:{}:",
        site_line(&text, "wd-cv")
    );
    assert!(first.contains(&site), "{site} missing:\n{first}");
    assert!(
        first.contains("Mutex `cv-outer` (exclusive), taken at"),
        "{first}"
    );
    // The mutex it waits with is released meanwhile; the short timed waits
    // before were never reported.
    assert!(!first.contains("Mutex `cv-state`"), "{first}");
    assert!(!first.contains("timed"), "{first}");
    // After the notification: the re-lock of `cv-state`, held by the notifier.
    let second = &text[text.find("NOTIFIED").unwrap()..];
    let at = second.find("lockgraph watchdog: LONG WAIT").unwrap();
    let second = &second[at..];
    assert!(
        second.contains("thread `wd-cv` has waited") && second.contains("for Mutex `cv-state`"),
        "{second}"
    );
    assert!(
        second.contains("waits for Mutex `cv-state` (exclusive)"),
        "{second}"
    );
    assert!(second.contains(&site), "{site} missing:\n{second}");
    assert!(
        second.contains("thread `child_condvar_wait`")
            && second.contains("Mutex `cv-state` (exclusive), taken at"),
        "{second}"
    );
    assert_eq!(text.matches("LONG WAIT").count(), 2, "{text}");
}

#[test]
fn child_condvar_timed_wait() {
    if !is_child() {
        return;
    }
    start(300);
    let state = Mutex::named("cvt-state", ());
    let cv = Condvar::named("cvt-ready");
    let mut g = state.lock();
    let t = Instant::now();
    let r = cv.wait_for(&mut g, Duration::from_millis(1200));
    eprintln!(
        "CVT timed_out={} {}",
        r.timed_out(),
        t.elapsed().as_millis()
    );
    // Until killed: the report may still be on its way.
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn a_condvar_timed_wait_longer_than_the_timeout_is_reported_as_timed() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_condvar_timed_wait),
        &[],
        Duration::from_secs(20),
        |t| t.contains("CVT timed_out=") && t.contains(END),
    );
    assert!(ok, "the child did not finish:\n{text}");
    let line = text.lines().find(|l| l.starts_with("CVT ")).unwrap();
    let took: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        line.contains("timed_out=true") && (1200..2200).contains(&took),
        "{line}"
    );
    assert_eq!(text.matches("LONG WAIT").count(), 1, "{text}");
    assert!(
        text.contains("waits for notification on Condvar `cvt-ready` (timed: gives up after 1.2s)"),
        "{text}"
    );
}
