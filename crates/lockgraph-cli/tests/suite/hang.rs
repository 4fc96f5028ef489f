//! `lockgraph hang`: the files of four real processes of a job whose rank 2
//! deadlocks (the `hang_job` example), plus a file cut short and a garbage
//! file; exit codes; JSON.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

/// Runs the `hang_job` launcher on `dir` (it kills its workers once they
/// reported, within 60 s; killed here after 120 s).
fn run_job(dir: &Path) {
    let mut child = Command::new(hang_job()).arg(dir).spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("hang_job did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "hang_job failed: {status}");
}

fn watchdog_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lockgraph-watchdog-")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn four_real_processes_a_cut_file_and_a_garbage_file_line_up() {
    let d = tempdir();
    let dir = d.path();
    run_job(dir);
    let files = watchdog_files(dir);
    assert_eq!(files.len(), 4, "one file per process: {files:?}");

    // As the launcher left them.
    let o = run_in(dir, &["hang", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.starts_with("lockgraph hang: 4 processes: 1 reports a deadlock, 3 report long waits\n"),
        "{out}"
    );
    for needle in [
        "\ndeadlocks:\n  rank 2 (pid ",
        "thread `loader-a` -> Mutex `batch_lock` -> thread `loader-b` -> Mutex `queue_lock` -> thread `loader-a`",
        "    what to do: adopt one lock order everywhere, Mutex `batch_lock` before Mutex `queue_lock`",
        "  3 threads in 3 processes: waiting in blocking call `allreduce` at crates/lockgraph-cli/examples/hang_job.rs:",
        "  3 threads in 3 processes: waiting on Mutex `grads` at crates/lockgraph-cli/examples/hang_job.rs:",
        "  1 thread in 1 process: waiting on Mutex `batch_lock` at crates/lockgraph-cli/examples/hang_job.rs:",
        "\nprogress:\n  step: rank 2 (pid ",
        "stopped first, at step 1200; the other 3 at 1201\n",
        "\nstart here: rank 2 (pid ",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // The group's members: one `main` thread of each other rank.
    for rank in [0, 1, 3] {
        assert!(
            out.contains(&format!("rank {rank} (pid ")),
            "rank {rank} missing in\n{out}"
        );
    }
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));

    // Rank 0 killed in the middle of a line; a file of garbage named like a
    // watchdog file; a record of a future version.
    let mut cut = std::fs::OpenOptions::new()
        .append(true)
        .open(&files[0])
        .unwrap();
    cut.write_all(b"{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"na")
        .unwrap();
    let garbage = dir.join("lockgraph-watchdog-junk-7.jsonl");
    std::fs::write(&garbage, b"\x00\x01garbage\xff\nnot json either\n").unwrap();
    let future = dir.join("lockgraph-watchdog-new-8.jsonl");
    std::fs::write(
        &future,
        b"{\"lockgraph_watchdog\":9,\"kind\":\"process\"}\n",
    )
    .unwrap();
    let o = run_in(dir, &["hang", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    let err = stderr(&o);
    assert!(
        out.starts_with(
            "lockgraph hang: 4 processes: 1 reports a deadlock, 3 report long waits; 2 files skipped; 4 bad lines skipped\n"
        ),
        "{out}"
    );
    let cut_name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    for needle in [
        format!("{cut_name}:"),
        ": skipped: cut short (the process was killed while writing it)".to_string(),
        "lockgraph-watchdog-junk-7.jsonl:1: skipped: not text (invalid UTF-8)".to_string(),
        "lockgraph-watchdog-junk-7.jsonl:2: skipped: not JSON".to_string(),
        "lockgraph-watchdog-junk-7.jsonl: skipped: no lockgraph watchdog record in it".to_string(),
        "lockgraph-watchdog-new-8.jsonl:1: skipped: a watchdog record of an unknown version (9)"
            .to_string(),
    ] {
        assert!(err.contains(&needle), "missing {needle:?} in\n{err}");
    }
    // Rank 0 still counts: everything before the cut is whole.
    assert!(
        out.contains("stopped first, at step 1200; the other 3 at 1201"),
        "{out}"
    );

    // The same as JSON.
    let o = run_in(dir, &["hang", "--format", "json", "."]);
    assert_code(&o, 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["processes"].as_array().unwrap().len(), 4);
    assert_eq!(v["deadlocks"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["deadlocks"][0]["process"]
            .as_str()
            .unwrap()
            .split(' ')
            .nth(1),
        Some("2")
    );
    assert_eq!(v["long_waits"].as_array().unwrap().len(), 6);
    let step = &v["progress"][0];
    assert_eq!(step["marker"], "step");
    assert_eq!(step["values"][0]["value"], 1200);
    assert_eq!(step["values"][1]["value"], 1201);
    assert_eq!(step["values"][1]["processes"].as_array().unwrap().len(), 3);
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups[0]["threads"], 3);
    assert_eq!(groups[0]["processes"], 3);
    let skipped = v["skipped"].as_array().unwrap();
    assert!(skipped
        .iter()
        .any(|s| s["file"].as_str().unwrap().ends_with("junk-7.jsonl") && s["line"].is_null()));
}

#[test]
fn exit_2_without_a_usable_file_and_0_when_nothing_hangs() {
    let d = tempdir();
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("no lockgraph watchdog files (lockgraph-watchdog-*.jsonl) in ."),
        "{}",
        stderr(&o)
    );
    std::fs::write(d.path().join("lockgraph-watchdog-h-1.jsonl"), "garbage\n").unwrap();
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(
            "no usable lockgraph watchdog file in .: ./lockgraph-watchdog-h-1.jsonl:1: not JSON"
        ),
        "{}",
        stderr(&o)
    );
    let o = run_in(d.path(), &["hang", "no-such-dir"]);
    assert_code(&o, 2);

    // Two processes that made progress and reported nothing: exit 0.
    let d = tempdir();
    for (pid, step) in [(11, 5), (12, 5)] {
        std::fs::write(
            d.path().join(format!("lockgraph-watchdog-h-{pid}.jsonl")),
            format!(
                "{{\"lockgraph_watchdog\":1,\"kind\":\"process\",\"pid\":{pid},\"host\":\"h\",\"rank\":null,\"exe\":\"/bin/x\",\"args\":[],\"at_unix_ms\":1}}\n\
                 {{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"name\":\"epoch\",\"value\":{step},\"at_unix_ms\":2}}\n"
            ),
        )
        .unwrap();
    }
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(
            "2 processes: 0 report a deadlock, 0 report long waits (nothing hangs in these files)"
        ),
        "{out}"
    );
    assert!(
        out.contains("epoch: all 2 processes at epoch 5: none stopped earlier than the others"),
        "{out}"
    );
}
