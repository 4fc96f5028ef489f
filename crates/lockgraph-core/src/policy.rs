//! What happens to a report: the one path every producer uses (the
//! lock-order graph, the atomicity checker, the watchdog, the CUDA model and
//! its race sanitizer).
//!
//! A producer builds a value of a type that implements [`Report`] and calls
//! [`emit`]. The report goes to the innermost [`capture_reports`] of its type
//! on this thread (tests), or else the [`OnCycle`] policy decides, through
//! [`Report::disposal`], what becomes of it: delivered (a `tracing` event off
//! the calling thread, or stderr: see [`crate::flush_reports`]), a panic on
//! this thread, an abort, or nothing. What differs between producers on
//! purpose is said by the report type's own methods (its event's fields,
//! the subscriber it goes to, how it reads the policy), not by a copy of the
//! path.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
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
    /// subscriber may need); [`crate::flush_reports`] waits for it. A
    /// lock-order report is also built there, from what the lock call kept
    /// of the cycle, and its stacks resolved there.
    Warn,
    /// Panic in the thread whose acquisition closed the cycle, before it
    /// blocks. The lock is not taken; the held-lock stack stays consistent.
    /// The message is the report, its first line starting with the
    /// acquisition's call site when it is known
    /// (`src/db.rs:41:17: lockgraph: potential deadlock: ...`); the
    /// panic's own location is lockgraph's. Two kinds of call deliver the
    /// report as `Warn` does instead: a raw lock call without a site
    /// (lock_api re-locking at the end of a guard's `unlocked`, whose guard
    /// would unlock a lock the thread does not hold if the panic dropped
    /// it, or code generic over lock_api), and any call made while the
    /// thread already unwinds (a second panic would abort the process).
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
            // The table's words are exactly the policy's names.
            let p = crate::env::ON_CYCLE.word().parse().unwrap_or(OnCycle::Warn);
            // Another thread may have set a policy meanwhile: keep theirs.
            let _ = POLICY.compare_exchange(UNSET, encode(p), Ordering::Relaxed, Ordering::Relaxed);
            on_cycle()
        }
    }
}

/// What becomes of one report that no capture took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposal {
    /// Nothing.
    Drop,
    /// Delivered by a lockgraph thread: the `tracing` event under
    /// [`Report::dispatch`], or stderr when that subscriber does not enable
    /// it.
    Deliver,
    /// A panic on the reporting thread, with the report as its message.
    Panic,
    /// The report (and whatever is still queued) on stderr, then an abort;
    /// the text says why (e.g. `LOCKGRAPH_ON_CYCLE=abort`).
    Abort(&'static str),
}

/// A report that lockgraph (or a crate built on it) hands to the user
/// through [`emit`].
///
/// `Display` is the text a terminal shows. The methods say what differs
/// between reports on purpose; each has a default that suits a lock-order
/// report.
pub trait Report: fmt::Display + Send + Sync + 'static {
    /// Emits the report's `tracing` event (target `lockgraph`) with `text`,
    /// its rendering, when the current subscriber enables it; returns
    /// whether it did. The default is a WARN event with the text alone;
    /// override it to add fields (and check `tracing::enabled!` first).
    fn event(&self, text: &str) -> bool {
        crate::delivery::event!(tracing::Level::WARN, "{text}")
    }

    /// What the policy in force (`policy`) does with this report. The
    /// default follows it: `warn` delivers, `panic` panics, `abort`
    /// aborts, `off` drops.
    fn disposal(&self, policy: OnCycle) -> Disposal {
        match policy {
            OnCycle::Warn => Disposal::Deliver,
            OnCycle::Panic => Disposal::Panic,
            OnCycle::Abort => Disposal::Abort("LOCKGRAPH_ON_CYCLE=abort"),
            OnCycle::Off => Disposal::Drop,
        }
    }

    /// The subscriber a delivered report goes to. The default is the
    /// reporting thread's current one (a scoped `with_default` subscriber
    /// included).
    fn dispatch(&self) -> tracing::Dispatch {
        tracing::dispatcher::get_default(tracing::Dispatch::clone)
    }

    /// The report type whose [`capture_reports`] takes this report: its own
    /// type, but for a report that stands for another (a lock-order cycle
    /// the graph found is captured as the [`CycleReport`] built from it).
    #[doc(hidden)]
    fn captured_as() -> TypeId
    where
        Self: Sized,
    {
        TypeId::of::<Self>()
    }

    /// This report as its capture returns it (of type
    /// [`captured_as`](Report::captured_as)), built when the capture
    /// returns.
    #[doc(hidden)]
    fn into_captured(self) -> Box<dyn Any>
    where
        Self: Sized,
    {
        Box::new(self)
    }
}

impl<R: Report> crate::delivery::Deliver for R {
    fn event(&self, text: &str) -> bool {
        Report::event(self, text)
    }
}

impl Report for CycleReport {
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

/// A report a capture took, built into what the capture returns when it
/// returns ([`Report::into_captured`]).
type Taken = Box<dyn FnOnce() -> Box<dyn Any>>;

/// Captures open on this thread, innermost last: the report type each takes
/// and what it took so far.
type Captures = RefCell<Vec<(TypeId, Vec<Taken>)>>;

crate::sync::thread_local_const! {
    static CAPTURES: Captures = const { RefCell::new(Vec::new()) };
}

/// Runs `f` and returns the reports of type `R` raised on this thread while
/// it ran, instead of applying the policy to them.
///
/// A lock-order cycle is kept compactly by the lock call that found it and
/// built into its whole [`CycleReport`] here, when the capture returns (for
/// a 10,000-lock cycle, most of the cost); its stacks are resolved when it
/// is printed ([`crate::Backtrace`]).
///
/// Reports raised on other threads are not seen (they follow the policy), so
/// tests running in parallel each see their own. Captures nest; the
/// innermost capture of `R` gets the reports (a capture of another type in
/// between does not hide it). The capture ends even when `f` panics.
///
/// ```
/// use lockgraph_core::{capture_reports, AtomicityReport, CycleReport};
///
/// let (order, atomicity) = {
///     let mut atomicity = Vec::new();
///     let order = capture_reports::<CycleReport>(|| {
///         atomicity = capture_reports::<AtomicityReport>(|| {
///             // code under test
///         });
///     });
///     (order, atomicity)
/// };
/// assert!(order.is_empty() && atomicity.is_empty());
/// ```
pub fn capture_reports<R: Report>(f: impl FnOnce()) -> Vec<R> {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            let _ = CAPTURES.try_with(|c| c.borrow_mut().pop());
        }
    }
    CAPTURES.with(|c| c.borrow_mut().push((TypeId::of::<R>(), Vec::new())));
    let pop = Pop;
    f();
    std::mem::forget(pop);
    let taken = CAPTURES
        .with(|c| c.borrow_mut().pop())
        .map(|(_, v)| v)
        .unwrap_or_default();
    // A cycle the graph found is built into its report now (see
    // `global/found.rs`).
    taken
        .into_iter()
        .filter_map(|build| build().downcast::<R>().ok().map(|b| *b))
        .collect()
}

/// Runs `f` and returns the lock-order reports raised on this thread while
/// it ran ([`capture_reports`] of [`CycleReport`]), instead of applying the
/// policy to them.
///
/// ```
/// let reports = lockgraph_core::capture(|| {
///     // code under test
/// });
/// assert!(reports.is_empty());
/// ```
pub fn capture(f: impl FnOnce()) -> Vec<CycleReport> {
    capture_reports::<CycleReport>(f)
}

/// Hands `report` to the innermost capture of its type on this thread;
/// gives it back when there is none (or the thread is exiting). A report
/// that stands for another ([`Report::captured_as`]: a cycle the graph
/// found) goes to a capture of that type, which builds it when it returns.
fn offer<R: Report>(report: R) -> Option<R> {
    let mut report = Some(report);
    let want = R::captured_as();
    let _ = CAPTURES.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if let Some((_, v)) = c.iter_mut().rev().find(|(t, _)| *t == want) {
                if let Some(r) = report.take() {
                    v.push(Box::new(move || r.into_captured()));
                }
            }
        }
    });
    report
}

/// Whether a lock-order cycle found now on this thread goes out to someone
/// ([`emit`] of the graph's report of it): a [`capture_reports`] of
/// [`CycleReport`] is open on this thread, or the policy in force is not
/// `off` (that report follows the policy, [`Report::disposal`]'s default). The
/// graph keeps the answer with the cycle, for the watchdog's order context.
pub(crate) fn cycle_goes_out() -> bool {
    cycle_captured_here() || on_cycle() != OnCycle::Off
}

/// Whether a [`capture_reports`] of [`CycleReport`] is open on this thread
/// (none once the thread's captures are gone: [`offer`] then finds none).
fn cycle_captured_here() -> bool {
    let want = TypeId::of::<CycleReport>();
    CAPTURES
        .try_with(|c| {
            c.try_borrow()
                .is_ok_and(|c| c.iter().any(|(t, _)| *t == want))
        })
        .unwrap_or(false)
}

/// Hands `report` to the innermost [`capture_reports`] of its type on this
/// thread, or else does what [`Report::disposal`] says under the policy in
/// force: the one path of every lockgraph report. A delivered report goes
/// out on a lockgraph thread; this call returns at once. The caller
/// deduplicates.
pub fn emit<R: Report>(report: R) {
    emit_at(report, None);
}

/// [`emit`] of a report raised by the user's call at `site` (the lock call
/// whose request closed a cycle, the `.await` a lock was held across, the
/// CUDA call that raced): a panic by policy starts its message with it,
/// as a compiler names a place (`src/db.rs:41:17: lockgraph: ...`), since
/// the panic's own location is lockgraph's.
///
/// ```
/// use std::panic::Location;
/// # #[derive(Debug)] struct Mine;
/// # impl std::fmt::Display for Mine {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("mine") }
/// # }
/// # impl lockgraph_core::Report for Mine {}
/// lockgraph_core::set_on_cycle(lockgraph_core::OnCycle::Panic);
/// let site = Location::caller();
/// let err = std::panic::catch_unwind(|| lockgraph_core::emit_at(Mine, Some(site))).unwrap_err();
/// let msg = err.downcast_ref::<String>().unwrap();
/// assert_eq!(*msg, format!("{site}: mine"));
/// ```
pub fn emit_at<R: Report>(report: R, site: Option<&'static Location<'static>>) {
    let Some(report) = offer(report) else {
        return;
    };
    match report.disposal(on_cycle()) {
        Disposal::Drop => {}
        Disposal::Deliver => {
            let dispatch = report.dispatch();
            crate::delivery::send_to(report, dispatch);
        }
        // Delivered instead: while this thread unwinds, where a panic would
        // abort the process (a re-lock in a guard's drop, say), and where a
        // guard of the lock may outlive the call (`without_panic`).
        Disposal::Panic if std::thread::panicking() || panics_put_off() => {
            let dispatch = report.dispatch();
            crate::delivery::send_to(report, dispatch);
        }
        // On this thread, before it blocks: the lock is not taken.
        Disposal::Panic => panic_with(&report, site),
        Disposal::Abort(why) => {
            // The record's stacks of the edges written so far (resolved on
            // the record's thread: this one holds locks).
            crate::record::before_abort();
            crate::delivery::abort(&report, why)
        }
    }
}

crate::sync::thread_local_const! {
    /// Set while [`without_panic`] runs on this thread.
    static NO_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether [`without_panic`] runs on this thread.
fn panics_put_off() -> bool {
    NO_PANIC.try_with(|n| n.get()).unwrap_or(false)
}

/// Runs `acquire`, a raw lock call a guard of the lock may outlive, with
/// the `panic` policy's panics turned into deliveries: the report is
/// printed (or goes to the subscriber), and the lock is taken. lock_api's
/// guards re-lock this way at the end of `unlocked`
/// (`MutexGuard::unlocked`, `RwLockReadGuard::unlocked`, ...): the guard
/// still exists and unlocks the lock when a panic drops it, so a panic
/// before the lock was taken made that unlock release a lock this thread
/// did not hold (another thread's hold of a mutex, or a read-write lock's
/// reader count), and mutual exclusion was lost (found by an outside test).
/// A panic once the lock is taken would leave it locked where no guard
/// exists (code generic over lock_api calling the raw lock, the same call
/// from the inside), and one put off until then was lost if the call
/// never returned (found by a review): no panic is right for both.
pub(crate) fn without_panic(acquire: impl FnOnce()) {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0;
            let _ = NO_PANIC.try_with(|n| n.set(outer));
        }
    }
    let outer = NO_PANIC.try_with(|n| n.replace(true)).unwrap_or(false);
    let _restore = Restore(outer);
    acquire();
}

/// Whether a lock-order report raised on this thread now is delivered
/// (printed, or given to the subscriber): no capture of it is open here,
/// and the policy is `warn`, or `panic` where [`without_panic`] runs. A
/// report that panics, aborts or is captured is never left out as a
/// repeat: each panic is the caller's, and each capture a test's.
pub(crate) fn cycles_delivered() -> bool {
    !cycle_captured_here()
        && match on_cycle() {
            OnCycle::Warn => true,
            OnCycle::Panic => panics_put_off() || std::thread::panicking(),
            _ => false,
        }
}

/// The policy's panic, with `report` as its message. The panic's location
/// (the default hook's `panicked at` line) is this function's: the call
/// site cannot be carried here with `#[track_caller]` (the way from a lock
/// call goes through lock_api, which does not carry it, and through
/// closures), so the message's first line starts with `site`, the call
/// that raised the report when it is known, as a compiler names a place:
/// `src/db.rs:41:17: lockgraph: potential deadlock: ...`.
#[cold]
#[inline(never)]
fn panic_with(report: &dyn fmt::Display, site: Option<&'static Location<'static>>) -> ! {
    match site {
        Some(site) => panic!("{site}: {report}"),
        None => panic!("{report}"),
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

    /// A report type of a test's own.
    #[derive(Debug, PartialEq)]
    struct Fake(u32, bool);

    impl fmt::Display for Fake {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "fake report {}", self.0)
        }
    }

    impl Report for Fake {
        fn disposal(&self, policy: OnCycle) -> Disposal {
            // Like the atomicity checker's: never a panic; and a report of
            // its own that the type always drops.
            if !self.1 {
                return Disposal::Drop;
            }
            match policy {
                OnCycle::Panic | OnCycle::Warn => Disposal::Deliver,
                OnCycle::Abort => Disposal::Abort("fake abort"),
                _ => Disposal::Drop,
            }
        }
    }

    #[test]
    fn a_capture_takes_only_its_own_report_type_innermost_first() {
        let mut inner = Vec::new();
        let mut cycles = Vec::new();
        let outer = capture_reports::<Fake>(|| {
            emit(Fake(1, true));
            cycles = capture(|| {
                // A capture of another type does not hide the outer one.
                emit(Fake(2, true));
                inner = capture_reports::<Fake>(|| emit(Fake(3, true)));
            });
        });
        assert_eq!(outer, [Fake(1, true), Fake(2, true)]);
        assert_eq!(inner, [Fake(3, true)]);
        assert!(cycles.is_empty());
    }

    #[test]
    fn the_report_type_decides_what_the_policy_does_with_it() {
        assert_eq!(Fake(0, true).disposal(OnCycle::Panic), Disposal::Deliver);
        assert_eq!(Fake(0, false).disposal(OnCycle::Warn), Disposal::Drop);
        assert_eq!(
            Fake(0, true).disposal(OnCycle::Abort),
            Disposal::Abort("fake abort")
        );
        // The default follows the policy.
        let r = crate::report::CycleReport::new(
            crate::report::ReportKind::LockOrderCycle,
            crate::report::Level::Class,
            Vec::new(),
            Vec::new(),
        );
        assert_eq!(r.disposal(OnCycle::Panic), Disposal::Panic);
        assert_eq!(r.disposal(OnCycle::Warn), Disposal::Deliver);
        assert_eq!(r.disposal(OnCycle::Off), Disposal::Drop);
        assert_eq!(
            r.disposal(OnCycle::Abort),
            Disposal::Abort("LOCKGRAPH_ON_CYCLE=abort")
        );
    }
}
