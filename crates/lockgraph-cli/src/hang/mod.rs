//! `lockgraph hang DIR`: one view of a hung job's many processes, from the
//! files their watchdogs wrote to `LOCKGRAPH_DUMP_DIR`
//! (`lockgraph-watchdog-<host>-<pid>.jsonl`: a `process` line, then
//! reports, dumps and progress markers, one JSON object a line).
//!
//! It says which processes report deadlocks (and their cycles), groups the
//! threads of every process by identical state and stack ("37 threads in 9
//! processes: waiting on Mutex `queue_lock` at src/loader.rs:88"), and, from
//! the progress markers, which process stopped first. A file that cannot
//! be read, a line that is not a record, a line cut short by a killed
//! process: each is named and skipped, never fatal.
//!
//! What it holds is bounded whatever the input ([`Limits`]): files are read
//! a line at a time and folded into each process's state as they are read,
//! and each limit reached is said in [`HangReport::skipped`], with the
//! file, the line and the limit.

mod keep;
mod lines;
mod read;
mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

pub use read::is_watchdog_file;

/// The version of [`HangReport`]'s JSON.
pub const HANG_VERSION: u32 = 1;

/// What `lockgraph hang` reads and keeps at most. A real process's file
/// is far within them: a dump of a process with a thousand waiting threads,
/// each with a 48-frame stack, is a line of about 11 MiB, and a process
/// keeps its latest threads, its reports and its markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest line read, newline excluded: a longer one is skipped
    /// (named, with its length). 64 MiB.
    pub line_bytes: u64,
    /// The most memory parsing one line may take, estimated before it is
    /// parsed from its length, its values and its objects (a short line
    /// can take far more than its length: `[{"a":0},...]` is eight bytes
    /// an object of hundreds parsed): a line over it is skipped (named,
    /// with the estimate). 256 MiB.
    pub parse_bytes: u64,
    /// The most read of one file: the rest is skipped (said, with the last
    /// line read). 256 MiB.
    pub file_bytes: u64,
    /// The most one file may keep in memory (its reports, its threads'
    /// latest states, its markers, as estimated sizes): what does not fit
    /// is counted, not kept, and said. Long-wait reports, which a hung
    /// process repeats, may fill only half of it. 64 MiB.
    pub kept_per_file: u64,
    /// The most all files together may keep (threads of the same state and
    /// stack share what they keep): what does not fit is counted, not
    /// kept, and said, and a file read once nothing is left is skipped
    /// (named). 256 MiB.
    pub kept_total: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            line_bytes: 64 << 20,
            parse_bytes: 256 << 20,
            file_bytes: 256 << 20,
            kept_per_file: 64 << 20,
            kept_total: 256 << 20,
        }
    }
}

/// Everything `lockgraph hang` found.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct HangReport {
    /// [`HANG_VERSION`].
    pub version: u32,
    /// One line: how many processes, how many deadlocked, waited long.
    pub summary: String,
    /// Every process with a usable file, by rank, then host and pid.
    pub processes: Vec<Process>,
    /// Every deadlock reported, by process.
    pub deadlocks: Vec<Finding>,
    /// Every long wait reported, by process.
    pub long_waits: Vec<Finding>,
    /// The threads of all processes grouped by state, place and stack,
    /// largest group first.
    pub groups: Vec<ThreadGroup>,
    /// For each progress marker, where each process stopped.
    pub progress: Vec<ProgressFinding>,
    /// What to look at first.
    pub start_here: Option<String>,
    /// Files and lines that were skipped, and why.
    pub skipped: Vec<Skipped>,
}

/// One process of the job.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Process {
    /// `rank 3 (pid 1234)`, `pid 1234`, with the host when the job spans
    /// several.
    pub label: String,
    /// Its file.
    pub file: PathBuf,
    /// Its pid.
    pub pid: u64,
    /// Its host.
    pub host: Option<String>,
    /// Its rank (`RANK`, `OMPI_COMM_WORLD_RANK`, `PMI_RANK`, `SLURM_PROCID`).
    pub rank: Option<u64>,
    /// Its program.
    pub exe: Option<String>,
    /// Deadlock reports in its file.
    pub deadlocks: usize,
    /// Long-wait reports in its file.
    pub long_waits: usize,
    /// Dumps in its file.
    pub dumps: usize,
    /// The last value of each progress marker.
    pub progress: BTreeMap<String, u64>,
    /// The time of its last record (ms since the Unix epoch).
    pub last_unix_ms: Option<u64>,
}

/// A deadlock or long-wait report of one process.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The process's label.
    pub process: String,
    /// Its pid.
    pub pid: u64,
    /// The wait-for cycle (deadlocks).
    pub cycle: Option<String>,
    /// The report's first line.
    pub summary: String,
    /// The report's last line: what to do.
    pub advice: Option<String>,
}

/// Threads of one state, place and stack, across processes.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ThreadGroup {
    /// How many threads.
    pub threads: usize,
    /// In how many processes.
    pub processes: usize,
    /// `waiting on Mutex `queue_lock``, `holding Mutex `m`, sleeping (...)`.
    pub state: String,
    /// Where: the site of the wait, else the innermost frame.
    pub at: Option<String>,
    /// The stack they share, innermost first.
    pub stack: Vec<String>,
    /// Who: process label and thread name, each.
    pub members: Vec<Member>,
}

/// One thread of a group.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Member {
    /// The process's label.
    pub process: String,
    /// The thread's name.
    pub thread: String,
    /// Its OS thread id.
    pub tid: u64,
}

/// Where each process stopped, for one progress marker.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ProgressFinding {
    /// The marker's name (`step`).
    pub marker: String,
    /// One sentence: `rank 3 (pid 12) stopped first, at 1200; the other 7 at 1201`.
    pub verdict: String,
    /// The values reached, lowest first, with the processes at each.
    pub values: Vec<ProgressValue>,
    /// Processes that never reported this marker.
    pub missing: Vec<String>,
}

/// The processes at one value of a marker.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ProgressValue {
    /// The value.
    pub value: u64,
    /// The processes' labels.
    pub processes: Vec<String>,
}

/// A skipped file or line, or a file read or kept only in part.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Skipped {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, when one line was skipped (`None`: the file).
    pub line: Option<u64>,
    /// Why.
    pub why: String,
    /// The [`Limits`] field reached (`line_bytes`, `parse_bytes`,
    /// `file_bytes`, `kept_per_file`, `kept_total`), when a limit was;
    /// absent from the JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<&'static str>,
}

impl HangReport {
    /// 0: nothing hangs in the files; 1: deadlocks or long waits reported
    /// (kept or only counted). (Input errors exit 2 before a report exists.)
    pub fn exit_code(&self) -> u8 {
        u8::from(
            !self.deadlocks.is_empty()
                || !self.long_waits.is_empty()
                || self
                    .processes
                    .iter()
                    .any(|p| p.deadlocks > 0 || p.long_waits > 0),
        )
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        text::render(self)
    }

    /// The report as JSON (one object, [`HANG_VERSION`]).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// One thread's latest view, from a report or a dump.
struct ThreadView {
    tid: u64,
    name: String,
    state: String,
    at: Option<String>,
    stack: Vec<String>,
}

/// Reads the watchdog files of `paths` (directories: their
/// `lockgraph-watchdog-*.jsonl` files) and lines them up, within the
/// default [`Limits`]. Fails (exit 2) only when a path cannot be listed or
/// no file gives a usable record.
pub fn analyse(paths: &[PathBuf]) -> Result<HangReport, Error> {
    analyse_with(paths, &Limits::default())
}

/// A thread group's key: state, place, stack.
type GroupKey = (String, Option<String>, Vec<String>);

/// [`analyse`] within `limits`.
pub fn analyse_with(paths: &[PathBuf], limits: &Limits) -> Result<HangReport, Error> {
    let mut notes = read::Notes::default();
    let paths_read = read::list(paths, &mut notes)?;
    let mut budget = keep::Budget::new(limits);
    let mut buf = Vec::new();
    let mut files: Vec<read::File> = Vec::new();
    // (state, at, stack) -> (file, thread name, tid): threads of the same
    // state and stack share one key, whatever their process.
    let mut groups: BTreeMap<GroupKey, Vec<(usize, String, u64)>> = BTreeMap::new();
    for path in &paths_read {
        let Some(mut f) = read::read_one(path, limits, &mut budget, &mut buf, &mut notes) else {
            continue;
        };
        // Its threads join their groups: what they cost as states is
        // given back, less what their group keeps of them.
        for v in std::mem::take(&mut f.threads).into_values() {
            let cost = keep::thread(&v);
            let (member, key_cost) = (keep::member(&v), keep::group_key(&v));
            let key = (v.state, v.at, v.stack);
            let kept = match groups.get_mut(&key) {
                Some(m) => {
                    m.push((files.len(), v.name, v.tid));
                    member
                }
                None => {
                    groups.insert(key, vec![(files.len(), v.name, v.tid)]);
                    member + key_cost
                }
            };
            budget.give(cost - kept);
        }
        files.push(f);
    }
    let mut skipped = notes.skipped;
    if files.is_empty() {
        let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let why = if skipped.is_empty() {
            format!(
                "no lockgraph watchdog files (lockgraph-watchdog-*.jsonl) in {}: run the job's processes with LOCKGRAPH_DUMP_DIR set to it (and the watchdog on: LOCKGRAPH_WATCHDOG=5s)",
                list.join(", ")
            )
        } else {
            let names: Vec<String> = skipped
                .iter()
                .map(|s| {
                    format!(
                        "{}{}: {}",
                        s.file.display(),
                        s.line.map_or(String::new(), |l| format!(":{l}")),
                        s.why
                    )
                })
                .collect();
            format!(
                "no usable lockgraph watchdog file in {}: {}",
                list.join(", "),
                names.join("; ")
            )
        };
        return Err(Error::Hang(why));
    }
    let hosts: BTreeSet<&str> = files.iter().filter_map(|f| f.host.as_deref()).collect();
    let many_hosts = hosts.len() > 1;

    // By the index a file was read at (the groups' members name it): its
    // label, and its place among the processes.
    let labels: Vec<String> = files.iter().map(|f| label_of(f, many_hosts)).collect();
    let mut files: Vec<(usize, read::File)> = files.into_iter().enumerate().collect();
    files.sort_by(|(_, a), (_, b)| {
        (a.rank.is_none(), a.rank, &a.host, a.pid).cmp(&(b.rank.is_none(), b.rank, &b.host, b.pid))
    });
    let mut place = vec![0; files.len()];
    for (i, (f, _)) in files.iter().enumerate() {
        place[*f] = i;
    }

    let mut processes = Vec::new();
    let mut deadlocks = Vec::new();
    let mut long_waits = Vec::new();
    for (i, f) in files {
        let label = labels[i].clone();
        for r in f.reports {
            let finding = Finding {
                process: label.clone(),
                pid: f.pid,
                cycle: r.cycle,
                summary: r.summary,
                advice: r.advice,
            };
            if r.deadlock {
                deadlocks.push(finding);
            } else {
                long_waits.push(finding);
            }
        }
        processes.push(Process {
            label,
            file: f.path,
            pid: f.pid,
            host: f.host,
            rank: f.rank,
            exe: f.exe,
            deadlocks: f.deadlocks,
            long_waits: f.long_waits,
            dumps: f.dumps,
            progress: f.progress,
            last_unix_ms: f.last_unix_ms,
        });
    }
    let mut groups: Vec<ThreadGroup> = groups
        .into_iter()
        .map(|((state, at, stack), mut members)| {
            // By process (in the processes' order), then by tid.
            members.sort_by_key(|&(f, _, tid)| (place[f], tid));
            let mut procs: Vec<&str> = members.iter().map(|m| labels[m.0].as_str()).collect();
            procs.dedup();
            ThreadGroup {
                threads: members.len(),
                processes: procs.len(),
                state,
                at,
                stack,
                members: members
                    .into_iter()
                    .map(|(f, thread, tid)| Member {
                        process: labels[f].clone(),
                        thread,
                        tid,
                    })
                    .collect(),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.threads
            .cmp(&a.threads)
            .then(b.processes.cmp(&a.processes))
            .then(a.state.cmp(&b.state))
    });
    let progress = progress_findings(&processes);
    let start_here = start_here(&processes, &deadlocks, &progress, &long_waits);
    // By file; within one, as read (its bad lines, then how many more).
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    let summary = summary(
        &processes,
        &deadlocks,
        &long_waits,
        &skipped,
        notes.bad_lines,
    );
    Ok(HangReport {
        version: HANG_VERSION,
        summary,
        processes,
        deadlocks,
        long_waits,
        groups,
        progress,
        start_here,
        skipped,
    })
}

fn label_of(f: &read::File, many_hosts: bool) -> String {
    let host = match (&f.host, many_hosts) {
        (Some(h), true) => format!(" on {h}"),
        _ => String::new(),
    };
    match f.rank {
        Some(r) => format!("rank {r} (pid {}{host})", f.pid),
        None => format!("pid {}{host}", f.pid),
    }
}

fn first_line(rec: &Value) -> Option<String> {
    rec.get("text")?
        .as_str()?
        .lines()
        .next()
        .map(str::to_string)
}

/// `src/loader.rs:88:5` -> `src/loader.rs:88`.
fn without_column(site: &str) -> String {
    match site.rsplit_once(':') {
        Some((head, col)) if head.contains(':') && col.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_string()
        }
        _ => site.to_string(),
    }
}

/// `f (/abs/src/loader.rs:88)` -> `/abs/src/loader.rs:88`.
fn frame_place(frame: &str) -> Option<String> {
    let open = frame.rfind(" (")?;
    let inner = frame[open + 2..].strip_suffix(')')?;
    Some(inner.to_string())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// A thread of a report or dump as its state, place and stack.
fn thread_view(t: &Value) -> Option<ThreadView> {
    let tid = t.get("tid")?.as_u64()?;
    let name = t.get("name")?.as_str()?.to_string();
    let now = t
        .get("now")
        .and_then(|n| n.get("description"))
        .and_then(Value::as_str);
    let (state, site, stack) = match t.get("waiting").filter(|w| w.is_object()) {
        Some(w) => {
            let label = w["lock"]["label"].as_str().unwrap_or("?");
            let state = if w["lock"]["resource"] == true {
                format!("waiting in {label}")
            } else {
                match w["request"].as_str() {
                    Some("condvar") => format!("waiting for a notification on {label}"),
                    Some("upgrade") => format!("waiting to upgrade {label}"),
                    _ => format!("waiting on {label}"),
                }
            };
            (
                state,
                w["site"].as_str().map(without_column),
                strings(&w["stack"]),
            )
        }
        None => {
            let held: Vec<&str> = t["held"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["lock"]["label"].as_str())
                .collect();
            let state = match (held.is_empty(), now) {
                (false, Some(n)) => format!("holding {}, {n}", held.join(", ")),
                (false, None) => format!("holding {}", held.join(", ")),
                (true, Some(n)) => n.to_string(),
                (true, None) => "state unknown".to_string(),
            };
            let site = t["held"][0]["site"].as_str().map(without_column);
            (state, site, strings(&t["stack_now"]["frames"]))
        }
    };
    let at = site.or_else(|| stack.first().and_then(|f| frame_place(f)));
    Some(ThreadView {
        tid,
        name,
        state,
        at,
        stack,
    })
}

fn names(labels: &[String]) -> String {
    match labels {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn progress_findings(processes: &[Process]) -> Vec<ProgressFinding> {
    let mut markers: Vec<&String> = processes.iter().flat_map(|p| p.progress.keys()).collect();
    markers.sort();
    markers.dedup();
    markers
        .into_iter()
        .map(|m| {
            let mut by_value: BTreeMap<u64, Vec<String>> = BTreeMap::new();
            let mut missing = Vec::new();
            for p in processes {
                match p.progress.get(m) {
                    Some(v) => by_value.entry(*v).or_default().push(p.label.clone()),
                    None => missing.push(p.label.clone()),
                }
            }
            let values: Vec<ProgressValue> = by_value
                .into_iter()
                .map(|(value, processes)| ProgressValue { value, processes })
                .collect();
            let total: usize = values.iter().map(|v| v.processes.len()).sum();
            let verdict = match values.as_slice() {
                [only] if total == 1 => format!("the one process at {m} {}", only.value),
                [only] => format!(
                    "all {total} processes at {m} {}: none stopped earlier than the others",
                    only.value
                ),
                [first, rest @ ..] => {
                    let who = if first.processes.len() <= 4 {
                        names(&first.processes)
                    } else {
                        format!("{} processes", first.processes.len())
                    };
                    let others: usize = rest.iter().map(|v| v.processes.len()).sum();
                    let tail = match rest {
                        [one] => format!("the other {others} at {}", one.value),
                        _ => {
                            let parts: Vec<String> = rest
                                .iter()
                                .map(|v| format!("{} at {}", v.processes.len(), v.value))
                                .collect();
                            format!("the other {others}: {}", parts.join(", "))
                        }
                    };
                    format!("{who} stopped first, at {m} {}; {tail}", first.value)
                }
                [] => String::new(),
            };
            ProgressFinding {
                marker: m.clone(),
                verdict,
                values,
                missing,
            }
        })
        .collect()
}

fn start_here(
    processes: &[Process],
    deadlocks: &[Finding],
    progress: &[ProgressFinding],
    long_waits: &[Finding],
) -> Option<String> {
    // Counted, whether their reports were kept or not.
    let all: usize = processes.iter().map(|p| p.deadlocks).sum();
    let more = if all > 1 {
        format!(" ({all} deadlock reports in all)")
    } else {
        String::new()
    };
    if let Some(d) = deadlocks.first() {
        return Some(format!(
            "{} deadlocked{more}; {}",
            d.process,
            d.advice.as_deref().unwrap_or("see its report")
        ));
    }
    if let Some(p) = processes.iter().find(|p| p.deadlocks > 0) {
        return Some(format!(
            "{} deadlocked{more}; its report was not kept (see skipped): read it in {}",
            p.label,
            p.file.display()
        ));
    }
    if let Some(p) = progress.iter().find(|p| p.values.len() > 1) {
        return Some(format!(
            "{} stopped first ({} {}): look at what it waits for",
            names(&p.values[0].processes),
            p.marker,
            p.values[0].value
        ));
    }
    long_waits.first().map(|w| {
        format!(
            "{} waits longest: {}",
            w.process,
            w.advice.as_deref().unwrap_or("see its report")
        )
    })
}

fn summary(
    processes: &[Process],
    deadlocks: &[Finding],
    long_waits: &[Finding],
    skipped: &[Skipped],
    bad_lines: usize,
) -> String {
    let n = processes.len();
    let dead = processes.iter().filter(|p| p.deadlocks > 0).count();
    let long = processes.iter().filter(|p| p.long_waits > 0).count();
    let mut s = format!(
        "lockgraph hang: {n} process{}: {dead} report{} a deadlock, {long} report{} long waits",
        if n == 1 { "" } else { "es" },
        if dead == 1 { "s" } else { "" },
        if long == 1 { "s" } else { "" },
    );
    if deadlocks.is_empty() && long_waits.is_empty() && dead + long == 0 {
        s.push_str(" (nothing hangs in these files)");
    }
    let used: BTreeSet<&Path> = processes.iter().map(|p| p.file.as_path()).collect();
    let files: BTreeSet<&Path> = skipped
        .iter()
        .filter(|s| s.line.is_none() && !used.contains(s.file.as_path()))
        .map(|s| s.file.as_path())
        .collect();
    if !files.is_empty() {
        s.push_str(&format!(
            "; {} file{} skipped",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ));
    }
    if bad_lines > 0 {
        s.push_str(&format!(
            "; {bad_lines} bad line{} skipped",
            if bad_lines == 1 { "" } else { "s" }
        ));
    }
    let limited: BTreeSet<&Path> = skipped
        .iter()
        .filter(|s| s.limit.is_some())
        .map(|s| s.file.as_path())
        .collect();
    if !limited.is_empty() {
        s.push_str(&format!(
            "; a limit on what is read or kept reached in {} file{} (see skipped)",
            limited.len(),
            if limited.len() == 1 { "" } else { "s" }
        ));
    }
    s
}

/// `1.5 MiB`, `64 MiB`, `12 KiB`, `7 bytes`.
fn amount(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b if b >= KIB => format!("{:.1} KiB", b as f64 / KIB as f64),
        1 => "1 byte".to_string(),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(label: &str, marks: &[(&str, u64)]) -> Process {
        Process {
            label: label.into(),
            file: PathBuf::from("f"),
            pid: 1,
            host: None,
            rank: None,
            exe: None,
            deadlocks: 0,
            long_waits: 0,
            dumps: 0,
            progress: marks.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            last_unix_ms: None,
        }
    }

    #[test]
    fn progress_names_who_stopped_first_and_who_never_said() {
        let ps = vec![
            process("rank 0", &[("step", 1201)]),
            process("rank 1", &[("step", 1199)]),
            process("rank 2", &[("step", 1202)]),
            process("rank 3", &[("step", 1201)]),
            process("rank 4", &[]),
        ];
        let f = progress_findings(&ps);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].verdict,
            "rank 1 stopped first, at step 1199; the other 3: 2 at 1201, 1 at 1202"
        );
        assert_eq!(f[0].missing, vec!["rank 4".to_string()]);
        let two = vec![
            process("a", &[("step", 3)]),
            process("b", &[("step", 3)]),
            process("c", &[("step", 4)]),
        ];
        assert_eq!(
            progress_findings(&two)[0].verdict,
            "a and b stopped first, at step 3; the other 1 at 4"
        );
    }

    #[test]
    fn threads_read_as_states_and_places() {
        let waiting = serde_json::json!({
            "name": "w", "tid": 5,
            "waiting": {"lock": {"label": "Mutex `q`", "resource": false}, "request": "lock",
                        "site": "src/loader.rs:88:13", "stack": ["f (/abs/src/loader.rs:88)"]},
            "held": [], "now": {"description": "blocked in a futex wait"}
        });
        let v = thread_view(&waiting).unwrap();
        assert_eq!(v.state, "waiting on Mutex `q`");
        assert_eq!(v.at.as_deref(), Some("src/loader.rs:88"));
        let holding = serde_json::json!({
            "name": "h", "tid": 6, "waiting": null,
            "held": [{"lock": {"label": "Mutex `q`"}, "site": null}],
            "now": {"description": "sleeping (clock_nanosleep)"},
            "stack_now": {"source": "stack", "frames": ["g (/abs/src/work.rs:12)"]}
        });
        let v = thread_view(&holding).unwrap();
        assert_eq!(v.state, "holding Mutex `q`, sleeping (clock_nanosleep)");
        assert_eq!(v.at.as_deref(), Some("/abs/src/work.rs:12"));
        assert!(thread_view(&serde_json::json!({"name": "x"})).is_none());
    }
}
