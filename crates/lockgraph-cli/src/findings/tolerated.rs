//! The baseline against the graph: the cycles a baseline tolerates
//! found again (by their classes' stable keys), the edges they cover for
//! the cycle search, and a baseline's entries made from what is found
//! now.

use std::collections::{HashMap, HashSet};

use crate::baseline::{Baseline, BaselineEntry};
use crate::cycles::{CycleSearch, Tolerance};
use crate::graph::ClassGraph;
use crate::merge::Merged;
use crate::order::OrderSpec;
use crate::report::Rule;
use crate::shown::ShowPath as _;

/// Stable key -> the classes that have it (every anonymous class has
/// `anon`), to find baselined cycles in the graph.
pub(super) struct ByStableKey<'m> {
    g: &'m ClassGraph<'m>,
    classes: HashMap<&'m str, Vec<usize>>,
}

impl<'m> ByStableKey<'m> {
    fn new(g: &'m ClassGraph<'m>) -> ByStableKey<'m> {
        let mut classes: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, c) in g.merged().classes.iter().enumerate() {
            classes.entry(c.stable_key()).or_default().push(i);
        }
        ByStableKey { g, classes }
    }

    /// The first edge of a recorded cycle through classes whose stable keys
    /// are `locks`, in cycle order, each class once: for locks with a class
    /// id of their own, their cycle's edges; for anonymous ones (`anon`,
    /// every anonymous class), a choice of anonymous classes that closes.
    /// A depth-first search from the lock with the fewest classes, with an
    /// explicit stack; each edge it looks at costs one of `budget`.
    fn cycle(&self, locks: &[String], budget: &mut u64) -> Search {
        let n = locks.len();
        let count = |i: usize| self.classes.get(locks[i].as_str()).map_or(0, Vec::len);
        let Some(start) = (0..n).min_by_key(|&i| count(i)) else {
            return Search::Absent;
        };
        let key = |i: usize| locks[(start + i) % n].as_str();
        let Some(firsts) = self.classes.get(key(0)) else {
            return Search::Absent;
        };
        let classes = &self.g.merged().classes;
        for &first in firsts {
            // The classes chosen so far, each with the next of its edges
            // to try; `edges[i]` leads from `path[i]` to `path[i + 1]`.
            let mut path = vec![(first, self.g.out(first).start)];
            let mut edges: Vec<usize> = Vec::new();
            let mut on_path = HashSet::from([first]);
            while let Some(depth) = path.len().checked_sub(1) {
                let (at, mut next) = path[depth];
                let end = self.g.out(at).end;
                let mut step = None;
                if depth + 1 == n {
                    // The last lock: the edge back to the first closes it.
                    if next < end {
                        next = end;
                        if !spend(budget) {
                            return Search::OutOfBudget;
                        }
                        if let Some(e) = self.g.find(at, first) {
                            return Search::Found(edges.first().copied().unwrap_or(e));
                        }
                    }
                } else {
                    let want = key(depth + 1);
                    // (Every key has a class: the search starts at one
                    // with the fewest, and there is none for a key without.)
                    let only = match self.classes.get(want).map(Vec::as_slice) {
                        Some([only]) => Some(*only),
                        _ => None,
                    };
                    while next < end && step.is_none() {
                        if !spend(budget) {
                            return Search::OutOfBudget;
                        }
                        let e = match only {
                            // One class of that key: its edge, if any.
                            Some(to) => {
                                next = end;
                                match self.g.find(at, to) {
                                    Some(e) => e,
                                    None => break,
                                }
                            }
                            None => {
                                next += 1;
                                next - 1
                            }
                        };
                        let to = self.g.target(e);
                        if classes[to].stable_key() == want && !on_path.contains(&to) {
                            step = Some((e, to));
                        }
                    }
                }
                path[depth].1 = next;
                match step {
                    Some((e, to)) => {
                        edges.push(e);
                        on_path.insert(to);
                        path.push((to, self.g.out(to).start));
                    }
                    None => {
                        on_path.remove(&at);
                        path.pop();
                        edges.pop();
                    }
                }
            }
        }
        Search::Absent
    }

    /// A recorded edge `from -> to` (stable keys), if there is one.
    fn edge(&self, from: &str, to: &str) -> Option<usize> {
        let (f, t) = (self.classes.get(from)?, self.classes.get(to)?);
        if let [t] = t.as_slice() {
            return f.iter().find_map(|&x| self.g.find(x, *t));
        }
        let classes = &self.g.merged().classes;
        f.iter().find_map(|&x| {
            self.g
                .out(x)
                .find(|&e| classes[self.g.target(e)].stable_key() == to)
        })
    }
}

/// The baseline as the cycle search needs it.
pub(super) struct Tolerated<'b> {
    pub(super) covered: HashSet<(&'b str, &'b str)>,
    pub(super) per_component: HashMap<usize, usize>,
}

impl Tolerance for Tolerated<'_> {
    fn covers(&self, from: &str, to: &str) -> bool {
        self.covered.contains(&(from, to))
    }

    fn in_component(&self, comp: usize) -> usize {
        self.per_component.get(&comp).copied().unwrap_or(0)
    }
}

/// What [`ByStableKey::cycle`] found.
pub(super) enum Search {
    /// A cycle, by its first edge.
    Found(usize),
    /// No such cycle.
    Absent,
    /// The budget ran out first.
    OutOfBudget,
}

/// Takes one step off `budget`; false when there was none left.
pub(super) fn spend(budget: &mut u64) -> bool {
    match budget.checked_sub(1) {
        Some(b) => {
            *budget = b;
            true
        }
        None => false,
    }
}

/// How many edges the searches for the baselined cycles may look at in all
/// ([`present_cycles`]). A cycle of named locks costs one look per edge; a
/// search among many anonymous classes for a long cycle of them can cost
/// more than a check should spend, and an entry left when the budget is
/// spent is found again edge by edge.
pub(super) const PRESENT_BUDGET: u64 = 1 << 24;

/// A baselined cycle and whether it was recorded again.
pub(super) struct Present<'b> {
    pub(super) entry: &'b BaselineEntry,
    /// A cycle of its shape was recorded (see [`present_cycles`]).
    pub(super) present: bool,
    /// The cyclic component its first edge lies in.
    pub(super) component: Option<usize>,
}

/// Which baselined cycles were recorded again, and the component each lies
/// in. An entry is recorded again when the records hold a cycle through
/// classes with its locks' stable keys, in its order, each class once: for
/// named and site classes, every edge of the entry; for anonymous ones,
/// which all read `anon`, anonymous classes that close such a cycle (a lone
/// edge between two anonymous locks is no cycle of `anon -> anon`). When
/// `budget` ([`PRESENT_BUDGET`]) is spent, the entries left are found again edge by
/// edge, each edge by any classes of its keys (which never calls a
/// recorded cycle stale).
pub(super) fn present_cycles<'b>(
    g: &ClassGraph<'_>,
    search: &CycleSearch<'_, '_>,
    baseline: &'b Baseline,
    mut budget: u64,
) -> Vec<Present<'b>> {
    let index = ByStableKey::new(g);
    baseline
        .of_rule(Rule::Cycle)
        .map(|entry| {
            if entry.has_runs() {
                // A run of one class: a cycle found at run time, which no
                // cycle of the class graph is (found again by its key).
                return Present {
                    entry,
                    present: false,
                    component: None,
                };
            }
            let (first, present) = match index.cycle(&entry.locks, &mut budget) {
                Search::Found(e) => (Some(e), true),
                Search::Absent => (None, false),
                Search::OutOfBudget => {
                    let mut first = None;
                    let mut present = true;
                    for (from, to) in entry.cycle_edges() {
                        match index.edge(from, to) {
                            Some(e) => {
                                first.get_or_insert(e);
                            }
                            None => present = false,
                        }
                    }
                    (first, present)
                }
            };
            let component = first.filter(|_| present).and_then(|e| {
                let c = search.components().of[g.source(e)];
                (c != u32::MAX).then_some(c as usize)
            });
            Present {
                entry,
                present,
                component,
            }
        })
        .collect()
}

/// The entries of a baseline tolerating everything found now: per
/// component, its reported cycle and the cycles covering the rest of it
/// (see [`CycleSearch::cover`]); every cycle found at run time that the
/// class graph does not report (`runtime`), by its key; every order
/// violation.
pub(crate) fn baseline_entries(merged: &Merged, order: Option<&OrderSpec>) -> Vec<BaselineEntry> {
    let g = ClassGraph::new(merged);
    let mut search = CycleSearch::new(&g);
    let mut out = Vec::new();
    let stable = |locks: &[usize]| -> Vec<String> {
        locks
            .iter()
            .map(|&l| merged.classes[l].stable_key().to_string())
            .collect()
    };
    let shortest = search.shortest_cycles();
    let run_time = super::runtime::matches(merged, &shortest);
    for c in shortest {
        for extra in search.cover(c.component, &c) {
            out.push(BaselineEntry::cycle(
                extra.key.clone(),
                stable(&extra.locks),
            ));
        }
        out.push(BaselineEntry::cycle(c.key.clone(), stable(&c.locks)));
    }
    for (rt, of_graph) in merged.runtime.iter().zip(run_time) {
        if of_graph.is_none() {
            let key = super::runtime::key(merged, rt);
            let runs = (rt.class_runs().into_iter())
                .map(|(l, n)| (merged.classes[l].stable_key().to_string(), n))
                .collect();
            out.push(BaselineEntry::cycle_of_runs(key, runs));
        }
    }
    if let Some(spec) = order {
        for v in spec.violations(merged) {
            out.extend(BaselineEntry::key(v.key));
        }
    }
    out
}

/// The warning for a baseline entry `key` (of the baseline file `path`,
/// when it is read from one) that names anonymous classes: it tolerates any
/// finding of its shape through them.
pub(crate) fn anonymous_entry_warning(path: Option<&std::path::Path>, key: &str) -> String {
    let whose = path.map_or(String::new(), |p| format!("{}: ", p.shown()));
    format!(
        "{whose}baseline entry `{key}` names anonymous locks (`anon`: made through lock_api's \
         INIT, with no name and no creation site): records cannot tell such locks apart, so \
         it tolerates every such finding, not only the one it was written for; give the locks \
         a class (Mutex::named, or lockgraph's own constructors, which record their site)"
    )
}
