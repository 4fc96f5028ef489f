//! Finding the cycles that can deadlock in a merged graph.
//!
//! The merged edges go into a [`lockgraph_graph::Graph`] (the runtime's own
//! graph, so the same strong-path rule for read locks and the same gate-lock
//! rule apply). Each strongly connected component that contains a cycle is
//! searched once, and its shortest deadlock-capable cycle is reported.

use lockgraph_graph::{EdgeKinds, Graph, NodeId};

use crate::merge::Merged;

/// One cycle that can deadlock.
///
/// The cycle is rotated to start at the lock whose stable key sorts first;
/// edge `i` runs from `locks[i]` to `locks[(i + 1) % len]`, and the last edge,
/// back to `locks[0]`, is the one reported as closing the cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CycleFinding {
    /// The stable identity of the cycle, from class ids (see [`cycle_key`]).
    pub key: String,
    /// `false` when the search ran out of budget and ignored the read-lock and
    /// gate rules for this cycle.
    pub exact: bool,
    /// Class indices into [`Merged::classes`], in cycle order.
    pub locks: Vec<usize>,
    /// Edge indices into [`Merged::edges`], edge `i` leaving `locks[i]`.
    pub edges: Vec<usize>,
    /// For every edge, the dependency kind that makes the cycle a strong path.
    pub kinds: Vec<EdgeKinds>,
}

/// The stable key of a cycle through `locks` (in cycle order, already
/// rotated): `cycle:` and the classes' stable keys joined by ` -> `.
pub fn cycle_key(merged: &Merged, locks: &[usize]) -> String {
    let mut key = String::from("cycle:");
    for (i, &l) in locks.iter().enumerate() {
        if i > 0 {
            key.push_str(" -> ");
        }
        key.push_str(merged.classes[l].stable_key());
    }
    key
}

/// Every strongly connected component's shortest deadlock-capable cycle,
/// sorted by key.
pub fn find_cycles(merged: &Merged) -> Vec<CycleFinding> {
    let mut g: Graph<usize, usize> = Graph::new();
    let nodes: Vec<NodeId> = (0..merged.classes.len()).map(|i| g.add_node(i)).collect();
    for (i, e) in merged.edges.iter().enumerate() {
        g.insert(nodes[e.from], nodes[e.to], e.kinds, &e.gates, || i);
    }
    let mut found = Vec::new();
    for comp in g.cyclic_components() {
        let Some(cycle) = g.shortest_cycle_in(&comp) else {
            continue;
        };
        let n = cycle.nodes.len();
        let locks: Vec<usize> = cycle
            .nodes
            .iter()
            .map(|&id| *g.node(id).unwrap_or(&id.index()))
            .collect();
        let start = (0..n)
            .min_by(|&a, &b| {
                let (ca, cb) = (&merged.classes[locks[a]], &merged.classes[locks[b]]);
                (ca.stable_key(), locks[a]).cmp(&(cb.stable_key(), locks[b]))
            })
            .unwrap_or(0);
        let locks: Vec<usize> = (0..n).map(|i| locks[(start + i) % n]).collect();
        let kinds: Vec<EdgeKinds> = (0..n).map(|i| cycle.kinds[(start + i) % n]).collect();
        let edges: Vec<usize> = (0..n)
            .filter_map(|i| merged.edge_index(locks[i], locks[(i + 1) % n]))
            .collect();
        if edges.len() != n {
            continue;
        }
        found.push(CycleFinding {
            key: cycle_key(merged, &locks),
            exact: cycle.exact,
            locks,
            edges,
            kinds,
        });
    }
    found.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.locks.cmp(&b.locks)));
    found
}

/// A short, stable, hexadecimal fingerprint of a key (64-bit FNV-1a), for
/// SARIF's `partialFingerprints` and for humans comparing runs.
pub fn fingerprint(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
