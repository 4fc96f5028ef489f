//! The sizes of resources served by other threads (a barrier's party
//! count, a semaphore's permits), by resource id, for the watchdog's
//! reports (`docs/pipelines.md`, "Real hangs"): a side table that a
//! [`Resource`](crate::resource::Resource) fills when an operation on it is
//! about to block (a cold path), that its drop empties, and that the
//! watchdog reads when it builds a report. No lock acquisition, and no
//! uncontended operation of a primitive, reads or writes it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::fork::Mutex;

/// Each resource's size, by id, for the resources that published one.
static SIZES: Mutex<BTreeMap<u64, usize>> = Mutex::new(BTreeMap::new());

/// Publishes `size` as resource `id`'s, and sets `mark` (the resource's
/// own word: its published size plus one) under the table's lock, so that
/// two threads publishing different sizes leave the word and the table
/// saying the same.
pub(crate) fn publish(id: u64, size: usize, mark: &AtomicUsize) {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &FORK_HOOKS);
    let mut all = SIZES.lock();
    all.insert(id, size);
    mark.store(size.wrapping_add(1), Ordering::Relaxed);
}

/// The table across `fork()` (see `fork.rs`): a thread publishing or
/// forgetting a size when another forks would otherwise leave it held in
/// the child, whose watchdog reads it. The child keeps every size (its
/// resources are copies of the parent's).
static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(SIZES.lock()),
    child: crate::fork::nothing,
};

/// Resource `id` is gone: its size with it.
pub(crate) fn forget(id: u64) {
    SIZES.lock().remove(&id);
}

/// The size resource `id` published, if it did and is alive.
pub(crate) fn get(id: u64) -> Option<usize> {
    SIZES.lock().get(&id).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_is_kept_until_its_resource_forgets_it() {
        let mark = AtomicUsize::new(0);
        let id = u64::MAX - 7;
        assert_eq!(get(id), None);
        publish(id, 4, &mark);
        assert_eq!((get(id), mark.load(Ordering::Relaxed)), (Some(4), 5));
        publish(id, 6, &mark);
        assert_eq!((get(id), mark.load(Ordering::Relaxed)), (Some(6), 7));
        forget(id);
        assert_eq!(get(id), None);
    }
}
