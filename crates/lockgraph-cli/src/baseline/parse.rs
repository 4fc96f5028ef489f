//! Reading a baseline file: every error names the file, a 1-based line and
//! column, and the field it is about (`cycles[0].locks[1]`). The JSON is
//! read twice with `serde` visitors that keep the trail of fields they are
//! in: the version first, so that a file of another version is named as
//! such, then the entries.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::locate::{locate, Step};
use super::*;
use crate::error::Error;
use crate::position::{json_error_at, json_message, line_col};

impl Baseline {
    /// Parses a baseline; `path` names it in messages. A leading UTF-8
    /// byte-order mark is skipped (positions are counted after it, as
    /// editors show them).
    pub fn parse(path: &Path, text: &str) -> Result<Baseline, Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let fail = |position, message| invalid(path, position, message);
        // JSON's own whitespace: any other character is something to read.
        if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
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
                let (position, message) = crate::files::not_utf8(bytes, e);
                Err(fail(position, message))
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
    let msg = json_message(e);
    let at = trail
        .shown()
        .map(|p| format!(" (at `{p}`)"))
        .unwrap_or_default();
    let stopped = || json_error_at(text, e).unwrap_or((1, 1));
    if e.is_data() {
        let steps = trail.0.borrow();
        let position = locate(text, &steps).map_or_else(stopped, |o| line_col(text, o));
        (position, format!("{msg}{at}"))
    } else if e.is_eof() {
        (
            stopped(),
            format!("not JSON: the file ends early: {msg}{at}"),
        )
    } else {
        (stopped(), format!("not JSON: {msg}{at}"))
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
                        // A number, but not a whole one of at least 0.
                        None if v.is_number() => {
                            return Err(de::Error::custom(format!(
                                "`lockgraph_baseline` must be a whole version number (this \
                                 lockgraph reads {BASELINE_VERSION}), not {v}"
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
        let (mut key, mut locks): (Option<String>, Option<Vec<(String, u64)>>) = (None, None);
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
            let entry = BaselineEntry::cycle_of_runs(key, locks);
            if !entry.key_agrees_with_locks() {
                return Err(de::Error::custom(format!(
                    "the entry's `key` ({}) and its `locks` ({}) name different cycles: the \
                     check would tolerate the key's cycle and count the locks' edges as \
                     baselined; correct one of them, or write the baseline again with \
                     `lockgraph baseline`",
                    entry.key,
                    entry.spelled().join(" -> ")
                )));
            }
            entry
        } else {
            match BaselineEntry::key(key) {
                Some(e) => e,
                // The prefix was checked above.
                None => return Err(de::Error::custom("not a finding's key")),
            }
        })
    }
}

/// A cycle's `locks`: class keys, each a string, or a run of locks of one
/// class, `{"class": ..., "count": 2}`.
struct Locks<'t>(&'t Trail);

impl<'de> DeserializeSeed<'de> for Locks<'_> {
    type Value = Vec<(String, u64)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Locks<'_> {
    type Value = Vec<(String, u64)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of class keys")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            self.0.push(Step::Index(out.len()));
            let lock = seq.next_element_seed(Lock(self.0))?;
            self.0.pop();
            match lock {
                Some(l) => out.push(l),
                None => return Ok(out),
            }
        }
    }
}

/// One lock of a cycle's `locks`: a class key, or a run.
struct Lock<'t>(&'t Trail);

impl<'de> DeserializeSeed<'de> for Lock<'_> {
    type Value = (String, u64);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Lock<'_> {
    type Value = (String, u64);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a class key (a string) or a run of locks (`{\"class\": ..., \"count\": 2}`)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((v.to_string(), 1))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut class, mut count): (Option<String>, Option<u64>) = (None, None);
        while let Some(field) = map.next_key::<String>()? {
            let seen = match field.as_str() {
                "class" => class.is_some(),
                "count" => count.is_some(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            self.0.push(Step::Field(field.clone(), usize::from(seen)));
            if seen {
                return Err(de::Error::custom(format!("duplicate field `{field}`")));
            }
            if field == "class" {
                class = Some(map.next_value()?);
            } else {
                let n: u64 = map.next_value()?;
                if n == 0 {
                    return Err(de::Error::custom(
                        "a run of 0 locks (a count is 1 at least)",
                    ));
                }
                count = Some(n);
            }
            self.0.pop();
        }
        let class = class.ok_or_else(|| de::Error::custom("missing field `class`"))?;
        let count = count.ok_or_else(|| de::Error::custom("missing field `count`"))?;
        Ok((class, count))
    }
}
