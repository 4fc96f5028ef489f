use super::*;

const INDEX: &str = "index.crates.io-1949cf8c6b5b557f";

fn registry(home: &str, rest: &str) -> String {
    format!("{home}/registry/src/{INDEX}/{rest}")
}

#[test]
fn registry_sources_start_at_the_package_directory() {
    for home in [
        "/home/alice/.cargo",
        "/usr/local/cargo",
        "/opt/ci/cache/cargo-home",
    ] {
        let file = registry(home, "moka-0.12.16/src/sync/cache.rs");
        assert_eq!(site(&file), "moka-0.12.16/src/sync/cache.rs", "{file}");
        assert_eq!(
            class_id(&format!("site:{file}:10:5:moka::sync::Inner<u8>")),
            "site:moka-0.12.16/src/sync/cache.rs:10:5:moka::sync::Inner<u8>"
        );
    }
    // The old git index's directory, and another registry's.
    let old = "/h/.cargo/registry/src/github.com-1ecc6299db9ec823/dashmap-5.5.3/src/lib.rs:3:9";
    assert_eq!(site(old), "dashmap-5.5.3/src/lib.rs:3:9");
    let other = "/h/.cargo/registry/src/my-registry.example.com-0123456789ABCDEF/a-1.0.0/b.rs";
    assert_eq!(site(other), "a-1.0.0/b.rs");
}

#[test]
fn git_checkouts_start_at_the_repository_name() {
    let file =
        "/home/bob/.cargo/git/checkouts/tokio-377c595163f99a10/d8e4d0d/tokio/src/sync/mutex.rs";
    assert_eq!(site(file), "tokio/tokio/src/sync/mutex.rs");
    assert_eq!(
        class_id(&format!("site:{file}:88:21")),
        "site:tokio/tokio/src/sync/mutex.rs:88:21"
    );
    // A repository name with dashes keeps them; an old branch-named checkout.
    let dashed = "/c/git/checkouts/my-dep-crate-00000000000000ff/master/src/lib.rs";
    assert_eq!(site(dashed), "my-dep-crate/src/lib.rs");
}

#[test]
fn two_cargo_homes_give_one_key() {
    let rest = "moka-0.12.16/src/sync/cache.rs:10:5:moka::Inner";
    let a = class_id_owned(&format!("site:{}", registry("/home/alice/.cargo", rest)));
    let b = class_id_owned(&format!("site:{}", registry("/builds/ci/.cargo", rest)));
    assert_eq!(a, b);
    let win = format!(
        r"site:C:\Users\carol\.cargo\registry\src\{INDEX}\moka-0.12.16\src\sync\cache.rs:10:5:moka::Inner"
    );
    assert_eq!(class_id_owned(&win), a);
}

fn class_id_owned(id: &str) -> String {
    class_id(id).into_owned()
}

#[test]
fn windows_paths_use_forward_slashes_in_the_key() {
    let cases = [
        (
            format!(r"C:\Users\al\.cargo\registry\src\{INDEX}\moka-0.12.16\src\sync\cache.rs:1:2"),
            "moka-0.12.16/src/sync/cache.rs:1:2",
        ),
        (
            format!("D:/cargo/registry/src/{INDEX}/moka-0.12.16/src/lib.rs"),
            "moka-0.12.16/src/lib.rs",
        ),
        (
            format!(r"\\?\C:\cargo\registry\src\{INDEX}\moka-0.12.16\src\lib.rs"),
            "moka-0.12.16/src/lib.rs",
        ),
        (
            r"C:\cargo\git\checkouts\tokio-377c595163f99a10\d8e4d0d\tokio\src\m.rs:4:4:T".into(),
            "tokio/tokio/src/m.rs:4:4:T",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(site(&input), want, "{input}");
    }
}

#[test]
fn workspace_relative_and_other_paths_are_kept() {
    for kept in [
        "src/model.rs:41:17",
        "crates/registry/src/index-0123456789abcdef/pkg/lib.rs:1:1",
        r"src\model.rs:41:17",
        "/work/app/src/main.rs:3:3",
        "/work/app/registry/src/server/handlers/db.rs:3:3",
        "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/sync/mutex.rs",
        "",
        ":",
        "/",
        "C:",
        "registry/src/x",
    ] {
        assert_eq!(site(kept), kept);
        let id = format!("site:{kept}");
        assert!(matches!(class_id(&id), Cow::Borrowed(_)), "{id}");
    }
    for other in ["name:registry/src", "anon:1:2", "site", ""] {
        assert_eq!(class_id(other), other);
    }
}

#[test]
fn odd_dependency_paths_are_kept() {
    for kept in [
        // No package directory after the index, or nothing in it.
        format!("/h/.cargo/registry/src/{INDEX}"),
        format!("/h/.cargo/registry/src/{INDEX}/"),
        format!("/h/.cargo/registry/src/{INDEX}/moka-0.12.16"),
        format!("/h/.cargo/registry/src/{INDEX}/moka-0.12.16/"),
        format!("/h/.cargo/registry/src/{INDEX}/moka-0.12.16:10:5"),
        format!("/h/.cargo/registry/src/{INDEX}/moka-0.12.16/:10:5"),
        format!("/h/.cargo/registry/src/{INDEX}//src/lib.rs"),
        format!("/h/.cargo/registry/src//{INDEX}/moka/src/lib.rs"),
        // An index directory without cargo's hash.
        "/h/.cargo/registry/src/index.crates.io/moka-0.12.16/src/lib.rs".into(),
        "/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557/moka/src/lib.rs".into(),
        "/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557g/moka/src/lib.rs".into(),
        "/h/.cargo/registry/src/-1949cf8c6b5b557f/moka/src/lib.rs".into(),
        // Git: no revision, or nothing in it.
        "/h/.cargo/git/checkouts/tokio-377c595163f99a10".into(),
        "/h/.cargo/git/checkouts/tokio-377c595163f99a10/d8e4d0d".into(),
        "/h/.cargo/git/checkouts/tokio-377c595163f99a10/d8e4d0d/".into(),
        "/h/.cargo/git/checkouts/tokio-377c595163f99a10//src/lib.rs".into(),
        "/h/.cargo/git/checkouts/tokio/d8e4d0d/src/lib.rs".into(),
        "/h/.cargo/git/checkouts/C:-377c595163f99a10/d8e4d0d/src/lib.rs".into(),
        "/h/.cargo/git/db/tokio-377c595163f99a10/src/lib.rs".into(),
    ] {
        assert_eq!(site(&kept), kept);
    }
    // A trailing slash after a file is part of what is kept of it.
    assert_eq!(
        site(&format!("/h/.cargo/registry/src/{INDEX}/moka-0.12.16/src/")),
        "moka-0.12.16/src/"
    );
}

#[test]
fn the_key_is_a_fixed_point() {
    for input in [
        registry("/home/alice/.cargo", "moka-0.12.16/src/sync/cache.rs:1:2:T"),
        "/c/git/checkouts/tokio-377c595163f99a10/d8e4d0d/tokio/src/m.rs".into(),
        "src/model.rs:41:17".into(),
        // A key that would look like another dependency's path.
        "/git/checkouts/C:-0123456789abcdef/r/git/checkouts/x-0123456789abcdef/r/f.rs".into(),
        format!("/registry/src/{INDEX}/p/registry/src/{INDEX}/q/f.rs"),
    ] {
        let once = site(&input).into_owned();
        assert_eq!(site(&once), once);
    }
}

#[test]
fn the_file_alone_and_the_whole_site_agree() {
    // The runtime normalizes the file and appends `:line:column:type`; the
    // checker normalizes whole ids of older records: the same key.
    for file in [
        registry("/home/alice/.cargo", "moka-0.12.16/src/sync/cache.rs"),
        format!(r"C:\cargo\registry\src\{INDEX}\moka-0.12.16\src\lib.rs"),
        "/c/git/checkouts/tokio-377c595163f99a10/d8e4d0d/tokio/src/m.rs".into(),
        format!("/h/.cargo/registry/src/{INDEX}/moka-0.12.16"),
        "src/lib.rs".into(),
    ] {
        let suffix = ":10:5:a::B<c::D>";
        assert_eq!(
            format!("{}{suffix}", site(&file)),
            site(&format!("{file}{suffix}")),
            "{file}"
        );
    }
}

#[test]
fn any_input_is_handled_without_panicking() {
    let pieces = [
        "/",
        "\\",
        ":",
        "registry",
        "src",
        "git",
        "checkouts",
        INDEX,
        "x-0123456789abcdef",
        "é",
        "",
        "C:",
        "a",
    ];
    for a in pieces {
        for b in pieces {
            for c in pieces {
                for d in pieces {
                    let s = format!("{a}{b}/{c}\\{d}/{a}:{b}");
                    let _ = site(&s);
                    let _ = class_id(&format!("site:{s}"));
                }
            }
        }
    }
    let multibyte = format!("/é/registry/src/{INDEX}/ü-1/ß/€.rs:1:2");
    assert_eq!(site(&multibyte), "ü-1/ß/€.rs:1:2");
}
