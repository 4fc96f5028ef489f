//! The watchdog for tasks: async waits registered, and a scan (on a thread
//! of its own, at the watchdog's period) that finds tasks waiting longer
//! than the watchdog's timeout and wait-for cycles between owners (tasks,
//! and threads waiting for async locks with `blocking_lock`). A task
//! deadlock blocks no thread, so the thread watchdog never sees it.
//!
//! On when the watchdog is on (`LOCKGRAPH_WATCHDOG`, `watchdog::start`);
//! the timeout, period and action are the watchdog's.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::names::task_label;
use super::sets::{self, Owner};
use crate::class::{Class, LockKind, Site};
use crate::meta::LockMeta;
use crate::report::Request;

/// One registered async wait.
#[derive(Clone)]
struct Wait {
    owner: Owner,
    lock: u64,
    kind: LockKind,
    class: Class,
    request: Request,
    site: Option<&'static Location<'static>>,
    since: Instant,
}

/// Names of the threads that registered waits (for reports).
fn thread_names() -> &'static Mutex<HashMap<u64, String>> {
    static NAMES: LazyLock<Mutex<HashMap<u64, String>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    &NAMES
}

static WAITS: LazyLock<Mutex<HashMap<u64, Wait>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
static NEXT_WAIT: AtomicU64 = AtomicU64::new(1);
static SCANNING: AtomicBool = AtomicBool::new(false);

/// A registered async wait; dropping it (the acquisition finished, or its
/// future was dropped) ends the registration.
#[derive(Debug)]
pub struct AsyncWait(u64);

impl Drop for AsyncWait {
    fn drop(&mut self) {
        WAITS.lock().remove(&self.0);
    }
}

/// Registers that the current task (else thread) waits for `meta`, asked
/// as `request` at `site`, when the watchdog is on.
pub fn wait_begins(
    meta: &LockMeta,
    request: Request,
    site: Option<&'static Location<'static>>,
) -> Option<AsyncWait> {
    if !crate::watchdog::on() {
        return None;
    }
    crate::watchdog::ensure_running();
    start_scanning();
    let n = NEXT_WAIT.fetch_add(1, Ordering::Relaxed);
    let owner = sets::current_owner();
    if let Owner::Thread(t) = owner {
        thread_names()
            .lock()
            .entry(t)
            .or_insert_with(crate::sync::thread_name);
    }
    WAITS.lock().insert(
        n,
        Wait {
            owner,
            lock: meta.id(),
            kind: meta.kind(),
            class: meta.class(),
            request,
            site,
            since: Instant::now(),
        },
    );
    Some(AsyncWait(n))
}

fn start_scanning() {
    if SCANNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("lockgraph-task-watchdog".into())
        .spawn(|| {
            let mut scan = Scan::default();
            loop {
                let c = crate::watchdog::config();
                std::thread::sleep(c.scan_period);
                scan.once(c.timeout);
            }
        });
    if spawned.is_err() {
        SCANNING.store(false, Ordering::Release);
    }
}

/// What earlier scans reported (each wait and each cycle once).
#[derive(Default)]
struct Scan {
    long: HashSet<u64>,
    cycles: HashSet<Vec<u64>>,
}

impl Scan {
    fn once(&mut self, timeout: Duration) {
        let waits: Vec<(u64, Wait)> = WAITS.lock().iter().map(|(k, w)| (*k, w.clone())).collect();
        self.long.retain(|k| waits.iter().any(|(n, _)| n == k));
        if waits.is_empty() {
            return;
        }
        let holds = sets::all_holds();
        let now = Instant::now();
        let old: Vec<&(u64, Wait)> = waits
            .iter()
            .filter(|(_, w)| now.duration_since(w.since) >= timeout)
            .collect();
        // owner -> the owners holding what it waits for.
        let holders_of = |lock: u64| -> Vec<(Owner, Option<&'static Location<'static>>)> {
            holds
                .iter()
                .filter(|(_, id, _)| *id == lock)
                .map(|(o, _, s)| (*o, *s))
                .collect()
        };
        let waiting: HashMap<Owner, &Wait> = old.iter().map(|(_, w)| (w.owner, w)).collect();
        let labels: HashMap<u64, String> =
            waits.iter().map(|(_, w)| (w.lock, lock_name(w))).collect();
        for (_, w) in &old {
            if let Some(cycle) = find_cycle(w.owner, &waiting, &holders_of) {
                let mut key: Vec<u64> = cycle.iter().map(|w| w.lock ^ owner_key(w.owner)).collect();
                key.sort_unstable();
                if self.cycles.insert(key) {
                    let report = TaskDeadlock {
                        cycle: cycle
                            .iter()
                            .map(|w| describe(w, &holders_of, &holds, &labels, now))
                            .collect(),
                        deadlock: true,
                    };
                    emit(report);
                }
            }
        }
        for (n, w) in &old {
            if self.long.insert(*n) {
                let in_cycle = find_cycle(w.owner, &waiting, &holders_of).is_some();
                if !in_cycle {
                    emit(TaskDeadlock {
                        cycle: vec![describe(w, &holders_of, &holds, &labels, now)],
                        deadlock: false,
                    });
                }
            }
        }
    }
}

fn owner_key(o: Owner) -> u64 {
    match o {
        Owner::Task(id) => id,
        Owner::Thread(n) => n | 1 << 63,
    }
}

/// A wait-for cycle through `start`: each owner waits for a lock held by
/// the next.
fn find_cycle<'a>(
    start: Owner,
    waiting: &HashMap<Owner, &'a Wait>,
    holders_of: &dyn Fn(u64) -> Vec<(Owner, Option<&'static Location<'static>>)>,
) -> Option<Vec<&'a Wait>> {
    // Depth-first over "waits for a lock held by", small graphs.
    fn dfs<'a>(
        at: Owner,
        start: Owner,
        waiting: &HashMap<Owner, &'a Wait>,
        holders_of: &dyn Fn(u64) -> Vec<(Owner, Option<&'static Location<'static>>)>,
        path: &mut Vec<&'a Wait>,
        seen: &mut HashSet<Owner>,
    ) -> bool {
        let Some(w) = waiting.get(&at) else {
            return false;
        };
        path.push(w);
        for (h, _) in holders_of(w.lock) {
            if h == start {
                return true;
            }
            if seen.insert(h) && dfs(h, start, waiting, holders_of, path, seen) {
                return true;
            }
        }
        path.pop();
        false
    }
    let mut path = Vec::new();
    let mut seen = HashSet::from([start]);
    dfs(start, start, waiting, holders_of, &mut path, &mut seen).then_some(path)
}

/// One owner's side of a report.
#[derive(Clone, Debug)]
pub struct TaskWait {
    /// The task (id, name, spawn site) or thread.
    pub owner: String,
    /// The lock waited for: its kind and label.
    pub lock: String,
    /// Where it asked.
    pub asked_at: Option<Site>,
    /// How long it has waited.
    pub waited: Duration,
    /// What it holds (the lock, by label when some wait of this scan
    /// names it, else by id; where taken).
    pub holds: Vec<(String, Option<Site>)>,
    /// Who holds the lock it waits for, and where they took it.
    pub held_by: Vec<(String, Option<Site>)>,
}

/// The task watchdog's report: a wait-for cycle between tasks (and
/// threads waiting on async locks), or one task waiting too long.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskDeadlock {
    /// The waits of the cycle, in order (one wait when not a deadlock).
    pub cycle: Vec<TaskWait>,
    /// A cycle (each waits for the next): it never resolves.
    pub deadlock: bool,
}

fn owner_label(o: Owner) -> String {
    match o {
        Owner::Task(id) => task_label(id),
        Owner::Thread(n) => match thread_names().lock().get(&n) {
            Some(name) => format!("thread \"{name}\" (outside any task)"),
            None => format!("thread #{n} (outside any task)"),
        },
    }
}

fn lock_label(w: &Wait) -> String {
    let how = match w.request {
        Request::Exclusive => "",
        Request::Read | Request::RecursiveRead => " (read)",
    };
    format!("{}{how}", lock_name(w))
}

/// The lock of `w`: its kind, name (or creation site) and id.
fn lock_name(w: &Wait) -> String {
    let l = match w.class {
        Class::Named(n) => format!("`{n}`"),
        Class::Site(loc, _) => format!("created at {loc}"),
        Class::Anonymous => format!("#{}", w.lock),
    };
    format!("{} {l} (#{})", w.kind.name(), w.lock)
}

fn describe(
    w: &Wait,
    holders_of: &dyn Fn(u64) -> Vec<(Owner, Option<&'static Location<'static>>)>,
    holds: &[(Owner, u64, Option<&'static Location<'static>>)],
    labels: &HashMap<u64, String>,
    now: Instant,
) -> TaskWait {
    TaskWait {
        owner: owner_label(w.owner),
        lock: lock_label(w),
        asked_at: w.site.map(Site::from),
        waited: now.duration_since(w.since),
        holds: holds
            .iter()
            .filter(|(o, _, _)| *o == w.owner)
            .map(|(_, id, s)| {
                let l = labels
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("lock #{id}"));
                (l, s.map(Site::from))
            })
            .collect(),
        held_by: holders_of(w.lock)
            .into_iter()
            .map(|(o, s)| (owner_label(o), s.map(Site::from)))
            .collect(),
    }
}

impl fmt::Display for TaskDeadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.deadlock {
            writeln!(
                f,
                "lockgraph task watchdog: DEADLOCK between {} tasks/threads (a wait-for cycle of async locks)",
                self.cycle.len()
            )?;
        } else {
            writeln!(
                f,
                "lockgraph task watchdog: a task waits longer than the timeout"
            )?;
        }
        for w in &self.cycle {
            writeln!(f, "  `{}`", w.owner)?;
            match &w.asked_at {
                Some(s) => writeln!(
                    f,
                    "    waits {:.1?} for {} (asked at {s})",
                    w.waited, w.lock
                )?,
                None => writeln!(f, "    waits {:.1?} for {}", w.waited, w.lock)?,
            }
            for (l, s) in &w.holds {
                match s {
                    Some(s) => writeln!(f, "    holds {l} (taken at {s})")?,
                    None => writeln!(f, "    holds {l}")?,
                }
            }
            if w.held_by.is_empty() {
                writeln!(
                    f,
                    "    the lock it waits for is held by no tracked task or thread"
                )?;
            }
            for (o, s) in &w.held_by {
                match s {
                    Some(s) => writeln!(f, "    held by `{o}` (taken at {s})")?,
                    None => writeln!(f, "    held by `{o}`")?,
                }
            }
        }
        if self.deadlock {
            writeln!(
                f,
                "  what to do: break the cycle: one of these tasks must release what it holds before it \
                 waits (take the locks in one order everywhere; docs/async.md)"
            )?;
        } else {
            writeln!(
                f,
                "  what to do: look at what the holder above does while it holds the lock (a long \
                 await under it, or a wait of its own)"
            )?;
        }
        write!(
            f,
            "  async backtraces: not available (lockgraph does not take tokio's task dumps; \
             they need tokio built with --cfg tokio_unstable and its taskdump feature, on Linux)"
        )
    }
}

impl crate::policy::Report for TaskDeadlock {
    /// The watchdog's action, not the lock-order policy (as the thread
    /// watchdog's reports).
    fn disposal(&self, _policy: crate::policy::OnCycle) -> crate::policy::Disposal {
        match crate::watchdog::config().action {
            crate::watchdog::Action::Abort => {
                crate::policy::Disposal::Abort("watchdog action abort")
            }
            _ => crate::policy::Disposal::Deliver,
        }
    }
}

fn emit(r: TaskDeadlock) {
    crate::policy::emit(r);
}
