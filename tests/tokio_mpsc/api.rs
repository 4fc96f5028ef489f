//! The rest of tokio's bounded-queue API: owned permits, many permits at
//! once, weak senders. A reservation that can wait is a request of the
//! queue, as a send is; the `try_` forms and the permits' sends are not.

use std::future::Future;
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

/// A consumer task takes `stats` between receives (it has received once);
/// then a producer task, holding `stats`, runs `op` with the sender (the
/// queue of 8 is never full). The reports, and the sum the consumer
/// counted.
fn holding_stats_while<F, Fut>(
    queue: &'static str,
    lock: &'static str,
    op: F,
) -> (Vec<CycleReport>, u32)
where
    F: FnOnce(mpsc::Sender<u32>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stats = Arc::new(Mutex::named(lock, 0u32));
    let st = stats.clone();
    let reports = capture(move || {
        current_thread().block_on(async move {
            let (tx, mut rx) = mpsc::channel_named::<u32>(queue, 8);
            let s = st.clone();
            let consumer = lockgraph::tokio::spawn_named("consumer", async move {
                while let Some(item) = rx.recv().await {
                    *s.lock().await += item;
                }
            });
            tx.send(1).await.unwrap();
            while *st.lock().await == 0 {
                yield_now().await;
            }
            let producer = lockgraph::tokio::spawn_named("producer", async move {
                let g = st.lock().await;
                op(tx).await;
                drop(g);
            });
            producer.await.unwrap();
            consumer.await.unwrap();
        })
    });
    let sum = *stats.try_lock().unwrap();
    (reports, sum)
}

fn one_cycle_naming(reports: &[CycleReport], queue: &str, lock: &str) {
    let found = cycles(reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    let text = found[0].to_string();
    for s in [queue, lock, "\"producer\"", "\"consumer\""] {
        assert!(text.contains(s), "{s} missing:\n{text}");
    }
}

#[test]
fn reserve_owned_is_a_request_of_the_queue() {
    let (reports, sum) = holding_stats_while("tapi-owned-q", "tapi-owned-s", |tx| async move {
        let permit = tx.reserve_owned().await.unwrap();
        let tx = permit.send(2);
        assert_eq!(tx.max_capacity(), 8);
    });
    one_cycle_naming(&reports, "tapi-owned-q", "tapi-owned-s");
    assert_eq!(sum, 3);
}

#[test]
fn try_reserve_owned_is_no_request() {
    let (reports, sum) = holding_stats_while("tapi-towned-q", "tapi-towned-s", |tx| async move {
        let permit = tx.try_reserve_owned().unwrap();
        drop(permit.send(2));
    });
    assert!(cycles(&reports).is_empty(), "{reports:#?}");
    assert_eq!(sum, 3);
}

#[test]
fn reserve_many_is_a_request_of_the_queue() {
    let (reports, sum) = holding_stats_while("tapi-many-q", "tapi-many-s", |tx| async move {
        let mut permits = tx.reserve_many(2).await.unwrap();
        assert_eq!(permits.len(), 2);
        permits.next().unwrap().send(2);
        permits.next().unwrap().send(3);
        assert!(permits.next().is_none());
    });
    one_cycle_naming(&reports, "tapi-many-q", "tapi-many-s");
    assert_eq!(sum, 6);
}

#[test]
fn try_reserve_many_is_no_request() {
    let (reports, sum) = holding_stats_while("tapi-tmany-q", "tapi-tmany-s", |tx| async move {
        for p in tx.try_reserve_many(2).unwrap() {
            p.send(2);
        }
    });
    assert!(cycles(&reports).is_empty(), "{reports:#?}");
    assert_eq!(sum, 5);
}

/// More than the bound: tokio's fails at once, so it waits for no one.
#[test]
fn reserve_many_over_the_bound_fails_at_once_with_no_request() {
    let (reports, sum) = holding_stats_while("tapi-over-q", "tapi-over-s", |tx| async move {
        assert!(tx.reserve_many(9).await.is_err());
        assert!(matches!(
            tx.try_reserve_many(9),
            Err(mpsc::error::TrySendError::Full(()))
        ));
    });
    assert!(cycles(&reports).is_empty(), "{reports:#?}");
    assert_eq!(sum, 1);
}

/// An upgraded weak sender is a sender of the same queue: its send is the
/// same request, of the same queue in the graph.
#[test]
fn an_upgraded_weak_sender_sends_into_the_same_queue() {
    let (reports, sum) = holding_stats_while("tapi-weak-q", "tapi-weak-s", |tx| async move {
        let weak = tx.downgrade();
        assert_eq!((tx.strong_count(), tx.weak_count()), (1, 1));
        let weak2 = weak.clone();
        assert_eq!((weak.strong_count(), weak.weak_count()), (1, 2));
        let up = weak.upgrade().unwrap();
        assert!(up.same_channel(&tx));
        drop(tx);
        up.send(2).await.unwrap();
        drop(up);
        assert!(weak2.upgrade().is_none(), "no sender is left");
        assert_eq!(weak2.strong_count(), 0);
    });
    one_cycle_naming(&reports, "tapi-weak-q", "tapi-weak-s");
    assert_eq!(sum, 3);
}

/// tokio's semantics, unchanged: a reservation takes room, a released
/// permit gives it back, a full `try_reserve_owned` gives the sender back,
/// the receiver counts the senders.
#[test]
fn owned_permits_and_counts_behave_as_tokios() {
    current_thread().block_on(async {
        let (tx, mut rx) = mpsc::channel_named::<u32>("tapi-sem", 1);
        let permit = tx.clone().reserve_owned().await.unwrap();
        assert!(permit.same_channel_as_sender(&tx));
        assert!(tx.try_send(9).is_err(), "the room is reserved");
        assert_eq!(rx.sender_strong_count(), 2);
        let tx2 = permit.release();
        assert!(tx2.same_channel(&tx));
        tx.try_send(9).unwrap();
        match tx2.try_reserve_owned() {
            Err(mpsc::error::TrySendError::Full(back)) => assert!(back.same_channel(&tx)),
            other => panic!("not full: {other:?}"),
        }
        let weak = tx.downgrade();
        assert_eq!((rx.sender_strong_count(), rx.sender_weak_count()), (1, 1));
        assert_eq!(rx.recv().await, Some(9));
        drop(tx);
        assert!(weak.upgrade().is_none());
        assert_eq!(rx.recv().await, None);
    });
}

/// `blocking_recv_many` from a thread: the items, then 0 once every
/// sender is gone.
#[test]
fn blocking_recv_many_receives_from_a_thread() {
    let (tx, mut rx) = mpsc::channel_named::<u32>("tapi-brm", 4);
    let t = std::thread::spawn(move || {
        let mut buf = Vec::new();
        while rx.blocking_recv_many(&mut buf, 3) > 0 {}
        buf
    });
    current_thread().block_on(async {
        for i in 0..10 {
            tx.send(i).await.unwrap();
        }
    });
    drop(tx);
    assert_eq!(t.join().unwrap(), (0..10).collect::<Vec<_>>());
}
