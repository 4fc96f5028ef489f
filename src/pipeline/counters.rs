//! The backpressure profile's counters (builds that track).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockgraph_core::__private::{fork_hold, fork_register, ForkHooks, ForkMutex};
use lockgraph_core::Class;

use lockgraph_core::profile::pipeline::{
    PipelineReport, PipelineSums, QueueSums, SideSums, StageSums,
};

/// A queue's own counters, kept only while the profile is on.
#[derive(Default)]
pub(crate) struct QueueStats {
    sends: AtomicU64,
    fill_sum: AtomicU64,
}

impl QueueStats {
    /// A send that left `len` items in the queue.
    #[inline]
    pub(crate) fn sent(&self, len: usize) {
        self.sent_n(1, len);
    }

    /// `n` items sent (or room for them reserved) at once, leaving `len`
    /// items (and reservations) in the queue.
    #[inline]
    pub(crate) fn sent_n(&self, n: usize, len: usize) {
        if profile_on() {
            self.sends.fetch_add(n as u64, Ordering::Relaxed);
            self.fill_sum
                .fetch_add((n as u64).saturating_mul(len as u64), Ordering::Relaxed);
        }
    }

    pub(crate) fn send_blocked(&self, d: Duration) {
        let _ = self;
        if profile_on() {
            with_mine(|m| m.blocked(Side::Send, d));
        }
    }

    pub(crate) fn recv_blocked(&self, d: Duration) {
        let _ = self;
        if profile_on() {
            with_mine(|m| m.blocked(Side::Recv, d));
        }
    }
}

/// Which end of a queue an operation used.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Side {
    Send,
    Recv,
}

/// A registered queue: its label, bound and counters (kept after the
/// channel is gone; their address is the queue's key, unique while they
/// are registered).
struct QueueEntry {
    label: String,
    bound: Option<usize>,
    stats: Arc<QueueStats>,
}

struct Global {
    queues: Vec<QueueEntry>,
    threads: Vec<Arc<ThreadPart>>,
}

/// One thread's (or task's) part: its stage, lifetime, and per queue and
/// side it used, the time it spent blocked there.
struct ThreadPart {
    stage: String,
    start: Instant,
    end: parking_lot::Mutex<Option<Instant>>,
    sides: parking_lot::Mutex<HashMap<(usize, Side), Duration>>,
}

/// The queues and parts: a fork-safe lock (std's, see the core's
/// `fork.rs`), held across `fork()` by [`FORK_HOOKS`], since a forked
/// child's exit hook reads it (the profile file).
static GLOBAL: ForkMutex<Global> = ForkMutex::new(Global {
    queues: Vec::new(),
    threads: Vec::new(),
});

thread_local! {
    static MINE: RefCell<Option<MineShared>> = const { RefCell::new(None) };
}

struct MineShared {
    part: Arc<ThreadPart>,
    current: Option<(usize, Side)>,
    /// The [`reset`] count when the part was made.
    epoch: u64,
}

/// How many times [`reset`] ran.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Forgets every queue and thread counted so far: the next [`report`]
/// covers what happens from now on.
pub fn reset() {
    let mut g = GLOBAL.lock();
    g.queues.clear();
    g.threads.clear();
    EPOCH.fetch_add(1, Ordering::Relaxed);
    drop(g);
    // Not under `GLOBAL`: `op` takes a shard, then `GLOBAL`. A part made
    // meanwhile with the old epoch is replaced at its task's next
    // operation.
    for shard in &TASKS {
        shard.lock().clear();
    }
}

impl Drop for MineShared {
    fn drop(&mut self) {
        *self.part.end.lock() = Some(Instant::now());
    }
}

impl MineShared {
    fn blocked(&mut self, side: Side, d: Duration) {
        if let Some((key, s)) = self.current {
            if s == side {
                *self.part.sides.lock().entry((key, side)).or_default() += d;
            }
        }
    }
}

/// The parts of tasks (tokio's queues), by task id: a task moves from
/// thread to thread, so its part cannot be thread-local. Sharded by id; the
/// [`reset`] count each part was made in.
const TASK_SHARDS: usize = 16;
type TaskParts = BTreeMap<u64, (Arc<ThreadPart>, u64)>;
static TASKS: [ForkMutex<TaskParts>; TASK_SHARDS] =
    [const { ForkMutex::new(BTreeMap::new()) }; TASK_SHARDS];

static FORK_REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The counters across `fork()`: taken before it (in the order `op` takes
/// them: the shards, then `GLOBAL`), so that no other thread is inside
/// them; in the child, what the parent counted is forgotten, as the
/// contention profile's counters are (found by a review: a forked child's
/// profile file held its parent's sums, which `lockgraph profile` then
/// counted twice).
static FORK_HOOKS: ForkHooks = ForkHooks {
    prepare: || {
        for shard in &TASKS {
            fork_hold(shard.lock());
        }
        fork_hold(GLOBAL.lock());
    },
    child: fork_child,
};

/// Registers [`FORK_HOOKS`] (once; a load after that).
fn fork_safe() {
    fork_register(&FORK_REGISTERED, &FORK_HOOKS);
}

/// In a forked child: the queues stay (the child has copies of them) with
/// their counts at zero, and the parts of threads and tasks are forgotten
/// (the forking thread makes a new one at its next operation: the epoch
/// changes). The child's profile file counts only what it did.
fn fork_child() {
    let mut g = GLOBAL.lock();
    g.threads.clear();
    for q in &g.queues {
        q.stats.sends.store(0, Ordering::Relaxed);
        q.stats.fill_sum.store(0, Ordering::Relaxed);
    }
    drop(g);
    EPOCH.fetch_add(1, Ordering::Relaxed);
    for shard in &TASKS {
        shard.lock().clear();
    }
}

/// An operation on queue `key`'s `side` by task `task` (`None`: not in a
/// task, the thread's part), which waited `blocked` if it did; `stage`
/// names the task's stage the first time the task is seen. A task's time
/// runs from its first operation on a counted queue to its last (when a
/// task ends is not known here). Only while the profile is on.
#[cfg(feature = "tokio")]
pub(crate) fn op(
    task: Option<u64>,
    key: usize,
    side: Side,
    blocked: Option<Duration>,
    stage: impl FnOnce() -> String,
) {
    if !profile_on() {
        return;
    }
    let Some(id) = task else {
        with_mine(|m| {
            m.current = Some((key, side));
            *m.part.sides.lock().entry((key, side)).or_default() += blocked.unwrap_or_default();
        });
        return;
    };
    let epoch = EPOCH.load(Ordering::Relaxed);
    let now = Instant::now();
    let mut shard = TASKS[(id as usize) % TASK_SHARDS].lock();
    let fresh = |stage| {
        fork_safe();
        let part = Arc::new(ThreadPart {
            stage,
            start: now,
            end: parking_lot::Mutex::new(None),
            sides: parking_lot::Mutex::new(HashMap::new()),
        });
        GLOBAL.lock().threads.push(part.clone());
        (part, epoch)
    };
    let entry = match shard.get_mut(&id) {
        Some(e) if e.1 == epoch => e,
        _ => {
            let e = fresh(stage());
            shard.insert(id, e);
            shard.get_mut(&id).expect("just inserted")
        }
    };
    *entry.0.end.lock() = Some(now);
    *entry.0.sides.lock().entry((key, side)).or_default() += blocked.unwrap_or_default();
}

/// The stage of a task from its label (`lockgraph_core::task::task_label`):
/// its name less a trailing `-<number>` when it has one (given by
/// `lockgraph::tokio::spawn_named` or `instrument_named`), else `spawned at
/// <site>` (`spawn`, `instrument`: the tasks spawned at one site are one
/// stage), else `task at <site>` with the site of its first operation on a
/// counted queue (a task of `tokio::spawn`).
#[cfg(feature = "tokio")]
pub(crate) fn task_stage(label: &str, id: u64, first_op: &str) -> String {
    let rest = label.strip_prefix(&format!("task {id}")).unwrap_or("");
    if let Some((name, _)) = rest
        .strip_prefix(" \"")
        .and_then(|r| r.rsplit_once("\" (spawned at "))
    {
        return stage_of(name);
    }
    if let Some(site) = rest
        .strip_prefix(" (spawned at ")
        .and_then(|r| r.strip_suffix(')'))
    {
        return format!("spawned at {site}");
    }
    format!("task at {first_op}")
}

fn with_mine(f: impl FnOnce(&mut MineShared)) {
    let _ = MINE.try_with(|m| {
        let mut m = m.borrow_mut();
        let epoch = EPOCH.load(Ordering::Relaxed);
        if m.as_ref().is_some_and(|m| m.epoch != epoch) {
            *m = None;
        }
        let mine = m.get_or_insert_with(|| {
            fork_safe();
            let part = Arc::new(ThreadPart {
                stage: stage_of_current(),
                start: Instant::now(),
                end: parking_lot::Mutex::new(None),
                sides: parking_lot::Mutex::new(HashMap::new()),
            });
            GLOBAL.lock().threads.push(part.clone());
            MineShared {
                part,
                current: None,
                epoch,
            }
        });
        f(mine)
    });
}

/// Whether the profile is on: first the inlined load of every feature's
/// switch (the profile is one), so that the common case, every feature
/// off, makes no call.
#[inline(always)]
pub(crate) fn profile_on() -> bool {
    !lockgraph_core::__private::features_off() && lockgraph_core::profile::on()
}

/// Marks this thread as using queue `key` on `side` (every operation while
/// the profile is on): the thread belongs to that side of the queue in the
/// report even if it never blocked.
#[inline]
pub(crate) fn using(key: usize, side: Side) {
    if profile_on() {
        with_mine(|m| {
            if m.current != Some((key, side)) {
                m.current = Some((key, side));
                m.part.sides.lock().entry((key, side)).or_default();
            }
        });
    }
}

/// The stage of the current thread: its name less a trailing `-<number>`
/// (`preprocess-3` is stage `preprocess`), `main`, or `unnamed`.
fn stage_of_current() -> String {
    let t = std::thread::current();
    stage_of(t.name().unwrap_or("unnamed"))
}

fn stage_of(name: &str) -> String {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    match trimmed.strip_suffix(['-', '_', ' ', '#']) {
        Some(stem) if trimmed.len() < name.len() && !stem.is_empty() => stem.to_string(),
        _ => name.to_string(),
    }
}

/// A queue's label: its name, or its creation site.
fn label(class: Class) -> String {
    match class {
        Class::Named(n) => n.to_string(),
        c => c
            .site()
            .map_or_else(|| "(anonymous)".to_string(), |s| format!("queue at {s}")),
    }
}

/// The key of a queue whose counters are `stats`.
pub(crate) fn key(stats: &Arc<QueueStats>) -> usize {
    Arc::as_ptr(stats) as usize
}

/// Registers a queue of class `class` and `bound` counting into `stats`,
/// while the profile is on.
pub(crate) fn register_queue(class: Class, bound: Option<usize>, stats: &Arc<QueueStats>) {
    if !lockgraph_core::profile::on() {
        return;
    }
    fork_safe();
    GLOBAL.lock().queues.push(QueueEntry {
        label: label(class),
        bound,
        stats: stats.clone(),
    });
    // The profile file's backpressure part, written at exit beside the
    // records (`LOCKGRAPH_RECORD`), also when no lock is ever taken.
    lockgraph_core::profile::pipeline::set_source(sums);
}

/// The backpressure profile so far (empty unless the profile was on while
/// the queues were made and used).
pub fn report() -> PipelineReport {
    sums().report()
}

/// Nanoseconds of `d`, saturated.
fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The sums the report is made of (and the profile file holds): per queue
/// and side, the time blocked and the lifetimes of the threads (tasks)
/// that used it; per stage, its workers' lifetimes and time blocked.
fn sums() -> PipelineSums {
    let g = GLOBAL.lock();
    let now = Instant::now();
    let mut sides: HashMap<(usize, Side), SideSums> = HashMap::new();
    let mut stages: BTreeMap<String, StageSums> = BTreeMap::new();
    for t in &g.threads {
        let life = ns(t
            .end
            .lock()
            .unwrap_or(now)
            .saturating_duration_since(t.start));
        let used = t.sides.lock();
        let st = stages.entry(t.stage.clone()).or_insert_with(|| StageSums {
            name: t.stage.clone(),
            ..StageSums::default()
        });
        st.workers += 1;
        st.life_ns = st.life_ns.saturating_add(life);
        for (&(key, side), &blocked) in used.iter() {
            let blocked = ns(blocked);
            let e = sides.entry((key, side)).or_default();
            e.blocked_ns = e.blocked_ns.saturating_add(blocked);
            e.life_ns = e.life_ns.saturating_add(life);
            if !e.stages.contains(&t.stage) {
                e.stages.push(t.stage.clone());
            }
            match side {
                Side::Send => st.full_ns = st.full_ns.saturating_add(blocked),
                Side::Recv => st.empty_ns = st.empty_ns.saturating_add(blocked),
            }
        }
    }
    let queues = (g.queues.iter())
        .map(|q| {
            let k = key(&q.stats);
            QueueSums {
                name: q.label.clone(),
                bound: q.bound.map(|b| b as u64),
                sends: q.stats.sends.load(Ordering::Relaxed),
                fill_sum: q.stats.fill_sum.load(Ordering::Relaxed),
                send: sides.remove(&(k, Side::Send)).unwrap_or_default(),
                recv: sides.remove(&(k, Side::Recv)).unwrap_or_default(),
            }
        })
        .collect();
    // Queues of one name (unnamed ones made at one site) are one row, as
    // `lockgraph profile` adds them up across processes.
    PipelineSums {
        queues,
        stages: stages.into_values().collect(),
    }
    .folded()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_is_its_thread_name_less_the_number() {
        assert_eq!(stage_of("preprocess-3"), "preprocess");
        assert_eq!(stage_of("gpu"), "gpu");
        assert_eq!(stage_of("worker_12"), "worker");
        assert_eq!(stage_of("v2"), "v2");
        assert_eq!(stage_of("-3"), "-3");
    }

    /// The label's format is the core's: a change there shows here.
    #[cfg(feature = "tokio")]
    #[test]
    fn a_task_stage_is_read_from_its_label() {
        let here = std::panic::Location::caller();
        let id = u64::MAX / 4 - 7;
        let label = |n: &str| {
            lockgraph_core::task::name_task(
                id,
                lockgraph_core::task::TaskName {
                    name: n.to_string(),
                    site: here,
                },
            );
            let l = lockgraph_core::task::task_label(id);
            lockgraph_core::task::unname_task(id);
            l
        };
        assert_eq!(
            task_stage(&label("preprocess-2"), id, "x.rs:1:1"),
            "preprocess"
        );
        assert_eq!(
            task_stage(&label("a \" (spawned at b"), id, "x.rs:1:1"),
            "a \" (spawned at b"
        );
        assert_eq!(
            task_stage(&label(""), id, "x.rs:1:1"),
            format!("spawned at {here}")
        );
        let bare = lockgraph_core::task::task_label(id);
        assert_eq!(task_stage(&bare, id, "x.rs:1:1"), "task at x.rs:1:1");
    }
}
