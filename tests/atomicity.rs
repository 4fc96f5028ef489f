//! The atomicity checker (check-then-act), normal builds with tracking on.

use std::collections::HashSet;
use std::thread;

use lockgraph::{
    atomic_region, capture_atomicity, set_atomicity, Atomicity, Condvar, Mutex, RwLock,
    RwLockUpgradableReadGuard, Severity,
};

/// Every test asks for warnings too; each test checks the severity it expects.
fn enable() {
    set_atomicity(Atomicity::Warn);
}

/// Another thread writes `map` (and is joined before this returns).
fn writer_inserts(map: &RwLock<HashSet<u32>>, k: u32) {
    thread::scope(|s| {
        thread::Builder::new()
            .name("writer".into())
            .spawn_scoped(s, || {
                map.write().insert(k);
            })
            .unwrap();
    });
}

/// Another thread sets `cell` (and is joined before this returns).
fn writer_sets(cell: &RwLock<Option<u32>>, v: u32) {
    thread::scope(|s| {
        s.spawn(|| *cell.write() = Some(v));
    });
}

/// Another thread sets `cell` (and is joined before this returns).
fn writer_sets_u32(cell: &RwLock<u32>, v: u32) {
    thread::scope(|s| {
        s.spawn(|| *cell.write() = v);
    });
}

#[test]
fn check_then_act_with_an_interleaving_writer_is_a_violation() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let map = RwLock::named("atom-cache", HashSet::new());
    let reports = capture_atomicity(|| {
        let missing = !map.read().contains(&1);
        writer_inserts(&map, 1); // in between: the decision is stale
        if missing {
            map.write().insert(1);
        }
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r.severity, Severity::Violation);
    assert_eq!(r.lock.name, Some("atom-cache"));
    assert!(!r.explicit_region);
    let w = r.interleaving.as_ref().expect("the interleaving write");
    assert_eq!(w.thread, "writer");
    assert!(w.site.unwrap().file.ends_with("atomicity.rs"));
    let (check, act) = (r.check_site.unwrap(), r.act_site.unwrap());
    assert!(check.line < act.line);
    let text = r.to_string();
    assert!(
        text.contains("atomicity violation (check-then-act) on RwLock `atom-cache`"),
        "{text}"
    );
    assert!(
        text.contains("thread `writer` wrote the lock in between"),
        "{text}"
    );
}

#[test]
fn check_then_act_without_a_writer_is_only_a_warning() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let map = RwLock::named("atom-quiet", HashSet::new());
    let reports = capture_atomicity(|| {
        if !map.read().contains(&2) {
            map.write().insert(2);
        }
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].severity, Severity::Warning);
    assert!(reports[0].interleaving.is_none());
    assert!(reports[0]
        .to_string()
        .contains("possible atomicity violation"));
}

#[test]
fn the_writer_seen_before_the_check_is_not_in_between() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let map = RwLock::named("atom-before", HashSet::new());
    let reports = capture_atomicity(|| {
        writer_inserts(&map, 3); // before the check: the read sees it
        if !map.read().contains(&4) {
            map.write().insert(4);
        }
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].severity, Severity::Warning);
}

#[test]
fn upgradable_read_then_upgrade_is_silent() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let map = RwLock::named("atom-fixed", HashSet::new());
    let reports = capture_atomicity(|| {
        writer_inserts(&map, 5);
        let up = map.upgradable_read();
        if !up.contains(&6) {
            RwLockUpgradableReadGuard::upgrade(up).insert(6);
        }
        writer_inserts(&map, 7);
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn other_lock_work_ends_an_implicit_region() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let map = RwLock::named("atom-ended", HashSet::new());
    let other = Mutex::named("atom-other", ());
    let reports = capture_atomicity(|| {
        let missing = !map.read().contains(&8);
        drop(other.lock());
        writer_inserts(&map, 8);
        if missing {
            map.write().insert(8);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn a_mutex_taken_twice_is_checked_only_in_an_atomic_region() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let balance = Mutex::named("atom-balance", 1000u32);
    let withdraw = |amount: u32| {
        let enough = *balance.lock() >= amount;
        let other = Mutex::named("atom-audit", ());
        drop(other.lock()); // other lock work: allowed in an explicit region
        thread::scope(|s| {
            s.spawn(|| *balance.lock() -= 60);
        });
        if enough {
            *balance.lock() -= amount;
        }
    };
    let implicit = capture_atomicity(|| withdraw(10));
    assert!(implicit.is_empty(), "{implicit:#?}");
    let explicit = capture_atomicity(|| atomic_region(|| withdraw(10)));
    assert_eq!(explicit.len(), 1, "{explicit:#?}");
    assert_eq!(explicit[0].severity, Severity::Violation);
    assert!(explicit[0].explicit_region);
    let text = explicit[0].to_string();
    assert!(text.contains("an atomic_region"), "{text}");
    // A mutex has one kind of guard: no write guard, no upgradable read.
    assert!(text.contains("acted under a guard taken at"), "{text}");
    assert!(!text.contains("write guard"), "{text}");
    assert!(!text.contains("upgradable_read"), "{text}");
    assert!(text.contains("lockgraph::recheck()"), "{text}");
}

/// The double-checked pattern: the decision is taken again under the write
/// guard, and `recheck()` says so. Without it the same code is reported
/// (the checker cannot see the second test).
#[test]
fn a_recheck_under_the_write_guard_is_not_judged() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let cell = RwLock::named("atom-double-checked", None::<u32>);
    let init = |recheck: bool| {
        let empty = cell.read().is_none();
        writer_sets(&cell, 2);
        if empty {
            if recheck {
                lockgraph::recheck();
            }
            let mut w = cell.write();
            if w.is_none() {
                *w = Some(1);
            }
        }
    };
    // The rechecked run first: a pair of sites is reported once per
    // process, so the other order would hide a failure.
    let rechecked = capture_atomicity(|| init(true));
    assert!(rechecked.is_empty(), "{rechecked:#?}");
    assert_eq!(*cell.read(), Some(2));
    *cell.write() = None;
    let flagged = capture_atomicity(|| init(false));
    assert_eq!(flagged.len(), 1, "{flagged:#?}");
    assert_eq!(flagged[0].severity, Severity::Violation);
    let text = flagged[0].to_string();
    assert!(text.contains("acted under a write guard"), "{text}");
    assert!(
        text.contains("re-check under the write guard (and call lockgraph::recheck()"),
        "{text}"
    );
}

/// `recheck()` covers the next acquisition only: a release before it ends
/// it, and the act after is judged again.
#[test]
fn a_recheck_is_used_up_by_the_next_lock_operation() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let cell = RwLock::named("atom-recheck-once", 0u32);
    let reports = capture_atomicity(|| {
        let v = *cell.read();
        lockgraph::recheck();
        // The next acquisition (a read) uses the recheck up...
        let again = *cell.read();
        writer_sets_u32(&cell, 5);
        // ... and this read's release opened a region of its own: judged.
        *cell.write() = v + again + 1;
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].severity, Severity::Violation);
}

/// Inside an `atomic_region` the recheck uses up that lock's check.
#[test]
fn a_recheck_inside_an_atomic_region_ends_that_locks_check() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let balance = Mutex::named("atom-recheck-region", 100u32);
    let withdraw = |recheck: bool| {
        atomic_region(|| {
            let enough = *balance.lock() >= 10;
            thread::scope(|s| {
                s.spawn(|| *balance.lock() -= 60);
            });
            if enough {
                if recheck {
                    lockgraph::recheck();
                }
                let mut b = balance.lock();
                if *b >= 10 {
                    *b -= 10;
                }
            }
        })
    };
    // The rechecked run first (a pair of sites is reported once).
    let rechecked = capture_atomicity(|| withdraw(true));
    assert!(rechecked.is_empty(), "{rechecked:#?}");
    *balance.lock() = 100;
    let flagged = capture_atomicity(|| withdraw(false));
    assert_eq!(flagged.len(), 1, "{flagged:#?}");
}

/// Another thread sets `ready` and notifies `cv`.
fn set_and_notify<'scope>(
    s: &'scope thread::Scope<'scope, '_>,
    ready: &'scope Mutex<bool>,
    cv: &'scope Condvar,
) {
    s.spawn(move || {
        *ready.lock() = true;
        cv.notify_all();
    });
}

/// A condvar wait loop inside an `atomic_region` is the textbook way to
/// wait for a condition under a lock: the wait's release of the mutex and
/// its re-acquisition are no check and act, though the notifier always
/// writes in between (found by an outside test: every region with a condvar
/// wait was reported, on correct code). The predicate is tested again under
/// the re-acquired guard, and the act is under that guard.
#[test]
fn a_condvar_wait_loop_in_an_atomic_region_is_not_judged() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let ready = Mutex::named("atom-condvar-ready", false);
    let cv = Condvar::new();
    let reports = capture_atomicity(|| {
        atomic_region(|| {
            thread::scope(|s| {
                let mut g = ready.lock();
                // Spawned while this thread holds the mutex: its write
                // comes while this thread waits.
                set_and_notify(s, &ready, &cv);
                while !*g {
                    cv.wait(&mut g);
                }
                *g = false; // the act, under the guard that re-checked
            });
        });
        // The same with `wait_while` (in a region of its own: two guards of
        // one mutex in one region are a check and an act).
        atomic_region(|| {
            thread::scope(|s| {
                let mut g = ready.lock();
                set_and_notify(s, &ready, &cv);
                cv.wait_while(&mut g, |ready| !*ready);
                *g = false;
            });
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// The wait ends only the decision on its own mutex: a decision on another
/// lock made before the wait and acted on after it is still judged.
#[test]
fn a_decision_on_another_lock_across_a_condvar_wait_is_judged() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let stock = Mutex::named("atom-condvar-stock", 20u32);
    let go = Mutex::named("atom-condvar-go", false);
    let cv = Condvar::new();
    let reports = capture_atomicity(|| {
        atomic_region(|| {
            thread::scope(|s| {
                let enough = *stock.lock() >= 15; // the check
                let mut g = go.lock();
                s.spawn(|| {
                    *stock.lock() -= 5; // in between: the decision is stale
                    *go.lock() = true;
                    cv.notify_all();
                });
                while !*g {
                    cv.wait(&mut g);
                }
                drop(g);
                if enough {
                    *stock.lock() -= 15; // the act
                }
            });
        })
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r.severity, Severity::Violation);
    assert_eq!(r.lock.name, Some("atom-condvar-stock"));
    assert!(r.explicit_region);
}

/// A worker thread of a pool runs a read-only job, then (another worker
/// having written meanwhile) an unrelated write-only job: the implicit
/// region opened by the first job's read is closed by the second job's
/// write, and judged (an OS thread is one actor; the checker does not see
/// jobs). `lockgraph::recheck()` at the start of each job ends it: the
/// job's first acquisition is not judged (docs/loom.md, "Actors are
/// threads").
#[test]
fn a_recheck_at_the_start_of_a_pool_job_ends_the_last_jobs_region() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let map = RwLock::named("atom-pool-map", HashSet::new());
    let worker = |boundary: bool| {
        let jobs: [&dyn Fn(); 2] = [
            &|| {
                let _ = map.read().contains(&1); // job 1: a lookup
                writer_inserts(&map, 2); // another worker's job
            },
            &|| map.write().clear(), // job 2: a reset
        ];
        for job in jobs {
            if boundary {
                lockgraph::recheck();
            }
            job();
        }
    };
    // With the boundary first (a pair of sites is reported once).
    let bounded = capture_atomicity(|| worker(true));
    assert!(bounded.is_empty(), "{bounded:#?}");
    let unbounded = capture_atomicity(|| worker(false));
    assert_eq!(unbounded.len(), 1, "{unbounded:#?}");
    assert!(!unbounded[0].explicit_region);
}

#[test]
fn the_checker_can_be_read_back() {
    enable();
    assert_eq!(lockgraph::atomicity(), Atomicity::Warn);
}

/// Writes are recorded only while some region could check them (the lock was
/// released from a shared guard, or an `atomic_region` is open). Writes made
/// while nobody watched leave the lock's last recorded write and its clock
/// as they were, and that older write must still be seen as ordered before a
/// later check: no false violation.
#[test]
fn unrecorded_writes_do_not_make_an_older_write_look_interleaving() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let m = Mutex::named("atom-stale", 0u32);
    let write_on_thread = |name: &str, in_region: bool| {
        thread::scope(|s| {
            thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, || {
                    if in_region {
                        atomic_region(|| *m.lock() += 1);
                    } else {
                        *m.lock() += 1;
                    }
                })
                .unwrap();
        });
    };
    // Recorded: a region is open while it writes.
    write_on_thread("recorded", true);
    // Not recorded: no region is open anywhere and the mutex is not watched.
    write_on_thread("unrecorded-1", false);
    write_on_thread("unrecorded-2", false);
    let reports = capture_atomicity(|| {
        atomic_region(|| {
            let v = *m.lock();
            *m.lock() = v + 1;
        })
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].severity, Severity::Warning, "{reports:#?}");
    // A write made while the region is open is recorded and reported.
    let reports = capture_atomicity(|| {
        atomic_region(|| {
            let v = *m.lock();
            write_on_thread("in-between", false);
            *m.lock() = v + 1;
        })
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].severity, Severity::Violation);
    assert_eq!(
        reports[0].interleaving.as_ref().unwrap().thread,
        "in-between"
    );
}

/// An exclusive release of another lock ends an implicit region too (as
/// any lock operation does). With the checker alone on, that release is
/// the checker's quick one (`LockMeta::released_quick` in the core): it
/// may pop the slot only when no region is open on the thread, else the
/// read's region would stay open and the write below would be reported.
/// Several rounds: from the second on, `outer`'s slot has no edge flag
/// left to hand over (those releases take the slow path anyway).
#[test]
fn a_release_of_another_lock_ends_an_implicit_region() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let map = RwLock::named("atom-ended-by-release", HashSet::new());
    let outer = Mutex::named("atom-outer", ());
    let reports = capture_atomicity(|| {
        for k in 0..4 {
            let g = outer.lock();
            let _ = map.read().contains(&k);
            drop(g); // a release of another lock: the region ends here
            map.write().insert(k);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
    // The same without the release in between is reported (the test
    // above is not silent for another reason).
    let reports = capture_atomicity(|| {
        let g = outer.lock();
        let _ = map.read().contains(&9);
        map.write().insert(9);
        drop(g);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
}

/// The names of the locks this thread holds, outermost first.
fn held_names() -> Vec<String> {
    lockgraph::held_locks()
        .into_iter()
        .map(|(_, class, _)| format!("{class:?}"))
        .collect()
}

/// With the checker on, every release leaves the fast pop (the hook bit);
/// a release of a lock that is not the top slot's must take its own slot,
/// whatever the checker's quick release does with the top one.
#[test]
fn a_release_out_of_order_with_the_checker_on_takes_its_own_hold() {
    if !lockgraph::TRACKING {
        return;
    }
    enable();
    let (a, b) = (
        Mutex::named("atom-order-a", ()),
        Mutex::named("atom-order-b", ()),
    );
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..3 {
                let ga = a.lock();
                let gb = b.lock();
                drop(ga);
                let held = held_names();
                assert_eq!(held.len(), 1, "{held:?}");
                assert!(held[0].contains("atom-order-b"), "{held:?}");
                drop(gb);
                assert!(held_names().is_empty());
            }
        });
    });
}

/// The profile beside the checker: the checker's quick release must not
/// take the releases of a thread while the profile is on too, whose hold
/// times are sampled at release.
#[test]
fn child_the_profile_beside_the_checker_samples_hold_times() {
    if !lockgraph_testkit::is_child() {
        return;
    }
    enable();
    lockgraph::profile::enable();
    let lock = Mutex::named("atom-prof-hold", ());
    // A fresh thread: its sampling tick starts at zero (one hold in eight).
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..16 {
                let _g = lock.lock();
                thread::sleep(std::time::Duration::from_millis(2));
            }
        });
    });
    let r = lockgraph::profile::report();
    let p = r.named("atom-prof-hold").unwrap();
    assert_eq!(p.acquisitions, 16, "{p:?}");
    assert!((1..=4).contains(&p.hold_samples), "{p:?}");
    assert!(p.mean_hold >= std::time::Duration::from_millis(1), "{p:?}");
    println!("hold times sampled");
}

#[test]
fn the_profile_beside_the_checker_still_samples_hold_times() {
    if !lockgraph::TRACKING || lockgraph_testkit::is_child() {
        return;
    }
    let out = lockgraph_testkit::child!(child_the_profile_beside_the_checker_samples_hold_times)
        .deadline(std::time::Duration::from_secs(60))
        .run();
    assert!(
        out.success() && out.stdout.contains("hold times sampled"),
        "{}",
        out.both()
    );
}
