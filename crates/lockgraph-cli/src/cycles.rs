//! Finding the cycles that can deadlock in a merged graph.
//!
//! Every strongly connected component of the class graph that contains a
//! cycle is searched for its shortest deadlock-capable cycle:
//!
//! 1. two classes taken in both orders, the common case and the shortest
//!    possible cycle, are looked up directly (a binary search per edge);
//! 2. otherwise a breadth-first search runs from each edge of the component
//!    in order, bounded by the best cycle so far. Once every edge leaving a
//!    class has been searched, every cycle through that class is known, so
//!    the class leaves the component, and with it every class that is left
//!    with no way in or no way out (trimming, linear over all removals).
//!    One long cycle therefore costs one search, not one per edge.
//!
//! The searches share a step budget per component (proportional to its
//! size) and per check. A component that exhausts it reports the shortest
//! cycle found so far, saying that a shorter one may exist, or, when none was
//! found yet, the plain shortest cycle through its first edge, marked not
//! exact (found ignoring the read-lock and gate rules).
//!
//! With a baseline, a component whose reported cycle is baselined is also
//! searched for a cycle through one of its edges that no baselined cycle
//! covers: such a cycle is new, and reported. [`CycleSearch::cover`] gives the
//! cycles `lockgraph baseline` writes, enough to cover every edge of a
//! component that lies on a deadlock-capable cycle.

use std::collections::HashSet;

use crate::graph::{ClassGraph, Components};
use crate::merge::Merged;
use crate::search::{can_deadlock, Found, Searcher, Walk};

/// Search steps (edges looked at) allowed for one component: this many per
/// edge of the component, plus [`COMPONENT_STEPS`].
const STEPS_PER_EDGE: u64 = 16;
/// The fixed part of a component's step budget.
const COMPONENT_STEPS: u64 = 1 << 22;
/// Search steps allowed for one whole check.
const CHECK_STEPS: u64 = 1 << 27;

/// One cycle that can deadlock.
///
/// The cycle is rotated to start at the lock whose stable key sorts first;
/// edge `i` runs from `locks[i]` to `locks[(i + 1) % len]`, and the last edge,
/// back to `locks[0]`, is the one reported as closing the cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FoundCycle {
    /// The component (index into [`Components::list`]) it lies in.
    pub(crate) component: usize,
    /// The stable identity of the cycle, from class ids (see [`cycle_key`]).
    pub(crate) key: String,
    /// `false` when the search ran out of budget and ignored the read-lock
    /// and gate rules for this cycle.
    pub(crate) exact: bool,
    /// Class indices into [`Merged::classes`], in cycle order.
    pub(crate) locks: Vec<usize>,
    /// Edge indices into [`Merged::edges`], edge `i` leaving `locks[i]`.
    pub(crate) edges: Vec<usize>,
    /// What the reader should know about how it was found.
    pub(crate) notes: Vec<String>,
}

/// The stable key of a cycle through `locks` (in cycle order, already
/// rotated): `cycle:` and the classes' stable keys joined by ` -> `.
pub(crate) fn cycle_key(merged: &Merged, locks: &[usize]) -> String {
    let mut key = String::from("cycle:");
    for (i, &l) in locks.iter().enumerate() {
        if i > 0 {
            key.push_str(" -> ");
        }
        key.push_str(merged.classes[l].stable_key());
    }
    key
}

/// What the baseline tolerates, as the cycle search needs it.
pub(crate) trait Tolerance {
    /// Whether some baselined cycle has the edge `from -> to` (stable keys).
    fn covers(&self, from: &str, to: &str) -> bool;
    /// How many baselined cycles lie in component `comp`.
    fn in_component(&self, comp: usize) -> usize;
}

/// The cycle searches of one check.
pub(crate) struct CycleSearch<'g, 'm> {
    g: &'g ClassGraph<'m>,
    comps: Components,
    searcher: Searcher<'g, 'm>,
    /// Which classes the current search may visit.
    inside: Vec<bool>,
    indeg: Vec<u32>,
    outdeg: Vec<u32>,
}

impl<'g, 'm> CycleSearch<'g, 'm> {
    /// Finds the graph's components.
    pub(crate) fn new(g: &'g ClassGraph<'m>) -> CycleSearch<'g, 'm> {
        let n = g.nodes();
        CycleSearch {
            g,
            comps: g.components(),
            searcher: Searcher::new(g, CHECK_STEPS),
            inside: vec![false; n],
            indeg: vec![0; n],
            outdeg: vec![0; n],
        }
    }

    /// The cyclic components.
    pub(crate) fn components(&self) -> &Components {
        &self.comps
    }

    /// The edges between classes of component `c`, in order.
    fn component_edges(&self, c: usize) -> Vec<usize> {
        let comp = self.comps.of.as_slice();
        let mut out = Vec::new();
        for &u in &self.comps.list[c] {
            for e in self.g.out(u as usize) {
                if comp[self.g.target(e)] == c as u32 {
                    out.push(e);
                }
            }
        }
        out
    }

    fn set_inside(&mut self, c: usize, on: bool) {
        for &v in &self.comps.list[c] {
            self.inside[v as usize] = on;
        }
    }

    fn component_budget(&self, edges: usize) -> u64 {
        STEPS_PER_EDGE * edges as u64 + COMPONENT_STEPS
    }

    /// Runs `f` with this component's share of the budget, then returns
    /// what it left unspent to the check's budget.
    fn with_budget<T>(&mut self, edges: usize, f: impl FnOnce(&mut Self) -> T) -> (T, bool) {
        let total = self.searcher.budget;
        let mine = self.component_budget(edges).min(total);
        self.searcher.budget = mine;
        let out = f(self);
        let left = self.searcher.budget;
        let exhausted = left == 0;
        self.searcher.budget = total - (mine - left);
        (out, exhausted)
    }

    /// Every component's shortest deadlock-capable cycle, sorted by key.
    pub(crate) fn shortest_cycles(&mut self) -> Vec<FoundCycle> {
        let mut found: Vec<FoundCycle> = (0..self.comps.list.len())
            .filter_map(|c| self.shortest_in(c))
            .collect();
        found.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.locks.cmp(&b.locks)));
        found
    }

    /// The shortest deadlock-capable cycle of component `c`.
    pub(crate) fn shortest_in(&mut self, c: usize) -> Option<FoundCycle> {
        let edges = self.component_edges(c);
        if let Some(w) = self.two_cycle(&edges) {
            return Some(self.finish(c, w, Vec::new()));
        }
        self.set_inside(c, true);
        let (best, exhausted) = self.with_budget(edges.len(), |s| s.search_with_removal(c));
        self.set_inside(c, false);
        match best {
            Some(w) => {
                let notes = if exhausted {
                    vec![format!(
                        "the search of this component ({} locks, {} edges) stopped at its step \
                         budget: a shorter cycle may exist in it",
                        self.comps.list[c].len(),
                        edges.len()
                    )]
                } else {
                    Vec::new()
                };
                Some(self.finish(c, w, notes))
            }
            None if exhausted => {
                let w = self.plain_cycle(c, edges[0]);
                Some(self.finish(c, w, Vec::new()))
            }
            None => None,
        }
    }

    /// The first edge `(a, b)` of `edges` (in order) whose reverse exists
    /// and makes a deadlock-capable two-lock cycle.
    fn two_cycle(&self, edges: &[usize]) -> Option<Walk> {
        let g = self.g;
        edges.iter().find_map(|&e| {
            let (a, b) = (g.source(e), g.target(e));
            let back = g.find(b, a)?;
            can_deadlock(g, &[e, back]).then(|| Walk {
                nodes: vec![a, b],
                edges: vec![e, back],
                exact: true,
            })
        })
    }

    /// The search of step 2 (see the module docs). `inside` marks the
    /// component on entry and is cleared for removed classes.
    fn search_with_removal(&mut self, c: usize) -> Option<Walk> {
        let nodes = self.comps.list[c].clone();
        for &v in &nodes {
            let v = v as usize;
            self.indeg[v] = 0;
            self.outdeg[v] = 0;
        }
        for &u in &nodes {
            for e in self.g.out(u as usize) {
                let t = self.g.target(e);
                if self.inside[t] {
                    self.outdeg[u as usize] += 1;
                    self.indeg[t] += 1;
                }
            }
        }
        let mut best: Option<Walk> = None;
        for &u in &nodes {
            let u = u as usize;
            if !self.inside[u] {
                continue;
            }
            for e in self.g.out(u) {
                let t = self.g.target(e);
                if !self.inside[t] {
                    continue;
                }
                let limit = best.as_ref().map_or(usize::MAX, |b| b.edges.len() - 1);
                match self.searcher.through(e, limit, &self.inside, true) {
                    Found::Walk(w) => best = Some(w),
                    Found::Nothing => {}
                    Found::OverBudget => return best,
                }
                // No two-lock cycle can deadlock (step 1): three is the least.
                if best.as_ref().is_some_and(|b| b.edges.len() <= 3) {
                    return best;
                }
            }
            self.remove(u);
        }
        best
    }

    /// Takes `u` out of the search, and every class left without a way in
    /// or a way out.
    fn remove(&mut self, u: usize) {
        let mut queue = vec![u];
        self.inside[u] = false;
        while let Some(x) = queue.pop() {
            for e in self.g.out(x) {
                let t = self.g.target(e);
                if self.inside[t] {
                    self.indeg[t] -= 1;
                    if self.indeg[t] == 0 {
                        self.inside[t] = false;
                        queue.push(t);
                    }
                }
            }
            for e in self.g.incoming(x) {
                let s = self.g.source(e);
                if self.inside[s] {
                    self.outdeg[s] -= 1;
                    if self.outdeg[s] == 0 {
                        self.inside[s] = false;
                        queue.push(s);
                    }
                }
            }
        }
    }

    /// The plain shortest cycle through `e` inside component `c`, ignoring
    /// the read-lock and gate rules: linear, and never over budget (the
    /// component is strongly connected, so it exists).
    fn plain_cycle(&mut self, c: usize, e: usize) -> Walk {
        self.set_inside(c, true);
        let saved = std::mem::replace(&mut self.searcher.budget, u64::MAX);
        let w = match self.searcher.through(e, usize::MAX, &self.inside, false) {
            Found::Walk(w) => w,
            // Unreachable in a strongly connected component; the edge and
            // its reverse path are what the caller asked for in any case.
            Found::Nothing | Found::OverBudget => Walk {
                nodes: vec![self.g.source(e)],
                edges: vec![e],
                exact: false,
            },
        };
        self.searcher.budget = saved;
        self.set_inside(c, false);
        w
    }

    /// With a baseline that tolerates component `c`'s shortest cycle: the
    /// shortest deadlock-capable cycle through an edge of `c` that no
    /// baselined cycle covers, with a note saying what else the component
    /// holds; `None` when there is none.
    pub(crate) fn new_in_baselined(
        &mut self,
        c: usize,
        baseline: &dyn Tolerance,
    ) -> Option<FoundCycle> {
        let merged = self.g.merged();
        let edges = self.component_edges(c);
        let uncovered: Vec<usize> = edges
            .iter()
            .copied()
            .filter(|&e| {
                let me = &merged.edges[e];
                !baseline.covers(
                    merged.classes[me.from].stable_key(),
                    merged.classes[me.to].stable_key(),
                )
            })
            .collect();
        if uncovered.is_empty() {
            return None;
        }
        self.set_inside(c, true);
        let (best, exhausted) = self.with_budget(edges.len(), |s| {
            let mut best: Option<Walk> = None;
            for &e in &uncovered {
                let limit = best.as_ref().map_or(usize::MAX, |b| b.edges.len() - 1);
                match s.searcher.through(e, limit, &s.inside, true) {
                    Found::Walk(w) => best = Some(w),
                    Found::Nothing => {}
                    Found::OverBudget => break,
                }
                if best.as_ref().is_some_and(|b| b.edges.len() == 2) {
                    break;
                }
            }
            best
        });
        self.set_inside(c, false);
        let walk = match (best, exhausted) {
            (Some(w), _) => w,
            (None, true) => self.plain_cycle(c, uncovered[0]),
            (None, false) => return None,
        };
        let n = baseline.in_component(c);
        let mut notes = vec![format!(
            "this component also holds {n} baselined cycle{}; {} of its {} edges are in none of them",
            if n == 1 { "" } else { "s" },
            uncovered.len(),
            edges.len()
        )];
        if exhausted && walk.exact {
            notes.push(
                "the search stopped at its step budget: a shorter new cycle may exist in this component"
                    .to_string(),
            );
        }
        Some(self.finish(c, walk, notes))
    }

    /// The cycles that cover component `c` for a baseline: `first` (the
    /// component's reported cycle), then for each edge no cycle so far
    /// covers, the shortest deadlock-capable cycle through it (the plain one
    /// once the budget is spent). Edges on no such cycle stay uncovered.
    pub(crate) fn cover(&mut self, c: usize, first: &FoundCycle) -> Vec<FoundCycle> {
        let edges = self.component_edges(c);
        let mut covered: HashSet<usize> = first.edges.iter().copied().collect();
        let mut out = Vec::new();
        self.set_inside(c, true);
        let (walks, _) = self.with_budget(edges.len(), |s| {
            let mut walks = Vec::new();
            for &e in &edges {
                if covered.contains(&e) {
                    continue;
                }
                let w = match s.searcher.through(e, usize::MAX, &s.inside, true) {
                    Found::Walk(w) => w,
                    Found::Nothing => continue,
                    Found::OverBudget => {
                        let saved = std::mem::replace(&mut s.searcher.budget, u64::MAX);
                        let plain = s.searcher.through(e, usize::MAX, &s.inside, false);
                        s.searcher.budget = saved;
                        match plain {
                            Found::Walk(w) => w,
                            _ => continue,
                        }
                    }
                };
                covered.extend(w.edges.iter().copied());
                walks.push(w);
            }
            walks
        });
        self.set_inside(c, false);
        for w in walks {
            out.push(self.finish(c, w, Vec::new()));
        }
        out
    }

    /// Rotates a walk to start at the lock whose stable key sorts first and
    /// names it.
    fn finish(&self, component: usize, w: Walk, notes: Vec<String>) -> FoundCycle {
        let merged = self.g.merged();
        let n = w.nodes.len();
        let start = (0..n)
            .min_by(|&a, &b| {
                let (ca, cb) = (&merged.classes[w.nodes[a]], &merged.classes[w.nodes[b]]);
                (ca.stable_key(), w.nodes[a]).cmp(&(cb.stable_key(), w.nodes[b]))
            })
            .unwrap_or(0);
        let locks: Vec<usize> = (0..n).map(|i| w.nodes[(start + i) % n]).collect();
        let edges: Vec<usize> = (0..n).map(|i| w.edges[(start + i) % n]).collect();
        FoundCycle {
            component,
            key: cycle_key(merged, &locks),
            exact: w.exact,
            locks,
            edges,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::synthetic as graph;

    fn shortest(m: &Merged) -> Vec<Vec<usize>> {
        let g = ClassGraph::new(m);
        let mut s = CycleSearch::new(&g);
        s.shortest_cycles().into_iter().map(|c| c.locks).collect()
    }

    #[test]
    fn each_component_gets_its_shortest_cycle() {
        // {0..4}: the long way round 0 -> 1 -> 2 -> 3 -> 4 -> 0 and the
        // shortcut 3 -> 1; {5, 6, 7}: a triangle.
        let m = graph(
            8,
            &[
                (0, 1),
                (1, 2),
                (2, 3),
                (3, 4),
                (4, 0),
                (3, 1),
                (5, 6),
                (6, 7),
                (7, 5),
            ],
        );
        assert_eq!(shortest(&m), [vec![1, 2, 3], vec![5, 6, 7]]);
    }

    #[test]
    fn one_long_cycle_costs_one_search() {
        let n = 50_000;
        let edges: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
        let m = graph(n, &edges);
        let g = ClassGraph::new(&m);
        let mut s = CycleSearch::new(&g);
        let found = s.shortest_cycles();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].locks.len(), n);
        assert!(found[0].notes.is_empty(), "{:?}", found[0].notes);
        let spent = CHECK_STEPS - s.searcher.budget;
        assert!(spent <= 2 * n as u64, "{spent} steps for {n} edges");
    }

    #[test]
    fn removing_searched_locks_trims_what_they_fed() {
        // A ring where each lock also reaches the one two ahead: once the
        // first two locks are searched and removed, nothing else is left
        // with a way in, so two searches are all it takes.
        let n = 4_000;
        let mut edges: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
        edges.extend((0..n).map(|i| (i, (i + 2) % n)));
        let m = graph(n, &edges);
        let g = ClassGraph::new(&m);
        let mut s = CycleSearch::new(&g);
        let found = s.shortest_cycles();
        assert_eq!(found[0].locks.len(), n / 2);
        assert!(found[0].notes.is_empty(), "{:?}", found[0].notes);
        let spent = CHECK_STEPS - s.searcher.budget;
        assert!(spent <= 8 * n as u64, "{spent} steps");
    }

    #[test]
    fn a_component_over_budget_says_so() {
        // A 60 x 60 torus, each lock reaching its right and lower
        // neighbours: the shortest cycles are the 60-lock rows and columns,
        // and a search from every edge, each bounded at 59 steps deep, needs
        // more steps than this component is given.
        let (w, h) = (60, 60);
        let id = |r: usize, c: usize| (r % h) * w + (c % w);
        let mut edges = Vec::new();
        for r in 0..h {
            for c in 0..w {
                edges.push((id(r, c), id(r, c + 1)));
                edges.push((id(r, c), id(r + 1, c)));
            }
        }
        let m = graph(w * h, &edges);
        let g = ClassGraph::new(&m);
        let mut s = CycleSearch::new(&g);
        s.searcher.budget = 200_000;
        let found = s.shortest_cycles();
        assert_eq!(found.len(), 1);
        assert!(found[0].exact);
        assert_eq!(found[0].locks.len(), 60);
        assert!(
            found[0].notes[0].contains("stopped at its step budget"),
            "{:?}",
            found[0].notes
        );
        assert_eq!(s.searcher.budget, 0);
    }
}
