//! `lockgraph::tokio::mpsc`: tokio's bounded queue in the lock-order graph
//! and the task watchdog (the `tokio` feature; docs/pipelines.md).
//!
//! Scenarios on a `current_thread` runtime run on the test's own thread, so
//! `capture` sees their reports; the watchdog's runs in a child process
//! with a deadline and is read from its stderr.
#![cfg(feature = "tokio")]

use lockgraph::tokio::mpsc;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod api;
#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod profile;

#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod tracked {
    use std::sync::Arc;

    use lockgraph::tokio::Mutex;
    use lockgraph::{capture, CycleReport, ReportKind};
    use tokio::task::yield_now;

    use super::*;

    fn cycles(reports: &[CycleReport]) -> Vec<&CycleReport> {
        reports
            .iter()
            .filter(|r| matches!(r.kind, ReportKind::LockOrderCycle))
            .collect()
    }

    /// The consumer task takes `stats` between two receives; the producer
    /// task, holding `stats`, sends into the queue (never full here): the
    /// cycle stats -> queue -> stats, at the send, naming both tasks.
    #[test]
    fn a_send_holding_what_the_consumer_takes_is_reported_before_the_queue_is_full() {
        let stats = Arc::new(Mutex::named("tmpsc-cycle-stats", 0u32));
        let reports = capture(|| {
            current_thread().block_on(async {
                let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-cycle-queue", 8);
                let s = stats.clone();
                let consumer = lockgraph::tokio::spawn_named("consumer", async move {
                    while let Some(item) = rx.recv().await {
                        *s.lock().await += item;
                    }
                });
                tx.send(1).await.unwrap();
                while *stats.lock().await == 0 {
                    yield_now().await;
                }
                let st = stats.clone();
                let producer = lockgraph::tokio::spawn_named("producer", async move {
                    let g = st.lock().await;
                    tx.send(2).await.unwrap(); // room for 8: it does not wait
                    drop(g);
                });
                producer.await.unwrap();
                consumer.await.unwrap();
            })
        });
        let found = cycles(&reports);
        assert_eq!(found.len(), 1, "{reports:#?}");
        let text = found[0].to_string();
        for s in [
            "tmpsc-cycle-queue",
            "tmpsc-cycle-stats",
            "\"producer\"",
            "\"consumer\"",
            // A task waited, not a thread (found by an outside test).
            "fix: a task holds L",
        ] {
            assert!(text.contains(s), "{s} missing:\n{text}");
        }
        // Both sides' sites: the send and the consumer's lock, in this file.
        assert!(
            text.matches("tests/tokio_mpsc/main.rs").count() >= 2,
            "{text}"
        );
    }

    /// A receiver moved to another task takes the consumer's hold along at
    /// its next receive: the second task's locks are the queue's needs.
    #[test]
    fn a_receiver_moved_to_another_task_moves_the_hold() {
        let stats = Arc::new(Mutex::named("tmpsc-moved-stats", 0u32));
        let reports = capture(|| {
            current_thread().block_on(async {
                let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-moved-queue", 8);
                tx.send(1).await.unwrap();
                tx.send(2).await.unwrap();
                // The first consumer receives once, then hands the receiver on.
                let first = tokio::spawn(async move {
                    assert_eq!(rx.recv().await, Some(1));
                    rx
                });
                let mut rx = first.await.unwrap();
                let s = stats.clone();
                let second = lockgraph::tokio::spawn_named("second-consumer", async move {
                    while let Some(item) = rx.recv().await {
                        *s.lock().await += item;
                    }
                });
                while *stats.lock().await == 0 {
                    yield_now().await;
                }
                let g = stats.lock().await;
                tx.send(3).await.unwrap();
                drop(g);
                drop(tx);
                second.await.unwrap();
            })
        });
        let found = cycles(&reports);
        assert_eq!(found.len(), 1, "{reports:#?}");
        let text = found[0].to_string();
        assert!(text.contains("\"second-consumer\""), "{text}");
    }

    /// A plain thread consuming with `blocking_recv` holds the queue as
    /// the thread: a task that sends while holding the lock the thread
    /// takes between receives is the same cycle.
    #[test]
    #[allow(clippy::await_holding_lock)] // the send has room: it does not yield
    fn a_thread_consuming_with_blocking_recv_is_the_consumer() {
        let stats = Arc::new(lockgraph::Mutex::named("tmpsc-thread-stats", 0u32));
        let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-thread-queue", 8);
        let s = stats.clone();
        let consumer = std::thread::spawn(move || {
            lockgraph::capture(|| {
                while let Some(item) = rx.blocking_recv() {
                    *s.lock() += item;
                }
            })
        });
        let reports = capture(|| {
            current_thread().block_on(async {
                tx.send(1).await.unwrap();
                while *stats.lock() == 0 {
                    yield_now().await;
                }
                let g = stats.lock();
                tx.send(2).await.unwrap();
                drop(g);
            })
        });
        drop(tx);
        let theirs = consumer.join().unwrap();
        let all: Vec<CycleReport> = reports.into_iter().chain(theirs).collect();
        let found = cycles(&all);
        assert_eq!(found.len(), 1, "{all:#?}");
        assert!(found[0].to_string().contains("tmpsc-thread-queue"));
    }

    /// Without a name, the queue's class is its creation site (and item
    /// type): the report names the line that made it.
    #[test]
    fn an_unnamed_queue_is_named_by_its_creation_site() {
        let stats = Arc::new(Mutex::named("tmpsc-site-stats", 0u32));
        let made_at = std::sync::OnceLock::new();
        let reports = capture(|| {
            current_thread().block_on(async {
                let (tx, mut rx) = mpsc::channel::<u32>(8);
                made_at.set(line!() - 1).unwrap();
                let s = stats.clone();
                let consumer = tokio::spawn(async move {
                    while let Some(item) = rx.recv().await {
                        *s.lock().await += item;
                    }
                });
                tx.send(1).await.unwrap();
                while *stats.lock().await == 0 {
                    yield_now().await;
                }
                let g = stats.lock().await;
                tx.send(2).await.unwrap();
                drop(g);
                drop(tx);
                consumer.await.unwrap();
            })
        });
        let found = cycles(&reports);
        assert_eq!(found.len(), 1, "{reports:#?}");
        let text = found[0].to_string();
        let site = format!("tests/tokio_mpsc/main.rs:{}", made_at.get().unwrap());
        assert!(text.contains(&site), "{site} missing:\n{text}");
    }

    /// The same with a sync lock: the producer task holds a lockgraph
    /// `Mutex` while it sends, the consumer takes it between receives.
    #[test]
    #[allow(clippy::await_holding_lock)] // the send has room: it does not yield
    fn a_sync_lock_held_over_a_send_is_the_same_cycle() {
        let stats = Arc::new(lockgraph::Mutex::named("tmpsc-sync-stats", 0u32));
        let reports = capture(|| {
            current_thread().block_on(async {
                let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-sync-queue", 8);
                let s = stats.clone();
                let consumer = tokio::spawn(async move {
                    while let Some(item) = rx.recv().await {
                        *s.lock() += item;
                    }
                });
                tx.send(1).await.unwrap();
                while *stats.lock() == 0 {
                    yield_now().await;
                }
                {
                    let _g = stats.lock();
                    tx.send(2).await.unwrap(); // room: no await pending
                }
                drop(tx);
                consumer.await.unwrap();
            })
        });
        let found = cycles(&reports);
        assert_eq!(found.len(), 1, "{reports:#?}");
        let text = found[0].to_string();
        assert!(text.contains("tmpsc-sync-queue"), "{text}");
        assert!(text.contains("tmpsc-sync-stats"), "{text}");
    }

    /// The safe order: the producer lets go of `stats` before it sends.
    #[test]
    fn the_same_code_in_a_safe_order_is_silent() {
        let stats = Arc::new(Mutex::named("tmpsc-safe-stats", 0u32));
        let reports = capture(|| {
            current_thread().block_on(async {
                let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-safe-queue", 1);
                let s = stats.clone();
                let consumer = tokio::spawn(async move {
                    while let Some(item) = rx.recv().await {
                        *s.lock().await += item;
                    }
                });
                for i in 1..=20 {
                    let n = {
                        let g = stats.lock().await;
                        *g + i
                    };
                    tx.send(n).await.unwrap(); // waits for room (bound 1)
                }
                drop(tx);
                consumer.await.unwrap();
            })
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    /// `try_send` never waits: no edge, so no cycle.
    #[test]
    fn try_send_adds_no_edge() {
        let stats = Arc::new(Mutex::named("tmpsc-try-stats", 0u32));
        let reports = capture(|| {
            current_thread().block_on(async {
                let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-try-queue", 8);
                let s = stats.clone();
                let consumer = tokio::spawn(async move {
                    while let Some(item) = rx.recv().await {
                        *s.lock().await += item;
                    }
                });
                tx.send(1).await.unwrap();
                while *stats.lock().await == 0 {
                    yield_now().await;
                }
                {
                    let _g = stats.lock().await;
                    tx.try_send(2).unwrap();
                    let permit = tx.try_reserve().unwrap();
                    permit.send(3);
                }
                drop(tx);
                consumer.await.unwrap();
                assert_eq!(*stats.lock().await, 6);
            })
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    /// `reserve().await` can wait like a send: the same edge.
    #[test]
    fn reserve_is_a_request_like_send() {
        let stats = Arc::new(Mutex::named("tmpsc-reserve-stats", 0u32));
        let reports = capture(|| {
            current_thread().block_on(async {
                let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-reserve-queue", 8);
                let s = stats.clone();
                let consumer = tokio::spawn(async move {
                    while let Some(item) = rx.recv().await {
                        *s.lock().await += item;
                    }
                });
                tx.send(1).await.unwrap();
                while *stats.lock().await == 0 {
                    yield_now().await;
                }
                {
                    let _g = stats.lock().await;
                    tx.reserve().await.unwrap().send(2);
                }
                drop(tx);
                consumer.await.unwrap();
            })
        });
        assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
    }

    /// An unbounded channel's send never waits: tokio's own channel, no
    /// edge, and its receiver serves nothing.
    #[test]
    fn an_unbounded_channel_adds_no_edge() {
        let stats = Arc::new(Mutex::named("tmpsc-unbounded-stats", 0u32));
        let reports = capture(|| {
            current_thread().block_on(async {
                let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
                let s = stats.clone();
                let consumer = tokio::spawn(async move {
                    while let Some(item) = rx.recv().await {
                        *s.lock().await += item;
                    }
                });
                tx.send(1).unwrap();
                while *stats.lock().await == 0 {
                    yield_now().await;
                }
                {
                    let _g = stats.lock().await;
                    tx.send(2).unwrap();
                }
                drop(tx);
                consumer.await.unwrap();
            })
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    /// The ends cross threads and tasks as tokio's do, and so do the send
    /// and receive futures.
    #[test]
    fn the_ends_and_their_futures_are_send_and_sync() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-send-sync", 1);
        send_sync(&tx);
        send_sync(&rx);
        send(&tx.send(1));
        send(&tx.reserve());
        send(&tx.reserve_many(1));
        send(&rx.recv());
        let mut buf = Vec::new();
        send(&rx.recv_many(&mut buf, 1));
        send_sync(&tx.downgrade());
        let owned = tx.clone().reserve_owned();
        send(&owned);
        fn is_static<T: 'static>(_: &T) {}
        is_static(&owned);
        drop(owned);
        let permit = tx.try_reserve_owned().unwrap();
        send_sync(&permit);
    }

    /// tokio's semantics pass through: capacities, closing, the end of
    /// the stream, `recv_many`, the blocking calls outside the runtime.
    #[test]
    fn tokio_semantics_are_kept() {
        let rt = current_thread();
        let (tx, mut rx) = mpsc::channel_named::<u32>("tmpsc-semantics", 2);
        assert_eq!(tx.max_capacity(), 2);
        tx.blocking_send(1).unwrap();
        assert_eq!(tx.capacity(), 1);
        assert!(matches!(
            tx.try_send(9).and_then(|()| tx.try_send(10)),
            Err(mpsc::error::TrySendError::Full(10))
        ));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.blocking_recv(), Some(1));
        let mut buf = Vec::new();
        assert_eq!(rt.block_on(rx.recv_many(&mut buf, 8)), 1);
        assert_eq!(buf, [9]);
        assert!(matches!(
            rx.try_recv(),
            Err(mpsc::error::TryRecvError::Empty)
        ));
        rx.close();
        assert!(tx.is_closed());
        assert!(tx.try_send(3).is_err());
        assert_eq!(rt.block_on(rx.recv()), None);
        drop(rx);
        assert!(rt.block_on(tx.send(4)).is_err());
        // The consumer's hold ended with the receiver: nothing held.
        assert!(lockgraph::held_locks().is_empty());
    }
}

/// The task watchdog: a real hang through a full queue.
#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod watchdog;

/// Release builds without tracking: tokio's own types and functions.
#[cfg(not(any(debug_assertions, feature = "track-in-release")))]
#[test]
fn release_types_are_tokios() {
    use std::any::TypeId;
    assert_eq!(
        TypeId::of::<mpsc::Sender<u64>>(),
        TypeId::of::<tokio::sync::mpsc::Sender<u64>>()
    );
    assert_eq!(
        TypeId::of::<mpsc::Receiver<u64>>(),
        TypeId::of::<tokio::sync::mpsc::Receiver<u64>>()
    );
    assert_eq!(
        TypeId::of::<mpsc::UnboundedSender<u64>>(),
        TypeId::of::<tokio::sync::mpsc::UnboundedSender<u64>>()
    );
    assert_eq!(
        TypeId::of::<mpsc::WeakSender<u64>>(),
        TypeId::of::<tokio::sync::mpsc::WeakSender<u64>>()
    );
    assert_eq!(
        TypeId::of::<mpsc::OwnedPermit<u64>>(),
        TypeId::of::<tokio::sync::mpsc::OwnedPermit<u64>>()
    );
    let (tx, mut rx) = mpsc::channel_named::<u64>("release", 1);
    let rt = current_thread();
    rt.block_on(tx.send(7)).unwrap();
    assert_eq!(rt.block_on(rx.recv()), Some(7));
}
