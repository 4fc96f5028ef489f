//! What happens to a report: the policy, and scoped capture for tests.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::report::CycleReport;

/// What lockgraph does when it finds a potential deadlock.
///
/// The default comes from the environment variable `LOCKGRAPH_ON_CYCLE`
/// (`warn`, `panic`, `abort` or `off`; `warn` when unset); [`set_on_cycle`]
/// overrides it in code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnCycle {
    /// Emit one `tracing` WARN event per distinct report (target `lockgraph`,
    /// fields `locks`, `kind`, `report_level`), or print the report on the
    /// standard error file descriptor when the subscriber does not enable
    /// that event (or there is none). Then carry on. The report is
    /// delivered by a lockgraph thread, with the reporting thread's
    /// subscriber, not inside the lock call (which holds locks the
    /// subscriber may need); [`crate::flush_reports`] waits for it.
    Warn,
    /// Panic in the thread whose acquisition closed the cycle, before it
    /// blocks. The lock is not taken; the held-lock stack stays consistent.
    Panic,
    /// Print the report on the standard error file descriptor and abort
    /// the process.
    Abort,
    /// Record edges but report nothing.
    Off,
}

/// An unknown value of `LOCKGRAPH_ON_CYCLE` (or of a string parsed as [`OnCycle`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseOnCycleError(pub String);

impl fmt::Display for ParseOnCycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown lockgraph policy {:?}: expected warn, panic, abort or off",
            self.0
        )
    }
}

impl std::error::Error for ParseOnCycleError {}

impl FromStr for OnCycle {
    type Err = ParseOnCycleError;

    fn from_str(s: &str) -> Result<OnCycle, ParseOnCycleError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "warn" => Ok(OnCycle::Warn),
            "panic" => Ok(OnCycle::Panic),
            "abort" => Ok(OnCycle::Abort),
            "off" => Ok(OnCycle::Off),
            _ => Err(ParseOnCycleError(s.to_string())),
        }
    }
}

const UNSET: u8 = 0;

static POLICY: AtomicU8 = AtomicU8::new(UNSET);

fn encode(p: OnCycle) -> u8 {
    match p {
        OnCycle::Warn => 1,
        OnCycle::Panic => 2,
        OnCycle::Abort => 3,
        OnCycle::Off => 4,
    }
}

/// Sets the reporting policy for the whole process, overriding `LOCKGRAPH_ON_CYCLE`.
pub fn set_on_cycle(policy: OnCycle) {
    POLICY.store(encode(policy), Ordering::Relaxed);
}

/// The reporting policy in force.
pub fn on_cycle() -> OnCycle {
    match POLICY.load(Ordering::Relaxed) {
        1 => OnCycle::Warn,
        2 => OnCycle::Panic,
        3 => OnCycle::Abort,
        4 => OnCycle::Off,
        _ => {
            let p = match std::env::var("LOCKGRAPH_ON_CYCLE") {
                Ok(v) => v.parse().unwrap_or_else(|e: ParseOnCycleError| {
                    crate::stderr::line(&format!("lockgraph: LOCKGRAPH_ON_CYCLE: {e}; using warn"));
                    OnCycle::Warn
                }),
                Err(_) => OnCycle::Warn,
            };
            // Another thread may have set a policy meanwhile: keep theirs.
            let _ = POLICY.compare_exchange(UNSET, encode(p), Ordering::Relaxed, Ordering::Relaxed);
            on_cycle()
        }
    }
}

crate::sync::thread_local_const! {
    static CAPTURES: RefCell<Vec<Vec<CycleReport>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` and returns the reports raised on this thread while it ran,
/// instead of applying the policy to them.
///
/// Reports raised on other threads are not seen (they follow the policy), so
/// tests running in parallel each see their own. Captures nest; the innermost
/// one gets the reports. The capture ends even when `f` panics.
///
/// ```
/// let reports = lockgraph_core::capture(|| {
///     // code under test
/// });
/// assert!(reports.is_empty());
/// ```
pub fn capture(f: impl FnOnce()) -> Vec<CycleReport> {
    crate::sync::capture(&CAPTURES, f)
}

/// Hands a report built outside the core (by the CUDA model) to the innermost
/// [`capture`] on this thread, or applies the [`OnCycle`] policy, exactly as
/// the core does with its own reports (under `warn`, a lockgraph thread
/// delivers it). The caller deduplicates.
pub fn emit_report(report: CycleReport) {
    emit(report);
}

/// Hands a report to the innermost capture on this thread, or applies the policy.
pub(crate) fn emit(report: CycleReport) {
    let Some(report) = crate::sync::offer(&CAPTURES, report) else {
        return;
    };
    match on_cycle() {
        OnCycle::Off => {}
        OnCycle::Warn => crate::delivery::warn(report),
        // On this thread, before it blocks: the lock is not taken.
        OnCycle::Panic => panic!("{report}"),
        OnCycle::Abort => crate::delivery::abort(&report, "LOCKGRAPH_ON_CYCLE=abort"),
    }
}

impl crate::delivery::Deliver for CycleReport {
    fn event(&self, text: &str) -> bool {
        // `report_level`, not `level`: that name is the event's own level.
        crate::delivery::event!(
            tracing::Level::WARN,
            locks = self.locks.len(),
            kind = ?self.kind,
            report_level = ?self.level,
            "{text}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_case_insensitively_and_errors_name_the_value() {
        assert_eq!(" Panic ".parse(), Ok(OnCycle::Panic));
        assert_eq!("off".parse(), Ok(OnCycle::Off));
        let e = "loud".parse::<OnCycle>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown lockgraph policy \"loud\": expected warn, panic, abort or off"
        );
    }

    #[test]
    fn captures_nest_and_end_on_panic() {
        let outer = capture(|| {
            let inner = capture(|| {});
            assert!(inner.is_empty());
            let r = std::panic::catch_unwind(|| capture(|| panic!("inside")));
            assert!(r.is_err());
            CAPTURES.with(|c| assert_eq!(c.borrow().len(), 1));
        });
        assert!(outer.is_empty());
        CAPTURES.with(|c| assert!(c.borrow().is_empty()));
    }
}
