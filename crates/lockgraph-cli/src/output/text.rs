//! The terminal format, laid out like the runtime's cycle reports. Every
//! string from the records is shown through [`escape::text`]: no control
//! character reaches the terminal.

use std::io::{self, Write};

use lockgraph_core::__private::{padded, width as cells_width};
use lockgraph_core::LockKind;

use super::escape::{self, t};
use crate::report::{
    Detail, EdgeOrigin, Finding, FindingEdge, FindingLock, OrderDetail, Report, RunTime,
};

/// Backtrace frames shown per origin.
pub(crate) const SHOWN_FRAMES: usize = 4;

/// Names (of locks, threads, sites) longer than this many characters,
/// once escaped, are cut with an ellipsis in the table of how a cycle
/// deadlocks, so that its columns stay side by side. The lines above the
/// table show them whole, and `--format json` exact.
pub(crate) const TABLE_NAME: usize = 40;

/// A lock's kind and label, escaped: "Mutex `name`".
fn lock_label(l: &FindingLock) -> String {
    t(&l.label())
}

/// A lock as prose names it: its id and its name (`L1 `metrics``), or,
/// unnamed, where it was made (`L2 `src/model.rs:12``), escaped.
fn named(l: &FindingLock) -> String {
    named_within(l, usize::MAX)
}

/// [`named`] with the name or site cut to `max` characters (escaped).
fn named_within(l: &FindingLock, max: usize) -> String {
    match (&l.name, &l.site) {
        (Some(n), _) => format!("{} `{}`", l.id, escape::cut(&t(n), max)),
        (None, Some(s)) => {
            // `file:line:column` without the column.
            let short = match s.rsplit_once(':') {
                Some((head, col))
                    if head.contains(':') && col.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    head
                }
                _ => s,
            };
            format!("{} `{}`", l.id, escape::cut(&t(short), max))
        }
        (None, None) => l.id.to_string(),
    }
}

/// How a lock of `kind` was held: a pipeline resource as the runtime's
/// reports say it (`as its consumer`), a lock by its mode.
fn hold_mode(kind: &str, hold: &str) -> &'static str {
    if let Some(w) = lockgraph_core::resource_words(LockKind::from_name(kind)) {
        return w.held;
    }
    match (kind, hold) {
        ("RwLock", "exclusive") => " for write",
        ("RwLock", "shared") => " for read",
        ("lock", "exclusive") => " exclusively",
        ("lock", "shared") | (_, "shared") => " shared",
        (_, "upgradable") => " for an upgradable read",
        _ => "",
    }
}

/// How a lock of `kind` was requested (a queue's send, a join, ...).
fn request_mode(kind: &str, request: &str) -> &'static str {
    if let Some(w) = lockgraph_core::resource_words(LockKind::from_name(kind)) {
        return w.requested;
    }
    match (kind, request) {
        ("RwLock", "exclusive") => " for write",
        (_, "upgradable") => " for an upgradable read",
        (_, "recursive_read") => " for recursive read",
        (_, "read") => " for read",
        ("lock", "exclusive") => " exclusively",
        _ => "",
    }
}

fn site(s: &Option<std::sync::Arc<str>>) -> String {
    t(s.as_deref().unwrap_or("an unknown site"))
}

fn process(o: &EdgeOrigin) -> String {
    if o.exe.is_empty() {
        format!("process {}", o.pid)
    } else {
        format!("process {} ({})", o.pid, t(&o.exe))
    }
}

/// The two lines describing one origin of an edge.
fn origin_lines(from: &FindingLock, to: &FindingLock, o: &EdgeOrigin) -> [String; 2] {
    if &*from.kind == "Condvar" {
        return [
            format!(
                "{} notified {} at {},",
                super::actor(&t(&o.thread)),
                named(from),
                site(&o.requested_at)
            ),
            format!(
                "while holding {}{} (taken at {})",
                named(to),
                lockgraph_core::resource_words(LockKind::from_name(&to.kind))
                    .map_or("", |w| w.held),
                site(&o.held_at)
            ),
        ];
    }
    let first = format!(
        "{} held {}{} (taken at {}),",
        super::actor(&t(&o.thread)),
        named(from),
        hold_mode(&from.kind, o.hold.as_str()),
        site(&o.held_at)
    );
    let second = if &*to.kind == "Condvar" {
        format!("then waited on {} at {}", named(to), site(&o.requested_at))
    } else {
        format!(
            "then requested {}{} at {}",
            named(to),
            request_mode(&to.kind, o.request.as_str()),
            site(&o.requested_at)
        )
    };
    [first, second]
}

fn write_edge(
    w: &mut dyn Write,
    f: &Finding,
    e: &FindingEdge,
    closing_note: &str,
) -> io::Result<()> {
    let (Some(from), Some(to)) = (f.lock(e.from), f.lock(e.to)) else {
        return Ok(());
    };
    let head = format!("{} -> {}  ", e.from, e.to);
    let pad = " ".repeat(head.len());
    if e.origins.is_empty() {
        writeln!(w, "    {head}(no origin recorded){closing_note}")?;
    }
    for (i, o) in e.origins.iter().enumerate() {
        let [first, second] = origin_lines(from, to, o);
        let lead = if i == 0 { &head } else { &pad };
        writeln!(w, "    {lead}{first}")?;
        let note = if i == 0 { closing_note } else { "" };
        writeln!(w, "    {pad}{second}{note}")?;
        writeln!(w, "    {pad}in {}", process(o))?;
        for frame in o.backtrace.iter().take(SHOWN_FRAMES) {
            writeln!(w, "    {pad}    {}", escape::text(frame))?;
        }
        if o.backtrace.len() > SHOWN_FRAMES {
            writeln!(
                w,
                "    {pad}    ... {} more frames",
                o.backtrace.len() - SHOWN_FRAMES
            )?;
        }
    }
    let shown = e.origins.len() as u64;
    if e.recordings > shown {
        writeln!(
            w,
            "    {pad}({} recordings in all; {} distinct ones shown)",
            e.recordings, shown
        )?;
    }
    Ok(())
}

fn write_notes(w: &mut dyn Write, f: &Finding) -> io::Result<()> {
    for note in &f.notes {
        writeln!(w, "  note: {}", escape::text(note))?;
    }
    Ok(())
}

fn write_cycle(
    w: &mut dyn Write,
    c: &Finding,
    exact: bool,
    run_time: Option<&RunTime>,
) -> io::Result<()> {
    let n = c.locks.len();
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
            // The processes of the recordings shown (8 per edge at most):
            // with more recordings than that, more processes may have.
            if c.edges.iter().any(|e| e.recordings > e.origins.len() as u64) {
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
    writeln!(
        w,
        "  key: {} (fingerprint {})",
        escape::text(&c.key),
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
    writeln!(w)?;
    writeln!(w, "  locks in the cycle:")?;
    let width = c.locks.last().map_or(2, |l| l.id.to_string().len());
    for l in &c.locks {
        writeln!(
            w,
            "    {} {}",
            padded(&l.id.to_string(), width),
            lock_label(l)
        )?;
    }
    writeln!(w)?;
    writeln!(w, "  how each edge was recorded:")?;
    for e in &c.edges {
        let note = if e.closes_cycle {
            "   <- this edge closes the cycle"
        } else {
            ""
        };
        write_edge(w, c, e, note)?;
    }
    writeln!(w)?;
    // When one thread recorded several columns, they are not different
    // threads: say so, as the runtime's report does.
    let cols: Vec<&FindingEdge> = c.edges.iter().take(6).collect();
    let who_of = |e: &FindingEdge| e.origins.first().map(|o| (o.pid, o.thread.clone()));
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
                super::actor(&t(&me.1))
            ));
        }
    }
    if repeated.is_empty() {
        // As the runtime's report words it.
        let tasks = cols
            .iter()
            .filter(|e| e.origins.first().is_some_and(|o| super::is_task(&o.thread)))
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
    let name_of = |id: crate::report::LockId| {
        c.lock(id)
            .map_or_else(|| id.to_string(), |l| named_within(l, TABLE_NAME))
    };
    let cells: Vec<[String; 3]> = cols
        .iter()
        .map(|e| {
            let thread = |o: &EdgeOrigin| escape::cut(&t(&o.thread), TABLE_NAME).into_owned();
            let who = match e.origins.first() {
                Some(o) if processes > 1 => format!("{} (pid {})", super::actor(&thread(o)), o.pid),
                Some(o) => super::actor(&thread(o)),
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
        if row == 0 && c.edges.len() > 6 {
            line.push_str(&format!("... {} more", c.edges.len() - 6));
        }
        writeln!(w, "{}", line.trim_end())?;
    }
    writeln!(w)?;
    // Through a CUDA stream (an event, the host-function executor): no
    // program takes a stream in an order; the edge into it is a lock held
    // across a synchronize, the edge out of it a host function's lock.
    let device = |k: &str| matches!(k, "Stream" | "Event" | "HostExecutor" | "HostFn");
    if let Some(stream) = c.locks.iter().find(|l| device(&l.kind)) {
        let real: Vec<String> = (c.locks.iter())
            .filter(|l| !device(&l.kind) && &*l.kind != "Signal")
            .map(named)
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
            named(stream)
        )?;
        return writeln!(w);
    }
    // Through a pipeline resource (a queue, a barrier, a semaphore, a
    // joined thread) or a condvar: the hold to release before the wait, as
    // the runtime's report says (no lock order fixes it).
    let kinds: Vec<LockKind> = c
        .locks
        .iter()
        .map(|l| LockKind::from_name(&l.kind))
        .collect();
    let by_task = |i: usize| {
        (c.edges.iter())
            .find(|e| e.from == c.locks[i].id)
            .and_then(|e| e.origins.first())
            .is_some_and(|o| super::is_task(&o.thread))
    };
    let resources = lockgraph_core::resource_fix_lines(&kinds, by_task, |i| named(&c.locks[i]));
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
    let (first, second) = (
        c.locks.first().map_or_else(|| "L1".to_string(), named),
        c.locks.get(1).map_or_else(|| "L2".to_string(), named),
    );
    writeln!(
        w,
        "  fix: take these locks in one global order everywhere (for example always {first} before {second}),\n       \
         or stop holding one while requesting the next."
    )?;
    writeln!(w)
}

fn write_violation(w: &mut dyn Write, v: &Finding, o: &OrderDetail) -> io::Result<()> {
    let (Some(from), Some(to)) = (v.locks.first(), v.locks.get(1)) else {
        return Ok(());
    };
    writeln!(
        w,
        "lockgraph: lock-order violation: {} was held while {} was requested",
        lock_label(from),
        lock_label(to)
    )?;
    writeln!(
        w,
        "  {} (chain {}) puts `{}` before `{}`:",
        t(&o.order_file),
        o.chain,
        t(&o.to_entry),
        t(&o.from_entry)
    )?;
    let order: Vec<String> = o.order.iter().map(|e| t(e)).collect();
    writeln!(w, "    order: {}", order.join(", "))?;
    writeln!(
        w,
        "  key: {} (fingerprint {})",
        escape::text(&v.key),
        v.fingerprint
    )?;
    write_notes(w, v)?;
    writeln!(w)?;
    writeln!(w, "  locks:")?;
    writeln!(
        w,
        "    {} {} (matches `{}`)",
        from.id,
        lock_label(from),
        t(&o.from_entry)
    )?;
    writeln!(
        w,
        "    {} {} (matches `{}`)",
        to.id,
        lock_label(to),
        t(&o.to_entry)
    )?;
    writeln!(w)?;
    writeln!(w, "  how the edge was recorded:")?;
    for e in &v.edges {
        write_edge(w, v, e, "")?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "  fix: take {} before {}, as the order says, or change the order file.",
        to.id, from.id
    )?;
    writeln!(w)
}

/// `text` in lines of at most about [`WRAP`] characters, the first led by
/// `first`, the others by `rest` (words are never cut).
fn wrapped(text: &str, first: &str, rest: &str) -> Vec<String> {
    let mut lines = vec![first.to_string()];
    let mut empty = true;
    for word in text.split(' ') {
        let Some(line) = lines.last_mut() else { break };
        if !empty && line.chars().count() + 1 + word.chars().count() > WRAP {
            lines.push(format!("{rest}{word}"));
            continue;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines
}

/// The width [`wrapped`] lines keep to.
const WRAP: usize = 100;

/// Writes one finding, as the whole report shows it.
pub(crate) fn write_finding(w: &mut dyn Write, f: &Finding) -> io::Result<()> {
    match &f.detail {
        Detail::Cycle { exact, run_time } => write_cycle(w, f, *exact, run_time.as_ref()),
        Detail::OrderViolation(o) => write_violation(w, f, o),
    }
}

/// Writes the whole report.
pub(crate) fn write(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    for f in &report.findings {
        write_finding(w, f)?;
    }
    writeln!(w, "{}", escape::text(&report.summary_line()))?;
    if let Some(b) = &report.baseline {
        for key in &b.stale {
            writeln!(
                w,
                "lockgraph: baseline entry no longer found (remove it from {}): {}",
                t(&b.file),
                escape::text(key)
            )?;
        }
    }
    Ok(())
}
