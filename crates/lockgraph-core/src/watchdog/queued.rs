//! A long wait's advice for a reader queued behind a waiting writer: the
//! hold to shorten is the read the writer waits for, not the writer's.

use super::*;

impl WatchdogReport {
    /// The advice of a long wait whose waiter (`read()` or
    /// `upgradable_read()`) is kept out by a queued `write()` or `upgrade()`
    /// of the lock (parking_lot lets no new reader past a waiting writer):
    /// the queued thread, and the holds it waits for (the report's threads
    /// after it that hold the lock; `add_queue_holders`). `None` when the
    /// waiter is not queued so.
    pub(super) fn queued_reader_advice(&self) -> Option<String> {
        let t = self.threads.first()?;
        let w = t.waiting.as_ref()?;
        if !matches!(w.mode, Some(WaitMode::Read | WaitMode::UpgradableRead)) {
            return None;
        }
        let queued = |q: &&ThreadInfo| {
            q.waiting.as_ref().is_some_and(|qw| {
                qw.lock.id == w.lock.id
                    && matches!(qw.mode, Some(WaitMode::Write | WaitMode::Upgrade))
            })
        };
        let q = self.threads[1..].iter().find(queued)?;
        let op = match q.waiting.as_ref().and_then(|qw| qw.mode) {
            Some(WaitMode::Upgrade) => "an upgrade",
            _ => "a write",
        };
        let holders: Vec<(&ThreadInfo, &HeldInfo)> = self.threads[1..]
            .iter()
            .filter(|h| h.name != q.name || h.tid != q.tid)
            .filter_map(|h| {
                h.held
                    .iter()
                    .find(|x| x.lock.id == w.lock.id)
                    .map(|x| (h, x))
            })
            .collect();
        let head = format!(
            "what to do: thread `{}` waits behind thread `{}`, queued for {op} of {} (a waiting writer keeps new readers out), which waits for",
            t.name, q.name, w.lock
        );
        // read_recursive passes a waiting writer: said only where the
        // read would recurse, the waiter holding a read of the lock already.
        let own_read = t
            .held
            .iter()
            .find(|h| h.lock.id == w.lock.id && h.hold == Hold::Shared);
        let recursive = match own_read {
            Some(h) if w.mode == Some(WaitMode::Read) => format!(
                "; thread `{}` already holds a read of {} (taken at {}): take this one with read_recursive, which passes a waiting writer",
                t.name,
                w.lock,
                opt_site(&h.site)
            ),
            _ => String::new(),
        };
        if holders.is_empty() {
            return Some(format!(
                "{head} a read no thread the watchdog sees holds {}",
                unseen_holder()
            ));
        }
        let each: Vec<String> = holders
            .iter()
            .map(|(h, x)| {
                let now = match &h.waiting {
                    Some(hw) if hw.deadlocked => {
                        format!("itself deadlocked, waiting for {}", hw.what())
                    }
                    Some(hw) => format!("itself waiting for {}", hw.what()),
                    None => format!("now {}", h.now_words()),
                };
                let what = if x.upgradable {
                    "upgradable read"
                } else {
                    "read"
                };
                format!(
                    "thread `{}`'s {what} (taken at {}, held at least {:.1?}, {now})",
                    h.name,
                    opt_site(&x.site),
                    x.held_for
                )
            })
            .collect();
        let waiting: Vec<&str> = holders
            .iter()
            .filter(|(h, _)| h.waiting.is_some())
            .map(|(h, _)| h.name.as_str())
            .collect();
        let deadlocked: Vec<String> = holders
            .iter()
            .filter(|(h, _)| h.waiting.as_ref().is_some_and(|hw| hw.deadlocked))
            .map(|(h, _)| format!("`{}`", h.name))
            .collect();
        let todo = if !deadlocked.is_empty() {
            format!(
                "thread {} {} deadlocked, on a wait-for cycle (the watchdog's DEADLOCK report, or `lockgraph::dump()`, shows it): break that cycle, and this wait ends with it",
                and_list(&deadlocked),
                if deadlocked.len() == 1 { "is" } else { "are" }
            )
        } else if !waiting.is_empty() {
            let names: Vec<String> = waiting.iter().map(|n| format!("`{n}`")).collect();
            format!(
                "follow the wait of thread {} (its own report, or `lockgraph::dump()`), and do not wait while holding {}",
                and_list(&names),
                w.lock
            )
        } else if holders.len() == 1 {
            "shorten that hold: move the slow work out of the critical section, or find why it does not return".to_string()
        } else {
            "shorten those holds: move the slow work out of the critical sections, or find why they do not return".to_string()
        };
        Some(format!("{head} {}: {todo}{recursive}", and_list(&each)))
    }
}
