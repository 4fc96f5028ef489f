//! A cycle of the graphs as a report to raise ([`Raised`]): once per cycle,
//! with the first recording of each edge.

use super::*;
use std::collections::hash_map::Entry;

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
    ///
    /// One pass over the nodes and one over the edges, each reached by its
    /// index (the cycle carries its edges): a lock of the same class node
    /// and kind as the one before extends its run without a look at its
    /// class, and an edge whose only recording is the one before extends
    /// that run (a long instance cycle is a few runs).
    pub(super) fn report(
        &mut self,
        instance_graph: bool,
        cycle: &Cycle,
        level: Level,
        closing: &Origin,
    ) -> Option<Raised> {
        let n = cycle.nodes.len();
        let mut found = CycleFound::new(level);
        // The identities of the nodes (for the key, and an instance cycle's
        // report).
        let mut ids: Vec<u64> = Vec::with_capacity(n);
        if instance_graph {
            // The class node and kind of the previous lock.
            let mut last: Option<(NodeId, LockKind)> = None;
            for &node in &cycle.nodes {
                let here = self.instances.node(node).map(|i| (i.id, (i.class, i.kind)));
                if let Some((id, key)) = here {
                    if last == Some(key) {
                        ids.push(id);
                        found.repeat_lock();
                        continue;
                    }
                }
                let info = self.instance_info(node);
                ids.push(info.instance.unwrap_or(node.index() as u64));
                last = here.map(|(_, key)| key);
                self.push_lock(&mut found, info);
            }
        } else {
            for &node in &cycle.nodes {
                ids.push(node.index() as u64);
                let info = e_info_for(&self.classes, node);
                self.push_lock(&mut found, info);
            }
        }
        // Each cycle is reported once; whether it goes out is decided now,
        // under the policy of this moment.
        match self.reported.entry(cycle_key(instance_graph, &ids)) {
            Entry::Occupied(_) => return None,
            Entry::Vacant(v) => {
                // `nodes[0]` is the new edge's `from`.
                v.insert(FoundCycle {
                    out: crate::policy::cycle_goes_out(),
                    closed_from: ids[0],
                });
            }
        }
        if instance_graph {
            found.set_instances(ids);
        }
        found.push_edge(closing);
        let edge_at = |e| {
            if instance_graph {
                self.instances.edge_at(e)
            } else {
                self.classes.edge_at(e)
            }
        };
        for i in 1..n {
            let Some(edge) = cycle.edges.get(i).and_then(|&e| edge_at(e)) else {
                found.push_edge(closing);
                continue;
            };
            let stored = match (&edge.meta.first, &edge.meta.more) {
                // One recording: the one its kind would pick, or any.
                (Some(o), None) => Some(o),
                _ => {
                    let kind = cycle.kinds[i];
                    let wanted = kind_index(kind.iter().next().unwrap_or(kind));
                    edge.meta.origin(wanted).or_else(|| edge.meta.any_origin())
                }
            };
            found.push_edge(stored.unwrap_or(closing));
        }
        Some(Raised::found(found))
    }

    /// Appends the lock `info` to `found`, with its class's site count.
    fn push_lock(&self, found: &mut CycleFound, info: NodeInfo) {
        let site_classes = info
            .class
            .site()
            .map_or(0, |s| self.site_classes.get(&s).copied().unwrap_or(0));
        found.push_lock(info.kind, info.class, info.class.identity(), site_classes);
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
    CycleKey {
        instance_graph,
        ids: sorted(ids),
    }
}

/// `ids` sorted. A chain's cycle lists its locks in creation order, but
/// starting at the newest (the closing edge's tail): one ascending run,
/// rotated, which is put in order by two copies; others are sorted (the
/// stable sort merges runs: a cycle's ids are mostly a few ascending runs).
fn sorted(ids: &[u64]) -> Box<[u64]> {
    let mut descents = ids.windows(2).enumerate().filter(|(_, w)| w[0] > w[1]);
    let out: Vec<u64> = match (descents.next(), descents.next()) {
        (None, _) => ids.to_vec(),
        (Some((i, _)), None) if ids[ids.len() - 1] <= ids[0] => {
            let mut out = Vec::with_capacity(ids.len());
            out.extend_from_slice(&ids[i + 1..]);
            out.extend_from_slice(&ids[..=i]);
            out
        }
        _ => {
            let mut out = ids.to_vec();
            out.sort();
            out
        }
    };
    out.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::sorted;

    #[test]
    fn cycle_ids_are_sorted_for_the_key() {
        let cases: [&[u64]; 8] = [
            &[],
            &[7],
            &[1, 2, 3],
            &[9, 1, 2, 3],
            &[3, 4, 1, 2],
            &[2, 3, 1, 4],
            &[5, 1, 4, 2, 3],
            &[3, 2, 1],
        ];
        for ids in cases {
            let mut want = ids.to_vec();
            want.sort();
            assert_eq!(&*sorted(ids), &want[..], "{ids:?}");
        }
    }
}
