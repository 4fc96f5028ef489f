//! Hostile input beyond the records' contents: file names that are not
//! UTF-8, outputs that cannot be written, records and baselines that
//! contradict themselves.

use std::path::Path;

use crate::util::*;

/// A file name that is not UTF-8 is named with `\xNN` for each such byte
/// (it was printed with U+FFFD, which names no file and makes two names
/// alike), in errors and in warnings.
#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_named_with_escapes() {
    use std::os::unix::ffi::OsStrExt as _;
    let d = tempdir();
    let name = |bytes: &[u8]| d.path().join(std::ffi::OsStr::from_bytes(bytes));
    std::fs::create_dir(name(b"rec")).unwrap();
    std::fs::write(name(b"rec/bad-\xff\xfe.jsonl"), "garbage\n").unwrap();
    let o = run_in(d.path(), &["check", "rec"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("rec/bad-\\xFF\\xFE.jsonl:1: missing header"),
        "{err}"
    );
    assert!(!err.contains('\u{fffd}'), "{err}");
    // A warning: an empty record file is skipped.
    std::fs::remove_file(name(b"rec/bad-\xff\xfe.jsonl")).unwrap();
    write_file(&name(b"rec"), 1, &[edge("a", "b")]);
    std::fs::write(name(b"rec/empty-\xe9.jsonl"), "").unwrap();
    let o = run_in(d.path(), &["check", "rec"]);
    assert_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("lockgraph: warning: rec/empty-\\xE9.jsonl: "),
        "{err}"
    );
    assert!(!err.contains('\u{fffd}'), "{err}");
    // An output named so: its directory is named as it is spelled.
    let out = std::ffi::OsStr::from_bytes(b"no-\xff/r.txt");
    let o = bin()
        .current_dir(d.path())
        .arg("check")
        .arg("-o")
        .arg(out)
        .arg("rec")
        .output()
        .unwrap();
    assert_code(&o, 2);
    assert!(stderr(&o).contains("no-\\xFF/r.txt"), "{}", stderr(&o));
}

/// An `-o` that cannot be written is said in the same words by every
/// command, whether it is refused before the command runs (`check`,
/// `baseline`, `profile`, `hang`) or fails at the end (`test`, whose
/// command may make the folder): the path at fault and why, not the
/// system's "no such file or directory" or "not a directory" about no
/// path in particular.
#[test]
fn an_output_that_cannot_be_written_is_said_alike_by_every_command() {
    let d = tempdir();
    let dir = d.path();
    std::fs::create_dir(dir.join("records")).unwrap();
    std::fs::write(dir.join("afile"), "").unwrap();
    std::fs::create_dir(dir.join("adir")).unwrap();
    let test = |out: &str| {
        run_in(
            dir,
            &[
                "test",
                "--allow-empty",
                "--record-dir",
                "rec",
                "-o",
                out,
                "--",
                "true",
            ],
        )
    };
    let missing = "its directory missing does not exist: create it first";
    let o = test("missing/r.txt");
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!(
            "lockgraph: error: cannot write missing/r.txt: {missing}; the report was written to \
             standard output instead"
        )),
        "{}",
        stderr(&o)
    );
    // A file in the way, above the directory named: it is named.
    let o = test("afile/sub/r.txt");
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("cannot write afile/sub/r.txt: afile is not a directory; the report"),
        "{}",
        stderr(&o)
    );
    for cmd in ["check", "baseline", "profile", "hang"] {
        let o = run_in(dir, &[cmd, "records", "-o", "missing/r.txt"]);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains(&format!("-o missing/r.txt: {missing}")),
            "{cmd}: {}",
            stderr(&o)
        );
        let o = run_in(dir, &[cmd, "records", "-o", "afile/sub/r.txt"]);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains("-o afile/sub/r.txt: afile is not a directory"),
            "{cmd}: {}",
            stderr(&o)
        );
        // The output named as what it is, not always as a report.
        let what = match cmd {
            "baseline" => "the baseline",
            "profile" => "the profile",
            _ => "the report",
        };
        let o = run_in(dir, &[cmd, "records", "-o", "adir"]);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains(&format!(
                "-o adir: that is a directory: name a file for {what}"
            )),
            "{cmd}: {}",
            stderr(&o)
        );
    }
}

/// A directory this user may not write in (here /sys, which not even root
/// may create files in) is refused before the command runs, named, and
/// said to be one (it was found only at the end, the report sent to
/// standard output with the system's "permission denied").
#[cfg(target_os = "linux")]
#[test]
fn an_output_in_a_directory_that_cannot_be_written_in_is_refused_first() {
    if std::fs::File::create("/sys/lockgraph-probe").is_ok() || !Path::new("/sys/kernel").is_dir() {
        return;
    }
    let d = tempdir();
    std::fs::create_dir(d.path().join("records")).unwrap();
    for cmd in ["check", "baseline", "profile", "hang"] {
        let o = run_in(d.path(), &[cmd, "records", "-o", "/sys/r.txt"]);
        assert_code(&o, 2);
        assert!(stdout(&o).is_empty(), "{cmd}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains("lockgraph: error: -o /sys/r.txt: permission denied: this user may not create files in /sys")
                || err.contains("lockgraph: error: -o /sys/r.txt: /sys is on a read-only file system"),
            "{cmd}: {err}"
        );
    }
}

/// SARIF locations from hostile sites are valid URIs (SARIF 2.1.0, RFC
/// 3986): a `:` in a relative path no longer reads as a scheme
/// (`weird:name.rs` was written as is), a Windows path with a drive is an
/// absolute `file://` URI (it was `C:/x/y.rs`, relative, scheme `C`), a
/// path that climbs out of the source root is made absolute, and a space,
/// `%`, `#` or non-ASCII character is percent-encoded.
#[test]
fn sarif_locations_from_hostile_sites_are_valid_uris() {
    let d = tempdir();
    let sites = [
        ("weird:name.rs:2:2", "weird%3Aname.rs"),
        ("C:\\x\\y.rs:1:1", "file:///C:/x/y.rs"),
        (
            "src/my dir/100%#x é.rs:3:4",
            "src/my%20dir/100%25%23x%20%C3%A9.rs",
        ),
        ("src/./a/../b.rs:1:1", "src/b.rs"),
    ];
    let mut edges = Vec::new();
    for (i, (site, _)) in sites.iter().enumerate() {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        edges.push(edge(&a, &b).sites(site, site));
        edges.push(edge(&b, &a).sites(site, site));
    }
    write_file(d.path(), 1, &edges);
    let o = run_in(d.path(), &["check", "--format", "sarif", "."]);
    assert_code(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut uris = Vec::new();
    for r in v["runs"][0]["results"].as_array().unwrap() {
        for l in r["locations"].as_array().unwrap() {
            let uri = l["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .to_string();
            let scheme = uri.split_once(':').map(|(s, _)| s);
            let relative = l["physicalLocation"]["artifactLocation"]
                .get("uriBaseId")
                .is_some();
            // A relative reference has no scheme; an absolute one is file:.
            if relative {
                assert!(scheme.is_none_or(|s| s.contains('/')), "relative {uri}");
            } else {
                assert_eq!(scheme, Some("file"), "{uri}");
            }
            assert!(
                uri.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"#?\"<>\\^`{|}".contains(&b)),
                "{uri}"
            );
            uris.push(uri);
        }
    }
    for (site, uri) in sites {
        assert!(uris.iter().any(|u| u == uri), "{site}: {uris:?}");
    }
}

/// A SIGTERM sent to `lockgraph test` alone is passed on to the command it
/// runs and to the processes below it (cargo's test binary, under `cargo
/// test`), and `lockgraph` goes on as when the command fails: it checks
/// what was recorded and exits with 128 + 15. It used to die at once and
/// leave the command running, orphaned (F15); then it passed it on to the
/// command alone, which left the command's own child running (found by an
/// outside on-call test).
#[cfg(target_os = "linux")]
#[test]
fn a_sigterm_to_lockgraph_test_ends_its_command_and_what_it_started() {
    signal_lockgraph_test("TERM", 15);
}

/// The same for a SIGINT sent to `lockgraph` alone (a terminal's Ctrl-C
/// reaches the command too; `kill -INT PID` did not, and `lockgraph` exited
/// 130 without a word).
#[cfg(target_os = "linux")]
#[test]
fn a_sigint_to_lockgraph_test_ends_its_command_and_what_it_started() {
    signal_lockgraph_test("INT", 2);
}

/// Sends `SIG<sig>` (number `number`) to `lockgraph test` running a shell
/// that waits for a child of its own; both must end, `lockgraph` say so and
/// exit with 128 + `number` after its check.
#[cfg(target_os = "linux")]
fn signal_lockgraph_test(sig: &str, number: u8) {
    use std::time::{Duration, Instant};
    let d = tempdir();
    let (pid_file, below_file) = (d.path().join("pid"), d.path().join("below"));
    // The shell writes its pid and runs a child, which writes its own and
    // becomes a sleep (in the foreground: a shell's background jobs ignore
    // SIGINT).
    let script = format!(
        "echo $$ > '{}'; sh -c 'echo $$ > {}; exec sleep 20'; true",
        pid_file.display(),
        below_file.display()
    );
    let lockgraph = bin()
        .current_dir(d.path())
        .args(["test", "--allow-empty", "--record-dir", "rec", "--"])
        .args(["sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    let read_pid =
        |f: &Path| -> Option<u32> { std::fs::read_to_string(f).ok()?.trim().parse().ok() };
    let (command, below) = loop {
        if let (Some(c), Some(b)) = (read_pid(&pid_file), read_pid(&below_file)) {
            break (c, b);
        }
        assert!(Instant::now() < end, "the command never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| !s.rsplit(") ").next().unwrap_or("").starts_with('Z'))
    };
    assert!(alive(command) && alive(below));
    let kill = |sig: &str, pid: u32| {
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
    };
    assert!(kill(&format!("-{sig}"), lockgraph.id()).success());
    let o = lockgraph.wait_with_output().unwrap();
    // The orphan, if any, is reparented and reaped by another process.
    std::thread::sleep(Duration::from_millis(100));
    let left: Vec<u32> = [command, below].into_iter().filter(|&p| alive(p)).collect();
    for &p in &left {
        kill("-KILL", p);
    }
    assert!(left.is_empty(), "left running: {left:?}: {}", stderr(&o));
    assert_code(&o, i32::from(128 + number));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "lockgraph: SIG{sig} received: passed on to the command (pid {command}) and the process it started"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("the command failed (signal: {number} (SIG{sig}))")),
        "{err}"
    );
}
