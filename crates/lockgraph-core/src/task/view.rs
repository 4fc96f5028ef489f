//! One scan's view of the task watchdog (`watch.rs`): the wait-for graph
//! of tasks and threads, joined from the async waits and holds and the
//! thread watchdog's slots, the owners that can never go on, the cycles
//! among them, and each wait described for a report ([`TaskWait`]).

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::time::{Duration, Instant};

use lockgraph_graph::waitfor::{self, Need};

use super::names::task_label;
use super::sets::{self, lock_text, Owner};
use super::watch::{lock_label, owner_label, TaskWait, Wait};
use crate::class::{Class, LockKind, Site};
use crate::report::{Hold, Request};
use crate::watchdog::tasks::ThreadNow;
use crate::watchdog::LockRef;

/// A node of the wait-for graph: a task, a thread (by its key in the
/// thread watchdog's slots), or a thread outside any task that the thread
/// watchdog does not know (by its owner number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Node {
    Task(u64),
    Thread(u64),
    AsyncThread(u64),
}

impl Node {
    pub(super) fn key(self) -> u64 {
        match self {
            Node::Task(id) => id,
            Node::Thread(k) => k | 1 << 63,
            Node::AsyncThread(n) => n | 1 << 62,
        }
    }
}

/// Why a node waits: an async wait, or a thread's wait for a sync lock
/// (the thread's own, or that of the task that asked for it on that
/// thread: `task` is then the task).
#[derive(Clone, Copy)]
pub(super) enum Step<'a> {
    Async(&'a Wait),
    Sync {
        thread: &'a ThreadNow,
        task: Option<u64>,
    },
}

/// One step of a cycle as [`Scan`] keys it: the node, the lock it waits
/// for, and which wait: when an async wait began, a sync wait's serial.
pub(super) type CycleStep = (u64, u64, WaitId);

/// Which wait a step is: two scans see the same one when these are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum WaitId {
    Async(Instant),
    Sync(u64),
}

impl Step<'_> {
    /// Which wait this is.
    pub(super) fn wait_id(&self) -> WaitId {
        match self {
            Step::Async(w) => WaitId::Async(w.since),
            Step::Sync { thread, .. } => WaitId::Sync(thread.wait.as_ref().map_or(0, |w| w.serial)),
        }
    }

    pub(super) fn lock(&self) -> u64 {
        match self {
            Step::Async(w) => w.lock,
            Step::Sync { thread, .. } => thread.wait.as_ref().map_or(0, |w| w.lock),
        }
    }
}

/// One scan's view: the async waits and holds, the threads' sync holds and
/// waits, and how they join.
pub(super) struct View<'a> {
    pub(super) holds: Vec<sets::PubHold>,
    pub(super) threads: &'a [ThreadNow],
    /// Thread owner number -> thread key.
    pub(super) keys: HashMap<u64, u64>,
    /// Task id -> the key of the thread its blocking call blocks
    /// (`Wait::blocks`): that thread is the task's node while it waits.
    pub(super) blocking: HashMap<u64, u64>,
    pub(super) steps: HashMap<Node, Step<'a>>,
    /// The nodes that can never go on (`lockgraph_graph::waitfor::stuck`):
    /// only they make a deadlock.
    pub(super) stuck: HashSet<Node>,
}

impl View<'_> {
    pub(super) fn node(&self, o: Owner) -> Node {
        match o {
            Owner::Task(id) => self
                .blocking
                .get(&id)
                .map_or(Node::Task(id), |&k| Node::Thread(k)),
            Owner::Thread(n) => self
                .keys
                .get(&n)
                .map_or(Node::AsyncThread(n), |&k| Node::Thread(k)),
        }
    }

    fn thread(&self, key: u64) -> Option<&ThreadNow> {
        self.threads.iter().find(|t| t.key == key)
    }

    /// Whom `step` waits for, and where each took the lock.
    fn waits_for(&self, step: &Step) -> Vec<(Node, Option<&'static Location<'static>>)> {
        match step {
            Step::Async(w) => match self.queued_behind(w) {
                Some((n, writer)) => vec![(n, writer.site)],
                None => self.holders(w),
            },
            Step::Sync { thread, .. } => {
                let Some(w) = &thread.wait else {
                    return Vec::new();
                };
                w.held_by
                    .iter()
                    .map(|&k| {
                        let site = self
                            .thread(k)
                            .and_then(|t| t.held.iter().find(|h| h.0 == w.lock))
                            .and_then(|h| h.3);
                        (Node::Thread(k), site)
                    })
                    .collect()
            }
        }
    }

    /// Who holds the lock `w` waits for, and where each took it.
    fn holders(&self, w: &Wait) -> Vec<(Node, Option<&'static Location<'static>>)> {
        (self.holds.iter())
            .filter(|h| h.id == w.lock)
            .map(|h| (self.node(h.owner), h.site))
            .collect()
    }

    /// The write a read of a tokio `RwLock` is queued behind: the last one
    /// asked for the same lock before the read was (tokio's lock is fair:
    /// the read is let in after that write, which waits for the holders).
    /// The read then waits for that writer, not for the readers that hold
    /// the lock (a cycle through the queued writer was drawn without it,
    /// the read "held by" the other reader; found by an outside test).
    fn queued_behind<'w>(&'w self, w: &Wait) -> Option<(Node, &'w Wait)> {
        if w.kind != LockKind::AsyncRwLock || w.request == Request::Exclusive {
            return None;
        }
        (self.steps.iter())
            .filter_map(|(&n, s)| match s {
                Step::Async(x) => Some((n, *x)),
                Step::Sync { .. } => None,
            })
            .filter(|(_, x)| {
                x.lock == w.lock && x.request == Request::Exclusive && x.since < w.since
            })
            .max_by_key(|(_, x)| x.since)
    }

    /// Whether `step` may end when any one of those it waits for goes on
    /// (a permit, a queue's space or items), or needs every one.
    fn need(step: &Step) -> Need {
        match step {
            Step::Async(w) => match w.kind {
                LockKind::AsyncSemaphore | LockKind::Queue | LockKind::Semaphore => Need::Any,
                _ => Need::All,
            },
            Step::Sync { thread, .. } => thread.wait.as_ref().map_or(Need::All, |w| w.mode.need()),
        }
    }

    /// Fills [`stuck`](Self::stuck) once every step is in. A thread parked
    /// where no one known wakes it (a condvar, a receive, a blocking call)
    /// is one that cannot go on, as in the thread watchdog.
    pub(super) fn find_stuck(&mut self) {
        let parked: HashSet<Node> = (self.threads.iter())
            .filter(|t| t.parked)
            .map(|t| Node::Thread(t.key))
            .collect();
        let nodes: Vec<Node> = self.steps.keys().chain(&parked).copied().collect();
        let stuck = waitfor::stuck(nodes, |n| {
            let (need, on) = match self.steps.get(&n) {
                Some(step) => (Self::need(step), self.waits_for(step)),
                None if parked.contains(&n) => (Need::Any, Vec::new()),
                None => return None,
            };
            Some((need, on.into_iter().map(|(h, _)| h)))
        });
        self.stuck = stuck;
    }

    fn label(&self, n: Node) -> String {
        match n {
            Node::Task(id) => task_label(id),
            Node::Thread(k) => {
                let thread = match self.thread(k) {
                    Some(t) => format!("thread `{}`", t.name),
                    None => format!("thread #{k}"),
                };
                match self.blocking.iter().find(|&(_, &b)| b == k) {
                    Some((&id, _)) => {
                        format!("{thread} (in a blocking call of {})", task_label(id))
                    }
                    None => thread,
                }
            }
            Node::AsyncThread(n) => owner_label(Owner::Thread(n)),
        }
    }

    /// What `n` holds: its async holds, and a thread's sync ones (a task
    /// blocked in a sync wait: its thread's too), as (lock, where taken,
    /// mode).
    fn holds_of(&self, n: Node, step: &Step) -> Vec<(LockRef, Option<Site>, Hold)> {
        let mut out: Vec<(LockRef, Option<Site>, Hold)> = self
            .holds
            .iter()
            .filter(|h| self.node(h.owner) == n)
            .map(|h| (h.lock.clone(), h.site.map(Site::from), h.hold))
            .collect();
        let thread = match (n, step) {
            (_, Step::Sync { thread, .. }) => Some(*thread),
            (Node::Thread(k), _) => self.thread(k),
            _ => None,
        };
        if let Some(t) = thread {
            out.extend(
                t.held
                    .iter()
                    .map(|h| (LockRef::of(h.0, h.1, h.2), h.3.map(Site::from), h.4)),
            );
        }
        out
    }

    pub(super) fn describe(&self, n: Node, step: &Step) -> TaskWait {
        let (owner, lock, lock_ref, mode, asked_at, waited) = match step {
            Step::Async(w) => (
                self.label(n),
                lock_label(w),
                LockRef::of(w.lock, w.class, w.kind),
                Some(w.mode),
                w.site.map(Site::from),
                Instant::now().duration_since(w.since),
            ),
            Step::Sync { thread, task } => {
                let w = thread.wait.as_ref();
                let owner = match task {
                    Some(id) => format!(
                        "{} (blocked in a sync lock on its worker thread `{}`)",
                        task_label(*id),
                        thread.name
                    ),
                    None => self.label(n),
                };
                let lock = w.map_or_else(String::new, |w| {
                    let how = match w.mode {
                        crate::watchdog::WaitMode::Read
                        | crate::watchdog::WaitMode::RecursiveRead => " (read)",
                        _ => "",
                    };
                    format!("{}{how}", lock_text(w.kind, w.class, w.lock))
                });
                let lock_ref = w.map_or_else(
                    || LockRef::of(0, Class::Anonymous, LockKind::Other),
                    |w| LockRef::of(w.lock, w.class, w.kind),
                );
                (
                    owner,
                    lock,
                    lock_ref,
                    w.map(|w| w.mode),
                    w.and_then(|w| w.site).map(Site::from),
                    w.map_or(Duration::ZERO, |w| w.waited),
                )
            }
        };
        // An async wait's holders, and the writer it is queued behind; a
        // sync wait's holders.
        let (held_by, queued_behind) = match step {
            Step::Async(w) => (self.holders(w), self.queued_behind(w)),
            Step::Sync { .. } => (self.waits_for(step), None),
        };
        let held = self.holds_of(n, step);
        let hold_ids = held.iter().map(|(l, ..)| l.id).collect();
        let hold_kinds = held.iter().map(|(l, ..)| l.kind).collect();
        let hold_modes = held.iter().map(|&(_, _, h)| h).collect();
        let holds = (held.into_iter())
            .map(|(l, s, _)| (l.to_string(), s))
            .collect();
        // The size its primitive published when a wait on it began.
        let capacity = (lock_ref.id != 0)
            .then(|| crate::capacity::get(lock_ref.id))
            .flatten();
        // A queue's live ends, where it registered its probe.
        let queue = matches!(
            mode,
            Some(crate::watchdog::WaitMode::Send | crate::watchdog::WaitMode::Recv)
        )
        .then(|| crate::watchdog::queue_state(lock_ref.id))
        .flatten();
        TaskWait {
            owner,
            lock,
            lock_ref,
            mode,
            capacity,
            queue,
            asked_at,
            waited,
            holds,
            hold_ids,
            hold_kinds,
            hold_modes,
            held_by: (held_by.into_iter())
                .map(|(o, s)| (self.label(o), s.map(Site::from)))
                .collect(),
            queued_behind: queued_behind.map(|(o, x)| (self.label(o), x.site.map(Site::from))),
        }
    }

    /// A wait-for cycle through `start` of nodes that can never go on:
    /// each node waits for a lock held by the next. A task waiting for a
    /// lock it holds itself is no cycle here: the hold may be another
    /// future's of the task (`join!`, `select!`, `join_all` poll several in
    /// one task, which lockgraph sees as one owner), whose guard is dropped
    /// when that future goes on; such a wait is reported as a long wait
    /// (`words::long_wait_advice` says both cases). A thread waiting for
    /// itself is one.
    pub(super) fn cycle(&self, start: Node) -> Option<Vec<(Node, Step<'_>)>> {
        fn dfs<'v>(
            v: &'v View<'_>,
            at: Node,
            start: Node,
            path: &mut Vec<(Node, Step<'v>)>,
            seen: &mut HashSet<Node>,
        ) -> bool {
            let Some(step) = v.steps.get(&at) else {
                return false;
            };
            path.push((at, *step));
            for (h, _) in v.waits_for(step) {
                if !v.stuck.contains(&h) {
                    continue;
                }
                if h == start && at == start && matches!(start, Node::Task(_)) {
                    continue;
                }
                if h == start {
                    return true;
                }
                if seen.insert(h) && dfs(v, h, start, path, seen) {
                    return true;
                }
            }
            path.pop();
            false
        }
        if !self.stuck.contains(&start) {
            return None;
        }
        let mut path = Vec::new();
        let mut seen = HashSet::from([start]);
        dfs(self, start, start, &mut path, &mut seen).then_some(path)
    }
}
