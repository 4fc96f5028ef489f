//! The watchdog's rate limit on long-wait reports, and on the deadlock
//! reports of cycles that a timed wait ends (other deadlock reports have
//! none): how many went out in the current window, in all and per lock
//! waited for (a crowd of waiters on one lock must not spend the budget
//! that a hang on another lock needs), and the ones held back, counted per
//! lock waited for, to be said when the window ends and at exit.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::fork::Mutex;

/// Long-wait reports (and reports of cycles a timed wait ends) let out per
/// rate-limit window. Other deadlock reports are never held back.
pub(super) const RATE_LIMIT: u32 = 16;
/// Of those, the reports let out per lock waited for (per label, as
/// reports name it: a cycle's locks together count as one).
pub(super) const PER_LOCK: u32 = 2;
pub(super) const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The long-wait rate limit: reports let out in the current window, and the
/// ones held back, counted per lock waited for.
pub(super) struct RateLimit {
    window_start: Option<Instant>,
    /// (lock, reports let out) in the current window: their sum is the
    /// window's.
    sent_per_lock: Vec<(String, u32)>,
    /// (lock, reports held back), in the order first held back.
    held_back: Vec<(String, u32)>,
}

impl RateLimit {
    pub(super) const fn new() -> RateLimit {
        RateLimit {
            window_start: None,
            sent_per_lock: Vec::new(),
            held_back: Vec::new(),
        }
    }

    /// Whether a long-wait report on `lock` goes out at `now`: fewer than
    /// [`RATE_LIMIT`] went out in the window, and fewer than [`PER_LOCK`]
    /// on `lock`; counts it when it does not. Call [`roll`](Self::roll)
    /// first.
    pub(super) fn admit(&mut self, now: Instant, lock: &str) -> bool {
        self.window_start.get_or_insert(now);
        let on_lock = self.sent_per_lock.iter().position(|(l, _)| l == lock);
        let lock_ok = on_lock.is_none_or(|k| self.sent_per_lock[k].1 < PER_LOCK);
        let sent: u32 = self.sent_per_lock.iter().map(|(_, n)| n).sum();
        if sent < RATE_LIMIT && lock_ok {
            match on_lock {
                Some(k) => self.sent_per_lock[k].1 += 1,
                None => self.sent_per_lock.push((lock.to_string(), 1)),
            }
            return true;
        }
        match self.held_back.iter_mut().find(|(l, _)| l == lock) {
            Some((_, n)) => *n += 1,
            None => self.held_back.push((lock.to_string(), 1)),
        }
        false
    }

    /// At `now`: when the window is over, starts a new one and returns what
    /// to say of the reports held back in it.
    pub(super) fn roll(&mut self, now: Instant) -> Option<String> {
        let start = self.window_start?;
        if now.saturating_duration_since(start) < RATE_WINDOW {
            return None;
        }
        self.take(now)
    }

    /// What to say of the reports held back since the window started
    /// (`None`: none), starting a new window.
    pub(super) fn take(&mut self, now: Instant) -> Option<String> {
        let start = self.window_start.take()?;
        self.sent_per_lock.clear();
        let mut held = std::mem::take(&mut self.held_back);
        if held.is_empty() {
            return None;
        }
        let total: u32 = held.iter().map(|(_, n)| n).sum();
        held.sort_by_key(|h| std::cmp::Reverse(h.1));
        const SHOWN: usize = 8;
        let mut text = format!(
            "lockgraph watchdog: {total} long-wait report{} suppressed by the rate limit \
             ({RATE_LIMIT} per {RATE_WINDOW:?}, {PER_LOCK} per lock) in the last {:.1?}, \
             waiting for: ",
            if total == 1 { "" } else { "s" },
            now.saturating_duration_since(start)
        );
        for (i, (lock, n)) in held.iter().take(SHOWN).enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "{lock} ({n})");
        }
        if held.len() > SHOWN {
            let _ = write!(text, ", and {} more locks", held.len() - SHOWN);
        }
        Some(text)
    }
}

pub(super) static RATE: Mutex<RateLimit> = Mutex::new(RateLimit::new());

/// Says (at exit) how many long-wait reports the rate limit held back.
pub(super) fn say_suppressed() {
    let summary = RATE.lock().take(Instant::now());
    if let Some(text) = summary {
        crate::delivery::send_to(crate::delivery::Notice::warn(text), super::dispatch());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_wait_rate_limit_counts_what_it_holds_back_per_lock_and_says_it_after_the_window() {
        let mut r = RateLimit::new();
        let t0 = Instant::now();
        let lock = |i: u32| format!("Mutex `m{i}`");
        for i in 0..RATE_LIMIT / PER_LOCK {
            for _ in 0..PER_LOCK {
                assert!(r.admit(t0, &lock(i)));
            }
        }
        // The window's budget is spent: a new lock is held back too.
        assert!(!r.admit(t0, "Mutex `a`"));
        assert!(!r.admit(t0, "Mutex `b`"));
        assert!(!r.admit(t0, "Mutex `b`"));
        // Said once the window is over, most held back first.
        assert_eq!(r.roll(t0 + RATE_WINDOW - Duration::from_millis(1)), None);
        let said = r.roll(t0 + RATE_WINDOW).unwrap();
        assert!(
            said.starts_with(
                "lockgraph watchdog: 3 long-wait reports suppressed by the rate limit \
                 (16 per 60s, 2 per lock)"
            ),
            "{said}"
        );
        assert!(
            said.ends_with("waiting for: Mutex `b` (2), Mutex `a` (1)"),
            "{said}"
        );
        // A new window: the budget again, and nothing to say.
        let t1 = t0 + RATE_WINDOW;
        assert!(r.admit(t1, "Mutex `a`"));
        assert_eq!(r.roll(t1 + RATE_WINDOW), None);
        // At exit: what was held back so far, before the window ends.
        for _ in 0..PER_LOCK {
            r.admit(t1, "Mutex `c`");
        }
        assert!(!r.admit(t1, "Mutex `c`"));
        let said = r.take(t1 + Duration::from_secs(1)).unwrap();
        assert!(said.contains("1 long-wait report suppressed"), "{said}");
        assert!(said.ends_with("waiting for: Mutex `c` (1)"), "{said}");
        assert_eq!(r.take(t1), None);
    }

    /// A crowd of waiters on one lock spends that lock's budget only: a
    /// hang on another lock is still reported (the crowd's 16 reports
    /// held back the other lock's; found by an outside test).
    #[test]
    fn many_waiters_on_one_lock_leave_the_budget_to_other_locks() {
        let mut r = RateLimit::new();
        let t0 = Instant::now();
        let admitted = (0..50).filter(|_| r.admit(t0, "Mutex `db-pool`")).count();
        assert_eq!(admitted, PER_LOCK as usize);
        assert!(r.admit(t0, "Mutex `config`"));
        assert!(r.admit(t0, "`channel recv`"));
        let said = r.take(t0 + Duration::from_secs(2)).unwrap();
        assert!(
            said.ends_with("waiting for: Mutex `db-pool` (48)"),
            "{said}"
        );
    }
}
