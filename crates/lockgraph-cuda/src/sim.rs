//! The simulated back end: a host thread per stream runs its queue in order,
//! and one shared host-function executor thread per context runs host
//! functions, as the CUDA driver does. No GPU needed; kernels and copies are
//! closures run in order on the stream's thread.
//!
//! ```
//! use lockgraph_cuda::sim::Context;
//! use lockgraph_cuda::HostFn;
//!
//! let ctx = Context::new(0)?;
//! let stream = ctx.new_stream("loader")?;
//! stream.launch("fill", &[], &[], || {})?;
//! stream.launch_host_fn(HostFn::new(|| println!("after the kernel")))?;
//! stream.synchronize()?;
//! # Ok::<(), lockgraph_cuda::Error>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::backend::{Backend, Job, Launch};
use crate::Error;

/// A simulated context on [`Sim`].
pub type Context = crate::Context<Sim>;
/// A simulated stream.
pub type Stream = crate::Stream<Sim>;
/// A simulated event.
pub type Event = crate::Event<Sim>;

/// The simulated back end: one value is one context with its executor
/// thread. Every [`Backend::open`] makes a new context, whatever the ordinal
/// (devices are not simulated), so that independent users (tests running in
/// parallel) never share an executor.
pub struct Sim {
    key: u64,
    exec: Sender<Job>,
    /// The context's streams, for a context synchronize.
    streams: Mutex<Vec<Weak<Progress>>>,
}

/// A simulated stream: a queue run in order by its thread.
pub struct SimStream {
    queue: Sender<Job>,
    progress: Arc<Progress>,
}

/// A simulated event: the stream and the point of its last record.
pub struct SimEvent {
    last: Mutex<Option<(Arc<Progress>, u64)>>,
}

/// How far a stream got: jobs enqueued and jobs done.
#[derive(Default)]
struct Progress {
    enqueued: Mutex<u64>,
    done: Mutex<u64>,
    cv: Condvar,
}

impl Progress {
    /// Waits until `upto` jobs are done (false: the deadline passed first).
    fn wait_done(&self, upto: u64, deadline: Option<Instant>) -> bool {
        let mut d = self.done.lock();
        while *d < upto {
            match deadline {
                Some(t) => {
                    if self.cv.wait_until(&mut d, t).timed_out() {
                        return *d >= upto;
                    }
                }
                None => self.cv.wait(&mut d),
            }
        }
        true
    }

    fn enqueued(&self) -> u64 {
        *self.enqueued.lock()
    }
}

fn timed(done: bool) -> Result<(), Error> {
    if done {
        Ok(())
    } else {
        Err(Error::Timeout)
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map(drop)
        .map_err(|e| Error::Driver(format!("simulated back end: cannot spawn a thread: {e}")))
}

impl SimStream {
    /// Enqueues `job`; returns how many jobs were enqueued with it.
    fn push(&self, job: Job) -> u64 {
        let mut n = self.progress.enqueued.lock();
        *n += 1;
        // The stream thread runs until the stream is dropped.
        let _ = self.queue.send(job);
        *n
    }
}

impl Backend for Sim {
    type Stream = SimStream;
    type Event = SimEvent;

    fn open(_ordinal: usize) -> Result<Sim, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        let (exec, jobs) = channel::<Job>();
        spawn(
            format!("cuda host-fn executor (context {key})"),
            move || {
                for job in jobs {
                    job();
                }
            },
        )?;
        Ok(Sim {
            key,
            exec,
            streams: Mutex::new(Vec::new()),
        })
    }

    fn key(&self) -> u64 {
        self.key
    }

    fn new_stream(&self, name: &'static str) -> Result<SimStream, Error> {
        let (queue, jobs) = channel::<Job>();
        let progress = Arc::new(Progress::default());
        let p = Arc::clone(&progress);
        spawn(format!("cuda stream `{name}`"), move || {
            for job in jobs {
                job();
                *p.done.lock() += 1;
                p.cv.notify_all();
            }
        })?;
        let mut streams = self.streams.lock();
        streams.retain(|s| s.strong_count() > 0);
        streams.push(Arc::downgrade(&progress));
        Ok(SimStream { queue, progress })
    }

    fn new_event(&self, _name: &'static str) -> Result<SimEvent, Error> {
        Ok(SimEvent {
            last: Mutex::new(None),
        })
    }

    fn launch_host_fn(&self, stream: &SimStream, job: Job) -> Result<(), Error> {
        let exec = self.exec.clone();
        // The stream's thread hands the job to the shared executor and waits
        // for it: the stream's later work waits too.
        stream.push(Box::new(move || {
            let (tx, rx) = channel::<()>();
            let job: Job = Box::new(move || {
                job();
                let _ = tx.send(());
            });
            // A gone executor drops the job (and the model's item with it).
            if exec.send(job).is_ok() {
                let _ = rx.recv();
            }
        }));
        Ok(())
    }

    fn when_reached(&self, stream: &SimStream, job: Job) -> Result<(), Error> {
        stream.push(job);
        Ok(())
    }

    fn record(&self, stream: &SimStream, event: &SimEvent) -> Result<(), Error> {
        let upto = stream.push(Box::new(|| {}));
        *event.last.lock() = Some((Arc::clone(&stream.progress), upto));
        Ok(())
    }

    fn wait_event(&self, stream: &SimStream, event: &SimEvent) -> Result<(), Error> {
        if let Some((p, upto)) = event.last.lock().clone() {
            stream.push(Box::new(move || {
                p.wait_done(upto, None);
            }));
        }
        Ok(())
    }

    fn synchronize(&self, stream: &SimStream, deadline: Option<Instant>) -> Result<(), Error> {
        let p = &stream.progress;
        timed(p.wait_done(p.enqueued(), deadline))
    }

    fn event_synchronize(&self, event: &SimEvent, deadline: Option<Instant>) -> Result<(), Error> {
        match event.last.lock().clone() {
            Some((p, upto)) => timed(p.wait_done(upto, deadline)),
            None => Ok(()),
        }
    }

    fn context_synchronize(&self) -> Result<(), Error> {
        let streams: Vec<Arc<Progress>> = self
            .streams
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for p in streams {
            p.wait_done(p.enqueued(), None);
        }
        Ok(())
    }
}

/// Device work on the simulated back end: a closure run in order on the
/// stream's thread.
impl<F: FnOnce() + Send + 'static> Launch<F> for Sim {
    fn launch(&self, stream: &SimStream, work: F) -> Result<(), Error> {
        stream.push(Box::new(work));
        Ok(())
    }
}
