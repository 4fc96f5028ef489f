//! The terminal format, laid out like the runtime's cycle reports. Every
//! string from the records is shown through [`escape::text`]: no control
//! character reaches the terminal.

use std::io::{self, Write};

use lockgraph_core::LockKind;

mod cycle;

use super::escape::{self, t};
use crate::report::{
    Detail, EdgeOrigin, Finding, FindingEdge, FindingLock, LockId, OrderDetail, Report,
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
/// unnamed, where it was made (`L2 `src/model.rs:12``), escaped. `id` is
/// the lock's own (of a run, `l.id` is the first's).
fn named(id: LockId, l: &FindingLock) -> String {
    named_within(id, l, usize::MAX)
}

/// [`named`] with the name or site cut to `max` characters (escaped).
fn named_within(id: LockId, l: &FindingLock, max: usize) -> String {
    if let Some(p) = l.phrase() {
        return format!("{id} {}", escape::cut(&t(p), max));
    }
    match (&l.name, &l.site) {
        (Some(n), _) => format!("{id} `{}`", escape::cut(&t(n), max)),
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
            format!("{id} `{}`", escape::cut(&t(short), max))
        }
        (None, None) => id.to_string(),
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

/// A lock of a finding by its own id, and the run it is in.
type At<'a> = (LockId, &'a FindingLock);

/// The two lines describing one origin of an edge.
fn origin_lines((fid, from): At<'_>, (tid, to): At<'_>, o: &EdgeOrigin) -> [String; 2] {
    if &*from.kind == "Condvar" {
        return [
            format!(
                "{} notified {} at {},",
                super::actor(&t(&o.thread)),
                named(fid, from),
                site(&o.requested_at)
            ),
            format!(
                "while holding {}{} (taken at {})",
                named(tid, to),
                lockgraph_core::resource_words(LockKind::from_name(&to.kind))
                    .map_or("", |w| w.held),
                site(&o.held_at)
            ),
        ];
    }
    let first = format!(
        "{} held {}{} (taken at {}),",
        super::actor(&t(&o.thread)),
        named(fid, from),
        hold_mode(&from.kind, o.hold.as_str()),
        site(&o.held_at)
    );
    let second = if &*to.kind == "Condvar" {
        format!(
            "then waited on {} at {}",
            named(tid, to),
            site(&o.requested_at)
        )
    } else {
        format!(
            "then requested {}{} at {}",
            named(tid, to),
            request_mode(&to.kind, o.request.as_str()),
            site(&o.requested_at)
        )
    };
    [first, second]
}

/// Writes edge `e` (a run of edges recorded alike), as its edge from lock
/// `ends.0` to lock `ends.1`.
fn write_edge(
    w: &mut dyn Write,
    f: &Finding,
    e: &FindingEdge,
    (fid, tid): (LockId, LockId),
    closing_note: &str,
) -> io::Result<()> {
    let (Some(from), Some(to)) = (f.lock(fid), f.lock(tid)) else {
        return Ok(());
    };
    let (from, to) = ((fid, from), (tid, to));
    let head = format!("{fid} -> {tid}  ");
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
        write_edge(w, v, e, (e.from, e.to), "")?;
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
        Detail::Cycle { exact, run_time } => cycle::write_cycle(w, f, *exact, run_time.as_ref()),
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
