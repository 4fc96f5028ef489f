//! The backpressure profile: per queue, how long producers were blocked on
//! it full and consumers on it empty, and its mean fill; per stage (the
//! threads of one name, less a trailing `-<number>`), where its time went;
//! and advice naming the bottleneck stage (`docs/pipelines.md`).
//!
//! Counted while the profile is on (`LOCKGRAPH_PROFILE=1` or
//! [`crate::profile::enable`]) for the queues of [`crate::mpsc`],
//! `lockgraph::channel` and `lockgraph::tokio::mpsc` (per task: a task's
//! stage is its name); read with [`report`].

pub use lockgraph_core::profile::pipeline::{PipelineReport, QueueProfile, StageProfile};

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod counters;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod recv_iters;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub(crate) use counters::{key, profile_on, register_queue, using, QueueStats, Side};
#[cfg(all(
    feature = "tokio",
    any(debug_assertions, feature = "track-in-release", loom)
))]
pub(crate) use counters::{op, task_stage};
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use counters::{report, reset};
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub(crate) use recv_iters::receiver_iterators;

/// The backpressure profile (empty: release builds without tracking count
/// nothing).
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub fn report() -> PipelineReport {
    PipelineReport::default()
}

/// Nothing to forget (release builds without tracking).
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub fn reset() {}
