//! Progress markers reach the dump directory's file: the watchdog appends
//! the markers that changed at most every 10 seconds, so the last value
//! before a hang is on disk within 10 seconds, without a report or a dump,
//! and a marker that moves at every step writes a line per 10 seconds,
//! not one per scan.

use std::time::Duration;

use lockgraph_testkit::{child, is_child};

use crate::run_child;

/// The lines of every file in `dir` (the dump directory; none yet: none).
fn lines(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn child_steps_then_hangs() {
    if !is_child() {
        return;
    }
    crate::start(60_000);
    for step in 1..=1200u64 {
        lockgraph::progress("step", step);
        // Two seconds of steps, over many scans.
        if step % 12 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    lockgraph::progress("epoch", 3);
    eprintln!("STEPPED");
    // A line now and then, so that the parent looks at the file again.
    for _ in 0..900 {
        std::thread::sleep(Duration::from_millis(50));
        eprintln!("tick");
    }
}

#[test]
fn the_last_step_before_a_hang_is_in_the_file() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-progress-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let has = |l: &[String], needle: &str| l.iter().any(|x| x.contains(needle));
    let (text, _) = run_child(
        child!(child_steps_then_hangs),
        &[("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())],
        Duration::from_secs(40),
        |t| {
            t.contains("STEPPED") && {
                let l = lines(&dir);
                has(&l, "\"name\":\"step\",\"value\":1200,")
                    && has(&l, "\"name\":\"epoch\",\"value\":3,")
            }
        },
    );
    let l = lines(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        has(&l, "\"name\":\"step\",\"value\":1200,"),
        "{text}\n{l:#?}"
    );
    assert!(has(&l, "\"name\":\"epoch\",\"value\":3,"), "{l:#?}");
    // The first line is the process's, then markers only (no report, no
    // dump): two seconds of steps (twenty scans) write the first value
    // and, at most 10 s later, the last ones (two markers), not a line per
    // scan.
    assert!(
        l[0].starts_with("{\"lockgraph_watchdog\":1,\"kind\":\"process\","),
        "{l:#?}"
    );
    assert!(l.len() <= 5, "{} lines: {l:#?}", l.len());
}

#[test]
fn child_steps_into_an_unwritable_dump_dir() {
    if !is_child() {
        return;
    }
    // No watchdog: each call writes the markers (at most once a second).
    for step in 1..=40u64 {
        lockgraph::progress("step", step);
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("STEPPED");
}

/// A dump directory that cannot be made is said once, not at every write
/// (found by an outside test: a line at every scan, forever).
#[test]
fn an_unwritable_dump_dir_is_said_once() {
    if is_child() {
        return;
    }
    let file = std::env::temp_dir().join(format!("lockgraph-wd-notdir-{}", std::process::id()));
    std::fs::write(&file, b"").unwrap();
    let dir = file.join("dumps");
    let (text, done) = run_child(
        child!(child_steps_into_an_unwritable_dump_dir),
        &[("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())],
        Duration::from_secs(30),
        |t| t.contains("STEPPED"),
    );
    let _ = std::fs::remove_file(&file);
    assert!(done, "{text}");
    let said: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("is not a directory"))
        .collect();
    assert_eq!(said.len(), 1, "{text}");
    assert!(
        said[0].ends_with(
            "this process's reports go to stderr only until it can write there (said once)"
        ),
        "{text}"
    );
}

#[test]
fn child_steps_without_a_watchdog_then_stops() {
    if !is_child() {
        return;
    }
    // No watchdog (no lock is ever taken): calls write at most once a
    // second, and what they held back is written by a thread of lockgraph's.
    for step in 1..=50u64 {
        lockgraph::progress("step", step);
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("STEPPED");
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(50));
        eprintln!("tick");
    }
}

/// Without a running watchdog, the last step of a process that stops
/// calling reaches the file (found by a review: a call within a second of
/// the last write wrote nothing, and nothing wrote it later).
#[test]
fn without_a_watchdog_the_last_step_still_reaches_the_file() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-progress-nw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let has_last = |dir: &std::path::Path| {
        lines(dir)
            .iter()
            .any(|l| l.contains("\"name\":\"step\",\"value\":50,"))
    };
    let (text, done) = run_child(
        child!(child_steps_without_a_watchdog_then_stops),
        &[
            ("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap()),
            ("LOCKGRAPH_WATCHDOG", "off"),
        ],
        Duration::from_secs(20),
        |t| t.contains("STEPPED") && has_last(&dir),
    );
    let found = has_last(&dir);
    let lines = lines(&dir).len();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(done && found, "{text}");
    // Half a second of steps: a few writes, not fifty.
    assert!(lines <= 5, "{lines} lines");
}
