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

use lockgraph_graph::{Change, Cycle, EdgeKinds, Graph, NodeId};

use crate::class::{Class, ClassKey, LockKind, Site};
use crate::fork::Mutex;
use crate::record;
use crate::report::{Backtrace, CycleReport, EdgeInfo, Hold, Level, LockInfo, ReportKind, Request};
use crate::state::{Held, LockMeta, Op};

mod taken;
pub use taken::taken_while_holding;

/// Size limits of the process-wide tables. When one is reached lockgraph says
/// so once (a `tracing` ERROR event, or stderr when the subscriber does not
/// enable it) and stops recording new edges; it never grows without bound
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
        *LIMITS.get_or_init(|| Limits {
            classes: env_limit("LOCKGRAPH_MAX_CLASSES", 65_536),
            class_edges: env_limit("LOCKGRAPH_MAX_EDGES", 1 << 20),
            instances: env_limit("LOCKGRAPH_MAX_INSTANCES", 1 << 20),
        })
    }
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

fn env_limit(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Err(_) => default,
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                crate::stderr::line(&format!(
                    "lockgraph: {var}={v:?} is not a positive integer; using {default}"
                ));
                default
            }
        },
    }
}

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
    /// Whether recording stopped because a limit was reached.
    pub full: bool,
}

/// The sizes of the process-wide graphs now.
pub fn stats() -> GraphStats {
    let g = GLOBAL.lock();
    GraphStats {
        classes: g.classes.node_count(),
        class_edges: g.classes.edge_count(),
        instances: g.instances.node_count(),
        instance_edges: g.instances.edge_count(),
        full: g.full,
    }
}

#[derive(Clone, Copy)]
struct NodeInfo {
    kind: LockKind,
    class: Class,
    instance: Option<u64>,
}

/// The first recording of one edge kind.
#[derive(Clone)]
struct Origin {
    thread: Arc<str>,
    hold: Hold,
    request: Request,
    held_at: Option<&'static Location<'static>>,
    requested_at: Option<&'static Location<'static>>,
    backtrace: Option<Backtrace>,
}

/// Per edge: the first recording inline (most edges only ever have one kind,
/// and a long cycle's report reads every edge's, so they sit in the graph's
/// edge array in creation order), and boxed, only when needed, the first
/// recording of each other kind and sample instance pairs.
#[derive(Clone, Default)]
struct EdgeMeta {
    first: Option<(usize, Origin)>,
    more: Option<Box<EdgeMore>>,
}

#[derive(Clone, Default)]
struct EdgeMore {
    origins: [Option<Origin>; 4],
    pairs: Vec<(u64, u64)>,
}

impl EdgeMeta {
    /// The first recording of kind `k` (an index from `kind_index`).
    fn origin(&self, k: usize) -> Option<&Origin> {
        match &self.first {
            Some((fk, o)) if *fk == k => Some(o),
            _ => self.more.as_ref().and_then(|m| m.origins[k].as_ref()),
        }
    }

    /// The first recording of any kind.
    fn any_origin(&self) -> Option<&Origin> {
        self.first.as_ref().map(|(_, o)| o)
    }

    /// Stores `origin()` as kind `k`'s first recording; whether it was new.
    fn fill(&mut self, k: usize, origin: &dyn Fn() -> Origin) -> bool {
        match &self.first {
            None => {
                self.first = Some((k, origin()));
                true
            }
            Some((fk, _)) if *fk == k => false,
            Some(_) => {
                let more = self.more.get_or_insert_with(Default::default);
                if more.origins[k].is_some() {
                    return false;
                }
                more.origins[k] = Some(origin());
                true
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

const MAX_PAIRS: usize = 4;

/// Cycles longer than this keep the stacks of their first and last
/// [`SHOWN_STACKS`] edges only (the ones a printed report shows).
const LONG_CYCLE: usize = 64;
const SHOWN_STACKS: usize = 6;

fn kind_index(k: EdgeKinds) -> usize {
    [EdgeKinds::EN, EdgeKinds::ER, EdgeKinds::SN, EdgeKinds::SR]
        .iter()
        .position(|x| *x == k)
        .unwrap_or(0)
}

struct Global {
    classes: Graph<NodeInfo, EdgeMeta>,
    class_index: HashMap<ClassKey, NodeId>,
    /// Per creation site, how many classes (value types) were made there.
    site_classes: HashMap<Site, usize>,
    instances: Graph<NodeInfo, EdgeMeta>,
    instance_index: HashMap<u64, NodeId>,
    reported: HashSet<CycleKey>,
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
    Mutex::new(Global {
        classes: Graph::new(),
        class_index: HashMap::new(),
        site_classes: HashMap::new(),
        instances: Graph::new(),
        instance_index: HashMap::new(),
        reported: HashSet::new(),
        full: false,
        full_notice: None,
    })
});

/// The graph lock, held by [`record`]. A table limit reached meanwhile is
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
/// edge when another forks would otherwise leave it held in the child.
static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(GLOBAL.lock()),
    child: crate::fork::nothing,
};

/// What one record call produced.
pub(crate) struct Recorded {
    pub(crate) reports: Vec<CycleReport>,
    /// Indices of held entries now in the instance graph.
    pub(crate) marked: Vec<usize>,
    /// New class edges for the `LOCKGRAPH_RECORD` file.
    pub(crate) lines: Vec<record::EdgeLine>,
}

static BACKTRACES: OnceLock<bool> = OnceLock::new();

fn backtraces_on() -> bool {
    *BACKTRACES.get_or_init(|| {
        // Under loom, threads are coroutines on small stacks: no unwinding.
        !cfg!(loom)
            && !matches!(
                std::env::var("LOCKGRAPH_BACKTRACE").as_deref(),
                Ok("0") | Ok("off") | Ok("false")
            )
    })
}

/// This thread's name (else its id), made once per thread and shared by every
/// edge it records, so a long report does not touch one allocation per edge.
fn thread_label() -> Arc<str> {
    crate::sync::thread_local_const! {
        static LABEL: std::cell::OnceCell<Arc<str>> = const { std::cell::OnceCell::new() };
    }
    let make = || -> Arc<str> { crate::sync::thread_name().into() };
    LABEL
        .try_with(|l| l.get_or_init(make).clone())
        .unwrap_or_else(|_| make())
}

/// Records the edges of one acquisition-like event; returns the reports.
pub(crate) fn record(
    held: &[Held],
    target: &LockMeta,
    id: u64,
    request: Request,
    site: Option<&'static Location<'static>>,
    op: Op,
) -> Recorded {
    crate::sync::enter_iteration();
    let mut out = Recorded {
        reports: Vec::new(),
        marked: Vec::new(),
        lines: Vec::new(),
    };
    let recording = record::enabled();
    let thread = thread_label();
    let site_loc = site;
    let site = site.map(Site::from);
    let exclude = match op {
        Op::CondvarWait(m) => Some(m),
        Op::Upgrade => Some(id),
        _ => None,
    };

    // Re-acquiring a lock this thread holds: the graph has no self edges.
    if op == Op::Acquire {
        for e in held.iter().filter(|e| e.id == id) {
            if request == Request::RecursiveRead && e.hold == Hold::Shared {
                continue;
            }
            let certain = e.hold == Hold::Exclusive || request == Request::Exclusive;
            out.reports.push(CycleReport {
                kind: ReportKind::SelfDeadlock { certain },
                level: Level::Instance,
                locks: vec![LockInfo::of_class(target.kind(), target.class(), Some(id))],
                edges: vec![EdgeInfo {
                    from: 0,
                    to: 0,
                    thread: thread.clone(),
                    hold: e.hold,
                    request,
                    held_at: e.site.map(Site::from),
                    requested_at: site,
                    backtrace: backtraces_on().then(Backtrace::capture),
                    closing: true,
                }],
            });
            // The self-deadlock is the news; edges to it add nothing.
            return out;
        }
    }

    // Read before the graph lock: a bad variable is said on stderr.
    let limits = Limits::current();
    let mut g = Locked::new();
    if g.full {
        return out;
    }
    let target_info = NodeInfo {
        kind: target.kind(),
        class: target.class(),
        instance: None,
    };
    let Some(to_class) = g.class_node(target.class().key(id), target_info, &limits) else {
        return out;
    };

    for (i, e) in held.iter().enumerate() {
        if e.id == id || Some(e.id) == exclude {
            continue;
        }
        let gates: Vec<u64> = held
            .iter()
            .enumerate()
            .filter(|(j, o)| {
                *j != i && o.hold == Hold::Exclusive && o.id != id && Some(o.id) != exclude
            })
            .map(|(_, o)| o.id)
            .collect();
        // A notification runs "condvar -> held lock"; everything else "held -> target".
        let notify = op == Op::Notify;
        let (hold, req) = if notify {
            (Hold::Exclusive, Request::Exclusive)
        } else {
            (e.hold, request)
        };
        let origin = || Origin {
            thread: thread.clone(),
            hold,
            request: req,
            held_at: e.site,
            requested_at: site_loc,
            backtrace: backtraces_on().then(Backtrace::capture),
        };
        let e_info = NodeInfo {
            kind: e.kind,
            class: e.class,
            instance: None,
        };
        let Some(e_class) = g.class_node(e.class.key(e.id), e_info, &limits) else {
            return out;
        };
        let (from_c, to_c, from_id, to_id) = if notify {
            (to_class, e_class, id, e.id)
        } else {
            (e_class, to_class, e.id, id)
        };
        let kind = EdgeKinds::of(hold, req);

        if from_c == to_c {
            // Same class: instance order decides.
            let info = e_info_for(&g.classes, from_c);
            let Some(a) = g.instance_node(from_id, info, &limits) else {
                return out;
            };
            let Some(b) = g.instance_node(to_id, info, &limits) else {
                return out;
            };
            out.marked.push(i);
            target.mark_in_graph();
            let rec = g
                .instances
                .record(a, b, hold, req, &gates, EdgeMeta::default);
            if rec.change != Change::None {
                fill_origin(&mut g.instances, a, b, kind, &origin);
            }
            if let Some(cycle) = rec.cycle {
                if let Some(r) = g.report(true, &cycle, Level::Instance, &origin) {
                    out.reports.push(r);
                }
            }
        } else {
            if g.classes.edge(from_c, to_c).is_none()
                && g.classes.edge_count() >= limits.class_edges
            {
                g.set_full(&format!(
                    "the class edge table is full ({} edges; raise LOCKGRAPH_MAX_EDGES)",
                    limits.class_edges
                ));
                return out;
            }
            let rec = g
                .classes
                .record(from_c, to_c, hold, req, &gates, EdgeMeta::default);
            let filled = fill_origin(&mut g.classes, from_c, to_c, kind, &origin);
            if recording && filled {
                let (from_meta, to_meta) = if notify {
                    ((target.class(), target.kind()), (e.class, e.kind))
                } else {
                    ((e.class, e.kind), (target.class(), target.kind()))
                };
                let o = g
                    .classes
                    .edge(from_c, to_c)
                    .and_then(|edge| edge.meta.origin(kind_index(kind)).cloned());
                if let Some(o) = o {
                    out.lines.push(record::EdgeLine {
                        from: record::ClassDesc {
                            class: from_meta.0,
                            kind: from_meta.1,
                            instance: from_id,
                        },
                        to: record::ClassDesc {
                            class: to_meta.0,
                            kind: to_meta.1,
                            instance: to_id,
                        },
                        hold,
                        request: req,
                        gates: gates.clone(),
                        thread: o.thread,
                        held_at: o.held_at.map(Site::from),
                        requested_at: o.requested_at.map(Site::from),
                        backtrace: o.backtrace,
                    });
                }
            }
            if let Some(edge) = g.classes.edge_mut(from_c, to_c) {
                edge.meta.add_pair((from_id, to_id));
            }
            if let Some(cycle) = rec.cycle {
                let level = if g.instances_close(&cycle, from_id, to_id) {
                    Level::Instance
                } else {
                    Level::Class
                };
                if let Some(r) = g.report(false, &cycle, level, &origin) {
                    out.reports.push(r);
                }
            }
        }
    }
    out
}

fn e_info_for(classes: &Graph<NodeInfo, EdgeMeta>, c: NodeId) -> NodeInfo {
    classes.node(c).copied().unwrap_or(NodeInfo {
        kind: LockKind::Other,
        class: Class::Anonymous,
        instance: None,
    })
}

fn fill_origin(
    g: &mut Graph<NodeInfo, EdgeMeta>,
    a: NodeId,
    b: NodeId,
    kind: EdgeKinds,
    origin: &dyn Fn() -> Origin,
) -> bool {
    g.edge_mut(a, b)
        .is_some_and(|edge| edge.meta.fill(kind_index(kind), origin))
}

impl Global {
    /// Stops recording; the reason is said once the graph lock is released.
    fn set_full(&mut self, why: &str) {
        if !self.full {
            self.full = true;
            self.full_notice = Some(why.to_string());
        }
    }

    fn class_node(&mut self, key: ClassKey, info: NodeInfo, limits: &Limits) -> Option<NodeId> {
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

    fn instance_node(&mut self, id: u64, class: NodeInfo, limits: &Limits) -> Option<NodeId> {
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
        let n = self.instances.add_node(NodeInfo {
            instance: Some(id),
            ..class
        });
        self.instance_index.insert(id, n);
        Some(n)
    }

    /// Whether the sample instance pairs on the class cycle's edges chain from
    /// the new edge's target back to its source: the very same locks.
    fn instances_close(&self, cycle: &Cycle, from_id: u64, to_id: u64) -> bool {
        let n = cycle.nodes.len();
        let mut current: HashSet<u64> = HashSet::from([to_id]);
        for i in 1..n {
            let (a, b) = (cycle.nodes[i], cycle.nodes[(i + 1) % n]);
            let Some(edge) = self.classes.edge(a, b) else {
                return false;
            };
            current = edge
                .meta
                .pairs()
                .iter()
                .filter(|(x, _)| current.contains(x))
                .map(|&(_, y)| y)
                .collect();
            if current.is_empty() {
                return false;
            }
        }
        current.contains(&from_id)
    }

    fn report(
        &mut self,
        instance_graph: bool,
        cycle: &Cycle,
        level: Level,
        closing: &dyn Fn() -> Origin,
    ) -> Option<CycleReport> {
        let g = if instance_graph {
            &self.instances
        } else {
            &self.classes
        };
        // Each cycle is reported once.
        let key = cycle_key(
            instance_graph,
            cycle
                .nodes
                .iter()
                .map(|&n| match g.node(n).and_then(|i| i.instance) {
                    Some(id) => id,
                    None => n.index() as u64,
                }),
        );
        if !self.reported.insert(key) {
            return None;
        }
        let n = cycle.nodes.len();
        let locks = cycle
            .nodes
            .iter()
            .map(|&node| {
                let info = e_info_for(g, node);
                let mut lock = LockInfo::of_class(info.kind, info.class, info.instance);
                lock.site_classes = lock
                    .created
                    .map_or(0, |s| self.site_classes.get(&s).copied().unwrap_or(0));
                lock
            })
            .collect();
        let edges = (0..n)
            .map(|i| {
                // Stacks of the middle of a very long cycle are not printed;
                // not touching them keeps the report cheap (see the field doc).
                let keep_stack = n <= LONG_CYCLE || i < SHOWN_STACKS || i >= n - SHOWN_STACKS;
                let info = |o: &Origin, stack: bool| EdgeInfo {
                    from: i,
                    to: (i + 1) % n,
                    thread: o.thread.clone(),
                    hold: o.hold,
                    request: o.request,
                    held_at: o.held_at.map(Site::from),
                    requested_at: o.requested_at.map(Site::from),
                    backtrace: if stack { o.backtrace.clone() } else { None },
                    closing: i == 0,
                };
                if i == 0 {
                    return info(&closing(), true);
                }
                let (a, b) = (cycle.nodes[i], cycle.nodes[(i + 1) % n]);
                let kind = cycle.kinds[i];
                let stored = g.edge(a, b).and_then(|e| {
                    let wanted = kind_index(kind.iter().next().unwrap_or(kind));
                    e.meta.origin(wanted).or_else(|| e.meta.any_origin())
                });
                match stored {
                    Some(o) => info(o, keep_stack),
                    None => info(&closing(), keep_stack),
                }
            })
            .collect();
        Some(CycleReport {
            kind: ReportKind::LockOrderCycle,
            level,
            locks,
            edges,
        })
    }
}

/// The key reported cycles are remembered by: which graph, and the sorted
/// identities of the cycle's nodes, which are never reused (instance ids in
/// the instance graph, whose node slots are reused after a lock is dropped;
/// node indices in the class graph, whose classes are never removed). The
/// identities themselves, not a hash of them: two different cycles must
/// never be taken for one another (an additive hash once made {1, 4} and
/// {0, 5} the same cycle, and the second was never reported).
#[derive(Clone, PartialEq, Eq, Hash)]
struct CycleKey {
    instance_graph: bool,
    ids: Box<[u64]>,
}

fn cycle_key(instance_graph: bool, ids: impl Iterator<Item = u64>) -> CycleKey {
    let mut ids: Vec<u64> = ids.collect();
    ids.sort_unstable();
    CycleKey {
        instance_graph,
        ids: ids.into_boxed_slice(),
    }
}

/// The first recording of one lock-order edge, as the watchdog shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderOrigin {
    /// The thread that first recorded the edge.
    pub thread: String,
    /// Where that thread took the held lock.
    pub held_at: Option<Site>,
    /// Where it asked for the other one.
    pub requested_at: Option<Site>,
    /// That thread's stack then (program frames, resolved; empty when stacks
    /// were off, `LOCKGRAPH_BACKTRACE=0`).
    pub stack: Vec<String>,
}

/// What the lock-order graph knows of a cycle of locks `locks[0] -> locks[1]
/// -> ... -> locks[0]` (each given as instance id and class): the first
/// recording of each edge (`None`: never recorded), and whether the graph
/// reported that cycle as a potential deadlock.
pub(crate) fn order_context(locks: &[(u64, Class)]) -> (Vec<Option<OrderOrigin>>, bool) {
    let g = GLOBAL.lock();
    let n = locks.len();
    // Stacks are resolved after the graph lock is released.
    let origin = |o: &Origin| {
        (
            OrderOrigin {
                thread: o.thread.to_string(),
                held_at: o.held_at.map(Site::from),
                requested_at: o.requested_at.map(Site::from),
                stack: Vec::new(),
            },
            o.backtrace.clone(),
        )
    };
    let class_of = |&(id, class): &(u64, Class)| g.class_index.get(&class.key(id)).copied();
    let mut edges = Vec::with_capacity(n);
    // The cycle's nodes, in the class graph or (all one class) the instance
    // graph, for the reported-cycle key.
    let mut class_nodes = Vec::new();
    let mut instance_ids = Vec::new();
    for i in 0..n {
        let (a, b) = (&locks[i], &locks[(i + 1) % n]);
        let (ca, cb) = (class_of(a), class_of(b));
        let found = match (ca, cb) {
            (Some(x), Some(y)) if x == y => {
                instance_ids.push(a.0);
                let ia = g.instance_index.get(&a.0);
                let ib = g.instance_index.get(&b.0);
                ia.zip(ib)
                    .and_then(|(&ia, &ib)| g.instances.edge(ia, ib))
                    .and_then(|e| e.meta.any_origin().map(origin))
            }
            (Some(x), Some(y)) => {
                class_nodes.push(x);
                g.classes
                    .edge(x, y)
                    .and_then(|e| e.meta.any_origin().map(origin))
            }
            _ => None,
        };
        edges.push(found);
    }
    let complete = edges.iter().all(Option::is_some);
    let reported = complete
        && if class_nodes.len() == n {
            g.reported.contains(&cycle_key(
                false,
                class_nodes.iter().map(|c| c.index() as u64),
            ))
        } else if instance_ids.len() == n {
            g.reported
                .contains(&cycle_key(true, instance_ids.iter().copied()))
        } else {
            false
        };
    drop(g);
    let edges = edges
        .into_iter()
        .map(|e| {
            e.map(|(mut o, bt)| {
                if let Some(bt) = bt {
                    o.stack = bt.user_frames(8);
                }
                o
            })
        })
        .collect();
    (edges, reported)
}

/// Empties the graphs and the set of cycles reported (a new loom iteration).
#[cfg(loom)]
pub(crate) fn reset() {
    let mut g = GLOBAL.lock();
    g.classes = Graph::new();
    g.class_index.clear();
    g.instances = Graph::new();
    g.instance_index.clear();
    g.reported.clear();
    g.full = false;
    g.full_notice = None;
}

/// Removes a dropped lock from the instance graph.
pub(crate) fn forget_instance(id: u64) {
    let mut g = GLOBAL.lock();
    if let Some(n) = g.instance_index.remove(&id) {
        g.instances.remove_node(n);
    }
}

static OVERFLOW_WARNED: AtomicBool = AtomicBool::new(false);

pub(crate) fn warn_once_overflow() {
    if !OVERFLOW_WARNED.swap(true, Ordering::Relaxed) {
        crate::stderr::line(&format!(
            "lockgraph: a thread holds more than {} locks at once; deeper locks are not tracked",
            crate::state::MAX_HELD
        ));
    }
}
