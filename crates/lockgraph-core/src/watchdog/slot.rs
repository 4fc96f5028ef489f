//! Per-thread slots: what each thread shows the watchdog. Its held locks
//! are its held-lock stack itself (`crate::held_stack`), registered here
//! on a cold path and read in place; its wait is published here as plain
//! words.
//!
//! The wait: one word says whether the owner is rewriting it and a
//! generation. A rewrite marks the word busy first, then moves the
//! generation on. A reader copies the word and the wait and keeps the copy
//! when the word is unchanged and was not busy.
//!
//! The held locks: a slot keeps a pointer to its thread's [`HeldStack`],
//! set and cleared under the [`SLOTS`] lock, and readers copy the stack
//! only under that lock (see [`Mine`]'s drop for why that never reads a
//! thread's storage after it is gone). A hold's start is when a reader
//! first saw it: each copy marks the holds it sees (`held_stack`'s site
//! mark), and a hold not marked yet starts at the time of the copy.

use super::*;

/// A lock (held or waited for) as plain words, written by the owner thread.
#[derive(Default)]
pub(super) struct Entry {
    pub(super) id: AtomicU64,
    /// 0 anonymous, 1 site (`a` = `&Location`), 2 name (`a`, `b` = ptr, len).
    pub(super) class_tag: AtomicU8,
    pub(super) class_a: AtomicUsize,
    pub(super) class_b: AtomicUsize,
    pub(super) kind: AtomicU8,
    /// Hold (held entries: `Hold as u8` or [`HOLD_UPGRADABLE`]) or request
    /// (the wait: `WaitMode as u8`).
    pub(super) mode: AtomicU8,
    pub(super) site: AtomicUsize,
    pub(super) since: AtomicU64,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RawEntry {
    pub(super) id: u64,
    pub(super) class_tag: u8,
    pub(super) class_a: usize,
    pub(super) class_b: usize,
    pub(super) kind: u8,
    pub(super) mode: u8,
    pub(super) site: usize,
    pub(super) since: u64,
}

impl Entry {
    pub(super) fn store(&self, e: RawEntry) {
        self.id.store(e.id, Ordering::Relaxed);
        self.class_tag.store(e.class_tag, Ordering::Relaxed);
        self.class_a.store(e.class_a, Ordering::Relaxed);
        self.class_b.store(e.class_b, Ordering::Relaxed);
        self.kind.store(e.kind, Ordering::Relaxed);
        self.mode.store(e.mode, Ordering::Relaxed);
        self.site.store(e.site, Ordering::Relaxed);
        self.since.store(e.since, Ordering::Relaxed);
    }

    pub(super) fn load(&self) -> RawEntry {
        RawEntry {
            id: self.id.load(Ordering::Relaxed),
            class_tag: self.class_tag.load(Ordering::Relaxed),
            class_a: self.class_a.load(Ordering::Relaxed),
            class_b: self.class_b.load(Ordering::Relaxed),
            kind: self.kind.load(Ordering::Relaxed),
            mode: self.mode.load(Ordering::Relaxed),
            site: self.site.load(Ordering::Relaxed),
            since: self.since.load(Ordering::Relaxed),
        }
    }
}

pub(super) use crate::held_stack::{decode_kind, encode_class, encode_kind};

#[inline(always)]
pub(super) fn site_word(s: Option<&'static Location<'static>>) -> usize {
    s.map_or(0, |l| l as *const Location<'static> as usize)
}

/// Decodes words read under a validated state word ([`Slot::read`]).
///
/// # Safety
/// The words must have been stored by [`encode_class`] / [`site_word`] (the
/// state word proves they were not torn), so the pointers are `'static`.
pub(super) unsafe fn decode(e: &RawEntry) -> (Class, Option<&'static Location<'static>>) {
    // SAFETY: the caller's contract is `decode_class`'s.
    let class = unsafe { crate::held_stack::decode_class(e.class_tag, e.class_a, e.class_b) };
    let site = if e.site == 0 {
        None
    } else {
        // SAFETY: a `&'static Location` (caller's contract).
        Some(unsafe { &*(e.site as *const Location<'static>) })
    };
    (class, site)
}

/// What a thread waits for.
pub(super) const WAIT_NONE: u8 = 0;
pub(super) const WAIT_LOCK: u8 = 1;
pub(super) const WAIT_RESOURCE: u8 = 2;
/// A wait without a time limit (the slot's `wait_limit`).
pub(super) const NO_LIMIT: u64 = u64::MAX;

/// In a slot's state word: the owner is rewriting the wait; a reader waits.
const BUSY: u64 = 0x80;
/// In a slot's state word: one generation (moved on by every rewrite).
const GEN: u64 = 0x100;

/// One thread's published state. Only the owner writes; the watchdog reads a
/// consistent copy through the state word (see the module docs).
pub(crate) struct Slot {
    pub(super) key: u64,
    pub(super) name: String,
    pub(super) tid: u64,
    /// The state word of the wait: busy bit, generation (see the module
    /// docs).
    pub(super) word: AtomicU64,
    pub(super) alive: AtomicBool,
    /// The thread's held-lock stack, while the thread runs: set and
    /// cleared under the [`SLOTS`] lock, read only under it.
    view: AtomicPtr<HeldStack>,
    /// When a reader first saw the hold in each slot of the stack (in
    /// [`now_ns`]'s clock); written and read under the [`SLOTS`] lock.
    seen_at: [AtomicU64; MAX_HELD],
    pub(super) wait_state: AtomicU8,
    pub(super) wait_serial: AtomicU64,
    pub(super) wait: Entry,
    /// The limit of a timed wait in nanoseconds ([`NO_LIMIT`] for none).
    pub(super) wait_limit: AtomicU64,
    /// The waiter's own stack, captured once its wait exceeded the timeout
    /// or the watchdog asked for it.
    pub(super) stack: Mutex<Option<(u64, Backtrace)>>,
    /// The wait serial whose stack the watchdog wants now (a thread seen in
    /// a cycle): the waiter captures it after its current slice.
    pub(super) want_stack: AtomicU64,
    /// The thread's run of timed waits of one lock (a retry loop).
    pub(super) streak: Mutex<Streak>,
}

impl Streak {
    /// When the run that the timed wait `serial` (started at `since`) is a
    /// try of began: `None` when it is no try of the run. With `first`,
    /// the run's first try counts too.
    pub(super) fn began(&self, serial: u64, since: u64, first: bool) -> Option<u64> {
        let of_run = (self.first_serial..=self.serial).contains(&serial) && self.since <= since;
        (of_run && (first || self.since < since)).then_some(self.since)
    }
}

/// A thread's timed waits of one lock, each asked within the timeout of
/// the end of the previous one, which gave up (a retry loop): written by
/// the owner when a timed wait starts and ends, read by scans and reports
/// (a scan also ends it when it sees the thread hold the lock: `retry.rs`).
#[derive(Clone, Copy, Default)]
pub(super) struct Streak {
    /// The wait serial of the latest timed wait.
    pub(super) serial: u64,
    /// The wait serial of the run's first try: a wait whose serial lies
    /// between this and [`serial`](Self::serial) is a try of the run (a
    /// scan's copy of a try can be a moment old).
    pub(super) first_serial: u64,
    /// When the first wait of the run started ([`now_ns`]'s clock).
    pub(super) since: u64,
    /// The lock of the last timed wait that gave up, and when it ended (0:
    /// the last timed wait got what it waited for).
    pub(super) last_id: u64,
    pub(super) last_end: u64,
    /// The latest timed wait as it was registered (its start in `since`),
    /// and its limit in nanoseconds: what a scan shows of a loop found
    /// between two tries.
    pub(super) last: RawEntry,
    pub(super) last_limit: u64,
}

impl Slot {
    pub(super) fn new(name: &str, tid: u64) -> Slot {
        Slot {
            key: NEXT_THREAD.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            tid,
            word: AtomicU64::new(0),
            alive: AtomicBool::new(true),
            view: AtomicPtr::new(std::ptr::null_mut()),
            seen_at: [const { AtomicU64::new(0) }; MAX_HELD],
            wait_state: AtomicU8::new(WAIT_NONE),
            wait_serial: AtomicU64::new(0),
            wait: Entry::default(),
            wait_limit: AtomicU64::new(NO_LIMIT),
            stack: Mutex::new(None),
            want_stack: AtomicU64::new(0),
            streak: Mutex::new(Streak::default()),
        }
    }

    /// Starts a rewrite of the wait: the word busy.
    #[inline]
    pub(super) fn begin(&self) {
        let w = self.word.load(Ordering::Relaxed);
        self.word.store(w | BUSY, Ordering::Relaxed);
        fence(Ordering::Release);
    }

    /// Ends a rewrite: the word not busy, the generation moved on.
    #[inline]
    pub(super) fn end(&self) {
        let w = self.word.load(Ordering::Relaxed);
        self.word
            .store((w & !BUSY).wrapping_add(GEN), Ordering::Release);
    }

    /// A consistent copy of the wait: (wait state, wait serial, wait, wait
    /// limit).
    pub(super) fn read_wait(&self) -> (u8, u64, RawEntry, u64) {
        let mut spins = 0u32;
        loop {
            let s1 = self.word.load(Ordering::Acquire);
            if s1 & BUSY == 0 {
                let ws = self.wait_state.load(Ordering::Relaxed);
                let serial = self.wait_serial.load(Ordering::Relaxed);
                let wait = self.wait.load();
                let limit = self.wait_limit.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.word.load(Ordering::Relaxed) == s1 {
                    return (ws, serial, wait, limit);
                }
            }
            spins += 1;
            if spins > 64 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// A copy of the thread's held locks, with when each was first seen
    /// (`now`: the time of this copy). The caller holds the [`SLOTS`] lock
    /// (`_slots` says so).
    pub(super) fn read_held(
        &self,
        _slots: &crate::fork::MutexGuard<'_, Vec<Arc<Slot>>>,
        now: u64,
    ) -> Vec<(HeldCopy, u64)> {
        let p = self.view.load(Ordering::Acquire);
        if p.is_null() {
            return Vec::new();
        }
        // SAFETY: a non-null view is the owner thread's `HeldStack` (in
        // its `const` thread-local state, which has no destructor), set by
        // `this_thread_slot` from that thread. The thread's storage is
        // freed only after its thread-local destructors ran, `MINE`'s
        // among them, and `Mine::drop` clears the view under the `SLOTS`
        // lock, which the caller holds: the storage is alive for this copy.
        let stack = unsafe { &*p };
        stack
            .copy(true)
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                if !h.seen_before {
                    self.seen_at[i].store(now, Ordering::Relaxed);
                }
                (h, self.seen_at[i].load(Ordering::Relaxed))
            })
            .collect()
    }
}

pub(super) struct Mine(pub(super) Option<Arc<Slot>>);

impl Drop for Mine {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            // The held-lock state keeps a plain pointer to the slot: drop it
            // before this `Arc` goes (later pushes find no slot).
            if let Some(o) = OWNER.get() {
                (o.forget_slot)();
            }
            // The view points into this thread's storage, which goes once
            // the thread's thread-local destructors (this one) have run:
            // cleared under the lock every reader holds while it copies.
            // The holds still on it are left held for good: noted, so that
            // a wait for one can name this thread (`left.rs`; found by an
            // outside test: such a wait's report could name no one).
            let slots = SLOTS.lock();
            let held = s.read_held(&slots, now_ns());
            s.view.store(std::ptr::null_mut(), Ordering::Release);
            s.alive.store(false, Ordering::Relaxed);
            drop(slots);
            super::left::remember(s, &held);
        }
    }
}

thread_local! {
    pub(super) static MINE: RefCell<Mine> = const { RefCell::new(Mine(None)) };
}

/// Runs `f` on this thread's slot, registering it (once) first.
pub(super) fn with_slot(f: impl FnOnce(&Slot)) {
    with_slot_arc(|s| f(s));
}

/// [`with_slot`], with the slot's `Arc` (kept by whoever must know later
/// whether the thread still runs: `parties.rs`).
pub(super) fn with_slot_arc(f: impl FnOnce(&Arc<Slot>)) {
    let _ = MINE.try_with(|m| {
        let Ok(mut m) = m.try_borrow_mut() else {
            return;
        };
        let slot = m.0.get_or_insert_with(|| {
            // A thread's first publication or wait: the watchdog thread
            // may not run yet (turned on by the environment, or a forked
            // child).
            ensure_running();
            // An unnamed thread by its `ThreadId`, as the lock-order
            // graph's reports name it: two unnamed threads of one cycle
            // were both `<unnamed>`, in its cycle line and its advice.
            let slot = Arc::new(Slot::new(&crate::sync::thread_name(), os_tid()));
            SLOTS.lock().push(Arc::clone(&slot));
            slot
        });
        f(slot);
    });
}

/// What the owner of the held-lock stacks (the held-lock state, a layer
/// above) does for the slots it keeps pointers to.
pub(crate) struct SlotOwner {
    /// Forgets this thread's pointer to its slot (the slot is going: the
    /// thread exits, or a forked child drops the parent's slots).
    pub(crate) forget_slot: fn(),
    /// Registers this thread's held-lock stack with a new slot (the
    /// thread that forked, in the child).
    pub(crate) republish: fn(),
}

/// The owner of the held-lock stacks, told by its first [`this_thread_slot`].
pub(super) static OWNER: OnceLock<&'static SlotOwner> = OnceLock::new();

/// This thread's slot, registered on first use, for the held-lock state
/// (`owner`) to keep (null when the thread's slot is already gone: it is
/// exiting), with `stack` (this thread's held-lock stack, in its `const`
/// thread-local state) as the held locks the watchdog reads. The slot stays
/// alive until the thread's `MINE` is dropped, which first calls
/// `owner.forget_slot` and clears the view.
#[cold]
#[inline(never)]
pub(crate) fn this_thread_slot(owner: &'static SlotOwner, stack: &HeldStack) -> *const Slot {
    let _ = OWNER.set(owner);
    let mut p = std::ptr::null();
    with_slot(|s| {
        p = s as *const Slot;
        // Under loom a thread's state is loom's, freed when the loom
        // thread ends rather than with this OS thread's `MINE`: no view.
        if !cfg!(loom) {
            let _slots = SLOTS.lock();
            s.view.store(
                stack as *const HeldStack as *mut HeldStack,
                Ordering::Release,
            );
        }
    });
    p
}
