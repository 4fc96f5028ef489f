//! A record folded into its process's state as it is read: its reports,
//! each thread's latest state, its markers, its process's identity; what
//! is kept is taken from the budget ([`super::keep`]), what does not fit is
//! counted. A file only counted ([`Reading::counted_only`]) takes nothing
//! but from the budget's reserve.

use serde_json::Value;

use super::{
    amount, first_line, head, keep, same_cycle, thread_view, Head, Reading, Refused, Report,
    ThreadView, MAX_HOST,
};

impl Reading<'_> {
    /// Takes `cost` from the budget, unless the file is only counted.
    fn take(&mut self, cost: u64) -> Result<(), Refused> {
        match self.counted_only {
            Some(by) => Err(by),
            None => self.budget.take(cost),
        }
    }

    /// [`Self::take`] for a long-wait report.
    fn take_long_wait(&mut self, cost: u64) -> Result<(), Refused> {
        match self.counted_only {
            Some(by) => Err(by),
            None => self.budget.take_long_wait(cost),
        }
    }

    /// [`Self::take`], then, when all files together have nothing left,
    /// the budget's reserve (for deadlock reports and progress values).
    fn take_or_reserve(&mut self, cost: u64) -> Result<(), Refused> {
        match self.take(cost) {
            Err(Refused::Total) if self.budget.take_reserve(cost) => Ok(()),
            taken => taken,
        }
    }

    /// A line skipped for a limit, `head` its first bytes (`whole`: all of
    /// it): the record they show counts as far as the verdict needs (a
    /// report in its process's totals, a process record's pid, rank and
    /// host); what the line is, for its skipped entry.
    pub(super) fn skipped_record(&mut self, n: u64, head: &[u8], whole: bool) -> String {
        let mut rec = match head::read(head, whole) {
            Head::Record(rec) => rec,
            Head::Other(why) => return format!("; from its start, {why}"),
            Head::Version(why) => {
                self.notes.incomplete = true;
                return format!("; from its start, {why}");
            }
            Head::Unknown => {
                self.notes.incomplete = true;
                return format!(
                    "; its first {} do not say which record it is: it may be a deadlock or long-wait report, not counted",
                    amount(head.len() as u64)
                );
            }
        };
        self.stamp(&rec);
        let kind = rec.get("kind").and_then(Value::as_str).map(str::to_string);
        match kind.as_deref() {
            Some(kind @ ("deadlock" | "long_wait")) => {
                if let Some(r) = rec.as_object_mut() {
                    r.entry("summary")
                        .or_insert_with(|| "(on a line skipped for a limit: see skipped)".into());
                }
                self.report(n, &rec, kind == "deadlock");
                format!(
                    "; its start shows a {} report: counted in its process's totals, its threads not read",
                    if kind == "deadlock" { "deadlock" } else { "long-wait" }
                )
            }
            Some("process") => {
                if rec["host"].as_str().is_some_and(|h| h.len() > MAX_HOST) {
                    rec["host"] = Value::Null;
                }
                self.process(n, &rec);
                "; its start shows a process record: its pid, rank and host read".to_string()
            }
            Some("dump") => "; its start shows a dump: not read".to_string(),
            Some("progress") => "; its start shows a progress marker: not read".to_string(),
            Some(other) => format!("; its start shows a record of kind {other:?}: not read"),
            None => "; its start shows a record without a kind: not read".to_string(),
        }
    }

    /// A record read: counted, with its pid and its time.
    fn stamp(&mut self, rec: &Value) {
        self.records += 1;
        if let Some(p) = rec["pid"].as_u64() {
            self.pid_from_records.get_or_insert(p);
        }
        if let Some(t) = rec
            .get("at_unix_ms")
            .or_else(|| rec.get("reported_at_unix_ms"))
            .and_then(Value::as_u64)
        {
            let last = &mut self.file.last_unix_ms;
            *last = Some(last.map_or(t, |l| l.max(t)));
        }
    }

    /// The threads a report or dump lists (a deadlock report's `threads`
    /// and `also_deadlocked`), each folded in. An entry that is not a
    /// thread's is named in a note (its line is read all the same).
    fn threads(&mut self, n: u64, rec: &Value) {
        for key in ["threads", "also_deadlocked"] {
            for (i, t) in rec
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                match thread_view(t) {
                    Ok(v) => self.thread(n, v),
                    Err(why) => self.skip(Some(n), format!("{key}[{i}] left out: {why}"), None),
                }
            }
        }
    }

    /// A watchdog record: what it says is folded into the file's state.
    pub(super) fn record(&mut self, n: u64, rec: &Value) {
        self.stamp(rec);
        match rec.get("kind").and_then(Value::as_str) {
            Some("process") => self.process(n, rec),
            Some(kind @ ("deadlock" | "long_wait")) => {
                self.report(n, rec, kind == "deadlock");
                self.threads(n, rec);
            }
            Some("dump") => {
                self.file.dumps += 1;
                // A dump lists every thread that holds or waits: it
                // replaces what earlier records said.
                for v in std::mem::take(&mut self.file.threads).into_values() {
                    self.budget.give(keep::thread(&v));
                }
                self.threads(n, rec);
                self.dump_deadlocks(n, rec);
                for p in rec
                    .get("progress")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let (Some(name), Some(v)) = (p["name"].as_str(), p["value"].as_u64()) {
                        self.marker(n, name, v);
                    }
                }
            }
            Some("progress") => {
                if let (Some(name), Some(v)) = (rec["name"].as_str(), rec["value"].as_u64()) {
                    self.marker(n, name, v);
                }
            }
            _ => {}
        }
    }

    /// Why a dump's deadlock is all a file says of it.
    const DUMP_ONLY: &'static str = "no report of the file names it: the process ended before the \
        watchdog's report, which waits for a second scan";

    /// The deadlocks a dump's verdict names (its `deadlocks`), each cycle
    /// once per file.
    fn dump_deadlocks(&mut self, n: u64, rec: &Value) {
        for d in rec
            .get("deadlocks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(cycle) = d.get("cycle").and_then(Value::as_str) else {
                continue;
            };
            if self
                .file
                .dump_deadlocks
                .iter()
                .any(|r| r.cycle.as_deref().is_some_and(|c| same_cycle(c, cycle)))
            {
                continue;
            }
            let threads = d.get("threads").and_then(Value::as_u64).unwrap_or(0);
            let timed = if d.get("timed").and_then(Value::as_bool) == Some(true) {
                ", until a timed wait of it gives up"
            } else {
                ""
            };
            let report = Report {
                deadlock: true,
                from_dump: true,
                cycle: Some(cycle.to_string()),
                summary: format!(
                    "lockgraph watchdog: DEADLOCK: {threads} threads wait for each other{timed} \
                     (in the dump at line {n}; {})",
                    Self::DUMP_ONLY
                ),
                advice: d.get("advice").and_then(Value::as_str).map(str::to_string),
            };
            let cost = keep::report(
                report.cycle.as_deref(),
                &report.summary,
                report.advice.as_deref(),
            );
            match self.take_or_reserve(cost) {
                Ok(()) => self.file.dump_deadlocks.push(report),
                Err(by) => {
                    self.not_kept.note(n, by);
                    self.not_kept.deadlocks += 1;
                    self.file.deadlocks += 1;
                }
            }
        }
    }

    /// A process record: rank, host and program (the rank, a number, is
    /// read whatever is kept).
    fn process(&mut self, n: u64, rec: &Value) {
        if let Some(rank) = rec.get("rank") {
            self.file.rank = rank.as_u64();
        }
        let host = rec["host"].as_str();
        let exe = rec["exe"].as_str();
        let cost = keep::process(host.or(self.file.host.as_deref()), exe);
        if cost > self.process_cost {
            if let Err(by) = self.take(cost - self.process_cost) {
                self.not_kept.note(n, by);
                self.not_kept.processes += 1;
                return;
            }
        } else {
            self.budget.give(self.process_cost - cost);
        }
        self.process_cost = cost;
        self.file.exe = exe.map(str::to_string);
        if let Some(h) = host {
            self.file.host = Some(h.to_string());
        }
    }

    /// A deadlock or long-wait report (without its threads).
    fn report(&mut self, n: u64, rec: &Value, deadlock: bool) {
        if deadlock {
            self.file.deadlocks += 1;
        } else {
            self.file.long_waits += 1;
        }
        let report = Report {
            deadlock,
            from_dump: false,
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
        let cost = keep::report(
            report.cycle.as_deref(),
            &report.summary,
            report.advice.as_deref(),
        );
        let taken = if deadlock {
            self.take_or_reserve(cost)
        } else {
            self.take_long_wait(cost)
        };
        match taken {
            Ok(()) => self.file.reports.push(report),
            Err(by) => {
                self.not_kept.note(n, by);
                if deadlock {
                    self.not_kept.deadlocks += 1;
                } else {
                    self.not_kept.long_waits += 1;
                }
            }
        }
    }

    /// A thread's new state, replacing what was known of it.
    fn thread(&mut self, n: u64, v: ThreadView) {
        if let Some(old) = self.file.threads.remove(&v.tid) {
            self.budget.give(keep::thread(&old));
        }
        match self.take(keep::thread(&v)) {
            Ok(()) => {
                self.file.threads.insert(v.tid, v);
            }
            Err(by) => {
                self.not_kept.note(n, by);
                self.not_kept.threads += 1;
            }
        }
    }

    /// A progress marker's value.
    fn marker(&mut self, n: u64, name: &str, value: u64) {
        if let Some(v) = self.file.progress.get_mut(name) {
            *v = value;
            return;
        }
        match self.take_or_reserve(keep::marker(name)) {
            Ok(()) => {
                self.file.progress.insert(name.to_string(), value);
            }
            Err(by) => {
                self.not_kept.note(n, by);
                self.not_kept.markers += 1;
            }
        }
    }
}
