//! From the merged records to the [`Report`]: which cycles and violations
//! are findings (the baseline applied), and each finding's locks, edges and
//! origins in the one shape every output renders.
//!
//! `shape`: a finding's locks, edges and origins; `tolerated`: the
//! baseline matched against the graph; `runtime`: the cycles processes
//! found at run time; this module: the report built from them.

mod moved;
#[cfg(test)]
mod run_tests;
mod runtime;
mod shape;
#[cfg(test)]
mod tests;
mod tolerated;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::baseline::Baseline;
use crate::cycles::CycleSearch;
use crate::graph::ClassGraph;
use crate::merge::Merged;
use crate::order::OrderSpec;
use crate::report::{BaselineSummary, Finding, Report, Rule, Summary};
use crate::shown::ShowPath as _;

use shape::{cycle_finding, violation_finding};
pub(crate) use tolerated::{anonymous_entry_warning, baseline_entries};
use tolerated::{present_cycles, Tolerated, PRESENT_BUDGET};

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
    let (cycles, present, run_time) = {
        let g = ClassGraph::new(merged);
        let mut search = CycleSearch::new(&g);
        let shortest = search.shortest_cycles();
        // The cycles found at run time: each the key of the class graph's
        // cycle it is (which reports it), or its own.
        let run_time: Vec<(String, bool)> = runtime::matches(merged, &shortest)
            .into_iter()
            .zip(&merged.runtime)
            .map(|(m, rt)| match m {
                Some(i) => (shortest[i].key.clone(), true),
                None => (runtime::key(merged, rt), false),
            })
            .collect();
        let (cycles, present) = match baseline {
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
                // A cycle of one class found at run time, baselined, is
                // found again by its key (no class edge makes it).
                let present = present
                    .iter()
                    .map(|p| {
                        let again = run_time.iter().any(|(k, _)| *k == p.entry.key);
                        (p.entry.key.clone(), p.present || again)
                    })
                    .collect();
                (new_cycles, present)
            }
        };
        (cycles, present, run_time)
    };
    let violations = order.map(|o| o.violations(merged)).unwrap_or_default();
    let mut findings: Vec<Finding> = cycles.iter().map(|c| cycle_finding(merged, c)).collect();
    drop(cycles);
    let tolerated = |key: &str| baseline.is_some_and(|(_, b)| b.contains(key));
    // The cycles found at run time: noted on the class graph's finding
    // that is the same cycle, else findings of their own unless baselined.
    for (rt, (key, of_graph)) in merged.runtime.iter().zip(run_time) {
        if of_graph {
            if let Some(f) = findings.iter_mut().find(|f| f.key == key) {
                f.notes.push(runtime::note(merged, rt));
            }
        } else if !tolerated(&key) {
            findings.push(runtime::finding(merged, rt, key));
        }
    }
    findings.sort_by(|a, b| a.key.cmp(&b.key));
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
                // Without an order no violation was looked for: none is
                // known to be gone.
                b.of_rule(Rule::OrderViolation)
                    .filter(|e| order.is_some() && !found.contains(e.key.as_str()))
                    .map(|e| e.key.clone()),
            )
            .collect();
        stale.sort();
        BaselineSummary {
            file: path.shown().to_string(),
            cycles: present.iter().filter(|(_, present)| *present).count(),
            violations: tolerated_violations,
            stale,
            unchecked: match order {
                Some(_) => 0,
                None => b.of_rule(Rule::OrderViolation).count(),
            },
        }
    });
    if let Some(summary) = &summary_baseline {
        for f in findings.iter_mut().filter(|f| f.rule == Rule::Cycle) {
            if let Some(note) = moved::moved_note(&f.key, &summary.stale) {
                f.notes.push(note);
            }
        }
    }
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

/// At most this many order entries that match no lock class are named one
/// by one (an order file written for a whole service, checked against one
/// test's records, would fill the output); the rest are counted.
const UNMATCHED_SHOWN: usize = 10;
