//! The files of `lockgraph dump --pid`, on the answering side: each asker
//! creates its own request file in this process's temporary directory
//! ([`dump_request_path`]) before it signals; at the next scan after the
//! SIGUSR2, the watchdog thread writes the dump to each asker's answer file
//! ([`dump_answer_path`]) whose request is valid (`is_request`). A signal
//! with no request (a `kill -USR2` by hand) writes no file; askers at the
//! same time each get their own answer. The asking side is `ask_dump`.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file `lockgraph dump --pid <pid>` creates before it signals:
/// `lockgraph-dump-<pid>-for-<asker>.request` in the process's temporary
/// directory (`TMPDIR`, else `/tmp`). `asker` names one asking (its
/// process id and a count: digits and `-`).
pub fn dump_request_path(pid: u32, asker: &str) -> PathBuf {
    std::env::temp_dir().join(request_name(pid, asker))
}

/// Where process `pid` answers the asker `asker`: beside its request,
/// `lockgraph-dump-<pid>-for-<asker>.json`.
pub fn dump_answer_path(pid: u32, asker: &str) -> PathBuf {
    std::env::temp_dir().join(answer_name(pid, asker))
}

/// The request file's name, in whichever temporary directory is the
/// process's (the asker reads that from `/proc`).
pub(super) fn request_name(pid: u32, asker: &str) -> String {
    format!("{}{asker}.request", prefix(pid))
}

/// The answer file's name (see [`request_name`]).
pub(super) fn answer_name(pid: u32, asker: &str) -> String {
    format!("{}{asker}.json", prefix(pid))
}

fn prefix(pid: u32) -> String {
    format!("lockgraph-dump-{pid}-for-")
}

/// Whether `asker` is a name an asker uses (digits and `-`): nothing else
/// in the temporary directory is answered.
fn is_asker(asker: &str) -> bool {
    !asker.is_empty() && asker.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// The asking process's pid in a request's or an answer's file name
/// (`lockgraph-dump-<pid>-for-<asker pid>-<count>.request` or `.json`), for
/// any process `<pid>`; `None` for any other name.
pub(super) fn asker_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("lockgraph-dump-")?;
    let (pid, asker) = rest.split_once("-for-")?;
    let asker = asker
        .strip_suffix(".request")
        .or_else(|| asker.strip_suffix(".json"))?;
    let (asker_pid, count) = asker.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(pid) && digits(count)) {
        return None;
    }
    asker_pid.parse().ok()
}

/// Writes `json` (the dump) to the answer file of every valid request to
/// this process; `fresh_for`: how old a request may be.
pub(super) fn answer_requests(json: &str, fresh_for: Duration) {
    let pid = std::process::id();
    let dir = std::env::temp_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let prefix = prefix(pid);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(asker) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".request"))
            .filter(|a| is_asker(a))
        else {
            continue;
        };
        let request = dir.join(&name);
        // A request is an asker's: a plain file of this process's user or
        // root's, made since the asker signalled (one left by an asker
        // stopped half-way, in a `/tmp` where this process may not remove
        // root's files, must not turn every later `kill -USR2` into a file
        // again), and never a link or another user's file.
        if !is_request(&request, fresh_for) {
            continue;
        }
        // The asker removes it too (this process may not be allowed to, in
        // a sticky `/tmp`, when the asker is root).
        let _ = std::fs::remove_file(&request);
        write_answer(&dir.join(answer_name(pid, asker)), json);
    }
}

/// Created new (never through a link someone left), readable by this user
/// alone (and root), then renamed into place whole: the reader sees all of
/// it or nothing.
fn write_answer(path: &Path, json: &str) {
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let written = open
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, json.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        crate::stderr::line(&format!("lockgraph: cannot write {}: {e}", path.display()));
    }
}

/// Whether `path` is a request to answer: a plain file (not a link), owned
/// by this process's user or by root, modified less than `fresh_for` ago
/// (or, with a clock set back, after now).
fn is_request(path: &Path, fresh_for: Duration) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.file_type().is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me && meta.uid() != 0 {
            return false;
        }
    }
    meta.modified()
        .is_ok_and(|t| t.elapsed().map_or(true, |age| age < fresh_for))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_askers_name_is_answered() {
        assert!(is_asker("1234-0"));
        assert!(!is_asker(""));
        assert!(!is_asker("../x"));
        assert!(!is_asker("12.json"));
        let p = dump_request_path(7, "99-1");
        assert!(p.ends_with("lockgraph-dump-7-for-99-1.request"), "{p:?}");
        let a = dump_answer_path(7, "99-1");
        assert!(a.ends_with("lockgraph-dump-7-for-99-1.json"), "{a:?}");
    }

    #[test]
    fn the_asker_is_read_back_from_a_file_name() {
        assert_eq!(asker_of(&request_name(7, "99-1")), Some(99));
        assert_eq!(asker_of(&answer_name(7, "4321-12")), Some(4321));
        for other in [
            "lockgraph-dump-7-for-99-1.json.tmp",
            "lockgraph-dump-7-for-99.json",
            "lockgraph-dump-7-for--1.json",
            "lockgraph-dump-x-for-99-1.json",
            "lockgraph-dump-7-for-99-1-2.json",
            "lockgraph-watchdog-host-7.jsonl",
            "lockgraph-dump-7-for-99-.request",
        ] {
            assert_eq!(asker_of(other), None, "{other}");
        }
    }
}
