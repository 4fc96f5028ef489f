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
