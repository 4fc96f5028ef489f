//! The report's words: kernel states, dates, headlines and advice.

use std::time::UNIX_EPOCH;

use super::*;

fn proc(state: &str, wchan: &str, syscall: &str) -> ProcState {
    ProcState {
        state: state.into(),
        wchan: wchan.into(),
        syscall: syscall.into(),
    }
}

#[test]
fn kernel_states_read_as_words() {
    let futex = if cfg!(target_arch = "aarch64") {
        "98"
    } else {
        "202"
    };
    let read = if cfg!(target_arch = "aarch64") {
        "63"
    } else {
        "0"
    };
    let sleep = if cfg!(target_arch = "aarch64") {
        "115"
    } else {
        "230"
    };
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        let f = format!("{futex} 0x7f1a2bcbc658 0x80 0x1 0x0 0x0 0x0 0x7ffd 0x7f1a");
        assert_eq!(
            proc("S", "futex_do_wait", &f).describe(),
            "blocked in a futex wait"
        );
        let r = format!("{read} 0x3 0x7ffd 0x1000 0x0 0x0 0x0 0x7ffd 0x7f1a");
        assert_eq!(
            proc("S", "pipe_read", &r).describe(),
            "in a system call: read"
        );
        assert_eq!(
            proc("D", "io_schedule", &r).describe(),
            "in a system call: read, in uninterruptible sleep (disk or network file system I/O)"
        );
        let s = format!("{sleep} 0x1 0x0 0x7ffd 0x7ffd 0x0 0x0 0x7ffd 0x7f1a");
        assert_eq!(
            proc("S", "hrtimer_nanosleep", &s).describe(),
            "sleeping (clock_nanosleep)"
        );
        assert_eq!(proc("S", "x", &f).syscall_name().as_deref(), Some("futex"));
    }
    assert_eq!(proc("R", "0", "running").describe(), "running");
    assert_eq!(proc("S", "0", "running").describe(), "running");
    assert_eq!(
        proc("S", "do_page_fault", "-1 0x7ffd 0x7f1a").describe(),
        "asleep in the kernel outside a system call (in do_page_fault)"
    );
    assert_eq!(
        proc("S", "x", "9999 0x1").describe(),
        "in a system call: #9999"
    );
    assert_eq!(
        proc("T", "do_signal_stop", "running").describe(),
        "stopped (SIGSTOP, or a debugger)"
    );
    assert_eq!(
        proc("Z", "0", "").describe(),
        "exited (a zombie: its process has not reaped it)"
    );
    // Unreadable syscall file (another user's process): the wchan.
    assert_eq!(
        proc("S", "ep_poll", "(Permission denied (os error 13))").describe(),
        "asleep in the kernel (in ep_poll)"
    );
    // The raw fields, for LOCKGRAPH_WATCHDOG_VERBOSE.
    assert_eq!(
        proc("S", "futex_do_wait", "202 0x1").raw(),
        "state S, wchan futex_do_wait, syscall 202 0x1"
    );
}

#[test]
fn dates_are_civil_utc() {
    assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
    let t = UNIX_EPOCH + Duration::from_secs(1_796_413_102);
    assert_eq!(utc(t), "2026-12-04 19:38:22 UTC");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
    assert_eq!(utc(leap), "2000-02-29 00:00:00 UTC");
}

fn lock(name: &'static str, id: u64) -> LockRef {
    LockRef {
        kind: LockKind::Mutex,
        id,
        name: Some(name),
        created: None,
        resource: false,
    }
}

fn site(line: u32) -> Option<Site> {
    Some(Site {
        file: "src/job.rs",
        line,
        column: 9,
    })
}

fn thread(name: &str, waiting: Option<WaitInfo>, held: Vec<HeldInfo>) -> ThreadInfo {
    ThreadInfo {
        name: name.into(),
        tid: 7,
        waiting,
        held,
        now: Some(ProcState {
            state: "S".into(),
            wchan: "x".into(),
            syscall: "running".into(),
        }),
        stack_now: None,
        spans: Vec::new(),
    }
}

fn wait(l: LockRef, mode: Option<WaitMode>, line: u32, secs: u64) -> WaitInfo {
    WaitInfo {
        lock: l,
        request: None,
        mode,
        limit: None,
        retrying: None,
        this_try: None,
        between_tries: None,
        site: site(line),
        waited: Duration::from_secs(secs),
        stack: Vec::new(),
        stack_unresolved: false,
        deadlocked: false,
        queue: None,
        blocked_peers: Vec::new(),
        no_consumer: false,
        capacity: None,
        waiting_now: None,
        exited_parties: Vec::new(),
        waiting_parties: Vec::new(),
        left_by: None,
    }
}

fn held(l: LockRef, line: u32, secs: u64) -> HeldInfo {
    HeldInfo {
        lock: l,
        hold: Hold::Exclusive,
        upgradable: false,
        site: site(line),
        held_for: Duration::from_secs(secs),
    }
}

fn report(kind: WatchdogKind, action: Action, threads: Vec<ThreadInfo>) -> WatchdogReport {
    WatchdogReport {
        kind,
        cycle: None,
        threads,
        also_deadlocked: Vec::new(),
        other_waiters: 0,
        pid: 42,
        order: None,
        action,
        reported_at: UNIX_EPOCH + Duration::from_secs(1_796_413_102),
    }
}

/// A cycle of roles alone (two consumers each waiting to send into the
/// other's queue): nothing to release, so the advice is the plan.
#[test]
fn a_cycle_of_roles_alone_is_a_plan_to_change() {
    let ex = Some(WaitMode::Lock);
    let queue = |name, id| LockRef {
        kind: LockKind::Queue,
        ..lock(name, id)
    };
    let r = report(
        WatchdogKind::Deadlock,
        Action::Report,
        vec![
            thread(
                "a",
                Some(wait(queue("qb", 2), ex, 10, 2)),
                vec![held(queue("qa", 1), 9, 3)],
            ),
            thread(
                "b",
                Some(wait(queue("qa", 1), ex, 20, 2)),
                vec![held(queue("qb", 2), 19, 3)],
            ),
        ],
    );
    assert!(
        r.advice()
            .starts_with("what to do: every thread of this cycle waits in a role"),
        "{}",
        r.advice()
    );
}

/// A ring of locks of one class: the advice gives them an order of
/// their own, since their names say none.
#[test]
fn a_ring_of_one_class_is_told_to_order_its_objects() {
    let ex = Some(WaitMode::Lock);
    let at = |id: u64| LockRef {
        name: None,
        created: site(12),
        ..lock("-", id)
    };
    let ring: Vec<ThreadInfo> = (0..3u64)
        .map(|i| {
            thread(
                &format!("t{i}"),
                Some(wait(at(i + 1), ex, 20, 2)),
                vec![held(at((i + 2) % 3 + 1), 19, 3)],
            )
        })
        .collect();
    let r = report(WatchdogKind::Deadlock, Action::Report, ring);
    assert_eq!(
        r.advice(),
        "what to do: these 3 locks are of one class (Mutex created at src/job.rs:12:9): give them an order of their own (a key each object has: an id, an index, its address) and take any two in that order everywhere, or take them one at a time"
    );
}

/// A cycle through a queue's consumer (a role, which it cannot release):
/// the advice is the hold of the thread that holds a lock while it
/// sends, whatever the names' order (it blamed the consumer, whose name
/// sorts first, and said "take Queue `ready` first").
#[test]
fn a_cycle_through_a_role_blames_the_thread_holding_a_lock() {
    let ex = Some(WaitMode::Lock);
    let stats = lock("stats", 1);
    let ready = LockRef {
        kind: LockKind::Queue,
        ..lock("ready", 2)
    };
    let r = report(
        WatchdogKind::Deadlock,
        Action::Report,
        vec![
            thread(
                "batcher",
                Some(wait(stats.clone(), ex, 10, 2)),
                vec![held(ready.clone(), 9, 3)],
            ),
            thread(
                "preprocess-0",
                Some(wait(ready, ex, 20, 2)),
                vec![held(stats, 19, 3)],
            ),
        ],
    );
    assert_eq!(
        r.advice(),
        "what to do: thread `preprocess-0` asks for Queue `ready` at src/job.rs:20:9 while holding Mutex `stats` (taken at src/job.rs:19:9): release it before that call"
    );
}

#[test]
fn a_long_hold_says_since_when_and_which_hold_to_shorten() {
    let r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            thread(
                "loader",
                Some(wait(lock("queue_lock", 1), Some(WaitMode::Lock), 88, 12)),
                vec![],
            ),
            thread("writer", None, vec![held(lock("queue_lock", 1), 40, 13)]),
        ],
    );
    assert_eq!(
        r.headline(),
        "lockgraph watchdog: LONG WAIT: thread `loader` has waited 12.000s for Mutex `queue_lock` (pid 42), since 2026-12-04 19:38:10 UTC; reported only; the thread still waits"
    );
    assert_eq!(
        r.advice(),
        "what to do: shorten thread `writer`'s hold of Mutex `queue_lock` (taken at src/job.rs:40:9, held at least 13.0s, now running): move the slow work out of the critical section, or find why it does not return"
    );
    let text = r.to_string();
    assert!(text.starts_with(&r.headline()), "{text}");
    assert!(text.ends_with(&format!(
        "{}\n-- end of lockgraph watchdog report --\n",
        r.advice()
    )));
    assert!(text.contains("    now: running\n"), "{text}");
    let json = r.to_json();
    assert!(json.contains("\"action\":\"report\""), "{json}");
    assert!(json.contains("\"since_unix_ms\":1796413090000"), "{json}");
    assert!(json.contains("\"description\":\"running\""), "{json}");
    assert!(json.contains("\"syscall\":null"), "{json}");
}

#[test]
fn abort_holders_that_wait_condvars_and_blocking_calls_get_their_own_advice() {
    let waiter = |l, mode| {
        thread(
            "w",
            Some(wait(l, mode, 5, 6)),
            vec![held(lock("outer", 9), 4, 7)],
        )
    };
    let mut r = report(
        WatchdogKind::LongWait,
        Action::Abort,
        vec![
            waiter(lock("m", 1), Some(WaitMode::Lock)),
            thread(
                "h",
                Some(wait(lock("n", 2), Some(WaitMode::Lock), 30, 6)),
                vec![held(lock("m", 1), 20, 7)],
            ),
        ],
    );
    assert!(
        r.headline()
            .ends_with("; reported; the watchdog aborts the process now (action abort)"),
        "{}",
        r.headline()
    );
    assert!(
        r.advice().starts_with(
            "what to do: thread `h`, which holds Mutex `m`, itself waits for Mutex `n`"
        ),
        "{}",
        r.advice()
    );
    let mut cv = lock("cv", 3);
    cv.kind = LockKind::Condvar;
    r.threads = vec![waiter(cv, Some(WaitMode::Condvar))];
    assert!(
        r.advice()
            .starts_with("what to do: nobody has notified Condvar `cv` in 6.0s"),
        "{}",
        r.advice()
    );
    let mut res = lock("channel recv", 0);
    res.resource = true;
    r.threads = vec![waiter(res, None)];
    assert_eq!(
        r.advice(),
        "what to do: find why blocking call `channel recv` (at src/job.rs:5:9) has not returned in 6.0s; meanwhile it holds Mutex `outer`, which keeps others out: release it before the call"
    );
    // A signal wait inside a CUDA host function: the stream and site
    // pseudo-locks it holds are not holds to release.
    let mut sig = lock("wait on signal `ready`", 0);
    sig.resource = true;
    let mut stream = lock("s (CUDA stream)", 11);
    stream.kind = LockKind::Stream;
    let mut site_lock = lock("host fn enqueued at src/job.rs:3:5 on stream `s`", 12);
    site_lock.kind = LockKind::HostFn;
    r.threads = vec![thread(
        "cuda host-fn executor (context 0)",
        Some(wait(sig, None, 5, 6)),
        vec![held(stream, 4, 7), held(site_lock, 4, 7)],
    )];
    let advice = r.advice();
    assert!(!advice.contains("release"), "{advice}");
    assert!(!advice.contains("keep others out"), "{advice}");
    assert!(
        advice
            // The label quotes its stream itself: not quoted again.
            .contains("it waits inside host fn enqueued at src/job.rs:3:5 on stream `s`: "),
        "{advice}"
    );
    assert!(
        advice.ends_with("move the wait out of the host function"),
        "{advice}"
    );
    r.threads = vec![waiter(lock("gone", 4), Some(WaitMode::Lock))];
    assert!(
        r.advice()
            .starts_with("what to do: find who holds Mutex `gone`"),
        "{}",
        r.advice()
    );
}

/// A second read behind a writer that waits for the first, and a thread
/// waiting for itself: no order to adopt.
#[test]
fn a_deadlock_on_one_lock_is_a_guard_to_drop() {
    let a = lock("a", 1);
    let ex = Some(WaitMode::Lock);
    // A second read behind a writer that waits for the first: the
    // reader waits for what it holds itself, the writer holds nothing
    // (it said "release that before waiting, or take both in one order
    // everywhere", of one lock).
    let behind = report(
        WatchdogKind::Deadlock,
        Action::Report,
        vec![
            thread("w", Some(wait(a.clone(), ex, 20, 2)), Vec::new()),
            thread(
                "r",
                Some(wait(a.clone(), ex, 10, 2)),
                vec![held(a.clone(), 9, 3)],
            ),
        ],
    );
    assert_eq!(
        behind.advice(),
        "what to do: thread `r` asks for Mutex `a` at src/job.rs:10:9 while it already holds it (taken at src/job.rs:9:9): drop the first guard before asking again (or use a ReentrantMutex)"
    );
    let selfish = report(
        WatchdogKind::Deadlock,
        Action::Report,
        vec![thread(
            "t",
            Some(wait(a.clone(), ex, 10, 2)),
            vec![held(a, 9, 3)],
        )],
    );
    assert_eq!(
        selfish.headline(),
        "lockgraph watchdog: DEADLOCK: thread `t` waits for itself on Mutex `a` (pid 42), since 2026-12-04 19:38:20 UTC; reported only; the process is still hung (this thread never wakes)"
    );
    assert_eq!(
        selfish.advice(),
        "what to do: thread `t` asks for Mutex `a` at src/job.rs:10:9 while it already holds it (taken at src/job.rs:9:9): drop the first guard before asking again (or use a ReentrantMutex)"
    );
}

/// The long wait of a writer that an upgradable read (held 2 s) and a
/// short read (held 1 s) keep out: the advice names the longest hold, its
/// mode, and the other holder (it named the first holder found, the short
/// read; found by an outside test).
#[test]
fn a_long_wait_names_the_longest_hold_that_keeps_it_out() {
    let mut catalog = lock("catalog", 1);
    catalog.kind = LockKind::RwLock;
    let mut upgradable = held(catalog.clone(), 20, 2);
    upgradable.hold = Hold::Shared;
    upgradable.upgradable = true;
    let mut read = held(catalog.clone(), 30, 1);
    read.hold = Hold::Shared;
    let r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            thread(
                "writer",
                Some(wait(catalog.clone(), Some(WaitMode::Write), 10, 3)),
                vec![],
            ),
            thread("reader", None, vec![read]),
            thread("planner", None, vec![upgradable]),
        ],
    );
    assert_eq!(
        r.advice(),
        "what to do: shorten thread `planner`'s hold of RwLock `catalog` (upgradable read, taken at src/job.rs:20:9, held at least 2.0s, now running): move the slow work out of the critical section, or find why it does not return; it also waits for thread `reader` (shared, 1.0s)"
    );
    // A read waits for neither (it is kept out by writers alone): the
    // holders that do not keep it out are not blamed.
    let mut r = r;
    r.threads[0].waiting = Some(wait(catalog, Some(WaitMode::Read), 10, 3));
    assert!(
        r.advice()
            .starts_with("what to do: find who holds RwLock `catalog`"),
        "{}",
        r.advice()
    );
}

/// Two permits: one holder waits for a lock the waiter holds, the other
/// sleeps with its permit. The advice names the one that can end the wait
/// (it sent the reader to follow the blocked holder, which waits for the
/// waiter itself; found by an outside test).
#[test]
fn a_permit_wait_names_the_holder_that_is_not_blocked_behind_it() {
    let mut sem = lock("workers", 1);
    sem.kind = LockKind::Semaphore;
    let ledger = lock("ledger", 2);
    let mut w = wait(sem.clone(), Some(WaitMode::Permit), 40, 3);
    w.blocked_peers = vec![BlockedPeer {
        thread: "w1".into(),
        waits_for: "Mutex `ledger` (exclusive)".into(),
        deadlocked: false,
    }];
    let r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            thread("w3", Some(w), vec![held(ledger.clone(), 39, 3)]),
            thread(
                "w1",
                Some(wait(ledger, Some(WaitMode::Lock), 30, 2)),
                vec![held(sem.clone(), 29, 3)],
            ),
            thread("w2", None, vec![held(sem, 50, 3)]),
        ],
    );
    assert_eq!(
        r.advice(),
        "what to do: the permit holder thread `w1` waits for Mutex `ledger`, which this thread holds: this wait ends when thread `w2` (taken at src/job.rs:50:9, held at least 3.0s, now running) gives its permit back: shorten that hold, and do not hold Mutex `ledger` while waiting for a permit of Semaphore `workers`"
    );
    // Two free holders: either one ends it.
    let mut r2 = r.clone();
    let mut sem2 = lock("workers", 1);
    sem2.kind = LockKind::Semaphore;
    r2.threads.push(thread("w4", None, vec![held(sem2, 60, 1)]));
    assert!(
        r2.advice().contains("this wait ends when one of thread `w2` (taken at src/job.rs:50:9, held at least 3.0s, now running) and thread `w4` (taken at src/job.rs:60:9, held at least 1.0s, now running) gives its permit back: shorten those holds"),
        "{}",
        r2.advice()
    );
    // No holder blocked: the longest holder is named, and the other
    // holders as an alternative (any one release ends a permit wait), by
    // their hold's words.
    let mut r3 = r.clone();
    r3.threads[0]
        .waiting
        .as_mut()
        .unwrap()
        .blocked_peers
        .clear();
    r3.threads[1].waiting = None;
    let advice = r3.advice();
    assert!(
        advice.starts_with("what to do: shorten thread `w1`'s hold of Semaphore `workers` (a permit, taken at src/job.rs:29:9"),
        "{advice}"
    );
    assert!(
        advice.ends_with("; or another holder's release: thread `w2` (a permit, 3.0s)"),
        "{advice}"
    );
}

/// A reader blocked behind this thread's own read is not kept out by it
/// (a read waits for writers only): no "waits for this thread" claim.
#[test]
fn a_holder_not_kept_out_by_the_waiters_hold_is_no_cycle() {
    let mut sem = lock("workers", 1);
    sem.kind = LockKind::Semaphore;
    let mut table = lock("table", 5);
    table.kind = LockKind::RwLock;
    let mut shared = held(table.clone(), 39, 3);
    shared.hold = Hold::Shared;
    let r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            thread(
                "w3",
                Some(wait(sem.clone(), Some(WaitMode::Permit), 40, 3)),
                vec![shared],
            ),
            thread(
                "w1",
                Some(wait(table, Some(WaitMode::Read), 30, 2)),
                vec![held(sem.clone(), 29, 3)],
            ),
            thread("w2", None, vec![held(sem, 50, 3)]),
        ],
    );
    assert!(
        !r.advice().contains("which this thread holds"),
        "{}",
        r.advice()
    );
}

/// A receive, a condvar wait and a blocking call made holding a lock
/// another thread of the report waits for: the advice says so (a receive
/// was told to drop its Senders; found by an outside test); a running
/// thread's own role is no lock to release.
#[test]
fn a_wait_without_holders_names_who_waits_for_its_locks() {
    let mut events = lock("events", 1);
    events.kind = LockKind::Queue;
    let state = lock("state", 2);
    let mut running = lock("consumer", 3);
    running.kind = LockKind::Thread;
    let producer = thread(
        "producer",
        Some(wait(state.clone(), Some(WaitMode::Lock), 60, 1)),
        vec![],
    );
    let consumer = |w| {
        thread(
            "consumer",
            Some(w),
            vec![held(running.clone(), 1, 2), held(state.clone(), 50, 2)],
        )
    };
    let mut r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            consumer(wait(events, Some(WaitMode::Recv), 51, 2)),
            producer.clone(),
        ],
    );
    assert_eq!(
        r.advice(),
        "what to do: nothing has been sent on Queue `events` for 2.0s; meanwhile it holds Mutex `state`, which thread `producer` (1.0s) waits for: if that thread is the one that would end this wait, it never ends; do not hold it across the receive"
    );
    let mut cv = lock("ready", 4);
    cv.kind = LockKind::Condvar;
    r.threads[0] = consumer(wait(cv, Some(WaitMode::Condvar), 51, 2));
    assert_eq!(
        r.advice(),
        "what to do: nobody has notified Condvar `ready` in 2.0s; meanwhile it holds Mutex `state`, which thread `producer` (1.0s) waits for: if that thread is the one that would end this wait, it never ends; do not hold it across the wait"
    );
    let mut call = lock("socket read", 0);
    call.resource = true;
    r.threads[0] = consumer(wait(call.clone(), None, 51, 2));
    assert_eq!(
        r.advice(),
        "what to do: find why blocking call `socket read` (at src/job.rs:51:9) has not returned in 2.0s; meanwhile it holds Mutex `state`, which thread `producer` (1.0s) waits for: if that thread is the one that would end this wait, it never ends; do not hold it across the call"
    );
    // Alone: its locks keep others out; its own running role is no lock.
    r.threads = vec![consumer(wait(call, None, 51, 2))];
    assert_eq!(
        r.advice(),
        "what to do: find why blocking call `socket read` (at src/job.rs:51:9) has not returned in 2.0s; meanwhile it holds Mutex `state`, which keeps others out: release it before the call"
    );
}

/// A stage sending into its own full queue, and a thread asking for a
/// permit while it holds them: no guard to drop (it said "drop the first
/// guard"; found by an outside test). A barrier no other party comes to.
#[test]
fn self_waits_and_lone_parties_get_advice_that_fits() {
    let mut work = lock("work", 1);
    work.kind = LockKind::Queue;
    let stage = thread(
        "stage",
        Some(wait(work.clone(), Some(WaitMode::Send), 26, 1)),
        vec![held(work, 24, 1)],
    );
    let r = report(WatchdogKind::Deadlock, Action::Report, vec![stage]);
    assert_eq!(
        r.advice(),
        "what to do: thread `stage` sends into Queue `work` at src/job.rs:26:9 while the queue is full and it is a consumer of the queue (it received from it at src/job.rs:24:9): it waits for itself to receive; receive before sending, send from another thread, or use `try_send` (or an unbounded queue)"
    );
    let mut sem = lock("slots", 2);
    sem.kind = LockKind::Semaphore;
    let greedy = thread(
        "greedy",
        Some(wait(sem.clone(), Some(WaitMode::Permit), 12, 1)),
        vec![held(sem, 11, 1)],
    );
    let r = report(WatchdogKind::Deadlock, Action::Report, vec![greedy]);
    assert!(
        r.advice().contains("while it holds the permits it waits for (one taken at src/job.rs:11:9): release one before asking again"),
        "{}",
        r.advice()
    );
    let mut point = lock("sync_point", 3);
    point.kind = LockKind::Barrier;
    let party = thread(
        "party-1",
        Some(wait(point, Some(WaitMode::Barrier), 7, 1)),
        vec![],
    );
    let r = report(WatchdogKind::LongWait, Action::Report, vec![party]);
    assert!(
        r.advice()
            .starts_with("what to do: no other party of Barrier `sync_point` is on its way to it"),
        "{}",
        r.advice()
    );
    assert!(!r.advice().contains("mem::forget"), "{}", r.advice());
}

/// A `lockgraph::thread`'s own running role is in its header (where it was
/// spawned), not among the locks it holds (it read as a lock to act on in
/// every report; found by an outside test); the JSON keeps it.
#[test]
fn a_threads_own_running_role_is_in_its_header() {
    let mut role = lock("fetcher", 3);
    role.kind = LockKind::Thread;
    let fetcher = thread(
        "fetcher",
        None,
        vec![held(role, 1, 2), held(lock("cache", 4), 20, 1)],
    );
    let text = fetcher.to_string();
    assert!(
        text.starts_with("  thread `fetcher` (tid 7; spawned at src/job.rs:1:9)\n"),
        "{text}"
    );
    assert!(!text.contains("Thread `fetcher`"), "{text}");
    assert!(
        text.contains("      Mutex `cache` (exclusive), taken at src/job.rs:20:9"),
        "{text}"
    );
    // Alone, it holds no lock.
    let mut role = lock("idle", 5);
    role.kind = LockKind::Thread;
    let idle = thread("idle", None, vec![held(role, 1, 2)]);
    assert!(idle.to_string().contains("    holds no lock\n"), "{idle}");
    let r = report(WatchdogKind::LongWait, Action::Report, vec![fetcher]);
    assert!(r.to_json().contains("Thread `fetcher`"), "{}", r.to_json());
}

/// An unnamed thread's name has its tid: the header says it once.
#[test]
fn an_unnamed_threads_header_says_its_tid_once() {
    let t = thread("unnamed, tid 7", None, vec![]);
    assert!(
        t.to_string().starts_with("  thread `unnamed, tid 7`\n"),
        "{t}"
    );
    let t = thread("worker", None, vec![]);
    assert!(
        t.to_string().starts_with("  thread `worker` (tid 7)\n"),
        "{t}"
    );
}

mod oncall;
mod order;
mod waits;

/// A current stack with no program frame says so, and, where the binary
/// is the cause (no line tables, no symbols), how to get frames (it said
/// nothing of line tables; found by an outside test).
#[test]
fn an_empty_current_stack_says_how_to_get_frames_in_an_optimised_build() {
    let mut t = thread("worker", None, vec![]);
    t.stack_now = Some(StackNow::Captured {
        frames: Vec::new(),
        truncated: false,
    });
    let text = t.to_string();
    assert!(
        text.contains(
            "    now at (its current stack):\n      (no program frames could be resolved"
        ),
        "{text}"
    );
    let hint = crate::report::DebugInfo::of_this_binary().no_frames_hint();
    assert!(
        text.contains(&format!("(no program frames could be resolved{hint})\n")),
        "{text}"
    );
}
