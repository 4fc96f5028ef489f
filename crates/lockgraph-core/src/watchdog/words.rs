//! A report in words for the person who reads it at 3 a.m.: the kernel's
//! view of a thread said plainly ("blocked in a futex wait"), the report's
//! first line (what happened, since when, what the watchdog did) and its
//! last (what to do).
//!
//! Its files: [`kernel`] (a thread's kernel state in words), [`headline`]
//! (the first line, and the date it says), [`deadlock`] (a deadlock's last
//! line; [`order`]: the lock order to adopt), [`long_wait`] (a long wait's
//! last line).

use super::*;

mod deadlock;
mod headline;
mod kernel;
mod long_wait;
mod order;

pub(crate) use headline::utc;
pub(super) use kernel::verbose;
pub(super) use long_wait::unseen_holder;

impl WatchdogReport {
    /// The last line: what to do about it (the order to adopt, the hold to
    /// shorten, the call to look at).
    pub fn advice(&self) -> String {
        match self.kind {
            WatchdogKind::Deadlock => self.deadlock_advice(),
            WatchdogKind::LongWait => self.long_wait_advice(),
        }
    }
}

/// Where a wait asked: its site, or, for one without (an `upgrade()`,
/// which lock_api does not pass its caller's site to), the innermost
/// program frame of its own stack.
fn asked_at(w: &WaitInfo) -> String {
    match (&w.site, w.stack.first()) {
        (None, Some(frame)) => frame.clone(),
        _ => opt_site(&w.site),
    }
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests;
