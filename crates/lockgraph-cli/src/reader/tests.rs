use std::borrow::Cow;

use super::parse::{Parsed, EDGE_TEMPLATE, HEADER_TEMPLATE, STACK_TEMPLATE};
use super::*;

const HEADER: &str =
    r#"{"lockgraph_record":1,"pid":7,"exe":"/bin/t","args":["a"],"started_unix_ms":5}"#;
const EDGE: &str = r#"{"type":"edge","from":{"class":"name:a","name":"a","kind":"Mutex","site":null},"to":{"class":"name:b","name":"b","kind":"Mutex","site":null},"hold":"exclusive","request":"exclusive","gates":["7:3"],"thread":"main","pid":7,"exe":"/bin/t","held_at":"src/a.rs:1:2","requested_at":"src/a.rs:3:4","backtrace":["t::main (src/a.rs:3)"]}"#;

fn parse(text: &str) -> Result<(FileSummary, Vec<String>), RecordError> {
    let mut seen = Vec::new();
    let s = parse_reader(Path::new("f.jsonl"), text.as_bytes(), |line, e| {
        seen.push(format!("{line}:{}->{}", &*e.from.class, &*e.to.class));
    })?;
    Ok((s, seen))
}

#[test]
fn a_valid_file_yields_its_edges() {
    let (s, seen) = parse(&format!("{HEADER}\n{EDGE}\n\n{EDGE}\n")).unwrap();
    assert_eq!(s.header.as_ref().unwrap().pid, 7);
    assert_eq!(s.header.as_ref().unwrap().args, vec!["a".to_string()]);
    assert_eq!(seen, vec!["2:name:a->name:b", "4:name:a->name:b"]);
    assert!(s.warning.is_none());
}

#[test]
fn strings_without_escapes_are_borrowed() {
    let mut borrowed = false;
    parse_reader(
        Path::new("f"),
        format!("{HEADER}\n{EDGE}\n").as_bytes(),
        |_, e| {
            borrowed = matches!(e.thread.0, Cow::Borrowed(_))
                && matches!(e.backtrace[0].0, Cow::Borrowed(_));
        },
    )
    .unwrap();
    assert!(borrowed);
    let escaped = EDGE.replace("\"main\"", "\"ma\\u0069n\"");
    parse_reader(
        Path::new("f"),
        format!("{HEADER}\n{escaped}\n").as_bytes(),
        |_, e| {
            assert_eq!(&*e.thread, "main");
        },
    )
    .unwrap();
}

#[test]
fn unknown_types_are_ignored_even_with_other_fields() {
    let text = format!("{HEADER}\n{{\"type\":\"note\",\"from\":5}}\n{{\"type\":\"x\"}}\n{EDGE}\n");
    let (s, seen) = parse(&text).unwrap();
    assert_eq!(s.ignored, 2);
    assert_eq!(seen.len(), 1);
}

#[test]
fn a_torn_last_line_is_a_warning() {
    let torn = &EDGE[..EDGE.len() - 20];
    let (s, seen) = parse(&format!("{HEADER}\n{EDGE}\n{torn}")).unwrap();
    assert_eq!(seen.len(), 1);
    let w = s.warning.unwrap();
    assert_eq!(w.line, Some(3));
    assert!(w.message.contains("torn last line"), "{w}");
    // The same line with its newline is an error.
    let e = parse(&format!("{HEADER}\n{torn}\n{EDGE}\n")).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("truncated JSON"), "{e}");
}

#[test]
fn an_empty_file_or_a_torn_header_is_skipped_with_a_warning() {
    let (s, seen) = parse("").unwrap();
    assert!(s.header.is_none() && seen.is_empty());
    let w = s.warning.unwrap();
    assert_eq!(
        w.to_string(),
        "f.jsonl: skipped an empty record file (its process stopped before writing the header)"
    );
    let (s, _) = parse(&HEADER[..30]).unwrap();
    assert!(s.header.is_none());
    let w = s.warning.unwrap();
    assert_eq!(w.line, Some(1));
    assert!(w.message.starts_with("skipped a torn last line"), "{w}");
    // With its newline, or not the start of a header, it is an error.
    for text in [format!("{}\n", &HEADER[..30]), "garbage".to_string()] {
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(1), "{text:?}");
    }
}

/// A reader over chunks, as a file still being appended to looks: the
/// end of the file comes in the middle of a line, then the rest of the
/// line arrives.
struct Growing(Vec<&'static [u8]>);

impl Read for Growing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Ok(0);
        }
        let chunk = self.0.remove(0);
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            self.0.insert(0, &chunk[n..]);
        }
        Ok(n)
    }
}

#[test]
fn a_file_being_appended_to_ends_at_its_torn_line() {
    let header = format!("{HEADER}\n");
    let edge = format!("{EDGE}\n");
    let header: &'static str = Box::leak(header.into_boxed_str());
    let edge: &'static str = Box::leak(edge.into_boxed_str());
    // header, one edge, the first 40 bytes of the next, end of file for
    // now ("0 bytes"), then the rest of that line and one more.
    let chunks: Vec<&'static [u8]> = vec![
        header.as_bytes(),
        edge.as_bytes(),
        &edge.as_bytes()[..40],
        b"",
        &edge.as_bytes()[40..],
        edge.as_bytes(),
    ];
    let mut seen = 0;
    let s = parse_reader(
        Path::new("f.jsonl"),
        BufReader::with_capacity(16, Growing(chunks)),
        |_, _| seen += 1,
    )
    .unwrap();
    assert_eq!(seen, 1);
    assert_eq!(s.warning.unwrap().line, Some(3));
}

#[test]
fn header_problems_are_errors_on_line_1() {
    for (text, want) in [
        (EDGE, "no `lockgraph_record` field"),
        (
            "{\"lockgraph_record\":5,\"pid\":1}\n",
            "unsupported record format version 5",
        ),
        ("{\"lockgraph_record\":\"1\"}\n", "must be a version number"),
        (
            "{\"lockgraph_record\":18446744073709551617}\n",
            "found a number that is not one (negative, fractional or too large)",
        ),
        ("[1]\n", "found an array"),
        ("\u{1}\u{2}garbage\n", "not a lockgraph record header"),
        ("{\"lockgraph_record\":1,\"pid\":\"x\"}\n", "invalid header"),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, Some(1), "{text:?}");
        assert!(e.message.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn malformed_lines_name_the_line_and_the_problem() {
    for (line, want) in [
        ("{\"type\":\"edge\"}", "missing field `from`"),
        ("{\"from\":1}", "missing field `type`"),
        ("not json", "invalid JSON: "),
        ("\"edge\"", "expected a JSON object, found a string"),
        (
            &EDGE.replace("\"exclusive\",\"request\"", "\"sometimes\",\"request\""),
            "field `hold`: invalid value: string \"sometimes\", expected one of",
        ),
        (
            &EDGE.replace("\"pid\":7,\"exe\"", "\"pid\":-7,\"exe\""),
            "invalid edge record",
        ),
        (&EDGE.replace("name:a", ""), "empty lock class"),
        ("{\"type\":\"edge\",", "truncated JSON"),
    ] {
        let e = parse(&format!("{HEADER}\n{EDGE}\n{line}\n")).unwrap_err();
        assert_eq!(e.line, Some(3), "{line}");
        assert!(e.message.contains(want), "{line}: {e}");
        assert!(e.to_string().starts_with("f.jsonl:3: "), "{e}");
    }
}

/// A wrong value in valid JSON names its field, and is an error also on
/// the last line without its newline: only a line that is not JSON can
/// be a torn one. (serde_json took a number for an enum for a syntax
/// error, `expected value`, so that such a last line was skipped.)
#[test]
fn a_wrong_value_names_its_field_and_is_never_a_torn_line() {
    for (find, put, want) in [
        (
            "\"hold\":\"exclusive\"",
            "\"hold\":5",
            "field `hold`: invalid type: integer `5`, expected one of \"exclusive\", \"shared\", \"upgradable\"",
        ),
        (
            "\"request\":\"exclusive\"",
            "\"request\":null",
            "field `request`: invalid type: null, expected one of \"exclusive\", \"read\", \"recursive_read\", \"upgradable\"",
        ),
        (
            "\"request\":\"exclusive\"",
            "\"request\":\"write\"",
            "field `request`: invalid value: string \"write\", expected one of",
        ),
        ("\"main\"", "5", "field `thread`: invalid type: integer `5`, expected a string"),
        (
            "\"from\":{\"class\":\"name:a\",\"name\":\"a\",\"kind\":\"Mutex\",\"site\":null}",
            "\"from\":5",
            "field `from`: invalid type: integer `5`, expected a lock class (an object)",
        ),
        ("\"kind\":\"Mutex\",\"site\":null},\"hold", "\"kind\":[],\"site\":null},\"hold", "field `to.kind`: invalid type: sequence"),
        ("\"class\":\"name:b\",", "", "missing field `to.class`"),
        ("[\"7:3\"]", "[\"7:3\",true]", "field `gates[1]`: invalid type: boolean `true`"),
    ] {
        let line = EDGE.replacen(find, put, 1);
        assert_ne!(line, EDGE, "{find}");
        let e = parse(&format!("{HEADER}\n{line}\n")).unwrap_err();
        assert!(e.message.starts_with("invalid edge record: "), "{e}");
        assert!(e.message.contains(want), "{line}: {e}");
        // The last line, without its newline: the same error.
        let last = parse(&format!("{HEADER}\n{EDGE}\n{line}")).unwrap_err();
        assert_eq!(last.line, Some(3), "{last}");
        assert!(last.message.contains(want), "{line}: {last}");
    }
    // The header's fields too.
    let header = HEADER.replace("\"/bin/t\"", "5");
    let e = parse(&format!("{header}\n")).unwrap_err();
    assert!(
        e.message.starts_with(
            "invalid header: field `exe`: invalid type: integer `5`, expected a string"
        ),
        "{e}"
    );
    // Two bad fields: the first, with its own message (it named `pid`
    // with `exe`'s message: the typed parse read the fields sorted).
    let e = parse("{\"lockgraph_record\":3,\"pid\":\"x\",\"exe\":5}\n").unwrap_err();
    assert!(
        e.message
            .starts_with("invalid header: field `pid`: invalid type: string \"x\", expected u64"),
        "{e}"
    );
    let e = parse("{\"lockgraph_record\":3,\"pid\":1,\"exe\":5,\"args\":7}\n").unwrap_err();
    assert!(
        e.message.starts_with(
            "invalid header: field `exe`: invalid type: integer `5`, expected a string"
        ),
        "{e}"
    );
}

/// Every mode's word is the one it is written as, and read back as.
#[test]
fn each_modes_word_round_trips() {
    for m in HoldMode::ALL {
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, format!("\"{}\"", m.as_str()));
        assert_eq!(serde_json::from_str::<HoldMode>(&json).unwrap(), m);
    }
    for m in RequestMode::ALL {
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, format!("\"{}\"", m.as_str()));
        assert_eq!(serde_json::from_str::<RequestMode>(&json).unwrap(), m);
    }
}

/// The templates [`blamed`] puts in place of a bad line's values parse.
#[test]
fn the_templates_parse() {
    assert!(parse_line(EDGE_TEMPLATE.as_bytes()).is_ok_and(|e| matches!(e, Parsed::Edge(_))));
    assert!(parse_line(STACK_TEMPLATE.as_bytes()).is_ok_and(|e| matches!(e, Parsed::Stack(_))));
    assert!(parse_header(HEADER_TEMPLATE.as_bytes()).is_ok());
}

/// The error of `text` (a header, then `line`), as printed.
fn error_of(line: &str) -> String {
    parse(&format!("{HEADER}\n{line}\n"))
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

/// A gate that is not `<pid>:<lock id>` with an optional `:read` or
/// `:upgradable` is an error naming it: read as some exclusive lock's, it
/// would hide a cycle whose edges it is on (found by an outside test).
#[test]
fn a_gate_of_another_form_is_an_error_naming_it() {
    for good in [
        "7:3",
        "7:3:read",
        "7:3:upgradable",
        "4242:18446744073709551615",
    ] {
        let line = EDGE.replace("\"7:3\"", &format!("{good:?}"));
        assert!(parse(&format!("{HEADER}\n{line}\n")).is_ok(), "{good}");
    }
    for (i, bad) in [
        "7:3:shared",
        "7:3:Read",
        "7:3:read:x",
        "notapid",
        ":",
        "7:",
        ":3",
        "x:3",
        "7:3x",
    ]
    .iter()
    .enumerate()
    {
        let line = EDGE.replace(
            "\"gates\":[\"7:3\"]",
            &format!("\"gates\":[\"7:1\",{bad:?}]"),
        );
        let e = error_of(&line);
        assert!(
            e.contains("f.jsonl:2: field `gates[1]`")
                && e.contains(&format!("{bad:?} is not a gate")),
            "{i}: {e}"
        );
    }
}

/// A `stack` line with a missing or mistyped field is an error naming the
/// field, as an edge line's is: dropped, its edges would lose their frames
/// without a word (found by an outside test). One of another `type` is
/// still ignored.
#[test]
fn a_bad_stack_line_is_an_error_naming_its_field() {
    let e = error_of(r#"{"type":"stack","stack":"7:1","pid":7,"backtrace":["f",1]}"#);
    assert!(
        e.contains("f.jsonl:2: invalid stack record: field `backtrace[1]`"),
        "{e}"
    );
    let e = error_of(r#"{"type":"stack","stack":1,"backtrace":["f"]}"#);
    assert!(e.contains("field `stack`"), "{e}");
    let e = error_of(r#"{"type":"stack","stack":"7:1"}"#);
    assert!(
        e.contains("it has neither `backtrace` (resolved frames) nor `modules` and `raw`"),
        "{e}"
    );
    // A raw stack line (format version 4): a frame names a listed module.
    let e = error_of(
        r#"{"type":"stack","stack":"7:1","modules":[{"path":"/a","size":1,"mtime_ns":2}],"raw":[[0,9],[1,9]]}"#,
    );
    assert!(
        e.contains("f.jsonl:2: field `raw[1]`: module 1 is not in `modules` (1 listed)"),
        "{e}"
    );
    let e = error_of(
        r#"{"type":"stack","stack":"7:1","modules":[{"path":"/a","size":"1","mtime_ns":2}],"raw":[]}"#,
    );
    assert!(e.contains("field `modules[0].size`"), "{e}");
    let e = error_of(r#"{"type":"stack","stack":"7:1","modules":[],"raw":[[0,-1]]}"#);
    assert!(e.contains("field `raw[0][1]`"), "{e}");
    // Bytes that are not UTF-8 in a frame: not JSON, as in an edge line.
    let mut text = format!("{HEADER}\n").into_bytes();
    text.extend_from_slice(b"{\"type\":\"stack\",\"stack\":\"7:1\",\"backtrace\":[\"f\xff\"]}\n");
    let e = parse_reader(Path::new("f.jsonl"), &text[..], |_, _| {}).unwrap_err();
    assert!(
        e.to_string()
            .contains("f.jsonl:2: invalid JSON: a string holds bytes that are not UTF-8"),
        "{e}"
    );
    let (s, _) = parse(&format!(
        "{HEADER}\n{STACK_TEMPLATE}\n{{\"type\":\"stack2\",\"stack\":1}}\n"
    ))
    .unwrap();
    assert_eq!((s.stacks.len(), s.ignored), (1, 1));
}

/// A line without a string `type` says what it is: a second header (two
/// files joined), or a `type` of another JSON type.
#[test]
fn a_line_without_a_string_type_says_what_it_is() {
    let e = error_of(HEADER);
    assert!(e.contains("f.jsonl:2: a second header line"), "{e}");
    let e = error_of(r#"{"type":null,"from":1}"#);
    assert!(
        e.contains("f.jsonl:2: field `type`: expected a string, found null"),
        "{e}"
    );
    let e = error_of(r#"{"from":1}"#);
    assert!(
        e.contains("f.jsonl:2: invalid record: missing field `type`"),
        "{e}"
    );
}

/// A line with multi-byte characters before its error (a lock named
/// `caché`, a thread named `スレッド`, a path with `é` and `锁`): the
/// column counts characters, as an editor shows them, not bytes.
#[test]
fn columns_count_characters_not_bytes() {
    let wide = EDGE
        .replace(
            "\"name:a\",\"name\":\"a\"",
            "\"name:caché\",\"name\":\"caché\"",
        )
        .replace("\"main\"", "\"スレッド\"")
        .replace("src/a.rs:1:2", "src/é/锁.rs:1:2");
    // The 1-based character column of the first `c` in `line`.
    let col = |line: &str, c: char| line[..line.find(c).unwrap()].chars().count() + 1;
    let syntax = wide.replace("\"pid\":7,\"exe\"", "\"pid\":7;\"exe\"");
    let e = parse(&format!("{HEADER}\n{syntax}\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "f.jsonl:2: invalid JSON: expected `,` or `}}` at column {}",
            col(&syntax, ';')
        )
    );
    // Ten bytes more than characters before it (two `é`, four
    // three-byte characters): serde_json's column was 240.
    assert_eq!(col(&syntax, ';'), 230);
    assert_eq!(syntax.find(';'), Some(229 + 10));
    // A wrong value, after them: its last character (the closing
    // quote of `"7"`, where `;` was).
    let data = wide.replace("\"pid\":7,", "\"pid\":\"7\",");
    let e = parse(&format!("{HEADER}\n{data}\n")).unwrap_err();
    assert!(
        e.message
            .ends_with("invalid type: string \"7\", expected u64 at column 231"),
        "{e}"
    );
    // In the header, and before a raw control character, which is
    // placed on itself.
    let header = HEADER.replace("/bin/t", "/home/josé/ビン\u{1}");
    let e = parse(&format!("{header}\n")).unwrap_err();
    assert_eq!(e.line, Some(1));
    assert!(
        e.message
            .ends_with(&format!(" at column {})", col(&header, '\u{1}'))),
        "{e}"
    );
}

#[test]
fn oversized_lines_are_errors() {
    let long = format!("{HEADER}\n{}\n", "x".repeat(MAX_LINE_BYTES + 10));
    let e = parse(&long).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("longer than 1024 KiB"), "{e}");
    // Exactly at the limit is only malformed, not oversized.
    let at = format!("{HEADER}\n{}\n", "y".repeat(MAX_LINE_BYTES));
    let e = parse(&at).unwrap_err();
    assert!(e.message.contains("invalid JSON"), "{e}");
}

/// A UTF-8 byte-order mark before the header (an editor's, a Windows
/// tool's) read "missing header ... expected value at column 1", naming
/// nothing visible: it is skipped, as in baseline and order files.
#[test]
fn a_byte_order_mark_before_the_header_is_skipped() {
    let (s, seen) = parse(&format!("\u{feff}{HEADER}\n{EDGE}\n")).unwrap();
    assert!(s.header.is_some());
    assert_eq!(seen.len(), 1);
    let bytes = format!("\u{feff}{HEADER}\n{EDGE}\n");
    let s = parse_bytes(Path::new("f.jsonl"), bytes.as_bytes(), |_, _| {}).unwrap();
    assert_eq!(s.edges, 1);
}

/// A torn last line over the line limit (no newline: the process was
/// killed while writing a long line) was an error, where a shorter one is
/// skipped with a warning: it is skipped too, read whole or streamed. With
/// its newline, or with lines after it, it stays an error.
#[test]
fn a_torn_last_line_over_the_limit_is_a_warning() {
    let long = "x".repeat(MAX_LINE_BYTES + 10);
    let torn = format!("{HEADER}\n{EDGE}\n{{\"type\":\"edge\",\"thread\":\"{long}");
    let (s, seen) = parse(&torn).unwrap();
    assert_eq!(seen.len(), 1);
    let w = s.warning.unwrap();
    assert_eq!(w.line, Some(3));
    assert!(
        w.message
            .starts_with("skipped a torn last line (no trailing newline, longer than 1024 KiB)"),
        "{w}"
    );
    let s = parse_bytes(Path::new("f.jsonl"), torn.as_bytes(), |_, _| {}).unwrap();
    assert_eq!((s.edges, s.warning.unwrap().line), (1, Some(3)));
    for text in [format!("{torn}\n"), format!("{torn}\n{EDGE}")] {
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("longer than 1024 KiB"), "{e}");
        let e = parse_bytes(Path::new("f.jsonl"), text.as_bytes(), |_, _| {}).unwrap_err();
        assert_eq!(e.line, Some(3));
    }
}
