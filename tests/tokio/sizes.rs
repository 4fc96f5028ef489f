//! The task watchdog's reports say the size of what a task waits for
//! where the thread watchdog's do: an async semaphore's permits in the
//! wait's line (the bounded queue's fill level: tests/tokio_mpsc).

use std::sync::Arc;
use std::time::Duration;

use lockgraph_testkit::{child, is_child, END};

use super::*;

/// A semaphore of 2 permits, 2 added and 1 forgotten (3 in all), all 3
/// held by one task; another waits for one past the timeout.
#[test]
fn child_permit_long_wait() {
    if !is_child() {
        return;
    }
    multi_thread().block_on(async {
        let slots = Arc::new(Semaphore::named("wd-sizes-slots", 2));
        slots.add_permits(2);
        slots.acquire().await.unwrap().forget();
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        let s = slots.clone();
        let holder = lockgraph::tokio::spawn_named("holder", async move {
            let _p = s.acquire_many(3).await.unwrap();
            held_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        held_rx.await.unwrap();
        let waiter = lockgraph::tokio::spawn_named("waiter", async move {
            let _p = slots.acquire().await.unwrap();
        });
        let _ = tokio::join!(holder, waiter); // never returns
    });
}

/// The long wait's line and first line say the semaphore's permits, as
/// the thread watchdog's say a `Semaphore`'s (they said none: tokio's
/// semaphore published no size).
#[test]
fn a_permit_wait_says_the_semaphores_permits() {
    let out = child!(child_permit_long_wait)
        .env("LOCKGRAPH_WATCHDOG", "300ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| {
            err.find("lockgraph task watchdog: LONG WAIT")
                .is_some_and(|i| err[i..].contains(END))
        });
    assert!(out.done, "no task watchdog report:\n{}", out.both());
    let err = &out.stderr;
    let err = &err[err.find("lockgraph task watchdog: LONG WAIT").unwrap()..];
    assert!(
        err.contains("\"waiter\"")
            && err.contains(" for a permit of AsyncSemaphore `wd-sizes-slots` (3 permits) (pid "),
        "{err}"
    );
    assert!(
        err.contains(" for a permit of AsyncSemaphore `wd-sizes-slots` (3 permits) (asked at tests/tokio/sizes.rs:"),
        "{err}"
    );
}
