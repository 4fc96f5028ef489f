//! Release builds without tracking: parking_lot's `Condvar` in a
//! `repr(transparent)` newtype, so that `Condvar::named` exists in every
//! build. Everything else is parking_lot's, through `Deref`.

use std::fmt;

/// A condition variable: `parking_lot::Condvar` (tracking is compiled out
/// in this build). Its methods are parking_lot's own, through `Deref`.
#[repr(transparent)]
pub struct Condvar(parking_lot::Condvar);

impl Condvar {
    /// A new condition variable.
    #[inline]
    pub const fn new() -> Condvar {
        Condvar(parking_lot::Condvar::new())
    }

    /// A new condition variable (the name is for tracking builds).
    #[inline]
    pub const fn named(_name: &'static str) -> Condvar {
        Condvar::new()
    }
}

impl std::ops::Deref for Condvar {
    type Target = parking_lot::Condvar;

    #[inline]
    fn deref(&self) -> &parking_lot::Condvar {
        &self.0
    }
}

impl Default for Condvar {
    #[inline]
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
