//! Reading the watchdog files, one line at a time: every line that is a
//! lockgraph watchdog record is folded into its process's state as it is
//! read (its reports, each thread's latest state, its markers: [`fold`]),
//! and every other one (not JSON, not a record, cut short by a killed
//! process) is named and skipped; a file with no record at all is skipped
//! whole.
//!
//! Nothing grows with the size of the input: at most
//! [`Limits::line_bytes`] of a line are held, at most [`Limits::file_bytes`]
//! of a file are read as lines (a larger file's first and last halves of
//! it: `read/tail.rs`; the lines between are only counted), and what is
//! kept is charged against
//! [`Limits::kept_per_file`] and [`Limits::kept_total`] ([`super::keep`]).
//! Each limit reached is said, with the file, the line and the limit.
//!
//! What the verdict needs is counted whatever was kept: a file read once
//! [`Limits::kept_total`] is reached still gives its process and its
//! report counts, and a line skipped for its length or its parse still
//! counts as the report its first bytes show ([`super::head`]). What may
//! hold a report and was not read (the middle of a file over
//! [`Limits::file_bytes`], a long line whose first bytes do not say, a
//! record of an unknown version) makes the verdict incomplete
//! ([`Notes::incomplete`]).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::head::{self, Head, HEAD_BYTES};
use super::keep::{self, Budget, NotKept, Refused};
use super::lines::{next_line, Line};
use super::shape::Shape;
use super::{amount, first_line, thread_view, Limits, Skipped, ThreadView};
use crate::error::Error;
use crate::shown::ShowPath as _;

mod fold;
mod tail;

/// Bad lines named per file; the rest are counted.
const NAMED_BAD_LINES: usize = 3;
/// The longest host a process record may name (a DNS name has at most
/// 253 bytes): a process's host is in every label of its threads.
const MAX_HOST: usize = 255;

/// Whether a file name is a watchdog file's: `lockgraph-watchdog-*.jsonl`.
pub fn is_watchdog_file(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("lockgraph-watchdog-") && name.ends_with(".jsonl")
}

/// A deadlock or long-wait report of one process.
pub(super) struct Report {
    pub(super) deadlock: bool,
    /// A dump's verdict, not a report (`File::dump_deadlocks`).
    pub(super) from_dump: bool,
    pub(super) cycle: Option<String>,
    pub(super) summary: String,
    pub(super) advice: Option<String>,
}

/// One process's file, as read.
pub(super) struct File {
    pub(super) path: PathBuf,
    pub(super) pid: u64,
    pub(super) host: Option<String>,
    pub(super) rank: Option<u64>,
    pub(super) exe: Option<String>,
    /// The reports kept, in file order.
    pub(super) reports: Vec<Report>,
    /// The deadlocks its dumps' verdicts name (`deadlocks`), each cycle
    /// once: a dump answers at the watchdog's next scan, its report only
    /// after a second, so a process dumped and then killed may leave only
    /// these. Those no report of the file names count as its deadlocks.
    pub(super) dump_deadlocks: Vec<Report>,
    /// Each thread's latest state, by tid.
    pub(super) threads: BTreeMap<u64, ThreadView>,
    /// The last value of each progress marker.
    pub(super) progress: BTreeMap<String, u64>,
    /// The time of its last record (ms since the Unix epoch).
    pub(super) last_unix_ms: Option<u64>,
    /// Deadlock reports, long-wait reports and dumps read (kept or not).
    pub(super) deadlocks: usize,
    pub(super) long_waits: usize,
    pub(super) dumps: usize,
}

/// What was skipped, for all files.
#[derive(Debug, Default)]
pub(super) struct Notes {
    /// Files and lines skipped, and limits reached.
    pub(super) skipped: Vec<Skipped>,
    /// Lines skipped as unusable (named or counted).
    pub(super) bad_lines: usize,
    /// Whether something that may hold a deadlock or long-wait report was
    /// skipped without being counted (for a limit, or of an unknown
    /// version).
    pub(super) incomplete: bool,
}

impl Notes {
    fn skip(&mut self, file: &Path, line: Option<u64>, why: String, limit: Option<&'static str>) {
        self.skipped.push(Skipped {
            file: file.to_path_buf(),
            line,
            why,
            limit,
        });
    }
}

/// The watchdog files of `paths`; matching entries that are not regular
/// files are noted as skipped.
pub(super) fn list(paths: &[PathBuf], notes: &mut Notes) -> Result<Vec<PathBuf>, Error> {
    let listed = crate::files::list(paths, is_watchdog_file)?;
    for w in &listed.warnings {
        let file = PathBuf::from(w.split(": ").next().unwrap_or_default());
        notes.skip(&file, None, "not a regular file".into(), None);
    }
    Ok(listed.files)
}

/// Other `.jsonl` files named at most, per directory, in a note; the rest
/// are counted.
const NAMED_OTHERS: usize = 3;

/// Whether `name` is a lock-order record file's,
/// `lockgraph-<pid>-<unix_nanos>.jsonl` (docs/record-format.md), which
/// may share the directory and is `lockgraph check`'s, not `hang`'s.
fn is_record_file(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix("lockgraph-")
        .and_then(|n| n.strip_suffix(".jsonl"))
        .and_then(|n| n.split_once('-'))
        .is_some_and(|(pid, nanos)| digits(pid) && digits(nanos))
}

/// For each directory of `paths` holding regular `.jsonl` files not named
/// like a watchdog file (renamed by a launcher, cut copies) nor like a
/// record file, which are not read: a note naming them (how many, and the first
/// [`NAMED_OTHERS`] by name). A directory that cannot be listed gives none
/// (listing it for the watchdog files said so already).
pub(super) fn others(paths: &[PathBuf]) -> Vec<String> {
    let mut notes = Vec::new();
    for dir in paths.iter().filter(|p| p.is_dir()) {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with(".jsonl")
                    && !is_watchdog_file(&e.file_name())
                    && !is_record_file(&name)
                    && fs::metadata(e.path()).is_ok_and(|m| m.is_file())
            })
            .map(|e| e.file_name().shown().to_string())
            .collect();
        if names.is_empty() {
            continue;
        }
        names.sort();
        let n = names.len();
        let more = n.saturating_sub(NAMED_OTHERS);
        names.truncate(NAMED_OTHERS);
        notes.push(format!(
            "{n} other .jsonl file{} in {} not read (not named lockgraph-watchdog-*.jsonl): {}{}",
            if n == 1 { "" } else { "s" },
            dir.shown(),
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    notes
}

/// The pid and host in a file name `lockgraph-watchdog-<host>-<pid>.jsonl`.
fn from_name(path: &Path) -> (Option<String>, Option<u64>) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(mid) = name
        .strip_prefix("lockgraph-watchdog-")
        .and_then(|n| n.strip_suffix(".jsonl"))
    else {
        return (None, None);
    };
    match mid.rsplit_once('-') {
        Some((host, pid)) => (Some(host.to_string()), pid.parse().ok()),
        None => (None, mid.parse().ok()),
    }
}

/// Whether two wait-for cycles as reports write them (`thread `a` ->
/// Mutex `m` -> thread `b` -> ... -> thread `a``) are one cycle, started
/// at another of its members or not.
pub(super) fn same_cycle(a: &str, b: &str) -> bool {
    let members = |c: &str| -> Vec<String> {
        let mut m: Vec<String> = c.split(" -> ").map(str::to_string).collect();
        if m.len() > 1 && m.first() == m.last() {
            m.pop();
        }
        m
    };
    let (a, b) = (members(a), members(b));
    a.len() == b.len()
        && (0..a.len().max(1)).any(|r| a.iter().cycle().skip(r).take(a.len()).eq(b.iter()))
}

/// The `kind`s of version 1's records.
const KINDS: [&str; 5] = ["process", "deadlock", "long_wait", "dump", "progress"];

/// One file being read.
struct Reading<'a> {
    file: File,
    budget: &'a mut Budget,
    notes: &'a mut Notes,
    not_kept: NotKept,
    /// Bad lines so far.
    bad: usize,
    /// Watchdog records read (kept or not).
    records: u64,
    pid_from_records: Option<u64>,
    /// What the host and program of the process record cost.
    process_cost: u64,
    /// The limit reached before the file was read, when it was: nothing
    /// of it is kept but its process, its counts and what the budget's
    /// reserve takes.
    counted_only: Option<Refused>,
}

/// Reads one file; `None` when it has no usable record (said in `notes`).
/// `buf` is the line buffer, kept from file to file.
pub(super) fn read_one(
    path: &Path,
    limits: &Limits,
    budget: &mut Budget,
    buf: &mut Vec<u8>,
    notes: &mut Notes,
) -> Option<File> {
    if let Err(e) = crate::files::check_regular(path) {
        notes.skip(path, None, e.to_string(), None);
        return None;
    }
    budget.start_file();
    // Once nothing is left to keep, the file is still read for what the
    // verdict needs (its process, what it holds beside the limit, is a few
    // hundred bytes, as its path in the list of files is).
    let counted_only = budget.take(keep::file(path)).err();
    let (host, pid) = from_name(path);
    let mut r = Reading {
        file: File {
            path: path.to_path_buf(),
            pid: pid.unwrap_or(0),
            host,
            rank: None,
            exe: None,
            reports: Vec::new(),
            dump_deadlocks: Vec::new(),
            threads: BTreeMap::new(),
            progress: BTreeMap::new(),
            last_unix_ms: None,
            deadlocks: 0,
            long_waits: 0,
            dumps: 0,
        },
        budget,
        notes,
        not_kept: NotKept::default(),
        bad: 0,
        records: 0,
        pid_from_records: None,
        process_cost: 0,
        counted_only,
    };
    if let Err(e) = r.lines(limits, buf) {
        // What could not be read may hold a report: no verdict of "nothing
        // hangs" can stand on the rest.
        r.notes.incomplete = true;
        if r.records > 0 {
            // Part of it was read: what it says counts.
            let why = format!(
                "cannot read all of it: {} (what was read before is used)",
                crate::error::lower(&e)
            );
            r.skip(None, why, None);
            return r.finish();
        }
        r.notes.bad_lines += r.bad;
        let used = r.budget.file_used();
        r.budget.give(used);
        let why = format!("cannot read it: {}", crate::error::lower(&e));
        r.notes.skip(path, None, why, None);
        return None;
    }
    r.finish()
}

impl Reading<'_> {
    fn skip(&mut self, line: Option<u64>, why: String, limit: Option<&'static str>) {
        self.notes.skip(&self.file.path, line, why, limit);
    }

    /// Reads the lines of the file: all of it, up to [`Limits::file_bytes`];
    /// a larger file, its first line and its last bytes
    /// ([`head_and_tail`](Self::head_and_tail)).
    fn lines(&mut self, limits: &Limits, buf: &mut Vec<u8>) -> io::Result<()> {
        let file = fs::File::open(&self.file.path)?;
        let size = file.metadata()?.len();
        if size > limits.file_bytes {
            return self.head_and_tail(file, size, limits, buf);
        }
        let mut input = BufReader::with_capacity(1 << 16, file.take(limits.file_bytes));
        let (n, done, cut) = self.read_lines(&mut input, 0, limits, buf)?;
        if cut {
            // The file grew past the limit while it was read: what was not
            // read may hold reports.
            self.notes.incomplete = true;
            let rest = amount(size.saturating_sub(done).max(1));
            let why = if n == 0 {
                format!(
                    "its first line runs past the {} limit for one file: nothing read, {rest} skipped",
                    amount(limits.file_bytes)
                )
            } else {
                format!(
                    "read up to the {} limit for one file: lines 1 to {n} read, the {rest} after them skipped",
                    amount(limits.file_bytes)
                )
            };
            self.skip(None, why, Some("file_bytes"));
        }
        Ok(())
    }

    /// Reads the lines of `input`, numbered from `n + 1`: the last line's
    /// number, the bytes of the lines read whole, and whether reading
    /// stopped at the input's limit with more in the file.
    fn read_lines(
        &mut self,
        input: &mut BufReader<io::Take<fs::File>>,
        mut n: u64,
        limits: &Limits,
        buf: &mut Vec<u8>,
    ) -> io::Result<(u64, u64, bool)> {
        // The bytes of the lines read whole.
        let mut done = 0u64;
        // The first bytes of a line over the limit.
        let mut head = Vec::new();
        let cut = loop {
            let line = next_line(input, buf, limits.line_bytes, (&mut head, HEAD_BYTES))?;
            let (len, newline) = match line {
                Line::End => break over_limit(input)?,
                Line::Text { newline } => (buf.len() as u64, newline),
                Line::TooLong { len, newline } => (len, newline),
            };
            // A line without its newline ends what was read: at the
            // limit, it is the start of what is skipped.
            if !newline && over_limit(input)? {
                break true;
            }
            n += 1;
            done += len + u64::from(newline);
            match line {
                Line::TooLong { len, .. } => {
                    let what = self.skipped_record(n, &head, false);
                    let why = format!(
                        "a line of {}, over the {} limit for one line{what}",
                        amount(len),
                        amount(limits.line_bytes)
                    );
                    self.skip(Some(n), why, Some("line_bytes"));
                }
                _ => self.line(n, buf, newline, limits.parse_bytes),
            }
            if buf.capacity() > 1 << 20 {
                // A long line's buffer is not kept for the next ones.
                *buf = Vec::new();
            }
        };
        Ok((n, done, cut))
    }

    /// One line, newline excluded (`newline`: whether it had one).
    fn line(&mut self, n: u64, buf: &mut Vec<u8>, newline: bool, max_parse: u64) {
        let raw = &buf[..];
        if raw.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let shape = Shape::of(raw);
        if shape.parse_bytes() > max_parse {
            let whole = raw.len() <= HEAD_BYTES;
            let what = self.skipped_record(n, &raw[..raw.len().min(HEAD_BYTES)], whole);
            let why = format!(
                "a line that would take about {} to parse (up to {} JSON values, {} of them objects), over the {} limit for parsing one line{what}",
                amount(shape.parse_bytes()),
                shape.values,
                shape.objects,
                amount(max_parse)
            );
            self.skip(Some(n), why, Some("parse_bytes"));
            return;
        }
        let why = match serde_json::from_slice::<Value>(raw) {
            Ok(v) => {
                // A long line's bytes go before its record is folded.
                if buf.capacity() > 1 << 20 {
                    *buf = Vec::new();
                }
                match self.value(n, &v) {
                    Some(why) => why,
                    None => return,
                }
            }
            // The line a killed process was writing (the start of a JSON
            // object that ends early): the likeliest place for its last
            // report, counted from its start when that says so.
            Err(e) if !newline && e.is_eof() && raw.trim_ascii_start().starts_with(b"{") => {
                let head = &buf[..buf.len().min(HEAD_BYTES)];
                let what = self.skipped_record(n, head, false);
                format!("cut short (the process was killed while writing it){what}")
            }
            // Positions in the line, as the line number says which line.
            Err(e) => match std::str::from_utf8(raw) {
                Err(bad) => format!(
                    "not text (bytes that are not UTF-8, from column {})",
                    crate::position::line_col(raw, bad.valid_up_to()).1
                ),
                Ok(_) => {
                    let msg = crate::position::json_message(&e);
                    match crate::position::json_error_at(raw, &e) {
                        Some((_, col)) => format!("not JSON: {msg} at column {col}"),
                        None => format!("not JSON: {msg}"),
                    }
                }
            },
        };
        self.bad += 1;
        if self.bad <= NAMED_BAD_LINES {
            self.skip(Some(n), why, None);
        }
    }

    /// A line that is JSON: folded when it is a record, else why not.
    fn value(&mut self, n: u64, v: &Value) -> Option<String> {
        match v.get("lockgraph_watchdog") {
            Some(w) if w.as_u64() == Some(1) => match v["host"].as_str() {
                Some(h) if v["kind"] == "process" && h.len() > MAX_HOST => Some(format!(
                    "a process record whose host is {} bytes long (a host name has at most {MAX_HOST})",
                    h.len()
                )),
                _ if !KINDS.contains(&v["kind"].as_str().unwrap_or("")) => {
                    // A newer runtime's record of this version may be a
                    // report: no verdict of "nothing hangs" stands on it.
                    self.notes.incomplete = true;
                    Some(match &v["kind"] {
                        Value::Null => "a watchdog record without a `kind`: it may be a report, not read".to_string(),
                        k => format!("a watchdog record of an unknown kind, {k} (a newer lockgraph's?): it may be a report, not read"),
                    })
                }
                _ => {
                    self.record(n, v);
                    None
                }
            },
            // It may be a report this lockgraph cannot read.
            Some(w) => {
                self.notes.incomplete = true;
                Some(head::unknown_version(w, v.get("kind")))
            }
            None => Some(
                "not a lockgraph watchdog record (no \"lockgraph_watchdog\" field)".to_string(),
            ),
        }
    }

    /// What the file gave, once read: `None` when it has no record.
    fn finish(mut self) -> Option<File> {
        self.notes.bad_lines += self.bad;
        if self.bad > NAMED_BAD_LINES {
            let why = format!("{} more bad lines skipped", self.bad - NAMED_BAD_LINES);
            self.skip(None, why, None);
        }
        if let Some(by) = self.counted_only {
            let why = self.not_kept.describe_counted(self.budget, by);
            self.skip(None, why, Some(by.name()));
        } else if let Some(why) = self.not_kept.describe(self.budget) {
            let limit = self.not_kept.by.first().map(|r| r.name());
            self.skip(None, why, limit);
        }
        if self.records == 0 {
            let used = self.budget.file_used();
            self.budget.give(used);
            self.skip(None, "no lockgraph watchdog record in it".to_string(), None);
            return None;
        }
        if let Some(p) = self.pid_from_records {
            self.file.pid = p;
        }
        Some(self.file)
    }
}

/// Whether reading stopped at [`Limits::file_bytes`] with more in the
/// file. Called once what was read is all consumed.
fn over_limit(input: &mut BufReader<io::Take<fs::File>>) -> io::Result<bool> {
    if input.get_ref().limit() > 0 {
        return Ok(false);
    }
    let mut one = [0u8; 1];
    loop {
        match input.get_mut().get_mut().read(&mut one) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
