//! Waits: registering a thread's wait in its slot, the wait modes, and the
//! wait protocols of the lock types (a lock taken in timed slices, a condvar
//! park, a blocking call).

use super::*;

/// A registered wait; unregisters (restoring an outer wait) when dropped.
pub(super) struct WaitGuard {
    prev: Option<(u8, u64, RawEntry, u64)>,
    serial: u64,
    start: Instant,
    /// When the wait began, in [`now_ns`]'s clock: for a try of a retry
    /// loop, when the loop's first try began (the waiter is late, and
    /// captures its stack, once the loop has lasted the timeout).
    loop_since: u64,
    captured: bool,
    /// A timed wait's lock id and limit (its end is noted in the slot's
    /// [`Streak`] when it gave up).
    timed_id: Option<(u64, Duration)>,
    /// An untimed wait's lock id, and whether it is a wait for a lock's
    /// holders ([`WaitMode::Join`]): its end ends a retry loop of timed
    /// waits of that lock (it got it), or of any (the synchronize or join
    /// returned: what the tries waited for is done).
    untimed_id: Option<(u64, bool)>,
}

/// Registers a wait; `limit` is a timed wait's limit (`None`: no limit).
pub(super) fn register(state: u8, e: RawEntry, limit: Option<Duration>) -> WaitGuard {
    // Someone must look at the wait (the thread may not run yet, in a
    // forked child).
    ensure_running();
    let mut g = WaitGuard {
        prev: None,
        serial: 0,
        start: Instant::now(),
        // Set to the loop's start in the slot below; now if there is none.
        loop_since: now_ns(),
        captured: false,
        timed_id: limit.map(|l| (e.id, l)),
        untimed_id: (limit.is_none() && state != WAIT_RESOURCE)
            .then_some((e.id, e.mode == WaitMode::Join as u8)),
    };
    let limit = limit.map_or(NO_LIMIT, |l| super::saturating_nanos(l).min(NO_LIMIT - 1));
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
        let now = now_ns();
        g.loop_since = now;
        if g.timed_id.is_some() {
            // A retry: the same lock asked again within the timeout of the
            // last timed wait's end, which gave up (a back-off shorter
            // than the timeout does not end the loop; found by an outside
            // test: a loop that slept 150 ms between tries, longer than a
            // scan period, was never reported).
            let mut st = s.streak.lock();
            let gap = super::saturating_nanos(config().timeout);
            let again =
                st.last_end != 0 && st.last_id == e.id && now.saturating_sub(st.last_end) <= gap;
            if !again {
                st.since = now;
                st.first_serial = g.serial;
            }
            g.loop_since = st.since;
            // The previous try's stack, kept once the loop was late, is
            // this one's when it asks from the same site (a loop of short
            // tries captures it once, not at every try).
            let (prev, same_site) = (st.serial, st.last.site == e.site);
            st.serial = g.serial;
            st.last = RawEntry { since: now, ..e };
            st.last_limit = limit;
            drop(st);
            if again && same_site {
                if let Some((serial, _)) = s.stack.lock().as_mut().filter(|(x, _)| *x == prev) {
                    *serial = g.serial;
                    g.captured = true;
                }
            }
        }
        s.begin();
        s.wait.store(RawEntry { since: now, ..e });
        s.wait_limit.store(limit, Ordering::Relaxed);
        s.wait_serial.store(g.serial, Ordering::Relaxed);
        s.wait_state.store(state, Ordering::Relaxed);
        s.end();
    });
    g
}

impl WaitGuard {
    /// Called between slices: captures the waiter's stack once it is late
    /// (a try of a retry loop: once the loop has lasted the timeout; it
    /// waited for the current try's, which never came for tries shorter
    /// than the timeout, and the report then waited ten scans for it:
    /// found by an outside test, a loop reported a second after the
    /// timeout whatever the timeout).
    pub(super) fn check(&mut self, timeout: Duration) {
        if self.captured {
            return;
        }
        let serial = self.serial;
        let mut wanted =
            now_ns().saturating_sub(self.loop_since) >= super::saturating_nanos(timeout);
        with_slot(|s| wanted |= s.want_stack.load(Ordering::Relaxed) == serial);
        if wanted {
            self.capture();
        }
    }

    /// Captures the waiter's stack now, for its reports.
    pub(super) fn capture(&mut self) {
        self.captured = true;
        let (serial, bt) = (self.serial, Backtrace::capture());
        with_slot(|s| *s.stack.lock() = Some((serial, bt)));
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let timed_id = self.timed_id;
        let mut keep_stack = false;
        with_slot(|s| {
            if let Some((id, limit)) = timed_id {
                // Only a try that gave up (its limit passed) can be followed
                // by a retry: a try that got the lock, or a notified
                // condvar wait, ends the loop (a contended lock's run of
                // short successful tries was taken for one long loop;
                // found by a review).
                let mut st = s.streak.lock();
                if self.start.elapsed() >= limit {
                    st.last_id = id;
                    st.last_end = now_ns();
                    // The next try may keep its stack (`register`).
                    keep_stack = prev.is_none();
                } else {
                    st.last_end = 0;
                }
            }
            if let Some((id, join)) = self.untimed_id {
                // A fresh wait after it is no retry (found by an outside
                // test: a synchronize that gave up, a release, a
                // synchronize that drained the stream, and a new timed
                // synchronize was said to be "retrying").
                let mut st = s.streak.lock();
                if join || st.last_id == id {
                    st.last_end = 0;
                }
            }
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
            if self.captured && !keep_stack {
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
    /// A send into a full bounded queue: waits for the queue's consumers
    /// (the threads holding it as consumers, `docs/pipelines.md`).
    Send,
    /// A receive from an empty queue: waits for an item, from whichever
    /// thread will send it (unknown, as a condvar's notifier).
    Recv,
    /// A semaphore's acquire: waits for the permit holders.
    Permit,
    /// A join: waits for the joined thread.
    Join,
    /// A barrier's wait: waits for the parties that have not arrived.
    Barrier,
}

impl WaitMode {
    pub(super) const ALL: [WaitMode; 12] = [
        WaitMode::Lock,
        WaitMode::Read,
        WaitMode::RecursiveRead,
        WaitMode::Write,
        WaitMode::UpgradableRead,
        WaitMode::Upgrade,
        WaitMode::Condvar,
        WaitMode::Send,
        WaitMode::Recv,
        WaitMode::Permit,
        WaitMode::Join,
        WaitMode::Barrier,
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

    /// The hold a successful wait in this mode takes (an upgrade ends
    /// exclusive; a condvar wait takes nothing: its mutex is re-taken as
    /// `Lock`).
    pub fn hold(self) -> Hold {
        match self {
            // A permit is one of several: shared (it gates no edge).
            WaitMode::Read
            | WaitMode::RecursiveRead
            | WaitMode::UpgradableRead
            | WaitMode::Permit => Hold::Shared,
            _ => Hold::Exclusive,
        }
    }

    /// Its name in reports: `exclusive`, `read`, `recursive read`, `write`,
    /// `upgradable read`, `upgrade`, `condvar`, `send`, `receive`, `permit`,
    /// `join`, `barrier wait`.
    pub fn name(self) -> &'static str {
        match self {
            WaitMode::Lock => "exclusive",
            WaitMode::Read => "read",
            WaitMode::RecursiveRead => "recursive read",
            WaitMode::Write => "write",
            WaitMode::UpgradableRead => "upgradable read",
            WaitMode::Upgrade => "upgrade",
            WaitMode::Condvar => "condvar",
            WaitMode::Send => "send",
            WaitMode::Recv => "receive",
            WaitMode::Permit => "permit",
            WaitMode::Join => "join",
            WaitMode::Barrier => "barrier wait",
        }
    }

    pub(super) fn decode(m: u8) -> WaitMode {
        WaitMode::ALL
            .get(usize::from(m))
            .copied()
            .unwrap_or(WaitMode::Lock)
    }
}

/// Registers a wait for `meta` in `mode`, asked at `site`, that gives up at
/// `deadline` (`None`: never).
fn register_lock(
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    deadline: Option<Instant>,
) -> WaitGuard {
    let limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    register_as(meta, meta.class(), mode, site, limit)
}

/// Registers a wait for `meta`'s id in `mode`, its lock named by `class`,
/// asked at `site`, that gives up after `limit` (`None`: never).
fn register_as(
    meta: &LockMeta,
    class: Class,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    limit: Option<Duration>,
) -> WaitGuard {
    let (class_tag, class_a, class_b) = encode_class(class);
    register(
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
        limit,
    )
}

/// Blocks in `timed` slices until it succeeds, registered as a wait on
/// `meta` in `mode`, asked at `site`; returns false once `deadline` (if
/// any) passed. Between slices, the waiter captures its own stack once it
/// is late (or a scan asked for it).
#[cold]
#[inline(never)]
pub(crate) fn wait_lock(
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    deadline: Option<Instant>,
    mut timed: impl FnMut(Duration) -> bool,
) -> bool {
    // Registered first: a process's first wait starts the watchdog (from
    // the environment) as it registers, and only then is the environment's
    // configuration in force; read before, the default's 5 s timeout kept
    // the waiter from capturing its stack, and its report came a second
    // late (found by an outside test).
    let mut g = register_lock(meta, mode, site, deadline);
    let cfg = config();
    let slice = cfg.slice();
    if deadline.is_some() {
        // A try of a loop that is late already: its stack now (a try
        // shorter than a slice never reaches the check between slices).
        g.check(cfg.timeout);
    }
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

/// Runs `block`, a wait that must not be cut into slices
/// (`primitive::Blocking::WHOLE`: it ends when it succeeds, or gives up at
/// `deadline`), registered as a wait on `meta` in `mode`, asked at `site`;
/// returns what `block` did. The waiter's stack is captured before it
/// blocks (a few microseconds), since it cannot capture it later.
#[cold]
#[inline(never)]
pub(crate) fn wait_lock_whole(
    meta: &LockMeta,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    deadline: Option<Instant>,
    block: impl FnOnce() -> bool,
) -> bool {
    let mut g = register_lock(meta, mode, site, deadline);
    g.check(Duration::ZERO);
    block()
}

/// Runs `f`, a wait for the work of whoever holds `meta` (a CUDA stream's
/// host function, on the executor thread that holds the stream's, or the
/// context's executor's, pseudo-lock while it runs one), registered as a wait on `meta`'s id in
/// [`WaitMode::Join`] and named `what` (what the caller knows of the wait:
/// the stream, the work pending on it), requested at `site`, given up at
/// `deadline`.
pub(crate) fn wait_for_holders<R>(
    meta: &LockMeta,
    what: &'static str,
    site: &'static Location<'static>,
    deadline: Option<Instant>,
    f: impl FnOnce() -> R,
) -> R {
    let limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let mut g = register_as(meta, Class::Named(what), WaitMode::Join, Some(site), limit);
    // Its stack now, as a blocking call's: the wait is not sliced (found
    // by a review: a synchronize in a deadlock had no stack, and its
    // report waited for one).
    g.capture();
    f()
}

/// Runs `park`, a condvar wait that ends by `deadline` at the latest
/// (`None`: no limit), registered as a wait on the condvar `meta` requested
/// at `site`. A wait whose deadline is closer than the timeout could never
/// be reported, so it is not registered.
pub(crate) fn condvar_wait<R>(
    meta: &LockMeta,
    site: Option<&'static Location<'static>>,
    deadline: Option<Instant>,
    park: impl FnOnce() -> R,
) -> R {
    let limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    // The environment's timeout, not the default's, for a process's first
    // wait (the watchdog starts, configured, when it is first needed).
    ensure_running();
    if limit.is_some_and(|l| l <= config().timeout) {
        return park();
    }
    let _g = register_as(meta, meta.class(), WaitMode::Condvar, site, limit);
    park()
}

/// Runs a blocking call registered as a wait on the resource `what`, made
/// at `site`. Its stack is captured first (raw addresses, about 1.7 us in
/// a release build, docs/watchdog.md): the call cannot capture it once it is late, as a lock
/// waiter does between its slices, and the watchdog does not signal a
/// thread inside a blocking call for it (the signal could interrupt the
/// call) — without it a report names only the call's site, which in a
/// helper that every caller goes through says nothing of who is stuck.
pub(crate) fn blocking<R>(
    what: &'static str,
    site: &'static Location<'static>,
    f: impl FnOnce() -> R,
) -> R {
    let mut g = register(
        WAIT_RESOURCE,
        RawEntry {
            id: 0,
            class_tag: 2,
            class_a: what.as_ptr() as usize,
            class_b: what.len(),
            kind: encode_kind(LockKind::Other),
            mode: 0,
            site: site_word(Some(site)),
            since: 0,
        },
        None,
    );
    g.capture();
    f()
}
