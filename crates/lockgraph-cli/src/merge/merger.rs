//! [`Merger`]: reads record files into one class-level graph, combines the
//! partial graphs of several threads in file order, and sorts the result.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use lockgraph_core::site_key;
use lockgraph_graph::gates::{gate, gate_id, gate_mode, intersect, GateMode};

use super::intern::{FastMap, Stacks, Strings};
use super::kinds::Kinds;
use super::runtime::RuntimeCycles;
use super::*;
use crate::reader::{self as record, EdgeLine, Header, Warning};
use crate::shown::ShowPath as _;

/// Accumulates record files; [`Merger::finish`] gives the sorted [`Merged`].
///
/// After an error from [`Merger::add_file`] or [`Merger::add_reader`] the
/// merger holds part of that file; callers drop it.
#[derive(Default)]
pub struct Merger {
    files: Vec<RecordFile>,
    class_ids: FastMap<Arc<str>, usize>,
    pub(super) classes: Vec<ClassInfo>,
    /// Where each class was first read, and other kinds it was read as.
    kinds: Kinds,
    /// Gates by the file (the process) that recorded them and their text:
    /// a lock id means one lock only within one process, and two files
    /// with the same pid (a pid reused, two machines) are two processes.
    gate_ids: FastMap<(u32, String), u64>,
    gates: Vec<(u32, String)>,
    edge_ids: FastMap<(u32, u32), u32>,
    edges: Vec<MergedEdge>,
    warnings: Vec<Warning>,
    recordings: u64,
    gate_buf: Vec<u64>,
    frame_buf: Vec<StrId>,
    read_buf: Vec<u8>,
    pub(super) strings: Strings,
    pub(super) stacks: Stacks,
    /// The cycles the processes found at run time (`cycle` lines).
    pub(super) runtime: RuntimeCycles,
    /// Origins of the file being read that wait for a `stack` line: its
    /// key, the edge, the origin (0: first, else `more[i - 1]`).
    pending_stacks: Vec<(String, u32, u32)>,
}

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
        self.end_file(path, file, summary);
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
        self.end_file(path, file, summary);
        Ok(())
    }

    fn start_file(&mut self, path: &Path) -> u32 {
        self.files.push(RecordFile {
            shown: Arc::from(path.shown().to_string()),
            header: Header::default(),
            args: Arc::from(Vec::new()),
            edges: 0,
            ignored: 0,
        });
        (self.files.len() - 1) as u32
    }

    fn end_file(&mut self, path: &Path, file: u32, summary: record::FileSummary) {
        self.attach_stacks(&summary.stacks);
        self.add_cycles(file, &summary.cycles, &summary.stacks);
        if summary.ignored > 0 {
            // Allowed (a newer writer's kinds of line), but said: a
            // mistyped `type` loses an edge.
            self.warnings.push(record::Warning {
                path: path.to_path_buf(),
                line: None,
                message: format!(
                    "{} line{} of an unknown `type` ignored (none of \"edge\", \"stack\" and \
                     \"cycle\": a newer lockgraph's records, or a mistyped one)",
                    summary.ignored,
                    if summary.ignored == 1 { "" } else { "s" }
                ),
            });
        }
        self.warnings.extend(summary.conflicts);
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

    pub(super) fn class_id(&mut self, c: &record::ClassRef<'_>, file: u32, line: u32) -> usize {
        // Records written before class ids were made portable name a
        // dependency's site by its path under CARGO_HOME: the same form as
        // the runtime writes now, so that old and new records (and those
        // of other machines) merge.
        let key = site_key::class_id(&c.class);
        if let Some(&id) = self.class_ids.get(&*key) {
            if *self.classes[id].kind != *c.kind {
                let kind = self.strings.arc(&c.kind);
                let kept = Arc::clone(&self.classes[id].kind);
                self.kinds.read_as(id, &kept, &kind, file, line);
            }
            return id;
        }
        let id = self.classes.len();
        self.kinds.first_read(file, line);
        let class: Arc<str> = Arc::from(&*key);
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

    /// The gate (`lockgraph_graph::gates::gate`: the lock's interned id
    /// and the hold's mode) that gate string `g` recorded in file `file`
    /// names: `"<pid>:<id>"` held exclusively, with `:read` or
    /// `:upgradable` after it held so.
    fn gate(&mut self, file: u32, g: &str) -> u64 {
        let (lock, mode) = if let Some(lock) = g.strip_suffix(":read") {
            (lock, GateMode::Shared)
        } else if let Some(lock) = g.strip_suffix(":upgradable") {
            (lock, GateMode::Upgradable)
        } else {
            (g, GateMode::Exclusive)
        };
        gate(self.gate_id(file, lock), mode)
    }

    /// The id of gate lock `g` (without its mode) recorded in file `file`.
    fn gate_id(&mut self, file: u32, g: &str) -> u64 {
        let key = (file, g.to_string());
        if let Some(&id) = self.gate_ids.get(&key) {
            return id;
        }
        let id = self.gates.len() as u64;
        self.gates.push(key.clone());
        self.gate_ids.insert(key, id);
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
        let at = u32::try_from(line).unwrap_or(u32::MAX);
        let from = self.class_id(&e.from, file, at);
        let to = self.class_id(&e.to, file, at);
        if from == to {
            // Same-class edges are about instances: not part of the class graph.
            return;
        }
        self.recordings += 1;
        let mut gates = std::mem::take(&mut self.gate_buf);
        gates.clear();
        for g in &e.gates {
            let id = self.gate(file, g);
            gates.push(id);
        }
        gates.sort_unstable();
        gates.dedup();
        let kind = e.kind();
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
            keep_common_gates(&mut edge.gates, &gates);
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
        let kinds: Vec<Arc<str>> = other.classes.iter().map(|c| Arc::clone(&c.kind)).collect();
        let class_map: Vec<(usize, bool)> = other
            .classes
            .into_iter()
            .map(|c| match self.class_ids.get(&c.class) {
                Some(&id) => (id, false),
                None => {
                    let id = self.classes.len();
                    self.class_ids.insert(Arc::clone(&c.class), id);
                    self.classes.push(c);
                    (id, true)
                }
            })
            .collect();
        let classes = &self.classes;
        self.kinds.absorb(
            other.kinds,
            &class_map,
            &kinds,
            |id| Arc::clone(&classes[id].kind),
            file_base,
        );
        let class_map: Vec<usize> = class_map.into_iter().map(|(id, _)| id).collect();
        self.runtime
            .absorb(other.runtime, &class_map, &strings, &stacks, file_base);
        let gate_map: Vec<u64> = other
            .gates
            .iter()
            .map(|(f, g)| self.gate_id(f + file_base, g))
            .collect();
        for mut e in other.edges {
            let (from, to) = (class_map[e.from], class_map[e.to]);
            let mut gates: Vec<u64> = (e.gates.iter())
                .map(|&g| gate(gate_map[gate_id(g) as usize], gate_mode(g)))
                .collect();
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
                    keep_common_gates(&mut mine.gates, &gates);
                    mine.recordings += e.recordings;
                    for o in e.origins() {
                        mine.add_origin(*o);
                    }
                }
            }
        }
    }

    /// The merged graph, with classes sorted by id and edges by (from, to).
    pub fn finish(mut self) -> Merged {
        let kinds = self.kinds.warnings(&self.classes, &self.files);
        self.warnings.extend(kinds);
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
        // Each edge's origins sorted by site, thread, executable and pid.
        let sort_origins = |e: &mut MergedEdge| {
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
        };
        for e in &mut edges {
            e.from = rank[e.from];
            e.to = rank[e.to];
            sort_origins(e);
        }
        edges.sort_unstable_by_key(|e| (e.from, e.to));
        let runtime = self.runtime.finish(&rank, sort_origins);
        Merged {
            files: self.files,
            classes,
            edges,
            strings,
            stacks,
            warnings: self.warnings,
            recordings: self.recordings,
            runtime,
        }
    }
}

/// Keeps in `mine` (an edge's gates, sorted) the gates another recording
/// of the edge also held (`other`, sorted), each in the weaker of the two
/// modes.
fn keep_common_gates(mine: &mut Vec<u64>, other: &[u64]) {
    if mine.iter().any(|g| other.binary_search(g).is_err()) {
        *mine = intersect(mine, other);
    }
}
