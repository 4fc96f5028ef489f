//! The process-wide lock-order graphs: reached only when a thread sees a chain
//! of held locks it has not recorded before.
//!
//! Two graphs:
//! * the **class graph** (nodes: lock classes) holds every edge between locks
//!   of different classes. Classes live for the whole process, within
//!   [`Limits`]. Each edge keeps a few sample instance pairs, so a cycle can be
//!   labelled instance-level when the very same locks closed it.
//! * the **instance graph** (nodes: live lock instances) holds edges between
//!   two locks of the *same* class, where only instance order can tell a
//!   consistent order (account 3 before account 7) from an inversion. A lock
//!   leaves it when dropped, so lock churn does not grow it.

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use lockgraph_graph::{Change, Cycle, EdgeKinds, FastBuildHasher, Graph, NodeId};

use crate::class::{Class, ClassKey, LockKind, Site};
use crate::fork::Mutex;
use crate::meta::{Held, LockMeta, Op, MAX_HELD};
use crate::record;
use crate::report::{Backtrace, CycleReport, EdgeInfo, Hold, Level, LockInfo, ReportKind, Request};

mod add_edges;
mod context;
mod found;
mod repeats;
mod report;
mod taken;
pub(crate) mod young;

use add_edges::SelfKey;
pub(crate) use add_edges::{add_edges, add_edges_by, Actor, Gates, OwnHolds};
pub(crate) use context::order_context;
pub use context::OrderOrigin;
#[cfg(test)]
pub(crate) use found::counters;
use found::CycleFound;
pub(crate) use found::Raised;
use report::{cycle_key, CycleKey};
pub use taken::taken_while_holding;

/// Size limits of the process-wide tables. When one is reached lockgraph says
/// so once (a `tracing` ERROR event, or stderr when the subscriber does not
/// enable it) and adds no edge from then on; it never grows without bound
/// and never drops edges silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Distinct lock classes (`LOCKGRAPH_MAX_CLASSES`, default 65,536).
    pub classes: usize,
    /// Edges between classes (`LOCKGRAPH_MAX_EDGES`, default 1,048,576).
    pub class_edges: usize,
    /// Live lock instances in the same-class instance graph
    /// (`LOCKGRAPH_MAX_INSTANCES`, default 1,048,576).
    pub instances: usize,
}

impl Limits {
    /// The limits in force: the defaults, overridden by the environment.
    pub fn current() -> Limits {
        *LIMITS.get_or_init(|| {
            let size = |v: &crate::env::Variable| usize::try_from(v.size()).unwrap_or(usize::MAX);
            Limits {
                classes: size(&crate::env::MAX_CLASSES),
                class_edges: size(&crate::env::MAX_EDGES),
                instances: size(&crate::env::MAX_INSTANCES),
            }
        })
    }
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// Sizes of the process-wide graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GraphStats {
    /// Lock classes seen.
    pub classes: usize,
    /// Edges between classes.
    pub class_edges: usize,
    /// Live lock instances in the same-class instance graph.
    pub instances: usize,
    /// Edges between same-class instances.
    pub instance_edges: usize,
    /// Whether the graphs stopped taking edges because a limit was reached.
    pub full: bool,
}

/// The sizes of the process-wide graphs now.
pub fn stats() -> GraphStats {
    let mut g = Locked::new();
    young::flush(&mut g);
    GraphStats {
        classes: g.classes.node_count(),
        class_edges: g.classes.edge_count(),
        instances: g.instances.node_count(),
        instance_edges: g.instances.edge_count(),
        full: g.full,
    }
}

/// A lock as a report describes it; a node of the class graph (without an
/// instance).
#[derive(Clone, Copy)]
struct NodeInfo {
    kind: LockKind,
    class: Class,
    instance: Option<u64>,
}

/// A node of the instance graph: the lock, its kind, and its class's node
/// in the class graph (16 bytes, where a [`NodeInfo`] takes 48: a big
/// graph keeps one per live lock, and its searches walk them).
#[derive(Clone, Copy)]
struct Instance {
    id: u64,
    class: NodeId,
    kind: LockKind,
}

/// A cycle the graph found (`Global::reported`).
#[derive(Clone, Copy)]
struct FoundCycle {
    /// Whether its report went out.
    out: bool,
    /// The identity (as in its [`CycleKey`]) of the lock the edge that
    /// closed it goes from: the request its report marks "this request
    /// closed the cycle", against the order the other edges had set.
    closed_from: u64,
}

/// The first time one kind of an edge was seen: by which thread, where, with
/// which stack. Its kind is the one its hold and request make.
#[derive(Clone)]
struct FirstSeen {
    thread: Arc<str>,
    hold: Hold,
    request: Request,
    /// The request was an upgradable read (an exclusive request to the
    /// rules; reports and records name it).
    upgradable_request: bool,
    held_at: Option<&'static Location<'static>>,
    requested_at: Option<&'static Location<'static>>,
    backtrace: Option<Backtrace>,
}

impl FirstSeen {
    /// Its kind, as an index from `kind_index`.
    fn kind(&self) -> usize {
        kind_index(EdgeKinds::of(self.hold, self.request))
    }
}

/// A recording shared by every edge recorded by the same thread at the same
/// sites with the same stack ([`Origins`]): a chain of per-object locks
/// nested by one loop has one, not one per edge.
type Origin = Arc<FirstSeen>;

/// Per edge: the first recording inline (most edges only ever have one kind,
/// and a long cycle's report reads every edge's, so they sit in the graph's
/// edge array in creation order), and boxed, only when needed, the first
/// recording of each other kind and sample instance pairs. Two words.
#[derive(Clone, Default)]
struct EdgeMeta {
    first: Option<Origin>,
    more: Option<Box<EdgeMore>>,
}

#[derive(Clone, Default)]
struct EdgeMore {
    origins: [Option<Origin>; EdgeKinds::NAMED.len()],
    pairs: Vec<(u64, u64)>,
}

impl EdgeMeta {
    /// The first recording of kind `k` (an index from `kind_index`).
    fn origin(&self, k: usize) -> Option<&Origin> {
        match &self.first {
            Some(o) if o.kind() == k => Some(o),
            _ => self.more.as_ref().and_then(|m| m.origins[k].as_ref()),
        }
    }

    /// The first recording of any kind.
    fn any_origin(&self) -> Option<&Origin> {
        self.first.as_ref()
    }

    /// Whether kind `k` has no recording yet.
    fn lacks(&self, k: usize) -> bool {
        self.origin(k).is_none()
    }

    /// Stores `o` as its kind's first recording, unless that kind has one.
    fn fill(&mut self, o: Origin) {
        let k = o.kind();
        match &self.first {
            None => self.first = Some(o),
            Some(f) if f.kind() == k => {}
            Some(_) => {
                let more = self.more.get_or_insert_with(Default::default);
                if more.origins[k].is_none() {
                    more.origins[k] = Some(o);
                }
            }
        }
    }

    fn pairs(&self) -> &[(u64, u64)] {
        self.more.as_ref().map_or(&[], |m| &m.pairs)
    }

    fn add_pair(&mut self, pair: (u64, u64)) {
        let more = self.more.get_or_insert_with(Default::default);
        if more.pairs.len() < MAX_PAIRS && !more.pairs.contains(&pair) {
            more.pairs.push(pair);
        }
    }
}

/// The recordings edges share, by thread, kind, sites and stack (all by
/// address: an entry keeps its thread name and stack alive, so no address
/// is reused while it is here). Past [`Origins::MAX`] entries it starts
/// over; a recording made then is merely not shared with older ones.
#[derive(Default)]
struct Origins {
    map: HashMap<OriginKey, Origin, FastBuildHasher>,
    /// The last one handed out: a loop's edges come one after another.
    last: Option<(OriginKey, Origin)>,
}

type OriginKey = (usize, usize, usize, usize, usize);

impl Origins {
    const MAX: usize = 4096;

    /// The shared recording equal to `o`.
    fn intern(&mut self, o: FirstSeen) -> Origin {
        let addr = |l: Option<&'static Location<'static>>| l.map_or(0, |l| l as *const _ as usize);
        let key = (
            Arc::as_ptr(&o.thread) as *const u8 as usize,
            o.hold as usize * 8 + o.request as usize * 2 + usize::from(o.upgradable_request),
            addr(o.held_at),
            addr(o.requested_at),
            o.backtrace.as_ref().map_or(0, Backtrace::addr),
        );
        if let Some((k, found)) = &self.last {
            if *k == key {
                return found.clone();
            }
        }
        if self.map.len() >= Self::MAX {
            self.map.clear();
        }
        let found = self.map.entry(key).or_insert_with(|| Arc::new(o)).clone();
        self.last = Some((key, found.clone()));
        found
    }
}

const MAX_PAIRS: usize = 4;

/// Cycles longer than this keep the stacks of their first and last
/// [`SHOWN_STACKS`] edges only (the ones a printed report shows).
const LONG_CYCLE: usize = 64;
const SHOWN_STACKS: usize = 6;

/// The position of a single kind among [`EdgeKinds::NAMED`] (0 for a set).
fn kind_index(k: EdgeKinds) -> usize {
    EdgeKinds::NAMED.iter().position(|x| x.0 == k).unwrap_or(0)
}

struct Global {
    classes: Graph<NodeInfo, EdgeMeta>,
    class_index: HashMap<ClassKey, NodeId>,
    /// The same classes by address ([`Class::identity`]), looked up first:
    /// two words hashed instead of a file name and a type name.
    class_by_address: HashMap<(usize, usize), NodeId, FastBuildHasher>,
    /// Per creation site, how many classes (value types) were made there.
    site_classes: HashMap<Site, usize>,
    instances: Graph<Instance, EdgeMeta>,
    instance_index: HashMap<u64, NodeId, FastBuildHasher>,
    /// The largest lock id a flush of buffered edges (`young`) put in the
    /// instance graph: a dead lock listed by a buffer with a larger id was
    /// never there (ids grow), and is not looked up.
    young_max: u64,
    /// The recordings the edges share.
    origins: Origins,
    /// The cycles found, each once: whether its report went out when it
    /// was found (`policy::cycle_goes_out`), which the watchdog's order
    /// context says whatever the policy is by then, and which edge closed it.
    reported: HashMap<CycleKey, FoundCycle>,
    /// The self-deadlocks reported, each once (`add_edges`'s [`SelfKey`]).
    self_reported: HashSet<SelfKey>,
    full: bool,
    /// Why the tables became full, to be said once the graph lock is
    /// released (saying it goes to the user's subscriber).
    full_notice: Option<String>,
}

/// The graphs, behind a plain mutex of lockgraph's own ([`Mutex`]): lockgraph's
/// bookkeeping never goes through a tracked lock, so it cannot re-enter
/// itself, and no user code (a subscriber, a lock of the standard error) runs
/// while it is held.
static GLOBAL: LazyLock<Mutex<Global>> = LazyLock::new(|| {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &FORK_HOOKS);
    crate::sync::on_new_iteration(reset);
    Mutex::new(Global {
        classes: Graph::new(),
        class_index: HashMap::new(),
        class_by_address: HashMap::default(),
        site_classes: HashMap::new(),
        instances: Graph::new(),
        instance_index: HashMap::default(),
        young_max: 0,
        origins: Origins::default(),
        reported: HashMap::new(),
        self_reported: HashSet::new(),
        full: false,
        full_notice: None,
    })
});

/// The graph lock, held by [`add_edges`]. A table limit reached meanwhile is
/// said when it goes, after the unlock: saying it reaches the user's
/// subscriber, which must not run under the graph lock.
struct Locked(std::mem::ManuallyDrop<crate::fork::MutexGuard<'static, Global>>);

impl Locked {
    fn new() -> Locked {
        Locked(std::mem::ManuallyDrop::new(GLOBAL.lock()))
    }
}

impl std::ops::Deref for Locked {
    type Target = Global;
    fn deref(&self) -> &Global {
        &self.0
    }
}

impl std::ops::DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Global {
        &mut self.0
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        let notice = self.0.full_notice.take();
        // SAFETY: the guard is dropped here only, once; `self.0` is not
        // used after.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.0) };
        if let Some(why) = notice {
            crate::delivery::warn(crate::delivery::Notice::error(format!(
                "lockgraph: {why}; lock-order tracking is OFF from here on"
            )));
        }
    }
}

/// The graph lock across `fork()` (see `fork.rs`): a thread recording an
/// edge when another forks would otherwise leave it held in the child. In
/// the child, the thread that forked makes its label again, for its edges
/// and its young buffer's.
static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || {
        crate::fork::hold(GLOBAL.lock());
        young::hold_for_fork();
    },
    child: || {
        add_edges::forget_thread_label();
        young::fork_child();
    },
};

fn e_info_for(classes: &Graph<NodeInfo, EdgeMeta>, c: NodeId) -> NodeInfo {
    classes.node(c).copied().unwrap_or(NodeInfo {
        kind: LockKind::Other,
        class: Class::Anonymous,
        instance: None,
    })
}

impl Global {
    /// Stops adding edges; the reason is said once the graph lock is released.
    fn set_full(&mut self, why: &str) {
        if !self.full {
            self.full = true;
            self.full_notice = Some(why.to_string());
        }
    }

    /// The node of `class` (of the lock `id`, for an anonymous class),
    /// added when new.
    fn class_node(
        &mut self,
        class: Class,
        id: u64,
        info: NodeInfo,
        limits: &Limits,
    ) -> Option<NodeId> {
        let address = class.identity();
        if let Some(n) = address.and_then(|a| self.class_by_address.get(&a)) {
            return Some(*n);
        }
        let n = self.class_node_by_key(class.key(id), info, limits)?;
        if let Some(a) = address {
            self.class_by_address.insert(a, n);
        }
        Some(n)
    }

    fn class_node_by_key(
        &mut self,
        key: ClassKey,
        info: NodeInfo,
        limits: &Limits,
    ) -> Option<NodeId> {
        if let Some(&n) = self.class_index.get(&key) {
            return Some(n);
        }
        if self.classes.node_count() >= limits.classes {
            self.set_full(&format!(
                "the lock class table is full ({} classes; raise LOCKGRAPH_MAX_CLASSES)",
                limits.classes
            ));
            return None;
        }
        let n = self.classes.add_node(info);
        self.class_index.insert(key, n);
        if let ClassKey::Site(site, _) = key {
            *self.site_classes.entry(site).or_default() += 1;
        }
        Some(n)
    }

    /// The node of the lock `id`, of `kind` and of the class node `class`,
    /// added when new.
    fn instance_node(
        &mut self,
        id: u64,
        class: NodeId,
        kind: LockKind,
        limits: &Limits,
    ) -> Option<NodeId> {
        if let Some(&n) = self.instance_index.get(&id) {
            return Some(n);
        }
        if self.instances.node_count() >= limits.instances {
            self.set_full(&format!(
                "the lock instance table is full ({} live instances; raise LOCKGRAPH_MAX_INSTANCES)",
                limits.instances
            ));
            return None;
        }
        let n = self.instances.add_node(Instance { id, class, kind });
        self.instance_index.insert(id, n);
        Some(n)
    }

    /// The instance node `node` as a report describes it.
    fn instance_info(&self, node: NodeId) -> NodeInfo {
        match self.instances.node(node) {
            Some(i) => NodeInfo {
                kind: i.kind,
                class: e_info_for(&self.classes, i.class).class,
                instance: Some(i.id),
            },
            None => e_info_for(&self.classes, NodeId::end()),
        }
    }
}

/// Empties the graphs and the set of cycles reported (a new loom iteration).
fn reset() {
    let mut g = GLOBAL.lock();
    g.classes = Graph::new();
    g.class_index.clear();
    g.class_by_address.clear();
    g.instances = Graph::new();
    g.instance_index.clear();
    g.young_max = 0;
    g.origins = Origins::default();
    g.reported.clear();
    g.self_reported.clear();
    g.full = false;
    g.full_notice = None;
}

/// Removes a dropped lock from the instance graph. Out of line: it is
/// called from every lock's drop (`LockMeta`'s), which stays small for the
/// locks that never reached the graph (the churn rows of `docs/cost.md`).
#[cold]
#[inline(never)]
pub(crate) fn forget_instance(id: u64) {
    GLOBAL.lock().forget_instance(id);
}

static OVERFLOW_WARNED: AtomicBool = AtomicBool::new(false);

/// Whether some thread of this process held more than [`MAX_HELD`] locks
/// at once (its deeper holds were not tracked).
pub(crate) fn overflowed() -> bool {
    OVERFLOW_WARNED.load(Ordering::Relaxed)
}

pub(crate) fn warn_once_overflow() {
    if !OVERFLOW_WARNED.swap(true, Ordering::Relaxed) {
        crate::stderr::line(&format!(
            "lockgraph: a thread holds more than {} locks at once; deeper locks are not tracked",
            MAX_HELD
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(thread: &Arc<str>, at: &'static Location<'static>) -> FirstSeen {
        FirstSeen {
            thread: thread.clone(),
            hold: Hold::Exclusive,
            request: Request::Exclusive,
            upgradable_request: false,
            held_at: Some(at),
            requested_at: Some(at),
            backtrace: None,
        }
    }

    #[test]
    fn edges_recorded_alike_share_one_recording() {
        let (t1, t2): (Arc<str>, Arc<str>) = ("a".into(), "a".into());
        let here = Location::caller();
        let there = Location::caller();
        let mut o = Origins::default();
        let a = o.intern(seen(&t1, here));
        let b = o.intern(seen(&t1, here));
        assert!(Arc::ptr_eq(&a, &b), "the same thread, sites and stack");
        // Another thread (by its label), another site, another request.
        assert!(!Arc::ptr_eq(&a, &o.intern(seen(&t2, here))));
        assert!(!Arc::ptr_eq(&a, &o.intern(seen(&t1, there))));
        let read = FirstSeen {
            request: Request::Read,
            ..seen(&t1, here)
        };
        let r = o.intern(read);
        assert!(!Arc::ptr_eq(&a, &r));
        assert_eq!(r.request, Request::Read);
    }

    #[test]
    fn an_edge_keeps_the_first_recording_of_each_kind() {
        let t: Arc<str> = "a".into();
        let at = Location::caller();
        let mut m = EdgeMeta::default();
        let en = Arc::new(seen(&t, at));
        let sn = Arc::new(FirstSeen {
            hold: Hold::Shared,
            ..seen(&t, at)
        });
        m.fill(en.clone());
        m.fill(Arc::new(seen(&t, at)));
        m.fill(sn.clone());
        let k = |h, r| kind_index(EdgeKinds::of(h, r));
        let en_k = k(Hold::Exclusive, Request::Exclusive);
        let sn_k = k(Hold::Shared, Request::Exclusive);
        assert!(Arc::ptr_eq(m.origin(en_k).unwrap(), &en));
        assert!(Arc::ptr_eq(m.origin(sn_k).unwrap(), &sn));
        assert!(m.lacks(k(Hold::Exclusive, Request::RecursiveRead)));
        assert!(Arc::ptr_eq(m.any_origin().unwrap(), &en));
    }
}
