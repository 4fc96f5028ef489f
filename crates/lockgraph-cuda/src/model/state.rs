//! The model's state: streams with their pending items, waiting threads,
//! signals and the locks seen, in one process-wide table. The ground floor
//! of the model: it imports no other part of it.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::Location;
use std::sync::Arc;

use lockgraph_core::{Class, LockInfo, LockKind, LockMeta, Site};
use parking_lot::Mutex;

pub(crate) type ItemId = u64;

/// A lock a host function takes: its lockgraph id and how to name it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ModelLock {
    pub(crate) id: u64,
    pub(crate) kind: LockKind,
    pub(crate) name: Option<&'static str>,
    pub(crate) created: Option<Site>,
}

impl ModelLock {
    /// The lock of class `class` with instance `id`.
    pub(crate) fn of(id: u64, kind: LockKind, class: Class) -> ModelLock {
        ModelLock {
            id,
            kind,
            name: match class {
                Class::Named(n) => Some(n),
                _ => None,
            },
            created: class.site(),
        }
    }

    /// Whether this lock is of the class `c` describes (an anonymous class
    /// is one lock instance).
    pub(super) fn is_of(&self, c: &LockInfo) -> bool {
        self.kind == c.kind
            && match (c.name, c.created) {
                (Some(n), _) => self.name == Some(n),
                (None, Some(s)) => self.name.is_none() && self.created == Some(s),
                (None, None) => c.instance == Some(self.id),
            }
    }
}

/// One hold of a lock by a thread: the lock and where it was taken. Equal at
/// two moments when the thread most likely held the lock all along (a
/// release and a new acquisition at the same site look the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HoldKey {
    pub(crate) id: u64,
    pub(crate) site: Option<Site>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Needs {
    /// Declared with `HostFn::locks`.
    pub(crate) locks: Vec<ModelLock>,
    /// Lock classes host functions from the same site were seen to take.
    pub(crate) learned: Vec<LockInfo>,
    pub(crate) waits: Vec<usize>,
    pub(crate) feeds: Vec<usize>,
}

pub(super) enum ItemKind {
    HostFn {
        needs: Needs,
        enqueuer: u64,
        /// The enqueuing thread's holds when it enqueued.
        enqueuer_held: Vec<HoldKey>,
    },
    Wait {
        event: &'static str,
        dep: Option<ItemId>,
    },
}

pub(super) struct Item {
    pub(super) stream: usize,
    pub(super) pos: u64,
    pub(super) site: &'static Location<'static>,
    pub(super) kind: ItemKind,
}

pub(super) struct StreamRec {
    pub(super) name: &'static str,
    pub(super) ctx: usize,
    /// Held by the thread running one of the stream's host functions.
    pub(super) lock: &'static LockMeta,
    /// Held (shared) by the thread running any host function of the
    /// stream's context: the executor the stream's host functions queue for.
    pub(super) executor: &'static LockMeta,
    pub(super) next_pos: u64,
    pub(super) pending: BTreeMap<u64, ItemId>,
    /// The position of the first host function ever enqueued on it.
    pub(super) first_host_fn: Option<u64>,
}

/// A signal: its name, and whether it was set (signals are one-shot: set
/// once, it stays set).
pub(super) struct SignalRec {
    pub(super) name: &'static str,
    pub(super) set: bool,
}

/// Host functions enqueued at one site on streams of one name: how lock
/// needs are learned too (the site's pseudo-lock).
pub(super) type SetSite = (&'static Location<'static>, &'static str);

pub(super) struct Waiter {
    pub(super) thread: Arc<str>,
    pub(super) held: Vec<ModelLock>,
    /// The holds of `held`, in its order.
    pub(super) holds: Vec<HoldKey>,
    pub(super) targets: Vec<ItemId>,
    /// The signals a thread waits on (`Signal::wait`): none while it
    /// synchronizes.
    pub(super) signals: Vec<usize>,
    pub(super) site: &'static Location<'static>,
    pub(super) what: &'static str,
}

#[derive(Default)]
pub(super) struct Model {
    /// Per context: its back end and the back end's key (named by the key).
    pub(super) contexts: Vec<(TypeId, u64)>,
    pub(super) streams: Vec<StreamRec>,
    pub(super) items: HashMap<ItemId, Item>,
    pub(super) next_item: ItemId,
    pub(super) signals: Vec<SignalRec>,
    /// Per enqueue site and stream name, the names of the signals its host
    /// functions were seen to set (`feeds`, bounded there).
    pub(super) sets_learned: HashMap<SetSite, Vec<&'static str>>,
    /// Per signal, the threads that said they will set it.
    pub(super) producers: HashMap<usize, Vec<u64>>,
    pub(super) waiters: HashMap<u64, Waiter>,
    pub(super) locks: HashMap<u64, ModelLock>,
    /// The cycles reported, each once per process (`Model::seen`), and
    /// whether certain: a cycle reported potential is reported again once
    /// it is certain.
    pub(super) reported: HashSet<(bool, Vec<Seen>)>,
}

/// A node of a reported cycle as the once-per-process rule knows it: an
/// item (a host function, a synchronize's work) by where it was enqueued
/// and on which stream, a signal by its name, not by instance: a loop
/// enqueues new ones each round, and the same cycle was reported again
/// each round (found by an outside test). `Call` is a CUDA call's site
/// inside a host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Seen {
    Lock(u64),
    Item(&'static Location<'static>, usize),
    Exec(usize),
    Signal(&'static str),
    Call(&'static Location<'static>),
    /// An item or signal the model no longer has: its own instance.
    Instance(Node),
}

static MODEL: Mutex<Option<Model>> = Mutex::new(None);

pub(super) fn with<R>(f: impl FnOnce(&mut Model) -> R) -> R {
    let mut g = MODEL.lock();
    f(g.get_or_insert_with(Model::default))
}

/// What a host thread synchronizes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// Everything enqueued on the stream so far.
    Stream(usize),
    /// The stream's work before the position (an event's record, named).
    Upto(usize, u64, &'static str),
    /// Every stream of the context.
    Context(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Node {
    Lock(u64),
    Item(ItemId),
    Exec(usize),
    Signal(usize),
}

impl Model {
    /// `n` as the once-per-process rule knows it ([`Seen`]).
    pub(super) fn seen(&self, n: Node) -> Seen {
        match n {
            Node::Lock(id) => Seen::Lock(id),
            Node::Item(id) => match self.items.get(&id) {
                Some(it) => Seen::Item(it.site, it.stream),
                None => Seen::Instance(n),
            },
            Node::Exec(ctx) => Seen::Exec(ctx),
            Node::Signal(i) => self
                .signals
                .get(i)
                .map_or(Seen::Instance(n), |s| Seen::Signal(s.name)),
        }
    }

    pub(super) fn add_item(
        &mut self,
        stream: usize,
        site: &'static Location<'static>,
        kind: ItemKind,
    ) -> ItemId {
        self.next_item += 1;
        let id = self.next_item;
        let s = &mut self.streams[stream];
        s.next_pos += 1;
        let pos = s.next_pos;
        s.pending.insert(pos, id);
        if matches!(kind, ItemKind::HostFn { .. }) && s.first_host_fn.is_none() {
            s.first_host_fn = Some(pos);
        }
        self.items.insert(
            id,
            Item {
                stream,
                pos,
                site,
                kind,
            },
        );
        id
    }

    /// The last pending item on `stream` before position `upto`.
    pub(super) fn last_pending(&self, stream: usize, upto: u64) -> Option<ItemId> {
        self.streams[stream]
            .pending
            .range(..upto)
            .next_back()
            .map(|(_, &i)| i)
    }

    /// Whether a wait for `target` (a stream's work, or its work up to an
    /// event's record) ends with a host function still pending: the last
    /// work it covers is that host function, so the wait lasts until the
    /// context's executor has run it, and ends then. A wait whose stream
    /// has device work after its last pending host function does not (it
    /// would still wait, for the device alone, after the executor ran the
    /// host functions: taken as a wait for the executor, a host function
    /// of another stream that then waits for a lock the waiting thread
    /// holds would read as a DEADLOCK; found by a review); nor does a
    /// context's (the model does not know when device work is done), nor
    /// a host function reached only through an event wait (which may be
    /// another context's).
    pub(super) fn ends_with_pending_host_fn(&self, target: Target) -> bool {
        let (s, end) = match target {
            Target::Stream(s) => (s, self.streams[s].next_pos),
            Target::Upto(s, k, _) => (s, k),
            Target::Context(_) => return false,
        };
        match self.streams[s].pending.range(..=end).next_back() {
            Some((&pos, id)) => {
                pos == end
                    && matches!(
                        self.items.get(id).map(|it| &it.kind),
                        Some(ItemKind::HostFn { .. })
                    )
            }
            None => false,
        }
    }

    pub(super) fn lock_holders(&self, l: u64) -> impl Iterator<Item = (&u64, &Waiter)> {
        self.waiters
            .iter()
            .filter(move |(_, w)| w.held.iter().any(|h| h.id == l))
    }

    /// The streams a wait for `target` waits for, as lock-order edges: an
    /// event's stream only when a host function was enqueued on it before
    /// the event's record. Host functions enqueued after the record are
    /// never waited for through it; a later record after them gives its
    /// own synchronize the edge.
    pub(super) fn target_streams(&self, target: Target) -> Vec<usize> {
        match target {
            Target::Upto(s, k, _) => match self.streams[s].first_host_fn {
                Some(p) if p <= k => vec![s],
                _ => Vec::new(),
            },
            Target::Stream(s) => vec![s],
            Target::Context(c) => (0..self.streams.len())
                .filter(|&s| self.streams[s].ctx == c)
                .collect(),
        }
    }
}
