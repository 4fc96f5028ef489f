//! Merge, cycle, order and baseline logic on synthetic records, through the
//! library.

use std::path::Path;

use lockgraph_cli::{check, make_baseline, CheckOptions, Report, Rule};

use crate::util::*;

fn check_dir(dir: &Path) -> Report {
    check(&CheckOptions::new(vec![dir.to_path_buf()])).unwrap()
}

/// The report as `check`'s text output.
fn text_of(r: &Report) -> String {
    let mut text = Vec::new();
    lockgraph_cli::Format::Text.write(r, &mut text).unwrap();
    String::from_utf8(text).unwrap()
}

fn keys(r: &Report) -> Vec<&str> {
    r.cycles().iter().map(|c| c.key.as_str()).collect()
}

/// At most this many distinct origins are kept per edge (docs/ci.md).
const ORIGIN_CAP: usize = 8;

#[test]
fn a_cycle_split_over_processes_is_found_with_every_origin() {
    let d = tempdir();
    write_file(d.path(), 11, &[edge("a", "b").thread("t_ab")]);
    write_file(d.path(), 12, &[edge("b", "c").thread("t_bc")]);
    write_file(d.path(), 13, &[edge("c", "a").thread("t_ca")]);
    let r = check_dir(d.path());
    assert_eq!(keys(&r), vec!["cycle:name:a -> name:b -> name:c"]);
    assert_eq!(r.exit_code(), 1);
    let c = &r.cycles()[0];
    assert!(c.exact());
    let ids: Vec<String> = c.locks.iter().map(|l| l.id.to_string()).collect();
    assert_eq!(ids, ["L1", "L2", "L3"]);
    let threads: Vec<(&str, u64)> = c
        .edges
        .iter()
        .map(|e| (&*e.origins[0].thread, e.origins[0].pid))
        .collect();
    assert_eq!(threads, [("t_ab", 11), ("t_bc", 12), ("t_ca", 13)]);
    // The last edge, back to L1, closes the cycle.
    let closing: Vec<bool> = c.edges.iter().map(|e| e.closes_cycle).collect();
    assert_eq!(closing, [false, false, true]);
    assert_eq!(c.edges[2].from, "L3");
    assert_eq!(c.edges[2].to, "L1");
    assert_eq!(
        c.edges[0].origins[0].held_at.as_deref(),
        Some("src/name_a.rs:10:5")
    );
    assert_eq!(r.summary.files, 3);
    assert_eq!(r.summary.processes, 3);
    assert_eq!(r.summary.recordings, 3);
}

#[test]
fn an_acyclic_graph_is_clean() {
    let d = tempdir();
    write_file(
        d.path(),
        1,
        &[edge("a", "b"), edge("b", "c"), edge("a", "c")],
    );
    write_file(d.path(), 2, &[edge("a", "b"), edge("c", "d")]);
    let r = check_dir(d.path());
    assert!(r.cycles().is_empty());
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.summary.edges, 4);
    assert_eq!(r.summary.recordings, 5);
}

#[test]
fn a_common_gate_inside_one_process_suppresses_the_cycle() {
    let d = tempdir();
    write_file(
        d.path(),
        7,
        &[
            edge("a", "b").gates(&["7:1", "7:2"]),
            edge("b", "a").gates(&["7:1"]),
        ],
    );
    assert!(check_dir(d.path()).cycles().is_empty());
    // The same gate id in another process is another lock: a cycle.
    let d = tempdir();
    write_file(d.path(), 7, &[edge("a", "b").gates(&["7:1"])]);
    write_file(d.path(), 8, &[edge("b", "a").gates(&["8:1"])]);
    assert_eq!(check_dir(d.path()).cycles().len(), 1);
    // One recording without the gate is enough to lose it (gates intersect).
    let d = tempdir();
    write_file(
        d.path(),
        7,
        &[
            edge("a", "b").gates(&["7:1"]),
            edge("b", "a").gates(&["7:1"]),
        ],
    );
    write_file(d.path(), 9, &[edge("a", "b")]);
    assert_eq!(check_dir(d.path()).cycles().len(), 1);
}

/// A gate's mode follows its string (`:read`, `:upgradable`, none for an
/// exclusive hold): a write and a read of one gate serialise two edges,
/// two reads or an upgradable read and a read do not, and an edge
/// recorded under the write and under the read keeps the read.
#[test]
fn a_gate_held_for_write_and_for_read_suppresses_the_cycle_two_reads_do_not() {
    let cycles_with = |ab: &[&str], ba: &[&str]| {
        let d = tempdir();
        write_file(
            d.path(),
            7,
            &[edge("a", "b").gates(ab), edge("b", "a").gates(ba)],
        );
        check_dir(d.path()).cycles().len()
    };
    assert_eq!(cycles_with(&["7:1"], &["7:1:read"]), 0);
    assert_eq!(cycles_with(&["7:1:upgradable"], &["7:1"]), 0);
    assert_eq!(cycles_with(&["7:1:upgradable"], &["7:1:upgradable"]), 0);
    assert_eq!(cycles_with(&["7:1:read"], &["7:1:read"]), 1);
    assert_eq!(cycles_with(&["7:1:upgradable"], &["7:1:read"]), 1);
    // Another process's read of "the same" gate is another lock.
    let d = tempdir();
    write_file(d.path(), 7, &[edge("a", "b").gates(&["7:1"])]);
    write_file(d.path(), 8, &[edge("b", "a").gates(&["7:1:read"])]);
    assert_eq!(check_dir(d.path()).cycles().len(), 1);
    // The write's edge recorded again under a read: the read is kept.
    let d = tempdir();
    write_file(
        d.path(),
        7,
        &[
            edge("a", "b").gates(&["7:1"]),
            edge("b", "a").gates(&["7:1:read"]),
            edge("a", "b").gates(&["7:1:read"]),
        ],
    );
    assert_eq!(check_dir(d.path()).cycles().len(), 1);
    // A file of format version 1 (gates without modes) is read as before.
    let d = tempdir();
    let text = file_text(
        7,
        &[
            edge("a", "b").gates(&["7:1"]),
            edge("b", "a").gates(&["7:1"]),
        ],
    );
    let v1 = text.replacen(&header(7), &header_of_version(7, 1), 1);
    assert!(
        v1.starts_with("{\"") && v1.contains("\"lockgraph_record\":1"),
        "{v1}"
    );
    write_raw(d.path(), "lockgraph-7-1000.jsonl", v1);
    assert!(check_dir(d.path()).cycles().is_empty());
}

/// A gate held on two of a cycle's edges serialises their two threads
/// even when the third edge lacks it; the runtime's rule
/// (`lockgraph_graph::gates`).
#[test]
fn a_gate_on_two_of_the_edges_suppresses_the_cycle() {
    let d = tempdir();
    write_file(
        d.path(),
        7,
        &[
            edge("a", "b").gates(&["7:1"]),
            edge("b", "c").gates(&["7:1"]),
            edge("c", "a").gates(&["7:2"]),
        ],
    );
    assert!(check_dir(d.path()).cycles().is_empty());
    // With the gate on one edge only, each thread holds its own: a cycle.
    let d = tempdir();
    write_file(
        d.path(),
        7,
        &[
            edge("a", "b").gates(&["7:1"]),
            edge("b", "c").gates(&["7:3"]),
            edge("c", "a").gates(&["7:2"]),
        ],
    );
    assert_eq!(check_dir(d.path()).cycles().len(), 1);
}

/// Gates are told apart by the file (the process) that recorded them: two
/// processes with the same pid (reused, or on two machines) hold different
/// locks under the same `"<pid>:<id>"`, and a cycle gated "twice" across
/// them is real.
#[test]
fn the_same_gate_text_in_two_files_is_two_locks() {
    let d = tempdir();
    write_raw(
        d.path(),
        "lockgraph-20-1000.jsonl",
        file_text(20, &[edge("a", "b").gates(&["20:3"])]),
    );
    write_raw(
        d.path(),
        "lockgraph-20-2000.jsonl",
        file_text(20, &[edge("b", "c").gates(&["20:3"])]),
    );
    write_file(d.path(), 31, &[edge("c", "a")]);
    assert_eq!(check_dir(d.path()).cycles().len(), 1);
    // Within one file the gate is one lock: no cycle.
    let d = tempdir();
    write_file(
        d.path(),
        20,
        &[
            edge("a", "b").gates(&["20:3"]),
            edge("b", "c").gates(&["20:3"]),
        ],
    );
    write_file(d.path(), 31, &[edge("c", "a")]);
    assert!(check_dir(d.path()).cycles().is_empty());
}

/// Every way back to `s` ends with an edge under gate `7:1`, as `t -> x`
/// is: no cycle can deadlock. The 24 layers between `x` and `z`, two ways
/// each under a gate of its own, would make 2^24 gate sets for the exact
/// search; a gate on one edge only is not tracked, so the check proves
/// there is no cycle within its budget.
#[test]
fn gates_of_one_edge_each_do_not_multiply_the_exact_search() {
    let d = tempdir();
    let mut edges = vec![
        edge("s", "t"),
        edge("t", "x0").gates(&["7:1"]),
        edge("x0", "y"),
        edge("y", "s").gates(&["7:1"]),
    ];
    for i in 0..24 {
        let (x, u, v, next) = (
            format!("x{i}"),
            format!("u{i}"),
            format!("v{i}"),
            format!("x{}", i + 1),
        );
        edges.push(edge(&x, &u).gates(&[&format!("7:{}", 100 + 2 * i)]));
        edges.push(edge(&x, &v).gates(&[&format!("7:{}", 101 + 2 * i)]));
        edges.push(edge(&u, &next));
        edges.push(edge(&v, &next));
    }
    edges.push(edge("x24", "s").gates(&["7:1"]));
    write_file(d.path(), 7, &edges);
    let started = std::time::Instant::now();
    let r = check_dir(d.path());
    assert!(r.cycles().is_empty(), "{:?}", r.cycles());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// `a -> b` and `b -> a` under one gate, `b -> c` and `c -> b` under
/// another: the walk `c b a b` has no gate common to all its edges, but
/// each gate is held on two of them: no cycle. An ungated `a -> b` from
/// another process makes `a b` real.
#[test]
fn a_walk_through_one_class_twice_under_two_gates_is_no_cycle() {
    let d = tempdir();
    write_file(
        d.path(),
        7,
        &[
            edge("a", "b").gates(&["7:1"]),
            edge("b", "a").gates(&["7:1"]),
            edge("b", "c").gates(&["7:2"]),
            edge("c", "b").gates(&["7:2"]),
        ],
    );
    let r = check_dir(d.path());
    assert!(r.cycles().is_empty(), "{:?}", r.cycles());
    assert_eq!(r.exit_code(), 0);
    write_file(d.path(), 8, &[edge("a", "b")]);
    assert_eq!(check_dir(d.path()).cycles().len(), 1);
}

#[test]
fn read_locks_follow_the_strong_path_rule() {
    // Recursive reads from shared holds never wait for each other.
    let d = tempdir();
    write_file(
        d.path(),
        1,
        &[edge("a", "b").modes("shared", "recursive_read")],
    );
    write_file(
        d.path(),
        2,
        &[edge("b", "a").modes("shared", "recursive_read")],
    );
    assert!(check_dir(d.path()).cycles().is_empty());
    // Holding b exclusively, the reader of b waits on a writer: a deadlock.
    write_file(d.path(), 3, &[edge("b", "a").modes("exclusive", "read")]);
    let r = check_dir(d.path());
    assert_eq!(r.cycles().len(), 1);
    // The kinds accumulated on the merged edge.
    let c = &r.cycles()[0];
    let back = c.edges.iter().find(|e| e.from == "L2").unwrap();
    assert_eq!(back.kinds.names(), ["EP", "SR"]);
    assert_eq!(back.recordings, 2);
}

/// A file of process `pid` in format version `version`.
fn write_file_of_version(dir: &Path, pid: u64, version: u64, edges: &[Edge]) {
    let text = file_text(pid, edges);
    let old = text.replacen(&header(pid), &header_of_version(pid, version), 1);
    assert!(
        old.contains(&format!("\"lockgraph_record\":{version}")),
        "{old}"
    );
    write_raw(dir, &format!("lockgraph-{pid}-1000.jsonl"), old);
}

/// A plain read never waits for an upgradable read (format version 3's
/// `upgradable` hold): `upgradable_read(a); lock(b)` against `lock(b);
/// read(a)` is no cycle; against an upgradable read or a write of `a`
/// under `b` it is one.
#[test]
fn a_plain_read_against_an_upgradable_hold_is_no_cycle() {
    let d = tempdir();
    write_file(
        d.path(),
        1,
        &[edge("a", "b").modes("upgradable", "exclusive")],
    );
    write_file(d.path(), 2, &[edge("b", "a").modes("exclusive", "read")]);
    let r = check_dir(d.path());
    assert!(r.cycles().is_empty(), "{:?}", r.cycles());
    assert_eq!(r.exit_code(), 0);
    // A recursive read does not wait for it either.
    write_file(
        d.path(),
        3,
        &[edge("b", "a").modes("shared", "recursive_read")],
    );
    assert!(check_dir(d.path()).cycles().is_empty());
    // An exclusive request (an upgradable read, a write) waits for it.
    write_file(
        d.path(),
        4,
        &[edge("b", "a").modes("exclusive", "exclusive")],
    );
    let r = check_dir(d.path());
    assert_eq!(r.cycles().len(), 1);
    let c = &r.cycles()[0];
    let out = c.edges.iter().find(|e| e.from == "L1").unwrap();
    assert_eq!(out.kinds.names(), ["UN"]);
    // The text names the hold (`a` is an RwLock of a site class).
    let text = text_of(&r);
    assert!(text.contains("for an upgradable read (taken at"), "{text}");
    // A read against a plain read hold still waits (behind a queued writer).
    let d = tempdir();
    write_file(d.path(), 1, &[edge("a", "b").modes("shared", "exclusive")]);
    write_file(d.path(), 2, &[edge("b", "a").modes("exclusive", "read")]);
    assert_eq!(check_dir(d.path()).cycles().len(), 1);
}

/// Before format version 3 an upgradable read was written as a `shared`
/// hold, so a `read` request of such a file is read as one that waits for
/// every hold: its findings stay, and it still meets a newer file's
/// upgradable hold.
#[test]
fn an_older_records_read_request_keeps_its_meaning() {
    for version in [1, 2] {
        let d = tempdir();
        let ab = [edge("a", "b").modes("shared", "exclusive")];
        write_file_of_version(d.path(), 1, version, &ab);
        let ba = [edge("b", "a").modes("exclusive", "read")];
        write_file_of_version(d.path(), 2, version, &ba);
        let r = check_dir(d.path());
        assert_eq!(r.cycles().len(), 1, "version {version}");
        let back = r.cycles()[0].edges.iter().find(|e| e.from == "L2").unwrap();
        assert_eq!(back.kinds.names(), ["EN"]);
        // Against a newer file's upgradable hold too.
        let d = tempdir();
        write_file(
            d.path(),
            1,
            &[edge("a", "b").modes("upgradable", "exclusive")],
        );
        write_file_of_version(d.path(), 2, version, &ba);
        assert_eq!(check_dir(d.path()).cycles().len(), 1, "version {version}");
    }
}

#[test]
fn each_component_reports_its_shortest_cycle() {
    let d = tempdir();
    // {a, b, c}: a -> b -> c -> a and b -> a; the shortest is a <-> b.
    write_file(
        d.path(),
        1,
        &[
            edge("a", "b"),
            edge("b", "c"),
            edge("c", "a"),
            edge("b", "a"),
        ],
    );
    // {x, y} on its own.
    write_file(d.path(), 2, &[edge("x", "y"), edge("y", "x")]);
    let r = check_dir(d.path());
    assert_eq!(
        keys(&r),
        vec!["cycle:name:a -> name:b", "cycle:name:x -> name:y"]
    );
}

#[test]
fn same_class_edges_and_unknown_types_are_ignored() {
    let d = tempdir();
    let mut text = file_text(1, &[edge("a", "a"), edge("a", "b")]);
    text.push_str("{\"type\":\"future_kind\",\"payload\":[1,2,3]}\n");
    write_raw(d.path(), "x.jsonl", text);
    let r = check_dir(d.path());
    assert_eq!(r.summary.edges, 1);
    assert_eq!(r.summary.recordings, 1);
}

#[test]
fn origins_are_capped_but_every_recording_counts() {
    let d = tempdir();
    for pid in 0..20 {
        write_file(
            d.path(),
            100 + pid,
            &[edge("a", "b").thread(&format!("t{pid}"))],
        );
    }
    // The same origin twice in one process counts twice but shows once.
    write_file(d.path(), 200, &[edge("b", "a"), edge("b", "a")]);
    let r = check_dir(d.path());
    let c = &r.cycles()[0];
    assert_eq!(c.edges[0].origins.len(), ORIGIN_CAP);
    assert_eq!(c.edges[0].recordings, 20);
    assert_eq!(c.edges[1].origins.len(), 1);
    assert_eq!(c.edges[1].recordings, 2);
}

#[test]
fn the_number_of_threads_does_not_change_the_report() {
    let d = tempdir();
    for pid in 0..9u64 {
        let n = |i: u64| format!("l{}", (pid + i) % 6);
        write_file(
            d.path(),
            pid + 1,
            &[
                edge(&n(0), &n(1)).thread(&format!("t{pid}")),
                edge(&n(1), &n(2)).gates(&[&format!("{}:1", pid + 1)]),
            ],
        );
    }
    let one = check(&CheckOptions::new(vec![d.path().to_path_buf()]).threads(1)).unwrap();
    let two = check(&CheckOptions::new(vec![d.path().to_path_buf()]).threads(2)).unwrap();
    let four = check(&CheckOptions::new(vec![d.path().to_path_buf()]).threads(4)).unwrap();
    let v = |r: &Report| serde_json::to_value(r).unwrap();
    assert!(!one.cycles().is_empty());
    assert_eq!(v(&one), v(&two));
    assert_eq!(v(&one), v(&four));
}

#[test]
fn keys_come_from_class_ids_not_from_runs() {
    let run = |pid_base: u64| {
        let d = tempdir();
        write_file(d.path(), pid_base, &[edge("site:src/m.rs:3:9", "name:z")]);
        write_file(
            d.path(),
            pid_base + 1,
            &[edge("name:z", "site:src/m.rs:3:9").thread(&format!("t{pid_base}"))],
        );
        let r = check_dir(d.path());
        (r.cycles()[0].key.clone(), r.cycles()[0].fingerprint.clone())
    };
    let (k1, f1) = run(100);
    let (k2, f2) = run(5000);
    assert_eq!(k1, "cycle:name:z -> site:src/m.rs:3:9");
    assert_eq!((k1, f1), (k2, f2));
    // Anonymous classes, which embed a pid, read `anon`.
    let d = tempdir();
    write_file(d.path(), 4, &[edge("anon:4:1", "a"), edge("a", "anon:4:1")]);
    assert_eq!(keys(&check_dir(d.path())), vec!["cycle:anon -> name:a"]);
}

#[test]
fn a_torn_last_line_is_skipped_with_a_warning() {
    let d = tempdir();
    let full = file_text(1, &[edge("a", "b")]);
    let torn = edge("b", "a").line();
    write_raw(
        d.path(),
        "t.jsonl",
        format!("{full}{}", &torn[..torn.len() / 2]),
    );
    let r = check_dir(d.path());
    assert!(r.cycles().is_empty(), "the torn b -> a must not count");
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0].contains("t.jsonl:3: skipped a torn last line"),
        "{:?}",
        r.warnings
    );
}

#[test]
fn order_violations_fail_without_a_cycle() {
    let d = tempdir();
    write_file(
        d.path(),
        1,
        &[
            edge("model_lock", "cache_lock"),
            edge("metrics_lock", "model_lock").thread("reloader"),
            edge("site:src/db/pool.rs:4:1", "cache_lock"),
        ],
    );
    let order = d.path().join("lockorder.toml");
    std::fs::write(
        &order,
        "order = [\"model_lock\", \"cache_lock\", \"metrics_lock\"]\n\
         [[chain]]\norder = [\"cache_*\", \"site:src/db/*\"]\n",
    )
    .unwrap();
    let r = check(&CheckOptions::new(vec![d.path().to_path_buf()]).order(Some(order))).unwrap();
    assert!(r.cycles().is_empty());
    assert_eq!(r.exit_code(), 1);
    let keys: Vec<&str> = r.violations().iter().map(|v| v.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "order:name:metrics_lock -> name:model_lock",
            "order:site:src/db/pool.rs:4:1 -> name:cache_lock"
        ]
    );
    let v = r.violations()[0].order().unwrap().clone();
    assert_eq!(
        (v.chain, v.from_entry.as_str(), v.to_entry.as_str()),
        (1, "metrics_lock", "model_lock")
    );
    assert_eq!(&*r.violations()[0].edges[0].origins[0].thread, "reloader");
    let v = r.violations()[1].order().unwrap().clone();
    assert_eq!(
        (v.chain, v.from_entry.as_str(), v.to_entry.as_str()),
        (2, "site:src/db/*", "cache_*")
    );
}

#[test]
fn order_entries_match_names_ids_and_globs_and_warn_when_unused() {
    let d = tempdir();
    write_file(
        d.path(),
        1,
        &[
            edge("b_lock", "a_lock"),
            edge("site:src/x.rs:1:1", "a_lock"),
            edge("site:src/y.rs:5:28:u64", "site:src/y.rs:4:28:app::Cache"),
        ],
    );
    let order = d.path().join("o.toml");
    for (text, violations) in [
        // A `new` lock's class id ends in its type; written without it,
        // the entry still names the lock by the line that makes it.
        (
            "order = [\"site:src/y.rs:4:28\", \"site:src/y.rs:5:28\"]",
            1,
        ),
        (
            "order = [\"site:src/y.rs:4:28:app::Cache\", \"site:src/y.rs:5:28:u64\"]",
            1,
        ),
        (
            "order = [\"site:src/y.rs:5:28\", \"site:src/y.rs:4:28\"]",
            0,
        ),
        ("order = [\"site:src/y.rs:4:2\", \"site:src/y.rs:5:2\"]", 0),
        ("order = [\"a_lock\", \"b_lock\"]", 1),
        ("order = [\"name:a_lock\", \"name:b_lock\"]", 1),
        ("order = [\"a_?ock\", \"b*\"]", 1),
        ("order = [\"a_lock\", \"site:src/*\"]", 1),
        ("order = [\"*\", \"a_lock\"]", 0),
        ("order = [\"b_lock\", \"a_lock\"]", 0),
    ] {
        std::fs::write(&order, text).unwrap();
        let r = check(
            &CheckOptions::new(vec![d.path().join("lockgraph-1-1000.jsonl")])
                .order(Some(order.clone())),
        )
        .unwrap();
        assert_eq!(r.violations().len(), violations, "{text}");
    }
    std::fs::write(&order, "order = [\"a_lock\", \"nothing_like_this\"]\n").unwrap();
    let r =
        check(&CheckOptions::new(vec![d.path().to_path_buf()]).order(Some(order.clone()))).unwrap();
    assert!(
        r.warnings.iter().any(|w| w
            .contains("o.toml:1: order entry `nothing_like_this` matches no recorded lock class")),
        "{:?}",
        r.warnings
    );
    // An order of 500 classes, 499 of them not in these records: ten are
    // named, the rest counted in one line (each had a line).
    let entries: Vec<String> = (0..499).map(|i| format!("\"unseen_{i}\"")).collect();
    std::fs::write(
        &order,
        format!("order = [\"a_lock\", {}]\n", entries.join(", ")),
    )
    .unwrap();
    let r = check(&CheckOptions::new(vec![d.path().to_path_buf()]).order(Some(order))).unwrap();
    let unmatched = |w: &&String| w.contains("matches no recorded lock class");
    assert_eq!(
        r.warnings.iter().filter(unmatched).count(),
        10,
        "{:?}",
        r.warnings
    );
    assert!(
        r.warnings.iter().any(|w| w.ends_with(
            "o.toml: 489 more order entries match no recorded lock class (the first 10 are named above)"
        )),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_baseline_tolerates_known_findings_only() {
    let d = tempdir();
    let records = d.path().join("records");
    std::fs::create_dir(&records).unwrap();
    write_file(&records, 1, &[edge("a", "b"), edge("c", "d")]);
    write_file(&records, 2, &[edge("b", "a"), edge("d", "c")]);
    let order = d.path().join("o.toml");
    std::fs::write(&order, "order = [\"a\", \"b\"]").unwrap();
    let opts = CheckOptions::new(vec![records.clone()]).order(Some(order.clone()));
    let (baseline, _) = make_baseline(&opts).unwrap();
    assert_eq!(baseline.of_rule(Rule::Cycle).count(), 2);
    assert_eq!(baseline.of_rule(Rule::OrderViolation).count(), 1);
    let path = d.path().join("baseline.json");
    std::fs::write(&path, baseline.to_json()).unwrap();
    let with = opts.clone().baseline(Some(path.clone()));
    let r = check(&with).unwrap();
    assert_eq!(r.exit_code(), 0);
    let b = r.baseline.as_ref().unwrap();
    assert_eq!((b.cycles, b.violations), (2, 1));
    assert!(b.stale.is_empty());
    // A new cycle fails, alone; the fixed c <-> d becomes a stale entry.
    std::fs::remove_file(records.join("lockgraph-2-1000.jsonl")).unwrap();
    write_file(
        &records,
        3,
        &[edge("b", "a"), edge("x", "y"), edge("y", "x")],
    );
    let r = check(&with).unwrap();
    assert_eq!(r.exit_code(), 1);
    assert_eq!(keys(&r), ["cycle:name:x -> name:y"]);
    assert_eq!(
        r.baseline.as_ref().unwrap().stale,
        ["cycle:name:c -> name:d"]
    );
    assert!(
        r.summary_line()
            .contains("1 cycle and 1 violation baselined"),
        "{}",
        r.summary_line()
    );
}

/// An outside CI test's finding: two comment lines above two `new` locks'
/// constructors gave the baselined cycle through them new class ids; it
/// failed as new with nothing that said why. It still fails (the key is
/// exact), and says which entry it was.
#[test]
fn a_cycle_whose_locks_moved_names_its_old_baseline_entry() {
    let d = tempdir();
    let records = d.path().join("records");
    std::fs::create_dir(&records).unwrap();
    let (a, b) = ("site:src/lib.rs:4:28:u32", "site:src/lib.rs:5:28:u64");
    write_file(&records, 1, &[edge(a, b)]);
    write_file(&records, 2, &[edge(b, a)]);
    let opts = CheckOptions::new(vec![records.clone()]);
    let (baseline, _) = make_baseline(&opts).unwrap();
    let path = d.path().join("baseline.json");
    std::fs::write(&path, baseline.to_json()).unwrap();
    let with = opts.clone().baseline(Some(path));
    assert_eq!(check(&with).unwrap().exit_code(), 0);
    std::fs::remove_dir_all(&records).unwrap();
    std::fs::create_dir(&records).unwrap();
    let (a2, b2) = ("site:src/lib.rs:6:28:u32", "site:src/lib.rs:7:28:u64");
    write_file(&records, 1, &[edge(a2, b2)]);
    write_file(&records, 2, &[edge(b2, a2)]);
    let r = check(&with).unwrap();
    assert_eq!(r.exit_code(), 1);
    let notes = &r.cycles()[0].notes;
    assert!(
        notes.iter().any(|n| n.contains(&format!(
            "the baseline's entry `cycle:{a} -> {b}`, no longer found, is this cycle"
        ))),
        "{notes:?}"
    );
}

/// The checker's strong-path rule against a brute force on random small
/// class graphs of every hold and request, some edges in a version 2 file
/// (whose `read` is an exclusive request) and no gates: a cycle is found
/// exactly when some closed walk is strong (each request waits for the
/// next hold, every kind of every edge tried).
#[test]
fn the_checker_finds_a_cycle_exactly_when_a_brute_force_does() {
    use lockgraph_graph::{Hold, Request};
    const HOLDS: [(&str, Hold); 3] = [
        ("exclusive", Hold::Exclusive),
        ("shared", Hold::Shared),
        ("upgradable", Hold::Upgradable),
    ];
    const REQUESTS: [(&str, Request); 4] = [
        ("exclusive", Request::Exclusive),
        ("read", Request::Read),
        ("recursive_read", Request::RecursiveRead),
        ("upgradable", Request::Exclusive),
    ];
    type Kinded = (usize, usize, Hold, Request);
    fn strong_cycle(edges: &[Kinded], n: usize) -> bool {
        edges.iter().any(|&(from, to, h0, r0)| {
            let mut seen = vec![[false; 3]; n];
            seen[to][r0 as usize] = true;
            let mut stack = vec![(to, r0)];
            while let Some((v, r)) = stack.pop() {
                if v == from && r.waits_for(h0) {
                    return true;
                }
                for &(_, b, h, q) in edges.iter().filter(|e| e.0 == v) {
                    if r.waits_for(h) && !seen[b][q as usize] {
                        seen[b][q as usize] = true;
                        stack.push((b, q));
                    }
                }
            }
            false
        })
    }
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for round in 0..300 {
        let n = 2 + next(4);
        let (mut kinded, mut v3, mut v2) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..1 + next(9) {
            let from = next(n);
            let to = (from + 1 + next(n - 1)) % n;
            let line = edge(&format!("n{from}"), &format!("n{to}"));
            if next(3) == 0 {
                // Version 2 wrote no upgradable hold or request.
                let (hold, h) = HOLDS[next(2)];
                let (request, r) = REQUESTS[next(3)];
                let r = if r == Request::Read {
                    Request::Exclusive
                } else {
                    r
                };
                kinded.push((from, to, h, r));
                v2.push(line.modes(hold, request));
            } else {
                let (hold, h) = HOLDS[next(3)];
                let (request, r) = REQUESTS[next(4)];
                kinded.push((from, to, h, r));
                v3.push(line.modes(hold, request));
            }
        }
        let d = tempdir();
        write_file(d.path(), 1, &v3);
        write_file_of_version(d.path(), 2, 2, &v2);
        let r = check_dir(d.path());
        assert_eq!(
            !r.cycles().is_empty(),
            strong_cycle(&kinded, n),
            "round {round}: {kinded:?}"
        );
    }
}

/// A cycle through a CUDA stream recorded by two processes (a thread held
/// `pool` across the stream's synchronize; its host function took `pool`)
/// is told to release the lock before the synchronize, not to take a
/// stream in a lock order (the runtime's report was fixed so; the
/// checker's said "always ... (CUDA stream) before ...").
#[test]
fn a_cycle_through_a_stream_is_told_to_release_the_lock_before_the_synchronize() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("pool", "h2d").kind("to", "Stream")]);
    write_file(d.path(), 2, &[edge("h2d", "pool").kind("from", "Stream")]);
    let r = check_dir(d.path());
    assert_eq!(r.cycles().len(), 1);
    let text = text_of(&r);
    assert!(
        text.contains("fix: a host function of L") && text.contains("release L"),
        "{text}"
    );
    assert!(text.contains("`pool` before the synchronize"), "{text}");
    assert!(!text.contains("one global order"), "{text}");
}

/// A host function's label quotes its stream's name (`` host fn enqueued
/// at ... on stream `h2d` ``): the checker says it as is, as the runtime
/// does, instead of quoting it again (found by an outside test: the text
/// read `` HostFn `host fn enqueued at ... on stream `h2d`` ``).
#[test]
fn a_host_function_label_with_quoted_names_of_its_own_is_not_quoted_again() {
    let d = tempdir();
    let host_fn = "name:host fn enqueued at src/gpu.rs:21:10 on stream `h2d`";
    write_file(d.path(), 1, &[edge("pool", host_fn).kind("to", "HostFn")]);
    write_file(d.path(), 2, &[edge(host_fn, "pool").kind("from", "HostFn")]);
    let r = check_dir(d.path());
    assert_eq!(r.cycles().len(), 1);
    let text = text_of(&r);
    assert!(
        text.contains("host fn enqueued at src/gpu.rs:21:10 on stream `h2d`"),
        "{text}"
    );
    for nested in ["`host fn", "`h2d``", "HostFn `"] {
        assert!(!text.contains(nested), "{nested} in:\n{text}");
    }
}

/// A cycle through a queue recorded by two processes (a producer held
/// `stats` across a send into `jobs`; the consumer took `stats` between
/// receives) is told to release `stats` before the send, with the queue's
/// edges worded as the runtime's (found by an outside test: the checker
/// said "take these locks in one global order ... always `jobs` before
/// `stats`" and "held `jobs` shared", where the runtime's report says a
/// queue is taken in no order and its consumer holds it).
#[test]
fn a_cycle_through_a_queue_is_told_to_release_the_lock_before_the_send() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("jobs", "stats").kind("from", "Queue")]);
    write_file(d.path(), 2, &[edge("stats", "jobs").kind("to", "Queue")]);
    let r = check_dir(d.path());
    assert_eq!(r.cycles().len(), 1);
    let text = text_of(&r);
    for needle in [
        "`jobs` as its consumer (taken at",
        "`jobs` (a send that blocks while it is full) at",
        "fix: a thread holds L2 `stats` while sending into L1 `jobs`, and its consumer takes it before it receives again:",
        "release L2 `stats` before the send into L1 `jobs` (a queue is taken in no order: no lock order fixes this).",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(!text.contains("one global order"), "{text}");
}

/// A cycle through a condvar whose notifier is a queue's consumer (it
/// notifies between receives, then takes `l2`, which the waiter holds
/// across its wait) gets the runtime's fix of a notification, not a
/// send's ("a thread holds `cv` while sending into `jobs`": nobody holds
/// a condvar; found by an outside test); a queue's wait recorded by a
/// task says "a task".
#[test]
fn a_cycle_through_a_condvar_is_told_about_the_wait_and_the_notifier() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("l2", "cv").kind("to", "Condvar")]);
    write_file(
        d.path(),
        2,
        &[
            edge("cv", "jobs")
                .kind("from", "Condvar")
                .kind("to", "Queue"),
            edge("jobs", "l2").kind("from", "Queue"),
        ],
    );
    let r = check_dir(d.path());
    assert_eq!(r.cycles().len(), 1);
    let text = text_of(&r);
    for needle in [
        "`jobs` as its consumer (taken at",
        "across its wait on L",
        "its notifier, a consumer of L",
        "before it receives again:",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    for wrong in ["sending into", "one global order"] {
        assert!(!text.contains(wrong), "{wrong} in:\n{text}");
    }
    let d = tempdir();
    let task = "task 4 \"loader\" (spawned at src/main.rs:9:5)";
    write_file(d.path(), 1, &[edge("jobs", "stats").kind("from", "Queue")]);
    let send = edge("stats", "jobs").kind("to", "Queue").thread(task);
    write_file(d.path(), 2, &[send]);
    let text = text_of(&check_dir(d.path()));
    assert!(text.contains("fix: a task holds L"), "{text}");
}
