//! Held sets per task: locks held by async tasks rather than threads.
//!
//! A lock taken inside an async task (tokio's `lock().await`) is held by
//! that *task*, wherever the task runs next: its guard lives across
//! `.await`s, the task migrates between worker threads, and several tasks
//! interleave on one thread. A thread's held-lock stack (`crate::state`)
//! is wrong for that twice over: two tasks interleaved on one worker would
//! look like one thread holding both locks (false edges), and a task that
//! moved to another thread between two acquisitions would lose its holds
//! (missed edges). So async holds live here, in a *held set* per owner:
//!
//! * the owner is the current task (its id, from the function the facade
//!   registers with [`set_current_task`]), or, outside any task (a
//!   `blocking_lock` on a plain thread), the thread;
//! * each owner's set is an entry in a sharded registry, found through a
//!   one-entry thread-local cache, so that a task's repeated acquisitions
//!   touch only its own set (plain stores into its slots, no lock), never
//!   a process-wide one;
//! * a hold is an [`AsyncHold`] token inside the guard: dropping the guard
//!   anywhere (another task, another thread) removes the hold from the set
//!   of the task that took it.
//!
//! The order graph is the one the sync locks use: an async acquisition
//! records "every lock its task holds (async) and every lock its thread
//! holds (sync) -> the requested lock", with the task named as the edge's
//! actor, through the same `global::add_edges` and the same rules (a try
//! records nothing; a read queues behind a waiting writer). A sync
//! acquisition by a task that holds async locks records "those async locks
//! -> the sync lock" ([`sync_request`], called by the primitive protocol
//! once any async lock was ever taken): mixed cycles are found as any
//! other. The watchdog's dumps list each task's async holds and waits, and
//! the contention profile counts async acquisitions (their waits, sampled
//! hold times); the atomicity checker does not see async holds
//! (docs/async.md).

mod dump_line;
mod edges;
mod hold;
mod names;
mod sets;
mod threads;
mod view;
mod watch;
mod words;
mod yielded;

pub use edges::{before_wait, sync_request};
pub use hold::{acquired, acquired_after, acquired_by, acquired_now, acquired_now_by, AsyncHold};
pub use names::{name_task, task_label, unname_task, TaskName};
pub use sets::{current_owner, Owner};
pub use watch::{
    blocking_wait_begins, blocking_wait_begins_as, set_task_dumper, wait_begins, wait_begins_as,
    AsyncWait, TaskDeadlock, TaskDumper, TaskWait,
};
pub use yielded::{check_pending, check_poll, HeldAcrossAwait, HeldBefore};

/// Registers `f`, which names the task running on the calling thread
/// (`None` outside a task). Cheap to call again with the same function.
/// Also lists the tasks' async locks in the watchdog's dumps from then on.
pub fn set_current_task(f: fn() -> Option<u64>) {
    sets::set_current_task(f);
    crate::watchdog::tasks::set_task_dump(watch::dump_tasks);
}

/// Whether any async lock was ever taken in this process: until then the
/// sync path does not look for a task's holds. Written once.
#[inline(always)]
pub fn async_used() -> bool {
    sets::ASYNC_USED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The sync locks this thread holds now, by id (an instrumented task takes
/// them before a poll, for [`check_poll`]): one inlined thread-local load,
/// and no allocation, when it holds none.
#[inline]
pub fn thread_held() -> HeldBefore {
    if crate::state::holds_nothing() {
        return HeldBefore(Vec::new());
    }
    HeldBefore(crate::state::held_entries().iter().map(|h| h.id).collect())
}
