//! Whether the checker runs, and whether it reports warnings too: set by
//! [`set_atomicity`] or `LOCKGRAPH_ATOMICITY`.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::features::{self, ATOMICITY};

/// Whether and how the atomicity checker runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Atomicity {
    /// Not checked (the default): one relaxed load per acquisition and release.
    Off,
    /// Report check-then-act sequences with an interleaving write
    /// ([`Severity::Violation`](crate::Severity::Violation)).
    On,
    /// Also report check-then-act sequences without one
    /// ([`Severity::Warning`](crate::Severity::Warning)).
    Warn,
}

const UNSET: u8 = 0;
const ON: u8 = 2;
const WARN: u8 = 3;

/// Whether the checker, when on, also reports warnings ([`WARN`]) or only
/// violations ([`ON`]). Whether it is on at all is the `ATOMICITY` bit of
/// `crate::features`.
static MODE: AtomicU8 = AtomicU8::new(UNSET);

/// Sets the atomicity checker's mode for the whole process, overriding
/// `LOCKGRAPH_ATOMICITY` (`on`, `warn` or `off`).
pub fn set_atomicity(mode: Atomicity) {
    if mode != Atomicity::Off {
        let v = if mode == Atomicity::Warn { WARN } else { ON };
        MODE.store(v, Ordering::Relaxed);
    }
    features::set(ATOMICITY, mode != Atomicity::Off);
}

/// The atomicity checker's mode in force.
pub fn atomicity() -> Atomicity {
    if !on() {
        return Atomicity::Off;
    }
    if warn() {
        Atomicity::Warn
    } else {
        Atomicity::On
    }
}

/// Whether the checker runs: one relaxed load once settled.
#[inline(always)]
pub(crate) fn on() -> bool {
    features::is_on(ATOMICITY)
}

/// Whether warnings are reported too (`warn`).
pub(super) fn warn() -> bool {
    match MODE.load(Ordering::Relaxed) {
        UNSET => {
            let v = if crate::env::ATOMICITY.word() == "warn" {
                WARN
            } else {
                ON
            };
            let _ = MODE.compare_exchange(UNSET, v, Ordering::Relaxed, Ordering::Relaxed);
            MODE.load(Ordering::Relaxed) == WARN
        }
        m => m == WARN,
    }
}
