//! Where a race found inside a host function goes when its executor thread
//! has no capture of its own: the [`capture`](super::capture) that was
//! innermost on the thread that enqueued the host function, when it was
//! enqueued, if it is still open (else the next open one around it).
//!
//! A host function's accesses arrive when it runs, on the back end's
//! executor thread, so a race they complete is found there, where the test
//! that enqueued the host function cannot wrap a capture (found by an
//! outside test: a capture around the whole program, synchronize included,
//! got nothing, and the report was printed by the policy). The host
//! function is the capturing thread's stream work, so its races are that
//! capture's.

use std::cell::RefCell;
use std::sync::Arc;

use parking_lot::Mutex;

use super::report::RaceReport;

/// One [`capture`](super::capture)'s cross-thread part: the reports found
/// inside host functions enqueued while it was the innermost capture on
/// its thread, taken while it is open (`None` once it returned).
pub(crate) struct Sink {
    /// The capture around it on its thread, if any.
    parent: Option<Arc<Sink>>,
    taken: Mutex<Option<Vec<RaceReport>>>,
}

thread_local! {
    /// The innermost capture open on this thread.
    static INNERMOST: RefCell<Option<Arc<Sink>>> = const { RefCell::new(None) };
}

/// A capture open on this thread, from [`open`] until dropped (it is closed
/// then, even when the capture's closure panics).
pub(super) struct Open(Arc<Sink>);

/// Opens a capture on this thread, inside the ones open here.
pub(super) fn open() -> Open {
    let parent = INNERMOST.with(|i| i.borrow().clone());
    let sink = Arc::new(Sink {
        parent,
        taken: Mutex::new(Some(Vec::new())),
    });
    INNERMOST.with(|i| *i.borrow_mut() = Some(Arc::clone(&sink)));
    Open(sink)
}

impl Open {
    /// Closes the capture: the reports it took from host functions, in the
    /// order they were found.
    pub(super) fn close(self) -> Vec<RaceReport> {
        self.0.taken.lock().take().unwrap_or_default()
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        // Closed, if `close` did not: a host function that finds a race
        // from now on offers it to the captures around this one.
        self.0.taken.lock().take();
        let parent = self.0.parent.clone();
        let _ = INNERMOST.try_with(|i| *i.borrow_mut() = parent);
    }
}

/// The innermost capture open on this thread, for a host function enqueued
/// now.
pub(super) fn innermost() -> Option<Arc<Sink>> {
    INNERMOST.try_with(|i| i.borrow().clone()).ok().flatten()
}

/// Whether a capture is open on this thread (a race found here goes to it,
/// through the core's capture).
pub(super) fn open_here() -> bool {
    INNERMOST
        .try_with(|i| i.borrow().is_some())
        .unwrap_or(false)
}

impl Sink {
    /// Takes `report` into the innermost open capture of `sink`'s chain;
    /// gives it back when every one of them returned.
    pub(super) fn offer(sink: &Arc<Sink>, report: RaceReport) -> Option<RaceReport> {
        let mut at = Some(sink);
        while let Some(s) = at {
            if let Some(v) = s.taken.lock().as_mut() {
                v.push(report);
                return None;
            }
            at = s.parent.as_ref();
        }
        Some(report)
    }
}
