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
