//! The terminal format, laid out like the runtime's cycle reports.

use std::io::{self, Write};

use crate::report::{CycleReport, EdgeReport, LockReport, OriginReport, Report, ViolationReport};

/// Backtrace frames shown per origin.
pub const SHOWN_FRAMES: usize = 4;

/// A lock's kind and label: "Mutex `name`", "RwLock created at file:l:c".
pub fn lock_label(l: &LockReport) -> String {
    match (&l.name, &l.site) {
        (Some(n), _) => format!("{} `{n}`", l.kind),
        (None, Some(s)) => format!("{} created at {s}", l.kind),
        (None, None) => format!("{} {}", l.kind, l.class),
    }
}

fn hold_mode(kind: &str, hold: &str) -> &'static str {
    match (kind, hold) {
        ("RwLock", "exclusive") => " for write",
        ("RwLock", "shared") => " for read",
        ("lock", "exclusive") => " exclusively",
        ("lock", "shared") | (_, "shared") => " shared",
        _ => "",
    }
}

fn request_mode(kind: &str, request: &str) -> &'static str {
    match (kind, request) {
        ("RwLock", "exclusive") => " for write",
        (_, "recursive_read") => " for recursive read",
        (_, "read") => " for read",
        ("lock", "exclusive") => " exclusively",
        _ => "",
    }
}

fn site(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("an unknown site")
}

fn process(o: &OriginReport) -> String {
    if o.exe.is_empty() {
        format!("process {}", o.pid)
    } else {
        format!("process {} ({})", o.pid, o.exe)
    }
}

/// The two lines describing one origin of an edge.
fn origin_lines(
    from: &LockReport,
    to: &LockReport,
    e: &EdgeReport,
    o: &OriginReport,
) -> [String; 2] {
    if from.kind == "Condvar" {
        return [
            format!(
                "thread `{}` notified {} at {},",
                o.thread,
                e.from,
                site(&o.requested_at)
            ),
            format!("while holding {} (taken at {})", e.to, site(&o.held_at)),
        ];
    }
    let first = format!(
        "thread `{}` held {}{} (taken at {}),",
        o.thread,
        e.from,
        hold_mode(&from.kind, o.hold),
        site(&o.held_at)
    );
    let second = if to.kind == "Condvar" {
        format!("then waited on {} at {}", e.to, site(&o.requested_at))
    } else {
        format!(
            "then requested {}{} at {}",
            e.to,
            request_mode(&to.kind, o.request),
            site(&o.requested_at)
        )
    };
    [first, second]
}

fn write_edge(
    w: &mut dyn Write,
    locks: &[&LockReport],
    e: &EdgeReport,
    closing_note: &str,
) -> io::Result<()> {
    let find = |id: &str| locks.iter().copied().find(|l| l.id == id);
    let (Some(from), Some(to)) = (find(&e.from), find(&e.to)) else {
        return Ok(());
    };
    let head = format!("{} -> {}  ", e.from, e.to);
    let pad = " ".repeat(head.len());
    if e.origins.is_empty() {
        writeln!(w, "    {head}(no origin recorded){closing_note}")?;
    }
    for (i, o) in e.origins.iter().enumerate() {
        let [first, second] = origin_lines(from, to, e, o);
        let lead = if i == 0 { &head } else { &pad };
        writeln!(w, "    {lead}{first}")?;
        let note = if i == 0 { closing_note } else { "" };
        writeln!(w, "    {pad}{second}{note}")?;
        writeln!(w, "    {pad}in {}", process(o))?;
        for frame in o.backtrace.iter().take(SHOWN_FRAMES) {
            writeln!(w, "    {pad}    {frame}")?;
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

fn write_cycle(w: &mut dyn Write, c: &CycleReport) -> io::Result<()> {
    let n = c.locks.len();
    let mut pids: Vec<u64> = c
        .edges
        .iter()
        .flat_map(|e| e.origins.iter().map(|o| o.pid))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    writeln!(
        w,
        "lockgraph: potential deadlock: lock-order cycle through {n} locks, recorded by {} {}",
        pids.len(),
        if pids.len() == 1 {
            "process"
        } else {
            "processes"
        }
    )?;
    writeln!(w, "  key: {} (fingerprint {})", c.key, c.fingerprint)?;
    if !c.exact {
        writeln!(
            w,
            "  note: the search ran out of budget, so this cycle ignores the read-lock and\n        \
             gate-lock rules: it exists, but may not be able to deadlock"
        )?;
    }
    writeln!(w)?;
    writeln!(w, "  locks in the cycle:")?;
    let width = c.locks.iter().map(|l| l.id.len()).max().unwrap_or(2);
    for l in &c.locks {
        writeln!(w, "    {:<width$} {}", l.id, lock_label(l))?;
    }
    writeln!(w)?;
    writeln!(w, "  how each edge was recorded:")?;
    let locks: Vec<&LockReport> = c.locks.iter().collect();
    for e in &c.edges {
        let note = if e.closes_cycle {
            "   <- this edge closes the cycle"
        } else {
            ""
        };
        write_edge(w, &locks, e, note)?;
    }
    writeln!(w)?;
    writeln!(w, "  how it deadlocks (each column a thread, all at once):")?;
    let cells: Vec<[String; 3]> = c
        .edges
        .iter()
        .take(6)
        .map(|e| {
            let who = match e.origins.first() {
                Some(o) if pids.len() > 1 => format!("thread `{}` (pid {})", o.thread, o.pid),
                Some(o) => format!("thread `{}`", o.thread),
                None => "thread ?".to_string(),
            };
            [
                who,
                format!("holds {}", e.from),
                format!("waits for {}", e.to),
            ]
        })
        .collect();
    let widths: Vec<usize> = cells
        .iter()
        .map(|c| c.iter().map(|s| s.len()).max().unwrap_or(0))
        .collect();
    for row in 0..3 {
        let mut line = String::from("    ");
        for (cell, width) in cells.iter().zip(&widths) {
            line.push_str(&format!("{:<width$}   ", cell[row]));
        }
        if row == 0 && c.edges.len() > 6 {
            line.push_str(&format!("... {} more", c.edges.len() - 6));
        }
        writeln!(w, "{}", line.trim_end())?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "  fix: take these locks in one global order everywhere (for example always L1 before L2),\n       \
         or stop holding one while requesting the next."
    )?;
    writeln!(w)
}

fn write_violation(w: &mut dyn Write, v: &ViolationReport) -> io::Result<()> {
    writeln!(
        w,
        "lockgraph: lock-order violation: {} was held while {} was requested",
        lock_label(&v.from),
        lock_label(&v.to)
    )?;
    writeln!(
        w,
        "  {} (chain {}) puts `{}` before `{}`:",
        v.order_file, v.chain, v.to_entry, v.from_entry
    )?;
    writeln!(w, "    order: {}", v.order.join(", "))?;
    writeln!(w, "  key: {} (fingerprint {})", v.key, v.fingerprint)?;
    writeln!(w)?;
    writeln!(w, "  locks:")?;
    writeln!(
        w,
        "    {} {} (matches `{}`)",
        v.from.id,
        lock_label(&v.from),
        v.from_entry
    )?;
    writeln!(
        w,
        "    {} {} (matches `{}`)",
        v.to.id,
        lock_label(&v.to),
        v.to_entry
    )?;
    writeln!(w)?;
    writeln!(w, "  how the edge was recorded:")?;
    write_edge(w, &[&v.from, &v.to], &v.edge, "")?;
    writeln!(w)?;
    writeln!(
        w,
        "  fix: take {} before {}, as the order says, or change the order file.",
        v.to.id, v.from.id
    )?;
    writeln!(w)
}

/// Writes the whole report.
pub fn write(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    for c in &report.cycles {
        write_cycle(w, c)?;
    }
    for v in &report.violations {
        write_violation(w, v)?;
    }
    writeln!(w, "{}", report.summary_line())?;
    if let Some(b) = &report.baseline {
        for key in &b.stale {
            writeln!(
                w,
                "lockgraph: baseline entry no longer found (remove it from {}): {key}",
                b.file
            )?;
        }
    }
    Ok(())
}
