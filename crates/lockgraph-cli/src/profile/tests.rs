//! The profile reader's tests: parsing, errors, merging, output.

use std::path::Path;

use super::*;

const ENTRY: &str = r#"{"class":"name:q","name":"q","kind":"Mutex","site":null,"acquisitions":100,"contended":40,"wait_ns":5000,"max_wait_ns":900,"reads":0,"hold_samples":10,"hold_ns":1000,"max_hold_ns":300,"waiting_threads":3,"blocking_calls":0,"blocking_ns":0,"blocking_what":null}"#;

fn file(classes: &str) -> String {
    format!(r#"{{"lockgraph_profile":1,"pid":7,"exe":"/bin/t","classes":[{classes}]}}"#)
}

#[test]
fn a_valid_file_parses() {
    let f = parse(Path::new("p.json"), file(ENTRY).as_bytes()).unwrap();
    assert_eq!(f.pid, 7);
    assert_eq!(f.classes.len(), 1);
    assert_eq!(f.classes[0].name.as_deref(), Some("q"));
    assert_eq!(f.classes[0].waiting_threads, 3);
}

#[test]
fn bad_files_name_the_problem() {
    let p = Path::new("p.json");
    for (text, want) in [
        ("{".to_string(), "p.json:1:2: invalid profile: not JSON"),
        (
            "[1]".to_string(),
            "p.json:1:1: invalid profile: invalid type: sequence, expected a JSON object",
        ),
        ("{}".to_string(), "not a lockgraph profile"),
        (
            r#"{"lockgraph_profile":2}"#.to_string(),
            "unsupported profile version 2",
        ),
        (
            r#"{"lockgraph_profile":"1"}"#.to_string(),
            "must be a version number",
        ),
        (
            r#"{"lockgraph_profile":1}"#.to_string(),
            "missing field `classes`",
        ),
        (
            file(&ENTRY.replace(r#""hold_ns":1000,"#, "")),
            "classes[0]: missing field `hold_ns`",
        ),
        (
            file(&format!("{ENTRY},{}", ENTRY.replace(r#""site":null,"#, ""))),
            "classes[1]: missing field `site`",
        ),
        (
            file(&ENTRY.replace(r#""reads":0"#, r#""reads":-1"#)),
            "classes[0].reads: invalid value: integer `-1`, expected u64",
        ),
        // The field at fault is named (serde names only the entry).
        (
            file(&format!(
                "{ENTRY},{}",
                ENTRY.replace(r#""acquisitions":100"#, r#""acquisitions":"ten""#)
            )),
            "classes[1].acquisitions: invalid type: string \"ten\", expected u64",
        ),
        (
            file("[\"name:q\"]"),
            "classes[0]: invalid type: sequence, expected a JSON object",
        ),
    ] {
        let e = parse(p, text.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
}

/// Multi-byte characters before the error (a program under
/// `/home/josé/ツール`, a lock named `caché`): the column counts
/// characters, not bytes, on the error's line.
#[test]
fn columns_count_characters_not_bytes() {
    let p = Path::new("p.json");
    let wide = file(&ENTRY.replace(r#""q""#, r#""caché""#)).replace("/bin/t", "/home/josé/ツール");
    // The 1-based character column of the first `s` in `text`'s last line.
    let col = |text: &str, s: &str| {
        let line = &text[text.rfind('\n').map_or(0, |i| i + 1)..];
        line[..line.find(s).unwrap()].chars().count() + 1
    };
    let syntax = wide.replace(r#""acquisitions":100,"#, r#""acquisitions":100;"#);
    let e = parse(p, syntax.as_bytes()).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "p.json:1:{}: invalid profile: not JSON: expected `,` or `}}`",
            col(&syntax, ";")
        )
    );
    // Eight bytes more than characters before it: serde_json's column
    // was 152.
    assert_eq!((col(&syntax, ";"), syntax.find(';')), (144, Some(151)));
    // On a later line, a wrong value in a class entry: placed where
    // serde_json gave up on the entry, the `,` after the value.
    let data = wide
        .replace(r#""classes":"#, "\n\"classes\":")
        .replace(r#""reads":0"#, r#""reads":"0""#);
    let e = parse(p, data.as_bytes()).unwrap_err().to_string();
    let comma = col(&data, r#""reads":"0""#) + r#""reads":"0""#.len();
    assert!(
        e.starts_with(&format!(
            "p.json:2:{comma}: invalid profile: classes[0].reads: invalid type: string \"0\""
        )),
        "{e}"
    );
    // A raw control character: placed on itself.
    let control = wide.replace("ツール", "ツール\u{1}");
    let e = parse(p, control.as_bytes()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "p.json:1:{}: invalid profile: not JSON: control character",
            col(&control, "\u{1}")
        )),
        "{e}"
    );
}

#[test]
fn an_overflowing_sum_is_an_error() {
    let big = ENTRY.replace(r#""wait_ns":5000"#, &format!(r#""wait_ns":{}"#, u64::MAX));
    let a = parse(Path::new("a.json"), file(&big).as_bytes()).unwrap();
    let b = parse(Path::new("b.json"), file(ENTRY).as_bytes()).unwrap();
    let e = merge(&[a, b]).unwrap_err().to_string();
    assert!(
        e.starts_with("b.json: invalid profile: `wait_ns` of class `name:q` overflows"),
        "{e}"
    );
}
