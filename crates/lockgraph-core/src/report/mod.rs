//! Reports: typed, cloneable, and readable in a terminal.
//!
//! This file holds the report types (what a [`CycleReport`] is made of);
//! the other files of this module print them, one concern each.

use std::fmt;

pub use lockgraph_graph::{Hold, Request};

use crate::class::{short_type_name, Class, LockKind, Site};

mod cycle;
mod debug_info;
mod device;
mod entries;
mod fix;
mod frames;
mod names;
mod reads;
mod resource_words;
mod self_words;
#[cfg(test)]
mod tests;
mod trace;
mod wait_fix;

pub(crate) use debug_info::DebugInfo;
pub(crate) use entries::{EdgeRuns, LockRuns};
pub use entries::{Edges, Locks};
pub use frames::program_frame;
pub use resource_words::{resource_words, ResourceWords};
pub(crate) use trace::user_frames_of;
pub use trace::Backtrace;
pub use wait_fix::resource_fix_lines;

/// What a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportKind {
    /// Locks taken in an order that closes a cycle: threads running these
    /// paths at the same time can deadlock.
    LockOrderCycle,
    /// A thread requests a lock it already holds in a way that can block on
    /// itself. `certain` is false for a second `read()` on a held read lock,
    /// which only blocks when a writer queued in between.
    SelfDeadlock {
        /// Whether the thread deadlocks every time, not only when a writer queues.
        certain: bool,
    },
    /// A cycle through CUDA streams, host functions, events, the shared
    /// host-function executor, signals and locks (raised by `lockgraph-cuda`).
    /// `certain` when every edge is forced by ordering (same-stream FIFO, a
    /// lock held from before the host function was enqueued until the
    /// synchronize); otherwise the cycle needs the shared executor or depends
    /// on timing. Each edge's `thread` names the actor (a thread, or a host
    /// function with the site that enqueued it) and says what it waits for.
    DeviceCycle {
        /// Whether the cycle deadlocks every time the code runs.
        certain: bool,
    },
}

/// Whether a cycle was seen on the very same locks or on their classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Level {
    /// These very lock instances were taken in both orders: a certain inversion.
    Instance,
    /// Locks of these classes (same creation site or name) were taken in both
    /// orders, possibly different instances: any pair of them can deadlock.
    Class,
}

/// One lock of a report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LockInfo {
    /// The kind of primitive.
    pub kind: LockKind,
    /// The name given with `named`, if any.
    pub name: Option<&'static str>,
    /// Where the lock (or its class) was created, if known.
    pub created: Option<Site>,
    /// The lock instance: set in a cycle of the instance graph (locks of
    /// one class) and in a self-deadlock; `None` in a cycle of the class
    /// graph, even one whose [`Level`] is `Instance` (its sampled pairs of
    /// instances chain back: the locks are named by class there).
    pub instance: Option<u64>,
    /// The type of the value the lock protects (`std::any::type_name`), when
    /// it is part of the lock's class (locks made by `new`, `Default`, ...).
    pub value_type: Option<&'static str>,
    /// How many lock classes the lock-order graph has seen created at
    /// [`created`](Self::created): more than one when one site makes locks
    /// of several types (a `#[derive(Default)]`, a generic constructor), told
    /// apart by [`value_type`](Self::value_type). 0 when not known.
    pub site_classes: usize,
}

impl LockInfo {
    /// The lock of `class` and `kind` (the site count left at 0).
    pub(crate) fn of_class(kind: LockKind, class: Class, instance: Option<u64>) -> LockInfo {
        LockInfo {
            kind,
            name: match class {
                Class::Named(n) => Some(n),
                _ => None,
            },
            created: class.site(),
            instance,
            value_type: class.value_type(),
            site_classes: 0,
        }
    }

    /// The kind, with the protected type when it is part of the class:
    /// `Mutex<Vec<u8>>` (paths shortened), else `Mutex`.
    pub fn kind_label(&self) -> String {
        match self.value_type {
            Some(t) => format!("{}<{}>", self.kind.name(), short_type_name(t)),
            None => self.kind.name().to_string(),
        }
    }

    /// The name of a CUDA pseudo-lock (a stream's, a host function's) that
    /// is a phrase with quoted names of its own (`` host fn enqueued at ...
    /// on stream `s` ``): a report says it as is, without its kind and not
    /// quoted again, as the watchdog does (quoted, the stream's name nested
    /// its backticks in the label's: found by an outside test).
    pub(crate) fn phrase(&self) -> Option<&'static str> {
        self.name
            .filter(|n| n.contains('`') && matches!(self.kind, LockKind::Stream | LockKind::HostFn))
    }

    /// What a report can tell of the lock's class: its kind, name,
    /// creation site and value type (two locks with equal keys read alike;
    /// an anonymous lock's key says nothing of its class).
    pub(crate) fn looks(
        &self,
    ) -> (
        LockKind,
        Option<&'static str>,
        Option<Site>,
        Option<&'static str>,
    ) {
        (self.kind, self.name, self.created, self.value_type)
    }

    /// The lock as a report's list of locks names it: its kind (with
    /// [`kind_label`](Self::kind_label)'s type when `typed`) and its
    /// [`label`](Self::label), or its [`phrase`](Self::phrase) alone.
    pub(crate) fn named(&self, typed: bool) -> String {
        match self.phrase() {
            Some(p) => p.to_string(),
            None if typed => format!("{} {}", self.kind_label(), self.label()),
            None => format!("{} {}", self.kind.name(), self.label()),
        }
    }

    /// A short label: the name if any, else the creation site.
    pub fn label(&self) -> String {
        match (self.name, self.created) {
            (Some(n), _) => format!("`{n}`"),
            (None, Some(s)) => format!("created at {s}"),
            (None, None) => match self.instance {
                Some(i) => format!("#{i}"),
                None => "(unnamed)".to_string(),
            },
        }
    }
}

/// One edge of a cycle: a thread held `from` and then requested `to`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EdgeInfo {
    /// Index into [`CycleReport::locks`] of the held lock.
    pub from: usize,
    /// Index into [`CycleReport::locks`] of the requested lock.
    pub to: usize,
    /// The thread that first recorded the edge (its name, else its id).
    pub thread: std::sync::Arc<str>,
    /// How the held lock was held.
    pub hold: Hold,
    /// How the next lock was requested.
    pub request: Request,
    /// The request was an upgradable read (`upgradable_read`, its `try_`
    /// forms): an exclusive request to the rules, which waits for every
    /// hold, named for what it was.
    pub upgradable_request: bool,
    /// Where the held lock was taken, when the call site is known.
    pub held_at: Option<Site>,
    /// Where the next lock was requested, when the call site is known.
    pub requested_at: Option<Site>,
    /// The stack when the edge was first recorded (captured unresolved;
    /// symbols are resolved only when the report is printed). `None` when
    /// capture is off (`LOCKGRAPH_BACKTRACE=0`), and for the middle edges of
    /// a cycle longer than 64 edges (the printed report shows the first and
    /// last six).
    pub backtrace: Option<Backtrace>,
    /// Whether this is the acquisition that closed the cycle just now.
    pub closing: bool,
}

/// A potential (or certain) deadlock found before anything blocked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CycleReport {
    /// What was found.
    pub kind: ReportKind,
    /// Instance or class level.
    pub level: Level,
    /// The locks in cycle order. A report of a long cycle holds runs of
    /// equal locks: [`Locks::entry`] and [`Locks::entries`] read them as
    /// they are, the slice methods (`locks[i]`, `locks.iter()`) lay them out
    /// first.
    pub locks: Locks,
    /// The edges: `edges[i]` runs from `locks[i]` to `locks[(i + 1) % len]`
    /// (runs of one recording too: [`Edges`]).
    pub edges: Edges,
}

impl LockInfo {
    /// A node of a report built outside the core (the CUDA model).
    pub fn new(
        kind: LockKind,
        name: Option<&'static str>,
        created: Option<Site>,
        instance: Option<u64>,
    ) -> LockInfo {
        LockInfo {
            kind,
            name,
            created,
            instance,
            value_type: None,
            site_classes: 0,
        }
    }
}

impl EdgeInfo {
    /// An edge of a report built outside the core: `actor` (a thread, or a
    /// host function) holds or is node `from` and waits for node `to`.
    pub fn new(
        from: usize,
        to: usize,
        actor: std::sync::Arc<str>,
        held_at: Option<Site>,
        requested_at: Option<Site>,
        closing: bool,
    ) -> EdgeInfo {
        EdgeInfo {
            from,
            to,
            thread: actor,
            hold: Hold::Exclusive,
            request: Request::Exclusive,
            upgradable_request: false,
            held_at,
            requested_at,
            backtrace: None,
            closing,
        }
    }
}

impl CycleReport {
    /// A report built outside the core: `edges[i]` runs from `locks[i]` to
    /// `locks[(i + 1) % len]`.
    pub fn new(kind: ReportKind, level: Level, locks: Vec<LockInfo>, edges: Vec<EdgeInfo>) -> Self {
        CycleReport {
            kind,
            level,
            locks: locks.into(),
            edges: edges.into(),
        }
    }

    /// The edge whose recording raised this report.
    pub fn closing_edge(&self) -> Option<&EdgeInfo> {
        self.edges.closing()
    }

    /// The threads of the cycle, one per edge, in cycle order.
    pub fn threads(&self) -> Vec<&str> {
        self.edges.threads()
    }
}

impl fmt::Display for CycleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ReportKind::SelfDeadlock { certain } => self.fmt_self(f, certain),
            ReportKind::LockOrderCycle => self.fmt_cycle(f),
            ReportKind::DeviceCycle { certain } => self.fmt_device(f, certain),
        }
    }
}
