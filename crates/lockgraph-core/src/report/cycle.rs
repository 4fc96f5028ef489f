//! A lock-order cycle's report as text: its locks, how each edge was
//! recorded, the scenario table of how it deadlocks, the fix, and the
//! stacks (also printed under a self-deadlock's report). Cycles longer
//! than [`SHOWN_EDGES`] print their first and last edges only.

use std::fmt::{self, Write as _};

use super::names::{actor, hold_mode, is_task, request_mode_of, site_or_unknown, tag};
use super::{reads, CycleReport, EdgeInfo, Level, LockInfo, LockKind};

/// A cell of the table of how a cycle deadlocks is cut past this many
/// characters.
const TABLE_CELL: usize = 72;
/// Cycles longer than this print their first and last edges only; the
/// `edges` field keeps all of them.
const SHOWN_EDGES: usize = 12;

/// At most this many thread columns in the scenario table.
const SHOWN_COLUMNS: usize = 6;

impl CycleReport {
    /// Whether every lock of the cycle looks alike (kind, name, creation
    /// site, value type) and that says its class: one class, as far as the
    /// report can tell. Anonymous locks (`const_new`, each a class of its
    /// own) have neither a name nor a site, so they look alike without
    /// being one class (found by a review).
    pub(super) fn one_class(&self) -> bool {
        let mut locks = self.locks.entries();
        let Some(first) = locks.next() else {
            return false;
        };
        if first.name.is_none() && first.created.is_none() {
            return false;
        }
        let first = first.looks();
        locks.all(|l| l.looks() == first)
    }

    pub(super) fn fmt_cycle(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.locks.len();
        writeln!(
            f,
            "lockgraph: potential deadlock: lock-order cycle through {n} locks"
        )?;
        match self.level {
            Level::Instance => writeln!(
                f,
                "  level: instance (these very locks were taken in opposite orders)"
            )?,
            Level::Class => writeln!(
                f,
                "  level: class (locks made at these sites were taken in opposite orders,\n         \
                 maybe different instances; any pair of them can deadlock)"
            )?,
        }
        writeln!(f)?;
        writeln!(f, "  locks in the cycle:")?;
        let width = n.to_string().len() + 1;
        for i in 0..n {
            if !shown(i, n) {
                if i == SHOWN_EDGES / 2 {
                    writeln!(f, "    ... {} more locks ...", n - SHOWN_EDGES)?;
                }
                continue;
            }
            let Some(lock) = self.locks.entry(i) else {
                continue;
            };
            write!(f, "    {:<width$} {}", tag(i), lock.named(true))?;
            if let (Some(_), Some(site)) = (lock.name, lock.created) {
                write!(f, " (created at {site})")?;
            }
            if let Some(inst) = lock.instance {
                write!(f, " #{inst}")?;
            }
            writeln!(f)?;
        }
        for note in self.site_notes() {
            writeln!(f, "  {note}")?;
        }
        writeln!(f)?;
        writeln!(f, "  how each edge was recorded:")?;
        for i in 0..self.edges.len() {
            if !shown(i, n) {
                if i == SHOWN_EDGES / 2 {
                    writeln!(f, "    ... {} more edges ...", n - SHOWN_EDGES)?;
                }
                continue;
            }
            let Some(e) = self.edges.entry(i) else {
                continue;
            };
            let (first, second) = self.edge_lines(&e);
            let pad = tag(e.from).len() + tag(e.to).len() + 6;
            writeln!(f, "    {} -> {}  {first}", tag(e.from), tag(e.to))?;
            writeln!(
                f,
                "    {:pad$}{second}{}",
                "",
                if e.closing {
                    "   <- this request closed the cycle"
                } else {
                    ""
                },
            )?;
        }
        writeln!(f)?;
        self.fmt_scenario(f)?;
        for line in reads::queued_writer_lines(self) {
            writeln!(f, "  {line}")?;
        }
        writeln!(f)?;
        for line in self.fix_lines(n) {
            writeln!(f, "  {line}")?;
        }
        self.fmt_stacks(f)
    }

    /// The two lines describing how edge `e` was recorded.
    fn edge_lines(&self, e: &EdgeInfo) -> (String, String) {
        let kind = |i| self.locks.entry(i).map(|l: LockInfo| l.kind);
        let (from, to) = (kind(e.from), kind(e.to));
        let held_at = site_or_unknown(e.held_at);
        let requested_at = site_or_unknown(e.requested_at);
        if from == Some(LockKind::Condvar) {
            return (
                format!(
                    "{} notified {} at {requested_at}",
                    actor(&e.thread),
                    self.named(e.from)
                ),
                // A role's words (`as its consumer`), not a lock's mode:
                // a notification's edge is recorded as an exclusive one.
                format!(
                    "while holding {}{} (taken at {held_at})",
                    self.named(e.to),
                    to.and_then(super::resource_words).map_or("", |w| w.held)
                ),
            );
        }
        let first = format!(
            "{} held {}{} (taken at {held_at}),",
            actor(&e.thread),
            self.named(e.from),
            hold_mode(from.unwrap_or(LockKind::Other), e.hold)
        );
        let second = if to == Some(LockKind::Condvar) {
            format!("then waited on {} at {requested_at}", self.named(e.to))
        } else {
            format!(
                "then requested {}{} at {requested_at}",
                self.named(e.to),
                request_mode_of(to.unwrap_or(LockKind::Other), e)
            )
        };
        (first, second)
    }

    fn fmt_scenario(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cols: Vec<EdgeInfo> = self.edges.entries().take(SHOWN_COLUMNS).collect();
        // When one thread recorded several sides of the cycle, the columns
        // are not different threads: say what the table shows instead.
        let mut repeated: Vec<(&str, usize)> = Vec::new();
        for (i, e) in cols.iter().enumerate() {
            let n = cols.iter().filter(|c| c.thread == e.thread).count();
            if n > 1 && !cols[..i].iter().any(|c| c.thread == e.thread) {
                repeated.push((&e.thread, n));
            }
        }
        if repeated.is_empty() {
            // Columns are tasks of an async runtime, threads, or both.
            let tasks = cols.iter().filter(|c| is_task(&c.thread)).count();
            let column = match tasks {
                0 => "a thread",
                n if n == cols.len() => "a task",
                _ => "a thread or a task",
            };
            writeln!(f, "  how it deadlocks (each column {column}, all at once):")?;
        } else {
            let who: Vec<String> = repeated
                .iter()
                .map(|(t, n)| format!("{} recorded {n} of these columns itself", actor(t)))
                .collect();
            writeln!(
                f,
                "  how it deadlocks when each column runs in a thread of its own, all at once\n  \
                 ({}):",
                who.join(", ")
            )?;
        }
        let cells: Vec<[String; 3]> = cols
            .iter()
            .map(|e| {
                [
                    actor(&e.thread),
                    if self.is_condvar(e.from) {
                        format!("will notify {}", self.named(e.from))
                    } else {
                        format!("holds {}", self.named(e.from))
                    },
                    if self.is_condvar(e.to) {
                        format!("waits on {}", self.named(e.to))
                    } else {
                        format!("waits for {}", self.named(e.to))
                    },
                ]
            })
            .collect();
        // Cut and padded by hand: a name can be wider than a format width
        // allows (65,535); the lines above name every lock whole.
        let cells: Vec<[String; 3]> = (cells.into_iter())
            .map(|c| c.map(|s| crate::table::cut(&s, TABLE_CELL).into_owned()))
            .collect();
        let widths: Vec<usize> = (cells.iter())
            .map(|c| crate::table::width(c.iter().map(String::as_str)))
            .collect();
        for row in 0..3 {
            let mut line = String::from("    ");
            for (c, w) in cells.iter().zip(&widths) {
                line.push_str(&crate::table::padded(&c[row], *w));
                line.push_str("   ");
            }
            if row == 0 && self.edges.len() > SHOWN_COLUMNS {
                let _ = write!(line, "... {} more", self.edges.len() - SHOWN_COLUMNS);
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }

    pub(super) fn fmt_stacks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.edges.len();
        let mut header = false;
        let mut captured = false;
        for i in (0..n).filter(|&i| shown(i, n)) {
            let Some(e) = self.edges.entry(i) else {
                continue;
            };
            let Some(bt) = &e.backtrace else { continue };
            captured = true;
            let frames = bt.user_frames(6);
            if frames.is_empty() {
                continue;
            }
            if !header {
                writeln!(f)?;
                writeln!(f, "  stacks when each edge was first recorded:")?;
                if self.level == Level::Instance && self.one_class() {
                    // `instance_edge_stack`: one stack per thread and pair
                    // of sites, not one per pair of locks.
                    writeln!(
                        f,
                        "    (the closing request's stack is its own; another edge between two locks of one class shows the first stack its thread captured at the same two sites, which may be another pair's of the class, called from elsewhere)"
                    )?;
                }
                header = true;
            }
            writeln!(
                f,
                "    {} -> {} ({}):",
                tag(e.from),
                tag(e.to),
                actor(&e.thread)
            )?;
            for frame in frames {
                writeln!(f, "      {frame}")?;
            }
        }
        if captured && !header {
            // Stacks were captured and none named a frame of the program:
            // say why where the binary is the cause (a stripped one).
            let hint = super::DebugInfo::of_this_binary().no_frames_hint();
            if !hint.is_empty() {
                writeln!(f)?;
                writeln!(f, "  stacks: no program frames could be resolved{hint}")?;
            }
        }
        Ok(())
    }
}

fn shown(i: usize, n: usize) -> bool {
    n <= SHOWN_EDGES || i < SHOWN_EDGES / 2 || i >= n - SHOWN_EDGES / 2
}
