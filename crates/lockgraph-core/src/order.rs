//! The switch for the lock-order graph: on by default; off, lock operations
//! still keep the held-lock stacks (the watchdog, the profile and the
//! atomicity checker need them) but record no order edges, so nothing reaches
//! the process-wide graphs and no potential deadlock is reported.
//!
//! `LOCKGRAPH_ORDER=off` (or [`set_order_graph`]) turns it off. Release
//! builds with the `watchdog-in-release` feature start with it off: the
//! watchdog's minimal wait tracking, without the graph's memory or its
//! first-time-edge cost; `LOCKGRAPH_ORDER=on` turns it back on there.

use std::sync::atomic::{AtomicU8, Ordering};

const UNSET: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(UNSET);

/// Whether the lock-order graph is on when nothing says otherwise.
const DEFAULT_ON: bool = !cfg!(all(feature = "watchdog-in-release", not(debug_assertions)));

/// Turns recording into the lock-order graph on or off, for every thread,
/// from each thread's next lock operation on.
///
/// What was recorded stays (and the watchdog's reports still use it).
/// Acquisitions made while it is off are not recorded; once it is back on,
/// each acquisition is recorded as usual.
pub fn set_order_graph(on: bool) {
    MODE.store(if on { ON } else { OFF }, Ordering::Relaxed);
    crate::features::changed();
}

/// Whether lock acquisitions are recorded into the lock-order graph
/// (`LOCKGRAPH_ORDER`, [`set_order_graph`]; see the module docs for the
/// default).
pub fn order_graph() -> bool {
    match MODE.load(Ordering::Relaxed) {
        OFF => false,
        ON => true,
        _ => init(),
    }
}

#[cold]
fn init() -> bool {
    let default = if DEFAULT_ON { ON } else { OFF };
    let v = match std::env::var("LOCKGRAPH_ORDER") {
        Err(_) => default,
        Ok(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" => default,
            "0" | "off" | "false" => OFF,
            "1" | "on" | "true" => ON,
            other => {
                let name = if DEFAULT_ON { "on" } else { "off" };
                crate::stderr::line(&format!("lockgraph: LOCKGRAPH_ORDER: unknown value {other:?} (expected on or off); using {name}"));
                default
            }
        },
    };
    let _ = MODE.compare_exchange(UNSET, v, Ordering::Relaxed, Ordering::Relaxed);
    MODE.load(Ordering::Relaxed) == ON
}
