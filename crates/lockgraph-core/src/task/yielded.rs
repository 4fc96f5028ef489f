//! "A sync lock held across an await": a task that yields (its poll
//! returns `Pending`, or an async acquisition has to wait) while its
//! thread still holds a sync lock keeps that lock held while other tasks
//! run on the thread, or blocks the thread outright; on a single-threaded
//! runtime a task that then wants the lock deadlocks the runtime.

use std::collections::HashSet;
use std::fmt;
use std::panic::Location;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use super::names::task_label;
use super::sets::{self, Owner};
use crate::class::Site;
use crate::meta::Held;
use crate::report::LockInfo;

/// The report: which sync locks the thread holds, taken where, and where
/// the task yielded.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HeldAcrossAwait {
    /// The task (its label: `task 7 "name" (spawned at ...)`), or the
    /// thread (thread `name`: a future polled outside any task).
    pub task: Arc<str>,
    /// The sync locks held, with where each was taken.
    pub locks: Vec<(LockInfo, Option<Site>)>,
    /// Where the task yielded: the async acquisition that had to wait, or
    /// the instrumented future whose poll returned `Pending` (its site).
    pub yielded_at: Option<Site>,
    /// What yielded: "waiting for AsyncMutex `x`" or "its poll returned
    /// Pending".
    pub how: String,
}

impl fmt::Display for HeldAcrossAwait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lockgraph: sync lock held across an await")?;
        // A task as its label, a thread as thread `name`, as other reports.
        if self.task.starts_with("thread `") {
            writeln!(f, "  thread:    {}", self.task)?;
        } else {
            writeln!(f, "  task:      {}", self.task)?;
        }
        match &self.yielded_at {
            Some(s) => writeln!(f, "  yielded:   {} at {s}", self.how)?,
            None => writeln!(f, "  yielded:   {}", self.how)?,
        }
        for (lock, site) in &self.locks {
            match site {
                Some(s) => writeln!(
                    f,
                    "  holding:   {} {} (taken at {s})",
                    lock.kind.name(),
                    lock.label()
                )?,
                None => writeln!(f, "  holding:   {} {}", lock.kind.name(), lock.label())?,
            }
        }
        write!(
            f,
            "  While the task is suspended its thread keeps the lock: other tasks on the \
             worker that want it block the worker, and on a current_thread runtime the \
             runtime deadlocks. Drop the guard before the .await (or use an async lock)."
        )
    }
}

impl crate::policy::Report for HeldAcrossAwait {}

/// Pairs (lock sites, yield site) already reported.
static SEEN: LazyLock<Mutex<HashSet<u64>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// Reports the sync locks the thread holds now, beyond the first
/// `held_before` of them (those it held before the poll began), as held
/// across a yield at `site` (`how()` says which: called only to report,
/// so that a yield with nothing held formats nothing). Returns whether it
/// reported (a repeat of one (locks, site) pair is reported once).
pub fn check_pending(
    held_before: usize,
    how: impl FnOnce() -> String,
    site: Option<&'static Location<'static>>,
) -> bool {
    if crate::state::holds_nothing() {
        return false;
    }
    let held = crate::state::held_entries();
    if held.len() <= held_before {
        return false;
    }
    report(&held[held_before..], how, site)
}

/// The sync locks a thread held before a poll, by id ([`super::thread_held`]).
pub struct HeldBefore(pub(super) Vec<u64>);

/// Reports the sync locks the thread holds now that it did not hold before
/// the poll (`before`), as held across the poll's `Pending` at `site`
/// ([`check_pending`]'s words). By identity, not by count: a poll that
/// releases one lock and takes another holds as many as before, and the
/// new one was missed (found by an outside test).
pub fn check_poll(
    before: &HeldBefore,
    how: impl FnOnce() -> String,
    site: Option<&'static Location<'static>>,
) -> bool {
    if crate::state::holds_nothing() {
        return false;
    }
    let held: Vec<Held> = crate::state::held_entries()
        .into_iter()
        .filter(|h| !before.0.contains(&h.id))
        .collect();
    if held.is_empty() {
        return false;
    }
    report(&held, how, site)
}

#[cold]
fn report(
    held: &[Held],
    how: impl FnOnce() -> String,
    site: Option<&'static Location<'static>>,
) -> bool {
    let mut key: u64 = site.map_or(0, |s| s as *const _ as u64);
    for h in held {
        key = key.rotate_left(7) ^ h.key ^ h.site.map_or(0, |s| s as *const _ as u64);
    }
    if !SEEN.lock().insert(key) {
        return false;
    }
    let task: Arc<str> = match sets::current_owner() {
        Owner::Task(id) => task_label(id).into(),
        Owner::Thread(_) => format!("thread `{}`", crate::sync::thread_name()).into(),
    };
    crate::policy::emit_at(
        HeldAcrossAwait {
            task,
            locks: held
                .iter()
                .map(|h| {
                    (
                        LockInfo::of_class(h.kind, h.class, Some(h.id)),
                        h.site.map(Site::from),
                    )
                })
                .collect(),
            yielded_at: site.map(Site::from),
            how: how(),
        },
        site,
    );
    true
}
