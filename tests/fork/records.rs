//! A forked child's records, anonymous classes and profile: its own pid
//! where the parent's would mislead.

use super::*;

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

/// In process `pid`'s profile file among `files`, the number of the first
/// `"field":` after `anchor` (a class's or a queue's entry), as text.
fn profile_number(files: &[(String, String)], pid: &str, anchor: &str, field: &str) -> String {
    let name = format!("lockgraph-profile-{pid}.json");
    let (_, text) = files
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no {name}: {files:?}"));
    let at = text
        .find(anchor)
        .unwrap_or_else(|| panic!("no {anchor} in {name}: {text}"));
    text[at..]
        .split(&format!("\"{field}\":"))
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("no {field}: {text}"))
        .to_string()
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
    let acquisitions = |pid: &str| {
        profile_number(
            &files,
            pid,
            "\"class\":\"name:fork-profiled\"",
            "acquisitions",
        )
    };
    let (child, parent) = (printed_pid(&out, "CHILD "), printed_pid(&out, "PARENT "));
    assert_eq!(acquisitions(&child), "5");
    assert_eq!(acquisitions(&parent), "100");
}

#[test]
fn child_queues_then_forks() {
    if !is_child() {
        return;
    }
    // Another thread keeps using a queue of its own across the fork.
    let stop = Arc::new(AtomicBool::new(false));
    let pump = {
        let stop = Arc::clone(&stop);
        let (tx, rx) = lockgraph::mpsc::sync_channel_named::<u32>("fork-pump", 1);
        spawn_named("pump", move || {
            while !stop.load(Ordering::Relaxed) {
                tx.send(1).unwrap();
                rx.recv().unwrap();
            }
        })
    };
    let (tx, rx) = lockgraph::mpsc::sync_channel_named::<u32>("fork-queue", 64);
    for i in 0..40 {
        tx.send(i).unwrap();
    }
    for _ in 0..40 {
        rx.recv().unwrap();
    }
    let pid = fork(|| {
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        for _ in 0..3 {
            rx.recv().unwrap();
        }
        println!("CHILD {}", std::process::id());
        // A normal exit: the exit hook the child inherited writes its
        // profile, the backpressure part too.
        std::process::exit(0)
    });
    assert_eq!(wait_for(pid, Duration::from_secs(30)), Some(0));
    stop.store(true, Ordering::Relaxed);
    pump.join().unwrap();
    println!("PARENT {}", std::process::id());
}

/// A forked child's backpressure profile (in its own file, written at its
/// exit) counts the sends it made after the fork, not its parent's again
/// (found by a review: the child's file held its parent's 40 sends, which
/// `lockgraph profile` added to the parent's), and the child exits while
/// another thread of its parent was using a queue at the fork.
#[test]
fn a_forked_childs_backpressure_profile_counts_only_its_own_sends() {
    if is_child() {
        return;
    }
    let (out, files) = recording_files(
        child!(child_queues_then_forks).env("LOCKGRAPH_PROFILE", "1"),
        "pipeline",
    );
    assert!(out.success(), "{}", out.both());
    let sends = |pid: &str| profile_number(&files, pid, "\"name\":\"fork-queue\"", "sends");
    let (child, parent) = (printed_pid(&out, "CHILD "), printed_pid(&out, "PARENT "));
    assert_eq!(sends(&child), "3");
    assert_eq!(sends(&parent), "40");
}

#[test]
fn child_forks_while_progress_is_marked() {
    if !is_child() {
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let stop = Arc::clone(&stop);
        spawn_named("marker", move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                lockgraph::progress("busy", i);
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..20 {
        let pid = fork(|| {
            // The markers' lock, which the other thread takes at every
            // call, and the dump file's, at the child's first write.
            lockgraph::progress("child", 1);
            std::process::exit(0)
        });
        assert_eq!(
            wait_for(pid, Duration::from_secs(10)),
            Some(0),
            "a child hung"
        );
    }
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
    println!("FORKED");
}

/// A child forked while another thread marks progress (the markers' lock
/// taken at every call) can mark its own (found by a review: the markers'
/// and the dump file's locks were not held across `fork()`, so a child
/// could block on one left held).
#[test]
fn a_child_forked_while_progress_is_marked_can_mark_its_own() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-fork-markers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = child!(child_forks_while_progress_is_marked)
        .env("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())
        .env("LOCKGRAPH_WATCHDOG", "off")
        .deadline(Duration::from_secs(120))
        .run();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.success(), "{}", out.both());
    assert!(out.stdout.contains("FORKED"), "{}", out.both());
}
