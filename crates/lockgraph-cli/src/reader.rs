//! Reading lock-order record files (JSON Lines, format version 1).
//!
//! `docs/record-format.md` is the contract. The reader follows its reading
//! rules: the first line must be a header of a known version; every later line
//! must be a JSON object; lines whose `type` is not `"edge"` are ignored; a
//! malformed line is an error naming the file, the line and what is wrong,
//! except a torn *last* line (no trailing newline and not valid JSON), which is
//! skipped with a [`Warning`]. Blank lines are skipped. An empty file, or one
//! whose only line is a torn header (a process stopped between creating the
//! file and finishing its header), is skipped with a warning too.
//!
//! A file that is still being appended to is read as it was when it was
//! opened, and never past a line without its newline: the rest of that line
//! may be arriving, and is not a line of its own.
//!
//! Limits keep a broken or hostile file from exhausting memory: a line may be
//! at most [`MAX_LINE_BYTES`], a file at most [`MAX_FILE_BYTES`].

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::blame::{blame, Blame};
use crate::error::RecordError;
use crate::position::{json_error_at, json_message};

/// The record format version this reader understands.
pub const FORMAT_VERSION: u64 = 1;

/// The longest line accepted, newline excluded (1 MiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The largest record file accepted (1 GiB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The header on line 1 of every record file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The format version (always [`FORMAT_VERSION`] once accepted).
    pub lockgraph_record: u64,
    /// The process id.
    #[serde(default)]
    pub pid: u64,
    /// The executable's path, or `""`.
    #[serde(default)]
    pub exe: String,
    /// The command-line arguments after the executable.
    #[serde(default)]
    pub args: Vec<String>,
    /// When the file was created, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub started_unix_ms: u64,
}

/// How the lock at the start of an edge was held.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum HoldMode {
    /// Write lock, mutex, reentrant mutex.
    Exclusive,
    /// Read, recursive read or upgradable read.
    Shared,
}

/// How the lock at the end of an edge was requested.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RequestMode {
    /// `lock`, `write`, `upgradable_read`, `upgrade`.
    Exclusive,
    /// `read`: can queue behind a waiting writer.
    Read,
    /// `read_recursive`: never waits for another reader.
    RecursiveRead,
}

impl HoldMode {
    /// Every mode, in the format's order.
    pub const ALL: [HoldMode; 2] = [HoldMode::Exclusive, HoldMode::Shared];

    /// The word used in the format.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldMode::Exclusive => "exclusive",
            HoldMode::Shared => "shared",
        }
    }

    /// The graph crate's view of it.
    pub fn to_graph(self) -> lockgraph_graph::Hold {
        match self {
            HoldMode::Exclusive => lockgraph_graph::Hold::Exclusive,
            HoldMode::Shared => lockgraph_graph::Hold::Shared,
        }
    }
}

impl RequestMode {
    /// Every mode, in the format's order.
    pub const ALL: [RequestMode; 3] = [
        RequestMode::Exclusive,
        RequestMode::Read,
        RequestMode::RecursiveRead,
    ];

    /// The word used in the format.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestMode::Exclusive => "exclusive",
            RequestMode::Read => "read",
            RequestMode::RecursiveRead => "recursive_read",
        }
    }

    /// The graph crate's view of it.
    pub fn to_graph(self) -> lockgraph_graph::Request {
        match self {
            RequestMode::Exclusive => lockgraph_graph::Request::Exclusive,
            RequestMode::Read => lockgraph_graph::Request::Read,
            RequestMode::RecursiveRead => lockgraph_graph::Request::RecursiveRead,
        }
    }
}

impl<'de> Deserialize<'de> for HoldMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(d, &HoldMode::ALL, HoldMode::as_str)
    }
}

impl<'de> Deserialize<'de> for RequestMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(d, &RequestMode::ALL, RequestMode::as_str)
    }
}

/// One of `all`, by its word: a string, whose error lists the words (serde's
/// derived enums say only `expected value` to serde_json for a number, as
/// if the line were not JSON).
fn one_of<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    all: &'static [T],
    word: fn(T) -> &'static str,
) -> Result<T, D::Error> {
    struct V<T: 'static>(&'static [T], fn(T) -> &'static str);
    impl<'de, T: Copy> Visitor<'de> for V<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("one of ")?;
            for (i, &t) in self.0.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}\"{}\"", (self.1)(t))?;
            }
            Ok(())
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            let found = self.0.iter().copied().find(|&t| (self.1)(t) == v);
            found.ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_str(V(all, word))
}

/// A string borrowed from the line when it has no escapes, owned otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A lock class as written in an edge line.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename = "lock class", expecting = "a lock class (an object)")]
#[non_exhaustive]
pub struct ClassRef<'a> {
    /// The class identity compared across processes.
    #[serde(borrow)]
    pub class: Str<'a>,
    /// The name, for named classes.
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    /// `Mutex`, `RwLock`, `ReentrantMutex`, `Condvar` or `lock`.
    #[serde(borrow)]
    pub kind: Str<'a>,
    /// The creation site, for site classes.
    #[serde(borrow, default)]
    pub site: Option<Str<'a>>,
}

/// One `"type":"edge"` line: holding `from`, thread `thread` requested `to`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename = "edge record", expecting = "an edge record (an object)")]
#[non_exhaustive]
pub struct EdgeLine<'a> {
    /// The record kind (`"edge"` for every value handed out by the reader).
    #[serde(rename = "type", borrow)]
    pub ty: Str<'a>,
    /// The held lock.
    #[serde(borrow)]
    pub from: ClassRef<'a>,
    /// The requested lock.
    #[serde(borrow)]
    pub to: ClassRef<'a>,
    /// How `from` was held.
    pub hold: HoldMode,
    /// How `to` was requested.
    pub request: RequestMode,
    /// Locks held exclusively at the time, as `"<pid>:<lock id>"`.
    #[serde(borrow)]
    pub gates: Vec<Str<'a>>,
    /// The recording thread's name or id.
    #[serde(borrow)]
    pub thread: Str<'a>,
    /// The process id.
    pub pid: u64,
    /// The executable's path.
    #[serde(borrow)]
    pub exe: Str<'a>,
    /// Where `from` was taken.
    #[serde(borrow, default)]
    pub held_at: Option<Str<'a>>,
    /// Where `to` was requested.
    #[serde(borrow, default)]
    pub requested_at: Option<Str<'a>>,
    /// Program frames of the first occurrence, innermost first.
    #[serde(borrow)]
    pub backtrace: Vec<Str<'a>>,
    /// The key of the `stack` line that holds the frames, when the writer
    /// resolved them after writing the edge (see [`FileSummary::stacks`]).
    #[serde(borrow, default)]
    pub stack: Option<Str<'a>>,
}

/// One `"type":"stack"` line: the resolved frames of the edges whose
/// `stack` is `stack`.
#[derive(Deserialize)]
struct StackLine<'a> {
    #[serde(rename = "type", borrow)]
    ty: Str<'a>,
    #[serde(borrow)]
    stack: Str<'a>,
    #[serde(borrow)]
    backtrace: Vec<Str<'a>>,
}

#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow, default)]
    ty: Option<Str<'a>>,
}

/// A line or a file that was skipped but that the user should hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// The record file.
    pub path: PathBuf,
    /// The 1-based line, when the warning is about one.
    pub line: Option<u64>,
    /// What was skipped and why.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// What [`parse_reader`] saw in one file.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct FileSummary {
    /// The header; `None` when the file was skipped (empty, or only a torn
    /// header), which [`FileSummary::warning`] says.
    pub header: Option<Header>,
    /// Lines read, the header and any torn last line included.
    pub lines: u64,
    /// Edge lines handed to the sink.
    pub edges: u64,
    /// Lines of an unknown `type`, ignored.
    pub ignored: u64,
    /// The `stack` lines: each key with its frames, innermost first, for
    /// the edges of this file whose [`EdgeLine::stack`] is that key (a
    /// file whose process was killed may lack some).
    pub stacks: Vec<(String, Vec<String>)>,
    /// The torn last line, or the empty file, that was skipped.
    pub warning: Option<Warning>,
}

/// Why one line could not be used.
struct LineError {
    message: String,
    /// Whether the line is not even valid JSON (what a torn write leaves).
    invalid_json: bool,
}

/// Describes serde_json's error `e` on `line` (one line, as parsed), with
/// the column, in characters, of the character it names.
fn describe(line: &[u8], e: &serde_json::Error, what: &str) -> LineError {
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
fn not_an_object(line: &[u8]) -> LineError {
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

fn starts_with_brace(line: &[u8]) -> bool {
    line.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// Whether `line` is the start of a JSON value whose end is missing (what
/// an interrupted write of a header leaves).
fn is_truncated(line: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(line)
        .is_err_and(|e| e.classify() == serde_json::error::Category::Eof)
}

/// Parses one non-header line: `Ok(Some)` for an edge, `Ok(None)` for a line
/// of another type.
fn parse_line(line: &[u8]) -> Result<Option<EdgeLine<'_>>, LineError> {
    match serde_json::from_slice::<EdgeLine<'_>>(line) {
        Ok(edge) if &*edge.ty == "edge" => {
            if edge.from.class.is_empty() || edge.to.class.is_empty() {
                return Err(LineError {
                    message: "invalid edge record: empty lock class".into(),
                    invalid_json: false,
                });
            }
            Ok(Some(edge))
        }
        Ok(_) => Ok(None),
        Err(edge_err) => {
            if !starts_with_brace(line) {
                return Err(not_an_object(line));
            }
            match serde_json::from_slice::<TypeOnly<'_>>(line) {
                Err(e) => Err(describe(line, &e, "record")),
                Ok(TypeOnly { ty: Some(t) }) if &*t != "edge" => Ok(None),
                Ok(TypeOnly { ty: None }) => Err(LineError {
                    message: "invalid record: missing field `type`".into(),
                    invalid_json: false,
                }),
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

/// A valid edge line, whose values stand in for a bad line's while
/// [`blame`] looks for the field at fault (`docs/record-format.md`'s
/// example).
const EDGE_TEMPLATE: &str = r#"{"type":"edge","from":{"class":"name:metrics","name":"metrics","kind":"Mutex","site":null},"to":{"class":"site:src/model.rs:41:17:server::Model","name":null,"kind":"RwLock","site":"src/model.rs:41:17"},"hold":"exclusive","request":"exclusive","gates":["4242:17"],"thread":"reloader","pid":4242,"exe":"/work/target/debug/examples/server","held_at":"src/server.rs:60:34","requested_at":"src/server.rs:63:32","backtrace":["server::Server::reload (src/server.rs:63)"]}"#;

/// A valid header, the same way.
const HEADER_TEMPLATE: &str = r#"{"lockgraph_record":1,"pid":4242,"exe":"/work/target/debug/deps/api-5f3c","args":["api"],"started_unix_ms":1764240000000}"#;

/// `error` (of a value: not of the JSON) with the field at fault named:
/// `field `hold`: invalid type ...`, `missing field `from.class``.
fn blamed(
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

fn parse_header(line: &[u8]) -> Result<Header, String> {
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
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("invalid header: `lockgraph_record` must be a version number, found {v}"))?,
    };
    if version != FORMAT_VERSION {
        return Err(format!(
            "unsupported record format version {version} (this lockgraph reads version {FORMAT_VERSION})"
        ));
    }
    let mut header: Header =
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
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

/// The state of one file being read, line by line.
struct FileParser<'p> {
    path: &'p Path,
    summary: FileSummary,
    total: u64,
    have_header: bool,
}

impl<'p> FileParser<'p> {
    fn new(path: &'p Path) -> FileParser<'p> {
        FileParser {
            path,
            summary: FileSummary::default(),
            total: 0,
            have_header: false,
        }
    }

    /// Handles one line as read: `raw` ends in `\n` unless it is the last.
    fn line(
        &mut self,
        raw: &[u8],
        sink: &mut impl FnMut(u64, EdgeLine<'_>),
    ) -> Result<(), RecordError> {
        let line_no = self.summary.lines + 1;
        self.summary.lines = line_no;
        self.total += raw.len() as u64;
        if self.total > MAX_FILE_BYTES {
            return Err(RecordError::at(
                self.path,
                line_no,
                format!(
                    "the file is larger than {} MiB, the limit for one record file",
                    MAX_FILE_BYTES >> 20
                ),
            ));
        }
        let terminated = raw.last() == Some(&b'\n');
        let mut content = if terminated {
            &raw[..raw.len() - 1]
        } else {
            raw
        };
        if content.len() > MAX_LINE_BYTES {
            return Err(RecordError::at(
                self.path,
                line_no,
                format!(
                    "line is longer than {} KiB, the limit for one record line",
                    MAX_LINE_BYTES >> 10
                ),
            ));
        }
        if content.last() == Some(&b'\r') {
            content = &content[..content.len() - 1];
        }
        if !self.have_header {
            match parse_header(content) {
                Ok(h) => self.summary.header = Some(h),
                Err(_) if !terminated && starts_with_brace(content) && is_truncated(content) => {
                    self.summary.warning = Some(self.torn(line_no, "truncated header"));
                }
                Err(m) => return Err(RecordError::at(self.path, line_no, m)),
            }
            self.have_header = true;
            return Ok(());
        }
        if content.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        match parse_line(content) {
            Ok(Some(edge)) => {
                self.summary.edges += 1;
                sink(line_no, edge);
            }
            Ok(None) => match serde_json::from_slice::<StackLine<'_>>(content) {
                Ok(st) if &*st.ty == "stack" => self.summary.stacks.push((
                    st.stack.to_string(),
                    st.backtrace.iter().map(|f| f.to_string()).collect(),
                )),
                _ => self.summary.ignored += 1,
            },
            Err(e) if !terminated && e.invalid_json => {
                self.summary.warning = Some(self.torn(line_no, &e.message));
            }
            Err(e) => return Err(RecordError::at(self.path, line_no, e.message)),
        }
        Ok(())
    }

    fn torn(&self, line: u64, why: &str) -> Warning {
        Warning {
            path: self.path.to_path_buf(),
            line: Some(line),
            message: format!(
                "skipped a torn last line (no trailing newline, {why}); the writing process was killed or is still writing"
            ),
        }
    }

    fn finish(mut self) -> FileSummary {
        if !self.have_header {
            self.summary.warning = Some(Warning {
                path: self.path.to_path_buf(),
                line: None,
                message:
                    "skipped an empty record file (its process stopped before writing the header)"
                        .into(),
            });
        }
        self.summary
    }
}

/// Reads one record file from `reader`, handing every edge line and its line
/// number to `sink`. `path` is only used in messages. At most
/// [`MAX_LINE_BYTES`] + 1 bytes of a line are buffered.
///
/// Errors always carry the line number.
pub fn parse_reader<R: BufRead>(
    path: &Path,
    mut reader: R,
    mut sink: impl FnMut(u64, EdgeLine<'_>),
) -> Result<FileSummary, RecordError> {
    let mut p = FileParser::new(path);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(|e| {
                RecordError::at(
                    path,
                    p.summary.lines + 1,
                    format!("read failed: {}", crate::error::lower(&e)),
                )
            })?;
        if n == 0 {
            break;
        }
        p.line(&buf, &mut sink)?;
        if buf.last() != Some(&b'\n') {
            // A line without its newline is the last one read: when the
            // file is still being written, what follows is the rest of it.
            break;
        }
    }
    Ok(p.finish())
}

/// Reads one record file held in memory (see [`parse_reader`]).
pub fn parse_bytes(
    path: &Path,
    bytes: &[u8],
    mut sink: impl FnMut(u64, EdgeLine<'_>),
) -> Result<FileSummary, RecordError> {
    let mut p = FileParser::new(path);
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        p.line(&rest[..end], &mut sink)?;
        rest = &rest[end..];
    }
    Ok(p.finish())
}

/// Files up to this size are read whole into a reused buffer; larger ones are
/// streamed.
const SLURP_BYTES: u64 = 64 << 20;

/// Opens and reads one record file (see [`parse_reader`]), reading small
/// files whole into `buf` (kept for the next call).
pub fn parse_file_with(
    path: &Path,
    buf: &mut Vec<u8>,
    sink: impl FnMut(u64, EdgeLine<'_>),
) -> Result<FileSummary, RecordError> {
    crate::files::check_regular(path).map_err(|_| RecordError::file(path, "not a regular file"))?;
    let mut file = File::open(path).map_err(|e| {
        RecordError::file(path, format!("cannot open: {}", crate::error::lower(&e)))
    })?;
    let len = file.metadata().map(|m| m.len()).ok();
    if let Some(len) = len {
        if len > MAX_FILE_BYTES {
            return Err(RecordError::file(
                path,
                format!(
                    "the file is {} MiB, over the {} MiB limit for one record file",
                    len >> 20,
                    MAX_FILE_BYTES >> 20
                ),
            ));
        }
    }
    match len {
        Some(len) if len <= SLURP_BYTES => {
            buf.clear();
            (&mut file)
                .take(SLURP_BYTES + 1)
                .read_to_end(buf)
                .map_err(|e| {
                    RecordError::file(path, format!("read failed: {}", crate::error::lower(&e)))
                })?;
            parse_bytes(path, buf, sink)
        }
        // Read what the file held when it was opened: a file still being
        // appended to ends at a line boundary or in a torn last line.
        Some(len) => parse_reader(
            path,
            BufReader::with_capacity(1 << 16, file.take(len)),
            sink,
        ),
        None => parse_reader(path, BufReader::with_capacity(1 << 16, file), sink),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        r#"{"lockgraph_record":1,"pid":7,"exe":"/bin/t","args":["a"],"started_unix_ms":5}"#;
    const EDGE: &str = r#"{"type":"edge","from":{"class":"name:a","name":"a","kind":"Mutex","site":null},"to":{"class":"name:b","name":"b","kind":"Mutex","site":null},"hold":"exclusive","request":"exclusive","gates":["7:3"],"thread":"main","pid":7,"exe":"/bin/t","held_at":"src/a.rs:1:2","requested_at":"src/a.rs:3:4","backtrace":["t::main (src/a.rs:3)"]}"#;

    fn parse(text: &str) -> Result<(FileSummary, Vec<String>), RecordError> {
        let mut seen = Vec::new();
        let s = parse_reader(Path::new("f.jsonl"), text.as_bytes(), |line, e| {
            seen.push(format!("{line}:{}->{}", &*e.from.class, &*e.to.class));
        })?;
        Ok((s, seen))
    }

    #[test]
    fn a_valid_file_yields_its_edges() {
        let (s, seen) = parse(&format!("{HEADER}\n{EDGE}\n\n{EDGE}\n")).unwrap();
        assert_eq!(s.header.as_ref().unwrap().pid, 7);
        assert_eq!(s.header.as_ref().unwrap().args, vec!["a".to_string()]);
        assert_eq!(seen, vec!["2:name:a->name:b", "4:name:a->name:b"]);
        assert!(s.warning.is_none());
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let mut borrowed = false;
        parse_reader(
            Path::new("f"),
            format!("{HEADER}\n{EDGE}\n").as_bytes(),
            |_, e| {
                borrowed = matches!(e.thread.0, Cow::Borrowed(_))
                    && matches!(e.backtrace[0].0, Cow::Borrowed(_));
            },
        )
        .unwrap();
        assert!(borrowed);
        let escaped = EDGE.replace("\"main\"", "\"ma\\u0069n\"");
        parse_reader(
            Path::new("f"),
            format!("{HEADER}\n{escaped}\n").as_bytes(),
            |_, e| {
                assert_eq!(&*e.thread, "main");
            },
        )
        .unwrap();
    }

    #[test]
    fn unknown_types_are_ignored_even_with_other_fields() {
        let text =
            format!("{HEADER}\n{{\"type\":\"note\",\"from\":5}}\n{{\"type\":\"x\"}}\n{EDGE}\n");
        let (s, seen) = parse(&text).unwrap();
        assert_eq!(s.ignored, 2);
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn a_torn_last_line_is_a_warning() {
        let torn = &EDGE[..EDGE.len() - 20];
        let (s, seen) = parse(&format!("{HEADER}\n{EDGE}\n{torn}")).unwrap();
        assert_eq!(seen.len(), 1);
        let w = s.warning.unwrap();
        assert_eq!(w.line, Some(3));
        assert!(w.message.contains("torn last line"), "{w}");
        // The same line with its newline is an error.
        let e = parse(&format!("{HEADER}\n{torn}\n{EDGE}\n")).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("truncated JSON"), "{e}");
    }

    #[test]
    fn an_empty_file_or_a_torn_header_is_skipped_with_a_warning() {
        let (s, seen) = parse("").unwrap();
        assert!(s.header.is_none() && seen.is_empty());
        let w = s.warning.unwrap();
        assert_eq!(
            w.to_string(),
            "f.jsonl: skipped an empty record file (its process stopped before writing the header)"
        );
        let (s, _) = parse(&HEADER[..30]).unwrap();
        assert!(s.header.is_none());
        let w = s.warning.unwrap();
        assert_eq!(w.line, Some(1));
        assert!(w.message.starts_with("skipped a torn last line"), "{w}");
        // With its newline, or not the start of a header, it is an error.
        for text in [format!("{}\n", &HEADER[..30]), "garbage".to_string()] {
            let e = parse(&text).unwrap_err();
            assert_eq!(e.line, Some(1), "{text:?}");
        }
    }

    /// A reader over chunks, as a file still being appended to looks: the
    /// end of the file comes in the middle of a line, then the rest of the
    /// line arrives.
    struct Growing(Vec<&'static [u8]>);

    impl Read for Growing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let chunk = self.0.remove(0);
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.insert(0, &chunk[n..]);
            }
            Ok(n)
        }
    }

    #[test]
    fn a_file_being_appended_to_ends_at_its_torn_line() {
        let header = format!("{HEADER}\n");
        let edge = format!("{EDGE}\n");
        let header: &'static str = Box::leak(header.into_boxed_str());
        let edge: &'static str = Box::leak(edge.into_boxed_str());
        // header, one edge, the first 40 bytes of the next, end of file for
        // now ("0 bytes"), then the rest of that line and one more.
        let chunks: Vec<&'static [u8]> = vec![
            header.as_bytes(),
            edge.as_bytes(),
            &edge.as_bytes()[..40],
            b"",
            &edge.as_bytes()[40..],
            edge.as_bytes(),
        ];
        let mut seen = 0;
        let s = parse_reader(
            Path::new("f.jsonl"),
            BufReader::with_capacity(16, Growing(chunks)),
            |_, _| seen += 1,
        )
        .unwrap();
        assert_eq!(seen, 1);
        assert_eq!(s.warning.unwrap().line, Some(3));
    }

    #[test]
    fn header_problems_are_errors_on_line_1() {
        for (text, want) in [
            (EDGE, "no `lockgraph_record` field"),
            (
                "{\"lockgraph_record\":2,\"pid\":1}\n",
                "unsupported record format version 2",
            ),
            ("{\"lockgraph_record\":\"1\"}\n", "must be a version number"),
            ("[1]\n", "found an array"),
            ("\u{1}\u{2}garbage\n", "not a lockgraph record header"),
            ("{\"lockgraph_record\":1,\"pid\":\"x\"}\n", "invalid header"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, Some(1), "{text:?}");
            assert!(e.message.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn malformed_lines_name_the_line_and_the_problem() {
        for (line, want) in [
            ("{\"type\":\"edge\"}", "missing field `from`"),
            ("{\"from\":1}", "missing field `type`"),
            ("not json", "invalid JSON: "),
            ("\"edge\"", "expected a JSON object, found a string"),
            (
                &EDGE.replace("\"exclusive\",\"request\"", "\"sometimes\",\"request\""),
                "field `hold`: invalid value: string \"sometimes\", expected one of",
            ),
            (
                &EDGE.replace("\"pid\":7,\"exe\"", "\"pid\":-7,\"exe\""),
                "invalid edge record",
            ),
            (&EDGE.replace("name:a", ""), "empty lock class"),
            ("{\"type\":\"edge\",", "truncated JSON"),
        ] {
            let e = parse(&format!("{HEADER}\n{EDGE}\n{line}\n")).unwrap_err();
            assert_eq!(e.line, Some(3), "{line}");
            assert!(e.message.contains(want), "{line}: {e}");
            assert!(e.to_string().starts_with("f.jsonl:3: "), "{e}");
        }
    }

    /// A wrong value in valid JSON names its field, and is an error also on
    /// the last line without its newline: only a line that is not JSON can
    /// be a torn one. (serde_json took a number for an enum for a syntax
    /// error, `expected value`, so that such a last line was skipped.)
    #[test]
    fn a_wrong_value_names_its_field_and_is_never_a_torn_line() {
        for (find, put, want) in [
            (
                "\"hold\":\"exclusive\"",
                "\"hold\":5",
                "field `hold`: invalid type: integer `5`, expected one of \"exclusive\", \"shared\"",
            ),
            (
                "\"request\":\"exclusive\"",
                "\"request\":null",
                "field `request`: invalid type: null, expected one of \"exclusive\", \"read\", \"recursive_read\"",
            ),
            (
                "\"request\":\"exclusive\"",
                "\"request\":\"write\"",
                "field `request`: invalid value: string \"write\", expected one of",
            ),
            ("\"main\"", "5", "field `thread`: invalid type: integer `5`, expected a string"),
            (
                "\"from\":{\"class\":\"name:a\",\"name\":\"a\",\"kind\":\"Mutex\",\"site\":null}",
                "\"from\":5",
                "field `from`: invalid type: integer `5`, expected a lock class (an object)",
            ),
            ("\"kind\":\"Mutex\",\"site\":null},\"hold", "\"kind\":[],\"site\":null},\"hold", "field `to.kind`: invalid type: sequence"),
            ("\"class\":\"name:b\",", "", "missing field `to.class`"),
            ("[\"7:3\"]", "[\"7:3\",true]", "field `gates[1]`: invalid type: boolean `true`"),
        ] {
            let line = EDGE.replacen(find, put, 1);
            assert_ne!(line, EDGE, "{find}");
            let e = parse(&format!("{HEADER}\n{line}\n")).unwrap_err();
            assert!(e.message.starts_with("invalid edge record: "), "{e}");
            assert!(e.message.contains(want), "{line}: {e}");
            // The last line, without its newline: the same error.
            let last = parse(&format!("{HEADER}\n{EDGE}\n{line}")).unwrap_err();
            assert_eq!(last.line, Some(3), "{last}");
            assert!(last.message.contains(want), "{line}: {last}");
        }
        // The header's fields too.
        let header = HEADER.replace("\"/bin/t\"", "5");
        let e = parse(&format!("{header}\n")).unwrap_err();
        assert!(
            e.message.starts_with(
                "invalid header: field `exe`: invalid type: integer `5`, expected a string"
            ),
            "{e}"
        );
    }

    /// Every mode's word is the one it is written as, and read back as.
    #[test]
    fn each_modes_word_round_trips() {
        for m in HoldMode::ALL {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<HoldMode>(&json).unwrap(), m);
        }
        for m in RequestMode::ALL {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<RequestMode>(&json).unwrap(), m);
        }
    }

    /// The templates [`blamed`] puts in place of a bad line's values parse.
    #[test]
    fn the_templates_parse() {
        assert!(parse_line(EDGE_TEMPLATE.as_bytes()).is_ok_and(|e| e.is_some()));
        assert!(parse_header(HEADER_TEMPLATE.as_bytes()).is_ok());
    }

    /// A line with multi-byte characters before its error (a lock named
    /// `caché`, a thread named `スレッド`, a path with `é` and `锁`): the
    /// column counts characters, as an editor shows them, not bytes.
    #[test]
    fn columns_count_characters_not_bytes() {
        let wide = EDGE
            .replace(
                "\"name:a\",\"name\":\"a\"",
                "\"name:caché\",\"name\":\"caché\"",
            )
            .replace("\"main\"", "\"スレッド\"")
            .replace("src/a.rs:1:2", "src/é/锁.rs:1:2");
        // The 1-based character column of the first `c` in `line`.
        let col = |line: &str, c: char| line[..line.find(c).unwrap()].chars().count() + 1;
        let syntax = wide.replace("\"pid\":7,\"exe\"", "\"pid\":7;\"exe\"");
        let e = parse(&format!("{HEADER}\n{syntax}\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "f.jsonl:2: invalid JSON: expected `,` or `}}` at column {}",
                col(&syntax, ';')
            )
        );
        // Ten bytes more than characters before it (two `é`, four
        // three-byte characters): serde_json's column was 240.
        assert_eq!(col(&syntax, ';'), 230);
        assert_eq!(syntax.find(';'), Some(229 + 10));
        // A wrong value, after them: its last character (the closing
        // quote of `"7"`, where `;` was).
        let data = wide.replace("\"pid\":7,", "\"pid\":\"7\",");
        let e = parse(&format!("{HEADER}\n{data}\n")).unwrap_err();
        assert!(
            e.message
                .ends_with("invalid type: string \"7\", expected u64 at column 231"),
            "{e}"
        );
        // In the header, and before a raw control character, which is
        // placed on itself.
        let header = HEADER.replace("/bin/t", "/home/josé/ビン\u{1}");
        let e = parse(&format!("{header}\n")).unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(
            e.message
                .ends_with(&format!(" at column {})", col(&header, '\u{1}'))),
            "{e}"
        );
    }

    #[test]
    fn oversized_lines_are_errors() {
        let long = format!("{HEADER}\n{}\n", "x".repeat(MAX_LINE_BYTES + 10));
        let e = parse(&long).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("longer than 1024 KiB"), "{e}");
        // Exactly at the limit is only malformed, not oversized.
        let at = format!("{HEADER}\n{}\n", "y".repeat(MAX_LINE_BYTES));
        let e = parse(&at).unwrap_err();
        assert!(e.message.contains("invalid JSON"), "{e}");
    }
}
