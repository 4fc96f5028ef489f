//! Unit tests of the profile's counters, advice and report.

use std::time::Duration;

use std::sync::Arc;

use super::counts::{Entry, ALL};
use super::*;
use crate::class::{Class, LockKind};
use crate::meta::LockMeta;

fn profile(kind: LockKind) -> ClassProfile {
    ClassProfile {
        class: "name:t".to_string(),
        kind,
        name: Some("t".to_string()),
        created: None,
        acquisitions: 1000,
        contended: 0,
        total_wait: Duration::ZERO,
        max_wait: Duration::ZERO,
        reads: 0,
        hold_samples: 100,
        mean_hold: Duration::from_micros(1),
        max_hold: Duration::from_micros(5),
        waiting_threads: 0,
        blocking_calls: 0,
        blocking_time: Duration::ZERO,
        blocking_what: None,
        advice: Vec::new(),
    }
}

/// An async read-write lock's reads are shown as a read-write lock's
/// (they read `-`), and a class whose holds were never sampled shows
/// no mean hold (it read 0.0ns).
#[test]
fn async_reads_are_shown_and_an_unsampled_hold_has_no_mean() {
    let mut p = profile(LockKind::AsyncRwLock);
    p.reads = 900;
    p.hold_samples = 0;
    p.mean_hold = Duration::ZERO;
    let r = ProfileReport {
        classes: vec![p],
        ..ProfileReport::default()
    };
    let text = r.to_string();
    let row = text.lines().find(|l| l.contains("AsyncRwLock t")).unwrap();
    // lock, acquired, contended, total wait, max wait, mean hold, reads
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[6..8], ["-", "90%"], "{row}");
}

/// A label wider than a format width may be (65,535) panicked the
/// table ("Formatting argument out of range"): it is cut there, with an
/// ellipsis, and whole in the advice; columns count characters.
#[test]
fn a_label_over_65535_characters_is_cut_in_the_table() {
    let long = "N".repeat(70_000);
    let mut p = profile(LockKind::Mutex);
    p.name = Some(long.clone());
    p.contended = 900;
    p.waiting_threads = 8;
    p.total_wait = Duration::from_secs(1);
    p.advice = advise(&p);
    assert!(!p.advice.is_empty());
    let mut q = profile(LockKind::Mutex);
    q.name = Some("é".to_string());
    let r = ProfileReport {
        classes: vec![p, q],
        ..ProfileReport::default()
    };
    let text = r.to_string();
    let row = format!("  Mutex {}…  ", "N".repeat(59));
    assert!(text.contains(&row), "{}", &text[..300]);
    assert!(text.contains(&format!("Mutex {long}: ")), "advice");
    let col = |l: &str| l.chars().position(|c| c == '%');
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("  Mutex ")).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(col(rows[0]), col(rows[1]), "{rows:?}");
}

#[test]
fn a_quiet_lock_gets_no_advice() {
    assert!(advise(&profile(LockKind::Mutex)).is_empty());
}

#[test]
fn many_waiters_on_a_contended_class_means_shard() {
    let mut p = profile(LockKind::Mutex);
    p.contended = 400;
    p.waiting_threads = 6;
    assert_eq!(
        advise(&p),
        vec![Advice::Shard {
            waiting_threads: 6,
            contention: 0.4
        }]
    );
    // Two waiters are not "many".
    p.waiting_threads = 2;
    assert!(advise(&p).is_empty());
}

#[test]
fn long_holds_under_contention_mean_shrink() {
    let mut p = profile(LockKind::Mutex);
    p.contended = 1;
    p.mean_hold = Duration::from_millis(2);
    assert!(matches!(
        advise(&p)[..],
        [Advice::ShrinkCriticalSection { .. }]
    ));
    // Long holds nobody waited for are fine.
    p.contended = 0;
    assert!(advise(&p).is_empty());
}

#[test]
fn read_mostly_rwlocks_that_wait_blame_the_writers() {
    let mut p = profile(LockKind::RwLock);
    p.reads = 950;
    p.contended = 20;
    p.total_wait = Duration::from_millis(5);
    let a = advise(&p);
    assert!(
        matches!(a[..], [Advice::WritersBlockReaders { .. }]),
        "{a:?}"
    );
    assert!(a[0].to_string().contains("95% reads"));
    // A lock that seldom waits (writes already rare and short: an `Arc`
    // swapped in) is not told to do what it does: ten contended, but 0.1%
    // of 15,000 acquisitions (95% reads, 5 ms of waiting)...
    p.acquisitions = 15_000;
    p.reads = 14_250;
    p.contended = 15;
    assert!(advise(&p).is_empty(), "{:?}", advise(&p));
    // ... or 1.25% contended, but five waits only.
    p.acquisitions = 400;
    p.reads = 380;
    p.contended = 5;
    assert!(advise(&p).is_empty(), "{:?}", advise(&p));
    // Ten waits in 400 (2.5%): told.
    p.contended = 10;
    assert!(matches!(
        advise(&p)[..],
        [Advice::WritersBlockReaders { .. }]
    ));
}

/// A semaphore's permits running out is the limit it sets: it is told to
/// add permits where it can, never to shard its data or shrink a critical
/// section, nor to move a blocking call out from under a permit (found by
/// an outside test: the lesson's four GPU slots were told all three).
#[test]
fn a_semaphore_short_of_permits_is_told_about_permits_only() {
    for kind in [LockKind::Semaphore, LockKind::AsyncSemaphore] {
        let mut p = profile(kind);
        p.contended = 640;
        p.waiting_threads = 8;
        p.mean_hold = Duration::from_millis(5);
        p.total_wait = Duration::from_millis(1500);
        p.blocking_calls = 30;
        p.blocking_time = Duration::from_millis(150);
        let a = advise(&p);
        assert!(matches!(a[..], [Advice::PermitsRunOut { .. }]), "{a:?}");
        let text = a[0].describe(kind);
        assert!(
            text.contains("waited for a permit (64% of acquisitions)")
                && text.contains("add permits")
                && text.contains("this is the limit at work"),
            "{text}"
        );
        // No hold sampled: no mean hold quoted (it read 0.0ns); one
        // waiter is one, not "1 threads".
        p.hold_samples = 0;
        p.waiting_threads = 1;
        let text = advise(&p)[0].describe(kind);
        assert!(!text.contains("held"), "{text}");
        assert!(
            text.starts_with("1 thread waited") || text.starts_with("1 task waited"),
            "{text}"
        );
        // A permit seldom waited for: nothing to say.
        p.contended = 5;
        assert!(advise(&p).is_empty(), "{:?}", advise(&p));
    }
}

/// A share that is not all reads never shows as `100%` (11 writes among
/// 12,822 acquisitions read as none; found by an outside test).
#[test]
fn the_read_share_is_not_rounded_to_all_or_none() {
    let mut p = profile(LockKind::RwLock);
    p.acquisitions = 12_822;
    p.reads = 12_811;
    let r = ProfileReport {
        classes: vec![p.clone()],
        ..ProfileReport::default()
    };
    let text = r.to_string();
    assert!(text.contains(" 99.9%  "), "{text}");
    assert!(!text.contains("100%"), "{text}");
    for (reads, shown) in [(12_822, "100%"), (0, "0%"), (6_411, "50%"), (1, "0.1%")] {
        p.reads = reads;
        let text = ProfileReport {
            classes: vec![p.clone()],
            ..ProfileReport::default()
        }
        .to_string();
        assert!(text.contains(&format!(" {shown}  ")), "{shown}: {text}");
    }
    // Exactly 0.5%: not `0%` (`{:.0}` rounds it to even).
    p.acquisitions = 200;
    p.reads = 1;
    let text = ProfileReport {
        classes: vec![p],
        ..ProfileReport::default()
    }
    .to_string();
    assert!(text.contains(" 0.5%  "), "{text}");
}

#[test]
fn a_blocking_call_under_the_lock_names_the_call() {
    let mut p = profile(LockKind::Mutex);
    p.blocking_calls = 3;
    p.blocking_time = Duration::from_millis(30);
    p.blocking_what = Some("cudaStreamSynchronize".to_string());
    let a = advise(&p);
    assert_eq!(a.len(), 1);
    assert!(
        a[0].to_string().contains("`cudaStreamSynchronize`"),
        "{}",
        a[0]
    );
}

/// The entries of `ALL` of the class named `name`: (retired, count).
fn entries_named(name: &str) -> (usize, usize) {
    let all = ALL.lock();
    let of = |e: &&Entry| matches!(e.key.0, Class::Named(n) if n == name);
    let retired = all
        .iter()
        .filter(of)
        .filter(|e| e.retired.is_some())
        .count();
    (retired, all.iter().filter(of).count())
}

/// A thread's counters are added to its class's retired counters when
/// it exits: threads that come and go leave one entry per class (each
/// left one behind, about 180 bytes per class, without bound; found by
/// an outside soak test), and the counts, the waiting threads included,
/// are those of every thread.
#[test]
fn the_counters_of_exited_threads_are_kept_in_one_entry_per_class() {
    let meta = Arc::new(LockMeta::new(
        LockKind::Mutex,
        Class::Named("profile-retire"),
    ));
    for round in 0..2 {
        for t in 0..50u64 {
            let meta = Arc::clone(&meta);
            // `join` returns once the thread's thread-locals are gone
            // (a scoped thread's end is seen before).
            std::thread::spawn(move || {
                for _ in 0..3 {
                    // Every fifth thread waits at each acquisition.
                    let waited = (t % 5 == 0).then(|| Duration::from_micros(10));
                    acquired(&meta, Access::Write, waited);
                }
            })
            .join()
            .unwrap();
        }
        assert_eq!(entries_named("profile-retire"), (1, 1), "round {round}");
    }
    let c = counters()
        .into_iter()
        .find(|c| c.name.as_deref() == Some("profile-retire"))
        .unwrap();
    assert_eq!(c.acquisitions, 2 * 50 * 3);
    assert_eq!(c.contended, 2 * 10 * 3);
    assert_eq!(c.waiting_threads, 2 * 10);
    assert_eq!(c.max_wait_ns, 10_000);
    // A live thread's entry sits beside the retired one.
    acquired(&meta, Access::Read, None);
    assert_eq!(entries_named("profile-retire"), (1, 2));
    let c = counters()
        .into_iter()
        .find(|c| c.name.as_deref() == Some("profile-retire"))
        .unwrap();
    assert_eq!((c.acquisitions, c.reads), (301, 1));
}

/// An empty profile says why, where the process knows: a build that
/// tracks no locks (it asked "is LOCKGRAPH_PROFILE=1 set?" there, with
/// the variable set; found by an outside test), the profile off, nothing
/// taken. A report made from counters (`lockgraph profile`) keeps the
/// question.
#[test]
fn an_empty_profile_says_why() {
    assert!(report::why_empty(false, true).starts_with("this build tracks no locks"));
    assert!(report::why_empty(true, false).starts_with("the profile is off"));
    assert!(report::why_empty(true, true).starts_with("no lockgraph lock was taken"));
    let r = ProfileReport {
        empty_because: Some(report::why_empty(false, true)),
        ..ProfileReport::default()
    };
    assert_eq!(
        r.to_string(),
        "lockgraph contention profile (hottest first)\n  no lock acquisitions recorded: this build tracks no locks (a release build without lockgraph's `track-in-release` feature): the profile counts nothing\n"
    );
    assert!(ProfileReport::from_counters(Vec::new())
        .to_string()
        .contains("(is LOCKGRAPH_PROFILE=1 set?)"));
    if !crate::TRACKING {
        assert!(report().to_string().contains("this build tracks no locks"));
    }
}
