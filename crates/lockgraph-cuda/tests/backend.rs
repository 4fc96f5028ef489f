//! A third back end in one file, written against the public `Backend`
//! trait only: a "serial device" that runs the work of every stream of a
//! context, host functions included, on one thread in enqueue order (CUDA
//! allows that much serialisation). The generic `Context` / `Stream` /
//! `Event` give it the whole protocol: cycle checks before a synchronize
//! blocks, refusing CUDA calls inside host functions, the race sanitizer.
#![cfg(debug_assertions)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lockgraph::{capture, ReportKind};
use lockgraph_cuda::backend::{Backend, Job, Launch};
use lockgraph_cuda::{race, Buffer, Context, Error, HostFn};

/// The serial device: one queue and one thread per context.
struct Serial {
    key: u64,
    queue: Sender<Job>,
    progress: Arc<Progress>,
}

/// Jobs enqueued and done, on the one queue.
#[derive(Default)]
struct Progress {
    enqueued: Mutex<u64>,
    done: Mutex<u64>,
    cv: Condvar,
}

/// A stream: the queue position of its last job (everything before it is
/// done when it is).
#[derive(Default)]
struct SerialStream(Mutex<u64>);

/// An event: the queue position it was last recorded at.
#[derive(Default)]
struct SerialEvent(Mutex<Option<u64>>);

impl Serial {
    fn push(&self, stream: &SerialStream, job: Job) {
        let mut n = self.progress.enqueued.lock().unwrap();
        *n += 1;
        *stream.0.lock().unwrap() = *n;
        let _ = self.queue.send(job);
    }

    fn wait(&self, upto: u64, deadline: Option<Instant>) -> Result<(), Error> {
        let mut d = self.progress.done.lock().unwrap();
        while *d < upto {
            d = match deadline {
                None => self.progress.cv.wait(d).unwrap(),
                Some(t) => {
                    let left = t.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout);
                    }
                    self.progress.cv.wait_timeout(d, left).unwrap().0
                }
            };
        }
        Ok(())
    }
}

impl Backend for Serial {
    type Stream = SerialStream;
    type Event = SerialEvent;

    fn open(_ordinal: usize) -> Result<Serial, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let (queue, jobs) = channel::<Job>();
        let progress = Arc::new(Progress::default());
        let p = Arc::clone(&progress);
        std::thread::spawn(move || {
            for job in jobs {
                job();
                *p.done.lock().unwrap() += 1;
                p.cv.notify_all();
            }
        });
        Ok(Serial {
            key: NEXT.fetch_add(1, Ordering::Relaxed),
            queue,
            progress,
        })
    }

    fn key(&self) -> u64 {
        self.key
    }

    fn new_stream(&self, _name: &'static str) -> Result<SerialStream, Error> {
        Ok(SerialStream::default())
    }

    fn new_event(&self, _name: &'static str) -> Result<SerialEvent, Error> {
        Ok(SerialEvent::default())
    }

    fn launch_host_fn(&self, stream: &SerialStream, job: Job) -> Result<(), Error> {
        self.push(stream, job);
        Ok(())
    }

    // `when_reached`: the default (a host function).

    fn record(&self, stream: &SerialStream, event: &SerialEvent) -> Result<(), Error> {
        *event.0.lock().unwrap() = Some(*stream.0.lock().unwrap());
        Ok(())
    }

    fn wait_event(&self, _stream: &SerialStream, _event: &SerialEvent) -> Result<(), Error> {
        Ok(()) // one queue: the record's work is done before anything later
    }

    fn synchronize(&self, stream: &SerialStream, deadline: Option<Instant>) -> Result<(), Error> {
        let upto = *stream.0.lock().unwrap();
        self.wait(upto, deadline)
    }

    fn event_synchronize(
        &self,
        event: &SerialEvent,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let upto = event.0.lock().unwrap().unwrap_or(0);
        self.wait(upto, deadline)
    }

    fn context_synchronize(&self) -> Result<(), Error> {
        let upto = *self.progress.enqueued.lock().unwrap();
        self.wait(upto, None)
    }
}

impl<F: FnOnce() + Send + 'static> Launch<F> for Serial {
    fn launch(&self, stream: &SerialStream, work: F) -> Result<(), Error> {
        self.push(stream, Box::new(work));
        Ok(())
    }
}

const SHORT: Duration = Duration::from_millis(200);

#[test]
fn a_third_back_end_gets_the_cycle_check_before_a_synchronize_blocks() {
    let ctx = Context::<Serial>::new(0).unwrap();
    let s = ctx.new_stream("serial-s1").unwrap();
    let m = Arc::new(lockgraph::Mutex::named("serial-arena", ()));
    let reports = capture(|| {
        let _g = m.lock();
        let m2 = Arc::clone(&m);
        s.launch_host_fn(HostFn::new(move || drop(m2.lock())).locks(&m))
            .unwrap();
        assert_eq!(s.synchronize_timeout(SHORT), Err(Error::Timeout));
    });
    s.synchronize().unwrap(); // the lock is free: the queue drains
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::DeviceCycle { certain: true });
    let text = reports[0].to_string();
    for needle in ["serial-s1", "Mutex `serial-arena`", "tests/backend.rs"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn a_third_back_end_refuses_cuda_calls_inside_host_functions() {
    let ctx = Context::<Serial>::new(0).unwrap();
    let s = Arc::new(ctx.new_stream("serial-self").unwrap());
    let (tx, rx) = channel();
    let s2 = Arc::clone(&s);
    s.launch_host_fn(HostFn::new(move || {
        let reports = capture(|| tx.send(s2.synchronize()).unwrap());
        assert_eq!(reports.len(), 1);
    }))
    .unwrap();
    let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(r, Err(Error::CudaCallInHostFn("stream synchronize")));
    s.synchronize().unwrap();
}

#[test]
fn a_third_back_end_feeds_the_race_sanitizer_and_orders_events() {
    let ctx = Context::<Serial>::new(0).unwrap();
    let (a, b) = (
        ctx.new_stream("serial-a").unwrap(),
        ctx.new_stream("serial-b").unwrap(),
    );
    let x = Buffer::named("serial-x");
    let r = race::capture(|| {
        a.launch("produce", &[], &[&x], || {}).unwrap();
        b.launch("consume", &[&x], &[], || {}).unwrap();
    });
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].to_string().contains("kernel `produce`"), "{}", r[0]);

    let e = ctx.new_event("serial-e").unwrap();
    let y = Buffer::named("serial-y");
    let r = race::capture(|| {
        a.launch("produce", &[], &[&y], || {}).unwrap();
        a.record_event(&e).unwrap();
        b.wait(&e).unwrap();
        b.launch("consume", &[&y], &[], || {}).unwrap();
        e.synchronize_timeout(Duration::from_secs(5)).unwrap();
        ctx.synchronize().unwrap();
        y.host_read();
    });
    assert!(r.is_empty(), "{r:?}");
}
