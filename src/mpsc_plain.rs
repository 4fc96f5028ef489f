//! `std::sync::mpsc` itself (release builds without tracking), with the
//! named constructors of the tracked module.

pub use std::sync::mpsc::*;

/// [`channel`] (the name is for tracking builds).
pub fn channel_named<T>(name: &'static str) -> (Sender<T>, Receiver<T>) {
    let _ = name;
    channel()
}

/// [`sync_channel`] (the name is for tracking builds).
pub fn sync_channel_named<T>(name: &'static str, bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let _ = name;
    sync_channel(bound)
}
