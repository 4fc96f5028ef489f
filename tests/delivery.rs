//! Reports reach the user, and reporting never hangs or kills the program:
//! a deadlock after many long waits, a subscriber that takes the program's
//! locks, blocks, panics or filters, stderr locked by another thread, and
//! libtest's output capture. Each case runs in a child process with a
//! deadline (`lockgraph_testkit`), with the lock-order graph on
//! (`LOCKGRAPH_ORDER=on`, also in a `watchdog-in-release` build).
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use lockgraph::watchdog::{self, Config};
use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, spawn_named, END};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Takes `a` then `b`, then `b` then `a`: a lock-order cycle, reported when
/// the second `a` is requested (while `b` is held).
fn abba(a: &Mutex<()>, b: &Mutex<()>) {
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let _b = b.lock();
    let _a = a.lock();
}

/// Two threads that take `x` and `y` in opposite orders and deadlock.
fn deadlock(x: &'static str, y: &'static str) -> std::thread::JoinHandle<()> {
    let x = Arc::new(Mutex::named(x, ()));
    let y = Arc::new(Mutex::named(y, ()));
    let barrier = Arc::new(Barrier::new(2));
    let cross = |name: &str, first: Arc<Mutex<()>>, second: Arc<Mutex<()>>, b: Arc<Barrier>| {
        spawn_named(name, move || {
            let _f = first.lock();
            b.wait();
            let _s = second.lock();
        })
    };
    let a = cross("dl-a", x.clone(), y.clone(), barrier.clone());
    let _b = cross("dl-b", y, x, barrier);
    a
}

/// Holds `locks` locks (`busy-lock`, or `busy-lock-<k>` for several)
/// while `n` threads wait for them, in turn, until the watchdog wrote
/// `reported` reports to the dump directory (`LOCKGRAPH_DUMP_DIR`, set by
/// the parent), then a little longer: `n` long waits, each reported once
/// or suppressed by the rate limit.
fn long_waits(locks: usize, n: usize, reported: usize) {
    let busy: Vec<Arc<Mutex<()>>> = (0..locks)
        .map(|k| match locks {
            1 => Arc::new(Mutex::named("busy-lock", ())),
            _ => Arc::new(Mutex::named(format!("busy-lock-{k}").leak(), ())),
        })
        .collect();
    let held: Vec<_> = busy.iter().map(|b| b.lock()).collect();
    let waiters: Vec<_> = (0..n)
        .map(|i| {
            let busy = Arc::clone(&busy[i % locks]);
            spawn_named(&format!("waiter-{i}"), move || drop(busy.lock()))
        })
        .collect();
    let dir = std::env::var_os("LOCKGRAPH_DUMP_DIR").expect("no LOCKGRAPH_DUMP_DIR");
    // The reports in this process's file (one JSON line each).
    let written = || {
        std::fs::read_dir(&dir).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .map(|t| {
                    t.lines()
                        .filter(|l| {
                            l.contains("\"kind\":\"long_wait\"")
                                || l.contains("\"kind\":\"deadlock\"")
                        })
                        .count()
                })
                .sum::<usize>()
        })
    };
    let end = std::time::Instant::now() + Duration::from_secs(60);
    while written() < reported && std::time::Instant::now() < end {
        std::thread::sleep(ms(10));
    }
    // The scans that decide on the rest (held back) take no time to speak of.
    std::thread::sleep(ms(300));
    drop(held);
    for w in waiters {
        w.join().unwrap();
    }
    eprintln!("LONG WAITS DONE");
}

/// A fresh dump directory for one child.
fn dump_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lockgraph-delivery-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start_watchdog() {
    // Load the debug info now: the first report's stacks would otherwise
    // take seconds to resolve in a debug build, during the scenario.
    let _ = lockgraph::Backtrace::capture().user_frames(1);
    assert!(watchdog::start(
        Config::default().timeout(ms(100)).scan_period(ms(20))
    ));
}

// ---- 1. the rate limit never drops a deadlock ---------------------------------

#[test]
fn child_deadlock_after_many_long_waits() {
    if !is_child() {
        return;
    }
    start_watchdog();
    // 20 long waits on 10 locks: more than the 16 reports a minute the
    // rate limit lets out (2 a lock, 16 in all).
    long_waits(10, 20, 16);
    deadlock("dl-x", "dl-y").join().unwrap();
}

#[test]
fn a_deadlock_is_reported_after_the_long_wait_budget_is_spent() {
    if is_child() {
        return;
    }
    let dir = dump_dir("budget");
    let out = child!(child_deadlock_after_many_long_waits)
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())
        .deadline(Duration::from_secs(30))
        .run_until(|_, e| e.find("DEADLOCK").is_some_and(|i| e[i..].contains(END)));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.timed_out, "no deadlock report:\n{}", out.both());
    let e = &out.stderr;
    assert!(e.contains("LONG WAITS DONE"), "{e}");
    // The long waits are still rate-limited (reports go out in order: all
    // of them were printed before the deadlock).
    assert_eq!(e.matches("LONG WAIT:").count(), 16, "{e}");
    let report = &e[e.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    for needle in [
        "thread `dl-a`",
        "thread `dl-b`",
        "Mutex `dl-x`",
        "Mutex `dl-y`",
    ] {
        assert!(report.contains(needle), "{needle} missing:\n{report}");
    }
}

#[test]
fn child_many_long_waits_then_exit() {
    if !is_child() {
        return;
    }
    start_watchdog();
    // 20 long waits on one lock: 2 reports a minute for it.
    long_waits(1, 20, 2);
}

#[test]
fn suppressed_long_waits_are_counted_per_lock_by_the_end_of_the_process() {
    if is_child() {
        return;
    }
    let dir = dump_dir("exit");
    let out = child!(child_many_long_waits_then_exit)
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())
        .run();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.success(), "{}", out.both());
    let e = &out.stderr;
    assert_eq!(e.matches("LONG WAIT:").count(), 2, "{e}");
    let line = e
        .lines()
        .find(|l| l.contains("suppressed"))
        .unwrap_or_else(|| panic!("no summary of the suppressed reports:\n{e}"));
    assert!(line.contains("18 long-wait reports suppressed"), "{line}");
    assert!(line.contains("Mutex `busy-lock` (18)"), "{line}");
}

#[test]
fn child_long_wait_then_return() {
    if !is_child() {
        return;
    }
    // The debug info is not loaded beforehand: the report's stacks take a
    // while to resolve the first time (most of a second in a debug build),
    // longer than this program has left once the wait is over.
    assert!(watchdog::start(
        Config::default().timeout(ms(50)).scan_period(ms(10))
    ));
    let m = Arc::new(Mutex::named("slow-to-report", ()));
    let held = m.lock();
    let waiter = {
        let m = Arc::clone(&m);
        spawn_named("late-waiter", move || drop(m.lock()))
    };
    // Far past the timeout (50 ms) and a scan (10 ms), for a loaded
    // machine; shorter than the report's stacks take to resolve the first
    // time in a debug build (with 1 s, the report was out before the end).
    std::thread::sleep(ms(600));
    drop(held);
    waiter.join().unwrap();
    eprintln!("CHILD RETURNS");
}

#[test]
fn a_report_still_being_built_when_the_program_ends_is_delivered() {
    if is_child() {
        return;
    }
    let out = child!(child_long_wait_then_return)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .deadline(Duration::from_secs(30))
        .run();
    assert!(out.success(), "{}", out.both());
    let e = &out.stderr;
    assert!(e.contains("CHILD RETURNS"), "{e}");
    let report = e
        .find("LONG WAIT:")
        .map(|i| &e[i..])
        .unwrap_or_else(|| panic!("the long wait was never reported:\n{e}"));
    for needle in ["Mutex `slow-to-report`", "thread `late-waiter`"] {
        assert!(report.contains(needle), "{needle} missing:\n{report}");
    }
}

#[test]
fn child_deadlock_then_return_between_two_scans() {
    if !is_child() {
        return;
    }
    // Scans a second apart: the program returns after the first scan saw
    // the cycle, before the second that makes it a deadlock report.
    let _ = lockgraph::Backtrace::capture().user_frames(1);
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_secs(10))
            .scan_period(Duration::from_secs(1))
    ));
    let _deadlocked = deadlock("exit-x", "exit-y");
    std::thread::sleep(ms(1500));
    eprintln!("CHILD RETURNS");
}

#[test]
fn a_deadlock_seen_once_when_the_program_ends_is_still_reported() {
    if is_child() {
        return;
    }
    let out = child!(child_deadlock_then_return_between_two_scans)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .deadline(Duration::from_secs(30))
        .run();
    assert!(out.success(), "{}", out.both());
    let e = &out.stderr;
    let returned = e.find("CHILD RETURNS").expect(e);
    let report = e
        .find("lockgraph watchdog: DEADLOCK")
        .unwrap_or_else(|| panic!("the deadlock was never reported:\n{e}"));
    assert!(returned < report, "{e}");
    assert!(e[report..].contains("Mutex `exit-x`"), "{e}");
}

#[test]
fn child_slow_subscriber_then_watchdog_abort() {
    if !is_child() {
        return;
    }
    // The lock-order cycle's report is still in the subscriber (which takes
    // 1.5 s over it, less than the abort's 2 s wait) when the watchdog
    // finds the deadlock and aborts.
    slow_subscriber_then_watchdog_abort(ms(1500), "pred-x", "pred-y");
}

/// A subscriber that takes `slow` over a lock-order cycle's report, and a
/// watchdog with the abort action; then the threads of locks `x` and `y`
/// deadlock. A deadlock is reported once its cycle is seen twice, whatever
/// the timeout: a long one keeps a loaded machine's late scan from
/// reporting long waits first.
fn slow_subscriber_then_watchdog_abort(slow: Duration, x: &'static str, y: &'static str) {
    tracing::subscriber::set_global_default(Printing(move |m: &str| {
        if m.contains("potential deadlock") {
            std::thread::sleep(slow);
        }
    }))
    .unwrap();
    let _ = lockgraph::Backtrace::capture().user_frames(1);
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_secs(10))
            .scan_period(ms(20))
            .action(watchdog::Action::Abort)
    ));
    deadlock(x, y).join().unwrap();
}

#[test]
fn a_report_in_the_subscriber_when_the_watchdog_aborts_gets_out_first() {
    if is_child() {
        return;
    }
    let out = child!(child_slow_subscriber_then_watchdog_abort)
        .env("LOCKGRAPH_ORDER", "on")
        .deadline(Duration::from_secs(30))
        .run();
    let e = &out.stderr;
    assert!(!out.success(), "{e}");
    let predicted = e
        .find("SUBSCRIBER GOT: lockgraph: potential deadlock: lock-order cycle")
        .unwrap_or_else(|| panic!("the cycle's report never reached the subscriber:\n{e}"));
    let aborting = e
        .find("lockgraph: aborting")
        .unwrap_or_else(|| panic!("no abort:\n{e}"));
    assert!(predicted < aborting, "{e}");
    assert!(e.contains("lockgraph watchdog: DEADLOCK"), "{e}");
}

#[test]
fn child_stuck_subscriber_then_watchdog_abort() {
    if !is_child() {
        return;
    }
    // The subscriber never returns in time (5 s, past the abort's 2 s wait
    // and the reporter's own 2 s limit): the report it holds is printed
    // once, by whichever of the two gives up first, before the abort.
    slow_subscriber_then_watchdog_abort(ms(5000), "stuck-x", "stuck-y");
}

#[test]
fn a_report_stuck_in_the_subscriber_is_printed_once_before_the_abort() {
    if is_child() {
        return;
    }
    let out = child!(child_stuck_subscriber_then_watchdog_abort)
        .env("LOCKGRAPH_ORDER", "on")
        .deadline(Duration::from_secs(30))
        .run();
    let e = &out.stderr;
    assert!(!out.success(), "{e}");
    assert_eq!(
        e.matches("lockgraph: potential deadlock: lock-order cycle")
            .count(),
        1,
        "{e}"
    );
    let predicted = e.find("lockgraph: potential deadlock").unwrap();
    let aborting = e
        .find("lockgraph: aborting")
        .unwrap_or_else(|| panic!("no abort:\n{e}"));
    assert!(predicted < aborting, "{e}");
    assert!(!e.contains("SUBSCRIBER GOT"), "{e}");
}

// ---- 2. a subscriber that takes the program's locks ------------------------------

static SUB_A: Mutex<()> = Mutex::named("sub-a", ());
static SUB_B: Mutex<()> = Mutex::named("sub-b", ());

/// Prints the first line of every lockgraph event as `SUBSCRIBER GOT: ...`,
/// after running `before` (which may lock, block or panic).
struct Printing<F>(F);

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<F: Fn(&str) + Send + Sync + 'static> tracing::Subscriber for Printing<F> {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() != "lockgraph" {
            return;
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        (self.0)(&m.0);
        eprintln!("SUBSCRIBER GOT: {}", m.0.lines().next().unwrap_or(""));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn child_subscriber_takes_the_reporting_threads_lock() {
    if !is_child() {
        return;
    }
    // The subscriber takes `sub-b`, which the thread that closes the cycle
    // holds when the report is raised, then `sub-a`.
    tracing::subscriber::set_global_default(Printing(|_: &str| {
        let _b = SUB_B.lock();
        let _a = SUB_A.lock();
    }))
    .unwrap();
    abba(&SUB_A, &SUB_B);
    println!("CHILD-OK");
}

#[test]
fn a_subscriber_that_takes_a_lock_the_reporting_thread_holds_does_not_hang_it() {
    if is_child() {
        return;
    }
    let out = child!(child_subscriber_takes_the_reporting_threads_lock)
        .env("LOCKGRAPH_ORDER", "on")
        .deadline(Duration::from_secs(20))
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(out.stdout.contains("CHILD-OK"), "{}", out.both());
    assert_eq!(
        out.stderr
            .matches("SUBSCRIBER GOT: lockgraph: potential deadlock: lock-order cycle")
            .count(),
        1,
        "{}",
        out.both()
    );
}

static STUCK_X: Mutex<()> = Mutex::named("stuck-x", ());

#[test]
fn child_subscriber_blocks_on_a_deadlocked_lock() {
    if !is_child() {
        return;
    }
    // The subscriber takes `stuck-x`, which a deadlocked thread holds: it
    // never returns from the deadlock report.
    tracing::subscriber::set_global_default(Printing(|_: &str| drop(STUCK_X.lock()))).unwrap();
    start_watchdog();
    let y = Arc::new(Mutex::named("stuck-y", ()));
    let barrier = Arc::new(Barrier::new(2));
    let (y2, b2) = (Arc::clone(&y), Arc::clone(&barrier));
    let t = spawn_named("stuck-a", move || {
        let _x = STUCK_X.lock();
        b2.wait();
        let _y = y2.lock();
    });
    let _y = y.lock();
    barrier.wait();
    let _x = STUCK_X.lock();
    t.join().unwrap();
}

#[test]
fn a_report_whose_subscriber_never_returns_is_printed_on_stderr() {
    if is_child() {
        return;
    }
    let out = child!(child_subscriber_blocks_on_a_deadlocked_lock)
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .run_until(|_, e| e.find("DEADLOCK").is_some_and(|i| e[i..].contains(END)));
    assert!(!out.timed_out, "no deadlock report:\n{}", out.both());
    let e = &out.stderr;
    assert!(e.contains("has not returned"), "{e}");
    assert!(e.contains("Mutex `stuck-x`"), "{e}");
}

// ---- 3. a table limit while another thread holds the stderr lock ---------------

#[test]
fn child_table_full_while_stderr_is_locked() {
    if !is_child() {
        return;
    }
    let (tx, rx) = mpsc::channel();
    let other = spawn_named("holds-stderr", move || {
        let stderr = std::io::stderr().lock();
        tx.send(()).unwrap();
        // Meanwhile the main thread fills the class table.
        std::thread::sleep(ms(300));
        // New lock-order edges: the graph lock.
        let (p, q) = (Mutex::named("late-p", ()), Mutex::named("late-q", ()));
        let _p = p.lock();
        let _q = q.lock();
        drop(stderr);
    });
    rx.recv().unwrap();
    let locks: Vec<Mutex<()>> = (0..10)
        .map(|i| Mutex::named(Box::leak(format!("fill-{i}").into_boxed_str()), ()))
        .collect();
    for w in locks.windows(2) {
        let _a = w[0].lock();
        let _b = w[1].lock();
    }
    other.join().unwrap();
    assert!(lockgraph::stats().full);
    println!("CHILD-OK");
}

#[test]
fn a_full_table_while_another_thread_holds_stderr_does_not_deadlock() {
    if is_child() {
        return;
    }
    let out = child!(child_table_full_while_stderr_is_locked)
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_MAX_CLASSES", "4")
        .deadline(Duration::from_secs(20))
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(out.stdout.contains("CHILD-OK"), "{}", out.both());
    assert_eq!(
        out.stderr
            .matches("the lock class table is full (4 classes")
            .count(),
        1,
        "{}",
        out.both()
    );
}

// ---- 4. a panicking subscriber ----------------------------------------------------

#[test]
fn child_subscriber_panics_once() {
    if !is_child() {
        return;
    }
    let panicked = std::sync::atomic::AtomicBool::new(false);
    tracing::subscriber::set_global_default(Printing(move |_: &str| {
        if !panicked.swap(true, std::sync::atomic::Ordering::Relaxed) {
            panic!("the subscriber fails");
        }
    }))
    .unwrap();
    start_watchdog();
    // A long wait: its report makes the subscriber panic.
    long_waits(1, 1, 1);
    // Then a deadlock: still reported.
    deadlock("pan-x", "pan-y").join().unwrap();
}

#[test]
fn a_panicking_subscriber_does_not_stop_the_watchdog() {
    if is_child() {
        return;
    }
    let dir = dump_dir("panics");
    let out = child!(child_subscriber_panics_once)
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())
        .run_until(|_, e| e.contains("SUBSCRIBER GOT: lockgraph watchdog: DEADLOCK"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.timed_out, "no deadlock report:\n{}", out.both());
    let e = &out.stderr;
    // Said once, and the report it panicked on is not lost.
    assert_eq!(
        e.matches("the tracing subscriber panicked").count(),
        1,
        "{e}"
    );
    assert!(e.contains("lockgraph watchdog: LONG WAIT"), "{e}");
}

// ---- 5. a subscriber that filters the WARN event out ------------------------------

#[test]
fn child_error_level_subscriber() {
    if !is_child() {
        return;
    }
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::ERROR)
        .with_writer(std::io::stderr)
        .init();
    let (a, b) = (
        Mutex::named("filtered-a", ()),
        Mutex::named("filtered-b", ()),
    );
    abba(&a, &b);
    println!("CHILD-OK");
}

#[test]
fn a_report_filtered_out_by_the_subscriber_goes_to_stderr() {
    if is_child() {
        return;
    }
    let out = child!(child_error_level_subscriber)
        .env("LOCKGRAPH_ORDER", "on")
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(
        out.stderr.contains("lock-order cycle through 2 locks"),
        "{}",
        out.both()
    );
    assert!(out.stderr.contains("Mutex `filtered-a`"), "{}", out.both());
}

/// Prints the names of the fields of every lockgraph event.
struct Fields;

struct Names(Vec<String>);

impl tracing::field::Visit for Names {
    fn record_debug(&mut self, field: &tracing::field::Field, _: &dyn std::fmt::Debug) {
        self.0.push(field.name().to_string());
    }
}

impl tracing::Subscriber for Fields {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut names = Names(Vec::new());
        event.record(&mut names);
        eprintln!(
            "EVENT {} {}: {}",
            event.metadata().level(),
            event.metadata().target(),
            names.0.join(",")
        );
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn child_event_fields() {
    if !is_child() {
        return;
    }
    tracing::subscriber::set_global_default(Fields).unwrap();
    let (a, b) = (Mutex::named("fields-a", ()), Mutex::named("fields-b", ()));
    abba(&a, &b);
}

#[test]
fn the_report_event_has_no_field_named_like_tracings_own_level() {
    if is_child() {
        return;
    }
    let out = child!(child_event_fields)
        .env("LOCKGRAPH_ORDER", "on")
        .run();
    assert!(out.success(), "{}", out.both());
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("EVENT WARN lockgraph:"))
        .unwrap_or_else(|| panic!("no lockgraph event:\n{}", out.both()));
    let fields: Vec<&str> = line.split(": ").nth(1).unwrap().split(',').collect();
    assert!(fields.contains(&"report_level"), "{line}");
    assert!(!fields.contains(&"level"), "{line}");
}

// ---- 6. libtest's output capture ------------------------------------------------------

#[test]
fn child_cycle_in_a_passing_test() {
    if !is_child() {
        return;
    }
    let (a, b) = (Mutex::named("passing-a", ()), Mutex::named("passing-b", ()));
    abba(&a, &b);
}

#[test]
fn a_cycle_found_in_a_passing_test_is_printed_despite_the_output_capture() {
    if is_child() {
        return;
    }
    let out = child!(child_cycle_in_a_passing_test)
        .env("LOCKGRAPH_ORDER", "on")
        .captured()
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(
        out.stdout
            .contains("test child_cycle_in_a_passing_test ... ok"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains("lock-order cycle through 2 locks"),
        "{}",
        out.both()
    );
    assert!(out.stderr.contains("Mutex `passing-a`"), "{}", out.both());
}
