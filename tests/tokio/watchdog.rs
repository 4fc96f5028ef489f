//! The task watchdog: a real deadlock between two tasks (each holds one
//! lock and waits for the other's) is reported within two timeouts,
//! naming both tasks and both locks; a heavily contended workload that
//! progresses is not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lockgraph_testkit::{child, is_child, END};
use tokio::sync::Barrier;

use super::*;

/// Whether `err` has a whole task watchdog report whose first line starts
/// with `head` (`DEADLOCK: `, `LONG WAIT: `): to its end marker.
fn has_report(err: &str, head: &str) -> bool {
    err.find(&format!("lockgraph task watchdog: {head}"))
        .is_some_and(|i| err[i..].contains(END))
}

/// The task watchdog report in `err` whose first line starts with `head`,
/// from that line to its end marker, checked for the thread watchdog's
/// format (docs/watchdog.md, "Reading a report"): the first line names
/// the process, since when and what the watchdog did (ending with
/// `done`); the async backtraces come before `what to do:`, the last line
/// before the end marker, not indented; locks are named without their
/// instance ids.
fn task_report<'e>(err: &'e str, head: &str, done: &str) -> &'e str {
    let start = err
        .find(&format!("lockgraph task watchdog: {head}"))
        .unwrap_or_else(|| panic!("no {head} report:\n{err}"));
    let len = err[start..]
        .find(END)
        .unwrap_or_else(|| panic!("no end marker:\n{err}"));
    let report = &err[start..start + len + END.len()];
    let lines: Vec<&str> = report.lines().collect();
    let first = lines[0];
    let pid = first
        .split(" (pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("no pid in the first line:\n{report}"));
    assert!(pid.parse::<u32>().is_ok(), "{report}");
    assert!(
        first.contains(&format!("(pid {pid}), since 20")) && first.contains(" UTC; "),
        "no since in the first line:\n{report}"
    );
    assert!(first.ends_with(done), "{report}");
    let advice = lines[lines.len() - 2];
    assert!(advice.starts_with("what to do: "), "{report}");
    assert_eq!(lines[lines.len() - 1], END);
    let traces = report.find("\n  async backtraces").expect(report);
    assert!(traces < report.find("\nwhat to do: ").unwrap(), "{report}");
    assert!(!report.contains("(#"), "an instance id:\n{report}");
    report
}

/// The end of a deadlock's first line: what the watchdog did.
const HUNG: &str = "; reported only; the process is still hung (these waits never end)";

/// Runs `child` (the watchdog at 500 ms, the lock-order policy off) until
/// its task watchdog DEADLOCK report is whole, checks that it is in the
/// report format naming each of `names`, and returns it.
fn task_deadlock(child: lockgraph_testkit::Child, names: &[&str]) -> String {
    let out = child
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| has_report(err, "DEADLOCK: "));
    assert!(out.done, "no task watchdog report:\n{}", out.both());
    let report = task_report(&out.stderr, "DEADLOCK: ", HUNG);
    for name in names {
        assert!(report.contains(name), "{name} missing:\n{report}");
    }
    report.to_string()
}

/// Two tasks on a multi-thread runtime: `tasks[0]` takes `locks[0]`, then
/// `locks[1]`; `tasks[1]` the other way, `apart` after the first waits.
/// Never returns.
fn two_tasks_deadlock(tasks: [&'static str; 2], locks: [&'static str; 2], apart: Duration) {
    multi_thread().block_on(abba_tasks(tasks, locks, apart));
}

/// [`two_tasks_deadlock`] on the runtime it is awaited on.
async fn abba_tasks(tasks: [&'static str; 2], locks: [&'static str; 2], apart: Duration) {
    let a = Arc::new(Mutex::named(locks[0], 0));
    let b = Arc::new(Mutex::named(locks[1], 0));
    let both = Arc::new(Barrier::new(2));
    let (a1, b1, x1) = (a.clone(), b.clone(), both.clone());
    let t1 = lockgraph::tokio::spawn_named(tasks[0], async move {
        let _ga = a1.lock().await;
        x1.wait().await;
        let _gb = b1.lock().await;
    });
    let t2 = lockgraph::tokio::spawn_named(tasks[1], async move {
        let _gb = b.lock().await;
        both.wait().await;
        tokio::time::sleep(apart).await;
        let _ga = a.lock().await;
    });
    eprintln!("DEADLOCKED AT {:?}", Instant::now());
    let _ = tokio::join!(t1, t2); // never returns
}

#[test]
fn child_task_deadlock() {
    if is_child() {
        two_tasks_deadlock(
            ["holds-a", "holds-b"],
            ["wd-task-a", "wd-task-b"],
            Duration::ZERO,
        );
    }
}

#[test]
fn a_task_deadlock_is_reported_naming_tasks_and_locks() {
    let start = Instant::now();
    let err = task_deadlock(
        child!(child_task_deadlock),
        &["\"holds-a\"", "\"holds-b\"", "wd-task-a", "wd-task-b"],
    );
    // Without tokio's task dumps, the report says what they need.
    assert!(
        err.contains("tokio_unstable") || err.contains("async backtraces (tokio's task dump)"),
        "{err}"
    );
    // Two tasks, two distinct locks: the order to adopt, and who breaks it.
    assert!(
        err.starts_with("lockgraph task watchdog: DEADLOCK: 2 tasks or threads wait for each other on AsyncMutex `wd-task-"),
        "{err}"
    );
    assert!(
        err.contains("\nwhat to do: adopt one lock order everywhere, AsyncMutex `wd-task-"),
        "{err}"
    );
    // Within two timeouts of the deadlock (plus the child's start-up,
    // which the parent's clock includes): a generous bound on a shared
    // machine, far below the child's deadline.
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

/// With `LOCKGRAPH_DUMP_DIR` set, the task watchdog's DEADLOCK report is a
/// line of the process's file there, in the report schema (its waits in
/// `tasks`), and `lockgraph hang` on the directory counts it as a deadlock
/// (exit 1) and shows its cycle. It wrote nothing there before.
#[test]
fn a_task_deadlock_is_in_the_dump_dir_for_lockgraph_hang() {
    let dir = std::env::temp_dir().join(format!("lockgraph-tokio-hang-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = child!(child_task_deadlock)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .env("LOCKGRAPH_DUMP_DIR", &dir)
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| has_report(err, "DEADLOCK: "));
    assert!(out.done, "no task watchdog report:\n{}", out.both());
    let stderr_report = task_report(&out.stderr, "DEADLOCK: ", HUNG);
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no dump dir {}: {e}\n{}", dir.display(), out.both()))
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let reports: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["kind"] == "deadlock")
        .collect();
    assert_eq!(reports.len(), 1, "{text}");
    let r = &reports[0];
    // Every field the schema requires of a report.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("docs/watchdog-report.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for k in schema["required"].as_array().unwrap() {
        assert!(r.get(k.as_str().unwrap()).is_some(), "no {k} in {r}");
    }
    assert_eq!(r["tasks"].as_array().map(Vec::len), Some(2), "{r}");
    // A mutex wait has no size and no queue: both fields null.
    for t in r["tasks"].as_array().unwrap() {
        assert!(t["capacity"].is_null() && t["queue"].is_null(), "{t}");
        assert!(
            t.get("capacity").is_some() && t.get("queue").is_some(),
            "{t}"
        );
    }
    // The record's summary and advice are the stderr report's first line
    // and its last before the end marker; its text is that report.
    let lines: Vec<&str> = stderr_report.lines().collect();
    assert_eq!(r["summary"].as_str(), Some(lines[0]), "{r}");
    assert_eq!(r["advice"].as_str(), Some(lines[lines.len() - 2]), "{r}");
    assert_eq!(
        r["text"].as_str(),
        Some(format!("{stderr_report}\n").as_str()),
        "{r}"
    );
    let cycle = r["cycle"].as_str().unwrap();
    for name in [
        "\"holds-a\"",
        "\"holds-b\"",
        "AsyncMutex `wd-task-a`",
        "AsyncMutex `wd-task-b`",
    ] {
        assert!(cycle.contains(name), "{name} missing: {cycle}");
    }

    let hang = lockgraph_cli::hang::analyse(std::slice::from_ref(&dir)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(hang.exit_code(), 1, "{}", hang.to_text());
    let shown = hang.to_text();
    assert!(
        shown.starts_with("lockgraph hang: 1 process: 1 reports a deadlock"),
        "{shown}"
    );
    assert!(shown.contains(cycle), "{shown}");
    assert!(
        shown.contains("what to do: adopt one lock order everywhere, AsyncMutex `wd-task-"),
        "{shown}"
    );
}

/// Two tasks whose waits start 600 ms apart close a cycle: it is a
/// deadlock as soon as two scans see it, however young its waits. It was
/// found only once every wait had passed the timeout, so the first wait
/// went out as a long wait ("look at what the holder does") first.
#[test]
fn child_task_deadlock_with_waits_far_apart() {
    if is_child() {
        two_tasks_deadlock(
            ["first", "second"],
            ["wd-apart-a", "wd-apart-b"],
            Duration::from_millis(600),
        );
    }
}

#[test]
fn a_task_deadlock_with_young_waits_is_no_long_wait_first() {
    let out = child!(child_task_deadlock_with_waits_far_apart)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "2s")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| has_report(err, "DEADLOCK: "));
    assert!(out.done, "no task watchdog report:\n{}", out.both());
    let err = &out.stderr;
    task_report(err, "DEADLOCK: ", HUNG);
    assert!(!err.contains("LONG WAIT"), "{err}");
}

/// A task holds `wd-long-cache` across a long await (a slow refresh under
/// the lock); another waits for it past the timeout. Prints its pid.
#[test]
fn child_task_long_wait() {
    if !is_child() {
        return;
    }
    eprintln!("CHILD PID {}", std::process::id());
    multi_thread().block_on(async {
        let cache = Arc::new(Mutex::named("wd-long-cache", 0));
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        let c = cache.clone();
        let refresher = lockgraph::tokio::spawn_named("refresher", async move {
            let _g = c.lock().await;
            held_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        held_rx.await.unwrap();
        let waiter = lockgraph::tokio::spawn_named("waiter", async move {
            let _g = cache.lock().await;
        });
        let _ = tokio::join!(refresher, waiter); // never returns
    });
}

/// A long wait's report: its first line says who waited how long for
/// what, in which process, since when, and that the task still waits (it
/// read only "a task waits longer than the timeout"); the last says whose
/// hold to shorten and where it was taken.
#[test]
fn a_task_long_wait_report_says_who_waits_since_when_and_whose_hold() {
    let out = child!(child_task_long_wait)
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| has_report(err, "LONG WAIT: "));
    assert!(out.done, "no task watchdog report:\n{}", out.both());
    let err = &out.stderr;
    let pid = err
        .split("CHILD PID ")
        .nth(1)
        .and_then(|s| s.lines().next())
        .expect(err);
    let report = task_report(err, "LONG WAIT: ", "; reported only; the task still waits");
    let first = report.lines().next().unwrap();
    assert!(
        first.starts_with("lockgraph task watchdog: LONG WAIT: task "),
        "{report}"
    );
    assert!(
        first.contains("\"waiter\" (spawned at tests/tokio/watchdog.rs:"),
        "{report}"
    );
    assert!(first.contains(") has waited "), "{report}");
    assert!(
        first.contains(&format!(
            " for AsyncMutex `wd-long-cache` (pid {pid}), since "
        )),
        "{report}"
    );
    let advice = report.lines().rev().nth(1).unwrap();
    assert!(
        advice.starts_with("what to do: shorten the hold of AsyncMutex `wd-long-cache` by task "),
        "{report}"
    );
    assert!(
        advice.contains("\"refresher\" (spawned at tests/tokio/watchdog.rs:"),
        "{report}"
    );
    assert!(
        advice.contains(") (taken at tests/tokio/watchdog.rs:"),
        "{report}"
    );
}

/// With tokio's task dumps (`--cfg tokio_unstable`, the
/// `tokio-taskdump` feature, Linux), the report of a task deadlock
/// shows each stuck task's async backtrace. Not in the default builds:
/// run it with `RUSTFLAGS="--cfg tokio_unstable" cargo test --features
/// tokio-taskdump --test tokio --target-dir target/taskdump`.
#[cfg(all(tokio_unstable, feature = "tokio-taskdump", target_os = "linux"))]
#[test]
fn a_task_deadlock_report_has_the_async_backtraces() {
    let out = child!(child_task_deadlock)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| {
            err.find("async backtraces").is_some_and(|i| {
                let t = &err[i..];
                t.contains("not available")
                    || t.find("\"holds-b\"")
                        .zip(t.find("\"holds-a\""))
                        .is_some_and(|(b, a)| {
                            t[a.max(b)..].matches("Mutex<T>::lock::").count() >= 1
                        })
            })
        });
    assert!(out.done, "no task watchdog report:\n{}", out.both());
    let err = &out.stderr;
    let traces = &err[err.find("async backtraces").unwrap()..];
    assert!(
        traces.starts_with("async backtraces (tokio's task dump):"),
        "{err}"
    );
    // The tasks' own futures: spawned in `abba_tasks`.
    for name in ["\"holds-a\"", "\"holds-b\"", "abba_tasks"] {
        assert!(traces.contains(name), "{name} missing:\n{err}");
    }
}

/// A task and a plain thread: the thread holds async `a` (taken with
/// `blocking_lock`) and waits for `b`, which a task holds while it waits
/// for `a`.
#[test]
fn child_task_thread_deadlock() {
    if !is_child() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let a = Arc::new(Mutex::named("wd-mixed-a", 0));
    let b = Arc::new(Mutex::named("wd-mixed-b", 0));
    let both = Arc::new(std::sync::Barrier::new(2));
    let (a1, b1, x1) = (a.clone(), b.clone(), both.clone());
    let thread = std::thread::Builder::new()
        .name("plain-thread".into())
        .spawn(move || {
            let _ga = a1.blocking_lock();
            x1.wait();
            let _gb = b1.blocking_lock();
        })
        .unwrap();
    rt.spawn(lockgraph::tokio::instrument_named(
        "task-side",
        async move {
            let _gb = b.lock().await;
            tokio::task::spawn_blocking(move || both.wait())
                .await
                .unwrap();
            let _ga = a.lock().await;
        },
    ));
    let _ = thread.join(); // never returns
}

#[test]
fn a_task_thread_deadlock_is_reported() {
    task_deadlock(
        child!(child_task_thread_deadlock),
        &["\"task-side\"", "plain-thread", "wd-mixed-a", "wd-mixed-b"],
    );
}

/// A multi-thread runtime of one worker thread (and its blocking pool)
/// named `name`.
fn one_worker(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

/// A task and a thread through a sync lock: the task holds async `a`
/// and blocks its worker thread in sync `b`'s `lock()`, while a plain
/// thread holding `b` waits in `a.blocking_lock()`. No async wait is
/// on the task's side: the task watchdog follows the task into its
/// thread's sync wait.
#[test]
fn child_task_sync_lock_deadlock() {
    if !is_child() {
        return;
    }
    let rt = one_worker("the-worker");
    let a = Arc::new(Mutex::named("wd-async-a", 0));
    let b = Arc::new(lockgraph::Mutex::named("wd-sync-b", 0));
    let both = Arc::new(std::sync::Barrier::new(2));
    let (a1, b1, x1) = (a.clone(), b.clone(), both.clone());
    let thread = std::thread::Builder::new()
        .name("holds-sync-b".into())
        .spawn(move || {
            let _gb = b1.lock();
            x1.wait();
            let _ga = a1.blocking_lock();
        })
        .unwrap();
    rt.spawn(lockgraph::tokio::instrument_named(
        "holds-async-a",
        async move {
            let _ga = a.lock().await;
            tokio::task::spawn_blocking(move || both.wait())
                .await
                .unwrap();
            let _gb = b.lock(); // blocks the worker thread
        },
    ));
    std::thread::sleep(Duration::from_secs(3));
    eprintln!("{LATER}");
    let _ = thread.join(); // never returns
}

/// The line [`child_task_sync_lock_deadlock`] prints three seconds in.
const LATER: &str = "CHILD: three seconds in";

#[test]
fn a_task_blocked_in_a_sync_lock_is_followed_into_a_deadlock() {
    let start = Instant::now();
    // Until the child's line three seconds in (six timeouts past the
    // deadlock), the thread watchdog must not add a long wait of the worker thread,
    // whose wait the DEADLOCK explains (it said "holds no lock" and
    // "shorten `holds-sync-b`'s hold"; found by an outside test).
    let out = child!(child_task_sync_lock_deadlock)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| has_report(err, "DEADLOCK: ") && err.contains(LATER));
    assert!(
        out.done,
        "no task watchdog deadlock report:\n{}",
        out.both()
    );
    let err = &out.stderr;
    // No `(#N)` on the sync lock either (it read `Mutex `wd-sync-b` (#N)`).
    let report = task_report(err, "DEADLOCK: ", HUNG);
    for name in [
        "\"holds-async-a\"",
        "thread `the-worker`",
        "thread `holds-sync-b`",
        "wd-async-a",
        "wd-sync-b",
    ] {
        assert!(report.contains(name), "{name} missing:\n{err}");
    }
    assert!(
        !err.contains("lockgraph watchdog: LONG WAIT: thread `the-worker`"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

/// The deadlock above with the thread's side in a `spawn_blocking`
/// closure, the usual home of `blocking_lock`: the closure has a task id,
/// so its async wait was filed under its task while its sync hold of `b`
/// was on its thread, and the two were never joined: two long waits, no
/// deadlock (found by an outside test). With `queue`, the closure holds
/// `b` across a `blocking_send` into a full queue whose consumer task
/// takes `b` between receives.
fn blocking_closure_deadlock(queue: bool) {
    let rt = one_worker("the-worker");
    let a = Arc::new(Mutex::named("wd-async-a", 0));
    let b = Arc::new(lockgraph::Mutex::named("wd-sync-b", 0));
    let (tx, mut rx) = lockgraph::tokio::mpsc::channel_named::<u32>("wd-queue", 1);
    let both = Arc::new(std::sync::Barrier::new(2));
    let (b1, x1) = (b.clone(), both.clone());
    let a1 = a.clone();
    let closure = rt.spawn_blocking(move || {
        let _gb = b1.lock();
        x1.wait();
        if queue {
            // Until the queue is full and its consumer waits for `b`.
            for i in 0.. {
                tx.blocking_send(i).unwrap();
            }
        } else {
            let _ga = a1.blocking_lock();
        }
    });
    rt.spawn(lockgraph::tokio::instrument_named(
        "takes-sync-b",
        async move {
            let _ga = a.lock().await;
            tokio::task::spawn_blocking(move || both.wait())
                .await
                .unwrap();
            if queue {
                // Waits for its first item while the closure holds `b`.
                while rx.recv().await.is_some() {
                    let _gb = b.lock(); // blocks the worker thread
                }
            } else {
                let _gb = b.lock(); // blocks the worker thread
            }
        },
    ));
    let _ = rt.block_on(closure); // never returns
}

#[test]
fn child_blocking_closure_lock_deadlock() {
    if is_child() {
        blocking_closure_deadlock(false);
    }
}

#[test]
fn child_blocking_closure_queue_deadlock() {
    if is_child() {
        blocking_closure_deadlock(true);
    }
}

#[test]
fn a_deadlock_through_a_spawn_blocking_closure_is_one_deadlock() {
    for (child, waited) in [
        (
            child!(child_blocking_closure_lock_deadlock),
            "AsyncMutex `wd-async-a`",
        ),
        (
            child!(child_blocking_closure_queue_deadlock),
            "Queue `wd-queue`",
        ),
    ] {
        let report = task_deadlock(
            child,
            &[
                "\"takes-sync-b\"",
                "wd-sync-b",
                waited,
                "(in a blocking call of task ",
            ],
        );
        assert!(
            report.contains("thread `the-worker` (in a blocking call of task ")
                && report.contains("holds Mutex `wd-sync-b`"),
            "{report}"
        );
    }
}

/// A dump lists the tasks' async holds and waits beside the threads.
#[test]
fn child_dump_lists_tasks() {
    if !is_child() {
        return;
    }
    let rt = multi_thread();
    rt.block_on(async {
        let a = Arc::new(Mutex::named("dump-a", 0));
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        let a1 = a.clone();
        let holder = lockgraph::tokio::spawn_named("dump-holder", async move {
            let _g = a1.lock().await;
            // A read hold and a write hold, told apart in the dump.
            let (read, write) = (
                RwLock::named("dump-read", 0),
                RwLock::named("dump-write", 0),
            );
            let _r = read.read().await;
            let _w = write.write().await;
            held_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        held_rx.await.unwrap();
        let waiter = lockgraph::tokio::spawn_named("dump-waiter", async move {
            let _g = a.lock().await;
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let d = lockgraph::watchdog::dump();
        eprintln!("{d}");
        eprintln!("JSON {}", d.to_json());
        holder.abort();
        waiter.abort();
    });
}

#[test]
fn a_dump_lists_the_tasks_async_locks() {
    let out = child!(child_dump_lists_tasks)
        .env("LOCKGRAPH_WATCHDOG", "30s")
        .deadline(Duration::from_secs(30))
        .run();
    let err = &out.stderr;
    let text = &err[..err.find("JSON").unwrap_or(err.len())];
    let at = text
        .find("async locks of 2 tasks or threads")
        .unwrap_or_else(|| panic!("no tasks in the dump:\n{err}"));
    let tasks = &text[at..];
    let holder = tasks.find("\"dump-holder\"").expect(err);
    let waiter = tasks.find("\"dump-waiter\"").expect(err);
    let (h, w) = if holder < waiter {
        (&tasks[holder..waiter], &tasks[waiter..])
    } else {
        (&tasks[holder..], &tasks[waiter..holder])
    };
    assert!(
        h.contains("holds AsyncMutex `dump-a` (exclusive, taken at tests/tokio/watchdog.rs:"),
        "{err}"
    );
    // How each is held, as the thread dump says it (they all read
    // `holds AsyncRwLock `..` (taken at ...)`: outside test, async
    // finding 7).
    assert!(
        h.contains("holds AsyncRwLock `dump-read` (shared, taken at tests/tokio/watchdog.rs:"),
        "{err}"
    );
    assert!(
        h.contains("holds AsyncRwLock `dump-write` (exclusive, taken at tests/tokio/watchdog.rs:"),
        "{err}"
    );
    assert!(w.contains("for AsyncMutex `dump-a`"), "{err}");
    assert!(w.contains("(asked at tests/tokio/watchdog.rs:"), "{err}");
    let json = &err[err.find("JSON").expect(err)..];
    assert!(json.contains("\"tasks\":[{\"owner\":"), "{json}");
    assert!(json.contains("\"waited_ms\":"), "{json}");
    assert!(
        json.contains("{\"lock\":\"AsyncRwLock `dump-read`\",\"hold\":\"shared\",\"taken_at\":"),
        "{json}"
    );
    assert!(
        json.contains(
            "{\"lock\":\"AsyncRwLock `dump-write`\",\"hold\":\"exclusive\",\"taken_at\":"
        ),
        "{json}"
    );
}

/// Many tasks, few locks, oversubscribed workers, nested acquisitions
/// in one global order: contended, progressing, never a deadlock. Runs
/// `LOCKGRAPH_TEST_SECS` seconds (30 by default).
#[test]
fn child_contended_workload() {
    if !is_child() {
        return;
    }
    let secs: u64 = std::env::var("LOCKGRAPH_TEST_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let rounds = rt.block_on(async move {
        let locks: Arc<Vec<Mutex<u64>>> = Arc::new((0..3).map(|_| Mutex::new(0)).collect());
        let sem = Arc::new(Semaphore::new(2));
        let end = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for t in 0..64usize {
            let (locks, sem) = (locks.clone(), sem.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < end {
                    let _p = sem.acquire().await.unwrap();
                    let first = t % 2;
                    let mut g1 = locks[first].lock().await;
                    // Held across a long await: others pile up behind.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    let mut g2 = locks[2].lock().await;
                    *g1 += 1;
                    *g2 += 1;
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    eprintln!("WORKLOAD DONE {rounds} rounds");
}

#[test]
fn a_contended_progressing_workload_is_not_a_deadlock() {
    // Passed on: the child gets no `LOCKGRAPH_` variable it is not given.
    let secs = std::env::var("LOCKGRAPH_TEST_SECS").unwrap_or_else(|_| "30".into());
    let out = child!(child_contended_workload)
        .env("LOCKGRAPH_TEST_SECS", &secs)
        .env("LOCKGRAPH_ON_CYCLE", "warn")
        .env("LOCKGRAPH_WATCHDOG", "1s")
        .deadline(Duration::from_secs(90))
        .run_until(|_, err| err.contains("WORKLOAD DONE"));
    assert!(out.done, "{}", out.both());
    assert!(!out.stderr.contains("DEADLOCK"), "{}", out.stderr);
    assert!(!out.stderr.contains("potential deadlock"), "{}", out.stderr);
}

/// Two tasks on a cycle through a permit: `gpu` takes a permit of
/// `slots`, then waits for `model`, which `batcher` holds while it waits
/// for a permit (let in only when another holder gives one back).
fn gpu_and_batcher(
    slots: Arc<Semaphore>,
    model: Arc<Mutex<u64>>,
) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    let (s, m) = (slots.clone(), model.clone());
    let gpu = lockgraph::tokio::spawn_named("gpu", async move {
        let _p = s.acquire().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        *m.lock().await += 1; // waits for the batcher
    });
    let batcher = lockgraph::tokio::spawn_named("batcher", async move {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let _g = model.lock().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _p = slots.acquire().await.unwrap(); // needs a permit back
    });
    (gpu, batcher)
}

/// A cycle through one of two permit holders while the other holds on and
/// runs: the waiting task is let in when that one gives its permit back,
/// so it is no deadlock (the task watchdog said DEADLOCK; found by an
/// outside test). Its wait lasts past the timeout: a long wait.
#[test]
fn child_task_permit_cycle_another_holder_runs() {
    if !is_child() {
        return;
    }
    let rt = multi_thread();
    rt.block_on(async {
        let slots = Arc::new(Semaphore::named("wd-task-or-slots", 2));
        let model = Arc::new(Mutex::named("wd-task-or-model", 0));
        let s = slots.clone();
        let slow = lockgraph::tokio::spawn_named("slow-holder", async move {
            let _p = s.acquire().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2000)).await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (gpu, batcher) = gpu_and_batcher(slots, model);
        let _ = tokio::join!(slow, gpu, batcher);
    });
    eprintln!("CHILD: every task finished");
}

#[test]
fn a_task_cycle_through_one_of_several_permit_holders_is_no_deadlock() {
    let out = child!(child_task_permit_cycle_another_holder_runs)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| err.contains("CHILD: every task finished"));
    assert!(out.done, "the child did not finish:\n{}", out.both());
    assert!(
        !out.stderr.contains("DEADLOCK"),
        "no deadlock here:\n{}",
        out.stderr
    );
}

/// The same cycle through one of two permit holders, the other a plain
/// thread that took its permit outside any task and then parked on a
/// condvar no one notifies: no one lets the waiting task in, and the
/// task watchdog says DEADLOCK (a thread parked so counted as one that
/// can go on, and the cycle was a long wait).
#[test]
fn child_task_permit_cycle_other_holder_parked() {
    if !is_child() {
        return;
    }
    let rt = multi_thread();
    let slots = Arc::new(Semaphore::named("wd-task-parked-slots", 2));
    let model = Arc::new(Mutex::named("wd-task-parked-model", 0));
    let (s, handle) = (slots.clone(), rt.handle().clone());
    let (took, park) = (
        Arc::new(std::sync::Barrier::new(2)),
        Arc::new((lockgraph::Mutex::new(false), lockgraph::Condvar::new())),
    );
    let t = took.clone();
    let parked = std::thread::Builder::new()
        .name("parked-holder".into())
        .spawn(move || {
            let _p = handle.block_on(s.acquire()).unwrap();
            t.wait();
            let mut g = park.0.lock();
            while !*g {
                park.1.wait(&mut g); // never notified
            }
        })
        .unwrap();
    took.wait();
    rt.block_on(async {
        let (gpu, batcher) = gpu_and_batcher(slots, model);
        let _ = tokio::join!(gpu, batcher); // never returns
    });
    let _ = parked.join();
}

#[test]
fn a_task_cycle_through_permit_holders_one_parked_is_a_deadlock() {
    task_deadlock(
        child!(child_task_permit_cycle_other_holder_parked),
        &[
            "\"gpu\"",
            "\"batcher\"",
            "wd-task-parked-model",
            "wd-task-parked-slots",
        ],
    );
}

/// Three tasks through a tokio `RwLock`'s queue: `reader-1` read-holds
/// `l` and waits for `m`; `writer`'s write of `l` is queued behind that
/// read; `reader-2` holds `m` and its read of `l` is queued behind the
/// write (tokio's lock is fair). The cycle is all three (it was drawn as
/// the two readers, `reader-2`'s read "held by" `reader-1`, and the
/// writer apart; found by an outside test).
#[test]
fn child_task_deadlock_through_a_queued_writer() {
    if !is_child() {
        return;
    }
    let rt = multi_thread();
    rt.block_on(async {
        let l = Arc::new(RwLock::named("wd-queue-l", 0));
        let m = Arc::new(Mutex::named("wd-queue-m", 0));
        let (l1, m1) = (l.clone(), m.clone());
        let (l2, m2) = (l.clone(), m.clone());
        let r2 = lockgraph::tokio::spawn_named("reader-2", async move {
            let _m = m2.lock().await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let _r = l2.read().await; // queued behind the writer
        });
        let r1 = lockgraph::tokio::spawn_named("reader-1", async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _r = l1.read().await;
            tokio::time::sleep(Duration::from_millis(250)).await;
            let _m = m1.lock().await; // held by reader-2
        });
        let w = lockgraph::tokio::spawn_named("writer", async move {
            tokio::time::sleep(Duration::from_millis(80)).await;
            let _w = l.write().await; // queued behind reader-1's read
        });
        let _ = tokio::join!(r1, r2, w); // never returns
    });
}

#[test]
fn a_task_deadlock_through_a_queued_writer_has_all_three() {
    let err = task_deadlock(
        child!(child_task_deadlock_through_a_queued_writer),
        &[
            "\"reader-1\"",
            "\"reader-2\"",
            "\"writer\"",
            "wd-queue-l",
            "wd-queue-m",
        ],
    );
    assert!(
        err.contains("DEADLOCK: 3 tasks or threads wait for each other"),
        "{err}"
    );
    assert!(
        err.contains("queued behind a write of the same lock by task "),
        "{err}"
    );
}

/// A busy runtime: 48 tasks nesting pairs of 16 async mutexes in order
/// (and awaiting under them), then a two-task ABBA. Never returns.
#[test]
fn child_task_deadlock_under_load() {
    if !is_child() {
        return;
    }
    let rt = multi_thread();
    rt.block_on(async {
        let locks: Arc<Vec<Mutex<u64>>> = Arc::new((0..16).map(|_| Mutex::new(0)).collect());
        for t in 0..48u64 {
            let locks = locks.clone();
            tokio::spawn(async move {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                loop {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let (a, b) = ((x % 16) as usize, ((x >> 8) % 16) as usize);
                    let (a, b) = (a.min(b), a.max(b));
                    let mut ga = locks[a].lock().await;
                    *ga += 1;
                    if a != b {
                        let mut gb = locks[b].lock().await;
                        *gb += 1;
                        tokio::task::yield_now().await;
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        abba_tasks(
            ["load-task-1", "load-task-2"],
            ["wd-load-a", "wd-load-b"],
            Duration::ZERO,
        )
        .await;
    });
}

#[test]
fn a_task_deadlock_under_load_is_reported() {
    task_deadlock(
        child!(child_task_deadlock_under_load),
        &[
            "\"load-task-1\"",
            "\"load-task-2\"",
            "wd-load-a",
            "wd-load-b",
        ],
    );
}

/// Two futures joined in one task take turns on one lock: the first holds
/// it across a sleep past the timeout while the second waits. lockgraph
/// keeps holds per task, so the task waits for a lock it holds; that is
/// no deadlock (the first future goes on and drops its guard), and the
/// task watchdog said DEADLOCK ("this wait never ends"; found by an
/// outside test). It is a long wait, whose advice says both cases.
#[test]
fn child_joined_futures_take_turns() {
    if !is_child() {
        return;
    }
    let rt = multi_thread();
    rt.block_on(async {
        let m = Arc::new(Mutex::named("wd-joined", 0));
        let task = lockgraph::tokio::spawn_named("joiner", async move {
            let first = async {
                let mut g = m.lock().await;
                tokio::time::sleep(Duration::from_millis(1500)).await;
                *g += 1;
            };
            let second = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                *m.lock().await += 1; // waits for the first future's guard
            };
            tokio::join!(first, second);
            *m.lock().await
        });
        assert_eq!(task.await.unwrap(), 2);
    });
    eprintln!("CHILD: joined futures finished");
}

#[test]
fn futures_joined_in_one_task_taking_turns_are_a_long_wait_not_a_deadlock() {
    let out = child!(child_joined_futures_take_turns)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| {
            err.contains("CHILD: joined futures finished") && has_report(err, "LONG WAIT: ")
        });
    assert!(
        out.done,
        "the child did not finish, or no long wait was reported:\n{}",
        out.both()
    );
    let err = &out.stderr;
    assert!(!err.contains("DEADLOCK"), "no deadlock here:\n{err}");
    let report = task_report(err, "LONG WAIT: ", "the task still waits");
    assert!(
        report.contains("what to do: task ")
            && report.contains(" for AsyncMutex `wd-joined`, which it holds itself (taken at tests/tokio/watchdog.rs:")
            && report.contains("If that hold is this same future's (sequential code), it waits for itself and never wakes")
            && report.contains("If a future joined with it in the task holds it (`join!`, `select!`, `join_all`: lockgraph sees one owner per task), the wait ends when that future drops its guard"),
        "{report}"
    );
}
