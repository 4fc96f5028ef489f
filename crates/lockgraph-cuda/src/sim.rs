//! The simulated back end: a host thread per stream runs its queue in order,
//! and one shared host-function executor per context runs host functions,
//! as the CUDA driver does. Same API as the `gpu` back end; no GPU needed.

use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::model::{self, Target};
use crate::{race, Buffer, Error, HostFn};

type Job = Box<dyn FnOnce() + Send>;

static NEXT_CTX: AtomicUsize = AtomicUsize::new(0);

/// A simulated context: streams and one host-function executor thread.
#[derive(Clone)]
pub struct Context {
    id: usize,
    exec: Sender<Job>,
}

impl Context {
    /// A new context with its executor thread.
    pub fn new() -> Context {
        let id = NEXT_CTX.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name(format!("cuda host-fn executor (context {id})"))
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("spawn the host-function executor");
        Context { id, exec: tx }
    }

    /// A new stream named `name`.
    pub fn new_stream(&self, name: &'static str) -> Stream {
        let model_id = model::new_stream(name, self.id);
        let (tx, rx) = channel::<Job>();
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        std::thread::Builder::new()
            .name(format!("cuda stream `{name}`"))
            .spawn(move || {
                for job in rx {
                    job();
                    *p.done.lock() += 1;
                    p.cv.notify_all();
                }
            })
            .expect("spawn a stream thread");
        Stream {
            ctx: self.clone(),
            name,
            model_id,
            queue: tx,
            progress,
        }
    }

    /// A new event, recorded nowhere yet.
    pub fn new_event(&self, name: &'static str) -> Event {
        Event {
            id: race::new_event(),
            name,
            recorded: Mutex::new(None),
        }
    }

    /// Waits for every stream of the context (checked first).
    #[track_caller]
    pub fn synchronize(&self, streams: &[&Stream]) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("context synchronize", site)?;
        let (_g, what) = model::begin_wait(Target::Context(self.id), site);
        lockgraph::blocking(what, || {
            for s in streams {
                s.wait_done(s.enqueued(), None);
                race::host_sync_stream(s.actor());
            }
        });
        Ok(())
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

#[derive(Default)]
struct Progress {
    enqueued: Mutex<u64>,
    done: Mutex<u64>,
    cv: Condvar,
}

/// A simulated stream.
pub struct Stream {
    ctx: Context,
    name: &'static str,
    model_id: usize,
    queue: Sender<Job>,
    progress: Arc<Progress>,
}

/// An event's last record: the stream's progress, the generation to reach,
/// the model's stream and position.
type Recorded = (Arc<Progress>, u64, usize, u64);

/// A simulated event.
pub struct Event {
    id: usize,
    name: &'static str,
    /// (stream progress, generation, model stream, model position)
    recorded: Mutex<Option<Recorded>>,
}

impl Event {
    /// Waits on the host for the work recorded in the event (checked first).
    #[track_caller]
    pub fn synchronize(&self) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("event synchronize", site)?;
        let rec = self.recorded.lock().clone();
        let Some((p, upto, s, pos)) = rec else {
            return Ok(());
        };
        let (_g, what) = model::begin_wait(Target::Upto(s, pos), site);
        lockgraph::blocking(what, || {
            let mut d = p.done.lock();
            while *d < upto {
                p.cv.wait(&mut d);
            }
        });
        race::host_sync_event(self.id);
        Ok(())
    }
}

impl Stream {
    /// The stream's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn actor(&self) -> usize {
        self.model_id + 1
    }

    fn enqueued(&self) -> u64 {
        *self.progress.enqueued.lock()
    }

    fn push(&self, job: Job) -> u64 {
        let mut n = self.progress.enqueued.lock();
        *n += 1;
        // The stream thread lives as long as the context's sender side.
        let _ = self.queue.send(job);
        *n
    }

    fn wait_done(&self, upto: u64, deadline: Option<Instant>) -> bool {
        let mut d = self.progress.done.lock();
        while *d < upto {
            match deadline {
                Some(t) => {
                    if self.progress.cv.wait_until(&mut d, t).timed_out() {
                        return *d >= upto;
                    }
                }
                None => self.progress.cv.wait(&mut d),
            }
        }
        true
    }

    /// Enqueues a kernel named `name` that reads and writes these buffers and
    /// runs `work` in order on the stream.
    #[track_caller]
    pub fn launch(
        &self,
        name: &str,
        reads: &[&Buffer],
        writes: &[&Buffer],
        work: impl FnOnce() + Send + 'static,
    ) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("kernel launch", site)?;
        model::enqueue_work(self.model_id);
        race::enqueue(self.actor());
        race::access(
            self.actor(),
            self.name,
            &format!("kernel `{name}`"),
            reads,
            writes,
            site,
        );
        self.push(Box::new(work));
        Ok(())
    }

    /// Enqueues an async copy from `src` to `dst`.
    #[track_caller]
    pub fn copy(&self, dst: &Buffer, src: &Buffer) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("memcpy async", site)?;
        model::enqueue_work(self.model_id);
        race::enqueue(self.actor());
        let op = format!("async copy `{}` -> `{}`", src.name(), dst.name());
        race::access(self.actor(), self.name, &op, &[src], &[dst], site);
        self.push(Box::new(|| {}));
        Ok(())
    }

    /// Enqueues a host function: it runs on the context's shared executor
    /// after everything enqueued before it, and blocks what comes after.
    #[track_caller]
    pub fn launch_host_fn<F: FnOnce() + Send + 'static>(&self, f: HostFn<F>) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("launch host fn", site)?;
        race::enqueue(self.actor());
        let (item, report) = model::enqueue_host_fn(self.model_id, f.needs, site);
        let exec = self.ctx.exec.clone();
        let body = f.f;
        self.push(Box::new(move || {
            let (tx, rx) = channel::<()>();
            let job: Job = Box::new(move || {
                let running = model::Running::enter(item);
                if catch_unwind(AssertUnwindSafe(body)).is_err() {
                    eprintln!("lockgraph-cuda: a host function panicked (caught)");
                }
                drop(running);
                model::item_done(item);
                let _ = tx.send(());
            });
            if exec.send(job).is_ok() {
                let _ = rx.recv();
            } else {
                model::item_done(item);
            }
        }));
        report.deliver();
        Ok(())
    }

    /// Records `event` here: it completes when the work enqueued so far does.
    #[track_caller]
    pub fn record_event(&self, event: &Event) -> Result<(), Error> {
        model::refuse_in_host_fn("event record", Location::caller())?;
        let pos = model::position(self.model_id);
        race::record(event.id, self.actor());
        let g = self.push(Box::new(|| {}));
        *event.recorded.lock() = Some((self.progress.clone(), g, self.model_id, pos));
        Ok(())
    }

    /// Makes this stream wait for the last record of `event` (none: no wait).
    #[track_caller]
    pub fn wait(&self, event: &Event) -> Result<(), Error> {
        let site = Location::caller();
        model::refuse_in_host_fn("stream wait event", site)?;
        let rec = event.recorded.lock().clone();
        race::stream_wait(self.actor(), event.id);
        let Some((p, upto, s, pos)) = rec else {
            return Ok(());
        };
        let (item, report) =
            model::enqueue_wait(self.model_id, event.name, Some((s, pos + 1)), site);
        self.push(Box::new(move || {
            let mut d = p.done.lock();
            while *d < upto {
                p.cv.wait(&mut d);
            }
            drop(d);
            model::item_done(item);
        }));
        report.deliver();
        Ok(())
    }

    /// Waits for everything enqueued so far, checking for a cycle first.
    #[track_caller]
    pub fn synchronize(&self) -> Result<(), Error> {
        self.sync(None, Location::caller())
    }

    /// [`synchronize`](Self::synchronize) giving up after `timeout`
    /// ([`Error::Timeout`]), so a test of a deadlock cannot hang.
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
        let (_g, what) = model::begin_wait(Target::Stream(self.model_id), site);
        let n = self.enqueued();
        let ok = lockgraph::blocking(what, || self.wait_done(n, deadline));
        if !ok {
            return Err(Error::Timeout);
        }
        race::host_sync_stream(self.actor());
        Ok(())
    }
}
