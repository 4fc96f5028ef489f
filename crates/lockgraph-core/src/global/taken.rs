//! A read-only query of the class graph: which locks were requested while a
//! given lock was held. `lockgraph-cuda` holds a pseudo-lock per host-function
//! enqueue site while such a host function runs, and asks this to learn the
//! locks those host functions take.

use super::GLOBAL;
use crate::class::Class;
use crate::meta::LockMeta;
use crate::report::LockInfo;

/// The locks recorded in the lock-order graph as requested (a blocking or
/// timed acquisition, a condvar wait) while `held` was held, by any thread,
/// one entry per lock class. An anonymous class is one lock: its entry names
/// the instance. Read-only: it takes the graph lock once, records nothing.
///
/// ```
/// use lockgraph_core::{taken_while_holding, Class, Hold, LockKind, LockMeta, Request};
///
/// let outer = LockMeta::new(LockKind::Mutex, Class::Named("taken-doc-outer"));
/// let inner = LockMeta::new(LockKind::Mutex, Class::Named("taken-doc-inner"));
/// outer.acquired(Hold::Exclusive, None);
/// inner.before_wait(Request::Exclusive, None);
/// inner.acquired(Hold::Exclusive, None);
/// inner.released();
/// outer.released();
/// let taken = taken_while_holding(&outer);
/// if lockgraph_core::TRACKING {
///     assert_eq!(taken.len(), 1);
///     assert_eq!(taken[0].name, Some("taken-doc-inner"));
/// }
/// ```
pub fn taken_while_holding(held: &LockMeta) -> Vec<LockInfo> {
    let g = GLOBAL.lock();
    let Some(&from) = g.class_index.get(&held.class().key(held.id())) else {
        return Vec::new();
    };
    g.classes
        .successors(from)
        .filter_map(|(to, edge)| {
            let info = g.classes.node(to)?;
            let instance = match info.class {
                Class::Anonymous => edge.meta.pairs().first().map(|&(_, b)| b),
                _ => None,
            };
            Some(LockInfo::of_class(info.kind, info.class, instance))
        })
        .collect()
}
