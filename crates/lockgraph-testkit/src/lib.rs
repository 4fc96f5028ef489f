//! The child-process harness lockgraph's test suites share (not published).
//!
//! Some tests cannot run beside others in one process: they change a
//! process-wide setting (`LOCKGRAPH_*` variables, the reporting policy), they
//! deadlock for real so that the watchdog can find it, or they abort or exit.
//! Such a test is a pair: a *child* test that does the dangerous part, and a
//! *parent* test that re-runs the test binary with only the child selected
//! and the variables it needs, reads what the child prints until a condition
//! holds or a deadline passes, then kills it. No child outlives its deadline,
//! so no such test can hang.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use lockgraph_testkit::{child, is_child};
//!
//! #[test]
//! fn child_deadlocks() {
//!     if !is_child() {
//!         return; // run by the parent below, in its own process
//!     }
//!     // ... deadlock for real ...
//! }
//!
//! #[test]
//! fn a_deadlock_is_reported() {
//!     let out = child!(child_deadlocks)
//!         .env("LOCKGRAPH_WATCHDOG", "300ms")
//!         .deadline(Duration::from_secs(20))
//!         .run_until(|_stdout, stderr| stderr.contains("DEADLOCK"));
//!     assert!(out.done, "no report in time:\n{}", out.both());
//! }
//! ```
//!
//! [`child!`] names the child by its function: a typo is a compile error,
//! and the libtest name follows the function into whatever module it lives
//! in. [`Child::new`] takes the libtest name as a string; a name that
//! selects no test fails the parent rather than passing without a child.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Set (to `1`) in a child's environment.
pub const CHILD: &str = "LOCKGRAPH_TEST_CHILD";

/// The last line of a watchdog report.
pub const END: &str = "-- end of lockgraph watchdog report --";

/// How long a child may run unless [`Child::deadline`] says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// Whether this process is a child started by [`Child::run`] or
/// [`Child::run_until`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// A [`Child`] that runs the test function `$test` (a name or a path, as
/// in a call): the compiler checks that the function exists, and the
/// libtest name (its path below the crate root) is taken from the
/// function itself, so it stays right when the child moves to another
/// module or is imported from one.
#[macro_export]
macro_rules! child {
    ($test:path) => {{
        // Fails to compile when `$test` is not a `fn()` in scope here.
        let _: fn() = $test;
        $crate::Child::new(&$crate::test_name(::std::any::type_name_of_val(&$test)))
    }};
}

/// The libtest name of the test function whose full path (as
/// `std::any::type_name_of_val` gives it) is `path`: the path without the
/// crate's name, which libtest leaves out.
#[doc(hidden)]
pub fn test_name(path: &str) -> String {
    match path.split_once("::") {
        Some((_crate, name)) => name.to_string(),
        None => path.to_string(),
    }
}

/// One run of a child test: this test binary again, with exactly one test
/// selected.
///
/// The child gets [`CHILD`] set, `LOCKGRAPH_BACKTRACE=0` (stack capture off
/// unless a test turns it on) and none of the parent's `LOCKGRAPH_*`
/// variables: only what the test sets with [`Child::env`]. It runs with
/// libtest's `--nocapture` unless [`Child::captured`] is called.
#[derive(Debug, Clone)]
#[must_use = "a child does nothing until it is run"]
pub struct Child {
    test: String,
    env: Vec<(OsString, OsString)>,
    capture: bool,
    deadline: Duration,
}

/// What a child printed, and how it ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct Output {
    /// The child's standard output.
    pub stdout: String,
    /// The child's standard error.
    pub stderr: String,
    /// How the child exited; `None` when it was killed (because `done` held
    /// or the deadline passed).
    pub status: Option<ExitStatus>,
    /// Whether `done` held: the text ends with the line that made it hold
    /// (the child was killed right there, so later lines are not read).
    pub done: bool,
    /// Whether the deadline passed before the child exited or `done` held.
    pub timed_out: bool,
}

impl Output {
    /// How it ended and both streams, for assertion messages.
    pub fn both(&self) -> String {
        format!(
            "status: {:?}, done: {}, timed out: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.done, self.timed_out, self.stdout, self.stderr
        )
    }

    /// Whether the child exited by itself with success.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl Child {
    /// The child test whose libtest name is `test` (`module::function`
    /// below the crate root; [`child!`] builds it from the function),
    /// for at most [`DEFAULT_DEADLINE`].
    pub fn new(test: &str) -> Child {
        Child {
            test: test.to_string(),
            env: vec![("LOCKGRAPH_BACKTRACE".into(), "0".into())],
            capture: false,
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// Sets a variable in the child's environment (the last value set for
    /// a name wins, over the defaults too).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Child {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Leaves libtest's output capture on in the child (no `--nocapture`):
    /// what the test prints through `print!` is kept back by libtest and
    /// shown only if the child test fails.
    pub fn captured(mut self) -> Child {
        self.capture = true;
        self
    }

    /// How long the child may run before it is killed.
    pub fn deadline(mut self, d: Duration) -> Child {
        self.deadline = d;
        self
    }

    /// Runs the child until it exits or the deadline passes.
    pub fn run(self) -> Output {
        self.run_until(|_, _| false)
    }

    /// Runs the child until it exits, `done(stdout, stderr)` holds after a
    /// line arrived on either stream, or the deadline passes; in the last
    /// two cases the child is killed.
    ///
    /// # Panics
    ///
    /// If the child cannot be started, or if its libtest selected no test
    /// (the name matches no test of this binary).
    pub fn run_until(self, mut done: impl FnMut(&str, &str) -> bool) -> Output {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(&exe);
        cmd.args([self.test.as_str(), "--exact", "--test-threads=1"]);
        if self.capture {
            cmd.env_remove("RUST_TEST_NOCAPTURE");
        } else {
            cmd.arg("--nocapture");
        }
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LOCKGRAPH_") {
                cmd.env_remove(key);
            }
        }
        cmd.env(CHILD, "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        for (stream, pipe) in [
            (Stream::Out, Box::new(out) as Box<dyn Read + Send>),
            (Stream::Err, Box::new(err)),
        ] {
            let tx = tx.clone();
            // Not joined: a reader ends when the pipe closes (the child and
            // anything it started have exited) or the parent stops
            // listening.
            std::thread::spawn(move || {
                let mut pipe = BufReader::new(pipe);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match pipe.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line).into_owned();
                            if tx.send((stream, text)).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
        drop(tx);

        let end = Instant::now() + self.deadline;
        let mut o = Output {
            stdout: String::new(),
            stderr: String::new(),
            status: None,
            done: false,
            timed_out: false,
        };
        let mut closed = false;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    o.push(line);
                    if done(&o.stdout, &o.stderr) {
                        o.done = true;
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    o.timed_out = true;
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            // Both streams are closed: the child is exiting (or has handed
            // its streams on and keeps running: the deadline still holds).
            loop {
                if let Some(status) = child.try_wait().expect("the child's status") {
                    o.status = Some(status);
                    break;
                }
                if Instant::now() >= end {
                    o.timed_out = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if o.status.is_none() {
            let _ = child.kill();
        }
        // Reaps it (an exited child's status was already taken).
        let _ = child.wait();
        if o.timed_out {
            // For the failure message: what was already on its way.
            o.drain(&lines, Duration::from_secs(1));
        }
        if o.stdout.lines().any(|l| l.trim() == "running 0 tests") {
            panic!(
                "the child `{}` ran no test: no test of {} has that name\n{}",
                self.test,
                exe.display(),
                o.both()
            );
        }
        o
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

impl Output {
    fn push(&mut self, (stream, line): (Stream, String)) {
        match stream {
            Stream::Out => self.stdout.push_str(&line),
            Stream::Err => self.stderr.push_str(&line),
        }
    }

    /// Takes the lines still arriving until the streams close or `grace`
    /// passes.
    fn drain(&mut self, lines: &Receiver<(Stream, String)>, grace: Duration) {
        let end = Instant::now() + grace;
        while let Ok(line) = lines.recv_timeout(end.saturating_duration_since(Instant::now())) {
            self.push(line);
        }
    }
}

/// Spawns a thread named `name` (reports name threads) running `f`.
pub fn spawn_named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("spawn a thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_leave_the_crate_out() {
        assert_eq!(test_name("watchdog::child_abba"), "child_abba");
        assert_eq!(
            test_name("watchdog::deadlock::child_abba"),
            "deadlock::child_abba"
        );
        assert_eq!(
            test_name(std::any::type_name_of_val(&child_exits_with_3)),
            "tests::child_exits_with_3"
        );
    }

    mod elsewhere {
        #[test]
        pub(in crate::tests) fn child_in_another_module() {
            if !crate::is_child() {
                return;
            }
            println!("RAN elsewhere");
        }
    }

    use elsewhere::child_in_another_module as imported;

    #[test]
    fn a_child_in_another_module_or_imported_is_run_by_its_own_name() {
        for out in [
            child!(elsewhere::child_in_another_module).run(),
            child!(imported).run(),
        ] {
            assert!(out.success(), "{}", out.both());
            assert!(
                out.stdout
                    .contains("test tests::elsewhere::child_in_another_module ... RAN elsewhere"),
                "{}",
                out.both()
            );
        }
    }

    #[test]
    fn child_prints_then_sleeps() {
        if !is_child() {
            return;
        }
        println!("OUT one");
        eprintln!("ERR two");
        eprintln!("ERR three");
        std::thread::sleep(Duration::from_secs(60));
    }

    #[test]
    fn a_child_stopped_by_done_is_killed_and_its_text_ends_at_that_line() {
        let t = Instant::now();
        let out = child!(child_prints_then_sleeps).run_until(|_, e| e.contains("ERR two"));
        assert!(out.done && !out.timed_out, "{}", out.both());
        assert_eq!(out.status, None);
        // Lines of one stream arrive in order, each checked on arrival.
        assert!(out.stderr.ends_with("ERR two\n"), "{}", out.both());
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    }

    #[test]
    fn a_child_past_its_deadline_is_killed_and_keeps_what_it_printed() {
        let t = Instant::now();
        let out = child!(child_prints_then_sleeps)
            .deadline(Duration::from_secs(2))
            .run_until(|_, e| e.contains("never printed"));
        assert!(out.timed_out && !out.done, "{}", out.both());
        assert_eq!(out.status, None);
        assert!(!out.success());
        assert!(out.stderr.contains("ERR three"), "{}", out.both());
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    }

    #[test]
    fn child_prints_its_lockgraph_environment() {
        if !is_child() {
            return;
        }
        let mut vars: Vec<String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("LOCKGRAPH_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vars.sort();
        println!("\nENV {}", vars.join(" "));
        if std::env::var_os("LOCKGRAPH_TESTKIT_NESTED").is_some() {
            // A child of a child: the variables set for this one (the
            // test's own) do not reach the next.
            let inner = child!(child_prints_its_lockgraph_environment).run();
            assert!(inner.success(), "{}", inner.both());
            let line = inner
                .stdout
                .lines()
                .find(|l| l.starts_with("ENV "))
                .unwrap();
            println!("INNER {line}");
        }
    }

    #[test]
    fn a_child_gets_the_defaults_its_own_variables_and_none_of_the_parents() {
        let out = child!(child_prints_its_lockgraph_environment)
            .env("LOCKGRAPH_BACKTRACE", "1")
            .env("LOCKGRAPH_ORDER", "off")
            .env("LOCKGRAPH_TESTKIT_NESTED", "1")
            .run();
        assert!(
            out.success() && !out.done && !out.timed_out,
            "{}",
            out.both()
        );
        assert!(
            out.stdout.contains(
                "\nENV LOCKGRAPH_BACKTRACE=1 LOCKGRAPH_ORDER=off \
                 LOCKGRAPH_TESTKIT_NESTED=1 LOCKGRAPH_TEST_CHILD=1\n"
            ),
            "{}",
            out.both()
        );
        assert!(
            out.stdout
                .contains("\nINNER ENV LOCKGRAPH_BACKTRACE=0 LOCKGRAPH_TEST_CHILD=1\n"),
            "{}",
            out.both()
        );
    }

    #[test]
    fn child_exits_with_3() {
        if !is_child() {
            return;
        }
        println!("EXITING");
        std::process::exit(3);
    }

    #[test]
    fn a_child_that_exits_by_itself_gives_its_status_and_all_its_output() {
        let out = child!(child_exits_with_3).run();
        assert_eq!(out.status.and_then(|s| s.code()), Some(3), "{}", out.both());
        assert!(!out.done && !out.timed_out && !out.success());
        assert!(out.stdout.contains("EXITING\n"), "{}", out.both());
    }

    #[test]
    fn child_prints_to_stdout() {
        if !is_child() {
            return;
        }
        println!("SEEN ONLY WITHOUT CAPTURE");
    }

    #[test]
    fn a_captured_child_keeps_what_a_passing_test_prints() {
        let out = child!(child_prints_to_stdout).captured().run();
        assert!(out.success(), "{}", out.both());
        assert!(!out.stdout.contains("SEEN ONLY"), "{}", out.both());
        let out = child!(child_prints_to_stdout).run();
        assert!(out.stdout.contains("SEEN ONLY"), "{}", out.both());
    }

    #[test]
    #[should_panic(expected = "the child `tests::no_such_test` ran no test")]
    fn a_name_that_selects_no_test_fails_the_parent() {
        let _ = Child::new("tests::no_such_test").run();
    }
}
