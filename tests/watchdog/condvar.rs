//! Condition variables: a long wait for a notification (holding another
//! lock), the re-lock after it, and a timed wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lockgraph::{Condvar, Mutex};
use lockgraph_testkit::{child, is_child, spawn_named, END};

use crate::{run_child, site_line, start};

#[test]
fn child_condvar_wait() {
    if !is_child() {
        return;
    }
    start(300);
    let outer = Arc::new(Mutex::named("cv-outer", ()));
    let state = Arc::new(Mutex::named("cv-state", false));
    let cv = Arc::new(Condvar::named("cv-ready"));
    let waiter = {
        let (outer, state, cv) = (outer.clone(), state.clone(), cv.clone());
        spawn_named("wd-cv", move || {
            let _o = outer.lock();
            let mut ready = state.lock();
            // Short timed waits (below the timeout) are never reported.
            for _ in 0..3 {
                let _ = cv.wait_for(&mut ready, Duration::from_millis(150));
            }
            while !*ready {
                eprintln!("SITE wd-cv={}", line!() + 1);
                cv.wait(&mut ready);
            }
        })
    };
    // Notify well after the timeout, then keep the mutex: the waiter's
    // re-lock is a long wait too.
    std::thread::sleep(Duration::from_millis(2000));
    let mut ready = state.lock();
    *ready = true;
    cv.notify_one();
    eprintln!("NOTIFIED");
    std::thread::sleep(Duration::from_secs(30));
    drop(ready);
    waiter.join().unwrap();
}

#[test]
fn a_long_condvar_wait_holding_another_lock_is_reported_and_so_is_the_relock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_condvar_wait),
        &[],
        Duration::from_secs(20),
        |t| t.contains("NOTIFIED") && t.matches(END).count() >= 2,
    );
    assert!(ok, "no two long-wait reports in time:\n{text}");
    assert!(!text.contains("DEADLOCK"), "{text}");
    let at = text.find("lockgraph watchdog: LONG WAIT").unwrap();
    let first = &text[at..at + text[at..].find(END).unwrap()];
    // The condvar wait: named as such, with the other lock still held.
    assert!(
        first.contains("thread `wd-cv` has waited")
            && first.contains("for notification on Condvar `cv-ready`"),
        "{first}"
    );
    assert!(
        first.contains("waits for notification on Condvar `cv-ready` for"),
        "{first}"
    );
    let site = format!(
        "requested at tests/watchdog/condvar.rs:{}:",
        site_line(&text, "wd-cv")
    );
    assert!(first.contains(&site), "{site} missing:\n{first}");
    assert!(
        first.contains("Mutex `cv-outer` (exclusive), taken at"),
        "{first}"
    );
    // The mutex it waits with is released meanwhile; the short timed waits
    // before were never reported.
    assert!(!first.contains("Mutex `cv-state`"), "{first}");
    assert!(!first.contains("timed"), "{first}");
    // A condvar wait captures no stack of its own: the report takes its
    // current one (found by an outside test: it had none).
    assert!(first.contains("now at (its current stack):\n"), "{first}");
    // Its frames, where the build resolves them (the lean release build's
    // are inlined away).
    if cfg!(debug_assertions) {
        assert!(
            first.contains(
                "now at (its current stack):\n      watchdog::condvar::child_condvar_wait"
            ),
            "{first}"
        );
    }
    // After the notification: the re-lock of `cv-state`, held by the notifier.
    let second = &text[text.find("NOTIFIED").unwrap()..];
    let at = second.find("lockgraph watchdog: LONG WAIT").unwrap();
    let second = &second[at..];
    assert!(
        second.contains("thread `wd-cv` has waited") && second.contains("for Mutex `cv-state`"),
        "{second}"
    );
    assert!(
        second.contains("waits for Mutex `cv-state` (exclusive)"),
        "{second}"
    );
    assert!(second.contains(&site), "{site} missing:\n{second}");
    assert!(
        second.contains("thread `condvar::child_condvar_wait`")
            && second.contains("Mutex `cv-state` (exclusive), taken at"),
        "{second}"
    );
    assert_eq!(text.matches("LONG WAIT").count(), 2, "{text}");
}

#[test]
fn child_condvar_timed_wait() {
    if !is_child() {
        return;
    }
    start(300);
    let state = Mutex::named("cvt-state", ());
    let cv = Condvar::named("cvt-ready");
    let mut g = state.lock();
    let t = Instant::now();
    let r = cv.wait_for(&mut g, Duration::from_millis(1200));
    eprintln!(
        "CVT timed_out={} {}",
        r.timed_out(),
        t.elapsed().as_millis()
    );
    // Until killed: the report may still be on its way.
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn a_condvar_timed_wait_longer_than_the_timeout_is_reported_as_timed() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_condvar_timed_wait),
        &[],
        Duration::from_secs(20),
        |t| t.contains("CVT timed_out=") && t.contains(END),
    );
    assert!(ok, "the child did not finish:\n{text}");
    let line = text.lines().find(|l| l.starts_with("CVT ")).unwrap();
    let took: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        line.contains("timed_out=true") && (1200..2200).contains(&took),
        "{line}"
    );
    assert_eq!(text.matches("LONG WAIT").count(), 1, "{text}");
    assert!(
        text.contains("waits for notification on Condvar `cvt-ready` (timed: gives up after 1.2s)"),
        "{text}"
    );
    // Its advice does not ask for the timeout it has (found by an outside
    // test).
    assert!(
        text.contains("(with the mutex held); it gives up after 1.2s"),
        "{text}"
    );
    assert!(!text.contains("give the wait a timeout"), "{text}");
}
