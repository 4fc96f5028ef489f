//! The model of the documented rules: what each step must record, hold
//! and report.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use lockgraph::{Level, ReportKind};

use crate::*;

/// Counts over a run, printed at its end (`--nocapture`): what the
/// generator reached.
#[derive(Default, Debug)]
pub(crate) struct Stats {
    pub(crate) cases: u64,
    /// The case (counted from 1) that failed first, if one did.
    pub(crate) first_failure: Option<u64>,
    pub(crate) steps: u64,
    pub(crate) cases_reporting: u64,
    pub(crate) class_reports: u64,
    pub(crate) instance_graph_reports: u64,
    pub(crate) instance_level_class_reports: u64,
    /// Changed edges closing a simple cycle whose report was a repeat.
    pub(crate) repeats_not_reported: u64,
    /// Changed edges whose every closed walk holds a gate on two edges.
    pub(crate) gated_cycles: u64,
    pub(crate) renewed: u64,
    /// Locks made again while this thread held them.
    pub(crate) renewed_held: u64,
    /// Locks made again while another thread held them: that thread keeps
    /// the hold of a dropped lock.
    pub(crate) renewed_held_elsewhere: u64,
    pub(crate) out_of_order_releases: u64,
    /// Timed acquisitions of a lock another thread held, and of one this
    /// thread held.
    pub(crate) busy_timed: u64,
    pub(crate) self_deadlocks: u64,
}

/// The graph an edge or a report is in: the instance graph (else the class
/// graph).
pub(crate) const INSTANCE_GRAPH: bool = true;

pub(crate) struct Model {
    /// The class of each lock (slot).
    pub(crate) class_of: Vec<usize>,
    /// The class names of this case.
    pub(crate) names: Vec<String>,
    /// The instance each slot holds now (model numbers, never reused).
    pub(crate) inst_of: Vec<u64>,
    pub(crate) next_inst: u64,
    /// lockgraph's id of each instance taken at least once, and back.
    pub(crate) id_of: HashMap<u64, u64>,
    pub(crate) inst_by_id: HashMap<u64, u64>,
    /// Each worker's held locks, outermost first: (slot, instance). A hold
    /// whose instance is no longer its slot's is of a lock dropped while
    /// this thread held it (on another thread): it stays on the stack,
    /// never released (docs/design.md, "Edges into fresh locks": "A guard
    /// forgotten on *another* thread cannot hand its slot's flags over").
    pub(crate) held: Vec<Vec<(usize, u64)>>,
    /// The thread holding each held instance: a worker, or `None` for a
    /// thread that ended holding it (the lock stays locked).
    pub(crate) holder: HashMap<u64, Option<usize>>,
    /// The instances each worker's thread asked for while holding them.
    pub(crate) self_requested: Vec<HashSet<u64>>,
    /// Nodes: class numbers.
    pub(crate) classes: Graph,
    /// The instance pairs of each class edge.
    pub(crate) pairs: HashMap<(u64, u64), BTreeSet<(u64, u64)>>,
    /// Nodes: live instances.
    pub(crate) instances: Graph,
    /// The reported cycles' sorted nodes, per graph.
    pub(crate) reported: [HashSet<Vec<u64>>; 2],
    pub(crate) step: usize,
    pub(crate) first_report: Option<usize>,
    /// The first step that closed a deadlock-capable closed walk / simple
    /// cycle.
    pub(crate) first_walk: Option<usize>,
    pub(crate) first_simple: Option<usize>,
    pub(crate) stats: Stats,
}

impl Model {
    pub(crate) fn new(class_of: &[usize], names: Vec<String>, workers: usize) -> Model {
        let n = class_of.len() as u64;
        Model {
            class_of: class_of.to_vec(),
            names,
            inst_of: (0..n).collect(),
            next_inst: n,
            id_of: HashMap::new(),
            inst_by_id: HashMap::new(),
            held: vec![Vec::new(); workers],
            holder: HashMap::new(),
            self_requested: vec![HashSet::new(); workers],
            classes: Graph::default(),
            pairs: HashMap::new(),
            instances: Graph::default(),
            reported: [HashSet::new(), HashSet::new()],
            step: 0,
            first_report: None,
            first_walk: None,
            first_simple: None,
            stats: Stats::default(),
        }
    }

    /// The model's node of a report's lock: its instance in an
    /// instance-graph report, else its class.
    pub(crate) fn node(
        &self,
        graph: bool,
        lock: &(Option<&'static str>, Option<u64>),
    ) -> Option<u64> {
        if graph == INSTANCE_GRAPH {
            self.inst_by_id.get(&lock.1?).copied()
        } else {
            let name = lock.0?;
            self.names.iter().position(|n| n == name).map(|c| c as u64)
        }
    }

    /// Which graph `r` comes from (instance-graph reports name every
    /// lock's instance) and its locks as the model's nodes.
    pub(crate) fn read(&self, r: &Seen) -> Result<(bool, Vec<u64>), String> {
        let graph = r.locks.iter().all(|l| l.1.is_some());
        if !graph && r.locks.iter().any(|l| l.1.is_some()) {
            return Err(format!("a class-graph report names instances: {r:?}"));
        }
        let nodes: Option<Vec<u64>> = r.locks.iter().map(|l| self.node(graph, l)).collect();
        let nodes =
            nodes.ok_or_else(|| format!("a report of locks this case does not have: {r:?}"))?;
        if nodes.len() < 2 {
            return Err(format!("a cycle of fewer than two locks: {r:?}"));
        }
        Ok((graph, nodes))
    }

    /// Whether worker `w` holds slot `slot`'s lock now.
    pub(crate) fn holds(&self, w: usize, slot: usize) -> bool {
        self.holder.get(&self.inst_of[slot]) == Some(&Some(w))
    }

    /// The slots of the locks worker `w` can release, outermost first
    /// (not those dropped since it took them).
    pub(crate) fn releasable(&self, w: usize) -> Vec<usize> {
        let held = self.held[w].iter();
        held.filter(|h| self.inst_of[h.0] == h.1)
            .map(|h| h.0)
            .collect()
    }

    /// `op` on worker `w` as a step, or `None` when it is skipped.
    pub(crate) fn resolve(
        &self,
        w: usize,
        op: Op,
        name_for: &mut dyn FnMut(usize) -> &'static str,
    ) -> Option<Step> {
        let taken = |slot: usize| self.holder.contains_key(&self.inst_of[slot]);
        let room = self.held[w].len() < MAX_HELD;
        match op {
            Op::Lock(i) => (!taken(i) && room).then_some(Step::Lock(i)),
            Op::LockFor(i) if self.holds(w, i) => Some(Step::LockForSelf(i)),
            Op::LockFor(i) if taken(i) => Some(Step::LockForBusy(i)),
            Op::LockFor(i) => room.then_some(Step::LockFor(i)),
            Op::TryLock(i) if taken(i) => Some(Step::TryHeld(i)),
            Op::TryLock(i) => room.then_some(Step::TryLock(i)),
            Op::Release(k) => {
                let can = self.releasable(w);
                (!can.is_empty()).then(|| Step::Release(can[can.len() - 1 - k % can.len()]))
            }
            Op::Renew(slot) => Some(Step::Renew {
                slot,
                held: self.holds(w, slot),
                name: name_for(slot),
            }),
        }
    }

    /// The releases that end a run of `script` on worker `w`.
    pub(crate) fn end_of(&self, w: usize, script: &Script) -> Vec<Step> {
        let mut can = if script.keep_end {
            Vec::new()
        } else {
            self.releasable(w)
        };
        if script.lifo_end {
            can.reverse();
        }
        can.into_iter().map(Step::Release).collect()
    }

    /// Worker `w`'s thread ended: what it held stays locked, held by no
    /// live thread; the new thread holds nothing.
    pub(crate) fn thread_ended(&mut self, w: usize) {
        for (_, inst) in std::mem::take(&mut self.held[w]) {
            if let Some(h) = self.holder.get_mut(&inst) {
                *h = None;
            }
        }
        self.self_requested[w].clear();
    }

    pub(crate) fn step(&mut self, w: usize, step: Step, out: Outcome) -> Result<(), String> {
        self.step += 1;
        let mut reports: VecDeque<Seen> = out.reports.into();
        if reports.iter().any(|r| r.kind == ReportKind::LockOrderCycle) {
            self.first_report.get_or_insert(self.step);
        }
        let took = |want: bool, what: &str| {
            if out.took == Some(want) {
                Ok(())
            } else {
                Err(format!("{what}: got the lock {:?}", out.took))
            }
        };
        let mut pushed = None;
        match step {
            Step::Lock(i) | Step::LockFor(i) => {
                if matches!(step, Step::LockFor(_)) {
                    took(true, "try_lock_for of a free lock")?;
                }
                self.acquire(w, i, &mut reports)?;
                pushed = Some(i);
            }
            Step::LockForBusy(i) => {
                // It waited, so its edges are recorded (docs/design.md:
                // `before_wait` before anything that can block), then it
                // gave up.
                self.stats.busy_timed += 1;
                took(false, "try_lock_for of a lock another thread holds")?;
                self.acquire(w, i, &mut reports)?;
            }
            Step::LockForSelf(i) => {
                // A self-deadlock, reported before it waits; no edges
                // ("the self-deadlock is the news", global/add_edges.rs).
                // Reported the first time this thread asks for the lock;
                // again, the chain cache may have it.
                self.stats.self_deadlocks += 1;
                took(false, "try_lock_for of a lock this thread holds")?;
                let inst = self.inst_of[i];
                let first = self.self_requested[w].insert(inst);
                let is_it = |r: &Seen| {
                    r.kind == ReportKind::SelfDeadlock { certain: true }
                        && r.locks.len() == 1
                        && r.locks[0].1 == self.id_of.get(&inst).copied()
                };
                match reports.front() {
                    Some(r) if is_it(r) => {
                        reports.pop_front();
                    }
                    _ if first => {
                        return Err(format!("a self-deadlock not reported: {reports:?}"));
                    }
                    _ => {}
                }
            }
            Step::TryLock(i) => {
                took(true, "try_lock of a free lock")?;
                pushed = Some(i);
            }
            Step::TryHeld(_) => took(false, "try_lock of a held lock")?,
            Step::Release(i) => {
                let inst = self.inst_of[i];
                let held = &mut self.held[w];
                let at = held.iter().position(|&h| h == (i, inst)).unwrap();
                if at + 1 != held.len() {
                    self.stats.out_of_order_releases += 1;
                }
                held.remove(at);
                self.holder.remove(&inst);
            }
            Step::Renew { slot, held, .. } => {
                self.stats.renewed += 1;
                let old = self.inst_of[slot];
                if held {
                    // Its drop takes it off this thread's stack
                    // (docs/design.md, "A lock dropped while this thread
                    // holds it (its guard forgotten)").
                    self.stats.renewed_held += 1;
                    self.held[w].retain(|&h| h != (slot, old));
                } else if self.holder.get(&old).is_some_and(|h| h.is_some()) {
                    self.stats.renewed_held_elsewhere += 1;
                }
                self.holder.remove(&old);
                self.instances.forget(old);
                self.inst_of[slot] = self.next_inst;
                self.next_inst += 1;
            }
        }
        if let Some(r) = reports.front() {
            return Err(format!(
                "a report the model does not expect at this step (no edge of it changed, \
                 or its walk cannot deadlock in the model): {r:?} (model nodes {:?})",
                self.read(r)
            ));
        }
        if let Some(slot) = pushed {
            let inst = self.inst_of[slot];
            self.held[w].push((slot, inst));
            self.holder.insert(inst, Some(w));
            let Some(&id) = out.held.last() else {
                return Err("held_lock_ids() is empty after an acquisition".into());
            };
            match self.id_of.get(&inst) {
                Some(&known) if known != id => {
                    return Err(format!("the lock's id changed from {known} to {id}"))
                }
                Some(_) => {}
                None => {
                    if let Some(other) = self.inst_by_id.insert(id, inst) {
                        return Err(format!("id {id} given to two locks ({other}, {inst})"));
                    }
                    self.id_of.insert(inst, id);
                }
            }
        }
        let want: Vec<u64> = self.held[w].iter().map(|h| self.id_of[&h.1]).collect();
        if out.held != want {
            return Err(format!(
                "held_lock_ids() is {:?}, the model holds {want:?}",
                out.held
            ));
        }
        Ok(())
    }

    /// The edges of a blocking acquisition of `slot`, one per held lock in
    /// the order they were taken, each checked against the reports (which
    /// come in the same order).
    pub(crate) fn acquire(
        &mut self,
        w: usize,
        slot: usize,
        reports: &mut VecDeque<Seen>,
    ) -> Result<(), String> {
        let target = self.inst_of[slot];
        let class = self.class_of[slot] as u64;
        for (j, &(held_slot, held)) in self.held[w].iter().enumerate() {
            let gates: BTreeSet<u64> = self.held[w]
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != j)
                .map(|(_, h)| h.1)
                .collect();
            let graph = self.class_of[held_slot] as u64 == class;
            let (from, to) = if graph == INSTANCE_GRAPH {
                (held, target)
            } else {
                let from = self.class_of[held_slot] as u64;
                self.pairs
                    .entry((from, class))
                    .or_default()
                    .insert((held, target));
                (from, class)
            };
            let g = if graph == INSTANCE_GRAPH {
                &mut self.instances
            } else {
                &mut self.classes
            };
            if !g.record(from, to, &gates) {
                continue;
            }
            let g = if graph == INSTANCE_GRAPH {
                &self.instances
            } else {
                &self.classes
            };
            let simple = g.shortest_simple(from, to);
            let walk = g.shortest_walk(from, to);
            if walk.is_some() {
                self.first_walk.get_or_insert(self.step);
            }
            if simple.is_some() {
                self.first_simple.get_or_insert(self.step);
            }
            if walk.is_none() && g.ungated().shortest_walk(from, to).is_some() {
                self.stats.gated_cycles += 1;
            }
            // A report names its closing edge's two ends, not which
            // recording of the acquisition closed it (two held locks of one
            // class both record its class edge, the second with fewer
            // gates): it belongs to the first recording after which its
            // walk can deadlock in the model. One that never can is left
            // over, and fails below.
            let closes = match reports.front() {
                Some(r) => {
                    let (rg, nodes) = self.read(r)?;
                    rg == graph && nodes[0] == from && nodes[1] == to && g.deadlock_capable(&nodes)
                }
                None => false,
            };
            if closes {
                let r = reports.pop_front().unwrap();
                let (_, nodes) = self.read(&r)?;
                let why = |what: &str| format!("{what}: {r:?} (model nodes {nodes:?})");
                if r.kind != ReportKind::LockOrderCycle {
                    return Err(why("not a lock-order cycle"));
                }
                let len = nodes.len();
                if walk.is_none_or(|w| len < w) {
                    return Err(why(&format!(
                        "shorter than any deadlock-capable walk ({walk:?})"
                    )));
                }
                // The model's holds are exclusive: taking a loop out of a
                // deadlock-capable walk leaves one (fewer edges hold fewer
                // gates), so the shortest is a simple cycle.
                match simple {
                    Some(s) if len > s => {
                        return Err(why(&format!("longer than the shortest cycle ({s})")))
                    }
                    None => return Err(why("no deadlock-capable simple cycle backs it")),
                    Some(_) => {}
                }
                if sorted(&nodes).windows(2).any(|w| w[0] == w[1]) {
                    return Err(why("a walk that repeats a lock"));
                }
                if !self.reported[graph as usize].insert(sorted(&nodes)) {
                    return Err(why("a cycle reported twice"));
                }
                if graph == INSTANCE_GRAPH {
                    self.stats.instance_graph_reports += 1;
                    let name = self.names[class as usize].as_str();
                    if r.level != Level::Instance || r.locks.iter().any(|l| l.0 != Some(name)) {
                        return Err(why("an instance-graph cycle not of the one class"));
                    }
                } else {
                    self.stats.class_reports += 1;
                    if r.level == Level::Instance {
                        self.stats.instance_level_class_reports += 1;
                        if !self.instances_chain(&nodes, held, target) {
                            return Err(why(
                                "instance-level, but no instance pairs chain round the cycle",
                            ));
                        }
                    }
                }
            } else if let Some(s) = simple {
                // Not reported: only because an equally short walk was.
                if !g.reported_walk(from, to, s, &self.reported[graph as usize]) {
                    return Err(format!(
                        "edge {from} -> {to} ({}) closed a deadlock-capable cycle of {s} \
                         locks and nothing was reported",
                        if graph { "instances" } else { "classes" }
                    ));
                }
                self.stats.repeats_not_reported += 1;
            }
        }
        Ok(())
    }

    /// Whether instance pairs of the class cycle `nodes` chain from the
    /// closing pair's target back to its source.
    pub(crate) fn instances_chain(&self, nodes: &[u64], from: u64, to: u64) -> bool {
        let mut current = BTreeSet::from([to]);
        for i in 1..nodes.len() {
            let edge = (nodes[i], nodes[(i + 1) % nodes.len()]);
            let pairs = self.pairs.get(&edge).cloned().unwrap_or_default();
            current = pairs
                .iter()
                .filter(|(x, _)| current.contains(x))
                .map(|&(_, y)| y)
                .collect();
        }
        current.contains(&from)
    }

    /// The program-wide property: lockgraph reports at least one cycle iff
    /// the model's graphs ever had a deadlock-capable one, and the first
    /// report comes at the step that closed the first.
    pub(crate) fn finish(&self) -> Result<(), String> {
        let (r, w, s) = (self.first_report, self.first_walk, self.first_simple);
        let ok = match (r, w, s) {
            (None, None, _) => true,
            (None, Some(_), None) => true,
            (Some(r), Some(w), s) => w <= r && s.is_none_or(|s| r <= s),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "first report at step {r:?}, first deadlock-capable walk at {w:?}, \
                 first simple cycle at {s:?}"
            ))
        }
    }
}
