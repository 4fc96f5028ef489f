//! The stream race sanitizer: vector clocks per stream and for the host
//! (PyTorch's CSAN, with the host as an accessor). Tracked buffers keep their
//! last write and the reads since; an access not ordered after a conflicting
//! one is reported with both accesses, delivered like lockgraph's own
//! reports: to [`capture`] in tests, else by the `OnCycle` policy (a
//! `tracing` WARN event with target `lockgraph` under `warn`, stderr when no
//! subscriber is installed).

use std::collections::HashMap;
use std::fmt;
use std::panic::Location;

use lockgraph_core::Site;
use lockgraph_graph::vclock::{Epoch, VectorClock};
use parking_lot::Mutex;

/// The host's actor id; streams are 1, 2, ...
pub(crate) const HOST: usize = 0;

/// A buffer whose accesses are tracked (device memory, pinned staging
/// memory, a host array filled by an async copy).
#[derive(Debug)]
pub struct Buffer {
    pub(crate) id: usize,
    name: &'static str,
}

impl Buffer {
    /// A tracked buffer named `name`.
    pub fn named(name: &'static str) -> Buffer {
        let mut g = STATE.lock();
        let s = g.get_or_insert_with(State::default);
        s.buffers.push((name, BufState::default()));
        Buffer {
            id: s.buffers.len() - 1,
            name,
        }
    }

    /// The buffer's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The host reads the buffer now.
    #[track_caller]
    pub fn host_read(&self) {
        access(HOST, "host", "host read", &[self], &[], Location::caller());
    }

    /// The host writes the buffer now.
    #[track_caller]
    pub fn host_write(&self) {
        access(HOST, "host", "host write", &[], &[self], Location::caller());
    }
}

/// One access of a report.
#[derive(Clone, Debug)]
pub struct Access {
    /// `host` (with the thread's name) or the stream's name.
    pub by: String,
    /// What the access was ("kernel `k`", "copy", "host read", ...).
    pub op: String,
    /// Whether it wrote.
    pub write: bool,
    /// Where it was made (enqueued, for stream work).
    pub site: Site,
    epoch: Epoch,
}

/// Two conflicting accesses not ordered by any synchronisation.
#[derive(Clone, Debug)]
pub struct RaceReport {
    /// The buffer.
    pub buffer: &'static str,
    /// The earlier access.
    pub earlier: Access,
    /// The access that raced with it.
    pub later: Access,
}

impl fmt::Display for RaceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = |a: &Access| if a.write { "writes" } else { "reads" };
        writeln!(f, "lockgraph: data race on buffer `{}`", self.buffer)?;
        writeln!(
            f,
            "  {} {} it ({}) at {}",
            self.later.by,
            w(&self.later),
            self.later.op,
            self.later.site
        )?;
        writeln!(
            f,
            "  not ordered after {} that {} it ({}) at {}",
            self.earlier.by,
            w(&self.earlier),
            self.earlier.op,
            self.earlier.site
        )?;
        writeln!(
            f,
            "  fix: synchronize the stream (or an event recorded after the first access) before the second, or make the second stream wait on such an event"
        )
    }
}

#[derive(Default)]
struct BufState {
    write: Option<Access>,
    reads: Vec<Access>,
}

#[derive(Default)]
struct State {
    clocks: HashMap<usize, VectorClock>,
    events: HashMap<usize, VectorClock>,
    buffers: Vec<(&'static str, BufState)>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock();
    f(g.get_or_insert_with(State::default))
}

/// Runs `f` and returns the races reported on this thread meanwhile, instead
/// of applying the policy (lockgraph's `OnCycle`) to them: the core's
/// [`capture_reports`](lockgraph_core::capture_reports) of [`RaceReport`].
/// Captures nest; the innermost one gets the reports; the capture ends even
/// when `f` panics.
pub fn capture(f: impl FnOnce()) -> Vec<RaceReport> {
    lockgraph_core::capture_reports::<RaceReport>(f)
}

/// A race report goes the core's one way ([`lockgraph_core::emit`]): to the
/// innermost [`capture`] on this thread, else by the policy
/// (`LOCKGRAPH_ON_CYCLE`): `warn` is one `tracing` WARN event (target
/// `lockgraph`, fields `buffer` and `kind`) delivered off this thread, or a
/// block on stderr when the subscriber does not enable it; `panic` panics
/// with the report; `abort` prints it and aborts; `off` drops it.
impl lockgraph_core::Report for RaceReport {
    fn event(&self, text: &str) -> bool {
        if !tracing::enabled!(target: "lockgraph", tracing::Level::WARN) {
            return false;
        }
        tracing::warn!(
            target: "lockgraph",
            buffer = self.buffer,
            kind = "data race",
            "{text}"
        );
        true
    }
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

/// The host synchronized a stream.
pub(crate) fn host_sync_stream(actor: usize) {
    with(|s| {
        let c = s.clocks.entry(actor).or_default().clone();
        s.clocks.entry(HOST).or_default().join(&c);
    });
}

/// The host synchronized an event.
pub(crate) fn host_sync_event(event: usize) {
    with(|s| {
        if let Some(c) = s.events.get(&event).cloned() {
            s.clocks.entry(HOST).or_default().join(&c);
        }
    });
}

/// Work of `actor` (HOST or a stream) reads and writes buffers.
pub(crate) fn access(
    actor: usize,
    by: &str,
    op: &str,
    reads: &[&Buffer],
    writes: &[&Buffer],
    site: &'static Location<'static>,
) {
    let by = if actor == HOST {
        format!(
            "the host (thread `{}`)",
            std::thread::current().name().unwrap_or("?")
        )
    } else {
        format!("stream `{by}`")
    };
    let races = with(|s| {
        let clock = s.clocks.entry(actor).or_default();
        let time = clock.tick(actor);
        let clock = clock.clone();
        let mk = |write| Access {
            by: by.clone(),
            op: op.to_string(),
            write,
            site: site.into(),
            epoch: Epoch::new(actor, time),
        };
        let mut races = Vec::new();
        for b in reads {
            let (name, st) = &mut s.buffers[b.id];
            if let Some(w) = &st.write {
                if !w.epoch.happens_before(&clock) {
                    races.push(RaceReport {
                        buffer: name,
                        earlier: w.clone(),
                        later: mk(false),
                    });
                }
            }
            st.reads.push(mk(false));
        }
        for b in writes {
            let (name, st) = &mut s.buffers[b.id];
            let earlier = st
                .write
                .iter()
                .chain(&st.reads)
                .find(|a| !a.epoch.happens_before(&clock))
                .cloned();
            if let Some(e) = earlier {
                races.push(RaceReport {
                    buffer: name,
                    earlier: e,
                    later: mk(true),
                });
            }
            st.write = Some(mk(true));
            st.reads.clear();
        }
        races
    });
    for r in races {
        lockgraph_core::emit_at(r, Some(site));
    }
}
