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
//! One API, [`Context`] / [`Stream`] / [`Event`], over a small
//! [`Backend`](backend::Backend) trait that each back end implements:
//! [`sim`] (host threads run each stream's queue; no GPU needed) and, with
//! the `cudarc` feature, `gpu` (cudarc 0.19). Each has aliases
//! (`sim::Context`, ...). The [`race`] module is the stream/host race
//! sanitizer.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use lockgraph_cuda::sim::Context;
//! use lockgraph_cuda::HostFn;
//!
//! let ctx = Context::new(0)?;
//! let stream = ctx.new_stream("loader")?;
//! let arena = Arc::new(lockgraph::Mutex::named("arena", ()));
//! let reports = lockgraph::capture(|| {
//!     let _held = arena.lock();
//!     let a = Arc::clone(&arena);
//!     // (The host function asks for the lock once told to, so that the
//!     // report is raised here, by the synchronize, and not by the executor
//!     // thread's own request for the lock, whichever came second.)
//!     let (go, wait) = std::sync::mpsc::channel::<()>();
//!     // The host function needs the lock this thread holds ...
//!     let needs_arena = move || {
//!         let _ = wait.recv();
//!         drop(a.lock());
//!     };
//!     stream
//!         .launch_host_fn(HostFn::new(needs_arena).locks(&arena))
//!         .unwrap();
//!     // ... so this synchronize would hang: reported before it blocks.
//!     let r = stream.synchronize_timeout(Duration::from_millis(100));
//!     assert_eq!(r, Err(lockgraph_cuda::Error::Timeout));
//!     go.send(()).unwrap();
//! });
//! stream.synchronize()?; // the lock is free: the stream drains
//! if lockgraph::TRACKING {
//!     assert_eq!(reports.len(), 1);
//!     assert!(reports[0].to_string().contains("Mutex `arena`"));
//! }
//! # Ok::<(), lockgraph_cuda::Error>(())
//! ```

pub mod backend;
mod context;
mod error;
mod host_fn;
mod model;
pub mod race;
mod signal;
pub mod sim;

#[cfg(feature = "cudarc")]
pub mod gpu;

pub use context::{Context, Event, Stream};
pub use error::Error;
pub use host_fn::HostFn;
pub use race::{Buffer, RaceReport};
pub use signal::{Producer, Signal};
