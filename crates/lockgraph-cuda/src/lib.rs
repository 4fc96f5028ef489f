//! Deadlocks through CUDA stream host functions, and races between streams
//! and the host, for [lockgraph](https://docs.rs/lockgraph).
//!
//! Streams, events, the host-function executor of a context and signals are
//! nodes of one wait-for graph with the locks (see `docs/cuda.md`). Every call
//! that adds an edge (enqueueing a host function, a stream waiting on an
//! event, a synchronize, a host function waiting on a [`Signal`]) looks for a
//! cycle *before* anything blocks, and reports it as a
//! [`lockgraph_core::CycleReport`] of kind `DeviceCycle { certain }` through
//! the core's [`capture`](lockgraph_core::capture) and policy.
//!
//! Two back ends share the API: [`sim`] (host threads run each stream's queue;
//! no GPU needed) and, with the `cudarc` feature, `gpu` (cudarc 0.19).
//! The [`race`] module is the stream/host race sanitizer.

use std::fmt;

mod model;
pub mod race;
pub mod sim;

#[cfg(feature = "cudarc")]
pub mod gpu;

pub use race::{Buffer, RaceReport};

/// What a host function needs: declared when it is enqueued, because the
/// check happens before it runs. Signal waits inside a running host function
/// are also attributed automatically.
pub struct HostFn<F> {
    pub(crate) f: F,
    pub(crate) needs: model::Needs,
}

impl<F: FnOnce() + Send + 'static> HostFn<F> {
    /// A host function running `f`.
    pub fn new(f: F) -> HostFn<F> {
        HostFn {
            f,
            needs: model::Needs::default(),
        }
    }

    /// The host function locks `m`.
    pub fn locks<T: ?Sized>(mut self, m: &lockgraph::Mutex<T>) -> Self {
        if let Some(r) = lock_ref(m) {
            self.needs.locks.push(r);
        }
        self
    }

    /// The host function waits on `s`.
    pub fn waits(mut self, s: &Signal) -> Self {
        self.needs.waits.push(s.id);
        self
    }

    /// The host function sets `s`.
    pub fn feeds(mut self, s: &Signal) -> Self {
        self.needs.feeds.push(s.id);
        self
    }
}

#[cfg(any(debug_assertions, feature = "track-in-release"))]
fn lock_ref<T: ?Sized>(m: &lockgraph::Mutex<T>) -> Option<model::LockRef> {
    // SAFETY: the raw lock is only used to read its tracking metadata; it is
    // never locked or unlocked through this reference.
    let meta = unsafe { m.raw() }.meta();
    let class = meta.class();
    Some(model::LockRef {
        id: meta.id(),
        kind: meta.kind(),
        name: match class {
            lockgraph_core::Class::Named(n) => Some(n),
            _ => None,
        },
        created: class.site(),
    })
}

#[cfg(not(any(debug_assertions, feature = "track-in-release")))]
fn lock_ref<T: ?Sized>(_m: &lockgraph::Mutex<T>) -> Option<model::LockRef> {
    None
}

/// A flag that host functions and threads wait on and set (the model of a
/// channel, condition or flag).
pub struct Signal {
    id: usize,
    name: &'static str,
    state: parking_lot::Mutex<bool>,
    cv: parking_lot::Condvar,
}

/// A thread's promise to set a [`Signal`]; the promise ends when dropped.
pub struct Producer<'a> {
    signal: &'a Signal,
    key: u64,
}

impl Drop for Producer<'_> {
    fn drop(&mut self) {
        model::produced(self.signal.id, self.key);
    }
}

impl Signal {
    /// A new unset signal.
    pub fn named(name: &'static str) -> Signal {
        Signal {
            id: model::new_signal(name),
            name,
            state: parking_lot::Mutex::new(false),
            cv: parking_lot::Condvar::new(),
        }
    }

    /// The signal's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Says that this thread will set the signal (after whatever it waits for
    /// next): the model then knows who a waiter depends on.
    pub fn will_set(&self) -> Producer<'_> {
        Producer {
            signal: self,
            key: model::will_produce(self.id),
        }
    }

    /// Sets the signal and wakes its waiters.
    pub fn set(&self) {
        *self.state.lock() = true;
        self.cv.notify_all();
    }

    /// Waits until set, at most `timeout`; true when set. Inside a host
    /// function the wait is checked against the model before it blocks. The
    /// wait is a [`lockgraph::blocking`] call: the watchdog names it (and the
    /// host function it is in).
    #[track_caller]
    pub fn wait_timeout(&self, timeout: std::time::Duration) -> bool {
        let what = model::host_fn_waits(self.id);
        let deadline = std::time::Instant::now() + timeout;
        lockgraph::blocking(what, || {
            let mut g = self.state.lock();
            while !*g {
                if self.cv.wait_until(&mut g, deadline).timed_out() {
                    return *g;
                }
            }
            true
        })
    }

    /// Waits until set (checked and named like
    /// [`wait_timeout`](Self::wait_timeout)).
    #[track_caller]
    pub fn wait(&self) {
        let what = model::host_fn_waits(self.id);
        lockgraph::blocking(what, || {
            let mut g = self.state.lock();
            while !*g {
                self.cv.wait(&mut g);
            }
        })
    }
}

/// Errors of both back ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No CUDA driver library could be loaded.
    NoDriver,
    /// A driver call failed (the raw `CUresult`, as Debug text; formatting
    /// cudarc's error itself would call into the driver).
    Driver(String),
    /// A host function called a CUDA API (reported as a certain deadlock).
    CudaCallInHostFn(&'static str),
    /// A timed wait ran out.
    Timeout,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoDriver => write!(
                f,
                "no CUDA driver: libcuda could not be loaded (use the simulated back end)"
            ),
            Error::Driver(e) => write!(f, "CUDA driver error {e}"),
            Error::CudaCallInHostFn(c) => {
                write!(f, "`{c}` called inside a host function: it would deadlock")
            }
            Error::Timeout => write!(f, "timed out"),
        }
    }
}

impl std::error::Error for Error {}
