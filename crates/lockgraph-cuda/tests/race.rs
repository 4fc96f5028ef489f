//! How a race report is delivered outside `race::capture`: like the core's
//! reports (the same path), one `tracing` WARN event (target `lockgraph`)
//! under the `warn` policy when a subscriber is installed, delivered by a
//! lockgraph thread, and a panic carrying the report under `panic`. One
//! test: the policy is process-wide.

use std::sync::{Arc, Mutex as StdMutex};

use lockgraph::{set_on_cycle, OnCycle};
use lockgraph_cuda::sim::Context;
use lockgraph_cuda::Buffer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// The events a subscriber saw: (target, level, message).
type Seen = Arc<StdMutex<Vec<(String, Level, String)>>>;

/// A subscriber that keeps every event.
struct Keep(Seen);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Keep {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((meta.target().to_string(), *meta.level(), m.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_race_outside_capture_is_a_tracing_warning_or_a_panic_per_policy() {
    let ctx = Context::new(0).unwrap();
    let s = ctx.new_stream("deliver-stream").unwrap();

    // `warn` with a subscriber: one WARN event with the report's text.
    set_on_cycle(OnCycle::Warn);
    let seen = Seen::default();
    let (dev, host) = (Buffer::named("deliver-dev"), Buffer::named("deliver-host"));
    tracing::subscriber::with_default(Keep(Arc::clone(&seen)), || {
        s.copy(&host, &dev, || {}).unwrap();
        host.host_read(); // before the copy was synchronized
    });
    // Delivered by a lockgraph thread, as every report (with the subscriber
    // current when it was raised): wait for it.
    assert!(lockgraph::flush_reports(std::time::Duration::from_secs(30)));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (target, level, message) = &seen[0];
    assert_eq!(target, "lockgraph");
    assert_eq!(*level, Level::WARN);
    for needle in [
        "data race on buffer `deliver-host`",
        "stream `deliver-stream`",
        "host read",
    ] {
        assert!(message.contains(needle), "{needle} missing:\n{message}");
    }

    // `panic`: the racing access panics with the report.
    set_on_cycle(OnCycle::Panic);
    let staging = Buffer::named("deliver-staging");
    s.copy(&dev, &staging, || {}).unwrap();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (r, line) = (std::panic::catch_unwind(|| staging.host_write()), line!());
    // A CUDA call inside a host function: the report panics in the host
    // function, which the stream's executor catches.
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = Arc::new(ctx.new_stream("deliver-host-fn").unwrap());
    let s3 = Arc::clone(&s2);
    s2.launch_host_fn(lockgraph_cuda::HostFn::new(move || {
        let catch = |f: &dyn Fn() -> Result<(), lockgraph_cuda::Error>| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        };
        let (r, line) = (catch(&|| s3.synchronize()), line!());
        let text = r.err().and_then(|p| p.downcast_ref::<String>().cloned());
        tx.send((text, line)).unwrap();
    }))
    .unwrap();
    let (in_host_fn, host_fn_line) = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    std::panic::set_hook(hook);
    set_on_cycle(OnCycle::Warn);
    let payload = r.expect_err("the race did not panic");
    let text = payload
        .downcast_ref::<String>()
        .expect("the panic carries the report");
    assert!(
        text.contains("data race on buffer `deliver-staging`"),
        "{text}"
    );
    // Its first line starts with the racing call's site, as a compiler
    // names a place.
    let at = format!("{}:{line}:", file!());
    assert!(text.starts_with(&at), "{at}: {text}");
    let text = in_host_fn.expect("the call inside the host function did not panic");
    let at = format!("{}:{host_fn_line}:", file!());
    assert!(text.starts_with(&at), "{at}: {text}");
    assert!(text.contains("stream synchronize"), "{text}");
    s.synchronize().unwrap();
    s2.synchronize().unwrap();
}
