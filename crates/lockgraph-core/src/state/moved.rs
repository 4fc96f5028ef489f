//! Guards released on another thread (the `send_guard` feature).
//!
//! A thread's held-lock stack is its own (plain `Cell`s): another thread
//! cannot pop it. When a thread releases a lock its stack does not hold, the
//! guard was taken elsewhere and sent here, so the release is *posted*: the
//! lock id with a sequence number. The thread that took the lock applies
//! the post the next time it reads its stack for something that matters
//! (recording edges, [`crate::held_locks`]): it removes its slot of that
//! lock, so it never records an edge from a lock it no longer holds.
//!
//! Which slot: every push is stamped with the sequence number current at
//! the time, and a post removes a slot of its lock stamped *before* it. A
//! thread that takes the lock after the release (it can only do so after
//! the raw unlock, which comes after the post) stamps its slot with a later
//! number, so its own hold is never taken for the stale one. An exclusive
//! hold has one holder, so the right thread's slot is removed. A read hold
//! can have several: when a read guard moves while other threads also
//! read-hold the lock since before, the first of those threads to apply the
//! post loses its slot instead of the sender (it then misses edges until it
//! releases its own guard, whose release is posted in turn and removes the
//! sender's stale slot).
//!
//! Posts nobody claims (the taking thread exited, or its hold was not
//! tracked) are kept up to [`MAX_POSTS`], oldest dropped first.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Unclaimed posts kept at most.
const MAX_POSTS: usize = 4096;

/// The sequence number: pushes read it, posts advance it.
static SEQ: AtomicU64 = AtomicU64::new(1);
/// How many posts wait to be claimed (checked without the lock).
static PENDING: AtomicUsize = AtomicUsize::new(0);
/// (lock id, sequence number of the post).
static POSTS: Mutex<VecDeque<(u64, u64)>> = Mutex::new(VecDeque::new());

/// The stamp of a push made now.
#[inline(always)]
pub(super) fn stamp() -> u64 {
    SEQ.load(Ordering::Relaxed)
}

/// Posts the release of lock `id` by a thread that does not hold it.
pub(super) fn post(id: u64) {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) + 1;
    let mut posts = POSTS.lock();
    if posts.len() == MAX_POSTS {
        posts.pop_front();
    }
    posts.push_back((id, seq));
    PENDING.store(posts.len(), Ordering::Relaxed);
}

/// Claims the posts this thread's stack answers: `find(id, seq)` gives the
/// slot of lock `id` stamped before `seq`, and `remove` removes it.
#[inline]
pub(super) fn claim(find: impl Fn(u64, u64) -> Option<usize>, remove: impl Fn(usize)) {
    if PENDING.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut posts = POSTS.lock();
    posts.retain(|&(id, seq)| match find(id, seq) {
        Some(i) => {
            remove(i);
            false
        }
        None => true,
    });
    PENDING.store(posts.len(), Ordering::Relaxed);
}
