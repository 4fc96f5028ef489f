//! The locks of a deadlock's cycle, as the lock-order graph would know
//! them: each lock waited for, where a wait for a lock's holders (a CUDA
//! synchronize registered on the executor's or a stream's pseudo-lock)
//! stands for any lock its holder holds, since the graph recorded the
//! edges through the lock that the wait really waits on (the stream), not
//! through the wait's label.

use super::*;

/// One of the cycle's locks: instance id, class, kind.
pub(super) type CycleLock = (u64, Class, LockKind);

/// At most this many combinations of stand-ins are looked up.
const MAX_TRIES: usize = 64;

/// What the lock-order graph knew of the cycle `cycle` (indices into
/// `snaps`, each thread waiting for a lock the next one holds), or `None`
/// when a thread of it waits for no lock or the cycle has fewer than two
/// locks. A wait for a lock's holders ([`WaitMode::Join`]) is looked up as
/// itself and as each lock that the next thread holds: the choice with the
/// most edges recorded wins (the wait itself on a tie).
pub(super) fn order_context(snaps: &[Snap], cycle: &[usize]) -> Option<OrderContext> {
    let n = cycle.len();
    let mut alts: Vec<Vec<CycleLock>> = Vec::with_capacity(n);
    for (k, &i) in cycle.iter().enumerate() {
        let Some(WaitView {
            target:
                Target::Lock {
                    id,
                    class,
                    kind,
                    mode,
                },
            ..
        }) = snaps[i].wait
        else {
            return None;
        };
        let mut a = vec![(id, class, kind)];
        if mode == WaitMode::Join {
            let holder = &snaps[cycle[(k + 1) % n]];
            a.extend(holder.held.iter().map(|h| (h.id, h.class, h.kind)));
        }
        alts.push(a);
    }
    let mut best: Option<(usize, OrderContext)> = None;
    for locks in combinations(&alts).into_iter().take(MAX_TRIES) {
        let locks = without_repeats(locks);
        if locks.len() < 2 {
            continue;
        }
        let ctx = OrderContext::of(&locks);
        let recorded = ctx.steps.iter().filter(|s| s.first.is_some()).count();
        let complete = recorded == ctx.steps.len();
        if best.as_ref().is_none_or(|(r, _)| recorded > *r) {
            best = Some((recorded, ctx));
        }
        if complete {
            break;
        }
    }
    best.map(|(_, c)| c)
}

/// Every choice of one lock per position, the first choices first.
fn combinations(alts: &[Vec<CycleLock>]) -> Vec<Vec<CycleLock>> {
    let mut out: Vec<Vec<CycleLock>> = vec![Vec::new()];
    for a in alts {
        let mut next = Vec::new();
        'all: for prefix in &out {
            for &l in a {
                if next.len() >= MAX_TRIES {
                    break 'all;
                }
                let mut p = prefix.clone();
                p.push(l);
                next.push(p);
            }
        }
        out = next;
    }
    out
}

/// A lock twice in a row is a wait behind a waiting writer of it (a reader
/// queued behind it: the writer holds none of it), which is no lock-order
/// edge: the order is that of the locks between.
fn without_repeats(mut l: Vec<CycleLock>) -> Vec<CycleLock> {
    l.dedup_by_key(|&mut (id, ..)| id);
    while l.len() > 1 && l.first().map(|f| f.0) == l.last().map(|x| x.0) {
        l.pop();
    }
    l
}
