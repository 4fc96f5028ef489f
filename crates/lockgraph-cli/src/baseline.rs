//! Baselines: the known findings a check tolerates.
//!
//! `lockgraph baseline` writes one; `lockgraph check --baseline FILE` then
//! fails only on findings that are not in it. Keys are built from class ids
//! (`name:...`, `site:file:line:col`; anonymous classes, whose ids hold a
//! pid, read `anon@` and where the lock is taken, see
//! `ClassInfo::stable_key`), never from pids, executables or record paths,
//! so a baseline stays valid across runs and machines.
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

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

use crate::error::{line_col, Error};
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

    /// Whether the entry names a class plain `anon`, as entries for
    /// anonymous classes did before those were told apart by where they
    /// are taken (`anon@src/pool.rs:40:17`, see `ClassInfo::stable_key`):
    /// such an entry matches only anonymous classes the records say nothing
    /// of where.
    pub(crate) fn names_bare_anonymous(&self) -> bool {
        let body = self
            .key
            .strip_prefix(self.rule.key_prefix())
            .unwrap_or(&self.key);
        self.locks.iter().any(|l| l == "anon") || body.split(" -> ").any(|k| k == "anon")
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

#[derive(Serialize)]
struct EntryFile {
    key: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locks: Vec<String>,
}

#[derive(Serialize)]
struct BaselineFile {
    lockgraph_baseline: u64,
    cycles: Vec<EntryFile>,
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

    /// Parses a baseline; `path` names it in messages. A leading UTF-8
    /// byte-order mark is skipped (positions are counted after it, as
    /// editors show them).
    pub fn parse(path: &Path, text: &str) -> Result<Baseline, Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let fail = |position, message| invalid(path, position, message);
        if text.trim().is_empty() {
            return Err(fail(
                line_col(text, text.len()),
                "the file is empty: a baseline is a JSON object, as `lockgraph baseline` writes it"
                    .into(),
            ));
        }
        // The version first, so that a file of another version is named as
        // such rather than by whatever in it this version cannot read.
        let trail = Trail::default();
        let mut de = serde_json::Deserializer::from_str(text);
        Head(&trail)
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| {
                let (position, message) = explain(text, &e, &trail);
                fail(position, message)
            })?;
        let trail = Trail::default();
        let mut de = serde_json::Deserializer::from_str(text);
        let entries = Body(&trail)
            .deserialize(&mut de)
            .and_then(|entries| de.end().map(|()| entries))
            .map_err(|e| {
                let (position, message) = explain(text, &e, &trail);
                fail(position, message)
            })?;
        Ok(Baseline::new(entries))
    }

    /// Parses a baseline file's bytes: UTF-8 JSON (see [`Baseline::parse`]).
    pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Baseline, Error> {
        let fail = |position, message| invalid(path, position, message);
        if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
            return Err(fail(
                (1, 1),
                "UTF-16 text (it starts with a UTF-16 byte-order mark): a baseline is UTF-8 JSON"
                    .into(),
            ));
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Baseline::parse(path, text),
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                // The valid prefix is UTF-8 by definition.
                let prefix = std::str::from_utf8(good).unwrap_or_default();
                let prefix = prefix.strip_prefix('\u{feff}').unwrap_or(prefix);
                let message = match bytes.get(e.valid_up_to()) {
                    Some(b) if e.error_len().is_some() => {
                        format!("not UTF-8 text: byte 0x{b:02x} is not part of a UTF-8 character")
                    }
                    _ => "not UTF-8 text: the file ends inside a character".to_string(),
                };
                Err(fail(line_col(prefix, prefix.len()), message))
            }
        }
    }

    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, Error> {
        let bytes = crate::files::read_small(path).map_err(|e| Error::Baseline {
            path: path.to_path_buf(),
            position: None,
            message: format!("cannot read it: {}", crate::error::lower(&e)),
        })?;
        Baseline::parse_bytes(path, &bytes)
    }
}

/// A baseline error at a 1-based line and column.
fn invalid(path: &Path, position: (usize, usize), message: String) -> Error {
    Error::Baseline {
        path: path.to_path_buf(),
        position: Some(position),
        message,
    }
}

/// One step of the way to a value in the file: a field (the `n`th of that
/// name in its object, counting from 0) or a list's element.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Field(String, usize),
    Index(usize),
}

/// Where the parser is in the file (`cycles[2].key`): after an error, the
/// value it was reading. Each value's step is pushed before it is read and
/// popped once it was read.
#[derive(Default)]
struct Trail(RefCell<Vec<Step>>);

impl Trail {
    fn push(&self, step: Step) {
        self.0.borrow_mut().push(step);
    }

    fn pop(&self) {
        self.0.borrow_mut().pop();
    }

    /// The way as `cycles[2].key`; `None` at the top.
    fn shown(&self) -> Option<String> {
        let steps = self.0.borrow();
        let mut s = String::new();
        for step in steps.iter() {
            match step {
                Step::Field(name, _) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(name);
                }
                Step::Index(i) => {
                    let _ = write!(s, "[{i}]");
                }
            }
        }
        (!s.is_empty()).then_some(s)
    }
}

/// The 1-based position and the message of a parse error: a data error
/// (a wrong type, a missing field, a bad value) is placed at the start of
/// the value the trail names, an error of JSON itself where serde_json
/// stopped (the end of the file for a file that ends early).
fn explain(text: &str, e: &serde_json::Error, trail: &Trail) -> ((usize, usize), String) {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    let at = trail
        .shown()
        .map(|p| format!(" (at `{p}`)"))
        .unwrap_or_default();
    let stopped = || stopped_at(text, e.line(), e.column());
    if e.is_data() {
        let steps = trail.0.borrow();
        let position = locate(text, &steps).map_or_else(stopped, |o| line_col(text, o));
        (position, format!("{msg}{at}"))
    } else if e.is_eof() {
        (
            line_col(text, text.len()),
            format!("not JSON: the file ends early: {msg}{at}"),
        )
    } else {
        (stopped(), format!("not JSON: {msg}{at}"))
    }
}

/// The 1-based line and column of the character serde_json's error names.
/// Its column counts the bytes of the line up to and including that
/// character, so 0 means the newline that ended the line before.
fn stopped_at(text: &str, line: usize, column: usize) -> (usize, usize) {
    let start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    let end = start + column;
    if end == 0 {
        return (1, 1);
    }
    let mut offset = (end - 1).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    line_col(text, offset)
}

/// The byte offset of the value at `steps` in `text`, which is JSON at
/// least up to that value (serde_json read past it); `None` if it is not
/// there.
fn locate(text: &str, steps: &[Step]) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = skip_space(b, 0);
    for step in steps {
        match step {
            Step::Field(name, nth) => {
                if b.get(i) != Some(&b'{') {
                    return None;
                }
                i = skip_space(b, i + 1);
                let mut seen = 0;
                loop {
                    let key_end = string_end(b, i)?;
                    let key: String = serde_json::from_str(&text[i..key_end]).ok()?;
                    i = skip_space(b, key_end);
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i = skip_space(b, i + 1);
                    if key == *name {
                        if seen == *nth {
                            break;
                        }
                        seen += 1;
                    }
                    i = skip_space(b, value_end(b, i)?);
                    if b.get(i) != Some(&b',') {
                        return None;
                    }
                    i = skip_space(b, i + 1);
                }
            }
            Step::Index(n) => {
                if b.get(i) != Some(&b'[') {
                    return None;
                }
                i = skip_space(b, i + 1);
                for _ in 0..*n {
                    i = skip_space(b, value_end(b, i)?);
                    if b.get(i) != Some(&b',') {
                        return None;
                    }
                    i = skip_space(b, i + 1);
                }
            }
        }
    }
    (i < b.len()).then_some(i)
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The offset just after the string that starts at `i`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The offset just after the value that starts at `i` (nested values are
/// skipped with a depth count, not recursion).
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// What kind of JSON value `v` is, for messages.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The first reading: the top-level object and its version.
struct Head<'t>(&'t Trail);

impl<'de> DeserializeSeed<'de> for Head<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'t>(&'t Trail);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (a lockgraph baseline)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                let mut versions = 0;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "lockgraph_baseline" {
                        self.0.push(Step::Field(key, 0));
                        map.next_value::<IgnoredAny>()?;
                        self.0.pop();
                        continue;
                    }
                    self.0.push(Step::Field(key, versions));
                    if versions > 0 {
                        return Err(de::Error::custom("duplicate field `lockgraph_baseline`"));
                    }
                    versions += 1;
                    let v: serde_json::Value = map.next_value()?;
                    match v.as_u64() {
                        Some(BASELINE_VERSION) => {}
                        Some(n) => {
                            return Err(de::Error::custom(format!(
                                "unsupported baseline version {n} (this lockgraph reads version \
                                 {BASELINE_VERSION})"
                            )))
                        }
                        None => {
                            return Err(de::Error::custom(format!(
                                "`lockgraph_baseline` must be a version number, not {}",
                                json_kind(&v)
                            )))
                        }
                    }
                    self.0.pop();
                }
                if versions == 0 {
                    return Err(de::Error::custom(
                        "no `lockgraph_baseline` field: this is not a lockgraph baseline",
                    ));
                }
                Ok(())
            }
        }
        d.deserialize_map(V(self.0))
    }
}

/// The second reading: the entries.
struct Body<'t>(&'t Trail);

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Vec<BaselineEntry>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<BaselineEntry>, D::Error> {
        struct V<'t>(&'t Trail);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = Vec<BaselineEntry>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (a lockgraph baseline)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                let (mut cycles, mut violations) = (0, 0);
                while let Some(key) = map.next_key::<String>()? {
                    let (rule, seen) = match key.as_str() {
                        "cycles" => (Rule::Cycle, &mut cycles),
                        "violations" => (Rule::OrderViolation, &mut violations),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    self.0.push(Step::Field(key.clone(), *seen));
                    if *seen > 0 {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    *seen += 1;
                    out.extend(map.next_value_seed(Entries {
                        trail: self.0,
                        rule,
                    })?);
                    self.0.pop();
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(self.0))
    }
}

/// A list of entries of one rule.
struct Entries<'t> {
    trail: &'t Trail,
    rule: Rule,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = Vec<BaselineEntry>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<BaselineEntry>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = Vec<BaselineEntry>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of baseline entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            self.trail.push(Step::Index(out.len()));
            let entry = seq.next_element_seed(Entry {
                trail: self.trail,
                rule: self.rule,
            })?;
            self.trail.pop();
            match entry {
                Some(e) => out.push(e),
                None => return Ok(out),
            }
        }
    }
}

/// One entry: `key` (with the rule's prefix) and, for a cycle, `locks`.
struct Entry<'t> {
    trail: &'t Trail,
    rule: Rule,
}

impl<'de> DeserializeSeed<'de> for Entry<'_> {
    type Value = BaselineEntry;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<BaselineEntry, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entry<'_> {
    type Value = BaselineEntry;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a baseline entry (an object with a `key`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let trail = self.trail;
        let (mut key, mut locks): (Option<String>, Option<Vec<String>>) = (None, None);
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                "key" => {
                    trail.push(Step::Field(field, usize::from(key.is_some())));
                    if key.is_some() {
                        return Err(de::Error::custom("duplicate field `key`"));
                    }
                    let k: String = map.next_value()?;
                    let prefix = self.rule.key_prefix();
                    if !k.starts_with(prefix) {
                        return Err(de::Error::custom(format!(
                            "`{k}` is not a {} key (those start with `{prefix}`)",
                            match self.rule {
                                Rule::Cycle => "cycle",
                                Rule::OrderViolation => "violation",
                            },
                        )));
                    }
                    key = Some(k);
                    trail.pop();
                }
                "locks" => {
                    trail.push(Step::Field(field, usize::from(locks.is_some())));
                    if locks.is_some() {
                        return Err(de::Error::custom("duplicate field `locks`"));
                    }
                    locks = Some(map.next_value_seed(Locks(trail))?);
                    trail.pop();
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let key = key.ok_or_else(|| de::Error::custom("missing field `key`"))?;
        let locks = locks.unwrap_or_default();
        Ok(if self.rule == Rule::Cycle && !locks.is_empty() {
            BaselineEntry::cycle(key, locks)
        } else {
            match BaselineEntry::key(key) {
                Some(e) => e,
                // The prefix was checked above.
                None => return Err(de::Error::custom("not a finding's key")),
            }
        })
    }
}

/// A cycle's `locks`: class keys.
struct Locks<'t>(&'t Trail);

impl<'de> DeserializeSeed<'de> for Locks<'_> {
    type Value = Vec<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Locks<'_> {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of class keys")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            self.0.push(Step::Index(out.len()));
            let lock = seq.next_element::<String>()?;
            self.0.pop();
            match lock {
                Some(l) => out.push(l),
                None => return Ok(out),
            }
        }
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
            ("{}", "b.json:1:1: invalid baseline: no `lockgraph_baseline` field: this is not a lockgraph baseline"),
            (
                "{\"lockgraph_baseline\":2}",
                "b.json:1:23: invalid baseline: unsupported baseline version 2 (this lockgraph reads version 1) (at `lockgraph_baseline`)",
            ),
            (
                "{\"lockgraph_baseline\":\"1\"}",
                "b.json:1:23: invalid baseline: `lockgraph_baseline` must be a version number, not a string (at `lockgraph_baseline`)",
            ),
            (
                "{\"lockgraph_baseline\":1,\"cycles\":[{}]}",
                "b.json:1:35: invalid baseline: missing field `key` (at `cycles[0]`)",
            ),
            (
                "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"order:a -> b\"}]}",
                "b.json:1:42: invalid baseline: `order:a -> b` is not a cycle key (those start with `cycle:`) (at `cycles[0].key`)",
            ),
            (
                "{\"lockgraph_baseline\":1,\"violations\":[{\"key\":\"cycle:a\"}]}",
                "b.json:1:46: invalid baseline: `cycle:a` is not a violation key (those start with `order:`) (at `violations[0].key`)",
            ),
            (
                "[1]",
                "b.json:1:1: invalid baseline: invalid type: sequence, expected a JSON object (a lockgraph baseline)",
            ),
            (
                "{\"lockgraph_baseline\":1,\"lockgraph_baseline\":1}",
                "b.json:1:46: invalid baseline: duplicate field `lockgraph_baseline` (at `lockgraph_baseline`)",
            ),
            (
                "{\"lockgraph_baseline\":1,\"cycles\":[],\"cycles\":{}}",
                "b.json:1:46: invalid baseline: duplicate field `cycles` (at `cycles`)",
            ),
            (
                "{\"lockgraph_baseline\":1,\"cycles\":[{\"key\":\"cycle:a\"},]}",
                "b.json:1:53: invalid baseline: not JSON: expected value (at `cycles`)",
            ),
            (
                "{\"lockgraph_baseline\":1} x",
                "b.json:1:26: invalid baseline: not JSON: trailing characters",
            ),
        ] {
            let e = Baseline::parse(p, text).unwrap_err().to_string();
            assert_eq!(e, want, "{text}");
        }
    }

    /// serde_json says "line 1 column 0" for an empty file; every position
    /// here is 1-based and a character's, not a byte's.
    #[test]
    fn positions_are_one_based_characters() {
        let p = Path::new("b.json");
        let at = |text: &str| match Baseline::parse(p, text).unwrap_err() {
            Error::Baseline { position, .. } => position,
            e => panic!("{e}"),
        };
        assert_eq!(at(""), Some((1, 1)));
        assert_eq!(at("\n\n"), Some((3, 1)));
        // A file that ends early: its end.
        assert_eq!(at("{"), Some((1, 2)));
        assert_eq!(at("{\"lockgraph_baseline\": 1,\n"), Some((2, 1)));
        // A wrong type: the value, counted in characters (é is two bytes).
        let text = "{\n  \"é\": \"é\",\"lockgraph_baseline\": 1,\n  \"cycles\": [{\"key\": \"cycle:x\", \"locks\": [\"é\", 7]}]\n}";
        assert_eq!(at(text), Some((3, 48)));
        let e = Baseline::parse(p, text).unwrap_err().to_string();
        assert!(
            e.ends_with("invalid type: integer `7`, expected a string (at `cycles[0].locks[1]`)"),
            "{e}"
        );
        // A byte-order mark is not a column.
        assert_eq!(at("\u{feff}{\"lockgraph_baseline\": 2}"), Some((1, 24)));
        assert!(Baseline::parse(p, "\u{feff}{\"lockgraph_baseline\": 1}").is_ok());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_placed() {
        let p = Path::new("b.json");
        let e = Baseline::parse_bytes(p, b"{\n \"x\": \"\xc3\"}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "b.json:2:8: invalid baseline: not UTF-8 text: byte 0xc3 is not part of a UTF-8 character"
        );
        let e = Baseline::parse_bytes(p, b"{\"x\": \"\xc3").unwrap_err();
        assert_eq!(
            e.to_string(),
            "b.json:1:8: invalid baseline: not UTF-8 text: the file ends inside a character"
        );
        let e = Baseline::parse_bytes(p, b"\xff\xfe{\0").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("b.json:1:1: invalid baseline: UTF-16 text"),
            "{e}"
        );
    }

    #[test]
    fn a_value_is_found_by_its_trail() {
        let text = r#"{"a": {"b": [1, "x\"]", {"c": 2}]}, "a": [true, {"d": null}]}"#;
        let at = |steps: &[Step]| locate(text, steps).map(|o| &text[o..o + 4]);
        let f = |s: &str, n| Step::Field(s.into(), n);
        assert_eq!(at(&[f("a", 0), f("b", 0), Step::Index(2)]), Some("{\"c\""));
        assert_eq!(at(&[f("a", 1), Step::Index(1), f("d", 0)]), Some("null"));
        assert_eq!(at(&[f("a", 2)]), None);
        assert_eq!(at(&[f("a", 0), f("b", 0), Step::Index(9)]), None);
    }
}
