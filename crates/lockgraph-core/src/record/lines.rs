//! The record's lines as JSON: an edge line, a `stack` line, and the class
//! ids and sites they write (and a `cycle` line writes: `cycle.rs`).

use std::fmt::Write as _;
use std::sync::Arc;

use lockgraph_graph::gates::{gate_id, gate_mode, GateMode};

use super::Minters;
use crate::class::{Class, LockKind, Site};
use crate::report::{Backtrace, Hold, Request};
use crate::site_key;

/// One lock class as written in a record.
#[derive(Clone, Copy)]
pub(crate) struct ClassDesc {
    pub(crate) class: Class,
    pub(crate) kind: LockKind,
    pub(crate) instance: u64,
}

/// One new edge to write, gathered under the graph lock and written after it.
pub(crate) struct EdgeLine {
    pub(crate) from: ClassDesc,
    pub(crate) to: ClassDesc,
    pub(crate) hold: Hold,
    pub(crate) request: Request,
    /// The request was an upgradable read (written `"upgradable"`).
    pub(crate) upgradable_request: bool,
    pub(crate) gates: Vec<u64>,
    pub(crate) thread: Arc<str>,
    pub(crate) held_at: Option<Site>,
    pub(crate) requested_at: Option<Site>,
    pub(crate) backtrace: Option<Backtrace>,
}

/// A hold as records write it (`hold`).
pub(super) fn hold_word(hold: Hold) -> &'static str {
    match hold {
        Hold::Exclusive => "exclusive",
        Hold::Shared => "shared",
        Hold::Upgradable => "upgradable",
    }
}

/// A request as records write it (`request`); `upgradable`: an exclusive
/// request that is an upgradable read's.
pub(super) fn request_word(request: Request, upgradable: bool) -> &'static str {
    match request {
        Request::Exclusive if upgradable => "upgradable",
        Request::Exclusive => "exclusive",
        Request::Read => "read",
        Request::RecursiveRead => "recursive_read",
    }
}

/// The `stack` line of a resolved stack: `{"type":"stack","stack":KEY,"pid":P,"backtrace":[...]}`.
pub(super) fn stack_line(key: &str, pid: u32, frames: &[String]) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"type\":\"stack\",\"stack\":");
    json_str(&mut s, key);
    let _ = write!(s, ",\"pid\":{pid},\"backtrace\":[");
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_str(&mut s, frame);
    }
    s.push_str("]}\n");
    s
}

/// The edge line of `e` in the file of process `pid` (whose gates carry
/// `ids_pid`: `pid`, except in a forked child; whose `anon:` class ids
/// carry the pid `minters` gives their lock id).
pub(super) fn format_line(
    e: &EdgeLine,
    pid: u32,
    ids_pid: u32,
    minters: &Minters,
    exe: &str,
    stack: Option<&str>,
) -> String {
    let mut s = String::with_capacity(512);
    s.push_str("{\"type\":\"edge\",\"from\":");
    class_json(&mut s, &e.from, minters.pid_of(e.from.instance, pid));
    s.push_str(",\"to\":");
    class_json(&mut s, &e.to, minters.pid_of(e.to.instance, pid));
    let (hold, request) = (
        hold_word(e.hold),
        request_word(e.request, e.upgradable_request),
    );
    let _ = write!(
        s,
        ",\"hold\":\"{hold}\",\"request\":\"{request}\",\"gates\":["
    );
    for (i, g) in e.gates.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let id = gate_id(*g);
        let _ = match gate_mode(*g) {
            GateMode::Exclusive => write!(s, "\"{ids_pid}:{id}\""),
            GateMode::Upgradable => write!(s, "\"{ids_pid}:{id}:upgradable\""),
            GateMode::Shared => write!(s, "\"{ids_pid}:{id}:read\""),
        };
    }
    s.push_str("],\"thread\":");
    json_str(&mut s, &e.thread);
    let _ = write!(s, ",\"pid\":{pid},\"exe\":");
    json_str(&mut s, exe);
    s.push_str(",\"held_at\":");
    site_json(&mut s, e.held_at);
    s.push_str(",\"requested_at\":");
    site_json(&mut s, e.requested_at);
    // Resolved later, off this thread: see `write`.
    s.push_str(",\"backtrace\":[]");
    if let Some(key) = stack {
        s.push_str(",\"stack\":");
        json_str(&mut s, key);
    }
    s.push_str("}\n");
    s
}

/// A class's identity across processes, as written in records and profiles
/// (`pid`: the process that handed out an anonymous lock's id, `instance`).
pub(crate) fn class_id(class: Class, pid: u32, instance: u64) -> String {
    match class {
        Class::Named(n) => format!("name:{n}"),
        Class::Site(l, t) => site_class_id(Site::from(l), t()),
        Class::Anonymous => format!("anon:{pid}:{instance}"),
    }
}

/// `site:<file>:<line>:<column>[:<type>]`, the file of a dependency's
/// source in its machine-independent form (`site_key`): the site itself,
/// as the `site` fields show it, keeps the full path.
pub(super) fn site_class_id(site: Site, ty: &str) -> String {
    let file = site_key::site(site.file);
    match ty {
        "" => format!("site:{file}:{}:{}", site.line, site.column),
        ty => format!("site:{file}:{}:{}:{ty}", site.line, site.column),
    }
}

/// `c`, whose id (if anonymous) process `pid` handed out.
pub(super) fn class_json(s: &mut String, c: &ClassDesc, pid: u32) {
    s.push_str("{\"class\":");
    json_str(s, &class_id(c.class, pid, c.instance));
    s.push_str(",\"name\":");
    match c.class {
        Class::Named(n) => json_str(s, n),
        _ => s.push_str("null"),
    }
    let _ = write!(s, ",\"kind\":\"{}\",\"site\":", c.kind.name());
    site_json(s, c.class.site());
    s.push('}');
}

pub(super) fn site_json(s: &mut String, site: Option<Site>) {
    match site {
        Some(site) => json_str(s, &site.to_string()),
        None => s.push_str("null"),
    }
}

/// Appends `v` as a JSON string literal.
pub(crate) fn json_str(s: &mut String, v: &str) {
    s.push('"');
    for ch in v.chars() {
        match ch {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}
