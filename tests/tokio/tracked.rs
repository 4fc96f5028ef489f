//! Async locks held by tasks on a `current_thread` runtime: edges, cycles,
//! recursive reads, mixed sync/async cycles, held-across-await reports.

use std::sync::Arc;
use std::time::Duration;

use lockgraph::{capture, capture_reports, CycleReport, HeldAcrossAwait, ReportKind};
use lockgraph_testkit::{child, is_child};
use tokio::sync::oneshot;
use tokio::task::yield_now;

use super::*;

fn cycles(reports: &[CycleReport]) -> usize {
    reports
        .iter()
        .filter(|r| matches!(r.kind, ReportKind::LockOrderCycle))
        .count()
}

/// ABBA between two tasks on one thread: a cycle between the tasks,
/// each named on its edge, not a self-deadlock of the thread.
#[test]
fn abba_between_tasks_on_a_current_thread_runtime() {
    let a = Arc::new(Mutex::named("ct-abba-a", 0));
    let b = Arc::new(Mutex::named("ct-abba-b", 0));
    let reports = capture(|| {
        current_thread().block_on(async {
            let (a1, b1) = (a.clone(), b.clone());
            let t1 = lockgraph::tokio::spawn_named("ab", async move {
                let _ga = a1.lock().await;
                yield_now().await;
                let _gb = b1.lock().await;
            });
            t1.await.unwrap();
            let (a2, b2) = (a.clone(), b.clone());
            let t2 = lockgraph::tokio::spawn_named("ba", async move {
                let _gb = b2.lock().await;
                yield_now().await;
                let _ga = a2.lock().await;
            });
            t2.await.unwrap();
        })
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert!(matches!(r.kind, ReportKind::LockOrderCycle), "{r}");
    let threads = r.threads();
    assert!(threads.iter().any(|t| t.contains("\"ab\"")), "{r}");
    assert!(threads.iter().any(|t| t.contains("\"ba\"")), "{r}");
    let text = r.to_string();
    assert!(
        text.contains("how it deadlocks (each column a task, all at once):"),
        "{text}"
    );
}

/// A nested acquisition granted at once is skipped only when this
/// thread checked the very same holds before it: `c` under `a`, then
/// `c` under `b` (another held set, same size) still records b -> c,
/// so `b` under `c` closes a cycle. (A memo keyed by anything coarser
/// than the held locks' instances would skip the second check.)
#[test]
fn a_nested_request_under_other_holds_is_checked_again() {
    let a = Mutex::named("memo-a", 0);
    let b = Mutex::named("memo-b", 0);
    let c = Mutex::named("memo-c", 0);
    let reports = capture(|| {
        current_thread().block_on(async {
            for _ in 0..3 {
                let _ga = a.lock().await;
                let _gc = c.lock().await;
            }
            {
                let _gb = b.lock().await;
                let _gc = c.lock().await;
            }
            let _gc = c.lock().await;
            let _gb = b.lock().await;
        })
    });
    assert_eq!(cycles(&reports), 1, "{reports:#?}");
    let text = reports[0].to_string();
    assert!(text.contains("memo-b") && text.contains("memo-c"), "{text}");
    assert!(!text.contains("memo-a"), "{text}");
}

/// Two tasks interleaved on one thread, each holding its own lock
/// across an await, in one global order (a before b): silent. A
/// thread-keyed tracker sees the thread hold b (task 1's) when task 2
/// takes a, then a -> b: a false cycle.
#[test]
fn interleaved_tasks_do_not_see_each_others_holds() {
    let a = Arc::new(Mutex::named("il-a", 0));
    let b = Arc::new(Mutex::named("il-b", 0));
    let reports = capture(|| {
        current_thread().block_on(async {
            let (tx1, rx1) = oneshot::channel::<()>();
            let (tx2, rx2) = oneshot::channel::<()>();
            let b1 = b.clone();
            let t1 = tokio::spawn(async move {
                let g = b1.lock().await; // task 1 holds b ...
                tx1.send(()).unwrap();
                rx2.await.unwrap(); // ... while task 2 takes a
                drop(g);
            });
            let (a2, b2) = (a.clone(), b.clone());
            let t2 = tokio::spawn(async move {
                rx1.await.unwrap();
                let _ga = a2.lock().await;
                tx2.send(()).unwrap();
                yield_now().await;
                let _gb = b2.lock().await; // a -> b, after task 1 let b go
            });
            t1.await.unwrap();
            t2.await.unwrap();
            // The consistent order again, in one task: a -> b.
            let _ga = a.lock().await;
            let _gb = b.lock().await;
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// An owned guard sent to another task and dropped there: the hold of
/// the task that took it ends (no edge from it afterwards).
#[test]
fn an_owned_guard_dropped_in_another_task_leaves_no_hold() {
    let a = Arc::new(Mutex::named("own-a", 0));
    let b = Arc::new(Mutex::named("own-b", 0));
    let reports = capture(|| {
        current_thread().block_on(async {
            let (tx, rx) = oneshot::channel();
            let dropper = tokio::spawn(async move {
                let g: lockgraph::tokio::OwnedMutexGuard<i32> = rx.await.unwrap();
                drop(g);
            });
            let (a1, b1) = (a.clone(), b.clone());
            let (done_tx, done_rx) = oneshot::channel::<()>();
            let taker = tokio::spawn(async move {
                let g = a1.lock_owned().await;
                tx.send(g).unwrap();
                done_rx.await.unwrap();
                // `a` is no longer held by this task: no edge a -> b.
                let _gb = b1.lock().await;
            });
            dropper.await.unwrap();
            done_tx.send(()).unwrap();
            taker.await.unwrap();
            // b -> a: a cycle only if the hold of `a` had leaked.
            let _gb = b.lock().await;
            let _ga = a.lock().await;
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// An owned guard handed to another task, which keeps it a while: its
/// taker then locks the mutex again and waits for that task, a wait that
/// ends. An owned guard is no hold of its taker, so this is no
/// self-deadlock (it was reported as a certain one, and panicked the
/// program under `LOCKGRAPH_ON_CYCLE=panic`; found by an outside test).
#[test]
fn an_owned_guard_handed_on_then_locked_again_by_its_taker_is_no_self_deadlock() {
    let a = Arc::new(Mutex::named("own-again", 0));
    let reports = capture(|| {
        current_thread().block_on(async {
            let a1 = a.clone();
            lockgraph::tokio::spawn_named("giver", async move {
                let g = a1.clone().lock_owned().await;
                let worker = lockgraph::tokio::spawn_named("worker", async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    drop(g);
                });
                let _again = a1.lock().await;
                drop(_again);
                worker.await.unwrap();
            })
            .await
            .unwrap();
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// tokio's own pattern for limiting concurrency: a permit taken with
/// `acquire_owned` moves into each spawned task. The loop holds no permit
/// when it asks for the next (it was reported as "a holder of a
/// semaphore's permit asks it for another", four times).
#[test]
fn owned_permits_moved_into_spawned_tasks_are_no_holds_of_the_loop() {
    let sem = Arc::new(Semaphore::named("own-limit", 2));
    let reports = capture(|| {
        current_thread().block_on(async {
            let mut tasks = Vec::new();
            for i in 0..16u64 {
                let permit = sem.clone().acquire_owned().await.unwrap();
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(i % 3)).await;
                    drop(permit);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// The memo of nested checks (the held set's content, kept by the
/// task) is not fooled by a hold released elsewhere: task 1's check of
/// "a -> b" runs after its guard of `x` (a `'static` lock's: the guard may
/// move) was dropped in another task, and must not be remembered as the
/// check of "{a, x} -> b", which task 2, on the same thread, makes for
/// real: its edge x -> b closes the cycle with task 3's b -> x. (`x` is
/// taken with a try: no edge between `a` and `x`.)
#[test]
fn a_hold_released_elsewhere_does_not_skip_a_later_check() {
    let x: &'static Mutex<i32> = Box::leak(Box::new(Mutex::named("memo-x", 0)));
    let a = Arc::new(Mutex::named("memo-a", 0));
    let b = Arc::new(Mutex::named("memo-b", 0));
    let reports = capture(|| {
        current_thread().block_on(async {
            let (x1, a1, b1) = (x, a.clone(), b.clone());
            tokio::spawn(async move {
                let _ga = a1.lock().await;
                let gx = x1.try_lock().unwrap();
                // x's guard goes to another task and ends there.
                tokio::spawn(async move { drop(gx) }).await.unwrap();
                let _gb = b1.lock().await; // a -> b
            })
            .await
            .unwrap();
            let (x2, a2, b2) = (x, a.clone(), b.clone());
            tokio::spawn(async move {
                let _ga = a2.lock().await;
                let _gx = x2.try_lock().unwrap();
                let _gb = b2.lock().await; // a -> b, x -> b
            })
            .await
            .unwrap();
            let (x3, b3) = (x, b.clone());
            tokio::spawn(async move {
                let _gb = b3.lock().await;
                let _gx = x3.lock().await; // b -> x: a cycle
            })
            .await
            .unwrap();
        })
    });
    assert_eq!(cycles(&reports), 1, "{reports:#?}");
    let text = reports[0].to_string();
    assert!(text.contains("memo-x") && text.contains("memo-b"), "{text}");
}

/// A `lock()` future dropped while it waits (a timeout) leaves no hold
/// and no wait behind: the lock is taken later as if it never was, and
/// no edge comes from it.
#[test]
fn a_cancelled_lock_future_leaves_nothing() {
    let a = Arc::new(Mutex::named("cancel-a", 0));
    let b = Arc::new(Mutex::named("cancel-b", 0));
    let reports = capture(|| {
        current_thread().block_on(async {
            let (held_tx, held_rx) = oneshot::channel();
            let a1 = a.clone();
            let holder = tokio::spawn(async move {
                let _g = a1.lock().await;
                held_tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            });
            held_rx.await.unwrap();
            let r = tokio::time::timeout(Duration::from_millis(20), a.lock()).await;
            assert!(r.is_err(), "the lock() waited and was cancelled");
            holder.await.unwrap();
            // b then a: an edge a -> b would only come from a leaked hold.
            let _gb = b.lock().await;
            let _ga = a.lock().await;
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// A try never waits: no edge into the tried lock.
#[test]
fn a_try_lock_records_no_edge() {
    let a = Mutex::named("try-a", 0);
    let b = Mutex::named("try-b", 0);
    let reports = capture(|| {
        current_thread().block_on(async {
            {
                let _ga = a.lock().await;
                let _gb = b.try_lock().unwrap();
            }
            let _gb = b.lock().await;
            let _ga = a.lock().await;
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// `reports` is one potential (not certain) self-deadlock.
fn assert_one_potential_self_deadlock(reports: &[CycleReport]) {
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert!(
        matches!(reports[0].kind, ReportKind::SelfDeadlock { certain: false }),
        "{}",
        reports[0]
    );
}

/// tokio's `RwLock` is fair: a second `read` in one task can queue
/// behind a writer that waits for the first.
#[test]
fn a_recursive_read_is_a_potential_self_deadlock() {
    let l = RwLock::named("rw-rec", 0);
    let reports = capture(|| {
        current_thread().block_on(async {
            let _r1 = l.read().await;
            let _r2 = l.read().await;
        })
    });
    assert_one_potential_self_deadlock(&reports);
    // tokio's RwLock has no read_recursive: the advice is its own.
    let text = reports[0].to_string();
    // `block_on`'s own future is its thread's.
    assert!(text.contains("\n  thread:    thread `"), "{text}");
    assert!(
        text.contains("tokio's RwLock is fair") && !text.contains("read_recursive"),
        "{text}"
    );
}

/// Two futures joined in one task take turns on one lock: the second asks
/// while the first holds it across an await. lockgraph keeps holds per
/// task, so the task asks for a lock it holds; that is a potential
/// self-deadlock, not a certain one (it said "deadlock: ... It waits for
/// itself and never wakes" on this correct code; found by an outside test),
/// and its words say both cases. The same words for sequential code, the
/// real self-deadlock (here cut short by a timeout).
#[test]
fn a_task_asking_for_an_async_lock_it_holds_is_a_potential_self_deadlock() {
    let m = Arc::new(Mutex::named("joined-turns", 0));
    let m1 = m.clone();
    let reports = capture(|| {
        current_thread().block_on(async move {
            lockgraph::tokio::spawn_named("joiner", async move {
                let first = async {
                    let mut g = m1.lock().await;
                    yield_now().await;
                    yield_now().await;
                    *g += 1;
                };
                let second = async {
                    yield_now().await;
                    *m1.lock().await += 1; // the first future holds it
                };
                tokio::join!(first, second);
            })
            .await
            .unwrap();
        })
    });
    assert_eq!(*m.try_lock().unwrap(), 2);
    assert_one_potential_self_deadlock(&reports);
    let text = reports[0].to_string();
    assert!(
        text.starts_with("lockgraph: potential deadlock: an async lock is requested by the task (or thread) that holds it\n")
            && text.contains("\n  task:      task ")
            && text.contains("it waits for itself and never wakes")
            && text.contains("the request waits until that future drops its guard, and there is no deadlock"),
        "{text}"
    );

    let s = Arc::new(Mutex::named("sequential-again", 0));
    let reports = capture(|| {
        current_thread().block_on(async move {
            lockgraph::tokio::spawn_named("again", async move {
                let _g = s.lock().await;
                let again = tokio::time::timeout(Duration::from_millis(50), s.lock()).await;
                assert!(again.is_err(), "a second lock of a held tokio Mutex waits");
            })
            .await
            .unwrap();
        })
    });
    assert_one_potential_self_deadlock(&reports);
}

/// A task holds async `a` and takes sync `b`; a thread holding `b`
/// calls `a.blocking_lock()`: one cycle through both kinds of lock.
#[test]
fn a_mixed_sync_async_cycle_is_reported() {
    let a = Mutex::named("mixed-async-a", 0);
    let b = lockgraph::Mutex::named("mixed-sync-b", 0);
    let reports = capture(|| {
        current_thread().block_on(async {
            let _ga = a.lock().await;
            let _gb = b.lock();
        });
        let _gb = b.lock();
        let _ga = a.blocking_lock();
    });
    assert_eq!(cycles(&reports), 1, "{reports:#?}");
}

/// Permits held by tasks that wait for a lock whose holder waits for a
/// permit: a cycle through the semaphore.
#[test]
fn a_semaphore_cycle_is_reported() {
    for permits in [1, 4] {
        let s = Semaphore::named(if permits == 1 { "sem-1" } else { "sem-4" }, permits);
        let l = Mutex::named(if permits == 1 { "sem-l-1" } else { "sem-l-4" }, 0);
        let reports = capture(|| {
            current_thread().block_on(async {
                {
                    let _p = s.acquire().await.unwrap();
                    let _g = l.lock().await;
                }
                let _g = l.lock().await;
                let _p = s.acquire().await.unwrap();
            })
        });
        // With enough permits for every holder it cannot hang, but the
        // order graph does not count permits: the documented verdict
        // (docs/async.md, "Semaphores") is a report all the same.
        assert_eq!(cycles(&reports), 1, "permits {permits}: {reports:#?}");
    }
}

/// A sync guard held across an await of an instrumented task: reported
/// once the poll returns `Pending`; dropped before the await: silent.
#[test]
#[allow(clippy::await_holding_lock)] // the point of the test
fn a_sync_lock_held_across_an_await_is_reported() {
    let m = Arc::new(lockgraph::Mutex::named("across-await", 0));
    let m1 = m.clone();
    let reports = capture_reports::<HeldAcrossAwait>(|| {
        let local = tokio::task::LocalSet::new();
        local.block_on(&current_thread(), async move {
            tokio::task::spawn_local(lockgraph::tokio::instrument_named("holder", async move {
                let g = m1.lock();
                yield_now().await;
                drop(g);
            }))
            .await
            .unwrap();
        })
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let text = reports[0].to_string();
    assert!(
        text.contains("across-await") && text.contains("\"holder\""),
        "{text}"
    );
    // A task is named as a task.
    assert!(text.contains("\n  task:      task "), "{text}");

    let m2 = m.clone();
    let silent = capture_reports::<HeldAcrossAwait>(|| {
        let local = tokio::task::LocalSet::new();
        local.block_on(&current_thread(), async move {
            tokio::task::spawn_local(lockgraph::tokio::instrument_named("dropper", async move {
                let g = m2.lock();
                drop(g);
                yield_now().await;
            }))
            .await
            .unwrap();
        })
    });
    assert!(silent.is_empty(), "{silent:#?}");
}

/// A poll that releases one sync lock and takes another holds as many as
/// before it: the new one, held across the next await, is reported too
/// (the check compared counts, and missed it; found by an outside test).
#[test]
#[allow(clippy::await_holding_lock)] // the point of the test
fn a_sync_lock_swapped_for_another_across_awaits_is_reported_too() {
    let s = Arc::new(lockgraph::Mutex::named("swap-first", 0));
    let t = Arc::new(lockgraph::Mutex::named("swap-second", 0));
    let reports = capture_reports::<HeldAcrossAwait>(|| {
        let local = tokio::task::LocalSet::new();
        local.block_on(&current_thread(), async move {
            tokio::task::spawn_local(lockgraph::tokio::instrument_named("swapper", async move {
                let g = s.lock();
                yield_now().await;
                drop(g);
                let h = t.lock();
                yield_now().await;
                drop(h);
            }))
            .await
            .unwrap();
        })
    });
    let texts: Vec<String> = reports.iter().map(|r| r.to_string()).collect();
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(
        texts[0].contains("swap-first") && !texts[0].contains("swap-second"),
        "{texts:#?}"
    );
    assert!(
        texts[1].contains("swap-second") && !texts[1].contains("swap-first"),
        "{texts:#?}"
    );
}

/// A future polled outside any task (`block_on`'s own) is its thread's:
/// the report names the thread as other reports do (thread `name`), not
/// as a task.
#[test]
#[allow(clippy::await_holding_lock)] // the point of the test
fn a_sync_lock_held_across_an_await_outside_a_task_names_the_thread() {
    let m = lockgraph::Mutex::named("across-await-thread", 0);
    let reports = capture_reports::<HeldAcrossAwait>(|| {
        current_thread().block_on(lockgraph::tokio::instrument(async {
            let g = m.lock();
            yield_now().await;
            drop(g);
        }))
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let text = reports[0].to_string();
    let name = std::thread::current().name().unwrap().to_string();
    assert!(
        text.contains(&format!("\n  thread:    thread `{name}`\n")),
        "{text}"
    );
}

/// A self-deadlock in a task names the task as a task (it read `thread:
/// task 3`); outside a task, the thread as thread `name`.
#[test]
fn a_self_deadlock_names_a_task_as_a_task() {
    let l = Arc::new(RwLock::named("rw-rec-task", 0));
    let l1 = l.clone();
    let reports = capture(|| {
        let local = tokio::task::LocalSet::new();
        local.block_on(&current_thread(), async move {
            tokio::task::spawn_local(async move {
                let _r1 = l1.read().await;
                let _r2 = l1.read().await;
            })
            .await
            .unwrap();
        })
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let text = reports[0].to_string();
    assert!(text.contains("\n  task:      task "), "{text}");
    assert!(!text.contains("thread:"), "{text}");
}

/// A task that, holding sync lock `sync`, waits for async lock `asyn`
/// (held by the runtime's main task until it yields): the task's join
/// result.
#[allow(clippy::await_holding_lock)] // the point of the scenario
fn async_wait_holding_a_sync_lock(
    sync: &'static str,
    asyn: &'static str,
) -> Result<(), tokio::task::JoinError> {
    let m = Arc::new(lockgraph::Mutex::named(sync, 0));
    let a = Arc::new(Mutex::named(asyn, 0));
    let local = tokio::task::LocalSet::new();
    local.block_on(&current_thread(), async {
        let held = a.clone().lock_owned().await;
        let (a2, m2) = (a.clone(), m.clone());
        let t = tokio::task::spawn_local(async move {
            let g = m2.lock();
            let _ga = a2.lock().await; // THE WAIT: `held` is taken
            drop(g);
        });
        yield_now().await;
        drop(held);
        t.await
    })
}

/// The line of [`async_wait_holding_a_sync_lock`]'s wait, the site its
/// report names (found by its marker, put together here so that this line
/// does not match).
fn the_waits_line() -> u32 {
    let marker = concat!("// THE", " WAIT:");
    let i = include_str!("tracked.rs")
        .lines()
        .position(|l| l.contains(marker))
        .expect("the marker");
    i as u32 + 1
}

/// An async acquisition that has to wait while its thread holds a sync
/// lock: reported (no wrapper needed), at the wait.
#[test]
fn an_async_wait_while_holding_a_sync_lock_is_reported() {
    let reports = capture_reports::<HeldAcrossAwait>(|| {
        async_wait_holding_a_sync_lock("wait-holding", "wait-holding-async").unwrap();
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let text = reports[0].to_string();
    assert!(text.contains("wait-holding-async"), "{text}");
    let at = format!("at {}:{}:", file!(), the_waits_line());
    assert!(text.contains(&at), "{at}: {text}");
}

/// The child of `a_panic_by_policy_names_the_wait_first`: the wait of
/// `an_async_wait_while_holding_a_sync_lock_is_reported` under the `panic`
/// policy; prints the panic's message.
#[test]
fn child_async_wait_holding_a_sync_lock_panics() {
    if !is_child() {
        return;
    }
    std::panic::set_hook(Box::new(|_| {}));
    let joined = async_wait_holding_a_sync_lock("panic-holding", "panic-holding-async");
    let payload = joined.expect_err("no panic").into_panic();
    let text = payload
        .downcast_ref::<String>()
        .expect("the panic carries the report");
    println!("MESSAGE {text}");
}

/// A held-across-await report that panics by policy starts its message
/// with the site of the wait, as a compiler names a place (the panic's
/// own location is lockgraph's).
#[test]
fn a_panic_by_policy_names_the_wait_first() {
    let out = child!(child_async_wait_holding_a_sync_lock_panics)
        .env("LOCKGRAPH_ON_CYCLE", "panic")
        .run();
    assert!(out.success(), "{}", out.both());
    let first = out
        .stdout
        .lines()
        .find_map(|l| l.split("MESSAGE ").nth(1))
        .unwrap_or_else(|| panic!("no message: {}", out.both()));
    let at = format!("{}:{}:", file!(), the_waits_line());
    assert!(first.starts_with(&at), "{at}: {first}");
    assert!(out.stdout.contains("panic-holding-async"), "{}", out.both());
}

/// An async edge goes to `LOCKGRAPH_RECORD` like any other, with its
/// kinds and the task that recorded it, for `lockgraph check`.
#[test]
fn child_records_an_async_edge() {
    if !is_child() {
        return;
    }
    let a = Mutex::named("rec-async-a", 0);
    let b = lockgraph::Mutex::named("rec-sync-b", 0);
    current_thread().block_on(async {
        tokio::spawn(async move {
            let _ga = a.lock().await;
            let _gb = b.lock();
        })
        .await
        .unwrap();
    });
}

#[test]
fn an_async_edge_is_recorded_for_lockgraph_check() {
    let dir = std::env::temp_dir().join(format!("lockgraph-tokio-rec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = child!(child_records_an_async_edge)
        .env("LOCKGRAPH_RECORD", &dir)
        .run();
    assert!(out.success(), "{}", out.both());
    let text: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let line = text
        .lines()
        .find(|l| l.contains("rec-async-a") && l.contains("rec-sync-b"))
        .unwrap_or_else(|| panic!("no edge line:\n{text}"));
    assert!(
        line.contains("AsyncMutex") && line.contains("task "),
        "{line}"
    );
}

/// Every kind of guard (mapped, owned, owned mapped, downgraded, split
/// and merged permits, forgotten permits) ends its hold when it goes:
/// after all of them, the probe taken and then each lock closes no
/// cycle with an edge from a leaked hold into the probe.
#[test]
fn every_guard_kind_ends_its_hold() {
    let m = Arc::new(Mutex::named("kinds-m", (1u32, 2u32)));
    let rw = Arc::new(RwLock::named("kinds-rw", (1u32, 2u32)));
    let sem = Arc::new(Semaphore::named("kinds-sem", 4));
    let probe = Mutex::named("kinds-probe", 0);
    let reports = capture(|| {
        current_thread().block_on(async {
            {
                let g = lockgraph::tokio::MutexGuard::map(m.lock().await, |v| &mut v.0);
                let mut g = lockgraph::tokio::MappedMutexGuard::map(g, |v| v);
                *g += 1;
            }
            {
                let g = m.lock().await;
                let g = lockgraph::tokio::MutexGuard::try_map(g, |_| None::<&mut u32>).unwrap_err();
                assert_eq!(g.0, 2);
            }
            {
                let g = m.clone().lock_owned().await;
                let g = lockgraph::tokio::OwnedMutexGuard::map(g, |v| &mut v.1);
                assert_eq!(*g, 2);
            }
            {
                let w = rw.write().await;
                let r = w.downgrade();
                assert_eq!(r.0, 1);
                let r = lockgraph::tokio::RwLockReadGuard::map(r, |v| &v.1);
                assert_eq!(*r, 2);
            }
            {
                let w = rw.clone().write_owned().await;
                let r = w.downgrade();
                let r = lockgraph::tokio::OwnedRwLockReadGuard::map(r, |v| &v.0);
                assert_eq!(*r, 1);
            }
            {
                let w = rw.write().await;
                let mut w = lockgraph::tokio::RwLockWriteGuard::map(w, |v| &mut v.0);
                *w += 1;
                let w = rw.try_write();
                assert!(w.is_err());
            }
            {
                let mut p = sem.acquire_many(3).await.unwrap();
                let q = p.split(1).unwrap();
                assert_eq!((p.num_permits(), q.num_permits()), (2, 1));
                p.merge(q);
                assert_eq!(p.num_permits(), 3);
                let f = sem.try_acquire().unwrap();
                f.forget();
                assert_eq!(sem.available_permits(), 0);
                drop(p);
                sem.add_permits(1);
                let o = sem.clone().acquire_owned().await.unwrap();
                assert_eq!(o.num_permits(), 1);
            }
            // Nothing is held now. A leaked hold would give it an
            // edge "leaked -> probe" here, and then the probe held
            // while each lock is taken closes a cycle with it.
            let _p = probe.lock().await;
            let _g = m.lock().await;
            let _r = rw.read().await;
            let _s = sem.acquire().await.unwrap();
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// ABBA between two tasks on a multi-thread runtime, with a yield
/// between the acquisitions (the tasks may resume on other workers):
/// reported, naming both tasks.
#[test]
fn child_abba_on_a_multi_thread_runtime() {
    if !is_child() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let a = Arc::new(Mutex::named("mt-a", 0));
        let b = Arc::new(Mutex::named("mt-b", 0));
        for round in 0..20 {
            let (a1, b1, a2, b2) = (a.clone(), b.clone(), a.clone(), b.clone());
            lockgraph::tokio::spawn_named("first-a-then-b", async move {
                let _ga = a1.lock().await;
                yield_now().await;
                let _gb = b1.lock().await;
            })
            .await
            .unwrap();
            if round == 19 {
                lockgraph::tokio::spawn_named("first-b-then-a", async move {
                    let _gb = b2.lock().await;
                    yield_now().await;
                    let _ga = a2.lock().await;
                })
                .await
                .unwrap();
            }
        }
    });
    lockgraph::flush_reports(Duration::from_secs(5));
    eprintln!("CHILD DONE");
}

#[test]
fn abba_on_a_multi_thread_runtime() {
    let out = child!(child_abba_on_a_multi_thread_runtime)
        .env("LOCKGRAPH_ON_CYCLE", "warn")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| err.contains("CHILD DONE"));
    assert!(out.done, "{}", out.both());
    let err = &out.stderr;
    assert!(err.contains("mt-a") && err.contains("mt-b"), "{err}");
    assert!(
        err.contains("\"first-a-then-b\"") && err.contains("\"first-b-then-a\""),
        "{err}"
    );
}
