//! The API that compiles in every build: tracking builds' lock types are
//! lockgraph's own, plain release builds' are `repr(transparent)` newtypes
//! of tokio's, and a program written against one must build against the
//! other (CI runs this file in debug and in `--release`). Each trait tokio
//! implements for its locks is used here through the lockgraph types.

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
