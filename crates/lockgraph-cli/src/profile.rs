//! `lockgraph profile`: merges the contention profiles of many processes.
//!
//! With `LOCKGRAPH_RECORD=<dir>` and profiling on (`LOCKGRAPH_PROFILE=1`), each
//! process writes `<dir>/lockgraph-profile-<pid>.json` at exit (format: the
//! "Profile files" section of `docs/record-format.md`). This module reads those
//! files into the runtime's own [`Counters`], checking for counters whose sum
//! would overflow, and builds a [`ProfileReport`] from them, so the merge, the
//! ranking and the advice rules are the runtime's.
//!
//! ```no_run
//! let profile = lockgraph_cli::profile::load(&["target/lockgraph".into()])?;
//! print!("{}", profile.report);
//! # Ok::<(), lockgraph_cli::Error>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use lockgraph_core::profile::{Advice, Counters, ProfileReport};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::output::escape;
use crate::position::{json_error_at, json_message, without_position};
use crate::shown::ShowPath as _;

/// The profile format version this reader understands.
pub const PROFILE_VERSION: u64 = 1;

/// The largest profile file accepted (1 GiB, as for record files).
pub const MAX_FILE_BYTES: u64 = crate::reader::MAX_FILE_BYTES;

/// The file name prefix of profile files in a directory.
pub const FILE_PREFIX: &str = "lockgraph-profile-";

/// The file name suffix of profile files in a directory.
pub const FILE_SUFFIX: &str = ".json";

/// One profile file, read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileFile {
    /// The file.
    pub path: PathBuf,
    /// The process id (0 when the file does not say).
    pub pid: u64,
    /// The executable (`""` when the file does not say).
    pub exe: String,
    /// One entry per class, as written.
    pub classes: Vec<Counters>,
}

/// The merged profile of many files.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Profile {
    /// The files read, sorted.
    pub files: Vec<PathBuf>,
    /// Distinct process ids among them.
    pub processes: usize,
    /// The merged counters, one entry per class id, in the report's order.
    pub counters: Vec<Counters>,
    /// The runtime's report of the merged counters (hottest first, with advice).
    pub report: ProfileReport,
    /// Warnings about the input as a whole (no profile files).
    pub warnings: Vec<String>,
}

/// How `lockgraph profile` renders a [`Profile`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileFormat {
    /// The runtime's table and advice, then a summary line.
    #[default]
    Text,
    /// A JSON array of [`Row`]s, hottest first.
    Json,
}

impl fmt::Display for ProfileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProfileFormat::Text => "text",
            ProfileFormat::Json => "json",
        })
    }
}

/// Whether a directory entry is named like a profile file.
pub fn is_profile_name(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|name| {
        name.len() > FILE_PREFIX.len() + FILE_SUFFIX.len()
            && name.starts_with(FILE_PREFIX)
            && name.ends_with(FILE_SUFFIX)
    })
}

/// Lists the profile files among `paths`: a directory contributes its
/// `lockgraph-profile-*.json` regular files (not recursively), any other
/// path must be a regular file and is taken as a profile file. Sorted,
/// without duplicates. Matching entries that are not regular files (a FIFO
/// would block the reader) are skipped with a warning.
pub fn collect_files(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<String>), Error> {
    let listed = crate::files::list(paths, is_profile_name)?;
    Ok((listed.files, listed.warnings))
}

fn invalid(path: &Path, position: Option<(usize, usize)>, message: impl Into<String>) -> Error {
    Error::Profile {
        path: path.to_path_buf(),
        position,
        message: message.into(),
    }
}

/// serde_json's message without its " at line L column C" suffix, and its
/// position in `bytes`, the file it read (line and column in characters),
/// when it has one.
fn json_error(bytes: &[u8], e: &serde_json::Error) -> (Option<(usize, usize)>, String) {
    (json_error_at(bytes, e), json_message(e))
}

/// Reads one profile file.
pub fn read_file(path: &Path) -> Result<ProfileFile, Error> {
    let cannot = |e: &io::Error| {
        invalid(
            path,
            None,
            format!("cannot read it: {}", crate::error::lower(e)),
        )
    };
    crate::files::check_regular(path)?;
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(&e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(invalid(
            path,
            None,
            format!(
                "larger than {} MiB, the limit for a profile file",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    parse(path, &bytes)
}

/// `T` from a JSON object only (derived structs also accept arrays).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object<T>, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData)).map(Object)
    }
}

/// Only the version; serde skips every other field without building values.
#[derive(Deserialize)]
struct VersionOnly {
    lockgraph_profile: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct FileDe {
    #[serde(default)]
    pid: u64,
    #[serde(default)]
    exe: String,
    classes: Classes,
}

/// The class entries; an entry's error names its index.
struct Classes(Vec<Counters>);

impl<'de> Deserialize<'de> for Classes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Classes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Classes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of class entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Classes, A::Error> {
                let mut out = Vec::new();
                loop {
                    match seq.next_element::<Object<ClassDe>>() {
                        Ok(Some(Object(c))) => out.push(c.into()),
                        Ok(None) => return Ok(Classes(out)),
                        Err(e) => {
                            // serde_json positions the wrapped error itself.
                            let full = e.to_string();
                            let msg = without_position(&full);
                            // Named as a JSON path, counted from 0 like
                            // the baseline's (`cycles[0].locks[1]`).
                            return Err(de::Error::custom(format!(
                                "classes[{}]: {msg}",
                                out.len()
                            )));
                        }
                    }
                }
            }
        }
        d.deserialize_seq(V)
    }
}

/// A nullable field that must still be present.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// One class entry: every field required (the nullable ones may be null).
#[derive(Deserialize)]
struct ClassDe {
    class: String,
    #[serde(deserialize_with = "nullable")]
    name: Option<String>,
    kind: String,
    #[serde(deserialize_with = "nullable")]
    site: Option<String>,
    acquisitions: u64,
    contended: u64,
    wait_ns: u64,
    max_wait_ns: u64,
    reads: u64,
    hold_samples: u64,
    hold_ns: u64,
    max_hold_ns: u64,
    waiting_threads: u64,
    blocking_calls: u64,
    blocking_ns: u64,
    #[serde(deserialize_with = "nullable")]
    blocking_what: Option<String>,
}

impl From<ClassDe> for Counters {
    fn from(c: ClassDe) -> Counters {
        Counters {
            // As records: a dependency's site without the CARGO_HOME path,
            // also in profiles written before the runtime wrote it so.
            class: lockgraph_core::site_key::class_id(&c.class).into_owned(),
            name: c.name,
            kind: c.kind,
            site: c.site,
            acquisitions: c.acquisitions,
            contended: c.contended,
            wait_ns: c.wait_ns,
            max_wait_ns: c.max_wait_ns,
            reads: c.reads,
            hold_samples: c.hold_samples,
            hold_ns: c.hold_ns,
            max_hold_ns: c.max_hold_ns,
            waiting_threads: c.waiting_threads,
            blocking_calls: c.blocking_calls,
            blocking_ns: c.blocking_ns,
            blocking_what: c.blocking_what,
        }
    }
}

/// Parses a profile file's bytes; `path` names it in messages.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ProfileFile, Error> {
    let error = |e: serde_json::Error| {
        let (pos, msg) = json_error(bytes, &e);
        if e.is_data() {
            invalid(path, pos, with_field(bytes, msg))
        } else {
            invalid(path, pos, format!("not JSON: {msg}"))
        }
    };
    let Object(head): Object<VersionOnly> = serde_json::from_slice(bytes).map_err(error)?;
    match head.lockgraph_profile.as_ref().map(|v| v.as_u64()) {
        None => {
            return Err(invalid(
                path,
                None,
                "no `lockgraph_profile` field: this is not a lockgraph profile",
            ))
        }
        Some(Some(PROFILE_VERSION)) => {}
        Some(Some(v)) => {
            return Err(invalid(
                path,
                None,
                format!(
                "unsupported profile version {v} (this lockgraph reads version {PROFILE_VERSION})"
            ),
            ))
        }
        Some(None) => {
            return Err(invalid(
                path,
                None,
                "`lockgraph_profile` must be a version number",
            ))
        }
    }
    let Object(file): Object<FileDe> = serde_json::from_slice(bytes).map_err(error)?;
    Ok(ProfileFile {
        path: path.to_path_buf(),
        pid: file.pid,
        exe: file.exe,
        classes: file.classes.0,
    })
}

/// A valid profile of one class, whose values stand in for a bad file's
/// while [`blame`](crate::blame::blame) looks for the field at fault (its
/// fields in the order `ClassDe` declares them).
const PROFILE_TEMPLATE: &str = r#"{"lockgraph_profile":1,"pid":7,"exe":"/bin/t","classes":[{"class":"name:q","name":"q","kind":"Mutex","site":null,"acquisitions":100,"contended":40,"wait_ns":5000,"max_wait_ns":900,"reads":0,"hold_samples":10,"hold_ns":1000,"max_hold_ns":300,"waiting_threads":3,"blocking_calls":0,"blocking_ns":0,"blocking_what":null}]}"#;

/// `msg`, an entry's error (`classes[2]: invalid type: ...`), with the
/// entry's field at fault named (`classes[2].reads: invalid type: ...`):
/// serde says what is wrong, not in which of the sixteen fields.
fn with_field(bytes: &[u8], msg: String) -> String {
    let Some(rest) = msg.strip_prefix("classes[") else {
        return msg;
    };
    let Some((_, what)) = rest.split_once("]: ") else {
        return msg;
    };
    let parses = |v: &serde_json::Value| Object::<FileDe>::deserialize(v).is_ok();
    match crate::blame::blame(bytes, PROFILE_TEMPLATE.as_bytes(), &parses) {
        Some(crate::blame::Blame::Wrong(field)) if field.starts_with("classes[") => {
            format!("{field}: {what}")
        }
        _ => msg,
    }
}

/// The additive counters of `a` and `b` that would overflow when summed.
fn overflowing(a: &Counters, b: &Counters) -> Option<&'static str> {
    [
        ("acquisitions", a.acquisitions, b.acquisitions),
        ("contended", a.contended, b.contended),
        ("wait_ns", a.wait_ns, b.wait_ns),
        ("reads", a.reads, b.reads),
        ("hold_samples", a.hold_samples, b.hold_samples),
        ("hold_ns", a.hold_ns, b.hold_ns),
        ("waiting_threads", a.waiting_threads, b.waiting_threads),
        ("blocking_calls", a.blocking_calls, b.blocking_calls),
        ("blocking_ns", a.blocking_ns, b.blocking_ns),
    ]
    .into_iter()
    .find(|(_, x, y)| x.checked_add(*y).is_none())
    .map(|(name, _, _)| name)
}

/// Merges the files' classes by class id and kind (with [`Counters::merge`],
/// in file order); a sum that overflows is an error naming the file that
/// made it.
pub fn merge(files: &[ProfileFile]) -> Result<Vec<Counters>, Error> {
    // By class and kind, as each process's own profile.
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut merged: Vec<Counters> = Vec::new();
    for f in files {
        for c in &f.classes {
            match index.get(&(c.class.clone(), c.kind.clone())) {
                Some(&i) => {
                    if let Some(field) = overflowing(&merged[i], c) {
                        return Err(invalid(
                            &f.path,
                            None,
                            format!(
                                "`{field}` of class `{}` overflows when added to the other entries",
                                c.class
                            ),
                        ));
                    }
                    merged[i].merge(c);
                }
                None => {
                    index.insert((c.class.clone(), c.kind.clone()), merged.len());
                    merged.push(c.clone());
                }
            }
        }
    }
    Ok(merged)
}

/// Reads, merges and ranks the profile files among `paths` (see
/// [`collect_files`]). No files at all is not an error: the profile is empty
/// and a warning says so.
pub fn load(paths: &[PathBuf]) -> Result<Profile, Error> {
    let (paths_read, mut warnings) = collect_files(paths)?;
    let mut files = paths_read
        .iter()
        .map(|p| read_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    // Counters that cannot be (a file written while its threads still
    // counted, or by hand) are shown made consistent, and said so.
    for f in &mut files {
        for (i, c) in f.classes.iter_mut().enumerate() {
            if let Some(why) = c.inconsistency() {
                warnings.push(format!(
                    "{}: classes[{i}]: {why}; shown made consistent",
                    f.path.shown()
                ));
                *c = c.clone().consistent();
            }
        }
    }
    if files.is_empty() {
        let list: Vec<String> = paths.iter().map(|p| p.shown().to_string()).collect();
        warnings.push(format!(
            "no profile files ({FILE_PREFIX}*{FILE_SUFFIX}) in {}: a process writes one at \
             normal exit when LOCKGRAPH_RECORD is set and profiling is on (LOCKGRAPH_PROFILE=1), \
             in builds with lock tracking (debug, or lockgraph's `track-in-release` feature)",
            list.join(", ")
        ));
    }
    let processes = files
        .iter()
        .filter(|f| f.pid != 0)
        .map(|f| f.pid)
        .collect::<HashSet<_>>()
        .len()
        + files.iter().filter(|f| f.pid == 0).count();
    let merged = merge(&files)?;
    let report = ProfileReport::from_counters(merged.clone());
    // The counters in the report's order (a class may have a row per kind).
    let mut by_class: HashMap<(String, String), Counters> = merged
        .into_iter()
        .map(|c| ((c.class.clone(), c.kind.clone()), c))
        .collect();
    let counters = report
        .classes
        .iter()
        .filter_map(|p| by_class.remove(&(p.class.clone(), p.kind.name().to_string())))
        .collect();
    Ok(Profile {
        files: paths_read,
        processes,
        counters,
        report,
        warnings,
    })
}

/// One class of a `--format json` profile: the merged counters, the derived
/// numbers, and the runtime's advice as sentences.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Row {
    /// The class id (`name:..`, `site:..`, `anon:..`).
    pub class: String,
    /// The name, for named classes.
    pub name: Option<String>,
    /// `Mutex`, `RwLock`, `ReentrantMutex`, `Condvar` or `lock`.
    pub kind: String,
    /// The creation site, for site classes.
    pub site: Option<String>,
    /// Acquisitions.
    pub acquisitions: u64,
    /// Contended acquisitions.
    pub contended: u64,
    /// `contended / acquisitions` (0 when there were none).
    pub contention: f64,
    /// Total wait, nanoseconds.
    pub wait_ns: u64,
    /// Longest wait, nanoseconds.
    pub max_wait_ns: u64,
    /// Shared acquisitions.
    pub reads: u64,
    /// Sampled holds.
    pub hold_samples: u64,
    /// Sum of the sampled hold times, nanoseconds.
    pub hold_ns: u64,
    /// Mean sampled hold, nanoseconds.
    pub mean_hold_ns: u64,
    /// Longest sampled hold, nanoseconds.
    pub max_hold_ns: u64,
    /// Threads that waited (summed over processes).
    pub waiting_threads: u64,
    /// Blocking calls made while holding the class.
    pub blocking_calls: u64,
    /// Time in those calls, nanoseconds.
    pub blocking_ns: u64,
    /// What one of those calls was.
    pub blocking_what: Option<String>,
    /// The runtime's advice, one sentence each.
    pub advice: Vec<String>,
}

impl Profile {
    /// One row per class, hottest first.
    pub fn rows(&self) -> Vec<Row> {
        self.report
            .classes
            .iter()
            .zip(&self.counters)
            .map(|(p, c)| Row {
                class: c.class.clone(),
                name: c.name.clone(),
                kind: c.kind.clone(),
                site: c.site.clone(),
                acquisitions: c.acquisitions,
                contended: c.contended,
                contention: p.contention(),
                wait_ns: c.wait_ns,
                max_wait_ns: c.max_wait_ns,
                reads: c.reads,
                hold_samples: c.hold_samples,
                hold_ns: c.hold_ns,
                mean_hold_ns: c.hold_ns / c.hold_samples.max(1),
                max_hold_ns: c.max_hold_ns,
                waiting_threads: c.waiting_threads,
                blocking_calls: c.blocking_calls,
                blocking_ns: c.blocking_ns,
                blocking_what: c.blocking_what.clone(),
                advice: p.advice.iter().map(|a| a.to_string()).collect(),
            })
            .collect()
    }

    /// The one-line summary: classes, files, processes.
    pub fn summary_line(&self) -> String {
        let n = |n: usize, one: &str, many: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        };
        format!(
            "lockgraph: {} in {} ({})",
            n(self.report.classes.len(), "lock class", "lock classes"),
            n(self.files.len(), "profile file", "profile files"),
            n(self.processes, "process", "processes"),
        )
    }

    /// The report as the text format shows it: every string that came from
    /// the profile files (class ids, names, sites, what a blocking call
    /// was) with its control characters and bidirectional overrides shown
    /// as escapes (`\n`, `\u{1b}`), as `check` shows names. Anyone can
    /// write a profile file, and a raw escape sequence in a lock's name
    /// would drive the terminal or forge lines of the table.
    pub fn text_report(&self) -> ProfileReport {
        let mut report = self.report.clone();
        let shown = |s: &mut String| {
            if let std::borrow::Cow::Owned(safe) = escape::text(s) {
                *s = safe;
            }
        };
        for c in &mut report.classes {
            shown(&mut c.class);
            c.name.iter_mut().for_each(shown);
            c.created.iter_mut().for_each(shown);
            c.blocking_what.iter_mut().for_each(shown);
            for a in &mut c.advice {
                if let Advice::MoveBlockingCallOut { what, .. } = a {
                    shown(what);
                }
            }
        }
        report
    }

    /// Writes the profile in `format`: text through [`Profile::text_report`],
    /// JSON with the strings exact (JSON escapes them).
    pub fn write(&self, format: ProfileFormat, w: &mut dyn Write) -> io::Result<()> {
        match format {
            ProfileFormat::Text => {
                write!(w, "{}", self.text_report())?;
                writeln!(w, "{}", self.summary_line())
            }
            ProfileFormat::Json => {
                serde_json::to_writer_pretty(&mut *w, &self.rows()).map_err(io::Error::from)?;
                writeln!(w)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"{"class":"name:q","name":"q","kind":"Mutex","site":null,"acquisitions":100,"contended":40,"wait_ns":5000,"max_wait_ns":900,"reads":0,"hold_samples":10,"hold_ns":1000,"max_hold_ns":300,"waiting_threads":3,"blocking_calls":0,"blocking_ns":0,"blocking_what":null}"#;

    fn file(classes: &str) -> String {
        format!(r#"{{"lockgraph_profile":1,"pid":7,"exe":"/bin/t","classes":[{classes}]}}"#)
    }

    #[test]
    fn a_valid_file_parses() {
        let f = parse(Path::new("p.json"), file(ENTRY).as_bytes()).unwrap();
        assert_eq!(f.pid, 7);
        assert_eq!(f.classes.len(), 1);
        assert_eq!(f.classes[0].name.as_deref(), Some("q"));
        assert_eq!(f.classes[0].waiting_threads, 3);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let p = Path::new("p.json");
        for (text, want) in [
            ("{".to_string(), "p.json:1:2: invalid profile: not JSON"),
            (
                "[1]".to_string(),
                "p.json:1:1: invalid profile: invalid type: sequence, expected a JSON object",
            ),
            ("{}".to_string(), "not a lockgraph profile"),
            (
                r#"{"lockgraph_profile":2}"#.to_string(),
                "unsupported profile version 2",
            ),
            (
                r#"{"lockgraph_profile":"1"}"#.to_string(),
                "must be a version number",
            ),
            (
                r#"{"lockgraph_profile":1}"#.to_string(),
                "missing field `classes`",
            ),
            (
                file(&ENTRY.replace(r#""hold_ns":1000,"#, "")),
                "classes[0]: missing field `hold_ns`",
            ),
            (
                file(&format!("{ENTRY},{}", ENTRY.replace(r#""site":null,"#, ""))),
                "classes[1]: missing field `site`",
            ),
            (
                file(&ENTRY.replace(r#""reads":0"#, r#""reads":-1"#)),
                "classes[0].reads: invalid value: integer `-1`, expected u64",
            ),
            // The field at fault is named (serde names only the entry).
            (
                file(&format!(
                    "{ENTRY},{}",
                    ENTRY.replace(r#""acquisitions":100"#, r#""acquisitions":"ten""#)
                )),
                "classes[1].acquisitions: invalid type: string \"ten\", expected u64",
            ),
            (
                file("[\"name:q\"]"),
                "classes[0]: invalid type: sequence, expected a JSON object",
            ),
        ] {
            let e = parse(p, text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    /// Multi-byte characters before the error (a program under
    /// `/home/josé/ツール`, a lock named `caché`): the column counts
    /// characters, not bytes, on the error's line.
    #[test]
    fn columns_count_characters_not_bytes() {
        let p = Path::new("p.json");
        let wide =
            file(&ENTRY.replace(r#""q""#, r#""caché""#)).replace("/bin/t", "/home/josé/ツール");
        // The 1-based character column of the first `s` in `text`'s last line.
        let col = |text: &str, s: &str| {
            let line = &text[text.rfind('\n').map_or(0, |i| i + 1)..];
            line[..line.find(s).unwrap()].chars().count() + 1
        };
        let syntax = wide.replace(r#""acquisitions":100,"#, r#""acquisitions":100;"#);
        let e = parse(p, syntax.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "p.json:1:{}: invalid profile: not JSON: expected `,` or `}}`",
                col(&syntax, ";")
            )
        );
        // Eight bytes more than characters before it: serde_json's column
        // was 152.
        assert_eq!((col(&syntax, ";"), syntax.find(';')), (144, Some(151)));
        // On a later line, a wrong value in a class entry: placed where
        // serde_json gave up on the entry, the `,` after the value.
        let data = wide
            .replace(r#""classes":"#, "\n\"classes\":")
            .replace(r#""reads":0"#, r#""reads":"0""#);
        let e = parse(p, data.as_bytes()).unwrap_err().to_string();
        let comma = col(&data, r#""reads":"0""#) + r#""reads":"0""#.len();
        assert!(
            e.starts_with(&format!(
                "p.json:2:{comma}: invalid profile: classes[0].reads: invalid type: string \"0\""
            )),
            "{e}"
        );
        // A raw control character: placed on itself.
        let control = wide.replace("ツール", "ツール\u{1}");
        let e = parse(p, control.as_bytes()).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "p.json:1:{}: invalid profile: not JSON: control character",
                col(&control, "\u{1}")
            )),
            "{e}"
        );
    }

    #[test]
    fn an_overflowing_sum_is_an_error() {
        let big = ENTRY.replace(r#""wait_ns":5000"#, &format!(r#""wait_ns":{}"#, u64::MAX));
        let a = parse(Path::new("a.json"), file(&big).as_bytes()).unwrap();
        let b = parse(Path::new("b.json"), file(ENTRY).as_bytes()).unwrap();
        let e = merge(&[a, b]).unwrap_err().to_string();
        assert!(
            e.starts_with("b.json: invalid profile: `wait_ns` of class `name:q` overflows"),
            "{e}"
        );
    }
}
