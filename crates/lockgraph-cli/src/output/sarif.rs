//! SARIF 2.1.0, as GitHub code scanning accepts it.
//!
//! One run; `tool.driver` is `lockgraph` with two rules, `lock-order-cycle`
//! and `lock-order-violation`. Each finding is one result at level `error`:
//! its location is the acquisition site (`requested_at`) of the edge that
//! closes the cycle (for a violation, of the offending edge), its related
//! locations are the other edges' sites, and `partialFingerprints` holds a
//! hash of the finding's stable key, so alerts survive unrelated changes.

use std::path::Path;

use serde_json::{json, Value};

use super::split_site;
use crate::report::{EdgeOrigin, Finding, FindingEdge, Report, Rule};

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

/// A SARIF `physicalLocation` for a `file:line:column` site. Relative paths
/// (and absolute ones under `root`) become `%SRCROOT%`-relative URIs; others
/// become `file://` URIs.
pub(crate) fn physical_location(site: &str, root: Option<&Path>) -> Value {
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
    let artifact = super::uri::artifact_location(file, root);
    let mut loc = json!({ "artifactLocation": artifact });
    if let Some(region) = region {
        loc["region"] = region;
    }
    loc
}

fn describe_origin(e: &FindingEdge, o: &EdgeOrigin) -> String {
    format!(
        "{} -> {}: {} (pid {}) held {} (taken at {}) and requested {} here",
        e.from,
        e.to,
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

fn related(edges: &[FindingEdge], root: Option<&Path>) -> Vec<Value> {
    let mut out = Vec::new();
    for e in edges {
        for o in &e.origins {
            if let Some(site) = o.requested_at.as_deref() {
                out.push(json!({
                    "id": out.len() + 1,
                    "physicalLocation": physical_location(site, root),
                    "message": { "text": describe_origin(e, o) }
                }));
            }
            if let Some(site) = o.held_at.as_deref() {
                out.push(json!({
                    "id": out.len() + 1,
                    "physicalLocation": physical_location(site, root),
                    "message": { "text": format!("{}: {} took {} here", e.from, super::actor(&o.thread), e.from) }
                }));
            }
        }
    }
    out
}

/// The sentences after the finding's message: how each edge was recorded.
fn details(f: &Finding) -> String {
    let mut text = String::new();
    match f.rule {
        Rule::Cycle => {
            for e in &f.edges {
                if let Some(o) = e.origins.first() {
                    text.push_str(&format!(
                        " {} -> {}: {} (pid {}) held {} at {} and requested {} at {}.",
                        e.from,
                        e.to,
                        super::actor(&o.thread),
                        o.pid,
                        e.from,
                        o.held_at.as_deref().unwrap_or("an unknown site"),
                        e.to,
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

fn result(f: &Finding, root: Option<&Path>) -> Value {
    // A cycle is located at the edge that closes it; a violation at its edge.
    let primary = f.edges.iter().find(|e| e.closes_cycle).or(f.edges.last());
    let locations: Vec<Value> = primary
        .and_then(edge_site)
        .map(|s| vec![json!({ "physicalLocation": physical_location(s, root) })])
        .unwrap_or_default();
    json!({
        "ruleId": f.rule.id(),
        "ruleIndex": Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0),
        "level": "error",
        "message": { "text": format!("{}{}", f.message, details(f)) },
        "locations": locations,
        "relatedLocations": related(&f.edges, root),
        "partialFingerprints": { FINGERPRINT_KEY: f.fingerprint },
        "properties": { "key": f.key, "exact": f.exact() }
    })
}

/// The SARIF log of a report. `root` is the source root that absolute paths
/// are made relative to.
pub(crate) fn to_value(report: &Report, root: Option<&Path>) -> Value {
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
        run["originalUriBaseIds"] = json!({ "%SRCROOT%": { "uri": super::uri::root_uri(root) } });
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
    fn locations_are_relative_with_a_region() {
        let v = physical_location("src/a b.rs:3:7", None);
        assert_eq!(v["artifactLocation"]["uri"], "src/a%20b.rs");
        assert_eq!(v["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(v["region"]["startLine"], 3);
        assert_eq!(v["region"]["startColumn"], 7);
        let v = physical_location("/work/repo/src/a.rs:3:7", Some(Path::new("/work/repo")));
        assert_eq!(v["artifactLocation"]["uri"], "src/a.rs");
        let v = physical_location("/elsewhere/a.rs:3:7", Some(Path::new("/work/repo")));
        assert_eq!(v["artifactLocation"]["uri"], "file:///elsewhere/a.rs");
        assert!(v["artifactLocation"].get("uriBaseId").is_none());
        let v = physical_location("weird", None);
        assert!(v.get("region").is_none());
    }
}
