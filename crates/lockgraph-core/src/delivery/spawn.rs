//! Threads that inherit nothing from the thread that starts them.

#[cfg(unix)]
use std::panic::{catch_unwind, AssertUnwindSafe};
#[cfg(unix)]
use std::sync::mpsc;

/// Starts a named std thread running `f` that does not inherit the calling
/// thread's output capture (libtest's, for the test that happened to start
/// it): on Unix it is started from a short-lived thread of the C library's,
/// which has none. Returns once it started (or could not).
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let start = move |name: String| std::thread::Builder::new().name(name).spawn(f).map(drop);
    #[cfg(unix)]
    {
        from_c_thread(name.to_string(), start)
    }
    #[cfg(not(unix))]
    {
        start(name.to_string())
    }
}

#[cfg(unix)]
fn from_c_thread(
    name: String,
    start: impl FnOnce(String) -> std::io::Result<()> + Send + 'static,
) -> std::io::Result<()> {
    type Job = Box<dyn FnOnce() + Send>;
    extern "C" fn run(arg: *mut std::ffi::c_void) -> *mut std::ffi::c_void {
        // SAFETY: `arg` is the `Box<Job>` leaked by `from_c_thread` for this
        // thread alone.
        let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
        let _ = catch_unwind(AssertUnwindSafe(job));
        std::ptr::null_mut()
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(start(name));
    });
    let arg = Box::into_raw(Box::new(job));
    // SAFETY: an all-zero `pthread_t` is a valid value to be overwritten.
    let mut tid: libc::pthread_t = unsafe { std::mem::zeroed() };
    // SAFETY: `run` has the signature pthread_create expects and takes
    // ownership of `arg`; default attributes.
    let rc = unsafe { libc::pthread_create(&mut tid, std::ptr::null(), run, arg.cast()) };
    if rc != 0 {
        // SAFETY: the thread was not created: `arg` is still ours.
        drop(unsafe { Box::from_raw(arg) });
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    // SAFETY: `tid` is a thread just created and not joined or detached.
    unsafe { libc::pthread_detach(tid) };
    rx.recv().unwrap_or_else(|_| {
        Err(std::io::Error::other(
            "the starter thread ended without starting the thread",
        ))
    })
}
