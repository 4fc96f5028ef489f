//! The watchdog across `fork()` (see `crate::fork`).

use std::sync::atomic::Ordering;

use super::rate_limit::{RateLimit, RATE};
#[cfg(target_os = "linux")]
use super::remote_stack;
use super::{IN_FORK_CHILD, MINE, RUNNING, SLOTS, STARTING};

/// The watchdog's locks across `fork()`: the remote-stack requests, the
/// rate limit and the slot table. In the child, the other threads' slots
/// are dropped (their threads did not follow), the forking thread
/// publishes its held locks in a new slot (the old one's stack lock may
/// have been held by the parent's watchdog thread), the rate limit starts
/// over (the parent says what it held back), and the child's next wait,
/// or a thread of the child that takes its first lock, starts a watchdog
/// thread for the child (not this hook: it runs inside `fork()`).
pub(super) static HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: fork_lock,
    child: fork_child,
};

fn fork_lock() {
    crate::fork::hold(STARTING.lock());
    #[cfg(target_os = "linux")]
    remote_stack::fork_lock();
    crate::fork::hold(RATE.lock());
    crate::fork::hold(SLOTS.lock());
}

fn fork_child() {
    IN_FORK_CHILD.store(true, Ordering::Relaxed);
    {
        let mut slots = SLOTS.lock();
        for s in slots.iter() {
            s.alive.store(false, Ordering::Relaxed);
        }
        slots.clear();
    }
    // The held-lock state's pointer to the old slot goes before the slot.
    let owner = super::OWNER.get();
    if let Some(o) = owner {
        (o.forget_slot)();
    }
    let old = MINE
        .try_with(|m| m.try_borrow_mut().ok().and_then(|mut m| m.0.take()))
        .ok()
        .flatten();
    let had_slot = old.is_some();
    drop(old);
    *RATE.lock() = RateLimit::new();
    #[cfg(target_os = "linux")]
    remote_stack::fork_child();
    // The thread did not follow: the switch stays on, and the child's
    // next wait (or new thread) starts one.
    RUNNING.store(false, Ordering::Relaxed);
    if had_slot {
        if let Some(o) = owner {
            (o.republish)();
        }
    }
    IN_FORK_CHILD.store(false, Ordering::Relaxed);
}
