//! Cycles the processes found at run time (`cycle` lines,
//! `docs/record-format.md`): each line expanded to its locks and edges,
//! turned to start where the check's own cycles start (the lock whose
//! stable key sorts first, then by class id and sites, so that the same
//! cycle seen from any of its locks reads alike), and merged with the
//! lines of the same cycle from every file: one [`RuntimeCycle`] per
//! sequence of class ids, whose edges keep up to [`ORIGIN_CAP`] origins.

use std::cmp::Ordering;
use std::collections::HashMap;

use lockgraph_graph::EdgeKinds;

use super::intern::FastMap;
use super::*;
use crate::reader::{ClassRef, CycleLevel, CycleLine, Str};

/// A lock-order cycle found at run time by one process or more.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuntimeCycle {
    /// `Instance` when some process found these very locks in it.
    pub level: CycleLevel,
    /// Class indices into [`Merged::classes`], in cycle order: from the
    /// lock whose stable key sorts first.
    pub locks: Vec<usize>,
    /// Edge `i` runs from `locks[i]` to the next lock; no gates.
    pub edges: Vec<MergedEdge>,
    /// The edge whose request closed the cycle in the first line read.
    pub closing: usize,
    /// The files (processes) whose lines found it, indices into
    /// [`Merged::files`], sorted: in the order read.
    pub files: Vec<u32>,
    /// How many `cycle` lines were merged into it.
    pub lines: u64,
}

/// The runtime's cycles read so far, one per sequence of class ids.
#[derive(Default)]
pub(super) struct RuntimeCycles {
    by_key: FastMap<Box<[usize]>, usize>,
    list: Vec<RuntimeCycle>,
}

/// The rotation of a sequence of `n` tokens that is least in the order
/// `cmp` compares tokens by (their indices): its start, the smallest such
/// (the two-pointer minimum-rotation search, linear in `n`).
pub(super) fn least_rotation(n: usize, cmp: impl Fn(usize, usize) -> Ordering) -> usize {
    let (mut i, mut j, mut k) = (0, 1, 0);
    while i < n && j < n && k < n {
        match cmp((i + k) % n, (j + k) % n) {
            Ordering::Equal => k += 1,
            Ordering::Greater => {
                i += k + 1;
                if i == j {
                    i += 1;
                }
                k = 0;
            }
            Ordering::Less => {
                j += k + 1;
                if i == j {
                    j += 1;
                }
                k = 0;
            }
        }
    }
    i.min(j).min(n.saturating_sub(1))
}

impl RuntimeCycles {
    /// Merges `c`, a cycle whose lines' locks are `locks` (class indices)
    /// and edges `edges` (each from the lock of its index), turned already.
    fn add(&mut self, c: RuntimeCycle) {
        match self.by_key.get(c.locks.as_slice()) {
            None => {
                self.by_key
                    .insert(c.locks.clone().into_boxed_slice(), self.list.len());
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
                for (e, other) in mine.edges.iter_mut().zip(c.edges) {
                    e.kinds = e.kinds.union(other.kinds);
                    e.recordings += other.recordings;
                    for o in other.origins() {
                        e.add_origin(*o);
                    }
                }
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
            for l in &mut c.locks {
                *l = classes[*l];
            }
            for e in &mut c.edges {
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
            for l in &mut c.locks {
                *l = rank[*l];
            }
            for e in &mut c.edges {
                e.from = rank[e.from];
                e.to = rank[e.to];
                order(e);
            }
        }
        list.sort_by(|a, b| a.locks.cmp(&b.locks));
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
        // The locks, one class index each.
        let mut locks: Vec<usize> = Vec::new();
        for l in &c.locks {
            let class = ClassRef {
                class: Str(l.class.as_str().into()),
                name: l.name.as_deref().map(|n| Str(n.into())),
                kind: Str(l.kind.as_str().into()),
                site: l.site.as_deref().map(|s| Str(s.into())),
            };
            let id = self.class_id(&class, file, at);
            let count = usize::try_from(l.count).unwrap_or(usize::MAX);
            locks.extend(std::iter::repeat_n(id, count));
        }
        // The edges' origins, one per run, and the run of each edge.
        let exe = self.strings.id(&c.exe);
        let site =
            |m: &mut Merger, s: &Option<String>| s.as_ref().map_or(NO_STR, |s| m.strings.id(s));
        let mut runs: Vec<(Origin, EdgeKinds)> = Vec::with_capacity(c.edges.len());
        let mut run_of: Vec<u32> = Vec::with_capacity(locks.len());
        for (r, e) in c.edges.iter().enumerate() {
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
            runs.push((origin, kind));
            let count = usize::try_from(e.count).unwrap_or(usize::MAX);
            run_of.extend(std::iter::repeat_n(r as u32, count));
        }
        let n = locks.len();
        if n == 0 || run_of.len() != n {
            // The reader checked both; nothing to merge otherwise.
            return;
        }
        // Turned to start at the least of its rotations: by stable key, class
        // id, then the sites of the edge leaving each lock.
        let strings = &self.strings.list;
        let text = |id: StrId| (id != NO_STR).then(|| &*strings[id as usize]);
        let classes = &self.classes;
        let token = |i: usize| {
            let class = &classes[locks[i]];
            let o = &runs[run_of[i] as usize].0;
            (
                class.stable_key(),
                &*class.class,
                text(o.held_at),
                text(o.requested_at),
            )
        };
        let r = least_rotation(n, |a, b| token(a).cmp(&token(b)));
        let turned: Vec<usize> = (0..n).map(|i| locks[(r + i) % n]).collect();
        let edges: Vec<MergedEdge> = (0..n)
            .map(|i| {
                let (origin, kinds) = runs[run_of[(r + i) % n] as usize];
                MergedEdge {
                    from: turned[i],
                    to: turned[(i + 1) % n],
                    kinds,
                    gates: Vec::new(),
                    first: origin,
                    more: Vec::new(),
                    recordings: 1,
                }
            })
            .collect();
        self.runtime.add(RuntimeCycle {
            level: c.level,
            locks: turned,
            edges,
            closing: (n - r) % n,
            files: vec![file],
            lines: 1,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::least_rotation;

    #[test]
    fn the_least_rotation_is_found_and_the_first_of_equal_ones() {
        let at = |s: &[u32]| least_rotation(s.len(), |a, b| s[a].cmp(&s[b]));
        assert_eq!(at(&[3, 1, 2]), 1);
        assert_eq!(at(&[2, 1, 2, 1, 1]), 3);
        assert_eq!(at(&[5, 5, 5]), 0);
        assert_eq!(at(&[1, 2, 1, 2]), 0);
        assert_eq!(at(&[2, 1, 2, 1]), 1);
        assert_eq!(at(&[7]), 0);
        assert_eq!(at(&[]), 0);
        // Against every rotation, by brute force.
        let s = [3u32, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 1, 4, 1];
        let n = s.len();
        let best = (0..n)
            .min_by_key(|&r| (0..n).map(|i| s[(r + i) % n]).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(at(&s), best);
    }
}
