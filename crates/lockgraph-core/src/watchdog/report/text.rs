//! How a report, a dump and their parts print: a lock's name, a wait's
//! notes, a hold's mode, a thread's block of lines, what the lock-order
//! graph knew, and the report's and the dump's whole text.

use super::*;

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

impl WaitInfo {
    /// The lines under the wait (text) and its `notes` (JSON): its peers
    /// ([`peer_lines`](Self::peer_lines)), and the exited thread that
    /// left its lock held.
    pub(in crate::watchdog) fn note_lines(&self) -> Vec<String> {
        let mut lines = self.peer_lines();
        lines.extend(self.left_by.as_ref().map(LeftHold::line));
        lines
    }

    /// Whether the wait blocks in timed slices (docs/watchdog.md): a
    /// lock's `lock()`, `read()`, `read_recursive()` or
    /// `upgradable_read()`; a `write()` and an `upgrade()` block once.
    fn sliced(&self) -> bool {
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
    /// ` (write, timed: gives up after 10.0s)`: the mode where
    /// [`what`](Self::what) does not say it, and a timed wait's limit.
    pub(in crate::watchdog) fn notes(&self) -> String {
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
            // The loop's time (as the wait's), and where in it the thread
            // is: in a try, or between two.
            let now = match (self.this_try, self.between_tries) {
                (_, Some(b)) => format!("; between two tries: the last gave up {b:.1?} ago"),
                (Some(t), None) => format!("; this try {t:.1?}"),
                (None, None) => String::new(),
            };
            notes.push(format!("retrying for {r:.3?}{now}"));
        }
        if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
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
                "  lock-order graph: {missing} of the cycle's {} edges {} never recorded (taken with try_lock, in untracked code, after the graph filled up, a CUDA synchronize, which is no lock, or a join or barrier wait by a queue's consumer or a barrier's party, which those roles do not order: docs/pipelines.md):",
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
/// `exclusive`, `shared` or `upgradable read`.
/// A hold as the text report says it: a role by what it is (a queue's
/// consumer, a running thread), a lock by its mode.
pub(in crate::watchdog) fn hold_text(h: &HeldInfo) -> &'static str {
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

pub(in crate::watchdog) fn hold_name(h: &HeldInfo) -> &'static str {
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
    pub(in crate::watchdog) fn now_words(&self) -> String {
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
            for line in w.note_lines() {
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
            let sliced = self
                .waiting
                .as_ref()
                .is_some_and(|w| w.sliced() && w.between_tries.is_none());
            if now == "running" && sliced {
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
                    writeln!(
                        f,
                        "      (no program frames could be resolved{})",
                        crate::report::DebugInfo::of_this_binary().no_frames_hint()
                    )?;
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
            let hint = crate::report::DebugInfo::of_this_binary().no_frames_hint();
            if !w.stack.is_empty() {
                writeln!(f, "    its stack while waiting:")?;
                for fr in &w.stack {
                    writeln!(f, "      {fr}")?;
                }
            } else if w.stack_unresolved && !hint.is_empty() {
                writeln!(f, "    its stack while waiting:")?;
                writeln!(f, "      (no program frames could be resolved{hint})")?;
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
        let n = self.threads.len();
        let others = self.others.len() + self.others_left_out;
        write!(
            f,
            "lockgraph dump (pid {}) at {}: {n} thread{}",
            self.pid,
            utc(self.taken_at),
            if n == 1 { "" } else { "s" }
        )?;
        if others > 0 {
            // The threads of the process that hold and wait for no
            // lockgraph lock: `0 threads` said nothing of a process whose
            // threads were all stuck elsewhere (found by an outside test).
            write!(
                f,
                " with lockgraph locks or waits, {others} other{}",
                if others == 1 { "" } else { "s" }
            )?;
        }
        writeln!(f)?;
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
        if !self.others.is_empty() {
            writeln!(
                f,
                "  other threads (no lockgraph lock held or waited for; not signalled for their stacks):"
            )?;
            for t in &self.others {
                let now = t.now.as_ref().map_or_else(
                    || "(no /proc state)".to_string(),
                    |p| {
                        if verbose() {
                            format!("{} [{}]", p.describe(), p.raw())
                        } else {
                            p.describe()
                        }
                    },
                );
                writeln!(f, "    thread `{}` (tid {}): {now}", t.name, t.tid)?;
            }
            if self.others_left_out > 0 {
                writeln!(f, "    ... and {} more", self.others_left_out)?;
            }
        }
        writeln!(f, "-- end of lockgraph dump --")
    }
}
