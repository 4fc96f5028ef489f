//! A deadlock's last line: the thread that waits for itself, the hold of
//! a role, the locks of one class, or the lock order to adopt ([`order`]).
//!
//! [`order`]: super::order

use super::*;

impl WatchdogReport {
    pub(super) fn deadlock_advice(&self) -> String {
        let ts = &self.threads;
        let waits: Vec<&WaitInfo> = ts.iter().filter_map(|t| t.waiting.as_ref()).collect();
        if waits.len() != ts.len() || ts.is_empty() {
            return "what to do: break the cycle above: one of its threads must release what it holds before it waits".into();
        }
        let n = ts.len();
        // Thread k waits for lock k, which thread k+1 holds; thread k holds
        // lock k-1. A thread waiting for what it holds itself (alone, or a
        // second read queued behind a writer that waits for its first):
        let holds_own = |k: usize| {
            let id = waits[k].lock.id;
            // An upgrade waits holding its own upgradable read: no second
            // request of what it holds.
            let upgrading = waits[k].mode == Some(WaitMode::Upgrade);
            ts[k]
                .held
                .iter()
                .find(|h| h.lock.id == id && id != 0 && !upgrading)
        };
        let own = if n == 1 {
            Some((0, holds_own(0)))
        } else {
            (0..n).find_map(|k| holds_own(k).map(|h| (k, Some(h))))
        };
        if let Some((k, held)) = own {
            let (t, w) = (&ts[k], waits[k]);
            let held_at = held.map(|h| opt_site(&h.site));
            let who = format!("thread `{}`", t.name);
            if w.mode == Some(WaitMode::Send) {
                // Its consumer role, not a guard: it waits for itself to
                // receive (a stage that sends into its own bounded queue).
                return advice::self_send(
                    &who,
                    &w.lock.to_string(),
                    &asked_at(w),
                    held_at.as_deref(),
                    "thread",
                );
            }
            if w.mode == Some(WaitMode::Permit) {
                return advice::self_permit(&who, &w.what(), &asked_at(w), held_at.as_deref());
            }
            if w.mode == Some(WaitMode::Upgrade) {
                // An upgrade waits for every other read, the thread's own
                // plain reads of the lock included.
                let read = t
                    .held
                    .iter()
                    .find(|h| h.lock.id == w.lock.id && h.hold == Hold::Shared && !h.upgradable);
                return format!(
                    "what to do: thread `{}` asks for {} at {} while it also holds a plain read of it{}, which the upgrade waits for: drop that read before upgrading",
                    t.name,
                    w.what(),
                    asked_at(w),
                    read.map_or_else(String::new, |h| format!(" (taken at {})", opt_site(&h.site)))
                );
            }
            // What else would let it ask again: a reentrant mutex for a
            // mutex, read_recursive for a read; nothing for a write.
            let instead = match (w.mode, w.lock.kind) {
                (Some(WaitMode::Read), _) => {
                    " (or, for a re-entrant read, read_recursive, which passes a waiting writer)"
                }
                (Some(WaitMode::Lock), LockKind::Mutex | LockKind::FairMutex) => {
                    " (or use a ReentrantMutex)"
                }
                _ => "",
            };
            return advice::ask_again(
                &format!("thread `{}`", t.name),
                &w.what(),
                &asked_at(w),
                held.map(|h| opt_site(&h.site)).as_deref(),
                instead,
            );
        }
        let ids: Vec<u64> = waits.iter().map(|w| w.lock.id).collect();
        let distinct = ids.iter().all(|&id| id != 0)
            && (0..n).all(|i| ids[i + 1..].iter().all(|&j| j != ids[i]));
        let upgrade = waits.iter().any(|w| w.mode == Some(WaitMode::Upgrade));
        // The thread to change: the first, in cycle order, that holds a
        // lock (not a role: a queue's consumer, a barrier's party, a
        // running thread, which it cannot release) while it waits.
        // A cycle through a role has no lock order to adopt: the advice is
        // that thread's hold.
        // A role, or a CUDA stream (a synchronize waits for the executor
        // running the stream's host function: no lock it could release).
        let held_as_role = |k: LockKind| k.is_role() || k == LockKind::Stream;
        let role = |k: usize| held_as_role(waits[(k + n - 1) % n].lock.kind);
        if (0..n).all(role) {
            // Roles alone (consumers, parties, joined threads): no lock to
            // release; the cycle is in the program's plan.
            return advice::roles_only("thread");
        }
        let k = (0..n).find(|&k| !role(k)).unwrap_or(0);
        if (0..n).any(role) {
            let (t, w) = (&ts[k], waits[k]);
            let before = &waits[(k + n - 1) % n].lock;
            let held = t.held.iter().find(|h| h.lock.id == before.id);
            let first = if held_as_role(w.lock.kind) {
                String::new()
            } else {
                format!(", or take {} first", w.lock)
            };
            return advice::release_before(
                &format!("thread `{}`", t.name),
                &w.what(),
                &asked_at(w),
                &before.to_string(),
                held.map(|h| opt_site(&h.site)).as_deref(),
                &first,
            );
        }
        // Locks of one class (per-object locks that one helper made): their
        // names say no order, so the advice is the order to give them (it
        // said "adopt `Mutex created at x.rs:12:49` before `Mutex created
        // at x.rs:12:49` before ...").
        let label = waits[0].lock.to_string();
        if distinct && waits.iter().all(|w| w.lock.to_string() == label) {
            return advice::one_class(n, &label);
        }
        let t0 = &ts[0];
        let last = &waits[n - 1].lock;
        let held = t0.held.iter().find(|h| h.lock.id == last.id);
        if !distinct || upgrade {
            return advice::release_or_order(
                &format!("thread `{}`", t0.name),
                &waits[0].what(),
                &asked_at(waits[0]),
                &held.map_or_else(|| "its locks".to_string(), |h| h.lock.to_string()),
                held.map(|h| opt_site(&h.site)).as_deref(),
            );
        }
        self.adopt_order_advice(&waits)
    }
}
