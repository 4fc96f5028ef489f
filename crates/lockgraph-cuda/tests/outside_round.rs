//! Findings of an outside test of the CUDA model, each pinned: work
//! another thread enqueues during a synchronize is not waited for (a read
//! of what it writes races); two streams of one name are two streams; a
//! cycle met again in a loop is one report; each CUDA call a host function
//! makes is reported. On the simulated back end.
#![cfg(debug_assertions)]

use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use lockgraph::{capture, Mutex};
use lockgraph_cuda::sim::Context;
use lockgraph_cuda::{race, Buffer, HostFn};

/// `main` synchronizes stream `s` (or an event recorded on it) while `k1`
/// runs; meanwhile another thread enqueues `k2`, which writes `y` for a
/// long time (and re-records the event). The synchronize returns when
/// `k1` is done, so reading `y` races with `k2`: it was joined into the
/// host's clock after the wait, and went unreported.
#[test]
fn work_enqueued_during_a_synchronize_is_not_waited_for() {
    for by_event in [false, true] {
        let ctx = Context::new(0).unwrap();
        let s = Arc::new(ctx.new_stream("or-during").unwrap());
        let e = Arc::new(ctx.new_event("or-during-e").unwrap());
        // A buffer of its own each round: a race is reported once per
        // buffer name and pair of sites.
        let y = Arc::new(Buffer::named(if by_event {
            "or-during-y-event"
        } else {
            "or-during-y"
        }));
        let (go, started) = channel();
        s.launch("k1", &[], &[], move || {
            let _ = go.send(());
            std::thread::sleep(Duration::from_millis(300));
        })
        .unwrap();
        if by_event {
            s.record_event(&e).unwrap();
        }
        let (s2, y2, e2) = (s.clone(), y.clone(), e.clone());
        let producer = std::thread::spawn(move || {
            started.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s2.launch("k2", &[], &[&y2], || {
                std::thread::sleep(Duration::from_millis(1000))
            })
            .unwrap();
            if by_event {
                s2.record_event(&e2).unwrap();
            }
        });
        let r = race::capture(|| {
            if by_event {
                e.synchronize().unwrap();
            } else {
                s.synchronize().unwrap();
            }
            y.host_read();
        });
        producer.join().unwrap();
        s.synchronize().unwrap();
        assert_eq!(r.len(), 1, "by event: {by_event}: {r:?}");
        assert!(r[0].to_string().contains("or-during-y"), "{}", r[0]);
        // After a synchronize that did wait for `k2`: no race.
        let r = race::capture(|| y.host_read());
        assert!(r.is_empty(), "{r:?}");
    }
}

/// Two streams of one context named alike: holding `L` across a
/// synchronize of the one with only a kernel, while a host function on the
/// other waits for `L`, ends (the kernel ends, then `L` is released). As
/// one stream, the watchdog saw a DEADLOCK and the graph an instance-level
/// cycle; they are two locks of one class.
#[test]
fn two_streams_of_one_name_are_two_streams() {
    let ctx = Context::new(0).unwrap();
    let a = ctx.new_stream("or-same").unwrap();
    let b = ctx.new_stream("or-same").unwrap();
    let l = Arc::new(Mutex::named("or-same-l", ()));
    // A's host function takes `L` once, and is done, before anyone holds
    // it: the order edge stream -> L.
    let l1 = l.clone();
    a.launch_host_fn(HostFn::new(move || drop(l1.lock())).locks(&l))
        .unwrap();
    a.synchronize().unwrap();
    let reports = capture(|| {
        let g = l.lock();
        b.launch("or-same-k", &[], &[], || {
            std::thread::sleep(Duration::from_millis(20))
        })
        .unwrap();
        b.synchronize().unwrap();
        drop(g);
    });
    for r in &reports {
        let text = r.to_string();
        assert!(
            !text.contains("level: instance") && !text.contains("deadlock (certain)"),
            "{text}"
        );
    }
}

/// The same cycle, met in each round of a loop (a new host function each
/// round), is reported once; each of a host function's CUDA calls once.
#[test]
fn a_cycle_met_in_a_loop_is_one_report_and_each_call_in_a_host_fn_is_one() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("or-loop").unwrap();
    let l = Arc::new(Mutex::named("or-loop-l", ()));
    let mut per_round = Vec::new();
    for _ in 0..3 {
        let reports = capture(|| {
            let g = l.lock();
            let l1 = l.clone();
            s.launch_host_fn(HostFn::new(move || drop(l1.lock())).locks(&l))
                .unwrap();
            let _ = s.synchronize_timeout(Duration::from_millis(100));
            drop(g);
        });
        s.synchronize().unwrap();
        per_round.push(reports.len());
    }
    assert_eq!(per_round, [1, 0, 0]);

    let s2 = Arc::new(ctx.new_stream("or-calls").unwrap());
    let (tx, rx) = channel();
    let inner = s2.clone();
    s2.launch_host_fn(HostFn::new(move || {
        let reports = capture(|| {
            let _ = inner.synchronize();
            let _ = inner.launch("or-calls-k", &[], &[], || {});
        });
        let texts: Vec<String> = reports.iter().map(|r| r.to_string()).collect();
        tx.send(texts).unwrap();
    }))
    .unwrap();
    let texts = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(texts.len(), 2, "{texts:#?}");
    // Said as what it is: a call CUDA does not permit, not a cycle.
    for t in &texts {
        assert!(
            t.starts_with("lockgraph: a CUDA call inside a host function (not permitted by CUDA"),
            "{t}"
        );
    }
    s2.synchronize().unwrap();
}
