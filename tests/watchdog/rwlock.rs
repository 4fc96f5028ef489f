//! Read-write locks: a writer behind a reader, upgrades, and upgradable
//! reads (who keeps an upgradable read out, and who does not).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::watchdog;
use lockgraph::{Mutex, RwLock, RwLockUpgradableReadGuard};
use lockgraph_testkit::{child, is_child, spawn_named, END};

use crate::{run_child, site_line, start, thread_section};

#[test]
fn child_rwlock_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("table", ()));
    let m = Arc::new(Mutex::named("index", ()));
    let barrier = Arc::new(Barrier::new(2));
    let reader = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-reader", move || {
            let _r = r.read();
            barrier.wait();
            eprintln!("SITE wd-reader={}", line!() + 1);
            let _m = m.lock();
        })
    };
    let writer = spawn_named("wd-writer", move || {
        let _m = m.lock();
        barrier.wait();
        eprintln!("SITE wd-writer={}", line!() + 1);
        let _w = r.write();
    });
    reader.join().unwrap();
    writer.join().unwrap();
}

#[test]
fn a_writer_blocked_behind_a_reader_that_waits_for_it_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_rwlock_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(
        report.contains("waits for RwLock `table` (write)"),
        "{report}"
    );
    assert!(
        report.contains("waits for Mutex `index` (exclusive)"),
        "{report}"
    );
    // The reader counts as a holder.
    assert!(
        report.contains("RwLock `table` (shared), taken at"),
        "{report}"
    );
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-reader` -> Mutex `index` -> thread `wd-writer` -> RwLock `table` -> \
             thread `wd-reader`"
        ),
        "{cycle}"
    );
    for name in ["wd-reader", "wd-writer"] {
        let site = format!(
            "requested at tests/watchdog/rwlock.rs:{}:",
            site_line(&text, name)
        );
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
}

#[test]
fn child_upgrade_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("up-table", ()));
    let m = Arc::new(Mutex::named("up-index", ()));
    let barrier = Arc::new(Barrier::new(2));
    let upgrader = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-upgrader", move || {
            let _m = m.lock();
            let up = r.upgradable_read();
            barrier.wait();
            // Waits for the reader's read, which waits for `up-index`.
            let _w = RwLockUpgradableReadGuard::upgrade(up);
        })
    };
    let reader = spawn_named("wd-up-reader", move || {
        let _r = r.read();
        barrier.wait();
        eprintln!("SITE wd-up-reader={}", line!() + 1);
        let _m = m.lock();
    });
    upgrader.join().unwrap();
    reader.join().unwrap();
}

#[test]
fn an_upgrade_waiting_for_a_reader_that_waits_for_it_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_upgrade_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("2 threads wait for each other"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-up-reader` -> Mutex `up-index` -> thread `wd-upgrader` -> \
             upgrade of RwLock `up-table` -> thread `wd-up-reader`"
        ),
        "{cycle}"
    );
    assert!(
        report.contains("waits for upgrade of RwLock `up-table` for"),
        "{report}"
    );
    assert!(
        report.contains("waits for Mutex `up-index` (exclusive)"),
        "{report}"
    );
    // Both hold the table: the upgrader as an upgradable read, the reader
    // as a read; the upgrader holds the index.
    assert!(
        thread_section(report, "wd-upgrader")
            .contains("RwLock `up-table` (upgradable read), taken at"),
        "{report}"
    );
    assert!(
        thread_section(report, "wd-up-reader").contains("RwLock `up-table` (shared), taken at"),
        "{report}"
    );
    assert!(
        report.contains("Mutex `up-index` (exclusive), taken at"),
        "{report}"
    );
    let site = format!(
        "requested at tests/watchdog/rwlock.rs:{}:",
        site_line(&text, "wd-up-reader")
    );
    assert!(report.contains(&site), "{site} missing:\n{report}");
    if cfg!(debug_assertions) {
        assert!(report.contains("child_upgrade_cycle"), "{report}");
    }
    assert!(!report.contains("LONG WAIT"), "{report}");
}

/// The reports in `text`, each from its first line to its end line.
fn reports(text: &str) -> Vec<&str> {
    text.match_indices("lockgraph watchdog: ")
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            rest.find(END).map(|end| &rest[..end + END.len()])
        })
        .collect()
}

#[test]
fn child_upgradable_read_behind_an_upgradable_holder() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("upg-table", ()));
    let m = Arc::new(Mutex::named("upg-index", ()));
    let held = Arc::new(Barrier::new(2));
    // Holds the upgradable read and sleeps: it waits for nobody.
    let holder = {
        let (r, held) = (r.clone(), held.clone());
        spawn_named("wd-upg-holder", move || {
            let _u = r.upgradable_read();
            held.wait();
            std::thread::sleep(Duration::from_secs(30));
        })
    };
    held.wait();
    let barrier = Arc::new(Barrier::new(2));
    // Reads the table, then waits for the index.
    let reader = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-upg-reader", move || {
            let _r = r.read();
            barrier.wait();
            let _m = m.lock();
        })
    };
    // Holds the index, then waits for an upgradable read of the table: the
    // upgradable holder keeps it out, the reader does not.
    let waiter = spawn_named("wd-upg-waiter", move || {
        let _m = m.lock();
        barrier.wait();
        eprintln!("SITE wd-upg-waiter={}", line!() + 1);
        let _u = r.upgradable_read();
    });
    reader.join().unwrap();
    waiter.join().unwrap();
    holder.join().unwrap();
}

#[test]
fn an_upgradable_read_waits_for_the_upgradable_holder_not_for_readers() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-upg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Both waits pass the 300 ms timeout: two long-wait reports, after six
    // scans or more, by which time a cycle (reported after two) would have
    // been reported.
    let (text, ok) = run_child(
        child!(child_upgradable_read_behind_an_upgradable_holder),
        &[("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") || reports(t).len() >= 2,
    );
    assert!(ok, "no long-wait reports in time:\n{text}");
    assert!(!text.contains("DEADLOCK"), "a false deadlock:\n{text}");
    let all = reports(&text);
    assert!(all.iter().all(|r| r.contains("LONG WAIT")), "{text}");
    // The upgradable read waits for the upgradable holder only.
    let upg = all
        .iter()
        .find(|r| r.contains("LONG WAIT: thread `wd-upg-waiter`"))
        .unwrap_or_else(|| panic!("no long wait of wd-upg-waiter:\n{text}"));
    assert!(upg.contains("for RwLock `upg-table`"), "{upg}");
    assert!(
        thread_section(upg, "wd-upg-waiter").contains("(upgradable read)"),
        "{upg}"
    );
    let site = format!(
        "requested at tests/watchdog/rwlock.rs:{}:",
        site_line(&text, "wd-upg-waiter")
    );
    assert!(upg.contains(&site), "{site} missing:\n{upg}");
    assert!(
        thread_section(upg, "wd-upg-holder")
            .contains("RwLock `upg-table` (upgradable read), taken at tests/watchdog/rwlock.rs:"),
        "{upg}"
    );
    assert!(!upg.contains("thread `wd-upg-reader`"), "{upg}");
    // The reader waits for the index's holder.
    let read = all
        .iter()
        .find(|r| r.contains("LONG WAIT: thread `wd-upg-reader`"))
        .unwrap_or_else(|| panic!("no long wait of wd-upg-reader:\n{text}"));
    assert!(read.contains("for Mutex `upg-index`"), "{read}");
    assert!(
        thread_section(read, "wd-upg-reader").contains("RwLock `upg-table` (shared), taken at"),
        "{read}"
    );
    assert!(
        thread_section(read, "wd-upg-waiter").contains("Mutex `upg-index` (exclusive)"),
        "{read}"
    );
    // The JSON reports name the upgradable hold too.
    let json = crate::report_lines(&dir).concat();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        json.contains("\"hold\":\"upgradable read\""),
        "no upgradable hold in the JSON: {json}"
    );
}

#[test]
fn child_upgradable_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("upg-cycle", ()));
    let m = Arc::new(Mutex::named("upg-lock", ()));
    let held = Arc::new(Barrier::new(2));
    // A plain reader of the table that sleeps: not part of the cycle.
    let plain = {
        let (r, held) = (r.clone(), held.clone());
        spawn_named("wd-upg-plain", move || {
            let _r = r.read();
            held.wait();
            std::thread::sleep(Duration::from_secs(30));
        })
    };
    held.wait();
    let barrier = Arc::new(Barrier::new(2));
    let owner = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-upg-owner", move || {
            let _u = r.upgradable_read();
            barrier.wait();
            let _m = m.lock();
        })
    };
    let asker = spawn_named("wd-upg-asker", move || {
        let _m = m.lock();
        barrier.wait();
        let _u = r.upgradable_read();
    });
    owner.join().unwrap();
    asker.join().unwrap();
    plain.join().unwrap();
}

#[test]
fn an_upgradable_read_waiting_for_an_upgradable_holder_that_waits_for_it_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_upgradable_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("2 threads wait for each other"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-upg-asker` -> RwLock `upg-cycle` -> thread `wd-upg-owner` -> \
             Mutex `upg-lock` -> thread `wd-upg-asker`"
        ),
        "{cycle}"
    );
    assert!(
        report.contains("waits for RwLock `upg-cycle` (upgradable read)"),
        "{report}"
    );
    assert!(
        thread_section(report, "wd-upg-owner")
            .contains("RwLock `upg-cycle` (upgradable read), taken at"),
        "{report}"
    );
    // The plain reader keeps no upgradable read out.
    assert!(!report.contains("wd-upg-plain"), "{report}");
}

#[test]
fn child_read_then_upgradable_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    let r = Arc::new(RwLock::named("rtu-table", ()));
    let m = Arc::new(Mutex::named("rtu-lock", ()));
    let barrier = Arc::new(Barrier::new(2));
    let owner = {
        let (r, m, barrier) = (r.clone(), m.clone(), barrier.clone());
        spawn_named("wd-rtu-owner", move || {
            // A read, then an upgradable read of the same lock; the read is
            // released first: the thread still holds the upgradable read.
            let read = r.read();
            let _u = r.upgradable_read();
            drop(read);
            barrier.wait();
            let _m = m.lock();
        })
    };
    let asker = spawn_named("wd-rtu-asker", move || {
        let _m = m.lock();
        barrier.wait();
        let _u = r.upgradable_read();
    });
    owner.join().unwrap();
    asker.join().unwrap();
}

#[test]
fn an_upgradable_read_kept_after_an_earlier_read_was_released_still_keeps_others_out() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_read_then_upgradable_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-rtu-asker` -> RwLock `rtu-table` -> thread `wd-rtu-owner` -> \
             Mutex `rtu-lock` -> thread `wd-rtu-asker`"
        ),
        "{cycle}"
    );
    assert!(
        thread_section(report, "wd-rtu-owner")
            .contains("RwLock `rtu-table` (upgradable read), taken at"),
        "{report}"
    );
}

#[test]
fn child_upgrade_holding_a_read() {
    if !is_child() {
        return;
    }
    start(300);
    let r = RwLock::named("self-upg", ());
    let t = spawn_named("wd-self-upg", move || {
        let _read = r.read();
        let u = r.upgradable_read();
        let _w = RwLockUpgradableReadGuard::upgrade(u); // waits for its own read
    });
    t.join().unwrap();
}

#[test]
fn an_upgrade_by_a_thread_that_also_reads_the_lock_is_a_deadlock_with_itself() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_upgrade_holding_a_read),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-self-upg` -> upgrade of RwLock `self-upg` -> thread `wd-self-upg`"
        ),
        "{cycle}"
    );
    let me = thread_section(report, "wd-self-upg");
    assert!(
        me.contains("waits for upgrade of RwLock `self-upg`"),
        "{report}"
    );
    assert!(
        me.contains("RwLock `self-upg` (shared), taken at"),
        "{report}"
    );
    assert!(
        me.contains("RwLock `self-upg` (upgradable read), taken at"),
        "{report}"
    );
    // The advice: drop the plain read before upgrading, where the upgrade
    // is (its stack: an upgrade has no site). It said "at an unknown site"
    // and offered a ReentrantMutex or read_recursive, neither of which
    // helps an upgrade (found by an outside test).
    let advice = report
        .lines()
        .find(|l| l.starts_with("what to do:"))
        .unwrap();
    // An optimised build without line tables has no program frames to
    // place the upgrade by: it says the site is unknown.
    let at = if cfg!(debug_assertions) {
        "watchdog::rwlock::child_upgrade_holding_a_read::{{closure}} ("
    } else {
        ""
    };
    assert!(
        advice.starts_with(&format!(
            "what to do: thread `wd-self-upg` asks for upgrade of RwLock `self-upg` at {at}"
        )),
        "{advice}"
    );
    assert!(
        advice
            .contains("while it also holds a plain read of it (taken at tests/watchdog/rwlock.rs:")
            && advice.ends_with("which the upgrade waits for: drop that read before upgrading"),
        "{advice}"
    );
    assert!(!advice.contains("ReentrantMutex"), "{advice}");
    if cfg!(debug_assertions) {
        assert!(!advice.contains("unknown site"), "{advice}");
    }
}

/// Waits until the watchdog's dump shows thread `name` waiting for a lock.
fn until_waiting(name: &str) {
    while !watchdog::dump()
        .threads
        .iter()
        .any(|t| t.name == name && t.waiting.is_some())
    {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Three threads: `wd-t1` reads `table` and then wants `index`; `wd-t2`
/// holds `index` and reads `table` behind a waiting writer, `wd-w`, who
/// waits for `wd-t1`'s read, by `write` or, with `upgrade`, by upgrading
/// an upgradable read. With parking_lot the three hang: a reader waits
/// behind a waiting writer. The watchdog must not change that: its waits in
/// slices let the readers in at each slice's end, and the deadlock came
/// and went (found by an outside test). The child prints whether anyone
/// got through in 1.5 s (60 of the writer's slices).
fn reader_behind_a_waiting_writer(upgrade: bool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::channel;
    start(300);
    let r = Arc::new(RwLock::named("table", ()));
    let m = Arc::new(Mutex::named("index", ()));
    let got = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(3));
    let (go1, wait1) = channel::<()>();
    let (go2, wait2) = channel::<()>();
    {
        let (r, m, got, ready) = (r.clone(), m.clone(), got.clone(), ready.clone());
        spawn_named("wd-t1", move || {
            let _r = r.read();
            ready.wait();
            wait1.recv().unwrap();
            let _m = m.lock();
            got.store(true, Ordering::SeqCst);
        });
    }
    {
        let (r, m, got, ready) = (r.clone(), m.clone(), got.clone(), ready.clone());
        spawn_named("wd-t2", move || {
            let _m = m.lock();
            ready.wait();
            wait2.recv().unwrap();
            let _r = r.read();
            got.store(true, Ordering::SeqCst);
        });
    }
    ready.wait();
    {
        let (r, got) = (r.clone(), got.clone());
        spawn_named("wd-w", move || {
            if upgrade {
                let u = r.upgradable_read();
                let _w = RwLockUpgradableReadGuard::upgrade(u);
            } else {
                let _w = r.write();
            }
            got.store(true, Ordering::SeqCst);
        });
    }
    until_waiting("wd-w");
    go2.send(()).unwrap();
    until_waiting("wd-t2");
    go1.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    eprintln!("CHECKED got={}", got.load(Ordering::SeqCst));
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn child_reader_behind_a_waiting_writer() {
    if is_child() {
        reader_behind_a_waiting_writer(false);
    }
}

#[test]
fn child_reader_behind_a_waiting_upgrade() {
    if is_child() {
        reader_behind_a_waiting_writer(true);
    }
}

/// The child's three threads stay hung, as without the watchdog, and the
/// watchdog reports them once, as a deadlock of three (after the writer's
/// long wait, when the child took long to line the threads up).
fn reader_behind_a_waiting_writer_hangs(child: lockgraph_testkit::Child, waits: &str) {
    let (text, ok) = run_child(child, &[], Duration::from_secs(20), |t| {
        t.contains("CHECKED") && t.contains("DEADLOCK") && t.contains(END)
    });
    assert!(ok, "no check or no deadlock report in time:\n{text}");
    assert!(
        text.contains("CHECKED got=false"),
        "a thread got through:\n{text}"
    );
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("3 threads wait for each other"), "{report}");
    assert!(report.contains(waits), "{report}");
    // The reader's wait behind the writer is no lock-order edge: the order
    // is `index` and `table`'s, whose two edges the graph recorded (it said
    // `table -> table` was never recorded).
    assert!(
        !report.contains("RwLock `table` -> RwLock `table`"),
        "{report}"
    );
    // (In a `watchdog-in-release` build the graph is off by default.)
    assert!(
        report.contains("lock-order graph: it found this cycle")
            || report.contains("lock-order graph: off"),
        "{report}"
    );
    // The waiting writer or upgrader asks for what it does not hold (an
    // upgrade's own upgradable read is no second request): the advice is
    // about a lock held while waiting.
    assert!(!report.contains("drop the first guard"), "{report}");
    let deadlocks = reports(&text)
        .into_iter()
        .filter(|r| r.contains("DEADLOCK"))
        .count();
    assert_eq!(deadlocks, 1, "{text}");
}

#[test]
fn a_reader_behind_a_waiting_writer_stays_blocked_with_the_watchdog() {
    if !is_child() {
        reader_behind_a_waiting_writer_hangs(
            child!(child_reader_behind_a_waiting_writer),
            "waits for RwLock `table` (write)",
        );
    }
}

#[test]
fn a_reader_behind_a_waiting_upgrade_stays_blocked_with_the_watchdog() {
    if !is_child() {
        reader_behind_a_waiting_writer_hangs(
            child!(child_reader_behind_a_waiting_upgrade),
            "waits for upgrade of RwLock `table`",
        );
    }
}

/// `wd-scanner` reads `chain-index` and sleeps; `wd-indexer` queues a
/// write behind that read; then `wd-search` asks for a read (an
/// upgradable one with `upgradable`), which the queued writer keeps out.
fn reader_behind_a_writer_behind_a_reader(upgradable: bool) {
    start(300);
    let l = Arc::new(RwLock::named("chain-index", ()));
    let (l1, l2) = (l.clone(), l.clone());
    let held = Arc::new(Barrier::new(2));
    let held1 = held.clone();
    let _scanner = spawn_named("wd-scanner", move || {
        eprintln!("SITE wd-scanner={}", line!() + 1);
        let _r = l1.read();
        held1.wait();
        std::thread::sleep(Duration::from_secs(30));
    });
    held.wait();
    let _indexer = spawn_named("wd-indexer", move || {
        let _w = l2.write();
    });
    until_waiting("wd-indexer");
    let search = spawn_named("wd-search", move || {
        if upgradable {
            let _u = l.upgradable_read();
        } else {
            let _r = l.read();
        }
    });
    search.join().unwrap();
}

#[test]
fn child_reader_behind_a_writer_behind_a_reader() {
    if is_child() {
        reader_behind_a_writer_behind_a_reader(false);
    }
}

#[test]
fn child_upgradable_reader_behind_a_writer_behind_a_reader() {
    if is_child() {
        reader_behind_a_writer_behind_a_reader(true);
    }
}

/// The queued reader's report: it shows the reader the queued writer waits
/// for, and its advice is that reader's hold (it said that no thread the
/// watchdog sees holds the lock, "a guard leaked with `mem::forget`";
/// found by an outside test).
fn queued_reader_report_names_the_read_behind_the_writer(child: lockgraph_testkit::Child) {
    let (text, ok) = run_child(child, &[], Duration::from_secs(20), |t| {
        t.contains("LONG WAIT: thread `wd-search`") && t.matches(END).count() >= 2
    });
    assert!(ok, "no report for the queued reader in time:\n{text}");
    assert!(!text.contains("DEADLOCK"), "{text}");
    let report = &text[text.find("LONG WAIT: thread `wd-search`").unwrap()..];
    let report = &report[..report.find(END).unwrap()];
    assert!(
        thread_section(report, "wd-indexer").contains("waits for RwLock `chain-index` (write)"),
        "{report}"
    );
    let scanner = thread_section(report, "wd-scanner");
    let taken = format!(
        "RwLock `chain-index` (shared), taken at tests/watchdog/rwlock.rs:{}:",
        site_line(&text, "wd-scanner")
    );
    assert!(scanner.contains(&taken), "{report}");
    let advice = report
        .lines()
        .find(|l| l.starts_with("what to do:"))
        .unwrap();
    assert!(!advice.contains("mem::forget"), "{advice}");
    assert!(
        advice.starts_with(
            "what to do: thread `wd-search` waits behind thread `wd-indexer`, queued for a write \
             of RwLock `chain-index` (a waiting writer keeps new readers out), which waits for \
             thread `wd-scanner`'s read (taken at tests/watchdog/rwlock.rs:"
        ),
        "{advice}"
    );
    assert!(
        advice.contains(", now sleeping (") && advice.contains("): shorten that hold"),
        "{advice}"
    );
    // The reader holds no read of the lock: `read_recursive` would not
    // help it (the advice is for a reader that does).
    assert!(!advice.contains("read_recursive"), "{advice}");
}

#[test]
fn a_reader_behind_a_writer_behind_a_reader_is_told_of_the_read_holder() {
    if !is_child() {
        queued_reader_report_names_the_read_behind_the_writer(child!(
            child_reader_behind_a_writer_behind_a_reader
        ));
    }
}

#[test]
fn an_upgradable_reader_behind_a_writer_behind_a_reader_is_told_of_the_read_holder() {
    if !is_child() {
        queued_reader_report_names_the_read_behind_the_writer(child!(
            child_upgradable_reader_behind_a_writer_behind_a_reader
        ));
    }
}
