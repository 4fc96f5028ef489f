//! End to end with a real process: a deadlock the runtime finds inside one
//! process between two locks of one class (`demo_accounts`: per-object
//! locks, made at one site, taken in both orders), of which the records
//! hold no edge, fails `lockgraph check` and `lockgraph test`, in every
//! output format, and a baseline written of it tolerates it.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// Runs `demo_accounts` recording into `dir`: its pid and its stderr.
fn accounts_run(dir: &Path) -> (u32, String) {
    let child = Command::new(demo_accounts())
        .env("LOCKGRAPH_RECORD", dir)
        .env_remove("LOCKGRAPH_ON_CYCLE")
        .env_remove("LOCKGRAPH_BACKTRACE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "demo_accounts: {:?}", out.status);
    (pid, String::from_utf8_lossy(&out.stderr).into_owned())
}

const EXAMPLE: &str = "crates/lockgraph-cli/examples/demo_accounts.rs";

/// The line of the example that holds `code`.
fn line_of(code: &str) -> usize {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo_accounts.rs"),
    )
    .unwrap();
    1 + text.lines().position(|l| l.contains(code)).unwrap()
}

#[test]
fn a_cycle_of_one_class_found_at_run_time_fails_the_check() {
    let d = tempdir();
    let (pid, stderr) = accounts_run(d.path());
    assert!(stderr.contains("level: instance"), "{stderr}");
    let made = line_of("lockgraph::Mutex::new(balance)");
    let (held, requested) = (line_of("from.balance.lock()"), line_of("to.balance.lock()"));
    let o = run_in(d.path(), &["check", "."]);
    assert_code(&o, 1);
    let out = stdout(&o);
    for needle in [
        "lockgraph: potential deadlock: lock-order cycle through 2 locks, found at run time\n"
            .to_string(),
        format!("key: cycle:site:{EXAMPLE}:{made}:"),
        format!(
            "found at run time by process {pid} (`demo_accounts`): these very locks, of one class, \
             taken in both orders"
        ),
        format!("L1 Mutex created at {EXAMPLE}:{made}:"),
        format!("L2 Mutex created at {EXAMPLE}:{made}:"),
        format!("L1 -> L2  thread `main` held L1 `{EXAMPLE}:{made}` (taken at {EXAMPLE}:{held}:"),
        format!("L2 -> L1  thread `main` held L2 `{EXAMPLE}:{made}` (taken at {EXAMPLE}:{held}:"),
        format!("then requested L1 `{EXAMPLE}:{made}` at {EXAMPLE}:{requested}:"),
        "<- this edge closes the cycle".to_string(),
        "demo_accounts::transfer".to_string(),
        "fix: take the objects of this class in one order everywhere".to_string(),
        "lockgraph: 1 lock-order cycle and 0 order violations in 1 record file (1 process, 1 lock \
         class, 0 edges from 0 recordings)"
            .to_string(),
    ] {
        assert!(out.contains(&needle), "missing {needle:?} in\n{out}");
    }
    assert_eq!(
        out.matches("lockgraph: potential deadlock").count(),
        1,
        "{out}"
    );

    let o = run_in(d.path(), &["check", "--format", "json", "."]);
    assert_code(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["cycles"], 1);
    let c = &v["cycles"][0];
    assert_eq!(c["found_at_run_time"]["level"], "instance");
    assert_eq!(c["found_at_run_time"]["one_class"], true);
    assert_eq!(c["found_at_run_time"]["processes"][0]["pid"], pid);
    // One run of two locks of one class.
    assert_eq!(c["locks"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            c["locks"][0]["id"].as_str(),
            c["locks"][0]["count"].as_u64()
        ),
        (Some("L1"), Some(2))
    );
    assert!(c["message"].as_str().unwrap().contains("found at run time"));

    let o = run_in(d.path(), &["check", "--format", "sarif", "."]);
    assert_code(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["ruleId"], "lock-order-cycle");
    // At the request that closed the cycle.
    let at = &r["locations"][0]["physicalLocation"];
    assert_eq!(at["artifactLocation"]["uri"], EXAMPLE);
    assert_eq!(at["region"]["startLine"], requested);
    assert!(
        r["message"]["text"].as_str().unwrap().contains(&format!(
            "found at run time by process {pid} (`demo_accounts`)"
        )),
        "{r}"
    );
}

#[test]
fn lockgraph_test_fails_on_a_cycle_found_at_run_time() {
    let d = tempdir();
    let o = run_in(d.path(), &["test", "--", demo_accounts()]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("lockgraph: 1 lock-order cycle and 0 order violations"),
        "{}",
        stdout(&o)
    );
}

/// `lockgraph baseline` writes the cycle's key, the next check with it
/// passes and counts it as found again, and a process that finds it again
/// with the baseline in force passes too.
#[test]
fn a_baseline_of_a_cycle_found_at_run_time_tolerates_it() {
    let d = tempdir();
    accounts_run(d.path());
    let o = run_in(d.path(), &["baseline", ".", "-o", "baseline.json"]);
    assert_code(&o, 0);
    let written = std::fs::read_to_string(d.path().join("baseline.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&written).unwrap();
    let key = v["cycles"][0]["key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with(&format!("cycle:site:{EXAMPLE}:")),
        "{written}"
    );
    assert_eq!(v["cycles"].as_array().unwrap().len(), 1, "{written}");
    let o = run_in(d.path(), &["check", "--baseline", "baseline.json", "."]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("1 cycle and 0 violations baselined in baseline.json"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("no longer found"), "{}", stdout(&o));
    // Found again by another run: still tolerated, one finding's worth.
    accounts_run(d.path());
    let o = run_in(d.path(), &["check", "--baseline", "baseline.json", "."]);
    assert_code(&o, 0);
}
