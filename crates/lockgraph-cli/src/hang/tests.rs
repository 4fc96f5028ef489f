//! `hang`'s verdicts on processes made by hand.

use super::*;

fn process(label: &str, marks: &[(&str, u64)]) -> Process {
    Process {
        label: label.into(),
        file: PathBuf::from("f"),
        pid: 1,
        host: None,
        rank: None,
        exe: None,
        deadlocks: 0,
        long_waits: 0,
        dumps: 0,
        progress: marks.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        last_unix_ms: None,
    }
}

#[test]
fn progress_names_who_stopped_first_and_who_never_said() {
    let ps = vec![
        process("rank 0", &[("step", 1201)]),
        process("rank 1", &[("step", 1199)]),
        process("rank 2", &[("step", 1202)]),
        process("rank 3", &[("step", 1201)]),
        process("rank 4", &[]),
    ];
    let (f, left_out) = progress_findings(&ps);
    assert_eq!((f.len(), left_out), (1, 0));
    assert_eq!(
        f[0].verdict,
        "rank 1 stopped first, at step 1199; the other 3: 2 at 1201, 1 at 1202"
    );
    assert_eq!(f[0].missing, vec!["rank 4".to_string()]);
    assert_eq!(f[0].missing_count, 1);
    let two = vec![
        process("a", &[("step", 3)]),
        process("b", &[("step", 3)]),
        process("c", &[("step", 4)]),
    ];
    assert_eq!(
        progress_findings(&two).0[0].verdict,
        "a and b stopped first, at step 3; the other one at 4"
    );
    // Two processes, one behind the other: "the other one", not "the other 1".
    let pair = vec![process("a", &[("step", 6)]), process("b", &[("step", 7)])];
    assert_eq!(
        progress_findings(&pair).0[0].verdict,
        "a stopped first, at step 6; the other one at 7"
    );
    let split = vec![
        process("a", &[("step", 6)]),
        process("b", &[("step", 7)]),
        process("c", &[("step", 7)]),
    ];
    assert_eq!(
        progress_findings(&split).0[0].verdict,
        "a stopped first, at step 6; the other 2 at 7"
    );
}

#[test]
fn threads_read_as_states_and_places() {
    let waiting = serde_json::json!({
        "name": "w", "tid": 5,
        "waiting": {"lock": {"label": "Mutex `q`", "resource": false}, "request": "lock",
                    "site": "src/loader.rs:88:13", "stack": ["f (/abs/src/loader.rs:88)"]},
        "held": [], "now": {"description": "blocked in a futex wait"}
    });
    let v = thread_view(&waiting).unwrap();
    assert_eq!(v.state, "waiting on Mutex `q`");
    assert_eq!(v.at.as_deref(), Some("src/loader.rs:88"));
    let holding = serde_json::json!({
        "name": "h", "tid": 6, "waiting": null,
        "held": [{"lock": {"label": "Mutex `q`"}, "site": null}],
        "now": {"description": "sleeping (clock_nanosleep)"},
        "stack_now": {"source": "stack", "frames": ["g (/abs/src/work.rs:12)"]}
    });
    let v = thread_view(&holding).unwrap();
    assert_eq!(v.state, "holding Mutex `q`, sleeping (clock_nanosleep)");
    assert_eq!(v.at.as_deref(), Some("/abs/src/work.rs:12"));
    // A thread blocked (in an async lock's `blocking_lock`, which the dump
    // shows as no wait) while it holds `metrics`: it is at the innermost
    // frame of the program's own code (line 299), not where it took
    // `metrics` (line 295), and not in tokio's frames above it.
    let tokio = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1";
    let blocked = serde_json::json!({
        "name": "os-metrics", "tid": 7, "waiting": null,
        "held": [{"lock": {"label": "Mutex `metrics`"}, "site": "src/main.rs:295:30"}],
        "now": {"description": "blocked in a futex wait"},
        "stack_now": {"source": "stack", "frames": [
            format!("tokio::future::block_on::block_on ({tokio}/src/future/block_on.rs:12)"),
            format!("tokio::sync::mutex::Mutex<T>::blocking_lock ({tokio}/src/sync/mutex.rs:521)"),
            "scratch::tokio_mix::{{closure}} (/w/scratch/src/main.rs:299)",
        ]}
    });
    let v = thread_view(&blocked).unwrap();
    assert_eq!(
        v.state,
        "holding Mutex `metrics` (taken at src/main.rs:295), blocked in a futex wait"
    );
    // Named as the holds' sites name the program's files (relative), not
    // by the build machine's path (a second outside pass).
    assert_eq!(v.at.as_deref(), Some("src/main.rs:299"));
    assert_eq!(
        view::relative_place("/w/app/src/bin/tool.rs:7", &["src/main.rs".into()]),
        "/w/app/src/bin/tool.rs:7"
    );
    assert_eq!(
        view::relative_place("/w/app/xsrc/main.rs:7", &["src/main.rs".into()]),
        "/w/app/xsrc/main.rs:7"
    );
    // Without a stack, it has no place: not the hold's site.
    let mut no_stack = blocked.clone();
    no_stack["stack_now"] = serde_json::Value::Null;
    assert_eq!(thread_view(&no_stack).unwrap().at, None);
    // Only dependency frames: the innermost one.
    let mut deps_only = blocked.clone();
    deps_only["stack_now"]["frames"]
        .as_array_mut()
        .unwrap()
        .pop();
    assert_eq!(
        thread_view(&deps_only).unwrap().at,
        Some(format!("{tokio}/src/future/block_on.rs:12"))
    );
    // A wait without a site (an upgrade): its stack's own innermost frame.
    let upgrade = serde_json::json!({
        "name": "u", "tid": 8,
        "waiting": {"lock": {"label": "RwLock `r`", "resource": false}, "request": "upgrade",
                    "site": null, "stack": [
                        "std::thread::park (/rustc/0123abcd/library/std/src/thread/mod.rs:1000)",
                        "app::upgrade_it (/abs/src/up.rs:40)"]},
        "held": [{"lock": {"label": "RwLock `r`"}, "site": "src/up.rs:38:9"}]
    });
    let v = thread_view(&upgrade).unwrap();
    assert_eq!(v.state, "waiting to upgrade RwLock `r`");
    assert_eq!(v.at.as_deref(), Some("/abs/src/up.rs:40"));
    assert_eq!(
        thread_view(&serde_json::json!({"name": "x"}))
            .err()
            .as_deref(),
        Some("its `tid` is missing, not a thread id")
    );
    assert_eq!(
        thread_view(&serde_json::json!({"tid": "12", "name": "x"}))
            .err()
            .as_deref(),
        Some("its `tid` is \"12\", not a thread id")
    );
    assert_eq!(
        thread_view(&serde_json::json!({"tid": 12, "name": 5}))
            .err()
            .as_deref(),
        Some("its `name` is 5, not a string")
    );
}

/// Processes that each name their own markers: only the markers the most
/// processes report are lined up, and only the first processes missing one
/// are named, so the work and the output do not grow with the product of
/// processes and markers.
#[test]
fn progress_lines_up_the_widest_markers_and_counts_the_rest() {
    let names: Vec<String> = (0..200).map(|i| format!("own-{i:03}")).collect();
    let ps: Vec<Process> = (0..200)
        .map(|i| process(&format!("rank {i}"), &[("step", 7), (names[i].as_str(), 1)]))
        .collect();
    let (f, left_out) = progress_findings(&ps);
    assert_eq!(f.len(), verdict::MARKERS_SHOWN);
    assert_eq!(left_out, 201 - verdict::MARKERS_SHOWN);
    // `step`, which every process reports, is among them (by name order).
    let step = f
        .iter()
        .find(|p| p.marker == "step")
        .expect("step lined up");
    assert_eq!(step.missing_count, 0);
    let own = f.iter().find(|p| p.marker == "own-000").expect("own-000");
    assert_eq!(own.missing_count, 199);
    assert_eq!(own.missing.len(), verdict::MISSING_NAMED);
    let text = text::render(&HangReport {
        version: HANG_VERSION,
        summary: String::new(),
        processes: Vec::new(),
        deadlocks: Vec::new(),
        long_waits: Vec::new(),
        groups: Vec::new(),
        progress: f,
        progress_left_out: left_out,
        start_here: None,
        skipped: Vec::new(),
        notes: Vec::new(),
        incomplete: false,
    });
    assert!(
        text.contains("no `own-000` marker from: rank 1, rank 2, "),
        "{text}"
    );
    assert!(text.contains(" and 191 more\n"), "{text}");
    assert!(
        text.contains(&format!(
            "({} more markers left out",
            201 - verdict::MARKERS_SHOWN
        )),
        "{text}"
    );
    assert!(text.len() < 16 * 1024, "{} bytes", text.len());
}
