//! What `hang` concludes from the processes it read: which stopped first
//! (progress markers), where to start, and the summary line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::*;
use crate::shown::ShowPath as _;

pub(super) fn names(labels: &[String]) -> String {
    match labels {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// At most this many markers are lined up ([`progress_findings`]): those
/// the most processes report. Every marker costs a pass over every process,
/// and files where each process names its own markers would make that,
/// and the output, grow with their product. Part of the JSON's
/// [`HANG_VERSION`] 2: a change is a new version.
pub(super) const MARKERS_SHOWN: usize = 32;
/// At most this many processes are named as missing a marker; the rest
/// are counted ([`ProgressFinding::missing_count`]). Part of the JSON's
/// [`HANG_VERSION`] 2: a change is a new version.
pub(super) const MISSING_NAMED: usize = 64;

/// For each marker (at most [`MARKERS_SHOWN`], those the most processes
/// report, by name), where each process stopped; and how many markers
/// were left out.
pub(super) fn progress_findings(processes: &[Process]) -> (Vec<ProgressFinding>, usize) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in processes {
        for m in p.progress.keys() {
            *counts.entry(m.as_str()).or_default() += 1;
        }
    }
    let mut markers: Vec<(&str, usize)> = counts.into_iter().collect();
    let left_out = markers.len().saturating_sub(MARKERS_SHOWN);
    // The most widely reported first (a stable sort keeps names in order).
    markers.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    markers.truncate(MARKERS_SHOWN);
    markers.sort_unstable();
    let findings = markers
        .into_iter()
        .map(|(m, _)| {
            let mut by_value: BTreeMap<u64, Vec<String>> = BTreeMap::new();
            let mut missing = Vec::new();
            let mut missing_count = 0;
            for p in processes {
                match p.progress.get(m) {
                    Some(v) => by_value.entry(*v).or_default().push(p.label.clone()),
                    None => {
                        missing_count += 1;
                        if missing.len() < MISSING_NAMED {
                            missing.push(p.label.clone());
                        }
                    }
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
                        // Two processes: "the other one", not "the other 1".
                        [one] if others == 1 => format!("the other one at {}", one.value),
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
                marker: m.to_string(),
                verdict,
                values,
                missing,
                missing_count,
            }
        })
        .collect();
    (findings, left_out)
}

pub(super) fn start_here(
    processes: &[Process],
    deadlocks: &[Finding],
    progress: &[ProgressFinding],
    long_waits: &[Finding],
) -> Option<String> {
    // Counted, whether their reports were kept or not.
    let all: usize = processes.iter().map(|p| p.deadlocks).sum();
    let more = if all > 1 {
        format!(" ({all} deadlocks in all)")
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
            p.file.shown()
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

pub(super) fn summary(
    processes: &[Process],
    deadlocks: &[Finding],
    long_waits: &[Finding],
    skipped: &[Skipped],
    bad_lines: usize,
    incomplete: bool,
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
        s.push_str(if incomplete {
            " (nothing hangs in what was read, but some input that may hold a report was not read: the verdict may be incomplete)"
        } else {
            " (nothing hangs in these files)"
        });
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
pub(super) fn amount(bytes: u64) -> String {
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
