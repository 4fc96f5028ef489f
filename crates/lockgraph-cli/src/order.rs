//! The intended lock order (`--order lockorder.toml`) and its violations.
//!
//! ```toml
//! # earlier entries are taken before later ones
//! order = ["model_lock", "cache_lock", "metrics_lock"]
//!
//! # more independent chains
//! [[chain]]
//! order = ["name:db_*", "site:src/log.rs:*"]
//! ```
//!
//! An entry matches a lock class by its name (named classes), by its class id
//! (`name:model_lock`, `site:src/model.rs:41:17:server::Model`), by the id of
//! a `new` lock without its type (`site:src/model.rs:41:17`), or as a glob
//! (`*` any run of characters, `?` one character) over any of these. Within a chain, a class takes
//! the position of the first entry it matches. A recorded edge from a class at
//! a later position to one at an earlier position of the same chain is a
//! violation. A `site:` entry naming a dependency's file by its path under
//! `CARGO_HOME` is read in the machine-independent form class ids have
//! (`lockgraph_core::site_key`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use lockgraph_core::site_key;
use serde::Deserialize;
use toml::Spanned;

use crate::error::Error;
use crate::merge::{ClassInfo, Merged};
use crate::position::line_col;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderToml {
    order: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    chain: Vec<ChainToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainToml {
    order: Spanned<Vec<Spanned<String>>>,
}

/// One chain of the order: entries earlier in the list come first.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Chain {
    /// The patterns, in order.
    pub entries: Vec<String>,
    /// The 1-based line of each entry in the order file.
    pub lines: Vec<usize>,
    /// Entries without `*` or `?`, by text: matched by a hash lookup.
    exact: HashMap<String, usize>,
    /// The positions of the glob entries, in order.
    globs: Vec<usize>,
}

/// A parsed order file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderSpec {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// The top-level `order` first (if present), then every `[[chain]]`.
    pub chains: Vec<Chain>,
}

/// A recorded edge that goes against the order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The stable identity: `order:` and the two classes' stable keys.
    pub key: String,
    /// Index into [`OrderSpec::chains`].
    pub chain: usize,
    /// Index into [`Merged::edges`] of the offending edge.
    pub edge: usize,
    /// The entry the held lock matched (later in the chain).
    pub from_entry: usize,
    /// The entry the requested lock matched (earlier in the chain).
    pub to_entry: usize,
}

/// Reads and checks an order file.
pub fn load(path: &Path) -> Result<OrderSpec, Error> {
    let bytes = crate::files::read_small(path).map_err(|e| Error::Order {
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read it: {}", crate::error::lower(&e)),
    })?;
    match std::str::from_utf8(&bytes) {
        // A UTF-8 byte-order mark is not TOML: skipped, as editors do.
        Ok(text) => parse(path, text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(e) => {
            let (position, message) = crate::files::not_utf8(&bytes, e);
            Err(Error::Order {
                path: path.to_path_buf(),
                position: Some(position),
                message,
            })
        }
    }
}

/// Parses an order file's text; `path` names it in messages.
pub fn parse(path: &Path, text: &str) -> Result<OrderSpec, Error> {
    let err = |offset: Option<usize>, message: String| Error::Order {
        path: path.to_path_buf(),
        position: offset.map(|o| line_col(text, o)),
        message,
    };
    let doc: OrderToml = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        err(e.span().map(|s| s.start), message)
    })?;
    let mut lists = Vec::new();
    if let Some(order) = doc.order {
        lists.push(order);
    }
    lists.extend(doc.chain.into_iter().map(|c| c.order));
    if lists.is_empty() {
        return Err(err(
            None,
            "no order given: expected `order = [\"first\", \"second\", ...]` or `[[chain]]` tables with an `order`"
                .into(),
        ));
    }
    let lines = LineIndex::new(text);
    let mut chains = Vec::new();
    for list in lists {
        let span = list.span();
        let items = list.into_inner();
        if items.len() < 2 {
            return Err(err(
                Some(span.start),
                format!(
                    "an order needs at least two entries, this one has {}",
                    items.len()
                ),
            ));
        }
        let mut entries: Vec<String> = Vec::with_capacity(items.len());
        let mut line_of = Vec::with_capacity(items.len());
        let mut seen: HashSet<String> = HashSet::with_capacity(items.len());
        for item in items {
            let start = item.span().start;
            let entry = portable_entry(item.into_inner());
            if entry.trim().is_empty() {
                return Err(err(Some(start), "empty entry".into()));
            }
            if !seen.insert(entry.clone()) {
                return Err(err(
                    Some(start),
                    format!("`{entry}` appears twice in the same order"),
                ));
            }
            line_of.push(lines.line(start));
            entries.push(entry);
        }
        chains.push(Chain::new(entries, line_of));
    }
    Ok(OrderSpec {
        path: path.to_path_buf(),
        chains,
    })
}

/// An entry with a dependency's site in the machine-independent form that
/// class ids have (`lockgraph_core::site_key`), so that an entry written
/// with the site's path under `CARGO_HOME` (as class ids were written
/// before) still matches.
fn portable_entry(entry: String) -> String {
    match site_key::class_id(&entry) {
        Cow::Owned(e) => e,
        Cow::Borrowed(_) => entry,
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of
/// characters and `?` for exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Chain {
    /// A chain of these entries (distinct, in order) found on these lines.
    pub fn new(entries: Vec<String>, lines: Vec<usize>) -> Chain {
        let mut exact = HashMap::new();
        let mut globs = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if is_glob(e) {
                globs.push(i);
            } else {
                exact.entry(e.clone()).or_insert(i);
            }
        }
        Chain {
            entries,
            lines,
            exact,
            globs,
        }
    }

    /// Whether entry `i` matches `class` (by name or class id; a pattern
    /// also by a dependency site's id as written before ids were made
    /// portable, [`ClassInfo::full_site_id`], so that a glob such as
    /// `site:*/moka-0.12.16/src/sync/cache.rs:*` matches as it did).
    pub fn entry_matches(&self, i: usize, class: &ClassInfo) -> bool {
        let pat = &self.entries[i];
        glob_match(pat, &class.class)
            || class.name().is_some_and(|n| glob_match(pat, n))
            || class.site_id().is_some_and(|id| glob_match(pat, &id))
            || class.full_site_id().is_some_and(|id| glob_match(pat, &id))
    }

    /// The position of `class` in this chain: the first entry it matches.
    pub fn position(&self, class: &ClassInfo) -> Option<usize> {
        let by_id = self.exact.get(&*class.class).copied();
        let by_name = class.name().and_then(|n| self.exact.get(n).copied());
        let by_site = class
            .site_id()
            .and_then(|id| self.exact.get(id.as_str()).copied());
        let best = [by_id, by_name, by_site].into_iter().flatten().min();
        let glob = self
            .globs
            .iter()
            .copied()
            .take_while(|&g| best.is_none_or(|b| g < b))
            .find(|&g| self.entry_matches(g, class));
        glob.or(best)
    }
}

/// Whether an entry is a pattern rather than a plain name or class id.
fn is_glob(entry: &str) -> bool {
    entry.contains(['*', '?'])
}

/// The start of every line of a text, to turn byte offsets into line
/// numbers by binary search.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex(starts)
    }

    /// The 1-based line of byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&s| s <= offset)
    }
}

impl OrderSpec {
    /// Every recorded edge that goes from a later entry to an earlier one of
    /// some chain (each edge once, for the first chain it violates), sorted by
    /// key.
    pub fn violations(&self, merged: &Merged) -> Vec<Violation> {
        let positions: Vec<Vec<Option<usize>>> = self
            .chains
            .iter()
            .map(|c| merged.classes.iter().map(|cl| c.position(cl)).collect())
            .collect();
        let mut out = Vec::new();
        for (i, e) in merged.edges.iter().enumerate() {
            for (ci, pos) in positions.iter().enumerate() {
                if let (Some(f), Some(t)) = (pos[e.from], pos[e.to]) {
                    if f > t {
                        out.push(Violation {
                            key: format!(
                                "order:{} -> {}",
                                merged.classes[e.from].stable_key(),
                                merged.classes[e.to].stable_key()
                            ),
                            chain: ci,
                            edge: i,
                            from_entry: f,
                            to_entry: t,
                        });
                        break;
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key).then(a.edge.cmp(&b.edge)));
        out
    }

    /// Entries that match no recorded lock class (often a typo), as
    /// `(chain, entry)` pairs.
    pub fn unmatched(&self, merged: &Merged) -> Vec<(usize, usize)> {
        let mut known: HashSet<&str> = HashSet::with_capacity(merged.classes.len() * 2);
        for c in &merged.classes {
            known.insert(&c.class);
            if let Some(n) = c.name() {
                known.insert(n);
            }
        }
        let mut out = Vec::new();
        for (ci, c) in self.chains.iter().enumerate() {
            for (i, entry) in c.entries.iter().enumerate() {
                let matched = if is_glob(entry) {
                    merged.classes.iter().any(|cl| c.entry_matches(i, cl))
                } else {
                    known.contains(entry.as_str())
                };
                if !matched {
                    out.push((ci, i));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("model_lock", "model_lock"));
        assert!(!glob_match("model_lock", "model_lock2"));
        assert!(glob_match("model_*", "model_lock"));
        assert!(glob_match("*", ""));
        assert!(glob_match("site:src/*.rs:*", "site:src/a.rs:1:2"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("*a*b", "xxbxxa"));
        assert!(glob_match("é*", "élan"));
    }

    #[test]
    fn errors_name_the_line() {
        let p = Path::new("lockorder.toml");
        let cases = [
            (
                "order = [\"a\", \"b\"]\nbogus = 1\n",
                (2, 1),
                "unknown field `bogus`",
            ),
            ("order = [\"a\", \"b\"\n", (1, 18), "unclosed array"),
            ("order = [\"a\"]\n", (1, 9), "at least two entries"),
            ("order = [\"a\",\n  \"\"]\n", (2, 3), "empty entry"),
            (
                "[[chain]]\norder = [\"a\", \"b\", \"a\"]\n",
                (2, 20),
                "appears twice",
            ),
            (
                "[[chain]]\nordre = [\"a\"]\n",
                (2, 1),
                "unknown field `ordre`",
            ),
            ("order = \"a\"\n", (1, 9), "invalid type"),
        ];
        for (text, pos, want) in cases {
            match parse(p, text) {
                Err(Error::Order {
                    position, message, ..
                }) => {
                    assert_eq!(position, Some(pos), "{text:?}: {message}");
                    assert!(message.contains(want), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let e = parse(p, "# nothing\n").unwrap_err();
        assert!(e.to_string().contains("no order given"), "{e}");
    }

    #[test]
    fn chains_are_read_in_order() {
        let spec = parse(
            Path::new("o.toml"),
            "order = [\"a\", \"b\"]\n[[chain]]\norder = [\"c\", \"d\", \"e\"]\n",
        )
        .unwrap();
        assert_eq!(spec.chains.len(), 2);
        assert_eq!(spec.chains[1].entries, vec!["c", "d", "e"]);
        assert_eq!(spec.chains[1].lines, vec![3, 3, 3]);
    }
}
