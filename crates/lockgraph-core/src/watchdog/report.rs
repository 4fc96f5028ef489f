//! The watchdog's reports as data, and how they print.

use super::*;

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

impl fmt::Display for LockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.resource {
            return match self.name {
                // A label with quoted names of its own (a CUDA host
                // function's wait on a signal): said as is.
                Some(n) if n.contains('`') => f.write_str(n),
                n => write!(f, "blocking call `{}`", n.unwrap_or("?")),
            };
        }
        match self.name {
            // A CUDA wait's or host function's label is a phrase with its
            // own quoted names (`synchronize stream `s` (pending: ...)`):
            // said as is, not quoted again (found by an outside test).
            Some(n)
                if n.contains('`') && matches!(self.kind, LockKind::Stream | LockKind::HostFn) =>
            {
                return f.write_str(n);
            }
            _ => {}
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
    /// For a timed wait that retries the thread's previous timed wait of
    /// the same lock (asked again within a scan period of the end of that
    /// try, which gave up, as a retry loop does): how long the tries have
    /// gone on, from the start of the first ([`waited`](Self::waited) is
    /// the current try's).
    pub retrying: Option<Duration>,
    /// Where it asked.
    pub site: Option<Site>,
    /// How long it has waited.
    pub waited: Duration,
    /// Its own stack, captured once the wait exceeded the timeout (resolved,
    /// program frames only).
    pub stack: Vec<String>,
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
}

impl WaitInfo {
    /// Whether the wait blocks in timed slices (docs/watchdog.md): a
    /// lock's `lock()`, `read()`, `read_recursive()` or
    /// `upgradable_read()`; a `write()` and an `upgrade()` block once.
    pub(super) fn sliced(&self) -> bool {
        matches!(
            self.mode,
            Some(
                WaitMode::Lock
                    | WaitMode::Read
                    | WaitMode::RecursiveRead
                    | WaitMode::UpgradableRead
            )
        )
    }

    /// What it waits for: `Mutex `m``, `upgrade of RwLock `r``,
    /// `notification on Condvar `cv``, `blocking call `recv``, with the
    /// resource's size where it is known (`a permit of Semaphore `gpu` (2
    /// permits)`).
    pub fn what(&self) -> String {
        waits_for_sized(&self.lock, self.mode, self.capacity, self.waiting_now)
    }

    /// ` (write, timed: gives up after 10.0s)`: the mode where
    /// [`what`](Self::what) does not say it, and a timed wait's limit.
    pub(super) fn notes(&self) -> String {
        let mut notes: Vec<String> = Vec::new();
        if let Some(m) = self.mode {
            if matches!(
                m,
                WaitMode::Lock
                    | WaitMode::Read
                    | WaitMode::RecursiveRead
                    | WaitMode::Write
                    | WaitMode::UpgradableRead
            ) {
                notes.push(m.name().to_string());
            }
        }
        if let Some(l) = self.limit {
            notes.push(format!("timed: gives up after {l:.1?}"));
        }
        if let Some(r) = self.retrying {
            notes.push(format!("retrying for {r:.3?}"));
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

impl OrderContext {
    /// The context of the lock cycle `locks[0] -> locks[1] -> ... -> locks[0]`.
    pub(super) fn of(locks: &[(u64, Class, LockKind)]) -> OrderContext {
        let keys: Vec<(u64, Class)> = locks.iter().map(|&(id, c, _)| (id, c)).collect();
        let graph_on = crate::order::order_graph();
        let known = crate::global::order_context(&keys);
        let (firsts, found, closed_by) = (known.edges, known.found, known.closed_by);
        let reported = found == Some(true);
        let found = found.is_some();
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
            found,
            reported,
            graph_on,
            closed_by,
            off_cause: (!graph_on).then(crate::order::off_cause),
        }
    }
}

impl fmt::Display for OrderContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let missing = self.steps.iter().filter(|s| s.first.is_none()).count();
        if !self.graph_on {
            let cause = self.off_cause.unwrap_or(
                "LOCKGRAPH_ORDER=off, set_order_graph(false), or the watchdog-in-release feature",
            );
            writeln!(f, "  lock-order graph: off ({cause})")?;
            if missing == self.steps.len() {
                // Nothing recorded: "off" says it all (found by an outside
                // test: a second line said so again).
                return Ok(());
            }
        }
        if self.reported {
            writeln!(
                f,
                "  lock-order graph: it knew this cycle and reported it as a potential deadlock when its last edge was recorded:"
            )?;
        } else if self.found {
            writeln!(
                f,
                "  lock-order graph: it found this cycle when its last edge was recorded, and did not report it (the policy was off then: LOCKGRAPH_ON_CYCLE=off or set_on_cycle(Off)):"
            )?;
        } else if missing == 0 {
            writeln!(
                f,
                "  lock-order graph: every edge of this cycle was recorded (this exact cycle was not reported: another cycle through the same edge was, or the order graph had stopped):"
            )?;
        } else {
            writeln!(
                f,
                "  lock-order graph: {missing} of the cycle's {} edges {} never recorded (taken with try_lock, in untracked code, after the graph filled up, or a CUDA synchronize, which is no lock):",
                self.steps.len(),
                if missing == 1 { "was" } else { "were" }
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
}

pub(super) fn ago(since: u64, now: u64) -> Duration {
    Duration::from_nanos(now.saturating_sub(since))
}

pub(super) fn proc_state(tid: u64) -> Option<ProcState> {
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
pub(super) const STACK_NOW_FRAMES: usize = 12;

/// Whether a report shows `s`'s current stack: it holds a lock and does not
/// wait (a waiter of a lock gives its own stack; one in a [`crate::blocking`]
/// call is in a call a signal could interrupt with `EINTR`, and its site is
/// already in the report).
pub(super) fn wants_stack_now(s: &Snap) -> bool {
    !s.held.is_empty() && s.wait.is_none()
}

/// Whether `s` waits in a parking_lot park that a signal cannot disturb,
/// so that a report may take its current stack when it has none of its own:
/// a lock's wait (parking_lot waits again when a signal ends the futex
/// wait early; not a [`crate::blocking`] call, whose system call could
/// fail with `EINTR`), or a condvar's (`lockgraph::Condvar` is
/// parking_lot's). A lock wait held across a retry loop whose limit is
/// shorter than the timeout never captures its own stack (it is never
/// late), a lock wait below the timeout has not yet, and a condvar wait
/// never does (found by an outside test: a condvar report had no stack
/// for either thread).
fn parked_wait(s: &Snap) -> bool {
    let Some(w) = s.wait else {
        return false;
    };
    matches!(
        w.target,
        Target::Lock {
            kind: LockKind::Mutex
                | LockKind::FairMutex
                | LockKind::RwLock
                | LockKind::ReentrantMutex,
            ..
        } | Target::Lock {
            mode: WaitMode::Condvar,
            ..
        }
    )
}

/// `s`'s current stack: captured directly for the calling thread, by a
/// signal for another one (Linux).
pub(super) fn stack_now(s: &Snap) -> StackNow {
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
/// wait ([`wants_stack_now`]), and, with `with_stack`, of a lock or
/// condvar waiter that captured none ([`parked_wait`]).
pub(super) fn thread_info(
    s: &Snap,
    now: u64,
    with_stack: bool,
    with_stack_now: bool,
) -> ThreadInfo {
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
        let queue = match w.target {
            Target::Lock {
                id,
                kind: LockKind::Queue,
                mode: WaitMode::Send | WaitMode::Recv,
                ..
            } => queue_state(id),
            _ => None,
        };
        WaitInfo {
            capacity: capacity_of(w.target, queue),
            waiting_now: None,
            queue,
            blocked_peers: Vec::new(),
            no_consumer: false,
            lock,
            request: mode
                .filter(|&m| m != WaitMode::Condvar)
                .map(WaitMode::request),
            mode,
            limit: w.limit,
            retrying: w.limit.and_then(|_| {
                let began = s.slot.streak.lock().began(w.serial, w.since, false);
                began.map(|b| ago(b, now))
            }),
            site: w.site.map(Site::from),
            waited: ago(w.since, now),
            stack,
        }
    });
    let own_stack = waiting.as_ref().is_some_and(|w| !w.stack.is_empty());
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
                held_for: ago(h.since, now),
            })
            .collect(),
        now: proc_state(s.slot.tid),
        stack_now: (with_stack_now
            && (wants_stack_now(s) || (with_stack && !own_stack && parked_wait(s))))
        .then(|| stack_now(s)),
        spans: spans::open_spans(s.slot.tid),
    }
}

/// `exclusive`, `shared` or `upgradable read`.
/// A hold as the text report says it: a role by what it is (a queue's
/// consumer, a running thread), a lock by its mode.
pub(super) fn hold_text(h: &HeldInfo) -> &'static str {
    match h.lock.kind {
        LockKind::Queue => "as its consumer",
        LockKind::Barrier => "as a party on its way to the next wait",
        LockKind::Thread => "running",
        LockKind::Semaphore => "a permit",
        // A CUDA context's host-function executor, held while it runs one.
        LockKind::Stream if h.hold == Hold::Shared => "running a host function",
        // The pseudo-locks of a CUDA stream and of one of its host
        // functions, held by the executor while it runs that host function:
        // no lock anyone took (they read as exclusive locks; found by an
        // outside test).
        LockKind::Stream => "running one of its host functions",
        LockKind::HostFn => "running it",
        _ => hold_name(h),
    }
}

pub(super) fn hold_name(h: &HeldInfo) -> &'static str {
    match h.hold {
        Hold::Shared if h.upgradable => "upgradable read",
        Hold::Upgradable => "upgradable read",
        Hold::Exclusive => "exclusive",
        Hold::Shared => "shared",
    }
}

pub(crate) fn opt_site(s: &Option<Site>) -> String {
    s.map_or_else(|| "an unknown site".to_string(), |s| s.to_string())
}

impl ThreadInfo {
    /// What the kernel says it does now, in words (`in an unknown state`
    /// where nothing was read).
    pub(super) fn now_words(&self) -> String {
        self.now
            .as_ref()
            .map_or_else(|| "in an unknown state".to_string(), ProcState::describe)
    }

    /// Whether `h` is the thread's own running role (a `lockgraph::thread`
    /// holds its `Thread` pseudo-lock while it runs, for its joiners):
    /// shown in its header, not among the locks it holds (it read as a
    /// lock to act on, in every report; found by an outside test).
    fn own_role(&self, h: &HeldInfo) -> bool {
        h.lock.kind == LockKind::Thread && h.lock.name == Some(self.name.as_str())
    }
}

impl fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The tid once: an unnamed thread's name has it already.
        let mut about: Vec<String> = Vec::new();
        if !self.name.ends_with(&format!("tid {}", self.tid)) {
            about.push(format!("tid {}", self.tid));
        }
        if let Some(role) = self.held.iter().find(|h| self.own_role(h)) {
            about.push(format!("spawned at {}", opt_site(&role.site)));
        }
        match about.as_slice() {
            [] => writeln!(f, "  thread `{}`", self.name)?,
            _ => writeln!(f, "  thread `{}` ({})", self.name, about.join("; "))?,
        }
        if !self.spans.is_empty() {
            writeln!(f, "    in spans: {}", self.spans.join(" > "))?;
        }
        if let Some(w) = &self.waiting {
            writeln!(
                f,
                "    waits for {}{} for {:.3?}, requested at {}",
                w.what(),
                w.notes(),
                w.waited,
                opt_site(&w.site)
            )?;
            for line in w.peer_lines() {
                writeln!(f, "      {line}")?;
            }
        }
        let held: Vec<&HeldInfo> = self.held.iter().filter(|h| !self.own_role(h)).collect();
        if held.is_empty() {
            writeln!(f, "    holds no lock")?;
        } else {
            writeln!(f, "    holds:")?;
            for h in held {
                writeln!(
                    f,
                    "      {} ({}), taken at {}, held at least {:.1?}",
                    h.lock,
                    hold_text(h),
                    opt_site(&h.site),
                    h.held_for
                )?;
            }
        }
        if let Some(p) = &self.now {
            let mut now = p.describe();
            if now == "running" && self.waiting.as_ref().is_some_and(WaitInfo::sliced) {
                // Caught between two slices of its wait (found by an
                // outside test: on a DEADLOCK, "running" read as fine).
                now.push_str(", between two slices of its wait (it still waits)");
            }
            if verbose() {
                writeln!(f, "    now: {now} [{}]", p.raw())?;
            } else {
                writeln!(f, "    now: {now}")?;
            }
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
        writeln!(f, "{}", self.headline())?;
        if let Some(c) = &self.cycle {
            writeln!(f, "  cycle: {c}")?;
        }
        if let Some(o) = &self.order {
            o.fmt(f)?;
        }
        for t in &self.threads {
            t.fmt(f)?;
        }
        self.fmt_also_deadlocked(f)?;
        writeln!(f, "{}", self.advice())?;
        writeln!(f, "{REPORT_END}")
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lockgraph dump (pid {}) at {}: {} thread{}",
            self.pid,
            utc(self.taken_at),
            self.threads.len(),
            if self.threads.len() == 1 { "" } else { "s" }
        )?;
        if !self.progress.is_empty() {
            let p: Vec<String> = self
                .progress
                .iter()
                .map(|(n, v)| format!("{n} {v}"))
                .collect();
            writeln!(f, "  progress: {}", p.join(", "))?;
        }
        if !crate::TRACKING {
            writeln!(
                f,
                "  (this build does not track locks: a release build without lockgraph's \
                 `watchdog-in-release` or `track-in-release` feature; no thread publishes its locks)"
            )?;
        } else if !self.watching {
            writeln!(
                f,
                "  (the watchdog is off: threads publish their locks only while it is on)"
            )?;
        }
        for d in &self.deadlocks {
            writeln!(
                f,
                "  DEADLOCK: {} threads wait for each other{} (the watchdog's DEADLOCK report has their stacks):",
                d.threads,
                if d.timed {
                    ", until a timed wait of it gives up"
                } else {
                    ""
                }
            )?;
            writeln!(f, "    cycle: {}", d.cycle)?;
            writeln!(f, "    {}", d.advice)?;
        }
        for t in &self.threads {
            t.fmt(f)?;
        }
        if !self.tasks.is_empty() {
            let n = self.tasks.len();
            let who = if n == 1 {
                "task or thread"
            } else {
                "tasks or threads"
            };
            writeln!(f, "  async locks of {n} {who}:")?;
            for t in &self.tasks {
                t.fmt(f)?;
            }
        }
        writeln!(f, "-- end of lockgraph dump --")
    }
}
