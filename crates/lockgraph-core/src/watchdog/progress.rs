//! Progress markers: `lockgraph::progress("step", n)` says how far a process
//! got, so that `lockgraph hang` can tell which process of a hung job stopped
//! first ("rank 3 at step 1200, the other 7 at 1201").
//!
//! A call keeps the marker's latest value in memory (a short lock, no I/O
//! while the watchdog runs); the watchdog thread appends the markers that
//! changed to the process's file in the dump directory at most every
//! [`WRITE_PERIOD`], and always before it writes a report or a dump, so a
//! process that hangs right after a call still has that value on disk
//! within that period. Without a running watchdog, a call appends the
//! markers that changed itself, at most every [`CALL_PERIOD`], and a
//! thread of its own writes what calls held back within that period. A marker
//! that moves every step thus writes a line every 10 seconds, about 0.8 MB
//! a day, not one per scan (10 a second, about 84 MB a day, which made a
//! job's files grow past what `lockgraph hang` reads in three days; found
//! by an outside test). Without a dump directory, markers are kept for
//! [`markers`] only.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use super::*;

/// The watchdog writes the markers that changed at most this often (and
/// before each report and dump).
pub(super) const WRITE_PERIOD: Duration = Duration::from_secs(10);

/// Without a running watchdog, a call writes them at most this often.
const CALL_PERIOD: Duration = Duration::from_secs(1);

/// When markers were last written: milliseconds since [`since`], plus one
/// (0: never).
static LAST_WRITE: AtomicU64 = AtomicU64::new(0);

/// The process's clock origin for [`LAST_WRITE`].
fn since() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

struct Marker {
    name: String,
    value: u64,
    at: SystemTime,
    /// Whether `value` is in the file already.
    written: bool,
}

static MARKERS: Mutex<Vec<Marker>> = Mutex::new(Vec::new());

/// [`MARKERS`] held across `fork()` (`dump_file.rs`'s hooks).
pub(super) fn hold_for_fork() {
    crate::fork::hold(MARKERS.lock());
}

/// The most markers kept: past it, a new name is ignored (said once).
const MAX_MARKERS: usize = 64;

/// Records that this process reached `value` of `name` (a step, an epoch,
/// a batch): the latest value of each name goes to the dump directory
/// (`LOCKGRAPH_DUMP_DIR`), where `lockgraph hang` compares the processes of a
/// job. Cheap enough for once per step (a lock and a clock read); not meant
/// for an inner loop.
///
/// ```
/// use lockgraph_core::watchdog::{markers, progress};
///
/// for step in 0..3u64 {
///     progress("step", step);
/// }
/// assert_eq!(markers(), vec![("step".to_string(), 2)]);
/// ```
pub fn progress(name: &str, value: u64) {
    let at = SystemTime::now();
    super::dump_file::fork_safe();
    let mut markers = MARKERS.lock();
    if let Some(m) = markers.iter_mut().find(|m| m.name == name) {
        m.value = value;
        m.at = at;
        m.written = false;
    } else if markers.len() < MAX_MARKERS {
        markers.push(Marker {
            name: name.to_string(),
            value,
            at,
            written: false,
        });
    } else {
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            crate::stderr::line(&format!(
                "lockgraph: more than {MAX_MARKERS} progress marker names; `{name}` and later new names are not kept"
            ));
        }
        return;
    }
    if RUNNING.load(Ordering::Relaxed) {
        return;
    }
    drop(markers);
    flush_due(CALL_PERIOD);
    if dump_dir().is_some() {
        flusher();
    }
}

/// Without a running watchdog, a thread that writes what a call held back
/// (a call within [`CALL_PERIOD`] of the last write writes nothing): the
/// last values of a process that stops calling, a rank stuck in a
/// collective, reach the file (found by a review: they never did). One per
/// process (a forked child starts its own at its next call); it writes
/// nothing while the watchdog runs, which writes the markers itself.
fn flusher() {
    static FOR_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let pid = std::process::id();
    if FOR_PID.swap(pid, Ordering::Relaxed) == pid {
        return;
    }
    let _ = crate::delivery::spawn("lockgraph-progress", || loop {
        std::thread::sleep(CALL_PERIOD);
        if !RUNNING.load(Ordering::Relaxed) {
            flush_due(CALL_PERIOD);
        }
    });
}

/// Every marker's latest value, in the order first seen.
pub fn markers() -> Vec<(String, u64)> {
    MARKERS
        .lock()
        .iter()
        .map(|m| (m.name.clone(), m.value))
        .collect()
}

/// Appends the markers that changed to the dump file, unless markers
/// were written less than `period` ago (they are then written later).
pub(super) fn flush_due(period: Duration) {
    let last = LAST_WRITE.load(Ordering::Relaxed);
    let now = since().elapsed().as_millis() as u64 + 1;
    if last != 0 && now.saturating_sub(last) < period.as_millis() as u64 {
        return;
    }
    flush();
}

/// Appends the markers that changed since the last flush to the dump file
/// (before a report or a dump: it then reads after the last step).
pub(super) fn flush() {
    let Some(dir) = dump_dir() else { return };
    let mut lines = Vec::new();
    {
        let mut markers = MARKERS.lock();
        for m in markers.iter_mut().filter(|m| !m.written) {
            m.written = true;
            let mut s = String::from("{\"lockgraph_watchdog\":1,\"kind\":\"progress\",\"name\":");
            crate::record::json_str(&mut s, &m.name);
            let _ = write!(
                s,
                ",\"value\":{},\"at_unix_ms\":{}}}",
                m.value,
                unix_ms(m.at)
            );
            lines.push(s);
        }
    }
    if !lines.is_empty() {
        LAST_WRITE.store(since().elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        append(&dir, &lines.join("\n"));
    }
}
