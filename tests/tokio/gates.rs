//! Async edges carry no gate locks: a lock is a gate only when the actor
//! holds it alone, exclusively, while it waits (docs/design.md, "The cycle
//! search"), and a task's holds are not sure to be (tasks polled on one
//! thread share its sync holds; an owned guard handed to another task
//! stays in its taker's set until released).

use std::sync::Arc;

use lockgraph::{capture, CycleReport, ReportKind};
use tokio::task::yield_now;

use super::*;

fn cycles(reports: &[CycleReport]) -> usize {
    reports
        .iter()
        .filter(|r| matches!(r.kind, ReportKind::LockOrderCycle))
        .count()
}

/// Task 1 takes `a` then `b`, task 2 `b` then `a`.
async fn abba(a: Arc<Mutex<()>>, b: Arc<Mutex<()>>) {
    let (a1, b1) = (a.clone(), b.clone());
    lockgraph::tokio::spawn(async move {
        let _a = a1.lock().await;
        yield_now().await;
        let _b = b1.lock().await;
    })
    .await
    .unwrap();
    lockgraph::tokio::spawn(async move {
        let _b = b.lock().await;
        yield_now().await;
        let _a = a.lock().await;
    })
    .await
    .unwrap();
}

/// `block_on` under a sync lock: both tasks run on this thread, which
/// holds `g`, yet the two can deadlock each other (task 1 holding `a`,
/// pending on `b`; task 2 holding `b`, pending on `a`): `g` gates neither.
#[test]
fn a_threads_sync_lock_is_no_gate_for_its_tasks() {
    let g = lockgraph::Mutex::named("tk-gate-sync-g", ());
    let a = Arc::new(Mutex::named("tk-gate-sync-a", ()));
    let b = Arc::new(Mutex::named("tk-gate-sync-b", ()));
    let reports = capture(|| {
        let _g = g.lock();
        current_thread().block_on(abba(a, b));
    });
    assert_eq!(cycles(&reports), 1, "{reports:#?}");
}

/// An owned guard of `g` handed to another task, which drops it: its taker
/// then takes `a` and `b` without holding `g`, so `g` gates nothing
/// against `g`, `b`, `a` in another task.
#[test]
fn an_owned_guard_handed_on_is_no_gate_of_its_taker() {
    let g = Arc::new(Mutex::named("tk-gate-owned-g", ()));
    let a = Arc::new(Mutex::named("tk-gate-owned-a", ()));
    let b = Arc::new(Mutex::named("tk-gate-owned-b", ()));
    let reports = capture(|| {
        current_thread().block_on(async {
            let (g1, a1, b1) = (g.clone(), a.clone(), b.clone());
            lockgraph::tokio::spawn(async move {
                let guard = g1.lock_owned().await;
                let keeper = lockgraph::tokio::spawn(async move {
                    yield_now().await;
                    drop(guard);
                });
                let _a = a1.lock().await;
                let _b = b1.lock().await;
                drop((_b, _a));
                keeper.await.unwrap();
            })
            .await
            .unwrap();
            let _g = g.lock().await;
            let _b = b.lock().await;
            let _a = a.lock().await;
        })
    });
    assert_eq!(cycles(&reports), 1, "{reports:#?}");
}
