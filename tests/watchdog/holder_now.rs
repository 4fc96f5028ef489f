//! Where a holder is now: its current stack, captured by signal, or its
//! /proc state only when remote stacks are off.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::watchdog;
use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, spawn_named, END};

use crate::{run_child, start, thread_section};

/// Where the holder of `child_holder_now` sits, holding its lock: the frame
/// its current stack must show. A signal can cut a sleep short (`EINTR`);
/// the loop sleeps again.
#[inline(never)]
fn holder_parks_here_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        std::hint::black_box(());
    }
}

#[test]
fn child_holder_now() {
    if !is_child() {
        return;
    }
    start(300);
    let m = Arc::new(Mutex::named("parked-lock", ()));
    let held = Arc::new(Barrier::new(2));
    {
        let (m, held) = (m.clone(), held.clone());
        spawn_named("wd-parked", move || {
            let _g = m.lock();
            held.wait();
            holder_parks_here_forever()
        });
    }
    held.wait();
    let waiter = spawn_named("wd-stuck", move || {
        let _g = m.lock();
    });
    waiter.join().unwrap();
}

#[test]
fn a_long_hold_report_shows_where_the_holder_is_now() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-now-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (text, ok) = run_child(
        child!(child_holder_now),
        &[("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())],
        Duration::from_secs(20),
        |t| t.contains("LONG WAIT") && t.contains(END),
    );
    assert!(ok, "no long-wait report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..];
    let holder = thread_section(report, "wd-parked");
    assert!(
        holder.contains("Mutex `parked-lock` (exclusive)"),
        "{holder}"
    );
    // The kernel's view is always there, in words: asleep, or (on a loaded
    // machine, just woken from one of its one-second sleeps) running.
    assert!(
        holder.contains("now: sleeping (") || holder.contains("now: running"),
        "{holder}"
    );
    // The waiter is signalled only while it has no stack of its own (a
    // report built before its wait, just past the timeout, captured one):
    // never both.
    let waiter = thread_section(report, "wd-stuck");
    assert!(
        !(waiter.contains("its stack while waiting") && waiter.contains("now at")),
        "{waiter}"
    );
    let json = crate::first_report_line(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    match watchdog::current_stack_support() {
        Ok(()) => {
            // The holder's current stack, captured by signal: the function
            // it sits in (named in debug builds only: optimised builds
            // without debug info lose it).
            assert!(holder.contains("now at (its current stack):"), "{holder}");
            assert!(!holder.contains("not captured"), "{holder}");
            assert!(
                json.contains("\"stack_now\":{\"source\":\"stack\""),
                "{json}"
            );
            if cfg!(debug_assertions) {
                let frames = &holder[holder.find("now at (its current stack):").unwrap()..];
                assert!(frames.contains("holder_parks_here_forever"), "{holder}");
                assert!(json.contains("holder_parks_here_forever"), "{json}");
            }
        }
        Err(why) => {
            // No capture here: the report says so, and why.
            let line = format!("now at: current stack not captured ({why})");
            assert!(holder.contains(&line), "{line} missing:\n{holder}");
            assert!(
                json.contains("\"stack_now\":{\"source\":\"proc\""),
                "{json}"
            );
        }
    }
}

#[test]
fn with_remote_stacks_off_a_holder_is_shown_by_its_proc_state_only() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_holder_now),
        &[("LOCKGRAPH_REMOTE_STACKS", "off")],
        Duration::from_secs(20),
        |t| t.contains("LONG WAIT") && t.contains(END),
    );
    assert!(ok, "no long-wait report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: LONG WAIT").unwrap()..];
    let holder = thread_section(report, "wd-parked");
    assert!(!holder.contains("now at (its current stack)"), "{holder}");
    assert!(!holder.contains("holder_parks_here_forever"), "{holder}");
    if cfg!(target_os = "linux") {
        assert!(
            holder.contains(
                "now at: current stack not captured (remote stack capture is off \
                 (LOCKGRAPH_REMOTE_STACKS=off)); showing the /proc state (`now:`) only"
            ),
            "{holder}"
        );
        assert!(holder.contains("now: sleeping ("), "{holder}");
    } else {
        assert!(
            holder.contains("now at: current stack not captured ("),
            "{holder}"
        );
    }
}
