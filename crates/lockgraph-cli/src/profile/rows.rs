//! The merged profile as output: one row per class and per queue and stage
//! (the JSON format), the summary line, and the text reports with the
//! files' strings escaped.

use std::io::{self, Write};

use lockgraph_core::profile::pipeline::PipelineReport;
use lockgraph_core::profile::{Advice, ProfileReport};
use serde::{Deserialize, Serialize};

use super::types::{Profile, ProfileFormat};
use crate::output::escape;
/// One class of a `--format json` profile: the merged counters, the derived
/// numbers, and the runtime's advice as sentences.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Row {
    /// The class id (`name:..`, `site:..`, `anon:..`).
    pub class: String,
    /// The name, for named classes.
    pub name: Option<String>,
    /// `Mutex`, `RwLock`, `ReentrantMutex`, `Condvar` or `lock`.
    pub kind: String,
    /// The creation site, for site classes.
    pub site: Option<String>,
    /// Acquisitions.
    pub acquisitions: u64,
    /// Contended acquisitions.
    pub contended: u64,
    /// `contended / acquisitions` (0 when there were none).
    pub contention: f64,
    /// Total wait, nanoseconds.
    pub wait_ns: u64,
    /// Longest wait, nanoseconds.
    pub max_wait_ns: u64,
    /// Shared acquisitions.
    pub reads: u64,
    /// Sampled holds.
    pub hold_samples: u64,
    /// Sum of the sampled hold times, nanoseconds.
    pub hold_ns: u64,
    /// Mean sampled hold, nanoseconds.
    pub mean_hold_ns: u64,
    /// Longest sampled hold, nanoseconds.
    pub max_hold_ns: u64,
    /// Threads that waited (summed over processes).
    pub waiting_threads: u64,
    /// Blocking calls made while holding the class.
    pub blocking_calls: u64,
    /// Time in those calls, nanoseconds.
    pub blocking_ns: u64,
    /// What one of those calls was.
    pub blocking_what: Option<String>,
    /// The runtime's advice, one sentence each.
    pub advice: Vec<String>,
}

/// One queue of a `--format json` profile's `pipeline`: the merged sums'
/// derived numbers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct QueueRow {
    /// Its name, or `queue at <site>`.
    pub name: String,
    /// Its bound (`null`: unbounded; merged, the largest).
    pub bound: Option<usize>,
    /// Items sent.
    pub sends: u64,
    /// The mean fill level a send left.
    pub mean_fill: f64,
    /// The stages that sent into it.
    pub producers: Vec<String>,
    /// The stages that received from it.
    pub consumers: Vec<String>,
    /// The share of its producers' time blocked on it full (0 to 1).
    pub full_share: f64,
    /// The share of its consumers' time blocked on it empty (0 to 1).
    pub empty_share: f64,
}

/// One stage of a `--format json` profile's `pipeline`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct StageRow {
    /// The stage.
    pub name: String,
    /// Its threads or tasks (added up over processes).
    pub workers: usize,
    /// The share of their time blocked on full queues.
    pub blocked_on_full: f64,
    /// The share of their time blocked on empty queues.
    pub blocked_on_empty: f64,
}

/// A `--format json` profile's `pipeline`: queues, stages, advice.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct PipelineRows {
    /// The queues, in the order first seen.
    pub queues: Vec<QueueRow>,
    /// The stages, by name.
    pub stages: Vec<StageRow>,
    /// The runtime's advice naming the bottleneck, one sentence each.
    pub advice: Vec<String>,
}

/// A `--format json` profile.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct ProfileJson {
    /// One row per lock class, hottest first.
    pub classes: Vec<Row>,
    /// The backpressure profile, `null` when no file has one.
    pub pipeline: Option<PipelineRows>,
}

impl PipelineRows {
    fn of(r: &PipelineReport) -> PipelineRows {
        PipelineRows {
            queues: (r.queues.iter())
                .map(|q| QueueRow {
                    name: q.name.clone(),
                    bound: q.bound,
                    sends: q.sends,
                    mean_fill: q.mean_fill,
                    producers: q.producers.clone(),
                    consumers: q.consumers.clone(),
                    full_share: q.full_share,
                    empty_share: q.empty_share,
                })
                .collect(),
            stages: (r.stages.iter())
                .map(|s| StageRow {
                    name: s.name.clone(),
                    workers: s.threads,
                    blocked_on_full: s.blocked_on_full,
                    blocked_on_empty: s.blocked_on_empty,
                })
                .collect(),
            advice: r.advice.clone(),
        }
    }
}

/// `s` as the text format shows it: control characters and bidirectional
/// overrides as escapes ([`escape::text`]), in place.
fn shown(s: &mut String) {
    if let std::borrow::Cow::Owned(safe) = escape::text(s) {
        *s = safe;
    }
}

impl Profile {
    /// The `--format json` object.
    pub fn json(&self) -> ProfileJson {
        ProfileJson {
            classes: self.rows(),
            pipeline: self.pipeline.as_ref().map(PipelineRows::of),
        }
    }

    /// One row per class, hottest first.
    pub fn rows(&self) -> Vec<Row> {
        self.report
            .classes
            .iter()
            .zip(&self.counters)
            .map(|(p, c)| Row {
                class: c.class.clone(),
                name: c.name.clone(),
                kind: c.kind.clone(),
                site: c.site.clone(),
                acquisitions: c.acquisitions,
                contended: c.contended,
                contention: p.contention(),
                wait_ns: c.wait_ns,
                max_wait_ns: c.max_wait_ns,
                reads: c.reads,
                hold_samples: c.hold_samples,
                hold_ns: c.hold_ns,
                mean_hold_ns: c.hold_ns / c.hold_samples.max(1),
                max_hold_ns: c.max_hold_ns,
                waiting_threads: c.waiting_threads,
                blocking_calls: c.blocking_calls,
                blocking_ns: c.blocking_ns,
                blocking_what: c.blocking_what.clone(),
                advice: p.advice.iter().map(|a| a.describe(p.kind)).collect(),
            })
            .collect()
    }

    /// The one-line summary: classes, files, processes.
    pub fn summary_line(&self) -> String {
        let n = |n: usize, one: &str, many: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        };
        let queues = match &self.pipeline {
            Some(p) => format!(" and {}", n(p.queues.len(), "queue", "queues")),
            None => String::new(),
        };
        format!(
            "lockgraph: {}{queues} in {} ({})",
            n(self.report.classes.len(), "lock class", "lock classes"),
            n(self.files.len(), "profile file", "profile files"),
            n(self.processes, "process", "processes"),
        )
    }

    /// The report as the text format shows it: every string that came from
    /// the profile files (class ids, names, sites, what a blocking call
    /// was) with its control characters and bidirectional overrides shown
    /// as escapes (`\n`, `\u{1b}`), as `check` shows names. Anyone can
    /// write a profile file, and a raw escape sequence in a lock's name
    /// would drive the terminal or forge lines of the table.
    pub fn text_report(&self) -> ProfileReport {
        let mut report = self.report.clone();
        for c in &mut report.classes {
            shown(&mut c.class);
            c.name.iter_mut().for_each(shown);
            c.created.iter_mut().for_each(shown);
            c.blocking_what.iter_mut().for_each(shown);
            for a in &mut c.advice {
                if let Advice::MoveBlockingCallOut { what, .. } = a {
                    shown(what);
                }
            }
        }
        report
    }

    /// The backpressure report as the text format shows it: its names and
    /// advice (which quotes them) escaped, as [`Profile::text_report`]'s.
    pub fn text_pipeline(&self) -> Option<PipelineReport> {
        let mut report = self.pipeline.clone()?;
        for q in &mut report.queues {
            shown(&mut q.name);
            q.producers.iter_mut().for_each(shown);
            q.consumers.iter_mut().for_each(shown);
        }
        report.stages.iter_mut().for_each(|s| shown(&mut s.name));
        report.advice.iter_mut().for_each(shown);
        Some(report)
    }

    /// Writes the profile in `format`: text through [`Profile::text_report`],
    /// JSON with the strings exact (JSON escapes them).
    pub fn write(&self, format: ProfileFormat, w: &mut dyn Write) -> io::Result<()> {
        match format {
            ProfileFormat::Text => {
                write!(w, "{}", self.text_report())?;
                if let Some(p) = self.text_pipeline() {
                    writeln!(w)?;
                    write!(w, "{p}")?;
                }
                writeln!(w, "{}", self.summary_line())
            }
            ProfileFormat::Json => {
                serde_json::to_writer_pretty(&mut *w, &self.json()).map_err(io::Error::from)?;
                writeln!(w)
            }
        }
    }
}
