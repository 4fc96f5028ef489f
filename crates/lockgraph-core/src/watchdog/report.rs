//! The watchdog's reports as data: a report, a dump, and the threads,
//! waits, holds and locks they are made of.
//!
//! Its files: [`collect`] (each part made from the watchdog's copy of a
//! thread, the kernel's `/proc` files and the lock-order graph) and
//! [`text`] (how a report, a dump and their parts print).

use super::*;

mod collect;
mod text;

pub(super) use collect::{other_threads, thread_info};
pub(crate) use text::opt_site;
pub(super) use text::{hold_name, hold_text};

/// The last line of every watchdog report, the thread watchdog's and the
/// task watchdog's: what a tool reading stderr waits for.
pub(crate) const REPORT_END: &str = "-- end of lockgraph watchdog report --";

/// What the watchdog did, in a first line, under the abort action (both
/// watchdogs').
pub(crate) const ABORTS: &str = "reported; the watchdog aborts the process now (action abort)";

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
    pub(crate) fn of(id: u64, class: Class, kind: LockKind) -> LockRef {
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
    /// For a timed wait that retries the thread's previous timed wait of
    /// the same lock (asked again within the timeout of the end of that
    /// try, which gave up, as a retry loop does): how long the tries have
    /// gone on, from the start of the first (as [`waited`](Self::waited)).
    pub retrying: Option<Duration>,
    /// For a try of a retry loop ([`retrying`](Self::retrying)) that the
    /// thread is in: how long this try has waited (`None` otherwise).
    pub this_try: Option<Duration>,
    /// For a retry loop's thread found between two tries (it waits for
    /// nothing now; the wait shown is its last try): how long ago that try
    /// gave up (`None` otherwise).
    pub between_tries: Option<Duration>,
    /// Where it asked.
    pub site: Option<Site>,
    /// How long it has waited: a retry loop's, since its first try began.
    pub waited: Duration,
    /// Its own stack, captured once the wait exceeded the timeout (resolved,
    /// program frames only).
    pub stack: Vec<String>,
    /// Whether its own stack was captured and no frame of it could be
    /// named as the program's: a report then says so, and why where the
    /// binary is the cause (a stripped one; found by a review: the section
    /// was left out without a word).
    pub stack_unresolved: bool,
    /// Whether this wait is on a wait-for cycle: the thread is deadlocked.
    /// Set for the holders a long wait's report names for a reader queued
    /// behind a writer ([`WatchdogReport::advice`] then says to break that
    /// deadlock; found by an outside test, where it said to follow their
    /// waits); `false` elsewhere.
    pub deadlocked: bool,
    /// For a send into or a receive from a queue of `lockgraph::mpsc`: the
    /// queue's bound and live ends (its fill level follows from the wait: a
    /// blocked send finds it full, a blocked receive empty).
    pub queue: Option<QueueState>,
    /// For a send, a join, an acquire or a barrier wait: the threads it
    /// waits for that are themselves blocked (in reports; empty in a
    /// [`Dump`]).
    pub blocked_peers: Vec<BlockedPeer>,
    /// For a send into a full queue, in a report: no thread serves the
    /// queue as its consumer (nothing will make room).
    pub no_consumer: bool,
    /// The size of the resource waited for, where the watchdog knows it: a
    /// barrier's party count and a semaphore's permits (published by the
    /// primitive when it blocked), a bounded queue's bound (with
    /// [`queue`](Self::queue)); `None` otherwise.
    pub capacity: Option<usize>,
    /// For a barrier wait: the threads the watchdog sees waiting at the
    /// barrier now, this one included (`None` for other waits, and for a
    /// thread a report names only as a blocked peer).
    pub waiting_now: Option<usize>,
    /// For a barrier wait: the parties of the barrier's last completed
    /// round whose threads have exited since, by name (empty otherwise).
    pub exited_parties: Vec<String>,
    /// For a barrier wait: the threads the watchdog sees waiting at the
    /// barrier now, this one included, by name, sorted (empty otherwise;
    /// [`waiting_now`](Self::waiting_now) counts them).
    pub waiting_parties: Vec<String>,
    /// For a wait for a lock that no thread the watchdog sees holds: the
    /// thread that exited with it still held (its guard leaked), where one
    /// did (`None` otherwise, and in a deadlock report).
    pub left_by: Option<LeftHold>,
}

impl WaitInfo {
    /// What it waits for: `Mutex `m``, `upgrade of RwLock `r``,
    /// `notification on Condvar `cv``, `blocking call `recv``, with the
    /// resource's size where it is known (`a permit of Semaphore `gpu` (2
    /// permits)`).
    pub fn what(&self) -> String {
        waits_for_sized(&self.lock, self.mode, self.capacity, self.waiting_now)
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
    /// The system call it is in (number and arguments, as the kernel writes
    /// it; `running` when it runs in user space). Reports say it in words
    /// ([`ProcState::describe`]) and show it only with
    /// `LOCKGRAPH_WATCHDOG_VERBOSE=1`.
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
    /// The thread's name (without one, `unnamed, tid 24191` on Linux, its
    /// `ThreadId`, as `ThreadId(3)`, elsewhere).
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
    /// The `tracing` spans open on it, outermost first, as
    /// `name{field=value}` (with the `tracing-spans` feature's layer in the
    /// subscriber; empty otherwise).
    pub spans: Vec<String>,
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
    /// The threads involved: the waiters, then the holders they wait for
    /// (a deadlock: its cycle's threads, in cycle order).
    pub threads: Vec<ThreadInfo>,
    /// A long wait: how many other threads wait for the same lock (or
    /// condvar, or queue) now, reported or not; 0 for a deadlock.
    pub other_waiters: usize,
    /// A deadlock's other threads: those its cycle waits for whose own
    /// waits only threads of the deadlock could end (a second permit
    /// holder waiting for the lock the cycle's acquirer holds), by name;
    /// empty for long waits.
    pub also_deadlocked: Vec<ThreadInfo>,
    /// The process id.
    pub pid: u32,
    /// What the lock-order graph knew of the cycle: deadlocks whose threads
    /// wait for two or more locks (`None` for long waits, and for a
    /// deadlock on one lock, which has no lock-order edge).
    pub order: Option<OrderContext>,
    /// What the watchdog does with the report (said in its first line).
    pub action: Action,
    /// When the report was made (wall clock).
    pub reported_at: std::time::SystemTime,
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
    /// Whether the lock-order graph found this very cycle (when its last
    /// edge was recorded).
    pub found: bool,
    /// Whether it also reported it as a potential deadlock: found while
    /// the policy was not `off` ([`crate::OnCycle::Off`]), or while a
    /// `capture_reports` of its report was open on the thread that found it.
    /// The policy of that moment counts, not the one in force now.
    pub reported: bool,
    /// Whether the lock-order graph was recording when the deadlock was
    /// found ([`crate::order_graph`]). Edges recorded while it was on are
    /// still shown when it is off.
    pub graph_on: bool,
    /// The step whose recording closed the cycle, when the graph found it
    /// (`found`): the request its potential-deadlock report marks "this
    /// request closed the cycle". The other steps had set the order first;
    /// this one went against it.
    pub closed_by: Option<usize>,
    /// Why it was off (`None` when on): `LOCKGRAPH_ORDER=off`,
    /// `set_order_graph(false)`, or the `watchdog-in-release` default.
    pub off_cause: Option<&'static str>,
}

/// Every thread's held locks and waits (see [`dump`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Dump {
    /// The process id.
    pub pid: u32,
    /// When it was taken (wall clock).
    pub taken_at: std::time::SystemTime,
    /// The progress markers' latest values ([`progress`]).
    pub progress: Vec<(String, u64)>,
    /// Whether the watchdog was on (threads publish their locks only then).
    pub watching: bool,
    /// Every thread that has published state.
    pub threads: Vec<ThreadInfo>,
    /// Every task (and thread outside any task) holding or waiting for an
    /// async lock (`lockgraph::tokio`): holds are always tracked, waits
    /// while the watchdog is on.
    pub tasks: Vec<super::tasks::TaskInfo>,
    /// The deadlocks among these threads, as the watchdog sees them in the
    /// same copy (its DEADLOCK report says more: each thread's stack).
    pub deadlocks: Vec<super::verdict::DumpDeadlock>,
    /// The process's other threads (Linux: `/proc/self/task`), which hold
    /// and wait for no lockgraph lock: their names and what the kernel says
    /// they do, no stack (they are not signalled: one in a system call could
    /// see it fail with `EINTR`). At most [`OTHER_THREADS`]; the rest are
    /// counted in [`others_left_out`](Self::others_left_out).
    pub others: Vec<OtherThread>,
    /// Other threads past [`OTHER_THREADS`], not listed.
    pub others_left_out: usize,
}

/// The most [`Dump::others`] listed.
pub const OTHER_THREADS: usize = 256;

/// A thread of a [`Dump`] that holds and waits for no lockgraph lock (a
/// thread stuck in a collective, a read, a loop: what a dump of a hung
/// process is often asked for; found by an outside test, where such a
/// process's dump said `0 threads`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OtherThread {
    /// Its kernel thread id.
    pub tid: u64,
    /// Its name (`/proc/self/task/<tid>/comm`: at most 15 bytes).
    pub name: String,
    /// What the kernel says it does.
    pub now: Option<ProcState>,
}
