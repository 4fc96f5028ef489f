//! The watchdog with `LOCKGRAPH_RECORD` on: recording an edge must not stall
//! the thread that took the lock (its stack is resolved on the record's own
//! thread), so the deadlock is reported in the same time as without it.

use std::time::Duration;

use lockgraph_testkit::{child, is_child, END};

use super::{child_abba, run_child};

#[test]
fn a_deadlock_the_order_graph_could_not_record_is_reported_in_time_while_recording() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_text = dir.display().to_string();
    // As `a_deadlock_the_order_graph_could_not_record_says_which_edge_is_missing`,
    // recording: the one edge recorded is written with its stack.
    let (text, ok) = run_child(
        child!(child_abba),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_MAX_EDGES", "1"),
            ("LOCKGRAPH_BACKTRACE", "1"),
            ("LOCKGRAPH_ORDER", "on"),
            ("LOCKGRAPH_RECORD", &dir_text),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert_eq!(report.matches(": never recorded").count(), 1, "{report}");
    if cfg!(debug_assertions) {
        let then = report
            .find("its stack then:")
            .unwrap_or_else(|| panic!("no stack for the recorded edge:\n{report}"));
        let frame = report[then..].lines().nth(1).unwrap_or("");
        assert!(frame.contains("watchdog::crossing"), "{report}");
    }
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .expect("a record file");
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.matches("\"type\":\"edge\"").count(), 1, "{lines}");
    std::fs::remove_dir_all(&dir).unwrap();
}
