//! The `tracing-spans` feature: with `lockgraph::tracing::layer()` in the
//! subscriber, watchdog reports and dumps show the spans open on each
//! thread. (`cargo test --features tracing-spans --test spans`.)
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockgraph::watchdog::{self, Config};
use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, spawn_named};
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn child_deadlock_in_spans() {
    if !is_child() {
        return;
    }
    let subscriber = tracing_subscriber::registry().with(lockgraph::tracing::layer());
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let x = Arc::new(Mutex::named("model-lock", ()));
    let y = Arc::new(Mutex::named("cache-lock", ()));
    let met = Arc::new(Barrier::new(2));
    let a = {
        let (x, y, met) = (x.clone(), y.clone(), met.clone());
        spawn_named("server", move || {
            let _request = tracing::info_span!("request", id = 7).entered();
            let _load = tracing::info_span!("load_model", name = "bert").entered();
            let _x = x.lock();
            met.wait();
            let _y = y.lock();
        })
    };
    let b = spawn_named("evictor", move || {
        let _sweep = tracing::info_span!("sweep").entered();
        let _y = y.lock();
        met.wait();
        let _x = x.lock();
    });
    // Say when the watchdog has written its report (the subscriber prints
    // nothing), then stay hung.
    let dir = std::env::var_os("LOCKGRAPH_DUMP_DIR").unwrap();
    loop {
        let written = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("\"kind\":\"deadlock\""))
            });
        if written {
            eprintln!("REPORT WRITTEN");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn a_deadlock_report_shows_each_threads_open_spans() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-spans-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap().to_string();
    // The subscriber has no output: the report is read from the dump dir.
    let has_report = |dir: &std::path::Path| -> Option<String> {
        std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
            std::fs::read_to_string(e.path())
                .ok()?
                .lines()
                .find(|l| l.contains("\"kind\":\"deadlock\""))
                .map(str::to_string)
        })
    };
    let out = child!(child_deadlock_in_spans)
        .env("LOCKGRAPH_WATCHDOG", "300ms")
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_DUMP_DIR", &dir_s)
        .deadline(Duration::from_secs(30))
        .run_until(|_, err| err.contains("REPORT WRITTEN"));
    let line = has_report(&dir).unwrap_or_else(|| panic!("no report:\n{}", out.both()));
    let _ = std::fs::remove_dir_all(&dir);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(
        text.contains("  thread `server` (tid ",)
            && text.contains("    in spans: request{id=7} > load_model{name=\"bert\"}\n"),
        "{text}"
    );
    assert!(text.contains("    in spans: sweep\n"), "{text}");
    let server = v["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "server")
        .unwrap();
    assert_eq!(
        server["spans"],
        serde_json::json!(["request{id=7}", "load_model{name=\"bert\"}"])
    );
}

#[test]
fn a_dump_shows_the_spans_open_now_and_recorded_fields() {
    if is_child() {
        return;
    }
    let subscriber = tracing_subscriber::registry().with(lockgraph::tracing::layer());
    let _default = tracing::subscriber::set_default(subscriber);
    watchdog::start(Config::default().scan_period(Duration::from_millis(20)));
    let m = Arc::new(Mutex::named("span-held", ()));
    let (held, go_on, left, done) = (
        Arc::new(Barrier::new(2)),
        Arc::new(Barrier::new(2)),
        Arc::new(Barrier::new(2)),
        Arc::new(Barrier::new(2)),
    );
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    let t = {
        let (m, held, go_on, left, done) = (
            m.clone(),
            held.clone(),
            go_on.clone(),
            left.clone(),
            done.clone(),
        );
        spawn_named("span-holder", move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let job = tracing::info_span!("job", id = 1, stage = tracing::field::Empty);
                {
                    let _job = job.enter();
                    job.record("stage", "parse");
                    // Recorded again: the span's value is the last one
                    // (an outside test saw both, `stage="parse", stage="load"`).
                    job.record("stage", "load");
                    let _g = m.lock();
                    held.wait();
                    go_on.wait();
                }
                left.wait();
                done.wait();
            })
        })
    };
    held.wait();
    let d = lockgraph::dump();
    let text = d.to_string();
    go_on.wait();
    assert!(
        text.contains("  thread `span-holder` (tid ")
            && text.contains("    in spans: job{id=1, stage=\"load\"}\n"),
        "{text}"
    );
    // Once it left the span, nothing is open there.
    left.wait();
    let start = Instant::now();
    let holder = |d: &lockgraph::watchdog::Dump| {
        d.threads
            .iter()
            .find(|t| t.name == "span-holder")
            .map(|t| t.spans.clone())
    };
    // It holds nothing now, so it is not in the dump at all.
    assert_eq!(holder(&lockgraph::dump()), None);
    assert!(start.elapsed() < Duration::from_secs(10));
    done.wait();
    t.join().unwrap();
}

/// A field recorded by another thread than the one that entered the span
/// reaches that thread's list (only the recording thread's was updated).
#[test]
fn a_field_recorded_on_another_thread_shows_where_the_span_is_entered() {
    if is_child() {
        return;
    }
    let subscriber = tracing_subscriber::registry().with(lockgraph::tracing::layer());
    let _default = tracing::subscriber::set_default(subscriber);
    watchdog::start(Config::default().scan_period(Duration::from_millis(20)));
    let m = Arc::new(Mutex::named("span-other-held", ()));
    let (entered, recorded, done) = (
        Arc::new(Barrier::new(2)),
        Arc::new(Barrier::new(2)),
        Arc::new(Barrier::new(2)),
    );
    let request = tracing::info_span!("request", user = tracing::field::Empty);
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    let t = {
        let (m, request) = (m.clone(), request.clone());
        let (entered, recorded, done) = (entered.clone(), recorded.clone(), done.clone());
        spawn_named("span-worker", move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let _in = request.enter();
                let _g = m.lock();
                entered.wait();
                recorded.wait();
                done.wait();
            })
        })
    };
    entered.wait();
    request.record("user", "alice");
    recorded.wait();
    let d = lockgraph::dump();
    done.wait();
    t.join().unwrap();
    let spans = d
        .threads
        .iter()
        .find(|t| t.name == "span-worker")
        .map(|t| t.spans.clone());
    assert_eq!(spans, Some(vec!["request{user=\"alice\"}".to_string()]));
}
