//! The variables' parsing and their table.

use super::*;
use std::fmt;

#[test]
fn switches_accept_every_spelling_trimmed_and_in_any_case() {
    for on in ["1", "on", "ON", " true ", "Yes"] {
        assert_eq!(Kind::Switch.parse(on), Ok(Value::Switch(true)), "{on}");
    }
    for off in ["0", "off", "False", "no "] {
        assert_eq!(Kind::Switch.parse(off), Ok(Value::Switch(false)), "{off}");
    }
    let e = Kind::Switch.parse("maybe").unwrap_err();
    assert_eq!(e.expected, "on or off");
}

#[test]
fn a_switch_with_words_and_a_choice_with_aliases() {
    let k = ATOMICITY.kind;
    assert_eq!(k.parse("WARN"), Ok(Value::Word("warn")));
    assert_eq!(k.parse("1"), Ok(Value::Word("on")));
    assert_eq!(k.parse("no"), Ok(Value::Word("off")));
    // A typo is an error, not "on".
    assert_eq!(k.parse("onn").unwrap_err().expected, "on, off or warn");
    let k = WATCHDOG_ACTION.kind;
    assert_eq!(k.parse(" Abort"), Ok(Value::Word("abort")));
    assert_eq!(k.parse("warn"), Ok(Value::Word("report")));
    assert_eq!(
        k.parse("explode").unwrap_err().expected,
        "report, abort or warn (= report)"
    );
    assert_eq!(
        ON_CYCLE.kind.parse("x").unwrap_err().expected,
        "warn, panic, abort or off"
    );
}

#[test]
fn durations_and_switches_for_the_watchdog() {
    let k = WATCHDOG.kind;
    assert_eq!(
        k.parse("750ms"),
        Ok(Value::Duration(Duration::from_millis(750)))
    );
    assert_eq!(k.parse("1"), Ok(Value::Duration(Duration::from_secs(5))));
    assert_eq!(k.parse("off"), Ok(Value::Switch(false)));
    assert!(k.parse("5").is_err());
}

#[test]
fn durations_parse_with_units_and_errors_name_the_value() {
    assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse_duration("750ms"), Ok(Duration::from_millis(750)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration(" 100us "), Ok(Duration::from_micros(100)));
    for bad in ["", "5", "s", "5 parsecs", "-1s", "1..2s"] {
        let e = parse_duration(bad).unwrap_err();
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
}

#[test]
fn a_duration_past_the_limit_is_too_large_not_malformed() {
    // Exactly to the nanosecond, up to the limit itself.
    assert_eq!(
        parse_duration("18446744073709551615.999999999s"),
        Ok(Duration::MAX),
        "the limit in words is the limit"
    );
    assert_eq!(
        parse_duration("18446744073709551615ns"),
        Ok(MAX_ENV_DURATION)
    );
    assert_eq!(
        parse_duration("18446744073.709551615s"),
        Ok(MAX_ENV_DURATION)
    );
    assert_eq!(
        parse_duration("9007199254740993ns"),
        Ok(Duration::from_nanos(9_007_199_254_740_993))
    );
    assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("0.1us"), Ok(Duration::from_nanos(100)));
    assert_eq!(
        parse_duration("1.000000000000000000000000001s"),
        Ok(Duration::from_secs(1))
    );
    for big in [
        "18446744073709551616s",
        "99999999999999999999s",
        "307445734561825861m",
        "1000000000000000000000000000000000000000000000000000ms",
    ] {
        let e = parse_duration(big).unwrap_err();
        assert_eq!(e, ParseDurationError::TooLarge(big.to_string()));
        assert_eq!(
            e.to_string(),
            format!(
                "duration {big:?} is too large: at most 18446744073709551615.999999999s \
                 (about 585 billion years)"
            )
        );
    }
    // Malformed input keeps its message, whatever its size.
    for bad in ["1e30s", "99999999999999999999", "9999999999999999999x", "."] {
        let e = parse_duration(bad).unwrap_err();
        assert_eq!(e, ParseDurationError::Malformed(bad.to_string()));
        assert!(
            e.to_string()
                .ends_with("expected a number with a unit (ns, us, ms, s, m), e.g. 5s or 750ms"),
            "{e}"
        );
    }
}

#[test]
fn a_variable_too_large_is_named_with_its_limit() {
    // The watchdog's limit: a longer timeout would wrap round in its
    // 64-bit nanoseconds to a short one.
    assert_eq!(
        WATCHDOG.kind.parse("18446744073.709551615s"),
        Ok(Value::Duration(MAX_ENV_DURATION))
    );
    for big in [
        "18446744074s",
        "99999999999999999999s",
        "99999999999999999999999999m",
    ] {
        let e = WATCHDOG.kind.parse(big).unwrap_err();
        assert_eq!(
            WATCHDOG.message(big, &e),
            format!(
                "lockgraph: LOCKGRAPH_WATCHDOG: value {big:?} is too large: \
                 at most 18446744073.709551615s (about 584 years); using off"
            )
        );
    }
    let e = WATCHDOG.kind.parse("5 parsecs").unwrap_err();
    assert_eq!(
        WATCHDOG.message("5 parsecs", &e),
        "lockgraph: LOCKGRAPH_WATCHDOG: unknown value \"5 parsecs\" (expected a duration \
         with a unit (ns, us, ms, s, m), e.g. 5s or 750ms, or on or off); using off"
    );
    for big in [
        "18446744073709551616",
        "99999999999999999999k",
        "18014398509481984k",
    ] {
        let e = MAX_EDGES.kind.parse(big).unwrap_err();
        assert_eq!(
            MAX_EDGES.message(big, &e),
            format!(
                "lockgraph: LOCKGRAPH_MAX_EDGES: value {big:?} is too large: \
                 at most 18446744073709551615 (2^64 - 1); using 1m"
            )
        );
    }
    assert_eq!(
        Kind::Size.parse("18446744073709551615"),
        Ok(Value::Size(u64::MAX))
    );
    assert_eq!(Kind::Size.parse("+5"), Ok(Value::Size(5)));
    for bad in ["99999999999999999999x", "0k", "k", "1.5k"] {
        let e = MAX_EDGES.kind.parse(bad).unwrap_err();
        assert_eq!(e.too_large, None, "{bad}");
        assert!(
            MAX_EDGES.message(bad, &e).contains("unknown value"),
            "{bad}"
        );
    }
}

#[test]
fn sizes_take_suffixes_and_refuse_zero() {
    assert_eq!(Kind::Size.parse("100"), Ok(Value::Size(100)));
    assert_eq!(Kind::Size.parse("64K"), Ok(Value::Size(65_536)));
    assert_eq!(Kind::Size.parse("1m"), Ok(Value::Size(1 << 20)));
    assert_eq!(Kind::Size.parse("1_000"), Ok(Value::Size(1000)));
    for bad in ["0", "-3", "lots", "2g"] {
        assert!(Kind::Size.parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_default_parses_and_names_are_unique() {
    let mut names = std::collections::HashSet::new();
    for v in VARIABLES {
        assert!(v.name.starts_with("LOCKGRAPH_"), "{}", v.name);
        assert!(names.insert(v.name), "{} twice", v.name);
        if !v.default.is_empty() {
            assert!(v.kind.parse(v.default).is_ok(), "{}", v.name);
        }
        assert!(!v.doc.is_empty() && !v.doc.contains('|'), "{}", v.name);
    }
    assert_eq!(MAX_CLASSES.default_value(), Value::Size(65_536));
    assert_eq!(MAX_EDGES.default_value(), Value::Size(1 << 20));
}

#[test]
fn a_bad_value_message_names_the_variable_the_value_and_the_default() {
    let e = ORDER.kind.parse("sometimes").unwrap_err();
    let m = ORDER.message("sometimes", &e);
    assert!(
        m.starts_with(
            "lockgraph: LOCKGRAPH_ORDER: unknown value \"sometimes\" (expected on or off); using "
        ),
        "{m}"
    );
    let e = ON_CYCLE.kind.parse("explode").unwrap_err();
    assert_eq!(
        ON_CYCLE.message("explode", &e),
        "lockgraph: LOCKGRAPH_ON_CYCLE: unknown lockgraph policy \"explode\" \
         (expected warn, panic, abort or off); using warn"
    );
    let e = MAX_EDGES.kind.parse("0").unwrap_err();
    assert!(MAX_EDGES.message("0", &e).ends_with("; using 1m"));
}

/// A subscriber that keeps the messages of the events it is given.
struct Keep(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Keep {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.lock().unwrap().push(m.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_bad_value_is_said_once_as_a_tracing_event_and_the_default_used() {
    static V: Variable = var("LOCKGRAPH_UNIT_TEST_SWITCH", Kind::Switch, "on", "a test's");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let got = tracing::subscriber::with_default(Keep(seen.clone()), || {
        (
            V.value_of(Some("maybe".into())),
            V.value_of(Some("perhaps".into())),
            V.value_of(Some(" NO ".into())),
            V.value_of(None),
        )
    });
    assert_eq!(
        got,
        (
            Value::Switch(true),
            Value::Switch(true),
            Value::Switch(false),
            Value::Switch(true)
        )
    );
    assert!(crate::delivery::flush_reports(
        std::time::Duration::from_secs(30)
    ));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["lockgraph: LOCKGRAPH_UNIT_TEST_SWITCH: unknown value \"maybe\" (expected on or off); using on"],
        "said once, naming the first bad value"
    );
}

/// `docs/environment.md` lists the table: regenerate it from
/// [`markdown_table`] when this fails.
#[test]
fn the_environment_doc_lists_every_variable_of_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/environment.md");
    let doc = std::fs::read_to_string(path).expect("docs/environment.md");
    let begin = "<!-- table: generated from lockgraph_core::env::markdown_table -->\n";
    let end = "<!-- end of table -->";
    let start = doc.find(begin).expect("the table's start marker") + begin.len();
    let stop = start + doc[start..].find(end).expect("the table's end marker");
    let table = markdown_table();
    assert!(
        doc[start..stop] == table,
        "docs/environment.md's table differs from lockgraph_core::env::VARIABLES; it should read:\n{table}"
    );
}

/// Every `LOCKGRAPH_*` name the workspace's code and scripts use is in
/// `docs/environment.md` (the library's table or the tools' one), and
/// every name that file lists is used somewhere: a variable added to a
/// test, a bench or the CLI cannot go undocumented, nor a removed one
/// stay documented.
#[test]
fn the_environment_doc_and_the_code_name_the_same_variables() {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The full `LOCKGRAPH_*` names in `text` (a bare prefix such as
    /// the benches' `LOCKGRAPH_BENCH_` is not a name).
    fn names(text: &str, into: &mut BTreeSet<String>) {
        let prefix = concat!("LOCKGRAPH", "_");
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..len];
            if name.len() > prefix.len() && !name.ends_with('_') {
                into.insert(name.to_string());
            }
            rest = &tail[len..];
        }
    }
    fn walk(dir: &Path, into: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    walk(&path, into);
                }
            } else if name.ends_with(".rs") || name.ends_with(".sh") || name == "run" {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    names(&text, into);
                }
            }
        }
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut used = BTreeSet::new();
    for dir in [
        "src", "crates", "tests", "benches", "examples", "scripts", ".ci",
    ] {
        walk(&root.join(dir), &mut used);
    }
    // This module's own unit test variable, never read by lockgraph.
    used.remove(concat!("LOCKGRAPH", "_UNIT_TEST_SWITCH"));
    assert!(
        used.len() >= VARIABLES.len(),
        "the walk found too little: {used:?}"
    );

    let doc =
        std::fs::read_to_string(root.join("docs/environment.md")).expect("docs/environment.md");
    let mut documented = BTreeSet::new();
    names(&doc, &mut documented);

    let undocumented: Vec<_> = used.difference(&documented).collect();
    let unused: Vec<_> = documented.difference(&used).collect();
    assert!(
        undocumented.is_empty() && unused.is_empty(),
        "docs/environment.md and the code disagree: used but not documented {undocumented:?}; \
         documented but used nowhere {unused:?}"
    );
}
