//! The backpressure profile's sums and its report, one type for the process
//! that counts them (`lockgraph::pipeline`, in the facade) and for
//! `lockgraph profile`, which reads them from the profile files of many
//! processes and adds them up (docs/pipelines.md, docs/record-format.md).
//!
//! The sums are what the shares are made of (times blocked over the times
//! lived), not the shares themselves, so that two processes' sums add up
//! to the shares of both; [`PipelineSums::report`] makes the shares, the
//! stages and the advice, alike for one process and for many.

mod report;

pub use report::{PipelineReport, QueueProfile, StageProfile};

use std::sync::OnceLock;

/// One end of a queue: the time the threads (or tasks) that used it spent
/// blocked there, the time they lived, and their stages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideSums {
    /// Time blocked on this end (the queue full, for senders; empty, for
    /// receivers), nanoseconds.
    pub blocked_ns: u64,
    /// The lifetimes of the threads (tasks) that used this end, added up,
    /// nanoseconds.
    pub life_ns: u64,
    /// Their stages, in the order first seen.
    pub stages: Vec<String>,
}

/// One queue's sums.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSums {
    /// Its name, or `queue at <site>`.
    pub name: String,
    /// Its bound (`None`: unbounded).
    pub bound: Option<u64>,
    /// Items sent.
    pub sends: u64,
    /// The fill level each send left, added up.
    pub fill_sum: u64,
    /// The senders' end.
    pub send: SideSums,
    /// The receivers' end.
    pub recv: SideSums,
}

/// One stage's sums: its workers and their time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageSums {
    /// The stage (thread or task name less a trailing number, or a site).
    pub name: String,
    /// Its threads (or tasks).
    pub workers: u64,
    /// Their lifetimes, added up, nanoseconds.
    pub life_ns: u64,
    /// Their time blocked sending into full queues, nanoseconds.
    pub full_ns: u64,
    /// Their time blocked receiving from empty queues, nanoseconds.
    pub empty_ns: u64,
}

/// The backpressure profile's sums: every queue counted (in creation
/// order), every stage (by name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineSums {
    /// The queues.
    pub queues: Vec<QueueSums>,
    /// The stages.
    pub stages: Vec<StageSums>,
}

/// `a / b`, at most 1; 0 when `b` is.
fn share(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 / b as f64).min(1.0)
    }
}

impl PipelineSums {
    /// Whether no queue was counted.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// The report of these sums: per queue its mean fill and shares, per
    /// stage its shares, and the advice naming the bottleneck.
    pub fn report(&self) -> PipelineReport {
        let queues: Vec<QueueProfile> = (self.queues.iter())
            .map(|q| QueueProfile {
                name: q.name.clone(),
                bound: q.bound.map(|b| usize::try_from(b).unwrap_or(usize::MAX)),
                mean_fill: if q.sends == 0 {
                    0.0
                } else {
                    q.fill_sum as f64 / q.sends as f64
                },
                sends: q.sends,
                producers: q.send.stages.clone(),
                consumers: q.recv.stages.clone(),
                full_share: share(q.send.blocked_ns, q.send.life_ns),
                empty_share: share(q.recv.blocked_ns, q.recv.life_ns),
            })
            .collect();
        let mut stages: Vec<StageProfile> = (self.stages.iter())
            .map(|s| StageProfile {
                name: s.name.clone(),
                threads: usize::try_from(s.workers).unwrap_or(usize::MAX),
                blocked_on_full: share(s.full_ns, s.life_ns),
                blocked_on_empty: share(s.empty_ns, s.life_ns),
            })
            .collect();
        stages.sort_by(|a, b| a.name.cmp(&b.name));
        let advice = report::advise(&queues);
        PipelineReport {
            queues,
            stages,
            advice,
        }
    }

    /// These sums with the queues (and stages) of one name added up into
    /// one, in the order first seen: what [`merge`](Self::merge) makes of
    /// them, so that one process's report and many processes' agree. On
    /// an overflow, the sums as they are.
    pub fn folded(self) -> PipelineSums {
        let mut out = PipelineSums::default();
        match out.merge(&self) {
            Ok(()) => out,
            Err(_) => self,
        }
    }

    /// Adds `other`'s sums (another process's) to these: a queue or a
    /// stage of a name already here is added to it (the larger bound kept,
    /// the stages joined), any other is appended. On an overflow nothing
    /// is changed, and the error names the field (`queues[2].send.blocked_ns`
    /// of `other`).
    pub fn merge(&mut self, other: &PipelineSums) -> Result<(), String> {
        let mut out = self.clone();
        for (i, q) in other.queues.iter().enumerate() {
            let Some(have) = out.queues.iter_mut().find(|h| h.name == q.name) else {
                out.queues.push(q.clone());
                continue;
            };
            let at = |f: &str| format!("queues[{i}].{f}");
            add(&mut have.sends, q.sends, || at("sends"))?;
            add(&mut have.fill_sum, q.fill_sum, || at("fill_sum"))?;
            for (mine, theirs, end) in [
                (&mut have.send, &q.send, "send"),
                (&mut have.recv, &q.recv, "recv"),
            ] {
                add(&mut mine.blocked_ns, theirs.blocked_ns, || {
                    at(&format!("{end}.blocked_ns"))
                })?;
                add(&mut mine.life_ns, theirs.life_ns, || {
                    at(&format!("{end}.life_ns"))
                })?;
                for s in &theirs.stages {
                    if !mine.stages.contains(s) {
                        mine.stages.push(s.clone());
                    }
                }
            }
            have.bound = match (have.bound, q.bound) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        for (i, s) in other.stages.iter().enumerate() {
            let Some(have) = out.stages.iter_mut().find(|h| h.name == s.name) else {
                out.stages.push(s.clone());
                continue;
            };
            let at = |f: &str| format!("stages[{i}].{f}");
            add(&mut have.workers, s.workers, || at("workers"))?;
            add(&mut have.life_ns, s.life_ns, || at("life_ns"))?;
            add(&mut have.full_ns, s.full_ns, || at("full_ns"))?;
            add(&mut have.empty_ns, s.empty_ns, || at("empty_ns"))?;
        }
        *self = out;
        Ok(())
    }
}

/// `*a += b`, or the field's name when it overflows.
fn add(a: &mut u64, b: u64, field: impl FnOnce() -> String) -> Result<(), String> {
    *a = a.checked_add(b).ok_or_else(field)?;
    Ok(())
}

/// The facade's counters, which this crate cannot name: the profile file
/// takes its backpressure part from here.
static SOURCE: OnceLock<fn() -> PipelineSums> = OnceLock::new();

/// Registers where the backpressure profile's sums come from (the facade's
/// `lockgraph::pipeline`, when it counts its first queue), and makes sure
/// the profile file is written at exit, also by a process that counts
/// queues and takes no lock (found by an outside test: such a process
/// wrote no profile file).
#[doc(hidden)]
pub fn set_source(sums: fn() -> PipelineSums) {
    let _ = SOURCE.set(sums);
    super::write_at_exit();
}

/// The backpressure profile's sums so far, when anything was counted.
pub(super) fn sums() -> Option<PipelineSums> {
    SOURCE.get().map(|f| f()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
