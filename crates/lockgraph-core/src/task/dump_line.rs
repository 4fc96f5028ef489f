//! The task watchdog's reports in the dump directory (`LOCKGRAPH_DUMP_DIR`,
//! `watchdog::Config::dump_dir`): each DEADLOCK and long-wait report is a
//! JSON line of this process's file, beside the thread watchdog's, so that
//! `lockgraph hang` counts and shows async deadlocks too. The line is in
//! the schema of docs/watchdog-report.schema.json: `threads` is empty and
//! `order` null, and the waits are in `tasks`, the schema's extension for
//! the task watchdog (each owner's wait, holds and the lock's holders).

use std::fmt::Write as _;

use super::watch::{TaskDeadlock, TaskWait};
use crate::record::json_str;
use crate::watchdog::{json_async_wait, json_holds, json_queue, json_taken};

/// Writes `r` to the dump directory in force, if there is one.
pub(super) fn write(r: &TaskDeadlock) {
    crate::watchdog::append_report(|| r.to_json());
}

impl TaskDeadlock {
    /// The report as one JSON object (a line of the dump directory's
    /// file): its `summary` and `advice` are the text's first and last
    /// lines (before the end marker), made by the same functions.
    pub(super) fn to_json(&self) -> String {
        let (at, since) = (self.reported_at, self.since());
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
        json_str(&mut s, &self.headline());
        s.push_str(",\"advice\":");
        json_str(&mut s, &self.advice());
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

/// `{"owner", "waits": {"lock", "asked_at", "waited_ms"}, "capacity",
/// "queue", "holds": [{"lock", "hold", "taken_at"}], "held_by": [{"owner",
/// "taken_at"}], "queued_behind": {"owner", "asked_at"} or null}`: the
/// dump's task entry, with the size of what it waits for and a queue's
/// live ends where known (null otherwise), the holders of the lock waited
/// for and, for a read of a tokio `RwLock` behind a queued write, that
/// writer.
fn json_wait(s: &mut String, w: &TaskWait) {
    s.push_str("{\"owner\":");
    json_str(s, &w.owner);
    s.push_str(",\"waits\":");
    json_async_wait(s, &w.lock, &w.asked_at, w.waited);
    s.push_str(",\"capacity\":");
    match w.capacity {
        Some(c) => {
            let _ = write!(s, "{c}");
        }
        None => s.push_str("null"),
    }
    s.push_str(",\"queue\":");
    json_queue(s, w.queue.as_ref());
    s.push_str(",\"holds\":");
    json_holds(s, &w.holds, w.hold_modes.iter().copied());
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
    use crate::task::words::tests::{report, wait};

    /// A two-task deadlock is a `deadlock` record whose cycle names both
    /// tasks and both locks, in the order of the waits, and whose summary
    /// and advice are the text's first line and its last before the end
    /// marker.
    #[test]
    fn a_deadlock_is_a_deadlock_line_with_its_cycle() {
        let r = report(
            true,
            vec![
                wait("task 7", ("a", 1), &[("b", 2)], "task 5"),
                wait("task 5", ("b", 2), &[("a", 1)], "task 7"),
            ],
        );
        let line = r.to_json();
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
        assert!(line.contains("\"threads\":[],\"order\":null,\"tasks\":[{\"owner\":\"task 7\",\"waits\":{\"lock\":\"AsyncMutex `a`\",\"asked_at\":\"src/app.rs:10:9\",\"waited_ms\":300},\"capacity\":null,\"queue\":null,\"holds\":[{\"lock\":\"AsyncMutex `b`\",\"hold\":\"exclusive\",\"taken_at\":\"src/app.rs:9:9\"}],\"held_by\":[{\"owner\":\"task 5\",\"taken_at\":null}],\"queued_behind\":null}"), "{line}");
        let text = r.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let field = |name: &str, value: &str| {
            let mut f = format!("\"{name}\":");
            json_str(&mut f, value);
            f
        };
        assert!(line.contains(&field("summary", lines[0])), "{line}");
        let advice = lines[lines.len() - 2];
        assert!(advice.starts_with("what to do: "), "{text}");
        assert!(line.contains(&field("advice", advice)), "{line}");
        assert!(line.contains(&field("text", &text)), "{line}");
        let at = crate::watchdog::unix_ms(r.reported_at);
        assert!(
            line.contains(&format!(
                "\"reported_at_unix_ms\":{at},\"since_unix_ms\":{}",
                at - 300
            )),
            "{line}"
        );
    }

    /// A read queued behind a write names that writer in its entry.
    #[test]
    fn a_queued_read_names_the_writer_ahead() {
        let mut read = wait("task 3", ("l", 1), &[], "task 4");
        read.lock.push_str(" (read)");
        read.queued_behind = Some(("task 5".into(), None));
        let line = report(false, vec![read]).to_json();
        assert!(
            line.contains("\"held_by\":[{\"owner\":\"task 4\",\"taken_at\":null}],\"queued_behind\":{\"owner\":\"task 5\",\"asked_at\":null}}"),
            "{line}"
        );
    }

    /// A receive from a tokio queue: its bound as `capacity` and its live
    /// ends as `queue`, as the thread watchdog's waits have them.
    #[test]
    fn a_queue_wait_has_its_capacity_and_live_ends() {
        let mut recv = wait("task 3", ("q", 1), &[], "task 4");
        recv.mode = Some(crate::watchdog::WaitMode::Recv);
        recv.capacity = Some(8);
        recv.queue = Some(crate::watchdog::QueueState::new(Some(8), 2, true));
        let line = report(false, vec![recv]).to_json();
        assert!(
            line.contains("\"waited_ms\":300},\"capacity\":8,\"queue\":{\"bound\":8,\"senders\":2,\"receiver_alive\":true},\"holds\":[]"),
            "{line}"
        );
    }

    /// A long wait has no cycle, and its summary names the owner, the
    /// lock and the wait.
    #[test]
    fn a_long_wait_is_a_long_wait_line() {
        let line = report(false, vec![wait("task 3", ("m", 1), &[], "task 4")]).to_json();
        assert!(line.contains("\"kind\":\"long_wait\""), "{line}");
        assert!(line.contains("\"cycle\":null"), "{line}");
        assert!(
            line.contains("LONG WAIT: task 3 has waited 300.000ms for AsyncMutex `m`"),
            "{line}"
        );
    }
}
