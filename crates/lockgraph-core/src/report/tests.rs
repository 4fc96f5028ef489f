//! Tests of the printed reports, and [`ring`], the report they start from.

use super::*;

pub(super) fn ring(n: usize) -> CycleReport {
    let site = |line| Site {
        file: "src/x.rs",
        line,
        column: 5,
    };
    CycleReport {
        kind: ReportKind::LockOrderCycle,
        level: Level::Class,
        locks: (0..n)
            .map(|i| LockInfo::new(LockKind::Mutex, None, Some(site(i as u32 + 1)), None))
            .collect::<Vec<_>>()
            .into(),
        edges: (0..n)
            .map(|i| EdgeInfo {
                from: i,
                to: (i + 1) % n,
                thread: format!("t{i}").into(),
                hold: Hold::Exclusive,
                request: Request::Exclusive,
                upgradable_request: false,
                held_at: Some(site(100 + i as u32)),
                requested_at: Some(site(200 + i as u32)),
                backtrace: None,
                closing: i == 0,
            })
            .collect::<Vec<_>>()
            .into(),
    }
}

#[test]
fn a_short_cycle_prints_every_lock_edge_and_thread() {
    let text = ring(3).to_string();
    for needle in [
        "lock-order cycle through 3 locks",
        "L1 Mutex created at src/x.rs:1:5",
        "L3 -> L1  thread `t2` held L3 `src/x.rs:3` (taken at src/x.rs:102:5),",
        "then requested L2 `src/x.rs:2` at src/x.rs:200:5   <- this request closed the cycle",
        // The order the edges but the closing one keep.
        "for example always L2 `src/x.rs:2` before L3 `src/x.rs:3` before L1 `src/x.rs:1`",
        "level: class",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // The scenario table: one column per thread, rows "holds", "waits for".
    let row = |first: &str| text.lines().find(|l| l.trim_start().starts_with(first));
    let holds = row("holds L1 `src/x.rs:1`").unwrap();
    assert!(holds.contains("holds L2 `src/x.rs:2`") && holds.contains("holds L3"));
    let waits = row("waits for L2").unwrap();
    assert!(waits.trim_end().ends_with("waits for L1 `src/x.rs:1`"));
    assert!(row("thread `t0`").unwrap().contains("thread `t2`"));
}

#[test]
fn a_long_cycle_is_elided_in_the_middle_but_kept_whole_in_the_data() {
    let r = ring(5000);
    let text = r.to_string();
    assert!(text.contains("... 4988 more locks ..."), "{text}");
    assert!(text.contains("... 4988 more edges ..."));
    assert!(text.contains("... 4994 more"));
    assert!(text.contains("L5000 -> L1"));
    assert!(text.lines().count() < 80, "{} lines", text.lines().count());
    assert_eq!(r.edges.len(), 5000);
}

#[test]
fn a_self_deadlock_says_what_to_do() {
    let mut r = ring(1);
    r.kind = ReportKind::SelfDeadlock { certain: true };
    let text = r.to_string();
    assert!(text.contains("requests a lock it already holds"), "{text}");
    assert!(text.contains("ReentrantMutex"));
}
