//! The parties of a barrier's last completed round, by resource id, for
//! the advice of a barrier wait that no other party is on its way to: a
//! party of that round whose thread has exited since (a panic, an early
//! return) is named as the one that will never arrive. The barrier keeps
//! the parties of its current round itself (a [`PartyToken`] per arrival,
//! taken only while the watchdog is on) and publishes them here when the
//! round completes; its drop takes them back. No lock acquisition reads
//! or writes this table.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::slot::{with_slot_arc, Slot};
use crate::fork::Mutex;
use crate::LockMeta;

/// A thread's arrival at a barrier, for [`publish_round`]: the thread's
/// watchdog slot (its name, and whether it still runs).
#[derive(Clone)]
pub struct PartyToken(Arc<Slot>);

impl std::fmt::Debug for PartyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PartyToken").field(&self.0.name).finish()
    }
}

/// This thread, as a party arriving at a barrier, while the watchdog is
/// on (`None` otherwise: nothing reads the parties then).
pub fn party_token() -> Option<PartyToken> {
    if !super::on() {
        return None;
    }
    let mut token = None;
    with_slot_arc(|s| token = Some(PartyToken(Arc::clone(s))));
    token
}

/// Each barrier's parties of its last completed round, by resource id.
static ROUNDS: Mutex<BTreeMap<u64, Vec<PartyToken>>> = Mutex::new(BTreeMap::new());

/// The table across `fork()` (see `fork.rs`): held by a thread that forks,
/// it would stay held in the child, whose watchdog reads it.
static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(ROUNDS.lock()),
    child: crate::fork::nothing,
};

/// The barrier `meta` completed a round whose parties arrived as
/// `parties` (in arrival order): they replace its previous round's.
pub fn publish_round(meta: &LockMeta, parties: Vec<PartyToken>) {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &FORK_HOOKS);
    ROUNDS.lock().insert(meta.id(), parties);
}

/// The barrier `meta` is gone (it published a round): its parties with it.
pub fn forget_rounds(meta: &LockMeta) {
    ROUNDS.lock().remove(&meta.id());
}

/// The names of the parties of the barrier `id`'s last completed round
/// whose threads have exited since, in arrival order (each once).
pub(super) fn exited(id: u64) -> Vec<String> {
    let all = ROUNDS.lock();
    let mut out: Vec<String> = Vec::new();
    for p in all.get(&id).into_iter().flatten() {
        if !p.0.alive.load(Ordering::Relaxed) && !out.contains(&p.0.name) {
            out.push(p.0.name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Class, LockKind};

    /// A party whose thread ended is exited; one still running is not; a
    /// forgotten barrier has none.
    #[test]
    fn a_party_whose_thread_ended_is_exited() {
        let meta = LockMeta::new(LockKind::Barrier, Class::Named("parties-test"));
        let gone = Arc::new(Slot::new("gone-party", 0));
        let here = Arc::new(Slot::new("here-party", 0));
        gone.alive.store(false, Ordering::Relaxed);
        publish_round(
            &meta,
            vec![
                PartyToken(Arc::clone(&here)),
                PartyToken(gone.clone()),
                PartyToken(gone),
            ],
        );
        assert_eq!(exited(meta.id()), vec!["gone-party".to_string()]);
        forget_rounds(&meta);
        assert!(exited(meta.id()).is_empty());
    }
}
