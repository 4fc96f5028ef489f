//! The task watchdog: a real hang through a full queue, a long receive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lockgraph::tokio::Mutex;
use lockgraph_testkit::{child, is_child, END};
use tokio::sync::Notify;

use super::*;

/// The producer holds `stats` and sends into a full queue; the consumer
/// (it received once, so it is the queue's consumer) waits for `stats`
/// before its next receive.
#[test]
fn child_queue_deadlock() {
    if !is_child() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stats = Arc::new(Mutex::named("wd-tmpsc-stats", 0u32));
        let (tx, mut rx) = mpsc::channel_named::<u32>("wd-tmpsc-queue", 1);
        let go = Arc::new(Notify::new());
        let (s, g) = (stats.clone(), go.clone());
        let consumer = lockgraph::tokio::spawn_named("consumer", async move {
            let first = rx.recv().await;
            g.notified().await;
            *s.lock().await += first.unwrap_or(0);
            while rx.recv().await.is_some() {}
        });
        let producer = lockgraph::tokio::spawn_named("producer", async move {
            tx.send(1).await.unwrap();
            let _g = stats.lock().await;
            tx.send(2).await.unwrap(); // fills the queue
            go.notify_one();
            tx.send(3).await.unwrap(); // full: waits for the consumer
        });
        eprintln!("DEADLOCKED AT {:?}", Instant::now());
        let _ = tokio::join!(consumer, producer); // never returns
    });
}

#[test]
fn a_task_hang_through_a_queue_is_reported() {
    let start = Instant::now();
    let out = child!(child_queue_deadlock)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| {
            // The deadlock's report, to its end (a long-wait report of
            // the producer alone may come first).
            err.find("lockgraph task watchdog: DEADLOCK")
                .is_some_and(|i| err[i..].contains(END))
        });
    assert!(
        out.done,
        "no task watchdog deadlock report:\n{}",
        out.both()
    );
    let err = &out.stderr;
    let err = &err[err.find("DEADLOCK").unwrap()..];
    for name in [
        "\"producer\"",
        "\"consumer\"",
        "wd-tmpsc-stats",
        "Queue `wd-tmpsc-queue`",
        // Worded as the thread watchdog words a send.
        "for space in Queue `wd-tmpsc-queue` (a send into the full queue) (asked at tests/tokio_mpsc/watchdog.rs:",
        // Its bound, under the wait's line, as the thread watchdog's.
        ":41:16)\n      Queue `wd-tmpsc-queue` full: 1 of 1\n",
    ] {
        assert!(err.contains(name), "{name} missing:\n{err}");
    }
    // A cycle through a queue's consumer (a role): the producer
    // releases the lock it holds before it sends.
    let advice = err
        .lines()
        .find(|l| l.starts_with("what to do: "))
        .expect(err);
    for part in [
        "\"producer\"",
        "asks for Queue `wd-tmpsc-queue` at tests/tokio_mpsc/watchdog.rs:",
        "while holding AsyncMutex `wd-tmpsc-stats` (taken at tests/tokio_mpsc/watchdog.rs:",
    ] {
        assert!(advice.contains(part), "{part} missing:\n{err}");
    }
    assert!(advice.ends_with("): release it before that call"), "{err}");
    // Within two timeouts of the hang, plus the child's start-up: a
    // generous bound on a shared machine, far below the deadline.
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

/// As `child_queue_deadlock`, the producer waiting in
/// `reserve_owned().await` (an owned future of its own) for the room.
#[test]
fn child_reserve_owned_deadlock() {
    if !is_child() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stats = Arc::new(Mutex::named("wd-towned-stats", 0u32));
        let (tx, mut rx) = mpsc::channel_named::<u32>("wd-towned-queue", 1);
        let go = Arc::new(Notify::new());
        let (s, g) = (stats.clone(), go.clone());
        let consumer = lockgraph::tokio::spawn_named("consumer", async move {
            let first = rx.recv().await;
            g.notified().await;
            *s.lock().await += first.unwrap_or(0);
            while rx.recv().await.is_some() {}
        });
        let producer = lockgraph::tokio::spawn_named("producer", async move {
            tx.send(1).await.unwrap();
            let _g = stats.lock().await;
            tx.send(2).await.unwrap(); // fills the queue
            go.notify_one();
            let permit = tx.reserve_owned().await.unwrap(); // waits for the consumer
            permit.send(3);
        });
        let _ = tokio::join!(consumer, producer); // never returns
    });
}

#[test]
fn a_task_hang_in_reserve_owned_is_reported() {
    let out = child!(child_reserve_owned_deadlock)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "500ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| {
            err.find("lockgraph task watchdog: DEADLOCK")
                .is_some_and(|i| err[i..].contains(END))
        });
    assert!(
        out.done,
        "no task watchdog deadlock report:\n{}",
        out.both()
    );
    let err = &out.stderr;
    let err = &err[err.find("DEADLOCK").unwrap()..];
    for name in [
        "\"producer\"",
        "\"consumer\"",
        "wd-towned-stats",
        "Queue `wd-towned-queue`",
    ] {
        assert!(err.contains(name), "{name} missing:\n{err}");
    }
}

/// A task waiting in `recv().await` on a queue nobody sends into:
/// reported as a long wait, not as a deadlock.
#[test]
fn child_long_receive() {
    if !is_child() {
        return;
    }
    let rt = current_thread();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel_named::<u32>("wd-tmpsc-idle", 1);
        // Two Senders alive, one of them an upgraded weak one, and a weak
        // one that is not a Sender.
        let weak = tx.downgrade();
        let again = weak.upgrade().unwrap();
        let t = lockgraph::tokio::spawn_named("idle-consumer", async move {
            rx.recv().await;
        });
        let _ = t.await;
        drop((tx, again, weak));
    });
}

#[test]
fn a_long_receive_is_reported_as_a_long_wait() {
    let out = child!(child_long_receive)
        .env("LOCKGRAPH_WATCHDOG", "300ms")
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| err.contains(END));
    assert!(out.done, "no task watchdog report:\n{}", out.both());
    let err = &out.stderr;
    // The thread watchdog's first line and last, and its end marker.
    assert!(
        err.contains("lockgraph task watchdog: LONG WAIT: task "),
        "{err}"
    );
    assert!(
        err.contains("; reported only; the task still waits\n"),
        "{err}"
    );
    // The advice of a receive (as the thread watchdog's): who would send.
    assert!(
        err.contains("\nwhat to do: nothing has been sent on Queue `wd-tmpsc-idle` for "),
        "{err}"
    );
    // The Senders alive, from the queue's probe, as the thread watchdog's.
    assert!(
        err.contains(" and 2 Senders are alive: if the producers"),
        "{err}"
    );
    assert!(
        err.contains(": if the producers are done, drop every Sender (one kept by this task's joiner, or by this task itself, too) so that the receive ends\n"),
        "{err}"
    );
    assert!(err.contains(&format!("\n{END}")), "{err}");
    assert!(err.contains("\"idle-consumer\""), "{err}");
    assert!(
        err.contains("for an item from Queue `wd-tmpsc-idle` (a receive on the empty queue)"),
        "{err}"
    );
    // Its bound, under the wait's line, as the thread watchdog's.
    assert!(
        err.contains(")\n      Queue `wd-tmpsc-idle` empty: 0 of 1\n"),
        "{err}"
    );
    assert!(!err.contains("DEADLOCK"), "{err}");
}
