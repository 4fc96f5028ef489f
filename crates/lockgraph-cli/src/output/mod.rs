//! Rendering a [`Report`]: text for terminals, JSON, SARIF 2.1.0 for code
//! scanning, Graphviz DOT, and a self-contained HTML page.

mod dot;
pub(crate) mod escape;
mod html;
mod layout;
mod sarif;
mod text;
mod uri;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::report::Report;

/// How an edge's actor is named, as the runtime's reports name it: an
/// async task's label (`task 7 "name" (spawned at ...)`, recorded by
/// `lockgraph::tokio`) as it is, a thread as thread `name`.
pub(crate) fn actor(label: &str) -> String {
    if is_task(label) {
        label.to_string()
    } else {
        format!("thread `{label}`")
    }
}

/// Whether an actor's label is a task's (`task 7 ...`).
pub(crate) fn is_task(label: &str) -> bool {
    label
        .strip_prefix("task ")
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// An output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Readable in a terminal, like the runtime's reports.
    #[default]
    Text,
    /// The [`Report`] structure as JSON.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// A Graphviz digraph of the offending edges only.
    Dot,
    /// One self-contained HTML page: each finding drawn as an SVG graph
    /// beside its report (no scripts, nothing fetched).
    Html,
}

impl Format {
    /// Every format, with its name.
    pub const ALL: [(Format, &'static str); 5] = [
        (Format::Text, "text"),
        (Format::Json, "json"),
        (Format::Sarif, "sarif"),
        (Format::Dot, "dot"),
        (Format::Html, "html"),
    ];

    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        Format::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("text", |(_, n)| n)
    }

    /// Writes `report` to `w` in this format. SARIF paths are made relative to
    /// the repository that holds the current directory (`sarif::SourceRoot`).
    pub fn write(self, report: &Report, w: &mut dyn Write) -> io::Result<()> {
        match self {
            Format::Text => text::write(report, w),
            Format::Json => {
                serde_json::to_writer_pretty(&mut *w, report).map_err(io::Error::from)?;
                writeln!(w)
            }
            Format::Sarif => {
                let root = std::env::current_dir()
                    .ok()
                    .map(|cwd| sarif::SourceRoot::of(&cwd));
                let v = sarif::to_value(report, root.as_ref());
                serde_json::to_writer_pretty(&mut *w, &v).map_err(io::Error::from)?;
                writeln!(w)
            }
            Format::Dot => dot::write(report, w),
            Format::Html => html::write(report, w),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(f, _)| *f)
            .ok_or_else(|| {
                format!("unknown format `{s}` (expected text, json, sarif, dot or html)")
            })
    }
}

/// A `file:line:column` site split into its parts; `None` when it does not
/// end in two numbers.
pub(crate) fn split_site(site: &str) -> Option<(&str, u64, u64)> {
    let mut parts = site.rsplitn(3, ':');
    let col = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    if file.is_empty() {
        return None;
    }
    Some((file, line, col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_split_from_the_right() {
        assert_eq!(split_site("src/a.rs:3:4"), Some(("src/a.rs", 3, 4)));
        assert_eq!(split_site("C:\\x\\a.rs:3:4"), Some(("C:\\x\\a.rs", 3, 4)));
        assert_eq!(split_site("src/a.rs:3"), None);
        assert_eq!(split_site(":3:4"), None);
    }

    #[test]
    fn formats_parse_by_name() {
        for (f, n) in Format::ALL {
            assert_eq!(n.parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), n);
        }
        assert!("svg".parse::<Format>().is_err());
    }
}
