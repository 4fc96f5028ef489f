//! Baselines: written, read back, and refused with their positions.

use std::path::Path;

use super::locate::{locate, Step};
use super::*;
use crate::error::Error;

#[test]
fn round_trip_and_lookup() {
    let b = Baseline::new([
        BaselineEntry::key("cycle:name:b -> name:c").unwrap(),
        BaselineEntry::cycle(
            "cycle:name:a -> name:b",
            vec!["name:a".into(), "name:b".into()],
        ),
        BaselineEntry::key("cycle:name:a -> name:b").unwrap(),
        BaselineEntry::key("order:x -> y").unwrap(),
    ]);
    assert_eq!(b.of_rule(Rule::Cycle).count(), 2);
    assert_eq!(b.entries().next().unwrap().key, "cycle:name:a -> name:b");
    let back = Baseline::parse(Path::new("b.json"), &b.to_json()).unwrap();
    assert_eq!(back, b);
    assert!(back.contains("cycle:name:b -> name:c"));
    assert!(!back.contains("cycle:name:c"));
    assert!(back.contains("order:x -> y"));
    let edges = back.covered_edges();
    assert!(edges.contains(&("name:c", "name:b")));
    assert!(edges.contains(&("name:a", "name:b")));
    assert!(!edges.contains(&("name:a", "name:c")));
}

#[test]
fn bad_baselines_are_errors() {
    let p = Path::new("b.json");
    for (text, want) in [
        ("{}", "b.json:1:1: invalid baseline: no `lockgraph_baseline` field: this is not a lockgraph baseline"),
        (
            "{\"lockgraph_baseline\":2}",
            "b.json:1:23: invalid baseline: unsupported baseline version 2 (this lockgraph reads version 1) (at `lockgraph_baseline`)",
        ),
        (
            "{\"lockgraph_baseline\":\"1\"}",
            "b.json:1:23: invalid baseline: `lockgraph_baseline` must be a version number, not a string (at `lockgraph_baseline`)",
        ),
        (
            "{\"lockgraph_baseline\":1.0}",
            "b.json:1:23: invalid baseline: `lockgraph_baseline` must be a whole version number (this lockgraph reads 1), not 1.0 (at `lockgraph_baseline`)",
        ),
        (
            "{\"lockgraph_baseline\":-1}",
            "b.json:1:23: invalid baseline: `lockgraph_baseline` must be a whole version number (this lockgraph reads 1), not -1 (at `lockgraph_baseline`)",
        ),
        (
            "\u{a0}",
            "b.json:1:1: invalid baseline: not JSON: expected value",
        ),
        (
            "{\"lockgraph_baseline\":1,\"cycles\":[{}]}",
            "b.json:1:35: invalid baseline: missing field `key` (at `cycles[0]`)",
        ),
        (
            "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"order:a -> b\"}]}",
            "b.json:1:42: invalid baseline: `order:a -> b` is not a cycle key (those start with `cycle:`) (at `cycles[0].key`)",
        ),
        (
            "{\"lockgraph_baseline\":1,\"violations\":[{\"key\":\"cycle:a\"}]}",
            "b.json:1:46: invalid baseline: `cycle:a` is not a violation key (those start with `order:`) (at `violations[0].key`)",
        ),
        (
            "[1]",
            "b.json:1:1: invalid baseline: invalid type: sequence, expected a JSON object (a lockgraph baseline)",
        ),
        (
            "{\"lockgraph_baseline\":1,\"lockgraph_baseline\":1}",
            "b.json:1:46: invalid baseline: duplicate field `lockgraph_baseline` (at `lockgraph_baseline`)",
        ),
        (
            "{\"lockgraph_baseline\":1,\"cycles\":[],\"cycles\":{}}",
            "b.json:1:46: invalid baseline: duplicate field `cycles` (at `cycles`)",
        ),
        (
            "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"cycle:a\"},]}",
            "b.json:1:53: invalid baseline: not JSON: expected value (at `cycles`)",
        ),
        (
            "{\"lockgraph_baseline\":1} x",
            "b.json:1:26: invalid baseline: not JSON: trailing characters",
        ),
    ] {
        let e = Baseline::parse(p, text).unwrap_err().to_string();
        assert_eq!(e, want, "{text}");
    }
}

/// serde_json says "line 1 column 0" for an empty file; every position
/// here is 1-based and a character's, not a byte's.
#[test]
fn positions_are_one_based_characters() {
    let p = Path::new("b.json");
    let at = |text: &str| match Baseline::parse(p, text).unwrap_err() {
        Error::Baseline { position, .. } => position,
        e => panic!("{e}"),
    };
    assert_eq!(at(""), Some((1, 1)));
    assert_eq!(at("\n\n"), Some((3, 1)));
    // A file that ends early: its end.
    assert_eq!(at("{"), Some((1, 2)));
    assert_eq!(at("{\"lockgraph_baseline\": 1,\n"), Some((2, 1)));
    // A wrong type: the value, counted in characters (é is two bytes).
    let text = "{\n  \"é\": \"é\",\"lockgraph_baseline\": 1,\n  \"cycles\": [{\"key\": \"cycle:x\", \"locks\": [\"é\", 7]}]\n}";
    assert_eq!(at(text), Some((3, 48)));
    let e = Baseline::parse(p, text).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "invalid type: integer `7`, expected a class key (a string) or a run of locks \
             (`{\"class\": ..., \"count\": 2}`) (at `cycles[0].locks[1]`)"
        ),
        "{e}"
    );
    // A byte-order mark is not a column.
    assert_eq!(at("\u{feff}{\"lockgraph_baseline\": 2}"), Some((1, 24)));
    assert!(Baseline::parse(p, "\u{feff}{\"lockgraph_baseline\": 1}").is_ok());
}

#[test]
fn bytes_that_are_not_utf8_are_placed() {
    let p = Path::new("b.json");
    let e = Baseline::parse_bytes(p, b"{\n \"x\": \"\xc3\"}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "b.json:2:8: invalid baseline: not UTF-8 text: byte 0xc3 is not part of a UTF-8 character"
    );
    let e = Baseline::parse_bytes(p, b"{\"x\": \"\xc3").unwrap_err();
    assert_eq!(
        e.to_string(),
        "b.json:1:8: invalid baseline: not UTF-8 text: the file ends inside a character"
    );
    let e = Baseline::parse_bytes(p, b"\xff\xfe{\0").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("b.json:1:1: invalid baseline: UTF-16 text"),
        "{e}"
    );
}

#[test]
fn a_value_is_found_by_its_trail() {
    let text = r#"{"a": {"b": [1, "x\"]", {"c": 2}]}, "a": [true, {"d": null}]}"#;
    let at = |steps: &[Step]| locate(text, steps).map(|o| &text[o..o + 4]);
    let f = |s: &str, n| Step::Field(s.into(), n);
    assert_eq!(at(&[f("a", 0), f("b", 0), Step::Index(2)]), Some("{\"c\""));
    assert_eq!(at(&[f("a", 1), Step::Index(1), f("d", 0)]), Some("null"));
    assert_eq!(at(&[f("a", 2)]), None);
    assert_eq!(at(&[f("a", 0), f("b", 0), Step::Index(9)]), None);
}

const MOKA_OLD: &str = "site:/home/alice/.cargo/registry/src/index.crates.io-6f17d22bba15001f/\
                        moka-0.12.16/src/sync/cache.rs:10:5:moka::Inner";
const MOKA: &str = "site:moka-0.12.16/src/sync/cache.rs:10:5:moka::Inner";
const TOKIO_OLD: &str =
    "site:/home/alice/.cargo/git/checkouts/tokio-377c595163f99a10/d8e4d0d/tokio/src/m.rs:8:1";
const TOKIO: &str = "site:tokio/tokio/src/m.rs:8:1";

#[test]
fn dependency_sites_read_as_the_runtime_writes_them_now() {
    let b = Baseline::new([
        // `site:/...` sorted first; `site:src/...` now does.
        BaselineEntry::cycle(
            format!("cycle:{TOKIO_OLD} -> site:src/a.rs:1:1"),
            vec![TOKIO_OLD.into(), "site:src/a.rs:1:1".into()],
        ),
        BaselineEntry::key(format!("cycle:name:x -> {MOKA_OLD}")).unwrap(),
        BaselineEntry::key(format!("order:{MOKA_OLD} -> name:x")).unwrap(),
        BaselineEntry::key("cycle:name:a -> name:b").unwrap(),
    ]);
    let keys: Vec<&str> = b.entries().map(|e| e.key.as_str()).collect();
    let rotated = format!("cycle:site:src/a.rs:1:1 -> {TOKIO}");
    let named = format!("cycle:name:x -> {MOKA}");
    let order = format!("order:{MOKA} -> name:x");
    assert_eq!(keys, ["cycle:name:a -> name:b", &named, &rotated, &order]);
    let locks = |key: &str| b.entries().find(|e| e.key == key).unwrap().locks.clone();
    assert_eq!(locks(&rotated), ["site:src/a.rs:1:1", TOKIO]);
    assert_eq!(locks(&named), ["name:x", MOKA]);
    let edges = b.covered_edges();
    assert!(edges.contains(&(TOKIO, "site:src/a.rs:1:1")));
    assert!(edges.contains(&(MOKA, "name:x")));
    // Read back, the same.
    assert_eq!(
        Baseline::parse(Path::new("b.json"), &b.to_json()).unwrap(),
        b
    );
}

#[test]
fn a_hand_edited_cycle_from_another_lock_reads_as_the_check_names_it() {
    // The key from one lock, the locks from another, or both from the same
    // one that does not sort first: the check's key, from `name:a`.
    let abc = ["name:a", "name:b", "name:c"].map(String::from).to_vec();
    for (key, locks) in [
        (
            "cycle:name:b -> name:c -> name:a",
            vec!["name:b", "name:c", "name:a"],
        ),
        (
            "cycle:name:c -> name:a -> name:b",
            vec!["name:a", "name:b", "name:c"],
        ),
        (
            "cycle:name:a -> name:b -> name:c",
            vec!["name:c", "name:a", "name:b"],
        ),
    ] {
        let locks = locks.into_iter().map(String::from).collect();
        let b = Baseline::new([BaselineEntry::cycle(key, locks)]);
        assert!(b.contains("cycle:name:a -> name:b -> name:c"), "{key}");
        assert_eq!(b.entries().next().unwrap().locks, abc, "{key}");
    }
    // From the key alone, and with a dependency's site made portable.
    let b = Baseline::new([
        BaselineEntry::key("cycle:name:c -> name:a -> name:b").unwrap(),
        BaselineEntry::cycle(
            format!("cycle:{TOKIO_OLD} -> name:b"),
            vec!["name:b".into(), TOKIO_OLD.into()],
        ),
    ]);
    let keys: Vec<&str> = b.entries().map(|e| e.key.as_str()).collect();
    let tokio = format!("cycle:name:b -> {TOKIO}");
    assert_eq!(keys, ["cycle:name:a -> name:b -> name:c", tokio.as_str()]);
}

#[test]
fn an_entry_whose_key_is_not_its_locks_keeps_its_key() {
    // The reversed cycle is another one: key and locks are each made
    // portable, and each keeps its order.
    let b = Baseline::new([BaselineEntry::cycle(
        format!("cycle:{TOKIO_OLD} -> name:b -> name:c"),
        vec!["name:c".into(), "name:b".into(), TOKIO_OLD.into()],
    )]);
    let e = b.entries().next().unwrap();
    assert_eq!(e.key, format!("cycle:{TOKIO} -> name:b -> name:c"));
    assert_eq!(e.locks, ["name:c", "name:b", TOKIO]);
}

#[test]
fn entries_without_dependency_sites_are_kept_as_written() {
    let odd = [
        BaselineEntry::cycle(
            "cycle:name:b -> name:a",
            vec!["name:a".into(), "name:x".into()],
        ),
        BaselineEntry::cycle("cycle:", Vec::new()),
        BaselineEntry::key("cycle:anon -> anon").unwrap(),
        BaselineEntry::key("order:name:a -> b -> site:src/x.rs:1:1").unwrap(),
        BaselineEntry::key("cycle:name:a -> site:/work/app/src/x.rs:1:1").unwrap(),
    ];
    let b = Baseline::new(odd.clone());
    let mut want = odd.to_vec();
    want.sort();
    assert_eq!(b.entries().cloned().collect::<Vec<_>>(), want);
}

/// A raw control character in a string is placed on itself, wherever
/// serde_json met it: in a value the first reading skips (a lock name,
/// whose error serde_json places one byte early) or in one it reads (a
/// field's name, placed after the character), after multi-byte characters
/// on its line, and on a later line.
#[test]
fn a_control_character_in_a_string_is_placed_on_itself() {
    let p = Path::new("b.json");
    let at = |text: &str| match Baseline::parse(p, text).unwrap_err() {
        Error::Baseline {
            position, message, ..
        } => (position.unwrap(), message),
        e => panic!("{e}"),
    };
    // The column of the first control character, counted in characters.
    let want = |text: &str| {
        let i = text.find(|c: char| c < ' ' && c != '\n').unwrap();
        let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
        (
            text[..i].matches('\n').count() + 1,
            text[line_start..i].chars().count() + 1,
        )
    };
    for text in [
        // A lock name: a tab, \x01, after é and ✓ (two and three bytes).
        "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"cycle:x\",\"locks\":[\"a\tb\"]}]}",
        "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"cycle:x\",\"locks\":[\"\u{1}\"]}]}",
        "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"cycle:é✓\u{1}\"}]}",
        "{\n  \"lockgraph_baseline\": 1,\n  \"cycles\": [{\"key\": \"cycle:ééé\t\t\"}]\n}",
        // An unknown field's value, skipped by both readings.
        "{\"lockgraph_baseline\":1,\"note\":\"é\u{1f}\"}",
        // A field's name, and the version's value: read, not skipped.
        "{\"lockgraph_baseline\":1,\"é\t\t\":1}",
        "{\"lockgraph_baseline\":\"1é\u{7}\"}",
        "{\n\"é\u{2}\":1}",
    ] {
        let (position, message) = at(text);
        assert_eq!(position, want(text), "{text:?}: {message}");
        assert!(
            message.starts_with("not JSON: control character"),
            "{text:?}: {message}"
        );
    }
}

/// The other errors of JSON itself keep their places after multi-byte
/// characters, in a skipped value and in a read one.
#[test]
fn other_json_errors_after_multibyte_characters_keep_their_columns() {
    let p = Path::new("b.json");
    for (text, want) in [
        // A bad escape: its letter.
        (
            "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"é\\q\"}]}",
            "b.json:1:45: invalid baseline: not JSON: invalid escape (at `cycles`)",
        ),
        (
            "{\"é\\q\":1}",
            "b.json:1:5: invalid baseline: not JSON: invalid escape",
        ),
        // A bad \u escape, a control character after it: the escape's
        // last digit.
        (
            "{\"lockgraph_baseline\":1,\"note\":\"é\\u00zz\t\"}",
            "b.json:1:39: invalid baseline: not JSON: invalid escape (at `note`)",
        ),
        // A character where a value belongs.
        (
            "{\"é\":\u{1}}",
            "b.json:1:6: invalid baseline: not JSON: expected value (at `é`)",
        ),
        (
            "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"é\"}✓]}",
            "b.json:1:46: invalid baseline: not JSON: expected `,` or `]` (at `cycles`)",
        ),
    ] {
        let e = Baseline::parse(p, text).unwrap_err().to_string();
        assert_eq!(e, want, "{text:?}");
    }
}

/// A cycle entry whose key and locks name two cycles is refused at the
/// entry, naming both: it tolerated the key's cycle and counted the locks'
/// edges as baselined, silently. A key spelled from another lock of the
/// same cycle, or a lock whose id holds ` -> ` itself, agrees.
#[test]
fn an_entry_whose_key_and_locks_disagree_is_refused() {
    let p = Path::new("b.json");
    let text = "{\"lockgraph_baseline\":1,\"cycles\":[\n  {\"key\":\"cycle:name:a -> name:b\",\"locks\":[\"name:c\",\"name:d\"]}]}";
    let e = Baseline::parse(p, text).unwrap_err().to_string();
    assert_eq!(
        e,
        "b.json:2:3: invalid baseline: the entry's `key` (cycle:name:a -> name:b) and its \
         `locks` (name:c -> name:d) name different cycles: the check would tolerate the key's \
         cycle and count the locks' edges as baselined; correct one of them, or write the \
         baseline again with `lockgraph baseline` (at `cycles[0]`)"
    );
    // One lock more than the key names, or one fewer.
    for locks in ["\"name:a\",\"name:b\",\"name:c\"", "\"name:a\""] {
        let text = format!(
            "{{\"lockgraph_baseline\":1,\"cycles\":[{{\"key\":\"cycle:name:a -> name:b\",\"locks\":[{locks}]}}]}}"
        );
        let e = Baseline::parse(p, &text).unwrap_err().to_string();
        assert!(e.contains("name different cycles"), "{locks}: {e}");
    }
    for (key, locks) in [
        ("cycle:name:b -> name:a", "\"name:a\",\"name:b\""),
        ("cycle:name:x -> y -> name:b", "\"name:x -> y\",\"name:b\""),
        ("cycle:name:b -> name:x -> y", "\"name:x -> y\",\"name:b\""),
    ] {
        let text = format!(
            "{{\"lockgraph_baseline\":1,\"cycles\":[{{\"key\":\"{key}\",\"locks\":[{locks}]}}]}}"
        );
        Baseline::parse(p, &text).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    // A dependency's site written with its full path on one side and
    // without on the other: the same class.
    let entry = BaselineEntry::cycle(
        format!("cycle:name:b -> {TOKIO_OLD}"),
        vec!["name:b".into(), TOKIO.into()],
    );
    assert!(entry.key_agrees_with_locks());
}

/// A cycle through a run of a million locks of one class (found at run
/// time): its key and its `locks` write the run once, with its count, and
/// read back the same; its edges are the run's own and the one out of it.
#[test]
fn a_run_of_locks_is_written_once_and_read_back() {
    let node = "site:src/list.rs:3:9:app::Node";
    let key = format!("cycle:name:head -> {node} * 1048576");
    let entry = BaselineEntry::cycle_of_runs(
        key.clone(),
        vec![("name:head".to_string(), 1), (node.to_string(), 1 << 20)],
    );
    assert!(entry.has_runs());
    let b = Baseline::new([entry]);
    let json = b.to_json();
    assert!(json.len() < 400, "{json}");
    assert!(
        json.contains(&format!(
            "{{\n          \"class\": \"{node}\",\n          \"count\": 1048576\n        }}"
        )),
        "{json}"
    );
    let back = Baseline::parse(Path::new("b.json"), &json).unwrap();
    assert_eq!(back, b);
    assert!(back.contains(&key));
    let edges = back.covered_edges();
    assert_eq!(edges.len(), 3, "{edges:?}");
    assert!(edges.contains(&(node, node)) && edges.contains(&(node, "name:head")));
    // Read from its key alone, the same.
    let from_key = BaselineEntry::key(key.clone()).unwrap();
    assert_eq!((from_key.locks.len(), from_key.count(1)), (2, 1 << 20));
    assert!(Baseline::new([from_key]).contains(&key));
}

/// A key of a cycle of one class written lock by lock, before runs were
/// written once, reads as the check writes it now; anonymous locks, which
/// may be two classes, stay apart.
#[test]
fn a_key_spelling_a_run_out_reads_as_the_run() {
    let b = Baseline::new([
        BaselineEntry::key("cycle:name:c -> name:c -> name:c -> name:d").unwrap(),
        BaselineEntry::key("cycle:anon -> anon").unwrap(),
    ]);
    assert!(b.contains("cycle:name:c * 3 -> name:d"), "{b:?}");
    assert!(b.contains("cycle:anon -> anon"));
}

#[test]
fn a_bad_run_is_an_error_naming_it() {
    let p = Path::new("b.json");
    let entry = |locks: &str| {
        format!(
            "{{\"lockgraph_baseline\":1,\"cycles\":[{{\"key\":\"cycle:name:c * 3\",\"locks\":[{locks}]}}]}}"
        )
    };
    for (locks, want) in [
        (
            "{\"class\":\"name:c\"}",
            "b.json:1:70: invalid baseline: missing field `count` (at `cycles[0].locks[0]`)",
        ),
        (
            "{\"class\":\"name:c\",\"count\":0}",
            "b.json:1:96: invalid baseline: a run of 0 locks (a count is 1 at least) (at \
             `cycles[0].locks[0].count`)",
        ),
        (
            "{\"class\":\"name:c\",\"count\":2}",
            "b.json:1:35: invalid baseline: the entry's `key` (cycle:name:c * 3) and its `locks` \
             (name:c * 2) name different cycles",
        ),
    ] {
        let e = Baseline::parse(p, &entry(locks)).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}\nwanted {want}");
    }
    assert!(Baseline::parse(p, &entry("{\"class\":\"name:c\",\"count\":3}")).is_ok());
}
