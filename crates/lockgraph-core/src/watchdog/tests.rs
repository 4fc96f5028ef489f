use super::*;

/// For tests: a snapshot's wait-for cycles as lists of thread names.
fn cycles_by_name() -> Vec<Vec<String>> {
    let snaps = snapshot();
    find_cycles(&wait_for_edges(&snaps))
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
    assert_eq!(find_cycles(&[vec![1], vec![0]]), vec![vec![0, 1]]);
    assert_eq!(
        find_cycles(&[vec![2], vec![0], vec![1], vec![]]),
        vec![vec![0, 2, 1]]
    );
    assert_eq!(find_cycles(&[vec![0]]), vec![vec![0]]);
    // A chain that ends is no cycle.
    assert!(find_cycles(&[vec![1], vec![2], vec![]]).is_empty());
    // Two separate cycles, and a thread waiting on one of them.
    assert_eq!(
        sorted(find_cycles(&[vec![1], vec![0], vec![3], vec![2], vec![0]])),
        vec![vec![0, 1], vec![2, 3]]
    );
    // Shared holders: several out-edges, one closes the cycle.
    assert_eq!(
        find_cycles(&[vec![1, 2], vec![], vec![0]]),
        vec![vec![0, 2]]
    );
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
        }),
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
    assert_eq!(find_cycles(&edges), vec![vec![0, 1]]);

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
    assert_eq!(find_cycles(&wait_for_edges(&snaps)), vec![vec![0]]);
    // So does an upgrade by a thread that also holds a plain read.
    let snaps = [snap(&[(R, Sh), (R, Up)], Some((R, WaitMode::Upgrade)))];
    assert_eq!(find_cycles(&wait_for_edges(&snaps)), vec![vec![0]]);
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
        assert_eq!(find_cycles(&wait_for_edges(&s)), cycles);
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
    assert!(find_cycles(&edges).is_empty());
    // The same with the upgradable holder waiting for M: a cycle.
    let cycle = [
        snap(&[(R, Sh)], None),
        snap(&[(M, Ex)], Some((R, WaitMode::UpgradableRead))),
        snap(&[(R, Up)], Some((M, WaitMode::Lock))),
    ];
    assert_eq!(find_cycles(&wait_for_edges(&cycle)), vec![vec![1, 2]]);
}

#[test]
fn published_holds_and_waits_form_the_wait_for_graph() {
    static A: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("wd-unit-a"));
    static B: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("wd-unit-b"));
    let (a, b) = (A.id(), B.id());
    let hold = |id: u64, name: &'static str| {
        let slot = this_thread_slot(&crate::state::SLOT_OWNER);
        // SAFETY: this thread's slot, alive while the thread runs.
        let slot = unsafe { &*slot };
        publish_push(slot, 0, id, Hold::Exclusive as u8, None, 0, || Published {
            id,
            class: Class::Named(name),
            kind: LockKind::Mutex,
            hold: Hold::Exclusive,
            upgradable: false,
            site: None,
            since: 0,
        })
    };
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
    let spawn = |name: &str, held: (u64, &'static str), wanted: (u64, &'static str)| {
        let (barrier, done) = (Arc::clone(&barrier), Arc::clone(&done));
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                hold(held.0, held.1);
                let g = wait(wanted.0, wanted.1);
                barrier.wait();
                done.wait();
                drop(g);
                // SAFETY: this thread's slot, alive while the thread runs.
                publish_len(unsafe { &*this_thread_slot(&crate::state::SLOT_OWNER) }, 0);
            })
            .unwrap()
    };
    let t1 = spawn("wd-unit-t1", (a, "wd-unit-a"), (b, "wd-unit-b"));
    let t2 = spawn("wd-unit-t2", (b, "wd-unit-b"), (a, "wd-unit-a"));
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

/// The slot's state word (`slot.rs`): a reader copying a thread's held
/// entries while the thread pushes and pops never keeps a torn entry (the
/// id of one lock with the class or site of another), whether the push
/// writes past the published length or over an entry still published.
#[test]
fn a_reader_never_keeps_a_torn_entry() {
    static SITE_A: &Location<'static> = Location::caller();
    static SITE_B: &Location<'static> = Location::caller();
    // The names through statics: an entry keeps a name's pointer, and two
    // uses of one string literal may be two copies of it (they are in a
    // release build), which would read as a torn entry.
    static NAME_A: &str = "torn-a";
    static NAME_B: &str = "torn-bee";
    let entry = |id: u64| {
        let a = id == 1;
        move || Published {
            id,
            class: Class::Named(if a { NAME_A } else { NAME_B }),
            kind: if a { LockKind::Mutex } else { LockKind::RwLock },
            hold: if a { Hold::Exclusive } else { Hold::Shared },
            upgradable: false,
            site: Some(if a { SITE_A } else { SITE_B }),
            since: id * 10,
        }
    };
    let slot = Arc::new(Slot::new("wd-unit-torn", 0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (slot, stop) = (Arc::clone(&slot), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for id in [1, 2] {
                    let e = entry(id);
                    let p = e();
                    publish_push(&slot, 0, id, p.mode(), p.site, p.since, e);
                    if n.is_multiple_of(64) {
                        // Over an entry still published: a release the
                        // slot was not told of (the watchdog off).
                        let other = entry(3 - id);
                        let q = other();
                        publish_push(&slot, 0, q.id, q.mode(), q.site, q.since, other);
                    }
                    // Held a moment, so that some copies find it.
                    for _ in 0..(n % 200) {
                        std::hint::spin_loop();
                    }
                    publish_len(&slot, 0);
                    n += 1;
                }
            }
            n
        })
    };
    let mut seen = [0u32; 3];
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(150) {
        let (held, ..) = slot.read();
        for e in &held {
            let want = entry(e.id)().raw();
            assert!(e.id == 1 || e.id == 2, "id {}", e.id);
            assert!(*e == want, "a torn entry for lock {}", e.id);
            seen[e.id as usize] += 1;
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

/// What a reader's re-check relies on: an entry it may have copied is
/// rewritten only after the word changed (a pop and a push to the same
/// length move the generation), and a rewrite leaves the word not busy.
#[test]
fn a_pop_and_a_push_to_the_same_length_change_the_word() {
    let p = |id: u64| {
        move || Published {
            id,
            class: Class::Anonymous,
            kind: LockKind::Mutex,
            hold: Hold::Exclusive,
            upgradable: false,
            site: None,
            since: 0,
        }
    };
    let slot = Slot::new("wd-unit-word", 0);
    let word = || slot.word.load(Ordering::Relaxed);
    publish_push(&slot, 0, 1, Hold::Exclusive as u8, None, 0, p(1));
    let copied = word();
    publish_len(&slot, 0);
    publish_push(&slot, 0, 2, Hold::Exclusive as u8, None, 0, p(2));
    assert_ne!(
        word(),
        copied,
        "a reader holding the first copy would keep it"
    );
    assert_eq!(slot.read().0.iter().map(|e| e.id).collect::<Vec<_>>(), [2]);
    // The same lock again: only its mode, site and start are stored, and
    // the generation still moves.
    let copied = word();
    publish_len(&slot, 0);
    publish_push(&slot, 0, 2, Hold::Exclusive as u8, None, 7, p(2));
    assert_ne!(word(), copied);
    // Over an entry still published (two published, a push at 0).
    publish(&slot, 0, 2, |i| p(i as u64 + 1)());
    let copied = word();
    publish_push(&slot, 0, 3, Hold::Exclusive as u8, None, 0, p(3));
    assert_ne!(word(), copied);
    assert_eq!(slot.read().0.iter().map(|e| e.id).collect::<Vec<_>>(), [3]);
}
