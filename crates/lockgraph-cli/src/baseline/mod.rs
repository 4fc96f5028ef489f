//! Baselines: the known findings a check tolerates.
//!
//! `lockgraph baseline` writes one; `lockgraph check --baseline FILE` then
//! fails only on findings that are not in it. Keys are built from class ids
//! (`name:...`, `site:file:line:col`; anonymous classes read `anon`, see
//! `ClassInfo::stable_key`), never from pids, executables or record paths,
//! so a baseline stays valid across runs and machines. A dependency's site
//! is in its machine-independent form (`lockgraph_core::site_key`), also
//! in entries of baselines written before the runtime wrote it so: they
//! are read in that form.
//!
//! A cycle entry also lists its locks' class ids, in cycle order: a run of
//! locks of one class (a chain of per-object locks a process found at run
//! time) once, as `{"class": ..., "count": 200000}`, as its key writes it
//! once (`C * 200000`), so that neither grows with the chain. A
//! baseline written by `lockgraph baseline` holds, for every component of
//! the class graph, its reported cycle and enough further cycles to cover
//! every edge of it that lies on a deadlock-capable cycle. A new cycle in a
//! baselined component must use an edge that no baselined cycle has, and is
//! reported (see `cycles.rs`).
//!
//! ```json
//! {
//!   "lockgraph_baseline": 1,
//!   "cycles": [{ "key": "cycle:name:a -> name:b", "locks": ["name:a", "name:b"] }],
//!   "violations": [{ "key": "order:name:metrics -> name:model" }]
//! }
//! ```
//!
//! Reading one, with the position and field of whatever is wrong in it,
//! is `parse.rs`.

mod locate;
mod parse;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use lockgraph_core::site_key;
use serde::Serialize;

use crate::report::Rule;

/// The baseline format version.
pub const BASELINE_VERSION: u64 = 1;

/// One tolerated finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct BaselineEntry {
    /// The finding's rule (from its key's prefix).
    pub rule: Rule,
    /// The finding's stable key.
    pub key: String,
    /// For a cycle, its locks' stable keys in cycle order (from the file,
    /// or else read from the key), a run of one class once.
    pub locks: Vec<String>,
    /// How many consecutive locks each of `locks` stands for (a run), in
    /// the same order; empty when each stands for one.
    pub counts: Vec<u64>,
}

/// A run of `count` locks of the class `class` (a stable key) as a cycle's
/// key writes it: the class, and ` * count` for two or more.
pub fn run_key(class: &str, count: u64) -> String {
    if count > 1 {
        format!("{class} * {count}")
    } else {
        class.to_string()
    }
}

/// A part of a cycle's key between ` -> `s read back: the class and how
/// many locks of it in a row ([`run_key`]).
fn split_run(part: &str) -> (&str, u64) {
    part.rsplit_once(" * ")
        .and_then(|(class, n)| {
            let plain = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
            let n: u64 = n.parse().ok().filter(|_| plain)?;
            (n > 1).then_some((class, n))
        })
        .unwrap_or((part, 1))
}

/// `counts` as an entry keeps them: empty when every run is one lock.
fn runs_kept(counts: Vec<u64>) -> Vec<u64> {
    if counts.iter().all(|&c| c == 1) {
        Vec::new()
    } else {
        counts
    }
}

impl BaselineEntry {
    /// A tolerated cycle through `locks` (stable keys, in cycle order).
    pub fn cycle(key: impl Into<String>, locks: Vec<String>) -> BaselineEntry {
        BaselineEntry {
            rule: Rule::Cycle,
            key: key.into(),
            locks,
            counts: Vec::new(),
        }
    }

    /// A tolerated cycle through runs of locks (a stable key and how many
    /// locks of it in a row), in cycle order.
    pub fn cycle_of_runs(key: impl Into<String>, runs: Vec<(String, u64)>) -> BaselineEntry {
        let (locks, counts) = runs.into_iter().unzip();
        BaselineEntry {
            rule: Rule::Cycle,
            key: key.into(),
            locks,
            counts: runs_kept(counts),
        }
    }

    /// How many locks in a row `locks[i]` stands for.
    pub fn count(&self, i: usize) -> u64 {
        self.counts.get(i).copied().unwrap_or(1)
    }

    /// Whether a lock of the entry stands for a run of two or more: a
    /// cycle found at run time, which the class graph, whose cycles pass
    /// each class once, never holds.
    pub fn has_runs(&self) -> bool {
        !self.counts.is_empty()
    }

    /// The locks as the key writes them ([`run_key`]).
    fn spelled(&self) -> Vec<String> {
        (self.locks.iter().enumerate())
            .map(|(i, l)| run_key(l, self.count(i)))
            .collect()
    }

    /// A tolerated finding known by its key only.
    pub fn key(key: impl Into<String>) -> Option<BaselineEntry> {
        let key = key.into();
        let rule = Rule::of_key(&key)?;
        let (locks, counts) = match rule {
            // Class ids could hold " -> " (or end in " * 2") themselves;
            // baselines written by lockgraph list the locks, so this
            // reading is for older ones.
            Rule::Cycle => key["cycle:".len()..]
                .split(" -> ")
                .map(|part| {
                    let (class, n) = split_run(part);
                    (class.to_string(), n)
                })
                .unzip(),
            Rule::OrderViolation => (Vec::new(), Vec::new()),
        };
        Some(BaselineEntry {
            rule,
            key,
            locks,
            counts: runs_kept(counts),
        })
    }

    /// Whether the entry names an anonymous class (`anon`): one that no
    /// record tells apart from any other, so that the entry tolerates every
    /// finding of its shape through such classes, not only the one it was
    /// written for.
    pub(crate) fn names_anonymous(&self) -> bool {
        let body = self
            .key
            .strip_prefix(self.rule.key_prefix())
            .unwrap_or(&self.key);
        self.locks.iter().any(|l| l == "anon")
            || body.split(" -> ").any(|k| split_run(k).0 == "anon")
    }

    /// The entry with the dependency sites in its class ids in the
    /// machine-independent form the runtime writes now
    /// (`lockgraph_core::site_key`), so that a baseline written from older
    /// records still matches. A cycle whose key spells out its locks, from
    /// any of them (a hand-edited entry, say), is rotated to start at the
    /// lock that sorts first, key and locks, as the check names cycles: its
    /// key is then the one the check compares (it was counted as recorded
    /// again, by its locks, and did not tolerate the cycle, by its key).
    /// Such a key's locks of one class in a row are made one run, as the
    /// check writes them (`cycle:C -> C`, from before runs were written
    /// once, reads `cycle:C * 2`); not anonymous ones, which may be
    /// different classes.
    fn portable(mut self) -> BaselineEntry {
        let spelled_out = self.rule == Rule::Cycle
            && self
                .key
                .strip_prefix(self.rule.key_prefix())
                .is_some_and(|body| is_rotation(body, &self.spelled()));
        for lock in &mut self.locks {
            if let Cow::Owned(id) = site_key::class_id(lock) {
                *lock = id;
            }
        }
        if spelled_out {
            self.join_runs();
            rotate_to_first(&mut self.locks, &mut self.counts);
            self.key = key_of_cycle(&self.spelled());
        } else if let Some(key) = portable_key(&self.key, self.rule.key_prefix()) {
            self.key = key;
        }
        self
    }

    /// Makes each run of one class id in a row (not `anon`) one lock
    /// with its count.
    fn join_runs(&mut self) {
        let joins = (self.locks.windows(2)).any(|w| w[0] == w[1] && w[0] != "anon");
        if !joins {
            return;
        }
        let mut runs: Vec<(String, u64)> = Vec::with_capacity(self.locks.len());
        for (i, l) in self.locks.iter().enumerate() {
            let n = self.count(i);
            match runs.last_mut() {
                Some((last, count)) if last == l && l != "anon" => *count += n,
                _ => runs.push((l.clone(), n)),
            }
        }
        let (locks, counts) = runs.into_iter().unzip();
        self.locks = locks;
        self.counts = runs_kept(counts);
    }

    /// Whether a cycle entry's key names the cycle its `locks` make (from
    /// any of them on, as a hand-edited key may), both read in
    /// machine-independent form. An entry without `locks` (read from its
    /// key) agrees. One that does not would tolerate one cycle by its key
    /// and cover the edges of another by its locks.
    pub(crate) fn key_agrees_with_locks(&self) -> bool {
        let prefix = self.rule.key_prefix();
        if self.rule != Rule::Cycle || self.locks.is_empty() {
            return true;
        }
        let key = portable_key(&self.key, prefix).unwrap_or_else(|| self.key.clone());
        let Some(body) = key.strip_prefix(prefix) else {
            return true;
        };
        let locks: Vec<String> = (self.locks.iter().enumerate())
            .map(|(i, l)| run_key(&site_key::class_id(l), self.count(i)))
            .collect();
        is_rotation(body, &locks)
    }

    /// The cycle's edges as pairs of stable keys (the last one closing
    /// it), each once: a run's edges between its own locks are one.
    pub fn cycle_edges(&self) -> impl Iterator<Item = (&str, &str)> {
        let n = self.locks.len();
        (0..n).flat_map(move |i| {
            let me = self.locks[i].as_str();
            let inside = (self.count(i) > 1).then_some((me, me));
            inside
                .into_iter()
                .chain([(me, self.locks[(i + 1) % n].as_str())])
        })
    }
}

/// The key of a cycle through `locks` (as the key writes each,
/// [`run_key`]), as the check writes it.
fn key_of_cycle(locks: &[String]) -> String {
    format!("{}{}", Rule::Cycle.key_prefix(), locks.join(" -> "))
}

/// `key` (`prefix`, then class ids joined by ` -> `) with each class id in
/// machine-independent form; `None` when none changes.
fn portable_key(key: &str, prefix: &str) -> Option<String> {
    let body = key.strip_prefix(prefix)?;
    let mut changed = false;
    let ids: Vec<String> = body
        .split(" -> ")
        .map(|part| {
            let (id, n) = split_run(part);
            let id = site_key::class_id(id);
            changed |= matches!(id, Cow::Owned(_));
            run_key(&id, n)
        })
        .collect();
    changed.then(|| format!("{prefix}{}", ids.join(" -> ")))
}

/// Whether `body` (class ids joined by ` -> `) is `locks` from one of them
/// on, the same cycle.
/// (Compared as text, so that a class id holding ` -> ` itself is read
/// whole.)
fn is_rotation(body: &str, locks: &[String]) -> bool {
    let n = locks.len();
    n > 0
        && (0..n).any(|r| {
            let mut rest = body;
            (0..n).all(|i| {
                let sep = if i == 0 { "" } else { " -> " };
                match rest
                    .strip_prefix(sep)
                    .and_then(|t| t.strip_prefix(locks[(i + r) % n].as_str()))
                {
                    Some(t) => {
                        rest = t;
                        true
                    }
                    None => false,
                }
            }) && rest.is_empty()
        })
}

/// Rotates a cycle to start at the lock that sorts first, its runs'
/// counts (if any) along.
fn rotate_to_first(locks: &mut [String], counts: &mut [u64]) {
    if let Some(first) = (0..locks.len()).min_by(|&a, &b| locks[a].cmp(&locks[b])) {
        locks.rotate_left(first);
        if counts.len() == locks.len() {
            counts.rotate_left(first);
        }
    }
}

/// A baseline file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    entries: BTreeMap<String, BaselineEntry>,
}

#[derive(Serialize)]
struct EntryFile {
    key: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locks: Vec<LockFile>,
}

/// A lock of a cycle entry in the file: its class, or a run of them.
#[derive(Serialize)]
#[serde(untagged)]
enum LockFile {
    One(String),
    Run { class: String, count: u64 },
}

#[derive(Serialize)]
struct BaselineFile {
    lockgraph_baseline: u64,
    cycles: Vec<EntryFile>,
    violations: Vec<EntryFile>,
}

impl Baseline {
    /// A baseline of these entries (one per key), their class ids in
    /// machine-independent form: a dependency's site named by its path
    /// under `CARGO_HOME`, as in baselines written before lockgraph wrote
    /// it without, reads as the runtime writes it now.
    pub fn new(entries: impl IntoIterator<Item = BaselineEntry>) -> Baseline {
        Baseline {
            entries: entries
                .into_iter()
                .map(BaselineEntry::portable)
                .map(|e| (e.key.clone(), e))
                .collect(),
        }
    }

    /// Every entry, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = &BaselineEntry> {
        self.entries.values()
    }

    /// The entries of one rule, sorted by key.
    pub fn of_rule(&self, rule: Rule) -> impl Iterator<Item = &BaselineEntry> {
        self.entries.values().filter(move |e| e.rule == rule)
    }

    /// Whether the finding with this key is tolerated.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Every edge of every baselined cycle, as pairs of stable keys.
    pub(crate) fn covered_edges(&self) -> HashSet<(&str, &str)> {
        self.of_rule(Rule::Cycle)
            .flat_map(BaselineEntry::cycle_edges)
            .collect()
    }

    /// The file's text: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        let file = |rule| {
            self.of_rule(rule)
                .map(|e| EntryFile {
                    key: e.key.clone(),
                    locks: (e.locks.iter().enumerate())
                        .map(|(i, l)| match e.count(i) {
                            1 => LockFile::One(l.clone()),
                            count => LockFile::Run {
                                class: l.clone(),
                                count,
                            },
                        })
                        .collect(),
                })
                .collect()
        };
        let f = BaselineFile {
            lockgraph_baseline: BASELINE_VERSION,
            cycles: file(Rule::Cycle),
            violations: file(Rule::OrderViolation),
        };
        let mut s = serde_json::to_string_pretty(&f).unwrap_or_default();
        s.push('\n');
        s
    }
}
