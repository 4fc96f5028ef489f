//! Lock-order cycles among locks of one class through sites already
//! delivered: per-object locks (accounts, shards) taken by one buggy
//! function in both orders make a new instance-level cycle for each set
//! of objects it meets, every one fixed at the same lines. Under `warn`
//! only the first is delivered (found by an outside test: one naive bank
//! transfer over 16 accounts printed 211 reports, 7,280 lines of stderr,
//! all through the same two lines). A capture still gets every one, and
//! `panic` and `abort` act on each. The key is made from the cycle as
//! found ([`CycleFound::repeat_key`](super::found)), so that no report is
//! built on the thread that closed the cycle.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::panic::Location;
use std::sync::Mutex;

use crate::class::LockKind;

/// The keys of the one-class cycles delivered (see [`key`]).
static DELIVERED: Mutex<Option<HashSet<u64>>> = Mutex::new(None);

/// How many keys [`DELIVERED`] keeps before it starts again (a repeat is
/// then delivered once more).
const KEPT: usize = 65_536;

/// A site of an edge's recording: where the held lock was taken, where
/// the next one was requested.
type Sites = (
    Option<&'static Location<'static>>,
    Option<&'static Location<'static>>,
);

/// What makes two instance-level cycles among locks of one class (`kind`,
/// the class's `identity`) the same bug: the set of their edges' sites.
/// `None` when no edge has a site (no code to tell the bug by).
pub(super) fn key(
    kind: LockKind,
    identity: (usize, usize),
    sites: impl Iterator<Item = Sites>,
) -> Option<u64> {
    let one = |x: &dyn Fn(&mut DefaultHasher)| {
        let mut h = DefaultHasher::new();
        x(&mut h);
        h.finish()
    };
    // The set's hash, whatever its order: its members' hashes, sorted.
    let members: BTreeSet<u64> = sites
        .filter(|(h, q)| h.is_some() || q.is_some())
        .map(|s| one(&|h| s.hash(h)))
        .collect();
    if members.is_empty() {
        return None;
    }
    Some(one(&|h| {
        kind.hash(h);
        identity.hash(h);
        members.hash(h);
    }))
}

/// Whether a cycle of `key` was delivered before; the first of each is
/// noted as delivered.
pub(super) fn already_delivered(key: u64) -> bool {
    let mut d = DELIVERED.lock().unwrap_or_else(|e| e.into_inner());
    let set = d.get_or_insert_with(HashSet::new);
    if set.len() >= KEPT {
        set.clear();
    }
    !set.insert(key)
}
