//! The words of a report's last line (`what to do:`), a deadlock's and a
//! long wait's on a queue, shared by the thread watchdog (`words.rs`,
//! `peers.rs`) and the task watchdog (`crate::task`), which decide alike
//! from their own data which one applies: who waits is `thread `t`` in one
//! and `task 3` (or a thread waiting for an async lock) in the other.

use std::time::Duration;

/// ` (taken at <site>)`, or nothing where no hold was found.
fn taken(at: Option<&str>) -> String {
    at.map_or_else(String::new, |s| format!(" (taken at {s})"))
}

/// A wait for a lock its owner already holds: drop the first guard.
/// `instead`: what else would let it ask again (` (or use a
/// ReentrantMutex)`), or empty.
pub(crate) fn ask_again(
    who: &str,
    what: &str,
    at: &str,
    held_at: Option<&str>,
    instead: &str,
) -> String {
    format!(
        "what to do: {who} asks for {what} at {at} while it already holds it{}: drop the first guard before asking again{instead}",
        taken(held_at)
    )
}

/// Every wait of the cycle is by a role (a queue's consumer, a barrier's
/// party, a joined thread), which nothing can release. `who`: `thread`,
/// or `task or thread`.
pub(crate) fn roles_only(who: &str) -> String {
    format!(
        "what to do: every {who} of this cycle waits in a role it cannot release (a queue's consumer, a barrier's party, a thread being joined): change the plan, so that no consumer, party or joined thread waits for another of them"
    )
}

/// A cycle through a role: the one waiter that holds a lock while it asks
/// releases it first. `first`: `, or take <lock> first`, or empty.
pub(crate) fn release_before(
    who: &str,
    what: &str,
    at: &str,
    holding: &str,
    held_at: Option<&str>,
    first: &str,
) -> String {
    format!(
        "what to do: {who} asks for {what} at {at} while holding {holding}{}: release it before that call{first}",
        taken(held_at)
    )
}

/// `n` locks of one class (`label`): their names say no order, so the
/// advice is to give them one.
pub(crate) fn one_class(n: usize, label: &str) -> String {
    format!(
        "what to do: these {n} locks are of one class ({label}): give them an order of their own (a key each object has: an id, an index, its address) and take any two in that order everywhere, or take them one at a time"
    )
}

/// A cycle with a lock twice (or an upgrade): no order of distinct locks
/// to adopt; the first waiter releases what it holds, or takes both in one
/// order.
pub(crate) fn release_or_order(
    who: &str,
    what: &str,
    at: &str,
    holding: &str,
    held_at: Option<&str>,
) -> String {
    format!(
        "what to do: {who} waits for {what} at {at} while holding {holding}{}: release that before waiting, or take both in one order everywhere",
        taken(held_at)
    )
}

/// The lock order to adopt (the cycle's locks in wait order) and the one
/// waiter that breaks it: it asks for `asks`, the order's first lock,
/// while holding `holding`, its last.
pub(crate) fn adopt_order(
    order: &[String],
    who: &str,
    asks: &str,
    at: &str,
    holding: &str,
    held_at: Option<&str>,
) -> String {
    format!(
        "what to do: adopt one lock order everywhere, {}; {}",
        order.join(" before "),
        breaks(who, asks, at, holding, held_at)
    )
}

/// `who breaks it: ...`: the waiter against the order, what it asks for
/// while holding what, and the two ways out.
fn breaks(who: &str, asks: &str, at: &str, holding: &str, held_at: Option<&str>) -> String {
    format!(
        "{who} breaks it: it asks for {asks} at {at} while holding {holding}{}: release it before that call, or take {asks} first",
        taken(held_at)
    )
}

/// The lock order to adopt (the cycle's locks in wait order, from a lock
/// picked without the lock-order graph) where nothing says which order the
/// program set first: an example, and the one waiter that goes against
/// that example (it asks for `asks`, its first lock, while holding
/// `holding`, its last), which another order would spare.
pub(crate) fn adopt_order_example(
    order: &[String],
    who: &str,
    asks: &str,
    at: &str,
    holding: &str,
    held_at: Option<&str>,
) -> String {
    format!(
        "what to do: adopt one lock order everywhere, for example {}; in that order {} (the lock-order graph did not see which order the program set first: another order of these locks moves the change to another thread of the cycle)",
        order.join(" before "),
        breaks(who, asks, at, holding, held_at)
    )
}

/// A consumer sending into its own full queue: it waits for itself to
/// receive (it holds the consumer role, not a guard). `other`: `thread`
/// or `task`, for "send from another ...". `became_at`: where it received.
pub(crate) fn self_send(
    who: &str,
    queue: &str,
    at: &str,
    became_at: Option<&str>,
    other: &str,
) -> String {
    format!(
        "what to do: {who} sends into {queue} at {at} while the queue is full and it is a consumer of the queue{}: it waits for itself to receive; receive before sending, send from another {other}, or use `try_send` (or an unbounded queue)",
        became_at.map_or_else(String::new, |s| format!(" (it received from it at {s})"))
    )
}

/// An owner asking for a permit while it holds the permits it waits for.
pub(crate) fn self_permit(who: &str, what: &str, at: &str, held_at: Option<&str>) -> String {
    format!(
        "what to do: {who} asks for {what} at {at} while it holds the permits it waits for{}: release one before asking again, or ask for all it needs at once",
        held_at.map_or_else(String::new, |s| format!(" (one taken at {s})"))
    )
}

/// A receive on an empty queue that nothing has sent on for `waited`:
/// who ends it (a producer's send, or every Sender dropped). `senders`:
/// the Senders alive, where known; `who`: `thread` or `task`, the waiter.
pub(crate) fn nothing_sent(
    queue: &str,
    waited: Duration,
    senders: Option<usize>,
    who: &str,
) -> String {
    let alive = senders.map_or_else(String::new, |n| {
        format!(
            " and {n} Sender{} alive",
            if n == 1 { " is" } else { "s are" }
        )
    });
    format!(
        "what to do: nothing has been sent on {queue} for {waited:.1?}{alive}: if the producers are done, drop every Sender (one kept by this {who}'s joiner, or by this {who} itself, too) so that the receive ends"
    )
}

/// A send into a full queue that no one consumes (its Receiver alive):
/// who should receive.
pub(crate) fn nothing_receives(queue: &str) -> String {
    format!(
        "what to do: nothing receives from {queue}: keep a consumer receiving until the senders are done, or drop its Receiver when it stops (a send then fails instead of waiting)"
    )
}

/// A wait (a receive, a send, a condvar wait, a call: `across`) while
/// the waiter holds `holding` (`many`: more than one lock), which `ender`
/// (`that thread`, `a task or thread waiting for it`) may need before it
/// can end the wait.
pub(crate) fn held_across(holding: &str, many: bool, ender: &str, across: &str) -> String {
    format!(
        "meanwhile it holds {holding}: if {ender} is the one that would end this wait, it never ends; do not hold {} across {across}",
        if many { "them" } else { "it" }
    )
}
