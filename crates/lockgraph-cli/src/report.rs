//! The result of a check, as one self-contained value that every output
//! format renders. `--format json` prints it as it is (see the field docs and
//! `docs/ci.md`; `lockgraph_check` is the structure's version).

use std::path::Path;

use serde::Serialize;

use crate::baseline::Baseline;
use crate::check::{fingerprint, CycleFinding};
use crate::merge::{Merged, MergedEdge, Origin};
use crate::order::{OrderSpec, Violation};

/// The version of the JSON structure.
pub const REPORT_VERSION: u32 = 1;

/// Everything a check found.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Always [`REPORT_VERSION`].
    pub lockgraph_check: u32,
    /// Counts.
    pub summary: Summary,
    /// Cycles that can deadlock (those not in the baseline).
    pub cycles: Vec<CycleReport>,
    /// Order violations (those not in the baseline).
    pub violations: Vec<ViolationReport>,
    /// What the baseline tolerated, when one was given.
    pub baseline: Option<BaselineSummary>,
    /// Things skipped or worth knowing (torn lines, order entries matching nothing).
    pub warnings: Vec<String>,
}

/// Counts over the whole input.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Record files read.
    pub files: usize,
    /// Distinct process ids among them.
    pub processes: usize,
    /// Distinct lock classes.
    pub classes: usize,
    /// Distinct class-level edges.
    pub edges: usize,
    /// Edge lines merged.
    pub recordings: u64,
    /// Cycles reported (after the baseline).
    pub cycles: usize,
    /// Violations reported (after the baseline).
    pub violations: usize,
}

/// A lock class as it appears in one finding.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockReport {
    /// `L1`, `L2`, ... within the finding.
    pub id: String,
    /// The class id.
    pub class: String,
    /// The name, for named classes.
    pub name: Option<String>,
    /// The lock kind.
    pub kind: String,
    /// The creation site, for site classes.
    pub site: Option<String>,
}

/// One recording of an edge.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginReport {
    /// The thread (under `cargo test`, the test).
    pub thread: String,
    /// The process id.
    pub pid: u64,
    /// The executable.
    pub exe: String,
    /// The executable's arguments, from the record file's header.
    pub args: Vec<String>,
    /// `exclusive` or `shared`.
    pub hold: &'static str,
    /// `exclusive`, `read` or `recursive_read`.
    pub request: &'static str,
    /// `file:line:column` where the held lock was taken.
    pub held_at: Option<String>,
    /// `file:line:column` where the other lock was requested.
    pub requested_at: Option<String>,
    /// Program frames, innermost first.
    pub backtrace: Vec<String>,
    /// The record file and line this came from.
    pub record: String,
    /// The line in the record file.
    pub line: u64,
}

/// One edge of a finding.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct EdgeReport {
    /// The held lock's id (`L1`, ...).
    pub from: String,
    /// The requested lock's id.
    pub to: String,
    /// Every dependency kind recorded: `EN` exclusive hold, normal request;
    /// `ER` exclusive hold, recursive read; `SN` shared hold, normal request;
    /// `SR` shared hold, recursive read.
    pub kinds: Vec<&'static str>,
    /// Whether this edge is the one reported as closing the cycle.
    pub closes_cycle: bool,
    /// How many times it was recorded, over all files.
    pub recordings: u64,
    /// Up to 8 distinct recordings.
    pub origins: Vec<OriginReport>,
}

/// A cycle that can deadlock.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct CycleReport {
    /// The stable key (what baselines hold).
    pub key: String,
    /// A 16-hex-digit hash of the key.
    pub fingerprint: String,
    /// `false` when the search ran out of budget and ignored the read-lock and
    /// gate rules: the cycle exists but may be safe.
    pub exact: bool,
    /// The locks in cycle order.
    pub locks: Vec<LockReport>,
    /// Edge `i` runs from `locks[i]` to the next lock; the last one returns to
    /// `locks[0]` and closes the cycle.
    pub edges: Vec<EdgeReport>,
}

/// An edge against the intended order.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ViolationReport {
    /// The stable key (what baselines hold).
    pub key: String,
    /// A 16-hex-digit hash of the key.
    pub fingerprint: String,
    /// The order file.
    pub order_file: String,
    /// The chain violated: 1 is the first order in the file.
    pub chain: usize,
    /// That chain's entries.
    pub order: Vec<String>,
    /// The held lock (`L1`), which the order puts later.
    pub from: LockReport,
    /// The requested lock (`L2`), which the order puts earlier.
    pub to: LockReport,
    /// The entry `from` matched.
    pub from_entry: String,
    /// The entry `to` matched.
    pub to_entry: String,
    /// The offending edge.
    pub edge: EdgeReport,
}

/// What a baseline tolerated.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct BaselineSummary {
    /// The baseline file.
    pub file: String,
    /// Cycles found and tolerated.
    pub cycles: usize,
    /// Violations found and tolerated.
    pub violations: usize,
    /// Baseline entries that were not found any more (fixed: remove them).
    pub stale: Vec<String>,
}

impl Report {
    /// Whether the check fails: a cycle or a violation that the baseline
    /// does not tolerate.
    pub fn failed(&self) -> bool {
        !self.cycles.is_empty() || !self.violations.is_empty()
    }

    /// The exit status of `lockgraph check`: 1 when [`Report::failed`], else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed())
    }

    /// One line for the end of a run.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let plural = |n: usize, one: &str, many: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        };
        let found = if self.failed() {
            format!(
                "{} and {}",
                plural(s.cycles, "lock-order cycle", "lock-order cycles"),
                plural(s.violations, "order violation", "order violations")
            )
        } else {
            "no lock-order cycles or order violations".to_string()
        };
        let recordings = if s.recordings == 1 {
            "1 recording".to_string()
        } else {
            format!("{} recordings", s.recordings)
        };
        let mut line = format!(
            "lockgraph: {found} in {} ({}, {}, {} from {recordings})",
            plural(s.files, "record file", "record files"),
            plural(s.processes, "process", "processes"),
            plural(s.classes, "lock class", "lock classes"),
            plural(s.edges, "edge", "edges"),
        );
        if let Some(b) = &self.baseline {
            line.push_str(&format!(
                "; {} and {} baselined in {}",
                plural(b.cycles, "cycle", "cycles"),
                plural(b.violations, "violation", "violations"),
                b.file
            ));
            if !b.stale.is_empty() {
                line.push_str(&format!(
                    " ({} no longer found)",
                    plural(b.stale.len(), "entry", "entries")
                ));
            }
        }
        line
    }
}

fn kind_names(k: lockgraph_graph::EdgeKinds) -> Vec<&'static str> {
    use lockgraph_graph::EdgeKinds as K;
    [(K::EN, "EN"), (K::ER, "ER"), (K::SN, "SN"), (K::SR, "SR")]
        .into_iter()
        .filter(|(x, _)| k.contains(*x))
        .map(|(_, n)| n)
        .collect()
}

fn lock(merged: &Merged, class: usize, id: String) -> LockReport {
    let c = &merged.classes[class];
    LockReport {
        id,
        class: c.class.clone(),
        name: c.name.clone(),
        kind: c.kind.clone(),
        site: c.site.clone(),
    }
}

fn origin(merged: &Merged, o: &Origin) -> OriginReport {
    let file = merged.files.get(o.file);
    OriginReport {
        thread: o.thread.to_string(),
        pid: o.pid,
        exe: o.exe.to_string(),
        args: file.map(|f| f.header.args.clone()).unwrap_or_default(),
        hold: o.hold.as_str(),
        request: o.request.as_str(),
        held_at: o.held_at.as_deref().map(str::to_string),
        requested_at: o.requested_at.as_deref().map(str::to_string),
        backtrace: o.backtrace.iter().map(|f| f.to_string()).collect(),
        record: file
            .map(|f| f.path.display().to_string())
            .unwrap_or_default(),
        line: o.line,
    }
}

fn edge(merged: &Merged, e: &MergedEdge, from: String, to: String, closes: bool) -> EdgeReport {
    EdgeReport {
        from,
        to,
        kinds: kind_names(e.kinds),
        closes_cycle: closes,
        recordings: e.recordings,
        origins: e.origins.iter().map(|o| origin(merged, o)).collect(),
    }
}

fn tag(i: usize) -> String {
    format!("L{}", i + 1)
}

/// The report of one cycle.
pub fn cycle_report(merged: &Merged, c: &CycleFinding) -> CycleReport {
    let n = c.locks.len();
    CycleReport {
        key: c.key.clone(),
        fingerprint: fingerprint(&c.key),
        exact: c.exact,
        locks: c
            .locks
            .iter()
            .enumerate()
            .map(|(i, &l)| lock(merged, l, tag(i)))
            .collect(),
        edges: c
            .edges
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                edge(
                    merged,
                    &merged.edges[e],
                    tag(i),
                    tag((i + 1) % n),
                    i + 1 == n,
                )
            })
            .collect(),
    }
}

/// The report of one violation.
pub fn violation_report(merged: &Merged, spec: &OrderSpec, v: &Violation) -> ViolationReport {
    let e = &merged.edges[v.edge];
    let chain = &spec.chains[v.chain];
    ViolationReport {
        key: v.key.clone(),
        fingerprint: fingerprint(&v.key),
        order_file: spec.path.display().to_string(),
        chain: v.chain + 1,
        order: chain.entries.clone(),
        from: lock(merged, e.from, tag(0)),
        to: lock(merged, e.to, tag(1)),
        from_entry: chain.entries[v.from_entry].clone(),
        to_entry: chain.entries[v.to_entry].clone(),
        edge: edge(merged, e, tag(0), tag(1), false),
    }
}

/// Builds the report: every finding not in `baseline`, and the counts.
pub fn build(
    merged: &Merged,
    cycles: &[CycleFinding],
    order: Option<&OrderSpec>,
    violations: &[Violation],
    baseline: Option<(&Path, &Baseline)>,
    mut warnings: Vec<String>,
) -> Report {
    let tolerated_cycle = |k: &str| baseline.is_some_and(|(_, b)| b.has_cycle(k));
    let tolerated_violation = |k: &str| baseline.is_some_and(|(_, b)| b.has_violation(k));
    let cycle_reports: Vec<CycleReport> = cycles
        .iter()
        .filter(|c| !tolerated_cycle(&c.key))
        .map(|c| cycle_report(merged, c))
        .collect();
    let violation_reports: Vec<ViolationReport> = match order {
        Some(spec) => violations
            .iter()
            .filter(|v| !tolerated_violation(&v.key))
            .map(|v| violation_report(merged, spec, v))
            .collect(),
        None => Vec::new(),
    };
    let baseline = baseline.map(|(path, b)| {
        let mut stale: Vec<String> = b
            .cycles
            .iter()
            .filter(|e| !cycles.iter().any(|c| c.key == e.key))
            .chain(
                b.violations
                    .iter()
                    .filter(|e| !violations.iter().any(|v| v.key == e.key)),
            )
            .map(|e| e.key.clone())
            .collect();
        stale.sort();
        BaselineSummary {
            file: path.display().to_string(),
            cycles: cycles.len() - cycle_reports.len(),
            violations: violations.len() - violation_reports.len(),
            stale,
        }
    });
    if let Some(spec) = order {
        for (ci, i) in spec.unmatched(merged) {
            let chain = &spec.chains[ci];
            warnings.push(format!(
                "{}:{}: order entry `{}` matches no recorded lock class",
                spec.path.display(),
                chain.lines[i],
                chain.entries[i]
            ));
        }
    }
    warnings.extend(merged.warnings.iter().map(|w| w.to_string()));
    Report {
        lockgraph_check: REPORT_VERSION,
        summary: Summary {
            files: merged.files.len(),
            processes: merged.processes(),
            classes: merged.classes.len(),
            edges: merged.edges.len(),
            recordings: merged.recordings,
            cycles: cycle_reports.len(),
            violations: violation_reports.len(),
        },
        cycles: cycle_reports,
        violations: violation_reports,
        baseline,
        warnings,
    }
}
