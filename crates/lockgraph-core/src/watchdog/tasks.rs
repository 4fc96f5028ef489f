//! What the task watchdog (`crate::task`) reads of the threads' slots: each
//! thread's sync holds and sync lock wait, and whom the wait is for, so
//! that a wait-for cycle through tasks *and* threads (a task blocking its
//! worker thread on a sync lock whose holder waits for the task's async
//! lock) is found.

use super::*;

/// The threads' sync waits (thread key, wait serial) that a task
/// watchdog DEADLOCK report has covered (a task blocking its worker thread
/// in a sync lock): the thread watchdog reports no long wait of theirs,
/// which said "holds no lock" and "shorten the holder's hold" of a wait
/// the DEADLOCK above had explained (found by an outside test). Bounded:
/// emptied past [`COVERED_LIMIT`] waits.
static COVERED: std::sync::Mutex<Option<HashSet<(u64, u64)>>> = std::sync::Mutex::new(None);

/// How many covered waits [`COVERED`] keeps before it starts again.
const COVERED_LIMIT: usize = 4096;

/// Notes `waits` (thread key, wait serial) as covered by a task watchdog
/// DEADLOCK report.
pub(crate) fn cover_sync_waits(waits: impl IntoIterator<Item = (u64, u64)>) {
    let mut c = COVERED.lock().unwrap_or_else(|e| e.into_inner());
    let set = c.get_or_insert_with(HashSet::new);
    if set.len() >= COVERED_LIMIT {
        set.clear();
    }
    set.extend(waits);
}

/// Whether a task watchdog DEADLOCK report covered wait `serial` of thread
/// `key`.
pub(super) fn covered_by_task_deadlock(key: u64, serial: u64) -> bool {
    let c = COVERED.lock().unwrap_or_else(|e| e.into_inner());
    c.as_ref().is_some_and(|s| s.contains(&(key, serial)))
}

/// One thread's published state, as the task watchdog joins it with the
/// async waits and holds.
pub(crate) struct ThreadNow {
    /// The thread's key (as [`this_thread_key`] gives it to the thread).
    pub(crate) key: u64,
    pub(crate) name: String,
    /// The sync locks it holds: id, class, kind, site taken, mode.
    pub(crate) held: Vec<(
        u64,
        Class,
        LockKind,
        Option<&'static Location<'static>>,
        Hold,
    )>,
    /// Its wait for a sync lock (condvar waits, queues and other resources
    /// are not followed), if any.
    pub(crate) wait: Option<ThreadWait>,
    /// It waits for what no one known ends: a condvar, a receive, a
    /// blocking call (it does not count as a thread that can go on).
    pub(crate) parked: bool,
}

/// A thread's wait for a sync lock.
pub(crate) struct ThreadWait {
    pub(crate) lock: u64,
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    pub(crate) mode: WaitMode,
    pub(crate) site: Option<&'static Location<'static>>,
    pub(crate) waited: Duration,
    /// The wait's serial in its thread's slot: two scans see the same wait
    /// when their serials are equal.
    pub(crate) serial: u64,
    /// The keys of the threads that keep it out (the thread watchdog's
    /// rules: the holders, and the writers queued ahead of a read).
    pub(crate) held_by: Vec<u64>,
}

/// Every live thread's published state now.
pub(crate) fn threads_now() -> Vec<ThreadNow> {
    let snaps = snapshot();
    let edges = wait_for_edges(&snaps);
    let now = now_ns();
    snaps
        .iter()
        .zip(&edges)
        .map(|(s, e)| ThreadNow {
            key: s.slot.key,
            name: s.slot.name.clone(),
            held: s
                .held
                .iter()
                .map(|h| {
                    let hold = if h.upgradable {
                        Hold::Upgradable
                    } else {
                        h.hold
                    };
                    (h.id, h.class, h.kind, h.site, hold)
                })
                .collect(),
            wait: s.wait.and_then(|w| match w.target {
                t if t.unknown_waker() => None,
                Target::Lock {
                    id,
                    class,
                    kind,
                    mode,
                } => Some(ThreadWait {
                    lock: id,
                    class,
                    kind,
                    mode,
                    site: w.site,
                    waited: Duration::from_nanos(now.saturating_sub(w.since)),
                    serial: w.serial,
                    held_by: e.iter().map(|&j| snaps[j].slot.key).collect(),
                }),
                _ => None,
            }),
            parked: s.wait.is_some_and(|w| w.target.unknown_waker()),
        })
        .collect()
}

/// The calling thread's key in [`threads_now`], its slot registered if it
/// had none (the watchdog is on: the caller checked); 0 when the thread
/// is exiting.
pub(crate) fn this_thread_key() -> u64 {
    let mut key = 0;
    with_slot(|s| key = s.key);
    key
}

/// One task's (or, outside any task, one thread's) async locks in a
/// [`Dump`]: what it holds and what it waits for.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task (id, name and spawn site when it has them) or thread.
    pub owner: String,
    /// The async locks it holds: the lock (kind, name or creation site,
    /// id) and where it took it.
    pub holds: Vec<(String, Option<Site>)>,
    /// How each of [`holds`](Self::holds) is held, in its order: the
    /// lock's kind and mode (an `AsyncRwLock` read is shared, a write
    /// exclusive).
    pub hold_modes: Vec<(LockKind, Hold)>,
    /// The async lock it waits for (registered while the watchdog is on),
    /// where it asked, and for how long.
    pub waits: Option<(String, Option<Site>, Duration)>,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  {}", self.owner)?;
        if let Some((lock, site, waited)) = &self.waits {
            match site {
                Some(s) => writeln!(f, "    waits {waited:.1?} for {lock} (asked at {s})")?,
                None => writeln!(f, "    waits {waited:.1?} for {lock}")?,
            }
        }
        for (i, (lock, site)) in self.holds.iter().enumerate() {
            let mode = self.hold_modes.get(i).map(|&(k, h)| async_hold_text(k, h));
            write_hold(f, lock, mode, site.as_ref())?;
        }
        Ok(())
    }
}

/// A task's (or thread's) hold in a dump or a task watchdog report:
/// `    holds AsyncRwLock `m` (shared, taken at src/a.rs:3:5)`, its mode
/// in the thread watchdog's words.
pub(crate) fn write_hold(
    f: &mut fmt::Formatter<'_>,
    lock: &str,
    mode: Option<&str>,
    site: Option<&Site>,
) -> fmt::Result {
    match (mode, site) {
        (Some(m), Some(s)) => writeln!(f, "    holds {lock} ({m}, taken at {s})"),
        (Some(m), None) => writeln!(f, "    holds {lock} ({m})"),
        (None, Some(s)) => writeln!(f, "    holds {lock} (taken at {s})"),
        (None, None) => writeln!(f, "    holds {lock}"),
    }
}

/// How a hold is held, as the JSON's `hold` says it (the thread
/// watchdog's `held[].hold`): `exclusive`, `shared` or `upgradable read`.
pub(crate) fn hold_mode_name(hold: Hold) -> &'static str {
    match hold {
        Hold::Exclusive => "exclusive",
        Hold::Shared => "shared",
        Hold::Upgradable => "upgradable read",
    }
}

/// How a hold of a `kind` lock is held, as the text says it (the thread
/// watchdog's words): a permit, a role by what it is, else its mode
/// ([`hold_mode_name`]).
pub(crate) fn async_hold_text(kind: LockKind, hold: Hold) -> &'static str {
    match kind {
        LockKind::Semaphore | LockKind::AsyncSemaphore => "a permit",
        LockKind::Queue => "as its consumer",
        LockKind::Barrier => "as a party on its way to the next wait",
        LockKind::Thread => "running",
        _ => hold_mode_name(hold),
    }
}

/// What lists the tasks' async locks (the task layer, above this one,
/// registers it when it is first used).
static TASK_DUMP: OnceLock<fn() -> Vec<TaskInfo>> = OnceLock::new();

/// Registers `f` as the list of the tasks' async locks for dumps.
pub(crate) fn set_task_dump(f: fn() -> Vec<TaskInfo>) {
    let _ = TASK_DUMP.set(f);
}

/// Every task's (and thread's) async holds and waits, for [`dump`].
pub(super) fn task_dump() -> Vec<TaskInfo> {
    TASK_DUMP.get().map_or_else(Vec::new, |f| f())
}
