//! A `cycle` line: a lock-order cycle a process found at run time that its
//! edge lines cannot show (its locks all of one class, between which no
//! edge line is written; `docs/record-format.md`, "Cycle lines"). Read as
//! strictly as an edge line: a missing or mistyped field, an empty class,
//! a run of no locks, or edges that do not go round the locks is an error
//! naming the field.

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use super::line::one_of;
use super::parse::{blamed, describe, LineError};
use super::{HoldMode, RequestMode};

/// The most locks one cycle line may hold (its runs' counts added up): the
/// runtime's instance graph holds at most 1,048,576 live locks by default
/// (`LOCKGRAPH_MAX_INSTANCES`).
pub const MAX_CYCLE_LOCKS: u64 = 1 << 20;

/// The most locks the cycle lines of one file may hold in all: a run's
/// count multiplies what a short line costs to read.
pub const MAX_FILE_CYCLE_LOCKS: u64 = 1 << 22;

/// How the process found the cycle.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CycleLevel {
    /// Locks of these classes, maybe other instances, were taken in orders
    /// that close the cycle.
    Class,
    /// These very locks were taken in orders that close the cycle.
    Instance,
}

impl CycleLevel {
    /// Every level, in the format's order.
    pub const ALL: [CycleLevel; 2] = [CycleLevel::Class, CycleLevel::Instance];

    /// The word used in the format.
    pub fn as_str(self) -> &'static str {
        match self {
            CycleLevel::Class => "class",
            CycleLevel::Instance => "instance",
        }
    }
}

impl<'de> Deserialize<'de> for CycleLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(d, &CycleLevel::ALL, CycleLevel::as_str)
    }
}

fn one() -> u64 {
    1
}

/// A run of locks of a cycle: `count` consecutive locks of one class, the
/// class written as an edge line writes one.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename = "cycle lock", expecting = "a lock class (an object)")]
#[non_exhaustive]
pub struct CycleLock {
    /// The class identity compared across processes.
    pub class: String,
    /// The name, for named classes.
    #[serde(default)]
    pub name: Option<String>,
    /// The lock kind.
    pub kind: String,
    /// The creation site, for site classes.
    #[serde(default)]
    pub site: Option<String>,
    /// How many consecutive locks of the cycle are of this class.
    #[serde(default = "one")]
    pub count: u64,
}

/// A run of edges of a cycle recorded alike: edge `i` runs from lock `i`
/// to the next (the last back to the first), edge 0 closed the cycle.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename = "cycle edge", expecting = "a cycle's edge (an object)")]
#[non_exhaustive]
pub struct CycleEdge {
    /// How the edge's first lock was held.
    pub hold: HoldMode,
    /// How its second was requested.
    pub request: RequestMode,
    /// The recording thread's name or id (`""` where a long cycle's line
    /// left it out).
    pub thread: String,
    /// Where the first lock was taken.
    #[serde(default)]
    pub held_at: Option<String>,
    /// Where the second was requested.
    #[serde(default)]
    pub requested_at: Option<String>,
    /// How many consecutive edges were recorded so.
    #[serde(default = "one")]
    pub count: u64,
    /// The key of the `stack` line with its frames.
    #[serde(default)]
    pub stack: Option<String>,
    /// Its frames, innermost first, when written in the line.
    #[serde(default)]
    pub backtrace: Vec<String>,
}

/// One `"type":"cycle"` line.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename = "cycle record", expecting = "a cycle record (an object)")]
#[non_exhaustive]
pub struct CycleLine {
    /// How the process found it.
    pub level: CycleLevel,
    /// The locks, in cycle order, as runs.
    pub locks: Vec<CycleLock>,
    /// The edges, as runs: as many edges as locks.
    pub edges: Vec<CycleEdge>,
    /// The process that found it.
    pub pid: u64,
    /// Its executable.
    pub exe: String,
    /// The line of the file it was read from (1-based).
    #[serde(skip)]
    pub line: u64,
}

impl CycleLine {
    /// How many locks (and edges) the cycle has.
    pub fn lock_count(&self) -> u64 {
        self.locks.iter().map(|l| l.count).sum()
    }
}

/// A valid cycle line, whose values stand in for a bad line's while the
/// field at fault is looked for (`docs/record-format.md`'s example).
pub(super) const CYCLE_TEMPLATE: &str = r#"{"type":"cycle","level":"instance","locks":[{"class":"site:src/bank.rs:8:17:bank::Account","name":null,"kind":"Mutex","site":"src/bank.rs:8:17","count":2}],"edges":[{"hold":"exclusive","request":"exclusive","thread":"both_orders","held_at":"src/bank.rs:20:22","requested_at":"src/bank.rs:21:20","count":2,"stack":"4242:9"}],"pid":4242,"exe":"/work/target/debug/deps/bank-5f3c"}"#;

/// Parses and checks one line whose `type` is `"cycle"`.
pub(super) fn parse_cycle(line: &[u8]) -> Result<CycleLine, LineError> {
    let c: CycleLine = serde_json::from_slice(line).map_err(|e| {
        blamed(
            describe(line, &e, "cycle record"),
            line,
            &e,
            CYCLE_TEMPLATE,
            &|v| CycleLine::deserialize(v).is_ok(),
        )
    })?;
    let bad = |message: String| LineError {
        message: format!("invalid cycle record: {message}"),
        invalid_json: false,
    };
    let mut locks: u64 = 0;
    for (i, l) in c.locks.iter().enumerate() {
        if l.class.is_empty() {
            return Err(bad(format!("field `locks[{i}].class`: empty lock class")));
        }
        if l.count == 0 {
            return Err(bad(format!(
                "field `locks[{i}].count`: 0, a run of no locks"
            )));
        }
        locks = locks.saturating_add(l.count);
    }
    let mut edges: u64 = 0;
    for (i, e) in c.edges.iter().enumerate() {
        if e.count == 0 {
            return Err(bad(format!(
                "field `edges[{i}].count`: 0, a run of no edges"
            )));
        }
        edges = edges.saturating_add(e.count);
    }
    if locks < 2 {
        return Err(bad(format!(
            "field `locks`: {locks} lock{}, and a lock-order cycle goes through 2 at least",
            if locks == 1 { "" } else { "s" }
        )));
    }
    if locks > MAX_CYCLE_LOCKS {
        return Err(bad(format!(
            "field `locks`: more than {MAX_CYCLE_LOCKS} locks, the limit for one cycle"
        )));
    }
    if edges != locks {
        return Err(bad(format!(
            "field `edges`: {edges} edge{} for {locks} locks (a cycle has one edge from each \
             lock to the next)",
            if edges == 1 { "" } else { "s" }
        )));
    }
    Ok(c)
}
