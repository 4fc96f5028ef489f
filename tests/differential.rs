//! Detection end to end, against a model: random programs of `lock`,
//! `try_lock_for`, `try_lock`, releases in any order and "drop the lock and
//! make a new one of its class" run on real threads, and after every step
//! what lockgraph reported (and the thread's held-lock stack) is compared
//! with what a small model of the documented rules says it must.
//!
//! The steps of a program run one at a time, each on one of a few worker
//! threads, so nothing can deadlock for real: a step that would block for
//! ever (a `lock` of a lock some thread holds) is skipped, and a timed
//! acquisition of a held lock gets a short timeout (it fails; of a lock
//! this thread holds, it is a self-deadlock). A worker runs scripts; a
//! thread keeps its chain cache and steady slots from one script to the
//! next, a script may run several times (on one thread or several, so
//! chains repeat), may leave its locks held (so that other threads find
//! them taken, and a lock may be dropped while another thread holds it),
//! and a worker's thread may end and a new one take its place. Every step
//! runs inside its own `lockgraph::capture` (capture is per thread), so a
//! report belongs to the step that raised it. Locks are `Mutex`es,
//! `FairMutex`es and `RwLock`s (written) made with `named`: each proptest
//! case has class names of its own, so a case never sees another's edges
//! (classes are merged by name, and lock ids are never reused:
//! docs/design.md, "The graphs"). A guard is forgotten when taken and the
//! lock released with `force_unlock`, so that any held lock can be released
//! next, not only the last one taken (the stack's slow paths), and a lock
//! can be dropped while held.
//!
//! # The model (and the document each rule is read from)
//!
//! * A blocking acquisition (`lock`, and `try_lock_for`, which waits:
//!   tests/rules.rs `timed_try_locks_wait_so_they_add_edges`) records one
//!   edge from *every* lock the thread holds to the requested one
//!   (docs/design.md, "One acquisition's edges are added by
//!   `global::add_edges`: ... for each held lock its class edge"), in the
//!   order the thread took them. `try_lock` records none, and the lock is
//!   held afterwards like any other (src/lib.rs, "What is not reported";
//!   tests/rules.rs `a_try_locked_lock_is_an_ordinary_held_lock_afterwards`).
//! * An edge between two classes goes to the class graph (nodes: classes,
//!   kept for ever); an edge between two locks of one class to the instance
//!   graph (nodes: live locks; a dropped lock leaves it with its edges)
//!   (docs/design.md, "The graphs").
//! * Every edge keeps its *gates*: the locks held exclusively when it was
//!   recorded, other than its two ends (all of them here: mutexes only), as
//!   instances; recording it again intersects them (docs/design.md, "The
//!   cycle search"). A cycle whose edges all share a gate cannot deadlock
//!   and is not reported (src/lib.rs).
//! * When an edge changes (new, or a gate lost), the shortest
//!   deadlock-capable cycle through it is searched; a cycle is reported once
//!   per process, by its set of nodes (docs/design.md, "The cycle search",
//!   "Reports and policy"), at the acquisition that recorded the edge. The
//!   report's locks are in cycle order, edge 0 the closing one (`from`,
//!   `to`).
//! * The levels: an instance-graph cycle is instance-level; a class-graph
//!   cycle is instance-level only when the sample instance pairs of its
//!   edges chain back to the closing pair (docs/design.md, "The graphs").
//!   Samples are real pairs, so an instance-level label must be backed by
//!   the model's pairs. The converse is not checked: the samples are "the
//!   first four instance pairs of each edge" (docs/design.md, "What is not
//!   covered"), and a pair the thread's chain cache already covers never
//!   reaches the graph, so which pairs those are is not the model's to say.
//! * `held_lock_ids()` lists the locks the thread holds, outermost first:
//!   the model's held locks in the order they were taken. A lock dropped
//!   while the thread holds it leaves its stack (docs/design.md, "A lock
//!   dropped while this thread holds it"); dropped while *another* thread
//!   holds it, it stays on that thread's stack for good (its guard cannot
//!   hand anything over: docs/design.md, "A guard forgotten on *another*
//!   thread"), held, a source of edges and a gate like any held lock.
//! * A timed acquisition records its edges before it waits, whether it
//!   then gets the lock or not (docs/design.md: `before_wait` "before
//!   anything that can block"). A request of a lock the thread holds is a
//!   self-deadlock, reported with no edges (tests/rules.rs
//!   `locking_a_held_mutex_again_is_reported_before_it_self_deadlocks`);
//!   the model requires the report the first time a thread asks for that
//!   lock (later, the thread's chain cache may already have the request).
//!
//! The search looks for the shortest *walk* that is deadlock-capable
//! (docs/design.md, "The cycle search"); the document does not say which
//! walks (the graph crate's search never passes through the closing edge's
//! tail in between, and may repeat other locks). So the model brackets it:
//! a report is required when a deadlock-capable *simple* cycle goes through
//! the changed edge (unless a walk no longer than it was reported before),
//! forbidden when no deadlock-capable closed walk does (any locks
//! repeated), and a reported walk must be deadlock-capable in the model,
//! start with the changed edge and be no longer than the shortest simple
//! cycle. Walks that repeat a lock are counted in the printed statistics
//! (`repeating_walks`, `without_simple_cycle`: lockgraph reports some that
//! no simple cycle backs, which cannot deadlock; see the ignored test
//! `a_walk_through_one_lock_twice_under_two_gates_is_no_deadlock`).
//!
//! Checked after every step: each report is a lock-order cycle of this
//! case's locks, deadlock-capable in the model, closed by an edge this
//! step changed, no longer than the shortest simple cycle through it, at
//! its right level, and not a cycle reported before; every changed edge
//! that closes a deadlock-capable simple cycle has its report (or an
//! equally short walk was reported before); a `try_lock` gets a free lock
//! and not a held one; `held_lock_ids()` is the model's held locks. Over
//! the program: lockgraph reports at least one cycle iff the model ever has
//! one, and the first report comes no earlier than the step that closed the
//! model's first deadlock-capable walk and no later than the one that
//! closed its first simple cycle (the same step but in rare programs).
//!
//! `PROPTEST_CASES` sets the number of cases of each property (default
//! [`DEFAULT_CASES`]). A long campaign makes many classes: raise
//! `LOCKGRAPH_MAX_CLASSES` (the test says so when it would run out).
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lockgraph::{capture, FairMutex, Level, Mutex, ReportKind, RwLock};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 256;

/// The most locks (slots) of a program.
const MAX_LOCKS: usize = 5;

/// The most classes of a program with several locks per class.
const MAX_CLASSES: usize = 4;

/// A timed acquisition's timeout for a free lock: it never runs out.
const LONG: Duration = Duration::from_secs(30);

/// A timed acquisition's timeout for a lock some thread holds (and keeps).
const SHORT: Duration = Duration::from_millis(1);

/// The most locks a worker may hold (lockgraph tracks 48).
const MAX_HELD: usize = 32;

// ---- programs --------------------------------------------------------------

/// One operation of a script, before it is resolved against who holds
/// what ([`Model::resolve`]).
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `lock()` of lock `i`; skipped when any thread holds it (it would
    /// block for ever).
    Lock(usize),
    /// `try_lock_for()` of lock `i`: a long timeout when it is free, a
    /// short one when a thread holds it (it fails; this thread: a
    /// self-deadlock).
    LockFor(usize),
    /// `try_lock()` of lock `i` (fails when a thread holds it).
    TryLock(usize),
    /// Release the `k`-th held lock from the top (0: the last one taken),
    /// modulo the number this thread can release; nothing when none.
    Release(usize),
    /// Drop lock `i` (held by this thread, another or none) and make a new
    /// one of its class and kind in its place.
    Renew(usize),
}

#[derive(Clone, Debug)]
struct Script {
    ops: Vec<Op>,
    /// Whether the locks still held at the end are released last first
    /// (else first first).
    lifo_end: bool,
    /// Whether the locks still held at the end stay held (their guards
    /// forgotten): the thread holds them into its next script, and other
    /// threads find them taken until they are made again.
    keep_end: bool,
    /// How many times the thread runs it in a row (the second time mostly
    /// repeats chains the first recorded).
    repeat: usize,
}

/// The kind of a lock: each takes its own way through the core (the fair
/// mutex's fair unlock, the write lock's own raw calls), and a class may
/// have locks of several kinds (one name). Every hold is exclusive, so the
/// model does not tell them apart.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Mutex,
    FairMutex,
    /// `write()` only.
    RwLock,
}

#[derive(Clone, Debug)]
struct Program {
    /// The class of each lock.
    class_of: Vec<usize>,
    /// The kind of each lock (a lock made again keeps its kind).
    kind_of: Vec<Kind>,
    workers: usize,
    scripts: Vec<Script>,
    /// What runs, one after another: (script, worker, on a new thread),
    /// script and worker modulo their numbers (a script may run several
    /// times, on one thread or on several). On a new thread: the worker's
    /// thread ends before the run and a new one takes its place.
    runs: Vec<(usize, usize, bool)>,
    /// Whether the locks of a class share one name string (else each lock
    /// gets a copy of its own: one class by content, not by address).
    shared_names: bool,
}

fn op(locks: usize, renew: bool) -> BoxedStrategy<Op> {
    let base = prop_oneof![
        6 => (0..locks).prop_map(Op::Lock),
        1 => (0..locks).prop_map(Op::LockFor),
        1 => (0..locks).prop_map(Op::TryLock),
        3 => (0..4usize).prop_map(Op::Release),
    ];
    if renew {
        prop_oneof![10 => base, 1 => (0..locks).prop_map(Op::Renew)].boxed()
    } else {
        base.boxed()
    }
}

/// Programs of 2 to [`MAX_LOCKS`] locks. `one_class_each`: every lock its own class
/// and never renewed; else up to [`MAX_CLASSES`] classes, locks renewed.
fn program(one_class_each: bool) -> impl Strategy<Value = Program> {
    (2..=MAX_LOCKS, 1..=3usize).prop_flat_map(move |(locks, workers)| {
        let classes = if one_class_each {
            Just((0..locks).collect::<Vec<_>>()).boxed()
        } else {
            (1..=MAX_CLASSES)
                .prop_flat_map(move |c| proptest::collection::vec(0..c, locks))
                .boxed()
        };
        let script = (
            proptest::collection::vec(op(locks, !one_class_each), 1..=14),
            any::<bool>(),
            prop_oneof![5 => Just(false), 1 => Just(true)],
            prop_oneof![3 => Just(1usize), 1 => 2..=3usize],
        )
            .prop_map(|(ops, lifo_end, keep_end, repeat)| Script {
                ops,
                lifo_end,
                keep_end,
                repeat,
            });
        let kind = prop_oneof![
            4 => Just(Kind::Mutex),
            1 => Just(Kind::FairMutex),
            1 => Just(Kind::RwLock),
        ];
        (
            classes,
            proptest::collection::vec(kind, locks),
            proptest::collection::vec(script, 1..=6),
            proptest::collection::vec(
                (
                    0..6usize,
                    0..workers,
                    prop_oneof![4 => Just(false), 1 => Just(true)],
                ),
                1..=10,
            ),
            any::<bool>(),
        )
            .prop_map(
                move |(class_of, kind_of, scripts, runs, shared_names)| Program {
                    class_of,
                    kind_of,
                    workers,
                    scripts,
                    runs,
                    shared_names,
                },
            )
    })
}

/// One step a worker runs, resolved against who holds what.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// `lock()` of a free lock.
    Lock(usize),
    /// `try_lock_for()` of a free lock: succeeds.
    LockFor(usize),
    /// `try_lock_for()` of a lock another thread holds: waits [`SHORT`]
    /// and fails.
    LockForBusy(usize),
    /// `try_lock_for()` of a lock this thread holds: a self-deadlock,
    /// reported; fails after [`SHORT`].
    LockForSelf(usize),
    /// `try_lock()` of a free lock: succeeds.
    TryLock(usize),
    /// `try_lock()` of a lock a thread holds: fails.
    TryHeld(usize),
    /// `force_unlock()` of a lock this thread holds.
    Release(usize),
    /// The lock dropped (while this thread holds it, its guard forgotten,
    /// when `held`) and a new one named `name` put in its place.
    Renew {
        slot: usize,
        held: bool,
        name: &'static str,
    },
}

// ---- running a program -----------------------------------------------------

/// A report as the model reads it.
#[derive(Clone, Debug)]
struct Seen {
    kind: ReportKind,
    level: Level,
    /// Each lock's name and instance, in cycle order.
    locks: Vec<(Option<&'static str>, Option<u64>)>,
}

/// What one step did.
struct Outcome {
    reports: Vec<Seen>,
    /// `held_lock_ids()` after the step.
    held: Vec<u64>,
    /// Whether a `try_lock`/`try_lock_for` got the lock.
    took: Option<bool>,
}

/// A lock of one of the [`Kind`]s, taken with its guard forgotten.
enum Lock {
    Mutex(Mutex<()>),
    FairMutex(FairMutex<()>),
    RwLock(RwLock<()>),
}

impl Lock {
    fn new(kind: Kind, name: &'static str) -> Lock {
        match kind {
            Kind::Mutex => Lock::Mutex(Mutex::named(name, ())),
            Kind::FairMutex => Lock::FairMutex(FairMutex::named(name, ())),
            Kind::RwLock => Lock::RwLock(RwLock::named(name, ())),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Lock::Mutex(_) => Kind::Mutex,
            Lock::FairMutex(_) => Kind::FairMutex,
            Lock::RwLock(_) => Kind::RwLock,
        }
    }

    fn lock(&self) {
        match self {
            Lock::Mutex(l) => std::mem::forget(l.lock()),
            Lock::FairMutex(l) => std::mem::forget(l.lock()),
            Lock::RwLock(l) => std::mem::forget(l.write()),
        }
    }

    /// A timed acquisition; whether it got the lock.
    fn lock_for(&self, timeout: Duration) -> bool {
        match self {
            Lock::Mutex(l) => l.try_lock_for(timeout).map(std::mem::forget).is_some(),
            Lock::FairMutex(l) => l.try_lock_for(timeout).map(std::mem::forget).is_some(),
            Lock::RwLock(l) => l.try_write_for(timeout).map(std::mem::forget).is_some(),
        }
    }

    /// Whether `try_lock` got the lock.
    fn try_lock(&self) -> bool {
        match self {
            Lock::Mutex(l) => l.try_lock().map(std::mem::forget).is_some(),
            Lock::FairMutex(l) => l.try_lock().map(std::mem::forget).is_some(),
            Lock::RwLock(l) => l.try_write().map(std::mem::forget).is_some(),
        }
    }

    /// Releases a hold whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// This thread holds the lock, taken by [`lock`](Self::lock),
    /// [`lock_for`](Self::lock_for) or [`try_lock`](Self::try_lock).
    unsafe fn unlock(&self) {
        // SAFETY: the caller's promise: this thread holds it exclusively,
        // and its guard was forgotten.
        unsafe {
            match self {
                Lock::Mutex(l) => l.force_unlock(),
                Lock::FairMutex(l) => l.force_unlock_fair(),
                Lock::RwLock(l) => l.force_unlock_write(),
            }
        }
    }
}

/// The locks of a case, in place: a lock made again takes its
/// predecessor's place (and address).
type Locks = Arc<StdMutex<Vec<Lock>>>;

fn run_step(locks: &mut [Lock], step: Step) -> Outcome {
    let mut took = None;
    let reports = capture(|| match step {
        Step::Lock(i) => locks[i].lock(),
        Step::LockFor(i) => took = Some(locks[i].lock_for(LONG)),
        Step::LockForBusy(i) | Step::LockForSelf(i) => took = Some(locks[i].lock_for(SHORT)),
        Step::TryLock(i) | Step::TryHeld(i) => took = Some(locks[i].try_lock()),
        // SAFETY: `Model::resolve` releases only locks this thread holds
        // (not ones dropped since), each taken by a guard that was
        // forgotten.
        Step::Release(i) => unsafe { locks[i].unlock() },
        Step::Renew { slot, name, .. } => locks[slot] = Lock::new(locks[slot].kind(), name),
    });
    Outcome {
        reports: reports
            .iter()
            .map(|r| Seen {
                kind: r.kind,
                level: r.level,
                locks: r.locks.iter().map(|l| (l.name, l.instance)).collect(),
            })
            .collect(),
        held: lockgraph_core::held_lock_ids(),
        took,
    }
}

/// The worker threads of one case: each runs the scripts it is sent, one
/// at a time, and sends back each step's outcome.
struct Workers {
    locks: Locks,
    /// Each worker's job queue and thread.
    threads: Vec<(Sender<Vec<Step>>, JoinHandle<()>)>,
    done_tx: Sender<Vec<Outcome>>,
    done: Receiver<Vec<Outcome>>,
}

impl Workers {
    fn start(n: usize, locks: &Locks) -> Workers {
        let (done_tx, done) = channel();
        let mut w = Workers {
            locks: locks.clone(),
            threads: Vec::new(),
            done_tx,
            done,
        };
        for _ in 0..n {
            let t = w.spawn();
            w.threads.push(t);
        }
        w
    }

    fn spawn(&self) -> (Sender<Vec<Step>>, JoinHandle<()>) {
        let (tx, rx) = channel::<Vec<Step>>();
        let (locks, done_tx) = (self.locks.clone(), self.done_tx.clone());
        let thread = std::thread::Builder::new()
            .name("differential-worker".into())
            .spawn(move || {
                for steps in rx {
                    let mut locks = locks.lock().unwrap();
                    let out = steps.into_iter().map(|s| run_step(&mut locks, s));
                    if done_tx.send(out.collect()).is_err() {
                        return;
                    }
                }
            })
            .unwrap();
        (tx, thread)
    }

    /// Ends worker `w`'s thread (its thread-local state goes: the fresh
    /// locks' edge buffer it kept is handed to a later thread) and starts
    /// a new one in its place.
    fn renew(&mut self, w: usize) {
        let fresh = self.spawn();
        let (tx, thread) = std::mem::replace(&mut self.threads[w], fresh);
        drop(tx);
        thread.join().unwrap();
    }

    fn run(&self, worker: usize, steps: Vec<Step>) -> Vec<Outcome> {
        self.threads[worker].0.send(steps).unwrap();
        self.done.recv().expect("a worker thread died")
    }

    fn stop(self) {
        for (tx, thread) in self.threads {
            drop(tx);
            thread.join().unwrap();
        }
    }
}

// ---- the model -------------------------------------------------------------

/// One lock-order graph of the model: each edge with the gates common to
/// all its recordings.
#[derive(Default)]
struct Graph {
    edges: BTreeMap<(u64, u64), BTreeSet<u64>>,
}

impl Graph {
    /// Records `from -> to` under `gates`; whether the edge changed (new,
    /// or a gate lost).
    fn record(&mut self, from: u64, to: u64, gates: &BTreeSet<u64>) -> bool {
        match self.edges.get_mut(&(from, to)) {
            None => {
                self.edges.insert((from, to), gates.clone());
                true
            }
            Some(common) => {
                let before = common.len();
                common.retain(|g| gates.contains(g));
                common.len() != before
            }
        }
    }

    /// The same edges without gates.
    fn ungated(&self) -> Graph {
        Graph {
            edges: self.edges.keys().map(|&e| (e, BTreeSet::new())).collect(),
        }
    }

    /// Removes `node` and its edges.
    fn forget(&mut self, node: u64) {
        self.edges.retain(|&(a, b), _| a != node && b != node);
    }

    fn successors(&self, node: u64) -> impl Iterator<Item = (u64, &BTreeSet<u64>)> {
        self.edges
            .range((node, 0)..=(node, u64::MAX))
            .map(|(&(_, b), gates)| (b, gates))
    }

    /// Whether the closed walk `nodes` (edge i from `nodes[i]` to the
    /// next, wrapping) is in the graph with no gate common to all its edges.
    fn deadlock_capable(&self, nodes: &[u64]) -> bool {
        let mut common: Option<BTreeSet<u64>> = None;
        for (i, &a) in nodes.iter().enumerate() {
            let b = nodes[(i + 1) % nodes.len()];
            let Some(gates) = self.edges.get(&(a, b)) else {
                return false;
            };
            common = Some(match common {
                None => gates.clone(),
                Some(c) => c.intersection(gates).copied().collect(),
            });
        }
        common.is_some_and(|c| c.is_empty())
    }

    /// The length (in locks) of the shortest deadlock-capable simple cycle
    /// through `from -> to`.
    fn shortest_simple(&self, from: u64, to: u64) -> Option<usize> {
        fn search(g: &Graph, path: &mut Vec<u64>, best: &mut Option<usize>) {
            if best.is_some_and(|b| b <= path.len()) {
                return;
            }
            let last = *path.last().unwrap();
            let next: Vec<u64> = g.successors(last).map(|(n, _)| n).collect();
            for n in next {
                if n == path[0] {
                    if g.deadlock_capable(path) {
                        *best = Some(path.len());
                    }
                } else if !path.contains(&n) {
                    path.push(n);
                    search(g, path, best);
                    path.pop();
                }
            }
        }
        let mut best = None;
        search(self, &mut vec![from, to], &mut best);
        best
    }

    /// The length of the shortest deadlock-capable closed walk through
    /// `from -> to`, any lock repeated: a breadth-first search over (lock,
    /// gates still common).
    fn shortest_walk(&self, from: u64, to: u64) -> Option<usize> {
        let start = (to, self.edges.get(&(from, to))?.clone());
        let mut seen = HashSet::from([start.clone()]);
        let mut queue = VecDeque::from([(start, 1usize)]);
        while let Some(((node, common), len)) = queue.pop_front() {
            for (n, gates) in self.successors(node) {
                let c: BTreeSet<u64> = common.intersection(gates).copied().collect();
                if n == from && c.is_empty() {
                    return Some(len + 1);
                }
                if seen.insert((n, c.clone())) {
                    queue.push_back(((n, c), len + 1));
                }
            }
        }
        None
    }

    /// Whether a deadlock-capable closed walk through `from -> to` of at
    /// most `max` locks has its locks (sorted) in `reported`.
    fn reported_walk(&self, from: u64, to: u64, max: usize, reported: &HashSet<Vec<u64>>) -> bool {
        fn search(g: &Graph, path: &mut Vec<u64>, max: usize, r: &HashSet<Vec<u64>>) -> bool {
            if g.deadlock_capable(path) && r.contains(&sorted(path)) {
                return true;
            }
            if path.len() >= max {
                return false;
            }
            let last = *path.last().unwrap();
            let next: Vec<u64> = g.successors(last).map(|(n, _)| n).collect();
            next.into_iter().any(|n| {
                path.push(n);
                let found = search(g, path, max, r);
                path.pop();
                found
            })
        }
        search(self, &mut vec![from, to], max, reported)
    }
}

fn sorted(nodes: &[u64]) -> Vec<u64> {
    let mut v = nodes.to_vec();
    v.sort_unstable();
    v
}

/// Counts over a run, printed at its end (`--nocapture`): what the
/// generator reached.
#[derive(Default, Debug)]
struct Stats {
    cases: u64,
    /// The case (counted from 1) that failed first, if one did.
    first_failure: Option<u64>,
    steps: u64,
    cases_reporting: u64,
    class_reports: u64,
    instance_graph_reports: u64,
    instance_level_class_reports: u64,
    /// Reported walks that repeat a lock.
    repeating_walks: u64,
    /// Reports with no deadlock-capable simple cycle in the model.
    without_simple_cycle: u64,
    /// Changed edges closing a simple cycle whose report was a repeat.
    repeats_not_reported: u64,
    /// Changed edges that closed a cycle only under a common gate.
    gated_cycles: u64,
    renewed: u64,
    /// Locks made again while this thread held them.
    renewed_held: u64,
    /// Locks made again while another thread held them: that thread keeps
    /// the hold of a dropped lock.
    renewed_held_elsewhere: u64,
    out_of_order_releases: u64,
    /// Timed acquisitions of a lock another thread held, and of one this
    /// thread held.
    busy_timed: u64,
    self_deadlocks: u64,
}

/// The graph an edge or a report is in: the instance graph (else the class
/// graph).
const INSTANCE_GRAPH: bool = true;

struct Model {
    /// The class of each lock (slot).
    class_of: Vec<usize>,
    /// The class names of this case.
    names: Vec<String>,
    /// The instance each slot holds now (model numbers, never reused).
    inst_of: Vec<u64>,
    next_inst: u64,
    /// lockgraph's id of each instance taken at least once, and back.
    id_of: HashMap<u64, u64>,
    inst_by_id: HashMap<u64, u64>,
    /// Each worker's held locks, outermost first: (slot, instance). A hold
    /// whose instance is no longer its slot's is of a lock dropped while
    /// this thread held it (on another thread): it stays on the stack,
    /// never released (docs/design.md, "Edges into fresh locks": "A guard
    /// forgotten on *another* thread cannot hand its slot's flags over").
    held: Vec<Vec<(usize, u64)>>,
    /// The thread holding each held instance: a worker, or `None` for a
    /// thread that ended holding it (the lock stays locked).
    holder: HashMap<u64, Option<usize>>,
    /// The instances each worker's thread asked for while holding them.
    self_requested: Vec<HashSet<u64>>,
    /// Nodes: class numbers.
    classes: Graph,
    /// The instance pairs of each class edge.
    pairs: HashMap<(u64, u64), BTreeSet<(u64, u64)>>,
    /// Nodes: live instances.
    instances: Graph,
    /// The reported cycles' sorted nodes, per graph.
    reported: [HashSet<Vec<u64>>; 2],
    step: usize,
    first_report: Option<usize>,
    /// The first step that closed a deadlock-capable closed walk / simple
    /// cycle.
    first_walk: Option<usize>,
    first_simple: Option<usize>,
    stats: Stats,
}

impl Model {
    fn new(class_of: &[usize], names: Vec<String>, workers: usize) -> Model {
        let n = class_of.len() as u64;
        Model {
            class_of: class_of.to_vec(),
            names,
            inst_of: (0..n).collect(),
            next_inst: n,
            id_of: HashMap::new(),
            inst_by_id: HashMap::new(),
            held: vec![Vec::new(); workers],
            holder: HashMap::new(),
            self_requested: vec![HashSet::new(); workers],
            classes: Graph::default(),
            pairs: HashMap::new(),
            instances: Graph::default(),
            reported: [HashSet::new(), HashSet::new()],
            step: 0,
            first_report: None,
            first_walk: None,
            first_simple: None,
            stats: Stats::default(),
        }
    }

    /// The model's node of a report's lock: its instance in an
    /// instance-graph report, else its class.
    fn node(&self, graph: bool, lock: &(Option<&'static str>, Option<u64>)) -> Option<u64> {
        if graph == INSTANCE_GRAPH {
            self.inst_by_id.get(&lock.1?).copied()
        } else {
            let name = lock.0?;
            self.names.iter().position(|n| n == name).map(|c| c as u64)
        }
    }

    /// Which graph `r` comes from (instance-graph reports name every
    /// lock's instance) and its locks as the model's nodes.
    fn read(&self, r: &Seen) -> Result<(bool, Vec<u64>), String> {
        let graph = r.locks.iter().all(|l| l.1.is_some());
        if !graph && r.locks.iter().any(|l| l.1.is_some()) {
            return Err(format!("a class-graph report names instances: {r:?}"));
        }
        let nodes: Option<Vec<u64>> = r.locks.iter().map(|l| self.node(graph, l)).collect();
        let nodes =
            nodes.ok_or_else(|| format!("a report of locks this case does not have: {r:?}"))?;
        if nodes.len() < 2 {
            return Err(format!("a cycle of fewer than two locks: {r:?}"));
        }
        Ok((graph, nodes))
    }

    /// Whether worker `w` holds slot `slot`'s lock now.
    fn holds(&self, w: usize, slot: usize) -> bool {
        self.holder.get(&self.inst_of[slot]) == Some(&Some(w))
    }

    /// The slots of the locks worker `w` can release, outermost first
    /// (not those dropped since it took them).
    fn releasable(&self, w: usize) -> Vec<usize> {
        let held = self.held[w].iter();
        held.filter(|h| self.inst_of[h.0] == h.1)
            .map(|h| h.0)
            .collect()
    }

    /// `op` on worker `w` as a step, or `None` when it is skipped.
    fn resolve(
        &self,
        w: usize,
        op: Op,
        name_for: &mut dyn FnMut(usize) -> &'static str,
    ) -> Option<Step> {
        let taken = |slot: usize| self.holder.contains_key(&self.inst_of[slot]);
        let room = self.held[w].len() < MAX_HELD;
        match op {
            Op::Lock(i) => (!taken(i) && room).then_some(Step::Lock(i)),
            Op::LockFor(i) if self.holds(w, i) => Some(Step::LockForSelf(i)),
            Op::LockFor(i) if taken(i) => Some(Step::LockForBusy(i)),
            Op::LockFor(i) => room.then_some(Step::LockFor(i)),
            Op::TryLock(i) if taken(i) => Some(Step::TryHeld(i)),
            Op::TryLock(i) => room.then_some(Step::TryLock(i)),
            Op::Release(k) => {
                let can = self.releasable(w);
                (!can.is_empty()).then(|| Step::Release(can[can.len() - 1 - k % can.len()]))
            }
            Op::Renew(slot) => Some(Step::Renew {
                slot,
                held: self.holds(w, slot),
                name: name_for(slot),
            }),
        }
    }

    /// The releases that end a run of `script` on worker `w`.
    fn end_of(&self, w: usize, script: &Script) -> Vec<Step> {
        let mut can = if script.keep_end {
            Vec::new()
        } else {
            self.releasable(w)
        };
        if script.lifo_end {
            can.reverse();
        }
        can.into_iter().map(Step::Release).collect()
    }

    /// Worker `w`'s thread ended: what it held stays locked, held by no
    /// live thread; the new thread holds nothing.
    fn thread_ended(&mut self, w: usize) {
        for (_, inst) in std::mem::take(&mut self.held[w]) {
            if let Some(h) = self.holder.get_mut(&inst) {
                *h = None;
            }
        }
        self.self_requested[w].clear();
    }

    fn step(&mut self, w: usize, step: Step, out: Outcome) -> Result<(), String> {
        self.step += 1;
        let mut reports: VecDeque<Seen> = out.reports.into();
        if reports.iter().any(|r| r.kind == ReportKind::LockOrderCycle) {
            self.first_report.get_or_insert(self.step);
        }
        let took = |want: bool, what: &str| {
            if out.took == Some(want) {
                Ok(())
            } else {
                Err(format!("{what}: got the lock {:?}", out.took))
            }
        };
        let mut pushed = None;
        match step {
            Step::Lock(i) | Step::LockFor(i) => {
                if matches!(step, Step::LockFor(_)) {
                    took(true, "try_lock_for of a free lock")?;
                }
                self.acquire(w, i, &mut reports)?;
                pushed = Some(i);
            }
            Step::LockForBusy(i) => {
                // It waited, so its edges are recorded (docs/design.md:
                // `before_wait` before anything that can block), then it
                // gave up.
                self.stats.busy_timed += 1;
                took(false, "try_lock_for of a lock another thread holds")?;
                self.acquire(w, i, &mut reports)?;
            }
            Step::LockForSelf(i) => {
                // A self-deadlock, reported before it waits; no edges
                // ("the self-deadlock is the news", global/add_edges.rs).
                // Reported the first time this thread asks for the lock;
                // again, the chain cache may have it.
                self.stats.self_deadlocks += 1;
                took(false, "try_lock_for of a lock this thread holds")?;
                let inst = self.inst_of[i];
                let first = self.self_requested[w].insert(inst);
                let is_it = |r: &Seen| {
                    r.kind == ReportKind::SelfDeadlock { certain: true }
                        && r.locks.len() == 1
                        && r.locks[0].1 == self.id_of.get(&inst).copied()
                };
                match reports.front() {
                    Some(r) if is_it(r) => {
                        reports.pop_front();
                    }
                    _ if first => {
                        return Err(format!("a self-deadlock not reported: {reports:?}"));
                    }
                    _ => {}
                }
            }
            Step::TryLock(i) => {
                took(true, "try_lock of a free lock")?;
                pushed = Some(i);
            }
            Step::TryHeld(_) => took(false, "try_lock of a held lock")?,
            Step::Release(i) => {
                let inst = self.inst_of[i];
                let held = &mut self.held[w];
                let at = held.iter().position(|&h| h == (i, inst)).unwrap();
                if at + 1 != held.len() {
                    self.stats.out_of_order_releases += 1;
                }
                held.remove(at);
                self.holder.remove(&inst);
            }
            Step::Renew { slot, held, .. } => {
                self.stats.renewed += 1;
                let old = self.inst_of[slot];
                if held {
                    // Its drop takes it off this thread's stack
                    // (docs/design.md, "A lock dropped while this thread
                    // holds it (its guard forgotten)").
                    self.stats.renewed_held += 1;
                    self.held[w].retain(|&h| h != (slot, old));
                } else if self.holder.get(&old).is_some_and(|h| h.is_some()) {
                    self.stats.renewed_held_elsewhere += 1;
                }
                self.holder.remove(&old);
                self.instances.forget(old);
                self.inst_of[slot] = self.next_inst;
                self.next_inst += 1;
            }
        }
        if let Some(r) = reports.front() {
            return Err(format!(
                "a report the model does not expect at this step (no edge of it changed, \
                 or its walk cannot deadlock in the model): {r:?} (model nodes {:?})",
                self.read(r)
            ));
        }
        if let Some(slot) = pushed {
            let inst = self.inst_of[slot];
            self.held[w].push((slot, inst));
            self.holder.insert(inst, Some(w));
            let Some(&id) = out.held.last() else {
                return Err("held_lock_ids() is empty after an acquisition".into());
            };
            match self.id_of.get(&inst) {
                Some(&known) if known != id => {
                    return Err(format!("the lock's id changed from {known} to {id}"))
                }
                Some(_) => {}
                None => {
                    if let Some(other) = self.inst_by_id.insert(id, inst) {
                        return Err(format!("id {id} given to two locks ({other}, {inst})"));
                    }
                    self.id_of.insert(inst, id);
                }
            }
        }
        let want: Vec<u64> = self.held[w].iter().map(|h| self.id_of[&h.1]).collect();
        if out.held != want {
            return Err(format!(
                "held_lock_ids() is {:?}, the model holds {want:?}",
                out.held
            ));
        }
        Ok(())
    }

    /// The edges of a blocking acquisition of `slot`, one per held lock in
    /// the order they were taken, each checked against the reports (which
    /// come in the same order).
    fn acquire(
        &mut self,
        w: usize,
        slot: usize,
        reports: &mut VecDeque<Seen>,
    ) -> Result<(), String> {
        let target = self.inst_of[slot];
        let class = self.class_of[slot] as u64;
        for (j, &(held_slot, held)) in self.held[w].iter().enumerate() {
            let gates: BTreeSet<u64> = self.held[w]
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != j)
                .map(|(_, h)| h.1)
                .collect();
            let graph = self.class_of[held_slot] as u64 == class;
            let (from, to) = if graph == INSTANCE_GRAPH {
                (held, target)
            } else {
                let from = self.class_of[held_slot] as u64;
                self.pairs
                    .entry((from, class))
                    .or_default()
                    .insert((held, target));
                (from, class)
            };
            let g = if graph == INSTANCE_GRAPH {
                &mut self.instances
            } else {
                &mut self.classes
            };
            if !g.record(from, to, &gates) {
                continue;
            }
            let g = if graph == INSTANCE_GRAPH {
                &self.instances
            } else {
                &self.classes
            };
            let simple = g.shortest_simple(from, to);
            let walk = g.shortest_walk(from, to);
            if walk.is_some() {
                self.first_walk.get_or_insert(self.step);
            }
            if simple.is_some() {
                self.first_simple.get_or_insert(self.step);
            }
            if walk.is_none() && g.ungated().shortest_walk(from, to).is_some() {
                self.stats.gated_cycles += 1;
            }
            // A report names its closing edge's two ends, not which
            // recording of the acquisition closed it (two held locks of one
            // class both record its class edge, the second with fewer
            // gates): it belongs to the first recording after which its
            // walk can deadlock in the model. One that never can is left
            // over, and fails below.
            let closes = match reports.front() {
                Some(r) => {
                    let (rg, nodes) = self.read(r)?;
                    rg == graph && nodes[0] == from && nodes[1] == to && g.deadlock_capable(&nodes)
                }
                None => false,
            };
            if closes {
                let r = reports.pop_front().unwrap();
                let (_, nodes) = self.read(&r)?;
                let why = |what: &str| format!("{what}: {r:?} (model nodes {nodes:?})");
                if r.kind != ReportKind::LockOrderCycle {
                    return Err(why("not a lock-order cycle"));
                }
                let len = nodes.len();
                if walk.is_none_or(|w| len < w) {
                    return Err(why(&format!(
                        "shorter than any deadlock-capable walk ({walk:?})"
                    )));
                }
                match simple {
                    Some(s) if len > s => {
                        return Err(why(&format!("longer than the shortest cycle ({s})")))
                    }
                    None => self.stats.without_simple_cycle += 1,
                    Some(_) => {}
                }
                if sorted(&nodes).windows(2).any(|w| w[0] == w[1]) {
                    self.stats.repeating_walks += 1;
                }
                if !self.reported[graph as usize].insert(sorted(&nodes)) {
                    return Err(why("a cycle reported twice"));
                }
                if graph == INSTANCE_GRAPH {
                    self.stats.instance_graph_reports += 1;
                    let name = self.names[class as usize].as_str();
                    if r.level != Level::Instance || r.locks.iter().any(|l| l.0 != Some(name)) {
                        return Err(why("an instance-graph cycle not of the one class"));
                    }
                } else {
                    self.stats.class_reports += 1;
                    if r.level == Level::Instance {
                        self.stats.instance_level_class_reports += 1;
                        if !self.instances_chain(&nodes, held, target) {
                            return Err(why(
                                "instance-level, but no instance pairs chain round the cycle",
                            ));
                        }
                    }
                }
            } else if let Some(s) = simple {
                // Not reported: only because an equally short walk was.
                if !g.reported_walk(from, to, s, &self.reported[graph as usize]) {
                    return Err(format!(
                        "edge {from} -> {to} ({}) closed a deadlock-capable cycle of {s} \
                         locks and nothing was reported",
                        if graph { "instances" } else { "classes" }
                    ));
                }
                self.stats.repeats_not_reported += 1;
            }
        }
        Ok(())
    }

    /// Whether instance pairs of the class cycle `nodes` chain from the
    /// closing pair's target back to its source.
    fn instances_chain(&self, nodes: &[u64], from: u64, to: u64) -> bool {
        let mut current = BTreeSet::from([to]);
        for i in 1..nodes.len() {
            let edge = (nodes[i], nodes[(i + 1) % nodes.len()]);
            let pairs = self.pairs.get(&edge).cloned().unwrap_or_default();
            current = pairs
                .iter()
                .filter(|(x, _)| current.contains(x))
                .map(|&(_, y)| y)
                .collect();
        }
        current.contains(&from)
    }

    /// The program-wide property: lockgraph reports at least one cycle iff
    /// the model's graphs ever had a deadlock-capable one, and the first
    /// report comes at the step that closed the first.
    fn finish(&self) -> Result<(), String> {
        let (r, w, s) = (self.first_report, self.first_walk, self.first_simple);
        let ok = match (r, w, s) {
            (None, None, _) => true,
            (None, Some(_), None) => true,
            (Some(r), Some(w), s) => w <= r && s.is_none_or(|s| r <= s),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "first report at step {r:?}, first deadlock-capable walk at {w:?}, \
                 first simple cycle at {s:?}"
            ))
        }
    }
}

// ---- the properties --------------------------------------------------------

/// Numbers each case's classes apart from every other case's.
static CASE: AtomicU64 = AtomicU64::new(0);

/// Runs the runs of `program`: each step resolved against the model's state
/// after the last one, run on its worker and checked; `trace` says what
/// ran.
fn run_program(
    program: &Program,
    workers: &mut Workers,
    model: &mut Model,
    trace: &mut String,
    name_for: &mut dyn FnMut(usize) -> &'static str,
) -> Result<(), String> {
    for (n, &(script, w, new_thread)) in program.runs.iter().enumerate() {
        let (s, w) = (script % program.scripts.len(), w % program.workers);
        let script = &program.scripts[s];
        if new_thread {
            workers.renew(w);
            model.thread_ended(w);
        }
        let new = if new_thread { " (a new thread)" } else { "" };
        *trace += &format!("\nrun {n}: script {s} on worker {w}{new}:");
        for _ in 0..script.repeat {
            for &op in &script.ops {
                let Some(step) = model.resolve(w, op, name_for) else {
                    continue;
                };
                run_step_on(workers, model, trace, w, step).map_err(|e| format!("run {n}: {e}"))?;
            }
            for step in model.end_of(w, script) {
                run_step_on(workers, model, trace, w, step).map_err(|e| format!("run {n}: {e}"))?;
            }
        }
    }
    Ok(())
}

fn run_step_on(
    workers: &Workers,
    model: &mut Model,
    trace: &mut String,
    w: usize,
    step: Step,
) -> Result<(), String> {
    *trace += &format!(" {step:?}");
    let out = workers.run(w, vec![step]).pop().unwrap();
    model
        .step(w, step, out)
        .map_err(|e| format!("{step:?}: {e}"))
}

/// Runs `program` and checks it step by step; adds its counts to `stats`.
fn check(program: &Program, stats: &StdMutex<Stats>) -> Result<(), TestCaseError> {
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    let classes = program.class_of.iter().max().map_or(0, |c| c + 1);
    let names: Vec<String> = (0..classes)
        .map(|c| format!("differential-{case}-class-{c}"))
        .collect();
    let leak = |c: usize| -> &'static str { Box::leak(names[c].clone().into_boxed_str()) };
    let shared: Vec<&'static str> = (0..classes).map(leak).collect();
    let mut name_for = |slot: usize| {
        let c = program.class_of[slot];
        if program.shared_names {
            shared[c]
        } else {
            leak(c)
        }
    };
    let locks: Locks = Arc::new(StdMutex::new(
        (0..program.class_of.len())
            .map(|slot| Lock::new(program.kind_of[slot], name_for(slot)))
            .collect(),
    ));
    let mut workers = Workers::start(program.workers, &locks);
    let mut model = Model::new(&program.class_of, names.clone(), program.workers);
    let mut trace = String::new();
    let result = run_program(program, &mut workers, &mut model, &mut trace, &mut name_for);
    workers.stop();
    drop(locks);
    let result = result.and_then(|()| model.finish());
    let mut s = stats.lock().unwrap();
    let m = &model.stats;
    s.cases += 1;
    if result.is_err() && s.first_failure.is_none() {
        s.first_failure = Some(s.cases);
    }
    s.steps += model.step as u64;
    s.cases_reporting += u64::from(model.first_report.is_some());
    s.class_reports += m.class_reports;
    s.instance_graph_reports += m.instance_graph_reports;
    s.instance_level_class_reports += m.instance_level_class_reports;
    s.repeating_walks += m.repeating_walks;
    s.without_simple_cycle += m.without_simple_cycle;
    s.repeats_not_reported += m.repeats_not_reported;
    s.gated_cycles += m.gated_cycles;
    s.renewed += m.renewed;
    s.renewed_held += m.renewed_held;
    s.renewed_held_elsewhere += m.renewed_held_elsewhere;
    s.busy_timed += m.busy_timed;
    s.self_deadlocks += m.self_deadlocks;
    s.out_of_order_releases += m.out_of_order_releases;
    result.map_err(|e| {
        let full = if lockgraph::stats().full {
            "\n(lockgraph's tables are full: raise LOCKGRAPH_MAX_CLASSES / LOCKGRAPH_MAX_EDGES)"
        } else {
            ""
        };
        TestCaseError::fail(format!("{e}\n{trace}{full}"))
    })
}

fn run(one_class_each: bool) {
    let cases = match std::env::var("PROPTEST_CASES") {
        Ok(v) => v.parse().expect("PROPTEST_CASES: a number"),
        Err(_) => DEFAULT_CASES,
    };
    // Both properties run in this process: each case makes up to
    // MAX_LOCKS classes, which stay in the class graph.
    let limit = lockgraph::Limits::current().classes;
    assert!(
        2 * cases as usize * MAX_LOCKS + 1_000 < limit,
        "{cases} cases per property may make more classes than LOCKGRAPH_MAX_CLASSES ({limit}) \
         allows: raise it"
    );
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let stats = StdMutex::new(Stats::default());
    let started = std::time::Instant::now();
    let result = TestRunner::new(config).run(&program(one_class_each), |p| check(&p, &stats));
    eprintln!(
        "differential ({}): {:?} in {:.1?}",
        if one_class_each {
            "one class per lock"
        } else {
            "classes, instances, renewed locks"
        },
        stats.lock().unwrap(),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Every lock a class of its own: the class graph alone, with gates.
#[test]
fn one_class_per_lock_agrees_with_the_model() {
    run(true);
}

/// Several locks per class (the instance graph, fresh locks' buffered
/// edges), locks dropped and made again, held or not.
#[test]
fn classes_instances_and_renewed_locks_agree_with_the_model() {
    run(false);
}

// ---- regressions: cases the properties found, shrunk ------------------------

/// Runs one program through the same checks.
fn replay(program: Program) {
    let stats = StdMutex::new(Stats::default());
    if let Err(e) = check(&program, &stats) {
        panic!("{e}");
    }
}

/// A program of `class_of` locks whose scripts run once each, in order,
/// on worker 0, releasing what is left first taken first.
fn one_worker(class_of: Vec<usize>, scripts: Vec<Vec<Op>>) -> Program {
    Program {
        kind_of: vec![Kind::Mutex; class_of.len()],
        class_of,
        workers: 1,
        runs: (0..scripts.len()).map(|s| (s, 0, false)).collect(),
        scripts: scripts
            .into_iter()
            .map(|ops| Script {
                ops,
                lifo_end: false,
                keep_end: false,
                repeat: 1,
            })
            .collect(),
        shared_names: false,
    }
}

/// Two held locks of one class (`a0`, `a1`) record one class edge `A -> B`
/// in one acquisition, each with the other as its gate: the second
/// recording loses the gate and closes `A -> B -> A` (`B -> A` was recorded
/// under `a1`). The report names the edge, not the recording (a first
/// model matched it to the first one, where the cycle is still gated).
#[test]
fn a_class_edge_recorded_twice_in_one_acquisition_closes_the_cycle_at_the_second() {
    use Op::*;
    replay(one_worker(
        vec![0, 0, 1],
        vec![
            vec![Lock(1), TryLock(2), Lock(0)],
            vec![Lock(0), Lock(1), Lock(2)],
        ],
    ));
}

/// The same with a walk through the closing edge's tail: after the first
/// recording of `A -> C` (gate `a1`) the walk `A C A B A` has no common gate
/// but passes through `A` twice, which lockgraph's search does not do
/// (allowed: the model only requires a report for a simple cycle); the
/// second recording closes `A -> C -> A` and is reported. Also an
/// out-of-order release and a timed lock.
#[test]
fn a_walk_through_the_closing_edges_tail_need_not_be_reported() {
    use Op::*;
    replay(one_worker(
        vec![1, 0, 0, 0, 2],
        vec![
            vec![Lock(1), TryLock(4), Lock(0), Lock(2)],
            vec![Lock(1), Lock(2), Release(1), LockFor(1), Lock(4)],
        ],
    ));
}

/// Lockgraph's search finds the shortest *walk* through the closing edge
/// with no gate common to all its edges, and a walk may pass through one
/// lock twice. Here `a -> b` and `b -> a` were both taken under `g`, `b ->
/// c` and `c -> b` both under `h`: each cycle is gated, and no deadlock is
/// possible (it would need two threads holding `b` at once). The walk
/// `c b a b` has no common gate, and is reported when `c -> b` closes it.
/// The document's rule ("the shortest walk", docs/design.md "The cycle
/// search") allows it; it is not a cycle of the program.
#[test]
#[ignore = "false positive: the graph crate's strong_path search (crates/lockgraph-graph/src/lib.rs) \
            accepts walks that repeat a lock; a search for simple cycles only is not a local change"]
fn a_walk_through_one_lock_twice_under_two_gates_is_no_deadlock() {
    let g = Mutex::named("differential-walk-g", ());
    let h = Mutex::named("differential-walk-h", ());
    let a = Mutex::named("differential-walk-a", ());
    let b = Mutex::named("differential-walk-b", ());
    let c = Mutex::named("differential-walk-c", ());
    let nest = |gate: &Mutex<()>, x: &Mutex<()>, y: &Mutex<()>| {
        let _g = gate.lock();
        let _x = x.lock();
        let _y = y.lock();
    };
    let reports = capture(|| {
        nest(&g, &a, &b);
        nest(&g, &b, &a);
        nest(&h, &b, &c);
        nest(&h, &c, &b);
    });
    let walks: Vec<Vec<&str>> = reports
        .iter()
        .map(|r| r.locks.iter().map(|l| l.name.unwrap_or("?")).collect())
        .collect();
    assert!(walks.is_empty(), "reported: {walks:?}");
}

/// The level of a class-graph cycle is judged from the sample instance
/// pairs its edges keep (docs/design.md: "the first four instance pairs of
/// each edge"). A pair whose chain the thread's cache already holds (one
/// lock held, another class: the key names the two classes, no ids) never
/// reaches the graph, so it is not sampled: `a2 -> b2` after `a1 -> b1`
/// below, and the inversion of these very locks (`b2 -> a2`) is labelled
/// class-level although it is the second pair of its edge.
#[test]
#[ignore = "docs ambiguous, label only: design.md counts 'the first four instance pairs of each \
            edge', but a pair the chain cache covers (one held lock of another class is keyed by the \
            two classes alone, state/chain.rs) never reaches the graph and is not sampled"]
fn the_second_pair_of_an_edge_inverted_is_an_instance_level_cycle() {
    let a1 = Mutex::named("differential-level-a", ());
    let a2 = Mutex::named("differential-level-a", ());
    let b1 = Mutex::named("differential-level-b", ());
    let b2 = Mutex::named("differential-level-b", ());
    let nest = |x: &Mutex<()>, y: &Mutex<()>| {
        let _x = x.lock();
        let _y = y.lock();
    };
    let reports = capture(|| {
        nest(&a1, &b1);
        nest(&a2, &b2);
        nest(&b2, &a2);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].level, Level::Instance, "{reports:#?}");
}
