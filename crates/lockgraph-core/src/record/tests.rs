use super::lines::site_class_id;
use super::*;
use crate::class::{Class, LockKind, Site};
use crate::report::{Backtrace, Hold, Request};
use lockgraph_graph::gates::{gate, GateMode};

#[test]
fn strings_are_escaped_as_json() {
    let mut s = String::new();
    json_str(&mut s, "a\"b\\c\nd\u{1}é");
    assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
}

#[test]
fn a_stack_line_names_its_key_and_frames() {
    let line = stack_line("42:7", 42, &["x::f (src/a.rs:2)".to_string()]);
    assert_eq!(
        line,
        "{\"type\":\"stack\",\"stack\":\"42:7\",\"pid\":42,\"backtrace\":[\"x::f (src/a.rs:2)\"]}\n"
    );
}

#[test]
fn an_edge_line_with_a_stack_names_it_and_holds_no_frames() {
    let e = EdgeLine {
        from: ClassDesc {
            class: Class::Named("a"),
            kind: LockKind::Mutex,
            instance: 1,
        },
        to: ClassDesc {
            class: Class::Named("b"),
            kind: LockKind::Mutex,
            instance: 2,
        },
        hold: Hold::Exclusive,
        request: Request::Exclusive,
        upgradable_request: false,
        gates: vec![],
        thread: "t".into(),
        held_at: None,
        requested_at: None,
        backtrace: Some(Backtrace::capture()),
    };
    let line = format_line(&e, 42, 42, &Minters::new(), "/bin/x", Some("42:1"));
    assert!(
        line.ends_with("\"backtrace\":[],\"stack\":\"42:1\"}\n"),
        "{line}"
    );
}

#[test]
fn site_class_ids_name_dependency_sources_without_the_cargo_home() {
    let at = |file: &'static str| Site {
        file,
        line: 10,
        column: 5,
    };
    let registry = "/home/alice/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/\
                    moka-0.12.16/src/sync/cache.rs";
    assert_eq!(
        site_class_id(at(registry), "moka::Inner"),
        "site:moka-0.12.16/src/sync/cache.rs:10:5:moka::Inner"
    );
    let git = "/ci/cargo/git/checkouts/tokio-377c595163f99a10/d8e4d0d/tokio/src/m.rs";
    assert_eq!(site_class_id(at(git), ""), "site:tokio/tokio/src/m.rs:10:5");
    assert_eq!(
        site_class_id(at("src/model.rs"), "app::Model"),
        "site:src/model.rs:10:5:app::Model"
    );
    // The site itself, as reports and the `site` field show it, is whole.
    assert_eq!(at(registry).to_string(), format!("{registry}:10:5"));
}

#[test]
fn an_edge_line_has_every_documented_field() {
    let line = format_line(
        &EdgeLine {
            from: ClassDesc {
                class: Class::Named("metrics"),
                kind: LockKind::Mutex,
                instance: 3,
            },
            to: ClassDesc {
                class: Class::Anonymous,
                kind: LockKind::RwLock,
                instance: 9,
            },
            hold: Hold::Shared,
            request: Request::RecursiveRead,
            upgradable_request: false,
            gates: vec![
                17,
                gate(18, GateMode::Shared),
                gate(19, GateMode::Upgradable),
            ],
            thread: "worker-1".into(),
            held_at: Some(Site {
                file: "src/a.rs",
                line: 1,
                column: 2,
            }),
            requested_at: None,
            backtrace: None,
        },
        42,
        42,
        &Minters::new(),
        "/bin/x",
        None,
    );
    assert_eq!(
        line,
        "{\"type\":\"edge\",\"from\":{\"class\":\"name:metrics\",\"name\":\"metrics\",\
         \"kind\":\"Mutex\",\"site\":null},\"to\":{\"class\":\"anon:42:9\",\"name\":null,\
         \"kind\":\"RwLock\",\"site\":null},\"hold\":\"shared\",\"request\":\"recursive_read\",\
         \"gates\":[\"42:17\",\"42:18:read\",\"42:19:upgradable\"],\"thread\":\"worker-1\",\
         \"pid\":42,\"exe\":\"/bin/x\",\"held_at\":\"src/a.rs:1:2\",\"requested_at\":null,\"backtrace\":[]}\n"
    );
}

/// In a forked child (its lines in its parent's file, under its
/// parent's pid) the gates carry the child's own pid: its new locks
/// can get ids its parent's have too, and must not read as one lock.
/// Its `anon:` class ids carry the pid of the process that handed out
/// the lock's id: the file's for a lock made before the fork (an edge
/// written before the fork is not written again), the child's for one
/// at or above the mark its fork hook listed.
#[test]
fn a_forked_childs_lock_ids_carry_its_own_pid() {
    let edge = |from: u64| EdgeLine {
        from: ClassDesc {
            class: Class::Anonymous,
            kind: LockKind::Mutex,
            instance: from,
        },
        to: ClassDesc {
            class: Class::Named("b"),
            kind: LockKind::Mutex,
            instance: 6,
        },
        hold: Hold::Exclusive,
        request: Request::Exclusive,
        upgradable_request: false,
        gates: vec![17],
        thread: "t".into(),
        held_at: None,
        requested_at: None,
        backtrace: None,
    };
    let minters = Minters::new();
    assert!(minters.push(2049, 43));
    let line = format_line(&edge(5), 42, 43, &minters, "/bin/x", None);
    assert!(line.contains("\"class\":\"anon:42:5\""), "{line}");
    assert!(line.contains("\"gates\":[\"43:17\"]"), "{line}");
    assert!(line.contains("\"pid\":42,"), "{line}");
    let line = format_line(&edge(2049), 42, 43, &minters, "/bin/x", None);
    assert!(line.contains("\"class\":\"anon:43:2049\""), "{line}");
    assert!(line.contains("\"pid\":42,"), "{line}");
}

/// After nested forks, an id is its newest lister's at or below it
/// (the file's process below every mark); past the room, a fork is not
/// listed and its ids read as the deepest listed process's.
#[test]
fn an_anonymous_locks_pid_is_the_process_that_handed_out_its_id() {
    let m = Minters::new();
    assert_eq!(m.pid_of(7, 42), 42);
    assert!(m.push(1025, 43));
    assert!(m.push(3073, 44));
    assert_eq!(m.pid_of(1024, 42), 42);
    assert_eq!(m.pid_of(1025, 42), 43);
    assert_eq!(m.pid_of(3072, 42), 43);
    assert_eq!(m.pid_of(3073, 42), 44);
    assert_eq!(m.pid_of(u64::MAX, 42), 44);
    for i in 2..MAX_FORKS as u32 {
        assert!(m.push(3073 + u64::from(i) * 1024, 43 + i));
    }
    let last = 43 + MAX_FORKS as u32 - 1;
    assert!(!m.push(1 << 40, 99));
    assert_eq!(m.pid_of(1 << 41, 42), last);
}

/// A same-class cycle's line: its level, its locks as runs of a lock class
/// written as edge lines write one (with a `count`), its edges as runs of
/// one recording (edge 0 the closing request, with its stack's key).
#[test]
fn a_cycle_line_has_every_documented_field() {
    let class = Class::Named("account");
    let at = |line| Site {
        file: "src/bank.rs",
        line,
        column: 9,
    };
    let edge = |thread: &str, held, requested| cycle::CycleEdge {
        hold: Hold::Exclusive,
        request: Request::Exclusive,
        upgradable_request: false,
        thread: thread.into(),
        held_at: Some(at(held)),
        requested_at: Some(at(requested)),
        backtrace: None,
        count: 1,
    };
    let c = CycleLine {
        level: crate::report::Level::Instance,
        locks: vec![(
            ClassDesc {
                class,
                kind: LockKind::Mutex,
                instance: 7,
            },
            2,
        )],
        edges: vec![edge("t2", 20, 21), edge("t1", 10, 11)],
    };
    let line = cycle::format_cycle(
        &c,
        42,
        &Minters::new(),
        "/bin/x",
        &[Some("42:3".to_string()), None],
    )
    .unwrap();
    assert_eq!(
        line,
        "{\"type\":\"cycle\",\"level\":\"instance\",\"locks\":[{\"class\":\"name:account\",\
         \"name\":\"account\",\"kind\":\"Mutex\",\"site\":null,\"count\":2}],\"edges\":[\
         {\"hold\":\"exclusive\",\"request\":\"exclusive\",\"thread\":\"t2\",\
         \"held_at\":\"src/bank.rs:20:9\",\"requested_at\":\"src/bank.rs:21:9\",\"count\":1,\
         \"stack\":\"42:3\"},{\"hold\":\"exclusive\",\"request\":\"exclusive\",\"thread\":\"t1\",\
         \"held_at\":\"src/bank.rs:10:9\",\"requested_at\":\"src/bank.rs:11:9\",\"count\":1}],\
         \"pid\":42,\"exe\":\"/bin/x\"}\n"
    );
}

/// A cycle of many recordings whose whole line would pass the readers'
/// limit keeps its first and last edge runs whole and merges the runs in
/// between by mode, without thread or sites: the same number of edges.
#[test]
fn a_cycle_line_too_long_for_a_reader_is_written_shorter() {
    let edges: Vec<cycle::CycleEdge> = (0..20_000)
        .map(|i| cycle::CycleEdge {
            hold: Hold::Exclusive,
            request: Request::Exclusive,
            upgradable_request: false,
            thread: format!("worker-{i:05}-with-a-long-enough-name").into(),
            held_at: Some(Site {
                file: "src/chain.rs",
                line: 3,
                column: 1,
            }),
            requested_at: None,
            backtrace: None,
            count: 3,
        })
        .collect();
    let c = CycleLine {
        level: crate::report::Level::Instance,
        locks: vec![(
            ClassDesc {
                class: Class::Named("link"),
                kind: LockKind::Mutex,
                instance: 1,
            },
            60_000,
        )],
        edges,
    };
    let line = cycle::format_cycle(&c, 42, &Minters::new(), "/bin/x", &[]).unwrap();
    assert!(line.len() <= cycle::MAX_LINE, "{}", line.len());
    assert!(line.contains("\"thread\":\"worker-00000-with"), "{line}");
    assert!(line.contains("\"thread\":\"worker-19999-with"), "{line}");
    assert!(!line.contains("worker-10000"), "{line}");
    let counts: usize = line
        .split("\"count\":")
        .skip(2)
        .map(|s| {
            s.split(['}', ','])
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(counts, 60_000, "edges written in all");
    assert!(
        line.contains("\"thread\":\"\",\"held_at\":null,\"requested_at\":null,\"count\":59808}"),
        "{line}"
    );
}

/// The always-free primitive of [`child_takes_two_locks_of_one_class_in_both_orders`].
struct Free;

impl crate::primitive::Blocking for Free {
    fn try_now(&self) -> bool {
        true
    }
    fn block(&self) {}
    fn block_until(&self, _: crate::primitive::Deadline) -> bool {
        true
    }
}

/// The child of `a_cycle_of_one_class_is_written_as_a_cycle_line`: two
/// locks of one class, taken in both orders (under `warn`).
#[test]
fn child_takes_two_locks_of_one_class_in_both_orders() {
    if !lockgraph_testkit::is_child() {
        return;
    }
    use crate::primitive::{acquire, release, WaitMode};
    use std::panic::Location;
    let x = crate::meta::LockMeta::new(LockKind::Mutex, Class::Named("rec-account"));
    let y = crate::meta::LockMeta::new(LockKind::Mutex, Class::Named("rec-account"));
    acquire(&x, Free, WaitMode::Lock, Some(Location::caller()));
    acquire(&y, Free, WaitMode::Lock, Some(Location::caller()));
    release(&y, WaitMode::Lock);
    release(&x, WaitMode::Lock);
    acquire(&y, Free, WaitMode::Lock, Some(Location::caller()));
    acquire(&x, Free, WaitMode::Lock, Some(Location::caller()));
    release(&x, WaitMode::Lock);
    release(&y, WaitMode::Lock);
    println!("BOTH ORDERS TAKEN");
}

/// The runtime's own finding, a cycle between two locks of one class (of
/// which no edge line is written), is in the record as a `cycle` line,
/// its closing edge's stack as a `stack` line.
#[test]
fn a_cycle_of_one_class_is_written_as_a_cycle_line() {
    if lockgraph_testkit::is_child() || !crate::TRACKING {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-core-cycle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = lockgraph_testkit::child!(child_takes_two_locks_of_one_class_in_both_orders)
        .env("LOCKGRAPH_RECORD", &dir)
        .env("LOCKGRAPH_ON_CYCLE", "warn")
        .env("LOCKGRAPH_BACKTRACE", "1")
        .deadline(std::time::Duration::from_secs(60))
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(out.stdout.contains("BOTH ORDERS TAKEN"), "{}", out.both());
    assert!(out.stderr.contains("level: instance"), "{}", out.both());
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        !lines.iter().any(|l| l.contains("\"type\":\"edge\"")),
        "{text}"
    );
    let cycles: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("{\"type\":\"cycle\""))
        .collect();
    assert_eq!(cycles.len(), 1, "{text}");
    let c = cycles[0];
    assert!(
        c.starts_with(
            "{\"type\":\"cycle\",\"level\":\"instance\",\"locks\":[{\"class\":\"name:rec-account\",\
             \"name\":\"rec-account\",\"kind\":\"Mutex\",\"site\":null,\"count\":2}],\"edges\":["
        ),
        "{c}"
    );
    // Edge 0 closed the cycle: `y` held, `x` requested, in the second
    // order; edge 1 the first order. Each with its sites.
    let edges: Vec<&str> = c.split("{\"hold\":").skip(1).collect();
    assert_eq!(edges.len(), 2, "{c}");
    let line_of = |e: &str, field: &str| -> u32 {
        let at = e
            .split(&format!(
                "\"{field}\":\"crates/lockgraph-core/src/record/tests.rs:"
            ))
            .nth(1);
        at.and_then(|r| r.split(':').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {e}"))
    };
    let (closing, first) = (edges[0], edges[1]);
    assert_eq!(
        line_of(closing, "held_at") + 1,
        line_of(closing, "requested_at")
    );
    assert_eq!(
        line_of(first, "held_at") + 1,
        line_of(first, "requested_at")
    );
    assert!(
        line_of(first, "requested_at") < line_of(closing, "held_at"),
        "{c}"
    );
    assert!(closing.contains("\"count\":1,\"stack\":\""), "{c}");
    assert!(
        c.contains(
            "\"thread\":\"record::tests::child_takes_two_locks_of_one_class_in_both_orders\""
        ),
        "{c}"
    );
    let key = c
        .split("\"stack\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the closing edge names its stack");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("{\"type\":\"stack\"") && l.contains(&format!("\"{key}\""))),
        "no stack line for {key}: {text}"
    );
}
