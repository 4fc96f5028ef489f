//! Which value of a JSON line a typed parse failed on: `hold`,
//! `from.class`, `gates[2]`. serde_json says what is wrong (`invalid type:
//! integer 5, expected a string`) and where it stopped, but not in which
//! field; a record line has twenty, and two of them are strings in a
//! `from` and a `to` object.
//!
//! The field is found with the typed parse itself, so that nothing here
//! repeats the format: the values of a *template* (a line that parses) are
//! put in place of the line's own, and the first value, in the line's
//! order, that the parse cannot take with the values before it kept and
//! those after it replaced is the one to blame (serde reports the first
//! bad value in the same order). Then the same inside it, for an object or
//! an array. A field the line lacks is found the same way, by leaving out
//! the template's values one at a time. Each step is a binary search: a
//! line of thousands of frames takes a few dozen parses, on the error path
//! only.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The value a parse failed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Blame {
    /// A value that is there, and wrong (its path).
    Wrong(String),
    /// A field that is not there (its path).
    Missing(String),
}

/// The field or element a typed parse of `line` (one JSON value) fails on,
/// with `template` a line that `parses` takes, its fields in the order the
/// type declares them (serde names the first missing one in that order);
/// `None` when `line` or `template` is not JSON, when `line` parses, or
/// when no one value is to blame (a duplicate field, say).
pub(crate) fn blame(
    line: &[u8],
    template: &[u8],
    parses: &dyn Fn(&Value) -> bool,
) -> Option<Blame> {
    let tree: Tree = serde_json::from_slice(line).ok()?;
    let template: Tree = serde_json::from_slice(template).ok()?;
    let mut doc = tree.to_value();
    if parses(&doc) || !parses(&template.to_value()) {
        return None;
    }
    let mut path = Vec::new();
    let mut node = &tree;
    loop {
        // A field the template lacks (an optional one) is searched no
        // further.
        let found = match (node, template.at(&path)) {
            (Tree::Object(own), Some(Tree::Object(t))) => {
                in_object(&mut doc, &path, own, t, parses)
            }
            (Tree::Array(own), Some(Tree::Array(t))) => {
                in_array(&mut doc, &path, own, t.first(), parses)
            }
            _ => None,
        };
        match found {
            Some(Found::Inside(step, child)) => {
                path.push(step);
                node = child;
            }
            Some(Found::Missing(key)) => {
                path.push(Step::Key(key));
                return Some(Blame::Missing(show(&path)));
            }
            None if path.is_empty() => return None,
            None => return Some(Blame::Wrong(show(&path))),
        }
    }
}

/// One step of a path.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn show(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// What one node's search found.
enum Found<'t> {
    /// This member is to blame, or something inside it.
    Inside(Step, &'t Tree),
    /// This field of the template is missing.
    Missing(String),
}

/// `doc`'s value at `path`.
fn at_mut<'v>(mut v: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    for step in path {
        v = match step {
            Step::Key(k) => v.get_mut(k)?,
            Step::Index(i) => v.get_mut(*i)?,
        };
    }
    Some(v)
}

/// Whether `doc` parses with `v` at `path`.
fn parses_with(doc: &mut Value, path: &[Step], v: Value, parses: &dyn Fn(&Value) -> bool) -> bool {
    match at_mut(doc, path) {
        Some(slot) => {
            *slot = v;
            parses(doc)
        }
        None => false,
    }
}

/// The smallest `i < n` for which `fails(i)`, where `fails` is monotone
/// (false, then true); `None` when `fails(n - 1)` is false.
fn first_failing(n: usize, mut fails: impl FnMut(usize) -> bool) -> Option<usize> {
    if n == 0 || !fails(n - 1) {
        return None;
    }
    let (mut lo, mut hi) = (0, n - 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

fn in_object<'t>(
    doc: &mut Value,
    path: &[Step],
    own: &'t [(String, Tree)],
    template: &[(String, Tree)],
    parses: &dyn Fn(&Value) -> bool,
) -> Option<Found<'t>> {
    let of_template = |k: &str| {
        template
            .iter()
            .find(|(t, _)| t == k)
            .map(|(_, v)| v.to_value())
    };
    // The object with its first `keep` members as they are, the others as
    // the template has them, and the template's fields the line lacks: all
    // of them, or all but `leave_out`.
    let object = |keep: usize, leave_out: Option<&str>| {
        let mut m = Map::new();
        for (i, (k, v)) in own.iter().enumerate() {
            // A member the template lacks (an optional or unknown field) is
            // left out once it is past `keep`.
            let value = if i < keep {
                Some(v.to_value())
            } else {
                of_template(k)
            };
            if let Some(value) = value {
                m.insert(k.clone(), value);
            }
        }
        for (k, v) in template {
            if !m.contains_key(k) && leave_out != Some(k) {
                m.insert(k.clone(), v.to_value());
            }
        }
        Value::Object(m)
    };
    let bad = first_failing(own.len(), |i| {
        !parses_with(doc, path, object(i + 1, None), parses)
    });
    if let Some(i) = bad {
        // Those before it as they are, those after it fixed: the search goes
        // on inside it.
        parses_with(doc, path, object(i + 1, None), parses);
        let (k, v) = &own[i];
        return Some(Found::Inside(Step::Key(k.clone()), v));
    }
    let (missing, _) = template
        .iter()
        .filter(|(k, _)| !own.iter().any(|(o, _)| o == k))
        .find(|(k, _)| !parses_with(doc, path, object(own.len(), Some(k)), parses))?;
    Some(Found::Missing(missing.clone()))
}

fn in_array<'t>(
    doc: &mut Value,
    path: &[Step],
    own: &'t [Tree],
    template: Option<&Tree>,
    parses: &dyn Fn(&Value) -> bool,
) -> Option<Found<'t>> {
    let template = template?.to_value();
    let array = |keep: usize| {
        Value::Array(
            own.iter()
                .enumerate()
                .map(|(i, v)| {
                    if i < keep {
                        v.to_value()
                    } else {
                        template.clone()
                    }
                })
                .collect(),
        )
    };
    let i = first_failing(own.len(), |i| !parses_with(doc, path, array(i + 1), parses))?;
    parses_with(doc, path, array(i + 1), parses);
    Some(Found::Inside(Step::Index(i), &own[i]))
}

/// A JSON value that keeps its objects' members in the line's order
/// (duplicates too), which `serde_json::Value` does not.
enum Tree {
    Object(Vec<(String, Tree)>),
    Array(Vec<Tree>),
    Scalar(Value),
}

impl Tree {
    /// The value at `path` (every element of an array as its first: the
    /// template's arrays stand for any length).
    fn at(&self, path: &[Step]) -> Option<&Tree> {
        let mut v = self;
        for step in path {
            v = match (step, v) {
                (Step::Key(k), Tree::Object(m)) => &m.iter().find(|(o, _)| o == k)?.1,
                (Step::Index(_), Tree::Array(items)) => items.first()?,
                _ => return None,
            };
        }
        Some(v)
    }

    fn to_value(&self) -> Value {
        match self {
            Tree::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
            Tree::Array(items) => Value::Array(items.iter().map(Tree::to_value).collect()),
            Tree::Scalar(v) => v.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tree, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tree;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Tree>()? {
                    members.push((k, v));
                }
                Ok(Tree::Object(members))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<Tree>()? {
                    items.push(v);
                }
                Ok(Tree::Array(items))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::Bool(v)))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::from(v)))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::from(v)))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::from(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::from(v)))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Inner {
        class: String,
        kind: String,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Line {
        a: String,
        from: Inner,
        to: Inner,
        list: Vec<String>,
        n: u64,
        #[serde(default)]
        opt: Option<String>,
    }

    const TEMPLATE: &str = r#"{"a":"x","from":{"class":"c","kind":"k"},"to":{"class":"c","kind":"k"},"list":["f"],"n":1}"#;

    fn of(line: &str) -> Option<Blame> {
        blame(line.as_bytes(), TEMPLATE.as_bytes(), &|v| {
            Line::deserialize(v).is_ok()
        })
    }

    fn wrong(p: &str) -> Option<Blame> {
        Some(Blame::Wrong(p.into()))
    }

    fn missing(p: &str) -> Option<Blame> {
        Some(Blame::Missing(p.into()))
    }

    #[test]
    fn the_field_nested_field_or_element_is_named() {
        let ok = r#"{"a":"y","from":{"class":"p","kind":"q"},"to":{"class":"r","kind":"s"},"list":["1","2","3"],"n":4,"extra":[1]}"#;
        assert_eq!(of(ok), None);
        for (find, put, want) in [
            (r#""n":4"#, r#""n":-4"#, wrong("n")),
            (r#""a":"y""#, r#""a":5"#, wrong("a")),
            (r#""class":"r""#, r#""class":null"#, wrong("to.class")),
            (r#""class":"p""#, r#""klass":"p""#, missing("from.class")),
            (r#""2""#, "2", wrong("list[1]")),
            (r#""list":["1","2","3"]"#, r#""list":{}"#, wrong("list")),
            (r#""to":{"class":"r","kind":"s"}"#, r#""to":5"#, wrong("to")),
            (r#""n":4,"#, "", missing("n")),
            (r#""extra":[1]"#, r#""opt":7"#, wrong("opt")),
        ] {
            let line = ok.replace(find, put);
            assert_eq!(of(&line), want, "{line}");
        }
    }

    /// serde names the first bad value in the line's order; so does this,
    /// whatever order the fields come in.
    #[test]
    fn the_first_bad_value_in_the_lines_order_is_named() {
        let line = r#"{"n":"4","list":[1],"a":"y","from":{"kind":5,"class":6},"to":{"class":"r","kind":"s"}}"#;
        assert_eq!(of(line), wrong("n"));
        let line = r#"{"list":["x",1,2],"n":"4","a":"y","from":{"kind":5,"class":6},"to":{"class":"r","kind":"s"}}"#;
        assert_eq!(of(line), wrong("list[1]"));
        let line = r#"{"from":{"kind":5,"class":6},"n":"4","a":"y","list":[],"to":{"class":"r","kind":"s"}}"#;
        assert_eq!(of(line), wrong("from.kind"));
        // Missing fields in the template's order, which is the type's, as
        // serde names them.
        let line = r#"{"n":4,"a":"y"}"#;
        let e = serde_json::from_str::<Line>(line).err().unwrap();
        assert!(e.to_string().starts_with("missing field `from`"), "{e}");
        assert_eq!(of(line), missing("from"));
    }

    #[test]
    fn not_json_or_nothing_to_blame_is_none() {
        assert_eq!(of("{\"a\":"), None);
        assert_eq!(of("[1]"), None);
        // A duplicate field fails serde's parse but not the value's.
        let dup = r#"{"a":"y","a":"z","from":{"class":"p","kind":"q"},"to":{"class":"r","kind":"s"},"list":[],"n":4}"#;
        assert!(serde_json::from_str::<Line>(dup).is_err());
        assert_eq!(of(dup), None);
    }

    /// Thousands of elements: a binary search, not a parse per element.
    #[test]
    fn a_long_array_takes_few_parses() {
        let mut items: Vec<String> = (0..5000).map(|i| format!("\"{i}\"")).collect();
        items[3777] = "null".into();
        let line = format!(
            r#"{{"a":"y","from":{{"class":"p","kind":"q"}},"to":{{"class":"r","kind":"s"}},"list":[{}],"n":4}}"#,
            items.join(",")
        );
        let count = std::cell::Cell::new(0);
        let got = blame(line.as_bytes(), TEMPLATE.as_bytes(), &|v| {
            count.set(count.get() + 1);
            Line::deserialize(v).is_ok()
        });
        assert_eq!(got, wrong("list[3777]"));
        assert!(count.get() < 40, "{} parses", count.get());
    }
}
