//! Timed waits: reported when longer than the timeout, and still giving up
//! at their own deadline.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockgraph::{Mutex, RwLock, RwLockUpgradableReadGuard};
use lockgraph_testkit::{child, is_child, spawn_named, Child, END};

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

/// Two threads take `a` and `b` in opposite orders, each giving up its
/// second lock after 250 ms, pausing without its first, and trying again
/// (a back-off): wait-for cycles that end by themselves, each shorter than
/// the timeout. Then one whose
/// timed wait outlasts the timeout: `a` held, `b` asked for 3 s, against a
/// thread holding `b` and asking for `a` without a limit.
#[test]
fn child_timed_cycles() {
    if !is_child() {
        return;
    }
    start(1000);
    let a = Arc::new(Mutex::named("timed-cycle-a", ()));
    let b = Arc::new(Mutex::named("timed-cycle-b", ()));
    let round = |first: Arc<Mutex<()>>, second: Arc<Mutex<()>>| {
        let mut gave_up = 0;
        for _ in 0..12 {
            let _f = first.lock();
            std::thread::sleep(Duration::from_millis(2));
            if second.try_lock_for(Duration::from_millis(250)).is_none() {
                gave_up += 1;
                // The back-off's pause, without `first`: the other thread,
                // woken by its release, takes it (without the pause this
                // thread took it back at once on a loaded machine, and the
                // two retried in step for a second: a livelock the
                // watchdog rightly reported as a long wait).
                drop(_f);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        gave_up
    };
    let (a1, b1, a2, b2) = (a.clone(), b.clone(), a.clone(), b.clone());
    let ab = spawn_named("wd-backoff-ab", move || round(a1, b1));
    let ba = spawn_named("wd-backoff-ba", move || round(b2, a2));
    let gave_up = ab.join().unwrap() + ba.join().unwrap();
    eprintln!("BACKOFF done gave_up={gave_up}");
    // The long one.
    let both = Arc::new(Barrier::new(2));
    let (b1, a1, both1) = (b.clone(), a.clone(), both.clone());
    let _untimed = spawn_named("wd-timed-untimed", move || {
        let _b = b1.lock();
        both1.wait();
        let _a = a1.lock();
    });
    let _a = a.lock();
    both.wait();
    std::thread::sleep(Duration::from_millis(50));
    let got = b.try_lock_for(Duration::from_secs(3)).is_some();
    eprintln!("TIMED cycle ended got={got}");
    drop(_a);
    std::thread::sleep(Duration::from_secs(30));
}

/// A cycle that ends when a timed wait gives up is no hang: the back-off's
/// short cycles are not reported (they were, as DEADLOCKs "these threads
/// never wake", one per retry, and aborted the process under the abort
/// action; found by an outside soak test), and the long one is reported
/// once it lasted the timeout, saying when it ends.
#[test]
fn a_cycle_with_a_timed_wait_is_reported_only_past_the_timeout_and_says_when_it_ends() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_timed_cycles),
        &[],
        Duration::from_secs(30),
        |t| t.contains("TIMED cycle ended") && t.contains("DEADLOCK"),
    );
    assert!(ok, "the child did not finish:\n{text}");
    let backoff = &text[..text.find("BACKOFF done").expect("the back-off ended")];
    assert!(!backoff.contains("DEADLOCK"), "{backoff}");
    assert!(!backoff.contains("LONG WAIT"), "{backoff}");
    assert!(!text.contains("gave_up=0"), "no cycle formed:\n{text}");
    assert_eq!(
        text.matches("lockgraph watchdog: DEADLOCK").count(),
        1,
        "{text}"
    );
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let headline = report.lines().next().unwrap();
    // The main thread (named after the test) waits with the limit.
    assert!(
        headline.contains(
            "reported only; the threads wait until thread `timed::child_timed_cycles`'s \
             timed wait gives up, in"
        ),
        "{headline}"
    );
    assert!(!headline.contains("never wake"), "{headline}");
}

/// A thread that keeps its lock while it asks again and again for the
/// other's with a short limit, against a thread that waits for it with no
/// limit: a hang for as long as the retries go on.
#[test]
fn child_timed_retries_holding() {
    if !is_child() {
        return;
    }
    start(1000);
    let a = Arc::new(Mutex::named("retry-a", ()));
    let b = Arc::new(Mutex::named("retry-b", ()));
    let both = Arc::new(Barrier::new(2));
    let (a1, b1, both1) = (a.clone(), b.clone(), both.clone());
    let untimed = spawn_named("wd-retry-untimed", move || {
        let _b = b1.lock();
        both1.wait();
        let _a = a1.lock();
    });
    let retrier = spawn_named("wd-retry-holder", move || {
        let _a = a.lock();
        both.wait();
        let mut tries = 0;
        while b.try_lock_for(Duration::from_millis(250)).is_none() && tries < 16 {
            tries += 1;
        }
        tries
    });
    let tries = retrier.join().unwrap();
    untimed.join().unwrap();
    eprintln!("RETRY done tries={tries}");
    std::thread::sleep(Duration::from_secs(30));
}

/// The retries hold the cycle's locks past the timeout: one report (not one
/// per retry), naming both threads (it went unreported: each retry was a
/// wait younger than the timeout; found by a review).
#[test]
fn a_timed_retry_that_keeps_its_lock_is_reported_once() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_timed_retries_holding),
        &[],
        Duration::from_secs(30),
        |t| t.contains("RETRY done") && t.contains(END),
    );
    assert!(ok, "the child did not finish:\n{text}");
    assert!(text.contains("RETRY done tries=16"), "{text}");
    assert_eq!(
        text.matches("lockgraph watchdog: DEADLOCK").count(),
        1,
        "{text}"
    );
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(
        report.contains("thread `wd-retry-holder`") && report.contains("thread `wd-retry-untimed`"),
        "{report}"
    );
    assert!(
        report
            .lines()
            .next()
            .unwrap()
            .contains("'s timed wait gives up, in"),
        "{report}"
    );
}

/// A retry that keeps its lock, with a limit shorter than the scan period
/// (50 ms here; the default is 100 ms): every scan sees a new wait serial.
/// It was never reported, and held back `flush_reports` (and the exit) for
/// as long as it went on (found by a review); then reported without the
/// retrier's stack.
#[test]
fn child_fast_retries_holding() {
    if !is_child() {
        return;
    }
    start(500);
    let a = Arc::new(Mutex::named("fast-a", ()));
    let b = Arc::new(Mutex::named("fast-b", ()));
    let both = Arc::new(Barrier::new(3));
    let (a1, b1, both1) = (a.clone(), b.clone(), both.clone());
    let untimed = spawn_named("wd-fast-untimed", move || {
        let _b = b1.lock();
        both1.wait();
        let _a = a1.lock();
    });
    let both2 = both.clone();
    let retrier = spawn_named("wd-fast-holder", move || {
        let _a = a.lock();
        both2.wait();
        let mut tries = 0;
        while b.try_lock_for(Duration::from_millis(20)).is_none() && tries < 200 {
            tries += 1;
        }
        tries
    });
    both.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let flushed = lockgraph::flush_reports(Duration::from_secs(2));
    eprintln!("FLUSH {flushed} {}ms", t.elapsed().as_millis());
    let tries = retrier.join().unwrap();
    untimed.join().unwrap();
    eprintln!("RETRY done tries={tries}");
    std::thread::sleep(Duration::from_secs(2));
    eprintln!("CHILD end");
}

#[test]
fn a_fast_timed_retry_that_keeps_its_lock_is_reported() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_fast_retries_holding),
        &[],
        Duration::from_secs(30),
        |t| t.contains("CHILD end"),
    );
    assert!(ok, "the child did not finish:\n{text}");
    assert!(
        text.contains("FLUSH true"),
        "flush waited on `unsettled`:\n{text}"
    );
    assert_eq!(
        text.matches("lockgraph watchdog: DEADLOCK").count(),
        1,
        "{text}"
    );
    // The retrier's own stack: its waits never last to the timeout, but
    // its tries capture it once the loop has (they captured none, and the
    // report took its current one by a signal; before that it had none).
    let retrier = text
        .split("  thread `wd-fast-holder` (tid")
        .nth(1)
        .and_then(|t| t.split("  thread `").next())
        .unwrap_or_else(|| panic!("no retrier in the report:\n{text}"));
    // Where the build keeps what resolves its frames (an optimised build
    // without debug information resolves none: an empty stack of its own
    // is no stack, and the report takes its current one, as empty).
    if cfg!(debug_assertions) {
        assert!(
            retrier.contains("its stack while waiting:\n      watchdog::timed::child_fast_retries_holding::{{closure}}"),
            "{text}"
        );
    }
}

/// A reader queued behind a waiting writer retries `try_read_for` while it
/// keeps the lock the read holder waits for: a hang for as long as it
/// retries; every lock of the cycle is held the whole time (never reported:
/// each retry's own wait made the cycle young; found by a review).
#[test]
fn child_queued_reader_retries() {
    if !is_child() {
        return;
    }
    start(500);
    let l = Arc::new(RwLock::named("queued-l", ()));
    let m = Arc::new(Mutex::named("queued-m", ()));
    let go = Arc::new(Barrier::new(3));
    let (l1, m1, go1) = (l.clone(), m.clone(), go.clone());
    let reader = spawn_named("wd-q-reader", move || {
        let _r = l1.read();
        go1.wait();
        std::thread::sleep(Duration::from_millis(100));
        let _m = m1.lock();
    });
    let (l2, m2, go2) = (l.clone(), m.clone(), go.clone());
    let retrier = spawn_named("wd-q-retrier", move || {
        let _m = m2.lock();
        go2.wait();
        // Let the writer queue first.
        std::thread::sleep(Duration::from_millis(200));
        let mut tries = 0;
        while l2.try_read_for(Duration::from_millis(100)).is_none() && tries < 30 {
            tries += 1;
        }
        tries
    });
    go.wait();
    std::thread::sleep(Duration::from_millis(50));
    let l3 = l.clone();
    let writer = spawn_named("wd-q-writer", move || {
        let _w = l3.write();
    });
    let tries = retrier.join().unwrap();
    reader.join().unwrap();
    writer.join().unwrap();
    eprintln!("QUEUED done tries={tries}");
    std::thread::sleep(Duration::from_secs(1));
    eprintln!("CHILD end");
}

#[test]
fn a_queued_reader_that_retries_keeping_its_lock_is_reported() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_queued_reader_retries),
        &[],
        Duration::from_secs(30),
        |t| t.contains("CHILD end"),
    );
    assert!(ok, "the child did not finish:\n{text}");
    assert!(text.contains("QUEUED done tries=30"), "{text}");
    assert_eq!(
        text.matches("lockgraph watchdog: DEADLOCK").count(),
        1,
        "{text}"
    );
}

/// One try of 300 ms (under the 500 ms timeout), by a thread holding its
/// lock for long, against a thread that held its own for long: it gives up
/// and the program goes on: no hang, no report (one try beside old holds
/// was reported as a DEADLOCK; found by a review).
#[test]
fn child_single_short_try_old_holds() {
    if !is_child() {
        return;
    }
    start(500);
    let a = Arc::new(Mutex::named("single-a", ()));
    let b = Arc::new(Mutex::named("single-b", ()));
    let go = Arc::new(Barrier::new(2));
    let (a1, b1, go1) = (a.clone(), b.clone(), go.clone());
    let u = spawn_named("wd-single-untimed", move || {
        let _b = b1.lock();
        go1.wait();
        std::thread::sleep(Duration::from_millis(1000));
        let _a = a1.lock();
    });
    let _a = a.lock();
    go.wait();
    std::thread::sleep(Duration::from_millis(1200));
    let got = b.try_lock_for(Duration::from_millis(300)).is_some();
    eprintln!("SINGLE gave up={}", !got);
    std::thread::sleep(Duration::from_millis(300));
    drop(_a);
    u.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    eprintln!("CHILD end");
}

#[test]
fn a_single_short_try_is_not_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_single_short_try_old_holds),
        &[],
        Duration::from_secs(30),
        |t| t.contains("CHILD end"),
    );
    assert!(ok, "the child did not finish:\n{text}");
    assert_eq!(
        text.matches("lockgraph watchdog: DEADLOCK").count(),
        0,
        "{text}"
    );
}

/// A retry loop that keeps its lock (`try_lock_for` of 150 ms, under the
/// 1 s timeout) against a thread that waits for that lock with no limit
/// while it holds the one retried for: a hang from the first try.
#[test]
fn child_retry_loop_hang() {
    if !is_child() {
        return;
    }
    start(1000);
    let a = Arc::new(Mutex::named("loop-a", ()));
    let b = Arc::new(Mutex::named("loop-b", ()));
    let both = Arc::new(Barrier::new(2));
    let (a1, b1, both1) = (a.clone(), b.clone(), both.clone());
    let _untimed = spawn_named("wd-loop-untimed", move || {
        let _b = b1.lock();
        both1.wait();
        let _a = a1.lock();
    });
    let _a = a.lock();
    both.wait();
    let began = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    eprintln!("LOOP began {began}");
    for _ in 0..40 {
        if b.try_lock_for(Duration::from_millis(150)).is_some() {
            break;
        }
    }
    eprintln!("LOOP done");
    std::thread::sleep(Duration::from_secs(30));
}

/// The retry loop's deadlock is reported once it has lasted the timeout
/// (it was after twice the timeout: the cycle's start was noted only once
/// its holds were older than the timeout), since its first try (it said
/// the current try's start), and its limit reads the same in the text and
/// the JSON (`150.0ms` and 149; from an outside test).
#[test]
fn a_retry_loop_hang_is_reported_once_it_lasted_the_timeout_since_its_first_try() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-retry-loop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (text, ok) = run_child(
        child!(child_retry_loop_hang),
        &[("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())],
        Duration::from_secs(30),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let line = crate::first_report_line(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    // The untimed thread has waited since the loop began: about the
    // timeout (1 s) and a scan or two, not twice the timeout.
    let untimed = report
        .lines()
        .find(|l| l.contains("waits for Mutex `loop-a` (exclusive) for "))
        .unwrap_or_else(|| panic!("{report}"));
    let waited = untimed
        .split(" for ")
        .nth(2)
        .and_then(|w| w.split(',').next())
        .unwrap();
    let secs: f64 = if let Some(ms) = waited.strip_suffix("ms") {
        ms.parse::<f64>().unwrap() / 1000.0
    } else {
        waited.strip_suffix('s').unwrap().parse().unwrap()
    };
    assert!(
        (1.0..1.6).contains(&secs),
        "reported after {secs}s:\n{report}"
    );
    // Since the first try, and the retries said.
    let began: u128 = text
        .lines()
        .find_map(|l| l.strip_prefix("LOOP began "))
        .unwrap()
        .parse()
        .unwrap();
    let since: u128 = line
        .split("\"since_unix_ms\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        since + 100 >= began && since <= began + 300,
        "since {since}, the loop began at {began}:\n{line}"
    );
    assert!(
        report.contains("(exclusive, timed: gives up after 150.0ms, retrying for "),
        "{report}"
    );
    assert!(line.contains("\"limit_ms\":150,"), "{line}");
    assert!(line.contains("\"retrying_ms\":1"), "{line}");
}

/// A retry loop of `try_lock_for` tries shorter than the timeout against a
/// holder that sleeps: each try gives up before the timeout, but the loop
/// waits for the lock for much longer: a long wait, reported once for the
/// loop (it was never reported; found by an outside test).
#[test]
fn child_retry_loop_behind_a_sleeping_holder() {
    if !is_child() {
        return;
    }
    start(500);
    let m = Arc::new(Mutex::named("loop-slept-on", ()));
    let held = Arc::new(Barrier::new(2));
    let (m1, held1) = (m.clone(), held.clone());
    let holder = spawn_named("wd-loop-sleeper", move || {
        let _g = m1.lock();
        held1.wait();
        std::thread::sleep(Duration::from_millis(2500));
    });
    held.wait();
    let mut tries = 0;
    while m.try_lock_for(Duration::from_millis(150)).is_none() {
        tries += 1;
    }
    eprintln!("LOOP took the lock after {tries} tries");
    holder.join().unwrap();
    eprintln!("CHILD end");
}

#[test]
fn a_retry_loop_behind_a_sleeping_holder_is_one_long_wait() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_retry_loop_behind_a_sleeping_holder),
        &[],
        Duration::from_secs(30),
        |t| t.contains("CHILD end") && t.contains("LONG WAIT") && t.contains(END),
    );
    assert!(ok, "the child did not finish, or no long wait:\n{text}");
    assert_eq!(text.matches("LONG WAIT").count(), 1, "{text}");
    assert!(!text.contains("DEADLOCK"), "{text}");
    let report = &text[text.find("LONG WAIT").unwrap()..];
    for needle in ["Mutex `loop-slept-on`", "retrying for", "wd-loop-sleeper"] {
        assert!(report.contains(needle), "{needle} missing:\n{report}");
    }
}

/// Three threads hammer one lock with `try_lock_for` (every try succeeds
/// within a few ms; each hold 1 ms): no wait is ever long, and nothing
/// hangs. A successful try ends a retry loop (it did not: the run of
/// contended waits was taken for one loop and reported; found by a
/// review).
#[test]
fn child_contended_timed_locks() {
    if !is_child() {
        return;
    }
    start(500);
    let m = Arc::new(Mutex::named("review-hot", ()));
    let mut hs = Vec::new();
    for name in ["review-hot-1", "review-hot-2", "review-hot-3"] {
        let m = m.clone();
        hs.push(spawn_named(name, move || {
            let end = Instant::now() + Duration::from_secs(3);
            let mut max = Duration::ZERO;
            while Instant::now() < end {
                let t = Instant::now();
                let g = m.try_lock_for(Duration::from_secs(2));
                max = max.max(t.elapsed());
                assert!(g.is_some());
                std::thread::sleep(Duration::from_millis(1));
                drop(g);
            }
            eprintln!("MAX WAIT {max:?}");
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    eprintln!("CHILD end");
}

/// Runs `child` to its end; asserts that it reported no long wait.
fn no_long_wait(child: Child) {
    let (text, ok) = run_child(child, &[], Duration::from_secs(20), |t| {
        t.contains("CHILD end")
    });
    assert!(ok, "{text}");
    assert!(!text.contains("LONG WAIT"), "false long wait:\n{text}");
}

#[test]
fn contended_timed_locks_are_no_retry_loop() {
    if is_child() {
        return;
    }
    no_long_wait(child!(child_contended_timed_locks));
}

/// A busy consumer: `wait_for` with a 10 s limit (over the timeout, so
/// registered), woken every few ms by a producer. No wait is long; the
/// consumer is healthy (a notified wait ends a loop; found by a review).
#[test]
fn child_busy_condvar_consumer() {
    if !is_child() {
        return;
    }
    start(500);
    let pair = Arc::new((Mutex::named("review-q", 0u64), lockgraph::Condvar::new()));
    let p2 = pair.clone();
    let producer = spawn_named("review-producer", move || {
        let end = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < end {
            *p2.0.lock() += 1;
            p2.1.notify_one();
            std::thread::sleep(Duration::from_millis(3));
        }
        *p2.0.lock() = u64::MAX;
        p2.1.notify_one();
    });
    let consumer = spawn_named("review-consumer", move || {
        let mut g = pair.0.lock();
        loop {
            while *g == 0 {
                let _ = pair.1.wait_for(&mut g, Duration::from_secs(10));
            }
            if *g == u64::MAX {
                break;
            }
            *g = 0;
        }
    });
    producer.join().unwrap();
    consumer.join().unwrap();
    eprintln!("CHILD end");
}

#[test]
fn a_busy_condvar_consumer_is_no_retry_loop() {
    if is_child() {
        return;
    }
    no_long_wait(child!(child_busy_condvar_consumer));
}

/// A retry loop of tries longer than the timeout (800 ms tries, 500 ms
/// timeout) against a holder asleep for 2 s: reported once per loop (its
/// first try was not counted as the loop's; found by a review).
#[test]
fn child_long_tries_loop() {
    if !is_child() {
        return;
    }
    start(500);
    let m = Arc::new(Mutex::named("review-long-tries", ()));
    let held = Arc::new(Barrier::new(2));
    let (m1, held1) = (m.clone(), held.clone());
    let holder = spawn_named("review-sleeper", move || {
        let _g = m1.lock();
        held1.wait();
        std::thread::sleep(Duration::from_millis(2000));
    });
    held.wait();
    while m.try_lock_for(Duration::from_millis(800)).is_none() {}
    holder.join().unwrap();
    eprintln!("CHILD end");
}

#[test]
fn a_loop_of_tries_longer_than_the_timeout_is_one_long_wait() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_long_tries_loop),
        &[],
        Duration::from_secs(20),
        |t| t.contains("CHILD end"),
    );
    assert!(ok, "{text}");
    assert_eq!(text.matches("LONG WAIT").count(), 1, "{text}");
}

/// A real deadlock through a semaphore of 2 permits: the main thread
/// holds `l` and waits for a permit; `a` holds a permit and waits for `l`;
/// `b` holds the other permit and waits on a condvar only the main thread
/// notifies (after its acquire). Nobody can go on: a thread parked on a
/// condvar, a receive or a blocking call is not one that can end a
/// permit's wait (it counted as running; found by a review).
#[test]
fn child_permit_and_condvar() {
    if !is_child() {
        return;
    }
    start(500);
    let s = Arc::new(lockgraph::Semaphore::named("review-sem", 2));
    let l = Arc::new(Mutex::named("review-l", ()));
    let cv = Arc::new((
        Mutex::named("review-cv-m", false),
        lockgraph::Condvar::new(),
    ));
    let ready = Arc::new(Barrier::new(3));
    let (s1, l1, r1) = (s.clone(), l.clone(), ready.clone());
    let _a = spawn_named("review-a", move || {
        let _p = s1.acquire();
        r1.wait();
        std::thread::sleep(Duration::from_millis(100));
        let _l = l1.lock();
    });
    let (s2, cv2, r2) = (s.clone(), cv.clone(), ready.clone());
    let _b = spawn_named("review-b", move || {
        let _p = s2.acquire();
        r2.wait();
        let mut g = cv2.0.lock();
        while !*g {
            cv2.1.wait(&mut g);
        }
    });
    let _l = l.lock();
    ready.wait();
    std::thread::sleep(Duration::from_millis(50));
    let _p = s.acquire();
    *cv.0.lock() = true;
    cv.1.notify_all();
    eprintln!("CHILD end");
}

#[test]
fn a_permit_holder_parked_on_a_condvar_does_not_free_the_permit_s_waiter() {
    if is_child() {
        return;
    }
    let (text, _) = run_child(
        child!(child_permit_and_condvar),
        &[],
        Duration::from_secs(4),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(text.contains("DEADLOCK"), "no deadlock report:\n{text}");
    // `review-b`'s condvar wait is one that someone outside the deadlock
    // may end: it is not counted as deadlocked, only named as blocked.
    assert!(
        text.contains("DEADLOCK: 2 threads wait for each other"),
        "{text}"
    );
    assert!(!text.contains("also deadlocked"), "{text}");
    assert!(
        text.contains("the permit holder thread `review-b` is itself blocked"),
        "{text}"
    );
}
