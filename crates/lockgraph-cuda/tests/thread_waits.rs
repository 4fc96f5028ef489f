//! A thread's wait on a signal (`Signal::wait`), checked by the model
//! before it blocks: the thread holds a lock that a pending host function
//! setting the signal needs, or waits while it promised to set a signal
//! that host function waits on. On the simulated back end; every wait that
//! deadlocks is timed, so a missed report fails instead of hanging.
#![cfg(debug_assertions)]

use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use lockgraph::{capture, CycleReport, Mutex, ReportKind};
use lockgraph_cuda::sim::{Context, Stream};
use lockgraph_cuda::{HostFn, Signal};

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

fn certain(r: &CycleReport) -> bool {
    match r.kind {
        ReportKind::DeviceCycle { certain } => certain,
        k => panic!("not a device cycle: {k:?}"),
    }
}

fn has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

/// Enqueues on `s` a host function that takes `m`, then sets `c`,
/// declaring both when `declare`: one enqueue site for every test (each
/// uses its own stream name, which is part of what is learned).
fn lock_then_set(s: &Stream, m: &Arc<Mutex<()>>, c: &Arc<Signal>, declare: bool) {
    let (m1, c1) = (Arc::clone(m), Arc::clone(c));
    let f = HostFn::new(move || {
        drop(m1.lock());
        c1.set();
    });
    s.launch_host_fn(if declare { f.locks(m).feeds(c) } else { f })
        .unwrap();
}

/// Holding `m`, enqueues [`lock_then_set`] and waits on `c` (up to
/// [`SHORT`]): what this thread reported, and whether the wait timed out.
fn hold_and_wait(
    s: &Stream,
    m: &Arc<Mutex<()>>,
    c: &Arc<Signal>,
    declare: bool,
) -> (Vec<CycleReport>, bool) {
    let mut timed_out = false;
    let reports = capture(|| {
        let g = m.lock();
        lock_then_set(s, m, c, declare);
        timed_out = !c.wait_timeout(SHORT);
        drop(g);
    });
    s.synchronize().unwrap();
    (reports, timed_out)
}

#[test]
fn holding_a_lock_the_declared_setter_needs_is_a_certain_cycle_before_the_wait_blocks() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("tw-declared").unwrap();
    let m = Arc::new(Mutex::named("tw-declared-m", ()));
    let c = Arc::new(Signal::named("tw-declared-ready"));
    let (reports, timed_out) = hold_and_wait(&s, &m, &c, true);
    assert!(timed_out, "it really deadlocks");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(certain(&reports[0]), "{}", reports[0]);
    has(
        &reports[0].to_string(),
        &[
            "holds Mutex `tw-declared-m` and waits: wait on signal `tw-declared-ready` (set by host fn enqueued at crates/lockgraph-cuda/tests/thread_waits.rs:",
            "signal `tw-declared-ready` is set by host fn enqueued at",
            "on stream `tw-declared`",
            "locks Mutex `tw-declared-m`",
            // The fix of a thread's wait, not a synchronize's or a waiting
            // host function's (found by an outside test).
            "fix: release Mutex `tw-declared-m` before waiting on the signal, or stop taking it in the host function that sets it",
        ],
    );
    let text = reports[0].to_string();
    assert!(
        !text.contains("before the synchronize")
            && !text.contains("host function that waits on it"),
        "{text}"
    );
}

#[test]
fn a_wait_without_the_lock_or_on_a_set_signal_is_no_cycle() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("tw-free").unwrap();
    let m = Arc::new(Mutex::named("tw-free-m", ()));
    // Not holding the lock: the host fn takes it, sets the signal.
    let c = Arc::new(Signal::named("tw-free-ready"));
    let reports = capture(|| {
        lock_then_set(&s, &m, &c, true);
        assert!(c.wait_timeout(LONG), "set by the host fn");
    });
    assert!(reports.is_empty(), "{reports:?}");

    // Holding it, on a signal already set: the wait does not block.
    let c = Arc::new(Signal::named("tw-free-set"));
    c.set();
    let (tx, rx) = channel();
    s.launch_host_fn(HostFn::new(move || {
        let _ = rx.recv_timeout(LONG);
    }))
    .unwrap();
    let reports = capture(|| {
        let g = m.lock();
        lock_then_set(&s, &m, &c, true);
        assert!(c.wait_timeout(LONG));
        drop(g);
    });
    tx.send(()).unwrap();
    s.synchronize().unwrap();
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn an_undeclared_setter_is_learned_and_the_second_wait_is_a_potential_cycle() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("tw-learned").unwrap();
    let m = Arc::new(Mutex::named("tw-learned-m", ()));
    // First: nothing known of what the host fn locks or sets; it blocks on
    // the lock until the wait times out, then sets the signal.
    let (first, timed_out) =
        hold_and_wait(&s, &m, &Arc::new(Signal::named("tw-learned-ready")), false);
    assert!(timed_out);
    assert!(first.is_empty(), "{first:?}");
    // Second, another signal of the name: the site was seen to take the
    // lock and to set a signal of the name. Potential: the name may cover
    // another signal.
    let (second, timed_out) =
        hold_and_wait(&s, &m, &Arc::new(Signal::named("tw-learned-ready")), false);
    assert!(timed_out);
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(!certain(&second[0]), "{}", second[0]);
    has(
        &second[0].to_string(),
        &[
            "waits: wait on signal `tw-learned-ready` (maybe set by host fn enqueued at",
            "signal `tw-learned-ready` may be set by host fn enqueued at",
            "Mutex `tw-learned-m`",
        ],
    );
}

#[test]
fn a_thread_that_promised_a_signal_the_setter_waits_on_is_a_certain_cycle() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("tw-promise").unwrap();
    let first = Arc::new(Signal::named("tw-promise-first"));
    let then = Arc::new(Signal::named("tw-promise-then"));
    let (f1, t1) = (Arc::clone(&first), Arc::clone(&then));
    let mut timed_out = false;
    let reports = capture(|| {
        let promise = first.will_set();
        s.launch_host_fn(
            HostFn::new(move || {
                let _ = f1.wait_timeout(LONG);
                t1.set();
            })
            .waits(&first)
            .feeds(&then),
        )
        .unwrap();
        // Waits on `then` before setting `first`: the host fn waits on
        // `first` before it sets `then`.
        timed_out = !then.wait_timeout(SHORT);
        first.set();
        drop(promise);
    });
    s.synchronize().unwrap();
    assert!(timed_out, "it really deadlocks");
    let device: Vec<&CycleReport> = reports
        .iter()
        .filter(|r| matches!(r.kind, ReportKind::DeviceCycle { .. }))
        .collect();
    assert_eq!(device.len(), 1, "{reports:?}");
    assert!(certain(device[0]), "{}", device[0]);
    has(
        &device[0].to_string(),
        &[
            "signal `tw-promise-first` is set by thread",
            "only after it waits: wait on signal `tw-promise-then`",
            "waits on signal `tw-promise-first`",
        ],
    );
}

#[test]
fn without_a_cycle_the_held_lock_gets_an_order_edge_to_the_setter_s_stream() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("tw-order").unwrap();
    let m = Arc::new(Mutex::named("tw-order-m", ()));
    let other = Arc::new(Mutex::named("tw-order-other", ()));
    // Holding `m`, wait for a host fn on the stream that takes another
    // lock and sets the signal: no cycle, but "m -> stream".
    let c = Arc::new(Signal::named("tw-order-ready"));
    let reports = capture(|| {
        let g = m.lock();
        lock_then_set(&s, &other, &c, true);
        assert!(c.wait_timeout(LONG));
        drop(g);
    });
    assert!(reports.is_empty(), "{reports:?}");
    // A host fn on that stream that takes `m`: "stream -> m" closes a
    // lock-order cycle with it.
    let (tx, rx) = channel();
    let m2 = Arc::clone(&m);
    s.launch_host_fn(HostFn::new(move || {
        tx.send(capture(|| drop(m2.lock()))).unwrap();
    }))
    .unwrap();
    s.synchronize().unwrap();
    let inside = rx.recv_timeout(LONG).unwrap();
    assert_eq!(inside.len(), 1, "{inside:?}");
    assert_eq!(inside[0].kind, ReportKind::LockOrderCycle, "{}", inside[0]);
    has(
        &inside[0].to_string(),
        &["Stream `tw-order (CUDA stream)`", "Mutex `tw-order-m`"],
    );
}

#[test]
fn a_setter_enqueued_by_another_thread_during_the_wait_is_reported_at_its_enqueue() {
    let ctx = Context::new(0).unwrap();
    let s = Arc::new(ctx.new_stream("tw-later").unwrap());
    let m = Arc::new(Mutex::named("tw-later-m", ()));
    let c = Arc::new(Signal::named("tw-later-ready"));
    let (waiting_tx, waiting) = channel();
    let (s2, m2, c2) = (Arc::clone(&s), Arc::clone(&m), Arc::clone(&c));
    let enqueuer = std::thread::spawn(move || {
        waiting.recv_timeout(LONG).unwrap();
        // Let the wait start (it is registered before it blocks; the
        // margin is for a loaded machine).
        std::thread::sleep(Duration::from_millis(300));
        capture(|| lock_then_set(&s2, &m2, &c2, true))
    });
    let mut timed_out = false;
    let here = capture(|| {
        let g = m.lock();
        waiting_tx.send(()).unwrap();
        timed_out = !c.wait_timeout(Duration::from_millis(1200));
        drop(g);
    });
    let at_enqueue = enqueuer.join().unwrap();
    s.synchronize().unwrap();
    assert!(timed_out, "it really deadlocks");
    assert!(here.is_empty(), "no setter when the wait began: {here:?}");
    assert_eq!(at_enqueue.len(), 1, "{at_enqueue:?}");
    // Another thread enqueued it: the host fn may have taken the lock
    // first, as far as the model knows.
    assert!(!certain(&at_enqueue[0]), "{}", at_enqueue[0]);
    has(
        &at_enqueue[0].to_string(),
        &[
            "holds Mutex `tw-later-m` and waits: wait on signal `tw-later-ready`",
            "signal `tw-later-ready` is set by host fn enqueued at",
        ],
    );
}
