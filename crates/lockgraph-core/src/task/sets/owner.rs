//! Who holds an async lock ([`Owner`]): the task running on this thread,
//! named by the function the facade registers ([`set_current_task`]), or,
//! outside any task, the thread, by a number given on first use.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Who holds an async lock: a task (by id) or, outside any task, a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A task of the async runtime, by its id.
    Task(u64),
    /// A thread outside any task, by a number lockgraph gives it.
    Thread(u64),
}

impl Owner {
    /// One word: task ids as they are, thread numbers with the top bit.
    pub(crate) fn key(self) -> u64 {
        match self {
            Owner::Task(id) => id & !THREAD_BIT,
            Owner::Thread(n) => n | THREAD_BIT,
        }
    }

    /// The owner of [`key`](Self::key) `k`.
    pub(crate) fn from_key(k: u64) -> Owner {
        if k & THREAD_BIT != 0 {
            Owner::Thread(k & !THREAD_BIT)
        } else {
            Owner::Task(k)
        }
    }
}

const THREAD_BIT: u64 = 1 << 63;

/// The function that says which task runs on this thread (the facade
/// registers tokio's `task::try_id`): a `fn() -> Option<u64>` as a pointer.
static CURRENT_TASK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Registers `f`, which names the task running on the calling thread
/// (`None` outside a task). Cheap to call again with the same function.
pub fn set_current_task(f: fn() -> Option<u64>) {
    let p = f as *mut ();
    if CURRENT_TASK.load(Ordering::Relaxed) != p {
        CURRENT_TASK.store(p, Ordering::Release);
    }
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

crate::sync::thread_local_const! {
    static THREAD_NO: Cell<u64> = const { Cell::new(0) };
}

/// The owner of a lock taken now on this thread.
#[inline]
pub fn current_owner() -> Owner {
    let p = CURRENT_TASK.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: only `set_current_task` stores into `CURRENT_TASK`, and
        // it stores a `fn() -> Option<u64>` cast to a pointer.
        let f: fn() -> Option<u64> =
            unsafe { std::mem::transmute::<*mut (), fn() -> Option<u64>>(p) };
        if let Some(id) = f() {
            return Owner::Task(id);
        }
    }
    Owner::Thread(thread_no())
}

/// This thread's owner number (`Owner::Thread`), given on first use.
pub(crate) fn thread_no() -> u64 {
    THREAD_NO
        .try_with(|n| {
            if n.get() == 0 {
                n.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
            }
            n.get()
        })
        .unwrap_or(0)
}
