//! How a report's lines name things: a lock by its tag (`L2`) and its
//! name, type or site, the "one site, many fields" notes that tell locks
//! made at one site apart, an edge's actor (a thread or an async task),
//! and the mode a lock was held or requested in.

use super::resource_words::resource_words;
use super::{CycleReport, EdgeInfo, Hold, LockKind, Request, Site};

/// How a lock of `kind` was held, for an edge line ("" where only one mode exists).
pub(super) fn hold_mode(kind: LockKind, h: Hold) -> &'static str {
    match (kind, h) {
        (LockKind::RwLock, Hold::Exclusive) => " for write",
        (LockKind::RwLock, Hold::Shared) => " for read",
        (LockKind::RwLock, Hold::Upgradable) => " for an upgradable read",
        (LockKind::Other, Hold::Exclusive) => " exclusively",
        (LockKind::Other, Hold::Shared) => " shared",
        (LockKind::Other, Hold::Upgradable) => " as an upgradable read",
        (k, _) => resource_words(k).map_or("", |w| w.held),
    }
}

/// How edge `e`'s lock, of `kind`, was requested, for an edge line.
pub(super) fn request_mode_of(kind: LockKind, e: &EdgeInfo) -> &'static str {
    match (kind, e.request) {
        (LockKind::RwLock, Request::Exclusive) if e.upgradable_request => " for an upgradable read",
        (LockKind::Other, Request::Exclusive) if e.upgradable_request => " as an upgradable read",
        _ => request_mode(kind, e.request),
    }
}

/// How a lock of `kind` was requested, for an edge line.
pub(super) fn request_mode(kind: LockKind, r: Request) -> &'static str {
    match (kind, r) {
        (LockKind::RwLock, Request::Exclusive) => " for write",
        (LockKind::RwLock, Request::Read) => " for read",
        (_, Request::RecursiveRead) => " for recursive read",
        (LockKind::Other, Request::Exclusive) => " exclusively",
        (LockKind::Other, Request::Read) => " for read",
        (k, _) => resource_words(k).map_or("", |w| w.requested),
    }
}

pub(super) fn site_or_unknown(s: Option<Site>) -> String {
    s.map_or_else(|| "an unknown site".to_string(), |s| s.to_string())
}

/// How a report names an edge's actor: a thread as thread `name`; an
/// async task's label (`task 7 "name" (spawned at ...)`, made by
/// `lockgraph::tokio`) as it is.
pub(super) fn is_task(label: &str) -> bool {
    label
        .strip_prefix("task ")
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

pub(super) fn actor(label: &str) -> String {
    if is_task(label) {
        label.to_string()
    } else {
        format!("thread `{label}`")
    }
}

pub(super) fn tag(i: usize) -> String {
    format!("L{}", i + 1)
}

impl CycleReport {
    /// "One site, many fields": notes on the report's locks made at a site
    /// that makes more than one lock, where the class alone does not say
    /// which field a lock is. One note per site, in lock order.
    pub(super) fn site_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut seen: Vec<Site> = Vec::new();
        for (i, lock) in self.locks.entries().enumerate() {
            let Some(site) = lock.created.filter(|_| lock.name.is_none()) else {
                continue;
            };
            if seen.contains(&site) {
                continue;
            }
            seen.push(site);
            // The later locks made at this site, and whether each is of
            // this one's type.
            let same_site: Vec<(usize, bool)> = self
                .locks
                .entries()
                .enumerate()
                .skip(i)
                .filter(|(_, l)| l.name.is_none() && l.created == Some(site))
                .map(|(j, l)| (j, l.value_type == lock.value_type))
                .collect();
            // Locks of this report of one class: same site, same type.
            let twins: Vec<usize> = same_site
                .iter()
                .filter(|&&(_, twin)| twin)
                .map(|&(j, _)| j)
                .collect();
            let same_site: Vec<usize> = same_site.iter().map(|&(j, _)| j).collect();
            let tags = |v: &[usize]| v.iter().map(|&j| tag(j)).collect::<Vec<_>>().join(", ");
            if twins.len() > 1 {
                notes.push(format!(
                    "one site, many fields: {} are one class (made at {site} with one type); \
                     only their instances tell them apart. If they are fields of one value (a \
                     #[derive(Default)], a generic constructor), name them (`named`) or create \
                     them on separate lines; if they are one field of different values \
                     (per-object locks: accounts, shards), take them in one global order, by \
                     id or by address",
                    tags(&twins)
                ));
            } else if lock.site_classes > 1 {
                notes.push(format!(
                    "one site, many fields: {site} makes locks of {} types ({}; a \
                     #[derive(Default)] or a generic constructor): each type is its own class",
                    lock.site_classes,
                    tags(&same_site)
                ));
            }
        }
        notes
    }

    /// Lock `i` as prose names it: its tag and its name (`L1 `metrics``);
    /// unnamed, its type when no other lock of the report has it
    /// (`L2 `RwLock<Model>``), else where it was made (`L3 `src/a.rs:12``).
    pub(super) fn named(&self, i: usize) -> String {
        let Some(lock) = self.locks.entry(i) else {
            return tag(i);
        };
        let unique_type = lock.value_type.is_some()
            && self
                .locks
                .count_by_run(|l| l.kind == lock.kind && l.value_type == lock.value_type)
                == 1;
        let named = match (lock.name, lock.created) {
            (Some(n), _) => format!("{} `{n}`", tag(i)),
            (None, _) if unique_type => format!("{} `{}`", tag(i), lock.kind_label()),
            (None, Some(s)) => format!("{} `{}:{}`", tag(i), s.file, s.line),
            (None, None) => return tag(i),
        };
        // Locks of one class read alike (`L1 `bank.rs:44``, `L2
        // `bank.rs:44``): their instances tell them apart, as in the list
        // of locks (found by an outside test: "always L2 `bank.rs:44`
        // before L1 `bank.rs:44``" said nothing).
        let looks = lock.looks();
        match lock.instance {
            Some(inst) if self.locks.count_by_run(|l| l.looks() == looks) > 1 => {
                format!("{named} #{inst}")
            }
            _ => named,
        }
    }

    /// Whether lock `i` is a condition variable.
    pub(super) fn is_condvar(&self, i: usize) -> bool {
        self.locks
            .entry(i)
            .is_some_and(|l| l.kind == LockKind::Condvar)
    }
}
