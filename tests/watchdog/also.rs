//! A deadlock's threads besides its cycle ("also deadlocked"): a semaphore
//! of 2 permits whose holders both wait for the lock that the acquirer
//! holds. The cycle runs through one holder; the other is as stuck, and the
//! report counts it and lists it as it lists the cycle's threads (found by
//! an outside test: "2 threads", and the third named in one line only).

use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use lockgraph::{Mutex, Semaphore};
use lockgraph_testkit::{child, is_child, spawn_named, END};
use serde_json::Value;

use crate::{run_child, site_line};

#[test]
fn a_second_permit_holder_stuck_on_the_cycle_s_lock_is_counted_and_listed() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-also-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (text, ok) = run_child(
        child!(child_two_permit_holders_wait_for_the_acquirer),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap()),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let (taken, asked) = (site_line(&text, "permit"), site_line(&text, "weights"));
    let at = text.find("lockgraph watchdog: DEADLOCK").unwrap();
    let report = &text[at..at + text[at..].find(END).unwrap()];
    assert!(
        report.starts_with(
            "lockgraph watchdog: DEADLOCK: 3 threads wait for each other on Mutex `also-weights` and Semaphore `also-slots` "
        ),
        "{report}"
    );
    // The cycle runs through one holder; the other is listed after it,
    // with its wait, its request's site, its hold and its own stack.
    let (_, also) = report
        .split_once("\n  also deadlocked (threads the cycle waits for, whose waits only threads of this deadlock could end):\n")
        .unwrap_or_else(|| panic!("no also deadlocked section:\n{report}"));
    let (holder, other) = if also.starts_with("  thread `also-a` ") {
        ("also-a", "also-b")
    } else {
        ("also-b", "also-a")
    };
    assert!(
        also.starts_with(&format!("  thread `{holder}` ")),
        "{report}"
    );
    let cycle =
        format!("  cycle: thread `{other}` -> Mutex `also-weights` -> thread `also-reloader` ->");
    assert!(report.contains(&cycle), "{report}");
    let mut needles = vec![
        "    waits for Mutex `also-weights` (exclusive) for ".to_string(),
        format!(", requested at tests/watchdog/also.rs:{asked}:"),
        format!(
            "      Semaphore `also-slots` (a permit), taken at tests/watchdog/also.rs:{taken}:"
        ),
    ];
    // Its stack: an optimised build without line tables (the release
    // steps of `.ci/run`) resolves no program frame.
    if cfg!(debug_assertions) {
        needles.push("    its stack while waiting:\n".to_string());
        needles.push(format!("tests/watchdog/also.rs:{asked})"));
    }
    for needle in needles {
        assert!(also.contains(&needle), "{needle} missing:\n{report}");
    }
    // Both holders are named by the acquirer's wait, deadlocked.
    for h in ["also-a", "also-b"] {
        let line = format!("the permit holder thread `{h}` is itself deadlocked");
        assert!(report.contains(&line), "{line} missing:\n{report}");
    }
    // The JSON lists it too, and fits the schema.
    let json: Value = serde_json::from_str(&crate::first_report_line(&dir)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    crate::golden::assert_fits_schema(&json);
    assert_eq!(json["summary"], report.lines().next().unwrap());
    assert_eq!(
        json["threads"].as_array().map(Vec::len),
        Some(2),
        "{json:#}"
    );
    let also = json["also_deadlocked"].as_array().expect("also_deadlocked");
    assert_eq!(also.len(), 1, "{json:#}");
    let t = &also[0];
    assert_eq!(t["name"], holder, "{json:#}");
    let w = &t["waiting"];
    assert_eq!(w["lock"]["label"], "Mutex `also-weights`", "{json:#}");
    assert!(
        w["site"]
            .as_str()
            .is_some_and(|s| s.starts_with(&format!("tests/watchdog/also.rs:{asked}:"))),
        "{json:#}"
    );
    assert!(
        w["stack"].as_array().is_some_and(|s| !s.is_empty()) || !cfg!(debug_assertions),
        "{json:#}"
    );
    assert_eq!(
        t["held"][0]["lock"]["label"], "Semaphore `also-slots`",
        "{json:#}"
    );
}

#[test]
fn child_two_permit_holders_wait_for_the_acquirer() {
    if !is_child() {
        return;
    }
    let slots = Arc::new(Semaphore::named("also-slots", 2));
    let weights = Arc::new(Mutex::named("also-weights", ()));
    let (permitted_tx, permitted_rx) = channel::<()>();
    let mut locked = Vec::new();
    let mut holders = Vec::new();
    for name in ["also-a", "also-b"] {
        let (s, w, tx) = (slots.clone(), weights.clone(), permitted_tx.clone());
        let (locked_tx, locked_rx) = channel::<()>();
        locked.push(locked_tx);
        holders.push(spawn_named(name, move || {
            eprintln!("SITE permit={}", line!() + 1);
            let _permit = s.acquire();
            tx.send(()).unwrap();
            locked_rx.recv().unwrap();
            eprintln!("SITE weights={}", line!() + 1);
            let _w = w.lock(); // blocks on the reloader
        }));
    }
    let reloader = spawn_named("also-reloader", move || {
        permitted_rx.recv().unwrap();
        permitted_rx.recv().unwrap();
        let _w = weights.lock();
        for tx in locked {
            tx.send(()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let _slot = slots.acquire(); // both permits held: blocks on the holders
    });
    reloader.join().unwrap();
    for h in holders {
        h.join().unwrap();
    }
}
