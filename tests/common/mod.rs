//! The child-process harness for tests that need process-wide settings, a
//! real deadlock or a process exit: the test binary re-runs itself with one
//! `child_*` test selected and [`CHILD`] set; the parent reads the child's
//! output until a condition holds or a deadline passes, then kills it. No
//! child outlives its deadline.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set in a child's environment.
pub const CHILD: &str = "LOCKGRAPH_TEST_CHILD";

/// The end of a watchdog report.
pub const END: &str = "-- end of lockgraph watchdog report --";

/// Whether this process is a child started by [`Child::run`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Variables of lockgraph's that the parent's environment must not pass on.
const LOCKGRAPH_VARS: &[&str] = &[
    "LOCKGRAPH_ON_CYCLE",
    "LOCKGRAPH_WATCHDOG",
    "LOCKGRAPH_WATCHDOG_ACTION",
    "LOCKGRAPH_DUMP_DIR",
    "LOCKGRAPH_PROFILE",
    "LOCKGRAPH_RECORD",
    "LOCKGRAPH_ORDER",
    "LOCKGRAPH_ATOMICITY",
    "LOCKGRAPH_MAX_CLASSES",
    "LOCKGRAPH_MAX_EDGES",
    "LOCKGRAPH_MAX_INSTANCES",
    "LOCKGRAPH_REMOTE_STACKS",
];

/// One run of a child test.
pub struct Child {
    test: String,
    env: Vec<(String, String)>,
    capture: bool,
    deadline: Duration,
}

/// What a child printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// `None` when the child was killed (done, or past its deadline).
    pub status: Option<ExitStatus>,
    /// Whether the deadline passed before the child exited or was done.
    pub timed_out: bool,
}

impl Output {
    /// Both streams, for assertion messages.
    pub fn both(&self) -> String {
        format!(
            "status: {:?}, timed out: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.timed_out, self.stdout, self.stderr
        )
    }

    /// Whether the child exited by itself with success.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl Child {
    /// The child test `test` (selected with `--exact`), run with
    /// `--nocapture`, `LOCKGRAPH_BACKTRACE=0`, the lock-order graph on
    /// (`LOCKGRAPH_ORDER=on`, also in a `watchdog-in-release` build) and no
    /// other lockgraph variable from the parent, for at most 30 seconds.
    pub fn new(test: &str) -> Child {
        Child {
            test: test.to_string(),
            env: vec![
                ("LOCKGRAPH_BACKTRACE".into(), "0".into()),
                ("LOCKGRAPH_ORDER".into(), "on".into()),
            ],
            capture: false,
            deadline: Duration::from_secs(30),
        }
    }

    /// Sets a variable in the child's environment.
    pub fn env(mut self, key: &str, value: &str) -> Child {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Leaves libtest's output capture on in the child (no `--nocapture`).
    pub fn captured(mut self) -> Child {
        self.capture = true;
        self
    }

    /// How long the child may run.
    pub fn deadline(mut self, d: Duration) -> Child {
        self.deadline = d;
        self
    }

    /// Runs the child until it exits or the deadline passes.
    pub fn run(self) -> Output {
        self.run_until(|_, _| false)
    }

    /// Runs the child until it exits, `done(stdout, stderr)` holds (then it
    /// is killed, and `timed_out` is false) or the deadline passes (then it
    /// is killed, and `timed_out` is true).
    pub fn run_until(self, done: impl Fn(&str, &str) -> bool) -> Output {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([self.test.as_str(), "--exact", "--test-threads=1"]);
        if !self.capture {
            cmd.arg("--nocapture");
        }
        cmd.env(CHILD, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for v in LOCKGRAPH_VARS {
            cmd.env_remove(v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            pump(child.stdout.take().unwrap(), Arc::clone(&out)),
            pump(child.stderr.take().unwrap(), Arc::clone(&err)),
        ];
        let text =
            |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
        let end = Instant::now() + self.deadline;
        let mut status = None;
        let mut timed_out = false;
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                status = Some(s);
                break;
            }
            if done(&text(&out), &text(&err)) {
                break;
            }
            if Instant::now() >= end {
                timed_out = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for r in readers {
            let _ = r.join();
        }
        Output {
            stdout: text(&out),
            stderr: text(&err),
            status,
            timed_out,
        }
    }
}

fn pump(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// Spawns a thread named `name` (reports name threads) running `f`.
pub fn spawn_named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .unwrap()
}
