//! One self-contained HTML page: the summary, then each finding drawn as an
//! SVG graph (laid out by [`super::layout`]) beside its text report. No
//! script, no style sheet or font fetched: the page is the artifact a CI job
//! uploads, readable offline in any browser.

use std::io::{self, Write};

use super::escape::{entities, html};
use super::{layout, text};
use crate::report::{Report, Rule};

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 0 0 .6em; }
.summary { font-family: ui-monospace, monospace; background: #fff; border: 1px solid #ddd; padding: .6em .8em; }
.failed { border-left: 6px solid #c62828; }
.passed { border-left: 6px solid #2e7d32; }
.warnings li { font-family: ui-monospace, monospace; font-size: .9em; color: #8a5300; }
section.finding { background: #fff; border: 1px solid #ddd; margin: 1.2em 0; padding: 1em; }
.row { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.picture { flex: 0 0 auto; max-width: 100%; }
.picture svg { max-width: 100%; height: auto; }
.legend { font-size: .8em; color: #555; max-width: 36em; }
pre.report { flex: 1 1 32em; min-width: 0; margin: 0; font-size: .85em; line-height: 1.35;
  white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f5f5; padding: .8em; }
svg .lock circle { fill: #fff; stroke: #37474f; stroke-width: 2; }
svg text { font-family: ui-monospace, monospace; font-size: 12px; fill: #1b1b1b; }
svg text.tag { font-weight: bold; font-size: 13px; }
svg text.edge-label { fill: #7f1d1d; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
svg path.edge { fill: none; stroke: #c62828; stroke-width: 2; }
svg path.edge.closing { stroke-width: 4.5; }
svg path.edge.violation { stroke: #ef6c00; stroke-dasharray: 7 4; }
svg path.arrow { fill: #c62828; }
svg path.arrow.violation { fill: #ef6c00; }
footer { font-size: .8em; color: #777; margin-top: 2em; }
";

/// Writes the page.
pub(crate) fn write(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    let title = if report.failed() {
        format!(
            "lockgraph: {} cycle(s), {} order violation(s)",
            report.summary.cycles, report.summary.violations
        )
    } else {
        "lockgraph: no lock-order cycles or order violations".to_string()
    };
    writeln!(w, "<!DOCTYPE html>")?;
    writeln!(w, "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")?;
    writeln!(
        w,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(w, "<title>{}</title>", html(&title))?;
    writeln!(w, "<style>{STYLE}</style>\n</head>\n<body>")?;
    writeln!(w, "<h1>lockgraph check</h1>")?;
    writeln!(
        w,
        "<p class=\"summary {}\" id=\"summary\">{}</p>",
        if report.failed() { "failed" } else { "passed" },
        html(&report.summary_line())
    )?;
    if !report.warnings.is_empty() {
        writeln!(w, "<h2>Warnings</h2>\n<ul class=\"warnings\">")?;
        for warning in &report.warnings {
            writeln!(w, "<li>{}</li>", html(warning))?;
        }
        writeln!(w, "</ul>")?;
    }
    if report.findings.is_empty() {
        writeln!(
            w,
            "<p class=\"clean\">No lock-order cycle that can deadlock and no order violation was found.</p>"
        )?;
    }
    for (i, f) in report.findings.iter().enumerate() {
        writeln!(
            w,
            "<section class=\"finding {}\" id=\"finding-{}\">",
            f.rule.id(),
            i + 1
        )?;
        writeln!(w, "<h2>{}. {}</h2>", i + 1, html(&f.message))?;
        writeln!(w, "<div class=\"row\">\n<div class=\"picture\">")?;
        w.write_all(layout::svg(f, i + 1).as_bytes())?;
        let legend = match f.rule {
            Rule::Cycle => {
                "An arrow from A to B: a thread holding A requested B, labelled with the \
                 first thread that did. The thick arrow is the edge reported as closing the \
                 cycle, back to L1; the locks are listed beside, with every recording."
            }
            Rule::OrderViolation => {
                "The dashed arrow: a thread holding L1 requested L2, which the order file \
                 puts first."
            }
        };
        writeln!(w, "<p class=\"legend\">{legend}</p>\n</div>")?;
        let mut report_text = Vec::new();
        text::write_finding(&mut report_text, f)?;
        writeln!(
            w,
            "<pre class=\"report\">{}</pre>",
            entities(String::from_utf8_lossy(&report_text).trim_end())
        )?;
        writeln!(w, "</div>\n</section>")?;
    }
    if let Some(b) = &report.baseline {
        if !b.stale.is_empty() {
            writeln!(
                w,
                "<h2>Baseline entries no longer found (remove them from {})</h2>\n<ul>",
                html(&b.file)
            )?;
            for key in &b.stale {
                writeln!(w, "<li><code>{}</code></li>", html(key))?;
            }
            writeln!(w, "</ul>")?;
        }
    }
    writeln!(
        w,
        "<footer>lockgraph {} &middot; the JSON report (<code>--format json</code>) has the same findings in full</footer>",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(w, "</body>\n</html>")
}
