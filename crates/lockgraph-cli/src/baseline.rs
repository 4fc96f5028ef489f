//! Baselines: the known cycles and order violations a check tolerates.
//!
//! `lockgraph baseline` writes one; `lockgraph check --baseline FILE` then
//! fails only on findings whose key is not in it. Keys are built from class
//! ids (`name:...`, `site:file:line:col`; anonymous classes read `anon`), never
//! from pids, executables or record paths, so a baseline stays valid across
//! runs and machines.
//!
//! ```json
//! {
//!   "lockgraph_baseline": 1,
//!   "cycles": [{ "key": "cycle:name:a -> name:b" }],
//!   "violations": [{ "key": "order:name:metrics -> name:model" }]
//! }
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The baseline format version.
pub const BASELINE_VERSION: u64 = 1;

/// One tolerated finding.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct BaselineEntry {
    /// The finding's stable key.
    pub key: String,
}

/// A baseline file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Baseline {
    /// The format version, [`BASELINE_VERSION`].
    pub lockgraph_baseline: u64,
    /// Tolerated cycles.
    #[serde(default)]
    pub cycles: Vec<BaselineEntry>,
    /// Tolerated order violations.
    #[serde(default)]
    pub violations: Vec<BaselineEntry>,
}

impl Baseline {
    /// A baseline of these keys (sorted, without duplicates).
    pub fn new<'a>(
        cycles: impl IntoIterator<Item = &'a str>,
        violations: impl IntoIterator<Item = &'a str>,
    ) -> Baseline {
        let entries = |keys: BTreeSet<&str>| {
            keys.into_iter()
                .map(|k| BaselineEntry { key: k.to_string() })
                .collect()
        };
        Baseline {
            lockgraph_baseline: BASELINE_VERSION,
            cycles: entries(cycles.into_iter().collect()),
            violations: entries(violations.into_iter().collect()),
        }
    }

    /// Whether the cycle with this key is tolerated.
    pub fn has_cycle(&self, key: &str) -> bool {
        self.cycles.iter().any(|e| e.key == key)
    }

    /// Whether the violation with this key is tolerated.
    pub fn has_violation(&self, key: &str) -> bool {
        self.violations.iter().any(|e| e.key == key)
    }

    /// The file's text: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
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
        serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            let msg = full
                .rfind(" at line ")
                .map_or(full.as_str(), |i| &full[..i]);
            let pos = (e.line() > 0).then(|| (e.line(), e.column()));
            err(pos, msg.to_string())
        })
    }

    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Baseline {
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
        let b = Baseline::new(["cycle:b", "cycle:a", "cycle:a"], ["order:x -> y"]);
        assert_eq!(b.cycles.len(), 2);
        assert_eq!(b.cycles[0].key, "cycle:a");
        let back = Baseline::parse(Path::new("b.json"), &b.to_json()).unwrap();
        assert_eq!(back, b);
        assert!(back.has_cycle("cycle:b"));
        assert!(!back.has_cycle("cycle:c"));
        assert!(back.has_violation("order:x -> y"));
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
        ] {
            let e = Baseline::parse(p, text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
