//! Whether a signal handler may unwind its thread's stack here: the
//! `LOCKGRAPH_REMOTE_STACKS` switch, glibc's version, and whether the
//! unwinder in use calls `_dl_find_object` (decided once).

#[cfg(target_env = "gnu")]
use std::ffi::{c_int, c_void};
use std::sync::OnceLock;

#[cfg(target_env = "gnu")]
use super::elf::elf_imports;

static SUPPORT: OnceLock<Result<(), String>> = OnceLock::new();

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
pub(super) fn glibc_is_safe(version: &str) -> bool {
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
