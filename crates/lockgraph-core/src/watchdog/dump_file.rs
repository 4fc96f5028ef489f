//! The dump directory (`LOCKGRAPH_DUMP_DIR`, [`Config::dump_dir`]): one file
//! per process, `lockgraph-watchdog-<host>-<pid>.jsonl`, of JSON lines: first a
//! `process` line (pid, host, rank, program), then each watchdog report, each
//! dump and each progress marker as it comes. `lockgraph hang DIR` reads the
//! files of every process of a job.
//!
//! Crash-safe appends: each record is one complete line written with one
//! `write` to a file opened with `O_APPEND` (the kernel appends it whole, at
//! the end, even with other writers), so a process killed at any point
//! leaves whole lines, plus at most one cut last line (killed inside the
//! `write`), which readers name and skip. Nothing is buffered in the process:
//! a line is in the file (the page cache) once its `write` returned, so a
//! SIGKILL afterwards loses nothing; a machine that loses power may lose what
//! the kernel had not written back.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

/// The pid whose `process` line was written (a forked child writes its own).
static HEADER_FOR: AtomicU32 = AtomicU32::new(0);
/// Serialises the writes of this process (the header once per pid).
static WRITING: Mutex<()> = Mutex::new(());

/// The dump directory in force: the watchdog's configuration, else
/// `LOCKGRAPH_DUMP_DIR`.
pub(crate) fn dump_dir() -> Option<PathBuf> {
    match CONFIG.get() {
        Some(c) => c.dump_dir.clone(),
        None => crate::env::DUMP_DIR.path(),
    }
}

/// This machine's name (`/proc/sys/kernel/hostname`, else `HOSTNAME`, else
/// `localhost`), as a file name part.
pub(crate) fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        let h: String = h
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if h.is_empty() {
            "localhost".into()
        } else {
            h
        }
    })
}

/// The process's rank in a job, from the launchers' usual variables
/// (`RANK`: torchrun, `OMPI_COMM_WORLD_RANK`, `PMI_RANK`, `SLURM_PROCID`).
fn rank() -> Option<u64> {
    ["RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
}

/// The file of this process in `dir`.
pub(crate) fn file_of(dir: &Path) -> PathBuf {
    dir.join(format!(
        "lockgraph-watchdog-{}-{}.jsonl",
        host(),
        std::process::id()
    ))
}

pub(crate) fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn process_line() -> String {
    let mut s = String::from("{\"lockgraph_watchdog\":1,\"kind\":\"process\"");
    let _ = write!(s, ",\"pid\":{},\"host\":", std::process::id());
    crate::record::json_str(&mut s, host());
    s.push_str(",\"rank\":");
    match rank() {
        Some(r) => {
            let _ = write!(s, "{r}");
        }
        None => s.push_str("null"),
    }
    s.push_str(",\"exe\":");
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    crate::record::json_str(&mut s, &exe);
    s.push_str(",\"args\":[");
    for (i, a) in std::env::args_os().enumerate() {
        if i > 0 {
            s.push(',');
        }
        crate::record::json_str(&mut s, &a.to_string_lossy());
    }
    let _ = write!(s, "],\"at_unix_ms\":{}}}", unix_ms(SystemTime::now()));
    s
}

/// Appends `record` (one JSON object, without a newline) to this process's
/// file in `dir`, after the `process` line if this process has none yet.
/// Failures are said on stderr (the report itself still goes out).
pub(crate) fn append(dir: &Path, record: &str) {
    fork_safe();
    let path = file_of(dir);
    let _writing = WRITING.lock();
    let pid = std::process::id();
    let mut text = String::new();
    if HEADER_FOR.load(Ordering::Relaxed) != pid {
        text.push_str(&process_line());
        text.push('\n');
    }
    text.push_str(record.trim_end());
    text.push('\n');
    let written = std::fs::create_dir_all(dir)
        .map_err(|e| (e, true))
        .and_then(|()| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(|e| (e, false))?;
            // One write per call: whole lines, appended at the end.
            f.write_all(text.as_bytes()).map_err(|e| (e, false))
        });
    let mut said = SAID.lock();
    match written {
        Ok(()) => {
            HEADER_FOR.store(pid, Ordering::Relaxed);
            if said.take().is_some() {
                crate::stderr::line(&format!("lockgraph: {} is written again", path.display()));
            }
        }
        Err((e, creating)) => {
            // Once per failure, not at every record (progress markers
            // come every few seconds: an unwritable directory printed a
            // line at every scan; found by an outside test).
            let message = if creating {
                create_error(dir, &e)
            } else {
                write_error(dir, &path, &e)
            };
            if said.as_deref() != Some(message.as_str()) {
                crate::stderr::line(&format!(
                    "{message}; this process's reports go to stderr only until it can write there (said once)"
                ));
                *said = Some(message);
            }
        }
    }
}

/// The last failure said of the dump directory (`None`: none, or it was
/// written since).
static SAID: Mutex<Option<String>> = Mutex::new(None);

static FORK_REGISTERED: AtomicBool = AtomicBool::new(false);

/// The dump file's locks and the progress markers' across `fork()` (see
/// `fork.rs`): a child forked while another thread wrote a line (the
/// watchdog, the markers' own thread) would block at its first write
/// (found by a review). No thread holds one of them while it waits for
/// another lock of lockgraph's but [`SAID`] under [`WRITING`], taken in
/// that order here too.
static FORK_HOOKS: crate::fork::Hooks = crate::fork::Hooks {
    prepare: || {
        progress::hold_for_fork();
        crate::fork::hold(WRITING.lock());
        crate::fork::hold(SAID.lock());
    },
    child: crate::fork::nothing,
};

/// Registers [`FORK_HOOKS`] (once; a load after that).
pub(super) fn fork_safe() {
    crate::fork::register(&FORK_REGISTERED, &FORK_HOOKS);
}

/// What a dump directory that cannot be created says.
fn create_error(dir: &Path, e: &std::io::Error) -> String {
    if dir.ancestors().any(|a| a.exists() && !a.is_dir()) {
        return write_error(dir, &file_of(dir), e);
    }
    format!(
        "lockgraph: cannot create the dump directory LOCKGRAPH_DUMP_DIR={}: {e}",
        dir.display()
    )
}

/// What a failed write of `path`, in the dump directory `dir`, says: a
/// `dir` that is a file is named as one (it said "cannot write
/// dir/file.jsonl: File exists"; found by an outside test).
fn write_error(dir: &Path, path: &Path, e: &std::io::Error) -> String {
    // `dir` itself, or the nearest part of it that exists, is a file.
    if let Some(file) = dir.ancestors().find(|a| a.exists()).filter(|a| !a.is_dir()) {
        let what = if file == dir {
            String::new()
        } else {
            format!(" ({} is a file)", file.display())
        };
        return format!(
            "lockgraph: LOCKGRAPH_DUMP_DIR={} is not a directory{what}",
            dir.display()
        );
    }
    format!("lockgraph: cannot write {}: {e}", path.display())
}

/// Appends a report made outside the thread watchdog (the task watchdog's,
/// `crate::task`) to this process's file in the dump directory in force,
/// after the progress markers that changed, as the thread watchdog writes
/// its own: `record()` (one JSON object) is made only when there is a
/// directory.
pub(crate) fn append_report(record: impl FnOnce() -> String) {
    let Some(dir) = dump_dir() else { return };
    progress::flush();
    append(&dir, &record());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_dir_that_is_a_file_is_named_as_one() {
        let file =
            std::env::temp_dir().join(format!("lockgraph-dump-dir-file-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let path = file_of(&file);
        let e = std::fs::create_dir_all(&file).unwrap_err();
        assert_eq!(
            write_error(&file, &path, &e),
            format!(
                "lockgraph: LOCKGRAPH_DUMP_DIR={} is not a directory",
                file.display()
            )
        );
        // Under a file.
        let sub = file.join("sub");
        let e = std::fs::create_dir_all(&sub).unwrap_err();
        assert_eq!(
            write_error(&sub, &file_of(&sub), &e),
            format!(
                "lockgraph: LOCKGRAPH_DUMP_DIR={} is not a directory ({} is a file)",
                sub.display(),
                file.display()
            )
        );
        std::fs::remove_file(&file).unwrap();
        // Any other failure says the file and the error.
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let dir = Path::new("/nonexistent-lockgraph-dir");
        assert!(write_error(dir, &file_of(dir), &denied)
            .starts_with("lockgraph: cannot write /nonexistent-lockgraph-dir/"));
    }
}
