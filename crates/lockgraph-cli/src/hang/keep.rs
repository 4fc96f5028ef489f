//! What `lockgraph hang` keeps in memory, and how much of it: every report,
//! thread state, marker and process record kept is charged its estimated
//! size (its text plus a fixed part for the structures around it) against
//! [`Limits::kept_per_file`] and [`Limits::kept_total`]; what does not fit
//! is counted, not kept, and said. Once all files together have nothing
//! left, deadlock reports and progress values may still take a small
//! reserve ([`RESERVE`]): they are what points at the process that hangs.

use super::{amount, Limits, ThreadView};

/// The fixed part of one kept item: the struct, its place in a map or a
/// list, and the process label the report gives it.
const ITEM: u64 = 96;
/// The fixed part of one string: its pointer, length and capacity, and
/// the allocator's share of its bytes.
const STRING: u64 = 40;
/// What deadlock reports and progress values may keep, besides
/// [`Limits::kept_total`], once it is reached.
pub(super) const RESERVE: u64 = 1 << 20;

fn text(s: &str) -> u64 {
    s.len() as u64 + STRING
}

fn opt(s: Option<&str>) -> u64 {
    s.map_or(0, text)
}

/// A thread's state, place and stack: kept once per group.
pub(super) fn group_key(v: &ThreadView) -> u64 {
    ITEM + text(&v.state) + opt(v.at.as_deref()) + v.stack.iter().map(|f| text(f)).sum::<u64>()
}

/// A thread as a member of its group.
pub(super) fn member(v: &ThreadView) -> u64 {
    ITEM + text(&v.name)
}

/// A thread's latest state, kept until its file is read.
pub(super) fn thread(v: &ThreadView) -> u64 {
    group_key(v) + member(v)
}

/// A deadlock or long-wait report.
pub(super) fn report(cycle: Option<&str>, summary: &str, advice: Option<&str>) -> u64 {
    ITEM + opt(cycle) + text(summary) + opt(advice)
}

/// A progress marker seen for the first time.
pub(super) fn marker(name: &str) -> u64 {
    ITEM + text(name)
}

/// A process record's strings.
pub(super) fn process(host: Option<&str>, exe: Option<&str>) -> u64 {
    opt(host) + opt(exe)
}

/// A file read: its path (in its process and in what is skipped) and its
/// process's fixed part.
pub(super) fn file(path: &std::path::Path) -> u64 {
    4 * ITEM + 2 * (path.as_os_str().len() as u64 + STRING)
}

/// Which limit refused something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// [`Limits::kept_per_file`].
    File,
    /// Its half that long-wait reports may fill.
    LongWaits,
    /// [`Limits::kept_total`].
    Total,
}

impl Refused {
    /// The name of the limit in the JSON (`limit`).
    pub(super) fn name(self) -> &'static str {
        match self {
            Refused::File | Refused::LongWaits => "kept_per_file",
            Refused::Total => "kept_total",
        }
    }
}

/// What is left to keep, for all files and for the file being read.
#[derive(Debug)]
pub(super) struct Budget {
    total: u64,
    per_file: u64,
    total_left: u64,
    file_left: u64,
    /// What is left of [`RESERVE`].
    reserve_left: u64,
}

impl Budget {
    pub(super) fn new(limits: &Limits) -> Budget {
        Budget {
            total: limits.kept_total,
            per_file: limits.kept_per_file,
            total_left: limits.kept_total,
            file_left: limits.kept_per_file,
            reserve_left: RESERVE,
        }
    }

    /// A new file: its own share starts whole.
    pub(super) fn start_file(&mut self) {
        self.file_left = self.per_file;
    }

    /// Takes `cost`; `Err` says which limit refused it.
    pub(super) fn take(&mut self, cost: u64) -> Result<(), Refused> {
        if cost > self.total_left {
            return Err(Refused::Total);
        }
        if cost > self.file_left {
            return Err(Refused::File);
        }
        self.total_left -= cost;
        self.file_left -= cost;
        Ok(())
    }

    /// Takes `cost` for a long-wait report: those are what a hung process
    /// repeats, and they leave half of the file's share to its latest
    /// threads and its deadlock reports.
    pub(super) fn take_long_wait(&mut self, cost: u64) -> Result<(), Refused> {
        if cost.saturating_add(self.per_file / 2) > self.file_left && cost <= self.file_left {
            return Err(Refused::LongWaits);
        }
        self.take(cost)
    }

    /// Takes `cost` from the reserve (kept to the end: never given back);
    /// whether it fitted.
    pub(super) fn take_reserve(&mut self, cost: u64) -> bool {
        let fits = cost <= self.reserve_left;
        if fits {
            self.reserve_left -= cost;
        }
        fits
    }

    /// Gives back `cost`, taken earlier.
    pub(super) fn give(&mut self, cost: u64) {
        self.total_left = (self.total_left + cost).min(self.total);
        self.file_left = (self.file_left + cost).min(self.per_file);
    }

    /// What the file being read holds now.
    pub(super) fn file_used(&self) -> u64 {
        self.per_file - self.file_left
    }

    /// The limit (for messages).
    pub(super) fn describe(&self, r: Refused) -> String {
        match r {
            Refused::File => format!(
                "the {} limit on what one file may keep in memory",
                amount(self.per_file)
            ),
            Refused::LongWaits => format!(
                "the {} that long-wait reports may keep of the {} limit on what one file may keep in memory",
                amount(self.per_file / 2),
                amount(self.per_file)
            ),
            Refused::Total => format!(
                "the {} limit on what all files together may keep in memory",
                amount(self.total)
            ),
        }
    }
}

/// What one file had that was counted but not kept.
#[derive(Debug, Default)]
pub(super) struct NotKept {
    /// The first line with something not kept.
    pub(super) first_line: Option<u64>,
    /// The limits that refused (in the order first met).
    pub(super) by: Vec<Refused>,
    pub(super) processes: u64,
    pub(super) deadlocks: u64,
    pub(super) long_waits: u64,
    pub(super) threads: u64,
    pub(super) markers: u64,
}

impl NotKept {
    pub(super) fn note(&mut self, line: u64, by: Refused) {
        self.first_line.get_or_insert(line);
        if !self.by.contains(&by) {
            self.by.push(by);
        }
    }

    /// `the 64 MiB limit on what one file may keep in memory reached: from
    /// line 12 on, 30 long-wait reports and 2 thread states left out (...)`,
    /// or `None` when everything was kept.
    pub(super) fn describe(&self, budget: &Budget) -> Option<String> {
        let line = self.first_line?;
        let limits: Vec<String> = self.by.iter().map(|r| budget.describe(*r)).collect();
        Some(format!(
            "{} reached: from line {line} on, {}",
            limits.join(" and "),
            self.left_out()
        ))
    }

    /// For a file read once `by` was reached: `the 256 MiB limit on what
    /// all files together may keep in memory was reached before this file:
    /// only its process, its report counts and what fits the 1 MiB reserve
    /// (...) are kept; 2 long-wait reports ... left out (...)`.
    pub(super) fn describe_counted(&self, budget: &Budget, by: Refused) -> String {
        let mut why = format!(
            "{} was reached before this file: only its process, its counts of deadlock and long-wait reports and what fits the {} reserve for deadlock reports and progress values are kept",
            budget.describe(by),
            amount(RESERVE)
        );
        if self.first_line.is_some() {
            why.push_str("; ");
            why.push_str(&self.left_out());
        }
        why
    }

    /// `30 long-wait reports and 2 thread states left out (...)`.
    fn left_out(&self) -> String {
        let parts: Vec<String> = [
            (self.processes, "process record", "process records"),
            (self.deadlocks, "deadlock report", "deadlock reports"),
            (self.long_waits, "long-wait report", "long-wait reports"),
            (self.threads, "thread state", "thread states"),
            (self.markers, "progress value", "progress values"),
        ]
        .into_iter()
        .filter(|(n, ..)| *n > 0)
        .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
        .collect();
        let mut then = Vec::new();
        if self.deadlocks + self.long_waits > 0 {
            then.push("the reports left out still count in the process's totals");
        }
        if self.threads > 0 {
            then.push("the threads left out are missing from the groups");
        }
        let then = if then.is_empty() {
            String::new()
        } else {
            format!(" ({})", then.join("; "))
        };
        format!("{} left out{then}", super::names(&parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_what_does_not_fit_and_takes_back_what_is_given() {
        let limits = Limits {
            line_bytes: 1,
            parse_bytes: 1,
            file_bytes: 1,
            kept_per_file: 100,
            kept_total: 150,
        };
        let mut b = Budget::new(&limits);
        assert_eq!(b.take_long_wait(40), Ok(()));
        // Long waits leave half of the file's share.
        assert_eq!(b.take_long_wait(20), Err(Refused::LongWaits));
        assert_eq!(b.take(20), Ok(()));
        assert_eq!(b.take(50), Err(Refused::File));
        assert_eq!(b.take(30), Ok(()));
        assert_eq!(b.file_used(), 90);
        b.start_file();
        assert_eq!(b.take(70), Err(Refused::Total));
        assert_eq!(b.take(60), Ok(()));
        b.give(60);
        b.give(90);
        assert_eq!(b.take(150), Err(Refused::File));
        assert_eq!(b.take(100), Ok(()));
    }

    #[test]
    fn the_reserve_takes_what_fits_and_is_never_given_back() {
        let mut b = Budget::new(&Limits::default());
        assert!(b.take_reserve(RESERVE - 10));
        assert!(!b.take_reserve(11));
        b.give(RESERVE);
        assert!(b.take_reserve(10));
        assert!(!b.take_reserve(1));
    }
}
