//! The profile file's format: what [`write_to_record_dir`] writes beside
//! the lock-order records, for `lockgraph profile`.
//!
//! [`write_to_record_dir`]: super::write_to_record_dir

use super::class_counters::Counters;

/// The profile format version written by [`write_to_record_dir`](super::write_to_record_dir).
pub const PROFILE_VERSION: u32 = 1;

fn opt_str(s: &mut String, v: &Option<String>) {
    match v {
        Some(v) => crate::record::json_str(s, v),
        None => s.push_str("null"),
    }
}

/// The profile file's text: this process's `counters`.
pub(super) fn profile_json(pid: u32, counters: &[Counters]) -> String {
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
    s.push_str("]}\n");
    s
}
