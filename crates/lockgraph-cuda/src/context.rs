//! [`Context`], [`Stream`] and [`Event`] over any [`Backend`]: the protocol
//! around each device operation, written once.
//!
//! Every call that can block or add an edge is refused inside a host
//! function ([`Error::CudaCallInHostFn`], reported as a certain cycle), then
//! checked against the deadlock model before anything blocks; waits run as
//! [`lockgraph::blocking`] calls named for the watchdog; the race sanitizer
//! sees every enqueue, record, wait and synchronize. The back end is called
//! in the middle, and when it fails the model is left as if nothing was
//! enqueued.

use std::any::TypeId;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::backend::{Backend, Job, Launch};
use crate::model::{self, Target};
use crate::{race, Buffer, Error, HostFn};

/// A context of back end `B` (a device's streams and their shared
/// host-function executor). Cloning is cheap and gives the same context.
///
/// Each back end has an alias: [`sim::Context`](crate::sim::Context), and
/// with the `cudarc` feature `gpu::Context`.
pub struct Context<B: Backend> {
    raw: Arc<B>,
    /// The model's context.
    id: usize,
}

impl<B: Backend> Clone for Context<B> {
    fn clone(&self) -> Self {
        Context {
            raw: Arc::clone(&self.raw),
            id: self.id,
        }
    }
}

impl<B: Backend> fmt::Debug for Context<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("backend", &std::any::type_name::<B>())
            .field("key", &self.raw.key())
            .finish()
    }
}

impl<B: Backend> Context<B> {
    /// Opens a context on device `ordinal` ([`Error::NoDriver`] from the
    /// cudarc back end without a driver; the simulated back end makes a new
    /// context, with its own executor, at each call).
    pub fn new(ordinal: usize) -> Result<Self, Error> {
        B::open(ordinal).map(Context::from_raw)
    }

    /// The context over an opened back end.
    pub fn from_raw(raw: B) -> Self {
        let id = model::new_context(TypeId::of::<B>(), raw.key());
        Context {
            raw: Arc::new(raw),
            id,
        }
    }

    /// The back end (for device work the API does not cover).
    pub fn raw(&self) -> &B {
        &self.raw
    }

    /// A new stream named `name` (the name is how reports and the watchdog
    /// call it).
    pub fn new_stream(&self, name: &'static str) -> Result<Stream<B>, Error> {
        let raw = self.raw.new_stream(name)?;
        Ok(Stream {
            ctx: self.clone(),
            raw,
            name,
            id: model::new_stream(name, self.id),
        })
    }

    /// A new event named `name`, recorded nowhere yet.
    pub fn new_event(&self, name: &'static str) -> Result<Event<B>, Error> {
        Ok(Event {
            ctx: self.clone(),
            raw: self.raw.new_event(name)?,
            id: race::new_event(),
            name,
            recorded: Mutex::new(None),
        })
    }

    /// Waits for every stream of the context, checking for a cycle first.
    #[track_caller]
    pub fn synchronize(&self) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("context synchronize", site)?;
        let actors: Vec<usize> = model::context_streams(self.id)
            .into_iter()
            .map(actor)
            .collect();
        let point = race::streams_point(&actors);
        wait(Target::Context(self.id), site, None, || {
            self.raw.context_synchronize()
        })?;
        race::host_sync(point);
        Ok(())
    }
}

/// A host wait for `target` (a synchronize) made at `site`, by `f`:
/// checked by the model first, and registered with the watchdog as a wait
/// for what `model::wait_lock` says (the executor, when the wait ends with
/// a pending host function), until `deadline` where it has one.
#[track_caller] // a blocking call's site is the caller's
fn wait<R>(
    target: Target,
    site: &'static Location<'static>,
    deadline: Option<Instant>,
    f: impl FnOnce() -> R,
) -> R {
    let (_g, what) = model::begin_wait(target, site);
    match model::wait_lock(target) {
        Some(lock) => lockgraph_core::primitive::wait_for_holders(lock, what, site, deadline, f),
        None => lockgraph::blocking(what, f),
    }
}

/// The race sanitizer's actor of the model's stream `s` (the host is 0).
fn actor(s: usize) -> usize {
    s + 1
}

/// A stream of back end `B`: its work runs in order.
pub struct Stream<B: Backend> {
    ctx: Context<B>,
    raw: B::Stream,
    name: &'static str,
    /// The model's stream.
    id: usize,
}

impl<B: Backend> fmt::Debug for Stream<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream").field("name", &self.name).finish()
    }
}

impl<B: Backend> Stream<B> {
    /// The stream's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The back end's stream (for device work the API does not cover; the
    /// race sanitizer does not see it).
    pub fn raw(&self) -> &B::Stream {
        &self.raw
    }

    /// The stream's context.
    pub fn context(&self) -> &Context<B> {
        &self.ctx
    }

    fn actor(&self) -> usize {
        actor(self.id)
    }

    /// Enqueues a kernel named `name` that reads `reads` and writes
    /// `writes`: `work` is the back end's shape of device work (on the
    /// simulated back end a closure run in order on the stream; on cudarc a
    /// closure that enqueues on the `CudaStream`).
    #[track_caller]
    pub fn launch<K>(
        &self,
        name: &str,
        reads: &[&Buffer],
        writes: &[&Buffer],
        work: K,
    ) -> Result<(), Error>
    where
        B: Launch<K>,
    {
        let op = format!("kernel `{name}`");
        self.enqueue(
            "kernel launch",
            &op,
            reads,
            writes,
            work,
            Location::caller(),
        )
    }

    /// Enqueues an async copy from `src` to `dst`, done by `work` (as in
    /// [`launch`](Self::launch)).
    #[track_caller]
    pub fn copy<K>(&self, dst: &Buffer, src: &Buffer, work: K) -> Result<(), Error>
    where
        B: Launch<K>,
    {
        let op = format!("async copy `{}` -> `{}`", src.name(), dst.name());
        self.enqueue(
            "memcpy async",
            &op,
            &[src],
            &[dst],
            work,
            Location::caller(),
        )
    }

    fn enqueue<K>(
        &self,
        call: &'static str,
        op: &str,
        reads: &[&Buffer],
        writes: &[&Buffer],
        work: K,
        site: &'static Location<'static>,
    ) -> Result<(), Error>
    where
        B: Launch<K>,
    {
        model::refuse_in_host_fn(call, site)?;
        self.ctx.raw.launch(&self.raw, work)?;
        model::enqueue_work(self.id);
        race::enqueue(self.actor());
        race::stream_access(self.actor(), self.name, op, reads, writes, site);
        Ok(())
    }

    /// Enqueues a host function: it runs on the context's shared executor
    /// after everything enqueued before it, and blocks what comes after.
    /// A cycle through it is reported before this returns; a panic in it is
    /// caught (and printed).
    #[track_caller]
    pub fn launch_host_fn<F: FnOnce() + Send + 'static>(&self, f: HostFn<F>) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("launch host fn", site)?;
        // Its place on the stream, for the race sanitizer.
        let place = race::enqueue_host_fn(self.actor(), self.name, site);
        let (pending, report) = model::enqueue_host_fn(self.id, f.needs, site);
        let body = f.f;
        let job: Job = Box::new(move || {
            let pending = pending;
            // Marks the host function as running on this thread (the CUDA
            // calls and signal waits it makes are attributed to it), and
            // holds its context's executor's (shared), its stream's and its
            // site's pseudo-locks meanwhile.
            let running = model::Running::enter(pending.id());
            // The buffer accesses it makes are its own, ordered by its
            // stream.
            let in_host_fn = place.enter();
            if catch_unwind(AssertUnwindSafe(body)).is_err() {
                eprintln!("lockgraph-cuda: a host function panicked (caught)");
            }
            drop(in_host_fn);
            drop(running);
            drop(pending);
        });
        // On failure the back end dropped the job, and with it the item.
        self.ctx.raw.launch_host_fn(&self.raw, job)?;
        // Delivered once queued: under the `panic` policy it unwinds, and
        // the queue must match the model.
        report.deliver();
        Ok(())
    }

    /// Records `event` here: it completes when the work enqueued so far does.
    #[track_caller]
    pub fn record_event(&self, event: &Event<B>) -> Result<(), Error> {
        model::refuse_in_host_fn("event record", Location::caller())?;
        // Held across the record: a concurrent wait sees the record the
        // back end and the model agree on.
        let mut recorded = event.recorded.lock();
        let pos = model::position(self.id);
        self.ctx.raw.record(&self.raw, &event.raw)?;
        race::record(event.id, self.actor());
        *recorded = Some((self.id, pos));
        Ok(())
    }

    /// Makes this stream wait for the last record of `event` (never
    /// recorded: no wait, as in CUDA).
    #[track_caller]
    pub fn wait(&self, event: &Event<B>) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("stream wait event", site)?;
        let recorded = event.recorded.lock();
        let Some(at) = *recorded else {
            return Ok(());
        };
        self.ctx.raw.wait_event(&self.raw, &event.raw)?;
        drop(recorded);
        race::stream_wait(self.actor(), event.id);
        let (pending, report) = model::enqueue_wait(self.id, event.name, at, site);
        // The wait item is done when the stream gets past it.
        self.ctx
            .raw
            .when_reached(&self.raw, Box::new(move || drop(pending)))?;
        report.deliver();
        Ok(())
    }

    /// Waits for everything enqueued so far, checking for a cycle first.
    #[track_caller]
    pub fn synchronize(&self) -> Result<(), Error> {
        self.sync(None, Location::caller())
    }

    /// [`synchronize`](Self::synchronize) giving up after `timeout`
    /// ([`Error::Timeout`]), so a test or check of a real deadlock cannot
    /// hang.
    #[track_caller]
    pub fn synchronize_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.sync(Some(Instant::now() + timeout), Location::caller())
    }

    #[track_caller] // the watchdog names the caller of `synchronize`
    fn sync(
        &self,
        deadline: Option<Instant>,
        site: &'static Location<'static>,
    ) -> Result<(), Error> {
        model::refuse_in_host_fn("stream synchronize", site)?;
        let point = race::stream_point(self.actor());
        wait(Target::Stream(self.id), site, deadline, || {
            self.ctx.raw.synchronize(&self.raw, deadline)
        })?;
        race::host_sync(point);
        Ok(())
    }
}

/// An event of back end `B`: marks a point of a stream's work.
pub struct Event<B: Backend> {
    ctx: Context<B>,
    raw: B::Event,
    /// The race sanitizer's event.
    id: usize,
    name: &'static str,
    /// The model's stream and position of the last record.
    recorded: Mutex<Option<(usize, u64)>>,
}

impl<B: Backend> fmt::Debug for Event<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").field("name", &self.name).finish()
    }
}

impl<B: Backend> Event<B> {
    /// The event's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The back end's event.
    pub fn raw(&self) -> &B::Event {
        &self.raw
    }

    /// Waits on the host for the work recorded in the event (never
    /// recorded: returns at once), checking for a cycle first.
    #[track_caller]
    pub fn synchronize(&self) -> Result<(), Error> {
        self.sync(None, Location::caller())
    }

    /// [`synchronize`](Self::synchronize) giving up after `timeout`
    /// ([`Error::Timeout`]).
    #[track_caller]
    pub fn synchronize_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.sync(Some(Instant::now() + timeout), Location::caller())
    }

    #[track_caller]
    fn sync(
        &self,
        deadline: Option<Instant>,
        site: &'static Location<'static>,
    ) -> Result<(), Error> {
        model::refuse_in_host_fn("event synchronize", site)?;
        let Some((s, pos)) = *self.recorded.lock() else {
            return Ok(());
        };
        let point = race::event_point(self.id);
        wait(Target::Upto(s, pos, self.name()), site, deadline, || {
            self.ctx.raw.event_synchronize(&self.raw, deadline)
        })?;
        race::host_sync(point);
        Ok(())
    }
}
