//! The sanitizer on the simulated back end: host functions ordered by their
//! stream, the bound on stored reads, superseded accesses kept while a host
//! function is pending, one report per buffer and pair of sites.

use std::sync::mpsc::channel;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{capture, state, Buffer, RaceReport};
use crate::sim::Context;
use crate::HostFn;

/// Taken by each test: a buffer keeps more while any host fn of the process
/// is pending, and the bound's test counts what one keeps.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` in a host function on `s` (after `go` fires, when given) and
/// returns what it reported; `after` runs on this thread once it is enqueued,
/// before the stream is synchronized.
fn in_host_fn(
    s: &crate::sim::Stream,
    f: impl FnOnce() + Send + 'static,
    after: impl FnOnce(),
) -> Vec<RaceReport> {
    let (go_tx, go) = channel::<()>();
    let (tx, rx) = channel();
    s.launch_host_fn(HostFn::new(move || {
        let _ = go.recv();
        tx.send(capture(f)).unwrap();
    }))
    .unwrap();
    after();
    go_tx.send(()).unwrap();
    s.synchronize().unwrap();
    rx.recv().unwrap()
}

#[test]
fn a_host_fn_is_ordered_after_earlier_and_before_later_work_of_its_stream() {
    let _serial = SERIAL.lock();
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("hf-s").unwrap();
    // A copy into pinned memory, then a host fn on the stream reads it.
    let (dev, pinned) = (
        Buffer::named("hf-dev"),
        Arc::new(Buffer::named("hf-pinned")),
    );
    s.copy(&pinned, &dev, || {}).unwrap();
    let p = Arc::clone(&pinned);
    let r = in_host_fn(&s, move || p.host_read(), || {});
    assert!(r.is_empty(), "{r:?}");
    // A host fn fills a staging buffer, a copy enqueued after it (recorded
    // before the host fn runs) reads it.
    let (staging, dev2) = (
        Arc::new(Buffer::named("hf-staging")),
        Buffer::named("hf-dev2"),
    );
    let st = Arc::clone(&staging);
    let mut host = Vec::new();
    let r = in_host_fn(
        &s,
        move || st.host_write(),
        || host = capture(|| s.copy(&dev2, &staging, || {}).unwrap()),
    );
    assert!(r.is_empty() && host.is_empty(), "{r:?} {host:?}");
    // And the host, once it synchronized the stream, reads what it wrote.
    let r = capture(|| staging.host_read());
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn races_of_host_fns_with_other_streams_and_the_host_are_reported() {
    let _serial = SERIAL.lock();
    let ctx = Context::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("hf-race-a").unwrap(),
        ctx.new_stream("hf-race-b").unwrap(),
    );
    // Stream B writes, a host fn on stream A reads: nothing orders them.
    let x = Arc::new(Buffer::named("hf-x"));
    b.launch("produce", &[], &[&x], || {}).unwrap();
    let x2 = Arc::clone(&x);
    let r = in_host_fn(&a, move || x2.host_read(), || {});
    assert_eq!(r.len(), 1, "{r:?}");
    let text = r[0].to_string();
    for needle in [
        "the host fn enqueued at",
        "on stream `hf-race-a` (thread `cuda host-fn executor",
        "not ordered after stream `hf-race-b`",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    b.synchronize().unwrap();
    // A host fn writes, the host thread reads without synchronizing.
    let y = Arc::new(Buffer::named("hf-y"));
    let y2 = Arc::clone(&y);
    let r = in_host_fn(&a, move || y2.host_write(), || {});
    assert!(r.is_empty(), "{r:?}");
    let r = capture(|| y.host_read()); // `in_host_fn` synchronized: ordered
    assert!(r.is_empty(), "{r:?}");
    let y2 = Arc::clone(&y);
    let mut host = Vec::new();
    let r = in_host_fn(
        &a,
        move || y2.host_write(),
        || host = capture(|| y.host_read()),
    );
    // The host fn runs after the read (it waits for `go`): its write
    // reports the race with the host's read.
    let all: Vec<_> = r.into_iter().chain(host).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].to_string().contains("the host (thread"),
        "{}",
        all[0]
    );
}

#[test]
fn a_buffer_keeps_one_read_per_actor_since_its_last_write() {
    let _serial = SERIAL.lock();
    let ctx = Context::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("bound-a").unwrap(),
        ctx.new_stream("bound-b").unwrap(),
    );
    let w = Buffer::named("bound-weights");
    for _ in 0..1000 {
        a.launch("fwd", &[&w], &[], || {}).unwrap();
        b.launch("fwd", &[&w], &[], || {}).unwrap();
        w.host_read();
    }
    // Three readers: streams A and B and the host.
    assert_eq!(state::stored(w.id), 3);
    a.synchronize().unwrap();
    b.synchronize().unwrap();
    a.launch("update", &[], &[&w], || {}).unwrap();
    assert_eq!(state::stored(w.id), 1);
    a.synchronize().unwrap();
    // The latest read of an actor stands for its earlier ones: a write
    // racing with stream B's reads is still reported.
    let r = capture(|| {
        b.launch("fwd again", &[&w], &[], || {}).unwrap();
        b.launch("fwd again", &[&w], &[], || {}).unwrap();
        a.launch("update again", &[], &[&w], || {}).unwrap();
    });
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].to_string().contains("stream `bound-b`"), "{}", r[0]);
    a.synchronize().unwrap();
    b.synchronize().unwrap();
}

#[test]
fn a_race_is_reported_once_per_buffer_and_pair_of_sites() {
    let _serial = SERIAL.lock();
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("once-s").unwrap();
    let (dev, host) = (Buffer::named("once-dev"), Buffer::named("once-host"));
    let r = capture(|| {
        for _ in 0..50 {
            s.copy(&host, &dev, || {}).unwrap();
            host.host_read();
            s.synchronize().unwrap();
        }
    });
    assert_eq!(r.len(), 1, "{r:?}");
    // Other sites are another pair: reported.
    let r = capture(|| {
        s.copy(&host, &dev, || {}).unwrap();
        host.host_read();
        s.synchronize().unwrap();
    });
    assert_eq!(r.len(), 1, "{r:?}");
    // The same pair of sites on other buffers: one report per buffer.
    let bufs = [Buffer::named("once-host-2"), Buffer::named("once-host-3")];
    let r = capture(|| {
        for _ in 0..2 {
            for b in &bufs {
                s.copy(b, &dev, || {}).unwrap();
                b.host_read();
                s.synchronize().unwrap();
            }
        }
    });
    let names: Vec<_> = r.iter().map(|r| r.buffer).collect();
    assert_eq!(names, ["once-host-2", "once-host-3"], "{r:?}");
}

#[test]
fn a_write_superseded_while_a_host_fn_is_pending_still_races_with_its_read() {
    let _serial = SERIAL.lock();
    let ctx = Context::new(0).unwrap();
    let (s, s2) = (
        ctx.new_stream("late-w-s").unwrap(),
        ctx.new_stream("late-w-s2").unwrap(),
    );
    let ev = ctx.new_event("late-w-ev").unwrap();
    let b = Arc::new(Buffer::named("late-w-b"));
    // W1 on S2 writes; a host fn on S reads (nothing orders them); then S
    // waits on an event recorded after W1 and W2 on S writes: W1 is before
    // W2, and the host fn is before W2, but the host fn runs only now.
    s2.launch("w1", &[], &[&b], || {}).unwrap();
    let b2 = Arc::clone(&b);
    let (mut host, mut kept) = (Vec::new(), 0);
    let r = in_host_fn(
        &s,
        move || b2.host_read(),
        || {
            host = capture(|| {
                s2.record_event(&ev).unwrap();
                s.wait(&ev).unwrap();
                s.launch("w2", &[], &[&b], || {}).unwrap();
            });
            kept = state::stored(b.id);
        },
    );
    assert!(host.is_empty(), "{host:?}");
    assert_eq!(r.len(), 1, "{r:?}");
    let text = r[0].to_string();
    for needle in ["the host fn enqueued at", "stream `late-w-s2`", "`w1`"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    s2.synchronize().unwrap();
    // While the host fn was pending W1 was kept beside W2; since, the last
    // write alone (the host fn's read is before it).
    assert_eq!(kept, 2);
    assert_eq!(state::stored(b.id), 1);
}

#[test]
fn a_read_superseded_while_a_host_fn_is_pending_still_races_with_its_write() {
    let _serial = SERIAL.lock();
    let ctx = Context::new(0).unwrap();
    let (s, t) = (
        ctx.new_stream("late-r-s").unwrap(),
        ctx.new_stream("late-r-t").unwrap(),
    );
    let ev = ctx.new_event("late-r-ev").unwrap();
    let b = Arc::new(Buffer::named("late-r-b"));
    // R1 on S reads; a host fn on T writes (nothing orders them); then S
    // waits on an event recorded after the host fn's place and R2 on S
    // reads: R2 is S's latest read, ordered after the host fn, which runs
    // only now.
    s.launch("r1", &[&b], &[], || {}).unwrap();
    let b2 = Arc::clone(&b);
    let (mut host, mut kept) = (Vec::new(), 0);
    let r = in_host_fn(
        &t,
        move || b2.host_write(),
        || {
            host = capture(|| {
                t.record_event(&ev).unwrap();
                s.wait(&ev).unwrap();
                s.launch("r2", &[&b], &[], || {}).unwrap();
            });
            kept = state::stored(b.id);
        },
    );
    assert!(host.is_empty(), "{host:?}");
    assert_eq!(r.len(), 1, "{r:?}");
    let text = r[0].to_string();
    for needle in ["the host fn enqueued at", "stream `late-r-s`", "`r1`"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    s.synchronize().unwrap();
    // While the host fn was pending R1 was kept beside R2; since, the host
    // fn's write and R2 (ordered after it).
    assert_eq!(kept, 2);
    assert_eq!(state::stored(b.id), 2);
}

/// A race found inside a host function is found on the executor thread; it
/// goes to the capture the host function was enqueued in (found by an
/// outside test: a capture around the whole program got nothing, and the
/// report was printed by the policy).
#[test]
fn a_race_found_in_a_host_fn_goes_to_the_capture_it_was_enqueued_in() {
    let _serial = SERIAL.lock();
    let ctx = Context::new(0).unwrap();
    let (s, s2) = (
        ctx.new_stream("cap-s").unwrap(),
        ctx.new_stream("cap-s2").unwrap(),
    );
    // The host writes a buffer that a pending host fn reads: the race is
    // found when the host fn's read arrives.
    let b = Arc::new(Buffer::named("cap-b"));
    let (go_tx, go) = channel::<()>();
    let r = capture(|| {
        let b2 = Arc::clone(&b);
        s.launch_host_fn(HostFn::new(move || {
            let _ = go.recv();
            b2.host_read();
        }))
        .unwrap();
        b.host_write(); // not ordered with the host fn's read
        go_tx.send(()).unwrap();
        s.synchronize().unwrap();
    });
    assert_eq!(r.len(), 1, "{r:?}");
    let text = r[0].to_string();
    for needle in ["the host (thread", "the host fn enqueued at", "`cap-b`"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    // A host fn on another stream reads what a copy writes, no event; its
    // capture (an inner one) returned before it ran: the capture around it
    // gets the race.
    let (dev, host) = (
        Buffer::named("cap-dev"),
        Arc::new(Buffer::named("cap-host")),
    );
    let (go_tx, go) = channel::<()>();
    let mut inner = Vec::new();
    let outer = capture(|| {
        inner = capture(|| {
            s.copy(&host, &dev, || {}).unwrap();
            let h2 = Arc::clone(&host);
            s2.launch_host_fn(HostFn::new(move || {
                let _ = go.recv();
                h2.host_read();
            }))
            .unwrap();
        });
        go_tx.send(()).unwrap();
        ctx.synchronize().unwrap();
    });
    assert!(inner.is_empty(), "{inner:?}");
    assert_eq!(outer.len(), 1, "{outer:?}");
    let text = outer[0].to_string();
    for needle in ["on stream `cap-s2`", "stream `cap-s`", "`cap-host`"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}
