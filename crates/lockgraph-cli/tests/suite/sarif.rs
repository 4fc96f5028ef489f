//! SARIF 2.1.0 structure: what GitHub code scanning requires of an upload.

use serde_json::Value;

use crate::util::*;

fn sarif(dir: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["check", "--format", "sarif"];
    args.extend_from_slice(extra);
    args.push(".");
    let o = run_in(dir, &args);
    assert_code(&o, 1);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v:#}"))
}

/// Checks one physicalLocation: relative URI, 1-based line and column.
fn check_location(loc: &Value) {
    let uri = str_at(loc, "/physicalLocation/artifactLocation/uri");
    assert!(
        !uri.starts_with('/') && !uri.contains("://"),
        "relative uri: {uri}"
    );
    assert_eq!(
        str_at(loc, "/physicalLocation/artifactLocation/uriBaseId"),
        "%SRCROOT%"
    );
    let line = loc
        .pointer("/physicalLocation/region/startLine")
        .and_then(Value::as_u64);
    let col = loc
        .pointer("/physicalLocation/region/startColumn")
        .and_then(Value::as_u64);
    assert!(line.is_some_and(|l| l >= 1), "{loc:#}");
    assert!(col.is_some_and(|c| c >= 1), "{loc:#}");
}

#[test]
fn the_log_has_every_required_field() {
    let d = tempdir();
    write_file(
        d.path(),
        1,
        &[edge("a", "b").sites("src/a.rs:10:5", "src/a.rs:12:17")],
    );
    write_file(
        d.path(),
        2,
        &[edge("b", "c").sites("src/b.rs:20:5", "src/b.rs:22:17")],
    );
    write_file(
        d.path(),
        3,
        &[edge("c", "a").sites("src/c.rs:30:5", "src/c.rs:32:17")],
    );
    write_file(d.path(), 4, &[edge("late", "early")]);
    write_raw(d.path(), "o.toml", "order = [\"early\", \"late\"]\n");
    let v = sarif(d.path(), &["--order", "o.toml"]);

    assert!(str_at(&v, "/$schema").contains("sarif-2.1.0"));
    assert_eq!(str_at(&v, "/version"), "2.1.0");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(str_at(run, "/tool/driver/name"), "lockgraph");
    assert!(!str_at(run, "/tool/driver/version").is_empty());
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rule_ids, ["lock-order-cycle", "lock-order-violation"]);
    for r in rules {
        assert!(!str_at(r, "/shortDescription/text").is_empty());
        assert!(!str_at(r, "/fullDescription/text").is_empty());
        assert!(!str_at(r, "/help/text").is_empty());
        assert_eq!(str_at(r, "/defaultConfiguration/level"), "error");
    }

    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        let id = str_at(r, "/ruleId");
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rule_ids[index], id);
        assert_eq!(str_at(r, "/level"), "error");
        assert!(!str_at(r, "/message/text").is_empty());
        let locations = r["locations"].as_array().unwrap();
        assert_eq!(locations.len(), 1);
        check_location(&locations[0]);
        let related = r["relatedLocations"].as_array().unwrap();
        assert!(!related.is_empty());
        for (i, rel) in related.iter().enumerate() {
            assert_eq!(rel["id"].as_u64(), Some(i as u64 + 1));
            check_location(rel);
            assert!(!str_at(rel, "/message/text").is_empty());
        }
        let fp = r["partialFingerprints"].as_object().unwrap();
        assert!(!fp.is_empty());
        assert!(fp
            .values()
            .all(|v| v.as_str().is_some_and(|s| s.len() == 16)));
    }

    // The cycle: located at the closing edge's acquisition (c -> a requests a
    // at src/c.rs:32:17); the other edges' sites are related locations.
    let cycle = &results[0];
    assert_eq!(str_at(cycle, "/ruleId"), "lock-order-cycle");
    let loc = &cycle["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "src/c.rs");
    assert_eq!(loc["region"]["startLine"], 32);
    assert_eq!(loc["region"]["startColumn"], 17);
    let related: Vec<String> = cycle["relatedLocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap(),
                r["physicalLocation"]["region"]["startLine"]
            )
        })
        .collect();
    for want in ["src/a.rs:12", "src/a.rs:10", "src/b.rs:22", "src/b.rs:20"] {
        assert!(related.contains(&want.to_string()), "{want} in {related:?}");
    }
    assert!(str_at(cycle, "/message/text").contains("lock-order cycle through 3 locks"));
    let violation = &results[1];
    assert_eq!(str_at(violation, "/ruleId"), "lock-order-violation");
    assert!(str_at(violation, "/message/text").contains("puts `early` before `late`"));
}

#[test]
fn fingerprints_are_stable_across_runs_and_paths() {
    let fp = |pid: u64| {
        let d = tempdir();
        write_file(d.path(), pid, &[edge("a", "b").thread(&format!("t{pid}"))]);
        write_file(d.path(), pid + 1, &[edge("b", "a")]);
        let v = sarif(d.path(), &[]);
        v["runs"][0]["results"][0]["partialFingerprints"].clone()
    };
    assert_eq!(fp(10), fp(7777));
}

#[test]
fn absolute_sites_under_the_working_directory_become_relative() {
    let d = tempdir();
    let root = d.path().canonicalize().unwrap();
    let site = |f: &str, l: u32| format!("{}/src/{f}.rs:{l}:3", root.display());
    write_file(
        d.path(),
        1,
        &[edge("a", "b").sites(&site("a", 1), &site("a", 2))],
    );
    write_file(
        d.path(),
        2,
        &[edge("b", "a").sites(&site("b", 3), &site("b", 4))],
    );
    let o = bin()
        .current_dir(&root)
        .args(["check", "--format", "sarif", "."])
        .output()
        .unwrap();
    assert_code(&o, 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let loc = &v["runs"][0]["results"][0]["locations"][0];
    check_location(loc);
    assert_eq!(
        str_at(loc, "/physicalLocation/artifactLocation/uri"),
        "src/b.rs"
    );
    assert!(str_at(&v, "/runs/0/originalUriBaseIds/%SRCROOT%/uri").starts_with("file:///"));
}

#[test]
fn no_findings_is_a_valid_empty_run() {
    let d = tempdir();
    write_file(d.path(), 1, &[edge("a", "b")]);
    let o = run_in(d.path(), &["check", "--format", "sarif", "."]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(
        v["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// GitHub code scanning refuses a whole upload when one result has no
/// location: a cycle whose closing edge has no site is placed at another
/// edge's site; a cycle with no site at all (locks taken through
/// `lock_api`'s own types) at its stacks' innermost frame, else at the
/// workspace's `Cargo.toml`.
#[test]
fn every_result_has_a_location() {
    let nulls = |e: Edge| {
        e.set("held_at", Value::Null)
            .set("requested_at", Value::Null)
    };
    let location = |edges: &[Edge]| {
        let d = tempdir();
        write_file(d.path(), 1, edges);
        let v = sarif(d.path(), &[]);
        let locs = v["runs"][0]["results"][0]["locations"].clone();
        assert_eq!(locs.as_array().map(Vec::len), Some(1), "{v:#}");
        (
            str_at(&locs[0], "/physicalLocation/artifactLocation/uri").to_string(),
            locs[0]
                .pointer("/physicalLocation/region/startLine")
                .and_then(Value::as_u64),
            str_at(&v, "/runs/0/results/0/message/text").to_string(),
        )
    };
    // The closing edge (b -> a) has no site: the other edge's.
    let (uri, line, _) = location(&[
        edge("a", "b").sites("src/a.rs:10:5", "src/a.rs:12:17"),
        nulls(edge("b", "a")),
    ]);
    assert_eq!((uri.as_str(), line), ("src/a.rs", Some(12)));
    // No sites at all: the innermost frame of a stack.
    let (uri, line, _) = location(&[
        nulls(edge("a", "b")).set("backtrace", serde_json::json!(["x::f (src/x.rs:9)"])),
        nulls(edge("b", "a")).set("backtrace", serde_json::json!(["x::g (src/x.rs:13)"])),
    ]);
    assert_eq!(uri, "src/x.rs");
    assert!(matches!(line, Some(9 | 13)), "{line:?}");
    // Nothing: the manifest, said in the message.
    let empty = serde_json::json!([]);
    let (uri, line, text) = location(&[
        nulls(edge("anon:1:1", "anon:1:2")).set("backtrace", empty.clone()),
        nulls(edge("anon:1:2", "anon:1:1")).set("backtrace", empty),
    ]);
    assert_eq!((uri.as_str(), line), ("Cargo.toml", None));
    assert!(text.contains("no source location"), "{text}");
}
