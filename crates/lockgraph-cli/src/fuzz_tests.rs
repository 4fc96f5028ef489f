//! The record parser never panics, and every error it reports names a line:
//! property tests over random bytes and mutated valid files, and a corpus of
//! interesting inputs (`tests/corpus/`, expectations in `expected.tsv`).
//! Unit tests, since the parser is private to the crate; the corpus also
//! goes through the binary in `tests/suite/cli.rs`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::error::RecordError;
use crate::graph::ClassGraph;
use crate::merge::Merger;
use crate::reader::{parse_bytes, parse_reader, FileSummary};

use crate::records::{edge, file_text};

fn parse(bytes: &[u8]) -> Result<FileSummary, RecordError> {
    parse_reader(Path::new("fuzz.jsonl"), bytes, |_, _| {})
}

/// The line numbers a parse of `bytes` can report: 1 ..= lines (+1 for an
/// empty input).
fn line_count(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let tail = u64::from(!bytes.is_empty() && bytes.last() != Some(&b'\n'));
    (newlines + tail).max(1)
}

/// Every error names a line that exists, and everything before that line
/// parses: the line named is the first bad one.
fn check_error_names_the_line(bytes: &[u8]) -> Result<(), TestCaseError> {
    // The in-memory reader (used for files up to 64 MiB) and the streaming
    // one agree.
    let whole = parse_bytes(Path::new("fuzz.jsonl"), bytes, |_, _| {});
    match (&whole, &parse(bytes)) {
        (Ok(a), Ok(b)) => {
            prop_assert_eq!((a.lines, a.edges, a.ignored), (b.lines, b.edges, b.ignored));
            prop_assert_eq!(&a.warning, &b.warning);
        }
        (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
        (a, b) => prop_assert!(false, "in memory: {:?}, streamed: {:?}", a, b),
    }
    match parse(bytes) {
        Ok(summary) => {
            prop_assert!(summary.lines <= line_count(bytes));
            match summary.warning.as_ref().map(|w| w.line) {
                Some(Some(line)) => {
                    prop_assert_eq!(line, summary.lines, "only the last line can be torn");
                    prop_assert!(bytes.last() != Some(&b'\n'));
                }
                // A skipped empty file.
                Some(None) => prop_assert!(bytes.is_empty()),
                None => {}
            }
        }
        Err(e) => {
            let line = e.line.expect("parse errors name a line");
            prop_assert!(
                line >= 1 && line <= line_count(bytes),
                "line {} of {}",
                line,
                line_count(bytes)
            );
            prop_assert!(
                e.to_string().starts_with(&format!("fuzz.jsonl:{line}: ")),
                "{}",
                e
            );
            prop_assert!(!e.message.is_empty());
            if line > 1 {
                let before: usize = bytes
                    .split_inclusive(|&b| b == b'\n')
                    .take(line as usize - 1)
                    .map(<[u8]>::len)
                    .sum();
                prop_assert!(
                    parse(&bytes[..before]).is_ok(),
                    "lines before {} must parse: {}",
                    line,
                    e
                );
            }
        }
    }
    Ok(())
}

fn valid_file() -> impl Strategy<Value = Vec<u8>> {
    let names = prop_oneof![
        Just("a"),
        Just("b"),
        Just("c"),
        Just("site:src/x.rs:1:2"),
        Just("site:/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/m-1.0.0/src/x.rs:1:2"),
        Just("anon:1:9")
    ];
    let modes = prop_oneof![
        Just(("exclusive", "exclusive")),
        Just(("shared", "read")),
        Just(("shared", "recursive_read")),
        Just(("exclusive", "recursive_read")),
    ];
    proptest::collection::vec((names.clone(), names, modes, any::<bool>()), 0..6).prop_map(
        |edges| {
            let edges: Vec<_> = edges
                .into_iter()
                .map(|(f, t, (h, r), gated)| {
                    let e = edge(f, t).modes(h, r);
                    if gated {
                        e.gates(&["1:4"])
                    } else {
                        e
                    }
                })
                .collect();
            file_text(1, &edges).into_bytes()
        },
    )
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    DropNewline(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop_oneof![
        Just(b"\"".to_vec()),
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\"type\":\"edge\",".to_vec()),
        Just(b"1e999".to_vec()),
        Just(b"[[[[[[[[".to_vec()),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop_oneof![special, proptest::collection::vec(any::<u8>(), 1..8)]
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1..40usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::DropNewline),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let len = bytes.len();
    match m {
        Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
        Mutation::Flip(i, b) if len > 0 => bytes[i % len] ^= b | 1,
        Mutation::Flip(..) => {}
        Mutation::Insert(i, v) => {
            let at = i % (len + 1);
            bytes.splice(at..at, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i % (len + 1);
            let end = (at + n).min(len);
            bytes.drain(at..end);
        }
        Mutation::DropNewline(i) => {
            let nl: Vec<usize> = (0..len).filter(|&k| bytes[k] == b'\n').collect();
            if !nl.is_empty() {
                bytes.remove(nl[i % nl.len()]);
            }
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<Vec<u8>> = bytes
                .split_inclusive(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            if !lines.is_empty() {
                let n = lines.len();
                lines.swap(a % n, b % n);
            }
            bytes = lines.concat();
        }
    }
    bytes
}

/// A class id made of path pieces: sometimes a dependency's site, mostly
/// something close to one.
fn site_like_id() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/"),
        Just("\\"),
        Just(":"),
        Just("C:"),
        Just("registry"),
        Just("src"),
        Just("git"),
        Just("checkouts"),
        Just("x-0123456789abcdef"),
        Just("C:-0123456789abcdef"),
        Just("m-1.0"),
        Just("é"),
        Just("-"),
        Just("1"),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|p| format!("site:{}", p.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn portable_class_ids_never_panic_and_are_fixed_points(id in site_like_id()) {
        let once = lockgraph_core::site_key::class_id(&id).into_owned();
        prop_assert!(once.starts_with("site:"));
        prop_assert_eq!(lockgraph_core::site_key::class_id(&once), once.as_str());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_error_names_the_line(&bytes)?;
        let mut m = Merger::new();
        let _ = m.add_reader(Path::new("fuzz.jsonl"), bytes.as_slice());
    }

    #[test]
    fn random_lines_after_a_valid_header_never_panic(
        lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..6)
    ) {
        let mut bytes = b"{\"lockgraph_record\":1,\"pid\":1}\n".to_vec();
        for l in lines {
            bytes.extend(l.into_iter().filter(|&b| b != b'\n'));
            bytes.push(b'\n');
        }
        check_error_names_the_line(&bytes)?;
    }

    #[test]
    fn mutated_valid_files_never_panic(file in valid_file(), ms in proptest::collection::vec(mutation(), 1..4)) {
        prop_assert!(parse(&file).is_ok());
        let mut bytes = file;
        for m in &ms {
            bytes = apply(bytes, m);
        }
        check_error_names_the_line(&bytes)?;
        let mut merger = Merger::new();
        if merger.add_reader(Path::new("fuzz.jsonl"), bytes.as_slice()).is_ok() {
            let merged = merger.finish();
            let g = ClassGraph::new(&merged);
            let _ = crate::cycles::CycleSearch::new(&g).shortest_cycles();
        }
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Replays every corpus file against its expectation in `expected.tsv`:
/// `NAME<TAB>ok`, `NAME<TAB>warn<TAB>LINE` (a torn last line; `-` for a
/// skipped empty file) or `NAME<TAB>error<TAB>LINE<TAB>TEXT` (TEXT appears
/// in the message).
#[test]
fn corpus_replays_as_expected() {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut named = Vec::new();
    for row in manifest
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let cols: Vec<&str> = row.split('\t').collect();
        let name = cols[0];
        named.push(name.to_string());
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = parse(&bytes);
        check_error_names_the_line(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        match cols[1..] {
            ["ok"] => {
                let s = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(s.warning.is_none(), "{name}");
            }
            ["warn", line] => {
                let s = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                let w = s.warning.unwrap_or_else(|| panic!("{name}: no warning"));
                let got = w.line.map_or_else(|| "-".to_string(), |l| l.to_string());
                assert_eq!(got, line, "{name}: {w}");
            }
            ["error", line, text] => {
                let e = got.err().unwrap_or_else(|| panic!("{name}: parsed"));
                assert_eq!(
                    e.line.map(|l| l.to_string()).as_deref(),
                    Some(line),
                    "{name}: {e}"
                );
                assert!(e.message.contains(text), "{name}: want {text:?} in {e}");
            }
            _ => panic!("bad expectation row: {row:?}"),
        }
    }
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    files.sort();
    named.sort();
    assert_eq!(
        files, named,
        "every corpus file has exactly one expectation"
    );
}
