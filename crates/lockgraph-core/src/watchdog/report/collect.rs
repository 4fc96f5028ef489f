//! A report's parts made from what the watchdog copied of a thread (its
//! [`Snap`]): the thread's waits and holds, its state from the kernel's
//! `/proc` files, its current stack; and what the lock-order graph knew of
//! a deadlock's cycle.

use super::*;

impl OrderContext {
    /// The context of the lock cycle `locks[0] -> locks[1] -> ... -> locks[0]`.
    pub(in crate::watchdog) fn of(locks: &[(u64, Class, LockKind)]) -> OrderContext {
        let keys: Vec<(u64, Class)> = locks.iter().map(|&(id, c, _)| (id, c)).collect();
        let graph_on = crate::order::order_graph();
        let known = crate::global::order_context(&keys);
        let (firsts, found, closed_by) = (known.edges, known.found, known.closed_by);
        let reported = found == Some(true);
        let found = found.is_some();
        let n = locks.len();
        let steps = firsts
            .into_iter()
            .enumerate()
            .map(|(i, first)| {
                let (a, b) = (locks[i], locks[(i + 1) % n]);
                OrderStep {
                    from: LockRef::of(a.0, a.1, a.2),
                    to: LockRef::of(b.0, b.1, b.2),
                    first,
                }
            })
            .collect();
        OrderContext {
            steps,
            found,
            reported,
            graph_on,
            closed_by,
            off_cause: (!graph_on).then(crate::order::off_cause),
        }
    }
}

fn ago(since: u64, now: u64) -> Duration {
    Duration::from_nanos(now.saturating_sub(since))
}

pub(in crate::watchdog) fn proc_state(tid: u64) -> Option<ProcState> {
    if !cfg!(target_os = "linux") || tid == 0 {
        return None;
    }
    let dir = format!("/proc/self/task/{tid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    let read = |f: &str| {
        std::fs::read_to_string(format!("{dir}/{f}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("({e})"))
    };
    Some(ProcState {
        state,
        wchan: read("wchan"),
        syscall: read("syscall"),
    })
}

/// Frames shown of a holder's current stack.
const STACK_NOW_FRAMES: usize = 12;

/// Whether a report shows `s`'s current stack: it holds a lock and does not
/// wait (a waiter of a lock gives its own stack; one in a [`crate::blocking`]
/// call is in a call a signal could interrupt with `EINTR`, and its site is
/// already in the report).
fn wants_stack_now(s: &Snap) -> bool {
    !s.held.is_empty() && s.wait.is_none()
}

/// Whether `s` waits in a parking_lot park that a signal cannot disturb,
/// so that a report may take its current stack when it has none of its own:
/// a lock's wait (parking_lot waits again when a signal ends the futex
/// wait early; not a [`crate::blocking`] call, whose system call could
/// fail with `EINTR`), or a condvar's (`lockgraph::Condvar` is
/// parking_lot's). A lock wait held across a retry loop whose limit is
/// shorter than the timeout never captures its own stack (it is never
/// late), a lock wait below the timeout has not yet, and a condvar wait
/// never does (found by an outside test: a condvar report had no stack
/// for either thread).
fn parked_wait(s: &Snap) -> bool {
    let Some(w) = s.wait else {
        return false;
    };
    matches!(
        w.target,
        Target::Lock {
            kind: LockKind::Mutex
                | LockKind::FairMutex
                | LockKind::RwLock
                | LockKind::ReentrantMutex,
            ..
        } | Target::Lock {
            mode: WaitMode::Condvar,
            ..
        }
    )
}

/// `s`'s current stack: captured directly for the calling thread, by a
/// signal for another one (Linux).
fn stack_now(s: &Snap) -> StackNow {
    let tid = s.slot.tid;
    if tid != 0 && tid == os_tid() {
        return StackNow::Captured {
            frames: Backtrace::capture().user_frames(STACK_NOW_FRAMES),
            truncated: false,
        };
    }
    if !s.slot.alive.load(Ordering::Relaxed) {
        return StackNow::Unavailable("the thread has exited".into());
    }
    #[cfg(target_os = "linux")]
    {
        match remote_stack::capture(tid) {
            Ok(c) => StackNow::Captured {
                frames: crate::report::user_frames_of(&c.frames, STACK_NOW_FRAMES),
                truncated: c.truncated,
            },
            Err(why) => StackNow::Unavailable(why),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        StackNow::Unavailable("another thread's current stack is captured on Linux only".into())
    }
}

/// A thread of a report. `with_stack`: include a waiter's own stack;
/// `with_stack_now`: capture the current stack of a holder that does not
/// wait ([`wants_stack_now`]), and, with `with_stack`, of a lock or
/// condvar waiter that captured none ([`parked_wait`]).
pub(in crate::watchdog) fn thread_info(
    s: &Snap,
    now: u64,
    with_stack: bool,
    with_stack_now: bool,
) -> ThreadInfo {
    let waiting = s.wait.map(|w| {
        let (lock, mode) = match w.target {
            Target::Lock {
                id,
                class,
                kind,
                mode,
            } => (LockRef::of(id, class, kind), Some(mode)),
            Target::Resource(what) => (
                LockRef {
                    kind: LockKind::Other,
                    id: 0,
                    name: Some(what),
                    created: None,
                    resource: true,
                },
                None,
            ),
        };
        let captured = if with_stack {
            stack_of(&s.slot, w.serial)
        } else {
            None
        };
        let stack = captured
            .as_ref()
            .map_or_else(Vec::new, |bt| bt.user_frames(12));
        let stack_unresolved = captured.is_some() && stack.is_empty();
        let queue = match w.target {
            Target::Lock {
                id,
                kind: LockKind::Queue,
                mode: WaitMode::Send | WaitMode::Recv,
                ..
            } => queue_state(id),
            _ => None,
        };
        // When the retry loop the wait is a try of began: its first try
        // (`None` for a first try or an untimed wait); the loop's last try
        // for a thread found between two tries, the first one included.
        let retry_began = w
            .limit
            .and_then(|_| (s.slot.streak.lock()).began(w.serial, w.since, w.gave_up_at.is_some()));
        WaitInfo {
            capacity: capacity_of(w.target, queue),
            waiting_now: None,
            exited_parties: Vec::new(),
            waiting_parties: Vec::new(),
            left_by: None,
            queue,
            blocked_peers: Vec::new(),
            no_consumer: false,
            stack_unresolved,
            deadlocked: false,
            lock,
            request: mode
                .filter(|&m| m != WaitMode::Condvar)
                .map(WaitMode::request),
            mode,
            limit: w.limit,
            retrying: retry_began.map(|b| ago(b, now)),
            this_try: retry_began
                .filter(|_| w.gave_up_at.is_none())
                .map(|_| ago(w.since, now)),
            between_tries: w.gave_up_at.map(|end| ago(end, now)),
            site: w.site.map(Site::from),
            // A retry loop's wait is the loop's (found by an outside test:
            // the first line said the current try's few milliseconds).
            waited: ago(retry_began.unwrap_or(w.since), now),
            stack,
        }
    });
    // Captured, even if no frame of it could be named (a stripped
    // binary): the current stack would name none either, and the waiter
    // is not signalled for it (found by an outside test).
    let own_stack = waiting
        .as_ref()
        .is_some_and(|w| !w.stack.is_empty() || w.stack_unresolved);
    ThreadInfo {
        name: s.slot.name.clone(),
        tid: s.slot.tid,
        waiting,
        held: s
            .held
            .iter()
            .map(|h| HeldInfo {
                lock: LockRef::of(h.id, h.class, h.kind),
                hold: h.hold,
                upgradable: h.upgradable,
                site: h.site.map(Site::from),
                held_for: ago(h.since, now),
            })
            .collect(),
        now: proc_state(s.slot.tid),
        stack_now: (with_stack_now
            && (wants_stack_now(s) || (with_stack && !own_stack && parked_wait(s))))
        .then(|| stack_now(s)),
        spans: spans::open_spans(s.slot.tid),
    }
}

/// The process's threads but `listed` and lockgraph's own
/// ([`Dump::others`]): at most [`OTHER_THREADS`] of them, by tid, and how
/// many more there are.
pub(in crate::watchdog) fn other_threads(listed: &[u64]) -> (Vec<OtherThread>, usize) {
    if !cfg!(target_os = "linux") {
        return (Vec::new(), 0);
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return (Vec::new(), 0);
    };
    let mut named: Vec<(u64, String)> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|t| !listed.contains(t))
        .map(|tid| {
            let name = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                .map(|n| n.trim_end().to_string())
                .unwrap_or_default();
            (tid, name)
        })
        // lockgraph's own (the watchdog, the reporter: `lockgraph-...`),
        // left out before the list is cut, so that the count of the rest
        // is right.
        .filter(|(_, name)| !name.starts_with("lockgraph-"))
        .collect();
    named.sort_unstable();
    let left_out = named.len().saturating_sub(OTHER_THREADS);
    named.truncate(OTHER_THREADS);
    let others = named
        .into_iter()
        .map(|(tid, name)| OtherThread {
            tid,
            name,
            now: proc_state(tid),
        })
        .collect();
    (others, left_out)
}
