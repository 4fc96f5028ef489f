//! A thread's state as the kernel says it (`/proc/self/task/<tid>`), in
//! words: the system call by name, the state said plainly, and the raw
//! fields for `LOCKGRAPH_WATCHDOG_VERBOSE`.

use super::*;

/// Whether reports add the raw kernel fields (`LOCKGRAPH_WATCHDOG_VERBOSE`),
/// read once.
pub(in crate::watchdog) fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| crate::env::WATCHDOG_VERBOSE.switch())
}

/// The name of system call `nr` on this architecture, for the calls a
/// blocked thread is usually in; `None` for the others.
fn syscall_name(nr: i64) -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    const TABLE: &[(i64, &str)] = &[
        (0, "read"),
        (1, "write"),
        (2, "open"),
        (3, "close"),
        (7, "poll"),
        (16, "ioctl"),
        (17, "pread64"),
        (18, "pwrite64"),
        (19, "readv"),
        (20, "writev"),
        (23, "select"),
        (24, "sched_yield"),
        (34, "pause"),
        (35, "nanosleep"),
        (42, "connect"),
        (43, "accept"),
        (44, "sendto"),
        (45, "recvfrom"),
        (46, "sendmsg"),
        (47, "recvmsg"),
        (61, "wait4"),
        (72, "fcntl"),
        (73, "flock"),
        (74, "fsync"),
        (75, "fdatasync"),
        (128, "rt_sigtimedwait"),
        (130, "rt_sigsuspend"),
        (202, "futex"),
        (230, "clock_nanosleep"),
        (232, "epoll_wait"),
        (247, "waitid"),
        (257, "openat"),
        (270, "pselect6"),
        (271, "ppoll"),
        (281, "epoll_pwait"),
        (288, "accept4"),
        (299, "recvmmsg"),
        (307, "sendmmsg"),
        (426, "io_uring_enter"),
        (441, "epoll_pwait2"),
        (449, "futex_waitv"),
    ];
    #[cfg(target_arch = "aarch64")]
    const TABLE: &[(i64, &str)] = &[
        (22, "epoll_pwait"),
        (25, "fcntl"),
        (29, "ioctl"),
        (32, "flock"),
        (56, "openat"),
        (57, "close"),
        (63, "read"),
        (64, "write"),
        (65, "readv"),
        (66, "writev"),
        (67, "pread64"),
        (68, "pwrite64"),
        (72, "pselect6"),
        (73, "ppoll"),
        (82, "fsync"),
        (83, "fdatasync"),
        (95, "waitid"),
        (98, "futex"),
        (101, "nanosleep"),
        (115, "clock_nanosleep"),
        (124, "sched_yield"),
        (133, "rt_sigsuspend"),
        (137, "rt_sigtimedwait"),
        (202, "accept"),
        (203, "connect"),
        (206, "sendto"),
        (207, "recvfrom"),
        (211, "sendmsg"),
        (212, "recvmsg"),
        (242, "accept4"),
        (243, "recvmmsg"),
        (260, "wait4"),
        (269, "sendmmsg"),
        (426, "io_uring_enter"),
        (441, "epoll_pwait2"),
        (449, "futex_waitv"),
    ];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const TABLE: &[(i64, &str)] = &[];
    TABLE.iter().find(|&&(n, _)| n == nr).map(|&(_, name)| name)
}

impl ProcState {
    /// The system call the thread is in, by name (`futex`, `read`, or
    /// `#NNN` for one this table does not know); `None` when it is not in
    /// one (running, or asleep outside a call) or the kernel did not say.
    pub fn syscall_name(&self) -> Option<String> {
        let first = self.syscall.split_whitespace().next()?;
        let nr: i64 = first.parse().ok()?;
        if nr < 0 {
            return None;
        }
        Some(syscall_name(nr).map_or_else(|| format!("#{nr}"), str::to_string))
    }

    /// The thread's state in words: "running", "blocked in a futex wait",
    /// "in a system call: read", "sleeping (nanosleep)", "stopped",
    /// "asleep in the kernel (wchan ...)" ...
    pub fn describe(&self) -> String {
        let call = self.syscall_name();
        let running_now = self.syscall.trim() == "running" || self.state == "R";
        match self.state.as_str() {
            "Z" | "X" => return "exited (a zombie: its process has not reaped it)".into(),
            "T" => return "stopped (SIGSTOP, or a debugger)".into(),
            "t" => return "stopped by a debugger (tracing stop)".into(),
            _ => {}
        }
        if running_now {
            return match call {
                Some(c) if self.syscall.trim() != "running" => {
                    format!("running, in a system call: {c}")
                }
                _ => "running".into(),
            };
        }
        let uninterruptible = self.state == "D";
        let words = match call.as_deref() {
            Some("futex") | Some("futex_waitv") => "blocked in a futex wait".to_string(),
            Some(c @ ("nanosleep" | "clock_nanosleep")) => format!("sleeping ({c})"),
            Some(
                c @ ("poll" | "ppoll" | "select" | "pselect6" | "epoll_wait" | "epoll_pwait"
                | "epoll_pwait2" | "io_uring_enter"),
            ) => format!("waiting for I/O ({c})"),
            Some(c @ ("wait4" | "waitid")) => format!("waiting for a child process ({c})"),
            Some(c @ ("pause" | "rt_sigsuspend" | "rt_sigtimedwait")) => {
                format!("waiting for a signal ({c})")
            }
            Some(c) => format!("in a system call: {c}"),
            None if self.syscall.trim_start().starts_with("-1") => {
                format!(
                    "asleep in the kernel outside a system call (in {})",
                    self.wchan
                )
            }
            None if self.wchan.is_empty() || self.wchan == "0" => "asleep".to_string(),
            None => format!("asleep in the kernel (in {})", self.wchan),
        };
        if uninterruptible {
            format!("{words}, in uninterruptible sleep (disk or network file system I/O)")
        } else {
            words
        }
    }

    /// The raw fields: `state S, wchan futex_do_wait, syscall 202 0x7f...`.
    pub fn raw(&self) -> String {
        format!(
            "state {}, wchan {}, syscall {}",
            self.state, self.wchan, self.syscall
        )
    }
}
