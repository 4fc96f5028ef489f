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
//! (docs/design.md, "The cycle search"): no gate held on two of its edges.
//! The model's holds are all exclusive, so taking a loop out of such a
//! walk leaves one, and the shortest is a simple cycle. The model requires
//! a report when a deadlock-capable simple cycle goes through the changed
//! edge (unless a walk no longer than it was reported before), forbids one
//! when no deadlock-capable closed walk does (any locks repeated), and a
//! reported walk must be a deadlock-capable simple cycle in the model,
//! start with the changed edge and be as short as the shortest (the rule's
//! first form, no gate common to *all* edges, reported walks through one
//! lock twice: `a_walk_through_one_lock_twice_under_two_gates_is_no_deadlock`).
//!
//! Checked after every step: each report is a lock-order cycle of this
//! case's locks, deadlock-capable in the model, closed by an edge this
//! step changed, a simple cycle no longer than the shortest through it, at
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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use lockgraph::{capture, Level, Mutex};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

mod graph;
mod model;
mod program;

use graph::*;
use model::*;
use program::*;

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

// ---- the properties --------------------------------------------------------

/// Numbers each case's classes apart from every other case's.
pub(crate) static CASE: AtomicU64 = AtomicU64::new(0);

/// Runs the runs of `program`: each step resolved against the model's state
/// after the last one, run on its worker and checked; `trace` says what
/// ran.
pub(crate) fn run_program(
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

pub(crate) fn run_step_on(
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
pub(crate) fn check(program: &Program, stats: &StdMutex<Stats>) -> Result<(), TestCaseError> {
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

pub(crate) fn run(one_class_each: bool) {
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
pub(crate) fn one_class_per_lock_agrees_with_the_model() {
    run(true);
}

/// Several locks per class (the instance graph, fresh locks' buffered
/// edges), locks dropped and made again, held or not.
#[test]
pub(crate) fn classes_instances_and_renewed_locks_agree_with_the_model() {
    run(false);
}

// ---- regressions: cases the properties found, shrunk ------------------------

/// Runs one program through the same checks.
pub(crate) fn replay(program: Program) {
    let stats = StdMutex::new(Stats::default());
    if let Err(e) = check(&program, &stats) {
        panic!("{e}");
    }
}

/// A program of `class_of` locks whose scripts run once each, in order,
/// on worker 0, releasing what is left first taken first.
pub(crate) fn one_worker(class_of: Vec<usize>, scripts: Vec<Vec<Op>>) -> Program {
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
pub(crate) fn a_class_edge_recorded_twice_in_one_acquisition_closes_the_cycle_at_the_second() {
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
/// recording of `A -> C` (gate `a1`) the walk `A C A B A` has no gate
/// common to all its edges (the gate rule's first form, under which the
/// model had to allow lockgraph's search, which never passes through the
/// tail, not to report it); it holds `a1` on `A -> C` and `C -> A`, so
/// under the exact rule it is no deadlock. The second recording closes
/// `A -> C -> A` and is reported. Also an out-of-order release and a timed
/// lock.
#[test]
pub(crate) fn a_walk_through_the_closing_edges_tail_need_not_be_reported() {
    use Op::*;
    replay(one_worker(
        vec![1, 0, 0, 0, 2],
        vec![
            vec![Lock(1), TryLock(4), Lock(0), Lock(2)],
            vec![Lock(1), Lock(2), Release(1), LockFor(1), Lock(4)],
        ],
    ));
}

/// Lockgraph's search finds the shortest *walk* through the closing edge,
/// and a walk may pass through one lock twice. Here `a -> b` and `b -> a`
/// were both taken under `g`, `b -> c` and `c -> b` both under `h`: each
/// cycle is gated, and no deadlock is possible. The walk `c b a b` has no
/// gate common to all its edges (the rule's first form, which reported
/// it), but `g` is held on two of its edges and so is `h`: the two threads
/// that would take them cannot both hold the gate (docs/design.md, "The
/// cycle search").
#[test]
pub(crate) fn a_walk_through_one_lock_twice_under_two_gates_is_no_deadlock() {
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

/// The label of a class cycle is judged from the instance pairs sampled:
/// the second pair of `a -> b` on this thread hits the chain cache (one
/// held lock of the other class is keyed by the two classes), is not
/// sampled, and the cycle these very locks close is labelled class-level
/// ("possibly different instances"), as docs/design.md, "What is not
/// covered", says.
#[test]
fn the_second_pair_of_an_edge_inverted_is_labelled_from_the_pairs_sampled() {
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
    assert_eq!(reports[0].level, Level::Class, "{reports:#?}");
}
