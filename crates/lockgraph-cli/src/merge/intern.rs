//! Interned strings and stacks: threads, executables, sites, frames and
//! kinds repeat across edges and processes, so a merged graph keeps each once
//! and refers to it by id.

use std::collections::HashMap;
use std::sync::Arc;

use lockgraph_graph::FastBuildHasher;

use super::{MergedEdge, StrId, NO_STR};
use crate::reader::{self as record, EdgeLine};

/// A map with the graph crate's multiply-rotate hasher: the standard
/// hasher's resistance to crafted collisions is not worth its cost on one's
/// own record files.
pub(super) type FastMap<K, V> = HashMap<K, V, FastBuildHasher>;

/// Interned strings: threads, executables, sites, frames and kinds repeat
/// across edges and processes.
#[derive(Default)]
pub(super) struct Strings {
    ids: FastMap<Arc<str>, StrId>,
    pub(super) list: Vec<Arc<str>>,
}

impl Strings {
    pub(super) fn id(&mut self, s: &str) -> StrId {
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
    pub(super) fn seen(&self, edge: &MergedEdge, e: &EdgeLine<'_>) -> bool {
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

    pub(super) fn arc(&mut self, s: &str) -> Arc<str> {
        let id = self.id(s);
        Arc::clone(&self.list[id as usize])
    }
}

/// Interned stacks, as lists of string ids.
#[derive(Default)]
pub(super) struct Stacks {
    ids: FastMap<Arc<[StrId]>, u32>,
    pub(super) list: Vec<Arc<[StrId]>>,
}

impl Stacks {
    pub(super) fn id(&mut self, frames: &[StrId]) -> u32 {
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
