//! The asker's words for a process it does not ask, or that gave no
//! answer: read from `/proc` texts, and from a stopped process.

use std::time::Duration;

use super::process::{no_handler, parse_status, Run, Status};
use super::{no_answer, AskDumpError};

const STATUS: &str = "Name:\tx\nState:\tS (sleeping)\nUid:\t1000\t1001\t1000\t1000\n\
                      SigIgn:\t0000000000000000\nSigCgt:\t0000000000000800\n";

#[test]
fn states_are_read_from_the_status_file() {
    assert_eq!(
        parse_status(7, STATUS).unwrap(),
        Status {
            uid: 1001,
            catches_usr2: true,
            ignores_usr2: false,
            run: Run::Runs,
            own_pid: None,
        }
    );
    // In a PID namespace, the process knows itself by the last pid of
    // `NSpid:` (its dump files are named so).
    let nested = format!("{STATUS}NSpid:\t30905\t12\n");
    assert_eq!(parse_status(30905, &nested).unwrap().own_pid, Some(12));
    let flat = format!("{STATUS}NSpid:\t7\n");
    assert_eq!(parse_status(7, &flat).unwrap().own_pid, Some(7));
    let run = |state: &str| {
        parse_status(7, &STATUS.replace("S (sleeping)", state))
            .unwrap()
            .run
    };
    assert_eq!(run("T (stopped)"), Run::Stopped);
    assert_eq!(run("t (tracing stop)"), Run::Traced);
    // Kernels before 2.6.33 wrote a tracing stop as `T`.
    assert_eq!(run("T (tracing stop)"), Run::Traced);
    assert_eq!(
        parse_status(7, &STATUS.replace("S (sleeping)", "Z (zombie)")),
        Err(AskDumpError::NoSuchProcess(7))
    );
    let ignores = STATUS.replace("SigIgn:\t0000000000000000", "SigIgn:\t0000000000000800");
    assert!(parse_status(7, &ignores).unwrap().ignores_usr2);
    // Garbage: said, not guessed.
    assert_eq!(
        parse_status(7, "State:\nSigCgt: zz\n"),
        Err(AskDumpError::Other("no Uid in /proc/7/status".into()))
    );
}

#[test]
fn a_stopped_process_is_told_how_to_resume() {
    assert_eq!(
        AskDumpError::Stopped {
            pid: 7,
            traced: false
        }
        .to_string(),
        "process 7 is stopped (state T: SIGSTOP, or Ctrl-Z in its terminal): it cannot answer \
         until it runs again (not signalled); resume it with `kill -CONT 7` and ask again"
    );
    let t = AskDumpError::Stopped {
        pid: 7,
        traced: true,
    }
    .to_string();
    assert!(t.starts_with("process 7 is stopped by a debugger"), "{t}");
    assert!(t.contains("continue in the debugger"), "{t}");
    let t = AskDumpError::StoppedWhileAsked {
        pid: 7,
        waited: Duration::from_secs(5),
        traced: false,
    }
    .to_string();
    assert!(
        t.starts_with("process 7 did not answer within 5s: it is stopped (state T"),
        "{t}"
    );
    assert!(
        t.ends_with("resume it with `kill -CONT 7` and ask again"),
        "{t}"
    );
    assert!(!t.contains("watchdog thread"), "{t}");
}

/// A process found stopped when the wait runs out was stopped while it
/// was asked: said so, not its watchdog thread blamed; one that runs did
/// not answer.
#[test]
fn a_process_stopped_while_asked_is_said_stopped_at_the_timeout() {
    let wait = Duration::from_secs(5);
    let path = std::path::PathBuf::from("/tmp/lockgraph-dump-7-for-1-0.json");
    assert_eq!(
        no_answer(7, wait, path.clone(), Run::Stopped),
        AskDumpError::StoppedWhileAsked {
            pid: 7,
            waited: wait,
            traced: false
        }
    );
    assert_eq!(
        no_answer(7, wait, path.clone(), Run::Traced),
        AskDumpError::StoppedWhileAsked {
            pid: 7,
            waited: wait,
            traced: true
        }
    );
    let e = no_answer(7, wait, path.clone(), Run::Runs);
    assert_eq!(
        e,
        AskDumpError::NoAnswer {
            pid: 7,
            waited: wait,
            path
        }
    );
    assert!(e.to_string().contains("watchdog thread"), "{e}");
}

#[test]
fn a_process_that_set_the_variable_has_no_handler_yet() {
    let env = b"HOME=/root\0LOCKGRAPH_DUMP_SIGNAL=1\0PATH=/bin\0";
    let e = no_handler(4242, false, Some(env));
    assert_eq!(
        e,
        AskDumpError::HandlerNotYetInstalled {
            pid: 4242,
            ignores: false,
            value: "1".into()
        }
    );
    let t = e.to_string();
    assert!(
        t.starts_with(
            "process 4242 has LOCKGRAPH_DUMP_SIGNAL=1 in its environment, but has not installed \
             lockgraph's dump handler yet (it does not catch SIGUSR2; not signalled, since \
             SIGUSR2 would kill it): it installs it at its first lockgraph lock use"
        ),
        "{t}"
    );
    assert!(!t.contains("run it with"), "{t}");
    // Overridden by the watchdog's off.
    let env = b"LOCKGRAPH_WATCHDOG=off\0LOCKGRAPH_DUMP_SIGNAL=on\0";
    let t = no_handler(4242, false, Some(env)).to_string();
    assert!(
        t.contains(
            "LOCKGRAPH_DUMP_SIGNAL=on in its environment, but also LOCKGRAPH_WATCHDOG=off, which \
             overrides it"
        ),
        "{t}"
    );
    // Set off, or not set, or an environment that cannot be read: run it
    // with it.
    for env in [
        Some(&b"LOCKGRAPH_DUMP_SIGNAL=0\0"[..]),
        Some(b"X=1\0"),
        None,
    ] {
        let e = no_handler(4242, false, env);
        assert_eq!(e, AskDumpError::NoHandler(4242));
        assert!(
            e.to_string().starts_with(
                "process 4242 has no lockgraph dump handler (it does not catch SIGUSR2; not \
                 signalled, since SIGUSR2 would kill it): run it with LOCKGRAPH_DUMP_SIGNAL=1"
            ),
            "{e}"
        );
    }
    let t = no_handler(4242, true, Some(b"LOCKGRAPH_DUMP_SIGNAL=yes\0")).to_string();
    assert!(
        t.contains(
            "has not installed lockgraph's dump handler yet (it ignores SIGUSR2; not signalled, \
             since nothing would answer)"
        ),
        "{t}"
    );
    assert_eq!(no_handler(9, true, None), AskDumpError::IgnoresSignal(9));
}

#[test]
fn pid_1_is_not_said_to_be_killed_by_sigusr2() {
    for env in [None, Some(&b"LOCKGRAPH_DUMP_SIGNAL=1\0"[..])] {
        let t = no_handler(1, false, env).to_string();
        assert!(!t.contains("kill"), "{t}");
        assert!(
            t.contains("(it does not catch SIGUSR2; not signalled, since nothing would answer)"),
            "{t}"
        );
    }
}

/// A process stopped before it is asked is said so at once, and not
/// signalled: here a `sleep` that catches nothing is not asked anyway
/// (no handler), so the stop is read from its status as the asker reads
/// it, once stopped.
#[cfg(target_os = "linux")]
#[test]
fn a_stopped_process_is_read_as_stopped() {
    use std::process::Command;
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Reaped(Command::new("sleep").arg("30").spawn().unwrap());
    let pid = child.0.id();
    assert_eq!(super::process::status(pid).unwrap().run, Run::Runs);
    let st = Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while super::process::status(pid).map(|s| s.run) != Ok(Run::Stopped) {
        assert!(std::time::Instant::now() < end, "never stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An answer is read only from a plain file written since the request: a
/// FIFO or a link put in its place (by the process asked, which owns the
/// directory) is not followed, and a FIFO does not block the asker (found
/// by a review).
#[cfg(target_os = "linux")]
#[test]
fn only_a_fresh_plain_answer_file_is_read() {
    use std::time::SystemTime;
    let dir = std::env::temp_dir().join(format!("lockgraph-answer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let asked = SystemTime::now();
    let plain = dir.join("plain.json");
    std::fs::write(&plain, "{\"kind\":\"dump\"}\n").unwrap();
    assert_eq!(
        super::read_answer(&plain, asked).as_deref(),
        Some("{\"kind\":\"dump\"}\n")
    );
    // Cut short: not yet whole.
    std::fs::write(&plain, "{\"kind\":").unwrap();
    assert_eq!(super::read_answer(&plain, asked), None);
    // Older than the request.
    std::fs::write(&plain, "{}").unwrap();
    let late = asked + Duration::from_secs(60);
    assert_eq!(super::read_answer(&plain, late), None);
    // A link to a plain file, and a FIFO (opened without blocking).
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&plain, &link).unwrap();
    assert_eq!(super::read_answer(&link, asked), None);
    let fifo = dir.join("fifo.json");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_eq!(super::read_answer(&fifo, asked), None);
    std::fs::remove_dir_all(&dir).unwrap();
}
