//! The host side of the model: a key per thread, the pseudo-locks of
//! streams and enqueue sites, and the marker of the host function running
//! on this thread (which holds those pseudo-locks while it runs).

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lockgraph_core::{Class, Hold, LockKind, LockMeta, Site};
use parking_lot::Mutex;

use super::names::intern;
use super::state::{with, HoldKey, ItemId, ModelLock};

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD_KEY: Cell<u64> = const { Cell::new(0) };
    static CURRENT: Cell<Option<ItemId>> = const { Cell::new(None) };
}

pub(crate) fn thread_key() -> u64 {
    THREAD_KEY.with(|k| {
        if k.get() == 0 {
            k.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        k.get()
    })
}

/// This thread's name as lockgraph's reports give it (an unnamed thread's
/// by its OS thread id: `unnamed, tid 24191`).
pub(super) fn thread_name() -> Arc<str> {
    lockgraph_core::__private::thread_name().into()
}

/// The pseudo-lock of class `name` for `scope` (a context): one per
/// host-function enqueue site and context (and the executor's), made once
/// and kept for the process (they are bounded by the program's call
/// sites). A stream's own is one per stream (`new_stream`).
pub(super) fn pseudo_lock(kind: LockKind, name: String, scope: usize) -> &'static LockMeta {
    type Key = (usize, &'static str, usize);
    static LOCKS: Mutex<Option<HashMap<Key, &'static LockMeta>>> = Mutex::new(None);
    let name = intern(name);
    let mut g = LOCKS.lock();
    g.get_or_insert_with(HashMap::new)
        .entry((kind as usize, name, scope))
        .or_insert_with(|| Box::leak(Box::new(LockMeta::new(kind, Class::Named(name)))))
}

/// The pseudo-lock of the host functions enqueued at `site` on streams named
/// `stream` of context `ctx`: per stream too, because one site in a helper
/// often enqueues different work on different streams; per context (one
/// class, an instance each) because two contexts' executors run their host
/// functions at once, so that a site's lock held by one is no gate of the
/// other's edges.
pub(super) fn site_lock(
    site: &'static Location<'static>,
    stream: &str,
    ctx: usize,
) -> &'static LockMeta {
    pseudo_lock(
        LockKind::HostFn,
        format!(
            "host fn enqueued at {} on stream `{stream}`",
            Site::from(site)
        ),
        ctx,
    )
}

/// Marks the host function running on this thread (the executor), so that
/// CUDA calls and signal waits inside it are attributed to it, and holds its
/// stream's and its site's pseudo-locks, so that the locks it takes are
/// recorded in lockgraph's graph as taken by it, and its context's
/// executor's (shared), which a synchronize may wait for in the watchdog.
pub(crate) struct Running {
    prev: Option<ItemId>,
    /// The context's executor lock (shared), the stream's, the site's.
    held: Option<[&'static LockMeta; 3]>,
}

impl Running {
    pub(crate) fn enter(item: ItemId) -> Running {
        let prev = CURRENT.with(|c| c.replace(Some(item)));
        let held = if lockgraph::TRACKING {
            with(|m| {
                m.items
                    .get(&item)
                    .map(|it| (&m.streams[it.stream], it.site))
                    .map(|(s, site)| (s.executor, s.lock, s.name, s.ctx, site))
            })
            .map(|(executor, stream, name, ctx, site)| {
                let at = site_lock(site, name, ctx);
                // Shared: the executor's hold is no gate (host functions
                // of two streams may run on two threads), and no request
                // of it is ever made; a synchronize waits for its holder.
                executor.acquired(Hold::Shared, Some(site));
                stream.acquired(Hold::Exclusive, Some(site));
                at.acquired(Hold::Exclusive, Some(site));
                [executor, stream, at]
            })
        } else {
            None
        };
        Running { prev, held }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some([executor, stream, at]) = self.held {
            at.released();
            stream.released();
            executor.released_read();
        }
        CURRENT.with(|c| c.set(self.prev));
    }
}

pub(crate) fn current_host_fn() -> Option<ItemId> {
    CURRENT.with(|c| c.get())
}

/// The holds of this thread, outermost first: each lock's id and where it
/// was taken. A lock released and taken again elsewhere is another hold.
pub(super) fn holds_now() -> Vec<HoldKey> {
    let ids = lockgraph_core::held_lock_ids();
    let locks = lockgraph_core::held_locks();
    ids.into_iter()
        .zip(locks)
        .map(|(id, (_, _, site))| HoldKey { id, site })
        .collect()
}

/// The locks this thread holds, outermost first.
pub(super) fn held_now() -> Vec<ModelLock> {
    let ids = lockgraph_core::held_lock_ids();
    let locks = lockgraph_core::held_locks();
    ids.into_iter()
        .zip(locks)
        .map(|(id, (kind, class, _))| ModelLock::of(id, kind, class))
        .collect()
}
