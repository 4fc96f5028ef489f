//! `LOCKGRAPH_RECORD`: per-process record files, crash-safe (docs/record-format.md).
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::path::{Path, PathBuf};
use std::time::Duration;

use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, Child};

/// `child`, recording into `dir`, with policy `policy`.
fn recording(child: Child, dir: &Path, policy: &str) -> Child {
    child
        .env("LOCKGRAPH_RECORD", dir)
        .env("LOCKGRAPH_ON_CYCLE", policy)
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockgraph-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn lines(dir: &Path) -> Vec<String> {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.ends_with('\n'), "torn last line: {text}");
    text.lines().map(str::to_string).collect()
}

#[test]
fn child_records_then_aborts() {
    if !is_child() {
        return;
    }
    let a = Mutex::named("rec-a", ());
    let b = Mutex::named("rec-b", ());
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let _b = b.lock();
    let _a = a.lock(); // abort policy: the process dies here
    unreachable!();
}

#[test]
fn a_process_that_aborts_leaves_every_completed_record() {
    let dir = fresh_dir("abort");
    let out = recording(child!(child_records_then_aborts), &dir, "abort").run();
    assert!(!out.success() && !out.timed_out, "{}", out.both());
    let lines = lines(&dir);
    assert!(
        lines[0].starts_with("{\"lockgraph_record\":1,\"pid\":"),
        "{}",
        lines[0]
    );
    let edges: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("\"type\":\"edge\""))
        .collect();
    assert_eq!(edges.len(), 2, "{lines:#?}");
    assert!(edges[0].contains("\"from\":{\"class\":\"name:rec-a\""));
    assert!(edges[1].contains("\"from\":{\"class\":\"name:rec-b\""));
    assert!(edges[1].contains("\"thread\":\"child_records_then_aborts\""));
    assert!(edges[1].contains("\"requested_at\":\"tests/record.rs:"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn child_records_then_waits() {
    if !is_child() {
        return;
    }
    let locks: Vec<Mutex<()>> = (0..50)
        .map(|i| Mutex::named(Box::leak(format!("rec-k{i}").into_boxed_str()), ()))
        .collect();
    for w in locks.windows(2) {
        let _x = w[0].lock();
        let _y = w[1].lock();
    }
    println!("RECORDED");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_process_killed_with_sigkill_leaves_complete_lines() {
    let dir = fresh_dir("kill");
    // Killed once it printed RECORDED (or after 20 s).
    let _ = recording(child!(child_records_then_waits), &dir, "warn")
        .deadline(Duration::from_secs(20))
        .run_until(|out, _| out.contains("RECORDED"));
    let lines = lines(&dir);
    assert_eq!(lines.len(), 1 + 49, "{}", lines.len());
    assert!(lines.iter().all(|l| l.starts_with('{') && l.ends_with('}')));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unwritable_record_dir_is_reported_and_the_program_runs_on() {
    if is_child() {
        return;
    }
    let file = std::env::temp_dir().join(format!("lockgraph-notadir-{}", std::process::id()));
    std::fs::write(&file, "x").unwrap();
    let out = recording(child!(child_records_then_aborts), &file.join("sub"), "off").run();
    let stderr = &out.stderr;
    assert!(stderr.contains("LOCKGRAPH_RECORD="), "{stderr}");
    assert!(stderr.contains("not recording"), "{stderr}");
    std::fs::remove_file(&file).unwrap();
}
