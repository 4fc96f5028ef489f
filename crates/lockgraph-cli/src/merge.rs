//! Merging the edges of many record files into one class-level graph.
//!
//! Edges are merged by `(from.class, to.class)`: their dependency kinds
//! accumulate and their gate sets intersect (a gate is a `"<pid>:<id>"` string,
//! so gates only survive within one process). Every edge keeps up to
//! [`ORIGIN_CAP`] distinct origins (thread, process, sites, stack) and counts
//! all of its recordings.
//!
//! Files are read on several threads, each merging a contiguous run of the
//! sorted file list; the partial results are combined in file order, so the
//! outcome does not depend on the number of threads.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lockgraph_graph::EdgeKinds;

use crate::error::RecordError;
use crate::reader::{self as record, EdgeLine, Header, HoldMode, RequestMode, Warning};

/// At most this many distinct origins are kept per edge.
pub const ORIGIN_CAP: usize = 8;

/// A lock class seen in the records (the first description seen wins).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassInfo {
    /// The class identity: `name:...`, `site:...` or `anon:...`.
    pub class: String,
    /// The name, for named classes.
    pub name: Option<String>,
    /// The lock kind (`Mutex`, `RwLock`, ...).
    pub kind: String,
    /// The creation site, for site classes.
    pub site: Option<String>,
}

impl ClassInfo {
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
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Origin {
    /// The thread's name (under `cargo test`, the test's name) or id.
    pub thread: Arc<str>,
    /// The process id.
    pub pid: u64,
    /// The executable's path.
    pub exe: Arc<str>,
    /// How the first lock was held.
    pub hold: HoldMode,
    /// How the second lock was requested.
    pub request: RequestMode,
    /// Where the first lock was taken.
    pub held_at: Option<Arc<str>>,
    /// Where the second lock was requested.
    pub requested_at: Option<Arc<str>>,
    /// Program frames, innermost first.
    pub backtrace: Arc<[Arc<str>]>,
    /// Index into [`Merged::files`] of the file this came from.
    pub file: usize,
    /// The line in that file.
    pub line: u64,
}

impl Origin {
    fn same_as(&self, e: &EdgeLine<'_>) -> bool {
        self.pid == e.pid
            && self.hold == e.hold
            && self.request == e.request
            && *self.thread == *e.thread
            && self.held_at.as_deref() == e.held_at.as_deref()
            && self.requested_at.as_deref() == e.requested_at.as_deref()
    }

    fn same_origin(&self, o: &Origin) -> bool {
        self.pid == o.pid
            && self.hold == o.hold
            && self.request == o.request
            && self.thread == o.thread
            && self.held_at == o.held_at
            && self.requested_at == o.requested_at
    }
}

/// One class-level edge "holding `from`, requested `to`", merged over all files.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MergedEdge {
    /// Index into [`Merged::classes`] of the held lock's class.
    pub from: usize,
    /// Index into [`Merged::classes`] of the requested lock's class.
    pub to: usize,
    /// Every dependency kind it was recorded with.
    pub kinds: EdgeKinds,
    /// The gates (indices into [`Merged::gates`]) held at every recording, sorted.
    pub gates: Vec<u64>,
    /// Up to [`ORIGIN_CAP`] distinct origins.
    pub origins: Vec<Origin>,
    /// How many edge lines were merged into it.
    pub recordings: u64,
}

/// One record file that was read.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordFile {
    /// Its path.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Its edge lines.
    pub edges: u64,
    /// Its lines of unknown types.
    pub ignored: u64,
}

/// The merged graph of every record file.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Merged {
    /// The files, in the order they were merged.
    pub files: Vec<RecordFile>,
    /// The lock classes, sorted by class id.
    pub classes: Vec<ClassInfo>,
    /// The edges, sorted by (from, to).
    pub edges: Vec<MergedEdge>,
    /// Lines that were skipped with a warning.
    pub warnings: Vec<Warning>,
    /// Edge lines merged in all.
    pub recordings: u64,
}

impl Merged {
    /// The number of distinct process ids among the files.
    pub fn processes(&self) -> usize {
        let mut pids: Vec<u64> = self.files.iter().map(|f| f.header.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        pids.len()
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
/// the given edges (exclusive, no gates, no origins): for the algorithms'
/// tests.
#[cfg(test)]
pub(crate) fn synthetic(n: usize, edges: &[(usize, usize)]) -> Merged {
    let classes = (0..n)
        .map(|i| ClassInfo {
            class: format!("name:{i:07}"),
            name: Some(format!("{i:07}")),
            kind: "Mutex".into(),
            site: None,
        })
        .collect();
    let mut edges: Vec<MergedEdge> = edges
        .iter()
        .map(|&(from, to)| MergedEdge {
            from,
            to,
            kinds: EdgeKinds::EN,
            gates: Vec::new(),
            origins: Vec::new(),
            recordings: 1,
        })
        .collect();
    edges.sort_by_key(|e| (e.from, e.to));
    Merged {
        classes,
        edges,
        ..Merged::default()
    }
}

/// Accumulates record files; [`Merger::finish`] gives the sorted [`Merged`].
///
/// After an error from [`Merger::add_file`] or [`Merger::add_reader`] the
/// merger holds part of that file; callers drop it.
#[derive(Default)]
pub struct Merger {
    files: Vec<RecordFile>,
    class_ids: FastMap<String, usize>,
    classes: Vec<ClassInfo>,
    gate_ids: FastMap<String, u64>,
    gates: Vec<String>,
    edge_ids: FastMap<(usize, usize), usize>,
    edges: Vec<MergedEdge>,
    warnings: Vec<Warning>,
    recordings: u64,
    gate_buf: Vec<u64>,
    read_buf: Vec<u8>,
    strings: Strings,
}

/// Shares the strings of kept origins: threads, executables, sites and
/// frames repeat across edges and processes.
#[derive(Default)]
struct Strings(HashSet<Arc<str>, BuildHasherDefault<FastHasher>>);

/// A multiply-rotate hasher over 8-byte words: the std hasher's resistance to
/// crafted collisions is not worth its cost on one's own record files.
#[derive(Default)]
struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

impl Strings {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(Arc::clone(&a));
        a
    }
}

impl Merger {
    /// An empty merger.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// Reads and merges one record file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), RecordError> {
        let file = self.start_file(path);
        let mut buf = std::mem::take(&mut self.read_buf);
        let summary =
            record::parse_file_with(path, &mut buf, |line, e| self.add_edge(file, line, e));
        self.read_buf = buf;
        let summary = summary?;
        self.end_file(file, summary);
        Ok(())
    }

    /// Merges one record file read from `reader`; `path` names it in messages.
    #[cfg(test)]
    pub fn add_reader(
        &mut self,
        path: &Path,
        reader: impl std::io::BufRead,
    ) -> Result<(), RecordError> {
        let file = self.start_file(path);
        let summary = record::parse_reader(path, reader, |line, e| self.add_edge(file, line, e))?;
        self.end_file(file, summary);
        Ok(())
    }

    fn start_file(&mut self, path: &Path) -> usize {
        self.files.push(RecordFile {
            path: path.to_path_buf(),
            header: Header::default(),
            edges: 0,
            ignored: 0,
        });
        self.files.len() - 1
    }

    fn end_file(&mut self, file: usize, summary: record::FileSummary) {
        self.warnings.extend(summary.warning);
        match summary.header {
            Some(header) => {
                let f = &mut self.files[file];
                f.header = header;
                f.edges = summary.edges;
                f.ignored = summary.ignored;
            }
            // Skipped (empty): it has no edges, so no origin refers to it.
            None => {
                self.files.pop();
            }
        }
    }

    fn class_id(&mut self, c: &record::ClassRef<'_>) -> usize {
        if let Some(&id) = self.class_ids.get(&*c.class) {
            return id;
        }
        let id = self.classes.len();
        self.classes.push(ClassInfo {
            class: c.class.to_string(),
            name: c.name.as_ref().map(|s| s.to_string()),
            kind: c.kind.to_string(),
            site: c.site.as_ref().map(|s| s.to_string()),
        });
        self.class_ids.insert(c.class.to_string(), id);
        id
    }

    fn gate_id(&mut self, g: &str) -> u64 {
        if let Some(&id) = self.gate_ids.get(g) {
            return id;
        }
        let id = self.gates.len() as u64;
        self.gates.push(g.to_string());
        self.gate_ids.insert(g.to_string(), id);
        id
    }

    fn add_edge(&mut self, file: usize, line: u64, e: EdgeLine<'_>) {
        let from = self.class_id(&e.from);
        let to = self.class_id(&e.to);
        if from == to {
            // Same-class edges are about instances: not part of the class graph.
            return;
        }
        self.recordings += 1;
        let mut gates = std::mem::take(&mut self.gate_buf);
        gates.clear();
        for g in &e.gates {
            let id = self.gate_id(g);
            gates.push(id);
        }
        gates.sort_unstable();
        gates.dedup();
        let kind = EdgeKinds::of(e.hold.to_graph(), e.request.to_graph());
        let next = self.edges.len();
        let idx = *self.edge_ids.entry((from, to)).or_insert(next);
        if idx == next {
            self.edges.push(MergedEdge {
                from,
                to,
                kinds: kind,
                gates: gates.clone(),
                origins: Vec::new(),
                recordings: 0,
            });
        }
        let edge = &mut self.edges[idx];
        edge.kinds = edge.kinds.union(kind);
        if idx != next {
            edge.gates.retain(|g| gates.binary_search(g).is_ok());
        }
        edge.recordings += 1;
        if edge.origins.len() < ORIGIN_CAP && !edge.origins.iter().any(|o| o.same_as(&e)) {
            let strings = &mut self.strings;
            let origin = Origin {
                thread: strings.get(&e.thread),
                pid: e.pid,
                exe: strings.get(&e.exe),
                hold: e.hold,
                request: e.request,
                held_at: e.held_at.as_ref().map(|s| strings.get(s)),
                requested_at: e.requested_at.as_ref().map(|s| strings.get(s)),
                backtrace: e.backtrace.iter().map(|s| strings.get(s)).collect(),
                file,
                line,
            };
            self.edges[idx].origins.push(origin);
        }
        self.gate_buf = gates;
    }

    /// Merges everything `other` read after everything `self` read.
    pub fn absorb(&mut self, other: Merger) {
        let file_base = self.files.len();
        self.files.extend(other.files);
        self.warnings.extend(other.warnings);
        self.recordings += other.recordings;
        let class_map: Vec<usize> = other
            .classes
            .into_iter()
            .map(|c| match self.class_ids.get(&c.class) {
                Some(&id) => id,
                None => {
                    let id = self.classes.len();
                    self.class_ids.insert(c.class.clone(), id);
                    self.classes.push(c);
                    id
                }
            })
            .collect();
        let gate_map: Vec<u64> = other.gates.iter().map(|g| self.gate_id(g)).collect();
        for mut e in other.edges {
            let (from, to) = (class_map[e.from], class_map[e.to]);
            let mut gates: Vec<u64> = e.gates.iter().map(|&g| gate_map[g as usize]).collect();
            gates.sort_unstable();
            for o in &mut e.origins {
                o.file += file_base;
            }
            match self.edge_ids.get(&(from, to)) {
                None => {
                    self.edge_ids.insert((from, to), self.edges.len());
                    e.from = from;
                    e.to = to;
                    e.gates = gates;
                    self.edges.push(e);
                }
                Some(&idx) => {
                    let mine = &mut self.edges[idx];
                    mine.kinds = mine.kinds.union(e.kinds);
                    mine.gates.retain(|g| gates.binary_search(g).is_ok());
                    mine.recordings += e.recordings;
                    for o in e.origins {
                        if mine.origins.len() >= ORIGIN_CAP {
                            break;
                        }
                        if !mine.origins.iter().any(|m| m.same_origin(&o)) {
                            mine.origins.push(o);
                        }
                    }
                }
            }
        }
    }

    /// The merged graph, with classes sorted by id and edges by (from, to).
    pub fn finish(self) -> Merged {
        let mut order: Vec<usize> = (0..self.classes.len()).collect();
        order.sort_unstable_by(|&a, &b| self.classes[a].class.cmp(&self.classes[b].class));
        let mut rank = vec![0usize; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new;
        }
        let mut classes: Vec<Option<ClassInfo>> = self.classes.into_iter().map(Some).collect();
        let classes: Vec<ClassInfo> = order
            .iter()
            .filter_map(|&old| classes[old].take())
            .collect();
        let mut edges = self.edges;
        for e in &mut edges {
            e.from = rank[e.from];
            e.to = rank[e.to];
            e.origins.sort_by(|a, b| {
                (&a.requested_at, &a.held_at, &a.thread, &a.exe, a.pid).cmp(&(
                    &b.requested_at,
                    &b.held_at,
                    &b.thread,
                    &b.exe,
                    b.pid,
                ))
            });
        }
        edges.sort_unstable_by_key(|e| (e.from, e.to));
        Merged {
            files: self.files,
            classes,
            edges,
            warnings: self.warnings,
            recordings: self.recordings,
        }
    }
}

/// Reads and merges `files` on up to `threads` threads.
///
/// The first error in file order is returned.
pub fn merge_files(files: &[PathBuf], threads: usize) -> Result<Merged, RecordError> {
    let threads = threads.clamp(1, files.len().max(1));
    if threads == 1 {
        let mut m = Merger::new();
        for f in files {
            m.add_file(f)?;
        }
        return Ok(m.finish());
    }
    // Contiguous runs of about equal size, so that combining them in order
    // gives what one thread would have.
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()).max(1))
        .collect();
    let total: u64 = sizes.iter().sum();
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
                    let mut m = Merger::new();
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
    Ok(merged.unwrap_or_default().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "{\"lockgraph_record\":1,\"pid\":1}\n";

    fn line(from: &str, to: &str, pid: u64) -> String {
        format!(
            "{{\"type\":\"edge\",\"from\":{{\"class\":\"name:{from}\",\"kind\":\"Mutex\"}},\"to\":{{\"class\":\"name:{to}\",\"kind\":\"Mutex\"}},\"hold\":\"exclusive\",\"request\":\"exclusive\",\"gates\":[],\"thread\":\"worker\",\"pid\":{pid},\"exe\":\"/bin/x\",\"held_at\":\"src/a.rs:1:1\",\"requested_at\":\"src/a.rs:2:2\",\"backtrace\":[\"x::f (src/a.rs:2)\"]}}\n"
        )
    }

    #[test]
    fn kept_origins_share_their_strings() {
        let mut m = Merger::new();
        let text = format!(
            "{HEADER}{}{}{}",
            line("a", "b", 1),
            line("a", "b", 2),
            line("c", "d", 3)
        );
        m.add_reader(Path::new("f"), text.as_bytes()).unwrap();
        let merged = m.finish();
        let (ab, cd) = (&merged.edges[0], &merged.edges[1]);
        assert_eq!(ab.origins.len(), 2, "two processes: two origins");
        assert!(Arc::ptr_eq(&ab.origins[0].thread, &cd.origins[0].thread));
        assert!(Arc::ptr_eq(&ab.origins[0].exe, &ab.origins[1].exe));
        assert!(Arc::ptr_eq(
            &ab.origins[0].backtrace[0],
            &cd.origins[0].backtrace[0]
        ));
    }

    #[test]
    fn the_merger_reads_from_memory_too() {
        let mut m = Merger::new();
        m.add_reader(
            Path::new("one"),
            format!("{HEADER}{}", line("a", "b", 1)).as_bytes(),
        )
        .unwrap();
        let mut other = Merger::new();
        let gated = line("a", "b", 2).replace("\"gates\":[]", "\"gates\":[\"2:1\"]");
        other
            .add_reader(
                Path::new("two"),
                format!("{HEADER}{gated}{}", line("b", "c", 2)).as_bytes(),
            )
            .unwrap();
        m.absorb(other);
        let merged = m.finish();
        assert_eq!(merged.files.len(), 2);
        let classes: Vec<&str> = merged.classes.iter().map(|c| c.class.as_str()).collect();
        assert_eq!(classes, ["name:a", "name:b", "name:c"]);
        let ab = merged.edge(0, 1).unwrap();
        assert_eq!(ab.recordings, 2);
        assert!(ab.gates.is_empty());
        assert_eq!(ab.origins.len(), 2);
        assert_eq!(merged.files[ab.origins[1].file].path, Path::new("two"));
    }

    #[test]
    fn an_empty_file_is_left_out_of_the_files() {
        let mut m = Merger::new();
        m.add_reader(Path::new("empty"), &b""[..]).unwrap();
        m.add_reader(
            Path::new("one"),
            format!("{HEADER}{}", line("a", "b", 1)).as_bytes(),
        )
        .unwrap();
        let merged = m.finish();
        assert_eq!(merged.files.len(), 1);
        assert_eq!(merged.files[0].path, Path::new("one"));
        assert_eq!(merged.edges[0].origins[0].file, 0);
        assert_eq!(merged.warnings.len(), 1);
    }

    #[test]
    fn the_fast_hasher_tells_short_strings_apart() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let b = BuildHasherDefault::<FastHasher>::default();
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abcdefgh",
            "abcdefghi",
            "abcdefgi",
        ];
        let mut hashes: Vec<u64> = words.iter().map(|w| b.hash_one(w)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), words.len());
    }
}
