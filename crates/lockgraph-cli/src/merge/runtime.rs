//! Cycles the processes found at run time (`cycle` lines,
//! `docs/record-format.md`): each line kept as the runs it writes (a chain
//! of a million locks of one class is a few runs, never a million of
//! anything), turned to start where the check's own cycles start (the lock
//! whose stable key sorts first, then by class id and sites, so that the
//! same cycle seen from any of its locks reads alike), and merged with the
//! lines of the same cycle from every file: one [`RuntimeCycle`] per
//! sequence of class runs, whose edges keep up to [`ORIGIN_CAP`] origins.

use std::collections::HashMap;

use lockgraph_graph::EdgeKinds;

use super::intern::FastMap;
use super::rotation::least_rotation_of_runs;
use super::*;
use crate::reader::{ClassRef, CycleLevel, CycleLine, Str};

/// A run of a cycle found at run time: `count` consecutive locks of one
/// class whose edges (each from one of them to the next lock, the last to
/// the first lock of the next run) were recorded alike.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuntimeRun {
    /// The locks' class: an index into [`Merged::classes`].
    pub class: usize,
    /// How many locks (and edges) the run holds: at least 1.
    pub count: u64,
    /// How each of its edges was recorded (`from`: its class; `to`: the
    /// class of the next run, where its last edge leads; no gates).
    pub edge: MergedEdge,
}

/// A lock-order cycle found at run time by one process or more.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuntimeCycle {
    /// `Instance` when some process found these very locks in it.
    pub level: CycleLevel,
    /// The cycle as runs, in cycle order, from the lock whose stable key
    /// sorts first; two runs in a row differ in class or in how their edges
    /// were recorded.
    pub runs: Vec<RuntimeRun>,
    /// How many locks (and edges) the cycle has: the runs' counts added up.
    pub length: u64,
    /// The edge (by its place in the cycle, from 0) whose request closed
    /// the cycle in the first line read.
    pub closing: u64,
    /// The files (processes) whose lines found it, indices into
    /// [`Merged::files`], sorted: in the order read.
    pub files: Vec<u32>,
    /// How many `cycle` lines were merged into it.
    pub lines: u64,
}

impl RuntimeCycle {
    /// Its locks as the runs of one class each, in cycle order: what tells
    /// one cycle from another (class indices and counts).
    pub fn class_runs(&self) -> Vec<(usize, u64)> {
        let mut out: Vec<(usize, u64)> = Vec::new();
        for r in &self.runs {
            match out.last_mut() {
                Some(last) if last.0 == r.class => last.1 += r.count,
                _ => out.push((r.class, r.count)),
            }
        }
        out
    }

    /// Whether every lock of it is of one class.
    pub fn one_class(&self) -> bool {
        let first = self.runs.first().map(|r| r.class);
        self.runs.iter().all(|r| Some(r.class) == first)
    }
}

/// Whether two runs' edges were recorded alike: their runs can be one.
fn alike(a: &MergedEdge, b: &MergedEdge) -> bool {
    a.kinds == b.kinds
        && a.recordings == b.recordings
        && a.origin_count() == b.origin_count()
        && a.origins().zip(b.origins()).all(|(x, y)| x == y)
}

/// `runs` with each two in a row of one class whose edges were recorded
/// alike made one.
fn joined(runs: Vec<RuntimeRun>) -> Vec<RuntimeRun> {
    let mut out: Vec<RuntimeRun> = Vec::with_capacity(runs.len());
    for r in runs {
        match out.last_mut() {
            Some(last) if last.class == r.class && alike(&last.edge, &r.edge) => {
                last.count += r.count;
                last.edge.to = r.edge.to;
            }
            _ => out.push(r),
        }
    }
    out
}

/// The runs of two lines of one cycle (the same class runs) as one: cut
/// where either is cut, each piece's edges with the origins of both.
fn merged_runs(mine: Vec<RuntimeRun>, other: Vec<RuntimeRun>) -> Vec<RuntimeRun> {
    let mut out = Vec::with_capacity(mine.len() + other.len());
    let mut theirs = other.into_iter().peekable();
    let mut their_left = theirs.peek().map_or(0, |r| r.count);
    for mut r in mine {
        while r.count > 0 {
            let Some(t) = theirs.peek() else {
                // (The class runs were equal: the counts add up alike.)
                out.push(r);
                break;
            };
            let take = r.count.min(their_left);
            let mut piece = r.clone();
            piece.count = take;
            piece.edge.kinds = piece.edge.kinds.union(t.edge.kinds);
            piece.edge.recordings += t.edge.recordings;
            for o in t.edge.origins() {
                piece.edge.add_origin(*o);
            }
            out.push(piece);
            r.count -= take;
            their_left -= take;
            if their_left == 0 {
                theirs.next();
                their_left = theirs.peek().map_or(0, |r| r.count);
            }
        }
    }
    joined(out)
}

/// The runtime's cycles read so far, one per sequence of class runs.
#[derive(Default)]
pub(super) struct RuntimeCycles {
    by_key: FastMap<Box<[(usize, u64)]>, usize>,
    list: Vec<RuntimeCycle>,
}

impl RuntimeCycles {
    /// Merges `c`, a cycle turned already.
    fn add(&mut self, c: RuntimeCycle) {
        let key = c.class_runs().into_boxed_slice();
        match self.by_key.get(&key) {
            None => {
                self.by_key.insert(key, self.list.len());
                self.list.push(c);
            }
            Some(&i) => {
                let mine = &mut self.list[i];
                if c.level == CycleLevel::Instance {
                    mine.level = CycleLevel::Instance;
                }
                mine.lines += c.lines;
                for f in c.files {
                    if let Err(at) = mine.files.binary_search(&f) {
                        mine.files.insert(at, f);
                    }
                }
                mine.runs = merged_runs(std::mem::take(&mut mine.runs), c.runs);
            }
        }
    }

    /// Everything `other` read, after what this read: its class indices,
    /// strings, stacks and files through the maps of [`Merger::absorb`].
    pub(super) fn absorb(
        &mut self,
        other: RuntimeCycles,
        classes: &[usize],
        strings: &[StrId],
        stacks: &[u32],
        file_base: u32,
    ) {
        for mut c in other.list {
            for r in &mut c.runs {
                r.class = classes[r.class];
                let e = &mut r.edge;
                e.from = classes[e.from];
                e.to = classes[e.to];
                e.first = e.first.remapped(strings, stacks, file_base);
                for o in &mut e.more {
                    *o = o.remapped(strings, stacks, file_base);
                }
            }
            for f in &mut c.files {
                *f += file_base;
            }
            self.add(c);
        }
    }

    /// The cycles, their classes renumbered by `rank` (old index -> index
    /// in the sorted classes), each edge's origins sorted by `order`.
    pub(super) fn finish(
        self,
        rank: &[usize],
        order: impl Fn(&mut MergedEdge),
    ) -> Vec<RuntimeCycle> {
        let mut list = self.list;
        for c in &mut list {
            for r in &mut c.runs {
                r.class = rank[r.class];
                r.edge.from = rank[r.edge.from];
                r.edge.to = rank[r.edge.to];
                order(&mut r.edge);
            }
            // Sorted, the origins of two runs may read alike now.
            c.runs = joined(std::mem::take(&mut c.runs));
        }
        list.sort_by_cached_key(RuntimeCycle::class_runs);
        list
    }
}

impl Merger {
    /// Reads the `cycle` lines of file `file`, whose `stack` lines are
    /// `stacks`.
    pub(super) fn add_cycles(
        &mut self,
        file: u32,
        cycles: &[CycleLine],
        stacks: &[(String, Vec<String>)],
    ) {
        if cycles.is_empty() {
            return;
        }
        let by_key: HashMap<&str, &Vec<String>> =
            stacks.iter().map(|(k, f)| (k.as_str(), f)).collect();
        for c in cycles {
            self.add_cycle(file, c, &by_key);
        }
    }

    fn add_cycle(&mut self, file: u32, c: &CycleLine, stacks: &HashMap<&str, &Vec<String>>) {
        let at = u32::try_from(c.line).unwrap_or(u32::MAX);
        // The lock runs, a class index each.
        let mut locks: Vec<(usize, u64)> = Vec::with_capacity(c.locks.len());
        for l in &c.locks {
            let class = ClassRef {
                class: Str(l.class.as_str().into()),
                name: l.name.as_deref().map(|n| Str(n.into())),
                kind: Str(l.kind.as_str().into()),
                site: l.site.as_deref().map(|s| Str(s.into())),
            };
            locks.push((self.class_id(&class, file, at), l.count));
        }
        // The edge runs, an origin each.
        let exe = self.strings.id(&c.exe);
        let site =
            |m: &mut Merger, s: &Option<String>| s.as_ref().map_or(NO_STR, |s| m.strings.id(s));
        let mut edges: Vec<(Origin, EdgeKinds, u64)> = Vec::with_capacity(c.edges.len());
        for e in &c.edges {
            let frames: Vec<&String> = match (&e.stack, e.backtrace.is_empty()) {
                (Some(key), true) => stacks
                    .get(key.as_str())
                    .map_or(Vec::new(), |f| f.iter().collect()),
                _ => e.backtrace.iter().collect(),
            };
            let ids: Vec<StrId> = frames.iter().map(|f| self.strings.id(f)).collect();
            let origin = Origin {
                thread: self.strings.id(&e.thread),
                exe,
                held_at: site(self, &e.held_at),
                requested_at: site(self, &e.requested_at),
                backtrace: self.stacks.id(&ids),
                file,
                line: at,
                pid: c.pid,
                hold: e.hold,
                request: e.request,
            };
            let kind = EdgeKinds::of(e.hold.to_graph(), e.request.to_graph());
            edges.push((origin, kind, e.count));
        }
        // Segments: cut where a lock run or an edge run ends, each a class
        // and an edge run (index into `edges`) for `count` locks.
        let mut segments: Vec<(usize, usize, u64)> = Vec::new();
        let (mut li, mut ei) = (0, 0);
        let (mut l_left, mut e_left) = (
            locks.first().map_or(0, |l| l.1),
            edges.first().map_or(0, |e| e.2),
        );
        while li < locks.len() && ei < edges.len() {
            let take = l_left.min(e_left);
            if take > 0 {
                segments.push((locks[li].0, ei, take));
            }
            l_left -= take;
            e_left -= take;
            if l_left == 0 {
                li += 1;
                l_left = locks.get(li).map_or(0, |l| l.1);
            }
            if e_left == 0 {
                ei += 1;
                e_left = edges.get(ei).map_or(0, |e| e.2);
            }
        }
        let length: u64 = segments.iter().map(|s| s.2).sum();
        if segments.is_empty() || li != locks.len() || ei != edges.len() {
            // The reader checked that the counts agree; nothing to merge
            // otherwise.
            return;
        }
        // Turned to start at the least of its rotations: by stable key, class
        // id, then the sites of the edge leaving each lock.
        let strings = &self.strings.list;
        let text = |id: StrId| (id != NO_STR).then(|| &*strings[id as usize]);
        let classes = &self.classes;
        let tokens: Vec<_> = segments
            .iter()
            .map(|&(class, e, count)| {
                let (o, _, _) = &edges[e];
                let c = &classes[class];
                let token = (
                    c.stable_key(),
                    &*c.class,
                    text(o.held_at),
                    text(o.requested_at),
                );
                (token, count)
            })
            .collect();
        let start = least_rotation_of_runs(&tokens);
        drop(tokens);
        let r: u64 = segments[..start].iter().map(|s| s.2).sum();
        segments.rotate_left(start);
        let m = segments.len();
        let runs: Vec<RuntimeRun> = (0..m)
            .map(|i| {
                let (class, e, count) = segments[i];
                let (origin, kinds, _) = edges[e];
                RuntimeRun {
                    class,
                    count,
                    edge: MergedEdge {
                        from: class,
                        to: segments[(i + 1) % m].0,
                        kinds,
                        gates: Vec::new(),
                        first: origin,
                        more: Vec::new(),
                        recordings: 1,
                    },
                }
            })
            .collect();
        self.runtime.add(RuntimeCycle {
            level: c.level,
            runs: joined(runs),
            length,
            closing: (length - r) % length,
            files: vec![file],
            lines: 1,
        });
    }
}
