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
//! file, the line and the limit. What the verdict needs is counted whatever
//! is kept; when what was skipped may hold a report, the verdict says it
//! may be incomplete ([`HangReport::incomplete`]).

mod head;
mod keep;
mod lines;
mod read;
mod shape;
#[cfg(test)]
mod tests;
mod text;
mod verdict;
mod view;

use verdict::{amount, names, progress_findings, start_here, summary};
use view::{first_line, label_of, thread_view, ThreadView};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Error;
use crate::shown::ShowPath as _;

pub use read::is_watchdog_file;

/// The version of [`HangReport`]'s JSON (its `version`). 2: a progress
/// finding's `missing` names at most 64 processes and its `missing_count`
/// counts all of them; `progress` holds at most 32 markers and
/// `progress_left_out` counts the rest. (In 1, `missing` named every
/// process and `progress` held every marker: a reader of version 1 would
/// take the capped lists for whole ones.)
pub const HANG_VERSION: u32 = 2;

/// What `lockgraph hang` reads and keeps at most. A real process's file
/// is far within them: a dump of a process with a thousand waiting threads,
/// each with a 48-frame stack, is a line of about 11 MiB, and a process
/// keeps its latest threads, its reports and its markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest line read, newline excluded: a longer one is skipped
    /// (named, with its length), and counted as the record its first 64
    /// KiB show (a deadlock or long-wait report in its process's totals).
    /// 64 MiB.
    pub line_bytes: u64,
    /// The most memory parsing one line may take, estimated before it is
    /// parsed from its length and its strings, values, objects and object
    /// entries (a short line can take far more than its length:
    /// `[{"a":0},...]` is eight bytes an object of hundreds parsed): a line
    /// over it is skipped (named, with the estimate), and counted as a
    /// line over [`Limits::line_bytes`] is. 256 MiB.
    pub parse_bytes: u64,
    /// The most read of one file: a larger file's first and last halves of
    /// it are read, the lines between counted and skipped (said, with the
    /// lines read and skipped). 256 MiB.
    pub file_bytes: u64,
    /// The most one file may keep in memory (its reports, its threads'
    /// latest states, its markers, as estimated sizes): what does not fit
    /// is counted, not kept, and said. Long-wait reports, which a hung
    /// process repeats, may fill only half of it. 64 MiB.
    pub kept_per_file: u64,
    /// The most all files together may keep (threads of the same state and
    /// stack share what they keep): what does not fit is counted, not
    /// kept, and said; a file read once nothing is left keeps only its
    /// process and its counts, and its deadlock reports and progress values
    /// while a 1 MiB reserve lasts (named). 256 MiB.
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
    /// For each progress marker, where each process stopped: at most 32
    /// markers, those the most processes report.
    pub progress: Vec<ProgressFinding>,
    /// How many markers were left out of `progress` (fewer processes
    /// report them). Absent from the JSON when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub progress_left_out: usize,
    /// What to look at first.
    pub start_here: Option<String>,
    /// Files and lines that were skipped, and why.
    pub skipped: Vec<Skipped>,
    /// Notes on input not read that is no watchdog file by its name: per
    /// directory, its other `.jsonl` files (`1 other .jsonl file in DIR
    /// not read (not named lockgraph-watchdog-*.jsonl): trunc-2667.jsonl`).
    /// They change neither the verdict nor the exit code. Absent from the
    /// JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Whether something skipped for a limit may hold a deadlock or
    /// long-wait report that was not counted: the rest of a file past
    /// [`Limits::file_bytes`], or a line over [`Limits::line_bytes`] or
    /// [`Limits::parse_bytes`] whose first bytes do not say which record it
    /// is. When nothing hangs in what was read, the verdict is then unknown
    /// (exit 2). Absent from the JSON when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
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
    /// Deadlocks in its file: its deadlock reports (kept or not), and
    /// the cycles of its dumps' verdicts that no report of it names.
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
    /// A deadlock a dump's verdict names that no report of the process
    /// does (it ended before the watchdog's report, which waits for a
    /// second scan); `summary` says so. Absent from the JSON when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_dump: bool,
}

/// Threads of one state, place and stack, across processes.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ThreadGroup {
    /// How many threads.
    pub threads: usize,
    /// In how many processes.
    pub processes: usize,
    /// `waiting on Mutex `queue_lock``, `holding Mutex `m` (taken at
    /// src/a.rs:3), sleeping (...)`: a thread that does not wait names
    /// each lock it holds with the site that took it.
    pub state: String,
    /// Where the threads are: the site of their wait (where they asked),
    /// else the innermost frame of the program's own code in their stack
    /// (dependency and standard-library frames passed over; the innermost
    /// frame when none is the program's). Never the site where a lock
    /// they hold was taken: that is in `state`.
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
    /// Processes that never reported this marker: at most the first 64
    /// (since [`HANG_VERSION`] 2; [`ProgressFinding::missing_count`]
    /// counts them all).
    pub missing: Vec<String>,
    /// How many processes never reported this marker, all of them, also
    /// those left out of [`ProgressFinding::missing`].
    pub missing_count: usize,
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
    /// (kept or only counted); 2: nothing hangs in what was read, but what
    /// was not read may hold a report ([`HangReport::incomplete`]): the
    /// verdict is unknown, as when input cannot be read. (Input errors exit
    /// 2 before a report exists.)
    pub fn exit_code(&self) -> u8 {
        if self.hangs() {
            1
        } else if self.incomplete {
            2
        } else {
            0
        }
    }

    /// Whether some process reports a deadlock or a long wait.
    fn hangs(&self) -> bool {
        !self.deadlocks.is_empty()
            || !self.long_waits.is_empty()
            || self
                .processes
                .iter()
                .any(|p| p.deadlocks > 0 || p.long_waits > 0)
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
    let others = read::others(paths);
    if files.is_empty() {
        let list: Vec<String> = paths.iter().map(|p| p.shown().to_string()).collect();
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
                        s.file.shown(),
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
        // Files renamed by a launcher are likelier here than anywhere.
        let why = match others.as_slice() {
            [] => why,
            _ => format!("{why}; {}", others.join("; ")),
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
        // A dump's deadlock that no report of the file names is one too.
        let dumped: Vec<read::Report> = f
            .dump_deadlocks
            .into_iter()
            .filter(|d| {
                !f.reports.iter().any(|r| {
                    r.deadlock
                        && r.cycle
                            .as_deref()
                            .zip(d.cycle.as_deref())
                            .is_some_and(|(a, b)| read::same_cycle(a, b))
                })
            })
            .collect();
        let deadlock_count = f.deadlocks + dumped.len();
        for r in f.reports.into_iter().chain(dumped) {
            let finding = Finding {
                process: label.clone(),
                pid: f.pid,
                cycle: r.cycle,
                summary: r.summary,
                advice: r.advice,
                from_dump: r.from_dump,
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
            deadlocks: deadlock_count,
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
    let (progress, progress_left_out) = progress_findings(&processes);
    let start_here = start_here(&processes, &deadlocks, &progress, &long_waits);
    // By file; within one, as read (its bad lines, then how many more).
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    let summary = summary(
        &processes,
        &deadlocks,
        &long_waits,
        &skipped,
        notes.bad_lines,
        notes.incomplete,
    );
    Ok(HangReport {
        version: HANG_VERSION,
        summary,
        processes,
        deadlocks,
        long_waits,
        groups,
        progress,
        progress_left_out,
        start_here,
        skipped,
        notes: others,
        incomplete: notes.incomplete,
    })
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
