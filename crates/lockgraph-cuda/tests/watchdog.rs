//! Scenarios 1 and 5 deadlocking for real on the simulated back end, in a
//! child process with the watchdog on: the dump names the streams and the
//! host functions (with the sites that enqueued them).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockgraph::Mutex;
use lockgraph_cuda::sim::Context;
use lockgraph_cuda::HostFn;

const CHILD: &str = "LOCKGRAPH_TEST_CHILD";

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Starts the watchdog before the child takes any lock, so every hold is
/// published from the start.
fn start_watchdog() {
    use lockgraph::watchdog::{self, Config};
    watchdog::start(
        Config::default()
            .timeout(Duration::from_millis(300))
            .scan_period(Duration::from_millis(50)),
    );
}

/// Runs one child test with the watchdog on and returns its stderr once a
/// watchdog report containing every needle appeared (or the deadline passed).
fn watch(test: &str, needles: &[&str]) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("LOCKGRAPH_ON_CYCLE", "off")
        .env("LOCKGRAPH_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        // Stop once every needle is in and the last report is complete.
        let complete = text.matches("lockgraph watchdog: ").count()
            == text
                .matches("-- end of lockgraph watchdog report --")
                .count();
        if complete && needles.iter().all(|n| text.contains(n)) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    text
}

#[test]
fn child_scenario_1() {
    if !is_child() {
        return;
    }
    start_watchdog();
    let ctx = Context::new();
    let stream = ctx.new_stream("s1-loader");
    let m = Arc::new(Mutex::named("s1-arena", ()));
    let _held = m.lock();
    let m2 = Arc::clone(&m);
    stream
        .launch_host_fn(HostFn::new(move || drop(m2.lock())).locks(&m))
        .unwrap();
    let _ = stream.synchronize(); // hangs: the host function needs the lock
}

#[test]
fn scenario_1_hangs_for_real_and_the_watchdog_names_the_stream_and_callback() {
    if !lockgraph::TRACKING {
        return; // release builds without tracking publish no held locks
    }
    let text = watch(
        "child_scenario_1",
        &[
            "lockgraph watchdog",
            "s1-loader",
            "host fn enqueued at",
            "s1-arena",
        ],
    );
    assert!(text.contains("lockgraph watchdog"), "no report:\n{text}");
    assert!(text.contains("stream `s1-loader`"), "{text}");
    assert!(
        text.contains("host fn enqueued at crates/lockgraph-cuda/tests/watchdog.rs:"),
        "{text}"
    );
    assert!(text.contains("Mutex `s1-arena`"), "{text}");
}

#[test]
fn child_scenario_5() {
    if !is_child() {
        return;
    }
    start_watchdog();
    let ctx = Context::new();
    let s1 = ctx.new_stream("s5-first");
    let s2 = ctx.new_stream("s5-second");
    let a = Arc::new(Mutex::named("s5-a", ()));
    let b = Arc::new(Mutex::named("s5-b", ()));
    let both = Arc::new(Barrier::new(2));
    let (a2, b2, both2) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&both));
    let t2 = std::thread::Builder::new()
        .name("t2".into())
        .spawn(move || {
            let _b = b2.lock();
            let a3 = Arc::clone(&a2);
            s2.launch_host_fn(HostFn::new(move || drop(a3.lock())).locks(&a2))
                .unwrap();
            both2.wait();
            let _ = s2.synchronize();
        })
        .unwrap();
    let _a = a.lock();
    let b3 = Arc::clone(&b);
    s1.launch_host_fn(HostFn::new(move || drop(b3.lock())).locks(&b))
        .unwrap();
    both.wait();
    let _ = s1.synchronize();
    let _ = t2.join();
}

#[test]
fn scenario_5_hangs_for_real_and_the_watchdog_names_the_stream_callback_and_locks() {
    if !lockgraph::TRACKING {
        return; // release builds without tracking publish no held locks
    }
    // The shared executor runs the second stream's host function, which waits
    // for `a`; the first stream's host function is queued behind it.
    let text = watch(
        "child_scenario_5",
        &["s5-second", "s5-a", "s5-b", "host-fn executor"],
    );
    assert!(text.contains("lockgraph watchdog"), "no report:\n{text}");
    for needle in [
        "stream `s5-second`",
        "Mutex `s5-a`",
        "Mutex `s5-b`",
        "thread `cuda host-fn executor",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(text.contains("host fn enqueued at"), "{text}");
}
