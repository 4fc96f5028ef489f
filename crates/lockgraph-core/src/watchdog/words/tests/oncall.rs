//! A long wait's first and last lines as an on-call reads them: the crowd
//! waiting for the same lock (an outside on-call test's findings).

use super::*;

/// The first report of a lock that a crowd waits for says how big the
/// crowd is (it said nothing until the rate limit's count a minute later).
#[test]
fn a_long_wait_counts_the_other_threads_waiting_for_the_same_lock() {
    let l = lock("many-lock", 1);
    let mut r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            thread(
                "many-w0",
                Some(wait(l.clone(), Some(WaitMode::Lock), 5, 1)),
                Vec::new(),
            ),
            thread("many-holder", None, vec![held(l, 3, 2)]),
        ],
    );
    r.other_waiters = 59;
    assert!(
        r.headline().starts_with(
            "lockgraph watchdog: LONG WAIT: thread `many-w0` has waited 1.000s for Mutex `many-lock`, and 59 other threads wait for it (pid 42), since "
        ),
        "{}",
        r.headline()
    );
    assert!(r.to_json().contains(",\"other_waiters\":59,"));
    r.other_waiters = 1;
    assert!(r
        .headline()
        .contains("`many-lock`, and 1 other thread waits for it (pid 42)"));
    r.other_waiters = 0;
    assert!(r.headline().contains("`many-lock` (pid 42)"));
}
