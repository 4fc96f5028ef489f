//! A cycle as the terminal shows it: who found it, its locks, how each
//! edge was recorded, the table of how it deadlocks and the fix. The locks
//! and edges are listed boundedly, as the runtime's report lists a long
//! cycle: a run of many locks of one class (or of edges recorded alike) by
//! its first and last, a cycle of many runs by its first and last ones and
//! its closing edge, with a count of those left out (`--format json` has
//! them all).

use std::io::{self, Write};

use lockgraph_core::__private::{padded, width as cells_width};
use lockgraph_core::LockKind;

use super::{escape, lock_label, named, named_within, t, wrapped, write_edge, write_notes};
use crate::report::{EdgeAt, EdgeOrigin, Finding, Listed, LockId, RunTime};

/// The scenario table has a column for each of the first this many edges.
const COLUMNS: u64 = 6;

/// A key longer than this many characters is shown cut.
const KEY_SHOWN: usize = 1_000;

/// The head line, who found it and the notes.
fn write_head(
    w: &mut dyn Write,
    c: &Finding,
    exact: bool,
    run_time: Option<&RunTime>,
) -> io::Result<()> {
    let n = c.lock_count();
    let processes = c.processes();
    match run_time {
        // Who found it, in the line below.
        Some(_) => writeln!(
            w,
            "lockgraph: potential deadlock: lock-order cycle through {n} locks, found at run time"
        )?,
        None => writeln!(
            w,
            "lockgraph: potential deadlock: lock-order cycle through {n} locks, recorded by {}{} {}",
            // The processes of the recordings shown (8 distinct ones per
            // edge at most): with that many and more recordings, more
            // processes may have. (A repeat of a shown one is not kept.)
            if c.edges.iter().any(|e| {
                e.origins.len() >= crate::merge::ORIGIN_CAP && e.recordings > e.origins.len() as u64
            }) {
                "at least "
            } else {
                ""
            },
            processes,
            if processes == 1 {
                "process"
            } else {
                "processes"
            }
        )?,
    }
    // A cycle of the class graph through many locks has a key as long
    // (its classes, one by one): shown cut, whole in JSON and baselines.
    let key = escape::text(&c.key);
    let chars = key.chars().count();
    let cut = if chars > KEY_SHOWN {
        format!(
            " ({chars} characters in all; `--format json` and `lockgraph baseline` have it whole)"
        )
    } else {
        String::new()
    };
    writeln!(
        w,
        "  key: {}{cut} (fingerprint {})",
        escape::cut(&key, KEY_SHOWN),
        c.fingerprint
    )?;
    if let Some(r) = run_time {
        writeln!(w, "  {}", escape::text(&r.found(n)))?;
    }
    write_notes(w, c)?;
    if !exact {
        writeln!(
            w,
            "  note: the search ran out of budget before applying the read-lock and gate-lock\n        \
             rules to this cycle in full: it exists, but may not be able to deadlock"
        )?;
    }
    Ok(())
}

/// The locks and the edges, each list bounded.
fn write_lists(w: &mut dyn Write, c: &Finding) -> io::Result<()> {
    writeln!(w, "  locks in the cycle:")?;
    let width = LockId::of_place(c.lock_count().saturating_sub(1))
        .to_string()
        .len();
    for l in c.listed_locks() {
        match l {
            Listed::One(p, l) => writeln!(
                w,
                "    {} {}",
                padded(&LockId::of_place(p).to_string(), width),
                lock_label(l)
            )?,
            Listed::Left { from, count, run } => writeln!(
                w,
                "    ... {count} more locks{} ({} to {}) ...",
                if run.is_some() { " of this class" } else { "" },
                LockId::of_place(from),
                LockId::of_place(from + count - 1)
            )?,
        }
    }
    writeln!(w)?;
    writeln!(w, "  how each edge was recorded:")?;
    for e in c.listed_edges() {
        match e {
            Listed::One(p, e) => {
                let note = if e.closes_cycle {
                    "   <- this edge closes the cycle"
                } else {
                    ""
                };
                let k = p - u64::from(e.from.0 - 1);
                write_edge(w, c, e, c.edge_ends(e, k), note)?;
            }
            Listed::Left { from, count, run } => {
                let (first, last) = (
                    c.edge_at(from).map(|e| (e.from, e.to)),
                    c.edge_at(from + count - 1).map(|e| (e.from, e.to)),
                );
                let (Some(first), Some(last)) = (first, last) else {
                    continue;
                };
                writeln!(
                    w,
                    "    ... {count} more edges{} ({} -> {} to {} -> {}) ...",
                    if run.is_some() { " recorded alike" } else { "" },
                    first.0,
                    first.1,
                    last.0,
                    last.1
                )?;
            }
        }
    }
    writeln!(w)
}

/// The table of how it deadlocks: a column for each of the first edges.
fn write_table(w: &mut dyn Write, c: &Finding) -> io::Result<()> {
    let processes = c.processes();
    let n = c.edge_count();
    // When one thread recorded several columns, they are not different
    // threads: say so, as the runtime's report does.
    let cols: Vec<EdgeAt<'_>> = (0..n.min(COLUMNS)).filter_map(|i| c.edge_at(i)).collect();
    let who_of = |e: &EdgeAt<'_>| e.run.origins.first().map(|o| (o.pid, o.thread.clone()));
    let mut repeated: Vec<String> = Vec::new();
    for (i, e) in cols.iter().enumerate() {
        let Some(me) = who_of(e) else { continue };
        let n = cols
            .iter()
            .filter(|x| who_of(x).as_ref() == Some(&me))
            .count();
        if n > 1 && !cols[..i].iter().any(|x| who_of(x).as_ref() == Some(&me)) {
            repeated.push(format!(
                "{} recorded {n} of these columns itself",
                super::super::actor(&t(&me.1))
            ));
        }
    }
    if repeated.is_empty() {
        // As the runtime's report words it.
        let tasks = cols
            .iter()
            .filter(|e| (e.run.origins.first()).is_some_and(|o| super::super::is_task(&o.thread)))
            .count();
        let column = match tasks {
            0 => "a thread",
            n if n == cols.len() => "a task",
            _ => "a thread or a task",
        };
        writeln!(w, "  how it deadlocks (each column {column}, all at once):")?;
    } else {
        writeln!(
            w,
            "  how it deadlocks when each column runs in a thread of its own, all at once\n  ({}):",
            repeated.join(", ")
        )?;
    }
    let name_of = |id: LockId| {
        c.lock(id).map_or_else(
            || id.to_string(),
            |l| named_within(id, l, super::TABLE_NAME),
        )
    };
    let cells: Vec<[String; 3]> = cols
        .iter()
        .map(|e| {
            let thread =
                |o: &EdgeOrigin| escape::cut(&t(&o.thread), super::TABLE_NAME).into_owned();
            let who = match e.run.origins.first() {
                Some(o) if processes > 1 => {
                    format!("{} (pid {})", super::super::actor(&thread(o)), o.pid)
                }
                Some(o) => super::super::actor(&thread(o)),
                None => "thread ?".to_string(),
            };
            [
                who,
                format!("holds {}", name_of(e.from)),
                format!("waits for {}", name_of(e.to)),
            ]
        })
        .collect();
    let widths: Vec<usize> = cells
        .iter()
        .map(|c| cells_width(c.iter().map(String::as_str)))
        .collect();
    for row in 0..3 {
        let mut line = String::from("    ");
        for (cell, width) in cells.iter().zip(&widths) {
            line.push_str(&padded(&cell[row], *width));
            line.push_str("   ");
        }
        if row == 0 && n > COLUMNS {
            line.push_str(&format!("... {} more", n - COLUMNS));
        }
        writeln!(w, "{}", line.trim_end())?;
    }
    writeln!(w)
}

/// The fix.
fn write_fix(w: &mut dyn Write, c: &Finding, run_time: Option<&RunTime>) -> io::Result<()> {
    let first_of = |l: &crate::report::FindingLock| named(l.id, l);
    // Through a CUDA stream (an event, the host-function executor): no
    // program takes a stream in an order; the edge into it is a lock held
    // across a synchronize, the edge out of it a host function's lock.
    let device = |k: &str| matches!(k, "Stream" | "Event" | "HostExecutor" | "HostFn");
    if let Some(stream) = c.locks.iter().find(|l| device(&l.kind)) {
        let real: Vec<String> = (c.locks.iter())
            .filter(|l| !device(&l.kind) && &*l.kind != "Signal")
            .map(first_of)
            .collect();
        let locks = match real.as_slice() {
            [] => "the lock".to_string(),
            [one] => one.clone(),
            more => more.join(" or "),
        };
        writeln!(
            w,
            "  fix: a host function of {} takes a lock a thread holds while it synchronizes that stream (or an\n       \
             event recorded on it, or the context): release {locks} before the synchronize, or stop taking it\n       \
             in the stream's host functions (a stream has no lock order to adopt).",
            first_of(stream)
        )?;
        return writeln!(w);
    }
    // Through a pipeline resource (a queue, a barrier, a semaphore, a
    // joined thread) or a condvar: the hold to release before the wait, as
    // the runtime's report says (no lock order fixes it). (Its runs, each
    // named by its first lock.)
    let kinds: Vec<LockKind> = c
        .locks
        .iter()
        .map(|l| LockKind::from_name(&l.kind))
        .collect();
    let by_task = |i: usize| {
        (c.edges.iter())
            .find(|e| e.from == c.locks[i].id)
            .and_then(|e| e.origins.first())
            .is_some_and(|o| super::super::is_task(&o.thread))
    };
    let resources = lockgraph_core::resource_fix_lines(&kinds, by_task, |i| first_of(&c.locks[i]));
    if !resources.is_empty() {
        for line in resources {
            writeln!(w, "  {line}")?;
        }
        return writeln!(w);
    }
    if let Some(r) = run_time {
        for line in wrapped(&format!("{}.", r.advice()), "  fix: ", "       ") {
            writeln!(w, "{line}")?;
        }
        return writeln!(w);
    }
    let name = |i: u64| {
        let id = LockId::of_place(i);
        c.lock(id).map_or_else(|| id.to_string(), |l| named(id, l))
    };
    writeln!(
        w,
        "  fix: take these locks in one global order everywhere (for example always {} before {}),\n       \
         or stop holding one while requesting the next.",
        name(0),
        name(1)
    )?;
    writeln!(w)
}

/// Writes one cycle.
pub(super) fn write_cycle(
    w: &mut dyn Write,
    c: &Finding,
    exact: bool,
    run_time: Option<&RunTime>,
) -> io::Result<()> {
    write_head(w, c, exact, run_time)?;
    writeln!(w)?;
    write_lists(w, c)?;
    write_table(w, c)?;
    write_fix(w, c, run_time)
}
