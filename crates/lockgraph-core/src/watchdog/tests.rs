use super::*;
use lockgraph_graph::waitfor::Need;

/// The wait-for cycles of `snaps`, each thread waiting its mode's way.
fn cycles_of(snaps: &[Snap]) -> Vec<Vec<usize>> {
    find_cycles(&wait_for_edges(snaps), &wait_needs(snaps))
}

/// The cycles of `edges`, every thread waiting for all it waits for.
fn all_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    find_cycles(edges, &vec![Need::All; edges.len()])
}

/// For tests: a snapshot's wait-for cycles as lists of thread names.
fn cycles_by_name() -> Vec<Vec<String>> {
    let snaps = snapshot();
    cycles_of(&snaps)
        .into_iter()
        .map(|c| c.into_iter().map(|i| snaps[i].slot.name.clone()).collect())
        .collect()
}

#[test]
fn durations_parse_with_units_and_errors_name_the_value() {
    assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse_duration("750ms"), Ok(Duration::from_millis(750)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration(" 100us "), Ok(Duration::from_micros(100)));
    for bad in ["", "5", "s", "5 parsecs", "-1s", "1..2s"] {
        let e = parse_duration(bad).unwrap_err();
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
}

fn sorted(mut v: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
    v.sort();
    v
}

#[test]
fn the_cycle_finder_finds_two_and_three_thread_cycles_and_self_waits() {
    assert_eq!(all_cycles(&[vec![1], vec![0]]), vec![vec![0, 1]]);
    assert_eq!(
        all_cycles(&[vec![2], vec![0], vec![1], vec![]]),
        vec![vec![0, 2, 1]]
    );
    assert_eq!(all_cycles(&[vec![0]]), vec![vec![0]]);
    // A chain that ends is no cycle.
    assert!(all_cycles(&[vec![1], vec![2], vec![]]).is_empty());
    // Two separate cycles, and a thread waiting on one of them.
    assert_eq!(
        sorted(all_cycles(&[vec![1], vec![0], vec![3], vec![2], vec![0]])),
        vec![vec![0, 1], vec![2, 3]]
    );
    // Shared holders: several out-edges, one closes the cycle.
    assert_eq!(all_cycles(&[vec![1, 2], vec![], vec![0]]), vec![vec![0, 2]]);
}

/// How a unit snapshot holds a lock: exclusive, shared (a read), or an
/// upgradable read.
#[derive(Clone, Copy)]
enum H {
    Ex,
    Sh,
    Up,
}

/// A thread's state as a snapshot shows it: held (lock id, hold) and
/// the wait (lock id, mode).
fn snap(held: &[(u64, H)], wait: Option<(u64, WaitMode)>) -> Snap {
    Snap {
        slot: Arc::new(Slot::new("wd-unit-snap", 0)),
        held: held
            .iter()
            .map(|&(id, h)| HeldView {
                id,
                class: Class::Anonymous,
                kind: LockKind::RwLock,
                hold: match h {
                    H::Ex => Hold::Exclusive,
                    H::Sh | H::Up => Hold::Shared,
                },
                upgradable: matches!(h, H::Up),
                site: None,
                since: 0,
            })
            .collect(),
        wait: wait.map(|(id, mode)| WaitView {
            serial: 1,
            target: Target::Lock {
                id,
                class: Class::Anonymous,
                kind: if mode == WaitMode::Condvar {
                    LockKind::Condvar
                } else {
                    LockKind::RwLock
                },
                mode,
            },
            site: None,
            since: 0,
            limit: None,
            gave_up_at: None,
        }),
    }
}

/// A permit's waiter waits for any holder: a cycle through one holder is
/// no deadlock while another holder runs (it gives its permit back; found
/// by an outside test, which saw a healthy process reported, and aborted
/// under `abort`); once every holder waits on the cycle, it is one. The
/// same for a full queue's sender and the queue's consumers.
#[test]
fn a_cycle_through_one_of_several_permit_holders_or_consumers_is_no_deadlock() {
    use H::{Ex, Sh};
    const S: u64 = 5;
    const L: u64 = 6;
    for mode in [WaitMode::Permit, WaitMode::Send] {
        // 0 holds L and waits for S; 1 holds S and waits for L; 2 holds S
        // and runs.
        let mut snaps = vec![
            snap(&[(L, Ex)], Some((S, mode))),
            snap(&[(S, Sh)], Some((L, WaitMode::Lock))),
            snap(&[(S, Sh)], None),
        ];
        assert_eq!(wait_for_edges(&snaps)[0], vec![1, 2]);
        assert!(cycles_of(&snaps).is_empty(), "{mode:?}");
        // Every thread waiting for all it waits for: the old answer.
        assert_eq!(all_cycles(&wait_for_edges(&snaps)), vec![vec![0, 1]]);
        // 2 waits for L too: nobody can give a permit back.
        snaps[2] = snap(&[(S, Sh)], Some((L, WaitMode::Lock)));
        assert_eq!(cycles_of(&snaps), vec![vec![0, 1], vec![0, 2]], "{mode:?}");
    }
}

#[test]
fn upgrades_writes_reads_and_condvar_waits_point_to_the_right_threads() {
    use H::{Ex, Sh, Up};
    const R: u64 = 1;
    const M: u64 = 2;
    const CV: u64 = 3;
    // 0 upgrades R (holding it upgradable and M); 1 reads R and waits
    // for M; 2 reads R; 3 waits on a condvar holding R shared.
    let snaps = [
        snap(&[(M, Ex), (R, Up)], Some((R, WaitMode::Upgrade))),
        snap(&[(R, Sh)], Some((M, WaitMode::Lock))),
        snap(&[(R, Sh)], None),
        snap(&[(R, Sh)], Some((CV, WaitMode::Condvar))),
    ];
    let edges = wait_for_edges(&snaps);
    // The upgrade waits for every other reader, not for itself.
    assert_eq!(edges[0], vec![1, 2, 3]);
    assert_eq!(edges[1], vec![0]);
    // A condvar has no holder.
    assert!(edges[3].is_empty());
    assert_eq!(all_cycles(&edges), vec![vec![0, 1]]);

    // A read of a read-held lock waits behind a write (it keeps new
    // readers out), not behind the readers, nor behind a waiting
    // upgradable read (which does not keep readers out).
    let behind = |mode| {
        let snaps = [
            snap(&[(R, Sh)], None),
            snap(&[], Some((R, mode))),
            snap(&[], Some((R, WaitMode::Read))),
        ];
        wait_for_edges(&snaps)[2].clone()
    };
    assert_eq!(behind(WaitMode::Write), vec![1]);
    assert!(behind(WaitMode::UpgradableRead).is_empty());
    // A write after a read on one thread waits for itself.
    let snaps = [snap(&[(R, Sh)], Some((R, WaitMode::Write)))];
    assert_eq!(cycles_of(&snaps), vec![vec![0]]);
    // So does an upgrade by a thread that also holds a plain read.
    let snaps = [snap(&[(R, Sh), (R, Up)], Some((R, WaitMode::Upgrade)))];
    assert_eq!(cycles_of(&snaps), vec![vec![0]]);
}

#[test]
fn upgradable_holds_keep_out_upgradable_reads_writes_and_upgrades_not_reads() {
    use H::{Ex, Sh, Up};
    const R: u64 = 1;
    const M: u64 = 2;
    let edges_of = |snaps: &[Snap], i: usize| wait_for_edges(snaps)[i].clone();

    // An upgradable read waits for the upgradable and exclusive holders,
    // not for the readers.
    let waiter = || snap(&[], Some((R, WaitMode::UpgradableRead)));
    let readers_and_up = [snap(&[(R, Sh)], None), snap(&[(R, Up)], None), waiter()];
    assert_eq!(edges_of(&readers_and_up, 2), vec![1]);
    let readers_only = [snap(&[(R, Sh)], None), snap(&[(R, Sh)], None), waiter()];
    assert!(edges_of(&readers_only, 2).is_empty());
    let writer = [snap(&[(R, Ex)], None), waiter()];
    assert_eq!(edges_of(&writer, 1), vec![0]);

    // A write waits for every holder, an upgrade for every other one.
    let w = [
        snap(&[(R, Sh)], None),
        snap(&[(R, Up)], None),
        snap(&[], Some((R, WaitMode::Write))),
    ];
    assert_eq!(edges_of(&w, 2), vec![0, 1]);
    let up = [
        snap(&[(R, Up)], Some((R, WaitMode::Upgrade))),
        snap(&[(R, Sh)], None),
    ];
    assert_eq!(edges_of(&up, 0), vec![1]);

    // A read or a recursive read waits for exclusive holders only.
    for mode in [WaitMode::Read, WaitMode::RecursiveRead] {
        let r = [snap(&[(R, Up)], None), snap(&[], Some((R, mode)))];
        assert!(edges_of(&r, 1).is_empty(), "{mode:?}");
        let r = [snap(&[(R, Ex)], None), snap(&[], Some((R, mode)))];
        assert_eq!(edges_of(&r, 1), vec![0], "{mode:?}");
    }

    // A write that waits for readers only keeps new reads and
    // upgradable reads out; one kept out by an upgradable holder does not.
    let queued = [
        snap(&[(R, Sh)], None),
        snap(&[], Some((R, WaitMode::Write))),
        snap(&[], Some((R, WaitMode::UpgradableRead))),
        snap(&[], Some((R, WaitMode::Read))),
    ];
    assert_eq!(edges_of(&queued, 2), vec![1]);
    assert_eq!(edges_of(&queued, 3), vec![1]);
    let behind_up = [
        snap(&[(R, Up)], None),
        snap(&[], Some((R, WaitMode::Write))),
        snap(&[], Some((R, WaitMode::UpgradableRead))),
        snap(&[], Some((R, WaitMode::Read))),
    ];
    assert_eq!(edges_of(&behind_up, 1), vec![0]);
    assert_eq!(edges_of(&behind_up, 2), vec![0]);
    assert!(edges_of(&behind_up, 3).is_empty());

    // Asking again for an upgradable read while holding one (or the
    // write) waits for itself; while holding a plain read it does not.
    for (held, cycles) in [(Up, vec![vec![0]]), (Ex, vec![vec![0]]), (Sh, vec![])] {
        let s = [snap(&[(R, held)], Some((R, WaitMode::UpgradableRead)))];
        assert_eq!(cycles_of(&s), cycles);
    }

    // 0 reads R and waits for M; 1 holds M and waits for an upgradable
    // read of R, which 2 holds. 1 waits for 2, 0 for 1: no cycle (the
    // read-held R drawn as keeping 1 out made one).
    let chain = [
        snap(&[(R, Sh)], Some((M, WaitMode::Lock))),
        snap(&[(M, Ex)], Some((R, WaitMode::UpgradableRead))),
        snap(&[(R, Up)], None),
    ];
    let edges = wait_for_edges(&chain);
    assert_eq!(edges, vec![vec![1], vec![2], vec![]]);
    assert!(all_cycles(&edges).is_empty());
    // The same with the upgradable holder waiting for M: a cycle.
    let cycle = [
        snap(&[(R, Sh)], None),
        snap(&[(M, Ex)], Some((R, WaitMode::UpgradableRead))),
        snap(&[(R, Up)], Some((M, WaitMode::Lock))),
    ];
    assert_eq!(cycles_of(&cycle), vec![vec![1, 2]]);
}

#[test]
fn published_holds_and_waits_form_the_wait_for_graph() {
    // Its dump signals the waiting threads for their current stacks.
    #[cfg(target_os = "linux")]
    let _signals = super::remote_stack::TEST_SIGNALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    static A: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("wd-unit-a"));
    static B: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("wd-unit-b"));
    let (a, b) = (A.id(), B.id());
    let wait = |id: u64, name: &'static str| {
        let (class_tag, class_a, class_b) = encode_class(Class::Named(name));
        register(
            WAIT_LOCK,
            RawEntry {
                id,
                class_tag,
                class_a,
                class_b,
                kind: 0,
                mode: WaitMode::Lock as u8,
                site: 0,
                since: 0,
            },
            None,
        )
    };
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let done = Arc::new(std::sync::Barrier::new(3));
    let spawn = |name: &str, held: &'static LockMeta, wanted: (u64, &'static str)| {
        let (barrier, done) = (Arc::clone(&barrier), Arc::clone(&done));
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // The hold on this thread's stack, which the watchdog reads
                // once the thread registered it.
                held.acquired(Hold::Exclusive, None);
                crate::state::register_for_watchdog();
                let g = wait(wanted.0, wanted.1);
                barrier.wait();
                done.wait();
                drop(g);
                held.released();
            })
            .unwrap()
    };
    let t1 = spawn("wd-unit-t1", &A, (b, "wd-unit-b"));
    let t2 = spawn("wd-unit-t2", &B, (a, "wd-unit-a"));
    barrier.wait();
    let cycles: Vec<Vec<String>> = cycles_by_name()
        .into_iter()
        .filter(|c| c.iter().any(|n| n.starts_with("wd-unit")))
        .collect();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    let mut names = cycles[0].clone();
    names.sort();
    assert_eq!(names, ["wd-unit-t1", "wd-unit-t2"]);
    let d = dump();
    let text = d.to_string();
    assert!(text.contains("waits for Mutex `wd-unit-b`"), "{text}");
    assert!(text.contains("Mutex `wd-unit-a` (exclusive)"), "{text}");
    done.wait();
    t1.join().unwrap();
    t2.join().unwrap();
    assert!(cycles_by_name()
        .iter()
        .all(|c| c.iter().all(|n| !n.starts_with("wd-unit"))));
}

/// A reader copying a held-lock stack while its owner pushes locks of two
/// classes into one slot, and removes slots from the middle, never keeps
/// one lock's id with the other's class, kind or hold.
#[test]
fn a_reader_never_pairs_one_locks_id_with_anothers_class() {
    use crate::held_stack::{nibble, HeldStack};
    static SITE_A: &Location<'static> = Location::caller();
    static SITE_B: &Location<'static> = Location::caller();
    // The names through statics: a copy keeps a name's pointer, and two
    // uses of one string literal may be two copies of it.
    static NAME_A: &str = "torn-a";
    static NAME_B: &str = "torn-bee";
    let lock = |id: u64| {
        if id == 1 {
            (
                Class::Named(NAME_A),
                LockKind::Mutex,
                Hold::Exclusive,
                SITE_A,
            )
        } else {
            (Class::Named(NAME_B), LockKind::RwLock, Hold::Shared, SITE_B)
        }
    };
    let stack: &'static HeldStack = Box::leak(Box::new(HeldStack::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u64;
            let push = |i: usize, id: u64| {
                let (class, kind, hold, site) = lock(id);
                stack.set_class(i, id << 8 | nibble(hold, 0, false), class, kind);
                stack.sites[i].set(Some(site));
                stack.len.set(i + 1);
            };
            while !stop.load(Ordering::Relaxed) {
                for id in [1, 2] {
                    push(0, id);
                    if n.is_multiple_of(16) {
                        // A second slot, removed from under the first's
                        // place: slot 1 moves down to 0.
                        push(1, 3 - id);
                        stack.move_down(0, 2, |_| {
                            let (c, k, ..) = lock(3 - id);
                            (c, k)
                        });
                        stack.len.set(1);
                    }
                    for _ in 0..(n % 200) {
                        std::hint::spin_loop();
                    }
                    stack.len.set(0);
                    n += 1;
                }
            }
            n
        })
    };
    let mut seen = [0u32; 3];
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(150) {
        for h in stack.copy(false) {
            assert!(h.id == 1 || h.id == 2, "id {}", h.id);
            let (class, kind, hold, _) = lock(h.id);
            assert_eq!(
                format!("{:?}", (h.class, h.kind, h.hold)),
                format!("{:?}", (class, kind, hold)),
                "lock {} copied with another's class",
                h.id
            );
            seen[h.id as usize] += 1;
        }
        std::hint::spin_loop();
    }
    stop.store(true, Ordering::Relaxed);
    let pushes = writer.join().unwrap();
    assert!(pushes > 0);
    // Both locks were seen held at least once (no false pass on an
    // always-empty copy), unless the machine gave the writer no time.
    if pushes > 10_000 {
        assert!(seen[1] > 0 && seen[2] > 0, "{seen:?} in {pushes} pushes");
    }
}

/// A hold's start is when a reader first saw it: a copy marks what it
/// saw, a later copy finds it marked, and the same lock pushed again into
/// the same slot (a new hold, from the same site) is unmarked again.
#[test]
fn a_hold_is_new_to_the_watchdog_until_a_copy_marked_it() {
    use crate::held_stack::{nibble, HeldStack};
    let stack = HeldStack::new();
    let site = Location::caller();
    let push = || {
        stack.set_class(
            0,
            7 << 8 | nibble(Hold::Exclusive, 0, false),
            Class::Anonymous,
            LockKind::Mutex,
        );
        stack.sites[0].set(Some(site));
        stack.len.set(1);
    };
    push();
    let first = stack.copy(true);
    assert_eq!(first.len(), 1);
    assert!(!first[0].seen_before);
    assert_eq!(
        first[0].site,
        Some(site),
        "the mark is not part of the site"
    );
    assert_eq!(stack.sites[0].get(), Some(site));
    assert!(stack.copy(true)[0].seen_before);
    assert!(stack.copy(false)[0].seen_before);
    // Released and taken again: a new hold.
    stack.len.set(0);
    assert!(stack.copy(true).is_empty());
    stack.sites[0].set(Some(site));
    stack.len.set(1);
    assert!(!stack.copy(false)[0].seen_before);
    assert!(!stack.copy(true)[0].seen_before);
    assert!(stack.copy(true)[0].seen_before);
}

/// A thread caught running between two slices of its lock wait still waits
/// (found by an outside test: on a DEADLOCK, "now: running" read as fine).
#[test]
fn a_lock_waiter_caught_running_is_said_between_two_slices_of_its_wait() {
    let running = ProcState {
        state: "R".into(),
        wchan: "0".into(),
        syscall: "running".into(),
    };
    let wait = |mode| WaitInfo {
        lock: LockRef::of(7, Class::Named("m"), LockKind::Mutex),
        request: None,
        mode: Some(mode),
        limit: None,
        retrying: None,
        this_try: None,
        between_tries: None,
        site: None,
        waited: Duration::from_secs(1),
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
    };
    let thread = |waiting| ThreadInfo {
        name: "t".into(),
        tid: 1,
        waiting,
        held: Vec::new(),
        now: Some(running.clone()),
        stack_now: None,
        spans: Vec::new(),
    };
    let text = thread(Some(wait(WaitMode::Lock))).to_string();
    assert!(
        text.contains("    now: running, between two slices of its wait (it still waits)\n"),
        "{text}"
    );
    // A condvar wait blocks once; a thread that waits for nothing runs.
    for t in [thread(Some(wait(WaitMode::Condvar))), thread(None)] {
        let text = t.to_string();
        assert!(text.contains("    now: running\n"), "{text}");
    }
}

/// A CUDA label with quoted names of its own is said as is, not quoted
/// again inside `Stream `...`` (found by an outside test).
#[test]
fn a_cuda_label_with_its_own_quotes_is_not_quoted_again() {
    let wait = "synchronize stream `h2d` (pending: host fn enqueued at src/a.rs:1:2)";
    let l = LockRef::of(3, Class::Named(wait), LockKind::Stream);
    assert_eq!(l.to_string(), wait);
    let host = "host fn enqueued at src/a.rs:1:2 on stream `h2d`";
    let l = LockRef::of(4, Class::Named(host), LockKind::HostFn);
    assert_eq!(l.to_string(), host);
    let signal = "host fn enqueued at src/a.rs:1:2 on stream `t` waits on signal `ready`";
    let resource = LockRef {
        kind: LockKind::Other,
        id: 0,
        name: Some(signal),
        created: None,
        resource: true,
    };
    assert_eq!(resource.to_string(), signal);
    let plain = LockRef::of(5, Class::Named("h2d (CUDA stream)"), LockKind::Stream);
    assert_eq!(plain.to_string(), "Stream `h2d (CUDA stream)`");
}
