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
}

/// Two conflicting accesses not ordered by any synchronisation.
#[derive(Clone, Debug)]
pub struct RaceReport {
    /// The buffer.
    pub buffer: &'static str,
    /// The earlier access.
    pub earlier: Access,
    /// The access that raced with it.
    pub later: Access,
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
        writeln!(
            f,
            "  fix: synchronize the stream (or an event recorded after the first access) before the second, or make the second stream wait on such an event"
        )
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
