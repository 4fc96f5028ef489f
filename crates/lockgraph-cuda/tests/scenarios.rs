//! The scenarios on the simulated back end. Deadlocking waits are
//! timed, so a missed report fails instead of hanging.
#![cfg(debug_assertions)]

use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use lockgraph::{capture, CycleReport, Mutex, ReportKind, RwLock};
use lockgraph_cuda::sim::{Context, Stream};
use lockgraph_cuda::{race, Buffer, HostFn, Signal};

const SHORT: Duration = Duration::from_millis(300);

/// Enqueues on `waiting` a host function that waits (up to [`SHORT`]) on
/// `c`, then on `setting` one that sets it, each declaring it.
fn wait_then_set(waiting: &Stream, setting: &Stream, c: &Arc<Signal>) {
    let c1 = c.clone();
    waiting
        .launch_host_fn(
            HostFn::new(move || {
                let _ = c1.wait_timeout(SHORT);
            })
            .waits(c),
        )
        .unwrap();
    let c2 = c.clone();
    setting
        .launch_host_fn(HostFn::new(move || c2.set()).feeds(c))
        .unwrap();
}

fn certain(r: &CycleReport) -> bool {
    match r.kind {
        ReportKind::DeviceCycle { certain } => certain,
        k => panic!("not a device cycle: {k:?}"),
    }
}

/// A report's host fn is said as its label is (`` host fn enqueued at ...
/// on stream `s` ``), not quoted again as `` HostFn `...` ``, whose
/// backticks nested the stream name's (found by an outside test).
fn assert_no_nested_quotes(text: &str) {
    assert!(!text.contains("``"), "nested quotes:\n{text}");
    assert!(
        !text.contains("`host fn enqueued"),
        "nested quotes:\n{text}"
    );
}

/// A host fn that holds the stream until `rx` fires (or 5 s pass).
fn gate(ctx_stream: &lockgraph_cuda::sim::Stream) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = channel::<()>();
    ctx_stream
        .launch_host_fn(HostFn::new(move || {
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }))
        .unwrap();
    tx
}

#[test]
fn s1_lock_held_across_enqueue_and_sync_is_a_certain_cycle() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("s1-stream").unwrap();
    let m = Arc::new(Mutex::named("s1-m", ()));
    let reports = capture(|| {
        let g = m.lock();
        let m2 = m.clone();
        s.launch_host_fn(HostFn::new(move || drop(m2.lock())).locks(&m))
            .unwrap();
        assert!(s.synchronize_timeout(SHORT).is_err(), "it really deadlocks");
        drop(g);
    });
    s.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(certain(&reports[0]));
    let text = reports[0].to_string();
    for needle in [
        "s1-stream",
        "Mutex `s1-m`",
        "host fn enqueued at",
        "scenarios.rs",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert_no_nested_quotes(&text);
    let node = text
        .lines()
        .find(|l| l.contains("host fn enqueued at") && l.trim_start().starts_with('L'))
        .unwrap_or_else(|| panic!("no host fn node:\n{text}"));
    assert!(node.ends_with("on stream `s1-stream`"), "{node}");
}

#[test]
fn s1_undeclared_lock_is_learned_and_the_second_run_is_a_certain_cycle() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("learn-stream").unwrap();
    let m = Arc::new(Mutex::named("learn-arena", ()));
    let (inside_tx, inside_rx) = channel();
    // One code path, run twice: hold the lock, enqueue a host fn that takes
    // it (not declared), synchronize. Returns what the synchronizing thread
    // and the host fn's own lock call reported.
    let run = || {
        let (m2, tx) = (m.clone(), inside_tx.clone());
        let reports = capture(|| {
            let g = m.lock();
            s.launch_host_fn(HostFn::new(move || {
                tx.send(capture(|| drop(m2.lock()))).unwrap();
            }))
            .unwrap();
            assert!(s.synchronize_timeout(SHORT).is_err(), "it really deadlocks");
            drop(g);
        });
        s.synchronize().unwrap();
        (reports, inside_rx.recv().unwrap())
    };

    // First run: the model knows nothing of the host fn's lock, but the
    // order edges "arena -> stream" (the synchronize) and "stream -> arena"
    // (the host fn's lock) close a lock-order cycle, reported by whichever
    // came second (the host fn may start before or after the synchronize).
    let (sync, inside) = run();
    let first: Vec<CycleReport> = sync.into_iter().chain(inside).collect();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].kind, ReportKind::LockOrderCycle, "{}", first[0]);
    let text = first[0].to_string();
    for needle in ["Stream `learn-stream (CUDA stream)`", "Mutex `learn-arena`"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // Second run: host fns from that site take the arena: certain.
    let (sync, inside) = run();
    assert!(inside.is_empty(), "{inside:?}");
    assert_eq!(sync.len(), 1, "{sync:?}");
    assert!(certain(&sync[0]), "{}", sync[0]);
    let text = sync[0].to_string();
    for needle in [
        "learn-stream",
        "Mutex `learn-arena`",
        "host fn enqueued at crates/lockgraph-cuda/tests/scenarios.rs:",
        "seen in host functions enqueued at the same site",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert_no_nested_quotes(&text);
}

#[test]
fn a_read_lock_held_across_a_host_fn_that_reads_it_is_potential_not_certain() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("rw-read-stream").unwrap();
    let rw = Arc::new(RwLock::named("rw-read-weights", 0));
    // Holding a read lock across the enqueue and the synchronize of a host
    // fn that reads it (not declared): no writer, so it could not deadlock;
    // twice, so that the second run knows what the site takes. A gate ahead
    // of it keeps it pending at the synchronize (which then times out).
    let run = || {
        let rw2 = rw.clone();
        let open = gate(&s);
        let reports = capture(|| {
            let _g = rw.read();
            // (The first run's lock-order report, from the host fn's read,
            // is not this test's.)
            let read = move || drop(capture(|| drop(rw2.read())));
            s.launch_host_fn(HostFn::new(read)).unwrap();
            assert!(s.synchronize_timeout(SHORT).is_err());
        });
        open.send(()).unwrap();
        s.synchronize().unwrap();
        reports
    };
    let _ = run();
    let second = run();
    // A shared hold and a shared request deadlock only behind a writer that
    // queues between them: potential (the model cannot tell a read hold from
    // a write hold, so a read-write lock is never certain).
    let device: Vec<&CycleReport> = second
        .iter()
        .filter(|r| matches!(r.kind, ReportKind::DeviceCycle { .. }))
        .collect();
    assert_eq!(device.len(), 1, "{second:?}");
    assert!(!certain(device[0]), "{}", device[0]);
    let text = device[0].to_string();
    for needle in ["RwLock `rw-read-weights`", "a read-write lock"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn a_lock_a_host_fn_took_held_across_a_synchronize_is_a_potential_order_cycle() {
    let ctx = Context::new(0).unwrap();

    // The host fn first, the thread later: reported at the synchronize,
    // although nothing is pending and nothing blocks.
    let s = ctx.new_stream("order-stream").unwrap();
    let m = Arc::new(Mutex::named("order-m", ()));
    let m2 = m.clone();
    s.launch_host_fn(HostFn::new(move || drop(m2.lock())))
        .unwrap();
    s.synchronize().unwrap();
    let reports = capture(|| {
        let _g = m.lock();
        s.synchronize().unwrap();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::LockOrderCycle);
    let text = reports[0].to_string();
    // A stream is no lock a program can take in an order: the fix of a
    // lock-order cycle through one is the hold across the synchronize, or
    // the lock its host functions take.
    assert!(!text.contains("one global order"), "{text}");
    for needle in [
        "Stream `order-stream (CUDA stream)`",
        "Mutex `order-m`",
        "cuda host-fn executor",
        "fix: a host function on L",
        "`order-stream (CUDA stream)` takes L",
        "`order-m` before the synchronize",
        "`order-m` in that stream's host functions",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // The thread first, the host fn later: reported at the host fn's lock,
    // on the executor thread, before it would block.
    let s = ctx.new_stream("order-stream-2").unwrap();
    let n = Arc::new(Mutex::named("order-n", ()));
    let none = capture(|| {
        let _g = n.lock();
        s.synchronize().unwrap();
    });
    assert!(none.is_empty(), "{none:?}");
    let (tx, rx) = channel();
    let n2 = n.clone();
    s.launch_host_fn(HostFn::new(move || {
        tx.send(capture(|| drop(n2.lock()))).unwrap();
    }))
    .unwrap();
    s.synchronize().unwrap();
    let inside = rx.recv().unwrap();
    assert_eq!(inside.len(), 1, "{inside:?}");
    assert_eq!(inside[0].kind, ReportKind::LockOrderCycle);
    let text = inside[0].to_string();
    for needle in ["Stream `order-stream-2 (CUDA stream)`", "Mutex `order-n`"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // Released before the synchronize: no order edge, nothing.
    let s = ctx.new_stream("order-stream-3").unwrap();
    let k = Arc::new(Mutex::named("order-k", ()));
    let k2 = k.clone();
    s.launch_host_fn(HostFn::new(move || drop(k2.lock())))
        .unwrap();
    let none = capture(|| {
        drop(k.lock());
        s.synchronize().unwrap();
    });
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn a_lock_released_and_taken_again_before_the_synchronize_is_potential() {
    // Held at the enqueue and at the synchronize, but not in between: the
    // host fn could have taken the lock in the gap (here the gate keeps it
    // from starting, so the wait really times out), so the cycle is not
    // forced.
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("retaken-stream").unwrap();
    let m = Arc::new(Mutex::named("retaken-m", ()));
    let open = gate(&s);
    let reports = capture(|| {
        let g = m.lock();
        let m2 = m.clone();
        s.launch_host_fn(HostFn::new(move || drop(m2.lock())).locks(&m))
            .unwrap();
        drop(g);
        let g = m.lock();
        open.send(()).unwrap();
        assert!(s.synchronize_timeout(SHORT).is_err(), "it really waits");
        drop(g);
    });
    s.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(!certain(&reports[0]), "{}", reports[0]);
}

#[test]
fn an_event_synchronize_in_a_cycle_names_the_event() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("evsync-stream").unwrap();
    let e = ctx.new_event("evsync-after-cb").unwrap();
    let m = Arc::new(Mutex::named("evsync-m", ()));
    let reports = capture(|| {
        let g = m.lock();
        let m2 = m.clone();
        s.launch_host_fn(HostFn::new(move || drop(m2.lock())).locks(&m))
            .unwrap();
        s.record_event(&e).unwrap();
        assert!(e.synchronize_timeout(SHORT).is_err(), "it really deadlocks");
        drop(g);
    });
    s.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(certain(&reports[0]));
    let text = reports[0].to_string();
    assert!(
        text.contains("synchronize event `evsync-after-cb` (recorded on stream `evsync-stream`)"),
        "{text}"
    );
}

#[test]
fn device_cycle_reports_say_what_to_change() {
    let ctx = Context::new(0).unwrap();

    // A lock held across the synchronize: release it, or do not take it in
    // the host fn.
    let s = ctx.new_stream("fix-lock-stream").unwrap();
    let m = Arc::new(Mutex::named("fix-m", ()));
    let reports = capture(|| {
        let g = m.lock();
        let m2 = m.clone();
        s.launch_host_fn(HostFn::new(move || drop(m2.lock())).locks(&m))
            .unwrap();
        assert!(s.synchronize_timeout(SHORT).is_err());
        drop(g);
    });
    s.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let text = reports[0].to_string();
    assert!(
        text.contains("fix: release Mutex `fix-m` before the synchronize"),
        "{text}"
    );
    assert!(
        text.contains("stop taking it in the host function"),
        "{text}"
    );

    // A signal set only by a host fn that the shared executor runs after
    // the waiting one: set it first, and the executor is shared.
    let s1 = ctx.new_stream("fix-sig-a").unwrap();
    let s2 = ctx.new_stream("fix-sig-b").unwrap();
    let c = Arc::new(Signal::named("fix-sig"));
    let open = gate(&s1);
    let reports = capture(|| {
        wait_then_set(&s1, &s2, &c);
    });
    open.send(()).unwrap();
    ctx.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let text = reports[0].to_string();
    for needle in [
        "fix: set the signal before the host function that waits on it is enqueued",
        "one at a time on one executor thread",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // A CUDA call inside a host fn.
    let s = Arc::new(ctx.new_stream("fix-self").unwrap());
    let (tx, rx) = channel();
    let s3 = s.clone();
    s.launch_host_fn(HostFn::new(move || {
        let reports = capture(|| drop(s3.launch("k", &[], &[], || {})));
        tx.send(reports).unwrap();
    }))
    .unwrap();
    let reports = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    s.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let text = reports[0].to_string();
    assert!(
        text.contains(
            "fix: make no CUDA call (synchronize, launch, record, wait) inside a host function"
        ),
        "{text}"
    );
}

#[test]
fn an_event_recorded_before_every_host_fn_of_its_stream_records_no_order_edge() {
    // The event is recorded before the stream's only host fn: holding the
    // lock that host fn takes across the event's synchronize cannot hang,
    // and is not a lock-order cycle.
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("evorder-stream").unwrap();
    let e = ctx.new_event("evorder-e").unwrap();
    let m = Arc::new(Mutex::named("evorder-m", ()));
    let step = |expect: usize| {
        s.record_event(&e).unwrap();
        let m2 = m.clone();
        s.launch_host_fn(HostFn::new(move || drop(m2.lock())))
            .unwrap();
        // The host fn has run (and taken the lock) before the hold.
        std::thread::sleep(Duration::from_millis(50));
        let reports = capture(|| {
            let _g = m.lock();
            e.synchronize().unwrap();
        });
        s.synchronize().unwrap();
        assert_eq!(reports.len(), expect, "{reports:?}");
        if expect == 1 {
            assert_eq!(reports[0].kind, ReportKind::LockOrderCycle);
        }
    };
    step(0);
    // A second record comes after the first step's host fn: in a loop, the
    // hold could meet a host fn still pending before the record.
    step(1);
}

#[test]
fn s2_lock_taken_after_enqueue_is_potential_and_released_is_none() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("s2-stream").unwrap();
    let m = Arc::new(Mutex::named("s2-m", ()));
    let open = gate(&s);
    let m2 = m.clone();
    s.launch_host_fn(HostFn::new(move || drop(m2.lock())).locks(&m))
        .unwrap();
    let reports = capture(|| {
        let g = m.lock();
        assert!(s.synchronize_timeout(Duration::from_millis(50)).is_err());
        drop(g);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(!certain(&reports[0]), "{}", reports[0]);
    // Released before the sync: nothing.
    let m3 = m.clone();
    s.launch_host_fn(HostFn::new(move || drop(m3.lock())).locks(&m))
        .unwrap();
    let none = capture(|| {
        drop(m.lock());
        open.send(()).unwrap();
        s.synchronize().unwrap();
    });
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn s3_host_fn_waiting_for_a_later_one() {
    // B on the same stream: certain.
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("s3-stream").unwrap();
    let c = Arc::new(Signal::named("s3-chan"));
    let open = gate(&s);
    let reports = capture(|| {
        wait_then_set(&s, &s, &c);
    });
    open.send(()).unwrap();
    s.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(certain(&reports[0]), "{}", reports[0]);

    // B on another stream: through the shared executor, potential.
    let s2 = ctx.new_stream("s3-other").unwrap();
    let c = Arc::new(Signal::named("s3-chan-b"));
    let open = gate(&s);
    let reports = capture(|| {
        wait_then_set(&s, &s2, &c);
    });
    open.send(()).unwrap();
    s.synchronize().unwrap();
    s2.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(!certain(&reports[0]));
    assert!(
        reports[0].to_string().contains("executor"),
        "{}",
        reports[0]
    );

    // A free host thread feeds it: nothing.
    let c = Arc::new(Signal::named("s3-chan-free"));
    let none = capture(|| {
        let c1 = c.clone();
        s.launch_host_fn(HostFn::new(move || c1.wait()).waits(&c))
            .unwrap();
        let c2 = c.clone();
        std::thread::spawn(move || c2.set());
        s.synchronize().unwrap();
    });
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn s4_event_chain_back_to_the_flag_setter() {
    let ctx = Context::new(0).unwrap();
    let (s1, s2) = (
        ctx.new_stream("s4-s1").unwrap(),
        ctx.new_stream("s4-s2").unwrap(),
    );
    let flag = Arc::new(Signal::named("s4-flag"));
    let e = ctx.new_event("s4-e").unwrap();
    let reports = capture(|| {
        let f = flag.clone();
        s2.launch_host_fn(
            HostFn::new(move || {
                let _ = f.wait_timeout(Duration::from_secs(5));
            })
            .waits(&flag),
        )
        .unwrap();
        s2.record_event(&e).unwrap();
        s1.wait(&e).unwrap();
        let p = flag.will_set();
        assert!(s1.synchronize_timeout(Duration::from_millis(50)).is_err());
        flag.set();
        drop(p);
    });
    s1.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(certain(&reports[0]), "{}", reports[0]);
    let text = reports[0].to_string();
    assert!(text.contains("s4-e") && text.contains("s4-flag"), "{text}");

    // E recorded before F: nothing.
    let flag = Arc::new(Signal::named("s4-flag-ok"));
    let none = capture(|| {
        s2.record_event(&e).unwrap();
        let f = flag.clone();
        s2.launch_host_fn(HostFn::new(move || f.wait()).waits(&flag))
            .unwrap();
        s1.wait(&e).unwrap();
        let p = flag.will_set();
        s1.synchronize().unwrap();
        flag.set();
        drop(p);
    });
    s2.synchronize().unwrap();
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn s5_two_threads_two_streams_crossed_locks_is_potential() {
    let ctx = Context::new(0).unwrap();
    let (s1, s2) = (
        ctx.new_stream("s5-s1").unwrap(),
        ctx.new_stream("s5-s2").unwrap(),
    );
    let a = Arc::new(Mutex::named("s5-a", ()));
    let b = Arc::new(Mutex::named("s5-b", ()));
    let (ready_tx, ready_rx) = channel();
    let (a1, b1) = (a.clone(), b.clone());
    let open = gate(&s1);
    let t1 = std::thread::spawn(move || {
        let g = a1.lock();
        let b2 = b1.clone();
        s1.launch_host_fn(HostFn::new(move || drop(b2.lock())).locks(&b1))
            .unwrap();
        ready_tx.send(()).unwrap();
        let _ = s1.synchronize_timeout(Duration::from_millis(600));
        drop(g);
        s1
    });
    ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let reports = capture(|| {
        let g = b.lock();
        let a2 = a.clone();
        s2.launch_host_fn(HostFn::new(move || drop(a2.lock())).locks(&a))
            .unwrap();
        let _ = s2.synchronize_timeout(Duration::from_millis(100));
        drop(g);
    });
    open.send(()).unwrap();
    let s1 = t1.join().unwrap();
    s1.synchronize().unwrap();
    s2.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(!certain(&reports[0]), "{}", reports[0]);
    let text = reports[0].to_string();
    for needle in ["s5-s1", "s5-s2", "Mutex `s5-a`", "Mutex `s5-b`"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn a_host_fn_that_synchronizes_its_stream_is_reported_at_once() {
    let ctx = Context::new(0).unwrap();
    let s = Arc::new(ctx.new_stream("self-sync").unwrap());
    let (tx, rx) = channel();
    let s2 = s.clone();
    s.launch_host_fn(HostFn::new(move || {
        let reports = capture(|| tx.send(s2.synchronize()).unwrap());
        assert_eq!(reports.len(), 1);
        assert!(certain(&reports[0]));
    }))
    .unwrap();
    let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(matches!(r, Err(lockgraph_cuda::Error::CudaCallInHostFn(_))));
}

#[test]
fn races_between_streams_and_the_host() {
    let ctx = Context::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("race-a").unwrap(),
        ctx.new_stream("race-b").unwrap(),
    );
    // Host reads before the copy into it was synchronized.
    let (dev, host) = (Buffer::named("dev"), Buffer::named("host-out"));
    let r = race::capture(|| {
        a.copy(&host, &dev, || {}).unwrap();
        host.host_read();
    });
    assert_eq!(r.len(), 1);
    let text = r[0].to_string();
    assert!(
        text.contains("host-out") && text.contains("race-a") && text.contains("host read"),
        "{text}"
    );
    let r = race::capture(|| {
        a.copy(&host, &dev, || {}).unwrap();
        a.synchronize().unwrap();
        host.host_read();
    });
    assert!(r.is_empty(), "{r:?}");

    // Host refills a staging buffer while a copy from it is in flight.
    let (staging, dev2) = (Buffer::named("staging"), Buffer::named("dev2"));
    let r = race::capture(|| {
        staging.host_write();
        a.copy(&dev2, &staging, || {}).unwrap();
        staging.host_write();
    });
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].later.write && r[0].earlier.op.contains("staging"));
    let e = ctx.new_event("staged").unwrap();
    let r = race::capture(|| {
        a.copy(&dev2, &staging, || {}).unwrap();
        a.record_event(&e).unwrap();
        e.synchronize().unwrap();
        staging.host_write();
    });
    assert!(r.is_empty(), "{r:?}");

    // Stream B reads what stream A wrote without an event wait.
    let x = Buffer::named("x");
    let r = race::capture(|| {
        a.launch("produce", &[], &[&x], || {}).unwrap();
        b.launch("consume", &[&x], &[], || {}).unwrap();
    });
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].to_string().contains("kernel `produce`"));
    let e = ctx.new_event("produced").unwrap();
    let x = Buffer::named("x-ordered");
    let r = race::capture(|| {
        a.launch("produce", &[], &[&x], || {}).unwrap();
        a.record_event(&e).unwrap();
        b.wait(&e).unwrap();
        b.launch("consume", &[&x], &[], || {}).unwrap();
    });
    assert!(r.is_empty(), "{r:?}");
    a.synchronize().unwrap();
    b.synchronize().unwrap();
}

#[test]
fn a_race_with_a_host_fn_seen_late_is_told_in_program_order() {
    // The host fn writes the config, then a kernel on another stream reads
    // it, with no event between them. The host fn runs (and its write is
    // seen) after the kernel was enqueued; the report still names the write
    // first, and its fix orders the kernel after the host fn, not the
    // other way round.
    let ctx = Context::new(0).unwrap();
    let a = ctx.new_stream("late-a").unwrap();
    let b = ctx.new_stream("late-b").unwrap();
    let cfg = Arc::new(Buffer::named("late-cfg"));
    let open = gate(&a);
    let (tx, rx) = channel();
    let c2 = cfg.clone();
    a.launch_host_fn(HostFn::new(move || {
        tx.send(race::capture(|| c2.host_write())).unwrap();
    }))
    .unwrap();
    let none = race::capture(|| b.launch("use_cfg", &[&cfg], &[], || {}).unwrap());
    assert!(none.is_empty(), "{none:?}");
    open.send(()).unwrap();
    let reports = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    ctx.synchronize().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.earlier.op, "host write", "{r}");
    assert!(r.later.by.contains("stream `late-b`"), "{r}");
    let text = r.to_string();
    for needle in [
        "record an event on stream `late-a` after the host fn enqueued at",
        "make stream `late-b` wait on it before kernel `use_cfg`",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn a_context_synchronize_waits_for_every_stream_of_the_context() {
    let ctx = Context::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("ctx-a").unwrap(),
        ctx.new_stream("ctx-b").unwrap(),
    );
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (xa, xb) = (Buffer::named("ctx-xa"), Buffer::named("ctx-xb"));
    for (s, x) in [(&a, &xa), (&b, &xb)] {
        let d = done.clone();
        s.launch("slow", &[], &[x], move || {
            std::thread::sleep(Duration::from_millis(50));
            d.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
    }
    // Both streams' work is done after it, and the host is ordered after
    // their writes.
    let r = race::capture(|| {
        ctx.synchronize().unwrap();
        xa.host_read();
        xb.host_read();
    });
    assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(r.is_empty(), "{r:?}");
}

/// One enqueue site, a stream of one name in each of two contexts (a
/// per-device loop): device 0's host function locks `a` then `b`, device
/// 1's `b` then `a`. The two contexts' executors run at once, so this can
/// deadlock, and the site's pseudo-lock, which each executor holds while
/// its host function runs, must gate neither edge: it is one per context.
#[test]
fn one_enqueue_site_on_two_contexts_gates_neither_host_function() {
    let a = Arc::new(Mutex::named("scn-site-ctx-a", ()));
    let b = Arc::new(Mutex::named("scn-site-ctx-b", ()));
    let (tx, rx) = channel();
    let contexts = [Context::new(0).unwrap(), Context::new(1).unwrap()];
    for (dev, ctx) in contexts.iter().enumerate() {
        let stream = ctx.new_stream("scn-site-ctx-work").unwrap();
        let (mine, peer) = if dev == 0 {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        let tx = tx.clone();
        let f = HostFn::new(move || {
            let reports = capture(|| {
                let _m = mine.lock();
                let _p = peer.lock();
            });
            tx.send(reports).unwrap();
        });
        // The same line for both devices: one enqueue site.
        stream.launch_host_fn(f).unwrap();
        stream.synchronize().unwrap();
    }
    drop(tx);
    let cycles = rx
        .iter()
        .flatten()
        .filter(|r| r.kind == ReportKind::LockOrderCycle)
        .count();
    assert_eq!(cycles, 1);
}
