//! A long wait's last line: by what it waits for (a blocking call, a
//! condvar, a queue, a barrier, a permit), the holds it keeps others out
//! with, and the holder to look at; and where to look when no thread holds
//! the lock.

use super::*;

impl WatchdogReport {
    pub(super) fn long_wait_advice(&self) -> String {
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
                // The holder is the one not to wait while holding the
                // lock (found by an outside test: "do not wait for it
                // while holding ...", ending the report of a thread that
                // held nothing, read as said to that thread).
                format!(
                    "what to do: thread `{}`, which holds {}, itself waits for {hw}: follow that wait (its own report, or `lockgraph::dump()`); thread `{}` should not wait for {hw} while holding {}{also}",
                    h.name, w.lock, h.name, w.lock
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
            None if w.left_by.is_some() => {
                let l = w.left_by.as_ref().map_or_else(String::new, |l| {
                    format!(
                        "thread `{}` took it at {} and exited at {} without releasing it",
                        l.thread,
                        opt_site(&l.site),
                        utc(l.exited_at)
                    )
                });
                format!(
                    "what to do: {l}, so no thread can take {} again: its guard was leaked (`mem::forget`, or kept in a value never dropped, such as a thread-local or a leaked `Box`); drop the guard before the thread ends",
                    w.lock
                )
            }
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
pub(in crate::watchdog) fn unseen_holder() -> String {
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
