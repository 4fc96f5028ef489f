//! The watchdog for tasks: async waits registered, and a scan (on a thread
//! of its own, at the watchdog's period) that finds tasks waiting longer
//! than the watchdog's timeout and wait-for cycles between owners (tasks,
//! and threads waiting for async locks with `blocking_lock`). A task
//! deadlock blocks no thread, so the thread watchdog never sees it.
//!
//! The cycles also go through sync locks: the scan joins the async waits
//! and holds with the thread watchdog's slots (each thread's sync holds
//! and sync lock wait, `crate::watchdog::tasks`), and a task whose worker
//! thread is blocked in a sync lock the task asked for (its last sync
//! request on that thread, `threads`) waits for that lock's holders. A
//! cycle of threads and sync locks alone is the thread watchdog's.
//!
//! The scan's view of the wait-for graph (its nodes, who waits for whom,
//! the cycles, each wait described for a report) is `view.rs`.
//!
//! On when the watchdog is on (`LOCKGRAPH_WATCHDOG`, `watchdog::start`);
//! the timeout, period and action are the watchdog's.

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::names::task_label;
use super::sets::{self, lock_text, Owner};
use super::threads;
use super::view::{CycleStep, Node, Step, View};
use crate::class::{Class, LockKind, Site};
use crate::meta::LockMeta;
use crate::report::Request;
use crate::watchdog::{LockRef, WaitMode};

/// One registered async wait.
#[derive(Clone)]
pub(super) struct Wait {
    pub(super) owner: Owner,
    pub(super) lock: u64,
    pub(super) kind: LockKind,
    pub(super) class: Class,
    pub(super) request: Request,
    /// The operation that waits (a send, a receive, an acquire, a read...).
    pub(super) mode: WaitMode,
    pub(super) site: Option<&'static Location<'static>>,
    pub(super) since: Instant,
    /// The thread (its key in the thread watchdog's slots) a task's
    /// blocking call blocks (`blocking_lock`, `blocking_send` in a
    /// `spawn_blocking` closure): the task is that thread while it waits,
    /// and the thread's sync holds are the task's (`View::node`).
    pub(super) blocks: Option<u64>,
}

/// Names of the threads that registered waits (for reports).
pub(super) fn thread_names() -> &'static Mutex<HashMap<u64, String>> {
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
/// as `request` at `site`, when the watchdog is on: a send for a queue, an
/// acquire for a semaphore, a read or a write for an `RwLock`, else a
/// lock ([`wait_begins_as`] says which).
pub fn wait_begins(
    meta: &LockMeta,
    request: Request,
    site: Option<&'static Location<'static>>,
) -> Option<AsyncWait> {
    register(meta, mode_of(meta, request), site, false)
}

/// [`wait_begins`] of a wait that blocks the calling thread (a
/// `blocking_lock`, a `blocking_send`): in a task (a `spawn_blocking`
/// closure) the task and its thread are then one owner while it waits.
pub fn blocking_wait_begins(
    meta: &LockMeta,
    request: Request,
    site: Option<&'static Location<'static>>,
) -> Option<AsyncWait> {
    register(meta, mode_of(meta, request), site, true)
}

/// [`wait_begins_as`] of a wait that blocks the calling thread
/// ([`blocking_wait_begins`]).
pub fn blocking_wait_begins_as(
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) -> Option<AsyncWait> {
    register(meta, mode, site, true)
}

/// [`wait_begins`] of a wait in `mode` (a receive: [`WaitMode::Recv`]),
/// which its report words as the thread watchdog's do.
pub fn wait_begins_as(
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
) -> Option<AsyncWait> {
    register(meta, mode, site, false)
}

/// The operation a `request` of `meta` waits in.
fn mode_of(meta: &LockMeta, request: Request) -> WaitMode {
    match (request, meta.kind()) {
        (Request::Read, _) => WaitMode::Read,
        (Request::RecursiveRead, _) => WaitMode::RecursiveRead,
        (_, LockKind::Queue) => WaitMode::Send,
        (_, LockKind::AsyncSemaphore | LockKind::Semaphore) => WaitMode::Permit,
        (_, LockKind::AsyncRwLock | LockKind::RwLock) => WaitMode::Write,
        _ => WaitMode::Lock,
    }
}

/// Registers the wait (the watchdog on); `blocking`: it blocks the calling
/// thread, whose key a task's wait then keeps (`Wait::blocks`).
fn register(
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    blocking: bool,
) -> Option<AsyncWait> {
    let request = mode.request();
    if !crate::watchdog::on() {
        return None;
    }
    crate::watchdog::ensure_running();
    start_scanning();
    let n = NEXT_WAIT.fetch_add(1, Ordering::Relaxed);
    let owner = sets::current_owner();
    if let Owner::Thread(t) = owner {
        // Joined with its sync holds and waits in the thread watchdog's
        // slots.
        threads::register();
        thread_names()
            .lock()
            .entry(t)
            .or_insert_with(crate::sync::thread_name);
    }
    let blocks = match owner {
        Owner::Task(_) if blocking => {
            Some(crate::watchdog::tasks::this_thread_key()).filter(|&k| k != 0)
        }
        _ => None,
    };
    WAITS.lock().insert(
        n,
        Wait {
            owner,
            lock: meta.id(),
            kind: meta.kind(),
            class: meta.class(),
            request,
            mode,
            site,
            since: Instant::now(),
            blocks,
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
                scan.once(c.timeout, c.scan_period);
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
    cycles: HashSet<Vec<CycleStep>>,
    /// The cycles the last scan saw: one is reported when two scans in a
    /// row see it, the same waits (an async wait by when it began), as the
    /// thread watchdog does: a snapshot taken while owners move cannot make
    /// one up twice.
    seen: HashSet<Vec<CycleStep>>,
}

impl Scan {
    /// One scan: `timeout` makes a wait long; a wait younger than `period`
    /// (one scan) is left out, since a cycle is reported only when two
    /// scans see it: a busy program's many short waits cost the scan
    /// nothing (every wait made it build the whole view).
    fn once(&mut self, timeout: Duration, period: Duration) {
        let now = Instant::now();
        let waits: Vec<(u64, Wait)> = WAITS
            .lock()
            .iter()
            .filter(|(_, w)| now.duration_since(w.since) >= period)
            .map(|(k, w)| (*k, w.clone()))
            .collect();
        self.long.retain(|k| waits.iter().any(|(n, _)| n == k));
        let old: Vec<&(u64, Wait)> = waits
            .iter()
            .filter(|(_, w)| now.duration_since(w.since) >= timeout)
            .collect();
        if waits.is_empty() {
            // Every cycle reported here has an async wait in it (one of
            // threads alone is the thread watchdog's).
            self.seen.clear();
            return;
        }
        let threads = crate::watchdog::tasks::threads_now();
        let recs = threads::all();
        let mut view = View {
            holds: sets::all_holds(),
            threads: &threads,
            keys: recs.iter().map(|r| (r.thread_no, r.key)).collect(),
            blocking: (waits.iter())
                .filter_map(|(_, w)| match (w.owner, w.blocks) {
                    (Owner::Task(id), Some(k)) => Some((id, k)),
                    _ => None,
                })
                .collect(),
            steps: HashMap::new(),
            stuck: HashSet::new(),
        };
        // A thread's sync wait, and the task that asked for it on that
        // thread, if its last sync request was for the lock it waits for.
        // Every wait, not only those past the timeout: a cycle is a
        // deadlock however young its waits (it was found only once all of
        // them had passed the timeout, and its first wait was reported as
        // a long wait before).
        for t in &threads {
            let Some(w) = &t.wait else { continue };
            view.steps.insert(
                Node::Thread(t.key),
                Step::Sync {
                    thread: t,
                    task: None,
                },
            );
            let asked = recs
                .iter()
                .find(|r| r.key == t.key)
                .and_then(|r| r.last_request);
            if let Some((Owner::Task(id), lock)) = asked {
                if lock == w.lock {
                    view.steps.insert(
                        Node::Task(id),
                        Step::Sync {
                            thread: t,
                            task: Some(id),
                        },
                    );
                }
            }
        }
        for (_, w) in &waits {
            view.steps.insert(view.node(w.owner), Step::Async(w));
        }
        view.find_stuck();
        // Taken before a report is built (tasks' backtraces can take up to
        // their deadline), dropped once it is queued: the process's exit
        // waits for it meanwhile.
        let mut building: Option<crate::delivery::Building> = None;
        let mut seen = HashSet::new();
        for (_, w) in &waits {
            let start = view.node(w.owner);
            if let Some(cycle) = view.cycle(start) {
                let mut key: Vec<CycleStep> = cycle
                    .iter()
                    .map(|(n, s)| (n.key(), s.lock(), s.wait_id()))
                    .collect();
                key.sort_unstable();
                seen.insert(key.clone());
                if self.seen.contains(&key) && self.cycles.insert(key) {
                    building.get_or_insert_with(crate::delivery::building);
                    let tasks: Vec<u64> = cycle
                        .iter()
                        .filter_map(|(n, _)| match n {
                            Node::Task(id) => Some(*id),
                            _ => None,
                        })
                        .collect();
                    crate::watchdog::tasks::cover_sync_waits(cycle.iter().filter_map(|(_, s)| {
                        match s {
                            Step::Sync { thread, .. } => {
                                thread.wait.as_ref().map(|w| (thread.key, w.serial))
                            }
                            Step::Async(_) => None,
                        }
                    }));
                    emit(TaskDeadlock {
                        cycle: cycle.iter().map(|(n, s)| view.describe(*n, s)).collect(),
                        deadlock: true,
                        backtraces: backtraces(&tasks),
                        reported_at: SystemTime::now(),
                    });
                }
            }
        }
        self.seen = seen;
        for (n, w) in &old {
            let node = view.node(w.owner);
            // A wait on a cycle goes out in the cycle's report (once a
            // second scan sees it), not as a long wait.
            if view.cycle(node).is_none() && self.long.insert(*n) {
                building.get_or_insert_with(crate::delivery::building);
                let tasks: Vec<u64> = match w.owner {
                    Owner::Task(id) => vec![id],
                    Owner::Thread(_) => Vec::new(),
                };
                emit(TaskDeadlock {
                    cycle: vec![view.describe(node, &Step::Async(w))],
                    deadlock: false,
                    backtraces: backtraces(&tasks),
                    reported_at: SystemTime::now(),
                });
            }
        }
    }
}

/// One owner's side of a report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskWait {
    /// The task (id, name, spawn site) or thread.
    pub owner: String,
    /// The lock waited for: its kind and name (or creation site), and
    /// ` (read)` for a read.
    pub lock: String,
    /// The lock waited for, as data (its id tells two locks of one name
    /// apart).
    pub lock_ref: LockRef,
    /// The operation that waits (a send into a queue, a receive, an
    /// acquire, a read...): the report words it as the thread watchdog's
    /// do ([`TaskWait::what`]). `None` where unknown.
    pub mode: Option<WaitMode>,
    /// The size of what it waits for, where its primitive published one
    /// (an async semaphore's permits, a bounded queue's capacity, a
    /// barrier's party count): the report shows it where the thread
    /// watchdog's does (`a permit of AsyncSemaphore `s` (3 permits)`, a
    /// queue's fill level under the wait's line).
    pub capacity: Option<usize>,
    /// A send into or a receive from a tracked tokio queue that registered
    /// its probe (on its first wait): its bound and live ends, as the
    /// thread watchdog's reports say them (a receive's advice counts the
    /// Senders alive).
    pub queue: Option<crate::watchdog::QueueState>,
    /// Where it asked.
    pub asked_at: Option<Site>,
    /// How long it has waited.
    pub waited: Duration,
    /// What it holds (the lock: its kind, and name or creation site;
    /// where taken).
    pub holds: Vec<(String, Option<Site>)>,
    /// The ids of the locks of [`holds`](Self::holds), in its order.
    pub hold_ids: Vec<u64>,
    /// The kinds of the locks of [`holds`](Self::holds), in its order: a
    /// role (a queue's consumer) is no lock it can release.
    pub hold_kinds: Vec<LockKind>,
    /// How each of [`holds`](Self::holds) is held, in its order
    /// (exclusive, shared: an `AsyncRwLock` write or read).
    pub hold_modes: Vec<crate::report::Hold>,
    /// Who holds the lock it waits for, and where they took it.
    pub held_by: Vec<(String, Option<Site>)>,
    /// For a read of a tokio `RwLock`: the writer it is queued behind (a
    /// write asked before it, which waits for the holders), and where that
    /// writer asked. The read waits for it, not for the holders.
    pub queued_behind: Option<(String, Option<Site>)>,
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
    /// The tasks' async backtraces from tokio's task dump, as (task,
    /// trace), or why there are none.
    pub backtraces: Result<Vec<(String, String)>, String>,
    /// When the report was made (wall clock): its first line's "since",
    /// on stderr and in the JSON record alike.
    pub reported_at: SystemTime,
}

/// What takes tokio's task dump: the async backtraces of the tasks with
/// the given ids, as (id, trace), or why not. Registered by the facade in
/// builds that can take one (`--cfg tokio_unstable`, the `tokio-taskdump`
/// feature, Linux).
pub type TaskDumper = fn(&[u64]) -> Result<Vec<(u64, String)>, String>;

static DUMPER: std::sync::OnceLock<TaskDumper> = std::sync::OnceLock::new();

/// Registers the function that takes tokio's task dumps for reports.
pub fn set_task_dumper(f: TaskDumper) {
    let _ = DUMPER.set(f);
}

/// The async backtraces of `tasks` for a report.
fn backtraces(tasks: &[u64]) -> Result<Vec<(String, String)>, String> {
    let Some(dump) = DUMPER.get() else {
        return Err(
            "lockgraph does not take tokio's task dumps in this build; they need tokio \
                    built with --cfg tokio_unstable, lockgraph's tokio-taskdump feature, and \
                    Linux"
                .to_string(),
        );
    };
    if tasks.is_empty() {
        return Err("no task in this report (threads only)".to_string());
    }
    let traces = dump(tasks)?;
    if traces.is_empty() {
        return Err("tokio's task dump has none of these tasks".to_string());
    }
    Ok(traces
        .into_iter()
        .map(|(id, trace)| (task_label(id), trace))
        .collect())
}

pub(super) fn owner_label(o: Owner) -> String {
    match o {
        Owner::Task(id) => task_label(id),
        Owner::Thread(n) => match thread_names().lock().get(&n) {
            Some(name) => format!("thread `{name}` (outside any task)"),
            None => format!("thread #{n} (outside any task)"),
        },
    }
}

pub(super) fn lock_label(w: &Wait) -> String {
    let how = match w.request {
        Request::Exclusive => "",
        Request::Read | Request::RecursiveRead => " (read)",
    };
    format!("{}{how}", lock_name(w))
}

/// The lock of `w`: its kind, name (or creation site) and id.
fn lock_name(w: &Wait) -> String {
    lock_text(w.kind, w.class, w.lock)
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
    // In the dump directory before it is delivered (or aborted on), as
    // the thread watchdog's reports.
    super::dump_line::write(&r);
    crate::policy::emit(r);
}

/// Every task (and thread outside any task) holding or waiting for an
/// async lock now, for the watchdog's dumps.
pub(crate) fn dump_tasks() -> Vec<crate::watchdog::TaskInfo> {
    let holds = sets::all_holds();
    let waits: Vec<Wait> = WAITS.lock().values().cloned().collect();
    let mut owners: Vec<Owner> = holds
        .iter()
        .map(|h| h.owner)
        .chain(waits.iter().map(|w| w.owner))
        .collect();
    owners.sort_by_key(|o| o.key());
    owners.dedup();
    let now = Instant::now();
    owners
        .into_iter()
        .map(|o| {
            let waits = waits.iter().find(|w| w.owner == o).map(|w| {
                (
                    lock_label(w),
                    w.site.map(Site::from),
                    now.duration_since(w.since),
                )
            });
            crate::watchdog::TaskInfo {
                owner: owner_label(o),
                holds: holds
                    .iter()
                    .filter(|h| h.owner == o)
                    .map(|h| (h.lock.to_string(), h.site.map(Site::from)))
                    .collect(),
                hold_modes: holds
                    .iter()
                    .filter(|h| h.owner == o)
                    .map(|h| (h.lock.kind, h.hold))
                    .collect(),
                waits,
            }
        })
        .collect()
}
