//! One flag for "every optional feature is off", so the lock path checks one
//! relaxed load instead of one per feature (profile, watchdog, atomicity).

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the environment was read and every optional feature is off;
/// cleared by anything that turns a feature on.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether every optional feature (profile, watchdog, atomicity checks) is
/// off, the common case: lock types check this one flag before looking at
/// each feature.
#[inline(always)]
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed) || settle()
}

#[cold]
fn settle() -> bool {
    // Each `on()` reads its environment variable the first time.
    let any = crate::profile::on() | crate::watchdog::on() | crate::atomicity::on();
    if !any {
        QUIET.store(true, Ordering::Relaxed);
    }
    !any
}

/// Called by whatever turns a feature on.
pub(crate) fn noisy() {
    QUIET.store(false, Ordering::Relaxed);
}
