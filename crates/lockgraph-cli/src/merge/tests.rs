//! The merger's unit tests.

use super::*;
use std::path::Path;

const HEADER: &str = "{\"lockgraph_record\":1,\"pid\":1}\n";

fn line(from: &str, to: &str, pid: u64) -> String {
    format!(
        "{{\"type\":\"edge\",\"from\":{{\"class\":\"name:{from}\",\"kind\":\"Mutex\"}},\"to\":{{\"class\":\"name:{to}\",\"kind\":\"Mutex\"}},\"hold\":\"exclusive\",\"request\":\"exclusive\",\"gates\":[],\"thread\":\"worker\",\"pid\":{pid},\"exe\":\"/bin/x\",\"held_at\":\"src/a.rs:1:1\",\"requested_at\":\"src/a.rs:2:2\",\"backtrace\":[\"x::f (src/a.rs:2)\"]}}\n"
    )
}

#[test]
fn kept_origins_share_their_strings() {
    let mut m = Merger::new();
    let text = format!(
        "{HEADER}{}{}{}",
        line("a", "b", 1),
        line("a", "b", 2),
        line("c", "d", 3)
    );
    m.add_reader(Path::new("f"), text.as_bytes()).unwrap();
    let merged = m.finish();
    let (ab, cd) = (&merged.edges[0], &merged.edges[1]);
    assert_eq!(ab.origin_count(), 2, "two processes: two origins");
    let o: Vec<&Origin> = ab.origins().chain(cd.origins()).collect();
    assert_eq!(o[0].thread, o[2].thread);
    assert_eq!(o[0].exe, o[1].exe);
    assert_eq!(o[0].backtrace, o[2].backtrace);
    assert_eq!(
        &*merged.stacks[o[0].backtrace as usize][0],
        "x::f (src/a.rs:2)"
    );
    // The kind, the frame, the thread, the executable and the two sites.
    assert_eq!(merged.strings.len(), 6, "{:?}", merged.strings);
}

#[test]
fn stacks_written_after_their_edges_are_attached_to_them() {
    let named = |from: &str, to: &str, key: &str| {
        line(from, to, 1).replace(
            "\"backtrace\":[\"x::f (src/a.rs:2)\"]",
            &format!("\"backtrace\":[],\"stack\":\"{key}\""),
        )
    };
    let text = format!(
        "{HEADER}{}{}{}{}",
        named("a", "b", "1:1"),
        named("b", "c", "1:2"),
        // Written by the record's thread, later; the process was killed
        // before the stack of "1:2" was.
        "{\"type\":\"stack\",\"stack\":\"1:1\",\"pid\":1,\"backtrace\":[\"x::g (src/a.rs:9)\"]}\n",
        line("c", "d", 1),
    );
    let mut m = Merger::new();
    m.add_reader(Path::new("f"), text.as_bytes()).unwrap();
    let merged = m.finish();
    let frames = |i: usize| -> Vec<String> {
        let o = merged.edges[i].origins().next().unwrap();
        merged.stacks[o.backtrace as usize]
            .iter()
            .map(|f| f.to_string())
            .collect()
    };
    assert_eq!(frames(0), ["x::g (src/a.rs:9)"]);
    assert!(frames(1).is_empty());
    assert_eq!(frames(2), ["x::f (src/a.rs:2)"]);
    // A stack line is not an unknown line.
    assert_eq!(merged.files[0].ignored, 0);
}

#[test]
fn the_merger_reads_from_memory_too() {
    let mut m = Merger::new();
    m.add_reader(
        Path::new("one"),
        format!("{HEADER}{}", line("a", "b", 1)).as_bytes(),
    )
    .unwrap();
    let mut other = Merger::new();
    let gated = line("a", "b", 2).replace("\"gates\":[]", "\"gates\":[\"2:1\"]");
    other
        .add_reader(
            Path::new("two"),
            format!("{HEADER}{gated}{}", line("b", "c", 2)).as_bytes(),
        )
        .unwrap();
    m.absorb(other);
    let merged = m.finish();
    assert_eq!(merged.files.len(), 2);
    let classes: Vec<&str> = merged.classes.iter().map(|c| &*c.class).collect();
    assert_eq!(classes, ["name:a", "name:b", "name:c"]);
    let ab = merged.edge(0, 1).unwrap();
    assert_eq!(ab.recordings, 2);
    assert!(ab.gates.is_empty());
    assert_eq!(ab.origin_count(), 2);
    let second = ab.origins().nth(1).unwrap();
    assert_eq!(&*merged.files[second.file as usize].shown, "two");
}

#[test]
fn an_empty_file_is_left_out_of_the_files() {
    let mut m = Merger::new();
    m.add_reader(Path::new("empty"), &b""[..]).unwrap();
    m.add_reader(
        Path::new("one"),
        format!("{HEADER}{}", line("a", "b", 1)).as_bytes(),
    )
    .unwrap();
    let merged = m.finish();
    assert_eq!(merged.files.len(), 1);
    assert_eq!(&*merged.files[0].shown, "one");
    assert_eq!(merged.edges[0].origins().next().unwrap().file, 0);
    assert_eq!(merged.warnings.len(), 1);
}

/// `from -> to`, the held class of kind `kind`.
fn line_of_kind(from: &str, kind: &str, to: &str) -> String {
    line(from, to, 1).replacen("\"kind\":\"Mutex\"", &format!("\"kind\":\"{kind}\""), 1)
}

/// A class recorded with two kinds keeps the first and says so, naming
/// the line of each other kind and the first record, once per kind; the
/// same whether one merger read the files or several did, each a run.
#[test]
fn a_class_recorded_with_two_kinds_keeps_the_first_and_says_so() {
    let files = [
        format!("{HEADER}{}", line("a", "b", 1)),
        format!(
            "{HEADER}{}{}",
            line("c", "d", 1),
            line_of_kind("a", "RwLock", "c")
        ),
        format!(
            "{HEADER}{}{}",
            line_of_kind("a", "RwLock", "d"),
            line_of_kind("a", "Condvar", "b")
        ),
    ];
    let read = |runs: &[&[usize]]| {
        let mut all: Option<Merger> = None;
        let mut n = 0;
        for run in runs {
            let mut m = Merger::new();
            for &i in *run {
                m.add_reader(Path::new(&format!("f{i}")), files[i].as_bytes())
                    .unwrap();
                n += 1;
            }
            match &mut all {
                None => all = Some(m),
                Some(all) => all.absorb(m),
            }
        }
        assert_eq!(n, files.len());
        all.unwrap().finish()
    };
    let one = read(&[&[0, 1, 2]]);
    let a = one.classes.iter().find(|c| &*c.class == "name:a").unwrap();
    assert_eq!(&*a.kind, "Mutex");
    let said: Vec<String> = one.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            "f1:3: lock class `name:a` is recorded as RwLock here, but as Mutex in its first \
             record (f0:2): the check keeps one kind per class, the first, and reports it as \
             Mutex (locks of two kinds given one class id, such as a Mutex and an RwLock named \
             alike, are one class to it)",
            "f2:3: lock class `name:a` is recorded as Condvar here, but as Mutex in its first \
             record (f0:2): the check keeps one kind per class, the first, and reports it as \
             Mutex (locks of two kinds given one class id, such as a Mutex and an RwLock named \
             alike, are one class to it)",
        ]
    );
    for runs in [
        &[&[0][..], &[1, 2]][..],
        &[&[0, 1], &[2]],
        &[&[0], &[1], &[2]],
    ] {
        let m = read(runs);
        let w: Vec<String> = m.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w, said, "{runs:?}");
    }
    // One kind throughout: nothing to say.
    let mut m = Merger::new();
    m.add_reader(Path::new("f"), files[0].as_bytes()).unwrap();
    assert!(m.finish().warnings.is_empty());
}

/// A stack line that repeats a key with other frames: the last is kept,
/// and said, naming both lines; a repeat with the same frames is not.
#[test]
fn a_stack_key_repeated_with_other_frames_is_said() {
    let named = line("a", "b", 1).replace(
        "\"backtrace\":[\"x::f (src/a.rs:2)\"]",
        "\"backtrace\":[],\"stack\":\"1:1\"",
    );
    let stack = |f: &str| {
        format!("{{\"type\":\"stack\",\"stack\":\"1:1\",\"pid\":1,\"backtrace\":[\"{f}\"]}}\n")
    };
    let text = format!(
        "{HEADER}{named}{}{}{}",
        stack("x::first (src/a.rs:1)"),
        stack("x::first (src/a.rs:1)"),
        stack("x::second (src/b.rs:2)")
    );
    let mut m = Merger::new();
    m.add_reader(Path::new("f"), text.as_bytes()).unwrap();
    let merged = m.finish();
    let o = merged.edges[0].origins().next().unwrap();
    assert_eq!(
        &*merged.stacks[o.backtrace as usize][0],
        "x::second (src/b.rs:2)"
    );
    let said: Vec<String> = merged.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            "f:5: stack line `1:1` repeats the key of line 3 with other frames: the edges that \
          name it get this line's frames (the last line of a key is kept)"
        ]
    );
}

/// Cycles found at run time, read on one thread or several: the same
/// merged cycles (their classes, origins and files alike), each a stack
/// line's frames on its edge.
#[test]
fn cycles_found_at_run_time_merge_alike_on_any_number_of_threads() {
    use crate::records::{cycle, file_with_cycles};
    let dir = tempfile::tempdir().unwrap();
    let account = "site:src/bank.rs:8:17:bank::Account";
    let (first, second) = (
        ("src/bank.rs:20:22", "src/bank.rs:21:20"),
        ("src/bank.rs:30:22", "src/bank.rs:31:20"),
    );
    let mut paths = Vec::new();
    for pid in 1..=4u64 {
        let c = if pid % 2 == 0 {
            cycle(&[account, account], &[first, second])
        } else {
            cycle(&[account, account], &[second, first])
        };
        let mut text = file_with_cycles(pid, &[], std::slice::from_ref(&c));
        if pid == 3 {
            // Another cycle, of two classes, whose closing edge names a stack.
            let mut other = cycle(&["x", "y"], &[first, second]).pid(pid);
            other.0["edges"][0]["stack"] = "3:1".into();
            text.push_str(&other.line());
            text.push('\n');
            text.push_str("{\"type\":\"stack\",\"stack\":\"3:1\",\"pid\":3,\"backtrace\":[\"bank::f (src/bank.rs:20)\"]}\n");
        }
        let path = dir.path().join(format!("lockgraph-{pid}-1.jsonl"));
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    let view = |m: &Merged| -> Vec<String> {
        (m.runtime.iter())
            .map(|c| {
                let classes: Vec<(&str, u64)> = (c.runs.iter())
                    .map(|r| (&*m.classes[r.class].class, r.count))
                    .collect();
                let edges: Vec<String> = (c.runs.iter())
                    .map(|r| {
                        let e = &r.edge;
                        let origins: Vec<String> = (e.origins())
                            .map(|o| {
                                let frames = &m.stacks[o.backtrace as usize];
                                format!("{}@{}:{}{frames:?}", o.pid, o.file, o.line)
                            })
                            .collect();
                        format!("{}->{} {origins:?}", e.from, e.to)
                    })
                    .collect();
                format!(
                    "{classes:?} closing {} files {:?} {edges:?}",
                    c.closing, c.files
                )
            })
            .collect()
    };
    let one = merge_files(&paths, 1).unwrap();
    let many = merge_files(&paths, 4).unwrap();
    assert_eq!(view(&one), view(&many));
    assert_eq!(one.runtime.len(), 2, "{:#?}", view(&one));
    // Sorted by their classes: `name:x` before the accounts' site.
    let (xy, accounts) = (&one.runtime[0], &one.runtime[1]);
    assert_eq!(accounts.files, [0, 1, 2, 3]);
    assert_eq!(accounts.lines, 4);
    assert!(accounts.runs.iter().all(|r| r.edge.origin_count() == 4));
    assert_eq!(accounts.length, 2);
    assert_eq!(&*one.classes[xy.runs[0].class].class, "name:x");
    let closing = &xy.runs[xy.closing as usize].edge;
    let frames = &one.stacks[closing.origins().next().unwrap().backtrace as usize];
    assert_eq!(
        &**frames,
        [std::sync::Arc::from("bank::f (src/bank.rs:20)")]
    );
}
