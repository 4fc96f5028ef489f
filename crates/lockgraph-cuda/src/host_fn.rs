//! [`HostFn`]: a host function with what it needs (locks, signals),
//! declared when it is enqueued.

use crate::model;
use crate::signal::Signal;

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
        self.needs.waits.push(s.id());
        self
    }

    /// The host function sets `s`.
    pub fn feeds(mut self, s: &Signal) -> Self {
        self.needs.feeds.push(s.id());
        self
    }
}

/// The model's view of `m`, when lockgraph tracks it (the facade says: its
/// `track-in-release` feature may be on without this crate's).
fn lock_ref<T: ?Sized>(m: &lockgraph::Mutex<T>) -> Option<model::ModelLock> {
    let meta = lockgraph::__private::mutex_meta(m)?;
    let class = meta.class();
    Some(model::ModelLock {
        id: meta.id(),
        kind: meta.kind(),
        name: match class {
            lockgraph_core::Class::Named(n) => Some(n),
            _ => None,
        },
        created: class.site(),
    })
}
