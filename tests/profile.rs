//! The contention profile on controlled workloads: known waits and holds;
//! the backpressure profile's fill level (`profile/queues.rs`).
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use lockgraph::profile::{self, Advice};
use lockgraph::{Mutex, RwLock};
use lockgraph_testkit::{child, is_child};

#[path = "profile/queues.rs"]
mod queues;

#[test]
fn a_known_wait_is_measured_and_attributed() {
    profile::enable();
    let lock = Arc::new(Mutex::named("prof-wait", ()));
    let barrier = Arc::new(Barrier::new(2));
    let (l2, b2) = (Arc::clone(&lock), Arc::clone(&barrier));
    let holder = thread::spawn(move || {
        let _g = l2.lock();
        b2.wait();
        thread::sleep(Duration::from_millis(60));
    });
    barrier.wait();
    drop(lock.lock()); // waits ~60 ms for the holder
    holder.join().unwrap();
    let r = profile::report();
    let p = r.named("prof-wait").unwrap();
    assert_eq!(p.acquisitions, 2);
    assert_eq!(p.contended, 1);
    assert_eq!(p.waiting_threads, 1);
    assert!(p.total_wait >= Duration::from_millis(40), "{p:?}");
    assert!(p.max_wait >= Duration::from_millis(40), "{p:?}");
    assert!(p.total_wait < Duration::from_secs(5), "{p:?}");
}

#[test]
fn hold_times_are_sampled_one_in_eight() {
    profile::enable();
    let lock = Mutex::named("prof-hold", ());
    // A fresh thread: its sampling tick starts at zero.
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..16 {
                let _g = lock.lock();
                thread::sleep(Duration::from_millis(2));
            }
        });
    });
    let r = profile::report();
    let p = r.named("prof-hold").unwrap();
    assert_eq!(p.acquisitions, 16);
    // One in eight, spread out: about two of sixteen.
    assert!((1..=4).contains(&p.hold_samples), "{p:?}");
    assert!(p.mean_hold >= Duration::from_millis(1), "{p:?}");
    assert!(p.max_hold >= p.mean_hold);
}

#[test]
fn rwlock_reads_and_writes_are_split() {
    profile::enable();
    let lock = RwLock::named("prof-rw", 0);
    for i in 0..100 {
        if i % 10 == 0 {
            *lock.write() += 1;
        } else {
            let _ = *lock.read();
        }
    }
    drop(lock.try_read());
    let r = profile::report();
    let p = r.named("prof-rw").unwrap();
    assert_eq!(p.acquisitions, 101);
    assert_eq!(p.reads, 91);
}

#[test]
fn hammering_one_lock_from_many_threads_advises_sharding() {
    profile::enable();
    let lock = Arc::new(Mutex::named("prof-hot", 0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let l = Arc::clone(&lock);
            thread::spawn(move || {
                for _ in 0..200 {
                    let mut g = l.lock();
                    *g += 1;
                    thread::sleep(Duration::from_micros(200));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let r = profile::report();
    let p = r.named("prof-hot").unwrap();
    assert_eq!(p.acquisitions, 800);
    assert!(p.waiting_threads >= 3, "{p:?}");
    assert!(
        p.advice.iter().any(|a| matches!(a, Advice::Shard { .. })),
        "{p:?}"
    );
    let text = r.to_string();
    assert!(text.contains("Mutex prof-hot"), "{text}");
    assert!(text.contains("shard it:"), "{text}");
}

#[test]
fn a_blocking_call_under_a_lock_is_charged_to_it() {
    profile::enable();
    let lock = Mutex::named("prof-blocking", ());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        tx.send(7).unwrap();
    });
    let g = lock.lock();
    let v = lockgraph::blocking("channel recv", || rx.recv().unwrap());
    drop(g);
    assert_eq!(v, 7);
    let r = profile::report();
    let p = r.named("prof-blocking").unwrap();
    assert_eq!(p.blocking_calls, 1);
    assert!(p.blocking_time >= Duration::from_millis(10));
    assert!(p
        .advice
        .iter()
        .any(|a| a.to_string().contains("`channel recv`")));
}

/// One blocking call made while two locks of one class are held counts
/// once for the class (it counted once per lock: two calls, twice the time).
#[test]
fn one_blocking_call_under_two_locks_of_a_class_counts_once() {
    profile::enable();
    let (a, b) = (Mutex::named("prof-two", 0), Mutex::named("prof-two", 1));
    let (ga, gb) = (a.lock(), b.lock());
    let start = std::time::Instant::now();
    lockgraph::blocking("one call", || thread::sleep(Duration::from_millis(20)));
    let took = start.elapsed();
    drop((gb, ga));
    let p = profile::report();
    let p = p.named("prof-two").unwrap();
    assert_eq!(p.blocking_calls, 1, "{p:?}");
    // The call's time once (twice before), however long the sleep took.
    assert!(p.blocking_time <= took, "{p:?} against {took:?}");
}

/// An upgrade that waits for a reader is a contended acquisition with its
/// wait, and no longer a read (it counted as an uncontended read). The
/// reader holds on until the upgrade has waited a while.
#[test]
fn an_upgrade_that_waits_is_contended_and_exclusive() {
    profile::enable();
    let rw = std::sync::Arc::new(lockgraph::RwLock::named("prof-upgrade", 0));
    let reader = {
        let rw = rw.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = thread::spawn(move || {
            let _r = rw.read();
            tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(300));
        });
        rx.recv().unwrap();
        t
    };
    let u = rw.upgradable_read();
    let w = lockgraph::RwLockUpgradableReadGuard::upgrade(u);
    drop(w);
    reader.join().unwrap();
    let p = profile::report();
    let p = p.named("prof-upgrade").unwrap();
    assert_eq!((p.acquisitions, p.reads, p.contended), (2, 1, 1), "{p:?}");
    assert!(p.max_wait > Duration::ZERO, "{p:?}");
}

/// An upgradable read that waits, then an upgrade that waits: one
/// acquisition, contended once (counted twice, it made `contended` exceed
/// the acquisitions, which `lockgraph profile` then took for a file no
/// process writes).
#[test]
fn an_acquisition_whose_read_and_upgrade_both_wait_is_contended_once() {
    profile::enable();
    let rw = std::sync::Arc::new(lockgraph::RwLock::named("prof-upgrade-twice", 0));
    let both = Arc::new(Barrier::new(3));
    // One thread's upgradable read keeps main's out for 100 ms; another's
    // read keeps main's upgrade waiting for 100 ms more.
    let holders: Vec<_> = [true, false]
        .into_iter()
        .map(|upgradable| {
            let (rw, both) = (rw.clone(), both.clone());
            thread::spawn(move || {
                if upgradable {
                    let _u = rw.upgradable_read();
                    both.wait();
                    thread::sleep(Duration::from_millis(100));
                } else {
                    let _r = rw.read();
                    both.wait();
                    thread::sleep(Duration::from_millis(200));
                }
            })
        })
        .collect();
    both.wait();
    let u = rw.upgradable_read();
    let w = lockgraph::RwLockUpgradableReadGuard::upgrade(u);
    drop(w);
    for h in holders {
        h.join().unwrap();
    }
    for c in profile::counters() {
        assert_eq!(c.inconsistency(), None, "{c:?}");
    }
    let p = profile::report();
    let p = p.named("prof-upgrade-twice").unwrap();
    // Three acquisitions (the holders' two did not wait); main's once.
    assert_eq!((p.acquisitions, p.contended), (3, 1), "{p:?}");
}

/// Each lock without a class is a class of its own, a row of its own,
/// named as records name it (every anonymous lock of a process was one
/// row, `anon:<pid>:0`).
#[test]
fn anonymous_locks_are_a_row_each() {
    profile::enable();
    let anonymous = || {
        Mutex::const_new(
            <lockgraph::RawMutex as lockgraph::lock_api::RawMutex>::INIT,
            0u8,
        )
    };
    let (a, b) = (anonymous(), anonymous());
    for _ in 0..7 {
        *a.lock() += 1;
    }
    for _ in 0..9 {
        *b.lock() += 1;
    }
    let counters = profile::counters();
    let pid = std::process::id();
    let mut anon: Vec<(&str, u64)> = counters
        .iter()
        .filter(|c| c.class.starts_with(&format!("anon:{pid}:")))
        .map(|c| (c.class.as_str(), c.acquisitions))
        .collect();
    anon.sort_by_key(|&(_, n)| n);
    assert_eq!(
        anon.iter().map(|a| a.1).collect::<Vec<_>>(),
        [7, 9],
        "{anon:?}"
    );
    assert_ne!(anon[0].0, anon[1].0);
}

/// A `Mutex` and an `RwLock` named alike: one class in the graph, two
/// rows here (one `Mutex` row hid the lock's reads).
#[test]
fn one_name_two_kinds_are_two_rows() {
    profile::enable();
    let m = Mutex::named("prof-twokinds", 0);
    let rw = RwLock::named("prof-twokinds", 0);
    for _ in 0..10 {
        *m.lock() += 1;
    }
    for _ in 0..20 {
        let _r = rw.read();
    }
    let r = profile::report();
    let rows: Vec<_> = r
        .classes
        .iter()
        .filter(|c| c.name.as_deref() == Some("prof-twokinds"))
        .map(|c| (c.kind.name(), c.acquisitions, c.reads))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.contains(&("Mutex", 10, 0)), "{rows:?}");
    assert!(rows.contains(&("RwLock", 20, 20)), "{rows:?}");
}

#[test]
fn child_profiles_and_exits() {
    if !is_child() {
        return;
    }
    let lock = Mutex::named("prof-file", ());
    for _ in 0..10 {
        drop(lock.lock());
    }
}

#[test]
fn with_recording_on_the_profile_is_written_beside_the_records_at_exit() {
    let dir = std::env::temp_dir().join(format!("lockgraph-prof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = child!(child_profiles_and_exits)
        .captured()
        .env("LOCKGRAPH_RECORD", &dir)
        .env("LOCKGRAPH_PROFILE", "1")
        .run();
    assert!(out.success());
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lockgraph-profile-")
        })
        .expect("no profile file");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("{\"lockgraph_profile\":1,"), "{text}");
    assert!(
        text.contains("{\"class\":\"name:prof-file\",\"name\":\"prof-file\",\"kind\":\"Mutex\",\"site\":null,\"acquisitions\":10,"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
