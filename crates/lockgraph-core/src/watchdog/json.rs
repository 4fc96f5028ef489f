//! The reports as JSON (the files of the dump directory).

use super::*;

pub(super) fn json_opt(s: &mut String, v: Option<&str>) {
    match v {
        Some(v) => crate::record::json_str(s, v),
        None => s.push_str("null"),
    }
}

pub(super) fn json_lock(s: &mut String, l: &LockRef) {
    s.push_str("{\"label\":");
    crate::record::json_str(s, &l.to_string());
    let _ = write!(
        s,
        ",\"kind\":\"{}\",\"id\":{},\"name\":",
        l.kind.name(),
        l.id
    );
    json_opt(s, l.name);
    s.push_str(",\"created\":");
    json_opt(s, l.created.map(|c| c.to_string()).as_deref());
    let _ = write!(s, ",\"resource\":{}}}", l.resource);
}

/// A count, or `null`.
fn json_count(s: &mut String, n: Option<usize>) {
    match n {
        Some(n) => {
            let _ = write!(s, "{n}");
        }
        None => s.push_str("null"),
    }
}

/// `d` in whole milliseconds, rounded to the nearest as the text rounds
/// (a limit of 149.99 ms reads `150.0ms` there: 150 here, not 149).
pub(super) fn ms(d: Duration) -> u128 {
    (d.as_nanos() + 500_000) / 1_000_000
}

pub(super) fn json_thread(s: &mut String, t: &ThreadInfo) {
    s.push_str("{\"name\":");
    crate::record::json_str(s, &t.name);
    let _ = write!(s, ",\"tid\":{},\"spans\":[", t.tid);
    for (i, sp) in t.spans.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        crate::record::json_str(s, sp);
    }
    s.push_str("],\"waiting\":");
    match &t.waiting {
        None => s.push_str("null"),
        Some(w) => {
            s.push_str("{\"lock\":");
            json_lock(s, &w.lock);
            s.push_str(",\"request\":");
            json_opt(s, w.mode.map(WaitMode::name));
            s.push_str(",\"limit_ms\":");
            match w.limit {
                Some(l) => {
                    let _ = write!(s, "{}", ms(l));
                }
                None => s.push_str("null"),
            }
            s.push_str(",\"site\":");
            json_opt(s, w.site.map(|c| c.to_string()).as_deref());
            for (key, d) in [
                ("retrying_ms", w.retrying),
                ("try_ms", w.this_try),
                ("between_tries_ms", w.between_tries),
            ] {
                let _ = write!(s, ",\"{key}\":");
                match d {
                    Some(d) => {
                        let _ = write!(s, "{}", ms(d));
                    }
                    None => s.push_str("null"),
                }
            }
            let _ = write!(s, ",\"waited_ms\":{},\"stack\":[", ms(w.waited));
            for (i, fr) in w.stack.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                crate::record::json_str(s, fr);
            }
            s.push(']');
            let reason = (w.stack_unresolved)
                .then(|| crate::report::DebugInfo::of_this_binary().no_frames_reason())
                .flatten();
            if let Some(why) = reason {
                s.push_str(",\"stack_reason\":");
                crate::record::json_str(s, why);
            }
            s.push_str(",\"queue\":");
            json_queue(s, w.queue.as_ref());
            let _ = write!(s, ",\"no_consumer\":{},\"blocked_peers\":[", w.no_consumer);
            for (i, p) in w.blocked_peers.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str("{\"thread\":");
                crate::record::json_str(s, &p.thread);
                s.push_str(",\"waits_for\":");
                crate::record::json_str(s, &p.waits_for);
                let _ = write!(s, ",\"deadlocked\":{}}}", p.deadlocked);
            }
            s.push_str("],\"notes\":[");
            for (i, l) in w.note_lines().iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                crate::record::json_str(s, l);
            }
            s.push_str("],\"capacity\":");
            json_count(s, w.capacity);
            s.push_str(",\"waiting_now\":");
            json_count(s, w.waiting_now);
            for (key, names) in [
                ("exited_parties", &w.exited_parties),
                ("waiting_parties", &w.waiting_parties),
            ] {
                let _ = write!(s, ",\"{key}\":[");
                for (i, p) in names.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    crate::record::json_str(s, p);
                }
                s.push(']');
            }
            s.push_str(",\"left_held_by\":");
            match &w.left_by {
                None => s.push_str("null"),
                Some(l) => {
                    s.push_str("{\"thread\":");
                    crate::record::json_str(s, &l.thread);
                    let _ = write!(
                        s,
                        ",\"tid\":{},\"exited_at_unix_ms\":{},\"site\":",
                        l.tid,
                        unix_ms(l.exited_at)
                    );
                    json_opt(s, l.site.map(|c| c.to_string()).as_deref());
                    s.push('}');
                }
            }
            s.push('}');
        }
    }
    s.push_str(",\"held\":[");
    for (i, h) in t.held.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"lock\":");
        json_lock(s, &h.lock);
        let _ = write!(s, ",\"hold\":\"{}\",\"site\":", hold_name(h));
        json_opt(s, h.site.map(|c| c.to_string()).as_deref());
        let _ = write!(s, ",\"held_ms\":{}}}", ms(h.held_for));
    }
    s.push_str("],\"now\":");
    json_now(s, t.now.as_ref());
    s.push_str(",\"stack_now\":");
    match &t.stack_now {
        None => s.push_str("null"),
        Some(StackNow::Captured { frames, truncated }) => {
            s.push_str("{\"source\":\"stack\",\"frames\":[");
            for (i, fr) in frames.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                crate::record::json_str(s, fr);
            }
            let _ = write!(s, "],\"truncated\":{truncated}");
            let reason = frames
                .is_empty()
                .then(|| crate::report::DebugInfo::of_this_binary().no_frames_reason())
                .flatten();
            if let Some(why) = reason {
                s.push_str(",\"reason\":");
                crate::record::json_str(s, why);
            }
            s.push('}');
        }
        Some(StackNow::Unavailable(why)) => {
            s.push_str("{\"source\":\"proc\",\"reason\":");
            crate::record::json_str(s, why);
            s.push('}');
        }
    }
    s.push('}');
}

impl WatchdogReport {
    /// The report as one JSON object (the format of the files in the dump dir).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"lockgraph_watchdog\":1,\"kind\":");
        crate::record::json_str(
            &mut s,
            match self.kind {
                WatchdogKind::Deadlock => "deadlock",
                WatchdogKind::LongWait => "long_wait",
            },
        );
        let _ = write!(s, ",\"pid\":{},\"summary\":", self.pid);
        crate::record::json_str(&mut s, &self.headline());
        s.push_str(",\"advice\":");
        crate::record::json_str(&mut s, &self.advice());
        let _ = write!(
            s,
            ",\"action\":\"{}\",\"reported_at_unix_ms\":{},\"since_unix_ms\":{},\"cycle\":",
            match self.action {
                Action::Abort => "abort",
                Action::Report => "report",
            },
            unix_ms(self.reported_at),
            unix_ms(self.since())
        );
        json_opt(&mut s, self.cycle.as_deref());
        let _ = write!(s, ",\"other_waiters\":{}", self.other_waiters);
        s.push_str(",\"threads\":[");
        for (i, t) in self.threads.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_thread(&mut s, t);
        }
        s.push_str("],\"also_deadlocked\":[");
        for (i, t) in self.also_deadlocked.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_thread(&mut s, t);
        }
        s.push_str("],\"order\":");
        match &self.order {
            None => s.push_str("null"),
            Some(o) => {
                let _ = write!(
                    s,
                    "{{\"graph_on\":{},\"found\":{},\"reported\":{},\"edges\":[",
                    o.graph_on, o.found, o.reported
                );
                for (i, st) in o.steps.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str("{\"from\":");
                    json_lock(&mut s, &st.from);
                    s.push_str(",\"to\":");
                    json_lock(&mut s, &st.to);
                    s.push_str(",\"first\":");
                    match &st.first {
                        None => s.push_str("null"),
                        Some(o) => {
                            s.push_str("{\"thread\":");
                            crate::record::json_str(&mut s, &o.thread);
                            s.push_str(",\"held_at\":");
                            json_opt(&mut s, o.held_at.map(|x| x.to_string()).as_deref());
                            s.push_str(",\"requested_at\":");
                            json_opt(&mut s, o.requested_at.map(|x| x.to_string()).as_deref());
                            s.push_str(",\"stack\":[");
                            for (k, fr) in o.stack.iter().enumerate() {
                                if k > 0 {
                                    s.push(',');
                                }
                                crate::record::json_str(&mut s, fr);
                            }
                            s.push_str("]}");
                        }
                    }
                    s.push('}');
                }
                s.push_str("]}");
            }
        }
        s.push_str(",\"text\":");
        crate::record::json_str(&mut s, &self.to_string());
        s.push_str("}\n");
        s
    }
}

/// What the kernel says a thread does, as JSON (`null` when not known).
fn json_now(s: &mut String, now: Option<&ProcState>) {
    match now {
        None => s.push_str("null"),
        Some(p) => {
            s.push_str("{\"description\":");
            crate::record::json_str(s, &p.describe());
            s.push_str(",\"syscall_name\":");
            json_opt(s, p.syscall_name().as_deref());
            s.push_str(",\"state\":");
            crate::record::json_str(s, &p.state);
            s.push_str(",\"wchan\":");
            crate::record::json_str(s, &p.wchan);
            // The arguments only when asked for (LOCKGRAPH_WATCHDOG_VERBOSE).
            s.push_str(",\"syscall\":");
            json_opt(s, verbose().then_some(p.syscall.as_str()));
            s.push('}');
        }
    }
}

impl Dump {
    /// The dump as one JSON object (a line of the dump directory's file, and
    /// what `lockgraph dump --pid` reads).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"lockgraph_watchdog\":1,\"kind\":\"dump\"");
        let _ = write!(
            s,
            ",\"pid\":{},\"at_unix_ms\":{},\"watching\":{},\"progress\":[",
            self.pid,
            unix_ms(self.taken_at),
            self.watching
        );
        for (i, (name, value)) in self.progress.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            crate::record::json_str(&mut s, name);
            let _ = write!(s, ",\"value\":{value}}}");
        }
        s.push_str("],\"threads\":[");
        for (i, t) in self.threads.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_thread(&mut s, t);
        }
        s.push_str("],\"tasks\":[");
        for (i, t) in self.tasks.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_task(&mut s, t);
        }
        s.push_str("],\"other_threads\":[");
        for (i, t) in self.others.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{{\"tid\":{},\"name\":", t.tid);
            crate::record::json_str(&mut s, &t.name);
            s.push_str(",\"now\":");
            json_now(&mut s, t.now.as_ref());
            s.push('}');
        }
        let _ = write!(s, "],\"other_threads_left_out\":{}", self.others_left_out);
        s.push_str(",\"deadlocks\":[");
        for (i, d) in self.deadlocks.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"cycle\":");
            crate::record::json_str(&mut s, &d.cycle);
            let _ = write!(
                s,
                ",\"threads\":{},\"timed\":{},\"advice\":",
                d.threads, d.timed
            );
            crate::record::json_str(&mut s, &d.advice);
            s.push('}');
        }
        s.push_str("],\"text\":");
        crate::record::json_str(&mut s, &self.to_string());
        s.push_str("}\n");
        s
    }
}

/// A task's (or thread's) async locks in a dump: `{"owner", "holds":
/// [{"lock", "taken_at"}], "waits": {"lock", "asked_at", "waited_ms"} or
/// null}`.
fn json_task(s: &mut String, t: &TaskInfo) {
    s.push_str("{\"owner\":");
    crate::record::json_str(s, &t.owner);
    s.push_str(",\"holds\":");
    json_holds(s, &t.holds, t.hold_modes.iter().map(|&(_, h)| h));
    s.push_str(",\"waits\":");
    match &t.waits {
        None => s.push_str("null"),
        Some((lock, site, waited)) => json_async_wait(s, lock, site, *waited),
    }
    s.push('}');
}

/// `[{"lock", "hold", "taken_at"}]`: a task's (or thread's) holds, each
/// with its mode (`hold`, as the thread watchdog's `held[].hold`; left out
/// where `modes` has none) and where it was taken.
pub(crate) fn json_holds(
    s: &mut String,
    holds: &[(String, Option<Site>)],
    mut modes: impl Iterator<Item = Hold>,
) {
    s.push('[');
    for (i, (lock, site)) in holds.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"lock\":");
        crate::record::json_str(s, lock);
        if let Some(h) = modes.next() {
            let _ = write!(s, ",\"hold\":\"{}\"", hold_mode_name(h));
        }
        s.push_str(",\"taken_at\":");
        json_opt(s, site.as_ref().map(|x| x.to_string()).as_deref());
        s.push('}');
    }
    s.push(']');
}

/// `[{"<key>", "taken_at"}]`: async holds (`key` "lock"), or a lock's
/// holders (`key` "owner"), each with where it was taken.
pub(crate) fn json_taken(s: &mut String, key: &str, items: &[(String, Option<Site>)]) {
    s.push('[');
    for (i, (what, site)) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{{\"{key}\":");
        crate::record::json_str(s, what);
        s.push_str(",\"taken_at\":");
        json_opt(s, site.as_ref().map(|x| x.to_string()).as_deref());
        s.push('}');
    }
    s.push(']');
}

/// `{"lock", "asked_at", "waited_ms"}`: an async wait.
/// `{"bound", "senders", "receiver_alive"}` of a queue's state, or
/// `null`: a wait's `queue` (the thread watchdog's and the task
/// watchdog's).
pub(crate) fn json_queue(s: &mut String, q: Option<&QueueState>) {
    let Some(q) = q else {
        s.push_str("null");
        return;
    };
    s.push_str("{\"bound\":");
    match q.bound {
        Some(b) => {
            let _ = write!(s, "{b}");
        }
        None => s.push_str("null"),
    }
    let _ = write!(
        s,
        ",\"senders\":{},\"receiver_alive\":{}}}",
        q.senders, q.receiver_alive
    );
}

pub(crate) fn json_async_wait(s: &mut String, lock: &str, site: &Option<Site>, waited: Duration) {
    s.push_str("{\"lock\":");
    crate::record::json_str(s, lock);
    s.push_str(",\"asked_at\":");
    json_opt(s, site.as_ref().map(|x| x.to_string()).as_deref());
    let _ = write!(s, ",\"waited_ms\":{}}}", waited.as_millis());
}
