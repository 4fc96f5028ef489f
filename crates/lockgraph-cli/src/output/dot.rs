//! Graphviz DOT: only the offending subgraph. Nodes are lock classes; edges
//! of cycles are red (the closing one bold), order violations orange and
//! dashed; every edge is labelled with its first thread and sites. Render it
//! with `dot -Tsvg`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::text::lock_label;
use crate::report::{EdgeReport, LockReport, Report};

/// Escapes a string for a double-quoted DOT id or label.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct DotEdge {
    labels: Vec<String>,
    cycle: bool,
    closing: bool,
    violation: bool,
}

fn edge_label(e: &EdgeReport) -> String {
    let mut s = match e.origins.first() {
        Some(o) => format!(
            "thread `{}` (pid {})\nheld at {}\nrequested at {}",
            o.thread,
            o.pid,
            o.held_at.as_deref().unwrap_or("?"),
            o.requested_at.as_deref().unwrap_or("?")
        ),
        None => String::from("?"),
    };
    if e.recordings > 1 {
        s.push_str(&format!("\n({} recordings)", e.recordings));
    }
    s
}

/// Writes the digraph.
pub fn write(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    let mut nodes: BTreeMap<String, String> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), DotEdge> = BTreeMap::new();
    let mut add_node = |l: &LockReport| {
        nodes
            .entry(l.class.clone())
            .or_insert_with(|| format!("{}\n{}", lock_label(l), l.class));
    };
    for c in &report.cycles {
        for l in &c.locks {
            add_node(l);
        }
        let class = |id: &str| {
            c.locks
                .iter()
                .find(|l| l.id == id)
                .map_or_else(String::new, |l| l.class.clone())
        };
        for e in &c.edges {
            let d = edges.entry((class(&e.from), class(&e.to))).or_default();
            if !d.cycle && !d.violation {
                d.labels.push(edge_label(e));
            }
            d.cycle = true;
            d.closing |= e.closes_cycle;
        }
    }
    for v in &report.violations {
        add_node(&v.from);
        add_node(&v.to);
        let d = edges
            .entry((v.from.class.clone(), v.to.class.clone()))
            .or_default();
        if !d.cycle && !d.violation {
            d.labels.push(edge_label(&v.edge));
        }
        d.labels.push(format!(
            "against {} (chain {}): `{}` before `{}`",
            v.order_file, v.chain, v.to_entry, v.from_entry
        ));
        d.violation = true;
    }
    writeln!(w, "digraph lockgraph {{")?;
    writeln!(
        w,
        "  graph [rankdir=LR, labelloc=t, label=\"{}\"];",
        escape(&report.summary_line())
    )?;
    writeln!(w, "  node [shape=box, fontname=\"monospace\"];")?;
    writeln!(w, "  edge [fontname=\"monospace\", fontsize=10];")?;
    for (class, label) in &nodes {
        writeln!(w, "  \"{}\" [label=\"{}\"];", escape(class), escape(label))?;
    }
    for ((from, to), d) in &edges {
        let mut attrs = vec![format!("label=\"{}\"", escape(&d.labels.join("\n")))];
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
    writeln!(w, "}}")
}
