//! The library behind the `lockgraph` CI checker.
//!
//! Processes built with lockgraph (tracking on) and run with
//! `LOCKGRAPH_RECORD=<dir>` write the class-level lock-order edges they see
//! to `<dir>/*.jsonl` (format: `docs/record-format.md`). A cycle that no single
//! process closed, say `A -> B` in one test binary and `B -> A` in another, is
//! still a deadlock waiting for the right schedule. This crate reads those
//! files, merges their edges, and reports:
//!
//! * every strongly connected component's shortest cycle that can deadlock,
//!   under the runtime's own rules (lockgraph-graph: lockdep's strong paths
//!   for read locks, common gate locks);
//! * every edge against an intended order (`--order lockorder.toml`);
//!
//! minus whatever a baseline tolerates, in text, JSON, SARIF 2.1.0 or DOT.
//!
//! ```no_run
//! use lockgraph_cli::{check, CheckOptions};
//!
//! let report = check(&CheckOptions::new(vec!["target/lockgraph".into()]))?;
//! for c in &report.cycles {
//!     println!("{}", c.key);
//! }
//! std::process::exit(report.exit_code().into());
//! # Ok::<(), lockgraph_cli::Error>(())
//! ```
//!
//! Modules: [`record`] reads files, [`merge`] merges them, [`mod@check`] finds
//! cycles, [`order`] and [`baseline`] handle the two optional inputs,
//! [`report`] is the result, [`output`] renders it, [`run`] is
//! `lockgraph test`, [`mod@profile`] is `lockgraph profile` (contention
//! profiles, merged with the runtime's own types).
#![forbid(unsafe_code)]

pub mod baseline;
pub mod check;
pub mod error;
pub mod merge;
pub mod order;
pub mod output;
pub mod profile;
pub mod record;
pub mod report;
pub mod run;

use std::path::PathBuf;

pub use baseline::Baseline;
pub use error::{Error, RecordError};
pub use merge::Merged;
pub use output::Format;
pub use report::Report;

/// What to check and how.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckOptions {
    /// Record files, or directories whose `*.jsonl` files are read.
    pub paths: Vec<PathBuf>,
    /// The intended lock order, if any.
    pub order: Option<PathBuf>,
    /// The baseline of tolerated findings, if any.
    pub baseline: Option<PathBuf>,
    /// Threads reading files (at least 1).
    pub threads: usize,
}

impl CheckOptions {
    /// Checks `paths` with no order and no baseline, on as many threads as
    /// the machine has (at most 8).
    pub fn new(paths: Vec<PathBuf>) -> CheckOptions {
        CheckOptions {
            paths,
            order: None,
            baseline: None,
            threads: default_threads(),
        }
    }

    /// Sets the order file.
    pub fn order(mut self, order: Option<PathBuf>) -> CheckOptions {
        self.order = order;
        self
    }

    /// Sets the baseline file.
    pub fn baseline(mut self, baseline: Option<PathBuf>) -> CheckOptions {
        self.baseline = baseline;
        self
    }

    /// Sets the number of reading threads.
    pub fn threads(mut self, threads: usize) -> CheckOptions {
        self.threads = threads.max(1);
        self
    }
}

/// The machine's parallelism, at most 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// The merged records and every finding, before any baseline.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Analysis {
    /// The merged graph.
    pub merged: Merged,
    /// Cycles that can deadlock.
    pub cycles: Vec<check::CycleFinding>,
    /// The order, when one was given.
    pub order: Option<order::OrderSpec>,
    /// Edges against the order.
    pub violations: Vec<order::Violation>,
    /// Warnings about the input as a whole (no record files, ...).
    pub warnings: Vec<String>,
}

/// Reads, merges and analyses the records (the order file is read first, so
/// a bad one fails fast).
pub fn analyze(opts: &CheckOptions) -> Result<Analysis, Error> {
    let order = opts.order.as_deref().map(order::load).transpose()?;
    let files = record::collect_files(&opts.paths)?;
    let mut warnings = Vec::new();
    if files.is_empty() {
        let list: Vec<String> = opts.paths.iter().map(|p| p.display().to_string()).collect();
        warnings.push(format!(
            "no record files (*.jsonl) in {}: nothing was recorded; tracking is compiled in \
             only in debug builds or with lockgraph's `track-in-release` feature, and only \
             processes that nest locks write records",
            list.join(", ")
        ));
    }
    let merged = merge::merge_files(&files, opts.threads)?;
    let cycles = check::find_cycles(&merged);
    let violations = order
        .as_ref()
        .map(|o| o.violations(&merged))
        .unwrap_or_default();
    Ok(Analysis {
        merged,
        cycles,
        order,
        violations,
        warnings,
    })
}

/// `lockgraph check`: analyses the records and applies the baseline.
pub fn check(opts: &CheckOptions) -> Result<Report, Error> {
    let baseline = opts
        .baseline
        .as_deref()
        .map(|p| Baseline::load(p).map(|b| (p, b)))
        .transpose()?;
    let a = analyze(opts)?;
    Ok(report::build(
        &a.merged,
        &a.cycles,
        a.order.as_ref(),
        &a.violations,
        baseline.as_ref().map(|(p, b)| (*p, b)),
        a.warnings,
    ))
}

/// `lockgraph baseline`: every current finding's key, and the analysis's
/// warnings.
pub fn make_baseline(opts: &CheckOptions) -> Result<(Baseline, Vec<String>), Error> {
    let a = analyze(opts)?;
    let mut warnings = a.warnings;
    warnings.extend(a.merged.warnings.iter().map(|w| w.to_string()));
    let b = Baseline::new(
        a.cycles.iter().map(|c| c.key.as_str()),
        a.violations.iter().map(|v| v.key.as_str()),
    );
    Ok((b, warnings))
}
