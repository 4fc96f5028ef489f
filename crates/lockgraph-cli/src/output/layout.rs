//! Drawing one finding as an SVG graph, laid out here (no Graphviz).
//!
//! A finding is a cycle or a single edge, so the layout is a ring: lock `L1`
//! at the top, the others clockwise in cycle order, each edge an arc that
//! bulges outwards (for two locks, each arc to its own side, so `A -> B`
//! and `B -> A` never overlap). Locks are circles with their `L` tag, their
//! label beside them on the outside of the ring; each edge carries its first
//! thread's name. The closing edge is thicker; an edge against the order is
//! orange and dashed. The picture is sized to what it holds: every text's
//! extent is estimated from its length (monospace) and the view box is the
//! bounding box of everything drawn.

use std::f64::consts::PI;
use std::fmt::Write as _;

use super::escape;
use crate::report::{Finding, LockId, Rule};

/// At most this many locks are drawn; a longer cycle shows its first ones
/// and a node saying how many more there are.
const MAX_DRAWN: usize = 24;
/// Node circle radius.
const R_NODE: f64 = 22.0;
/// Width of one character of the 12px monospace font, for extents.
const CHAR_W: f64 = 7.3;
/// Lock labels longer than this are cut (the report beside has them whole).
const MAX_LABEL: usize = 44;

/// The SVG's bounding box, grown by everything drawn.
struct Bounds {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Bounds {
    fn add(&mut self, x: f64, y: f64) {
        self.x0 = self.x0.min(x);
        self.y0 = self.y0.min(y);
        self.x1 = self.x1.max(x);
        self.y1 = self.y1.max(y);
    }

    /// A text of `chars` characters at (x, y) with this anchor.
    fn text(&mut self, x: f64, y: f64, chars: usize, anchor: &str) {
        let w = chars as f64 * CHAR_W;
        let (left, right) = match anchor {
            "start" => (x, x + w),
            "end" => (x - w, x),
            _ => (x - w / 2.0, x + w / 2.0),
        };
        self.add(left, y - 12.0);
        self.add(right, y + 4.0);
    }
}

fn cut(s: &str, max: usize) -> String {
    escape::cut(s, max).into_owned()
}

/// A node of the drawing: the `L` tag and the label.
struct Node {
    tag: String,
    label: String,
    x: f64,
    y: f64,
}

/// Draws `f` as an `<svg>` element; `id` makes its marker ids unique in
/// the page.
pub(crate) fn svg(f: &Finding, id: usize) -> String {
    let total = usize::try_from(f.lock_count()).unwrap_or(usize::MAX);
    let (drawn, more) = if total > MAX_DRAWN {
        (MAX_DRAWN - 1, total - (MAX_DRAWN - 1))
    } else {
        (total, 0)
    };
    let slots = drawn + usize::from(more > 0);
    let radius = (slots as f64 * 70.0 / (2.0 * PI)).max(if slots <= 2 { 90.0 } else { 110.0 });
    let mut nodes: Vec<Node> = Vec::with_capacity(slots);
    for i in 0..slots {
        let angle = -PI / 2.0 + 2.0 * PI * i as f64 / slots as f64;
        let (x, y) = (radius * angle.cos(), radius * angle.sin());
        let (tag, label) = if i < drawn {
            let label = f.lock_at(i as u64).map_or_else(String::new, |l| l.label());
            (
                LockId::of_index(i).to_string(),
                cut(&escape::t(&label), MAX_LABEL),
            )
        } else {
            (
                "…".to_string(),
                format!("{more} more locks (see the report)"),
            )
        };
        nodes.push(Node { tag, label, x, y });
    }
    let mut b = Bounds {
        x0: -R_NODE,
        y0: -R_NODE,
        x1: R_NODE,
        y1: R_NODE,
    };
    let mut body = String::new();
    let violation = f.rule == Rule::OrderViolation;
    let several_processes = f.processes() > 1;
    // Edges first, so that nodes are drawn over their ends: those between
    // drawn locks, and the one back to L1 (a run of edges is looked up at
    // each place, never walked).
    let places = (0..drawn.min(total)).chain((more > 0).then(|| total - 1));
    for i in places {
        let Some(at) = f.edge_at(i as u64) else {
            continue;
        };
        let e = at.run;
        // Past the drawn locks, the cycle goes through the "more" node.
        let (a, c) = if more == 0 {
            (i, (i + 1) % slots)
        } else if i + 1 < drawn {
            (i, i + 1)
        } else if i + 1 == drawn {
            (i, drawn)
        } else if i + 1 == total {
            (drawn, 0)
        } else {
            continue;
        };
        if a == c {
            continue;
        }
        let (p, q) = ((nodes[a].x, nodes[a].y), (nodes[c].x, nodes[c].y));
        let (mx, my) = ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0);
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        // Bulge: outwards from the ring's centre; for two locks, to the
        // left of the direction of travel (each direction its own side).
        let (nx, ny) = if slots <= 2 {
            (dy / len, -dx / len)
        } else {
            let m = (mx * mx + my * my).sqrt().max(1.0);
            (mx / m, my / m)
        };
        let bulge = if slots <= 2 { 46.0 } else { len * 0.18 + 10.0 };
        let (cx, cy) = (mx + nx * bulge, my + ny * bulge);
        let start = towards(p, (cx, cy), R_NODE);
        let end = towards(q, (cx, cy), R_NODE + 3.0);
        let (class, marker) = if violation {
            ("edge violation", "v")
        } else if e.closes_cycle {
            ("edge closing", "c")
        } else {
            ("edge", "e")
        };
        let _ = writeln!(
            body,
            r#"<path class="{class}" d="M{:.1},{:.1} Q{cx:.1},{cy:.1} {:.1},{:.1}" marker-end="url(#m{marker}{id})"><title>{} -&gt; {}</title></path>"#,
            start.0, start.1, end.0, end.1, at.from, at.to
        );
        b.add(cx, cy);
        // The label at the arc's middle, just outside it.
        // Text hangs 12px above its baseline: below an arc it needs more room.
        let (lx, ly) = (
            0.25 * p.0 + 0.5 * cx + 0.25 * q.0 + nx * 12.0,
            0.25 * p.1 + 0.5 * cy + 0.25 * q.1 + ny * 12.0 + 4.0 + ny.max(0.0) * 10.0,
        );
        let thread = match e.origins.first() {
            Some(o) if several_processes => format!("{} (pid {})", super::actor(&o.thread), o.pid),
            Some(o) => super::actor(&o.thread),
            None => "?".to_string(),
        };
        let mut label = cut(&escape::t(&thread), 44);
        if e.closes_cycle {
            label.push_str(" (closes)");
        }
        let anchor = if nx > 0.35 {
            "start"
        } else if nx < -0.35 {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            body,
            r#"<text class="edge-label" x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}">{}</text>"#,
            escape::html(&label)
        );
        b.text(lx, ly, label.chars().count(), anchor);
    }
    for n in &nodes {
        let _ = writeln!(
            body,
            r#"<g class="lock"><circle cx="{:.1}" cy="{:.1}" r="{R_NODE}"/><text class="tag" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            n.x,
            n.y,
            n.x,
            n.y + 5.0,
            escape::html(&n.tag)
        );
        // The label outside the ring, on the node's side.
        let m = (n.x * n.x + n.y * n.y).sqrt().max(1.0);
        let (ux, uy) = (n.x / m, n.y / m);
        let (lx, ly) = (n.x + ux * (R_NODE + 8.0), n.y + uy * (R_NODE + 8.0) + 4.0);
        let anchor = if ux > 0.3 {
            "start"
        } else if ux < -0.3 {
            "end"
        } else {
            "middle"
        };
        let ly = if anchor == "middle" {
            if uy < 0.0 {
                n.y - R_NODE - 10.0
            } else {
                n.y + R_NODE + 18.0
            }
        } else {
            ly
        };
        let _ = writeln!(
            body,
            r#"<text class="name" x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}">{}</text></g>"#,
            escape::html(&n.label)
        );
        b.add(n.x - R_NODE, n.y - R_NODE);
        b.add(n.x + R_NODE, n.y + R_NODE);
        b.text(lx, ly, n.label.chars().count(), anchor);
    }
    let pad = 16.0;
    let (x0, y0) = (b.x0 - pad, b.y0 - pad);
    let (w, h) = (b.x1 - b.x0 + 2.0 * pad, b.y1 - b.y0 + 2.0 * pad);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="{x0:.1} {y0:.1} {w:.1} {h:.1}" width="{w:.0}" height="{h:.0}" role="img" aria-label="{}">"#,
        escape::html(&f.message)
    );
    let _ = writeln!(out, "<defs>");
    for (m, class) in [
        ("e", "arrow"),
        ("c", "arrow closing"),
        ("v", "arrow violation"),
    ] {
        let _ = writeln!(
            out,
            r#"<marker id="m{m}{id}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="13" markerHeight="13" orient="auto"><path class="{class}" d="M0,0 L10,5 L0,10 z"/></marker>"#
        );
    }
    let _ = writeln!(out, "</defs>");
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// The point at distance `d` from `p` towards `q`.
fn towards(p: (f64, f64), q: (f64, f64), d: f64) -> (f64, f64) {
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-9);
    (p.0 + dx / len * d, p.1 + dy / len * d)
}
