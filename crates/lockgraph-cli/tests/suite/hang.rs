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
        "    what to do: adopt one lock order everywhere, Mutex `queue_lock` before Mutex `batch_lock`; thread `loader-b` breaks it",
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
    // Its last line has no newline, and is no start of a record: not taken
    // for a line cut short.
    std::fs::write(
        &garbage,
        b"\x00\x01garbage\xff\nnot json either\n\x7fELF\x02",
    )
    .unwrap();
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
            "lockgraph hang: 4 processes: 1 reports a deadlock, 3 report long waits; 2 files skipped; 5 bad lines skipped\n"
        ),
        "{out}"
    );
    let cut_name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    for needle in [
        format!("{cut_name}:"),
        ": skipped: cut short (the process was killed while writing it)".to_string(),
        "lockgraph-watchdog-junk-7.jsonl:1: skipped: not text (bytes that are not UTF-8, from column 10)".to_string(),
        "lockgraph-watchdog-junk-7.jsonl:2: skipped: not JSON: expected ident at column 2".to_string(),
        "lockgraph-watchdog-junk-7.jsonl:3: skipped: not JSON: expected value at column 1".to_string(),
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
    assert_eq!(v["version"], 2);
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
            process_line(pid) + &progress_named("epoch", step),
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

/// More than 64 processes missing a marker: the JSON (version 2) names
/// the first 64 in `missing` and counts all of them in `missing_count`;
/// the text names the first few and says how many more.
#[test]
fn missing_names_at_most_64_processes_and_counts_all() {
    let d = tempdir();
    for pid in 100..170u64 {
        let marker = if pid == 100 { "step" } else { "epoch" };
        std::fs::write(
            d.path().join(format!("lockgraph-watchdog-h-{pid}.jsonl")),
            process_line(pid) + &progress_named(marker, 5),
        )
        .unwrap();
    }
    let o = run_in(d.path(), &["hang", "--format", "json", "."]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], 2);
    let marker = |name: &str| {
        v["progress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["marker"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"))
            .clone()
    };
    let step = marker("step");
    let missing: Vec<&str> = step["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(missing.len(), 64);
    assert_eq!(step["missing_count"], 69);
    let labels: Vec<String> = (101..165).map(|pid| format!("pid {pid}")).collect();
    assert_eq!(missing, labels);
    // Under the cap, the list is whole.
    let epoch = marker("epoch");
    assert_eq!(epoch["missing"], serde_json::json!(["pid 100"]));
    assert_eq!(epoch["missing_count"], 1);
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("no `step` marker from: pid 101, pid 102, "),
        "{out}"
    );
    assert!(out.contains(", pid 108 and 61 more\n"), "{out}");
}

// The bounds on what `hang` reads and keeps (`lockgraph_cli::hang::Limits`):
// each limit reached is named with its file (and line), the rest is read.

fn process_line(pid: u64) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"process\",\"pid\":{pid},\"host\":\"h\",\"rank\":null,\"exe\":\"/bin/x\",\"args\":[],\"at_unix_ms\":1}}\n"
    )
}

fn progress_line(value: u64) -> String {
    progress_named("step", value)
}

fn progress_named(name: &str, value: u64) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"name\":\"{name}\",\"value\":{value},\"at_unix_ms\":2}}\n"
    )
}

/// A thread of a report or dump, waiting on Mutex `m` at `src/a.rs:1`.
fn waiting_thread(tid: u64) -> String {
    format!(
        "{{\"name\":\"w{tid}\",\"tid\":{tid},\"waiting\":{{\"lock\":{{\"label\":\"Mutex `m`\",\"resource\":false}},\"request\":\"exclusive\",\"site\":\"src/a.rs:1:5\",\"stack\":[\"f (/src/a.rs:1)\"]}},\"held\":[]}}"
    )
}

fn report_line(kind: &str, pid: u64, n: u64) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"{kind}\",\"pid\":{pid},\"summary\":\"lockgraph watchdog: LONG WAIT: thread `w1` has waited {n}s for Mutex `m`\",\"advice\":\"what to do: follow the wait of the thread that holds Mutex `m`\",\"reported_at_unix_ms\":{n},\"cycle\":{},\"threads\":[{}]}}\n",
        if kind == "deadlock" { "\"thread `w1` -> Mutex `m` -> thread `w1`\"" } else { "null" },
        waiting_thread(1)
    )
}

fn dump_line(pid: u64, tids: std::ops::Range<u64>) -> String {
    let threads: Vec<String> = tids.map(waiting_thread).collect();
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"dump\",\"pid\":{pid},\"at_unix_ms\":3,\"progress\":[],\"threads\":[{}]}}\n",
        threads.join(",")
    )
}

fn watchdog_file(dir: &Path, pid: u64) -> std::path::PathBuf {
    dir.join(format!("lockgraph-watchdog-h-{pid}.jsonl"))
}

/// The entries of `skipped` (JSON) for the file of `pid`.
fn skipped_of(v: &Value, pid: u64) -> Vec<Value> {
    let name = format!("lockgraph-watchdog-h-{pid}.jsonl");
    v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["file"].as_str().unwrap().ends_with(&name))
        .cloned()
        .collect()
}

#[test]
fn a_line_over_64_mib_is_named_and_the_rest_of_its_file_is_read() {
    let d = tempdir();
    let dir = d.path();
    let long = "x".repeat(64 << 20);
    // A valid record, one byte too long, between two usable lines.
    let mut a = process_line(21) + &report_line("long_wait", 21, 5);
    a.push_str("{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"name\":\"");
    a.push_str(&long[..(64 << 20) - 51]);
    a.push_str("\",\"value\":1}\n");
    a.push_str(&progress_line(7));
    std::fs::write(watchdog_file(dir, 21), &a).unwrap();
    // A giant last line without its newline (a process killed while
    // writing it).
    let mut b = process_line(22);
    b.push_str("{\"lockgraph_watchdog\":1,\"kind\":\"dump\",\"text\":\"");
    b.push_str(&long);
    std::fs::write(watchdog_file(dir, 22), &b).unwrap();

    let o = run_in(dir, &["hang", "--format", "json", "."]);
    assert_code(&o, 1);
    let err = stderr(&o);
    for needle in [
        "lockgraph-watchdog-h-21.jsonl:3: skipped: a line of 64.0 MiB, over the 64 MiB limit for one line",
        "lockgraph-watchdog-h-22.jsonl:2: skipped: a line of 64.0 MiB, over the 64 MiB limit for one line",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    }
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["summary"],
        "lockgraph hang: 2 processes: 0 report a deadlock, 1 reports long waits; a limit on what is read or kept reached in 2 files (see skipped)"
    );
    for (pid, line) in [(21, 3), (22, 2)] {
        let s = skipped_of(&v, pid);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0]["line"], line);
        assert_eq!(s[0]["limit"], "line_bytes");
    }
    // The line after the long one counts.
    let p21 = &v["processes"][0];
    assert_eq!(p21["pid"], 21);
    assert_eq!(p21["progress"]["step"], 7);
    assert_eq!(p21["long_waits"], 1);
}

#[test]
fn a_short_line_too_costly_to_parse_is_named_not_parsed() {
    let d = tempdir();
    let dir = d.path();
    // 4.5 MiB of one-entry objects: about 300 MiB once parsed.
    let tasks: Vec<&str> = std::iter::repeat_n("{\"k\":0}", 450_000).collect();
    let mut a = process_line(31);
    a.push_str(&format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"dump\",\"pid\":31,\"at_unix_ms\":2,\"progress\":[],\"threads\":[],\"tasks\":[{}]}}\n",
        tasks.join(",")
    ));
    a.push_str(&progress_line(9));
    std::fs::write(watchdog_file(dir, 31), &a).unwrap();

    let o = run_in(dir, &["hang", "--format", "json", "."]);
    assert_code(&o, 0);
    let err = stderr(&o);
    let needle = "lockgraph-watchdog-h-31.jsonl:2: skipped: a line that would take about ";
    assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    assert!(
        err.contains("(up to 900010 JSON values, 450001 of them objects), over the 256 MiB limit for parsing one line"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = skipped_of(&v, 31);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["line"], 2);
    assert_eq!(s[0]["limit"], "parse_bytes");
    assert_eq!(v["processes"][0]["dumps"], 0);
    assert_eq!(v["processes"][0]["progress"]["step"], 9);
}

/// `hang` of `dir` within `limits`.
fn analyse(dir: &Path, limits: &lockgraph_cli::hang::Limits) -> lockgraph_cli::hang::HangReport {
    lockgraph_cli::hang::analyse_with(&[dir.to_path_buf()], limits).unwrap()
}

fn skipped_for(
    r: &lockgraph_cli::hang::HangReport,
    pid: u64,
) -> Vec<&lockgraph_cli::hang::Skipped> {
    let name = format!("lockgraph-watchdog-h-{pid}.jsonl");
    r.skipped
        .iter()
        .filter(|s| s.file.file_name().unwrap().to_string_lossy() == name)
        .collect()
}

/// A file over the file limit: its first half of the limit and its last
/// half are read, the lines between counted and skipped, and said so.
#[test]
fn a_file_over_the_file_limit_is_read_at_both_ends_and_said() {
    let d = tempdir();
    let dir = d.path();
    let mut text = process_line(41);
    for step in 0..200 {
        text.push_str(&progress_line(step));
    }
    std::fs::write(watchdog_file(dir, 41), &text).unwrap();
    let small = process_line(42) + &progress_line(3);
    std::fs::write(watchdog_file(dir, 42), &small).unwrap();

    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.file_bytes = 4096;
    // The whole lines within the first 2048 bytes.
    let head_lines = text[..2048].matches('\n').count();
    let total_lines = text.matches('\n').count();

    let r = analyse(dir, &limits);
    assert_eq!(r.processes.len(), 2);
    assert_eq!(r.processes[0].pid, 41);
    // The latest marker: the last line, read.
    assert_eq!(r.processes[0].progress["step"], 199);
    assert_eq!(r.processes[1].progress["step"], 3);
    let s = skipped_for(&r, 41);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].line, None);
    assert_eq!(s[0].limit, Some("file_bytes"));
    let why = &s[0].why;
    assert!(
        why.contains("over the 4 KiB limit for one file: its first "),
        "{why}"
    );
    assert!(
        why.contains(&format!("(lines 1 to {head_lines}) and its last ")),
        "{why}"
    );
    assert!(
        why.contains(&format!(" to {total_lines}) read, the ")),
        "{why}"
    );
    assert!(
        why.contains(&format!("(lines {} to ", head_lines + 1)),
        "{why}"
    );
    assert!(skipped_for(&r, 42).is_empty());
    assert!(
        r.summary
            .ends_with("; a limit on what is read or kept reached in 1 file (see skipped)"),
        "{}",
        r.summary
    );
}

/// A process that ran long before it hung: days of progress markers, then
/// its deadlock report, at the end of a file over the limit. The report is
/// read and the verdict is the deadlock (found by an outside test: the
/// head was read, and the report skipped).
#[test]
fn a_deadlock_report_at_the_end_of_a_file_over_the_limit_is_read() {
    let d = tempdir();
    let dir = d.path();
    let mut text = process_line(43);
    for step in 0..500 {
        text.push_str(&progress_line(step));
    }
    text.push_str(&report_line("deadlock", 43, 7));
    std::fs::write(watchdog_file(dir, 43), &text).unwrap();
    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.file_bytes = 4096;
    let r = analyse(dir, &limits);
    assert_eq!(r.exit_code(), 1, "{}", r.summary);
    assert!(r.summary.contains("1 reports a deadlock"), "{}", r.summary);
    assert_eq!(r.processes[0].progress["step"], 499);
}

#[test]
fn what_one_file_keeps_is_bounded_counted_and_said() {
    let d = tempdir();
    let dir = d.path();
    // A process that repeated its long-wait report 1000 times, then was
    // dumped and reported a deadlock.
    let mut text = process_line(51);
    for n in 0..1000 {
        text.push_str(&report_line("long_wait", 51, n));
    }
    text.push_str(&dump_line(51, 100..103));
    text.push_str(&report_line("deadlock", 51, 2000));
    std::fs::write(watchdog_file(dir, 51), &text).unwrap();
    let other = process_line(52) + &report_line("long_wait", 52, 1);
    std::fs::write(watchdog_file(dir, 52), &other).unwrap();

    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.kept_per_file = 64 << 10;
    let r = analyse(dir, &limits);
    assert_eq!(r.exit_code(), 1);
    let p = &r.processes[0];
    assert_eq!(
        (p.pid, p.long_waits, p.deadlocks, p.dumps),
        (51, 1000, 1, 1)
    );
    let kept = r.long_waits.iter().filter(|w| w.pid == 51).count();
    assert!(kept > 10 && kept < 1000, "{kept} kept");
    // The deadlock and the dump's threads still fit: long waits fill half.
    assert_eq!(r.deadlocks.len(), 1);
    let dumped: Vec<u64> = r
        .groups
        .iter()
        .flat_map(|g| &g.members)
        .filter(|m| m.process == "pid 51")
        .map(|m| m.tid)
        .collect();
    // By tid: the deadlock report's thread, then the dump's.
    assert_eq!(dumped, vec![1, 100, 101, 102]);
    let s = skipped_for(&r, 51);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].limit, Some("kept_per_file"));
    assert_eq!(
        s[0].why,
        format!(
            "the 32 KiB that long-wait reports may keep of the 64 KiB limit on what one file may keep in memory reached: from line {} on, {} long-wait reports left out (the reports left out still count in the process's totals)",
            kept + 2,
            1000 - kept
        )
    );
    // The other file keeps all it has.
    assert!(skipped_for(&r, 52).is_empty());
    assert_eq!(r.long_waits.iter().filter(|w| w.pid == 52).count(), 1);
}

#[test]
fn once_all_files_keep_the_total_limit_the_others_are_read_and_counted() {
    let d = tempdir();
    let dir = d.path();
    for pid in 100..130 {
        let text = process_line(pid) + &dump_line(pid, pid * 10..pid * 10 + 10);
        std::fs::write(watchdog_file(dir, pid), text).unwrap();
    }
    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.kept_total = 16 << 10;
    let r = analyse(dir, &limits);
    // Every file is a process, each with its dump counted.
    assert_eq!(r.processes.len(), 30);
    assert!(r.processes.iter().all(|p| p.dumps == 1));
    let counted_only: Vec<u64> = (100..130)
        .filter(|&pid| {
            skipped_for(&r, pid).iter().any(|s| {
                s.why == "the 16 KiB limit on what all files together may keep in memory was reached before this file: only its process, its counts of deadlock and long-wait reports and what fits the 1 MiB reserve for deadlock reports and progress values are kept; 1 process record and 10 thread states left out (the threads left out are missing from the groups)"
                    && s.limit == Some("kept_total")
                    && s.line.is_none()
            })
        })
        .collect();
    assert!(
        counted_only.len() > 3 && counted_only.len() < 27,
        "{counted_only:?}"
    );
    assert_eq!(counted_only.last(), Some(&129));
    // The threads of the files kept share one group; a file read once the
    // limit was near says how many of its threads it left out; a file
    // only counted keeps none.
    assert_eq!(r.groups.len(), 1);
    for p in &r.processes {
        let kept = r.groups[0]
            .members
            .iter()
            .filter(|m| m.process == p.label)
            .count();
        let said: Vec<&str> = skipped_for(&r, p.pid)
            .iter()
            .map(|s| s.why.as_str())
            .collect();
        if counted_only.contains(&p.pid) {
            assert_eq!((kept, said.len()), (0, 1), "pid {}", p.pid);
        } else if kept == 10 {
            assert!(said.is_empty(), "{said:?}");
        } else {
            assert_eq!(
                said,
                vec![format!(
                    "the 16 KiB limit on what all files together may keep in memory reached: from line 2 on, {} thread state{} left out (the threads left out are missing from the groups)",
                    10 - kept,
                    if kept == 9 { "" } else { "s" }
                )],
                "pid {}",
                p.pid
            );
        }
    }
    // No file is skipped: the limit is said.
    assert!(!r.summary.contains("files skipped"), "{}", r.summary);
    assert!(
        r.summary.contains("(nothing hangs in these files)"),
        "{}",
        r.summary
    );
    assert_eq!(r.exit_code(), 0);
    let json: Value = serde_json::from_str(&r.to_json()).unwrap();
    let last = skipped_of(&json, 129);
    assert_eq!(last[0]["limit"], "kept_total");
}

/// A progress marker whose name is `len` bytes of `c`.
fn big_marker_line(pid: u64, c: char, len: usize) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"pid\":{pid},\"name\":\"{}\",\"value\":1,\"at_unix_ms\":2}}\n",
        c.to_string().repeat(len)
    )
}

#[test]
fn a_deadlock_in_a_file_read_once_nothing_is_left_to_keep_still_counts() {
    // Four files that keep all there is to keep (progress markers with
    // long names), then two processes that report: what hangs is counted,
    // the first deadlock report kept from the reserve.
    let d = tempdir();
    let dir = d.path();
    for pid in 1..=4 {
        let text = process_line(pid) + &big_marker_line(pid, 'a', 3000 + pid as usize);
        std::fs::write(watchdog_file(dir, pid), text).unwrap();
    }
    let mut text = process_line(5);
    for n in 0..3 {
        text.push_str(&report_line("long_wait", 5, n));
    }
    text.push_str(&report_line("deadlock", 5, 9));
    text.push_str(&progress_line(7));
    std::fs::write(watchdog_file(dir, 5), text).unwrap();
    let text = process_line(6) + &report_line("long_wait", 6, 1);
    std::fs::write(watchdog_file(dir, 6), text).unwrap();

    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.kept_total = 12 << 10;
    let r = analyse(dir, &limits);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(
        r.summary,
        "lockgraph hang: 6 processes: 1 reports a deadlock, 2 report long waits; a limit on what is read or kept reached in 2 files (see skipped)"
    );
    let p5 = r.processes.iter().find(|p| p.pid == 5).unwrap();
    assert_eq!((p5.deadlocks, p5.long_waits), (1, 3));
    // Its deadlock report and its marker, from the reserve; its long waits
    // counted only.
    assert_eq!(r.deadlocks.len(), 1);
    assert_eq!(
        r.deadlocks[0].cycle.as_deref(),
        Some("thread `w1` -> Mutex `m` -> thread `w1`")
    );
    assert_eq!(p5.progress["step"], 7);
    assert!(r.long_waits.is_empty());
    assert_eq!(
        r.processes.iter().find(|p| p.pid == 6).unwrap().long_waits,
        1
    );
    let s = skipped_for(&r, 5);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].limit, Some("kept_total"));
    assert!(
        s[0].why.ends_with("; 1 process record, 3 long-wait reports and 4 thread states left out (the reports left out still count in the process's totals; the threads left out are missing from the groups)"),
        "{}",
        s[0].why
    );
    assert!(
        r.start_here
            .as_deref()
            .unwrap()
            .starts_with("pid 5 deadlocked;"),
        "{:?}",
        r.start_here
    );
}

#[test]
fn every_bad_line_is_counted_and_a_used_file_is_not_said_skipped() {
    let d = tempdir();
    let mut text = process_line(61);
    for i in 0..5 {
        text.push_str(&format!("garbage {i}\n"));
    }
    text.push_str(&progress_line(4));
    std::fs::write(watchdog_file(d.path(), 61), text).unwrap();
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with("lockgraph hang: 1 process: 0 report a deadlock, 0 report long waits (nothing hangs in these files); 5 bad lines skipped\n"),
        "{out}"
    );
    let err = stderr(&o);
    assert!(
        err.contains("lockgraph-watchdog-h-61.jsonl: skipped: 2 more bad lines skipped"),
        "{err}"
    );
}

// What parsing a line takes, counted: this test binary's allocator is the
// system's, counting (on the threads that ask it to) what is held at once,
// each allocation as glibc's chunk for it (the request, its 8-byte header,
// rounded up to 16, at least 32).
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static HELD: Cell<i64> = const { Cell::new(0) };
        static PEAK: Cell<i64> = const { Cell::new(0) };
    }

    fn chunk(size: usize) -> i64 {
        ((size as i64 + 8 + 15) & !15).max(32)
    }

    fn count(by: i64) {
        let _ = ON.try_with(|on| {
            if on.get() {
                let held = HELD.get() + by;
                HELD.set(held);
                PEAK.set(PEAK.get().max(held));
            }
        });
    }

    // SAFETY: every call goes to the system allocator with the caller's
    // arguments; counting touches only this thread's cells.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                count(chunk(layout.size()));
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as `alloc`.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                count(chunk(layout.size()));
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            // SAFETY: `p` came from `System` with `layout` (every allocation
            // of this binary does).
            unsafe { System.dealloc(p, layout) };
            count(-chunk(layout.size()));
        }
        unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
            // SAFETY: as `dealloc`, with the caller's new size.
            let q = unsafe { System.realloc(p, layout, new) };
            if !q.is_null() {
                count(chunk(new) - chunk(layout.size()));
            }
            q
        }
    }

    /// The most `f` held at once (bytes), beyond what it started with.
    pub fn peak<T>(f: impl FnOnce() -> T) -> (T, u64) {
        HELD.set(0);
        PEAK.set(0);
        ON.set(true);
        let out = f();
        ON.set(false);
        (out, PEAK.get() as u64)
    }
}

#[global_allocator]
static COUNTING: counting::Counting = counting::Counting;

/// A dump record whose `x` is `shape`.
fn dump_with(pid: u64, shape: &str) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"dump\",\"pid\":{pid},\"at_unix_ms\":3,\"progress\":[],\"threads\":[],\"x\":{shape}}}\n"
    )
}

/// A dump as the runtime writes it: `threads` waiting threads, each with a
/// 48-frame stack where it waits and 48 frames of its stack now (frames
/// padded to `frame_bytes`).
fn real_dump(pid: u64, threads: u64, frame_bytes: usize) -> String {
    let frames = |t: u64| -> String {
        let v: Vec<String> = (0..48)
            .map(|i| {
                let f = format!(
                    "tokio::runtime::task::Harness::poll::h{t:06} (/src/tokio/harness.rs:{i})"
                );
                format!("\"{f:x<frame_bytes$}\"")
            })
            .collect();
        v.join(",")
    };
    let lock = |i: u64| {
        format!(
            "{{\"label\":\"Mutex `queue_{i}`\",\"kind\":\"Mutex\",\"id\":{i},\"name\":\"queue_{i}\",\"created\":\"src/loader.rs:{i}:13\",\"resource\":false}}"
        )
    };
    let threads: Vec<String> = (0..threads)
        .map(|t| {
            format!(
                "{{\"name\":\"worker-{t}\",\"tid\":{},\"spans\":[],\"waiting\":{{\"lock\":{},\"request\":\"exclusive\",\"limit_ms\":null,\"site\":\"src/loader.rs:88:13\",\"waited_ms\":12345,\"stack\":[{}],\"queue\":null,\"no_consumer\":false,\"blocked_peers\":[],\"notes\":[]}},\"held\":[{{\"lock\":{},\"hold\":\"exclusive\",\"site\":\"src/a.rs:1:1\",\"held_ms\":10}}],\"now\":{{\"description\":\"blocked in a futex wait\",\"syscall_name\":\"futex\",\"state\":\"S\",\"wchan\":\"futex_wait_queue\",\"syscall\":null}},\"stack_now\":{{\"source\":\"stack\",\"frames\":[{}],\"truncated\":false}}}}",
                1000 + t,
                lock(t),
                frames(t),
                lock(t + 1),
                frames(t)
            )
        })
        .collect();
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"dump\",\"pid\":{pid},\"at_unix_ms\":3,\"watching\":{n},\"progress\":[],\"threads\":[{}],\"tasks\":[],\"text\":\"(the dump as text)\"}}\n",
        threads.join(","),
        n = threads.len()
    )
}

#[test]
fn a_line_parsed_takes_at_most_the_parse_limit_and_a_fifth() {
    // Shapes whose parse the estimate once undercounted (many small keys
    // about 2.3 times, one-element arrays 1.8 times), and others.
    let keys: Vec<String> = (0..100_000).map(|i| format!("\"k{i:07}\":0")).collect();
    let keys = format!("{{{}}}", keys.join(","));
    let ones = format!("[{}]", vec!["[0]"; 100_000].join(","));
    let objects = format!("[{}]", vec!["{\"k\":0}"; 100_000].join(","));
    let strings = format!("[{}]", vec!["\"a\""; 200_000].join(","));
    let numbers = format!("[{}]", vec!["7"; 300_000].join(","));
    let dump = real_dump(71, 200, 105);
    let lines = [
        ("many small keys", dump_with(71, &keys)),
        ("one-element arrays", dump_with(71, &ones)),
        ("one-key objects", dump_with(71, &objects)),
        ("short strings", dump_with(71, &strings)),
        ("numbers", dump_with(71, &numbers)),
        ("a real dump", dump),
    ];
    for (what, line) in lines {
        let (parsed, took) = counting::peak(|| serde_json::from_str::<Value>(&line).is_ok());
        assert!(parsed, "{what}");
        let d = tempdir();
        std::fs::write(watchdog_file(d.path(), 71), process_line(71) + &line).unwrap();
        let mut limits = lockgraph_cli::hang::Limits::default();
        // A limit that parsing it would pass by more than a fifth: refused.
        limits.parse_bytes = took * 5 / 6 - 1;
        let r = analyse(d.path(), &limits);
        let s = skipped_for(&r, 71);
        assert_eq!(
            (r.processes[0].dumps, s.len()),
            (0, 1),
            "{what}: {took} bytes parsed, accepted under a limit of {}",
            limits.parse_bytes
        );
        assert_eq!((s[0].line, s[0].limit), (Some(2), Some("parse_bytes")));
        // A dump as the runtime writes it is estimated at less than twice
        // what it takes.
        if what == "a real dump" {
            limits.parse_bytes = took * 2;
            let r = analyse(d.path(), &limits);
            assert_eq!(r.processes[0].dumps, 1, "{what}: {took} bytes parsed");
        }
    }
}

#[test]
fn a_dump_of_5447_threads_with_48_frame_stacks_is_parsed_within_the_default_limits() {
    // About 60 MiB on one line.
    let d = tempdir();
    let line = real_dump(72, 5447, 105);
    assert!(
        line.len() > 55 << 20 && line.len() < 64 << 20,
        "{}",
        line.len()
    );
    std::fs::write(watchdog_file(d.path(), 72), process_line(72) + &line).unwrap();
    let r = analyse(d.path(), &lockgraph_cli::hang::Limits::default());
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(r.processes[0].dumps, 1);
    assert_eq!(r.groups.len(), 5447);
}

/// A report of `kind` whose threads make it `threads` waiting threads long.
fn long_report_line(kind: &str, pid: u64, threads: u64) -> String {
    let short = report_line(kind, pid, 1);
    let many: Vec<String> = (1..=threads).map(waiting_thread).collect();
    short.replacen(&waiting_thread(1), &many.join(","), 1)
}

#[test]
fn a_report_on_a_line_skipped_for_a_limit_counts_from_its_first_bytes() {
    let d = tempdir();
    let dir = d.path();
    // A deadlock report over the line limit, after the process line; a
    // file whose only record is a long-wait report over it.
    let deadlock = long_report_line("deadlock", 81, 200);
    assert!(deadlock.len() > 20 << 10);
    std::fs::write(
        watchdog_file(dir, 81),
        process_line(81) + &deadlock + &progress_line(3),
    )
    .unwrap();
    std::fs::write(
        watchdog_file(dir, 82),
        long_report_line("long_wait", 82, 200),
    )
    .unwrap();

    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.line_bytes = 16 << 10;
    let r = analyse(dir, &limits);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(
        r.summary,
        "lockgraph hang: 2 processes: 1 reports a deadlock, 1 reports long waits; a limit on what is read or kept reached in 2 files (see skipped)"
    );
    assert!(!r.incomplete);
    let p81 = &r.processes[0];
    assert_eq!((p81.pid, p81.deadlocks, p81.progress["step"]), (81, 1, 3));
    // What the report says before its threads is kept.
    assert_eq!(
        r.deadlocks[0].cycle.as_deref(),
        Some("thread `w1` -> Mutex `m` -> thread `w1`")
    );
    assert_eq!(
        r.deadlocks[0].advice.as_deref(),
        Some("what to do: follow the wait of the thread that holds Mutex `m`")
    );
    assert_eq!((r.processes[1].pid, r.processes[1].long_waits), (82, 1));
    // Its threads are not read.
    assert!(r.groups.is_empty());
    let s = skipped_for(&r, 81);
    assert_eq!(
        (s.len(), s[0].line, s[0].limit),
        (1, Some(2), Some("line_bytes"))
    );
    assert_eq!(
        s[0].why,
        format!(
            "a line of {:.1} KiB, over the 16 KiB limit for one line; its start shows a deadlock report: counted in its process's totals, its threads not read",
            (deadlock.len() - 1) as f64 / 1024.0
        )
    );
    let s = skipped_for(&r, 82);
    assert!(s[0].why.ends_with("; its start shows a long-wait report: counted in its process's totals, its threads not read"), "{}", s[0].why);

    // The same report too costly to parse.
    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.parse_bytes = 64 << 10;
    let r = analyse(dir, &limits);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(r.processes[0].deadlocks, 1);
    let s = skipped_for(&r, 81);
    assert_eq!((s[0].line, s[0].limit), (Some(2), Some("parse_bytes")));
    assert!(
        s[0].why.ends_with("over the 64 KiB limit for parsing one line; its start shows a deadlock report: counted in its process's totals, its threads not read"),
        "{}",
        s[0].why
    );
}

#[test]
fn what_may_hold_a_report_and_was_not_read_leaves_the_verdict_unknown() {
    let d = tempdir();
    let dir = d.path();
    // A record whose kind comes after a field longer than the first bytes
    // read of a line over the limit.
    let mut hidden = String::from("{\"lockgraph_watchdog\":1,\"text\":\"");
    hidden.push_str(&"x".repeat(100 << 10));
    hidden.push_str("\",\"kind\":\"deadlock\",\"pid\":91}\n");
    std::fs::write(watchdog_file(dir, 91), process_line(91) + &hidden).unwrap();
    std::fs::write(watchdog_file(dir, 92), process_line(92) + &progress_line(1)).unwrap();
    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.line_bytes = 80 << 10;
    let r = analyse(dir, &limits);
    assert!(r.incomplete);
    assert_eq!(r.exit_code(), 2);
    assert_eq!(
        r.summary,
        "lockgraph hang: 2 processes: 0 report a deadlock, 0 report long waits (nothing hangs in what was read, but some input that may hold a report was not read: the verdict may be incomplete); a limit on what is read or kept reached in 1 file (see skipped)"
    );
    let s = skipped_for(&r, 91);
    assert_eq!((s[0].line, s[0].limit), (Some(2), Some("line_bytes")));
    assert!(
        s[0].why.ends_with("; its first 64 KiB do not say which record it is: it may be a deadlock or long-wait report, not counted"),
        "{}",
        s[0].why
    );
    let json: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["incomplete"], true);

    // Lines over the limit that are not records do not.
    let other = format!("{}\n", "z".repeat(100 << 10));
    std::fs::write(watchdog_file(dir, 91), process_line(91) + &other).unwrap();
    let r = analyse(dir, &limits);
    assert!(!r.incomplete);
    assert_eq!(r.exit_code(), 0);
    let s = skipped_for(&r, 91);
    assert!(
        s[0].why
            .ends_with("; from its start, not a lockgraph watchdog record (not a JSON object)"),
        "{}",
        s[0].why
    );

    // A record of another version, long or not, may be a report this
    // lockgraph cannot read: it does.
    let other = format!(
        "{{\"lockgraph_watchdog\":2,\"kind\":\"deadlock\",\"text\":\"{}\"}}\n",
        "y".repeat(100 << 10),
    );
    std::fs::write(watchdog_file(dir, 91), process_line(91) + &other).unwrap();
    let r = analyse(dir, &limits);
    assert!(r.incomplete);
    assert_eq!(r.exit_code(), 2);
    let s = skipped_for(&r, 91);
    assert!(
        s[0].why.contains(
            "; from its start, a watchdog record of an unknown version (2), of kind \"deadlock\", \
             not read: this lockgraph reads version 1, and the record may be a deadlock or \
             long-wait report (the verdict may be incomplete"
        ),
        "{}",
        s[0].why
    );

    // Nor does the rest of a file past the file limit once a report was
    // read; before one, it does.
    let mut text = process_line(93) + &report_line("long_wait", 93, 1);
    for step in 0..100 {
        text.push_str(&progress_line(step));
    }
    std::fs::write(watchdog_file(dir, 93), &text).unwrap();
    let mut limits = lockgraph_cli::hang::Limits::default();
    limits.file_bytes = 2048;
    let r = analyse(dir, &limits);
    assert!(r.incomplete);
    assert_eq!(r.exit_code(), 1);
    std::fs::remove_file(watchdog_file(dir, 93)).unwrap();
    let mut text = process_line(94);
    for step in 0..100 {
        text.push_str(&progress_line(step));
    }
    std::fs::write(watchdog_file(dir, 94), &text).unwrap();
    let r = analyse(dir, &limits);
    assert_eq!(r.exit_code(), 2);
    assert!(
        r.summary.contains("(nothing hangs in what was read, but some input that may hold a report was not read: the verdict may be incomplete)"),
        "{}",
        r.summary
    );
}

#[test]
fn hang_exits_2_when_a_line_over_64_mib_may_hide_a_report() {
    let d = tempdir();
    let dir = d.path();
    let mut text = process_line(95);
    text.push_str("{\"lockgraph_watchdog\":1,\"text\":\"");
    text.push_str(&"x".repeat(64 << 20));
    text.push_str("\",\"kind\":\"deadlock\"}\n");
    std::fs::write(watchdog_file(dir, 95), &text).unwrap();
    let o = run_in(dir, &["hang", "--format", "json", "."]);
    assert_code(&o, 2);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["incomplete"], true);
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("the verdict may be incomplete"),
        "{}",
        v["summary"]
    );
    let err = stderr(&o);
    assert!(
        err.contains("lockgraph-watchdog-h-95.jsonl:2: skipped: a line of 64.0 MiB, over the 64 MiB limit for one line; its first 64 KiB do not say which record it is: it may be a deadlock or long-wait report, not counted"),
        "{err}"
    );
    // Without it, nothing hangs, and the JSON has no `incomplete`.
    std::fs::write(watchdog_file(dir, 95), process_line(95)).unwrap();
    let o = run_in(dir, &["hang", "--format", "json", "."]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.get("incomplete").is_none(), "{v}");
}

/// The line a killed process was writing is the likeliest place for its
/// last report: cut short, it still counts when its start says it is a
/// deadlock report; a watchdog file that cannot be read at all may hold a
/// report, so "nothing hangs" in the rest is not a verdict (exit 2).
#[test]
fn a_cut_report_counts_and_an_unreadable_file_leaves_the_verdict_open() {
    let d = tempdir();
    let dir = d.path();
    let line = report_line("deadlock", 5, 9);
    let cut = &line[..line.find("\"threads\"").unwrap() + 12];
    std::fs::write(watchdog_file(dir, 5), format!("{}{cut}", process_line(5))).unwrap();
    let o = run_in(dir, &["hang", "."]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).starts_with("lockgraph hang: 1 process: 1 reports a deadlock"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(
            ":2: skipped: cut short (the process was killed while writing it); its start shows a deadlock report: counted"
        ),
        "{}",
        stderr(&o)
    );
    // Nothing hangs in what is read; the other file cannot be read.
    let e = tempdir();
    std::fs::write(watchdog_file(e.path(), 6), process_line(6)).unwrap();
    std::os::unix::fs::symlink("/nonexistent", watchdog_file(e.path(), 7)).unwrap();
    let o = run_in(e.path(), &["hang", "."]);
    assert_code(&o, 2);
    assert!(
        stdout(&o).contains(
            "(nothing hangs in what was read, but some input that may hold a report was not read: the verdict may be incomplete)"
        ),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("lockgraph-watchdog-h-7.jsonl: skipped: cannot read it: no such file"),
        "{}",
        stderr(&o)
    );
}

/// A record of an unknown version, above all one whose kind says
/// `deadlock`, may be a report this lockgraph cannot read: not "nothing
/// hangs" and 0 (a mixed-version job read as all clear), but "the verdict
/// may be incomplete" and 2 (docs/watchdog.md), with the file and line.
#[test]
fn a_record_of_an_unknown_version_leaves_the_verdict_incomplete() {
    let d = tempdir();
    let dir = d.path();
    std::fs::write(watchdog_file(dir, 1), process_line(1) + &progress_line(5)).unwrap();
    let newer = process_line(2).replace("\"lockgraph_watchdog\":1", "\"lockgraph_watchdog\":2")
        + &report_line("deadlock", 2, 1)
            .replace("\"lockgraph_watchdog\":1", "\"lockgraph_watchdog\":2");
    std::fs::write(watchdog_file(dir, 2), newer).unwrap();
    // And one line of version 2 in a file of version 1.
    let mixed = process_line(3)
        + &report_line("deadlock", 3, 1)
            .replace("\"lockgraph_watchdog\":1", "\"lockgraph_watchdog\":2");
    std::fs::write(watchdog_file(dir, 3), mixed).unwrap();
    let o = run_in(dir, &["hang", "."]);
    assert_code(&o, 2);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(
        out.contains("(nothing hangs in what was read, but some input that may hold a report was not read: the verdict may be incomplete)"),
        "{out}"
    );
    for needle in [
        "lockgraph-watchdog-h-2.jsonl:2: skipped: a watchdog record of an unknown version (2), of kind \"deadlock\", not read",
        "lockgraph-watchdog-h-3.jsonl:2: skipped: a watchdog record of an unknown version (2), of kind \"deadlock\", not read",
    ] {
        assert!(err.contains(needle), "no {needle:?} in\n{err}");
    }
    let o = run_in(dir, &["hang", "--format", "json", "."]);
    assert_code(&o, 2);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["incomplete"], true);
    // Without the file of version 2 and the line, nothing hangs.
    std::fs::remove_file(watchdog_file(dir, 2)).unwrap();
    std::fs::write(watchdog_file(dir, 3), process_line(3)).unwrap();
    assert_code(&run_in(dir, &["hang", "."]), 0);
}

/// A thread entry whose `tid` or `name` has another type is left out
/// with a note naming it (it was dropped without a word), and the rest of
/// its line is read.
#[test]
fn a_mistyped_thread_entry_is_named_and_the_rest_read() {
    let d = tempdir();
    std::fs::write(
        d.path().join("lockgraph-watchdog-h-77.jsonl"),
        concat!(
            r#"{"lockgraph_watchdog":1,"kind":"dump","pid":77,"host":"h","at_unix_ms":1,"#,
            r#""threads":[{"tid":"12","name":"x"},{"tid":13,"name":"y","held":[],"waiting":null}],"text":"dump"}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("pid 77 thread `y`"), "{out}");
    assert!(
        out.contains(
            "lockgraph-watchdog-h-77.jsonl:1: threads[0] left out: its `tid` is \"12\", not a thread id"
        ),
        "{out}"
    );
}

/// A deadlock report's `also_deadlocked` threads (a second permit holder
/// stuck on the cycle's lock) are read as its `threads` are: they show in
/// the groups.
#[test]
fn a_deadlock_report_s_also_deadlocked_threads_are_read() {
    let d = tempdir();
    std::fs::write(
        d.path().join("lockgraph-watchdog-h-78.jsonl"),
        concat!(
            r#"{"lockgraph_watchdog":1,"kind":"deadlock","pid":78,"summary":"lockgraph watchdog: DEADLOCK: 3 threads","advice":"what to do","cycle":"a -> b -> a","#,
            r#""threads":[{"tid":12,"name":"infer-1","held":[],"waiting":null},{"tid":13,"name":"reloader","held":[],"waiting":null}],"#,
            r#""also_deadlocked":[{"tid":14,"name":"infer-0","held":[],"waiting":null}],"text":"report"}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = run_in(d.path(), &["hang", "."]);
    let out = stdout(&o);
    for t in ["infer-1", "reloader", "infer-0"] {
        assert!(
            out.contains(&format!("pid 78 thread `{t}`")),
            "{t} missing:\n{out}"
        );
    }
}

/// A dump line whose verdict (`deadlocks`) names the cycle `a -> b -> a`
/// of threads `w1` and `w2`, started at `first`.
fn dump_with_deadlock(pid: u64, first: &str) -> String {
    let cycle = if first == "w1" {
        "thread `w1` -> Mutex `m` -> thread `w2` -> Mutex `n` -> thread `w1`"
    } else {
        "thread `w2` -> Mutex `n` -> thread `w1` -> Mutex `m` -> thread `w2`"
    };
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"dump\",\"pid\":{pid},\"at_unix_ms\":3,\"progress\":[],\"threads\":[{}],\"deadlocks\":[{{\"cycle\":\"{cycle}\",\"threads\":2,\"timed\":false,\"advice\":\"what to do: adopt one lock order\"}}]}}\n",
        waiting_thread(1)
    )
}

/// A dump answers at the watchdog's next scan, its deadlock report only
/// after a second: a process dumped and then killed leaves a dump whose
/// verdict says DEADLOCK and no report. That is a deadlock (exit 1), said
/// to be seen only in a dump (it read "nothing hangs", exit 0; found by an
/// outside test); a report of the same cycle, started at another thread,
/// makes it one deadlock, not two.
#[test]
fn a_deadlock_only_a_dump_names_is_a_deadlock() {
    let d = tempdir();
    let dir = d.path();
    std::fs::write(
        watchdog_file(dir, 1),
        process_line(1) + &dump_with_deadlock(1, "w1") + &dump_with_deadlock(1, "w2"),
    )
    .unwrap();
    let o = run_in(dir, &["hang", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.starts_with("lockgraph hang: 1 process: 1 reports a deadlock, 0 report long waits\n"),
        "{out}"
    );
    assert!(
        out.contains("\ndeadlocks:\n  pid 1: thread `w1` -> Mutex `m` -> thread `w2`")
            && out.contains(
                "    seen only in a dump: the process ended before the watchdog's report of it\n"
            ),
        "{out}"
    );
    let v: Value =
        serde_json::from_slice(&run_in(dir, &["hang", "--format", "json", "."]).stdout).unwrap();
    assert_eq!(v["deadlocks"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["deadlocks"][0]["from_dump"], true);
    assert_eq!(v["processes"][0]["deadlocks"], 1);
    // With its report (the same cycle from the other thread): one deadlock,
    // the report's.
    let report = report_line("deadlock", 1, 1).replace(
        "\"thread `w1` -> Mutex `m` -> thread `w1`\"",
        "\"thread `w2` -> Mutex `n` -> thread `w1` -> Mutex `m` -> thread `w2`\"",
    );
    std::fs::write(
        watchdog_file(dir, 1),
        process_line(1) + &dump_with_deadlock(1, "w1") + &report,
    )
    .unwrap();
    let v: Value =
        serde_json::from_slice(&run_in(dir, &["hang", "--format", "json", "."]).stdout).unwrap();
    assert_eq!(v["deadlocks"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["deadlocks"][0].get("from_dump").is_none(), "{v}");
    assert_eq!(v["processes"][0]["deadlocks"], 1);
}

/// A record of this version with a kind this lockgraph does not know (a
/// newer runtime's) may be a report: named and skipped, and the verdict
/// "may be incomplete" (exit 2), as for a record of an unknown version (it
/// was dropped without a word, and "nothing hangs").
#[test]
fn a_record_of_an_unknown_kind_is_named_and_leaves_the_verdict_open() {
    let d = tempdir();
    let dir = d.path();
    std::fs::write(
        watchdog_file(dir, 1),
        process_line(1) + &report_line("deadlock2", 1, 1),
    )
    .unwrap();
    let o = run_in(dir, &["hang", "."]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(
            "lockgraph-watchdog-h-1.jsonl:2: skipped: a watchdog record of an unknown kind, \"deadlock2\""
        ),
        "{}",
        stderr(&o)
    );
}
