//! Release builds without tracking: the pipeline primitives are std's own
//! types (`mpsc`, `thread`) or carry no tracking state (`Semaphore`,
//! `Barrier`), and record nothing; the watchdog does not start.
#![cfg(not(any(debug_assertions, feature = "track-in-release")))]

use std::mem::size_of;
use std::sync::atomic::AtomicUsize;

#[test]
fn mpsc_and_thread_are_std_s_own_types() {
    const { assert!(!lockgraph::TRACKING) };
    // These only compile if the types are equal.
    fn same_tx(t: std::sync::mpsc::SyncSender<u8>) -> lockgraph::mpsc::SyncSender<u8> {
        t
    }
    fn same_rx(r: std::sync::mpsc::Receiver<u8>) -> lockgraph::mpsc::Receiver<u8> {
        r
    }
    fn same_handle(h: std::thread::JoinHandle<u8>) -> lockgraph::thread::JoinHandle<u8> {
        h
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    same_tx(tx).send(3).unwrap();
    assert_eq!(same_rx(rx).recv().unwrap(), 3);
    assert_eq!(same_handle(std::thread::spawn(|| 4)).join().unwrap(), 4);
    let (tx, rx) = lockgraph::mpsc::sync_channel_named::<u8>("release-queue", 1);
    let _: std::sync::mpsc::SyncSender<u8> = tx;
    let _: std::sync::mpsc::Receiver<u8> = rx;
}

#[test]
fn semaphore_and_barrier_carry_no_tracking_state_and_record_nothing() {
    // Two counters, a parking_lot mutex and condvar: nothing else.
    #[allow(dead_code)]
    struct PlainSemaphore(
        AtomicUsize,
        AtomicUsize,
        parking_lot::Mutex<()>,
        parking_lot::Condvar,
    );
    #[allow(dead_code)]
    struct PlainBarrier(
        usize,
        parking_lot::Mutex<(usize, u64)>,
        parking_lot::Condvar,
    );
    assert_eq!(
        size_of::<lockgraph::Semaphore>(),
        size_of::<PlainSemaphore>()
    );
    assert_eq!(size_of::<lockgraph::Barrier>(), size_of::<PlainBarrier>());
    let m = lockgraph::Mutex::new(());
    let s = lockgraph::Semaphore::new(1);
    let reports = lockgraph::capture(|| {
        {
            let _p = s.acquire();
            drop(m.lock());
        }
        let _g = m.lock();
        let _p = s.acquire();
    });
    assert!(reports.is_empty());
}

/// Forgetting `watchdog-in-release` in a release build: the locks publish
/// nothing, so `start` refuses, and says why (it returned true, `on()` said
/// true and a thread ran that could never report; found by an outside
/// test).
#[test]
fn the_watchdog_does_not_start_where_nothing_is_tracked() {
    let started = lockgraph::watchdog::start(lockgraph::watchdog::Config::default());
    assert!(!started);
    assert!(!lockgraph::watchdog::on());
    assert!(!lockgraph::order_graph());
}

/// A dump in this build says why it lists no locks: no build switch turns
/// tracking on at run time (it said the watchdog was off, as if starting it
/// would help; found by an outside test).
#[test]
fn a_dump_says_this_build_tracks_no_locks() {
    let text = lockgraph::watchdog::dump().to_string();
    assert!(text.contains("this build does not track locks"), "{text}");
    assert!(!text.contains("the watchdog is off"), "{text}");
}
