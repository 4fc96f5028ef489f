//! A barrier whose parties are in the lock-order graph
//! (`docs/pipelines.md`): a wait while holding a lock that another party
//! takes before arriving is a cycle, reported at the wait.

use std::fmt;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
use std::panic::Location;

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
use lockgraph_core::__private::{Blocking, Deadline, WaitMode};
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
use lockgraph_core::watchdog::{self, PartyToken};
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
use lockgraph_core::{resource::Resource, Class, LockKind};

/// `std::sync::Barrier`'s API: `n` parties, each `wait` blocks until all
/// `n` have called it, then all go on (and the barrier is reused).
///
/// In builds that track, a party holds the barrier from one wait to the
/// next (it is on its way to the next round), so the locks it takes
/// meanwhile are the barrier's needs, and each wait records "held locks ->
/// the barrier": a party that waits holding a lock another party takes
/// before arriving is reported at the wait. Locks a party takes before its
/// *first* wait are not learned (nothing says yet that the thread is a
/// party). The watchdog sees a wait blocked for the parties on their way.
///
/// ```
/// use std::sync::Arc;
/// let b = Arc::new(lockgraph::Barrier::named("barrier-doc", 2));
/// let b2 = b.clone();
/// let t = std::thread::spawn(move || b2.wait().is_leader());
/// let me = b.wait().is_leader();
/// assert!(me ^ t.join().unwrap());
/// ```
pub struct Barrier {
    n: usize,
    /// Parties arrived in this round, and the round.
    state: parking_lot::Mutex<(usize, u64)>,
    all_in: parking_lot::Condvar,
    #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
    res: Resource,
    /// The parties of this round so far, while the watchdog is on, and
    /// whether a round was published: a wait that no other party is on its
    /// way to names a party of the last round whose thread has exited.
    #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
    parties: parking_lot::Mutex<(Vec<PartyToken>, bool)>,
}

/// Whether this party was the round's leader (the last to arrive; one per
/// round), as `std::sync::BarrierWaitResult`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

/// As std's: `BarrierWaitResult { is_leader: true }`.
impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.0)
            .finish()
    }
}

impl BarrierWaitResult {
    /// Whether this party was the round's leader.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier of `n` parties, of the class of its creation site.
    #[track_caller]
    pub const fn new(n: usize) -> Barrier {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        {
            Barrier::with(n, Resource::new(LockKind::Barrier, Class::here()))
        }
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        {
            Barrier::plain(n)
        }
    }

    /// A barrier of `n` parties, of the class `name`.
    pub const fn named(name: &'static str, n: usize) -> Barrier {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        {
            Barrier::with(n, Resource::new(LockKind::Barrier, Class::Named(name)))
        }
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        {
            let _ = name;
            Barrier::plain(n)
        }
    }

    #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
    const fn with(n: usize, res: Resource) -> Barrier {
        Barrier {
            n,
            state: parking_lot::Mutex::new((0, 0)),
            all_in: parking_lot::Condvar::new(),
            res,
            parties: parking_lot::Mutex::new((Vec::new(), false)),
        }
    }

    #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
    const fn plain(n: usize) -> Barrier {
        Barrier {
            n,
            state: parking_lot::Mutex::new((0, 0)),
            all_in: parking_lot::Condvar::new(),
        }
    }

    /// Arrives; the round it waits for, or `None` when this party was the
    /// last (the round is over, the others are woken).
    fn arrive(&self) -> Option<u64> {
        // Before the round's lock: the first token of a thread registers
        // its watchdog slot.
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        let me = watchdog::party_token();
        let mut g = self.state.lock();
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        self.arrives(me, g.0 + 1 >= self.n);
        g.0 += 1;
        if g.0 >= self.n {
            *g = (0, g.1.wrapping_add(1));
            self.all_in.notify_all();
            None
        } else {
            Some(g.1)
        }
    }

    /// This thread (`me`, while the watchdog is on) is a party of the
    /// round: called under the round's lock, so that rounds do not mix;
    /// `last`: it completes the round, whose parties are then published
    /// for the watchdog (none with the watchdog off: nothing to publish,
    /// and a round the watchdog saw only part of is dropped).
    #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
    fn arrives(&self, me: Option<PartyToken>, last: bool) {
        if me.is_none() && !last {
            return;
        }
        let mut p = self.parties.lock();
        p.0.extend(me);
        if last {
            let round = std::mem::take(&mut p.0);
            if round.len() == self.n {
                p.1 = true;
                watchdog::publish_round(self.res.meta(), round);
            }
        }
    }

    /// Blocks until all parties have called `wait`.
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        {
            let site = Location::caller();
            self.res.stop_serving();
            self.res.before_block(Some(site));
            let leader = match self.arrive() {
                None => true,
                Some(round) => {
                    // For the watchdog's reports (once; not on the
                    // leader's path).
                    self.res.publish_size(self.n);
                    self.res.wait(
                        Round {
                            barrier: self,
                            round,
                        },
                        WaitMode::Barrier,
                        Some(site),
                        None,
                    );
                    false
                }
            };
            self.res.blocked_done();
            self.res.serve(Some(site));
            BarrierWaitResult(leader)
        }
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        {
            match self.arrive() {
                None => BarrierWaitResult(true),
                Some(round) => {
                    let mut g = self.state.lock();
                    while g.1 == round {
                        self.all_in.wait(&mut g);
                    }
                    BarrierWaitResult(false)
                }
            }
        }
    }
}

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
impl Drop for Barrier {
    fn drop(&mut self) {
        if self.parties.get_mut().1 {
            watchdog::forget_rounds(self.res.meta());
        }
    }
}

/// Waiting for the end of a round.
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
#[derive(Clone, Copy)]
struct Round<'a> {
    barrier: &'a Barrier,
    round: u64,
}

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
impl Blocking for Round<'_> {
    fn try_now(&self) -> bool {
        self.barrier.state.lock().1 != self.round
    }
    fn block(&self) {
        let mut g = self.barrier.state.lock();
        while g.1 == self.round {
            self.barrier.all_in.wait(&mut g);
        }
    }
    fn block_until(&self, deadline: Deadline) -> bool {
        let Some(end) = deadline.instant() else {
            self.block();
            return true;
        };
        let mut g = self.barrier.state.lock();
        while g.1 == self.round {
            if self.barrier.all_in.wait_until(&mut g, end).timed_out() {
                return g.1 != self.round;
            }
        }
        true
    }
}

/// As std's: `Barrier { .. }`.
impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}
