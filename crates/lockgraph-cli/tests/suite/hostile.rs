//! Hostile input beyond the records' contents: file names that are not
//! UTF-8, outputs that cannot be written, records and baselines that
//! contradict themselves.

use crate::util::*;

/// A file name that is not UTF-8 is named with `\xNN` for each such byte
/// (it was printed with U+FFFD, which names no file and makes two names
/// alike), in errors and in warnings.
#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_named_with_escapes() {
    use std::os::unix::ffi::OsStrExt as _;
    let d = tempdir();
    let name = |bytes: &[u8]| d.path().join(std::ffi::OsStr::from_bytes(bytes));
    std::fs::create_dir(name(b"rec")).unwrap();
    std::fs::write(name(b"rec/bad-\xff\xfe.jsonl"), "garbage\n").unwrap();
    let o = run_in(d.path(), &["check", "rec"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("rec/bad-\\xFF\\xFE.jsonl:1: missing header"),
        "{err}"
    );
    assert!(!err.contains('\u{fffd}'), "{err}");
    // A warning: an empty record file is skipped.
    std::fs::remove_file(name(b"rec/bad-\xff\xfe.jsonl")).unwrap();
    write_file(&name(b"rec"), 1, &[edge("a", "b")]);
    std::fs::write(name(b"rec/empty-\xe9.jsonl"), "").unwrap();
    let o = run_in(d.path(), &["check", "rec"]);
    assert_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("lockgraph: warning: rec/empty-\\xE9.jsonl: "),
        "{err}"
    );
    assert!(!err.contains('\u{fffd}'), "{err}");
    // An output named so: its directory is named as it is spelled.
    let out = std::ffi::OsStr::from_bytes(b"no-\xff/r.txt");
    let o = bin()
        .current_dir(d.path())
        .arg("check")
        .arg("-o")
        .arg(out)
        .arg("rec")
        .output()
        .unwrap();
    assert_code(&o, 2);
    assert!(stderr(&o).contains("no-\\xFF/r.txt"), "{}", stderr(&o));
}
