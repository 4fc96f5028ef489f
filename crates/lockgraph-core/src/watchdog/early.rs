//! A deadlock's headline, said early when its report is slow to build.
//!
//! The watchdog thread builds a DEADLOCK report itself: it resolves the
//! threads' stacks (the first report of a process loads the binary's debug
//! information) and takes the holders' current stacks. On a machine whose
//! cores are all busy it gets a share of a core like any thread, and an
//! outside test saw the report of a deadlock found on time come 8 to 14 s
//! later (16 busy threads on 2 cores, a 1 s timeout): the report waited
//! for the symbols of the lock-order report that the reporter thread was
//! resolving. So, while a report is built, a short-lived thread waits
//! [`AFTER`]; if the report is not out by then, it prints on stderr the one
//! line that needs no symbols: the cycle, and that the report follows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a report may take before its headline is said on its own.
pub(super) const AFTER: Duration = Duration::from_secs(1);

/// The headline's watch over one report being built: dropped once the
/// report is queued, which stops the headline if it has not gone out.
pub(super) struct Headline(Arc<AtomicBool>);

impl Headline {
    /// Starts the watch over the report of the wait-for `cycle`, its text
    /// as the report's `cycle:` line gives it. `None` when no thread could
    /// be started (the report then comes when it comes).
    pub(super) fn watch(cycle: &str) -> Option<Headline> {
        let done = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&done);
        let text = line(std::process::id(), cycle);
        std::thread::Builder::new()
            .name("lockgraph-headline".into())
            .spawn(move || {
                std::thread::sleep(AFTER);
                // On stderr directly: the reporter thread, which delivers
                // notices in order, may be the one resolving stacks (a
                // lock-order report's, whose symbols this report waits for).
                if !seen.load(Ordering::Acquire) {
                    crate::stderr::line(&text);
                }
            })
            .ok()?;
        Some(Headline(done))
    }
}

impl Drop for Headline {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The headline of a deadlock of process `pid` through `cycle`.
fn line(pid: u32, cycle: &str) -> String {
    format!(
        "lockgraph: the watchdog found a deadlock (pid {pid}): {cycle}; its DEADLOCK report \
         follows once the threads' stacks are resolved (taking over {}s: a busy machine, or the \
         first report's debug information)",
        AFTER.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_names_the_process_and_the_cycle_and_is_no_report() {
        let l = line(
            7,
            "thread `a` -> Mutex `m` -> thread `b` -> Mutex `n` -> thread `a`",
        );
        assert!(l.starts_with("lockgraph: the watchdog found a deadlock (pid 7): thread `a` -> "));
        assert!(l.contains("; its DEADLOCK report follows"));
        // Not a report's first line: tests and tools that count reports
        // match `lockgraph watchdog: `.
        assert!(!l.contains("lockgraph watchdog: "));
    }
}
