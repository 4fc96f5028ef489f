//! `LOCKGRAPH_RECORD`: per-process record files, crash-safe (docs/record-format.md).
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::path::{Path, PathBuf};
use std::time::Duration;

use lockgraph::{Mutex, RwLock};
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
        lines[0].starts_with("{\"lockgraph_record\":4,\"pid\":"),
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
    // The abort waited for the record's thread: every stack named is there.
    for e in &edges {
        if let Some(key) = e
            .split("\"stack\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("{\"type\":\"stack\"") && l.contains(key)),
                "no stack line for {key}: {lines:#?}"
            );
        }
    }
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
    let edges = lines
        .iter()
        .filter(|l| l.contains("\"type\":\"edge\""))
        .count();
    assert_eq!(edges, 49, "{lines:#?}");
    // The header, the edges, and the stack lines written before the kill.
    let stacks = lines
        .iter()
        .filter(|l| l.starts_with("{\"type\":\"stack\""))
        .count();
    assert_eq!(lines.len(), 1 + edges + stacks, "{lines:#?}");
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

#[test]
fn child_records_one_edge_then_exits() {
    if !is_child() {
        return;
    }
    let a = Mutex::named("rec-stack-a", ());
    let b = Mutex::named("rec-stack-b", ());
    let _a = a.lock();
    let _b = b.lock();
}

#[test]
fn an_edge_line_is_written_at_once_with_its_raw_stack() {
    let dir = fresh_dir("stack");
    let out = recording(child!(child_records_one_edge_then_exits), &dir, "warn")
        .env("LOCKGRAPH_BACKTRACE", "1")
        .run();
    assert!(out.success(), "{}", out.both());
    let lines = lines(&dir);
    let edge = lines
        .iter()
        .find(|l| l.contains("\"type\":\"edge\""))
        .unwrap_or_else(|| panic!("no edge line: {lines:#?}"));
    // The edge line names its stack instead of holding it ...
    assert!(edge.contains("\"backtrace\":[]"), "{edge}");
    let key = edge
        .split("\"stack\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no stack key: {edge}"));
    let stacks: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("{\"type\":\"stack\",\"stack\":") && l.contains(key))
        .collect();
    if cfg!(target_os = "linux") {
        // ... whose raw line, written with it, gives the addresses in this
        // test binary for the check to resolve (the process waits for no
        // resolution at exit); the record's thread may have appended the
        // resolved line too.
        let exe = std::env::current_exe().unwrap();
        let raw = stacks
            .iter()
            .find(|l| l.contains("\"raw\":[["))
            .unwrap_or_else(|| panic!("no raw stack line for {key}: {lines:#?}"));
        assert!(
            raw.contains(&format!("\"modules\":[{{\"path\":\"{}\",", exe.display())),
            "{raw}"
        );
        assert!(stacks.len() <= 2, "{stacks:#?}");
    } else {
        // ... which the record's thread resolved before the process exited.
        assert_eq!(stacks.len(), 1, "{lines:#?}");
        if cfg!(debug_assertions) {
            assert!(
                stacks[0].contains("child_records_one_edge_then_exits"),
                "{}",
                stacks[0]
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Times this process's first new edge (fresh classes, stacks on), in
/// microseconds, on stdout.
#[test]
fn child_times_its_first_edge() {
    if !is_child() {
        return;
    }
    let a = Mutex::named("rec-first-a", ());
    let b = Mutex::named("rec-first-b", ());
    let _a = a.lock();
    let t = std::time::Instant::now();
    let _b = b.lock();
    println!("FIRST EDGE {} us", t.elapsed().as_micros());
}

fn first_edge_us(dir: Option<&Path>) -> u128 {
    let mut c = child!(child_times_its_first_edge).env("LOCKGRAPH_BACKTRACE", "1");
    if let Some(dir) = dir {
        c = c.env("LOCKGRAPH_RECORD", dir);
    }
    let out = c.run();
    assert!(out.success(), "{}", out.both());
    out.stdout
        .split("FIRST EDGE ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no time printed: {}", out.both()))
}

/// Recording must not resolve symbols on the thread that records the edge
/// (the first resolution reads the debug information: most of a second in
/// a debug build). Two processes, one recording and one not, time their
/// first new edge; the generous factor only separates microseconds from a
/// second.
#[test]
fn recording_does_not_make_the_first_new_edge_wait_for_symbols() {
    if is_child() {
        return;
    }
    let dir = fresh_dir("first-edge");
    let plain = first_edge_us(None);
    let recorded = first_edge_us(Some(&dir));
    assert!(
        recorded <= 20 * plain.max(1_000),
        "the first new edge took {recorded} us with LOCKGRAPH_RECORD, {plain} us without"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `a -> b` and `b -> c` each first under gate `g`, then without it; `c ->
/// a` closes the cycle, which the process reports.
#[test]
fn child_loses_gates_then_closes_a_cycle() {
    if !is_child() {
        return;
    }
    let g = Mutex::named("rec-gate-g", ());
    let a = Mutex::named("rec-gate-a", ());
    let b = Mutex::named("rec-gate-b", ());
    let c = Mutex::named("rec-gate-c", ());
    let nest = |gated: bool, x: &Mutex<()>, y: &Mutex<()>| {
        let _g = gated.then(|| g.lock());
        let _x = x.lock();
        let _y = y.lock();
    };
    nest(true, &a, &b);
    nest(false, &a, &b);
    nest(true, &b, &c);
    nest(false, &b, &c);
    nest(false, &c, &a);
}

/// A recording that loses a gate writes the edge again, with the gates it
/// was taken under: the gates of an edge's lines intersect to the process
/// graph's (empty here), so that `lockgraph check` sees the cycle the
/// process reported instead of one gated on two edges.
#[test]
fn an_edge_that_loses_a_gate_is_written_again() {
    let dir = fresh_dir("gate-lost");
    let out = recording(child!(child_loses_gates_then_closes_a_cycle), &dir, "warn").run();
    assert!(out.success(), "{}", out.both());
    assert!(
        out.both().contains("potential deadlock"),
        "the process reports the cycle: {}",
        out.both()
    );
    let lines = lines(&dir);
    for (from, to) in [("rec-gate-a", "rec-gate-b"), ("rec-gate-b", "rec-gate-c")] {
        let edge: Vec<&String> = lines
            .iter()
            .filter(|l| {
                l.contains("\"type\":\"edge\"")
                    && l.contains(&format!("\"from\":{{\"class\":\"name:{from}\""))
                    && l.contains(&format!("\"to\":{{\"class\":\"name:{to}\""))
            })
            .collect();
        assert_eq!(edge.len(), 2, "{from} -> {to}: {edge:#?}");
        assert!(!edge[0].contains("\"gates\":[]"), "{}", edge[0]);
        assert!(edge[1].contains("\"gates\":[]"), "{}", edge[1]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `a -> b` under `g`'s write, `b -> a` under its read (no cycle: the two
/// exclude each other), then `a -> b` under a read too (a cycle).
#[test]
fn child_weakens_a_write_gate_to_a_read() {
    if !is_child() {
        return;
    }
    let g = RwLock::named("rec-mode-g", ());
    let a = Mutex::named("rec-mode-a", ());
    let b = Mutex::named("rec-mode-b", ());
    let nest = |write: bool, x: &Mutex<()>, y: &Mutex<()>| {
        let _w = write.then(|| g.write());
        let _r = (!write).then(|| g.read());
        let _x = x.lock();
        let _y = y.lock();
    };
    nest(true, &a, &b);
    nest(false, &b, &a);
    println!("NO CYCLE YET");
    nest(false, &a, &b);
}

/// A gate's mode is in its record string (`"<pid>:<id>"` for a write,
/// `:read` after it for a read), and an edge whose gate is held in a
/// weaker mode than before is written again, so that `lockgraph check`'s
/// intersection of its lines keeps the read, as the process's graph does.
#[test]
fn a_gate_weakened_to_a_read_is_written_again_with_its_mode() {
    let dir = fresh_dir("gate-mode");
    let out = recording(child!(child_weakens_a_write_gate_to_a_read), &dir, "warn").run();
    assert!(out.success(), "{}", out.both());
    let text = out.both();
    let (before, after) = text.split_once("NO CYCLE YET").expect("the marker");
    assert!(!before.contains("potential deadlock"), "{text}");
    assert!(after.contains("potential deadlock"), "{text}");
    let lines = lines(&dir);
    let edge = |from: &str, to: &str| -> Vec<String> {
        (lines.iter())
            .filter(|l| {
                l.contains("\"type\":\"edge\"")
                    && l.contains(&format!("\"from\":{{\"class\":\"name:{from}\""))
                    && l.contains(&format!("\"to\":{{\"class\":\"name:{to}\""))
            })
            .cloned()
            .collect()
    };
    let gates = |l: &str| -> String {
        let at = l.find("\"gates\":[").expect("gates") + 9;
        l[at..at + l[at..].find(']').unwrap()].to_string()
    };
    let ab = edge("rec-mode-a", "rec-mode-b");
    let ba = edge("rec-mode-b", "rec-mode-a");
    assert_eq!(ab.len(), 2, "{ab:#?}");
    assert_eq!(ba.len(), 1, "{ba:#?}");
    let (w, r, r2) = (gates(&ab[0]), gates(&ba[0]), gates(&ab[1]));
    assert!(w.starts_with('"') && !w.contains(":read"), "{w}");
    assert_eq!(r, format!("{}:read\"", w.trim_end_matches('"')), "{r}");
    assert_eq!(r2, r, "{r2}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `m.lock(); upgradable_read()`, then `write(); m.lock()`: a cycle, its
/// request into `a` an upgradable read.
#[test]
fn child_records_an_upgradable_request() {
    if !is_child() {
        return;
    }
    let a = RwLock::named("rec-upgreq-a", ());
    let m = Mutex::named("rec-upgreq-m", ());
    {
        let _m = m.lock();
        let _u = a.upgradable_read();
    }
    let _w = a.write();
    let _m = m.lock();
}

/// An upgradable read's request is an exclusive one to the rules (the
/// cycle is found, in the process and by `lockgraph check`), written
/// `"upgradable"` (format version 3) and named so by both reports: they
/// said "for write", where the program never wrote.
#[test]
fn an_upgradable_request_is_named_as_one_in_the_report_and_the_record() {
    let dir = fresh_dir("upgradable-request");
    let child = child!(child_records_an_upgradable_request);
    let out = recording(child, &dir, "warn").run();
    assert!(out.success(), "{}", out.both());
    let err = out.both();
    assert!(err.contains("potential deadlock"), "{err}");
    assert!(
        err.contains("`rec-upgreq-a` for an upgradable read at"),
        "{err}"
    );
    let lines = lines(&dir);
    let ma = (lines.iter())
        .find(|l| l.contains("\"from\":{\"class\":\"name:rec-upgreq-m\""))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        ma.contains("\"hold\":\"exclusive\",\"request\":\"upgradable\""),
        "{ma}"
    );
    let options = lockgraph_cli::CheckOptions::new(vec![dir.clone()]);
    let r = lockgraph_cli::check(&options).unwrap();
    assert_eq!(r.cycles().len(), 1);
    let mut text = Vec::new();
    lockgraph_cli::Format::Text.write(&r, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("`rec-upgreq-a` for an upgradable read"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `upgradable_read(); m.lock()`, then `m.lock(); read()`: no cycle, since
/// a plain read never waits for an upgradable read.
#[test]
fn child_records_an_upgradable_read_against_a_plain_read() {
    if !is_child() {
        return;
    }
    let a = RwLock::named("rec-upg-a", ());
    let m = Mutex::named("rec-upg-m", ());
    {
        let _u = a.upgradable_read();
        let _m = m.lock();
    }
    let _m = m.lock();
    let _a = a.read();
}

/// An edge out of an upgradable read is written with the hold `upgradable`
/// (format version 3), and `lockgraph check` reads it so: against a plain
/// read of the lock it closes no cycle, as in the process. The same lines
/// as an older version wrote them (the hold `shared`) are one: a `read`
/// request of such a record waits for every hold.
#[test]
fn an_upgradable_hold_is_written_as_one_and_checked_as_one() {
    let dir = fresh_dir("upgradable-hold");
    let child = child!(child_records_an_upgradable_read_against_a_plain_read);
    let out = recording(child, &dir, "warn").run();
    assert!(out.success(), "{}", out.both());
    assert!(!out.both().contains("potential deadlock"), "{}", out.both());
    let lines = lines(&dir);
    assert!(
        lines[0].starts_with("{\"lockgraph_record\":4,"),
        "{}",
        lines[0]
    );
    let edge = |from: &str| -> String {
        let from = format!("\"from\":{{\"class\":\"name:{from}\"");
        let found = lines.iter().filter(|l| l.contains(&from)).cloned();
        let found: Vec<String> = found.collect();
        assert_eq!(found.len(), 1, "{lines:#?}");
        found[0].clone()
    };
    let (am, ma) = (edge("rec-upg-a"), edge("rec-upg-m"));
    assert!(
        am.contains("\"hold\":\"upgradable\",\"request\":\"exclusive\""),
        "{am}"
    );
    assert!(
        ma.contains("\"hold\":\"exclusive\",\"request\":\"read\""),
        "{ma}"
    );
    let check = |dir: &Path| {
        let options = lockgraph_cli::CheckOptions::new(vec![dir.to_path_buf()]);
        lockgraph_cli::check(&options).unwrap().cycles().len()
    };
    assert_eq!(check(&dir), 0);
    // As version 2 wrote it.
    let old = fresh_dir("upgradable-hold-v2");
    std::fs::create_dir_all(&old).unwrap();
    let text: Vec<String> = (lines.iter())
        .map(|l| {
            l.replace("{\"lockgraph_record\":4,", "{\"lockgraph_record\":2,")
                .replace("\"hold\":\"upgradable\"", "\"hold\":\"shared\"")
        })
        .collect();
    std::fs::write(old.join("lockgraph-1-1.jsonl"), text.join("\n") + "\n").unwrap();
    assert_eq!(check(&old), 1);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&old).unwrap();
}
