//! The sanitizer on the simulated back end: host functions ordered by their
//! stream, the bound on stored reads, one report per pair of sites.

use std::sync::mpsc::channel;
use std::sync::Arc;

use super::{capture, state, Buffer, RaceReport};
use crate::sim::Context;
use crate::HostFn;

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
fn a_race_is_reported_once_per_pair_of_sites() {
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
}
