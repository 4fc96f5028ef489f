//! Retry loops of timed waits (`try_lock_for` again and again, with or
//! without a back-off): one wait from the first try, reported once the
//! loop has lasted the timeout, headed by the loop's time; a loop that gets
//! the lock now and then is no long wait (an outside on-call test's
//! findings 1 to 3).

use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lockgraph::watchdog::{self, Config};
use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, spawn_named, END};
use serde_json::Value;

use crate::golden::assert_fits_schema;
use crate::{first_report_line, run_child};

/// A 1 s timeout and a 100 ms scan: a report held back for the waiter's
/// stack waits ten scans (1 s) at most, which the retry loop's did.
fn start_1s() {
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_secs(1))
            .scan_period(Duration::from_millis(100))
    ));
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// `rl-holder` holds `rl-lock` for good; this thread retries
/// `try_lock_for(TRY_MS)`, sleeping `BACKOFF_MS` after each try that gave
/// up (both from the environment).
#[test]
fn child_retry_loop() {
    if !is_child() {
        return;
    }
    start_1s();
    let env = |k: &str| -> u64 { std::env::var(k).unwrap().parse().unwrap() };
    let (try_ms, backoff) = (env("TRY_MS"), env("BACKOFF_MS"));
    let m = Arc::new(Mutex::named("rl-lock", ()));
    let (held_tx, held) = mpsc::channel();
    let m1 = m.clone();
    let _holder = spawn_named("rl-holder", move || {
        let _g = m1.lock();
        held_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    held.recv().unwrap();
    eprintln!("LOOP began {}", unix_ms());
    loop {
        if m.try_lock_for(Duration::from_millis(try_ms)).is_some() {
            panic!("got a lock held for good");
        }
        std::thread::sleep(Duration::from_millis(backoff));
    }
}

/// Runs [`child_retry_loop`] until its long-wait report; returns the
/// report's text, its JSON line and when the loop began (unix ms).
fn retry_loop_report(try_ms: &str, backoff_ms: &str) -> (String, Value, u128) {
    let dir = std::env::temp_dir().join(format!(
        "lockgraph-retry-{try_ms}-{backoff_ms}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let (text, ok) = run_child(
        child!(child_retry_loop),
        &[
            ("TRY_MS", try_ms),
            ("BACKOFF_MS", backoff_ms),
            ("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap()),
        ],
        Duration::from_secs(20),
        |t| t.contains("LONG WAIT") && t.contains(END),
    );
    assert!(ok, "no long-wait report in time:\n{text}");
    let line = first_report_line(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let report = text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..].to_string();
    let began = text
        .lines()
        .find_map(|l| l.strip_prefix("LOOP began "))
        .unwrap()
        .parse()
        .unwrap();
    (report, serde_json::from_str(&line).unwrap(), began)
}

/// The retrier's wait in the report's JSON.
fn waiting(json: &Value) -> &Value {
    &json["threads"][0]["waiting"]
}

fn ms(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A loop of 200 ms tries with no pause: its report comes at the first
/// scans after the loop has lasted the timeout (it came a second after it,
/// whatever the timeout: the tries never captured their stack, and the
/// report waited ten scans for it), its first line and JSON give the
/// loop's time since its first try (they gave the current try's few
/// milliseconds), and the wait line says the current try's.
#[test]
fn a_retry_loop_is_reported_once_it_lasted_the_timeout_headed_by_the_loops_time() {
    if is_child() {
        return;
    }
    let (report, json, began) = retry_loop_report("200", "0");
    let first = report.lines().next().unwrap();
    assert!(
        first.starts_with(
            "lockgraph watchdog: LONG WAIT: thread `retry_loops::child_retry_loop` has waited "
        ) && first.contains(" for Mutex `rl-lock` in timed tries that all gave up (pid "),
        "{first}"
    );
    let w = waiting(&json);
    let waited = ms(&w["waited_ms"]);
    assert!(
        (1000..1500).contains(&waited),
        "reported at {waited} ms:\n{report}"
    );
    assert_eq!(ms(&w["retrying_ms"]), waited, "{json}");
    assert!(
        ms(&w["try_ms"]) <= 200 && w["between_tries_ms"].is_null(),
        "{json}"
    );
    let since = json["since_unix_ms"].as_u64().unwrap() as u128;
    assert!(
        since + 50 >= began && since <= began + 250,
        "since {since}, the loop began at {began}: {json}"
    );
    let reported = json["reported_at_unix_ms"].as_u64().unwrap() as u128;
    assert!(reported >= since + 1000, "{json}");
    assert!(
        report.contains("(exclusive, timed: gives up after 200.0ms, retrying for ")
            && report.contains("; this try "),
        "{report}"
    );
    // The tries captured their stack once the loop was late.
    assert!(
        report.contains("    its stack while waiting:\n"),
        "{report}"
    );
    assert_fits_schema(&json);
}

/// A loop that sleeps 250 ms (over two scan periods, under the timeout)
/// after each 30 ms try: one wait, reported once it has lasted the timeout
/// (it was never reported: each try, asked more than a scan period after
/// the last, began a new loop), found in a try or between two.
#[test]
fn a_retry_loop_with_a_back_off_longer_than_a_scan_is_one_long_wait() {
    if is_child() {
        return;
    }
    let (report, json, began) = retry_loop_report("30", "250");
    let w = waiting(&json);
    let waited = ms(&w["waited_ms"]);
    assert!(
        (1000..1700).contains(&waited),
        "reported at {waited} ms:\n{report}"
    );
    assert!(report.contains("retrying for "), "{report}");
    let since = json["since_unix_ms"].as_u64().unwrap() as u128;
    assert!(since + 50 >= began && since <= began + 300, "{json}");
    if w["between_tries_ms"].is_null() {
        assert!(ms(&w["try_ms"]) <= 30, "{json}");
    } else {
        assert!(ms(&w["between_tries_ms"]) <= 300, "{json}");
        assert!(
            report.contains("; between two tries: the last gave up "),
            "{report}"
        );
    }
    assert_fits_schema(&json);
}

/// `rl-owner` holds `rl-shared` for 600 ms at a time; between two of its
/// holds this thread takes the lock with `try_lock` (which registers no
/// wait) and keeps it 250 ms, seen by the watchdog's scans. Meanwhile it
/// retries `try_lock_for(30ms)` with a 100 ms back-off, every try failing
/// (the owner lets go only once this thread is out of its try: it offers
/// to take over, by a rendezvous, after each try).
#[test]
fn child_retry_loop_that_gets_the_lock_between_tries() {
    if !is_child() {
        return;
    }
    start_1s();
    let m = Arc::new(Mutex::named("rl-shared", ()));
    let (ready_tx, ready) = mpsc::sync_channel::<()>(0);
    let (free_tx, free) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel::<()>();
    let m1 = m.clone();
    let (held_tx, held) = mpsc::channel::<()>();
    let _owner = spawn_named("rl-owner", move || loop {
        let g = m1.lock();
        let _ = held_tx.send(());
        std::thread::sleep(Duration::from_millis(600));
        if ready.recv().is_err() {
            return;
        }
        drop(g);
        if free_tx.send(()).is_err() || done.recv().is_err() {
            return;
        }
    });
    held.recv().unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(4);
    let mut got = 0;
    while std::time::Instant::now() < end {
        if m.try_lock_for(Duration::from_millis(30)).is_some() {
            panic!("a try got the lock: the test needs them all to fail");
        }
        let _ = ready_tx.try_send(());
        std::thread::sleep(Duration::from_millis(100));
        if free.try_recv().is_ok() {
            let g = m.try_lock().expect("free");
            std::thread::sleep(Duration::from_millis(250));
            drop(g);
            got += 1;
            done_tx.send(()).unwrap();
            held.recv().unwrap();
        }
    }
    eprintln!("CHILD end: took the lock {got} times between tries");
}

/// Its timed tries all fail, but the thread gets the lock between them
/// (by `try_lock`, which registers no wait): no long wait. The watchdog,
/// seeing the thread hold the lock, ends the loop; without that, tries
/// 100 ms apart were one loop of 4 s.
#[test]
fn a_loop_that_gets_the_lock_between_its_tries_is_no_long_wait() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_retry_loop_that_gets_the_lock_between_tries),
        &[],
        Duration::from_secs(20),
        |t| t.contains("CHILD end"),
    );
    assert!(ok, "{text}");
    assert!(!text.contains("took the lock 0 times"), "{text}");
    assert!(!text.contains("LONG WAIT"), "false long wait:\n{text}");
}
