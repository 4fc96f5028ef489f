use super::*;

const MS: u64 = 1_000_000;

/// A loader -> `raw` -> preprocess -> `ready` -> batcher pipeline whose
/// preprocess stage is slow: the loader blocked on `raw` full for
/// `full` ms of its 1,000, the batcher on `ready` empty for `empty` ms.
fn slow_preprocess(full: u64, empty: u64) -> PipelineSums {
    let side = |blocked: u64, stage: &str| SideSums {
        blocked_ns: blocked * MS,
        life_ns: 1_000 * MS,
        stages: vec![stage.to_string()],
    };
    let stage = |name: &str, full: u64, empty: u64| StageSums {
        name: name.to_string(),
        workers: 1,
        life_ns: 1_000 * MS,
        full_ns: full * MS,
        empty_ns: empty * MS,
    };
    PipelineSums {
        queues: vec![
            QueueSums {
                name: "raw".to_string(),
                bound: Some(4),
                sends: 100,
                fill_sum: 390,
                send: side(full, "loader"),
                recv: side(0, "preprocess"),
            },
            QueueSums {
                name: "ready".to_string(),
                bound: Some(4),
                sends: 100,
                fill_sum: 10,
                send: side(0, "preprocess"),
                recv: side(empty, "batcher"),
            },
        ],
        stages: vec![
            stage("loader", full, 0),
            stage("preprocess", 0, 0),
            stage("batcher", 0, empty),
        ],
    }
}

#[test]
fn the_report_of_the_sums_names_the_bottleneck() {
    let r = slow_preprocess(900, 800).report();
    assert_eq!(r.queues.len(), 2);
    assert!((r.queues[0].full_share - 0.9).abs() < 1e-9);
    assert!((r.queues[0].mean_fill - 3.9).abs() < 1e-9);
    assert!((r.queues[1].empty_share - 0.8).abs() < 1e-9);
    let names: Vec<&str> = r.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["batcher", "loader", "preprocess"]);
    assert_eq!(r.advice.len(), 1, "{:?}", r.advice);
    assert!(
        r.advice[0].starts_with("`preprocess` is the bottleneck: `batcher` waited on an empty `ready` queue 80% of the time, `loader` on a full `raw` queue 90%"),
        "{}",
        r.advice[0]
    );
}

/// Two processes' sums add up to the shares of both: a queue or stage of
/// one name is one, its times added, its stages joined.
#[test]
fn merged_sums_are_the_shares_of_both_processes() {
    let mut a = slow_preprocess(900, 800);
    let mut b = slow_preprocess(100, 0);
    b.queues[0].send.stages = vec!["loader".to_string(), "prefetch".to_string()];
    b.queues[1].bound = Some(8);
    a.merge(&b).unwrap();
    assert_eq!(a.queues.len(), 2);
    assert_eq!(a.stages.len(), 3);
    let q = &a.queues[0];
    assert_eq!(q.sends, 200);
    assert_eq!(q.send.blocked_ns, 1_000 * MS);
    assert_eq!(q.send.life_ns, 2_000 * MS);
    assert_eq!(q.send.stages, ["loader", "prefetch"]);
    assert_eq!(a.queues[1].bound, Some(8), "the larger bound");
    assert_eq!(a.stages[0].workers, 2);
    let r = a.report();
    assert!((r.queues[0].full_share - 0.5).abs() < 1e-9);
    assert!((r.queues[1].empty_share - 0.4).abs() < 1e-9);
    // A queue of another name is appended.
    let mut c = PipelineSums::default();
    c.queues.push(QueueSums {
        name: "batches".to_string(),
        ..QueueSums::default()
    });
    a.merge(&c).unwrap();
    assert_eq!(a.queues.len(), 3);
}

/// A sum that would overflow is refused, names its field, and leaves the
/// sums as they were.
#[test]
fn an_overflowing_merge_names_the_field_and_changes_nothing() {
    let mut a = slow_preprocess(900, 800);
    let before = a.clone();
    let mut b = slow_preprocess(1, 1);
    b.queues[1].recv.life_ns = u64::MAX;
    assert_eq!(a.merge(&b).unwrap_err(), "queues[1].recv.life_ns");
    assert_eq!(a, before);
}

/// Queues of one name in one process's sums (unnamed ones made at one
/// site) are one row once folded, as many processes' merge makes them.
#[test]
fn folded_sums_add_up_queues_of_one_name() {
    let mut a = slow_preprocess(900, 800);
    let mut twin = a.queues[0].clone();
    twin.sends = 7;
    a.queues.push(twin);
    let folded = a.clone().folded();
    assert_eq!(folded.queues.len(), 2, "{folded:?}");
    assert_eq!(folded.queues[0].sends, 107);
    assert_eq!(folded.queues[0].send.life_ns, 2_000 * MS);
    // Folding is what merging into an empty sum does, and keeps the order.
    let mut merged = PipelineSums::default();
    merged.merge(&a).unwrap();
    assert_eq!(merged, folded);
    assert_eq!(folded.queues[1].name, "ready");
}
