//! `LOCKGRAPH_RECORD`: per-process record files, crash-safe (docs/record-format.md).
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lockgraph::Mutex;

const CHILD: &str = "LOCKGRAPH_TEST_CHILD";

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn child(test: &str, dir: &Path, policy: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("LOCKGRAPH_RECORD", dir)
        .env("LOCKGRAPH_ON_CYCLE", policy)
        .env("LOCKGRAPH_BACKTRACE", "0");
    cmd
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
    let out = child("child_records_then_aborts", &dir, "abort")
        .output()
        .unwrap();
    assert!(!out.status.success());
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
    let mut c = child("child_records_then_waits", &dir, "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut line = String::new();
    while !line.contains("RECORDED") && Instant::now() < deadline {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
    }
    c.kill().unwrap();
    c.wait().unwrap();
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
    let out = child("child_records_then_aborts", &file.join("sub"), "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LOCKGRAPH_RECORD="), "{stderr}");
    assert!(stderr.contains("not recording"), "{stderr}");
    std::fs::remove_file(&file).unwrap();
}
