//! The report the checker raises ([`AtomicityReport`]): its fields, its
//! text, and how the reporting policy disposes of it.

use std::fmt;

use crate::class::{LockKind, Site};
use crate::policy::{Disposal, OnCycle, Report};
use crate::report::{Hold, LockInfo};

/// How bad a check-then-act finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Another thread wrote the lock between the check and the act: the
    /// decision was stale when it was acted on.
    Violation,
    /// The pattern, without an interleaving write this time (reported only
    /// with `LOCKGRAPH_ATOMICITY=warn`).
    Warning,
}

/// The thread whose write came between a check and its act.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Interleaving {
    /// That thread's name (else its id).
    pub thread: String,
    /// Where that thread took the guard it wrote under.
    pub site: Option<Site>,
}

/// A check-then-act sequence on one lock: a guard of the lock was released
/// (the *check*), and the same thread then took the lock for writing (the
/// *act*) in the same region.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AtomicityReport {
    /// Violation (a write came in between) or warning.
    pub severity: Severity,
    /// The lock.
    pub lock: LockInfo,
    /// The thread that checked and acted.
    pub thread: String,
    /// Where the guard of the check was taken.
    pub check_site: Option<Site>,
    /// Whether the check guard was shared (a read) or exclusive.
    pub check_hold: Hold,
    /// Where the write guard of the act was taken.
    pub act_site: Option<Site>,
    /// The write that came in between (violations only).
    pub interleaving: Option<Interleaving>,
    /// Whether the region was marked with [`atomic_region`](crate::atomic_region) (else implicit).
    pub explicit_region: bool,
}

fn site_str(s: Option<Site>) -> String {
    s.map_or_else(|| "an unknown site".to_string(), |s| s.to_string())
}

impl fmt::Display for AtomicityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.severity {
            Severity::Violation => "atomicity violation",
            Severity::Warning => "possible atomicity violation",
        };
        writeln!(
            f,
            "lockgraph: {what} (check-then-act) on {} {}",
            self.lock.kind.name(),
            self.lock.label()
        )?;
        let guard = match self.check_hold {
            Hold::Shared | Hold::Upgradable => "read guard",
            Hold::Exclusive => "guard",
        };
        writeln!(
            f,
            "  1. thread `{}` checked under a {guard} taken at {} and released it",
            self.thread,
            site_str(self.check_site)
        )?;
        match &self.interleaving {
            Some(w) => writeln!(
                f,
                "  2. thread `{}` wrote the lock in between (guard taken at {})",
                w.thread,
                site_str(w.site)
            )?,
            None => writeln!(
                f,
                "  2. (no other thread wrote the lock in between this time)"
            )?,
        }
        // A read-write lock's act is a write; a mutex has one kind of guard.
        let rw = matches!(self.lock.kind, LockKind::RwLock);
        let act = if rw { "write guard" } else { "guard" };
        writeln!(
            f,
            "  3. thread `{}` acted under a {act} taken at {}",
            self.thread,
            site_str(self.act_site)
        )?;
        let region = if self.explicit_region {
            "an atomic_region"
        } else {
            "one implicit region (no other lock operation between release and write)"
        };
        writeln!(f, "  region: {region}")?;
        let one = if rw {
            "one guard (upgradable_read, then upgrade; or one write guard)"
        } else {
            "one guard"
        };
        write!(
            f,
            "  fix: decide and act under {one}, or re-check under the {act} \
             (and call lockgraph::recheck() just before taking it)"
        )
    }
}

impl Report for AtomicityReport {
    fn event(&self, text: &str) -> bool {
        crate::delivery::event!(tracing::Level::WARN, severity = ?self.severity, "{text}")
    }

    /// A violation is found after the write lock was taken: a panic there
    /// would leave the lock locked, so `panic` delivers like `warn`; and
    /// `abort` aborts on violations only (a warning is delivered).
    fn disposal(&self, policy: OnCycle) -> Disposal {
        match policy {
            OnCycle::Off => Disposal::Drop,
            OnCycle::Abort if self.severity == Severity::Violation => {
                Disposal::Abort("LOCKGRAPH_ON_CYCLE=abort")
            }
            _ => Disposal::Deliver,
        }
    }
}

/// Runs `f` and returns the atomicity reports raised on this thread while it
/// ran, instead of printing them ([`crate::capture_reports`] of
/// [`AtomicityReport`]; [`crate::capture`] collects lock-order reports).
/// Captures nest; the innermost one gets the reports; the capture ends even
/// when `f` panics.
pub fn capture_atomicity(f: impl FnOnce()) -> Vec<AtomicityReport> {
    crate::policy::capture_reports::<AtomicityReport>(f)
}
