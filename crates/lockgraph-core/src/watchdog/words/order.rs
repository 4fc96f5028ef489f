//! A deadlock's advice for a cycle of distinct locks: the lock order to
//! adopt, and the thread that breaks it, both from the lock-order graph.

use super::*;

impl WatchdogReport {
    /// The order to adopt and who breaks it (`waits[k]`: thread `k`'s
    /// wait; thread `k` holds `waits[k - 1]`'s lock).
    ///
    /// The order is the one the program set first: the lock-order graph
    /// knows which of the cycle's edges was recorded last, closing it (the
    /// request its potential-deadlock report marks "this request closed
    /// the cycle"); the other edges are the order, and the thread that
    /// waits as that last edge asks breaks it. Without that (the graph off,
    /// or it did not find this cycle) the report names an example order,
    /// starting at the lock whose name sorts first so that it does not
    /// change from run to run, and the one thread whose
    /// hold and request go against it (it waits for the order's first lock
    /// holding its last; every other thread of the cycle asks in order).
    pub(super) fn adopt_order_advice(&self, waits: &[&WaitInfo]) -> String {
        let ts = &self.threads;
        let n = waits.len();
        let before = |k: usize| &waits[(k + n - 1) % n].lock;
        let order_from = |k: usize| -> Vec<String> {
            (0..n)
                .map(|i| waits[(k + i) % n].lock.to_string())
                .collect()
        };
        let closer = self.order.as_ref().and_then(|o| {
            let step = o.steps.get(o.closed_by?)?;
            (0..n).find(|&k| waits[k].lock.id == step.to.id && before(k).id == step.from.id)
        });
        let example = closer.is_none();
        // Without the graph's word, the thread of an example order: the
        // one that waits for its first lock (found by an outside test: the
        // advice named no thread, and "the other way" read oddly for a
        // cycle of three).
        // The first lock by kind and name (or site), which runs of one
        // program share; ids, which follow which lock was used first, do
        // not (found by an outside test: two runs of one binary named two
        // orders and two threads). Locks named alike (two accounts) by
        // where they are asked for, then by id.
        let k = closer.unwrap_or_else(|| {
            (0..n)
                .min_by_key(|&k| {
                    let site = waits[k].site.map(|s| s.to_string()).unwrap_or_default();
                    (waits[k].lock.to_string(), site, waits[k].lock.id)
                })
                .unwrap_or(0)
        });
        let (t, w, last) = (&ts[k], waits[k], before(k));
        let held = t.held.iter().find(|h| h.lock.id == last.id);
        let advise = if example {
            advice::adopt_order_example
        } else {
            advice::adopt_order
        };
        advise(
            &order_from(k),
            &format!("thread `{}`", t.name),
            &w.lock.to_string(),
            &asked_at(w),
            &last.to_string(),
            held.map(|h| opt_site(&h.site)).as_deref(),
        )
    }
}
