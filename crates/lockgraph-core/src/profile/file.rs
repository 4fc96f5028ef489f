//! The profile file's format: what [`write_to_record_dir`] writes beside
//! the lock-order records, for `lockgraph profile`.
//!
//! [`write_to_record_dir`]: super::write_to_record_dir

use super::class_counters::Counters;
use super::pipeline::{PipelineSums, SideSums};

/// The profile format version written by [`write_to_record_dir`](super::write_to_record_dir).
pub const PROFILE_VERSION: u32 = 1;

fn opt_str(s: &mut String, v: &Option<String>) {
    match v {
        Some(v) => crate::record::json_str(s, v),
        None => s.push_str("null"),
    }
}

/// The profile file's text: this process's `counters`, and its
/// backpressure profile's sums when it counted a queue.
pub(super) fn profile_json(
    pid: u32,
    counters: &[Counters],
    pipeline: Option<&PipelineSums>,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"lockgraph_profile\":{PROFILE_VERSION},\"pid\":{pid},\"exe\":"
    );
    crate::record::json_str(&mut s, &crate::record::exe());
    s.push_str(",\"classes\":[");
    for (i, c) in counters.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"class\":");
        crate::record::json_str(&mut s, &c.class);
        s.push_str(",\"name\":");
        opt_str(&mut s, &c.name);
        s.push_str(",\"kind\":");
        crate::record::json_str(&mut s, &c.kind);
        s.push_str(",\"site\":");
        opt_str(&mut s, &c.site);
        let _ = write!(
            s,
            ",\"acquisitions\":{},\"contended\":{},\"wait_ns\":{},\"max_wait_ns\":{},\
             \"reads\":{},\"hold_samples\":{},\"hold_ns\":{},\"max_hold_ns\":{},\
             \"waiting_threads\":{},\"blocking_calls\":{},\"blocking_ns\":{},\"blocking_what\":",
            c.acquisitions,
            c.contended,
            c.wait_ns,
            c.max_wait_ns,
            c.reads,
            c.hold_samples,
            c.hold_ns,
            c.max_hold_ns,
            c.waiting_threads,
            c.blocking_calls,
            c.blocking_ns
        );
        opt_str(&mut s, &c.blocking_what);
        s.push('}');
    }
    s.push(']');
    if let Some(p) = pipeline {
        s.push_str(",\"pipeline\":");
        pipeline_json(&mut s, p);
    }
    s.push_str("}\n");
    s
}

/// The `pipeline` object of a profile file.
fn pipeline_json(s: &mut String, p: &PipelineSums) {
    use std::fmt::Write as _;
    let strings = |s: &mut String, v: &[String]| {
        s.push('[');
        for (i, x) in v.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            crate::record::json_str(s, x);
        }
        s.push(']');
    };
    let side = |s: &mut String, e: &SideSums| {
        let _ = write!(
            s,
            "{{\"blocked_ns\":{},\"life_ns\":{},\"stages\":",
            e.blocked_ns, e.life_ns
        );
        strings(s, &e.stages);
        s.push('}');
    };
    s.push_str("{\"queues\":[");
    for (i, q) in p.queues.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"name\":");
        crate::record::json_str(s, &q.name);
        match q.bound {
            Some(b) => {
                let _ = write!(s, ",\"bound\":{b}");
            }
            None => s.push_str(",\"bound\":null"),
        }
        let _ = write!(
            s,
            ",\"sends\":{},\"fill_sum\":{},\"send\":",
            q.sends, q.fill_sum
        );
        side(s, &q.send);
        s.push_str(",\"recv\":");
        side(s, &q.recv);
        s.push('}');
    }
    s.push_str("],\"stages\":[");
    for (i, st) in p.stages.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"name\":");
        crate::record::json_str(s, &st.name);
        let _ = write!(
            s,
            ",\"workers\":{},\"life_ns\":{},\"full_ns\":{},\"empty_ns\":{}}}",
            st.workers, st.life_ns, st.full_ns, st.empty_ns
        );
    }
    s.push_str("]}");
}
