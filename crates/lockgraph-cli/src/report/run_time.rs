//! A cycle the processes found at run time (a `cycle` line of their
//! records): how and by whom, and the words every output says it in.

use std::sync::Arc;

use serde::Serialize;

use super::plural;
use crate::reader::CycleLevel;

/// How a cycle was found at run time, and by which processes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunTime {
    /// `instance`: these very locks were taken in orders that close the
    /// cycle; `class`: locks of these classes were.
    pub level: CycleLevel,
    /// Whether every lock of the cycle is of one class (per-object locks):
    /// no edge of the merged class graph shows such a cycle.
    pub one_class: bool,
    /// The processes that found it, a record file each, in the order read.
    pub processes: Vec<RunTimeProcess>,
}

/// A process that found a cycle at run time.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunTimeProcess {
    /// Its process id.
    pub pid: u64,
    /// Its executable.
    pub exe: Arc<str>,
    /// The record file it wrote.
    pub record: Arc<str>,
}

/// Processes named one by one in [`RunTime::found`]; the rest are counted.
const NAMED: usize = 3;

impl RunTime {
    /// A process as the words name it: `process 4242 (`api-5f3c`)`, the
    /// executable by its file name (names as they are: escape them for a
    /// terminal).
    fn process(p: &RunTimeProcess) -> String {
        let name = p.exe.rsplit(['/', '\\']).next().unwrap_or("");
        if name.is_empty() {
            p.pid.to_string()
        } else {
            format!("{} (`{name}`)", p.pid)
        }
    }

    /// Who found it and what it is, for a cycle through `locks` locks:
    /// "found at run time by process 4242 (`api`): these very locks, of
    /// one class, taken in both orders".
    pub fn found(&self, locks: u64) -> String {
        let named: Vec<String> = self
            .processes
            .iter()
            .take(NAMED)
            .map(Self::process)
            .collect();
        let who = match self.processes.len() {
            0 => "a process".to_string(),
            1 => format!("process {}", named.join("")),
            n if n <= NAMED => format!("{n} processes ({})", named.join(", ")),
            n => format!(
                "{n} processes ({}, and {})",
                named.join(", "),
                plural(n - NAMED, "more", "more")
            ),
        };
        let what = match (self.level, self.one_class, locks) {
            (CycleLevel::Instance, true, 2) => {
                "these very locks, of one class, taken in both orders"
            }
            (CycleLevel::Instance, true, _) => {
                "these very locks, all of one class, taken in orders that close a cycle"
            }
            (CycleLevel::Instance, false, _) => {
                "these very locks, taken in orders that close a cycle"
            }
            (CycleLevel::Class, true, _) => {
                "locks of this one class, taken in orders that close a cycle"
            }
            (CycleLevel::Class, false, _) => {
                "locks of these classes, taken in orders that close a cycle"
            }
        };
        format!("found at run time by {who}: {what}")
    }

    /// What to do about it.
    pub fn advice(&self) -> &'static str {
        if self.one_class {
            "take the objects of this class in one order everywhere (by a key of theirs, such \
             as an id), or give them classes of their own (`Mutex::named`, one creation site \
             per role), whose order `lockgraph check` compares across processes"
        } else {
            "take these locks in one global order everywhere, or stop holding one while \
             requesting the next"
        }
    }
}
