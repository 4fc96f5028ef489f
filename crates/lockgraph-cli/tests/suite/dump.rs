//! `lockgraph dump --pid N` against live processes: a worker of the
//! `hang_job` example (the watchdog and its SIGUSR2 handler on), a process
//! without the handler (not signalled: SIGUSR2 would kill it), one that has
//! exited, and one of another user.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

/// Kills the child when the test ends, whatever happens.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dump(pid: u32, extra: &[&str]) -> std::process::Output {
    let pid = pid.to_string();
    let mut args = vec!["dump", "--pid", pid.as_str()];
    args.extend_from_slice(extra);
    run_with_deadline(std::path::Path::new("."), &args, 60)
}

/// Rank 0 of a `hang_job` of four, alone in `dir`: it reaches its last step
/// and waits in the allreduce for ever, holding `grads`; its logger waits
/// for `grads`. Its watchdog and SIGUSR2 handler are on, `tmp` is its
/// `TMPDIR`, `env` more of its environment; killed when the value drops.
fn worker(dir: &Path, tmp: &Path, env: &[(&str, &Path)]) -> (Reaped, u32) {
    std::fs::create_dir_all(dir.join("barrier")).unwrap();
    let mut cmd = Command::new(hang_job());
    cmd.args(["--worker", "0"])
        .arg(dir)
        .env("LOCKGRAPH_WATCHDOG", "1s")
        .env("LOCKGRAPH_DUMP_SIGNAL", "1")
        .env("TMPDIR", tmp)
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    (Reaped(child), pid)
}

/// Waits until process `pid` catches SIGUSR2 (its watchdog's handler is in).
fn wait_for_handler(pid: u32) {
    let end = Instant::now() + Duration::from_secs(60);
    while !catches_usr2(pid) {
        assert!(Instant::now() < end, "the worker never caught SIGUSR2");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `lockgraph-dump-*` files in `dir`.
fn dump_files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lockgraph-dump-"))
        .collect()
}

#[test]
fn a_live_process_with_the_handler_answers_with_its_threads() {
    let d = tempdir();
    let (_reaped, pid) = worker(d.path(), d.path(), &[("LOCKGRAPH_DUMP_DIR", d.path())]);
    // Until it is in the allreduce (its watchdog reported the long wait).
    let end = Instant::now() + Duration::from_secs(60);
    let in_allreduce = || {
        std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("lockgraph-watchdog-")
            })
            .any(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap()
                    .contains("blocking call `allreduce`")
            })
    };
    while !in_allreduce() {
        assert!(
            Instant::now() < end,
            "the worker never reached its allreduce"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = dump(pid, &[]);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("lockgraph dump (pid {pid}) at ")),
        "{out}"
    );
    for needle in [
        "  progress: step 1201",
        "  thread `main` (tid ",
        "    waits for blocking call `allreduce`",
        "      Mutex `grads` (exclusive), taken at crates/lockgraph-cli/examples/hang_job.rs:",
        "  thread `logger` (tid ",
        "    waits for Mutex `grads` (exclusive)",
        "-- end of lockgraph dump --",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // JSON: the dump's object, and the process still runs.
    let o = dump(pid, &["--format", "json"]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "dump");
    assert_eq!(v["pid"], pid);
    assert!(v["threads"].as_array().unwrap().len() >= 2, "{v}");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // Each dump also went to the process's file in the dump directory.
    let dumps: usize = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("lockgraph-watchdog-")
        })
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .matches("\"kind\":\"dump\"")
                .count()
        })
        .sum();
    assert_eq!(dumps, 2);
    // The request and answer files (in the process's TMPDIR) are gone.
    let left = dump_files_in(d.path());
    assert!(left.is_empty(), "left in the worker's TMPDIR: {left:?}");
}

#[test]
fn askers_at_the_same_time_each_get_the_dump() {
    let d = tempdir();
    let (_reaped, pid) = worker(d.path(), d.path(), &[]);
    wait_for_handler(pid);
    // Three rounds of three askers started together.
    for _ in 0..3 {
        let askers: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(move || dump(pid, &["--format", "json"])))
            .collect();
        for a in askers {
            let o = a.join().unwrap();
            assert_code(&o, 0);
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["pid"], pid);
        }
    }
    let left = dump_files_in(d.path());
    assert!(left.is_empty(), "left in the worker's TMPDIR: {left:?}");
}

/// Whether process `pid` catches SIGUSR2 (its watchdog's handler is in).
fn catches_usr2(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        // SIGUSR2 is signal 12 on Linux: bit 11 of the mask.
        .is_some_and(|mask| mask & (1 << 11) != 0)
}

/// `sleep 30` (no lockgraph, so no dump handler ever) with
/// `LOCKGRAPH_DUMP_SIGNAL` set to `signal` or unset, and its pid.
fn sleep_30(signal: Option<&str>) -> (Reaped, u32) {
    let mut cmd = Command::new("sleep");
    cmd.arg("30").env_remove("LOCKGRAPH_WATCHDOG");
    match signal {
        Some(v) => cmd.env("LOCKGRAPH_DUMP_SIGNAL", v),
        None => cmd.env_remove("LOCKGRAPH_DUMP_SIGNAL"),
    };
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    (Reaped(child), pid)
}

#[test]
fn no_handler_exited_and_bad_arguments_are_clear_errors() {
    // A process that does not catch SIGUSR2 is left alone.
    let (mut sleeper, pid) = sleep_30(None);
    let o = dump(pid, &[]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: process {pid} has no lockgraph dump handler (it does not catch SIGUSR2; not signalled"
        )),
        "{}",
        stderr(&o)
    );
    assert!(
        sleeper.0.try_wait().unwrap().is_none(),
        "the sleeper was killed"
    );
    // One that ignores it is told apart (it said SIGUSR2 would kill it).
    let ignorer = Command::new("sh")
        .args(["-c", "trap '' USR2; exec sleep 30"])
        .spawn()
        .unwrap();
    let ipid = ignorer.id();
    let _ignorer = Reaped(ignorer);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut o = dump(ipid, &[]);
    while !stderr(&o).contains("ignores SIGUSR2") && Instant::now() < deadline {
        // `sh` has not reached its `exec` yet.
        std::thread::sleep(Duration::from_millis(20));
        o = dump(ipid, &[]);
    }
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: process {ipid} has no lockgraph dump handler (it ignores SIGUSR2; not signalled, since nothing would answer)"
        )),
        "{}",
        stderr(&o)
    );

    // An exited process.
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let o = dump(gone_pid, &[]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: no process {gone_pid}: it has exited"
        )),
        "{}",
        stderr(&o)
    );

    let o = dump(pid, &["--timeout", "soon"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("--timeout: invalid duration \"soon\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_process_catching_sigusr2_for_itself_is_not_signalled() {
    // An interactive shell, a server that reloads on SIGUSR2: it catches
    // the signal, but its own handler would run. Here a shell that says so
    // when its trap runs.
    let d = tempdir();
    let said = d.path().join("trapped");
    let script = format!(
        "trap 'echo trapped > {}' USR2; sleep 30 & wait; sleep 30",
        said.display()
    );
    let shell = Command::new("bash").args(["-c", &script]).spawn().unwrap();
    let pid = shell.id();
    let mut shell = Reaped(shell);
    wait_for_handler(pid);
    let o = dump(pid, &["--timeout", "1s"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: process {pid} catches SIGUSR2, but not with lockgraph's dump handler"
        )),
        "{}",
        stderr(&o)
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(!said.exists(), "the shell was signalled");
    assert!(shell.0.try_wait().unwrap().is_none(), "the shell ended");
}

#[test]
fn a_wait_too_long_for_the_clock_is_a_wait_without_end_not_a_panic() {
    let d = tempdir();
    let (_reaped, pid) = worker(d.path(), d.path(), &[]);
    wait_for_handler(pid);
    let o = dump(
        pid,
        &["--timeout", "10000000000000000000s", "--format", "json"],
    );
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pid"], pid);
}

#[test]
fn another_users_process_is_named_as_such() {
    use std::os::unix::process::CommandExt as _;
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap();
    // Not root: pid 1 is root's. Root: ask as `nobody` about this process,
    // with a copy of the binary that `nobody` may run.
    let d = tempdir();
    let (mut cmd, target, owner) = if root {
        use std::os::unix::fs::PermissionsExt as _;
        let exe = d.path().join("lockgraph");
        std::fs::copy(env!("CARGO_BIN_EXE_lockgraph"), &exe).unwrap();
        for p in [d.path(), exe.as_path()] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut c = Command::new(exe);
        c.uid(65534).gid(65534);
        (c, std::process::id(), 0)
    } else {
        (bin(), 1, 0)
    };
    let o = match cmd
        .args(["dump", "--pid", &target.to_string()])
        .current_dir("/")
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: cannot run the binary as `nobody` here: {e}");
            return;
        }
    };
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: process {target} belongs to another user (uid {owner})"
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_temporary_directory_without_room_for_the_request_is_named() {
    // A worker whose TMPDIR does not exist: the request file cannot be
    // created there, so it is not signalled and the error names the file.
    let d = tempdir();
    let missing = d.path().join("missing");
    let (_reaped, pid) = worker(d.path(), &missing, &[]);
    wait_for_handler(pid);
    let o = dump(pid, &[]);
    assert_code(&o, 2);
    let request = missing.join(format!("lockgraph-dump-{pid}-for-"));
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: cannot create the request file {}",
            request.display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn leftovers_of_askers_that_exited_are_removed_by_the_next_asker() {
    let d = tempdir();
    let (_reaped, pid) = worker(d.path(), d.path(), &[]);
    wait_for_handler(pid);
    // What an asker stopped half-way leaves: its request and its answer,
    // for this worker and for some other process. Its pid is a reaped
    // child's, so no process has it now.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let dead_files = [
        format!("lockgraph-dump-{pid}-for-{dead}-0.request"),
        format!("lockgraph-dump-{pid}-for-{dead}-0.json"),
        format!("lockgraph-dump-4194304-for-{dead}-7.json"),
    ];
    // A live asker's (this test's, for a process that does not answer) and
    // names that are not an asker's: kept.
    let me = std::process::id();
    let kept = [
        format!("lockgraph-dump-4194304-for-{me}-0.request"),
        format!("lockgraph-dump-{pid}-for-{dead}-0.json.tmp"),
        "lockgraph-dump-notes.txt".to_string(),
    ];
    // Left a while ago: a minute or more is old enough to be swept.
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(600);
    for name in dead_files.iter().chain(&kept) {
        let f = std::fs::File::create(d.path().join(name)).unwrap();
        f.set_modified(long_ago).unwrap();
    }
    // A dead asker's file of a moment ago: kept (an asker of another PID
    // namespace sharing the directory would look dead too).
    let recent = format!("lockgraph-dump-4194304-for-{dead}-8.request");
    std::fs::write(d.path().join(&recent), "").unwrap();
    let o = dump(pid, &["--format", "json"]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pid"], pid);
    let mut left = dump_files_in(d.path());
    left.sort();
    let mut want = kept.to_vec();
    want.push(recent);
    want.sort();
    assert_eq!(left, want);
}

#[test]
fn a_timeout_too_large_or_zero_is_said_so_and_nothing_is_signalled() {
    let sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = sleeper.id();
    let mut sleeper = Reaped(sleeper);
    for (timeout, said) in [
        (
            "99999999999999999999999s",
            "lockgraph: error: --timeout: duration \"99999999999999999999999s\" is too large: \
             at most 18446744073709551615.999999999s (about 585 billion years)",
        ),
        (
            "1e30s",
            "lockgraph: error: --timeout: invalid duration \"1e30s\": expected a number with a \
             unit (ns, us, ms, s, m), e.g. 5s or 750ms",
        ),
        (
            "0s",
            "lockgraph: error: --timeout 0s: the process needs time to answer: give it more \
             than 0, e.g. 5s",
        ),
        (
            "0.0ms",
            "lockgraph: error: --timeout 0.0ms: the process needs time to answer",
        ),
    ] {
        let o = dump(pid, &["--timeout", timeout]);
        assert_code(&o, 2);
        assert!(stderr(&o).contains(said), "{timeout}: {}", stderr(&o));
        // Refused before the process is looked at.
        assert!(!stderr(&o).contains("dump handler"), "{}", stderr(&o));
    }
    assert!(sleeper.0.try_wait().unwrap().is_none(), "the sleeper ended");
}

/// A `LOCKGRAPH_WATCHDOG` too large is named with its variable and its
/// limit, not called malformed; one past the watchdog's 64-bit nanoseconds
/// (which wrapped round to a short timeout) too.
#[test]
fn a_watchdog_timeout_too_large_in_the_environment_is_named_with_its_variable() {
    for value in ["99999999999999999999s", "18446744074s"] {
        let o = Command::new(demo())
            .arg("a")
            .env("LOCKGRAPH_WATCHDOG", value)
            .env_remove("LOCKGRAPH_RECORD")
            .output()
            .unwrap();
        assert_code(&o, 0);
        assert!(
            stderr(&o).contains(&format!(
                "lockgraph: LOCKGRAPH_WATCHDOG: value \"{value}\" is too large: at most \
                 18446744073.709551615s (about 584 years); using off"
            )),
            "{value}: {}",
            stderr(&o)
        );
    }
}

/// A process with lockgraph's handler that does not answer in a very short
/// timeout is not blamed for it: the message says the wait may be too short.
#[test]
fn a_timeout_too_short_to_answer_says_so() {
    let d = tempdir();
    let (_reaped, pid) = worker(d.path(), d.path(), &[]);
    wait_for_handler(pid);
    let o = dump(pid, &["--timeout", "1ns"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    let said = stderr(&o);
    assert!(
        said.contains(&format!("process {pid} did not answer within 1ns (no ")),
        "{said}"
    );
    assert!(
        said.contains("that may be too short") && said.contains("with a longer timeout (e.g. 10s)"),
        "{said}"
    );
    assert!(!said.contains("not lockgraph's"), "{said}");
    // A dump with time to answer still works.
    let o = dump(pid, &["--timeout", "60s"]);
    assert_code(&o, 0);
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let st = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -{signal} {pid}");
}

/// Waits until `/proc/<pid>/status` says `state` (its first letter).
fn wait_for_state(pid: u32, state: char) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let now = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .and_then(|s| s.trim().chars().next());
        if now == Some(state) {
            return;
        }
        assert!(
            Instant::now() < end,
            "process {pid} never reached state {state}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A stopped process (SIGSTOP) cannot answer: said at once, with how to
/// resume it, not after the timeout blaming its watchdog thread; resumed,
/// it answers.
#[test]
fn a_stopped_process_is_said_to_be_stopped_at_once() {
    let d = tempdir();
    let (_reaped, pid) = worker(d.path(), d.path(), &[]);
    wait_for_handler(pid);
    signal(pid, "STOP");
    wait_for_state(pid, 'T');
    let asked = Instant::now();
    let o = dump(pid, &["--timeout", "20s"]);
    let took = asked.elapsed();
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: process {pid} is stopped (state T: SIGSTOP, or Ctrl-Z in its \
             terminal): it cannot answer until it runs again (not signalled); resume it with \
             `kill -CONT {pid}` and ask again\n"
        )),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("watchdog thread"), "{}", stderr(&o));
    assert!(took < Duration::from_secs(10), "it waited {took:?}");
    // Nothing was left for it to answer once resumed, and it answers anew.
    assert!(dump_files_in(d.path()).is_empty());
    signal(pid, "CONT");
    let o = dump(pid, &["--format", "json", "--timeout", "60s"]);
    assert_code(&o, 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pid"], pid);
}

/// A process started with `LOCKGRAPH_DUMP_SIGNAL=1` that has not installed
/// the handler (it installs it at its first lockgraph lock use; `sleep`
/// never does) is not told to set the variable it has.
#[test]
fn a_process_with_the_variable_but_no_handler_yet_is_told_so() {
    let (mut sleeper, pid) = sleep_30(Some("1"));
    let o = dump(pid, &[]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: process {pid} has LOCKGRAPH_DUMP_SIGNAL=1 in its environment, but \
             has not installed lockgraph's dump handler yet (it does not catch SIGUSR2; not \
             signalled, since SIGUSR2 would kill it): it installs it at its first lockgraph lock \
             use"
        )),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("run it with"), "{}", stderr(&o));
    assert!(
        sleeper.0.try_wait().unwrap().is_none(),
        "the sleeper was killed"
    );
}

/// A process in a mount namespace of its own (a container, a service with
/// systemd's `PrivateTmp=yes`) has a `/tmp` the asker does not see: the
/// asker reaches it through `/proc/<pid>/root` (found by an outside test:
/// the dump went unseen, and the process's watchdog was blamed). Run where
/// `unshare -m` may be used (root); said and skipped elsewhere.
#[cfg(target_os = "linux")]
#[test]
fn a_process_with_a_private_tmp_answers() {
    let d = tempdir();
    let tmp = d.path().join("private-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(d.path().join("barrier")).unwrap();
    let can = Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !can {
        eprintln!("a_process_with_a_private_tmp_answers: skipped (unshare -m is not allowed here)");
        return;
    }
    // The worker's TMPDIR is a fresh tmpfs in its own mount namespace:
    // the same path here is another, empty directory.
    let script = format!(
        "mount -t tmpfs tmpfs '{}' && exec '{}' --worker 0 '{}'",
        tmp.display(),
        hang_job(),
        d.path().display()
    );
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("LOCKGRAPH_WATCHDOG", "1s")
        .env("LOCKGRAPH_DUMP_SIGNAL", "1")
        .env("TMPDIR", &tmp)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _reaped = Reaped(child);
    wait_for_handler(pid);
    let o = dump(pid, &[]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("lockgraph dump (pid "),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("`grads`"), "{}", stdout(&o));
}
