//! The merged class graph in compressed form, and its strongly connected
//! components.
//!
//! [`Merged::edges`] is sorted by `(from, to)`, so the edges leaving a class
//! are one contiguous run of it: the graph is that list plus an index of
//! where each class's run starts (and the same for the edges entering each
//! class). Every algorithm over it is iterative, with its own explicit stack
//! or queue: a chain of a million classes is as deep as the checker goes.

use std::ops::Range;

use lockgraph_graph::EdgeKinds;

use crate::merge::Merged;

/// The class graph of a [`Merged`]: node `i` is `merged.classes[i]`, edge
/// `e` is `merged.edges[e]`.
pub(crate) struct ClassGraph<'m> {
    merged: &'m Merged,
    /// The edges leaving node `u` are `first[u]..first[u + 1]`.
    first: Vec<u32>,
    target: Vec<u32>,
    kinds: Vec<EdgeKinds>,
    /// The edges entering node `v` are `in_edges[in_first[v]..in_first[v + 1]]`.
    in_first: Vec<u32>,
    in_edges: Vec<u32>,
}

/// The strongly connected components that contain a cycle.
pub(crate) struct Components {
    /// Each component's nodes, sorted; the components ordered by their first node.
    pub(crate) list: Vec<Vec<u32>>,
    /// For every node, the index in `list` of its component, or `u32::MAX`
    /// for a node on no cycle.
    pub(crate) of: Vec<u32>,
}

/// Marks a node not yet visited by the SCC search.
const UNSEEN: u32 = u32::MAX;

impl<'m> ClassGraph<'m> {
    /// Indexes the merged graph (linear time).
    pub(crate) fn new(merged: &'m Merged) -> ClassGraph<'m> {
        let n = merged.classes.len();
        let mut first = vec![0u32; n + 1];
        let mut in_first = vec![0u32; n + 1];
        for e in &merged.edges {
            first[e.from + 1] += 1;
            in_first[e.to + 1] += 1;
        }
        for i in 0..n {
            first[i + 1] += first[i];
            in_first[i + 1] += in_first[i];
        }
        let mut fill = in_first.clone();
        let mut in_edges = vec![0u32; merged.edges.len()];
        for (i, e) in merged.edges.iter().enumerate() {
            in_edges[fill[e.to] as usize] = i as u32;
            fill[e.to] += 1;
        }
        ClassGraph {
            merged,
            first,
            target: merged.edges.iter().map(|e| e.to as u32).collect(),
            kinds: merged.edges.iter().map(|e| e.kinds).collect(),
            in_first,
            in_edges,
        }
    }

    /// The merged records this graph indexes.
    pub(crate) fn merged(&self) -> &'m Merged {
        self.merged
    }

    /// The number of nodes (lock classes).
    pub(crate) fn nodes(&self) -> usize {
        self.first.len() - 1
    }

    /// The edges leaving `u`, as edge indices, sorted by target.
    pub(crate) fn out(&self, u: usize) -> Range<usize> {
        self.first[u] as usize..self.first[u + 1] as usize
    }

    /// The edges entering `v`, as edge indices.
    pub(crate) fn incoming(&self, v: usize) -> impl Iterator<Item = usize> + '_ {
        self.in_edges[self.in_first[v] as usize..self.in_first[v + 1] as usize]
            .iter()
            .map(|&e| e as usize)
    }

    /// The number of edges.
    pub(crate) fn edge_count(&self) -> usize {
        self.target.len()
    }

    /// Where edge `e` leads.
    pub(crate) fn target(&self, e: usize) -> usize {
        self.target[e] as usize
    }

    /// Where edge `e` starts.
    pub(crate) fn source(&self, e: usize) -> usize {
        self.merged.edges[e].from
    }

    /// Every dependency kind edge `e` was recorded with.
    pub(crate) fn kinds(&self, e: usize) -> EdgeKinds {
        self.kinds[e]
    }

    /// The gates (sorted gate indices) held across every recording of `e`.
    pub(crate) fn gates(&self, e: usize) -> &[u64] {
        &self.merged.edges[e].gates
    }

    /// The edge `u -> v`, if recorded.
    pub(crate) fn find(&self, u: usize, v: usize) -> Option<usize> {
        let r = self.out(u);
        let start = r.start;
        self.target[r]
            .binary_search(&(v as u32))
            .ok()
            .map(|i| start + i)
    }

    /// The strongly connected components with a cycle (two or more nodes:
    /// same-class edges are never merged), by Tarjan's algorithm with an
    /// explicit call stack.
    pub(crate) fn components(&self) -> Components {
        let n = self.nodes();
        let mut index = vec![UNSEEN; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        // (node, next out-edge to look at)
        let mut calls: Vec<(u32, u32)> = Vec::new();
        let mut next_index = 0u32;
        let mut list: Vec<Vec<u32>> = Vec::new();
        for root in 0..n {
            if index[root] != UNSEEN {
                continue;
            }
            index[root] = next_index;
            low[root] = next_index;
            next_index += 1;
            stack.push(root as u32);
            on_stack[root] = true;
            calls.push((root as u32, self.first[root]));
            while let Some(frame) = calls.last_mut() {
                let v = frame.0 as usize;
                if frame.1 < self.first[v + 1] {
                    let w = self.target[frame.1 as usize] as usize;
                    frame.1 += 1;
                    if index[w] == UNSEEN {
                        index[w] = next_index;
                        low[w] = next_index;
                        next_index += 1;
                        stack.push(w as u32);
                        on_stack[w] = true;
                        calls.push((w as u32, self.first[w]));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    let p = parent as usize;
                    low[p] = low[p].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    loop {
                        let w = stack.pop().expect("v is on the stack") as usize;
                        on_stack[w] = false;
                        comp.push(w as u32);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        comp.sort_unstable();
                        list.push(comp);
                    }
                }
            }
        }
        list.sort_unstable_by_key(|c| c[0]);
        let mut of = vec![u32::MAX; n];
        for (i, c) in list.iter().enumerate() {
            for &v in c {
                of[v as usize] = i as u32;
            }
        }
        Components { list, of }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Merger;

    /// A merged graph of named classes `n0, n1, ...` (class ids sort as
    /// strings, so the tests use single digits or look nodes up by name).
    pub(crate) fn merged(edges: &[(&str, &str)]) -> Merged {
        let mut text = String::from("{\"lockgraph_record\":1,\"pid\":1}\n");
        for (a, b) in edges {
            text.push_str(&format!(
                "{{\"type\":\"edge\",\"from\":{{\"class\":\"name:{a}\",\"kind\":\"Mutex\"}},\"to\":{{\"class\":\"name:{b}\",\"kind\":\"Mutex\"}},\"hold\":\"exclusive\",\"request\":\"exclusive\",\"gates\":[],\"thread\":\"t\",\"pid\":1,\"exe\":\"\",\"backtrace\":[]}}\n"
            ));
        }
        let mut m = Merger::new();
        m.add_reader(std::path::Path::new("t"), text.as_bytes())
            .unwrap();
        m.finish()
    }

    fn names(m: &Merged, comps: &Components) -> Vec<Vec<String>> {
        comps
            .list
            .iter()
            .map(|c| {
                c.iter()
                    .map(|&v| m.classes[v as usize].class[5..].to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn components_are_the_cyclic_sccs() {
        let m = merged(&[
            ("a", "b"),
            ("b", "c"),
            ("c", "a"),
            ("c", "d"),
            ("d", "e"),
            ("e", "d"),
            ("f", "g"),
        ]);
        let g = ClassGraph::new(&m);
        let comps = g.components();
        assert_eq!(names(&m, &comps), [vec!["a", "b", "c"], vec!["d", "e"]]);
        let f = m
            .classes
            .iter()
            .position(|c| &*c.class == "name:f")
            .unwrap();
        assert_eq!(comps.of[f], u32::MAX);
        let a = 0;
        let b = 1;
        assert_eq!(g.find(a, b).map(|e| g.target(e)), Some(b));
        assert_eq!(g.find(b, a), None);
        assert_eq!(g.incoming(a).map(|e| g.source(e)).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_long_chain_and_a_long_cycle_need_no_deep_stack() {
        // 200,000 nodes: far deeper than a recursive search survives on a
        // 2 MiB test thread.
        let n = 200_000usize;
        let chain: Vec<(usize, usize)> = (0..n - 1).map(|i| (i, i + 1)).collect();
        let m = crate::merge::synthetic(n, &chain);
        assert!(ClassGraph::new(&m).components().list.is_empty());
        let mut ring = chain;
        ring.push((n - 1, 0));
        let m = crate::merge::synthetic(n, &ring);
        let comps = ClassGraph::new(&m).components();
        assert_eq!(comps.list.len(), 1);
        assert_eq!(comps.list[0].len(), n);
    }
}
