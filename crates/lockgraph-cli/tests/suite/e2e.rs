//! End to end with real processes: the `demo_edge` example takes two named
//! lockgraph mutexes in order, and the runtime writes what it saw to
//! `LOCKGRAPH_RECORD`. A cycle that no single process closed must be found.
//! The demo is built in the debug profile, so lock tracking is on in it
//! whatever profile the tests were built in.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// Runs the demo with recording into `dir`; its pid.
fn demo_run(dir: &Path, first: &str, second: &str) -> u32 {
    let child = Command::new(demo())
        .args([first, second])
        .env("LOCKGRAPH_RECORD", dir)
        .env_remove("LOCKGRAPH_ON_CYCLE")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "demo {first} {second}: {:?}",
        out.status
    );
    pid
}

#[test]
fn three_processes_make_one_cycle() {
    let d = tempdir();
    let pids = [
        demo_run(d.path(), "A", "B"),
        demo_run(d.path(), "B", "C"),
        demo_run(d.path(), "C", "A"),
    ];
    let files = std::fs::read_dir(d.path()).unwrap().count();
    assert_eq!(files, 3, "one record file per process");
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    for needle in [
        "lockgraph: potential deadlock: lock-order cycle through 3 locks, recorded by 3 processes",
        "key: cycle:name:A -> name:B -> name:C",
        "L1 Mutex `A`",
        "L3 -> L1  thread `main` held L3 `C` (taken at crates/lockgraph-cli/examples/demo_edge.rs:",
        "then requested L1 `A` at crates/lockgraph-cli/examples/demo_edge.rs:",
        "<- this edge closes the cycle",
        "demo_edge::main",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    for pid in pids {
        assert!(
            out.contains(&format!("in process {pid} (")),
            "pid {pid} in\n{out}"
        );
    }
    // The JSON names the three origins too: each edge's process and sites.
    let o = run_in(d.path(), &["check", "--format", "json", "."]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let edges = v["cycles"][0]["edges"].as_array().unwrap();
    let got: Vec<(u64, &str)> = edges
        .iter()
        .map(|e| {
            let o = &e["origins"][0];
            (o["pid"].as_u64().unwrap(), o["thread"].as_str().unwrap())
        })
        .collect();
    let want: Vec<(u64, &str)> = pids.iter().map(|&p| (u64::from(p), "main")).collect();
    assert_eq!(got, want);
    for e in edges {
        let o = &e["origins"][0];
        assert!(o["held_at"]
            .as_str()
            .unwrap()
            .starts_with("crates/lockgraph-cli/examples/demo_edge.rs:"));
        assert!(o["requested_at"]
            .as_str()
            .unwrap()
            .starts_with("crates/lockgraph-cli/examples/demo_edge.rs:"));
        assert!(o["exe"].as_str().unwrap().contains("demo_edge"));
    }
}

/// The raw stacks of a stripped executable (the `strip` tool) cannot be
/// named, and the check says why, naming the file (found by a review: it
/// said nothing).
#[cfg(target_os = "linux")]
#[test]
fn a_stripped_binarys_raw_stacks_are_said_to_have_no_symbols() {
    let d = tempdir();
    let stripped = d.path().join("demo-stripped");
    std::fs::copy(demo(), &stripped).unwrap();
    let status = Command::new("strip").arg(&stripped).status();
    let Ok(status) = status else {
        panic!("the strip tool (binutils) is missing");
    };
    assert!(status.success());
    let rec = d.path().join("rec");
    for (a, b) in [("A", "B"), ("B", "A")] {
        let out = Command::new(&stripped)
            .args([a, b])
            .env("LOCKGRAPH_RECORD", &rec)
            .env_remove("LOCKGRAPH_ON_CYCLE")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let o = run_in(d.path(), &["check", "rec"]);
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("demo-stripped") && err.contains("it has no symbols and no debug information"),
        "{err}"
    );
}

/// A process writes each stack raw with its edge (addresses in the files
/// it ran) and exits without resolving it; the check resolves it from the
/// executable, once for all the files. A file rebuilt since is not read:
/// the frames are left out, with a warning that names it. (An outside CI
/// test: each recording test process waited about half a second at exit
/// to resolve its stacks, and one killed within a second kept none.)
#[cfg(target_os = "linux")]
#[test]
fn raw_stacks_are_resolved_by_the_check() {
    let d = tempdir();
    demo_run(d.path(), "A", "B");
    demo_run(d.path(), "B", "A");
    // Only the raw stack lines: as a process killed at once leaves them.
    let mut raw_lines = 0;
    for f in std::fs::read_dir(d.path()).unwrap() {
        let path = f.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"lockgraph_record\":4,"), "{text}");
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !(l.starts_with("{\"type\":\"stack\"") && l.contains("\"backtrace\"")))
            .collect();
        raw_lines += kept.iter().filter(|l| l.contains("\"raw\":[[")).count();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    }
    assert_eq!(raw_lines, 2);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    // With its file and line, also in a build with line tables only (as
    // `.ci/run` builds: the function then comes from the symbol table).
    assert!(
        out.contains("demo_edge::main (") && out.contains("examples/demo_edge.rs:"),
        "{out}\n{}",
        stderr(&o)
    );
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // The executable as the records name it, with another size: rebuilt.
    for f in std::fs::read_dir(d.path()).unwrap() {
        let path = f.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let stale = text.replacen("\"size\":", "\"size\":1", 1);
        std::fs::write(&path, stale).unwrap();
    }
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    assert!(!stdout(&o).contains("demo_edge::main"), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("demo_edge"), "{err}");
    assert!(
        err.contains("it changed since the process ran (rebuilt?)"),
        "{err}"
    );
}

#[test]
fn processes_that_agree_on_the_order_are_clean() {
    let d = tempdir();
    demo_run(d.path(), "A", "B");
    demo_run(d.path(), "B", "C");
    demo_run(d.path(), "A", "C");
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("no lock-order cycles or order violations in 3 record files (3 processes, 3 lock classes, 3 edges"), "{}", stdout(&o));
    // The same records against an order that says C comes first.
    write_raw(
        d.path(),
        "lockorder.toml",
        "order = [\"C\", \"A\", \"B\"]\n",
    );
    let o = run_in(d.path(), &["check", "--order", "lockorder.toml", "."]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("key: order:name:A -> name:C"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("key: order:name:B -> name:C"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn lockgraph_test_records_the_command() {
    let d = tempdir();
    let o = run_in(d.path(), &["test", "--", demo(), "A", "B"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("took `A` then `B`"),
        "the command's output is inherited"
    );
    assert!(
        stdout(&o)
            .contains("in 1 record file (1 process, 2 lock classes, 1 edge from 1 recording)"),
        "{}",
        stdout(&o)
    );
    // The command's failure wins over a clean check.
    let o = run_in(d.path(), &["test", "--", demo(), "A", "B", "--exit", "5"]);
    assert_code(&o, 5);
    assert!(stdout(&o).contains("no lock-order cycles"));
}

#[cfg(unix)]
#[test]
fn lockgraph_test_sees_every_process_the_command_starts() {
    let d = tempdir();
    let script = format!("'{0}' A B && '{0}' B A", demo());
    let o = run_in(
        d.path(),
        &[
            "test", "--format", "json", "-o", "r.json", "--", "sh", "-c", &script,
        ],
    );
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("took `B` then `A`"),
        "the command's output is inherited"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(v["summary"]["processes"], 2);
    assert_eq!(v["cycles"][0]["key"], "cycle:name:A -> name:B");
}

/// Issue 11, item 7: with recording on, a program whose arguments are not
/// UTF-8 used to panic inside its first nested `lock()` (the record
/// header read `std::env::args()`), leaving an empty record file.
#[cfg(unix)]
#[test]
fn arguments_that_are_not_utf8_are_recorded_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempdir();
    let weird = std::ffi::OsStr::from_bytes(b"caf\xe9 \xff");
    let out = Command::new(demo())
        .args(["A", "B", "--"])
        .arg(weird)
        .env("LOCKGRAPH_RECORD", d.path())
        .env_remove("LOCKGRAPH_ON_CYCLE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a record file");
    let text = std::fs::read_to_string(&file).unwrap();
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        header["args"],
        serde_json::json!(["A", "B", "--", "caf\u{fffd} \u{fffd}"])
    );
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("2 lock classes, 1 edge"),
        "{}",
        stdout(&o)
    );
}

/// A process that takes a lock but nests none still writes its record
/// file (the header alone), so that "no file at all" means no process with
/// tracking compiled in took a lock.
#[test]
fn a_process_that_nests_no_locks_writes_its_header() {
    let d = tempdir();
    let o = run_in(d.path(), &["test", "--", demo(), "A"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("took `A` (pid"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("in 1 record file (1 process, 0 lock classes, 0 edges"),
        "{}",
        stdout(&o)
    );
    let files: Vec<_> = std::fs::read_dir(d.path().join("target/lockgraph"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("{\"lockgraph_record\":4,"), "{text}");
}

/// Issue 12, item 4: the README's recipe: `lockgraph test` keeps its
/// records in target/lockgraph, where `lockgraph check` finds them again.
#[test]
fn lockgraph_test_keeps_its_records_for_lockgraph_check() {
    let d = tempdir();
    let o = run_in(d.path(), &["test", "--", demo(), "A", "B"]);
    assert_code(&o, 0);
    let o = run_in(d.path(), &["test", "--", demo(), "B", "A"]);
    assert_code(&o, 0);
    // The second run started from an empty directory: no cycle.
    let o = run_in(
        d.path(),
        &[
            "check",
            "--format",
            "sarif",
            "-o",
            "l.sarif",
            "target/lockgraph",
        ],
    );
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("in 1 record file (1 process, 2 lock classes, 1 edge"),
        "{}",
        stderr(&o)
    );
    // --append keeps the earlier records: both halves of the inversion.
    let o = run_in(d.path(), &["test", "--append", "--", demo(), "A", "B"]);
    assert_code(&o, 1);
    let o = run_in(d.path(), &["check", "target/lockgraph"]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("key: cycle:name:A -> name:B"),
        "{}",
        stdout(&o)
    );
    // Another directory, named; $CARGO_TARGET_DIR moves the default.
    let o = run_in(
        d.path(),
        &["test", "--record-dir", "rec", "--", demo(), "C", "D"],
    );
    assert_code(&o, 0);
    assert!(d.path().join("rec").read_dir().unwrap().count() == 1);
    let o = bin()
        .current_dir(d.path())
        .env("CARGO_TARGET_DIR", d.path().join("elsewhere"))
        .args(["test", "--", demo(), "C", "D"])
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert!(
        d.path()
            .join("elsewhere/lockgraph")
            .read_dir()
            .unwrap()
            .count()
            == 1
    );
    // --help says where the records go.
    let o = run_in(d.path(), &["test", "--help"]);
    assert!(stdout(&o).contains("--record-dir <DIR>"), "{}", stdout(&o));
    assert!(stdout(&o).contains("target/lockgraph"), "{}", stdout(&o));
}

/// Issue 12, item 4: a command in which no process with tracking compiled
/// in took a lock (a release build, say) must not pass silently.
#[test]
fn lockgraph_test_fails_when_nothing_was_recorded() {
    let d = tempdir();
    let o = run_in(d.path(), &["test", "--", "true"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("lockgraph: error: nothing was recorded in "),
        "{err}"
    );
    assert!(
        err.contains("Tracking is compiled out of release builds"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let o = run_in(d.path(), &["test", "--allow-empty", "--", "true"]);
    assert_code(&o, 0);
    // The command's own failure still wins.
    let o = run_in(d.path(), &["test", "--", "false"]);
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("nothing was recorded"), "{err}");
    // ... and is named as the likely cause (a build error), not release builds.
    assert!(
        err.contains("the command failed before any process"),
        "{err}"
    );
    assert!(!err.contains("tests stopped at the first failure"), "{err}");
}

/// An outside test's finding: `cargo test` stops at the first failing test
/// binary, so a failed run's records miss the binaries after it; the check
/// says so. A stand-in `cargo` that fails.
#[cfg(unix)]
#[test]
fn a_failed_fail_fast_test_run_is_said_to_cover_part_of_the_suite() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tempdir();
    let cargo = d.path().join("cargo");
    std::fs::write(&cargo, "#!/bin/sh\nexit 101\n").unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cargo = cargo.to_str().unwrap();
    let o = run_in(d.path(), &["test", "--allow-empty", "--", cargo, "test"]);
    assert_code(&o, 101);
    let err = stderr(&o);
    assert!(
        err.contains("pass --no-fail-fast to record every test"),
        "{err}"
    );
    let o = run_in(
        d.path(),
        &[
            "test",
            "--allow-empty",
            "--",
            cargo,
            "test",
            "--no-fail-fast",
        ],
    );
    assert_code(&o, 101);
    assert!(!stderr(&o).contains("--no-fail-fast"), "{}", stderr(&o));
}

#[test]
fn a_queue_cycle_whose_halves_two_processes_recorded_is_found() {
    let d = tempdir();
    for half in ["consumer", "producer"] {
        let out = Command::new(demo_queue())
            .arg(half)
            .env("LOCKGRAPH_RECORD", d.path())
            .env_remove("LOCKGRAPH_ON_CYCLE")
            .output()
            .unwrap();
        assert!(out.status.success(), "demo_queue {half}: {:?}", out.status);
        // Each half alone is no cycle.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("potential deadlock"), "{half}: {err}");
    }
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    for needle in [
        "lockgraph: potential deadlock: lock-order cycle through 2 locks, recorded by 2 processes",
        "Queue `jobs`",
        "Mutex `stats`",
        "crates/lockgraph-cli/examples/demo_queue.rs:",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}
