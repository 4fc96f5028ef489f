//! The profile as a report: per class the counters read as times, the
//! advice they call for, and the table that prints them.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use super::class_counters::Counters;
use super::counts::counters;
use crate::class::LockKind;
use crate::table::{cut, padded};

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
    /// Hold times measured (one acquisition in [`HOLD_SAMPLE`](super::HOLD_SAMPLE)).
    pub hold_samples: u64,
    /// Mean of the sampled hold times.
    pub mean_hold: Duration,
    /// Longest sampled hold time.
    pub max_hold: Duration,
    /// Distinct threads that waited for this class; for an async lock
    /// (`AsyncMutex`, `AsyncRwLock`, `AsyncSemaphore`), distinct tasks
    /// (a thread outside a task, `blocking_lock`, counts as one), told
    /// apart up to 8,192.
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
    /// Many threads (tasks, for an async lock) wait on one class: split it
    /// into shards.
    Shard {
        /// Threads that waited (tasks, for an async lock).
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
    /// A semaphore whose permits ran out often: the permits are the limit
    /// it exists to set, so the advice is to add permits where what they
    /// guard allows it, not to shard or shrink a critical section (a
    /// semaphore guards no data, and its permit is held across the work
    /// on purpose; found by an outside test).
    PermitsRunOut {
        /// Threads that waited for a permit (tasks, for an async one).
        waiting_threads: u64,
        /// Share of acquisitions that waited.
        contention: f64,
        /// Mean sampled time a permit was held (`None`: no hold sampled).
        mean_hold: Option<Duration>,
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
    /// The advice for a sync lock, whose waiters are threads
    /// ([`describe`](Advice::describe) words it for a given kind).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, "threads")
    }
}

/// Who waits for a lock of `kind`: its waiters column counts them.
fn waiters_word(kind: LockKind) -> &'static str {
    if super::counts::waiters_are_tasks(kind) {
        "tasks"
    } else {
        "threads"
    }
}

impl Advice {
    /// The advice for a lock of `kind`, in words: an async lock's waiters
    /// are tasks ("8 tasks waited"), a sync lock's threads.
    pub fn describe(&self, kind: LockKind) -> String {
        struct For<'a>(&'a Advice, &'static str);
        impl fmt::Display for For<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write(f, self.1)
            }
        }
        For(self, waiters_word(kind)).to_string()
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, who: &str) -> fmt::Result {
        match self {
            Advice::Shard {
                waiting_threads,
                contention,
            } => write!(
                f,
                "shard it: {waiting_threads} {who} waited and {:.0}% of acquisitions were \
                 contended; split the data over several locks (by key hash)",
                contention * 100.0
            ),
            Advice::ShrinkCriticalSection {
                mean_hold,
                max_hold,
            } => write!(
                f,
                "shrink the critical section: held {mean_hold:.1?} on average (max {max_hold:.1?}) \
                 while other {who} waited; compute outside the lock, hold it only to publish"
            ),
            Advice::WritersBlockReaders {
                read_share,
                total_wait,
            } => write!(
                f,
                "{} reads, yet {total_wait:.1?} spent waiting: readers queue behind writers; \
                 make writes rarer or shorter (prepare the new value, then swap it in)",
                share(*read_share)
            ),
            Advice::PermitsRunOut {
                waiting_threads,
                contention,
                mean_hold,
            } => {
                let who = if *waiting_threads == 1 {
                    who.strip_suffix('s').unwrap_or(who)
                } else {
                    who
                };
                write!(
                    f,
                    "{waiting_threads} {who} waited for a permit ({:.0}% of acquisitions)",
                    contention * 100.0
                )?;
                if let Some(hold) = mean_hold {
                    write!(f, ", each permit held {hold:.1?} on average")?;
                }
                f.write_str(
                    ": if what the permits guard can take more at once, add permits; if not, \
                     this is the limit at work, and shorter work under a permit serves more",
                )
            }
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
    if matches!(p.kind, LockKind::Semaphore | LockKind::AsyncSemaphore) {
        // No data to shard, no critical section to shrink, and a permit
        // held across a blocking call is what a permit is for.
        if p.contended >= 10 && contention >= 0.2 {
            out.push(Advice::PermitsRunOut {
                waiting_threads: p.waiting_threads,
                contention,
                mean_hold: (p.hold_samples > 0).then_some(p.mean_hold),
            });
        }
        return out;
    }
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
        // Waits on 1% of acquisitions at least: a lock whose writes are
        // already rare and short (an `Arc` swapped in) waits now and then,
        // and was told to do what it does (found by an outside test).
        if read_share >= 0.9
            && p.total_wait >= Duration::from_millis(1)
            && p.contended >= 10
            && contention >= 0.01
        {
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
    /// Why no class is in it, where the process that made it knows
    /// ([`report`]: the build tracks no locks, or the profile is off).
    pub empty_because: Option<&'static str>,
}

impl ProfileReport {
    /// The entry of a named class.
    pub fn named(&self, name: &str) -> Option<&ClassProfile> {
        self.classes
            .iter()
            .find(|c| c.name.as_deref() == Some(name))
    }
}

/// A share as a percentage, whole, except near the ends: a share that is
/// not all (or not none) never reads `100%` (`0%`), but `99.9%` (`0.1%`),
/// so that 11 writes among 12,822 acquisitions are not shown as none
/// (found by an outside test).
fn share(x: f64) -> String {
    let pct = 100.0 * x;
    // Not 0.5 itself: `{:.0}` rounds it to even, `0`.
    if x >= 1.0 || x <= 0.0 || (pct > 0.5 && pct < 99.5) {
        format!("{pct:.0}%")
    } else if pct >= 99.5 {
        format!("{:.1}%", ((pct * 10.0).floor() / 10.0).min(99.9))
    } else {
        format!("{:.1}%", ((pct * 10.0).ceil() / 10.0).max(0.1))
    }
}

/// Whether a kind's share of reads means something: a read-write lock's
/// (a semaphore's permits are counted as shared holds too, but are not
/// reads).
fn has_reads(kind: LockKind) -> bool {
    matches!(kind, LockKind::RwLock | LockKind::AsyncRwLock)
}

/// This process's profile, hottest class (most total wait) first.
pub fn report() -> ProfileReport {
    let mut r = ProfileReport::from_counters(counters());
    if r.classes.is_empty() {
        r.empty_because = Some(why_empty(crate::TRACKING, super::on()));
    }
    r
}

/// Why a process's profile is empty: its build tracks no locks
/// (`tracking` false: `LOCKGRAPH_PROFILE=1` set there was read as asking
/// for nothing, and the report asked whether it was set), the profile is
/// off, or nothing was taken.
pub(super) fn why_empty(tracking: bool, on: bool) -> &'static str {
    if !tracking {
        "this build tracks no locks (a release build without lockgraph's `track-in-release` feature): the profile counts nothing"
    } else if !on {
        "the profile is off: set LOCKGRAPH_PROFILE=1, or call lockgraph::profile::enable()"
    } else {
        "no lockgraph lock was taken while the profile was on"
    }
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
        ProfileReport {
            classes,
            empty_because: None,
        }
    }
}

/// Lock labels longer than this many characters are cut with an ellipsis
/// in the profile table (the advice under it names them whole).
const TABLE_LABEL: usize = 60;

impl fmt::Display for ProfileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lockgraph contention profile (hottest first)")?;
        if self.classes.is_empty() {
            return match self.empty_because {
                Some(why) => writeln!(f, "  no lock acquisitions recorded: {why}"),
                None => writeln!(
                    f,
                    "  no lock acquisitions recorded (is LOCKGRAPH_PROFILE=1 set?)"
                ),
            };
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
                share(c.reads as f64 / c.acquisitions as f64)
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
        if self
            .classes
            .iter()
            .any(|c| super::counts::waiters_are_tasks(c.kind))
        {
            writeln!(
                f,
                "  (waiters: the threads that waited; for an Async lock, the tasks, a thread's blocking_lock counting as one)"
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
                    writeln!(
                        f,
                        "    {} {}: {}",
                        c.kind.name(),
                        c.label(),
                        a.describe(c.kind)
                    )?;
                }
            }
        }
        Ok(())
    }
}
