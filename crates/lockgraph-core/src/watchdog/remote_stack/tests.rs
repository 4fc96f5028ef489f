//! The capture on this machine: a signalled thread's stack, a late
//! handler, the glibc check and the ELF reader.

use std::ffi::c_void;

use super::elf::elf_imports;
use super::platform::glibc_is_safe;
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
