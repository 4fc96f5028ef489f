//! Baselines: the known findings a check tolerates.
//!
//! `lockgraph baseline` writes one; `lockgraph check --baseline FILE` then
//! fails only on findings that are not in it. Keys are built from class ids
//! (`name:...`, `site:file:line:col`; anonymous classes read `anon`), never
//! from pids, executables or record paths, so a baseline stays valid across
//! runs and machines.
//!
//! A cycle entry also lists its locks' class ids, in cycle order. A
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

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;
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
    /// or else read from the key).
    pub locks: Vec<String>,
}

impl BaselineEntry {
    /// A tolerated cycle through `locks` (stable keys, in cycle order).
    pub fn cycle(key: impl Into<String>, locks: Vec<String>) -> BaselineEntry {
        BaselineEntry {
            rule: Rule::Cycle,
            key: key.into(),
            locks,
        }
    }

    /// A tolerated finding known by its key only.
    pub fn key(key: impl Into<String>) -> Option<BaselineEntry> {
        let key = key.into();
        let rule = Rule::of_key(&key)?;
        let locks = match rule {
            // Class ids could hold " -> " themselves; baselines written by
            // lockgraph list the locks, so this reading is for older ones.
            Rule::Cycle => key["cycle:".len()..]
                .split(" -> ")
                .map(str::to_string)
                .collect(),
            Rule::OrderViolation => Vec::new(),
        };
        Some(BaselineEntry { rule, key, locks })
    }

    /// The cycle's edges as pairs of stable keys (the last one closing it).
    pub fn cycle_edges(&self) -> impl Iterator<Item = (&str, &str)> {
        let n = self.locks.len();
        (0..n).map(move |i| (self.locks[i].as_str(), self.locks[(i + 1) % n].as_str()))
    }
}

/// A baseline file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    entries: BTreeMap<String, BaselineEntry>,
}

#[derive(Serialize, Deserialize)]
struct EntryFile {
    key: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    locks: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct BaselineFile {
    lockgraph_baseline: u64,
    #[serde(default)]
    cycles: Vec<EntryFile>,
    #[serde(default)]
    violations: Vec<EntryFile>,
}

impl Baseline {
    /// A baseline of these entries (one per key).
    pub fn new(entries: impl IntoIterator<Item = BaselineEntry>) -> Baseline {
        Baseline {
            entries: entries.into_iter().map(|e| (e.key.clone(), e)).collect(),
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
                    locks: e.locks.clone(),
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

    /// Parses a baseline; `path` names it in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Baseline, Error> {
        let err = |position: Option<(usize, usize)>, message: String| Error::Baseline {
            path: path.to_path_buf(),
            position,
            message,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            let msg = full
                .rfind(" at line ")
                .map_or(full.as_str(), |i| &full[..i]);
            err(Some((e.line(), e.column())), format!("not JSON: {msg}"))
        })?;
        match value.get("lockgraph_baseline").map(|v| v.as_u64()) {
            None => {
                return Err(err(
                    None,
                    "no `lockgraph_baseline` field: this is not a lockgraph baseline".into(),
                ))
            }
            Some(Some(BASELINE_VERSION)) => {}
            Some(Some(v)) => {
                return Err(err(
                    None,
                    format!(
                        "unsupported baseline version {v} (this lockgraph reads version {BASELINE_VERSION})"
                    ),
                ))
            }
            Some(None) => {
                return Err(err(
                    None,
                    "`lockgraph_baseline` must be a version number".into(),
                ))
            }
        }
        let file: BaselineFile = serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            let msg = full
                .rfind(" at line ")
                .map_or(full.as_str(), |i| &full[..i]);
            let pos = (e.line() > 0).then(|| (e.line(), e.column()));
            err(pos, msg.to_string())
        })?;
        let mut entries = Vec::new();
        for (rule, list) in [
            (Rule::Cycle, file.cycles),
            (Rule::OrderViolation, file.violations),
        ] {
            for e in list {
                if !e.key.starts_with(rule.key_prefix()) {
                    return Err(err(
                        None,
                        format!(
                            "`{}` is not a {} key (those start with `{}`)",
                            e.key,
                            match rule {
                                Rule::Cycle => "cycle",
                                Rule::OrderViolation => "violation",
                            },
                            rule.key_prefix()
                        ),
                    ));
                }
                let entry = if rule == Rule::Cycle && !e.locks.is_empty() {
                    BaselineEntry::cycle(e.key, e.locks)
                } else {
                    BaselineEntry::key(e.key).expect("the prefix was checked")
                };
                entries.push(entry);
            }
        }
        Ok(Baseline::new(entries))
    }

    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, Error> {
        let text = crate::files::read_small_text(path).map_err(|e| Error::Baseline {
            path: path.to_path_buf(),
            position: None,
            message: format!("cannot read it: {}", crate::error::lower(&e)),
        })?;
        Baseline::parse(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lookup() {
        let b = Baseline::new([
            BaselineEntry::key("cycle:name:b -> name:c").unwrap(),
            BaselineEntry::cycle(
                "cycle:name:a -> name:b",
                vec!["name:a".into(), "name:b".into()],
            ),
            BaselineEntry::key("cycle:name:a -> name:b").unwrap(),
            BaselineEntry::key("order:x -> y").unwrap(),
        ]);
        assert_eq!(b.of_rule(Rule::Cycle).count(), 2);
        assert_eq!(b.entries().next().unwrap().key, "cycle:name:a -> name:b");
        let back = Baseline::parse(Path::new("b.json"), &b.to_json()).unwrap();
        assert_eq!(back, b);
        assert!(back.contains("cycle:name:b -> name:c"));
        assert!(!back.contains("cycle:name:c"));
        assert!(back.contains("order:x -> y"));
        let edges = back.covered_edges();
        assert!(edges.contains(&("name:c", "name:b")));
        assert!(edges.contains(&("name:a", "name:b")));
        assert!(!edges.contains(&("name:a", "name:c")));
    }

    #[test]
    fn bad_baselines_are_errors() {
        let p = Path::new("b.json");
        for (text, want) in [
            ("{", "b.json:1:1: invalid baseline: not JSON"),
            ("{}", "not a lockgraph baseline"),
            (
                "{\"lockgraph_baseline\":2}",
                "unsupported baseline version 2",
            ),
            (
                "{\"lockgraph_baseline\":1,\"cycles\":[{}]}",
                "missing field `key`",
            ),
            (
                "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"order:a -> b\"}]}",
                "`order:a -> b` is not a cycle key (those start with `cycle:`)",
            ),
        ] {
            let e = Baseline::parse(p, text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
