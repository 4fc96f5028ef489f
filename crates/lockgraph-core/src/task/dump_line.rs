//! The task watchdog's reports in the dump directory (`LOCKGRAPH_DUMP_DIR`,
//! `watchdog::Config::dump_dir`): each DEADLOCK and long-wait report is a
//! JSON line of this process's file, beside the thread watchdog's, so that
//! `lockgraph hang` counts and shows async deadlocks too. The line is in
//! the schema of docs/watchdog-report.schema.json: `threads` is empty and
//! `order` null, and the waits are in `tasks`, the schema's extension for
//! the task watchdog (each owner's wait, holds and the lock's holders).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::watch::{TaskDeadlock, TaskWait};
use crate::record::json_str;
use crate::watchdog::{json_async_wait, json_taken};

/// Writes `r` to the dump directory in force, if there is one.
pub(super) fn write(r: &TaskDeadlock) {
    crate::watchdog::append_report(|| r.json_at(SystemTime::now()));
}

impl TaskDeadlock {
    /// What to do: the report's last line before its backtraces.
    pub(super) fn advice(&self) -> &'static str {
        if self.deadlock {
            "what to do: break the cycle: one of these tasks or threads must release what it \
             holds before it waits (take the locks in one order everywhere; docs/async.md)"
        } else {
            "what to do: look at what the holder above does while it holds the lock (a long \
             await under it, or a wait of its own)"
        }
    }

    fn abort(&self) -> bool {
        crate::watchdog::config().action == crate::watchdog::Action::Abort
    }

    /// One line for the dump file and `lockgraph hang`: what waits for
    /// what, in which process, since when, and what the watchdog did.
    fn summary(&self, since: SystemTime) -> String {
        let pid = std::process::id();
        let since = crate::watchdog::utc(since);
        let done = match (self.abort(), self.deadlock) {
            (true, _) => "reported; the watchdog aborts the process now (action abort)",
            (false, true) => "reported only; the process is still hung (these waits never end)",
            (false, false) => "reported only; it still waits",
        };
        match self.cycle.as_slice() {
            [w] if self.deadlock => format!(
                "lockgraph task watchdog: DEADLOCK: {} waits for itself on {} (pid {pid}), since {since}; {done}",
                w.owner, w.lock
            ),
            [w] => format!(
                "lockgraph task watchdog: LONG WAIT: {} has waited {:.3?} for {} (pid {pid}), since {since}; {done}",
                w.owner, w.waited, w.lock
            ),
            all => {
                let mut locks: Vec<&str> = Vec::new();
                for w in all {
                    if !locks.contains(&w.lock.as_str()) {
                        locks.push(&w.lock);
                    }
                }
                format!(
                    "lockgraph task watchdog: DEADLOCK: {} tasks or threads wait for each other on {} (pid {pid}), since {since}; {done}",
                    all.len(),
                    locks.join(" and ")
                )
            }
        }
    }

    /// A deadlock's cycle as `owner -> lock -> next owner -> ... -> owner`.
    fn cycle_text(&self) -> Option<String> {
        let first = self.cycle.first().filter(|_| self.deadlock)?;
        let mut s = String::new();
        for w in &self.cycle {
            let _ = write!(s, "{} -> {} -> ", w.owner, w.lock);
        }
        s.push_str(&first.owner);
        Some(s)
    }

    /// The report as one JSON object (a line of the dump directory's
    /// file), made at `at`.
    pub(super) fn json_at(&self, at: SystemTime) -> String {
        // A deadlock began when its last wait did; a long wait when it did.
        let waited = self
            .cycle
            .iter()
            .map(|w| w.waited)
            .min()
            .unwrap_or(Duration::ZERO);
        let since = at.checked_sub(waited).unwrap_or(at);
        let mut s = String::from("{\"lockgraph_watchdog\":1,\"kind\":");
        json_str(
            &mut s,
            if self.deadlock {
                "deadlock"
            } else {
                "long_wait"
            },
        );
        let _ = write!(s, ",\"pid\":{},\"summary\":", std::process::id());
        json_str(&mut s, &self.summary(since));
        s.push_str(",\"advice\":");
        json_str(&mut s, self.advice());
        let _ = write!(
            s,
            ",\"action\":\"{}\",\"reported_at_unix_ms\":{},\"since_unix_ms\":{},\"cycle\":",
            if self.abort() { "abort" } else { "report" },
            crate::watchdog::unix_ms(at),
            crate::watchdog::unix_ms(since)
        );
        match self.cycle_text() {
            Some(c) => json_str(&mut s, &c),
            None => s.push_str("null"),
        }
        s.push_str(",\"threads\":[],\"order\":null,\"tasks\":[");
        for (i, w) in self.cycle.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_wait(&mut s, w);
        }
        s.push_str("],\"text\":");
        json_str(&mut s, &self.to_string());
        s.push('}');
        s
    }
}

/// `{"owner", "waits": {"lock", "asked_at", "waited_ms"}, "holds":
/// [{"lock", "taken_at"}], "held_by": [{"owner", "taken_at"}],
/// "queued_behind": {"owner", "asked_at"} or null}`: the dump's task
/// entry, with the holders of the lock waited for and, for a read of a
/// tokio `RwLock` behind a queued write, that writer.
fn json_wait(s: &mut String, w: &TaskWait) {
    s.push_str("{\"owner\":");
    json_str(s, &w.owner);
    s.push_str(",\"waits\":");
    json_async_wait(s, &w.lock, &w.asked_at, w.waited);
    s.push_str(",\"holds\":");
    json_taken(s, "lock", &w.holds);
    s.push_str(",\"held_by\":");
    json_taken(s, "owner", &w.held_by);
    s.push_str(",\"queued_behind\":");
    match &w.queued_behind {
        Some((o, at)) => json_asked(s, o, at),
        None => s.push_str("null"),
    }
    s.push('}');
}

/// `{"owner", "asked_at"}`: the writer a read is queued behind.
fn json_asked(s: &mut String, owner: &str, at: &Option<crate::class::Site>) {
    s.push_str("{\"owner\":");
    json_str(s, owner);
    s.push_str(",\"asked_at\":");
    match at {
        Some(at) => json_str(s, &at.to_string()),
        None => s.push_str("null"),
    }
    s.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(owner: &str, lock: &str, held_by: &str) -> TaskWait {
        TaskWait {
            owner: owner.into(),
            lock: lock.into(),
            asked_at: None,
            waited: Duration::from_millis(300),
            holds: Vec::new(),
            held_by: vec![(held_by.into(), None)],
            queued_behind: None,
        }
    }

    /// A two-task deadlock is a `deadlock` record whose cycle names both
    /// tasks and both locks, in the order of the waits.
    #[test]
    fn a_deadlock_is_a_deadlock_line_with_its_cycle() {
        let r = TaskDeadlock {
            cycle: vec![
                wait("task 7", "AsyncMutex `a`", "task 5"),
                wait("task 5", "AsyncMutex `b`", "task 7"),
            ],
            deadlock: true,
            backtraces: Err("none".into()),
        };
        let line = r.json_at(SystemTime::now());
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("{\"lockgraph_watchdog\":1,\"kind\":\"deadlock\",\"pid\":"),
            "{line}"
        );
        assert!(
            line.contains(
                "\"cycle\":\"task 7 -> AsyncMutex `a` -> task 5 -> AsyncMutex `b` -> task 7\""
            ),
            "{line}"
        );
        assert!(
            line.contains("DEADLOCK: 2 tasks or threads wait for each other on AsyncMutex `a` and AsyncMutex `b`"),
            "{line}"
        );
        assert!(line.contains("\"threads\":[],\"order\":null,\"tasks\":[{\"owner\":\"task 7\",\"waits\":{\"lock\":\"AsyncMutex `a`\",\"asked_at\":null,\"waited_ms\":300},\"holds\":[],\"held_by\":[{\"owner\":\"task 5\",\"taken_at\":null}],\"queued_behind\":null}"), "{line}");
    }

    /// A read queued behind a write names that writer in its entry.
    #[test]
    fn a_queued_read_names_the_writer_ahead() {
        let mut read = wait("task 3", "AsyncRwLock `l` (read)", "task 4");
        read.queued_behind = Some(("task 5".into(), None));
        let r = TaskDeadlock {
            cycle: vec![read],
            deadlock: false,
            backtraces: Err("none".into()),
        };
        let line = r.json_at(SystemTime::now());
        assert!(
            line.contains("\"held_by\":[{\"owner\":\"task 4\",\"taken_at\":null}],\"queued_behind\":{\"owner\":\"task 5\",\"asked_at\":null}}"),
            "{line}"
        );
    }

    /// A long wait has no cycle, and its summary names the owner, the
    /// lock and the wait.
    #[test]
    fn a_long_wait_is_a_long_wait_line() {
        let r = TaskDeadlock {
            cycle: vec![wait("task 3", "AsyncMutex `m`", "task 4")],
            deadlock: false,
            backtraces: Err("none".into()),
        };
        let line = r.json_at(SystemTime::now());
        assert!(line.contains("\"kind\":\"long_wait\""), "{line}");
        assert!(line.contains("\"cycle\":null"), "{line}");
        assert!(
            line.contains("LONG WAIT: task 3 has waited 300.000ms for AsyncMutex `m`"),
            "{line}"
        );
    }
}
