//! The stream race sanitizer: vector clocks per stream and for the host
//! (PyTorch's CSAN, with the host as an accessor). Tracked buffers keep their
//! last write and, for the reads since, the latest read of each actor (and,
//! while host functions are pending, the accesses these superseded); an
//! access not ordered after a conflicting one is reported with both
//! accesses, once per buffer and pair of sites, delivered like lockgraph's
//! own reports: to [`capture`] in tests, else by the `OnCycle` policy (a
//! `tracing` WARN event with target `lockgraph` under `warn`, stderr when
//! no subscriber is installed).
//!
//! An access made inside a host function is the host function's, stamped
//! with its place on its stream: ordered after the work enqueued on the
//! stream before it, and before the work enqueued after it.
//!
//! Layers, each importing only the ones above it: `report` (what a report
//! says), `buffer` (one buffer's stored accesses), `sink` (where a race
//! found inside a host function goes: the capture it was enqueued in),
//! `state` (clocks, buffers, host-function places, the check), and this
//! module (the API).

mod buffer;
mod report;
mod sink;
mod state;

use std::panic::Location;

pub use report::{Access, RaceReport};

pub(crate) use state::{
    enqueue, enqueue_host_fn, event_point, host_sync, new_event, record, stream_point, stream_wait,
    streams_point,
};

use state::Who;

/// A buffer whose accesses are tracked (device memory, pinned staging
/// memory, a host array filled by an async copy).
#[derive(Debug)]
pub struct Buffer {
    pub(crate) id: usize,
    name: &'static str,
}

impl Buffer {
    /// A tracked buffer named `name`.
    pub fn named(name: &'static str) -> Buffer {
        Buffer {
            id: state::new_buffer(name),
            name,
        }
    }

    /// The buffer's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The host reads the buffer now (inside a host function: the host
    /// function does, ordered by its stream).
    #[track_caller]
    pub fn host_read(&self) {
        let site = Location::caller();
        state::access(Who::Here, "host read", &[self.id], &[], site);
    }

    /// The host writes the buffer now (inside a host function: the host
    /// function does, ordered by its stream).
    #[track_caller]
    pub fn host_write(&self) {
        let site = Location::caller();
        state::access(Who::Here, "host write", &[], &[self.id], site);
    }
}

/// Runs `f` and returns the races reported on this thread meanwhile, instead
/// of applying the policy (lockgraph's `OnCycle`) to them: the core's
/// [`capture_reports`](lockgraph_core::capture_reports) of [`RaceReport`];
/// then the races found, while it ran, inside host functions enqueued in it
/// (on this thread, while it was the innermost capture here), though they
/// are found on the back end's executor thread: a host function is this
/// thread's stream work. A host function that runs after the capture
/// returned (synchronize its stream inside the capture), or one whose
/// executor thread has a capture of its own open, reports elsewhere.
/// Captures nest; the innermost one gets the reports; the capture ends even
/// when `f` panics.
pub fn capture(f: impl FnOnce()) -> Vec<RaceReport> {
    let open = sink::open();
    let mut reports = lockgraph_core::capture_reports::<RaceReport>(f);
    reports.extend(open.close());
    reports
}

/// Work of stream `actor` (named `stream`), enqueued at `site`, reads and
/// writes buffers.
pub(crate) fn stream_access(
    actor: usize,
    stream: &str,
    op: &str,
    reads: &[&Buffer],
    writes: &[&Buffer],
    site: &'static Location<'static>,
) {
    let ids = |bs: &[&Buffer]| bs.iter().map(|b| b.id).collect::<Vec<_>>();
    let who = Who::Stream(actor, stream);
    state::access(who, op, &ids(reads), &ids(writes), site);
}

#[cfg(test)]
mod tests;
