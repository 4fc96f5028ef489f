//! One owner's held set ([`HeldSet`]): its holds in fixed slots of plain
//! words, filled and read by the owner without a lock, released from
//! anywhere, and the key of a nested acquisition's memo (its content).

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::Owner;
use crate::class::{Class, LockKind};
use crate::meta::Held;
use crate::report::Hold;

/// Holds one owner can have tracked at once; more are not tracked (a
/// one-time warning says so), as the sync stack's `MAX_HELD`.
pub(crate) const SLOTS: usize = 32;

/// In a slot's state: the lock went into the instance graph while held
/// (its release marks the lock, so that the lock's drop removes it there).
const IN_GRAPH: u64 = 1;
/// In a slot's state: the hold was downgraded to a shared one.
const DOWNGRADED: u64 = 2;
/// In a slot's state: the hold is shared (taken so).
const SHARED: u64 = 4;
/// A slot's state is `token << TOKEN_SHIFT | flags`; 0 when free.
const TOKEN_SHIFT: u32 = 3;

/// One hold, as plain words: its state (written by the owner when it takes
/// it, by whoever releases it) and its lock's id, class key, class, kind
/// and the site it was taken at (written by the owner before the state
/// publishes the hold; read by the owner, and by the task watchdog's scan
/// from its own thread, which checks that the state did not change
/// meanwhile).
pub(super) struct Slot {
    pub(super) state: AtomicU64,
    pub(super) id: AtomicU64,
    key: AtomicU64,
    /// The class: a site's `Location` and type-name function, or a name's
    /// pointer and length ([`encode_class`]).
    pub(super) class_a: AtomicUsize,
    pub(super) class_b: AtomicUsize,
    /// The class's tag and the kind (`tag | kind << 8`).
    pub(super) tag_kind: AtomicU32,
    pub(super) site: AtomicUsize,
    /// When a hold sampled by the contention profile began (nanoseconds
    /// since [`profile_epoch`], never 0), else 0: 0 whenever the slot is
    /// free (the release takes it).
    since: AtomicU64,
}

/// The origin of the hold times of [`HeldSet::stamp`].
pub(crate) fn profile_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// A class and kind as three words: `(a, b, tag | kind << 8)`, the class
/// and kind in [`crate::class`]'s word form.
#[inline(always)]
fn encode_class(class: Class, kind: LockKind) -> (usize, usize, u32) {
    let (tag, a, b) = crate::class::encode_class(class);
    (
        a,
        b,
        tag as u32 | (crate::class::encode_kind(kind) as u32) << 8,
    )
}

/// The class and kind [`encode_class`] gave `(a, b, w)`.
///
/// # Safety
/// `(a, b, w)` were given by [`encode_class`] for one class (the pointers
/// are `'static`, the function a type-name function).
pub(super) unsafe fn decode_class(a: usize, b: usize, w: u32) -> (Class, LockKind) {
    // SAFETY: the words are one call's of `class::encode_class` (the
    // caller's contract).
    let class = unsafe { crate::class::decode_class(w as u8, a, b) };
    (class, crate::class::decode_kind((w >> 8) as u8))
}

/// The async locks one owner holds, in fixed slots: the owner (the task,
/// which runs on one thread at a time, or the thread) fills a slot and
/// reads the slots; a release only clears the slot's state word. No lock
/// is taken on either path, and the owner's own fill and release are
/// plain stores (no locked instruction): only a release by another task
/// or thread (an owned guard that moved) is a compare-and-swap, as the
/// owner may be setting a flag in the same word meanwhile.
///
/// A set leaves the registry (the sweep) only when no thread has it cached
/// (its `Arc` is the registry's alone) and it holds nothing: an owner
/// fills a slot only through its thread's cache or a registry look-up
/// under the shard's lock, so no fill can race the sweep.
pub(crate) struct HeldSet {
    pub(crate) owner: Owner,
    pub(super) slots: [Slot; SLOTS],
    /// Slots at and above this are free (owner only).
    pub(super) top: AtomicUsize,
    /// The last token handed out (owner only).
    next_token: AtomicU64,
    /// Set by a release or downgrade from elsewhere (before its state
    /// changes): the holds a nested acquisition's memo saw may have
    /// changed under it (see [`HeldSet::content`]).
    dirty: AtomicBool,
}

/// One hold's share of [`HeldSet::content`]: the lock instance and mode,
/// mixed (splitmix64's finaliser) so that the sum of a set's shares tells
/// sets apart. A multiple of the id alone made the sum a multiple of the
/// ids' sum: {1, 4} and {2, 3} were one set, and a nested acquisition
/// under the second was taken for checked under the first.
#[inline(always)]
pub(super) fn entry(id: u64, hold: Hold) -> u64 {
    let mut z = id ^ (hold as u64) << 62;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hold a slot's state `s` stands for.
#[inline]
pub(super) fn hold_of(s: u64) -> Hold {
    if s & (SHARED | DOWNGRADED) != 0 {
        Hold::Shared
    } else {
        Hold::Exclusive
    }
}

impl Slot {
    /// The hold whose state is `s` (read just before), as the owner reads
    /// it (owner only: its own writes; the scan reads the words itself).
    fn held(&self, s: u64) -> Held {
        let (a, b, w) = (
            self.class_a.load(Ordering::Relaxed),
            self.class_b.load(Ordering::Relaxed),
            self.tag_kind.load(Ordering::Relaxed),
        );
        // SAFETY: the words were stored together by `push` for this hold
        // (the owner's own writes, which no one else makes).
        let (class, kind) = unsafe { decode_class(a, b, w) };
        let site = self.site.load(Ordering::Relaxed);
        Held {
            id: self.id.load(Ordering::Relaxed),
            key: self.key.load(Ordering::Relaxed),
            class,
            kind,
            hold: hold_of(s),
            // SAFETY: a non-zero word was stored from a `&'static
            // Location` by `push`.
            site: (site != 0).then(|| unsafe { &*(site as *const Location<'static>) }),
        }
    }
}

impl HeldSet {
    pub(super) fn new(owner: Owner) -> HeldSet {
        HeldSet {
            owner,
            slots: std::array::from_fn(|_| Slot {
                state: AtomicU64::new(0),
                id: AtomicU64::new(0),
                key: AtomicU64::new(0),
                class_a: AtomicUsize::new(0),
                class_b: AtomicUsize::new(0),
                tag_kind: AtomicU32::new(0),
                site: AtomicUsize::new(0),
                since: AtomicU64::new(0),
            }),
            top: AtomicUsize::new(0),
            next_token: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
        }
    }

    /// Adds `held` (owner only, through its thread's cache or a registry
    /// look-up: see the type): the slot and token, or `None` when every
    /// slot is taken. Plain stores: the sweeper reads the states only
    /// after the owner's thread gave up its reference to the set.
    #[inline]
    pub(crate) fn push(&self, held: Held) -> Option<(usize, u64)> {
        // Acquire: a release by another thread (its `since` cleared
        // before) happens before this slot is filled again.
        let i = (0..SLOTS).find(|&i| self.slots[i].state.load(Ordering::Acquire) == 0)?;
        Some((i, self.fill(i, &held)))
    }

    /// [`push`](Self::push) into an empty set (owner only; slot 0).
    #[inline]
    pub(crate) fn push_first(&self, held: &Held) -> (usize, u64) {
        (0, self.fill(0, held))
    }

    /// Fills free slot `i` with `held` (owner only); its token.
    #[inline(always)]
    fn fill(&self, i: usize, held: &Held) -> u64 {
        let token = self.next_token.load(Ordering::Relaxed) + 1;
        self.next_token.store(token, Ordering::Relaxed);
        let slot = &self.slots[i];
        slot.id.store(held.id, Ordering::Relaxed);
        // The class words are a function of the class key and the kind
        // (as the sync stack's): a slot refilled with a lock of the same
        // class keeps them (the scan reads them only while the state
        // stays the same, and they do not change).
        let kind = (held.kind as u32) << 8;
        if slot.key.load(Ordering::Relaxed) != held.key
            || slot.tag_kind.load(Ordering::Relaxed) & !0xff != kind
        {
            slot.key.store(held.key, Ordering::Relaxed);
            let (a, b, w) = encode_class(held.class, held.kind);
            slot.class_a.store(a, Ordering::Relaxed);
            slot.class_b.store(b, Ordering::Relaxed);
            slot.tag_kind.store(w, Ordering::Relaxed);
        }
        let site = held
            .site
            .map_or(0, |l| l as *const Location<'static> as usize);
        slot.site.store(site, Ordering::Relaxed);
        let shared = if held.hold == Hold::Shared { SHARED } else { 0 };
        // Release: the watchdog's scan reads the words after an acquire
        // load of the state.
        slot.state
            .store(token << TOKEN_SHIFT | shared, Ordering::Release);
        if self.top.load(Ordering::Relaxed) <= i {
            self.top.store(i + 1, Ordering::Relaxed);
        }
        token
    }

    /// Whether no slot holds a hold (the sweeper, once no thread has the
    /// set cached).
    pub(super) fn no_holds(&self) -> bool {
        self.slots
            .iter()
            .all(|s| s.state.load(Ordering::Acquire) == 0)
    }

    /// The owner's holds now (owner only), with whether each is in the
    /// instance graph.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, Held)) {
        for i in 0..self.top.load(Ordering::Relaxed) {
            let s = self.slots[i].state.load(Ordering::Acquire);
            if s == 0 {
                continue;
            }
            f(i, self.slots[i].held(s));
        }
    }

    /// Feeds each live hold's class key, mode and id to `f` (owner only),
    /// read in place: the chain key of a nested acquisition, without
    /// copying the holds.
    #[inline]
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(u64, crate::report::Hold, u64)) {
        for i in 0..self.top.load(Ordering::Relaxed) {
            let s = self.slots[i].state.load(Ordering::Acquire);
            if s == 0 {
                continue;
            }
            let slot = &self.slots[i];
            f(
                slot.key.load(Ordering::Relaxed),
                hold_of(s),
                slot.id.load(Ordering::Relaxed),
            );
        }
    }

    /// Whether the set holds nothing (owner only: its own pushes are
    /// always seen). Forgets trailing slots released meanwhile.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        let mut top = self.top.load(Ordering::Relaxed);
        if top == 0 {
            return true;
        }
        while top > 0 && self.slots[top - 1].state.load(Ordering::Relaxed) == 0 {
            top -= 1;
        }
        self.top.store(top, Ordering::Relaxed);
        top == 0
    }

    /// Marks slot `i`'s hold as in the instance graph, if it still is the
    /// hold whose lock has `id` (owner only).
    pub(crate) fn mark_in_graph(&self, i: usize, id: u64) {
        if self.slots[i].id.load(Ordering::Relaxed) != id {
            return;
        }
        let st = &self.slots[i].state;
        let mut s = st.load(Ordering::Acquire);
        while s != 0 {
            match st.compare_exchange_weak(s, s | IN_GRAPH, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// Slot `i`'s hold, just pushed, is sampled for the contention
    /// profile: it began `ns` after [`profile_epoch`] (owner only, before
    /// anyone else can release the hold).
    pub(crate) fn stamp(&self, i: usize, ns: u64) {
        self.slots[i].since.store(ns.max(1), Ordering::Relaxed);
    }

    /// When slot `i`'s hold began if it is sampled (else 0), cleared (the
    /// releaser, before [`release`](Self::release)).
    #[inline]
    pub(crate) fn take_since(&self, i: usize) -> u64 {
        let since = &self.slots[i].since;
        let ns = since.load(Ordering::Relaxed);
        if ns != 0 {
            since.store(0, Ordering::Relaxed);
        }
        ns
    }

    /// The sum of [`entry`] over the live holds (their lock instances and
    /// modes): the key of a nested acquisition's memo (`edges`); `None`
    /// while a release or downgrade from elsewhere is not accounted for
    /// (owner only). Counted here, when a nested acquisition asks, rather
    /// than kept up to date by every fill and release: a single lock
    /// taken and released never asks.
    #[inline]
    pub(crate) fn content(&self) -> Option<u64> {
        if self.dirty.load(Ordering::Acquire) {
            return None;
        }
        let mut c = 0u64;
        for i in 0..self.top.load(Ordering::Relaxed) {
            let s = self.slots[i].state.load(Ordering::Acquire);
            if s != 0 {
                c = c.wrapping_add(entry(self.slots[i].id.load(Ordering::Relaxed), hold_of(s)));
            }
        }
        Some(c)
    }

    /// Whether a release or downgrade from elsewhere happened since the
    /// last [`recount`](Self::recount) (owner only; after a scan whose
    /// acquire loads saw its state change, this is seen).
    #[inline]
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// The changes from elsewhere are accounted for (owner only, after an
    /// order check that saw the holds as they are now).
    pub(crate) fn recount(&self) {
        self.dirty.store(false, Ordering::Relaxed);
    }

    /// Hold `token` in slot `i` is now shared (from anywhere).
    pub(crate) fn downgrade(&self, i: usize, token: u64) {
        // Before the state changes: the owner's scan that sees the change
        // sees this too.
        self.dirty.store(true, Ordering::Relaxed);
        let st = &self.slots[i].state;
        let mut s = st.load(Ordering::Acquire);
        while s >> TOKEN_SHIFT == token {
            match st.compare_exchange_weak(s, s | DOWNGRADED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// Ends hold `token` in slot `i`; whether its lock went into the
    /// instance graph. The set may be freed once this returns. `by_owner`:
    /// the caller is the set's owner (the task that took the hold, running
    /// now on this thread), so that nobody else writes the slot's word
    /// meanwhile (the flags are set by the owner or by the guard's holder,
    /// which is the caller) and a plain store clears it.
    #[inline]
    pub(crate) fn release(&self, i: usize, token: u64, by_owner: bool) -> bool {
        let st = &self.slots[i].state;
        let mut s = st.load(Ordering::Acquire);
        if by_owner {
            if s >> TOKEN_SHIFT != token {
                return false;
            }
            // The last slot freed by its owner: the next `is_empty` finds
            // `top` lower without a scan (a release from elsewhere leaves
            // `top` to that scan). Before the state: the set may be freed
            // once the slot is.
            if self.top.load(Ordering::Relaxed) == i + 1 {
                self.top.store(i, Ordering::Relaxed);
            }
            st.store(0, Ordering::Release);
            return s & IN_GRAPH != 0;
        }
        // Before the state changes (see `downgrade`).
        self.dirty.store(true, Ordering::Relaxed);
        let mut in_graph = false;
        while s >> TOKEN_SHIFT == token {
            match st.compare_exchange_weak(s, 0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    // The set may be swept and freed from here on.
                    in_graph = s & IN_GRAPH != 0;
                    break;
                }
                Err(now) => s = now,
            }
        }
        in_graph
    }
}
