//! A report's stacks: captured without symbols when an edge is recorded
//! ([`Backtrace`]), resolved only when printed, under a lock that `fork()`
//! waits for.

use std::fmt;

use super::frames;

/// A stack captured without symbols (the return addresses of its innermost
/// [`Backtrace::MAX_FRAMES`] frames); printing resolves them. Cloning is cheap
/// (the frames are shared).
#[derive(Clone)]
pub struct Backtrace(std::sync::Arc<[usize]>);

impl Backtrace {
    /// The most frames a capture keeps, innermost first. Deeper stacks are
    /// cut: the frames near the lock call are the ones a report prints.
    pub const MAX_FRAMES: usize = 48;

    /// Captures the current stack without resolving symbols (a few
    /// microseconds; the walk stops after [`Backtrace::MAX_FRAMES`] frames).
    pub fn capture() -> Backtrace {
        let mut ips = Vec::with_capacity(Self::MAX_FRAMES);
        let mut frame = |frame: &backtrace::Frame| {
            ips.push(frame.ip() as usize);
            ips.len() < Self::MAX_FRAMES
        };
        // Without the `backtrace` crate's global lock on Unix: another
        // thread may hold it when this one forks, and the child's first new
        // edge would wait for it forever.
        #[cfg(unix)]
        // SAFETY: the lock serialises the Windows debug-help library; on Unix
        // the unwinder (libgcc's or libunwind's) walks the calling thread's
        // own stack and is safe to call from several threads at once.
        unsafe {
            backtrace::trace_unsynchronized(&mut frame)
        };
        #[cfg(not(unix))]
        backtrace::trace(&mut frame);
        Backtrace(ips.into())
    }

    /// The captured return addresses, innermost first.
    pub(crate) fn ips(&self) -> &[usize] {
        &self.0
    }

    /// The address of the shared frames: two captures are the same stack
    /// value when their addresses are equal (while either is alive).
    pub(crate) fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The resolved frames that belong to the program rather than to lockgraph,
    /// lock_api, parking_lot or the standard library, as "function (file:line)".
    pub fn user_frames(&self, max: usize) -> Vec<String> {
        let ips: Vec<(usize, bool)> = self.0.iter().map(|&ip| (ip, false)).collect();
        user_frames_of(&ips, max)
    }
}

/// Resolves raw frame addresses, innermost first, as a stack walk gives them
/// (return addresses, except `exact` ones: the interrupted instruction of a
/// signal frame), and keeps the program frames like [`Backtrace::user_frames`].
/// Resolving takes the `backtrace` crate's lock: never call it in a signal
/// handler.
pub(crate) fn user_frames_of(ips: &[(usize, bool)], max: usize) -> Vec<String> {
    let _resolving = Resolving::enter();
    let mut out = Vec::new();
    for &(ip, exact) in ips {
        // `resolve` looks up `addr - 1` (the call instruction before a return
        // address); an exact address is looked up as it is.
        let addr = if exact { ip.wrapping_add(1) } else { ip };
        backtrace::resolve(addr as *mut std::ffi::c_void, |sym| {
            if out.len() < max {
                if let Some(line) = frames::user_frame(sym.name(), sym.filename(), sym.lineno()) {
                    out.push(line);
                }
            }
        });
        if out.len() == max {
            break;
        }
    }
    out
}

/// Held while lockgraph resolves symbols (the `backtrace` crate takes its
/// global lock meanwhile): `fork()` waits for it (see `fork.rs`), so that no
/// thread of lockgraph's leaves that lock held in the child.
static RESOLVING: crate::fork::Mutex<()> = crate::fork::Mutex::new(());

pub(super) struct Resolving(#[allow(dead_code)] crate::fork::MutexGuard<'static, ()>);

impl Resolving {
    pub(super) fn enter() -> Resolving {
        static REGISTERED: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
        crate::fork::register(&REGISTERED, &FORK_HOOKS);
        Resolving(RESOLVING.lock())
    }
}

static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || crate::fork::hold(RESOLVING.lock()),
    child: crate::fork::nothing,
};

impl fmt::Debug for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Backtrace(unresolved)")
    }
}

impl fmt::Display for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.user_frames(8) {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
