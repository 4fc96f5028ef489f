use std::collections::HashMap;

use super::*;
use proptest::prelude::*;

pub(crate) const E: Hold = Hold::Exclusive;
pub(crate) const S: Hold = Hold::Shared;
pub(crate) const U: Hold = Hold::Upgradable;
pub(crate) const X: Request = Request::Exclusive;
pub(crate) const RD: Request = Request::Read;
pub(crate) const RR: Request = Request::RecursiveRead;

/// A graph of `n` nodes, and their ids.
pub(crate) fn graph(n: usize) -> (Graph<usize, ()>, Vec<NodeId>) {
    let mut g = Graph::new();
    let ids = (0..n).map(|i| g.add_node(i)).collect();
    (g, ids)
}

#[test]
fn abba_is_a_cycle_and_repeats_change_nothing() {
    let (mut g, n) = graph(2);
    let r = g.add_edge(n[0], n[1], E, X, &[], || ());
    assert_eq!(r.change, Change::Added);
    assert!(r.cycle.is_none());
    assert_eq!(
        g.add_edge(n[0], n[1], E, X, &[], || ()).change,
        Change::None
    );
    let r = g.add_edge(n[1], n[0], E, X, &[], || ());
    let c = r.cycle.unwrap();
    assert_eq!(c.nodes, vec![n[1], n[0]]);
    assert!(c.exact);
    assert_eq!(g.edge_count(), 2);
}

#[test]
fn successors_are_the_edges_leaving_a_node() {
    let (mut g, n) = graph(3);
    g.add_edge(n[0], n[1], E, X, &[], || ());
    g.add_edge(n[0], n[2], S, RD, &[], || ());
    g.add_edge(n[1], n[0], E, X, &[], || ());
    let mut out: Vec<NodeId> = g.successors(n[0]).map(|(to, _)| to).collect();
    out.sort();
    assert_eq!(out, vec![n[1], n[2]]);
    assert_eq!(g.successors(n[2]).count(), 0);
}

#[test]
fn the_shortest_cycle_through_the_new_edge_is_chosen() {
    // 0 -> 1 -> 2 -> 3 -> 4 and 1 -> 4: closing 4 -> 0 gives 4,0,1 (len 3).
    let (mut g, n) = graph(5);
    for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 4), (1, 4)] {
        assert!(g.add_edge(n[a], n[b], E, X, &[], || ()).cycle.is_none());
    }
    let c = g.add_edge(n[4], n[0], E, X, &[], || ()).cycle.unwrap();
    assert_eq!(c.nodes, vec![n[4], n[0], n[1]]);
}

#[test]
fn self_edges_are_never_stored() {
    let (mut g, n) = graph(1);
    let r = g.add_edge(n[0], n[0], E, X, &[], || ());
    assert_eq!(r.change, Change::None);
    assert!(r.edge.is_none());
    assert_eq!(g.edge_count(), 0);
}

#[test]
fn add_edge_hands_back_the_edge_it_touched() {
    let (mut g, n) = graph(3);
    let mut g2: Graph<usize, u32> = Graph::new();
    let m: Vec<NodeId> = (0..3).map(|i| g2.add_node(i)).collect();
    let first = g2.add_edge(m[0], m[1], E, X, &[7], || 1).edge.unwrap();
    g2.add_edge(m[1], m[2], E, X, &[], || 2);
    // Recording again (a new kind, a gate lost) touches the same edge.
    let again = g2.add_edge(m[0], m[1], S, RR, &[], || 99);
    assert_eq!(again.change, Change::Widened);
    assert_eq!(again.edge, Some(first));
    let e = g2.edge_at(first).unwrap();
    assert_eq!(e.meta, 1);
    assert!(e.gates().is_empty());
    assert!(e.kinds().contains(EdgeKinds::SR));
    g2.edge_at_mut(first).unwrap().meta = 5;
    assert_eq!(g2.edge(m[0], m[1]).unwrap().meta, 5);
    // An unknown node is no edge.
    let r = g.add_edge(n[0], NodeId::new(40), E, X, &[], || ());
    assert!(r.edge.is_none() && r.change == Change::None);
}

#[test]
fn a_common_gate_lock_serialises_the_cycle() {
    let (mut g, n) = graph(2);
    g.add_edge(n[0], n[1], E, X, &[7], || ());
    assert!(g.add_edge(n[1], n[0], E, X, &[7, 9], || ()).cycle.is_none());
    // A later recording of 0 -> 1 without the gate widens the edge: now a cycle.
    let r = g.add_edge(n[0], n[1], E, X, &[], || ());
    assert_eq!(r.change, Change::Widened);
    assert!(r.cycle.is_some());
}

#[test]
fn different_gates_do_not_serialise() {
    let (mut g, n) = graph(3);
    g.add_edge(n[0], n[1], E, X, &[7], || ());
    g.add_edge(n[1], n[2], E, X, &[8], || ());
    assert!(g.add_edge(n[2], n[0], E, X, &[9], || ()).cycle.is_some());
}

/// A gate's mode: a write on one edge and a read on the other exclude
/// each other (no deadlock); two reads do not (a real cycle); an edge
/// recorded under the write and then under the read keeps the read, and
/// that weakening is a change that finds the cycle.
#[test]
fn a_gate_held_for_write_and_for_read_serialises_two_reads_do_not() {
    use crate::gates::{gate, GateMode};
    let (w, r) = (gate(7, GateMode::Exclusive), gate(7, GateMode::Shared));
    let (mut g, n) = graph(2);
    g.add_edge(n[0], n[1], E, X, &[w], || ());
    assert!(g.add_edge(n[1], n[0], E, X, &[r], || ()).cycle.is_none());
    let again = g.add_edge(n[1], n[0], E, X, &[w], || ());
    assert_eq!(
        again.change,
        Change::None,
        "a write over a read keeps the read"
    );
    let r2 = g.add_edge(n[0], n[1], E, X, &[r], || ());
    assert_eq!(r2.change, Change::Widened);
    assert!(r2.cycle.is_some(), "two reads of the gate do not serialise");
    assert_eq!(g.edge(n[0], n[1]).unwrap().gates(), &[r]);
}

/// A gate held on two of the edges (not all three) serialises the two
/// threads that would take them: no deadlock.
#[test]
fn a_gate_on_two_of_the_edges_serialises_the_cycle() {
    let (mut g, n) = graph(3);
    g.add_edge(n[0], n[1], E, X, &[7], || ());
    g.add_edge(n[1], n[2], E, X, &[7], || ());
    assert!(g.add_edge(n[2], n[0], E, X, &[8], || ()).cycle.is_none());
    // Once 1 -> 2 is also taken without the gate, the cycle is real.
    let r = g.add_edge(n[1], n[2], E, X, &[], || ());
    assert_eq!(r.change, Change::Widened);
    assert_eq!(r.cycle.map(|c| c.len()), Some(3));
}

/// `a -> b` and `b -> a` under gate 100, `b -> c` and `c -> b` under 101:
/// each 2-cycle is gated, and the walk `c b a b` has no gate common to all
/// its edges but holds each gate on two of them, so nothing is reported;
/// an ungated `a -> b` makes `a b a` real again.
#[test]
fn a_walk_through_one_node_twice_under_two_gates_is_no_cycle() {
    let (mut g, n) = graph(3);
    let (a, b, c) = (n[0], n[1], n[2]);
    assert!(g.add_edge(a, b, E, X, &[100], || ()).cycle.is_none());
    assert!(g.add_edge(b, a, E, X, &[100], || ()).cycle.is_none());
    assert!(g.add_edge(b, c, E, X, &[101], || ()).cycle.is_none());
    assert!(g.add_edge(c, b, E, X, &[101], || ()).cycle.is_none());
    for (x, y) in [(a, b), (b, a), (b, c), (c, b)] {
        assert!(g.cycle_through(x, y).is_none(), "{x:?} -> {y:?}");
    }
    assert!(g.shortest_cycle_in(&[a, b, c]).is_none());
    let r = g.add_edge(a, b, E, X, &[], || ());
    assert_eq!(r.cycle.map(|c| c.nodes), Some(vec![a, b]));
}

/// The exact search runs when the first pass's walk holds a gate twice,
/// and finds a longer walk that does not.
#[test]
fn the_exact_gate_search_finds_a_longer_cycle() {
    let (mut g, n) = graph(4);
    // 0 -> 1 -> 0 is gated by 5 on both edges; 0 -> 1 -> 2 -> 0 is not.
    g.add_edge(n[1], n[0], E, X, &[5], || ());
    g.add_edge(n[1], n[2], E, X, &[], || ());
    g.add_edge(n[2], n[0], E, X, &[], || ());
    let c = g.add_edge(n[0], n[1], E, X, &[5], || ()).cycle.unwrap();
    assert_eq!(c.nodes, vec![n[0], n[1], n[2]]);
    assert!(c.exact);
}

#[test]
fn removed_nodes_take_their_edges_along() {
    let (mut g, n) = graph(3);
    g.add_edge(n[0], n[1], E, X, &[], || ());
    g.add_edge(n[1], n[2], E, X, &[], || ());
    assert_eq!(g.remove_node(n[1]), Some(1));
    assert_eq!(g.edge_count(), 0);
    assert!(g.add_edge(n[2], n[0], E, X, &[], || ()).cycle.is_none());
    assert!(!g.reachable(n[0], n[2]));
}

#[test]
fn reachability_meets_in_the_middle() {
    let (mut g, n) = graph(1000);
    for w in n.windows(2) {
        g.add_edge(w[0], w[1], E, X, &[], || ());
    }
    assert!(g.reachable(n[0], n[999]));
    assert!(!g.reachable(n[999], n[0]));
    let fresh = g.add_node(1000);
    assert!(g.add_edge(fresh, n[0], E, X, &[], || ()).cycle.is_none());
    let c = g.add_edge(n[999], n[0], E, X, &[], || ()).cycle.unwrap();
    assert_eq!(c.len(), 1000);
}

// ---- property test against a brute-force reference -------------------------

#[derive(Clone, Debug)]
struct Rec {
    from: usize,
    to: usize,
    hold: Hold,
    request: Request,
    gates: Vec<u64>,
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        0..5usize,
        0..5usize,
        prop_oneof![Just(E), Just(S), Just(U)],
        prop_oneof![Just(X), Just(RD), Just(RR)],
        proptest::collection::vec(prop_oneof![Just(100u64), Just(101u64)], 0..2),
    )
        .prop_map(|(from, to, hold, request, gates)| Rec {
            from,
            to,
            hold,
            request,
            gates,
        })
}

/// The reference model: every edge as (kinds, gates), kept by brute force.
#[derive(Default)]
struct Naive {
    edges: HashMap<(usize, usize), (EdgeKinds, Vec<u64>)>,
}

impl Naive {
    fn record(&mut self, r: &Rec) {
        if r.from == r.to {
            return;
        }
        let kind = EdgeKinds::of(r.hold, r.request);
        let e = self
            .edges
            .entry((r.from, r.to))
            .or_insert_with(|| (kind, r.gates.clone()));
        e.0 = e.0.union(kind);
        e.1.retain(|g| r.gates.contains(g));
    }

    /// Whether the closed walk `nodes` (edge i from nodes[i] to nodes[i+1],
    /// wrapping) can deadlock: every edge exists, some choice of kinds is a
    /// strong path all the way round, and no gate is held on two of its
    /// edges (an edge taken twice counts twice).
    fn valid(&self, nodes: &[usize]) -> bool {
        let len = nodes.len();
        let mut edges = Vec::new();
        for i in 0..len {
            match self.edges.get(&(nodes[i], nodes[(i + 1) % len])) {
                Some(e) => edges.push(e),
                None => return false,
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in &edges {
            for g in &e.1 {
                if !seen.insert(*g) {
                    return false;
                }
            }
        }
        let choices: Vec<Vec<EdgeKinds>> = edges.iter().map(|e| e.0.iter().collect()).collect();
        let mut idx = vec![0usize; len];
        loop {
            let pick: Vec<EdgeKinds> = (0..len).map(|i| choices[i][idx[i]]).collect();
            let strong = (0..len).all(|i| {
                let (a, b) = (pick[i], pick[(i + 1) % len]);
                a.request().waits_for(b.hold())
            });
            if strong {
                return true;
            }
            let mut i = 0;
            loop {
                if i == len {
                    return false;
                }
                idx[i] += 1;
                if idx[i] < choices[i].len() {
                    break;
                }
                idx[i] = 0;
                i += 1;
            }
        }
    }

    /// The length of the shortest valid closed *walk* through `from -> to`
    /// (nodes may repeat): a breadth-first search over (node, the kind the
    /// last edge was taken with, the gates held so far) for each kind of
    /// the first edge, every kind of every edge tried.
    fn shortest_walk(&self, from: usize, to: usize) -> Option<usize> {
        use std::collections::{BTreeSet, HashSet, VecDeque};
        let (kinds0, gates0) = self.edges.get(&(from, to))?;
        let mut best: Option<usize> = None;
        for k0 in kinds0.iter() {
            let start_gates: BTreeSet<u64> = gates0.iter().copied().collect();
            let start = (to, k0, start_gates);
            let mut seen = HashSet::from([start.clone()]);
            let mut queue = VecDeque::from([(start, 1usize)]);
            while let Some(((node, last, held), len)) = queue.pop_front() {
                if node == from {
                    if last.request().waits_for(k0.hold()) {
                        best = Some(best.map_or(len, |b| b.min(len)));
                        break;
                    }
                    continue;
                }
                for (&(a, b), (kinds, gates)) in &self.edges {
                    if a != node || gates.iter().any(|g| held.contains(g)) {
                        continue;
                    }
                    for k in kinds.iter() {
                        if !last.request().waits_for(k.hold()) {
                            continue;
                        }
                        let mut h = held.clone();
                        h.extend(gates.iter().copied());
                        let next = (b, k, h);
                        if seen.insert(next.clone()) {
                            queue.push_back((next, len + 1));
                        }
                    }
                }
            }
        }
        best
    }

    /// The length of the shortest valid *simple* cycle through `from -> to`.
    fn shortest_simple(&self, from: usize, to: usize) -> Option<usize> {
        fn dfs(n: &Naive, path: &mut Vec<usize>, from: usize, best: &mut Option<usize>) {
            let last = *path.last().unwrap();
            if last == from {
                let cycle: Vec<usize> = std::iter::once(from)
                    .chain(path[..path.len() - 1].iter().copied())
                    .collect();
                if n.valid(&cycle) && best.is_none_or(|b| cycle.len() < b) {
                    *best = Some(cycle.len());
                }
                return;
            }
            let nexts: Vec<usize> = n
                .edges
                .keys()
                .filter(|(a, _)| *a == last)
                .map(|(_, b)| *b)
                .collect();
            for b in nexts {
                if !path.contains(&b) {
                    path.push(b);
                    dfs(n, path, from, best);
                    path.pop();
                }
            }
        }
        let mut best = None;
        dfs(self, &mut vec![to], from, &mut best);
        best
    }
}

/// Whether the cycle's edges are the ones from each of its nodes to the
/// next, in order.
fn edges_are_the_walk<N, M>(g: &Graph<N, M>, c: &Cycle) -> bool {
    let n = c.nodes.len();
    c.edges.len() == n
        && (0..n)
            .all(|i| g.g.edge_endpoints(c.edges[i]) == Some((c.nodes[i], c.nodes[(i + 1) % n])))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn cycle_search_matches_brute_force(recs in proptest::collection::vec(rec(), 1..14)) {
        let (mut g, n) = graph(5);
        let mut naive = Naive::default();
        for r in &recs {
            naive.record(r);
            let got = g.add_edge(n[r.from], n[r.to], r.hold, r.request, &r.gates, || ());
            if got.change == Change::None {
                continue;
            }
            let want = naive.shortest_simple(r.from, r.to);
            // The search finds exactly the shortest valid closed walk.
            prop_assert_eq!(
                got.cycle.as_ref().map(|c| c.len()),
                naive.shortest_walk(r.from, r.to),
                "{:?}",
                got.cycle.as_ref().map(|c| &c.nodes)
            );
            match (&got.cycle, want) {
                (None, None) => {}
                (Some(c), want) => {
                    let walk: Vec<usize> = c.nodes.iter().map(|x| x.index()).collect();
                    prop_assert!(naive.valid(&walk), "reported walk {walk:?} cannot deadlock");
                    prop_assert!(edges_are_the_walk(&g, c), "edges {:?} of {walk:?}", c.edges);
                    prop_assert_eq!(walk[0], r.from);
                    prop_assert_eq!(walk[1], r.to);
                    // The search finds the shortest valid closed walk, so it is
                    // never longer than the shortest simple cycle, and when
                    // the walk is simple it is that cycle's length.
                    if let Some(m) = want {
                        prop_assert!(c.len() <= m);
                    }
                    let mut sorted = walk.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    if sorted.len() == walk.len() {
                        prop_assert_eq!(Some(c.len()), want);
                    }
                }
                (None, Some(m)) => prop_assert!(false, "missed a cycle of length {m}"),
            }
        }
    }

    #[test]
    fn plain_graphs_get_the_exact_shortest_cycle(edges in proptest::collection::vec((0..6usize, 0..6usize), 1..20)) {
        let (mut g, n) = graph(6);
        let mut naive = Naive::default();
        for (a, b) in edges {
            let r = Rec { from: a, to: b, hold: E, request: X, gates: vec![] };
            naive.record(&r);
            let got = g.add_edge(n[a], n[b], E, X, &[], || ());
            if got.change != Change::None {
                prop_assert_eq!(got.cycle.map(|c| c.len()), naive.shortest_simple(a, b));
            }
        }
    }
}

// ---- whole-graph analysis: insert, components, bounded search ---------------

#[test]
fn insert_merges_kinds_and_gates_without_searching() {
    let (mut g, n) = graph(2);
    assert_eq!(
        g.insert(n[0], n[1], EdgeKinds::EN, &[2, 1, 2], || ()),
        Change::Added
    );
    assert_eq!(g.edge(n[0], n[1]).unwrap().gates(), &[1, 2]);
    assert_eq!(
        g.insert(n[0], n[1], EdgeKinds::SN, &[2], || ()),
        Change::Widened
    );
    let e = g.edge(n[0], n[1]).unwrap();
    assert_eq!(e.kinds(), EdgeKinds::EN.union(EdgeKinds::SN));
    assert_eq!(e.gates(), &[2]);
    assert_eq!(
        g.insert(n[0], n[1], EdgeKinds::EN, &[2, 5], || ()),
        Change::None
    );
    // The reverse edge closes a cycle, but insert only stores it.
    assert_eq!(
        g.insert(n[1], n[0], EdgeKinds::EN, &[], || ()),
        Change::Added
    );
    assert_eq!(
        g.insert(n[1], n[1], EdgeKinds::EN, &[], || ()),
        Change::None
    );
    assert_eq!(
        g.insert(n[1], n[0], EdgeKinds::default(), &[], || ()),
        Change::None
    );
    assert_eq!(g.edge_count(), 2);
    assert_eq!(g.cycle_through(n[1], n[0]).unwrap().nodes, vec![n[1], n[0]]);
}

#[test]
fn cyclic_components_are_the_sccs_with_a_cycle() {
    let (mut g, n) = graph(6);
    for (a, b) in [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 3)] {
        g.insert(n[a], n[b], EdgeKinds::EN, &[], || ());
    }
    assert_eq!(
        g.cyclic_components(),
        vec![vec![n[0], n[1], n[2]], vec![n[3], n[4]]]
    );
    let (g, _) = graph(3);
    assert!(g.cyclic_components().is_empty());
}

#[test]
fn the_shortest_valid_cycle_of_a_component_is_found() {
    // 0 -> 1 -> 2 -> 0 and 1 <-> 2: the two-lock cycle wins.
    let (mut g, n) = graph(3);
    for (a, b) in [(0, 1), (1, 2), (2, 0), (2, 1)] {
        g.insert(n[a], n[b], EdgeKinds::EN, &[], || ());
    }
    let comp = g.cyclic_components().remove(0);
    let c = g.shortest_cycle_in(&comp).unwrap();
    assert_eq!(c.nodes, vec![n[1], n[2]]);
    assert!(c.exact);

    // Gate the two-lock cycle: the three-lock one is what can deadlock.
    let (mut g, n) = graph(3);
    g.insert(n[0], n[1], EdgeKinds::EN, &[], || ());
    g.insert(n[1], n[2], EdgeKinds::EN, &[9], || ());
    g.insert(n[2], n[0], EdgeKinds::EN, &[], || ());
    g.insert(n[2], n[1], EdgeKinds::EN, &[9], || ());
    let comp = g.cyclic_components().remove(0);
    let c = g.shortest_cycle_in(&comp).unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(c.nodes, vec![n[0], n[1], n[2]]);
}

#[test]
fn a_component_of_recursive_reads_has_no_deadlock() {
    let (mut g, n) = graph(2);
    g.insert(n[0], n[1], EdgeKinds::SR, &[], || ());
    g.insert(n[1], n[0], EdgeKinds::SR, &[], || ());
    let comps = g.cyclic_components();
    assert_eq!(comps.len(), 1);
    assert!(g.shortest_cycle_in(&comps[0]).is_none());
    // Nodes outside the graph are ignored.
    assert!(g.shortest_cycle_in(&[NodeId::new(40)]).is_none());
}

#[test]
fn bounded_search_stops_at_the_bound() {
    let (mut g, n) = graph(4);
    for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 0)] {
        g.insert(n[a], n[b], EdgeKinds::EN, &[], || ());
    }
    assert!(g.cycle_through_within(n[0], n[1], 3).is_none());
    assert!(g.cycle_through_within(n[0], n[1], 1).is_none());
    let c = g.cycle_through_within(n[0], n[1], 4).unwrap();
    assert_eq!(c.nodes, vec![n[0], n[1], n[2], n[3]]);
    assert!(g.cycle_through_within(n[1], n[0], usize::MAX).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn component_search_agrees_with_per_edge_search(recs in proptest::collection::vec(rec(), 1..16)) {
        let (mut g, n) = graph(5);
        let (mut inserted, _) = graph(5);
        let mut naive = Naive::default();
        for r in &recs {
            naive.record(r);
            g.add_edge(n[r.from], n[r.to], r.hold, r.request, &r.gates, || ());
            inserted.insert(n[r.from], n[r.to], EdgeKinds::of(r.hold, r.request), &r.gates, || ());
        }
        prop_assert_eq!(g.edge_count(), inserted.edge_count());
        let edges: Vec<(NodeId, NodeId)> = g.edges().map(|(a, b, _)| (a, b)).collect();
        for &(a, b) in &edges {
            let full = g.cycle_through(a, b);
            let bounded = inserted.cycle_through_within(a, b, usize::MAX);
            prop_assert_eq!(full.as_ref().map(|c| c.len()), bounded.as_ref().map(|c| c.len()));
            if let Some(c) = &full {
                prop_assert!(inserted.cycle_through_within(a, b, c.len()).is_some());
                prop_assert!(inserted.cycle_through_within(a, b, c.len() - 1).is_none());
            }
        }
        for comp in inserted.cyclic_components() {
            let want = edges
                .iter()
                .filter(|(a, b)| comp.contains(a) && comp.contains(b))
                .filter_map(|&(a, b)| g.cycle_through(a, b).map(|c| c.len()))
                .min();
            let got = inserted.shortest_cycle_in(&comp);
            prop_assert_eq!(got.as_ref().map(|c| c.len()), want);
            if let Some(c) = got {
                let walk: Vec<usize> = c.nodes.iter().map(|x| x.index()).collect();
                prop_assert!(naive.valid(&walk), "reported walk {walk:?} cannot deadlock");
                prop_assert!(edges_are_the_walk(&inserted, &c), "edges {:?} of {walk:?}", c.edges);
                prop_assert!(c.nodes.iter().all(|x| comp.contains(x)));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The dynamic topological order: while the graph keeps one, every edge
    /// follows it; it is given up exactly when an edge closes a cycle (no
    /// node is removed here); an edge it lets through without a search
    /// closes no cycle.
    #[test]
    fn the_topological_order_follows_every_edge_until_a_cycle(
        edges in proptest::collection::vec((0..12usize, 0..12usize), 1..40)
    ) {
        let (mut g, n) = graph(12);
        for &(a, b) in &edges {
            let rec = g.add_edge(n[a], n[b], Hold::Exclusive, Request::Exclusive, &[], || ());
            let cyclic = !g.cyclic_components().is_empty();
            prop_assert_eq!(g.ordered, !cyclic);
            if g.ordered {
                for (x, y, _) in g.edges() {
                    prop_assert!(g.ord[x.index()] < g.ord[y.index()]);
                }
                prop_assert!(rec.cycle.is_none());
            }
        }
    }
}

#[test]
fn removing_nodes_keeps_the_order_and_a_new_node_goes_last() {
    let (mut g, n) = graph(4);
    let add = |g: &mut Graph<usize, ()>, a: NodeId, b: NodeId| {
        g.add_edge(a, b, Hold::Exclusive, Request::Exclusive, &[], || ())
    };
    add(&mut g, n[2], n[1]);
    add(&mut g, n[1], n[0]);
    assert!(g.ordered);
    assert!(g.ord[n[2].index()] < g.ord[n[1].index()]);
    assert!(g.ord[n[1].index()] < g.ord[n[0].index()]);
    g.remove_node(n[1]);
    let m = g.add_node(9);
    assert!(g.ord[m.index()] > g.ord[n[0].index()]);
    assert!(add(&mut g, n[0], m).cycle.is_none());
    assert!(add(&mut g, m, n[2]).cycle.is_none());
    assert!(g.ordered);
    // n[2] -> n[0] closes n[0] -> m -> n[2].
    assert!(add(&mut g, n[2], n[0]).cycle.is_some());
    assert!(!g.ordered);
}

#[test]
fn the_fast_hasher_tells_short_strings_apart() {
    use std::hash::BuildHasher;
    let b = crate::FastBuildHasher::default();
    let words = [
        "",
        "a",
        "b",
        "ab",
        "ba",
        "abcdefgh",
        "abcdefghi",
        "abcdefgi",
        "abcdefgh\0",
    ];
    let mut hashes: Vec<u64> = words.iter().map(|w| b.hash_one(w)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), words.len());
}

/// The exact gate search has its own, smaller budget: past it the first
/// search's cycle, which holds a gate on two edges, is reported marked not
/// exact. Here every walk back to `s` ends with an edge under `H`, as the
/// closing edge `s -> t` is (no cycle can deadlock), and 18 layers of two
/// ways each, under gates found on two edges, make 2^18 gate sets.
#[test]
fn past_the_exact_search_budget_the_first_cycle_is_not_exact() {
    const H: u64 = 1;
    let layers = 18;
    let mut g: Graph<(), ()> = Graph::new();
    let s = g.add_node(());
    let t = g.add_node(());
    let mut x = t;
    let mut all_gates = Vec::new();
    for i in 0..layers {
        let (u, v, next) = (g.add_node(()), g.add_node(()), g.add_node(()));
        let (gu, gv) = (100 + 2 * i as u64, 101 + 2 * i as u64);
        all_gates.extend([gu, gv]);
        g.insert(x, u, EdgeKinds::EN, &[gu], || ());
        g.insert(x, v, EdgeKinds::EN, &[gv], || ());
        g.insert(u, next, EdgeKinds::EN, &[], || ());
        g.insert(v, next, EdgeKinds::EN, &[], || ());
        x = next;
    }
    g.insert(x, s, EdgeKinds::EN, &[H], || ());
    // Every layer's gates on a second edge, off every cycle.
    let (p, q) = (g.add_node(()), g.add_node(()));
    g.insert(p, q, EdgeKinds::EN, &all_gates, || ());
    g.insert(s, t, EdgeKinds::EN, &[H], || ());
    let c = g.cycle_through(s, t).expect("the first search's cycle");
    assert!(!c.exact, "{c:?}");
    assert_eq!(c.len(), 2 * layers + 2);
    // A few layers fit the budget: the exact search proves there is none.
    let mut small: Graph<(), ()> = Graph::new();
    let (s, t, u, v, w) = (
        small.add_node(()),
        small.add_node(()),
        small.add_node(()),
        small.add_node(()),
        small.add_node(()),
    );
    small.insert(t, u, EdgeKinds::EN, &[7], || ());
    small.insert(t, v, EdgeKinds::EN, &[8], || ());
    small.insert(u, w, EdgeKinds::EN, &[], || ());
    small.insert(v, w, EdgeKinds::EN, &[], || ());
    small.insert(w, s, EdgeKinds::EN, &[H], || ());
    small.insert(u, v, EdgeKinds::EN, &[7, 8], || ());
    small.insert(s, t, EdgeKinds::EN, &[H], || ());
    assert!(small.cycle_through(s, t).is_none());
}

/// The edge index agrees with petgraph's own lookup through random adds
/// and node removals (indices of removed nodes are reused).
#[test]
fn the_edge_index_agrees_with_the_graph() {
    let mut g: Graph<u32, ()> = Graph::new();
    let mut nodes: Vec<NodeId> = (0..40).map(|i| g.add_node(i)).collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for round in 0..4000 {
        let (a, b) = (nodes[next(nodes.len())], nodes[next(nodes.len())]);
        g.add_edge(a, b, Hold::Exclusive, Request::Exclusive, &[], || ());
        if round % 7 == 0 {
            let i = next(nodes.len());
            g.remove_node(nodes[i]);
            nodes[i] = g.add_node(round);
        }
    }
    for &a in &nodes {
        for &b in &nodes {
            assert_eq!(g.find_edge(a, b), g.g.find_edge(a, b), "{a:?} -> {b:?}");
        }
    }
    // Only hubs' edges are in the table.
    let hub_edges: usize = nodes
        .iter()
        .map(|&n| g.successors(n).count())
        .filter(|&d| d > hubs::DEGREE as usize)
        .sum();
    assert_eq!(g.hubs.table_len(), hub_edges);
}
