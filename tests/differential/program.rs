//! The programs a property runs (operations, scripts, their strategies)
//! and the worker threads that run them a step at a time.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lockgraph::{capture, FairMutex, Level, Mutex, ReportKind, RwLock};
use proptest::prelude::*;

use crate::*;

// ---- programs --------------------------------------------------------------

/// One operation of a script, before it is resolved against who holds
/// what ([`Model::resolve`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
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
pub(crate) struct Script {
    pub(crate) ops: Vec<Op>,
    /// Whether the locks still held at the end are released last first
    /// (else first first).
    pub(crate) lifo_end: bool,
    /// Whether the locks still held at the end stay held (their guards
    /// forgotten): the thread holds them into its next script, and other
    /// threads find them taken until they are made again.
    pub(crate) keep_end: bool,
    /// How many times the thread runs it in a row (the second time mostly
    /// repeats chains the first recorded).
    pub(crate) repeat: usize,
}

/// The kind of a lock: each takes its own way through the core (the fair
/// mutex's fair unlock, the write lock's own raw calls), and a class may
/// have locks of several kinds (one name). Every hold is exclusive, so the
/// model does not tell them apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Mutex,
    FairMutex,
    /// `write()` only.
    RwLock,
}

#[derive(Clone, Debug)]
pub(crate) struct Program {
    /// The class of each lock.
    pub(crate) class_of: Vec<usize>,
    /// The kind of each lock (a lock made again keeps its kind).
    pub(crate) kind_of: Vec<Kind>,
    pub(crate) workers: usize,
    pub(crate) scripts: Vec<Script>,
    /// What runs, one after another: (script, worker, on a new thread),
    /// script and worker modulo their numbers (a script may run several
    /// times, on one thread or on several). On a new thread: the worker's
    /// thread ends before the run and a new one takes its place.
    pub(crate) runs: Vec<(usize, usize, bool)>,
    /// Whether the locks of a class share one name string (else each lock
    /// gets a copy of its own: one class by content, not by address).
    pub(crate) shared_names: bool,
}

pub(crate) fn op(locks: usize, renew: bool) -> BoxedStrategy<Op> {
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
pub(crate) fn program(one_class_each: bool) -> impl Strategy<Value = Program> {
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
pub(crate) enum Step {
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
pub(crate) struct Seen {
    pub(crate) kind: ReportKind,
    pub(crate) level: Level,
    /// Each lock's name and instance, in cycle order.
    pub(crate) locks: Vec<(Option<&'static str>, Option<u64>)>,
}

/// What one step did.
pub(crate) struct Outcome {
    pub(crate) reports: Vec<Seen>,
    /// `held_lock_ids()` after the step.
    pub(crate) held: Vec<u64>,
    /// Whether a `try_lock`/`try_lock_for` got the lock.
    pub(crate) took: Option<bool>,
}

/// A lock of one of the [`Kind`]s, taken with its guard forgotten.
pub(crate) enum Lock {
    Mutex(Mutex<()>),
    FairMutex(FairMutex<()>),
    RwLock(RwLock<()>),
}

impl Lock {
    pub(crate) fn new(kind: Kind, name: &'static str) -> Lock {
        match kind {
            Kind::Mutex => Lock::Mutex(Mutex::named(name, ())),
            Kind::FairMutex => Lock::FairMutex(FairMutex::named(name, ())),
            Kind::RwLock => Lock::RwLock(RwLock::named(name, ())),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Lock::Mutex(_) => Kind::Mutex,
            Lock::FairMutex(_) => Kind::FairMutex,
            Lock::RwLock(_) => Kind::RwLock,
        }
    }

    pub(crate) fn lock(&self) {
        match self {
            Lock::Mutex(l) => std::mem::forget(l.lock()),
            Lock::FairMutex(l) => std::mem::forget(l.lock()),
            Lock::RwLock(l) => std::mem::forget(l.write()),
        }
    }

    /// A timed acquisition; whether it got the lock.
    pub(crate) fn lock_for(&self, timeout: Duration) -> bool {
        match self {
            Lock::Mutex(l) => l.try_lock_for(timeout).map(std::mem::forget).is_some(),
            Lock::FairMutex(l) => l.try_lock_for(timeout).map(std::mem::forget).is_some(),
            Lock::RwLock(l) => l.try_write_for(timeout).map(std::mem::forget).is_some(),
        }
    }

    /// Whether `try_lock` got the lock.
    pub(crate) fn try_lock(&self) -> bool {
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
pub(crate) type Locks = Arc<StdMutex<Vec<Lock>>>;

pub(crate) fn run_step(locks: &mut [Lock], step: Step) -> Outcome {
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
pub(crate) struct Workers {
    pub(crate) locks: Locks,
    /// Each worker's job queue and thread.
    pub(crate) threads: Vec<(Sender<Vec<Step>>, JoinHandle<()>)>,
    pub(crate) done_tx: Sender<Vec<Outcome>>,
    pub(crate) done: Receiver<Vec<Outcome>>,
}

impl Workers {
    pub(crate) fn start(n: usize, locks: &Locks) -> Workers {
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

    pub(crate) fn spawn(&self) -> (Sender<Vec<Step>>, JoinHandle<()>) {
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
    pub(crate) fn renew(&mut self, w: usize) {
        let fresh = self.spawn();
        let (tx, thread) = std::mem::replace(&mut self.threads[w], fresh);
        drop(tx);
        thread.join().unwrap();
    }

    pub(crate) fn run(&self, worker: usize, steps: Vec<Step>) -> Vec<Outcome> {
        self.threads[worker].0.send(steps).unwrap();
        self.done.recv().expect("a worker thread died")
    }

    pub(crate) fn stop(self) {
        for (tx, thread) in self.threads {
            drop(tx);
            thread.join().unwrap();
        }
    }
}
