//! `fork()` while other threads use lockgraph: the child process can lock
//! (lockgraph's own locks are not left held by threads that do not exist in
//! the child), and the watchdog and the reporter keep working there.
//! Each case runs in a child process with a deadline (`lockgraph_testkit`),
//! with the lock-order graph on (`LOCKGRAPH_ORDER=on`, also in a
//! `watchdog-in-release` build).
#![cfg(all(
    target_os = "linux",
    any(debug_assertions, feature = "track-in-release")
))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, spawn_named, END};

/// The few C library calls a fork test needs (Linux x86-64 and aarch64
/// signatures; `pid_t` is `i32`).
mod sys {
    use std::ffi::c_int;

    pub const WNOHANG: c_int = 1;
    pub const SIGKILL: c_int = 9;

    extern "C" {
        pub fn fork() -> i32;
        pub fn waitpid(pid: i32, status: *mut c_int, options: c_int) -> i32;
        pub fn kill(pid: i32, sig: c_int) -> c_int;
        pub fn _exit(code: c_int) -> !;
        pub fn gettid() -> i32;
    }
}

/// Forks; the child runs `child` and exits with its code (never returning
/// here). Returns the child's pid.
fn fork(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `child` (lockgraph locks, allocation,
    // thread creation: the C library and lockgraph's fork handlers make
    // these usable in the child) and exits with `_exit`, without unwinding
    // or running the parent's exit handlers.
    let pid = unsafe { sys::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: ends the child process; nothing of it runs after.
        unsafe { sys::_exit(code) };
    }
    pid
}

/// Waits for `pid` up to `limit`: `Some(exit status)`, or `None` when it
/// was still running (then it is killed).
fn wait_for(pid: i32, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our child.
        let r = unsafe { sys::waitpid(pid, &mut status, sys::WNOHANG) };
        if r == pid {
            return Some(status);
        }
        if Instant::now() >= end {
            // SAFETY: `pid` is our child, not yet reaped.
            unsafe {
                sys::kill(pid, sys::SIGKILL);
                sys::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A thread that records lock-order edges without pause (two new locks of
/// one class, nested, then dropped: the graph lock on every step) until the
/// flag is set.
fn busy_recorder(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    spawn_named("recorder", move || {
        while !stop.load(Ordering::Relaxed) {
            let a = Mutex::named("fork-recorded", ());
            let b = Mutex::named("fork-recorded", ());
            let _a = a.lock();
            let _b = b.lock();
        }
    })
}

/// Forks up to 40 times while `busy` (started with a stop flag) keeps
/// lockgraph's own locks busy; each child nests two new locks named
/// `names` (so it records an edge) and exits 0. Prints `HUNG n of 40` for
/// the parent test: a child that did not exit within 3 s hung.
fn fork_while(
    busy: fn(Arc<AtomicBool>) -> std::thread::JoinHandle<()>,
    names: (&'static str, &'static str),
) {
    let stop = Arc::new(AtomicBool::new(false));
    let busy = busy(Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(20));
    let mut hung = 0;
    let tries = 40;
    for _ in 0..tries {
        let pid = fork(|| {
            let a = Mutex::named(names.0, ());
            let b = Mutex::named(names.1, ());
            let _a = a.lock();
            let _b = b.lock();
            0
        });
        match wait_for(pid, Duration::from_secs(3)) {
            Some(0) => {}
            Some(status) => panic!("the forked child failed: status {status}"),
            None => hung += 1,
        }
        if hung > 0 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
    println!("HUNG {hung} of {tries}");
}

#[test]
fn child_fork_while_recording() {
    if !is_child() {
        return;
    }
    // New locks, nested: the child records edges (the graph lock).
    fork_while(busy_recorder, ("fork-child-a", "fork-child-b"));
}

#[test]
fn a_child_forked_while_another_thread_records_edges_can_lock() {
    if is_child() {
        return;
    }
    let out = child!(child_fork_while_recording)
        .env("LOCKGRAPH_ORDER", "on")
        .deadline(Duration::from_secs(60))
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(out.stdout.contains("HUNG 0 of 40"), "{}", out.both());
}

#[test]
fn child_watchdog_after_fork() {
    if !is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-fork-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(lockgraph::watchdog::start(
        lockgraph::watchdog::Config::default()
            .timeout(Duration::from_millis(100))
            .scan_period(Duration::from_millis(20))
            .dump_dir(&dir)
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let recorder = busy_recorder(Arc::clone(&stop));
    // A lock held while forking: the child holds it too.
    let outer = Mutex::named("fork-outer", ());
    let _outer = outer.lock();
    std::thread::sleep(Duration::from_millis(50));
    let pid = fork(|| {
        // A long wait in the child: its own watchdog reports it.
        let m = Arc::new(Mutex::named("fork-waited", ()));
        let m2 = Arc::clone(&m);
        let holder = spawn_named("fork-holder", move || {
            let _g = m2.lock();
            std::thread::sleep(Duration::from_millis(600));
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(m.lock());
        holder.join().unwrap();
        // A lock-order cycle in the child, through the child's reporter (on
        // a thread of its own: this one holds `fork-outer`, which would
        // gate the cycle).
        spawn_named("fork-cycle", || {
            let (a, b) = (Mutex::named("fork-a", ()), Mutex::named("fork-b", ()));
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            let _b = b.lock();
            let _a = a.lock();
        })
        .join()
        .unwrap();
        // The watchdog writes its report to the dump directory before it
        // queues it (resolving its stacks takes seconds the first time in a
        // debug build): wait for the file, then for the queue.
        // The child's own file (its pid), with a report line in it.
        let pid = format!("-{}.jsonl", std::process::id());
        let written = || {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    e.file_name().to_string_lossy().ends_with(&pid)
                        && std::fs::read_to_string(e.path()).is_ok_and(|t| {
                            t.contains("\"kind\":\"long_wait\"")
                                || t.contains("\"kind\":\"deadlock\"")
                        })
                })
        };
        let end = Instant::now() + Duration::from_secs(30);
        while !written() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        i32::from(!lockgraph_core::flush_reports(Duration::from_secs(30)))
    });
    let status = wait_for(pid, Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    recorder.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    println!("FORKED {pid} STATUS {status:?}");
}

#[test]
fn the_watchdog_and_the_reporter_work_in_a_forked_child() {
    if is_child() {
        return;
    }
    let out = child!(child_watchdog_after_fork)
        .env("LOCKGRAPH_ORDER", "on")
        .deadline(Duration::from_secs(90))
        .run();
    assert!(out.success(), "{}", out.both());
    let at = out
        .stdout
        .find("FORKED ")
        .unwrap_or_else(|| panic!("{}", out.both()));
    let line = out.stdout[at..].lines().next().unwrap();
    assert!(line.ends_with("STATUS Some(0)"), "{}", out.both());
    let pid: u32 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let e = &out.stderr;
    let wait = e
        .find("LONG WAIT: thread `child_watchdog_after_fork`")
        .unwrap_or_else(|| panic!("no long wait from the child:\n{e}"));
    let report = &e[wait..];
    let report = &report[..report.find(END).unwrap()];
    assert!(report.contains(&format!("(pid {pid})")), "{report}");
    assert!(report.contains("Mutex `fork-waited`"), "{report}");
    // Only the child's own threads: the parent's threads do not exist there.
    assert!(!report.contains("thread `recorder`"), "{report}");
    assert!(e.contains("lock-order cycle through 2 locks"), "{e}");
    assert!(e.contains("Mutex `fork-a`"), "{e}");
}

/// Like [`busy_recorder`], but every pair is of two new classes, so each step
/// writes a line to the `LOCKGRAPH_RECORD` file (under its lock).
fn busy_record_writer(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    spawn_named("record-writer", move || {
        let mut i = 0u32;
        while !stop.load(Ordering::Relaxed) && i < 20_000 {
            let a = Mutex::named(Box::leak(format!("fork-file-{i}-a").into_boxed_str()), ());
            let b = Mutex::named(Box::leak(format!("fork-file-{i}-b").into_boxed_str()), ());
            let _a = a.lock();
            let _b = b.lock();
            i += 1;
        }
    })
}

#[test]
fn child_fork_while_writing_records() {
    if !is_child() {
        return;
    }
    // A new class edge: the child writes a record line.
    fork_while(
        busy_record_writer,
        ("fork-file-child-a", "fork-file-child-b"),
    );
}

/// Runs `child` with the graph on, recording into a fresh directory named
/// after `name`: its output, and every record file's text.
fn recording(child: lockgraph_testkit::Child, name: &str) -> (lockgraph_testkit::Output, String) {
    let (out, files) = recording_files(child, name);
    (out, files.into_iter().map(|(_, text)| text).collect())
}

/// [`recording`], with each file of the directory apart: its name and text.
fn recording_files(
    child: lockgraph_testkit::Child,
    name: &str,
) -> (lockgraph_testkit::Output, Vec<(String, String)>) {
    let dir = std::env::temp_dir().join(format!("lockgraph-fork-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = child
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_RECORD", dir.to_str().unwrap())
        .deadline(Duration::from_secs(60))
        .run();
    let files = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let text = std::fs::read_to_string(e.path()).ok()?;
                    Some((e.file_name().to_string_lossy().into_owned(), text))
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    (out, files)
}

/// The pid a child printed after `tag` (`CHILD <pid>`).
fn printed_pid(out: &lockgraph_testkit::Output, tag: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.split(tag).nth(1))
        .unwrap_or_else(|| panic!("no {tag}: {}", out.both()))
        .trim()
        .to_string()
}

/// In the first line of `records` that contains `has`, the string that
/// follows `after` (up to its closing quote).
fn string_after(records: &str, has: &str, after: &str) -> String {
    let line = records
        .lines()
        .find(|l| l.contains(has))
        .unwrap_or_else(|| panic!("no line with {has}: {records}"));
    line.split(after)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no {after} in {line}"))
        .to_string()
}

/// The class of the lock whose edge into the named lock `to` `records`
/// hold.
fn class_into(records: &str, to: &str) -> String {
    let has = format!("\"to\":{{\"class\":\"name:{to}\"");
    string_after(records, &has, "\"from\":{\"class\":\"")
}

#[test]
fn a_child_forked_while_another_thread_writes_records_can_lock_and_record() {
    if is_child() {
        return;
    }
    let (out, records) = recording(child!(child_fork_while_writing_records), "rec");
    assert!(out.success(), "{}", out.both());
    assert!(out.stdout.contains("HUNG 0 of 40"), "{}", out.both());
    // The children's edges reached the file.
    assert!(records.contains("fork-file-child-a"), "no child record");
}

#[test]
fn child_forks_and_both_record_a_gated_edge() {
    if !is_child() {
        return;
    }
    let (x, y) = (
        Mutex::named("fork-ids-x", ()),
        Mutex::named("fork-ids-y", ()),
    );
    // A lock taken first opens the record file, which the child inherits.
    drop(x.lock());
    // Forked before the gate lock is made: parent and child each make one,
    // and the inherited counter gives both the same id.
    let pid = fork(|| {
        let g = Mutex::named("fork-ids-g-child", ());
        let _g = g.lock();
        let _x = x.lock();
        let _y = y.lock();
        println!("CHILD {}", std::process::id());
        0
    });
    assert_eq!(wait_for(pid, Duration::from_secs(30)), Some(0));
    let g = Mutex::named("fork-ids-g-parent", ());
    let _g = g.lock();
    let _y = y.lock();
    let _x = x.lock();
    println!("PARENT {}", std::process::id());
}

/// A forked child writes into its parent's record file, under its
/// parent's pid; the gates it writes carry its own pid, so that its gate
/// lock and its parent's, which got the same id, read as two locks (and
/// `lockgraph check` sees the cycle `x -> y -> x`, gated by neither).
#[test]
fn a_forked_childs_gates_carry_its_own_pid() {
    if is_child() {
        return;
    }
    let (out, records) = recording(child!(child_forks_and_both_record_a_gated_edge), "ids");
    assert!(out.success(), "{}", out.both());
    let (child, parent) = (printed_pid(&out, "CHILD "), printed_pid(&out, "PARENT "));
    let gate_of = |from: &str| {
        let has = format!("\"from\":{{\"class\":\"name:{from}\"");
        string_after(&records, &has, "\"gates\":[\"")
    };
    let (child_gate, parent_gate) = (gate_of("fork-ids-x"), gate_of("fork-ids-y"));
    assert!(
        child_gate.starts_with(&format!("{child}:")),
        "{child_gate} {child}"
    );
    assert!(
        parent_gate.starts_with(&format!("{parent}:")),
        "{parent_gate} {parent}"
    );
    assert_ne!(child_gate, parent_gate);
}

/// A lock of no class (`anon:<pid>:<id>` in records): `lock_api`'s `INIT`.
fn anonymous() -> Mutex<()> {
    Mutex::const_new(
        <lockgraph::RawMutex as lockgraph::lock_api::RawMutex>::INIT,
        (),
    )
}

/// Makes a new anonymous lock and records its edge into the lock named
/// `to` (its id is taken at this first use).
fn new_anonymous_into(to: &'static str) {
    let new = anonymous();
    let to = Mutex::named(to, ());
    let _n = new.lock();
    let _t = to.lock();
}

#[test]
fn child_forks_and_both_make_an_anonymous_lock() {
    if !is_child() {
        return;
    }
    // Made and recorded before the fork: the child inherits its edge.
    let old = anonymous();
    let before = Mutex::named("fork-anon-before", ());
    {
        let _o = old.lock();
        let _b = before.lock();
    }
    let pid = fork(|| {
        // A new lock, whose id (taken at its first use) the inherited id
        // block would make the one the parent's new lock gets.
        new_anonymous_into("fork-anon-child");
        // A new edge from the inherited lock.
        let inherited = Mutex::named("fork-anon-inherited", ());
        let _o = old.lock();
        let _i = inherited.lock();
        println!("CHILD {}", std::process::id());
        0
    });
    assert_eq!(wait_for(pid, Duration::from_secs(30)), Some(0));
    new_anonymous_into("fork-anon-parent");
    println!("PARENT {}", std::process::id());
}

/// An anonymous lock made in a forked child after the fork, and one made
/// in its parent, are two classes in the records (the child's class id
/// carries its own pid), although the child writes into its parent's file
/// and inherited its parent's id block; a lock made before the fork keeps
/// its parent's pid in the child, so that the child's edges from it meet
/// the ones its parent wrote.
#[test]
fn anonymous_locks_made_after_a_fork_are_two_classes() {
    if is_child() {
        return;
    }
    let (out, records) = recording(child!(child_forks_and_both_make_an_anonymous_lock), "anon");
    assert!(out.success(), "{}", out.both());
    let (child, parent) = (printed_pid(&out, "CHILD "), printed_pid(&out, "PARENT "));
    let from_to = |to: &str| class_into(&records, to);
    let (in_child, in_parent) = (from_to("fork-anon-child"), from_to("fork-anon-parent"));
    assert!(
        in_child.starts_with(&format!("anon:{child}:")),
        "{in_child} {in_parent} {child}"
    );
    assert!(
        in_parent.starts_with(&format!("anon:{parent}:")),
        "{in_parent} {parent}"
    );
    assert_ne!(in_child, in_parent);
    let (old, inherited) = (from_to("fork-anon-before"), from_to("fork-anon-inherited"));
    assert!(
        old.starts_with(&format!("anon:{parent}:")),
        "{old} {parent}"
    );
    assert_eq!(old, inherited);
}

#[test]
fn child_forks_a_child_that_forks_again() {
    if !is_child() {
        return;
    }
    // Made and recorded before the first fork (which opens the record file
    // that the child and the grandchild inherit and append to).
    let old = anonymous();
    let before = Mutex::named("nested-anon-before", ());
    {
        let _o = old.lock();
        let _b = before.lock();
    }
    let child = fork(|| {
        // Before its own fork: the first id of the block it started at the
        // fork.
        new_anonymous_into("nested-anon-child-before");
        let grandchild = fork(|| {
            // A new lock, from the block the grandchild starts at its fork
            // (past the child's, which the child keeps using).
            new_anonymous_into("nested-anon-grandchild");
            // A new edge from the lock made before the first fork.
            let inherited = Mutex::named("nested-anon-inherited", ());
            let _o = old.lock();
            let _i = inherited.lock();
            println!("G-PID {}", std::process::id());
            0
        });
        // After its fork: the next id of its own block, below the
        // grandchild's mark.
        new_anonymous_into("nested-anon-child-after");
        println!("C-PID {}", std::process::id());
        match wait_for(grandchild, Duration::from_secs(20)) {
            Some(0) => 0,
            status => {
                println!("GRANDCHILD STATUS {status:?}");
                1
            }
        }
    });
    // After the fork, while the child (and its child) may still write.
    new_anonymous_into("nested-anon-parent");
    println!("P-PID {}", std::process::id());
    assert_eq!(wait_for(child, Duration::from_secs(40)), Some(0));
}

/// Forks one inside the other, all writing into the file of the process
/// that opened it: an anonymous lock made after a fork carries the pid of
/// the process that made it (the parent, the child before and after its own
/// fork, the grandchild), all distinct classes, and a lock made before the
/// first fork keeps the parent's pid in the grandchild's edges too.
#[test]
fn anonymous_locks_made_across_nested_forks_carry_their_makers_pids() {
    if is_child() {
        return;
    }
    let (out, files) = recording_files(child!(child_forks_a_child_that_forks_again), "nested");
    assert!(out.success(), "{}", out.both());
    let (p, c, g) = (
        printed_pid(&out, "P-PID "),
        printed_pid(&out, "C-PID "),
        printed_pid(&out, "G-PID "),
    );
    assert!(p != c && c != g && g != p, "{p} {c} {g}");
    // One file, the parent's: the child and the grandchild append to it.
    assert_eq!(files.len(), 1, "{files:?}");
    let (name, records) = &files[0];
    assert!(name.starts_with(&format!("lockgraph-{p}-")), "{name} {p}");
    let from_to = |to: &str| class_into(records, to);
    let made = [
        ("nested-anon-parent", &p),
        ("nested-anon-child-before", &c),
        ("nested-anon-child-after", &c),
        ("nested-anon-grandchild", &g),
    ];
    let classes: Vec<String> = made
        .iter()
        .map(|(to, pid)| {
            let class = from_to(to);
            assert!(
                class.starts_with(&format!("anon:{pid}:")),
                "{to}: {class}, not made by {pid} (P {p}, C {c}, G {g})\n{records}"
            );
            class
        })
        .collect();
    for (i, a) in classes.iter().enumerate() {
        for b in &classes[i + 1..] {
            assert_ne!(a, b, "{records}");
        }
    }
    let (old, inherited) = (
        from_to("nested-anon-before"),
        from_to("nested-anon-inherited"),
    );
    assert!(old.starts_with(&format!("anon:{p}:")), "{old} {p}");
    assert_eq!(old, inherited);
}

#[test]
fn child_profiles_then_forks() {
    if !is_child() {
        return;
    }
    let lock = Mutex::named("fork-profiled", ());
    for _ in 0..100 {
        drop(lock.lock());
    }
    let pid = fork(|| {
        for _ in 0..5 {
            drop(lock.lock());
        }
        println!("CHILD {}", std::process::id());
        // A normal exit: the exit hook the child inherited writes its
        // profile.
        std::process::exit(0)
    });
    assert_eq!(wait_for(pid, Duration::from_secs(30)), Some(0));
    println!("PARENT {}", std::process::id());
}

/// A forked child's profile (its own file, written at its exit) counts
/// what the child did after the fork, not its parent's acquisitions again,
/// which its parent's profile counts.
#[test]
fn a_forked_childs_profile_counts_only_its_own_acquisitions() {
    if is_child() {
        return;
    }
    let (out, files) = recording_files(
        child!(child_profiles_then_forks).env("LOCKGRAPH_PROFILE", "1"),
        "profile",
    );
    assert!(out.success(), "{}", out.both());
    let acquisitions = |pid: &str| -> String {
        let name = format!("lockgraph-profile-{pid}.json");
        let (_, text) = files
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no {name}: {files:?}"));
        let at = text
            .find("\"class\":\"name:fork-profiled\"")
            .unwrap_or_else(|| panic!("no fork-profiled in {name}: {text}"));
        text[at..]
            .split("\"acquisitions\":")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or_else(|| panic!("no acquisitions: {text}"))
            .to_string()
    };
    let (child, parent) = (printed_pid(&out, "CHILD "), printed_pid(&out, "PARENT "));
    assert_eq!(acquisitions(&child), "5");
    assert_eq!(acquisitions(&parent), "100");
}

#[test]
fn child_unnamed_thread_forks_after_an_edge() {
    if !is_child() {
        return;
    }
    // An unnamed thread: its label is its OS thread id, made at its first
    // edge (here, in the parent) and kept for its later ones.
    std::thread::spawn(|| {
        let (a, b) = (
            Mutex::named("fork-label-a", ()),
            Mutex::named("fork-label-b", ()),
        );
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        // SAFETY: gettid has no preconditions.
        println!("PARENT TID {}", unsafe { sys::gettid() });
        let pid = fork(|| {
            // The other order, in the child, on the thread that forked: the
            // cycle's second edge is this thread's in the child.
            let _b = b.lock();
            let _a = a.lock();
            drop((_a, _b));
            i32::from(!lockgraph_core::flush_reports(Duration::from_secs(30)))
        });
        assert_eq!(wait_for(pid, Duration::from_secs(60)), Some(0));
        println!("CHILD {pid}");
    })
    .join()
    .unwrap();
}

/// A forked child names the thread that forked by the child's thread id:
/// an unnamed thread's label, made at its first edge in the parent, named
/// the parent's thread (found by an outside review).
#[test]
fn a_forked_unnamed_thread_is_named_by_the_childs_thread_id() {
    if is_child() {
        return;
    }
    let out = child!(child_unnamed_thread_forks_after_an_edge)
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_ON_CYCLE", "warn")
        .deadline(Duration::from_secs(90))
        .run();
    assert!(out.success(), "{}", out.both());
    let (parent, child) = (
        printed_pid(&out, "PARENT TID "),
        printed_pid(&out, "CHILD "),
    );
    let e = &out.stderr;
    let at = e
        .find("lock-order cycle through 2 locks")
        .unwrap_or_else(|| panic!("no cycle report:\n{}", out.both()));
    let report = &e[at..];
    // The child's edge, by the child's thread (whose id is the child's
    // pid: the only thread a forked child starts with), and the parent's.
    assert!(
        report.contains(&format!("unnamed, tid {child}")),
        "{}",
        out.both()
    );
    assert!(
        report.contains(&format!("unnamed, tid {parent}")),
        "{}",
        out.both()
    );
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
    std::thread::spawn(|| {
        // Two new locks of one class, nested: an edge into a fresh lock,
        // kept in this thread's young-edge buffer, which takes its label.
        {
            let (a, b) = (
                Mutex::named("fork-young", ()),
                Mutex::named("fork-young", ()),
            );
            let _a = a.lock();
            let _b = b.lock();
        }
        let pid = fork(|| {
            // The same in the child, then the other order: an instance
            // cycle whose both edges are this thread's in the child.
            let (a, b) = (
                Mutex::named("fork-young", ()),
                Mutex::named("fork-young", ()),
            );
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            let _b = b.lock();
            let _a = a.lock();
            drop((_a, _b));
            i32::from(!lockgraph_core::flush_reports(Duration::from_secs(30)))
        });
        assert_eq!(wait_for(pid, Duration::from_secs(60)), Some(0));
        println!("CHILD {pid}");
    })
    .join()
    .unwrap();
}

/// The same through the young-edge buffer (edges into fresh locks of one
/// class), whose label the thread that forked had set in the parent.
#[test]
fn a_forked_unnamed_threads_buffered_edges_are_named_by_the_childs_thread_id() {
    if is_child() {
        return;
    }
    let out = child!(child_unnamed_thread_buffers_then_forks)
        .env("LOCKGRAPH_ORDER", "on")
        .env("LOCKGRAPH_ON_CYCLE", "warn")
        .deadline(Duration::from_secs(90))
        .run();
    assert!(out.success(), "{}", out.both());
    let child = printed_pid(&out, "CHILD ");
    let e = &out.stderr;
    let at = e
        .find("how each edge was recorded:")
        .unwrap_or_else(|| panic!("no cycle report:\n{}", out.both()));
    let edges = &e[at..e[at..].find("how it deadlocks").map_or(e.len(), |n| at + n)];
    let tids: Vec<&str> = edges
        .split("unnamed, tid ")
        .skip(1)
        .map(|r| r.split('`').next().unwrap())
        .collect();
    assert_eq!(tids, [child.as_str(), child.as_str()], "{}", out.both());
}
