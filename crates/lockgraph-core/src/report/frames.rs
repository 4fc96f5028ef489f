//! Which resolved frames are the program's: a report's stacks leave out
//! lockgraph, the lock crates under it, the `backtrace` crate, the standard
//! library and the C runtime, by the function's path and by its file.
//!
//! The file matters because a build with `debug = "line-tables-only"` (what
//! `docs/watchdog.md` suggests for production) names functions without
//! their module path (`capture`, `lean_take`, `lock_at`): by name alone
//! nothing of lockgraph's would be left out, and its own frames would fill
//! a report's stack before the program's first one.

use std::path::Path;

/// One resolved symbol as "function (file:line)", or `None` when it belongs
/// to lockgraph, its dependencies, the standard library or the C runtime.
pub(super) fn user_frame(
    name: Option<backtrace::SymbolName<'_>>,
    file: Option<&Path>,
    line: Option<u32>,
) -> Option<String> {
    let name = format!("{:#}", name?);
    program_frame(&name, file.map(|f| f.to_string_lossy()).as_deref(), line)
}

/// One resolved frame, its function's name demangled without the hash
/// (`{:#}`), as "function (file:line)", or `None` when it belongs to
/// lockgraph, its dependencies, the standard library or the C runtime: the
/// frames a report and a record show. `lockgraph check` resolves a
/// record's raw stacks with it, so that they read as the runtime's.
pub fn program_frame(name: &str, file: Option<&str>, line: Option<u32>) -> Option<String> {
    let internal = match file {
        Some(f) => is_internal(name) || is_internal_file(f),
        // Without a file, the C runtime's entry points by name too (with
        // one, `main` may be the program's own, named without its path).
        None => is_internal(name) || is_runtime_entry(name),
    };
    if internal {
        return None;
    }
    let loc = match (file, line) {
        (Some(f), Some(l)) => format!(" ({f}:{l})"),
        _ => String::new(),
    };
    Some(format!("{name}{loc}"))
}

/// Whether a function, by its path, is lockgraph's, a lock crate's or the
/// standard library's.
fn is_internal(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "lockgraph::",
        "lockgraph_core::",
        "lockgraph_graph::",
        "lockgraph_cuda::",
        "backtrace::",
        "std::",
        "core::",
        "alloc::",
        "lock_api::",
        "parking_lot::",
        "parking_lot_core::",
        "test::",
        "__rust",
        // tokio's scheduler, which polls every task: the frames under a
        // task's own (an async lock's report showed four of them).
        "tokio::runtime::",
        "tokio::loom::",
        "tokio::task::coop::",
        // tokio's async locks, the lock library under `lockgraph::tokio`,
        // and the `block_on` of their `blocking_lock` (a dump's stack of
        // a thread in `blocking_lock` began with two of them; found by an
        // outside test).
        "tokio::sync::",
        "tokio::future::block_on",
    ];
    let bare = name.trim_start_matches('<');
    PREFIXES.iter().any(|p| bare.starts_with(p))
}

/// The C runtime's entry points and the signal trampoline, which resolve
/// without a source file: the process's `main` (rustc's shim, which calls
/// the program's), the thread start and `clone`.
fn is_runtime_entry(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "main",
        "_start",
        "__libc_start_main",
        "__libc_start_call_main",
        "start_thread",
        "clone",
        "__clone",
        "__clone3",
        "clone3",
        // The signal trampoline under a signal handler's frames.
        "__restore_rt",
    ];
    EXACT.contains(&name)
}

/// The crates whose sources are left out wherever they come from (a
/// registry, a git checkout): those whose functions [`is_internal`] names.
const CRATES: &[&str] = &[
    "lockgraph",
    "lockgraph-core",
    "lockgraph-graph",
    "lockgraph-cuda",
    "backtrace",
    "lock_api",
    "parking_lot",
    "parking_lot_core",
];

/// Whether a source file is the standard library's, the C runtime's,
/// lockgraph's own or one of [`CRATES`]'.
fn is_internal_file(file: &str) -> bool {
    is_runtime_file(file) || is_lockgraph_source(file, CORE_DIR) || is_crate_file(file)
}

/// Sources of the standard library and the C runtime: rustc's remapped
/// paths, and glibc's, which its build leaves relative (`./nptl/...`,
/// `./csu/...`) or under `sysdeps`. A program's own files never start
/// with `./`: cargo names them from the package (`src/main.rs`).
fn is_runtime_file(file: &str) -> bool {
    file.starts_with("/rustc/") || file.starts_with("./") || file.contains("/sysdeps/")
}

/// This crate's directory when it was built, which also places the facade
/// and the graph crate when it was built inside lockgraph's workspace
/// (`<root>/crates/lockgraph-core`, beside `<root>/src`).
const CORE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Whether `file` is in lockgraph's workspace sources (the facade's `src/`,
/// `crates/lockgraph-core`, `crates/lockgraph-graph`, the CUDA model's
/// `crates/lockgraph-cuda/src`), given where this crate was built
/// (`core_dir`); paths relative to the workspace (a build inside it) start
/// with one of those. The workspace's `examples/`, `tests/` and `benches/`
/// (the CUDA crate's too) are programs of their own and stay in.
fn is_lockgraph_source(file: &str, core_dir: &str) -> bool {
    // A path relative to the workspace's root: the crates' sources.
    let own = |rel: &str| {
        [
            "crates/lockgraph-core/",
            "crates/lockgraph-graph/",
            "crates/lockgraph-cuda/src/",
        ]
        .iter()
        .any(|c| rel.starts_with(c))
    };
    own(file)
        || file
            .strip_prefix(core_dir)
            .is_some_and(|rest| rest.starts_with('/'))
        || core_dir
            .strip_suffix("/crates/lockgraph-core")
            .and_then(|root| file.strip_prefix(root)?.strip_prefix('/'))
            .is_some_and(|rel| rel.starts_with("src/") || own(rel))
}

/// Whether `file` is in a registry's or a git checkout's copy of one of
/// [`CRATES`]: `.../registry/src/<index>/<name>-<version>/...`, or
/// `.../git/checkouts/<repo>-<hash>/<rev>/.../<name>/src/...` (a package
/// in a workspace) or `.../<repo>-<hash>/<rev>/src/...` (the repository's
/// root package, named by the repository).
fn is_crate_file(file: &str) -> bool {
    if let Some(at) = file.find("/registry/src/") {
        // The package's directory, past the index's.
        let mut dirs = file[at + "/registry/src/".len()..].split('/').skip(1);
        return dirs.next().is_some_and(|p| CRATES.contains(&crate_name(p)));
    }
    let Some(at) = file.find("/git/checkouts/") else {
        return false;
    };
    let dirs: Vec<&str> = file[at + "/git/checkouts/".len()..].split('/').collect();
    let Some(src) = dirs.iter().skip(2).position(|d| *d == "src").map(|i| i + 2) else {
        return false;
    };
    let package = if src == 2 {
        // The root package: the repository's name, its hash cut off.
        dirs[0].rsplit_once('-').map_or(dirs[0], |(name, _)| name)
    } else {
        dirs[src - 1]
    };
    CRATES.contains(&package)
}

/// A registry package directory's crate name: `parking_lot-0.12.5` ->
/// `parking_lot`, `lockgraph-core-0.1.0` -> `lockgraph-core`.
fn crate_name(dir: &str) -> &str {
    match dir.rfind('-') {
        Some(i) if dir[i + 1..].starts_with(|c: char| c.is_ascii_digit()) => &dir[..i],
        _ => dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = "/work/lockgraph/crates/lockgraph-core";

    #[test]
    fn lockgraph_sources_are_left_out_wherever_the_workspace_is() {
        for f in [
            "/work/lockgraph/crates/lockgraph-core/src/report/mod.rs",
            "/work/lockgraph/crates/lockgraph-graph/src/order.rs",
            "/work/lockgraph/src/raw_tracked.rs",
            "crates/lockgraph-core/src/primitive.rs",
            // The CUDA model's waits and executor (found by an outside
            // pass: `lockgraph_cuda::model::begin_wait` topped a stack).
            "/work/lockgraph/crates/lockgraph-cuda/src/lib.rs",
            "crates/lockgraph-cuda/src/model.rs",
        ] {
            assert!(is_lockgraph_source(f, CORE), "{f}");
        }
        for f in [
            "/work/lockgraph/examples/watchdog.rs",
            "/work/lockgraph/tests/order.rs",
            "/work/lockgraph-fork/src/main.rs",
            "/work/lockgraph/crates/lockgraph-cuda/examples/gpu_check.rs",
            "/work/lockgraph/crates/lockgraph-cuda/tests/scenarios.rs",
            "src/main.rs",
            "/home/me/service/src/main.rs",
        ] {
            assert!(!is_lockgraph_source(f, CORE), "{f}");
        }
        // A core built outside a workspace (a registry copy) places nothing
        // else, and its own files by its own directory.
        let registry = "/home/me/.cargo/registry/src/index.crates.io-1949/lockgraph-core-0.1.0";
        assert!(is_lockgraph_source(
            &format!("{registry}/src/state/lean.rs"),
            registry
        ));
        assert!(!is_lockgraph_source(
            "/home/me/service/src/main.rs",
            registry
        ));
    }

    #[test]
    fn the_lock_crates_are_left_out_of_a_registry_or_a_git_checkout() {
        let reg = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        for f in [
            format!("{reg}/backtrace-0.3.77/src/backtrace/libunwind.rs"),
            format!("{reg}/parking_lot_core-0.9.12/src/parking_lot.rs"),
            format!("{reg}/parking_lot-0.12.5/src/raw_mutex.rs"),
            format!("{reg}/lock_api-0.4.14/src/mutex.rs"),
            format!("{reg}/lockgraph-0.1.0/src/raw_tracked.rs"),
            format!("{reg}/lockgraph-core-0.1.0/src/primitive.rs"),
            "/root/.cargo/git/checkouts/lockgraph-3f2a/1a2b3c4/crates/lockgraph-core/src/a.rs"
                .to_string(),
            "/root/.cargo/git/checkouts/parking_lot-a9e1/7c0ffee/src/raw_mutex.rs".to_string(),
        ] {
            assert!(is_crate_file(&f), "{f}");
        }
        for f in [
            format!("{reg}/tokio-1.54.1/src/runtime/park.rs"),
            format!("{reg}/my-lockgraph-helper-0.2.0/src/lib.rs"),
            // A directory of another crate that happens to bear the name.
            format!("{reg}/anyhow-1.0.98/src/backtrace/mod.rs"),
            "/root/.cargo/git/checkouts/tools-1f2e/abc1234/backtrace/helpers/src/lib.rs"
                .to_string(),
            "/root/.cargo/git/checkouts/myapp-77aa/abc1234/src/main.rs".to_string(),
            "/home/me/service/src/main.rs".to_string(),
            "src/lib.rs".to_string(),
        ] {
            assert!(!is_crate_file(&f), "{f}");
        }
    }

    #[test]
    fn runtime_files_are_left_out_and_a_programs_are_kept() {
        for f in [
            "/rustc/abc/library/std/src/thread/mod.rs",
            "./nptl/futex-internal.c",
            "./csu/../sysdeps/nptl/libc_start_call_main.h",
            "../sysdeps/unix/sysv/linux/clone3.S",
        ] {
            assert!(is_runtime_file(f), "{f}");
        }
        for f in [
            "src/main.rs",
            "examples/watchdog.rs",
            "/home/me/service/src/main.rs",
        ] {
            assert!(!is_internal_file(f), "{f}");
        }
    }

    #[test]
    fn names_with_a_module_path_are_judged_by_it() {
        assert!(is_internal("lockgraph_core::primitive::acquire"));
        assert!(is_internal("lockgraph_cuda::model::begin_wait"));
        assert!(is_internal(
            "<lockgraph_cuda::sim::Sim as lockgraph_cuda::Backend>::launch_host_fn"
        ));
        assert!(is_internal(
            "<lockgraph::raw::RawMutex as lock_api::mutex::RawMutex>::lock"
        ));
        assert!(is_internal("std::thread::spawn"));
        assert!(!is_internal("my_service::main"));
        // tokio's scheduler frames under a task; the task's own are kept.
        assert!(is_internal(
            "tokio::runtime::task::core::Core<T,S>::poll::{{closure}}"
        ));
        assert!(is_internal(
            "tokio::loom::std::unsafe_cell::UnsafeCell<T>::with_mut"
        ));
        assert!(is_internal("tokio::task::coop::with_budget"));
        // tokio's locks and the block_on of a `blocking_lock`.
        assert!(is_internal("tokio::sync::mutex::Mutex<T>::blocking_lock"));
        assert!(is_internal("tokio::future::block_on::block_on"));
        assert!(!is_internal("tokio_util::codec::Framed<T,U>::poll_next"));
        assert!(!is_internal("my_service::serve::{{closure}}"));
        // Without a module path (line tables only) a name says nothing.
        assert!(!is_internal("lean_take<lockgraph::raw::Exclusive>"));
    }

    /// The frame line of a symbol with `name` in `file` (none: no file).
    fn frame(name: &str, file: Option<&str>) -> Option<String> {
        let name = backtrace::SymbolName::new(name.as_bytes());
        user_frame(Some(name), file.map(Path::new), Some(7))
    }

    #[test]
    fn a_line_tables_only_build_keeps_the_programs_frames_and_only_those() {
        let core = format!("{CORE_DIR}/src/primitive.rs");
        assert_eq!(
            frame("lean_take<lockgraph::raw::Exclusive>", Some(&core)),
            None
        );
        assert_eq!(
            frame(
                "trace",
                Some("/root/.cargo/registry/src/i-1/backtrace-0.3.77/src/lib.rs")
            ),
            None
        );
        // The program's `main`, named without its path, has its file.
        assert_eq!(
            frame("main", Some("/home/me/service/src/main.rs")).as_deref(),
            Some("main (/home/me/service/src/main.rs:7)")
        );
        assert_eq!(
            frame("{closure#0}", Some("src/main.rs")).as_deref(),
            Some("{closure#0} (src/main.rs:7)")
        );
        // The C runtime's `main` and thread start have no file.
        assert_eq!(frame("main", None), None);
        assert_eq!(frame("start_thread", None), None);
        assert_eq!(
            frame(
                "__futex_abstimed_wait_common64",
                Some("./nptl/futex-internal.c")
            ),
            None
        );
        // A full build's names say it without the file.
        assert_eq!(frame("lockgraph_core::primitive::acquire", None), None);
        assert_eq!(
            frame("my_service::main", None).as_deref(),
            Some("my_service::main")
        );
    }
}
