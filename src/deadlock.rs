//! parking_lot's `deadlock` module, for code written for it:
//! [`check_deadlock`] returns the deadlocks among the threads now, each
//! once, with every thread's id and stack, as parking_lot's does with its
//! `deadlock_detection` feature. A swap of `parking_lot` for lockgraph
//! keeps such a checking thread working unchanged:
//!
//! ```
//! use std::time::Duration;
//! use lockgraph::deadlock;
//!
//! std::thread::spawn(|| loop {
//!     std::thread::sleep(Duration::from_secs(10));
//!     for (i, threads) in deadlock::check_deadlock().iter().enumerate() {
//!         println!("Deadlock #{i}");
//!         for t in threads {
//!             println!("Thread Id {:#?}", t.thread_id());
//!             println!("{:#?}", t.backtrace());
//!         }
//!     }
//! });
//! ```
//!
//! lockgraph's detector is its [`watchdog`]: threads
//! publish their holds and waits only while it is on, and it reports each
//! deadlock itself, on stderr, with the locks, their sites and what to do
//! (docs/watchdog.md). The first call of [`check_deadlock`] starts it, with
//! [`Config::default`](crate::watchdog::Config) (a 5 s timeout for its
//! long-wait reports), if nothing started it before: start it yourself
//! first (`LOCKGRAPH_WATCHDOG`, or [`watchdog::start`])
//! to choose its settings. In a release build without tracking there is
//! no watchdog, and [`check_deadlock`] returns nothing, as parking_lot's
//! does without its feature.
//!
//! The `deadlock_detection` feature is accepted for a `package =
//! "lockgraph"` rename of a parking_lot dependency that names it; it
//! changes nothing, since this module is always there.

use std::fmt;

use crate::watchdog::{self, ThreadInfo};

/// Returns the deadlocks found among the threads that no earlier call
/// returned, each as its threads (parking_lot's `check_deadlock`). A
/// deadlock is a cycle of threads each waiting, with no time limit, for a
/// lock the next holds (a wait with a deadline is left out: it ends when
/// it gives up). A deadlock whose waiters have not yet captured their
/// stacks (each does so within a scan of the watchdog seeing it) is left
/// for a later call, for at most three calls. Starts the watchdog if it
/// is not on (see the [module](self)).
pub fn check_deadlock() -> Vec<Vec<DeadlockedThread>> {
    if !watchdog::on() {
        watchdog::start(watchdog::Config::default());
    }
    watchdog::new_deadlocks()
        .into_iter()
        .map(|report| {
            report
                .threads
                .into_iter()
                .map(DeadlockedThread::from)
                .collect()
        })
        .collect()
}

/// One thread of a deadlock (parking_lot's `DeadlockedThread`).
#[derive(Clone)]
pub struct DeadlockedThread {
    backtrace: Stack,
    info: ThreadInfo,
}

impl DeadlockedThread {
    /// The thread's id: its kernel thread id (`gettid` on Linux), as
    /// lockgraph's reports give it (parking_lot gives a number of its own).
    pub fn thread_id(&self) -> usize {
        self.info.tid as usize
    }

    /// The thread's stack while it waits, innermost frame first.
    pub fn backtrace(&self) -> &Stack {
        &self.backtrace
    }

    /// Everything the watchdog knows of the thread: its name, the lock it
    /// waits for (and where it asked), the locks it holds (and where it
    /// took them).
    pub fn info(&self) -> &ThreadInfo {
        &self.info
    }
}

impl From<ThreadInfo> for DeadlockedThread {
    fn from(info: ThreadInfo) -> Self {
        let frames = info
            .waiting
            .as_ref()
            .map(|w| w.stack.clone())
            .unwrap_or_default();
        DeadlockedThread {
            backtrace: Stack(frames),
            info,
        }
    }
}

impl fmt::Debug for DeadlockedThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlockedThread")
            .field("thread_id", &self.thread_id())
            .field("name", &self.info.name)
            .field("backtrace", &self.backtrace)
            .finish()
    }
}

/// A deadlocked thread's stack, resolved: one `function (file:line)` per
/// frame, innermost first, the program's own frames (lockgraph's and the
/// lock libraries' left out, as in the watchdog's reports). Empty when the
/// thread had not captured it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Stack(Vec<String>);

impl Stack {
    /// The frames, innermost first.
    pub fn frames(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Debug for Stack {
    /// One frame per line with `{:#?}`, as a list with `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for frame in &self.0 {
            writeln!(f, "  {frame}")?;
        }
        Ok(())
    }
}
