//! The checker never hangs, crashes or hides a finding (issue 11, items
//! 9-13): huge graphs of any shape, empty record files, FIFOs named like
//! records, long order files, baselines next to new cycles, and names that
//! would drive a terminal.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::util::*;

/// A record file of `pid` holding the edges `(from, to)` between named
/// classes, written without building JSON values (fast for 100k lines).
fn write_named_edges(dir: &Path, pid: u64, edges: impl Iterator<Item = (String, String)>) {
    let mut text = header(pid);
    text.push('\n');
    for (from, to) in edges {
        let _ = writeln!(
            text,
            r#"{{"type":"edge","from":{{"class":"name:{from}","name":"{from}","kind":"Mutex","site":null}},"to":{{"class":"name:{to}","name":"{to}","kind":"Mutex","site":null}},"hold":"exclusive","request":"exclusive","gates":[],"thread":"main","pid":{pid},"exe":"/bin/app","held_at":"src/a.rs:1:1","requested_at":"src/a.rs:2:2","backtrace":[]}}"#
        );
    }
    write_raw(dir, &format!("lockgraph-{pid}-1000.jsonl"), text);
}

/// Item 9: a 100,000-class chain used to overflow the stack (exit 134) in
/// the recursive SCC search.
#[test]
fn a_100k_class_chain_does_not_overflow_the_stack() {
    let d = tempdir();
    let n = 100_000;
    write_named_edges(
        d.path(),
        1,
        (0..n - 1).map(|i| (format!("c{i}"), format!("c{}", i + 1))),
    );
    let o = run_with_deadline(d.path(), &["check", "."], 120);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("no lock-order cycles or order violations"),
        "{}",
        stdout(&o)
    );
}

/// Item 10: one cycle through 65,536 classes took 298 s (a breadth-first
/// search from every edge). The deadline is 30 times what it takes now on
/// a loaded 2-core machine; the speed itself is measured in
/// `benches/check.rs`. (The text report used to look each edge's locks up
/// by a linear search too: 5 minutes for this cycle.)
#[test]
fn one_big_cycle_is_found_without_a_search_per_edge() {
    let d = tempdir();
    let n = 65_536;
    write_named_edges(
        d.path(),
        1,
        (0..n).map(|i| (format!("c{i}"), format!("c{}", (i + 1) % n))),
    );
    let o = run_with_deadline(d.path(), &["check", "-o", "r.txt", "."], 90);
    assert_code(&o, 1);
    let text = std::fs::read_to_string(d.path().join("r.txt")).unwrap();
    assert!(
        text.starts_with(&format!(
            "lockgraph: potential deadlock: lock-order cycle through {n} locks"
        )),
        "{}",
        &text[..200]
    );
    assert!(
        stderr(&o).contains("lockgraph: 1 lock-order cycle and 0 order violations"),
        "{}",
        stderr(&o)
    );
}

/// Item 11: an empty record file (a process killed between creating the
/// file and writing its header) is skipped with a warning, like a torn line.
#[test]
fn an_empty_record_file_is_skipped_with_a_warning() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("a", "b")]);
    write_file(d.path(), 2, &[edge("b", "a")]);
    write_raw(d.path(), "lockgraph-3-1000.jsonl", "");
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("cycle:name:a -> name:b"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o)
            .contains("lockgraph: warning: ./lockgraph-3-1000.jsonl: skipped an empty record file"),
        "{}",
        stderr(&o)
    );
    // A header torn by a full disk is the file's torn last line: skipped too.
    write_raw(d.path(), "lockgraph-3-1000.jsonl", &header(3)[..20]);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("./lockgraph-3-1000.jsonl:1: skipped a torn last line"),
        "{}",
        stderr(&o)
    );
}

/// Item 12: a baseline tolerates the cycles it lists, not every cycle of
/// their component. A <-> B baselined, then B -> C -> D -> A added.
#[test]
fn a_baseline_does_not_hide_a_new_cycle_in_the_same_component() {
    let d = tempdir();
    let rec = d.path().join("rec");
    std::fs::create_dir(&rec).unwrap();
    write_file(&rec, 1, &[edge("a", "b")]);
    write_file(&rec, 2, &[edge("b", "a")]);
    let o = run_in(d.path(), &["baseline", "rec", "-o", "baseline.json"]);
    assert_code(&o, 0);
    let o = run_in(d.path(), &["check", "--baseline", "baseline.json", "rec"]);
    assert_code(&o, 0);
    write_file(
        &rec,
        3,
        &[
            edge("b", "c").thread("t_bc"),
            edge("c", "d"),
            edge("d", "a"),
        ],
    );
    let o = run_in(d.path(), &["check", "--baseline", "baseline.json", "rec"]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("key: cycle:name:a -> name:b -> name:c -> name:d"),
        "{out}"
    );
    assert!(out.contains("thread `t_bc`"), "{out}");
    assert!(
        out.contains("this component also holds 1 baselined cycle; 3 of its 5 edges are in none"),
        "{out}"
    );
    // A baseline written now tolerates the whole component.
    let o = run_in(d.path(), &["baseline", "rec", "-o", "baseline2.json"]);
    assert_code(&o, 0);
    let o = run_in(d.path(), &["check", "--baseline", "baseline2.json", "rec"]);
    assert_code(&o, 0);
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

/// A directory named like a record file is skipped with a warning (it was
/// skipped without one).
#[test]
fn a_directory_named_like_a_record_is_skipped_with_a_warning() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("a", "b")]);
    std::fs::create_dir(d.path().join("lockgraph-9-1000.jsonl")).unwrap();
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("./lockgraph-9-1000.jsonl: skipped: a directory"),
        "{}",
        stderr(&o)
    );
}

/// Item 13: a FIFO named like a record or a profile used to block `check`
/// and `profile` forever (opening it waits for a writer).
#[cfg(unix)]
#[test]
fn fifos_named_like_records_are_skipped() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("a", "b")]);
    mkfifo(&d.path().join("lockgraph-9-1000.jsonl"));
    mkfifo(&d.path().join("lockgraph-profile-9.json"));
    let o = run_with_deadline(d.path(), &["check", "."], 60);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("./lockgraph-9-1000.jsonl: skipped: not a regular file"),
        "{}",
        stderr(&o)
    );
    let o = run_with_deadline(d.path(), &["profile", "."], 60);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("./lockgraph-profile-9.json: skipped: not a regular file"),
        "{}",
        stderr(&o)
    );
    // Named on the command line, it is an input error, not a hang.
    let o = run_with_deadline(d.path(), &["check", "lockgraph-9-1000.jsonl"], 60);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("lockgraph-9-1000.jsonl: not a regular file"),
        "{}",
        stderr(&o)
    );
}

/// Item 13: an order file of 100,000 entries used to take over 120 s (each
/// entry compared with every earlier one, and its line counted from the
/// start of the file).
#[test]
fn a_long_order_file_is_read_in_linear_time() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("e5", "e3"), edge("e7", "e90000")]);
    let mut toml = String::from("order = [\n");
    for i in 0..100_000 {
        let _ = writeln!(toml, "  \"e{i}\",");
    }
    toml.push_str("]\n");
    write_raw(d.path(), "lockorder.toml", toml);
    let o = run_with_deadline(
        d.path(),
        &[
            "check",
            "--order",
            "lockorder.toml",
            "lockgraph-1-1000.jsonl",
        ],
        60,
    );
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("key: order:name:e5 -> name:e3"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("0 lock-order cycles and 1 order violation"),
        "{}",
        stdout(&o)
    );
}

/// Item 13: names and thread names come from files anyone can write; the
/// text report must not hand their control characters to the terminal.
#[test]
fn control_characters_in_names_are_escaped_in_text_output() {
    let d = tempdir();
    let evil = "x\u{1b}[2J\u{0}\nFAKE: ok\u{7}";
    write_file(
        d.path(),
        1,
        &[edge("a", &format!("name:{evil}")).thread("t\u{1b}]0;title\u{7}")],
    );
    write_file(d.path(), 2, &[edge(&format!("name:{evil}"), "a")]);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    for bad in ['\u{1b}', '\u{0}', '\u{7}'] {
        assert!(!out.contains(bad), "raw {bad:?} in\n{out}");
    }
    assert!(
        !out.contains("\nFAKE: ok"),
        "a raw newline in a name:\n{out}"
    );
    assert!(
        out.contains(r"Mutex `x\u{1b}[2J\u{0}\nFAKE: ok\u{7}`"),
        "{out}"
    );
    assert!(out.contains(r"thread `t\u{1b}]0;title\u{7}`"), "{out}");
    // JSON keeps the exact strings (escaped as JSON).
    let o = run_in(d.path(), &["check", "--format", "json", "."]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["cycles"][0]["locks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert!(names.contains(&evil), "{names:?}");
}

/// A baseline's every parse error names the file, the 1-based line and
/// column, the field and what is wrong (an empty file read "1:0"); a
/// byte-order mark is no error.
#[test]
fn a_bad_baseline_names_its_line_column_and_field() {
    let d = tempdir();
    let rec = d.path().join("rec");
    std::fs::create_dir(&rec).unwrap();
    write_file(&rec, 1, &[edge("a", "b")]);
    write_file(&rec, 2, &[edge("b", "a")]);
    let o = run_in(d.path(), &["baseline", "rec", "-o", "good.json"]);
    assert_code(&o, 0);
    let good = std::fs::read_to_string(d.path().join("good.json")).unwrap();
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend_from_slice(good.as_bytes());
    write_raw(d.path(), "bom.json", bom);
    let o = run_in(d.path(), &["check", "--baseline", "bom.json", "rec"]);
    assert_code(&o, 0);

    let cut = &good[..good.find("\"locks\"").unwrap()];
    let wrong = good.replacen("\"name:a\",", "7,", 1);
    let wrong_line = wrong.lines().position(|l| l.contains('7')).unwrap() + 1;
    let wrong_col = wrong
        .lines()
        .nth(wrong_line - 1)
        .unwrap()
        .find('7')
        .unwrap()
        + 1;
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "empty.json",
            Vec::new(),
            "empty.json:1:1: invalid baseline: the file is empty: a baseline is a JSON object, \
             as `lockgraph baseline` writes it"
                .into(),
        ),
        (
            "cut.json",
            cut.as_bytes().to_vec(),
            format!(
                "cut.json:{}:{}: invalid baseline: not JSON: the file ends early: EOF while \
                 parsing an object (at `cycles`)",
                cut.lines().count(),
                cut.lines().last().unwrap().chars().count() + 1
            ),
        ),
        (
            "wrong.json",
            wrong.into_bytes(),
            format!(
                "wrong.json:{wrong_line}:{wrong_col}: invalid baseline: invalid type: integer `7`, \
                 expected a class key (a string) or a run of locks (`{{\"class\": ..., \"count\": \
                 2}}`) (at `cycles[0].locks[0]`)"
            ),
        ),
        (
            "order.toml",
            b"order = [\"a\", \"b\"]\n".to_vec(),
            "order.toml:1:1: invalid baseline: not JSON: expected value".into(),
        ),
        (
            "bom-v2.json",
            b"\xef\xbb\xbf{\n  \"lockgraph_baseline\": 2\n}\n".to_vec(),
            "bom-v2.json:2:25: invalid baseline: unsupported baseline version 2 (this lockgraph \
             reads version 1) (at `lockgraph_baseline`)"
                .into(),
        ),
        (
            "binary.json",
            b"{\"lockgraph_baseline\": 1,\n \"x\": \"\x89PNG\"}".to_vec(),
            "binary.json:2:8: invalid baseline: not UTF-8 text: byte 0x89 is not part of a UTF-8 \
             character"
                .into(),
        ),
    ];
    for (name, bytes, want) in cases {
        write_raw(d.path(), name, bytes);
        let o = run_in(d.path(), &["check", "--baseline", name, "rec"]);
        assert_code(&o, 2);
        assert_eq!(stderr(&o), format!("lockgraph: error: {want}\n"), "{name}");
    }
}

/// Two locks of no class (`anon:<pid>:<id>`) taken in both orders, at
/// `place` (sites `<place>:<line>:<col>`), in process `pid`.
fn anonymous_cycle(pid: u64, ids: (u64, u64), place: &str) -> Vec<Edge> {
    let (a, b) = (
        format!("anon:{pid}:{}", ids.0),
        format!("anon:{pid}:{}", ids.1),
    );
    vec![
        edge(&a, &b).sites(&format!("{place}:10:5"), &format!("{place}:11:9")),
        edge(&b, &a)
            .sites(&format!("{place}:20:5"), &format!("{place}:21:9"))
            .thread("t2"),
    ]
}

/// Records cannot tell anonymous locks apart (no name, no creation site;
/// where they were first taken depends on which thread got there first), so
/// every two-lock cycle of them has the key `cycle:anon -> anon` and a
/// baseline of one tolerates another. Both `baseline` and `check` say so
/// whenever such an entry is written or tolerates something.
#[test]
fn a_baseline_entry_of_anonymous_locks_is_said_to_tolerate_any_such_cycle() {
    let d = tempdir();
    let dir = |name: &str| {
        let p = d.path().join(name);
        std::fs::create_dir(&p).unwrap();
        p
    };
    let (first, other) = (dir("first"), dir("other"));
    write_file(&first, 10, &anonymous_cycle(10, (1, 2), "src/pool.rs"));
    let o = run_in(d.path(), &["baseline", "first", "-o", "baseline.json"]);
    assert_code(&o, 0);
    let warned = "baseline entry `cycle:anon -> anon` names anonymous locks (`anon`: made \
                  through lock_api's INIT, with no name and no creation site): records cannot \
                  tell such locks apart, so it tolerates every such finding";
    assert!(stderr(&o).contains(warned), "{}", stderr(&o));
    // Another cycle of two other anonymous locks: tolerated, and said.
    write_file(&other, 11, &anonymous_cycle(11, (1, 2), "src/cache.rs"));
    let o = run_in(d.path(), &["check", "--baseline", "baseline.json", "other"]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains(&format!("baseline.json: {warned}")),
        "{}",
        stderr(&o)
    );
    // A baseline whose anonymous entry tolerates nothing is not warned about.
    let named = dir("named");
    write_file(
        &named,
        12,
        &[
            edge("name:a", "name:b"),
            edge("name:b", "name:a").thread("t2"),
        ],
    );
    let o = run_in(d.path(), &["check", "--baseline", "baseline.json", "named"]);
    assert_code(&o, 1);
    assert!(
        !stderr(&o).contains("names anonymous locks"),
        "{}",
        stderr(&o)
    );
}

/// An entry naming anonymous locks is found again only where the records
/// hold a cycle through anonymous classes in its shape (each `anon` one
/// class, and the cycle closing on the class it started from), as entries of
/// named locks are found by their cycle's edges: a lone edge between two
/// anonymous locks, or edges into and out of a named lock from two
/// different anonymous ones, are no such cycle, and leave the entry listed
/// as no longer found (and not warned about).
#[test]
fn an_anonymous_entry_is_stale_without_a_cycle_of_its_shape() {
    let d = tempdir();
    let baseline = |name: &str, entries: &[(&str, &[&str])]| {
        let cycles: Vec<Value> = entries
            .iter()
            .map(|(key, locks)| serde_json::json!({ "key": key, "locks": locks }))
            .collect();
        let text = serde_json::json!({ "lockgraph_baseline": 1, "cycles": cycles });
        std::fs::write(d.path().join(name), text.to_string()).unwrap();
    };
    baseline("two.json", &[("cycle:anon -> anon", &["anon", "anon"])]);
    baseline(
        "mixed.json",
        &[("cycle:anon -> name:a", &["anon", "name:a"])],
    );
    baseline(
        "three.json",
        &[("cycle:anon -> anon -> anon", &["anon", "anon", "anon"])],
    );
    let check = |records: &[Edge], baseline: &str| {
        let dir = d.path().join("rec");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        write_file(&dir, 20, records);
        let o = run_in(
            d.path(),
            &["check", "--format", "json", "--baseline", baseline, "rec"],
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let warned = stderr(&o).contains("names anonymous locks");
        (o.status.code(), v["baseline"].clone(), warned)
    };
    let stale = |key: &str| serde_json::json!({ "stale": [key] });
    let a = |i: u32| format!("anon:20:{i}");
    for (what, records, file, key) in [
        (
            "one edge between two anonymous locks",
            vec![edge(&a(1), &a(2))],
            "two.json",
            "cycle:anon -> anon",
        ),
        (
            "a chain of anonymous locks",
            vec![edge(&a(1), &a(2)), edge(&a(2), &a(3))],
            "two.json",
            "cycle:anon -> anon",
        ),
        (
            "a named lock between two different anonymous ones",
            vec![edge(&a(1), "a"), edge("a", &a(2))],
            "mixed.json",
            "cycle:anon -> name:a",
        ),
        (
            "a chain of three anonymous locks",
            vec![edge(&a(1), &a(2)), edge(&a(2), &a(3)), edge(&a(3), &a(4))],
            "three.json",
            "cycle:anon -> anon -> anon",
        ),
    ] {
        let (code, b, warned) = check(&records, file);
        assert_eq!(code, Some(0), "{what}: {b}");
        assert_eq!(b["cycles"], 0, "{what}: {b}");
        assert_eq!(b["stale"], stale(key)["stale"], "{what}: {b}");
        assert!(!warned, "{what}");
    }
    // Cycles of that shape: found again, and warned about.
    let cycle = |ids: &[String]| -> Vec<Edge> {
        (0..ids.len())
            .map(|i| edge(&ids[i], &ids[(i + 1) % ids.len()]).thread(&format!("t{i}")))
            .collect()
    };
    for (what, mut records, file) in [
        ("two anonymous locks", cycle(&[a(1), a(2)]), "two.json"),
        (
            "an anonymous lock and a named one",
            cycle(&[a(3), "a".into()]),
            "mixed.json",
        ),
        (
            "three anonymous locks",
            cycle(&[a(1), a(2), a(3)]),
            "three.json",
        ),
    ] {
        // Beside edges that match the entry edge by edge but close nothing.
        records.extend([edge(&a(7), &a(8)), edge(&a(8), "a"), edge("a", &a(9))]);
        let (code, b, warned) = check(&records, file);
        assert_eq!(code, Some(0), "{what}: {b}");
        assert_eq!(b["cycles"], 1, "{what}: {b}");
        assert_eq!(b["stale"], serde_json::json!([]), "{what}: {b}");
        assert!(warned, "{what}");
    }
}

/// Names wider than a format width may be (65,535 characters) panicked the
/// text and html reports (`Formatting argument out of range`), losing the
/// report: the table cuts them with an ellipsis, the lines above it and
/// the JSON keep them whole.
#[test]
fn names_over_65535_characters_are_cut_in_the_table_not_a_panic() {
    let d = tempdir();
    let long = "L".repeat(70_000);
    // 12,000 ESC characters escape to 72,000 columns.
    let esc = "\u{1b}".repeat(12_000);
    let thread = "T".repeat(70_000);
    write_file(
        d.path(),
        1,
        &[edge("a", &format!("name:{long}")).thread(&thread)],
    );
    write_file(d.path(), 2, &[edge(&format!("name:{long}"), "a")]);
    write_file(d.path(), 3, &[edge("b", &format!("name:{esc}"))]);
    write_file(d.path(), 4, &[edge(&format!("name:{esc}"), "b")]);
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("2 lock-order cycles"), "{}", stderr(&o));
    // Whole in the prose, cut in the table.
    assert!(out.contains(&format!("`{long}`")));
    assert!(out.contains(&format!("thread `{thread}` held")));
    let cut = format!("`{}…`", "L".repeat(39));
    assert!(out.contains(&format!("holds L1 {cut}")), "no {cut:?}");
    assert!(out.contains(&format!("thread `{}…`", "T".repeat(39))));
    assert!(out.contains(r"`\u{1b}\u{1b}"));
    let table_lines = out
        .lines()
        .skip_while(|l| !l.contains("how it deadlocks"))
        .take(4);
    for l in table_lines {
        assert!(l.chars().count() < 200, "a table line of {}", l.len());
    }
    // The html report is written whole too.
    let o = run_in(
        d.path(),
        &["check", "--format", "html", "-o", "r.html", "."],
    );
    assert_code(&o, 1);
    let html = std::fs::read_to_string(d.path().join("r.html")).unwrap();
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains(&long));
}
