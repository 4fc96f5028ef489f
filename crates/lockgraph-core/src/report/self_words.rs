//! A self-deadlock report's words, by the kind of what is requested again:
//! a lock, a `Once`, a bounded queue's consumer sending into it, a second
//! permit of a semaphore, an async lock's task; and the report as text.

use std::fmt;

use super::names::{actor, hold_mode, is_task, request_mode, site_or_unknown};
use super::{CycleReport, Hold};
use crate::class::LockKind;
use crate::report::Request;

/// A self-deadlock's first line (after `lockgraph: `) and what it means,
/// in the words of the lock's kind: a lock, a `Once`, a bounded queue's
/// consumer sending into it, a second permit, an async lock's task. A
/// potential one with an exclusive request is an upgradable read asked on
/// a read the thread holds. `joined`: an async lock asked for again by
/// its holder, not both for read: potential, since another future of the
/// task may hold the guard (`add_edges::self_deadlock`).
pub(super) fn self_words(
    kind: LockKind,
    certain: bool,
    request: Request,
    joined: bool,
) -> (&'static str, &'static str) {
    match kind {
        LockKind::Once => (
            "deadlock: call_once on a Once from inside its own closure",
            "The closure waits for itself to finish and never wakes. Do not reach \
             the same Once from its own initialization.",
        ),
        LockKind::Queue => (
            "potential deadlock: a consumer of a bounded queue sends into it",
            "When the queue is full the send waits for a consumer to make room, and \
             this thread, a consumer, is the one waiting: unless another consumer \
             receives meanwhile, it never wakes. Send from a thread that does not \
             consume this queue, or give the stage its own output queue.",
        ),
        LockKind::Semaphore => (
            "potential deadlock: a holder of a semaphore's permit asks it for another",
            "When no permit is free the request waits for one to be given back, and \
             this holder keeps its own while it waits: once every permit is held \
             this way, none comes back (reported whatever the number of permits, \
             as lockdep does). Give the first permit back before asking again.",
        ),
        LockKind::AsyncSemaphore => (
            "potential deadlock: a holder of a semaphore's permit asks it for another",
            "When no permit is free the request waits for one to be given back, and \
             this holder keeps its own while it waits: once every permit is held \
             this way, none comes back (reported whatever the number of permits, \
             as lockdep does). Give the first permit back before asking again. If \
             the permit was moved into another task (a `static` semaphore's \
             `acquire()` permit moved into a spawned task), that task holds it, \
             which lockgraph cannot see: take permits that move with \
             `acquire_owned` on an `Arc<Semaphore>`, which are no task's holds.",
        ),
        LockKind::AsyncMutex | LockKind::AsyncRwLock if joined => (
            "potential deadlock: an async lock is requested by the task (or thread) that holds it",
            "If the guard it holds is the requesting code's own (sequential code in \
             one future, or a `blocking_lock` on the thread that holds it), it \
             waits for itself and never wakes: tokio's locks are not reentrant; \
             drop the first guard before locking again. If another future polled \
             by the same task (or `block_on`) holds it (futures joined by `join!`, \
             `select!` or `join_all`: lockgraph keeps holds per task, not per \
             future), the request waits until that future drops its guard, and \
             there is no deadlock.",
        ),
        LockKind::AsyncRwLock => (
            "potential deadlock: an async RwLock is read-locked again by the task (or thread) that read-holds it",
            "tokio's RwLock is fair: a writer that queues between the two reads \
             blocks the second read, and the writer waits for the first. Keep one \
             guard and pass it down.",
        ),
        LockKind::RwLock if certain => (
            "deadlock: a thread requests a lock it already holds",
            "The thread waits for itself and never wakes (a timed request waits out \
             its whole timeout and fails). Drop the first guard before taking the \
             lock again, or keep one guard and pass it down (an upgradable read \
             upgrades in place).",
        ),
        _ if certain => (
            "deadlock: a thread requests a lock it already holds",
            "The thread waits for itself and never wakes (a timed request waits out \
             its whole timeout and fails). Drop the first guard before taking the \
             lock again, or use a ReentrantMutex.",
        ),
        _ if request == Request::Exclusive => (
            "potential deadlock: a thread asks for an upgradable read of a lock it already read-holds",
            "An upgradable read waits while a writer is queued (parking_lot's RwLock \
             is fair) or another thread holds an upgradable read, and that writer, or \
             that thread's upgrade, waits for this thread's read. Take the upgradable \
             read first and read under it, or drop the read before.",
        ),
        _ => (
            "potential deadlock: a thread read-locks a lock it already read-holds",
            "parking_lot's RwLock is fair: a writer that queues between the two reads \
             blocks the second read, and the writer waits for the first. Use \
             read_recursive() or keep one guard.",
        ),
    }
}

fn hold_word(h: Hold) -> &'static str {
    match h {
        Hold::Exclusive => "exclusively",
        Hold::Shared => "shared",
        Hold::Upgradable => "as an upgradable read",
    }
}

fn request_word(r: Request) -> &'static str {
    match r {
        Request::Exclusive => "exclusively",
        Request::Read => "for read",
        Request::RecursiveRead => "for recursive read",
    }
}

impl CycleReport {
    pub(super) fn fmt_self(&self, f: &mut fmt::Formatter<'_>, certain: bool) -> fmt::Result {
        let (Some(lock), Some(e)) = (self.locks.entry(0), self.edges.entry(0)) else {
            return Ok(());
        };
        let async_lock = matches!(lock.kind, LockKind::AsyncMutex | LockKind::AsyncRwLock);
        let joined = async_lock && (e.hold != Hold::Shared || e.request == Request::Exclusive);
        let (what, why) = self_words(lock.kind, certain, e.request, joined);
        writeln!(f, "lockgraph: {what}")?;
        writeln!(f, "  lock:      {} {}", lock.kind_label(), lock.label())?;
        if let (Some(_), Some(site)) = (lock.name, lock.created) {
            writeln!(f, "             created at {site}")?;
        }
        for note in self.site_notes() {
            writeln!(f, "             ({note})")?;
        }
        if is_task(&e.thread) {
            writeln!(f, "  task:      {}", actor(&e.thread))?;
        } else {
            writeln!(f, "  thread:    {}", actor(&e.thread))?;
        }
        // A lock's modes, or a pipeline resource's roles.
        let (held, requested) = match lock.kind {
            LockKind::Queue
            | LockKind::Semaphore
            | LockKind::AsyncSemaphore
            | LockKind::Barrier
            | LockKind::Thread => (
                hold_mode(lock.kind, e.hold).trim_start(),
                request_mode(lock.kind, e.request).trim_start(),
            ),
            // A potential self-deadlock of an exclusive request: an
            // upgradable read (`self_words`).
            _ if !certain && !async_lock && e.request == Request::Exclusive => {
                (hold_word(e.hold), "for an upgradable read")
            }
            _ => (hold_word(e.hold), request_word(e.request)),
        };
        writeln!(
            f,
            "  holds it   {held} since {}",
            site_or_unknown(e.held_at)
        )?;
        writeln!(
            f,
            "  requests   it {requested} at {}",
            site_or_unknown(e.requested_at)
        )?;
        writeln!(f, "  {why}")?;
        self.fmt_stacks(f)
    }
}
