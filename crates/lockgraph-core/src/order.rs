//! The switch for the lock-order graph: on by default; off, lock operations
//! still keep the held-lock stacks (the watchdog, the profile and the
//! atomicity checker need them) but record no order edges, so nothing reaches
//! the process-wide graphs and no potential deadlock is reported.
//!
//! `LOCKGRAPH_ORDER=off` (or [`set_order_graph`]) turns it off. Release
//! builds with the `watchdog-in-release` feature start with it off: the
//! watchdog's minimal wait tracking, without the graph's memory or its
//! first-time-edge cost; `LOCKGRAPH_ORDER=on` turns it back on there.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::features::{self, NO_ORDER};

/// Whether [`set_order_graph`] was called (it then decides over the
/// environment).
static SET_IN_CODE: AtomicBool = AtomicBool::new(false);

/// Turns the lock-order graph on or off, for every thread,
/// from each thread's next lock operation on.
///
/// What was recorded stays (and the watchdog's reports still use it).
/// Acquisitions made while it is off are not recorded; once it is back on,
/// each acquisition is recorded as usual.
pub fn set_order_graph(on: bool) {
    SET_IN_CODE.store(true, Ordering::Relaxed);
    features::set(NO_ORDER, !on);
}

/// Why the lock-order graph is off, for the watchdog's reports (only one
/// of the three applies): [`set_order_graph`], `LOCKGRAPH_ORDER`, or the
/// `watchdog-in-release` default.
pub(crate) fn off_cause() -> &'static str {
    if SET_IN_CODE.load(Ordering::Relaxed) {
        "set_order_graph(false)"
    } else if crate::env::ORDER.is_set() {
        "LOCKGRAPH_ORDER=off"
    } else if crate::TRACKING {
        "the default of the watchdog-in-release feature; LOCKGRAPH_ORDER=on turns it on"
    } else {
        "this build does not track locks"
    }
}

/// Whether lock acquisitions are recorded into the lock-order graph
/// (`LOCKGRAPH_ORDER`, [`set_order_graph`]; see the module docs for the
/// default). Always false in a build that does not track locks
/// ([`TRACKING`](crate::TRACKING)).
pub fn order_graph() -> bool {
    crate::TRACKING && features::order_graph_on()
}
