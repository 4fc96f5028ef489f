//! Signal setters learned by name: a host function that sets a signal it
//! did not declare (`HostFn::feeds`) teaches the model that host functions
//! of its enqueue site (and stream name) set signals of that name. On the
//! simulated back end; every wait is timed, so a missed report fails
//! instead of hanging.
#![cfg(debug_assertions)]

use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Duration;

use lockgraph::{capture, CycleReport, ReportKind};
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

/// Enqueues on `s` a host function that sets `c`, declaring it when
/// `declare`: one enqueue site for every test (each uses its own stream
/// names, which are part of what is learned).
fn set_on(s: &Stream, c: &Arc<Signal>, declare: bool) {
    let c1 = Arc::clone(c);
    let f = HostFn::new(move || c1.set());
    s.launch_host_fn(if declare { f.feeds(c) } else { f })
        .unwrap();
}

/// Host functions of `set_on` on `s` are seen setting a signal named
/// `name` (one runs alone, and sets it).
fn learn(s: &Stream, name: &'static str) {
    set_on(s, &Arc::new(Signal::named(name)), false);
    s.synchronize().unwrap();
}

/// What one round reported: at the setter's enqueue, and at the waiter's
/// wait (on the executor); and whether the waiter's wait timed out.
struct Round {
    at_enqueue: Vec<CycleReport>,
    at_wait: Vec<CycleReport>,
    timed_out: bool,
}

/// Host fn A on `waiting` waits (up to [`SHORT`]) on `c`; once A runs, host
/// fn B on `setting` (by [`set_on`], `declare`), queued behind it, sets it.
/// A waits only once B is enqueued, so that its wait is checked with B
/// pending. Neither declares `c` unless `declare`.
fn round(waiting: &Stream, setting: &Stream, c: &Arc<Signal>, declare: bool) -> Round {
    let (started_tx, started) = channel();
    let (go, go_rx) = channel();
    let (out_tx, out) = channel();
    let c1 = Arc::clone(c);
    waiting
        .launch_host_fn(HostFn::new(move || {
            started_tx.send(()).unwrap();
            let _ = go_rx.recv_timeout(LONG);
            let mut timed_out = false;
            let reports = capture(|| timed_out = !c1.wait_timeout(SHORT));
            out_tx.send((reports, timed_out)).unwrap();
        }))
        .unwrap();
    started.recv_timeout(LONG).unwrap();
    let at_enqueue = capture(|| set_on(setting, c, declare));
    go.send(()).unwrap();
    let (at_wait, timed_out) = out.recv_timeout(LONG).unwrap();
    Round {
        at_enqueue,
        at_wait,
        timed_out,
    }
}

#[test]
fn an_undeclared_setter_queued_behind_the_waiter_is_learned_and_the_second_time_is_potential() {
    let ctx = Context::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("learnset-wait").unwrap(),
        ctx.new_stream("learnset-set").unwrap(),
    );
    let go = |name| {
        let r = round(&a, &b, &Arc::new(Signal::named(name)), false);
        ctx.synchronize().unwrap();
        r
    };

    // First time: nothing is learned yet. A really waits (B is queued
    // behind it on the shared executor) until its timeout; the watchdog
    // names that wait (tests/watchdog.rs). Then B runs and sets the signal:
    // learned.
    let first = go("learnset-ready");
    assert!(first.at_enqueue.is_empty(), "{:?}", first.at_enqueue);
    assert!(first.at_wait.is_empty(), "{:?}", first.at_wait);
    assert!(first.timed_out, "A waits until B, queued behind it, runs");

    // Second time (a new signal of the same name): reported when A is
    // about to wait, before it blocks. Potential: B's site set a signal of
    // that name, maybe another one; and the executor is shared.
    let second = go("learnset-ready");
    assert!(second.at_enqueue.is_empty(), "{:?}", second.at_enqueue);
    assert_eq!(second.at_wait.len(), 1, "{:?}", second.at_wait);
    let r = &second.at_wait[0];
    assert!(!certain(r), "{r}");
    assert!(second.timed_out, "the report does not change the wait");
    let text = r.to_string();
    eprintln!("{text}");
    for needle in [
        "potential deadlock",
        "Signal `learnset-ready`",
        "signal `learnset-ready` may be set by host fn enqueued at crates/lockgraph-cuda/tests/signal_setters.rs:",
        "on stream `learnset-set`",
        "were seen to set a signal named `learnset-ready`",
        "the executor may be running host fn enqueued at",
        "fix: set the signal before the host function that waits on it is enqueued",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn a_learned_setter_behind_the_waiter_on_its_stream_is_potential_and_a_declared_one_certain() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("learnsame").unwrap();
    learn(&s, "learnsame-ready");

    // B behind A on A's own stream: forced by FIFO, but B is taken to set
    // the signal by name only: potential.
    let r = round(&s, &s, &Arc::new(Signal::named("learnsame-ready")), false);
    s.synchronize().unwrap();
    assert!(r.at_enqueue.is_empty(), "{:?}", r.at_enqueue);
    assert_eq!(r.at_wait.len(), 1, "{:?}", r.at_wait);
    assert!(!certain(&r.at_wait[0]), "{}", r.at_wait[0]);
    let text = r.at_wait[0].to_string();
    assert!(
        text.contains("stream `learnsame` runs host fn enqueued at"),
        "{text}"
    );

    // The same, with B declaring what it sets (`feeds`): certain, as before.
    let r = round(&s, &s, &Arc::new(Signal::named("learnsame-ready")), true);
    s.synchronize().unwrap();
    assert!(r.at_enqueue.is_empty(), "{:?}", r.at_enqueue);
    assert_eq!(r.at_wait.len(), 1, "{:?}", r.at_wait);
    assert!(certain(&r.at_wait[0]), "{}", r.at_wait[0]);
    assert!(
        !r.at_wait[0].to_string().contains("were seen to set"),
        "{}",
        r.at_wait[0]
    );
}

#[test]
fn a_learned_setter_is_no_setter_of_a_signal_already_set_or_promised() {
    let ctx = Context::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("setalready-wait").unwrap(),
        ctx.new_stream("setalready-set").unwrap(),
    );
    learn(&b, "setalready-ready");

    // Set (by a thread) before A waits: the wait does not block, whatever
    // is queued behind it, on another stream or on A's own.
    for waiting in [&a, &b] {
        let c = Arc::new(Signal::named("setalready-ready"));
        c.set();
        let r = round(waiting, &b, &c, false);
        ctx.synchronize().unwrap();
        assert!(
            r.at_enqueue.is_empty() && r.at_wait.is_empty(),
            "{:?}",
            r.at_wait
        );
        assert!(!r.timed_out);
    }

    // Set by the learned setter itself, which ran first.
    let c = Arc::new(Signal::named("setalready-ready"));
    set_on(&b, &c, false);
    b.synchronize().unwrap();
    let r = round(&a, &b, &c, false);
    ctx.synchronize().unwrap();
    assert!(
        r.at_enqueue.is_empty() && r.at_wait.is_empty(),
        "{:?}",
        r.at_wait
    );

    // A thread promised to set it (`will_set`): it, not a name, says who
    // sets it (here it sets it only once A gave up).
    let c = Arc::new(Signal::named("setalready-ready"));
    let promise = c.will_set();
    let r = round(&a, &b, &c, false);
    c.set();
    drop(promise);
    ctx.synchronize().unwrap();
    assert!(
        r.at_enqueue.is_empty() && r.at_wait.is_empty(),
        "{:?}",
        r.at_wait
    );

    // An unset one, nothing declared: the learned setter counts (the cases
    // above are not quiet for want of learning).
    let r = round(&a, &b, &Arc::new(Signal::named("setalready-ready")), false);
    ctx.synchronize().unwrap();
    assert_eq!(r.at_wait.len(), 1, "{:?}", r.at_wait);
    assert!(!certain(&r.at_wait[0]), "{}", r.at_wait[0]);
}

#[test]
fn a_learned_setter_not_queued_behind_the_waiter_is_no_cycle() {
    // B is pending on another context's executor (a stream of the same
    // name, so its site's learning applies): A's wait does not keep it from
    // running.
    let ctx = Context::new(0).unwrap();
    let other = Context::new(0).unwrap();
    let a = ctx.new_stream("elsewhere-wait").unwrap();
    let b = ctx.new_stream("elsewhere-set").unwrap();
    let b_other = other.new_stream("elsewhere-set").unwrap();
    learn(&b, "elsewhere-ready");

    // B stays pending (behind a gate) while A waits.
    let (open, shut) = channel::<()>();
    b_other
        .launch_host_fn(HostFn::new(move || {
            let _ = shut.recv_timeout(LONG);
        }))
        .unwrap();
    let r = round(
        &a,
        &b_other,
        &Arc::new(Signal::named("elsewhere-ready")),
        false,
    );
    open.send(()).unwrap();
    other.synchronize().unwrap();
    ctx.synchronize().unwrap();
    assert!(
        r.at_enqueue.is_empty() && r.at_wait.is_empty(),
        "{:?}",
        r.at_wait
    );
    assert!(r.timed_out, "B was held back on its own context");

    // On A's context, behind A: reported.
    let r = round(&a, &b, &Arc::new(Signal::named("elsewhere-ready")), false);
    ctx.synchronize().unwrap();
    assert_eq!(r.at_wait.len(), 1, "{:?}", r.at_wait);
}

/// A host fn on `s` that waits (up to [`LONG`]) on `wait`, then sets `set`,
/// and sends what its wait reported: one site for every stage of a chain.
fn stage(s: &Stream, wait: &Arc<Signal>, set: &Arc<Signal>, out: &Sender<Vec<CycleReport>>) {
    let (w, st, out) = (Arc::clone(wait), Arc::clone(set), out.clone());
    s.launch_host_fn(HostFn::new(move || {
        let reports = capture(|| {
            w.wait_timeout(LONG);
        });
        st.set();
        out.send(reports).unwrap();
    }))
    .unwrap();
}

#[test]
fn a_chain_of_host_fns_from_one_site_setting_signals_of_one_name_is_no_cycle() {
    // Each stage waits on the signal the one before set and sets the next,
    // all named alike; a thread sets the first. The site learns that it
    // sets `chain-ready`, but a later stage is no setter of what an
    // earlier stage of its own site waits on.
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("chain").unwrap();
    let (tx, rx) = channel();
    let run = || {
        let ready: Vec<Arc<Signal>> = (0..3)
            .map(|_| Arc::new(Signal::named("chain-ready")))
            .collect();
        let mut all = capture(|| {
            stage(&s, &ready[0], &ready[1], &tx);
            stage(&s, &ready[1], &ready[2], &tx);
        });
        std::thread::sleep(Duration::from_millis(100)); // the first waits
        ready[0].set();
        s.synchronize().unwrap();
        all.extend(rx.try_iter().flatten());
        all
    };
    let first = run();
    assert!(first.is_empty(), "{first:?}");
    let second = run();
    assert!(second.is_empty(), "{second:?}");

    // A setter from another site behind a waiter on a signal of that name
    // is one (the chain is not quiet for want of learning).
    learn(&s, "chain-ready");
    let r = round(&s, &s, &Arc::new(Signal::named("chain-ready")), false);
    s.synchronize().unwrap();
    assert_eq!(r.at_wait.len(), 1, "{:?}", r.at_wait);
}

#[test]
fn a_wait_is_checked_through_its_signal_when_the_declared_setter_is_on_another_stream() {
    // A declares nothing; B declares `feeds` and is enqueued while A runs
    // (A's wait is not known yet). A's wait closes signal -> B -> executor
    // -> signal, which does not pass through A: found through the signal.
    let ctx = Context::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("waitsig-wait").unwrap(),
        ctx.new_stream("waitsig-set").unwrap(),
    );
    let r = round(&a, &b, &Arc::new(Signal::named("waitsig-ready")), true);
    ctx.synchronize().unwrap();
    assert!(r.at_enqueue.is_empty(), "{:?}", r.at_enqueue);
    assert_eq!(r.at_wait.len(), 1, "{:?}", r.at_wait);
    assert!(!certain(&r.at_wait[0]), "{}", r.at_wait[0]);
    assert!(
        r.at_wait[0]
            .to_string()
            .contains("signal `waitsig-ready` is set by host fn enqueued at"),
        "{}",
        r.at_wait[0]
    );
}

#[test]
fn a_learned_setter_enqueued_behind_a_declared_wait_is_reported_at_its_enqueue() {
    // A declares its wait (`waits`); B, from a learned site, is checked
    // when it is enqueued, before A runs.
    let ctx = Context::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("atenq-wait").unwrap(),
        ctx.new_stream("atenq-set").unwrap(),
    );
    learn(&b, "atenq-ready");
    let (open, shut) = channel::<()>();
    a.launch_host_fn(HostFn::new(move || {
        let _ = shut.recv_timeout(LONG);
    }))
    .unwrap();
    let c = Arc::new(Signal::named("atenq-ready"));
    let c1 = Arc::clone(&c);
    a.launch_host_fn(
        HostFn::new(move || {
            c1.wait_timeout(SHORT);
        })
        .waits(&c),
    )
    .unwrap();
    let at_enqueue = capture(|| set_on(&b, &c, false));
    open.send(()).unwrap();
    ctx.synchronize().unwrap();
    assert_eq!(at_enqueue.len(), 1, "{at_enqueue:?}");
    assert!(!certain(&at_enqueue[0]), "{}", at_enqueue[0]);
}
