//! What a race report says: the two accesses (who, what, where) and the
//! buffer, and how it is delivered (the core's one way). The ground floor of
//! the sanitizer: it imports no other part of it.

use std::fmt;

use lockgraph_core::Site;
use lockgraph_graph::vclock::Epoch;

/// One access of a report.
#[derive(Clone, Debug)]
pub struct Access {
    /// The host (with the thread's name), a host function (with its
    /// enqueue site, stream and thread) or the stream's name.
    pub by: String,
    /// What the access was ("kernel `k`", "copy", "host read", ...).
    pub op: String,
    /// Whether it wrote.
    pub write: bool,
    /// Where it was made (enqueued, for stream work).
    pub site: Site,
    pub(super) epoch: Epoch,
    /// Who, for the advice.
    pub(super) who: Who,
    /// Its place in the order the program made its calls (enqueued, for
    /// stream work and host functions): the report names the accesses in
    /// that order, whichever the sanitizer saw first.
    pub(super) seq: u64,
}

/// Who made an access.
#[derive(Clone, Debug)]
pub(super) enum Who {
    Host,
    Stream(String),
    HostFn { stream: String, site: Site },
}

/// Two conflicting accesses not ordered by any synchronisation.
#[derive(Clone, Debug)]
pub struct RaceReport {
    /// The buffer.
    pub buffer: &'static str,
    /// The access the program made first (enqueued first, for stream work
    /// and host functions), whichever the sanitizer saw first.
    pub earlier: Access,
    /// The access that raced with it.
    pub later: Access,
}

impl RaceReport {
    /// The report of `a` and `b`, the one the program made first as the
    /// earlier (a host function's access is seen when it runs, possibly
    /// after work enqueued behind it).
    pub(super) fn new(buffer: &'static str, a: Access, b: Access) -> RaceReport {
        let (earlier, later) = if b.seq < a.seq { (b, a) } else { (a, b) };
        RaceReport {
            buffer,
            earlier,
            later,
        }
    }

    /// What orders the two accesses: an event wait between streams, a
    /// synchronize before the host's access.
    fn fix(&self) -> String {
        let (e, l) = (&self.earlier, &self.later);
        let after_e = match &e.who {
            Who::HostFn { site, .. } => format!("the host fn enqueued at {site}"),
            _ => format!("{} at {}", e.op, e.site),
        };
        match (&e.who, &l.who) {
            (Who::Stream(s) | Who::HostFn { stream: s, .. }, Who::Host) => format!(
                "synchronize stream `{s}` (or an event recorded on it after {after_e}) before the {} at {}",
                l.op, l.site
            ),
            (Who::Stream(s1) | Who::HostFn { stream: s1, .. }, Who::Stream(s2)) if s1 != s2 => format!(
                "record an event on stream `{s1}` after {after_e} and make stream `{s2}` wait on it before {} (at {})",
                l.op, l.site
            ),
            (
                Who::Stream(s1) | Who::HostFn { stream: s1, .. },
                Who::HostFn { stream: s2, site },
            ) if s1 != s2 => format!(
                "record an event on stream `{s1}` after {after_e} and make stream `{s2}` wait on it before enqueuing the host fn at {site} (a host function itself cannot wait on CUDA work)"
            ),
            (Who::Host, Who::HostFn { stream, site }) => format!(
                "make the host's {} before enqueuing the host fn at {site}, or synchronize stream `{stream}` before it",
                e.op
            ),
            _ => "synchronize the stream (or an event recorded after the first access) before the second, or make the second stream wait on such an event".to_string(),
        }
    }
}

impl fmt::Display for RaceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = |a: &Access| if a.write { "writes" } else { "reads" };
        writeln!(f, "lockgraph: data race on buffer `{}`", self.buffer)?;
        writeln!(
            f,
            "  {} {} it ({}) at {}",
            self.later.by,
            w(&self.later),
            self.later.op,
            self.later.site
        )?;
        writeln!(
            f,
            "  not ordered after {} that {} it ({}) at {}",
            self.earlier.by,
            w(&self.earlier),
            self.earlier.op,
            self.earlier.site
        )?;
        writeln!(f, "  fix: {}", self.fix())
    }
}

/// A race report goes the core's one way ([`lockgraph_core::emit`]): to the
/// innermost [`capture`](super::capture) on this thread, else by the policy
/// (`LOCKGRAPH_ON_CYCLE`): `warn` is one `tracing` WARN event (target
/// `lockgraph`, fields `buffer` and `kind`) delivered off this thread, or a
/// block on stderr when the subscriber does not enable it; `panic` panics
/// with the report; `abort` prints it and aborts; `off` drops it.
impl lockgraph_core::Report for RaceReport {
    fn event(&self, text: &str) -> bool {
        if !tracing::enabled!(target: "lockgraph", tracing::Level::WARN) {
            return false;
        }
        tracing::warn!(
            target: "lockgraph",
            buffer = self.buffer,
            kind = "data race",
            "{text}"
        );
        true
    }
}
