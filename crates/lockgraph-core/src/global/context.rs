//! What the lock-order graph knew of a cycle the watchdog found: the first
//! recording of each edge, and whether the cycle was reported.

use super::*;

/// The first recording of one lock-order edge, as the watchdog shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderOrigin {
    /// The thread that first recorded the edge.
    pub thread: String,
    /// Where that thread took the held lock.
    pub held_at: Option<Site>,
    /// Where it asked for the other one.
    pub requested_at: Option<Site>,
    /// That thread's stack then (program frames, resolved; empty when stacks
    /// were off, `LOCKGRAPH_BACKTRACE=0`).
    pub stack: Vec<String>,
}

/// What the lock-order graph knows of a cycle of locks `locks[0] -> locks[1]
/// -> ... -> locks[0]` (each given as instance id and class).
pub(crate) struct Known {
    /// The first recording of each edge (`None`: never recorded).
    pub(crate) edges: Vec<Option<OrderOrigin>>,
    /// Whether the graph found that cycle: `Some(true)` when its report
    /// went out when it was found, `Some(false)` when the policy of that
    /// moment dropped it.
    pub(crate) found: Option<bool>,
    /// The edge (`i`: `locks[i] -> locks[i + 1]`) whose recording closed
    /// the cycle, when the graph found it: the others set the order first.
    pub(crate) closed_by: Option<usize>,
}

/// What the lock-order graph knows of the cycle `locks` ([`Known`]).
pub(crate) fn order_context(locks: &[(u64, Class)]) -> Known {
    let mut locked = Locked::new();
    super::young::flush(&mut locked);
    let g = &*locked;
    let n = locks.len();
    // Stacks are resolved after the graph lock is released.
    let origin = |o: &Origin| {
        (
            OrderOrigin {
                thread: o.thread.to_string(),
                held_at: o.held_at.map(Site::from),
                requested_at: o.requested_at.map(Site::from),
                stack: Vec::new(),
            },
            o.backtrace.clone(),
        )
    };
    let class_of = |&(id, class): &(u64, Class)| g.class_index.get(&class.key(id)).copied();
    let mut edges = Vec::with_capacity(n);
    // The cycle's nodes, in the class graph or (all one class) the instance
    // graph, for the reported-cycle key.
    let mut class_nodes = Vec::new();
    let mut instance_ids = Vec::new();
    for i in 0..n {
        let (a, b) = (&locks[i], &locks[(i + 1) % n]);
        let (ca, cb) = (class_of(a), class_of(b));
        let found = match (ca, cb) {
            (Some(x), Some(y)) if x == y => {
                instance_ids.push(a.0);
                let ia = g.instance_index.get(&a.0);
                let ib = g.instance_index.get(&b.0);
                ia.zip(ib)
                    .and_then(|(&ia, &ib)| g.instances.edge(ia, ib))
                    .and_then(|e| e.meta.any_origin().map(origin))
            }
            (Some(x), Some(y)) => {
                class_nodes.push(x);
                g.classes
                    .edge(x, y)
                    .and_then(|e| e.meta.any_origin().map(origin))
            }
            _ => None,
        };
        edges.push(found);
    }
    let complete = edges.iter().all(Option::is_some);
    let key = if !complete {
        None
    } else if class_nodes.len() == n {
        Some(cycle_key(
            false,
            &class_nodes
                .iter()
                .map(|c| c.index() as u64)
                .collect::<Vec<_>>(),
        ))
    } else if instance_ids.len() == n {
        Some(cycle_key(true, &instance_ids))
    } else {
        None
    };
    let cycle = key.and_then(|k| g.reported.get(&k).copied());
    drop(locked);
    // The closing edge's `from`, by the identity the key holds.
    let from_ids = if class_nodes.len() == n {
        class_nodes.iter().map(|c| c.index() as u64).collect()
    } else {
        instance_ids
    };
    let closed_by = cycle.and_then(|c| from_ids.iter().position(|&id| id == c.closed_from));
    let edges = edges
        .into_iter()
        .map(|e| {
            e.map(|(mut o, bt)| {
                if let Some(bt) = bt {
                    o.stack = bt.user_frames(8);
                }
                o
            })
        })
        .collect();
    Known {
        edges,
        found: cycle.map(|c| c.out),
        closed_by,
    }
}
