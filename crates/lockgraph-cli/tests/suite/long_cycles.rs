//! Long cycles are reported boundedly in every format: a chain of
//! per-object locks of one class that a process closed back to its first
//! (a `cycle` line of a few runs, up to 1,048,576 locks) costs what its
//! line does, and a cycle of the class graph through hundreds of locks
//! stays within what GitHub code scanning takes (1,000 locations per
//! result; 100 shown).

use std::path::Path;

use serde_json::{json, Value};

use crate::util::*;

const NODE: &str = "site:src/list.rs:3:9:app::Node";

/// A record whose process walked a chain of `n` `Node`s hand over hand and
/// then locked the first while holding the last: one lock run, and the
/// closing edge, the first edge and the rest as edge runs (as the runtime
/// writes it).
fn chain_record(dir: &Path, pid: u64, n: u64) {
    let edge = |held: &str, requested: &str, count: u64| {
        json!({"hold": "exclusive", "request": "exclusive", "thread": "walk",
               "held_at": held, "requested_at": requested, "count": count})
    };
    let mut lock = class(NODE);
    lock["kind"] = json!("Mutex");
    lock["count"] = json!(n);
    let line = cycle(&[], &[]).set("locks", json!([lock])).set(
        "edges",
        json!([
            edge("src/list.rs:30:5", "src/list.rs:31:9", 1),
            edge("src/list.rs:20:5", "src/list.rs:21:9", 1),
            edge("src/list.rs:21:9", "src/list.rs:21:9", n - 2),
        ]),
    );
    let text = file_with_cycles(pid, &[], &[line]);
    write_raw(dir, &format!("lockgraph-{pid}-1.jsonl"), text);
}

/// `lockgraph check --format FORMAT -o out.FORMAT` in `dir` (exit status
/// 1, within seconds): the file written.
fn check_to_file(dir: &Path, format: &str) -> String {
    let out = format!("out.{format}");
    let o = run_with_deadline(dir, &["check", "--format", format, "-o", &out, "rec"], 30);
    assert_code(&o, 1);
    std::fs::read_to_string(dir.join(out)).unwrap()
}

/// Every format of a chain of `n` locks, each at most `limit` bytes.
fn chain_in_every_format(n: u64, limit: usize) {
    let d = tempdir();
    std::fs::create_dir(d.path().join("rec")).unwrap();
    chain_record(&d.path().join("rec"), 7, n);
    let text = check_to_file(d.path(), "text");
    assert!(text.len() < limit, "{} bytes", text.len());
    for needle in [
        format!("lock-order cycle through {n} locks, found at run time\n"),
        format!("key: cycle:{NODE} * {n} (fingerprint "),
        format!(
            "    ... {} more locks of this class (L2 to L{}) ...\n",
            n - 2,
            n - 1
        ),
        format!(
            "    ... {} more edges recorded alike (L3 -> L4 to L{} -> L{}) ...\n",
            n - 4,
            n - 2,
            n - 1
        ),
        format!(
            "    L{n} -> L1  thread `walk` held L{n} `src/list.rs:3` (taken at src/list.rs:30:5),"
        ),
        "<- this edge closes the cycle".to_string(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in\n{text}");
    }

    let json = check_to_file(d.path(), "json");
    assert!(json.len() < limit, "{} bytes", json.len());
    let v: Value = serde_json::from_str(&json).unwrap();
    let c = &v["cycles"][0];
    let locks = c["locks"].as_array().unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(
        (locks[0]["id"].as_str(), locks[0]["count"].as_u64()),
        (Some("L1"), Some(n))
    );
    let edges = c["edges"].as_array().unwrap();
    let counts: Vec<u64> = edges.iter().map(|e| e["count"].as_u64().unwrap()).collect();
    assert_eq!(counts, [1, n - 2, 1], "{edges:#?}");
    let closing: Vec<&str> = (edges.iter())
        .filter(|e| e["closes_cycle"] == true)
        .map(|e| e["from"].as_str().unwrap())
        .collect();
    assert_eq!(closing, [format!("L{n}")]);

    let sarif = check_to_file(d.path(), "sarif");
    assert!(sarif.len() < limit, "{} bytes", sarif.len());
    let v: Value = serde_json::from_str(&sarif).unwrap();
    let r = &v["runs"][0]["results"][0];
    assert!(
        r["relatedLocations"].as_array().unwrap().len() <= 100,
        "{r:#}"
    );
    let message = r["message"]["text"].as_str().unwrap();
    assert!(message.len() < 8_500, "{} characters", message.len());
    assert!(message.contains("more edges recorded alike"), "{message}");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"], 31,
        "at the closing request"
    );

    let dot = check_to_file(d.path(), "dot");
    assert!(dot.len() < limit, "{} bytes", dot.len());
    assert!(
        dot.contains(&format!(
            "({} edges in a row, from L2, each recorded so)",
            n - 2
        )),
        "{dot}"
    );
    let html = check_to_file(d.path(), "html");
    assert!(html.len() < limit, "{} bytes", html.len());
    assert!(
        html.contains(&format!("{} more locks (see the report)", n - 23)),
        "{html}"
    );
}

/// 20,000 locks: before runs were kept, 40,000 related locations in one
/// SARIF result (GitHub refuses more than 1,000) and megabytes of text.
#[test]
fn a_chain_of_locks_of_one_class_is_bounded_in_every_format() {
    chain_in_every_format(20_000, 64 * 1024);
}

/// The most a line may hold, 1,048,576 locks: as small and as quick (it
/// was 611 MB of text, and the SARIF aborted at 12 GB).
#[test]
fn the_longest_chain_a_line_may_hold_is_as_small() {
    chain_in_every_format(1 << 20, 64 * 1024);
}

/// `lockgraph baseline` writes the chain's key and locks with the run's
/// count, once; `check --baseline` tolerates it, and a chain one lock
/// shorter is another cycle.
#[test]
fn a_baseline_of_a_chain_holds_its_run_once() {
    let n: u64 = 1 << 20;
    let d = tempdir();
    let rec = d.path().join("rec");
    std::fs::create_dir(&rec).unwrap();
    chain_record(&rec, 7, n);
    let o = run_with_deadline(d.path(), &["baseline", "rec", "-o", "b.json"], 30);
    assert_code(&o, 0);
    let written = std::fs::read_to_string(d.path().join("b.json")).unwrap();
    assert!(written.len() < 400, "{written}");
    let v: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(v["cycles"][0]["key"], format!("cycle:{NODE} * {n}"));
    assert_eq!(
        v["cycles"][0]["locks"],
        json!([{"class": NODE, "count": n}])
    );
    let o = run_with_deadline(d.path(), &["check", "--baseline", "b.json", "rec"], 30);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("1 cycle and 0 violations baselined in b.json"),
        "{}",
        stdout(&o)
    );
    std::fs::remove_file(rec.join("lockgraph-7-1.jsonl")).unwrap();
    chain_record(&rec, 8, n - 1);
    let o = run_with_deadline(d.path(), &["check", "--baseline", "b.json", "rec"], 30);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("key: cycle:{NODE} * {}", n - 1)),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "no longer found (remove it from b.json): cycle:{NODE} * {n}"
        )),
        "{out}"
    );
}

/// A cycle of the class graph through 300 named locks, each edge recorded
/// by three threads of another process: SARIF keeps to 100 related locations and says how
/// many it left out; text lists the first and last 12 locks and edges;
/// JSON has every one.
#[test]
fn a_class_graph_cycle_through_many_locks_is_bounded_too() {
    let n = 300;
    let d = tempdir();
    let rec = d.path().join("rec");
    std::fs::create_dir(&rec).unwrap();
    for i in 0..n {
        let (a, b) = (format!("l{i:03}"), format!("l{:03}", (i + 1) % n));
        let e = edge(&a, &b).sites(
            &format!("src/m.rs:{}:5", 10 + i),
            &format!("src/m.rs:{}:9", 11 + i),
        );
        let by = |t: &str| e.clone().thread(t);
        write_file(&rec, 100 + i as u64, &[by("t1"), by("t2"), by("t3")]);
    }
    let sarif = check_to_file(d.path(), "sarif");
    let v: Value = serde_json::from_str(&sarif).unwrap();
    let r = &v["runs"][0]["results"][0];
    let related = r["relatedLocations"].as_array().unwrap();
    // Of the sites of the 24 edges the text lists too (the first and last
    // 12, each recorded by 3 threads), the first 100.
    assert_eq!(related.len(), 100);
    let message = r["message"]["text"].as_str().unwrap();
    assert!(message.len() < 8_500, "{} characters", message.len());
    assert!(
        message.contains("L6 Mutex `l005` -> ... (288 more locks) -> L295 Mutex `l294`"),
        "{message}"
    );
    assert!(
        message.contains(
            "(1700 more sites of its edges are left out of the related locations (at most 100, of \
             the edges named here): the JSON report has every edge.)"
        ),
        "{message}"
    );
    let text = check_to_file(d.path(), "text");
    assert!(text.len() < 32 * 1024, "{} bytes", text.len());
    // Its key (the 300 classes) is cut: JSON has it whole.
    assert!(
        text.contains("characters in all; `--format json` and `lockgraph baseline` have it whole)"),
        "{text}"
    );
    assert!(
        text.contains("    ... 276 more locks (L13 to L288) ...\n"),
        "{text}"
    );
    assert!(
        text.contains("    ... 276 more edges (L13 -> L14 to L288 -> L289) ...\n"),
        "{text}"
    );
    assert!(text.contains("L300 -> L1  "), "{text}");
    let json: Value = serde_json::from_str(&check_to_file(d.path(), "json")).unwrap();
    assert_eq!(json["cycles"][0]["locks"].as_array().unwrap().len(), n);
    let key = json["cycles"][0]["key"].as_str().unwrap();
    assert_eq!(key.matches(" -> ").count(), n - 1);
    let dot = check_to_file(d.path(), "dot");
    assert!(
        dot.contains("... 276 more edges (see the text or JSON report)"),
        "{dot}"
    );
    assert!(dot.matches(" -> ").count() < 40, "{dot}");
}
