//! The real back end over cudarc 0.19 (dynamic loading: it builds without
//! CUDA, and [`Context::new`](crate::Context::new) returns
//! [`Error::NoDriver`] where the driver library cannot be loaded).
//!
//! Streams and events are cudarc's own (`Stream::raw` is the
//! `Arc<CudaStream>`); host functions go through `cuLaunchHostFunc` with a
//! trampoline; device work is a closure that enqueues on the `CudaStream`:
//!
//! ```no_run
//! use lockgraph_cuda::gpu::Context;
//! use lockgraph_cuda::Buffer;
//!
//! let ctx = Context::new(0)?;
//! let stream = ctx.new_stream("upload")?;
//! let (host, dev) = (Buffer::named("host"), Buffer::named("dev"));
//! let data = vec![1u32; 1024];
//! let mut slice = None;
//! stream.copy(&dev, &host, |s| {
//!     slice = Some(s.clone_htod(&data)?);
//!     Ok(())
//! })?;
//! stream.synchronize()?;
//! # Ok::<(), lockgraph_cuda::Error>(())
//! ```

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::driver::{result, sys, CudaContext, CudaEvent, CudaStream, DriverError};

use crate::backend::{Backend, Job, Launch};
use crate::Error;

/// A context on [`Cudarc`] (device `ordinal`'s primary context).
pub type Context = crate::Context<Cudarc>;
/// A CUDA stream.
pub type Stream = crate::Stream<Cudarc>;
/// A CUDA event.
pub type Event = crate::Event<Cudarc>;

fn driver(e: DriverError) -> Error {
    // Display/Debug of DriverError call into the driver: print the code.
    Error::Driver(format!("{:?}", e.0))
}

/// Whether the CUDA driver library can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to open the driver library with libloading.
    unsafe { sys::is_culib_present() }
}

/// The cudarc back end: one value is one `CudaContext`.
pub struct Cudarc {
    ctx: Arc<CudaContext>,
}

impl Cudarc {
    /// The cudarc context (for allocations, modules, ...).
    pub fn cuda(&self) -> &Arc<CudaContext> {
        &self.ctx
    }
}

impl From<Arc<CudaContext>> for Cudarc {
    /// A context cudarc opened (for [`Context::from_raw`](crate::Context::from_raw)).
    fn from(ctx: Arc<CudaContext>) -> Cudarc {
        Cudarc { ctx }
    }
}

unsafe extern "C" fn trampoline(data: *mut c_void) {
    // SAFETY: `data` is the `Box<Job>` leaked by `launch_host_fn`; the driver
    // calls each host function once, so the box is reclaimed once.
    let job = unsafe { Box::from_raw(data as *mut Job) };
    // The protocol's jobs catch their own panics; this one keeps an unwind
    // from crossing the driver's frames whatever the job.
    if catch_unwind(AssertUnwindSafe(*job)).is_err() {
        eprintln!("lockgraph-cuda: a host function panicked (caught)");
    }
}

/// Polls `done` until it says true or `deadline` passes (CUDA has no timed
/// synchronize).
fn poll(deadline: Instant, done: impl Fn() -> Result<bool, DriverError>) -> Result<(), Error> {
    loop {
        if done().map_err(driver)? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

impl Backend for Cudarc {
    type Stream = Arc<CudaStream>;
    type Event = CudaEvent;

    fn open(ordinal: usize) -> Result<Cudarc, Error> {
        if !driver_present() {
            return Err(Error::NoDriver);
        }
        CudaContext::new(ordinal).map(Cudarc::from).map_err(driver)
    }

    fn key(&self) -> u64 {
        // The driver's context handle: handles of one device's primary
        // context share it, and share its host-function executor.
        self.ctx.cu_ctx() as usize as u64
    }

    fn new_stream(&self, _name: &'static str) -> Result<Arc<CudaStream>, Error> {
        self.ctx.new_stream().map_err(driver)
    }

    fn new_event(&self, _name: &'static str) -> Result<CudaEvent, Error> {
        self.ctx.new_event(None).map_err(driver)
    }

    fn launch_host_fn(&self, stream: &Arc<CudaStream>, job: Job) -> Result<(), Error> {
        self.ctx.bind_to_thread().map_err(driver)?;
        let data = Box::into_raw(Box::new(job));
        // SAFETY: the stream is live; `trampoline` takes ownership of `data`
        // when the driver runs it, and on failure we reclaim it below.
        let r = unsafe {
            result::stream::launch_host_function(
                stream.cu_stream(),
                trampoline,
                data as *mut c_void,
            )
        };
        if let Err(e) = r {
            // SAFETY: the launch failed, so the driver never saw `data`.
            drop(unsafe { Box::from_raw(data) });
            return Err(driver(e));
        }
        Ok(())
    }

    fn record(&self, stream: &Arc<CudaStream>, event: &CudaEvent) -> Result<(), Error> {
        event.record(stream).map_err(driver)
    }

    fn wait_event(&self, stream: &Arc<CudaStream>, event: &CudaEvent) -> Result<(), Error> {
        stream.wait(event).map_err(driver)
    }

    fn synchronize(
        &self,
        stream: &Arc<CudaStream>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let Some(deadline) = deadline else {
            return stream.synchronize().map_err(driver);
        };
        // An event recorded now completes with everything enqueued so far.
        let done = stream.record_event(None).map_err(driver)?;
        poll(deadline, || done.try_is_complete())
    }

    fn event_synchronize(&self, event: &CudaEvent, deadline: Option<Instant>) -> Result<(), Error> {
        let Some(deadline) = deadline else {
            return event.synchronize().map_err(driver);
        };
        self.ctx.bind_to_thread().map_err(driver)?;
        poll(deadline, || event.try_is_complete())
    }

    fn context_synchronize(&self) -> Result<(), Error> {
        self.ctx.synchronize().map_err(driver)
    }
}

/// Device work on cudarc: a closure that enqueues on the `CudaStream` (a
/// kernel launch, a copy) and nothing else.
impl<F> Launch<F> for Cudarc
where
    F: FnOnce(&Arc<CudaStream>) -> Result<(), DriverError>,
{
    fn launch(&self, stream: &Arc<CudaStream>, work: F) -> Result<(), Error> {
        work(stream).map_err(driver)
    }
}
