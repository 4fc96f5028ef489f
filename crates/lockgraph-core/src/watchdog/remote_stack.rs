//! Another thread's *current* stack (Linux): the watchdog sends the thread a
//! real-time signal; the thread's handler walks its own stack into a static
//! buffer; the watchdog copies the addresses out and resolves them.
//!
//! # When it is used
//!
//! Unwinding in a signal handler is only safe when the unwinder never takes a
//! lock the interrupted code may hold. libgcc's unwinder finds the unwind
//! tables of an address with glibc's `_dl_find_object` (lock-free and
//! async-signal-safe, glibc >= 2.35) when libgcc >= 12 was built against such
//! a glibc; otherwise it calls `dl_iterate_phdr`, which takes the loader
//! lock: a thread stopped inside `dlopen` would deadlock its own handler. So
//! the capture is on only when (decided once, [`support`]):
//!
//! * the C library is glibc (`target_env = "gnu"`) and
//!   `gnu_get_libc_version()` is 2.35 or later, and
//! * the object that holds the unwinder in use (the one defining the
//!   `_Unwind_Backtrace` this crate links to, normally `libgcc_s.so.1`)
//!   *imports* `_dl_find_object` (an undefined symbol of its `.dynsym`).
//!   That is exactly "this libgcc calls `_dl_find_object`": only libgcc >= 12
//!   does, and only when built against glibc >= 2.35. Checking the `GCC_12.0.0`
//!   version node instead would accept a libgcc 12 built against an older
//!   glibc (toolchain and conda builds often are), which still takes the
//!   loader lock.
//!
//! `LOCKGRAPH_REMOTE_STACKS=off` turns the capture off; `=on` forces it even
//! where the check fails (at your own risk: the handler may deadlock the
//! thread it interrupts). `auto` (or unset) means "decide"; another value is
//! named once (the `env` table's rule) and means `auto`.
//!
//! # The signal
//!
//! `SIGRTMIN() + 4` ([`SIGNAL_OFFSET`]), with `SA_SIGINFO | SA_RESTART`,
//! installed once when the watchdog starts, and only if nothing else handles
//! (or ignores) that signal; otherwise the capture stays off. It is sent with
//! `tgkill` to one thread at a time, only to the threads a report needs.
//! `SA_RESTART` restarts most interrupted calls, but `poll`, `epoll_wait`,
//! `nanosleep` and a few others return `EINTR` anyway: that is why only the
//! holders a report is about are signalled.
//!
//! # The handler
//!
//! No allocation, no lock, no formatting: it checks that the pending request
//! names its own thread, claims it with a compare-exchange, walks its stack
//! with `backtrace::trace_unsynchronized` (not `trace`, which takes the
//! crate's global lock) into [`IPS`], and publishes the count with a release
//! store. Requests are serialised by a mutex and numbered; a handler that
//! runs after the watchdog gave up finds another request number (or no
//! request) and returns without writing.
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::fork::Mutex;

/// The signal is `SIGRTMIN() + SIGNAL_OFFSET`.
pub(crate) const SIGNAL_OFFSET: c_int = 4;
/// How long the watchdog waits for a thread's handler.
pub(crate) const ANSWER_WAIT: Duration = Duration::from_millis(200);
/// Frames kept per capture, the handler's own (about five) included.
const MAX_FRAMES: usize = 128;

const IDLE: u64 = 0;
const ASKED: u64 = 1;
const BUSY: u64 = 2;
const DONE: u64 = 3;
const PHASE: u64 = 3;
const NO_START: usize = usize::MAX;

/// The request number (`<< 2`) and its phase: IDLE, ASKED (signal sent),
/// BUSY (the handler claimed it and writes), DONE (the buffer is complete).
static STATE: AtomicU64 = AtomicU64::new(IDLE);
/// The thread the current request is for.
static TARGET: AtomicI32 = AtomicI32::new(0);
/// The frame addresses the handler found, innermost first.
static IPS: [AtomicUsize; MAX_FRAMES] = [const { AtomicUsize::new(0) }; MAX_FRAMES];
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Index in [`IPS`] of the interrupted frame (the first below the handler).
static START: AtomicUsize = AtomicUsize::new(NO_START);
static TRUNCATED: AtomicBool = AtomicBool::new(false);
/// Serialises requests; holds the last request number.
static REQUESTS: Mutex<u64> = Mutex::new(0);
/// The signal number once the handler is installed, or why it is not.
static INSTALLED: OnceLock<Result<c_int, String>> = OnceLock::new();
static SUPPORT: OnceLock<Result<(), String>> = OnceLock::new();
/// Handler runs, for tests.
#[cfg(test)]
static HANDLED: AtomicUsize = AtomicUsize::new(0);

/// Held by a test that counts handler runs ([`HANDLED`]) and by the tests
/// of this crate that make a report or a dump of waiting threads, which
/// signals them for their current stacks: run beside the counting test,
/// they made it count one run too many.
#[cfg(test)]
pub(crate) static TEST_SIGNALS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A captured stack: raw addresses, innermost first, each flagged `exact`
/// when it is the interrupted instruction rather than a return address.
pub(crate) struct Captured {
    pub(crate) frames: Vec<(usize, bool)>,
    pub(crate) truncated: bool,
}

/// Whether capturing other threads' stacks is allowed here, and why not.
pub(crate) fn support() -> Result<(), String> {
    SUPPORT.get_or_init(decide).clone()
}

fn decide() -> Result<(), String> {
    // A bad value is named by the table's parser, which then says `auto`.
    match crate::env::REMOTE_STACKS.word() {
        "off" => Err("remote stack capture is off (LOCKGRAPH_REMOTE_STACKS=off)".into()),
        "on" => Ok(()),
        _ => check_platform(),
    }
}

#[cfg(target_env = "gnu")]
fn check_platform() -> Result<(), String> {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let version = version.to_string_lossy();
    if !glibc_is_safe(&version) {
        return Err(format!(
            "glibc {version} is older than 2.35 (no _dl_find_object: unwinding in a signal handler could deadlock)"
        ));
    }
    let (path, bytes) = unwinder_object()?;
    match elf_imports(&bytes, b"_dl_find_object") {
        Some(true) => Ok(()),
        Some(false) => Err(format!(
            "the unwinder in {path} does not use _dl_find_object (libgcc older than 12, or built for an older glibc)"
        )),
        None => Err(format!("cannot read the dynamic symbols of {path}")),
    }
}

#[cfg(not(target_env = "gnu"))]
fn check_platform() -> Result<(), String> {
    Err("not glibc: the unwinder may take the loader lock in a signal handler".into())
}

/// Whether a glibc version string ("2.35", "2.36.9000") is 2.35 or later.
pub(crate) fn glibc_is_safe(version: &str) -> bool {
    let mut parts = version.trim().split('.');
    let number = |p: Option<&str>| -> Option<u32> {
        let p = p?;
        let digits = p.len() - p.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        p[..digits].parse().ok()
    };
    match (number(parts.next()), number(parts.next())) {
        (Some(major), Some(minor)) => (major, minor) >= (2, 35),
        _ => false,
    }
}

/// The file (path and bytes) that defines the unwinder this crate calls.
#[cfg(target_env = "gnu")]
fn unwinder_object() -> Result<(String, Vec<u8>), String> {
    extern "C" {
        // The entry point `backtrace` walks with; declared only to take its
        // address (never called from here).
        fn _Unwind_Backtrace(
            trace: extern "C" fn(*mut c_void, *mut c_void) -> c_int,
            arg: *mut c_void,
        ) -> c_int;
    }
    let addr = _Unwind_Backtrace as *const c_void;
    // SAFETY: a zeroed Dl_info is a valid out-parameter (null pointers).
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `addr` is a function address; dladdr only reads the loader's
    // tables and fills `info`.
    let found = unsafe { libc::dladdr(addr, &mut info) } != 0;
    if !found || info.dli_fname.is_null() {
        return Err("cannot tell which object holds the unwinder".into());
    }
    // SAFETY: dladdr succeeded: dli_fname is a NUL-terminated string owned
    // by the loader, alive as long as the object stays loaded (libgcc_s and
    // the executable are never unloaded).
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned();
    // The main program's name is empty.
    let path = if name.is_empty() {
        "/proc/self/exe".to_string()
    } else {
        name
    };
    match std::fs::read(&path) {
        Ok(bytes) => Ok((path, bytes)),
        Err(e) => Err(format!("cannot read the unwinder's object {path}: {e}")),
    }
}

#[cfg_attr(not(target_env = "gnu"), allow(dead_code))]
/// Whether an ELF file's dynamic symbol table has `name` as an undefined
/// (imported) symbol; `None` when the bytes are not an ELF file with one.
pub(crate) fn elf_imports(elf: &[u8], name: &[u8]) -> Option<bool> {
    if elf.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match elf.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match elf.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let int = |at: usize, len: usize| -> Option<u64> {
        let b = elf.get(at..at.checked_add(len)?)?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if big { b[i] } else { b[len - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let word = |at: usize| int(at, if wide { 8 } else { 4 }).map(|v| v as usize);
    let (shoff, shentsize, shnum) = if wide {
        (word(0x28)?, int(0x3a, 2)? as usize, int(0x3c, 2)? as usize)
    } else {
        (word(0x20)?, int(0x2e, 2)? as usize, int(0x30, 2)? as usize)
    };
    // (type, offset, size, link, entsize) of section `i`.
    let section = |i: usize| -> Option<(u64, usize, usize, usize, usize)> {
        let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
        if wide {
            Some((
                int(at + 4, 4)?,
                word(at + 24)?,
                word(at + 32)?,
                int(at + 40, 4)? as usize,
                word(at + 56)?,
            ))
        } else {
            Some((
                int(at + 4, 4)?,
                word(at + 16)?,
                word(at + 20)?,
                int(at + 24, 4)? as usize,
                word(at + 36)?,
            ))
        }
    };
    const SHT_DYNSYM: u64 = 11;
    for i in 0..shnum {
        let (kind, off, size, link, entsize) = section(i)?;
        if kind != SHT_DYNSYM || entsize == 0 {
            continue;
        }
        let (_, str_off, str_size, _, _) = section(link)?;
        let strings = elf.get(str_off..str_off.checked_add(str_size)?)?;
        for s in 0..size / entsize {
            let at = off.checked_add(s.checked_mul(entsize)?)?;
            let name_at = int(at, 4)? as usize;
            let shndx = if wide {
                int(at + 6, 2)?
            } else {
                int(at + 14, 2)?
            };
            let rest = strings.get(name_at..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            if &rest[..end] == name && shndx == 0 {
                return Some(true);
            }
        }
        return Some(false);
    }
    None
}

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

/// Captures thread `tid`'s current stack: signals it and waits up to
/// [`ANSWER_WAIT`] for its handler. Never call it for the calling thread.
pub(crate) fn capture(tid: u64) -> Result<Captured, String> {
    let sig = match INSTALLED.get() {
        Some(Ok(sig)) => *sig,
        Some(Err(why)) => return Err(why.clone()),
        None => return Err("the watchdog has not installed its signal handler".into()),
    };
    let Ok(tid) = libc::pid_t::try_from(tid) else {
        return Err(format!("bad thread id {tid}"));
    };
    let mut number = REQUESTS.lock();
    // A handler from a request that was given up on may still be writing.
    if STATE.load(Ordering::Acquire) & PHASE == BUSY && !wait_for(|s| s & PHASE != BUSY) {
        return Err("an earlier capture is still being written".into());
    }
    *number += 1;
    let me = *number << 2;
    TARGET.store(tid, Ordering::Relaxed);
    STATE.store(me | ASKED, Ordering::Release);
    // SAFETY: tgkill with our own pid only reaches a thread of this process;
    // the handler for `sig` is installed.
    let sent = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid() as libc::c_long,
            tid as libc::c_long,
            sig as libc::c_long,
        )
    };
    if sent != 0 {
        let e = std::io::Error::last_os_error();
        let _ = STATE.compare_exchange(me | ASKED, me | IDLE, Ordering::AcqRel, Ordering::Acquire);
        return Err(if e.raw_os_error() == Some(libc::ESRCH) {
            "the thread has exited".to_string()
        } else {
            format!("cannot signal the thread: {e}")
        });
    }
    if !wait_for(|s| s == me | DONE) {
        // Cancel, unless the handler claimed the request meanwhile.
        match STATE.compare_exchange(me | ASKED, me | IDLE, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                return Err(format!(
                    "no answer to SIGRTMIN+{SIGNAL_OFFSET} within {ANSWER_WAIT:?} (the thread blocks the signal, or was not scheduled)"
                ))
            }
            Err(s) if s == me | DONE => {}
            Err(_) => {
                if !wait_for(|s| s == me | DONE) {
                    return Err("the thread's handler did not finish in time".into());
                }
            }
        }
    }
    let n = COUNT.load(Ordering::Relaxed).min(MAX_FRAMES);
    let start = START.load(Ordering::Relaxed);
    let from = if start < n { start } else { 0 };
    let frames = (from..n)
        .map(|i| (IPS[i].load(Ordering::Relaxed), i == start))
        .collect();
    let truncated = TRUNCATED.load(Ordering::Relaxed);
    STATE.store(me | IDLE, Ordering::Release);
    Ok(Captured { frames, truncated })
}

/// Before `fork()`: waits for a capture in progress to end, and keeps the
/// next one from starting until the fork is over (see the watchdog's fork
/// hooks).
pub(crate) fn fork_lock() {
    crate::fork::hold(REQUESTS.lock());
}

/// In a forked child: a handler of the parent's that was still writing a
/// cancelled capture did not follow.
pub(crate) fn fork_child() {
    let s = STATE.load(Ordering::Relaxed);
    STATE.store((s & !PHASE) | IDLE, Ordering::Relaxed);
}

/// Waits up to [`ANSWER_WAIT`] for `done(STATE)`.
fn wait_for(done: impl Fn(u64) -> bool) -> bool {
    let deadline = Instant::now() + ANSWER_WAIT;
    let mut spins = 0u32;
    loop {
        if done(STATE.load(Ordering::Acquire)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        spins += 1;
        if spins < 100 {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_2_35_and_later_is_safe_older_and_garbage_are_not() {
        for safe in ["2.35", "2.36", "2.39.9000", "3.0", " 2.40\n", "2.35-debian"] {
            assert!(glibc_is_safe(safe), "{safe:?} should be safe");
        }
        for unsafe_ in [
            "2.34", "2.17", "1.99", "2", "", "garbage", "x.40", "2.x", "2.3",
        ] {
            assert!(!glibc_is_safe(unsafe_), "{unsafe_:?} should not be safe");
        }
    }

    /// Every symbol name of `frames` (unfiltered: this test's own functions
    /// are lockgraph_core's, which reports leave out).
    fn names(frames: &[(usize, bool)]) -> Vec<String> {
        let mut out = Vec::new();
        for &(ip, exact) in frames {
            let addr = if exact { ip + 1 } else { ip };
            backtrace::resolve(addr as *mut c_void, |sym| {
                out.push(sym.name().map_or("?".into(), |n| format!("{n:#}")));
            });
        }
        out
    }

    const PARKED: usize = 1;
    const STOP: usize = 2;

    /// Says it is here (`PARKED`), then sleeps in short slices until
    /// `STOP`: the frame a capture must show.
    #[inline(never)]
    fn sleeps_in_here(flag: &AtomicUsize) {
        let _ = flag.compare_exchange(0, PARKED, Ordering::Relaxed, Ordering::Relaxed);
        while flag.load(Ordering::Relaxed) != STOP {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the sleeper is inside `sleeps_in_here`.
    fn until_parked(flag: &AtomicUsize) {
        while flag.load(Ordering::Relaxed) != PARKED {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn spawn_sleeper(
        block_signal: bool,
    ) -> (
        libc::pid_t,
        std::sync::Arc<AtomicUsize>,
        std::sync::mpsc::Sender<()>,
        std::sync::mpsc::Receiver<()>,
        std::thread::JoinHandle<()>,
    ) {
        let stop = std::sync::Arc::new(AtomicUsize::new(0));
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (unblock_tx, unblock_rx) = std::sync::mpsc::channel::<()>();
        let (unblocked_tx, unblocked_rx) = std::sync::mpsc::channel::<()>();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                // SAFETY: a zeroed sigset_t is valid to fill; the mask
                // calls only change this thread's mask.
                let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                unsafe {
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, libc::SIGRTMIN() + SIGNAL_OFFSET);
                }
                if block_signal {
                    // SAFETY: as above.
                    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
                }
                // SAFETY: gettid has no preconditions.
                tid_tx.send(unsafe { libc::gettid() }).unwrap();
                if block_signal {
                    unblock_rx.recv().unwrap();
                    // A pending signal runs its handler here, late.
                    // SAFETY: as above.
                    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
                    unblocked_tx.send(()).unwrap();
                }
                sleeps_in_here(&stop);
            })
        };
        (
            tid_rx.recv().unwrap(),
            stop,
            unblock_tx,
            unblocked_rx,
            thread,
        )
    }

    #[test]
    fn a_signalled_thread_gives_its_stack_and_a_late_handler_writes_nothing() {
        let _signals = TEST_SIGNALS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(why) = install() {
            eprintln!("skipped: no remote stacks here: {why}");
            return;
        }
        // A thread asleep in `sleeps_in_here`: its stack starts at the
        // interrupted instruction (the handler's frames left out) and
        // names the function.
        let (tid, stop, _unblock, _unblocked, thread) = spawn_sleeper(false);
        until_parked(&stop);
        let c = capture(tid as u64).unwrap();
        assert!(!c.frames.is_empty());
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert!(c.frames[0].1, "the first frame is the interrupted one");
            assert!(c.frames[1..].iter().all(|f| !f.1));
        }
        let all = names(&c.frames);
        assert!(all.iter().any(|f| f.contains("sleeps_in_here")), "{all:#?}");
        // Nothing of the handler, the unwinder or the signal trampoline.
        for inner in ["on_signal", "trace_unsynchronized", "__restore_rt"] {
            assert!(!all.iter().any(|f| f.contains(inner)), "{all:#?}");
        }
        stop.store(STOP, Ordering::Relaxed);
        thread.join().unwrap();
        // Gone (once the kernel has reaped it): tgkill says so.
        let task = format!("/proc/self/task/{tid}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&task).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            capture(tid as u64).err().as_deref(),
            Some("the thread has exited")
        );

        // A thread that blocks the signal does not answer: the request is
        // cancelled; when it unblocks, its handler finds no request.
        let (tid, stop, unblock, unblocked, thread) = spawn_sleeper(true);
        let started = Instant::now();
        let err = capture(tid as u64).err().unwrap();
        assert!(err.starts_with("no answer"), "{err}");
        assert!(started.elapsed() >= ANSWER_WAIT);
        let cancelled = STATE.load(Ordering::Acquire);
        assert_eq!(cancelled & PHASE, IDLE);
        let count = COUNT.load(Ordering::Relaxed);
        IPS[0].store(usize::MAX, Ordering::Relaxed);
        let handled = HANDLED.load(Ordering::Relaxed);
        unblock.send(()).unwrap();
        // The pending signal is delivered before the unblocking call returns.
        unblocked.recv().unwrap();
        assert_eq!(
            HANDLED.load(Ordering::Relaxed),
            handled + 1,
            "the late handler ran"
        );
        assert_eq!(STATE.load(Ordering::Acquire), cancelled);
        assert_eq!(COUNT.load(Ordering::Relaxed), count);
        assert_eq!(IPS[0].load(Ordering::Relaxed), usize::MAX);
        // The next request works.
        until_parked(&stop);
        let c = capture(tid as u64).unwrap();
        let all = names(&c.frames);
        assert!(all.iter().any(|f| f.contains("sleeps_in_here")), "{all:#?}");
        stop.store(STOP, Ordering::Relaxed);
        thread.join().unwrap();
    }

    #[test]
    fn elf_imports_reads_the_dynamic_symbols_of_this_test_binary() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        // Every dynamically linked Rust program on Linux imports these.
        assert_eq!(elf_imports(&exe, b"pthread_create"), Some(true));
        assert_eq!(elf_imports(&exe, b"lockgraph_no_such_symbol"), Some(false));
        assert_eq!(elf_imports(b"not an ELF file at all", b"x"), None);
        // Cut inside the section headers: unreadable, not "no".
        assert_eq!(elf_imports(&exe[..64], b"pthread_create"), None);
    }
}
