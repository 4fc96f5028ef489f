//! A forked child's names for the thread that forked.

use super::*;

/// On a new unnamed thread: `parent`, then a fork whose child runs `child`
/// on that thread, flushes its reports and exits. Prints the thread's id in
/// the parent (`PARENT TID`) and the child's pid (`CHILD`), which is the
/// thread's id in the child (the only thread a forked child starts with).
/// What `child` uses must not live on another thread's stack (see
/// [`LABEL_A`]).
fn fork_on_an_unnamed_thread(parent: impl FnOnce() + Send, child: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        s.spawn(|| {
            parent();
            // SAFETY: gettid has no preconditions.
            println!("PARENT TID {}", unsafe { sys::gettid() });
            let pid = fork(|| {
                child();
                i32::from(!lockgraph_core::flush_reports(Duration::from_secs(30)))
            });
            assert_eq!(wait_for(pid, Duration::from_secs(60)), Some(0));
            println!("CHILD {pid}");
        });
    });
}

/// Runs child test `test` with the graph on and cycles warned about: the
/// ids of the unnamed threads its first cycle report's edges name, in
/// order, and the `PARENT TID` and `CHILD` it printed.
fn edge_thread_ids(test: lockgraph_testkit::Child) -> (Vec<String>, String, String) {
    let out = test
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_ON_CYCLE", "warn")
        .deadline(Duration::from_secs(90))
        .run();
    assert!(out.success(), "{}", out.both());
    let e = &out.stderr;
    let at = e
        .find("how each edge was recorded:")
        .unwrap_or_else(|| panic!("no cycle report:\n{}", out.both()));
    let end = e[at..].find("how it deadlocks").map_or(e.len(), |n| at + n);
    let tids = e[at..end]
        .split("unnamed, tid ")
        .skip(1)
        .map(|r| r.split('`').next().unwrap_or("").to_string())
        .collect();
    let (parent, child) = (
        printed_pid(&out, "PARENT TID "),
        printed_pid(&out, "CHILD "),
    );
    (tids, parent, child)
}

/// The locks of the next test: statics, not on the test thread's stack,
/// which a forked child's C library reuses for the first thread it starts
/// (here the reporter's): the test thread does not exist there.
static LABEL_A: Mutex<()> = Mutex::named("fork-label-a", ());
static LABEL_B: Mutex<()> = Mutex::named("fork-label-b", ());

#[test]
fn child_unnamed_thread_forks_after_an_edge() {
    if !is_child() {
        return;
    }
    fork_on_an_unnamed_thread(
        // Its label, made at its first edge, in the parent.
        || drop((LABEL_A.lock(), LABEL_B.lock())),
        // The other order, in the child: the cycle's closing edge.
        || drop((LABEL_B.lock(), LABEL_A.lock())),
    );
}

/// A forked child names the thread that forked by the child's thread id:
/// an unnamed thread's label, made at its first edge in the parent, named
/// the parent's thread (found by an outside review).
#[test]
fn a_forked_unnamed_thread_is_named_by_the_childs_thread_id() {
    if is_child() {
        return;
    }
    let (tids, parent, child) = edge_thread_ids(child!(child_unnamed_thread_forks_after_an_edge));
    // The child's closing edge first, then the parent's.
    assert_eq!(tids, [child, parent]);
}

type Atom = Arc<lockgraph::RwLock<std::collections::HashSet<u32>>>;

/// A thread named `fork-checker` checks then acts on `map`, and this thread
/// writes it in between: the name of the writer that the checker's report
/// gives. `second`: the check and the act at other sites (a report is
/// given once per pair of sites, and a forked child inherits that set).
fn interleaved_writer(map: &Atom, second: bool) -> Option<String> {
    let (checked, go) = std::sync::mpsc::channel();
    let (wrote, done) = std::sync::mpsc::channel();
    let m = Arc::clone(map);
    let checker = spawn_named("fork-checker", move || {
        lockgraph::capture_atomicity(|| {
            let missing = if second {
                !m.read().contains(&1)
            } else {
                !m.read().contains(&2)
            };
            checked.send(()).unwrap();
            done.recv().unwrap();
            if missing && second {
                m.write().insert(1);
            } else if missing {
                m.write().insert(2);
            }
        })
    });
    go.recv().unwrap();
    map.write().insert(0);
    wrote.send(()).unwrap();
    let reports = checker.join().unwrap();
    reports
        .first()
        .and_then(|r| r.interleaving.as_ref())
        .map(|w| w.thread.clone())
}

#[test]
fn child_unnamed_writer_forks() {
    if !is_child() {
        return;
    }
    lockgraph::set_atomicity(lockgraph::Atomicity::Warn);
    let map: Atom = Arc::new(lockgraph::RwLock::named(
        "fork-atom",
        std::collections::HashSet::new(),
    ));
    // An unnamed thread writes between a check and its act in the parent
    // (the checker names it then), and forks; in the child it does again.
    std::thread::spawn(move || {
        println!("PARENT WRITER {:?}", interleaved_writer(&map, false));
        // SAFETY: gettid has no preconditions.
        println!("PARENT TID {}", unsafe { sys::gettid() });
        let pid = fork(move || {
            println!("FORKED WRITER {:?}", interleaved_writer(&map, true));
            0
        });
        assert_eq!(wait_for(pid, Duration::from_secs(60)), Some(0));
        println!("CHILD {pid}");
    })
    .join()
    .unwrap();
}

/// The atomicity checker names the forking thread, in the child, by the
/// child's thread id (it kept the name it was given in the parent).
#[test]
fn a_forked_unnamed_writer_is_named_by_the_childs_thread_id() {
    if is_child() || !lockgraph::TRACKING {
        return;
    }
    let out = child!(child_unnamed_writer_forks)
        .deadline(Duration::from_secs(90))
        .run();
    assert!(out.success(), "{}", out.both());
    let name = |tid: String| format!("Some(\"unnamed, tid {tid}\")");
    let (parent, child) = (
        printed_pid(&out, "PARENT TID "),
        printed_pid(&out, "CHILD "),
    );
    assert_eq!(
        printed_pid(&out, "PARENT WRITER "),
        name(parent),
        "{}",
        out.both()
    );
    assert_eq!(
        printed_pid(&out, "FORKED WRITER "),
        name(child),
        "{}",
        out.both()
    );
}

#[test]
fn child_unnamed_thread_buffers_then_forks() {
    if !is_child() {
        return;
    }
    // Two new locks of one class, nested: an edge into a fresh lock, kept
    // in the thread's young-edge buffer, which takes its label.
    let pair = || {
        (
            Mutex::named("fork-young", ()),
            Mutex::named("fork-young", ()),
        )
    };
    fork_on_an_unnamed_thread(
        || {
            let (a, b) = pair();
            drop((a.lock(), b.lock()));
        },
        // The same in the child, then the other order: an instance cycle
        // whose both edges are this thread's in the child.
        || {
            let (a, b) = pair();
            drop((a.lock(), b.lock()));
            drop((b.lock(), a.lock()));
        },
    );
}

/// The same through the young-edge buffer (edges into fresh locks of one
/// class), whose label the thread that forked had set in the parent.
#[test]
fn a_forked_unnamed_threads_buffered_edges_are_named_by_the_childs_thread_id() {
    if is_child() {
        return;
    }
    let (tids, _, child) = edge_thread_ids(child!(child_unnamed_thread_buffers_then_forks));
    assert_eq!(tids, [child.clone(), child]);
}
