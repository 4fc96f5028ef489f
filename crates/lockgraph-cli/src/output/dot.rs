//! Graphviz DOT: only the offending subgraph. Nodes are lock classes,
//! labelled once each ("Mutex `metrics`", "RwLock created at src/m.rs:4:9");
//! edges of cycles are red, the edge that closes a cycle bold, order
//! violations orange and dashed. Every edge is labelled with each distinct
//! recording of it (thread, process, where the held lock was taken and
//! where the other was requested), and a legend says what the styles mean.
//! Render it with `dot -Tsvg`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::escape;
use crate::report::{Detail, FindingEdge, Listed, LockId, Report};

/// Escapes a string for a double-quoted DOT id or label: quotes and
/// backslashes, newlines as DOT's `\n` line breaks, and every other control
/// character shown as an escape.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&escape::t(&c.to_string()).replace('\\', "\\\\")),
            c => out.push(c),
        }
    }
    out
}

/// At most this many labels (each a run's recordings) on one arrow.
const LABELS: usize = 8;

#[derive(Default)]
struct DotEdge {
    labels: Vec<String>,
    cycle: bool,
    closing: bool,
    violation: bool,
    /// Of a cycle found at run time.
    run_time: bool,
    /// Into or out of a node counting the edges left out.
    elided: bool,
}

/// One block per distinct recording: thread and process, then where the
/// held lock was taken and where the other was requested. Names are
/// escaped here, so a newline inside one cannot pass for a line break.
fn edge_label(e: &FindingEdge) -> String {
    let t = escape::t;
    let mut blocks: Vec<String> = e
        .origins
        .iter()
        .map(|o| {
            format!(
                "{} (pid {})\nheld at {}\nrequested at {}",
                super::actor(&t(&o.thread)),
                o.pid,
                t(o.held_at.as_deref().unwrap_or("?")),
                t(o.requested_at.as_deref().unwrap_or("?"))
            )
        })
        .collect();
    if blocks.is_empty() {
        blocks.push("?".into());
    }
    let mut s = blocks.join("\n");
    if e.count > 1 {
        s.push_str(&format!(
            "\n({} edges in a row, from {}, each recorded so)",
            e.count, e.from
        ));
    }
    if e.recordings > 1 {
        s.push_str(&format!("\n({} recordings)", e.recordings));
    }
    s
}

/// Writes the digraph.
pub(crate) fn write(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    let mut nodes: BTreeMap<String, String> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), DotEdge> = BTreeMap::new();
    for (fi, f) in report.findings.iter().enumerate() {
        let class = |nodes: &mut BTreeMap<String, String>, id| {
            f.lock(id).map_or_else(String::new, |l| {
                nodes
                    .entry(l.class.to_string())
                    .or_insert_with(|| escape::t(&l.label()));
                l.class.to_string()
            })
        };
        // The edges a bounded list shows (a long cycle's first and last
        // ones and its closing edge); those between, of several runs, go
        // through a node that counts them.
        for l in f.listed_edges() {
            let (p, e) = match l {
                Listed::One(p, e) => (p, e),
                Listed::Left { run: Some(_), .. } => continue,
                Listed::Left { from, count, .. } => {
                    let last = f.edge_at(from + count - 1).map(|e| e.to);
                    let (a, b) = (LockId::of_place(from), last.unwrap_or(LockId(1)));
                    let more = format!("lockgraph:more:{}:{}", fi + 1, a);
                    let (a, b) = (class(&mut nodes, a), class(&mut nodes, b));
                    nodes.insert(
                        more.clone(),
                        format!("... {count} more edges (see the text or JSON report)"),
                    );
                    for key in [(a, more.clone()), (more, b)] {
                        let d = edges.entry(key).or_default();
                        d.cycle = true;
                        d.elided = true;
                    }
                    continue;
                }
            };
            let (from, to) = f.edge_ends(e, p - u64::from(e.from.0 - 1));
            let key = (class(&mut nodes, from), class(&mut nodes, to));
            let d = edges.entry(key).or_default();
            // Each distinct recording once (a run's first and last edges
            // are recorded alike), a few at most.
            let label = edge_label(e);
            if !d.labels.contains(&label) && d.labels.len() < LABELS {
                d.labels.push(label);
            }
            match &f.detail {
                Detail::Cycle { run_time, .. } => {
                    d.cycle = true;
                    d.closing |= e.closes_cycle;
                    d.run_time |= run_time.is_some();
                }
                Detail::OrderViolation(o) => {
                    d.labels.push(format!(
                        "against {} (chain {}): `{}` before `{}`",
                        escape::t(&o.order_file),
                        o.chain,
                        escape::t(&o.to_entry),
                        escape::t(&o.from_entry)
                    ));
                    d.violation = true;
                }
            }
        }
    }
    writeln!(w, "digraph lockgraph {{")?;
    writeln!(
        w,
        "  graph [rankdir=LR, labelloc=t, label=\"{}\"];",
        escape(&escape::t(&report.summary_line()))
    )?;
    writeln!(w, "  node [shape=box, fontname=\"monospace\"];")?;
    writeln!(w, "  edge [fontname=\"monospace\", fontsize=10];")?;
    for (class, label) in &nodes {
        writeln!(w, "  \"{}\" [label=\"{}\"];", escape(class), escape(label))?;
    }
    for ((from, to), d) in &edges {
        let mut attrs = vec![format!("label=\"{}\"", escape(&d.labels.join("\n")))];
        if d.elided {
            attrs.push("style=dotted".into());
        }
        if d.cycle {
            attrs.push("color=red".into());
            if d.closing {
                attrs.push("penwidth=2".into());
            }
        } else if d.violation {
            attrs.push("color=orange".into());
        }
        if d.violation {
            attrs.push("style=dashed".into());
        }
        writeln!(
            w,
            "  \"{}\" -> \"{}\" [{}];",
            escape(from),
            escape(to),
            attrs.join(", ")
        )?;
    }
    write_legend(w, &edges)?;
    writeln!(w, "}}")
}

/// A box explaining the styles that appear in the graph.
fn write_legend(w: &mut dyn Write, edges: &BTreeMap<(String, String), DotEdge>) -> io::Result<()> {
    let mut lines = Vec::new();
    if edges.values().any(|d| d.cycle) {
        lines.push(
            "An arrow A -> B: a thread holding A requested B (each recording: thread, \
             process, where A was taken, where B was requested).",
        );
        lines.push("red: an edge of a lock-order cycle (a potential deadlock).");
    }
    if edges.values().any(|d| d.closing) {
        lines.push(
            "bold red: the edge reported as closing the cycle: the last one, back to the \
             cycle's first lock (L1 in the text report, the lock whose class id sorts first).",
        );
    }
    if edges.values().any(|d| d.run_time) {
        lines.push(
            "a cycle found at run time: bold at the request that closed it there; a red \
             loop on one class: locks of that class (per-object locks) taken in orders that \
             close a cycle.",
        );
    }
    if edges.values().any(|d| d.elided) {
        lines.push(
            "dotted: a long cycle's edges left out, counted in the box between (the text \
             report lists its first and last ones, the JSON report every one).",
        );
    }
    if edges.values().any(|d| d.violation) {
        lines.push("orange dashed: an edge against the order file (--order).");
    }
    if lines.is_empty() {
        return Ok(());
    }
    writeln!(w, "  subgraph cluster_legend {{")?;
    writeln!(
        w,
        "    label=\"legend\"; fontname=\"monospace\"; fontsize=10; color=gray;"
    )?;
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push_str("\\l");
    }
    writeln!(
        w,
        "    \"lockgraph:legend\" [shape=note, fontsize=10, label=\"{}\"];",
        text.replace('"', "\\\"")
    )?;
    writeln!(w, "  }}")
}
