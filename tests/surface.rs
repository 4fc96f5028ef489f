//! The rest of parking_lot's public surface: `FairMutex`, `Once`, the
//! `const_*` constructors, `const_new`, the raw lock names and the lock_api
//! re-export, the way back from a guard to its lock, and the `arc_lock`,
//! `send_guard` and `serde` features. Runs in debug and release builds (and
//! with the features: `cargo test --features arc_lock,send_guard,serde`).

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use lockgraph::lock_api::{self, RawMutex as _};
use lockgraph::{
    const_fair_mutex, const_mutex, const_reentrant_mutex, const_rwlock, FairMutex, FairMutexGuard,
    MappedFairMutexGuard, Mutex, MutexGuard, Once, OnceState, RawFairMutex, RawMutex, RawRwLock,
    ReentrantMutex, RwLock, RwLockReadGuard,
};

static CONST_MUTEX: Mutex<u32> = const_mutex(1);
static CONST_FAIR: FairMutex<u32> = const_fair_mutex(2);
static CONST_RW: RwLock<u32> = const_rwlock(3);
static CONST_RE: ReentrantMutex<u32> = const_reentrant_mutex(4);
static FROM_RAW: Mutex<u32> = Mutex::const_new(RawMutex::INIT, 5);
static FROM_RAW_FAIR: FairMutex<u32> =
    FairMutex::const_new(<RawFairMutex as lock_api::RawMutex>::INIT, 6);
static FROM_RAW_RW: RwLock<u32> = RwLock::const_new(<RawRwLock as lock_api::RawRwLock>::INIT, 7);
static ONCE: Once = Once::new();

#[test]
fn const_constructors_make_statics() {
    let sum = *CONST_MUTEX.lock()
        + *CONST_FAIR.lock()
        + *CONST_RW.read()
        + *CONST_RE.lock()
        + *FROM_RAW.lock()
        + *FROM_RAW_FAIR.lock()
        + *FROM_RAW_RW.write();
    assert_eq!(sum, 28);
    let re = lockgraph::ReentrantMutex::const_new(
        RawMutex::INIT,
        <lockgraph::RawThreadId as lock_api::GetThreadId>::INIT,
        8,
    );
    assert_eq!(*re.lock(), 8);
}

#[test]
fn fair_mutex_has_parking_lots_methods() {
    let m = FairMutex::new(vec![1]);
    {
        let mut g: FairMutexGuard<'_, Vec<i32>> = m.lock();
        g.push(2);
        assert!(m.is_locked());
        assert!(m.try_lock().is_none());
        assert!(m.try_lock_for(Duration::from_millis(1)).is_none());
        FairMutexGuard::bump(&mut g);
        let mapped: MappedFairMutexGuard<'_, i32> = FairMutexGuard::map(g, |v| &mut v[0]);
        assert_eq!(*mapped, 1);
    }
    let g = m.lock();
    FairMutexGuard::unlock_fair(g);
    assert!(!m.is_locked());
    let named = FairMutex::named("surface-fair", 0u8);
    assert_eq!(*named.lock(), 0);
    let d: FairMutex<u8> = FairMutex::default();
    let f: FairMutex<u8> = FairMutex::from(3);
    assert_eq!(*d.lock() + *f.lock(), 3);
    assert!(format!("{f:?}").contains('3'));
    assert_eq!(m.into_inner(), vec![1, 2]);

    // Fair hand-over between threads keeps the count right.
    let shared = Arc::new(FairMutex::new(0u32));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&shared);
            thread::spawn(move || {
                for _ in 0..500 {
                    let mut g = s.lock();
                    *g += 1;
                    FairMutexGuard::unlock_fair(g);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*shared.lock(), 2000);
}

#[test]
fn once_runs_its_closure_once_and_reports_its_state() {
    assert_eq!(ONCE.state(), OnceState::New);
    let mut runs = 0;
    ONCE.call_once(|| runs += 1);
    ONCE.call_once(|| runs += 1);
    assert_eq!(runs, 1);
    assert!(ONCE.state().done());

    // A panicking closure poisons it; call_once_force still runs.
    let once = Once::new();
    let r = std::panic::catch_unwind(|| once.call_once(|| panic!("boom")));
    assert!(r.is_err());
    assert!(once.state().poisoned());
    let r = std::panic::catch_unwind(|| once.call_once(|| {}));
    assert!(r.is_err(), "a poisoned Once panics in call_once");
    let mut seen = None;
    once.call_once_force(|s| seen = Some(s.poisoned()));
    assert_eq!(seen, Some(true));
    assert!(once.state().done());
    assert!(format!("{once:?}").contains("Done"));
    let d = Once::default();
    assert_eq!(d.state(), OnceState::New);

    // Many threads, one run; the others wait for it.
    let once = Arc::new(Once::new());
    let count = Arc::new(Mutex::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (o, c) = (Arc::clone(&once), Arc::clone(&count));
            thread::spawn(move || {
                o.call_once(|| {
                    thread::sleep(Duration::from_millis(5));
                    *c.lock() += 1;
                });
                assert!(o.state().done());
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*count.lock(), 1);
}

#[test]
fn a_guard_leads_back_to_the_lockgraph_lock() {
    let m = Mutex::new(1);
    let g = m.lock();
    // `MutexGuard::mutex` is lock_api's: it returns the lock_api lock inside.
    let inner: &lock_api::Mutex<RawMutex, i32> = MutexGuard::mutex(&g);
    let back: &Mutex<i32> = inner.into();
    assert!(std::ptr::eq(back, &m));
    assert!(std::ptr::eq(Mutex::from_lock_api(inner), &m));
    drop(g);

    let l = RwLock::new(2);
    let r = l.read();
    assert!(std::ptr::eq(
        RwLock::from_lock_api(RwLockReadGuard::rwlock(&r)),
        &l
    ));
    drop(r);
    let re = ReentrantMutex::new(3);
    let g = re.lock();
    let back: &ReentrantMutex<i32> = lock_api::ReentrantMutexGuard::remutex(&g).into();
    assert!(std::ptr::eq(back, &re));
    let f = FairMutex::new(4);
    let g = f.lock();
    assert!(std::ptr::eq(
        FairMutex::from_lock_api(FairMutexGuard::mutex(&g)),
        &f
    ));
}

#[cfg(feature = "arc_lock")]
mod arc_lock {
    use super::*;
    use lockgraph::{
        ArcMutexGuard, ArcReentrantMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard,
        ArcRwLockWriteGuard, RawThreadId,
    };

    #[test]
    fn arc_guards_own_their_lock() {
        let m = Arc::new(Mutex::new(vec![1]));
        let mut g: ArcMutexGuard<RawMutex, Vec<i32>> = m.lock_arc();
        g.push(2);
        assert!(m.try_lock_arc().is_none());
        assert!(m.try_lock_arc_for(Duration::from_millis(1)).is_none());
        // The guard is 'static: it can outlive the borrow of `m`.
        let t = {
            let g = g;
            thread::spawn(move || drop(g))
        };
        t.join().ok();
        let g = m
            .try_lock_arc_until(std::time::Instant::now() + Duration::from_secs(1))
            .unwrap();
        assert_eq!(*g, vec![1, 2]);
        assert_eq!(Arc::strong_count(&m), 2);
        drop(g);
        assert_eq!(Arc::strong_count(&m), 1);

        let f = Arc::new(FairMutex::new(0));
        *f.lock_arc() += 1;
        assert_eq!(*f.try_lock_arc().unwrap(), 1);

        let l = Arc::new(RwLock::new(5));
        {
            let r: ArcRwLockReadGuard<RawRwLock, i32> = l.read_arc();
            let r2 = l.read_arc_recursive();
            assert!(l.try_write_arc().is_none());
            assert_eq!(*r + *r2, 10);
        }
        {
            let up: ArcRwLockUpgradableReadGuard<RawRwLock, i32> = l.upgradable_read_arc();
            let mut w: ArcRwLockWriteGuard<RawRwLock, i32> =
                ArcRwLockUpgradableReadGuard::upgrade(up);
            *w += 1;
        }
        assert_eq!(*l.try_read_arc().unwrap(), 6);
        assert!(l.try_write_arc_for(Duration::from_millis(1)).is_some());
        assert!(l.try_read_recursive_arc().is_some());
        assert!(l.try_upgradable_read_arc().is_some());

        let re = Arc::new(ReentrantMutex::new(7));
        let a: ArcReentrantMutexGuard<RawMutex, RawThreadId, i32> = re.lock_arc();
        let b = re.try_lock_arc().unwrap();
        assert_eq!(*a + *b, 14);
    }

    #[test]
    #[cfg(any(debug_assertions, feature = "track-in-release"))]
    fn arc_guards_are_tracked_with_their_sites() {
        let a = Arc::new(Mutex::new(()));
        let b = Arc::new(RwLock::new(()));
        let line = std::cell::Cell::new(0);
        let reports = lockgraph::capture(|| {
            {
                let _a = a.lock_arc();
                let _b = b.write_arc();
            }
            let _b = b.read_arc();
            line.set(line!() + 1);
            let _a = a.lock_arc();
        });
        assert_eq!(reports.len(), 1, "{reports:#?}");
        let at = reports[0].closing_edge().unwrap().requested_at.unwrap();
        assert_eq!((at.file, at.line), (file!(), line.get()));
    }
}

#[cfg(feature = "send_guard")]
mod send_guard {
    use super::*;

    fn is_send<T: Send>(_: &T) {}

    #[test]
    fn a_guard_released_on_another_thread_leaves_no_hold_behind() {
        let moved = Arc::new(Mutex::new(0u32));
        let (x, y) = (Mutex::new(()), Mutex::new(()));
        let g = moved.lock();
        is_send(&g);
        thread::scope(|s| {
            s.spawn(move || {
                let mut g = g;
                *g += 1;
                // Released here, on a thread that did not take it.
            });
        });
        // This thread no longer counts it as held: nothing it takes now is
        // recorded as taken under it (no false edge `moved -> x`, which the
        // order x -> moved below would close into a cycle), and taking it
        // again is no self-deadlock.
        let reports = lockgraph::capture(|| {
            {
                let _x = x.lock();
                let _y = y.lock();
            }
            let _x = x.lock();
            let _m = moved.lock();
            assert_eq!(*_m, 1);
        });
        assert!(reports.is_empty(), "{reports:#?}");
        let held = lockgraph::held_locks();
        assert!(held.is_empty(), "{held:?}");
        // The lock works as before, here and there.
        let g = moved.lock();
        thread::scope(|s| {
            s.spawn(|| assert!(moved.try_lock().is_none()));
        });
        drop(g);
        let r = RwLock::new(0);
        let w = r.write();
        thread::scope(|s| {
            s.spawn(move || drop(w));
        });
        assert!(lockgraph::held_locks().is_empty());
    }

    /// A guard of `g` sent to another thread, which holds it while this
    /// thread takes `a` then `b`: this thread does not hold `g` then, so
    /// `g` gates nothing (with `send_guard` no edge takes gates): against
    /// `g`, `b`, `a` the cycle is real (this thread holding `a`, waiting
    /// for `b`; another holding `g` and `b`, waiting for `a`).
    #[test]
    fn a_guard_sent_away_is_no_gate() {
        let g = Mutex::named("surface-sent-g", ());
        let (a, b) = (
            Mutex::named("surface-sent-a", ()),
            Mutex::named("surface-sent-b", ()),
        );
        let reports = lockgraph::capture(|| {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let guard = g.lock();
            thread::scope(|s| {
                s.spawn(move || {
                    let _held = guard;
                    rx.recv().unwrap();
                });
                {
                    let _a = a.lock();
                    let _b = b.lock(); // a -> b, `g` held by the other thread
                }
                tx.send(()).unwrap();
            });
            let _g = g.lock();
            let _b = b.lock();
            let _a = a.lock();
        });
        let cycles = reports
            .iter()
            .filter(|r| r.kind == lockgraph::ReportKind::LockOrderCycle)
            .count();
        // Release builds without tracking report nothing.
        assert_eq!(cycles, usize::from(lockgraph::TRACKING), "{reports:#?}");
    }
}

#[cfg(feature = "serde")]
mod serde_feature {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct State {
        count: Mutex<u32>,
        names: RwLock<Vec<String>>,
        fair: FairMutex<bool>,
        re: ReentrantMutex<i8>,
    }

    #[test]
    fn lock_types_serialize_their_data() {
        let s = State {
            count: Mutex::new(3),
            names: RwLock::new(vec!["a".into()]),
            fair: FairMutex::new(true),
            re: ReentrantMutex::new(-1),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"count":3,"names":["a"],"fair":true,"re":-1}"#);
        let back: State = serde_json::from_str(&json).unwrap();
        assert_eq!(*back.count.lock(), 3);
        assert_eq!(back.names.read().len(), 1);
        assert!(*back.fair.lock());
        assert_eq!(*back.re.lock(), -1);
    }

    #[test]
    #[cfg(any(debug_assertions, feature = "track-in-release"))]
    fn deserialized_locks_get_a_class_per_type() {
        let text = r#"{"count":1,"names":[],"fair":false,"re":0}"#;
        let (one, two): (State, State) = (
            serde_json::from_str(text).unwrap(),
            serde_json::from_str(text).unwrap(),
        );
        // One object in one order, the other in the other: only classes
        // (serde's site and the type) link them.
        let reports = lockgraph::capture(|| {
            {
                let _c = one.count.lock();
                let _n = one.names.write();
            }
            let _n = two.names.write();
            let _c = two.count.lock();
        });
        assert_eq!(reports.len(), 1, "{reports:#?}");
    }
}

mod release_switch {
    /// Release builds: the guards are parking_lot's own types, `Once` is
    /// parking_lot's `Once`, the raw lock names are parking_lot's, and the
    /// lock types are newtypes of parking_lot's size.
    #[test]
    #[cfg(not(any(debug_assertions, feature = "track-in-release")))]
    fn release_surface_is_parking_lots_own() {
        use std::mem::size_of;
        fn same<T>(x: T) -> T {
            x
        }
        let f = lockgraph::FairMutex::new(1u8);
        let g: parking_lot::FairMutexGuard<'_, u8> = same(f.lock());
        drop(g);
        let _: parking_lot::Once = lockgraph::Once::new();
        let _: parking_lot::OnceState = lockgraph::Once::new().state();
        let _: parking_lot::RawMutex = <lockgraph::RawMutex as lockgraph::lock_api::RawMutex>::INIT;
        let _: parking_lot::RawFairMutex =
            <lockgraph::RawFairMutex as lockgraph::lock_api::RawMutex>::INIT;
        let _: parking_lot::RawRwLock =
            <lockgraph::RawRwLock as lockgraph::lock_api::RawRwLock>::INIT;
        assert_eq!(
            size_of::<lockgraph::FairMutex<u64>>(),
            size_of::<parking_lot::FairMutex<u64>>()
        );
    }
}

/// What tracking makes of the new types (tracking builds only).
#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod tracking {
    use super::*;
    use lockgraph::{capture, Level, LockKind, ReportKind};
    use lockgraph_testkit::{child, is_child};

    #[test]
    fn bumping_a_fair_mutex_under_a_later_lock_is_a_cycle() {
        let f = FairMutex::new(());
        let m = Mutex::new(());
        let reports = capture(|| {
            let mut gf = f.lock();
            let _gm = m.lock(); // f -> m
                                // Hands f to a waiter and takes it back while m is held: m -> f.
                                // The waiter, holding f, may request m: a deadlock.
            FairMutexGuard::bump(&mut gf);
            assert_eq!(lockgraph::held_locks().len(), 2, "bump keeps f held");
        });
        assert_eq!(reports.len(), 1, "{reports:#?}");
        assert_eq!(reports[0].kind, ReportKind::LockOrderCycle);
        assert_eq!(reports[0].level, Level::Instance);
        let kinds: Vec<LockKind> = reports[0].locks.iter().map(|l| l.kind).collect();
        assert!(kinds.contains(&LockKind::FairMutex), "{kinds:?}");
        assert!(reports[0].to_string().contains("FairMutex<()> created at"));
    }

    #[test]
    fn a_fair_unlock_and_a_bump_keep_the_held_stack_right() {
        let f = FairMutex::new(0);
        let m = Mutex::new(0);
        let gm = m.lock();
        let mut gf = f.lock();
        FairMutexGuard::bump(&mut gf);
        assert_eq!(lockgraph::held_locks().len(), 2);
        FairMutexGuard::unlock_fair(gf);
        let held = lockgraph::held_locks();
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0].0, LockKind::Mutex);
        // Taken under m, bumped with nothing above it: m -> f only.
        let mut gf = f.lock();
        FairMutexGuard::bump(&mut gf);
        drop(gf);
        MutexGuard::unlock_fair(gm);
        assert!(lockgraph::held_locks().is_empty());
    }

    /// One creation site: every `Once` it makes is one class.
    fn once() -> Once {
        Once::new()
    }

    #[test]
    fn a_once_closure_taking_a_lock_that_callers_hold_is_a_cycle() {
        let (first, second) = (once(), once());
        let l = Mutex::new(());
        let reports = capture(|| {
            // Running the closure holds the Once: once -> l.
            first.call_once(|| {
                let held = lockgraph::held_locks();
                assert_eq!(held.last().map(|h| h.0), Some(LockKind::Once));
                drop(l.lock());
            });
            assert!(lockgraph::held_locks().is_empty());
            // Calling a Once that has not completed while holding l: l -> once.
            // (Had another thread been running it, waiting for l, both hang.)
            let _l = l.lock();
            second.call_once(|| {});
        });
        assert_eq!(reports.len(), 1, "{reports:#?}");
        assert_eq!(reports[0].level, Level::Class);
        let text = reports[0].to_string();
        assert!(text.contains("Once created at"), "{text}");
    }

    #[test]
    fn a_completed_once_waits_for_nothing_and_is_not_reported() {
        let o = Once::new();
        let l = Mutex::new(());
        let reports = capture(|| {
            o.call_once(|| drop(l.lock()));
            let _l = l.lock();
            o.call_once(|| unreachable!());
            o.call_once_force(|_| unreachable!());
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    #[test]
    fn child_once_recursion() {
        if !is_child() {
            return;
        }
        lockgraph::set_on_cycle(lockgraph::OnCycle::Panic);
        let o = Once::new();
        let err = std::panic::catch_unwind(|| o.call_once(|| o.call_once(|| {}))).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.contains("deadlock: call_once on a Once from inside its own closure"),
            "{msg}"
        );
        assert!(o.state().poisoned());
        assert!(lockgraph::held_locks().is_empty());
        println!("CHILD-OK");
    }

    #[test]
    fn call_once_from_its_own_closure_is_reported_before_it_hangs() {
        // In a child process: the panic policy is process-wide.
        // Unreported, the recursion would hang the child: give it a deadline.
        let out = child!(child_once_recursion)
            .deadline(Duration::from_secs(60))
            .run();
        let stdout = &out.stdout;
        assert!(
            out.success() && stdout.contains("CHILD-OK"),
            "{stdout}\n{}",
            out.stderr
        );
    }
}
