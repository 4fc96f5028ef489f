//! The library behind the `lockgraph` CI checker.
//!
//! Processes built with lockgraph (tracking on) and run with
//! `LOCKGRAPH_RECORD=<dir>` write the class-level lock-order edges they see
//! to `<dir>/*.jsonl` (format: `docs/record-format.md`). A cycle that no single
//! process closed, say `A -> B` in one test binary and `B -> A` in another, is
//! still a deadlock waiting for the right schedule. This crate reads those
//! files, merges their edges, and reports, as one list of [`Finding`]s:
//!
//! * every strongly connected component's shortest cycle that can deadlock,
//!   under the runtime's own rules (lockdep's strong paths for read locks,
//!   no gate lock held on two of its edges);
//! * every edge against an intended order (`--order lockorder.toml`);
//!
//! minus whatever a [`Baseline`] tolerates, in text, JSON, SARIF 2.1.0, DOT
//! or a self-contained HTML page ([`Format`]).
//!
//! ```no_run
//! use lockgraph_cli::{check, CheckOptions, Format};
//!
//! let report = check(&CheckOptions::new(vec!["target/lockgraph".into()]))?;
//! for f in &report.findings {
//!     println!("{} {}", f.rule.id(), f.key);
//! }
//! Format::Html.write(&report, &mut std::fs::File::create("lockgraph.html")?)?;
//! std::process::exit(report.exit_code().into());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`profile`] is `lockgraph profile`: contention and backpressure profiles of many processes,
//! merged with the runtime's own types.
//!
//! Inside, one module per step: `files` lists the inputs, `reader` parses
//! one record file, `merge` merges them into one class graph, `graph`
//! indexes it and finds its strongly connected components, `search` and
//! `cycles` find the cycles that can deadlock, `order` reads the intended
//! order, `baseline` the tolerated findings, `findings` builds the
//! [`Report`] and `output` renders it.
#![forbid(unsafe_code)]

mod baseline;
mod blame;
mod cycles;
mod error;
mod files;
mod findings;
mod graph;
pub mod hang;
mod merge;
mod order;
mod output;
mod position;
pub mod profile;
mod reader;
mod report;
mod search;
mod shown;
mod symbols;

#[cfg(test)]
mod fuzz_tests;
/// Synthetic record files, for the unit tests (the integration tests' own).
#[cfg(test)]
#[path = "../tests/suite/records.rs"]
mod records;

use std::path::PathBuf;

pub use baseline::{Baseline, BaselineEntry, BASELINE_VERSION};
pub use error::{Error, RecordError};
pub use output::Format;
pub use reader::FORMAT_VERSION;
pub use report::{
    BaselineSummary, CycleLevel, Detail, EdgeOrigin, Finding, FindingEdge, FindingLock, HoldMode,
    Kinds, LockId, OrderDetail, Report, RequestMode, Rule, RunTime, RunTimeProcess, Summary,
    REPORT_VERSION,
};
pub use shown::{ShowPath, ShownPath};

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

    /// Reads the order file and the baseline, when set, and says what is
    /// wrong with either: what `lockgraph test` does before it runs its
    /// command, so that a missing or bad file costs no test run.
    pub fn read_side_files(&self) -> Result<(), Error> {
        if let Some(order) = &self.order {
            order::load(order)?;
        }
        if let Some(baseline) = &self.baseline {
            Baseline::load(baseline)?;
        }
        Ok(())
    }
}

/// `s` with every control character (and Unicode bidirectional override)
/// shown as an escape (`\n`, `\u{1b}`), as the text report shows names,
/// threads and paths from record files: anyone can write those, and raw
/// escape sequences would drive the terminal.
///
/// ```
/// assert_eq!(lockgraph_cli::terminal_safe("a\u{1b}[2J\nb"), "a\\u{1b}[2J\\nb");
/// ```
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    output::escape::text(s)
}

/// An I/O error's message as the CLI shows it: in lower case, without the
/// "(os error N)" suffix.
pub fn io_error_text(e: &std::io::Error) -> String {
    error::lower(e)
}

/// Whether `a` and `b` name one existing file (the same device and inode,
/// following links): a hard link of a file is that file. False when
/// either cannot be looked at.
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (files::file_id(a), files::file_id(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Whether a directory entry is one `lockgraph check` reads as a record
/// file: `*.jsonl`, but for the watchdog's files (`lockgraph hang`), which
/// may share the directory.
pub fn is_record_name(name: &std::ffi::OsStr) -> bool {
    std::path::Path::new(name)
        .extension()
        .is_some_and(|e| e == "jsonl")
        && !hang::is_watchdog_file(name)
}

/// The machine's parallelism, at most 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// The merged records, the order, and warnings about the input as a whole.
struct Input {
    merged: merge::Merged,
    order: Option<order::OrderSpec>,
    warnings: Vec<String>,
}

/// Reads the order file (first, so that a bad one fails fast) and merges
/// the record files.
fn read_input(opts: &CheckOptions) -> Result<Input, Error> {
    let order = opts.order.as_deref().map(order::load).transpose()?;
    let listed = files::list(&opts.paths, is_record_name)?;
    let mut warnings = listed.warnings;
    if listed.files.is_empty() {
        let list: Vec<String> = opts.paths.iter().map(|p| p.shown().to_string()).collect();
        warnings.push(format!(
            "no record files (*.jsonl) in {}: nothing was recorded; tracking is compiled in \
             only in debug builds or with lockgraph's `track-in-release` feature, and a \
             process writes its file when it first takes a lockgraph lock",
            list.join(", ")
        ));
    }
    let merged = merge::merge_files(&listed.files, opts.threads)?;
    Ok(Input {
        merged,
        order,
        warnings,
    })
}

/// `lockgraph check`: reads, merges and checks the records, and applies the
/// baseline.
pub fn check(opts: &CheckOptions) -> Result<Report, Error> {
    let baseline = opts
        .baseline
        .as_deref()
        .map(|p| Baseline::load(p).map(|b| (p, b)))
        .transpose()?;
    let input = read_input(opts)?;
    Ok(findings::build(findings::Inputs {
        merged: &input.merged,
        order: input.order.as_ref(),
        baseline: baseline.as_ref().map(|(p, b)| (*p, b)),
        warnings: input.warnings,
    }))
}

/// `lockgraph baseline`: a baseline tolerating everything found now (for
/// each component of the class graph, its reported cycle and the cycles
/// that cover the rest of it; every order violation), and the warnings
/// about the input.
pub fn make_baseline(opts: &CheckOptions) -> Result<(Baseline, Vec<String>), Error> {
    let input = read_input(opts)?;
    let mut warnings = input.warnings;
    warnings.extend(input.merged.warnings.iter().map(|w| w.to_string()));
    let baseline = Baseline::new(findings::baseline_entries(
        &input.merged,
        input.order.as_ref(),
    ));
    warnings.extend(
        baseline
            .entries()
            .filter(|e| e.names_anonymous())
            .map(|e| findings::anonymous_entry_warning(None, &e.key)),
    );
    Ok((baseline, warnings))
}
