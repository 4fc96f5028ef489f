//! The deadlock scenarios (1 to 5) hanging for real on the simulated
//! back end, each in a child process (`lockgraph_testkit`) with the watchdog
//! on: the parent checks that the watchdog's report names the streams and
//! the host functions (by the sites that enqueued them), then kills the
//! child.

mod harness;

use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::Mutex;
use lockgraph_cuda::sim::Context;
use lockgraph_cuda::{HostFn, Signal};
use lockgraph_testkit::child;

use harness::{enqueue, enter_child, expect_report};

#[test]
fn child_scenario_1() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let stream = ctx.new_stream("s1-loader").unwrap();
    let m = Arc::new(Mutex::named("s1-arena", ()));
    let _held = m.lock();
    let m2 = Arc::clone(&m);
    enqueue(&stream, HostFn::new(move || drop(m2.lock())).locks(&m));
    let _ = stream.synchronize(); // hangs: the host function needs the lock
}

#[test]
fn scenario_1_hangs_for_real_and_the_watchdog_names_the_stream_and_callback() {
    expect_report(
        child!(child_scenario_1),
        &[
            "stream `s1-loader`",
            "Mutex `s1-arena`",
            // The executor runs the host function: it holds the stream's
            // pseudo-lock while it waits for the arena, and the host
            // function's, said as what they are (they read "(exclusive)",
            // as locks; found by an outside test).
            "Stream `s1-loader (CUDA stream)` (running one of its host functions)",
            "on stream `s1-loader` (running it)",
            // The synchronize waits for the executor, which waits for the
            // arena the synchronizing thread holds: one DEADLOCK (it was
            // two long waits; found by an outside test), and the lock to
            // release.
            "lockgraph watchdog: DEADLOCK: 2 threads wait for each other",
            "-> thread `cuda host-fn executor (context 0)` -> Mutex `s1-arena` ->",
            "while holding Mutex `s1-arena`",
            "release it before that call",
        ],
    );
}

#[test]
fn child_scenario_2() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let stream = ctx.new_stream("s2-worker").unwrap();
    let m = Arc::new(Mutex::named("s2-cache", ()));
    // A first host function holds the stream until the thread has the lock:
    // the bad timing of the potential cycle, forced.
    let (open, gate) = channel::<()>();
    stream
        .launch_host_fn(HostFn::new(move || {
            let _ = gate.recv();
        }))
        .unwrap();
    let m2 = Arc::clone(&m);
    enqueue(&stream, HostFn::new(move || drop(m2.lock())).locks(&m));
    let _held = m.lock(); // taken after the enqueue
    open.send(()).unwrap(); // the host function now runs and blocks on `m`
    let _ = stream.synchronize(); // hangs
}

#[test]
fn scenario_2_hangs_when_the_lock_wins_and_the_watchdog_names_the_stream_and_callback() {
    expect_report(
        child!(child_scenario_2),
        &[
            "stream `s2-worker`",
            "Mutex `s2-cache`",
            "Stream `s2-worker (CUDA stream)` (running one of its host functions)",
        ],
    );
}

#[test]
fn child_scenario_3() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let stream = ctx.new_stream("s3-queue").unwrap();
    let ready = Arc::new(Signal::named("s3-ready"));
    let r = Arc::clone(&ready);
    // A waits for what B, behind it on the same stream, would set.
    enqueue(&stream, HostFn::new(move || r.wait()).waits(&ready));
    let r = Arc::clone(&ready);
    enqueue(&stream, HostFn::new(move || r.set()).feeds(&ready));
    let _ = stream.synchronize(); // hangs
}

#[test]
fn scenario_3_hangs_for_real_and_the_watchdog_names_the_stream_and_both_callbacks() {
    expect_report(
        child!(child_scenario_3),
        &[
            "synchronize stream `s3-queue`",
            "on stream `s3-queue` waits on signal `s3-ready`",
        ],
    );
}

#[test]
fn child_scenario_3_cross_stream() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let (first, second) = (
        ctx.new_stream("s3x-first").unwrap(),
        ctx.new_stream("s3x-second").unwrap(),
    );
    let ready = Arc::new(Signal::named("s3x-ready"));
    let (started, running) = channel::<()>();
    let r = Arc::clone(&ready);
    enqueue(
        &first,
        HostFn::new(move || {
            started.send(()).unwrap();
            r.wait();
        })
        .waits(&ready),
    );
    // A occupies the context's one executor; B, on another stream, queues
    // behind it there.
    running.recv().unwrap();
    let r = Arc::clone(&ready);
    enqueue(&second, HostFn::new(move || r.set()).feeds(&ready));
    let _ = second.synchronize(); // hangs
}

#[test]
fn scenario_3_across_streams_hangs_on_the_shared_executor_and_the_watchdog_names_both() {
    expect_report(
        child!(child_scenario_3_cross_stream),
        &[
            "synchronize stream `s3x-second`",
            "on stream `s3x-first` waits on signal `s3x-ready`",
            "thread `cuda host-fn executor",
        ],
    );
}

#[test]
fn child_scenario_3_undeclared() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let (first, second) = (
        ctx.new_stream("s3u-first").unwrap(),
        ctx.new_stream("s3u-second").unwrap(),
    );
    let ready = Arc::new(Signal::named("s3u-ready"));
    let (started, running) = channel::<()>();
    let r = Arc::clone(&ready);
    // As above, declaring nothing: the first time, nothing is learned of
    // who sets the signal, and the model reports nothing.
    enqueue(
        &first,
        HostFn::new(move || {
            started.send(()).unwrap();
            r.wait();
        }),
    );
    running.recv().unwrap();
    let r = Arc::clone(&ready);
    enqueue(&second, HostFn::new(move || r.set()));
    let _ = second.synchronize(); // hangs
}

#[test]
fn scenario_3_undeclared_the_first_time_hangs_and_the_watchdog_names_the_wait() {
    expect_report(
        child!(child_scenario_3_undeclared),
        &[
            "synchronize stream `s3u-second`",
            "on stream `s3u-first` waits on signal `s3u-ready`",
            "thread `cuda host-fn executor",
        ],
    );
}

#[test]
fn child_scenario_4() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let (consumer, producer) = (
        ctx.new_stream("s4-consumer").unwrap(),
        ctx.new_stream("s4-producer").unwrap(),
    );
    let flag = Arc::new(Signal::named("s4-flag"));
    let done = ctx.new_event("s4-done").unwrap();
    let f = Arc::clone(&flag);
    enqueue(&producer, HostFn::new(move || f.wait()).waits(&flag));
    producer.record_event(&done).unwrap(); // after the host function
    consumer.wait(&done).unwrap();
    let promise = flag.will_set();
    let _ = consumer.synchronize(); // hangs: the flag is set only after it
    flag.set();
    drop(promise);
}

#[test]
fn scenario_4_hangs_through_the_event_and_the_watchdog_names_both_streams_and_the_callback() {
    expect_report(
        child!(child_scenario_4),
        &[
            "synchronize stream `s4-consumer` (pending: event wait enqueued at",
            "on stream `s4-producer` waits on signal `s4-flag`",
        ],
    );
}

#[test]
fn child_scenario_5() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let s1 = ctx.new_stream("s5-first").unwrap();
    let s2 = ctx.new_stream("s5-second").unwrap();
    let a = Arc::new(Mutex::named("s5-a", ()));
    let b = Arc::new(Mutex::named("s5-b", ()));
    let both = Arc::new(Barrier::new(2));
    let (a2, b2, both2) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&both));
    let t2 = std::thread::Builder::new()
        .name("t2".into())
        .spawn(move || {
            let _b = b2.lock();
            both2.wait();
            let a3 = Arc::clone(&a2);
            enqueue(&s2, HostFn::new(move || drop(a3.lock())).locks(&a2));
            let _ = s2.synchronize();
        })
        .unwrap();
    // Both locks are held before either host function is enqueued. Without
    // the barrier the executor could run the host function on `s5-first`
    // before `t2` took `b`, drain that stream, and only one would hang.
    let _a = a.lock();
    both.wait();
    let b3 = Arc::clone(&b);
    enqueue(&s1, HostFn::new(move || drop(b3.lock())).locks(&b));
    let _ = s1.synchronize();
    let _ = t2.join();
}

#[test]
fn scenario_5_hangs_for_real_and_the_watchdog_names_the_streams_callbacks_and_locks() {
    // The shared executor runs one stream's host function, which waits for
    // the lock the other thread holds; the other is queued behind it.
    expect_report(
        child!(child_scenario_5),
        &[
            "stream `s5-first`",
            "stream `s5-second`",
            "Mutex `s5-a`",
            "Mutex `s5-b`",
            // Whichever host function runs first, the thread whose stream's
            // host function is queued behind it waits for the executor too:
            // one DEADLOCK (it was long waits when the first to run was the
            // other thread's).
            "lockgraph watchdog: DEADLOCK: 2 threads wait for each other",
            "thread `cuda host-fn executor (context 0)` -> Mutex `s5-",
            "release it before that call",
        ],
    );
}

/// The synchronizing thread holds `pool`; the executor runs a host function
/// of another stream that waits for `pool`; the synchronized stream's host
/// function is queued behind it on the context's one executor.
#[test]
fn child_queued_behind() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let (other, mine) = (
        ctx.new_stream("qb-other").unwrap(),
        ctx.new_stream("qb-mine").unwrap(),
    );
    let pool = Arc::new(Mutex::named("qb-pool", ()));
    let _pool = pool.lock();
    let (started, running) = channel::<()>();
    let p = Arc::clone(&pool);
    enqueue(
        &other,
        HostFn::new(move || {
            started.send(()).unwrap();
            drop(p.lock());
        }),
    );
    running.recv().unwrap();
    // Behind the running one on the executor: it needs nothing itself.
    enqueue(&mine, HostFn::new(|| {}));
    let _ = mine.synchronize(); // hangs
}

/// The synchronize waits for the executor (busy with the other stream's
/// host function), which waits for `pool`: one DEADLOCK, and the lock to
/// release (it was two long waits: the synchronize had no thread to wait
/// for while its own stream's host function was only queued).
#[test]
fn a_synchronize_whose_host_function_is_queued_behind_a_blocked_one_is_one_deadlock() {
    expect_report(
        child!(child_queued_behind),
        &[
            "lockgraph watchdog: DEADLOCK: 2 threads wait for each other",
            "synchronize stream `qb-mine`",
            "-> thread `cuda host-fn executor (context 0)` -> Mutex `qb-pool` ->",
            "the stream's work waits for thread `cuda host-fn executor (context 0)`, which runs the host functions",
            "Stream `host-function executor (CUDA context)` (running a host function)",
            "while holding Mutex `qb-pool`",
            "release it before that call",
        ],
    );
}

/// Three parties (found by an outside test, which the model reports only as
/// a potential cycle: it does not see a thread waiting for an ordinary
/// lock): `loader` holds `queue` and waits for `pool`; this thread holds
/// `pool` and synchronizes `train`, whose host function waits for `queue`.
#[test]
fn child_three_party() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let train = ctx.new_stream("tp-train").unwrap();
    let queue = Arc::new(Mutex::named("tp-queue", ()));
    let pool = Arc::new(Mutex::named("tp-pool", ()));
    let _pool = pool.lock();
    let has_queue = Arc::new(Barrier::new(2));
    let (q, p, b) = (
        Arc::clone(&queue),
        Arc::clone(&pool),
        Arc::clone(&has_queue),
    );
    let loader = std::thread::Builder::new()
        .name("tp-loader".into())
        .spawn(move || {
            let _q = q.lock();
            b.wait();
            drop(p.lock()); // held by this thread's synchronizer
        })
        .unwrap();
    has_queue.wait();
    let q2 = Arc::clone(&queue);
    enqueue(&train, HostFn::new(move || drop(q2.lock())).locks(&queue));
    let _ = train.synchronize();
    let _ = loader.join();
}

/// The watchdog sees it whole: the synchronize waits for the executor
/// running the host function, which waits for `loader`, which waits for
/// the synchronizing thread: one DEADLOCK of three threads.
#[test]
fn a_three_party_hang_through_a_synchronize_is_one_deadlock() {
    expect_report(
        child!(child_three_party),
        &[
            "lockgraph watchdog: DEADLOCK: 3 threads wait for each other",
            "-> thread `cuda host-fn executor (context 0)` -> Mutex `tp-queue` -> thread `tp-loader` -> Mutex `tp-pool` ->",
            "stream `tp-train`",
        ],
    );
}

/// The synchronizing thread holds `state`; its stream runs a host function
/// and then a long kernel. Once the host function ran, the synchronize waits
/// for the device alone, while the executor runs another stream's host
/// function that waits for `state`: a long wait, which ends with the
/// kernel, not a deadlock.
#[test]
fn child_device_work_after_the_host_function() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let (mine, other) = (
        ctx.new_stream("dw-mine").unwrap(),
        Arc::new(ctx.new_stream("dw-other").unwrap()),
    );
    let state = Arc::new(Mutex::named("dw-state", ()));
    let held = state.lock();
    // The host function is still pending when the synchronize begins: it
    // waits for the gate, which a helper opens once the thread waits.
    let (open, gate) = channel::<()>();
    let (ran, host_fn_ran) = channel::<()>();
    enqueue(
        &mine,
        HostFn::new(move || {
            let _ = gate.recv();
            let _ = ran.send(());
        }),
    );
    mine.launch("long-kernel", &[], &[], || {
        std::thread::sleep(Duration::from_millis(2500))
    })
    .unwrap();
    let (s, o) = (Arc::clone(&state), Arc::clone(&other));
    let helper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        open.send(()).unwrap();
        host_fn_ran.recv().unwrap();
        o.launch_host_fn(HostFn::new(move || drop(s.lock())))
            .unwrap();
    });
    let _ = mine.synchronize(); // 2.5 s: the kernel, after the host function
    drop(held);
    helper.join().unwrap();
    let _ = other.synchronize();
    eprintln!("SYNC DONE");
}

/// No DEADLOCK: the synchronize registered a wait for the device, not for
/// the executor (it was taken as a wait for the executor until it returned,
/// a false DEADLOCK within a second; found by a review).
#[test]
fn device_work_after_a_host_function_is_no_deadlock_through_the_executor() {
    if !lockgraph::TRACKING {
        return;
    }
    let out = child!(child_device_work_after_the_host_function)
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .deadline(Duration::from_secs(20))
        // The long wait's report comes from the watchdog thread, which a
        // loaded machine can delay past the child's last line: the text
        // is complete with both (a DEADLOCK would come first, within a
        // second of the synchronize).
        .run_until(|_, text| text.contains("SYNC DONE") && text.contains("LONG WAIT"));
    assert!(
        out.done,
        "the child did not finish, or no long wait was reported:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("DEADLOCK"), "{}", out.stderr);
}

/// A thread holds `state` and waits on a signal that a host function it
/// enqueued sets after it takes `state` (declared: `feeds`).
#[test]
fn child_thread_signal_wait() {
    if !enter_child() {
        return;
    }
    let ctx = Context::new(0).unwrap();
    let stream = ctx.new_stream("sw-loader").unwrap();
    let state = Arc::new(Mutex::named("sw-state", ()));
    let ready = Arc::new(Signal::named("sw-ready"));
    let _held = state.lock();
    let (s, r) = (Arc::clone(&state), Arc::clone(&ready));
    enqueue(
        &stream,
        HostFn::new(move || {
            drop(s.lock());
            r.set();
        })
        .feeds(&ready),
    );
    ready.wait(); // hangs: the setter needs the lock
}

#[test]
fn a_thread_s_signal_wait_on_a_declared_setter_is_one_deadlock_through_the_executor() {
    expect_report(
        child!(child_thread_signal_wait),
        &[
            // The wait waits for the executor running the setter, which
            // waits for the lock the waiting thread holds: one DEADLOCK (it
            // was two long waits).
            "lockgraph watchdog: DEADLOCK: 2 threads wait for each other",
            "-> thread `cuda host-fn executor (context 0)` -> Mutex `sw-state` ->",
            "wait on signal `sw-ready` (set by host fn enqueued at",
            "while holding Mutex `sw-state`",
        ],
    );
}
