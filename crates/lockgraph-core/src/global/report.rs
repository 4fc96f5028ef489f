//! A cycle of the graphs as a report to raise ([`Raised`]): once per cycle,
//! with the first recording of each edge.

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

    /// The cycle as a report to raise, unless it was reported before: what
    /// the report says, taken from the graph now, compactly (see
    /// [`found`](super::found)).
    pub(super) fn report(
        &mut self,
        instance_graph: bool,
        cycle: &Cycle,
        level: Level,
        closing: &Origin,
    ) -> Option<Raised> {
        let n = cycle.nodes.len();
        // One pass over the nodes: their identities (for the key) and the
        // report's locks. The site count of the previous lock's class is
        // reused: an instance cycle's locks share one (a lookup hashes a
        // file name).
        let mut found = CycleFound::new(level);
        let mut ids: Vec<u64> = Vec::with_capacity(n);
        let mut last: Option<((usize, usize), usize)> = None;
        for &node in &cycle.nodes {
            let info = if instance_graph {
                self.instance_info(node)
            } else {
                e_info_for(&self.classes, node)
            };
            ids.push(info.instance.unwrap_or(node.index() as u64));
            let identity = info.class.identity();
            let site_classes = match (last, identity) {
                (Some((l, count)), Some(i)) if l == i => count,
                _ => info
                    .class
                    .site()
                    .map_or(0, |s| self.site_classes.get(&s).copied().unwrap_or(0)),
            };
            last = identity.map(|i| (i, site_classes));
            found.push_lock(info.kind, info.class, identity, site_classes);
        }
        // Each cycle is reported once.
        if !self.reported.insert(cycle_key(instance_graph, &ids)) {
            return None;
        }
        if instance_graph {
            found.set_instances(ids);
        }
        found.push_edge(closing);
        for i in 1..n {
            let (a, b) = (cycle.nodes[i], cycle.nodes[(i + 1) % n]);
            let kind = cycle.kinds[i];
            let edge = if instance_graph {
                self.instances.edge(a, b)
            } else {
                self.classes.edge(a, b)
            };
            let stored = edge.and_then(|e| {
                let wanted = kind_index(kind.iter().next().unwrap_or(kind));
                e.meta.origin(wanted).or_else(|| e.meta.any_origin())
            });
            found.push_edge(stored.unwrap_or(closing));
        }
        Some(Raised::found(found))
    }
}

/// The key reported cycles are remembered by: which graph, and the sorted
/// identities of the cycle's nodes, which are never reused (instance ids in
/// the instance graph, whose node slots are reused after a lock is dropped;
/// node indices in the class graph, whose classes are never removed). The
/// identities themselves, not a hash of them: two different cycles must
/// never be taken for one another (an additive hash once made {1, 4} and
/// {0, 5} the same cycle, and the second was never reported).
#[derive(Clone, PartialEq, Eq)]
pub(super) struct CycleKey {
    instance_graph: bool,
    ids: Box<[u64]>,
}

/// Hashed with one multiply per id ([`lockgraph_graph::FastHasher`]'s
/// step) and the result once through the set's hasher: a 10,000-lock
/// cycle's key would otherwise take the standard hasher 80,000 bytes.
/// Equality still compares every id.
impl std::hash::Hash for CycleKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut h = lockgraph_graph::FastHasher::default();
        for &id in self.ids.iter() {
            std::hash::Hasher::write_u64(&mut h, id);
        }
        state.write_u64(std::hash::Hasher::finish(&h));
        state.write_usize(self.ids.len());
        self.instance_graph.hash(state);
    }
}

pub(super) fn cycle_key(instance_graph: bool, ids: &[u64]) -> CycleKey {
    let mut ids: Box<[u64]> = ids.into();
    // The stable sort merges runs: a cycle's ids are mostly one or two
    // ascending runs (a chain's locks were made in order), which it sorts
    // in one pass where the unstable sort takes n log n.
    ids.sort();
    CycleKey {
        instance_graph,
        ids,
    }
}
