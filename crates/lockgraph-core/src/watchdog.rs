//! Run-time watchdog: real deadlocks (a cycle in the wait-for graph) and long
//! waits, found while the program runs.
//!
//! Off by default. [`start`] turns it on in code; `LOCKGRAPH_WATCHDOG=<duration>`
//! (`5s`, `750ms`) turns it on at the first lock use, with
//! `LOCKGRAPH_WATCHDOG_ACTION=report|abort` and `LOCKGRAPH_DUMP_DIR=<dir>`.
//!
//! While it is on, each thread publishes the locks it holds in a per-thread
//! slot (allocated once per thread) with plain atomic stores under a sequence
//! counter, and registers a wait only after the first non-blocking attempt
//! failed; it then blocks in timed slices. The watchdog thread scans the slots
//! every scan period. An uncontended acquisition reads no clock, allocates
//! nothing and does no atomic read-modify-write.
//!
//! A report shows, for each thread involved, the kernel's view of it
//! (`/proc/self/task/<tid>/{stat,wchan,syscall}`, Linux) and each waiter's
//! own stack, which the waiter captures itself once its wait exceeds the
//! timeout. A holder that is not waiting for a lock (a long hold, and the
//! threads of a [`dump`]) has no stack of its own to give: on Linux with
//! glibc >= 2.35 and a libgcc unwinder that uses `_dl_find_object` (libgcc >=
//! 12), the watchdog sends it the real-time signal `SIGRTMIN()+4`, whose
//! handler walks the thread's stack into a preallocated buffer; the watchdog
//! resolves it ([`StackNow::Captured`], "now at"). Elsewhere, when
//! `LOCKGRAPH_REMOTE_STACKS=off`, when another handler owns that signal, or
//! when the thread does not answer within 200 ms, the report says so and why
//! ([`StackNow::Unavailable`]) and shows only the `/proc` state.
//! `LOCKGRAPH_REMOTE_STACKS=on` forces the capture where the check fails (at
//! your own risk). Only those holders are signalled, one at a time: a signal
//! makes some blocking calls (`poll`, `epoll_wait`, `nanosleep`) return
//! `EINTR` even with `SA_RESTART`. Waiters (every thread of a deadlock cycle)
//! are not signalled: their own stacks are already in the report.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::path::PathBuf;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use crate::class::{Class, LockKind, Site};
use crate::fork::Mutex;
use crate::profile::{self, Access};
use crate::report::{Backtrace, Hold, Request};
use crate::state::{LockMeta, MAX_HELD};

mod after_fork;
mod rate_limit;
#[cfg(target_os = "linux")]
mod remote_stack;

use rate_limit::RATE;

/// 0: not decided yet, 1: off, 2: on.
static ON: AtomicU8 = AtomicU8::new(0);
static ENV_ONCE: Once = Once::new();
static CONFIG: OnceLock<Config> = OnceLock::new();
static EPOCH: OnceLock<Instant> = OnceLock::new();
/// Nanoseconds since [`EPOCH`], advanced by the watchdog on each scan: the
/// coarse clock holders read (a plain load) instead of reading the clock.
static TICK: AtomicU64 = AtomicU64::new(0);
static DUMP_REQUESTED: AtomicBool = AtomicBool::new(false);
static SLOTS: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
/// The subscriber current when [`start`] was called.
static DISPATCH: OnceLock<tracing::Dispatch> = OnceLock::new();
/// Set in a forked child of a process whose watchdog ran: the next [`on`]
/// starts one for the child.
static RESPAWN: AtomicBool = AtomicBool::new(false);

/// What the watchdog does with a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A `tracing` WARN event (target `lockgraph`, field `kind`) under the
    /// subscriber current when the watchdog started, delivered by a
    /// lockgraph thread (see [`crate::flush_reports`]), or the report on the
    /// standard error file descriptor when that subscriber does not enable
    /// the event (or there is none).
    Report,
    /// Print the report on the standard error file descriptor and abort the
    /// process.
    Abort,
}

/// Watchdog settings: `Config::default().timeout(..).action(..)`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// A wait longer than this is reported (default 5 s).
    pub timeout: Duration,
    /// How often the watchdog scans the threads (default 100 ms).
    pub scan_period: Duration,
    /// What to do with a report (default [`Action::Report`]).
    pub action: Action,
    /// Where each report is also written as JSON (default `LOCKGRAPH_DUMP_DIR`).
    pub dump_dir: Option<PathBuf>,
    /// Print [`dump`] on stderr when the process receives SIGUSR2 (default off).
    pub dump_on_sigusr2: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            timeout: Duration::from_secs(5),
            scan_period: Duration::from_millis(100),
            action: Action::Report,
            dump_dir: None,
            dump_on_sigusr2: false,
        }
    }
}

impl Config {
    /// Sets the wait timeout.
    pub fn timeout(mut self, timeout: Duration) -> Config {
        self.timeout = timeout;
        self
    }
    /// Sets the scan period.
    pub fn scan_period(mut self, period: Duration) -> Config {
        self.scan_period = period;
        self
    }
    /// Sets the action.
    pub fn action(mut self, action: Action) -> Config {
        self.action = action;
        self
    }
    /// Sets the JSON dump directory.
    pub fn dump_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.dump_dir = Some(dir.into());
        self
    }
    /// Prints [`dump`] on SIGUSR2 (Unix only).
    pub fn dump_on_sigusr2(mut self, on: bool) -> Config {
        self.dump_on_sigusr2 = on;
        self
    }

    /// The slice a waiter blocks for between checks.
    fn slice(&self) -> Duration {
        (self.scan_period.min(self.timeout) / 2).max(Duration::from_millis(1))
    }
}

/// A duration that did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDurationError(pub String);

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: expected a number with a unit (ns, us, ms, s, m), e.g. 5s or 750ms",
            self.0
        )
    }
}

impl std::error::Error for ParseDurationError {}

/// Parses `5s`, `750ms`, `1.5s`, `2m`, `100us`, `10ns`.
pub fn parse_duration(text: &str) -> Result<Duration, ParseDurationError> {
    let err = || ParseDurationError(text.to_string());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(err)?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| err())?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        _ => return Err(err()),
    };
    Duration::try_from_secs_f64(n * scale).map_err(|_| err())
}

/// Whether the watchdog is on. The first call reads `LOCKGRAPH_WATCHDOG`.
#[inline]
pub fn on() -> bool {
    match ON.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => init_from_env(),
    }
}

#[cold]
fn init_from_env() -> bool {
    if RESPAWN.swap(false, Ordering::AcqRel) {
        respawn();
    }
    ENV_ONCE.call_once(|| {
        let Some(v) = std::env::var_os("LOCKGRAPH_WATCHDOG") else {
            return;
        };
        let v = v.to_string_lossy();
        let timeout = match parse_duration(&v) {
            Ok(d) => d,
            Err(e) => {
                crate::stderr::line(&format!(
                    "lockgraph: LOCKGRAPH_WATCHDOG={v}: {e}; the watchdog stays off"
                ));
                return;
            }
        };
        let mut config = Config::default().timeout(timeout);
        if let Ok(a) = std::env::var("LOCKGRAPH_WATCHDOG_ACTION") {
            match a.trim().to_ascii_lowercase().as_str() {
                "report" | "warn" => config.action = Action::Report,
                "abort" => config.action = Action::Abort,
                _ => crate::stderr::line(&format!(
                    "lockgraph: LOCKGRAPH_WATCHDOG_ACTION={a}: expected report or abort; using report"
                )),
            }
        }
        start(config);
    });
    let _ = ON.compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed);
    ON.load(Ordering::Relaxed) == 2
}

/// Starts the watchdog thread. Returns false (and changes nothing) when it is
/// already running. `dump_dir` defaults to `LOCKGRAPH_DUMP_DIR`.
pub fn start(mut config: Config) -> bool {
    if config.dump_dir.is_none() {
        config.dump_dir = std::env::var_os("LOCKGRAPH_DUMP_DIR").map(PathBuf::from);
    }
    if config.scan_period.is_zero() {
        config.scan_period = Duration::from_millis(1);
    }
    if CONFIG.set(config.clone()).is_err() {
        return false;
    }
    EPOCH.get_or_init(Instant::now);
    // Capture the caller's subscriber: a scoped default is invisible elsewhere.
    let _ = DISPATCH.set(tracing::dispatcher::get_default(tracing::Dispatch::clone));
    if config.dump_on_sigusr2 {
        install_sigusr2();
    }
    // Decide once whether holders' current stacks can be captured, and
    // install the signal handler if so (reports say why not otherwise).
    #[cfg(target_os = "linux")]
    let _ = remote_stack::install();
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &after_fork::HOOKS);
    crate::delivery::before_exit(rate_limit::say_suppressed);
    spawn_thread()
}

/// Starts the watchdog thread with the configuration set; false when it
/// cannot be started (said on stderr).
fn spawn_thread() -> bool {
    let config = config().clone();
    // Started so that it inherits no test's output capture (`delivery.rs`).
    let spawned = crate::delivery::spawn("lockgraph-watchdog", move || Watchdog::new(config).run());
    if let Err(e) = spawned {
        crate::stderr::line(&format!("lockgraph: cannot start the watchdog thread: {e}"));
        return false;
    }
    ON.store(2, Ordering::Relaxed);
    crate::features::changed();
    true
}

/// In a forked child, the first look at [`on`]: the watchdog thread did
/// not follow the fork; a new one watches the child's threads.
fn respawn() {
    if !spawn_thread() {
        ON.store(1, Ordering::Relaxed);
        crate::features::changed();
    }
}

/// The subscriber current when the watchdog started, which gets its reports.
fn dispatch() -> tracing::Dispatch {
    DISPATCH
        .get()
        .cloned()
        .unwrap_or_else(tracing::Dispatch::none)
}

fn config() -> &'static Config {
    CONFIG
        .get()
        .expect("the watchdog is on only once configured")
}

fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(unix)]
fn install_sigusr2() {
    extern "C" fn on_sigusr2(_: libc::c_int) {
        // Only an atomic store: async-signal-safe. The watchdog prints.
        DUMP_REQUESTED.store(true, Ordering::Relaxed);
    }
    // SAFETY: a zeroed `sigaction` is a valid empty one; the handler only
    // stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr2 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()) != 0 {
            crate::stderr::line("lockgraph: cannot install the SIGUSR2 handler");
        }
    }
}

#[cfg(not(unix))]
fn install_sigusr2() {}

#[cfg(target_os = "linux")]
fn os_tid() -> u64 {
    // SAFETY: gettid has no preconditions.
    (unsafe { libc::gettid() }) as u64
}

#[cfg(not(target_os = "linux"))]
fn os_tid() -> u64 {
    0
}

/// Whether reports can show a holder's current stack in this process (see
/// the module docs): `Ok` on Linux with glibc >= 2.35 and an unwinder that
/// uses `_dl_find_object`, or with `LOCKGRAPH_REMOTE_STACKS=on`; otherwise
/// why not. Decided once per process. It says nothing about the signal being
/// free: a report also falls back when another handler owns `SIGRTMIN()+4`.
pub fn current_stack_support() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    {
        remote_stack::support()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err("another thread's current stack is captured on Linux only".to_string())
    }
}

// ---------------------------------------------------------------------------
// Per-thread slots.

/// A lock (held or waited for) as plain words, written by the owner thread.
#[derive(Default)]
struct Entry {
    id: AtomicU64,
    /// 0 anonymous, 1 site (`a` = `&Location`), 2 name (`a`, `b` = ptr, len).
    class_tag: AtomicU8,
    class_a: AtomicUsize,
    class_b: AtomicUsize,
    kind: AtomicU8,
    /// Hold (held entries: `Hold as u8` or [`HOLD_UPGRADABLE`]) or request
    /// (the wait: `WaitMode as u8`).
    mode: AtomicU8,
    site: AtomicUsize,
    since: AtomicU64,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct RawEntry {
    id: u64,
    class_tag: u8,
    class_a: usize,
    class_b: usize,
    kind: u8,
    mode: u8,
    site: usize,
    since: u64,
}

impl Entry {
    fn store(&self, e: RawEntry) {
        self.id.store(e.id, Ordering::Relaxed);
        self.class_tag.store(e.class_tag, Ordering::Relaxed);
        self.class_a.store(e.class_a, Ordering::Relaxed);
        self.class_b.store(e.class_b, Ordering::Relaxed);
        self.kind.store(e.kind, Ordering::Relaxed);
        self.mode.store(e.mode, Ordering::Relaxed);
        self.site.store(e.site, Ordering::Relaxed);
        self.since.store(e.since, Ordering::Relaxed);
    }

    fn load(&self) -> RawEntry {
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

fn encode_class(class: Class) -> (u8, usize, usize) {
    match class {
        Class::Anonymous => (0, 0, 0),
        Class::Site(l, t) => (1, l as *const Location<'static> as usize, t as usize),
        Class::Named(n) => (2, n.as_ptr() as usize, n.len()),
    }
}

fn encode_kind(k: LockKind) -> u8 {
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
    }
}

fn decode_kind(k: u8) -> LockKind {
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
        _ => LockKind::Other,
    }
}

fn site_word(s: Option<&'static Location<'static>>) -> usize {
    s.map_or(0, |l| l as *const Location<'static> as usize)
}

/// Decodes words read under a validated sequence count.
///
/// # Safety
/// The words must have been stored by [`encode_class`] / [`site_word`] (the
/// sequence count proves they were not torn), so the pointers are `'static`.
unsafe fn decode(e: &RawEntry) -> (Class, Option<&'static Location<'static>>) {
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
const WAIT_NONE: u8 = 0;
const WAIT_LOCK: u8 = 1;
const WAIT_RESOURCE: u8 = 2;
/// A wait without a time limit (the slot's `wait_limit`).
const NO_LIMIT: u64 = u64::MAX;

/// One thread's published state. Only the owner writes; the watchdog reads a
/// consistent copy through the sequence count.
pub(crate) struct Slot {
    key: u64,
    name: String,
    tid: u64,
    seq: AtomicU64,
    alive: AtomicBool,
    len: AtomicUsize,
    held: [Entry; MAX_HELD],
    wait_state: AtomicU8,
    wait_serial: AtomicU64,
    wait: Entry,
    /// The limit of a timed wait in nanoseconds ([`NO_LIMIT`] for none).
    wait_limit: AtomicU64,
    /// The waiter's own stack, captured once its wait exceeded the timeout
    /// or the watchdog asked for it.
    stack: Mutex<Option<(u64, Backtrace)>>,
    /// The wait serial whose stack the watchdog wants now (a thread seen in
    /// a cycle): the waiter captures it after its current slice.
    want_stack: AtomicU64,
}

impl Slot {
    fn new(name: &str, tid: u64) -> Slot {
        Slot {
            key: NEXT_THREAD.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            tid,
            seq: AtomicU64::new(0),
            alive: AtomicBool::new(true),
            len: AtomicUsize::new(0),
            held: std::array::from_fn(|_| Entry::default()),
            wait_state: AtomicU8::new(WAIT_NONE),
            wait_serial: AtomicU64::new(0),
            wait: Entry::default(),
            wait_limit: AtomicU64::new(NO_LIMIT),
            stack: Mutex::new(None),
            want_stack: AtomicU64::new(0),
        }
    }

    fn begin(&self) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
    }

    fn end(&self) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Release);
    }

    /// A consistent copy: (held, wait state, wait serial, wait, wait limit).
    fn read(&self) -> (Vec<RawEntry>, u8, u64, RawEntry, u64) {
        let mut spins = 0u32;
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let len = self.len.load(Ordering::Relaxed).min(MAX_HELD);
                let held: Vec<RawEntry> = self.held[..len].iter().map(Entry::load).collect();
                let ws = self.wait_state.load(Ordering::Relaxed);
                let serial = self.wait_serial.load(Ordering::Relaxed);
                let wait = self.wait.load();
                let limit = self.wait_limit.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == s1 {
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

struct Mine(Option<Arc<Slot>>);

impl Drop for Mine {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            // The held-lock state keeps a plain pointer to the slot: drop it
            // before this `Arc` goes (later publications find no slot).
            crate::state::clear_watchdog_slot();
            s.alive.store(false, Ordering::Relaxed);
        }
    }
}

thread_local! {
    static MINE: RefCell<Mine> = const { RefCell::new(Mine(None)) };
}

/// Runs `f` on this thread's slot, registering it (once) first.
fn with_slot(f: impl FnOnce(&Slot)) {
    let _ = MINE.try_with(|m| {
        let Ok(mut m) = m.try_borrow_mut() else {
            return;
        };
        let slot = m.0.get_or_insert_with(|| {
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
const HOLD_UPGRADABLE: u8 = 2;
const _: () =
    assert!(HOLD_UPGRADABLE != Hold::Exclusive as u8 && HOLD_UPGRADABLE != Hold::Shared as u8);

/// The coarse time (advanced by the watchdog) for a new hold.
pub(crate) fn tick() -> u64 {
    TICK.load(Ordering::Relaxed)
}

/// This thread's slot, registered on first use, for the held-lock state to
/// keep (null when the thread's slot is already gone: it is exiting). The
/// slot stays alive until the thread's `MINE` is dropped, which first clears
/// the pointer kept by the held-lock state
/// ([`crate::state::clear_watchdog_slot`]).
pub(crate) fn this_thread_slot() -> *const Slot {
    let mut p = std::ptr::null();
    with_slot(|s| p = s as *const Slot);
    p
}

/// Publishes held slots `from..len` and the new length.
pub(crate) fn publish(s: &Slot, from: usize, len: usize, get: impl Fn(usize) -> Published) {
    s.begin();
    for i in from..len.min(MAX_HELD) {
        s.held[i].store(get(i).raw());
    }
    s.len.store(len, Ordering::Relaxed);
    s.end();
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
/// entry already published there is the same lock in the same mode from the
/// same site (a lock taken again and again), only its start is stored;
/// otherwise `full` gives the whole entry.
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
    s.begin();
    if e.id.load(Ordering::Relaxed) == id
        && e.mode.load(Ordering::Relaxed) == hold
        && e.site.load(Ordering::Relaxed) == site_word(site)
    {
        e.since.store(since, Ordering::Relaxed);
    } else {
        e.store(full().raw());
    }
    s.len.store(i + 1, Ordering::Relaxed);
    s.end();
}

/// Publishes a new length (a pop from the top).
#[inline]
pub(crate) fn publish_len(s: &Slot, len: usize) {
    s.begin();
    s.len.store(len, Ordering::Relaxed);
    s.end();
}

impl Published {
    /// The published mode byte.
    #[inline]
    fn mode(&self) -> u8 {
        hold_mode(self.hold, self.upgradable)
    }

    fn raw(&self) -> RawEntry {
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

/// A registered wait; unregisters (restoring an outer wait) when dropped.
struct WaitGuard {
    prev: Option<(u8, u64, RawEntry, u64)>,
    serial: u64,
    start: Instant,
    captured: bool,
}

/// Registers a wait; `limit` is a timed wait's limit (`None`: no limit).
fn register(state: u8, e: RawEntry, limit: Option<Duration>) -> WaitGuard {
    let mut g = WaitGuard {
        prev: None,
        serial: 0,
        start: Instant::now(),
        captured: false,
    };
    let limit = limit.map_or(NO_LIMIT, |l| (l.as_nanos() as u64).min(NO_LIMIT - 1));
    with_slot(|s| {
        let prev_state = s.wait_state.load(Ordering::Relaxed);
        if prev_state != WAIT_NONE {
            g.prev = Some((
                prev_state,
                s.wait_serial.load(Ordering::Relaxed),
                s.wait.load(),
                s.wait_limit.load(Ordering::Relaxed),
            ));
        }
        g.serial = s.wait_serial.load(Ordering::Relaxed).wrapping_add(1);
        s.begin();
        s.wait.store(RawEntry {
            since: now_ns(),
            ..e
        });
        s.wait_limit.store(limit, Ordering::Relaxed);
        s.wait_serial.store(g.serial, Ordering::Relaxed);
        s.wait_state.store(state, Ordering::Relaxed);
        s.end();
    });
    g
}

impl WaitGuard {
    /// Called between slices: captures the waiter's stack once it is late.
    fn check(&mut self, timeout: Duration) {
        if self.captured {
            return;
        }
        let serial = self.serial;
        let mut wanted = self.start.elapsed() >= timeout;
        with_slot(|s| wanted |= s.want_stack.load(Ordering::Relaxed) == serial);
        if wanted {
            self.captured = true;
            let bt = Backtrace::capture();
            with_slot(|s| *s.stack.lock() = Some((serial, bt)));
        }
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        with_slot(|s| {
            s.begin();
            match prev {
                Some((state, serial, e, limit)) => {
                    s.wait.store(e);
                    s.wait_limit.store(limit, Ordering::Relaxed);
                    s.wait_serial
                        .store(serial.max(self.serial), Ordering::Relaxed);
                    s.wait_state.store(state, Ordering::Relaxed);
                }
                None => s.wait_state.store(WAIT_NONE, Ordering::Relaxed),
            }
            s.end();
            if self.captured {
                *s.stack.lock() = None;
            }
        });
    }
}

/// What a waiting thread asked for: the operation that blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitMode {
    /// `lock` of a mutex or a reentrant mutex (and their timed variants).
    Lock,
    /// `read` of an `RwLock`: it can queue behind a waiting writer.
    Read,
    /// `read_recursive` of an `RwLock`.
    RecursiveRead,
    /// `write` of an `RwLock`.
    Write,
    /// `upgradable_read` of an `RwLock`.
    UpgradableRead,
    /// `upgrade` of an upgradable read: waits for every other reader.
    Upgrade,
    /// A condvar wait: waits for a notification, not for a holder.
    Condvar,
}

impl WaitMode {
    const ALL: [WaitMode; 7] = [
        WaitMode::Lock,
        WaitMode::Read,
        WaitMode::RecursiveRead,
        WaitMode::Write,
        WaitMode::UpgradableRead,
        WaitMode::Upgrade,
        WaitMode::Condvar,
    ];

    /// The request the lock-order graph records for it (a condvar wait is
    /// recorded as an exclusive request of the condvar).
    pub fn request(self) -> Request {
        match self {
            WaitMode::Read => Request::Read,
            WaitMode::RecursiveRead => Request::RecursiveRead,
            _ => Request::Exclusive,
        }
    }

    /// Its name in reports: `exclusive`, `read`, `recursive read`, `write`,
    /// `upgradable read`, `upgrade`, `condvar`.
    pub fn name(self) -> &'static str {
        match self {
            WaitMode::Lock => "exclusive",
            WaitMode::Read => "read",
            WaitMode::RecursiveRead => "recursive read",
            WaitMode::Write => "write",
            WaitMode::UpgradableRead => "upgradable read",
            WaitMode::Upgrade => "upgrade",
            WaitMode::Condvar => "condvar",
        }
    }

    fn decode(m: u8) -> WaitMode {
        WaitMode::ALL
            .get(usize::from(m))
            .copied()
            .unwrap_or(WaitMode::Lock)
    }
}

/// Takes a lock with the watchdog on: `fast` (non-blocking) first; if it
/// fails, registers the wait and blocks with `timed` in slices until it
/// succeeds. Composes with the contention profile.
pub fn take(
    meta: &LockMeta,
    access: Access,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    fast: impl FnOnce() -> bool,
    timed: impl FnMut(Duration) -> bool,
) {
    let slow = || {
        wait_lock(meta, mode, site, None, timed);
    };
    if profile::on() {
        profile::take(meta, access, fast, slow);
    } else if !fast() {
        slow();
    }
}

/// Takes a lock (or upgrades one) with the watchdog on, giving up at a
/// deadline: `fast` (non-blocking) first; if it fails, asks `deadline` for
/// the deadline (`None`: no limit), registers the wait and blocks with
/// `timed` in slices, none longer than the time left. Returns whether the
/// lock was taken: false once the deadline passed, as `try_lock_until`.
/// Not counted in the contention profile.
pub fn take_until(
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    deadline: impl FnOnce() -> Option<Instant>,
    fast: impl FnOnce() -> bool,
    timed: impl FnMut(Duration) -> bool,
) -> bool {
    fast() || wait_lock(meta, mode, site, deadline(), timed)
}

/// Blocks in `timed` slices until it succeeds, registered as a wait on
/// `meta`; returns false once `deadline` (if any) passed.
#[cold]
#[inline(never)]
fn wait_lock(
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    deadline: Option<Instant>,
    mut timed: impl FnMut(Duration) -> bool,
) -> bool {
    let cfg = config();
    let site = site.or_else(crate::state::pending_site);
    let (class_tag, class_a, class_b) = encode_class(meta.class());
    let mut g = register(
        WAIT_LOCK,
        RawEntry {
            id: meta.id(),
            class_tag,
            class_a,
            class_b,
            kind: encode_kind(meta.kind()),
            mode: mode as u8,
            site: site_word(site),
            since: 0,
        },
        deadline.map(|d| d.saturating_duration_since(Instant::now())),
    );
    let slice = cfg.slice();
    loop {
        let step = match deadline {
            None => slice,
            Some(d) => slice.min(d.saturating_duration_since(Instant::now())),
        };
        if timed(step) {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        g.check(cfg.timeout);
    }
}

/// Runs `park`, a condvar wait that ends by `deadline` at the latest
/// (`None`: no limit), registered as a wait on the condvar `meta` requested
/// at `site`. A wait whose deadline is closer than the timeout could never
/// be reported, so it is not registered.
pub fn condvar_wait<R>(
    meta: &LockMeta,
    site: Option<&'static Location<'static>>,
    deadline: Option<Instant>,
    park: impl FnOnce() -> R,
) -> R {
    let limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    if limit.is_some_and(|l| l <= config().timeout) {
        return park();
    }
    let (class_tag, class_a, class_b) = encode_class(meta.class());
    let _g = register(
        WAIT_LOCK,
        RawEntry {
            id: meta.id(),
            class_tag,
            class_a,
            class_b,
            kind: encode_kind(meta.kind()),
            mode: WaitMode::Condvar as u8,
            site: site_word(site),
            since: 0,
        },
        limit,
    );
    park()
}

/// Runs a blocking call registered as a wait on the resource `what`.
#[track_caller]
pub(crate) fn blocking<R>(what: &'static str, f: impl FnOnce() -> R) -> R {
    let _g = register(
        WAIT_RESOURCE,
        RawEntry {
            id: 0,
            class_tag: 2,
            class_a: what.as_ptr() as usize,
            class_b: what.len(),
            kind: encode_kind(LockKind::Other),
            mode: 0,
            site: site_word(Some(Location::caller())),
            since: 0,
        },
        None,
    );
    f()
}

// ---------------------------------------------------------------------------
// Snapshots.

#[derive(Clone, Copy)]
struct HeldView {
    id: u64,
    class: Class,
    kind: LockKind,
    hold: Hold,
    /// An upgradable read (`hold` is then shared).
    upgradable: bool,
    site: Option<&'static Location<'static>>,
    since: u64,
}

#[derive(Clone, Copy)]
enum Target {
    Lock {
        id: u64,
        class: Class,
        kind: LockKind,
        mode: WaitMode,
    },
    Resource(&'static str),
}

#[derive(Clone, Copy)]
struct WaitView {
    serial: u64,
    target: Target,
    site: Option<&'static Location<'static>>,
    since: u64,
    /// A timed wait's limit.
    limit: Option<Duration>,
}

struct Snap {
    slot: Arc<Slot>,
    held: Vec<HeldView>,
    wait: Option<WaitView>,
}

/// A published hold mode: the hold, and whether it is an upgradable read.
fn decode_hold(m: u8) -> (Hold, bool) {
    if m == HOLD_UPGRADABLE {
        (Hold::Shared, true)
    } else if m == Hold::Shared as u8 {
        (Hold::Shared, false)
    } else {
        (Hold::Exclusive, false)
    }
}

/// Every live thread's published state.
fn snapshot() -> Vec<Snap> {
    let slots: Vec<Arc<Slot>> = {
        let mut all = SLOTS.lock();
        all.retain(|s| s.alive.load(Ordering::Relaxed));
        all.clone()
    };
    slots
        .into_iter()
        .map(|slot| {
            let (held, ws, serial, w, limit) = slot.read();
            let held = held
                .iter()
                .map(|e| {
                    // SAFETY: read under a validated sequence count.
                    let (class, site) = unsafe { decode(e) };
                    let (hold, upgradable) = decode_hold(e.mode);
                    HeldView {
                        id: e.id,
                        class,
                        kind: decode_kind(e.kind),
                        hold,
                        upgradable,
                        site,
                        since: e.since,
                    }
                })
                .collect();
            // SAFETY: read under a validated sequence count.
            let (class, site) = unsafe { decode(&w) };
            let target = match (ws, class) {
                (WAIT_LOCK, _) => Some(Target::Lock {
                    id: w.id,
                    class,
                    kind: decode_kind(w.kind),
                    mode: WaitMode::decode(w.mode),
                }),
                (WAIT_RESOURCE, Class::Named(what)) => Some(Target::Resource(what)),
                _ => None,
            };
            let wait = target.map(|target| WaitView {
                serial,
                target,
                site,
                since: w.since,
                limit: (limit != NO_LIMIT).then(|| Duration::from_nanos(limit)),
            });
            Snap { slot, held, wait }
        })
        .collect()
}

/// Wait-for edges: thread `i` waits for the threads in `edges[i]`.
///
/// Who keeps a waiter out follows parking_lot's `RwLock`: a `lock()`,
/// `write()` waits for every holder (itself included: a write after a read on
/// one thread never ends); an `upgrade()` for every *other* holder and for
/// the waiter's own plain reads of the lock (a self-deadlock too); an
/// `upgradable_read()` for the exclusive and upgradable holders (readers do
/// not keep it out); a `read()` or `read_recursive()` for the exclusive
/// holders. A writer that waits for readers only, and an upgrade, keep new
/// readers and upgradable readers out meanwhile: a `read()` or
/// `upgradable_read()` of a lock no one holds exclusively also waits for the
/// threads waiting to `upgrade()` it, and for those waiting to `write()` it
/// when no one holds it upgradable either (a writer kept out by an
/// upgradable holder does not stop readers). A `read_recursive()` passes a
/// waiting writer while readers hold the lock.
fn wait_for_edges(snaps: &[Snap]) -> Vec<Vec<usize>> {
    snaps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let Some(WaitView {
                target: Target::Lock { id, mode, .. },
                ..
            }) = s.wait
            else {
                return Vec::new();
            };
            if mode == WaitMode::Condvar {
                // A condvar has no holder: who will notify it is unknown.
                return Vec::new();
            }
            let mut out = Vec::new();
            let mut exclusive_holder = false;
            let mut upgradable_holder = false;
            for (j, o) in snaps.iter().enumerate() {
                for h in o.held.iter().filter(|h| h.id == id) {
                    let exclusive = h.hold == Hold::Exclusive;
                    let keeps_out = match mode {
                        // Every other holder, and the waiter's own plain
                        // reads (it waits for itself then).
                        WaitMode::Upgrade => j != i || !h.upgradable,
                        WaitMode::UpgradableRead => exclusive || h.upgradable,
                        WaitMode::Read | WaitMode::RecursiveRead => exclusive,
                        _ => true,
                    };
                    if keeps_out {
                        out.push(j);
                    }
                    exclusive_holder |= exclusive;
                    upgradable_holder |= h.upgradable;
                }
            }
            if matches!(mode, WaitMode::Read | WaitMode::UpgradableRead) && !exclusive_holder {
                // A waiting upgrade, or a write that waits for readers only,
                // lets no new reader or upgradable reader in.
                for (j, o) in snaps.iter().enumerate() {
                    if let Some(WaitView {
                        target:
                            Target::Lock {
                                id: oid,
                                mode: omode,
                                ..
                            },
                        ..
                    }) = o.wait
                    {
                        let queued = match omode {
                            WaitMode::Upgrade => true,
                            WaitMode::Write => !upgradable_holder,
                            _ => false,
                        };
                        if queued && oid == id && j != i {
                            out.push(j);
                        }
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        })
        .collect()
}

/// Elementary cycles found by a depth-first search over `edges` (at least one
/// per strongly connected component that has a cycle), each rotated so that
/// its smallest node comes first.
pub(crate) fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut color = vec![0u8; n];
    let mut out: Vec<Vec<usize>> = Vec::new();
    for root in 0..n {
        if color[root] != 0 {
            continue;
        }
        let mut path: Vec<usize> = vec![root];
        let mut next: Vec<usize> = vec![0];
        color[root] = 1;
        while let Some(&v) = path.last() {
            let k = next.last_mut().expect("one cursor per path node");
            if let Some(&w) = edges[v].get(*k) {
                *k += 1;
                match color.get(w) {
                    Some(0) => {
                        color[w] = 1;
                        path.push(w);
                        next.push(0);
                    }
                    Some(1) => {
                        let at = path.iter().position(|&p| p == w).expect("on the path");
                        let mut c = path[at..].to_vec();
                        let min = c.iter().enumerate().min_by_key(|(_, &x)| x).map(|(i, _)| i);
                        c.rotate_left(min.unwrap_or(0));
                        if !out.contains(&c) {
                            out.push(c);
                        }
                    }
                    _ => {}
                }
            } else {
                color[v] = 2;
                path.pop();
                next.pop();
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Reports.

/// What a [`WatchdogReport`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchdogKind {
    /// Threads wait for each other in a cycle: none can go on.
    Deadlock,
    /// A thread has waited longer than the timeout (no cycle seen).
    LongWait,
}

/// A lock or resource in a report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LockRef {
    /// The kind of lock (`Other` for a [`crate::blocking`] resource).
    pub kind: LockKind,
    /// The lock instance id (0 for a resource).
    pub id: u64,
    /// The name (`named` locks, or the resource's `what`).
    pub name: Option<&'static str>,
    /// Where the lock (its class) was created.
    pub created: Option<Site>,
    /// Whether this is a [`crate::blocking`] resource rather than a lock.
    pub resource: bool,
}

impl LockRef {
    fn of(id: u64, class: Class, kind: LockKind) -> LockRef {
        LockRef {
            kind,
            id,
            name: match class {
                Class::Named(n) => Some(n),
                _ => None,
            },
            created: class.site(),
            resource: false,
        }
    }
}

impl fmt::Display for LockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.resource {
            return write!(f, "blocking call `{}`", self.name.unwrap_or("?"));
        }
        write!(f, "{} ", self.kind.name())?;
        match (self.name, self.created) {
            (Some(n), _) => write!(f, "`{n}`"),
            (None, Some(s)) => write!(f, "created at {s}"),
            (None, None) => write!(f, "#{}", self.id),
        }
    }
}

/// A thread's wait, in a report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WaitInfo {
    /// What it waits for.
    pub lock: LockRef,
    /// How it asked (`None` for a resource or a condvar wait).
    pub request: Option<Request>,
    /// What operation waits (`None` for a resource): names upgrades and
    /// condvar waits, which `request` does not.
    pub mode: Option<WaitMode>,
    /// The limit of a timed wait (`try_lock_for`, `wait_for`, ...).
    pub limit: Option<Duration>,
    /// Where it asked.
    pub site: Option<Site>,
    /// How long it has waited.
    pub waited: Duration,
    /// Its own stack, captured once the wait exceeded the timeout (resolved,
    /// program frames only).
    pub stack: Vec<String>,
}

impl WaitInfo {
    /// What it waits for: `Mutex `m``, `upgrade of RwLock `r``,
    /// `notification on Condvar `cv``, `blocking call `recv``.
    pub fn what(&self) -> String {
        match self.mode {
            Some(WaitMode::Upgrade) => format!("upgrade of {}", self.lock),
            Some(WaitMode::Condvar) => format!("notification on {}", self.lock),
            _ => self.lock.to_string(),
        }
    }

    /// ` (write, timed: gives up after 10.0s)`: the mode where
    /// [`what`](Self::what) does not say it, and a timed wait's limit.
    fn notes(&self) -> String {
        let mut notes: Vec<String> = Vec::new();
        if let Some(m) = self.mode {
            if !matches!(m, WaitMode::Upgrade | WaitMode::Condvar) {
                notes.push(m.name().to_string());
            }
        }
        if let Some(l) = self.limit {
            notes.push(format!("timed: gives up after {l:.1?}"));
        }
        if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        }
    }
}

/// A held lock, in a report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HeldInfo {
    /// The lock.
    pub lock: LockRef,
    /// Exclusive or shared.
    pub hold: Hold,
    /// Whether it is an upgradable read (`hold` is then shared).
    pub upgradable: bool,
    /// Where it was taken.
    pub site: Option<Site>,
    /// For about how long (scan-period resolution).
    pub held_for: Duration,
}

/// What a thread is doing now, from `/proc/self/task/<tid>` (Linux).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ProcState {
    /// The scheduler state letter (`S` sleeping, `R` running, `D` disk wait...).
    pub state: String,
    /// The kernel function it sleeps in.
    pub wchan: String,
    /// The system call it is in (number and arguments, as the kernel writes it).
    pub syscall: String,
}

/// A holder's current stack, in a report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StackNow {
    /// Captured now: the thread's program frames, innermost first, resolved
    /// and filtered like a waiter's stack (lockgraph, lock_api, parking_lot,
    /// std and C runtime frames left out). On Linux by a signal to the
    /// thread; for the thread that asks for a [`dump`], directly.
    Captured {
        /// The frames, as "function (file:line)".
        frames: Vec<String>,
        /// Whether the walk stopped at its frame limit (outer frames lost).
        truncated: bool,
    },
    /// Not captured, and why; the report shows only the `/proc` state
    /// ([`ThreadInfo::now`]).
    Unavailable(String),
}

/// One thread of a report or dump.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ThreadInfo {
    /// The thread's name (`<unnamed>` without one).
    pub name: String,
    /// The OS thread id (0 where unknown).
    pub tid: u64,
    /// What it waits for, if anything.
    pub waiting: Option<WaitInfo>,
    /// Every lock it holds, outermost first.
    pub held: Vec<HeldInfo>,
    /// Where it is now, per the kernel.
    pub now: Option<ProcState>,
    /// Where it is now, as a stack: asked for holders that do not wait for a
    /// lock (a waiter's own stack is in [`WaitInfo::stack`]); `None` for
    /// the others.
    pub stack_now: Option<StackNow>,
}

/// A real deadlock or a long wait, found by the watchdog.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WatchdogReport {
    /// Deadlock or long wait.
    pub kind: WatchdogKind,
    /// The wait-for cycle as text (deadlocks):
    /// `thread a -> Mutex x -> thread b -> Mutex y -> thread a`.
    pub cycle: Option<String>,
    /// The threads involved: the waiters, then the holders they wait for.
    pub threads: Vec<ThreadInfo>,
    /// The process id.
    pub pid: u32,
    /// What the lock-order graph knew of the cycle (deadlocks of two or more
    /// threads waiting for locks).
    pub order: Option<OrderContext>,
}

pub use crate::global::OrderOrigin;

/// One edge of a deadlock's cycle in the lock-order graph: a thread held
/// `from` and waits for `to`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OrderStep {
    /// The lock held.
    pub from: LockRef,
    /// The lock waited for.
    pub to: LockRef,
    /// Who recorded `from -> to` first, and where (`None`: never recorded,
    /// e.g. the lock was taken with `try_lock`).
    pub first: Option<OrderOrigin>,
}

/// What the lock-order graph knew of a deadlock's cycle before it hung.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OrderContext {
    /// The cycle's edges, in the order of the wait-for cycle.
    pub steps: Vec<OrderStep>,
    /// Whether the lock-order graph reported this very cycle as a potential
    /// deadlock (when its last edge was recorded).
    pub reported: bool,
    /// Whether the lock-order graph was recording when the deadlock was
    /// found ([`crate::order_graph`]). Edges recorded while it was on are
    /// still shown when it is off.
    pub graph_on: bool,
}

impl OrderContext {
    /// The context of the lock cycle `locks[0] -> locks[1] -> ... -> locks[0]`.
    fn of(locks: &[(u64, Class, LockKind)]) -> OrderContext {
        let keys: Vec<(u64, Class)> = locks.iter().map(|&(id, c, _)| (id, c)).collect();
        let graph_on = crate::order::order_graph();
        let (firsts, reported) = crate::global::order_context(&keys);
        let n = locks.len();
        let steps = firsts
            .into_iter()
            .enumerate()
            .map(|(i, first)| {
                let (a, b) = (locks[i], locks[(i + 1) % n]);
                OrderStep {
                    from: LockRef::of(a.0, a.1, a.2),
                    to: LockRef::of(b.0, b.1, b.2),
                    first,
                }
            })
            .collect();
        OrderContext {
            steps,
            reported,
            graph_on,
        }
    }
}

impl fmt::Display for OrderContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let missing = self.steps.iter().filter(|s| s.first.is_none()).count();
        if !self.graph_on {
            writeln!(
                f,
                "  lock-order graph: off (LOCKGRAPH_ORDER=off, set_order_graph(false), or the watchdog-in-release feature)"
            )?;
            if missing == self.steps.len() {
                return writeln!(f, "    no edge of this cycle was recorded");
            }
        }
        if self.reported {
            writeln!(
                f,
                "  lock-order graph: it knew this cycle and reported it as a potential deadlock when its last edge was recorded:"
            )?;
        } else if missing == 0 {
            writeln!(
                f,
                "  lock-order graph: every edge of this cycle was recorded (this exact cycle was not reported: another cycle through the same edge was, or the order graph had stopped):"
            )?;
        } else {
            writeln!(
                f,
                "  lock-order graph: {missing} of the cycle's {} edges were never recorded (taken with try_lock, in untracked code, or after the graph filled up):",
                self.steps.len()
            )?;
        }
        for st in &self.steps {
            write!(f, "    {} -> {}: ", st.from, st.to)?;
            match &st.first {
                Some(o) => {
                    writeln!(
                        f,
                        "first by thread `{}`, holding since {}, requested at {}",
                        o.thread,
                        opt_site(&o.held_at),
                        opt_site(&o.requested_at)
                    )?;
                    if !o.stack.is_empty() {
                        writeln!(f, "      its stack then:")?;
                        for fr in &o.stack {
                            writeln!(f, "        {fr}")?;
                        }
                    }
                }
                None => writeln!(f, "never recorded")?,
            }
        }
        Ok(())
    }
}

/// Every thread's held locks and waits (see [`dump`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Dump {
    /// Whether the watchdog was on (threads publish their locks only then).
    pub watching: bool,
    /// Every thread that has published state.
    pub threads: Vec<ThreadInfo>,
}

fn ago(since: u64, now: u64) -> Duration {
    Duration::from_nanos(now.saturating_sub(since))
}

fn proc_state(tid: u64) -> Option<ProcState> {
    if !cfg!(target_os = "linux") || tid == 0 {
        return None;
    }
    let dir = format!("/proc/self/task/{tid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    let read = |f: &str| {
        std::fs::read_to_string(format!("{dir}/{f}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("({e})"))
    };
    Some(ProcState {
        state,
        wchan: read("wchan"),
        syscall: read("syscall"),
    })
}

/// Frames shown of a holder's current stack.
const STACK_NOW_FRAMES: usize = 12;

/// Whether a report shows `s`'s current stack: it holds a lock and does not
/// wait (a waiter of a lock gives its own stack; one in a [`crate::blocking`]
/// call is in a call a signal could interrupt with `EINTR`, and its site is
/// already in the report).
fn wants_stack_now(s: &Snap) -> bool {
    !s.held.is_empty() && s.wait.is_none()
}

/// `s`'s current stack: captured directly for the calling thread, by a
/// signal for another one (Linux).
fn stack_now(s: &Snap) -> StackNow {
    let tid = s.slot.tid;
    if tid != 0 && tid == os_tid() {
        return StackNow::Captured {
            frames: Backtrace::capture().user_frames(STACK_NOW_FRAMES),
            truncated: false,
        };
    }
    if !s.slot.alive.load(Ordering::Relaxed) {
        return StackNow::Unavailable("the thread has exited".into());
    }
    #[cfg(target_os = "linux")]
    {
        match remote_stack::capture(tid) {
            Ok(c) => StackNow::Captured {
                frames: crate::report::user_frames_of(&c.frames, STACK_NOW_FRAMES),
                truncated: c.truncated,
            },
            Err(why) => StackNow::Unavailable(why),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        StackNow::Unavailable("another thread's current stack is captured on Linux only".into())
    }
}

/// A thread of a report. `with_stack`: include a waiter's own stack;
/// `with_stack_now`: capture the current stack of a holder that does not
/// wait ([`wants_stack_now`]).
fn thread_info(s: &Snap, now: u64, with_stack: bool, with_stack_now: bool) -> ThreadInfo {
    let waiting = s.wait.map(|w| {
        let (lock, mode) = match w.target {
            Target::Lock {
                id,
                class,
                kind,
                mode,
            } => (LockRef::of(id, class, kind), Some(mode)),
            Target::Resource(what) => (
                LockRef {
                    kind: LockKind::Other,
                    id: 0,
                    name: Some(what),
                    created: None,
                    resource: true,
                },
                None,
            ),
        };
        let stack = if with_stack {
            let bt = s.slot.stack.lock().clone();
            match bt {
                Some((serial, bt)) if serial == w.serial => bt.user_frames(12),
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        WaitInfo {
            lock,
            request: mode
                .filter(|&m| m != WaitMode::Condvar)
                .map(WaitMode::request),
            mode,
            limit: w.limit,
            site: w.site.map(Site::from),
            waited: ago(w.since, now),
            stack,
        }
    });
    ThreadInfo {
        name: s.slot.name.clone(),
        tid: s.slot.tid,
        waiting,
        held: s
            .held
            .iter()
            .map(|h| HeldInfo {
                lock: LockRef::of(h.id, h.class, h.kind),
                hold: h.hold,
                upgradable: h.upgradable,
                site: h.site.map(Site::from),
                held_for: ago(h.since, TICK.load(Ordering::Relaxed).max(now)),
            })
            .collect(),
        now: proc_state(s.slot.tid),
        stack_now: (with_stack_now && wants_stack_now(s)).then(|| stack_now(s)),
    }
}

/// `exclusive`, `shared` or `upgradable read`.
fn hold_name(h: &HeldInfo) -> &'static str {
    match h.hold {
        Hold::Shared if h.upgradable => "upgradable read",
        Hold::Exclusive => "exclusive",
        Hold::Shared => "shared",
    }
}

fn opt_site(s: &Option<Site>) -> String {
    s.map_or_else(|| "an unknown site".to_string(), |s| s.to_string())
}

impl fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  thread `{}` (tid {})", self.name, self.tid)?;
        if let Some(w) = &self.waiting {
            writeln!(
                f,
                "    waits for {}{} for {:.3?}, requested at {}",
                w.what(),
                w.notes(),
                w.waited,
                opt_site(&w.site)
            )?;
        }
        if self.held.is_empty() {
            writeln!(f, "    holds no lock")?;
        } else {
            writeln!(f, "    holds:")?;
            for h in &self.held {
                writeln!(
                    f,
                    "      {} ({}), taken at {}, held ~{:.1?}",
                    h.lock,
                    hold_name(h),
                    opt_site(&h.site),
                    h.held_for
                )?;
            }
        }
        if let Some(p) = &self.now {
            writeln!(
                f,
                "    now: state {}, wchan {}, syscall {}",
                p.state, p.wchan, p.syscall
            )?;
        }
        match &self.stack_now {
            None => {}
            Some(StackNow::Captured { frames, truncated }) => {
                writeln!(f, "    now at (its current stack):")?;
                if frames.is_empty() {
                    writeln!(f, "      (no program frames could be resolved)")?;
                }
                for fr in frames {
                    writeln!(f, "      {fr}")?;
                }
                if *truncated {
                    writeln!(f, "      ... (outer frames cut)")?;
                }
            }
            Some(StackNow::Unavailable(why)) => writeln!(
                f,
                "    now at: current stack not captured ({why}){}",
                if self.now.is_some() {
                    "; showing the /proc state (`now:`) only"
                } else {
                    ""
                }
            )?,
        }
        if let Some(w) = &self.waiting {
            if !w.stack.is_empty() {
                writeln!(f, "    its stack while waiting:")?;
                for fr in &w.stack {
                    writeln!(f, "      {fr}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for WatchdogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            WatchdogKind::Deadlock => writeln!(
                f,
                "lockgraph watchdog: DEADLOCK: {} threads wait for each other (pid {})",
                self.threads.len(),
                self.pid
            )?,
            WatchdogKind::LongWait => {
                let w = self.threads.first().and_then(|t| t.waiting.as_ref());
                writeln!(
                    f,
                    "lockgraph watchdog: LONG WAIT: thread `{}` has waited {:.3?} for {} (pid {})",
                    self.threads.first().map_or("?", |t| t.name.as_str()),
                    w.map_or(Duration::ZERO, |w| w.waited),
                    w.map_or_else(|| "?".to_string(), WaitInfo::what),
                    self.pid
                )?;
            }
        }
        if let Some(c) = &self.cycle {
            writeln!(f, "  cycle: {c}")?;
        }
        if let Some(o) = &self.order {
            o.fmt(f)?;
        }
        for t in &self.threads {
            t.fmt(f)?;
        }
        writeln!(f, "-- end of lockgraph watchdog report --")
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lockgraph dump (pid {}): {} threads",
            std::process::id(),
            self.threads.len()
        )?;
        if !self.watching {
            writeln!(
                f,
                "  (the watchdog is off: threads publish their locks only while it is on)"
            )?;
        }
        for t in &self.threads {
            t.fmt(f)?;
        }
        writeln!(f, "-- end of lockgraph dump --")
    }
}

fn json_opt(s: &mut String, v: Option<&str>) {
    match v {
        Some(v) => crate::record::json_str(s, v),
        None => s.push_str("null"),
    }
}

fn json_lock(s: &mut String, l: &LockRef) {
    s.push_str("{\"label\":");
    crate::record::json_str(s, &l.to_string());
    let _ = write!(
        s,
        ",\"kind\":\"{}\",\"id\":{},\"name\":",
        l.kind.name(),
        l.id
    );
    json_opt(s, l.name);
    s.push_str(",\"created\":");
    json_opt(s, l.created.map(|c| c.to_string()).as_deref());
    let _ = write!(s, ",\"resource\":{}}}", l.resource);
}

fn json_thread(s: &mut String, t: &ThreadInfo) {
    s.push_str("{\"name\":");
    crate::record::json_str(s, &t.name);
    let _ = write!(s, ",\"tid\":{},\"waiting\":", t.tid);
    match &t.waiting {
        None => s.push_str("null"),
        Some(w) => {
            s.push_str("{\"lock\":");
            json_lock(s, &w.lock);
            s.push_str(",\"request\":");
            json_opt(s, w.mode.map(WaitMode::name));
            s.push_str(",\"limit_ms\":");
            match w.limit {
                Some(l) => {
                    let _ = write!(s, "{}", l.as_millis());
                }
                None => s.push_str("null"),
            }
            s.push_str(",\"site\":");
            json_opt(s, w.site.map(|c| c.to_string()).as_deref());
            let _ = write!(s, ",\"waited_ms\":{},\"stack\":[", w.waited.as_millis());
            for (i, fr) in w.stack.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                crate::record::json_str(s, fr);
            }
            s.push_str("]}");
        }
    }
    s.push_str(",\"held\":[");
    for (i, h) in t.held.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"lock\":");
        json_lock(s, &h.lock);
        let _ = write!(s, ",\"hold\":\"{}\",\"site\":", hold_name(h));
        json_opt(s, h.site.map(|c| c.to_string()).as_deref());
        let _ = write!(s, ",\"held_ms\":{}}}", h.held_for.as_millis());
    }
    s.push_str("],\"now\":");
    match &t.now {
        None => s.push_str("null"),
        Some(p) => {
            s.push_str("{\"state\":");
            crate::record::json_str(s, &p.state);
            s.push_str(",\"wchan\":");
            crate::record::json_str(s, &p.wchan);
            s.push_str(",\"syscall\":");
            crate::record::json_str(s, &p.syscall);
            s.push('}');
        }
    }
    s.push_str(",\"stack_now\":");
    match &t.stack_now {
        None => s.push_str("null"),
        Some(StackNow::Captured { frames, truncated }) => {
            s.push_str("{\"source\":\"stack\",\"frames\":[");
            for (i, fr) in frames.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                crate::record::json_str(s, fr);
            }
            let _ = write!(s, "],\"truncated\":{truncated}}}");
        }
        Some(StackNow::Unavailable(why)) => {
            s.push_str("{\"source\":\"proc\",\"reason\":");
            crate::record::json_str(s, why);
            s.push('}');
        }
    }
    s.push('}');
}

impl WatchdogReport {
    /// The report as one JSON object (the format of the files in the dump dir).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"lockgraph_watchdog\":1,\"kind\":");
        crate::record::json_str(
            &mut s,
            match self.kind {
                WatchdogKind::Deadlock => "deadlock",
                WatchdogKind::LongWait => "long_wait",
            },
        );
        let _ = write!(s, ",\"pid\":{},\"cycle\":", self.pid);
        json_opt(&mut s, self.cycle.as_deref());
        s.push_str(",\"threads\":[");
        for (i, t) in self.threads.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_thread(&mut s, t);
        }
        s.push_str("],\"order\":");
        match &self.order {
            None => s.push_str("null"),
            Some(o) => {
                let _ = write!(
                    s,
                    "{{\"graph_on\":{},\"reported\":{},\"edges\":[",
                    o.graph_on, o.reported
                );
                for (i, st) in o.steps.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str("{\"from\":");
                    json_lock(&mut s, &st.from);
                    s.push_str(",\"to\":");
                    json_lock(&mut s, &st.to);
                    s.push_str(",\"first\":");
                    match &st.first {
                        None => s.push_str("null"),
                        Some(o) => {
                            s.push_str("{\"thread\":");
                            crate::record::json_str(&mut s, &o.thread);
                            s.push_str(",\"held_at\":");
                            json_opt(&mut s, o.held_at.map(|x| x.to_string()).as_deref());
                            s.push_str(",\"requested_at\":");
                            json_opt(&mut s, o.requested_at.map(|x| x.to_string()).as_deref());
                            s.push_str(",\"stack\":[");
                            for (k, fr) in o.stack.iter().enumerate() {
                                if k > 0 {
                                    s.push(',');
                                }
                                crate::record::json_str(&mut s, fr);
                            }
                            s.push_str("]}");
                        }
                    }
                    s.push('}');
                }
                s.push_str("]}");
            }
        }
        s.push_str(",\"text\":");
        crate::record::json_str(&mut s, &self.to_string());
        s.push_str("}\n");
        s
    }
}

/// How many scans a report waits for its waiters to capture their own stacks
/// before it goes out without them.
const STACK_GRACE_SCANS: u32 = 10;

/// Every thread's held locks and waits, like `jstack` for lockgraph's locks.
/// Threads publish their state only while the watchdog is on. Each thread
/// that holds a lock without waiting also gets its current stack
/// ([`ThreadInfo::stack_now`]): on Linux that signals it (one at a time, up
/// to 200 ms each), so do not call this in a tight loop.
pub fn dump() -> Dump {
    let now = now_ns();
    Dump {
        watching: ON.load(Ordering::Relaxed) == 2,
        threads: snapshot()
            .iter()
            .filter(|s| !s.held.is_empty() || s.wait.is_some())
            .map(|s| thread_info(s, now, false, true))
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// The watchdog thread.

struct Watchdog {
    config: Config,
    /// Cycles (as (thread key, wait serial) lists) seen in the last scan.
    last_cycles: HashSet<Vec<(u64, u64)>>,
    reported_cycles: HashSet<Vec<(u64, u64)>>,
    /// Stable cycles held back while their waiters capture their stacks,
    /// with the number of scans they were held back.
    deferred: HashMap<Vec<(u64, u64)>, u32>,
    /// Waits (thread key, serial) already reported, or part of a reported deadlock.
    reported_waits: HashSet<(u64, u64)>,
    written: u64,
}

impl Watchdog {
    fn new(config: Config) -> Watchdog {
        Watchdog {
            config,
            last_cycles: HashSet::new(),
            reported_cycles: HashSet::new(),
            deferred: HashMap::new(),
            reported_waits: HashSet::new(),
            written: 0,
        }
    }

    fn run(mut self) {
        let mut said = false;
        loop {
            std::thread::sleep(self.config.scan_period);
            TICK.store(now_ns(), Ordering::Relaxed);
            if DUMP_REQUESTED.swap(false, Ordering::Relaxed) {
                crate::stderr::write(&dump().to_string());
            }
            // A bug in a scan must not end the watching: say it once, and
            // scan again.
            let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.scan()));
            if let Err(p) = scanned {
                if !said {
                    said = true;
                    let why = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    crate::stderr::line(&format!(
                        "lockgraph watchdog: a scan failed ({why}); the watchdog keeps scanning"
                    ));
                }
            }
        }
    }

    fn scan(&mut self) {
        if let Some(text) = RATE.lock().roll(Instant::now()) {
            crate::delivery::send_to(crate::delivery::Notice::warn(text), dispatch());
        }
        let snaps = snapshot();
        let now = now_ns();
        let edges = wait_for_edges(&snaps);
        let key_of = |i: usize| (snaps[i].slot.key, snaps[i].wait.map_or(0, |w| w.serial));
        let mut cycles_now = HashSet::new();
        for mut cycle in find_cycles(&edges) {
            // Start at the smallest thread name, so that output is stable.
            let first = (0..cycle.len())
                .min_by_key(|&k| (&snaps[cycle[k]].slot.name, snaps[cycle[k]].slot.key))
                .unwrap_or(0);
            cycle.rotate_left(first);
            let key: Vec<(u64, u64)> = cycle.iter().map(|&i| key_of(i)).collect();
            // Ask the waiters for their own stacks before the next scan.
            for &i in &cycle {
                if let Some(w) = snaps[i].wait {
                    snaps[i].slot.want_stack.store(w.serial, Ordering::Relaxed);
                }
            }
            let stacks_missing = cycle.iter().any(|&i| {
                let serial = snaps[i].wait.map_or(0, |w| w.serial);
                !matches!(&*snaps[i].slot.stack.lock(), Some((s, _)) if *s == serial)
            });
            if stacks_missing && self.last_cycles.contains(&key) {
                // Stable, but a waiter has not captured its stack yet (a loaded
                // machine can delay its wake-up): a few more scans at most.
                let held = self.deferred.entry(key.clone()).or_insert(0);
                *held += 1;
                if *held <= STACK_GRACE_SCANS {
                    cycles_now.insert(key);
                    continue;
                }
            }
            if self.last_cycles.contains(&key) && !self.reported_cycles.contains(&key) {
                // A deadlock report always goes out (no rate limit).
                self.reported_cycles.insert(key.clone());
                self.reported_waits.extend(key.iter().copied());
                let report = self.deadlock_report(&snaps, &cycle, now);
                self.emit(report);
            }
            cycles_now.insert(key);
        }
        self.last_cycles = cycles_now;

        let timeout = self.config.timeout.as_nanos() as u64;
        let grace = u64::from(STACK_GRACE_SCANS) * self.config.scan_period.as_nanos() as u64;
        let mut live = HashSet::new();
        for (i, s) in snaps.iter().enumerate() {
            let Some(w) = s.wait else { continue };
            let key = key_of(i);
            live.insert(key);
            let waited = now.saturating_sub(w.since);
            if waited <= timeout || self.reported_waits.contains(&key) {
                continue;
            }
            let has_stack = s
                .slot
                .stack
                .lock()
                .as_ref()
                .is_some_and(|(serial, _)| *serial == w.serial);
            // Lock waits block in slices and capture their stacks between
            // them; condvar waits and blocking calls do not.
            let sliced = matches!(w.target, Target::Lock { mode, .. } if mode != WaitMode::Condvar);
            if sliced && !has_stack && waited <= timeout + grace {
                // Give the waiter a slice to capture its own stack.
                continue;
            }
            self.reported_waits.insert(key);
            // The rate limit, before anything is signalled for the report.
            let lock = match w.target {
                Target::Lock {
                    id, class, kind, ..
                } => LockRef::of(id, class, kind).to_string(),
                Target::Resource(what) => format!("`{what}`"),
            };
            if !RATE.lock().admit(Instant::now(), &lock) {
                continue;
            }
            let mut threads = vec![thread_info(s, now, true, true)];
            for &j in &edges[i] {
                if j != i {
                    threads.push(thread_info(&snaps[j], now, true, true));
                }
            }
            self.emit(WatchdogReport {
                kind: WatchdogKind::LongWait,
                cycle: None,
                threads,
                pid: std::process::id(),
                order: None,
            });
        }
        // Forget waits that ended, and cycles made of them.
        self.reported_waits.retain(|k| live.contains(k));
        self.reported_cycles
            .retain(|c| c.iter().all(|k| live.contains(k)));
        self.deferred
            .retain(|c, _| c.iter().all(|k| live.contains(k)));
    }

    fn deadlock_report(&self, snaps: &[Snap], cycle: &[usize], now: u64) -> WatchdogReport {
        let mut text = String::new();
        for &i in cycle {
            let _ = write!(text, "thread `{}` -> ", snaps[i].slot.name);
            if let Some(WaitView {
                target:
                    Target::Lock {
                        id,
                        class,
                        kind,
                        mode,
                    },
                ..
            }) = snaps[i].wait
            {
                let upgrade = if mode == WaitMode::Upgrade {
                    "upgrade of "
                } else {
                    ""
                };
                let _ = write!(text, "{upgrade}{} -> ", LockRef::of(id, class, kind));
            }
        }
        let _ = write!(text, "thread `{}`", snaps[cycle[0]].slot.name);
        // The locks waited for, in cycle order: the thread after each waiter
        // holds the lock that waiter wants and asks for the next one, so the
        // lock-order graph has "lock k -> lock k+1" if it saw it.
        let locks: Option<Vec<(u64, Class, LockKind)>> = cycle
            .iter()
            .map(|&i| match snaps[i].wait {
                Some(WaitView {
                    target:
                        Target::Lock {
                            id, class, kind, ..
                        },
                    ..
                }) => Some((id, class, kind)),
                _ => None,
            })
            .collect();
        let order = locks.filter(|l| l.len() >= 2).map(|l| OrderContext::of(&l));
        WatchdogReport {
            order,
            kind: WatchdogKind::Deadlock,
            cycle: Some(text),
            threads: cycle
                .iter()
                .map(|&i| thread_info(&snaps[i], now, true, true))
                .collect(),
            pid: std::process::id(),
        }
    }

    /// Writes the report to the dump directory, and delivers it (or aborts).
    fn emit(&mut self, report: WatchdogReport) {
        if let Some(dir) = &self.config.dump_dir {
            self.written += 1;
            let pid = std::process::id();
            let path = dir.join(format!("lockgraph-watchdog-{pid}-{}.json", self.written));
            let tmp = dir.join(format!(".lockgraph-watchdog-{pid}-{}.tmp", self.written));
            let r = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&tmp, report.to_json()))
                .and_then(|()| std::fs::rename(&tmp, &path));
            if let Err(e) = r {
                crate::stderr::line(&format!("lockgraph: cannot write {}: {e}", path.display()));
            }
        }
        match self.config.action {
            Action::Abort => crate::delivery::abort(&report, "watchdog action abort"),
            Action::Report => crate::delivery::send_to(report, dispatch()),
        }
    }
}

impl crate::delivery::Deliver for WatchdogReport {
    fn event(&self, text: &str) -> bool {
        crate::delivery::event!(tracing::Level::WARN, kind = ?self.kind, "{text}")
    }
}

/// For tests: a snapshot's wait-for cycles as lists of thread names.
#[cfg(test)]
fn cycles_by_name() -> Vec<Vec<String>> {
    let snaps = snapshot();
    find_cycles(&wait_for_edges(&snaps))
        .into_iter()
        .map(|c| c.into_iter().map(|i| snaps[i].slot.name.clone()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_errors_name_the_value() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("750ms"), Ok(Duration::from_millis(750)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration(" 100us "), Ok(Duration::from_micros(100)));
        for bad in ["", "5", "s", "5 parsecs", "-1s", "1..2s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    fn sorted(mut v: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
        v.sort();
        v
    }

    #[test]
    fn the_cycle_finder_finds_two_and_three_thread_cycles_and_self_waits() {
        assert_eq!(find_cycles(&[vec![1], vec![0]]), vec![vec![0, 1]]);
        assert_eq!(
            find_cycles(&[vec![2], vec![0], vec![1], vec![]]),
            vec![vec![0, 2, 1]]
        );
        assert_eq!(find_cycles(&[vec![0]]), vec![vec![0]]);
        // A chain that ends is no cycle.
        assert!(find_cycles(&[vec![1], vec![2], vec![]]).is_empty());
        // Two separate cycles, and a thread waiting on one of them.
        assert_eq!(
            sorted(find_cycles(&[vec![1], vec![0], vec![3], vec![2], vec![0]])),
            vec![vec![0, 1], vec![2, 3]]
        );
        // Shared holders: several out-edges, one closes the cycle.
        assert_eq!(
            find_cycles(&[vec![1, 2], vec![], vec![0]]),
            vec![vec![0, 2]]
        );
    }

    /// How a unit snapshot holds a lock: exclusive, shared (a read), or an
    /// upgradable read.
    #[derive(Clone, Copy)]
    enum H {
        Ex,
        Sh,
        Up,
    }

    /// A thread's state as a snapshot shows it: held (lock id, hold) and
    /// the wait (lock id, mode).
    fn snap(held: &[(u64, H)], wait: Option<(u64, WaitMode)>) -> Snap {
        Snap {
            slot: Arc::new(Slot::new("wd-unit-snap", 0)),
            held: held
                .iter()
                .map(|&(id, h)| HeldView {
                    id,
                    class: Class::Anonymous,
                    kind: LockKind::RwLock,
                    hold: match h {
                        H::Ex => Hold::Exclusive,
                        H::Sh | H::Up => Hold::Shared,
                    },
                    upgradable: matches!(h, H::Up),
                    site: None,
                    since: 0,
                })
                .collect(),
            wait: wait.map(|(id, mode)| WaitView {
                serial: 1,
                target: Target::Lock {
                    id,
                    class: Class::Anonymous,
                    kind: if mode == WaitMode::Condvar {
                        LockKind::Condvar
                    } else {
                        LockKind::RwLock
                    },
                    mode,
                },
                site: None,
                since: 0,
                limit: None,
            }),
        }
    }

    #[test]
    fn upgrades_writes_reads_and_condvar_waits_point_to_the_right_threads() {
        use H::{Ex, Sh, Up};
        const R: u64 = 1;
        const M: u64 = 2;
        const CV: u64 = 3;
        // 0 upgrades R (holding it upgradable and M); 1 reads R and waits
        // for M; 2 reads R; 3 waits on a condvar holding R shared.
        let snaps = [
            snap(&[(M, Ex), (R, Up)], Some((R, WaitMode::Upgrade))),
            snap(&[(R, Sh)], Some((M, WaitMode::Lock))),
            snap(&[(R, Sh)], None),
            snap(&[(R, Sh)], Some((CV, WaitMode::Condvar))),
        ];
        let edges = wait_for_edges(&snaps);
        // The upgrade waits for every other reader, not for itself.
        assert_eq!(edges[0], vec![1, 2, 3]);
        assert_eq!(edges[1], vec![0]);
        // A condvar has no holder.
        assert!(edges[3].is_empty());
        assert_eq!(find_cycles(&edges), vec![vec![0, 1]]);

        // A read of a read-held lock waits behind a write (it keeps new
        // readers out), not behind the readers, nor behind a waiting
        // upgradable read (which does not keep readers out).
        let behind = |mode| {
            let snaps = [
                snap(&[(R, Sh)], None),
                snap(&[], Some((R, mode))),
                snap(&[], Some((R, WaitMode::Read))),
            ];
            wait_for_edges(&snaps)[2].clone()
        };
        assert_eq!(behind(WaitMode::Write), vec![1]);
        assert!(behind(WaitMode::UpgradableRead).is_empty());
        // A write after a read on one thread waits for itself.
        let snaps = [snap(&[(R, Sh)], Some((R, WaitMode::Write)))];
        assert_eq!(find_cycles(&wait_for_edges(&snaps)), vec![vec![0]]);
        // So does an upgrade by a thread that also holds a plain read.
        let snaps = [snap(&[(R, Sh), (R, Up)], Some((R, WaitMode::Upgrade)))];
        assert_eq!(find_cycles(&wait_for_edges(&snaps)), vec![vec![0]]);
    }

    #[test]
    fn upgradable_holds_keep_out_upgradable_reads_writes_and_upgrades_not_reads() {
        use H::{Ex, Sh, Up};
        const R: u64 = 1;
        const M: u64 = 2;
        let edges_of = |snaps: &[Snap], i: usize| wait_for_edges(snaps)[i].clone();

        // An upgradable read waits for the upgradable and exclusive holders,
        // not for the readers.
        let waiter = || snap(&[], Some((R, WaitMode::UpgradableRead)));
        let readers_and_up = [snap(&[(R, Sh)], None), snap(&[(R, Up)], None), waiter()];
        assert_eq!(edges_of(&readers_and_up, 2), vec![1]);
        let readers_only = [snap(&[(R, Sh)], None), snap(&[(R, Sh)], None), waiter()];
        assert!(edges_of(&readers_only, 2).is_empty());
        let writer = [snap(&[(R, Ex)], None), waiter()];
        assert_eq!(edges_of(&writer, 1), vec![0]);

        // A write waits for every holder, an upgrade for every other one.
        let w = [
            snap(&[(R, Sh)], None),
            snap(&[(R, Up)], None),
            snap(&[], Some((R, WaitMode::Write))),
        ];
        assert_eq!(edges_of(&w, 2), vec![0, 1]);
        let up = [
            snap(&[(R, Up)], Some((R, WaitMode::Upgrade))),
            snap(&[(R, Sh)], None),
        ];
        assert_eq!(edges_of(&up, 0), vec![1]);

        // A read or a recursive read waits for exclusive holders only.
        for mode in [WaitMode::Read, WaitMode::RecursiveRead] {
            let r = [snap(&[(R, Up)], None), snap(&[], Some((R, mode)))];
            assert!(edges_of(&r, 1).is_empty(), "{mode:?}");
            let r = [snap(&[(R, Ex)], None), snap(&[], Some((R, mode)))];
            assert_eq!(edges_of(&r, 1), vec![0], "{mode:?}");
        }

        // A write that waits for readers only keeps new reads and
        // upgradable reads out; one kept out by an upgradable holder does not.
        let queued = [
            snap(&[(R, Sh)], None),
            snap(&[], Some((R, WaitMode::Write))),
            snap(&[], Some((R, WaitMode::UpgradableRead))),
            snap(&[], Some((R, WaitMode::Read))),
        ];
        assert_eq!(edges_of(&queued, 2), vec![1]);
        assert_eq!(edges_of(&queued, 3), vec![1]);
        let behind_up = [
            snap(&[(R, Up)], None),
            snap(&[], Some((R, WaitMode::Write))),
            snap(&[], Some((R, WaitMode::UpgradableRead))),
            snap(&[], Some((R, WaitMode::Read))),
        ];
        assert_eq!(edges_of(&behind_up, 1), vec![0]);
        assert_eq!(edges_of(&behind_up, 2), vec![0]);
        assert!(edges_of(&behind_up, 3).is_empty());

        // Asking again for an upgradable read while holding one (or the
        // write) waits for itself; while holding a plain read it does not.
        for (held, cycles) in [(Up, vec![vec![0]]), (Ex, vec![vec![0]]), (Sh, vec![])] {
            let s = [snap(&[(R, held)], Some((R, WaitMode::UpgradableRead)))];
            assert_eq!(find_cycles(&wait_for_edges(&s)), cycles);
        }

        // 0 reads R and waits for M; 1 holds M and waits for an upgradable
        // read of R, which 2 holds. 1 waits for 2, 0 for 1: no cycle (the
        // read-held R drawn as keeping 1 out made one).
        let chain = [
            snap(&[(R, Sh)], Some((M, WaitMode::Lock))),
            snap(&[(M, Ex)], Some((R, WaitMode::UpgradableRead))),
            snap(&[(R, Up)], None),
        ];
        let edges = wait_for_edges(&chain);
        assert_eq!(edges, vec![vec![1], vec![2], vec![]]);
        assert!(find_cycles(&edges).is_empty());
        // The same with the upgradable holder waiting for M: a cycle.
        let cycle = [
            snap(&[(R, Sh)], None),
            snap(&[(M, Ex)], Some((R, WaitMode::UpgradableRead))),
            snap(&[(R, Up)], Some((M, WaitMode::Lock))),
        ];
        assert_eq!(find_cycles(&wait_for_edges(&cycle)), vec![vec![1, 2]]);
    }

    #[test]
    fn published_holds_and_waits_form_the_wait_for_graph() {
        static A: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("wd-unit-a"));
        static B: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("wd-unit-b"));
        let (a, b) = (A.id(), B.id());
        let hold = |id: u64, name: &'static str| {
            let slot = this_thread_slot();
            // SAFETY: this thread's slot, alive while the thread runs.
            let slot = unsafe { &*slot };
            publish_push(slot, 0, id, Hold::Exclusive as u8, None, 0, || Published {
                id,
                class: Class::Named(name),
                kind: LockKind::Mutex,
                hold: Hold::Exclusive,
                upgradable: false,
                site: None,
                since: 0,
            })
        };
        let wait = |id: u64, name: &'static str| {
            let (class_tag, class_a, class_b) = encode_class(Class::Named(name));
            register(
                WAIT_LOCK,
                RawEntry {
                    id,
                    class_tag,
                    class_a,
                    class_b,
                    kind: 0,
                    mode: WaitMode::Lock as u8,
                    site: 0,
                    since: 0,
                },
                None,
            )
        };
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let done = Arc::new(std::sync::Barrier::new(3));
        let spawn = |name: &str, held: (u64, &'static str), wanted: (u64, &'static str)| {
            let (barrier, done) = (Arc::clone(&barrier), Arc::clone(&done));
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    hold(held.0, held.1);
                    let g = wait(wanted.0, wanted.1);
                    barrier.wait();
                    done.wait();
                    drop(g);
                    // SAFETY: this thread's slot, alive while the thread runs.
                    publish_len(unsafe { &*this_thread_slot() }, 0);
                })
                .unwrap()
        };
        let t1 = spawn("wd-unit-t1", (a, "wd-unit-a"), (b, "wd-unit-b"));
        let t2 = spawn("wd-unit-t2", (b, "wd-unit-b"), (a, "wd-unit-a"));
        barrier.wait();
        let cycles: Vec<Vec<String>> = cycles_by_name()
            .into_iter()
            .filter(|c| c.iter().any(|n| n.starts_with("wd-unit")))
            .collect();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        let mut names = cycles[0].clone();
        names.sort();
        assert_eq!(names, ["wd-unit-t1", "wd-unit-t2"]);
        let d = dump();
        let text = d.to_string();
        assert!(text.contains("waits for Mutex `wd-unit-b`"), "{text}");
        assert!(text.contains("Mutex `wd-unit-a` (exclusive)"), "{text}");
        done.wait();
        t1.join().unwrap();
        t2.join().unwrap();
        assert!(cycles_by_name()
            .iter()
            .all(|c| c.iter().all(|n| !n.starts_with("wd-unit"))));
    }
}
