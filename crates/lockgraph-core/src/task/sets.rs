//! The registry of held sets: one per owner (task or thread), sharded, and
//! a one-entry thread-local cache in front of it.
//!
//! Its files: [`owner`] (who holds: the current task, else the thread),
//! [`held_set`] (one owner's holds, in lock-free slots), [`registry`] (the
//! sets by owner, the cache, and the sweep of sets nobody uses) and
//! [`scan`] (every owner's holds, read from another thread).

mod held_set;
mod owner;
mod registry;
mod scan;
#[cfg(test)]
mod tests;

pub(crate) use held_set::{profile_epoch, HeldSet, SLOTS};
pub(crate) use owner::thread_no;
pub use owner::{current_owner, set_current_task, Owner};
pub(crate) use registry::{push, push_if, surely_empty, with_set, ASYNC_USED};
pub(crate) use scan::{all_holds, lock_text, PubHold};
