//! A long wait's first and last lines as an on-call reads them: a retry
//! loop's time, the crowd waiting for the same lock, a lock left held by a
//! thread that exited (an outside on-call test's findings).

use super::*;

/// `tl-retrier` retries `try_lock_for(200ms)` on `tl-lock`, which `tl-holder`
/// holds: the loop has gone on for 2.004 s, its current try for 49 ms.
fn retry_loop(between: bool) -> WatchdogReport {
    let l = lock("tl-lock", 1);
    let mut w = wait(l.clone(), Some(WaitMode::Lock), 184, 0);
    w.limit = Some(Duration::from_millis(200));
    w.retrying = Some(Duration::from_millis(2004));
    w.waited = Duration::from_millis(2004);
    if between {
        w.between_tries = Some(Duration::from_millis(150));
    } else {
        w.this_try = Some(Duration::from_millis(49));
    }
    report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            thread("tl-retrier", Some(w), Vec::new()),
            thread("tl-holder", None, vec![held(l, 187, 3)]),
        ],
    )
}

/// A retry loop's first line, `since` and JSON give the loop's time, not
/// the current try's (they said "has waited 2.649ms", `waited_ms` 3, while
/// the wait line said "retrying for 2.004s"); the wait line says where in
/// the loop the thread is.
#[test]
fn a_retry_loop_is_headed_by_the_loop_not_the_current_try() {
    let r = retry_loop(false);
    assert_eq!(
        r.headline(),
        "lockgraph watchdog: LONG WAIT: thread `tl-retrier` has waited 2.004s for Mutex `tl-lock` in timed tries that all gave up (pid 42), since 2026-12-04 19:38:19 UTC; reported only; the thread still waits"
    );
    let text = r.to_string();
    assert!(
        text.contains("    waits for Mutex `tl-lock` (exclusive, timed: gives up after 200.0ms, retrying for 2.004s; this try 49.0ms) for 2.004s, requested at src/job.rs:184:9\n"),
        "{text}"
    );
    let json = r.to_json();
    let since = crate::watchdog::unix_ms(r.reported_at) - 2004;
    for want in [
        "\"waited_ms\":2004,".to_string(),
        "\"retrying_ms\":2004,\"try_ms\":49,\"between_tries_ms\":null,".to_string(),
        format!("\"since_unix_ms\":{since},"),
    ] {
        assert!(json.contains(&want), "{want} missing: {json}");
    }
    let between = retry_loop(true);
    assert!(
        between.to_string().contains("(exclusive, timed: gives up after 200.0ms, retrying for 2.004s; between two tries: the last gave up 150.0ms ago) for 2.004s"),
        "{between}"
    );
    assert!(between
        .to_json()
        .contains("\"try_ms\":null,\"between_tries_ms\":150,"));
}

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

/// A lock no thread holds, left held by a thread that exited: the wait
/// names that thread, when it exited and where it took the lock, and the
/// advice says so (it pointed to `lockgraph::dump()`, which cannot show a
/// thread that is gone).
#[test]
fn a_lock_left_held_by_an_exited_thread_names_it() {
    let mut w = wait(lock("ex-lock", 1), Some(WaitMode::Lock), 131, 2);
    w.left_by = Some(LeftHold {
        thread: "ex-leaver".into(),
        tid: 77,
        exited_at: UNIX_EPOCH + Duration::from_secs(1_796_413_100),
        site: site(124),
    });
    let r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![thread("ex-waiter", Some(w), Vec::new())],
    );
    assert_eq!(
        r.advice(),
        "what to do: thread `ex-leaver` took it at src/job.rs:124:9 and exited at 2026-12-04 19:38:20 UTC without releasing it, so no thread can take Mutex `ex-lock` again: its guard was leaked (`mem::forget`, or kept in a value never dropped, such as a thread-local or a leaked `Box`); drop the guard before the thread ends"
    );
    let line = "      held by thread `ex-leaver` (tid 77), which exited at 2026-12-04 19:38:20 UTC holding it (taken at src/job.rs:124:9)\n";
    assert!(r.to_string().contains(line), "{r}");
    let json = r.to_json();
    assert!(
        json.contains("\"left_held_by\":{\"thread\":\"ex-leaver\",\"tid\":77,\"exited_at_unix_ms\":1796413100000,\"site\":\"src/job.rs:124:9\"}"),
        "{json}"
    );
    assert!(
        json.contains("\"notes\":[\"held by thread `ex-leaver`"),
        "{json}"
    );
}
