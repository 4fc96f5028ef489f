//! The thread's side: the signal handler, installed once when the
//! watchdog starts, that walks the interrupted thread's stack into the
//! shared buffer.

use std::ffi::c_void;

use super::*;

/// Installs the handler (once, when the watchdog starts), if [`support`]
/// allows it and the signal is free. Returns the signal or why not.
pub(crate) fn install() -> Result<c_int, String> {
    INSTALLED.get_or_init(install_once).clone()
}

fn install_once() -> Result<c_int, String> {
    support()?;
    let sig = libc::SIGRTMIN() + SIGNAL_OFFSET;
    if sig > libc::SIGRTMAX() {
        return Err(format!("SIGRTMIN+{SIGNAL_OFFSET} is past SIGRTMAX"));
    }
    // SAFETY: a zeroed sigaction is a valid out-parameter.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0 {
        return Err(format!(
            "cannot read the action of SIGRTMIN+{SIGNAL_OFFSET}"
        ));
    }
    if old.sa_sigaction != libc::SIG_DFL {
        return Err(format!(
            "SIGRTMIN+{SIGNAL_OFFSET} already has a handler (or is ignored); lockgraph leaves it alone"
        ));
    }
    // Run what the handler will run once here first, so that lazy symbol
    // binding and libgcc's one-time initialisation (`pthread_once` for its
    // register table) happen on this thread, not inside a handler.
    // SAFETY: the closure only counts frames; nothing else runs concurrently
    // with it on this thread.
    unsafe { backtrace::trace_unsynchronized(|f| !f.ip().is_null()) };
    // SAFETY: gettid has no preconditions.
    let _ = unsafe { libc::gettid() };
    // SAFETY: a zeroed sigaction is a valid empty one; `on_signal` has the
    // SA_SIGINFO signature and is async-signal-safe (see its comment).
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction =
        on_signal as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as libc::sighandler_t;
    sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: `sa.sa_mask` is a valid sigset_t to clear.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    // SAFETY: `sa` is fully initialised; `old` receives the replaced action.
    if unsafe { libc::sigaction(sig, &sa, &mut old) } != 0 {
        return Err(format!(
            "cannot install the SIGRTMIN+{SIGNAL_OFFSET} handler"
        ));
    }
    if old.sa_sigaction != libc::SIG_DFL {
        // Someone installed one between the two calls: give it back.
        // SAFETY: `old` is the action the kernel just returned.
        unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
        return Err(format!(
            "SIGRTMIN+{SIGNAL_OFFSET} already has a handler; lockgraph leaves it alone"
        ));
    }
    Ok(sig)
}

/// The address the signal interrupted, from the handler's context.
///
/// # Safety
/// `ctx` must be the `ucontext_t` the kernel passed to an SA_SIGINFO handler.
#[inline(always)]
unsafe fn interrupted_pc(ctx: *mut c_void) -> usize {
    #[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
    {
        // SAFETY: the caller's contract; reading one saved register.
        unsafe {
            (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RIP as usize] as usize
        }
    }
    #[cfg(all(target_arch = "aarch64", target_env = "gnu"))]
    {
        // SAFETY: the caller's contract; reading one saved register.
        unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.pc as usize }
    }
    #[cfg(not(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_env = "gnu"
    )))]
    {
        let _ = ctx;
        0
    }
}

/// The handler. Async-signal-safe: atomics, `gettid`, the unwinder (safe
/// here: see the module docs), and `errno` saved and restored around them.
extern "C" fn on_signal(_sig: c_int, _info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: __errno_location returns this thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    #[cfg(test)]
    HANDLED.fetch_add(1, Ordering::Relaxed);
    let state = STATE.load(Ordering::Acquire);
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::gettid() };
    if state & PHASE == ASKED
        && TARGET.load(Ordering::Relaxed) == me
        && STATE
            .compare_exchange(
                state,
                (state & !PHASE) | BUSY,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    {
        // SAFETY: the kernel passed `ctx` to this SA_SIGINFO handler.
        let pc = unsafe { interrupted_pc(ctx) };
        let (mut n, mut start, mut truncated) = (0usize, NO_START, false);
        // SAFETY: trace_unsynchronized is not synchronised with other walks
        // of *this* thread, and no other one runs on this thread now (the
        // handler interrupted it; a walk it was doing is only suspended, and
        // libgcc keeps no per-thread walk state). The closure only stores
        // into atomics.
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                let ip = frame.ip() as usize;
                if n == MAX_FRAMES {
                    truncated = true;
                    return false;
                }
                if start == NO_START && pc != 0 && ip == pc {
                    start = n;
                }
                IPS[n].store(ip, Ordering::Relaxed);
                n += 1;
                true
            })
        };
        COUNT.store(n, Ordering::Relaxed);
        START.store(start, Ordering::Relaxed);
        TRUNCATED.store(truncated, Ordering::Relaxed);
        STATE.store((state & !PHASE) | DONE, Ordering::Release);
    }
    // SAFETY: as above; restores the interrupted code's errno.
    unsafe { *libc::__errno_location() = errno };
}
