//! The sanitizer's state: a vector clock per actor (the host, each stream),
//! the clocks events recorded, the buffers, and the races already reported
//! (by buffer and pair of sites); the places of host functions, which are
//! pending, and the one running on this thread.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::Location;
use std::sync::Arc;

use lockgraph_core::Site;
use lockgraph_graph::vclock::{Epoch, VectorClock};
use parking_lot::Mutex;

use super::buffer::{BufState, Pending};
use super::report::{Access, RaceReport, Who as By};
use super::sink::{self, Sink};

/// The host's actor id; streams are 1, 2, ...
pub(super) const HOST: usize = 0;

#[derive(Default)]
struct State {
    clocks: HashMap<usize, VectorClock>,
    events: HashMap<usize, VectorClock>,
    buffers: Vec<(&'static str, BufState)>,
    /// The buffers and pairs of sites (in [`pair`]'s order) a race was
    /// reported for.
    reported: HashSet<(&'static str, Site, Site)>,
    /// How many host functions were enqueued (the last one's number).
    host_fns: u64,
    /// The numbers of the host functions enqueued and not done running.
    pending: BTreeSet<u64>,
    /// The order of the program's calls: one per access made and host
    /// function enqueued.
    seq: u64,
}

impl State {
    fn pending(&self) -> Pending {
        Pending {
            oldest: self.pending.first().copied(),
            last: self.host_fns,
        }
    }
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock();
    f(g.get_or_insert_with(State::default))
}

/// A new tracked buffer named `name`: its id.
pub(super) fn new_buffer(name: &'static str) -> usize {
    with(|s| {
        s.buffers.push((name, BufState::default()));
        s.buffers.len() - 1
    })
}

/// How many accesses buffer `id` keeps (the bound's test).
#[cfg(test)]
pub(super) fn stored(id: usize) -> usize {
    with(|s| {
        let pending = s.pending();
        s.buffers[id].1.stored(pending)
    })
}

/// A fresh event identity (both back ends).
pub(crate) fn new_event() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The host enqueues work on stream `actor`: the stream's next work is
/// ordered after everything the host did so far.
pub(crate) fn enqueue(actor: usize) {
    with(|s| {
        let h = s.clocks.entry(HOST).or_default().clone();
        s.clocks.entry(actor).or_default().join(&h);
    });
}

/// An event records stream `actor`'s clock.
pub(crate) fn record(event: usize, actor: usize) {
    with(|s| {
        let c = s.clocks.entry(actor).or_default().clone();
        s.events.insert(event, c);
    });
}

/// Stream `actor` waits on the event (a never-recorded event: nothing).
pub(crate) fn stream_wait(actor: usize, event: usize) {
    with(|s| {
        if let Some(c) = s.events.get(&event).cloned() {
            s.clocks.entry(actor).or_default().join(&c);
        }
    });
}

/// What a host synchronize waits for, taken when it is called: the clock
/// of a stream, or of an event's record, as it is then. CUDA waits for the
/// work enqueued before the call; work another thread enqueues while the
/// host waits is not waited for, so its clock must not be joined (it was
/// joined after the wait: a read of a buffer such work still writes went
/// unreported; found by an outside test).
pub(crate) struct SyncPoint(Vec<VectorClock>);

/// The point a synchronize of stream `actor` called now waits for.
pub(crate) fn stream_point(actor: usize) -> SyncPoint {
    streams_point(&[actor])
}

/// The point a synchronize of every stream of `actors` (a context's)
/// called now waits for.
pub(crate) fn streams_point(actors: &[usize]) -> SyncPoint {
    with(|s| {
        SyncPoint(
            actors
                .iter()
                .map(|a| s.clocks.get(a).cloned().unwrap_or_default())
                .collect(),
        )
    })
}

/// The point a synchronize of `event` called now waits for: its record
/// then (none when it was never recorded).
pub(crate) fn event_point(event: usize) -> SyncPoint {
    with(|s| SyncPoint(s.events.get(&event).cloned().into_iter().collect()))
}

/// The host's synchronize that waited for `point` returned.
pub(crate) fn host_sync(point: SyncPoint) {
    with(|s| {
        let host = s.clocks.entry(HOST).or_default();
        for c in &point.0 {
            host.join(c);
        }
    });
}

/// A host function's place on its stream: a tick of the stream's clock
/// taken when it is enqueued, after everything the host and the stream did
/// before. Its accesses are stamped with it: ordered after the stream's
/// earlier work, and before its later work (whose clocks include the tick).
/// The host function is pending while this lives (until its run ends, or
/// the back end drops it unrun): buffers keep the accesses superseded
/// meanwhile (see `buffer`).
pub(crate) struct HostFnPlace {
    /// Its number, in enqueue order.
    number: u64,
    /// Its place in the order of the program's calls.
    seq: u64,
    epoch: Epoch,
    clock: VectorClock,
    stream: &'static str,
    site: &'static Location<'static>,
    /// The capture innermost on the enqueuing thread when it was enqueued:
    /// where the races its accesses find go when its executor thread has
    /// no capture open ([`sink`]).
    capture: Option<Arc<Sink>>,
}

/// A host function enqueued at `site` on stream `actor` (named `stream`).
pub(crate) fn enqueue_host_fn(
    actor: usize,
    stream: &'static str,
    site: &'static Location<'static>,
) -> HostFnPlace {
    enqueue(actor);
    let capture = sink::innermost();
    with(|s| {
        s.host_fns += 1;
        s.seq += 1;
        let (number, seq) = (s.host_fns, s.seq);
        s.pending.insert(number);
        let c = s.clocks.entry(actor).or_default();
        let time = c.tick(actor);
        HostFnPlace {
            number,
            seq,
            epoch: Epoch::new(actor, time),
            clock: c.clone(),
            stream,
            site,
            capture,
        }
    })
}

impl Drop for HostFnPlace {
    fn drop(&mut self) {
        with(|s| s.pending.remove(&self.number));
    }
}

thread_local! {
    static RUNNING: RefCell<Option<HostFnPlace>> = const { RefCell::new(None) };
}

/// The host function running on this thread, while this lives: accesses
/// made meanwhile are its own.
pub(crate) struct InHostFn(Option<HostFnPlace>);

impl HostFnPlace {
    /// Marks the host function as running on this thread.
    pub(crate) fn enter(self) -> InHostFn {
        InHostFn(RUNNING.with(|r| r.replace(Some(self))))
    }
}

impl Drop for InHostFn {
    fn drop(&mut self) {
        let prev = self.0.take();
        RUNNING.with(|r| *r.borrow_mut() = prev);
    }
}

/// Who makes an access.
pub(super) enum Who<'a> {
    /// A stream's work, when it is enqueued (the stream's actor and name).
    Stream(usize, &'a str),
    /// Whoever runs on this thread: the host function running here, else
    /// the host.
    Here,
}

/// Records the accesses made by `who` (`op` at `site`), and reports each
/// race on a buffer with a pair of sites not reported before for it.
pub(super) fn access(
    who: Who<'_>,
    op: &str,
    reads: &[usize],
    writes: &[usize],
    site: &'static Location<'static>,
) {
    let thread = || std::thread::current().name().unwrap_or("?").to_string();
    // Who, and when: a stream's or the host's next tick, or the place of
    // the host function running here (and the capture it was enqueued in).
    let mut capture = None;
    let (by, kind, stamp) = match who {
        Who::Stream(actor, name) => (
            format!("stream `{name}`"),
            By::Stream(name.to_string()),
            Err(actor),
        ),
        Who::Here => RUNNING.with(|r| match r.borrow().as_ref() {
            Some(p) => {
                capture.clone_from(&p.capture);
                (
                    format!(
                        "the host fn enqueued at {} on stream `{}` (thread `{}`)",
                        Site::from(p.site),
                        p.stream,
                        thread()
                    ),
                    By::HostFn {
                        stream: p.stream.to_string(),
                        site: p.site.into(),
                    },
                    Ok((p.epoch, p.clock.clone(), p.seq)),
                )
            }
            None => (
                format!("the host (thread `{}`)", thread()),
                By::Host,
                Err(HOST),
            ),
        }),
    };
    let races = with(|s| {
        let (epoch, clock, seq) = match stamp {
            Ok(place) => place,
            Err(actor) => {
                s.seq += 1;
                let c = s.clocks.entry(actor).or_default();
                let time = c.tick(actor);
                (Epoch::new(actor, time), c.clone(), s.seq)
            }
        };
        let mk = |write| Access {
            by: by.clone(),
            op: op.to_string(),
            write,
            site: site.into(),
            epoch,
            who: kind.clone(),
            seq,
        };
        let all = reads.iter().map(|&b| (b, false));
        let all = all.chain(writes.iter().map(|&b| (b, true)));
        let mut races = Vec::new();
        let pending = s.pending();
        for (b, write) in all {
            let (name, st) = &mut s.buffers[b];
            let earlier = st.access(mk(write), &clock, pending);
            let reported = &mut s.reported;
            let first_new = earlier.into_iter().find(|e| {
                let (a, b) = pair(site.into(), e.site);
                reported.insert((*name, a, b))
            });
            if let Some(earlier) = first_new {
                races.push(RaceReport::new(name, earlier, mk(write)));
            }
        }
        races
    });
    // A host function's race goes to a capture open on this thread, if
    // any (a test that captures inside the host function), else to the one
    // it was enqueued in, if still open; else the policy applies here.
    let capture = capture.filter(|_| !sink::open_here());
    for r in races {
        let r = match &capture {
            Some(c) => match Sink::offer(c, r) {
                Some(r) => r,
                None => continue,
            },
            None => r,
        };
        lockgraph_core::emit_at(r, Some(site));
    }
}

/// The two sites of a race in one order, whichever access came first.
fn pair(a: Site, b: Site) -> (Site, Site) {
    if (a.file, a.line, a.column) <= (b.file, b.line, b.column) {
        (a, b)
    } else {
        (b, a)
    }
}
