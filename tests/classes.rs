//! Lock classes: a class is the creation site *and* the protected type, so
//! locks made through `Default`, a `#[derive(Default)]` or a generic helper
//! do not all collapse into one class.
//!
//! Each test makes its own types, so its classes are its own, and reads
//! reports through `lockgraph::capture` (tests run in parallel).
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use lockgraph::{capture, CycleReport, Level, Mutex, ReportKind, RwLock};

/// What `a` then `b`, and then `b` then `a`, on this thread report.
fn inverted<A, B>(a: &Mutex<A>, b: &Mutex<B>) -> Vec<CycleReport> {
    capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    })
}

fn cycles(reports: &[CycleReport]) -> Vec<&CycleReport> {
    reports
        .iter()
        .filter(|r| r.kind == ReportKind::LockOrderCycle)
        .collect()
}

#[test]
fn an_inversion_between_two_derived_default_fields_on_two_objects_is_reported() {
    #[derive(Default)]
    struct Accounts(#[allow(dead_code)] u64);
    #[derive(Default)]
    struct Audit(#[allow(dead_code)] u64);
    #[derive(Default)]
    struct Bank {
        accounts: Mutex<Accounts>,
        audit: Mutex<Audit>,
    }
    let (one, two) = (Bank::default(), Bank::default());
    let reports = capture(|| {
        {
            let _a = one.accounts.lock();
            let _b = one.audit.lock();
        }
        // Another object, the other order: only the classes link the two.
        let _b = two.audit.lock();
        let _a = two.accounts.lock();
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    let r = found[0];
    assert_eq!(r.level, Level::Class);
    let mut types: Vec<&str> = r.locks.iter().filter_map(|l| l.value_type).collect();
    types.sort();
    assert_eq!(types.len(), 2, "{r:#?}");
    assert!(types[0].ends_with("Accounts") && types[1].ends_with("Audit"));
    // Both made at the derive's site, which makes locks of two types.
    assert_eq!(r.locks[0].created, r.locks[1].created);
    assert!(r.locks.iter().all(|l| l.site_classes == 2), "{r:#?}");
    let text = r.to_string();
    assert!(text.contains("Mutex<Accounts> created at"), "{text}");
    assert!(text.contains("Mutex<Audit> created at"), "{text}");
    assert!(
        text.contains("makes locks of 2 types (L1, L2; a #[derive(Default)]"),
        "{text}"
    );
}

/// A generic constructor: one creation site for every `T`.
fn make<T: Default>() -> RwLock<T> {
    RwLock::new(T::default())
}

#[test]
fn locks_of_two_types_from_one_generic_helper_are_two_classes() {
    #[derive(Default)]
    struct Left;
    #[derive(Default)]
    struct Right;
    let (l1, r1) = (make::<Left>(), make::<Right>());
    let (l2, r2) = (make::<Left>(), make::<Right>());
    let reports = capture(|| {
        {
            let _l = l1.write();
            let _r = r1.write();
        }
        let _r = r2.write();
        let _l = l2.write();
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    assert_eq!(found[0].level, Level::Class);
    assert!(found[0].to_string().contains("RwLock<Left> created at"));
}

#[test]
fn locks_of_one_type_made_at_one_site_still_share_a_class() {
    #[derive(Default)]
    struct Slot(#[allow(dead_code)] u32);
    fn slot() -> Mutex<Slot> {
        Mutex::new(Slot(0))
    }
    let other = || Mutex::new(0u8);
    let (a1, a2) = (slot(), slot());
    let (b1, b2) = (other(), other());
    let reports = capture(|| {
        {
            let _a = a1.lock();
            let _b = b1.lock();
        }
        // Different instances of the same two classes, the other order.
        let _b = b2.lock();
        let _a = a2.lock();
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    assert_eq!(found[0].level, Level::Class);
}

#[test]
fn a_report_says_when_two_of_its_locks_are_fields_of_one_type_from_one_site() {
    #[derive(Default)]
    struct Pair {
        first: Mutex<u16>,
        second: Mutex<u16>,
    }
    let p = Pair::default();
    let reports = inverted(&p.first, &p.second);
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    let r = found[0];
    // One class: only the instances tell the fields apart.
    assert_eq!(r.level, Level::Instance);
    let text = r.to_string();
    assert!(
        text.contains("one site, many fields: L1, L2 are one class"),
        "{text}"
    );
    // Both readings of one site's locks of one type, each with its way out
    // (it said only "name them or create them on separate lines", which
    // per-object locks made by one constructor cannot do; found by an
    // outside test).
    assert!(
        text.contains("name them (`named`) or create them on separate lines")
            && text.contains("(per-object locks: accounts, shards), take them in one global order, by id or by address"),
        "{text}"
    );
}

#[test]
fn named_locks_are_one_class_whatever_their_type() {
    let a1 = Mutex::named("classes-named-a", 0u8);
    let a2 = Mutex::named("classes-named-a", String::new());
    let mk = || Mutex::new(());
    let (b1, b2) = (mk(), mk());
    let reports = capture(|| {
        {
            let _a = a1.lock();
            let _b = b1.lock();
        }
        let _b = b2.lock();
        let _a = a2.lock();
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// Thread-local locks, each only ever taken by its own thread: with `new`
/// they are one class (their site and type), so one thread's "scratch then
/// global" and another's "global then scratch" are a class-level cycle,
/// though no two threads ever share a scratch lock (found by an outside
/// test). `const_new(RawMutex::INIT, ..)` gives each its own anonymous
/// class: no cycle, while a real inversion on one of them is still found
/// (README, "False alarms").
#[test]
fn thread_local_locks_of_their_own_class_are_no_class_level_cycle() {
    use lock_api::RawMutex as _;
    use lockgraph::RawMutex;
    thread_local! {
        static SHARED_CLASS: Mutex<u32> = const { Mutex::new(0) };
        static OWN_CLASS: Mutex<u32> = const { Mutex::const_new(RawMutex::INIT, 0) };
    }
    let global = std::sync::Arc::new(Mutex::named("tls-global", 0u32));
    // Another thread takes its scratch lock, then the global one; this
    // thread (whose reports `capture` sees) the global one, then its own
    // scratch lock.
    let run = |own: bool| {
        let g1 = global.clone();
        std::thread::spawn(move || {
            let take = |m: &Mutex<u32>| {
                let _s = m.lock();
                let _g = g1.lock();
            };
            if own {
                OWN_CLASS.with(take);
            } else {
                SHARED_CLASS.with(take);
            }
        })
        .join()
        .unwrap();
        capture(|| {
            let _g = global.lock();
            if own {
                OWN_CLASS.with(|m| drop(m.lock()));
            } else {
                SHARED_CLASS.with(|m| drop(m.lock()));
            }
        })
    };
    let shared = run(false);
    assert_eq!(cycles(&shared).len(), 1, "{shared:#?}");
    assert_eq!(cycles(&shared)[0].level, Level::Class, "{}", shared[0]);
    let own = run(true);
    assert!(cycles(&own).is_empty(), "{own:#?}");
    // One thread's own lock in both orders is still an inversion.
    let reports = capture(|| {
        OWN_CLASS.with(|m| {
            {
                let _s = m.lock();
                let _g = global.lock();
            }
            let _g = global.lock();
            let _s = m.lock();
        })
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// Per-object locks of one class (accounts in a `Vec`, made by one
/// `Mutex::new`), taken in both orders: the report tells the two apart by
/// instance wherever it names them, and its fix is an order of the objects
/// (by id or address), not "always L2 `site` before L1 `site`", which
/// named the same site twice (found by an outside test).
#[test]
fn a_same_class_inversion_names_each_instance_and_advises_an_order_of_the_objects() {
    let accounts: Vec<Mutex<i64>> = (0..2).map(|_| Mutex::new(100)).collect();
    let transfer = |from: &Mutex<i64>, to: &Mutex<i64>| {
        let mut a = from.lock();
        let mut b = to.lock();
        *a -= 1;
        *b += 1;
    };
    let reports = capture(|| {
        transfer(&accounts[0], &accounts[1]);
        transfer(&accounts[1], &accounts[0]);
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    let r = found[0];
    assert_eq!(r.level, Level::Instance);
    let text = r.to_string();
    let ids: Vec<u64> = r.locks.iter().map(|l| l.instance.unwrap()).collect();
    // The table of how it deadlocks names both instances.
    let table = text
        .split("how it deadlocks")
        .nth(1)
        .expect("the table of how it deadlocks");
    for id in &ids {
        assert!(
            table.contains(&format!("` #{id}")),
            "#{id} missing in\n{text}"
        );
    }
    assert!(
        text.contains("fix: take the locks of this class in one order everywhere, by a key of what they guard")
            && text.contains("(an id, or the lock's address: lower first)"),
        "{text}"
    );
    assert!(!text.contains("for example always"), "{text}");
}

/// Two locks of different classes keep the example order in their fix.
#[test]
fn an_inversion_of_two_classes_keeps_the_example_order() {
    let a = Mutex::named("classes-fix-a", ());
    let b = Mutex::named("classes-fix-b", ());
    let reports = inverted(&a, &b);
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    let text = found[0].to_string();
    assert!(
        text.contains("for example always L") && text.contains("`classes-fix-a` before L"),
        "{text}"
    );
    assert!(!text.contains(" #"), "{text}");
}

/// Two anonymous locks (`const_new`: each a class of its own) look alike in
/// a report, without a name or a site, but are two classes: their fix is
/// an order of the two, not "the locks of this class" (found by a review).
#[test]
fn an_inversion_of_two_anonymous_locks_is_not_told_they_are_one_class() {
    use lock_api::RawMutex as _;
    let a: Mutex<()> = Mutex::const_new(lockgraph::RawMutex::INIT, ());
    let b: Mutex<()> = Mutex::const_new(lockgraph::RawMutex::INIT, ());
    let reports = inverted(&a, &b);
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    let text = found[0].to_string();
    assert!(text.contains("for example always L"), "{text}");
    assert!(!text.contains("the locks of this class"), "{text}");
}
