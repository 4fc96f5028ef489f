//! What a wait waits for, in words: one wording for both watchdogs (the
//! thread watchdog's wait lines and headlines, the task watchdog's), so
//! that a send reads `space in Queue `jobs` (a send into the full queue)`
//! in either, with the resource's size where it is known.

use super::*;

/// What a wait in `mode` for `lock` waits for: `Mutex `m``, `upgrade of
/// RwLock `r``, `notification on Condvar `cv``, `space in Queue `q` (a send
/// into the full queue)`, `a permit of Semaphore `s``, `blocking call
/// `recv`` (`mode` `None`: a resource, or a mode not known).
pub(crate) fn waits_for(lock: &LockRef, mode: Option<WaitMode>) -> String {
    match mode {
        Some(WaitMode::Upgrade) => format!("upgrade of {lock}"),
        Some(WaitMode::Condvar) => format!("notification on {lock}"),
        Some(WaitMode::Send) => format!("space in {lock} (a send into the full queue)"),
        Some(WaitMode::Recv) => format!("an item from {lock} (a receive on the empty queue)"),
        Some(WaitMode::Permit) => format!("a permit of {lock}"),
        // A CUDA synchronize, named by what the model knows of it.
        Some(WaitMode::Join) if lock.kind == LockKind::Stream => match lock.name {
            Some(what) => what.to_string(),
            None => format!("the work of {lock} to finish (a synchronize)"),
        },
        Some(WaitMode::Join) => format!("{lock} to finish (a join)"),
        Some(WaitMode::Barrier) => format!("the other parties of {lock}"),
        _ => lock.to_string(),
    }
}

/// [`waits_for`] with the size of the resource waited for, where it is
/// known (`size_words`): `a permit of Semaphore `gpu` (2 permits)`, `the
/// other parties of Barrier `b` (4 parties; 3 waiting now)`.
pub(crate) fn waits_for_sized(
    lock: &LockRef,
    mode: Option<WaitMode>,
    capacity: Option<usize>,
    waiting_now: Option<usize>,
) -> String {
    let words = waits_for(lock, mode);
    match size_words(mode, capacity, waiting_now) {
        Some(size) => format!("{words} ({size})"),
        None => words,
    }
}
