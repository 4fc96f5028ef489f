//! lockgraph's own output: written straight to the standard error file
//! descriptor.
//!
//! Not through `eprintln!` or `std::io::stderr()`'s lock: `eprintln!` goes
//! to libtest's output capture, which shows a passing test's output to no
//! one, and the lock may be held by a thread that waits for a lock the
//! writing thread holds (the writer would then wait forever). A write of
//! the whole text at once keeps it in one piece where the system allows
//! (pipes: up to `PIPE_BUF` bytes); a longer text can interleave with other
//! threads' output.

/// Writes `text` to the standard error file descriptor, in full unless the
/// descriptor fails (then the rest is dropped: there is nowhere else to say
/// so).
pub(crate) fn write(text: &str) {
    #[cfg(unix)]
    {
        let mut rest = text.as_bytes();
        while !rest.is_empty() {
            // SAFETY: `rest` is a valid, initialised buffer of `rest.len()`
            // bytes; fd 2 is only written to, and a closed or invalid fd
            // makes `write` fail, nothing else.
            let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                rest = &rest[n as usize..];
            } else if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            } else {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    {
        use std::io::Write as _;
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// [`write`]s `text` followed by a newline when it has none.
pub(crate) fn line(text: &str) {
    if text.ends_with('\n') {
        write(text);
    } else {
        let mut s = String::with_capacity(text.len() + 1);
        s.push_str(text);
        s.push('\n');
        write(&s);
    }
}
