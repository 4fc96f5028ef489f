//! tokio's task dumps in the task watchdog's reports: the stuck tasks'
//! async backtraces. Built only with `--cfg tokio_unstable`, the
//! `tokio-taskdump` feature, on Linux (tokio's own conditions for
//! `Handle::dump`); other builds' reports say why there are none.
//!
//! The runtimes are noted when one of their tasks first waits for a
//! lockgraph async lock (a stuck task waited). A dump is taken from the
//! watchdog's scan thread on a thread of its own, with a deadline: tokio's
//! dump never finishes while a worker thread is blocked (a task blocked in
//! a sync lock), and a `current_thread` runtime can be dumped only from
//! inside it, which a deadlocked one never runs again.

use std::sync::mpsc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::{Handle, RuntimeFlavor};

/// How long a dump may take before the report goes without it.
const DEADLINE: Duration = Duration::from_secs(2);

/// The runtimes whose tasks waited for lockgraph async locks.
static RUNTIMES: Mutex<Vec<Handle>> = Mutex::new(Vec::new());

/// Notes the runtime of the calling task (a wait begins) and registers the
/// dumper with the core (once).
#[cold]
pub(crate) fn note_runtime() {
    let Ok(h) = Handle::try_current() else {
        return;
    };
    let mut all = RUNTIMES.lock();
    if all.is_empty() {
        lockgraph_core::task::set_task_dumper(dump_tasks);
    }
    if !all.iter().any(|o| o.id() == h.id()) {
        all.push(h);
    }
}

/// The traces of tasks `ids` from the noted runtimes' dumps.
fn dump_tasks(ids: &[u64]) -> Result<Vec<(u64, String)>, String> {
    let handles: Vec<Handle> = RUNTIMES.lock().clone();
    let mut out = Vec::new();
    let mut why = Vec::new();
    for h in handles {
        if h.runtime_flavor() != RuntimeFlavor::MultiThread {
            why.push(
                "a current_thread runtime is dumped only from inside it, which a stuck one \
                 never runs"
                    .to_string(),
            );
            continue;
        }
        let (tx, rx) = mpsc::channel();
        let ids = ids.to_vec();
        let spawned = std::thread::Builder::new()
            .name("lockgraph-task-dump".into())
            .spawn(move || {
                let dump = h.block_on(h.dump());
                let traces: Vec<(u64, String)> = dump
                    .tasks()
                    .iter()
                    .filter_map(|t| {
                        let id = super::track::id_number(t.id());
                        ids.contains(&id).then(|| (id, t.trace().to_string()))
                    })
                    .collect();
                let _ = tx.send(traces);
            });
        if let Err(e) = spawned {
            why.push(format!("cannot start the dumping thread: {e}"));
            continue;
        }
        match rx.recv_timeout(DEADLINE) {
            Ok(traces) => out.extend(traces),
            // The dumping thread is left behind, blocked in tokio.
            Err(_) => why.push(format!(
                "tokio's task dump did not finish within {DEADLINE:?} (a worker thread is \
                 blocked, in a sync lock or a blocking call)"
            )),
        }
    }
    if out.is_empty() && !why.is_empty() {
        return Err(why.join("; "));
    }
    Ok(out)
}
