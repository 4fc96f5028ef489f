//! A source file named by a record (`held_at`, `requested_at`: anyone can
//! write those) as a SARIF 2.1.0 artifact location: a relative URI
//! reference against `%SRCROOT%`, or an absolute `file://` URI (SARIF
//! §3.4.3, RFC 3986). Every byte that is not allowed where it stands is
//! percent-encoded (a space, `%`, `#`, `?`, a non-ASCII character's UTF-8
//! bytes), and so is a `:` in a relative reference, where it would make
//! its first segment a scheme (`weird:name.rs`). A Windows path with a
//! drive (`C:\src\a.rs`) is absolute. `.` and `dir/..` segments are
//! resolved; a relative path that climbs out of the source root (`../x`)
//! is made absolute against it, so that no `%SRCROOT%`-relative URI
//! leaves it.

use std::path::Path;

use serde_json::{json, Value};

/// `path` percent-encoded: unreserved characters, `/` and the sub-delims
/// are kept, and `:` and `@` where `colon` (they are path characters,
/// but `:` starts a scheme in a relative reference's first segment).
fn encode(path: &str, colon: bool) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric()
            || b"-._~/!$&'()*+,;=".contains(&b)
            || (colon && (b == b':' || b == b'@'))
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `file` (with `/` separators) starts with a drive (`C:/`).
pub(crate) fn has_drive(file: &str) -> bool {
    let b = file.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/'
}

/// `file`'s segments with `.` dropped and `dir/..` resolved; leading `..`
/// that have nothing to climb out of are kept.
fn normalized(file: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for seg in file.split('/') {
        match seg {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out
}

/// An absolute `file://` URI of an absolute path (with `/` separators).
fn file_uri(abs: &str) -> Value {
    let abs = if abs.starts_with('/') {
        abs.to_string()
    } else {
        format!("/{abs}")
    };
    json!({ "uri": format!("file://{}", encode(&abs, true)) })
}

/// A URI relative to `%SRCROOT%`.
fn relative_uri<S: AsRef<str>>(segments: &[S]) -> Value {
    let segments: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
    json!({ "uri": encode(&segments.join("/"), false), "uriBaseId": "%SRCROOT%" })
}

/// The `artifactLocation` of source file `file` as a record names it;
/// `root` is the source root absolute paths are made relative to.
pub(crate) fn artifact_location(file: &str, root: Option<&Path>) -> Value {
    let file = file.replace('\\', "/");
    let root = root.map(|r| r.to_string_lossy().replace('\\', "/"));
    let root_segments = root.as_deref().map(normalized);
    let under_root = |abs: &[&str]| -> Option<Vec<String>> {
        let r = root_segments.as_deref()?;
        abs.strip_prefix(r)
            .map(|rest| rest.iter().map(|s| s.to_string()).collect())
    };
    if file.starts_with('/') || has_drive(&file) {
        let abs = normalized(&file);
        let shown = abs.join("/");
        return match under_root(&abs) {
            Some(rel) if file.starts_with('/') && !rel.is_empty() => relative_uri(&rel),
            _ if has_drive(&file) => file_uri(&shown),
            _ => file_uri(&format!("/{shown}")),
        };
    }
    let rel = normalized(&file);
    if rel.first() != Some(&"..") {
        return relative_uri(&rel);
    }
    // It climbs out of the root: absolute against it, when known.
    match &root {
        Some(root) => {
            let joined = format!("{root}/{}", rel.join("/"));
            let abs = normalized(&joined);
            match under_root(&abs) {
                Some(inside) if !inside.is_empty() => relative_uri(&inside),
                _ if has_drive(root) => file_uri(&abs.join("/")),
                _ => file_uri(&format!("/{}", abs.join("/"))),
            }
        }
        None => relative_uri(&rel),
    }
}

/// The `%SRCROOT%` base of a run: the root as an absolute `file://` URI
/// ending in `/`.
pub(crate) fn root_uri(root: &Path) -> String {
    let root = root.to_string_lossy().replace('\\', "/");
    let mut uri = normalized(&root).join("/");
    if !has_drive(&root) || !uri.is_empty() {
        uri.insert(0, '/');
    }
    if !uri.ends_with('/') {
        uri.push('/');
    }
    format!("file://{}", encode(&uri, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What RFC 3986 allows in a URI reference once percent-encoded: no
    /// byte outside its set, every `%` followed by two hex digits.
    fn valid(uri: &str) -> bool {
        let b = uri.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    if !(i + 2 < b.len()
                        && b[i + 1].is_ascii_hexdigit()
                        && b[i + 2].is_ascii_hexdigit())
                    {
                        return false;
                    }
                    i += 3;
                    continue;
                }
                c if c.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&c) => {}
                _ => return false,
            }
            i += 1;
        }
        true
    }

    #[test]
    fn hostile_file_names_become_valid_uris() {
        let root = Some(Path::new("/work/repo"));
        for (file, uri, base) in [
            (
                "src/my dir/100%#x é.rs",
                "src/my%20dir/100%25%23x%20%C3%A9.rs",
                true,
            ),
            ("./src/a.rs", "src/a.rs", true),
            ("src/./x/../a.rs", "src/a.rs", true),
            ("weird:name.rs", "weird%3Aname.rs", true),
            ("a?b.rs", "a%3Fb.rs", true),
            ("../up/a.rs", "file:///work/up/a.rs", false),
            ("../repo/src/a.rs", "src/a.rs", true),
            ("/work/repo/src/a b.rs", "src/a%20b.rs", true),
            ("/work/repo/../other/a.rs", "file:///work/other/a.rs", false),
            ("/abs/p q.rs", "file:///abs/p%20q.rs", false),
            ("C:\\src\\a b.rs", "file:///C:/src/a%20b.rs", false),
            ("C:/src/a.rs", "file:///C:/src/a.rs", false),
        ] {
            let v = artifact_location(file, root);
            assert_eq!(v["uri"], uri, "{file}");
            assert_eq!(v.get("uriBaseId").is_some(), base, "{file}");
            assert!(valid(v["uri"].as_str().unwrap()), "{file}");
        }
        // No root known: a path that climbs out stays relative (valid).
        assert_eq!(artifact_location("../up/a.rs", None)["uri"], "../up/a.rs");
        assert_eq!(
            root_uri(Path::new("/work/my repo")),
            "file:///work/my%20repo/"
        );
        assert_eq!(root_uri(Path::new("/")), "file:///");
        assert_eq!(root_uri(Path::new("C:\\w")), "file:///C:/w/");
    }
}
