//! Report wording: the text of a real deadlock report against a golden file
//! (addresses, ids, times and paths normalised), and its JSON against the
//! schema in docs/watchdog-report.schema.json.
//!
//! `LOCKGRAPH_UPDATE_GOLDEN=1 cargo test --test watchdog golden` rewrites the
//! golden file from the run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lockgraph_testkit::{child, is_child, END};
use serde_json::Value;

use crate::{child_abba, run_child};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Replaces what changes from run to run: the checkout's path, pids, tids,
/// times of day, durations and hexadecimal addresses; and where a thread is
/// now (a futex wait, or runnable between two slices on a busy machine).
pub(crate) fn normalise(text: &str) -> String {
    let text = text.replace(ROOT, "<root>");
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.find("now: ") {
            Some(at) if line[..at].trim().is_empty() => format!("{}now: <state>", &line[..at]),
            _ => line.to_string(),
        };
        out.push_str(&normalise_line(&line));
        out.push('\n');
    }
    out
}

fn normalise_line(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let boundary = |i: usize| i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    while i < b.len() {
        let rest = &line[i..];
        // `2026-12-04 19:58:02 UTC`
        if rest.len() >= 23
            && rest.as_bytes()[..19]
                .iter()
                .enumerate()
                .all(|(k, c)| match k {
                    4 | 7 => *c == b'-',
                    10 => *c == b' ',
                    13 | 16 => *c == b':',
                    _ => c.is_ascii_digit(),
                })
            && rest[19..].starts_with(" UTC")
        {
            out.push_str("<time>");
            i += 23;
            continue;
        }
        for (key, with) in [("pid ", "pid <pid>"), ("tid ", "tid <tid>")] {
            if rest.starts_with(key) && rest[4..].starts_with(|c: char| c.is_ascii_digit()) {
                out.push_str(with);
                i += 4 + rest[4..]
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len() - 4);
            }
        }
        if i < b.len() && line[i..].starts_with("0x") && boundary(i) {
            out.push_str("<addr>");
            i += 2;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            continue;
        }
        if i < b.len() && b[i].is_ascii_digit() && boundary(i) {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                j += 1;
            }
            let unit = ["ns", "µs", "us", "ms", "s"]
                .into_iter()
                .find(|u| line[j..].starts_with(u));
            if let Some(u) = unit {
                let end = j + u.len();
                let alnum_after = line[end..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric());
                if !alnum_after {
                    out.push_str("<dur>");
                    i = end;
                    continue;
                }
            }
            out.push_str(&line[i..j]);
            i = j;
            continue;
        }
        if i < b.len() {
            let c = line[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Writes each site in `tests/watchdog/main.rs` as a line relative to the
/// start of `fn crossing` (`main.rs:crossing+6:24`), so that the golden file
/// checks the exact line inside the scenario but does not go stale when
/// lines are added above it (a new test module in the list, say).
fn relative_sites(text: &str) -> String {
    let source = std::fs::read_to_string(Path::new(ROOT).join("tests/watchdog/main.rs")).unwrap();
    let base = source
        .lines()
        .position(|l| l.starts_with("fn crossing"))
        .expect("tests/watchdog/main.rs defines fn crossing")
        + 1;
    let key = "tests/watchdog/main.rs:";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        let after = &rest[at + key.len()..];
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        out.push_str(&rest[..at + key.len()]);
        match after[..digits].parse::<usize>() {
            Ok(line) if line >= base => out.push_str(&format!("crossing+{}", line - base)),
            _ => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn sites_in_the_scenario_are_written_relative_to_its_function() {
    let source = std::fs::read_to_string(Path::new(ROOT).join("tests/watchdog/main.rs")).unwrap();
    let base = source
        .lines()
        .position(|l| l.starts_with("fn crossing"))
        .unwrap()
        + 1;
    let text = format!(
        "at tests/watchdog/main.rs:{}:25 (<root>/tests/watchdog/main.rs:{}) tests/x.rs:3:1",
        base + 9,
        base + 9
    );
    assert_eq!(
        relative_sites(&text),
        "at tests/watchdog/main.rs:crossing+9:25 (<root>/tests/watchdog/main.rs:crossing+9) tests/x.rs:3:1"
    );
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(ROOT).join("tests/watchdog/golden").join(name)
}

/// Compares `text` with the golden file `name`, or rewrites it with
/// `LOCKGRAPH_UPDATE_GOLDEN=1`.
fn check_golden(name: &str, text: &str) {
    let path = golden_path(name);
    if std::env::var_os("LOCKGRAPH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if want != text {
        let diff: Vec<String> = want
            .lines()
            .zip(text.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(n, (a, b))| format!("line {}:\n  want: {a}\n  got:  {b}", n + 1))
            .collect();
        panic!(
            "{} differs (LOCKGRAPH_UPDATE_GOLDEN=1 rewrites it):\n{}\n(lines: want {}, got {})\n--- got:\n{text}",
            path.display(),
            diff.join("\n"),
            want.lines().count(),
            text.lines().count()
        );
    }
}

/// A small JSON Schema validator: `type` (one or a list), `enum`,
/// `required`, `properties`, `items` and local `$ref`s: what the report
/// schema uses. Returns every violation, as `path: what`.
pub(crate) fn validate(
    schema: &Value,
    root: &Value,
    v: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(root, |s, k| &s[k]))
            .unwrap_or(&Value::Null);
        assert!(!target.is_null(), "unknown $ref {r}");
        return validate(target, root, v, at, errors);
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(v) {
            errors.push(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    if let (Some(Value::Array(req)), Some(obj)) = (schema.get("required"), v.as_object()) {
        for k in req.iter().filter_map(Value::as_str) {
            if !obj.contains_key(k) {
                errors.push(format!("{at}: missing `{k}`"));
            }
        }
    }
    if let (Some(Value::Object(props)), Some(obj)) = (schema.get("properties"), v.as_object()) {
        for (k, s) in props {
            if let Some(x) = obj.get(k) {
                validate(s, root, x, &format!("{at}.{k}"), errors);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            validate(items, root, x, &format!("{at}[{i}]"), errors);
        }
    }
}

pub(crate) fn schema() -> Value {
    let path = Path::new(ROOT).join("docs/watchdog-report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Fails unless `json` fits the report schema, naming every misfit.
pub(crate) fn assert_fits_schema(json: &Value) {
    let schema = schema();
    let mut errors = Vec::new();
    validate(&schema, &schema, json, "$", &mut errors);
    assert!(errors.is_empty(), "{}\n{json:#}", errors.join("\n"));
}

#[test]
fn the_validator_rejects_what_the_schema_does_not_allow() {
    let schema = schema();
    let mut errors = Vec::new();
    let bad = serde_json::json!({"lockgraph_watchdog": 1, "kind": "hang", "pid": "x", "threads": [{"name": 3}]});
    validate(&schema, &schema, &bad, "$", &mut errors);
    let all = errors.join("\n");
    for want in [
        "$.kind: \"hang\" is not one of",
        "$.pid: \"x\" is not of type",
        "$: missing `summary`",
        "$.threads[0]: missing `tid`",
        "$.threads[0].name: 3 is not of type",
    ] {
        assert!(all.contains(want), "{want} missing:\n{all}");
    }
}

#[test]
fn a_deadlock_report_reads_as_its_golden_file_and_its_json_fits_the_schema() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-golden-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (text, ok) = run_child(
        child!(child_abba),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap()),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let at = text.find("lockgraph watchdog: DEADLOCK").unwrap();
    let end = text[at..].find(END).unwrap() + at + END.len();
    let report = &text[at..end];
    // The golden file is a debug build's with the order graph on (the
    // default there): release builds lose frames, and the graph-off
    // configuration prints another `lock-order graph:` section.
    if cfg!(debug_assertions) && lockgraph::order_graph() {
        check_golden("deadlock.txt", &relative_sites(&normalise(report)));
    }

    let json: Value = serde_json::from_str(&crate::first_report_line(&dir)).unwrap();
    assert_fits_schema(&json);
    // The JSON says the same as the text, and no raw syscall arguments.
    assert_eq!(json["summary"], report.lines().next().unwrap());
    assert_eq!(json["advice"], report.lines().rev().nth(1).unwrap());
    assert_eq!(json["action"], "report");
    for t in json["threads"].as_array().unwrap() {
        assert!(t["now"]["syscall"].is_null(), "{t}");
        assert!(t["now"]["description"].is_string(), "{t}");
    }
    let since = json["since_unix_ms"].as_u64().unwrap();
    let reported = json["reported_at_unix_ms"].as_u64().unwrap();
    assert!(since <= reported && reported - since < 20_000, "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_verbose_on_the_raw_kernel_fields_are_added() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_WATCHDOG_VERBOSE", "1"),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let nows: Vec<&str> = text.lines().filter(|l| l.contains("    now: ")).collect();
    assert_eq!(nows.len(), 2, "{text}");
    for now in nows {
        assert!(
            now.contains(" [state ") && now.contains(", syscall "),
            "{now}"
        );
    }
}

#[test]
fn the_normaliser_keeps_sites_and_replaces_what_varies() {
    let line = "thread `a` (tid 123) waits 200.5ms, held ~1.2s at tests/x.rs:10:5, pid 9 since 2026-12-04 19:58:02 UTC at 0x7ffe12 in 2 threads";
    assert_eq!(
        normalise_line(line),
        "thread `a` (tid <tid>) waits <dur>, held ~<dur> at tests/x.rs:10:5, pid <pid> since <time> at <addr> in 2 threads"
    );
}
