//! A cycle of the graphs as a [`CycleReport`]: once per cycle, with the
//! first recording of each edge.

use super::*;

impl Global {
    /// Whether the sample instance pairs on the class cycle's edges chain from
    /// the new edge's target back to its source: the very same locks.
    pub(super) fn instances_close(&self, cycle: &Cycle, from_id: u64, to_id: u64) -> bool {
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

    pub(super) fn report(
        &mut self,
        instance_graph: bool,
        cycle: &Cycle,
        level: Level,
        closing: &Origin,
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
                let info = |o: &FirstSeen, stack: bool| EdgeInfo {
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
                    return info(closing, true);
                }
                let (a, b) = (cycle.nodes[i], cycle.nodes[(i + 1) % n]);
                let kind = cycle.kinds[i];
                let stored = g.edge(a, b).and_then(|e| {
                    let wanted = kind_index(kind.iter().next().unwrap_or(kind));
                    e.meta.origin(wanted).or_else(|| e.meta.any_origin())
                });
                match stored {
                    Some(o) => info(o, keep_stack),
                    None => info(closing, keep_stack),
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
pub(super) struct CycleKey {
    instance_graph: bool,
    ids: Box<[u64]>,
}

pub(super) fn cycle_key(instance_graph: bool, ids: impl Iterator<Item = u64>) -> CycleKey {
    let mut ids: Vec<u64> = ids.collect();
    ids.sort_unstable();
    CycleKey {
        instance_graph,
        ids: ids.into_boxed_slice(),
    }
}
