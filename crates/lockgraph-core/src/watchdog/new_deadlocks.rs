//! The deadlocks among the threads now, each returned once: the view that
//! parking_lot's `deadlock::check_deadlock` gives, for code written for it
//! (the facade's `lockgraph::deadlock`). The watchdog's own DEADLOCK
//! reports come from its scans; this is a copy taken on the caller's
//! thread, judged the same way (`verdict::dump_deadlocks`'s cycles).

use super::*;

/// A deadlock's threads, as its DEADLOCK report has them: (thread key,
/// wait serial) of each, sorted. Two calls see the same deadlock when
/// these are equal.
type Key = Vec<(u64, u64)>;

/// What [`new_deadlocks`] remembers between calls: the deadlocks it
/// returned, and those it held back for their waiters' stacks (with how
/// many calls saw them). Bounded: emptied past [`REMEMBERED`] entries.
#[derive(Default)]
struct Seen {
    returned: HashSet<Key>,
    waiting_for_stacks: HashMap<Key, u32>,
}

static SEEN: std::sync::Mutex<Option<Seen>> = std::sync::Mutex::new(None);

/// How many deadlocks [`SEEN`] keeps before it starts again.
const REMEMBERED: usize = 4096;

/// How many calls a deadlock is held back while a waiter has not captured
/// its stack yet (each waiter captures its own once it has waited a
/// timeout, or once the watchdog's scan sees it on a cycle).
const STACK_CALLS: u32 = 3;

/// The deadlocks among the threads now that no earlier call returned, each
/// as its DEADLOCK report (the cycle's threads, their waits with the stacks
/// they captured, their holds). A cycle with a timed wait is left out: it
/// ends when that wait gives up (parking_lot's `check_deadlock` leaves such
/// waits out too). A deadlock whose waiters have not captured their stacks
/// yet is held back for up to three calls.
///
/// Threads publish their holds and waits only while the watchdog is on
/// ([`on`]): with it off, this finds nothing.
pub fn new_deadlocks() -> Vec<WatchdogReport> {
    let snaps = snapshot();
    let now = now_ns();
    let wall = std::time::SystemTime::now();
    let edges = wait_for_edges(&snaps);
    let (groups, on_cycle) = super::verdict::deadlock_groups(&snaps, &edges);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(Seen::default);
    if seen.returned.len() + seen.waiting_for_stacks.len() >= REMEMBERED {
        *seen = Seen::default();
    }
    let mut out = Vec::new();
    for (cycle, _) in groups {
        if super::verdict::has_timed_wait(&snaps, &cycle) {
            continue;
        }
        let mut key: Key = cycle
            .iter()
            .map(|&i| (snaps[i].slot.key, snaps[i].wait.map_or(0, |w| w.serial)))
            .collect();
        key.sort_unstable();
        if seen.returned.contains(&key) {
            continue;
        }
        let stacks = cycle.iter().all(|&i| {
            snaps[i]
                .wait
                .is_some_and(|w| stack_of(&snaps[i].slot, w.serial).is_some())
        });
        if !stacks {
            let calls = seen.waiting_for_stacks.entry(key.clone()).or_insert(0);
            *calls += 1;
            if *calls < STACK_CALLS {
                continue;
            }
        }
        seen.waiting_for_stacks.remove(&key);
        seen.returned.insert(key);
        let mut report = super::verdict::deadlock_report(&snaps, &cycle, now, wall, Action::Report);
        add_blocked_peers(&mut report.threads, &cycle, &snaps, &edges, &on_cycle, now);
        out.push(report);
    }
    out
}
