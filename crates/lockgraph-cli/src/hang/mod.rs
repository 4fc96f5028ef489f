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

mod read;
mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

pub use read::is_watchdog_file;

/// The version of [`HangReport`]'s JSON.
pub const HANG_VERSION: u32 = 1;

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

/// A skipped file or line.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Skipped {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, when one line was skipped (`None`: the whole file).
    pub line: Option<u64>,
    /// Why.
    pub why: String,
}

impl HangReport {
    /// 0: nothing hangs in the files; 1: deadlocks or long waits reported.
    /// (Input errors exit 2 before a report exists.)
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.deadlocks.is_empty() || !self.long_waits.is_empty())
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
/// `lockgraph-watchdog-*.jsonl` files) and lines them up. Fails (exit 2)
/// only when a path cannot be listed or no file gives a usable record.
pub fn analyse(paths: &[PathBuf]) -> Result<HangReport, Error> {
    let (files, mut skipped) = read::read_all(paths)?;
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
    let hosts: std::collections::BTreeSet<&str> =
        files.iter().filter_map(|f| f.host.as_deref()).collect();
    let many_hosts = hosts.len() > 1;

    let mut processes = Vec::new();
    let mut deadlocks = Vec::new();
    let mut long_waits = Vec::new();
    // (state, at, stack) -> members
    let mut groups: BTreeMap<(String, Option<String>, Vec<String>), Vec<Member>> = BTreeMap::new();
    let mut order: Vec<&read::File> = files.iter().collect();
    order.sort_by(|a, b| {
        (a.rank.is_none(), a.rank, &a.host, a.pid).cmp(&(b.rank.is_none(), b.rank, &b.host, b.pid))
    });
    for f in order {
        let label = label_of(f, many_hosts);
        let mut threads: BTreeMap<u64, ThreadView> = BTreeMap::new();
        let (mut n_dead, mut n_long, mut n_dumps) = (0, 0, 0);
        let mut progress = BTreeMap::new();
        let mut last = None;
        for (_, rec) in &f.records {
            if let Some(t) = rec
                .get("at_unix_ms")
                .or_else(|| rec.get("reported_at_unix_ms"))
                .and_then(Value::as_u64)
            {
                last = Some(last.map_or(t, |l: u64| l.max(t)));
            }
            match rec.get("kind").and_then(Value::as_str) {
                Some("deadlock") | Some("long_wait") => {
                    let dead = rec["kind"] == "deadlock";
                    let finding = Finding {
                        process: label.clone(),
                        pid: f.pid,
                        cycle: rec.get("cycle").and_then(Value::as_str).map(str::to_string),
                        summary: rec
                            .get("summary")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .or_else(|| first_line(rec))
                            .unwrap_or_else(|| "(no summary)".into()),
                        advice: rec
                            .get("advice")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    };
                    if dead {
                        n_dead += 1;
                        deadlocks.push(finding);
                    } else {
                        n_long += 1;
                        long_waits.push(finding);
                    }
                    for t in rec
                        .get("threads")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(v) = thread_view(t) {
                            threads.insert(v.tid, v);
                        }
                    }
                }
                Some("dump") => {
                    n_dumps += 1;
                    // A dump lists every thread that holds or waits: it
                    // replaces what earlier records said.
                    threads.clear();
                    for t in rec
                        .get("threads")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(v) = thread_view(t) {
                            threads.insert(v.tid, v);
                        }
                    }
                    for p in rec
                        .get("progress")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let (Some(n), Some(v)) = (p["name"].as_str(), p["value"].as_u64()) {
                            progress.insert(n.to_string(), v);
                        }
                    }
                }
                Some("progress") => {
                    if let (Some(n), Some(v)) = (rec["name"].as_str(), rec["value"].as_u64()) {
                        progress.insert(n.to_string(), v);
                    }
                }
                _ => {}
            }
        }
        for v in threads.into_values() {
            groups
                .entry((v.state, v.at, v.stack))
                .or_default()
                .push(Member {
                    process: label.clone(),
                    thread: v.name,
                    tid: v.tid,
                });
        }
        processes.push(Process {
            label,
            file: f.path.clone(),
            pid: f.pid,
            host: f.host.clone(),
            rank: f.rank,
            exe: f.exe.clone(),
            deadlocks: n_dead,
            long_waits: n_long,
            dumps: n_dumps,
            progress,
            last_unix_ms: last,
        });
    }
    let mut groups: Vec<ThreadGroup> = groups
        .into_iter()
        .map(|((state, at, stack), members)| {
            let mut procs: Vec<&str> = members.iter().map(|m| m.process.as_str()).collect();
            procs.dedup();
            ThreadGroup {
                threads: members.len(),
                processes: procs.len(),
                state,
                at,
                stack,
                members,
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
    let start_here = start_here(&deadlocks, &progress, &long_waits);
    // By file; within one, as read (its bad lines, then how many more).
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    let summary = summary(&processes, &deadlocks, &long_waits, &skipped);
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
    deadlocks: &[Finding],
    progress: &[ProgressFinding],
    long_waits: &[Finding],
) -> Option<String> {
    if let Some(d) = deadlocks.first() {
        let more = if deadlocks.len() > 1 {
            format!(" ({} deadlock reports in all)", deadlocks.len())
        } else {
            String::new()
        };
        return Some(format!(
            "{} deadlocked{more}; {}",
            d.process,
            d.advice.as_deref().unwrap_or("see its report")
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
    if deadlocks.is_empty() && long_waits.is_empty() {
        s.push_str(" (nothing hangs in these files)");
    }
    let files: std::collections::BTreeSet<&Path> = skipped
        .iter()
        .filter(|s| s.line.is_none())
        .map(|s| s.file.as_path())
        .collect();
    let lines = skipped.iter().filter(|s| s.line.is_some()).count();
    if !files.is_empty() {
        s.push_str(&format!(
            "; {} file{} skipped",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ));
    }
    if lines > 0 {
        s.push_str(&format!(
            "; {lines} bad line{} skipped",
            if lines == 1 { "" } else { "s" }
        ));
    }
    s
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
