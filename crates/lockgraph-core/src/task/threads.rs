//! Threads as the task watchdog joins them with the thread watchdog's
//! slots: each thread's owner number (its async holds outside any task)
//! beside its slot key, and the owner (task or thread) of its last sync
//! lock request with the lock asked for, so that a thread blocked in a sync
//! lock is known to block the task that asked. Kept only while the
//! watchdog is on.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::sets::Owner;

struct Rec {
    /// The thread's key in the thread watchdog's slots.
    key: u64,
    /// The thread's owner number (`Owner::Thread`).
    thread_no: u64,
    /// `Owner::key` of the last sync request's owner (0: none yet).
    owner: AtomicU64,
    /// The lock it asked for (0 while `owner` is being written).
    lock: AtomicU64,
    alive: AtomicBool,
}

/// This thread's record; its drop (thread exit) marks it dead.
struct Mine(Option<Arc<Rec>>);

impl Drop for Mine {
    fn drop(&mut self) {
        if let Some(r) = &self.0 {
            r.alive.store(false, Ordering::Relaxed);
        }
    }
}

thread_local! {
    static MINE: RefCell<Mine> = const { RefCell::new(Mine(None)) };
}

static RECS: Mutex<Vec<Arc<Rec>>> = Mutex::new(Vec::new());

/// Runs `f` on this thread's record, made on first use (the watchdog is
/// on: the callers check).
fn with_rec(f: impl FnOnce(&Rec)) {
    let _ = MINE.try_with(|m| {
        let Ok(mut m) = m.try_borrow_mut() else {
            return;
        };
        if m.0.is_none() {
            let key = crate::watchdog::tasks::this_thread_key();
            if key == 0 {
                return;
            }
            let rec = Arc::new(Rec {
                key,
                thread_no: super::sets::thread_no(),
                owner: AtomicU64::new(0),
                lock: AtomicU64::new(0),
                alive: AtomicBool::new(true),
            });
            let mut all = RECS.lock();
            all.retain(|r| r.alive.load(Ordering::Relaxed));
            all.push(rec.clone());
            m.0 = Some(rec);
        }
        if let Some(r) = &m.0 {
            f(r);
        }
    });
}

/// This thread is about to request sync lock `lock` for `owner` (the task
/// running on it, or the thread): if it blocks there, it blocks `owner`.
pub(crate) fn sync_request(owner: Owner, lock: u64) {
    with_rec(|r| {
        r.lock.store(0, Ordering::Relaxed);
        r.owner.store(owner.key(), Ordering::Relaxed);
        r.lock.store(lock, Ordering::Release);
    });
}

/// Makes this thread's record (an async wait outside any task: the thread
/// may hold sync locks that others wait for).
pub(crate) fn register() {
    with_rec(|_| ());
}

/// A live thread's record, read.
pub(crate) struct ThreadRec {
    pub(crate) key: u64,
    pub(crate) thread_no: u64,
    /// The owner of its last sync request and the lock it asked for.
    pub(crate) last_request: Option<(Owner, u64)>,
}

/// Every live thread's record.
pub(crate) fn all() -> Vec<ThreadRec> {
    let recs: Vec<Arc<Rec>> = RECS
        .lock()
        .iter()
        .filter(|r| r.alive.load(Ordering::Relaxed))
        .cloned()
        .collect();
    recs.iter()
        .map(|r| {
            let l1 = r.lock.load(Ordering::Acquire);
            let o = r.owner.load(Ordering::Relaxed);
            let l2 = r.lock.load(Ordering::Acquire);
            ThreadRec {
                key: r.key,
                thread_no: r.thread_no,
                last_request: (l1 != 0 && l1 == l2 && o != 0).then(|| (Owner::from_key(o), l1)),
            }
        })
        .collect()
}
