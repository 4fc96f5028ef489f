//! The dump of every thread's locks on SIGUSR2.

use std::process::Command;
use std::time::Duration;

use lockgraph::watchdog::{self, Config};
use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child};

use crate::run_child;

#[test]
fn child_dump_on_sigusr2() {
    if !is_child() {
        return;
    }
    assert!(watchdog::start(
        Config::default()
            .scan_period(Duration::from_millis(50))
            .dump_on_sigusr2(true)
    ));
    let m = Mutex::named("dumped", ());
    let _g = m.lock();
    // As `lockgraph dump --pid` would, or as one stopped long ago left it.
    if let Ok(age) = std::env::var("LOCKGRAPH_TEST_REQUEST_AGE_S") {
        let request = watchdog::dump_request_path(std::process::id(), "1-0");
        let f = std::fs::File::create(&request).unwrap();
        let age = Duration::from_secs(age.parse().unwrap());
        f.set_modified(std::time::SystemTime::now() - age).unwrap();
    }
    let pid = std::process::id().to_string();
    let st = Command::new("kill").args(["-USR2", &pid]).status().unwrap();
    assert!(st.success());
    // The parent kills this process once it has seen both the dump (which
    // the watchdog prints after it has answered the requests) and this line.
    std::thread::sleep(Duration::from_secs(1));
    eprintln!("child: a second after the signal");
    std::thread::sleep(Duration::from_secs(30));
}

/// What the child `child_dump_on_sigusr2`, run with `env`, printed, and the
/// names of the files it left in its `TMPDIR` (sorted).
fn run_signalled_child(tag: &str, env: &[(&str, &str)]) -> (String, Vec<String>) {
    let tmp = std::env::temp_dir().join(format!("lockgraph-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let mut all = vec![("TMPDIR", tmp.to_str().unwrap())];
    all.extend_from_slice(env);
    let (text, ok) = run_child(
        child!(child_dump_on_sigusr2),
        &all,
        Duration::from_secs(20),
        |t| t.contains("-- end of lockgraph dump --") && t.contains("child: a second after"),
    );
    assert!(ok, "no dump in time:\n{text}");
    let mut left: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let _ = std::fs::remove_dir_all(&tmp);
    (text, left)
}

#[test]
fn a_request_file_is_answered_only_while_fresh() {
    if is_child() {
        return;
    }
    // Fresh (as `lockgraph dump --pid` makes it just before the signal):
    // answered, and the request removed.
    let (_, left) = run_signalled_child("fresh-request", &[("LOCKGRAPH_TEST_REQUEST_AGE_S", "0")]);
    assert!(
        left.len() == 1 && left[0].starts_with("lockgraph-dump-") && left[0].ends_with(".json"),
        "{left:?}"
    );
    // Ten minutes old (an asker stopped half-way left it): not answered.
    let (_, left) =
        run_signalled_child("stale-request", &[("LOCKGRAPH_TEST_REQUEST_AGE_S", "600")]);
    assert!(left.len() == 1 && left[0].ends_with(".request"), "{left:?}");
}

#[test]
fn sigusr2_prints_a_dump_of_every_threads_locks() {
    if is_child() {
        return;
    }
    // The child's temporary directory: a `kill -USR2` by hand (no request
    // file from `lockgraph dump --pid`) leaves no answer file there.
    let (text, left) = run_signalled_child("sigusr2", &[]);
    assert!(
        left.is_empty(),
        "files left in the child's TMPDIR: {left:?}"
    );
    assert!(text.contains("lockgraph dump (pid"), "{text}");
    assert!(
        text.contains("Mutex `dumped` (exclusive), taken at tests/watchdog/dump.rs:"),
        "{text}"
    );
    // The holder (the child's test thread, asleep) with its current stack.
    if watchdog::current_stack_support().is_ok() {
        assert!(text.contains("now at (its current stack):"), "{text}");
        if cfg!(debug_assertions) {
            assert!(text.contains("child_dump_on_sigusr2"), "{text}");
        }
    } else {
        assert!(
            text.contains("now at: current stack not captured ("),
            "{text}"
        );
    }
}

#[test]
fn child_dump_signal_from_the_environment_alone() {
    if !is_child() {
        return;
    }
    // No watchdog started in code: the environment's LOCKGRAPH_DUMP_SIGNAL.
    let m = Mutex::named("env-dumped", ());
    let _g = m.lock();
    let sigusr2_caught = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << 11) != 0);
    eprintln!("child: SIGUSR2 caught: {sigusr2_caught}");
    if sigusr2_caught {
        let pid = std::process::id().to_string();
        let st = Command::new("kill").args(["-USR2", &pid]).status().unwrap();
        assert!(st.success());
    }
    eprintln!("child: done");
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn the_dump_signal_alone_turns_the_watchdog_on_and_an_overriding_off_is_said() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_dump_signal_from_the_environment_alone),
        &[("LOCKGRAPH_DUMP_SIGNAL", "1")],
        Duration::from_secs(20),
        |t| t.contains("-- end of lockgraph dump --"),
    );
    assert!(ok, "no dump:\n{text}");
    assert!(text.contains("child: SIGUSR2 caught: true"), "{text}");
    assert!(text.contains("Mutex `env-dumped` (exclusive)"), "{text}");

    let (text, ok) = run_child(
        child!(child_dump_signal_from_the_environment_alone),
        &[
            ("LOCKGRAPH_DUMP_SIGNAL", "1"),
            ("LOCKGRAPH_WATCHDOG", "off"),
        ],
        Duration::from_secs(20),
        |t| t.contains("child: done"),
    );
    assert!(ok, "{text}");
    assert!(text.contains("child: SIGUSR2 caught: false"), "{text}");
    assert_eq!(
        text.matches("lockgraph: LOCKGRAPH_DUMP_SIGNAL is ignored: LOCKGRAPH_WATCHDOG is off")
            .count(),
        1,
        "{text}"
    );
}

/// A dump's holds are timed at the dump: every thread's "held at least"
/// is measured to the moment the dump copied the stacks, not to whenever
/// that thread's entry was written (after the entries before it captured
/// and resolved their holders' current stacks, which took a second in a
/// fresh debug process: a lock held 0.3 s read "held at least 2.0s" beside
/// another held as long that read 0.2 s; found by an outside test).
#[test]
fn child_dump_times_every_hold_at_the_dump() {
    if !is_child() {
        return;
    }
    assert!(watchdog::start(
        Config::default().scan_period(Duration::from_millis(10))
    ));
    let start = std::time::Instant::now();
    let a = std::sync::Arc::new(Mutex::named("dump-at-a", ()));
    let (a2, (tx, rx)) = (a.clone(), std::sync::mpsc::channel());
    let _holder = std::thread::Builder::new()
        .name("dump-at-holder".into())
        .spawn(move || {
            let _g = a2.lock();
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(30));
        })
        .unwrap();
    rx.recv().unwrap();
    let b = Mutex::named("dump-at-b", ());
    let _g = b.lock();
    std::thread::sleep(Duration::from_millis(100));
    // No hold is older than this when the dump is asked for.
    let bound = start.elapsed() + Duration::from_millis(50);
    let d = watchdog::dump();
    for t in &d.threads {
        for h in &t.held {
            eprintln!(
                "child: {} held at least {:?} (at most {bound:?})",
                t.name, h.held_for
            );
            if h.held_for > bound {
                eprintln!("child: a hold timed past the dump");
            }
        }
    }
    eprintln!("child: done");
}

#[test]
fn a_dump_times_every_hold_at_the_dump() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_dump_times_every_hold_at_the_dump),
        &[],
        Duration::from_secs(20),
        |t| t.contains("child: done"),
    );
    assert!(ok, "no dump:\n{text}");
    assert_eq!(text.matches(" held at least ").count(), 2, "{text}");
    assert!(!text.contains("timed past the dump"), "{text}");
}

/// `batcher` holds `dd-stats` across a send into the full `dd-batches`,
/// whose consumer `dd-gpu` waits for `dd-stats`; the main thread dumps.
#[test]
fn child_dump_of_a_deadlock() {
    if !is_child() {
        return;
    }
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_secs(60))
            .scan_period(Duration::from_millis(50))
    ));
    let stats = std::sync::Arc::new(Mutex::named("dd-stats", ()));
    let (tx, rx) = lockgraph::mpsc::sync_channel_named::<u32>("dd-batches", 1);
    let s = stats.clone();
    lockgraph_testkit::spawn_named("dd-batcher", move || loop {
        let _s = s.lock();
        tx.send(1).unwrap(); // held across the send
    });
    lockgraph_testkit::spawn_named("dd-gpu", move || {
        while rx.recv().is_ok() {
            std::thread::sleep(Duration::from_millis(20));
            drop(stats.lock());
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let d = watchdog::dump();
    eprintln!("{d}");
    eprintln!("JSON {}", d.to_json().trim_end());
    std::thread::sleep(Duration::from_secs(30));
}

/// A dump of a deadlocked process gives the watchdog's verdict: the
/// deadlock, its cycle and what to do, and each waiter's blocked peers
/// (found by an outside test: it listed the threads and said nothing of
/// the deadlock).
#[test]
fn a_dump_of_a_deadlocked_process_says_the_deadlock_and_what_to_do() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_dump_of_a_deadlock),
        &[],
        Duration::from_secs(20),
        |t| t.contains("JSON {"),
    );
    assert!(ok, "no dump in time:\n{text}");
    for needle in [
        "  DEADLOCK: 2 threads wait for each other (the watchdog's DEADLOCK report has their stacks):\n",
        "    cycle: thread `dd-batcher` -> Queue `dd-batches` -> thread `dd-gpu` -> Mutex `dd-stats` -> thread `dd-batcher`\n",
        "    what to do: ",
        "its consumer thread `dd-gpu` is itself deadlocked, waiting for Mutex `dd-stats`",
        "\"deadlocks\":[{\"cycle\":\"thread `dd-batcher` -> Queue `dd-batches`",
        "\"blocked_peers\":[{",
    ] {
        assert!(text.contains(needle), "`{needle}` missing:\n{text}");
    }
}

#[test]
fn child_dump_with_threads_outside_lockgraph() {
    if !is_child() {
        return;
    }
    assert!(watchdog::start(
        Config::default().scan_period(Duration::from_millis(50))
    ));
    // A thread that holds and waits for no lockgraph lock: asleep.
    std::thread::Builder::new()
        .name("reader".into())
        .spawn(|| std::thread::sleep(Duration::from_secs(60)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let d = watchdog::dump();
    eprintln!("{d}");
    eprintln!("JSON {}", d.to_json().trim_end());
    eprintln!("DUMPED");
}

/// A dump names the process's threads that hold and wait for no lockgraph
/// lock, with what the kernel says they do (found by an outside test: a
/// hung rank's dump said `0 threads` for a process of two, and showed
/// nothing of them); lockgraph's own threads are left out.
#[cfg(target_os = "linux")]
#[test]
fn a_dump_names_the_threads_outside_lockgraph() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_dump_with_threads_outside_lockgraph),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DUMPED"),
    );
    assert!(ok, "{text}");
    let header = text
        .lines()
        .find(|l| l.starts_with("lockgraph dump (pid "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        header.contains(": 0 threads with lockgraph locks or waits, ") && header.contains(" other"),
        "{header}"
    );
    assert!(
        text.contains("  other threads (no lockgraph lock held or waited for; not signalled for their stacks):"),
        "{text}"
    );
    let reader = text
        .lines()
        .find(|l| l.starts_with("    thread `reader` (tid "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(reader.contains("): "), "{reader}");
    assert!(!text.contains("thread `lockgraph-"), "{text}");
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("JSON "))
        .unwrap_or_else(|| panic!("{text}"));
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let others = v["other_threads"].as_array().unwrap();
    assert!(
        others
            .iter()
            .any(|t| t["name"] == "reader" && t["now"].is_object()),
        "{json}"
    );
    assert_eq!(v["other_threads_left_out"], 0);
}
