//! What the watchdog's reports say of CUDA hangs on the simulated back end
//! (found by an outside test): the lock-order edges through a stream's
//! pseudo-lock, a fresh synchronize told from a retry, a signal's setter
//! queued behind its waiter. Each hangs in a child process
//! (`lockgraph_testkit`) with the watchdog on, as in `watchdog.rs`.

mod harness;

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use lockgraph::Mutex;
use lockgraph_cuda::sim::Context;
use lockgraph_cuda::{HostFn, Signal};
use lockgraph_testkit::child;

use harness::{enqueue, enter_child, expect_report};

/// Scenario 1 undeclared: the synchronize records `pool -> stream` and the
/// host function `stream -> pool`, a lock-order cycle.
#[test]
fn child_scenario_1_undeclared() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let stream = ctx.new_stream("s1u-h2d").unwrap();
    let m = Arc::new(Mutex::named("s1u-pool", ()));
    let _held = m.lock();
    let m2 = Arc::clone(&m);
    enqueue(
        &stream,
        HostFn::new(move || {
            // After the synchronize has begun (it records its edge then).
            std::thread::sleep(Duration::from_millis(100));
            drop(m2.lock());
        }),
    );
    let _ = stream.synchronize(); // hangs
}

/// The DEADLOCK's lock-order lines find the edges through the stream's
/// pseudo-lock, which the graph recorded: the synchronize's wait is
/// registered under its own label on the executor's pseudo-lock (it said
/// "2 of the cycle's 2 edges were never recorded" just after the graph had
/// reported that cycle; found by an outside test).
#[test]
fn a_deadlock_through_a_synchronize_shows_the_edges_the_graph_recorded() {
    let report = expect_report(
        child!(child_scenario_1_undeclared),
        &[
            "lockgraph watchdog: DEADLOCK: 2 threads wait for each other",
            "lock-order graph: it found this cycle",
            "Stream `s1u-h2d (CUDA stream)` -> Mutex `s1u-pool`: first by thread `cuda host-fn executor (context 0)`",
            "Mutex `s1u-pool` -> Stream `s1u-h2d (CUDA stream)`: first by thread `",
        ],
    );
    assert!(!report.contains("never recorded"), "{report}");
}

/// A synchronize that gives up holding the lock its host function needs,
/// twice (a lock of its own each time, for the reports to tell apart), with
/// a release and a synchronize that drains the stream between.
#[test]
fn child_synchronize_again() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let stream = ctx.new_stream("sa-h2d").unwrap();
    let pools = [Mutex::named("sa-pool-0", ()), Mutex::named("sa-pool-1", ())];
    for (m, limit) in pools.map(Arc::new).into_iter().zip([600, 1500]) {
        let held = m.lock();
        let m2 = Arc::clone(&m);
        enqueue(&stream, HostFn::new(move || drop(m2.lock())));
        let _ = stream.synchronize_timeout(Duration::from_millis(limit));
        drop(held);
        stream.synchronize().unwrap();
    }
}

/// The second synchronize is a fresh wait, not a retry of the first (it
/// said "retrying for 2.012s"; found by an outside test).
#[test]
fn a_synchronize_after_the_stream_drained_is_no_retry() {
    let report = expect_report(child!(child_synchronize_again), &["and Mutex `sa-pool-1`"]);
    assert!(!report.contains("retrying"), "{report}");
}

/// Enqueues a host function that sets `ready` (one site: learned by name).
fn sn_setter(s: &lockgraph_cuda::sim::Stream, ready: &Arc<Signal>) {
    let r = Arc::clone(ready);
    enqueue(s, HostFn::new(move || r.set()));
}

/// Enqueues a host function that says it `started` (it then holds the
/// context's one executor, so a host function enqueued on any stream from
/// now on is queued behind it) and waits on `ready` once `go` says.
fn sn_waiter(
    s: &lockgraph_cuda::sim::Stream,
    ready: &Arc<Signal>,
    started: Sender<()>,
    go: Receiver<()>,
) {
    let r = Arc::clone(ready);
    enqueue(
        s,
        HostFn::new(move || {
            started.send(()).unwrap();
            go.recv().unwrap();
            r.wait();
        }),
    );
}

/// Round 0 teaches the model that `sn_setter`'s site sets `sn-ready`; in
/// round 1 the waiter runs first and its setter is queued behind it.
///
/// Each order is made, not hoped for: host functions of two streams reach
/// the shared executor in whatever order the streams hand them over (the
/// simulated back end, like CUDA, orders only a stream's own work). With a
/// round 0 waiter enqueued next to the setter it sometimes ran first and
/// hung there, before anything was learned (a report without the setter);
/// in round 1 the setter sometimes ran first and nothing hung (no report).
/// So round 0 drains the setter's stream, and round 1 enqueues the setter
/// only once the waiter runs, and lets it wait only once the setter is
/// enqueued (pending in the model when the wait begins).
#[test]
fn child_signal_setter_named() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let (train, loader) = (
        ctx.new_stream("sn-train").unwrap(),
        ctx.new_stream("sn-loader").unwrap(),
    );
    let ready = Arc::new(Signal::named("sn-ready"));
    sn_setter(&loader, &ready);
    loader.synchronize().unwrap();
    let ready = Arc::new(Signal::named("sn-ready"));
    let (started_tx, started) = channel();
    let (go, go_rx) = channel();
    sn_waiter(&train, &ready, started_tx, go_rx);
    started.recv().unwrap();
    sn_setter(&loader, &ready);
    go.send(()).unwrap();
    let _ = train.synchronize(); // hangs
}

/// The host function's wait names the setter the model knows to be queued
/// behind it (found by an outside test: the reports never named it).
#[test]
fn a_host_functions_signal_wait_names_its_setter_queued_behind_it() {
    expect_report(
        child!(child_signal_setter_named),
        &[
            "waits on signal `sn-ready` (maybe set by host fn enqueued at ",
            "on stream `sn-loader`, which cannot run before this wait ends)",
        ],
    );
}
