//! `lockgraph hang` as text. Every string from the files goes through
//! [`crate::terminal_safe`]: no control character reaches the terminal.

use std::fmt::Write as _;

use super::HangReport;
use crate::shown::ShowPath as _;

/// Members named per group; the rest are counted.
const NAMED_MEMBERS: usize = 8;
/// Frames shown per group.
const SHOWN_FRAMES: usize = 4;

fn t(s: &str) -> String {
    crate::terminal_safe(s).into_owned()
}

pub(super) fn render(r: &HangReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", t(&r.summary));
    if !r.deadlocks.is_empty() {
        let _ = writeln!(s, "\ndeadlocks:");
        for d in &r.deadlocks {
            let _ = writeln!(
                s,
                "  {}: {}",
                t(&d.process),
                t(d.cycle.as_deref().unwrap_or("(no cycle in the report)"))
            );
            if d.from_dump {
                let _ = writeln!(
                    s,
                    "    seen only in a dump: the process ended before the watchdog's report of it"
                );
            }
            if let Some(a) = &d.advice {
                let _ = writeln!(s, "    {}", t(a));
            }
        }
    }
    if !r.long_waits.is_empty() {
        let _ = writeln!(s, "\nlong waits:");
        for w in &r.long_waits {
            let what = [
                "lockgraph watchdog: LONG WAIT: ",
                "lockgraph task watchdog: LONG WAIT: ",
            ]
            .iter()
            .find_map(|p| w.summary.strip_prefix(p))
            .unwrap_or(&w.summary);
            let _ = writeln!(s, "  {}: {}", t(&w.process), t(what));
        }
    }
    if !r.groups.is_empty() {
        let _ = writeln!(
            s,
            "\nthreads, grouped by state and stack across processes (largest group first):"
        );
        for g in &r.groups {
            let at =
                g.at.as_deref()
                    .map_or_else(String::new, |a| format!(" at {}", t(a)));
            let _ = writeln!(
                s,
                "  {} thread{} in {} process{}: {}{at}",
                g.threads,
                if g.threads == 1 { "" } else { "s" },
                g.processes,
                if g.processes == 1 { "" } else { "es" },
                t(&g.state)
            );
            let who: Vec<String> = g
                .members
                .iter()
                .take(NAMED_MEMBERS)
                .map(|m| format!("{} thread `{}`", t(&m.process), t(&m.thread)))
                .collect();
            let more = g.members.len().saturating_sub(NAMED_MEMBERS);
            let _ = writeln!(
                s,
                "      {}{}",
                who.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            for fr in g.stack.iter().take(SHOWN_FRAMES) {
                let _ = writeln!(s, "        {}", t(fr));
            }
            if g.stack.len() > SHOWN_FRAMES {
                let _ = writeln!(
                    s,
                    "        ... {} more frames",
                    g.stack.len() - SHOWN_FRAMES
                );
            }
        }
    }
    if !r.progress.is_empty() {
        let _ = writeln!(s, "\nprogress:");
        for p in &r.progress {
            let _ = writeln!(s, "  {}: {}", t(&p.marker), t(&p.verdict));
            if p.missing_count > 0 {
                let named: Vec<&str> = p
                    .missing
                    .iter()
                    .take(NAMED_MEMBERS)
                    .map(String::as_str)
                    .collect();
                let more = p.missing_count.saturating_sub(named.len());
                let _ = writeln!(
                    s,
                    "    no `{}` marker from: {}{}",
                    t(&p.marker),
                    t(&named.join(", ")),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                );
            }
        }
        if r.progress_left_out > 0 {
            let _ = writeln!(
                s,
                "  ({} more marker{} left out: fewer processes report {})",
                r.progress_left_out,
                if r.progress_left_out == 1 { "" } else { "s" },
                if r.progress_left_out == 1 {
                    "it"
                } else {
                    "them"
                }
            );
        }
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(s, "\nskipped:");
        for k in &r.skipped {
            let line = k.line.map_or_else(String::new, |l| format!(":{l}"));
            let _ = writeln!(
                s,
                "  {}{line}: {}",
                t(&k.file.shown().to_string()),
                t(&k.why)
            );
        }
    }
    if let Some(h) = &r.start_here {
        let _ = writeln!(s, "\nstart here: {}", t(h));
    }
    s
}
