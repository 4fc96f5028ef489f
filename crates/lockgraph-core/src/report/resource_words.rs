//! How reports word a pipeline resource (a queue, a semaphore, a barrier, a
//! joined thread), which no lock order fixes: how it is held and
//! requested in an edge's lines and in the "fix:" that names the hold to
//! release before the wait (`wait_fix.rs`). One table for the runtime's
//! reports and `lockgraph check`'s (which reads a lock's kind from its
//! records).

use crate::LockKind;

/// The words of one kind of pipeline resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceWords {
    /// How it is held, after its name in an edge line (` as its consumer`).
    pub held: &'static str,
    /// How it is requested, after its name in an edge line (` (a send
    /// that blocks while it is full)`).
    pub requested: &'static str,
    /// The wait, as a verb before its name (`sending into`).
    pub waiting: &'static str,
    /// Who takes the held lock before the waiter can go on (`its consumer
    /// takes it before it receives again`).
    pub holders: &'static str,
    /// The wait, as a noun before its name (`the send into`).
    pub the_wait: &'static str,
    /// The resource, as a noun (`queue`).
    pub noun: &'static str,
}

/// The words of a resource of `kind`; `None` for a lock (and for a CUDA
/// stream, whose fix is a synchronize's).
pub fn resource_words(kind: LockKind) -> Option<ResourceWords> {
    Some(match kind {
        LockKind::Queue => ResourceWords {
            held: " as its consumer",
            requested: " (a send that blocks while it is full)",
            waiting: "sending into",
            holders: "its consumer takes it before it receives again",
            the_wait: "the send into",
            noun: "queue",
        },
        LockKind::Semaphore | LockKind::AsyncSemaphore => ResourceWords {
            held: " (a permit)",
            requested: " (a permit)",
            waiting: "acquiring a permit of",
            holders: "a permit holder takes it before it gives its permit back",
            the_wait: "the acquire of",
            noun: "semaphore",
        },
        LockKind::Barrier => ResourceWords {
            held: " as a party on its way to the next wait",
            requested: " (a barrier wait)",
            waiting: "waiting at",
            holders: "a party takes it before it arrives",
            the_wait: "the wait at",
            noun: "barrier",
        },
        LockKind::Thread => ResourceWords {
            held: " (running in that thread)",
            requested: " (a join)",
            waiting: "joining",
            holders: "that thread takes it before it ends",
            the_wait: "the join of",
            noun: "thread",
        },
        _ => return None,
    })
}
