//! A runner for the built binary, and the synthetic records of
//! `records.rs`.

use std::path::Path;
use std::process::{Command, Output};

pub use crate::records::*;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("lockgraph-cli-test-")
        .tempdir()
        .unwrap()
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lockgraph"))
}

/// The `demo_edge` example (`examples/demo_edge.rs`), built once per test
/// run with `cargo build` in the debug profile, where lock tracking is
/// compiled in whatever profile the tests themselves were built in. (An
/// example rather than a binary, so that `cargo install` installs only
/// `lockgraph`.)
pub fn demo() -> &'static str {
    static DEMO: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DEMO.get_or_init(|| example("demo_edge"))
}

/// The `demo_accounts` example (`examples/demo_accounts.rs`), built like [`demo`].
pub fn demo_accounts() -> &'static str {
    static DEMO: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DEMO.get_or_init(|| example("demo_accounts"))
}

/// The `demo_queue` example (`examples/demo_queue.rs`), built like [`demo`].
pub fn demo_queue() -> &'static str {
    static DEMO: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DEMO.get_or_init(|| example("demo_queue"))
}

/// The `hang_job` example (`examples/hang_job.rs`), built like [`demo`].
pub fn hang_job() -> &'static str {
    static JOB: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JOB.get_or_init(|| example("hang_job"))
}

/// Builds the example `name` of this crate (debug profile) and returns its path.
fn example(name: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "-p",
            "lockgraph-cli",
            "--example",
            name,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run cargo build for the {name} example: {e}"));
    assert!(out.status.success(), "cargo build --example {name} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == name)
        .find_map(|v| v["executable"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("cargo named the {name} executable"))
}

/// Runs `lockgraph ARGS` in `cwd`, whose `target/lockgraph` is the
/// default record directory: without the `CARGO_TARGET_DIR` of the
/// environment that runs the tests, which would move it to one directory
/// that every test shares (a test that moves it sets it itself).
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(cwd)
        .env_remove("CARGO_TARGET_DIR")
        .args(args)
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Runs `lockgraph ARGS` in `cwd`, killing it after `secs` seconds (a
/// failure: the command hung or took far too long).
pub fn run_with_deadline(cwd: &Path, args: &[&str], secs: u64) -> Output {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = bin()
        .current_dir(cwd)
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`lockgraph {}` still running after {secs} s",
                args.join(" ")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}
