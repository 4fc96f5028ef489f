//! Pipelines in the lock-order graph (`docs/pipelines.md`): for each
//! primitive (bounded queue, semaphore, join, barrier, and a condvar whose
//! notifier is a pipeline thread), the cycle through a
//! lock is reported at the operation that could block, before anything
//! blocks; the same code in a safe order is silent; and the operations that
//! cannot block (an unbounded send, `try_send`, `try_acquire`, a receive)
//! add no edge.
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::sync::Arc;
use std::time::Duration;

use lockgraph::mpsc::{channel_named, sync_channel, sync_channel_named};
use lockgraph::{capture, Barrier, CycleReport, Mutex, Semaphore};

fn only(reports: &[CycleReport]) -> String {
    assert_eq!(reports.len(), 1, "{reports:#?}");
    reports[0].to_string()
}

#[path = "pipelines/condvar.rs"]
mod condvar;

mod queue {
    use super::*;

    #[test]
    fn a_send_holding_a_lock_the_consumer_takes_between_receives_is_reported_before_the_queue_is_full(
    ) {
        let stats = Arc::new(Mutex::named("pipe-q-stats", 0u32));
        let (tx, rx) = sync_channel_named::<u32>("pipe-q-raw", 8);
        let reports = capture(|| {
            let s = stats.clone();
            let consumer = lockgraph::thread::Builder::new()
                .name("pipe-q-consumer".into())
                .spawn(move || {
                    for item in rx.iter() {
                        *s.lock() += item; // between two receives
                    }
                })
                .unwrap();
            // The first item makes the consumer serve the queue and take
            // `stats`; then the producer sends while holding `stats`. The
            // queue (8) is never full.
            tx.send(1).unwrap();
            while *stats.lock() == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let g = stats.lock();
            tx.send(2).unwrap();
            drop(g);
            drop(tx);
            consumer.join().unwrap();
        });
        let text = only(&reports);
        for needle in [
            "Queue `pipe-q-raw`",
            "Mutex `pipe-q-stats`",
            "as its consumer (taken at tests/pipelines.rs:",
            "(a send that blocks while it is full)",
            "thread `pipe-q-consumer`",
            "tests/pipelines.rs",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert_eq!(*stats.lock(), 3);
    }

    #[test]
    fn the_send_made_after_the_lock_is_released_is_silent() {
        let stats = Arc::new(Mutex::named("pipe-q-safe-stats", 0u32));
        let (tx, rx) = sync_channel_named::<u32>("pipe-q-safe", 1);
        let reports = capture(|| {
            let s = stats.clone();
            let consumer = lockgraph::thread::spawn(move || {
                for item in rx.iter() {
                    *s.lock() += item;
                }
            });
            for i in 0..20 {
                let n = *stats.lock() + i;
                tx.send(n).unwrap();
            }
            drop(tx);
            consumer.join().unwrap();
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    #[test]
    fn a_consumer_sending_into_its_own_bounded_queue_is_reported() {
        // Full, it would wait for its only consumer: itself.
        let (tx, rx) = sync_channel_named::<u32>("pipe-q-own", 4);
        let reports = capture(|| {
            tx.send(1).unwrap();
            let x = rx.recv().unwrap();
            tx.send(x + 1).unwrap();
        });
        let text = only(&reports);
        assert!(text.contains("Queue `pipe-q-own`"), "{text}");
        // In a queue's words, not a mutex's.
        assert!(
            text.starts_with(
                "lockgraph: potential deadlock: a consumer of a bounded queue sends into it"
            ),
            "{text}"
        );
        assert!(
            text.contains("When the queue is full the send waits"),
            "{text}"
        );
        assert!(!text.contains("ReentrantMutex"), "{text}");
    }

    #[test]
    fn an_unbounded_send_and_a_try_send_add_no_edge() {
        let stats = Mutex::named("pipe-q-free-stats", ());
        let (tx, rx) = channel_named::<u32>("pipe-q-unbounded");
        let (stx, srx) = sync_channel_named::<u32>("pipe-q-try", 1);
        let reports = capture(|| {
            tx.send(0).unwrap();
            stx.send(0).unwrap();
            rx.recv().unwrap();
            srx.recv().unwrap();
            drop(stats.lock()); // both consumers take `stats`
            let _g = stats.lock();
            tx.send(1).unwrap(); // never blocks
            stx.try_send(1).unwrap(); // never blocks
            assert!(stx.try_send(2).is_err()); // full: fails, does not wait
        });
        assert!(reports.is_empty(), "{reports:#?}");
        assert_eq!(rx.recv().unwrap(), 1);
        assert_eq!(srx.recv().unwrap(), 1);
    }

    #[test]
    fn a_receive_holding_a_lock_adds_no_edge() {
        // The shared-receiver worker pool: receive under the receiver's
        // mutex; the producer sends holding a lock the workers take.
        let (tx, rx) = sync_channel::<u32>(2);
        let rx = Arc::new(Mutex::named("pipe-q-rx-lock", rx));
        let done = Arc::new(Mutex::named("pipe-q-rx-done", 0u32));
        let reports = capture(|| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (rx, done) = (rx.clone(), done.clone());
                    lockgraph::thread::spawn(move || loop {
                        let item = rx.lock().recv();
                        match item {
                            Ok(x) => *done.lock() += x,
                            Err(_) => break,
                        }
                    })
                })
                .collect();
            for _ in 0..20 {
                tx.send(1).unwrap();
            }
            drop(tx);
            for w in workers {
                w.join().unwrap();
            }
        });
        assert!(reports.is_empty(), "{reports:#?}");
        assert_eq!(*done.lock(), 20);
    }

    #[test]
    fn two_stages_sending_into_each_other_s_bounded_queues_are_a_cycle() {
        let (a_tx, a_rx) = sync_channel_named::<u32>("pipe-q-ping", 1);
        let (b_tx, b_rx) = sync_channel_named::<u32>("pipe-q-pong", 1);
        let reports = capture(|| {
            a_tx.send(1).unwrap();
            let t = lockgraph::thread::spawn(move || {
                // Consumes ping, produces pong.
                let x = a_rx.recv().unwrap();
                b_tx.send(x).unwrap();
            });
            t.join().unwrap();
            // Consumes pong, produces ping: both full at once would hang.
            let y = b_rx.recv().unwrap();
            a_tx.send(y).ok();
        });
        let text = only(&reports);
        assert!(text.contains("Queue `pipe-q-ping`"), "{text}");
        assert!(text.contains("Queue `pipe-q-pong`"), "{text}");
    }

    #[test]
    fn the_std_api_works() {
        let (tx, rx) = sync_channel(0);
        let t = lockgraph::thread::spawn(move || {
            for i in 0..3 {
                tx.send(i).unwrap();
            }
        });
        assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
        t.join().unwrap();
        assert!(rx.recv().is_err());
        assert!(matches!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(lockgraph::mpsc::RecvTimeoutError::Disconnected)
        ));
        let (tx, rx) = lockgraph::mpsc::channel::<u8>();
        assert!(matches!(
            rx.try_recv(),
            Err(lockgraph::mpsc::TryRecvError::Empty)
        ));
        drop(rx);
        assert_eq!(tx.send(7).unwrap_err().0, 7);
        let (tx, rx) = sync_channel::<u8>(1);
        tx.send(1).unwrap();
        drop(rx);
        assert!(tx.send(2).is_err());
    }

    #[test]
    fn a_sender_blocked_on_a_full_queue_wakes_when_the_consumer_receives() {
        let (tx, rx) = sync_channel::<u32>(1);
        let t = lockgraph::thread::spawn(move || {
            for i in 0..200 {
                tx.send(i).unwrap();
            }
        });
        let mut got = Vec::new();
        for _ in 0..200 {
            got.push(rx.recv().unwrap());
        }
        t.join().unwrap();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    }
}

mod semaphore {
    use super::*;

    #[test]
    fn a_second_permit_asked_by_a_holder_is_reported_in_a_semaphores_words() {
        let slots = Semaphore::named("pipe-sem-twice", 2);
        let reports = capture(|| {
            let _first = slots.acquire();
            let _second = slots.acquire(); // one free: no wait, reported
        });
        let text = only(&reports);
        assert!(text.contains("Semaphore `pipe-sem-twice`"), "{text}");
        assert!(
            text.starts_with(
                "lockgraph: potential deadlock: a holder of a semaphore's permit asks it for another"
            ),
            "{text}"
        );
        assert!(!text.contains("ReentrantMutex"), "{text}");
    }

    #[test]
    fn an_acquire_holding_a_lock_a_permit_holder_takes_is_reported_with_permits_free() {
        let model = Mutex::named("pipe-sem-model", ());
        let slots = Semaphore::named("pipe-sem-gpu", 4);
        let reports = capture(|| {
            {
                let _permit = slots.acquire();
                drop(model.lock()); // a permit holder takes `model`
            }
            let _m = model.lock();
            let _permit = slots.acquire(); // 4 free: no wait, reported
        });
        let text = only(&reports);
        for needle in [
            "Semaphore `pipe-sem-gpu`",
            "Mutex `pipe-sem-model`",
            "(a permit)",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert_eq!(slots.available_permits(), 4);
    }

    #[test]
    fn try_acquire_adds_no_edge_a_timed_acquire_does_and_the_safe_order_is_silent() {
        let model = Mutex::named("pipe-sem-safe-model", ());
        let slots = Semaphore::named("pipe-sem-safe", 1);
        let reports = capture(|| {
            {
                let _permit = slots.acquire();
                drop(model.lock());
            }
            let _m = model.lock();
            let p = slots.try_acquire().expect("a free permit");
            assert!(slots.try_acquire().is_none());
            assert!(slots.acquire_timeout(Duration::from_millis(5)).is_none());
            drop(p);
        });
        // The timed acquire, made while holding `model`, is a request too.
        assert_eq!(reports.len(), 1, "{reports:#?}");
        let reports = capture(|| {
            let _permit = slots.acquire();
            drop(model.lock());
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    #[test]
    fn a_timed_acquire_and_a_try_acquire_name_the_line_that_asked() {
        // The request of `acquire_timeout` and the permit of `try_acquire`
        // carry the caller's site, as `acquire`'s do (they said "at an
        // unknown site"; found by an outside test).
        let model = Mutex::named("pipe-sem-site-model", ());
        let slots = Semaphore::named("pipe-sem-site", 2);
        let reports = capture(|| {
            {
                let _m = model.lock();
                let _request = slots.acquire_timeout(Duration::from_millis(5));
            }
            let _hold = slots.try_acquire().expect("a free permit");
            let _m = model.lock();
        });
        let text = only(&reports);
        for needle in [
            "then requested L1 `pipe-sem-site` (a permit) at tests/pipelines.rs:",
            "held L1 `pipe-sem-site` (a permit) (taken at tests/pipelines.rs:",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert!(!text.contains("unknown site"), "{text}");
    }

    #[test]
    fn permits_block_and_come_back() {
        let s = Arc::new(Semaphore::new(1));
        let p = s.acquire();
        let s2 = s.clone();
        let t = lockgraph::thread::spawn(move || {
            let _p = s2.acquire();
            7
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(!t.is_finished());
        drop(p);
        assert_eq!(t.join().unwrap(), 7);
        s.add_permits(2);
        assert_eq!(s.available_permits(), 3);
        s.acquire().forget();
        assert_eq!(s.available_permits(), 2);
    }
}

mod join {
    use super::*;

    /// std's `Builder::spawn_unchecked` and `JoinHandleExt` on the tracked
    /// handle (code that used them compiled only in release builds, where
    /// the types are std's; found by an outside test).
    #[test]
    fn spawn_unchecked_and_the_pthread_are_std_s() {
        let local = vec![1, 2, 3];
        let borrowed = &local;
        // SAFETY: joined below, before `local` goes.
        let h = unsafe {
            lockgraph::thread::Builder::new()
                .name("unchecked".into())
                .spawn_unchecked(move || borrowed.iter().sum::<i32>())
                .unwrap()
        };
        #[cfg(unix)]
        {
            use std::os::unix::thread::JoinHandleExt;
            assert_ne!(h.as_pthread_t() as usize, 0);
        }
        assert_eq!(h.join().unwrap(), 6);
    }

    #[test]
    fn a_join_holding_a_lock_the_thread_takes_is_reported_after_the_thread_ended() {
        let config = Arc::new(Mutex::named("pipe-join-config", 0));
        let reports = capture(|| {
            let c = config.clone();
            let worker = lockgraph::thread::Builder::new()
                .name("pipe-join-worker".into())
                .spawn(move || *c.lock() += 1)
                .unwrap();
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let _g = config.lock();
            worker.join().unwrap(); // it is over: no hang, reported
        });
        let text = only(&reports);
        for needle in [
            "Thread `pipe-join-worker`",
            "Mutex `pipe-join-config`",
            "(a join)",
            "(running in that thread)",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
    }

    #[test]
    fn joining_after_the_lock_is_released_is_silent() {
        let config = Arc::new(Mutex::named("pipe-join-safe", 0));
        let reports = capture(|| {
            let c = config.clone();
            let worker = lockgraph::thread::spawn(move || *c.lock() += 1);
            drop(config.lock());
            worker.join().unwrap();
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }

    #[test]
    fn a_scope_s_implicit_join_is_a_request_at_the_scope() {
        let config = Mutex::named("pipe-scope-config", 0);
        let reports = capture(|| {
            lockgraph::thread::scope(|s| {
                s.spawn(|| {
                    let _ = 1 + 1;
                });
                let h = s.spawn(|| *config.lock() += 1);
                h.join().unwrap();
                // Joined implicitly at the end of the scope, nothing held.
                s.spawn(|| *config.lock() += 1);
            });
            drop(config.lock());
        });
        assert!(reports.is_empty(), "{reports:#?}");
        let reports = capture(|| {
            let g = config.lock();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                lockgraph::thread::scope(|s| {
                    let unjoined = s.spawn(|| {
                        if let Some(mut c) = config.try_lock_for(Duration::from_millis(5)) {
                            *c += 1;
                        }
                    });
                    while !unjoined.is_finished() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                });
            }));
            drop(g);
            assert!(r.is_ok());
        });
        // The scoped thread only tries for a while (so the test cannot
        // hang): a timed request is an edge `thread -> config`; the
        // implicit join at the end of the scope, `config -> thread`.
        let text = only(&reports);
        assert!(text.contains("Mutex `pipe-scope-config`"), "{text}");
        assert!(text.contains("(a join)"), "{text}");
    }
}

mod barrier {
    use super::*;

    #[test]
    fn a_wait_holding_a_lock_another_party_takes_before_arriving_is_reported() {
        let weights = Arc::new(Mutex::named("pipe-bar-weights", 0u32));
        let step = Arc::new(Barrier::named("pipe-bar-step", 2));
        let reports = capture(|| {
            let (w, b) = (weights.clone(), step.clone());
            let other = lockgraph::thread::spawn(move || {
                for _ in 0..2 {
                    b.wait();
                    *w.lock() += 1; // before arriving at the next round
                }
                b.wait();
            });
            step.wait();
            step.wait();
            // Round 3: wait while holding `weights`. The other party took
            // it before arriving (rounds 1 and 2); once it has done so
            // twice it only waits, so this round ends.
            while *weights.lock() < 2 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let g = weights.lock();
            step.wait();
            drop(g);
            other.join().unwrap();
        });
        let text = only(&reports);
        for needle in [
            "Barrier `pipe-bar-step`",
            "Mutex `pipe-bar-weights`",
            "(a barrier wait)",
            // The fix is the hold, not a lock order ("always the barrier
            // before the lock" would be the bug; found by an outside test).
            "while waiting at L",
            "and a party takes it before it arrives:",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert!(!text.contains("one global order"), "{text}");
    }

    #[test]
    fn waits_made_without_the_lock_are_silent_and_one_leader_per_round() {
        let weights = Arc::new(Mutex::named("pipe-bar-safe", 0u32));
        let step = Arc::new(Barrier::new(3));
        let reports = capture(|| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (w, b) = (weights.clone(), step.clone());
                    lockgraph::thread::spawn(move || {
                        let mut leaders = 0;
                        for _ in 0..5 {
                            leaders += usize::from(b.wait().is_leader());
                            *w.lock() += 1;
                        }
                        leaders
                    })
                })
                .collect();
            let mut leaders = 0;
            for _ in 0..5 {
                leaders += usize::from(step.wait().is_leader());
                *weights.lock() += 1;
            }
            for h in handles {
                leaders += h.join().unwrap();
            }
            assert_eq!(leaders, 5);
        });
        assert!(reports.is_empty(), "{reports:#?}");
    }
}
