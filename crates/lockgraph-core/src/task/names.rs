//! Names and spawn sites of tasks, for reports ("task 7 `reloader`,
//! spawned at src/main.rs:40"). A task has one while a wrapper that gave
//! it one (`lockgraph::tokio::spawn`, `instrument`) lives.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::LazyLock;

use parking_lot::Mutex;

/// A task's name and where it was spawned.
#[derive(Clone, Debug)]
pub struct TaskName {
    /// The name given (else empty).
    pub name: String,
    /// Where the task was spawned (or its future instrumented).
    pub site: &'static Location<'static>,
}

const SHARDS: usize = 16;

static NAMES: LazyLock<Vec<Mutex<HashMap<u64, TaskName>>>> =
    LazyLock::new(|| (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect());

fn shard(id: u64) -> &'static Mutex<HashMap<u64, TaskName>> {
    &NAMES[(id as usize) % SHARDS]
}

/// Gives task `id` a name and spawn site for reports.
pub fn name_task(id: u64, name: TaskName) {
    shard(id).lock().insert(id, name);
}

/// Forgets task `id`'s name (its wrapper is dropped).
pub fn unname_task(id: u64) {
    shard(id).lock().remove(&id);
}

/// How reports name task `id`: `task 7 "reloader" (spawned at a.rs:3:5)`,
/// or `task 7` when it has no name.
pub fn task_label(id: u64) -> String {
    match shard(id).lock().get(&id) {
        Some(n) if n.name.is_empty() => format!("task {id} (spawned at {})", n.site),
        Some(n) => format!("task {id} \"{}\" (spawned at {})", n.name, n.site),
        None => format!("task {id}"),
    }
}
