//! Merging the edges of many record files into one class-level graph.
//!
//! Edges are merged by `(from.class, to.class)`, the class ids taken in
//! their machine-independent form (`lockgraph_core::site_key`: a
//! dependency's site without the path of `CARGO_HOME`, as the runtime
//! writes it now and older records did not): their dependency kinds
//! accumulate and their gate sets intersect (a gate is a `"<pid>:<id>"` string,
//! so gates only survive within one process). Every edge keeps up to
//! [`ORIGIN_CAP`] distinct origins (thread, process, sites, stack) and counts
//! all of its recordings. The cycles processes found at run time (`cycle`
//! lines) are merged apart from the graph, one per sequence of classes
//! (`runtime`).
//!
//! Files are read on several threads, each merging a contiguous run of the
//! sorted file list; the partial results are combined in file order, so the
//! outcome does not depend on the number of threads.
//!
//! This module has the merged graph's types and [`merge_files`];
//! [`Merger`] (`merger`) reads and combines, over the interned strings and
//! stacks of `intern`.

mod intern;
mod kinds;
mod merger;
mod rotation;
mod runtime;
#[cfg(test)]
mod tests;

pub use merger::Merger;
pub use runtime::RuntimeCycle;

use std::path::PathBuf;
use std::sync::Arc;

use lockgraph_graph::EdgeKinds;

use crate::error::RecordError;
use crate::reader::{Header, HoldMode, RequestMode, Warning};

/// At most this many distinct origins are kept per edge.
pub const ORIGIN_CAP: usize = 8;

/// An index into [`Merged::strings`].
pub type StrId = u32;

/// "No string" (a site that was not recorded).
pub const NO_STR: StrId = u32::MAX;

/// A name and a site as recorded, when the class id does not give them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Described {
    name: Option<Arc<str>>,
    site: Option<Arc<str>>,
}

/// Where a class's name and site come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Label {
    /// Named: the name is the class id after `name:`; no site.
    Name,
    /// A site class: the site is the class id after `site:`; no name.
    Site,
    /// Neither, or not as the class id says.
    Other(Option<Box<Described>>),
}

/// A lock class seen in the records (the first description seen wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassInfo {
    /// The class identity: `name:...`, `site:...` or `anon:...`.
    pub class: Arc<str>,
    /// The lock kind (`Mutex`, `RwLock`, ...).
    pub kind: Arc<str>,
    label: Label,
}

impl ClassInfo {
    /// A class as an edge line describes it.
    pub fn new(
        class: Arc<str>,
        kind: Arc<str>,
        name: Option<&str>,
        site: Option<&str>,
    ) -> ClassInfo {
        let label = match (name, site) {
            (Some(n), None) if class.strip_prefix("name:") == Some(n) => Label::Name,
            (None, Some(s)) if class.strip_prefix("site:") == Some(s) => Label::Site,
            (None, None) => Label::Other(None),
            (n, s) => Label::Other(Some(Box::new(Described {
                name: n.map(Arc::from),
                site: s.map(Arc::from),
            }))),
        };
        ClassInfo { class, kind, label }
    }

    /// The name, for named classes.
    pub fn name(&self) -> Option<&str> {
        match &self.label {
            Label::Name => self.class.strip_prefix("name:"),
            Label::Site => None,
            Label::Other(o) => o.as_ref().and_then(|o| o.name.as_deref()),
        }
    }

    /// The creation site, for site classes.
    pub fn site(&self) -> Option<&str> {
        match &self.label {
            Label::Site => self.class.strip_prefix("site:"),
            Label::Name => None,
            Label::Other(o) => o.as_ref().and_then(|o| o.site.as_deref()),
        }
    }

    /// For a class whose id names a dependency's site in the portable form
    /// (`lockgraph_core::site_key`), the id as it was written before, with
    /// the site's full path (as the record's `site` field keeps it): what
    /// an `--order` glob written for such ids matched.
    pub fn full_site_id(&self) -> Option<String> {
        let site = self.site()?;
        let portable = lockgraph_core::site_key::site(site);
        if portable == site {
            return None;
        }
        let rest = self.class.strip_prefix("site:")?.strip_prefix(&*portable)?;
        Some(format!("site:{site}{rest}"))
    }

    /// For a class made with `new` (`site:<file:line:col>:<type>`), its id
    /// without the type, `site:<file:line:col>` (the site in the portable
    /// form of class ids): how a user writes the class of a lock from the
    /// line that makes it, as `--order` entries may.
    pub fn site_id(&self) -> Option<String> {
        let site = lockgraph_core::site_key::site(self.site()?);
        let rest = self.class.strip_prefix("site:")?.strip_prefix(&*site)?;
        (rest.is_empty() || rest.starts_with(':')).then(|| format!("site:{site}"))
    }

    /// The identity used in baselines and fingerprints: the class id, except
    /// that anonymous classes (`anon:<pid>:<id>`, never equal across
    /// processes) all read `anon`.
    pub fn stable_key(&self) -> &str {
        if self.class.starts_with("anon:") {
            "anon"
        } else {
            &self.class
        }
    }
}

/// One recording of an edge: who took the locks, where, in which process.
/// Strings are ids into [`Merged::strings`], the stack an id into
/// [`Merged::stacks`]: a million edges share a few thousand of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The thread's name (under `cargo test`, the test's name) or id.
    pub thread: StrId,
    /// The executable's path.
    pub exe: StrId,
    /// Where the first lock was taken, or [`NO_STR`].
    pub held_at: StrId,
    /// Where the second lock was requested, or [`NO_STR`].
    pub requested_at: StrId,
    /// Program frames, innermost first.
    pub backtrace: u32,
    /// Index into [`Merged::files`] of the file this came from.
    pub file: u32,
    /// The line in that file.
    pub line: u32,
    /// The process id.
    pub pid: u64,
    /// How the first lock was held.
    pub hold: HoldMode,
    /// How the second lock was requested.
    pub request: RequestMode,
}

impl Origin {
    /// Whether two recordings are the same origin (their lines aside):
    /// same process (pid and file: a pid can be reused), thread, modes and
    /// sites.
    fn same(&self, o: &Origin) -> bool {
        self.pid == o.pid
            && self.file == o.file
            && self.hold == o.hold
            && self.request == o.request
            && self.thread == o.thread
            && self.held_at == o.held_at
            && self.requested_at == o.requested_at
    }

    /// This origin with its ids passed through the maps of an absorbed merger.
    fn remapped(mut self, strings: &[StrId], stacks: &[u32], file_base: u32) -> Origin {
        let s = |id: StrId| {
            if id == NO_STR {
                NO_STR
            } else {
                strings[id as usize]
            }
        };
        self.thread = s(self.thread);
        self.exe = s(self.exe);
        self.held_at = s(self.held_at);
        self.requested_at = s(self.requested_at);
        self.backtrace = stacks[self.backtrace as usize];
        self.file += file_base;
        self
    }
}

/// One class-level edge "holding `from`, requested `to`", merged over all files.
#[derive(Clone, Debug)]
pub struct MergedEdge {
    /// Index into [`Merged::classes`] of the held lock's class.
    pub from: usize,
    /// Index into [`Merged::classes`] of the requested lock's class.
    pub to: usize,
    /// Every dependency kind it was recorded with.
    pub kinds: EdgeKinds,
    /// The gates (gate indices) held at every recording, sorted.
    pub gates: Vec<u64>,
    /// The first distinct origin (every edge has one).
    first: Origin,
    /// Up to [`ORIGIN_CAP`] - 1 more.
    more: Vec<Origin>,
    /// How many edge lines were merged into it.
    pub recordings: u64,
}

impl MergedEdge {
    /// Up to [`ORIGIN_CAP`] distinct origins.
    pub fn origins(&self) -> impl Iterator<Item = &Origin> {
        std::iter::once(&self.first).chain(&self.more)
    }

    /// How many distinct origins are kept.
    pub fn origin_count(&self) -> usize {
        1 + self.more.len()
    }

    fn add_origin(&mut self, o: Origin) {
        if self.origin_count() < ORIGIN_CAP && !self.origins().any(|m| m.same(&o)) {
            self.more.push(o);
        }
    }
}

/// One record file that was read.
#[derive(Clone, Debug)]
pub struct RecordFile {
    /// Its path, as shown in reports.
    pub shown: Arc<str>,
    /// Its header.
    pub header: Header,
    /// The header's arguments, shared by every origin from this file.
    pub args: Arc<[String]>,
    /// Its edge lines.
    pub edges: u64,
    /// Its lines of unknown types.
    pub ignored: u64,
}

/// The merged graph of every record file.
#[derive(Clone, Debug, Default)]
pub struct Merged {
    /// The files, in the order they were merged.
    pub files: Vec<RecordFile>,
    /// The lock classes, sorted by class id.
    pub classes: Vec<ClassInfo>,
    /// The edges, sorted by (from, to).
    pub edges: Vec<MergedEdge>,
    /// The strings origins refer to.
    pub strings: Vec<Arc<str>>,
    /// The stacks origins refer to (lists of frame strings).
    pub stacks: Vec<Arc<[Arc<str>]>>,
    /// Lines that were skipped with a warning.
    pub warnings: Vec<Warning>,
    /// Edge lines merged in all.
    pub recordings: u64,
    /// The cycles processes found at run time that their edge lines cannot
    /// show (`cycle` lines), one per sequence of class runs, sorted by it.
    pub runtime: Vec<RuntimeCycle>,
}

impl Merged {
    /// The number of distinct process ids among the files.
    pub fn processes(&self) -> usize {
        // A file is one process; two with the same pid, reused or from two
        // machines, are two (told apart by their headers).
        let mut ids: Vec<(u64, u64, &str)> = self
            .files
            .iter()
            .map(|f| {
                (
                    f.header.pid,
                    f.header.started_unix_ms,
                    f.header.exe.as_str(),
                )
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// The string `id`, or `None` for [`NO_STR`].
    pub fn str(&self, id: StrId) -> Option<&Arc<str>> {
        self.strings.get(id as usize)
    }

    /// The edge `from -> to`, by class indices.
    #[cfg(test)]
    pub fn edge(&self, from: usize, to: usize) -> Option<&MergedEdge> {
        self.edges
            .binary_search_by(|e| (e.from, e.to).cmp(&(from, to)))
            .ok()
            .map(|i| &self.edges[i])
    }
}

/// A merged graph over `n` classes `name:0000000`, `name:0000001`, ... with
/// the given edges (exclusive, no gates, one empty origin each): for the
/// algorithms' tests.
#[cfg(test)]
pub(crate) fn synthetic(n: usize, edges: &[(usize, usize)]) -> Merged {
    let kind: Arc<str> = Arc::from("Mutex");
    let classes = (0..n)
        .map(|i| {
            let name = format!("{i:07}");
            ClassInfo::new(
                Arc::from(format!("name:{name}")),
                Arc::clone(&kind),
                Some(&name),
                None,
            )
        })
        .collect();
    let origin = Origin {
        thread: 0,
        exe: 0,
        held_at: NO_STR,
        requested_at: NO_STR,
        backtrace: 0,
        file: 0,
        line: 1,
        pid: 1,
        hold: HoldMode::Exclusive,
        request: RequestMode::Exclusive,
    };
    let mut edges: Vec<MergedEdge> = edges
        .iter()
        .map(|&(from, to)| MergedEdge {
            from,
            to,
            kinds: EdgeKinds::EN,
            gates: Vec::new(),
            first: origin,
            more: Vec::new(),
            recordings: 1,
        })
        .collect();
    edges.sort_by_key(|e| (e.from, e.to));
    Merged {
        classes,
        edges,
        strings: vec![Arc::from("main")],
        stacks: vec![Arc::from(Vec::new())],
        ..Merged::default()
    }
}

/// Reads and merges `files` on up to `threads` threads.
///
/// The first error in file order is returned.
pub fn merge_files(files: &[PathBuf], threads: usize) -> Result<Merged, RecordError> {
    let threads = threads.clamp(1, files.len().max(1));
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()).max(1))
        .collect();
    let total: u64 = sizes.iter().sum();
    // (The maps are not sized from the files' lengths: a table sized for a
    // million edges but holding twenty thousand spreads them over far more
    // cache lines, which cost more than the rehashing it saves.)
    if threads == 1 {
        let mut m = Merger::default();
        for f in files {
            m.add_file(f)?;
        }
        return Ok(resolved(m.finish()));
    }
    // Contiguous runs of about equal size, so that combining them in order
    // gives what one thread would have.
    let mut bounds = vec![0usize];
    let mut acc = 0u64;
    for (i, s) in sizes.iter().enumerate() {
        acc += s;
        let k = bounds.len() as u64;
        if acc * threads as u64 >= total * k && bounds.len() < threads && i + 1 < files.len() {
            bounds.push(i + 1);
        }
    }
    bounds.push(files.len());
    let results: Vec<Result<Merger, RecordError>> = std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let chunk = &files[w[0]..w[1]];
                s.spawn(move || {
                    let mut m = Merger::default();
                    for f in chunk {
                        m.add_file(f)?;
                    }
                    Ok(m)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut merged: Option<Merger> = None;
    for r in results {
        let m = r?;
        match &mut merged {
            None => merged = Some(m),
            Some(all) => all.absorb(m),
        }
    }
    Ok(resolved(merged.unwrap_or_default().finish()))
}

/// `m` with its raw stacks resolved (`crate::symbols`), once for all the
/// files merged: each file a process ran is read once.
fn resolved(mut m: Merged) -> Merged {
    crate::symbols::resolve(&mut m.stacks, &mut m.warnings);
    m
}
