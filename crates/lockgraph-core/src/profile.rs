//! Contention profile: which lock classes are hot, and what to do about it.
//!
//! Off by default; `LOCKGRAPH_PROFILE=1` or [`enable`] turns it on. Per lock
//! class it counts acquisitions and contended acquisitions, sums and maxes the
//! time spent waiting (measured only when the first, non-blocking attempt
//! failed, so an uncontended acquisition reads no clock), samples hold times
//! (one acquisition in [`HOLD_SAMPLE`] per thread), splits reads from writes,
//! counts the threads that waited, and the blocking calls made while the lock
//! was held ([`crate::blocking`]).
//!
//! Each thread writes its own counters (no shared cache line is written on the
//! lock path); [`report`] adds them up.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::class::{Class, LockKind};
use crate::features::{self, PROFILE};
use crate::meta::LockMeta;
use crate::table::{cut, padded};

/// One acquisition in this many (per thread) has its hold time measured.
pub const HOLD_SAMPLE: u64 = 8;

/// Whether profiling is on (`LOCKGRAPH_PROFILE`, or [`enable`]).
#[inline]
pub fn on() -> bool {
    features::is_on(PROFILE)
}

/// Turns profiling on for the rest of the process.
///
/// With `LOCKGRAPH_RECORD=<dir>` set, the profile is also written to
/// `<dir>/lockgraph-profile-<pid>.json` when the process exits normally (and
/// by [`write_to_record_dir`]), for `lockgraph profile <dir>`.
pub fn enable() {
    features::set(PROFILE, true);
    write_at_exit();
}

/// The profile format version written by [`write_to_record_dir`].
pub const PROFILE_VERSION: u32 = 1;

/// Writes this process's profile beside its lock-order records
/// (`<LOCKGRAPH_RECORD>/lockgraph-profile-<pid>.json`, replaced atomically).
/// Returns the path, or `None` when recording is off or the write failed
/// (which is said on stderr).
pub fn write_to_record_dir() -> Option<std::path::PathBuf> {
    let dir = crate::record::record_dir()?;
    let pid = std::process::id();
    let path = dir.join(format!("lockgraph-profile-{pid}.json"));
    let tmp = dir.join(format!(".lockgraph-profile-{pid}.json.tmp"));
    let text = profile_json(pid);
    match std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
        Ok(()) => Some(path),
        Err(e) => {
            crate::stderr::line(&format!(
                "lockgraph: cannot write the profile to {}: {e}",
                path.display()
            ));
            None
        }
    }
}

fn opt_str(s: &mut String, v: &Option<String>) {
    match v {
        Some(v) => crate::record::json_str(s, v),
        None => s.push_str("null"),
    }
}

fn profile_json(pid: u32) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"lockgraph_profile\":{PROFILE_VERSION},\"pid\":{pid},\"exe\":"
    );
    crate::record::json_str(&mut s, &crate::record::exe());
    s.push_str(",\"classes\":[");
    for (i, c) in counters().iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"class\":");
        crate::record::json_str(&mut s, &c.class);
        s.push_str(",\"name\":");
        opt_str(&mut s, &c.name);
        s.push_str(",\"kind\":");
        crate::record::json_str(&mut s, &c.kind);
        s.push_str(",\"site\":");
        opt_str(&mut s, &c.site);
        let _ = write!(
            s,
            ",\"acquisitions\":{},\"contended\":{},\"wait_ns\":{},\"max_wait_ns\":{},\
             \"reads\":{},\"hold_samples\":{},\"hold_ns\":{},\"max_hold_ns\":{},\
             \"waiting_threads\":{},\"blocking_calls\":{},\"blocking_ns\":{},\"blocking_what\":",
            c.acquisitions,
            c.contended,
            c.wait_ns,
            c.max_wait_ns,
            c.reads,
            c.hold_samples,
            c.hold_ns,
            c.max_hold_ns,
            c.waiting_threads,
            c.blocking_calls,
            c.blocking_ns
        );
        opt_str(&mut s, &c.blocking_what);
        s.push('}');
    }
    s.push_str("]}\n");
    s
}

/// Registers (once) a process-exit hook that writes the profile beside the
/// records, when `LOCKGRAPH_RECORD` is set.
fn write_at_exit() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    if !crate::env::RECORD.is_set() {
        return;
    }
    REGISTERED.call_once(|| {
        extern "C" fn at_exit() {
            // Never unwind into the C runtime.
            let _ = std::panic::catch_unwind(write_to_record_dir);
        }
        extern "C" {
            fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
        }
        // SAFETY: `atexit` is the C library's; `at_exit` is a plain
        // `extern "C"` function without arguments that never unwinds.
        let _ = unsafe { atexit(at_exit) };
    });
}

/// Turns profiling off (counters gathered so far are kept).
pub fn disable() {
    features::set(PROFILE, false);
}

/// How a lock was taken, for the read/write split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// A shared (read or upgradable) acquisition.
    Read,
    /// An exclusive acquisition (mutex, write).
    Write,
}

/// One thread's counters for one class. Only that thread writes them.
#[derive(Default)]
struct Stats {
    acquisitions: AtomicU64,
    contended: AtomicU64,
    wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
    reads: AtomicU64,
    hold_samples: AtomicU64,
    hold_ns: AtomicU64,
    max_hold_ns: AtomicU64,
    blocking_calls: AtomicU64,
    blocking_ns: AtomicU64,
    /// What the last blocking call under this class was.
    blocking_what: What,
}

/// A `&'static str` written by one thread and read by any, as (address,
/// length) under a sequence count (odd while it is written): no lock, so
/// none can be left held across `fork()`.
#[derive(Default)]
struct What {
    seq: AtomicU64,
    ptr: AtomicUsize,
    len: AtomicUsize,
}

impl What {
    /// Stores `what` (its owner thread only).
    fn set(&self, what: &'static str) {
        self.store(what.as_ptr() as usize, what.len());
    }

    /// Forgets the string stored (no other thread may [`set`](Self::set)
    /// it meanwhile): [`get`](Self::get) says `None`.
    fn clear(&self) {
        self.store(0, 0);
    }

    fn store(&self, ptr: usize, len: usize) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.ptr.store(ptr, Ordering::Relaxed);
        self.len.store(len, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// The last string stored, if any.
    fn get(&self) -> Option<&'static str> {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let (ptr, len) = (
                    self.ptr.load(Ordering::Relaxed),
                    self.len.load(Ordering::Relaxed),
                );
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == s1 {
                    if ptr == 0 {
                        return None;
                    }
                    // SAFETY: read under an unchanged even sequence count:
                    // the address and length of one `&'static str` stored
                    // by `set`.
                    return Some(unsafe {
                        std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                            ptr as *const u8,
                            len,
                        ))
                    });
                }
            }
            std::thread::yield_now();
        }
    }
}

impl Stats {
    /// Every counter back to zero, and no last blocking call (in a forked
    /// child, where no other thread writes them).
    fn reset(&self) {
        self.blocking_what.clear();
        for c in [
            &self.acquisitions,
            &self.contended,
            &self.wait_ns,
            &self.max_wait_ns,
            &self.reads,
            &self.hold_samples,
            &self.hold_ns,
            &self.max_hold_ns,
            &self.blocking_calls,
            &self.blocking_ns,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Adds to a counter only this thread writes (no read-modify-write needed).
fn bump(c: &AtomicU64, by: u64) {
    c.store(
        c.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

fn raise(c: &AtomicU64, to: u64) {
    if to > c.load(Ordering::Relaxed) {
        c.store(to, Ordering::Relaxed);
    }
}

struct Entry {
    key: (Class, LockKind),
    /// The lock's id for an anonymous class (a class of its own per
    /// lock), else 0.
    instance: u64,
    /// The threads' key of these counters ([`stats_key`]).
    skey: u64,
    stats: Arc<Stats>,
    /// `Some(n)`: the counters of the class's threads that have exited, `n`
    /// of which waited ([`retire`]); `None`: one live thread's.
    retired: Option<u64>,
}

/// Every thread's counters, for [`report`].
static ALL: LazyLock<crate::fork::Mutex<Vec<Entry>>> = LazyLock::new(|| {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &FORK_HOOKS);
    crate::fork::Mutex::new(Vec::new())
});

/// [`ALL`] across `fork()` (see `fork.rs`).
static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(ALL.lock()),
    child: fork_child,
};

/// In a forked child: the counters start from zero. The child writes a
/// profile of its own (`lockgraph-profile-<its pid>.json`, at its exit:
/// it inherits the exit hook), and `lockgraph profile` adds the files up,
/// so the parent's counts until the fork, which the parent's profile has,
/// must not be in the child's too. The other threads' counters (those
/// threads are not in the child) are no longer listed. Nothing is
/// allocated: the counters are zeroed in place, the list only shrinks, and
/// the forking thread's map is read only if it has one ([`HAS_MINE`]: a
/// first use of [`MINE`] would make it and register its destructor). An
/// entry dropped is one reference less to counters that the other
/// thread's map, copied into the child, keeps, or frees them when that
/// thread had exited before the fork (a `free`, which glibc's allocator
/// allows in a forked child).
fn fork_child() {
    let mut all = ALL.lock();
    if HAS_MINE.get() {
        let _ = MINE.try_with(|mine| {
            if let Ok(mine) = mine.try_borrow() {
                all.retain(|e| mine.values().any(|s| Arc::ptr_eq(s, &e.stats)));
            }
        });
    } else {
        all.clear();
    }
    for e in all.iter() {
        e.stats.reset();
    }
}

/// One thread's counters by [`stats_key`]; at the thread's exit they are
/// added to its classes' retired counters ([`retire`]).
struct Mine(RefCell<HashMap<u64, Arc<Stats>>>);

impl std::ops::Deref for Mine {
    type Target = RefCell<HashMap<u64, Arc<Stats>>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Mine {
    fn drop(&mut self) {
        retire(self.0.get_mut());
    }
}

/// A thread's counters leave [`ALL`] as it exits: each is added to its
/// class's retired counters (one entry per class and kind, however many
/// threads ended), so that a program whose threads come and go keeps one
/// entry per class, not one per thread that ever took a lock of it.
fn retire(mine: &HashMap<u64, Arc<Stats>>) {
    if mine.is_empty() {
        return;
    }
    let mut all = ALL.lock();
    for stats in mine.values() {
        let Some(i) = all
            .iter()
            .position(|e| e.retired.is_none() && Arc::ptr_eq(&e.stats, stats))
        else {
            continue;
        };
        let e = all.swap_remove(i);
        let waited = u64::from(e.stats.contended.load(Ordering::Relaxed) > 0);
        match all
            .iter_mut()
            .find(|r| r.retired.is_some() && r.skey == e.skey && r.instance == e.instance)
        {
            Some(r) => {
                r.stats.absorb(&e.stats);
                r.retired = r.retired.map(|n| n + waited);
            }
            None => all.push(Entry {
                retired: Some(waited),
                ..e
            }),
        }
    }
}

impl Stats {
    /// Adds `other`'s counts to these (under [`ALL`]'s lock, where the
    /// retired counters are written).
    fn absorb(&self, other: &Stats) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (a, b) in [
            (&self.acquisitions, &other.acquisitions),
            (&self.contended, &other.contended),
            (&self.wait_ns, &other.wait_ns),
            (&self.reads, &other.reads),
            (&self.hold_samples, &other.hold_samples),
            (&self.hold_ns, &other.hold_ns),
            (&self.blocking_calls, &other.blocking_calls),
            (&self.blocking_ns, &other.blocking_ns),
        ] {
            a.store(load(a).saturating_add(load(b)), Ordering::Relaxed);
        }
        raise(&self.max_wait_ns, load(&other.max_wait_ns));
        raise(&self.max_hold_ns, load(&other.max_hold_ns));
        if let Some(what) = other.blocking_what.get() {
            self.blocking_what.set(what);
        }
    }
}

thread_local! {
    static MINE: Mine = Mine(RefCell::new(HashMap::new()));
    static TICK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Whether this thread's [`MINE`] has counters (so it was made).
    static HAS_MINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A thread's counters for a class it had none for, listed for [`report`].
/// The first ones of the process also register the exit hook that writes
/// the profile beside the records (profiling turned on by the environment
/// has no [`enable`] call to do it).
#[cold]
fn new_stats(skey: u64, class: Class, kind: LockKind, instance: u64) -> Arc<Stats> {
    write_at_exit();
    HAS_MINE.set(true);
    let stats = Arc::new(Stats::default());
    ALL.lock().push(Entry {
        key: (class, kind),
        instance,
        skey,
        stats: Arc::clone(&stats),
        retired: None,
    });
    stats
}

/// This thread's key for `meta`'s counters ([`stats_key`]).
fn key_of(meta: &LockMeta) -> u64 {
    stats_key(meta.profile_key(), meta.kind())
}

/// A thread's key for the counters of class `key` (a lock's profile key)
/// and kind `kind`: a `Mutex` and an `RwLock` named alike are one class,
/// and two rows.
fn stats_key(key: u64, kind: LockKind) -> u64 {
    key ^ u64::from(crate::class::encode_kind(kind)) << 56
}

/// The lock's id when its class is anonymous (each such lock is a class of
/// its own), else 0.
fn instance_of(meta: &LockMeta) -> u64 {
    match meta.class() {
        Class::Anonymous => meta.id(),
        _ => 0,
    }
}

fn with_stats(meta: &LockMeta, f: impl FnOnce(&Stats)) {
    let key = key_of(meta);
    let _ = MINE.try_with(|m| {
        let mut m = m.borrow_mut();
        let stats = m
            .entry(key)
            .or_insert_with(|| new_stats(key, meta.class(), meta.kind(), instance_of(meta)));
        f(stats);
    });
}

/// Records an acquisition; `waited` is the wait when the first attempt failed.
pub(crate) fn acquired(meta: &LockMeta, access: Access, waited: Option<Duration>) {
    with_stats(meta, |s| {
        bump(&s.acquisitions, 1);
        if access == Access::Read {
            bump(&s.reads, 1);
        }
        if let Some(w) = waited {
            let ns = w.as_nanos() as u64;
            bump(&s.contended, 1);
            bump(&s.wait_ns, ns);
            raise(&s.max_wait_ns, ns);
        }
    });
}

/// Records an upgrade of an upgradable read (counted as a read when it was
/// taken) to exclusive: no longer a read, and, when it had to wait
/// (`waited`), a contended acquisition with that wait.
pub(crate) fn upgraded(meta: &LockMeta, waited: Option<Duration>) {
    with_stats(meta, |s| {
        // This thread's count of reads, which holds the upgradable read
        // unless its guard was taken on another thread (`send_guard`).
        // (Only this thread writes its counters, as in `bump`.)
        let reads = s.reads.load(Ordering::Relaxed);
        s.reads.store(reads.saturating_sub(1), Ordering::Relaxed);
        if let Some(w) = waited {
            let ns = w.as_nanos() as u64;
            // A contended acquisition at most once: the upgradable read may
            // have waited already (it is not known which did; the count
            // stays within the acquisitions, the wait is added).
            if s.contended.load(Ordering::Relaxed) < s.acquisitions.load(Ordering::Relaxed) {
                bump(&s.contended, 1);
            }
            bump(&s.wait_ns, ns);
            raise(&s.max_wait_ns, ns);
        }
    });
}

/// Whether this acquisition's hold time is sampled: one in [`HOLD_SAMPLE`],
/// picked by a golden-ratio sequence rather than every n-th acquisition, so
/// code that alternates between locks does not always sample the same one.
#[inline]
pub(crate) fn sample_hold() -> bool {
    TICK.try_with(|t| {
        let n = t.get().wrapping_add(1);
        t.set(n);
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15) < u64::MAX / HOLD_SAMPLE
    })
    .unwrap_or(false)
}

pub(crate) fn held_for(meta: &LockMeta, d: Duration) {
    if meta.kind().is_role() {
        // A consumer between receives, a running thread: not a lock held.
        return;
    }
    with_stats(meta, |s| {
        let ns = d.as_nanos() as u64;
        bump(&s.hold_samples, 1);
        bump(&s.hold_ns, ns);
        raise(&s.max_hold_ns, ns);
    });
}

/// Counts one blocking call `what` of `d` against each class held during
/// it (`metas`: the held locks): once per class, however many of its locks
/// are held (two locks of one class held across one call counted it twice).
pub(crate) fn blocked_holding(metas: &[(Class, LockKind, u64)], what: &'static str, d: Duration) {
    let _ = MINE.try_with(|m| {
        let mut m = m.borrow_mut();
        for (i, &(class, kind, key)) in metas.iter().enumerate() {
            if kind.is_role()
                || metas[..i]
                    .iter()
                    .any(|other| other.2 == key && other.1 == kind)
            {
                continue;
            }
            let instance = match class {
                Class::Anonymous => crate::meta::anonymous_id(key),
                _ => 0,
            };
            let skey = stats_key(key, kind);
            let stats = m
                .entry(skey)
                .or_insert_with(|| new_stats(skey, class, kind, instance));
            bump(&stats.blocking_calls, 1);
            bump(&stats.blocking_ns, d.as_nanos() as u64);
            stats.blocking_what.set(what);
        }
    });
}

/// The profile of one lock class, summed over threads.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClassProfile {
    /// The class identity (`name:..`, `site:..`, `anon:..`, as in record files).
    pub class: String,
    /// The lock's kind.
    pub kind: LockKind,
    /// The name, for named classes.
    pub name: Option<String>,
    /// The creation site (`file:line:column`), for site classes.
    pub created: Option<String>,
    /// Acquisitions.
    pub acquisitions: u64,
    /// Acquisitions whose first, non-blocking attempt failed.
    pub contended: u64,
    /// Total time spent waiting in contended acquisitions.
    pub total_wait: Duration,
    /// The longest single wait.
    pub max_wait: Duration,
    /// Shared (read) acquisitions, for read-write locks.
    pub reads: u64,
    /// Hold times measured (one acquisition in [`HOLD_SAMPLE`]).
    pub hold_samples: u64,
    /// Mean of the sampled hold times.
    pub mean_hold: Duration,
    /// Longest sampled hold time.
    pub max_hold: Duration,
    /// Distinct threads that waited for this class.
    pub waiting_threads: u64,
    /// Blocking calls (see [`crate::blocking`]) made while holding this class.
    pub blocking_calls: u64,
    /// Time spent in those calls.
    pub blocking_time: Duration,
    /// What one of those calls was (as named to [`crate::blocking`]).
    pub blocking_what: Option<String>,
    /// What to do about it, with the evidence.
    pub advice: Vec<Advice>,
}

impl ClassProfile {
    /// The label used in tables: the name, else the creation site.
    pub fn label(&self) -> String {
        match (&self.name, &self.created) {
            (Some(n), _) => n.clone(),
            (None, Some(s)) => s.clone(),
            _ => self.class.clone(),
        }
    }

    /// Contended acquisitions as a share of all acquisitions.
    pub fn contention(&self) -> f64 {
        if self.acquisitions == 0 {
            0.0
        } else {
            self.contended as f64 / self.acquisitions as f64
        }
    }
}

/// A suggestion derived from the numbers, naming the evidence.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Advice {
    /// Many threads wait on one class: split it into shards.
    Shard {
        /// Threads that waited.
        waiting_threads: u64,
        /// Share of acquisitions that waited.
        contention: f64,
    },
    /// Holds are long while others wait: do less under the lock.
    ShrinkCriticalSection {
        /// Mean sampled hold time.
        mean_hold: Duration,
        /// Longest sampled hold time.
        max_hold: Duration,
    },
    /// Mostly reads on a read-write lock that still waits: readers are
    /// queued behind writers; batch or shorten the writes.
    WritersBlockReaders {
        /// Share of reads.
        read_share: f64,
        /// Total wait.
        total_wait: Duration,
    },
    /// The lock was held across blocking calls: move the call out.
    MoveBlockingCallOut {
        /// Blocking calls made under the lock.
        calls: u64,
        /// Time spent in them.
        time: Duration,
        /// What one of them was.
        what: String,
    },
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Advice::Shard {
                waiting_threads,
                contention,
            } => write!(
                f,
                "shard it: {waiting_threads} threads waited and {:.0}% of acquisitions were \
                 contended; split the data over several locks (by key hash)",
                contention * 100.0
            ),
            Advice::ShrinkCriticalSection {
                mean_hold,
                max_hold,
            } => write!(
                f,
                "shrink the critical section: held {mean_hold:.1?} on average (max {max_hold:.1?}) \
                 while other threads waited; compute outside the lock, hold it only to publish"
            ),
            Advice::WritersBlockReaders {
                read_share,
                total_wait,
            } => write!(
                f,
                "{:.0}% reads, yet {total_wait:.1?} spent waiting: readers queue behind writers; \
                 make writes rarer or shorter (prepare the new value, then swap it in)",
                read_share * 100.0
            ),
            Advice::MoveBlockingCallOut { calls, time, what } => write!(
                f,
                "held across {calls} blocking call{} such as `{what}` ({time:.1?} in total): \
                 move the call out of the critical section",
                if *calls == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The advice rules, exposed for tests and tools.
pub fn advise(p: &ClassProfile) -> Vec<Advice> {
    let mut out = Vec::new();
    let contention = p.contention();
    if p.waiting_threads >= 3 && contention >= 0.2 && p.contended >= 10 {
        out.push(Advice::Shard {
            waiting_threads: p.waiting_threads,
            contention,
        });
    }
    let long = p.mean_hold >= Duration::from_micros(100)
        || (contention >= 0.1 && p.mean_hold >= Duration::from_micros(10));
    if p.contended > 0 && p.hold_samples > 0 && long {
        out.push(Advice::ShrinkCriticalSection {
            mean_hold: p.mean_hold,
            max_hold: p.max_hold,
        });
    }
    if has_reads(p.kind) && p.acquisitions > 0 {
        let read_share = p.reads as f64 / p.acquisitions as f64;
        if read_share >= 0.9 && p.total_wait >= Duration::from_millis(1) {
            out.push(Advice::WritersBlockReaders {
                read_share,
                total_wait: p.total_wait,
            });
        }
    }
    if p.blocking_calls > 0 {
        out.push(Advice::MoveBlockingCallOut {
            calls: p.blocking_calls,
            time: p.blocking_time,
            what: p
                .blocking_what
                .clone()
                .unwrap_or_else(|| "a blocking call".to_string()),
        });
    }
    out
}

/// The profile of every class seen, hottest (most total wait) first.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ProfileReport {
    /// One entry per class.
    pub classes: Vec<ClassProfile>,
}

impl ProfileReport {
    /// The entry of a named class.
    pub fn named(&self, name: &str) -> Option<&ClassProfile> {
        self.classes
            .iter()
            .find(|c| c.name.as_deref() == Some(name))
    }
}

/// Raw counters of one lock class: summed over this process's threads by
/// [`counters`], or read back from a profile file (`lockgraph profile`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// The class identity, as in record files: `name:<name>`,
    /// `site:<file>:<line>:<column>` or `anon:<pid>:<id>`.
    pub class: String,
    /// The name, for named classes.
    pub name: Option<String>,
    /// `Mutex`, `RwLock`, `ReentrantMutex`, `Condvar` or `lock`.
    pub kind: String,
    /// The creation site, for site classes.
    pub site: Option<String>,
    /// Acquisitions.
    pub acquisitions: u64,
    /// Contended acquisitions.
    pub contended: u64,
    /// Total wait, nanoseconds.
    pub wait_ns: u64,
    /// Longest wait, nanoseconds.
    pub max_wait_ns: u64,
    /// Shared acquisitions.
    pub reads: u64,
    /// Sampled holds.
    pub hold_samples: u64,
    /// Sum of sampled hold times, nanoseconds.
    pub hold_ns: u64,
    /// Longest sampled hold, nanoseconds.
    pub max_hold_ns: u64,
    /// Threads that waited.
    pub waiting_threads: u64,
    /// Blocking calls made while holding the class.
    pub blocking_calls: u64,
    /// Time in those calls, nanoseconds.
    pub blocking_ns: u64,
    /// What one of those calls was.
    pub blocking_what: Option<String>,
}

impl Counters {
    /// What in these counters cannot be (a count above the count it is part
    /// of, a time without the events it sums, a maximum above its total, a
    /// kind lockgraph does not have), said in words; `None` when nothing.
    /// A snapshot of counters other threads are still updating can tear so
    /// (a first wait's maximum read after its total): [`counters`] and
    /// `lockgraph profile` make such counters [`consistent`](Self::consistent).
    pub fn inconsistency(&self) -> Option<String> {
        let above = |part: (&str, u64), whole: (&str, u64)| {
            (part.1 > whole.1).then(|| {
                format!(
                    "`{}` ({}) is above `{}` ({}), which counts it",
                    part.0, part.1, whole.0, whole.1
                )
            })
        };
        let without = |time: (&str, u64), events: (&str, u64)| {
            (time.1 > 0 && events.1 == 0)
                .then(|| format!("`{}` is {} with no `{}`", time.0, time.1, events.0))
        };
        above(("contended", self.contended), ("acquisitions", self.acquisitions))
            .or_else(|| above(("reads", self.reads), ("acquisitions", self.acquisitions)))
            .or_else(|| above(("max_wait_ns", self.max_wait_ns), ("wait_ns", self.wait_ns)))
            .or_else(|| above(("max_hold_ns", self.max_hold_ns), ("hold_ns", self.hold_ns)))
            .or_else(|| without(("wait_ns", self.wait_ns), ("contended", self.contended)))
            .or_else(|| without(("hold_ns", self.hold_ns), ("hold_samples", self.hold_samples)))
            .or_else(|| {
                without(
                    ("blocking_ns", self.blocking_ns),
                    ("blocking_calls", self.blocking_calls),
                )
            })
            .or_else(|| {
                (LockKind::from_name(&self.kind).name() != self.kind).then(|| {
                    format!(
                        "unknown `kind` {:?} (a lockgraph lock kind: `Mutex`, `RwLock`, `AsyncMutex`, ...)",
                        self.kind
                    )
                })
            })
    }

    /// These counters with what [`inconsistency`](Self::inconsistency)
    /// finds made right the least way: a part at most its whole, a maximum
    /// at most its total, no time without events, an unknown kind `lock`.
    pub fn consistent(mut self) -> Counters {
        self.contended = self.contended.min(self.acquisitions);
        self.reads = self.reads.min(self.acquisitions);
        if self.contended == 0 {
            (self.wait_ns, self.max_wait_ns) = (0, 0);
        }
        if self.hold_samples == 0 {
            (self.hold_ns, self.max_hold_ns) = (0, 0);
        }
        if self.blocking_calls == 0 {
            self.blocking_ns = 0;
        }
        self.max_wait_ns = self.max_wait_ns.min(self.wait_ns);
        self.max_hold_ns = self.max_hold_ns.min(self.hold_ns);
        self.kind = LockKind::from_name(&self.kind).name().to_string();
        self
    }

    /// Adds `other` (the same class, from another thread or process);
    /// sums saturate rather than overflow.
    pub fn merge(&mut self, other: &Counters) {
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.acquisitions, other.acquisitions);
        add(&mut self.contended, other.contended);
        add(&mut self.wait_ns, other.wait_ns);
        self.max_wait_ns = self.max_wait_ns.max(other.max_wait_ns);
        add(&mut self.reads, other.reads);
        add(&mut self.hold_samples, other.hold_samples);
        add(&mut self.hold_ns, other.hold_ns);
        self.max_hold_ns = self.max_hold_ns.max(other.max_hold_ns);
        add(&mut self.waiting_threads, other.waiting_threads);
        add(&mut self.blocking_calls, other.blocking_calls);
        add(&mut self.blocking_ns, other.blocking_ns);
        if self.blocking_what.is_none() {
            self.blocking_what.clone_from(&other.blocking_what);
        }
    }
}

/// Whether a kind's share of reads means something: a read-write lock's
/// (a semaphore's permits are counted as shared holds too, but are not
/// reads).
fn has_reads(kind: LockKind) -> bool {
    matches!(kind, LockKind::RwLock | LockKind::AsyncRwLock)
}

/// This process's counters, one entry per class, summed over threads.
pub fn counters() -> Vec<Counters> {
    let pid = std::process::id();
    let all = ALL.lock();
    // By class and kind: a `Mutex` and an `RwLock` named alike are one
    // class in the graph, but two rows here (one `Mutex` row hid the
    // other's reads).
    let mut by_class: HashMap<(String, &'static str), Counters> = HashMap::new();
    for e in all.iter() {
        let (class, kind) = e.key;
        let s = &e.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // An anonymous class is its lock: `anon:<pid>:<id>`, as records
        // write it (all of a process's anonymous locks were one row).
        let id = match class {
            Class::Anonymous => {
                crate::record::class_id(class, crate::record::minting_pid(e.instance), e.instance)
            }
            _ => crate::record::class_id(class, pid, 0),
        };
        let mine = Counters {
            class: id.clone(),
            name: match class {
                Class::Named(n) => Some(n.to_string()),
                _ => None,
            },
            kind: kind.name().to_string(),
            site: class.site().map(|s| s.to_string()),
            acquisitions: load(&s.acquisitions),
            contended: load(&s.contended),
            wait_ns: load(&s.wait_ns),
            max_wait_ns: load(&s.max_wait_ns),
            reads: load(&s.reads),
            hold_samples: load(&s.hold_samples),
            hold_ns: load(&s.hold_ns),
            max_hold_ns: load(&s.max_hold_ns),
            waiting_threads: e.retired.unwrap_or(u64::from(load(&s.contended) > 0)),
            blocking_calls: load(&s.blocking_calls),
            blocking_ns: load(&s.blocking_ns),
            blocking_what: s.blocking_what.get().map(str::to_string),
        };
        // Read while its thread may update it: made consistent.
        let mine = mine.consistent();
        match by_class.get_mut(&(id.clone(), kind.name())) {
            Some(c) => c.merge(&mine),
            None => {
                by_class.insert((id, kind.name()), mine);
            }
        }
    }
    let mut out: Vec<Counters> = by_class.into_values().collect();
    out.sort_by(|a, b| a.class.cmp(&b.class).then_with(|| a.kind.cmp(&b.kind)));
    out
}

/// This process's profile, hottest class (most total wait) first.
pub fn report() -> ProfileReport {
    ProfileReport::from_counters(counters())
}

impl ProfileReport {
    /// A report from counters (entries of equal class id and kind are
    /// merged first).
    pub fn from_counters(counters: Vec<Counters>) -> ProfileReport {
        let mut by_class: HashMap<(String, String), Counters> = HashMap::new();
        for c in counters {
            match by_class.get_mut(&(c.class.clone(), c.kind.clone())) {
                Some(have) => have.merge(&c),
                None => {
                    by_class.insert((c.class.clone(), c.kind.clone()), c);
                }
            }
        }
        let mut classes: Vec<ClassProfile> = by_class
            .into_values()
            .map(|c| {
                let mut p = ClassProfile {
                    kind: LockKind::from_name(&c.kind),
                    name: c.name,
                    created: c.site,
                    acquisitions: c.acquisitions,
                    contended: c.contended,
                    total_wait: Duration::from_nanos(c.wait_ns),
                    max_wait: Duration::from_nanos(c.max_wait_ns),
                    reads: c.reads,
                    hold_samples: c.hold_samples,
                    mean_hold: Duration::from_nanos(c.hold_ns / c.hold_samples.max(1)),
                    max_hold: Duration::from_nanos(c.max_hold_ns),
                    waiting_threads: c.waiting_threads,
                    blocking_calls: c.blocking_calls,
                    blocking_time: Duration::from_nanos(c.blocking_ns),
                    blocking_what: c.blocking_what,
                    class: c.class,
                    advice: Vec::new(),
                };
                p.advice = advise(&p);
                p
            })
            .collect();
        classes.sort_by(|a, b| {
            b.total_wait
                .cmp(&a.total_wait)
                .then(b.acquisitions.cmp(&a.acquisitions))
                .then(a.class.cmp(&b.class))
        });
        ProfileReport { classes }
    }
}

/// Lock labels longer than this many characters are cut with an ellipsis
/// in the profile table (the advice under it names them whole).
const TABLE_LABEL: usize = 60;

impl fmt::Display for ProfileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lockgraph contention profile (hottest first)")?;
        if self.classes.is_empty() {
            return writeln!(
                f,
                "  no lock acquisitions recorded (is LOCKGRAPH_PROFILE=1 set?)"
            );
        }
        let labels: Vec<String> = self
            .classes
            .iter()
            .map(|c| format!("{} {}", c.kind.name(), cut(&c.label(), TABLE_LABEL)))
            .collect();
        let w = labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            f,
            "  {}  {:>10}  {:>9}  {:>11}  {:>10}  {:>10}  {:>6}  {:>7}",
            padded("lock", w),
            "acquired",
            "contended",
            "total wait",
            "max wait",
            "mean hold",
            "reads",
            "waiters"
        )?;
        for (c, label) in self.classes.iter().zip(&labels) {
            let reads = if has_reads(c.kind) && c.acquisitions > 0 {
                format!("{:.0}%", 100.0 * c.reads as f64 / c.acquisitions as f64)
            } else {
                "-".to_string()
            };
            // No hold sampled: no mean to show (it read 0.0ns).
            let mean_hold = if c.hold_samples > 0 {
                format!("{:.1?}", c.mean_hold)
            } else {
                "-".to_string()
            };
            writeln!(
                f,
                "  {}  {:>10}  {:>8.1}%  {:>11}  {:>10}  {:>10}  {:>6}  {:>7}",
                padded(label, w),
                c.acquisitions,
                100.0 * c.contention(),
                format!("{:.1?}", c.total_wait),
                format!("{:.1?}", c.max_wait),
                mean_hold,
                reads,
                c.waiting_threads,
            )?;
        }
        let advised: Vec<_> = self
            .classes
            .iter()
            .filter(|c| !c.advice.is_empty())
            .collect();
        if !advised.is_empty() {
            writeln!(f)?;
            writeln!(f, "  advice:")?;
            for c in advised {
                for a in &c.advice {
                    writeln!(f, "    {} {}: {a}", c.kind.name(), c.label())?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(kind: LockKind) -> ClassProfile {
        ClassProfile {
            class: "name:t".to_string(),
            kind,
            name: Some("t".to_string()),
            created: None,
            acquisitions: 1000,
            contended: 0,
            total_wait: Duration::ZERO,
            max_wait: Duration::ZERO,
            reads: 0,
            hold_samples: 100,
            mean_hold: Duration::from_micros(1),
            max_hold: Duration::from_micros(5),
            waiting_threads: 0,
            blocking_calls: 0,
            blocking_time: Duration::ZERO,
            blocking_what: None,
            advice: Vec::new(),
        }
    }

    /// An async read-write lock's reads are shown as a read-write lock's
    /// (they read `-`), and a class whose holds were never sampled shows
    /// no mean hold (it read 0.0ns).
    #[test]
    fn async_reads_are_shown_and_an_unsampled_hold_has_no_mean() {
        let mut p = profile(LockKind::AsyncRwLock);
        p.reads = 900;
        p.hold_samples = 0;
        p.mean_hold = Duration::ZERO;
        let r = ProfileReport {
            classes: vec![p],
            ..ProfileReport::default()
        };
        let text = r.to_string();
        let row = text.lines().find(|l| l.contains("AsyncRwLock t")).unwrap();
        // lock, acquired, contended, total wait, max wait, mean hold, reads
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[6..8], ["-", "90%"], "{row}");
    }

    /// A label wider than a format width may be (65,535) panicked the
    /// table ("Formatting argument out of range"): it is cut there, with an
    /// ellipsis, and whole in the advice; columns count characters.
    #[test]
    fn a_label_over_65535_characters_is_cut_in_the_table() {
        let long = "N".repeat(70_000);
        let mut p = profile(LockKind::Mutex);
        p.name = Some(long.clone());
        p.contended = 900;
        p.waiting_threads = 8;
        p.total_wait = Duration::from_secs(1);
        p.advice = advise(&p);
        assert!(!p.advice.is_empty());
        let mut q = profile(LockKind::Mutex);
        q.name = Some("é".to_string());
        let r = ProfileReport {
            classes: vec![p, q],
            ..ProfileReport::default()
        };
        let text = r.to_string();
        let row = format!("  Mutex {}…  ", "N".repeat(59));
        assert!(text.contains(&row), "{}", &text[..300]);
        assert!(text.contains(&format!("Mutex {long}: ")), "advice");
        let col = |l: &str| l.chars().position(|c| c == '%');
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("  Mutex ")).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(col(rows[0]), col(rows[1]), "{rows:?}");
    }

    #[test]
    fn a_quiet_lock_gets_no_advice() {
        assert!(advise(&profile(LockKind::Mutex)).is_empty());
    }

    #[test]
    fn many_waiters_on_a_contended_class_means_shard() {
        let mut p = profile(LockKind::Mutex);
        p.contended = 400;
        p.waiting_threads = 6;
        assert_eq!(
            advise(&p),
            vec![Advice::Shard {
                waiting_threads: 6,
                contention: 0.4
            }]
        );
        // Two waiters are not "many".
        p.waiting_threads = 2;
        assert!(advise(&p).is_empty());
    }

    #[test]
    fn long_holds_under_contention_mean_shrink() {
        let mut p = profile(LockKind::Mutex);
        p.contended = 1;
        p.mean_hold = Duration::from_millis(2);
        assert!(matches!(
            advise(&p)[..],
            [Advice::ShrinkCriticalSection { .. }]
        ));
        // Long holds nobody waited for are fine.
        p.contended = 0;
        assert!(advise(&p).is_empty());
    }

    #[test]
    fn read_mostly_rwlocks_that_wait_blame_the_writers() {
        let mut p = profile(LockKind::RwLock);
        p.reads = 950;
        p.total_wait = Duration::from_millis(5);
        let a = advise(&p);
        assert!(
            matches!(a[..], [Advice::WritersBlockReaders { .. }]),
            "{a:?}"
        );
        assert!(a[0].to_string().contains("95% reads"));
    }

    #[test]
    fn a_blocking_call_under_the_lock_names_the_call() {
        let mut p = profile(LockKind::Mutex);
        p.blocking_calls = 3;
        p.blocking_time = Duration::from_millis(30);
        p.blocking_what = Some("cudaStreamSynchronize".to_string());
        let a = advise(&p);
        assert_eq!(a.len(), 1);
        assert!(
            a[0].to_string().contains("`cudaStreamSynchronize`"),
            "{}",
            a[0]
        );
    }

    /// The entries of `ALL` of the class named `name`: (retired, count).
    fn entries_named(name: &str) -> (usize, usize) {
        let all = ALL.lock();
        let of = |e: &&Entry| matches!(e.key.0, Class::Named(n) if n == name);
        let retired = all
            .iter()
            .filter(of)
            .filter(|e| e.retired.is_some())
            .count();
        (retired, all.iter().filter(of).count())
    }

    /// A thread's counters are added to its class's retired counters when
    /// it exits: threads that come and go leave one entry per class (each
    /// left one behind, about 180 bytes per class, without bound; found by
    /// an outside soak test), and the counts, the waiting threads included,
    /// are those of every thread.
    #[test]
    fn the_counters_of_exited_threads_are_kept_in_one_entry_per_class() {
        let meta = Arc::new(LockMeta::new(
            LockKind::Mutex,
            Class::Named("profile-retire"),
        ));
        for round in 0..2 {
            for t in 0..50u64 {
                let meta = Arc::clone(&meta);
                // `join` returns once the thread's thread-locals are gone
                // (a scoped thread's end is seen before).
                std::thread::spawn(move || {
                    for _ in 0..3 {
                        // Every fifth thread waits at each acquisition.
                        let waited = (t % 5 == 0).then(|| Duration::from_micros(10));
                        acquired(&meta, Access::Write, waited);
                    }
                })
                .join()
                .unwrap();
            }
            assert_eq!(entries_named("profile-retire"), (1, 1), "round {round}");
        }
        let c = counters()
            .into_iter()
            .find(|c| c.name.as_deref() == Some("profile-retire"))
            .unwrap();
        assert_eq!(c.acquisitions, 2 * 50 * 3);
        assert_eq!(c.contended, 2 * 10 * 3);
        assert_eq!(c.waiting_threads, 2 * 10);
        assert_eq!(c.max_wait_ns, 10_000);
        // A live thread's entry sits beside the retired one.
        acquired(&meta, Access::Read, None);
        assert_eq!(entries_named("profile-retire"), (1, 2));
        let c = counters()
            .into_iter()
            .find(|c| c.name.as_deref() == Some("profile-retire"))
            .unwrap();
        assert_eq!((c.acquisitions, c.reads), (301, 1));
    }
}
