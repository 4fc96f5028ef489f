//! SARIF 2.1.0, as GitHub code scanning accepts it.
//!
//! One run; `tool.driver` is `lockgraph` with two rules, `lock-order-cycle`
//! and `lock-order-violation`. Each finding is one result at level `error`:
//! its location is the acquisition site (`requested_at`) of the edge that
//! closes the cycle (for a violation, of the offending edge; with no site
//! recorded, the next place [`primary_site`] finds), its related
//! locations are the edges' sites (at most [`MAX_RELATED`], of the edges a
//! long cycle's text lists too; its message is cut at [`MAX_MESSAGE`]
//! characters: GitHub refuses a whole upload for one result of more than
//! 1,000 locations), and `partialFingerprints` holds a hash of the
//! finding's stable key, so alerts survive unrelated changes.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::split_site;
use crate::report::{EdgeOrigin, Finding, FindingEdge, Listed, Report, Rule};

/// The schema URI written to `$schema`.
const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The key under `partialFingerprints`.
const FINGERPRINT_KEY: &str = "lockgraphKey/v1";

/// The rules, in the order of [`Rule::ALL`] (`ruleIndex`).
fn rules() -> Value {
    json!([
        {
            "id": Rule::Cycle.id(),
            "name": "LockOrderCycle",
            "shortDescription": { "text": "Lock-order cycle: a potential deadlock" },
            "fullDescription": {
                "text": "Locks were taken in orders that form a cycle (across threads, tests or processes). \
                         If the threads involved run at the same time, each can hold one lock and wait \
                         for the next: a deadlock."
            },
            "help": {
                "text": "Take these locks in one global order everywhere, or stop holding one lock while \
                         requesting the next.",
                "markdown": "Take these locks in **one global order** everywhere, or stop holding one lock \
                             while requesting the next. A `lockorder.toml` passed with `--order` makes the \
                             intended order explicit."
            },
            "defaultConfiguration": { "level": "error" },
            "properties": { "tags": ["concurrency", "deadlock", "reliability"], "precision": "high" }
        },
        {
            "id": Rule::OrderViolation.id(),
            "name": "LockOrderViolation",
            "shortDescription": { "text": "A lock was taken against the declared lock order" },
            "fullDescription": {
                "text": "A thread requested a lock that the order file puts earlier than a lock it \
                         already held."
            },
            "help": {
                "text": "Take the locks in the order the order file declares, or change the order file."
            },
            "defaultConfiguration": { "level": "error" },
            "properties": { "tags": ["concurrency", "deadlock", "reliability"], "precision": "high" }
        }
    ])
}

/// Where SARIF's `%SRCROOT%` is: the repository that holds the current
/// directory (the nearest directory above it with a `.git`), else the
/// current directory; and the current directory's path inside it (`/`
/// separators, empty at its top). Sites are named relative to the Cargo
/// workspace the program was built in, which `check` is run from: a
/// workspace in a subfolder of its repository (`rust/`) has its sites
/// prefixed with that path, as code scanning reads URIs from the
/// repository's root.
pub(crate) struct SourceRoot {
    pub(crate) repo: PathBuf,
    pub(crate) within: String,
}

impl SourceRoot {
    /// The source root of `cwd`.
    pub(crate) fn of(cwd: &Path) -> SourceRoot {
        let repo = cwd.ancestors().find(|d| d.join(".git").exists());
        match repo {
            Some(repo) => SourceRoot {
                within: cwd
                    .strip_prefix(repo)
                    .map(|w| w.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default(),
                repo: repo.to_path_buf(),
            },
            None => SourceRoot {
                repo: cwd.to_path_buf(),
                within: String::new(),
            },
        }
    }
}

/// A SARIF `physicalLocation` for a `file:line:column` site. Relative paths
/// (taken from the current directory, [`SourceRoot::within`]) and absolute
/// ones under the root become `%SRCROOT%`-relative URIs; others become
/// `file://` URIs.
pub(crate) fn physical_location(site: &str, root: Option<&SourceRoot>) -> Value {
    let (file, region) = match split_site(site) {
        Some((file, line, col)) if line > 0 => {
            let mut region = json!({ "startLine": line });
            if col > 0 {
                region["startColumn"] = json!(col);
            }
            (file, Some(region))
        }
        _ => (site, None),
    };
    let relative =
        !file.starts_with(['/', '\\']) && !super::uri::has_drive(&file.replace('\\', "/"));
    let file = match root {
        Some(r) if relative && !r.within.is_empty() => format!("{}/{file}", r.within),
        _ => file.to_string(),
    };
    let artifact = super::uri::artifact_location(&file, root.map(|r| r.repo.as_path()));
    let mut loc = json!({ "artifactLocation": artifact });
    if let Some(region) = region {
        loc["region"] = region;
    }
    loc
}

/// At most this many related locations per result: GitHub code scanning
/// refuses a whole upload with a result of more than 1,000 locations, and
/// shows 100.
pub(crate) const MAX_RELATED: usize = 100;

/// A result's message is cut past this many characters (the JSON report
/// has it whole).
pub(crate) const MAX_MESSAGE: usize = 8_000;

/// An edge run's words: `L1 -> L2`, or `L3 -> L4 (and the 199997 edges
/// after it, recorded alike)`.
fn edge_words(e: &FindingEdge) -> String {
    match e.count {
        1 => format!("{} -> {}", e.from, e.to),
        2 => format!(
            "{} -> {} (and the edge after it, recorded alike)",
            e.from, e.to
        ),
        n => format!(
            "{} -> {} (and the {} edges after it, recorded alike)",
            e.from,
            e.to,
            n - 1
        ),
    }
}

fn describe_origin(e: &FindingEdge, o: &EdgeOrigin) -> String {
    format!(
        "{}: {} (pid {}) held {} (taken at {}) and requested {} here",
        edge_words(e),
        super::actor(&o.thread),
        o.pid,
        e.from,
        o.held_at.as_deref().unwrap_or("an unknown site"),
        e.to
    )
}

/// The primary site of an edge: where its first origin requested the lock,
/// else where it held the other.
fn edge_site(e: &FindingEdge) -> Option<&str> {
    e.origins
        .iter()
        .find_map(|o| o.requested_at.as_deref())
        .or_else(|| e.origins.iter().find_map(|o| o.held_at.as_deref()))
}

/// The sites of the edges' origins as related locations, at most
/// [`MAX_RELATED`]: of the edges a bounded list shows (the first and last
/// ones of a long cycle and its closing edge; a run of edges once); and how
/// many more there were.
fn related(f: &Finding, root: Option<&SourceRoot>) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut left = 0;
    let mut seen: Vec<*const FindingEdge> = Vec::new();
    let runs = f.listed_edges().into_iter().filter_map(|l| match l {
        Listed::One(_, e) => Some(e),
        Listed::Left { .. } => None,
    });
    for e in runs {
        if seen.contains(&std::ptr::from_ref(e)) {
            continue;
        }
        seen.push(e);
        for o in &e.origins {
            let requested = o
                .requested_at
                .as_deref()
                .map(|site| (site, describe_origin(e, o)));
            let held = o.held_at.as_deref().map(|site| {
                let took = format!(
                    "{}: {} took {} here",
                    edge_words(e),
                    super::actor(&o.thread),
                    e.from
                );
                (site, took)
            });
            for (site, text) in requested.into_iter().chain(held) {
                if out.len() == MAX_RELATED {
                    left += 1;
                    continue;
                }
                out.push(json!({
                    "id": out.len() + 1,
                    "physicalLocation": physical_location(site, root),
                    "message": { "text": text }
                }));
            }
        }
    }
    // The edges not listed: their sites, counted.
    let listed: usize = seen.len();
    if f.edges.len() > listed {
        left += f
            .edges
            .iter()
            .filter(|e| !seen.contains(&std::ptr::from_ref(*e)))
            .flat_map(|e| &e.origins)
            .map(|o| usize::from(o.requested_at.is_some()) + usize::from(o.held_at.is_some()))
            .sum::<usize>();
    }
    (out, left)
}

/// `text` cut to [`MAX_MESSAGE`] characters, saying so.
fn bounded(text: String) -> String {
    match text.char_indices().nth(MAX_MESSAGE) {
        None => text,
        Some((at, _)) => format!(
            "{}... (cut at {MAX_MESSAGE} characters: the JSON report has the whole finding)",
            &text[..at]
        ),
    }
}

/// The sentences after the finding's message: how each edge was recorded.
fn details(f: &Finding) -> String {
    let mut text = String::new();
    match f.rule {
        Rule::Cycle => {
            for l in f.listed_edges() {
                let (p, e) = match l {
                    Listed::One(p, e) => (p, e),
                    Listed::Left { count, run, .. } => {
                        let alike = if run.is_some() { " recorded alike" } else { "" };
                        text.push_str(&format!(" ... {count} more edges{alike} ..."));
                        continue;
                    }
                };
                let (from, to) = f.edge_ends(e, p - u64::from(e.from.0 - 1));
                if let Some(o) = e.origins.first() {
                    text.push_str(&format!(
                        " {from} -> {to}: {} (pid {}) held {from} at {} and requested {to} at {}.",
                        super::actor(&o.thread),
                        o.pid,
                        o.held_at.as_deref().unwrap_or("an unknown site"),
                        o.requested_at.as_deref().unwrap_or("an unknown site")
                    ));
                }
            }
            if !f.exact() {
                text.push_str(" (Found ignoring the read-lock and gate rules: may be safe.)");
            }
        }
        Rule::OrderViolation => {
            if let Some(o) = f.edges.first().and_then(|e| e.origins.first()) {
                text.push_str(&format!(
                    " Thread `{}` (pid {}) took it at {}.",
                    o.thread,
                    o.pid,
                    o.held_at.as_deref().unwrap_or("an unknown site")
                ));
            }
        }
    }
    for note in &f.notes {
        text.push_str(&format!(" Note: {note}."));
    }
    text
}

/// `file:line:0` from a stack frame as records write it,
/// `path::to::function (file:line)`: where the frame's source line is,
/// without a column.
fn frame_site(frame: &str) -> Option<String> {
    let (_, place) = frame.strip_suffix(')')?.rsplit_once(" (")?;
    let (file, line) = place.rsplit_once(':')?;
    let line: u64 = line.parse().ok()?;
    (!file.is_empty() && line > 0).then(|| format!("{file}:{line}:0"))
}

/// Where a finding is shown: the acquisition site of the edge that closes
/// the cycle (a violation: of its edge), else of another edge, else the
/// innermost frame of those edges' stacks (locks taken through `lock_api`'s
/// own types record no site), else a lock's creation site. `None` when the
/// records give no place at all.
fn primary_site(f: &Finding) -> Option<String> {
    let primary = f.edges.iter().find(|e| e.closes_cycle).or(f.edges.last());
    let others = f.edges.iter().filter(|e| !e.closes_cycle);
    let order: Vec<&FindingEdge> = primary.into_iter().chain(others).collect();
    order
        .iter()
        .find_map(|e| edge_site(e).map(str::to_string))
        .or_else(|| {
            order.iter().find_map(|e| {
                e.origins
                    .iter()
                    .flat_map(|o| o.backtrace.iter())
                    .find_map(|frame| frame_site(frame))
            })
        })
        .or_else(|| {
            f.locks
                .iter()
                .find_map(|l| l.site.as_deref().map(str::to_string))
        })
}

/// The file a finding with no recorded place is shown at: GitHub code
/// scanning refuses a whole SARIF file when one result has no location.
const NO_PLACE_FILE: &str = "Cargo.toml";

fn result(f: &Finding, root: Option<&SourceRoot>) -> Value {
    // A cycle is located at the edge that closes it; a violation at its edge.
    let (location, unplaced) = match primary_site(f) {
        Some(site) => (physical_location(&site, root), ""),
        None => (
            physical_location(NO_PLACE_FILE, root),
            " (The records give no source location for this finding: it is shown at the \
             workspace's Cargo.toml.)",
        ),
    };
    let (related, left) = related(f, root);
    let left = match left {
        0 => String::new(),
        n => format!(
            " ({n} more sites of its edges are left out of the related locations (at most \
             {MAX_RELATED}, of the edges named here): the JSON report has every edge.)"
        ),
    };
    let message = bounded(format!("{}{}{unplaced}", f.message, details(f)));
    json!({
        "ruleId": f.rule.id(),
        "ruleIndex": Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0),
        "level": "error",
        "message": { "text": format!("{message}{left}") },
        "locations": [{ "physicalLocation": location }],
        "relatedLocations": related,
        "partialFingerprints": { FINGERPRINT_KEY: f.fingerprint },
        "properties": { "key": f.key, "exact": f.exact() }
    })
}

/// The SARIF log of a report. `root` is the source root that absolute paths
/// are made relative to.
pub(crate) fn to_value(report: &Report, root: Option<&SourceRoot>) -> Value {
    let results: Vec<Value> = report.findings.iter().map(|f| result(f, root)).collect();
    let mut run = json!({
        "tool": {
            "driver": {
                "name": "lockgraph",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules()
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results
    });
    if let Some(root) = root {
        run["originalUriBaseIds"] =
            json!({ "%SRCROOT%": { "uri": super::uri::root_uri(&root.repo) } });
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [run]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_root_is_the_repository() {
        let d = std::env::temp_dir().join(format!("lockgraph-srcroot-{}", std::process::id()));
        let ws = d.join("rust");
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::create_dir_all(&ws).unwrap();
        let r = SourceRoot::of(&ws);
        assert_eq!((r.repo.as_path(), r.within.as_str()), (d.as_path(), "rust"));
        let r = SourceRoot::of(&d);
        assert_eq!((r.repo.as_path(), r.within.as_str()), (d.as_path(), ""));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_long_message_is_cut_at_a_character_and_says_so() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(MAX_MESSAGE + 5);
        let cut = bounded(long);
        assert!(cut.starts_with(&"é".repeat(MAX_MESSAGE)), "{cut}");
        assert!(cut.ends_with(&format!(
            "é... (cut at {MAX_MESSAGE} characters: the JSON report has the whole finding)"
        )));
    }

    #[test]
    fn locations_are_relative_with_a_region() {
        let v = physical_location("src/a b.rs:3:7", None);
        assert_eq!(v["artifactLocation"]["uri"], "src/a%20b.rs");
        assert_eq!(v["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(v["region"]["startLine"], 3);
        assert_eq!(v["region"]["startColumn"], 7);
        let repo = |within: &str| SourceRoot {
            repo: PathBuf::from("/work/repo"),
            within: within.to_string(),
        };
        let v = physical_location("/work/repo/src/a.rs:3:7", Some(&repo("")));
        assert_eq!(v["artifactLocation"]["uri"], "src/a.rs");
        // A workspace in a subfolder of its repository: relative sites are
        // the workspace's, absolute ones stay as they are.
        let v = physical_location("src/a.rs:3:7", Some(&repo("rust")));
        assert_eq!(v["artifactLocation"]["uri"], "rust/src/a.rs");
        let v = physical_location("/work/repo/rust/src/a.rs:3:7", Some(&repo("rust")));
        assert_eq!(v["artifactLocation"]["uri"], "rust/src/a.rs");
        let v = physical_location("../b/c.rs:3:7", Some(&repo("rust")));
        assert_eq!(v["artifactLocation"]["uri"], "b/c.rs");
        let v = physical_location("/elsewhere/a.rs:3:7", Some(&repo("")));
        assert_eq!(v["artifactLocation"]["uri"], "file:///elsewhere/a.rs");
        assert!(v["artifactLocation"].get("uriBaseId").is_none());
        let v = physical_location("weird", None);
        assert!(v.get("region").is_none());
    }
}
