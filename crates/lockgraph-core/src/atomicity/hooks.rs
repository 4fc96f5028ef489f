//! What the checker does at each lock operation: an acquisition joins the
//! clock of the lock's last exclusive release, an exclusive release records
//! a write, an exclusive acquisition that closes a region is checked; and
//! the findings, reported once each.

use std::panic::Location;
use std::sync::atomic::Ordering;

use lockgraph_graph::vclock::{Epoch, VectorClock};

use super::block::{LockAtom, Write, NO_ACTOR};
use super::mode::warn;
use super::report::{AtomicityReport, Interleaving, Severity};
use super::thread::{with_slow, AtomThread, Region, NAMES, REGIONS, REPORTED};
use crate::class::Site;
use crate::meta::LockMeta;
use crate::report::{Hold, LockInfo};

/// Called after `meta` (instance `id`) was acquired in mode `hold` and pushed
/// on this thread's held stack.
///
/// A finding is reported from here, inside the lock call: that runs no user
/// code and takes no tracked lock (the report is queued for delivery, or
/// aborted on; its disposal never panics, see [`AtomicityReport`]'s
/// `Report` impl), so it needs no protection from re-entry.
#[inline]
pub(crate) fn acquired(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) {
    if t.pending.get() != 0 || t.depth.get() != 0 {
        return acquired_in_region(t, meta, id, hold, site);
    }
    join_release(t, meta);
}

/// An acquisition while a region is open: closes the implicit one, checks.
#[inline(never)]
fn acquired_in_region(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) {
    let pending = t.pending.replace(0);
    if t.recheck.replace(false) {
        // The act re-checks under its own guard: it is not judged, and the
        // explicit check of this lock, if any, is used up.
        if hold == Hold::Exclusive && t.depth.get() > 0 {
            forget_explicit(id);
        }
    } else if hold == Hold::Exclusive && (pending == id || t.depth.get() > 0) {
        // Checked before the join below: the implicit region's clock is the
        // thread's clock as it was when the check guard was released.
        for f in check(t, meta, id, pending == id, site) {
            f.emit(meta);
        }
    }
    join_release(t, meta);
}

/// Joins the lock's last recorded exclusive release, if another thread made it.
#[inline]
fn join_release(t: &AtomThread, meta: &LockMeta) {
    // A lock without a block has no recorded release to join.
    if let Some(atom) = meta.atom_if_any() {
        // SAFETY: the lock is held by this thread; the block is written only
        // under an exclusive hold, so nothing writes it concurrently.
        let releaser = unsafe { *atom.releaser.get() };
        if releaser != NO_ACTOR && releaser != t.actor() {
            join(t, atom, releaser);
        }
    }
}

/// Joins the clock of `atom`'s last exclusive release into this thread's.
#[cold]
#[inline(never)]
fn join(t: &AtomThread, atom: &LockAtom, releaser: usize) {
    with_slow(|s| {
        // SAFETY: as in `acquired`: read under a hold, written only under an
        // exclusive one.
        let (others, at) = unsafe { (&*atom.others.get(), *atom.released_at.get()) };
        s.others.join(others);
        if s.others.get(releaser) < at {
            s.others.set(releaser, at);
        }
    });
    t.generation.set(t.generation.get() + 1);
}

/// An exclusive acquisition closing a region: what it finds.
#[cold]
#[inline(never)]
fn check(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    implicit: bool,
    act_site: Option<&'static Location<'static>>,
) -> Vec<Finding> {
    let me = t.actor();
    // SAFETY: read under this thread's hold; written only under an exclusive one.
    let last = meta
        .atom_if_any()
        .and_then(|atom| unsafe { *atom.last_write.get() });
    let pending_site = t.pending_site.get();
    let explicit = t.depth.get() > 0;
    let found = with_slow(|s| {
        let mut found = Vec::new();
        if implicit {
            found.extend(finding(
                me,
                &s.others,
                last,
                pending_site,
                Hold::Shared,
                act_site,
                false,
            ));
        }
        if explicit {
            if let Some(r) = s.take_explicit(id) {
                found.extend(finding(me, &r.others, last, r.site, r.hold, act_site, true));
                s.spare.push(r.others);
            }
        }
        found
    });
    found.into_iter().flatten().collect()
}

/// Called before `meta` (instance `id`, held in mode `hold`, taken at `site`)
/// is released.
///
/// A write (an exclusive release) is recorded only when some region could
/// check it: the lock is *watched* (a shared guard of it was released, which
/// opens implicit regions) or an `atomic_region` is open somewhere. A write
/// that matters comes after the release that opened its region, and that
/// release happens before the writer's acquisition, so the writer sees the
/// mark or the count. Unrecorded writes leave the block as it was: its last
/// write and its clock always come from the same recorded release, so an
/// acquisition that joined that clock never mistakes that write for an
/// interleaving one. Locks only ever held exclusively outside regions (most
/// mutexes) thus cost no clock work at all.
#[inline]
pub(crate) fn released(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) {
    // The common case, kept small: an exclusive release of an unwatched lock
    // outside any region, with no implicit region open, records nothing.
    if hold == Hold::Exclusive && t.quiet_release(meta) {
        return;
    }
    released_recording(t, meta, id, hold, site);
}

#[inline(never)]
fn released_recording(
    t: &AtomThread,
    meta: &LockMeta,
    id: u64,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) {
    t.recheck.set(false);
    if hold == Hold::Exclusive {
        t.pending.set(0);
        if meta.watched() || REGIONS.load(Ordering::Relaxed) != 0 {
            write(t, t.actor(), meta.atom(), site);
        }
    } else {
        if !meta.watched() {
            meta.mark_watched();
        }
        t.pending.set(id);
        t.pending_site.set(site);
    }
    // A condvar wait's release opens no check: its re-acquisition after the
    // wait is where the program re-checks its predicate (the wait loop), not
    // an act on a decision from before the wait.
    if t.depth.get() > 0 && !t.condvar_wait.get() {
        open_explicit(id, hold, site);
    }
}

/// Runs `release`, a condition variable's wait releasing its mutex (the
/// thread's last operation before it sleeps), marked as such: the release
/// is recorded as a write like any exclusive release, but it opens no check
/// inside an `atomic_region`, so the mutex's re-acquisition when the wait
/// returns is not judged as an act on a decision made before the wait. A
/// condvar wait is the way to wait for a condition under a lock, and the
/// program tests its predicate again under the re-acquired guard (the wait
/// loop, `wait_while`): the wait ends the decision made before it, and the
/// guard's next release opens a fresh check, as usual.
pub(crate) fn condvar_release(t: &AtomThread, release: impl FnOnce()) {
    struct Clear<'a>(&'a AtomThread);
    impl Drop for Clear<'_> {
        fn drop(&mut self) {
            self.0.condvar_wait.set(false);
        }
    }
    t.condvar_wait.set(true);
    let _clear = Clear(t);
    release();
}

/// Ends the explicit check of `id` on this thread without judging it.
#[cold]
#[inline(never)]
fn forget_explicit(id: u64) {
    with_slow(|s| {
        if let Some(r) = s.take_explicit(id) {
            s.spare.push(r.others);
        }
    });
}

/// [`recheck`](crate::recheck) on this thread: the next acquisition is not
/// judged, if a region is open (else there is nothing to judge).
pub(crate) fn recheck(t: &AtomThread) {
    if t.pending.get() != 0 || t.depth.get() > 0 {
        t.recheck.set(true);
    }
}

/// A release inside `atomic_region`: opens (or reopens) the check of `id`.
#[cold]
#[inline(never)]
fn open_explicit(id: u64, hold: Hold, site: Option<&'static Location<'static>>) {
    with_slow(|s| {
        let r = Region {
            lock: id,
            site,
            hold,
            others: s.snapshot(),
        };
        match s.explicit.iter().position(|r| r.lock == id) {
            Some(i) => {
                let old = std::mem::replace(&mut s.explicit[i], r);
                s.spare.push(old.others);
            }
            None => s.explicit.push(r),
        }
    });
}

/// Called before an exclusive hold of `meta`, taken at `site`, is
/// downgraded to shared: the exclusive hold wrote the lock.
#[cold]
#[inline(never)]
pub(crate) fn downgrading(
    t: &AtomThread,
    meta: &LockMeta,
    site: Option<&'static Location<'static>>,
) {
    write(t, t.actor(), meta.atom(), site);
}

/// An exclusive hold of the lock of `atom` ends (or is downgraded): a write.
#[inline]
fn write(t: &AtomThread, me: usize, atom: &LockAtom, site: Option<&'static Location<'static>>) {
    let time = t.time.get() + 1;
    t.time.set(time);
    // SAFETY: the caller holds the lock exclusively: no other thread reads or
    // writes the block until it is released.
    unsafe {
        *atom.last_write.get() = Some(Write {
            epoch: Epoch::new(me, time),
            site,
        });
        if *atom.releaser.get() != me || *atom.generation.get() != t.generation.get() {
            copy_clock(t, atom);
            *atom.releaser.get() = me;
        }
        *atom.released_at.get() = time;
    }
}

/// Stores this thread's clock of the other actors in the lock's block.
#[cold]
#[inline(never)]
fn copy_clock(t: &AtomThread, atom: &LockAtom) {
    with_slow(|s| {
        // SAFETY: called by `write`, whose caller holds the lock exclusively.
        unsafe {
            (*atom.others.get()).clone_from(&s.others);
            *atom.generation.get() = t.generation.get();
        }
    });
}

/// A check-then-act found at an exclusive acquisition, to be reported.
struct Finding {
    severity: Severity,
    check_site: Option<&'static Location<'static>>,
    check_hold: Hold,
    act_site: Option<&'static Location<'static>>,
    writer: Option<Write>,
    explicit: bool,
}

fn finding(
    me: usize,
    others: &VectorClock,
    last: Option<Write>,
    check_site: Option<&'static Location<'static>>,
    check_hold: Hold,
    act_site: Option<&'static Location<'static>>,
    explicit: bool,
) -> Option<Finding> {
    let writer = last.filter(|w| w.epoch.actor != me && !w.epoch.happens_before(others));
    let severity = match writer {
        Some(_) => Severity::Violation,
        None if warn() => Severity::Warning,
        None => return None,
    };
    Some(Finding {
        severity,
        check_site,
        check_hold,
        act_site,
        writer,
        explicit,
    })
}

impl Finding {
    fn emit(self, meta: &LockMeta) {
        let check_site = self.check_site.map(Site::from);
        let act_site = self.act_site.map(Site::from);
        if !REPORTED
            .lock()
            .insert((self.severity, check_site, act_site))
        {
            return;
        }
        let name = |actor: usize| -> String {
            NAMES
                .lock()
                .get(actor)
                .cloned()
                .unwrap_or_else(|| format!("#{actor}"))
        };
        let class = meta.class();
        let report = AtomicityReport {
            severity: self.severity,
            lock: LockInfo::of_class(meta.kind(), class, Some(meta.id())),
            thread: crate::sync::thread_name(),
            check_site,
            check_hold: self.check_hold,
            act_site,
            interleaving: self.writer.map(|w| Interleaving {
                thread: name(w.epoch.actor),
                site: w.site.map(Site::from),
            }),
            explicit_region: self.explicit,
        };
        crate::policy::emit(report);
    }
}

/// Opens an `atomic_region` on this thread (`crate::region`): the
/// outermost one counts in [`REGIONS`], before any release inside it, so
/// writers that acquire the lock after such a release see the count.
pub(crate) fn enter_region(t: &AtomThread) {
    if t.depth.get() == 0 {
        REGIONS.fetch_add(1, Ordering::Relaxed);
    }
    t.depth.set(t.depth.get() + 1);
}

/// Closes the innermost `atomic_region`; the outermost one ends every check
/// opened inside it.
pub(crate) fn exit_region(t: &AtomThread) {
    let depth = t.depth.get() - 1;
    t.depth.set(depth);
    if depth == 0 {
        if t.pending.get() == 0 {
            t.recheck.set(false);
        }
        REGIONS.fetch_sub(1, Ordering::Relaxed);
        with_slow(|s| {
            while let Some(r) = s.explicit.pop() {
                s.spare.push(r.others);
            }
        });
    }
}
