//! What `lockgraph test` says about the command it ran: why a failed
//! command may have recorded less than the whole suite, and why a run
//! may have recorded nothing.

use std::ffi::OsString;
use std::path::Path;

use lockgraph_cli::ShowPath as _;

/// Whether `command` runs cargo's or nextest's tests with their default
/// fail-fast: `cargo test` stops at the first test binary that fails,
/// `cargo nextest run` starts no test after the first failure.
fn fails_fast(command: &[OsString]) -> bool {
    let args: Vec<&str> = command.iter().filter_map(|a| a.to_str()).collect();
    let Some(program) = args.first() else {
        return false;
    };
    let is_cargo = Path::new(program).file_stem().is_some_and(|s| s == "cargo");
    // The subcommand: the first argument that is not an option (`+nightly`
    // and `--locked` may come before it).
    let mut words = args[1..].iter().filter(|a| !a.starts_with(['-', '+']));
    let runs_tests = match words.next() {
        Some(&"test") => true,
        Some(&"nextest") => words.next() == Some(&"run"),
        _ => false,
    };
    let until_dashes = args.iter().take_while(|a| **a != "--");
    let no_fail_fast = until_dashes
        .clone()
        .any(|a| *a == "--no-fail-fast" || a.starts_with("--max-fail"));
    is_cargo && runs_tests && !no_fail_fast
}

/// The line printed when the command failed and it was a fail-fast test
/// run: the records miss every test that did not run.
pub(crate) fn fail_fast_line(command: &[OsString]) -> Option<&'static str> {
    fails_fast(command).then_some(
        "lockgraph: the tests stopped at the first failure (cargo test stops at the first \
         test binary that fails, nextest starts no test after one): the tests that did not \
         run recorded nothing, so this check covers part of the suite; pass --no-fail-fast \
         to record every test",
    )
}

/// Why nothing was recorded in `dir` by `program`: `failed`, when the
/// command failed (a build error most often), else tracking compiled out.
pub(crate) fn nothing_recorded(dir: &Path, program: &str, failed: bool) -> String {
    let dir = dir.shown();
    if failed {
        format!(
            "nothing was recorded in {dir}: the command failed before any process that \
             `{program}` started took a lockgraph lock with lock tracking compiled in (a \
             build that failed, or tests that did not start: see the command's output \
             above). Were it to succeed without recording, the cause would be a release \
             build (`--release`), which compiles tracking out unless lockgraph's \
             `track-in-release` feature is on"
        )
    } else {
        format!(
            "nothing was recorded in {dir}: no process that `{program}` started took a \
             lockgraph lock with lock tracking compiled in. Tracking is compiled out of \
             release builds (`cargo test --release`) unless lockgraph's `track-in-release` \
             feature is on: run the tests in a debug build, or pass --allow-empty if \
             recording nothing is expected"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn fail_fast_runs_are_told_apart() {
        for (c, fast) in [
            ("cargo test", true),
            ("cargo test --workspace", true),
            ("/usr/bin/cargo +stable test -p api", true),
            ("cargo --locked test", true),
            ("cargo nextest run", true),
            ("cargo test --no-fail-fast", false),
            ("cargo nextest run --no-fail-fast", false),
            ("cargo nextest run --max-fail=10", false),
            ("cargo test -- --no-fail-fast", true),
            ("cargo build", false),
            ("cargo nextest list", false),
            ("make test", false),
            ("sh -c cargo test", false),
        ] {
            assert_eq!(fails_fast(&cmd(c)), fast, "{c}");
        }
    }

    #[test]
    fn a_failed_command_is_not_blamed_on_release_builds_first() {
        let failed = nothing_recorded(Path::new("/t/lockgraph"), "cargo", true);
        assert!(failed.contains("the command failed before"), "{failed}");
        let ok = nothing_recorded(Path::new("/t/lockgraph"), "cargo", false);
        assert!(
            ok.starts_with("nothing was recorded in /t/lockgraph: no process"),
            "{ok}"
        );
    }
}
