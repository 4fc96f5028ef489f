//! Reading the watchdog files: every line that is a lockgraph watchdog
//! record is kept; every other one (not JSON, not a record, cut short by a
//! killed process) is named and skipped, and a file with no record at all
//! is skipped whole.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Skipped;
use crate::error::Error;

/// Bad lines named per file; the rest are counted.
const NAMED_BAD_LINES: usize = 3;
/// A file larger than this is read up to it (the rest is said skipped).
const MAX_FILE: u64 = 256 << 20;

/// Whether a file name is a watchdog file's: `lockgraph-watchdog-*.jsonl`.
pub fn is_watchdog_file(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("lockgraph-watchdog-") && name.ends_with(".jsonl")
}

/// One process's file.
pub(super) struct File {
    pub(super) path: PathBuf,
    pub(super) pid: u64,
    pub(super) host: Option<String>,
    pub(super) rank: Option<u64>,
    pub(super) exe: Option<String>,
    /// (line number, record), in file order.
    pub(super) records: Vec<(u64, Value)>,
}

/// Reads every watchdog file of `paths`.
pub(super) fn read_all(paths: &[PathBuf]) -> Result<(Vec<File>, Vec<Skipped>), Error> {
    let listed = crate::files::list(paths, is_watchdog_file)?;
    let mut skipped: Vec<Skipped> = listed
        .warnings
        .iter()
        .map(|w| Skipped {
            file: PathBuf::from(w.split(": ").next().unwrap_or_default()),
            line: None,
            why: "not a regular file".into(),
        })
        .collect();
    let mut files = Vec::new();
    for path in &listed.files {
        if let Some(f) = read_one(path, &mut skipped) {
            files.push(f);
        }
    }
    Ok((files, skipped))
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

fn read_one(path: &Path, skipped: &mut Vec<Skipped>) -> Option<File> {
    let skip = |skipped: &mut Vec<Skipped>, line: Option<u64>, why: String| {
        skipped.push(Skipped {
            file: path.to_path_buf(),
            line,
            why,
        });
    };
    if let Err(e) = crate::files::check_regular(path) {
        skip(skipped, None, e.to_string());
        return None;
    }
    let bytes = match std::fs::File::open(path).and_then(|f| {
        use std::io::Read as _;
        let mut v = Vec::new();
        f.take(MAX_FILE).read_to_end(&mut v).map(|_| v)
    }) {
        Ok(b) => b,
        Err(e) => {
            skip(
                skipped,
                None,
                format!("cannot read it: {}", crate::error::lower(&e)),
            );
            return None;
        }
    };
    let (host_from_name, pid_from_name) = from_name(path);
    let mut f = File {
        path: path.to_path_buf(),
        pid: pid_from_name.unwrap_or(0),
        host: host_from_name,
        rank: None,
        exe: None,
        records: Vec::new(),
    };
    let ends_whole = bytes.last().is_none_or(|&b| b == b'\n');
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let count = lines.len();
    let mut bad = 0usize;
    let mut pid_from_records = None;
    for (i, raw) in lines.into_iter().enumerate() {
        let n = i as u64 + 1;
        let last = i + 1 == count;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let why = match serde_json::from_slice::<Value>(raw) {
            Ok(v) if v.get("lockgraph_watchdog").and_then(Value::as_u64) == Some(1) => {
                if v["kind"] == "process" {
                    f.rank = v["rank"].as_u64();
                    f.exe = v["exe"].as_str().map(str::to_string);
                    if let Some(h) = v["host"].as_str() {
                        f.host = Some(h.to_string());
                    }
                }
                if let Some(p) = v["pid"].as_u64() {
                    pid_from_records.get_or_insert(p);
                }
                f.records.push((n, v));
                continue;
            }
            Ok(v) if v.get("lockgraph_watchdog").is_some() => format!(
                "a watchdog record of an unknown version ({}); this lockgraph reads version 1",
                v["lockgraph_watchdog"]
            ),
            Ok(_) => {
                "not a lockgraph watchdog record (no \"lockgraph_watchdog\" field)".to_string()
            }
            Err(_) if last && !ends_whole => {
                "cut short (the process was killed while writing it)".to_string()
            }
            Err(e) if std::str::from_utf8(raw).is_err() => format!("not text (invalid UTF-8): {e}"),
            Err(e) => format!("not JSON: {e}"),
        };
        bad += 1;
        if bad <= NAMED_BAD_LINES {
            skip(skipped, Some(n), why);
        }
    }
    if bad > NAMED_BAD_LINES {
        skip(
            skipped,
            None,
            format!("{} more bad lines skipped", bad - NAMED_BAD_LINES),
        );
    }
    if bytes.len() as u64 >= MAX_FILE {
        skip(
            skipped,
            None,
            format!("read up to its first {} MiB only", MAX_FILE >> 20),
        );
    }
    if f.records.is_empty() {
        skip(
            skipped,
            None,
            "no lockgraph watchdog record in it".to_string(),
        );
        return None;
    }
    if let Some(p) = pid_from_records {
        f.pid = p;
    }
    Some(f)
}
