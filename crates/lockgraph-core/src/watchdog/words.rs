//! A report in words for the person who reads it at 3 a.m.: the kernel's
//! view of a thread said plainly ("blocked in a futex wait"), the report's
//! first line (what happened, since when, what the watchdog did) and its
//! last (what to do).

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

/// Whether reports add the raw kernel fields (`LOCKGRAPH_WATCHDOG_VERBOSE`),
/// read once.
pub(super) fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| crate::env::WATCHDOG_VERBOSE.switch())
}

/// The name of system call `nr` on this architecture, for the calls a
/// blocked thread is usually in; `None` for the others.
pub(crate) fn syscall_name(nr: i64) -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    const TABLE: &[(i64, &str)] = &[
        (0, "read"),
        (1, "write"),
        (2, "open"),
        (3, "close"),
        (7, "poll"),
        (16, "ioctl"),
        (17, "pread64"),
        (18, "pwrite64"),
        (19, "readv"),
        (20, "writev"),
        (23, "select"),
        (24, "sched_yield"),
        (34, "pause"),
        (35, "nanosleep"),
        (42, "connect"),
        (43, "accept"),
        (44, "sendto"),
        (45, "recvfrom"),
        (46, "sendmsg"),
        (47, "recvmsg"),
        (61, "wait4"),
        (72, "fcntl"),
        (73, "flock"),
        (74, "fsync"),
        (75, "fdatasync"),
        (128, "rt_sigtimedwait"),
        (130, "rt_sigsuspend"),
        (202, "futex"),
        (230, "clock_nanosleep"),
        (232, "epoll_wait"),
        (247, "waitid"),
        (257, "openat"),
        (270, "pselect6"),
        (271, "ppoll"),
        (281, "epoll_pwait"),
        (288, "accept4"),
        (299, "recvmmsg"),
        (307, "sendmmsg"),
        (426, "io_uring_enter"),
        (441, "epoll_pwait2"),
        (449, "futex_waitv"),
    ];
    #[cfg(target_arch = "aarch64")]
    const TABLE: &[(i64, &str)] = &[
        (22, "epoll_pwait"),
        (25, "fcntl"),
        (29, "ioctl"),
        (32, "flock"),
        (56, "openat"),
        (57, "close"),
        (63, "read"),
        (64, "write"),
        (65, "readv"),
        (66, "writev"),
        (67, "pread64"),
        (68, "pwrite64"),
        (72, "pselect6"),
        (73, "ppoll"),
        (82, "fsync"),
        (83, "fdatasync"),
        (95, "waitid"),
        (98, "futex"),
        (101, "nanosleep"),
        (115, "clock_nanosleep"),
        (124, "sched_yield"),
        (133, "rt_sigsuspend"),
        (137, "rt_sigtimedwait"),
        (202, "accept"),
        (203, "connect"),
        (206, "sendto"),
        (207, "recvfrom"),
        (211, "sendmsg"),
        (212, "recvmsg"),
        (242, "accept4"),
        (243, "recvmmsg"),
        (260, "wait4"),
        (269, "sendmmsg"),
        (426, "io_uring_enter"),
        (441, "epoll_pwait2"),
        (449, "futex_waitv"),
    ];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const TABLE: &[(i64, &str)] = &[];
    TABLE.iter().find(|&&(n, _)| n == nr).map(|&(_, name)| name)
}

impl ProcState {
    /// The system call the thread is in, by name (`futex`, `read`, or
    /// `#NNN` for one this table does not know); `None` when it is not in
    /// one (running, or asleep outside a call) or the kernel did not say.
    pub fn syscall_name(&self) -> Option<String> {
        let first = self.syscall.split_whitespace().next()?;
        let nr: i64 = first.parse().ok()?;
        if nr < 0 {
            return None;
        }
        Some(syscall_name(nr).map_or_else(|| format!("#{nr}"), str::to_string))
    }

    /// The thread's state in words: "running", "blocked in a futex wait",
    /// "in a system call: read", "sleeping (nanosleep)", "stopped",
    /// "asleep in the kernel (wchan ...)" ...
    pub fn describe(&self) -> String {
        let call = self.syscall_name();
        let running_now = self.syscall.trim() == "running" || self.state == "R";
        match self.state.as_str() {
            "Z" | "X" => return "exited (a zombie: its process has not reaped it)".into(),
            "T" => return "stopped (SIGSTOP, or a debugger)".into(),
            "t" => return "stopped by a debugger (tracing stop)".into(),
            _ => {}
        }
        if running_now {
            return match call {
                Some(c) if self.syscall.trim() != "running" => {
                    format!("running, in a system call: {c}")
                }
                _ => "running".into(),
            };
        }
        let uninterruptible = self.state == "D";
        let words = match call.as_deref() {
            Some("futex") | Some("futex_waitv") => "blocked in a futex wait".to_string(),
            Some(c @ ("nanosleep" | "clock_nanosleep")) => format!("sleeping ({c})"),
            Some(
                c @ ("poll" | "ppoll" | "select" | "pselect6" | "epoll_wait" | "epoll_pwait"
                | "epoll_pwait2" | "io_uring_enter"),
            ) => format!("waiting for I/O ({c})"),
            Some(c @ ("wait4" | "waitid")) => format!("waiting for a child process ({c})"),
            Some(c @ ("pause" | "rt_sigsuspend" | "rt_sigtimedwait")) => {
                format!("waiting for a signal ({c})")
            }
            Some(c) => format!("in a system call: {c}"),
            None if self.syscall.trim_start().starts_with("-1") => {
                format!(
                    "asleep in the kernel outside a system call (in {})",
                    self.wchan
                )
            }
            None if self.wchan.is_empty() || self.wchan == "0" => "asleep".to_string(),
            None => format!("asleep in the kernel (in {})", self.wchan),
        };
        if uninterruptible {
            format!("{words}, in uninterruptible sleep (disk or network file system I/O)")
        } else {
            words
        }
    }

    /// The raw fields: `state S, wchan futex_do_wait, syscall 202 0x7f...`.
    pub fn raw(&self) -> String {
        format!(
            "state {}, wchan {}, syscall {}",
            self.state, self.wchan, self.syscall
        )
    }
}

/// `2026-12-04 19:55:02 UTC`.
pub(crate) fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl WatchdogReport {
    /// When what the report is about began: the deadlock formed when the
    /// last of its threads started to wait (a retry loop's thread: when its
    /// first try started, [`WaitInfo::retrying`]); a long wait when it
    /// started.
    pub fn since(&self) -> SystemTime {
        let waited = match self.kind {
            WatchdogKind::Deadlock => self
                .all_threads()
                .filter_map(|t| {
                    let w = t.waiting.as_ref()?;
                    Some(w.retrying.map_or(w.waited, |r| r.max(w.waited)))
                })
                .min(),
            WatchdogKind::LongWait => self
                .threads
                .first()
                .and_then(|t| t.waiting.as_ref().map(|w| w.waited)),
        };
        self.reported_at
            .checked_sub(waited.unwrap_or_default())
            .unwrap_or(self.reported_at)
    }

    /// The first of a deadlock's timed waits to give up: its thread and the
    /// time it has left (`None`: no wait of the cycle is timed, it never
    /// ends by itself).
    pub fn ends_when(&self) -> Option<(&str, Duration)> {
        if self.kind != WatchdogKind::Deadlock {
            return None;
        }
        self.all_threads()
            .filter_map(|t| {
                let w = t.waiting.as_ref()?;
                Some((t.name.as_str(), w.limit?.saturating_sub(w.waited)))
            })
            .min_by_key(|&(_, left)| left)
    }

    /// What the watchdog did: `reported; the process is still hung` ...
    fn done(&self) -> String {
        match (self.action, self.kind) {
            (Action::Abort, _) => ABORTS.to_string(),
            (_, WatchdogKind::Deadlock) => match self.ends_when() {
                Some((name, left)) => format!(
                    "reported only; the threads wait until thread `{name}`'s timed wait \
                     gives up, in {left:.1?} (a retry can close the cycle again)"
                ),
                None if self.all_threads().count() == 1 => {
                    "reported only; the process is still hung (this thread never wakes)".to_string()
                }
                None => "reported only; the process is still hung (these threads never wake)"
                    .to_string(),
            },
            (_, WatchdogKind::LongWait) => "reported only; the thread still waits".to_string(),
        }
    }

    /// The first line: what happened, since when, what the watchdog did.
    pub fn headline(&self) -> String {
        let since = utc(self.since());
        match self.kind {
            WatchdogKind::Deadlock => {
                let mut locks: Vec<String> = Vec::new();
                for t in self.all_threads() {
                    if let Some(w) = &t.waiting {
                        let l = w.lock.to_string();
                        if !locks.contains(&l) {
                            locks.push(l);
                        }
                    }
                }
                // The also deadlocked count: they wait for the cycle, which
                // waits for them.
                let n = self.all_threads().count();
                let who = match self.threads.as_slice() {
                    [one] if n == 1 => format!("thread `{}` waits for itself", one.name),
                    _ => format!("{n} threads wait for each other"),
                };
                format!(
                    "lockgraph watchdog: DEADLOCK: {who} on {} (pid {}), since {since}; {}",
                    and_list(&locks),
                    self.pid,
                    self.done()
                )
            }
            WatchdogKind::LongWait => {
                let w = self.threads.first().and_then(|t| t.waiting.as_ref());
                format!(
                    "lockgraph watchdog: LONG WAIT: thread `{}` has waited {:.3?} for {} (pid {}), since {since}; {}",
                    self.threads.first().map_or("?", |t| t.name.as_str()),
                    w.map_or(Duration::ZERO, |w| w.waited),
                    w.map_or_else(|| "?".to_string(), WaitInfo::what),
                    self.pid,
                    self.done()
                )
            }
        }
    }

    /// The last line: what to do about it (the order to adopt, the hold to
    /// shorten, the call to look at).
    pub fn advice(&self) -> String {
        match self.kind {
            WatchdogKind::Deadlock => self.deadlock_advice(),
            WatchdogKind::LongWait => self.long_wait_advice(),
        }
    }

    fn deadlock_advice(&self) -> String {
        let ts = &self.threads;
        let waits: Vec<&WaitInfo> = ts.iter().filter_map(|t| t.waiting.as_ref()).collect();
        if waits.len() != ts.len() || ts.is_empty() {
            return "what to do: break the cycle above: one of its threads must release what it holds before it waits".into();
        }
        let n = ts.len();
        // Thread k waits for lock k, which thread k+1 holds; thread k holds
        // lock k-1. A thread waiting for what it holds itself (alone, or a
        // second read queued behind a writer that waits for its first):
        let holds_own = |k: usize| {
            let id = waits[k].lock.id;
            // An upgrade waits holding its own upgradable read: no second
            // request of what it holds.
            let upgrading = waits[k].mode == Some(WaitMode::Upgrade);
            ts[k]
                .held
                .iter()
                .find(|h| h.lock.id == id && id != 0 && !upgrading)
        };
        let own = if n == 1 {
            Some((0, holds_own(0)))
        } else {
            (0..n).find_map(|k| holds_own(k).map(|h| (k, Some(h))))
        };
        if let Some((k, held)) = own {
            let (t, w) = (&ts[k], waits[k]);
            let held_at = held.map(|h| opt_site(&h.site));
            let who = format!("thread `{}`", t.name);
            if w.mode == Some(WaitMode::Send) {
                // Its consumer role, not a guard: it waits for itself to
                // receive (a stage that sends into its own bounded queue).
                return advice::self_send(
                    &who,
                    &w.lock.to_string(),
                    &asked_at(w),
                    held_at.as_deref(),
                    "thread",
                );
            }
            if w.mode == Some(WaitMode::Permit) {
                return advice::self_permit(&who, &w.what(), &asked_at(w), held_at.as_deref());
            }
            if w.mode == Some(WaitMode::Upgrade) {
                // An upgrade waits for every other read, the thread's own
                // plain reads of the lock included.
                let read = t
                    .held
                    .iter()
                    .find(|h| h.lock.id == w.lock.id && h.hold == Hold::Shared && !h.upgradable);
                return format!(
                    "what to do: thread `{}` asks for {} at {} while it also holds a plain read of it{}, which the upgrade waits for: drop that read before upgrading",
                    t.name,
                    w.what(),
                    asked_at(w),
                    read.map_or_else(String::new, |h| format!(" (taken at {})", opt_site(&h.site)))
                );
            }
            // What else would let it ask again: a reentrant mutex for a
            // mutex, read_recursive for a read; nothing for a write.
            let instead = match (w.mode, w.lock.kind) {
                (Some(WaitMode::Read), _) => {
                    " (or, for a re-entrant read, read_recursive, which passes a waiting writer)"
                }
                (Some(WaitMode::Lock), LockKind::Mutex | LockKind::FairMutex) => {
                    " (or use a ReentrantMutex)"
                }
                _ => "",
            };
            return advice::ask_again(
                &format!("thread `{}`", t.name),
                &w.what(),
                &asked_at(w),
                held.map(|h| opt_site(&h.site)).as_deref(),
                instead,
            );
        }
        let ids: Vec<u64> = waits.iter().map(|w| w.lock.id).collect();
        let distinct = ids.iter().all(|&id| id != 0)
            && (0..n).all(|i| ids[i + 1..].iter().all(|&j| j != ids[i]));
        let upgrade = waits.iter().any(|w| w.mode == Some(WaitMode::Upgrade));
        // The thread to change: the first, in cycle order, that holds a
        // lock (not a role: a queue's consumer, a barrier's party, a
        // running thread, which it cannot release) while it waits.
        // A cycle through a role has no lock order to adopt: the advice is
        // that thread's hold.
        // A role, or a CUDA stream (a synchronize waits for the executor
        // running the stream's host function: no lock it could release).
        let held_as_role = |k: LockKind| k.is_role() || k == LockKind::Stream;
        let role = |k: usize| held_as_role(waits[(k + n - 1) % n].lock.kind);
        if (0..n).all(role) {
            // Roles alone (consumers, parties, joined threads): no lock to
            // release; the cycle is in the program's plan.
            return advice::roles_only("thread");
        }
        let k = (0..n).find(|&k| !role(k)).unwrap_or(0);
        if (0..n).any(role) {
            let (t, w) = (&ts[k], waits[k]);
            let before = &waits[(k + n - 1) % n].lock;
            let held = t.held.iter().find(|h| h.lock.id == before.id);
            let first = if held_as_role(w.lock.kind) {
                String::new()
            } else {
                format!(", or take {} first", w.lock)
            };
            return advice::release_before(
                &format!("thread `{}`", t.name),
                &w.what(),
                &asked_at(w),
                &before.to_string(),
                held.map(|h| opt_site(&h.site)).as_deref(),
                &first,
            );
        }
        // Locks of one class (per-object locks that one helper made): their
        // names say no order, so the advice is the order to give them (it
        // said "adopt `Mutex created at x.rs:12:49` before `Mutex created
        // at x.rs:12:49` before ...").
        let label = waits[0].lock.to_string();
        if distinct && waits.iter().all(|w| w.lock.to_string() == label) {
            return advice::one_class(n, &label);
        }
        let t0 = &ts[0];
        let last = &waits[n - 1].lock;
        let held = t0.held.iter().find(|h| h.lock.id == last.id);
        if !distinct || upgrade {
            return advice::release_or_order(
                &format!("thread `{}`", t0.name),
                &waits[0].what(),
                &asked_at(waits[0]),
                &held.map_or_else(|| "its locks".to_string(), |h| h.lock.to_string()),
                held.map(|h| opt_site(&h.site)).as_deref(),
            );
        }
        self.adopt_order_advice(&waits)
    }

    fn long_wait_advice(&self) -> String {
        let Some(t) = self.threads.first() else {
            return "what to do: nothing is known of the waiting thread".into();
        };
        let Some(w) = &t.waiting else {
            return "what to do: nothing is known of the wait".into();
        };
        // The report's other threads that wait for a lock this one holds
        // (a wait with no holder brings them: `scan`), as "which thread
        // `b` waits for (for 0.9s)".
        let behind = |lock: &LockRef| -> Option<String> {
            let who: Vec<String> = self.threads[1..]
                .iter()
                .filter_map(|o| {
                    let ow = o.waiting.as_ref().filter(|ow| ow.lock.id == lock.id)?;
                    Some(format!("thread `{}` ({:.1?})", o.name, ow.waited))
                })
                .collect();
            (!who.is_empty()).then(|| and_list(&who))
        };
        // Holds that are no lock to release: a CUDA host function's stream
        // and site pseudo-locks (lockgraph-cuda: the wait is in a host
        // function, which its stream waits for), and roles (a running
        // thread, a queue's consumer, a barrier's party).
        let releasable = |h: &&HeldInfo| {
            !matches!(h.lock.kind, LockKind::Stream | LockKind::HostFn) && !h.lock.kind.is_role()
        };
        let held: Vec<&HeldInfo> = t.held.iter().filter(releasable).collect();
        // "meanwhile it holds `m`, which thread `b` (0.9s) waits for: ...":
        // the holds another thread of the report waits for (the wait may
        // never end, if that thread is the one that would end it).
        let waited: Vec<String> = held
            .iter()
            .filter_map(|h| behind(&h.lock).map(|who| format!("{}, which {who} waits for", h.lock)))
            .collect();
        let blocking_others = |across: &str| -> Option<String> {
            (!waited.is_empty()).then(|| {
                advice::held_across(&and_list(&waited), waited.len() > 1, "that thread", across)
            })
        };
        // Those first, else every lock it holds.
        let meanwhile = |across: &str| -> Option<String> {
            if let Some(m) = blocking_others(across) {
                return Some(m);
            }
            if held.is_empty() {
                return None;
            }
            let names: Vec<String> = held.iter().map(|h| h.lock.to_string()).collect();
            let (keeps, them) = if names.len() == 1 {
                ("keeps", "it")
            } else {
                ("keep", "them")
            };
            Some(format!(
                "meanwhile it holds {}, which {keeps} others out: release {them} before {across}",
                and_list(&names)
            ))
        };
        if w.lock.resource {
            let in_host_fn = t
                .held
                .iter()
                .find(|h| h.lock.kind == LockKind::HostFn)
                .map(|h| {
                    format!(
                        "; it waits inside {}: its stream, and host functions of other streams sharing the executor, wait for it to return; a host function must not wait for work not ordered before it (another host function, or a thread that synchronizes): move the wait out of the host function",
                        h.lock
                    )
                })
                .unwrap_or_default();
            let holds = meanwhile("the call").map_or_else(String::new, |m| format!("; {m}"));
            return format!(
                "what to do: find why {} (at {}) has not returned in {:.1?}{holds}{in_host_fn}",
                w.lock,
                opt_site(&w.site),
                w.waited
            );
        }
        if w.mode == Some(WaitMode::Condvar) {
            if let Some(m) = blocking_others("the wait") {
                return format!(
                    "what to do: nobody has notified {} in {:.1?}; {m}",
                    w.lock, w.waited
                );
            }
            // A timed wait has a timeout already: it ends by itself.
            let or = match w.limit {
                Some(l) => format!(
                    "; it gives up after {l:.1?}, and a timeout longer than the watchdog's is reported each time"
                ),
                None => ", or give the wait a timeout".to_string(),
            };
            return format!(
                "what to do: nobody has notified {} in {:.1?}: check that the code that changes the condition runs and calls notify after it (with the mutex held){or}",
                w.lock, w.waited
            );
        }
        if w.mode == Some(WaitMode::Recv) {
            if let Some(m) = blocking_others("the receive") {
                return format!(
                    "what to do: nothing has been sent on {} for {:.1?}; {m}",
                    w.lock, w.waited
                );
            }
        }
        // A barrier wait while others wait for a hold of this party: one
        // of them may be the party that never arrives (a party is known
        // only from its first wait: in the first round the deadlock is two
        // long waits).
        if w.mode == Some(WaitMode::Barrier) {
            if let Some(m) = blocking_others("the barrier wait") {
                return format!(
                    "what to do: no other party of {} has arrived in {:.1?}; {m}",
                    w.lock, w.waited
                );
            }
        }
        if let Some(advice) = self.any_holder_advice(w) {
            return advice;
        }
        if let Some(advice) = w.peer_advice() {
            return advice;
        }
        if let Some(advice) = self.queued_reader_advice() {
            return advice;
        }
        // The holders the waiter waits for follow it in the report: those
        // whose hold keeps it out, the longest held first.
        let mut holders: Vec<(&ThreadInfo, &HeldInfo)> = self.threads[1..]
            .iter()
            .flat_map(|h| {
                h.held
                    .iter()
                    .filter(|x| x.lock.id == w.lock.id)
                    .filter(|x| {
                        w.mode
                            .is_none_or(|m| m.kept_out_by(x.hold, x.upgradable, false))
                    })
                    .map(move |x| (h, x))
            })
            .collect();
        holders.sort_by_key(|&(_, x)| std::cmp::Reverse(x.held_for));
        // A thread once, by its longest hold (two reads of one thread).
        let mut seen: Vec<&str> = Vec::new();
        holders.retain(|(h, _)| {
            let new = !seen.contains(&h.name.as_str());
            seen.push(&h.name);
            new
        });
        let also = match &holders[..] {
            [] | [_] => String::new(),
            [_, rest @ ..] => {
                let others: Vec<String> = rest
                    .iter()
                    .map(|(h, x)| {
                        format!("thread `{}` ({}, {:.1?})", h.name, hold_text(x), x.held_for)
                    })
                    .collect();
                // A permit, room in a queue: any holder's release ends it.
                if w.mode
                    .is_some_and(|m| m.need() == lockgraph_graph::waitfor::Need::Any)
                {
                    format!("; or another holder's release: {}", and_list(&others))
                } else {
                    format!("; it also waits for {}", and_list(&others))
                }
            }
        };
        match holders.first() {
            Some(&(h, _)) if h.waiting.is_some() => {
                let hw = h.waiting.as_ref().map_or_else(String::new, WaitInfo::what);
                format!(
                    "what to do: thread `{}`, which holds {}, itself waits for {hw}: follow that wait (its own report, or `lockgraph::dump()`), and do not wait for it while holding {}{also}",
                    h.name, w.lock, w.lock
                )
            }
            // A barrier's party on its way: no critical section to shorten.
            Some(&(h, x)) if w.mode == Some(WaitMode::Barrier) => format!(
                "what to do: thread `{}`, a party of {}, has not arrived since it left its last wait (at {}, at least {:.1?} ago; now {}): find why it does not reach the wait{also}",
                h.name,
                w.lock,
                opt_site(&x.site),
                x.held_for,
                h.now_words()
            ),
            // A joined thread still running.
            Some(&(h, x)) if w.mode == Some(WaitMode::Join) => format!(
                "what to do: thread `{}` (spawned at {}) has not ended: it has run for at least {:.1?}, now {}: find why it does not return, or do not join it while it may not{also}",
                h.name,
                opt_site(&x.site),
                x.held_for,
                h.now_words()
            ),
            Some(&(h, x)) => format!(
                "what to do: shorten thread `{}`'s hold of {} ({}taken at {}, held at least {:.1?}, now {}): move the slow work out of the critical section, or find why it does not return{also}",
                h.name,
                w.lock,
                // The mode where it is not the lock's only one.
                match hold_text(x) {
                    "exclusive" => String::new(),
                    mode => format!("{mode}, "),
                },
                opt_site(&x.site),
                x.held_for,
                h.now_words()
            ),
            None if w.mode == Some(WaitMode::Barrier) => w.lone_party_advice(),
            None => format!(
                "what to do: find who holds {}: no thread the watchdog sees holds it {}",
                w.lock,
                unseen_holder()
            ),
        }
    }

    /// A wait any one holder can end (a permit, room in a queue) whose
    /// blocked holders wait for this thread's own holds: it ends only when
    /// a holder that is not blocked lets go; those are named.
    fn any_holder_advice(&self, w: &WaitInfo) -> Option<String> {
        let t = &self.threads[0];
        let (gives, noun) = match w.mode? {
            WaitMode::Permit => ("gives its permit back", "permit holder"),
            WaitMode::Send => ("receives from it", "consumer"),
            _ => return None,
        };
        let holds_it = |h: &&ThreadInfo| h.held.iter().any(|x| x.lock.id == w.lock.id);
        // Holders blocked by a hold of this thread (kept out by it, in
        // their wait's mode), each with the hold of this thread it waits
        // for.
        let circular: Vec<(&ThreadInfo, &HeldInfo)> = self.threads[1..]
            .iter()
            .filter(holds_it)
            .filter_map(|h| {
                let hw = h.waiting.as_ref()?;
                let mine = t.held.iter().find(|x| {
                    x.lock.id == hw.lock.id
                        && hw
                            .mode
                            .is_none_or(|m| m.kept_out_by(x.hold, x.upgradable, false))
                })?;
                Some((h, mine))
            })
            .collect();
        if circular.is_empty() {
            return None;
        }
        let free: Vec<String> = self.threads[1..]
            .iter()
            .filter(holds_it)
            .filter(|h| h.waiting.is_none())
            .filter_map(|h| {
                let x = h.held.iter().find(|x| x.lock.id == w.lock.id)?;
                Some(format!(
                    "thread `{}` (taken at {}, held at least {:.1?}, now {})",
                    h.name,
                    opt_site(&x.site),
                    x.held_for,
                    h.now_words()
                ))
            })
            .collect();
        if free.is_empty() {
            return None;
        }
        let blocked: Vec<String> = circular
            .iter()
            .map(|(h, x)| format!("thread `{}` waits for {}", h.name, x.lock))
            .collect();
        let mut mine: Vec<String> = Vec::new();
        for (_, x) in &circular {
            let l = x.lock.to_string();
            if !mine.contains(&l) {
                mine.push(l);
            }
        }
        let them = if free.len() == 1 {
            "that hold"
        } else {
            "those holds"
        };
        Some(format!(
            "what to do: the {noun} {}, which this thread holds: this wait ends when {} {gives}: shorten {them}, and do not hold {} while waiting for {}",
            and_list(&blocked),
            if free.len() == 1 { free[0].clone() } else { format!("one of {}", and_list(&free)) },
            and_list(&mine),
            w.what()
        ))
    }
}

/// Why no thread the watchdog sees holds a lock, and where to look: a
/// parenthesis and `lockgraph::dump()`.
pub(super) fn unseen_holder() -> String {
    let deep = if crate::global::overflowed() {
        format!(
            "; a thread holding more than {} locks at once, whose deeper holds are not tracked (one did in this process)",
            crate::meta::MAX_HELD
        )
    } else {
        String::new()
    };
    format!(
        "(a guard leaked with `mem::forget` or kept in a value never dropped, by a thread that may have exited since; a guard taken before the watchdog started{deep}; or untracked code); `lockgraph::dump()` lists every thread's locks"
    )
}

/// Where a wait asked: its site, or, for one without (an `upgrade()`,
/// which lock_api does not pass its caller's site to), the innermost
/// program frame of its own stack.
fn asked_at(w: &WaitInfo) -> String {
    match (&w.site, w.stack.first()) {
        (None, Some(frame)) => frame.clone(),
        _ => opt_site(&w.site),
    }
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

mod order;

#[cfg(test)]
mod tests;
