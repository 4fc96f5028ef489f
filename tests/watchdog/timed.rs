//! Timed waits: reported when longer than the timeout, and still giving up
//! at their own deadline.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockgraph::{Mutex, RwLock, RwLockUpgradableReadGuard};
use lockgraph_testkit::{child, is_child, spawn_named, END};

use crate::{run_child, site_line, start};

#[test]
fn child_timed_waits() {
    if !is_child() {
        return;
    }
    start(300);
    let m = Arc::new(Mutex::named("timed-lock", ()));
    let r = Arc::new(RwLock::named("timed-table", ()));
    let held = Arc::new(Barrier::new(2));
    let _holder = {
        let (m, r, held) = (m.clone(), r.clone(), held.clone());
        spawn_named("wd-timed-holder", move || {
            let _g = m.lock();
            let _r = r.read();
            held.wait();
            std::thread::sleep(Duration::from_secs(30));
        })
    };
    held.wait();
    // Longer than the watchdog's timeout: reported, and still false at its deadline.
    let t = Instant::now();
    eprintln!("SITE wd-timed={}", line!() + 1);
    let got = m.try_lock_for(Duration::from_millis(1500)).is_some();
    eprintln!("TIMED lock {got} {}", t.elapsed().as_millis());
    // An upgrade that times out leaves the upgradable read held (its limit
    // is below the timeout: never reported).
    let up = r.upgradable_read();
    let t = Instant::now();
    let up = match RwLockUpgradableReadGuard::try_upgrade_for(up, Duration::from_millis(200)) {
        Ok(_) => panic!("upgraded past a reader"),
        Err(up) => up,
    };
    eprintln!("TIMED upgrade false {}", t.elapsed().as_millis());
    assert!(r.try_write().is_none() && r.try_upgradable_read().is_none());
    drop(up);
    assert!(r.try_upgradable_read().is_some());
    // A timed write that gets the lock when its holder lets go.
    let w = Arc::new(RwLock::named("timed-handoff", ()));
    let g = w.read();
    let t = Instant::now();
    let got = std::thread::scope(|s| {
        let waiter = s.spawn(|| w.try_write_for(Duration::from_secs(10)).is_some());
        std::thread::sleep(Duration::from_millis(200));
        drop(g);
        waiter.join().unwrap()
    });
    eprintln!("TIMED handoff {got} {}", t.elapsed().as_millis());
    // Until killed: the report may still be on its way.
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn a_long_timed_wait_is_reported_and_still_gives_up_at_its_deadline() {
    if is_child() {
        return;
    }
    // The report can come after the child's last line (resolving the
    // waiter's stack the first time is slow on a loaded machine): the child
    // sleeps until killed.
    let (text, ok) = run_child(
        child!(child_timed_waits),
        &[],
        Duration::from_secs(20),
        |t| t.contains("TIMED handoff") && t.contains(END),
    );
    assert!(ok, "the timed child did not finish:\n{text}");
    let ms = |what: &str| -> (bool, u64) {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("TIMED {what} ")))
            .unwrap();
        let mut words = line.split_whitespace().skip(2);
        let got = words.next().unwrap().parse().unwrap();
        (got, words.next().unwrap().parse().unwrap())
    };
    // try_lock_for keeps its meaning: false after about its timeout.
    let (got, took) = ms("lock");
    assert!(!got && (1500..2500).contains(&took), "{got} {took}\n{text}");
    let (_, took) = ms("upgrade");
    assert!((200..1200).contains(&took), "{took}\n{text}");
    let (got, took) = ms("handoff");
    assert!(got && (200..2000).contains(&took), "{got} {took}\n{text}");
    // The long timed wait is reported once, as a timed wait, with its holder.
    assert_eq!(text.matches("LONG WAIT").count(), 1, "{text}");
    let report = &text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..];
    assert!(
        report.contains("has waited") && report.contains("for Mutex `timed-lock`"),
        "{report}"
    );
    assert!(
        report.contains("waits for Mutex `timed-lock` (exclusive, timed: gives up after 1.5s)"),
        "{report}"
    );
    let site = format!(
        "requested at tests/watchdog/timed.rs:{}:",
        site_line(&text, "wd-timed")
    );
    assert!(report.contains(&site), "{site} missing:\n{report}");
    assert!(report.contains("thread `wd-timed-holder`"), "{report}");
    assert!(
        report.contains("Mutex `timed-lock` (exclusive), taken at"),
        "{report}"
    );
}
