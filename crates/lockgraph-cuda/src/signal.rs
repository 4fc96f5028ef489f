//! [`Signal`]: a flag host functions and threads wait on and set, as a node
//! of the model (who waits on it, who will set it).

use crate::model;

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

    /// The model's id of the signal.
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    /// Says that this thread will set the signal (after whatever it waits for
    /// next): the model then knows who a waiter depends on.
    pub fn will_set(&self) -> Producer<'_> {
        Producer {
            signal: self,
            key: model::will_produce(self.id),
        }
    }

    /// Sets the signal and wakes its waiters. Inside a host function, the
    /// model learns that host functions enqueued at its site (on streams of
    /// its stream's name) set signals of this name.
    pub fn set(&self) {
        let mut g = self.state.lock();
        // The model first: a check that sees the signal unset runs before
        // any waiter can see it set.
        model::signal_set(self.id, !*g);
        *g = true;
        drop(g);
        self.cv.notify_all();
    }

    /// Waits until set, at most `timeout`; true when set. The wait is
    /// checked against the model before it blocks, inside a host function
    /// (its node's wait) or on a thread (the locks it holds against the
    /// signal's pending setters). The watchdog names the wait (and the host
    /// function it is in, or the setter); a thread's wait on a signal that
    /// a pending host function declares it sets (`HostFn::feeds`) is a wait
    /// for the context's host-function executor, as a synchronize's is.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        self.waiting(Some(deadline), || {
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
        self.waiting(None, || {
            let mut g = self.state.lock();
            while !*g {
                self.cv.wait(&mut g);
            }
        })
    }

    /// Runs `f`, the wait (until `deadline`, where it has one), checked by
    /// the model first and registered with the watchdog.
    #[track_caller]
    fn waiting<R>(&self, deadline: Option<std::time::Instant>, f: impl FnOnce() -> R) -> R {
        let site = std::panic::Location::caller();
        let wait = model::signal_waits(self.id, site);
        let r = match wait.executor {
            Some(executor) => {
                lockgraph_core::primitive::wait_for_holders(executor, wait.what, site, deadline, f)
            }
            None => lockgraph::blocking(wait.what, f),
        };
        drop(wait.guard);
        r
    }
}
