//! The real back end over cudarc 0.19 (dynamic loading): the same checks as
//! [`crate::sim`] before each synchronize, a safe `launch_host_fn`, a timed
//! synchronize, and the race sanitizer fed by tracked launches.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::driver::{result, sys, CudaContext, CudaEvent, CudaStream, DriverError};

use crate::model::{self, Target};
use crate::{race, Buffer, Error, HostFn};

fn driver(e: DriverError) -> Error {
    // Display/Debug of DriverError call into the driver: print the code.
    Error::Driver(format!("{:?}", e.0))
}

/// Whether the CUDA driver library can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to open the driver library with libloading.
    unsafe { sys::is_culib_present() }
}

/// A CUDA context (device `ordinal`).
pub struct Context {
    id: usize,
    ctx: Arc<CudaContext>,
}

impl Context {
    /// Opens device `ordinal`; [`Error::NoDriver`] without a driver.
    pub fn new(ordinal: usize) -> Result<Context, Error> {
        if !driver_present() {
            return Err(Error::NoDriver);
        }
        let ctx = CudaContext::new(ordinal).map_err(driver)?;
        Ok(Context {
            id: 1_000_000 + ordinal,
            ctx,
        })
    }

    /// The cudarc context.
    pub fn cuda(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// A new stream named `name`.
    pub fn new_stream(&self, name: &'static str) -> Result<Stream, Error> {
        let stream = self.ctx.new_stream().map_err(driver)?;
        Ok(Stream {
            id: model::new_stream(name, self.id),
            name,
            stream,
        })
    }

    /// Waits for every stream of the context (checked first).
    #[track_caller]
    pub fn synchronize(&self) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("context synchronize", site)?;
        let (_g, what) = model::begin_wait(Target::Context(self.id), site);
        lockgraph::blocking(what, || self.ctx.synchronize()).map_err(driver)?;
        for s in model::context_streams(self.id) {
            race::host_sync_stream(s + 1);
        }
        Ok(())
    }
}

/// A CUDA stream.
pub struct Stream {
    id: usize,
    name: &'static str,
    stream: Arc<CudaStream>,
}

/// A CUDA event with the model's record position.
pub struct Event {
    event: CudaEvent,
    id: usize,
    name: &'static str,
    recorded: (usize, u64),
}

impl Event {
    /// Waits on the host for the recorded work (checked first).
    #[track_caller]
    pub fn synchronize(&self) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("event synchronize", site)?;
        let (s, pos) = self.recorded;
        let (_g, what) = model::begin_wait(Target::Upto(s, pos), site);
        lockgraph::blocking(what, || self.event.synchronize()).map_err(driver)?;
        race::host_sync_event(self.id);
        Ok(())
    }
}

struct Pending {
    f: Box<dyn FnOnce() + Send>,
    item: model::ItemId,
}

unsafe extern "C" fn trampoline(data: *mut c_void) {
    // SAFETY: `data` is the `Box<Pending>` leaked by `launch_host_fn`; the
    // driver calls each host function once, so the box is reclaimed once.
    let p = unsafe { Box::from_raw(data as *mut Pending) };
    let item = p.item;
    // Holds the stream's and the site's pseudo-locks while the host function
    // runs on the driver's thread: the locks it takes are attributed to it.
    let running = model::Running::enter(item);
    if catch_unwind(AssertUnwindSafe(p.f)).is_err() {
        eprintln!("lockgraph-cuda: a host function panicked (caught)");
    }
    drop(running);
    model::item_done(item);
}

impl Stream {
    /// The cudarc stream, for launches and copies.
    pub fn cuda(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The stream's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn actor(&self) -> usize {
        self.id + 1
    }

    /// Enqueues work named `name` (a kernel launch, a copy) with `enqueue`,
    /// which gets the cudarc stream and must only enqueue on it; the race
    /// sanitizer records that the work reads `reads` and writes `writes`.
    #[track_caller]
    pub fn launch(
        &self,
        name: &str,
        reads: &[&Buffer],
        writes: &[&Buffer],
        enqueue: impl FnOnce(&Arc<CudaStream>) -> Result<(), DriverError>,
    ) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("kernel launch", site)?;
        enqueue(&self.stream).map_err(driver)?;
        model::enqueue_work(self.id);
        race::enqueue(self.actor());
        race::access(self.actor(), self.name, name, reads, writes, site);
        Ok(())
    }

    /// Enqueues a host function (`cuLaunchHostFunc`); panics in it are caught.
    #[track_caller]
    pub fn launch_host_fn<F: FnOnce() + Send + 'static>(&self, f: HostFn<F>) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("launch host fn", site)?;
        self.stream.context().bind_to_thread().map_err(driver)?;
        race::enqueue(self.actor());
        let (item, report) = model::enqueue_host_fn(self.id, f.needs, site);
        let data = Box::into_raw(Box::new(Pending {
            f: Box::new(f.f),
            item,
        }));
        // SAFETY: the stream is live; `trampoline` takes ownership of `data`
        // when the driver runs it, and on failure we reclaim it below.
        let r = unsafe {
            result::stream::launch_host_function(
                self.stream.cu_stream(),
                trampoline,
                data as *mut c_void,
            )
        };
        if let Err(e) = r {
            // SAFETY: the launch failed, so the driver never saw `data`.
            drop(unsafe { Box::from_raw(data) });
            model::item_done(item);
            drop(report); // about work that was never queued
            return Err(driver(e));
        }
        report.deliver();
        Ok(())
    }

    /// Records a new event on this stream.
    #[track_caller]
    pub fn record_event(&self, name: &'static str) -> Result<Event, Error> {
        model::refuse_in_host_fn("event record", Location::caller())?;
        let pos = model::position(self.id);
        let event = self.stream.record_event(None).map_err(driver)?;
        let id = race::new_event();
        race::record(id, self.actor());
        Ok(Event {
            event,
            id,
            name,
            recorded: (self.id, pos),
        })
    }

    /// Makes this stream wait for `event`.
    #[track_caller]
    pub fn wait(&self, event: &Event) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("stream wait event", site)?;
        self.stream.wait(&event.event).map_err(driver)?;
        race::stream_wait(self.actor(), event.id);
        let (s, pos) = event.recorded;
        let (item, report) = model::enqueue_wait(self.id, event.name, Some((s, pos + 1)), site);
        // The wait item is done when the stream gets past it.
        let done = HostFn::new(move || model::item_done(item));
        if let Err(e) = self.launch_host_fn(done) {
            model::item_done(item);
            drop(report);
            return Err(e);
        }
        report.deliver();
        Ok(())
    }

    /// Waits for the stream (checked first).
    #[track_caller]
    pub fn synchronize(&self) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("stream synchronize", site)?;
        let (_g, what) = model::begin_wait(Target::Stream(self.id), site);
        lockgraph::blocking(what, || self.stream.synchronize()).map_err(driver)?;
        race::host_sync_stream(self.actor());
        Ok(())
    }

    /// [`synchronize`](Self::synchronize) giving up after `timeout`
    /// ([`Error::Timeout`]), so a check of a real deadlock cannot hang. CUDA
    /// has no timed stream synchronize: an event recorded now completes
    /// with everything enqueued so far, and is polled until the deadline.
    #[track_caller]
    pub fn synchronize_timeout(&self, timeout: Duration) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("stream synchronize", site)?;
        let (_g, what) = model::begin_wait(Target::Stream(self.id), site);
        let deadline = Instant::now() + timeout;
        let done = self.stream.record_event(None).map_err(driver)?;
        let finished = lockgraph::blocking(what, || loop {
            match done.try_is_complete() {
                Ok(true) => return Ok(true),
                Ok(false) if Instant::now() >= deadline => return Ok(false),
                Ok(false) => std::thread::sleep(Duration::from_micros(200)),
                Err(e) => return Err(driver(e)),
            }
        })?;
        if !finished {
            return Err(Error::Timeout);
        }
        race::host_sync_stream(self.actor());
        Ok(())
    }
}
