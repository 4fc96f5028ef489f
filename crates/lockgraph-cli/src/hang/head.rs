//! What a line skipped for a limit is, from its first bytes. The runtime
//! writes every record's `"lockgraph_watchdog"` and `"kind"` first, then
//! its `"pid"`, and a report's `"summary"`, `"advice"` and `"cycle"` before
//! its threads (`lockgraph-core`'s `watchdog/json.rs`), so the first
//! [`HEAD_BYTES`] of a line too long to read or parse say which record it
//! is, and a deadlock or long-wait report on it still counts. A line whose
//! first bytes end before they say is [`Head::Unknown`]: it may be a
//! report, and the verdict may miss it; so may a record of another version
//! ([`Head::Version`]).

use serde_json::{Map, Value};

/// How much of a line skipped for a limit is kept to read what it is.
pub(super) const HEAD_BYTES: usize = 64 << 10;

/// The top-level fields read from a head (the rest are skipped): what the
/// verdict and the process's identity need.
const FIELDS: [&str; 10] = [
    "lockgraph_watchdog",
    "kind",
    "pid",
    "host",
    "rank",
    "at_unix_ms",
    "reported_at_unix_ms",
    "summary",
    "advice",
    "cycle",
];

/// What the first bytes of a line say it is.
#[derive(Debug, PartialEq)]
pub(super) enum Head {
    /// A watchdog record of version 1: the fields of [`FIELDS`] whole in
    /// the head, as an object (its `kind` may be missing when the object
    /// ended without one).
    Record(Value),
    /// A watchdog record of another version: why it is not read, as for a
    /// line read whole ([`unknown_version`]). It may be a report.
    Version(String),
    /// Not a watchdog record: why, as for a line read whole.
    Other(String),
    /// The head ends before its version or its kind.
    Unknown,
}

/// Reads `head`, the first bytes of a line (`whole`: the line itself).
pub(super) fn read(head: &[u8], whole: bool) -> Head {
    let mut s = Scan {
        b: head,
        i: 0,
        fields: Map::new(),
    };
    let (fields, ended) = match s.object() {
        Ok(Some(fields)) => (fields, true),
        Ok(None) if whole => return Head::Other(cut_short()),
        Ok(None) => (s.fields, false),
        Err(why) => return Head::Other(why),
    };
    match fields.get("lockgraph_watchdog") {
        Some(w) if w.as_u64() == Some(1) => {
            if fields.contains_key("kind") || ended {
                Head::Record(Value::Object(fields))
            } else {
                Head::Unknown
            }
        }
        Some(w) => Head::Version(unknown_version(w, fields.get("kind"))),
        None if ended => Head::Other(
            "not a lockgraph watchdog record (no \"lockgraph_watchdog\" field)".to_string(),
        ),
        None => Head::Unknown,
    }
}

/// Why a record of version `w` is not read. It may be a deadlock or
/// long-wait report that this lockgraph cannot read: the verdict may be
/// incomplete (the caller says so).
pub(super) fn unknown_version(w: &Value, kind: Option<&Value>) -> String {
    let kind = match kind.and_then(Value::as_str) {
        Some(k @ ("deadlock" | "long_wait")) => format!(", of kind {k:?},"),
        _ => String::new(),
    };
    format!(
        "a watchdog record of an unknown version ({w}){kind} not read: this lockgraph reads \
         version 1, and the record may be a deadlock or long-wait report (the verdict may be \
         incomplete: read it with a newer lockgraph)"
    )
}

fn not_json() -> String {
    "not JSON".to_string()
}

fn cut_short() -> String {
    "not JSON: it ends inside its object".to_string()
}

/// A scan of the top-level object of a head.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    /// The fields of [`FIELDS`] met so far.
    fields: Map<String, Value>,
}

impl Scan<'_> {
    fn skip_space(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    /// The top-level object: `Ok(Some)` its fields when it ends in the
    /// head (with nothing but white space after it), `Ok(None)` when the
    /// head ends first (what was met is in `fields`), `Err` why it is not
    /// a JSON object.
    fn object(&mut self) -> Result<Option<Map<String, Value>>, String> {
        self.skip_space();
        match self.b.get(self.i) {
            None => return Ok(None),
            Some(b'{') => self.i += 1,
            Some(_) => {
                return Err("not a lockgraph watchdog record (not a JSON object)".to_string())
            }
        }
        self.skip_space();
        if self.b.get(self.i) == Some(&b'}') {
            return self.end();
        }
        loop {
            self.skip_space();
            let Some(&b) = self.b.get(self.i) else {
                return Ok(None);
            };
            if b != b'"' {
                return Err(not_json());
            }
            let Some(end) = self.value_end() else {
                return Ok(None);
            };
            let key: String =
                serde_json::from_slice(&self.b[self.i..end]).map_err(|_| not_json())?;
            self.i = end;
            self.skip_space();
            match self.b.get(self.i) {
                None => return Ok(None),
                Some(b':') => self.i += 1,
                Some(_) => return Err(not_json()),
            }
            self.skip_space();
            if self.i == self.b.len() {
                return Ok(None);
            }
            let Some(end) = self.value_end() else {
                return Ok(None);
            };
            if FIELDS.contains(&key.as_str()) {
                let v: Value =
                    serde_json::from_slice(&self.b[self.i..end]).map_err(|_| not_json())?;
                // Containers are kept only as what they are not: a field
                // of the verdict's is a string or a number.
                if !(v.is_array() || v.is_object()) {
                    self.fields.insert(key, v);
                }
            }
            self.i = end;
            self.skip_space();
            match self.b.get(self.i) {
                None => return Ok(None),
                Some(b',') => self.i += 1,
                Some(b'}') => return self.end(),
                Some(_) => return Err(not_json()),
            }
        }
    }

    /// The object's closing brace, at `i`.
    fn end(&mut self) -> Result<Option<Map<String, Value>>, String> {
        self.i += 1;
        self.skip_space();
        if self.i < self.b.len() {
            return Err(not_json());
        }
        Ok(Some(std::mem::take(&mut self.fields)))
    }

    /// Where the value at `i` ends (one past it), or `None` when the head
    /// ends first. A number or a literal runs to the next delimiter, which
    /// must be in the head; a string or a container is scanned through
    /// (its own syntax is left to the parser).
    fn value_end(&self) -> Option<usize> {
        let b = self.b;
        let mut i = self.i;
        match b[i] {
            b'"' | b'{' | b'[' => {
                let mut depth = 0usize;
                let mut in_string = false;
                let mut escaped = false;
                while i < b.len() {
                    let c = b[i];
                    i += 1;
                    if in_string {
                        match c {
                            _ if escaped => escaped = false,
                            b'\\' => escaped = true,
                            b'"' => {
                                in_string = false;
                                if depth == 0 {
                                    return Some(i);
                                }
                            }
                            _ => {}
                        }
                        continue;
                    }
                    match c {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                return Some(i);
                            }
                        }
                        _ => {}
                    }
                }
                None
            }
            _ => {
                while i < b.len() {
                    if matches!(b[i], b',' | b'}' | b']') || b[i].is_ascii_whitespace() {
                        return Some(i);
                    }
                    i += 1;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn head(text: &str) -> Head {
        read(text.as_bytes(), false)
    }

    fn kind(h: &Head) -> Option<&str> {
        match h {
            Head::Record(v) => v.get("kind").and_then(Value::as_str),
            _ => None,
        }
    }

    #[test]
    fn a_record_is_read_from_its_first_bytes_as_the_runtime_writes_it() {
        // A deadlock report cut in its threads.
        let text = r#"{"lockgraph_watchdog":1,"kind":"deadlock","pid":7,"summary":"lockgraph watchdog: DEADLOCK: \"a\"","advice":"fix it","action":"report","reported_at_unix_ms":5,"since_unix_ms":4,"cycle":"a -> b -> a","threads":[{"name":"a","tid":1,"spans":["x"#;
        assert_eq!(
            head(text),
            Head::Record(json!({
                "lockgraph_watchdog": 1, "kind": "deadlock", "pid": 7,
                "summary": "lockgraph watchdog: DEADLOCK: \"a\"", "advice": "fix it",
                "reported_at_unix_ms": 5, "cycle": "a -> b -> a",
            }))
        );
        // Cut anywhere: what is whole is read, the field cut is not.
        for cut in [41, 45, 60, 75, 100, 130] {
            let h = head(&text[..cut]);
            assert_eq!(kind(&h), Some("deadlock"), "{cut}: {h:?}");
            let Head::Record(v) = h else { unreachable!() };
            assert!(v.get("summary").is_none_or(|s| s.as_str().is_some()));
        }
        // The kind not yet met: unknown.
        assert_eq!(head(r#"{"lockgraph_watchdog":1,"ki"#), Head::Unknown);
        assert_eq!(head(r#"{"lockgraph_watchdog":1,"pid":12"#), Head::Unknown);
        assert_eq!(head(r#"  {"lockgraph_watch"#), Head::Unknown);
        assert_eq!(head(""), Head::Unknown);
        // Fields in another order, containers before them, white space.
        let h = head(
            r#"{ "threads" : [ {"kind":"x"}, "]" ] , "kind" : "long_wait" , "lockgraph_watchdog" : 1 , "text":"#,
        );
        assert_eq!(kind(&h), Some("long_wait"));
    }

    #[test]
    fn what_is_not_a_record_is_said_and_a_whole_line_is_decided() {
        let other = |text: &str, whole: bool| match read(text.as_bytes(), whole) {
            Head::Other(why) => why,
            h => panic!("{text}: {h:?}"),
        };
        let Head::Version(why) = read(br#"{"lockgraph_watchdog":2,"kind":"deadlock""#, false)
        else {
            panic!("not a version")
        };
        assert!(
            why.starts_with(
                "a watchdog record of an unknown version (2), of kind \"deadlock\", not read: \
                 this lockgraph reads version 1"
            ),
            "{why}"
        );
        assert!(other("[1,2,3", false).contains("not a JSON object"));
        assert_eq!(other(r#"{"a" 1"#, false), "not JSON");
        assert_eq!(other(r#"{"a":1 "b""#, false), "not JSON");
        // A whole object without the field.
        assert!(other(r#"{"kind":"deadlock","x":[1]}"#, true).contains("no \"lockgraph_watchdog\""));
        // A whole line that ends inside its object.
        assert!(other(r#"{"lockgraph_watchdog":1,"x":[1"#, true).contains("ends inside"));
        // Anything after the object is not JSON.
        assert_eq!(other(r#"{"lockgraph_watchdog":1} x"#, false), "not JSON");
        // A whole record without a kind is a record (the parser would
        // count it so).
        assert_eq!(
            read(br#"{"lockgraph_watchdog":1,"pid":3}"#, true),
            Head::Record(json!({"lockgraph_watchdog": 1, "pid": 3}))
        );
    }
}
