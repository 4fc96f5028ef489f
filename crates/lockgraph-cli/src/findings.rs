//! From the merged records to the [`Report`]: which cycles and violations
//! are findings (the baseline applied), and each finding's locks, edges and
//! origins in the one shape every output renders.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use lockgraph_graph::gates::{gate_mode, GateMode};

use crate::baseline::{Baseline, BaselineEntry};
use crate::cycles::{CycleSearch, FoundCycle, Tolerance};
use crate::graph::ClassGraph;
use crate::merge::{Merged, MergedEdge, Origin};
use crate::order::{OrderSpec, Violation};
use crate::report::{
    BaselineSummary, Detail, EdgeOrigin, Finding, FindingEdge, FindingLock, Kinds, LockId,
    OrderDetail, Report, Rule, Summary,
};
use crate::shown::ShowPath as _;

/// A short, stable, hexadecimal fingerprint of a key (64-bit FNV-1a), for
/// SARIF's `partialFingerprints` and for humans comparing runs.
pub(crate) fn fingerprint(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn lock(merged: &Merged, class: usize, i: usize) -> FindingLock {
    let c = &merged.classes[class];
    FindingLock {
        id: LockId::of_index(i),
        class: Arc::clone(&c.class),
        name: c.name().map(Arc::from),
        kind: Arc::clone(&c.kind),
        site: c.site().map(Arc::from),
    }
}

fn origin(merged: &Merged, o: &Origin) -> EdgeOrigin {
    let file = merged.files.get(o.file as usize);
    let text = |id| merged.str(id).cloned();
    EdgeOrigin {
        thread: text(o.thread).unwrap_or_else(|| Arc::from("")),
        pid: o.pid,
        exe: text(o.exe).unwrap_or_else(|| Arc::from("")),
        args: file.map_or_else(|| Arc::from(Vec::new()), |f| Arc::clone(&f.args)),
        hold: o.hold,
        request: o.request,
        held_at: text(o.held_at),
        requested_at: text(o.requested_at),
        backtrace: merged
            .stacks
            .get(o.backtrace as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new())),
        record: file.map_or_else(|| Arc::from(""), |f| Arc::clone(&f.shown)),
        line: u64::from(o.line),
    }
}

fn edge(merged: &Merged, e: &MergedEdge, from: usize, to: usize, closes: bool) -> FindingEdge {
    FindingEdge {
        from: LockId::of_index(from),
        to: LockId::of_index(to),
        kinds: Kinds(e.kinds),
        closes_cycle: closes,
        recordings: e.recordings,
        origins: e.origins().map(|o| origin(merged, o)).collect(),
    }
}

/// The finding of one cycle.
fn cycle_finding(merged: &Merged, c: &FoundCycle) -> Finding {
    let n = c.locks.len();
    let locks: Vec<FindingLock> = c
        .locks
        .iter()
        .enumerate()
        .map(|(i, &l)| lock(merged, l, i))
        .collect();
    let names: Vec<String> = locks
        .iter()
        .map(|l| format!("{} {}", l.id, l.label()))
        .collect();
    Finding {
        rule: Rule::Cycle,
        key: c.key.clone(),
        fingerprint: fingerprint(&c.key),
        message: format!(
            "Potential deadlock: lock-order cycle through {n} locks: {}, then back to L1.",
            names.join(" -> ")
        ),
        locks,
        edges: c
            .edges
            .iter()
            .enumerate()
            .map(|(i, &e)| edge(merged, &merged.edges[e], i, (i + 1) % n, i + 1 == n))
            .collect(),
        notes: c
            .notes
            .iter()
            .cloned()
            .chain(gated_apart(merged, &c.edges))
            .collect(),
        detail: Detail::Cycle { exact: c.exact },
    }
}

/// A note for a cycle each of whose edges was recorded holding a gate, one
/// of them at least in a mode that excludes some other hold (a write or a
/// mutex excludes every hold, an upgradable read another upgradable read),
/// and whose edges come from more than one process: two reads of one lock
/// serialise nothing.
/// A gate is a lock of one process, so gates are compared within a process
/// only and the cycle stands; but when one lock (a `static`) is held around
/// each of these orders in every process, they never run at once and the
/// cycle cannot deadlock, which only the user knows (the records carry the
/// gates' ids, not their classes).
fn gated_apart(merged: &Merged, edges: &[usize]) -> Option<String> {
    let all_gated = edges.iter().all(|&e| !merged.edges[e].gates.is_empty());
    let a_write = (edges.iter())
        .flat_map(|&e| merged.edges[e].gates.iter())
        .any(|&g| gate_mode(g) != GateMode::Shared);
    let mut files: Vec<u32> = edges
        .iter()
        .flat_map(|&e| merged.edges[e].origins().map(|o| o.file))
        .collect();
    files.sort_unstable();
    files.dedup();
    (all_gated && a_write && files.len() > 1).then(|| {
        format!(
            "each edge of this cycle was recorded while its thread held another lock, and the edges come from {} processes: a held lock serialises a cycle only within one process (`lockgraph check` compares them there), so whether one lock guards these orders everywhere is not known here. If one lock (a `static`, say) is held around each of them in every process, they never run at once and this cycle cannot deadlock: record both in one process to have it checked, or baseline it",
            files.len()
        )
    })
}

/// The finding of one order violation.
fn violation_finding(merged: &Merged, spec: &OrderSpec, v: &Violation) -> Finding {
    let e = &merged.edges[v.edge];
    let chain = &spec.chains[v.chain];
    let detail = OrderDetail {
        order_file: spec.path.shown().to_string(),
        chain: v.chain + 1,
        order: chain.entries.clone(),
        from_entry: chain.entries[v.from_entry].clone(),
        to_entry: chain.entries[v.to_entry].clone(),
    };
    let (from, to) = (lock(merged, e.from, 0), lock(merged, e.to, 1));
    Finding {
        rule: Rule::OrderViolation,
        key: v.key.clone(),
        fingerprint: fingerprint(&v.key),
        message: format!(
            "Lock-order violation: {} was held while {} was requested, but {} (chain {}) puts `{}` before `{}`.",
            from.label(),
            to.label(),
            detail.order_file,
            detail.chain,
            detail.to_entry,
            detail.from_entry
        ),
        locks: vec![from, to],
        edges: vec![edge(merged, e, 0, 1, false)],
        notes: Vec::new(),
        detail: Detail::OrderViolation(detail),
    }
}

/// Stable key -> the classes that have it (every anonymous class has
/// `anon`), to find baselined cycles in the graph.
struct ByStableKey<'m> {
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
struct Tolerated<'b> {
    covered: HashSet<(&'b str, &'b str)>,
    per_component: HashMap<usize, usize>,
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
enum Search {
    /// A cycle, by its first edge.
    Found(usize),
    /// No such cycle.
    Absent,
    /// The budget ran out first.
    OutOfBudget,
}

/// Takes one step off `budget`; false when there was none left.
fn spend(budget: &mut u64) -> bool {
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
const PRESENT_BUDGET: u64 = 1 << 24;

/// A baselined cycle and whether it was recorded again.
struct Present<'b> {
    entry: &'b BaselineEntry,
    /// A cycle of its shape was recorded (see [`present_cycles`]).
    present: bool,
    /// The cyclic component its first edge lies in.
    component: Option<usize>,
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
fn present_cycles<'b>(
    g: &ClassGraph<'_>,
    search: &CycleSearch<'_, '_>,
    baseline: &'b Baseline,
    mut budget: u64,
) -> Vec<Present<'b>> {
    let index = ByStableKey::new(g);
    baseline
        .of_rule(Rule::Cycle)
        .map(|entry| {
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

/// Everything a report is built from.
pub(crate) struct Inputs<'a> {
    pub(crate) merged: &'a Merged,
    pub(crate) order: Option<&'a OrderSpec>,
    pub(crate) baseline: Option<(&'a Path, &'a Baseline)>,
    pub(crate) warnings: Vec<String>,
}

/// Builds the report: every finding not in the baseline, and the counts.
pub(crate) fn build(inputs: Inputs<'_>) -> Report {
    let Inputs {
        merged,
        order,
        baseline,
        mut warnings,
    } = inputs;
    // Every search first: its graph and buffers are gone before the
    // findings (for a cycle through a million locks, as big as the records)
    // are built.
    let (cycles, present) = {
        let g = ClassGraph::new(merged);
        let mut search = CycleSearch::new(&g);
        let shortest = search.shortest_cycles();
        match baseline {
            None => (shortest, Vec::new()),
            Some((_, b)) => {
                let present = present_cycles(&g, &search, b, PRESENT_BUDGET);
                let mut per_component: HashMap<usize, usize> = HashMap::new();
                for p in &present {
                    if let Some(c) = p.component {
                        *per_component.entry(c).or_default() += 1;
                    }
                }
                let tolerated = Tolerated {
                    covered: b.covered_edges(),
                    per_component,
                };
                let mut new_cycles = Vec::new();
                for c in shortest {
                    if !b.contains(&c.key) {
                        new_cycles.push(c);
                    } else if let Some(n) = search.new_in_baselined(c.component, &tolerated) {
                        new_cycles.push(n);
                    }
                }
                new_cycles.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.locks.cmp(&b.locks)));
                let present = present
                    .iter()
                    .map(|p| (p.entry.key.clone(), p.present))
                    .collect();
                (new_cycles, present)
            }
        }
    };
    let violations = order.map(|o| o.violations(merged)).unwrap_or_default();
    let mut findings: Vec<Finding> = cycles.iter().map(|c| cycle_finding(merged, c)).collect();
    drop(cycles);
    let tolerated = |key: &str| baseline.is_some_and(|(_, b)| b.contains(key));
    let mut tolerated_violations = 0;
    if let Some(spec) = order {
        for v in &violations {
            if tolerated(&v.key) {
                tolerated_violations += 1;
            } else {
                findings.push(violation_finding(merged, spec, v));
            }
        }
    }
    let summary_baseline = baseline.map(|(path, b)| {
        let found: HashSet<&str> = violations.iter().map(|v| v.key.as_str()).collect();
        let mut stale: Vec<String> = present
            .iter()
            .filter(|(_, present)| !present)
            .map(|(key, _)| key.clone())
            .chain(
                b.of_rule(Rule::OrderViolation)
                    .filter(|e| !found.contains(e.key.as_str()))
                    .map(|e| e.key.clone()),
            )
            .collect();
        stale.sort();
        BaselineSummary {
            file: path.shown().to_string(),
            cycles: present.iter().filter(|(_, present)| *present).count(),
            violations: tolerated_violations,
            stale,
        }
    });
    if let (Some((path, b)), Some(summary)) = (baseline, &summary_baseline) {
        for e in b.entries().filter(|e| e.names_anonymous()) {
            if summary.stale.binary_search(&e.key).is_err() {
                warnings.push(anonymous_entry_warning(Some(path), &e.key));
            }
        }
    }
    if let Some(spec) = order {
        let unmatched = spec.unmatched(merged);
        for &(ci, i) in unmatched.iter().take(UNMATCHED_SHOWN) {
            let chain = &spec.chains[ci];
            warnings.push(format!(
                "{}:{}: order entry `{}` matches no recorded lock class",
                spec.path.shown(),
                chain.lines[i],
                chain.entries[i]
            ));
        }
        if let Some(more) = unmatched
            .len()
            .checked_sub(UNMATCHED_SHOWN)
            .filter(|&n| n > 0)
        {
            warnings.push(format!(
                "{}: {more} more order entries match no recorded lock class (the first \
                 {UNMATCHED_SHOWN} are named above)",
                spec.path.shown(),
            ));
        }
    }
    warnings.extend(merged.warnings.iter().map(|w| w.to_string()));
    let count = |rule| findings.iter().filter(|f| f.rule == rule).count();
    Report {
        summary: Summary {
            files: merged.files.len(),
            processes: merged.processes(),
            classes: merged.classes.len(),
            edges: merged.edges.len(),
            recordings: merged.recordings,
            cycles: count(Rule::Cycle),
            violations: count(Rule::OrderViolation),
        },
        findings,
        baseline: summary_baseline,
        warnings,
    }
}

/// The entries of a baseline tolerating everything found now: per
/// component, its reported cycle and the cycles covering the rest of it
/// (see [`CycleSearch::cover`]), and every order violation.
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
    for c in search.shortest_cycles() {
        for extra in search.cover(c.component, &c) {
            out.push(BaselineEntry::cycle(
                extra.key.clone(),
                stable(&extra.locks),
            ));
        }
        out.push(BaselineEntry::cycle(c.key.clone(), stable(&c.locks)));
    }
    if let Some(spec) = order {
        for v in spec.violations(merged) {
            out.extend(BaselineEntry::key(v.key));
        }
    }
    out
}

/// At most this many order entries that match no lock class are named one
/// by one (an order file written for a whole service, checked against one
/// test's records, would fill the output); the rest are counted.
const UNMATCHED_SHOWN: usize = 10;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Merger;
    use crate::records::{self, edge, file_text};

    fn merged(edges: &[records::Edge]) -> Merged {
        let mut m = Merger::new();
        m.add_reader(Path::new("t"), file_text(1, edges).as_bytes())
            .unwrap();
        m.finish()
    }

    fn present(m: &Merged, locks: &[&str], budget: u64) -> bool {
        let g = ClassGraph::new(m);
        let search = CycleSearch::new(&g);
        let locks: Vec<String> = locks.iter().map(|l| l.to_string()).collect();
        let key = format!("cycle:{}", locks.join(" -> "));
        let b = Baseline::new([BaselineEntry::cycle(key, locks)]);
        present_cycles(&g, &search, &b, budget)[0].present
    }

    #[test]
    fn a_cycle_is_found_by_classes_that_close_it() {
        // anon 1 -> anon 2 -> anon 3 -> anon 1, and a -> anon 4 -> b -> a.
        let m = merged(&[
            edge("anon:1:1", "anon:1:2"),
            edge("anon:1:2", "anon:1:3"),
            edge("anon:1:3", "anon:1:1"),
            edge("a", "anon:1:4"),
            edge("anon:1:4", "b"),
            edge("b", "a"),
        ]);
        let budget = PRESENT_BUDGET;
        assert!(present(&m, &["anon", "anon", "anon"], budget));
        assert!(!present(&m, &["anon", "anon"], budget));
        assert!(!present(&m, &["anon", "anon", "anon", "anon"], budget));
        assert!(present(&m, &["name:a", "anon", "name:b"], budget));
        assert!(present(&m, &["anon", "name:b", "name:a"], budget));
        assert!(!present(&m, &["name:a", "name:b", "anon"], budget));
        assert!(!present(&m, &["name:a", "name:b"], budget));
        assert!(!present(&m, &["name:a"], budget));
        assert!(!present(&m, &["name:zz", "anon"], budget));
        // Out of budget: found again edge by edge, as before the search.
        assert!(present(&m, &["anon", "anon"], 0));
        assert!(!present(&m, &["name:a", "name:b"], 0));
        // Just enough budget for a cycle of named locks: one look per edge.
        assert!(present(&m, &["name:a", "anon", "name:b"], 3));
    }
}
