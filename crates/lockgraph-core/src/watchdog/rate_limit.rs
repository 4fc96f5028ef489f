//! The watchdog's rate limit on long-wait reports, and on the deadlock
//! reports of cycles that a timed wait ends (other deadlock reports have
//! none): how many went out in the current window, and the ones held back,
//! counted per lock waited for, to be said when the window ends and at exit.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::fork::Mutex;

/// Long-wait reports (and reports of cycles a timed wait ends) let out per
/// rate-limit window. Other deadlock reports are never held back.
pub(super) const RATE_LIMIT: u32 = 16;
pub(super) const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The long-wait rate limit: reports let out in the current window, and the
/// ones held back, counted per lock waited for.
pub(super) struct RateLimit {
    window_start: Option<Instant>,
    sent: u32,
    /// (lock, reports held back), in the order first held back.
    held_back: Vec<(String, u32)>,
}

impl RateLimit {
    pub(super) const fn new() -> RateLimit {
        RateLimit {
            window_start: None,
            sent: 0,
            held_back: Vec::new(),
        }
    }

    /// Whether a long-wait report on `lock` goes out at `now`; counts it
    /// when it does not. Call [`roll`](Self::roll) first.
    pub(super) fn admit(&mut self, now: Instant, lock: &str) -> bool {
        self.window_start.get_or_insert(now);
        if self.sent < RATE_LIMIT {
            self.sent += 1;
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
        self.sent = 0;
        let mut held = std::mem::take(&mut self.held_back);
        if held.is_empty() {
            return None;
        }
        let total: u32 = held.iter().map(|(_, n)| n).sum();
        held.sort_by_key(|h| std::cmp::Reverse(h.1));
        const SHOWN: usize = 8;
        let mut text = format!(
            "lockgraph watchdog: {total} long-wait report{} suppressed by the rate limit \
             ({RATE_LIMIT} per {RATE_WINDOW:?}) in the last {:.1?}, waiting for: ",
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
        for _ in 0..RATE_LIMIT {
            assert!(r.admit(t0, "Mutex `a`"));
        }
        assert!(!r.admit(t0, "Mutex `a`"));
        assert!(!r.admit(t0, "Mutex `b`"));
        assert!(!r.admit(t0, "Mutex `b`"));
        // Said once the window is over, most held back first.
        assert_eq!(r.roll(t0 + RATE_WINDOW - Duration::from_millis(1)), None);
        let said = r.roll(t0 + RATE_WINDOW).unwrap();
        assert!(
            said.starts_with(
                "lockgraph watchdog: 3 long-wait reports suppressed by the rate limit"
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
        for _ in 0..RATE_LIMIT {
            r.admit(t1, "Mutex `c`");
        }
        assert!(!r.admit(t1, "`channel recv`"));
        let said = r.take(t1 + Duration::from_secs(1)).unwrap();
        assert!(said.contains("1 long-wait report suppressed"), "{said}");
        assert!(said.ends_with("waiting for: `channel recv` (1)"), "{said}");
        assert_eq!(r.take(t1), None);
    }
}
