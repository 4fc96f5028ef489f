//! The run-time watchdog. Each case deadlocks (or waits) for real in a child
//! process (this test binary re-run with one `child_*` test selected); the
//! parent reads the child's stderr (or its JSON dump) until the report is
//! complete or a deadline passes, then kills the child.
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use lockgraph::watchdog::{self, Config};
use lockgraph::{Mutex, RwLock};

const CHILD: &str = "LOCKGRAPH_TEST_CHILD";
const END: &str = "-- end of lockgraph watchdog report --";

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the child test `test` and collects its stderr until `done` says the
/// text is complete or `deadline` passes; the child is killed either way.
/// Returns the text and whether `done` was reached.
fn run_child(
    test: &str,
    env: &[(&str, &str)],
    deadline: Duration,
    done: impl Fn(&str) -> bool,
) -> (String, bool) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_BACKTRACE", "0")
        .env_remove("LOCKGRAPH_WATCHDOG")
        .env_remove("LOCKGRAPH_DUMP_DIR")
        .env_remove("LOCKGRAPH_PROFILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + deadline;
    let mut text = String::new();
    let mut ok = false;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
                if done(&text) {
                    ok = true;
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(rx);
    let _ = reader.join();
    (text, ok)
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

/// Spawns a named thread that takes `first`, meets the others at `barrier`,
/// then takes `second` (printing the request's line first).
fn crossing(
    name: &'static str,
    first: Arc<Mutex<()>>,
    second: Arc<Mutex<()>>,
    barrier: Arc<Barrier>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _f = first.lock();
            barrier.wait();
            eprintln!("SITE {name}={}", line!() + 1);
            let _s = second.lock();
        })
        .unwrap()
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
        "child_abba",
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
    let (text, ok) = run_child("child_three_cycle", &[], Duration::from_secs(20), |t| {
        t.contains("DEADLOCK") && t.contains(END)
    });
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
        std::thread::Builder::new()
            .name("wd-reader".into())
            .spawn(move || {
                let _r = r.read();
                barrier.wait();
                eprintln!("SITE wd-reader={}", line!() + 1);
                let _m = m.lock();
            })
            .unwrap()
    };
    let writer = std::thread::Builder::new()
        .name("wd-writer".into())
        .spawn(move || {
            let _m = m.lock();
            barrier.wait();
            eprintln!("SITE wd-writer={}", line!() + 1);
            let _w = r.write();
        })
        .unwrap();
    reader.join().unwrap();
    writer.join().unwrap();
}

#[test]
fn a_writer_blocked_behind_a_reader_that_waits_for_it_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child("child_rwlock_cycle", &[], Duration::from_secs(20), |t| {
        t.contains("DEADLOCK") && t.contains(END)
    });
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
        std::thread::Builder::new()
            .name("wd-holder".into())
            .spawn(move || {
                let _g = m.lock();
                held.wait();
                std::thread::sleep(Duration::from_secs(30));
            })
            .unwrap()
    };
    held.wait();
    let waiter = std::thread::Builder::new()
        .name("wd-waiter".into())
        .spawn(move || {
            eprintln!("SITE wd-waiter={}", line!() + 1);
            let _g = m.lock();
        })
        .unwrap();
    waiter.join().unwrap();
    holder.join().unwrap();
}

#[test]
fn a_long_hold_is_a_long_wait_not_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child("child_long_hold", &[], Duration::from_secs(20), |t| {
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
    let (text, ok) = run_child("child_blocking_call", &[], Duration::from_secs(20), |t| {
        t.contains("LONG WAIT") && t.contains(END)
    });
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
            std::thread::Builder::new()
                .name(format!("wd-busy-{i}"))
                .spawn(move || {
                    let mut n = 0u64;
                    while Instant::now() < stop {
                        let mut g = m.lock();
                        *g += 1;
                        n += 1;
                        std::hint::black_box(&mut *g);
                    }
                    n
                })
                .unwrap()
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
    let (text, ok) = run_child("child_busy", &[], Duration::from_secs(30), |t| {
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
    let (text, ok) = run_child("child_dump_on_sigusr2", &[], Duration::from_secs(20), |t| {
        t.contains("-- end of lockgraph dump --")
    });
    assert!(ok, "no dump in time:\n{text}");
    assert!(text.contains("lockgraph dump (pid"), "{text}");
    assert!(
        text.contains("Mutex `dumped` (exclusive), taken at tests/watchdog.rs:"),
        "{text}"
    );
}
