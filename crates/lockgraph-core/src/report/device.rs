//! A `DeviceCycle` report (raised by `lockgraph-cuda`) as text: its nodes
//! (streams, events, host functions, the host-function executor, signals
//! and locks), who waits for whom, and what to change, by the kinds of
//! its nodes.

use std::fmt;

use super::names::tag;
use super::{CycleReport, LockInfo, LockKind, Site};

impl CycleReport {
    pub(super) fn fmt_device(&self, f: &mut fmt::Formatter<'_>, certain: bool) -> fmt::Result {
        let mut kinds = self.locks.entries().map(|l| l.kind);
        if let (Some(LockKind::HostFn), None) = (kinds.next(), kinds.next()) {
            // A CUDA call inside a host function: not permitted by CUDA,
            // which may hang or fail it; a kernel launch is no deadlock of
            // its own (found by an outside test).
            writeln!(
                f,
                "lockgraph: a CUDA call inside a host function (not permitted by CUDA: it may hang, waiting for its own stream, or fail)"
            )?;
        } else {
            self.fmt_device_headline(f, certain)?;
        }
        self.fmt_device_body(f)
    }

    /// A device cycle's first lines: certain or potential, and its nodes.
    fn fmt_device_headline(&self, f: &mut fmt::Formatter<'_>, certain: bool) -> fmt::Result {
        let what = if certain {
            "deadlock (certain)"
        } else {
            "potential deadlock"
        };
        writeln!(
            f,
            "lockgraph: {what}: cycle through {}",
            device_nodes(self.locks.entries().map(|l| l.kind))
        )?;
        if certain {
            writeln!(
                f,
                "  verdict: certain (every edge is forced by stream order or a lock held since before the enqueue)"
            )?;
        } else {
            writeln!(
                f,
                "  verdict: potential (the cycle needs the shared host-function executor or depends on timing)"
            )?;
        }
        Ok(())
    }

    /// A device cycle's nodes, who waits for whom, and what to change.
    fn fmt_device_body(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(f, "  nodes in the cycle:")?;
        // A site a label already names (a host function's is its enqueue
        // site) is not said again after it (found by an outside test).
        let at = |text: &str, site: Option<Site>| {
            site.map(|s| s.to_string())
                .filter(|s| !text.contains(s.as_str()))
                .map_or_else(String::new, |s| format!(" (at {s})"))
        };
        for (i, node) in self.locks.entries().enumerate() {
            let named = node.named(false);
            let site = node.name.and(node.created);
            writeln!(f, "    {:<4} {named}{}", tag(i), at(&named, site))?;
        }
        writeln!(f)?;
        writeln!(f, "  who waits for whom:")?;
        for e in self.edges.entries() {
            write!(
                f,
                "    {} -> {}  {}{}",
                tag(e.from),
                tag(e.to),
                e.thread,
                at(&e.thread, e.requested_at)
            )?;
            if e.closing {
                write!(f, "   <- this call closed the cycle")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        for line in self.device_cycle_fix() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }

    /// What to change about a `DeviceCycle` (lockgraph-cuda), by the kinds
    /// of its nodes: the lock held across the synchronize, the signal a
    /// host function waits on, the shared executor, or a CUDA call inside a
    /// host function.
    fn device_cycle_fix(&self) -> Vec<String> {
        let nodes: Vec<LockInfo> = self.locks.entries().collect();
        let device = |k: LockKind| {
            matches!(
                k,
                LockKind::Stream
                    | LockKind::Event
                    | LockKind::HostExecutor
                    | LockKind::HostFn
                    | LockKind::Signal
            )
        };
        if let [only] = nodes.as_slice() {
            if only.kind == LockKind::HostFn {
                return vec![
                    "fix: make no CUDA call (synchronize, launch, record, wait) inside a host function; do it from a host thread,".into(),
                    "     ordered after the host function by a stream wait on an event or a synchronize".into(),
                ];
            }
        }
        // Who waits on a signal, by the edges into signal nodes: a lock's
        // holder (a thread that waits while holding it), or a host
        // function or stream; and whether a lock is held across a
        // synchronize (an edge from a lock into a stream, an event, the
        // executor).
        let kind_of = |i: usize| nodes.get(i).map(|l| l.kind);
        // Each edge as (whether it starts at a device node, its end's kind).
        let edges: Vec<(bool, LockKind)> = (self.edges.entries())
            .filter_map(|e| Some((device(kind_of(e.from)?), kind_of(e.to)?)))
            .collect();
        let thread_waits_signal = edges.contains(&(false, LockKind::Signal));
        let device_waits_signal = edges.contains(&(true, LockKind::Signal));
        let held_across_sync = edges.iter().any(|&(from_device, to)| {
            !from_device
                && matches!(
                    to,
                    LockKind::Stream | LockKind::Event | LockKind::HostExecutor
                )
        });
        let mut out = Vec::new();
        let locks: Vec<String> = nodes
            .iter()
            .filter(|l| !device(l.kind))
            .map(|l| l.named(true))
            .collect();
        if !locks.is_empty() {
            let (l, it) = if locks.len() == 1 {
                (locks[0].clone(), "it")
            } else {
                let (last, init) = locks.split_last().expect("two or more");
                (format!("{} and {last}", init.join(", ")), "them")
            };
            if held_across_sync || !thread_waits_signal {
                out.push(format!(
                    "release {l} before the synchronize (of the stream, an event recorded on it, or the context), or stop taking {it} in the host function"
                ));
            }
            if thread_waits_signal {
                out.push(format!(
                    "release {l} before waiting on the signal, or stop taking {it} in the host function that sets it"
                ));
            }
        }
        if device_waits_signal
            || (!thread_waits_signal && nodes.iter().any(|l| l.kind == LockKind::Signal))
        {
            out.push("set the signal before the host function that waits on it is enqueued, or wait on a host thread: work queued behind a host function, and a thread that synchronizes first, cannot set it".into());
        }
        if nodes.iter().any(|l| l.kind == LockKind::HostExecutor) {
            out.push("host functions of every stream of a context may run one at a time on one executor thread: a host function must not block on another host function's work".into());
        }
        let mut lines = Vec::new();
        for (i, l) in out.into_iter().enumerate() {
            lines.push(format!("{} {l}", if i == 0 { "fix:" } else { "    " }));
        }
        lines
    }
}

/// The nodes of a CUDA cycle in words, counted by what they are, in the
/// order each first appears: "1 lock and 1 host function", "2 host
/// functions, 2 locks and 1 stream" (every kind of the lock-order graph,
/// queues and threads included, is a "lock").
fn device_nodes(kinds: impl Iterator<Item = LockKind>) -> String {
    let mut counts: Vec<(&str, &str, usize)> = Vec::new();
    for k in kinds {
        let (one, many) = match k {
            LockKind::Stream => ("stream", "streams"),
            LockKind::Event => ("event", "events"),
            LockKind::HostExecutor => ("host-function executor", "host-function executors"),
            LockKind::HostFn => ("host function", "host functions"),
            LockKind::Signal => ("signal", "signals"),
            _ => ("lock", "locks"),
        };
        match counts.iter_mut().find(|c| c.0 == one) {
            Some(c) => c.2 += 1,
            None => counts.push((one, many, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|&(one, many, n)| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        })
        .collect();
    match parts.as_slice() {
        [] => "no node".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::ring;
    use super::super::{EdgeInfo, ReportKind};
    use super::*;

    /// A site the actor's or the node's words already name is not said
    /// again after them (`... enqueued at src/a.rs:4:9 ... (at
    /// src/a.rs:4:9)`); another one is.
    #[test]
    fn a_device_cycle_says_a_site_once() {
        let mut r = ring(2);
        r.kind = ReportKind::DeviceCycle { certain: false };
        let site = Site {
            file: "src/a.rs",
            line: 4,
            column: 9,
        };
        let mut edges: Vec<EdgeInfo> = r.edges.entries().collect();
        edges[0].thread = "host fn enqueued at src/a.rs:4:9 on stream `s` needs Mutex `m`".into();
        edges[0].requested_at = Some(site);
        r.edges = edges.into();
        let text = r.to_string();
        assert!(
            text.contains("L1 -> L2  host fn enqueued at src/a.rs:4:9 on stream `s` needs Mutex `m`   <- this call closed the cycle"),
            "{text}"
        );
        assert_eq!(text.matches("src/a.rs:4:9").count(), 1, "{text}");
        // The other edge's site is its own: said.
        assert!(text.contains("L2 -> L1  t1 (at src/x.rs:201:5)"), "{text}");
    }

    #[test]
    fn a_cuda_cycle_names_what_its_nodes_are() {
        let w = |k: &[LockKind]| device_nodes(k.iter().copied());
        assert_eq!(
            w(&[LockKind::Mutex, LockKind::HostFn]),
            "1 lock and 1 host function"
        );
        assert_eq!(
            w(&[
                LockKind::HostFn,
                LockKind::Mutex,
                LockKind::HostFn,
                LockKind::RwLock,
                LockKind::Stream
            ]),
            "2 host functions, 2 locks and 1 stream"
        );
        assert_eq!(w(&[LockKind::HostExecutor]), "1 host-function executor");
    }
}
