//! Reading lock-order record files (JSON Lines, format versions 1 to 4).
//!
//! `docs/record-format.md` is the contract. The reader follows its reading
//! rules: the first line must be a header of a known version; every later line
//! must be a JSON object; lines whose `type` is none of `"edge"`, `"stack"`
//! and `"cycle"` are ignored; a
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

mod cycle;
mod line;
mod parse;
mod raw_frame;
mod stacks;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::RecordError;
use crate::shown::ShowPath as _;

/// The newest record format version this reader understands; it reads
/// every version from 1 up to it (version 2 added the gates' modes, version
/// 3 the `upgradable` hold: see `EdgeLine::kind` for how a `read` request
/// of an older version is read; version 4 raw stack lines).
pub const FORMAT_VERSION: u64 = 4;

/// The longest line accepted, newline excluded (1 MiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The largest record file accepted (1 GiB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

#[cfg(test)]
use cycle::MAX_CYCLE_LOCKS;
pub use cycle::{CycleLevel, CycleLine, MAX_FILE_CYCLE_LOCKS};
pub use line::{ClassRef, EdgeLine, Header, HoldMode, RequestMode, Str};
use parse::{is_truncated, parse_header, parse_line, starts_with_brace, Parsed};
pub(crate) use raw_frame::{RawFrame, RAW_MARK};

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
            Some(line) => write!(f, "{}:{line}: {}", self.path.shown(), self.message),
            None => write!(f, "{}: {}", self.path.shown(), self.message),
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
    /// The `cycle` lines: cycles the process found at run time that its
    /// edge lines cannot show, each with its line number.
    pub cycles: Vec<CycleLine>,
    /// The torn last line, or the empty file, that was skipped.
    pub warning: Option<Warning>,
    /// Lines that contradict an earlier line of the file (a `stack` line
    /// that repeats a key with other frames): what was kept is said.
    pub conflicts: Vec<Warning>,
}

/// The state of one file being read, line by line.
struct FileParser<'p> {
    path: &'p Path,
    summary: FileSummary,
    stacks: stacks::StackLines,
    total: u64,
    have_header: bool,
    /// The locks of the cycle lines read so far.
    cycle_locks: u64,
}

impl<'p> FileParser<'p> {
    fn new(path: &'p Path) -> FileParser<'p> {
        FileParser {
            path,
            summary: FileSummary::default(),
            stacks: stacks::StackLines::default(),
            total: 0,
            have_header: false,
            cycle_locks: 0,
        }
    }

    /// Handles one line as read: `raw` ends in `\n` unless it is the last
    /// (`at_end`: nothing follows it; without its newline, a line over the
    /// limit is given cut at the limit, and may not be the last).
    fn line(
        &mut self,
        raw: &[u8],
        at_end: bool,
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
            if !terminated && at_end {
                // The last line, cut without its newline: torn, as a
                // shorter one is (it is not read, so not parsed).
                let why = format!("longer than {} KiB", MAX_LINE_BYTES >> 10);
                self.summary.warning = Some(self.torn(line_no, &why));
                self.have_header = true;
                return Ok(());
            }
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
            // A UTF-8 byte-order mark (an editor's, a Windows tool's) is
            // no part of the header, as in baseline and order files.
            let content = content.strip_prefix(b"\xef\xbb\xbf").unwrap_or(content);
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
            Ok(Parsed::Edge(mut edge)) => {
                edge.version = self
                    .summary
                    .header
                    .as_ref()
                    .map_or(1, |h| h.lockgraph_record);
                self.summary.edges += 1;
                sink(line_no, edge);
            }
            Ok(Parsed::Stack(st)) => self.stacks.add(self.path, line_no, &st),
            Ok(Parsed::Cycle(mut c)) => {
                self.cycle_locks = self.cycle_locks.saturating_add(c.lock_count());
                if self.cycle_locks > MAX_FILE_CYCLE_LOCKS {
                    return Err(RecordError::at(
                        self.path,
                        line_no,
                        format!(
                            "the file's cycle lines hold more than {MAX_FILE_CYCLE_LOCKS} locks \
                             in all, the limit for one record file"
                        ),
                    ));
                }
                c.line = line_no;
                self.summary.cycles.push(*c);
            }
            Ok(Parsed::Other) => self.summary.ignored += 1,
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
        (self.summary.stacks, self.summary.conflicts) = self.stacks.finish(self.path);
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
        let at_end = match buf.last() {
            Some(b'\n') => false,
            // Cut at the limit: the rest of the line says.
            _ if n > MAX_LINE_BYTES + 1 => rest_of_line_ends_input(&mut reader).map_err(|e| {
                RecordError::at(
                    path,
                    p.summary.lines + 1,
                    format!("read failed: {}", crate::error::lower(&e)),
                )
            })?,
            _ => true,
        };
        p.line(&buf, at_end, &mut sink)?;
        if buf.last() != Some(&b'\n') {
            // A line without its newline is the last one read: when the
            // file is still being written, what follows is the rest of it.
            break;
        }
    }
    Ok(p.finish())
}

/// Reads and drops the rest of a line cut at the limit: whether the input
/// ends before its newline (the line is the last).
fn rest_of_line_ends_input<R: BufRead>(reader: &mut R) -> std::io::Result<bool> {
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(true);
        }
        if let Some(i) = memchr::memchr(b'\n', chunk) {
            reader.consume(i + 1);
            return Ok(false);
        }
        let n = chunk.len();
        reader.consume(n);
    }
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
        p.line(&rest[..end], end == rest.len(), &mut sink)?;
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
mod cycle_tests;
#[cfg(test)]
mod tests;
