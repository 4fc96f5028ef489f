//! The backpressure profile counts tokio's queues per task: a pipeline of
//! tasks with a slow middle stage is profiled in a child process with
//! `LOCKGRAPH_PROFILE=1`, and the advice names that stage.

use std::time::Duration;

use lockgraph_testkit::{child, is_child};

use super::*;

/// loader -> `tprof-raw` (4) -> preprocess (4 ms an item) -> `tprof-ready`
/// (4) -> batcher; then a producer spawned without a name into a consumer
/// of `tokio::spawn`; then a send into a full queue cancelled by a
/// timeout. Prints the report.
#[test]
fn child_slow_middle_stage() {
    if !is_child() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (raw_tx, mut raw_rx) = mpsc::channel_named::<u32>("tprof-raw", 4);
        let (ready_tx, mut ready_rx) = mpsc::channel_named::<u32>("tprof-ready", 4);
        let loader = lockgraph::tokio::spawn_named("loader", async move {
            for i in 0..40 {
                raw_tx.send(i).await.unwrap();
            }
        });
        let pre = lockgraph::tokio::spawn_named("preprocess-0", async move {
            while let Some(i) = raw_rx.recv().await {
                tokio::time::sleep(Duration::from_millis(4)).await;
                ready_tx.send(i).await.unwrap();
            }
        });
        let batcher = lockgraph::tokio::spawn_named("batcher", async move {
            let mut n = 0;
            while ready_rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        loader.await.unwrap();
        pre.await.unwrap();
        assert_eq!(batcher.await.unwrap(), 40);

        let (tx, mut rx) = mpsc::channel_named::<u32>("tprof-anon", 2);
        let producer = lockgraph::tokio::spawn(async move {
            for i in 0..4 {
                tx.send(i).await.unwrap();
            }
        });
        let consumer = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        producer.await.unwrap();
        consumer.await.unwrap();

        // A send cancelled while it waits (a timeout) counts its wait.
        let (tx, rx) = mpsc::channel_named::<u32>("tprof-cancel", 1);
        lockgraph::tokio::spawn_named("canceller", async move {
            tx.send(0).await.unwrap();
            let late = tokio::time::timeout(Duration::from_millis(40), tx.send(1)).await;
            assert!(late.is_err(), "the queue is full: the send times out");
        })
        .await
        .unwrap();
        drop(rx);
    });
    let report = lockgraph::pipeline::report();
    let raw = report.queues.iter().find(|q| q.name == "tprof-raw");
    let ready = report.queues.iter().find(|q| q.name == "tprof-ready");
    if let (Some(raw), Some(ready)) = (raw, ready) {
        // The loader finds `raw` full; `ready` is drained at once.
        assert!(raw.mean_fill > 2.0, "{report:#?}");
        assert!(ready.mean_fill < 2.0, "{report:#?}");
        // A send leaves at most the bound (tokio's own count of free
        // room; `lockgraph::mpsc`'s went over it).
        assert!(raw.mean_fill <= 4.0, "{report:#?}");
        assert_eq!(raw.sends, 40);
    }
    if let Some(c) = report.queues.iter().find(|q| q.name == "tprof-cancel") {
        assert!(c.full_share > 0.5, "{report:#?}");
    }
    print!("{report}");
    // A queue is a pipeline resource, not a lock: the lock table has no
    // row for it (a `Queue tprof-raw` row said `acquired 1`, the consumer
    // taking up its role, for a queue that carried 40 items).
    let locks = lockgraph::profile::report();
    assert!(
        locks
            .classes
            .iter()
            .all(|c| !c.name.as_deref().unwrap_or("").starts_with("tprof-")),
        "{locks}"
    );
}

#[test]
fn the_advice_names_the_slow_task_stage() {
    let out = child!(child_slow_middle_stage)
        .env("LOCKGRAPH_PROFILE", "1")
        .deadline(Duration::from_secs(60))
        .run();
    assert!(out.success(), "{}", out.both());
    let text = &out.stdout;
    assert!(
        text.contains("advice: `preprocess` is the bottleneck: `batcher` waited on an empty `tprof-ready` queue"),
        "{text}"
    );
    assert!(
        text.contains("`loader` on a full `tprof-raw` queue"),
        "{text}"
    );
    let line = |q: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(q))
            .unwrap_or_else(|| panic!("no {q} line:\n{text}"))
            .to_string()
    };
    assert!(
        line("tprof-raw").ends_with("loader -> preprocess"),
        "{text}"
    );
    assert!(
        line("tprof-ready").ends_with("preprocess -> batcher"),
        "{text}"
    );
    // A task spawned without a name: its spawn site; one of `tokio::spawn`:
    // the site of its first receive.
    let anon = line("tprof-anon");
    let arrow = anon.find(" -> ").unwrap_or_else(|| panic!("{anon}"));
    assert!(
        anon[..arrow].contains("spawned at tests/tokio_mpsc/profile.rs:"),
        "{anon}"
    );
    assert!(
        anon[arrow..].contains("task at tests/tokio_mpsc/profile.rs:"),
        "{anon}"
    );
    assert!(line("tprof-cancel").ends_with("canceller -> "), "{text}");
}

/// Profile off: the queues are not counted.
#[test]
fn without_the_profile_nothing_is_counted() {
    let out = child!(child_slow_middle_stage)
        .deadline(Duration::from_secs(60))
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(
        out.stdout
            .contains("no queue was used while the profile was on"),
        "{}",
        out.stdout
    );
}
