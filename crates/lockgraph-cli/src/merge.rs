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

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lockgraph_graph::EdgeKinds;

use crate::error::RecordError;
use crate::reader::{self as record, EdgeLine, Header, HoldMode, RequestMode, Warning};

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
    /// Whether two recordings are the same origin (their files and lines
    /// aside): same process, thread, modes and sites.
    fn same(&self, o: &Origin) -> bool {
        self.pid == o.pid
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
}

impl Merged {
    /// The number of distinct process ids among the files.
    pub fn processes(&self) -> usize {
        let mut pids: Vec<u64> = self.files.iter().map(|f| f.header.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        pids.len()
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

/// Interned strings: threads, executables, sites, frames and kinds repeat
/// across edges and processes.
#[derive(Default)]
struct Strings {
    ids: FastMap<Arc<str>, StrId>,
    list: Vec<Arc<str>>,
}

impl Strings {
    fn id(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.list.len() as StrId;
        let a: Arc<str> = Arc::from(s);
        self.list.push(Arc::clone(&a));
        self.ids.insert(a, id);
        id
    }

    /// Whether `edge` already keeps the origin of the edge line `e`.
    fn seen(&self, edge: &MergedEdge, e: &EdgeLine<'_>) -> bool {
        let same = |id: StrId, s: &Option<record::Str<'_>>| match s {
            None => id == NO_STR,
            Some(s) => id != NO_STR && *self.list[id as usize] == **s,
        };
        edge.origins().any(|o| {
            o.pid == e.pid
                && o.hold == e.hold
                && o.request == e.request
                && *self.list[o.thread as usize] == *e.thread
                && same(o.held_at, &e.held_at)
                && same(o.requested_at, &e.requested_at)
        })
    }

    fn arc(&mut self, s: &str) -> Arc<str> {
        let id = self.id(s);
        Arc::clone(&self.list[id as usize])
    }
}

/// Interned stacks, as lists of string ids.
#[derive(Default)]
struct Stacks {
    ids: FastMap<Arc<[StrId]>, u32>,
    list: Vec<Arc<[StrId]>>,
}

impl Stacks {
    fn id(&mut self, frames: &[StrId]) -> u32 {
        if let Some(&id) = self.ids.get(frames) {
            return id;
        }
        let id = self.list.len() as u32;
        let a: Arc<[StrId]> = Arc::from(frames);
        self.list.push(Arc::clone(&a));
        self.ids.insert(a, id);
        id
    }
}

/// Accumulates record files; [`Merger::finish`] gives the sorted [`Merged`].
///
/// After an error from [`Merger::add_file`] or [`Merger::add_reader`] the
/// merger holds part of that file; callers drop it.
#[derive(Default)]
pub struct Merger {
    files: Vec<RecordFile>,
    class_ids: FastMap<Arc<str>, usize>,
    classes: Vec<ClassInfo>,
    gate_ids: FastMap<String, u64>,
    gates: Vec<String>,
    edge_ids: FastMap<(u32, u32), u32>,
    edges: Vec<MergedEdge>,
    warnings: Vec<Warning>,
    recordings: u64,
    gate_buf: Vec<u64>,
    frame_buf: Vec<StrId>,
    read_buf: Vec<u8>,
    strings: Strings,
    stacks: Stacks,
    /// Origins of the file being read that wait for a `stack` line: its
    /// key, the edge, the origin (0: first, else `more[i - 1]`).
    pending_stacks: Vec<(String, u32, u32)>,
}

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

    fn write_u32(&mut self, n: u32) {
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

impl Merger {
    /// An empty merger.
    #[cfg(test)]
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

    fn start_file(&mut self, path: &Path) -> u32 {
        self.files.push(RecordFile {
            shown: Arc::from(path.display().to_string()),
            header: Header::default(),
            args: Arc::from(Vec::new()),
            edges: 0,
            ignored: 0,
        });
        (self.files.len() - 1) as u32
    }

    fn end_file(&mut self, file: u32, summary: record::FileSummary) {
        self.attach_stacks(&summary.stacks);
        self.warnings.extend(summary.warning);
        match summary.header {
            Some(mut header) => {
                let f = &mut self.files[file as usize];
                f.args = Arc::from(std::mem::take(&mut header.args));
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
        let class: Arc<str> = Arc::from(&*c.class);
        let kind = self.strings.arc(&c.kind);
        self.classes.push(ClassInfo::new(
            Arc::clone(&class),
            kind,
            c.name.as_deref(),
            c.site.as_deref(),
        ));
        self.class_ids.insert(class, id);
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

    /// Gives the origins of this file that wait for a `stack` line their
    /// frames; an origin whose line is missing (a killed writer) keeps an
    /// empty stack.
    fn attach_stacks(&mut self, stacks: &[(String, Vec<String>)]) {
        let pending = std::mem::take(&mut self.pending_stacks);
        if pending.is_empty() || stacks.is_empty() {
            return;
        }
        let by_key: HashMap<&str, &Vec<String>> =
            stacks.iter().map(|(k, f)| (k.as_str(), f)).collect();
        for (key, edge, slot) in pending {
            let Some(frames) = by_key.get(key.as_str()) else {
                continue;
            };
            let ids: Vec<StrId> = frames.iter().map(|f| self.strings.id(f)).collect();
            let stack = self.stacks.id(&ids);
            let e = &mut self.edges[edge as usize];
            let o = if slot == 0 {
                &mut e.first
            } else {
                &mut e.more[slot as usize - 1]
            };
            o.backtrace = stack;
        }
    }

    /// Notes that the origin just made for edge `edge` (0: its first, else
    /// `more[slot - 1]`) waits for the `stack` line of `e`, if it does.
    fn await_stack(&mut self, e: &EdgeLine<'_>, edge: u32, slot: u32) {
        if let Some(key) = e.stack.as_ref().filter(|_| e.backtrace.is_empty()) {
            self.pending_stacks.push((key.to_string(), edge, slot));
        }
    }

    fn origin(&mut self, file: u32, line: u64, e: &EdgeLine<'_>) -> Origin {
        let site = |strings: &mut Strings, s: &Option<record::Str<'_>>| {
            s.as_ref().map_or(NO_STR, |s| strings.id(s))
        };
        let mut frames = std::mem::take(&mut self.frame_buf);
        frames.clear();
        frames.extend(e.backtrace.iter().map(|f| self.strings.id(f)));
        let backtrace = self.stacks.id(&frames);
        self.frame_buf = frames;
        Origin {
            thread: self.strings.id(&e.thread),
            exe: self.strings.id(&e.exe),
            held_at: site(&mut self.strings, &e.held_at),
            requested_at: site(&mut self.strings, &e.requested_at),
            backtrace,
            file,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            pid: e.pid,
            hold: e.hold,
            request: e.request,
        }
    }

    fn add_edge(&mut self, file: u32, line: u64, e: EdgeLine<'_>) {
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
        let next = self.edges.len() as u32;
        let idx = *self
            .edge_ids
            .entry((from as u32, to as u32))
            .or_insert(next);
        if idx == next {
            let first = self.origin(file, line, &e);
            self.await_stack(&e, idx, 0);
            self.edges.push(MergedEdge {
                from,
                to,
                kinds: kind,
                gates: gates.clone(),
                first,
                more: Vec::new(),
                recordings: 1,
            });
        } else {
            let edge = &mut self.edges[idx as usize];
            edge.kinds = edge.kinds.union(kind);
            edge.gates.retain(|g| gates.binary_search(g).is_ok());
            edge.recordings += 1;
            // Compare before interning: most recordings repeat an origin.
            if edge.origin_count() < ORIGIN_CAP && !self.strings.seen(edge, &e) {
                let o = self.origin(file, line, &e);
                self.edges[idx as usize].more.push(o);
                let slot = self.edges[idx as usize].more.len() as u32;
                self.await_stack(&e, idx, slot);
            }
        }
        self.gate_buf = gates;
    }

    /// Merges everything `other` read after everything `self` read.
    pub fn absorb(&mut self, other: Merger) {
        // At most everything of `other` is new here: room for it up front,
        // rather than rehashing as it arrives.
        self.class_ids.reserve(other.classes.len());
        self.classes.reserve(other.classes.len());
        self.edge_ids.reserve(other.edges.len());
        self.edges.reserve(other.edges.len());
        let file_base = self.files.len() as u32;
        self.files.extend(other.files);
        self.warnings.extend(other.warnings);
        self.recordings += other.recordings;
        let strings: Vec<StrId> = other
            .strings
            .list
            .iter()
            .map(|s| self.strings.id(s))
            .collect();
        let stacks: Vec<u32> = other
            .stacks
            .list
            .iter()
            .map(|frames| {
                let mapped: Vec<StrId> = frames.iter().map(|&f| strings[f as usize]).collect();
                self.stacks.id(&mapped)
            })
            .collect();
        let class_map: Vec<usize> = other
            .classes
            .into_iter()
            .map(|c| match self.class_ids.get(&c.class) {
                Some(&id) => id,
                None => {
                    let id = self.classes.len();
                    self.class_ids.insert(Arc::clone(&c.class), id);
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
            e.first = e.first.remapped(&strings, &stacks, file_base);
            for o in &mut e.more {
                *o = o.remapped(&strings, &stacks, file_base);
            }
            match self.edge_ids.get(&(from as u32, to as u32)) {
                None => {
                    self.edge_ids
                        .insert((from as u32, to as u32), self.edges.len() as u32);
                    e.from = from;
                    e.to = to;
                    e.gates = gates;
                    self.edges.push(e);
                }
                Some(&idx) => {
                    let mine = &mut self.edges[idx as usize];
                    mine.kinds = mine.kinds.union(e.kinds);
                    mine.gates.retain(|g| gates.binary_search(g).is_ok());
                    mine.recordings += e.recordings;
                    for o in e.origins() {
                        mine.add_origin(*o);
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
        drop(self.class_ids);
        let mut classes: Vec<Option<ClassInfo>> = self.classes.into_iter().map(Some).collect();
        let classes: Vec<ClassInfo> = order
            .iter()
            .filter_map(|&old| classes[old].take())
            .collect();
        drop(self.edge_ids);
        let strings = self.strings.list;
        let stacks: Vec<Arc<[Arc<str>]>> = self
            .stacks
            .list
            .iter()
            .map(|frames| {
                frames
                    .iter()
                    .map(|&f| Arc::clone(&strings[f as usize]))
                    .collect()
            })
            .collect();
        let mut edges = self.edges;
        let s = |id: StrId| (id != NO_STR).then(|| &strings[id as usize]);
        for e in &mut edges {
            e.from = rank[e.from];
            e.to = rank[e.to];
            if !e.more.is_empty() {
                let mut all: Vec<Origin> = e.origins().copied().collect();
                all.sort_by(|a, b| {
                    (
                        s(a.requested_at),
                        s(a.held_at),
                        s(a.thread),
                        s(a.exe),
                        a.pid,
                    )
                        .cmp(&(
                            s(b.requested_at),
                            s(b.held_at),
                            s(b.thread),
                            s(b.exe),
                            b.pid,
                        ))
                });
                e.first = all[0];
                e.more = all[1..].to_vec();
            }
        }
        edges.sort_unstable_by_key(|e| (e.from, e.to));
        Merged {
            files: self.files,
            classes,
            edges,
            strings,
            stacks,
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
        return Ok(m.finish());
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
        assert_eq!(ab.origin_count(), 2, "two processes: two origins");
        let o: Vec<&Origin> = ab.origins().chain(cd.origins()).collect();
        assert_eq!(o[0].thread, o[2].thread);
        assert_eq!(o[0].exe, o[1].exe);
        assert_eq!(o[0].backtrace, o[2].backtrace);
        assert_eq!(
            &*merged.stacks[o[0].backtrace as usize][0],
            "x::f (src/a.rs:2)"
        );
        // The kind, the frame, the thread, the executable and the two sites.
        assert_eq!(merged.strings.len(), 6, "{:?}", merged.strings);
    }

    #[test]
    fn stacks_written_after_their_edges_are_attached_to_them() {
        let named = |from: &str, to: &str, key: &str| {
            line(from, to, 1).replace(
                "\"backtrace\":[\"x::f (src/a.rs:2)\"]",
                &format!("\"backtrace\":[],\"stack\":\"{key}\""),
            )
        };
        let text = format!(
            "{HEADER}{}{}{}{}",
            named("a", "b", "1:1"),
            named("b", "c", "1:2"),
            // Written by the record's thread, later; the process was killed
            // before the stack of "1:2" was.
            "{\"type\":\"stack\",\"stack\":\"1:1\",\"pid\":1,\"backtrace\":[\"x::g (src/a.rs:9)\"]}\n",
            line("c", "d", 1),
        );
        let mut m = Merger::new();
        m.add_reader(Path::new("f"), text.as_bytes()).unwrap();
        let merged = m.finish();
        let frames = |i: usize| -> Vec<String> {
            let o = merged.edges[i].origins().next().unwrap();
            merged.stacks[o.backtrace as usize]
                .iter()
                .map(|f| f.to_string())
                .collect()
        };
        assert_eq!(frames(0), ["x::g (src/a.rs:9)"]);
        assert!(frames(1).is_empty());
        assert_eq!(frames(2), ["x::f (src/a.rs:2)"]);
        // A stack line is not an unknown line.
        assert_eq!(merged.files[0].ignored, 0);
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
        let classes: Vec<&str> = merged.classes.iter().map(|c| &*c.class).collect();
        assert_eq!(classes, ["name:a", "name:b", "name:c"]);
        let ab = merged.edge(0, 1).unwrap();
        assert_eq!(ab.recordings, 2);
        assert!(ab.gates.is_empty());
        assert_eq!(ab.origin_count(), 2);
        let second = ab.origins().nth(1).unwrap();
        assert_eq!(&*merged.files[second.file as usize].shown, "two");
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
        assert_eq!(&*merged.files[0].shown, "one");
        assert_eq!(merged.edges[0].origins().next().unwrap().file, 0);
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
