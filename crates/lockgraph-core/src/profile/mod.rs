//! Contention profile: which lock classes are hot, and what to do about it.
//!
//! Off by default; `LOCKGRAPH_PROFILE=1` or [`enable`] turns it on. Per lock
//! class it counts acquisitions and contended acquisitions, sums and maxes the
//! time spent waiting (measured only when the first, non-blocking attempt
//! failed, so an uncontended acquisition reads no clock), samples hold times
//! (one acquisition in [`HOLD_SAMPLE`] per thread), splits reads from writes,
//! counts the threads that waited (the tasks, and threads outside a task,
//! for async locks), and the blocking calls made while the lock was held
//! ([`crate::blocking`]).
//!
//! Each thread writes its own counters (no shared cache line is written on the
//! lock path); [`report`] adds them up.

mod class_counters;
mod counts;
mod file;
pub mod pipeline;
mod report;
#[cfg(test)]
mod tests;

use crate::features::{self, PROFILE};

pub use class_counters::Counters;
pub use counts::counters;
pub(crate) use counts::{
    acquired, acquired_by_owner, blocked_holding, held_for, sample_hold, upgraded, Access,
};
pub use file::PROFILE_VERSION;
pub use report::{advise, report, Advice, ClassProfile, ProfileReport};

/// One acquisition in this many (per thread) has its hold time measured.
pub const HOLD_SAMPLE: u64 = 8;

/// Whether profiling is on (`LOCKGRAPH_PROFILE`, or [`enable`]).
#[inline]
pub fn on() -> bool {
    features::is_on(PROFILE)
}

/// Turns profiling on for the rest of the process.
///
/// With `LOCKGRAPH_RECORD=<dir>` set, the profile is also written to
/// `<dir>/lockgraph-profile-<pid>.json` when the process exits normally (and
/// by [`write_to_record_dir`]), for `lockgraph profile <dir>`.
pub fn enable() {
    features::set(PROFILE, true);
    write_at_exit();
}

/// Turns profiling off (counters gathered so far are kept).
pub fn disable() {
    features::set(PROFILE, false);
}

/// Writes this process's profile beside its lock-order records
/// (`<LOCKGRAPH_RECORD>/lockgraph-profile-<pid>.json`, replaced atomically).
/// Returns the path, or `None` when recording is off or the write failed
/// (which is said on stderr).
pub fn write_to_record_dir() -> Option<std::path::PathBuf> {
    let dir = crate::record::record_dir()?;
    let pid = std::process::id();
    let path = dir.join(format!("lockgraph-profile-{pid}.json"));
    let tmp = dir.join(format!(".lockgraph-profile-{pid}.json.tmp"));
    let text = file::profile_json(pid, &counters(), pipeline::sums().as_ref());
    match std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
        Ok(()) => Some(path),
        Err(e) => {
            crate::stderr::line(&format!(
                "lockgraph: cannot write the profile to {}: {e}",
                path.display()
            ));
            None
        }
    }
}

/// Registers (once) a process-exit hook that writes the profile beside the
/// records, when `LOCKGRAPH_RECORD` is set.
pub(super) fn write_at_exit() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    if !crate::env::RECORD.is_set() {
        return;
    }
    REGISTERED.call_once(|| {
        extern "C" fn at_exit() {
            // Never unwind into the C runtime.
            let _ = std::panic::catch_unwind(write_to_record_dir);
        }
        extern "C" {
            fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
        }
        // SAFETY: `atexit` is the C library's; `at_exit` is a plain
        // `extern "C"` function without arguments that never unwinds.
        let _ = unsafe { atexit(at_exit) };
    });
}
