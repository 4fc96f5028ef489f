//! Adding one acquisition's edges to the graphs: the self-deadlock check, then for each
//! held lock the class edge (or, between two locks of one class, the
//! instance edge), its record line and the cycle it closes.

use super::*;

/// What one [`add_edges`] call produced.
pub(crate) struct Added {
    pub(crate) reports: Vec<CycleReport>,
    /// Indices of held entries now in the instance graph.
    pub(crate) marked: Vec<usize>,
    /// New class edges for the record file (`LOCKGRAPH_RECORD`).
    pub(crate) lines: Vec<record::EdgeLine>,
}

static BACKTRACES: OnceLock<bool> = OnceLock::new();

/// Whether a stack is captured with each new edge (`LOCKGRAPH_BACKTRACE`).
fn backtraces_on() -> bool {
    // Under loom, threads are coroutines on small stacks: no unwinding.
    *BACKTRACES.get_or_init(|| !cfg!(loom) && crate::env::BACKTRACE.switch())
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
) -> Added {
    crate::sync::enter_iteration();
    let mut out = Added {
        reports: Vec::new(),
        marked: Vec::new(),
        lines: Vec::new(),
    };
    let thread = thread_label();
    if op == Op::Acquire {
        if let Some(r) = self_deadlock(held, target, id, request, site, &thread) {
            // The self-deadlock is the news; edges to it add nothing.
            out.reports.push(r);
            return out;
        }
    }
    // Read before the graph lock: a bad variable is said on stderr.
    let limits = Limits::current();
    let recording = record::on();
    let mut g = Locked::new();
    if g.full {
        return out;
    }
    let target_info = NodeInfo {
        kind: target.kind(),
        class: target.class(),
        instance: None,
    };
    let Some(target_class) = g.class_node(target.class().key(id), target_info, &limits) else {
        return out;
    };
    // The held lock an edge does not start from: the condvar's own mutex,
    // or the lock being upgraded.
    let exclude = match op {
        Op::CondvarWait(m) => Some(m),
        Op::Upgrade => Some(id),
        _ => None,
    };
    for (i, e) in held.iter().enumerate() {
        if e.id == id || Some(e.id) == exclude || !e.kind.orders(target.kind()) {
            continue;
        }
        let e_info = NodeInfo {
            kind: e.kind,
            class: e.class,
            instance: None,
        };
        let Some(e_class) = g.class_node(e.class.key(e.id), e_info, &limits) else {
            return out;
        };
        // A notification runs "condvar -> held lock"; everything else
        // "held -> target".
        let notify = op == Op::Notify;
        let (hold, req) = if notify {
            (Hold::Exclusive, Request::Exclusive)
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
            hold,
            request: req,
            gates: held
                .iter()
                .enumerate()
                .filter(|(j, o)| {
                    *j != i && o.hold == Hold::Exclusive && o.id != id && Some(o.id) != exclude
                })
                .map(|(_, o)| o.id)
                .collect(),
        };
        let origin = || FirstSeen {
            thread: thread.clone(),
            hold,
            request: req,
            held_at: e.site,
            requested_at: site,
            backtrace: backtraces_on().then(Backtrace::capture),
        };
        let done = if edge.from.0 == edge.to.0 {
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

/// A re-acquisition of a lock this thread holds (the graph has no self
/// edges): anything but a recursive read of a shared hold.
fn self_deadlock(
    held: &[Held],
    target: &LockMeta,
    id: u64,
    request: Request,
    site: Option<&'static Location<'static>>,
    thread: &Arc<str>,
) -> Option<CycleReport> {
    let e = held
        .iter()
        .filter(|e| e.id == id)
        .find(|e| !(request == Request::RecursiveRead && e.hold == Hold::Shared))?;
    let certain = e.hold == Hold::Exclusive || request == Request::Exclusive;
    Some(CycleReport {
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
            requested_at: site.map(Site::from),
            backtrace: backtraces_on().then(Backtrace::capture),
            closing: true,
        }],
    })
}

/// One edge to record: (class node, instance id) at each end.
struct NewEdge {
    from: (NodeId, u64),
    to: (NodeId, u64),
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
    /// Records `edge` between two locks of one class in the instance graph.
    /// `None` when the instance table is full.
    fn instance_edge(
        &mut self,
        edge: &NewEdge,
        origin: &dyn Fn() -> FirstSeen,
        limits: &Limits,
        out: &mut Added,
    ) -> Option<()> {
        let info = e_info_for(&self.classes, edge.from.0);
        let a = self.instance_node(edge.from.1, info, limits)?;
        let b = self.instance_node(edge.to.1, info, limits)?;
        let rec = self.instances.add_edge(
            a,
            b,
            edge.hold,
            edge.request,
            &edge.gates,
            EdgeMeta::default,
        );
        if rec.change != Change::None {
            if let Some(e) = rec.edge.and_then(|x| self.instances.edge_at_mut(x)) {
                e.meta.fill(kind_index(edge.kind()), origin);
            }
        }
        if let Some(cycle) = rec.cycle {
            if let Some(r) = self.report(true, &cycle, Level::Instance, origin) {
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
        let k = kind_index(edge.kind());
        let mut first = None;
        if let Some(e) = rec.edge.and_then(|x| self.classes.edge_at_mut(x)) {
            if e.meta.fill(k, origin) && line.is_some() {
                first = e.meta.origin(k).cloned();
            }
            e.meta.add_pair((from_id, to_id));
        }
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
                gates: edge.gates.clone(),
                thread: o.thread,
                held_at: o.held_at.map(Site::from),
                requested_at: o.requested_at.map(Site::from),
                backtrace: o.backtrace,
            });
        }
        if let Some(cycle) = rec.cycle {
            let level = if self.instances_close(&cycle, from_id, to_id) {
                Level::Instance
            } else {
                Level::Class
            };
            if let Some(r) = self.report(false, &cycle, level, origin) {
                out.reports.push(r);
            }
        }
        Some(())
    }
}
