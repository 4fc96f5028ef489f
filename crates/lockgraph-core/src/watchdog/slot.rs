//! Per-thread slots: what each thread publishes (its held locks and its
//! wait) as plain words, for the watchdog to read.
//!
//! One word says how many held entries are published, whether the owner is
//! rewriting something a reader may be copying, and a generation. A push
//! writes the entry past the published length (no reader copies it) and
//! then the word, with the length one more and the generation moved on; a
//! pop writes the word with the length one less. Only a rewrite of what a
//! reader may copy (entries below the length, the wait) marks the word
//! busy first. A reader copies the word, the entries below its length and
//! the wait, and keeps the copy when the word is unchanged and was not busy:
//! an entry rewritten meanwhile was first popped and pushed again, which
//! moved the generation.

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

pub(super) fn encode_class(class: Class) -> (u8, usize, usize) {
    match class {
        Class::Anonymous => (0, 0, 0),
        Class::Site(l, t) => (1, l as *const Location<'static> as usize, t as usize),
        Class::Named(n) => (2, n.as_ptr() as usize, n.len()),
    }
}

pub(super) fn encode_kind(k: LockKind) -> u8 {
    match k {
        LockKind::Mutex => 0,
        LockKind::RwLock => 1,
        LockKind::ReentrantMutex => 2,
        LockKind::Condvar => 3,
        LockKind::Other => 4,
        LockKind::Stream => 5,
        LockKind::Event => 6,
        LockKind::HostExecutor => 7,
        LockKind::HostFn => 8,
        LockKind::Signal => 9,
        LockKind::Once => 10,
        LockKind::FairMutex => 11,
        LockKind::Queue => 12,
        LockKind::Semaphore => 13,
        LockKind::Barrier => 14,
        LockKind::Thread => 15,
        LockKind::AsyncMutex => 20,
        LockKind::AsyncRwLock => 21,
        LockKind::AsyncSemaphore => 22,
    }
}

pub(super) fn decode_kind(k: u8) -> LockKind {
    match k {
        0 => LockKind::Mutex,
        1 => LockKind::RwLock,
        2 => LockKind::ReentrantMutex,
        3 => LockKind::Condvar,
        5 => LockKind::Stream,
        6 => LockKind::Event,
        7 => LockKind::HostExecutor,
        8 => LockKind::HostFn,
        9 => LockKind::Signal,
        10 => LockKind::Once,
        11 => LockKind::FairMutex,
        12 => LockKind::Queue,
        13 => LockKind::Semaphore,
        14 => LockKind::Barrier,
        15 => LockKind::Thread,
        20 => LockKind::AsyncMutex,
        21 => LockKind::AsyncRwLock,
        22 => LockKind::AsyncSemaphore,
        _ => LockKind::Other,
    }
}

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
    let class = match e.class_tag {
        1 => Class::Site(
            // SAFETY: the word is a `&'static Location` (caller's contract).
            unsafe { &*(e.class_a as *const Location<'static>) },
            // SAFETY: the word is a `fn() -> &'static str` (caller's contract).
            unsafe { std::mem::transmute::<usize, crate::class::TypeNameFn>(e.class_b) },
        ),
        2 => {
            // SAFETY: ptr and len of a `&'static str` (caller's contract).
            let bytes = unsafe { std::slice::from_raw_parts(e.class_a as *const u8, e.class_b) };
            // SAFETY: the bytes were a `str`.
            Class::Named(unsafe { std::str::from_utf8_unchecked(bytes) })
        }
        _ => Class::Anonymous,
    };
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

/// In a slot's state word: the number of held entries published.
const LEN: u64 = 0x7f;
/// In a slot's state word: the owner is rewriting entries below the length
/// or the wait; a reader waits.
const BUSY: u64 = 0x80;
/// In a slot's state word: one generation (moved on by every push and every
/// rewrite).
const GEN: u64 = 0x100;
const _: () = assert!(MAX_HELD as u64 <= LEN);

/// One thread's published state. Only the owner writes; the watchdog reads a
/// consistent copy through the state word (see the module docs).
pub(crate) struct Slot {
    pub(super) key: u64,
    pub(super) name: String,
    pub(super) tid: u64,
    /// The state word: length, busy bit, generation (see the module docs).
    pub(super) word: AtomicU64,
    pub(super) alive: AtomicBool,
    pub(super) held: [Entry; MAX_HELD],
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
}

impl Slot {
    pub(super) fn new(name: &str, tid: u64) -> Slot {
        Slot {
            key: NEXT_THREAD.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            tid,
            word: AtomicU64::new(0),
            alive: AtomicBool::new(true),
            held: std::array::from_fn(|_| Entry::default()),
            wait_state: AtomicU8::new(WAIT_NONE),
            wait_serial: AtomicU64::new(0),
            wait: Entry::default(),
            wait_limit: AtomicU64::new(NO_LIMIT),
            stack: Mutex::new(None),
            want_stack: AtomicU64::new(0),
        }
    }

    /// Starts a rewrite of what a reader may be copying (entries below the
    /// length, the wait): the word busy.
    #[inline]
    pub(super) fn begin(&self) {
        let w = self.word.load(Ordering::Relaxed);
        self.word.store(w | BUSY, Ordering::Relaxed);
        fence(Ordering::Release);
    }

    /// Ends a rewrite: the word not busy, the generation moved on.
    #[inline]
    pub(super) fn end(&self) {
        self.end_with_len(self.word.load(Ordering::Relaxed) & LEN);
    }

    /// [`end`](Self::end) with `len` entries published.
    #[inline]
    fn end_with_len(&self, len: u64) {
        let w = self.word.load(Ordering::Relaxed);
        self.word.store(
            (w & !(LEN | BUSY)).wrapping_add(GEN) | len,
            Ordering::Release,
        );
    }

    /// A consistent copy: (held, wait state, wait serial, wait, wait limit).
    pub(super) fn read(&self) -> (Vec<RawEntry>, u8, u64, RawEntry, u64) {
        let mut spins = 0u32;
        loop {
            let s1 = self.word.load(Ordering::Acquire);
            if s1 & BUSY == 0 {
                let len = ((s1 & LEN) as usize).min(MAX_HELD);
                let held: Vec<RawEntry> = self.held[..len].iter().map(Entry::load).collect();
                let ws = self.wait_state.load(Ordering::Relaxed);
                let serial = self.wait_serial.load(Ordering::Relaxed);
                let wait = self.wait.load();
                let limit = self.wait_limit.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.word.load(Ordering::Relaxed) == s1 {
                    return (held, ws, serial, wait, limit);
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
}

pub(super) struct Mine(pub(super) Option<Arc<Slot>>);

impl Drop for Mine {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            // The held-lock state keeps a plain pointer to the slot: drop it
            // before this `Arc` goes (later publications find no slot).
            if let Some(o) = OWNER.get() {
                (o.forget_slot)();
            }
            s.alive.store(false, Ordering::Relaxed);
        }
    }
}

thread_local! {
    pub(super) static MINE: RefCell<Mine> = const { RefCell::new(Mine(None)) };
}

/// Runs `f` on this thread's slot, registering it (once) first.
pub(super) fn with_slot(f: impl FnOnce(&Slot)) {
    let _ = MINE.try_with(|m| {
        let Ok(mut m) = m.try_borrow_mut() else {
            return;
        };
        let slot = m.0.get_or_insert_with(|| {
            // A thread's first publication or wait: the watchdog thread
            // may not run yet (turned on by the environment, or a forked
            // child).
            ensure_running();
            let slot = Arc::new(Slot::new(
                std::thread::current().name().unwrap_or("<unnamed>"),
                os_tid(),
            ));
            SLOTS.lock().push(Arc::clone(&slot));
            slot
        });
        f(slot);
    });
}

/// One held lock, as the held-lock stack hands it over for publication.
pub(crate) struct Published {
    pub(crate) id: u64,
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    pub(crate) hold: Hold,
    /// An upgradable read (`hold` is then shared).
    pub(crate) upgradable: bool,
    pub(crate) site: Option<&'static Location<'static>>,
    pub(crate) since: u64,
}

/// The published mode of an upgradable read hold: shared for the lock-order
/// graph, but only an upgradable or exclusive holder keeps another
/// upgradable read out.
pub(super) const HOLD_UPGRADABLE: u8 = 2;
const _: () =
    assert!(HOLD_UPGRADABLE != Hold::Exclusive as u8 && HOLD_UPGRADABLE != Hold::Shared as u8);

/// The coarse time (advanced by the watchdog) for a new hold.
#[inline]
pub(crate) fn tick() -> u64 {
    TICK.load(Ordering::Relaxed)
}

/// What the owner of the held-lock stacks (the held-lock state, a layer
/// above) does for the slots it keeps pointers to.
pub(crate) struct SlotOwner {
    /// Forgets this thread's pointer to its slot (the slot is going: the
    /// thread exits, or a forked child drops the parent's slots).
    pub(crate) forget_slot: fn(),
    /// Publishes this thread's held locks in a new slot (the thread that
    /// forked, in the child).
    pub(crate) republish: fn(),
}

/// The owner of the held-lock stacks, told by its first [`this_thread_slot`].
pub(super) static OWNER: OnceLock<&'static SlotOwner> = OnceLock::new();

/// This thread's slot, registered on first use, for the held-lock state
/// (`owner`) to keep (null when the thread's slot is already gone: it is
/// exiting). The slot stays alive until the thread's `MINE` is dropped,
/// which first calls `owner.forget_slot`.
#[cold]
#[inline(never)]
pub(crate) fn this_thread_slot(owner: &'static SlotOwner) -> *const Slot {
    let _ = OWNER.set(owner);
    let mut p = std::ptr::null();
    with_slot(|s| p = s as *const Slot);
    p
}

/// Publishes held slots `from..len` and the new length.
pub(crate) fn publish(s: &Slot, from: usize, len: usize, get: impl Fn(usize) -> Published) {
    let len = len.min(MAX_HELD);
    s.begin();
    for i in from..len {
        s.held[i].store(get(i).raw());
    }
    s.end_with_len(len as u64);
}

/// The published mode of a hold.
#[inline]
pub(crate) fn hold_mode(hold: Hold, upgradable: bool) -> u8 {
    if upgradable {
        HOLD_UPGRADABLE
    } else {
        hold as u8
    }
}

/// Publishes the lock just pushed at `i` (the new length is `i + 1`): lock
/// `id` in mode `hold`, taken at `site` at coarse time `since`. When the
/// entry already published there is the same lock (a lock taken again and
/// again), only its mode, site and start are stored; otherwise `full` gives
/// the whole entry.
#[inline]
pub(crate) fn publish_push(
    s: &Slot,
    i: usize,
    id: u64,
    hold: u8,
    site: Option<&'static Location<'static>>,
    since: u64,
    full: impl FnOnce() -> Published,
) {
    if i >= MAX_HELD {
        return;
    }
    let e = &s.held[i];
    let w = s.word.load(Ordering::Relaxed);
    if (w & LEN) as usize > i {
        // Entry `i` is published (the holds were released while the
        // watchdog was off, and not unpublished): a rewrite.
        return publish_push_over(s, i, full);
    }
    // Entry `i` is past the published length: no reader keeps a copy of it
    // unless the pop that freed it is visible to its re-check, which this
    // fence orders before the stores below.
    fence(Ordering::Release);
    if e.id.load(Ordering::Relaxed) == id {
        // The same lock: the same class and kind.
        e.mode.store(hold, Ordering::Relaxed);
        e.site.store(site_word(site), Ordering::Relaxed);
        e.since.store(since, Ordering::Relaxed);
    } else {
        e.store(full().raw());
    }
    s.word.store(
        (w & !LEN).wrapping_add(GEN) | (i as u64 + 1),
        Ordering::Release,
    );
}

/// [`publish_push`] over an entry a reader may be copying.
#[cold]
#[inline(never)]
fn publish_push_over(s: &Slot, i: usize, full: impl FnOnce() -> Published) {
    s.begin();
    s.held[i].store(full().raw());
    s.end_with_len(i as u64 + 1);
}

/// Publishes a new length (a pop from the top): the entries below it are
/// unchanged, so the generation stays.
#[inline]
pub(crate) fn publish_len(s: &Slot, len: usize) {
    let w = s.word.load(Ordering::Relaxed);
    s.word.store(w & !LEN | len as u64, Ordering::Relaxed);
}

impl Published {
    /// The published mode byte.
    #[inline]
    pub(super) fn mode(&self) -> u8 {
        hold_mode(self.hold, self.upgradable)
    }

    pub(super) fn raw(&self) -> RawEntry {
        let (class_tag, class_a, class_b) = encode_class(self.class);
        RawEntry {
            id: self.id,
            class_tag,
            class_a,
            class_b,
            kind: encode_kind(self.kind),
            mode: self.mode(),
            site: site_word(self.site),
            since: self.since,
        }
    }
}
