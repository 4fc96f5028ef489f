//! Locks created in dependencies: their sites are paths under CARGO_HOME,
//! which differ between machines, yet the records of two machines give
//! the same findings and one baseline (even one written before class ids
//! were made portable) matches both.

use std::path::Path;

use serde_json::{json, Value};

use crate::util::*;

/// Where a machine keeps cargo's sources, and which runtime wrote its
/// records: an older one wrote a dependency's full path in the class id.
struct Machine {
    home: &'static str,
    sep: &'static str,
    index: &'static str,
    old_runtime: bool,
}

const ALICE: Machine = Machine {
    home: "/home/alice/.cargo",
    sep: "/",
    index: "index.crates.io-6f17d22bba15001f",
    old_runtime: true,
};

const CI: Machine = Machine {
    home: "/builds/ci/cache/cargo",
    sep: "/",
    index: "index.crates.io-1949cf8c6b5b557f",
    old_runtime: false,
};

const CAROL: Machine = Machine {
    home: r"C:\Users\carol\.cargo",
    sep: r"\",
    index: "index.crates.io-1949cf8c6b5b557f",
    old_runtime: true,
};

/// A lock class created in a dependency: the file's parts after the
/// registry index (or the git checkout's revision), its line and column,
/// the protected type, and the class id's file as the runtime writes it now.
struct DepLock {
    git: bool,
    parts: &'static [&'static str],
    at: &'static str,
    ty: &'static str,
    key_file: &'static str,
}

const MOKA: DepLock = DepLock {
    git: false,
    parts: &["moka-0.12.16", "src", "sync", "cache.rs"],
    at: "10:5",
    ty: "moka::sync::Inner",
    key_file: "moka-0.12.16/src/sync/cache.rs",
};

const TOKIO: DepLock = DepLock {
    git: true,
    parts: &["tokio", "src", "sync", "mutex.rs"],
    at: "88:21",
    ty: "tokio::sync::Shared",
    key_file: "tokio/tokio/src/sync/mutex.rs",
};

const MOKA_KEY: &str = "site:moka-0.12.16/src/sync/cache.rs:10:5:moka::sync::Inner";
const TOKIO_KEY: &str = "site:tokio/tokio/src/sync/mutex.rs:88:21:tokio::sync::Shared";
const MODEL_KEY: &str = "site:src/model.rs:41:17:app::Model";

impl Machine {
    /// The full path of a dependency lock's file on this machine.
    fn file(&self, lock: &DepLock) -> String {
        let mut parts: Vec<&str> = vec![self.home];
        if lock.git {
            parts.extend(["git", "checkouts", "tokio-377c595163f99a10", "d8e4d0d"]);
        } else {
            parts.extend(["registry", "src", self.index]);
        }
        parts.extend(lock.parts);
        parts.join(self.sep)
    }

    /// The class id this machine's runtime wrote for a dependency lock.
    fn class_id(&self, lock: &DepLock) -> String {
        let file = if self.old_runtime {
            self.file(lock)
        } else {
            lock.key_file.to_string()
        };
        format!("site:{file}:{}:{}", lock.at, lock.ty)
    }

    /// A dependency lock's class, as an edge line describes it: the site
    /// keeps the full path.
    fn class(&self, lock: &DepLock) -> Value {
        json!({
            "class": self.class_id(lock),
            "name": null,
            "kind": "RwLock",
            "site": format!("{}:{}", self.file(lock), lock.at),
        })
    }

    /// This machine's records: the cycles `moka <-> app_state` and
    /// `tokio -> model -> tokio`, each half in another process.
    fn write_records(&self, dir: &Path) {
        let model = json!({
            "class": MODEL_KEY, "name": null, "kind": "Mutex", "site": "src/model.rs:41:17",
        });
        let (moka, tokio) = (self.class(&MOKA), self.class(&TOKIO));
        let dep_site = |lock: &DepLock| format!("{}:{}", self.file(lock), lock.at);
        let moka_first = edge("a", "app_state")
            .set("from", moka.clone())
            .sites(&dep_site(&MOKA), "src/state.rs:7:3");
        let app_first = edge("app_state", "a").set("to", moka);
        let tokio_first = edge("a", "b")
            .set("from", tokio.clone())
            .set("to", model.clone())
            .sites(&dep_site(&TOKIO), "src/model.rs:50:9");
        let model_first = edge("a", "b").set("from", model).set("to", tokio);
        write_file(dir, 10, &[moka_first, tokio_first]);
        write_file(dir, 11, &[app_first, model_first]);
    }

    /// The class id an older runtime wrote on this machine.
    fn class_id_old(&self, lock: &DepLock) -> String {
        format!("{}:{}:{}", self.file(lock), lock.at, lock.ty)
    }
}

/// `lockgraph check --format json --order order.toml [EXTRA...] DIR...` in
/// `cwd`: the report and the exit code.
fn check_json(cwd: &Path, extra: &[&str], dirs: &[&Path]) -> (Value, Option<i32>) {
    let mut args = vec!["check", "--format", "json", "--order", "order.toml"];
    args.extend(extra);
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    args.extend(dirs.iter().map(String::as_str));
    let o = run_in(cwd, &args);
    let v = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&o), stderr(&o)));
    (v, o.status.code())
}

/// Each finding's key, fingerprint and locks' class ids.
fn identities(report: &Value) -> Vec<Value> {
    let findings = report["cycles"].as_array().unwrap().iter();
    findings
        .chain(report["violations"].as_array().unwrap())
        .map(|f| {
            let locks: Vec<&Value> = match f["locks"].as_array() {
                Some(l) => l.iter().map(|l| &l["class"]).collect(),
                None => vec![&f["from"]["class"], &f["to"]["class"]],
            };
            json!({ "key": f["key"], "fingerprint": f["fingerprint"], "locks": locks })
        })
        .collect()
}

/// Three machines' records, each in its own directory under a temporary
/// one (which also holds the order file).
fn three_machines() -> (tempfile::TempDir, Vec<std::path::PathBuf>) {
    let root = tempdir();
    let dirs: Vec<_> = ["alice", "ci", "carol"]
        .iter()
        .zip([ALICE, CI, CAROL])
        .map(|(name, m)| {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            m.write_records(&dir);
            dir
        })
        .collect();
    // `app_state` before the cache lock, the entry written with the
    // cache's path on Alice's machine (as its class id was written then).
    let order = format!(
        "order = [\"app_state\", {}]\n",
        json!(format!("site:{}", ALICE.class_id_old(&MOKA)))
    );
    std::fs::write(root.path().join("order.toml"), order).unwrap();
    (root, dirs)
}

#[test]
fn two_machines_records_give_the_same_findings() {
    let (root, dirs) = three_machines();
    let reports: Vec<Value> = dirs
        .iter()
        .map(|d| {
            let (v, code) = check_json(root.path(), &[], &[d]);
            assert_eq!(code, Some(1), "{v}");
            v
        })
        .collect();
    let want = identities(&reports[0]);
    let keys: Vec<&Value> = want.iter().map(|f| &f["key"]).collect();
    assert_eq!(
        keys,
        [
            &json!(format!("cycle:name:app_state -> {MOKA_KEY}")),
            &json!(format!("cycle:{MODEL_KEY} -> {TOKIO_KEY}")),
            &json!(format!("order:{MOKA_KEY} -> name:app_state")),
        ],
        "{}",
        reports[0]
    );
    for (dir, report) in dirs.iter().zip(&reports) {
        assert_eq!(identities(report), want, "{}", dir.display());
    }
    // Reports still show where each machine's lock was created.
    let moka_site = |v: &Value| v["cycles"][0]["locks"][1]["site"].clone();
    assert_eq!(
        moka_site(&reports[0]),
        json!(format!("{}:10:5", ALICE.file(&MOKA)))
    );
    assert_eq!(
        moka_site(&reports[1]),
        json!(format!("{}:10:5", CI.file(&MOKA)))
    );
    // Merged, the machines' classes are one each.
    let paths: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    let (all, code) = check_json(root.path(), &[], &paths);
    assert_eq!(code, Some(1));
    assert_eq!(all["summary"]["classes"], 4, "{all}");
    assert_eq!(identities(&all), want);
}

#[test]
fn one_baseline_matches_every_machine() {
    let (root, dirs) = three_machines();
    for (i, made_on) in dirs.iter().enumerate() {
        let base = format!("base-{i}.json");
        let o = run_in(
            root.path(),
            &[
                "baseline",
                "--order",
                "order.toml",
                "-o",
                &base,
                made_on.to_str().unwrap(),
            ],
        );
        assert_code(&o, 0);
        let text = std::fs::read_to_string(root.path().join(&base)).unwrap();
        assert!(!text.contains("cargo"), "{text}");
        assert_baseline_matches(root.path(), &base, &dirs);
    }
}

/// A baseline as `lockgraph baseline` wrote it on Alice's machine before
/// class ids were made portable: full paths, and the cycle through the git
/// dependency rotated to start at its lock (`site:/...` sorted first).
fn old_baseline() -> Value {
    let moka = format!("site:{}", ALICE.class_id_old(&MOKA));
    let tokio = format!("site:{}", ALICE.class_id_old(&TOKIO));
    json!({
        "lockgraph_baseline": 1,
        "cycles": [
            {
                "key": format!("cycle:name:app_state -> {moka}"),
                "locks": ["name:app_state", moka],
            },
            {
                "key": format!("cycle:{tokio} -> {MODEL_KEY}"),
                "locks": [tokio, MODEL_KEY],
            },
        ],
        "violations": [{ "key": format!("order:{moka} -> name:app_state") }],
    })
}

#[test]
fn a_baseline_written_before_the_change_still_matches() {
    let (root, dirs) = three_machines();
    let old = old_baseline();
    std::fs::write(root.path().join("old.json"), old.to_string()).unwrap();
    assert_baseline_matches(root.path(), "old.json", &dirs);
    // One with keys only, as the earliest baselines were.
    let mut keys_only = old;
    for c in keys_only["cycles"].as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("locks");
    }
    std::fs::write(root.path().join("keys.json"), keys_only.to_string()).unwrap();
    assert_baseline_matches(root.path(), "keys.json", &dirs);
}

/// `check --baseline BASE` passes on every machine's records: every
/// finding tolerated, none stale.
fn assert_baseline_matches(cwd: &Path, base: &str, dirs: &[std::path::PathBuf]) {
    for dir in dirs {
        let (v, code) = check_json(cwd, &["--baseline", base], &[dir]);
        assert_eq!(code, Some(0), "{base} on {}: {v}", dir.display());
        assert_eq!(v["baseline"]["cycles"], 2, "{v}");
        assert_eq!(v["baseline"]["violations"], 1, "{v}");
        assert_eq!(v["baseline"]["stale"], json!([]), "{v}");
    }
}

/// A profile file's class entry for a dependency lock of `m`'s.
fn profile_entry(m: &Machine, acquisitions: u64) -> Value {
    let mut v = profile_class(m.class(&MOKA));
    v["acquisitions"] = json!(acquisitions);
    v
}

#[test]
fn profiles_of_two_machines_merge_a_dependency_lock_into_one_class() {
    let d = tempdir();
    for (pid, m, acquisitions) in [(1, ALICE, 30), (2, CI, 12)] {
        let text = json!({
            "lockgraph_profile": 1,
            "pid": pid,
            "exe": "/bin/app",
            "classes": [profile_entry(&m, acquisitions)],
        });
        let name = format!("lockgraph-profile-{pid}.json");
        write_raw(d.path(), &name, text.to_string());
    }
    let o = run_in(d.path(), &["profile", "--format", "json", "."]);
    assert_code(&o, 0);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows["classes"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["class"], MOKA_KEY);
    assert_eq!(rows[0]["acquisitions"], 42);
}

/// An `--order` glob written for a dependency's site as class ids were
/// written before they were made portable (its path under CARGO_HOME, a
/// `*` for the machine's part) still matches the class on each Unix
/// machine (the pattern's `/` is not a Windows path's `\`).
#[test]
fn an_order_glob_over_the_full_path_still_matches() {
    let (root, dirs) = three_machines();
    let order = "order = [\"app_state\", \"site:*/moka-0.12.16/src/sync/cache.rs:*\"]\n";
    std::fs::write(root.path().join("order.toml"), order).unwrap();
    let want = json!(format!("order:{MOKA_KEY} -> name:app_state"));
    for dir in &dirs[..2] {
        let (v, code) = check_json(root.path(), &[], &[dir]);
        assert_eq!(code, Some(1), "{v}");
        let found = identities(&v).iter().any(|f| f["key"] == want);
        assert!(found, "{}: {v}", dir.display());
    }
}
