//! The machine-independent form of a creation site in a class id.
//!
//! `std::panic::Location::file` names a file of the workspace relative to
//! it (`src/model.rs`), but a file of a dependency from a registry or a git
//! repository by its absolute path under `CARGO_HOME`, which differs from
//! machine to machine:
//!
//! ```text
//! /home/alice/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/moka-0.12.16/src/sync/cache.rs
//! /home/alice/.cargo/git/checkouts/tokio-377c595163f99a10/d8e4d0d/tokio/src/sync/mutex.rs
//! ```
//!
//! In a class id (`site:<file>:<line>:<column>[:<type>]`, which records,
//! baselines and `lockgraph check` compare across machines) such a file is
//! written from its package directory on, with `/` separators:
//! `moka-0.12.16/src/sync/cache.rs` for a registry source (the registry
//! index's directory, whose name also changes with the cargo version, is
//! left out as well), and the repository's name and the path inside the
//! checkout, `tokio/tokio/src/sync/mutex.rs`, for a git checkout (the
//! revision directory is left out: the code's lines say which version it
//! is). Every other path, a workspace-relative one above all, is kept as
//! it is.
//!
//! The runtime writes ids in this form, and `lockgraph` brings the ids of
//! records and baselines written before it to the same form with the same
//! functions, so that both agree. Only identities change: reports still
//! show the full path of a site.
//!
//! A path is recognised as a dependency's only when it is absolute (`/...`,
//! `\...`, `C:\...`, `C:/...`) and has, as whole components,
//! `registry/src/<index>-<hash>/<package>/<file...>` or
//! `git/checkouts/<repository>-<hash>/<revision>/<file...>`, where `<hash>`
//! is the 16 hexadecimal digits cargo names these directories with, and
//! `<file...>` is not empty. Nothing here panics, whatever the input.

use std::borrow::Cow;

/// The id of a class with its site's file in machine-independent form:
/// `site:<file>...` ids of dependency sources are rewritten (see the module
/// documentation), every other id is returned as it is.
///
/// ```
/// use lockgraph_core::site_key::class_id;
///
/// let id = "site:/home/alice/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/\
///           moka-0.12.16/src/sync/cache.rs:10:5:moka::Inner";
/// assert_eq!(class_id(id), "site:moka-0.12.16/src/sync/cache.rs:10:5:moka::Inner");
/// assert_eq!(class_id("site:src/model.rs:41:17"), "site:src/model.rs:41:17");
/// assert_eq!(class_id("name:metrics"), "name:metrics");
/// ```
pub fn class_id(id: &str) -> Cow<'_, str> {
    let Some(site_text) = id.strip_prefix("site:") else {
        return Cow::Borrowed(id);
    };
    match dependency_site(site_text) {
        Some(key) => Cow::Owned(format!("site:{key}")),
        None => Cow::Borrowed(id),
    }
}

/// A site, `<file>` or `<file>:<line>:<column>...`, with its file in
/// machine-independent form (see the module documentation); what follows
/// the file is kept as it is.
///
/// ```
/// use lockgraph_core::site_key::site;
///
/// let file = r"C:\Users\al\.cargo\git\checkouts\tokio-377c595163f99a10\d8e4d0d\tokio\src\m.rs";
/// assert_eq!(site(file), "tokio/tokio/src/m.rs");
/// assert_eq!(site("src/model.rs:41:17"), "src/model.rs:41:17");
/// ```
pub fn site(site: &str) -> Cow<'_, str> {
    match dependency_site(site) {
        Some(key) => Cow::Owned(key),
        None => Cow::Borrowed(site),
    }
}

/// The machine-independent form of `site` if its file is a dependency's
/// source under `CARGO_HOME`.
fn dependency_site(site: &str) -> Option<String> {
    // Most sites are relative, and most absolute ones name neither
    // directory: both are told without splitting the path.
    if !is_absolute(site) || !(site.contains("registry") || site.contains("checkouts")) {
        return None;
    }
    let parts = components(site);
    (0..parts.len()).find_map(|i| registry_at(site, &parts, i).or_else(|| git_at(site, &parts, i)))
}

/// Whether `path` starts like an absolute Unix or Windows path.
fn is_absolute(path: &str) -> bool {
    match path.as_bytes() {
        [b'/' | b'\\', ..] => true,
        [drive, b':', b'/' | b'\\', ..] => drive.is_ascii_alphabetic(),
        _ => false,
    }
}

/// One path component: its text and where it starts in the path.
#[derive(Clone, Copy)]
struct Part<'a> {
    text: &'a str,
    start: usize,
}

/// The components of `path` between `/` and `\` separators (empty ones
/// included, so that `a//b` matches no pattern of whole components).
fn components(path: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in path.char_indices() {
        if c == '/' || c == '\\' {
            parts.push(Part {
                text: &path[start..i],
                start,
            });
            start = i + 1;
        }
    }
    parts.push(Part {
        text: &path[start..],
        start,
    });
    parts
}

/// `registry/src/<index>-<hash>/<package>/<file...>` at component `i`:
/// `<package>/<file...>`.
fn registry_at(site: &str, parts: &[Part<'_>], i: usize) -> Option<String> {
    let [registry, src, index, package, ..] = parts.get(i..)? else {
        return None;
    };
    if registry.text != "registry" || src.text != "src" {
        return None;
    }
    hashed_name(index.text)?;
    if package.text.is_empty() {
        return None;
    }
    tail_from(site, package.start, package.text.len(), "")
}

/// `git/checkouts/<repository>-<hash>/<revision>/<file...>` at component
/// `i`: `<repository>/<file...>`.
fn git_at(site: &str, parts: &[Part<'_>], i: usize) -> Option<String> {
    let [git, checkouts, repo, revision, ..] = parts.get(i..)? else {
        return None;
    };
    if git.text != "git" || checkouts.text != "checkouts" {
        return None;
    }
    let name = hashed_name(repo.text)?;
    if revision.text.is_empty() {
        return None;
    }
    let file_start = revision.start + revision.text.len() + 1;
    tail_from(site, file_start, 0, &format!("{name}/"))
}

/// The name of a cargo directory named `<name>-<16 hex digits>`. A name
/// with a `:` is none of cargo's (and would make the key look like a
/// Windows path).
fn hashed_name(dir: &str) -> Option<&str> {
    let (name, hash) = dir.rsplit_once('-')?;
    let is_hash = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hash && !name.is_empty() && !name.contains(':')).then_some(name)
}

/// `prefix` and `site` from `start` on, where the `lead` bytes at `start`
/// (a package directory) must be followed by a separator and a non-empty
/// file. The file ends at the first `:` (a line number, or what follows);
/// its separators become `/`.
fn tail_from(site: &str, start: usize, lead: usize, prefix: &str) -> Option<String> {
    let tail = site.get(start..)?;
    let file_len = tail.find(':').unwrap_or(tail.len());
    let (file, rest) = tail.split_at(file_len);
    let inner = if lead == 0 {
        file
    } else {
        file.get(lead + 1..)?
    };
    if inner.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(prefix.len() + tail.len());
    out.push_str(prefix);
    out.extend(file.chars().map(|c| if c == '\\' { '/' } else { c }));
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests;
