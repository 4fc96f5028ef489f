//! crossbeam-channel itself (release builds without tracking), with the
//! named constructors of the tracked module.

pub use crossbeam_channel::{
    bounded, unbounded, IntoIter, Iter, Receiver, RecvError, RecvTimeoutError, SendError,
    SendTimeoutError, Sender, TryIter, TryRecvError, TrySendError,
};

/// [`bounded`] (the name is for tracking builds).
pub fn bounded_named<T>(name: &'static str, cap: usize) -> (Sender<T>, Receiver<T>) {
    let _ = name;
    bounded(cap)
}

/// [`unbounded`] (the name is for tracking builds).
pub fn unbounded_named<T>(name: &'static str) -> (Sender<T>, Receiver<T>) {
    let _ = name;
    unbounded()
}
