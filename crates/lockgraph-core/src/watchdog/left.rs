//! Locks left held by threads that exited: a thread whose held-lock stack
//! still has a lock when it ends (its guard leaked with `mem::forget`, or
//! kept in a value never dropped) leaves it held for good, and no thread
//! the watchdog sees holds it any more. When a thread's slot goes (`Mine`'s
//! drop, at its exit), its remaining holds are noted here, the latest
//! [`KEPT`] of the process, so that a later wait for one of those locks
//! can name the thread, when it exited and where it took the lock. No
//! lock acquisition reads or writes this table: only a thread's exit (with
//! holds left) and the watchdog's reports.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use super::*;

/// How many holds of exited threads are kept (the latest).
const KEPT: usize = 64;

/// A lock left held by a thread that exited, in a report: the lock it
/// waits for has no holder the watchdog sees, and this thread had it on
/// its held-lock stack when it ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LeftHold {
    /// The thread's name.
    pub thread: String,
    /// Its OS thread id (0 where unknown).
    pub tid: u64,
    /// When its slot went (the thread's exit: it runs the thread-local
    /// destructors), wall clock.
    pub exited_at: SystemTime,
    /// Where it took the lock.
    pub site: Option<Site>,
}

impl LeftHold {
    /// `held by thread `t` (tid 7), which exited at <UTC> holding it
    /// (taken at src/a.rs:3:9)`: the line under the wait.
    pub(super) fn line(&self) -> String {
        format!(
            "held by thread `{}` (tid {}), which exited at {} holding it (taken at {})",
            self.thread,
            self.tid,
            utc(self.exited_at),
            opt_site(&self.site)
        )
    }
}

/// The latest holds left by exited threads: (lock id, who left it).
static LEFT: Mutex<VecDeque<(u64, LeftHold)>> = Mutex::new(VecDeque::new());

/// The table across `fork()` (see `fork.rs`): held by a thread that forks,
/// it would stay held in the child, whose watchdog reads it.
static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(LEFT.lock()),
    child: crate::fork::nothing,
};

/// `slot`'s thread exits with `held` still on its held-lock stack: notes
/// each hold (the oldest notes go past [`KEPT`]).
pub(super) fn remember(slot: &Slot, held: &[(HeldCopy, u64)]) {
    if held.is_empty() {
        return;
    }
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &FORK_HOOKS);
    let exited_at = SystemTime::now();
    let mut left = LEFT.lock();
    for (h, _) in held {
        if left.len() == KEPT {
            left.pop_front();
        }
        let hold = LeftHold {
            thread: slot.name.clone(),
            tid: slot.tid,
            exited_at,
            site: h.site.map(Site::from),
        };
        left.push_back((h.id, hold));
    }
}

/// Who left the lock `id` held when it exited (the latest one), if any.
fn left_by(id: u64) -> Option<LeftHold> {
    let left = LEFT.lock();
    left.iter()
        .rev()
        .find(|(l, _)| *l == id)
        .map(|(_, h)| h.clone())
}

/// For each thread of `threads` that waits for a lock no thread of `snaps`
/// (every thread the watchdog sees) holds: the exited thread that left it
/// held, where one did.
pub(super) fn add_left_holders(threads: &mut [ThreadInfo], snaps: &[Snap]) {
    for t in threads {
        let Some(w) = t.waiting.as_mut() else {
            continue;
        };
        let id = w.lock.id;
        if id == 0 || w.lock.resource || w.mode == Some(WaitMode::Condvar) {
            continue;
        }
        if snaps.iter().any(|s| s.held.iter().any(|h| h.id == id)) {
            continue;
        }
        w.left_by = left_by(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread that exits with a lock on its stack is named for that
    /// lock, the latest such thread first; a lock no exited thread kept
    /// has none.
    #[test]
    fn a_lock_left_held_names_the_thread_that_exited() {
        let slot = Slot::new("left-unit", 9);
        let copy = |id| HeldCopy {
            id,
            class: Class::Anonymous,
            kind: LockKind::Mutex,
            hold: Hold::Exclusive,
            upgradable: false,
            site: Some(Location::caller()),
            seen_before: false,
        };
        let (a, b) = (u64::MAX - 10, u64::MAX - 11);
        remember(&slot, &[(copy(a), 0)]);
        let later = Slot::new("left-later", 10);
        remember(&later, &[(copy(a), 0), (copy(b), 0)]);
        let got = left_by(a).expect("left");
        assert_eq!((got.thread.as_str(), got.tid), ("left-later", 10));
        assert!(got
            .line()
            .starts_with("held by thread `left-later` (tid 10), which exited at "));
        assert!(got
            .line()
            .contains(" holding it (taken at crates/lockgraph-core/src/watchdog/left.rs:"));
        assert!(left_by(u64::MAX - 12).is_none());
    }
}
