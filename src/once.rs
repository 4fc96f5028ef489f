//! `Once`, tracked as a lock (tracking builds only; release builds use
//! `parking_lot::Once` itself).
//!
//! A `Once` blocks: a thread that calls it while another runs the closure
//! waits for that closure. So it can be half of a deadlock, and lockgraph
//! treats it as a lock of its own class (its creation site):
//!
//! * the thread running the closure **holds** it for the closure's duration
//!   (locks taken in the closure get "once -> lock" edges);
//! * every call made before the `Once` completed **requests** it, blocking,
//!   with the caller's held locks ("lock -> once" edges), whether or not this
//!   call ends up running the closure: another thread could have been
//!   running it;
//! * a call on a `Once` that has completed waits for nothing and records
//!   nothing.
//!
//! Hence the two ways a `Once` deadlocks are reported before they hang:
//! `call_once` inside its own closure (a self-deadlock), and a closure that
//! waits for a lock held by a thread that calls the same `Once` (a cycle
//! "once -> lock -> once"). The watchdog does not see a thread blocked in
//! `call_once` (parking_lot parks it), and under `--cfg loom` it is still
//! parking_lot's `Once` underneath, which loom does not model.

use std::fmt;
use std::panic::Location;

use lockgraph_core::__private::primitive;
use lockgraph_core::{Class, LockKind, LockMeta};

pub use parking_lot::OnceState;

/// A synchronization primitive that runs a one-time initialization:
/// `parking_lot::Once`, tracked as a lock held while its closure runs.
///
/// ```
/// use lockgraph::Once;
///
/// static INIT: Once = Once::new();
/// let mut ran = 0;
/// INIT.call_once(|| ran += 1);
/// INIT.call_once(|| ran += 1);
/// assert_eq!(ran, 1);
/// assert!(INIT.state().done());
/// ```
pub struct Once {
    inner: parking_lot::Once,
    meta: LockMeta,
}

impl Once {
    /// A new `Once` whose class is the caller's location.
    #[track_caller]
    #[inline]
    pub const fn new() -> Once {
        Once {
            inner: parking_lot::Once::new(),
            meta: LockMeta::new(LockKind::Once, Class::here()),
        }
    }

    /// The current state: new, poisoned, in progress or done.
    #[inline]
    pub fn state(&self) -> OnceState {
        self.inner.state()
    }

    /// Runs `f` once: the first call runs it, every other call waits until
    /// it has run. Panics if a closure panicked before (the `Once` is
    /// poisoned), as parking_lot's does.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.inner.state().done() {
            return;
        }
        let site = Location::caller();
        primitive::request(&self.meta, site);
        let mut ran = false;
        self.inner.call_once(|| {
            ran = true;
            primitive::run_holding(&self.meta, site, f);
        });
        if !ran {
            primitive::requested_only(&self.meta);
        }
    }

    /// Runs `f` once, even if a closure panicked before (then `f`'s state
    /// says the `Once` is poisoned).
    #[track_caller]
    pub fn call_once_force<F: FnOnce(OnceState)>(&self, f: F) {
        if self.inner.state().done() {
            return;
        }
        let site = Location::caller();
        primitive::request(&self.meta, site);
        let mut ran = false;
        self.inner.call_once_force(|state| {
            ran = true;
            primitive::run_holding(&self.meta, site, || f(state));
        });
        if !ran {
            primitive::requested_only(&self.meta);
        }
    }
}

impl Default for Once {
    #[track_caller]
    #[inline]
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("state", &self.state())
            .finish()
    }
}
