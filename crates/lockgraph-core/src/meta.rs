//! Lock identity, the ground floor: the [`LockMeta`] every tracked lock (and
//! every blocking primitive) embeds, its instance id and the flags kept in
//! the id's word, and the two small types the held-lock state hands to the
//! layers that record edges ([`Held`], [`Op`]).
//!
//! Nothing here touches per-thread state beyond the blocks of fresh ids;
//! the hooks a lock calls on its `LockMeta` (before a wait, after an
//! acquisition, on release) are the held-lock state's (`crate::state`), and
//! the protocol around a blocking primitive is `crate::primitive`'s.

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::class::{fnv, Class, LockKind};
use crate::report::Hold;

/// The most locks one thread can hold and still have them tracked. Deeper
/// acquisitions work but are not tracked (and a one-time warning says so).
pub const MAX_HELD: usize = 48;

/// Instance ids are handed to threads in blocks, so that making locks does not
/// contend on one counter.
const ID_BLOCK: u64 = 1024;

/// The lock's word is its id shifted left by this (the form a held-lock
/// slot keeps it in, `held_stack`), with the flags below in the low bits:
/// the release's fast pop compares it with a slot without a shift.
pub(crate) const ID_SHIFT: u32 = 8;
/// In the id word: the lock is a node of the instance graph (its drop must
/// remove it there).
pub(crate) const IN_GRAPH: u64 = 1;
/// In the id word: a shared guard of the lock was released: the atomicity
/// checker records this lock's writes from then on (see
/// `atomicity::released`).
pub(crate) const WATCHED: u64 = 2;
/// In the id word: an edge into the lock waits in a thread's buffer of
/// edges into fresh locks (`global::young`): its drop must say so there.
pub(crate) const YOUNG: u64 = 4;
/// In the id word: an edge from the lock was buffered (`global::young`),
/// maybe by several threads. In a held-lock slot's id word: this thread
/// buffered one, to be set in the lock's word when it is released.
pub(crate) const YOUNG_FROM: u64 = 8;
/// In the id word: [`YOUNG_FROM`] was handed to the word when it had it
/// already: edges from the lock were buffered in more than one hold (maybe
/// by several threads). Without it, one hold of one thread buffered every
/// edge from the lock, into that thread's buffer (`global::young::forget`).
pub(crate) const YOUNG_FROM_AGAIN: u64 = 16;
/// The id of a lock's word (its flags shifted out).
#[inline(always)]
pub(crate) const fn word_to_id(word: u64) -> u64 {
    word >> ID_SHIFT
}
/// The flags saying the lock has an edge somewhere (the graph or a buffer).
pub(crate) const HAS_EDGES: u64 = IN_GRAPH | YOUNG | YOUNG_FROM;
/// Lock word `v` with the edge flags `flags` handed over (as
/// [`LockMeta::mark`] sets them), for a lock whose word is not shared any
/// more (it is being dropped).
pub(crate) const fn with_handover(v: u64, flags: u64) -> u64 {
    let again = if v & flags & YOUNG_FROM != 0 {
        YOUNG_FROM_AGAIN
    } else {
        0
    };
    v | flags & HAS_EDGES | again
}
/// Every flag of the lock's word (below `1 << ID_SHIFT`). Read by a
/// constant assertion (`held_stack.rs`) and tests, which Rust 1.88 does not
/// count as a use (it warned, on the MSRV lockgraph's CI checks).
#[allow(dead_code)]
pub(crate) const LOCK_FLAGS: u64 = HAS_EDGES | WATCHED | YOUNG_FROM_AGAIN;
/// Not a flag of the lock's word: the lean mode's bit of a held-lock
/// slot's word (`held_stack::M_LEAN`), which [`LockMeta::slot_word`]
/// carries as well (defined here, where that word is made).
pub(crate) const SLOT_LEAN: u64 = 16;

/// Ids at or above this are never handed out ([`id_block`]): a held-lock
/// slot's word `id << 8 | mode` then never sets bit 63, which the steady
/// test's tag (`features::TAG_ON`) uses. At one new lock every 10 ns,
/// that is eleven years of nothing but new locks.
pub(crate) const ID_LIMIT: u64 = 1 << 55;

static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

/// The block of ids `[start, start + ID_BLOCK)` a thread was handed at
/// `start`, or `None` when it reaches past [`ID_LIMIT`].
fn id_block(start: u64) -> Option<(u64, u64)> {
    let end = start.checked_add(ID_BLOCK)?;
    (end <= ID_LIMIT).then_some((start, end))
}

crate::sync::thread_local_const! {
    /// This thread's block of fresh ids: the next one, and the end.
    static IDS: (Cell<u64>, Cell<u64>) = const { (Cell::new(0), Cell::new(0)) };
}

/// In a child process, in a fork hook (the forking thread, the only one):
/// the first id of the next block, which every id the child hands out from
/// now on is at or above, the forking thread's block dropped so that its
/// next id comes from a new one. Ids below it are the ones the parent had
/// handed out at the fork (the locks the child inherited) or hands out
/// after it from the rest of its threads' blocks. The parent (or a sibling
/// forked at the same point) can still hand out the numbers from the mark
/// on: what tells the two apart in a record is the pid listed with the
/// mark (`record`'s `Minters`).
pub(crate) fn fresh_ids_after_fork() -> u64 {
    let _ = IDS.try_with(|(next, end)| {
        next.set(0);
        end.set(0);
    });
    NEXT_ID_BLOCK.load(Ordering::Relaxed)
}

/// The id of `winner`, the word another thread set first (a cold path of
/// its own, so that the usual case is the compare-and-swap and a branch).
#[cold]
#[inline(never)]
fn lost_race(winner: u64) -> u64 {
    word_to_id(winner)
}

/// Every id below [`ID_LIMIT`] was handed out: a new lock's id would alias
/// another's or break the held-lock stack's words, so the process stops
/// with a message rather than report wrong cycles.
#[cold]
#[inline(never)]
fn ids_exhausted() -> ! {
    crate::stderr::line("lockgraph: every lock id below 2^55 was handed out; no id is left for a new lock (aborting)");
    std::process::abort()
}

/// Tracking state embedded in every tracked lock: its class and its instance id.
///
/// The id is assigned lazily on first tracked use (one relaxed load afterwards)
/// and is never reused, so a moved lock keeps its identity and a dropped lock's
/// id never aliases a new one.
pub struct LockMeta {
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    /// A named class's key in chains ([`hot_key`](Self::hot_key): odd),
    /// made with the lock; 0 for every other class.
    named_key: u64,
    pub(crate) id: AtomicU64,
    /// The word of a held-lock slot where the lean mode's push put this
    /// lock exclusively (`held_stack`): `id << 8 | SLOT_LEAN`, without the
    /// flags [`id`](Self::id) keeps in its low bits. The lean mode's steady
    /// test compares a slot with it or-ed with the mode's bits, and so does
    /// its release in a build that puts the lean mode first
    /// (`state::lean`), where the id word would need its flags masked off
    /// and the lean bit or-ed in first. 0 until the lean mode's push first
    /// rewrites a slot for the lock (`set_slot_word`), so that no other
    /// mode pays for it: until then no slot matches it.
    pub(crate) slot_word: AtomicU64,
    /// The atomicity checker's block for this lock (`atomicity::LockAtom`),
    /// allocated on first use while the checker is on and freed with the
    /// lock; typed where it is used, so that identity does not depend on
    /// the checker.
    pub(crate) atom: AtomicPtr<()>,
}

impl std::fmt::Debug for LockMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockMeta")
            .field("class", &self.class)
            .field("kind", &self.kind)
            .field("id", &word_to_id(self.id.load(Ordering::Relaxed)))
            .finish()
    }
}

impl LockMeta {
    /// Metadata for a lock of `kind` in `class`. In line, so that a
    /// constructor's class (known where it is called) folds the match.
    #[inline]
    pub const fn new(kind: LockKind, class: Class) -> LockMeta {
        let named_key = match class {
            Class::Named(n) => fnv(n) | 1,
            _ => 0,
        };
        LockMeta {
            class,
            kind,
            named_key,
            id: AtomicU64::new(0),
            slot_word: AtomicU64::new(0),
            atom: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The lock's class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The lock's kind.
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// Whether an instance id was assigned (by a first use): a lock
    /// without one is held by no thread.
    #[inline]
    pub fn has_id(&self) -> bool {
        self.id.load(Ordering::Relaxed) != 0
    }

    /// The instance id, assigning one on first use.
    #[inline]
    pub fn id(&self) -> u64 {
        let v = self.id.load(Ordering::Relaxed);
        if v != 0 {
            return word_to_id(v);
        }
        self.assign_id()
    }

    /// [`id`](Self::id) with a fresh id taken from this thread's block in
    /// line (the lock path's push and its pair test: a new lock is every
    /// iteration of a churn); only a new block, or no thread-local left,
    /// is the call.
    #[inline(always)]
    pub(crate) fn id_in_line(&self) -> u64 {
        let v = self.id.load(Ordering::Relaxed);
        if v != 0 {
            return word_to_id(v);
        }
        // None: the block is used up (or never taken: both start at 0),
        // or the thread is exiting.
        let fresh = IDS.try_with(|(next, end)| {
            let id = next.get();
            if id < end.get() {
                next.set(id + 1);
                Some(id)
            } else {
                None
            }
        });
        match fresh {
            Ok(Some(id)) => self.install_id(id),
            _ => self.assign_id(),
        }
    }

    #[cold]
    #[inline(never)]
    fn assign_id(&self) -> u64 {
        let block = || {
            let start = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            id_block(start).unwrap_or_else(|| ids_exhausted())
        };
        let fresh = IDS
            .try_with(|(next, end)| {
                if next.get() >= end.get() {
                    let (s, e) = block();
                    next.set(s);
                    end.set(e);
                }
                let id = next.get();
                next.set(id + 1);
                id
            })
            // No thread-local left (the thread is exiting): a block of one.
            .unwrap_or_else(|_| block().0);
        self.install_id(fresh)
    }

    /// Sets `fresh` as the lock's id unless another thread set one first
    /// (two threads may use a new lock first at once: one waiting for it,
    /// one holding it); the id that won.
    #[inline(always)]
    fn install_id(&self, fresh: u64) -> u64 {
        match self
            .id
            .compare_exchange(0, fresh << ID_SHIFT, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(winner) => lost_race(winner),
        }
    }

    /// Sets [`slot_word`](Self::slot_word) for the lock's id `id` (the
    /// lean mode's cold push). Every thread that sets it sets the same
    /// value.
    #[inline]
    pub(crate) fn set_slot_word(&self, id: u64) {
        let w = id << ID_SHIFT | SLOT_LEAN;
        if self.slot_word.load(Ordering::Relaxed) != w {
            self.slot_word.store(w, Ordering::Relaxed);
        }
    }

    /// Whether a shared guard of this lock was ever released while the
    /// atomicity checker was on.
    #[inline]
    pub(crate) fn watched(&self) -> bool {
        self.id.load(Ordering::Relaxed) & WATCHED != 0
    }

    pub(crate) fn mark_watched(&self) {
        self.id.fetch_or(WATCHED, Ordering::Relaxed);
    }

    pub(crate) fn mark_in_graph(&self) {
        self.id.fetch_or(IN_GRAPH, Ordering::Relaxed);
    }

    /// Sets `flags` (of [`HAS_EDGES`]) in the lock's word; a
    /// [`YOUNG_FROM`] the word had already adds [`YOUNG_FROM_AGAIN`].
    #[inline]
    pub(crate) fn mark(&self, flags: u64) {
        let old = self.id.fetch_or(flags & HAS_EDGES, Ordering::Relaxed);
        if old & flags & YOUNG_FROM != 0 {
            self.id.fetch_or(YOUNG_FROM_AGAIN, Ordering::Relaxed);
        }
    }

    /// The [`HAS_EDGES`] flags of the lock's word.
    #[inline]
    pub(crate) fn edge_flags(&self) -> u64 {
        self.id.load(Ordering::Relaxed) & HAS_EDGES
    }

    /// The per-thread key of this lock's class in the contention profile.
    pub(crate) fn profile_key(&self) -> u64 {
        self.hot_key(self.id())
    }

    /// The key hashed into chains: the class's address or name hash, or the
    /// instance (`id`) for anonymous classes ([`anonymous_id`] reads it
    /// back).
    #[inline]
    pub(crate) fn hot_key(&self, id: u64) -> u64 {
        match self.class_key() {
            Some(key) => key,
            None => (id << 2) | 2,
        }
    }

    /// [`hot_key`](Self::hot_key) when it names no id: a site class's
    /// (after one test of the tag: the usual class, and every new lock of
    /// a churn) or a named class's (made with the lock); `None` for an
    /// anonymous lock, whose key is its id's.
    #[inline(always)]
    pub(crate) fn class_key(&self) -> Option<u64> {
        if let Class::Site(l, t) = self.class {
            return Some(Class::site_hot_key(l, t));
        }
        (self.named_key != 0).then_some(self.named_key)
    }
}

/// What an acquisition-like event is, for the chain key and the recorder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Acquire,
    /// An upgrade of the upgradable read this thread holds: it keeps the
    /// lock (its upgradable read, and the writer bit) while it waits.
    Upgrade,
    /// A bump: the lock this thread holds handed to a waiter and taken
    /// back, in the same mode, while every other lock stays held. Unlike an
    /// upgrade, the lock itself is not held while it waits.
    Bump,
    CondvarWait(u64),
    Notify,
}

/// One held lock, as handed to the recorder (a copy of one stack slot).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) id: u64,
    pub(crate) key: u64,
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    pub(crate) hold: Hold,
    pub(crate) site: Option<&'static Location<'static>>,
}

/// The lock id in the [`LockMeta::hot_key`] of an anonymous class.
pub(crate) fn anonymous_id(key: u64) -> u64 {
    key >> 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block reaching past `ID_LIMIT` is refused (the process would stop
    /// rather than hand it out); the last one below is handed out whole.
    #[test]
    fn no_block_of_ids_reaches_past_the_limit() {
        assert_eq!(id_block(1), Some((1, 1 + ID_BLOCK)));
        assert_eq!(
            id_block(ID_LIMIT - ID_BLOCK),
            Some((ID_LIMIT - ID_BLOCK, ID_LIMIT))
        );
        assert_eq!(id_block(ID_LIMIT - ID_BLOCK + 1), None);
        assert_eq!(id_block(u64::MAX - 3), None);
        // The largest id handed out, as a slot's word with every mode and
        // slow bit, leaves bit 63 clear.
        assert_eq!(
            ((ID_LIMIT - 1) << ID_SHIFT | 0xff) & crate::features::TAG_ON,
            0
        );
    }

    /// The child of `the_last_id_below_the_limit_is_handed_out_then_the_process_stops`
    /// (does nothing unless that test started it): the next block is the
    /// last below `ID_LIMIT`; its ids are handed out, in line and not,
    /// then the next new lock stops the process.
    #[test]
    fn child_ids_run_out() {
        if !lockgraph_testkit::is_child() {
            return;
        }
        // Blocks start at 1 + k * ID_BLOCK: the last whose end is within
        // the limit.
        let last = (ID_LIMIT - ID_BLOCK - 1) / ID_BLOCK * ID_BLOCK + 1;
        NEXT_ID_BLOCK.store(last, Ordering::Relaxed);
        let first = LockMeta::new(LockKind::Mutex, Class::Named("ids-run-out"));
        assert_eq!(first.id(), last);
        for i in 1..ID_BLOCK {
            let m = LockMeta::new(LockKind::Mutex, Class::Named("ids-run-out"));
            let id = if i % 2 == 0 { m.id() } else { m.id_in_line() };
            assert_eq!(id, last + i);
            assert!(id < ID_LIMIT);
        }
        println!("IDS HANDED OUT");
        let past = LockMeta::new(LockKind::Mutex, Class::Named("ids-run-out"));
        let id = past.id_in_line();
        println!("AN ID PAST THE LIMIT: {id}");
    }

    /// Every id below `ID_LIMIT` handed out, a new lock stops the process
    /// with a message (in a child process, with a deadline), on the in-line
    /// path as on `id`'s: no id at or past the limit is ever handed out.
    #[test]
    fn the_last_id_below_the_limit_is_handed_out_then_the_process_stops() {
        if lockgraph_testkit::is_child() {
            return;
        }
        let out = lockgraph_testkit::child!(child_ids_run_out)
            .deadline(std::time::Duration::from_secs(60))
            .run();
        assert!(!out.timed_out, "the child did not finish in a minute");
        let (stdout, stderr) = (&out.stdout, &out.stderr);
        assert!(!out.success(), "{}", out.both());
        assert!(stdout.contains("IDS HANDED OUT"), "{}", out.both());
        assert!(!stdout.contains("PAST THE LIMIT"), "{}", out.both());
        assert!(
            stderr.contains("every lock id below 2^55 was handed out"),
            "{stderr}"
        );
    }

    /// After `fresh_ids_after_fork`, this thread's next id is from a new
    /// block, at or above the mark it returned (the rest of its old block
    /// is the parent's, after a fork).
    #[test]
    fn ids_after_a_fork_come_from_a_new_block() {
        let first = LockMeta::new(LockKind::Mutex, Class::Anonymous);
        let old = first.id_in_line();
        let mark = fresh_ids_after_fork();
        assert!(mark > old);
        let (a, b) = (
            LockMeta::new(LockKind::Mutex, Class::Anonymous),
            LockMeta::new(LockKind::Mutex, Class::Anonymous),
        );
        assert!(a.id_in_line() >= mark);
        assert!(b.id() >= mark);
    }

    /// Ids taken in line are the ids `id` reads back, distinct across
    /// locks and across the thread's blocks (past 1,024), never reused.
    #[test]
    fn ids_taken_in_line_are_distinct_across_blocks() {
        let locks: Vec<LockMeta> = (0..3 * ID_BLOCK as usize)
            .map(|_| LockMeta::new(LockKind::Mutex, Class::Named("meta-ids")))
            .collect();
        let ids: Vec<u64> = locks
            .iter()
            .enumerate()
            .map(|(i, m)| if i % 3 == 0 { m.id() } else { m.id_in_line() })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for (m, &id) in locks.iter().zip(&ids) {
            assert!(id != 0);
            assert_eq!(m.id(), id);
            assert_eq!(m.id_in_line(), id);
            assert!(seen.insert(id), "id {id} given twice");
        }
        // Locks made after the first ones dropped get new ids.
        drop(locks);
        let later = LockMeta::new(LockKind::Mutex, Class::Named("meta-ids"));
        assert!(!seen.contains(&later.id_in_line()));
    }

    /// Two threads using the same new locks first at once (both in the
    /// same order, so they race for many) agree on each lock's id (the
    /// compare-and-swap's loser takes the winner's).
    #[test]
    fn two_threads_taking_a_new_locks_id_at_once_agree() {
        const N: usize = 5000;
        // Rounds of fresh locks: a round where one thread ran alone
        // proves nothing, so there are many.
        for _ in 0..40 {
            let locks: Vec<LockMeta> = (0..N)
                .map(|_| LockMeta::new(LockKind::Mutex, Class::Anonymous))
                .collect();
            let barrier = std::sync::Barrier::new(2);
            let (a, b) = std::thread::scope(|s| {
                let (locks, barrier) = (&locks, &barrier);
                let run = move || {
                    barrier.wait();
                    locks.iter().map(LockMeta::id_in_line).collect::<Vec<_>>()
                };
                let t = s.spawn(run);
                (run(), t.join().unwrap())
            });
            assert_eq!(a, b);
            for (m, id) in locks.iter().zip(&a) {
                assert_eq!(m.id(), *id);
            }
        }
    }

    /// The compare-and-swap's loser (the word set by another thread
    /// between the load and the swap) takes the winner's id.
    #[test]
    fn a_lost_id_race_takes_the_winners_id() {
        let m = LockMeta::new(LockKind::Mutex, Class::Anonymous);
        m.id.store(5 << ID_SHIFT | IN_GRAPH, Ordering::Relaxed);
        assert_eq!(m.install_id(7), 5);
        assert_eq!(m.id(), 5);
        let fresh = LockMeta::new(LockKind::Mutex, Class::Anonymous);
        assert_eq!(fresh.install_id(7), 7);
        assert_eq!(fresh.id(), 7);
    }

    /// The class key: a site class's from its site and type, a named
    /// class's from its name (the same for two locks of one name), an
    /// anonymous lock's from its id (another for every lock).
    #[test]
    fn hot_keys_of_each_class() {
        let site = Class::here();
        let Class::Site(l, t) = site else {
            unreachable!()
        };
        let s = LockMeta::new(LockKind::Mutex, site);
        assert_eq!(s.hot_key(s.id()), Class::site_hot_key(l, t));
        let (n1, n2) = (
            LockMeta::new(LockKind::Mutex, Class::Named("meta-key")),
            LockMeta::new(LockKind::RwLock, Class::Named("meta-key")),
        );
        assert_eq!(n1.hot_key(n1.id()), fnv("meta-key") | 1);
        assert_eq!(n1.hot_key(n1.id()), n2.hot_key(n2.id()));
        let (a1, a2) = (
            LockMeta::new(LockKind::Mutex, Class::Anonymous),
            LockMeta::new(LockKind::Mutex, Class::Anonymous),
        );
        assert_eq!(a1.hot_key(a1.id()), (a1.id() << 2) | 2);
        assert_ne!(a1.hot_key(a1.id()), a2.hot_key(a2.id()));
        assert_ne!(a1.hot_key(a1.id()), n1.hot_key(n1.id()));
    }
}
