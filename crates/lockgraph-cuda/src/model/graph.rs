//! The wait-for graph over the model's state: the edges out of each node
//! ("holding or being X, waits for Y"), the shortest cycle through a node
//! (forced edges first: certain), and the report of a cycle.

use std::panic::Location;

use lockgraph_core::{CycleReport, EdgeInfo, Level, ReportKind, Site};
use lockgraph_graph::waitfor;

use super::names::{label_lock, learned_note, learned_set_note, may_share, shared_note};
use super::state::{ItemKind, Model, ModelLock, Needs, Node, Seen, Waiter};

pub(super) struct Edge {
    pub(super) to: Node,
    pub(super) forced: bool,
    actor: String,
    site: Option<&'static Location<'static>>,
}

impl Model {
    /// The locks a host function needs: the declared ones, then the locks
    /// waiting threads hold of the classes its site was seen to take
    /// (`true`: learned).
    pub(super) fn needed_locks(&self, needs: &Needs) -> Vec<(ModelLock, bool)> {
        let mut out: Vec<(ModelLock, bool)> = needs.locks.iter().map(|l| (*l, false)).collect();
        if needs.learned.is_empty() {
            return out;
        }
        for w in self.waiters.values() {
            for h in &w.held {
                if !out.iter().any(|(l, _)| l.id == h.id)
                    && needs.learned.iter().any(|c| h.is_of(c))
                {
                    out.push((*h, true));
                }
            }
        }
        out
    }

    /// What the waiting thread `w` waits for: the pending items it
    /// synchronizes with, or the signals it waits on that are not set.
    fn waited_for<'a>(&'a self, w: &'a Waiter) -> impl Iterator<Item = Node> + 'a {
        let items = w.targets.iter().map(|&t| Node::Item(t));
        let signals = w
            .signals
            .iter()
            .filter(|&&c| !self.signals[c].set)
            .map(|&c| Node::Signal(c));
        items.chain(signals)
    }

    pub(super) fn edges(&self, n: Node) -> Vec<Edge> {
        let mut out = Vec::new();
        match n {
            Node::Item(i) => {
                let Some(it) = self.items.get(&i) else {
                    return out;
                };
                let me = self.describe(n);
                if let Some(prev) = self.last_pending(it.stream, it.pos) {
                    out.push(Edge {
                        to: Node::Item(prev),
                        forced: true,
                        actor: format!(
                            "stream `{}` runs {me} only after earlier work",
                            self.streams[it.stream].name
                        ),
                        site: None,
                    });
                }
                match &it.kind {
                    ItemKind::HostFn {
                        needs,
                        enqueuer,
                        enqueuer_held,
                    } => {
                        for (l, learned) in self.needed_locks(needs) {
                            // Forced: the enqueuer held the lock when it
                            // enqueued and holds it, in the same hold, in
                            // its wait now, so the host fn cannot have
                            // taken it first (a lock released and taken
                            // again in between could have been); and the
                            // lock cannot be shared, so the hold excludes
                            // the request (the modes of a read-write lock's
                            // hold and request are not known here: two
                            // shared ones wait only behind a queued writer).
                            let forced = !may_share(l.kind)
                                && self.lock_holders(l.id).any(|(k, w)| {
                                    k == enqueuer
                                        && w.holds
                                            .iter()
                                            .any(|h| h.id == l.id && enqueuer_held.contains(h))
                                });
                            out.push(Edge {
                                to: Node::Lock(l.id),
                                forced,
                                actor: format!(
                                    "{me} locks {}{}{}",
                                    label_lock(&l),
                                    learned_note(learned),
                                    shared_note(l.kind)
                                ),
                                site: Some(it.site),
                            });
                        }
                        for &c in &needs.waits {
                            out.push(Edge {
                                to: Node::Signal(c),
                                forced: true,
                                actor: format!("{me} waits on signal `{}`", self.signals[c].name),
                                site: Some(it.site),
                            });
                        }
                        out.push(Edge {
                            to: Node::Exec(self.streams[it.stream].ctx),
                            forced: false,
                            actor: format!(
                                "{me} needs the context's host-function executor, which host functions of other streams may occupy"
                            ),
                            site: Some(it.site),
                        });
                    }
                    ItemKind::Wait { dep, .. } => {
                        if let Some(d) = dep.filter(|d| self.items.contains_key(d)) {
                            out.push(Edge {
                                to: Node::Item(d),
                                forced: true,
                                actor: format!(
                                    "{me} waits for the event's record, after {}",
                                    self.describe(Node::Item(d))
                                ),
                                site: Some(it.site),
                            });
                        }
                    }
                }
            }
            Node::Lock(l) => {
                for (_, w) in self.lock_holders(l) {
                    for to in self.waited_for(w) {
                        out.push(Edge {
                            to,
                            forced: true,
                            actor: format!(
                                "thread `{}` holds {} and waits: {}",
                                w.thread,
                                self.describe(n),
                                w.what
                            ),
                            site: Some(w.site),
                        });
                    }
                }
            }
            Node::Signal(c) => {
                for (&id, it) in &self.items {
                    if let ItemKind::HostFn { needs, .. } = &it.kind {
                        if needs.feeds.contains(&c) {
                            out.push(Edge {
                                to: Node::Item(id),
                                forced: true,
                                actor: format!(
                                    "signal `{}` is set by {}",
                                    self.signals[c].name,
                                    self.describe(Node::Item(id))
                                ),
                                site: Some(it.site),
                            });
                        }
                    }
                }
                for k in self.producers.get(&c).into_iter().flatten() {
                    if let Some(w) = self.waiters.get(k) {
                        for to in self.waited_for(w) {
                            out.push(Edge {
                                to,
                                forced: true,
                                actor: format!(
                                    "signal `{}` is set by thread `{}` only after it waits: {}",
                                    self.signals[c].name, w.thread, w.what
                                ),
                                site: Some(w.site),
                            });
                        }
                    }
                }
                // Not forced: the site set a signal of this name, maybe
                // another one.
                for id in self.learned_feeders(c) {
                    let name = self.signals[c].name;
                    out.push(Edge {
                        to: Node::Item(id),
                        forced: false,
                        actor: format!(
                            "signal `{name}` may be set by {}{}",
                            self.describe(Node::Item(id)),
                            learned_set_note(name)
                        ),
                        site: Some(self.items[&id].site),
                    });
                }
            }
            Node::Exec(ctx) => {
                for (&id, it) in &self.items {
                    if self.streams[it.stream].ctx != ctx {
                        continue;
                    }
                    if let ItemKind::HostFn { needs, .. } = &it.kind {
                        let who = self.describe(Node::Item(id));
                        for (l, learned) in self.needed_locks(needs) {
                            out.push(Edge {
                                to: Node::Lock(l.id),
                                forced: false,
                                actor: format!(
                                    "the executor may be running {who}, which locks {}{}",
                                    label_lock(&l),
                                    learned_note(learned)
                                ),
                                site: Some(it.site),
                            });
                        }
                        for &c in &needs.waits {
                            out.push(Edge {
                                to: Node::Signal(c),
                                forced: false,
                                actor: format!(
                                    "the executor may be running {who}, which waits on signal `{}`",
                                    self.signals[c].name
                                ),
                                site: Some(it.site),
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// The shortest cycle through one of `starts`, over forced edges first
    /// (a certain deadlock), then over all edges (a potential one).
    pub(super) fn check(&mut self, starts: &[Node]) -> Option<CycleReport> {
        self.check_found(starts).1
    }

    /// [`check`](Self::check), also saying whether a cycle was found (it is
    /// reported once: later finds return no report).
    pub(super) fn check_found(&mut self, starts: &[Node]) -> (bool, Option<CycleReport>) {
        if !lockgraph::TRACKING {
            return (false, None);
        }
        // Forced edges only (certain), then without the shared executor
        // (a cycle naming only streams, host fns and locks), then all.
        for tier in 0..3 {
            for &s in starts {
                if let Some(cycle) = self.cycle_from(s, tier) {
                    let mut key: Vec<Seen> = cycle.iter().map(|(n, _)| self.seen(*n)).collect();
                    key.sort();
                    key.dedup();
                    let certain = cycle.iter().all(|(_, e)| e.forced);
                    if !self.reported.insert((certain, key)) {
                        return (true, None);
                    }
                    return (true, Some(self.report(&cycle, certain)));
                }
            }
        }
        (false, None)
    }

    /// The shortest cycle through `start` over the edges of `tier`: forced
    /// ones only (0), all but those into the shared executor (1), all (2).
    pub(super) fn cycle_from(&self, start: Node, tier: u8) -> Option<Vec<(Node, Edge)>> {
        waitfor::shortest_cycle_from(start, |n| {
            self.edges(n)
                .into_iter()
                .filter(move |e| {
                    !((tier == 0 && !e.forced) || (tier == 1 && matches!(e.to, Node::Exec(_))))
                })
                .map(|e| (e.to, e))
        })
    }

    pub(super) fn report(&self, cycle: &[(Node, Edge)], certain: bool) -> CycleReport {
        let n = cycle.len();
        let locks = cycle.iter().map(|(node, _)| self.info(*node)).collect();
        let edges = cycle
            .iter()
            .enumerate()
            .map(|(i, (_, e))| {
                EdgeInfo::new(
                    i,
                    (i + 1) % n,
                    e.actor.clone().into(),
                    None,
                    e.site.map(Site::from),
                    i == 0,
                )
            })
            .collect();
        CycleReport::new(
            ReportKind::DeviceCycle { certain },
            Level::Instance,
            locks,
            edges,
        )
    }
}
