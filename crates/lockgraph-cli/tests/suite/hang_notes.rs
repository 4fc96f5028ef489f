//! `lockgraph hang` on files made by hand: other `.jsonl` files beside the
//! watchdog files are named in a note; a thread's group says where it is
//! blocked (not where it took a lock it holds), in the text and the JSON
//! alike; the progress line of two processes reads "the other one".

use std::path::Path;

use serde_json::Value;

use crate::util::*;

fn process_line(pid: u64) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"process\",\"pid\":{pid},\"host\":\"h\",\"rank\":null,\"exe\":\"/bin/x\",\"args\":[],\"at_unix_ms\":1}}\n"
    )
}

fn progress_line(value: u64) -> String {
    format!(
        "{{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"name\":\"step\",\"value\":{value},\"at_unix_ms\":2}}\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn other_jsonl_files_beside_the_watchdog_files_are_named_in_a_note() {
    let d = tempdir();
    write(
        d.path(),
        "lockgraph-watchdog-h-11.jsonl",
        &(process_line(11) + &progress_line(5)),
    );
    // Nothing else in the directory: no note.
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    assert!(!stderr(&o).contains("note:"), "{}", stderr(&o));

    // A watchdog file renamed by a launcher: named, not read.
    write(d.path(), "trunc-2667.jsonl", &process_line(2667));
    // A record file of `lockgraph check` (may share the directory), a file
    // of another extension and a directory named `.jsonl`: not named.
    write(d.path(), "lockgraph-42-1764240000000.jsonl", "{}\n");
    write(d.path(), "notes.txt", "");
    std::fs::create_dir(d.path().join("old.jsonl")).unwrap();
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains(
            "lockgraph: note: 1 other .jsonl file in . not read (not named lockgraph-watchdog-*.jsonl): trunc-2667.jsonl\n"
        ),
        "{}",
        stderr(&o)
    );
    // The verdict is the same (one process), and the JSON has the note too.
    assert!(
        stdout(&o).starts_with("lockgraph hang: 1 process: "),
        "{}",
        stdout(&o)
    );
    let o = run_in(d.path(), &["hang", "--format", "json", "."]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["notes"][0],
        "1 other .jsonl file in . not read (not named lockgraph-watchdog-*.jsonl): trunc-2667.jsonl"
    );

    // Many: counted, the first three named.
    for name in ["a.jsonl", "b.jsonl", "c.jsonl", "rank-3.jsonl"] {
        write(d.path(), name, "");
    }
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains(
            "lockgraph: note: 5 other .jsonl files in . not read (not named lockgraph-watchdog-*.jsonl): a.jsonl, b.jsonl, c.jsonl and 2 more\n"
        ),
        "{}",
        stderr(&o)
    );

    // No watchdog file at all: the error names them too (exit 2 as before).
    std::fs::remove_file(d.path().join("lockgraph-watchdog-h-11.jsonl")).unwrap();
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("no lockgraph watchdog files (lockgraph-watchdog-*.jsonl) in .")
            && stderr(&o).contains(
                "; 5 other .jsonl files in . not read (not named lockgraph-watchdog-*.jsonl): a.jsonl"
            ),
        "{}",
        stderr(&o)
    );
}

/// A dump whose thread `os-metrics` holds `metrics` (taken at line 295) and
/// is blocked at line 299 (in tokio's `blocking_lock`, which the dump's
/// thread entry does not show as a wait): its group is at line 299, in the
/// text and in the JSON.
#[test]
fn a_blocked_holder_is_placed_where_it_is_blocked_not_where_it_took_its_lock() {
    let d = tempdir();
    let tokio = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1";
    let thread = serde_json::json!({
        "name": "os-metrics", "tid": 18597, "waiting": null,
        "held": [{"lock": {"label": "Mutex `metrics`"}, "hold": "exclusive",
                  "site": "src/main.rs:295:30", "held_ms": 3000}],
        "now": {"description": "blocked in a futex wait"},
        "stack_now": {"source": "stack", "truncated": false, "frames": [
            format!("tokio::future::block_on::block_on ({tokio}/src/future/block_on.rs:12)"),
            format!("tokio::sync::mutex::Mutex<T>::blocking_lock ({tokio}/src/sync/mutex.rs:521)"),
            "oncall_scratch::tokio_mix::{{closure}} (/work/scratch/src/main.rs:299)",
        ]}
    });
    let dump = serde_json::json!({
        "lockgraph_watchdog": 1, "kind": "dump", "pid": 18595, "at_unix_ms": 3,
        "progress": [], "threads": [thread]
    });
    write(
        d.path(),
        "lockgraph-watchdog-h-18595.jsonl",
        &(process_line(18595) + &dump.to_string() + "\n"),
    );
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(
            "  1 thread in 1 process: holding Mutex `metrics` (taken at src/main.rs:295), blocked in a futex wait at src/main.rs:299\n"
        ),
        "{out}"
    );
    let o = run_in(d.path(), &["hang", "--format", "json", "."]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let g = &v["groups"][0];
    // The program's file as its holds' sites name it (relative).
    assert_eq!(g["at"], "src/main.rs:299");
    assert_eq!(
        g["state"],
        "holding Mutex `metrics` (taken at src/main.rs:295), blocked in a futex wait"
    );
}

#[test]
fn two_processes_one_behind_read_the_other_one() {
    let d = tempdir();
    for (pid, step) in [(2667, 7), (2670, 6)] {
        write(
            d.path(),
            &format!("lockgraph-watchdog-h-{pid}.jsonl"),
            &(process_line(pid) + &progress_line(step)),
        );
    }
    let o = run_in(d.path(), &["hang", "."]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("  step: pid 2670 stopped first, at step 6; the other one at 7\n"),
        "{}",
        stdout(&o)
    );
}
