//! A condvar whose notifier is a pipeline thread: the notification's
//! edge `cv -> x` stands for the notifier on its way to `x` before it
//! could notify. A thread's own pseudo-lock (held for its whole run) is
//! not such a hold; a consumer's is (it notifies between receives, so
//! what it takes after one notification it takes before the next).

use super::*;
use lockgraph::Condvar;

/// The waiter holds `l2` across its wait; the notifier, a
/// `lockgraph::thread`, notifies once and takes `l2` only after that: no
/// deadlock is possible, and with `std::thread` it was silent. Found by an
/// outside test: "Thread `notifier` -> l2 -> cv -> Thread `notifier`",
/// the notification charged with every lock the thread took.
#[test]
fn a_thread_that_notifies_then_takes_the_waiters_lock_is_silent() {
    let m = Arc::new(Mutex::named("pipe-cv-m", false));
    let cv = Arc::new(Condvar::named("pipe-cv"));
    let l2 = Arc::new(Mutex::named("pipe-cv-l2", 0u32));
    let reports = capture(|| {
        let (m2, cv2, l22) = (m.clone(), cv.clone(), l2.clone());
        let notifier = lockgraph::thread::Builder::new()
            .name("pipe-cv-notifier".into())
            .spawn(move || {
                {
                    *m2.lock() = true;
                    cv2.notify_one();
                }
                *l22.lock() += 1; // after notifying
            })
            .unwrap();
        notifier.join().unwrap();
        // The waiter's side, recorded last so that a cycle would be
        // found (and captured) on this thread: `l2` held across the wait
        // (a short one: the notification has come).
        let hold = l2.lock();
        let mut g = m.lock();
        let _ = cv.wait_for(&mut g, Duration::from_millis(1));
        drop(g);
        drop(hold);
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// A consumer notifies per item, then takes `l2`, which the waiter holds
/// across its wait: a real deadlock (the waiter's next wait can begin
/// while the consumer waits for `l2`, before its next notification),
/// found through the consumer's hold of `jobs`, with the fix of a
/// notification: nobody sends while holding `cv`, nor joins.
#[test]
fn a_consumer_that_notifies_per_item_then_takes_the_waiters_lock_is_reported() {
    let m = Arc::new(Mutex::named("pipe-cvq-m", 0u32));
    let cv = Arc::new(Condvar::named("pipe-cvq"));
    let l2 = Arc::new(Mutex::named("pipe-cvq-l2", 0u32));
    let (tx, rx) = sync_channel_named::<u32>("pipe-cvq-jobs", 4);
    let reports = capture(|| {
        let (m2, cv2, l22) = (m.clone(), cv.clone(), l2.clone());
        let consumer = lockgraph::thread::Builder::new()
            .name("pipe-cvq-consumer".into())
            .spawn(move || {
                for _ in rx.iter() {
                    {
                        *m2.lock() += 1;
                        cv2.notify_one(); // cv -> jobs (as its consumer)
                    }
                    *l22.lock() += 1; // jobs -> l2, between receives
                }
            })
            .unwrap();
        tx.send(0).unwrap();
        while *l2.lock() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let hold = l2.lock();
        let mut g = m.lock();
        let _ = cv.wait_for(&mut g, Duration::from_millis(1)); // l2 -> cv
        drop(g);
        drop(hold);
        drop(tx);
        consumer.join().unwrap();
    });
    let text = only(&reports);
    for needle in [
        "Queue `pipe-cvq-jobs`",
        "Condvar `pipe-cvq`",
        "Mutex `pipe-cvq-l2`",
        "thread `pipe-cvq-consumer` notified L",
        "across its wait on L",
        "its notifier, a consumer of L",
        "before it receives again",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    let notified = text.lines().find(|l| l.contains("while holding")).unwrap();
    assert!(
        notified.contains("`pipe-cvq-jobs` as its consumer (taken at"),
        "{text}"
    );
    for wrong in [
        "Thread `pipe-cvq-consumer`",
        "sending into",
        "join",
        "one global order",
    ] {
        assert!(!text.contains(wrong), "{wrong} in:\n{text}");
    }
}

/// The notifier holds the lock the waiter holds across its wait: the fix
/// is one of the two holds, not a lock order with a condvar in it.
#[test]
fn a_notifier_holding_the_waiters_lock_is_told_to_notify_before_taking_it() {
    let a = Mutex::named("pipe-cvl-a", ());
    let m = Mutex::named("pipe-cvl-m", false);
    let cv = Condvar::named("pipe-cvl");
    let reports = capture(|| {
        {
            let _a = a.lock();
            let mut g = m.lock();
            let _ = cv.wait_for(&mut g, Duration::from_millis(1)); // a -> cv
        }
        let _a = a.lock();
        cv.notify_one(); // cv -> a
    });
    let text = only(&reports);
    for needle in [
        "across its wait on L",
        "and its notifier holds it when it notifies:",
        "or notify L",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(!text.contains("one global order"), "{text}");
}
