//! The record's `cycle` line: a lock-order cycle the runtime found and
//! reported that the class-level edge lines cannot show (`docs/record-format.md`,
//! "Cycle lines"): a cycle of the instance graph, whose locks are all of one
//! class, between which no edge line is written. `lockgraph check` counts it
//! as a finding of its own.
//!
//! Written like an edge line: one `write(2)`, nothing resolved on the
//! thread that closed the cycle (an edge run with a stack names a `stack`
//! line by its key, resolved by the record's own thread, `stacks.rs`).

use std::fmt::Write as _;
use std::sync::Arc;

use super::lines::{class_json, hold_word, json_str, request_word, site_json, ClassDesc};
use super::Minters;
use crate::class::Site;
use crate::report::{Backtrace, Hold, Level, Request};

/// A run of consecutive edges of a cycle recorded alike: edge `i` runs
/// from lock `i` to lock `i + 1` (the last back to the first), and edge 0
/// is the request that closed the cycle.
pub(crate) struct CycleEdge {
    pub(crate) hold: Hold,
    pub(crate) request: Request,
    /// The request was an upgradable read (written `"upgradable"`).
    pub(crate) upgradable_request: bool,
    pub(crate) thread: Arc<str>,
    pub(crate) held_at: Option<Site>,
    pub(crate) requested_at: Option<Site>,
    pub(crate) backtrace: Option<Backtrace>,
    /// How many consecutive edges were recorded so.
    pub(crate) count: usize,
}

/// One cycle to write, gathered under the graph lock and written after it:
/// its locks as runs of one class and kind (each with the lock id of its
/// first lock, for an `anon:` class id), its edges as runs of one
/// recording.
pub(crate) struct CycleLine {
    pub(crate) level: Level,
    pub(crate) locks: Vec<(ClassDesc, usize)>,
    pub(crate) edges: Vec<CycleEdge>,
}

/// Stacks named per line at most: the closing edge's first; a long
/// cycle's other stacks are left out (the runtime's report, too, prints
/// the stacks of a long cycle's first and last edges only).
pub(super) const MAX_STACKS: usize = 8;

/// The longest cycle line written: under the 1 MiB a reader takes for one
/// line, with room to spare.
pub(super) const MAX_LINE: usize = 768 << 10;

/// Edge runs kept whole at each end of a cycle whose line would be longer
/// than [`MAX_LINE`]; the runs between are written without their thread
/// and sites (`docs/record-format.md`).
const KEPT_RUNS: usize = 32;

/// The cycle line of `c` in the file of process `pid`, with `stacks[i]`
/// the `stack` key of edge run `i` (if any): `None` when even the short
/// form is longer than [`MAX_LINE`].
pub(super) fn format_cycle(
    c: &CycleLine,
    pid: u32,
    minters: &Minters,
    exe: &str,
    stacks: &[Option<String>],
) -> Option<String> {
    let whole = cycle_line(
        c,
        pid,
        minters,
        exe,
        &c.edges.iter().collect::<Vec<_>>(),
        stacks,
    );
    if whole.len() <= MAX_LINE {
        return Some(whole);
    }
    // A long cycle of many recordings: the middle runs merged by mode.
    let n = c.edges.len();
    let mut short: Vec<CycleEdge> = Vec::new();
    let mut short_stacks: Vec<Option<String>> = Vec::new();
    // Whether the last run of `short` is a merged one.
    let mut merging = false;
    for (i, e) in c.edges.iter().enumerate() {
        let kept = i < KEPT_RUNS || i + KEPT_RUNS >= n;
        if !kept && merging {
            if let Some(last) = short.last_mut().filter(|l| {
                l.hold == e.hold
                    && l.request == e.request
                    && l.upgradable_request == e.upgradable_request
            }) {
                last.count += e.count;
                continue;
            }
        }
        merging = !kept;
        short.push(CycleEdge {
            hold: e.hold,
            request: e.request,
            upgradable_request: e.upgradable_request,
            thread: if kept {
                e.thread.clone()
            } else {
                Arc::from("")
            },
            held_at: if kept { e.held_at } else { None },
            requested_at: if kept { e.requested_at } else { None },
            backtrace: None,
            count: e.count,
        });
        short_stacks.push(if kept {
            stacks.get(i).cloned().flatten()
        } else {
            None
        });
    }
    let line = cycle_line(
        c,
        pid,
        minters,
        exe,
        &short.iter().collect::<Vec<_>>(),
        &short_stacks,
    );
    (line.len() <= MAX_LINE).then_some(line)
}

fn cycle_line(
    c: &CycleLine,
    pid: u32,
    minters: &Minters,
    exe: &str,
    edges: &[&CycleEdge],
    stacks: &[Option<String>],
) -> String {
    let mut s = String::with_capacity(512);
    let level = match c.level {
        Level::Instance => "instance",
        Level::Class => "class",
    };
    let _ = write!(s, "{{\"type\":\"cycle\",\"level\":\"{level}\",\"locks\":[");
    for (i, (lock, count)) in c.locks.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        class_json(&mut s, lock, minters.pid_of(lock.instance, pid));
        // Inside the lock class's object, after its four fields.
        s.pop();
        let _ = write!(s, ",\"count\":{count}}}");
    }
    s.push_str("],\"edges\":[");
    for (i, e) in edges.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let (hold, request) = (
            hold_word(e.hold),
            request_word(e.request, e.upgradable_request),
        );
        let _ = write!(
            s,
            "{{\"hold\":\"{hold}\",\"request\":\"{request}\",\"thread\":"
        );
        json_str(&mut s, &e.thread);
        s.push_str(",\"held_at\":");
        site_json(&mut s, e.held_at);
        s.push_str(",\"requested_at\":");
        site_json(&mut s, e.requested_at);
        let _ = write!(s, ",\"count\":{}", e.count);
        if let Some(Some(key)) = stacks.get(i) {
            s.push_str(",\"stack\":");
            json_str(&mut s, key);
        }
        s.push('}');
    }
    let _ = write!(s, "],\"pid\":{pid},\"exe\":");
    json_str(&mut s, exe);
    s.push_str("}\n");
    s
}
