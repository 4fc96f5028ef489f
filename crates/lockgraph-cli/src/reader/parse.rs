//! Parsing one line of a record file: the header, an edge, or the words
//! for what is wrong with it.

use super::cycle::parse_cycle;
use super::line::{StackLine, TypeOnly};
use super::*;
use crate::blame::{blame, Blame};
use crate::position::{json_error_at, json_message};

/// Why one line could not be used.
pub(super) struct LineError {
    pub(super) message: String,
    /// Whether the line is not even valid JSON (what a torn write leaves).
    pub(super) invalid_json: bool,
}

/// Describes serde_json's error `e` on `line` (one line, as parsed), with
/// the column, in characters, of the character it names.
pub(super) fn describe(line: &[u8], e: &serde_json::Error, what: &str) -> LineError {
    let msg = json_message(e);
    // serde_json reports some errors of a value in valid JSON as errors of
    // the JSON itself (a derived enum given a number: `expected value`):
    // only a line that is not JSON is called so, and can be a torn one.
    // (`IgnoredAny` would pass a string that is not UTF-8: `Value` checks.)
    let not_json = || serde_json::from_slice::<serde_json::Value>(line).is_err();
    let (message, invalid_json) = match e.classify() {
        serde_json::error::Category::Eof if not_json() => (format!("truncated JSON: {msg}"), true),
        serde_json::error::Category::Syntax if not_json() => {
            // serde_json's words for bytes that are not UTF-8 in a string.
            let msg = match msg.strip_prefix("invalid unicode code point") {
                Some(rest) if std::str::from_utf8(line).is_err() => {
                    format!("a string holds bytes that are not UTF-8{rest}")
                }
                _ => msg,
            };
            (format!("invalid JSON: {msg}"), true)
        }
        _ => (format!("invalid {what}: {msg}"), false),
    };
    // serde_json's column 0 is at the line's start: no character to name.
    let message = match json_error_at(line, e) {
        Some((_, col)) if e.column() > 0 => format!("{message} at column {col}"),
        _ => message,
    };
    LineError {
        message,
        invalid_json,
    }
}

/// Names the JSON value a non-object line holds, or says why it is not JSON.
pub(super) fn not_an_object(line: &[u8]) -> LineError {
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(v) => {
            let found = match v {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Object(_) => "an object",
            };
            LineError {
                message: format!("expected a JSON object, found {found}"),
                invalid_json: false,
            }
        }
        Err(e) => describe(line, &e, "line"),
    }
}

pub(super) fn starts_with_brace(line: &[u8]) -> bool {
    line.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// Whether `line` is the start of a JSON value whose end is missing (what
/// an interrupted write of a header leaves).
pub(super) fn is_truncated(line: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(line)
        .is_err_and(|e| e.classify() == serde_json::error::Category::Eof)
}

/// What one non-header line holds. One value a line, handed on at once:
/// boxing the edge would allocate for every line of a large record.
#[allow(clippy::large_enum_variant)]
pub(super) enum Parsed<'a> {
    /// An edge line.
    Edge(EdgeLine<'a>),
    /// A `stack` line.
    Stack(StackLine<'a>),
    /// A `cycle` line (rare: boxed).
    Cycle(Box<CycleLine>),
    /// A line of another `type`, which the format lets readers ignore.
    Other,
}

/// Parses one non-header line: an edge, a stack line, a cycle line, or a
/// line of another type. A line of a known type (`edge`, `stack`, `cycle`)
/// with a missing or mistyped field is an error naming the field,
/// whichever type it is: a bad stack line dropped would show its edges
/// without their frames, a bad cycle line would pass a check it fails.
pub(super) fn parse_line(line: &[u8]) -> Result<Parsed<'_>, LineError> {
    match serde_json::from_slice::<EdgeLine<'_>>(line) {
        Ok(edge) if &*edge.ty == "edge" => {
            if edge.from.class.is_empty() || edge.to.class.is_empty() {
                return Err(LineError {
                    message: "invalid edge record: empty lock class".into(),
                    invalid_json: false,
                });
            }
            if let Some(e) = edge
                .gates
                .iter()
                .enumerate()
                .find_map(|(i, g)| gate_error(i, g))
            {
                return Err(e);
            }
            Ok(Parsed::Edge(edge))
        }
        Ok(_) => parse_other(line),
        Err(edge_err) => {
            if !starts_with_brace(line) {
                return Err(not_an_object(line));
            }
            match serde_json::from_slice::<TypeOnly<'_>>(line) {
                Err(e) => Err(describe(line, &e, "record")),
                Ok(TypeOnly { ty: Some(t) }) if &*t != "edge" => parse_other(line),
                Ok(TypeOnly { ty: None }) => Err(no_type(line)),
                Ok(_) => Err(blamed(
                    describe(line, &edge_err, "edge record"),
                    line,
                    &edge_err,
                    EDGE_TEMPLATE,
                    &|v| EdgeLine::deserialize(v).is_ok(),
                )),
            }
        }
    }
}

/// A line whose `type` is a string other than `"edge"`: a stack line, a
/// cycle line, or one to ignore.
fn parse_other(line: &[u8]) -> Result<Parsed<'_>, LineError> {
    let stack_parse = match serde_json::from_slice::<StackLine<'_>>(line) {
        Ok(st) if &*st.ty == "stack" => {
            return match stack_error(&st) {
                Some(message) => Err(LineError {
                    message,
                    invalid_json: false,
                }),
                None => Ok(Parsed::Stack(st)),
            }
        }
        Ok(_) => None,
        Err(e) => Some(e),
    };
    match serde_json::from_slice::<TypeOnly<'_>>(line) {
        Ok(TypeOnly { ty: Some(t) }) if &*t == "cycle" => {
            parse_cycle(line).map(|c| Parsed::Cycle(Box::new(c)))
        }
        Ok(TypeOnly { ty: Some(t) }) if &*t == "stack" => match stack_parse {
            Some(e) => Err(blamed(
                describe(line, &e, "stack record"),
                line,
                &e,
                if is_raw_stack(line) {
                    RAW_STACK_TEMPLATE
                } else {
                    STACK_TEMPLATE
                },
                &|v| StackLine::deserialize(v).is_ok(),
            )),
            None => Ok(Parsed::Other),
        },
        _ => Ok(Parsed::Other),
    }
}

/// What is wrong with a stack line whose fields have their types: it has
/// neither resolved frames (`backtrace`) nor raw ones (`modules` and
/// `raw`), or a raw frame names a module the line does not list.
fn stack_error(st: &StackLine<'_>) -> Option<String> {
    if st.backtrace.is_some() {
        return None;
    }
    let (Some(modules), Some(raw)) = (&st.modules, &st.raw) else {
        return Some(
            "invalid stack record: it has neither `backtrace` (resolved frames) nor `modules` \
             and `raw` (a raw stack)"
                .to_string(),
        );
    };
    raw.iter()
        .position(|&(m, _)| m >= modules.len() as u64)
        .map(|i| {
            format!(
                "field `raw[{i}]`: module {} is not in `modules` ({} listed)",
                raw[i].0,
                modules.len()
            )
        })
}

/// Why a line without a string `type` is not a record: a second header
/// (two files joined), a `type` of another JSON type, or none.
fn no_type(line: &[u8]) -> LineError {
    let map = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line).ok();
    let message = match map {
        Some(m) if m.contains_key("lockgraph_record") => "a second header line: each record \
             file has one header, on line 1 (were two record files joined into one? `lockgraph \
             check` reads a directory of them as they are)"
            .to_string(),
        Some(m) => match m.get("type") {
            Some(v) => format!("field `type`: expected a string, found {v}"),
            None => "invalid record: missing field `type`".to_string(),
        },
        None => "invalid record: missing field `type`".to_string(),
    };
    LineError {
        message,
        invalid_json: false,
    }
}

/// Why gate string `g`, element `i` of an edge's `gates`, is not one
/// (`docs/record-format.md`): `"<pid>:<lock id>"`, with `:read` or
/// `:upgradable` after it for a hold of that mode. A gate of another form
/// would be read as some exclusive lock's and could hide a cycle.
fn gate_error(i: usize, g: &str) -> Option<LineError> {
    let lock = g
        .strip_suffix(":read")
        .or_else(|| g.strip_suffix(":upgradable"))
        .unwrap_or(g);
    let number = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    match lock.split_once(':') {
        Some((pid, id)) if number(pid) && number(id) => None,
        _ => Some(LineError {
            message: format!(
                "field `gates[{i}]`: {g:?} is not a gate (`<pid>:<lock id>`, or with `:read` or \
                 `:upgradable` after it for a read or an upgradable read)"
            ),
            invalid_json: false,
        }),
    }
}

/// A valid edge line, whose values stand in for a bad line's while
/// [`blame`] looks for the field at fault (`docs/record-format.md`'s
/// example).
pub(super) const EDGE_TEMPLATE: &str = r#"{"type":"edge","from":{"class":"name:metrics","name":"metrics","kind":"Mutex","site":null},"to":{"class":"site:src/model.rs:41:17:server::Model","name":null,"kind":"RwLock","site":"src/model.rs:41:17"},"hold":"exclusive","request":"exclusive","gates":["4242:17"],"thread":"reloader","pid":4242,"exe":"/work/target/debug/examples/server","held_at":"src/server.rs:60:34","requested_at":"src/server.rs:63:32","backtrace":["server::Server::reload (src/server.rs:63)"]}"#;

/// A valid stack line, the same way.
pub(super) const STACK_TEMPLATE: &str = r#"{"type":"stack","stack":"4242:7","pid":4242,"backtrace":["server::Server::reload (src/server.rs:63)"]}"#;

/// A valid raw stack line (format version 4), the same way.
pub(super) const RAW_STACK_TEMPLATE: &str = r#"{"type":"stack","stack":"4242:7","pid":4242,"modules":[{"path":"/work/target/debug/examples/server","size":40000000,"mtime_ns":1764240000000000000}],"raw":[[0,1193046]]}"#;

/// Whether a stack line that is not valid as one gives raw frames (has
/// `modules` or `raw` and no `backtrace`): its fields are then blamed
/// against [`RAW_STACK_TEMPLATE`].
fn is_raw_stack(line: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line).is_ok_and(|m| {
        !m.contains_key("backtrace") && (m.contains_key("modules") || m.contains_key("raw"))
    })
}

/// A valid header, the same way.
pub(super) const HEADER_TEMPLATE: &str = r#"{"lockgraph_record":1,"pid":4242,"exe":"/work/target/debug/deps/api-5f3c","args":["api"],"started_unix_ms":1764240000000}"#;

/// `error` (of a value: not of the JSON) with the field at fault named:
/// `field `hold`: invalid type ...`, `missing field `from.class``.
pub(super) fn blamed(
    mut error: LineError,
    line: &[u8],
    e: &serde_json::Error,
    template: &str,
    parses: &dyn Fn(&serde_json::Value) -> bool,
) -> LineError {
    if error.invalid_json {
        return error;
    }
    let msg = json_message(e);
    let named = match blame(line, template.as_bytes(), parses) {
        Some(Blame::Wrong(path)) => format!("field `{path}`: {msg}"),
        Some(Blame::Missing(path)) => format!("missing field `{path}`"),
        None => return error,
    };
    error.message = error.message.replacen(&msg, &named, 1);
    error
}

pub(super) fn parse_header(line: &[u8]) -> Result<Header, String> {
    if !starts_with_brace(line) {
        let e = not_an_object(line);
        return Err(format!(
            "missing header: the first line is not a lockgraph record header ({})",
            e.message
        ));
    }
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).map_err(|e| {
            format!(
                "missing header: the first line is not a lockgraph record header ({})",
                describe(line, &e, "header").message
            )
        })?;
    let version = match map.get("lockgraph_record") {
        None => {
            return Err(
                "missing header: the first line has no `lockgraph_record` field, so this is not a lockgraph record file"
                    .into(),
            )
        }
        Some(v) => v.as_u64().ok_or_else(|| match v {
            // Too large a number reads as a float (`1.8e19`): not shown.
            serde_json::Value::Number(_) => "invalid header: `lockgraph_record` must be a version number, found a number that is not one (negative, fractional or too large)".to_string(),
            _ => format!("invalid header: `lockgraph_record` must be a version number, found {v}"),
        })?,
    };
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Err(format!(
            "unsupported record format version {version} (this lockgraph reads versions 1 to {FORMAT_VERSION})"
        ));
    }
    // From the line itself, not from `map` (whose keys are sorted): serde
    // then meets the bad values in the line's order, the order `blamed`
    // searches in, so that the field it names is the one the message is
    // about (a header with two bad fields named one with the other's
    // message; found by an outside test).
    let mut header: Header = serde_json::from_slice(line).map_err(|e| {
        let error = LineError {
            message: format!("invalid header: {}", json_message(&e)),
            invalid_json: false,
        };
        blamed(error, line, &e, HEADER_TEMPLATE, &|v| {
            Header::deserialize(v).is_ok()
        })
        .message
    })?;
    header.lockgraph_record = version;
    Ok(header)
}
