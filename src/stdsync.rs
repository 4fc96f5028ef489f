//! `std::sync`-compatible locks (poisoning, `LockResult`) with the same
//! tracking, for code migrating from the standard library.
//!
//! Replace `use std::sync::{Mutex, RwLock, Condvar};` with
//! `use lockgraph::stdsync::{Mutex, RwLock, Condvar};`. A guard dropped while
//! its thread panics poisons the lock, as in std. `Condvar`'s timed waits
//! return this module's [`WaitTimeoutResult`] (std's cannot be built outside
//! std); it has the same `timed_out()`. std's `LockResult`, `PoisonError`,
//! `TryLockError` and `TryLockResult` are re-exported here.
//!
//! The rest of `std::sync` is not here: keep `Arc`, `OnceLock`,
//! `LazyLock` and the atomics from std (their initialisation waits are not
//! tracked). The tracked `Once`, `Barrier` and `mpsc` queues are at the
//! crate root ([`crate::Once`], [`crate::Barrier`], [`crate::mpsc`]), with
//! parking_lot's `Once` API and std's `Barrier` and `mpsc` APIs.
//!
//! `RwLock` has one method std's lacks, parking_lot's `read_recursive`
//! (a read that does not queue behind a waiting writer), which the report
//! of a thread reading a lock it already read-holds advises.
//!
//! Where they differ from std's: a `Condvar` used with two mutexes at
//! once panics (parking_lot's rule; std may panic too); a read guard is
//! invariant in `T` (std's is covariant); rustc's `let_underscore_lock`
//! and clippy's `await_holding_lock` lints, which know std's and
//! parking_lot's guards by name, do not fire on these; in a release
//! build without tracking they are thin wrappers over parking_lot's locks
//! with a poison flag, not std's types (a `Mutex<u64>` is 24 bytes, std's
//! 16).
//!
//! ```
//! use lockgraph::stdsync::Mutex;
//!
//! let m = Mutex::new(1);
//! *m.lock().unwrap() += 1;
//! assert_eq!(m.into_inner().unwrap(), 2);
//! ```

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// std's own result and error types, which these locks return: a
/// `use lockgraph::stdsync::{Mutex, PoisonError, ...}` swap compiles.
pub use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
use std::thread;
use std::time::Duration;

struct Poison(AtomicBool);

impl Poison {
    const fn new() -> Poison {
        Poison(AtomicBool::new(false))
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn result<G>(&self, guard: G) -> LockResult<G> {
        if self.get() {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }

    /// Poisons if the thread started panicking while the guard was held.
    fn done(&self, panicking_at_start: bool) {
        if !panicking_at_start && thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// `std::sync::Mutex`'s API over a tracked [`crate::Mutex`].
pub struct Mutex<T: ?Sized> {
    poison: Poison,
    inner: crate::Mutex<T>,
}

/// A guard of a [`stdsync::Mutex`](Mutex).
pub struct MutexGuard<'a, T: ?Sized> {
    poison: &'a Poison,
    panicking: bool,
    guard: crate::MutexGuard<'a, T>,
}

impl<T> Mutex<T> {
    /// A new mutex whose class is the caller's location.
    #[track_caller]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            poison: Poison::new(),
            inner: crate::Mutex::new(value),
        }
    }

    /// A new mutex whose class is `name`.
    pub const fn named(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            poison: Poison::new(),
            inner: crate::Mutex::named(name, value),
        }
    }

    /// Consumes the mutex; `Err` carries the data when it is poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let Mutex { poison, inner } = self;
        poison.result(inner.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    fn guard<'a>(&'a self, guard: crate::MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        MutexGuard {
            poison: &self.poison,
            panicking: thread::panicking(),
            guard,
        }
    }

    /// Acquires the mutex; `Err` (still holding it) when poisoned.
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let g = self.inner.lock();
        self.poison.result(self.guard(g))
    }

    /// Attempts to acquire the mutex without blocking.
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Some(g) => self
                .poison
                .result(self.guard(g))
                .map_err(TryLockError::from),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Whether a thread panicked while holding the lock.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state.
    pub fn clear_poison(&self) {
        self.poison.0.store(false, Ordering::Relaxed);
    }

    /// A mutable reference to the data; `Err` when poisoned.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.result(self.inner.get_mut())
    }
}

// As std's guards: poisoning is what makes a lock unwind-safe, so a guard
// (and a `PoisonError` holding one) may cross `catch_unwind`.
impl<T: ?Sized> UnwindSafe for MutexGuard<'_, T> {}
impl<T: ?Sized> RefUnwindSafe for MutexGuard<'_, T> {}
impl<T: ?Sized> UnwindSafe for RwLockReadGuard<'_, T> {}
impl<T: ?Sized> RefUnwindSafe for RwLockReadGuard<'_, T> {}
impl<T: ?Sized> UnwindSafe for RwLockWriteGuard<'_, T> {}
impl<T: ?Sized> RefUnwindSafe for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.poison.done(self.panicking);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// As std's: `Mutex { data: 0, poisoned: false, .. }`, the data
/// `"<locked>"` while another guard holds it.
impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.inner.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &"<locked>"),
        };
        d.field("poisoned", &self.poison.get())
            .finish_non_exhaustive()
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

// As std's: a panic while a guard is held poisons the lock, which is what
// makes the lock safe to use across `catch_unwind`.
impl<T: ?Sized> std::panic::UnwindSafe for Mutex<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for Mutex<T> {}

/// `std::sync::RwLock`'s API over a tracked [`crate::RwLock`].
pub struct RwLock<T: ?Sized> {
    poison: Poison,
    inner: crate::RwLock<T>,
}

/// Read access to a [`stdsync::RwLock`](RwLock).
pub struct RwLockReadGuard<'a, T: ?Sized> {
    guard: crate::RwLockReadGuard<'a, T>,
}

/// Write access to a [`stdsync::RwLock`](RwLock); poisons on panic.
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    poison: &'a Poison,
    panicking: bool,
    guard: crate::RwLockWriteGuard<'a, T>,
}

impl<T> RwLock<T> {
    /// A new lock whose class is the caller's location.
    #[track_caller]
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            poison: Poison::new(),
            inner: crate::RwLock::new(value),
        }
    }

    /// A new lock whose class is `name`.
    pub const fn named(name: &'static str, value: T) -> RwLock<T> {
        RwLock {
            poison: Poison::new(),
            inner: crate::RwLock::named(name, value),
        }
    }

    /// Consumes the lock; `Err` carries the data when it is poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let RwLock { poison, inner } = self;
        poison.result(inner.into_inner())
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading. Like std's, this read can wait for a queued writer.
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let guard = self.inner.read();
        self.poison.result(RwLockReadGuard { guard })
    }

    /// Locks for reading without queueing behind a waiting writer: a read
    /// the thread takes while it already read-holds the lock (which `read`
    /// may deadlock on, a writer queued between the two) can take it this
    /// way. Not in std: parking_lot's `read_recursive`, which the
    /// self-deadlock report of a second `read` advises.
    #[track_caller]
    pub fn read_recursive(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let guard = self.inner.read_recursive();
        self.poison.result(RwLockReadGuard { guard })
    }

    /// Attempts to lock for reading without blocking.
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        match self.inner.try_read() {
            Some(guard) => self
                .poison
                .result(RwLockReadGuard { guard })
                .map_err(TryLockError::from),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Locks for writing.
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let guard = self.inner.write();
        self.poison.result(self.write_guard(guard))
    }

    /// Attempts to lock for writing without blocking.
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        match self.inner.try_write() {
            Some(g) => self
                .poison
                .result(self.write_guard(g))
                .map_err(TryLockError::from),
            None => Err(TryLockError::WouldBlock),
        }
    }

    fn write_guard<'a>(&'a self, guard: crate::RwLockWriteGuard<'a, T>) -> RwLockWriteGuard<'a, T> {
        RwLockWriteGuard {
            poison: &self.poison,
            panicking: thread::panicking(),
            guard,
        }
    }

    /// Whether a writer panicked while holding the lock.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state.
    pub fn clear_poison(&self) {
        self.poison.0.store(false, Ordering::Relaxed);
    }

    /// A mutable reference to the data; `Err` when poisoned.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.result(self.inner.get_mut())
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.poison.done(self.panicking);
    }
}

/// As std's: `RwLock { data: 1, poisoned: false, .. }`, the data
/// `<locked>` while a writer holds it.
impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.inner.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get())
            .finish_non_exhaustive()
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

// As for `Mutex`: poisoning makes it unwind safe, as std's.
impl<T: ?Sized> std::panic::UnwindSafe for RwLock<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for RwLock<T> {}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write guard into a read guard without letting a writer in
    /// between (std's `RwLockWriteGuard::downgrade`). A panic before it
    /// poisons the lock, as the guard's drop would.
    #[track_caller]
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let s = std::mem::ManuallyDrop::new(s);
        s.poison.done(s.panicking);
        // SAFETY: `s` is never used or dropped again (`ManuallyDrop`), so
        // its guard is moved out exactly once; `poison` and `panicking`
        // are a reference and a bool, which need no drop.
        let guard = unsafe { std::ptr::read(&s.guard) };
        RwLockReadGuard {
            guard: crate::RwLockWriteGuard::downgrade(guard),
        }
    }
}

/// Whether a timed wait returned because the time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the wait timed out.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// `std::sync::Condvar`'s API over a tracked [`crate::Condvar`].
pub struct Condvar(crate::Condvar);

impl Condvar {
    /// A new condition variable whose class is the caller's location.
    #[track_caller]
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Condvar {
        Condvar(crate::Condvar::new())
    }

    /// Blocks until notified; `Err` when the mutex was poisoned meanwhile.
    #[track_caller]
    pub fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.0.wait(&mut guard.guard);
        let poison = guard.poison;
        poison.result(guard)
    }

    /// Blocks while `condition` returns true. As std's: `Err` only when a
    /// wait re-locks a poisoned mutex (a condition already false returns
    /// `Ok` on a poisoned one; found by an outside test).
    #[track_caller]
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Blocks until notified or `dur` elapses.
    #[track_caller]
    pub fn wait_timeout<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let r = self.0.wait_for(&mut guard.guard, dur);
        let poison = guard.poison;
        poison.result((guard, WaitTimeoutResult(r.timed_out())))
    }

    /// Blocks while `condition` returns true, for `dur` at most.
    #[track_caller]
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        // std's loop: `Err` only from a wait that re-locks a poisoned mutex.
        let start = std::time::Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let Some(left) = dur.checked_sub(start.elapsed()) else {
                return Ok((guard, WaitTimeoutResult(true)));
            };
            guard = self.wait_timeout(guard, left)?.0;
        }
    }

    /// std's deprecated timed wait in milliseconds: `true` when it timed
    /// out.
    #[track_caller]
    #[deprecated(note = "replaced by `Condvar::wait_timeout`, as in std")]
    pub fn wait_timeout_ms<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        ms: u32,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        match self.wait_timeout(guard, Duration::from_millis(u64::from(ms))) {
            Ok((g, r)) => Ok((g, r.timed_out())),
            Err(e) => {
                let (g, r) = e.into_inner();
                Err(PoisonError::new((g, r.timed_out())))
            }
        }
    }

    /// Wakes one waiter.
    #[track_caller]
    pub fn notify_one(&self) {
        self.0.notify_one();
    }

    /// Wakes every waiter.
    #[track_caller]
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

impl Default for Condvar {
    #[track_caller]
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Condvar { .. }")
    }
}
