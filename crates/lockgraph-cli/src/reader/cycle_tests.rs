//! Reading `cycle` lines: as strictly as edge lines.

use super::*;
use crate::records::{cycle, header};

/// The text of a file: a header, then `lines`.
fn file(lines: &[String]) -> String {
    let mut s = header(7);
    for l in lines {
        s.push('\n');
        s.push_str(l);
    }
    s.push('\n');
    s
}

fn read(text: &str) -> Result<FileSummary, RecordError> {
    parse_reader(Path::new("f.jsonl"), text.as_bytes(), |_, _| {})
}

/// A cycle of two locks of one class, as the runtime writes it: one lock
/// entry of count 2, two edges.
fn abba() -> serde_json::Value {
    let mut c = cycle(
        &["site:src/bank.rs:8:17:bank::Account"],
        &[
            ("src/bank.rs:20:22", "src/bank.rs:21:20"),
            ("src/bank.rs:20:22", "src/bank.rs:21:20"),
        ],
    )
    .0;
    c["locks"][0]["count"] = 2.into();
    c
}

/// The error of reading a file whose line 2 is `line`.
fn error_of(line: &serde_json::Value) -> String {
    read(&file(&[line.to_string()])).unwrap_err().to_string()
}

#[test]
fn a_cycle_line_is_read_with_its_line_number() {
    let s = read(&file(&[abba().to_string()])).unwrap();
    assert_eq!(s.cycles.len(), 1);
    let c = &s.cycles[0];
    assert_eq!(
        (c.line, c.lock_count(), c.level),
        (2, 2, CycleLevel::Instance)
    );
    assert_eq!(c.locks[0].class, "site:src/bank.rs:8:17:bank::Account");
    assert_eq!(
        c.edges[1].requested_at.as_deref(),
        Some("src/bank.rs:21:20")
    );
    assert_eq!(s.ignored, 0, "a cycle line is not of an unknown type");
    assert_eq!(s.edges, 0);
    // The template the field at fault is found with is a cycle line.
    assert!(cycle::parse_cycle(cycle::CYCLE_TEMPLATE.as_bytes()).is_ok());
}

#[test]
fn a_cycle_line_missing_a_field_is_an_error_naming_it() {
    let mut c = abba();
    c.as_object_mut().unwrap().remove("level");
    let e = error_of(&c);
    assert!(e.starts_with("f.jsonl:2: "), "{e}");
    assert!(e.contains("missing field `level`"), "{e}");
    let mut c = abba();
    c["edges"][1].as_object_mut().unwrap().remove("hold");
    let e = error_of(&c);
    assert!(e.contains("missing field `edges[1].hold`"), "{e}");
}

#[test]
fn a_cycle_line_with_a_mistyped_field_is_an_error_naming_it() {
    let mut c = abba();
    c["level"] = "Instance".into();
    let e = error_of(&c);
    assert!(
        e.contains("field `level`: invalid value: string \"Instance\", expected one of \"class\", \"instance\""),
        "{e}"
    );
    let mut c = abba();
    c["locks"][0]["count"] = "2".into();
    assert!(
        error_of(&c).contains("field `locks[0].count`"),
        "{}",
        error_of(&c)
    );
    let mut c = abba();
    c["edges"][0]["request"] = "write".into();
    assert!(
        error_of(&c).contains("field `edges[0].request`"),
        "{}",
        error_of(&c)
    );
    let mut c = abba();
    c["pid"] = (-1).into();
    assert!(error_of(&c).contains("field `pid`"), "{}", error_of(&c));
}

#[test]
fn a_cycle_whose_edges_do_not_go_round_its_locks_is_an_error() {
    let mut c = abba();
    c["edges"][0]["count"] = 2.into();
    let e = error_of(&c);
    assert!(
        e.contains("invalid cycle record: field `edges`: 3 edges for 2 locks"),
        "{e}"
    );
    let mut c = abba();
    c["locks"][0]["count"] = 0.into();
    assert!(
        error_of(&c).contains("field `locks[0].count`: 0, a run of no locks"),
        "{}",
        error_of(&c)
    );
    let mut c = abba();
    c["locks"][0]["count"] = 1.into();
    c["edges"].as_array_mut().unwrap().pop();
    assert!(
        error_of(&c).contains("field `locks`: 1 lock, and a lock-order cycle goes through 2"),
        "{}",
        error_of(&c)
    );
    let mut c = abba();
    c["locks"][0]["class"] = "".into();
    assert!(
        error_of(&c).contains("field `locks[0].class`: empty lock class"),
        "{}",
        error_of(&c)
    );
    let mut c = abba();
    c["locks"][0]["count"] = (MAX_CYCLE_LOCKS + 1).into();
    c["edges"][0]["count"] = MAX_CYCLE_LOCKS.into();
    assert!(
        error_of(&c).contains("more than 1048576 locks, the limit for one cycle"),
        "{}",
        error_of(&c)
    );
}

#[test]
fn the_cycle_lines_of_a_file_hold_a_bounded_number_of_locks() {
    let mut c = abba();
    c["locks"][0]["count"] = MAX_CYCLE_LOCKS.into();
    c["edges"][0]["count"] = (MAX_CYCLE_LOCKS - 1).into();
    let lines: Vec<String> = (0..5).map(|_| c.to_string()).collect();
    let e = read(&file(&lines)).unwrap_err().to_string();
    assert!(e.starts_with("f.jsonl:6: "), "{e}");
    assert!(
        e.contains("cycle lines hold more than 4194304 locks"),
        "{e}"
    );
}

#[test]
fn a_torn_last_cycle_line_is_skipped_with_a_warning() {
    let whole = abba().to_string();
    let text = format!("{}\n{}\n{}", header(7), whole, &whole[..whole.len() / 2]);
    let s = read(&text).unwrap();
    assert_eq!(s.cycles.len(), 1);
    let w = s.warning.expect("a warning");
    assert_eq!(w.line, Some(3));
    assert!(w.message.contains("torn last line"), "{}", w.message);
    // The same cut in the middle of a file is an error.
    let text = format!("{}\n{}\n{whole}\n", header(7), &whole[..whole.len() / 2]);
    let e = read(&text).unwrap_err().to_string();
    assert!(e.starts_with("f.jsonl:2: truncated JSON"), "{e}");
}
