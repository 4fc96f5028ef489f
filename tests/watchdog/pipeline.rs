//! Real pipeline hangs (`docs/pipelines.md`): a send into a full queue, a
//! join, a semaphore acquire and a barrier wait, each in a cycle with a
//! lock, reported by the watchdog within two timeouts with the resource
//! named; and a busy, oversubscribed pipeline that keeps progressing, with
//! no deadlock report over 30 s.

use std::sync::Arc;
use std::time::Duration;

use lockgraph::mpsc::sync_channel_named;
use lockgraph::{Barrier, Mutex, Semaphore};
use lockgraph_testkit::{child, is_child, Child, END};

use crate::run_child;

/// The watchdog's timeout in these children.
const TIMEOUT_MS: u64 = 500;

/// Runs `child` with the watchdog on until its report is complete; the
/// report. Asserts that it is a deadlock of `threads`, that each waiter
/// waited less than two timeouts when it was reported, and that `needles`
/// are in it.
fn hang_report(child: Child, threads: &[&str], needles: &[&str]) -> String {
    let (text, ok) = run_child(
        child,
        &[("LOCKGRAPH_WATCHDOG", &format!("{TIMEOUT_MS}ms"))],
        Duration::from_secs(30),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let report = &report[..report.find(END).unwrap()];
    for t in threads {
        let name = format!("thread `{t}`");
        assert!(report.contains(&name), "{name} missing:\n{report}");
    }
    for n in needles {
        assert!(report.contains(n), "{n} missing:\n{report}");
    }
    for line in report
        .lines()
        .filter(|l| l.trim_start().starts_with("waits for "))
    {
        let waited = waited(line);
        assert!(
            waited < Duration::from_millis(2 * TIMEOUT_MS),
            "reported after {waited:?}, more than two timeouts: {line}"
        );
    }
    report.to_string()
}

/// The duration in "waits for X for 612.345ms, requested at ...".
fn waited(line: &str) -> Duration {
    let head = &line[..line.rfind(", requested at").unwrap_or(line.len())];
    let d = head.rsplit(" for ").next().unwrap();
    let (num, unit) = d.split_at(d.find(|c: char| c.is_ascii_alphabetic()).unwrap());
    let x: f64 = num
        .parse()
        .unwrap_or_else(|_| panic!("bad duration in {line}"));
    match unit {
        "s" => Duration::from_secs_f64(x),
        "ms" => Duration::from_secs_f64(x / 1e3),
        "µs" => Duration::from_secs_f64(x / 1e6),
        "ns" => Duration::from_secs_f64(x / 1e9),
        _ => panic!("bad unit in {line}"),
    }
}

fn named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> lockgraph::thread::JoinHandle<T> {
    lockgraph::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .unwrap()
}

#[test]
fn a_stage_sending_into_a_full_queue_holding_the_consumer_s_lock_is_a_deadlock() {
    if is_child() {
        return;
    }
    hang_report(
        child!(child_queue_hang),
        &["wd-loader", "wd-pre"],
        &[
            "space in Queue `wd-raw` (a send into the full queue)",
            "Mutex `wd-stats`",
            "Queue `wd-raw` (as its consumer), taken at tests/watchdog/pipeline.rs",
            "Queue `wd-raw` full: 1 of 1",
            "its consumer thread `wd-pre` is itself deadlocked, waiting for Mutex `wd-stats`",
        ],
    );
}

#[test]
fn child_queue_hang() {
    if !is_child() {
        return;
    }
    let stats = Arc::new(Mutex::named("wd-stats", 0u32));
    let (tx, rx) = sync_channel_named::<u32>("wd-raw", 1);
    let (got_tx, got_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let s = stats.clone();
    let pre = named("wd-pre", move || {
        let first = rx.recv().unwrap();
        got_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        *s.lock() += first; // between two receives: blocks on the loader
        let _ = rx.recv();
    });
    let loader = named("wd-loader", move || {
        tx.send(1).unwrap();
        got_rx.recv().unwrap();
        let _g = stats.lock();
        tx.send(2).unwrap(); // fills the queue
        go_tx.send(()).unwrap();
        tx.send(3).unwrap(); // full, holding `stats`: blocks for good
    });
    pre.join().unwrap();
    loader.join().unwrap();
}

/// What the two-consumer child prints once it has let the watchdog scan
/// for eight timeouts.
const SCANNED: &str = "CHILD: scanned long enough";

#[test]
fn a_full_queue_whose_two_consumers_are_deadlocked_is_one_deadlock() {
    if is_child() {
        return;
    }
    // The producer waits for both consumers: two cycles in the wait-for
    // graph, one hang, one report naming both consumers.
    let (text, ok) = run_child(
        child!(child_queue_hang_two_consumers),
        &[("LOCKGRAPH_WATCHDOG", &format!("{TIMEOUT_MS}ms"))],
        Duration::from_secs(30),
        |t| t.contains(SCANNED),
    );
    assert!(ok, "the child did not finish:\n{text}");
    let reports = text.matches("lockgraph watchdog: DEADLOCK").count();
    assert_eq!(reports, 1, "one hang, {reports} deadlock reports:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let report = &report[..report.find(END).unwrap()];
    for t in ["wd2-pre-0", "wd2-pre-1"] {
        let line = format!("its consumer thread `{t}` is itself deadlocked");
        assert!(report.contains(&line), "{line} missing:\n{report}");
    }
}

#[test]
fn child_queue_hang_two_consumers() {
    if !is_child() {
        return;
    }
    let stats = Arc::new(Mutex::named("wd2-stats", 0u32));
    let (tx, rx) = sync_channel_named::<u32>("wd2-raw", 1);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let (got_tx, got_rx) = std::sync::mpsc::channel::<()>();
    let mut go = Vec::new();
    for k in 0..2 {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        go.push(go_tx);
        let (s, rx, got_tx) = (stats.clone(), rx.clone(), got_tx.clone());
        named(&format!("wd2-pre-{k}"), move || {
            let first = rx.lock().unwrap().recv().unwrap();
            got_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            *s.lock() += first; // between two receives: blocks on the loader
            let _ = rx.lock().unwrap().recv();
        });
    }
    named("wd2-loader", move || {
        for v in 0..2 {
            tx.send(v).unwrap();
        }
        got_rx.recv().unwrap();
        got_rx.recv().unwrap();
        let _g = stats.lock();
        tx.send(2).unwrap(); // fills the queue
        for g in &go {
            g.send(()).unwrap();
        }
        tx.send(3).unwrap(); // full, holding `stats`: blocks for good
    });
    std::thread::sleep(Duration::from_millis(8 * TIMEOUT_MS));
    eprintln!("{SCANNED}");
    std::process::exit(0);
}

/// What the OR-wait children print once every thread finished.
const FINISHED: &str = "CHILD: every thread finished";

/// A cycle through one of two permit holders, or one of two consumers,
/// while the other holds on and runs: the waiter is let in when that one
/// gives its permit back (or drains the queue), so it is no deadlock (the
/// watchdog said DEADLOCK, and under `abort` killed a healthy process;
/// found by an outside test). The waits last past the timeout: long
/// waits, not a deadlock.
#[test]
fn a_cycle_through_one_of_several_permit_holders_or_consumers_is_no_deadlock() {
    if is_child() {
        return;
    }
    for child in [
        child!(child_permit_cycle_another_holder_runs),
        child!(child_queue_cycle_another_consumer_runs),
    ] {
        let (text, ok) = run_child(
            child,
            &[("LOCKGRAPH_WATCHDOG", &format!("{TIMEOUT_MS}ms"))],
            Duration::from_secs(30),
            // The long wait's report can come after the child's last line
            // (its stacks resolve slowly in a loaded debug build).
            |t| t.contains(FINISHED) && t.contains("LONG WAIT"),
        );
        assert!(ok, "the child did not finish, or no long wait:\n{text}");
        assert!(!text.contains("DEADLOCK"), "no deadlock here:\n{text}");
    }
}

#[test]
fn child_permit_cycle_another_holder_runs() {
    if !is_child() {
        return;
    }
    let slots = Arc::new(Semaphore::named("wd-or-slots", 2));
    let model = Arc::new(Mutex::named("wd-or-model", ()));
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (s, h) = (slots.clone(), held_tx.clone());
    let slow = named("wd-or-slow", move || {
        let _permit = s.acquire();
        h.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(4 * TIMEOUT_MS));
    });
    let (s, m) = (slots.clone(), model.clone());
    let gpu = named("wd-or-gpu", move || {
        let _permit = s.acquire();
        held_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(m.lock()); // waits for the batcher
    });
    let batcher = named("wd-or-batcher", move || {
        held_rx.recv().unwrap();
        held_rx.recv().unwrap();
        let _g = model.lock();
        let _permit = slots.acquire(); // let in when the slow holder is done
    });
    for t in [slow, gpu, batcher] {
        t.join().unwrap();
    }
    eprintln!("{FINISHED}");
}

#[test]
fn child_queue_cycle_another_consumer_runs() {
    if !is_child() {
        return;
    }
    let stats = Arc::new(Mutex::named("wd-or-stats", 0u32));
    let (tx, rx) = sync_channel_named::<u32>("wd-or-raw", 1);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let (got_tx, got_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (s, r, g) = (stats.clone(), rx.clone(), got_tx.clone());
    let fast = named("wd-or-pre", move || {
        let first = r.lock().unwrap().recv().unwrap();
        g.send(()).unwrap();
        go_rx.recv().unwrap();
        *s.lock() += first; // between two receives: waits for the loader
        while r.lock().unwrap().recv().is_ok() {}
    });
    let r = rx.clone();
    let slow = named("wd-or-slow-pre", move || {
        let _ = r.lock().unwrap().recv().unwrap();
        got_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(4 * TIMEOUT_MS));
        while r.lock().unwrap().recv().is_ok() {} // drains: lets the loader on
    });
    drop(rx);
    let loader = named("wd-or-loader", move || {
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        got_rx.recv().unwrap();
        got_rx.recv().unwrap();
        let _g = stats.lock();
        tx.send(3).unwrap(); // fills the queue
        go_tx.send(()).unwrap();
        tx.send(4).unwrap(); // full, holding `stats`, until the slow consumer drains
    });
    for t in [loader, fast, slow] {
        t.join().unwrap();
    }
    eprintln!("{FINISHED}");
}

#[test]
fn a_join_holding_the_lock_the_joined_thread_needs_is_a_deadlock() {
    if is_child() {
        return;
    }
    hang_report(
        child!(child_join_hang),
        &["wd-joiner", "wd-worker"],
        &[
            "Thread `wd-worker` to finish (a join)",
            "Mutex `wd-config`",
            "joins thread `wd-worker`, which is itself deadlocked, waiting for Mutex `wd-config`",
        ],
    );
}

/// A consumer that joins its producer before it drains the queue: the
/// consumer role orders no joins (docs/pipelines.md), so the graph never
/// has the `Queue -> Thread` edge, and the watchdog says why (it listed
/// reasons that do not apply: an outside pipelines test).
#[test]
fn a_consumer_joining_its_producer_before_draining_is_a_deadlock_said_so() {
    if is_child() {
        return;
    }
    // The graph's line where it is on (with `watchdog-in-release` it is off
    // by default, and the report says so instead).
    let graph: &[&str] = if lockgraph::order_graph() {
        &[
            "never recorded (",
            "a join or barrier wait by a queue's consumer or a barrier's party, which those roles do not order",
        ]
    } else {
        &["lock-order graph: off"]
    };
    let mut needles = vec!["Queue `wd-jobs`"];
    needles.extend_from_slice(graph);
    hang_report(
        child!(child_consumer_joins_producer),
        &["wd-drain", "wd-fill"],
        &needles,
    );
}

#[test]
fn child_consumer_joins_producer() {
    if !is_child() {
        return;
    }
    let consumer = named("wd-drain", || {
        let (tx, rx) = sync_channel_named::<u32>("wd-jobs", 1);
        let producer = named("wd-fill", move || {
            for i in 0..10 {
                tx.send(i).unwrap();
            }
        });
        rx.recv().unwrap();
        producer.join().unwrap();
        rx.iter().count()
    });
    consumer.join().unwrap();
}

#[test]
fn child_join_hang() {
    if !is_child() {
        return;
    }
    let joiner = named("wd-joiner", || {
        let config = Arc::new(Mutex::named("wd-config", 0));
        let _g = config.lock();
        let c = config.clone();
        let worker = named("wd-worker", move || *c.lock() += 1);
        worker.join().unwrap();
    });
    joiner.join().unwrap();
}

#[test]
fn an_acquire_holding_the_lock_a_permit_holder_needs_is_a_deadlock() {
    if is_child() {
        return;
    }
    hang_report(
        child!(child_semaphore_hang),
        &["wd-gpu", "wd-batcher"],
        &[
            "a permit of Semaphore `wd-slots` (1 permit)",
            "Mutex `wd-model`",
        ],
    );
}

#[test]
fn child_semaphore_hang() {
    if !is_child() {
        return;
    }
    let model = Arc::new(Mutex::named("wd-model", ()));
    let slots = Arc::new(Semaphore::named("wd-slots", 1));
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (m, s) = (model.clone(), slots.clone());
    let gpu = named("wd-gpu", move || {
        let _permit = s.acquire();
        held_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(m.lock()); // blocks on the batcher
    });
    let batcher = named("wd-batcher", move || {
        held_rx.recv().unwrap();
        let _g = model.lock();
        let _permit = slots.acquire(); // blocks on the GPU thread
    });
    gpu.join().unwrap();
    batcher.join().unwrap();
}

#[test]
fn a_barrier_wait_holding_the_lock_another_party_needs_is_a_deadlock() {
    if is_child() {
        return;
    }
    hang_report(
        child!(child_barrier_hang),
        &["wd-party-a", "wd-party-b"],
        &[
            "the other parties of Barrier `wd-step` (2 parties; 1 waiting now)",
            "Mutex `wd-weights`",
        ],
    );
}

#[test]
fn child_barrier_hang() {
    if !is_child() {
        return;
    }
    let weights = Arc::new(Mutex::named("wd-weights", 0));
    let step = Arc::new(Barrier::named("wd-step", 2));
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (w, b) = (weights.clone(), step.clone());
    let a = named("wd-party-a", move || {
        b.wait();
        let _g = w.lock();
        locked_tx.send(()).unwrap();
        b.wait(); // holding `weights`: blocks on party b
    });
    let b = named("wd-party-b", move || {
        step.wait();
        locked_rx.recv().unwrap();
        *weights.lock() += 1; // before arriving: blocks on party a
        step.wait();
    });
    a.join().unwrap();
    b.join().unwrap();
}

/// Runs `child` with the watchdog on until every one of `needles` is in a
/// LONG WAIT report of `thread`; that report.
fn long_wait_report(child: Child, thread: &str, needles: &[&str], env: &[(&str, &str)]) -> String {
    let head = format!("lockgraph watchdog: LONG WAIT: thread `{thread}`");
    let find = |t: &str| -> Option<String> {
        let at = t.find(&head)?;
        let report = &t[at..];
        let report = &report[..report.find(END)?];
        needles
            .iter()
            .all(|n| report.contains(n))
            .then(|| report.to_string())
    };
    let timeout = format!("{TIMEOUT_MS}ms");
    let mut all = vec![("LOCKGRAPH_WATCHDOG", timeout.as_str())];
    all.extend_from_slice(env);
    let (text, ok) = run_child(child, &all, Duration::from_secs(30), |t| find(t).is_some());
    assert!(
        ok,
        "no LONG WAIT report of `{thread}` with {needles:?} in time:\n{text}"
    );
    find(&text).unwrap()
}

#[test]
fn a_join_on_a_thread_deadlocked_elsewhere_is_named() {
    if is_child() {
        return;
    }
    long_wait_report(
        child!(child_join_on_deadlocked),
        "wd-boss",
        &[
            "Thread `wd-dl-a` to finish (a join)",
            "joins thread `wd-dl-a`, which is itself deadlocked, waiting for Mutex `wd-dl-",
            "what to do: thread `wd-dl-a`, which this wait waits for, is deadlocked",
        ],
        &[],
    );
}

#[test]
fn child_join_on_deadlocked() {
    if !is_child() {
        return;
    }
    let boss = named("wd-boss", || {
        let x = Arc::new(Mutex::named("wd-dl-x", ()));
        let y = Arc::new(Mutex::named("wd-dl-y", ()));
        let both = Arc::new(std::sync::Barrier::new(2));
        let (x2, y2, both2) = (x.clone(), y.clone(), both.clone());
        let a = named("wd-dl-a", move || {
            let _x = x2.lock();
            both2.wait();
            drop(y2.lock());
        });
        let b = named("wd-dl-b", move || {
            let _y = y.lock();
            both.wait();
            drop(x.lock());
        });
        a.join().unwrap(); // a is deadlocked with b: blocks for good
        b.join().unwrap();
    });
    boss.join().unwrap();
}

#[test]
fn a_send_into_a_full_queue_that_no_thread_consumes_is_named() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-idle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report = long_wait_report(
        child!(child_send_no_consumer),
        "wd-boss",
        &[
            "joins thread `wd-feeder`, which is itself blocked, waiting for space in Queue `wd-idle`",
            "Queue `wd-idle` full: 1 of 1",
            "no live consumer: the Receiver of Queue `wd-idle` is alive, but no thread is receiving from it",
            "what to do: thread `wd-feeder`, which this wait waits for, is itself blocked",
        ],
        &[("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())],
    );
    assert!(!report.contains("deadlocked"), "{report}");
    // The same in the JSON of the dump directory.
    let json: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    for needle in [
        r#""queue":{"bound":1,"senders":1,"receiver_alive":true},"no_consumer":true"#,
        r#""blocked_peers":[{"thread":"wd-feeder","waits_for":"space in Queue `wd-idle`"#,
        r#""deadlocked":false"#,
        "Queue `wd-idle` full: 1 of 1",
    ] {
        assert!(json.contains(needle), "{needle} missing:\n{json}");
    }
}

#[test]
fn child_send_no_consumer() {
    if !is_child() {
        return;
    }
    let boss = named("wd-boss", || {
        let (tx, rx) = sync_channel_named::<u32>("wd-idle", 1);
        tx.send(0).unwrap();
        // The consumer takes one item and hands the receiver back: the
        // receiver lives on, but no thread receives from it.
        let taker = named("wd-taker", move || {
            rx.recv().unwrap();
            rx
        });
        let rx = taker.join().unwrap();
        let feeder = named("wd-feeder", move || {
            tx.send(1).unwrap(); // fills the queue
            tx.send(2).unwrap(); // full, and no one receives: blocks for good
        });
        feeder.join().unwrap();
        drop(rx);
    });
    boss.join().unwrap();
}

#[test]
fn a_receive_whose_sender_is_kept_by_its_joiner_is_named() {
    if is_child() {
        return;
    }
    // The receives of `rx.iter().count()` are asked where `iter` was
    // called, not inside the standard library's `count`.
    let line = 1 + include_str!("pipeline.rs")
        .lines()
        .position(|l| l.ends_with("// the drain's receives"))
        .unwrap();
    let iter_site = format!("requested at tests/watchdog/pipeline.rs:{line}:");
    long_wait_report(
        child!(child_recv_sender_kept),
        "wd-boss",
        &[
            "joins thread `wd-drain`, which is itself blocked, waiting for an item from Queue `wd-work`",
            "Queue `wd-work` empty: 0 of 4",
            "1 Sender of Queue `wd-work` alive",
            "what to do: thread `wd-drain`, which this wait waits for, is itself blocked",
            &iter_site,
        ],
        &[],
    );
}

#[test]
fn child_recv_sender_kept() {
    if !is_child() {
        return;
    }
    let boss = named("wd-boss", || {
        let (tx, rx) = sync_channel_named::<u32>("wd-work", 4);
        let drain = named("wd-drain", move || {
            rx.iter().count() // the drain's receives
        });
        tx.send(1).unwrap();
        // The classic: `tx` is never dropped, so the drain never ends.
        drain.join().unwrap();
        drop(tx);
    });
    boss.join().unwrap();
}

#[test]
fn a_busy_oversubscribed_pipeline_is_no_deadlock_over_30_seconds() {
    if is_child() {
        return;
    }
    let secs = std::env::var("LOCKGRAPH_TEST_PIPELINE_SECS").unwrap_or_else(|_| "30".into());
    let out = child!(child_busy_pipeline)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_WATCHDOG", "200ms")
        .env("LOCKGRAPH_TEST_PIPELINE_SECS", &secs)
        .deadline(Duration::from_secs(secs.parse::<u64>().unwrap() + 60))
        .run_until(|_, err| err.contains("PIPELINE DONE"));
    let text = out.both();
    assert!(out.done, "the pipeline did not finish:\n{text}");
    assert!(!text.contains("DEADLOCK"), "{text}");
    assert!(!text.contains("potential deadlock"), "{text}");
    let n: u64 = text
        .split("PIPELINE DONE ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(n > 1000, "{n} items only:\n{text}");
}

/// source -> `busy-a` (2) -> 6 workers -> `busy-b` (2) -> 6 workers ->
/// `busy-c` (1) -> sink limited by a semaphore of 2 slots shared with a
/// second sink; the workers take a stats lock between receives (never
/// while sending). 16 busy threads on however few cores: waits on full and
/// empty queues all the time, none of them a deadlock.
#[test]
fn child_busy_pipeline() {
    if !is_child() {
        return;
    }
    let secs: u64 = std::env::var("LOCKGRAPH_TEST_PIPELINE_SECS")
        .unwrap()
        .parse()
        .unwrap();
    let stats = Arc::new(Mutex::named("busy-stats", 0u64));
    let slots = Arc::new(Semaphore::named("busy-slots", 2));
    let (a_tx, a_rx) = sync_channel_named::<u64>("busy-a", 2);
    let (b_tx, b_rx) = sync_channel_named::<u64>("busy-b", 2);
    let (c_tx, c_rx) = sync_channel_named::<u64>("busy-c", 1);
    let spin = |n: u64| (0..200u64).fold(n, |x, i| std::hint::black_box(x ^ i).rotate_left(1));
    let stage = |name: String,
                 rx: Arc<Mutex<lockgraph::mpsc::Receiver<u64>>>,
                 tx: lockgraph::mpsc::SyncSender<u64>,
                 stats: Arc<Mutex<u64>>| {
        named(&name, move || loop {
            let item = rx.lock().recv();
            let Ok(x) = item else { break };
            *stats.lock() += 1;
            if tx.send(spin(x)).is_err() {
                break;
            }
        })
    };
    let a_rx = Arc::new(Mutex::named("busy-a-rx", a_rx));
    let b_rx = Arc::new(Mutex::named("busy-b-rx", b_rx));
    let mut handles = Vec::new();
    for i in 0..6 {
        handles.push(stage(
            format!("busy-decode-{i}"),
            a_rx.clone(),
            b_tx.clone(),
            stats.clone(),
        ));
        handles.push(stage(
            format!("busy-augment-{i}"),
            b_rx.clone(),
            c_tx.clone(),
            stats.clone(),
        ));
    }
    drop((b_tx, c_tx));
    let c_rx = Arc::new(Mutex::named("busy-c-rx", c_rx));
    let sinks: Vec<_> = (0..2)
        .map(|i| {
            let (rx, slots) = (c_rx.clone(), slots.clone());
            named(&format!("busy-gpu-{i}"), move || {
                let mut n = 0u64;
                loop {
                    let item = rx.lock().recv();
                    let Ok(x) = item else { break n };
                    let _slot = slots.acquire();
                    std::hint::black_box(spin(x));
                    n += 1;
                }
            })
        })
        .collect();
    let source = named("busy-source", move || {
        let end = std::time::Instant::now() + Duration::from_secs(secs);
        let mut i = 0;
        while std::time::Instant::now() < end {
            a_tx.send(i).unwrap();
            i += 1;
        }
    });
    source.join().unwrap();
    for h in handles {
        h.join().unwrap();
    }
    let n: u64 = sinks.into_iter().map(|s| s.join().unwrap()).sum();
    eprintln!("PIPELINE DONE {n}");
}
