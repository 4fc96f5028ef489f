//! The drop-in contract: parking_lot's API and semantics, the std-compatible
//! variants, and the release switch. Runs in debug and in release builds.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lockgraph::{
    Condvar, MappedMutexGuard, MappedRwLockReadGuard, MappedRwLockWriteGuard, Mutex, MutexGuard,
    ReentrantMutex, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};

static GLOBAL: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static NAMED: RwLock<u32> = RwLock::named("api-static", 7);
static REENTRANT: ReentrantMutex<()> = ReentrantMutex::new(());

#[test]
fn statics_work_with_const_constructors() {
    GLOBAL.lock().push(1);
    assert_eq!(*NAMED.read(), 7);
    let _a = REENTRANT.lock();
    let _b = REENTRANT.lock();
    assert!(REENTRANT.is_owned_by_current_thread());
}

#[test]
fn mutex_has_parking_lots_methods() {
    let mut m = Mutex::new(vec![1, 2, 3]);
    m.get_mut().push(4);
    {
        let g: MutexGuard<'_, Vec<i32>> = m.lock();
        assert!(m.is_locked());
        assert!(m.try_lock().is_none());
        assert!(m.try_lock_for(Duration::from_millis(1)).is_none());
        let mapped: MappedMutexGuard<'_, i32> = MutexGuard::map(g, |v| &mut v[0]);
        assert_eq!(*mapped, 1);
    }
    assert!(m
        .try_lock_until(Instant::now() + Duration::from_millis(1))
        .is_some());
    {
        let g = m.lock();
        let g = MutexGuard::unlocked(&mut { g }, || 5);
        assert_eq!(g, 5);
    }
    // lock_api's own methods through Deref.
    let g = m.lock();
    MutexGuard::unlock_fair(g);
    assert_eq!(m.into_inner(), vec![1, 2, 3, 4]);
    let d: Mutex<u8> = Mutex::default();
    let f: Mutex<u8> = Mutex::from(3);
    assert_eq!(*d.lock() + *f.lock(), 3);
    assert!(format!("{:?}", f).contains('3'));
}

#[test]
fn rwlock_has_parking_lots_methods() {
    let l = RwLock::new(String::from("a"));
    {
        let r1: RwLockReadGuard<'_, String> = l.read();
        let r2 = l.read_recursive();
        assert_eq!(*r1, *r2);
        assert!(l.try_write().is_none());
        let m: MappedRwLockReadGuard<'_, str> = RwLockReadGuard::map(r1, |s| s.as_str());
        assert_eq!(&*m, "a");
    }
    {
        let mut w: RwLockWriteGuard<'_, String> = l.write();
        w.push('b');
        assert!(l.is_locked_exclusive());
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, "ab");
    }
    {
        let up = l.upgradable_read();
        assert!(l.try_upgradable_read().is_none());
        let r = l.try_read().unwrap();
        drop(r);
        let mut w = RwLockUpgradableReadGuard::upgrade(up);
        w.push('c');
        let up = RwLockWriteGuard::downgrade_to_upgradable(w);
        let r = RwLockUpgradableReadGuard::downgrade(up);
        assert_eq!(*r, "abc");
    }
    {
        let up = l.try_upgradable_read_for(Duration::from_millis(1)).unwrap();
        let w = RwLockUpgradableReadGuard::try_upgrade(up).ok().unwrap();
        let mapped: MappedRwLockWriteGuard<'_, String> = RwLockWriteGuard::map(w, |s| s);
        assert_eq!(mapped.len(), 3);
    }
    assert!(l.try_read_for(Duration::from_millis(1)).is_some());
    assert!(l.try_write_for(Duration::from_millis(1)).is_some());
    assert!(l.try_read_recursive().is_some());
    assert_eq!(l.into_inner(), "abc");
}

#[test]
fn reentrant_mutex_is_reentrant_and_exclusive_across_threads() {
    let m = Arc::new(ReentrantMutex::named("api-reentrant", 0));
    let g1 = m.lock();
    let g2 = m.lock();
    let m2 = Arc::clone(&m);
    let other = thread::spawn(move || m2.try_lock_for(Duration::from_millis(10)).is_none());
    assert!(other.join().unwrap());
    drop((g1, g2));
    assert!(!m.is_locked());
}

#[test]
fn condvar_times_out_and_notifies() {
    let m = Mutex::new(false);
    let cv = Condvar::new();
    let mut g = m.lock();
    assert!(cv.wait_for(&mut g, Duration::from_millis(5)).timed_out());
    assert!(cv
        .wait_until(&mut g, Instant::now() + Duration::from_millis(5))
        .timed_out());
    assert!(cv
        .wait_while_until(
            &mut g,
            |ready| !*ready,
            Instant::now() + Duration::from_millis(5)
        )
        .timed_out());
    assert!(!cv.notify_one());
    assert_eq!(cv.notify_all(), 0);
    drop(g);

    // `named` exists in every build (in release builds the name is unused).
    let shared = Arc::new((Mutex::new(false), Condvar::named("api-ready")));
    let s2 = Arc::clone(&shared);
    let t = thread::spawn(move || {
        let (m, cv) = &*s2;
        let mut g = m.lock();
        cv.wait_while(&mut g, |ready| !*ready);
    });
    loop {
        let (m, cv) = &*shared;
        *m.lock() = true;
        if cv.notify_one() || t.is_finished() {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    t.join().unwrap();
}

#[test]
fn a_timed_out_wait_while_does_not_check_the_condition_again() {
    let m = Mutex::new(());
    let cv = Condvar::new();
    let mut g = m.lock();
    let mut checks = 0;
    let r = cv.wait_while_for(
        &mut g,
        |_| {
            checks += 1;
            true
        },
        Duration::from_millis(5),
    );
    assert!(r.timed_out());
    // Checked once before the wait; not after it timed out (parking_lot's rule).
    assert_eq!(checks, 1);
    // A condition that is false at once returns without waiting or timing out.
    let r = cv.wait_while_until(&mut g, |_| false, Instant::now());
    assert!(!r.timed_out());
}

#[test]
fn a_condvar_waited_on_with_two_mutexes_at_once_panics() {
    let first = Arc::new(Mutex::new(()));
    let other = Mutex::new(());
    let cv = Arc::new(Condvar::new());
    let (f2, cv2) = (Arc::clone(&first), Arc::clone(&cv));
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = thread::spawn(move || {
        let mut g = f2.lock();
        tx.send(()).unwrap();
        // Times out eventually even if the notify below were lost.
        cv2.wait_for(&mut g, Duration::from_secs(30));
    });
    rx.recv().unwrap();
    // The waiter releases `first` only once it is queued on the condvar.
    drop(first.lock());
    let mut g = other.lock();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cv.wait_for(&mut g, Duration::from_secs(30));
    }))
    .expect_err("waiting with a second mutex must panic");
    let msg = panic
        .downcast_ref::<&str>()
        .copied()
        .or(panic.downcast_ref::<String>().map(|s| s.as_str()))
        .unwrap_or("");
    assert_eq!(
        msg,
        "attempted to use a condition variable with more than one mutex"
    );
    // The guard was never released: this thread still holds `other`.
    assert!(other.is_locked());
    drop(g);
    while !waiter.is_finished() {
        cv.notify_all();
        thread::sleep(Duration::from_millis(1));
    }
    waiter.join().unwrap();
    // With nobody waiting, another mutex is fine.
    let mut g = other.lock();
    assert!(cv.wait_for(&mut g, Duration::from_millis(1)).timed_out());
}

#[test]
fn many_threads_contending_stay_correct() {
    let counter = Arc::new(Mutex::new(0u64));
    let rw = Arc::new(RwLock::new(0u64));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (c, rw) = (Arc::clone(&counter), Arc::clone(&rw));
            thread::spawn(move || {
                for i in 0..5_000 {
                    *c.lock() += 1;
                    if i % 10 == 0 {
                        *rw.write() += 1;
                    } else {
                        let _ = *rw.read();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*counter.lock(), 20_000);
    assert_eq!(*rw.read(), 2_000);
}

mod stdsync {
    use std::sync::{Arc, TryLockError};
    use std::thread;
    use std::time::Duration;

    use lockgraph::stdsync::{Condvar, Mutex, RwLock};

    /// A waiting helper whose condition is already false returns `Ok` on a
    /// poisoned mutex, as std's (it returned `Err` without waiting; found
    /// by an outside test: `.unwrap()` after a poison recovery panicked);
    /// a wait that re-locks a poisoned mutex is `Err`.
    #[test]
    fn wait_while_is_err_only_from_a_wait_that_relocks_a_poisoned_mutex() {
        let m = Arc::new(Mutex::new(0));
        let m2 = Arc::clone(&m);
        let _ = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison");
        })
        .join();
        assert!(m.is_poisoned());
        let cv = Condvar::new();
        let g = m.lock().unwrap_err().into_inner();
        let g = cv.wait_while(g, |v| *v != 0).expect("not waited: Ok");
        let (g, r) = (cv.wait_timeout_while(g, Duration::from_millis(10), |v| *v != 0))
            .expect("not waited: Ok");
        assert!(!r.timed_out());
        // The condition holds: it waits, and that wait's re-lock of the
        // poisoned mutex is `Err` (with its timeout), as std's.
        let r = cv.wait_timeout_while(g, Duration::from_millis(20), |v| *v == 0);
        let (_g, res) = r
            .expect_err("a wait re-locked the poisoned mutex")
            .into_inner();
        assert!(res.timed_out());
    }

    /// std's result and error types are re-exported, the guards cross
    /// `catch_unwind` as std's do, and std's deprecated
    /// `wait_timeout_ms` is there (each a compile break for a `use` swap;
    /// found by an outside test).
    #[test]
    #[allow(deprecated)]
    fn a_use_swap_from_std_compiles() {
        use lockgraph::stdsync::{LockResult, PoisonError, TryLockError, TryLockResult};
        use std::panic::{catch_unwind, RefUnwindSafe, UnwindSafe};
        fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
        unwind_safe::<lockgraph::stdsync::MutexGuard<'static, Vec<u8>>>();
        unwind_safe::<lockgraph::stdsync::RwLockReadGuard<'static, Vec<u8>>>();
        unwind_safe::<lockgraph::stdsync::RwLockWriteGuard<'static, Vec<u8>>>();
        unwind_safe::<PoisonError<lockgraph::stdsync::MutexGuard<'static, u8>>>();
        let m = Mutex::new(1);
        let g = m.lock().unwrap();
        assert_eq!(catch_unwind(|| *g + 1).unwrap(), 2);
        drop(g);
        let r: LockResult<_> = m.lock();
        drop(r);
        let t: TryLockResult<_> = m.try_lock();
        assert!(t.is_ok());
        drop(t);
        let _ = |e: TryLockError<()>| e;
        let cv = Condvar::new();
        let (_g, timed_out) = cv.wait_timeout_ms(m.lock().unwrap(), 5).unwrap();
        assert!(timed_out);
    }

    #[test]
    fn a_panic_under_the_guard_poisons_like_std() {
        let m = Arc::new(Mutex::new(1));
        let m2 = Arc::clone(&m);
        let r = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("boom");
        })
        .join();
        assert!(r.is_err());
        assert!(m.is_poisoned());
        let g = m.lock().unwrap_err().into_inner();
        assert_eq!(*g, 1);
        drop(g);
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
        m.clear_poison();
        assert_eq!(*m.lock().unwrap(), 1);
        let m = Arc::try_unwrap(m).ok().unwrap();
        assert_eq!(m.into_inner().unwrap(), 1);
    }

    #[test]
    fn rwlock_poisons_on_write_panic_only() {
        let l = Arc::new(RwLock::new(0));
        let l2 = Arc::clone(&l);
        let _ = thread::spawn(move || {
            let _r = l2.read().unwrap();
            panic!("reader");
        })
        .join();
        assert!(!l.is_poisoned());
        let l2 = Arc::clone(&l);
        let _ = thread::spawn(move || {
            let _w = l2.write().unwrap();
            panic!("writer");
        })
        .join();
        assert!(l.is_poisoned());
        assert!(l.read().is_err());
        let w = l.try_write();
        assert!(matches!(w, Err(TryLockError::Poisoned(_))));
    }

    #[test]
    fn condvar_waits_like_std() {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p2 = Arc::clone(&pair);
        let t = thread::spawn(move || {
            let (m, cv) = &*p2;
            *m.lock().unwrap() = true;
            cv.notify_all();
        });
        let (m, cv) = &*pair;
        let g = cv
            .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(10), |r| !*r)
            .unwrap();
        assert!(!g.1.timed_out());
        drop(g);
        t.join().unwrap();
        let (g, r) = cv
            .wait_timeout(m.lock().unwrap(), Duration::from_millis(2))
            .unwrap();
        assert!(r.timed_out());
        assert!(*g);
    }

    #[test]
    #[cfg(any(debug_assertions, feature = "track-in-release"))]
    fn std_flavoured_locks_are_tracked_the_same_way() {
        let a = Mutex::new(());
        let b = RwLock::new(());
        let reports = lockgraph::capture(|| {
            {
                let _a = a.lock().unwrap();
                let _b = b.write().unwrap();
            }
            let _b = b.read().unwrap();
            let _a = a.lock().unwrap();
        });
        assert_eq!(reports.len(), 1, "{reports:#?}");
        let site = reports[0].closing_edge().unwrap().requested_at.unwrap();
        assert_eq!(site.file, file!());
    }

    /// What std's locks have beyond locking, found missing by an outside
    /// test: the guards' `Display` and `Debug`, `From`, `Condvar`'s
    /// `Default`, unwind safety, `downgrade`, and std's `Debug` text.
    #[test]
    fn std_s_traits_and_debug_text() {
        let m = Mutex::from(3);
        let l = RwLock::from(1);
        let _ = Condvar::default();
        assert_eq!(format!("{m:?}"), "Mutex { data: 3, poisoned: false, .. }");
        let g = m.lock().unwrap();
        assert_eq!(format!("{g} {g:?}"), "3 3");
        assert_eq!(
            format!("{m:?}"),
            r#"Mutex { data: "<locked>", poisoned: false, .. }"#
        );
        drop(g);
        assert_eq!(format!("{l:?}"), "RwLock { data: 1, poisoned: false, .. }");
        let w = l.write().unwrap();
        assert_eq!(format!("{w} {w:?}"), "1 1");
        assert_eq!(
            format!("{l:?}"),
            "RwLock { data: <locked>, poisoned: false, .. }"
        );
        // Downgraded: still held (no writer in between), now for reading.
        let r = lockgraph::stdsync::RwLockWriteGuard::downgrade(w);
        assert_eq!(format!("{r} {r:?}"), "1 1");
        assert!(l.try_write().is_err());
        assert!(l.try_read().is_ok());
        drop(r);
        assert!(l.try_write().is_ok());
        // Unwind safe, as std's: usable across `catch_unwind` as is.
        let shared = Arc::new(Mutex::new(0));
        let caught = std::panic::catch_unwind(|| {
            let mut g = shared.lock().unwrap();
            *g += 1;
            panic!("inside");
        });
        assert!(caught.is_err());
        assert!(shared.is_poisoned());
        fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>(_: &T) {}
        unwind_safe(&l);
    }
}

/// lock_api's `from_raw`, the newer name of `const_new` (parking_lot code
/// that calls it compiled only against parking_lot; found by an outside
/// test).
#[test]
fn locks_are_made_from_raw_locks_under_both_names() {
    use lockgraph::lock_api::{GetThreadId as _, RawMutex as _, RawRwLock as _};
    let m = lockgraph::Mutex::from_raw(lockgraph::RawMutex::INIT, 1u32);
    let f = lockgraph::FairMutex::from_raw(lockgraph::RawFairMutex::INIT, 2u32);
    let r = lockgraph::RwLock::from_raw(lockgraph::RawRwLock::INIT, 3u32);
    let re = lockgraph::ReentrantMutex::from_raw(
        lockgraph::RawMutex::INIT,
        lockgraph::RawThreadId::INIT,
        4u32,
    );
    assert_eq!(*m.lock() + *f.lock() + *r.read() + *re.lock(), 10);
    // lock_api 0.4.14's `try_map_or_err` (the README listed it as missing).
    let mapped = lockgraph::MutexGuard::try_map_or_err(m.lock(), |v| Ok::<_, ()>(v));
    assert_eq!(*mapped.ok().unwrap(), 1);
}

/// std's `Barrier` is made in a `static` (`new` is `const`) and prints as
/// std's.
#[test]
fn barrier_is_const_and_prints_as_std_s() {
    static B: lockgraph::Barrier = lockgraph::Barrier::new(1);
    assert_eq!(format!("{B:?}"), "Barrier { .. }");
    assert_eq!(
        format!("{:?}", B.wait()),
        "BarrierWaitResult { is_leader: true }"
    );
}

mod release_switch {
    use std::mem::size_of;

    #[test]
    #[cfg(not(any(debug_assertions, feature = "track-in-release")))]
    fn release_types_are_parking_lots_own() {
        const { assert!(!lockgraph::TRACKING) };
        assert_eq!(
            size_of::<lockgraph::Mutex<u64>>(),
            size_of::<parking_lot::Mutex<u64>>()
        );
        assert_eq!(
            size_of::<lockgraph::RwLock<u64>>(),
            size_of::<parking_lot::RwLock<u64>>()
        );
        assert_eq!(
            size_of::<lockgraph::ReentrantMutex<u64>>(),
            size_of::<parking_lot::ReentrantMutex<u64>>()
        );
        assert_eq!(
            size_of::<lockgraph::Condvar>(),
            size_of::<parking_lot::Condvar>()
        );
        // The guards are parking_lot's guards: this only compiles if the types are equal.
        fn same<'a>(g: parking_lot::MutexGuard<'a, u8>) -> lockgraph::MutexGuard<'a, u8> {
            g
        }
        let m = lockgraph::Mutex::new(1u8);
        let g: parking_lot::MutexGuard<'_, u8> = m.lock();
        assert_eq!(*same(g), 1);
        // The lock types are newtypes: parking_lot's lock is one `Deref` away,
        // and a guard's lock leads back to the newtype.
        let inner: &parking_lot::Mutex<u8> = &m;
        let mut g = inner.lock();
        assert!(std::ptr::eq(
            lockgraph::Mutex::from_lock_api(parking_lot::MutexGuard::mutex(&g)),
            &m
        ));
        // lockgraph's Condvar waits with parking_lot's guards.
        let cv = lockgraph::Condvar::named("release-cv");
        assert!(cv
            .wait_for(&mut g, std::time::Duration::from_millis(1))
            .timed_out());
        drop(g);
        // Nothing is recorded.
        let a = lockgraph::Mutex::new(());
        let b = lockgraph::Mutex::new(());
        let reports = lockgraph::capture(|| {
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            let _b = b.lock();
            let _a = a.lock();
        });
        assert!(reports.is_empty());
    }

    #[test]
    #[cfg(any(debug_assertions, feature = "track-in-release"))]
    fn tracking_builds_track() {
        const { assert!(lockgraph::TRACKING) };
        // The tracked lock carries its class and instance id.
        assert!(size_of::<lockgraph::Mutex<u64>>() > size_of::<parking_lot::Mutex<u64>>());
    }
}

/// A lock name wider than a format width allows (65,535) is cut in the
/// report's table of how the cycle deadlocks, not a panic in the program
/// that closed the cycle (the CLI's tables had the same bug; found by an
/// outside test); the lines above the table name it whole.
#[cfg(any(debug_assertions, feature = "track-in-release"))]
#[test]
fn a_lock_name_over_65535_characters_is_cut_in_the_report_table() {
    let name: &'static str = "n".repeat(70_000).leak();
    let a = lockgraph::Mutex::named(name, ());
    let b = lockgraph::Mutex::named("api-long-name-b", ());
    let reports = lockgraph::capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let text = reports[0].to_string();
    assert!(
        text.contains(name),
        "the lock is named whole above the table"
    );
    assert!(text.contains("n…"), "the table cuts it");
}
