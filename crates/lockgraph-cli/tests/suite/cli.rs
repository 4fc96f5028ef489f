//! The built `lockgraph` binary: exit codes, bad inputs, formats, options.

use std::io::Read;
use std::process::Stdio;

use serde_json::Value;

use crate::util::*;

fn cycle_dir() -> tempfile::TempDir {
    let d = tempdir();
    write_file(d.path(), 21, &[edge("a", "b").thread("tests::ab")]);
    write_file(d.path(), 22, &[edge("b", "a").thread("tests::ba")]);
    d
}

#[test]
fn exit_0_when_clean_1_on_a_cycle_2_on_bad_input() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("a", "b"), edge("b", "c")]);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("lockgraph: no lock-order cycles or order violations in 1 record file"),
        "{}",
        stdout(&o)
    );

    let d = cycle_dir();
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    for needle in [
        "lockgraph: potential deadlock: lock-order cycle through 2 locks, recorded by 2 processes",
        "L1 Mutex `a`",
        "L2 Mutex `b`",
        "L1 -> L2  thread `tests::ab` held L1 `a` (taken at src/name_a.rs:10:5),",
        "then requested L2 `b` at src/name_a.rs:11:9",
        "in process 21 (/bin/app)",
        "then requested L1 `a` at src/name_b.rs:11:9   <- this edge closes the cycle",
        "holds L1 `a`",
        "waits for L2 `b`",
        "for example always L1 `a` before L2 `b`",
        "app::work (src/app.rs:11)",
        "1 lock-order cycle and 0 order violations in 2 record files",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }

    let o = run_in(d.path(), &["check", "no-such-dir"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("lockgraph: error: no-such-dir: no such file or directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_cycle_one_thread_recorded_both_sides_of_says_so_in_its_scenario() {
    let d = tempdir();
    write_file(
        d.path(),
        5,
        &[
            edge("a", "b").thread("alone"),
            edge("b", "a").thread("alone"),
        ],
    );
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(!out.contains("each column a thread, all at once"), "{out}");
    assert!(
        out.contains(
            "how it deadlocks when each column runs in a thread of its own, all at once\n  \
             (thread `alone` recorded 2 of these columns itself):"
        ),
        "{out}"
    );
    // Two processes with a thread of one name are two threads.
    let o = run_in(cycle_dir().path(), &["check", "."]);
    assert!(
        stdout(&o).contains("how it deadlocks (each column a thread, all at once):"),
        "{}",
        stdout(&o)
    );
}

/// A task's edges (recorded by `lockgraph::tokio`) name the task as the
/// runtime's reports do, not as a thread called `task 3 ...`.
#[test]
fn a_task_actor_is_named_as_a_task() {
    let d = tempdir();
    let task = "task 3 \"half\" (spawned at src/h.rs:1:1)";
    write_file(d.path(), 31, &[edge("a", "b").thread(task)]);
    write_file(d.path(), 32, &[edge("b", "a").thread(task)]);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(!out.contains("thread `task"), "{out}");
    for needle in [
        "L1 -> L2  task 3 \"half\" (spawned at src/h.rs:1:1) held L1 `a`",
        "how it deadlocks (each column a task, all at once):",
        "task 3 \"half\" (spawned at src/h.rs:1:1) (pid 31)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn explicit_files_and_directories_mix_and_only_jsonl_is_listed() {
    let d = tempdir();
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    write_file(&sub, 1, &[edge("a", "b")]);
    write_raw(&sub, "notes.txt", "not a record");
    let nested = sub.join("nested");
    std::fs::create_dir(&nested).unwrap();
    write_file(&nested, 3, &[edge("b", "a")]);
    let o = run_in(d.path(), &["check", "sub"]);
    assert_code(&o, 0);
    let other = write_raw(d.path(), "other.rec", file_text(2, &[edge("b", "a")]));
    let o = run_in(d.path(), &["check", "sub", other.to_str().unwrap()]);
    assert_code(&o, 1);
}

#[test]
fn an_empty_directory_warns_and_passes() {
    let d = tempdir();
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("lockgraph: warning: no record files (*.jsonl) in ."),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_2() {
    let d = tempdir();
    for args in [
        &["check"][..],
        &["check", "--format", "svg", "."],
        &["check", "--bogus", "."],
        &["frobnicate"],
        &["test"],
        &["baseline", "."],
    ] {
        let o = run_in(d.path(), args);
        assert_code(&o, 2);
        assert!(!stderr(&o).is_empty());
    }
    let o = run_in(d.path(), &["--help"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("Exit status: 0 no cycle or violation"));
}

/// Every bad input: exit 2, and stderr names the file, the line and the problem.
#[test]
fn bad_record_files_name_file_line_and_reason() {
    let good = edge("a", "b").line();
    let long = format!(
        "{{\"type\":\"edge\",\"thread\":\"{}\"}}",
        "x".repeat(1 << 20)
    );
    // A malformed line whose locks and thread have multi-byte names: the
    // column counts characters (serde_json's count of bytes is larger).
    let wide = edge("caché", "锁").thread("スレッド").line();
    let comma = wide.rfind(',').unwrap();
    let wide_bad = format!("{};{}", &wide[..comma], &wide[comma + 1..]);
    let column = wide[..comma].chars().count() + 1;
    assert!(column < comma + 1, "{wide}");
    let wide_want = format!("bad.jsonl:2: invalid JSON: expected `,` or `}}` at column {column}");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed line after multi-byte characters",
            format!("{}\n{wide_bad}\n{good}\n", header(1)).into_bytes(),
            &wide_want,
        ),
        (
            "malformed line",
            format!("{}\n{{\"type\":\"edge\" \"from\"}}\n{good}\n", header(1)).into_bytes(),
            "bad.jsonl:2: invalid JSON: expected `,` or `}` at column 16",
        ),
        (
            "truncated JSON in the middle",
            format!("{}\n{}\n{good}\n", header(1), &good[..good.len() / 2]).into_bytes(),
            "bad.jsonl:2: truncated JSON: EOF while parsing",
        ),
        (
            "binary garbage",
            [
                format!("{}\n{good}\n", header(1)).into_bytes(),
                vec![0, 0xff, 0xfe, 7, b'\n'],
            ]
            .concat(),
            "bad.jsonl:3: invalid JSON: expected value at column 1",
        ),
        (
            "invalid UTF-8 inside a string",
            [
                format!("{}\n", header(1)).into_bytes(),
                good.replace("\"main\"", "\"ma\u{7f}in\"")
                    .into_bytes()
                    .into_iter()
                    .map(|b| if b == 0x7f { 0xff } else { b })
                    .collect(),
                b"\n".to_vec(),
            ]
            .concat(),
            "bad.jsonl:2: invalid JSON: a string holds bytes that are not UTF-8",
        ),
        (
            "oversized line",
            format!("{}\n{good}\n{long}\n", header(1)).into_bytes(),
            "bad.jsonl:3: line is longer than 1024 KiB, the limit for one record line",
        ),
        (
            "missing header",
            format!("{good}\n{good}\n").into_bytes(),
            "bad.jsonl:1: missing header: the first line has no `lockgraph_record` field",
        ),
        (
            "unknown version",
            format!("{{\"lockgraph_record\":7,\"pid\":1}}\n{good}\n").into_bytes(),
            "bad.jsonl:1: unsupported record format version 7 (this lockgraph reads versions 1 to 4)",
        ),
        (
            "missing field",
            format!(
                "{}\n{good}\n{}\n",
                header(1),
                good.replace("\"hold\":\"exclusive\",", "")
            )
            .into_bytes(),
            "bad.jsonl:3: invalid edge record: missing field `hold`",
        ),
        (
            "unknown enum value",
            format!(
                "{}\n{}\n",
                header(1),
                good.replace("\"request\":\"exclusive\"", "\"request\":\"maybe\"")
            )
            .into_bytes(),
            "bad.jsonl:2: invalid edge record: field `request`: invalid value: string \"maybe\", expected one of \"exclusive\", \"read\", \"recursive_read\", \"upgradable\"",
        ),
        (
            "a wrong type on the last line, without its newline: not a torn line",
            format!(
                "{}\n{good}\n{}",
                header(1),
                good.replace("\"hold\":\"exclusive\"", "\"hold\":5")
            )
            .into_bytes(),
            "bad.jsonl:3: invalid edge record: field `hold`: invalid type: integer `5`, expected one of \"exclusive\", \"shared\", \"upgradable\"",
        ),
        (
            "a JSON array",
            format!("{}\n[1,2]\n", header(1)).into_bytes(),
            "bad.jsonl:2: expected a JSON object, found an array",
        ),
    ];
    for (what, bytes, want) in cases {
        let d = tempdir();
        write_raw(d.path(), "bad.jsonl", &bytes);
        let o = run_in(d.path(), &["check", "bad.jsonl"]);
        assert_code(&o, 2);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("lockgraph: error: {want}")),
            "{what}: want {want:?}, got:\n{err}"
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(stdout(&o).is_empty(), "{what}: no report on an input error");
    }
}

#[test]
fn a_torn_last_line_warns_and_unknown_types_pass() {
    let d = tempdir();
    let torn = edge("b", "a").line();
    let text = format!(
        "{}\n{}\n{{\"type\":\"heartbeat\",\"at\":1}}\n{}",
        header(1),
        edge("a", "b").line(),
        &torn[..40]
    );
    write_raw(d.path(), "r.jsonl", text);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("lockgraph: warning: ./r.jsonl:4: skipped a torn last line (no trailing newline, truncated JSON"),
        "{err}"
    );
}

#[test]
fn bad_order_files_name_file_line_and_reason() {
    let d = cycle_dir();
    for (text, want) in [
        ("order = [\"a\", \"b\"]\nunknown_key = 1\n", "o.toml:2:1: invalid order file: unknown field `unknown_key`, expected `order` or `chain`"),
        ("order = [\"a\", \"b\"\n", "o.toml:1:18: invalid order file: unclosed array"),
        ("order = [\"a\"]\n", "o.toml:1:9: invalid order file: an order needs at least two entries"),
        ("[[chain]]\norder = [\"a\", 3]\n", "o.toml:2:15: invalid order file: invalid type: integer `3`, expected a string"),
        ("", "o.toml: invalid order file: no order given"),
    ] {
        write_raw(d.path(), "o.toml", text);
        let o = run_in(d.path(), &["check", "--order", "o.toml", "."]);
        assert_code(&o, 2);
        assert!(stderr(&o).contains(&format!("lockgraph: error: {want}")), "{text:?}:\n{}", stderr(&o));
    }
    // Not UTF-8: the line and column of the first bad byte.
    std::fs::write(
        d.path().join("o.toml"),
        b"# \xc3\xa9t\xc3\xa9\norder = [\"a\", \"b\xff\"]\n",
    )
    .unwrap();
    let o = run_in(d.path(), &["check", "--order", "o.toml", "."]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(
            "o.toml:2:17: invalid order file: not UTF-8 text: byte 0xff is not part of a UTF-8 character"
        ),
        "{}",
        stderr(&o)
    );
    // A UTF-8 byte-order mark is skipped, as editors do.
    write_raw(d.path(), "o.toml", "\u{feff}order = [\"a\", \"b\"]\n");
    let o = run_in(d.path(), &["check", "--order", "o.toml", "."]);
    assert!(!stderr(&o).contains("invalid order file"), "{}", stderr(&o));
    let o = run_in(d.path(), &["check", "--order", "missing.toml", "."]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("missing.toml: invalid order file: cannot read it: no such file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_order_violation_fails_and_is_printed() {
    let d = tempdir();
    write_file(d.path(), 5, &[edge("metrics", "model").thread("reloader")]);
    write_raw(
        d.path(),
        "lockorder.toml",
        "# the order\norder = [\"model\", \"cache\", \"metrics\"]\n",
    );
    let o = run_in(d.path(), &["check", "--order", "lockorder.toml", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    for needle in [
        "lockgraph: lock-order violation: Mutex `metrics` was held while Mutex `model` was requested",
        "lockorder.toml (chain 1) puts `model` before `metrics`:",
        "order: model, cache, metrics",
        "key: order:name:metrics -> name:model",
        "thread `reloader` held L1",
        "0 lock-order cycles and 1 order violation",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(
        stderr(&o).contains("lockorder.toml:2: order entry `cache` matches no recorded lock class")
    );
}

#[test]
fn baseline_then_check_with_it() {
    let d = cycle_dir();
    let o = run_in(d.path(), &["baseline", ".", "-o", "baseline.json"]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("wrote 1 cycle and 0 order violations to baseline.json"),
        "{}",
        stderr(&o)
    );
    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("baseline.json")).unwrap())
            .unwrap();
    assert_eq!(b["lockgraph_baseline"], 1);
    assert_eq!(b["cycles"][0]["key"], "cycle:name:a -> name:b");
    let o = run_in(d.path(), &["check", "--baseline", "baseline.json", "."]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("1 cycle and 0 violations baselined in baseline.json"),
        "{}",
        stdout(&o)
    );
    // A new cycle fails.
    write_file(d.path(), 23, &[edge("c", "d"), edge("d", "c")]);
    let o = run_in(d.path(), &["check", "--baseline", "baseline.json", "."]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("cycle:name:c -> name:d"));
    assert!(!stdout(&o).contains("key: cycle:name:a -> name:b"));
    // A broken baseline is an input error.
    write_raw(
        d.path(),
        "bad.json",
        "{\"lockgraph_baseline\": 1, \"cycles\": [{\"key\": 5}]}",
    );
    let o = run_in(d.path(), &["check", "--baseline", "bad.json", "."]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("bad.json:1:"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("invalid baseline: invalid type: integer `5`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn json_output_has_the_documented_structure() {
    let d = cycle_dir();
    let o = run_in(d.path(), &["check", "--format", "json", "."]);
    assert_code(&o, 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["lockgraph_check"], 1);
    assert_eq!(v["summary"]["files"], 2);
    assert_eq!(v["summary"]["cycles"], 1);
    assert!(v["baseline"].is_null());
    let c = &v["cycles"][0];
    assert_eq!(c["key"], "cycle:name:a -> name:b");
    assert_eq!(c["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(c["locks"][0]["id"], "L1");
    assert_eq!(c["locks"][0]["class"], "name:a");
    assert_eq!(c["locks"][0]["name"], "a");
    assert_eq!(c["locks"][0]["kind"], "Mutex");
    let e = &c["edges"][1];
    assert_eq!(
        (e["from"].as_str(), e["to"].as_str()),
        (Some("L2"), Some("L1"))
    );
    assert_eq!(e["closes_cycle"], true);
    assert_eq!(e["kinds"], serde_json::json!(["EN"]));
    let origin = &e["origins"][0];
    assert_eq!(origin["thread"], "tests::ba");
    assert_eq!(origin["pid"], 22);
    assert_eq!(origin["hold"], "exclusive");
    assert_eq!(origin["requested_at"], "src/name_b.rs:11:9");
    assert_eq!(origin["args"], serde_json::json!(["--test-threads=1"]));
    assert!(origin["record"]
        .as_str()
        .unwrap()
        .ends_with("lockgraph-22-1000.jsonl"));
    assert_eq!(origin["line"], 2);
}

#[test]
fn dot_output_is_the_offending_subgraph() {
    let d = cycle_dir();
    write_file(d.path(), 30, &[edge("x", "y")]);
    let o = run_in(d.path(), &["check", "--format", "dot", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(out.starts_with("digraph lockgraph {"), "{out}");
    assert!(out.trim_end().ends_with('}'));
    assert!(out.contains("\"name:a\" -> \"name:b\" [label=\"thread `tests::ab` (pid 21)\\nheld at src/name_a.rs:10:5\\nrequested at src/name_a.rs:11:9\", color=red];"), "{out}");
    assert!(out.contains("\"name:b\" -> \"name:a\""));
    assert!(out.contains("penwidth=2"));
    assert!(
        !out.contains("name:x"),
        "only the offending subgraph: {out}"
    );
}

#[test]
fn output_goes_to_a_file_when_asked() {
    let d = cycle_dir();
    let o = run_in(
        d.path(),
        &["check", "--format", "sarif", "--output", "out.sarif", "."],
    );
    assert_code(&o, 1);
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("(sarif report written to out.sarif)"),
        "{}",
        stderr(&o)
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("out.sarif")).unwrap())
            .unwrap();
    assert_eq!(v["version"], "2.1.0");
    let o = run_in(d.path(), &["check", "-o", "no-such-dir/out.txt", "."]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("-o no-such-dir/out.txt: its directory no-such-dir does not exist"),
        "{}",
        stderr(&o)
    );
}

/// A reader that goes away (`| head`) ends the output quietly, and the exit
/// code still says what was found: 1, 2,000 cycles (a CI step under
/// `pipefail` must still fail).
#[test]
fn a_broken_pipe_is_quiet_and_keeps_the_findings_exit_code() {
    let d = tempdir();
    let edges: Vec<Edge> = (0..2000)
        .flat_map(|i| {
            [
                edge(&format!("a{i}"), &format!("b{i}")),
                edge(&format!("b{i}"), &format!("a{i}")),
            ]
        })
        .collect();
    write_file(d.path(), 1, &edges);
    let mut child = bin()
        .current_dir(d.path())
        .args(["check", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    out.read_exact(&mut first).unwrap();
    drop(out);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "stderr: {err}");
    assert!(err.is_empty(), "{err}");
}

#[cfg(unix)]
#[test]
fn test_runs_the_command_with_a_fresh_record_dir() {
    let d = cycle_dir();
    let src = d.path().display().to_string();
    let copy = format!("test -d \"$LOCKGRAPH_RECORD\" && test -z \"$(ls -A \"$LOCKGRAPH_RECORD\")\" && cp '{src}'/*.jsonl \"$LOCKGRAPH_RECORD\"/");
    // The command passes: the check decides (1, a cycle).
    let o = run_in(d.path(), &["test", "--", "sh", "-c", &copy]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("cycle through 2 locks"),
        "{}",
        stdout(&o)
    );
    // The command fails: its status wins, and the check is still printed.
    let failing = format!("{copy}; exit 7");
    let o = run_in(
        d.path(),
        &["test", "--format", "json", "--", "sh", "-c", &failing],
    );
    assert_code(&o, 7);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["cycles"], 1);
    assert!(
        stderr(&o).contains("the command failed (exit status: 7)"),
        "{}",
        stderr(&o)
    );
    // Nothing recorded and success: 0, with a warning, when that is allowed.
    let o = run_in(d.path(), &["test", "--allow-empty", "--", "true"]);
    assert_code(&o, 0);
    assert!(stderr(&o).contains("no record files"));
    // A command killed by a signal: 128 + the signal.
    let o = run_in(d.path(), &["test", "--", "sh", "-c", "kill -9 $$"]);
    assert_code(&o, 137);
    // A command that does not exist: a usage error.
    let o = run_in(d.path(), &["test", "--", "./no-such-program"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("could not run `./no-such-program`: no such file or directory"),
        "{}",
        stderr(&o)
    );
}

/// The corpus through the binary, in one directory per file: exit 2 for
/// errors (with file and line on stderr), never a crash.
#[test]
fn corpus_through_the_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let o = bin().arg("check").arg(&path).output().unwrap();
        let code = o.status.code();
        let err = String::from_utf8_lossy(&o.stderr);
        if name.starts_with("err-") {
            assert_eq!(code, Some(2), "{name}: {err}");
            assert!(
                err.contains(&format!("{}:", path.display())),
                "{name}: {err}"
            );
        } else {
            assert!(matches!(code, Some(0 | 1)), "{name}: {err}");
        }
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

/// Issue 12, item 7: `--format html` is one self-contained page, each
/// finding drawn as an SVG graph beside its report. (.ci/run renders it in
/// headless Chromium and checks the drawing.)
#[test]
fn html_output_is_one_self_contained_page() {
    let d = cycle_dir();
    write_file(
        d.path(),
        23,
        &[
            edge("p", "q"),
            edge("q", "r"),
            edge("r", "p").thread("t<&>"),
        ],
    );
    let o = run_in(d.path(), &["check", "--format", "html", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(out.starts_with("<!DOCTYPE html>"), "{out}");
    assert!(out.trim_end().ends_with("</html>"));
    assert_eq!(out.matches("<svg ").count(), 2, "one graph per finding");
    assert_eq!(out.matches("<g class=\"lock\">").count(), 5);
    assert_eq!(out.matches("class=\"edge closing\"").count(), 2);
    for needle in [
        "lockgraph: 2 lock-order cycles and 0 order violations in 3 record files",
        "Potential deadlock: lock-order cycle through 3 locks: L1 Mutex `p` -&gt; L2 Mutex `q` -&gt; L3 Mutex `r`, then back to L1.",
        ">Mutex `a`</text>",
        "thread `t&lt;&amp;&gt;` (closes)",
        "key: cycle:name:a -&gt; name:b (fingerprint",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // Nothing to fetch, nothing to run.
    for bad in ["<script", " src=", " href=", "@import", "url(http"] {
        assert!(!out.contains(bad), "{bad} in\n{out}");
    }
    // No findings: a page that says so.
    let d = tempdir();
    write_file(d.path(), 1, &[edge("a", "b")]);
    let o = run_in(d.path(), &["check", "--format", "html", "."]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("No lock-order cycle that can deadlock"));
    assert!(!stdout(&o).contains("<svg"));
}

/// Issue 12, item 7: the DOT names each lock once, labels every recording
/// of an edge, and explains the styles in a legend.
#[test]
fn dot_output_labels_every_recording_and_has_a_legend() {
    let d = cycle_dir();
    write_file(
        d.path(),
        24,
        &[edge("a", "b")
            .thread("tests::other")
            .sites("src/o.rs:1:1", "src/o.rs:2:2")],
    );
    let o = run_in(d.path(), &["check", "--format", "dot", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("  \"name:a\" [label=\"Mutex `a`\"];"), "{out}");
    assert!(
        out.contains("thread `tests::ab` (pid 21)\\nheld at src/name_a.rs:10:5\\nrequested at src/name_a.rs:11:9\\nthread `tests::other` (pid 24)\\nheld at src/o.rs:1:1\\nrequested at src/o.rs:2:2\\n(2 recordings)"),
        "{out}"
    );
    assert!(out.contains("subgraph cluster_legend"), "{out}");
    assert!(
        out.contains("bold red: the edge reported as closing the cycle"),
        "{out}"
    );
    assert!(
        !out.contains("orange dashed"),
        "only the styles in use: {out}"
    );
}

#[test]
fn an_output_that_is_an_input_is_refused_before_anything_is_written() {
    let d = cycle_dir();
    let rec: Vec<std::path::PathBuf> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let target = rec[0].clone();
    let before = std::fs::read(&target).unwrap();
    let dir = d.path().to_str().unwrap();
    // The record file itself (as named in the directory read), the same
    // file by another spelling, and for `baseline` too.
    let other_spelling = format!("{dir}/./{}", target.file_name().unwrap().to_str().unwrap());
    for args in [
        vec!["check", "-o", target.to_str().unwrap(), dir],
        vec!["check", "--format", "json", "-o", &other_spelling, dir],
        vec!["baseline", "-o", target.to_str().unwrap(), dir],
        vec!["check", "-o", &other_spelling, target.to_str().unwrap()],
    ] {
        let o = run_in(d.path(), &args);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains("that file is an input of this command"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(&target).unwrap(), before, "{args:?} wrote it");
    }
    // A report beside the records, under a name the check does not read.
    let report = d.path().join("report.sarif");
    let o = run_in(
        d.path(),
        &[
            "check",
            "--format",
            "sarif",
            "-o",
            report.to_str().unwrap(),
            dir,
        ],
    );
    assert_code(&o, 1);
    assert!(report.exists());
}

#[test]
fn one_file_named_twice_is_read_once() {
    let d = cycle_dir();
    let dir = d.path().to_str().unwrap().to_string();
    let once = run_in(d.path(), &["check", "--format", "json", &dir]);
    let again = format!("{dir}/.");
    let twice = run_in(d.path(), &["check", "--format", "json", &dir, &again, "."]);
    assert_code(&once, 1);
    assert_code(&twice, 1);
    let files = |o: &std::process::Output| -> Value {
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["summary"]["files"].clone()
    };
    assert_eq!(files(&once), files(&twice), "{}", stdout(&twice));
    assert!(
        files(&once).as_u64().is_some_and(|n| n == 2),
        "{}",
        stdout(&once)
    );
}

#[cfg(unix)]
#[test]
fn a_baseline_or_order_that_is_not_a_regular_file_is_refused_not_read() {
    let d = cycle_dir();
    let fifo = d.path().join("base.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    let dir = d.path().to_str().unwrap();
    let mut cases = vec![
        (
            vec!["check", "--baseline", "/dev/zero", dir],
            "/dev/zero: invalid baseline",
        ),
        (
            vec!["check", "--order", "/dev/zero", dir],
            "/dev/zero: invalid order file",
        ),
    ];
    // A FIFO without a writer would block an open for ever.
    if made.is_ok_and(|s| s.success()) {
        cases.push((
            vec!["check", "--baseline", fifo.to_str().unwrap(), dir],
            "base.fifo: invalid baseline",
        ));
    }
    for (args, what) in cases {
        let o = run_with_deadline(d.path(), &args, 30);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains(what) && stderr(&o).contains("not a regular file"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

/// `lockgraph test -- sh -c 'touch MARKER'` in `cwd` with more arguments
/// before `--`: its output, and whether the command ran.
#[cfg(unix)]
fn test_touching(cwd: &std::path::Path, args: &[&str]) -> (std::process::Output, bool) {
    let marker = cwd.join("the-command-ran");
    let _ = std::fs::remove_file(&marker);
    let touch = format!("touch '{}'", marker.display());
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", "sh", "-c", &touch]);
    let o = run_in(cwd, &all);
    (o, marker.exists())
}

#[cfg(unix)]
#[test]
fn a_record_dir_that_cannot_be_one_is_named_before_the_command_runs() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempdir();
    std::fs::write(d.path().join("afile"), "mine").unwrap();
    let missing = d.path().join("missing");
    std::os::unix::fs::symlink(&missing, d.path().join("dangling")).unwrap();
    let mut cases = vec![
        (
            "afile".to_string(),
            "the record directory afile is a file, not a directory: name a directory with \
             --record-dir"
                .to_string(),
        ),
        (
            "afile/sub".to_string(),
            "cannot create the record directory afile/sub: afile is a file, not a directory"
                .to_string(),
        ),
        (
            "afile/sub/deeper".to_string(),
            "cannot create the record directory afile/sub/deeper: afile is a file, not a \
             directory"
                .to_string(),
        ),
        (
            "dangling".to_string(),
            format!(
                "the record directory dangling is a link to {}, which does not exist: create \
                 that directory, or name another with --record-dir",
                missing.display()
            ),
        ),
        (
            "/dev/null".to_string(),
            "the record directory /dev/null is a device, not a directory".to_string(),
        ),
    ];
    // A directory this user cannot write in: the command's processes could
    // not record there, and "nothing was recorded" would mislead. Root
    // writes whatever the mode, but not in sysfs.
    let ro = d.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = ro.join("probe");
    if std::fs::write(&probe, "").is_err() {
        cases.push((
            ro.display().to_string(),
            format!(
                "cannot write in the record directory {}: permission denied; the command's \
                 processes could not record there",
                ro.display()
            ),
        ));
    }
    let _ = std::fs::remove_file(&probe);
    // One this user can write in but not list: the check could not find
    // the records.
    let unlisted = d.path().join("unlisted");
    std::fs::create_dir(&unlisted).unwrap();
    std::fs::set_permissions(&unlisted, std::fs::Permissions::from_mode(0o333)).unwrap();
    if std::fs::read_dir(&unlisted).is_err() {
        cases.push((
            unlisted.display().to_string(),
            format!(
                "cannot list the record directory {}: permission denied; the check could not \
                 read the records",
                unlisted.display()
            ),
        ));
    }
    if std::path::Path::new("/sys/kernel").is_dir() {
        cases.push((
            "/sys".to_string(),
            "cannot write in the record directory /sys: ".to_string(),
        ));
    }
    for (dir, said) in cases {
        let (o, ran) = test_touching(d.path(), &["--record-dir", &dir]);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains(&format!("lockgraph: error: {said}")),
            "{dir}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("os error"), "{}", stderr(&o));
        assert!(!ran, "--record-dir {dir}: the command ran");
    }
    assert_eq!(std::fs::read(d.path().join("afile")).unwrap(), b"mine");
    assert!(!missing.exists());
    for dir in [&ro, &unlisted] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert_eq!(
        std::fs::read_dir(&ro).unwrap().count(),
        0,
        "the write check left nothing behind"
    );
}

#[cfg(unix)]
#[test]
fn test_refuses_an_output_it_would_read_or_remove_before_running() {
    let d = tempdir();
    let rec = d.path().join("rec");
    std::fs::create_dir(&rec).unwrap();
    let old = write_file(&rec, 21, &[edge("a", "b")]);
    write_file(&rec, 22, &[edge("b", "a")]);
    let before = std::fs::read(&old).unwrap();
    std::os::unix::fs::symlink(&old, d.path().join("link-to-a-record")).unwrap();
    std::os::unix::fs::symlink("lockgraph-9-9.jsonl", rec.join("notes.txt")).unwrap();
    let as_record = "reads every *.jsonl file as a record: the report would be read as one; ";
    let deleted = "the report would be read as one, and deleted before the next run";
    let as_profile = "reads every lockgraph-profile-*.json file (with --profile, as `lockgraph \
                      profile` does) as a profile";
    let via_link =
        "-o rec/notes.txt (a link to rec/lockgraph-9-9.jsonl) is in the record directory";
    for (output, said) in [
        ("rec/report.jsonl", as_record),
        ("rec/./lockgraph-5-6.jsonl", deleted),
        ("rec/lockgraph-profile-x.json", as_profile),
        ("rec/lockgraph-profile-7.json", deleted),
        ("link-to-a-record", "-o link-to-a-record (a link to "),
        ("rec/notes.txt", via_link),
        (
            "rec",
            "-o rec: that is the record directory: name a file for the report",
        ),
        (".", "-o .: that is a directory: name a file for the report"),
    ] {
        let (o, ran) = test_touching(d.path(), &["--record-dir", "rec", "-o", output]);
        assert_code(&o, 2);
        assert!(stderr(&o).contains(said), "-o {output}: {}", stderr(&o));
        assert!(!ran, "-o {output}: the command ran");
        let now = std::fs::read(&old).unwrap();
        assert_eq!(now, before, "-o {output}: the record changed");
    }
    let (o, _) = test_touching(d.path(), &["--record-dir", "rec", "-o", "rec/report.jsonl"]);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: -o rec/report.jsonl is in the record directory {}, where \
             `lockgraph test` reads every *.jsonl file as a record: the report would be read \
             as one; write it elsewhere, or under another name",
            std::path::absolute(&rec).unwrap().display()
        )),
        "{}",
        stderr(&o)
    );
    // A name test never reads nor removes: allowed beside the records
    // (kept with --append, and checked).
    for output in ["rec/report.json", "rec/lockgraph-watchdog-host-1.jsonl"] {
        let (o, ran) = test_touching(
            d.path(),
            &[
                "--record-dir",
                "rec",
                "--append",
                "--format",
                "json",
                "-o",
                output,
            ],
        );
        assert_code(&o, 1);
        assert!(ran);
        let v: Value =
            serde_json::from_slice(&std::fs::read(d.path().join(output)).unwrap()).unwrap();
        assert_eq!(v["summary"]["files"], 2, "{output}");
        assert_eq!(v["summary"]["cycles"], 1, "{output}");
    }
}

#[cfg(unix)]
#[test]
fn test_names_an_empty_command_a_directory_and_a_program_not_in_path() {
    let d = tempdir();
    let o = run_in(d.path(), &["test", "--record-dir", "rec", "--", ""]);
    assert_code(&o, 2);
    assert!(
        stderr(&o)
            .contains("lockgraph: error: the command after `--` is empty: name the program to run"),
        "{}",
        stderr(&o)
    );
    assert!(
        !d.path().join("rec").exists(),
        "refused before the record directory is made"
    );
    let not_in_path = "lockgraph: error: could not run `no-such-program-for-lockgraph`: no such \
                       file or directory (not in PATH)";
    for (command, said) in [
        (
            "/",
            "lockgraph: error: could not run `/`: it is a directory",
        ),
        ("no-such-program-for-lockgraph", not_in_path),
    ] {
        let o = run_in(d.path(), &["test", "--record-dir", "rec", "--", command]);
        assert_code(&o, 2);
        assert!(stderr(&o).contains(said), "{command:?}: {}", stderr(&o));
    }
}

/// `--order` and `--baseline` are inputs too: an `-o` over one of them
/// (another spelling included) is refused before anything is read, written
/// or run.
#[cfg(unix)]
#[test]
fn an_output_over_the_order_or_the_baseline_is_refused() {
    let d = cycle_dir();
    let order = write_raw(d.path(), "o.toml", "order = [\"a\", \"b\"]\n");
    let o = run_in(d.path(), &["baseline", "-o", "b.json", "."]);
    assert_code(&o, 0);
    let baseline = d.path().join("b.json");
    let (order_before, baseline_before) = (
        std::fs::read(&order).unwrap(),
        std::fs::read(&baseline).unwrap(),
    );
    let said = "that file is an input of this command";
    for args in [
        vec!["check", "--baseline", "b.json", "-o", "b.json", "."],
        vec![
            "check", "--order", "o.toml", "--format", "json", "-o", "./o.toml", ".",
        ],
        vec!["baseline", "--order", "o.toml", "-o", "o.toml", "."],
    ] {
        let o = run_in(d.path(), &args);
        assert_code(&o, 2);
        assert!(stderr(&o).contains(said), "{args:?}: {}", stderr(&o));
    }
    let dir = d.path().join("rec");
    let dir = dir.to_str().unwrap();
    for (option, output) in [("--baseline", "b.json"), ("--order", "o.toml")] {
        let args = ["--record-dir", dir, option, output, "-o", output];
        let (o, ran) = test_touching(d.path(), &args);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains(&format!("-o {output}: {said} ({output})")),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(!ran, "{args:?}: the command ran");
    }
    assert_eq!(std::fs::read(&order).unwrap(), order_before);
    assert_eq!(std::fs::read(&baseline).unwrap(), baseline_before);
}

/// A missing or bad `--order` or `--baseline` is said before `lockgraph
/// test` runs its command (it was said after a whole test run; found by an
/// outside test of docs/ci.md's workflow, whose files did not exist yet).
#[cfg(unix)]
#[test]
fn a_missing_or_bad_order_or_baseline_is_said_before_the_command_runs() {
    let d = tempdir();
    write_raw(d.path(), "bad.toml", "order = 3\n");
    write_raw(d.path(), "bad.json", "{}");
    let dir = d.path().join("rec");
    let dir = dir.to_str().unwrap();
    for (option, file, said) in [
        ("--order", "none.toml", "none.toml"),
        ("--baseline", "none.json", "none.json"),
        ("--order", "bad.toml", "bad.toml"),
        ("--baseline", "bad.json", "invalid baseline"),
    ] {
        let (o, ran) = test_touching(d.path(), &["--record-dir", dir, option, file]);
        assert_code(&o, 2);
        assert!(stderr(&o).contains(said), "{option} {file}: {}", stderr(&o));
        assert!(!ran, "{option} {file}: the command ran");
    }
}

/// An `-o` that cannot be written where it is named (its directory missing
/// or a file, or the name a directory) is refused before the command reads
/// anything, with the path and why, not at the end with the system's words.
#[test]
fn an_output_that_cannot_be_written_is_refused_before_the_command_runs() {
    let d = tempdir();
    let dir = d.path();
    std::fs::create_dir(dir.join("records")).unwrap();
    std::fs::write(dir.join("afile"), "").unwrap();
    std::fs::create_dir(dir.join("adir")).unwrap();
    let cases = [
        (
            "missing/out.txt",
            "-o missing/out.txt: its directory missing does not exist: create it first",
        ),
        (
            "afile/out.txt",
            "-o afile/out.txt: afile is not a directory",
        ),
        ("adir", "-o adir: that is a directory: name a file for the "),
    ];
    for (out, said) in cases {
        for cmd in [
            vec!["check", "records", "-o", out],
            vec!["baseline", "records", "-o", out],
            vec!["profile", "records", "-o", out],
            vec!["hang", "records", "-o", out],
        ] {
            let o = run_in(dir, &cmd);
            assert_code(&o, 2);
            assert!(stderr(&o).contains(said), "{cmd:?}: {}", stderr(&o));
        }
    }
    assert!(!dir.join("missing").exists());
}

/// `lockgraph test -o` is not checked before the command runs (the command
/// may make the folder); when it still cannot be created at the end, the
/// report is not lost: it goes to standard output, and the error says so.
#[test]
fn a_test_report_that_cannot_be_written_goes_to_standard_output() {
    let d = tempdir();
    let o = run_in(
        d.path(),
        &[
            "test",
            "--allow-empty",
            "--record-dir",
            "rec",
            "-o",
            "missing/report.txt",
            "--",
            "sh",
            "-c",
            "echo ran > ran.txt",
        ],
    );
    assert_code(&o, 2);
    assert!(d.path().join("ran.txt").exists(), "the command did not run");
    assert!(
        stderr(&o).contains(
            "lockgraph: error: cannot write missing/report.txt: its directory missing does not \
             exist: create it first; the report was written to standard output instead"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).is_empty(), "{}", stderr(&o));
    // A file that can be created but not written (a full disk): the same.
    let o = run_in(
        d.path(),
        &[
            "test",
            "--allow-empty",
            "--record-dir",
            "rec",
            "-o",
            "/dev/full",
            "--",
            "true",
        ],
    );
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(
            "lockgraph: error: cannot write /dev/full: no space left on device; the report was \
             written to standard output instead"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).is_empty(), "{}", stderr(&o));
    // A folder the command made is written to.
    let o = run_in(
        d.path(),
        &[
            "test",
            "--allow-empty",
            "--record-dir",
            "rec",
            "-o",
            "made/report.txt",
            "--",
            "mkdir",
            "made",
        ],
    );
    assert_code(&o, 0);
    assert!(d.path().join("made/report.txt").exists());
}

/// Two record files with one pid (reused, or from two machines) are two
/// processes: the cycle they make is recorded by two, and the summary
/// counts two (it said one, as if the runtime should have caught it).
#[test]
fn two_files_with_one_pid_are_two_processes() {
    let d = tempdir();
    write_file(d.path(), 7, &[edge("a", "b").thread("main")]);
    let second = file_text(7, &[edge("b", "a").thread("main")]).replacen(
        "1764240000000",
        "1764240099999",
        1,
    );
    write_raw(d.path(), "lockgraph-7-2000.jsonl", second);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    for needle in [
        "lock-order cycle through 2 locks, recorded by 2 processes",
        "in 2 record files (2 processes,",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
}

/// Both orders recorded under a gate, one per process: gates are compared
/// within a process only, so the cycle stands, with a note that says why
/// and what would make it one that cannot deadlock (an outside test took
/// it for a false positive). Within one process, a cycle whose edges hold
/// different gates gets no such note.
#[test]
fn a_cycle_gated_in_each_process_says_gates_are_compared_within_one() {
    let d = tempdir();
    write_file(d.path(), 31, &[edge("a", "b").gates(&["31:1"])]);
    write_file(d.path(), 32, &[edge("b", "a").gates(&["32:1"])]);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains(
            "note: each edge of this cycle was recorded while its thread held another lock, and the edges come from 2 processes"
        ),
        "{out}"
    );
    // Under reads only, a lock held around both orders serialises nothing:
    // no note.
    let d = tempdir();
    write_file(d.path(), 31, &[edge("a", "b").gates(&["31:1:read"])]);
    write_file(d.path(), 32, &[edge("b", "a").gates(&["32:1:read"])]);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    assert!(!stdout(&o).contains("note: each edge"), "{}", stdout(&o));
    let d = tempdir();
    write_file(
        d.path(),
        33,
        &[
            edge("a", "b").gates(&["33:1"]),
            edge("b", "a").gates(&["33:2"]),
        ],
    );
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    assert!(!stdout(&o).contains("held another lock"), "{}", stdout(&o));
}

/// `-o` naming a hard link of an input (a file named, or one read in a
/// directory named) overwrote that input: the record, the watchdog file
/// of an incident. It is refused before any work, as another spelling or
/// a symbolic link of it is.
#[cfg(unix)]
#[test]
fn an_output_that_is_a_hard_link_of_an_input_is_refused() {
    let d = cycle_dir();
    let dir = d.path().to_str().unwrap().to_string();
    let target = d.path().join("lockgraph-21-1000.jsonl");
    let before = std::fs::read(&target).unwrap();
    let out = tempdir();
    let link = out.path().join("report.txt");
    std::fs::hard_link(&target, &link).unwrap();
    let link_s = link.to_str().unwrap().to_string();
    let target_s = target.to_str().unwrap().to_string();
    let watch = out.path().join("w");
    std::fs::create_dir(&watch).unwrap();
    let watchdog = watch.join("lockgraph-watchdog-h-1.jsonl");
    std::fs::hard_link(&target, &watchdog).unwrap();
    let profile = d.path().join("lockgraph-profile-21.json");
    std::fs::hard_link(&target, &profile).unwrap();
    let w = watch.to_str().unwrap().to_string();
    for args in [
        vec!["check", "-o", &link_s, &target_s],
        vec!["check", "--format", "sarif", "-o", &link_s, &dir],
        vec!["baseline", "-o", &link_s, &dir],
        vec!["hang", "-o", &link_s, &w],
        vec!["profile", "-o", &link_s, &dir],
        vec!["check", "--order", &target_s, "-o", &link_s, "/nonexistent"],
        vec![
            "test",
            "--append",
            "--record-dir",
            &dir,
            "-o",
            &link_s,
            "--",
            "true",
        ],
    ] {
        let o = run_in(out.path(), &args);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains("that file is an input of this command under another name")
                && stderr(&o).contains("a hard link of it"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_eq!(std::fs::read(&target).unwrap(), before, "{args:?} wrote it");
    }
}

/// Runs `lockgraph ARGS` in `cwd` with files limited to 512 bytes (a full
/// disk, for a test: a write past it fails with EFBIG, SIGXFSZ ignored).
#[cfg(unix)]
fn run_with_small_files(cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("sh")
        .current_dir(cwd)
        .env_remove("CARGO_TARGET_DIR")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_lockgraph"))
        .args(args)
        .output()
        .unwrap()
}

/// An `-o` file that cannot be written whole (a full disk) is never
/// destroyed nor left cut: it is written beside, then renamed over, and
/// the temporary file is removed. The output goes to standard output
/// instead, with exit 2, in every command with an `-o` (hang and profile
/// wrote it nowhere; baseline and hang cut the old file to what fitted;
/// check left a cut SARIF file).
#[cfg(unix)]
#[test]
fn an_output_that_cannot_be_written_whole_leaves_the_old_file_and_goes_to_stdout() {
    let d = tempdir();
    let recs = d.path().join("recs");
    std::fs::create_dir(&recs).unwrap();
    let edges: Vec<Edge> = (0..20)
        .flat_map(|i| {
            let (a, b) = (format!("lock_a{i}"), format!("lock_b{i}"));
            [edge(&a, &b), edge(&b, &a)]
        })
        .collect();
    write_file(&recs, 1, &edges);
    let watch = d.path().join("watch");
    std::fs::create_dir(&watch).unwrap();
    let process = "{\"lockgraph_watchdog\":1,\"kind\":\"process\",\"pid\":5,\"host\":\"h\",\"rank\":null,\"exe\":\"/bin/x\",\"args\":[],\"at_unix_ms\":1}\n";
    let progress: String = (0..40)
        .map(|i| format!("{{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"name\":\"marker_{i}\",\"value\":{i},\"at_unix_ms\":2}}\n"))
        .collect();
    std::fs::write(
        watch.join("lockgraph-watchdog-h-5.jsonl"),
        format!("{process}{progress}"),
    )
    .unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let old = b"old, whole".to_vec();
    let (r, w) = (recs.to_str().unwrap(), watch.to_str().unwrap());
    let cases: [(Vec<&str>, &str, &str); 5] = [
        (
            vec!["baseline", "-o", "bl.json", r],
            "bl.json",
            "the baseline was written",
        ),
        (
            vec!["hang", "-o", "hang.txt", w],
            "hang.txt",
            "the report was written",
        ),
        (
            vec!["hang", "--format", "json", "-o", "hang.json", w],
            "hang.json",
            "the report was written",
        ),
        (
            vec!["check", "--format", "sarif", "-o", "r.sarif", r],
            "r.sarif",
            "the report was written",
        ),
        (
            vec!["check", "-o", "r.txt", r],
            "r.txt",
            "the report was written",
        ),
    ];
    for (args, file, said) in cases {
        let target = out.join(file);
        // Over an old file, and where there is none.
        for had in [true, false] {
            if had {
                std::fs::write(&target, &old).unwrap();
            } else {
                let _ = std::fs::remove_file(&target);
            }
            let o = run_with_small_files(&out, &args);
            assert_code(&o, 2);
            let err = stderr(&o);
            let state = if had {
                format!("; {file} is unchanged")
            } else {
                String::new()
            };
            assert!(
                err.contains(&format!(
                    "cannot write {file}: file too large{state}; {said} to standard output instead"
                )),
                "{args:?}: {err}"
            );
            assert!(o.stdout.len() > 512, "{args:?}: {}", stdout(&o));
            if had {
                assert_eq!(std::fs::read(&target).unwrap(), old, "{args:?}");
            } else {
                assert!(!target.exists(), "{args:?}");
            }
            let left: Vec<_> = std::fs::read_dir(&out)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .filter(|n| n != file)
                .collect();
            assert!(left.is_empty(), "{args:?} left {left:?}");
        }
    }
    // Without the limit, each is written whole, and nothing beside it.
    let o = run_in(&out, &["baseline", "-o", "bl.json", r]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&std::fs::read(out.join("bl.json")).unwrap()).unwrap();
    assert_eq!(v["cycles"].as_array().unwrap().len(), 20);
}

/// `-o /dev/full`: `hang` and `profile` wrote their report to no stream at
/// all; like `check`, they write it to standard output, and exit 2.
#[cfg(target_os = "linux")]
#[test]
fn hang_and_profile_fall_back_to_stdout_when_their_output_cannot_be_written() {
    let d = tempdir();
    std::fs::write(
        d.path().join("lockgraph-watchdog-h-5.jsonl"),
        "{\"lockgraph_watchdog\":1,\"kind\":\"process\",\"pid\":5,\"host\":\"h\",\"rank\":null,\"exe\":\"/bin/x\",\"args\":[],\"at_unix_ms\":1}\n",
    )
    .unwrap();
    let mut class = profile_class(
        serde_json::json!({"class": "name:q", "name": "q", "kind": "Mutex", "site": null}),
    );
    class["acquisitions"] = 5.into();
    std::fs::write(
        d.path().join("lockgraph-profile-5.json"),
        serde_json::json!({"lockgraph_profile": 1, "pid": 5, "exe": "/bin/x", "classes": [class]})
            .to_string(),
    )
    .unwrap();
    for (cmd, shows) in [
        ("hang", "lockgraph hang: 1 process"),
        ("profile", "Mutex q"),
    ] {
        let o = run_in(d.path(), &[cmd, "-o", "/dev/full", "."]);
        assert_code(&o, 2);
        assert!(stdout(&o).contains(shows), "{cmd}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("cannot write /dev/full: no space left on device; the "),
            "{cmd}: {}",
            stderr(&o)
        );
    }
}

/// A baseline written with `--order` keeps its violation entries when a
/// check runs without `--order`: no violation was looked for, so none is
/// "no longer found (remove it)", which would break the next check that
/// does use the order (found by an outside test). It says they were not
/// checked.
#[test]
fn a_check_without_the_order_keeps_the_baseline_s_violations() {
    let d = tempdir();
    write_file(d.path(), 5, &[edge("metrics", "model")]);
    write_raw(
        d.path(),
        "lockorder.toml",
        "order = [\"model\", \"metrics\"]\n",
    );
    let o = run_in(
        d.path(),
        &["baseline", "--order", "lockorder.toml", "-o", "b.json", "."],
    );
    assert_code(&o, 0);
    let o = run_in(d.path(), &["check", "--baseline", "b.json", "."]);
    assert_code(&o, 0);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(!out.contains("no longer found"), "{out}");
    assert!(!err.contains("remove it"), "{err}");
    assert!(
        out.contains("; 1 order-violation entry not checked (no --order given)"),
        "{out}"
    );
    let o = run_in(
        d.path(),
        &["check", "--baseline", "b.json", "--format", "json", "."],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["baseline"]["unchecked"], 1);
    assert_eq!(v["baseline"]["stale"].as_array().unwrap().len(), 0);
    // With the order, the entry is checked, found, and tolerated.
    let o = run_in(
        d.path(),
        &[
            "check",
            "--baseline",
            "b.json",
            "--order",
            "lockorder.toml",
            ".",
        ],
    );
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("0 cycles and 1 violation baselined"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("not checked"), "{}", stdout(&o));
}

/// Lines of an unknown `type` are allowed (a newer writer's), but counted
/// in a warning naming the file: a mistyped `"type":"Edge"` loses an edge.
#[test]
fn lines_of_an_unknown_type_are_counted_in_a_warning() {
    let d = tempdir();
    let f = write_file(d.path(), 5, &[edge("a", "b")]);
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("{\"type\":\"Edge\"}\n{\"type\":\"note\",\"text\":\"x\"}\n");
    std::fs::write(&f, text).unwrap();
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains(
            "lockgraph-5-1000.jsonl: 2 lines of an unknown `type` ignored (none of \"edge\", \"stack\" and \"cycle\""
        ),
        "{}",
        stderr(&o)
    );
}

/// `-o` refused for what it is: a symbolic link to an input is called
/// one (it was called a hard link), and a file where no file can be made
/// beside it says so (it said "no such file or directory" of a file that
/// exists).
#[cfg(unix)]
#[test]
fn an_output_refused_says_why_in_its_own_words() {
    let d = tempdir();
    let rec = d.path().join("rec");
    std::fs::create_dir(&rec).unwrap();
    let f = write_file(&rec, 21, &[edge("a", "b")]);
    std::os::unix::fs::symlink(&f, d.path().join("link.jsonl")).unwrap();
    let o = run_in(d.path(), &["check", "-o", "link.jsonl", "rec"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(": a symbolic link to it)"),
        "{}",
        stderr(&o)
    );
    std::fs::hard_link(&f, d.path().join("hard.jsonl")).unwrap();
    let o = run_in(d.path(), &["check", "-o", "hard.jsonl", "rec"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(": a hard link of it)"),
        "{}",
        stderr(&o)
    );
    if std::path::Path::new("/proc/version").is_file() {
        let o = run_in(d.path(), &["check", "-o", "/proc/version", "rec"]);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains("-o /proc/version: cannot make a file in /proc (")
                && stderr(&o).contains("it takes no new files"),
            "{}",
            stderr(&o)
        );
    }
}

/// An edge keeps 8 origins at most: with more recordings, the processes
/// counted are those shown, and the header says "at least" (it said 9 of
/// the 22 processes an outside test's cycle came from).
#[test]
fn a_cycle_recorded_by_more_processes_than_shown_says_at_least() {
    let d = tempdir();
    for pid in 1..=12 {
        write_file(d.path(), pid, &[edge("a", "b")]);
    }
    write_file(d.path(), 13, &[edge("b", "a")]);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("lock-order cycle through 2 locks, recorded by at least 9 processes"),
        "{out}"
    );
    // Each edge shown in full: no "at least".
    let d = tempdir();
    write_file(d.path(), 1, &[edge("a", "b")]);
    write_file(d.path(), 2, &[edge("b", "a")]);
    let out = stdout(&run_in(d.path(), &["check", "."]));
    assert!(out.contains("recorded by 2 processes"), "{out}");
}
