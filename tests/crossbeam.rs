//! `lockgraph::channel` (the `crossbeam` feature): crossbeam-channel's
//! queues by the rules of `lockgraph::mpsc` (`docs/pipelines.md`). A send
//! into a bounded queue holding a lock its consumer takes between receives
//! is reported at the send, before the queue is full; the safe order, an
//! unbounded send and `try_send` are silent; several receiving threads all
//! serve the queue; and a real hang through one is reported by the
//! watchdog with the queue named and its fill level. In release builds
//! without tracking, the types are crossbeam's own.

#[cfg(not(any(debug_assertions, feature = "track-in-release")))]
#[test]
fn release_builds_use_crossbeam_s_own_types() {
    const { assert!(!lockgraph::TRACKING) };
    // These only compile if the types are equal.
    let (tx, rx) = lockgraph::channel::bounded_named::<u8>("cb-release", 1);
    let tx: crossbeam_channel::Sender<u8> = tx;
    let rx: crossbeam_channel::Receiver<u8> = rx;
    tx.send(3).unwrap();
    assert_eq!(rx.recv(), Ok(3));
    let _: (
        lockgraph::channel::Sender<u8>,
        lockgraph::channel::Receiver<u8>,
    ) = crossbeam_channel::unbounded();
}

#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod tracked {

    use std::sync::Arc;
    use std::time::Duration;

    use lockgraph::channel::{
        bounded, bounded_named, unbounded_named, RecvTimeoutError, SendTimeoutError, TrySendError,
    };
    use lockgraph::{capture, CycleReport, Mutex};
    use lockgraph_testkit::{child, is_child, END};

    fn only(reports: &[CycleReport]) -> String {
        assert_eq!(reports.len(), 1, "{reports:#?}");
        reports[0].to_string()
    }

    /// A consumer named `name` that takes `stats` between receives; the first
    /// item sent makes it serve the queue. Returns once it has taken `stats`.
    fn consumer(
        name: &str,
        rx: lockgraph::channel::Receiver<u32>,
        stats: Arc<Mutex<u32>>,
    ) -> lockgraph::thread::JoinHandle<()> {
        lockgraph::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for item in rx.iter() {
                    *stats.lock() += item; // between two receives
                }
            })
            .unwrap()
    }

    fn wait_for(stats: &Mutex<u32>, n: u32) {
        while *stats.lock() < n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_send_holding_a_lock_the_consumer_takes_is_reported_before_the_queue_is_full() {
        let stats = Arc::new(Mutex::named("cb-stats", 0u32));
        let (tx, rx) = bounded_named::<u32>("cb-raw", 8);
        let reports = capture(|| {
            let c = consumer("cb-consumer", rx, stats.clone());
            tx.send(1).unwrap();
            wait_for(&stats, 1);
            let g = stats.lock();
            tx.send(2).unwrap(); // never full (8)
            drop(g);
            drop(tx);
            c.join().unwrap();
        });
        let text = only(&reports);
        for needle in [
            "Queue `cb-raw`",
            "Mutex `cb-stats`",
            "as its consumer (taken at tests/crossbeam.rs:",
            "thread `cb-consumer`",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
    }

    #[test]
    fn the_same_code_sending_after_the_lock_is_released_is_silent() {
        let stats = Arc::new(Mutex::named("cb-safe-stats", 0u32));
        let (tx, rx) = bounded_named::<u32>("cb-safe", 8);
        let reports = capture(|| {
            let c = consumer("cb-safe-consumer", rx, stats.clone());
            tx.send(1).unwrap();
            wait_for(&stats, 1);
            let n = *stats.lock();
            tx.send(n).unwrap();
            drop(tx);
            c.join().unwrap();
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    #[test]
    fn an_unbounded_send_and_try_send_holding_the_lock_are_silent() {
        let stats = Arc::new(Mutex::named("cb-unb-stats", 0u32));
        let (tx, rx) = unbounded_named::<u32>("cb-unb");
        let (btx, brx) = bounded_named::<u32>("cb-try", 8);
        let reports = capture(|| {
            let c = consumer("cb-unb-consumer", rx, stats.clone());
            let d = consumer("cb-try-consumer", brx, stats.clone());
            tx.send(1).unwrap();
            btx.try_send(1).unwrap();
            wait_for(&stats, 2);
            let g = stats.lock();
            tx.send(2).unwrap(); // never blocks: no edge
            btx.try_send(2).unwrap(); // never blocks: no edge
            drop(g);
            drop((tx, btx));
            c.join().unwrap();
            d.join().unwrap();
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    #[test]
    fn every_thread_receiving_from_a_cloned_receiver_serves_the_queue() {
        let a = Arc::new(Mutex::named("cb-mc-a", 0u32));
        let b = Arc::new(Mutex::named("cb-mc-b", 0u32));
        let (tx, rx) = bounded_named::<u32>("cb-mc", 8);
        let reports = capture(|| {
            // Two consumers of one queue, each taking its own lock.
            let ca = consumer("cb-mc-0", rx.clone(), a.clone());
            let cb = consumer("cb-mc-1", rx, b.clone());
            while *a.lock() == 0 || *b.lock() == 0 {
                tx.send(1).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            // Holding the second consumer's lock while sending: a cycle.
            let g = b.lock();
            tx.send(2).unwrap();
            drop(g);
            drop(tx);
            ca.join().unwrap();
            cb.join().unwrap();
        });
        let text = only(&reports);
        assert!(text.contains("Mutex `cb-mc-b`"), "{text}");
        assert!(text.contains("Queue `cb-mc`"), "{text}");
    }

    #[test]
    fn timeouts_and_disconnection_behave_as_crossbeam_s() {
        let (tx, rx) = bounded::<u8>(1);
        tx.send(1).unwrap();
        assert_eq!(
            tx.send_timeout(2, Duration::from_millis(20)),
            Err(SendTimeoutError::Timeout(2))
        );
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!((tx.len(), tx.capacity(), tx.is_full()), (1, Some(1), true));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Timeout)
        );
        drop(tx);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Disconnected)
        );
        let (tx, rx) = bounded::<u8>(0);
        drop(rx);
        assert!(tx.send(5).is_err());
        // A rendezvous meets a receiver blocked in its receive.
        let (tx, rx) = bounded::<u8>(0);
        let r = std::thread::spawn(move || rx.recv());
        tx.send(7).unwrap();
        assert_eq!(r.join().unwrap(), Ok(7));
    }

    #[test]
    fn a_real_hang_through_a_crossbeam_queue_is_reported_by_the_watchdog() {
        if is_child() {
            return;
        }
        let out = child!(child_cb_hang)
            .env("LOCKGRAPH_ON_CYCLE", "off")
            .env("LOCKGRAPH_WATCHDOG", "500ms")
            .deadline(Duration::from_secs(30))
            .run_until(|_, err| err.contains("DEADLOCK") && err.contains(END));
        let text = out.stderr;
        assert!(out.done, "no deadlock report in time:\n{text}");
        let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
        for needle in [
            "thread `cb-loader`",
            "thread `cb-pre`",
            "space in Queue `cb-hang` (a send into the full queue)",
            "Queue `cb-hang` full: 1 of 1",
            "its consumer thread `cb-pre` is itself deadlocked, waiting for Mutex `cb-hang-stats`",
        ] {
            assert!(report.contains(needle), "{needle} missing:\n{report}");
        }
    }

    #[test]
    fn child_cb_hang() {
        if !is_child() {
            return;
        }
        let stats = Arc::new(Mutex::named("cb-hang-stats", 0u32));
        let (tx, rx) = bounded_named::<u32>("cb-hang", 1);
        let (got_tx, got_rx) = std::sync::mpsc::channel::<()>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let s = stats.clone();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            lockgraph::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .unwrap()
        };
        let pre = spawn(
            "cb-pre",
            Box::new(move || {
                let first = rx.recv().unwrap();
                got_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                *s.lock() += first; // between two receives: blocks on the loader
                let _ = rx.recv();
            }),
        );
        let loader = spawn(
            "cb-loader",
            Box::new(move || {
                tx.send(1).unwrap();
                got_rx.recv().unwrap();
                let _g = stats.lock();
                tx.send(2).unwrap(); // fills the queue
                go_tx.send(()).unwrap();
                tx.send(3).unwrap(); // full, holding `stats`: blocks for good
            }),
        );
        pre.join().unwrap();
        loader.join().unwrap();
    }
}
