//! Adding one acquisition's edges to the graphs: the self-deadlock check, then for each
//! held lock the class edge (or, between two locks of one class, the
//! instance edge), its record line and the cycle it closes.

use super::*;
use lockgraph_graph::gates::{gate, GateMode};

/// What one [`add_edges`] call produced.
pub(crate) struct Added {
    /// Built into [`CycleReport`]s where they are used (see `found`).
    pub(crate) reports: Vec<Raised>,
    /// Indices of held entries now in the instance graph.
    pub(crate) marked: Vec<usize>,
    /// New class edges for the record file (`LOCKGRAPH_RECORD`).
    pub(crate) lines: Vec<record::EdgeLine>,
    /// Cycles found that no edge line shows (an instance-graph cycle: all
    /// of one class, between which none is written; a class cycle's edges
    /// are all in the record), for its `cycle` lines.
    pub(crate) cycles: Vec<record::CycleLine>,
}

static BACKTRACES: OnceLock<bool> = OnceLock::new();

/// Whether a stack is captured with each new edge (`LOCKGRAPH_BACKTRACE`).
fn backtraces_on() -> bool {
    // Under loom, threads are coroutines on small stacks: no unwinding.
    *BACKTRACES.get_or_init(|| !cfg!(loom) && crate::env::BACKTRACE.switch())
}

/// The stack shown for a new edge between two locks of one class (an
/// instance edge): the one this thread captured for the first instance edge
/// of that class taken at the same two sites with the same kind. Locks made
/// and nested by the same code (per-object locks, a generic helper) give a
/// new instance edge per pair of objects; unwinding the stack for each (tens
/// of thousands of instructions) would make the pair cost what the stack
/// costs, and the stack of the first pair names the same code.
pub(super) fn instance_edge_stack(
    class: Class,
    held_at: Option<&'static Location<'static>>,
    requested_at: Option<&'static Location<'static>>,
    kind: EdgeKinds,
) -> Option<Backtrace> {
    type Key = ((usize, usize), usize, usize, usize);
    /// More entries than this and the cache starts over (a program taking
    /// same-class pairs at that many distinct sites).
    const MAX_ENTRIES: usize = 4096;
    crate::sync::thread_local_const! {
        static STACKS: std::cell::RefCell<Option<HashMap<Key, Backtrace, FastBuildHasher>>> =
            const { std::cell::RefCell::new(None) };
    }
    if !backtraces_on() {
        return None;
    }
    let addr = |l: Option<&'static Location<'static>>| l.map_or(0, |l| l as *const _ as usize);
    let key = (
        class.identity().unwrap_or((0, 0)),
        addr(held_at),
        addr(requested_at),
        kind_index(kind),
    );
    crate::sync::thread_local_const! {
        /// The last entry used: per-object locks nest at one pair of sites.
        static LAST: std::cell::RefCell<Option<(Key, Backtrace)>> =
            const { std::cell::RefCell::new(None) };
    }
    if let Ok(Some(b)) = LAST.try_with(|l| {
        l.borrow()
            .as_ref()
            .and_then(|(k, b)| (*k == key).then(|| b.clone()))
    }) {
        return Some(b);
    }
    let cached = STACKS.try_with(|c| {
        let mut c = c.borrow_mut();
        let map = c.get_or_insert_with(HashMap::default);
        if let Some(b) = map.get(&key) {
            return b.clone();
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.entry(key).or_insert_with(Backtrace::capture).clone()
    });
    let b = cached.unwrap_or_else(|_| Backtrace::capture());
    let _ = LAST.try_with(|l| *l.borrow_mut() = Some((key, b.clone())));
    Some(b)
}

crate::sync::thread_local_const! {
    /// [`thread_label`]'s label, made at the thread's first edge.
    static LABEL: std::cell::Cell<Option<Arc<str>>> = const { std::cell::Cell::new(None) };
}

/// This thread's name (else its id), made once per thread and shared by every
/// edge it records, so a long report does not touch one allocation per edge.
pub(super) fn thread_label() -> Arc<str> {
    let make = || -> Arc<str> { crate::sync::thread_name().into() };
    LABEL
        .try_with(|l| {
            let label = l.take().unwrap_or_else(make);
            l.set(Some(Arc::clone(&label)));
            label
        })
        .unwrap_or_else(|_| make())
}

/// In a forked child, on the thread that forked: its label is made again
/// at its next edge (an unnamed thread's names its OS thread id, and the
/// parent's id is another process's thread).
pub(super) fn forget_thread_label() {
    let _ = LABEL.try_with(|l| l.set(None));
}

/// Adds the edges of one acquisition-like event `op` of `target`
/// (instance `id`, asked as `request` at `site`) by a thread holding
/// `held`; returns the reports, the held entries put in the instance graph
/// and the record lines.
pub(crate) fn add_edges(
    held: &[Held],
    target: &LockMeta,
    id: u64,
    request: Request,
    site: Option<&'static Location<'static>>,
    op: Op,
    own: OwnHolds,
) -> Added {
    // With `send_guard` a guard may be held by another thread than the
    // one whose stack keeps it (until it is released there): no edge
    // takes gates.
    let gates = if cfg!(feature = "send_guard") {
        Gates::None
    } else {
        Gates::Held
    };
    let actor = Actor {
        label: thread_label(),
        gates,
    };
    add_edges_by(actor, held, target, id, request, site, op, own)
}

/// Who an event is by: its label in reports, and which of its holds its
/// edges take as gates.
pub(crate) struct Actor {
    pub(crate) label: Arc<str>,
    pub(crate) gates: Gates,
}

/// Which locks an event's edges take as gates (`docs/design.md`, "The
/// cycle search": a gate must be held by the actor, in its mode, for as
/// long as it waits, and by no other actor of a deadlock in a mode that
/// excludes it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Gates {
    /// The thread's other holds, exclusive, upgradable, or an `RwLock`'s
    /// reads (for a notification, those taken before the edge's lock).
    Held,
    /// None: the build has `send_guard` (a guard sent to another thread
    /// stays on its taker's stack until released there), or the actor is a
    /// task or an async owner. Tasks polled on one
    /// thread share its sync holds, futures joined in one task share its
    /// set, and an owned guard moved to another task stays in its taker's
    /// set until released: none of them is sure to be held by this actor
    /// alone while it waits.
    None,
}

/// How the actor holds its locks, where its held entries do not say.
#[derive(Clone, Copy, Default)]
pub(crate) struct OwnHolds {
    /// The request is an upgradable read, and the actor holds the lock
    /// only as plain reads.
    pub(crate) read_then_upgradable: bool,
    /// Bit `i`: held entry `i` is an upgradable read (a shared hold that
    /// excludes writers and other upgradable reads: a gate, and no read
    /// waits for it).
    pub(crate) upgradable: u64,
    /// The request is an upgradable read (it waits as an exclusive one;
    /// reports and records say which it was).
    pub(crate) upgradable_request: bool,
}

impl OwnHolds {
    /// Whether held entry `i` is an upgradable read.
    fn upgradable(self, i: usize) -> bool {
        i < 64 && self.upgradable >> i & 1 == 1
    }
}

/// [`add_edges`] for an acquisition by `actor` (a task, named by the
/// caller) rather than by this thread.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_edges_by(
    actor: Actor,
    held: &[Held],
    target: &LockMeta,
    id: u64,
    request: Request,
    site: Option<&'static Location<'static>>,
    op: Op,
    own: OwnHolds,
) -> Added {
    let Actor {
        label: thread,
        gates: with_gates,
    } = actor;
    crate::sync::enter_iteration();
    let mut out = Added {
        reports: Vec::new(),
        marked: Vec::new(),
        lines: Vec::new(),
        cycles: Vec::new(),
    };
    let selfs = match op {
        Op::Acquire => self_deadlock(held, target, id, request, site, &thread, own),
        // An upgrade waits for every other reader, this thread's own plain
        // reads of the lock too: certain (found by a review: the read under
        // the upgradable read, no longer reported itself, was the only
        // sign of it).
        Op::Upgrade => {
            let upgraded =
                (held.iter().enumerate()).rposition(|(i, e)| e.id == id && own.upgradable(i));
            let (others, rest) = without_hold(held, own, upgraded);
            self_deadlock(&others, target, id, request, site, &thread, rest)
        }
        // A bump lets its hold go and takes it back; the thread's other
        // holds of the lock stay: an upgradable read's bump over the
        // thread's own read waits for the writer it hands the lock to,
        // which waits for that read, and a read's bump over another read
        // queues behind a writer that waits for the other (found by a
        // review).
        Op::Bump => {
            let bumped = (held.iter().enumerate()).rposition(|(i, e)| {
                e.id == id
                    && match request {
                        Request::Exclusive => e.hold == Hold::Exclusive || own.upgradable(i),
                        _ => e.hold == Hold::Shared && !own.upgradable(i),
                    }
            });
            let (others, mut rest) = without_hold(held, own, bumped);
            rest.read_then_upgradable = bumped.is_some_and(|b| own.upgradable(b))
                && others.iter().any(|e| e.id == id)
                && (others.iter().enumerate())
                    .all(|(i, e)| e.id != id || (e.hold == Hold::Shared && !rest.upgradable(i)));
            self_deadlock(&others, target, id, request, site, &thread, rest)
        }
        _ => None,
    };
    if let Some(r) = selfs {
        // The self-deadlock is the news; edges to it add nothing. A
        // delivered one is said once per mistake: the same class, modes
        // and sites again (another shard, another thread) is the same
        // report. One that panics, aborts or is captured goes out each
        // time (each panic is the caller's, each capture a test's), and
        // so does one with no site at all (no code to tell it by).
        let e = &r.edges[0];
        let repeat = (e.held_at.is_some() || e.requested_at.is_some())
            && crate::policy::cycles_delivered()
            && !Locked::new().first_self_report(self_key(&r, target, id));
        if !repeat {
            out.reports.push(Raised::ready(r));
        }
        return out;
    }
    // Read before the graph lock: a bad variable is said on stderr.
    let limits = Limits::current();
    let recording = record::on();
    let mut g = Locked::new();
    // Edges other threads buffered (`young`) before this one's search.
    young::flush(&mut g);
    if g.full {
        return out;
    }
    let target_info = NodeInfo {
        kind: target.kind(),
        class: target.class(),
        instance: None,
    };
    let Some(target_class) = g.class_node(target.class(), id, target_info, &limits) else {
        return out;
    };
    // The held lock an edge does not start from: the condvar's own mutex,
    // or the lock being upgraded.
    let exclude = match op {
        Op::CondvarWait(m) => Some(m),
        Op::Upgrade | Op::Bump => Some(id),
        _ => None,
    };
    for (i, e) in held.iter().enumerate() {
        if e.id == id
            || Some(e.id) == exclude
            || !e.kind.orders(target.kind())
            || (op == Op::Notify && !e.kind.orders_notification())
        {
            continue;
        }
        let e_info = NodeInfo {
            kind: e.kind,
            class: e.class,
            instance: None,
        };
        let Some(e_class) = g.class_node(e.class, e.id, e_info, &limits) else {
            return out;
        };
        // A notification runs "condvar -> held lock"; everything else
        // "held -> target", from the held entry's mode: an upgradable read
        // is a hold of its own in the edge's kind (no plain read waits
        // for it, `lockgraph_graph::Request::waits_for`).
        let notify = op == Op::Notify;
        let (hold, req) = if notify {
            (Hold::Exclusive, Request::Exclusive)
        } else if own.upgradable(i) {
            (Hold::Upgradable, request)
        } else {
            (e.hold, request)
        };
        let edge = NewEdge {
            from: if notify {
                (target_class, id)
            } else {
                (e_class, e.id)
            },
            to: if notify {
                (e_class, e.id)
            } else {
                (target_class, id)
            },
            kinds: if notify {
                (target.kind(), e.kind)
            } else {
                (e.kind, target.kind())
            },
            hold,
            request: req,
            // The gates are the locks the thread holds while it waits for
            // the edge's end, each with its mode (two threads cannot hold
            // a lock in modes that exclude each other): every other hold
            // for "held -> target"; for a notification, which stands for
            // the notifier blocked on the way to `e`, only those taken
            // before `e`. An exclusive hold, an upgradable read (which
            // excludes writes and other upgradable reads), and a read of
            // an `RwLock` (which excludes its writes: under one lock's
            // write on one side and its read on the other, a cycle cannot
            // close). An upgradable read is one even where it is the
            // edge's start, or the lock an upgrade waits on: `u =
            // a.upgradable_read(); m.lock(); upgrade(u)` records `a -> m`
            // and `m -> a`, both under `a`'s upgradable read, which two
            // threads cannot hold at once.
            gates: held
                .iter()
                .enumerate()
                .filter_map(|(j, o)| {
                    let upgradable = own.upgradable(j);
                    let upgraded = op == Op::Upgrade && o.id == id;
                    let mode = if upgradable {
                        GateMode::Upgradable
                    } else if o.hold == Hold::Exclusive {
                        GateMode::Exclusive
                    } else if o.kind == LockKind::RwLock {
                        GateMode::Shared
                    } else {
                        return None;
                    };
                    (with_gates == Gates::Held
                        && (if notify { j < i } else { j != i || upgradable })
                        && ((o.id != id && Some(o.id) != exclude) || (upgraded && upgradable)))
                        .then(|| gate(o.id, mode))
                })
                .collect(),
        };
        let same_class = edge.from.0 == edge.to.0;
        let origin = || FirstSeen {
            thread: thread.clone(),
            hold,
            request: req,
            upgradable_request: own.upgradable_request && req == Request::Exclusive,
            held_at: e.site,
            requested_at: site,
            backtrace: if same_class {
                instance_edge_stack(e.class, e.site, site, edge.kind())
            } else {
                backtraces_on().then(Backtrace::capture)
            },
        };
        let done = if same_class {
            // Same class: instance order decides.
            let done = g.instance_edge(&edge, &origin, &limits, &mut out);
            if done.is_some() {
                out.marked.push(i);
                target.mark_in_graph();
            }
            done
        } else {
            let classes = if notify {
                ((target.class(), target.kind()), (e.class, e.kind))
            } else {
                ((e.class, e.kind), (target.class(), target.kind()))
            };
            let line = recording.then_some(classes);
            g.class_edge(&edge, &origin, line, &limits, &mut out)
        };
        if done.is_none() {
            // A table is full: no edge is added from now on.
            return out;
        }
    }
    out
}

/// `held` without entry `skip` (the hold an upgrade or a bump takes again),
/// and `own`'s upgradable bits for what is left.
fn without_hold(held: &[Held], own: OwnHolds, skip: Option<usize>) -> (Vec<Held>, OwnHolds) {
    let mut rest = OwnHolds {
        upgradable_request: own.upgradable_request,
        ..OwnHolds::default()
    };
    let mut others = Vec::with_capacity(held.len());
    for (i, e) in held.iter().enumerate().filter(|&(i, _)| Some(i) != skip) {
        if own.upgradable(i) && others.len() < 64 {
            rest.upgradable |= 1 << others.len();
        }
        others.push(*e);
    }
    (others, rest)
}

/// A re-acquisition of a lock this thread holds (the graph has no self
/// edges): anything but a recursive read of a shared hold, or a read of a
/// lock this thread holds an upgradable read of (a writer takes the writer
/// bit, which queues new reads, only once no upgradable read is held:
/// parking_lot's `UPGRADABLE_BIT` excludes `WRITER_BIT`). Certain unless
/// both are reads, or the request is an upgradable read on a plain read
/// (`read_then_upgradable`): it waits only for a writer queued in between
/// or another thread's upgradable read.
fn self_deadlock(
    held: &[Held],
    target: &LockMeta,
    id: u64,
    request: Request,
    site: Option<&'static Location<'static>>,
    thread: &Arc<str>,
    own: OwnHolds,
) -> Option<CycleReport> {
    let upgradable_held = held
        .iter()
        .enumerate()
        .any(|(i, e)| e.id == id && own.upgradable(i));
    if upgradable_held && request != Request::Exclusive {
        return None;
    }
    let read_then_upgradable = own.read_then_upgradable;
    let e = held
        .iter()
        .filter(|e| e.id == id)
        .find(|e| !(request == Request::RecursiveRead && e.hold == Hold::Shared))?;
    // An async lock asked for again by its holder waits for itself only if
    // the guard is the requesting future's own (or the thread's, for a
    // `blocking_lock`): futures joined in one task or `block_on` (`join!`,
    // `select!`, `join_all`) are one owner here, and another one's guard
    // is dropped when it goes on (found by an outside test: a correct
    // `join!` of two futures taking turns was called certain).
    let joined = matches!(target.kind(), LockKind::AsyncMutex | LockKind::AsyncRwLock);
    let certain = !joined
        && (e.hold == Hold::Exclusive
            || (request == Request::Exclusive
                && !(read_then_upgradable && e.hold == Hold::Shared)));
    Some(CycleReport {
        kind: ReportKind::SelfDeadlock { certain },
        level: Level::Instance,
        locks: vec![LockInfo::of_class(target.kind(), target.class(), Some(id))].into(),
        edges: vec![EdgeInfo {
            from: 0,
            to: 0,
            thread: thread.clone(),
            hold: e.hold,
            request,
            upgradable_request: own.upgradable_request && request == Request::Exclusive,
            held_at: e.site.map(Site::from),
            requested_at: site.map(Site::from),
            backtrace: backtraces_on().then(Backtrace::capture),
            closing: true,
        }]
        .into(),
    })
}

/// What makes two self-deadlock reports the same ([`Global::first_self_report`]):
/// the lock's class and kind, the hold and the request, and their sites.
/// The thread and the instance are not in it: a helper that reads a lock it
/// already read-holds does so on every object of the class and on every
/// thread that calls it, and one report says where to change the code.
#[derive(PartialEq, Eq, Hash)]
pub(super) struct SelfKey {
    class: ClassKey,
    kind: LockKind,
    /// Whether the report says the deadlock is certain (its words follow).
    certain: bool,
    hold: Hold,
    request: Request,
    held_at: Option<Site>,
    requested_at: Option<Site>,
}

/// `r`'s [`SelfKey`] (`r` made by [`self_deadlock`] for instance `id` of
/// `target`).
fn self_key(r: &CycleReport, target: &LockMeta, id: u64) -> SelfKey {
    let e = &r.edges[0];
    SelfKey {
        class: target.class().key(id),
        kind: target.kind(),
        certain: matches!(r.kind, ReportKind::SelfDeadlock { certain: true }),
        hold: e.hold,
        request: e.request,
        held_at: e.held_at,
        requested_at: e.requested_at,
    }
}

/// One edge to record: (class node, instance id) at each end.
struct NewEdge {
    from: (NodeId, u64),
    to: (NodeId, u64),
    /// The kinds of the two locks (one class may hold several kinds: each
    /// instance keeps its own).
    kinds: (LockKind, LockKind),
    hold: Hold,
    request: Request,
    gates: Vec<u64>,
}

impl NewEdge {
    fn kind(&self) -> EdgeKinds {
        EdgeKinds::of(self.hold, self.request)
    }
}

impl Global {
    /// Whether a self-deadlock with `key` is reported now: the first time,
    /// and every time once this many keys are kept (a program with that
    /// many distinct mistakes, or locks of no class: a repeated report
    /// loses nothing, a missing one would).
    fn first_self_report(&mut self, key: SelfKey) -> bool {
        const MAX_KEPT: usize = 4096;
        if self.self_reported.len() >= MAX_KEPT {
            return !self.self_reported.contains(&key);
        }
        self.self_reported.insert(key)
    }

    /// The first recording of `kind` on the edge `x` of the instance graph
    /// (`instance_graph`) or the class graph, made from `origin` and stored
    /// when the edge had none of that kind; `None` when it had one.
    fn first_recording(
        &mut self,
        instance_graph: bool,
        x: lockgraph_graph::EdgeId,
        kind: EdgeKinds,
        origin: &dyn Fn() -> FirstSeen,
    ) -> Option<Origin> {
        let k = kind_index(kind);
        if !self.edge_meta(instance_graph, x)?.lacks(k) {
            return None;
        }
        let o = self.origins.intern(origin());
        self.edge_meta(instance_graph, x)?.fill(o.clone());
        Some(o)
    }

    /// The metadata of the edge `x` of the instance graph
    /// (`instance_graph`) or of the class graph.
    fn edge_meta(
        &mut self,
        instance_graph: bool,
        x: lockgraph_graph::EdgeId,
    ) -> Option<&mut EdgeMeta> {
        let edge = if instance_graph {
            self.instances.edge_at_mut(x)
        } else {
            self.classes.edge_at_mut(x)
        };
        edge.map(|e| &mut e.meta)
    }

    /// Records `edge` between two locks of one class in the instance graph.
    /// `None` when the instance table is full.
    fn instance_edge(
        &mut self,
        edge: &NewEdge,
        origin: &dyn Fn() -> FirstSeen,
        limits: &Limits,
        out: &mut Added,
    ) -> Option<()> {
        let a = self.instance_node(edge.from.1, edge.from.0, edge.kinds.0, limits)?;
        let b = self.instance_node(edge.to.1, edge.from.0, edge.kinds.1, limits)?;
        let rec = self.instances.add_edge(
            a,
            b,
            edge.hold,
            edge.request,
            &edge.gates,
            EdgeMeta::default,
        );
        if let (true, Some(x)) = (rec.change != Change::None, rec.edge) {
            // Its first recording of this kind, kept on the edge.
            self.first_recording(true, x, edge.kind(), origin);
        }
        if let Some(cycle) = rec.cycle {
            // The closing request's own stack, taken here, on its thread: an
            // instance edge's stored stack is the first one this thread
            // captured at the same two sites (`instance_edge_stack`), which
            // may be another pair's of the class, called from elsewhere.
            let mut own = origin();
            if backtraces_on() {
                own.backtrace = Some(Backtrace::capture());
            }
            let closing = self.origins.intern(own);
            if let Some(r) = self.report(true, &cycle, Level::Instance, &closing) {
                // No edge line shows it (see `Added::cycles`).
                out.cycles
                    .extend(record::on().then(|| r.record_line()).flatten());
                out.reports.push(r);
            }
        }
        Some(())
    }

    /// Records `edge` between two classes; with `line` (the two ends'
    /// classes and kinds), a first recording of its kind also becomes a
    /// record line. `None` when the edge table is full.
    fn class_edge(
        &mut self,
        edge: &NewEdge,
        origin: &dyn Fn() -> FirstSeen,
        line: Option<((Class, LockKind), (Class, LockKind))>,
        limits: &Limits,
        out: &mut Added,
    ) -> Option<()> {
        let ((from_c, from_id), (to_c, to_id)) = (edge.from, edge.to);
        // Only a new edge can overflow the table.
        if self.classes.edge_count() >= limits.class_edges
            && self.classes.edge(from_c, to_c).is_none()
        {
            self.set_full(&format!(
                "the class edge table is full ({} edges; raise LOCKGRAPH_MAX_EDGES)",
                limits.class_edges
            ));
            return None;
        }
        let rec = self.classes.add_edge(
            from_c,
            to_c,
            edge.hold,
            edge.request,
            &edge.gates,
            EdgeMeta::default,
        );
        // The edge just recorded, through its handle: its first recording of
        // this kind, the record line, a sample instance pair.
        let made = rec
            .edge
            .and_then(|x| self.first_recording(false, x, edge.kind(), origin));
        if let Some(e) = rec.edge.and_then(|x| self.classes.edge_at_mut(x)) {
            e.meta.add_pair((from_id, to_id));
        }
        // A record line for the first recording of each kind, and for one
        // that lost a gate (`Widened` without a new kind): the checker
        // intersects the gates of an edge's lines, so that its gate set is
        // the graph's.
        let lost_gate = made.is_none() && rec.change == Change::Widened;
        let made = match made {
            None if lost_gate && line.is_some() => Some(self.origins.intern(origin())),
            made => made,
        };
        let first = made.clone().filter(|_| line.is_some());
        if let (Some(o), Some((from, to))) = (first, line) {
            out.lines.push(record::EdgeLine {
                from: record::ClassDesc {
                    class: from.0,
                    kind: from.1,
                    instance: from_id,
                },
                to: record::ClassDesc {
                    class: to.0,
                    kind: to.1,
                    instance: to_id,
                },
                hold: edge.hold,
                request: edge.request,
                upgradable_request: o.upgradable_request,
                gates: edge.gates.clone(),
                thread: o.thread.clone(),
                held_at: o.held_at.map(Site::from),
                requested_at: o.requested_at.map(Site::from),
                backtrace: o.backtrace.clone(),
            });
        }
        if let Some(cycle) = rec.cycle {
            let level = if self.instances_close(&cycle, from_id, to_id) {
                Level::Instance
            } else {
                Level::Class
            };
            let closing = made.unwrap_or_else(|| self.origins.intern(origin()));
            if let Some(r) = self.report(false, &cycle, level, &closing) {
                out.reports.push(r);
            }
        }
        Some(())
    }
}
