//! A lock-order cycle that needs a writer: a read in it waits for another
//! thread's read of the same lock only behind a writer queued between the
//! two (parking_lot's and tokio's read-write locks are fair: a queued
//! writer blocks new reads). The scenario table says "waits for" of every
//! step alike; these lines say which steps need the writer, and what takes
//! a read that never queues.

use super::names::actor;
use super::{CycleReport, EdgeInfo, Hold, Request};
use crate::class::LockKind;

/// Two lines per read request of the cycle whose lock the next edge starts
/// from a read hold of (the step that needs a queued writer), and two of
/// advice when such a lock is a parking_lot `RwLock`.
pub(super) fn queued_writer_lines(r: &CycleReport) -> Vec<String> {
    // The edges in walk order (edge 0 the closing one): the one after
    // edge `i` starts where it ends, also in a walk through a lock twice.
    let edges: Vec<EdgeInfo> = r.edges.entries().collect();
    let mut lines = Vec::new();
    let mut recursive = Vec::new();
    for (i, e) in edges.iter().enumerate() {
        if e.request != Request::Read {
            continue;
        }
        let next = &edges[(i + 1) % edges.len()];
        if next.from != e.to || next.hold != Hold::Shared {
            continue;
        }
        let lock = r.named(e.to);
        lines.push(format!(
            "{} reads {lock} while {} read-holds it: that read waits only behind a writer",
            actor(&e.thread),
            actor(&next.thread),
        ));
        lines.push(
            "  queued between the two (the lock is fair), and the writer waits for the first read"
                .to_string(),
        );
        let kind = r.locks.entry(e.to).map(|l| l.kind);
        if kind == Some(LockKind::RwLock) && !recursive.contains(&lock) {
            recursive.push(lock);
        }
    }
    if !recursive.is_empty() {
        let last = recursive.pop().unwrap_or_default();
        let locks = if recursive.is_empty() {
            last
        } else {
            format!("{} and {last}", recursive.join(", "))
        };
        lines.push(format!(
            "a read taken with read_recursive() does not queue behind writers: for {locks},"
        ));
        lines.push("  it breaks this cycle".to_string());
    }
    lines
}
