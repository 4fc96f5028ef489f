//! The back-end traits: what a CUDA back end implements. The generic
//! [`Context`](crate::Context), [`Stream`](crate::Stream) and
//! [`Event`](crate::Event) own the protocol around every call (the deadlock
//! model's bookkeeping and its checks before anything blocks, the race
//! sanitizer's clocks, refusing CUDA calls inside host functions, naming
//! waits for the watchdog); a back end only does the device operations.
//!
//! This is `lock_api`'s shape: `lock_api::Mutex<R, T>` over a
//! `RawMutex`, here `Context<B>` over a [`Backend`]. The simulated back end
//! ([`crate::sim`]) and the cudarc one (`gpu`, feature `cudarc`) each
//! implement it in one file; `docs/cuda.md` ("Adding a back end") has the
//! recipe for a third.

use std::time::Instant;

use crate::Error;

/// Work a back end runs for the protocol: a host function wrapped with the
/// model's bookkeeping, or a marker that tells the model a stream got past a
/// point. Dropping a job without running it is allowed (a launch that
/// failed, an executor that is gone): the model's bookkeeping then ends
/// with the drop.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// A CUDA back end: one value is one context (a device's streams, events and
/// the one host-function executor they share).
///
/// Every method is a plain device operation; none of them checks anything.
/// Streams run their work in order; an error means the operation was not
/// done (nothing was enqueued).
pub trait Backend: Send + Sync + Sized + 'static {
    /// A stream of this back end.
    type Stream: Send + Sync + 'static;
    /// An event of this back end.
    type Event: Send + Sync + 'static;

    /// Opens a context on device `ordinal`.
    fn open(ordinal: usize) -> Result<Self, Error>;

    /// The identity of the driver context: two values that share one
    /// host-function executor (handles of one device's primary context)
    /// return the same key, distinct contexts distinct keys. The model keeps
    /// one executor node per key.
    fn key(&self) -> u64;

    /// A new stream; `name` is for the back end's own labels (thread names).
    fn new_stream(&self, name: &'static str) -> Result<Self::Stream, Error>;

    /// A new event, recorded nowhere yet.
    fn new_event(&self, name: &'static str) -> Result<Self::Event, Error>;

    /// Enqueues a host function on `stream`: `job` runs on the context's
    /// host-function executor after everything enqueued before it on the
    /// stream, and the stream's later work waits until it returned
    /// (`cuLaunchHostFunc`). `job` never panics (the caller catches).
    fn launch_host_fn(&self, stream: &Self::Stream, job: Job) -> Result<(), Error>;

    /// Runs `job` once everything enqueued on `stream` so far is done. The
    /// job is short and never blocks; it may run on any thread. The default
    /// enqueues it as a host function.
    fn when_reached(&self, stream: &Self::Stream, job: Job) -> Result<(), Error> {
        self.launch_host_fn(stream, job)
    }

    /// Records `event` on `stream`: it completes when the work enqueued on
    /// the stream so far does (`cuEventRecord`).
    fn record(&self, stream: &Self::Stream, event: &Self::Event) -> Result<(), Error>;

    /// Makes `stream`'s later work wait for the last record of `event`
    /// (`cuStreamWaitEvent`). Only called for an event that was recorded.
    fn wait_event(&self, stream: &Self::Stream, event: &Self::Event) -> Result<(), Error>;

    /// Waits on the host for everything enqueued on `stream` so far; with a
    /// deadline, [`Error::Timeout`] once it passed.
    fn synchronize(&self, stream: &Self::Stream, deadline: Option<Instant>) -> Result<(), Error>;

    /// Waits on the host for the last record of `event` (only called for an
    /// event that was recorded); with a deadline, [`Error::Timeout`] once it
    /// passed.
    fn event_synchronize(
        &self,
        event: &Self::Event,
        deadline: Option<Instant>,
    ) -> Result<(), Error>;

    /// Waits on the host for every stream of the context.
    fn context_synchronize(&self) -> Result<(), Error>;
}

/// A back end that launches device work of shape `K` (the simulated back
/// end: a closure run in order on the stream; cudarc: a closure that
/// enqueues on the `CudaStream`). [`Stream::launch`](crate::Stream::launch)
/// and [`Stream::copy`](crate::Stream::copy) exist for each such `K`.
pub trait Launch<K>: Backend {
    /// Enqueues `work` on `stream`.
    fn launch(&self, stream: &Self::Stream, work: K) -> Result<(), Error>;
}
