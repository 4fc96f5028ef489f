//! The part of a thread's held-lock stack that another thread may read:
//! one packed word per slot, the sites, the length and the slots' classes,
//! as atomics. The held-lock state (`crate::state`) owns and writes it; the
//! watchdog reads it, so a hold is published by being pushed (the lean
//! production mode's push is the steady push: no second copy, no clock).
//!
//! Every word is written by the owner thread only, with relaxed stores
//! (plain `mov`s on x86), except the length, stored with `Release`; the
//! watchdog's site marks (`SEEN`) are the one thing another thread writes,
//! by compare-and-swap, and the owner's next push of the slot overwrites
//! them. A reader loads the length with `Acquire`, copies the slots below
//! it, and checks the length again: a copy can be a little stale (a hold
//! released meanwhile, or one taken since), which the watchdog tolerates
//! since it acts only on waits lasting a scan or more. Only the classes are
//! more than one word each: they are rewritten on a cold path (another lock
//! of another class lands in a slot, a slot moves) under a sequence count,
//! and copied only when the count says they were not being rewritten.
//!
//! # The slot word
//!
//! ```text
//! bits 8..=63  the lock's id (ids count up from 1, in blocks, and stay far
//!              below 2^56), where the lock's own word keeps it too (its
//!              flags are in its bits 0..=4, where a slot has its mode)
//! bits 5..=7   the slow bits: anything that keeps a release off its fast
//!              pop (S_IN_GRAPH, S_YOUNG_FROM, S_HOOKS)
//! bits 0..=4   the mode: the request as `1 + Request` (0: the hold's edges
//!              were not checked: a `try_lock`, a hold at depth 0, a lean
//!              hold), M_SHARED, M_UPGRADABLE, M_LEAN
//! ```
//!
//! A release's fast pop is `lock word ^ slot <= MODE`: the same id and no
//! slow bit, whatever the mode (and whatever the lock's flags, which fall
//! in the mode's bits). The full path's steady acquisition compares the
//! slot with [`expect`]: `lock word & !0xff | mode`; the lean mode's
//! compares it with the lock's slot word (`LockMeta::slot_word`, the id
//! and [`M_LEAN`] without the lock's flags) or-ed with the mode, and its
//! release, in a build that puts it first, with that word as it is.

use std::panic::Location;
use std::sync::atomic::{fence, AtomicU64, AtomicU8, AtomicUsize, Ordering};

pub(crate) use crate::class::{decode_class, decode_kind, encode_class, encode_kind};
use crate::class::{Class, LockKind};
use crate::meta::{ID_SHIFT, IN_GRAPH, MAX_HELD, YOUNG_FROM};
use crate::report::Hold;

/// Slow bit: the recorder put the lock in the instance graph while this
/// thread held it; the release hands [`IN_GRAPH`] to the lock's word.
pub(crate) const S_IN_GRAPH: u64 = 1 << 5;
/// Slow bit: this thread buffered an edge from the lock (`global::young`);
/// the release hands [`YOUNG_FROM`] to the lock's word.
pub(crate) const S_YOUNG_FROM: u64 = 1 << 6;
/// Slow bit: pushed while a feature with release hooks was on (the
/// profile, the atomicity checker): the release runs them.
pub(crate) const S_HOOKS: u64 = 1 << 7;
/// The slow bits.
pub(crate) const SLOW: u64 = 0xe0;
/// Mode bits: the request part, `1 + Request`.
pub(crate) const M_REQ: u64 = 3;
/// Mode bit: a shared hold.
pub(crate) const M_SHARED: u64 = 4;
/// Mode bit: an upgradable read.
pub(crate) const M_UPGRADABLE: u64 = 8;
/// Mode bit: pushed by the lean mode's push, by a thread registered with
/// the watchdog (the lean push registers the thread when it rewrites a
/// slot, so a slot with this bit is one the watchdog sees). The lock's
/// slot word (`LockMeta::slot_word`) has it.
pub(crate) const M_LEAN: u64 = crate::meta::SLOT_LEAN;
// The lean bit is a mode bit of its own: inside the mode's bits, apart
// from the request, shared and upgradable bits and the slow bits.
const _: () = assert!(M_LEAN & MODE == M_LEAN && M_LEAN & (M_REQ | M_SHARED | M_UPGRADABLE) == 0);
/// The mode bits.
pub(crate) const MODE: u64 = 0x1f;
// The lock's word keeps the id where a slot does, its flags where a slot
// keeps the mode (which the fast pop ignores).
const _: () = assert!(ID_SHIFT == 8 && SLOW & MODE == 0 && crate::meta::LOCK_FLAGS <= MODE);

/// The word of a slot never pushed: no lock's (its slow bits are set), and
/// not the word [`expect`] makes of a lock without an id yet (0), so that
/// a steady test's comparison needs no other test.
pub(crate) const EMPTY_WORD: u64 = u64::MAX;

/// The mode bits of a hold: `req` as `1 + Request` (0: unchecked).
#[inline(always)]
pub(crate) const fn nibble(hold: Hold, req: u8, upgradable: bool) -> u64 {
    let shared = match hold {
        Hold::Exclusive => 0,
        Hold::Shared => M_SHARED,
        Hold::Upgradable => M_SHARED | M_UPGRADABLE,
    };
    let upg = if upgradable { M_UPGRADABLE } else { 0 };
    req as u64 & M_REQ | shared | upg
}

/// The slot word of the lock whose word is `lock`, held in `mode` (mode
/// bits), with `slow` (slow bits): the lock's flags masked off and an or
/// of one byte.
#[inline(always)]
pub(crate) fn expect(lock: u64, mode: u64, slow: u64) -> u64 {
    lock & !0xff | slow | mode
}

/// Whether a slot word and a lock's word name the same lock and the slot
/// has no slow bit: the release's fast pop (the mode left out, and with it
/// the lock's own flags, which are in the mode's bits).
#[inline(always)]
pub(crate) fn same_id(slot: u64, lock: u64) -> bool {
    (lock ^ slot) <= MODE
}

/// The id of a slot word.
#[inline(always)]
pub(crate) fn word_id(w: u64) -> u64 {
    w >> 8
}

/// The hold of a slot word.
#[inline(always)]
pub(crate) fn word_hold(w: u64) -> Hold {
    if w & M_SHARED != 0 {
        Hold::Shared
    } else {
        Hold::Exclusive
    }
}

/// The hold of a slot word as an edge out of it names it: an upgradable
/// read is its own hold there (`lockgraph_graph::Hold::Upgradable`).
#[inline(always)]
pub(crate) fn word_edge_hold(w: u64) -> Hold {
    if word_upgradable(w) {
        Hold::Upgradable
    } else {
        word_hold(w)
    }
}

/// The request part of a slot word, `1 + Request` or 0.
#[inline(always)]
pub(crate) fn word_req(w: u64) -> u8 {
    (w & M_REQ) as u8
}

/// Whether a slot word holds an upgradable read.
#[inline(always)]
pub(crate) fn word_upgradable(w: u64) -> bool {
    w & M_UPGRADABLE != 0
}

/// The lock word's flags a release hands over from slot word `w`: a table
/// of the four combinations of the two slow bits that say so.
#[inline(always)]
pub(crate) fn handover(w: u64) -> u64 {
    const _: () = assert!(S_YOUNG_FROM == S_IN_GRAPH << 1);
    const FLAGS: [u64; 4] = [0, IN_GRAPH, YOUNG_FROM, IN_GRAPH | YOUNG_FROM];
    FLAGS[((w / S_IN_GRAPH) & 3) as usize]
}

/// A word the owner thread writes and other threads may read: the
/// owner's `get` is a plain read (the compiler folds it into the compare
/// that uses it), `set` a relaxed store (a plain move on x86); another
/// thread reads with `load`.
#[repr(transparent)]
pub(crate) struct Word(AtomicU64);

impl Word {
    pub(crate) const fn new(v: u64) -> Word {
        Word(AtomicU64::new(v))
    }
    /// The owner thread's read (only the owner may call it).
    #[inline(always)]
    pub(crate) fn get(&self) -> u64 {
        // SAFETY: only the owner thread writes a `Word` (`set`), and only
        // the owner calls `get`: its plain read is ordered after its own
        // writes, and it races with nothing else (other threads only
        // `load`, and two reads do not race).
        unsafe { *self.0.as_ptr() }
    }
    /// Another thread's read.
    #[inline(always)]
    pub(crate) fn load(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    #[inline(always)]
    pub(crate) fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed)
    }
}

/// In a site word: the watchdog has seen this hold (it sets the bit; the
/// owner's next push of the slot stores a site without it). `Location`s
/// are aligned to more than one byte, so the bit is free.
const SEEN: usize = 1;
const _: () = assert!(std::mem::align_of::<Location<'static>>() > 1);

/// A slot's site (where its lock was taken), as a word another thread may
/// read.
pub(crate) struct SiteWord(AtomicUsize);

impl SiteWord {
    pub(crate) const fn new() -> SiteWord {
        SiteWord(AtomicUsize::new(0))
    }
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&'static Location<'static>> {
        decode_site(self.0.load(Ordering::Relaxed))
    }
    #[inline(always)]
    pub(crate) fn set(&self, s: Option<&'static Location<'static>>) {
        self.0.store(site_word(s), Ordering::Relaxed)
    }
    /// Swaps two slots' sites (the owner's, both).
    pub(crate) fn swap(&self, other: &SiteWord) {
        let (a, b) = (self.get(), other.get());
        self.set(b);
        other.set(a);
    }
}

#[inline(always)]
fn site_word(s: Option<&'static Location<'static>>) -> usize {
    s.map_or(0, |l| l as *const Location<'static> as usize)
}

fn decode_site(w: usize) -> Option<&'static Location<'static>> {
    let p = (w & !SEEN) as *const Location<'static>;
    // SAFETY: every site word is 0 or a `&'static Location` stored by
    // `SiteWord::set` (whole, by one atomic store), with or without `SEEN`.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Set in the length while the owner is inside lockgraph's own
/// bookkeeping: every fast path then sees an out-of-range length and does
/// nothing. A length is at most `MAX_HELD | BUSY`, which the fast paths'
/// unchecked words rely on ([`HeldStack::below`]).
pub(crate) const BUSY: usize = 64;
const _: () = assert!(MAX_HELD < BUSY && BUSY.is_power_of_two());
/// Words past the last slot, so that the word at any length (busy or not)
/// and the one past it are inside the stack.
const PAD: usize = BUSY + 16;
const _: () = assert!(1 + MAX_HELD + PAD >= (MAX_HELD | BUSY) + 2);

/// The stack's length, as a word another thread may read: loads are
/// relaxed (the owner's own), stores `Release` (a plain move on x86), so
/// that a reader that loads it with `Acquire` sees the slots below it as
/// they were written before it.
pub(crate) struct Len(AtomicUsize);

impl Len {
    /// The owner thread's read (only the owner may call it).
    #[inline(always)]
    pub(crate) fn get(&self) -> usize {
        // SAFETY: as `Word::get`: only the owner writes the length and
        // calls this; other threads load it atomically.
        unsafe { *self.0.as_ptr() }
    }
    #[inline(always)]
    pub(crate) fn set(&self, v: usize) {
        debug_assert!(v <= MAX_HELD | BUSY);
        self.0.store(v, Ordering::Release)
    }
    /// The length one more, for the lean push: a load and a store of the
    /// one word, which the compiler makes one `inc` of memory (the length
    /// loaded earlier for the slot's index stays in its register). Only the
    /// owner calls it, below `MAX_HELD`.
    #[inline(always)]
    pub(crate) fn inc(&self) {
        debug_assert!(self.get() < MAX_HELD);
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Release)
    }
    /// The length one less, for the lean release (one `dec` of memory).
    /// Only the owner calls it, above 0.
    #[inline(always)]
    pub(crate) fn dec(&self) {
        debug_assert!(self.get().wrapping_sub(1) < MAX_HELD);
        self.0
            .store(self.0.load(Ordering::Relaxed) - 1, Ordering::Release)
    }
}

/// A slot's class and kind, as words (see [`HeldStack::set_class`]).
struct ClassWords {
    /// 0 anonymous, 1 site (`a` = `&Location`, `b` = type name fn), 2 name
    /// (`a`, `b` = ptr, len).
    tag: AtomicU8,
    a: AtomicUsize,
    b: AtomicUsize,
    kind: AtomicU8,
}

/// The shared part of a thread's held-lock stack (see the module docs).
///
/// `guard`, `words` and `pad` are contiguous (`repr(C)`, all `Word`s): the
/// fast paths read the word at a length without checking it
/// ([`below`](Self::below), [`at`](Self::at)); the guard and the pad
/// words are never written, so they hold no lock's word.
#[repr(C)]
pub(crate) struct HeldStack {
    guard: Word,
    pub(crate) words: [Word; MAX_HELD],
    pad: [Word; PAD],
    pub(crate) sites: [SiteWord; MAX_HELD],
    /// The number of slots, or'ed with the held-lock state's busy bit
    /// while it is inside its own bookkeeping.
    pub(crate) len: Len,
    /// Odd while the owner rewrites [`classes`](Self::classes).
    class_seq: AtomicU64,
    classes: [ClassWords; MAX_HELD],
}

/// One slot as a reader copied it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeldCopy {
    pub(crate) id: u64,
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    pub(crate) hold: Hold,
    pub(crate) upgradable: bool,
    pub(crate) site: Option<&'static Location<'static>>,
    /// Whether a reader had marked this hold seen before this copy
    /// ([`HeldStack::copy`]'s `mark_seen`).
    pub(crate) seen_before: bool,
}

impl HeldStack {
    pub(crate) const fn new() -> HeldStack {
        HeldStack {
            guard: Word::new(EMPTY_WORD),
            words: [const { Word::new(EMPTY_WORD) }; MAX_HELD],
            pad: [const { Word::new(EMPTY_WORD) }; PAD],
            sites: [const { SiteWord::new() }; MAX_HELD],
            len: Len(AtomicUsize::new(0)),
            class_seq: AtomicU64::new(0),
            classes: [const {
                ClassWords {
                    tag: AtomicU8::new(0),
                    a: AtomicUsize::new(0),
                    b: AtomicUsize::new(0),
                    kind: AtomicU8::new(0),
                }
            }; MAX_HELD],
        }
    }

    /// The word of slot `len - 1`, the top one for a stack of length
    /// `len` (any length: 0 gives the guard, a busy or full one a pad
    /// word, neither any lock's).
    #[inline(always)]
    pub(crate) fn below(&self, len: usize) -> &Word {
        debug_assert!(len <= (MAX_HELD | BUSY) + 1);
        // SAFETY: `guard`, `words` and `pad` are one run of `Word`s
        // (`repr(C)`, same type, so no padding between them), and a
        // length is at most `MAX_HELD | BUSY` (`Len::set`, and every length
        // the held-lock state stores is a count up to `MAX_HELD`, with or
        // without `BUSY`; `at` asks for one more), so
        // `len < 1 + MAX_HELD + PAD`: the pointer,
        // derived from the whole struct's, stays inside it.
        unsafe {
            let first = std::ptr::addr_of!((*(self as *const HeldStack)).guard);
            &*first.add(len)
        }
    }

    /// The word of slot `len`, where a push onto a stack of length `len`
    /// lands (a pad word, never any lock's, when `len` is `MAX_HELD` or
    /// busy).
    #[inline(always)]
    pub(crate) fn at(&self, len: usize) -> &Word {
        self.below(len + 1)
    }

    /// Starts a rewrite of classes (the owner only): the count odd.
    fn begin_classes(&self) {
        let s = self.class_seq.load(Ordering::Relaxed);
        self.class_seq.store(s | 1, Ordering::Relaxed);
        fence(Ordering::Release);
    }

    /// Ends a rewrite of classes: the count even, and moved on.
    fn end_classes(&self) {
        let s = self.class_seq.load(Ordering::Relaxed);
        self.class_seq.store((s | 1) + 1, Ordering::Release);
    }

    fn store_class(&self, i: usize, class: Class, kind: LockKind) {
        let (tag, a, b) = encode_class(class);
        let c = &self.classes[i];
        c.tag.store(tag, Ordering::Relaxed);
        c.a.store(a, Ordering::Relaxed);
        c.b.store(b, Ordering::Relaxed);
        c.kind.store(encode_kind(kind), Ordering::Relaxed);
    }

    /// Slot `i` gets `word` (another lock) whose class and kind are
    /// `class`, `kind` (the owner only; a cold path: a lock of another
    /// class landed in the slot). The word is stored with the class, so
    /// that a reader never pairs one lock's id with another's class.
    #[cold]
    pub(crate) fn set_class(&self, i: usize, word: u64, class: Class, kind: LockKind) {
        self.begin_classes();
        self.store_class(i, class, kind);
        self.words[i].set(word);
        self.end_classes();
    }

    /// Slots `i + 1..len` move down by one (the owner only: slot `i` is
    /// removed), `class(j)` being slot `j`'s class and kind. The caller
    /// stores the new length after. A moved hold counts as not seen yet.
    pub(crate) fn move_down(
        &self,
        i: usize,
        len: usize,
        class: impl Fn(usize) -> (Class, LockKind),
    ) {
        self.begin_classes();
        for j in i..len.saturating_sub(1) {
            self.words[j].set(self.words[j + 1].get());
            self.sites[j].set(self.sites[j + 1].get());
            let (c, k) = class(j + 1);
            self.store_class(j, c, k);
        }
        self.end_classes();
    }

    /// A copy of the held slots, outermost first (another thread may call
    /// it while the owner runs). With `mark_seen`, each slot's site word is
    /// marked seen, and the copy says which were marked before: a hold not
    /// marked yet was taken since the last marking copy (or is the first
    /// one seen). A stale copy is possible (see the module docs); a slot's
    /// id, site and class are copied together between two equal even
    /// counts, so a copy never pairs one lock's id with another's class. A
    /// slot the owner kept rewriting through a few hundred tries is left
    /// out.
    pub(crate) fn copy(&self, mark_seen: bool) -> Vec<HeldCopy> {
        // Inside its bookkeeping (the busy bit) the owner pushes and pops
        // nothing: the length without the bit is what it holds.
        let len = (self.len.0.load(Ordering::Acquire) & !BUSY).min(MAX_HELD);
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            let Some((w, raw_site, class, kind)) = self.copy_slot(i) else {
                continue;
            };
            let seen_before = raw_site & SEEN != 0;
            if mark_seen && !seen_before {
                // Fails when the owner pushed the slot again meanwhile: that
                // hold stays unmarked, for the next copy.
                let _ = self.sites[i].0.compare_exchange(
                    raw_site,
                    raw_site | SEEN,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            out.push(HeldCopy {
                id: word_id(w),
                class,
                kind,
                hold: word_hold(w),
                upgradable: word_upgradable(w),
                site: decode_site(raw_site),
                seen_before,
            });
        }
        out
    }

    /// Slot `i`'s word, raw site word, class and kind, copied between two
    /// equal even counts.
    fn copy_slot(&self, i: usize) -> Option<(u64, usize, Class, LockKind)> {
        let c = &self.classes[i];
        for tries in 0..512u32 {
            let s1 = self.class_seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let w = self.words[i].load();
                let site = self.sites[i].0.load(Ordering::Relaxed);
                let (tag, a, b) = (
                    c.tag.load(Ordering::Relaxed),
                    c.a.load(Ordering::Relaxed),
                    c.b.load(Ordering::Relaxed),
                );
                let kind = c.kind.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.class_seq.load(Ordering::Relaxed) == s1 {
                    // SAFETY: the three words were stored together by
                    // `store_class` (from `encode_class`) between two
                    // counts, and no rewrite overlapped this copy.
                    let class = unsafe { decode_class(tag, a, b) };
                    return Some((w, site, class, decode_kind(kind)));
                }
            }
            if tries > 64 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        None
    }
}

impl Default for HeldStack {
    fn default() -> HeldStack {
        HeldStack::new()
    }
}
