//! `fork()` and lockgraph's own locks.
//!
//! `fork()` copies only the calling thread. A lock of lockgraph's (the graph
//! lock, the report queue, the watchdog's tables) that another thread held
//! at that moment would stay held in the child forever, and the child's
//! first lock operation that needs it would hang. Each module that owns
//! such locks registers [`Hooks`] here, and they run around every `fork()`
//! (`pthread_atfork`): `prepare` takes the module's locks and hands the
//! guards to [`hold`] (so no other thread is inside them, and what they
//! protect is consistent); after the fork, in both processes, the guards
//! are dropped; then, in the child, `child` forgets what belongs to threads
//! that did not follow (the watchdog's and the reporter's).
//!
//! These locks are [`Mutex`]es: std's, whose waiters the kernel keeps. A
//! parking_lot lock keeps its waiters in a queue in the process's memory,
//! which the child inherits with entries for threads it does not have: an
//! unlock there can hand the lock to one of them, and the lock stays held.
//!
//! `prepare` hooks run in the reverse order of registration, `child` hooks
//! in that order, as `pthread_atfork` runs its handlers; only the modules
//! whose `prepare` ran are released after it. A module's locks are never
//! held while another module's are taken, so the order cannot deadlock.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// A lock of lockgraph's own: std's mutex, poisoning ignored (a panic under
/// it leaves lockgraph's data usable). See the module docs for why not
/// parking_lot's.
pub struct Mutex<T>(std::sync::Mutex<T>);

/// A guard of a [`Mutex`] (std's, so std's `Condvar` can wait with it).
pub type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// A new, unlocked mutex of `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }

    /// Takes the lock, poisoning ignored.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock, unless another thread keeps it longer than `limit`.
    pub(crate) fn lock_within(&self, limit: Duration) -> Option<MutexGuard<'_, T>> {
        let end = Instant::now() + limit;
        loop {
            match self.0.try_lock() {
                Ok(g) => return Some(g),
                Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(std::sync::TryLockError::WouldBlock) => return None,
            }
        }
    }
}

/// Waits on `cv` with `guard`, poisoning ignored.
pub(crate) fn wait<'a, T>(cv: &std::sync::Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cv` with `guard` until `end` at the latest; poisoning ignored.
pub(crate) fn wait_until<'a, T>(
    cv: &std::sync::Condvar,
    guard: MutexGuard<'a, T>,
    end: Instant,
) -> MutexGuard<'a, T> {
    let left = end.saturating_duration_since(Instant::now());
    match cv.wait_timeout(guard, left) {
        Ok((g, _)) => g,
        Err(p) => p.into_inner().0,
    }
}

/// What a module does around `fork()`. Each hook runs on the thread that
/// calls `fork()`; `child` runs in the child process, where that thread is
/// the only one.
pub struct Hooks {
    /// Before the fork: take the module's locks, giving each guard to
    /// [`hold`]. No other lock may be taken.
    pub prepare: fn(),
    /// After the fork, in the child, once the guards are dropped: forget
    /// the threads that did not follow.
    pub child: fn(),
}

/// A [`Hooks::child`] with nothing to forget.
pub(crate) fn nothing() {}

thread_local! {
    /// The guards taken by `prepare` hooks, until the fork is over.
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `guard` (a guard of a static [`Mutex`]) until the fork is over.
pub fn hold<G: 'static>(guard: G) {
    let mut guard = Some(guard);
    let _ = HELD.try_with(|h| h.borrow_mut().push(Box::new(guard.take())));
    // No thread-local left (the thread is exiting): keep the lock for good
    // rather than fork with it free.
    std::mem::forget(guard);
}

/// Drops the held guards, the last taken first.
fn release() {
    let held = HELD
        .try_with(|h| std::mem::take(&mut *h.borrow_mut()))
        .unwrap_or_default();
    for g in held.into_iter().rev() {
        drop(g);
    }
}

/// Room for every module that registers (checked by a debug assertion).
const MAX_MODULES: usize = 32;

static TABLE: [AtomicPtr<Hooks>; MAX_MODULES] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_MODULES];
static LEN: AtomicUsize = AtomicUsize::new(0);
/// The modules whose `prepare` ran for the fork in progress (a bit each).
static PREPARED: AtomicU32 = AtomicU32::new(0);

/// Registers `hooks`, once per `flag` (a module's own flag). A module
/// registers before it first takes its locks.
pub fn register(flag: &AtomicBool, hooks: &'static Hooks) {
    if flag.load(Ordering::Acquire) || flag.swap(true, Ordering::AcqRel) {
        return;
    }
    let i = LEN.fetch_add(1, Ordering::AcqRel);
    debug_assert!(i < MAX_MODULES, "more fork hooks than MAX_MODULES");
    if let Some(slot) = TABLE.get(i) {
        slot.store(hooks as *const Hooks as *mut Hooks, Ordering::Release);
    }
    install();
}

fn hooks(i: usize) -> Option<&'static Hooks> {
    let p = TABLE[i].load(Ordering::Acquire);
    // SAFETY: a non-null pointer was stored from a `&'static Hooks`.
    (!p.is_null()).then(|| unsafe { &*p })
}

fn registered() -> usize {
    LEN.load(Ordering::Acquire).min(MAX_MODULES)
}

extern "C" fn prepare() {
    let mut prepared = 0;
    for i in (0..registered()).rev() {
        if let Some(h) = hooks(i) {
            (h.prepare)();
            prepared |= 1 << i;
        }
    }
    PREPARED.store(prepared, Ordering::Relaxed);
}

extern "C" fn parent() {
    PREPARED.store(0, Ordering::Relaxed);
    release();
}

extern "C" fn child() {
    let prepared = PREPARED.swap(0, Ordering::Relaxed);
    release();
    for i in 0..registered() {
        if prepared & (1 << i) != 0 {
            if let Some(h) = hooks(i) {
                (h.child)();
            }
        }
    }
}

#[cfg(unix)]
fn install() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the three handlers are `extern "C"` functions without
    // arguments that live as long as the program; they only run the
    // registered modules' hooks (an unwinding panic in them aborts).
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if rc != 0 {
        crate::stderr::line(&format!(
            "lockgraph: pthread_atfork failed ({rc}): a process forked while other threads \
             use lockgraph may hang in the child"
        ));
    }
}

#[cfg(not(unix))]
fn install() {
    // No fork() here: the hooks never run.
    let _ = (prepare, parent, child);
}
