//! The API that compiles in every build: tracking builds' lock types are
//! lockgraph's own, plain release builds' are `repr(transparent)` newtypes
//! of tokio's, and a program written against one must build against the
//! other (CI runs this file in debug and in `--release`). Each trait tokio
//! implements for its locks is used here through the lockgraph types.

use std::sync::Arc;

use lockgraph::tokio::{MutexGuard, SemaphorePermit};

use super::*;

fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}

/// tokio's `From<T>` and `Default` for `Mutex` and `RwLock`, and `Debug`
/// for the three locks (release builds had no `From`: `Mutex::from(5)`
/// built in debug only).
#[test]
fn conversions_and_traits_of_tokios_locks() {
    let m: Mutex<u32> = Mutex::from(5);
    let m2: Mutex<u32> = 6.into();
    let r: RwLock<u32> = RwLock::from(7);
    let r2: RwLock<u32> = 8.into();
    let (md, rd): (Mutex<u32>, RwLock<u32>) = (Default::default(), Default::default());
    let s = Semaphore::new(2);
    assert_eq!(
        [
            m.into_inner(),
            m2.into_inner(),
            r.into_inner(),
            r2.into_inner()
        ],
        [5, 6, 7, 8]
    );
    assert_eq!((md.into_inner(), rd.into_inner()), (0, 0));
    assert!(format!("{:?}", Mutex::new(9)).contains('9'));
    assert!(format!("{:?}", RwLock::new(9)).contains('9'));
    assert!(format!("{s:?}").contains('2'));
    send_sync::<Mutex<u32>>();
    send_sync::<RwLock<u32>>();
    send_sync::<Semaphore>();
    unpin::<Semaphore>();
}

/// The borrowed guards' accessors return the lockgraph lock in every build
/// (`MutexGuard::mutex` returned tokio's `Mutex` in release builds), and
/// the guards' methods keep them (`try_map`'s `Err`, `split`).
#[test]
fn borrowed_guards_give_the_lockgraph_lock() {
    let rt = current_thread();
    let m = Mutex::new(7u32);
    let g: MutexGuard<'_, u32> = rt.block_on(m.lock());
    let back: &Mutex<u32> = MutexGuard::mutex(&g);
    assert!(std::ptr::eq(back, &m));
    assert_eq!((format!("{g}"), format!("{g:?}")), ("7".into(), "7".into()));
    let g = MutexGuard::try_map(g, |_| None::<&mut u8>).unwrap_err();
    assert!(std::ptr::eq(MutexGuard::mutex(&g), &m));
    let mut mapped = MutexGuard::map(g, |v| v);
    *mapped += 1;
    drop(mapped);
    let g = m.try_lock().unwrap();
    assert_eq!(*g, 8);
    assert!(m.try_lock().is_err());
    drop(g);

    // Unsized: the pointer cast keeps the slice's length.
    let s: Box<Mutex<[u8]>> = Box::new(Mutex::new([1u8, 2, 3]));
    let g = s.try_lock().unwrap();
    assert_eq!(MutexGuard::mutex(&g) as *const Mutex<[u8]>, &*s as *const _);
    drop(g);

    let sem = Semaphore::new(3);
    let mut p: SemaphorePermit<'_> = rt.block_on(sem.acquire_many(2)).unwrap();
    let back: &Semaphore = p.semaphore();
    assert!(std::ptr::eq(back, &sem));
    let q = p.split(1).unwrap();
    assert!(std::ptr::eq(q.semaphore(), &sem));
    p.merge(q);
    assert_eq!(p.num_permits(), 2);
    let one = sem.try_acquire().unwrap();
    assert!(std::ptr::eq(one.semaphore(), &sem));
    assert!(sem.try_acquire_many(1).is_err());
    drop((p, one));
    assert_eq!(sem.available_permits(), 3);

    send_sync::<MutexGuard<'static, u32>>();
    send_sync::<SemaphorePermit<'static>>();
    unpin::<SemaphorePermit<'static>>();
}

/// The owned guards' accessors differ between builds (docs/async.md): an
/// `Arc` of the lockgraph lock in tracking builds, of tokio's in plain
/// release builds. What works in both: calling the lock's methods through
/// the `Arc` (the release newtypes deref to tokio's lock).
#[test]
fn owned_guards_accessors_reach_the_lock_in_every_build() {
    let rt = current_thread();
    let m = Arc::new(Mutex::new(1u32));
    let g = rt.block_on(m.clone().lock_owned());
    let lock = lockgraph::tokio::OwnedMutexGuard::mutex(&g);
    assert!(lock.try_lock().is_err());
    drop(g);
    assert!(m.try_lock().is_ok());
}
