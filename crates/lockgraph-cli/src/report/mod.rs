//! The result of a check, as one self-contained value that every output
//! format renders: counts, one list of [`Finding`]s whatever their rule,
//! what the baseline tolerated, and warnings.
//!
//! `--format json` prints it in the structure documented in `docs/ci.md`
//! (`lockgraph_check` is its version): the findings of each rule in their
//! own array (`cycles`, `violations`), each with the rule's own fields.

mod json;
mod run_time;
mod runs;

use std::fmt;
use std::sync::Arc;

use serde::ser::Serializer;
use serde::Serialize;

pub use crate::reader::{CycleLevel, HoldMode, RequestMode};
pub use run_time::{RunTime, RunTimeProcess};
pub use runs::EdgeAt;
pub(crate) use runs::{lock_names, Listed};

/// The version of the JSON structure.
pub const REPORT_VERSION: u32 = 1;

/// Everything a check found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// Counts.
    pub summary: Summary,
    /// The findings not in the baseline: cycles first, then order
    /// violations, each sorted by key.
    pub findings: Vec<Finding>,
    /// What the baseline tolerated, when one was given.
    pub baseline: Option<BaselineSummary>,
    /// Things skipped or worth knowing (torn lines, order entries matching
    /// nothing).
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

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Locks taken in orders that form a cycle: a potential deadlock.
    Cycle,
    /// An edge against the intended order (`--order`).
    OrderViolation,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 2] = [Rule::Cycle, Rule::OrderViolation];

    /// The rule's id (SARIF's `ruleId`): `lock-order-cycle` or
    /// `lock-order-violation`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Cycle => "lock-order-cycle",
            Rule::OrderViolation => "lock-order-violation",
        }
    }

    /// The prefix of its findings' keys: `cycle:` or `order:`.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Rule::Cycle => "cycle:",
            Rule::OrderViolation => "order:",
        }
    }

    /// The rule a key belongs to, by its prefix.
    pub fn of_key(key: &str) -> Option<Rule> {
        Rule::ALL
            .into_iter()
            .find(|r| key.starts_with(r.key_prefix()))
    }
}

/// One finding: the locks and recorded edges it is about, in the same shape
/// whatever the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// What kind of finding it is.
    pub rule: Rule,
    /// The stable key (what baselines hold): class ids only.
    pub key: String,
    /// A 16-hex-digit hash of the key.
    pub fingerprint: String,
    /// One sentence saying what was found.
    pub message: String,
    /// The locks, `L1`, `L2`, ..., as runs ([`FindingLock::count`]): for a
    /// cycle in cycle order; for a violation the held lock, then the
    /// requested one.
    pub locks: Vec<FindingLock>,
    /// The recorded edges, as runs ([`FindingEdge::count`]): for a cycle,
    /// edge `i` runs from lock `i` to the next lock and the last one
    /// returns to `L1`, closing it; for a violation, the one offending
    /// edge.
    pub edges: Vec<FindingEdge>,
    /// What the reader should know about how it was found (a budget that
    /// ran out, the baselined cycles of the same component).
    pub notes: Vec<String>,
    /// What only this rule has.
    pub detail: Detail,
}

/// What only one rule's findings have.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detail {
    /// A cycle.
    Cycle {
        /// `false` when the search ran out of budget and ignored the
        /// read-lock and gate rules: the cycle exists but may be safe.
        exact: bool,
        /// For a cycle the processes found at run time that the merged
        /// class graph does not show (its locks of one class): how and by
        /// whom it was found.
        run_time: Option<RunTime>,
    },
    /// An order violation.
    OrderViolation(OrderDetail),
}

/// Where the intended order puts the two locks of a violation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OrderDetail {
    /// The order file.
    pub order_file: String,
    /// The chain violated: 1 is the first order in the file.
    pub chain: usize,
    /// That chain's entries.
    pub order: Vec<String>,
    /// The entry the held lock (`L1`) matched, later in the chain.
    pub from_entry: String,
    /// The entry the requested lock (`L2`) matched, earlier in the chain.
    pub to_entry: String,
}

/// A lock's id within one finding: `L1`, `L2`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockId(pub u32);

impl LockId {
    /// The id of the lock at place `i` of the finding (from 0).
    pub fn of_index(i: usize) -> LockId {
        LockId(u32::try_from(i + 1).unwrap_or(u32::MAX))
    }

    /// [`LockId::of_index`] of a place counted in a `u64`.
    pub fn of_place(i: u64) -> LockId {
        LockId(u32::try_from(i.saturating_add(1)).unwrap_or(u32::MAX))
    }

    /// The place of the lock with this id in the finding (from 0).
    pub fn index(self) -> usize {
        (self.0 as usize).saturating_sub(1)
    }
}

impl fmt::Display for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

impl PartialEq<&str> for LockId {
    fn eq(&self, other: &&str) -> bool {
        other.strip_prefix('L').and_then(|n| n.parse().ok()) == Some(self.0)
    }
}

impl Serialize for LockId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The dependency kinds an edge was recorded with: a hold (`E` exclusive,
/// `S` shared, `U` upgradable read) and a request (`N` exclusive, `P` plain
/// read, `R` recursive read): `EN`, `EP`, `ER`, `SN`, `SP`, `SR`, `UN`, `UP`,
/// `UR` (`lockgraph_graph::EdgeKinds::NAMED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kinds(pub lockgraph_graph::EdgeKinds);

impl Kinds {
    /// The kinds' names, in the order EN, EP, ER, SN, SP, SR, UN, UP, UR.
    pub fn names(self) -> Vec<&'static str> {
        lockgraph_graph::EdgeKinds::NAMED
            .into_iter()
            .filter(|(x, _)| self.0.contains(*x))
            .map(|(_, n)| n)
            .collect()
    }
}

impl Serialize for Kinds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// A lock class as it appears in one finding.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct FindingLock {
    /// `L1`, `L2`, ... within the finding: for a run of locks, its first.
    pub id: LockId,
    /// How many consecutive locks of the cycle, from `id` on, are of this
    /// class: a run (a chain of per-object locks a process found at run
    /// time is one run of a million, never a million locks); at least 1.
    pub count: u64,
    /// The class id.
    pub class: Arc<str>,
    /// The name, for named classes.
    pub name: Option<Arc<str>>,
    /// The lock kind.
    pub kind: Arc<str>,
    /// The creation site, for site classes.
    pub site: Option<Arc<str>>,
}

/// One edge of a finding.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct FindingEdge {
    /// The held lock (of a run of edges, the first edge's).
    pub from: LockId,
    /// The requested lock (of a run of edges, the first edge's).
    pub to: LockId,
    /// How many consecutive edges, from this one on, were recorded alike
    /// between locks of the same two classes (edge `k` of the run from
    /// lock `from + k` to the next); at least 1. The closing edge is a run
    /// of its own.
    pub count: u64,
    /// Every dependency kind recorded.
    pub kinds: Kinds,
    /// Whether this edge is the one reported as closing the cycle.
    pub closes_cycle: bool,
    /// How many times it was recorded, over all files.
    pub recordings: u64,
    /// Up to 8 distinct recordings.
    pub origins: Vec<EdgeOrigin>,
}

/// One recording of an edge: which thread of which process took the two
/// locks, and where. (Strings are shared with the merged records, so a
/// report of a cycle through a million locks stays small.)
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct EdgeOrigin {
    /// The thread (under `cargo test`, the test).
    pub thread: Arc<str>,
    /// The process id.
    pub pid: u64,
    /// The executable.
    pub exe: Arc<str>,
    /// The executable's arguments, from the record file's header.
    pub args: Arc<[String]>,
    /// How the first lock was held (`exclusive`, `shared` or `upgradable`).
    pub hold: HoldMode,
    /// How the second was requested (`exclusive`, `read`, `recursive_read`
    /// or `upgradable`; a `read` of a format version 1 or 2 record is
    /// checked as an exclusive request, `EdgeLine::kind`).
    pub request: RequestMode,
    /// `file:line:column` where the held lock was taken.
    pub held_at: Option<Arc<str>>,
    /// `file:line:column` where the other lock was requested.
    pub requested_at: Option<Arc<str>>,
    /// Program frames, innermost first.
    pub backtrace: Arc<[Arc<str>]>,
    /// The record file this came from.
    pub record: Arc<str>,
    /// The line in the record file.
    pub line: u64,
}

/// What a baseline tolerated.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct BaselineSummary {
    /// The baseline file.
    pub file: String,
    /// Baselined cycles that were recorded again (a cycle through classes of
    /// its locks, in its order).
    pub cycles: usize,
    /// Baselined violations found again.
    pub violations: usize,
    /// Baseline entries that were not found any more (fixed: remove them).
    pub stale: Vec<String>,
    /// Order-violation entries not checked: no intended order was given
    /// (`--order`), so neither found nor gone.
    pub unchecked: usize,
}

impl FindingLock {
    /// The lock's kind and label: "Mutex `name`", "RwLock created at
    /// file:l:c" (names as they are: escape them for a terminal).
    pub fn label(&self) -> String {
        if let Some(p) = self.phrase() {
            return p.to_string();
        }
        match (&self.name, &self.site) {
            (Some(n), _) => format!("{} `{n}`", self.kind),
            (None, Some(s)) => format!("{} created at {s}", self.kind),
            (None, None) => format!("{} {}", self.kind, self.class),
        }
    }

    /// The name of a CUDA pseudo-lock (a stream's, a host function's) that
    /// is a phrase with quoted names of its own (`` host fn enqueued at ...
    /// on stream `s` ``): said as is, without its kind and not quoted
    /// again, as the runtime's reports say it (quoted, the stream's name
    /// nested its backticks in the label's: found by an outside test).
    pub fn phrase(&self) -> Option<&str> {
        self.name
            .as_deref()
            .filter(|n| n.contains('`') && matches!(&*self.kind, "Stream" | "HostFn"))
    }
}

impl Finding {
    /// Whether the finding is exact: always, except a cycle found after the
    /// search ran out of budget (see [`Detail::Cycle`]).
    pub fn exact(&self) -> bool {
        match self.detail {
            Detail::Cycle { exact, .. } => exact,
            Detail::OrderViolation(_) => true,
        }
    }

    /// How the processes found it, for a cycle found at run time.
    pub fn run_time(&self) -> Option<&RunTime> {
        match &self.detail {
            Detail::Cycle { run_time, .. } => run_time.as_ref(),
            Detail::OrderViolation(_) => None,
        }
    }

    /// The order detail, for an order violation.
    pub fn order(&self) -> Option<&OrderDetail> {
        match &self.detail {
            Detail::OrderViolation(o) => Some(o),
            Detail::Cycle { .. } => None,
        }
    }

    /// How many processes recorded the edges shown: their origins' distinct
    /// record files (a file is one process; two with the same pid, reused
    /// or from two machines, are two). An edge keeps 8 origins at most, so
    /// with more recordings than origins more processes may have.
    pub fn processes(&self) -> usize {
        let mut files: Vec<(u64, &str)> = self
            .edges
            .iter()
            .flat_map(|e| e.origins.iter().map(|o| (o.pid, &*o.record)))
            .collect();
        files.sort_unstable();
        files.dedup();
        files.len()
    }

    /// The distinct process ids among the edges' origins, sorted.
    pub fn pids(&self) -> Vec<u64> {
        let mut pids: Vec<u64> = self
            .edges
            .iter()
            .flat_map(|e| e.origins.iter().map(|o| o.pid))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

impl Report {
    /// The findings of one rule.
    pub fn of_rule(&self, rule: Rule) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.rule == rule)
    }

    /// The cycles found (not in the baseline).
    pub fn cycles(&self) -> Vec<&Finding> {
        self.of_rule(Rule::Cycle).collect()
    }

    /// The order violations found (not in the baseline).
    pub fn violations(&self) -> Vec<&Finding> {
        self.of_rule(Rule::OrderViolation).collect()
    }

    /// Whether the check fails: a finding that the baseline does not
    /// tolerate.
    pub fn failed(&self) -> bool {
        !self.findings.is_empty()
    }

    /// The exit status of `lockgraph check`: 1 when [`Report::failed`], else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed())
    }

    /// One line for the end of a run (names as they are: escape it for a
    /// terminal).
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
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
            if b.unchecked > 0 {
                line.push_str(&format!(
                    "; {} not checked (no --order given)",
                    plural(
                        b.unchecked,
                        "order-violation entry",
                        "order-violation entries"
                    )
                ));
            }
        }
        line
    }
}

/// `1 thing`, `n things`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
