//! How the model names its nodes: labels of locks, host functions, event
//! waits, the executor and signals, as report text and as
//! [`LockInfo`]s, and the interned labels of watchdog waits.

use std::collections::HashSet;

use lockgraph_core::{LockInfo, LockKind, Site};
use parking_lot::Mutex;

use super::state::{ItemId, ItemKind, Model, ModelLock, Node, Target};

/// Leaks each distinct label once (labels are bounded by streams and sites).
pub(crate) fn intern(s: String) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut g = NAMES.lock();
    let set = g.get_or_insert_with(HashSet::new);
    if let Some(&n) = set.get(s.as_str()) {
        return n;
    }
    let n: &'static str = Box::leak(s.into_boxed_str());
    set.insert(n);
    n
}

impl Model {
    pub(super) fn wait_label(&self, target: Target, targets: &[ItemId]) -> &'static str {
        let what = match target {
            Target::Stream(s) => format!("synchronize stream `{}`", self.streams[s].name),
            Target::Upto(s, _, event) => format!(
                "synchronize event `{event}` (recorded on stream `{}`)",
                self.streams[s].name
            ),
            Target::Context(c) => format!("synchronize context {}", self.contexts[c].1),
        };
        let first = targets
            .iter()
            .filter_map(|t| self.items.get(t))
            .map(|i| format!("{} enqueued at {}", kind_word(&i.kind), Site::from(i.site)))
            .next();
        intern(match first {
            Some(f) => format!("{what} (pending: {f})"),
            None => what,
        })
    }

    pub(super) fn describe(&self, n: Node) -> String {
        match n {
            Node::Lock(l) => match self.locks.get(&l) {
                Some(r) => label_lock(r),
                None => format!("lock #{l}"),
            },
            Node::Item(i) => match self.items.get(&i) {
                Some(it) => match &it.kind {
                    ItemKind::HostFn { .. } => format!(
                        "host fn enqueued at {} on stream `{}`",
                        Site::from(it.site),
                        self.streams[it.stream].name
                    ),
                    ItemKind::Wait { event, .. } => format!(
                        "stream `{}` waiting on event `{event}` (at {})",
                        self.streams[it.stream].name,
                        Site::from(it.site)
                    ),
                },
                None => format!("item #{i}"),
            },
            Node::Exec(c) => format!("host-function executor of context {}", self.contexts[c].1),
            Node::Signal(c) => format!("signal `{}`", self.signals[c].name),
        }
    }

    pub(super) fn info(&self, n: Node) -> LockInfo {
        match n {
            Node::Lock(l) => match self.locks.get(&l) {
                Some(r) => LockInfo::new(r.kind, r.name, r.created, Some(l)),
                None => LockInfo::new(LockKind::Mutex, None, None, Some(l)),
            },
            Node::Item(i) => {
                let it = &self.items[&i];
                let kind = match it.kind {
                    ItemKind::HostFn { .. } => LockKind::HostFn,
                    ItemKind::Wait { .. } => LockKind::Stream,
                };
                LockInfo::new(kind, Some(intern(self.describe(n))), None, None)
            }
            Node::Exec(_) => LockInfo::new(
                LockKind::HostExecutor,
                Some(intern(self.describe(n))),
                None,
                None,
            ),
            Node::Signal(c) => {
                LockInfo::new(LockKind::Signal, Some(self.signals[c].name), None, None)
            }
        }
    }
}

pub(super) fn kind_word(k: &ItemKind) -> &'static str {
    match k {
        ItemKind::HostFn { .. } => "host fn",
        ItemKind::Wait { .. } => "event wait",
    }
}

pub(super) fn learned_note(learned: bool) -> &'static str {
    if learned {
        " (seen in host functions enqueued at the same site)"
    } else {
        ""
    }
}

/// Why a host function is taken to set signal `name` though it does not
/// declare it.
pub(super) fn learned_set_note(name: &str) -> String {
    format!(
        " (host functions enqueued at the same site were seen to set a signal named `{name}`: maybe another signal of that name)"
    )
}

/// Whether a lock of `kind` can be held by several holders at once (read
/// holds, permits): a holder and a request of it need not exclude each other.
pub(super) fn may_share(kind: LockKind) -> bool {
    matches!(
        kind,
        LockKind::RwLock | LockKind::AsyncRwLock | LockKind::Semaphore | LockKind::AsyncSemaphore
    )
}

/// Why an edge into a lock that can be shared is not forced.
pub(super) fn shared_note(kind: LockKind) -> &'static str {
    match kind {
        LockKind::RwLock | LockKind::AsyncRwLock => {
            " (a read-write lock: a deadlock when the hold or this request is a write, or when a writer queues between a read hold and a read request)"
        }
        LockKind::Semaphore | LockKind::AsyncSemaphore => {
            " (a semaphore: a deadlock when no permit is left)"
        }
        _ => "",
    }
}

pub(super) fn label_lock(l: &ModelLock) -> String {
    match (l.name, l.created) {
        (Some(n), _) => format!("{} `{n}`", l.kind.name()),
        (None, Some(s)) => format!("{} created at {s}", l.kind.name()),
        (None, None) => format!("{} #{}", l.kind.name(), l.id),
    }
}
