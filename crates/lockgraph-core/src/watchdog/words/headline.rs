//! A report's first line: what happened, since when (a UTC date), and
//! what the watchdog did about it.

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

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
    /// last of its threads started to wait; a long wait when it started (a
    /// retry loop's thread: when its first try started,
    /// [`WaitInfo::retrying`]).
    pub fn since(&self) -> SystemTime {
        let waited = match self.kind {
            WatchdogKind::Deadlock => self
                .all_threads()
                .filter_map(|t| Some(t.waiting.as_ref()?.waited))
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
                // A retry loop's current try, not the loop, gives up.
                let this_try = w.this_try.unwrap_or(w.waited);
                Some((t.name.as_str(), w.limit?.saturating_sub(this_try)))
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
                // A retry loop's time is the loop's: said so.
                let tries = if w.is_some_and(|w| w.retrying.is_some()) {
                    " in timed tries that all gave up"
                } else {
                    ""
                };
                let crowd = match self.other_waiters {
                    0 => String::new(),
                    1 => ", and 1 other thread waits for it".to_string(),
                    n => format!(", and {n} other threads wait for it"),
                };
                format!(
                    "lockgraph watchdog: LONG WAIT: thread `{}` has waited {:.3?} for {}{tries}{crowd} (pid {}), since {since}; {}",
                    self.threads.first().map_or("?", |t| t.name.as_str()),
                    w.map_or(Duration::ZERO, |w| w.waited),
                    w.map_or_else(|| "?".to_string(), WaitInfo::what),
                    self.pid,
                    self.done()
                )
            }
        }
    }
}
