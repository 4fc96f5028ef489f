//! `lockgraph profile` and `lockgraph test --profile`: synthetic profile
//! files (merging, advice, every bad input, formats), then real processes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::util::*;

/// A class entry as the runtime writes it, all counters zero; `set` the rest.
fn class_entry(id: &str) -> Value {
    profile_class(class(id))
}

fn set(mut v: Value, fields: &[(&str, Value)]) -> Value {
    for (k, x) in fields {
        v[*k] = x.clone();
    }
    v
}

fn profile_text(pid: u64, classes: &[Value]) -> String {
    json!({
        "lockgraph_profile": 1,
        "pid": pid,
        "exe": "/bin/app",
        "classes": classes,
    })
    .to_string()
}

fn write_profile(dir: &Path, pid: u64, classes: &[Value]) -> PathBuf {
    write_raw(
        dir,
        &format!("lockgraph-profile-{pid}.json"),
        profile_text(pid, classes),
    )
}

/// The hot `queue` class split over two processes (6 waiting threads, 40%
/// contended once merged), a site-class RwLock seen by one, and a named lock
/// held across a blocking call.
fn two_processes() -> tempfile::TempDir {
    let d = tempdir();
    let queue = |acq: u64, cont: u64, wait: u64, max_wait: u64, threads: u64, max_hold: u64| {
        set(
            class_entry("name:queue"),
            &[
                ("acquisitions", json!(acq)),
                ("contended", json!(cont)),
                ("wait_ns", json!(wait)),
                ("max_wait_ns", json!(max_wait)),
                ("hold_samples", json!(acq / 8)),
                ("hold_ns", json!(acq / 8 * 1000)),
                ("max_hold_ns", json!(max_hold)),
                ("waiting_threads", json!(threads)),
            ],
        )
    };
    write_profile(
        d.path(),
        101,
        &[
            queue(600, 240, 30_000_000, 900_000, 4, 7_000),
            set(
                class_entry("site:src/cache.rs:12:5"),
                &[
                    ("acquisitions", json!(50)),
                    ("reads", json!(45)),
                    ("contended", json!(1)),
                    ("wait_ns", json!(2_000)),
                    ("max_wait_ns", json!(2_000)),
                    ("waiting_threads", json!(1)),
                ],
            ),
        ],
    );
    write_profile(
        d.path(),
        102,
        &[
            queue(400, 160, 20_000_000, 1_200_000, 2, 5_000),
            set(
                class_entry("name:db"),
                &[
                    ("acquisitions", json!(7)),
                    ("blocking_calls", json!(3)),
                    ("blocking_ns", json!(30_000_000)),
                    ("blocking_what", json!("std::fs::write")),
                ],
            ),
        ],
    );
    d
}

#[test]
fn two_processes_merge_by_class_with_the_runtimes_advice() {
    let d = two_processes();
    let o = run_in(d.path(), &["profile", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    for needle in [
        "lockgraph contention profile (hottest first)",
        "Mutex queue",
        "RwLock src/cache.rs:12:5",
        "Mutex db",
        "advice:",
        "Mutex queue: shard it: 6 threads waited and 40% of acquisitions were contended",
        "Mutex db: held across 3 blocking calls such as `std::fs::write`",
        "lockgraph: 3 lock classes in 2 profile files (2 processes)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // Hottest (most total wait) first; merged acquisitions and contention.
    let queue = out.lines().find(|l| l.contains("Mutex queue")).unwrap();
    let fields: Vec<&str> = queue.split_whitespace().collect();
    assert_eq!(&fields[..4], ["Mutex", "queue", "1000", "40.0%"], "{queue}");
    let table: Vec<&str> = out
        .lines()
        .skip(2)
        .take(3)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(table, ["queue", "src/cache.rs:12:5", "db"], "{out}");
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn json_rows_carry_the_merged_counters_and_advice() {
    let d = two_processes();
    let o = run_in(d.path(), &["profile", "--format", "json", "."]);
    assert_code(&o, 0);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows["classes"].clone();
    let rows = rows.as_array().unwrap();
    let classes: Vec<&str> = rows.iter().map(|r| r["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["name:queue", "site:src/cache.rs:12:5", "name:db"]);
    let q = &rows[0];
    assert_eq!(q["name"], "queue");
    assert_eq!(q["kind"], "Mutex");
    assert_eq!(q["site"], Value::Null);
    assert_eq!(q["acquisitions"], 1000);
    assert_eq!(q["contended"], 400);
    assert_eq!(q["contention"], 0.4);
    assert_eq!(q["wait_ns"], 50_000_000);
    assert_eq!(q["max_wait_ns"], 1_200_000, "the larger of the two");
    assert_eq!(q["max_hold_ns"], 7_000, "the larger of the two");
    assert_eq!(q["hold_samples"], 125);
    assert_eq!(q["hold_ns"], 125_000);
    assert_eq!(q["mean_hold_ns"], 1_000);
    assert_eq!(q["waiting_threads"], 6, "summed");
    let advice = q["advice"].as_array().unwrap();
    assert_eq!(advice.len(), 1, "{advice:?}");
    assert!(advice[0]
        .as_str()
        .unwrap()
        .starts_with("shard it: 6 threads waited and 40% of acquisitions were contended"));
    let cache = &rows[1];
    assert_eq!(cache["kind"], "RwLock");
    assert_eq!(cache["site"], "src/cache.rs:12:5");
    assert_eq!(cache["name"], Value::Null);
    assert_eq!(cache["reads"], 45);
    assert_eq!(cache["advice"], json!([]));
    let db = &rows[2];
    assert_eq!(db["blocking_calls"], 3);
    assert_eq!(db["blocking_what"], "std::fs::write");
    assert!(db["advice"][0]
        .as_str()
        .unwrap()
        .contains("move the call out of the critical section"));

    // The same document to a file, with the summary on stderr.
    let o = run_in(
        d.path(),
        &["profile", "--format", "json", "-o", "p.json", "."],
    );
    assert_code(&o, 0);
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains(
            "lockgraph: 3 lock classes in 2 profile files (2 processes) (json profile written to p.json)"
        ),
        "{}",
        stderr(&o)
    );
    let back: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("p.json")).unwrap()).unwrap();
    assert_eq!(&back["classes"], &Value::Array(rows.clone()));
    assert_eq!(back["pipeline"], Value::Null);
}

/// Names, sites and what a blocking call was come from files anyone can
/// write: the text table shows their control characters (ANSI escapes,
/// `\r`, `\n`, NUL) and bidirectional overrides as escapes, as `check`
/// does, so they can neither drive the terminal nor forge lines; JSON keeps
/// them exact.
#[test]
fn control_characters_from_profiles_are_escaped_in_the_text_table() {
    let d = tempdir();
    let name = "q\u{1b}[2J\rFAKE\nlockgraph: 0 lock classes\u{0}\u{202e}";
    let site = "src/\u{1b}]0;title\u{7}.rs:1:2";
    let what = "std::fs::write\u{1b}[31m\n    Mutex ok: fine";
    let anon = "anon:1:\u{1b}c";
    write_profile(
        d.path(),
        7,
        &[
            set(
                class_entry(&format!("name:{name}")),
                &[
                    ("acquisitions", json!(10)),
                    ("blocking_calls", json!(2)),
                    ("blocking_ns", json!(5_000)),
                    ("blocking_what", json!(what)),
                ],
            ),
            set(
                class_entry(&format!("site:{site}")),
                &[("acquisitions", json!(5))],
            ),
            set(class_entry(anon), &[("acquisitions", json!(1))]),
        ],
    );
    let o = run_in(d.path(), &["profile", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    for c in out.chars().filter(|&c| c != '\n') {
        assert!(
            !c.is_control() && !('\u{202a}'..='\u{202e}').contains(&c),
            "raw {c:?} in\n{out}"
        );
    }
    let lines: Vec<&str> = out.lines().collect();
    // Title, header, three rows, a blank line, "advice:", one advice, summary.
    assert_eq!(lines.len(), 9, "{out}");
    assert!(
        lines[2].contains(r"Mutex q\u{1b}[2J\rFAKE\nlockgraph: 0 lock classes\u{0}\u{202e}"),
        "{out}"
    );
    assert!(
        lines[3].contains(r"RwLock src/\u{1b}]0;title\u{7}.rs:1:2"),
        "{out}"
    );
    assert!(lines[4].contains(r"Mutex anon:1:\u{1b}c"), "{out}");
    assert!(
        lines[7].contains(r"such as `std::fs::write\u{1b}[31m\n    Mutex ok: fine`"),
        "{out}"
    );
    assert_eq!(
        lines[8],
        "lockgraph: 3 lock classes in 1 profile file (1 process)"
    );
    // The text written to a file is the same.
    let o = run_in(d.path(), &["profile", "-o", "p.txt", "."]);
    assert_code(&o, 0);
    assert_eq!(
        std::fs::read_to_string(d.path().join("p.txt")).unwrap(),
        out
    );

    let o = run_in(d.path(), &["profile", "--format", "json", "."]);
    assert_code(&o, 0);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows["classes"].clone();
    assert_eq!(rows[0]["name"], name);
    assert_eq!(rows[0]["blocking_what"], what);
    assert!(rows[0]["advice"][0].as_str().unwrap().contains(what));
    assert_eq!(rows[1]["site"], site);
    assert_eq!(rows[2]["class"], anon);
}

#[test]
fn directories_list_only_profile_files_and_explicit_files_are_read() {
    let d = tempdir();
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let c = |n: u64| set(class_entry("name:a"), &[("acquisitions", json!(n))]);
    write_profile(&sub, 1, &[c(1)]);
    // Not profile files: a temporary file, another JSON file, a record file,
    // a subdirectory's profile.
    write_raw(&sub, ".lockgraph-profile-2.json.tmp", "garbage");
    write_raw(&sub, "notes.json", "garbage");
    write_raw(&sub, "lockgraph-profile-3.jsonl", "garbage");
    write_file(&sub, 4, &[edge("a", "b")]);
    let nested = sub.join("nested");
    std::fs::create_dir(&nested).unwrap();
    write_profile(&nested, 5, &[c(10)]);
    let o = run_in(d.path(), &["profile", "--format", "json", "sub"]);
    assert_code(&o, 0);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows["classes"].clone();
    assert_eq!(rows[0]["acquisitions"], 1);
    // An explicit file is read whatever its name; the same file twice, or
    // by two spellings (absolute and relative), counts once.
    let other = write_raw(d.path(), "saved.json", profile_text(6, &[c(100)]));
    let o = run_in(
        d.path(),
        &[
            "profile",
            "--format",
            "json",
            "sub",
            other.to_str().unwrap(),
            "saved.json",
            "saved.json",
        ],
    );
    assert_code(&o, 0);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows["classes"].clone();
    assert_eq!(rows[0]["acquisitions"], 101);
}

#[test]
fn an_empty_directory_says_so_and_exits_0() {
    let d = tempdir();
    let o = run_in(d.path(), &["profile", "."]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("lockgraph: warning: no profile files (lockgraph-profile-*.json) in ."),
        "{}",
        stderr(&o)
    );
    let o = run_in(d.path(), &["profile", "--format", "json", "."]);
    assert_code(&o, 0);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows["classes"].clone();
    assert_eq!(rows, json!([]));
    // A file with no classes is a valid, empty profile.
    write_profile(d.path(), 1, &[]);
    let o = run_in(d.path(), &["profile", "."]);
    assert_code(&o, 0);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("lockgraph: 0 lock classes in 1 profile file (1 process)"),
        "{}",
        stdout(&o)
    );
}

/// Every bad input: exit 2, no panic, and stderr names the file, the position
/// where serde has one, and the problem.
#[test]
fn bad_profiles_name_the_file_and_the_problem() {
    let good = set(class_entry("name:a"), &[("acquisitions", json!(5))]);
    let without = |field: &str| {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(field);
        profile_text(1, &[good.clone(), v])
    };
    let with = |field: &str, x: Value| profile_text(1, &[set(good.clone(), &[(field, x)])]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "invalid JSON",
            b"{\"lockgraph_profile\":1 \"classes\":[]}".to_vec(),
            "bad.json:1:24: invalid profile: not JSON: expected `,` or `}`",
        ),
        (
            "truncated",
            profile_text(1, std::slice::from_ref(&good)).as_bytes()[..60].to_vec(),
            // The end of the file: past its 60th character.
            "bad.json:1:61: invalid profile: not JSON: EOF while parsing",
        ),
        (
            "empty file",
            Vec::new(),
            "bad.json:1:1: invalid profile: not JSON: EOF while parsing a value",
        ),
        (
            "binary",
            vec![0, 0xff, 0xfe, 7],
            "bad.json:1:1: invalid profile: not JSON: expected value",
        ),
        (
            "invalid UTF-8 in a string",
            [
                &b"{\"lockgraph_profile\":1,\"exe\":\"a"[..],
                &[0xff],
                b"\",\"classes\":[]}",
            ]
            .concat(),
            "bad.json:1:32: invalid profile: not JSON: invalid unicode code point",
        ),
        (
            "an array",
            b"[1, 2]".to_vec(),
            "bad.json:1:1: invalid profile: invalid type: sequence, expected a JSON object",
        ),
        (
            "a record file",
            file_text(1, &[edge("a", "b")]).into_bytes(),
            "bad.json:2:1: invalid profile: not JSON: trailing characters",
        ),
        (
            "no version",
            b"{\"pid\":1,\"classes\":[]}".to_vec(),
            "bad.json: invalid profile: no `lockgraph_profile` field: this is not a lockgraph profile",
        ),
        (
            "unknown version",
            b"{\"lockgraph_profile\":2,\"classes\":[]}".to_vec(),
            "bad.json: invalid profile: unsupported profile version 2 (this lockgraph reads version 1)",
        ),
        (
            "a version that is not a number",
            b"{\"lockgraph_profile\":\"1\",\"classes\":[]}".to_vec(),
            "bad.json: invalid profile: `lockgraph_profile` must be a version number",
        ),
        (
            "no classes",
            b"{\"lockgraph_profile\":1,\"pid\":1}".to_vec(),
            "bad.json:1:31: invalid profile: missing field `classes`",
        ),
        (
            "classes not an array",
            b"{\"lockgraph_profile\":1,\"classes\":{}}".to_vec(),
            "bad.json:1:33: invalid profile: invalid type: map, expected an array of class entries",
        ),
        (
            "a class entry missing a counter",
            without("contended").into_bytes(),
            "invalid profile: classes[1]: missing field `contended`",
        ),
        (
            "a class entry missing a nullable field",
            without("blocking_what").into_bytes(),
            "invalid profile: classes[1]: missing field `blocking_what`",
        ),
        (
            "a string counter",
            with("acquisitions", json!("5")).into_bytes(),
            "invalid profile: classes[0].acquisitions: invalid type: string \"5\", expected u64",
        ),
        (
            "a negative counter",
            with("wait_ns", json!(-1)).into_bytes(),
            "invalid profile: classes[0].wait_ns: invalid value: integer `-1`, expected u64",
        ),
        (
            "a fractional counter",
            with("reads", json!(1.5)).into_bytes(),
            "invalid profile: classes[0].reads: invalid type: floating point `1.5`, expected u64",
        ),
        (
            "a counter beyond u64",
            profile_text(1, std::slice::from_ref(&good))
                .replace("\"acquisitions\":5", "\"acquisitions\":18446744073709551616")
                .into_bytes(),
            "invalid profile: classes[0].acquisitions: invalid type: floating point",
        ),
        (
            "a null class id",
            with("class", Value::Null).into_bytes(),
            "invalid profile: classes[0].class: invalid type: null, expected a string",
        ),
        (
            "a class entry that is not an object",
            profile_text(1, &[json!(["name:a"])]).into_bytes(),
            "invalid profile: classes[0]: invalid type: sequence, expected a JSON object",
        ),
        (
            "a duplicate field",
            profile_text(1, std::slice::from_ref(&good))
                .replace("\"reads\":0", "\"reads\":0,\"reads\":1")
                .into_bytes(),
            "invalid profile: classes[0]: duplicate field `reads`",
        ),
    ];
    for (what, bytes, want) in cases {
        let d = tempdir();
        write_profile(d.path(), 9, std::slice::from_ref(&good));
        write_raw(d.path(), "bad.json", &bytes);
        let o = run_in(d.path(), &["profile", ".", "bad.json"]);
        assert_code(&o, 2);
        let err = stderr(&o);
        // Without a position of its own, a case names the line and column of
        // the one-line file.
        let prefix = if want.starts_with("bad.json") {
            "lockgraph: error: bad.json"
        } else {
            "lockgraph: error: bad.json:1:"
        };
        assert!(
            err.lines()
                .any(|l| l.starts_with(prefix) && l.contains(want)),
            "{what}: want {want:?}, got {err}"
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(o.stdout.is_empty(), "{what}: {}", stdout(&o));
    }
}

/// Counters no process writes whole (a file written while its threads
/// still counted can tear so; or one edited by hand) are shown made
/// consistent, with a warning naming the file and the entry: the run's
/// other counts are not lost (they showed a contention of 180% before; a
/// refusal would lose the run).
#[test]
fn impossible_counters_are_shown_consistent_with_a_warning() {
    let good = set(class_entry("name:a"), &[("acquisitions", json!(5))]);
    for (field, value, want) in [
        (
            "contended",
            json!(9),
            "classes[0]: `contended` (9) is above `acquisitions` (5), which counts it; shown made consistent",
        ),
        (
            "hold_ns",
            json!(100),
            "classes[0]: `hold_ns` is 100 with no `hold_samples`; shown made consistent",
        ),
        (
            "kind",
            json!("Banana"),
            "classes[0]: unknown `kind` \"Banana\"",
        ),
    ] {
        let d = tempdir();
        write_raw(
            d.path(),
            "odd.json",
            profile_text(1, &[set(good.clone(), &[(field, value)])]),
        );
        let o = run_in(d.path(), &["profile", "odd.json"]);
        assert_code(&o, 0);
        let err = stderr(&o);
        assert!(
            err.contains("lockgraph: warning: odd.json: ") && err.contains(want),
            "{field}: {err}"
        );
        assert!(!stdout(&o).contains("180"), "{}", stdout(&o));
    }
}

#[test]
fn sums_that_overflow_name_the_file() {
    let d = tempdir();
    let c = |n: u64| {
        set(
            class_entry("name:a"),
            &[
                ("acquisitions", json!(1)),
                ("hold_samples", json!(1)),
                ("hold_ns", json!(n)),
            ],
        )
    };
    write_profile(d.path(), 1, &[c(u64::MAX)]);
    write_profile(d.path(), 2, &[c(1)]);
    let o = run_in(d.path(), &["profile", "."]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(
            "lockgraph: error: ./lockgraph-profile-2.json: invalid profile: `hold_ns` of class \
             `name:a` overflows when added to the other entries"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_and_unreadable_paths_exit_2() {
    let d = tempdir();
    let o = run_in(d.path(), &["profile", "no-such-dir"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("lockgraph: error: no-such-dir: no such file or directory"),
        "{}",
        stderr(&o)
    );
    #[cfg(unix)]
    {
        // A listed profile that cannot be opened (a dangling link).
        std::os::unix::fs::symlink("gone", d.path().join("lockgraph-profile-3.json")).unwrap();
        let o = run_in(d.path(), &["profile", "."]);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains(
                "lockgraph: error: ./lockgraph-profile-3.json: invalid profile: cannot read it: \
                 no such file or directory"
            ),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let d = tempdir();
    for args in [
        &["profile"][..],
        &["profile", "--format", "sarif", "."],
        &["profile", "--order", "x.toml", "."],
    ] {
        let o = run_in(d.path(), args);
        assert_code(&o, 2);
        assert!(!stderr(&o).is_empty());
    }
    let o = run_in(d.path(), &["profile", "--help"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("lockgraph-profile-*.json"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_broken_pipe_exits_0() {
    let d = tempdir();
    let classes: Vec<Value> = (0..3000)
        .map(|i| {
            set(
                class_entry(&format!("name:lock{i}")),
                &[("acquisitions", json!(i))],
            )
        })
        .collect();
    write_profile(d.path(), 1, &classes);
    let mut child = bin()
        .current_dir(d.path())
        .args(["profile", "."])
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
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert!(err.is_empty(), "{err}");
}

/// `test --profile` whose `-o` report cannot be written: the report goes to
/// standard output instead, and with it in a document format the profile
/// goes to standard error, as when no `-o` was given, so that standard
/// output is one document.
#[cfg(unix)]
#[test]
fn a_report_that_falls_back_to_standard_output_keeps_it_one_document() {
    let d = two_processes();
    let src = d.path().display().to_string();
    let copy = format!("cp '{src}'/lockgraph-profile-*.json \"$LOCKGRAPH_RECORD\"/");
    let fell_back = "the report was written to standard output instead";
    for format in ["json", "sarif"] {
        let o = run_in(
            d.path(),
            &[
                "test",
                "--profile",
                "--format",
                format,
                "-o",
                "missing/report.json",
                "--",
                "sh",
                "-c",
                &copy,
            ],
        );
        assert_code(&o, 2);
        assert!(stderr(&o).contains(fell_back), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{format}: {e}:\n{}", stdout(&o)));
        assert!(v.is_object(), "{v}");
        assert!(!stdout(&o).contains("contention profile"), "{}", stdout(&o));
        assert!(stderr(&o).contains("Mutex queue"), "{}", stderr(&o));
    }
    // A text report that falls back: the profile follows it, as without -o.
    let o = run_in(
        d.path(),
        &[
            "test",
            "--profile",
            "-o",
            "missing/report.txt",
            "--",
            "sh",
            "-c",
            &copy,
        ],
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains(fell_back), "{}", stderr(&o));
    let out = stdout(&o);
    let check = out.find("lockgraph: no lock-order cycles").expect(&out);
    let profile = out.find("Mutex queue").expect(&out);
    assert!(check < profile, "the check, then the profile:\n{out}");
}

/// `test --profile` with a stand-in command that checks LOCKGRAPH_PROFILE and
/// copies a synthetic profile into the record directory.
#[cfg(unix)]
#[test]
fn test_profile_sets_the_variable_and_prints_the_profile_after_the_check() {
    let d = two_processes();
    let src = d.path().display().to_string();
    let copy = format!(
        "test \"$LOCKGRAPH_PROFILE\" = 1 && cp '{src}'/lockgraph-profile-*.json \"$LOCKGRAPH_RECORD\"/"
    );
    let o = bin()
        .current_dir(d.path())
        .env_remove("CARGO_TARGET_DIR")
        .args(["test", "--profile", "--", "sh", "-c", &copy])
        .env_remove("LOCKGRAPH_PROFILE")
        .output()
        .unwrap();
    assert_code(&o, 0);
    let out = stdout(&o);
    let check = out.find("lockgraph: no lock-order cycles").expect(&out);
    let profile = out
        .find("lockgraph contention profile (hottest first)")
        .expect(&out);
    assert!(check < profile, "the check, then the profile:\n{out}");
    assert!(
        out.contains("Mutex queue: shard it: 6 threads waited"),
        "{out}"
    );
    assert!(
        out.contains("3 lock classes in 2 profile files (2 processes)"),
        "{out}"
    );

    // The command's failure still wins; the profile is printed all the same.
    let failing = format!("{copy}; exit 7");
    let o = run_in(d.path(), &["test", "--profile", "--", "sh", "-c", &failing]);
    assert_code(&o, 7);
    assert!(stdout(&o).contains("Mutex queue"), "{}", stdout(&o));

    // With a JSON check on stdout, the profile goes to stderr.
    let o = run_in(
        d.path(),
        &[
            "test",
            "--profile",
            "--format",
            "json",
            "--",
            "sh",
            "-c",
            &copy,
        ],
    );
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["cycles"], 0);
    assert!(stderr(&o).contains("Mutex queue"), "{}", stderr(&o));

    // Without --profile the variable is not set and no profile is printed.
    let o = bin()
        .current_dir(d.path())
        .env_remove("CARGO_TARGET_DIR")
        .args([
            "test",
            "--allow-empty",
            "--",
            "sh",
            "-c",
            "test -z \"$LOCKGRAPH_PROFILE\"",
        ])
        .env_remove("LOCKGRAPH_PROFILE")
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert!(!stdout(&o).contains("contention profile"), "{}", stdout(&o));

    // No profile written: a warning, and the check's status.
    let o = run_in(
        d.path(),
        &["test", "--profile", "--allow-empty", "--", "true"],
    );
    assert_code(&o, 0);
    assert!(stderr(&o).contains("no profile files"), "{}", stderr(&o));

    // A broken profile is an input error (2) unless the command failed.
    let broken =
        "echo '{\"lockgraph_profile\":1}' > \"$LOCKGRAPH_RECORD\"/lockgraph-profile-1.json";
    let o = run_in(d.path(), &["test", "--profile", "--", "sh", "-c", broken]);
    assert_code(&o, 2);
    assert!(
        stderr(&o)
            .contains("lockgraph-profile-1.json:1:23: invalid profile: missing field `classes`"),
        "{}",
        stderr(&o)
    );
}

/// Runs the demo with recording and profiling on.
fn demo_profiled(dir: &Path, first: &str, second: &str) {
    let out = Command::new(demo())
        .args([first, second])
        .env("LOCKGRAPH_RECORD", dir)
        .env("LOCKGRAPH_PROFILE", "1")
        .env_remove("LOCKGRAPH_ON_CYCLE")
        .output()
        .unwrap();
    assert!(out.status.success(), "demo {first} {second}: {out:?}");
}

#[test]
fn real_processes_write_profiles_that_merge() {
    let d = tempdir();
    demo_profiled(d.path(), "A", "B");
    demo_profiled(d.path(), "B", "C");
    let profiles = std::fs::read_dir(d.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_str().unwrap();
            name.starts_with("lockgraph-profile-") && name.ends_with(".json")
        })
        .count();
    assert_eq!(profiles, 2, "one profile per process");
    let o = run_in(d.path(), &["profile", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    let acquired = |label: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().take(2).eq(["Mutex", label]))
            .unwrap_or_else(|| panic!("no row for {label} in\n{out}"));
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    assert_eq!(acquired("A"), 1);
    assert_eq!(acquired("B"), 2);
    assert_eq!(acquired("C"), 1);
    assert!(
        out.contains("3 lock classes in 2 profile files (2 processes)"),
        "{out}"
    );
    let o = run_in(d.path(), &["profile", "--format", "json", "."]);
    assert_code(&o, 0);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows["classes"].clone();
    let mut got: Vec<(String, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["class"].as_str().unwrap().to_string(),
                r["acquisitions"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let want = [("name:A", 1), ("name:B", 2), ("name:C", 1)].map(|(c, n)| (c.to_string(), n));
    assert_eq!(got, want);
    // The records beside them still check.
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 0);
}

#[test]
fn lockgraph_test_profile_prints_the_check_and_the_profile() {
    let d = tempdir();
    let o = bin()
        .current_dir(d.path())
        .env_remove("CARGO_TARGET_DIR")
        .args(["test", "--profile", "--", demo(), "A", "B"])
        .env_remove("LOCKGRAPH_PROFILE")
        .env_remove("LOCKGRAPH_ON_CYCLE")
        .output()
        .unwrap();
    assert_code(&o, 0);
    let out = stdout(&o);
    for needle in [
        "took `A` then `B`",
        "lockgraph: no lock-order cycles or order violations in 1 record file (1 process, 2 lock classes, 1 edge",
        "lockgraph contention profile (hottest first)",
        "lockgraph: 2 lock classes in 1 profile file (1 process)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    for label in ["A", "B"] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().take(3).eq(["Mutex", label, "1"])),
            "no row for {label} in\n{out}"
        );
    }
    assert!(
        out.find("no lock-order cycles").unwrap() < out.find("contention profile").unwrap(),
        "{out}"
    );
}

/// Runs `demo_queue pipeline` (no lockgraph lock: a `loader` filling the
/// queue `batches` faster than a `trainer` empties it) with the profile
/// on, recording into `dir`.
fn pipeline_profiled(dir: &Path) {
    let out = Command::new(demo_queue())
        .arg("pipeline")
        .env("LOCKGRAPH_RECORD", dir)
        .env("LOCKGRAPH_PROFILE", "1")
        .env_remove("LOCKGRAPH_ON_CYCLE")
        .output()
        .unwrap();
    assert!(out.status.success(), "demo_queue pipeline: {out:?}");
}

/// A process that only uses queues writes its backpressure profile, and
/// `lockgraph profile` shows it, merged over processes, in text and JSON
/// (found by an outside test: such a process wrote no file, and the
/// backpressure profile never left the process).
#[test]
fn the_backpressure_profile_of_real_processes_is_written_and_merged() {
    let d = tempdir();
    pipeline_profiled(d.path());
    let o = run_in(d.path(), &["profile", "."]);
    assert_code(&o, 0);
    let out = stdout(&o);
    for needle in [
        "lockgraph pipeline profile",
        "batches",
        "loader -> trainer",
        "advice: `trainer` (the last stage) is the bottleneck: `loader` waited on a full `batches` queue",
        "lockgraph: 0 lock classes and 1 queue in 1 profile file (1 process)",
        "no lock acquisitions recorded: the profile files hold no lock class",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(!out.contains("is LOCKGRAPH_PROFILE=1 set"), "{out}");
    pipeline_profiled(d.path());
    let o = run_in(d.path(), &["profile", "--format", "json", "."]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["classes"], json!([]));
    let q = &v["pipeline"]["queues"][0];
    assert_eq!(q["name"], "batches");
    assert_eq!(q["bound"], 2);
    assert_eq!(q["sends"], 80, "40 sends in each of two processes: {v}");
    assert_eq!(q["producers"], json!(["loader"]));
    assert_eq!(q["consumers"], json!(["trainer"]));
    assert!(q["full_share"].as_f64().unwrap() > 0.5, "{v}");
    let stages = v["pipeline"]["stages"].as_array().unwrap();
    let loader = stages.iter().find(|s| s["name"] == "loader").unwrap();
    assert_eq!(loader["workers"], 2, "{v}");
    assert!(
        v["pipeline"]["advice"][0]
            .as_str()
            .unwrap()
            .starts_with("`trainer` (the last stage) is the bottleneck"),
        "{v}"
    );
}

/// A bad field of a file's `pipeline` object is named by its path and
/// its file, and the profile is refused (exit 2), as a bad class entry.
#[test]
fn a_bad_pipeline_field_is_named_with_its_file() {
    let d = tempdir();
    let text = r#"{"lockgraph_profile":1,"pid":7,"exe":"/bin/t","classes":[],"pipeline":{"queues":[{"name":"raw","bound":4,"sends":10,"fill_sum":30,"send":{"blocked_ns":"5","life_ns":10,"stages":["loader"]},"recv":{"blocked_ns":0,"life_ns":10,"stages":["gpu"]}}],"stages":[]}}"#;
    std::fs::write(d.path().join("lockgraph-profile-7.json"), text).unwrap();
    let o = run_in(d.path(), &["profile", "."]);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("lockgraph-profile-7.json")
            && err.contains("pipeline.queues[0].send.blocked_ns: expected an unsigned integer"),
        "{err}"
    );
}
