//! The backpressure profile's fill level (`lockgraph::pipeline`): a send
//! leaves at most the bound in a bounded queue.

use super::*;

/// Sends 60 items through a queue of `bound` whose consumer takes 1 ms
/// an item: the queue is full at (nearly) every send, so each send
/// leaves it at its bound. `send` owns the sending end: dropped, it ends
/// the consumer's loop. Returns the queue's profile.
fn fast_producer_slow_consumer(
    send: impl Fn(u32),
    recv: impl FnOnce() + Send + 'static,
    name: &str,
) -> lockgraph::pipeline::QueueProfile {
    let consumer = thread::Builder::new()
        .name("prof-fill-consumer".into())
        .spawn(recv)
        .unwrap();
    for i in 0..60 {
        send(i);
    }
    drop(send);
    consumer.join().unwrap();
    let report = lockgraph::pipeline::report();
    let q = report.queues.iter().find(|q| q.name == name);
    q.unwrap_or_else(|| panic!("{name} missing: {report:#?}"))
        .clone()
}

fn check(q: &lockgraph::pipeline::QueueProfile, bound: usize) {
    assert_eq!(q.sends, 60, "{q:?}");
    assert_eq!(q.bound, Some(bound), "{q:?}");
    assert!(q.mean_fill <= bound as f64, "over the bound: {q:?}");
    assert!(q.mean_fill > bound as f64 / 2.0, "mostly full: {q:?}");
}

/// `lockgraph::mpsc` counted a send into the full queue before the
/// receive that made room for it was counted out: a mean of 1.29 for a
/// bound of 1, 4.26 for 4, where every send left the queue full (found by
/// an outside test; `lockgraph::channel` gave 1.0 and 3.97).
#[test]
fn a_full_queue_s_mean_fill_is_its_bound_not_more() {
    profile::enable();
    for (name, bound) in [("prof-fill-1", 1), ("prof-fill-3", 3)] {
        let (tx, rx) = lockgraph::mpsc::sync_channel_named::<u32>(name, bound);
        let recv = move || {
            while rx.recv().is_ok() {
                thread::sleep(Duration::from_millis(1));
            }
        };
        let q = fast_producer_slow_consumer(move |i| tx.send(i).unwrap(), recv, name);
        check(&q, bound);
    }
    #[cfg(feature = "crossbeam")]
    for (name, bound) in [("prof-fill-cb-1", 1), ("prof-fill-cb-3", 3)] {
        let (tx, rx) = lockgraph::channel::bounded_named::<u32>(name, bound);
        let recv = move || {
            while rx.recv().is_ok() {
                thread::sleep(Duration::from_millis(1));
            }
        };
        let q = fast_producer_slow_consumer(move |i| tx.send(i).unwrap(), recv, name);
        check(&q, bound);
    }
}
