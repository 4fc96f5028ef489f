//! A pipeline resource's size in its reports (`docs/pipelines.md`, "Real
//! hangs"): a barrier's party count and the parties waiting at it now, in
//! the wait line, the advice and the JSON (which fits the schema), and a
//! semaphore's permits.

use std::sync::Arc;
use std::time::Duration;

use lockgraph::{Barrier, Semaphore};
use lockgraph_testkit::{child, is_child, Child, END};

use crate::run_child;

/// Runs `child` with the watchdog on (and `dir` as its dump directory)
/// until a LONG WAIT report of `thread` is complete; that report.
fn long_wait(child: Child, thread: &str, dir: &std::path::Path) -> String {
    let head = format!("lockgraph watchdog: LONG WAIT: thread `{thread}`");
    let find = |t: &str| -> Option<String> {
        let report = &t[t.find(&head)?..];
        Some(report[..report.find(END)?].to_string())
    };
    let (text, ok) = run_child(
        child,
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap()),
        ],
        Duration::from_secs(30),
        |t| find(t).is_some(),
    );
    assert!(ok, "no LONG WAIT report of `{thread}` in time:\n{text}");
    find(&text).unwrap()
}

/// A thread of std's: its join is no wait of the watchdog's (whose report
/// would come first, in the dump directory too).
fn named(name: &str, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .unwrap()
}

#[test]
fn a_barrier_short_of_a_party_says_its_party_count_and_who_waits() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-sizes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report = long_wait(child!(child_barrier_short), "sz-party-a", &dir);
    for needle in [
        "waits for the other parties of Barrier `sz-sync` (3 parties; 2 waiting now) for ",
        "what to do: 2 of the 3 parties of Barrier `sz-sync` wait at it and no other is on its way to it",
        "find the party that never arrived",
        "if these 2 threads (`sz-party-a` and `sz-party-b`) are all that should wait on it, make its party count 2",
    ] {
        assert!(report.contains(needle), "{needle} missing:\n{report}");
    }
    let json: serde_json::Value = serde_json::from_str(&crate::first_report_line(&dir)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    crate::golden::assert_fits_schema(&json);
    let w = &json["threads"][0]["waiting"];
    assert_eq!(
        (w["capacity"].as_u64(), w["waiting_now"].as_u64()),
        (Some(3), Some(2)),
        "{json:#}"
    );
    assert_eq!(
        w["waiting_parties"],
        serde_json::json!(["sz-party-a", "sz-party-b"]),
        "{json:#}"
    );
    assert_eq!(json["advice"], report.lines().last().unwrap());
}

#[test]
fn child_barrier_short() {
    if !is_child() {
        return;
    }
    let sync = Arc::new(Barrier::named("sz-sync", 3));
    let (s1, s2) = (sync.clone(), sync.clone());
    let a = named("sz-party-a", move || {
        s1.wait();
    });
    // A long sleep first: `sz-party-a` is the first to wait, so the first
    // to be reported.
    let b = named("sz-party-b", move || {
        std::thread::sleep(Duration::from_millis(100));
        s2.wait();
    });
    // The third party never comes.
    a.join().unwrap();
    b.join().unwrap();
}

/// A party of the last round that panicked is named as the one that will
/// never arrive (the advice said "find the party that never arrived"
/// although the watchdog had seen it as a party; found by an outside
/// test), in the text and the JSON.
#[test]
fn a_party_of_the_last_round_that_exited_is_named() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-exited-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report = long_wait(child!(child_barrier_party_exited), "sz-round-a", &dir);
    assert!(
        report.contains("what to do: 2 of the 3 parties of Barrier `sz-round` wait at it and no other is on its way to it (no thread the watchdog sees has passed it and not waited again): thread `sz-round-c`, a party of its last round, has exited (a panic, or a return before the wait) and will never arrive: find why, or, if these 2 threads (`sz-round-a` and `sz-round-b`) are all that should wait on it, make its party count 2"),
        "{report}"
    );
    let json: serde_json::Value = serde_json::from_str(&crate::first_report_line(&dir)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    crate::golden::assert_fits_schema(&json);
    assert_eq!(
        json["threads"][0]["waiting"]["exited_parties"],
        serde_json::json!(["sz-round-c"]),
        "{json:#}"
    );
}

#[test]
fn child_barrier_party_exited() {
    if !is_child() {
        return;
    }
    let sync = Arc::new(Barrier::named("sz-round", 3));
    let (s1, s2, s3) = (sync.clone(), sync.clone(), sync.clone());
    // One round of all three; then `sz-round-c` panics before its second
    // wait, and the two others wait for it.
    let c = named("sz-round-c", move || {
        s3.wait();
        panic!("sz-round-c gives up");
    });
    let b = named("sz-round-b", move || {
        s2.wait();
        std::thread::sleep(Duration::from_millis(200));
        s2.wait();
    });
    let a = named("sz-round-a", move || {
        s1.wait();
        s1.wait();
    });
    let _ = c.join();
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn a_semaphore_acquire_says_its_permits() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-permits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report = long_wait(child!(child_semaphore_full), "sz-gpu-b", &dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        report.contains("waits for a permit of Semaphore `sz-gpu` (3 permits) for "),
        "{report}"
    );
}

#[test]
fn child_semaphore_full() {
    if !is_child() {
        return;
    }
    // Two permits, one added: three, all held by `sz-gpu-a`, asleep.
    let gpu = Arc::new(Semaphore::named("sz-gpu", 2));
    gpu.add_permits(1);
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let g = gpu.clone();
    let a = named("sz-gpu-a", move || {
        let _p = (g.acquire(), g.acquire(), g.acquire());
        held_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    let b = named("sz-gpu-b", move || {
        held_rx.recv().unwrap();
        drop(gpu.acquire());
    });
    a.join().unwrap();
    b.join().unwrap();
}

/// The first round of a barrier whose party waits holding a lock another
/// party asks for before it arrives: two long waits (the other party is
/// known as one only from its first wait), and the barrier wait's advice
/// names the hold the other thread waits for, where it said to find the
/// party that never arrived or to make the party count 1 (found by an
/// outside on-call test).
#[test]
fn a_barrier_wait_holding_a_lock_another_thread_waits_for_names_that_hold() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-party-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report = long_wait(child!(child_barrier_party_blocked), "sz-trainer-0", &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let advice = report.lines().last().unwrap();
    assert!(
        advice.starts_with("what to do: no other party of Barrier `sz-grad-sync` has arrived in "),
        "{report}"
    );
    assert!(
        advice.contains("meanwhile it holds Mutex `sz-grad`, which thread `sz-trainer-1` ("),
        "{report}"
    );
    assert!(
        advice.ends_with("do not hold it across the barrier wait"),
        "{report}"
    );
    assert!(!advice.contains("party count"), "{report}");
}

#[test]
fn child_barrier_party_blocked() {
    if !is_child() {
        return;
    }
    let sync = Arc::new(Barrier::named("sz-grad-sync", 2));
    let grad = Arc::new(lockgraph::Mutex::named("sz-grad", 0u64));
    let (s0, g0) = (sync.clone(), grad.clone());
    let t0 = named("sz-trainer-0", move || {
        let mut acc = g0.lock();
        *acc += 1;
        s0.wait();
    });
    // The other party asks for the lock before it arrives.
    let t1 = named("sz-trainer-1", move || {
        std::thread::sleep(Duration::from_millis(50));
        *grad.lock() += 1;
        sync.wait();
    });
    t0.join().unwrap();
    t1.join().unwrap();
}
